/*
 * fuzz_header.c - libFuzzer target for the header encoder (message.c's
 * message_encode_header): whatever it accepts must come out as a header
 * value a mail reader decodes back to the same text, in lines an SMTP
 * server takes.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz_file.h"
#include "message.h"

/* RFC 5322 2.1.1: the hard limit on a line, CRLF excluded. */
#define LINE_HARD_MAX 998
/* message_encode_header writes after "Subject: ". */
#define HEADER_COL 9

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int b64val(int c)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(digits, c) : NULL;

    return p ? (int)(p - digits) : -1;
}

/* Decodes one encoded-word's text (between "?Q?"/"?B?" and "?="); aborts on bad encoding. */
static void decode_word(char kind, const char *s, size_t n, struct buf *out)
{
    size_t i;

    if (kind == 'Q') {
        for (i = 0; i < n; i++) {
            if (s[i] == '_') {
                buf_putc(out, ' ');
            } else if (s[i] == '=') {
                int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;

                if (hi < 0 || lo < 0)
                    abort();
                buf_putc(out, hi * 16 + lo);
                i += 2;
            } else if (s[i] == '?' || s[i] == ' ' || (unsigned char)s[i] > 0x7e) {
                abort();
            } else {
                buf_putc(out, s[i]);
            }
        }
        return;
    }
    if (n % 4 != 0)
        abort();
    for (i = 0; i < n; i += 4) {
        int a = b64val(s[i]), b = b64val(s[i + 1]), c = b64val(s[i + 2]), d = b64val(s[i + 3]);

        if (a < 0 || b < 0)
            abort();
        buf_putc(out, (a << 2) | (b >> 4));
        if (s[i + 2] == '=')
            continue;
        if (c < 0)
            abort();
        buf_putc(out, ((b & 15) << 4) | (c >> 2));
        if (s[i + 3] == '=')
            continue;
        if (d < 0)
            abort();
        buf_putc(out, ((c & 3) << 6) | d);
    }
}

/* Decodes a run of encoded-words separated by folding whitespace (RFC 2047 6.2). */
static void decode_words(const char *s, struct buf *out)
{
    while (*s) {
        const char *text, *end;
        char kind;

        if (strncmp(s, "=?UTF-8?", 8) != 0 || (s[8] != 'Q' && s[8] != 'B') || s[9] != '?')
            abort();
        kind = s[8];
        text = s + 10;
        end = strstr(text, "?=");
        if (end == NULL)
            abort();
        decode_word(kind, text, (size_t)(end - text), out);
        s = end + 2;
        if (*s == '\0')
            break;
        if (strncmp(s, "\r\n ", 3) != 0)
            abort();
        s += 3;
    }
}

/* Every line within the hard limit, every CRLF a fold, nothing but printable ASCII and tab. */
static void check_lines(const char *s)
{
    size_t col = HEADER_COL;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '\r') {
            if (s[1] != '\n' || (s[2] != ' ' && s[2] != '\t'))
                abort();
            s++;
            col = 0;
            continue;
        }
        if ((c < 0x20 && c != '\t') || c > 0x7e)
            abort();
        if (++col > LINE_HARD_MAX)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = fuzz_string(data, size);
    struct buf out, back;
    const char *s;

    buf_init(&out);
    buf_init(&back);
    if (message_encode_header(value, &out) == 0 && strlen(value) == size) {
        s = buf_str(&out);
        check_lines(s);
        if (strstr(s, "=?") != NULL) {
            decode_words(s, &back);
        } else {
            /* Plain text: unfolding (dropping each CRLF) gives the value back. */
            for (; *s; s++)
                if (*s != '\r' && *s != '\n')
                    buf_putc(&back, *s);
        }
        if (buf_failed(&back) || strcmp(buf_str(&back), value) != 0)
            abort();
    }
    buf_free(&out);
    buf_free(&back);
    free(value);
    return 0;
}
