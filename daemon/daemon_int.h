/*
 * daemon_int.h - the state of `reportd run` shared by daemon.c (the loop,
 * signals, stop and reload), daemon_send.c (the daemon's side of the
 * transport) and daemon_queue.c (the daemon's side of the queue).  Internal
 * to those three files.
 */
#ifndef REPORTD_DAEMON_INT_H
#define REPORTD_DAEMON_INT_H

#include <signal.h>
#include <stdint.h>

#include "delivery.h"
#include "jobs.h"
#include "metrics_file.h"
#include "queue.h"
#include "runtime.h"
#include "smtp.h"
#include "wake.h"

/* Host names are at most 255 bytes (HOST_NAME_MAX on Linux is 64). */
#define HOST_MAX 256
/* "hostname:pid:start" */
#define OWNER_MAX (HOST_MAX + 64)

struct daemon {
    struct runtime *rt;
    const char *config_path;
    struct queue *q;    /* NULL while it cannot be opened */
    struct wake *wake;  /* NULL when inotify is not available: polling only */
    int woken;          /* the queue changed since the last claim */
    sigset_t wait_mask; /* the signal mask inside the wait: ours unblocked */
    struct smtp *smtp;
    struct delivery dl;
    char host[HOST_MAX];
    char owner[OWNER_MAX];
    int drain;
    int verbose; /* -v: debug logging whatever the config says */

    struct job_line waiting;    /* claimed, not yet sent */
    struct job_line unrecorded; /* outcome known, not yet in the queue */
    int in_flight;              /* jobs on a connection */

    int64_t watchdog_ms;      /* keep-alive interval, 0 without a watchdog */
    int64_t last_watchdog_ms; /* monotonic */
    int64_t next_recover_ms;  /* monotonic */
    /* Monotonic: when an idle daemon that found nothing due looks again, unless woken first. */
    int64_t next_claim_ms;
    int rechecks; /* looks since the last wake-up that found nothing */
    int due_soon; /* a drain found nothing due yet something falls due in a moment */
    /* Wall clock: when the earliest waiting signup falls due (SCHEDULE_NEVER, SCHEDULE_WATCH). */
    int64_t next_due_ms;
    /* The queue could not be written: nothing new until write_retry_ms (monotonic). */
    int write_failures;
    int64_t write_retry_ms;
    char write_error[ERRLEN]; /* the last one logged */
    int64_t stop_deadline_ms; /* monotonic, once SIGTERM arrived; 0 before */
    int aborted;              /* the stop cut the connections still in flight */

    unsigned long sent, deferred, failed, rejected, held;
    struct metrics_writer metrics; /* metrics.path, rewritten every METRICS_INTERVAL_MS */
};

/* systemd's STATUS= line: the totals, and whether sending is stopped. */
void daemon_update_status(struct daemon *d);

/*
 * The daemon's side of the queue (daemon_queue.c).  A failed write closes
 * the queue (a read-only open is mended only by a new one) and stops new
 * sends until daemon_queue_ready() opens it again.
 */
void daemon_queue_failed(struct daemon *d, const char *what, const char *err);
void daemon_queue_mended(struct daemon *d);
/* 0 with the queue open, -1 when it cannot be opened now. */
int daemon_queue_ready(struct daemon *d);
/* Records every known outcome, in order, stopping at the first the queue cannot take. */
void daemon_record_outcomes(struct daemon *d);
/* Hands back every job not yet on a connection: the waiting line and those waiting in the
 * transport. */
void daemon_hand_back_waiting(struct daemon *d, const char *why, int64_t when_ms);
/* Claims due signups into the waiting line.  Returns how many, or -1 when the queue failed. */
int daemon_claim(struct daemon *d);

/*
 * The daemon's side of the transport (daemon_send.c).  Whether the transport
 * takes the next waiting job now: an idle connection takes it as it is (and
 * renders it); while every connection is busy, jobs rendered ahead may wait
 * for the next to come free, once as many are rendered as there is room for.
 */
int daemon_transport_ready(struct daemon *d);
/* Sends what daemon_transport_ready() allowed: marked in one commit, then handed over. */
void daemon_send_next(struct daemon *d);
/* Renders the next waiting job ahead while the connections are busy.  1 when it did work. */
int daemon_build_ahead(struct daemon *d);

#endif
