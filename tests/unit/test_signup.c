/* test_signup.c - signup validation, addresses, email keys and number parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signup.h"

/* A roles set built by hand: the validator only needs ids.  Sorted, as roles_find expects. */
static struct role_level dev_levels[] = {{.id = "junior"}, {.id = "senior"}};
static struct role_task dev_tasks[] = {
    {.id = "api-design"}, {.id = "code-review"}, {.id = "debugging"}};
static struct role_skill dev_skills[] = {{.id = "sql"}, {.id = "testing"}};
static struct role_level analyst_levels[] = {{.id = "mid"}};
static struct role role_list[] = {
    {.id = "backend-developer",
     .levels = dev_levels,
     .nlevels = 2,
     .tasks = dev_tasks,
     .ntasks = 3,
     .skills = dev_skills,
     .nskills = 2},
    {.id = "data-analyst", .levels = analyst_levels, .nlevels = 1},
};
static const struct roles roles = {role_list, 2};

/* A signup that passes; each test spoils one field. */
static void make_valid(struct signup *s)
{
    signup_init(s);
    s->email = strdup("ada.lovelace+reports@Example.org");
    s->name = strdup("Ada Lovelace");
    s->role = strdup("backend-developer");
    s->level = strdup("senior");
    assert_non_null(s->email);
    assert_non_null(s->name);
    assert_non_null(s->role);
    assert_non_null(s->level);
    assert_int_equal(signup_add_task(s, "api-design", 40, 1), 0);
    assert_int_equal(signup_add_task(s, "debugging", 0, 0), 0);
    assert_int_equal(signup_add_skill(s, "sql"), 0);
    s->years = 12;
    s->has_years = 1;
}

static void replace(char **field, const char *value)
{
    free(*field);
    *field = value ? strdup(value) : NULL;
    if (value)
        assert_non_null(*field);
}

/* Validates s and expects exactly the message want (or success when want is NULL). */
static void expect_validate(struct signup *s, const char *want)
{
    char err[ERRLEN] = "";
    int rc = signup_validate(s, &roles, err);

    if (want == NULL) {
        if (rc != 0)
            fail_msg("unexpected error: %s", err);
    } else {
        assert_int_equal(rc, -1);
        assert_string_equal(err, want);
    }
    signup_free(s);
}

static void expect_email(const char *email, const char *want)
{
    struct signup s;

    make_valid(&s);
    replace(&s.email, email);
    expect_validate(&s, want);
}

static void expect_name(const char *name, const char *want)
{
    struct signup s;

    make_valid(&s);
    replace(&s.name, name);
    expect_validate(&s, want);
}

/* A string of n copies of c. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);

    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_valid_signup_passes(void **state)
{
    struct signup s;

    make_valid(&s);
    expect_validate(&s, NULL);
    /* Only the required fields. */
    signup_init(&s);
    s.email = strdup("a@b.co");
    s.role = strdup("data-analyst");
    s.level = strdup("mid");
    expect_validate(&s, NULL);
}

static void test_email_required(void **state)
{
    expect_email(NULL, "email: required");
    expect_email("", "email: required");
}

static void test_email_bad_syntax(void **state)
{
    static const struct {
        const char *email, *want;
    } cases[] = {
        {"plainaddress", "email: no @ in the address"},
        {"@example.com", "email: local part is empty"},
        {"ada@", "email: domain is empty"},
        {".ada@example.com", "email: local part starts or ends with a dot"},
        {"ada.@example.com", "email: local part starts or ends with a dot"},
        {"ada..lovelace@example.com", "email: local part has two dots in a row"},
        {"ada lovelace@example.com", "email: local part: byte 0x20 is not allowed"},
        {"\"ada\"@example.com", "email: local part: '\"' is not allowed"},
        {"ada@lovelace@example.com", "email: local part: '@' is not allowed"},
        {"ada(comment)@example.com", "email: local part: '(' is not allowed"},
        {"\xc3\xa4"
         "da@example.com",
         "email: local part: non-ASCII characters are not supported"},
        {"ada@localhost", "email: domain has no dot"},
        {"ada@.example.com", "email: domain has an empty label"},
        {"ada@example..com", "email: domain has an empty label"},
        {"ada@example.com.", "email: domain has an empty label"},
        {"ada@-example.com", "email: domain label starts or ends with a hyphen"},
        {"ada@example-.com", "email: domain label starts or ends with a hyphen"},
        {"ada@exa_mple.com", "email: domain: '_' is not allowed"},
        {"ada@[192.0.2.1]", "email: domain: '[' is not allowed"},
        {"ada@b\xc3\xbc"
         "cher.de",
         "email: domain: non-ASCII characters; use the punycode (xn--) form"},
    };
    size_t i;

    for (i = 0; i < NELEM(cases); i++)
        expect_email(cases[i].email, cases[i].want);
}

