/*
 * daemon.c - `reportd run`: claim due signups, render, send, record.
 *
 * Data flows one way: the queue hands out claimed signups, the runtime turns
 * each into a rendered report, message.c into a message, smtp.c delivers it
 * on one of its connections, and the outcome goes back to the queue through
 * queue_transition().  Everything here runs on one thread, which owns the
 * queue; the connections run on their own (smtp.c), so a slow relay never
 * holds up the watchdog, signals or the recording of other outcomes.
 *
 * The one-report promise rests on three rules kept here and in
 * daemon_send.c:
 *   - a message's attempt is marked in the queue before its data goes out
 *     (queue_mark_attempts), so a crash leaves an uncertain signup, never a
 *     silent duplicate;
 *   - an outcome is recorded as soon as it arrives (with others that finished
 *     meanwhile, in one commit), and one that cannot be recorded is kept and
 *     retried without limit while nothing new is sent;
 *   - inside the daemon every time is monotonic, so clock jumps move no
 *     lease, pause or rate limit.
 */
#define LOG_MODULE "daemon"
#include "daemon.h"
#include "daemon_int.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "delivery.h"
#include "log.h"
#include "metrics_file.h"
#include "notify.h"
#include "queue.h"
#include "schedule.h"
#include "smtp.h"
#include "wake.h"

/*
 * After a wake-up that found nothing, look again after 5, 10, 20 and 40 ms:
 * a producer's commit is visible well within that.
 */
#define WAKE_RECHECK_FIRST_MS 5
#define WAKE_RECHECKS         4
/* A drain waits for signups due this soon: the clocks' readings can differ by a millisecond. */
#define DRAIN_DUE_SLACK_MS 100
/* The longest wait while transfers are in flight: stuck ones are looked for this often. */
#define MAX_WAIT_MS 1000
/*
 * Each message allocates and frees a few hundred KiB (the rendered report,
 * its encoded bodies); without these glibc gives the top of the heap back
 * after every message and takes it again for the next (brk in a loop).
 */
#define HEAP_TRIM_THRESHOLD (8 * 1024 * 1024)
#define HEAP_MMAP_THRESHOLD (1024 * 1024)
/*
 * After SIGTERM, transfers in flight get smtp.timeout plus this long to end
 * by themselves before their connections are cut.
 */
#define STOP_GRACE_MS 1000
/* How long a stop waits, after the transfers ended, for the queue to take their outcomes. */
#define STOP_RECORD_MS 3000

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

/* --- waiting ------------------------------------------------------------------- */

static void keep_alive(struct daemon *d)
{
    int64_t now = monotonic_ms();

    if (d->watchdog_ms > 0 && now - d->last_watchdog_ms >= d->watchdog_ms) {
        notify_watchdog();
        d->last_watchdog_ms = now;
    }
}

/* A finished transfer: its outcome joins the line to be recorded. */
static void on_result(void *arg, const struct smtp_result *r)
{
    struct daemon *d = arg;
    struct job *job = r->cookie;

    d->in_flight--;
    if (r->status != SMTP_NOT_BUILT && r->status != SMTP_NOT_STARTED)
        job->outcome_us = r->finished_us;
    delivery_outcome(&d->dl, job, r, now_ms(), monotonic_ms());
    job_line_push(&d->unrecorded, job);
}

/*
 * Waits up to ms for a finished transfer (or only sleeps, when none is in
 * flight), cut short by a signal.  Serves the watchdog either way.
 */
static void wait_for_events(struct daemon *d, int64_t ms)
{
    struct pollfd p[2];
    struct timespec ts;
    char err[ERRLEN];
    int n = 0, woke = -1;

    keep_alive(d);
    /* With transfers in flight, look as often as outcomes need (and stuck connections). */
    if (d->in_flight > 0) {
        int limit = smtp_wait_limit_ms(d->smtp);

        if (ms > limit)
            ms = limit;
    }
    /* Never past the next metrics write (an idle daemon with metrics.path wakes for it). */
    if (ms > metrics_writer_next(&d->metrics, d->rt->config.metrics_path) - monotonic_ms())
        ms = metrics_writer_next(&d->metrics, d->rt->config.metrics_path) - monotonic_ms();
    /* Never past the next keep-alive. */
    if (d->watchdog_ms > 0 && ms > d->last_watchdog_ms + d->watchdog_ms - monotonic_ms())
        ms = d->last_watchdog_ms + d->watchdog_ms - monotonic_ms();
    if (ms < 0 || got_term || got_hup)
        ms = 0;
    if (d->in_flight > 0)
        p[n++] = (struct pollfd){.fd = smtp_fd(d->smtp), .events = POLLIN};
    if (d->wake != NULL) {
        woke = n;
        p[n++] = (struct pollfd){.fd = wake_fd(d->wake), .events = POLLIN};
    }
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    /* Our signals are let in only here: one that came since the last look ends the wait. */
    if (ms > 0 && ppoll(p, (nfds_t)n, &ts, &d->wait_mask) > 0 && woke >= 0 && p[woke].revents)
        d->woken |= wake_check(d->wake);
    if (d->in_flight > 0 && smtp_poll(d->smtp, 0, on_result, d, err) == -1)
        log_warnx("%s", err);
    keep_alive(d);
}

