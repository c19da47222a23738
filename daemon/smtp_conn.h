/*
 * smtp_conn.h - one SMTP connection of the transport (smtp.c): a libcurl
 * easy handle kept open across messages and driven by one worker thread,
 * with its sockets tracked so that another thread can cut them.  Not part
 * of the transport's interface (smtp.h).
 */
#ifndef REPORTD_SMTP_CONN_H
#define REPORTD_SMTP_CONN_H

#include <pthread.h>
#include <stdint.h>

#include <curl/curl.h>

#include "config.h"
#include "message.h"
#include "smtp.h"
#include "smtp_mime.h"
#include "smtp_reply.h"

/* Happy eyeballs may open an IPv6 and an IPv4 socket for one connection. */
#define SMTP_CONN_MAX_SOCKETS 4

/* What every connection of a transport shares, read-only once loaded. */
struct smtp_settings {
    char *url;
    enum tls_mode tls;
    char *ca_file;
    char *username;
    char *password;
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    int64_t idle_timeout_ms;
};

/* Copies the relay's settings and reads the password (password_file, $CREDENTIALS_DIRECTORY). */
int smtp_settings_load(struct smtp_settings *set, const struct config *cfg, char *err);
/* Frees them, the password wiped first. */
void smtp_settings_free(struct smtp_settings *set);

/*
 * Fields marked (lock) are shared with other threads under *lock; the rest
 * belong to the thread that sends.
 */
struct smtp_conn {
    const struct smtp_settings *set;
    pthread_mutex_t *lock;
    curl_socket_t fds[SMTP_CONN_MAX_SOCKETS]; /* (lock) open sockets, for smtp_conn_cut() */
    int aborted;                              /* (lock) cut while a transfer ran */

    CURL *easy;
    int connected;       /* a connection may be open */
    int64_t last_use_ms; /* monotonic, when the last transfer ended */
    struct smtp_mime attached;
    char errbuf[CURL_ERROR_SIZE];
    struct reply_track track;
    int no_auth; /* cut: a username is configured and the relay offered no AUTH */
};

/* A handle set up for the relay; no connection is opened yet.  -1 with err. */
int smtp_conn_init(struct smtp_conn *c, const struct smtp_settings *set, pthread_mutex_t *lock,
                   char *err);
/* Says QUIT on an open connection and frees the handle. */
void smtp_conn_free(struct smtp_conn *c);
/* Sends m, opening a connection when none is open, and describes the outcome in r. */
void smtp_conn_send(struct smtp_conn *c, const struct message *m, void *cookie, int64_t started_ms,
                    struct smtp_result *r);
/* Says QUIT and keeps a fresh handle: the next message opens a new connection. */
void smtp_conn_close(struct smtp_conn *c);
/* Whether an open connection has been idle for smtp.idle_timeout at now_ms (monotonic). */
int smtp_conn_idle_expired(const struct smtp_conn *c, int64_t now_ms);
/* Under *lock, from any thread: the sending thread's next read or write fails at once. */
void smtp_conn_cut(struct smtp_conn *c);

#endif