static void test_email_good_syntax(void **state)
{
    static const char *const good[] = {
        "a@b.co",
        "ada.lovelace+tag@mail.example.co.uk",
        "!#$%&'*+-/=?^_`{|}~@example.com",
        "ada@xn--bcher-kva.de",
        "ADA@EXAMPLE.COM",
        "1@2.3",
        "ada@a-b.example",
    };
    size_t i;

    for (i = 0; i < NELEM(good); i++)
        expect_email(good[i], NULL);
}

static void test_email_lengths(void **state)
{
    char *local = repeat('a', SIGNUP_LOCAL_MAX + 1), *label = repeat('b', 63), *addr;
    char email[SIGNUP_EMAIL_MAX + 2];

    /* 65-character local part. */
    snprintf(email, sizeof(email), "%s@example.com", local);
    expect_email(email, "email: local part longer than 64 characters");
    /* 64 is fine. */
    local[SIGNUP_LOCAL_MAX] = '\0';
    snprintf(email, sizeof(email), "%s@example.com", local);
    expect_email(email, NULL);

    /* A 63-character label is fine, 64 is not. */
    snprintf(email, sizeof(email), "ada@%s.com", label);
    expect_email(email, NULL);
    snprintf(email, sizeof(email), "ada@%sb.com", label);
    expect_email(email, "email: domain label longer than 63 characters");

    /* 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254 characters, then 255. */
    addr = repeat('c', 61);
    snprintf(email, sizeof(email), "%s@%s.%s.%s", local, label, label, addr);
    assert_int_equal(strlen(email), SIGNUP_EMAIL_MAX);
    expect_email(email, NULL);
    free(addr);
    addr = repeat('c', 62);
    snprintf(email, sizeof(email), "%s@%s.%s.%s", local, label, label, addr);
    assert_int_equal(strlen(email), SIGNUP_EMAIL_MAX + 1);
    expect_email(email, "email: address longer than 254 characters");
    free(addr);
    free(local);
    free(label);
}

static void test_email_validate_alone_has_no_field_prefix(void **state)
{
    char err[ERRLEN];

    assert_int_equal(email_validate("ada@example.com", err), 0);
    assert_int_equal(email_validate("ada", err), -1);
    assert_string_equal(err, "no @ in the address");
    assert_int_equal(email_validate("", err), -1);
    assert_string_equal(err, "address is empty");
}

static void test_control_characters_refused_everywhere(void **state)
{
    static const char *const bad[] = {
        "Ada\r\nBcc: victim@example.com",
        "Ada\nLovelace",
        "Ada\tLovelace",
        "Ada\x1b[31m",
        "Ada\x7f",
        "Ada\xc2\x85",     /* U+0085 NEXT LINE */
        "Ada\xe2\x80\xa8", /* U+2028 LINE SEPARATOR */
    };
    struct signup s;
    size_t i;

    for (i = 0; i < NELEM(bad); i++)
        expect_name(bad[i], "name: contains a line break or control character");
    expect_email("ada\r\n@example.com", "email: contains a line break or control character");
    expect_email("ada\x01@example.com", "email: contains a line break or control character");

    make_valid(&s);
    replace(&s.role, "backend-developer\n");
    expect_validate(&s, "role: contains a line break or control character");
    make_valid(&s);
    replace(&s.level, "senior\r");
    expect_validate(&s, "level: contains a line break or control character");
    make_valid(&s);
    replace(&s.tasks[1].id, "debugging\x0b");
    expect_validate(&s, "tasks[1]: contains a line break or control character");
    make_valid(&s);
    replace(&s.skills[0], "\x08sql");
    expect_validate(&s, "skills[0]: contains a line break or control character");
}

static void test_invalid_utf8_refused(void **state)
{
    struct signup s;

    expect_name("Ad\xc3\x28", "name: not valid UTF-8");
    expect_name("\xc0\xaf"
                "Ada",
                "name: not valid UTF-8"); /* overlong "/" */
    expect_name("Ada\x80", "name: not valid UTF-8");
    expect_name("\xed\xa0\x80", "name: not valid UTF-8"); /* a surrogate */
    expect_name("Ad\xc3\xa1 L\xc3\xb6velace", NULL);
    expect_email("ad\xff@example.com", "email: not valid UTF-8");
    make_valid(&s);
    replace(&s.role, "backend\xe2\x82");
    expect_validate(&s, "role: not valid UTF-8");
}

