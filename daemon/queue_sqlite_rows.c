/*
 * queue_sqlite_rows.c - the SQLite backend's rows: reading them (through
 * the row codec), the compare-and-set of a transition and its history,
 * the producer's insert and duplicate lookup, and the reading commands'
 * queries.  The daemon's claims and sweeps are in queue_sqlite_work.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "queue_json.h"
#include "queue_sqlite.h"

#define EMAIL_KEY_OF_COLUMN SQ_EMAIL_KEY("email")
#define EMAIL_KEY_OF_PARAM  SQ_EMAIL_KEY("?1")

/* --- loading rows ------------------------------------------------------- */

/*
 * What is wrong with a tasks or skills column, or NULL when it is a JSON
 * array or NULL (an empty list: both may be left out).  SQLite's JSON
 * functions cut a string at an escaped NUL ("\u0000"), which would turn
 * "a\u0000b" into a valid-looking "a": refuse it whole.
 */
#define JSON_ARRAY_PROBLEM_SQL(col)                                                                \
    "CASE WHEN " col " IS NULL THEN NULL WHEN typeof(" col ") <> 'text' THEN 'not text'"           \
    " WHEN NOT json_valid(" col ")"                                                                \
    " THEN 'not valid JSON' WHEN json_type(" col ") <> 'array' THEN 'not a JSON array'"            \
    " WHEN instr(" col ", '\\u0000') THEN 'contains a line break or control character' END"

/* The columns of enum queue_column, then the lists and what is wrong with them. */
#define RECORD_COLUMNS_SQL                                                                         \
    "id, email, name, role, level, years, created_at, state, attempts,"                            \
    " next_attempt_at, updated_at, sent_at, message_id, last_reply, reason, claimed_by,"           \
    " claim_until, requeued_at, attempt_started_at, scrubbed_at, email_hash,"                      \
    " tasks, skills, " JSON_ARRAY_PROBLEM_SQL("tasks") ", " JSON_ARRAY_PROBLEM_SQL("skills")

#define COL_TASKS          (QCOL_COUNT + 0)
#define COL_SKILLS         (QCOL_COUNT + 1)
#define COL_TASKS_PROBLEM  (QCOL_COUNT + 2)
#define COL_SKILLS_PROBLEM (QCOL_COUNT + 3)

/*
 * Reads a JSON array column element by element (the problem columns have
 * already said it is one).  A problem stops at the first bad element; an
 * array longer than the limit is refused before it is read to the end,
 * whatever a producer put there.
 */
static int load_array(struct queue *q, sqlite3_stmt *row, int is_task, struct signup_record *r,
                      char *err)
{
    int col = is_task ? COL_TASKS : COL_SKILLS;
    int problem_col = is_task ? COL_TASKS_PROBLEM : COL_SKILLS_PROBLEM;
    const char *field = is_task ? "tasks" : "skills";
    size_t max = queue_codec_max(is_task), i;
    struct queue_json_list list;
    struct queue_json_elem e;
    int rc = 0;

    if (sqlite3_column_type(row, problem_col) != SQLITE_NULL) {
        if (queue_codec_array_problem(r, field,
                                      (const char *)sqlite3_column_text(row, problem_col)) == -1)
            return errf(err, "%s: out of memory", q->name);
        return 0;
    }
    if (sqlite3_column_type(row, col) == SQLITE_NULL)
        return 0;
    queue_json_list_init(&list, (const char *)sqlite3_column_text(row, col),
                         (size_t)sqlite3_column_bytes(row, col));
    for (i = 0; rc == 0 && r->load_error == NULL; i++) {
        enum queue_json_status st = queue_json_list_next(&list, &e);

        if (st == QUEUE_JSON_END)
            break;
        if (st == QUEUE_JSON_NOMEM)
            rc = -1;
        else if (st == QUEUE_JSON_INVALID)
            rc = queue_codec_array_problem(r, field, "not valid JSON");
        else if (i == max)
            rc = queue_codec_too_many(r, is_task);
        else
            rc = queue_codec_element(r, is_task, i, &e);
    }
    queue_json_list_free(&list);
    return rc == -1 ? errf(err, "%s: out of memory", q->name) : 0;
}

