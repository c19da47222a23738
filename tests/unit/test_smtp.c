/*
 * test_smtp.c - the transport: the classification table, the password
 * file (and $CREDENTIALS_DIRECTORY), and whole deliveries against a
 * scripted SMTP server on the loopback interface, driven in this thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "smtp.h"

/* --- classification ----------------------------------------------------- */

static void test_classify_table(void **state)
{
    static const struct {
        long rc; /* a CURLcode; long keeps the rows unpadded */
        long code;
        const char *reply;
        const char *command;
        enum smtp_status want;
    } rows[] = {
        {CURLE_OK, 250, "250 2.0.0 Ok: queued as 1234", "DATA", SMTP_SENT},
        /* authentication and TLS: ours to fix */
        {CURLE_LOGIN_DENIED, 535, "535 5.7.8 Authentication credentials invalid", "AUTH",
         SMTP_CONFIG},
        {CURLE_SEND_ERROR, 530, "530 5.7.0 Authentication required", "MAIL", SMTP_CONFIG},
        {CURLE_SEND_ERROR, 534, "534 5.7.9 Authentication mechanism is too weak", "AUTH",
         SMTP_CONFIG},
        {CURLE_WEIRD_SERVER_REPLY, 504, "504 5.5.4 Unrecognized authentication type", "AUTH",
         SMTP_CONFIG},
        {CURLE_USE_SSL_FAILED, 250, "250 SIZE 1000", "EHLO", SMTP_CONFIG},
        {CURLE_PEER_FAILED_VERIFICATION, 220, "220 ready", "STARTTLS", SMTP_CONFIG},
        {CURLE_SSL_CONNECT_ERROR, 220, "220 ready", "STARTTLS", SMTP_CONFIG},
        {CURLE_SSL_CACERT_BADFILE, 0, "", "", SMTP_CONFIG},
        {CURLE_SSL_CERTPROBLEM, 0, "", "", SMTP_CONFIG},
        {CURLE_URL_MALFORMAT, 0, "", "", SMTP_CONFIG},
        {CURLE_UNSUPPORTED_PROTOCOL, 0, "", "", SMTP_CONFIG},
        /* refusals before the recipient is named refuse every message */
        {CURLE_WEIRD_SERVER_REPLY, 554, "554 5.7.1 No SMTP service here", "", SMTP_CONFIG},
        {CURLE_SEND_ERROR, 553, "553 5.7.1 Sender address rejected: not owned by user", "MAIL",
         SMTP_CONFIG},
        {CURLE_SEND_ERROR, 550, "550 5.7.1 Client host rejected", "EHLO", SMTP_CONFIG},
        {CURLE_SEND_ERROR, 552, "552 5.3.4 Message size exceeds fixed limit", "MAIL", SMTP_FAIL},
        /* permanent refusals of this message */
        {CURLE_SEND_ERROR, 550, "550 5.1.1 <x@example.com>: Recipient address rejected", "RCPT",
         SMTP_FAIL},
        {CURLE_SEND_ERROR, 554, "554 5.7.1 Message rejected as spam", "DATA", SMTP_FAIL},
        {CURLE_WEIRD_SERVER_REPLY, 552, "552 5.2.2 Mailbox full", "DATA", SMTP_FAIL},
        /* the relay asks us to slow down */
        {CURLE_SEND_ERROR, 421, "421 4.7.0 Too many connections, slow down", "", SMTP_THROTTLE},
        {CURLE_SEND_ERROR, 450, "450 4.7.1 Rate limit exceeded", "MAIL", SMTP_THROTTLE},
        {CURLE_SEND_ERROR, 451, "451 4.7.1 Throttled: try again later", "MAIL", SMTP_THROTTLE},
        {CURLE_SEND_ERROR, 454, "454 4.7.0 Too many login attempts", "AUTH", SMTP_THROTTLE},
        {CURLE_SEND_ERROR, 451, "451 4.3.0 Sending RATE exceeded", "EHLO", SMTP_THROTTLE},
        /* a rate refusal for one recipient's mailbox: that signup alone waits */
        {CURLE_SEND_ERROR, 450,
         "450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents "
         "additional messages from being delivered",
         "RCPT", SMTP_DEFER},
        {CURLE_SEND_ERROR, 451, "451 4.3.0 Sending RATE exceeded", "DATA", SMTP_DEFER},
        {CURLE_SEND_ERROR, 421,
         "421 4.7.0 Try again later, you are sending too fast: too many "
         "messages",
         "DATA", SMTP_THROTTLE},
        /* transient, but not about our pace */
        {CURLE_SEND_ERROR, 451, "451 4.3.0 Temporary lookup failure", "RCPT", SMTP_DEFER},
        {CURLE_SEND_ERROR, 451, "451 4.3.0 Temporary failure, please try again later", "DATA",
         SMTP_DEFER},
        {CURLE_SEND_ERROR, 421, "421 4.3.2 Please try again later", "DATA", SMTP_DEFER},
        {CURLE_SEND_ERROR, 451, "451 4.3.0 Message could not be generated", "DATA", SMTP_DEFER},
        {CURLE_SEND_ERROR, 452, "452 4.5.3 Too many recipients", "RCPT", SMTP_DEFER},
        {CURLE_SEND_ERROR, 450, "450 4.2.0 Mailbox busy", "RCPT", SMTP_DEFER},
        {CURLE_SEND_ERROR, 421, "421 4.4.2 Service shutting down", "", SMTP_DEFER},
        {CURLE_SEND_ERROR, 454, "454 4.7.0 TLS not available due to temporary reason", "STARTTLS",
         SMTP_DEFER},
        /* the network */
        /* the network: no word from the relay at all means it cannot be reached */
        {CURLE_COULDNT_CONNECT, 0, "", "", SMTP_UNREACHABLE},
        {CURLE_COULDNT_RESOLVE_HOST, 0, "", "", SMTP_UNREACHABLE},
        {CURLE_OPERATION_TIMEDOUT, 0, "", "", SMTP_UNREACHABLE},
        {CURLE_GOT_NOTHING, 0, "", "", SMTP_UNREACHABLE},
        {CURLE_WEIRD_SERVER_REPLY, 0, "", "", SMTP_UNREACHABLE},
        /* ... but once it spoke, a failure is this message's */
        {CURLE_OPERATION_TIMEDOUT, 354, "354 End data", "DATA", SMTP_DEFER},
        {CURLE_SEND_ERROR, 250, "250 2.1.0 Ok", "MAIL", SMTP_DEFER},
        {CURLE_RECV_ERROR, 250, "250 2.1.5 Ok", "RCPT", SMTP_DEFER},
        {CURLE_RECV_ERROR, 220, "220 mail.example.com ESMTP", "", SMTP_DEFER},
    };
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        enum smtp_status got =
            smtp_classify((CURLcode)rows[i].rc, rows[i].code, rows[i].reply, rows[i].command);

        if (got != rows[i].want)
            fail_msg("row %zu (%s / %s): got %d, want %d", i, rows[i].reply, rows[i].command,
                     (int)got, (int)rows[i].want);
    }
    assert_int_equal(smtp_classify(CURLE_SEND_ERROR, 550, NULL, NULL), SMTP_CONFIG);
}

