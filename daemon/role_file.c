/*
 * role_file.c - reads one role file strictly: every unknown key, missing
 * key, wrong type, bad value, duplicate id, broken limit and typical mix
 * naming a task the role lacks is reported with its position, so a
 * half-edited role never reaches a subscriber.
 */
#include "role_file.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamldoc.h"

/* A level's advice is a handful of strategies; dozens is an essay nobody reads. */
#define ROLE_MAX_STRATEGIES 32
/* Risk bands a reader can tell apart are few. */
#define ROLE_MAX_THRESHOLDS 16
/* Weights and thresholds are points on the report's 0-100 scale. */
#define SCORE_LOWEST  0.0
#define SCORE_HIGHEST 100.0
/* Room for a field path such as "scoring.risk_levels[12].min_score". */
#define FIELD_MAX 128

/* Indexed by enum exposure and enum outlook; NULL-terminated for messages. */
static const char *const exposure_names[EXPOSURE_COUNT + 1] = {"low", "medium", "high", NULL};
static const char *const outlook_names[] = {"vulnerable", "resilient", NULL};

static const char *const role_keys[] = {"title", "scoring", "levels", "tasks", "skills", NULL};
static const char *const scoring_keys[] = {"exposure_weights", "risk_levels", NULL};
static const char *const threshold_keys[] = {"min_score", "label", NULL};
static const char *const level_keys[] = {"id",         "title",       "summary",
                                         "strategies", "typical_mix", NULL};
static const char *const task_keys[] = {"id", "title", "exposure", "rationale", "advice", NULL};
static const char *const skill_keys[] = {"id", "name", "outlook", "rationale", NULL};

/* One file being read: where messages go and which document they are about. */
struct loader {
    struct yamldoc *yd;
    struct diag *d;
};

UTIL_PRINTF(4, 5)
static void complain(struct loader *l, const yaml_node_t *node, const char *ctx, const char *fmt,
                     ...)
{
    char msg[ERRLEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ctx[0] != '\0')
        yamldoc_diag(l->d, l->yd, node, "%s: %s", ctx, msg);
    else
        yamldoc_diag(l->d, l->yd, node, "%s", msg);
}

static void field_name(char *out, size_t outlen, const char *ctx, const char *key)
{
    snprintf(out, outlen, "%s%s%s", ctx, ctx[0] != '\0' ? "." : "", key);
}

static void item_name(char *out, size_t outlen, const char *ctx, const char *key, size_t i)
{
    snprintf(out, outlen, "%s%s%s[%zu]", ctx, ctx[0] != '\0' ? "." : "", key, i);
}

static char *copy_text(struct loader *l, const yaml_node_t *node, const char *field, const char *s)
{
    char *copy = strdup(s);

    if (copy == NULL)
        complain(l, node, field, "out of memory");
    return copy;
}

static int is_mapping(struct loader *l, const yaml_node_t *node, const char *ctx)
{
    if (node != NULL && node->type == YAML_MAPPING_NODE)
        return 1;
    complain(l, node, ctx, "expected a mapping, found %s", yamldoc_type_name(node));
    return 0;
}

static int key_allowed(const char *key, const char *const *allowed)
{
    for (; *allowed != NULL; allowed++)
        if (strcmp(*allowed, key) == 0)
            return 1;
    return 0;
}

static void join_names(char *out, size_t outlen, const char *const *names)
{
    size_t used = 0;

    out[0] = '\0';
    for (; *names != NULL && used < outlen; names++) {
        int w = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", *names);

        if (w < 0)
            return;
        used += (size_t)w;
    }
}