/* Fills r from a row of RECORD_COLUMNS_SQL.  -1 only for a database error or no memory. */
static int load_record(struct queue *q, sqlite3_stmt *row, struct signup_record *r, char *err)
{
    struct queue_cell c[QCOL_COUNT];
    int i;

    for (i = 0; i < QCOL_COUNT; i++)
        sq_cell(row, i, &c[i]);
    if (queue_codec_row(q, c, r, err) == -1)
        goto fail;
    if (load_array(q, row, 1, r, err) == -1 || load_array(q, row, 0, r, err) == -1)
        goto fail;
    return 0;
fail:
    signup_record_free(r);
    return -1;
}

int sq_load(struct queue *q, int64_t id, struct signup_record *r, char *err)
{
    sqlite3_stmt *st = sq_prepare(q, "SELECT " RECORD_COLUMNS_SQL " FROM signups WHERE id = ?1",
                                  "load signup", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return sq_bind_fail(q, st, "load signup", err);
    rc = sq_step(q, st, "load signup", err);
    if (rc == SQLITE_ROW)
        rc = load_record(q, st, r, err) == -1 ? -1 : 0;
    else if (rc == SQLITE_DONE)
        rc = 1;
    sq_finish(q, st);
    return rc;
}

/* --- state changes ------------------------------------------------------ */

#define TRANSITION_SQL                                                                             \
    "UPDATE signups SET state = ?3, updated_at = ?4, attempts = attempts + ?5,"                    \
    " reason = CASE WHEN ?3 = 'sent' THEN NULL ELSE coalesce(?6, reason) END,"                     \
    " last_reply = coalesce(?7, last_reply),"                                                      \
    " message_id = coalesce(?8, message_id),"                                                      \
    " next_attempt_at = CASE WHEN ?3 IN ('queued', 'deferred') AND ?9 >= 0 THEN ?9"                \
    "  ELSE next_attempt_at END,"                                                                  \
    " requeued_at = CASE WHEN ?3 = 'queued' AND (?2 = 'failed' OR ?2 = 'held' OR ?2 = 'deferred')" \
    "  THEN ?4"                                                                                    \
    "  ELSE requeued_at END,"                                                                      \
    " claimed_by = CASE WHEN ?3 = 'sending' THEN ?10 WHEN ?2 = 'sending' THEN NULL"                \
    "  ELSE claimed_by END,"                                                                       \
    " claim_until = CASE WHEN ?3 = 'sending' THEN ?11 WHEN ?2 = 'sending' THEN NULL"               \
    "  ELSE claim_until END,"                                                                      \
    " sent_at = CASE WHEN ?3 = 'sent' THEN ?4 ELSE sent_at END,"                                   \
    " attempt_started_at = CASE WHEN ?3 = 'sending' OR ?2 = 'sending' THEN NULL"                   \
    "  ELSE attempt_started_at END"                                                                \
    " WHERE id = ?1 AND state = ?2 AND (?12 IS NULL OR claimed_by = ?12)"

#define EVENT_SQL                                                                                  \
    "INSERT INTO signup_events (signup_id, at, from_state, to_state, detail)"                      \
    " VALUES (?1, ?2, ?3, ?4, ?5)"

int sq_update_state(struct queue *q, int64_t id, enum signup_state from, enum signup_state to,
                    const struct transition *t, int64_t next, const char *owner, int64_t now,
                    char *err)
{
    sqlite3_stmt *st = sq_prepare(q, TRANSITION_SQL, "transition", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
        sq_bind_text(st, 2, queue_state_sql_name(from)) != SQLITE_OK ||
        sq_bind_text(st, 3, queue_state_sql_name(to)) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, now) != SQLITE_OK ||
        sqlite3_bind_int(st, 5, t->count_attempt ? 1 : 0) != SQLITE_OK ||
        sq_bind_text(st, 6, t->reason) != SQLITE_OK || sq_bind_text(st, 7, t->reply) != SQLITE_OK ||
        sq_bind_text(st, 8, t->message_id) != SQLITE_OK ||
        sqlite3_bind_int64(st, 9, next) != SQLITE_OK ||
        sq_bind_text(st, 10, t->claimed_by) != SQLITE_OK ||
        sqlite3_bind_int64(st, 11, t->claim_until_ms) != SQLITE_OK ||
        sq_bind_text(st, 12, owner) != SQLITE_OK)
        return sq_bind_fail(q, st, "transition", err);
    rc = sq_step(q, st, "transition", err);
    sq_finish(q, st);
    if (rc == -1)
        return -1;
    return sqlite3_changes(sq_db(q)) == 1;
}

