/* test_idn.c - Unicode domains: to the ASCII (xn--) form at intake, and shown back in Unicode. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "idn.h"
#include "signup.h"

static void test_to_ascii(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"joerg@b\xc3\xbc"
         "cher.example",
         "joerg@xn--bcher-kva.example"},
        /* TR46 mapping: upper case maps to the same name. */
        {"joerg@B\xc3\x9c"
         "CHER.Example",
         "joerg@xn--bcher-kva.example"},
        /* Non-transitional: sharp s is kept, not mapped to "ss". */
        {"a@stra\xc3\x9f"
         "e.de",
         "a@xn--strae-oqa.de"},
        /* The local part is left as it is, and only the last @ splits. */
        {"Ada.L@m\xc3\xbcnchen.de", "Ada.L@xn--mnchen-3ya.de"},
    };
    char err[ERRLEN], *out;
    size_t i;

    for (i = 0; i < NELEM(cases); i++) {
        if (idn_email_to_ascii(cases[i].in, &out, err) != IDN_CONVERTED)
            fail_msg("%s: %s", cases[i].in, err);
        assert_string_equal(out, cases[i].want);
        free(out);
    }
}

static void test_ascii_is_left_alone(void **state)
{
    static const char *const same[] = {"ada@example.com", "ada@xn--bcher-kva.example", "no-at-sign",
                                       "\xc3\xa4"
                                       "da@example.com"};
    char err[ERRLEN], *out = (char *)"untouched";
    size_t i;

    for (i = 0; i < NELEM(same); i++) {
        assert_int_equal(idn_email_to_ascii(same[i], &out, err), IDN_SAME);
        assert_null(out);
    }
}

static void test_invalid_names_the_domain(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"a@\xe2\x98\x83.example",
         "domain \"\xe2\x98\x83.example\" is not a valid internationalized domain name: "},
        {"a@b\xc3\xbc--x.example", "domain \"b\xc3\xbc--x.example\" is not a valid"},
        {"a@b\xff.example", "is not a valid internationalized domain name: "},
    };
    char err[ERRLEN], *out;
    size_t i;

    for (i = 0; i < NELEM(cases); i++) {
        assert_int_equal(idn_email_to_ascii(cases[i].in, &out, err), IDN_INVALID);
        assert_null(out);
        if (strstr(err, cases[i].want) == NULL)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].in, err, cases[i].want);
    }
}

static void test_signup_email_converted_or_refused(void **state)
{
    struct signup s;
    char err[ERRLEN];

    signup_init(&s);
    s.email = strdup("joerg@b\xc3\xbc"
                     "cher.example");
    assert_non_null(s.email);
    assert_int_equal(signup_ascii_email(&s, err), 0);
    assert_string_equal(s.email, "joerg@xn--bcher-kva.example");
    assert_int_equal(email_validate(s.email, err), 0);
    free(s.email);
    s.email = strdup("joerg@\xe2\x98\x83.example");
    assert_non_null(s.email);
    assert_int_equal(signup_ascii_email(&s, err), -1);
    assert_non_null(strstr(err, "email: domain \"\xe2\x98\x83.example\" is not a valid"));
    /* Left as it was: the caller refuses the signup. */
    assert_string_equal(s.email, "joerg@\xe2\x98\x83.example");
    /* A producer's row that could not be converted is rejected with the same reason. */
    assert_int_equal(email_validate(s.email, err), -1);
    assert_non_null(strstr(err, "is not a valid internationalized domain name"));
    free(s.email);
}

static void test_unicode_for_display(void **state)
{
    char out[128];

    assert_int_equal(idn_domain_unicode("joerg@xn--bcher-kva.example", out, sizeof(out)), 1);
    assert_string_equal(out, "b\xc3\xbc"
                             "cher.example");
    assert_int_equal(idn_domain_unicode("joerg@mail.xn--bcher-kva.example", out, sizeof(out)), 1);
    assert_string_equal(out, "mail.b\xc3\xbc"
                             "cher.example");
    assert_int_equal(idn_domain_unicode("ada@example.com", out, sizeof(out)), 0);
    /* Not valid punycode: shown as it is. */
    assert_int_equal(idn_domain_unicode("ada@xn--zz.example", out, sizeof(out)), 0);
    assert_int_equal(idn_domain_unicode("joerg@xn--bcher-kva.example", out, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_ascii),
        cmocka_unit_test(test_ascii_is_left_alone),
        cmocka_unit_test(test_invalid_names_the_domain),
        cmocka_unit_test(test_signup_email_converted_or_refused),
        cmocka_unit_test(test_unicode_for_display),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
