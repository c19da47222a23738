/*
 * fuzz_reply.c - libFuzzer target for what the relay says (smtp_reply.c):
 * the input is a conversation, chunks of server bytes and of our commands
 * as libcurl's debug stream hands them over, then the finished transfer's
 * classification.  A relay is not ours: nothing it sends may overflow the
 * tracker, leave a control character in a recorded reply, or (during a
 * SASL exchange) get a credential line remembered as a command.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const verbs[] = {"",     "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL",
                                    "RCPT", "DATA", "RSET", "NOOP",     "VRFY"};

static int known_verb(const char *s)
{
    size_t i;

    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(s, verbs[i]) == 0)
            return 1;
    return 0;
}

static void check(const struct reply_track *t)
{
    size_t len = strnlen(t->last, sizeof(t->last)), i;

    if (len == sizeof(t->last) || t->plen >= sizeof(t->partial))
        abort();
    for (i = 0; i < len; i++)
        if ((unsigned char)t->last[i] < 0x20 || t->last[i] == 0x7f)
            abort();
    /* A recorded reply starts with the code recorded for it. */
    if (len > 0 && (len < 3 || t->code != (t->last[0] - '0') * 100 + (t->last[1] - '0') * 10 +
                                              (t->last[2] - '0')))
        abort();
    if (strnlen(t->command, sizeof(t->command)) == sizeof(t->command) || !known_verb(t->command))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reply_track t;
    CURLcode rc;
    size_t at = 1;
    enum smtp_status st;

    if (size < 1)
        return 0;
    /* The transfer's result: CURLE_OK and the errors around the ones classified. */
    rc = (CURLcode)(data[0] % 100);
    reply_track_reset(&t);
    /* Each chunk: a byte (low bit: 0 server, 1 client; the rest its length), then the bytes. */
    while (at < size) {
        size_t n = data[at] >> 1;
        int client = data[at] & 1;

        at++;
        if (n > size - at)
            n = size - at;
        if (client) {
            char before[sizeof(t.command)];
            int sasl = t.code == 334;

            memcpy(before, t.command, sizeof(before));
            reply_track_output(&t, (const char *)data + at, n);
            if (sasl && memcmp(before, t.command, sizeof(before)) != 0)
                abort(); /* a SASL line (a credential) taken for a command */
        } else {
            reply_track_input(&t, (const char *)data + at, n);
        }
        at += n;
        check(&t);
    }
    st = smtp_classify(rc, t.code, t.last, t.command);
    if (st < SMTP_SENT || st > SMTP_UNREACHABLE || (rc == CURLE_OK) != (st == SMTP_SENT))
        abort();
    return 0;
}
