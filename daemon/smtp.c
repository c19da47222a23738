/*
 * smtp.c - the transport: a pool of connections (smtp_conn.c), each driven
 * by its own worker thread, fed from one line of waiting messages, with
 * finished transfers handed back to the thread that submitted them.
 */
#include "smtp.h"
#include "smtp_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_MODULE "smtp"
#include "log.h"

/* How long a worker may take to say QUIT when told to stop, before its socket is cut. */
#define SMTP_QUIT_GRACE_MS 2000
/*
 * A transfer still running this long after its own timeout is stuck where
 * libcurl has no timeout (a QUIT after a failure): its socket is cut.
 */
#define SMTP_STUCK_GRACE_MS 5000

enum slot_state {
    SLOT_IDLE,    /* waiting for a message */
    SLOT_WORKING, /* the worker is building or sending req */
};

/* A submitted message, waiting for a connection or on one. */
struct request {
    struct message *m;
    void *cookie;
    int built;        /* 0: the builder fills m on the worker first */
    int64_t start_by; /* monotonic: too late to start after this (0: never) */
};

/*
 * One connection: a worker thread with its own easy handle.  Fields marked
 * (L) are shared with the main thread under smtp->lock; the rest belong to
 * the worker alone.
 */
struct slot {
    struct smtp *s;
    pthread_t thread;
    int started; /* the thread was created (main thread only) */
    pthread_cond_t wake;

    enum slot_state state; /* (L) */
    struct request req;    /* (L) while WORKING */
    int64_t started_ms;    /* (L) monotonic, when the transfer began */
    int signaled;          /* (L) woken for a waiting request, not yet up */
    int close_now;         /* (L) close the connection while idle */
    struct smtp_conn conn; /* its (lock) fields under smtp->lock; the rest the worker's */
};

struct smtp {
    struct smtp_settings set;

    smtp_build_fn build;
    void *build_arg;

    pthread_mutex_t lock;
    int quit;         /* (L) the workers end */
    int wake_pipe[2]; /* a byte wakes the main thread (see wake_needed) */
    int wake_batch;   /* finished transfers worth waking the main thread for */
    /*
     * (L) Bytes the workers have decided to write to the wake pipe, counted
     * before they are written; wakes_read (the main thread's) those it read.
     * The pipe is read only when they differ: a read is a system call.
     */
    unsigned long wakes;
    unsigned long wakes_read;
    struct slot *slots;
    int nslots;
    /*
     * (L) Submitted messages no connection has taken yet, oldest first: any
     * worker that comes free takes the next, so a stalled connection holds
     * only its own.  At most nslots wait, so that a connection coming free
     * finds its next message ready without a round trip through the main
     * thread.
     */
    struct request *waiting;
    int waiting_head, nwaiting;
    /* (L) Finished transfers not yet collected; room for every message in the pool. */
    struct smtp_result *results;
    int results_head, nresults;
    int working; /* (L) slots in SLOT_WORKING */
    /*
     * (L) A transfer ended in a way that concerns the whole sender (throttled,
     * unreachable, refused credentials): the waiting messages stay where they
     * are until the caller has seen it and withdraws them, or submits again.
     */
    int halted;
};

/* Messages in the pool at most: one on each connection and one waiting for each. */
static int pool_capacity(const struct smtp *s)
{
    return 2 * s->nslots;
}

/* --- the workers -------------------------------------------------------- */

/*
 * libcurl's SMTP code blocks inside a transfer: it waits for the reply to
 * the final "." and to QUIT whatever interface drives it.  So each
 * connection is a thread of its own, and a slow, stalled or dropped
 * connection holds up only its own message; the main thread hands out
 * messages, collects outcomes, and can cut a stuck connection's socket.
 */

/* Under the lock: whether an idle worker's connection has been unused long enough to close. */
static int idle_expired(const struct slot *sl)
{
    return smtp_conn_idle_expired(&sl->conn, monotonic_ms());
}

static void wait_for_work(struct slot *sl)
{
    struct timespec until;
    int64_t at;

    if (!sl->conn.connected) {
        pthread_cond_wait(&sl->wake, &sl->s->lock);
        return;
    }
    at = sl->conn.last_use_ms + sl->s->set.idle_timeout_ms;
    until.tv_sec = (time_t)(at / 1000);
    until.tv_nsec = (long)(at % 1000) * 1000000L;
    (void)pthread_cond_timedwait(&sl->wake, &sl->s->lock, &until);
}

