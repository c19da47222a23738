/*
 * queue.h - the signup queue: a database that websites insert into and
 * reportd works through, a SQLite file (queue.path) or a PostgreSQL
 * database (queue.url).  Callers do not know which: both backends keep the
 * same table, states and rules (see queue_backend.h for the seam).
 *
 * Each backend creates and migrates its schema itself.  Producers
 * own the columns they insert (see README, "Producer contract"); every other
 * column belongs to reportd.  A signup's state changes in exactly one place,
 * queue_transition(), which records the change in the history table and logs
 * it, so every transition is visible and tested.
 */
#ifndef REPORTD_QUEUE_H
#define REPORTD_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "signup.h"
#include "util.h"

/* Producers and the daemon share the file; wait this long for a lock. */
#define QUEUE_BUSY_TIMEOUT_MS 5000
/* Opening a file another process is still setting up is retried this often. */
#define QUEUE_OPEN_RETRY_MS 20
/* The most signups one claim takes, whatever the config asks. */
#define QUEUE_MAX_BATCH 1000
/*
 * Signups scrubbed per transaction: each batch is a few milliseconds of
 * write lock, so a website's INSERT never waits behind a long sweep.
 */
#define QUEUE_SCRUB_BATCH 100
/* The periodic sweep runs at most this often per open queue. */
#define QUEUE_SCRUB_INTERVAL_MS 60000

enum signup_state {
    SIGNUP_QUEUED,   /* waiting for an attempt, due at next_attempt */
    SIGNUP_SENDING,  /* claimed by a daemon (claimed_by, claim_until) */
    SIGNUP_DEFERRED, /* a temporary failure; next attempt at next_attempt */
    SIGNUP_HELD,     /* put aside by an operator */
    SIGNUP_SENT,     /* delivered: sent_at, message_id, last_reply */
    SIGNUP_FAILED,   /* permanent failure or expired: reason */
    SIGNUP_REJECTED, /* invalid or duplicate input: reason */
    SIGNUP_NSTATES
};

const char *signup_state_name(enum signup_state st);
int signup_state_parse(const char *name, enum signup_state *st);

/* A signup as stored, with reportd's bookkeeping. */
struct signup_record {
    struct signup signup;
    /*
     * Set when a producer's row cannot even be read into a signup (tasks not
     * JSON, years not a number): "tasks: not a JSON array".  The daemon
     * rejects such a row with this reason.
     */
    char *load_error;
    enum signup_state state;
    int attempts;
    int64_t updated_ms;
    int64_t next_attempt_ms; /* when queued or deferred: due from then on */
    /*
     * When an operator last put it back in the queue (released, retried),
     * 0 never.  The daemon measures a signup's queue lifetime from the later
     * of signup.created_ms and this.
     */
    int64_t requeued_ms;
    int64_t sent_ms;
    char *message_id;
    char *last_reply; /* the server's last reply, verbatim */
    char *reason;     /* why it was deferred, failed or rejected */
    char *claimed_by; /* "host:pid:start" (see queue_recover) */
    int64_t claim_until_ms;
    /* When the current claim's message started to go out; 0 not yet (see queue_mark_attempt). */
    int64_t attempt_started_ms;
    /*
     * When its personal data was scrubbed (retention or purge), 0 never.  A
     * scrubbed signup has an empty email, no name, tasks, skills or years;
     * email_hash stands in for the address.
     */
    int64_t scrubbed_ms;
    char *email_hash; /* HMAC-SHA-256 of email_key(), hex; NULL unless scrubbed */
};

void signup_record_free(struct signup_record *r);

struct queue;

enum queue_open_status {
    QUEUE_OPEN_OK = 0,
    QUEUE_OPEN_ERROR = -1, /* cannot create, open, configure or migrate: err says why */
    /*
     * The file cannot be written (its mode, its owner, a read-only mount):
     * SQLite would silently open it read-only, and every later write would
     * fail.  err names the file and the cause.
     */
    QUEUE_OPEN_READ_ONLY = -2,
};

/* Where the queue is: exactly one of path and url. */
struct queue_place {
    const char *path; /* a SQLite file */
    const char *url;  /* a PostgreSQL libpq URI */
    const char
        *password_file; /* for url: its password (a path, or a name in $CREDENTIALS_DIRECTORY) */
};

/* What messages call the place: its file, or its URL unless a password is in it. */
const char *queue_place_name(const struct queue_place *pl);

