/*
 * test_message.c - the message module: RFC 2047 encoded-words (decoded back
 * here), addresses, Message-ID, header injection, and a whole message as
 * libcurl sends it, captured through smtp_capture().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "message.h"
#include "smtp_capture.h"
#include "smtp_mime.h"

/* --- helpers ------------------------------------------------------------ */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int isalnum_ascii(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int b64val(int c)
{
    const char *digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(digits, c) : NULL;

    return p ? (int)(p - digits) : -1;
}

static void decode_b(const char *s, size_t n, struct buf *out)
{
    unsigned v = 0;
    int bits = 0;
    size_t i;

    for (i = 0; i < n && s[i] != '='; i++) {
        int d = b64val(s[i]);

        assert_true(d >= 0);
        v = (v << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_putc(out, (int)((v >> bits) & 0xff));
        }
    }
}

static void decode_q(const char *s, size_t n, struct buf *out)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] == '_') {
            buf_putc(out, ' ');
        } else if (s[i] == '=') {
            assert_true(i + 2 < n);
            assert_true(hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0);
            buf_putc(out, hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            /* RFC 2047 5(3): only these may stand for themselves in a phrase. */
            assert_true(isalnum_ascii(s[i]) || strchr("!*+-/", s[i]) != NULL);
            buf_putc(out, s[i]);
        }
    }
}

/*
 * Decodes a header value that is a run of UTF-8 encoded-words separated by
 * folding whitespace (which RFC 2047 6.2 says to ignore between words).
 * Each word on its own must be complete UTF-8: no character is split.
 */
static void decode_words(const char *v, struct buf *out)
{
    while (*v) {
        const char *text, *end;
        struct buf word;
        char enc;

        while (*v == ' ' || *v == '\r' || *v == '\n')
            v++;
        if (*v == '\0')
            break;
        assert_int_equal(strncmp(v, "=?UTF-8?", 8), 0);
        enc = v[8];
        assert_true(enc == 'B' || enc == 'Q');
        assert_int_equal(v[9], '?');
        text = v + 10;
        end = strstr(text, "?=");
        assert_non_null(end);
        buf_init(&word);
        if (enc == 'B')
            decode_b(text, (size_t)(end - text), &word);
        else
            decode_q(text, (size_t)(end - text), &word);
        assert_true(utf8_valid(buf_str(&word), word.len));
        buf_append(out, word.data ? word.data : "", word.len);
        buf_free(&word);
        v = end + 2;
    }
}

/* Every line of a folded header, the first after its "Name: ", within max. */
static void assert_lines_within(const char *prefix, const char *v, size_t max)
{
    size_t col = strlen(prefix);

    for (; *v; v++) {
        if (*v == '\r') {
            assert_int_equal(v[1], '\n');
            assert_true(v[2] == ' ' || v[2] == '\t');
            assert_true(col <= max);
            col = 0;
            v++;
            continue;
        }
        col++;
    }
    assert_true(col <= max);
}

static char *unfold(const char *v)
{
    struct buf b;

    buf_init(&b);
    while (*v) {
        if (v[0] == '\r' && v[1] == '\n')
            v += 2;
        else
            buf_putc(&b, *v++);
    }
    return buf_steal(&b);
}

static void fixture(struct config *c, struct signup *s, struct rendered *r)
{
    memset(c, 0, sizeof(*c));
    c->from_name = "Reports";
    c->from_address = "reports@example.org";
    c->message_id_domain = "mail.example.org";
    memset(s, 0, sizeof(*s));
    s->id = 42;
    s->created_ms = 1700000000123;
    s->email = "jane@example.com";
    s->name = "Jane Doe";
    buf_init(&r->subject);
    buf_init(&r->text);
    buf_init(&r->html);
    buf_puts(&r->subject, "Your report");
    buf_puts(&r->text, "Hello Jane\n");
    buf_puts(&r->html, "<p>Hello Jane</p>\n");
}

static void rendered_clear(struct rendered *r)
{
    buf_free(&r->subject);
    buf_free(&r->text);
    buf_free(&r->html);
}

/* The one header line (with its continuations) named name, or NULL. */
static const char *find_header(const struct message *m, const char *name)
{
    size_t i, n = strlen(name);

    for (i = 0; i < m->nheaders; i++)
        if (strncasecmp(m->headers[i], name, n) == 0 && m->headers[i][n] == ':')
            return m->headers[i];
    return NULL;
}

