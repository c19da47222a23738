/*
 * smtp.h - the transport: delivers messages over SMTP through libcurl.
 *
 * A pool of up to config->connections easy handles driven by one multi
 * handle, so several messages can be in flight while the daemon's loop keeps
 * running (watchdog keep-alives, signals).  Each handle keeps its connection
 * open across messages while there is work; smtp_close_idle() closes them.
 * The outcome of every transfer is classified here, where SMTP is understood:
 * the daemon only maps it to a state change.
 */
#ifndef REPORTD_SMTP_H
#define REPORTD_SMTP_H

#include <stdint.h>

#include <curl/curl.h>

#include "config.h"
#include "message.h"
#include "util.h"

/* Long enough for any SMTP reply line we keep (RFC 5321 says 512). */
#define SMTP_REPLY_MAX 512

enum smtp_status {
    SMTP_SENT,     /* 2xx after DATA */
    SMTP_DEFER,    /* connection failure, timeout, 4xx: try again later */
    SMTP_FAIL,     /* 5xx: permanent */
    SMTP_THROTTLE, /* the relay asks the whole sender to slow down (421/450/451/454 rate wording) */
    SMTP_CONFIG,   /* authentication or TLS problem: ours to fix, not the signup's */
};

struct smtp_result {
    int64_t signup_id;
    void *cookie; /* what smtp_submit was given */
    enum smtp_status status;
    long code;                  /* the SMTP reply code, 0 when none */
    char reply[SMTP_REPLY_MAX]; /* the server's last reply line, verbatim */
    char detail[ERRLEN];        /* libcurl's explanation when no reply explains it */
    int64_t elapsed_ms;
};

struct smtp;

/* Reads the password (password_file, $CREDENTIALS_DIRECTORY) now.  -1 with err. */
int smtp_open(struct smtp **sp, const struct config *c, char *err);
void smtp_free(struct smtp *s);

/* How many more messages can be submitted now. */
int smtp_free_slots(const struct smtp *s);
/* Starts delivering m (which must live until its result is reported). */
int smtp_submit(struct smtp *s, const struct message *m, void *cookie, char *err);
/* Transfers in flight. */
int smtp_in_flight(const struct smtp *s);

/*
 * Drives the transfers for up to timeout_ms, calling done() for each that
 * finished; returns at once when nothing is in flight.  libcurl 7.88 waits
 * for the reply to the final "." (and to a QUIT after a refusal) inside
 * this call, so it can take up to config->timeout_ms.  Returns 0, or -1
 * with err on a libcurl failure.
 */
typedef void (*smtp_done_fn)(void *arg, const struct smtp_result *r);
int smtp_poll(struct smtp *s, int timeout_ms, smtp_done_fn done, void *arg, char *err);

/* Closes connections unused for idle_timeout (or all, when force). */
void smtp_close_idle(struct smtp *s, int force);

/*
 * The classification of one finished transfer, pure so it can be tested:
 * libcurl's result, the last reply code (0 when none), the last reply line
 * and the command it answered ("" for the greeting, "AUTH", "MAIL", ...).
 */
enum smtp_status smtp_classify(CURLcode rc, long code, const char *reply, const char *command);

#endif
