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

int runtime_load(struct runtime *rt, const char *config_path, struct diag *d)
{
    if (runtime_load_data(rt, config_path, d) == -1)
        return -1;
    if (templates_load(&rt->templates, rt->config.templates_dir, d) == -1) {
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