/* --- encoded-words ------------------------------------------------------ */

static void encode(const char *value, struct buf *out)
{
    buf_init(out);
    assert_int_equal(message_encode_header(value, out), 0);
}

static void test_ascii_subject_unchanged(void **state)
{
    struct buf out;

    encode("Your AI exposure report, 2026 edition", &out);
    assert_string_equal(buf_str(&out), "Your AI exposure report, 2026 edition");
    buf_free(&out);
}

static void test_long_ascii_subject_folds_at_spaces(void **state)
{
    const char *v = "An unusually long subject line that keeps going well past the "
                    "seventy-eight column guideline of RFC 5322 so that it must be folded";
    struct buf out;
    char *flat;

    encode(v, &out);
    assert_non_null(strstr(buf_str(&out), "\r\n "));
    assert_null(strstr(buf_str(&out), "=?"));
    assert_lines_within("Subject: ", buf_str(&out), MESSAGE_FOLD_WIDTH);
    flat = unfold(buf_str(&out));
    assert_string_equal(flat, v);
    free(flat);
    buf_free(&out);
}

static void test_non_ascii_subject_round_trips(void **state)
{
    const char *v = "Ihr persönlicher Bericht für Jörg";
    struct buf out, dec;

    encode(v, &out);
    assert_int_equal(strncmp(buf_str(&out), "=?UTF-8?Q?", 10), 0);
    buf_init(&dec);
    decode_words(buf_str(&out), &dec);
    assert_string_equal(buf_str(&dec), v);
    assert_lines_within("Subject: ", buf_str(&out), 76);
    buf_free(&dec);
    buf_free(&out);
}

static void test_long_non_ascii_subject_folds_without_splitting(void **state)
{
    /* Mostly multi-byte text: B is the shorter encoding and is chosen. */
    const char *v = "あなたのAI影響レポート：職務、スキル、将来の見通しについての詳しい分析"
                    "と、これからの一年に向けた具体的な提案 🚀🚀🚀";
    struct buf out, dec;
    const char *p;
    int words = 0;

    encode(v, &out);
    assert_int_equal(strncmp(buf_str(&out), "=?UTF-8?B?", 10), 0);
    for (p = buf_str(&out); (p = strstr(p, "=?UTF-8?")) != NULL; p++)
        words++;
    assert_true(words > 2);
    assert_lines_within("Subject: ", buf_str(&out), 76);
    buf_init(&dec);
    decode_words(buf_str(&out), &dec); /* asserts each word is whole UTF-8 */
    assert_string_equal(buf_str(&dec), v);
    buf_free(&dec);
    buf_free(&out);
}

static void test_long_latin_subject_uses_q_and_round_trips(void **state)
{
    const char *v = "Über Aufgaben, Fähigkeiten und Zukunftsaussichten: Ihr persönlicher "
                    "KI-Bericht für das kommende Jahr — mit Empfehlungen";
    struct buf out, dec;

    encode(v, &out);
    assert_int_equal(strncmp(buf_str(&out), "=?UTF-8?Q?", 10), 0);
    assert_non_null(strstr(buf_str(&out), "?=\r\n =?UTF-8?Q?"));
    assert_lines_within("Subject: ", buf_str(&out), 76);
    buf_init(&dec);
    decode_words(buf_str(&out), &dec);
    assert_string_equal(buf_str(&dec), v);
    buf_free(&dec);
    buf_free(&out);
}

static void test_ascii_that_looks_encoded_is_encoded(void **state)
{
    const char *v = "=?UTF-8?B?aGk=?= is not what it seems";
    struct buf out, dec;

    encode(v, &out);
    assert_string_not_equal(buf_str(&out), v);
    buf_init(&dec);
    decode_words(buf_str(&out), &dec);
    assert_string_equal(buf_str(&dec), v);
    buf_free(&dec);
    buf_free(&out);
}