/* Reports keys the format does not have (typos would otherwise be ignored) and repeated keys. */
static void check_keys(struct loader *l, yaml_node_t *map, const char *const *allowed,
                       const char *ctx)
{
    yaml_node_pair_t *start = map->data.mapping.pairs.start;
    yaml_node_pair_t *top = map->data.mapping.pairs.top;
    yaml_node_pair_t *p, *q;
    char expected[ERRLEN];

    for (p = start; p < top; p++) {
        yaml_node_t *kn = yamldoc_node(l->yd, p->key);
        const char *k = yamldoc_scalar(kn);

        if (k == NULL) {
            complain(l, kn, ctx, "a key must be a scalar, found %s", yamldoc_type_name(kn));
            continue;
        }
        if (!key_allowed(k, allowed)) {
            join_names(expected, sizeof(expected), allowed);
            complain(l, kn, ctx, "unknown key \"%s\" (expected one of: %s)", k, expected);
            continue;
        }
        for (q = start; q < p; q++) {
            yaml_node_t *qn = yamldoc_node(l->yd, q->key);
            const char *qk = yamldoc_scalar(qn);

            if (qk != NULL && strcmp(qk, k) == 0) {
                complain(l, kn, ctx, "duplicate key \"%s\" (first at line %lu)", k,
                         yamldoc_line(qn));
                break;
            }
        }
    }
}

/* The value under key; a missing key is reported at the mapping. */
static yaml_node_t *require(struct loader *l, yaml_node_t *map, const char *ctx, const char *key)
{
    yaml_node_t *node = yamldoc_get(l->yd, map, key);

    if (node == NULL)
        complain(l, map, ctx, "missing required key \"%s\"", key);
    return node;
}

static int blank(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

/* Non-empty text, or NULL (reported): every text is shown to subscribers. */
static const char *text_of(struct loader *l, const yaml_node_t *node, const char *field)
{
    const char *s = yamldoc_scalar(node);

    if (s == NULL || yamldoc_is_null(node)) {
        complain(l, node, field, "expected text, found %s", yamldoc_type_name(node));
        return NULL;
    }
    if (blank(s)) {
        complain(l, node, field, "must not be empty");
        return NULL;
    }
    return s;
}

static char *get_text(struct loader *l, yaml_node_t *map, const char *ctx, const char *key)
{
    char field[FIELD_MAX];
    yaml_node_t *node = require(l, map, ctx, key);
    const char *s;

    if (node == NULL)
        return NULL;
    field_name(field, sizeof(field), ctx, key);
    s = text_of(l, node, field);
    return s ? copy_text(l, node, field, s) : NULL;
}

static int valid_id(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '-'))
            return 0;
    return n >= 1 && n <= ROLE_ID_MAX;
}

static char *get_id(struct loader *l, yaml_node_t *map, const char *ctx)
{
    char field[FIELD_MAX];
    yaml_node_t *node = require(l, map, ctx, "id");
    const char *s;

    if (node == NULL)
        return NULL;
    field_name(field, sizeof(field), ctx, "id");
    s = text_of(l, node, field);
    if (s == NULL)
        return NULL;
    if (!valid_id(s)) {
        complain(l, node, field, "\"%s\" is not an id (1 to %d characters of a-z, 0-9 and -)", s,
                 ROLE_ID_MAX);
        return NULL;
    }
    return copy_text(l, node, field, s);
}

/* Plain decimal numbers only: strtod alone would take "0x10", "inf" and "nan". */
static int parse_number(const char *s, double *out)
{
    char *end;

    if (s[0] == '\0' || strspn(s, "0123456789.+-eE") != strlen(s))
        return -1;
    errno = 0;
    *out = strtod(s, &end);
    if (*end != '\0' || errno != 0 || !isfinite(*out))
        return -1;
    return 0;
}

/* A number from 0 to 100 under key; 0, or -1 (reported). */
static int get_score(struct loader *l, yaml_node_t *map, const char *ctx, const char *key,
                     double *out)
{
    char field[FIELD_MAX];
    yaml_node_t *node = require(l, map, ctx, key);
    const char *s;

    if (node == NULL)
        return -1;
    field_name(field, sizeof(field), ctx, key);
    s = yamldoc_scalar(node);
    if (s == NULL || yamldoc_is_null(node)) {
        complain(l, node, field, "expected a number, found %s", yamldoc_type_name(node));
        return -1;
    }
    if (!yamldoc_is_plain(node) || parse_number(s, out) == -1) {
        complain(l, node, field, "expected a number, found \"%s\"", s);
        return -1;
    }
    if (*out < SCORE_LOWEST || *out > SCORE_HIGHEST) {
        complain(l, node, field, "%s is out of range (%g to %g)", s, SCORE_LOWEST, SCORE_HIGHEST);
        return -1;
    }
    return 0;
}