/* --- a scripted SMTP server --------------------------------------------- */

/* Enough for the pool tests: the pool never opens more than two. */
#define FAKE_CONNS 4
/* How long a test waits for libcurl and the server to finish. */
#define FAKE_DEADLINE_MS 5000

struct fake_conn {
    int fd;
    struct buf in;
    struct buf out;
    int in_data;
    int auth_pending; /* sent 334, the next line is the credentials */
};

struct fake {
    int listener;
    int port;
    struct fake_conn conns[FAKE_CONNS];
    int accepted;
    int messages;
    int quits;
    /* the script: NULL means an ordinary positive reply */
    const char *greeting;
    const char *mail_reply;
    const char *rcpt_reply;
    const char *final_reply;
    const char *password; /* AUTH PLAIN offered and checked when set */
    int starttls;         /* advertise STARTTLS (and never do it) */
    int early_bye;        /* the 221 for a later QUIT goes out with the final reply */
};

static void fake_open(struct fake *f)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int i;

    memset(f, 0, sizeof(*f));
    for (i = 0; i < FAKE_CONNS; i++)
        f->conns[i].fd = -1;
    f->listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(f->listener >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f->listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->listener, FAKE_CONNS), 0);
    assert_int_equal(getsockname(f->listener, (struct sockaddr *)&sa, &len), 0);
    f->port = ntohs(sa.sin_port);
}

/* Closes the server's side first, so libcurl's QUIT at cleanup fails at once. */
static void fake_close(struct fake *f)
{
    int i;

    for (i = 0; i < FAKE_CONNS; i++) {
        if (f->conns[i].fd >= 0)
            close(f->conns[i].fd);
        f->conns[i].fd = -1;
        buf_free(&f->conns[i].in);
        buf_free(&f->conns[i].out);
    }
    if (f->listener >= 0)
        close(f->listener);
    f->listener = -1;
}

/*
 * After a refusal libcurl sends QUIT and blocks until the reply comes, which
 * a server in the same thread cannot give then: the 221 goes out early, and
 * libcurl keeps it until it asks.
 */
static void say(struct fake_conn *c, const char *reply)
{
    buf_puts(&c->out, reply);
    buf_puts(&c->out, "\r\n");
    if ((reply[0] == '4' || reply[0] == '5') && reply[3] == ' ')
        buf_puts(&c->out, "221 2.0.0 Bye\r\n");
}

static int b64(int ch)
{
    const char *digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = ch ? strchr(digits, ch) : NULL;

    return p ? (int)(p - digits) : -1;
}

/* RFC 4616: base64 of authzid NUL authcid NUL passwd. */
static void check_plain(struct fake *f, struct fake_conn *c, const char *b64text)
{
    char decoded[256] = "", want[256];
    unsigned v = 0;
    int bits = 0;
    size_t n = 0, wn;

    for (; *b64text && *b64text != '=' && n < sizeof(decoded); b64text++) {
        int d = b64(*b64text);

        if (d < 0)
            break;
        v = (v << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            decoded[n++] = (char)((v >> bits) & 0xff);
        }
    }
    wn = (size_t)snprintf(want, sizeof(want), "%cuser%c%s", 0, 0, f->password);
    if (n == wn && memcmp(decoded, want, n) == 0)
        say(c, "235 2.7.0 Authentication successful");
    else
        say(c, "535 5.7.8 Authentication credentials invalid");
}

