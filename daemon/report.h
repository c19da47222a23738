/*
 * report.h - the personal report model: what one subscriber's report says,
 * computed from their signup and the role data.  Pure functions, no I/O.
 *
 * Shares of time are shown as the person gave them: never rescaled.  Tasks
 * listed without a share split the time the given shares leave (marked
 * assumed); time that listed shares leave uncovered is "other work, not
 * assessed".  Someone who listed no tasks gets their level's typical mix,
 * and is told so.  The shown whole percentages add up to 100 (largest
 * remainder), and the score is computed from exactly those numbers: the
 * exposure weight averaged over the assessed time.
 */
#ifndef REPORTD_REPORT_H
#define REPORTD_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "roles.h"
#include "signup.h"
#include "value.h"

/* Advice about the person's own work covers this many of their most exposed tasks. */
#define REPORT_ADVICE_TASKS 3
/* Scores this close to the typical one are "close": the data is not more precise than that. */
#define REPORT_CLOSE_POINTS 5
/* Below this share of assessed time the report says how little the score covers. */
#define REPORT_FEW_ASSESSED 50
/* People who listed no skills see this many of the role's skills per outlook, not all. */
#define REPORT_ROLE_SKILLS_SHOWN 3
/* Room for the sentence relating the person's score to their level's. */
#define REPORT_SENTENCE_MAX 512

enum share_basis {
    SHARE_GIVEN,   /* the person gave it */
    SHARE_ASSUMED, /* listed without a share: an even part of the time not given */
    SHARE_TYPICAL, /* no tasks listed: the level's typical mix */
};

struct report_task {
    const struct role_task *task;
    double share; /* percent of the person's whole time */
    enum share_basis basis;
    int pct; /* the whole percent shown */
};

struct report {
    const struct role *role;
    const struct role_level *level;
    const char *email;
    const char *name; /* as given; NULL when not given */
    int has_years;
    double years;
    int64_t created_ms; /* when they asked; 0 when unknown */

    struct report_task *tasks; /* in the order shown: largest share first */
    size_t ntasks;
    int tasks_given;    /* 0: the level's typical mix stands in */
    double other_share; /* time the listed shares leave: other work, not assessed */
    int other_pct;

    int score;              /* 0-100, from the shown percentages */
    const char *risk_label; /* from the role's thresholds */
    size_t band;            /* index of that threshold, 0 the highest */
    int typical_score;      /* the level's typical mix, scored the same way */
    const char *typical_label;
    size_t typical_band;
    size_t exposure_count[EXPOSURE_COUNT];

    /* The person's most exposed tasks by exposed time, for the advice: indexes into tasks. */
    size_t advice[REPORT_ADVICE_TASKS];
    size_t nadvice;

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
 * Whole numbers that add up to total, each the floor of x[i] or one more:
 * the largest remainders get the extra units (ties to the lower index).
 * x must add up to total.
 */
void report_largest_remainder(const double *x, size_t n, int total, int *out);

/*
 * The score of whole-percent shares pct[i] of tasks with exposures e[i]:
 * sum of pct x weight over sum of pct, rounded half up; 0 when the shares
 * are all 0.
 */
int report_score(const struct role *role, const int *pct, const enum exposure *e, size_t n);

/* The risk band (index into role->thresholds) a score falls in. */
size_t report_band(const struct role *role, int score);

/*
 * One or two sentences relating the person's score to the typical score at
 * their level, and why they differ.
 */
void report_comparison(const struct report *r, char *out, size_t outlen);

/*
 * The parts of the template context that depend on a role alone (each of
 * its skills, its skill lists, its own map), made once for every role when
 * the roles are loaded.  Every report's context then points to them: they
 * are never written again, so renderings on any thread share them.  It
 * points into roles, which must outlive it.  NULL on allocation failure.
 */
struct report_shared;
struct report_shared *report_shared_new(const struct roles *roles);
void report_shared_free(struct report_shared *sh);

/*
 * The template context for the report, built in a, with the role's parts
 * from sh (or built in a too when sh is NULL or does not know the role);
 * see README "Template variables" for every key.  It points into the roles
 * data (titles, rationales), which must outlive a.  NULL on allocation
 * failure.
 */
struct value *report_to_value(const struct report *r, const struct report_shared *sh,
                              struct arena *a);

#endif
