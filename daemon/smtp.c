/*
 * smtp.c - delivers messages over SMTP with libcurl: one worker thread and
 * easy handle per connection, the server's replies captured from libcurl's
 * debug stream, and each outcome classified.
 */
#include "smtp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_MODULE "smtp"
#include "log.h"

/* A path under $CREDENTIALS_DIRECTORY. */
#define SMTP_PATH_MAX 4096

/* A password is a line, not a document: anything longer is the wrong file. */
#define SMTP_PASSWORD_MAX 4096
/* Happy eyeballs may open an IPv6 and an IPv4 socket for one connection. */
#define SLOT_MAX_SOCKETS 4
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

    enum slot_state state;               /* (L) */
    struct request req;                  /* (L) while WORKING */
    int64_t started_ms;                  /* (L) monotonic, when the transfer began */
    int signaled;                        /* (L) woken for a waiting request, not yet up */
    int close_now;                       /* (L) close the connection while idle */
    int aborted;                         /* (L) the main thread cut the socket */
    curl_socket_t fds[SLOT_MAX_SOCKETS]; /* (L) open sockets; cut by smtp_abort */

    CURL *easy;
    int connected;       /* a connection may be open */
    int64_t last_use_ms; /* monotonic, when the last transfer ended */
    struct smtp_mime attached;
    char errbuf[CURL_ERROR_SIZE];
    struct reply_track track;
    int no_auth; /* cut: a username is configured and the relay offered no AUTH */
};

struct smtp {
    char *url;
    enum tls_mode tls;
    char *ca_file;
    char *username;
    char *password;
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    int64_t idle_timeout_ms;

    smtp_build_fn build;
    void *build_arg;

    pthread_mutex_t lock;
    int quit;         /* (L) the workers end */
    int wake_pipe[2]; /* a byte per finished transfer: wakes the main thread */
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

static void cut_sockets(struct slot *sl);

/*
 * Only what the server said and which verb we sent is kept; nothing is
 * printed.  A relay that offers no AUTH to a configured username has its
 * connection cut here, before libcurl sends MAIL without authenticating.
 */
static int on_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *arg)
{
    struct slot *sl = arg;

    if (type == CURLINFO_HEADER_IN) {
        reply_track_input(&sl->track, data, size);
        if (sl->s->username && !sl->no_auth &&
            reply_track_lacks_auth(&sl->track, sl->s->tls == TLS_STARTTLS)) {
            sl->no_auth = 1;
            pthread_mutex_lock(&sl->s->lock);
            cut_sockets(sl);
            pthread_mutex_unlock(&sl->s->lock);
        }
    } else if (type == CURLINFO_HEADER_OUT)
        reply_track_output(&sl->track, data, size);
    return 0;
}

/* --- the password ------------------------------------------------------- */

/*
 * Under systemd's LoadCredential= the file is in $CREDENTIALS_DIRECTORY: a
 * bare name is always looked up there, a path only when that copy exists.
 */
static void credential_path(const char *file, char *path, size_t len)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    const char *base = strrchr(file, '/');
    int n;

    base = base ? base + 1 : file;
    if (dir != NULL && *dir != '\0' && *base != '\0') {
        n = snprintf(path, len, "%s/%s", dir, base);
        if (n > 0 && (size_t)n < len && (strchr(file, '/') == NULL || access(path, F_OK) == 0))
            return;
    }
    snprintf(path, len, "%s", file);
}

static void wipe_free(char *s, size_t len)
{
    if (s != NULL)
        explicit_bzero(s, len);
    free(s);
}

static int read_password_file(const char *file, char **out, char *err)
{
    char path[SMTP_PATH_MAX], e[ERRLEN];
    char *data;
    size_t len;

    credential_path(file, path, sizeof(path));
    if (read_file(path, SMTP_PASSWORD_MAX, &data, &len, e) == -1)
        return errf(err, "password_file: %s", e);
    if (len > 0 && data[len - 1] == '\n')
        data[--len] = '\0';
    if (len > 0 && data[len - 1] == '\r')
        data[--len] = '\0';
    if (len == 0 || memchr(data, '\0', len) != NULL || strpbrk(data, "\r\n") != NULL) {
        wipe_free(data, len);
        return errf(err, "password_file: %s: %s", path,
                    len == 0 ? "is empty" : "holds more than one line");
    }
    *out = data;
    return 0;
}

