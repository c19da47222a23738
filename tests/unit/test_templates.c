/* test_templates.c - loading the report templates and rendering subject, text and HTML. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"
#include "roles.h"
#include "templates.h"

struct fixture {
    char dir[64];
    struct templates *t;
    struct diag d;
    struct rendered out;
    struct roles roles;
    struct value *ctx;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char partials[128];

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_templates.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(partials, sizeof(partials), "%s/partials", f->dir);
    if (mkdir(partials, 0700) != 0) {
        free(f);
        return -1;
    }
    diag_init(&f->d);
    rendered_init(&f->out);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    templates_free(f->t);
    roles_free(&f->roles);
    value_free(f->ctx);
    rendered_free(&f->out);
    diag_free(&f->d);
    free(f);
    return 0;
}

static void write_text(const struct fixture *f, const char *name, const char *text)
{
    char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Writes the three required templates. */
static void write_set(const struct fixture *f, const char *subject, const char *text,
                      const char *html)
{
    write_text(f, "subject.mustache", subject);
    write_text(f, "body.txt.mustache", text);
    write_text(f, "body.html.mustache", html);
}

static void load_ok(struct fixture *f, const char *dir)
{
    if (templates_load(&f->t, dir, &f->d) != 0)
        fail_msg("%s", buf_str(&f->d.text));
    assert_int_equal(f->d.count, 0);
}

static void render_ok(struct fixture *f)
{
    char err[ERRLEN];

    if (templates_render(f->t, f->ctx, &f->out, err) != 0)
        fail_msg("%s", err);
}

static void expect_in(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, haystack);
}

static void expect_not_in(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) != NULL)
        fail_msg("did not expect \"%s\" in:\n%s", needle, haystack);
}

/* Asserts that the diagnostics contain "DIR/rest". */
static void expect_diag(const struct fixture *f, const char *rest)
{
    char want[512];

    snprintf(want, sizeof(want), "%s/%s", f->dir, rest);
    expect_in(buf_str(&f->d.text), want);
}

static struct value *name_context(const char *name)
{
    struct value *v = value_map();

    assert_int_equal(value_map_set(v, "name", value_string(name)), 0);
    return v;
}

/* The shipped role and templates, for a signup like a website would send. */
static void render_shipped(struct fixture *f, struct signup *s)
{
    struct report r;
    char err[ERRLEN];

    if (roles_load(&f->roles, "config/roles", &f->d) != 0)
        fail_msg("%s", buf_str(&f->d.text));
    load_ok(f, "templates");
    if (report_build(&r, s, &f->roles, err) != 0)
        fail_msg("%s", err);
    f->ctx = report_to_value(&r);
    assert_non_null(f->ctx);
    render_ok(f);
    report_free(&r);
}

