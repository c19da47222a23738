/* runtime.c - config, roles and templates, loaded and used together. */
#include "runtime.h"

#include <string.h>

#include "report.h"

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
 * Sample signups for trial renders, at one level of a role: a full one (a
 * name, every task and skill, years) and a bare one (none of those), so that
 * both sides of the templates' {{#...}}/{{^...}} sections are rendered.
 */
static int sample_signup(struct signup *s, const struct role *role, const struct role_level *level,
                         int full)
{
    size_t i;

    signup_init(s);
    s->email = strdup("sample@example.com");
    s->role = strdup(role->id);
    s->level = strdup(level->id);
    if (!s->email || !s->role || !s->level)
        return -1;
    if (!full)
        return 0;
    s->name = strdup("Sample Subscriber");
    if (s->name == NULL)
        return -1;
    for (i = 0; i < role->ntasks; i++)
        if (signup_add_task(s, role->tasks[i].id, 0, 0) == -1)
            return -1;
    for (i = 0; i < role->nskills; i++)
        if (signup_add_skill(s, role->skills[i].id) == -1)
            return -1;
    s->years = 1;
    s->has_years = 1;
    return 0;
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
    int full;

    for (i = 0; i < rt->roles.n; i++) {
        const struct role *role = &rt->roles.v[i];

        for (j = 0; j < role->nlevels; j++) {
            for (full = 0; full <= 1; full++) {
                struct signup s;
                struct rendered out;

                rendered_init(&out);
                if (sample_signup(&s, role, &role->levels[j], full) == -1)
                    diag_add(d, "%s: out of memory making a sample signup",
                             rt->config.templates_dir);
                else if (runtime_render(rt, &s, &out, err) != RENDER_OK)
                    diag_add(
                        d, "%s: rendering a sample report (%s) for role %s, level %s failed: %s",
                        rt->config.templates_dir, full ? "every field" : "required fields only",
                        role->id, role->levels[j].id, err);
                rendered_free(&out);
                signup_free(&s);
            }
        }
    }
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
    trial_render(rt, d);
    if (d->count > before) {
        runtime_free(rt);
        return -1;
    }
    return 0;
}

void runtime_free(struct runtime *rt)
{
    templates_free(rt->templates);
    roles_free(&rt->roles);
    config_free(&rt->config);
    runtime_zero(rt);
}

enum render_result runtime_render(const struct runtime *rt, const struct signup *s,
                                  struct rendered *out, char *err)
{
    struct report report;
    struct value *ctx;
    int rc;

    if (signup_validate(s, &rt->roles, err) == -1)
        return RENDER_INVALID;
    if (report_build(&report, s, &rt->roles, err) == -1)
        return RENDER_ERROR;
    ctx = report_to_value(&report);
    /* Where a subscriber's reply goes, for the templates' closing line. */
    if (ctx && value_map_set(ctx, "contact",
                             value_string(rt->config.reply_to ? rt->config.reply_to
                                                              : rt->config.from_address)) == -1) {
        value_free(ctx);
        ctx = NULL;
    }
    if (ctx == NULL) {
        report_free(&report);
        errf(err, "signup %lld: out of memory building the report", (long long)s->id);
        return RENDER_ERROR;
    }
    rc = templates_render(rt->templates, ctx, out, err);
    value_free(ctx);
    report_free(&report);
    return rc == 0 ? RENDER_OK : RENDER_ERROR;
}