static int load_password(const struct config *c, char **out, char *err)
{
    *out = NULL;
    if (c->password_file != NULL && *c->password_file != '\0')
        return read_password_file(c->password_file, out, err);
    if (c->password != NULL) {
        *out = strdup(c->password);
        if (*out == NULL)
            return errf(err, "password: out of memory");
    }
    return 0;
}

/* --- the workers -------------------------------------------------------- */

/*
 * libcurl's SMTP code blocks inside a transfer: it waits for the reply to
 * the final "." and to QUIT whatever interface drives it.  So each
 * connection is a thread of its own, and a slow, stalled or dropped
 * connection holds up only its own message; the main thread hands out
 * messages, collects outcomes, and can cut a stuck connection's socket.
 */

static long seconds_at_least_one(int64_t ms)
{
    return ms >= 2000 ? (long)(ms / 1000) : 1L;
}

/*
 * A peer that does not even acknowledge our data within the time a
 * connection may take is gone: the kernel then fails the socket.
 */
static int tune_socket(void *arg, curl_socket_t fd, curlsocktype purpose)
{
    const struct slot *sl = arg;
    unsigned int ms = (unsigned int)sl->s->connect_timeout_ms;

    /* Without it only a dead peer's detection is slower: not worth failing for. */
    if (purpose == CURLSOCKTYPE_IPCXN && ms > 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
    return CURL_SOCKOPT_OK;
}

/* Sockets are opened and closed under the lock, so smtp_abort never cuts a reused number. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct slot *sl = arg;
    curl_socket_t fd;
    int i;

    (void)purpose;
    pthread_mutex_lock(&sl->s->lock);
    fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    for (i = 0; fd != CURL_SOCKET_BAD && i < SLOT_MAX_SOCKETS; i++) {
        if (sl->fds[i] == CURL_SOCKET_BAD) {
            sl->fds[i] = fd;
            break;
        }
    }
    pthread_mutex_unlock(&sl->s->lock);
    return fd;
}

static int close_socket(void *arg, curl_socket_t fd)
{
    struct slot *sl = arg;
    int i, rc;

    pthread_mutex_lock(&sl->s->lock);
    for (i = 0; i < SLOT_MAX_SOCKETS; i++)
        if (sl->fds[i] == fd)
            sl->fds[i] = CURL_SOCKET_BAD;
    rc = close(fd);
    pthread_mutex_unlock(&sl->s->lock);
    return rc;
}

/* Under the lock: the worker's next read or write fails at once. */
static void cut_sockets(struct slot *sl)
{
    int i;

    for (i = 0; i < SLOT_MAX_SOCKETS; i++)
        if (sl->fds[i] != CURL_SOCKET_BAD)
            (void)shutdown(sl->fds[i], SHUT_RDWR);
}

static int configure_tls(const struct smtp *s, CURL *e)
{
    long use_ssl = s->tls == TLS_NONE ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL;

    /* TLS 1.0 and 1.1 are deprecated (RFC 8996). */
    if (curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK)
        return -1;
    if (s->ca_file != NULL && curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file) != CURLE_OK)
        return -1;
    return 0;
}

static int configure_auth(const struct smtp *s, CURL *e)
{
    if (s->username == NULL)
        return 0;
    if (curl_easy_setopt(e, CURLOPT_USERNAME, s->username) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PASSWORD, s->password ? s->password : "") != CURLE_OK)
        return -1;
    return 0;
}