static void fake_command(struct fake *f, struct fake_conn *c, const char *line)
{
    if (c->auth_pending) {
        c->auth_pending = 0;
        check_plain(f, c, line);
    } else if (strncasecmp(line, "EHLO", 4) == 0) {
        say(c, "250-fake.example");
        if (f->starttls)
            say(c, "250-STARTTLS");
        say(c, f->password ? "250 AUTH PLAIN" : "250 8BITMIME");
    } else if (strncasecmp(line, "AUTH PLAIN", 10) == 0) {
        if (line[10] == ' ') {
            check_plain(f, c, line + 11);
        } else {
            c->auth_pending = 1;
            say(c, "334 ");
        }
    } else if (strncasecmp(line, "MAIL", 4) == 0) {
        say(c, f->mail_reply ? f->mail_reply : "250 2.1.0 Ok");
    } else if (strncasecmp(line, "RCPT", 4) == 0) {
        say(c, f->rcpt_reply ? f->rcpt_reply : "250 2.1.5 Ok");
    } else if (strncasecmp(line, "DATA", 4) == 0) {
        /* libcurl blocks for the final reply after ".": it has to be on its way already. */
        say(c, "354 End data with <CR><LF>.<CR><LF>");
        say(c, f->final_reply ? f->final_reply : "250 2.0.0 Ok: queued as ABC123");
        if (f->early_bye)
            say(c, "221 2.0.0 Bye");
        c->in_data = 1;
    } else if (strncasecmp(line, "QUIT", 4) == 0) {
        f->quits++;
        if (!f->early_bye)
            say(c, "221 2.0.0 Bye");
    } else if (strncasecmp(line, "RSET", 4) == 0 || strncasecmp(line, "NOOP", 4) == 0) {
        say(c, "250 2.0.0 Ok");
    } else {
        say(c, "502 5.5.2 Command not recognized");
    }
}

static void fake_lines(struct fake *f, struct fake_conn *c)
{
    char *nl;

    while (c->in.len > 0 && (nl = memchr(c->in.data, '\n', c->in.len)) != NULL) {
        size_t len = (size_t)(nl + 1 - c->in.data);

        if (c->in_data) {
            if (len == 3 && memcmp(c->in.data, ".\r\n", 3) == 0) {
                c->in_data = 0;
                f->messages++;
            }
        } else {
            *nl = '\0';
            if (nl > c->in.data && nl[-1] == '\r')
                nl[-1] = '\0';
            fake_command(f, c, c->in.data);
        }
        memmove(c->in.data, c->in.data + len, c->in.len - len);
        c->in.len -= len;
    }
}

static struct fake_conn *unused_conn(struct fake *f)
{
    int i;

    for (i = 0; i < FAKE_CONNS; i++)
        if (f->conns[i].fd < 0)
            return &f->conns[i];
    return NULL;
}

