/*
 * queue_pg_work.c - the PostgreSQL backend's side of the daemon's work: the
 * claim's selection of due signups (FOR UPDATE SKIP LOCKED, so daemons on
 * several hosts take disjoint rows without waiting on each other),
 * recovery's view of claims, the attempt mark, and the scrub and purge
 * statements.  The rules that decide what to do with them are
 * queue_rules.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "queue_pg.h"

/*
 * Due signups, oldest due first, each with a signup already sent to its
 * address if there is one (a duplicate then); one that waits behind an
 * earlier signup for the address (queued, deferred or held) or behind one
 * in flight is left out, as in SQLite's claim.  Rows another daemon is
 * claiming right now are skipped, not waited for; the rows returned stay
 * locked until the claim commits.  A signup sent and since scrubbed is
 * found by its keyed hash afterwards (sent_by_hash).
 *
 * reportd_due() (schema version 2, queue_pg.c) does it in one round trip
 * and reads only as many due signups as it needs, whatever the planner's
 * statistics say: as one SELECT it once read every settled signup for every
 * due one, and later checked every due signup before sorting them.
 */
#define SELECT_DUE_SQL "SELECT due_id, due_state, sent_id, due_email FROM reportd_due($1, $2)"

#define SENT_BY_HASH_SQL                                                                           \
    "SELECT email_hash, min(id) FROM signups WHERE email_hash = ANY ($1::text[])"                  \
    " AND state = 'sent' GROUP BY email_hash"

/*
 * For each due signup without a sent one found by address: a sent and
 * scrubbed one found by the keyed hash of its address.  One query for all.
 */
static int sent_by_hash(struct queue *q, const PGresult *due, struct queue_due *out, int n,
                        char *err)
{
    char(*hex)[SHA256_HEX_LEN];
    struct pg_params p = {0};
    struct buf arr;
    PGresult *res;
    int i, j, any = 0, rc = 0;

    if (n <= 0 || n > QUEUE_MAX_BATCH)
        return 0;
    hex = calloc((size_t)n, sizeof(*hex));
    if (hex == NULL)
        return errf(err, "%s: claim: out of memory", q->name);
    buf_init(&arr);
    buf_putc(&arr, '{');
    for (i = 0; i < n && rc == 0; i++) {
        if (out[i].sent_id != 0)
            continue;
        rc = queue_email_hash_hex(q, PQgetvalue(due, i, 3), hex[i]);
        if (rc == 1) {
            hex[i][0] = '\0';
            rc = 0;
            continue;
        }
        /* Hex digits only: nothing in an array literal to quote. */
        buf_printf(&arr, "%s%s", any++ ? "," : "", hex[i]);
    }
    buf_putc(&arr, '}');
    if (rc == -1 || buf_failed(&arr)) {
        rc = errf(err, "%s: claim: out of memory", q->name);
    } else if (any) {
        pg_param_text(&p, buf_str(&arr));
        res = pg_run(q, SENT_BY_HASH_SQL, &p, "claim", err);
        if (res == NULL)
            rc = -1;
        for (j = 0; res != NULL && j < PQntuples(res); j++)
            for (i = 0; i < n; i++)
                if (out[i].sent_id == 0 && strcmp(hex[i], PQgetvalue(res, j, 0)) == 0)
                    out[i].sent_id = pg_int(res, j, 1);
        PQclear(res);
    }
    buf_free(&arr);
    free(hex);
    return rc;
}

int pg_select_due(struct queue *q, int64_t now, int max, struct queue_due *out, char *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int n, i;

    pg_param_int(&p, now);
    pg_param_int(&p, max);
    res = pg_run(q, SELECT_DUE_SQL, &p, "claim", err);
    if (res == NULL)
        return -1;
    n = PQntuples(res) < max ? PQntuples(res) : max;
    for (i = 0; i < n; i++) {
        out[i].id = pg_int(res, i, 0);
        out[i].sent_id = pg_int(res, i, 2);
        if (signup_state_parse(PQgetvalue(res, i, 1), &out[i].state) == -1) {
            errf(err, "%s: claim: signup %lld has an unknown state", q->name, (long long)out[i].id);
            PQclear(res);
            return -1;
        }
    }
    if (sent_by_hash(q, res, out, n, err) == -1)
        n = -1;
    PQclear(res);
    return n;
}

/*
 * Every signup in sending, unlocked: most are live claims of other daemons,
 * which must not wait on this look to record their outcomes.  Recovery
 * locks only the ones it finds abandoned (pg_lock_claim).
 */
