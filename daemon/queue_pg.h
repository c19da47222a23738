/*
 * queue_pg.h - what the halves of the PostgreSQL backend share:
 * queue_pg.c (the connection, the schema and its migrations, transactions,
 * statements) and queue_pg_load.c, queue_pg_rows.c, queue_pg_work.c (the
 * backend's reads and writes).  Only those files include it.
 */
#ifndef REPORTD_QUEUE_PG_H
#define REPORTD_QUEUE_PG_H

#include <libpq-fe.h>

#include "queue_backend.h"

/* The most parameters one statement of this backend binds. */
#define PG_MAX_PARAMS 24

/* Parameters as text, built up before a statement runs. */
struct pg_params {
    int n;
    const char *v[PG_MAX_PARAMS];
    char num[PG_MAX_PARAMS][32]; /* the text of numbers */
};

void pg_param_text(struct pg_params *p, const char *s); /* NULL: SQL NULL */
void pg_param_int(struct pg_params *p, int64_t v);
void pg_param_real(struct pg_params *p, double v);

/*
 * Runs sql with p (NULL: none), named by what in messages.  Returns the
 * result (PQclear it) when the statement succeeded, else NULL with err.
 * The statement is prepared once per connection and kept.
 */
PGresult *pg_run(struct queue *q, const char *sql, const struct pg_params *p, const char *what,
                 char *err);
/* Like pg_run, without a result: the number of rows it changed, or -1 with err. */
int64_t pg_exec(struct queue *q, const char *sql, const struct pg_params *p, const char *what,
                char *err);
/* The SQLSTATE of the last failed statement ("" none): a claim tells a unique violation by it. */
const char *pg_last_sqlstate(struct queue *q);
/* Runs a command without parameters (SAVEPOINT, ...): 0, or -1 with err. */
int pg_command(struct queue *q, const char *sql, const char *what, char *err);

/* A cell of a result as the codec takes it, of a column known to be of kind. */
void pg_cell(const PGresult *res, int row, int col, enum queue_cell_type kind,
             struct queue_cell *c);
int64_t pg_int(const PGresult *res, int row, int col);
/* Text or NULL into *out.  -1 out of memory. */
int pg_copy_text(const PGresult *res, int row, int col, char **out);

/* The backend's reads and writes (queue_pg_load.c, _rows.c, _work.c), for the ops table. */
int pg_load(struct queue *q, int64_t id, struct signup_record *r, char *err);
int pg_load_many(struct queue *q, const int64_t *ids, int n, struct signup_record *v, char *err);
int pg_update_state(struct queue *q, int64_t id, enum signup_state from, enum signup_state to,
                    const struct transition *t, int64_t next, const char *owner, int64_t now,
                    char *err);
int pg_claim_many(struct queue *q, const int64_t *ids, const enum signup_state *from, int n,
                  const struct transition *t, int64_t now, char *taken, char *err);
int pg_record_event(struct queue *q, int64_t id, int has_from, enum signup_state from,
                    enum signup_state to, const char *detail, int64_t now, char *err);
int pg_find_address(struct queue *q, const char *email, const char *hash, int active, int64_t *id,
                    char *err);
int pg_insert(struct queue *q, const struct signup *s, const char *tasks, const char *skills,
              int64_t now, int64_t *id, char *err);
int pg_stats(struct queue *q, struct queue_stats *st, char *err);
int pg_metrics(struct queue *q, struct queue_metrics *m, char *err);
int pg_list(struct queue *q, int state, queue_list_fn fn, void *arg, char *err);
int pg_history(struct queue *q, int64_t id, queue_event_fn fn, void *arg, char *err);
int pg_select_due(struct queue *q, int64_t now, int max, struct queue_due *out, char *err);
int pg_select_claims(struct queue *q, struct queue_claim **out, size_t *n, char *err);
int pg_lock_claim(struct queue *q, const struct queue_claim *c, char *err);
int pg_has_work(struct queue *q, int64_t now, int64_t *next_due_ms, char *err);
int pg_select_non_ascii_due(struct queue *q, int64_t now, int64_t *ids, char **emails, int max,
                            char *err);
int pg_set_email(struct queue *q, int64_t id, const char *email, char *err);
int pg_mark_attempt(struct queue *q, int64_t id, const char *owner, int64_t now, char *err);
int pg_select_scrub_due(struct queue *q, int64_t cutoff, struct queue_scrub_row *v, size_t *n,
                        char *err);
int pg_scrub(struct queue *q, int64_t id, const char *email, const char *hash, int64_t now,
             char *err);
int pg_purge_target(struct queue *q, int64_t id, struct queue_purge_target *t, char *err);
int pg_delete_signup(struct queue *q, int64_t id, char *err);
int pg_copy_begin(struct queue *q, char *err);
int pg_copy_row(struct queue *q, const struct signup_record *r, const char *tasks,
                const char *skills, char *err);
int pg_copy_end(struct queue *q, const unsigned char key[QUEUE_HASH_KEY_LEN], char *err);

#endif
