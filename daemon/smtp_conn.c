/*
 * smtp_conn.c - one SMTP connection: a libcurl easy handle kept open across
 * messages, its sockets tracked so that another thread can cut them, the
 * relay's replies followed from libcurl's debug stream, and each transfer's
 * outcome described.  The settings every connection shares (the relay, TLS,
 * credentials) are loaded here too.
 */
#include "smtp_conn.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_MODULE "smtp"
#include "log.h"
#include "secret.h"

/*
 * Only what the server said and which verb we sent is kept; nothing is
 * printed.  A relay that offers no AUTH to a configured username has its
 * connection cut here, before libcurl sends MAIL without authenticating.
 */
static int on_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *arg)
{
    struct smtp_conn *c = arg;

    if (type == CURLINFO_HEADER_IN) {
        reply_track_input(&c->track, data, size);
        if (c->set->username && !c->no_auth &&
            reply_track_lacks_auth(&c->track, c->set->tls == TLS_STARTTLS)) {
            c->no_auth = 1;
            pthread_mutex_lock(c->lock);
            smtp_conn_cut(c);
            pthread_mutex_unlock(c->lock);
        }
    } else if (type == CURLINFO_HEADER_OUT)
        reply_track_output(&c->track, data, size);
    return 0;
}

/* --- the password ------------------------------------------------------- */

static int load_password(const struct config *cfg, char **out, char *err)
{
    *out = NULL;
    if (cfg->password_file != NULL && *cfg->password_file != '\0')
        return secret_read_file("password_file", cfg->password_file, out, err);
    if (cfg->password != NULL) {
        *out = strdup(cfg->password);
        if (*out == NULL)
            return errf(err, "password: out of memory");
    }
    return 0;
}

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
    const struct smtp_conn *c = arg;
    unsigned int ms = (unsigned int)c->set->connect_timeout_ms;

    /* Without it only a dead peer's detection is slower: not worth failing for. */
    if (purpose == CURLSOCKTYPE_IPCXN && ms > 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
    return CURL_SOCKOPT_OK;
}

