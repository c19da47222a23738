/*
 * test_report.c - the report model: shares as given (assumed and other work
 * marked), largest-remainder rounding, the score reproduced from the shown
 * numbers, the typical mix, the comparison, the advice, names, and the
 * template context.  Expected values are computed here from the inputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "report.h"

#define NTASKS 12

/* A role built in memory: twelve tasks, so that equal shares do not divide 100. */
static struct role_task tasks[NTASKS] = {
    {"a", "Task A", EXPOSURE_HIGH, "A why.", "A advice."},
    {"b", "Task B", EXPOSURE_MEDIUM, "B why.", "B advice."},
    {"c", "Task C", EXPOSURE_LOW, "C why.", "C advice."},
    {"d", "Task D", EXPOSURE_HIGH, "D why.", "D advice."},
    {"e", "Task E", EXPOSURE_HIGH, "E why.", "E advice."},
    {"f", "Task F", EXPOSURE_MEDIUM, "F why.", "F advice."},
    {"g", "Task G", EXPOSURE_LOW, "G why.", "G advice."},
    {"h", "Task H", EXPOSURE_LOW, "H why.", "H advice."},
    {"i", "Task I", EXPOSURE_MEDIUM, "I why.", "I advice."},
    {"j", "Task J", EXPOSURE_HIGH, "J why.", "J advice."},
    {"k", "Task K", EXPOSURE_LOW, "K why.", "K advice."},
    {"l", "Task L", EXPOSURE_MEDIUM, "L why.", "L advice."},
};
static struct role_skill skills[] = {
    {"v1", "Vulnerable one", OUTLOOK_VULNERABLE, "V1 why."},
    {"r1", "Resilient one", OUTLOOK_RESILIENT, "R1 why."},
    {"v2", "Vulnerable two", OUTLOOK_VULNERABLE, "V2 why."},
    {"v3", "Vulnerable three", OUTLOOK_VULNERABLE, "V3 why."},
    {"v4", "Vulnerable four", OUTLOOK_VULNERABLE, "V4 why."},
};
static char *strategies[] = {"Do this.", "Do that."};
/* Typical mix: half on a high-exposure task, half on a low one. */
static struct role_mix_item mix[] = {{&tasks[0], 50}, {&tasks[2], 50}};
static struct role_level levels[] = {
    {"mid", "Mid-level", "Some summary.", strategies, 2, mix, NELEM(mix)},
};
static struct risk_threshold thresholds[] = {{60, "High"}, {35, "Moderate"}, {0, "Low"}};

static struct role role = {
    .id = "tester",
    .file = "tester.yaml",
    .title = "Tester",
    .thresholds = thresholds,
    .nthresholds = 3,
    .levels = levels,
    .nlevels = 1,
    .tasks = tasks,
    .ntasks = NTASKS,
    .skills = skills,
    .nskills = NELEM(skills),
};
static struct roles roles = {&role, 1};

static int reset_weights(void **state)
{
    role.exposure_weight[EXPOSURE_HIGH] = 100;
    role.exposure_weight[EXPOSURE_MEDIUM] = 55;
    role.exposure_weight[EXPOSURE_LOW] = 15;
    return 0;
}

static struct signup make_signup(struct signup_task *t, size_t nt, char **sk, size_t ns)
{
    struct signup s;

    memset(&s, 0, sizeof(s));
    s.email = "ann@example.org";
    s.role = "tester";
    s.level = "mid";
    s.tasks = t;
    s.ntasks = nt;
    s.skills = sk;
    s.nskills = ns;
    return s;
}

static void build(struct report *r, struct signup_task *t, size_t nt)
{
    char err[ERRLEN];
    struct signup s = make_signup(t, nt, NULL, 0);

    if (report_build(r, &s, &roles, err) != 0)
        fail_msg("%s", err);
}

static const struct report_task *find(const struct report *r, const char *id)
{
    size_t i;

    for (i = 0; i < r->ntasks; i++)
        if (strcmp(r->tasks[i].task->id, id) == 0)
            return &r->tasks[i];
    fail_msg("task %s not in the report", id);
    return NULL;
}

static int round_half_up(double x)
{
    return (int)floor(x + 0.5 + 1e-9);
}

/* The score by the formula the report states, from the numbers it shows. */
static int score_from_shown(const struct report *r)
{
    double num = 0, den = 0;
    size_t i;

    for (i = 0; i < r->ntasks; i++) {
        num += r->tasks[i].pct * role.exposure_weight[r->tasks[i].task->exposure];
        den += r->tasks[i].pct;
    }
    return den > 0 ? round_half_up(num / den) : 0;
}