static void test_shipped_templates_render(void **state)
{
    struct fixture *f = *state;
    struct signup_task tasks[] = {
        {"write-production-code", 50, 1}, {"design-systems", 0, 0}, {"develop-apis", 20, 1}};
    char *skills[] = {"python", "system-design"};
    struct signup s;
    const char *text, *html;

    memset(&s, 0, sizeof(s));
    s.email = "ann@example.org";
    s.name = "<b>Ann&\"Bob\"</b>";
    s.role = "backend-developer";
    s.level = "lead";
    s.tasks = tasks;
    s.ntasks = NELEM(tasks);
    s.skills = skills;
    s.nskills = NELEM(skills);
    render_shipped(f, &s);

    assert_string_equal(buf_str(&f->out.subject),
                        "<b>Ann&\"Bob\"</b>, your AI exposure report: Backend developer (Lead)");
    text = buf_str(&f->out.text);
    expect_in(text, "Hello <b>Ann&\"Bob\"</b>,");
    /* 50% x 100 + 30% x 15 + 20% x 55 = 65.5 */
    expect_in(text, "66 out of 100: High");
    expect_in(text, "1 of 3 tasks faces high exposure.");
    expect_in(text, "* Write production code\n  High exposure, 50% of your time\n");
    expect_in(text, "* Design systems and technical approaches\n"
                    "  Low exposure, 30% of your time (assumed)\n");
    expect_in(text, "* Develop and maintain APIs\n  Medium exposure, 20% of your time\n");
    expect_in(text, "More exposed to AI:\n\n* Python: ");
    expect_in(text, "More resilient:\n\n* System design: ");
    expect_in(text, "Risk at the Lead level: Mixed");
    expect_in(text, "This is the one report you asked for.");
    expect_in(text, "reply to this email");
    expect_not_in(text, "&amp;");

    html = buf_str(&f->out.html);
    expect_in(html, "Hello &lt;b&gt;Ann&amp;&quot;Bob&quot;&lt;/b&gt;,");
    expect_not_in(html, "<b>Ann");
    expect_in(html, "<html lang=\"en\"");
    expect_in(html, "<title>Your AI exposure report: Backend developer (Lead)</title>");
    expect_in(html, "max-width:600px");
    expect_in(html, ">66</span>");
    expect_in(html, "<strong>Write production code</strong>");
    expect_in(html, ">Medium</span>");
    expect_in(html, "This is the one report you asked for.");
    /* No tracking: nothing is fetched when the message is opened. */
    expect_not_in(html, "<img");
    expect_not_in(html, "https://");
    expect_not_in(html, "{{");
}

static void test_shipped_templates_without_optional_fields(void **state)
{
    struct fixture *f = *state;
    struct signup s;

    memset(&s, 0, sizeof(s));
    s.email = "someone@example.org";
    s.role = "backend-developer";
    s.level = "junior";
    render_shipped(f, &s);
    assert_string_equal(buf_str(&f->out.subject),
                        "Your AI exposure report: Backend developer (Junior)");
    expect_in(buf_str(&f->out.text), "Hello,\n");
    expect_in(buf_str(&f->out.text), "You did not list your tasks");
    expect_in(buf_str(&f->out.text), "You did not list your skills");
    expect_in(buf_str(&f->out.text), "* Coding delivery: ");
    expect_not_in(buf_str(&f->out.text), "% of your time");
    expect_in(buf_str(&f->out.html), "You did not list your tasks");
    expect_in(buf_str(&f->out.html), "<strong>Mentoring</strong>");
    expect_not_in(buf_str(&f->out.html), "Time</th>");
}

/* Static lines of the plain-text templates fit a 78-column mail reader. */
static void test_shipped_text_lines_fit(void **state)
{
    const char *files[] = {"templates/body.txt.mustache",
                           "templates/partials/score_meaning.mustache",
                           "templates/partials/closing.mustache"};
    char line[1024];
    size_t i;

    for (i = 0; i < NELEM(files); i++) {
        FILE *fp = fopen(files[i], "r");
        int n = 0;

        assert_non_null(fp);
        while (fgets(line, sizeof(line), fp) != NULL) {
            n++;
            if (strstr(line, "{{") == NULL && strlen(line) > 79)
                fail_msg("%s:%d: longer than 78 characters", files[i], n);
        }
        fclose(fp);
    }
}

static void test_escaping_per_part(void **state)
{
    struct fixture *f = *state;
    const char *name = "<b>Ann & \"Bob\"</b>";

    write_set(f, "Hi {{name}}", "{{name}}", "<p>{{name}}</p>");
    load_ok(f, f->dir);
    f->ctx = name_context(name);
    render_ok(f);
    assert_string_equal(buf_str(&f->out.subject), "Hi <b>Ann & \"Bob\"</b>");
    assert_string_equal(buf_str(&f->out.text), name);
    assert_string_equal(buf_str(&f->out.html),
                        "<p>&lt;b&gt;Ann &amp; &quot;Bob&quot;&lt;/b&gt;</p>");
}

