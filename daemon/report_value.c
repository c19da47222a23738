/*
 * report_value.c - the template context of one report: every name the
 * templates may use (README "Template variables"), built from the report
 * model.  Every key is always set, whatever the signup held, so that
 * check-config can check templates against one sample context.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "names.h"

/* Room for the longest exposure summary sentence. */
#define SUMMARY_MAX 96
/* Room for a greeting name (names.c cuts longer ones) and a date. */
#define GREETING_MAX 256
#define DATE_MAX     64

static const char *const exposure_labels[EXPOSURE_COUNT] = {"Low", "Medium", "High"};
static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};

static int set_exposure(struct arena *a, struct value *v, enum exposure e)
{
    int rc = 0;

    rc |= value_map_add(v, "exposure", value_string_ref(a, exposure_name(e)));
    rc |= value_map_add(v, "exposure_label", value_string_ref(a, exposure_labels[e]));
    rc |= value_map_add(v, "exposure_high", value_bool(a, e == EXPOSURE_HIGH));
    rc |= value_map_add(v, "exposure_medium", value_bool(a, e == EXPOSURE_MEDIUM));
    rc |= value_map_add(v, "exposure_low", value_bool(a, e == EXPOSURE_LOW));
    return rc;
}

static struct value *checked(struct value *v, int rc)
{
    return rc == 0 ? v : NULL;
}

static struct value *task_value(struct arena *a, const struct report_task *t)
{
    struct value *v = value_map(a);
    int rc = 0;

    rc |= value_map_add(v, "id", value_string_ref(a, t->task->id));
    rc |= value_map_add(v, "title", value_string_ref(a, t->task->title));
    rc |= set_exposure(a, v, t->task->exposure);
    rc |= value_map_add(v, "rationale", value_string_ref(a, t->task->rationale));
    rc |= value_map_add(v, "advice", value_string_ref(a, t->task->advice));
    rc |= value_map_add(v, "share", value_number(a, t->pct));
    rc |= value_map_add(v, "share_given", value_bool(a, t->basis == SHARE_GIVEN));
    rc |= value_map_add(v, "share_assumed", value_bool(a, t->basis == SHARE_ASSUMED));
    rc |= value_map_add(v, "share_typical", value_bool(a, t->basis == SHARE_TYPICAL));
    return checked(v, rc);
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

static int add_task_counts(struct arena *a, struct value *v, const struct report *r)
{
    char summary[SUMMARY_MAX];
    int time_on[EXPOSURE_COUNT] = {0};
    int assumed = 0;
    size_t i;
    int rc = 0;

    for (i = 0; i < r->ntasks; i++) {
        time_on[r->tasks[i].task->exposure] += r->tasks[i].pct;
        assumed |= r->tasks[i].basis == SHARE_ASSUMED;
    }
    exposure_summary(r->exposure_count[EXPOSURE_HIGH], r->ntasks, summary, sizeof(summary));
    rc |= value_map_add(v, "tasks_given", value_bool(a, r->tasks_given));
    rc |= value_map_add(v, "uses_typical_mix", value_bool(a, !r->tasks_given));
    rc |= value_map_add(v, "has_assumed_shares", value_bool(a, assumed));
    rc |= value_map_add(v, "has_other", value_bool(a, r->other_pct > 0));
    rc |= value_map_add(v, "other_share", value_number(a, r->other_pct));
    rc |= value_map_add(v, "assessed_share", value_number(a, 100 - r->other_pct));
    rc |= value_map_add(v, "task_count", value_number(a, (double)r->ntasks));
    rc |= value_map_add(v, "high_count", value_number(a, (double)r->exposure_count[EXPOSURE_HIGH]));
    rc |= value_map_add(v, "medium_count",
                        value_number(a, (double)r->exposure_count[EXPOSURE_MEDIUM]));
    rc |= value_map_add(v, "low_count", value_number(a, (double)r->exposure_count[EXPOSURE_LOW]));
    rc |= value_map_add(v, "high_share", value_number(a, time_on[EXPOSURE_HIGH]));
    rc |= value_map_add(v, "medium_share", value_number(a, time_on[EXPOSURE_MEDIUM]));
    rc |= value_map_add(v, "low_share", value_number(a, time_on[EXPOSURE_LOW]));
    rc |= value_map_add(v, "exposure_summary", value_string(a, summary));
    return rc;
}

static int add_tasks(struct arena *a, struct value *v, const struct report *r)
{
    struct value *list = value_list(a);
    size_t i;
    int rc = 0;

    for (i = 0; i < r->ntasks; i++)
        rc |= value_list_push(list, task_value(a, &r->tasks[i]));
    rc |= value_map_add(v, "tasks", list);
    return rc | add_task_counts(a, v, r);
}

/* The advice about the person's own most exposed tasks, then the level's strategies. */
static int add_advice(struct arena *a, struct value *v, const struct report *r)
{
    struct value *own = value_list(a), *level = value_list(a);
    size_t i;
    int rc = 0;

    for (i = 0; i < r->nadvice; i++)
        rc |= value_list_push(own, task_value(a, &r->tasks[r->advice[i]]));
    for (i = 0; i < r->level->nstrategies; i++) {
        struct value *item = value_map(a);

        rc |= value_list_push(
            level, checked(item, value_map_add(item, "text",
                                               value_string_ref(a, r->level->strategies[i]))));
    }
    rc |= value_map_add(v, "advice", own);
    rc |= value_map_add(v, "has_advice", value_bool(a, r->nadvice > 0));
    rc |= value_map_add(v, "strategies", level);
    return rc;
}

static struct value *skill_value(struct arena *a, const struct role_skill *s)
{
    struct value *v = value_map(a);
    int rc = 0;

