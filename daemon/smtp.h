/*
 * smtp.h - the transport: delivers messages over SMTP through libcurl.
 *
 * config->connections connections, each driven by its own worker thread
 * with its own libcurl easy handle: libcurl blocks inside an SMTP transfer
 * (for the reply to the final "." and to QUIT), so a slow or stalled
 * connection holds up only its own message, never the others or the
 * daemon's loop (watchdog keep-alives, signals, recording outcomes).  Each
 * connection stays open across messages and is closed after idle_timeout.
 * The outcome of every transfer is classified here, where SMTP is
 * understood: the daemon only maps it to a state change.
 *
 * Only the thread that opened the transport calls these functions.
 */
#ifndef REPORTD_SMTP_H
#define REPORTD_SMTP_H

#include <stdint.h>

#include <curl/curl.h>

#include "config.h"
#include "message.h"
#include "smtp_mime.h"
#include "smtp_reply.h"
#include "util.h"

struct smtp_result {
    int64_t signup_id;
    void *cookie; /* what smtp_submit was given */
    enum smtp_status status;
    long code; /* the SMTP reply code, 0 when none */
    /* The server's last reply line, verbatim; on a failure only when it is the refusal. */
    char reply[SMTP_REPLY_MAX];
    char detail[ERRLEN]; /* libcurl's explanation when no reply explains it */
    /* What the queue records: the refusal, or what failed and after which command. */
    char reason[ERRLEN];
    /*
     * The data went out but no final reply came (a timeout or a drop after
     * DATA's 354): the relay may have taken the message.
     */
    int uncertain;
    int64_t elapsed_ms;
    int64_t finished_us; /* monotonic_us() when the transfer ended, on its worker */
};

struct smtp;

/* Reads the password (password_file, $CREDENTIALS_DIRECTORY) now.  -1 with err. */
int smtp_open(struct smtp **sp, const struct config *c, char *err);
void smtp_free(struct smtp *s);

/*
 * Builds a message submitted unbuilt, on the worker about to send it, so
 * that rendering runs beside the other connections rather than ahead of
 * them on the caller's thread: fills *m for cookie and returns 0, or
 * returns -1 and the transfer ends as SMTP_NOT_BUILT without a word to the
 * relay.  It runs on several workers at once: it may only read arg, and
 * write what cookie alone owns.
 */
typedef int (*smtp_build_fn)(void *arg, void *cookie, struct message *m);
void smtp_set_builder(struct smtp *s, smtp_build_fn fn, void *arg);

/* How many more messages can be submitted now. */
int smtp_free_slots(struct smtp *s);
/*
 * Connections with nothing to do and nothing waiting for them: a message
 * submitted now starts at once.
 */
int smtp_idle_connections(struct smtp *s);
/*
 * Hands m to the connections (m must live until its result is reported).
 * It starts at once on an idle connection, or waits for the next to come
 * free: at most one message per connection waits, so a connection that
 * finishes starts its next without a round trip through the caller.  With
 * built 0 the builder fills m on that connection's worker first.  A message
 * no connection has started by start_by_ms (monotonic; 0: no limit) ends as
 * SMTP_NOT_STARTED, unsent.
 */
int smtp_submit(struct smtp *s, struct message *m, void *cookie, int built, int64_t start_by_ms,
                char *err);
/*
 * Takes back every submitted message no connection has started (for a stop,
 * a pause or a reload): withdrawn(arg, cookie) for each, oldest first, on the
 * caller's thread.  Returns how many.  After a transfer that concerns the
 * whole sender (SMTP_THROTTLE, SMTP_UNREACHABLE, SMTP_CONFIG) no waiting
 * message starts until the caller withdraws them or submits another.
 */
typedef void (*smtp_withdrawn_fn)(void *arg, void *cookie);
int smtp_withdraw(struct smtp *s, smtp_withdrawn_fn withdrawn, void *arg);
/* Submitted messages no connection has started yet. */
int smtp_waiting(struct smtp *s);
/* Finished transfers whose results smtp_poll() has not yet reported. */
int smtp_uncollected(struct smtp *s);
/* Messages in the transport: waiting, being sent, or finished with results not yet collected. */
int smtp_in_flight(struct smtp *s);
/*
 * Readable when results are worth collecting at once, for a caller's own
 * poll(); a slow transfer's result waits for the caller's next look.
 */
int smtp_fd(const struct smtp *s);
/* Cuts the connections of every transfer in flight: each ends at once, its outcome unknown. */
void smtp_abort(struct smtp *s);

/*
 * A finished transfer's result waits at most this long to be reported with
 * others: while messages still wait for the connections, results are
 * reported in batches of half the connections, so that their outcomes take
 * one commit.
 */
#define SMTP_BATCH_WAIT_MS 20
/*
 * A transfer that took this long wakes no one while its connection has a
 * next message: the caller's look, at most SMTP_BATCH_WAIT_MS away, collects
 * its result long before that next message can be done.
 */
#define SMTP_SLOW_TRANSFER_MS (2L * SMTP_BATCH_WAIT_MS)

/*
 * How long the caller may wait before its next smtp_poll() while anything
 * is in flight: until the oldest uncollected result has waited
 * SMTP_BATCH_WAIT_MS, or that long when none has come in yet (one may come
 * in without a wake-up).
 */
int smtp_wait_limit_ms(struct smtp *s);

/*
 * Waits up to timeout_ms for finished transfers and calls done() for each,
 * on the caller's thread; returns at once when nothing is in flight.  A
 * transfer that outlives its own timeout by far (stuck where libcurl has
 * none) has its connection cut here.  Returns 0, or -1 with err.
 */
typedef void (*smtp_done_fn)(void *arg, const struct smtp_result *r);
int smtp_poll(struct smtp *s, int timeout_ms, smtp_done_fn done, void *arg, char *err);

/*
 * With force, closes every idle connection now (with QUIT, on its worker);
 * without, nothing: each worker closes its own after idle_timeout.
 */
void smtp_close_idle(struct smtp *s, int force);

#endif
