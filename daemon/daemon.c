/*
 * daemon.c - `reportd run`: claim due signups, render, send, record.
 *
 * Data flows one way: the queue hands out claimed signups, the runtime turns
 * each into a rendered report, message.c into a message, smtp.c delivers it,
 * and the outcome goes back to the queue through queue_transition().  This
 * file owns the policy between them: backoff, expiry, throttling, what a
 * configuration problem does, signals and reloads.
 */
#define LOG_MODULE "daemon"
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "message.h"
#include "notify.h"
#include "queue.h"
#include "smtp.h"

/* Host names are at most 255 bytes (HOST_NAME_MAX on Linux is 64). */
#define HOST_MAX 256
/* "hostname:pid" */
#define OWNER_MAX (HOST_MAX + 32)
/* After an authentication or TLS failure, wait this long before trying the server again. */
#define CONFIG_PAUSE_MS ((int64_t)60 * 1000)
/* The longest single wait, so that signals and the watchdog are served promptly. */
#define MAX_WAIT_MS 1000
/* A failed state write after a send is retried: losing it would mean a second email. */
#define RECORD_RETRIES       5
#define RECORD_RETRY_WAIT_MS 200

/* The only process-wide mutable state: what the signal handlers saw. */
static volatile sig_atomic_t got_term;
static volatile sig_atomic_t got_hup;

static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    got_hup = 1;
}

/* One claimed signup on its way through render, send and record. */
struct job {
    struct signup_record *rec;
    struct message msg;
    int built;     /* msg holds a message */
    int submitted; /* handed to the transport, result pending */
    int done;      /* its outcome is recorded (or it was handed back) */
};

struct daemon {
    struct runtime *rt;
    const char *config_path;
    struct queue *q;
    struct smtp *smtp;
    char host[HOST_MAX];
    char owner[OWNER_MAX];
    int drain;

    int64_t pause_until_ms;   /* no new sends before this (throttled, or config trouble) */
    int64_t throttle_ms;      /* the current slow-down, doubling while the relay complains */
    int64_t next_send_ms;     /* the rate limit's next free moment */
    int64_t watchdog_ms;      /* keep-alive interval, 0 without a watchdog */
    int64_t last_watchdog_ms; /* monotonic */
    int config_trouble;       /* the last attempt failed on authentication or TLS */
    int verbose;              /* -v: debug logging whatever the config says */
    uint64_t rng;             /* jitter; xorshift64 */

    unsigned long sent, deferred, failed, rejected;
    unsigned long handed_back; /* claimed but not attempted: no progress */
};

/* --- small policies --------------------------------------------------------- */

static uint64_t next_random(struct daemon *d)
{
    d->rng ^= d->rng << 13;
    d->rng ^= d->rng >> 7;
    d->rng ^= d->rng << 17;
    return d->rng;
}

/*
 * Exponential backoff from retry_min doubling per attempt up to retry_max,
 * with "equal jitter": half the delay fixed, half random, so that signups
 * deferred together do not all come back in the same second.
 */
static int64_t backoff_ms(struct daemon *d, int attempts)
{
    const struct config *c = &d->rt->config;
    int64_t delay = c->retry_min_ms;
    int i;

    for (i = 1; i < attempts && delay < c->retry_max_ms; i++)
        delay *= 2;
    if (delay > c->retry_max_ms)
        delay = c->retry_max_ms;
    if (delay < 2)
        return delay;
    return delay / 2 + (int64_t)(next_random(d) % (uint64_t)(delay / 2 + 1));
}

/* When a signup's queue lifetime ends: counted from its creation, or from an operator's retry. */
static int64_t expiry_ms(const struct daemon *d, const struct signup_record *r)
{
    int64_t start = r->requeued_ms > r->signup.created_ms ? r->requeued_ms : r->signup.created_ms;

    return start + d->rt->config.lifetime_ms;
}

static int expired(const struct daemon *d, const struct signup_record *r, int64_t now)
{
    return r->signup.created_ms > 0 && now > expiry_ms(d, r);
}