/* Watches the queue's directory so that a producer's INSERT wakes the daemon at once. */
static void watch_queue(struct daemon *d)
{
    char err[ERRLEN];

    wake_close(d->wake);
    d->wake = NULL;
    if (wake_open(&d->wake, &d->rt->config.queue, err) == -1) {
        d->wake = NULL;
        log_warnx("%s; new signups are noticed every queue.poll_interval instead", err);
    }
}

/* --- the loop ------------------------------------------------------------------ */

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
 * SIGHUP, once nothing is in flight: all of config, roles, templates, queue
 * and transport, or none of them.  The new set is loaded and opened beside
 * the running one, which is replaced only when everything succeeded.
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
    if (queue_open_at(&q, &fresh.config.queue, err) != QUEUE_OPEN_OK ||
        smtp_open(&smtp, &fresh.config, err) == -1) {
        log_critx("reload of %s failed: %s; still running the previous configuration",
                  d->config_path, err);
        queue_close(q);
        runtime_free(&fresh);
        notify_ready();
        return;
    }
    smtp_free(d->smtp);
    queue_close(d->q);
    runtime_free(d->rt);
    *d->rt = fresh;
    d->q = q;
    d->smtp = smtp;
    smtp_set_builder(d->smtp, delivery_build, d->rt);
    d->write_failures = 0;
    d->write_retry_ms = 0;
    delivery_reconfigured(&d->dl, d->rt);
    watch_queue(d);
    apply_log_level(d);
    log_notice("reloaded %s", d->config_path);
    notify_ready();
}

/* The signals the daemon answers: stop (TERM, INT) and reload (HUP). */
static void our_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

void daemon_hold_signals(void)
{
    sigset_t ours;

    our_signals(&ours);
    pthread_sigmask(SIG_BLOCK, &ours, NULL);
}

/*
 * The daemon's signals are blocked except inside its one wait (ppoll), so
 * one that arrives between a check of the flags and the wait still ends the
 * wait: no signal is missed, and an idle daemon need not wake to look.
 * *wait_mask is the mask to wait with.
 */
static void install_signals(sigset_t *wait_mask)
{
    struct sigaction sa;
    sigset_t ours;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a signal must cut a wait short. */
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    our_signals(&ours);
    pthread_sigmask(SIG_BLOCK, &ours, wait_mask);
    sigdelset(wait_mask, SIGTERM);
    sigdelset(wait_mask, SIGINT);
    sigdelset(wait_mask, SIGHUP);
}

/*
 * SIGTERM: nothing new starts, what waits goes back, and transfers in
 * flight get smtp.timeout to end before their connections are cut.
 * Returns 1 when the daemon may exit.
 */
static int stopping(struct daemon *d)
{
    int64_t now = monotonic_ms();

    if (d->stop_deadline_ms == 0) {
        d->stop_deadline_ms = now + d->rt->config.timeout_ms + STOP_GRACE_MS;
        notify_stopping();
        daemon_hand_back_waiting(d, "handed back at shutdown", now_ms());
        if (d->in_flight > 0)
            log_notice("stopping: waiting up to %llds for %d message%s in flight",
                       (long long)((d->stop_deadline_ms - now) / 1000), d->in_flight,
                       d->in_flight == 1 ? "" : "s");
    }
    if (d->in_flight > 0 && now >= d->stop_deadline_ms && !d->aborted) {
        log_warnx("stopping: cutting %d connection%s still in flight", d->in_flight,
                  d->in_flight == 1 ? "" : "s");
        smtp_abort(d->smtp);
        d->aborted = 1;
    }
    if (d->in_flight > 0)
        return 0;
    if (d->unrecorded.n == 0)
        return 1;
    if (now < d->stop_deadline_ms + STOP_RECORD_MS)
        return 0;
    log_critx("stopping with %zu outcome%s the queue would not take; their signups stay claimed "
              "and are taken back as uncertain by the next start",
              d->unrecorded.n, d->unrecorded.n == 1 ? "" : "s");
    return 1;
}

/*
 * When an idle daemon that found nothing looks again: soon after a wake-up,
 * else when the schedule says (with inotify, when something falls due).
 */