int sq_record_event(struct queue *q, int64_t id, int has_from, enum signup_state from,
                    enum signup_state to, const char *detail, int64_t now, char *err)
{
    sqlite3_stmt *st = sq_prepare(q, EVENT_SQL, "record event", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK || sqlite3_bind_int64(st, 2, now) != SQLITE_OK ||
        sq_bind_text(st, 3, has_from ? queue_state_sql_name(from) : NULL) != SQLITE_OK ||
        sq_bind_text(st, 4, queue_state_sql_name(to)) != SQLITE_OK ||
        sq_bind_text(st, 5, detail) != SQLITE_OK)
        return sq_bind_fail(q, st, "record event", err);
    rc = sq_step(q, st, "record event", err);
    sq_finish(q, st);
    return rc == -1 ? -1 : 0;
}

/* --- producer side ------------------------------------------------------ */

/*
 * A signup for the address ?1, by its key or, once scrubbed, by its keyed
 * hash ?2.  (A scrubbed email is '', whose key never equals an address's.)
 * max() rather than ORDER BY id, so that SQLite looks the address up in
 * both indexes instead of walking the table by id.
 */
#define SAME_ADDRESS_SQL "(" EMAIL_KEY_OF_COLUMN " = " EMAIL_KEY_OF_PARAM " OR email_hash = ?2)"
#define FIND_EMAIL_SQL   "SELECT max(id) FROM signups WHERE " SAME_ADDRESS_SQL
/* The states in which a signup blocks another for the same address; failed and rejected don't. */
#define FIND_ACTIVE_SQL                                                                            \
    FIND_EMAIL_SQL " AND state IN ('queued', 'sending', 'deferred', 'held', 'sent')"

int sq_find_address(struct queue *q, const char *email, const char *hash, int active, int64_t *id,
                    char *err)
{
    const char *what = active ? "find duplicate" : "find address";
    sqlite3_stmt *st = sq_prepare(q, active ? FIND_ACTIVE_SQL : FIND_EMAIL_SQL, what, err);
    int rc;

    if (st == NULL)
        return -1;
    if (sq_bind_text(st, 1, email) != SQLITE_OK || sq_bind_text(st, 2, hash) != SQLITE_OK)
        return sq_bind_fail(q, st, what, err);
    rc = sq_step(q, st, what, err);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL)
        rc = SQLITE_DONE;
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sq_finish(q, st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

/*
 * The same INSERT a website makes: reportd's columns keep their defaults, as
 * the trigger signups_producer_columns demands (updated_at is SQLite's now).
 */
int sq_insert(struct queue *q, const struct signup *s, const char *tasks, const char *skills,
              int64_t now, int64_t *id, char *err)
{
    sqlite3_stmt *st = sq_prepare(
        q,
        "INSERT INTO signups (email, name, role, level, tasks, skills, years, created_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        "enqueue", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sq_bind_text(st, 1, s->email) != SQLITE_OK || sq_bind_text(st, 2, s->name) != SQLITE_OK ||
        sq_bind_text(st, 3, s->role) != SQLITE_OK || sq_bind_text(st, 4, s->level) != SQLITE_OK ||
        sq_bind_text(st, 5, tasks) != SQLITE_OK || sq_bind_text(st, 6, skills) != SQLITE_OK ||
        (s->has_years ? sqlite3_bind_double(st, 7, s->years) : sqlite3_bind_null(st, 7)) !=
            SQLITE_OK ||
        sqlite3_bind_int64(st, 8, s->created_ms ? s->created_ms : now) != SQLITE_OK)
        return sq_bind_fail(q, st, "enqueue", err);
    rc = sq_step(q, st, "enqueue", err);
    sq_finish(q, st);
    if (rc == -1)
        return -1;
    *id = sqlite3_last_insert_rowid(sq_db(q));
    return 0;
}

/* --- reading ------------------------------------------------------------ */

/* Runs a one-row statement with its first column an integer. */
static int query_int(struct queue *q, const char *sql, int64_t *out, char *err)
{
    sqlite3_stmt *st = sq_prepare(q, sql, "stats", err);
    int rc;

    if (st == NULL)
        return -1;
    rc = sq_step(q, st, "stats", err);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sq_finish(q, st);
    if (rc == SQLITE_DONE)
        return errf(err, "%s: stats: no result", q->name);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int stats_counts(struct queue *q, int64_t count[SIGNUP_NSTATES], char *err)
{
    sqlite3_stmt *st =
        sq_prepare(q, "SELECT state, count(*) FROM signups GROUP BY state", "stats", err);
    enum signup_state state;
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = sq_step(q, st, "stats", err)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);

        if (name && signup_state_parse(name, &state) == 0)
            count[state] = sqlite3_column_int64(st, 1);
    }
    sq_finish(q, st);
    return rc == -1 ? -1 : 0;
}

