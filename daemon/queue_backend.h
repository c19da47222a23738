/*
 * queue_backend.h - the seam between the queue's backend-neutral half
 * (queue.c: the state machine, claims and recovery rules, retention and
 * purge decisions, the committed-change log; queue_codec.c: the row codec)
 * and a storage backend (queue_sqlite.c, queue_pg.c), in the manner of
 * OpenSMTPD's queue_backend.c.  A backend only stores, claims and reads:
 * it runs its own SQL and hands rows back in the neutral shapes below.
 * Nothing outside queue*.c includes this file.
 */
#ifndef REPORTD_QUEUE_BACKEND_H
#define REPORTD_QUEUE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "queue.h"
#include "sha256.h"

/*
 * The keyed address hash is HMAC-SHA-256 with a random key of this many bytes
 * (the hash's own size: a longer key adds nothing), made once per database.
 */
#define QUEUE_HASH_KEY_LEN 32
/* What a scrubbed address is replaced by in reasons, replies and history details. */
#define QUEUE_ADDRESS_PLACEHOLDER "(address)"

struct queue_ops;

/* The open queue: what every backend shares, and the backend's own state. */
struct queue {
    const struct queue_ops *ops;
    void *be;   /* the backend's connection and statements */
    char *name; /* for messages: the file, or the URL without any password */
    /*
     * Log lines of changes made in the open transaction, each ended by a NUL:
     * written when it commits, dropped when it rolls back, so the log never
     * tells of a change the database does not have.
     */
    struct buf pending;
    unsigned char hash_key[QUEUE_HASH_KEY_LEN];
    int has_hash_key;
    int64_t last_scrub_ms; /* when the retention sweep last ran on this handle, 0 never */
};

/* A due signup as the claim sees it. */
struct queue_due {
    int64_t id;
    enum signup_state state;
    int64_t sent_id; /* a signup already sent to the address, 0 none */
};

/* A signup in sending, as recovery sees it. */
struct queue_claim {
    int64_t id;
    int attempts;
    char *owner; /* NULL when the row has none */
    int has_until;
    int64_t until;
    int attempted; /* the attempt mark is set: its message may have gone out */
};

struct queue_scrub_row {
    int64_t id;
    char *email; /* as text; "" for NULL */
    enum signup_state state;
};

struct queue_purge_target {
    enum signup_state state;
    int64_t claim_until;
    int64_t scrubbed;
    char *email; /* "" for NULL */
};

/* --- the row codec's neutral cell (queue_codec.c) ------------------------- */

enum queue_cell_type { CELL_NULL, CELL_INT, CELL_REAL, CELL_TEXT, CELL_OTHER };

/* One column of a row as a backend read it; text is not NUL-checked (len is its length). */
struct queue_cell {
    enum queue_cell_type type;
    const char *text;
    size_t len;
    int64_t i;
    double d;
};

/* The columns of a signup row, in this order (see queue_codec.c). */
enum queue_column {
    QCOL_ID,
    QCOL_EMAIL,
    QCOL_NAME,
    QCOL_ROLE,
    QCOL_LEVEL,
    QCOL_YEARS,
    QCOL_CREATED,
    QCOL_STATE,
    QCOL_ATTEMPTS,
    QCOL_NEXT_ATTEMPT,
    QCOL_UPDATED,
    QCOL_SENT,
    QCOL_MESSAGE_ID,
    QCOL_LAST_REPLY,
    QCOL_REASON,
    QCOL_CLAIMED_BY,
    QCOL_CLAIM_UNTIL,
    QCOL_REQUEUED,
    QCOL_ATTEMPT_STARTED,
    QCOL_SCRUBBED,
    QCOL_EMAIL_HASH,
    QCOL_COUNT
};

/* A JSON value's kind, as both backends' JSON functions can tell it. */
/* JT_ABSENT: an object member that is not there at all. */
enum queue_json_type { JT_STRING, JT_NUMBER, JT_OBJECT, JT_NULL, JT_ABSENT, JT_OTHER };

/*
 * One element of a tasks or skills array.  For an object: its "id" and
 * "share" members (JT_ABSENT when absent) and the first other key, if any.
 */
struct queue_json_elem {
    enum queue_json_type type;
    struct queue_cell atom; /* the string, when type is JT_STRING */
    enum queue_json_type id_type;
    struct queue_cell id;
    enum queue_json_type share_type;
    double share;
    const char *extra_key; /* NULL: none */
};

/* The SQL of the element columns, per backend: the order a backend must fill them in. */
enum queue_elem_column {
    ELEM_TYPE,
    ELEM_ATOM,
    ELEM_ID_TYPE,
    ELEM_ID,
    ELEM_SHARE_TYPE,
    ELEM_SHARE,
    ELEM_EXTRA_KEY,
    ELEM_COUNT
};

/* Starts a record: zeroed, signup initialized. */
void queue_codec_init(struct signup_record *r);
/* reportd's own columns into r.  -1 with err (an unknown state, no memory). */
int queue_codec_own(const struct queue *q, const struct queue_cell *c, struct signup_record *r,
                    char *err);
