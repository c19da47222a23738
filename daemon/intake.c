/* intake.c - reading signups from the command line and from YAML or JSON lists. */
#include "intake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "yamldoc.h"

/* Standard input may be a pipe: read it whole, as read_file does for files. */
#define INTAKE_STDIN_NAME "<stdin>"
/* A field path like "signups[12].tasks[3].share"; nested levels get room for their suffix. */
#define FIELD_MAX 128

int intake_set_years(struct signup *s, const char *text, char *err)
{
    double years;

    if (parse_nonnegative(text, &years) == -1)
        return errf(err, "years: expected a number >= 0, got \"%s\"", text);
    s->years = years;
    s->has_years = 1;
    return 0;
}

int intake_add_task_arg(struct signup *s, const char *arg, char *err)
{
    const char *eq = strchr(arg, '=');
    double share = 0;
    char *id;
    int rc;

    if (eq && parse_nonnegative(eq + 1, &share) == -1)
        return errf(err, "tasks: share for \"%.*s\" must be a number >= 0, got \"%s\"",
                    (int)(eq - arg), arg, eq + 1);
    id = eq ? strndup(arg, (size_t)(eq - arg)) : strdup(arg);
    if (id == NULL)
        return errf(err, "tasks: out of memory");
    if (*id == '\0') {
        free(id);
        return errf(err, "tasks: empty task id in \"%s\"", arg);
    }
    rc = signup_add_task(s, id, share, eq != NULL);
    free(id);
    if (rc == -1)
        return errf(err, "tasks: out of memory");
    return 0;
}

/* A scalar field's text, or an error naming the field and what it was. */
static const char *scalar_field(struct yamldoc *yd, yaml_node_t *node, const char *field, char *err)
{
    const char *s = yamldoc_scalar(node);

    if (s == NULL) {
        yamldoc_errf(err, yd, node, "%s: expected a string, got %s", field,
                     yamldoc_type_name(node));
        return NULL;
    }
    /* libyaml keeps a NUL written as "\0"; C strings would silently cut the value there. */
    if (node->data.scalar.length != strlen(s)) {
        yamldoc_errf(err, yd, node, "%s: contains a NUL character", field);
        return NULL;
    }
    return s;
}

static int number_field(struct yamldoc *yd, yaml_node_t *node, const char *field, double *out,
                        char *err)
{
    const char *s = scalar_field(yd, node, field, err);

    if (s == NULL)
        return -1;
    if (parse_nonnegative(s, out) == -1)
        return yamldoc_errf(err, yd, node, "%s: expected a number >= 0, got \"%s\"", field, s);
    return 0;
}

static int strdup_field(struct yamldoc *yd, yaml_node_t *node, const char *field, char **out,
                        char *err)
{
    const char *s = scalar_field(yd, node, field, err);

    if (s == NULL)
        return -1;
    free(*out);
    *out = strdup(s);
    if (*out == NULL)
        return yamldoc_errf(err, yd, node, "%s: out of memory", field);
    return 0;
}

static int read_task(struct yamldoc *yd, yaml_node_t *node, struct signup *s, const char *field,
                     char *err)
{
    yaml_node_t *id, *share;
    const char *ids;
    double v = 0;
    yaml_node_pair_t *p;

    if (node->type == YAML_SCALAR_NODE) {
        ids = scalar_field(yd, node, field, err);
        if (ids == NULL)
            return -1;
        if (signup_add_task(s, ids, 0, 0) == -1)
            return yamldoc_errf(err, yd, node, "%s: out of memory", field);
        return 0;
    }
    if (node->type != YAML_MAPPING_NODE)
        return yamldoc_errf(err, yd, node, "%s: expected a task id or {id, share}, got %s", field,
                            yamldoc_type_name(node));
    for (p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        const char *k = yamldoc_scalar(yamldoc_node(yd, p->key));

        if (k == NULL || (strcmp(k, "id") != 0 && strcmp(k, "share") != 0))
            return yamldoc_errf(err, yd, yamldoc_node(yd, p->key), "%s: unknown key \"%s\"", field,
                                k ? k : "?");
    }
    id = yamldoc_get(yd, node, "id");
    share = yamldoc_get(yd, node, "share");
    if (id == NULL)
        return yamldoc_errf(err, yd, node, "%s.id: required", field);
    ids = scalar_field(yd, id, field, err);
    if (ids == NULL)
        return -1;
    if (share && !yamldoc_is_null(share)) {
        char f[FIELD_MAX + 64];

        snprintf(f, sizeof(f), "%s.share", field);
        if (number_field(yd, share, f, &v, err) == -1)
            return -1;
    }
    if (signup_add_task(s, ids, v, share != NULL && !yamldoc_is_null(share)) == -1)
        return yamldoc_errf(err, yd, node, "%s: out of memory", field);
    return 0;
}

static int read_list(struct yamldoc *yd, yaml_node_t *node, struct signup *s, const char *field,
                     int tasks, char *err)
{
    yaml_node_item_t *it;
    char f[FIELD_MAX + 32];
    size_t i = 0;

    if (node->type != YAML_SEQUENCE_NODE)
        return yamldoc_errf(err, yd, node, "%s: expected a list, got %s", field,
                            yamldoc_type_name(node));
    for (it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++, i++) {
        yaml_node_t *item = yamldoc_node(yd, *it);

        snprintf(f, sizeof(f), "%s[%zu]", field, i);
        if (tasks) {
            if (read_task(yd, item, s, f, err) == -1)
                return -1;
        } else {
            const char *id = scalar_field(yd, item, f, err);

            if (id == NULL)
                return -1;
            if (signup_add_skill(s, id) == -1)
                return yamldoc_errf(err, yd, item, "%s: out of memory", f);
        }
    }
    return 0;
}