/* Found by tests/fuzz/fuzz_header.c: a word too long for one line came out as a line past 998. */
static void test_word_longer_than_a_line_is_encoded(void **state)
{
    /* "Subject: " is 9 columns: a 989-character word just fits RFC 5322's 998, 990 does not. */
    char fits[989 + 1], too_long[990 + 6 + 1];
    struct buf out, dec;

    memset(fits, 'x', sizeof(fits) - 1);
    fits[sizeof(fits) - 1] = '\0';
    encode(fits, &out);
    assert_string_equal(buf_str(&out), fits);
    buf_free(&out);

    memset(too_long, 'y', 990);
    strcpy(too_long + 990, " tail.");
    encode(too_long, &out);
    assert_int_equal(strncmp(buf_str(&out), "=?UTF-8?Q?", 10), 0);
    assert_lines_within("Subject: ", buf_str(&out), 76);
    buf_init(&dec);
    decode_words(buf_str(&out), &dec);
    assert_string_equal(buf_str(&dec), too_long);
    buf_free(&dec);
    buf_free(&out);
}

static void test_encode_refuses_bad_input(void **state)
{
    struct buf out;

    buf_init(&out);
    assert_int_equal(message_encode_header("bad \xc3\x28 utf-8", &out), -1);
    assert_int_equal(message_encode_header("two\r\nBcc: x@example.com", &out), -1);
    assert_int_equal(message_encode_header("line\nfeed", &out), -1);
    buf_free(&out);
}

/* --- addresses and headers ---------------------------------------------- */

static char *build_header(const char *from_name, const char *name, const char *header)
{
    struct config c;
    struct signup s;
    struct rendered r;
    struct message m;
    char err[ERRLEN];
    char *line;

    fixture(&c, &s, &r);
    c.from_name = (char *)from_name;
    s.name = (char *)name;
    assert_int_equal(message_build(&m, &c, &s, &r, 0, err), 0);
    line = strdup(find_header(&m, header));
    message_free(&m);
    rendered_clear(&r);
    return line;
}

static void test_display_names(void **state)
{
    static const struct {
        const char *name;
        const char *to;
    } cases[] = {
        {"Jane Doe", "To: Jane Doe <jane@example.com>"},
        {NULL, "To: jane@example.com"},
        {"", "To: jane@example.com"},
        /* A blank name is no name here too, as in the greeting. */
        {"   ", "To: jane@example.com"},
        {" \t\xc2\xa0", "To: jane@example.com"},
        {"  Jane Doe ", "To: Jane Doe <jane@example.com>"},
        {"Doe, Jane", "To: \"Doe, Jane\" <jane@example.com>"},
        {"Jane (HR) Doe", "To: \"Jane (HR) Doe\" <jane@example.com>"},
        {"J. Doe", "To: \"J. Doe\" <jane@example.com>"},
        {"Say \"hi\" \\o/", "To: \"Say \\\"hi\\\" \\\\o/\" <jane@example.com>"},
        {"Jane  Doe", "To: \"Jane  Doe\" <jane@example.com>"},
        {"=?x?=", "To: \"=?x?=\" <jane@example.com>"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *to = build_header("Reports", cases[i].name, "To");

        assert_string_equal(to, cases[i].to);
        free(to);
    }
}

static void test_non_ascii_display_name_is_encoded(void **state)
{
    char *to = build_header("Berichte für Sie", "Jörg Müller", "To");
    char *from = build_header("Berichte für Sie", "Jörg Müller", "From");
    struct buf dec;
    char *end;

    assert_int_equal(strncmp(to, "To: =?UTF-8?", 12), 0);
    end = strstr(to, " <jane@example.com>");
    assert_non_null(end);
    *end = '\0';
    buf_init(&dec);
    decode_words(to + 4, &dec);
    assert_string_equal(buf_str(&dec), "Jörg Müller");
    buf_reset(&dec);
    assert_non_null(strstr(from, " <reports@example.org>"));
    *strstr(from, " <reports@example.org>") = '\0';
    decode_words(from + 6, &dec);
    assert_string_equal(buf_str(&dec), "Berichte für Sie");
    buf_free(&dec);
    free(to);
    free(from);
}

static void test_headers_present_once(void **state)
{
    static const char *names[] = {"From",           "To",         "Subject",
                                  "Date",           "Message-ID", "MIME-Version",
                                  "Auto-Submitted", "Reply-To",   "Content-Type"};
    struct config c;
    struct signup s;
    struct rendered r;
    struct message m;
    char err[ERRLEN];
    size_t i;

    fixture(&c, &s, &r);
    c.reply_to = "help@example.org";
    assert_int_equal(message_build(&m, &c, &s, &r, 1700000000000, err), 0);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t j, n = strlen(names[i]);
        int count = 0;

        for (j = 0; j < m.nheaders; j++)
            count += strncasecmp(m.headers[j], names[i], n) == 0 && m.headers[j][n] == ':';
        assert_int_equal(count, 1);
    }
    assert_string_equal(find_header(&m, "Reply-To"), "Reply-To: help@example.org");
    assert_string_equal(find_header(&m, "Date"), "Date: Tue, 14 Nov 2023 22:13:20 +0000");
    assert_string_equal(find_header(&m, "Auto-Submitted"), "Auto-Submitted: auto-generated");
    assert_string_equal(find_header(&m, "From"), "From: Reports <reports@example.org>");
    assert_string_equal(m.envelope_from, "reports@example.org");
    assert_string_equal(m.envelope_to, "jane@example.com");
    assert_int_equal(m.signup_id, 42);
    message_free(&m);
    rendered_clear(&r);
}

