/*
 * daemon_send.c - the daemon's side of the transport: which claimed jobs go
 * to the connections now, rendering the next ones ahead while every
 * connection is busy, and marking the attempts of those that go together in
 * one commit before any of their data leaves.
 */
#define LOG_MODULE "daemon"
#include "daemon_int.h"

#include <stddef.h>

#include "delivery.h"
#include "jobs.h"
#include "log.h"
#include "queue.h"
#include "smtp.h"

/*
 * Jobs marked and handed over together at most: the transport never has
 * room for more (smtp.connections is at most 16).
 */
#define SEND_BATCH_MAX 16

/* A marked job goes to a connection; marked is queue_mark_attempts()'s result for it. */
static void hand_over(struct daemon *d, struct job *job, int marked)
{
    char err[ERRLEN];

    if (marked == 1) {
        log_warnx("signup %lld: no longer ours before sending (lease lost?); not sent",
                  (long long)job->rec.signup.id);
        job_free(job);
        return;
    }
    /* Unbuilt, it is rendered on its connection's worker, beside the other connections. */
    if (smtp_submit(d->smtp, &job->msg, job, job->built, delivery_start_by(&d->dl, job), err) ==
        -1) {
        /* Marked but not sent: recorded as handed back, which clears the mark. */
        delivery_hand_back(job, err, err, now_ms() + d->rt->config.retry_min_ms);
        job_line_push(&d->unrecorded, job);
        return;
    }
    d->in_flight++;
    delivery_sent_one(&d->dl, monotonic_us());
}

/*
 * Takes the first n waiting jobs to the transport: each that cannot go is
 * settled, the rest have their attempts marked in one commit and are handed
 * over.  Marks that cannot be written send nothing: the jobs keep their
 * places.
 */
static void send_jobs(struct daemon *d, size_t n)
{
    struct job *go[SEND_BATCH_MAX];
    int64_t ids[SEND_BATCH_MAX];
    int marked[SEND_BATCH_MAX];
    char err[ERRLEN];
    size_t k = 0, i;
    struct job *job;

    while (n-- > 0 && k < SEND_BATCH_MAX && (job = job_line_pop(&d->waiting)) != NULL) {
        if ((!job->built &&
             delivery_screen(&d->dl, job, now_ms(), monotonic_ms()) != PREPARE_READY) ||
            delivery_hand_back_if_late(&d->dl, job, now_ms(), monotonic_ms())) {
            job_line_push(&d->unrecorded, job);
            continue;
        }
        go[k] = job;
        ids[k++] = job->rec.signup.id;
    }
    if (k == 0)
        return;
    if (queue_mark_attempts(d->q, ids, marked, k, d->owner, now_ms(), err) == -1) {
        for (i = k; i-- > 0;)
            job_line_push_front(&d->waiting, go[i]);
        daemon_queue_failed(d, "marking an attempt", err);
        return;
    }
    daemon_queue_mended(d);
    for (i = 0; i < k; i++)
        hand_over(d, go[i], marked[i]);
}

/*
 * How many jobs at the head of the line should be built before they go to
 * the transport's waiting line: as many as it has room for, so that they
 * go together.  Paced by a rate limit, one at a time.
 */
static size_t ahead_wanted(struct daemon *d)
{
    int room = smtp_free_slots(d->smtp);

    if (d->rt->config.rate_limit > 0 || room < 1)
        return 1;
    return room < SEND_BATCH_MAX ? (size_t)room : SEND_BATCH_MAX;
}

/* The built jobs at the head of the line, counting up to max. */
static size_t built_run(const struct daemon *d, size_t max)
{
    const struct job *j;
    size_t n = 0;

    for (j = d->waiting.head; j != NULL && j->built && n < max; j = j->next)
        n++;
    return n;
}

/*
 * How many jobs go to the transport now (transport_ready said some may):
 * to idle connections any job, as it is; to the waiting line the built
 * ones.  Paced by a rate limit, one at a time.
 */
static size_t send_count(struct daemon *d)
{
    int idle = smtp_idle_connections(d->smtp);
    size_t n = idle > 0 ? (size_t)idle : built_run(d, ahead_wanted(d));

    if (d->rt->config.rate_limit > 0 || n < 1)
        return 1;
    if (n > d->waiting.n)
        n = d->waiting.n;
    return n < SEND_BATCH_MAX ? n : SEND_BATCH_MAX;
}

/*
 * Whether the transport takes the next waiting job now: an idle connection
 * takes it as it is (and renders it), and while every connection is busy a
 * job rendered ahead may wait for the next to come free.  So rendering moves
 * onto the connections' workers only when this thread cannot keep up.
 */
int daemon_transport_ready(struct daemon *d)
{
    const struct job *next = d->waiting.head;
    size_t want;

    if (smtp_idle_connections(d->smtp) > 0)
        return d->rt->config.uncertain != UNCERTAIN_HOLD || smtp_uncollected(d->smtp) == 0;
    /*
     * A job waiting in the transport is marked: after a crash it is
     * uncertain though it never went out.  With uncertain: hold that would
     * hold signups never sent, so none waits there; and a connection gets
     * its next only once its last outcome was collected (and so recorded
     * first), so that a crash holds at most one signup per connection.
     */
    if (d->rt->config.uncertain == UNCERTAIN_HOLD)
        return 0;
    if (smtp_free_slots(d->smtp) <= 0)
        return 0;
    if (next == NULL)
        return 1;
    if (!next->built)
        return 0;
    /*
     * While a message still waits there for a connection, the rest of the
     * room is built first, so that all go with one commit of their marks.
     */
    want = ahead_wanted(d);
    if (want > d->waiting.n)
        want = d->waiting.n;
    return built_run(d, want) >= want || smtp_waiting(d->smtp) == 0;
}

void daemon_send_next(struct daemon *d)
{
    send_jobs(d, send_count(d));
}

/*
 * While every connection is busy, the next messages are rendered ahead, as
 * many as the transport has room for, so that they wait there and leave the
 * moment a connection is free.  Returns 1 when it did work.
 */
int daemon_build_ahead(struct daemon *d)
{
    struct job *prev = NULL, *job = d->waiting.head;
    size_t want = ahead_wanted(d), i = 0;

    if (job == NULL || d->write_failures || d->unrecorded.n > 0 ||
        delivery_paused(&d->dl, monotonic_ms()))
        return 0;
    for (; job != NULL && job->built && i < want; job = job->next, i++)
        prev = job;
    if (job == NULL || i >= want)
        return 0;
    switch (delivery_screen(&d->dl, job, now_ms(), monotonic_ms())) {
    case PREPARE_READY:
        if (delivery_build(d->rt, job, &job->msg) == 0)
            return 1;
        delivery_not_built(&d->dl, job, now_ms());
        break;
    case PREPARE_SETTLED:
        break;
    }
    job_line_push(&d->unrecorded, job_line_take(&d->waiting, prev));
    return 1;
}