    rc |= value_map_add(v, "id", value_string_ref(a, s->id));
    rc |= value_map_add(v, "name", value_string_ref(a, s->name));
    rc |= value_map_add(v, "outlook", value_string_ref(a, outlook_name(s->outlook)));
    rc |= value_map_add(v, "vulnerable", value_bool(a, s->outlook == OUTLOOK_VULNERABLE));
    rc |= value_map_add(v, "resilient", value_bool(a, s->outlook == OUTLOOK_RESILIENT));
    rc |= value_map_add(v, "rationale", value_string_ref(a, s->rationale));
    return checked(v, rc);
}

static struct value *role_value(struct arena *a, const struct role *role)
{
    struct value *v = value_map(a);
    int rc = 0;

    rc |= value_map_add(v, "id", value_string_ref(a, role->id));
    rc |= value_map_add(v, "title", value_string_ref(a, role->title));
    rc |= value_map_add(v, "weight_high", value_number(a, role->exposure_weight[EXPOSURE_HIGH]));
    rc |=
        value_map_add(v, "weight_medium", value_number(a, role->exposure_weight[EXPOSURE_MEDIUM]));
    rc |= value_map_add(v, "weight_low", value_number(a, role->exposure_weight[EXPOSURE_LOW]));
    return checked(v, rc);
}

/*
 * What a context takes from its role alone: each skill's map (role order)
 * and the lists and map made of them.  Shared (report_shared) or made in a
 * rendering's own arena.
 */
struct role_parts {
    const struct role *role;
    struct value **skills;
    struct value *all_skills, *vulnerable_skills, *resilient_skills;
    struct value *role_map;
};

struct report_shared {
    struct arena arena;
    struct role_parts *parts;
    size_t n;
};

/* The role's skills with one outlook (all when outlook < 0), in role order, at most max. */
static struct value *role_skill_list(struct arena *a, const struct role_parts *p, int outlook,
                                     size_t max)
{
    const struct role *role = p->role;
    struct value *list = value_list(a);
    size_t i, n = 0;
    int rc = 0;

    for (i = 0; i < role->nskills && n < max; i++) {
        if (outlook >= 0 && role->skills[i].outlook != (enum outlook)outlook)
            continue;
        rc |= value_list_push(list, p->skills[i]);
        n++;
    }
    return checked(list, rc);
}

static int make_role_parts(struct role_parts *p, const struct role *role, struct arena *a)
{
    size_t i;

    p->role = role;
    p->skills = role->nskills ? arena_alloc(a, role->nskills * sizeof(struct value *)) : NULL;
    if (role->nskills && p->skills == NULL)
        return -1;
    for (i = 0; i < role->nskills; i++)
        if ((p->skills[i] = skill_value(a, &role->skills[i])) == NULL)
            return -1;
    p->all_skills = role_skill_list(a, p, -1, ROLE_MAX_SKILLS);
    p->vulnerable_skills = role_skill_list(a, p, OUTLOOK_VULNERABLE, REPORT_ROLE_SKILLS_SHOWN);
    p->resilient_skills = role_skill_list(a, p, OUTLOOK_RESILIENT, REPORT_ROLE_SKILLS_SHOWN);
    p->role_map = role_value(a, role);
    return p->all_skills && p->vulnerable_skills && p->resilient_skills && p->role_map ? 0 : -1;
}

struct report_shared *report_shared_new(const struct roles *roles)
{
    struct report_shared *sh = calloc(1, sizeof(*sh));
    size_t i;

