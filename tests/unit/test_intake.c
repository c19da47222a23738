/*
 * test_intake.c - the streaming reader behind `enqueue --file`: the shapes
 * it takes and refuses, positions in its messages, and that it goes on
 * after a bad signup to find the next.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intake.h"

/* Everything one file gave: each call's status and message, the signups read. */
#define MAX_RESULTS 8

struct results {
    char path[64];
    enum intake_status st[MAX_RESULTS];
    char err[MAX_RESULTS][ERRLEN];
    struct intake_pos pos[MAX_RESULTS];
    struct signup s[MAX_RESULTS];
    size_t n; /* calls, the last one INTAKE_END or INTAKE_FATAL */
};

/* Reads text as a file until the end or a fatal error. */
static void read_all(const char *text, struct results *r)
{
    struct intake *in;
    char err[ERRLEN];
    size_t len = strlen(text);
    int fd;

    memset(r, 0, sizeof(*r));
    snprintf(r->path, sizeof(r->path), "/tmp/test_intake_XXXXXX");
    fd = mkstemp(r->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    assert_int_equal(intake_open(&in, r->path, err), 0);
    for (;;) {
        enum intake_status st;

        assert_true(r->n < MAX_RESULTS);
        st = intake_next(in, &r->s[r->n], &r->pos[r->n], r->err[r->n]);
        r->st[r->n++] = st;
        if (st == INTAKE_END || st == INTAKE_FATAL)
            break;
    }
    /* The end, or a fatal error, is final. */
    {
        struct signup again;
        struct intake_pos pos;
        enum intake_status st = intake_next(in, &again, &pos, err);

        assert_int_equal(st, r->st[r->n - 1]);
        if (st == INTAKE_FATAL)
            assert_string_equal(err, r->err[r->n - 1]);
    }
    intake_close(in);
    unlink(r->path);
}

static void free_results(struct results *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        if (r->st[i] == INTAKE_SIGNUP)
            signup_free(&r->s[i]);
}

/* "PATH:LINE:COLUMN: " of the first occurrence of needle in text, derived from the text. */
static void where(const struct results *r, const char *text, const char *needle, char *out,
                  size_t outlen)
{
    const char *at = strstr(text, needle), *p, *line_start = text;
    unsigned long line = 1;

    assert_non_null(at);
    for (p = text; p < at; p++)
        if (*p == '\n') {
            line++;
            line_start = p + 1;
        }
    snprintf(out, outlen, "%s:%lu:%lu: ", r->path, line, (unsigned long)(at - line_start) + 1);
}

/* The message at call i starts at needle's position and says what. */
static void expect_err(const struct results *r, size_t i, const char *text, const char *needle,
                       const char *what)
{
    char want[ERRLEN + 256];

    where(r, text, needle, want, 256);
    strncat(want, what, ERRLEN);
    assert_string_equal(r->err[i], want);
}

static void test_empty_file_is_not_a_list(void **state)
{
    struct results r;

    (void)state;
    read_all("", &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.st[0], INTAKE_FATAL);
    assert_non_null(strstr(r.err[0], "expected a list of signups, got nothing"));
    read_all("# only a comment\n", &r);
    assert_int_equal(r.st[0], INTAKE_FATAL);
    assert_non_null(strstr(r.err[0], "got nothing"));
}

static void test_empty_list_ends_at_once(void **state)
{
    struct results r;

    (void)state;
    read_all("[]\n", &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.st[0], INTAKE_END);
}

static void test_single_mapping_is_refused(void **state)
{
    const char *text = "# one signup, not in a list\nemail: a@example.com\nrole: r\nlevel: l\n";
    struct results r;

    (void)state;
    read_all(text, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.st[0], INTAKE_FATAL);
    expect_err(&r, 0, text, "email", "expected a list of signups, got a mapping");
}

static void test_json_list(void **state)
{
    const char *text =
        "[{\"email\": \"j1@example.com\", \"role\": \"backend-developer\", \"level\": \"lead\",\n"
        "  \"years\": 20, \"name\": null,\n"
        "  \"tasks\": [{\"id\": \"mentor\", \"share\": 50}, \"review\"], \"skills\": [\"sql\"]},\n"
        " {\"email\": \"j2@example.com\", \"name\": \"Zo\\u00eb\", \"role\": \"r\", \"level\": "
        "\"junior\"}]";
    struct results r;

    (void)state;
    read_all(text, &r);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.st[0], INTAKE_SIGNUP);
    assert_int_equal(r.st[1], INTAKE_SIGNUP);
    assert_int_equal(r.st[2], INTAKE_END);
    assert_string_equal(r.s[0].email, "j1@example.com");
    assert_null(r.s[0].name);
    assert_true(r.s[0].has_years);
    assert_true(r.s[0].years == 20);
    assert_int_equal(r.s[0].ntasks, 2);
    assert_string_equal(r.s[0].tasks[0].id, "mentor");
    assert_true(r.s[0].tasks[0].has_share && r.s[0].tasks[0].share == 50);
    assert_string_equal(r.s[0].tasks[1].id, "review");
    assert_false(r.s[0].tasks[1].has_share);
    assert_int_equal(r.s[0].nskills, 1);
    assert_string_equal(r.s[0].skills[0], "sql");
    assert_string_equal(r.s[1].name, "Zo\xc3\xab");
    assert_false(r.s[1].has_years);
    assert_int_equal(r.pos[1].index, 1);
    assert_int_equal(r.pos[1].line, 4);
    assert_int_equal(r.pos[1].column, 2);
    free_results(&r);
}

