/*
 * message.c - one subscriber's report as an Internet message: the header
 * lines (RFC 5322, RFC 2047 encoded-words for anything not ASCII) and the
 * bodies in quoted-printable (RFC 2045), as data for the transport.
 */
#include "message.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "names.h"

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

/* RFC 2047 2: a line holding encoded-words is at most 76 characters. */
#define EW_LINE_MAX 76
#define EW_PREFIX_B "=?UTF-8?B?"
#define EW_PREFIX_Q "=?UTF-8?Q?"
#define EW_SUFFIX   "?="
#define EW_OVERHEAD (sizeof(EW_PREFIX_B) - 1 + sizeof(EW_SUFFIX) - 1)
/* The widest encoding of one character: four bytes as Q "=XX" each. */
#define EW_CHAR_MAX 12

/* RFC 5322 2.1.1: no line may be longer than this, CRLF excluded. */
#define MESSAGE_LINE_MAX 998

/* A fold: the CRLF goes before the whitespace, which starts the next line. */
#define FOLD "\r\n "

/* RFC 5322 3.6.4 says nothing of length; this is far more than we make. */
#define MESSAGE_ID_MAX 512

static const char base64_digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Characters RFC 2047 5(3) lets stand for themselves in a Q word in a phrase. */
static int q_literal(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '!' ||
           c == '*' || c == '+' || c == '-' || c == '/';
}

static size_t q_cost(unsigned char c)
{
    return (q_literal(c) || c == ' ') ? 1 : 3;
}

static size_t b_cost(size_t nbytes)
{
    return (nbytes + 2) / 3 * 4;
}

static size_t utf8_char_len(unsigned char lead)
{
    if (lead < 0x80)
        return 1;
    if (lead < 0xe0)
        return 2;
    if (lead < 0xf0)
        return 3;
    return 4;
}

static void put_q(struct buf *out, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i] == ' ')
            buf_putc(out, '_');
        else if (q_literal(p[i]))
            buf_putc(out, p[i]);
        else
            buf_printf(out, "=%c%c", hex[p[i] >> 4], hex[p[i] & 15]);
    }
}

static void put_b(struct buf *out, const unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        size_t left = n - i;

        if (left > 1)
            v |= (unsigned)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        buf_putc(out, base64_digits[(v >> 18) & 63]);
        buf_putc(out, base64_digits[(v >> 12) & 63]);
        buf_putc(out, left > 1 ? base64_digits[(v >> 6) & 63] : '=');
        buf_putc(out, left > 2 ? base64_digits[v & 63] : '=');
    }
}

static void put_word(struct buf *out, int use_q, const unsigned char *p, size_t n)
{
    buf_puts(out, use_q ? EW_PREFIX_Q : EW_PREFIX_B);
    if (use_q)
        put_q(out, p, n);
    else
        put_b(out, p, n);
    buf_puts(out, EW_SUFFIX);
}

/* Q reads better while most bytes are ASCII; B is shorter once they are not. */
static int prefer_q(const unsigned char *p, size_t n)
{
    size_t i, q = 0;

    for (i = 0; i < n; i++)
        q += q_cost(p[i]);
    return q <= b_cost(n);
}

/*
 * Encodes the whole value as UTF-8 encoded-words starting at column col,
 * cut between characters so that every line stays within EW_LINE_MAX.
 */
static int encode_words(const char *value, size_t col, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)value;
    size_t n = strlen(value), start = 0, i = 0, qlen = 0;
    int use_q = prefer_q(p, n);
    size_t budget;

    if (col + EW_OVERHEAD + EW_CHAR_MAX > EW_LINE_MAX)
        return -1;
    budget = EW_LINE_MAX - col - EW_OVERHEAD;
    while (i < n) {
        size_t clen = utf8_char_len(p[i]), k, cqlen = 0;

        for (k = 0; k < clen; k++)
            cqlen += q_cost(p[i + k]);
        if ((use_q ? qlen + cqlen : b_cost(i + clen - start)) > budget) {
            put_word(out, use_q, p + start, i - start);
            buf_puts(out, FOLD);
            budget = EW_LINE_MAX - 1 - EW_OVERHEAD;
            start = i;
            qlen = 0;
        }
        qlen += cqlen;
        i += clen;
    }
    put_word(out, use_q, p + start, n - start);
    return buf_failed(out) ? -1 : 0;
}

static int has_line_break(const char *s)
{
    return s != NULL && strpbrk(s, "\r\n") != NULL;
}