/* Sockets are opened and closed under the lock, so smtp_abort never cuts a reused number. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct smtp_conn *c = arg;
    curl_socket_t fd;
    int i;

    (void)purpose;
    pthread_mutex_lock(c->lock);
    fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    for (i = 0; fd != CURL_SOCKET_BAD && i < SMTP_CONN_MAX_SOCKETS; i++) {
        if (c->fds[i] == CURL_SOCKET_BAD) {
            c->fds[i] = fd;
            break;
        }
    }
    pthread_mutex_unlock(c->lock);
    return fd;
}

static int close_socket(void *arg, curl_socket_t fd)
{
    struct smtp_conn *c = arg;
    int i, rc;

    pthread_mutex_lock(c->lock);
    for (i = 0; i < SMTP_CONN_MAX_SOCKETS; i++)
        if (c->fds[i] == fd)
            c->fds[i] = CURL_SOCKET_BAD;
    rc = close(fd);
    pthread_mutex_unlock(c->lock);
    return rc;
}

void smtp_conn_cut(struct smtp_conn *c)
{
    int i;

    for (i = 0; i < SMTP_CONN_MAX_SOCKETS; i++)
        if (c->fds[i] != CURL_SOCKET_BAD)
            (void)shutdown(c->fds[i], SHUT_RDWR);
}

static int configure_tls(const struct smtp_settings *s, CURL *e)
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

static int configure_auth(const struct smtp_settings *s, CURL *e)
{
    if (s->username == NULL)
        return 0;
    if (curl_easy_setopt(e, CURLOPT_USERNAME, s->username) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PASSWORD, s->password ? s->password : "") != CURLE_OK)
        return -1;
    return 0;
}

static int configure_easy(struct smtp_conn *c, CURL *e)
{
    const struct smtp_settings *s = c->set;

    if (curl_easy_setopt(e, CURLOPT_URL, s->url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)s->connect_timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT,
                         seconds_at_least_one(s->timeout_ms + 999)) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, tune_socket) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, c) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, c) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, seconds_at_least_one(s->idle_timeout_ms)) !=
            CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_DEBUGDATA, c) != CURLE_OK)
        return -1;
    return configure_tls(s, e) == -1 || configure_auth(s, e) == -1 ? -1 : 0;
}

static CURL *new_easy(struct smtp_conn *c)
{
    CURL *e = curl_easy_init();

    if (e != NULL && configure_easy(c, e) == -1) {
        curl_easy_cleanup(e);
        e = NULL;
    }
    return e;
}

/* An easy handle keeps its connection until it is cleaned up, which says QUIT. */
void smtp_conn_close(struct smtp_conn *c)
{
    CURL *fresh;

    if (!c->connected)
        return;
    fresh = new_easy(c);
    if (fresh == NULL) {
        log_warnx("cannot create a libcurl handle; the idle connection stays open");
        return;
    }
    curl_easy_cleanup(c->easy);
    c->easy = fresh;
    c->connected = 0;
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
static void fill_result(struct smtp_conn *c, const struct message *m, void *cookie, CURLcode rc,
                        int64_t started_ms, int aborted, struct smtp_result *r)
{
    long code = 0;

    memset(r, 0, sizeof(*r));
    r->signup_id = m->signup_id;
    r->cookie = cookie;
    /* Our own record stops at QUIT; libcurl's may already hold the goodbye. */
    code = c->track.code;
    if (code == 0 && curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
        code = 0;
    r->code = code;
    /* A failing transfer's last reply is kept only when it is the refusal itself. */
    if (rc == CURLE_OK || code >= 400)
        snprintf(r->reply, sizeof(r->reply), "%s", c->track.last);
    describe(r, rc, c->errbuf);
    r->finished_us = monotonic_us();
    r->elapsed_ms = r->finished_us / 1000 - started_ms;
    r->status = smtp_classify(rc, code, c->track.last, c->track.command);
    r->uncertain =
        rc != CURLE_OK && code == SMTP_CODE_GO_AHEAD && strcasecmp(c->track.command, "DATA") == 0;
    explain(r, rc, &c->track, aborted);
    if (c->no_auth) {
        r->status = SMTP_CONFIG;
        r->uncertain = 0;
        snprintf(r->detail, sizeof(r->detail),
                 "the relay offers no AUTH, but smtp.username is set: nothing is sent "
                 "unauthenticated");
        snprintf(r->reason, sizeof(r->reason), "%s", r->detail);
    }
}

void smtp_conn_send(struct smtp_conn *c, const struct message *m, void *cookie, int64_t started_ms,
                    struct smtp_result *r)
{
    char err[ERRLEN];
    CURLcode rc;
    int aborted;

    reply_track_reset(&c->track);
    c->no_auth = 0;
    c->errbuf[0] = '\0';
    if (c->easy == NULL && (c->easy = new_easy(c)) == NULL) {
        memset(r, 0, sizeof(*r));
        r->signup_id = m->signup_id;
        r->cookie = cookie;
        r->status = SMTP_DEFER;
        snprintf(r->detail, sizeof(r->detail), "cannot create a libcurl handle");
        snprintf(r->reason, sizeof(r->reason), "%s", r->detail);
        return;
    }
    if (smtp_mime_attach(m, c->easy, &c->attached, err) == -1) {
        memset(r, 0, sizeof(*r));
        r->signup_id = m->signup_id;
        r->cookie = cookie;
        r->status = SMTP_DEFER;
        snprintf(r->detail, sizeof(r->detail), "%s", err);
        snprintf(r->reason, sizeof(r->reason), "%s", err);
        return;
    }
    c->connected = 1;
    rc = curl_easy_perform(c->easy);
    pthread_mutex_lock(c->lock);
    aborted = c->aborted;
    c->aborted = 0;
    pthread_mutex_unlock(c->lock);
    fill_result(c, m, cookie, rc, started_ms, aborted, r);
    smtp_mime_detach(c->easy, &c->attached);
    c->last_use_ms = monotonic_ms();
}

/* --- the shared settings ---------------------------------------------------- */

int smtp_settings_load(struct smtp_settings *set, const struct config *cfg, char *err)
{
    memset(set, 0, sizeof(*set));
    if (cfg->smtp_url == NULL || *cfg->smtp_url == '\0')
        return errf(err, "smtp url: not set");
    set->url = strdup(cfg->smtp_url);
    set->ca_file = xstrdup_or_null(cfg->ca_file);
    set->username = xstrdup_or_null(cfg->username);
    if (set->url == NULL || (cfg->ca_file && !set->ca_file) || (cfg->username && !set->username))
        return errf(err, "smtp: out of memory");
    set->tls = cfg->tls;
    set->connect_timeout_ms = cfg->connect_timeout_ms;
    set->timeout_ms = cfg->timeout_ms;
    set->idle_timeout_ms = cfg->idle_timeout_ms;
    return load_password(cfg, &set->password, err);
}

void smtp_settings_free(struct smtp_settings *set)
{
    free(set->url);
    free(set->ca_file);
    free(set->username);
    secret_free(set->password);
    memset(set, 0, sizeof(*set));
}

/* --- the connection ---------------------------------------------------------- */

int smtp_conn_init(struct smtp_conn *c, const struct smtp_settings *set, pthread_mutex_t *lock,
                   char *err)
{
    int i;

    memset(c, 0, sizeof(*c));
    c->set = set;
    c->lock = lock;
    for (i = 0; i < SMTP_CONN_MAX_SOCKETS; i++)
        c->fds[i] = CURL_SOCKET_BAD;
    c->easy = new_easy(c);
    if (c->easy == NULL)
        return errf(err, "smtp: libcurl refused the transport options for %s", set->url);
    return 0;
}

void smtp_conn_free(struct smtp_conn *c)
{
    /* QUIT, politely, when a connection is open. */
    if (c->easy != NULL)
        curl_easy_cleanup(c->easy);
    c->easy = NULL;
    c->connected = 0;
}

int smtp_conn_idle_expired(const struct smtp_conn *c, int64_t now_ms)
{
    return c->connected && now_ms - c->last_use_ms >= c->set->idle_timeout_ms;
}
