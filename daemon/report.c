/*
 * report.c - one subscriber's report: which tasks are theirs and what share
 * of their time each takes, the share-weighted exposure score and its risk
 * label, their skills by outlook, and the template context built from all
 * of it.  No I/O: everything comes from the signup and the role data.
 */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shares and scores are percentages. */
#define PERCENT 100.0
/*
 * Shares such as 100/3 are inexact, so a score that is 49.5 on paper can be
 * computed as 49.4999999; rounding adds this much so it still shows as 50.
 */
#define ROUND_EPSILON 1e-9
/* Room for the longest exposure summary sentence. */
#define SUMMARY_MAX 96

static const char *const exposure_labels[EXPOSURE_COUNT] = {"Low", "Medium", "High"};

/* --- the model ----------------------------------------------------------- */

static int pick_tasks(struct report *r, const struct signup *s, char *err)
{
    const struct role *role = r->role;
    size_t i;

    r->tasks_given = s->ntasks > 0;
    r->ntasks = r->tasks_given ? s->ntasks : role->ntasks;
    if (r->ntasks == 0)
        return 0;
    r->tasks = calloc(r->ntasks, sizeof(*r->tasks));
    if (r->tasks == NULL)
        return errf(err, "tasks: out of memory");
    if (!r->tasks_given) {
        for (i = 0; i < r->ntasks; i++)
            r->tasks[i].task = &role->tasks[i];
        return 0;
    }
    for (i = 0; i < r->ntasks; i++) {
        r->tasks[i].task = role_find_task(role, s->tasks[i].id);
        if (r->tasks[i].task == NULL)
            return errf(err, "tasks: \"%s\" is not a task of role \"%s\"", s->tasks[i].id,
                        role->id);
        r->tasks[i].has_share = s->tasks[i].has_share;
        r->tasks[i].share = s->tasks[i].has_share ? s->tasks[i].share : 0.0;
    }
    return 0;
}

/* Tasks without a share split what the given shares leave of 100 evenly. */
static void split_remainder(struct report_task *t, size_t n)
{
    double given = 0.0, rest;
    size_t i, unshared = 0;

    for (i = 0; i < n; i++) {
        if (t[i].has_share)
            given += t[i].share;
        else
            unshared++;
    }
    if (unshared == 0)
        return;
    rest = given < PERCENT ? PERCENT - given : 0.0;
    for (i = 0; i < n; i++)
        if (!t[i].has_share)
            t[i].share = rest / (double)unshared;
}

/* Scales the shares to sum to 100: people's estimates rarely add up exactly. */
static void normalize_shares(struct report_task *t, size_t n)
{
    double total = 0.0;
    size_t i;

    for (i = 0; i < n; i++)
        total += t[i].share;
    for (i = 0; i < n; i++)
        t[i].share = total > 0.0 ? t[i].share * PERCENT / total : PERCENT / (double)n;
}

static int round_half_up(double x)
{
    return (int)floor(x + 0.5 + ROUND_EPSILON);
}

/*
 * The label goes with the score the reader sees: a report that shows 60
 * must not call it "Moderate" because the unrounded score was 59.6.
 */
static const char *risk_label_for(const struct role *role, int score)
{
    size_t i;

    for (i = 0; i < role->nthresholds; i++)
        if (score >= role->thresholds[i].min_score)
            return role->thresholds[i].label;
    return role->nthresholds > 0 ? role->thresholds[role->nthresholds - 1].label : "";
}

static void compute_score(struct report *r)
{
    size_t i;

    r->score = 0.0;
    for (i = 0; i < r->ntasks; i++) {
        enum exposure e = r->tasks[i].task->exposure;

        r->score += r->tasks[i].share / PERCENT * r->role->exposure_weight[e];
        r->exposure_count[e]++;
    }
    r->score = fmin(fmax(r->score, 0.0), PERCENT);
    r->score_rounded = round_half_up(r->score);
    r->risk_label = risk_label_for(r->role, r->score_rounded);
}

