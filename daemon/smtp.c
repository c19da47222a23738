/*
 * smtp.c - delivers messages over SMTP with libcurl: a pool of easy handles
 * on one multi handle, the server's replies captured from libcurl's debug
 * stream, each outcome classified, and an in-process SMTP peer that
 * captures the exact bytes of a message for previews.
 */
#include "smtp.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_MODULE "smtp"
#include "log.h"

/* A password is a line, not a document: anything longer is the wrong file. */
#define SMTP_PASSWORD_MAX 4096
/* Long enough for "STARTTLS", the longest SMTP verb we track. */
#define SMTP_VERB_MAX 16
/* RFC 4954 4: the server's "334" asks for the next line of a SASL exchange. */
#define SMTP_SASL_CONTINUE 334
/* A path under $CREDENTIALS_DIRECTORY. */
#define SMTP_PATH_MAX 4096


/* What the debug stream told us about the current transaction. */
struct reply_track {
    char partial[SMTP_REPLY_MAX]; /* the reply line being received */
    size_t plen;
    char last[SMTP_REPLY_MAX];   /* the last complete reply line */
    long code;                   /* its code */
    char command[SMTP_VERB_MAX]; /* the last command sent, "" before any */
    int quitting;                /* QUIT sent: what follows is not the transaction's */
};

struct slot {
    CURL *easy;
    int busy;
    const struct message *m;
    void *cookie;
    curl_mime *mime;
    struct curl_slist *rcpt;
    int64_t started_ms;
    char errbuf[CURL_ERROR_SIZE];
    struct reply_track track;
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

    CURLM *multi;
    struct slot *slots;
    int nslots;
    int connected;       /* transfers ran since the connections were last closed */
    int64_t last_use_ms; /* when the last transfer finished (monotonic) */
};

/* --- classification ----------------------------------------------------- */

/* libcurl results that mean our TLS or authentication setup is wrong. */
static const CURLcode config_errors[] = {
    CURLE_LOGIN_DENIED,
    CURLE_AUTH_ERROR,
    CURLE_USE_SSL_FAILED, /* STARTTLS not offered: never fall back to cleartext */
    CURLE_PEER_FAILED_VERIFICATION,
    CURLE_SSL_CONNECT_ERROR,
    CURLE_SSL_ENGINE_NOTFOUND,
    CURLE_SSL_ENGINE_SETFAILED,
    CURLE_SSL_CERTPROBLEM,
    CURLE_SSL_CIPHER,
    CURLE_SSL_ENGINE_INITFAILED,
    CURLE_SSL_CACERT_BADFILE,
    CURLE_SSL_CRL_BADFILE,
    CURLE_SSL_ISSUER_ERROR,
    CURLE_SSL_PINNEDPUBKEYNOTMATCH,
    CURLE_SSL_INVALIDCERTSTATUS,
    CURLE_SSL_CLIENTCERT,
    CURLE_UNSUPPORTED_PROTOCOL,
    CURLE_NOT_BUILT_IN,
    CURLE_URL_MALFORMAT,
};

/* Reply codes about authentication wherever they come (RFC 4954 6). */
static const long auth_codes[] = {530, 534, 535, 538};

/* Transient codes a relay uses when it wants the sender to back off. */
static const long throttle_codes[] = {421, 450, 451, 454};

/* Commands before the recipient is named: a refusal there refuses every message. */
static const char *const session_commands[] = {"", "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL"};

/* RFC 5321 3.8: the server is closing the transmission channel. */
#define SMTP_CODE_CLOSING 421

/* RFC 5321 4.5.3.1.10: 552 to MAIL is the message's own size, not the sender. */
#define SMTP_CODE_TOO_BIG 552

static int in_codes(long code, const long *codes, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (codes[i] == code)
            return 1;
    return 0;
}

static int is_config_error(CURLcode rc)
{
    size_t i;

    for (i = 0; i < NELEM(config_errors); i++)
        if (config_errors[i] == rc)
            return 1;
    return 0;
}

static int is_session_command(const char *command)
{
    size_t i;

    for (i = 0; i < NELEM(session_commands); i++)
        if (strcasecmp(command, session_commands[i]) == 0)
            return 1;
    return 0;
}

/* "rate" only as the start of a word: "generate" says nothing about rates. */
static int mentions_rate(const char *text)
{
    const char *p;

    for (p = strcasestr(text, "rate"); p != NULL; p = strcasestr(p + 1, "rate"))
        if (p == text || !isalpha((unsigned char)p[-1]))
            return 1;
    return 0;
}