/*
 * The producer's scalar columns into r: a bad value is noted in
 * r->load_error, not returned.  -1 only when out of memory.
 */
int queue_codec_producer(const struct queue_cell *c, struct signup_record *r);
/*
 * A row's columns (both of the above, r started first): what every
 * backend's load does before the lists.  -1 with err; r is left to free.
 */
int queue_codec_row(const struct queue *q, const struct queue_cell *c, struct signup_record *r,
                    char *err);
/* A tasks or skills column that is not a JSON array: noted.  -1 out of memory. */
int queue_codec_array_problem(struct signup_record *r, const char *field, const char *problem);
/* Element i of tasks (is_task) or skills: added or noted.  -1 out of memory. */
int queue_codec_element(struct signup_record *r, int is_task, size_t i,
                        const struct queue_json_elem *e);
/* The most entries a list may have, and the note when it has more.  -1 out of memory. */
size_t queue_codec_max(int is_task);
int queue_codec_too_many(struct signup_record *r, int is_task);
/* A JSON type name from SQLite's json_type() or PostgreSQL's jsonb_typeof(); NULL: absent. */
enum queue_json_type queue_codec_json_type(const char *name);
/* The tasks and skills of s as the JSON text stored in the row.  NULL out of memory. */
char *queue_codec_tasks_json(const struct signup *s);
char *queue_codec_skills_json(const struct signup *s);

/* --- what queue.c offers a backend ---------------------------------------- */

/* The keyed hash of email_key(email) as hex: 0, 1 no @ (no hash), -1 out of memory. */
int queue_email_hash_hex(const struct queue *q, const char *email, char hex[SHA256_HEX_LEN]);
/* A new random key for a new database.  -1 with err. */
int queue_new_hash_key(unsigned char key[QUEUE_HASH_KEY_LEN], char *err);
/* Where a database's stored schema stands against this reportd's. */
enum queue_schema {
    QUEUE_SCHEMA_CURRENT, /* the one this reportd knows: nothing to do */
    QUEUE_SCHEMA_OLDER,   /* 0 (empty) or an earlier one: a writer migrates it */
    QUEUE_SCHEMA_NEWER,   /* not one this reportd can have written: refused, err filled */
};
/*
 * The stored schema version of the queue called name (as its messages say
 * it) against known, the number of migrations this backend has.  The same
 * decision and message on every backend.
 */
enum queue_schema queue_schema_compare(const char *name, int64_t version, size_t known, char *err);
/* The log line of a change, written once its transaction commits. */
void queue_log_transition(struct queue *q, int64_t id, const char *from, const char *to,
                          const char *detail);
/* Any other committed change's log line: "id=N WHAT detail=..." (detail may be NULL). */
void queue_log_change(struct queue *q, int64_t id, const char *what, const char *detail);
const char *queue_state_sql_name(enum signup_state st);

/* Transactions, for queue.c and queue_rules.c: a commit writes the pending log lines. */
int queue_in_transaction(struct queue *q);
int queue_begin_write(struct queue *q, const char *what, char *err);
int queue_commit(struct queue *q, const char *what, char *err);
void queue_rollback(struct queue *q);
/*
 * The single implementation of a state change, run inside the caller's
 * transaction: the rules, the backend's compare-and-set, the history, and
 * the log line, written when the transaction commits.  0 done, 1 not in from.
 */
int queue_apply_transition(struct queue *q, int64_t id, enum signup_state from,
                           enum signup_state to, const struct transition *t, int64_t now,
                           char *err);
/*
 * A claim's transitions of the n signups ids[] from from[i] to sending, all
 * with t: the same rules, history and log lines as queue_apply_transition()
 * one by one, in one call to a backend that has claim_many.  taken[i] 1
 * moved, 0 not in from[i] or refused for its address (see update_state).
 */
int queue_apply_claims(struct queue *q, const int64_t *ids, const enum signup_state *from, int n,
                       const struct transition *t, int64_t now, char *taken, char *err);

/* --- what a backend provides ---------------------------------------------- */

/*
 * Every call runs inside the transaction queue.c opened with begin(), or as
 * a statement of its own when none is open.  Returns as documented, -1 with
 * err ("NAME: WHAT: the database's message") on a database error.
 */
