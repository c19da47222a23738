/*
 * test_schedule.c - the delivery policy: backoff, expiry, the last chance,
 * claim sizing, whole-sender pauses and the queue's write retries.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "schedule.h"

#define MIN_MS  ((int64_t)60 * 1000)
#define HOUR_MS ((int64_t)60 * 60 * 1000)

static void config_for(struct config *c)
{
    config_defaults(c);
    c->retry_min_ms = MIN_MS;
    c->retry_max_ms = HOUR_MS;
}

static void test_random_is_not_stuck(void **state)
{
    uint64_t s = 1, a = schedule_random(&s), b = schedule_random(&s);

    (void)state;
    assert_true(a != 0 && b != 0 && a != b);
}

static void test_backoff_doubles_with_equal_jitter(void **state)
{
    struct config c;
    int attempts;

    (void)state;
    config_for(&c);
    for (attempts = 1; attempts <= 10; attempts++) {
        int64_t full = MIN_MS, i;

        for (i = 1; i < attempts; i++)
            full *= 2;
        if (full > HOUR_MS)
            full = HOUR_MS;
        /* Half fixed, half random: never below half the delay, never above it. */
        assert_int_equal(schedule_backoff_ms(&c, attempts, 0), full / 2);
        assert_int_equal(schedule_backoff_ms(&c, attempts, (uint64_t)(full / 2)), full);
        assert_in_range(schedule_backoff_ms(&c, attempts, UINT64_MAX), full / 2, full);
    }
}

static void test_expiry_counts_from_the_later_start(void **state)
{
    struct config c;

    (void)state;
    config_for(&c);
    c.lifetime_ms = HOUR_MS;
    assert_int_equal(schedule_expiry_ms(&c, 1000, 0), 1000 + HOUR_MS);
    /* An operator's retry starts the lifetime again. */
    assert_int_equal(schedule_expiry_ms(&c, 1000, 5000), 5000 + HOUR_MS);
    assert_false(schedule_expired(&c, 1000, 0, 1000 + HOUR_MS));
    assert_true(schedule_expired(&c, 1000, 0, 1001 + HOUR_MS));
    assert_false(schedule_expired(&c, 1000, 5000, 1001 + HOUR_MS));
    /* A row without a creation time never expires by accident. */
    assert_false(schedule_expired(&c, 0, 0, 1001 + HOUR_MS));
}

static void test_retry_at_takes_the_last_chance(void **state)
{
    (void)state;
    assert_int_equal(schedule_retry_at(1000, 500, 10000), 1500);
    /* The backoff would pass the end: the last try is at the end itself. */
    assert_int_equal(schedule_retry_at(9000, 5000, 10000), 10000);
    /* At or past the end: no more tries. */
    assert_int_equal(schedule_retry_at(10000, 500, 10000), 0);
}

static void test_claim_size_fits_the_rate_limit(void **state)
{
    struct config c;

    (void)state;
    config_for(&c);
    c.batch_size = 50;
    assert_int_equal(schedule_claim_size(&c), 50);
    /* 0.1/s with a 2m lease, 60s timeout and the margin: 55 s, so 5.5 + 1 fit. */
    c.rate_limit = 0.1;
    c.lease_ms = 2 * 60 * 1000;
    c.timeout_ms = 60 * 1000;
    assert_int_equal(
        schedule_claim_size(&c),
        (int)((double)(c.lease_ms - c.timeout_ms - CONFIG_LEASE_MARGIN_MS) / 1000 * c.rate_limit +
              1));
    c.rate_limit = 1000;
    assert_int_equal(schedule_claim_size(&c), 50);
}

static void test_pause_doubles_to_its_ceiling(void **state)
{
    int64_t p = 0;
    int i;

    (void)state;
    p = schedule_pause_ms(p, 5000, 60000);
    assert_int_equal(p, 5000);
    for (i = 0; i < 10; i++)
        p = schedule_pause_ms(p, 5000, 60000);
    assert_int_equal(p, 60000);
}