/* Printable ASCII (tab allowed) that a reader could not take for an encoded-word. */
static int plain_text(const char *s)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p > 0x7e)
            return 0;
    return strstr(s, "=?") == NULL;
}

/*
 * Folds plain text at whitespace so lines stay within MESSAGE_FOLD_WIDTH
 * where they can, appending to out (when out is not NULL).  Returns the
 * longest line, counting the col characters before the value.
 */
static size_t fold_plain(const char *s, size_t col, struct buf *out)
{
    size_t line = col, longest = col;

    while (*s) {
        size_t ws = strspn(s, " \t");
        size_t word = strcspn(s + ws, " \t");

        if (ws > 0 && word > 0 && line > col && line + ws + word > MESSAGE_FOLD_WIDTH) {
            if (out != NULL)
                buf_puts(out, "\r\n");
            line = 0;
        }
        if (out != NULL)
            buf_append(out, s, ws + word);
        line += ws + word;
        if (line > longest)
            longest = line;
        s += ws + word;
    }
    return longest;
}

/* The value as it goes after a header name of col - 2 characters and ": ". */
static int encode_unstructured(const char *value, size_t col, struct buf *out)
{
    if (has_line_break(value) || !utf8_valid(value, strlen(value)))
        return -1;
    /* A word too long for any line goes as encoded-words, which may be cut anywhere. */
    if (plain_text(value) && fold_plain(value, col, NULL) <= MESSAGE_LINE_MAX) {
        fold_plain(value, col, out);
        return buf_failed(out) ? -1 : 0;
    }
    return encode_words(value, col, out);
}

int message_encode_header(const char *value, struct buf *out)
{
    return encode_unstructured(value, sizeof("Subject: ") - 1, out);
}

/* RFC 5322 3.2.3 atext. */
static int atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Atoms separated by single spaces: a phrase that needs no quoting. */
static int plain_phrase(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if (!atext(*p) || strstr(s, "=?") != NULL)
        return 0;
    for (; *p; p++)
        if (!atext(*p) && !(*p == ' ' && atext(p[1])))
            return 0;
    return 1;
}

static int printable_ascii(const char *s)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return 0;
    return 1;
}

static void put_quoted(struct buf *out, const char *s)
{
    buf_putc(out, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_putc(out, '\\');
        buf_putc(out, *s);
    }
    buf_putc(out, '"');
}

/* Characters on the last line of out, which began at column col. */
static size_t last_line_len(const struct buf *out, size_t col)
{
    const char *nl = out->data ? strrchr(out->data, '\n') : NULL;

    return nl ? out->len - (size_t)(nl + 1 - out->data) : col + out->len;
}

/* Printable ASCII with nothing that ends an angle-addr: SMTPUTF8 is not used. */
static int plain_address(const char *s)
{
    return *s != '\0' && printable_ascii(s) && strpbrk(s, " <>\"(),;\\") == NULL;
}

/* "Name <addr>" (RFC 5322 3.4), or the bare address when there is no name. */
static int format_mailbox(const char *name, const char *addr, size_t col, struct buf *out)
{
    if (name == NULL || *name == '\0') {
        buf_puts(out, addr);
        return buf_failed(out) ? -1 : 0;
    }
    if (!utf8_valid(name, strlen(name)))
        return -1;
    if (plain_phrase(name))
        buf_puts(out, name);
    else if (printable_ascii(name))
        put_quoted(out, name);
    else if (encode_words(name, col, out) == -1)
        return -1;
    if (last_line_len(out, col) + 3 + strlen(addr) > MESSAGE_FOLD_WIDTH)
        buf_puts(out, "\r\n");
    buf_printf(out, " <%s>", addr);
    return buf_failed(out) ? -1 : 0;
}

