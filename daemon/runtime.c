/* runtime.c - config, roles and templates, loaded and used together. */
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "report.h"

/* When the sample reports were asked for: any fixed time renders a date. */
#define SAMPLE_CREATED_MS 1767225600000LL

enum sample_kind {
    SAMPLE_BARE,    /* required fields only */
    SAMPLE_FULL,    /* a name, every task (one with a share), every skill, years */
    SAMPLE_PARTIAL, /* shares that leave time unassessed */
    SAMPLE_KINDS
};

static const char *const sample_names[SAMPLE_KINDS] = {"required fields only", "every field",
                                                       "shares leaving other work"};

static void runtime_zero(struct runtime *rt)
{
    memset(rt, 0, sizeof(*rt));
}

int runtime_load_data(struct runtime *rt, const char *config_path, struct diag *d)
{
    runtime_zero(rt);
    if (config_load(&rt->config, config_path, d) == -1)
        return -1;
    if (roles_load(&rt->roles, rt->config.roles_dir, d) == -1) {
        config_free(&rt->config);
        return -1;
    }
    return 0;
}

/*
 * Sample signups for trial renders and send-test, at one level of a role,
 * so that both sides of the templates' {{#...}}/{{^...}} sections render.
 */
static int sample_signup(struct signup *s, const struct role *role, const struct role_level *level,
                         enum sample_kind kind)
{
    size_t i;

    signup_init(s);
    s->email = strdup("sample@example.com");
    s->role = strdup(role->id);
    s->level = strdup(level->id);
    s->created_ms = SAMPLE_CREATED_MS;
    if (!s->email || !s->role || !s->level)
        return -1;
    if (kind == SAMPLE_BARE)
        return 0;
    s->name = strdup("Dr. Sample Subscriber");
    if (s->name == NULL)
        return -1;
    for (i = 0; i < role->ntasks; i++) {
        /* Partial: every task a 5% share; full: the first 30%, the rest assumed. */
        int has = kind == SAMPLE_PARTIAL || i == 0;
        double share = kind == SAMPLE_PARTIAL ? 5 : 30;

        if (signup_add_task(s, role->tasks[i].id, has ? share : 0, has) == -1)
            return -1;
    }
    for (i = 0; kind == SAMPLE_FULL && i < role->nskills; i++)
        if (signup_add_skill(s, role->skills[i].id) == -1)
            return -1;
    s->years = 7;
    s->has_years = 1;
    return 0;
}

int runtime_sample_signup(struct signup *s, const struct role *role, const struct role_level *level)
{
    return sample_signup(s, role, level, SAMPLE_FULL);
}

/*
 * Renders a sample report for every role and level once, at load: some
 * template mistakes (a partial that includes itself) only show when
 * rendering, and they must stop check-config and a reload, not every send.
 */
static void trial_render(const struct runtime *rt, struct diag *d)
{
    char err[ERRLEN];
    size_t i, j;
    int kind;

    for (i = 0; i < rt->roles.n; i++) {
        const struct role *role = &rt->roles.v[i];

        for (j = 0; j < role->nlevels; j++) {
            for (kind = 0; kind < SAMPLE_KINDS; kind++) {
                struct signup s;
                struct rendered out;

                rendered_init(&out);
                if (sample_signup(&s, role, &role->levels[j], (enum sample_kind)kind) == -1)
                    diag_add(d, "%s: out of memory making a sample signup",
                             rt->config.templates_dir);
                else if (runtime_render(rt, &s, &out, err) != RENDER_OK)
                    diag_add(d,
                             "%s: rendering a sample report (%s) for role %s, level %s failed: %s",
                             rt->config.templates_dir, sample_names[kind], role->id,
                             role->levels[j].id, err);
                rendered_free(&out);
                signup_free(&s);
            }
        }
    }
}

/*
 * Checks the templates' names against a full sample report of the first
 * role: every report has the same names (report_value.c sets them all), and
 * this sample has an item in every list.
 */
static void check_names(const struct runtime *rt, struct diag *d)
{
    const struct role *role = &rt->roles.v[0];
    struct signup s;
    struct report report;
    struct value *ctx = NULL;
    struct arena a;
    char err[ERRLEN];

    arena_init(&a);
    if (sample_signup(&s, role, &role->levels[0], SAMPLE_FULL) == 0 &&
        report_build(&report, &s, &rt->roles, err) == 0) {
        ctx = runtime_context(rt, &report, &a);
        report_free(&report);
    }
    if (ctx == NULL)
        diag_add(d, "%s: out of memory checking the templates", rt->config.templates_dir);
    else
        templates_check(rt->templates, ctx, d);
    arena_free(&a);
    signup_free(&s);
}