static int stats_last_error(struct queue *q, struct queue_stats *s, char *err)
{
    sqlite3_stmt *st = sq_prepare(q,
                                  "SELECT id, updated_at, reason FROM signups"
                                  " WHERE state IN ('failed', 'deferred', 'rejected')"
                                  " ORDER BY updated_at DESC, id DESC LIMIT 1",
                                  "stats", err);
    int rc;

    if (st == NULL)
        return -1;
    rc = sq_step(q, st, "stats", err);
    if (rc == SQLITE_ROW) {
        const char *reason = (const char *)sqlite3_column_text(st, 2);

        s->last_error_id = sqlite3_column_int64(st, 0);
        s->last_error_ms = sqlite3_column_int64(st, 1);
        snprintf(s->last_error, sizeof(s->last_error), "%s", reason ? reason : "");
    }
    sq_finish(q, st);
    return rc == -1 ? -1 : 0;
}

#define OLDEST_WAITING_SQL                                                                         \
    "SELECT coalesce(min(created_at), 0) FROM signups WHERE state IN ('queued', 'deferred')"

int sq_stats(struct queue *q, struct queue_stats *s, char *err)
{
    int rc = stats_counts(q, s->count, err);

    if (rc == 0)
        rc = query_int(q, OLDEST_WAITING_SQL, &s->oldest_waiting_ms, err);
    if (rc == 0)
        rc = stats_last_error(q, s, err);
    if (rc == 0)
        rc = query_int(q,
                       "SELECT count(*) FROM signups WHERE state = 'held'"
                       " AND reason LIKE '" QUEUE_UNCERTAIN_PREFIX "%'",
                       &s->uncertain, err);
    return rc;
}

/* --- metrics ------------------------------------------------------------ */

/* How each claim ended: history moves out of sending, by the state they went to. */
static int metrics_outcomes(struct queue *q, struct queue_metrics *m, char *err)
{
    sqlite3_stmt *st = sq_prepare(q,
                                  "SELECT to_state, count(*) FROM signup_events"
                                  " WHERE from_state = 'sending' GROUP BY to_state",
                                  "metrics", err);
    enum signup_state state;
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = sq_step(q, st, "metrics", err)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);

        if (name && signup_state_parse(name, &state) == 0)
            m->outcomes[state] = sqlite3_column_int64(st, 1);
    }
    sq_finish(q, st);
    return rc == -1 ? -1 : 0;
}

/* Signups by the code their relay's last reply began with; 0 for one without a code. */
static int metrics_replies(struct queue *q, struct queue_metrics *m, char *err)
{
    sqlite3_stmt *st =
        sq_prepare(q,
                   "SELECT CASE WHEN last_reply GLOB '[1-5][0-9][0-9]*'"
                   " THEN CAST(substr(last_reply, 1, 3) AS INTEGER) ELSE 0 END AS code, count(*)"
                   " FROM signups WHERE last_reply IS NOT NULL GROUP BY code",
                   "metrics", err);
    int64_t code;
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = sq_step(q, st, "metrics", err)) == SQLITE_ROW) {
        code = sqlite3_column_int64(st, 0);
        if (code >= 0 && code < QUEUE_REPLY_CODES)
            m->last_reply[code] = sqlite3_column_int64(st, 1);
    }
    sq_finish(q, st);
    return rc == -1 ? -1 : 0;
}

/*
 * Attempts, the last send, and the latency histogram in one pass over the
 * table.  A producer's created_at in the future counts as no wait at all.
 */
