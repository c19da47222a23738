/*
 * test_mustache.c - what the Mustache spec does not pin down: compile
 * errors and their positions, the limits, the two escaping modes, data
 * that looks like a template, and reuse of a compiled template.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mustache.h"
#include "util.h"
#include "value.h"

/* A test's partials: parallel arrays of names and compiled templates. */
struct partials {
    const char *names[4];
    struct mustache *templates[4];
    size_t n;
};

static const struct mustache *find_partial(void *arg, const char *name)
{
    const struct partials *ps = arg;
    size_t i;

    for (i = 0; i < ps->n; i++)
        if (strcmp(ps->names[i], name) == 0)
            return ps->templates[i];
    return NULL;
}

static void add_partial(struct partials *ps, const char *name, const char *src)
{
    char err[ERRLEN];

    assert_true(ps->n < NELEM(ps->names));
    ps->templates[ps->n] = mustache_compile(name, src, strlen(src), err);
    assert_non_null(ps->templates[ps->n]);
    ps->names[ps->n++] = name;
}

static void free_partials(struct partials *ps)
{
    size_t i;

    for (i = 0; i < ps->n; i++)
        mustache_free(ps->templates[i]);
    ps->n = 0;
}

static struct mustache *compile(const char *src)
{
    char err[ERRLEN];
    struct mustache *t = mustache_compile("t.mustache", src, strlen(src), err);

    if (t == NULL)
        fail_msg("compile failed: %s", err);
    return t;
}

/* Compiles src expecting failure, and checks the error message. */
static void assert_compile_error(const char *src, const char *expected)
{
    char err[ERRLEN] = "";
    struct mustache *t = mustache_compile("t.mustache", src, strlen(src), err);

    assert_null(t);
    assert_string_equal(err, expected);
}

/* Renders src against ctx and returns the output, which the caller frees. */
static char *render_with(const char *src, const struct value *ctx, struct partials *ps,
                         enum mustache_escape escape)
{
    struct mustache *t = compile(src);
    char err[ERRLEN];
    struct buf out;

    buf_init(&out);
    if (mustache_render(t, ctx, ps ? find_partial : NULL, ps, escape, &out, err) == -1)
        fail_msg("render failed: %s", err);
    mustache_free(t);
    return buf_steal(&out);
}

static void assert_renders(const char *src, const struct value *ctx, enum mustache_escape escape,
                           const char *expected)
{
    char *got = render_with(src, ctx, NULL, escape);

    assert_string_equal(got, expected);
    free(got);
}

static struct value *map_with_string(struct arena *a, const char *key, const char *s)
{
    struct value *m = value_map(a);

    assert_int_equal(value_map_set(m, key, value_string(a, s)), 0);
    return m;
}

/*
 * Each of the five bytes HTML escapes, at every offset of a text longer
 * than the sixteen bytes read at a time, with another at the end.  The
 * expected text is built byte by byte here, not by the renderer's code.
 */
static void test_html_escapes_at_every_offset(void **state)
{
    static const char specials[] = "&<>\"'";
    static const char *const entities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
    char text[48];
    size_t at, k, i;

    (void)state;
    for (k = 0; k < 5; k++)
        for (at = 0; at + 1 < sizeof(text) - 1; at++) {
            struct arena ar = ARENA_EMPTY;
            struct buf want;

            memset(text, 'a', sizeof(text) - 1);
            text[sizeof(text) - 1] = '\0';
            text[at] = specials[k];
            text[sizeof(text) - 2] = specials[(k + 1) % 5];
            buf_init(&want);
            for (i = 0; text[i] != '\0'; i++) {
                const char *hit = strchr(specials, text[i]);

                if (hit != NULL)
                    buf_puts(&want, entities[hit - specials]);
                else
                    buf_putc(&want, text[i]);
            }
            assert_renders("{{x}}", map_with_string(&ar, "x", text), MUSTACHE_ESCAPE_HTML,
                           buf_str(&want));
            buf_free(&want);
            arena_free(&ar);
        }
}

/* Compile errors ---------------------------------------------------------- */

static void test_unclosed_section_position(void **state)
{
    assert_compile_error("Hello\n  {{#tasks}}\n  {{name}}\n",
                         "t.mustache:2:3: unclosed section \"tasks\"");
}