static const char *label_for(int score)
{
    size_t i;

    for (i = 0; i < NELEM(thresholds); i++)
        if (score >= thresholds[i].min_score)
            return thresholds[i].label;
    return "";
}

/* What every report must hold: shown shares add to 100 and the score follows from them. */
static void assert_consistent(const struct report *r)
{
    int total = r->other_pct;
    size_t i;

    for (i = 0; i < r->ntasks; i++) {
        total += r->tasks[i].pct;
        /* Each shown share is its exact share rounded down or up. */
        assert_true(r->tasks[i].pct >= (int)floor(r->tasks[i].share + 1e-9));
        assert_true(r->tasks[i].pct <= (int)ceil(r->tasks[i].share - 1e-9));
        if (i > 0)
            assert_true(r->tasks[i - 1].pct >= r->tasks[i].pct);
    }
    assert_int_equal(total, 100);
    assert_int_equal(r->score, score_from_shown(r));
    assert_string_equal(r->risk_label, label_for(r->score));
}

/* --- shares ------------------------------------------------------------------ */

static void test_given_shares_kept_rest_is_other_work(void **state)
{
    struct signup_task t[] = {{"a", 50, 1}, {"b", 30, 1}};
    struct report r;

    build(&r, t, 2);
    assert_int_equal(find(&r, "a")->pct, 50);
    assert_int_equal(find(&r, "b")->pct, 30);
    assert_int_equal(find(&r, "a")->basis, SHARE_GIVEN);
    assert_int_equal(r.other_pct, 100 - 50 - 30);
    assert_int_equal(r.score, round_half_up((50 * 100.0 + 30 * 55.0) / (50 + 30)));
    assert_consistent(&r);
    report_free(&r);
}

static void test_one_task_at_one_percent_is_not_rescaled(void **state)
{
    struct signup_task t[] = {{"a", 1, 1}};
    char sentence[REPORT_SENTENCE_MAX], want[96];
    struct report r;

    build(&r, t, 1);
    assert_int_equal(r.ntasks, 1);
    assert_int_equal(r.tasks[0].pct, 1);
    assert_int_equal(r.other_pct, 99);
    /* The score speaks of the assessed 1%, which the report says. */
    assert_int_equal(r.score, (int)role.exposure_weight[EXPOSURE_HIGH]);
    assert_consistent(&r);
    report_comparison(&r, sentence, sizeof(sentence));
    /* Compared as a share of the assessed time: all of it, against the typical mix's. */
    snprintf(want, sizeof(want), "takes 100%% of your assessed time, against %d%%", mix[0].share);
    if (strstr(sentence, want) == NULL || strstr(sentence, "cover only 1% of your time") == NULL)
        fail_msg("%s", sentence);
    report_free(&r);
}

static void test_all_zero_shares_are_assumed_even(void **state)
{
    struct signup_task t[] = {{"a", 0, 1}, {"b", 0, 1}};
    struct report r;

    build(&r, t, 2);
    assert_int_equal(r.tasks[0].basis, SHARE_ASSUMED);
    assert_int_equal(r.tasks[1].basis, SHARE_ASSUMED);
    assert_int_equal(r.tasks[0].pct + r.tasks[1].pct, 100);
    assert_int_equal(r.other_pct, 0);
    assert_int_equal(r.score, round_half_up((50 * 100.0 + 50 * 55.0) / 100));
    assert_consistent(&r);
    report_free(&r);
}

static void test_unshared_tasks_split_the_rest_and_are_assumed(void **state)
{
    struct signup_task t[] = {{"a", 40, 1}, {"b", 0, 0}, {"c", 0, 0}};
    struct report r;

    build(&r, t, 3);
    assert_int_equal(find(&r, "a")->basis, SHARE_GIVEN);
    assert_int_equal(find(&r, "b")->basis, SHARE_ASSUMED);
    assert_int_equal(find(&r, "b")->pct, (100 - 40) / 2);
    assert_int_equal(find(&r, "c")->pct, (100 - 40) / 2);
    assert_int_equal(r.other_pct, 0);
    assert_consistent(&r);
    report_free(&r);
}