static void test_comments_and_positions(void **state)
{
    const char *text = "# signups from the website\n"
                       "- email: a@example.com   # the first\n"
                       "  role: r\n"
                       "  level: l\n"
                       "# between them\n"
                       "\n"
                       "- email: b@example.com\n"
                       "  role: r  # trailing\n"
                       "  level: l\n";
    char want[256], derived[256];
    struct results r;

    (void)state;
    read_all(text, &r);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.st[0], INTAKE_SIGNUP);
    assert_int_equal(r.st[1], INTAKE_SIGNUP);
    assert_string_equal(r.s[0].email, "a@example.com");
    assert_string_equal(r.s[1].role, "r");
    /* A signup's position is where its mapping starts: its first key. */
    where(&r, text, "email: b@", derived, sizeof(derived));
    snprintf(want, sizeof(want), "%s:%lu:%lu: ", r.path, r.pos[1].line, r.pos[1].column);
    assert_string_equal(want, derived);
    assert_int_equal(r.pos[1].index, 1);
    free_results(&r);
}

static void test_anchor_and_alias_are_refused(void **state)
{
    const char *anchored = "- email: a@example.com\n"
                           "  role: r\n"
                           "  level: l\n"
                           "  tasks: &t [write-tests]\n"
                           "- {email: b@example.com, role: r, level: l, tasks: *t}\n";
    const char *alias_only = "- *nowhere\n";
    struct results r;

    (void)state;
    read_all(anchored, &r);
    /* The first signup was whole before the anchor; the anchor ends the file. */
    assert_int_equal(r.n, 1);
    assert_int_equal(r.st[0], INTAKE_FATAL);
    expect_err(&r, 0, anchored, "&t",
               "a YAML anchor (&t) for an alias: aliases are not accepted; write each signup out "
               "in full");
    read_all(alias_only, &r);
    assert_int_equal(r.st[0], INTAKE_FATAL);
    expect_err(&r, 0, alias_only, "*nowhere",
               "a YAML alias (*nowhere): aliases are not accepted; write each signup out in full");
}

static void test_wrong_types_are_reported_and_reading_goes_on(void **state)
{
    const char *text = "- email: a@example.com\n"
                       "  role: r\n"
                       "  level: l\n"
                       "  years: [12]\n"
                       "  tasks: [{id: t, share: lots}]\n"
                       "- email: b@example.com\n"
                       "  role: r\n"
                       "  level: l\n"
                       "  tasks: [{id: t, share: much}, {share: 3}]\n"
                       "- {email: c@example.com, role: r, level: l, skills: sql}\n"
                       "- {email: d@example.com, role: r, level: l, colour: blue}\n"
                       "- {email: e@example.com, role: r}\n"
                       "- just text\n"
                       "- {email: g@example.com, role: r, level: l, tasks: [[nested]]}\n";
    struct results r;

    (void)state;
    read_all(text, &r);
    assert_int_equal(r.n, 8);
    /* Only the first problem of a signup: the next ones may follow from it. */
    assert_int_equal(r.st[0], INTAKE_BAD);
    expect_err(&r, 0, text, "[12]", "signups[0].years: expected a string, got a list");
    assert_int_equal(r.st[1], INTAKE_BAD);
    expect_err(&r, 1, text, "much",
               "signups[1].tasks[0].share: expected a number >= 0, got \"much\"");
    assert_int_equal(r.st[2], INTAKE_BAD);
    expect_err(&r, 2, text, "sql}", "signups[2].skills: expected a list, got a scalar");
    assert_int_equal(r.st[3], INTAKE_BAD);
    expect_err(&r, 3, text, "colour", "signups[3]: unknown key \"colour\"");
    assert_int_equal(r.st[4], INTAKE_BAD);
    expect_err(&r, 4, text, "{email: e@", "signups[4]: level is required");
    assert_int_equal(r.st[5], INTAKE_BAD);
    expect_err(&r, 5, text, "just text", "signups[5]: expected a mapping, got a scalar");
    assert_int_equal(r.st[6], INTAKE_BAD);
    expect_err(&r, 6, text, "[nested]",
               "signups[6].tasks[0]: expected a task id or {id, share}, got a list");
    assert_int_equal(r.pos[6].index, 6);
    assert_int_equal(r.st[7], INTAKE_END);
}

