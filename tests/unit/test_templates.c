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
#include "runtime.h"
#include "templates.h"

/* The site the shipped templates are rendered for in these tests. */
#define SITE_URL "https://careers.example.org/"

struct fixture {
    char dir[64];
    struct templates *t;
    struct diag d;
    struct rendered out;
    struct roles roles;
    struct value *ctx; /* in arena */
    struct arena arena;
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
    arena_init(&f->arena);
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
    arena_free(&f->arena);
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

static struct value *name_context(struct fixture *f, const char *name)
{
    struct value *v = value_map(&f->arena);

    assert_int_equal(value_map_set(v, "name", value_string(&f->arena, name)), 0);
    return v;
}

/*
 * The context the daemon renders with: the report model plus the site and
 * contact, from a config set up here by hand.
 */
static struct value *shipped_context(struct fixture *f, const struct report *r)
{
    static char site_name[] = "Example Careers", site_url[] = SITE_URL,
                analysis[] = SITE_URL "ai/{role}/{level}", from[] = "reports@example.org",
                reply[] = "hello@example.org";
    struct runtime rt;

    memset(&rt, 0, sizeof(rt));
    rt.config.site_name = site_name;
    rt.config.site_url = site_url;
    rt.config.analysis_url = analysis;
    rt.config.from_address = from;
    rt.config.reply_to = reply;
    rt.roles = f->roles;
    rt.templates = f->t;
    return runtime_context(&rt, r, &f->arena);
}

/* The shipped role and templates, for a signup like a website would send. */
static void render_shipped(struct fixture *f, struct signup *s)
{
    struct report r;
    char err[ERRLEN];

    if (f->roles.v == NULL && roles_load(&f->roles, "config/roles", &f->d) != 0)
        fail_msg("%s", buf_str(&f->d.text));
    if (f->t == NULL)
        load_ok(f, "templates");
    if (report_build(&r, s, &f->roles, err) != 0)
        fail_msg("%s", err);
    /* The earlier context stays in the arena until teardown: a test renders a few at most. */
    f->ctx = shipped_context(f, &r);
    assert_non_null(f->ctx);
    rendered_free(&f->out);
    rendered_init(&f->out);
    render_ok(f);
    report_free(&r);
}

/* The typical score of a level, by the stated formula, from the role data. */
static int typical_score(const struct role *role, const char *level)
{
    const struct role_level *lv = role_find_level(role, level);
    double sum = 0;
    size_t i;

    assert_non_null(lv);
    for (i = 0; i < lv->nmix; i++)
        sum += lv->mix[i].share * role->exposure_weight[lv->mix[i].task->exposure];
    return (int)(sum / 100 + 0.5);
}

/* Every link goes to the site (or is a mailto:); nothing is fetched on opening. */
static void expect_links_only_to_site(const char *html)
{
    const char *p = html;

    expect_not_in(html, "<img");
    expect_not_in(html, "src=");
    while ((p = strstr(p, "href=\"")) != NULL) {
        p += 6;
        if (strncmp(p, SITE_URL, strlen(SITE_URL)) != 0 && strncmp(p, "mailto:", 7) != 0)
            fail_msg("a link elsewhere: %.60s", p);
    }
}

static void test_shipped_templates_render(void **state)
{
    struct fixture *f = *state;
    struct signup_task tasks[] = {
        {"write-production-code", 50, 1}, {"design-systems", 0, 0}, {"develop-apis", 20, 1}};
    char *skills[] = {"python", "system-design"};
    struct signup s;
    const char *text, *html;
    char want[256];
    int typical;

    memset(&s, 0, sizeof(s));
    s.email = "ann@example.org";
    s.name = "<b>Ann&\"Bob\"</b>";
    s.role = "backend-developer";
    s.level = "lead";
    s.tasks = tasks;
    s.ntasks = NELEM(tasks);
    s.skills = skills;
    s.nskills = NELEM(skills);
    s.created_ms = 1764460800000LL; /* 2025-11-30 */
    render_shipped(f, &s);
    typical = typical_score(roles_find(&f->roles, "backend-developer"), "lead");

    assert_string_equal(buf_str(&f->out.subject),
                        "<b>Ann&\"Bob\"</b>, your AI exposure report: Backend developer (Lead)");
    text = buf_str(&f->out.text);
    expect_in(text, "Hello <b>Ann&\"Bob\"</b>,");
    expect_in(text, "you asked for on Example Careers.");
    /* 50% x 100 + 30% x 15 + 20% x 55 = 65.5 */
    expect_in(text, "66 out of 100: High");
    expect_in(text, "1 of 3 tasks faces high exposure.");
    expect_in(text, "* Write production code\n  High exposure, 50% of your time\n");
    expect_in(text, "* Design systems and technical approaches\n"
                    "  Low exposure, 30% of your time (assumed)\n");
    expect_in(text, "* Develop and maintain APIs\n  Medium exposure, 20% of your time\n");
    expect_in(text, "More exposed to AI:\n\n* Python: ");
    expect_in(text, "More resilient:\n\n* System design: ");
    snprintf(want, sizeof(want),
             "Your score of 66 is above the typical score at your level (Lead: %d)", typical);
    expect_in(text, want);
    snprintf(want, sizeof(want), "The typical Lead mix of tasks scores %d", typical);
    expect_in(text, want);
    /* The advice leads with the person's most exposed task. */
    expect_in(text, "About your most exposed tasks:\n\n* Write production code (50% of your time");
    expect_in(text, "report on 30 November 2025.");
    expect_in(text, SITE_URL "ai/backend-developer/lead");
    expect_in(text, "This is the only email we will send you");
    expect_in(text, "to have it deleted, write to hello@example.org");
    expect_not_in(text, "&amp;");
    expect_not_in(text, "level level");

    html = buf_str(&f->out.html);
    /* In <bdi>, so a right-to-left name does not reorder the greeting around it. */
    expect_in(html, "Hello <bdi>&lt;b&gt;Ann&amp;&quot;Bob&quot;&lt;/b&gt;</bdi>,");
    expect_not_in(html, "<b>Ann");
    expect_in(html, "<html lang=\"en\" dir=\"ltr\"");
    expect_in(html, "<title>Your AI exposure report: Backend developer (Lead)</title>");
    expect_in(html, "max-width:600px");
    expect_in(html, "color-scheme\" content=\"light dark\"");
    expect_in(html, "prefers-color-scheme: dark");
    /* The score's colour is its band's: 66 is in the top band. */
    expect_in(html, "background-color:#b91c1c;\">66<span");
    expect_in(html, "<th scope=\"col\"");
    expect_in(html, ">Medium</span>");
    expect_in(html, "This is the only email we will send you");
    expect_in(html, "href=\"" SITE_URL "ai/backend-developer/lead\"");
    expect_not_in(html, "color:#f3f4f6;\">Your score");
    expect_links_only_to_site(html);
    expect_not_in(html, "{{");
}

static void test_shipped_templates_without_optional_fields(void **state)
{
    struct fixture *f = *state;
    struct signup s;

    memset(&s, 0, sizeof(s));
    s.email = "someone@example.org";
    s.name = "   ";
    s.role = "backend-developer";
    s.level = "junior";
    render_shipped(f, &s);
    assert_string_equal(buf_str(&f->out.subject),
                        "Your AI exposure report: Backend developer (Junior)");
    expect_in(buf_str(&f->out.text), "Hello,\n");
    expect_in(buf_str(&f->out.text), "You did not list your tasks");
    expect_in(buf_str(&f->out.text), "You did not list your skills");
    expect_in(buf_str(&f->out.text), "* Coding delivery: ");
    expect_in(buf_str(&f->out.text), "% of a typical week");
    expect_not_in(buf_str(&f->out.text), "% of your time");
    expect_in(buf_str(&f->out.html), "You did not list your tasks");
    expect_in(buf_str(&f->out.html), "<strong>System design</strong>");
    expect_in(buf_str(&f->out.html), ">typical</span>");
    /* A few skills per side, not the role's whole list. */
    expect_not_in(buf_str(&f->out.html), "<strong>Mentoring</strong>");
}

/* Columns a line takes: UTF-8 continuation bytes take none. */
static size_t columns(const char *s, size_t len)
{
    size_t i, cols = 0;

    for (i = 0; i < len; i++)
        cols += ((unsigned char)s[i] & 0xc0) != 0x80;
    return cols;
}

/*
 * Every rendered text line of every shipped role and level fits 76 columns
 * (a URL, one unbreakable word, may not).
 */
static void test_shipped_text_lines_fit(void **state)
{
    struct fixture *f = *state;
    size_t i, j;

    if (roles_load(&f->roles, "config/roles", &f->d) != 0)
        fail_msg("%s", buf_str(&f->d.text));
    for (i = 0; i < f->roles.n; i++)
        for (j = 0; j < f->roles.v[i].nlevels; j++) {
            struct signup s;
            const char *p, *nl;

            assert_int_equal(runtime_sample_signup(&s, &f->roles.v[i], &f->roles.v[i].levels[j]),
                             0);
            render_shipped(f, &s);
            signup_free(&s);
            for (p = buf_str(&f->out.text); *p; p = nl + 1) {
                size_t len;

                nl = strchr(p, '\n');
                if (nl == NULL)
                    nl = p + strlen(p);
                len = (size_t)(nl - p);
                if (columns(p, len) > 76 && memchr(p, ' ', len) != NULL && strstr(p, "://") == NULL)
                    fail_msg("%s/%s: a line of %zu columns: %.*s", f->roles.v[i].id,
                             f->roles.v[i].levels[j].id, columns(p, len), (int)len, p);
                if (*nl == '\0')
                    break;
            }
        }
}

/* A name the report model does not have, and a partial that does not exist, are errors. */
static void test_check_names_and_partials(void **state)
{
    struct fixture *f = *state;
    char stray[256];
    struct signup s;

    write_set(f, "{{role.title}}", "Hi {{rolle.title}}\n{{#tasks}}{{title}} {{titel}}{{/tasks}}\n",
              "<p>{{> contact}}{{> nope}}{{#tasks}}{{> row}}{{/tasks}}</p>"
              "{{#advice}}{{> row}}{{/advice}}");
    write_text(f, "partials/contact.mustache", "{{contact}} {{site.name}}");
    write_text(f, "partials/row.mustache", "{{share}}{{shares}}{{email}}");
    write_text(f, "partials/contact.html", "mistyped extension");
    assert_int_equal(templates_load(&f->t, f->dir, &f->d), -1);
    expect_diag(f, "partials/contact.html:1:1: not a partial");
    diag_free(&f->d);
    diag_init(&f->d);
    snprintf(stray, sizeof(stray), "%s/partials/contact.html", f->dir);
    assert_int_equal(unlink(stray), 0);
    load_ok(f, f->dir);
    memset(&s, 0, sizeof(s));
    s.email = "ann@example.org";
    s.role = "backend-developer";
    s.level = "mid";
    if (roles_load(&f->roles, "config/roles", &f->d) != 0)
        fail_msg("%s", buf_str(&f->d.text));
    render_shipped(f, &s);
    templates_check(f->t, f->ctx, &f->d);
    expect_diag(f, "body.txt.mustache:1:4: {{rolle.title}}: no such variable");
    expect_diag(f, "body.txt.mustache:2:21: {{titel}}: no such variable");
    expect_diag(f, "body.html.mustache:1:17: {{> nope}}: no such partial");
    expect_diag(f, "partials/row.mustache:1:10: {{shares}}: no such variable");
    /*
     * {{title}} inside tasks, {{email}} from the top, site.name from the
     * runtime: all fine; the partial included twice is reported once.
     */
    assert_int_equal(f->d.count, 4);
}

static void test_escaping_per_part(void **state)
{
    struct fixture *f = *state;
    const char *name = "<b>Ann & \"Bob\"</b>";

    write_set(f, "Hi {{name}}", "{{name}}", "<p>{{name}}</p>");
    load_ok(f, f->dir);
    f->ctx = name_context(f, name);
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
    f->ctx = name_context(f, "Ann\r\nBcc: evil@example.org");
    render_ok(f);
    assert_string_equal(buf_str(&f->out.subject), "Report for Ann Bcc: evil@example.org");
}

static void expect_subject(struct fixture *f, const char *name, const char *want)
{
    f->ctx = name_context(f, name);
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
    write_text(f, "partials/.hidden.mustache", "{{#broken");
    load_ok(f, f->dir);
    f->ctx = name_context(f, "<x>");
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
    f->ctx = value_map(&f->arena);
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
    f->ctx = value_map(&f->arena);
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
    f->ctx = name_context(f, name);
    assert_int_equal(value_map_set(f->ctx, "url",
                                   value_string(&f->arena, "https://example.com/"
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

/*
 * A long line of words in two-, three- and four-byte UTF-8, several pieces
 * long: each piece fits 76 columns (characters, not bytes), takes as many
 * words as fit, and the pieces put back together are the line.
 */
static void test_text_wrap_counts_characters(void **state)
{
    static const char *const words[] = {"Zoë", "naïve", "€100", "日本語の", "😀😀", "crème", "x"};
    struct fixture *f = *state;
    struct buf line, joined;
    const char *p, *end;
    size_t i, pieces = 0;

    buf_init(&line);
    buf_init(&joined);
    for (i = 0; i < 120; i++) {
        if (i > 0)
            buf_putc(&line, ' ');
        buf_puts(&line, words[(i * 3) % NELEM(words)]);
    }
    write_set(f, "S", "- {{name}}\n", "");
    load_ok(f, f->dir);
    f->ctx = name_context(f, buf_str(&line));
    render_ok(f);
    p = buf_str(&f->out.text);
    end = p + f->out.text.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)(nl - p);
        const char *next = nl + 1;

        assert_non_null(nl);
        assert_true(columns(p, len) <= 76);
        assert_memory_equal(p, pieces == 0 ? "- " : "  ", 2);
        /* After the bullet or the indent under it (2 columns), the next piece's first word would
         * not have fitted on this one. */
        if (next < end) {
            const char *sp = memchr(next + 2, ' ', (size_t)(end - next - 2));
            const char *wend = sp && sp < (const char *)memchr(next, '\n', (size_t)(end - next))
                                   ? sp
                                   : memchr(next, '\n', (size_t)(end - next));

            assert_true(columns(p, len) + 1 + columns(next + 2, (size_t)(wend - next - 2)) > 76);
        }
        if (pieces > 0)
            buf_putc(&joined, ' ');
        buf_append(&joined, p + 2, len - 2);
        pieces++;
        p = next;
    }
    assert_true(pieces > 3);
    assert_string_equal(buf_str(&joined), buf_str(&line));
    buf_free(&line);
    buf_free(&joined);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_shipped_templates_render),
        T(test_shipped_templates_without_optional_fields),
        T(test_shipped_text_lines_fit),
        T(test_text_wrap_counts_characters),
        T(test_check_names_and_partials),
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
