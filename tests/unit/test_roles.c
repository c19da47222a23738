/* test_roles.c - the role data loader: the shipped role, and every kind of mistake. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "roles.h"

/*
 * A valid role, laid out so that tests can name positions:
 * line 16 is "    exposure: high" (the value at column 15),
 * line 10 is the level's typical_mix,
 * line 14 is "  - id: code" (the value at column 9).
 */
static const char base_role[] = "title: Tester\n"                                        /* 1 */
                                "scoring:\n"                                             /* 2 */
                                "  exposure_weights: {high: 100, medium: 50, low: 10}\n" /* 3 */
                                "  risk_levels:\n"                                       /* 4 */
                                "    - {min_score: 50, label: High}\n"                   /* 5 */
                                "    - {min_score: 0, label: Low}\n"                     /* 6 */
                                "levels:\n"                                              /* 7 */
                                "  - id: junior\n"                                       /* 8 */
                                "    title: Junior\n"                                    /* 9 */
                                "    typical_mix: {code: 60, design: 40}\n"              /* 10 */
                                "    summary: Short.\n"                                  /* 11 */
                                "    strategies: [Learn.]\n"                             /* 12 */
                                "tasks:\n"                                               /* 13 */
                                "  - id: code\n"                                         /* 14 */
                                "    title: Code\n"                                      /* 15 */
                                "    exposure: high\n"                                   /* 16 */
                                "    rationale: Fast.\n"                                 /* 17 */
                                "    advice: Review.\n"                                  /* 18 */
                                "  - id: design\n"                                       /* 19 */
                                "    title: Design\n"                                    /* 20 */
                                "    exposure: low\n"                                    /* 21 */
                                "    rationale: Slow.\n"                                 /* 22 */
                                "    advice: Own it.\n"                                  /* 23 */
                                "skills:\n"                                              /* 24 */
                                "  - id: python\n"                                       /* 25 */
                                "    name: Python\n"                                     /* 26 */
                                "    outlook: vulnerable\n"                              /* 27 */
                                "    rationale: Common.\n";                              /* 28 */

struct fixture {
    char dir[64];
    struct roles roles;
    struct diag d;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_roles.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    diag_init(&f->d);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    roles_free(&f->roles);
    diag_free(&f->d);
    free(f);
    return 0;
}

static void write_text(const struct fixture *f, const char *name, const char *text)
{
    char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* base_role with the first occurrence of from replaced by to. */
static void write_variant(const struct fixture *f, const char *name, const char *from,
                          const char *to)
{
    const char *at = strstr(base_role, from);
    char text[4096];

    assert_non_null(at);
    snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - base_role), base_role, to,
             at + strlen(from));
    write_text(f, name, text);
}

/* Asserts that the diagnostics contain "DIR/rest". */
static void expect_diag(const struct fixture *f, const char *rest)
{
    char want[512];

    snprintf(want, sizeof(want), "%s/%s", f->dir, rest);
    if (strstr(buf_str(&f->d.text), want) == NULL)
        fail_msg("expected \"%s\" in:\n%s", want, buf_str(&f->d.text));
}

static void load_fails(struct fixture *f)
{
    assert_int_equal(roles_load(&f->roles, f->dir, &f->d), -1);
    assert_true(f->d.count > 0);
    /* Nothing is kept from a rejected set. */
    assert_null(f->roles.v);
    assert_int_equal(f->roles.n, 0);
}

/* Whole-percent shares of a level's typical mix. */
static int mix_total(const struct role_level *lv)
{
    int total = 0;
    size_t i;

    for (i = 0; i < lv->nmix; i++)
        total += lv->mix[i].share;
    return total;
}