    if (sh == NULL)
        return NULL;
    arena_init(&sh->arena);
    sh->parts = roles->n ? arena_alloc(&sh->arena, roles->n * sizeof(*sh->parts)) : NULL;
    if (roles->n && sh->parts == NULL) {
        report_shared_free(sh);
        return NULL;
    }
    for (i = 0; i < roles->n; i++)
        if (make_role_parts(&sh->parts[i], &roles->v[i], &sh->arena) == -1) {
            report_shared_free(sh);
            return NULL;
        }
    sh->n = roles->n;
    return sh;
}

void report_shared_free(struct report_shared *sh)
{
    if (sh == NULL)
        return;
    arena_free(&sh->arena);
    free(sh);
}

static const struct role_parts *shared_parts(const struct report_shared *sh,
                                             const struct role *role)
{
    size_t i;

    for (i = 0; sh != NULL && i < sh->n; i++)
        if (sh->parts[i].role == role)
            return &sh->parts[i];
    return NULL;
}

/*
 * The person's skills of one outlook: the role's maps of them.  report_build()
 * takes each from r->role->skills, so its place there is its map's.
 */
static struct value *skill_list(struct arena *a, const struct role_parts *p,
                                const struct role_skill *const *skills, size_t n)
{
    struct value *list = value_list(a);
    size_t i;
    int rc = 0;

    for (i = 0; i < n; i++)
        rc |= value_list_push(list, p->skills[skills[i] - p->role->skills]);
    return checked(list, rc);
}

static int add_skills(struct arena *a, struct value *v, const struct report *r,
                      const struct role_parts *p)
{
    int rc = 0;

    rc |= value_map_add(v, "vulnerable_skills", skill_list(a, p, r->vulnerable, r->nvulnerable));
    rc |= value_map_add(v, "resilient_skills", skill_list(a, p, r->resilient, r->nresilient));
    rc |= value_map_add(v, "has_vulnerable_skills", value_bool(a, r->nvulnerable > 0));
    rc |= value_map_add(v, "has_resilient_skills", value_bool(a, r->nresilient > 0));
    rc |= value_map_add(v, "has_skills", value_bool(a, r->nvulnerable + r->nresilient > 0));
    rc |= value_map_add(v, "role_skills", p->all_skills);
    rc |= value_map_add(v, "role_vulnerable_skills", p->vulnerable_skills);
    rc |= value_map_add(v, "role_resilient_skills", p->resilient_skills);
    return rc;
}

static int add_name(struct arena *a, struct value *v, const char *name)
{
    char greeting[GREETING_MAX];
    const char *start;
    size_t len;
    int rc = 0;

    name_trim(name, &start, &len);
    name_greeting(name, greeting, sizeof(greeting));
    rc |= value_map_add(v, "name", value_stringn(a, start, len));
    rc |= value_map_add(v, "first_name", value_string(a, greeting));
    rc |= value_map_add(v, "has_name", value_bool(a, len > 0));
    return rc;
}

/* The band's colour name for templates: the top band, the bottom one, or between. */
static const char *const risk_band_keys[3] = {"risk_high", "risk_low", "risk_middle"};
static const char *const score_band_keys[3] = {"score_high", "score_low", "score_middle"};

static int add_band(struct arena *a, struct value *v, const char *const keys[3],
                    const struct role *role, size_t band)
{
    int top = band == 0 && role->nthresholds > 1;
    int bottom = band + 1 == role->nthresholds && role->nthresholds > 1;
    int rc = 0;

    rc |= value_map_add(v, keys[0], value_bool(a, top));
    rc |= value_map_add(v, keys[1], value_bool(a, bottom));
    rc |= value_map_add(v, keys[2], value_bool(a, !top && !bottom));
    return rc;
}

static struct value *level_value(struct arena *a, const struct report *r)
{
    struct value *v = value_map(a);
    int rc = 0;