static void test_no_reply_to_unless_configured(void **state)
{
    struct config c;
    struct signup s;
    struct rendered r;
    struct message m;
    char err[ERRLEN];

    fixture(&c, &s, &r);
    assert_int_equal(message_build(&m, &c, &s, &r, 0, err), 0);
    assert_null(find_header(&m, "Reply-To"));
    message_free(&m);
    rendered_clear(&r);
}

/* --- Message-ID --------------------------------------------------------- */

static void test_message_id_stable_for_a_signup(void **state)
{
    struct config c;
    struct signup s;
    struct rendered r;
    struct message a, b;
    char err[ERRLEN], id[256];

    fixture(&c, &s, &r);
    assert_int_equal(message_build(&a, &c, &s, &r, 1700000000000, err), 0);
    assert_int_equal(message_build(&b, &c, &s, &r, 1800000000000, err), 0);
    assert_string_equal(a.message_id, b.message_id);
    assert_string_equal(a.message_id, "<report.42.1700000000123@mail.example.org>");
    assert_int_equal(message_id_for(&s, "mail.example.org", id, sizeof(id)), 0);
    assert_string_equal(id, a.message_id);
    /* Another database may reuse the row id; the creation time tells them apart. */
    s.created_ms++;
    assert_int_equal(message_id_for(&s, "mail.example.org", id, sizeof(id)), 0);
    assert_string_not_equal(id, a.message_id);
    message_free(&a);
    message_free(&b);
    rendered_clear(&r);
}

static void test_message_id_domain_falls_back_to_sender(void **state)
{
    struct config c;
    struct signup s;
    struct rendered r;
    struct message m;
    char err[ERRLEN];

    fixture(&c, &s, &r);
    c.message_id_domain = NULL;
    assert_int_equal(message_build(&m, &c, &s, &r, 0, err), 0);
    assert_string_equal(m.message_id, "<report.42.1700000000123@example.org>");
    message_free(&m);
    rendered_clear(&r);
}

static void test_message_id_refuses_bad_domain_and_short_buffer(void **state)
{
    struct signup s;
    char id[32];

    memset(&s, 0, sizeof(s));
    s.id = 1;
    s.created_ms = 2;
    assert_int_equal(message_id_for(&s, NULL, id, sizeof(id)), -1);
    assert_int_equal(message_id_for(&s, "", id, sizeof(id)), -1);
    assert_int_equal(message_id_for(&s, "a>b", id, sizeof(id)), -1);
    assert_int_equal(message_id_for(&s, "x\r\ny", id, sizeof(id)), -1);
    assert_int_equal(message_id_for(&s, "a-rather-long-domain.example", id, sizeof(id)), -1);
    assert_int_equal(message_id_for(&s, "e.org", id, sizeof(id)), 0);
    assert_string_equal(id, "<report.1.2@e.org>");
}

/* --- refusals ----------------------------------------------------------- */

static void expect_refused(struct config *c, struct signup *s, struct rendered *r,
                           const char *needle)
{
    struct message m;
    char err[ERRLEN] = "";

    assert_int_equal(message_build(&m, c, s, r, 0, err), -1);
    assert_non_null(strstr(err, needle));
    assert_int_equal(m.nheaders, 0);
    assert_null(m.envelope_to);
}