static void test_subject_folded_to_one_line(void **state)
{
    struct fixture *f = *state;

    write_set(f, "  Report\tfor\n\n  {{name}}  \r\n", "", "");
    load_ok(f, f->dir);
    f->ctx = name_context("Ann\r\nBcc: evil@example.org");
    render_ok(f);
    assert_string_equal(buf_str(&f->out.subject), "Report for Ann Bcc: evil@example.org");
}

static void expect_subject(struct fixture *f, const char *name, const char *want)
{
    value_free(f->ctx);
    f->ctx = name_context(name);
    buf_reset(&f->out.subject);
    render_ok(f);
    assert_string_equal(buf_str(&f->out.subject), want);
}

static void test_subject_cut_on_character_boundary(void **state)
{
    struct fixture *f = *state;
    char name[TEMPLATES_SUBJECT_MAX + 16], want[TEMPLATES_SUBJECT_MAX + 1];

    write_set(f, "{{name}}", "", "");
    load_ok(f, f->dir);

    /* "é" would straddle the limit: the cut moves before it. */
    memset(name, 'a', TEMPLATES_SUBJECT_MAX - 1);
    snprintf(name + TEMPLATES_SUBJECT_MAX - 1, 16, "\xc3\xa9zzz");
    memset(want, 'a', TEMPLATES_SUBJECT_MAX - 1);
    want[TEMPLATES_SUBJECT_MAX - 1] = '\0';
    expect_subject(f, name, want);

    /* Exactly at the limit. */
    memset(name, 'a', TEMPLATES_SUBJECT_MAX);
    snprintf(name + TEMPLATES_SUBJECT_MAX, 16, "bcd");
    memset(want, 'a', TEMPLATES_SUBJECT_MAX);
    want[TEMPLATES_SUBJECT_MAX] = '\0';
    expect_subject(f, name, want);

    /* A space left at the end of the cut is trimmed. */
    memset(name, 'a', TEMPLATES_SUBJECT_MAX - 1);
    snprintf(name + TEMPLATES_SUBJECT_MAX - 1, 16, " bbb");
    want[TEMPLATES_SUBJECT_MAX - 1] = '\0';
    expect_subject(f, name, want);
}

static void test_partials_found_by_name(void **state)
{
    struct fixture *f = *state;

    write_set(f, "{{> s}}", "[{{> c}}|{{> a}}|{{> b}}|{{> missing}}]", "{{> a}}");
    write_text(f, "partials/a.mustache", "A={{name}}");
    write_text(f, "partials/b.mustache", "B");
    write_text(f, "partials/c.mustache", "C{{> b}}");
    write_text(f, "partials/s.mustache", "Subject {{name}}");
    write_text(f, "partials/notes.txt", "{{#not a template");
    write_text(f, "partials/.hidden.mustache", "{{#broken");
    load_ok(f, f->dir);
    f->ctx = name_context("<x>");
    render_ok(f);
    assert_string_equal(buf_str(&f->out.subject), "Subject <x>");
    assert_string_equal(buf_str(&f->out.text), "[CB|A=<x>|B|]");
    assert_string_equal(buf_str(&f->out.html), "A=&lt;x&gt;");
}

static void test_partials_directory_is_optional(void **state)
{
    struct fixture *f = *state;
    char partials[128];

    snprintf(partials, sizeof(partials), "%s/partials", f->dir);
    assert_int_equal(rmdir(partials), 0);
    write_set(f, "s", "t", "h");
    load_ok(f, f->dir);
    f->ctx = value_map();
    render_ok(f);
    assert_string_equal(buf_str(&f->out.text), "t");
}

static void test_broken_templates_report_positions(void **state)
{
    struct fixture *f = *state;

    write_text(f, "body.txt.mustache", "Hello\n  {{#tasks}}\n{{title}}\n");
    write_text(f, "body.html.mustache", "<p>{{name</p>\n");
    write_text(f, "partials/row.mustache", "ok\n{{/row}}\n");
    assert_int_equal(templates_load(&f->t, f->dir, &f->d), -1);
    assert_null(f->t);
    expect_diag(f, "subject.mustache: No such file or directory");
    expect_diag(f, "body.txt.mustache:2:3: unclosed section \"tasks\"");
    expect_diag(f, "body.html.mustache:1:4: unclosed tag");
    expect_diag(f, "partials/row.mustache:2:1: ");
    assert_int_equal(f->d.count, 4);
}

