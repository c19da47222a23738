/*
 * smtp_capture.c - `reportd preview --eml`: the exact bytes libcurl sends
 * for a message, captured by an in-process SMTP peer that plays the server
 * on an abstract Unix socket.
 */
#include "smtp_capture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>

#include "smtp_mime.h"

/* A preview that has not finished by then never will: the peer is in-process. */
#define CAPTURE_TIMEOUT_MS 10000
/* How long one wait for either side of the capture may take. */
#define CAPTURE_POLL_MS 100
/* Far above any report; stops a runaway capture. */
#define CAPTURE_MAX_BYTES ((size_t)16 * 1024 * 1024)
/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with its CRLF. */
#define CAPTURE_COMMAND_MAX 512
/* The size of one read from the capture socket. */
#define CAPTURE_CHUNK 16384

/* --- preview: a real SMTP exchange with an in-process peer ---------------- */

/*
 * The peer listens on an abstract Unix socket that libcurl connects to
 * (CURLOPT_ABSTRACT_UNIX_SOCKET).  A socketpair handed over through
 * CURLOPT_OPENSOCKETFUNCTION would be simpler, but libcurl 7.88 calls
 * connect() even when CURLOPT_SOCKOPTFUNCTION says the socket is already
 * connected (curl issue 10626, fixed in 8.0), which fails on it.
 */

/* The server end, played by this code between libcurl's steps. */
struct peer {
    int listener;   /* until libcurl has connected */
    int fd;         /* the accepted connection */
    struct buf in;  /* received, not yet a whole line */
    struct buf out; /* to send */
    size_t sent;    /* bytes of out already sent */
    int in_data;    /* between DATA's 354 and the "." line */
    int messages;   /* messages received */
    int failed;     /* protocol, size or socket trouble */
    struct buf *message;
};

static void peer_say(struct peer *p, const char *line)
{
    buf_puts(&p->out, line);
    buf_puts(&p->out, "\r\n");
}

static void peer_command(struct peer *p, const char *line)
{
    static const struct {
        const char *verb;
        const char *reply;
    } replies[] = {
        {"EHLO", "250 localhost"},
        {"HELO", "250 localhost"},
        {"MAIL", "250 2.1.0 Ok"},
        {"RCPT", "250 2.1.5 Ok"},
        {"RSET", "250 2.0.0 Ok"},
        {"NOOP", "250 2.0.0 Ok"},
        {"QUIT", "221 2.0.0 Bye"},
        /*
         * The final reply goes out with the 354: libcurl 7.88 sends the
         * terminating "." and then blocks inside curl_multi_perform() until
         * it reads the reply, so a peer in the same thread could never
         * answer after the "." (libcurl keeps the early line until then).
         */
        {"DATA", "354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: captured"},
    };
    size_t i;

    for (i = 0; i < NELEM(replies); i++) {
        if (strncasecmp(line, replies[i].verb, 4) == 0 &&
            (line[4] == '\0' || line[4] == ' ' || line[4] == '\r')) {
            peer_say(p, replies[i].reply);
            p->in_data = strcmp(replies[i].verb, "DATA") == 0;
            return;
        }
    }
    peer_say(p, "502 5.5.2 Command not recognized");
}

/* One line of message data, exactly as received but for RFC 5321 4.5.2 dot-stuffing. */
static void peer_data_line(struct peer *p, const char *line, size_t len)
{
    if (len == 3 && memcmp(line, ".\r\n", 3) == 0) {
        p->in_data = 0;
        p->messages++;
        return;
    }
    if (line[0] == '.') {
        line++;
        len--;
    }
    if (p->message->len + len > CAPTURE_MAX_BYTES)
        p->failed = 1;
    else
        buf_append(p->message, line, len);
}

static void peer_lines(struct peer *p)
{
    size_t start = 0;
    char *nl;

    if (p->in.data == NULL)
        return;
    while (start < p->in.len && (nl = memchr(p->in.data + start, '\n', p->in.len - start))) {
        size_t len = (size_t)(nl + 1 - (p->in.data + start));

        if (p->in_data) {
            peer_data_line(p, p->in.data + start, len);
        } else {
            *nl = '\0';
            peer_command(p, p->in.data + start);
        }
        start += len;
    }
    memmove(p->in.data, p->in.data + start, p->in.len - start);
    p->in.len -= start;
    p->in.data[p->in.len] = '\0';
    if (!p->in_data && p->in.len > CAPTURE_COMMAND_MAX)
        p->failed = 1;
}

static int would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Takes libcurl's connection, and only ours: the abstract namespace is shared. */
static void peer_accept(struct peer *p)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    int fd = accept4(p->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd == -1) {
        if (!would_block())
            p->failed = 1;
        return;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 || cred.pid != getpid()) {
        close(fd);
        return;
    }
    close(p->listener);
    p->listener = -1;
    p->fd = fd;
    peer_say(p, "220 localhost ESMTP reportd preview");
}

static void peer_read(struct peer *p)
{
    char chunk[CAPTURE_CHUNK];
    ssize_t n;

    while ((n = recv(p->fd, chunk, sizeof(chunk), 0)) > 0) {
        buf_append(&p->in, chunk, (size_t)n);
        peer_lines(p);
        if (p->failed || buf_failed(&p->in))
            return;
    }
    if (n < 0 && !would_block())
        p->failed = 1;
}

static void peer_write(struct peer *p)
{
    while (p->sent < p->out.len) {
        ssize_t n = send(p->fd, p->out.data + p->sent, p->out.len - p->sent, MSG_NOSIGNAL);

        if (n < 0) {
            if (!would_block())
                p->failed = 1;
            return;
        }
        p->sent += (size_t)n;
    }
    buf_reset(&p->out);
    p->sent = 0;
}

