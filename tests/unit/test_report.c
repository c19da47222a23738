/* test_report.c - shares, scores, labels, counts, skills and the template context. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

/* A small role built in memory, so the numbers below are easy to check by hand. */
static struct role_task tasks[] = {
    {"a", "Task A", EXPOSURE_HIGH, "A is automatable."},
    {"b", "Task B", EXPOSURE_MEDIUM, "B is partly automatable."},
    {"c", "Task C", EXPOSURE_LOW, "C needs judgment."},
    {"d", "Task D", EXPOSURE_HIGH, "D is automatable."},
    {"e", "Task E", EXPOSURE_HIGH, "E is automatable."},
};
static struct role_skill skills[] = {
    {"v1", "Vulnerable one", OUTLOOK_VULNERABLE, "V1 why."},
    {"r1", "Resilient one", OUTLOOK_RESILIENT, "R1 why."},
    {"v2", "Vulnerable two", OUTLOOK_VULNERABLE, "V2 why."},
};
static char *strategies[] = {"Do this.", "Do that."};
static struct role_level levels[] = {
    {"mid", "Mid-level", "Moderate", "Some summary.", strategies, 2},
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
    .ntasks = NELEM(tasks),
    .skills = skills,
    .nskills = NELEM(skills),
};
static struct roles roles = {&role, 1};