static int configure_easy(struct slot *sl, CURL *e)
{
    const struct smtp *s = sl->s;

    if (curl_easy_setopt(e, CURLOPT_URL, s->url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)s->connect_timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT,
                         seconds_at_least_one(s->timeout_ms + 999)) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, tune_socket) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, sl) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, sl) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, sl) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, seconds_at_least_one(s->idle_timeout_ms)) !=
            CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, sl->errbuf) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_DEBUGDATA, sl) != CURLE_OK)
        return -1;
    return configure_tls(s, e) == -1 || configure_auth(s, e) == -1 ? -1 : 0;
}

static CURL *new_easy(struct slot *sl)
{
    CURL *e = curl_easy_init();

    if (e != NULL && configure_easy(sl, e) == -1) {
        curl_easy_cleanup(e);
        e = NULL;
    }
    return e;
}

/*
 * An easy handle keeps its connection until it is cleaned up, which says
 * QUIT: a fresh handle replaces it.  Worker only.
 */
static void close_connection(struct slot *sl)
{
    CURL *fresh;

    if (!sl->connected)
        return;
    fresh = new_easy(sl);
    if (fresh == NULL) {
        log_warnx("cannot create a libcurl handle; the idle connection stays open");
        return;
    }
    curl_easy_cleanup(sl->easy);
    sl->easy = fresh;
    sl->connected = 0;
    log_debug("closed an idle SMTP connection");
}

static void describe(struct smtp_result *r, CURLcode rc, const char *errbuf)
{
    if (rc == CURLE_OK)
        r->detail[0] = '\0';
    else if (errbuf[0] != '\0')
        snprintf(r->detail, sizeof(r->detail), "%s: %s", curl_easy_strerror(rc), errbuf);
    else
        snprintf(r->detail, sizeof(r->detail), "%s", curl_easy_strerror(rc));
}

/*
 * What the queue should say about a failure: the server's refusal when it
 * refused, else what went wrong on our side and when ("timeout after
 * DATA"), never a 3xx that only said "go ahead".
 */
/* What kind of trouble a failed transfer without a refusal was, in the words the queue keeps. */
static const char *trouble(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return "connection dropped";
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return "cannot connect";
    default:
        return "transfer failed";
    }
}

static void explain(struct smtp_result *r, CURLcode rc, const struct reply_track *t, int aborted)
{
    char when[SMTP_VERB_MAX + 32];

    if (t->command[0])
        snprintf(when, sizeof(when), "after %s", t->command);
    else
        snprintf(when, sizeof(when), "%s the greeting", t->code ? "after" : "before");
    if (r->status == SMTP_SENT)
        r->reason[0] = '\0';
    else if (r->code >= 400)
        snprintf(r->reason, sizeof(r->reason), "%s", r->reply);
    else if (aborted)
        snprintf(r->reason, sizeof(r->reason), "connection cut: no end %s within smtp.timeout",
                 when);
    else
        snprintf(r->reason, sizeof(r->reason), "%s %s: %.*s", trouble(rc), when, ERRLEN - 128,
                 r->detail);
}

