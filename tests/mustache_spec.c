/*
 * mustache_spec.c - runs the official Mustache spec's YAML test files
 * against the Mustache engine (daemon/mustache.c, mustache_render.c).
 *
 *   build/mustache-spec [FILE.yml...]
 *
 * Without files it runs the spec's required modules from the directory
 * $MUSTACHE_SPEC_DIR names (default ../shared/mustache-spec, where the
 * project's checkout keeps it), and exits 66 when they are not there, so that
 * the caller can tell "not run" from "passed" (scripts/check.sh).
 *
 * Prints a FAIL line per failing test and ends with "N passed, N failed".
 * Exits 0 when every test passed, 1 when some failed, 64 on a usage error
 * and 65 when a file cannot be loaded (every file is loaded and checked
 * before any test runs, so a broken file never yields half a report).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "mustache.h"
#include "util.h"
#include "value.h"
#include "yamldoc.h"

/* Where the project's checkout keeps the official spec, beside this repository. */
#define SPEC_DEFAULT_DIR "../shared/mustache-spec"

/* The spec's data is a few levels deep; deeper means a malformed (or hostile) file. */
#define SPEC_MAX_DATA_DEPTH 64

/* The partials of one test, compiled. */
struct partials {
    const char **names;
    struct mustache **templates;
    size_t n;
};

struct counts {
    int passed, failed;
};

static const char *scalar_text(const yaml_node_t *node, size_t *len)
{
    *len = node->data.scalar.length;
    return (const char *)node->data.scalar.value;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t skip_digits(const char *s, size_t i)
{
    while (is_digit(s[i]))
        i++;
    return i;
}

/* YAML 1.2 core-schema numbers: 85, -3, 1.210, .5, 6.02e23. */
static int is_number(const char *s)
{
    size_t i = 0, digits_from;
    int digits;

    if (s[i] == '-' || s[i] == '+')
        i++;
    digits_from = i;
    i = skip_digits(s, i);
    digits = i > digits_from;
    if (s[i] == '.') {
        size_t frac_from = ++i;

        i = skip_digits(s, i);
        digits = digits || i > frac_from;
    }
    if (!digits)
        return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t exp_from;

        i++;
        if (s[i] == '-' || s[i] == '+')
            i++;
        exp_from = i;
        i = skip_digits(s, i);
        if (i == exp_from)
            return 0;
    }
    return s[i] == '\0';
}

static int is_word(const char *s, const char *lower, const char *title, const char *upper)
{
    return strcmp(s, lower) == 0 || strcmp(s, title) == 0 || strcmp(s, upper) == 0;
}

/* Plain scalars may be null, booleans or numbers; quoted ones are always strings. */
static struct value *scalar_value(struct arena *a, const yaml_node_t *node)
{
    size_t len;
    const char *s = scalar_text(node, &len);

    if (!yamldoc_is_plain(node))
        return value_stringn(a, s, len);
    if (yamldoc_is_null(node))
        return value_null(a);
    if (is_word(s, "true", "True", "TRUE"))
        return value_bool(a, 1);
    if (is_word(s, "false", "False", "FALSE"))
        return value_bool(a, 0);
    if (is_number(s))
        return value_number(a, strtod(s, NULL));
    return value_stringn(a, s, len);
}

static struct value *to_value(struct arena *a, struct yamldoc *yd, yaml_node_t *node, int depth,
                              char *err);

static struct value *sequence_value(struct arena *a, struct yamldoc *yd, yaml_node_t *node,
                                    int depth, char *err)
{
    struct value *list = value_list(a);
    yaml_node_item_t *item;

    if (list == NULL) {
        errf(err, "%s: out of memory", yd->name);
        return NULL;
    }
    for (item = node->data.sequence.items.start; item < node->data.sequence.items.top; item++) {
        struct value *v = to_value(a, yd, yamldoc_node(yd, *item), depth + 1, err);

        if (v == NULL || value_list_push(list, v) == -1) {
            if (v != NULL)
                errf(err, "%s: out of memory", yd->name);
            return NULL;
        }
    }
    return list;
}