static int pick_skills(struct report *r, const struct signup *s, char *err)
{
    size_t i;

    if (s->nskills == 0)
        return 0;
    r->vulnerable = calloc(s->nskills, sizeof(const struct role_skill *));
    r->resilient = calloc(s->nskills, sizeof(const struct role_skill *));
    if (r->vulnerable == NULL || r->resilient == NULL)
        return errf(err, "skills: out of memory");
    for (i = 0; i < s->nskills; i++) {
        const struct role_skill *skill = role_find_skill(r->role, s->skills[i]);

        if (skill == NULL)
            return errf(err, "skills: \"%s\" is not a skill of role \"%s\"", s->skills[i],
                        r->role->id);
        if (skill->outlook == OUTLOOK_VULNERABLE)
            r->vulnerable[r->nvulnerable++] = skill;
        else
            r->resilient[r->nresilient++] = skill;
    }
    return 0;
}

int report_build(struct report *r, const struct signup *s, const struct roles *roles, char *err)
{
    memset(r, 0, sizeof(*r));
    r->role = roles_find(roles, s->role);
    if (r->role == NULL)
        return errf(err, "role: unknown role \"%s\"", s->role ? s->role : "");
    r->level = role_find_level(r->role, s->level);
    if (r->level == NULL)
        return errf(err, "level: \"%s\" is not a level of role \"%s\"", s->level ? s->level : "",
                    r->role->id);
    r->email = s->email;
    r->name = s->name;
    r->has_years = s->has_years;
    r->years = s->years;
    if (pick_tasks(r, s, err) == -1 || pick_skills(r, s, err) == -1) {
        report_free(r);
        return -1;
    }
    split_remainder(r->tasks, r->ntasks);
    normalize_shares(r->tasks, r->ntasks);
    compute_score(r);
    return 0;
}

void report_free(struct report *r)
{
    free(r->tasks);
    free(r->vulnerable);
    free(r->resilient);
    memset(r, 0, sizeof(*r));
}

/* --- the template context ------------------------------------------------ */

/*
 * Whole-number shares that still add up to 100 (largest remainder), so that
 * three equal tasks show as 34, 33 and 33 rather than 33 three times.
 */
static int display_shares(const struct report *r, int *pct)
{
    double *frac = calloc(r->ntasks + 1, sizeof(*frac));
    int left = (int)PERCENT;
    size_t i, k;

    if (frac == NULL)
        return -1;
    for (i = 0; i < r->ntasks; i++) {
        double whole = floor(r->tasks[i].share + ROUND_EPSILON);

        pct[i] = (int)whole;
        frac[i] = r->tasks[i].share - whole;
        left -= pct[i];
    }
    for (k = 0; left > 0 && k < r->ntasks; k++, left--) {
        size_t best = 0;

        for (i = 1; i < r->ntasks; i++)
            if (frac[i] > frac[best])
                best = i;
        pct[best]++;
        frac[best] = -1.0;
    }
    free(frac);
    return 0;
}

/* The order tasks are shown in: largest share first, ties as the person listed them. */
static void order_by_share(const int *pct, size_t *order, size_t n)
{
    size_t i, j;

    for (i = 0; i < n; i++) {
        size_t idx = i;

        for (j = i; j > 0 && pct[order[j - 1]] < pct[idx]; j--)
            order[j] = order[j - 1];
        order[j] = idx;
    }
}

static struct value *task_value(const struct report_task *t, int pct)
{
    struct value *v = value_map();
    enum exposure e = t->task->exposure;
    int rc = 0;

    rc |= value_map_set(v, "id", value_string(t->task->id));
    rc |= value_map_set(v, "title", value_string(t->task->title));
    rc |= value_map_set(v, "exposure", value_string(exposure_name(e)));
    rc |= value_map_set(v, "exposure_label", value_string(exposure_labels[e]));
    rc |= value_map_set(v, "exposure_high", value_bool(e == EXPOSURE_HIGH));
    rc |= value_map_set(v, "exposure_medium", value_bool(e == EXPOSURE_MEDIUM));
    rc |= value_map_set(v, "exposure_low", value_bool(e == EXPOSURE_LOW));
    rc |= value_map_set(v, "rationale", value_string(t->task->rationale));
    rc |= value_map_set(v, "share", value_number(pct));
    rc |= value_map_set(v, "share_given", value_bool(t->has_share));
    if (rc != 0) {
        value_free(v);
        return NULL;
    }
    return v;
}