static void test_twelve_equal_shares_reproduce_the_score(void **state)
{
    struct signup_task t[NTASKS];
    struct report r;
    int nines = 0, eights = 0;
    size_t i;

    for (i = 0; i < NTASKS; i++) {
        t[i].id = tasks[i].id;
        t[i].share = 0;
        t[i].has_share = 0;
    }
    build(&r, t, NTASKS);
    for (i = 0; i < NTASKS; i++) {
        nines += r.tasks[i].pct == 100 / NTASKS + 1;
        eights += r.tasks[i].pct == 100 / NTASKS;
    }
    /* 100 = 12 x 8 + 4: four tasks show one more. */
    assert_int_equal(nines, 100 % NTASKS);
    assert_int_equal(eights, NTASKS - 100 % NTASKS);
    assert_consistent(&r);
    report_free(&r);
}

static void test_largest_remainder(void **state)
{
    const double thirds[] = {100.0 / 3, 100.0 / 3, 100.0 / 3};
    const double uneven[] = {10.6, 20.3, 30.05, 39.05};
    const double halves[] = {0.5, 0.5};
    int out[4];

    report_largest_remainder(thirds, 3, 100, out);
    /* Equal remainders: the extra unit goes to the first. */
    assert_int_equal(out[0], 34);
    assert_int_equal(out[1], 33);
    assert_int_equal(out[2], 33);
    report_largest_remainder(uneven, 4, 100, out);
    /* Floors 10+20+30+39 = 99: the one unit left goes to the largest remainder, .6. */
    assert_int_equal(out[0], 11);
    assert_int_equal(out[1], 20);
    assert_int_equal(out[2], 30);
    assert_int_equal(out[3], 39);
    report_largest_remainder(halves, 2, 1, out);
    assert_int_equal(out[0] + out[1], 1);
}

static void test_score_always_follows_the_shown_numbers(void **state)
{
    unsigned seed = 12345;
    int round;

    /* Many pseudo-random share sets, each checked against the stated formula. */
    for (round = 0; round < 300; round++) {
        struct signup_task t[NTASKS];
        size_t n, i;
        double left = 100;
        struct report r;

        seed = seed * 1103515245u + 12345u;
        n = 1 + (seed >> 16) % NTASKS;
        for (i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            t[i].id = tasks[(i * 5 + round) % NTASKS].id;
            t[i].has_share = (seed >> 8) % 3 != 0;
            t[i].share = t[i].has_share ? fmin(left, ((seed >> 12) % 4000) / 100.0) : 0;
            left -= t[i].share;
        }
        /* Ids repeat when i * 5 + round wraps; keep the first of each. */
        for (i = 1; i < n; i++) {
            size_t j;

            for (j = 0; j < i; j++)
                if (strcmp(t[i].id, t[j].id) == 0)
                    break;
            if (j < i) {
                t[i] = t[--n];
                i--;
            }
        }
        build(&r, t, n);
        assert_consistent(&r);
        report_free(&r);
    }
}

/* --- typical mix and comparison -------------------------------------------- */

static int typical_from_mix(void)
{
    double num = 0;
    size_t i;

    for (i = 0; i < NELEM(mix); i++)
        num += mix[i].share * role.exposure_weight[mix[i].task->exposure];
    return round_half_up(num / 100);
}

static void test_no_tasks_gets_the_typical_mix(void **state)
{
    struct report r;
    char sentence[REPORT_SENTENCE_MAX];
    size_t i;

    build(&r, NULL, 0);
    assert_false(r.tasks_given);
    assert_int_equal(r.ntasks, NELEM(mix));
    for (i = 0; i < NELEM(mix); i++) {
        const struct report_task *t = find(&r, mix[i].task->id);

        assert_int_equal(t->basis, SHARE_TYPICAL);
        assert_int_equal(t->pct, mix[i].share);
    }
    assert_int_equal(r.score, typical_from_mix());
    assert_int_equal(r.typical_score, r.score);
    assert_string_equal(r.typical_label, label_for(r.typical_score));
    report_comparison(&r, sentence, sizeof(sentence));
    assert_non_null(strstr(sentence, "You did not list your tasks"));
    assert_consistent(&r);
    report_free(&r);
}