static int reset_weights(void **state)
{
    role.exposure_weight[EXPOSURE_HIGH] = 100;
    role.exposure_weight[EXPOSURE_MEDIUM] = 50;
    role.exposure_weight[EXPOSURE_LOW] = 10;
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

static void assert_near(double got, double want)
{
    if (fabs(got - want) > 1e-9)
        fail_msg("got %.12g, want %.12g", got, want);
}

static void test_given_shares(void **state)
{
    struct signup_task t[] = {{"a", 50, 1}, {"b", 30, 1}, {"c", 20, 1}};
    struct report r;

    build(&r, t, 3);
    /* 50% x 100 + 30% x 50 + 20% x 10 */
    assert_near(r.score, 67);
    assert_int_equal(r.score_rounded, 67);
    assert_string_equal(r.risk_label, "High");
    assert_int_equal(r.tasks_given, 1);
    assert_ptr_equal(r.role, &role);
    assert_ptr_equal(r.level, &levels[0]);
    assert_near(r.tasks[1].share, 30);
    assert_true(r.tasks[1].has_share);
    report_free(&r);
}

static void test_remainder_split_evenly(void **state)
{
    struct signup_task t[] = {{"a", 40, 1}, {"b", 0, 0}, {"c", 0, 0}};
    struct report r;

    build(&r, t, 3);
    assert_near(r.tasks[0].share, 40);
    assert_near(r.tasks[1].share, 30);
    assert_near(r.tasks[2].share, 30);
    assert_false(r.tasks[1].has_share);
    /* 40 + 15 + 3 */
    assert_near(r.score, 58);
    assert_string_equal(r.risk_label, "Moderate");
    report_free(&r);
}

static void test_given_shares_over_100_leave_nothing(void **state)
{
    struct signup_task t[] = {{"a", 80, 1}, {"b", 40, 1}, {"c", 0, 0}};
    struct report r;

    build(&r, t, 3);
    assert_near(r.tasks[0].share, 80.0 * 100 / 120);
    assert_near(r.tasks[1].share, 40.0 * 100 / 120);
    assert_near(r.tasks[2].share, 0);
    assert_near(r.score, 80.0 * 100 / 120 + 40.0 * 50 / 120);
    assert_int_equal(r.score_rounded, 83);
    report_free(&r);
}

static void test_shares_normalized(void **state)
{
    struct signup_task t[] = {{"a", 20, 1}, {"b", 20, 1}};
    struct report r;

    build(&r, t, 2);
    assert_near(r.tasks[0].share, 50);
    assert_near(r.tasks[1].share, 50);
    assert_near(r.score, 75);
    report_free(&r);
}

static void test_zero_shares_become_equal(void **state)
{
    struct signup_task t[] = {{"a", 0, 1}, {"c", 0, 1}};
    struct report r;

    build(&r, t, 2);
    assert_near(r.tasks[0].share, 50);
    assert_near(r.tasks[1].share, 50);
    assert_near(r.score, 55);
    report_free(&r);
}

static void test_no_tasks_means_all_role_tasks(void **state)
{
    struct report r;
    size_t i;

    build(&r, NULL, 0);
    assert_int_equal(r.tasks_given, 0);
    assert_int_equal(r.ntasks, NELEM(tasks));
    for (i = 0; i < r.ntasks; i++) {
        assert_ptr_equal(r.tasks[i].task, &tasks[i]);
        assert_near(r.tasks[i].share, 20);
        assert_false(r.tasks[i].has_share);
    }
    /* 20% x (100 + 50 + 10 + 100 + 100) */
    assert_near(r.score, 72);
    assert_int_equal(r.exposure_count[EXPOSURE_HIGH], 3);
    assert_int_equal(r.exposure_count[EXPOSURE_MEDIUM], 1);
    assert_int_equal(r.exposure_count[EXPOSURE_LOW], 1);
    report_free(&r);
}

/* The label of a single high task when "high" weighs w. */
static void expect_label(double w, int shown, const char *label)
{
    struct signup_task t[] = {{"a", 0, 0}};
    struct report r;

    role.exposure_weight[EXPOSURE_HIGH] = w;
    build(&r, t, 1);
    assert_int_equal(r.score_rounded, shown);
    assert_string_equal(r.risk_label, label);
    report_free(&r);
}

static void test_thresholds_and_rounding(void **state)
{
    expect_label(100, 100, "High");
    expect_label(60, 60, "High");
    /* Rounds half up, and the label follows the score shown. */
    expect_label(59.5, 60, "High");
    expect_label(59.49, 59, "Moderate");
    expect_label(35, 35, "Moderate");
    expect_label(34.5, 35, "Moderate");
    expect_label(34.4, 34, "Low");
    expect_label(0, 0, "Low");
}

static void test_rounding_survives_inexact_shares(void **state)
{
    struct signup_task t[] = {{"a", 5, 1}, {"b", 6, 1}, {"c", 1, 1}};
    struct report r;

    /* (5 x 100 + 6 x 50 + 1 x 10) / 12 = 67.5 on paper, 67.49999999999999 in doubles. */
    build(&r, t, 3);
    assert_true(fabs(r.score - 67.5) < 1e-9);
    assert_int_equal(r.score_rounded, 68);
    report_free(&r);
}

static const char *summary_for(struct signup_task *t, size_t n)
{
    static char out[128];
    struct report r;
    struct value *v;
    const struct value *s;

    build(&r, t, n);
    v = report_to_value(&r);
    assert_non_null(v);
    s = value_map_get(v, "exposure_summary");
    assert_non_null(s);
    snprintf(out, sizeof(out), "%s", s->u.str.s);
    value_free(v);
    report_free(&r);
    return out;
}

static void test_exposure_summary_wording(void **state)
{
    struct signup_task abc[] = {{"a", 0, 0}, {"b", 0, 0}, {"c", 0, 0}};
    struct signup_task adb[] = {{"a", 0, 0}, {"d", 0, 0}, {"b", 0, 0}};
    struct signup_task ade[] = {{"a", 0, 0}, {"d", 0, 0}, {"e", 0, 0}};
    struct signup_task ad[] = {{"a", 0, 0}, {"d", 0, 0}};
    struct signup_task bc[] = {{"b", 0, 0}, {"c", 0, 0}};
    struct signup_task a[] = {{"a", 0, 0}};
    struct signup_task c[] = {{"c", 0, 0}};

    assert_string_equal(summary_for(abc, 3), "1 of 3 tasks faces high exposure");
    assert_string_equal(summary_for(adb, 3), "2 of 3 tasks face high exposure");
    assert_string_equal(summary_for(ade, 3), "All 3 tasks face high exposure");
    assert_string_equal(summary_for(ad, 2), "Both tasks face high exposure");
    assert_string_equal(summary_for(bc, 2), "None of the 2 tasks face high exposure");
    assert_string_equal(summary_for(a, 1), "Your task faces high exposure");
    assert_string_equal(summary_for(c, 1), "Your task does not face high exposure");
    assert_string_equal(summary_for(NULL, 0), "3 of 5 tasks face high exposure");
}

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
    /* A failed build holds nothing. */
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

static const struct value *item(const struct value *list, size_t i)
{
    assert_true(i < list->u.list.n);
    return list->u.list.items[i];
}

static void test_value_tree_has_documented_keys(void **state)
{
    struct signup_task t[] = {{"c", 20, 1}, {"a", 0, 0}, {"b", 30, 1}};
    char *sk[] = {"r1", "v1"};
    struct signup s = make_signup(t, 3, sk, 2);
    const struct value *tasks_v, *task, *list;
    char err[ERRLEN];
    struct report r;
    struct value *v;

    s.name = "  Ann Marie Lee ";
    s.has_years = 1;
    s.years = 7;
    assert_int_equal(report_build(&r, &s, &roles, err), 0);
    v = report_to_value(&r);
    assert_non_null(v);

    assert_string_equal(str(v, "name"), "Ann Marie Lee");
    assert_string_equal(str(v, "first_name"), "Ann");
    assert_true(boolean(v, "has_name"));
    assert_string_equal(str(v, "email"), "ann@example.org");
    assert_true(boolean(v, "has_years"));
    assert_near(num(v, "years"), 7);
    assert_string_equal(str(get(v, "role", VALUE_MAP), "id"), "tester");
    assert_string_equal(str(get(v, "role", VALUE_MAP), "title"), "Tester");
    assert_string_equal(str(get(v, "level", VALUE_MAP), "id"), "mid");
    assert_string_equal(str(get(v, "level", VALUE_MAP), "title"), "Mid-level");
    assert_string_equal(str(get(v, "level", VALUE_MAP), "risk"), "Moderate");
    assert_string_equal(str(get(v, "level", VALUE_MAP), "summary"), "Some summary.");
    /* 20% x 10 + 50% x 100 + 30% x 50 = 67 */
    assert_near(num(v, "score"), 67);
    assert_string_equal(str(v, "risk_label"), "High");

    /* Largest share first. */
    tasks_v = get(v, "tasks", VALUE_LIST);
    assert_int_equal(tasks_v->u.list.n, 3);
    task = item(tasks_v, 0);
    assert_string_equal(str(task, "id"), "a");
    assert_string_equal(str(task, "title"), "Task A");
    assert_string_equal(str(task, "exposure"), "high");
    assert_string_equal(str(task, "exposure_label"), "High");
    assert_true(boolean(task, "exposure_high"));
    assert_false(boolean(task, "exposure_medium"));
    assert_false(boolean(task, "exposure_low"));
    assert_string_equal(str(task, "rationale"), "A is automatable.");
    assert_near(num(task, "share"), 50);
    assert_false(boolean(task, "share_given"));
    assert_string_equal(str(item(tasks_v, 1), "id"), "b");
    assert_true(boolean(item(tasks_v, 1), "share_given"));
    assert_string_equal(str(item(tasks_v, 2), "id"), "c");
    assert_true(boolean(item(tasks_v, 2), "exposure_low"));

    assert_true(boolean(v, "tasks_given"));
    assert_true(boolean(v, "has_assumed_shares"));
    assert_near(num(v, "task_count"), 3);
    assert_near(num(v, "high_count"), 1);
    assert_near(num(v, "medium_count"), 1);
    assert_near(num(v, "low_count"), 1);
    assert_near(num(v, "high_share"), 50);
    assert_near(num(v, "medium_share"), 30);
    assert_near(num(v, "low_share"), 20);
    assert_string_equal(str(v, "exposure_summary"), "1 of 3 tasks faces high exposure");

    list = get(v, "vulnerable_skills", VALUE_LIST);
    assert_int_equal(list->u.list.n, 1);
    assert_string_equal(str(item(list, 0), "id"), "v1");
    assert_string_equal(str(item(list, 0), "name"), "Vulnerable one");
    assert_string_equal(str(item(list, 0), "rationale"), "V1 why.");
    assert_string_equal(str(item(list, 0), "outlook"), "vulnerable");
    list = get(v, "resilient_skills", VALUE_LIST);
    assert_int_equal(list->u.list.n, 1);
    assert_string_equal(str(item(list, 0), "id"), "r1");
    assert_true(boolean(v, "has_vulnerable_skills"));
    assert_true(boolean(v, "has_resilient_skills"));
    assert_true(boolean(v, "has_skills"));

    list = get(v, "role_skills", VALUE_LIST);
    assert_int_equal(list->u.list.n, 3);
    assert_true(boolean(item(list, 1), "resilient"));
    assert_false(boolean(item(list, 1), "vulnerable"));
    assert_int_equal(get(v, "role_vulnerable_skills", VALUE_LIST)->u.list.n, 2);
    assert_int_equal(get(v, "role_resilient_skills", VALUE_LIST)->u.list.n, 1);

    list = get(v, "strategies", VALUE_LIST);
    assert_int_equal(list->u.list.n, 2);
    assert_string_equal(str(item(list, 1), "text"), "Do that.");

    value_free(v);
    report_free(&r);
}

static void test_value_without_optional_fields(void **state)
{
    struct report r;
    struct value *v;

    build(&r, NULL, 0);
    v = report_to_value(&r);
    assert_non_null(v);
    assert_false(boolean(v, "has_name"));
    assert_string_equal(str(v, "name"), "");
    assert_string_equal(str(v, "first_name"), "");
    assert_false(boolean(v, "has_years"));
    assert_null(value_map_get(v, "years"));
    assert_false(boolean(v, "tasks_given"));
    assert_false(boolean(v, "has_assumed_shares"));
    assert_false(boolean(v, "has_skills"));
    assert_false(boolean(v, "has_vulnerable_skills"));
    assert_int_equal(get(v, "vulnerable_skills", VALUE_LIST)->u.list.n, 0);
    value_free(v);
    report_free(&r);
}

static void test_blank_name_is_no_name(void **state)
{
    struct signup s = make_signup(NULL, 0, NULL, 0);
    char err[ERRLEN];
    struct report r;
    struct value *v;

    s.name = " \t ";
    assert_int_equal(report_build(&r, &s, &roles, err), 0);
    v = report_to_value(&r);
    assert_non_null(v);
    assert_false(boolean(v, "has_name"));
    assert_string_equal(str(v, "first_name"), "");
    value_free(v);
    report_free(&r);
}

static void test_shown_shares_add_up_to_100(void **state)
{
    struct signup_task t[] = {{"c", 0, 0}, {"b", 0, 0}, {"a", 0, 0}};
    const struct value *list;
    struct report r;
    struct value *v;

    build(&r, t, 3);
    v = report_to_value(&r);
    assert_non_null(v);
    list = get(v, "tasks", VALUE_LIST);
    /* 33.3 each: one gets the leftover point, the first listed on a tie; then ties keep order. */
    assert_string_equal(str(item(list, 0), "id"), "c");
    assert_near(num(item(list, 0), "share"), 34);
    assert_string_equal(str(item(list, 1), "id"), "b");
    assert_near(num(item(list, 1), "share"), 33);
    assert_string_equal(str(item(list, 2), "id"), "a");
    assert_near(num(item(list, 2), "share"), 33);
    value_free(v);
    report_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_given_shares, reset_weights),
        cmocka_unit_test_setup(test_remainder_split_evenly, reset_weights),
        cmocka_unit_test_setup(test_given_shares_over_100_leave_nothing, reset_weights),
        cmocka_unit_test_setup(test_shares_normalized, reset_weights),
        cmocka_unit_test_setup(test_zero_shares_become_equal, reset_weights),
        cmocka_unit_test_setup(test_no_tasks_means_all_role_tasks, reset_weights),
        cmocka_unit_test_setup(test_thresholds_and_rounding, reset_weights),
        cmocka_unit_test_setup(test_rounding_survives_inexact_shares, reset_weights),
        cmocka_unit_test_setup(test_exposure_summary_wording, reset_weights),
        cmocka_unit_test_setup(test_skills_split_by_outlook, reset_weights),
        cmocka_unit_test_setup(test_unknown_ids_are_errors, reset_weights),
        cmocka_unit_test_setup(test_value_tree_has_documented_keys, reset_weights),
        cmocka_unit_test_setup(test_value_without_optional_fields, reset_weights),
        cmocka_unit_test_setup(test_blank_name_is_no_name, reset_weights),
        cmocka_unit_test_setup(test_shown_shares_add_up_to_100, reset_weights),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