/*
 * Rate-limit wording only: "try again later" alone is what any temporary
 * failure says, and treating it as throttling would never count an attempt.
 */
static int asks_to_slow_down(const char *reply)
{
    static const char *const phrases[] = {"throttl", "too many", "slow down"};
    size_t i;

    for (i = 0; i < NELEM(phrases); i++)
        if (strcasestr(reply, phrases[i]) != NULL)
            return 1;
    return mentions_rate(reply);
}

enum smtp_status smtp_classify(CURLcode rc, long code, const char *reply, const char *command)
{
    if (reply == NULL)
        reply = "";
    if (command == NULL)
        command = "";
    if (rc == CURLE_OK)
        return SMTP_SENT;
    if (is_config_error(rc) || in_codes(code, auth_codes, NELEM(auth_codes)))
        return SMTP_CONFIG;
    if (code >= 500 && code < 600) {
        if (strcasecmp(command, "MAIL") == 0 && code == SMTP_CODE_TOO_BIG)
            return SMTP_FAIL;
        return is_session_command(command) ? SMTP_CONFIG : SMTP_FAIL;
    }
    if (code >= 400 && code < 500) {
        /*
         * Throttling pauses the whole sender, so only a refusal of the session
         * counts (421 closes it; anything before the recipient is named).  A
         * rate refusal at RCPT or DATA is about that recipient's mailbox
         * ("receiving mail at a rate ..."): that signup alone is deferred.
         */
        if (in_codes(code, throttle_codes, NELEM(throttle_codes)) && asks_to_slow_down(reply) &&
            (code == SMTP_CODE_CLOSING || is_session_command(command)))
            return SMTP_THROTTLE;
        return SMTP_DEFER;
    }
    /* No failing reply: the connection, a timeout or the transfer itself failed. */
    return SMTP_DEFER;
}

/* --- the server's replies, from libcurl's debug stream -------------------- */

static void track_reset(struct reply_track *t)
{
    memset(t, 0, sizeof(*t));
}

/* A greeting ends a QUIT's silence: a closed connection was replaced. */
#define SMTP_CODE_GREETING 220

static void track_line_done(struct reply_track *t)
{
    long code;

    t->partial[t->plen] = '\0';
    if (t->plen >= 3 && isdigit((unsigned char)t->partial[0]) &&
        isdigit((unsigned char)t->partial[1]) && isdigit((unsigned char)t->partial[2])) {
        code = (t->partial[0] - '0') * 100 + (t->partial[1] - '0') * 10 + (t->partial[2] - '0');
        if (t->quitting && code == SMTP_CODE_GREETING)
            t->quitting = 0;
        if (!t->quitting) {
            memcpy(t->last, t->partial, t->plen + 1);
            t->code = code;
        }
    }
    t->plen = 0;
}

static void track_reply(struct reply_track *t, const char *data, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)data[i];

        if (c == '\n')
            track_line_done(t);
        else if (c != '\r' && t->plen < sizeof(t->partial) - 1)
            t->partial[t->plen++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
}

/*
 * Remembers which command a reply answers.  Only known verbs are kept, and
 * nothing is read while a SASL exchange is under way: those lines are
 * credentials.  libcurl closes a connection after a failed command with
 * QUIT; the failure, not the goodbye, is what the result reports.
 */
static void track_command(struct reply_track *t, const char *data, size_t n)
{
    static const char *const verbs[] = {"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL",
                                        "RCPT", "DATA", "RSET",     "NOOP", "VRFY"};
    char verb[SMTP_VERB_MAX];
    size_t i;

    if (t->code == SMTP_SASL_CONTINUE)
        return;
    for (i = 0; i < n && i < sizeof(verb) - 1 && isalpha((unsigned char)data[i]); i++)
        verb[i] = (char)toupper((unsigned char)data[i]);
    verb[i] = '\0';
    if (i < n && data[i] != ' ' && data[i] != '\r')
        return;
    if (strcmp(verb, "QUIT") == 0) {
        t->quitting = 1;
        return;
    }
    for (i = 0; i < NELEM(verbs); i++) {
        if (strcmp(verb, verbs[i]) == 0) {
            memcpy(t->command, verb, strlen(verb) + 1);
            t->quitting = 0;
            return;
        }
    }
}