static void test_comparison_above_names_the_reason(void **state)
{
    struct signup_task t[] = {{"a", 90, 1}, {"c", 10, 1}};
    char sentence[REPORT_SENTENCE_MAX], want[64];
    struct report r;

    build(&r, t, 2);
    assert_true(r.score > r.typical_score + REPORT_CLOSE_POINTS);
    report_comparison(&r, sentence, sizeof(sentence));
    assert_non_null(strstr(sentence, "above"));
    /* More time on the high-exposure task than the typical mix gives it. */
    snprintf(want, sizeof(want), "%s", tasks[0].title);
    assert_non_null(strstr(sentence, want));
    snprintf(want, sizeof(want), "%d%% of your time, against %d%%", 90, mix[0].share);
    assert_non_null(strstr(sentence, want));
    report_free(&r);
}

static void test_comparison_below_and_close(void **state)
{
    struct signup_task low[] = {{"c", 80, 1}, {"g", 20, 1}};
    struct signup_task same[] = {{"a", 50, 1}, {"c", 50, 1}};
    char sentence[REPORT_SENTENCE_MAX];
    struct report r;

    build(&r, low, 2);
    assert_true(r.score < r.typical_score - REPORT_CLOSE_POINTS);
    report_comparison(&r, sentence, sizeof(sentence));
    assert_non_null(strstr(sentence, "below"));
    assert_non_null(strstr(sentence, "mainly because"));
    report_free(&r);
    build(&r, same, 2);
    assert_int_equal(r.score, r.typical_score);
    report_comparison(&r, sentence, sizeof(sentence));
    assert_non_null(strstr(sentence, "close to"));
    report_free(&r);
}

/* --- advice ------------------------------------------------------------------ */

static void test_advice_leads_with_own_most_exposed_tasks(void **state)
{
    /* Exposed time (share x weight): a 10x100, b 60x55, d 25x100, c low, e 5x100. */
    struct signup_task t[] = {{"a", 10, 1}, {"b", 60, 1}, {"c", 0, 0}, {"d", 25, 1}, {"e", 5, 1}};
    const char *want[REPORT_ADVICE_TASKS];
    double best[REPORT_ADVICE_TASKS];
    struct report r;
    size_t i, j, k;

    build(&r, t, NELEM(t));
    /* The expected top three, computed from the shown shares. */
    for (k = 0; k < REPORT_ADVICE_TASKS; k++)
        best[k] = -1;
    for (i = 0; i < r.ntasks; i++) {
        double w = r.tasks[i].pct * role.exposure_weight[r.tasks[i].task->exposure];

        if (r.tasks[i].task->exposure == EXPOSURE_LOW)
            continue;
        for (k = 0; k < REPORT_ADVICE_TASKS && best[k] >= w; k++)
            ;
        for (j = REPORT_ADVICE_TASKS - 1; k < REPORT_ADVICE_TASKS && j > k; j--) {
            best[j] = best[j - 1];
            want[j] = want[j - 1];
        }
        if (k < REPORT_ADVICE_TASKS) {
            best[k] = w;
            want[k] = r.tasks[i].task->id;
        }
    }
    assert_int_equal(r.nadvice, REPORT_ADVICE_TASKS);
    for (k = 0; k < r.nadvice; k++)
        assert_string_equal(r.tasks[r.advice[k]].task->id, want[k]);
    /* The person who spends 60% on b hears about b first. */
    assert_string_equal(r.tasks[r.advice[0]].task->id, "b");
    report_free(&r);
}

static void test_no_advice_for_low_exposure_only(void **state)
{
    struct signup_task t[] = {{"c", 60, 1}, {"g", 40, 1}};
    struct report r;

    build(&r, t, 2);
    assert_int_equal(r.nadvice, 0);
    report_free(&r);
}

/* --- names ------------------------------------------------------------------- */

static void test_greeting_names(void **state)
{
    static const struct {
        const char *name, *greeting;
    } cases[] = {
        {"Grace Hopper", "Grace"},
        {"Dr. Grace Hopper", "Grace"},
        {"Dr. Hopper", "Dr. Hopper"},
        {"Hopper, Grace", "Grace"},
        {"Hopper, Dr. Grace", "Grace"},
        {"Grace Hopper, PhD", "Grace"},
        {"Margaret Hamilton, Ph.D. \xe2\x80\x94 Zo\xc3\xab", "Margaret"},
        {"Hopper, Grace M.", "Grace"},
        {"MRS. ROBINSON", "MRS. ROBINSON"},
        {"prof ada lovelace", "ada"},
        {"J. Smith", "J. Smith"},
        {"  \t Ada  ", "Ada"},
        {"\xc2\xa0"
         "Ada\xc2\xa0",
         "Ada"},
        {"   ", ""},
        {"", ""},
        {"山田太郎", "山田太郎"},
        {"Σωκράτης Παπαδόπουλος", "Σωκράτης"},
        {"محمد علي", "محمد"},
        {"Nguyễn Thị Minh Khai", "Nguyễn"},
    };
    char out[256];
    size_t i;

    for (i = 0; i < NELEM(cases); i++) {
        name_greeting(cases[i].name, out, sizeof(out));
        if (strcmp(out, cases[i].greeting) != 0)
            fail_msg("\"%s\": greeting \"%s\", want \"%s\"", cases[i].name, out, cases[i].greeting);
    }
    name_greeting(NULL, out, sizeof(out));
    assert_string_equal(out, "");
}