static void test_name_limits(void **state)
{
    char *name = repeat('n', SIGNUP_NAME_MAX + 1);

    expect_name(name, "name: longer than 200 bytes");
    name[SIGNUP_NAME_MAX] = '\0';
    expect_name(name, NULL);
    free(name);
    expect_name("", "name: empty; leave it out instead");
    expect_name(NULL, NULL);
}

static void test_unknown_ids(void **state)
{
    struct signup s;

    make_valid(&s);
    replace(&s.role, "astronaut");
    expect_validate(&s, "role: unknown role \"astronaut\"");
    make_valid(&s);
    replace(&s.role, NULL);
    expect_validate(&s, "role: required");
    make_valid(&s);
    replace(&s.level, "mid");
    expect_validate(&s, "level: unknown level \"mid\" for role \"backend-developer\"");
    make_valid(&s);
    replace(&s.level, "");
    expect_validate(&s, "level: required");
    make_valid(&s);
    replace(&s.tasks[1].id, "juggling");
    expect_validate(&s, "tasks[1]: unknown task \"juggling\" for role \"backend-developer\"");
    make_valid(&s);
    assert_int_equal(signup_add_skill(&s, "x"), 0);
    expect_validate(&s, "skills[1]: unknown skill \"x\" for role \"backend-developer\"");
    /* Tasks of another role do not count. */
    make_valid(&s);
    replace(&s.role, "data-analyst");
    replace(&s.level, "mid");
    expect_validate(&s, "tasks[0]: unknown task \"api-design\" for role \"data-analyst\"");
}

static void test_duplicate_ids(void **state)
{
    struct signup s;

    make_valid(&s);
    assert_int_equal(signup_add_task(&s, "api-design", 0, 0), 0);
    expect_validate(&s, "tasks[2]: task \"api-design\" listed twice");
    make_valid(&s);
    assert_int_equal(signup_add_skill(&s, "testing"), 0);
    assert_int_equal(signup_add_skill(&s, "sql"), 0);
    expect_validate(&s, "skills[2]: skill \"sql\" listed twice");
}

static void test_shares(void **state)
{
    struct signup s;

    make_valid(&s);
    s.tasks[0].share = -1;
    expect_validate(&s, "tasks[0].share: must be between 0 and 100, got -1");
    make_valid(&s);
    s.tasks[0].share = 100.5;
    expect_validate(&s, "tasks[0].share: must be between 0 and 100, got 100.5");
    make_valid(&s);
    s.tasks[1].share = NAN;
    s.tasks[1].has_share = 1;
    expect_validate(&s, "tasks[1].share: not a number");
    make_valid(&s);
    s.tasks[0].share = 70;
    s.tasks[1].share = 60;
    s.tasks[1].has_share = 1;
    expect_validate(&s, "tasks: shares add up to 130, more than 100");
    /* Rounding in what people type is not an excess. */
    make_valid(&s);
    s.tasks[0].share = 33.3;
    s.tasks[1].share = 33.3;
    s.tasks[1].has_share = 1;
    assert_int_equal(signup_add_task(&s, "code-review", 33.4, 1), 0);
    expect_validate(&s, NULL);
    /* Zero and exactly 100 are allowed. */
    make_valid(&s);
    s.tasks[0].share = 100;
    s.tasks[1].share = 0;
    s.tasks[1].has_share = 1;
    expect_validate(&s, NULL);
}

static void test_years(void **state)
{
    struct signup s;

    make_valid(&s);
    s.years = -1;
    expect_validate(&s, "years: must be between 0 and 80, got -1");
    make_valid(&s);
    s.years = 81;
    expect_validate(&s, "years: must be between 0 and 80, got 81");
    make_valid(&s);
    s.years = NAN;
    expect_validate(&s, "years: not a number");
    make_valid(&s);
    s.years = 0;
    expect_validate(&s, NULL);
    make_valid(&s);
    s.years = -5;
    s.has_years = 0; /* not given: the value is not looked at */
    expect_validate(&s, NULL);
}