static void fake_accept(struct fake *f)
{
    int fd;

    while ((fd = accept4(f->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct fake_conn *c = unused_conn(f);

        assert_non_null(c);
        c->fd = fd;
        c->in_data = 0;
        c->auth_pending = 0;
        f->accepted++;
        say(c, f->greeting ? f->greeting : "220 fake.example ESMTP");
    }
}

static void fake_step(struct fake *f)
{
    int i;

    fake_accept(f);
    for (i = 0; i < FAKE_CONNS; i++) {
        struct fake_conn *c = &f->conns[i];
        char chunk[4096];
        ssize_t n;
        int eof;

        if (c->fd < 0)
            continue;
        while ((n = recv(c->fd, chunk, sizeof(chunk), 0)) > 0)
            buf_append(&c->in, chunk, (size_t)n);
        eof = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
        fake_lines(f, c);
        if (c->out.len > 0 && !eof) {
            /* Replies are short: the socket buffer always takes them whole. */
            assert_int_equal(send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL),
                             (ssize_t)c->out.len);
        }
        buf_reset(&c->out);
        if (eof) {
            close(c->fd);
            c->fd = -1;
        }
    }
}

/* --- running deliveries ------------------------------------------------- */

#define MAX_RESULTS 8

struct results {
    struct smtp_result r[MAX_RESULTS];
    int n;
};

static void on_done(void *arg, const struct smtp_result *r)
{
    struct results *res = arg;

    assert_true(res->n < MAX_RESULTS);
    res->r[res->n++] = *r;
}

static void run_until(struct smtp *s, struct fake *f, struct results *res, int want)
{
    int64_t deadline = monotonic_ms() + FAKE_DEADLINE_MS;
    char err[ERRLEN];

    while (res->n < want && monotonic_ms() < deadline) {
        if (f != NULL)
            fake_step(f);
        assert_int_equal(smtp_poll(s, 5, on_done, res, err), 0);
    }
    assert_int_equal(res->n, want);
    /* libcurl is done once the final reply arrives; the "." it sent is in our socket. */
    if (f != NULL)
        fake_step(f);
}

static void config_for(struct config *c, char *url, size_t urllen, int port)
{
    memset(c, 0, sizeof(*c));
    snprintf(url, urllen, "smtp://127.0.0.1:%d", port);
    c->smtp_url = url;
    c->tls = TLS_NONE;
    c->from_name = "Reports";
    c->from_address = "reports@example.org";
    c->message_id_domain = "example.org";
    c->connect_timeout_ms = 2000;
    c->timeout_ms = FAKE_DEADLINE_MS;
    c->idle_timeout_ms = 60000;
    c->connections = 2;
}

static void make_message(struct message *m, const struct config *c, int64_t id)
{
    struct signup s;
    struct rendered r;
    char err[ERRLEN];

    memset(&s, 0, sizeof(s));
    s.id = id;
    s.created_ms = 1;
    s.email = "jane@example.com";
    buf_init(&r.subject);
    buf_init(&r.text);
    buf_init(&r.html);
    buf_puts(&r.subject, "Your report");
    buf_puts(&r.text, "Hello\n");
    buf_puts(&r.html, "<p>Hello</p>\n");
    assert_int_equal(message_build(m, c, &s, &r, 0, err), 0);
    buf_free(&r.subject);
    buf_free(&r.text);
    buf_free(&r.html);
}

/* One message through a server scripted by f; the result in *out. */
static void deliver_one(struct fake *f, struct config *c, struct smtp_result *out)
{
    struct smtp *s;
    struct message m;
    struct results res;
    char err[ERRLEN];
    int cookie = 7;

    memset(&res, 0, sizeof(res));
    assert_int_equal(smtp_open(&s, c, err), 0);
    make_message(&m, c, 99);
    assert_int_equal(smtp_submit(s, &m, &cookie, 1, 0, err), 0);
    assert_int_equal(smtp_in_flight(s), 1);
    run_until(s, f, &res, 1);
    assert_int_equal(smtp_in_flight(s), 0);
    assert_int_equal(res.r[0].signup_id, 99);
    assert_ptr_equal(res.r[0].cookie, &cookie);
    *out = res.r[0];
    fake_close(f);
    smtp_free(s);
    message_free(&m);
}

static void test_sent(void **state)
{
    struct fake f;
    struct config c;
    struct smtp_result r;
    char url[64];

    fake_open(&f);
    config_for(&c, url, sizeof(url), f.port);
    deliver_one(&f, &c, &r);
    assert_int_equal(r.status, SMTP_SENT);
    assert_int_equal(r.code, 250);
    assert_string_equal(r.reply, "250 2.0.0 Ok: queued as ABC123");
    assert_string_equal(r.detail, "");
    assert_true(r.elapsed_ms >= 0);
    assert_int_equal(f.messages, 1);
}

static void expect_outcome(const char *mail, const char *rcpt, const char *final,
                           enum smtp_status want, long code, const char *reply)
{
    struct fake f;
    struct config c;
    struct smtp_result r;
    char url[64];

    fake_open(&f);
    f.mail_reply = mail;
    f.rcpt_reply = rcpt;
    f.final_reply = final;
    config_for(&c, url, sizeof(url), f.port);
    deliver_one(&f, &c, &r);
    assert_int_equal(r.status, want);
    assert_int_equal(r.code, code);
    assert_string_equal(r.reply, reply);
    assert_string_not_equal(r.detail, "");
}

static void test_refusals_classified(void **state)
{
    expect_outcome(NULL, "550 5.1.1 <jane@example.com>: Recipient address rejected", NULL,
                   SMTP_FAIL, 550, "550 5.1.1 <jane@example.com>: Recipient address rejected");
    expect_outcome("421 4.7.0 Too many messages, slow down", NULL, NULL, SMTP_THROTTLE, 421,
                   "421 4.7.0 Too many messages, slow down");
    expect_outcome(NULL, "451 4.3.0 Temporary lookup failure", NULL, SMTP_DEFER, 451,
                   "451 4.3.0 Temporary lookup failure");
    expect_outcome(NULL, NULL, "554 5.7.1 Message rejected", SMTP_FAIL, 554,
                   "554 5.7.1 Message rejected");
    expect_outcome("553 5.7.1 Sender address rejected", NULL, NULL, SMTP_CONFIG, 553,
                   "553 5.7.1 Sender address rejected");
}

static void test_greeting_refusal_is_config(void **state)
{
    struct fake f;
    struct config c;
    struct smtp_result r;
    char url[64];

    fake_open(&f);
    f.greeting = "554 5.7.1 No SMTP service here";
    config_for(&c, url, sizeof(url), f.port);
    deliver_one(&f, &c, &r);
    assert_int_equal(r.status, SMTP_CONFIG);
    assert_int_equal(r.code, 554);
    assert_int_equal(f.messages, 0);
}

static void test_starttls_required(void **state)
{
    struct fake f;
    struct config c;
    struct smtp_result r;
    char url[64];

    fake_open(&f);
    config_for(&c, url, sizeof(url), f.port);
    c.tls = TLS_STARTTLS;
    deliver_one(&f, &c, &r);
    assert_int_equal(r.status, SMTP_CONFIG);
    assert_non_null(strstr(r.detail, "STARTTLS"));
    assert_int_equal(f.messages, 0);
}

static void test_connection_refused_is_unreachable(void **state)
{
    struct fake f;
    struct config c;
    struct smtp_result r;
    char url[64];
    int port;

    fake_open(&f);
    port = f.port;
    fake_close(&f); /* nothing listens there now */
    config_for(&c, url, sizeof(url), port);
    deliver_one(&f, &c, &r);
    assert_int_equal(r.status, SMTP_UNREACHABLE);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.reply, "");
    assert_non_null(strstr(r.detail, "connect"));
    /* What the queue records says what failed and when. */
    assert_non_null(strstr(r.reason, "connect"));
    assert_non_null(strstr(r.reason, "before the greeting"));
    assert_false(r.uncertain);
}

