/*
 * jobs.h - a claimed signup on its way through the daemon: rendered into a
 * message, sent, and its outcome kept until the queue has recorded it.
 *
 * A job is in exactly one place at a time: the daemon's waiting line
 * (claimed, not yet sent), a connection (being sent), or the unrecorded
 * line (its outcome known, not yet written to the queue).  Outcomes are
 * never dropped: a job leaves the unrecorded line only when the queue has
 * the outcome, or when the signup turned out not to be ours any more.
 */
#ifndef REPORTD_JOBS_H
#define REPORTD_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "message.h"
#include "queue.h"
#include "runtime.h"
#include "smtp.h"

/* What an outcome counts as in the daemon's totals. */
enum job_tally {
    TALLY_NONE, /* handed back untried: no progress */
    TALLY_SENT,
    TALLY_DEFERRED,
    TALLY_FAILED,
    TALLY_REJECTED,
    TALLY_HELD, /* uncertain, held for an operator */
};

struct job {
    struct job *next;
    struct signup_record rec;
    struct message msg;
    int built; /* msg holds a message */
    /* Written by whichever thread builds the message (delivery_build). */
    enum render_result render;
    char render_error[ERRLEN];
    int64_t claim_end_mono; /* the claim's lease, on the monotonic clock */

    /* The outcome, once known, until recorded. */
    int64_t outcome_us; /* monotonic, when its transfer ended (0: never sent) */
    enum signup_state to;
    enum job_tally tally;
    struct transition t;
    char detail[ERRLEN + 64];
    char reason[ERRLEN + 64];
    char reply[SMTP_REPLY_MAX];
};

struct job_line {
    struct job *head, *tail;
    size_t n;
};

void job_line_push(struct job_line *l, struct job *j);
/* Puts j first: it keeps its place in line. */
void job_line_push_front(struct job_line *l, struct job *j);
struct job *job_line_pop(struct job_line *l);
/* Takes out the job after prev (the first when prev is NULL); NULL when there is none. */
struct job *job_line_take(struct job_line *l, struct job *prev);

/* A job for a claimed record, which it takes over (r is left empty).  NULL when out of memory. */
struct job *job_new(struct signup_record *r, int64_t claim_end_mono);
void job_free(struct job *j);

/*
 * Sets j's outcome: to, why (history detail), and optionally the reason
 * and reply to store.  Strings are copied into the job.
 */
void job_settle(struct job *j, enum signup_state to, enum job_tally tally, const char *detail,
                const char *reason, const char *reply);

#endif