/* Worker only: the outcome of the transfer that just ended. */
static void fill_result(struct slot *sl, const struct message *m, void *cookie, CURLcode rc,
                        int64_t started_ms, int aborted, struct smtp_result *r)
{
    long code = 0;

    memset(r, 0, sizeof(*r));
    r->signup_id = m->signup_id;
    r->cookie = cookie;
    /* Our own record stops at QUIT; libcurl's may already hold the goodbye. */
    code = sl->track.code;
    if (code == 0 && curl_easy_getinfo(sl->easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
        code = 0;
    r->code = code;
    /* A failing transfer's last reply is kept only when it is the refusal itself. */
    if (rc == CURLE_OK || code >= 400)
        snprintf(r->reply, sizeof(r->reply), "%s", sl->track.last);
    describe(r, rc, sl->errbuf);
    r->finished_us = monotonic_us();
    r->elapsed_ms = r->finished_us / 1000 - started_ms;
    r->status = smtp_classify(rc, code, sl->track.last, sl->track.command);
    r->uncertain =
        rc != CURLE_OK && code == SMTP_CODE_GO_AHEAD && strcasecmp(sl->track.command, "DATA") == 0;
    explain(r, rc, &sl->track, aborted);
    if (sl->no_auth) {
        r->status = SMTP_CONFIG;
        r->uncertain = 0;
        snprintf(r->detail, sizeof(r->detail),
                 "the relay offers no AUTH, but smtp.username is set: nothing is sent "
                 "unauthenticated");
        snprintf(r->reason, sizeof(r->reason), "%s", r->detail);
    }
}

/* Worker only: sends m on this slot's connection, opening one if needed. */
static void transfer(struct slot *sl, const struct message *m, void *cookie, int64_t started_ms,
                     struct smtp_result *r)
{
    char err[ERRLEN];
    CURLcode rc;
    int aborted;

    reply_track_reset(&sl->track);
    sl->no_auth = 0;
    sl->errbuf[0] = '\0';
    if (sl->easy == NULL && (sl->easy = new_easy(sl)) == NULL) {
        memset(r, 0, sizeof(*r));
        r->signup_id = m->signup_id;
        r->cookie = cookie;
        r->status = SMTP_DEFER;
        snprintf(r->detail, sizeof(r->detail), "cannot create a libcurl handle");
        snprintf(r->reason, sizeof(r->reason), "%s", r->detail);
        return;
    }
    if (smtp_mime_attach(m, sl->easy, &sl->attached, err) == -1) {
        memset(r, 0, sizeof(*r));
        r->signup_id = m->signup_id;
        r->cookie = cookie;
        r->status = SMTP_DEFER;
        snprintf(r->detail, sizeof(r->detail), "%s", err);
        snprintf(r->reason, sizeof(r->reason), "%s", err);
        return;
    }
    sl->connected = 1;
    rc = curl_easy_perform(sl->easy);
    pthread_mutex_lock(&sl->s->lock);
    aborted = sl->aborted;
    sl->aborted = 0;
    pthread_mutex_unlock(&sl->s->lock);
    fill_result(sl, m, cookie, rc, started_ms, aborted, r);
    smtp_mime_detach(sl->easy, &sl->attached);
    sl->last_use_ms = monotonic_ms();
}

/* Under the lock: how long an idle worker may sleep before closing its connection. */
static int idle_expired(const struct slot *sl)
{
    return sl->connected && monotonic_ms() - sl->last_use_ms >= sl->s->idle_timeout_ms;
}

static void wait_for_work(struct slot *sl)
{
    struct timespec until;
    int64_t at;

    if (!sl->connected) {
        pthread_cond_wait(&sl->wake, &sl->s->lock);
        return;
    }
    at = sl->last_use_ms + sl->s->idle_timeout_ms;
    until.tv_sec = (time_t)(at / 1000);
    until.tv_nsec = (long)(at % 1000) * 1000000L;
    (void)pthread_cond_timedwait(&sl->wake, &sl->s->lock, &until);
}

/* Under the lock: hands the worker's result to the main thread. */
static void finish_transfer(struct slot *sl, const struct smtp_result *r)
{
    struct smtp *s = sl->s;
    const char byte = 1;

    s->results[(s->results_head + s->nresults) % pool_capacity(s)] = *r;
    s->nresults++;
    if (r->status == SMTP_THROTTLE || r->status == SMTP_UNREACHABLE || r->status == SMTP_CONFIG)
        s->halted = 1;
    sl->state = SLOT_IDLE;
    sl->req = (struct request){0};
    s->working--;
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
    transfer(sl, req->m, req->cookie, started_ms, r);
}

static void *worker_main(void *arg)
{
    struct slot *sl = arg;
    struct smtp *s = sl->s;

    pthread_mutex_lock(&s->lock);
    while (!s->quit) {
        if (sl->state == SLOT_WORKING || take_request(sl)) {
            struct request req = sl->req;
            int64_t started = sl->started_ms;
            struct smtp_result r;

            pthread_mutex_unlock(&s->lock);
            serve(sl, &req, started, &r);
            pthread_mutex_lock(&s->lock);
            finish_transfer(sl, &r);
        } else if (sl->close_now || idle_expired(sl)) {
            sl->close_now = 0;
            pthread_mutex_unlock(&s->lock);
            close_connection(sl);
            pthread_mutex_lock(&s->lock);
        } else {
            wait_for_work(sl);
        }
    }
    pthread_mutex_unlock(&s->lock);
    /* QUIT, politely; smtp_free cuts the socket if the server does not answer. */
    if (sl->easy != NULL)
        curl_easy_cleanup(sl->easy);
    sl->easy = NULL;
    return NULL;
}

/* --- the pool, seen from the main thread ----------------------------------- */

static int copy_settings(struct smtp *s, const struct config *c, char *err)
{
    s->nslots = c->connections > 0 ? c->connections : 1;
    if (c->smtp_url == NULL || *c->smtp_url == '\0')
        return errf(err, "smtp url: not set");
    s->url = strdup(c->smtp_url);
    s->ca_file = xstrdup_or_null(c->ca_file);
    s->username = xstrdup_or_null(c->username);
    if (s->url == NULL || (c->ca_file && !s->ca_file) || (c->username && !s->username))
        return errf(err, "smtp: out of memory");
    s->tls = c->tls;
    s->connect_timeout_ms = c->connect_timeout_ms;
    s->timeout_ms = c->timeout_ms;
    s->idle_timeout_ms = c->idle_timeout_ms;
    return 0;
}

static int init_slot(struct smtp *s, struct slot *sl, char *err)
{
    pthread_condattr_t attr;
    int i, rc;

    sl->s = s;
    for (i = 0; i < SLOT_MAX_SOCKETS; i++)
        sl->fds[i] = CURL_SOCKET_BAD;
    sl->easy = new_easy(sl);
    if (sl->easy == NULL)
        return errf(err, "smtp: libcurl refused the transport options for %s", s->url);
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
    if (copy_settings(s, c, err) == -1 || load_password(c, &s->password, err) == -1 ||
        open_wake_pipe(s, err) == -1)
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
                cut_sockets(sl);
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
        if (s->slots[i].easy != NULL)
            curl_easy_cleanup(s->slots[i].easy);
    free(s->slots);
    free(s->waiting);
    free(s->results);
    if (s->wake_pipe[0] != -1)
        close(s->wake_pipe[0]);
    if (s->wake_pipe[1] != -1)
        close(s->wake_pipe[1]);
    pthread_mutex_destroy(&s->lock);
    free(s->url);
    free(s->ca_file);
    free(s->username);
    if (s->password != NULL)
        wipe_free(s->password, strlen(s->password));
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
    int n;

    pthread_mutex_lock(&s->lock);
    n = s->nslots - s->working - s->nwaiting;
    pthread_mutex_unlock(&s->lock);
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
        if (pick == NULL || (sl->connected && !pick->connected))
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
    int64_t limit = s->timeout_ms + SMTP_STUCK_GRACE_MS;
    int64_t now = monotonic_ms();
    int i;

    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->nslots; i++) {
        struct slot *sl = &s->slots[i];

        if (sl->state == SLOT_WORKING && !sl->aborted && now - sl->started_ms > limit) {
            log_warnx("signup %lld: no end to the transfer after %llds; cutting its connection",
                      (long long)sl->req.m->signup_id, (long long)((now - sl->started_ms) / 1000));
            sl->aborted = 1;
            cut_sockets(sl);
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
            s->slots[i].aborted = 1;
            cut_sockets(&s->slots[i]);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/* Reports every finished transfer, oldest first, each taken out of the pool before done() runs. */
static int reap(struct smtp *s, smtp_done_fn done, void *arg)
{
    int reported = 0;

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

static void drain_wake_pipe(struct smtp *s)
{
    char bytes[64];

    while (read(s->wake_pipe[0], bytes, sizeof(bytes)) > 0)
        ;
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