int pg_select_claims(struct queue *q, struct queue_claim **out, size_t *n, char *err)
{
    PGresult *res = pg_run(q,
                           "SELECT id, attempts, claimed_by, claim_until,"
                           " attempt_started_at IS NOT NULL FROM signups"
                           " WHERE state = 'sending' ORDER BY id",
                           NULL, "recover", err);
    struct queue_claim *v;
    int i, rows;

    *n = 0;
    *out = NULL;
    if (res == NULL)
        return -1;
    rows = PQntuples(res);
    v = calloc((size_t)rows + 1, sizeof(*v));
    if (v == NULL) {
        PQclear(res);
        return errf(err, "%s: recover: out of memory", q->name);
    }
    for (i = 0; i < rows; i++) {
        v[i] = (struct queue_claim){.id = pg_int(res, i, 0),
                                    .attempts = (int)pg_int(res, i, 1),
                                    .has_until = !PQgetisnull(res, i, 3),
                                    .until = pg_int(res, i, 3),
                                    .attempted = strcmp(PQgetvalue(res, i, 4), "t") == 0};
        if (pg_copy_text(res, i, 2, &v[i].owner) == -1) {
            while (i-- > 0)
                free(v[i].owner);
            free(v);
            PQclear(res);
            return errf(err, "%s: recover: out of memory", q->name);
        }
    }
    PQclear(res);
    *out = v;
    *n = (size_t)rows;
    return 0;
}

#define LOCK_CLAIM_SQL                                                                             \
    "SELECT 1 FROM signups WHERE id = $1 AND state = 'sending'"                                    \
    " AND claimed_by IS NOT DISTINCT FROM $2 AND claim_until IS NOT DISTINCT FROM $3"              \
    " AND attempt_started_at IS NOT NULL = $4 FOR UPDATE SKIP LOCKED"

int pg_lock_claim(struct queue *q, const struct queue_claim *c, char *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int rows;

    pg_param_int(&p, c->id);
    pg_param_text(&p, c->owner);
    if (c->has_until)
        pg_param_int(&p, c->until);
    else
        pg_param_text(&p, NULL);
    pg_param_text(&p, c->attempted ? "true" : "false");
    res = pg_run(q, LOCK_CLAIM_SQL, &p, "recover", err);
    if (res == NULL)
        return -1;
    rows = PQntuples(res);
    PQclear(res);
    return rows == 1;
}

/* As SQLite's: something to do now, else when the next waiting signup falls due. */
int pg_has_work(struct queue *q, int64_t now, int64_t *next_due_ms, char *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int rc;

    pg_param_int(&p, now);
    res = pg_run(q,
                 "SELECT EXISTS (SELECT 1 FROM signups WHERE state IN ('queued', 'deferred')"
                 " AND next_attempt_at <= $1) OR EXISTS (SELECT 1 FROM signups"
                 " WHERE state = 'sending'), (SELECT min(next_attempt_at) FROM signups"
                 " WHERE state IN ('queued', 'deferred'))",
                 &p, "look for work", err);
    if (res == NULL)
        return -1;
    rc = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    *next_due_ms = PQgetisnull(res, 0, 1) ? INT64_MAX : pg_int(res, 0, 1);
    PQclear(res);
    return rc;
}

int pg_select_non_ascii_due(struct queue *q, int64_t now, int64_t *ids, char **emails, int max,
                            char *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int i, n;

    pg_param_int(&p, now);
    pg_param_int(&p, max);
    res = pg_run(q,
                 "SELECT id, email FROM signups WHERE state IN ('queued', 'deferred')"
                 " AND next_attempt_at <= $1 AND email ~ '[^ -~]' ORDER BY id LIMIT $2",
                 &p, "claim", err);
    if (res == NULL)
        return -1;
    n = PQntuples(res) < max ? PQntuples(res) : max;
    for (i = 0; i < n; i++) {
        ids[i] = pg_int(res, i, 0);
        if (pg_copy_text(res, i, 1, &emails[i]) == -1) {
            while (i-- > 0)
                free(emails[i]);
            PQclear(res);
            return errf(err, "%s: claim: out of memory", q->name);
        }
    }
    PQclear(res);
    return n;
}

int pg_set_email(struct queue *q, int64_t id, const char *email, char *err)
{
    struct pg_params p = {0};

    pg_param_int(&p, id);
    pg_param_text(&p, email);
    return pg_exec(q, "UPDATE signups SET email = $2 WHERE id = $1", &p, "claim", err) == -1 ? -1
                                                                                             : 0;
}