static int64_t next_look_ms(struct daemon *d, int woken)
{
    if (woken)
        d->rechecks = 0;
    if (d->rechecks < WAKE_RECHECKS)
        return (int64_t)WAKE_RECHECK_FIRST_MS << d->rechecks++;
    return schedule_idle_look_ms(d->rt->config.poll_interval_ms, d->wake != NULL, d->next_due_ms,
                                 now_ms());
}

/* Whether a new message may start now: no unrecorded outcome, not paused or paced, room in the
 * transport. */
static int may_send(struct daemon *d)
{
    return !d->write_failures && d->unrecorded.n == 0 && !got_hup &&
           delivery_next_send(&d->dl) <= monotonic_ms() && daemon_transport_ready(d);
}

/* How long to wait when nothing could start. */
static int64_t idle_wait(struct daemon *d, int claimed_nothing)
{
    int64_t now = monotonic_ms(), next = delivery_next_send(&d->dl);

    if (d->write_failures)
        return d->write_retry_ms - now;
    /*
     * Outcomes to record (claims handed back on a pause): at once, not after
     * the pause.  A SQLite queue's own commit used to wake us here through
     * inotify; a PostgreSQL queue notifies only of inserts.
     */
    if (d->unrecorded.n > 0 && d->in_flight == 0)
        return 0;
    if (next > now)
        return next - now;
    /* Waiting for a connection or a reload: a finished transfer wakes us. */
    if (got_hup || !daemon_transport_ready(d) || d->unrecorded.n > 0)
        return MAX_WAIT_MS;
    if (claimed_nothing && !d->woken)
        return d->next_claim_ms - now;
    return 0;
}

/*
 * A signup handed back on a pause is due when the pause ends, on the wall
 * clock; the pause ends on the monotonic clock, and the two readings can be
 * a millisecond apart.  So a drain that found nothing waits for what falls
 * due within DRAIN_DUE_SLACK_MS instead of ending with it still queued.
 */
static void drain_waits_for_due_soon(struct daemon *d, int claimed)
{
    int64_t left = d->next_due_ms - now_ms();

    d->due_soon = d->drain && claimed == 0 && d->next_due_ms != SCHEDULE_NEVER &&
                  d->next_due_ms != SCHEDULE_WATCH && left <= DRAIN_DUE_SLACK_MS;
    if (d->due_soon)
        d->next_claim_ms = monotonic_ms() + (left > 0 ? left : 0) + 1;
}

/*
 * Starts the next message when it may: claims more when none waits.
 * Returns 1 when something started, 0 when not, or -1 when the queue cannot
 * be claimed from; *claimed_nothing tells that nothing was due.
 */
static int start_something(struct daemon *d, int *claimed_nothing)
{
    *claimed_nothing = 0;
    /* After a failed write the queue was closed: opening it again (a write) tells it is mended. */
    if (d->write_failures && d->unrecorded.n == 0) {
        if (daemon_queue_ready(d) == -1)
            return 0;
        daemon_queue_mended(d);
    }
    if (delivery_paused(&d->dl, monotonic_ms()) && (d->waiting.n > 0 || d->in_flight > 0))
        daemon_hand_back_waiting(d, delivery_pause_reason(&d->dl), delivery_resume_at(&d->dl));
    if (!may_send(d))
        return 0;
    if (d->waiting.n == 0) {
        int n, woken;

        /*
         * Found nothing last time and nothing woke us: wait for the poll
         * interval.  A drain looks every time: it ends when nothing is due.
         */
        if ((!d->drain || d->due_soon) && !d->woken && monotonic_ms() < d->next_claim_ms) {
            *claimed_nothing = 1;
            return 0;
        }
        woken = d->woken;
        if (daemon_queue_ready(d) == -1)
            return -1;
        n = daemon_claim(d);
        if (n <= 0) {
            *claimed_nothing = n == 0;
            /*
             * inotify tells of a commit's first write, before the commit can
             * be seen: a wake that found nothing looks again shortly.
             */
            if (n == 0)
                d->next_claim_ms = monotonic_ms() + next_look_ms(d, woken);
            drain_waits_for_due_soon(d, n);
            return n;
        }
        /* Every connection busy: the first of them is rendered ahead before it goes. */
        if (!daemon_transport_ready(d))
            return 0;
    }
    daemon_send_next(d);
    return 1;
}

/* Nothing in the daemon's hands: no transfer, no claimed signup, no unrecorded outcome. */
static int empty_handed(const struct daemon *d)
{
    return d->in_flight == 0 && d->waiting.n == 0 && d->unrecorded.n == 0;
}