static void test_missing_file_reported(void **state)
{
    struct fixture *f = *state;

    write_text(f, "subject.mustache", "s");
    write_text(f, "body.txt.mustache", "t");
    assert_int_equal(templates_load(&f->t, f->dir, &f->d), -1);
    assert_null(f->t);
    expect_diag(f, "body.html.mustache: No such file or directory");
    assert_int_equal(f->d.count, 1);
}

static void test_missing_directory_reported(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(templates_load(&f->t, "/nonexistent/reportd-templates", &f->d), -1);
    expect_in(buf_str(&f->d.text), "/nonexistent/reportd-templates/subject.mustache: ");
    assert_int_equal(f->d.count, 3);
}

static void test_too_many_partials(void **state)
{
    struct fixture *f = *state;
    char name[64];
    int i;

    write_set(f, "s", "t", "h");
    for (i = 0; i <= TEMPLATES_MAX_PARTIALS; i++) {
        snprintf(name, sizeof(name), "partials/p%02d.mustache", i);
        write_text(f, name, "x");
    }
    assert_int_equal(templates_load(&f->t, f->dir, &f->d), -1);
    expect_diag(f, "partials: 65 partials, at most 64 are allowed");
}

static void test_invalid_utf8_reported(void **state)
{
    struct fixture *f = *state;

    write_set(f, "s", "caf\xe9\n", "h");
    assert_int_equal(templates_load(&f->t, f->dir, &f->d), -1);
    expect_diag(f, "body.txt.mustache: not valid UTF-8");
}

static void test_render_appends(void **state)
{
    struct fixture *f = *state;

    write_set(f, "S", "T", "H");
    load_ok(f, f->dir);
    f->ctx = value_map();
    buf_puts(&f->out.text, "before:");
    render_ok(f);
    assert_string_equal(buf_str(&f->out.text), "before:T");
    assert_string_equal(buf_str(&f->out.subject), "S");
}

static void test_text_body_wrapped_with_hanging_indent(void **state)
{
    struct fixture *f = *state;
    /* Wrapped to exactly 76 columns, continued under the bullet's text. */
    const char *name = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi "
                       "omicron pi rho sigma tau upsilon";

    write_set(f, "S", "  * {{name}}\nshort\n{{url}}\n", "<p>{{name}}</p>");
    load_ok(f, f->dir);
    f->ctx = name_context(name);
    assert_int_equal(value_map_set(f->ctx, "url",
                                   value_string("https://example.com/"
                                                "a-very-long-path-that-has-no-spaces-"
                                                "at-all-and-cannot-be-broken-anywhere")),
                     0);
    render_ok(f);
    assert_string_equal(buf_str(&f->out.text),
                        "  * alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu "
                        "xi\n"
                        "    omicron pi rho sigma tau upsilon\n"
                        "short\n"
                        "https://example.com/a-very-long-path-that-has-no-spaces-at-all-and-cannot-"
                        "be-broken-anywhere\n");
    /* HTML is left to the mail reader. */
    expect_in(buf_str(&f->out.html), name);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_shipped_templates_render),
        T(test_shipped_templates_without_optional_fields),
        T(test_shipped_text_lines_fit),
        T(test_escaping_per_part),
        T(test_subject_folded_to_one_line),
        T(test_subject_cut_on_character_boundary),
        T(test_partials_found_by_name),
        T(test_partials_directory_is_optional),
        T(test_broken_templates_report_positions),
        T(test_missing_file_reported),
        T(test_missing_directory_reported),
        T(test_too_many_partials),
        T(test_invalid_utf8_reported),
        T(test_render_appends),
        T(test_text_body_wrapped_with_hanging_indent),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
