/*
 * smtp_mime.c - the message as libcurl sends it: envelope options, header
 * list, and a MIME tree of two parts (text, then HTML) whose bodies are
 * already quoted-printable, so libcurl copies them as they are.
 */
#include "smtp_mime.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* libcurl's read callback for a body: the next bytes of the message's own buffer. */
static size_t read_body(char *out, size_t size, size_t nitems, void *arg)
{
    struct smtp_mime_body *b = arg;
    size_t n = size * nitems;

    if (n > b->len - b->pos)
        n = b->len - b->pos;
    memcpy(out, b->data + b->pos, n);
    b->pos += n;
    return n;
}

/* libcurl's seek callback for a body: it rewinds a part before it sends it. */
static int seek_body(void *arg, curl_off_t offset, int origin)
{
    struct smtp_mime_body *b = arg;
    curl_off_t base = origin == SEEK_CUR   ? (curl_off_t)b->pos
                      : origin == SEEK_END ? (curl_off_t)b->len
                                           : 0;

    if (origin != SEEK_SET && origin != SEEK_CUR && origin != SEEK_END)
        return CURL_SEEKFUNC_CANTSEEK;
    if (base + offset < 0 || base + offset > (curl_off_t)b->len)
        return CURL_SEEKFUNC_FAIL;
    b->pos = (size_t)(base + offset);
    return CURL_SEEKFUNC_OK;
}

/*
 * A part whose body libcurl reads from the message where it is: a copy of
 * each body per message (curl_mime_data) is what this saves.
 */
static int add_part(curl_mime *mime, const struct buf *body, struct smtp_mime_body *b,
                    const char *type)
{
    curl_mimepart *part = curl_mime_addpart(mime);
    struct curl_slist *h;

    *b = (struct smtp_mime_body){.data = buf_str(body), .len = body->len};
    if (part == NULL ||
        curl_mime_data_cb(part, (curl_off_t)b->len, read_body, seek_body, NULL, b) != CURLE_OK ||
        curl_mime_type(part, type) != CURLE_OK)
        return -1;
    /* Encoded by message.c; with no libcurl encoder set, only this header says so. */
    h = curl_slist_append(NULL, "Content-Transfer-Encoding: quoted-printable");
    if (h == NULL)
        return -1;
    if (curl_mime_headers(part, h, 1) != CURLE_OK) {
        curl_slist_free_all(h);
        return -1;
    }
    return 0;
}

static int header_list(const struct message *m, struct curl_slist **out)
{
    struct curl_slist *l = NULL, *grown;
    size_t i;

    for (i = 0; i < m->nheaders; i++) {
        grown = curl_slist_append(l, m->headers[i]);
        if (grown == NULL) {
            curl_slist_free_all(l);
            return -1;
        }
        l = grown;
    }
    *out = l;
    return 0;
}

int smtp_mime_attach(const struct message *m, CURL *easy, struct smtp_mime *a, char *err)
{
    memset(a, 0, sizeof(*a));
    a->mime = curl_mime_init(easy);
    if (a->mime == NULL ||
        add_part(a->mime, &m->text_qp, &a->text, "text/plain; charset=utf-8") == -1 ||
        add_part(a->mime, &m->html_qp, &a->html, "text/html; charset=utf-8") == -1) {
        errf(err, "message %" PRId64 ": cannot build the MIME body", m->signup_id);
        goto fail;
    }
    a->rcpt = curl_slist_append(NULL, m->envelope_to);
    if (a->rcpt == NULL || header_list(m, &a->headers) == -1) {
        errf(err, "message %" PRId64 ": out of memory", m->signup_id);
        goto fail;
    }
    if (curl_easy_setopt(easy, CURLOPT_MAIL_FROM, m->envelope_from) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, a->rcpt) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, a->headers) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_MIMEPOST, a->mime) != CURLE_OK) {
        errf(err, "message %" PRId64 ": libcurl refused the message options", m->signup_id);
        goto fail;
    }
    return 0;
fail:
    smtp_mime_detach(easy, a);
    return -1;
}

void smtp_mime_detach(CURL *easy, struct smtp_mime *a)
{
    if (easy != NULL) {
        curl_easy_setopt(easy, CURLOPT_MIMEPOST, NULL);
        curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, NULL);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(easy, CURLOPT_MAIL_FROM, NULL);
    }
    curl_mime_free(a->mime);
    curl_slist_free_all(a->rcpt);
    curl_slist_free_all(a->headers);
    memset(a, 0, sizeof(*a));
}