/* In drain mode: DAEMON_DONE or a failure once there is nothing (more) to do; 1 to go on. */
static int drain_verdict(struct daemon *d, int claimed_nothing, char *err)
{
    if (!d->drain || !empty_handed(d))
        return 1;
    if (delivery_config_trouble(&d->dl)) {
        errf(err, "stopped: the SMTP server refused our authentication or TLS; signups stay "
                  "queued");
        return DAEMON_STOPPED;
    }
    if (delivery_unreachable(&d->dl)) {
        errf(err, "stopped: %s; signups stay queued", delivery_pause_reason(&d->dl));
        return DAEMON_STOPPED;
    }
    if (d->write_failures) {
        errf(err, "stopped: the queue cannot be written");
        return DAEMON_NO_QUEUE;
    }
    return claimed_nothing && !d->due_soon ? DAEMON_DONE : 1;
}

static int loop(struct daemon *d, char *err)
{
    for (;;) {
        int claimed_nothing, started, rc;

        /* Outcomes first: the sooner one is recorded, the smaller the window for a duplicate. */
        wait_for_events(d, 0);
        daemon_record_outcomes(d);
        metrics_writer_tick(&d->metrics, d->q, d->rt->config.metrics_path, 0);
        if (got_term) {
            if (stopping(d))
                return DAEMON_DONE;
            wait_for_events(d, MAX_WAIT_MS);
            continue;
        }
        if (got_hup) {
            daemon_hand_back_waiting(d, "handed back for a reload", now_ms());
            if (empty_handed(d))
                reload(d);
        }
        started = start_something(d, &claimed_nothing);
        rc = drain_verdict(d, claimed_nothing, err);
        if (rc != 1)
            return rc;
        if (started != 1 && (got_hup || !daemon_build_ahead(d)))
            wait_for_events(d, idle_wait(d, claimed_nothing));
    }
}

static void make_owner(struct daemon *d)
{
    unsigned long long start = 0;

    if (gethostname(d->host, sizeof(d->host)) == -1)
        snprintf(d->host, sizeof(d->host), "localhost");
    d->host[sizeof(d->host) - 1] = '\0';
    /* With the start time the owner names this process, not whoever gets its pid later. */
    if (process_start_time(getpid(), &start) == -1)
        start = 0;
    if (start != 0)
        snprintf(d->owner, sizeof(d->owner), "%s:%ld:%llu", d->host, (long)getpid(), start);
    else
        snprintf(d->owner, sizeof(d->owner), "%s:%ld", d->host, (long)getpid());
}

static void free_lines(struct daemon *d)
{
    struct job *job;

    while ((job = job_line_pop(&d->waiting)) != NULL)
        job_free(job);
    while ((job = job_line_pop(&d->unrecorded)) != NULL)
        job_free(job);
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
    make_owner(&d);
    if (mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD) != 1 ||
        mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD) != 1)
        log_debug("mallopt refused: the heap may grow and shrink with every message");
    d.watchdog_ms = notify_watchdog_interval_ms();
    d.last_watchdog_ms = monotonic_ms();
    apply_log_level(&d);
    got_term = 0;
    got_hup = 0;
    install_signals(&d.wait_mask);
    if (smtp_open(&d.smtp, &rt->config, err) == -1) {
        runtime_free(rt);
        return DAEMON_STOPPED;
    }
    smtp_set_builder(d.smtp, delivery_build, rt);
    if (queue_open_at(&d.q, &rt->config.queue, err) != QUEUE_OPEN_OK) {
        /* A service waits for its queue to be mended (and says so); a drain has nothing to do. */
        if (drain) {
            smtp_free(d.smtp);
            runtime_free(rt);
            return DAEMON_NO_QUEUE;
        }
        d.q = NULL;
        daemon_queue_failed(&d, "open", err);
    }
    delivery_init(&d.dl, rt, d.owner);
    watch_queue(&d);
    log_notice("started%s: queue %s, relay %s, %d connection%s, owner %s", drain ? " (drain)" : "",
               queue_place_name(&rt->config.queue), rt->config.smtp_url, rt->config.connections,
               rt->config.connections == 1 ? "" : "s", d.owner);
    notify_ready();
    daemon_update_status(&d);
    rc = loop(&d, err);
    metrics_writer_tick(&d.metrics, d.q, d.rt->config.metrics_path, 1);
    if (d.stop_deadline_ms == 0)
        notify_stopping();
    log_notice("stopping: sent %lu, deferred %lu, failed %lu, rejected %lu, held %lu", d.sent,
               d.deferred, d.failed, d.rejected, d.held);
    smtp_free(d.smtp);
    wake_close(d.wake);
    free_lines(&d);
    queue_close(d.q);
    runtime_free(rt);
    return rc;
}
