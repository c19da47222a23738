/*
 * smtp_mime.h - a message laid out for libcurl: the envelope (MAIL FROM,
 * RCPT TO), the header lines and a multipart/alternative MIME tree whose
 * parts carry the message's already quoted-printable bodies.  The transport
 * and the preview capture share it; nothing else in reportd touches libcurl.
 */
#ifndef REPORTD_SMTP_MIME_H
#define REPORTD_SMTP_MIME_H

#include <curl/curl.h>

#include "message.h"

/* A body libcurl reads from the message itself, where it is (see smtp_mime_attach). */
struct smtp_mime_body {
    const char *data;
    size_t len;
    size_t pos;
};

/* What an attached message holds on to until its transfer ends. */
struct smtp_mime {
    curl_mime *mime;
    struct curl_slist *rcpt;
    struct curl_slist *headers;
    struct smtp_mime_body text, html;
};

/*
 * Sets the envelope, headers and body of m on easy.  The bodies are read
 * from m as the transfer goes, not copied: m must outlive the transfer.  0,
 * or -1 with err (nothing kept).
 */
int smtp_mime_attach(const struct message *m, CURL *easy, struct smtp_mime *a, char *err);
/* Takes them off easy again and frees them. */
void smtp_mime_detach(CURL *easy, struct smtp_mime *a);

#endif