/* "2 of 5 tasks face high exposure", worded for every count. */
static void exposure_summary(size_t high, size_t total, char *out, size_t outlen)
{
    if (total == 1)
        snprintf(out, outlen, "Your task %s high exposure", high ? "faces" : "does not face");
    else if (high == 0)
        snprintf(out, outlen, "None of the %zu tasks face high exposure", total);
    else if (high == total && total == 2)
        snprintf(out, outlen, "Both tasks face high exposure");
    else if (high == total)
        snprintf(out, outlen, "All %zu tasks face high exposure", total);
    else
        snprintf(out, outlen, "%zu of %zu tasks %s high exposure", high, total,
                 high == 1 ? "faces" : "face");
}

static int add_task_counts(struct value *v, const struct report *r, const int *pct)
{
    char summary[SUMMARY_MAX];
    int time_on[EXPOSURE_COUNT] = {0};
    int assumed = 0; /* a share the person left out was split evenly */
    size_t i;
    int rc = 0;

    for (i = 0; i < r->ntasks; i++) {
        time_on[r->tasks[i].task->exposure] += pct[i];
        assumed |= r->tasks_given && !r->tasks[i].has_share;
    }
    exposure_summary(r->exposure_count[EXPOSURE_HIGH], r->ntasks, summary, sizeof(summary));
    rc |= value_map_set(v, "tasks_given", value_bool(r->tasks_given));
    rc |= value_map_set(v, "has_assumed_shares", value_bool(assumed));
    rc |= value_map_set(v, "task_count", value_number((double)r->ntasks));
    rc |= value_map_set(v, "high_count", value_number((double)r->exposure_count[EXPOSURE_HIGH]));
    rc |=
        value_map_set(v, "medium_count", value_number((double)r->exposure_count[EXPOSURE_MEDIUM]));
    rc |= value_map_set(v, "low_count", value_number((double)r->exposure_count[EXPOSURE_LOW]));
    rc |= value_map_set(v, "high_share", value_number(time_on[EXPOSURE_HIGH]));
    rc |= value_map_set(v, "medium_share", value_number(time_on[EXPOSURE_MEDIUM]));
    rc |= value_map_set(v, "low_share", value_number(time_on[EXPOSURE_LOW]));
    rc |= value_map_set(v, "exposure_summary", value_string(summary));
    return rc;
}

static int add_tasks(struct value *v, const struct report *r)
{
    struct value *list = value_list();
    int *pct = calloc(r->ntasks + 1, sizeof(*pct));
    size_t *order = calloc(r->ntasks + 1, sizeof(*order));
    size_t i;
    int rc = -1;

    if (list == NULL || pct == NULL || order == NULL || display_shares(r, pct) == -1)
        goto out;
    order_by_share(pct, order, r->ntasks);
    rc = 0;
    for (i = 0; i < r->ntasks; i++)
        rc |= value_list_push(list, task_value(&r->tasks[order[i]], pct[order[i]]));
    rc |= value_map_set(v, "tasks", list);
    list = NULL;
    rc |= add_task_counts(v, r, pct);
out:
    value_free(list);
    free(pct);
    free(order);
    return rc;
}

static struct value *skill_value(const struct role_skill *s)
{
    struct value *v = value_map();
    int rc = 0;

    rc |= value_map_set(v, "id", value_string(s->id));
    rc |= value_map_set(v, "name", value_string(s->name));
    rc |= value_map_set(v, "outlook", value_string(outlook_name(s->outlook)));
    rc |= value_map_set(v, "vulnerable", value_bool(s->outlook == OUTLOOK_VULNERABLE));
    rc |= value_map_set(v, "resilient", value_bool(s->outlook == OUTLOOK_RESILIENT));
    rc |= value_map_set(v, "rationale", value_string(s->rationale));
    if (rc != 0) {
        value_free(v);
        return NULL;
    }
    return v;
}

static struct value *skill_list(const struct role_skill *const *skills, size_t n)
{
    struct value *list = value_list();
    size_t i;

    for (i = 0; i < n; i++)
        if (value_list_push(list, skill_value(skills[i])) == -1) {
            value_free(list);
            return NULL;
        }
    return list;
}