static void keep_alive(struct daemon *d)
{
    int64_t now = monotonic_ms();

    if (d->watchdog_ms > 0 && now - d->last_watchdog_ms >= d->watchdog_ms) {
        notify_watchdog();
        d->last_watchdog_ms = now;
    }
}

/*
 * Sleeps up to ms, serving the watchdog, cut short by SIGTERM and, between
 * batches (idle), by SIGHUP.  Inside a batch a SIGHUP waits for the batch to
 * end, so it must not cut waits short there: they would become a busy loop.
 */
enum nap_wake { NAP_TERM, NAP_TERM_OR_HUP };

static void nap(struct daemon *d, int64_t ms, enum nap_wake wake)
{
    int64_t end = monotonic_ms() + ms;

    while (!got_term && !(wake == NAP_TERM_OR_HUP && got_hup)) {
        int64_t left = end - monotonic_ms();
        struct timespec ts;

        keep_alive(d);
        if (left <= 0)
            break;
        if (left > MAX_WAIT_MS)
            left = MAX_WAIT_MS;
        ts.tv_sec = (time_t)(left / 1000);
        ts.tv_nsec = (long)(left % 1000) * 1000000L;
        nanosleep(&ts, NULL);
    }
}

static void update_status(struct daemon *d)
{
    notify_status("sent %lu, deferred %lu, failed %lu, rejected %lu", d->sent, d->deferred,
                  d->failed, d->rejected);
}

/* --- recording outcomes ------------------------------------------------------ */

/*
 * Moves a claimed signup out of `sending`.  A database that stays busy is
 * retried: after a successful send, losing the record would send it twice.
 */
static int record(struct daemon *d, struct job *job, enum signup_state to,
                  const struct transition *t)
{
    const struct timespec wait = {0, RECORD_RETRY_WAIT_MS * 1000000L};
    struct transition mine = *t;
    char err[ERRLEN];
    int i, rc = -1;

    /* Only while the claim is still ours: a lost lease must not overwrite another daemon's. */
    mine.owner = d->owner;
    for (i = 0; i < RECORD_RETRIES; i++) {
        rc = queue_transition(d->q, job->rec->signup.id, SIGNUP_SENDING, to, &mine, err);
        if (rc != -1)
            break;
        log_warnx("signup %lld: recording %s failed (try %d of %d): %s",
                  (long long)job->rec->signup.id, signup_state_name(to), i + 1, RECORD_RETRIES,
                  err);
        keep_alive(d);
        nanosleep(&wait, NULL);
    }
    if (rc == 1)
        log_warnx("signup %lld: no longer ours when recording %s (lease lost?)",
                  (long long)job->rec->signup.id, signup_state_name(to));
    job->done = 1;
    return rc;
}

/*
 * Gives a claimed signup back untouched: it was not attempted this time, so
 * no attempt is counted.  It is due again at when_ms, back in queued when it
 * was never attempted, in deferred otherwise.
 */
static void hand_back(struct daemon *d, struct job *job, const char *why, int64_t when_ms)
{
    struct transition t;

    memset(&t, 0, sizeof(t));
    t.detail = why;
    /* Due at once: it keeps its place in line rather than going behind newer signups. */
    t.next_attempt_ms = when_ms <= now_ms() ? TRANSITION_KEEP_DUE : when_ms;
    d->handed_back++;
    if (job->rec->attempts == 0) {
        record(d, job, SIGNUP_QUEUED, &t);
    } else {
        record(d, job, SIGNUP_DEFERRED, &t);
    }
}

static void reject(struct daemon *d, struct job *job, const char *reason)
{
    char to[LOG_VALUE_MAX], why[LOG_VALUE_MAX];
    struct transition t;

    memset(&t, 0, sizeof(t));
    t.detail = reason;
    t.reason = reason;
    if (record(d, job, SIGNUP_REJECTED, &t) != 0)
        return;
    d->rejected++;
    log_notice("id=%lld to=%s state=rejected reason=%s", (long long)job->rec->signup.id,
               log_quoted(job->rec->signup.email ? job->rec->signup.email : "", to, sizeof(to)),
               log_quoted(reason, why, sizeof(why)));
}