/*
 * Under the lock: whether the finished transfers make a batch worth
 * reporting.  While messages still wait for the workers, results gather
 * until wake_batch of them are in: their outcomes are then recorded in one
 * transaction and their successors marked and handed over together, instead
 * of a wake-up and two commits per message.  They go at once when the
 * workers are about to run dry, or when the whole sender must stop.
 */
static int batch_ready(const struct smtp *s)
{
    return s->nwaiting == 0 || s->nresults >= s->wake_batch || s->halted;
}

/*
 * Under the lock: whether the transfer that just finished (r) should wake
 * the main thread.  After a slow one it does not, unless the sender must
 * stop or the worker found no next message (took_next 0): the connection's
 * next message will be slow too, so the line cannot run dry before the main
 * thread's own look, at most SMTP_BATCH_WAIT_MS away.  A wake-up now would
 * put the main thread's commit and rendering between the relay's reply and
 * the worker's next command: the scheduler places a woken thread on its
 * waker's CPU, where the relay's next turn then waited too.
 */
static int wake_needed(const struct smtp *s, const struct smtp_result *r, int took_next)
{
    if (s->halted || !took_next)
        return 1;
    return r->elapsed_ms < SMTP_SLOW_TRANSFER_MS && batch_ready(s);
}

/* Under the lock: hands the worker's result to the main thread. */
static void finish_transfer(struct slot *sl, const struct smtp_result *r)
{
    struct smtp *s = sl->s;

    s->results[(s->results_head + s->nresults) % pool_capacity(s)] = *r;
    s->nresults++;
    if (r->status == SMTP_THROTTLE || r->status == SMTP_UNREACHABLE || r->status == SMTP_CONFIG)
        s->halted = 1;
    sl->state = SLOT_IDLE;
    sl->req = (struct request){0};
    s->working--;
}

/* Without the lock. */
static void wake_main(struct smtp *s)
{
    const char byte = 1;

    /* The pipe only wakes the main thread; a full pipe has already woken it. */
    if (write(s->wake_pipe[1], &byte, 1) == -1 && errno != EAGAIN)
        log_warnx("cannot wake the main thread: %s", strerror(errno));
}

/* Under the lock: takes the oldest waiting request onto this slot, if there is one. */
static int take_request(struct slot *sl)
{
    struct smtp *s = sl->s;

    sl->signaled = 0;
    if (s->nwaiting == 0 || s->halted)
        return 0;
    sl->req = s->waiting[s->waiting_head];
    s->waiting_head = (s->waiting_head + 1) % s->nslots;
    s->nwaiting--;
    sl->started_ms = monotonic_ms();
    sl->state = SLOT_WORKING;
    s->working++;
    return 1;
}

/* Worker only: a result for a message whose builder failed; nothing was sent. */
static void not_built(const struct request *req, struct smtp_result *r)
{
    memset(r, 0, sizeof(*r));
    r->signup_id = req->m->signup_id;
    r->cookie = req->cookie;
    r->status = SMTP_NOT_BUILT;
    r->finished_us = monotonic_us();
    snprintf(r->reason, sizeof(r->reason), "the message could not be built");
}

/* Worker only: a result for a message that waited past its start_by; nothing was sent. */
static void not_started(const struct request *req, struct smtp_result *r)
{
    memset(r, 0, sizeof(*r));
    r->signup_id = req->m->signup_id;
    r->cookie = req->cookie;
    r->status = SMTP_NOT_STARTED;
    r->finished_us = monotonic_us();
    snprintf(r->reason, sizeof(r->reason), "no connection free in time");
}

/* Worker only, without the lock: builds the request's message if needed, then sends it. */
static void serve(struct slot *sl, struct request *req, int64_t started_ms, struct smtp_result *r)
{
    struct smtp *s = sl->s;

    if (req->start_by != 0 && started_ms > req->start_by) {
        not_started(req, r);
        return;
    }
    if (!req->built && (s->build == NULL || s->build(s->build_arg, req->cookie, req->m) == -1)) {
        not_built(req, r);
        return;
    }
    smtp_conn_send(&sl->conn, req->m, req->cookie, started_ms, r);
}