static void test_trim_cuts_only_white_space(void **state)
{
    const char *start;
    size_t len;

    name_trim(" \xe3\x80\x80Grace Hopper\t ", &start, &len);
    assert_int_equal(len, strlen("Grace Hopper"));
    assert_memory_equal(start, "Grace Hopper", len);
    name_trim(" \t\xc2\xa0 ", &start, &len);
    assert_int_equal(len, 0);
    name_trim(NULL, &start, &len);
    assert_int_equal(len, 0);
}

static void test_greeting_never_cuts_a_character(void **state)
{
    char out[5];

    /* "Σωκ" is 6 bytes: a 5-byte buffer holds two characters. */
    name_greeting("Σωκράτης", out, sizeof(out));
    assert_string_equal(out, "Σω");
}

/* --- the template context ---------------------------------------------------- */

static void test_skills_split_by_outlook(void **state)
{
    char *sk[] = {"v2", "r1", "v1"};
    struct signup s = make_signup(NULL, 0, sk, 3);
    char err[ERRLEN];
    struct report r;

    assert_int_equal(report_build(&r, &s, &roles, err), 0);
    assert_int_equal(r.nvulnerable, 2);
    assert_ptr_equal(r.vulnerable[0], &skills[2]);
    assert_ptr_equal(r.vulnerable[1], &skills[0]);
    assert_int_equal(r.nresilient, 1);
    assert_ptr_equal(r.resilient[0], &skills[1]);
    report_free(&r);
}