int pg_mark_attempt(struct queue *q, int64_t id, const char *owner, int64_t now, char *err)
{
    struct pg_params p = {0};
    int64_t n;

    pg_param_int(&p, id);
    pg_param_text(&p, owner);
    pg_param_int(&p, now);
    /* One statement outside a transaction is its own transaction: committed when it returns. */
    n = pg_exec(q,
                "UPDATE signups SET attempt_started_at = $3"
                " WHERE id = $1 AND state = 'sending' AND claimed_by = $2",
                &p, "mark attempt", err);
    if (n == -1)
        return -1;
    return n == 1 ? 0 : 1;
}

/* --- retention and purge ------------------------------------------------- */

/* col with the address $2 replaced as stored, as its key and in lowercase (see SQLite's). */
#define REDACT_SQL(col)                                                                            \
    "CASE WHEN strpos($2, '@') = 0 THEN " col " ELSE replace(replace(replace(" col                 \
    ", $2, '" QUEUE_ADDRESS_PLACEHOLDER "'), reportd_email_key($2), '" QUEUE_ADDRESS_PLACEHOLDER   \
    "'), lower($2), '" QUEUE_ADDRESS_PLACEHOLDER "') END"

#define SCRUB_EVENTS_SQL                                                                           \
    "UPDATE signup_events SET detail = " REDACT_SQL("detail") " WHERE signup_id = $1"

#define SCRUB_SIGNUP_SQL                                                                           \
    "UPDATE signups SET email = '', name = NULL, tasks = '[]', skills = '[]', years = NULL,"       \
    " email_hash = $3, scrubbed_at = $4, reason = " REDACT_SQL(                                    \
        "reason") ","                                                                              \
                  " last_reply = " REDACT_SQL(                                                     \
                      "last_reply") " WHERE id = $1 AND scrubbed_at IS NULL"

int pg_scrub(struct queue *q, int64_t id, const char *email, const char *hash, int64_t now,
             char *err)
{
    struct pg_params p = {0};

    pg_param_int(&p, id);
    pg_param_text(&p, email);
    if (pg_exec(q, SCRUB_EVENTS_SQL, &p, "scrub", err) == -1)
        return -1;
    pg_param_text(&p, hash);
    pg_param_int(&p, now);
    return pg_exec(q, SCRUB_SIGNUP_SQL, &p, "scrub", err) == -1 ? -1 : 0;
}

int pg_select_scrub_due(struct queue *q, int64_t cutoff, struct queue_scrub_row *v, size_t *n,
                        char *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int i, rows;

    *n = 0;
    pg_param_int(&p, cutoff);
    pg_param_int(&p, QUEUE_SCRUB_BATCH);
    res = pg_run(q,
                 "SELECT id, email, state FROM signups WHERE scrubbed_at IS NULL"
                 " AND state IN ('sent', 'failed', 'rejected') AND updated_at <= $1"
                 " ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                 &p, "scrub", err);
    if (res == NULL)
        return -1;
    rows = PQntuples(res) < QUEUE_SCRUB_BATCH ? PQntuples(res) : QUEUE_SCRUB_BATCH;
    for (i = 0; i < rows; i++) {
        v[i].id = pg_int(res, i, 0);
        v[i].email = strdup(PQgetvalue(res, i, 1));
        if (v[i].email == NULL || signup_state_parse(PQgetvalue(res, i, 2), &v[i].state) == -1) {
            errf(err, "%s: scrub: signup %lld: %s", q->name, (long long)v[i].id,
                 v[i].email == NULL ? "out of memory" : "unknown state");
            while (i >= 0)
                free(v[i--].email);
            PQclear(res);
            return -1;
        }
    }
    PQclear(res);
    *n = (size_t)rows;
    return 0;
}

int pg_purge_target(struct queue *q, int64_t id, struct queue_purge_target *t, char *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int rc = 0;

    *t = (struct queue_purge_target){0};
    pg_param_int(&p, id);
    res = pg_run(q,
                 "SELECT state, claim_until, scrubbed_at, email FROM signups WHERE id = $1"
                 " FOR UPDATE",
                 &p, "purge", err);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        rc = 1;
    } else if (signup_state_parse(PQgetvalue(res, 0, 0), &t->state) == -1) {
        rc = errf(err, "%s: purge: signup %lld has an unknown state", q->name, (long long)id);
    } else {
        t->claim_until = pg_int(res, 0, 1);
        t->scrubbed = pg_int(res, 0, 2);
        t->email = strdup(PQgetvalue(res, 0, 3));
        if (t->email == NULL)
            rc = errf(err, "%s: purge: out of memory", q->name);
    }
    PQclear(res);
    return rc;
}

