/*
 * report.c - one subscriber's report model: which tasks are theirs and what
 * share of their time each takes (as given, assumed, or their level's
 * typical mix), the whole percentages shown, the score computed from them,
 * the typical score at their level and why the two differ, and which of
 * their tasks the advice leads with.  No I/O.
 */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shares and scores are percentages. */
#define PERCENT 100
/*
 * Shares such as 100/3 are inexact: a remainder compared or floored as
 * 0.9999999 must count as 1.
 */
#define EPSILON 1e-9

/* --- pure helpers ---------------------------------------------------------- */

void report_largest_remainder(const double *x, size_t n, int total, int *out)
{
    int left = total;
    size_t i, k;

    for (i = 0; i < n; i++) {
        out[i] = (int)floor(x[i] + EPSILON);
        left -= out[i];
    }
    /* Each pass gives one unit to the largest remainder not yet served. */
    for (k = 0; left > 0 && k < n; k++, left--) {
        size_t best = n;
        double best_frac = -1.0;

        for (i = 0; i < n; i++) {
            double frac = x[i] - out[i];

            /* A unit already given leaves a negative remainder: served. */
            if (frac > best_frac + EPSILON) {
                best = i;
                best_frac = frac;
            }
        }
        if (best == n || best_frac < -EPSILON)
            break;
        out[best]++;
    }
}

int report_score(const struct role *role, const int *pct, const enum exposure *e, size_t n)
{
    long num = 0, den = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        /* Weights may have decimals; work in hundredths of a point to stay exact. */
        num += (long)pct[i] * lround(role->exposure_weight[e[i]] * 100.0);
        den += pct[i];
    }
    if (den == 0)
        return 0;
    /* Round half up: (num / den) / 100 + 0.5, in integers. */
    return (int)((num + den * 50) / (den * 100));
}

size_t report_band(const struct role *role, int score)
{
    size_t i;

    for (i = 0; i < role->nthresholds; i++)
        if (score >= role->thresholds[i].min_score)
            return i;
    return role->nthresholds > 0 ? role->nthresholds - 1 : 0;
}

static const char *band_label(const struct role *role, size_t band)
{
    return band < role->nthresholds ? role->thresholds[band].label : "";
}

/* --- the person's tasks ---------------------------------------------------- */

static int typical_tasks(struct report *r, char *err)
{
    size_t i;

    r->ntasks = r->level->nmix;
    r->tasks = calloc(r->ntasks + 1, sizeof(*r->tasks));
    if (r->tasks == NULL)
        return errf(err, "tasks: out of memory");
    for (i = 0; i < r->ntasks; i++) {
        r->tasks[i].task = r->level->mix[i].task;
        r->tasks[i].share = r->level->mix[i].share;
        r->tasks[i].basis = SHARE_TYPICAL;
    }
    return 0;
}

/*
 * Shares as given.  Tasks without one split what the given shares leave
 * evenly (assumed); when every task has a share, what they leave is other
 * work.  Shares of 0 for every task say nothing about the mix, so they are
 * treated as not given.
 */
static int given_tasks(struct report *r, const struct signup *s, char *err)
{
    double given = 0.0;
    size_t i, unshared = 0;

    r->ntasks = s->ntasks;
    r->tasks = calloc(r->ntasks + 1, sizeof(*r->tasks));
    if (r->tasks == NULL)
        return errf(err, "tasks: out of memory");
    for (i = 0; i < r->ntasks; i++) {
        r->tasks[i].task = role_find_task(r->role, s->tasks[i].id);
        if (r->tasks[i].task == NULL)
            return errf(err, "tasks: \"%s\" is not a task of role \"%s\"", s->tasks[i].id,
                        r->role->id);
        if (s->tasks[i].has_share) {
            r->tasks[i].share = s->tasks[i].share;
            given += s->tasks[i].share;
        } else {
            r->tasks[i].basis = SHARE_ASSUMED;
            unshared++;
        }
    }
    if (given <= 0.0) {
        for (i = 0; i < r->ntasks; i++)
            r->tasks[i].basis = SHARE_ASSUMED;
        unshared = r->ntasks;
    }
    if (unshared == 0) {
        r->other_share = given < PERCENT ? PERCENT - given : 0.0;
        return 0;
    }
    for (i = 0; i < r->ntasks; i++)
        if (r->tasks[i].basis == SHARE_ASSUMED)
            r->tasks[i].share = given < PERCENT ? (PERCENT - given) / (double)unshared : 0.0;
    return 0;
}