static void expect_build_error(struct signup *s, const char *want)
{
    char err[ERRLEN] = "";
    struct report r;

    assert_int_equal(report_build(&r, s, &roles, err), -1);
    if (strstr(err, want) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", want, err);
    assert_null(r.tasks);
    assert_null(r.vulnerable);
}

static void test_unknown_ids_are_errors(void **state)
{
    struct signup_task bad_task[] = {{"a", 10, 1}, {"zz", 0, 0}};
    char *bad_skill[] = {"v1", "nope"};
    struct signup s = make_signup(NULL, 0, NULL, 0);

    s.role = "astronaut";
    expect_build_error(&s, "role: unknown role \"astronaut\"");
    s = make_signup(NULL, 0, NULL, 0);
    s.level = "cto";
    expect_build_error(&s, "level: \"cto\" is not a level of role \"tester\"");
    s = make_signup(bad_task, 2, NULL, 0);
    expect_build_error(&s, "tasks: \"zz\" is not a task of role \"tester\"");
    s = make_signup(NULL, 0, bad_skill, 2);
    expect_build_error(&s, "skills: \"nope\" is not a skill of role \"tester\"");
}

static const struct value *get(const struct value *v, const char *key, enum value_type type)
{
    const struct value *x = value_map_get(v, key);

    if (x == NULL)
        fail_msg("missing key \"%s\"", key);
    if (x->type != type)
        fail_msg("key \"%s\" has type %d, want %d", key, (int)x->type, (int)type);
    return x;
}

static const char *str(const struct value *v, const char *key)
{
    return get(v, key, VALUE_STRING)->u.str.s;
}

static double num(const struct value *v, const char *key)
{
    return get(v, key, VALUE_NUMBER)->u.number;
}

static int boolean(const struct value *v, const char *key)
{
    return get(v, key, VALUE_BOOL)->u.boolean;
}

/*
 * report_to_value() adds its keys without looking for earlier ones: a key
 * set twice would leave two pairs, the first one shadowing the second.
 */
static void assert_no_duplicate_keys(const struct value *v)
{
    size_t i, j;

    if (v->type == VALUE_LIST)
        for (i = 0; i < v->u.list.n; i++)
            assert_no_duplicate_keys(v->u.list.items[i]);
    if (v->type != VALUE_MAP)
        return;
    for (i = 0; i < v->u.map.n; i++) {
        assert_int_equal(strlen(v->u.map.pairs[i].key), v->u.map.pairs[i].klen);
        for (j = 0; j < i; j++)
            if (strcmp(v->u.map.pairs[i].key, v->u.map.pairs[j].key) == 0)
                fail_msg("key \"%s\" set twice", v->u.map.pairs[i].key);
        assert_no_duplicate_keys(v->u.map.pairs[i].val);
    }
}

static void test_value_tree(void **state)
{
    struct signup_task t[] = {{"c", 20, 1}, {"a", 0, 0}, {"b", 30, 1}};
    char *sk[] = {"r1", "v1"};
    struct signup s = make_signup(t, 3, sk, 2);
    const struct value *list, *task, *level;
    char err[ERRLEN];
    struct report r;
    struct value *v;
    struct arena a = ARENA_EMPTY;

    s.name = "  Lee, Ann Marie ";
    s.has_years = 1;
    s.years = 7;
    s.created_ms = 1764460800000LL; /* 2025-11-30 00:00 UTC */
    assert_int_equal(report_build(&r, &s, &roles, err), 0);
    v = report_to_value(&r, NULL, &a);
    assert_non_null(v);
    assert_string_equal(str(v, "name"), "Lee, Ann Marie");
    assert_string_equal(str(v, "first_name"), "Ann");
    assert_true(boolean(v, "has_name"));
    assert_string_equal(str(v, "requested_on"), "30 November 2025");
    assert_int_equal((int)num(v, "score"), r.score);
    assert_int_equal((int)num(v, "typical_score"), typical_from_mix());
    assert_true(boolean(v, "tasks_given"));
    assert_true(boolean(v, "has_assumed_shares"));
    assert_false(boolean(v, "has_other"));
    list = get(v, "tasks", VALUE_LIST);
    assert_int_equal(list->u.list.n, 3);
    /* a takes what 20 and 30 leave: 50, and is shown first, marked assumed. */
    task = list->u.list.items[0];
    assert_string_equal(str(task, "id"), "a");
    assert_int_equal((int)num(task, "share"), 100 - 20 - 30);
    assert_true(boolean(task, "share_assumed"));
    assert_false(boolean(task, "share_given"));
    assert_string_equal(str(task, "advice"), tasks[0].advice);
    level = get(v, "level", VALUE_MAP);
    assert_string_equal(str(level, "risk"), label_for(typical_from_mix()));
    assert_int_equal((int)num(level, "typical_score"), typical_from_mix());
    list = get(v, "advice", VALUE_LIST);
    assert_string_equal(str(list->u.list.items[0], "id"), "a");
    assert_int_equal(get(v, "strategies", VALUE_LIST)->u.list.n, levels[0].nstrategies);
    /* People who listed no skills see a few per outlook, not all. */
    assert_true(get(v, "role_vulnerable_skills", VALUE_LIST)->u.list.n <= REPORT_ROLE_SKILLS_SHOWN);
    assert_true(boolean(v, "score_high") + boolean(v, "score_middle") + boolean(v, "score_low") ==
                1);
    assert_no_duplicate_keys(v);
    arena_free(&a);
    report_free(&r);
}

/* x and y are the same tree: the same types and scalars, the same keys in the same order. */
static void assert_same_tree(const struct value *x, const struct value *y)
{
    size_t i;

    assert_int_equal(x->type, y->type);
    switch (x->type) {
    case VALUE_BOOL:
        assert_int_equal(x->u.boolean, y->u.boolean);
        break;
    case VALUE_NUMBER:
        assert_true(x->u.number == y->u.number);
        break;
    case VALUE_STRING:
        assert_int_equal(x->u.str.len, y->u.str.len);
        assert_memory_equal(x->u.str.s, y->u.str.s, x->u.str.len);
        break;
    case VALUE_LIST:
        assert_int_equal(x->u.list.n, y->u.list.n);
        for (i = 0; i < x->u.list.n; i++)
            assert_same_tree(x->u.list.items[i], y->u.list.items[i]);
        break;
    case VALUE_MAP:
        assert_int_equal(x->u.map.n, y->u.map.n);
        for (i = 0; i < x->u.map.n; i++) {
            assert_string_equal(x->u.map.pairs[i].key, y->u.map.pairs[i].key);
            assert_same_tree(x->u.map.pairs[i].val, y->u.map.pairs[i].val);
        }
        break;
    case VALUE_NULL:
        break;
    }
}

/*
 * The role's parts made once (report_shared) give the same context as made
 * for each report, and are not copied into it: two reports point to the
 * same maps.
 */
static void test_shared_role_parts_are_the_same_and_shared(void **state)
{
    char *sk[] = {"r1", "v1"};
    struct signup s = make_signup(NULL, 0, sk, 2);
    struct report_shared *sh = report_shared_new(&roles);
    struct arena a = ARENA_EMPTY, b = ARENA_EMPTY, c = ARENA_EMPTY;
    const struct value *own, *one, *two;
    char err[ERRLEN];
    struct report r;
    const char *const lists[] = {"role_skills", "vulnerable_skills", "resilient_skills"};
    size_t i;

    assert_non_null(sh);
    assert_int_equal(report_build(&r, &s, &roles, err), 0);
    own = report_to_value(&r, NULL, &a);
    one = report_to_value(&r, sh, &b);
    two = report_to_value(&r, sh, &c);
    assert_non_null(own);
    assert_non_null(one);
    assert_non_null(two);
    assert_same_tree(own, one);
    assert_ptr_equal(get(one, "role", VALUE_MAP), get(two, "role", VALUE_MAP));
    for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        const struct value *l1 = get(one, lists[i], VALUE_LIST),
                           *l2 = get(two, lists[i], VALUE_LIST);

        assert_true(l1->u.list.n > 0);
        assert_ptr_equal(l1->u.list.items[0], l2->u.list.items[0]);
        assert_ptr_not_equal(l1->u.list.items[0], get(own, lists[i], VALUE_LIST)->u.list.items[0]);
    }
    assert_no_duplicate_keys(one);
    arena_free(&a);
    arena_free(&b);
    arena_free(&c);
    report_free(&r);
    report_shared_free(sh);
}