static int metrics_sent(struct queue *q, struct queue_metrics *m, char *err)
{
    static const int64_t bounds[QUEUE_LATENCY_BUCKETS] = QUEUE_LATENCY_BOUNDS_MS;
    sqlite3_stmt *st;
    struct buf sql;
    size_t i;
    int rc;

    buf_init(&sql);
    buf_puts(&sql, "SELECT coalesce(sum(attempts), 0), coalesce(max(sent_at), 0),"
                   " count(d), coalesce(sum(d), 0)");
    for (i = 0; i < QUEUE_LATENCY_BUCKETS; i++)
        buf_printf(&sql, ", coalesce(sum(d <= %lld), 0)", (long long)bounds[i]);
    buf_puts(&sql, " FROM (SELECT attempts, sent_at, CASE WHEN state = 'sent'"
                   " THEN max(0, sent_at - created_at) END AS d FROM signups)");
    if (buf_failed(&sql)) {
        buf_free(&sql);
        return errf(err, "%s: metrics: out of memory", q->name);
    }
    st = sq_prepare(q, buf_str(&sql), "metrics", err);
    buf_free(&sql);
    if (st == NULL)
        return -1;
    rc = sq_step(q, st, "metrics", err);
    if (rc == SQLITE_ROW) {
        m->attempts = sqlite3_column_int64(st, 0);
        m->last_sent_ms = sqlite3_column_int64(st, 1);
        m->latency_count = sqlite3_column_int64(st, 2);
        m->latency_sum_ms = sqlite3_column_int64(st, 3);
        for (i = 0; i < QUEUE_LATENCY_BUCKETS; i++)
            m->latency_le[i] = sqlite3_column_int64(st, 4 + (int)i);
    }
    sq_finish(q, st);
    return rc == -1 ? -1 : 0;
}

int sq_metrics(struct queue *q, struct queue_metrics *m, char *err)
{
    int rc = stats_counts(q, m->count, err);

    if (rc == 0)
        rc = query_int(q, OLDEST_WAITING_SQL, &m->oldest_waiting_ms, err);
    if (rc == 0)
        rc = metrics_outcomes(q, m, err);
    if (rc == 0)
        rc = metrics_replies(q, m, err);
    if (rc == 0)
        rc = metrics_sent(q, m, err);
    return rc;
}

int sq_list(struct queue *q, int state, queue_list_fn fn, void *arg, char *err)
{
    sqlite3_stmt *st = sq_prepare(q,
                                  "SELECT " RECORD_COLUMNS_SQL " FROM signups"
                                  " WHERE ?1 IS NULL OR state = ?1 ORDER BY id",
                                  "list", err);
    struct signup_record r;
    int rc;

    if (st == NULL)
        return -1;
    if (sq_bind_text(st, 1, state < 0 ? NULL : queue_state_sql_name((enum signup_state)state)) !=
        SQLITE_OK)
        return sq_bind_fail(q, st, "list", err);
    while ((rc = sq_step(q, st, "list", err)) == SQLITE_ROW) {
        int stop;

        if (load_record(q, st, &r, err) == -1) {
            rc = -1;
            break;
        }
        stop = fn(arg, &r);
        signup_record_free(&r);
        if (stop)
            break;
    }
    sq_finish(q, st);
    return rc == -1 ? -1 : 0;
}

static int parse_event(struct queue *q, sqlite3_stmt *st, struct queue_event *ev, char *err)
{
    const char *from = (const char *)sqlite3_column_text(st, 1);
    const char *to = (const char *)sqlite3_column_text(st, 2);

    ev->at_ms = sqlite3_column_int64(st, 0);
    ev->has_from = from != NULL;
    ev->from = SIGNUP_QUEUED;
    ev->detail = (const char *)sqlite3_column_text(st, 3);
    if ((from && signup_state_parse(from, &ev->from) == -1) || to == NULL ||
        signup_state_parse(to, &ev->to) == -1)
        return errf(err, "%s: history: unknown state", q->name);
    return 0;
}

int sq_history(struct queue *q, int64_t id, queue_event_fn fn, void *arg, char *err)
{
    sqlite3_stmt *st = sq_prepare(q,
                                  "SELECT at, from_state, to_state, detail FROM signup_events"
                                  " WHERE signup_id = ?1 ORDER BY at, id",
                                  "history", err);
    struct queue_event ev;
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return sq_bind_fail(q, st, "history", err);
    while ((rc = sq_step(q, st, "history", err)) == SQLITE_ROW) {
        if (parse_event(q, st, &ev, err) == -1) {
            rc = -1;
            break;
        }
        if (fn(arg, &ev))
            break;
    }
    sq_finish(q, st);
    return rc == -1 ? -1 : 0;
}
