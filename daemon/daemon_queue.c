/*
 * daemon_queue.c - the daemon's side of the queue: claims (after a cheap look
 * for work, with abandoned claims taken back and the retention sweep),
 * outcomes recorded in order and retried without limit when the queue
 * cannot take them, jobs handed back unsent, and the queue opened again
 * after a failed write.
 */
#define LOG_MODULE "daemon"
#include "daemon_int.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "notify.h"
#include "schedule.h"

/*
 * Abandoned claims are looked for at most this often (or every poll
 * interval, when that is longer): the scan is a write transaction.
 */
#define RECOVER_INTERVAL_MS 1000

void daemon_update_status(struct daemon *d)
{
    notify_status("sent %lu, deferred %lu, failed %lu, rejected %lu, held %lu%s", d->sent,
                  d->deferred, d->failed, d->rejected, d->held,
                  d->write_failures ? "; the queue cannot be written, sending is stopped" : "");
}

static void tally(struct daemon *d, enum job_tally t)
{
    switch (t) {
    case TALLY_SENT:
        d->sent++;
        break;
    case TALLY_DEFERRED:
        d->deferred++;
        break;
    case TALLY_FAILED:
        d->failed++;
        break;
    case TALLY_REJECTED:
        d->rejected++;
        break;
    case TALLY_HELD:
        d->held++;
        break;
    case TALLY_NONE:
        break;
    }
}

/* --- the queue --------------------------------------------------------------- */

/* Closes the queue after a failed write: a read-only open is only mended by a new one. */
void daemon_queue_failed(struct daemon *d, const char *what, const char *err)
{
    d->write_failures++;
    d->write_retry_ms = monotonic_ms() + schedule_write_retry_ms(d->write_failures);
    /* One line when writing stops, and one more only when the cause changes. */
    if (d->write_failures == 1 || strcmp(err, d->write_error) != 0) {
        log_critx("cannot write the queue (%s): %s; nothing is sent until it can be written, and "
                  "every outcome is kept until then",
                  what, err);
        snprintf(d->write_error, sizeof(d->write_error), "%s", err);
        daemon_update_status(d);
    }
    if (d->q != NULL) {
        queue_close(d->q);
        d->q = NULL;
    }
}

void daemon_queue_mended(struct daemon *d)
{
    if (d->write_failures == 0)
        return;
    log_notice("the queue can be written again; sending resumes");
    d->write_failures = 0;
    d->write_retry_ms = 0;
    daemon_update_status(d);
}

/* 0 with the queue open, -1 when it cannot be opened now. */
int daemon_queue_ready(struct daemon *d)
{
    char err[ERRLEN];

    if (d->q != NULL)
        return 0;
    if (monotonic_ms() < d->write_retry_ms)
        return -1;
    if (queue_open_at(&d->q, &d->rt->config.queue, err) != QUEUE_OPEN_OK) {
        d->q = NULL;
        daemon_queue_failed(d, "open", err);
        return -1;
    }
    return 0;
}

/*
 * Outcomes recorded in one transaction at most.  One commit for many is what
 * keeps this thread ahead of many fast connections; the bound keeps each
 * write transaction (which holds up producers' INSERTs) a few milliseconds.
 */
#define OUTCOME_BATCH_MAX 32

/* Records the first outcomes waiting, up to OUTCOME_BATCH_MAX, in one transaction: 0, or -1. */
static int record_batch(struct daemon *d)
{
    struct queue_change v[OUTCOME_BATCH_MAX];
    struct transition t[OUTCOME_BATCH_MAX];
    char err[ERRLEN];
    struct job *job;
    size_t n = 0, i;

    for (job = d->unrecorded.head; job != NULL && n < OUTCOME_BATCH_MAX; job = job->next, n++) {
        t[n] = job->t;
        /* Only while the claim is still ours: a lost lease must not overwrite another daemon's. */
        t[n].owner = d->owner;
        v[n] = (struct queue_change){
            .id = job->rec.signup.id, .from = SIGNUP_SENDING, .to = job->to, .t = &t[n]};
    }
    if (queue_transitions(d->q, v, n, err) == -1) {
        daemon_queue_failed(d, "recording an outcome", err);
        return -1;
    }
    for (i = 0; i < n; i++) {
        job = job_line_pop(&d->unrecorded);
        if (v[i].result == 1)
            log_warnx("signup %lld: no longer ours when recording %s (lease lost?)",
                      (long long)job->rec.signup.id, signup_state_name(job->to));
        else
            tally(d, job->tally);
        delivery_log_recorded(job);
        job_free(job);
    }
    /* A signup handed back or deferred may be due again: look before the next poll. */
    d->woken = 1;
    daemon_queue_mended(d);
    return 0;
}