/* The history goes by ON DELETE CASCADE. */
int pg_delete_signup(struct queue *q, int64_t id, char *err)
{
    struct pg_params p = {0};

    pg_param_int(&p, id);
    return pg_exec(q, "DELETE FROM signups WHERE id = $1", &p, "purge", err) == -1 ? -1 : 0;
}

/* --- queue copy ------------------------------------------------------------ */

int pg_copy_begin(struct queue *q, char *err)
{
    /* The triggers let whole rows in, and add no creation event of their own. */
    return pg_command(q, "SET LOCAL reportd.copying = 'on'", "copy", err);
}

/* A time column: 0 is how a record says NULL. */
static void param_time(struct pg_params *p, int64_t ms)
{
    if (ms == 0)
        pg_param_text(p, NULL);
    else
        pg_param_int(p, ms);
}

#define COPY_ROW_SQL                                                                               \
    "INSERT INTO signups (id, email, name, role, level, tasks, skills, years, created_at, state,"  \
    " attempts, next_attempt_at, updated_at, sent_at, message_id, last_reply, reason, claimed_by," \
    " claim_until, requeued_at, attempt_started_at, email_hash, scrubbed_at)"                      \
    " OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3,"                                                 \
    " $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,"     \
    " $20, $21, $22, $23)"

int pg_copy_row(struct queue *q, const struct signup_record *r, const char *tasks,
                const char *skills, char *err)
{
    const struct signup *s = &r->signup;
    struct pg_params p = {0};

    pg_param_int(&p, s->id);
    pg_param_text(&p, s->email ? s->email : "");
    pg_param_text(&p, s->name);
    pg_param_text(&p, s->role ? s->role : "");
    pg_param_text(&p, s->level ? s->level : "");
    pg_param_text(&p, tasks);
    pg_param_text(&p, skills);
    if (s->has_years)
        pg_param_real(&p, s->years);
    else
        pg_param_text(&p, NULL);
    pg_param_int(&p, s->created_ms);
    pg_param_text(&p, queue_state_sql_name(r->state));
    pg_param_int(&p, r->attempts);
    pg_param_int(&p, r->next_attempt_ms);
    pg_param_int(&p, r->updated_ms);
    param_time(&p, r->sent_ms);
    pg_param_text(&p, r->message_id);
    pg_param_text(&p, r->last_reply);
    pg_param_text(&p, r->reason);
    pg_param_text(&p, r->claimed_by);
    param_time(&p, r->claim_until_ms);
    param_time(&p, r->requeued_ms);
    param_time(&p, r->attempt_started_ms);
    pg_param_text(&p, r->email_hash);
    param_time(&p, r->scrubbed_ms);
    return pg_exec(q, COPY_ROW_SQL, &p, "copy", err) == -1 ? -1 : 0;
}

int pg_copy_end(struct queue *q, const unsigned char key[QUEUE_HASH_KEY_LEN], char *err)
{
    char hex[2 * QUEUE_HASH_KEY_LEN + 1];
    struct pg_params p = {0};
    size_t i;
    int rc;

    for (i = 0; i < QUEUE_HASH_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    pg_param_text(&p, hex);
    rc =
        pg_exec(
            q, "UPDATE reportd_secrets SET value = decode($1, 'hex') WHERE name = 'email_hash_key'",
            &p, "copy", err) == 1
            ? 0
            : -1;
    explicit_bzero(hex, sizeof(hex));
    if (rc == -1) {
        if (pg_last_sqlstate(q)[0] == '\0')
            errf(err, "%s: copy: the address hash key is missing", q->name);
        return -1;
    }
    memcpy(q->hash_key, key, QUEUE_HASH_KEY_LEN);
    if (pg_command(q,
                   "SELECT setval(pg_get_serial_sequence('signups', 'id'),"
                   " (SELECT coalesce(max(id), 0) + 1 FROM signups), false),"
                   " setval(pg_get_serial_sequence('signup_events', 'id'),"
                   " (SELECT coalesce(max(id), 0) + 1 FROM signup_events), false)",
                   "copy", err) == -1)
        return -1;
    return 0;
}