/* Whole percentages for the tasks and the other work, adding up to 100. */
static int show_shares(struct report *r, char *err)
{
    double *x = calloc(r->ntasks + 1, sizeof(*x));
    int *pct = calloc(r->ntasks + 1, sizeof(*pct));
    size_t i;

    if (x == NULL || pct == NULL) {
        free(x);
        free(pct);
        return errf(err, "tasks: out of memory");
    }
    for (i = 0; i < r->ntasks; i++)
        x[i] = r->tasks[i].share;
    x[r->ntasks] = r->other_share;
    report_largest_remainder(x, r->ntasks + 1, PERCENT, pct);
    for (i = 0; i < r->ntasks; i++)
        r->tasks[i].pct = pct[i];
    r->other_pct = pct[r->ntasks];
    free(x);
    free(pct);
    return 0;
}

/* Largest shown share first; equal shares keep the order the person listed them in. */
static void order_by_share(struct report_task *t, size_t n)
{
    size_t i, j;

    for (i = 1; i < n; i++) {
        struct report_task cur = t[i];

        for (j = i; j > 0 && t[j - 1].pct < cur.pct; j--)
            t[j] = t[j - 1];
        t[j] = cur;
    }
}

static int score_tasks(const struct role *role, const struct report_task *t, size_t n)
{
    int pct[ROLE_MAX_TASKS] = {0};
    enum exposure e[ROLE_MAX_TASKS] = {EXPOSURE_LOW};
    size_t i;

    for (i = 0; i < n && i < ROLE_MAX_TASKS; i++) {
        pct[i] = t[i].pct;
        e[i] = t[i].task->exposure;
    }
    return report_score(role, pct, e, i);
}

static void score_typical(struct report *r)
{
    int pct[ROLE_MAX_TASKS] = {0};
    enum exposure e[ROLE_MAX_TASKS] = {EXPOSURE_LOW};
    size_t i;

    for (i = 0; i < r->level->nmix && i < ROLE_MAX_TASKS; i++) {
        pct[i] = r->level->mix[i].share;
        e[i] = r->level->mix[i].task->exposure;
    }
    r->typical_score = report_score(r->role, pct, e, i);
    r->typical_band = report_band(r->role, r->typical_score);
    r->typical_label = band_label(r->role, r->typical_band);
}

/*
 * The advice leads with the tasks that put the most of the person's time
 * at risk: shown share times exposure weight, high and medium exposure only
 * (low-exposure work needs no defending), largest first.
 */
static double exposed_time(const struct report *r, size_t i)
{
    return r->role->exposure_weight[r->tasks[i].task->exposure] * r->tasks[i].pct;
}

static void pick_advice(struct report *r)
{
    size_t i, j, k;

    r->nadvice = 0;
    for (i = 0; i < r->ntasks; i++) {
        if (r->tasks[i].task->exposure == EXPOSURE_LOW || r->tasks[i].pct == 0)
            continue;
        /* Insertion into the top few; equal ones keep the order shown. */
        for (j = 0; j < r->nadvice && exposed_time(r, r->advice[j]) >= exposed_time(r, i); j++)
            ;
        if (j == REPORT_ADVICE_TASKS)
            continue;
        if (r->nadvice < REPORT_ADVICE_TASKS)
            r->nadvice++;
        for (k = r->nadvice - 1; k > j; k--)
            r->advice[k] = r->advice[k - 1];
        r->advice[j] = i;
    }
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
    size_t i;
    int rc;

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
    r->created_ms = s->created_ms;
    r->tasks_given = s->ntasks > 0;
    rc = r->tasks_given ? given_tasks(r, s, err) : typical_tasks(r, err);
    if (rc == -1 || pick_skills(r, s, err) == -1 || show_shares(r, err) == -1) {
        report_free(r);
        return -1;
    }
    order_by_share(r->tasks, r->ntasks);
    for (i = 0; i < r->ntasks; i++)
        r->exposure_count[r->tasks[i].task->exposure]++;
    r->score = score_tasks(r->role, r->tasks, r->ntasks);
    r->band = report_band(r->role, r->score);
    r->risk_label = band_label(r->role, r->band);
    score_typical(r);
    pick_advice(r);
    return 0;
}

void report_free(struct report *r)
{
    free(r->tasks);
    free(r->vulnerable);
    free(r->resilient);
    memset(r, 0, sizeof(*r));
}

/* --- how the person compares with the typical person at their level -------- */