static struct value *mapping_value(struct arena *a, struct yamldoc *yd, yaml_node_t *node,
                                   int depth, char *err)
{
    struct value *map = value_map(a);
    yaml_node_pair_t *pair;

    if (map == NULL) {
        errf(err, "%s: out of memory", yd->name);
        return NULL;
    }
    for (pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *knode = yamldoc_node(yd, pair->key);
        const char *key = yamldoc_scalar(knode);
        struct value *v;

        if (key == NULL) {
            yamldoc_errf(err, yd, knode, "a data key must be a scalar, not %s",
                         yamldoc_type_name(knode));
            return NULL;
        }
        v = to_value(a, yd, yamldoc_node(yd, pair->value), depth + 1, err);
        if (v == NULL || value_map_set(map, key, v) == -1) {
            if (v != NULL)
                errf(err, "%s: out of memory", yd->name);
            return NULL;
        }
    }
    return map;
}

static struct value *to_value(struct arena *a, struct yamldoc *yd, yaml_node_t *node, int depth,
                              char *err)
{
    struct value *v;

    if (depth > SPEC_MAX_DATA_DEPTH) {
        yamldoc_errf(err, yd, node, "data nested deeper than %d levels", SPEC_MAX_DATA_DEPTH);
        return NULL;
    }
    switch (node ? node->type : YAML_NO_NODE) {
    case YAML_SCALAR_NODE:
        v = scalar_value(a, node);
        break;
    case YAML_SEQUENCE_NODE:
        return sequence_value(a, yd, node, depth, err);
    case YAML_MAPPING_NODE:
        return mapping_value(a, yd, node, depth, err);
    default:
        v = value_null(a);
        break;
    }
    if (v == NULL)
        errf(err, "%s: out of memory", yd->name);
    return v;
}

/* Structure checks ------------------------------------------------------- */

static int check_scalar_field(struct yamldoc *yd, yaml_node_t *test, const char *key, char *err)
{
    yaml_node_t *node = yamldoc_get(yd, test, key);

    if (node == NULL)
        return yamldoc_errf(err, yd, test, "test has no \"%s\"", key);
    if (node->type != YAML_SCALAR_NODE)
        return yamldoc_errf(err, yd, node, "\"%s\" must be a scalar, not %s", key,
                            yamldoc_type_name(node));
    return 0;
}

static int check_partials(struct yamldoc *yd, yaml_node_t *partials, char *err)
{
    yaml_node_pair_t *pair;

    if (partials == NULL)
        return 0;
    if (partials->type != YAML_MAPPING_NODE)
        return yamldoc_errf(err, yd, partials, "\"partials\" must be a mapping, not %s",
                            yamldoc_type_name(partials));
    for (pair = partials->data.mapping.pairs.start; pair < partials->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = yamldoc_node(yd, pair->key), *v = yamldoc_node(yd, pair->value);

        if (yamldoc_scalar(k) == NULL || yamldoc_scalar(v) == NULL)
            return yamldoc_errf(err, yd, k, "a partial must map a name to a template string");
    }
    return 0;
}

/* Checks the data converts, so a run can only fail on the engine's account. */
static int check_data(struct yamldoc *yd, yaml_node_t *test, char *err)
{
    struct arena a = ARENA_EMPTY;
    struct value *v = to_value(&a, yd, yamldoc_get(yd, test, "data"), 0, err);

    arena_free(&a);
    return v == NULL ? -1 : 0;
}

static yaml_node_t *tests_of(struct yamldoc *yd, char *err)
{
    yaml_node_t *root = yamldoc_root(yd), *tests;

    if (root == NULL || root->type != YAML_MAPPING_NODE) {
        yamldoc_errf(err, yd, root, "the file must be a mapping with a \"tests\" list");
        return NULL;
    }
    tests = yamldoc_get(yd, root, "tests");
    if (tests == NULL || tests->type != YAML_SEQUENCE_NODE) {
        yamldoc_errf(err, yd, tests ? tests : root, "\"tests\" must be a list");
        return NULL;
    }
    return tests;
}