/*
 * The queue's libraries' process-wide settings: once, before any queue is
 * opened or any thread started (SQLite's rule, as curl_global_init is
 * libcurl's).  Without it the queue works, a little slower.
 */
void queue_global_init(void);

/* queue_open() and queue_open_readonly() at a place of either kind. */
int queue_open_at(struct queue **qp, const struct queue_place *pl, char *err);
int queue_open_readonly_at(struct queue **qp, const struct queue_place *pl, char *err);

/*
 * Opens the database for writing, creating and migrating it.  Returns an
 * enum queue_open_status: anything but QUEUE_OPEN_OK is a failure.
 */
int queue_open(struct queue **qp, const char *path, char *err);
/*
 * Opens an existing database only to read it (status, list, show,
 * preview): never writes, never migrates, never takes the write lock, so it
 * works while another process holds a long write.  A missing file, or one
 * whose schema is older or newer than this reportd's, is refused (-1, err
 * says to start the daemon, which migrates it).
 */
int queue_open_readonly(struct queue **qp, const char *path, char *err);
void queue_close(struct queue *q);
/* The queue's name in messages: its file, or its URL (unless a password is in it). */
const char *queue_path(const struct queue *q);

/* --- producer side ------------------------------------------------------ */

enum enqueue_result {
    ENQUEUE_ADDED,
    ENQUEUE_DUPLICATE, /* the address is already queued, in flight or sent */
};

/*
 * Queues n already-validated signups in one transaction (all or nothing).
 * ids[i] gets the new id, or the existing signup's id for a duplicate;
 * a duplicate inside the batch counts as a duplicate too.  Between
 * queue_enqueue_begin() and queue_enqueue_commit() it joins that
 * transaction instead (a file in batches): on -1 the caller rolls back.
 */
int queue_enqueue(struct queue *q, const struct signup *s, size_t n, int64_t *ids,
                  enum enqueue_result *res, char *err);
/*
 * One write transaction over several queue_enqueue() calls.  Its signups
 * are not logged one by one (a long file would hold a line each until the
 * commit); the caller logs the count once queue_enqueue_commit() succeeds.
 */
int queue_enqueue_begin(struct queue *q, char *err);
int queue_enqueue_commit(struct queue *q, char *err);
void queue_enqueue_rollback(struct queue *q);

/* --- reading ------------------------------------------------------------ */

/* 0 found, 1 no such signup, -1 error. */
int queue_get(struct queue *q, int64_t id, struct signup_record *r, char *err);
/*
 * The newest signup for an address (compared as email_key(), or by its keyed
 * hash once scrubbed): 0, 1 none, -1.
 */
int queue_find_email(struct queue *q, const char *email, int64_t *id, char *err);

struct queue_stats {
    int64_t count[SIGNUP_NSTATES];
    int64_t oldest_waiting_ms; /* created time of the oldest queued/deferred; 0 none */
    int64_t last_error_id;     /* 0 when nothing ever failed */
    int64_t last_error_ms;
    char last_error[ERRLEN];
    int64_t uncertain; /* held because their outcome is unknown */
};

int queue_stats(struct queue *q, struct queue_stats *st, char *err);

/*
 * Upper bounds of the delivery latency histogram (created_at to sent_at), in
 * milliseconds: an idle daemon sends within about 10 ms of the insert, a
 * busy or rate-limited one within seconds to minutes, and retries back off to
 * hours within a lifetime of days.
 */
#define QUEUE_LATENCY_BUCKETS 12
#define QUEUE_LATENCY_BOUNDS_MS                                                                    \
    {                                                                                              \
        10, 50, 250, 1000, 5000, 30000, 120000, 600000, 3600000, 21600000, 86400000, 604800000     \
    }
/* Reply codes are three digits from 100 to 599; the array is indexed by the code. */
#define QUEUE_REPLY_CODES 600

/*
 * What metrics report, read in one snapshot.  Counts from history shrink
 * only when a signup is purged.
 */
struct queue_metrics {
    int64_t count[SIGNUP_NSTATES];
    int64_t oldest_waiting_ms; /* created time of the oldest queued/deferred; 0 none */
    int64_t attempts;          /* delivery attempts of all signups (their attempts column) */
    /* How claims ended: history moves out of sending, by the state they went to. */
    int64_t outcomes[SIGNUP_NSTATES];
    /* Signups by the code their relay's last reply began with; [0]: no code. */
    int64_t last_reply[QUEUE_REPLY_CODES];
    /* Sent signups whose latency was at most bound i (cumulative, as Prometheus counts). */
    int64_t latency_le[QUEUE_LATENCY_BUCKETS];
    int64_t latency_count; /* sent signups */
    int64_t latency_sum_ms;
    int64_t last_sent_ms; /* 0 never */
};