static void test_connections_are_reused(void **state)
{
    struct fake f;
    struct config c;
    struct smtp *s;
    struct message m[3];
    struct results res;
    char url[64], err[ERRLEN];
    int i;

    fake_open(&f);
    config_for(&c, url, sizeof(url), f.port);
    memset(&res, 0, sizeof(res));
    assert_int_equal(smtp_open(&s, &c, err), 0);
    for (i = 0; i < 3; i++) {
        make_message(&m[i], &c, i + 1);
        assert_int_equal(smtp_submit(s, &m[i], NULL, 1, 0, err), 0);
        run_until(s, &f, &res, i + 1);
        assert_int_equal(res.r[i].status, SMTP_SENT);
        assert_int_equal(res.r[i].signup_id, i + 1);
    }
    assert_int_equal(f.accepted, 1);
    assert_int_equal(f.messages, 3);
    /* Not idle long enough: the connection stays. */
    smtp_close_idle(s, 0);
    fake_close(&f);
    smtp_free(s);
    for (i = 0; i < 3; i++)
        message_free(&m[i]);
}

/* Until the workers have taken every waiting message (they do so at once, on their own threads). */
static void wait_until_taken(struct smtp *s, int want_in_flight)
{
    int64_t deadline = monotonic_ms() + FAKE_DEADLINE_MS;

    const struct timespec ms = {0, 1000000};

    while ((smtp_idle_connections(s) > 0 || smtp_free_slots(s) < 2) && monotonic_ms() < deadline)
        nanosleep(&ms, NULL);
    assert_int_equal(smtp_in_flight(s), want_in_flight);
}

/* Two connections: a message on each, one waiting for each, and no more. */
static void test_parallel_slots(void **state)
{
    struct fake f;
    struct config c;
    struct smtp *s;
    struct message m[5];
    struct results res;
    char url[64], err[ERRLEN];
    int i;

    fake_open(&f);
    config_for(&c, url, sizeof(url), f.port);
    memset(&res, 0, sizeof(res));
    assert_int_equal(smtp_open(&s, &c, err), 0);
    assert_int_equal(smtp_free_slots(s), 2);
    assert_int_equal(smtp_idle_connections(s), 2);
    for (i = 0; i < 5; i++)
        make_message(&m[i], &c, i + 1);
    assert_int_equal(smtp_submit(s, &m[0], NULL, 1, 0, err), 0);
    assert_int_equal(smtp_submit(s, &m[1], NULL, 1, 0, err), 0);
    /* The fake is not stepped: both transfers are stuck at the greeting. */
    wait_until_taken(s, 2);
    assert_int_equal(smtp_idle_connections(s), 0);
    assert_int_equal(smtp_submit(s, &m[2], NULL, 1, 0, err), 0);
    assert_int_equal(smtp_submit(s, &m[3], NULL, 1, 0, err), 0);
    assert_int_equal(smtp_free_slots(s), 0);
    assert_int_equal(smtp_in_flight(s), 4);
    assert_int_equal(smtp_submit(s, &m[4], NULL, 1, 0, err), -1);
    assert_non_null(strstr(err, "busy"));
    run_until(s, &f, &res, 4);
    for (i = 0; i < 4; i++)
        assert_int_equal(res.r[i].status, SMTP_SENT);
    assert_int_equal(f.accepted, 2);
    assert_int_equal(f.messages, 4);
    assert_int_equal(smtp_free_slots(s), 2);
    fake_close(&f);
    smtp_free(s);
    for (i = 0; i < 5; i++)
        message_free(&m[i]);
}

/* A message that waits for a connection past its start_by is returned unsent. */
static void test_start_by_returns_a_late_message_unsent(void **state)
{
    struct fake f;
    struct config c;
    struct smtp *s;
    struct message m[3];
    struct results res;
    char url[64], err[ERRLEN];
    int cookies[3] = {0, 1, 2}, i, late = -1;
    const struct timespec pause = {0, 20 * 1000000};

    fake_open(&f);
    config_for(&c, url, sizeof(url), f.port);
    memset(&res, 0, sizeof(res));
    assert_int_equal(smtp_open(&s, &c, err), 0);
    for (i = 0; i < 3; i++)
        make_message(&m[i], &c, i + 1);
    assert_int_equal(smtp_submit(s, &m[0], &cookies[0], 1, 0, err), 0);
    assert_int_equal(smtp_submit(s, &m[1], &cookies[1], 1, 0, err), 0);
    wait_until_taken(s, 2);
    /* Both connections are stuck at the greeting until the fake is stepped. */
    assert_int_equal(smtp_submit(s, &m[2], &cookies[2], 1, monotonic_ms() + 5, err), 0);
    nanosleep(&pause, NULL);
    run_until(s, &f, &res, 3);
    for (i = 0; i < 3; i++)
        if (res.r[i].cookie == &cookies[2])
            late = i;
    assert_true(late >= 0);
    assert_int_equal(res.r[late].status, SMTP_NOT_STARTED);
    assert_int_equal(f.messages, 2);
    fake_close(&f);
    smtp_free(s);
    for (i = 0; i < 3; i++)
        message_free(&m[i]);
}