static void test_innermost_unclosed_section_reported(void **state)
{
    assert_compile_error("{{#a}}\n{{^b}}x", "t.mustache:2:1: unclosed section \"b\"");
}

static void test_mismatched_closing_tag(void **state)
{
    assert_compile_error("{{#y}}\nx {{/x}}",
                         "t.mustache:2:3: unexpected closing tag \"x\" (open section is \"y\")");
}

static void test_closing_tag_without_section(void **state)
{
    assert_compile_error("a\nb{{/x}}",
                         "t.mustache:2:2: unexpected closing tag \"x\" (no section is open)");
}

static void test_empty_tag(void **state)
{
    assert_compile_error("ab {{ }}", "t.mustache:1:4: empty tag");
    assert_compile_error("{{#}}{{/}}", "t.mustache:1:1: empty tag");
    assert_compile_error("x{{{}}}", "t.mustache:1:2: empty tag");
}

static void test_unclosed_tag(void **state)
{
    assert_compile_error("x\n\n  {{name", "t.mustache:3:3: unclosed tag (no closing \"}}\")");
    assert_compile_error("{{{name}}", "t.mustache:1:1: unclosed tag (no closing \"}}}\")");
    assert_compile_error("{{=<% %>}}", "t.mustache:1:1: unclosed tag (no closing \"=}}\")");
}

static void test_unclosed_tag_uses_current_delimiters(void **state)
{
    assert_compile_error("{{=<% %>=}}\n<%name}}",
                         "t.mustache:2:1: unclosed tag (no closing \"%>\")");
}

static void test_columns_count_characters(void **state)
{
    /* "é" and "—" are one column each, whatever their UTF-8 length. */
    assert_compile_error("\xc3\xa9\xe2\x80\x94{{}}", "t.mustache:1:3: empty tag");
}

static void test_bad_set_delimiters(void **state)
{
    assert_compile_error("{{=<%=}}", "t.mustache:1:1: bad set-delimiter tag \"=<%=\" (want two "
                                     "delimiters without whitespace or '=', like {{=<% %>=}})");
    assert_null(mustache_compile("t", "{{=a b c=}}", 11, (char[ERRLEN]){0}));
    assert_null(mustache_compile("t", "{{=a= b=}}", 10, (char[ERRLEN]){0}));
    assert_null(mustache_compile("t", "{{==}}", 6, (char[ERRLEN]){0}));
}

static void test_bad_names(void **state)
{
    assert_compile_error("{{a b}}", "t.mustache:1:1: tag name \"a b\" contains whitespace");
    assert_compile_error("{{a..b}}", "t.mustache:1:1: bad dotted name \"a..b\"");
    assert_compile_error("{{#a.}}{{/a.}}", "t.mustache:1:1: bad dotted name \"a.\"");
    assert_compile_error("{{> }}", "t.mustache:1:1: empty tag");
}

static void test_error_names_the_template(void **state)
{
    const char *src = "\n\n{{#tasks}}";
    char err[ERRLEN];

    assert_null(mustache_compile("body.html.mustache", src, strlen(src), err));
    assert_string_equal(err, "body.html.mustache:3:1: unclosed section \"tasks\"");
}

/* Limits ------------------------------------------------------------------ */

/* Builds "{{#s}}" n times, then "x", then "{{/s}}" n times. */
static char *nested_sections(int n)
{
    struct buf b;
    int i;

    buf_init(&b);
    for (i = 0; i < n; i++)
        buf_puts(&b, "{{#s}}");
    buf_puts(&b, "x");
    for (i = 0; i < n; i++)
        buf_puts(&b, "{{/s}}");
    return buf_steal(&b);
}

static void test_nesting_limit(void **state)
{
    struct arena ar = ARENA_EMPTY;
    char *ok = nested_sections(MUSTACHE_MAX_NESTING);
    char *deep = nested_sections(MUSTACHE_MAX_NESTING + 1);
    struct value *ctx = value_map(&ar);
    char err[ERRLEN], expected[ERRLEN];
    struct mustache *t;
    char *got;

    assert_int_equal(value_map_set(ctx, "s", value_bool(&ar, 1)), 0);
    got = render_with(ok, ctx, NULL, MUSTACHE_ESCAPE_HTML);
    assert_string_equal(got, "x");
    t = mustache_compile("deep", deep, strlen(deep), err);
    assert_null(t);
    snprintf(expected, sizeof(expected), "deep:1:%d: sections nested deeper than %d",
             MUSTACHE_MAX_NESTING * 6 + 1, MUSTACHE_MAX_NESTING);
    assert_string_equal(err, expected);
    free(got);
    free(ok);
    free(deep);
    arena_free(&ar);
}