/* One of names (NULL-terminated) under key; its index, or -1 (reported). */
static int get_enum(struct loader *l, yaml_node_t *map, const char *ctx, const char *key,
                    const char *const *names)
{
    char field[FIELD_MAX], expected[ERRLEN];
    yaml_node_t *node = require(l, map, ctx, key);
    const char *s;
    int i;

    if (node == NULL)
        return -1;
    field_name(field, sizeof(field), ctx, key);
    s = text_of(l, node, field);
    if (s == NULL)
        return -1;
    for (i = 0; names[i] != NULL; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    join_names(expected, sizeof(expected), names);
    complain(l, node, field, "\"%s\" is not one of: %s", s, expected);
    return -1;
}

/* A list of min..max items under key, or NULL (reported). */
static yaml_node_t *get_list(struct loader *l, yaml_node_t *map, const char *ctx, const char *key,
                             size_t min, size_t max, size_t *n)
{
    char field[FIELD_MAX];
    yaml_node_t *node = require(l, map, ctx, key);

    if (node == NULL)
        return NULL;
    field_name(field, sizeof(field), ctx, key);
    if (node->type != YAML_SEQUENCE_NODE) {
        complain(l, node, field, "expected a list, found %s", yamldoc_type_name(node));
        return NULL;
    }
    *n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (*n < min) {
        complain(l, node, field, "needs at least %zu item%s", min, min == 1 ? "" : "s");
        return NULL;
    }
    if (*n > max) {
        complain(l, node, field, "has %zu items, at most %zu are allowed", *n, max);
        return NULL;
    }
    return node;
}

static yaml_node_t *list_item(struct loader *l, yaml_node_t *seq, size_t i)
{
    return yamldoc_node(l->yd, seq->data.sequence.items.start[i]);
}

/* Parses one list item (a mapping) at ctx into out. */
typedef void (*item_parser)(struct loader *l, yaml_node_t *item, const char *ctx, void *out);

/*
 * Parses the list under key into a zeroed array of size-byte elements, so
 * that a partly parsed array can be freed like a whole one.  NULL with *n = 0
 * when the list is missing or wrong (reported).
 */
static void *parse_list(struct loader *l, yaml_node_t *map, const char *ctx, const char *key,
                        size_t min, size_t max, size_t size, item_parser parse, size_t *n)
{
    char item[FIELD_MAX];
    yaml_node_t *seq = get_list(l, map, ctx, key, min, max, n);
    char *v;
    size_t i;

    if (seq == NULL || *n == 0) {
        *n = 0;
        return NULL;
    }
    v = calloc(*n, size);
    if (v == NULL) {
        complain(l, seq, key, "out of memory");
        *n = 0;
        return NULL;
    }
    for (i = 0; i < *n; i++) {
        item_name(item, sizeof(item), ctx, key, i);
        parse(l, list_item(l, seq, i), item, v + i * size);
    }
    return v;
}

/* Reports an id used twice in the list under key: signups name tasks and skills by id. */
static void check_unique_ids(struct loader *l, yaml_node_t *map, const char *key)
{
    yaml_node_t *seq = yamldoc_get(l->yd, map, key);
    char field[FIELD_MAX];
    size_t n, i, j;

    if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
        return;
    n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    for (i = 0; i < n; i++) {
        yaml_node_t *id = yamldoc_get(l->yd, list_item(l, seq, i), "id");
        const char *s = yamldoc_scalar(id);

        for (j = 0; s != NULL && j < i; j++) {
            yaml_node_t *prev = yamldoc_get(l->yd, list_item(l, seq, j), "id");
            const char *ps = yamldoc_scalar(prev);

            if (ps != NULL && strcmp(ps, s) == 0) {
                snprintf(field, sizeof(field), "%s[%zu].id", key, i);
                complain(l, id, field, "duplicate id \"%s\" (first at line %lu)", s,
                         yamldoc_line(prev));
                break;
            }
        }
    }
}

static void parse_threshold(struct loader *l, yaml_node_t *item, const char *ctx, void *out)
{
    struct risk_threshold *t = out;

    /* Unparsed stays NaN, which equals nothing in the duplicate and zero checks. */
    t->min_score = NAN;
    if (!is_mapping(l, item, ctx))
        return;
    check_keys(l, item, threshold_keys, ctx);
    if (get_score(l, item, ctx, "min_score", &t->min_score) == -1)
        t->min_score = NAN;
    t->label = get_text(l, item, ctx, "label");
}

static int threshold_cmp_desc(const void *a, const void *b)
{
    const struct risk_threshold *x = a, *y = b;

    return (x->min_score < y->min_score) - (x->min_score > y->min_score);
}

/* Every score needs a label, so one band starts at 0; two bands cannot start at one score. */
static void check_thresholds(struct loader *l, yaml_node_t *scoring, struct role *role)
{
    yaml_node_t *seq = yamldoc_get(l->yd, scoring, "risk_levels");
    char field[FIELD_MAX];
    int has_zero = 0;
    size_t i, j;

    for (i = 0; i < role->nthresholds; i++) {
        double m = role->thresholds[i].min_score;

        if (m == SCORE_LOWEST)
            has_zero = 1;
        for (j = 0; j < i; j++) {
            if (role->thresholds[j].min_score == m) {
                snprintf(field, sizeof(field), "scoring.risk_levels[%zu].min_score", i);
                complain(l, yamldoc_get(l->yd, list_item(l, seq, i), "min_score"), field,
                         "duplicate min_score %g (also risk_levels[%zu])", m, j);
                break;
            }
        }
    }
    if (role->nthresholds > 0 && !has_zero)
        complain(l, seq, "scoring.risk_levels",
                 "needs a level with min_score 0, so that every score gets a label");
}

static void parse_scoring(struct loader *l, yaml_node_t *root, struct role *role)
{
    const char *ctx = "scoring";
    yaml_node_t *scoring = require(l, root, "", ctx);
    yaml_node_t *weights;
    int before = l->d->count;
    int e;

    if (scoring == NULL || !is_mapping(l, scoring, ctx))
        return;
    check_keys(l, scoring, scoring_keys, ctx);
    weights = require(l, scoring, ctx, "exposure_weights");
    if (weights != NULL && is_mapping(l, weights, "scoring.exposure_weights")) {
        check_keys(l, weights, exposure_names, "scoring.exposure_weights");
        for (e = 0; e < EXPOSURE_COUNT; e++)
            get_score(l, weights, "scoring.exposure_weights", exposure_names[e],
                      &role->exposure_weight[e]);
    }
    role->thresholds = parse_list(l, scoring, ctx, "risk_levels", 1, ROLE_MAX_THRESHOLDS,
                                  sizeof(*role->thresholds), parse_threshold, &role->nthresholds);
    check_thresholds(l, scoring, role);
    if (l->d->count == before)
        qsort(role->thresholds, role->nthresholds, sizeof(*role->thresholds), threshold_cmp_desc);
}

static void parse_strategies(struct loader *l, yaml_node_t *map, const char *ctx,
                             struct role_level *level)
{
    char field[FIELD_MAX];
    yaml_node_t *seq;
    size_t n, i;

    seq = get_list(l, map, ctx, "strategies", 1, ROLE_MAX_STRATEGIES, &n);
    if (seq == NULL)
        return;
    level->strategies = calloc(n, sizeof(*level->strategies));
    if (level->strategies == NULL) {
        complain(l, seq, ctx, "out of memory");
        return;
    }
    level->nstrategies = n;
    for (i = 0; i < n; i++) {
        yaml_node_t *item = list_item(l, seq, i);
        const char *s;

        item_name(field, sizeof(field), ctx, "strategies", i);
        s = text_of(l, item, field);
        if (s != NULL)
            level->strategies[i] = copy_text(l, item, field, s);
    }
}

static void parse_level(struct loader *l, yaml_node_t *item, const char *ctx, void *out)
{
    struct role_level *level = out;

    if (!is_mapping(l, item, ctx))
        return;
    check_keys(l, item, level_keys, ctx);
    level->id = get_id(l, item, ctx);
    level->title = get_text(l, item, ctx, "title");
    level->summary = get_text(l, item, ctx, "summary");
    parse_strategies(l, item, ctx, level);
}

static void parse_task(struct loader *l, yaml_node_t *item, const char *ctx, void *out)
{
    struct role_task *task = out;
    int e;

    if (!is_mapping(l, item, ctx))
        return;
    check_keys(l, item, task_keys, ctx);
    task->id = get_id(l, item, ctx);
    task->title = get_text(l, item, ctx, "title");
    e = get_enum(l, item, ctx, "exposure", exposure_names);
    task->exposure = e >= 0 ? (enum exposure)e : EXPOSURE_LOW;
    task->rationale = get_text(l, item, ctx, "rationale");
    task->advice = get_text(l, item, ctx, "advice");
}

static void parse_skill(struct loader *l, yaml_node_t *item, const char *ctx, void *out)
{
    struct role_skill *skill = out;
    int o;

    if (!is_mapping(l, item, ctx))
        return;
    check_keys(l, item, skill_keys, ctx);
    skill->id = get_id(l, item, ctx);
    skill->name = get_text(l, item, ctx, "name");
    o = get_enum(l, item, ctx, "outlook", outlook_names);
    skill->outlook = o >= 0 ? (enum outlook)o : OUTLOOK_VULNERABLE;
    skill->rationale = get_text(l, item, ctx, "rationale");
}

static int tasks_broken(const struct role *role)
{
    size_t i;

    for (i = 0; i < role->ntasks; i++)
        if (role->tasks[i].id == NULL)
            return 1;
    return 0;
}

/* A typical-mix share: a whole percent, 1 to 100; 0, or -1 (reported). */
static int get_mix_share(struct loader *l, const yaml_node_t *node, const char *field, int *out)
{
    const char *s = yamldoc_scalar(node);
    double v;

    if (s == NULL || !yamldoc_is_plain(node) || parse_number(s, &v) == -1 || v != floor(v) ||
        v < 1 || v > SCORE_HIGHEST) {
        complain(l, node, field, "expected a whole percent from 1 to 100, found %s%s%s",
                 s ? "\"" : "", s ? s : yamldoc_type_name(node), s ? "\"" : "");
        return -1;
    }
    *out = (int)v;
    return 0;
}

/*
 * The level's typical mix, read once the tasks are known: every key names a
 * task of this role, and the shares add up to exactly 100, so the typical
 * score the report compares a person with is computed from what is shown.
 */
static void parse_mix(struct loader *l, yaml_node_t *levels, size_t i, struct role *role)
{
    struct role_level *level = &role->levels[i];
    char ctx[FIELD_MAX], field[FIELD_MAX + ROLE_ID_MAX + 2];
    yaml_node_t *item = list_item(l, levels, i), *mix;
    yaml_node_pair_t *p;
    int total = 0, bad = 0;
    size_t n;

    if (item == NULL || item->type != YAML_MAPPING_NODE)
        return;
    snprintf(ctx, sizeof(ctx), "levels[%zu]", i);
    mix = require(l, item, ctx, "typical_mix");
    snprintf(ctx, sizeof(ctx), "levels[%zu].typical_mix", i);
    if (mix == NULL || !is_mapping(l, mix, ctx))
        return;
    n = (size_t)(mix->data.mapping.pairs.top - mix->data.mapping.pairs.start);
    if (n == 0) {
        complain(l, mix, ctx, "needs at least 1 task");
        return;
    }
    level->mix = calloc(n, sizeof(*level->mix));
    if (level->mix == NULL) {
        complain(l, mix, ctx, "out of memory");
        return;
    }
    for (p = mix->data.mapping.pairs.start; p < mix->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yamldoc_node(l->yd, p->key), *vn = yamldoc_node(l->yd, p->value);
        const char *id = yamldoc_scalar(kn);
        const struct role_task *task = id ? role_find_task(role, id) : NULL;
        size_t j;
        int share;

        snprintf(field, sizeof(field), "%s.%.*s", ctx, ROLE_ID_MAX, id ? id : "?");
        if (task == NULL) {
            /* A task with a broken id was reported already; the mix may well name it. */
            if (!tasks_broken(role))
                complain(l, kn, ctx, "\"%s\" is not a task of this role (see tasks:)",
                         id ? id : "?");
            bad = 1;
            continue;
        }
        for (j = 0; j < level->nmix; j++)
            if (level->mix[j].task == task)
                break;
        if (j < level->nmix) {
            complain(l, kn, ctx, "task \"%s\" is listed twice", id);
            bad = 1;
            continue;
        }
        if (get_mix_share(l, vn, field, &share) == -1) {
            bad = 1;
            continue;
        }
        level->mix[level->nmix].task = task;
        level->mix[level->nmix++].share = share;
        total += share;
    }
    if (!bad && total != (int)SCORE_HIGHEST)
        complain(l, mix, ctx, "shares add up to %d; a typical mix covers the whole week (100)",
                 total);
}

static void parse_mixes(struct loader *l, yaml_node_t *root, struct role *role)
{
    yaml_node_t *levels = yamldoc_get(l->yd, root, "levels");
    size_t i;

    if (levels == NULL || levels->type != YAML_SEQUENCE_NODE)
        return;
    for (i = 0; i < role->nlevels; i++)
        parse_mix(l, levels, i, role);
}

static void parse_role(struct loader *l, struct role *role)
{
    yaml_node_t *root = yamldoc_root(l->yd);

    if (root == NULL) {
        diag_at(l->d, l->yd->name, 1, 1, "empty file: expected a role (title, scoring, ...)");
        return;
    }
    if (!is_mapping(l, root, "role"))
        return;
    check_keys(l, root, role_keys, "");
    role->title = get_text(l, root, "", "title");
    parse_scoring(l, root, role);
    role->levels = parse_list(l, root, "", "levels", 1, ROLE_MAX_LEVELS, sizeof(*role->levels),
                              parse_level, &role->nlevels);
    check_unique_ids(l, root, "levels");
    {
        yaml_node_t *levels = yamldoc_get(l->yd, root, "levels");

        role->levels_line = yamldoc_line(levels ? levels : root);
        role->levels_column = yamldoc_column(levels ? levels : root);
    }
    /* Without tasks there is nothing to score. */
    role->tasks = parse_list(l, root, "", "tasks", 1, ROLE_MAX_TASKS, sizeof(*role->tasks),
                             parse_task, &role->ntasks);
    check_unique_ids(l, root, "tasks");
    if (role->tasks != NULL)
        parse_mixes(l, root, role);
    role->skills = parse_list(l, root, "", "skills", 0, ROLE_MAX_SKILLS, sizeof(*role->skills),
                              parse_skill, &role->nskills);
    check_unique_ids(l, root, "skills");
}

static char *path_join(const char *dir, const char *id, const char *suffix)
{
    size_t n = strlen(dir) + 1 + strlen(id) + strlen(suffix) + 1;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s/%s%s", dir, id, suffix);
    return p;
}

void role_file_load(struct role *role, const char *dir, char *id, struct diag *d)
{
    char err[ERRLEN];
    struct yamldoc yd;
    struct loader l = {&yd, d};

    role->id = id;
    role->file = path_join(dir, id, ROLE_FILE_SUFFIX);
    if (role->file == NULL) {
        diag_add(d, "%s/%s%s: out of memory", dir, id, ROLE_FILE_SUFFIX);
        return;
    }
    if (!valid_id(id))
        diag_at(d, role->file, 1, 1,
                "the file name makes the role id \"%s\", which is not an id (1 to %d characters "
                "of a-z, 0-9 and -)",
                id, ROLE_ID_MAX);
    if (yamldoc_load_file(&yd, role->file, err) == -1) {
        diag_add(d, "%s", err);
        return;
    }
    parse_role(&l, role);
    yamldoc_free(&yd);
}

const char *exposure_name(enum exposure e)
{
    return (unsigned)e < EXPOSURE_COUNT ? exposure_names[e] : "unknown";
}

const char *outlook_name(enum outlook o)
{
    return (unsigned)o < NELEM(outlook_names) - 1 ? outlook_names[o] : "unknown";
}