static void test_too_many_tasks_and_skills(void **state)
{
    struct signup s;
    size_t i;

    make_valid(&s);
    for (i = s.ntasks; i <= SIGNUP_MAX_TASKS; i++)
        assert_int_equal(signup_add_task(&s, "debugging", 0, 0), 0);
    expect_validate(&s, "tasks: more than 128 tasks");
    make_valid(&s);
    for (i = s.nskills; i <= SIGNUP_MAX_SKILLS; i++)
        assert_int_equal(signup_add_skill(&s, "sql"), 0);
    expect_validate(&s, "skills: more than 128 skills");
}

static void test_add_and_free(void **state)
{
    struct signup s;

    make_valid(&s);
    assert_int_equal(s.ntasks, 2);
    assert_string_equal(s.tasks[0].id, "api-design");
    assert_true(s.tasks[0].has_share);
    assert_true(s.tasks[0].share == 40);
    assert_false(s.tasks[1].has_share);
    assert_int_equal(s.nskills, 1);
    assert_string_equal(s.skills[0], "sql");
    signup_free(&s);
    assert_null(s.email);
    assert_null(s.tasks);
    assert_int_equal(s.ntasks, 0);
    signup_free(&s); /* twice is harmless */
}

static void test_email_key(void **state)
{
    char key[SIGNUP_EMAIL_KEY_MAX], small[8];

    assert_int_equal(email_key("Ada.Lovelace@Mail.Example.ORG", key, sizeof(key)), 0);
    assert_string_equal(key, "Ada.Lovelace@mail.example.org");
    assert_int_equal(email_key("ada@example.org", key, sizeof(key)), 0);
    assert_string_equal(key, "ada@example.org");
    assert_int_equal(email_key("no-at-sign", key, sizeof(key)), -1);
    assert_int_equal(email_key("ada@example.org", small, sizeof(small)), -1);
    assert_int_equal(email_key("ada@b.c", small, sizeof(small)), 0);
    assert_string_equal(small, "ada@b.c");
}

static void test_parse_nonnegative(void **state)
{
    static const struct {
        const char *text;
        double want;
    } good[] = {{"0", 0}, {"12", 12}, {"12.5", 12.5}, {"007", 7}, {"100.0", 100}};
    static const char *const bad[] = {
        "", "-1", "+1", "1e3", "0x10", "inf", "nan", "1.", ".5", "1.2.3", " 1", "1 ", "1,5", "12a",
    };
    char huge[400];
    double v;
    size_t i;

    for (i = 0; i < NELEM(good); i++) {
        v = -1;
        assert_int_equal(parse_nonnegative(good[i].text, &v), 0);
        assert_true(v == good[i].want);
    }
    for (i = 0; i < NELEM(bad); i++) {
        v = -1;
        if (parse_nonnegative(bad[i], &v) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_true(v == -1);
    }
    memset(huge, '9', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_int_equal(parse_nonnegative(huge, &v), -1);
}

/* Invalid UTF-8 is found wherever it sits, also after ASCII runs read 16 or 8 bytes at a time. */
static void test_utf8_valid_at_every_offset(void **state)
{
    static const char *const bad[] = {
        "\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
    static const char *const good[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    char text[96];
    size_t i, at;

    (void)state;
    /* Offsets past two blocks of 16: the sequence in the first, second and third. */
    for (at = 0; at < 40; at++) {
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            memset(text, 'a', sizeof(text));
            memcpy(text + at, bad[i], strlen(bad[i]));
            assert_false(utf8_valid(text, at + strlen(bad[i]) + 9));
        }
        for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            memset(text, 'a', sizeof(text));
            memcpy(text + at, good[i], strlen(good[i]));
            assert_true(utf8_valid(text, at + strlen(good[i]) + 9));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid_at_every_offset),
        cmocka_unit_test(test_valid_signup_passes),
        cmocka_unit_test(test_email_required),
        cmocka_unit_test(test_email_bad_syntax),
        cmocka_unit_test(test_email_good_syntax),
        cmocka_unit_test(test_email_lengths),
        cmocka_unit_test(test_email_validate_alone_has_no_field_prefix),
        cmocka_unit_test(test_control_characters_refused_everywhere),
        cmocka_unit_test(test_invalid_utf8_refused),
        cmocka_unit_test(test_name_limits),
        cmocka_unit_test(test_unknown_ids),
        cmocka_unit_test(test_duplicate_ids),
        cmocka_unit_test(test_shares),
        cmocka_unit_test(test_years),
        cmocka_unit_test(test_too_many_tasks_and_skills),
        cmocka_unit_test(test_add_and_free),
        cmocka_unit_test(test_email_key),
        cmocka_unit_test(test_parse_nonnegative),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