/* Results not yet collected fill the pool: no connection counts as idle until they are. */
static void test_uncollected_results_leave_no_room(void **state)
{
    struct fake f;
    struct config c;
    struct smtp *s;
    struct message m[2];
    struct results res;
    char url[64], err[ERRLEN];
    int64_t deadline;
    int i;
    const struct timespec ms = {0, 1000000};

    fake_open(&f);
    config_for(&c, url, sizeof(url), f.port);
    c.connections = 1;
    memset(&res, 0, sizeof(res));
    assert_int_equal(smtp_open(&s, &c, err), 0);
    for (i = 0; i < 2; i++)
        make_message(&m[i], &c, i + 1);
    assert_int_equal(smtp_submit(s, &m[0], NULL, 1, 0, err), 0);
    /* The worker takes it (at once, on its own thread); then one more may wait. */
    deadline = monotonic_ms() + FAKE_DEADLINE_MS;
    while (smtp_free_slots(s) < 1 && monotonic_ms() < deadline)
        nanosleep(&ms, NULL);
    assert_int_equal(smtp_submit(s, &m[1], NULL, 1, 0, err), 0);
    /* Both go out one after the other on the one connection; nobody collects. */
    deadline = monotonic_ms() + FAKE_DEADLINE_MS;
    while ((f.messages < 2 || smtp_free_slots(s) > 0) && monotonic_ms() < deadline) {
        fake_step(&f);
        nanosleep(&ms, NULL);
    }
    assert_int_equal(f.messages, 2);
    assert_int_equal(smtp_in_flight(s), 2);
    assert_int_equal(smtp_free_slots(s), 0);
    assert_int_equal(smtp_idle_connections(s), 0);
    assert_int_equal(smtp_submit(s, &m[0], NULL, 1, 0, err), -1);
    run_until(s, &f, &res, 2);
    assert_int_equal(smtp_idle_connections(s), 1);
    fake_close(&f);
    smtp_free(s);
    for (i = 0; i < 2; i++)
        message_free(&m[i]);
}

struct withdrawn {
    void *cookies[4];
    int n;
};

static void on_withdrawn(void *arg, void *cookie)
{
    struct withdrawn *w = arg;

    assert_true(w->n < 4);
    w->cookies[w->n++] = cookie;
}

/* What waits for a connection can be taken back; what is on one cannot. */
static void test_withdraw_takes_back_only_the_waiting(void **state)
{
    struct fake f;
    struct config c;
    struct smtp *s;
    struct message m[3];
    struct results res;
    struct withdrawn w = {0};
    char url[64], err[ERRLEN];
    int cookies[3] = {0, 1, 2}, i;

    fake_open(&f);
    config_for(&c, url, sizeof(url), f.port);
    memset(&res, 0, sizeof(res));
    assert_int_equal(smtp_open(&s, &c, err), 0);
    for (i = 0; i < 3; i++)
        make_message(&m[i], &c, i + 1);
    assert_int_equal(smtp_submit(s, &m[0], &cookies[0], 1, 0, err), 0);
    assert_int_equal(smtp_submit(s, &m[1], &cookies[1], 1, 0, err), 0);
    wait_until_taken(s, 2);
    assert_int_equal(smtp_submit(s, &m[2], &cookies[2], 1, 0, err), 0);
    assert_int_equal(smtp_withdraw(s, on_withdrawn, &w), 1);
    assert_int_equal(w.n, 1);
    assert_ptr_equal(w.cookies[0], &cookies[2]);
    assert_int_equal(smtp_in_flight(s), 2);
    run_until(s, &f, &res, 2);
    assert_int_equal(f.messages, 2);
    for (i = 0; i < 2; i++)
        assert_true(res.r[i].cookie == &cookies[0] || res.r[i].cookie == &cookies[1]);
    fake_close(&f);
    smtp_free(s);
    for (i = 0; i < 3; i++)
        message_free(&m[i]);
}

/* A builder for test messages: cookie is the signup id; id 13 cannot be built. */
static int build_test_message(void *arg, void *cookie, struct message *m)
{
    const struct config *c = arg;
    int64_t id = *(const int64_t *)cookie;

    if (id == 13)
        return -1;
    make_message(m, c, id);
    return 0;
}