static void test_template_size_limit(void **state)
{
    char *src = malloc(MUSTACHE_MAX_TEMPLATE + 1);
    struct mustache *t;
    char err[ERRLEN];

    assert_non_null(src);
    memset(src, 'a', MUSTACHE_MAX_TEMPLATE + 1);
    t = mustache_compile("big", src, MUSTACHE_MAX_TEMPLATE, err);
    assert_non_null(t);
    mustache_free(t);
    err[0] = '\0';
    assert_null(mustache_compile("big", src, MUSTACHE_MAX_TEMPLATE + 1, err));
    assert_non_null(strstr(err, "big: template is"));
    assert_non_null(strstr(err, "more than the limit"));
    free(src);
}

static void test_partial_depth_limit_is_an_error(void **state)
{
    struct partials ps = {{0}, {0}, 0};
    struct mustache *t = compile("before {{>self}} after");
    char err[ERRLEN] = "";
    struct buf out;

    add_partial(&ps, "self", "[{{>self}}]");
    buf_init(&out);
    assert_int_equal(mustache_render(t, NULL, find_partial, &ps, MUSTACHE_ESCAPE_HTML, &out, err),
                     -1);
    assert_non_null(strstr(err, "partial \"self\" nested deeper than"));
    buf_free(&out);
    mustache_free(t);
    free_partials(&ps);
}

/* A list of n numbers under "l". */
static struct value *list_of(struct arena *a, int n)
{
    struct value *ctx = value_map(a), *l = value_list(a);
    int i;

    for (i = 0; i < n; i++)
        assert_int_equal(value_list_push(l, value_number(a, i)), 0);
    assert_int_equal(value_map_set(ctx, "l", l), 0);
    return ctx;
}

static void assert_render_error(const char *src, const struct value *ctx, const char *expected)
{
    struct mustache *t = compile(src);
    char err[ERRLEN] = "";
    struct buf out;

    buf_init(&out);
    assert_int_equal(mustache_render(t, ctx, NULL, NULL, MUSTACHE_ESCAPE_NONE, &out, err), -1);
    assert_non_null(strstr(err, expected));
    buf_free(&out);
    mustache_free(t);
}

/*
 * Found with tests/fuzz/fuzz_mustache.c (a libFuzzer timeout): sections
 * nested over a list multiply, twelve deep over 13 items is 13^12 passes.
 */
static void test_rendering_work_is_bounded(void **state)
{
    struct arena ar = ARENA_EMPTY;
    struct value *ctx = list_of(&ar, 13);
    struct buf src;
    char *got;
    int i;

    buf_init(&src);
    for (i = 0; i < 12; i++)
        buf_puts(&src, "{{#l}}");
    for (i = 0; i < 12; i++)
        buf_puts(&src, "{{/l}}");
    assert_render_error(buf_str(&src), ctx, "rendering takes more than 1000000 steps");
    /* Nesting that stays within the budget renders: 13^3 passes, nothing shown. */
    got = render_with("{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}", ctx, NULL, MUSTACHE_ESCAPE_NONE);
    assert_string_equal(got, "");
    free(got);
    buf_free(&src);
    arena_free(&ar);
}

static void test_rendering_size_is_bounded(void **state)
{
    struct arena ar = ARENA_EMPTY;
    struct value *ctx = list_of(&ar, 30);
    size_t text = MUSTACHE_MAX_OUTPUT / 30 / 30 + 1;
    struct buf src;
    char *got;

    /* 900 passes over a text node: a little more than the limit, in few steps. */
    buf_init(&src);
    buf_puts(&src, "{{#l}}{{#l}}");
    while (text-- > 0)
        buf_putc(&src, 'x');
    buf_puts(&src, "{{/l}}{{/l}}");
    assert_render_error(buf_str(&src), ctx, "rendering is larger than 8388608 bytes");
    buf_free(&src);
    /* Just within it renders. */
    text = MUSTACHE_MAX_OUTPUT / 30 / 30;
    buf_init(&src);
    buf_puts(&src, "{{#l}}{{#l}}");
    while (text-- > 0)
        buf_putc(&src, 'x');
    buf_puts(&src, "{{/l}}{{/l}}");
    got = render_with(buf_str(&src), ctx, NULL, MUSTACHE_ESCAPE_NONE);
    assert_int_equal(strlen(got), MUSTACHE_MAX_OUTPUT / 30 / 30 * 900);
    free(got);
    buf_free(&src);
    arena_free(&ar);
}