/* The role's skills with one outlook (or all, when outlook is negative), in role order. */
static struct value *role_skill_list(const struct role *role, int outlook)
{
    struct value *list = value_list();
    size_t i;

    for (i = 0; i < role->nskills; i++) {
        if (outlook >= 0 && role->skills[i].outlook != (enum outlook)outlook)
            continue;
        if (value_list_push(list, skill_value(&role->skills[i])) == -1) {
            value_free(list);
            return NULL;
        }
    }
    return list;
}

static int add_skills(struct value *v, const struct report *r)
{
    int rc = 0;

    rc |= value_map_set(v, "vulnerable_skills", skill_list(r->vulnerable, r->nvulnerable));
    rc |= value_map_set(v, "resilient_skills", skill_list(r->resilient, r->nresilient));
    rc |= value_map_set(v, "has_vulnerable_skills", value_bool(r->nvulnerable > 0));
    rc |= value_map_set(v, "has_resilient_skills", value_bool(r->nresilient > 0));
    rc |= value_map_set(v, "has_skills", value_bool(r->nvulnerable + r->nresilient > 0));
    rc |= value_map_set(v, "role_skills", role_skill_list(r->role, -1));
    rc |= value_map_set(v, "role_vulnerable_skills", role_skill_list(r->role, OUTLOOK_VULNERABLE));
    rc |= value_map_set(v, "role_resilient_skills", role_skill_list(r->role, OUTLOOK_RESILIENT));
    return rc;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* name (trimmed, "" when absent or blank), has_name, first_name (its first word). */
static int add_name(struct value *v, const char *name)
{
    const char *start = name ? name : "";
    size_t len, first;
    int rc = 0;

    while (is_space(*start))
        start++;
    len = strlen(start);
    while (len > 0 && is_space(start[len - 1]))
        len--;
    for (first = 0; first < len && !is_space(start[first]); first++)
        ;
    rc |= value_map_set(v, "name", value_stringn(start, len));
    rc |= value_map_set(v, "first_name", value_stringn(start, first));
    rc |= value_map_set(v, "has_name", value_bool(len > 0));
    return rc;
}

static struct value *role_value(const struct role *role)
{
    struct value *v = value_map();
    int rc = 0;

    rc |= value_map_set(v, "id", value_string(role->id));
    rc |= value_map_set(v, "title", value_string(role->title));
    if (rc != 0) {
        value_free(v);
        return NULL;
    }
    return v;
}

static struct value *level_value(const struct role_level *level)
{
    struct value *v = value_map();
    int rc = 0;

    rc |= value_map_set(v, "id", value_string(level->id));
    rc |= value_map_set(v, "title", value_string(level->title));
    rc |= value_map_set(v, "risk", value_string(level->risk));
    rc |= value_map_set(v, "summary", value_string(level->summary));
    if (rc != 0) {
        value_free(v);
        return NULL;
    }
    return v;
}

static struct value *strategies_value(const struct role_level *level)
{
    struct value *list = value_list();
    size_t i;

    for (i = 0; i < level->nstrategies; i++) {
        struct value *item = value_map();

        if (value_map_set(item, "text", value_string(level->strategies[i])) == -1) {
            value_free(item);
            value_free(list);
            return NULL;
        }
        if (value_list_push(list, item) == -1) {
            value_free(list);
            return NULL;
        }
    }
    return list;
}

struct value *report_to_value(const struct report *r)
{
    struct value *v = value_map();
    int rc = 0;

    rc |= add_name(v, r->name);
    rc |= value_map_set(v, "email", value_string(r->email ? r->email : ""));
    rc |= value_map_set(v, "has_years", value_bool(r->has_years));
    if (r->has_years)
        rc |= value_map_set(v, "years", value_number(r->years));
    rc |= value_map_set(v, "role", role_value(r->role));
    rc |= value_map_set(v, "level", level_value(r->level));
    rc |= value_map_set(v, "score", value_number(r->score_rounded));
    rc |= value_map_set(v, "risk_label", value_string(r->risk_label));
    rc |= add_tasks(v, r);
    rc |= add_skills(v, r);
    rc |= value_map_set(v, "strategies", strategies_value(r->level));
    if (rc != 0) {
        value_free(v);
        return NULL;
    }
    return v;
}