static int read_signup(struct yamldoc *yd, yaml_node_t *node, size_t index, struct signup *s,
                       char *err)
{
    yaml_node_pair_t *p;
    char f[FIELD_MAX];

    if (node->type != YAML_MAPPING_NODE)
        return yamldoc_errf(err, yd, node, "signups[%zu]: expected a mapping, got %s", index,
                            yamldoc_type_name(node));
    for (p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *key = yamldoc_node(yd, p->key), *val = yamldoc_node(yd, p->value);
        const char *k = yamldoc_scalar(key);
        int rc;

        snprintf(f, sizeof(f), "signups[%zu].%s", index, k ? k : "?");
        if (k == NULL)
            rc = yamldoc_errf(err, yd, key, "signups[%zu]: keys must be strings", index);
        else if (strcmp(k, "email") == 0)
            rc = strdup_field(yd, val, f, &s->email, err);
        else if (strcmp(k, "name") == 0)
            rc = yamldoc_is_null(val) ? 0 : strdup_field(yd, val, f, &s->name, err);
        else if (strcmp(k, "role") == 0)
            rc = strdup_field(yd, val, f, &s->role, err);
        else if (strcmp(k, "level") == 0)
            rc = strdup_field(yd, val, f, &s->level, err);
        else if (strcmp(k, "tasks") == 0)
            rc = read_list(yd, val, s, f, 1, err);
        else if (strcmp(k, "skills") == 0)
            rc = read_list(yd, val, s, f, 0, err);
        else if (strcmp(k, "years") == 0) {
            rc = yamldoc_is_null(val) ? 0 : number_field(yd, val, f, &s->years, err);
            s->has_years = !yamldoc_is_null(val);
        } else
            rc = yamldoc_errf(err, yd, key, "signups[%zu]: unknown key \"%s\"", index, k);
        if (rc == -1)
            return -1;
    }
    if (s->email == NULL || s->role == NULL || s->level == NULL)
        return yamldoc_errf(err, yd, node, "signups[%zu]: %s is required", index,
                            s->email == NULL  ? "email"
                            : s->role == NULL ? "role"
                                              : "level");
    return 0;
}

static int load_doc(struct yamldoc *yd, const char *path, char *err)
{
    struct buf b;
    char chunk[8192];
    size_t n;
    int rc;

    if (strcmp(path, "-") != 0)
        return yamldoc_load_file(yd, path, err);
    buf_init(&b);
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        if (b.len + n > YAMLDOC_MAX_BYTES) {
            buf_free(&b);
            return errf(err, "%s: larger than %zu bytes", INTAKE_STDIN_NAME, YAMLDOC_MAX_BYTES);
        }
        buf_append(&b, chunk, n);
    }
    if (ferror(stdin) || buf_failed(&b)) {
        buf_free(&b);
        return errf(err, "%s: cannot read standard input", INTAKE_STDIN_NAME);
    }
    rc = yamldoc_load_string(yd, INTAKE_STDIN_NAME, buf_str(&b), b.len, err);
    buf_free(&b);
    return rc;
}

int intake_load(struct intake *in, const char *path, char *err)
{
    struct yamldoc yd;
    yaml_node_t *root, *shared;
    yaml_node_item_t *it;
    size_t n, i = 0;
    int oom;

    memset(in, 0, sizeof(*in));
    if (load_doc(&yd, path, err) == -1)
        return -1;
    root = yamldoc_root(&yd);
    shared = yamldoc_shared_node(&yd, &oom);
    if (shared != NULL || oom) {
        if (oom)
            errf(err, "%s: out of memory", path);
        else
            yamldoc_errf(err, &yd, shared,
                         "this is used again through a YAML alias; write each signup out in full");
        yamldoc_free(&yd);
        return -1;
    }
    if (root == NULL || root->type != YAML_SEQUENCE_NODE) {
        yamldoc_errf(err, &yd, root, "expected a list of signups, got %s", yamldoc_type_name(root));
        yamldoc_free(&yd);
        return -1;
    }
    n = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);
    if (n > INTAKE_MAX_SIGNUPS) {
        yamldoc_errf(err, &yd, root, "%zu signups in one file; the limit is %d", n,
                     INTAKE_MAX_SIGNUPS);
        yamldoc_free(&yd);
        return -1;
    }
    in->v = calloc(n ? n : 1, sizeof(*in->v));
    in->line = calloc(n ? n : 1, sizeof(*in->line));
    if (in->v == NULL || in->line == NULL) {
        intake_free(in);
        yamldoc_free(&yd);
        return errf(err, "%s: out of memory", path);
    }
    for (it = root->data.sequence.items.start; it < root->data.sequence.items.top; it++, i++) {
        yaml_node_t *node = yamldoc_node(&yd, *it);

        signup_init(&in->v[i]);
        in->n = i + 1;
        in->line[i] = yamldoc_line(node);
        if (read_signup(&yd, node, i, &in->v[i], err) == -1) {
            intake_free(in);
            yamldoc_free(&yd);
            return -1;
        }
    }
    yamldoc_free(&yd);
    return 0;
}

void intake_free(struct intake *in)
{
    size_t i;

    for (i = 0; i < in->n; i++)
        signup_free(&in->v[i]);
    free(in->v);
    free(in->line);
    memset(in, 0, sizeof(*in));
}