static void test_task_without_id_and_nul(void **state)
{
    const char *text = "[{\"email\": \"a@example.com\", \"role\": \"r\", \"level\": \"l\",\n"
                       "  \"tasks\": [{\"share\": 3}]},\n"
                       " {\"email\": \"b@example.com\", \"name\": \"A\\u0000B\", \"role\": \"r\","
                       " \"level\": \"l\"}]\n";
    struct results r;

    (void)state;
    read_all(text, &r);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.st[0], INTAKE_BAD);
    expect_err(&r, 0, text, "{\"share\"", "signups[0].tasks[0].id: required");
    assert_int_equal(r.st[1], INTAKE_BAD);
    expect_err(&r, 1, text, "\"A\\u", "signups[1].name: contains a NUL character");
    assert_int_equal(r.st[2], INTAKE_END);
}

static void test_malformed_yaml_and_second_document(void **state)
{
    const char *malformed = "- email: a@example.com\n  role: [unclosed\n";
    const char *two = "- {email: a@example.com, role: r, level: l}\n---\n- {email: b@x.org}\n";
    struct results r;

    (void)state;
    read_all(malformed, &r);
    assert_int_equal(r.st[r.n - 1], INTAKE_FATAL);
    assert_int_equal(strncmp(r.err[r.n - 1], r.path, strlen(r.path)), 0);
    free_results(&r);
    read_all(two, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.st[0], INTAKE_SIGNUP);
    assert_int_equal(r.st[1], INTAKE_FATAL);
    expect_err(&r, 1, two, "---",
               "a second YAML document: put every signup in the one list of the first");
    free_results(&r);
}

/* The limit counts every item, good or bad; the one past it ends the file. */
static void test_signup_limit(void **state)
{
    char path[] = "/tmp/test_intake_XXXXXX", err[ERRLEN];
    struct intake *in;
    struct intake_pos pos;
    struct signup s;
    enum intake_status st;
    size_t bad = 0, i;
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

    (void)state;
    assert_non_null(f);
    fputc('[', f);
    for (i = 0; i <= INTAKE_MAX_SIGNUPS; i++)
        fputs(i ? ", 1" : "1", f);
    fputs("]\n", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(intake_open(&in, path, err), 0);
    while ((st = intake_next(in, &s, &pos, err)) == INTAKE_BAD)
        bad++;
    intake_close(in);
    unlink(path);
    assert_int_equal(bad, INTAKE_MAX_SIGNUPS);
    assert_int_equal(st, INTAKE_FATAL);
    snprintf(path, sizeof(path), "%d", INTAKE_MAX_SIGNUPS);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "signups in one file"));
}

static void test_missing_file(void **state)
{
    struct intake *in = NULL;
    char err[ERRLEN];

    (void)state;
    assert_int_equal(intake_open(&in, "/nonexistent/signups.yaml", err), -1);
    assert_null(in);
    assert_non_null(strstr(err, "/nonexistent/signups.yaml: "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_file_is_not_a_list),
        cmocka_unit_test(test_empty_list_ends_at_once),
        cmocka_unit_test(test_single_mapping_is_refused),
        cmocka_unit_test(test_json_list),
        cmocka_unit_test(test_comments_and_positions),
        cmocka_unit_test(test_anchor_and_alias_are_refused),
        cmocka_unit_test(test_wrong_types_are_reported_and_reading_goes_on),
        cmocka_unit_test(test_task_without_id_and_nul),
        cmocka_unit_test(test_malformed_yaml_and_second_document),
        cmocka_unit_test(test_signup_limit),
        cmocka_unit_test(test_missing_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
