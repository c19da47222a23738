/*
 * test_yamlerr.c - unit tests for YAML parse errors as reportd reports them
 * (daemon/yamlerr.c through yamldoc_load_string): a tab in the indentation
 * named as a tab at its own line and column, and a mis-indented key reported
 * at the line that is wrong.  Every expected position is computed from the
 * test's input: the line holding a marker text, the column of its tab or of
 * its first character.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "util.h"
#include "yamldoc.h"

#define NAME "t.yaml"

/* 1-based line of the first line of text containing needle. */
static unsigned long line_of(const char *text, const char *needle)
{
    const char *at = strstr(text, needle), *p;
    unsigned long line = 1;

    assert_non_null(at);
    for (p = text; p < at; p++)
        if (*p == '\n')
            line++;
    return line;
}

/* The text of line n (1-based), without its line break, into out. */
static void line_text(const char *text, unsigned long n, char *out, size_t outlen)
{
    const char *p = text;
    size_t len;

    while (--n > 0) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    len = strcspn(p, "\n");
    assert_true(len < outlen);
    memcpy(out, p, len);
    out[len] = '\0';
}

/* 1-based column of the first character that is not a space on line n. */
static unsigned long indent_column_of(const char *text, unsigned long n)
{
    char line[256];

    line_text(text, n, line, sizeof(line));
    return (unsigned long)strspn(line, " ") + 1;
}

/* 1-based column of the tab on line n. */
static unsigned long tab_column_of(const char *text, unsigned long n)
{
    char line[256];
    const char *tab;

    line_text(text, n, line, sizeof(line));
    tab = strchr(line, '\t');
    assert_non_null(tab);
    return (unsigned long)(tab - line) + 1;
}

/* Loads text, which must fail, and returns the error line. */
static void load_fails(const char *text, char *err)
{
    struct yamldoc yd;

    assert_int_equal(yamldoc_load_string(&yd, NAME, text, strlen(text), err), -1);
}

/* The error starts with "t.yaml:LINE:COLUMN: " and then says what. */
static void assert_error_at(const char *err, unsigned long line, unsigned long column,
                            const char *says)
{
    char prefix[64];

    snprintf(prefix, sizeof(prefix), NAME ":%lu:%lu: ", line, column);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("expected the error at %s, got: %s", prefix, err);
    if (strstr(err + strlen(prefix), says) == NULL)
        fail_msg("expected \"%s\" in: %s", says, err);
}

#define TAB_MESSAGE "tab character in the indentation: YAML allows only spaces for indentation"

static void test_tab_opening_a_line_is_named(void **state)
{
    const char *text = "queue:\n"
                       "  path: /var/lib/reportd/queue.db\n"
                       "\tpoll_interval: 5s\n"
                       "roles_dir: /etc/reportd/roles\n";
    char err[ERRLEN];
    unsigned long line = line_of(text, "\tpoll_interval");

    (void)state;
    load_fails(text, err);
    assert_error_at(err, line, tab_column_of(text, line), TAB_MESSAGE);
}

/* libyaml's own words for this one are "found character that cannot start any token". */
static void test_tab_after_spaces_is_named_at_its_column(void **state)
{
    const char *text = "smtp:\n"
                       "  url: smtp://mail.example.com:587\n"
                       "  \ttls: starttls\n";
    char err[ERRLEN];
    unsigned long line = line_of(text, "\ttls");

    (void)state;
    load_fails(text, err);
    assert_int_equal(tab_column_of(text, line), 3);
    assert_error_at(err, line, tab_column_of(text, line), TAB_MESSAGE);
    assert_null(strstr(err, "cannot start any token"));
}

static void test_tab_as_the_first_child_is_named(void **state)
{
    const char *text = "queue:\n"
                       "\tpath: /var/lib/reportd/queue.db\n";
    char err[ERRLEN];
    unsigned long line = line_of(text, "\tpath");

    (void)state;
    load_fails(text, err);
    assert_error_at(err, line, tab_column_of(text, line), TAB_MESSAGE);
}

/* A tab between a key and its value is YAML's separation, not indentation. */
static void test_tab_after_a_key_is_allowed(void **state)
{
    const char *text = "queue:\n"
                       "  path:\t/var/lib/reportd/queue.db\n";
    struct yamldoc yd;
    char err[ERRLEN];

    (void)state;
    assert_int_equal(yamldoc_load_string(&yd, NAME, text, strlen(text), err), 0);
    yamldoc_free(&yd);
}

/* A block scalar's text may hold tabs; a later mistake is not blamed on them. */
static void test_tab_inside_a_block_scalar_is_not_blamed(void **state)
{
    const char *text = "summary: |\n"
                       "  first line\n"
                       "  \tindented with a tab, as text\n"
                       "title: a: b\n";
    char err[ERRLEN], title[64];
    unsigned long line = line_of(text, "title:");

    (void)state;
    load_fails(text, err);
    assert_null(strstr(err, "tab character"));
    /* libyaml's position: the second colon on the line. */
    line_text(text, line, title, sizeof(title));
    assert_error_at(err, line, (unsigned long)(strrchr(title, ':') - title) + 1,
                    "mapping values are not allowed");
}

static void test_key_deeper_than_its_siblings_is_reported_at_its_line(void **state)
{
    const char *text = "queue:\n"
                       "  path: /var/lib/reportd/queue.db\n"
                       "    poll_interval: 5s\n"
                       "  batch_size: 50\n";
    char err[ERRLEN];
    unsigned long line = line_of(text, "poll_interval");

    (void)state;
    load_fails(text, err);
    assert_error_at(err, line, indent_column_of(text, line), "indented deeper than line 2");
}