static void test_write_retry_grows_and_stays_short(void **state)
{
    int n;

    (void)state;
    assert_int_equal(schedule_write_retry_ms(1), SCHEDULE_WRITE_RETRY_FIRST_MS);
    assert_int_equal(schedule_write_retry_ms(2), 2 * SCHEDULE_WRITE_RETRY_FIRST_MS);
    /* Never given up, never longer than the ceiling. */
    for (n = 1; n < 1000; n++)
        assert_in_range(schedule_write_retry_ms(n), SCHEDULE_WRITE_RETRY_FIRST_MS,
                        SCHEDULE_WRITE_RETRY_MAX_MS);
    assert_int_equal(schedule_write_retry_ms(999), SCHEDULE_WRITE_RETRY_MAX_MS);
}

static void test_rate_keeps_its_average(void **state)
{
    int64_t next = 0, now = 1000000, sent = 0, late = 700;
    const double rate = 300; /* an interval of 3333.3 µs: no whole number of ms */

    (void)state;
    /* Each send happens a little after its slot, as a loop's does. */
    while (now < 61000000) {
        if (now >= next) {
            next = schedule_next_send_us(next, now, rate);
            sent++;
            now += late;
        } else {
            now = next;
        }
    }
    /* Within 1% of 300/s over the minute, though every send was 0.7 ms late. */
    assert_in_range(sent, 17820, 18180);
}

static void test_rate_makes_up_no_missed_slots(void **state)
{
    int64_t next, now = 10000000;

    (void)state;
    /*
     * Idle for a long time: the slots missed meanwhile are not made up.  A
     * send late by up to one interval keeps its slot, so at most one more
     * may go at once, and the one after waits a whole interval.
     */
    next = schedule_next_send_us(1000000, now, 10);
    assert_int_equal(next, now);
    next = schedule_next_send_us(next, now, 10);
    assert_int_equal(next, now + 100000);
    assert_int_equal(schedule_next_send_us(next, now + 100000, 10), now + 200000);
}

static void test_idle_look_follows_what_can_wake(void **state)
{
    const int64_t poll = 5000, now = 1700000000000;

    (void)state;
    /* No inotify: the poll interval, whatever is due. */
    assert_int_equal(schedule_idle_look_ms(poll, 0, SCHEDULE_NEVER, now), poll);
    assert_int_equal(schedule_idle_look_ms(poll, 0, now + 1, now), poll);
    /* inotify, nothing waiting: only the safety look. */
    assert_int_equal(schedule_idle_look_ms(poll, 1, SCHEDULE_NEVER, now),
                     SCHEDULE_IDLE_LOOK_MAX_MS);
    /* inotify, a deferred signup due in 90 s: then, not at the poll interval. */
    assert_int_equal(schedule_idle_look_ms(poll, 1, now + 90000, now), 90000);
    /* Due further off than the safety look: the safety look. */
    assert_int_equal(schedule_idle_look_ms(poll, 1, now + SCHEDULE_IDLE_LOOK_MAX_MS + 1, now),
                     SCHEDULE_IDLE_LOOK_MAX_MS);
    /* Already due (the clock moved on): look at once. */
    assert_int_equal(schedule_idle_look_ms(poll, 1, now - 10, now), 0);
    /* Another process's claim to watch: the poll interval even with inotify. */
    assert_int_equal(schedule_idle_look_ms(poll, 1, SCHEDULE_WATCH, now), poll);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_is_not_stuck),
        cmocka_unit_test(test_backoff_doubles_with_equal_jitter),
        cmocka_unit_test(test_expiry_counts_from_the_later_start),
        cmocka_unit_test(test_retry_at_takes_the_last_chance),
        cmocka_unit_test(test_claim_size_fits_the_rate_limit),
        cmocka_unit_test(test_pause_doubles_to_its_ceiling),
        cmocka_unit_test(test_write_retry_grows_and_stays_short),
        cmocka_unit_test(test_rate_keeps_its_average),
        cmocka_unit_test(test_rate_makes_up_no_missed_slots),
        cmocka_unit_test(test_idle_look_follows_what_can_wake),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