static void test_header_injection_refused(void **state)
{
    struct config c;
    struct signup s;
    struct rendered r;

    fixture(&c, &s, &r);
    buf_reset(&r.subject);
    buf_puts(&r.subject, "Hi\r\nBcc: victim@example.net");
    expect_refused(&c, &s, &r, "Subject: contains a line break");
    rendered_clear(&r);

    fixture(&c, &s, &r);
    s.name = "Jane\nBcc: victim@example.net";
    expect_refused(&c, &s, &r, "To: contains a line break");
    s.name = "Jane";
    s.email = "jane@example.com\r\nBcc: victim@example.net";
    expect_refused(&c, &s, &r, "To: contains a line break");
    s.email = "jane@example.com";
    c.from_name = "Reports\r";
    expect_refused(&c, &s, &r, "From: contains a line break");
    c.from_name = "Reports";
    c.reply_to = "help@example.org\nX: y";
    expect_refused(&c, &s, &r, "Reply-To: contains a line break");
    rendered_clear(&r);
}

static void test_bad_addresses_and_bodies_refused(void **state)
{
    struct config c;
    struct signup s;
    struct rendered r;

    fixture(&c, &s, &r);
    s.email = "jörg@example.com";
    expect_refused(&c, &s, &r, "To: \"jörg@example.com\" is not a plain ASCII address");
    s.email = "a@b.org>, evil@example.net";
    expect_refused(&c, &s, &r, "To:");
    s.email = NULL;
    expect_refused(&c, &s, &r, "To: the signup has no address");
    s.email = "jane@example.com";
    c.from_address = NULL;
    expect_refused(&c, &s, &r, "From: no sender address");
    c.from_address = "reports@example.org";
    s.name = "bad \xff name";
    expect_refused(&c, &s, &r, "To: cannot be encoded");
    s.name = "Jane";
    buf_puts(&r.text, "broken \xc3");
    expect_refused(&c, &s, &r, "text body: not valid UTF-8");
    rendered_clear(&r);
}

/* --- the whole message, as libcurl sends it ----------------------------- */

static size_t count_header(const char *head, const char *name)
{
    size_t n = strlen(name), count = 0;
    const char *line = head;

    while (line != NULL && *line) {
        if (strncasecmp(line, name, n) == 0 && line[n] == ':')
            count++;
        line = strstr(line, "\r\n");
        if (line != NULL)
            line += 2;
    }
    return count;
}

static size_t count_text(const char *s, const char *needle)
{
    size_t n = 0;

    while ((s = strstr(s, needle)) != NULL) {
        n++;
        s++;
    }
    return n;
}

static void assert_crlf_only_and_short_lines(const struct buf *b)
{
    size_t i, col = 0;

    for (i = 0; i < b->len; i++) {
        if (b->data[i] == '\n') {
            assert_true(i > 0 && b->data[i - 1] == '\r');
            assert_true(col <= 998);
            col = 0;
        } else if (b->data[i] == '\r') {
            assert_true(i + 1 < b->len && b->data[i + 1] == '\n');
        } else {
            col++;
        }
    }
}

