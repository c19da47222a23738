/* test_log.c - quoted log values and log lines: escapes for quotes, control characters and bytes
 * that are not UTF-8. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_MODULE "test"
#include "log.h"

static void quoted_is(const char *in, const char *want)
{
    char out[LOG_VALUE_MAX];

    assert_string_equal(log_quoted(in, out, sizeof(out)), want);
}

static void test_invalid_byte_is_escaped(void **state)
{
    (void)state;
    /* The example: a literal backslash, x, f, f, never the raw byte. */
    quoted_is("x\xff@example.com", "\"x\\xff@example.com\"");
    quoted_is("\x80\xfe", "\"\\x80\\xfe\"");
}

static void test_valid_utf8_is_kept(void **state)
{
    (void)state;
    quoted_is("Zo\xc3\xab \xe2\x80\x94 \xf0\x9f\x93\x88",
              "\"Zo\xc3\xab \xe2\x80\x94 \xf0\x9f\x93\x88\"");
    /* U+00A0 and U+2028 are text, not control characters. */
    quoted_is("a\xc2\xa0"
              "b\xe2\x80\xa8",
              "\"a\xc2\xa0"
              "b\xe2\x80\xa8\"");
}

static void test_malformed_utf8_is_escaped_bytewise(void **state)
{
    (void)state;
    /* Overlong "/", a UTF-16 surrogate, a code point past U+10FFFF. */
    quoted_is("\xc0\xaf", "\"\\xc0\\xaf\"");
    quoted_is("\xed\xa0\x80", "\"\\xed\\xa0\\x80\"");
    quoted_is("\xf4\x90\x80\x80", "\"\\xf4\\x90\\x80\\x80\"");
    /* A character cut short by the end of the value, and by an ASCII byte. */
    quoted_is("a\xe2\x82", "\"a\\xe2\\x82\"");
    quoted_is("\xe2\x82z", "\"\\xe2\\x82z\"");
}

static void test_control_characters_are_escaped(void **state)
{
    (void)state;
    quoted_is("a\nb\r\tc\x7f\x1b", "\"a\\x0ab\\x0d\\x09c\\x7f\\x1b\"");
    /* C1 controls are valid UTF-8 but controls all the same: U+0085 NEL, U+009B CSI. */
    quoted_is("a\xc2\x85"
              "b\xc2\x9b",
              "\"a\\xc2\\x85b\\xc2\\x9b\"");
}

static void test_quotes_and_backslashes_are_escaped(void **state)
{
    (void)state;
    quoted_is("say \"hi\" \\ to=x", "\"say \\\"hi\\\" \\\\ to=x\"");
    /* A literal \xff in the input stays distinguishable from an escaped byte. */
    quoted_is("\\xff", "\"\\\\xff\"");
    quoted_is(NULL, "\"\"");
}

static void test_long_values_are_cut_between_characters(void **state)
{
    char out[8];

    (void)state;
    /* Room for 5 bytes inside the quotes: "ab" + "\xff" would need 6. */
    assert_string_equal(log_quoted("ab\xff", out, sizeof(out)), "\"ab\"");
    assert_string_equal(log_quoted("abcdefghij", out, sizeof(out)), "\"abcde\"");
    /* A 4-byte character never half-copied. */
    assert_string_equal(log_quoted("ab\xf0\x9f\x93\x88", out, sizeof(out)), "\"ab\"");
    assert_string_equal(log_quoted("a\"\"\"", out, sizeof(out)), "\"a\\\"\\\"\"");
    assert_string_equal(log_quoted("x", out, 2), "");
}

/* Enough for every line the tests log. */
#define CAPTURE_MAX 65536

/* Runs fn with stderr sent to a file, returning what was written (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/reportd-test-log-XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);
    char *text = calloc(1, CAPTURE_MAX);
    ssize_t got;

    assert_true(fd >= 0 && saved >= 0 && text != NULL);
    fflush(stderr);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    fn();
    fflush(stderr);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    got = pread(fd, text, CAPTURE_MAX - 1, 0);
    assert_true(got >= 0);
    close(fd);
    unlink(path);
    return text;
}

static void log_raw_values(void)
{
    /* Values reaching a line without log_quoted, as error texts and replies do. */
    log_notice("to=<%s> reply=%s", "x\xff@example.com", "550 no\r\nX-Injected: 1");
}

static void test_log_line_escapes_unquoted_values(void **state)
{
    char *text;

    (void)state;
    log_init(LOG_PRIO_INFO, 0);
    text = capture_stderr(log_raw_values);
    assert_string_equal(text, "reportd: test: to=<x\\xff@example.com> "
                              "reply=550 no\\x0d\\x0aX-Injected: 1\n");
    free(text);
}

static void log_quoted_value(void)
{
    char q[LOG_VALUE_MAX];

    log_warnx("to=%s", log_quoted("x\xff\"@example.com", q, sizeof(q)));
}

static void test_log_line_keeps_quoted_escapes(void **state)
{
    char *text;

    (void)state;
    log_init(LOG_PRIO_INFO, 1);
    text = capture_stderr(log_quoted_value);
    /* Escaped once, by log_quoted; the line adds nothing to its backslashes. */
    assert_string_equal(text, "<4>test: to=\"x\\xff\\\"@example.com\"\n");
    free(text);
}

/* More lines than one batch write holds (LOG_BATCH_MAX), one of them to be escaped. */
#define MANY_LINES 300

static size_t many_lines(char *out, size_t outlen)
{
    size_t used = 0;
    int i;

    for (i = 0; i < MANY_LINES; i++) {
        int n = snprintf(out + used, outlen - used, "id=%d state=sent prev=sending%s", i,
                         i == 7 ? " detail=\"x\xff\"" : "");

        assert_true(n > 0 && (size_t)n < outlen - used);
        used += (size_t)n + 1; /* past the NUL that ends the line */
    }
    return used;
}

static void log_each_line(void)
{
    char lines[MANY_LINES * 64];
    size_t len = many_lines(lines, sizeof(lines)), off;

    for (off = 0; off < len; off += strlen(lines + off) + 1)
        log_info("%s", lines + off);
}

static void log_all_lines(void)
{
    char lines[MANY_LINES * 64];
    size_t len = many_lines(lines, sizeof(lines));

    log_emit_lines(LOG_PRIO_INFO, LOG_MODULE, lines, len);
    /* Below the threshold: nothing. */
    log_emit_lines(LOG_PRIO_DEBUG, LOG_MODULE, lines, len);
}

/* Lines logged together come out exactly as they would one by one. */
static void test_lines_together_read_as_one_by_one(void **state)
{
    char *each, *all;
    int prefix;

    (void)state;
    for (prefix = 0; prefix <= 1; prefix++) {
        log_init(LOG_PRIO_INFO, prefix);
        each = capture_stderr(log_each_line);
        all = capture_stderr(log_all_lines);
        assert_true(strlen(each) > 4096);
        assert_non_null(strstr(each, "detail=\"x\\xff\""));
        assert_string_equal(all, each);
        free(each);
        free(all);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_byte_is_escaped),
        cmocka_unit_test(test_valid_utf8_is_kept),
        cmocka_unit_test(test_malformed_utf8_is_escaped_bytewise),
        cmocka_unit_test(test_control_characters_are_escaped),
        cmocka_unit_test(test_quotes_and_backslashes_are_escaped),
        cmocka_unit_test(test_long_values_are_cut_between_characters),
        cmocka_unit_test(test_log_line_escapes_unquoted_values),
        cmocka_unit_test(test_log_line_keeps_quoted_escapes),
        cmocka_unit_test(test_lines_together_read_as_one_by_one),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
