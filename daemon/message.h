/*
 * message.h - one subscriber's report as an Internet message (RFC 5322,
 * MIME): headers, a multipart/alternative body with the text part first
 * and the HTML part second, both UTF-8 and quoted-printable.
 *
 * This is the message as data, ready for the wire: the header lines (RFC
 * 2047 encoded-words, address formatting, the Date, a Message-ID derived
 * from the signup so that a resend carries the same one) and each body
 * already quoted-printable with CRLF line ends.  It knows nothing of
 * libcurl; the transport (smtp_mime.c) lays it out as libcurl's MIME parts.
 */
#ifndef REPORTD_MESSAGE_H
#define REPORTD_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "signup.h"
#include "templates.h"
#include "util.h"

/* RFC 5322 2.1.1: a header line should stay under 78 characters. */
#define MESSAGE_FOLD_WIDTH 78
/* RFC 2045 6.7: an encoded line is at most 76 characters. */
#define MESSAGE_QP_LINE_MAX 76
/* From, To, Reply-To, Subject, Date, Message-ID and a few fixed ones. */
#define MESSAGE_HEADERS_MAX 16

struct message {
    int64_t signup_id;
    char *envelope_from; /* bare addresses for MAIL FROM / RCPT TO */
    char *envelope_to;
    char *message_id; /* "<...>" with the brackets */
    /* "Name: value" lines (folded with CRLF SP), without the final CRLF. */
    char *headers[MESSAGE_HEADERS_MAX];
    size_t nheaders;
    /* The bodies as they go on the wire: UTF-8, quoted-printable, CRLF line ends. */
    struct buf text_qp;
    struct buf html_qp;
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
 * Appends s (UTF-8 text with LF or CRLF line ends) to out as quoted-
 * printable (RFC 2045 6.7) with CRLF line ends and lines of at most 76
 * characters.  -1 when out of memory.
 */
int message_qp_encode(const char *s, size_t len, struct buf *out);

/* RFC 2047 encoded-word(s) for a header value when it is not plain ASCII. */
int message_encode_header(const char *value, struct buf *out);

#endif