int runtime_load(struct runtime *rt, const char *config_path, struct diag *d)
{
    int before = d->count;

    if (runtime_load_data(rt, config_path, d) == -1)
        return -1;
    if (templates_load(&rt->templates, rt->config.templates_dir, d) == -1) {
        runtime_free(rt);
        return -1;
    }
    rt->shared = report_shared_new(&rt->roles);
    if (rt->shared == NULL) {
        diag_add(d, "%s: out of memory", rt->config.roles_dir);
        runtime_free(rt);
        return -1;
    }
    if (d->count == before)
        check_names(rt, d);
    if (d->count == before)
        trial_render(rt, d);
    if (d->count > before) {
        runtime_free(rt);
        return -1;
    }
    return 0;
}

void runtime_free(struct runtime *rt)
{
    report_shared_free(rt->shared);
    templates_free(rt->templates);
    roles_free(&rt->roles);
    config_free(&rt->config);
    runtime_zero(rt);
}

/* analysis_url with {role} and {level} replaced by the ids (URL-safe: a-z, 0-9, -). */
static struct value *analysis_link(struct arena *a, const struct config *c, const struct report *r)
{
    const char *p = c->analysis_url ? c->analysis_url : c->site_url;
    struct buf b;
    struct value *v;

    if (p == NULL)
        return value_string_ref(a, "");
    buf_init(&b);
    while (*p) {
        /* The text up to the next brace goes as it is. */
        size_t plain = strcspn(p, "{");

        buf_append(&b, p, plain);
        p += plain;
        if (strncmp(p, "{role}", 6) == 0) {
            buf_puts(&b, r->role->id);
            p += 6;
        } else if (strncmp(p, "{level}", 7) == 0) {
            buf_puts(&b, r->level->id);
            p += 7;
        } else if (*p != '\0') {
            buf_putc(&b, (unsigned char)*p++);
        }
    }
    v = buf_failed(&b) ? NULL : value_stringn(a, buf_str(&b), b.len);
    buf_free(&b);
    return v;
}

static struct value *site_value(struct arena *a, const struct config *c, const struct report *r)
{
    struct value *v = value_map(a);
    const char *contact = c->reply_to ? c->reply_to : c->from_address;
    const char *deletion = c->deletion ? c->deletion : contact;
    int by_url = strncmp(deletion, "http", 4) == 0;
    int rc = 0;

    /* The config outlives every rendering: its strings are referred to, not copied. */
    rc |= value_map_add(v, "name", value_string_ref(a, c->site_name ? c->site_name : ""));
    rc |= value_map_add(v, "url", value_string_ref(a, c->site_url ? c->site_url : ""));
    rc |= value_map_add(v, "has_url", value_bool(a, c->site_url != NULL));
    rc |= value_map_add(v, "analysis_url", analysis_link(a, c, r));
    rc |= value_map_add(v, "has_analysis_url", value_bool(a, c->analysis_url || c->site_url));
    rc |= value_map_add(v, "deletion", value_string_ref(a, deletion));
    rc |= value_map_add(v, "deletion_url", value_bool(a, by_url));
    rc |= value_map_add(v, "deletion_address", value_bool(a, !by_url));
    return rc == 0 ? v : NULL;
}

struct value *runtime_context(const struct runtime *rt, const struct report *r, struct arena *a)
{
    struct value *ctx = report_to_value(r, rt->shared, a);
    const struct config *c = &rt->config;

    /* Where a subscriber's reply goes, for the templates' closing line. */
    if (ctx &&
        (value_map_set(ctx, "contact",
                       value_string_ref(a, c->reply_to ? c->reply_to : c->from_address)) == -1 ||
         value_map_set(ctx, "site", site_value(a, c, r)) == -1))
        ctx = NULL;
    return ctx;
}

enum render_result runtime_render(const struct runtime *rt, const struct signup *s,
                                  struct rendered *out, char *err)
{
    struct report report;
    struct value *ctx;
    struct arena a;
    int rc;

    if (signup_validate(s, &rt->roles, err) == -1)
        return RENDER_INVALID;
    if (report_build(&report, s, &rt->roles, err) == -1)
        return RENDER_ERROR;
    /* One arena per rendering: the whole context goes with one free per block. */
    arena_init(&a);
    ctx = runtime_context(rt, &report, &a);
    if (ctx == NULL) {
        arena_free(&a);
        report_free(&report);
        errf(err, "signup %lld: out of memory building the report", (long long)s->id);
        return RENDER_ERROR;
    }
    rc = templates_render(rt->templates, ctx, out, err);
    arena_free(&a);
    report_free(&report);
    return rc == 0 ? RENDER_OK : RENDER_ERROR;
}

enum render_result runtime_message(const struct runtime *rt, const struct signup *s,
                                   int64_t date_ms, struct message *m, char *err)
{
    struct rendered out;
    enum render_result rc;

    rendered_init(&out);
    rc = runtime_render(rt, s, &out, err);
    /* A validated signup makes a valid message: a failure here is ours (memory). */
    if (rc == RENDER_OK && message_build(m, &rt->config, s, &out, date_ms, err) == -1)
        rc = RENDER_ERROR;
    rendered_free(&out);
    return rc;
}
