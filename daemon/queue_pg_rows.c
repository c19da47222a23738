/*
 * queue_pg_rows.c - the PostgreSQL backend's rows: the compare-and-set of a
 * transition and its history, the producer's insert and duplicate lookup,
 * and the reading commands' counts, metrics and history.  Whole signups are
 * read in queue_pg_load.c, the daemon's claims and sweeps are in
 * queue_pg_work.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "queue_pg.h"

/* --- state changes ------------------------------------------------------ */

/* As SQLite's, with $3 and $2 the new and old state names, and text in, bigint out. */
#define TRANSITION_SQL                                                                             \
    "UPDATE signups SET state = $3, updated_at = $4, attempts = attempts + $5,"                    \
    " reason = CASE WHEN $3 = 'sent' THEN NULL ELSE coalesce($6, reason) END,"                     \
    " last_reply = coalesce($7, last_reply),"                                                      \
    " message_id = coalesce($8, message_id),"                                                      \
    " next_attempt_at = CASE WHEN $3 IN ('queued', 'deferred') AND $9::bigint >= 0 THEN $9"        \
    "  ELSE next_attempt_at END,"                                                                  \
    " requeued_at = CASE WHEN $3 = 'queued' AND $2 IN ('failed', 'held', 'deferred') THEN $4"      \
    "  ELSE requeued_at END,"                                                                      \
    " claimed_by = CASE WHEN $3 = 'sending' THEN $10 WHEN $2 = 'sending' THEN NULL"                \
    "  ELSE claimed_by END,"                                                                       \
    " claim_until = CASE WHEN $3 = 'sending' THEN $11::bigint WHEN $2 = 'sending' THEN NULL"       \
    "  ELSE claim_until END,"                                                                      \
    " sent_at = CASE WHEN $3 = 'sent' THEN $4 ELSE sent_at END,"                                   \
    " attempt_started_at = CASE WHEN $3 = 'sending' OR $2 = 'sending' THEN NULL"                   \
    "  ELSE attempt_started_at END"                                                                \
    " WHERE id = $1 AND state = $2 AND ($12::text IS NULL OR claimed_by = $12)"

int pg_update_state(struct queue *q, int64_t id, enum signup_state from, enum signup_state to,
                    const struct transition *t, int64_t next, const char *owner, int64_t now,
                    char *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int64_t n;

    if (to == SIGNUP_SENDING) {
        /* A claim sets only these (see TRANSITION_SQL), and may meet the one-report index. */
        pg_param_int(&p, id);
        pg_param_text(&p, queue_state_sql_name(from));
        pg_param_int(&p, now);
        pg_param_text(&p, t->claimed_by);
        pg_param_int(&p, t->claim_until_ms);
        res = pg_run(q, "SELECT reportd_claim($1, $2, $3, $4, $5)", &p, "claim", err);
        if (res == NULL)
            return -1;
        n = pg_int(res, 0, 0);
        PQclear(res);
        return n == 1;
    }
    pg_param_int(&p, id);
    pg_param_text(&p, queue_state_sql_name(from));
    pg_param_text(&p, queue_state_sql_name(to));
    pg_param_int(&p, now);
    pg_param_int(&p, t->count_attempt ? 1 : 0);
    pg_param_text(&p, t->reason);
    pg_param_text(&p, t->reply);
    pg_param_text(&p, t->message_id);
    pg_param_int(&p, next);
    pg_param_text(&p, t->claimed_by);
    pg_param_int(&p, t->claim_until_ms);
    pg_param_text(&p, owner);
    n = pg_exec(q, TRANSITION_SQL, &p, "transition", err);
    if (n == -1)
        return -1;
    return n == 1;
}

/* "{a,b,c}" of ids, or of the from states' names (no character in them to quote). */
static void id_and_state_arrays(const int64_t *ids, const enum signup_state *from, int n,
                                struct buf *idv, struct buf *fromv)
{
    int i;

    buf_putc(idv, '{');
    buf_putc(fromv, '{');
    for (i = 0; i < n; i++) {
        buf_printf(idv, "%s%lld", i ? "," : "", (long long)ids[i]);
        buf_printf(fromv, "%s%s", i ? "," : "", queue_state_sql_name(from[i]));
    }
    buf_putc(idv, '}');
    buf_putc(fromv, '}');
}

int pg_claim_many(struct queue *q, const int64_t *ids, const enum signup_state *from, int n,
                  const struct transition *t, int64_t now, char *taken, char *err)
{
    struct buf idv, fromv;
    struct pg_params p = {0};
    PGresult *res = NULL;
    int64_t id;
    int i, j, rc = 0;

    buf_init(&idv);
    buf_init(&fromv);
    id_and_state_arrays(ids, from, n, &idv, &fromv);
    memset(taken, 0, (size_t)n);
    if (buf_failed(&idv) || buf_failed(&fromv)) {
        rc = errf(err, "%s: claim: out of memory", q->name);
    } else {
        pg_param_text(&p, buf_str(&idv));
        pg_param_text(&p, buf_str(&fromv));
        pg_param_int(&p, now);
        pg_param_text(&p, t->claimed_by);
        pg_param_int(&p, t->claim_until_ms);
        pg_param_text(&p, t->detail);
        res = pg_run(q, "SELECT reportd_claim_many($1::bigint[], $2::text[], $3, $4, $5, $6)", &p,
                     "claim", err);
        if (res == NULL)
            rc = -1;
    }
    for (i = 0; res != NULL && i < PQntuples(res); i++) {
        id = pg_int(res, i, 0);
        for (j = 0; j < n; j++)
            if (ids[j] == id)
                taken[j] = 1;
    }
    PQclear(res);
    buf_free(&idv);
    buf_free(&fromv);
    return rc;
}