/* Undoes quoted-printable: soft breaks vanish, =XX become bytes. */
static char *qp_decode(const char *s, size_t n)
{
    struct buf b;
    size_t i;

    buf_init(&b);
    for (i = 0; i < n; i++) {
        if (s[i] == '=' && i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
            i += 2;
        } else if (s[i] == '=' && i + 2 < n) {
            buf_putc(&b, hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            buf_putc(&b, s[i]);
        }
    }
    return buf_steal(&b);
}

/* Every line of a quoted-printable body: at most 76 characters, CRLF only, no trailing blank. */
static void check_qp_lines(const char *q, size_t n)
{
    size_t i, col = 0;

    for (i = 0; i < n; i++) {
        if (q[i] == '\r') {
            assert_true(i + 1 < n && q[i + 1] == '\n');
            assert_true(i == 0 || (q[i - 1] != ' ' && q[i - 1] != '\t'));
            col = 0;
            i++;
            continue;
        }
        assert_true(q[i] != '\n');
        col++;
        assert_true(col <= MESSAGE_QP_LINE_MAX);
    }
}

/*
 * The straightforward encoder message_qp_encode() replaced (a byte at a time
 * through buf_append): the new one must write exactly the same bytes.
 */
static const char ref_hex[] = "0123456789ABCDEF";

/* RFC 2045 6.7 (2): printable ASCII but "=" stands for itself. */
static int ref_literal(unsigned char c)
{
    return (unsigned char)(c - 33) <= 126 - 33 && c != '=';
}

/* Where a line of s ends: the LF, the CR of a CRLF, or the end. */
static int ref_line_end(const unsigned char *p, const unsigned char *end)
{
    return p == end || *p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n');
}

/* Space and tab stand for themselves, except at the end of a line (6.7 (3)). */
static int ref_plain(const unsigned char *p, const unsigned char *end)
{
    if (*p == ' ' || *p == '\t')
        return !ref_line_end(p + 1, end);
    return ref_literal(*p);
}

static void ref_soft_break(struct buf *out, size_t *col)
{
    buf_append(out, "=\r\n", 3);
    *col = 0;
}

static int qp_reference(const char *s, size_t len, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    /* A line holds 75 characters and the "=" of a soft break, or 76 when it ends there. */
    const size_t soft_max = MESSAGE_QP_LINE_MAX - 1;
    size_t col = 0;

    /* Most of a report is plain ASCII: about one byte out per byte in. */
    if (buf_reserve(out, len + len / 8 + 64) == -1)
        return -1;
    while (p < end) {
        if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
            p += *p == '\r' ? 2 : 1;
            buf_append(out, "\r\n", 2);
            col = 0;
        } else if (ref_plain(p, end)) {
            const unsigned char *run = p;

            if (col >= soft_max) {
                if (col < MESSAGE_QP_LINE_MAX && ref_line_end(p + 1, end)) {
                    buf_putc(out, *p++);
                    col++;
                } else {
                    ref_soft_break(out, &col);
                }
                continue;
            }
            /* A run of plain characters goes in one piece, up to the line's limit. */
            while (p < end && (size_t)(p - run) < soft_max - col && ref_plain(p, end))
                p++;
            buf_append(out, run, (size_t)(p - run));
            col += (size_t)(p - run);
        } else {
            char enc[3] = {'=', ref_hex[*p >> 4], ref_hex[*p & 15]};
            size_t limit = ref_line_end(p + 1, end) ? MESSAGE_QP_LINE_MAX : soft_max;

            if (col + sizeof(enc) > limit)
                ref_soft_break(out, &col);
            buf_append(out, enc, sizeof(enc));
            col += sizeof(enc);
            p++;
        }
    }
    return buf_failed(out) ? -1 : 0;
}

static void test_qp_encode_round_trips(void **state)
{
    /* Pieces that stress the rules: long runs, blanks before line ends, "=", UTF-8, CRLF. */
    static const char *const pieces[] = {"a", "Z", " ", "\t", "=",       "\n",  "\r\n", ".",
                                         "é", "€", "😀", "x",  "aaaaaaa", " \n", "=\n",  "\t\n"};
    uint64_t rng = 0x2545f4914f6cdd1dULL;
    int round;

    (void)state;
    for (round = 0; round < 3000; round++) {
        struct buf in, want, out;
        size_t k, count;
        char *back;

        buf_init(&in);
        buf_init(&want);
        buf_init(&out);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        count = (size_t)(rng % 120);
        for (k = 0; k < count; k++) {
            const char *p;

            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            p = pieces[rng % (sizeof(pieces) / sizeof(pieces[0]))];
            buf_puts(&in, p);
            /* Line ends go out as CRLF, whichever came in. */
            buf_puts(&want, strcmp(p, "\n") == 0 ? "\r\n" : p);
            if (strcmp(p, " \n") == 0 || strcmp(p, "=\n") == 0 || strcmp(p, "\t\n") == 0) {
                want.len--;
                buf_puts(&want, "\r\n");
            }
        }
        assert_int_equal(message_qp_encode(buf_str(&in), in.len, &out), 0);
        check_qp_lines(buf_str(&out), out.len);
        {
            struct buf ref;

            buf_init(&ref);
            assert_int_equal(qp_reference(buf_str(&in), in.len, &ref), 0);
            assert_int_equal(out.len, ref.len);
            assert_memory_equal(buf_str(&out), buf_str(&ref), ref.len);
            buf_free(&ref);
        }
        back = qp_decode(buf_str(&out), out.len);
        assert_string_equal(back, buf_str(&want));
        free(back);
        buf_free(&in);
        buf_free(&want);
        buf_free(&out);
    }
}

/*
 * The encoder skips plain text eight bytes at a time: every byte value, at
 * every offset within a word and around the soft line limit, between the
 * edge cases of plain ('~', ' ') must still come out as the reference's.
 */