int message_id_for(const struct signup *s, const char *domain, char *out, size_t outlen)
{
    int n;

    if (domain == NULL || *domain == '\0' || strpbrk(domain, "<>@ \t\r\n") != NULL)
        return -1;
    n = snprintf(out, outlen, "<report.%" PRId64 ".%" PRId64 "@%s>", s->id, s->created_ms, domain);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

/* RFC 5322 3.3 date-time in UTC, spelled without the locale. */
static int format_date(int64_t ms, char *out, size_t outlen)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    int n;

    if (gmtime_r(&t, &tm) == NULL)
        return -1;
    n = snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

/* Appends "Name: value" to the message's header lines. */
static int add_header(struct message *m, const char *name, const struct buf *value)
{
    struct buf line;

    if (m->nheaders >= MESSAGE_HEADERS_MAX)
        return -1;
    buf_init(&line);
    buf_puts(&line, name);
    buf_append(&line, ": ", 2);
    buf_append(&line, buf_str(value), value->len);
    if (buf_failed(&line)) {
        buf_free(&line);
        return -1;
    }
    m->headers[m->nheaders++] = buf_steal(&line);
    return m->headers[m->nheaders - 1] == NULL ? -1 : 0;
}

static int add_header_str(struct message *m, const char *name, const char *value)
{
    struct buf b;
    int rc;

    buf_init(&b);
    buf_puts(&b, value);
    rc = buf_failed(&b) ? -1 : add_header(m, name, &b);
    buf_free(&b);
    return rc;
}

/* A header whose value has its own syntax: an address, a subject. */
enum header_kind { HEADER_MAILBOX, HEADER_UNSTRUCTURED };

static int add_formatted(struct message *m, const char *name, enum header_kind kind,
                         const char *display, const char *value, char *err)
{
    size_t col = strlen(name) + 2;
    struct buf b;
    int rc;

    if (has_line_break(display) || has_line_break(value))
        return errf(err, "%s: contains a line break (header injection refused)", name);
    if (kind == HEADER_MAILBOX && !plain_address(value))
        return errf(err, "%s: \"%s\" is not a plain ASCII address", name, value);
    buf_init(&b);
    if (kind == HEADER_MAILBOX)
        rc = format_mailbox(display, value, col, &b);
    else
        rc = encode_unstructured(value, col, &b);
    if (rc == 0)
        rc = add_header(m, name, &b);
    buf_free(&b);
    if (rc == -1)
        return errf(err, "%s: cannot be encoded (invalid UTF-8 or out of memory)", name);
    return 0;
}

/* The domain a Message-ID names when none is configured: the sender's. */
static const char *id_domain(const struct config *c)
{
    const char *at;

    if (c->message_id_domain != NULL && *c->message_id_domain != '\0')
        return c->message_id_domain;
    at = strrchr(c->from_address, '@');
    return at ? at + 1 : NULL;
}

/* The subscriber's name as To: shows it: trimmed, and NULL when blank (as the greeting treats it).
 */
static char *to_display_name(const struct signup *s, int *oom)
{
    const char *start;
    size_t len;
    char *name;

    *oom = 0;
    name_trim(s->name, &start, &len);
    if (len == 0)
        return NULL;
    name = strndup(start, len);
    *oom = name == NULL;
    return name;
}

static int build_headers(struct message *m, const struct config *c, const struct signup *s,
                         const struct rendered *r, int64_t date_ms, char *err)
{
    char date[64];
    char *to_name;
    int oom, rc;

    if (add_formatted(m, "From", HEADER_MAILBOX, c->from_name, c->from_address, err) == -1)
        return -1;
    to_name = to_display_name(s, &oom);
    if (oom)
        return errf(err, "To: out of memory");
    rc = add_formatted(m, "To", HEADER_MAILBOX, to_name, s->email, err);
    free(to_name);
    if (rc == -1)
        return -1;
    if (c->reply_to != NULL && *c->reply_to != '\0' &&
        add_formatted(m, "Reply-To", HEADER_MAILBOX, NULL, c->reply_to, err) == -1)
        return -1;
    if (add_formatted(m, "Subject", HEADER_UNSTRUCTURED, NULL, buf_str(&r->subject), err) == -1)
        return -1;
    if (format_date(date_ms, date, sizeof(date)) == -1)
        return errf(err, "Date: cannot format %" PRId64, date_ms);
    /*
     * The transport's MIME layer writes its own Content-Type (with the
     * boundary) for the top level and drops ours, but takes the media type
     * from it: this is what makes it multipart/alternative.
     */
    if (add_header_str(m, "Date", date) == -1 ||
        add_header_str(m, "Message-ID", m->message_id) == -1 ||
        add_header_str(m, "MIME-Version", "1.0") == -1 ||
        add_header_str(m, "Content-Type", "multipart/alternative") == -1 ||
        add_header_str(m, "Auto-Submitted", "auto-generated") == -1 ||
        add_header_str(m, "X-Auto-Response-Suppress", "OOF, AutoReply") == -1)
        return errf(err, "message headers: out of memory");
    return 0;
}

static int check_addresses(const struct config *c, const struct signup *s, char *err)
{
    if (c->from_address == NULL || *c->from_address == '\0')
        return errf(err, "From: no sender address configured");
    if (s->email == NULL || *s->email == '\0')
        return errf(err, "To: the signup has no address");
    return 0;
}

static int encode_body(struct buf *dst, const struct buf *src, const char *what, char *err)
{
    if (!utf8_valid(buf_str(src), src->len))
        return errf(err, "%s body: not valid UTF-8", what);
    if (message_qp_encode(buf_str(src), src->len, dst) == -1)
        return errf(err, "%s body: out of memory", what);
    return 0;
}

int message_build(struct message *m, const struct config *c, const struct signup *s,
                  const struct rendered *r, int64_t date_ms, char *err)
{
    char id[MESSAGE_ID_MAX];

    memset(m, 0, sizeof(*m));
    buf_init(&m->text_qp);
    buf_init(&m->html_qp);
    m->signup_id = s->id;
    if (check_addresses(c, s, err) == -1)
        goto fail;
    if (message_id_for(s, id_domain(c), id, sizeof(id)) == -1) {
        errf(err, "Message-ID: no usable domain (set message_id_domain)");
        goto fail;
    }
    m->envelope_from = strdup(c->from_address);
    m->envelope_to = strdup(s->email);
    m->message_id = strdup(id);
    if (m->envelope_from == NULL || m->envelope_to == NULL || m->message_id == NULL) {
        errf(err, "message: out of memory");
        goto fail;
    }
    if (build_headers(m, c, s, r, date_ms, err) == -1 ||
        encode_body(&m->text_qp, &r->text, "text", err) == -1 ||
        encode_body(&m->html_qp, &r->html, "HTML", err) == -1)
        goto fail;
    return 0;
fail:
    message_free(m);
    return -1;
}

void message_free(struct message *m)
{
    size_t i;

    free(m->envelope_from);
    free(m->envelope_to);
    free(m->message_id);
    for (i = 0; i < m->nheaders; i++)
        free(m->headers[i]);
    buf_free(&m->text_qp);
    buf_free(&m->html_qp);
    memset(m, 0, sizeof(*m));
}

/* --- quoted-printable ----------------------------------------------------------- */

static const char hex_digits[] = "0123456789ABCDEF";

/* How a byte is written in quoted-printable (RFC 2045 6.7); the first two make up runs. */
enum qp_class {
    QP_LITERAL, /* printable ASCII but "=": stands for itself (rule 2) */
    QP_BLANK,   /* space, tab: themselves, except at the end of a line (rule 3) */
    QP_ENCODE,  /* anything else: =XX */
    QP_LF,
    QP_CR,
};

/* Built once per call from the rules: 256 bytes on the stack, no shared state. */
static void qp_classes(unsigned char cls[256])
{
    int c;

    for (c = 0; c < 256; c++)
        cls[c] = c >= 33 && c <= 126 && c != '=' ? QP_LITERAL : QP_ENCODE;
    cls[' '] = cls['\t'] = QP_BLANK;
    cls['\n'] = QP_LF;
    cls['\r'] = QP_CR;
}

/* Where a line of s ends: the LF, the CR of a CRLF, or the end. */
static int at_line_end(const unsigned char *p, const unsigned char *end)
{
    return p == end || *p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n');
}

#if defined(__SSE2__) && defined(__GNUC__)
/*
 * Sixteen bytes at a time (SSE2, always there on x86-64): how far from p
 * the bytes stand for themselves in quoted-printable, up to stop; a byte
 * outside ' '..'~' (signed, so bytes from 0x80 are below ' ') or a '='
 * ends the run.  Reads whole 16-byte blocks, never past end; the last few
 * bytes of the input are left to the byte-at-a-time loop.
 */
static const unsigned char *skip_plain(const unsigned char *p, const unsigned char *stop,
                                       const unsigned char *end)
{
    const __m128i space = _mm_set1_epi8(' '), tilde = _mm_set1_epi8('~'), eq = _mm_set1_epi8('=');

    while (p < stop && end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i bad = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(x, space), _mm_cmpgt_epi8(x, tilde)),
                                   _mm_cmpeq_epi8(x, eq));
        unsigned mask = (unsigned)_mm_movemask_epi8(bad);

        /* Bytes past stop count as the end of the run. */
        if (stop - p < 16)
            mask |= 1u << (stop - p);
        if (mask != 0)
            return p + __builtin_ctz(mask);
        p += 16;
    }
    return p;
}
#else
/* Eight bytes at a time: the byte at every position of a 64-bit word. */
#define BYTES(b) (UINT64_C(0x0101010101010101) * (b))

