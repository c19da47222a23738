/*
 * roles.h - the exposure data operators edit: one YAML file per role in the
 * roles directory (config/roles/backend-developer.yaml), giving the role's
 * levels, tasks, skills, strategies and the scoring weights and thresholds.
 *
 * Loaded once at start and on reload; every problem in every file is
 * reported with file:line:column.
 */
#ifndef REPORTD_ROLES_H
#define REPORTD_ROLES_H

#include <stddef.h>

#include "util.h"

/* Ids are short slugs a website puts in a form: [a-z0-9-], this long at most. */
#define ROLE_ID_MAX 64
/* A role with more tasks or skills than this is a data-entry mistake. */
#define ROLE_MAX_TASKS  128
#define ROLE_MAX_SKILLS 128
#define ROLE_MAX_LEVELS 16

enum exposure { EXPOSURE_LOW, EXPOSURE_MEDIUM, EXPOSURE_HIGH, EXPOSURE_COUNT };
enum outlook { OUTLOOK_VULNERABLE, OUTLOOK_RESILIENT };

struct role_task {
    char *id;
    char *title;
    enum exposure exposure;
    char *rationale;
    char *advice; /* what a person who does this task can do about it */
};

struct role_skill {
    char *id;
    char *name;
    enum outlook outlook;
    char *rationale;
};

/* One task of a level's typical mix and its whole-percent share of the time. */
struct role_mix_item {
    const struct role_task *task;
    int share;
};

struct role_level {
    char *id;      /* junior, mid, senior, lead */
    char *title;   /* "Lead" */
    char *summary; /* why, in a sentence or two */
    char **strategies;
    size_t nstrategies;
    /*
     * What a typical person at this level spends their time on (what the
     * site's general page describes): shares add up to exactly 100.
     */
    struct role_mix_item *mix;
    size_t nmix;
};

/* A score of at least min_score earns label; thresholds sorted high to low. */
struct risk_threshold {
    double min_score;
    char *label;
};

struct role {
    char *id; /* the file name without .yaml */
    char *file;
    char *title;
    double exposure_weight[EXPOSURE_COUNT]; /* 0-100, indexed by enum exposure */
    struct risk_threshold *thresholds;
    size_t nthresholds;
    struct role_level *levels;
    size_t nlevels;
    struct role_task *tasks;
    size_t ntasks;
    struct role_skill *skills;
    size_t nskills;
    unsigned long levels_line, levels_column; /* where "levels:" is, for cross-role messages */
};

struct roles {
    struct role *v;
    size_t n;
};

/*
 * Loads every *.yaml in dir.  Any other file there (a role.yml, a backup)
 * is an error, as is a role without a level another role has.  0, or -1
 * with every problem in d.
 */
int roles_load(struct roles *r, const char *dir, struct diag *d);
void roles_free(struct roles *r);

const struct role *roles_find(const struct roles *r, const char *id);
const struct role_level *role_find_level(const struct role *role, const char *id);
const struct role_task *role_find_task(const struct role *role, const char *id);
const struct role_skill *role_find_skill(const struct role *role, const char *id);

const char *exposure_name(enum exposure e); /* "high" */
const char *outlook_name(enum outlook o);   /* "vulnerable" */

#endif