static void test_blank_name_is_no_name(void **state)
{
    struct signup s = make_signup(NULL, 0, NULL, 0);
    char err[ERRLEN];
    struct report r;
    struct value *v;
    struct arena a = ARENA_EMPTY;

    s.name = " \t ";
    assert_int_equal(report_build(&r, &s, &roles, err), 0);
    v = report_to_value(&r, NULL, &a);
    assert_non_null(v);
    assert_false(boolean(v, "has_name"));
    assert_string_equal(str(v, "name"), "");
    assert_string_equal(str(v, "first_name"), "");
    assert_true(boolean(v, "uses_typical_mix"));
    assert_string_equal(str(v, "requested_on"), "");
    arena_free(&a);
    report_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_given_shares_kept_rest_is_other_work, reset_weights),
        cmocka_unit_test_setup(test_one_task_at_one_percent_is_not_rescaled, reset_weights),
        cmocka_unit_test_setup(test_all_zero_shares_are_assumed_even, reset_weights),
        cmocka_unit_test_setup(test_unshared_tasks_split_the_rest_and_are_assumed, reset_weights),
        cmocka_unit_test_setup(test_twelve_equal_shares_reproduce_the_score, reset_weights),
        cmocka_unit_test_setup(test_largest_remainder, reset_weights),
        cmocka_unit_test_setup(test_score_always_follows_the_shown_numbers, reset_weights),
        cmocka_unit_test_setup(test_no_tasks_gets_the_typical_mix, reset_weights),
        cmocka_unit_test_setup(test_comparison_above_names_the_reason, reset_weights),
        cmocka_unit_test_setup(test_comparison_below_and_close, reset_weights),
        cmocka_unit_test_setup(test_advice_leads_with_own_most_exposed_tasks, reset_weights),
        cmocka_unit_test_setup(test_no_advice_for_low_exposure_only, reset_weights),
        cmocka_unit_test(test_shared_role_parts_are_the_same_and_shared),
        cmocka_unit_test(test_greeting_names),
        cmocka_unit_test(test_trim_cuts_only_white_space),
        cmocka_unit_test(test_greeting_never_cuts_a_character),
        cmocka_unit_test_setup(test_skills_split_by_outlook, reset_weights),
        cmocka_unit_test_setup(test_unknown_ids_are_errors, reset_weights),
        cmocka_unit_test_setup(test_value_tree, reset_weights),
        cmocka_unit_test_setup(test_blank_name_is_no_name, reset_weights),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