/* A chain of n maps, each holding the next in a one-item "nodes" list. */
static struct value *chain(struct arena *a, int n)
{
    struct value *root = NULL;
    int i;

    for (i = 0; i < n; i++) {
        struct value *node = value_map(a), *nodes = value_list(a);

        if (root)
            assert_int_equal(value_list_push(nodes, root), 0);
        assert_int_equal(value_map_set(node, "nodes", nodes), 0);
        assert_int_equal(value_map_set(node, "c", value_string(a, "n")), 0);
        root = node;
    }
    return root;
}

static int render_chain(int n, struct buf *out, char *err)
{
    struct arena ar = ARENA_EMPTY;
    struct partials ps = {{0}, {0}, 0};
    struct mustache *t = compile("{{>node}}");
    struct value *data = chain(&ar, n);
    int rc;

    add_partial(&ps, "node", "{{c}}<{{#nodes}}{{>node}}{{/nodes}}>");
    rc = mustache_render(t, data, find_partial, &ps, MUSTACHE_ESCAPE_HTML, out, err);
    arena_free(&ar);
    mustache_free(t);
    free_partials(&ps);
    return rc;
}

static void test_recursive_partials_within_limit(void **state)
{
    char err[ERRLEN];
    struct buf out;

    buf_init(&out);
    assert_int_equal(render_chain(MUSTACHE_MAX_PARTIAL_DEPTH, &out, err), 0);
    assert_int_equal(out.len, (size_t)MUSTACHE_MAX_PARTIAL_DEPTH * 3);
    assert_memory_equal(out.data, "n<n<", 4);
    buf_reset(&out);
    assert_int_equal(render_chain(MUSTACHE_MAX_PARTIAL_DEPTH + 1, &out, err), -1);
    assert_non_null(strstr(err, "nested deeper than"));
    buf_free(&out);
}

/* Escaping ---------------------------------------------------------------- */