/* Unbuilt messages are built on the worker; one that cannot be is never sent. */
static void test_builder_runs_on_the_worker(void **state)
{
    struct fake f;
    struct config c;
    struct smtp *s;
    struct message m[2];
    struct results res;
    char url[64], err[ERRLEN];
    int64_t ids[2] = {13, 14};
    int i, sent = -1, failed = -1;

    fake_open(&f);
    config_for(&c, url, sizeof(url), f.port);
    memset(&res, 0, sizeof(res));
    memset(m, 0, sizeof(m));
    assert_int_equal(smtp_open(&s, &c, err), 0);
    smtp_set_builder(s, build_test_message, &c);
    /* The failing one's id must come from the cookie: its message is still empty. */
    m[0].signup_id = 13;
    assert_int_equal(smtp_submit(s, &m[0], &ids[0], 0, 0, err), 0);
    assert_int_equal(smtp_submit(s, &m[1], &ids[1], 0, 0, err), 0);
    run_until(s, &f, &res, 2);
    for (i = 0; i < 2; i++) {
        if (res.r[i].cookie == &ids[0])
            failed = i;
        else
            sent = i;
    }
    assert_true(failed >= 0 && sent >= 0);
    assert_int_equal(res.r[failed].status, SMTP_NOT_BUILT);
    assert_int_equal(res.r[sent].status, SMTP_SENT);
    assert_int_equal(res.r[sent].signup_id, 14);
    assert_int_equal(f.messages, 1);
    fake_close(&f);
    smtp_free(s);
    for (i = 0; i < 2; i++)
        message_free(&m[i]);
}

static int open_conns(const struct fake *f)
{
    int i, n = 0;

    for (i = 0; i < FAKE_CONNS; i++)
        n += f->conns[i].fd >= 0;
    return n;
}

/* Connections close on their own threads: step the fake until it has seen n QUITs. */
static void step_until_quits(struct fake *f, int n)
{
    int64_t deadline = monotonic_ms() + FAKE_DEADLINE_MS;

    while (f->quits < n && monotonic_ms() < deadline)
        fake_step(f);
    assert_int_equal(f->quits, n);
}

static void test_close_idle(void **state)
{
    struct fake f;
    struct config c;
    struct smtp *s;
    struct message m;
    struct results res;
    char url[64], err[ERRLEN];

    fake_open(&f);
    f.early_bye = 1; /* libcurl blocks for the 221: it must already be here */
    config_for(&c, url, sizeof(url), f.port);
    memset(&res, 0, sizeof(res));
    assert_int_equal(smtp_open(&s, &c, err), 0);
    make_message(&m, &c, 1);
    assert_int_equal(smtp_submit(s, &m, NULL, 1, 0, err), 0);
    run_until(s, &f, &res, 1);
    assert_int_equal(res.r[0].status, SMTP_SENT);
    /* The early 221 is not the transaction's reply. */
    assert_string_equal(res.r[0].reply, "250 2.0.0 Ok: queued as ABC123");

    smtp_close_idle(s, 0); /* used just now: stays open */
    fake_step(&f);
    assert_int_equal(f.quits, 0);
    assert_int_equal(open_conns(&f), 1);

    smtp_close_idle(s, 1);
    step_until_quits(&f, 1);
    while (open_conns(&f) > 0)
        fake_step(&f);
    smtp_close_idle(s, 1); /* nothing left: a no-op */
    fake_step(&f);
    assert_int_equal(f.quits, 1);

    fake_close(&f);
    smtp_free(s);
    message_free(&m);
}

static void test_close_idle_after_timeout(void **state)
{
    struct fake f;
    struct config c;
    struct smtp *s;
    struct message m;
    struct results res;
    char url[64], err[ERRLEN];

    fake_open(&f);
    f.early_bye = 1;
    config_for(&c, url, sizeof(url), f.port);
    c.idle_timeout_ms = 300;
    memset(&res, 0, sizeof(res));
    assert_int_equal(smtp_open(&s, &c, err), 0);
    make_message(&m, &c, 1);
    assert_int_equal(smtp_submit(s, &m, NULL, 1, 0, err), 0);
    run_until(s, &f, &res, 1);
    /* Used just now: still open ... */
    fake_step(&f);
    assert_int_equal(f.quits, 0);
    /* ... until its worker closes it by itself, once idle_timeout has passed. */
    step_until_quits(&f, 1);
    fake_close(&f);
    smtp_free(s);
    message_free(&m);
}

/* --- the password ------------------------------------------------------- */

struct tmpdir {
    char path[64];
};

static void tmpdir_make(struct tmpdir *t)
{
    snprintf(t->path, sizeof(t->path), "/tmp/test_smtp.XXXXXX");
    assert_non_null(mkdtemp(t->path));
}