static int typical_pct(const struct role_level *level, const struct role_task *task)
{
    size_t i;

    for (i = 0; i < level->nmix; i++)
        if (level->mix[i].task == task)
            return level->mix[i].share;
    return 0;
}

/*
 * The task's share of the person's assessed time: the score is an average
 * over that, so that is what compares with the typical mix.
 */
static int person_pct(const struct report *r, const struct role_task *task)
{
    int assessed = PERCENT - r->other_pct;
    size_t i;

    for (i = 0; i < r->ntasks && assessed > 0; i++)
        if (r->tasks[i].task == task)
            return (int)lround(r->tasks[i].pct * (double)PERCENT / assessed);
    return 0;
}

/*
 * The task whose difference in time moves the score most in the direction
 * it moved: time shifted onto a task weighted above the typical average
 * raises the score, onto one below lowers it.  What the person does more
 * of than is typical reads best ("takes 60% of your time, against 30%"),
 * so those tasks are looked at first.
 */
static const struct role_task *main_reason(const struct report *r, int sign)
{
    const struct role_task *best = NULL;
    double best_effect = 0.0, avg = r->typical_score;
    size_t i;
    int pass;

    for (pass = 0; pass < 2 && best == NULL; pass++)
        for (i = 0; i < r->role->ntasks; i++) {
            const struct role_task *t = &r->role->tasks[i];
            double diff = person_pct(r, t) - typical_pct(r->level, t);
            double effect = sign * diff * (r->role->exposure_weight[t->exposure] - avg);

            if (pass == 0 && diff <= 0)
                continue;
            if (effect > best_effect + EPSILON) {
                best = t;
                best_effect = effect;
            }
        }
    return best;
}

static const char *exposure_word(enum exposure e)
{
    return e == EXPOSURE_HIGH ? "high" : e == EXPOSURE_MEDIUM ? "medium" : "low";
}

void report_comparison(const struct report *r, char *out, size_t outlen)
{
    const char *lt = r->level->title;
    const char *yours = r->other_pct > 0 ? "your assessed time" : "your time";
    int diff = r->score - r->typical_score, sign = diff > 0 ? 1 : -1;
    const struct role_task *why;
    size_t used;
    int p, t;

    if (!r->tasks_given) {
        snprintf(out, outlen,
                 "You did not list your tasks, so this report uses the typical mix of tasks at "
                 "your level (%s), and your score is the typical score there: %d.",
                 lt, r->typical_score);
        return;
    }
    if (abs(diff) <= REPORT_CLOSE_POINTS) {
        snprintf(out, outlen,
                 "Your score of %d is close to the typical score at your level (%s: %d): your "
                 "time goes to tasks about as exposed as a typical week there.",
                 r->score, lt, r->typical_score);
        return;
    }
    used = (size_t)snprintf(out, outlen,
                            "Your score of %d is %s the typical score at your level (%s: %d)",
                            r->score, diff > 0 ? "above" : "below", lt, r->typical_score);
    if (used >= outlen)
        return;
    why = main_reason(r, sign);
    if (why == NULL) {
        snprintf(out + used, outlen - used, ".");
        return;
    }
    p = person_pct(r, why);
    t = typical_pct(r->level, why);
    if (p == 0)
        snprintf(out + used, outlen - used,
                 ", mainly because you did not list \xe2\x80\x9c%s\xe2\x80\x9d (%s exposure), "
                 "which takes %d%% of a typical week at this level.",
                 why->title, exposure_word(why->exposure), t);
    else if (t == 0)
        snprintf(out + used, outlen - used,
                 ", mainly because \xe2\x80\x9c%s\xe2\x80\x9d (%s exposure) takes %d%% of %s "
                 "and is not part of the typical mix.",
                 why->title, exposure_word(why->exposure), p, yours);
    else
        snprintf(out + used, outlen - used,
                 ", mainly because \xe2\x80\x9c%s\xe2\x80\x9d (%s exposure) takes %d%% of %s, "
                 "against %d%% in the typical mix.",
                 why->title, exposure_word(why->exposure), p, yours, t);
    used = strlen(out);
    /* A score over a sliver of the week is worth saying so. */
    if (PERCENT - r->other_pct < REPORT_FEW_ASSESSED && used < outlen)
        snprintf(out + used, outlen - used,
                 " Your listed tasks cover only %d%% of your time, so the score says little about "
                 "the rest.",
                 PERCENT - r->other_pct);
}
