/*
 * message.h - one subscriber's report as an Internet message (RFC 5322,
 * MIME): headers, a multipart/alternative body with the text part first
 * and the HTML part second, both UTF-8 and quoted-printable.
 *
 * The MIME structure and its encoders are libcurl's (curl_mime_*); this
 * module writes only what libcurl lacks: RFC 2047 encoded-words, address
 * formatting, the Date and a Message-ID derived from the signup, so that a
 * resend carries the same one.
 */
#ifndef REPORTD_MESSAGE_H
#define REPORTD_MESSAGE_H

#include <stdint.h>

#include <curl/curl.h>

#include "config.h"
#include "signup.h"
#include "templates.h"
#include "util.h"

/* RFC 5322 2.1.1: a header line should stay under 78 characters. */
#define MESSAGE_FOLD_WIDTH 78

struct message {
    int64_t signup_id;
    char *envelope_from; /* bare addresses for MAIL FROM / RCPT TO */
    char *envelope_to;
    char *message_id;           /* "<...>" with the brackets */
    struct curl_slist *headers; /* From, To, Reply-To, Subject, Date, Message-ID, ... */
    char *text;                 /* UTF-8, LF line ends (libcurl's encoder makes CRLF) */
    char *html;
};

/*
 * Builds the message for signup s from its rendered report, dated date_ms.
 * Returns 0, or -1 with err.
 */
int message_build(struct message *m, const struct config *c, const struct signup *s,
                  const struct rendered *r, int64_t date_ms, char *err);
void message_free(struct message *m);

/* The Message-ID a signup's report carries, every time it is (re)sent. */
int message_id_for(const struct signup *s, const char *domain, char *out, size_t outlen);

/*
 * Attaches m to an easy handle: CURLOPT_MAIL_FROM, CURLOPT_MAIL_RCPT,
 * CURLOPT_HTTPHEADER and CURLOPT_MIMEPOST.  *mime and *rcpt belong to the
 * caller afterwards (free them after the transfer with message_detach).
 */
int message_attach(const struct message *m, CURL *easy, curl_mime **mime, struct curl_slist **rcpt,
                   char *err);
void message_detach(CURL *easy, curl_mime *mime, struct curl_slist *rcpt);

/* RFC 2047 encoded-word(s) for a header value when it is not plain ASCII. */
int message_encode_header(const char *value, struct buf *out);

#endif