static void write_file(const char *dir, const char *name, const char *content, char *path,
                       size_t pathlen)
{
    FILE *fp;

    snprintf(path, pathlen, "%s/%s", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

/* Delivers with AUTH PLAIN as "user", the server expecting password. */
static enum smtp_status auth_with(const char *password_file, const char *inline_password,
                                  const char *expected)
{
    struct fake f;
    struct config c;
    struct smtp_result r;
    char url[64];

    fake_open(&f);
    f.password = expected;
    config_for(&c, url, sizeof(url), f.port);
    c.username = "user";
    c.password_file = (char *)password_file;
    c.password = (char *)inline_password;
    deliver_one(&f, &c, &r);
    return r.status;
}

static void test_password_file_read_and_newline_stripped(void **state)
{
    struct tmpdir t = {""};
    char path[128];

    unsetenv("CREDENTIALS_DIRECTORY");
    tmpdir_make(&t);
    write_file(t.path, "pw", "s3cret pass\n", path, sizeof(path));
    assert_int_equal(auth_with(path, NULL, "s3cret pass"), SMTP_SENT);
    assert_int_equal(auth_with(path, NULL, "other"), SMTP_CONFIG);
    write_file(t.path, "pw", "crlf-pass\r\n", path, sizeof(path));
    assert_int_equal(auth_with(path, NULL, "crlf-pass"), SMTP_SENT);
    assert_int_equal(auth_with(NULL, "inline", "inline"), SMTP_SENT);
    unlink(path);
    rmdir(t.path);
}

static void expect_open_error(const char *password_file, const char *needle)
{
    struct config c;
    struct smtp *s = (struct smtp *)&c;
    char url[64], err[ERRLEN] = "";

    config_for(&c, url, sizeof(url), 25);
    c.username = "user";
    c.password_file = (char *)password_file;
    assert_int_equal(smtp_open(&s, &c, err), -1);
    assert_null(s);
    assert_non_null(strstr(err, needle));
    assert_null(strstr(err, "hunter2")); /* never the password itself */
}

static void test_password_file_errors(void **state)
{
    struct tmpdir t = {""};
    char path[128], missing[160];

    unsetenv("CREDENTIALS_DIRECTORY");
    tmpdir_make(&t);
    snprintf(missing, sizeof(missing), "%s/absent", t.path);
    expect_open_error(missing, missing);
    write_file(t.path, "empty", "\n", path, sizeof(path));
    expect_open_error(path, "is empty");
    unlink(path);
    write_file(t.path, "two", "hunter2\nhunter3\n", path, sizeof(path));
    expect_open_error(path, "more than one line");
    unlink(path);
    rmdir(t.path);
}

static void test_credentials_directory(void **state)
{
    struct tmpdir creds = {""}, other = {""};
    char in_creds[128], elsewhere[128], bare_missing[160];

    tmpdir_make(&creds);
    tmpdir_make(&other);
    write_file(creds.path, "smtp-password", "from-credentials\n", in_creds, sizeof(in_creds));
    write_file(other.path, "smtp-password", "from-path\n", elsewhere, sizeof(elsewhere));
    setenv("CREDENTIALS_DIRECTORY", creds.path, 1);

    /* A bare name is looked up in the credentials directory. */
    assert_int_equal(auth_with("smtp-password", NULL, "from-credentials"), SMTP_SENT);
    /* A path whose file the credentials directory also holds: systemd's copy wins. */
    assert_int_equal(auth_with(elsewhere, NULL, "from-credentials"), SMTP_SENT);
    /* A path the credentials directory does not hold is read where it is. */
    unlink(in_creds);
    assert_int_equal(auth_with(elsewhere, NULL, "from-path"), SMTP_SENT);
    /* A bare name missing from the directory is an error naming it there. */
    snprintf(bare_missing, sizeof(bare_missing), "%s/smtp-password", creds.path);
    expect_open_error("smtp-password", bare_missing);

    unsetenv("CREDENTIALS_DIRECTORY");
    unlink(elsewhere);
    rmdir(creds.path);
    rmdir(other.path);
}

/* --- open and free ------------------------------------------------------ */

static void test_open_and_free(void **state)
{
    struct config c;
    struct smtp *s;
    char url[64], err[ERRLEN];

    config_for(&c, url, sizeof(url), 25);
    c.connections = 3;
    assert_int_equal(smtp_open(&s, &c, err), 0);
    assert_non_null(s);
    assert_int_equal(smtp_free_slots(s), 3);
    assert_int_equal(smtp_in_flight(s), 0);
    /* Nothing in flight: polling returns at once and reports nothing. */
    assert_int_equal(smtp_poll(s, 1000, NULL, NULL, err), 0);
    smtp_close_idle(s, 1);
    smtp_free(s);
    smtp_free(NULL);

    c.smtp_url = NULL;
    assert_int_equal(smtp_open(&s, &c, err), -1);
    assert_null(s);
    assert_non_null(strstr(err, "url"));
}

static int setup(void **state)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_table),
        cmocka_unit_test(test_open_and_free),
        cmocka_unit_test(test_sent),
        cmocka_unit_test(test_refusals_classified),
        cmocka_unit_test(test_greeting_refusal_is_config),
        cmocka_unit_test(test_starttls_required),
        cmocka_unit_test(test_connection_refused_is_unreachable),
        cmocka_unit_test(test_connections_are_reused),
        cmocka_unit_test(test_parallel_slots),
        cmocka_unit_test(test_withdraw_takes_back_only_the_waiting),
        cmocka_unit_test(test_uncollected_results_leave_no_room),
        cmocka_unit_test(test_start_by_returns_a_late_message_unsent),
        cmocka_unit_test(test_builder_runs_on_the_worker),
        cmocka_unit_test(test_close_idle),
        cmocka_unit_test(test_close_idle_after_timeout),
        cmocka_unit_test(test_password_file_read_and_newline_stripped),
        cmocka_unit_test(test_password_file_errors),
        cmocka_unit_test(test_credentials_directory),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