static void fail(struct daemon *d, struct job *job, const char *reason, const char *reply,
                 int attempted)
{
    struct transition t;

    memset(&t, 0, sizeof(t));
    t.detail = reason;
    t.reason = reason;
    t.reply = reply;
    t.count_attempt = attempted;
    if (record(d, job, SIGNUP_FAILED, &t) == 0)
        d->failed++;
}

static void log_attempt(const struct job *job, const char *state, const struct smtp_result *r,
                        int64_t now)
{
    char delay[64], reply[LOG_VALUE_MAX];

    format_duration_ms(now - job->rec->signup.created_ms, delay, sizeof(delay));
    log_notice("id=%lld to=<%s> state=%s reply=%s delay=%s xdelay=%lldms attempt=%d%s%s",
               (long long)job->rec->signup.id, job->rec->signup.email, state,
               log_quoted(r->reply[0] ? r->reply : r->detail, reply, sizeof(reply)), delay,
               (long long)r->elapsed_ms, job->rec->attempts + 1,
               job->msg.message_id ? " msgid=" : "",
               job->msg.message_id ? job->msg.message_id : "");
}

static void on_sent(struct daemon *d, struct job *job, const struct smtp_result *r)
{
    struct transition t;

    memset(&t, 0, sizeof(t));
    t.detail = "delivered";
    t.reply = r->reply;
    t.message_id = job->msg.message_id;
    t.count_attempt = 1;
    if (record(d, job, SIGNUP_SENT, &t) == 0)
        d->sent++;
    d->throttle_ms = 0;
    d->config_trouble = 0;
}

static void on_deferred(struct daemon *d, struct job *job, const struct smtp_result *r, int64_t now)
{
    const char *why = r->reply[0] ? r->reply : r->detail;
    int64_t next = now + backoff_ms(d, job->rec->attempts + 1), end = expiry_ms(d, job->rec);
    struct transition t;

    /* The last chance is the end of the lifetime itself, not a backoff step before it. */
    if (next > end)
        next = end;
    if (now >= end) {
        char reason[ERRLEN + 64];

        snprintf(reason, sizeof(reason), "expired: undelivered after %d attempts; last: %.*s",
                 job->rec->attempts + 1, ERRLEN - 1, why);
        fail(d, job, reason, r->reply, 1);
        return;
    }
    memset(&t, 0, sizeof(t));
    t.detail = why;
    t.reason = why;
    t.reply = r->reply[0] ? r->reply : NULL;
    t.next_attempt_ms = next;
    t.count_attempt = 1;
    if (record(d, job, SIGNUP_DEFERRED, &t) == 0)
        d->deferred++;
}

/* The relay wants the whole sender slower: pause everyone, charge no attempt. */
static void on_throttled(struct daemon *d, struct job *job, const struct smtp_result *r,
                         int64_t now)
{
    const struct config *c = &d->rt->config;

    d->throttle_ms = d->throttle_ms ? d->throttle_ms * 2 : c->retry_min_ms;
    if (d->throttle_ms > c->retry_max_ms)
        d->throttle_ms = c->retry_max_ms;
    if (d->pause_until_ms < now + d->throttle_ms) {
        d->pause_until_ms = now + d->throttle_ms;
        log_warnx("relay is throttling us (%s): pausing all sends for %llds", r->reply,
                  (long long)(d->throttle_ms / 1000));
    }
    hand_back(d, job, r->reply, now + d->throttle_ms);
}

/* Authentication or TLS: our problem, not the subscriber's.  Loud, and nothing is failed. */
static void on_config_trouble(struct daemon *d, struct job *job, const struct smtp_result *r,
                              int64_t now)
{
    log_critx("SMTP configuration problem, nothing is sent until it is fixed (next try in %llds): "
              "%s%s%s",
              (long long)(CONFIG_PAUSE_MS / 1000), r->detail, r->reply[0] ? "; server said: " : "",
              r->reply);
    d->config_trouble = 1;
    d->pause_until_ms = now + CONFIG_PAUSE_MS;
    hand_back(d, job, "waiting: SMTP authentication or TLS problem", now);
}