    rc |= value_map_add(v, "id", value_string_ref(a, r->level->id));
    rc |= value_map_add(v, "title", value_string_ref(a, r->level->title));
    rc |= value_map_add(v, "summary", value_string_ref(a, r->level->summary));
    rc |= value_map_add(v, "risk", value_string_ref(a, r->typical_label));
    rc |= value_map_add(v, "typical_score", value_number(a, r->typical_score));
    rc |= add_band(a, v, risk_band_keys, r->role, r->typical_band);
    return checked(v, rc);
}

/* "30 November 2026" (UTC), or "" when the time is unknown. */
static void format_day(int64_t ms, char *out, size_t outlen)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    out[0] = '\0';
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL)
        return;
    snprintf(out, outlen, "%d %s %d", tm.tm_mday, month_names[tm.tm_mon], tm.tm_year + 1900);
}

struct value *report_to_value(const struct report *r, const struct report_shared *sh,
                              struct arena *a)
{
    const struct role_parts *p = shared_parts(sh, r->role);
    struct role_parts own;
    struct value *v = value_map(a);
    char sentence[REPORT_SENTENCE_MAX], day[DATE_MAX];
    int rc = 0;

    if (p == NULL) {
        if (make_role_parts(&own, r->role, a) == -1)
            return NULL;
        p = &own;
    }

    report_comparison(r, sentence, sizeof(sentence));
    format_day(r->created_ms, day, sizeof(day));
    rc |= add_name(a, v, r->name);
    rc |= value_map_add(v, "email", value_string(a, r->email ? r->email : ""));
    rc |= value_map_add(v, "has_years", value_bool(a, r->has_years));
    rc |= value_map_add(v, "years", value_number(a, r->has_years ? r->years : 0));
    rc |= value_map_add(v, "requested_on", value_string(a, day));
    rc |= value_map_add(v, "role", p->role_map);
    rc |= value_map_add(v, "level", level_value(a, r));
    rc |= value_map_add(v, "score", value_number(a, r->score));
    rc |= value_map_add(v, "risk_label", value_string_ref(a, r->risk_label));
    rc |= add_band(a, v, score_band_keys, r->role, r->band);
    rc |= value_map_add(v, "typical_score", value_number(a, r->typical_score));
    rc |= value_map_add(v, "comparison", value_string(a, sentence));
    rc |= add_tasks(a, v, r);
    rc |= add_advice(a, v, r);
    rc |= add_skills(a, v, r, p);
    return checked(v, rc);
}
