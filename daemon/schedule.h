/*
 * schedule.h - the delivery policy as pure functions: when a deferred
 * signup is tried again, when its queue lifetime ends, how many signups to
 * claim, how long the whole sender pauses, how often an unrecordable
 * outcome is tried again.  No clock is read here: every time is an
 * argument, so each rule is tested on its own.
 */
#ifndef REPORTD_SCHEDULE_H
#define REPORTD_SCHEDULE_H

#include <stdint.h>

#include "config.h"

/* An unreachable relay is first given this long, then doubling: a restart takes seconds. */
#define SCHEDULE_UNREACHABLE_FIRST_MS ((int64_t)5 * 1000)
/* A queue that cannot be written is tried again after this long, doubling ... */
#define SCHEDULE_WRITE_RETRY_FIRST_MS ((int64_t)250)
/* ... up to this: a database back in order is noticed within seconds. */
#define SCHEDULE_WRITE_RETRY_MAX_MS ((int64_t)10 * 1000)

/* A small, fast pseudo-random generator (xorshift64) for jitter; *state must not be 0. */
uint64_t schedule_random(uint64_t *state);

/*
 * The delay before the next try after the attempts-th failed attempt:
 * retry_min doubling per attempt up to retry_max, with "equal jitter" (half
 * the delay fixed, half from random) so signups deferred together do not
 * all come back in the same second.
 */
int64_t schedule_backoff_ms(const struct config *c, int attempts, uint64_t random);

/* When a signup's queue lifetime ends: from its creation, or from an operator's retry. */
int64_t schedule_expiry_ms(const struct config *c, int64_t created_ms, int64_t requeued_ms);

/* Whether a signup never attempted yet is past its lifetime at now_ms. */
int schedule_expired(const struct config *c, int64_t created_ms, int64_t requeued_ms,
                     int64_t now_ms);

/*
 * When a failed attempt is tried again: after the backoff, but no later
 * than the end of the lifetime itself (the last chance); 0 when the
 * lifetime has ended and the signup fails as expired.
 */
int64_t schedule_retry_at(int64_t now_ms, int64_t backoff_ms, int64_t expiry_ms);

/*
 * How many signups to claim at once: the batch size, but with a rate limit
 * no more than can be sent while their claims still hold.
 */
int schedule_claim_size(const struct config *c);

/* The next whole-sender pause: first_ms, then doubling, never above max_ms. */
int64_t schedule_pause_ms(int64_t previous_ms, int64_t first_ms, int64_t max_ms);

/*
 * The rate limit's next free moment (µs), after a message started at now_us
 * in the slot that was free from prev_us: one interval after the slot, not
 * after the send, so the loop's own delays do not slow the rate down.  A
 * send late by up to one interval keeps its slot; slots missed by more are
 * not made up, so after a pause at most one extra message goes at once.
 */
int64_t schedule_next_send_us(int64_t prev_us, int64_t now_us, double rate);

/*
 * With inotify, every local commit wakes an idle daemon (SQLite's WAL works
 * only on one host, so there are no other writers), yet it still looks this
 * often: a stepped clock, or a change it could not have been told of, is
 * noticed within minutes at no cost worth counting.
 */
#define SCHEDULE_IDLE_LOOK_MAX_MS ((int64_t)10 * 60 * 1000)
/* next_due_ms when no waiting signup falls due later: nothing to look for. */
#define SCHEDULE_NEVER INT64_MAX
/* next_due_ms when another process's claim must be watched at the poll interval. */
#define SCHEDULE_WATCH 0

/*
 * How long an idle daemon that found nothing waits before it looks again.
 * Without inotify (notified 0) it polls every poll_interval_ms.  With it, it
 * looks when the earliest waiting signup falls due (next_due_ms, wall clock,
 * against now_ms), at the poll interval while another process's claim is
 * watched (SCHEDULE_WATCH), and at least every SCHEDULE_IDLE_LOOK_MAX_MS.
 */
int64_t schedule_idle_look_ms(int64_t poll_interval_ms, int notified, int64_t next_due_ms,
                              int64_t now_ms);

/* The wait before writing to the queue again after failures in a row (1, 2, ...). */
int64_t schedule_write_retry_ms(int failures);

#endif