/*
 * Records every known outcome, in order, in batches; a batch the queue
 * cannot take stays first in line and is tried again after a backoff.
 */
void daemon_record_outcomes(struct daemon *d)
{
    while (d->unrecorded.head != NULL)
        if (daemon_queue_ready(d) == -1 || record_batch(d) == -1)
            return;
}

/* Why and until when the jobs taken back from the transport are handed back. */
struct hand_back {
    struct daemon *d;
    const char *why;
    int64_t when_ms;
};

static void on_withdrawn(void *arg, void *cookie)
{
    struct hand_back *hb = arg;
    struct job *job = cookie;

    hb->d->in_flight--;
    delivery_hand_back(job, hb->why, hb->why, hb->when_ms);
    job_line_push(&hb->d->unrecorded, job);
}

/* Hands back every job not yet on a connection: the waiting line and those waiting in the
 * transport. */
void daemon_hand_back_waiting(struct daemon *d, const char *why, int64_t when_ms)
{
    struct hand_back hb = {.d = d, .why = why, .when_ms = when_ms};
    struct job *job;

    if (d->in_flight > 0)
        smtp_withdraw(d->smtp, on_withdrawn, &hb);
    while ((job = job_line_pop(&d->waiting)) != NULL) {
        delivery_hand_back(job, why, why, when_ms);
        job_line_push(&d->unrecorded, job);
    }
}

static void recover_claims(struct daemon *d)
{
    char err[ERRLEN];
    int n = 0;

    if (monotonic_ms() < d->next_recover_ms)
        return;
    d->next_recover_ms = monotonic_ms() + (d->rt->config.poll_interval_ms > RECOVER_INTERVAL_MS
                                               ? d->rt->config.poll_interval_ms
                                               : RECOVER_INTERVAL_MS);
    if (queue_recover(d->q, d->host, now_ms(), d->rt->config.uncertain, &n, err) == -1) {
        daemon_queue_failed(d, "taking back abandoned claims", err);
        return;
    }
    daemon_queue_mended(d);
    if (n > 0)
        log_notice("took back %d signup%s claimed by a process that is gone or whose lease ran out",
                   n, n == 1 ? "" : "s");
}

/* queue.retention: the queue sweeps at most once a minute, however often it is asked. */
static void scrub_expired(struct daemon *d)
{
    char err[ERRLEN];
    int n = 0;

    if (d->q != NULL &&
        queue_scrub_expired(d->q, now_ms(), d->rt->config.retention_ms, &n, err) == -1)
        log_warnx("scrubbing expired personal data: %s", err);
}

/* Claims due signups into the waiting line.  Returns how many, or -1 when the queue failed. */
int daemon_claim(struct daemon *d)
{
    const struct config *c = &d->rt->config;
    struct signup_record *recs = NULL;
    char err[ERRLEN];
    int64_t end = monotonic_ms() + c->lease_ms;
    size_t n = 0, i;

    d->woken = 0;
    /* Nothing due and nothing claimed anywhere: the write transactions can wait. */
    switch (queue_has_work(d->q, now_ms(), &d->next_due_ms, err)) {
    case 0:
        scrub_expired(d);
        return 0;
    case -1:
        daemon_queue_failed(d, "looking for work", err);
        return -1;
    }
    /* Nothing claimable yet something in sending: a claim to watch at the poll interval. */
    d->next_due_ms = SCHEDULE_WATCH;
    recover_claims(d);
    scrub_expired(d);
    if (d->q == NULL)
        return -1;
    if (queue_claim(d->q, d->owner, now_ms(), c->lease_ms, schedule_claim_size(c), &recs, &n,
                    err) == -1) {
        daemon_queue_failed(d, "claiming", err);
        return -1;
    }
    daemon_queue_mended(d);
    for (i = 0; i < n; i++) {
        struct job *job = job_new(&recs[i], end);

        if (job == NULL) {
            /* Unclaimed again by the lease; nothing was attempted. */
            log_warnx("signup %lld: out of memory; left for its lease to run out",
                      (long long)recs[i].signup.id);
            continue;
        }
        job_line_push(&d->waiting, job);
    }
    queue_claim_free(recs, n);
    if (n > 0)
        log_debug("claimed %zu signup%s", n, n == 1 ? "" : "s");
    return (int)n;
}