/* Accepts, reads and answers whatever is ready; never waits. */
static void peer_step(struct peer *p)
{
    if (p->fd == -1)
        peer_accept(p);
    if (p->fd == -1)
        return;
    peer_read(p);
    peer_write(p);
}

static int peer_broken(const struct peer *p)
{
    return p->failed || buf_failed(&p->in) || buf_failed(&p->out) || buf_failed(p->message);
}

static void peer_waitfd(const struct peer *p, struct curl_waitfd *w)
{
    w->fd = p->fd != -1 ? p->fd : p->listener;
    w->events = CURL_WAIT_POLLIN;
    if (p->fd != -1 && p->out.len > p->sent)
        w->events |= CURL_WAIT_POLLOUT;
    w->revents = 0;
}

/* Listens on a fresh abstract socket; *name gets its name (without the NUL). */
static int peer_listen(struct peer *p, char *name, size_t namelen, char *err)
{
    struct sockaddr_un sa;
    unsigned char rnd[8];
    socklen_t salen;
    int n;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return errf(err, "preview: getrandom: %s", strerror(errno));
    n = snprintf(name, namelen, "reportd-preview-%ld-%02x%02x%02x%02x%02x%02x%02x%02x",
                 (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    if (n < 0 || (size_t)n >= namelen || (size_t)n + 1 > sizeof(sa.sun_path))
        return errf(err, "preview: socket name too long");
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path + 1, name, (size_t)n);
    /* Abstract names are length-counted: exactly the bytes libcurl will use. */
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    p->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->listener == -1 || bind(p->listener, (struct sockaddr *)&sa, salen) == -1 ||
        listen(p->listener, 1) == -1)
        return errf(err, "preview: listen: %s", strerror(errno));
    return 0;
}

static void peer_close(struct peer *p)
{
    if (p->listener != -1)
        close(p->listener);
    if (p->fd != -1)
        close(p->fd);
    p->listener = -1;
    p->fd = -1;
    buf_free(&p->in);
    buf_free(&p->out);
}

static int capture_easy(CURL *e, const char *socket_name, char *errbuf)
{
    if (curl_easy_setopt(e, CURLOPT_URL, "smtp://localhost") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ABSTRACT_UNIX_SOCKET, socket_name) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)CAPTURE_TIMEOUT_MS) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK)
        return -1;
    return 0;
}

/*
 * Runs libcurl and the peer in turn until the transfer ends.  Returns
 * libcurl's result (0 or a positive CURLcode), or -1 with err.
 */
static int capture_run(CURLM *multi, struct peer *p, char *err)
{
    int64_t deadline = monotonic_ms() + CAPTURE_TIMEOUT_MS;

    for (;;) {
        struct curl_waitfd w;
        CURLMsg *msg;
        int running, left;
        CURLMcode mc = curl_multi_perform(multi, &running);

        if (mc != CURLM_OK)
            return errf(err, "preview: %s", curl_multi_strerror(mc));
        while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE) {
                /* What libcurl sent last is already in our socket buffer. */
                peer_step(p);
                return (int)msg->data.result;
            }
        }
        peer_step(p);
        if (peer_broken(p))
            return errf(err, "preview: the capture failed (protocol, size or memory)");
        if (monotonic_ms() > deadline)
            return errf(err, "preview: no result after %d ms", CAPTURE_TIMEOUT_MS);
        peer_waitfd(p, &w);
        mc = curl_multi_poll(multi, &w, 1, CAPTURE_POLL_MS, NULL);
        if (mc != CURLM_OK)
            return errf(err, "preview: %s", curl_multi_strerror(mc));
    }
}

static int capture_with(const struct message *m, CURLM *multi, CURL *e, struct peer *p,
                        const char *socket_name, char *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct smtp_mime attached;
    int rc;

    if (capture_easy(e, socket_name, errbuf) == -1)
        return errf(err, "preview: libcurl refused the capture options");
    if (smtp_mime_attach(m, e, &attached, err) == -1)
        return -1;
    if (curl_multi_add_handle(multi, e) != CURLM_OK) {
        smtp_mime_detach(e, &attached);
        return errf(err, "preview: cannot start the transfer");
    }
    rc = capture_run(multi, p, err);
    curl_multi_remove_handle(multi, e);
    smtp_mime_detach(e, &attached);
    if (rc > 0)
        return errf(err, "preview: %s%s%s", curl_easy_strerror((CURLcode)rc), errbuf[0] ? ": " : "",
                    errbuf);
    if (rc == 0 && p->messages != 1)
        return errf(err, "preview: libcurl finished without sending the message");
    return rc;
}

int smtp_capture(const struct message *m, struct buf *out, char *err)
{
    char name[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
    struct peer p;
    CURLM *multi = NULL;
    CURL *e = NULL;
    int rc = -1;

    memset(&p, 0, sizeof(p));
    p.listener = -1;
    p.fd = -1;
    p.message = out;
    buf_init(&p.in);
    buf_init(&p.out);
    if (peer_listen(&p, name, sizeof(name), err) == 0) {
        multi = curl_multi_init();
        e = curl_easy_init();
        if (multi == NULL || e == NULL)
            errf(err, "preview: cannot create the libcurl handles");
        else
            rc = capture_with(m, multi, e, &p, name, err);
    }
    /* The peer goes first so that libcurl's QUIT at cleanup fails at once. */
    peer_close(&p);
    if (e != NULL)
        curl_easy_cleanup(e);
    if (multi != NULL)
        curl_multi_cleanup(multi);
    return rc;
}