int queue_metrics(struct queue *q, struct queue_metrics *m, char *err);

/* Calls fn for each signup (all states when state < 0), oldest first; fn != 0 stops. */
typedef int (*queue_list_fn)(void *arg, const struct signup_record *r);
int queue_list(struct queue *q, int state, queue_list_fn fn, void *arg, char *err);

struct queue_event {
    int64_t at_ms;
    int has_from; /* the first event (creation) has no from state */
    enum signup_state from;
    enum signup_state to;
    const char *detail;
};

typedef int (*queue_event_fn)(void *arg, const struct queue_event *ev);
int queue_history(struct queue *q, int64_t id, queue_event_fn fn, void *arg, char *err);

/* --- state changes ------------------------------------------------------ */

/* next_attempt_ms: due as it was, keeping its place in line (a claim handed back untried). */
#define TRANSITION_KEEP_DUE (-1)

/*
 * What a transition records besides the new state; unset fields stay as they
 * are.  A move into queued from failed, held or deferred (an operator's
 * release or retry) also sets requeued_ms to the time of the move.
 */
struct transition {
    const char *detail;     /* for the history and the log: why */
    const char *reason;     /* stored as reason (deferred, failed, rejected) */
    const char *reply;      /* the server's reply, stored as last_reply */
    const char *message_id; /* stored when sent */
    /* When moving to queued or deferred: when it is due; 0 = now; or TRANSITION_KEEP_DUE. */
    int64_t next_attempt_ms;
    int count_attempt;      /* 1 when this ends a delivery attempt */
    const char *claimed_by; /* when claiming */
    int64_t claim_until_ms;
    /* When moving out of sending: only if claimed_by is this owner (NULL: whoever holds it). */
    const char *owner;
};

/*
 * The one function that changes a signup's state: from -> to, only if the
 * signup is still in from (so two processes never both move it) and, out of
 * sending with t->owner set, still claimed by that owner.  Refuses
 * transitions the state machine does not have.  Returns 0, 1 when the
 * signup was not in from or not held by t->owner (someone else moved or
 * took it), -1 on error.  The log line ("id=N from=X to=Y detail=...") is
 * written once the change is committed.
 */
int queue_transition(struct queue *q, int64_t id, enum signup_state from, enum signup_state to,
                     const struct transition *t, char *err);

/* One state change of a batch (see queue_transitions). */
struct queue_change {
    int64_t id;
    enum signup_state from, to;
    const struct transition *t;
    int result; /* set by queue_transitions: 0 changed, 1 not in from or not t->owner's */
};

/*
 * Makes n changes as queue_transition() would, in one transaction: each
 * gets its result, and all commit or none does.  0, or -1 with err (nothing
 * changed).  One commit for many outcomes is what lets the daemon keep up
 * with several fast connections.
 */
int queue_transitions(struct queue *q, struct queue_change *v, size_t n, char *err);

/* --- daemon side -------------------------------------------------------- */

/*
 * A signup whose message may have gone out but whose outcome was never
 * recorded (its sender died after the data started, or the relay went
 * silent after the final ".") is uncertain; queue.uncertain decides.
 */
enum uncertain_policy {
    UNCERTAIN_RESEND, /* sent again, with the same Message-ID: at least once */
    UNCERTAIN_HOLD,   /* held for the operator: at most once */
};

/* The reason an uncertain signup is held or resent with; status counts held ones by it. */
#define QUEUE_UNCERTAIN_REASON "outcome unknown after a crash"
#define QUEUE_UNCERTAIN_PREFIX "outcome unknown"

/*
 * Claims up to max due signups (queued or deferred, next_attempt_ms <= now_ms)
 * for owner until now_ms + lease_ms, in one transaction, oldest due first.
 * For each candidate: when another signup for the same address (compared as
 * email_key()) was sent, it is rejected as a duplicate ("duplicate: address
 * already has signup N") rather than returned; else when one with a smaller
 * id is queued, deferred or held, or any other is sending, it is skipped (left
 * queued, decided after that one settles); else it is claimed.  Skipped and rejected signups
 * do not count towards max.  *out is an array of *n records.
 */