/*
 * Whether any byte of x is outside ' '..'~' or is '=': the bytes that do
 * not stand for themselves in quoted-printable (tab aside, which does, and
 * is rare enough to be left to the byte-at-a-time loop).  The usual
 * word-at-a-time tests: a byte below ' ', above '~', or equal to '='
 * (x ^ '=' has a zero byte) sets that byte's top bit.
 */
static int has_special(uint64_t x)
{
    uint64_t below = (x - BYTES(' ')) & ~x;
    uint64_t above = (x + BYTES(0x7f - '~')) | x;
    uint64_t eq = x ^ BYTES('=');

    return ((below | above | ((eq - BYTES(1)) & ~eq)) & BYTES(0x80)) != 0;
}

/* Skips whole words of plain printable ASCII (space included) up to stop. */
static const unsigned char *skip_plain(const unsigned char *p, const unsigned char *stop,
                                       const unsigned char *end)
{
    uint64_t x;

    (void)end;
    while (stop - p >= (ptrdiff_t)sizeof(x)) {
        memcpy(&x, p, sizeof(x));
        if (has_special(x))
            break;
        p += sizeof(x);
    }
    return p;
}
#endif

/* The most one call of qp_line() writes: a full line, a soft or hard break, and one escape. */
#define QP_LINE_WORST (MESSAGE_QP_LINE_MAX + 8)

