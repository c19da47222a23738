/*
 * report.h - the personal report model: what one subscriber's report says,
 * computed from their signup and the role data.  Pure functions, no I/O.
 *
 * The score is share-weighted: each of the person's tasks contributes its
 * share of their time times its exposure weight (from the role data), so a
 * person who spends most of their time on highly exposed tasks scores high.
 */
#ifndef REPORTD_REPORT_H
#define REPORTD_REPORT_H

#include <stddef.h>

#include "roles.h"
#include "signup.h"
#include "value.h"

struct report_task {
    const struct role_task *task;
    double share;  /* percent of the person's time, the tasks summing to 100 */
    int has_share; /* the person gave it (else it was split evenly) */
};

struct report {
    const struct role *role;
    const struct role_level *level;
    const char *email;
    const char *name; /* NULL when not given */
    int has_years;
    double years;

    struct report_task *tasks; /* the person's tasks, or all the role's */
    size_t ntasks;
    int tasks_given; /* 0 when the person gave none and all are assumed */

    double score;           /* 0-100 */
    int score_rounded;      /* what the report shows */
    const char *risk_label; /* from the role's thresholds */
    size_t exposure_count[EXPOSURE_COUNT];

    const struct role_skill **vulnerable; /* the person's skills, by outlook */
    size_t nvulnerable;
    const struct role_skill **resilient;
    size_t nresilient;
};

/*
 * Builds the model for a signup that passed signup_validate().  Returns 0,
 * or -1 with err (an unknown id, out of memory).  The report points into
 * signup and roles, which must outlive it.
 */
int report_build(struct report *r, const struct signup *s, const struct roles *roles, char *err);
void report_free(struct report *r);

/*
 * The template context for the report; see README "Template variables" for
 * every key.  NULL on allocation failure.
 */
struct value *report_to_value(const struct report *r);

#endif