int pg_record_event(struct queue *q, int64_t id, int has_from, enum signup_state from,
                    enum signup_state to, const char *detail, int64_t now, char *err)
{
    struct pg_params p = {0};

    pg_param_int(&p, id);
    pg_param_int(&p, now);
    pg_param_text(&p, has_from ? queue_state_sql_name(from) : NULL);
    pg_param_text(&p, queue_state_sql_name(to));
    pg_param_text(&p, detail);
    return pg_exec(q,
                   "INSERT INTO signup_events (signup_id, at, from_state, to_state, detail)"
                   " VALUES ($1, $2, $3, $4, $5)",
                   &p, "record event", err) == -1
               ? -1
               : 0;
}

/* --- producer side ------------------------------------------------------ */

/* A signup for the address $1, by its key or, once scrubbed, by its keyed hash $2. */
#define FIND_EMAIL_SQL                                                                             \
    "SELECT max(id) FROM signups WHERE (reportd_email_key(email) = reportd_email_key($1)"          \
    " OR email_hash = $2)"
#define FIND_ACTIVE_SQL                                                                            \
    FIND_EMAIL_SQL " AND state IN ('queued', 'sending', 'deferred', 'held', 'sent')"

int pg_find_address(struct queue *q, const char *email, const char *hash, int active, int64_t *id,
                    char *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int rc;

    pg_param_text(&p, email);
    pg_param_text(&p, hash);
    res = pg_run(q, active ? FIND_ACTIVE_SQL : FIND_EMAIL_SQL, &p,
                 active ? "find duplicate" : "find address", err);
    if (res == NULL)
        return -1;
    rc = PQgetisnull(res, 0, 0) ? 1 : 0;
    if (rc == 0)
        *id = pg_int(res, 0, 0);
    PQclear(res);
    return rc;
}

int pg_insert(struct queue *q, const struct signup *s, const char *tasks, const char *skills,
              int64_t now, int64_t *id, char *err)
{
    struct pg_params p = {0};
    PGresult *res;

    pg_param_text(&p, s->email);
    pg_param_text(&p, s->name);
    pg_param_text(&p, s->role);
    pg_param_text(&p, s->level);
    pg_param_text(&p, tasks);
    pg_param_text(&p, skills);
    if (s->has_years)
        pg_param_real(&p, s->years);
    else
        pg_param_text(&p, NULL);
    pg_param_int(&p, s->created_ms ? s->created_ms : now);
    pg_param_int(&p, now);
    res = pg_run(q,
                 "INSERT INTO signups (email, name, role, level, tasks, skills, years, created_at,"
                 " updated_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9)"
                 " RETURNING id",
                 &p, "enqueue", err);
    if (res == NULL)
        return -1;
    *id = pg_int(res, 0, 0);
    PQclear(res);
    return 0;
}

/* --- reading ------------------------------------------------------------ */

#define STATS_SQL                                                                                  \
    "SELECT (SELECT coalesce(min(created_at), 0) FROM signups"                                     \
    "  WHERE state IN ('queued', 'deferred')),"                                                    \
    " (SELECT count(*) FROM signups WHERE state = 'held'"                                          \
    "  AND reason LIKE '" QUEUE_UNCERTAIN_PREFIX "%')"

int pg_stats(struct queue *q, struct queue_stats *s, char *err)
{
    PGresult *res =
        pg_run(q, "SELECT state, count(*) FROM signups GROUP BY state", NULL, "stats", err);
    enum signup_state state;
    int i;

    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++)
        if (signup_state_parse(PQgetvalue(res, i, 0), &state) == 0)
            s->count[state] = pg_int(res, i, 1);
    PQclear(res);
    if ((res = pg_run(q, STATS_SQL, NULL, "stats", err)) == NULL)
        return -1;
    s->oldest_waiting_ms = pg_int(res, 0, 0);
    s->uncertain = pg_int(res, 0, 1);
    PQclear(res);
    res = pg_run(q,
                 "SELECT id, updated_at, reason FROM signups"
                 " WHERE state IN ('failed', 'deferred', 'rejected')"
                 " ORDER BY updated_at DESC, id DESC LIMIT 1",
                 NULL, "stats", err);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        s->last_error_id = pg_int(res, 0, 0);
        s->last_error_ms = pg_int(res, 0, 1);
        snprintf(s->last_error, sizeof(s->last_error), "%s", PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return 0;
}