int queue_claim(struct queue *q, const char *owner, int64_t now_ms, int64_t lease_ms, int max,
                struct signup_record **out, size_t *n, char *err);
void queue_claim_free(struct signup_record *v, size_t n);

/*
 * Whether a claim or a recovery could find anything at now_ms: a signup due,
 * or one in sending.  A read, without the write lock: what an idle daemon
 * asks before it takes the lock.  1, 0, or -1 with err.  With 0,
 * *next_due_ms is when the earliest waiting signup falls due (INT64_MAX
 * when none waits), so that the daemon can sleep until then.
 */
int queue_has_work(struct queue *q, int64_t now_ms, int64_t *next_due_ms, char *err);

/*
 * Marks the start of a claimed signup's delivery attempt, committed before
 * any of its data goes out: a claim recovered with this mark is uncertain.
 * 0 marked, 1 no longer claimed by owner, -1 error.
 */
int queue_mark_attempt(struct queue *q, int64_t id, const char *owner, int64_t now_ms, char *err);
/*
 * Marks n attempts as queue_mark_attempt() would, in one transaction:
 * result[i] is 0 or 1 for ids[i].  0, or -1 with err (nothing marked).
 */
int queue_mark_attempts(struct queue *q, const int64_t *ids, int *result, size_t n,
                        const char *owner, int64_t now_ms, char *err);

/*
 * Takes back claims nobody is working on any more.  An owner on this host
 * ("host:pid:start") is asked directly: its claims are taken back at once
 * when that process is gone, and never while it lives, whatever the clocks
 * say.  An owner on another host is trusted until its lease (wall clock)
 * runs out.  A claim taken back without an attempt mark returns to queued
 * (or deferred, due now, when attempted before); one with a mark is
 * uncertain: deferred, due now and counted as an attempt (resend), or held
 * with QUEUE_UNCERTAIN_REASON (hold).  *n gets the number taken back.
 */
int queue_recover(struct queue *q, const char *host, int64_t now_ms, enum uncertain_policy policy,
                  int *n, char *err);

enum purge_result {
    PURGE_DELETED,   /* never sent: the signup and its history are gone */
    PURGE_NONE,      /* no such signup */
    PURGE_IN_FLIGHT, /* being sent under a live claim; err says so too */
    PURGE_SCRUBBED,  /* sent: personal data scrubbed, the proof of delivery kept */
};

/*
 * Deletes a subscriber's personal data at once, unless the signup is being
 * sent under a live claim (one whose lease ran out does not count).  A
 * signup that was sent is scrubbed (see queue_scrub_expired), so that its
 * address still counts as served; any other is deleted with its history.
 * Returns an enum purge_result, or -1 on error.
 */
int queue_purge(struct queue *q, int64_t id, char *err);

/* --- retention ---------------------------------------------------------- */

/*
 * Scrubs the personal data of settled signups (sent, failed, rejected) that
 * settled at least retention_ms before now_ms: the address, name, tasks,
 * skills and years are deleted, and the address in reasons, replies and
 * history details is replaced.  What proves delivery stays: the keyed hash
 * of the address (so one report per address still holds, for enqueue and
 * for the claim), the Message-ID, the times, the server's reply and the
 * state.  Works in transactions of QUEUE_SCRUB_BATCH signups.  Runs at most
 * once per QUEUE_SCRUB_INTERVAL_MS of now_ms on one open queue, so the daemon
 * may call it every round: a sooner call (not one with an earlier now_ms,
 * after the clock was set back) returns 0 at once.  retention_ms 0 keeps
 * everything.  *n gets the number scrubbed.
 */
int queue_scrub_expired(struct queue *q, int64_t now_ms, int64_t retention_ms, int *n, char *err);

/* --- moving a queue ----------------------------------------------------- */

/*
 * Copies every signup of from, with its state, bookkeeping and history, into
 * the empty PostgreSQL queue at to, in one transaction on each side: from's
 * write lock is held throughout, so nothing changes it meanwhile.  Refused
 * (-1, err says why) while a signup of from is being sent (a daemon holds
 * claims: stop it first) or when to already has signups.  *n gets the
 * number copied.  A row whose lists could not be read is copied with empty
 * lists (it is rejected, or will be, for that reason anyway).
 */
int queue_copy(struct queue *from, const struct queue_place *to, int64_t *n, char *err);

#endif
