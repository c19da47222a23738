/*
 * schedule.c - backoff, expiry, claim sizing and pauses: the delivery
 * policy, kept apart from the loop that applies it so that it can be
 * read and tested on its own.
 */
#include "schedule.h"

uint64_t schedule_random(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

int64_t schedule_backoff_ms(const struct config *c, int attempts, uint64_t random)
{
    int64_t delay = c->retry_min_ms;
    int i;

    for (i = 1; i < attempts && delay < c->retry_max_ms; i++)
        delay *= 2;
    if (delay > c->retry_max_ms)
        delay = c->retry_max_ms;
    if (delay < 2)
        return delay;
    return delay / 2 + (int64_t)(random % (uint64_t)(delay / 2 + 1));
}

int64_t schedule_expiry_ms(const struct config *c, int64_t created_ms, int64_t requeued_ms)
{
    int64_t start = requeued_ms > created_ms ? requeued_ms : created_ms;

    return start + c->lifetime_ms;
}

int schedule_expired(const struct config *c, int64_t created_ms, int64_t requeued_ms,
                     int64_t now_ms)
{
    return created_ms > 0 && now_ms > schedule_expiry_ms(c, created_ms, requeued_ms);
}

int64_t schedule_retry_at(int64_t now_ms, int64_t backoff_ms, int64_t expiry_ms)
{
    if (now_ms >= expiry_ms)
        return 0;
    return now_ms + backoff_ms < expiry_ms ? now_ms + backoff_ms : expiry_ms;
}

int schedule_claim_size(const struct config *c)
{
    double window_s = (double)(c->lease_ms - c->timeout_ms - CONFIG_LEASE_MARGIN_MS) / 1000;
    double fits;

    if (c->rate_limit <= 0 || window_s <= 0)
        return c->batch_size;
    fits = window_s * c->rate_limit + 1;
    return fits < c->batch_size ? (int)fits : c->batch_size;
}

int64_t schedule_pause_ms(int64_t previous_ms, int64_t first_ms, int64_t max_ms)
{
    int64_t next = previous_ms > 0 ? previous_ms * 2 : first_ms;

    return next > max_ms ? max_ms : next;
}

int64_t schedule_write_retry_ms(int failures)
{
    int64_t wait = SCHEDULE_WRITE_RETRY_FIRST_MS;
    int i;

    for (i = 1; i < failures && wait < SCHEDULE_WRITE_RETRY_MAX_MS; i++)
        wait *= 2;
    return wait > SCHEDULE_WRITE_RETRY_MAX_MS ? SCHEDULE_WRITE_RETRY_MAX_MS : wait;
}

int64_t schedule_next_send_us(int64_t prev_us, int64_t now_us, double rate)
{
    int64_t interval = (int64_t)(1e6 / rate + 0.5), slot = prev_us;

    if (slot < now_us - interval)
        slot = now_us - interval;
    return slot + interval;
}

int64_t schedule_idle_look_ms(int64_t poll_interval_ms, int notified, int64_t next_due_ms,
                              int64_t now_ms)
{
    int64_t look = SCHEDULE_IDLE_LOOK_MAX_MS;

    if (!notified || next_due_ms == SCHEDULE_WATCH)
        return poll_interval_ms;
    if (next_due_ms != SCHEDULE_NEVER && next_due_ms - now_ms < look)
        look = next_due_ms > now_ms ? next_due_ms - now_ms : 0;
    return look;
}