static void test_key_shallower_than_its_siblings_is_reported_at_its_line(void **state)
{
    const char *text = "sender:\n"
                       "  from: reports@example.com\n"
                       "  name: Reports\n"
                       " reply_to: hello@example.com\n"
                       "smtp:\n"
                       "  url: smtp://mail.example.com\n";
    char err[ERRLEN];
    unsigned long line = line_of(text, "reply_to");

    (void)state;
    load_fails(text, err);
    assert_error_at(err, line, indent_column_of(text, line), "indented less than the keys above");
}

/*
 * The first key of a mapping one space too deep: libyaml takes its column
 * for the mapping's and stops two lines later, at the next key.  The line
 * that is wrong is the first.
 */
static void test_first_key_off_is_reported_not_the_next(void **state)
{
    const char *text = "queue:\n"
                       "   path: /var/lib/reportd/queue.db\n"
                       "  # How often an idle daemon looks for work.\n"
                       "  poll_interval: 5s\n"
                       "  batch_size: 50\n"
                       "  lease: 2m\n"
                       "roles_dir: /etc/reportd/roles\n";
    char err[ERRLEN], libyaml[64];
    unsigned long wrong = line_of(text, "path:"), noticed = line_of(text, "poll_interval");

    (void)state;
    load_fails(text, err);
    assert_error_at(err, wrong, indent_column_of(text, wrong), "the 3 keys after it");
    /* libyaml's own mark, the later line, is kept at the end for reference. */
    snprintf(libyaml, sizeof(libyaml), "(libyaml: did not find expected key at %lu:", noticed);
    assert_non_null(strstr(err, libyaml));
}

/* A key that slipped left to column 1 inside a section: the slipped line is reported. */
static void test_key_slipped_to_the_left_is_reported_not_the_next(void **state)
{
    const char *text = "queue:\n"
                       "  path: /var/lib/reportd/queue.db\n"
                       "  retry_min: 1m\n"
                       "retry_max: 1h\n"
                       "  uncertain: resend\n"
                       "  retention: 30d\n";
    char err[ERRLEN];
    unsigned long wrong = line_of(text, "retry_max");

    (void)state;
    load_fails(text, err);
    assert_error_at(err, wrong, indent_column_of(text, wrong), "indented less than the lines");
}

/* The comment above a key says where it was meant to be. */
static void test_comment_above_decides_which_line_strayed(void **state)
{
    const char *slipped = "sender:\n"
                          "  from: reports@example.com\n"
                          "  # Where replies go.\n"
                          "reply_to: hello@example.com\n"
                          "  # The right-hand side of Message-IDs.\n"
                          "  message_id_domain: example.com\n";
    const char *pushed = "queue:\n"
                         "  retention: 30d\n"
                         "# The role data.\n"
                         "roles_dir: /etc/reportd/roles\n"
                         "# The templates.\n"
                         "  templates_dir: /etc/reportd/templates\n"
                         "sender:\n"
                         "  from: reports@example.com\n";
    char err[ERRLEN];
    unsigned long line;

    (void)state;
    load_fails(slipped, err);
    line = line_of(slipped, "reply_to");
    assert_error_at(err, line, indent_column_of(slipped, line), "indented less than the lines");
    load_fails(pushed, err);
    line = line_of(pushed, "templates_dir");
    assert_error_at(err, line, indent_column_of(pushed, line), "indented deeper than line");
}

/* Lines of a plain scalar that go on deeper are text, not keys. */
static void test_multi_line_plain_scalar_is_not_a_key(void **state)
{
    const char *text = "levels:\n"
                       "  - id: junior\n"
                       "    summary: Entry-level work is concentrated\n"
                       "      in exactly the tasks AI does best.\n"
                       "     title: Junior\n";
    char err[ERRLEN];
    unsigned long line = line_of(text, "title:");

    (void)state;
    load_fails(text, err);
    assert_error_at(err, line, indent_column_of(text, line), "indented deeper than line 3");
}

/* Other mistakes keep libyaml's words and position. */
static void test_other_errors_keep_libyamls_message(void **state)
{
    const char *text = "queue:\n"
                       "  path: [unclosed\n";
    char err[ERRLEN];

    (void)state;
    load_fails(text, err);
    assert_non_null(strstr(err, "while parsing a flow sequence"));
    assert_null(strstr(err, "indented"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tab_opening_a_line_is_named),
        cmocka_unit_test(test_tab_after_spaces_is_named_at_its_column),
        cmocka_unit_test(test_tab_as_the_first_child_is_named),
        cmocka_unit_test(test_tab_after_a_key_is_allowed),
        cmocka_unit_test(test_tab_inside_a_block_scalar_is_not_blamed),
        cmocka_unit_test(test_key_deeper_than_its_siblings_is_reported_at_its_line),
        cmocka_unit_test(test_key_shallower_than_its_siblings_is_reported_at_its_line),
        cmocka_unit_test(test_first_key_off_is_reported_not_the_next),
        cmocka_unit_test(test_key_slipped_to_the_left_is_reported_not_the_next),
        cmocka_unit_test(test_comment_above_decides_which_line_strayed),
        cmocka_unit_test(test_multi_line_plain_scalar_is_not_a_key),
        cmocka_unit_test(test_other_errors_keep_libyamls_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