static void on_result(void *arg, const struct smtp_result *r)
{
    struct daemon *d = arg;
    struct job *job = r->cookie;
    int64_t now = now_ms();

    job->submitted = 0;
    switch (r->status) {
    case SMTP_SENT:
        log_attempt(job, "sent", r, now);
        on_sent(d, job, r);
        break;
    case SMTP_DEFER:
        /* At the end of its lifetime a deferral is the end: say so in the attempt's line. */
        log_attempt(job, now >= expiry_ms(d, job->rec) ? "failed" : "deferred", r, now);
        on_deferred(d, job, r, now);
        break;
    case SMTP_FAIL:
        log_attempt(job, "failed", r, now);
        fail(d, job, r->reply[0] ? r->reply : r->detail, r->reply, 1);
        break;
    case SMTP_THROTTLE:
        log_attempt(job, "throttled", r, now);
        on_throttled(d, job, r, now);
        break;
    case SMTP_CONFIG:
        log_attempt(job, "waiting", r, now);
        on_config_trouble(d, job, r, now);
        break;
    }
}

/* --- one batch ------------------------------------------------------------------ */

/* Renders and builds the message; a signup that cannot be rendered ends here. */
static int prepare(struct daemon *d, struct job *job)
{
    struct signup_record *rec = job->rec;
    struct rendered out;
    char err[ERRLEN];
    int64_t now = now_ms();
    int rc;

    if (rec->load_error) {
        reject(d, job, rec->load_error);
        return -1;
    }
    /*
     * Never attempted and past its lifetime: expired.  One already being
     * retried gets the attempt it was scheduled for (at the latest the end of
     * its lifetime), however late it is claimed; as with a mail server's
     * queue, it fails as expired when that attempt fails too (on_deferred).
     */
    if (rec->attempts == 0 && expired(d, rec, now)) {
        fail(d, job, "expired: undelivered within the queue lifetime", rec->last_reply, 0);
        return -1;
    }
    rendered_init(&out);
    switch (runtime_render(d->rt, &rec->signup, &out, err)) {
    case RENDER_OK:
        break;
    case RENDER_INVALID:
        rendered_free(&out);
        reject(d, job, err);
        return -1;
    default:
        rendered_free(&out);
        log_warnx("signup %lld: %s", (long long)rec->signup.id, err);
        hand_back(d, job, err, now + d->rt->config.retry_min_ms);
        return -1;
    }
    rc = message_build(&job->msg, &d->rt->config, &rec->signup, &out, now, err);
    rendered_free(&out);
    if (rc == -1) {
        /* A validated signup makes a valid message: this is ours (memory), so try again later. */
        log_warnx("signup %lld: %s", (long long)rec->signup.id, err);
        hand_back(d, job, err, now + d->rt->config.retry_min_ms);
        return -1;
    }
    job->built = 1;
    return 0;
}

/* Waits for the transport, serving the watchdog; done() records outcomes. */
static int pump(struct daemon *d, int timeout_ms, char *err)
{
    keep_alive(d);
    return smtp_poll(d->smtp, timeout_ms, on_result, d, err);
}

/*
 * Waits for the rate limit and a free connection.  Returns 0 to send, 1 to
 * stop this batch (shutdown, or a pause longer than a short wait: throttling
 * or configuration trouble), -1 on a transport error.
 */
static int wait_for_turn(struct daemon *d, char *err)
{
    for (;;) {
        int64_t now = now_ms(), wait = MAX_WAIT_MS;

        if (got_term || d->pause_until_ms > now + MAX_WAIT_MS)
            return 1;
        if (d->pause_until_ms > now)
            wait = d->pause_until_ms - now;
        else if (d->next_send_ms > now)
            wait = d->next_send_ms - now;
        else if (smtp_free_slots(d->smtp) > 0)
            return 0;
        if (wait > MAX_WAIT_MS)
            wait = MAX_WAIT_MS;
        if (smtp_in_flight(d->smtp) > 0) {
            if (pump(d, (int)wait, err) == -1)
                return -1;
        } else {
            nap(d, wait, NAP_TERM);
        }
    }
}