static void test_shipped_catalog_loads(void **state)
{
    struct fixture *f = *state;
    const char *levels[] = {"junior", "mid", "senior", "lead"};
    const char *roles_wanted[] = {"backend-developer", "frontend-developer", "data-scientist",
                                  "devops-engineer",   "product-manager",    "ux-designer"};
    size_t r, i, j;

    if (roles_load(&f->roles, "config/roles", &f->d) != 0)
        fail_msg("%s", buf_str(&f->d.text));
    assert_true(f->roles.n >= NELEM(roles_wanted));
    for (i = 0; i < NELEM(roles_wanted); i++)
        if (roles_find(&f->roles, roles_wanted[i]) == NULL)
            fail_msg("role %s is not shipped", roles_wanted[i]);
    for (r = 0; r < f->roles.n; r++) {
        const struct role *role = &f->roles.v[r];
        size_t nres = 0;

        assert_int_equal(role->nlevels, NELEM(levels));
        for (i = 0; i < NELEM(levels); i++) {
            const struct role_level *lv = role_find_level(role, levels[i]);

            if (lv == NULL) {
                fail_msg("%s: no level %s", role->id, levels[i]);
                return;
            }
            assert_in_range(lv->nstrategies, 2, 6);
            assert_int_equal(mix_total(lv), 100);
        }
        assert_in_range(role->ntasks, 8, 12);
        assert_in_range(role->nskills, 8, 12);
        for (j = 0; j < role->ntasks; j++)
            assert_non_null(role->tasks[j].advice);
        for (j = 0; j < role->nskills; j++)
            nres += role->skills[j].outlook == OUTLOOK_RESILIENT;
        /* Both outlooks, so that the report has something on each side. */
        assert_in_range(nres, 1, role->nskills - 1);
        /* Thresholds come out high to low, ending at 0. */
        for (i = 1; i < role->nthresholds; i++)
            assert_true(role->thresholds[i - 1].min_score > role->thresholds[i].min_score);
        assert_true(role->thresholds[role->nthresholds - 1].min_score == 0.0);
    }
    assert_null(roles_find(&f->roles, "no-such-role"));
    assert_null(role_find_task(&f->roles.v[0], "no-such-task"));
    assert_null(role_find_skill(&f->roles.v[0], NULL));
}

static void test_valid_role_and_names(void **state)
{
    struct fixture *f = *state;
    const struct role *role;

    write_text(f, "tester.yaml", base_role);
    assert_int_equal(roles_load(&f->roles, f->dir, &f->d), 0);
    assert_int_equal(f->d.count, 0);
    role = roles_find(&f->roles, "tester");
    assert_non_null(role);
    assert_true(role->exposure_weight[EXPOSURE_HIGH] == 100.0);
    assert_true(role->exposure_weight[EXPOSURE_MEDIUM] == 50.0);
    assert_true(role->exposure_weight[EXPOSURE_LOW] == 10.0);
    assert_int_equal(role->ntasks, 2);
    assert_string_equal(role->tasks[1].rationale, "Slow.");
    assert_string_equal(role->levels[0].strategies[0], "Learn.");
    assert_string_equal(exposure_name(EXPOSURE_MEDIUM), "medium");
    assert_string_equal(outlook_name(OUTLOOK_RESILIENT), "resilient");
    assert_string_equal(exposure_name((enum exposure)7), "unknown");
}