static void test_escape_html(void **state)
{
    struct arena ar = ARENA_EMPTY;
    struct value *ctx = map_with_string(&ar, "v", "<a href='x'>&\"</a>");

    assert_renders("{{v}}", ctx, MUSTACHE_ESCAPE_HTML,
                   "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
    assert_renders("{{{v}}}|{{&v}}", ctx, MUSTACHE_ESCAPE_HTML,
                   "<a href='x'>&\"</a>|<a href='x'>&\"</a>");
    arena_free(&ar);
}

static void test_escape_none(void **state)
{
    struct arena ar = ARENA_EMPTY;
    struct value *ctx = map_with_string(&ar, "v", "Tom & Jerry's <b>");

    assert_renders("{{v}}|{{{v}}}", ctx, MUSTACHE_ESCAPE_NONE,
                   "Tom & Jerry's <b>|Tom & Jerry's <b>");
    arena_free(&ar);
}

static void test_template_text_never_escaped(void **state)
{
    struct arena ar = ARENA_EMPTY;
    struct value *ctx = map_with_string(&ar, "v", "ok");

    assert_renders("<p class=\"a\">&amp; {{v}}</p>", ctx, MUSTACHE_ESCAPE_HTML,
                   "<p class=\"a\">&amp; ok</p>");
    arena_free(&ar);
}

static void test_numbers_and_booleans(void **state)
{
    struct arena ar = ARENA_EMPTY;
    struct value *ctx = value_map(&ar);

    assert_int_equal(value_map_set(ctx, "n", value_number(&ar, 42)), 0);
    assert_int_equal(value_map_set(ctx, "d", value_number(&ar, 0.25)), 0);
    assert_int_equal(value_map_set(ctx, "b", value_bool(&ar, 1)), 0);
    assert_int_equal(value_map_set(ctx, "z", value_number(&ar, 0)), 0);
    assert_renders("{{n}} {{d}} {{b}} {{#z}}zero is truthy{{/z}}", ctx, MUSTACHE_ESCAPE_HTML,
                   "42 0.25 true zero is truthy");
    arena_free(&ar);
}

/* Data is never template -------------------------------------------------- */

static void test_value_with_tags_is_literal(void **state)
{
    struct arena ar = ARENA_EMPTY;
    struct partials ps = {{0}, {0}, 0};
    struct value *ctx = map_with_string(&ar, "name", "{{x}} {{>p}} {{#x}}");
    char *got;

    assert_int_equal(value_map_set(ctx, "x", value_string(&ar, "EXPANDED")), 0);
    add_partial(&ps, "p", "PARTIAL");
    assert_renders("Hi {{name}}", ctx, MUSTACHE_ESCAPE_NONE, "Hi {{x}} {{>p}} {{#x}}");
    assert_renders("Hi {{{name}}}", ctx, MUSTACHE_ESCAPE_HTML, "Hi {{x}} {{>p}} {{#x}}");
    got = render_with("[{{>p}}] {{name}}", ctx, &ps, MUSTACHE_ESCAPE_NONE);
    assert_string_equal(got, "[PARTIAL] {{x}} {{>p}} {{#x}}");
    free(got);
    free_partials(&ps);
    arena_free(&ar);
}

/* Compiled templates ------------------------------------------------------ */

static void test_render_twice_same_result(void **state)
{
    struct arena ar = ARENA_EMPTY;
    struct value *ctx = map_with_string(&ar, "who", "world");
    struct mustache *t = compile("{{=<% %>=}}Hello <%who%>!<%#who%> again<%/who%>");
    struct buf a, b;
    char err[ERRLEN];

    buf_init(&a);
    buf_init(&b);
    assert_int_equal(mustache_render(t, ctx, NULL, NULL, MUSTACHE_ESCAPE_HTML, &a, err), 0);
    assert_int_equal(mustache_render(t, ctx, NULL, NULL, MUSTACHE_ESCAPE_HTML, &b, err), 0);
    assert_string_equal(buf_str(&a), "Hello world! again");
    assert_string_equal(buf_str(&a), buf_str(&b));
    assert_string_equal(mustache_name(t), "t.mustache");
    buf_free(&a);
    buf_free(&b);
    mustache_free(t);
    arena_free(&ar);
}

static void test_output_is_appended(void **state)
{
    struct arena ar = ARENA_EMPTY;
    struct value *ctx = map_with_string(&ar, "v", "B");
    struct mustache *t = compile("{{v}}C");
    char err[ERRLEN];
    struct buf out;

    buf_init(&out);
    buf_puts(&out, "A");
    assert_int_equal(mustache_render(t, ctx, NULL, NULL, MUSTACHE_ESCAPE_HTML, &out, err), 0);
    assert_int_equal(mustache_render(t, ctx, NULL, NULL, MUSTACHE_ESCAPE_HTML, &out, err), 0);
    assert_string_equal(buf_str(&out), "ABCBC");
    buf_free(&out);
    mustache_free(t);
    arena_free(&ar);
}

/* Sections ---------------------------------------------------------------- */

static void test_list_of_maps(void **state)
{
    struct arena ar = ARENA_EMPTY;
    struct value *ctx = value_map(&ar), *tasks = value_list(&ar);
    const char *names[] = {"Triage email", "Write reports", "Plan <sprint>"};
    size_t i;

    for (i = 0; i < NELEM(names); i++) {
        struct value *task = map_with_string(&ar, "name", names[i]);

        assert_int_equal(value_map_set(task, "pct", value_number(&ar, (double)(i + 1) * 10)), 0);
        assert_int_equal(value_list_push(tasks, task), 0);
    }
    assert_int_equal(value_map_set(ctx, "tasks", tasks), 0);
    assert_int_equal(value_map_set(ctx, "unit", value_string(&ar, "%")), 0);
    assert_renders("<ul>\n{{#tasks}}\n  <li>{{name}}: {{pct}}{{unit}}</li>\n{{/tasks}}\n</ul>\n",
                   ctx, MUSTACHE_ESCAPE_HTML,
                   "<ul>\n  <li>Triage email: 10%</li>\n  <li>Write reports: 20%</li>\n"
                   "  <li>Plan &lt;sprint&gt;: 30%</li>\n</ul>\n");
    arena_free(&ar);
}

static void test_empty_string_is_falsy(void **state)
{
    struct arena ar = ARENA_EMPTY;
    const char *src = "{{#s}}Hi {{s}}{{/s}}{{^s}}Hi there{{/s}}";
    struct value *empty = map_with_string(&ar, "s", "");
    struct value *full = map_with_string(&ar, "s", "Ann");

    assert_renders(src, empty, MUSTACHE_ESCAPE_HTML, "Hi there");
    assert_renders(src, full, MUSTACHE_ESCAPE_HTML, "Hi Ann");
    assert_renders(src, NULL, MUSTACHE_ESCAPE_HTML, "Hi there");
    arena_free(&ar);
}

static void test_missing_partial_is_empty(void **state)
{
    struct partials ps = {{0}, {0}, 0};
    char *got = render_with("[{{>nope}}]", NULL, &ps, MUSTACHE_ESCAPE_HTML);

    assert_string_equal(got, "[]");
    free(got);
    got = render_with("[{{>nope}}]", NULL, NULL, MUSTACHE_ESCAPE_HTML);
    assert_string_equal(got, "[]");
    free(got);
}

static void test_nested_standalone_partials_indent(void **state)
{
    struct arena ar = ARENA_EMPTY;
    struct partials ps = {{0}, {0}, 0};
    struct value *ctx = value_map(&ar), *items = value_list(&ar);
    char *got;

    assert_int_equal(value_list_push(items, value_string(&ar, "a\nb")), 0);
    assert_int_equal(value_list_push(items, value_string(&ar, "c")), 0);
    assert_int_equal(value_map_set(ctx, "items", items), 0);
    add_partial(&ps, "list", "<ul>\n{{#items}}\n  {{>item}}\n{{/items}}\n</ul>\n");
    add_partial(&ps, "item", "<li>\n{{.}}\n</li>\n");
    got = render_with("<body>\n  {{>list}}\n</body>\n", ctx, &ps, MUSTACHE_ESCAPE_NONE);
    /* Each template line is indented; the newline inside "a\nb" is data and is not. */
    assert_string_equal(got, "<body>\n  <ul>\n    <li>\n    a\nb\n    </li>\n"
                             "    <li>\n    c\n    </li>\n  </ul>\n</body>\n");
    free(got);
    free_partials(&ps);
    arena_free(&ar);
}

static void test_dotted_names_and_parent_lookup(void **state)
{
    struct arena ar = ARENA_EMPTY;
    struct value *ctx = value_map(&ar), *user = map_with_string(&ar, "name", "Ann");

    assert_int_equal(value_map_set(ctx, "user", user), 0);
    assert_int_equal(value_map_set(ctx, "site", value_string(&ar, "example.org")), 0);
    assert_renders("{{user.name}}@{{#user}}{{site}}{{/user}}|{{user.site}}|{{user.name.x}}", ctx,
                   MUSTACHE_ESCAPE_HTML, "Ann@example.org||");
    arena_free(&ar);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unclosed_section_position),
        cmocka_unit_test(test_innermost_unclosed_section_reported),
        cmocka_unit_test(test_mismatched_closing_tag),
        cmocka_unit_test(test_closing_tag_without_section),
        cmocka_unit_test(test_empty_tag),
        cmocka_unit_test(test_unclosed_tag),
        cmocka_unit_test(test_unclosed_tag_uses_current_delimiters),
        cmocka_unit_test(test_columns_count_characters),
        cmocka_unit_test(test_bad_set_delimiters),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_error_names_the_template),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_template_size_limit),
        cmocka_unit_test(test_partial_depth_limit_is_an_error),
        cmocka_unit_test(test_recursive_partials_within_limit),
        cmocka_unit_test(test_escape_html),
        cmocka_unit_test(test_escape_none),
        cmocka_unit_test(test_template_text_never_escaped),
        cmocka_unit_test(test_numbers_and_booleans),
        cmocka_unit_test(test_value_with_tags_is_literal),
        cmocka_unit_test(test_render_twice_same_result),
        cmocka_unit_test(test_output_is_appended),
        cmocka_unit_test(test_list_of_maps),
        cmocka_unit_test(test_empty_string_is_falsy),
        cmocka_unit_test(test_missing_partial_is_empty),
        cmocka_unit_test(test_nested_standalone_partials_indent),
        cmocka_unit_test(test_dotted_names_and_parent_lookup),
        cmocka_unit_test(test_rendering_work_is_bounded),
        cmocka_unit_test(test_rendering_size_is_bounded),
        cmocka_unit_test(test_html_escapes_at_every_offset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