static void submit(struct daemon *d, struct job *job)
{
    const struct config *c = &d->rt->config;
    char err[ERRLEN];
    int64_t now = now_ms();

    /* A send must finish inside our claim, or another daemon may take it and send again. */
    if (now + c->timeout_ms + CONFIG_LEASE_MARGIN_MS > job->rec->claim_until_ms) {
        hand_back(d, job, "claim too close to its end; handed back", now);
        return;
    }
    if (smtp_submit(d->smtp, &job->msg, job, err) == -1) {
        log_warnx("signup %lld: %s", (long long)job->rec->signup.id, err);
        hand_back(d, job, err, now + c->retry_min_ms);
        return;
    }
    job->submitted = 1;
    if (c->rate_limit > 0)
        d->next_send_ms = now + (int64_t)(1000.0 / c->rate_limit);
}

/*
 * The transport failed as a whole (libcurl's multi interface, not a server):
 * its transfers are abandoned and it starts afresh.  Their outcome is unknown,
 * so they go back to wait; the Message-ID stays the same if one did arrive.
 */
static int reset_transport(struct daemon *d, struct job *jobs, size_t n, char *err)
{
    struct smtp *fresh;
    size_t i;

    log_critx("SMTP transport failed: %s; starting it afresh", err);
    for (i = 0; i < n; i++)
        if (jobs[i].submitted && !jobs[i].done)
            hand_back(d, &jobs[i], "transport failure; outcome unknown",
                      now_ms() + d->rt->config.retry_min_ms);
    /* The old transport still points at this batch's messages: it must go now. */
    smtp_free(d->smtp);
    d->smtp = NULL;
    if (smtp_open(&fresh, &d->rt->config, err) == -1)
        return -1;
    d->smtp = fresh;
    return 0;
}

/* Works through one claimed batch.  Returns how many signups made progress, or -1. */
static int run_batch(struct daemon *d, struct signup_record *recs, size_t n, char *err)
{
    unsigned long handed_back = d->handed_back;
    struct job *jobs;
    size_t i;
    int turn = 0, rc = 0;

    jobs = calloc(n, sizeof(*jobs));
    if (jobs == NULL)
        return errf(err, "out of memory for a batch of %zu", n);
    for (i = 0; i < n; i++)
        jobs[i].rec = &recs[i];
    for (i = 0; i < n; i++) {
        if (turn == 0 && prepare(d, &jobs[i]) == -1)
            continue;
        if (turn == 0)
            turn = wait_for_turn(d, err);
        if (turn == 0) {
            submit(d, &jobs[i]);
            continue;
        }
        /* Stopping: what was not attempted goes back as it was. */
        hand_back(d, &jobs[i], got_term ? "handed back at shutdown" : "not attempted yet",
                  d->pause_until_ms > now_ms() ? d->pause_until_ms : now_ms());
    }
    while (turn != -1 && smtp_in_flight(d->smtp) > 0)
        if (pump(d, MAX_WAIT_MS, err) == -1)
            turn = -1;
    if (turn == -1 && reset_transport(d, jobs, n, err) == -1)
        rc = -1;
    for (i = 0; i < n; i++)
        if (jobs[i].built)
            message_free(&jobs[i].msg);
    free(jobs);
    update_status(d);
    return rc == -1 ? -1 : (int)(n - (d->handed_back - handed_back));
}

/* --- the loop -------------------------------------------------------------------- */

/* The queue and the transport for a configuration; nothing is kept on failure. */
static int open_services(const struct config *c, struct queue **q, struct smtp **smtp, char *err)
{
    if (queue_open(q, c->queue_path, err) != QUEUE_OPEN_OK)
        return DAEMON_NO_QUEUE;
    if (smtp_open(smtp, c, err) == -1) {
        queue_close(*q);
        *q = NULL;
        return DAEMON_STOPPED;
    }
    return 0;
}