/*
 * Encodes from *pp up to and including the next line break it writes (a
 * hard one for a line end in s, or a soft one), into o, which has room for
 * QP_LINE_WORST bytes; returns how many it wrote.
 */
static size_t qp_line(const unsigned char cls[256], const unsigned char **pp,
                      const unsigned char *end, char *o)
{
    /* A line holds 75 characters and the "=" of a soft break, or 76 when it ends there. */
    const size_t soft_max = MESSAGE_QP_LINE_MAX - 1;
    const unsigned char *p = *pp;
    char *const start = o;
    size_t col = 0;

    while (p < end) {
        unsigned char c = *p;
        int k = cls[c];

        /*
         * The common case: a run of words (literals and blanks), copied in
         * one piece.  Only the run's last byte can be a blank that ends a
         * line (every other is followed by more of the run): it is left for
         * the rules below, which encode it.
         */
        if (k == QP_LITERAL && col < soft_max) {
            const unsigned char *run = p, *stop = p + (soft_max - col);

            if (stop > end)
                stop = end;
            p = skip_plain(p, stop, end);
            while (p < stop && cls[*p] <= QP_BLANK)
                p++;
            if (cls[p[-1]] == QP_BLANK && at_line_end(p, end))
                p--;
            memcpy(o, run, (size_t)(p - run));
            o += p - run;
            col += (size_t)(p - run);
            continue;
        }
        if (k == QP_LF || (k == QP_CR && p + 1 < end && p[1] == '\n')) {
            p += k == QP_CR ? 2 : 1;
            *o++ = '\r';
            *o++ = '\n';
            break;
        }
        if (k == QP_LITERAL || (k == QP_BLANK && !at_line_end(p + 1, end))) {
            if (col < soft_max || (col < MESSAGE_QP_LINE_MAX && at_line_end(p + 1, end))) {
                *o++ = (char)c;
                col++;
                p++;
                continue;
            }
        } else if (col + 3 <= (at_line_end(p + 1, end) ? MESSAGE_QP_LINE_MAX : soft_max)) {
            *o++ = '=';
            *o++ = hex_digits[c >> 4];
            *o++ = hex_digits[c & 15];
            col += 3;
            p++;
            continue;
        }
        *o++ = '=';
        *o++ = '\r';
        *o++ = '\n';
        break;
    }
    *pp = p;
    return (size_t)(o - start);
}

int message_qp_encode(const char *s, size_t len, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    unsigned char cls[256];

    qp_classes(cls);
    /* Most of a report is plain ASCII: about one byte out per byte in. */
    if (buf_reserve(out, len + len / 8 + QP_LINE_WORST) == -1)
        return -1;
    while (p < end) {
        /* Room for another line, and its NUL; mostly there already, from the first reserve. */
        if (out->cap - out->len <= QP_LINE_WORST && buf_reserve(out, QP_LINE_WORST) == -1)
            return -1;
        out->len += qp_line(cls, &p, end, out->data + out->len);
    }
    /* The buffer's contents are a string: written directly, it needs its NUL here. */
    if (out->data != NULL)
        out->data[out->len] = '\0';
    return buf_failed(out) ? -1 : 0;
}