static int check_file(struct yamldoc *yd, char *err)
{
    yaml_node_t *tests = tests_of(yd, err);
    yaml_node_item_t *item;

    if (tests == NULL)
        return -1;
    for (item = tests->data.sequence.items.start; item < tests->data.sequence.items.top; item++) {
        yaml_node_t *test = yamldoc_node(yd, *item);

        if (test == NULL || test->type != YAML_MAPPING_NODE)
            return yamldoc_errf(err, yd, test, "a test must be a mapping");
        if (check_scalar_field(yd, test, "name", err) == -1 ||
            check_scalar_field(yd, test, "template", err) == -1 ||
            check_scalar_field(yd, test, "expected", err) == -1 ||
            check_partials(yd, yamldoc_get(yd, test, "partials"), err) == -1 ||
            check_data(yd, test, err) == -1)
            return -1;
    }
    return 0;
}

/* Running ---------------------------------------------------------------- */

static const struct mustache *find_partial(void *arg, const char *name)
{
    const struct partials *ps = arg;
    size_t i;

    for (i = 0; i < ps->n; i++)
        if (strcmp(ps->names[i], name) == 0)
            return ps->templates[i];
    return NULL;
}

static void partials_free(struct partials *ps)
{
    size_t i;

    for (i = 0; i < ps->n; i++)
        mustache_free(ps->templates[i]);
    free(ps->names);
    free(ps->templates);
    memset(ps, 0, sizeof(*ps));
}

static int compile_partials(struct yamldoc *yd, yaml_node_t *node, struct partials *ps, char *err)
{
    size_t count;
    yaml_node_pair_t *pair;

    memset(ps, 0, sizeof(*ps));
    if (node == NULL)
        return 0;
    count = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    ps->names = calloc(count + 1, sizeof(*ps->names));
    ps->templates = calloc(count + 1, sizeof(*ps->templates));
    if (ps->names == NULL || ps->templates == NULL) {
        partials_free(ps);
        return errf(err, "out of memory");
    }
    for (pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top; pair++) {
        const char *name = yamldoc_scalar(yamldoc_node(yd, pair->key));
        size_t len;
        const char *src = scalar_text(yamldoc_node(yd, pair->value), &len);

        ps->templates[ps->n] = mustache_compile(name, src, len, err);
        if (ps->templates[ps->n] == NULL) {
            partials_free(ps);
            return -1;
        }
        ps->names[ps->n++] = name;
    }
    return 0;
}

/* Renders one test into out; -1 with err when the engine refused it. */
static int render_test(struct yamldoc *yd, yaml_node_t *test, struct buf *out, char *err)
{
    yaml_node_t *tnode = yamldoc_get(yd, test, "template");
    struct partials ps;
    struct mustache *t;
    struct value *data;
    struct arena a = ARENA_EMPTY;
    size_t len;
    const char *src = scalar_text(tnode, &len);
    int rc = -1;

    data = to_value(&a, yd, yamldoc_get(yd, test, "data"), 0, err);
    if (data == NULL || compile_partials(yd, yamldoc_get(yd, test, "partials"), &ps, err) == -1) {
        arena_free(&a);
        return -1;
    }
    t = mustache_compile("template", src, len, err);
    if (t != NULL)
        rc = mustache_render(t, data, find_partial, &ps, MUSTACHE_ESCAPE_HTML, out, err);
    mustache_free(t);
    partials_free(&ps);
    arena_free(&a);
    return rc;
}

