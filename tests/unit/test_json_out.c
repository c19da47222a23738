/* test_json_out.c - the JSON of the --json options: escaping, null for absent, stable keys. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "json_out.h"

static char *string_json(const char *s)
{
    struct buf b;

    buf_init(&b);
    json_out_string(&b, s);
    return buf_steal(&b);
}

static void test_strings(void **state)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"plain", "\"plain\""},
        {"q\"b\\", "\"q\\\"b\\\\\""},
        {"line\nbreak\x01", "\"line\\u000abreak\\u0001\""},
        {"Zo\xc3\xab", "\"Zo\xc3\xab\""},
        /* Not UTF-8 (a producer's bytes): the output stays valid JSON text. */
        {"b\xff\xc3", "\"b\\ufffd\\ufffd\""},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = string_json(cases[i].in);

        assert_non_null(got);
        assert_string_equal(got, cases[i].want);
        free(got);
    }
}

static void test_record(void **state)
{
    struct signup_record r = {0};
    struct queue_event ev = {
        .at_ms = 1000, .has_from = 0, .to = SIGNUP_QUEUED, .detail = "created"};
    struct buf b;
    char *got;

    signup_init(&r.signup);
    r.signup.id = 7;
    r.signup.email = "joerg@xn--bcher-kva.example";
    r.signup.role = "backend-developer";
    r.signup.level = "mid";
    r.signup.created_ms = 1000;
    r.state = SIGNUP_QUEUED;
    buf_init(&b);
    json_out_record(&b, &r, 1);
    json_out_event(&b, &ev, 1);
    ev.has_from = 1;
    ev.from = SIGNUP_QUEUED;
    ev.to = SIGNUP_HELD;
    ev.detail = NULL;
    json_out_event(&b, &ev, 0);
    json_out_record_end(&b);
    got = buf_steal(&b);
    assert_non_null(got);
    assert_string_equal(
        got, "{\"id\":7,\"email\":\"joerg@xn--bcher-kva.example\","
             "\"email_domain_unicode\":\"b\xc3\xbc"
             "cher.example\",\"name\":null,\"role\":\"backend-developer\",\"level\":\"mid\","
             "\"tasks\":[],\"skills\":[],\"years\":null,\"state\":\"queued\",\"attempts\":0,"
             "\"created_at\":\"1970-01-01T00:00:01Z\",\"updated_at\":null,\"next_attempt_at\":null,"
             "\"sent_at\":null,\"message_id\":null,\"last_reply\":null,\"reason\":null,"
             "\"load_error\":null,\"claimed_by\":null,\"claim_until\":null,\"scrubbed_at\":null,"
             "\"email_hash\":null,\"history\":[{\"at\":\"1970-01-01T00:00:01Z\",\"from\":null,"
             "\"to\":\"queued\",\"detail\":\"created\"},{\"at\":\"1970-01-01T00:00:01Z\","
             "\"from\":\"queued\",\"to\":\"held\",\"detail\":null}]}");
    free(got);
    /* Scrubbed: no address to show, whatever the column holds. */
    r.scrubbed_ms = 2000;
    r.signup.email = "";
    buf_init(&b);
    json_out_record(&b, &r, 0);
    got = buf_steal(&b);
    assert_non_null(strstr(got, "\"email\":null,\"email_domain_unicode\":null,"));
    assert_non_null(strstr(got, "\"scrubbed_at\":\"1970-01-01T00:00:02Z\""));
    assert_int_equal(got[strlen(got) - 1], '}');
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_record),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