static void test_qp_every_byte_at_every_offset(void **state)
{
    static const char fillers[] = {'x', '~', ' '};
    static const char *const endings[] = {"", "\n", " \n", "\r\n", "yz"};
    size_t f, e, k;
    int c;

    (void)state;
    for (f = 0; f < sizeof(fillers); f++) {
        for (e = 0; e < sizeof(endings) / sizeof(endings[0]); e++) {
            for (k = 0; k < MESSAGE_QP_LINE_MAX + 12; k += k < 20 || k > 64 ? 1 : 9) {
                for (c = 0; c < 256; c++) {
                    struct buf in, out, ref;

                    buf_init(&in);
                    buf_init(&out);
                    buf_init(&ref);
                    while (in.len < k)
                        buf_putc(&in, fillers[f]);
                    buf_putc(&in, c);
                    while (in.len < MESSAGE_QP_LINE_MAX + 24)
                        buf_putc(&in, fillers[(f + 1) % sizeof(fillers)]);
                    buf_puts(&in, endings[e]);
                    assert_int_equal(message_qp_encode(buf_str(&in), in.len, &out), 0);
                    assert_int_equal(qp_reference(buf_str(&in), in.len, &ref), 0);
                    assert_int_equal(out.len, ref.len);
                    assert_memory_equal(buf_str(&out), buf_str(&ref), ref.len);
                    buf_free(&in);
                    buf_free(&out);
                    buf_free(&ref);
                }
            }
        }
    }
}