struct queue_ops {
    /* Opens q->be at the place (create and migrate unless readonly); enum queue_open_status. */
    int (*open)(struct queue *q, const struct queue_place *pl, int readonly, char *err);
    void (*close)(struct queue *q);
    int (*begin)(struct queue *q, int write, const char *what, char *err);
    int (*commit)(struct queue *q, const char *what, char *err);
    void (*rollback)(struct queue *q);
    int (*in_transaction)(struct queue *q);
    /* 0 loaded, 1 no such signup. */
    int (*load)(struct queue *q, int64_t id, struct signup_record *r, char *err);
    /*
     * The claim's n signups ids[] into v[], in a few round trips where load
     * takes some per signup; NULL when load costs no round trip (SQLite).
     * 0 all loaded; 1 one of them is gone, or -1: none stays loaded.
     */
    int (*load_many)(struct queue *q, const int64_t *ids, int n, struct signup_record *v,
                     char *err);
    /*
     * The compare-and-set of a transition (see queue_transition): next is the
     * due time to set (-1 keep), owner NULL or the claim it must still be.
     * 1 changed, 0 not in from or not that owner's (or, for a claim, the
     * database refused a second in-flight signup for the address).
     */
    int (*update_state)(struct queue *q, int64_t id, enum signup_state from, enum signup_state to,
                        const struct transition *t, int64_t next, const char *owner, int64_t now,
                        char *err);
    int (*record_event)(struct queue *q, int64_t id, int has_from, enum signup_state from,
                        enum signup_state to, const char *detail, int64_t now, char *err);
    /*
     * update_state and record_event of n claims (to sending, all with t) in
     * one round trip: taken[i] as update_state's result for ids[i].  NULL
     * when a statement costs no round trip (SQLite): claims go one by one.
     */
    int (*claim_many)(struct queue *q, const int64_t *ids, const enum signup_state *from, int n,
                      const struct transition *t, int64_t now, char *taken, char *err);
    /* The newest signup for the address (by key, or hash when scrubbed); active: blocking states
     * only. 0, 1 none. */
    int (*find_address)(struct queue *q, const char *email, const char *hash, int active,
                        int64_t *id, char *err);
    int (*insert)(struct queue *q, const struct signup *s, const char *tasks, const char *skills,
                  int64_t now, int64_t *id, char *err);
    int (*stats)(struct queue *q, struct queue_stats *st, char *err);
    int (*metrics)(struct queue *q, struct queue_metrics *m, char *err);
    int (*list)(struct queue *q, int state, queue_list_fn fn, void *arg, char *err);
    int (*history)(struct queue *q, int64_t id, queue_event_fn fn, void *arg, char *err);
    /* Up to max due signups for a claim (see queue_claim), locked for it; how many. */
    int (*select_due)(struct queue *q, int64_t now, int max, struct queue_due *out, char *err);
    /* Every signup in sending (that no other process is recovering right now). */
    int (*select_claims)(struct queue *q, struct queue_claim **out, size_t *n, char *err);
    /*
     * Locks the claim c for this recovery, if it is still as select_claims
     * saw it and no other process holds it: 1, else 0; -1 on error.  NULL
     * when select_claims' rows cannot change under the caller (SQLite: one
     * writer at a time).  So only an abandoned claim is ever locked, and a
     * live one is never held up by another daemon's look at it.
     */
    int (*lock_claim)(struct queue *q, const struct queue_claim *c, char *err);
    /* As queue_has_work(), *next_due_ms included. */
    int (*has_work)(struct queue *q, int64_t now, int64_t *next_due_ms, char *err);
    /*
     * Up to max due signups whose address has a byte outside printable
     * ASCII (a Unicode domain, stored in its xn-- form before the claim
     * compares addresses): ids and emails (the caller frees them); how many.
     */
    int (*select_non_ascii_due)(struct queue *q, int64_t now, int64_t *ids, char **emails, int max,
                                char *err);
    /* Replaces a signup's address (its ASCII form). */
    int (*set_email)(struct queue *q, int64_t id, const char *email, char *err);
    /* 0 marked, 1 no longer claimed by owner. */
    int (*mark_attempt)(struct queue *q, int64_t id, const char *owner, int64_t now, char *err);
    int (*select_scrub_due)(struct queue *q, int64_t cutoff, struct queue_scrub_row *v, size_t *n,
                            char *err);
    /* Scrubs the row and redacts email in its reasons, reply and history. */
    int (*scrub)(struct queue *q, int64_t id, const char *email, const char *hash, int64_t now,
                 char *err);
    /* 0 loaded, 1 no such signup. */
    int (*purge_target)(struct queue *q, int64_t id, struct queue_purge_target *t, char *err);
    /* Deletes the signup and its history. */
    int (*delete_signup)(struct queue *q, int64_t id, char *err);
    /*
     * queue copy's target side (NULL: this backend cannot be copied into).
     * copy_begin, inside the copy's transaction: the target has no signups,
     * and rows come in whole (states and history as they were).  copy_row
     * inserts r with its id; copy_end takes the source's address hash key
     * (the scrubbed rows' hashes were made with it) and moves the id
     * sequences past the copied rows.
     */
    int (*copy_begin)(struct queue *q, char *err);
    int (*copy_row)(struct queue *q, const struct signup_record *r, const char *tasks,
                    const char *skills, char *err);
    int (*copy_end)(struct queue *q, const unsigned char key[QUEUE_HASH_KEY_LEN], char *err);
};

extern const struct queue_ops queue_sqlite_ops;
extern const struct queue_ops queue_pg_ops;

/* The SQLite library's process-wide settings (queue_global_init). */
void queue_sqlite_global_init(void);

#endif