static void test_sorted_by_id_hidden_and_directories_ignored(void **state)
{
    struct fixture *f = *state;
    char sub[128];

    write_text(f, "b.yaml", base_role);
    write_text(f, "a-b.yaml", base_role);
    write_text(f, "a.yaml", base_role);
    write_text(f, ".hidden.yaml", "broken: [");
    snprintf(sub, sizeof(sub), "%s/sub", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(roles_load(&f->roles, f->dir, &f->d), 0);
    assert_int_equal(f->roles.n, 3);
    assert_string_equal(f->roles.v[0].id, "a");
    assert_string_equal(f->roles.v[1].id, "a-b");
    assert_string_equal(f->roles.v[2].id, "b");
    assert_ptr_equal(roles_find(&f->roles, "a-b"), &f->roles.v[1]);
    assert_ptr_equal(roles_find(&f->roles, "b"), &f->roles.v[2]);
}

/* A role saved as .yml would vanish from the site without a word: it is an error. */
static void test_other_files_are_errors(void **state)
{
    struct fixture *f = *state;

    write_text(f, "a.yaml", base_role);
    write_text(f, "frontend.yml", base_role);
    write_text(f, "c.yaml.orig", "not: a role");
    load_fails(f);
    expect_diag(f, "frontend.yml:1:1: not a role file");
    expect_diag(f, "c.yaml.orig:1:1: not a role file");
}

static void test_mix_problems(void **state)
{
    struct fixture *f = *state;

    write_variant(f, "a.yaml", "{code: 60, design: 40}", "{code: 60, desing: 40}");
    write_variant(f, "b.yaml", "{code: 60, design: 40}", "{code: 60, design: 30}");
    write_variant(f, "c.yaml", "{code: 60, design: 40}", "{code: 60.5, design: 39.5}");
    write_variant(f, "d.yaml", "    typical_mix: {code: 60, design: 40}\n", "");
    load_fails(f);
    expect_diag(f, "a.yaml:10:29: levels[0].typical_mix: \"desing\" is not a task of this role");
    expect_diag(f, "b.yaml:10:18: levels[0].typical_mix: shares add up to 90");
    expect_diag(f, "c.yaml:10:25: levels[0].typical_mix.code: expected a whole percent");
    expect_diag(f, "d.yaml:8:5: levels[0]: missing required key \"typical_mix\"");
}

static void test_role_missing_a_level(void **state)
{
    struct fixture *f = *state;

    write_text(f, "a.yaml", base_role);
    write_variant(f, "b.yaml", "  - id: junior\n", "  - id: senior\n");
    load_fails(f);
    expect_diag(f, "b.yaml:8:3: levels: no level \"junior\", which role a has");
    expect_diag(f, "a.yaml:8:3: levels: no level \"senior\", which role b has");
}

static void test_thresholds_sorted_high_to_low(void **state)
{
    struct fixture *f = *state;
    const struct role *role;

    write_text(f, "t.yaml",
               "title: T\n"
               "scoring:\n"
               "  exposure_weights: {high: 100, medium: 50, low: 10}\n"
               "  risk_levels:\n"
               "    - {min_score: 0, label: Low}\n"
               "    - {min_score: 80, label: Top}\n"
               "    - {min_score: 40.5, label: Mid}\n"
               "levels: [{id: a, title: A, summary: S, strategies: [x], typical_mix: {t: 100}}]\n"
               "tasks: [{id: t, title: T, exposure: low, rationale: R, advice: A}]\n"
               "skills: []\n");
    assert_int_equal(roles_load(&f->roles, f->dir, &f->d), 0);
    role = &f->roles.v[0];
    assert_int_equal(role->nthresholds, 3);
    assert_string_equal(role->thresholds[0].label, "Top");
    assert_string_equal(role->thresholds[1].label, "Mid");
    assert_true(role->thresholds[1].min_score == 40.5);
    assert_string_equal(role->thresholds[2].label, "Low");
    assert_int_equal(role->nskills, 0);
}

static void test_unknown_key(void **state)
{
    struct fixture *f = *state;

    write_variant(f, "r.yaml", "    rationale: Fast.\n", "    rationale: Fast.\n    exposre: x\n");
    load_fails(f);
    expect_diag(f, "r.yaml:18:5: tasks[0]: unknown key \"exposre\" (expected one of: id, "
                   "title, exposure, rationale, advice)");
    assert_int_equal(f->d.count, 1);
}

static void test_unknown_key_at_top_level(void **state)
{
    struct fixture *f = *state;

    write_variant(f, "r.yaml", "title: Tester\n", "title: Tester\ntitel: Typo\n");
    load_fails(f);
    expect_diag(f, "r.yaml:2:1: unknown key \"titel\"");
}

static void test_duplicate_key(void **state)
{
    struct fixture *f = *state;

    write_variant(f, "r.yaml", "    title: Code\n", "    title: Code\n    title: Again\n");
    load_fails(f);
    expect_diag(f, "r.yaml:16:5: tasks[0]: duplicate key \"title\" (first at line 15)");
}

static void test_missing_key(void **state)
{
    struct fixture *f = *state;

    write_variant(f, "r.yaml", "    rationale: Slow.\n", "");
    load_fails(f);
    expect_diag(f, "r.yaml:19:5: tasks[1]: missing required key \"rationale\"");
}

static void test_missing_top_level_section(void **state)
{
    struct fixture *f = *state;

    write_text(f, "r.yaml", "title: Only a title\n");
    load_fails(f);
    expect_diag(f, "r.yaml:1:1: missing required key \"scoring\"");
    expect_diag(f, "r.yaml:1:1: missing required key \"levels\"");
    expect_diag(f, "r.yaml:1:1: missing required key \"tasks\"");
    expect_diag(f, "r.yaml:1:1: missing required key \"skills\"");
}

static void test_wrong_types(void **state)
{
    struct fixture *f = *state;

    write_variant(f, "a.yaml", "title: Tester\n", "title: [a, b]\n");
    write_variant(f, "b.yaml", "tasks:\n", "tasks: {}\nold_tasks:\n");
    write_variant(f, "c.yaml", "    summary: Short.\n", "    summary:\n");
    write_variant(f, "d.yaml", "  - id: code\n", "  - just text\n  - id: code\n");
    load_fails(f);
    expect_diag(f, "a.yaml:1:8: title: expected text, found a list");
    expect_diag(f, "b.yaml:13:8: tasks: expected a list, found a mapping");
    expect_diag(f, "c.yaml:11:13: levels[0].summary: expected text, found null");
    expect_diag(f, "d.yaml:14:5: tasks[0]: expected a mapping, found a scalar");
}

static void test_bad_numbers(void **state)
{
    struct fixture *f = *state;

    write_variant(f, "a.yaml", "high: 100", "high: 150");
    write_variant(f, "b.yaml", "medium: 50", "medium: lots");
    write_variant(f, "c.yaml", "low: 10", "low: \"10\"");
    write_variant(f, "d.yaml", "min_score: 50", "min_score: 0x20");
    load_fails(f);
    expect_diag(f, "a.yaml:3:28: scoring.exposure_weights.high: 150 is out of range (0 to 100)");
    expect_diag(f, "b.yaml:3:41: scoring.exposure_weights.medium: expected a number, found "
                   "\"lots\"");
    expect_diag(f, "c.yaml:3:50: scoring.exposure_weights.low: expected a number, found \"10\"");
    expect_diag(f, "d.yaml:5:19: scoring.risk_levels[0].min_score: expected a number, found "
                   "\"0x20\"");
}

static void test_bad_enum(void **state)
{
    struct fixture *f = *state;

    write_variant(f, "a.yaml", "exposure: high", "exposure: huge");
    write_variant(f, "b.yaml", "outlook: vulnerable", "outlook: doomed");
    load_fails(f);
    expect_diag(f, "a.yaml:16:15: tasks[0].exposure: \"huge\" is not one of: low, medium, high");
    expect_diag(f, "b.yaml:27:14: skills[0].outlook: \"doomed\" is not one of: vulnerable, "
                   "resilient");
}

static void test_duplicate_ids(void **state)
{
    struct fixture *f = *state;

    write_variant(f, "r.yaml", "  - id: design\n", "  - id: code\n");
    load_fails(f);
    expect_diag(f, "r.yaml:19:9: tasks[1].id: duplicate id \"code\" (first at line 14)");
    /* The typical mix still names the task whose id was changed. */
    expect_diag(f, "r.yaml:10:29: levels[0].typical_mix: \"design\" is not a task of this role");
    assert_int_equal(f->d.count, 2);
}

static void test_bad_ids(void **state)
{
    struct fixture *f = *state;
    char long_id[ROLE_ID_MAX + 32];
    char line[sizeof(long_id) + 16];

    memset(long_id, 'x', ROLE_ID_MAX + 1);
    long_id[ROLE_ID_MAX + 1] = '\0';
    snprintf(line, sizeof(line), "  - id: %s\n", long_id);
    write_variant(f, "a.yaml", "  - id: code\n", "  - id: Write_Code\n");
    write_variant(f, "b.yaml", "  - id: python\n", line);
    write_text(f, "Bad_Name.yaml", base_role);
    load_fails(f);
    expect_diag(f, "a.yaml:14:9: tasks[0].id: \"Write_Code\" is not an id (1 to 64 characters "
                   "of a-z, 0-9 and -)");
    expect_diag(f, "b.yaml:25:9: skills[0].id: \"xxxx");
    expect_diag(f, "Bad_Name.yaml:1:1: the file name makes the role id \"Bad_Name\"");
}

static void test_limits(void **state)
{
    struct fixture *f = *state;
    char levels[8192];
    size_t i, used;

    used = (size_t)snprintf(levels, sizeof(levels), "levels:\n");
    for (i = 0; i <= ROLE_MAX_LEVELS; i++)
        used += (size_t)snprintf(levels + used, sizeof(levels) - used,
                                 "  - {id: l%zu, title: L, summary: S, strategies: [x], "
                                 "typical_mix: {code: 100}}\n",
                                 i);
    write_variant(f, "r.yaml",
                  "levels:\n  - id: junior\n    title: Junior\n"
                  "    typical_mix: {code: 60, design: 40}\n"
                  "    summary: Short.\n    strategies: [Learn.]\n",
                  levels);
    write_variant(f, "s.yaml", "strategies: [Learn.]", "strategies: []");
    load_fails(f);
    expect_diag(f, "r.yaml:8:3: levels: has 17 items, at most 16 are allowed");
    expect_diag(f, "s.yaml:12:17: levels[0].strategies: needs at least 1 item");
}

static void test_thresholds_need_zero_and_no_duplicates(void **state)
{
    struct fixture *f = *state;

    write_variant(f, "a.yaml", "{min_score: 0, label: Low}", "{min_score: 10, label: Low}");
    write_variant(f, "b.yaml", "{min_score: 0, label: Low}", "{min_score: 50, label: Low}");
    load_fails(f);
    expect_diag(f, "a.yaml:5:5: scoring.risk_levels: needs a level with min_score 0");
    expect_diag(f, "b.yaml:6:19: scoring.risk_levels[1].min_score: duplicate min_score 50");
    expect_diag(f, "b.yaml:5:5: scoring.risk_levels: needs a level with min_score 0");
}

static void test_empty_and_malformed_files(void **state)
{
    struct fixture *f = *state;

    write_text(f, "empty.yaml", "");
    write_text(f, "list.yaml", "- a\n- b\n");
    write_text(f, "broken.yaml", "title: Tester\nscoring: [\n");
    load_fails(f);
    expect_diag(f, "empty.yaml:1:1: empty file");
    expect_diag(f, "list.yaml:1:1: role: expected a mapping, found a list");
    expect_diag(f, "broken.yaml:3:1: ");
}

static void test_every_problem_is_reported(void **state)
{
    struct fixture *f = *state;

    write_text(f, "good.yaml", base_role);
    write_text(f, "bad.yaml",
               "title: ''\n"
               "scoring:\n"
               "  exposure_weights: {high: 100, medium: 50}\n"
               "  risk_levels: [{min_score: 30, label: Some}]\n"
               "levels: [{id: a, title: A, summary: S, strategies: [x], typical_mix: {t: 100}}]\n"
               "tasks:\n"
               "  - {id: t, title: T, exposure: extreme, rationale: R, advice: A}\n"
               "  - {id: t, title: T2, exposure: low, rationale: R, advice: A, extra: 1}\n"
               "skills: []\n");
    load_fails(f);
    expect_diag(f, "bad.yaml:1:8: title: must not be empty");
    expect_diag(f, "bad.yaml:3:21: scoring.exposure_weights: missing required key \"low\"");
    expect_diag(f, "bad.yaml:4:16: scoring.risk_levels: needs a level with min_score 0");
    expect_diag(f, "bad.yaml:7:33: tasks[0].exposure: \"extreme\" is not one of");
    expect_diag(f, "bad.yaml:8:64: tasks[1]: unknown key \"extra\"");
    expect_diag(f, "bad.yaml:8:10: tasks[1].id: duplicate id \"t\" (first at line 7)");
    assert_int_equal(f->d.count, 6);
}

static void test_directory_problems(void **state)
{
    struct fixture *f = *state;
    char missing[128];

    snprintf(missing, sizeof(missing), "%s/nope", f->dir);
    assert_int_equal(roles_load(&f->roles, missing, &f->d), -1);
    expect_diag(f, "nope: cannot open the roles directory: No such file or directory");
    diag_free(&f->d);
    diag_init(&f->d);
    write_text(f, "readme.txt", "no roles here");
    load_fails(f);
    if (strstr(buf_str(&f->d.text), "no roles") == NULL)
        fail_msg("%s", buf_str(&f->d.text));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shipped_catalog_loads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_valid_role_and_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sorted_by_id_hidden_and_directories_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_files_are_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mix_problems, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_missing_a_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thresholds_sorted_high_to_low, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_at_top_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_top_level_section, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_enum, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thresholds_need_zero_and_no_duplicates, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_empty_and_malformed_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_problem_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_problems, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
