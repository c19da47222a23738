/*
 * runtime.h - everything reportd loads before it can render a report: the
 * config, the roles data and the compiled templates.  They are loaded and
 * checked together (check-config, start-up, SIGHUP), so a reload either
 * replaces all three or none.
 */
#ifndef REPORTD_RUNTIME_H
#define REPORTD_RUNTIME_H

#include "config.h"
#include "message.h"
#include "report.h"
#include "roles.h"
#include "signup.h"
#include "templates.h"
#include "util.h"

struct report_shared;

struct runtime {
    struct config config;
    struct roles roles;
    struct templates *templates;
    struct report_shared *shared; /* the roles' parts of every report's context (report.h) */
};

/* Loads config_path, then the roles and templates it names.  0, or -1 with every problem in d. */
int runtime_load(struct runtime *rt, const char *config_path, struct diag *d);
/* Loads only the config and the roles: what enqueue needs to validate. */
int runtime_load_data(struct runtime *rt, const char *config_path, struct diag *d);
void runtime_free(struct runtime *rt);

enum render_result {
    RENDER_OK = 0,
    RENDER_INVALID = 1, /* the signup is bad: err names the field */
    RENDER_ERROR = -1,  /* ours (out of memory): try again later */
};

/* Validates s, builds its report and renders it into out (initialized by the caller). */
enum render_result runtime_render(const struct runtime *rt, const struct signup *s,
                                  struct rendered *out, char *err);

/*
 * Renders s's report and builds it into the message m, dated date_ms: what
 * the daemon sends, `preview --eml` shows and `send-test` sends.  On
 * anything but RENDER_OK, m holds nothing.
 */
enum render_result runtime_message(const struct runtime *rt, const struct signup *s,
                                   int64_t date_ms, struct message *m, char *err);

/*
 * The template context of a report, built in a: the report model plus the
 * site and contact from the config.  NULL on allocation failure.
 */
struct value *runtime_context(const struct runtime *rt, const struct report *r, struct arena *a);

/*
 * A sample signup at one level of a role: a name, every task (the first
 * with a share, the rest assumed), every skill, years.  What check-config
 * renders and `reportd send-test` sends.  -1 on allocation failure (free
 * s with signup_free either way).
 */
int runtime_sample_signup(struct signup *s, const struct role *role,
                          const struct role_level *level);

#endif
