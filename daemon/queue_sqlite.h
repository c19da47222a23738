/*
 * queue_sqlite.h - what the parts of the SQLite backend share:
 * queue_sqlite.c (the connection, its statement cache, transactions),
 * queue_sqlite_checkpoint.c (the log copied back on a thread of its own),
 * queue_sqlite_schema.c (migrations, the hash key), queue_sqlite_rows.c
 * (rows in and out) and queue_sqlite_work.c (claims, recovery, scrub,
 * purge).  Only they include it.
 */
#ifndef REPORTD_QUEUE_SQLITE_H
#define REPORTD_QUEUE_SQLITE_H

#include <sqlite3.h>

#include "queue_backend.h"

/*
 * The key duplicates are compared by: the local part as given, the domain
 * lowercased (what email_key() computes).  The index is built on this exact
 * expression, and SQLite uses it only for a query that repeats it.
 */
#define SQ_EMAIL_KEY(col)                                                                          \
    "(substr(" col ", 1, instr(" col ", '@')) || lower(substr(" col ", instr(" col ", '@') + 1)))"

#define SQ_STATE_NAMES "('queued', 'sending', 'deferred', 'held', 'sent', 'failed', 'rejected')"
/* The states a signup ends in; retention counts from the move into one of them. */
#define SQ_SETTLED_STATES "('sent', 'failed', 'rejected')"
/*
 * The same tests written with = and OR, for SQL run on every state change:
 * SQLite evaluates "x IN (list of three or more)" by filling a temporary
 * b-tree each time a statement runs (schema 7 rewrote the constraints and
 * the retention index this way; see sq_migrate).
 */
#define SQ_STATE_IS_SETTLED(col) "(" col " = 'sent' OR " col " = 'failed' OR " col " = 'rejected')"
#define SQ_STATE_IS_KNOWN(col)                                                                     \
    "(" col " = 'queued' OR " col " = 'sending' OR " col " = 'deferred' OR " col                   \
    " = 'held' OR " col " = 'sent' OR " col " = 'failed' OR " col " = 'rejected')"
/*
 * A waiting signup whose address has a byte that is not printable ASCII
 * (GLOB's class is every printable ASCII character): a Unicode domain to
 * convert.  The partial index on it is what keeps the claim from reading
 * every waiting signup to find the few.
 */
#define SQ_NON_ASCII_DUE "state IN ('queued', 'deferred') AND email GLOB '*[^ -~]*'"
/* The SQL function the claim uses to compare a producer's address with scrubbed ones. */
#define SQ_EMAIL_HASH_FUNCTION "reportd_email_hash"

/* The connection of one open queue. */
struct sq;

/*
 * The write-ahead log copied back into the database on a thread of its own
 * (queue_sqlite_checkpoint.c).  start opens its own connection to path: 0,
 * or -1 with err.  poke: there is log to copy back; it returns at once.
 * stop waits for a checkpoint under way, then closes.
 */
struct sq_checkpointer;
int sq_checkpointer_start(const char *path, struct sq_checkpointer **out, char *err);
void sq_checkpointer_poke(struct sq_checkpointer *c);
void sq_checkpointer_stop(struct sq_checkpointer *c);

sqlite3 *sq_db(struct queue *q);
/* Runs sql (no parameters, any number of statements): 0, or -1 with err. */
int sq_exec(struct queue *q, const char *sql, const char *what, char *err);
/* Runs a one-row statement and returns its first column as an integer. */
int sq_query_int(struct queue *q, const char *sql, const char *what, int64_t *out, char *err);
int sq_in_transaction(struct queue *q);
int sq_begin(struct queue *q, int write, const char *what, char *err);
int sq_commit(struct queue *q, const char *what, char *err);
void sq_rollback(struct queue *q);

/* The schema (queue_sqlite_schema.c), inside no transaction: each makes its own. */
int sq_migrate(struct queue *q, char *err);
int sq_check_schema_readonly(struct queue *q, char *err);
/* Reads the address hash key into q and gives the SQL side its function. */
int sq_load_hash_key(struct queue *q, char *err);
/* A statement for sql, from the connection's cache when it has one; NULL with err. */
sqlite3_stmt *sq_prepare(struct queue *q, const char *sql, const char *what, char *err);
/* SQLITE_ROW or SQLITE_DONE, or -1 with err. */
int sq_step(struct queue *q, sqlite3_stmt *st, const char *what, char *err);
/* A kept statement is reset for its next use (holding no read snapshot); any other is finalized. */
void sq_finish(struct queue *q, sqlite3_stmt *st);
int sq_fail(struct queue *q, const char *what, char *err);
/* Reports the binding failure and finishes st: always -1. */
int sq_bind_fail(struct queue *q, sqlite3_stmt *st, const char *what, char *err);
/* Bound strings outlive the statement's steps: no copy needed. */
int sq_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Column col as a neutral cell (valid until the statement steps again). */
void sq_cell(sqlite3_stmt *st, int col, struct queue_cell *c);
/* Text or NULL into *out.  -1 out of memory. */
int sq_copy_text(sqlite3_stmt *st, int col, char **out);

/* The backend's reads and writes (queue_sqlite_rows.c, queue_sqlite_work.c), for the ops table. */
int sq_load(struct queue *q, int64_t id, struct signup_record *r, char *err);
int sq_update_state(struct queue *q, int64_t id, enum signup_state from, enum signup_state to,
                    const struct transition *t, int64_t next, const char *owner, int64_t now,
                    char *err);
int sq_record_event(struct queue *q, int64_t id, int has_from, enum signup_state from,
                    enum signup_state to, const char *detail, int64_t now, char *err);
int sq_find_address(struct queue *q, const char *email, const char *hash, int active, int64_t *id,
                    char *err);
int sq_insert(struct queue *q, const struct signup *s, const char *tasks, const char *skills,
              int64_t now, int64_t *id, char *err);
int sq_stats(struct queue *q, struct queue_stats *st, char *err);
int sq_metrics(struct queue *q, struct queue_metrics *m, char *err);
int sq_list(struct queue *q, int state, queue_list_fn fn, void *arg, char *err);
int sq_history(struct queue *q, int64_t id, queue_event_fn fn, void *arg, char *err);
int sq_select_due(struct queue *q, int64_t now, int max, struct queue_due *out, char *err);
int sq_select_claims(struct queue *q, struct queue_claim **out, size_t *n, char *err);
int sq_has_work(struct queue *q, int64_t now, int64_t *next_due_ms, char *err);
int sq_select_non_ascii_due(struct queue *q, int64_t now, int64_t *ids, char **emails, int max,
                            char *err);
int sq_set_email(struct queue *q, int64_t id, const char *email, char *err);
int sq_mark_attempt(struct queue *q, int64_t id, const char *owner, int64_t now, char *err);
int sq_select_scrub_due(struct queue *q, int64_t cutoff, struct queue_scrub_row *v, size_t *n,
                        char *err);
int sq_scrub(struct queue *q, int64_t id, const char *email, const char *hash, int64_t now,
             char *err);
int sq_purge_target(struct queue *q, int64_t id, struct queue_purge_target *t, char *err);
int sq_delete_signup(struct queue *q, int64_t id, char *err);

#endif