static void *worker_main(void *arg)
{
    struct slot *sl = arg;
    struct smtp *s = sl->s;
    int rc;

    /*
     * A worker wakes for every reply of its relay: as a batch thread it does
     * not preempt the daemon's thread or the other workers in the middle of
     * their work, which with eight busy connections is a fifth of the CPU
     * per message (each preemption is a context switch, and cold caches).
     */
    rc = thread_make_batch();
    if (rc != 0)
        log_debug("a connection thread keeps the default scheduling: %s", strerror(rc));
    pthread_mutex_lock(&s->lock);
    while (!s->quit) {
        if (sl->state == SLOT_WORKING || take_request(sl)) {
            struct request req = sl->req;
            int64_t started = sl->started_ms;
            struct smtp_result r;

            int took, wake;

            pthread_mutex_unlock(&s->lock);
            serve(sl, &req, started, &r);
            pthread_mutex_lock(&s->lock);
            finish_transfer(sl, &r);
            /*
             * The next message is taken before the main thread is woken, so
             * that the wake-up never stands between a connection and its
             * next message.
             */
            took = !s->quit && take_request(sl);
            wake = wake_needed(s, &r, took);
            s->wakes += (unsigned long)wake;
            pthread_mutex_unlock(&s->lock);
            if (wake)
                wake_main(s);
            pthread_mutex_lock(&s->lock);
        } else if (sl->close_now || idle_expired(sl)) {
            sl->close_now = 0;
            pthread_mutex_unlock(&s->lock);
            smtp_conn_close(&sl->conn);
            pthread_mutex_lock(&s->lock);
        } else {
            wait_for_work(sl);
        }
    }
    pthread_mutex_unlock(&s->lock);
    /* QUIT, politely; smtp_free cuts the socket if the server does not answer. */
    smtp_conn_free(&sl->conn);
    return NULL;
}

/* --- the pool, seen from the main thread ----------------------------------- */

static int init_slot(struct smtp *s, struct slot *sl, char *err)
{
    pthread_condattr_t attr;
    int rc;

    sl->s = s;
    if (smtp_conn_init(&sl->conn, &s->set, &s->lock, err) == -1)
        return -1;
    /* Idle deadlines are monotonic, like every other time inside the daemon. */
    if (pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&sl->wake, &attr) != 0)
        return errf(err, "smtp: cannot create a condition variable");
    pthread_condattr_destroy(&attr);
    rc = pthread_create(&sl->thread, NULL, worker_main, sl);
    if (rc != 0) {
        pthread_cond_destroy(&sl->wake);
        return errf(err, "smtp: cannot start a connection thread: %s", strerror(rc));
    }
    sl->started = 1;
    return 0;
}