static void close_services(struct daemon *d)
{
    if (d->smtp)
        smtp_free(d->smtp);
    if (d->q)
        queue_close(d->q);
    d->smtp = NULL;
    d->q = NULL;
}

static void log_diag_lines(const struct diag *diag)
{
    const char *line = buf_str(&diag->text), *nl;

    for (; (nl = strchr(line, '\n')) != NULL; line = nl + 1)
        log_critx("%.*s", (int)(nl - line), line);
}

static void apply_log_level(const struct daemon *d)
{
    log_setmax(d->verbose || d->rt->config.verbose ? LOG_PRIO_DEBUG : LOG_PRIO_INFO);
}

/*
 * SIGHUP: all of config, roles, templates, queue and transport, or none of
 * them.  The new set is loaded and opened beside the running one, which is
 * replaced only when everything succeeded.
 */
static void reload(struct daemon *d)
{
    struct runtime fresh;
    struct queue *q = NULL;
    struct smtp *smtp = NULL;
    struct diag diag;
    char err[ERRLEN];

    got_hup = 0;
    notify_reloading();
    diag_init(&diag);
    if (runtime_load(&fresh, d->config_path, &diag) == -1) {
        log_critx("reload of %s failed; still running the previous configuration:", d->config_path);
        log_diag_lines(&diag);
        diag_free(&diag);
        notify_ready();
        return;
    }
    diag_free(&diag);
    if (open_services(&fresh.config, &q, &smtp, err) != 0) {
        log_critx("reload of %s failed: %s; still running the previous configuration",
                  d->config_path, err);
        runtime_free(&fresh);
        notify_ready();
        return;
    }
    close_services(d);
    runtime_free(d->rt);
    *d->rt = fresh;
    d->q = q;
    d->smtp = smtp;
    /* A fixed relay setup may work now; a throttling relay still wants its pause. */
    if (d->config_trouble)
        d->pause_until_ms = 0;
    d->config_trouble = 0;
    apply_log_level(d);
    log_notice("reloaded %s", d->config_path);
    notify_ready();
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a signal must cut a sleep short. */
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

static void recover_claims(struct daemon *d)
{
    char err[ERRLEN];
    int n = 0;

    if (queue_recover(d->q, d->host, now_ms(), &n, err) == -1)
        log_warnx("recovering stale claims: %s", err);
    else if (n > 0)
        log_notice("took back %d signup%s claimed by a process that is gone or whose lease ran out",
                   n, n == 1 ? "" : "s");
}

/* queue.retention: the queue sweeps at most once a minute, however often it is asked. */
static void scrub_expired(struct daemon *d)
{
    char err[ERRLEN];
    int n = 0;

    if (queue_scrub_expired(d->q, now_ms(), d->rt->config.retention_ms, &n, err) == -1)
        log_warnx("scrubbing expired personal data: %s", err);
}

/*
 * How many signups to claim at once: the batch size, but with a rate limit
 * no more than can be sent while their claims still hold, or the rest would
 * only be claimed to be handed back.
 */
static int claim_size(const struct config *c)
{
    double window_s = (double)(c->lease_ms - c->timeout_ms - CONFIG_LEASE_MARGIN_MS) / 1000;
    double fits;

    if (c->rate_limit <= 0 || window_s <= 0)
        return c->batch_size;
    fits = window_s * c->rate_limit + 1;
    return fits < c->batch_size ? (int)fits : c->batch_size;
}

/*
 * One round: take what is due and work through it.  *claimed gets how many
 * were due; returns how many of them made progress (not all handed back), or
 * -1.
 */
static int round_once(struct daemon *d, size_t *claimed, char *err)
{
    const struct config *c = &d->rt->config;
    struct signup_record *recs = NULL;
    size_t n = 0;
    int rc;

    *claimed = 0;
    recover_claims(d);
    scrub_expired(d);
    if (queue_claim(d->q, d->owner, now_ms(), c->lease_ms, claim_size(c), &recs, &n, err) == -1)
        return -1;
    *claimed = n;
    if (n == 0)
        return 0;
    log_debug("claimed %zu signup%s", n, n == 1 ? "" : "s");
    rc = run_batch(d, recs, n, err);
    queue_claim_free(recs, n);
    return rc;
}

static int loop(struct daemon *d, char *err)
{
    for (;;) {
        int64_t now, wait;
        size_t claimed;
        int n;

        if (got_hup)
            reload(d);
        if (got_term)
            return 0;
        if (d->smtp == NULL && smtp_open(&d->smtp, &d->rt->config, err) == -1) {
            d->smtp = NULL;
            if (d->drain)
                return DAEMON_STOPPED;
            log_critx("%s", err);
            nap(d, CONFIG_PAUSE_MS, NAP_TERM_OR_HUP);
            continue;
        }
        /* Paused (throttled, relay trouble) or paced: claim nothing until we may send. */
        now = now_ms();
        wait = (d->pause_until_ms > d->next_send_ms ? d->pause_until_ms : d->next_send_ms) - now;
        if (wait > 0) {
            if (d->pause_until_ms > now)
                smtp_close_idle(d->smtp, 1);
            nap(d, wait, NAP_TERM_OR_HUP);
            continue;
        }
        n = round_once(d, &claimed, err);
        if (n == -1) {
            if (d->drain)
                return DAEMON_STOPPED;
            log_warnx("%s", err);
            nap(d, d->rt->config.poll_interval_ms, NAP_TERM_OR_HUP);
            continue;
        }
        if (d->drain && d->config_trouble) {
            errf(err, "stopped: the SMTP server refused our authentication or TLS; signups stay "
                      "queued");
            return DAEMON_STOPPED;
        }
        /* Progress: look again at once.  Nothing due: drained, or wait a poll. */
        if (n > 0)
            continue;
        if (claimed == 0 && d->drain)
            return 0;
        /* Claimed but all handed back: wait rather than claim the same again at once. */
        if (claimed == 0)
            smtp_close_idle(d->smtp, 0);
        nap(d, d->rt->config.poll_interval_ms, NAP_TERM_OR_HUP);
    }
}

int daemon_run(struct runtime *rt, const char *config_path, int drain, int verbose, char *err)
{
    struct daemon d;
    int rc;

    memset(&d, 0, sizeof(d));
    d.rt = rt;
    d.config_path = config_path;
    d.drain = drain;
    d.verbose = verbose;
    if (gethostname(d.host, sizeof(d.host)) == -1)
        snprintf(d.host, sizeof(d.host), "localhost");
    d.host[sizeof(d.host) - 1] = '\0';
    snprintf(d.owner, sizeof(d.owner), "%s:%ld", d.host, (long)getpid());
    d.rng = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    d.watchdog_ms = notify_watchdog_interval_ms();
    d.last_watchdog_ms = monotonic_ms();
    apply_log_level(&d);
    /* libcurl waits for the reply to the end of DATA inside one call: the watchdog must outlast it.
     */
    if (d.watchdog_ms > 0 && 2 * d.watchdog_ms <= rt->config.timeout_ms)
        log_warnx("WatchdogSec= (%llds) is not longer than smtp.timeout (%llds): a slow relay "
                  "could get reportd killed",
                  (long long)(2 * d.watchdog_ms / 1000), (long long)(rt->config.timeout_ms / 1000));
    got_term = 0;
    got_hup = 0;
    install_signals();
    rc = open_services(&rt->config, &d.q, &d.smtp, err);
    if (rc != 0) {
        runtime_free(rt);
        return rc;
    }
    log_notice("started%s: queue %s, relay %s, %d connection%s", drain ? " (drain)" : "",
               rt->config.queue_path, rt->config.smtp_url, rt->config.connections,
               rt->config.connections == 1 ? "" : "s");
    notify_ready();
    update_status(&d);
    rc = loop(&d, err);
    notify_stopping();
    log_notice("stopping: sent %lu, deferred %lu, failed %lu, rejected %lu", d.sent, d.deferred,
               d.failed, d.rejected);
    close_services(&d);
    runtime_free(rt);
    return rc;
}