/* Only what the server said and which verb we sent is kept; nothing is printed. */
static int on_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *arg)
{
    struct slot *sl = arg;

    if (type == CURLINFO_HEADER_IN)
        track_reply(&sl->track, data, size);
    else if (type == CURLINFO_HEADER_OUT)
        track_command(&sl->track, data, size);
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

/* --- the pool ----------------------------------------------------------- */

static long seconds_at_least_one(int64_t ms)
{
    return ms >= 2000 ? (long)(ms / 1000) : 1L;
}

/*
 * libcurl waits for the reply to QUIT without its transfer timeout (and up
 * to 120 s when it closes connections itself).  A peer that does not even
 * acknowledge our data within the time a connection may take is gone: the
 * kernel then fails the socket and the wait ends.
 */
static int tune_socket(void *arg, curl_socket_t fd, curlsocktype purpose)
{
    const struct smtp *s = arg;
    unsigned int ms = (unsigned int)s->connect_timeout_ms;

    /* Without it only a dead peer's detection is slower: not worth failing for. */
    if (purpose == CURLSOCKTYPE_IPCXN && ms > 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
    return CURL_SOCKOPT_OK;
}

static CURLM *new_multi(int nslots)
{
    CURLM *multi = curl_multi_init();

    if (multi == NULL)
        return NULL;
    if (curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)nslots) != CURLM_OK ||
        curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)nslots) != CURLM_OK) {
        curl_multi_cleanup(multi);
        return NULL;
    }
    return multi;
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

static int configure_slot(const struct smtp *s, struct slot *sl)
{
    CURL *e = sl->easy;

    if (curl_easy_setopt(e, CURLOPT_URL, s->url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)s->connect_timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT,
                         seconds_at_least_one(s->timeout_ms + 999)) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, tune_socket) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, s) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, seconds_at_least_one(s->idle_timeout_ms)) !=
            CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, sl->errbuf) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_DEBUGDATA, sl) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, sl) != CURLE_OK)
        return -1;
    return configure_tls(s, e) == -1 || configure_auth(s, e) == -1 ? -1 : 0;
}

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

int smtp_open(struct smtp **sp, const struct config *c, char *err)
{
    struct smtp *s = calloc(1, sizeof(*s));
    int i;

    *sp = NULL;
    if (s == NULL)
        return errf(err, "smtp: out of memory");
    if (copy_settings(s, c, err) == -1 || load_password(c, &s->password, err) == -1)
        goto fail;
    s->multi = new_multi(s->nslots);
    s->slots = calloc((size_t)s->nslots, sizeof(*s->slots));
    if (s->multi == NULL || s->slots == NULL) {
        errf(err, "smtp: cannot create the libcurl handles");
        goto fail;
    }
    for (i = 0; i < s->nslots; i++) {
        s->slots[i].easy = curl_easy_init();
        if (s->slots[i].easy == NULL || configure_slot(s, &s->slots[i]) == -1) {
            errf(err, "smtp: libcurl refused the transport options for %s", s->url);
            goto fail;
        }
    }
    *sp = s;
    return 0;
fail:
    smtp_free(s);
    return -1;
}

static void release_slot(struct smtp *s, struct slot *sl)
{
    curl_multi_remove_handle(s->multi, sl->easy);
    message_detach(sl->easy, sl->mime, sl->rcpt);
    sl->mime = NULL;
    sl->rcpt = NULL;
    sl->m = NULL;
    sl->cookie = NULL;
    sl->busy = 0;
}

void smtp_free(struct smtp *s)
{
    int i;

    if (s == NULL)
        return;
    for (i = 0; s->slots != NULL && i < s->nslots; i++)
        if (s->slots[i].busy)
            release_slot(s, &s->slots[i]);
    if (s->multi != NULL)
        curl_multi_cleanup(s->multi);
    for (i = 0; s->slots != NULL && i < s->nslots; i++)
        if (s->slots[i].easy != NULL)
            curl_easy_cleanup(s->slots[i].easy);
    free(s->slots);
    free(s->url);
    free(s->ca_file);
    free(s->username);
    if (s->password != NULL)
        wipe_free(s->password, strlen(s->password));
    free(s);
}

int smtp_in_flight(const struct smtp *s)
{
    int i, n = 0;

    for (i = 0; i < s->nslots; i++)
        n += s->slots[i].busy;
    return n;
}

