/*
 * test_reply_auth.c - telling from the relay's EHLO reply whether it offers
 * AUTH, on the session that will carry the mail (after STARTTLS when the
 * session upgrades), so a configured username is never silently unused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "smtp_reply.h"

static void in(struct reply_track *t, const char *s)
{
    reply_track_input(t, s, strlen(s));
}

static void out(struct reply_track *t, const char *s)
{
    reply_track_output(t, s, strlen(s));
}

static void test_no_auth_offered(void **state)
{
    struct reply_track t;

    reply_track_reset(&t);
    in(&t, "220 relay ESMTP\r\n");
    out(&t, "EHLO client\r\n");
    in(&t, "250-relay\r\n250-SIZE 1000\r\n");
    /* Not complete yet: the last line is still to come. */
    assert_false(reply_track_lacks_auth(&t, 0));
    in(&t, "250 8BITMIME\r\n");
    assert_true(reply_track_lacks_auth(&t, 0));
}

static void test_auth_offered_in_either_syntax(void **state)
{
    static const char *const lines[] = {"250-AUTH PLAIN LOGIN\r\n", "250-auth=LOGIN\r\n",
                                        "250-AUTH\r\n"};
    struct reply_track t;
    size_t i;

    for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        reply_track_reset(&t);
        in(&t, "220 relay ESMTP\r\n");
        out(&t, "EHLO client\r\n");
        in(&t, "250-relay\r\n");
        in(&t, lines[i]);
        in(&t, "250 HELP\r\n");
        assert_false(reply_track_lacks_auth(&t, 0));
    }
    /* An extension whose name only starts with AUTH is not AUTH. */
    reply_track_reset(&t);
    out(&t, "EHLO client\r\n");
    in(&t, "250-AUTHORITY yes\r\n250 HELP\r\n");
    assert_true(reply_track_lacks_auth(&t, 0));
}

/* Servers offer AUTH only once TLS is up: the first EHLO does not count. */
static void test_starttls_counts_the_second_ehlo(void **state)
{
    struct reply_track t;

    reply_track_reset(&t);
    in(&t, "220 relay ESMTP\r\n");
    out(&t, "EHLO client\r\n");
    in(&t, "250-relay\r\n250 STARTTLS\r\n");
    assert_false(reply_track_lacks_auth(&t, 1));
    out(&t, "STARTTLS\r\n");
    in(&t, "220 go ahead\r\n");
    /* The TLS handshake and the second EHLO are still to come. */
    assert_false(reply_track_lacks_auth(&t, 1));
    out(&t, "EHLO client\r\n");
    assert_false(reply_track_lacks_auth(&t, 1));
    in(&t, "250-relay\r\n250 AUTH PLAIN\r\n");
    assert_false(reply_track_lacks_auth(&t, 1));

    reply_track_reset(&t);
    out(&t, "EHLO client\r\n");
    in(&t, "250-relay\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n");
    out(&t, "STARTTLS\r\n");
    in(&t, "220 go ahead\r\n");
    out(&t, "EHLO client\r\n");
    /* AUTH before TLS, none after it: what counts is what the encrypted session offers. */
    in(&t, "250-relay\r\n250 SIZE 100\r\n");
    assert_true(reply_track_lacks_auth(&t, 1));
}

/* A refused EHLO falls back to HELO, which can offer nothing. */
static void test_helo_offers_nothing(void **state)
{
    struct reply_track t;

    reply_track_reset(&t);
    out(&t, "EHLO client\r\n");
    in(&t, "502 not implemented\r\n");
    assert_false(reply_track_lacks_auth(&t, 0));
    out(&t, "HELO client\r\n");
    in(&t, "250 relay\r\n");
    assert_true(reply_track_lacks_auth(&t, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_auth_offered),
        cmocka_unit_test(test_auth_offered_in_either_syntax),
        cmocka_unit_test(test_starttls_counts_the_second_ehlo),
        cmocka_unit_test(test_helo_offers_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