/* Prints s C-style so newlines and other invisible differences show. */
static void print_quoted(const char *s, size_t len)
{
    size_t i;

    putchar('"');
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void run_test(struct yamldoc *yd, yaml_node_t *test, struct counts *counts)
{
    size_t elen, nlen;
    const char *expected = scalar_text(yamldoc_get(yd, test, "expected"), &elen);
    const char *name = scalar_text(yamldoc_get(yd, test, "name"), &nlen);
    char err[ERRLEN];
    struct buf out;
    int rc;

    buf_init(&out);
    rc = render_test(yd, test, &out, err);
    if (rc == 0 && out.len == elen && memcmp(buf_str(&out), expected, elen) == 0) {
        counts->passed++;
    } else {
        counts->failed++;
        printf("FAIL %s: %s: expected ", yd->name, name);
        print_quoted(expected, elen);
        if (rc == 0) {
            fputs(" got ", stdout);
            print_quoted(buf_str(&out), out.len);
        } else {
            fputs(" got error ", stdout);
            print_quoted(err, strlen(err));
        }
        putchar('\n');
    }
    buf_free(&out);
}

static void run_file(struct yamldoc *yd, struct counts *counts)
{
    char err[ERRLEN];
    yaml_node_t *tests = tests_of(yd, err);
    yaml_node_item_t *item;

    for (item = tests->data.sequence.items.start; item < tests->data.sequence.items.top; item++)
        run_test(yd, yamldoc_node(yd, *item), counts);
}

static int load_files(struct yamldoc *docs, int n, char **paths)
{
    char err[ERRLEN];
    int i;

    for (i = 0; i < n; i++) {
        if (yamldoc_load_file(&docs[i], paths[i], err) == -1 || check_file(&docs[i], err) == -1) {
            fprintf(stderr, "mustache-spec: %s\n", err);
            return -1;
        }
    }
    return 0;
}

/* The spec's required modules, run when no file is named. */
static const char *const required_modules[] = {
    "comments.yml", "delimiters.yml", "interpolation.yml",
    "inverted.yml", "partials.yml",   "sections.yml",
};

/*
 * The required modules' paths in $MUSTACHE_SPEC_DIR (default
 * SPEC_DEFAULT_DIR) into paths (owned by the caller, freed with free_paths).
 * 0, or EXIT_NOINPUT when the directory or a module is not there.
 */
static int spec_paths(char **paths)
{
    const char *dir = getenv("MUSTACHE_SPEC_DIR");
    size_t i;

    if (dir == NULL || *dir == '\0')
        dir = SPEC_DEFAULT_DIR;
    for (i = 0; i < NELEM(required_modules); i++) {
        size_t len = strlen(dir) + 1 + strlen(required_modules[i]) + 1;

        paths[i] = malloc(len);
        if (paths[i] == NULL) {
            fprintf(stderr, "mustache-spec: out of memory\n");
            return EXIT_SOFTWARE;
        }
        snprintf(paths[i], len, "%s/%s", dir, required_modules[i]);
        if (access(paths[i], R_OK) != 0) {
            fprintf(stderr,
                    "mustache-spec: the official Mustache spec is not at %s (%s: %s); set "
                    "MUSTACHE_SPEC_DIR to its directory\n",
                    dir, required_modules[i], strerror(errno));
            return EXIT_NOINPUT;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct counts counts = {0, 0};
    struct yamldoc *docs;
    char *spec[NELEM(required_modules)] = {NULL};
    char **files = argv + 1;
    int i, n = argc - 1, rc;

    if (argc > 1 && argv[1][0] == '-') {
        fprintf(stderr, "usage: %s [FILE.yml...]\n", argv[0]);
        return EXIT_USAGE;
    }
    if (n == 0) {
        rc = spec_paths(spec);
        if (rc != 0) {
            for (i = 0; i < (int)NELEM(spec); i++)
                free(spec[i]);
            return rc;
        }
        files = spec;
        n = (int)NELEM(spec);
    }
    docs = calloc((size_t)n, sizeof(*docs));
    if (docs == NULL) {
        fprintf(stderr, "mustache-spec: out of memory\n");
        rc = EXIT_SOFTWARE;
        goto out;
    }
    rc = load_files(docs, n, files);
    for (i = 0; rc == 0 && i < n; i++)
        run_file(&docs[i], &counts);
    for (i = 0; i < n; i++)
        yamldoc_free(&docs[i]);
    free(docs);
    if (rc == -1) {
        rc = EXIT_DATAERR;
        goto out;
    }
    printf("%d passed, %d failed\n", counts.passed, counts.failed);
    rc = counts.failed ? 1 : 0;
out:
    for (i = 0; i < (int)NELEM(spec); i++)
        free(spec[i]);
    return rc;
}