static int open_wake_pipe(struct smtp *s, char *err)
{
    if (pipe2(s->wake_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
        s->wake_pipe[0] = s->wake_pipe[1] = -1;
        return errf(err, "smtp: pipe: %s", strerror(errno));
    }
    return 0;
}

int smtp_open(struct smtp **sp, const struct config *c, char *err)
{
    struct smtp *s = calloc(1, sizeof(*s));
    sigset_t all, old;
    int i;

    *sp = NULL;
    if (s == NULL)
        return errf(err, "smtp: out of memory");
    s->wake_pipe[0] = s->wake_pipe[1] = -1;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return errf(err, "smtp: cannot create a mutex");
    }
    s->nslots = c->connections > 0 ? c->connections : 1;
    /* Half the connections: the other half still has messages waiting when it wakes. */
    s->wake_batch = s->nslots / 2 > 1 ? s->nslots / 2 : 1;
    if (smtp_settings_load(&s->set, c, err) == -1 || open_wake_pipe(s, err) == -1)
        goto fail;
    s->slots = calloc((size_t)s->nslots, sizeof(*s->slots));
    s->waiting = calloc((size_t)s->nslots, sizeof(*s->waiting));
    s->results = calloc((size_t)pool_capacity(s), sizeof(*s->results));
    if (s->slots == NULL || s->waiting == NULL || s->results == NULL) {
        errf(err, "smtp: out of memory");
        goto fail;
    }
    /* Signals are the main thread's: workers start with all of them blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (i = 0; i < s->nslots; i++)
        if (init_slot(s, &s->slots[i], err) == -1)
            break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (i < s->nslots)
        goto fail;
    *sp = s;
    return 0;
fail:
    smtp_free(s);
    return -1;
}

/* Waits for the workers to end, cutting the sockets of those that do not within grace_ms. */
static void join_workers(struct smtp *s, int64_t grace_ms)
{
    int64_t deadline = monotonic_ms() + grace_ms;
    int i;

    for (i = 0; i < s->nslots; i++) {
        struct slot *sl = &s->slots[i];
        struct timespec until;

        if (!sl->started)
            continue;
        for (;;) {
            int64_t at = monotonic_ms() + 50;

            until.tv_sec = (time_t)(at / 1000);
            until.tv_nsec = (long)(at % 1000) * 1000000L;
            if (pthread_clockjoin_np(sl->thread, NULL, CLOCK_MONOTONIC, &until) == 0)
                break;
            if (monotonic_ms() >= deadline) {
                pthread_mutex_lock(&s->lock);
                smtp_conn_cut(&sl->conn);
                pthread_mutex_unlock(&s->lock);
            }
        }
        sl->started = 0;
        pthread_cond_destroy(&sl->wake);
    }
}

void smtp_free(struct smtp *s)
{
    int i, busy = 0;

    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->quit = 1;
    for (i = 0; s->slots != NULL && i < s->nslots; i++) {
        busy |= s->slots[i].state == SLOT_WORKING;
        if (s->slots[i].started)
            pthread_cond_signal(&s->slots[i].wake);
    }
    pthread_mutex_unlock(&s->lock);
    /* A transfer still running is abandoned at once; an idle connection gets to say QUIT. */
    if (s->slots != NULL)
        join_workers(s, busy ? 0 : SMTP_QUIT_GRACE_MS);
    for (i = 0; s->slots != NULL && i < s->nslots; i++)
        smtp_conn_free(&s->slots[i].conn);
    free(s->slots);
    free(s->waiting);
    free(s->results);
    if (s->wake_pipe[0] != -1)
        close(s->wake_pipe[0]);
    if (s->wake_pipe[1] != -1)
        close(s->wake_pipe[1]);
    pthread_mutex_destroy(&s->lock);
    smtp_settings_free(&s->set);
    free(s);
}

int smtp_in_flight(struct smtp *s)
{
    int n;

    pthread_mutex_lock(&s->lock);
    n = s->nwaiting + s->working + s->nresults;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int smtp_waiting(struct smtp *s)
{
    int n;

    pthread_mutex_lock(&s->lock);
    n = s->nwaiting;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int smtp_uncollected(struct smtp *s)
{
    int n;

    pthread_mutex_lock(&s->lock);
    n = s->nresults;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int smtp_free_slots(struct smtp *s)
{
    int room, left;

    pthread_mutex_lock(&s->lock);
    room = s->nslots - s->nwaiting;
    left = pool_capacity(s) - (s->nwaiting + s->working + s->nresults);
    pthread_mutex_unlock(&s->lock);
    return room < left ? room : left;
}

int smtp_idle_connections(struct smtp *s)
{
    int n, room;

    pthread_mutex_lock(&s->lock);
    n = s->nslots - s->working - s->nwaiting;
    /* Results not yet collected take room too: an idle connection is no use without it. */
    room = pool_capacity(s) - (s->nwaiting + s->working + s->nresults);
    pthread_mutex_unlock(&s->lock);
    if (room < n)
        n = room;
    return n > 0 ? n : 0;
}

void smtp_set_builder(struct smtp *s, smtp_build_fn fn, void *arg)
{
    s->build = fn;
    s->build_arg = arg;
}

/* Under the lock: wakes one idle worker not already woken, preferring one with a connection open.
 */
static void wake_idle_worker(struct smtp *s)
{
    struct slot *pick = NULL;
    int i;

    for (i = 0; i < s->nslots; i++) {
        struct slot *sl = &s->slots[i];

        if (sl->state != SLOT_IDLE || sl->signaled)
            continue;
        if (pick == NULL || (sl->conn.connected && !pick->conn.connected))
            pick = sl;
    }
    if (pick != NULL) {
        pick->signaled = 1;
        pthread_cond_signal(&pick->wake);
    }
}

int smtp_submit(struct smtp *s, struct message *m, void *cookie, int built, int64_t start_by_ms,
                char *err)
{
    pthread_mutex_lock(&s->lock);
    if (s->nwaiting >= s->nslots || s->nwaiting + s->working + s->nresults >= pool_capacity(s)) {
        pthread_mutex_unlock(&s->lock);
        return errf(err, "smtp: all %d connections are busy", s->nslots);
    }
    s->waiting[(s->waiting_head + s->nwaiting) % s->nslots] =
        (struct request){.m = m, .cookie = cookie, .built = built, .start_by = start_by_ms};
    s->nwaiting++;
    s->halted = 0;
    wake_idle_worker(s);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int smtp_withdraw(struct smtp *s, smtp_withdrawn_fn fn, void *arg)
{
    int n = 0;

    for (;;) {
        struct request req;

        pthread_mutex_lock(&s->lock);
        s->halted = 0;
        if (s->nwaiting == 0) {
            pthread_mutex_unlock(&s->lock);
            return n;
        }
        req = s->waiting[s->waiting_head];
        s->waiting_head = (s->waiting_head + 1) % s->nslots;
        s->nwaiting--;
        pthread_mutex_unlock(&s->lock);
        fn(arg, req.cookie);
        n++;
    }
}

/*
 * A transfer past its own timeout is stuck where libcurl has none (a
 * reply to QUIT after a failure): cut it, so it ends now and says so.
 */
static void cut_stuck(struct smtp *s)
{
    int64_t limit = s->set.timeout_ms + SMTP_STUCK_GRACE_MS;
    int64_t now = monotonic_ms();
    int i;

    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->nslots; i++) {
        struct slot *sl = &s->slots[i];

        if (sl->state == SLOT_WORKING && !sl->conn.aborted && now - sl->started_ms > limit) {
            log_warnx("signup %lld: no end to the transfer after %llds; cutting its connection",
                      (long long)sl->req.m->signup_id, (long long)((now - sl->started_ms) / 1000));
            sl->conn.aborted = 1;
            smtp_conn_cut(&sl->conn);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

void smtp_abort(struct smtp *s)
{
    int i;

    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->nslots; i++) {
        if (s->slots[i].state == SLOT_WORKING) {
            s->slots[i].conn.aborted = 1;
            smtp_conn_cut(&s->slots[i].conn);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/* Under the lock: whether the oldest finished transfer has waited its longest for a batch. */
static int results_overdue(const struct smtp *s)
{
    return s->nresults > 0 && monotonic_us() - s->results[s->results_head].finished_us >=
                                  (int64_t)SMTP_BATCH_WAIT_MS * 1000;
}

int smtp_wait_limit_ms(struct smtp *s)
{
    int64_t left = SMTP_BATCH_WAIT_MS;

    pthread_mutex_lock(&s->lock);
    if (s->nresults > 0)
        left =
            (s->results[s->results_head].finished_us - monotonic_us()) / 1000 + SMTP_BATCH_WAIT_MS;
    pthread_mutex_unlock(&s->lock);
    return left < 0 ? 0 : (int)left;
}

/*
 * Reports every finished transfer, oldest first, each taken out of the pool
 * before done() runs: as a batch (see batch_ready), or once the oldest has
 * waited SMTP_BATCH_WAIT_MS.
 */
static int reap(struct smtp *s, smtp_done_fn done, void *arg)
{
    int reported = 0;

    pthread_mutex_lock(&s->lock);
    if (!batch_ready(s) && !results_overdue(s)) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    pthread_mutex_unlock(&s->lock);
    for (;;) {
        struct smtp_result r;

        pthread_mutex_lock(&s->lock);
        if (s->nresults == 0) {
            pthread_mutex_unlock(&s->lock);
            return reported;
        }
        r = s->results[s->results_head];
        s->results_head = (s->results_head + 1) % pool_capacity(s);
        s->nresults--;
        pthread_mutex_unlock(&s->lock);
        reported++;
        if (done != NULL)
            done(arg, &r);
    }
}

/* Reads the wake-ups written so far; a byte counted but not yet written is read next time. */
static void drain_wake_pipe(struct smtp *s)
{
    char bytes[64];
    unsigned long pending;
    ssize_t n;

    pthread_mutex_lock(&s->lock);
    pending = s->wakes - s->wakes_read;
    pthread_mutex_unlock(&s->lock);
    while (pending > 0 && (n = read(s->wake_pipe[0], bytes,
                                    pending < sizeof(bytes) ? pending : sizeof(bytes))) > 0) {
        s->wakes_read += (unsigned long)n;
        pending -= (unsigned long)n;
    }
}

int smtp_fd(const struct smtp *s)
{
    return s->wake_pipe[0];
}

int smtp_poll(struct smtp *s, int timeout_ms, smtp_done_fn done, void *arg, char *err)
{
    struct pollfd p;

    (void)err;
    if (smtp_in_flight(s) == 0)
        return 0;
    cut_stuck(s);
    drain_wake_pipe(s);
    /* Results are read from the slots; the pipe only wakes a wait, so none is needed here. */
    if (reap(s, done, arg) > 0 || timeout_ms <= 0)
        return 0;
    p.fd = s->wake_pipe[0];
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, timeout_ms) == -1 && errno != EINTR)
        return errf(err, "smtp: poll: %s", strerror(errno));
    drain_wake_pipe(s);
    reap(s, done, arg);
    return 0;
}

void smtp_close_idle(struct smtp *s, int force)
{
    int i;

    /* Without force each worker closes its own connection once it has been idle long enough. */
    if (!force)
        return;
    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->nslots; i++) {
        if (s->slots[i].state == SLOT_IDLE) {
            s->slots[i].close_now = 1;
            pthread_cond_signal(&s->slots[i].wake);
        }
    }
    pthread_mutex_unlock(&s->lock);
}