/* --- metrics ------------------------------------------------------------ */

#define METRICS_COUNTS_SQL                                                                         \
    "SELECT 'state', state, count(*) FROM signups GROUP BY state"                                  \
    " UNION ALL SELECT 'outcome', to_state, count(*) FROM signup_events"                           \
    "  WHERE from_state = 'sending' GROUP BY to_state"

/* Signups by the code their relay's last reply began with; 0 for one without a code. */
#define METRICS_REPLIES_SQL                                                                        \
    "SELECT CASE WHEN last_reply ~ '^[1-5][0-9][0-9]' THEN substr(last_reply, 1, 3)::int"          \
    " ELSE 0 END AS code, count(*) FROM signups WHERE last_reply IS NOT NULL GROUP BY code"

static int metrics_counts(struct queue *q, struct queue_metrics *m, char *err)
{
    PGresult *res = pg_run(q, METRICS_COUNTS_SQL, NULL, "metrics", err);
    enum signup_state state;
    int i;

    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        if (signup_state_parse(PQgetvalue(res, i, 1), &state) == -1)
            continue;
        if (strcmp(PQgetvalue(res, i, 0), "state") == 0)
            m->count[state] = pg_int(res, i, 2);
        else
            m->outcomes[state] = pg_int(res, i, 2);
    }
    PQclear(res);
    if ((res = pg_run(q, METRICS_REPLIES_SQL, NULL, "metrics", err)) == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        int64_t code = pg_int(res, i, 0);

        if (code >= 0 && code < QUEUE_REPLY_CODES)
            m->last_reply[code] = pg_int(res, i, 1);
    }
    PQclear(res);
    return 0;
}

/*
 * Attempts, the oldest waiting, the last send and the latency histogram in
 * one pass.  A producer's created_at in the future counts as no wait at all.
 */
static int metrics_sent(struct queue *q, struct queue_metrics *m, char *err)
{
    static const int64_t bounds[QUEUE_LATENCY_BUCKETS] = QUEUE_LATENCY_BOUNDS_MS;
    struct buf sql;
    PGresult *res;
    size_t i;

    buf_init(&sql);
    buf_puts(&sql, "SELECT coalesce(sum(attempts), 0), coalesce(max(sent_at), 0), count(d),"
                   " coalesce(sum(d), 0), coalesce(min(w), 0)");
    for (i = 0; i < QUEUE_LATENCY_BUCKETS; i++)
        buf_printf(&sql, ", count(*) FILTER (WHERE d <= %lld)", (long long)bounds[i]);
    buf_puts(&sql, " FROM (SELECT attempts, sent_at, CASE WHEN state = 'sent'"
                   " THEN greatest(0, sent_at - created_at) END AS d,"
                   " CASE WHEN state IN ('queued', 'deferred') THEN created_at END AS w"
                   " FROM signups) AS s");
    if (buf_failed(&sql)) {
        buf_free(&sql);
        return errf(err, "%s: metrics: out of memory", q->name);
    }
    res = pg_run(q, buf_str(&sql), NULL, "metrics", err);
    buf_free(&sql);
    if (res == NULL)
        return -1;
    m->attempts = pg_int(res, 0, 0);
    m->last_sent_ms = pg_int(res, 0, 1);
    m->latency_count = pg_int(res, 0, 2);
    m->latency_sum_ms = pg_int(res, 0, 3);
    m->oldest_waiting_ms = pg_int(res, 0, 4);
    for (i = 0; i < QUEUE_LATENCY_BUCKETS; i++)
        m->latency_le[i] = pg_int(res, 0, 5 + (int)i);
    PQclear(res);
    return 0;
}

int pg_metrics(struct queue *q, struct queue_metrics *m, char *err)
{
    return metrics_counts(q, m, err) == -1 || metrics_sent(q, m, err) == -1 ? -1 : 0;
}

int pg_history(struct queue *q, int64_t id, queue_event_fn fn, void *arg, char *err)
{
    struct pg_params p = {0};
    struct queue_event ev;
    PGresult *res;
    int i, rc = 0;

    pg_param_int(&p, id);
    res = pg_run(q,
                 "SELECT at, from_state, to_state, detail FROM signup_events"
                 " WHERE signup_id = $1 ORDER BY at, id",
                 &p, "history", err);
    if (res == NULL)
        return -1;
    for (i = 0; i < PQntuples(res); i++) {
        ev.at_ms = pg_int(res, i, 0);
        ev.has_from = !PQgetisnull(res, i, 1);
        ev.from = SIGNUP_QUEUED;
        ev.detail = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3);
        if ((ev.has_from && signup_state_parse(PQgetvalue(res, i, 1), &ev.from) == -1) ||
            signup_state_parse(PQgetvalue(res, i, 2), &ev.to) == -1) {
            rc = errf(err, "%s: history: unknown state", q->name);
            break;
        }
        if (fn(arg, &ev))
            break;
    }
    PQclear(res);
    return rc;
}