/* The body of the part whose Content-Type starts with type, QP-decoded. */
static char *part_body(const char *msg, const char *boundary, const char *type)
{
    char ct[128];
    const char *p, *body, *end;

    snprintf(ct, sizeof(ct), "Content-Type: %s", type);
    p = strstr(msg, ct);
    assert_non_null(p);
    body = strstr(p, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    end = strstr(body, boundary);
    assert_non_null(end);
    /* The CRLF before a boundary belongs to the delimiter (RFC 2046 5.1.1). */
    assert_true(end - body >= 2 && end[-2] == '\r' && end[-1] == '\n');
    end -= 2;
    return qp_decode(body, (size_t)(end - body));
}

static void test_captured_message(void **state)
{
    struct config c;
    struct signup s;
    struct rendered r;
    struct message m;
    struct buf out, text_crlf;
    char err[ERRLEN], boundary[128], closing[160];
    const char *msg, *head_end, *ct, *text_at, *html_at;
    char *head, *text, *html;
    size_t i;

    fixture(&c, &s, &r);
    s.name = "Jörg Müller";
    buf_reset(&r.subject);
    buf_puts(&r.subject, "Ihr persönlicher KI-Bericht");
    buf_reset(&r.text);
    buf_puts(&r.text, "Hallo Jörg,\n.a line that starts with a dot\n.\nequals = sign\n");
    for (i = 0; i < 200; i++)
        buf_puts(&r.text, "0123456789");
    buf_puts(&r.text, "\nend\n");
    buf_reset(&r.html);
    buf_puts(&r.html, "<p>Hallo J&ouml;rg &mdash; ü</p>\n");
    assert_int_equal(message_build(&m, &c, &s, &r, 1700000000000, err), 0);
    buf_init(&out);
    assert_int_equal(smtp_capture(&m, &out, err), 0);
    msg = buf_str(&out);

    assert_crlf_only_and_short_lines(&out);
    head_end = strstr(msg, "\r\n\r\n");
    assert_non_null(head_end);
    head = strndup(msg, (size_t)(head_end - msg) + 2);
    assert_int_equal(count_header(head, "From"), 1);
    assert_int_equal(count_header(head, "To"), 1);
    assert_int_equal(count_header(head, "Subject"), 1);
    assert_int_equal(count_header(head, "Date"), 1);
    assert_int_equal(count_header(head, "Message-ID"), 1);
    assert_int_equal(count_header(head, "MIME-Version"), 1);
    assert_int_equal(count_header(head, "Auto-Submitted"), 1);
    assert_int_equal(count_header(head, "Content-Type"), 1);
    assert_non_null(strstr(head, "Message-ID: <report.42.1700000000123@mail.example.org>\r\n"));
    assert_non_null(strstr(head, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));

    ct = strstr(head, "Content-Type: ");
    assert_non_null(ct);
    assert_int_equal(strncmp(ct, "Content-Type: multipart/alternative; boundary=", 46), 0);
    assert_null(strstr(msg, "multipart/mixed"));
    assert_int_equal(sscanf(ct + 46, "%100[^\r\n;]", boundary + 2), 1);
    boundary[0] = boundary[1] = '-';
    free(head);

    text_at = strstr(msg, "Content-Type: text/plain; charset=utf-8\r\n");
    html_at = strstr(msg, "Content-Type: text/html; charset=utf-8\r\n");
    assert_non_null(text_at);
    assert_non_null(html_at);
    assert_true(text_at < html_at);
    assert_int_equal(count_text(msg, "Content-Transfer-Encoding: quoted-printable\r\n"), 2);
    assert_int_equal(count_text(msg, "charset=utf-8"), 2);
    assert_true(strstr(text_at, "quoted-printable") < html_at);

    /* The 2000-character line is broken with soft line breaks. */
    assert_non_null(strstr(text_at, "=\r\n"));
    text = part_body(msg, boundary, "text/plain");
    html = part_body(msg, boundary, "text/html");
    buf_init(&text_crlf);
    for (i = 0; i < r.text.len; i++) {
        if (r.text.data[i] == '\n')
            buf_putc(&text_crlf, '\r');
        buf_putc(&text_crlf, r.text.data[i]);
    }
    assert_string_equal(text, buf_str(&text_crlf));
    assert_string_equal(html, "<p>Hallo J&ouml;rg &mdash; \xc3\xbc</p>\r\n");
    snprintf(closing, sizeof(closing), "\r\n%s--\r\n", boundary);
    assert_true(out.len > strlen(closing));
    assert_string_equal(msg + out.len - strlen(closing), closing);

    free(text);
    free(html);
    buf_free(&text_crlf);
    buf_free(&out);
    message_free(&m);
    rendered_clear(&r);
}

static int count_list(const struct curl_slist *l)
{
    int n = 0;

    for (; l != NULL; l = l->next)
        n++;
    return n;
}

static void test_attach_and_detach(void **state)
{
    struct config c;
    struct signup s;
    struct rendered r;
    struct message m;
    char err[ERRLEN];
    struct smtp_mime a;
    CURL *easy = curl_easy_init();

    assert_non_null(easy);
    fixture(&c, &s, &r);
    assert_int_equal(message_build(&m, &c, &s, &r, 0, err), 0);
    assert_int_equal(smtp_mime_attach(&m, easy, &a, err), 0);
    assert_non_null(a.mime);
    assert_non_null(a.rcpt);
    assert_string_equal(a.rcpt->data, "jane@example.com");
    assert_null(a.rcpt->next);
    assert_int_equal(count_list(a.headers), (int)m.nheaders);
    smtp_mime_detach(easy, &a);
    assert_null(a.mime);
    curl_easy_cleanup(easy);
    message_free(&m);
    rendered_clear(&r);
}

static int setup(void **state)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii_subject_unchanged),
        cmocka_unit_test(test_long_ascii_subject_folds_at_spaces),
        cmocka_unit_test(test_non_ascii_subject_round_trips),
        cmocka_unit_test(test_long_non_ascii_subject_folds_without_splitting),
        cmocka_unit_test(test_long_latin_subject_uses_q_and_round_trips),
        cmocka_unit_test(test_ascii_that_looks_encoded_is_encoded),
        cmocka_unit_test(test_word_longer_than_a_line_is_encoded),
        cmocka_unit_test(test_encode_refuses_bad_input),
        cmocka_unit_test(test_display_names),
        cmocka_unit_test(test_non_ascii_display_name_is_encoded),
        cmocka_unit_test(test_headers_present_once),
        cmocka_unit_test(test_qp_encode_round_trips),
        cmocka_unit_test(test_qp_every_byte_at_every_offset),
        cmocka_unit_test(test_no_reply_to_unless_configured),
        cmocka_unit_test(test_message_id_stable_for_a_signup),
        cmocka_unit_test(test_message_id_domain_falls_back_to_sender),
        cmocka_unit_test(test_message_id_refuses_bad_domain_and_short_buffer),
        cmocka_unit_test(test_header_injection_refused),
        cmocka_unit_test(test_bad_addresses_and_bodies_refused),
        cmocka_unit_test(test_captured_message),
        cmocka_unit_test(test_attach_and_detach),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