int smtp_free_slots(const struct smtp *s)
{
    return s->nslots - smtp_in_flight(s);
}

static struct slot *free_slot(struct smtp *s)
{
    int i;

    for (i = 0; i < s->nslots; i++)
        if (!s->slots[i].busy)
            return &s->slots[i];
    return NULL;
}

int smtp_submit(struct smtp *s, const struct message *m, void *cookie, char *err)
{
    struct slot *sl = free_slot(s);
    CURLMcode mc;

    if (sl == NULL)
        return errf(err, "smtp: all %d connections are busy", s->nslots);
    if (message_attach(m, sl->easy, &sl->mime, &sl->rcpt, err) == -1)
        return -1;
    track_reset(&sl->track);
    sl->errbuf[0] = '\0';
    sl->m = m;
    sl->cookie = cookie;
    sl->started_ms = monotonic_ms();
    mc = curl_multi_add_handle(s->multi, sl->easy);
    if (mc != CURLM_OK) {
        message_detach(sl->easy, sl->mime, sl->rcpt);
        sl->mime = NULL;
        sl->rcpt = NULL;
        return errf(err, "smtp: %s", curl_multi_strerror(mc));
    }
    sl->busy = 1;
    s->connected = 1;
    return 0;
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

static void fill_result(struct slot *sl, CURLcode rc, struct smtp_result *r)
{
    long code = 0;

    memset(r, 0, sizeof(*r));
    r->signup_id = sl->m->signup_id;
    r->cookie = sl->cookie;
    /* Our own record stops at QUIT; libcurl's may already hold the goodbye. */
    code = sl->track.code;
    if (code == 0 && curl_easy_getinfo(sl->easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
        code = 0;
    r->code = code;
    snprintf(r->reply, sizeof(r->reply), "%s", sl->track.last);
    describe(r, rc, sl->errbuf);
    r->elapsed_ms = monotonic_ms() - sl->started_ms;
    r->status = smtp_classify(rc, code, r->reply, sl->track.command);
}

/* Reports every finished transfer; the slot is free again before done() runs. */
static int reap(struct smtp *s, smtp_done_fn done, void *arg)
{
    CURLMsg *msg;
    int left, reported = 0;

    while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
        struct slot *sl = NULL;
        struct smtp_result r;

        if (msg->msg != CURLMSG_DONE)
            continue;
        if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl) != CURLE_OK ||
            sl == NULL)
            continue;
        fill_result(sl, msg->data.result, &r);
        release_slot(s, sl);
        s->last_use_ms = monotonic_ms();
        reported++;
        if (done != NULL)
            done(arg, &r);
    }
    return reported;
}

static int perform(struct smtp *s, char *err)
{
    int running;
    CURLMcode mc = curl_multi_perform(s->multi, &running);

    if (mc != CURLM_OK)
        return errf(err, "smtp: %s", curl_multi_strerror(mc));
    return 0;
}

int smtp_poll(struct smtp *s, int timeout_ms, smtp_done_fn done, void *arg, char *err)
{
    CURLMcode mc;

    if (smtp_in_flight(s) == 0)
        return 0;
    if (perform(s, err) == -1)
        return -1;
    if (reap(s, done, arg) > 0)
        return 0;
    mc = curl_multi_poll(s->multi, NULL, 0, timeout_ms, NULL);
    if (mc != CURLM_OK)
        return errf(err, "smtp: %s", curl_multi_strerror(mc));
    if (perform(s, err) == -1)
        return -1;
    reap(s, done, arg);
    return 0;
}

/*
 * The multi handle owns the connection cache, and libcurl has no call that
 * closes idle connections: replacing the multi handle closes them all (with
 * QUIT).  That is done only when no transfer is running, which is also the
 * only time every connection is idle.
 */
void smtp_close_idle(struct smtp *s, int force)
{
    CURLM *fresh;

    if (!s->connected || smtp_in_flight(s) > 0)
        return;
    if (!force && monotonic_ms() - s->last_use_ms < s->idle_timeout_ms)
        return;
    fresh = new_multi(s->nslots);
    if (fresh == NULL) {
        log_warnx("cannot replace the multi handle; idle connections stay open");
        return;
    }
    curl_multi_cleanup(s->multi);
    s->multi = fresh;
    s->connected = 0;
    log_debug("closed idle SMTP connections");
}
