/*
 * queue_sqlite_work.c - the SQLite backend's side of the daemon's work: the
 * claim's selection of due signups, recovery's view of claims, the attempt
 * mark, and the scrub and purge statements.  The rules that decide what to
 * do with them are queue_rules.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_sqlite.h"

#define EMAIL_KEY_OF_SELF  SQ_EMAIL_KEY("s.email")
#define EMAIL_KEY_OF_OTHER SQ_EMAIL_KEY("o.email")

/* --- daemon side -------------------------------------------------------- */

/*
 * Due signups, oldest due first, each with a signup already sent to its
 * address if there is one (it is a duplicate then): by the address's key,
 * or by its keyed hash when that signup was scrubbed (two lookups rather
 * than one OR, which SQLite would answer by reading every sent row; and the
 * keyed hash, the dearest part of a claim, only while some signup has been
 * scrubbed, since no other row has one to match).  A
 * scrubbed email is '', whose key is '': a producer's empty address must be
 * rejected as the invalid address it is, not as a duplicate of those.  A signup that waits
 * behind an earlier one for the same address (queued, deferred or held), or
 * behind any one in flight (an operator may have retried an older signup), is
 * left out: it is decided once that one settles, and leaving it out here lets
 * a claim fill its batch with signups that can go.  The claim's write
 * transaction holds the file's write lock: nobody else claims meanwhile.
 */
#define SELECT_DUE_SQL                                                                             \
    "SELECT id, state, sent_id FROM (SELECT s.id, s.state, s.next_attempt_at,"                     \
    " coalesce((SELECT min(o.id) FROM signups AS o WHERE " EMAIL_KEY_OF_OTHER                      \
    " = " EMAIL_KEY_OF_SELF "  AND o.id <> s.id AND o.state = 'sent' AND o.scrubbed_at IS NULL),"  \
    "  CASE WHEN (SELECT 1 FROM signups WHERE email_hash IS NOT NULL LIMIT 1) THEN"                \
    "  (SELECT min(o.id) FROM signups AS o WHERE o.email_hash = " SQ_EMAIL_HASH_FUNCTION           \
    "(s.email)"                                                                                    \
    "   AND o.state = 'sent') END) AS sent_id,"                                                    \
    " EXISTS (SELECT 1 FROM signups AS o WHERE " EMAIL_KEY_OF_OTHER " = " EMAIL_KEY_OF_SELF        \
    "  AND ((o.id < s.id AND o.state IN ('queued', 'deferred', 'held'))"                           \
    "   OR (o.id <> s.id AND o.state = 'sending'))) AS waits"                                      \
    " FROM signups AS s WHERE s.state IN ('queued', 'deferred') AND s.next_attempt_at <= ?1)"      \
    " WHERE sent_id IS NOT NULL OR NOT waits ORDER BY next_attempt_at, id LIMIT ?2"

int sq_select_due(struct queue *q, int64_t now, int max, struct queue_due *out, char *err)
{
    sqlite3_stmt *st = sq_prepare(q, SELECT_DUE_SQL, "claim", err);
    int n = 0, rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, now) != SQLITE_OK || sqlite3_bind_int(st, 2, max) != SQLITE_OK)
        return sq_bind_fail(q, st, "claim", err);
    while ((rc = sq_step(q, st, "claim", err)) == SQLITE_ROW && n < max) {
        const char *state = (const char *)sqlite3_column_text(st, 1);

        out[n].id = sqlite3_column_int64(st, 0);
        out[n].sent_id = sqlite3_column_int64(st, 2);
        if (state == NULL || signup_state_parse(state, &out[n].state) == -1) {
            errf(err, "%s: claim: signup %lld has an unknown state", q->name, (long long)out[n].id);
            rc = -1;
            break;
        }
        n++;
    }
    sq_finish(q, st);
    return rc == -1 ? -1 : n;
}

/* Every signup in sending, read in full before any of them changes. */
int sq_select_claims(struct queue *q, struct queue_claim **out, size_t *n, char *err)
{
    sqlite3_stmt *st = sq_prepare(q,
                                  "SELECT id, attempts, claimed_by, claim_until,"
                                  " attempt_started_at IS NOT NULL FROM signups"
                                  " WHERE state = 'sending' ORDER BY id",
                                  "recover", err);
    struct queue_claim *v = NULL, *grown;
    size_t i;
    int rc;

    *n = 0;
    *out = NULL;
    if (st == NULL)
        return -1;
    while ((rc = sq_step(q, st, "recover", err)) == SQLITE_ROW) {
        grown = realloc(v, (*n + 1) * sizeof(*v));
        if (grown == NULL)
            break;
        v = grown;
        v[*n] = (struct queue_claim){.id = sqlite3_column_int64(st, 0),
                                     .attempts = sqlite3_column_int(st, 1),
                                     .has_until = sqlite3_column_type(st, 3) != SQLITE_NULL,
                                     .until = sqlite3_column_int64(st, 3),
                                     .attempted = sqlite3_column_int(st, 4)};
        if (sq_copy_text(st, 2, &v[*n].owner) == -1)
            break;
        (*n)++;
    }
    sq_finish(q, st);
    if (rc == SQLITE_ROW)
        errf(err, "%s: recover: out of memory", q->name);
    if (rc != SQLITE_DONE) {
        for (i = 0; i < *n; i++)
            free(v[i].owner);
        free(v);
        *n = 0;
        return -1;
    }
    *out = v;
    return 0;
}

/*
 * Something to claim, or a claim that might be abandoned; else when the next
 * waiting signup falls due.  Each part is one look into an index.
 */
#define HAS_WORK_SQL                                                                               \
    "SELECT EXISTS (SELECT 1 FROM signups WHERE state IN ('queued', 'deferred')"                   \
    " AND next_attempt_at <= ?1) OR EXISTS (SELECT 1 FROM signups WHERE state = 'sending'),"       \
    " (SELECT min(next_attempt_at) FROM signups WHERE state = 'queued'),"                          \
    " (SELECT min(next_attempt_at) FROM signups WHERE state = 'deferred')"

int sq_has_work(struct queue *q, int64_t now, int64_t *next_due_ms, char *err)
{
    sqlite3_stmt *st = sq_prepare(q, HAS_WORK_SQL, "look for work", err);
    int rc, i;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, now) != SQLITE_OK)
        return sq_bind_fail(q, st, "look for work", err);
    rc = sq_step(q, st, "look for work", err);
    if (rc == SQLITE_ROW) {
        rc = sqlite3_column_int(st, 0) != 0;
        *next_due_ms = INT64_MAX;
        for (i = 1; i <= 2; i++)
            if (sqlite3_column_type(st, i) != SQLITE_NULL &&
                sqlite3_column_int64(st, i) < *next_due_ms)
                *next_due_ms = sqlite3_column_int64(st, i);
    } else if (rc != -1) {
        rc = errf(err, "%s: look for work: no answer", q->name);
    }
    sq_finish(q, st);
    return rc;
}

/*
 * INDEXED BY: without statistics SQLite would pick signups_due and read every
 * waiting signup on each claim; with it, only the non-ASCII ones.
 */
#define DUE_NON_ASCII_SQL                                                                          \
    "SELECT id, email FROM signups INDEXED BY signups_unicode_due WHERE " SQ_NON_ASCII_DUE         \
    " AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2"

int sq_select_non_ascii_due(struct queue *q, int64_t now, int64_t *ids, char **emails, int max,
                            char *err)
{
    sqlite3_stmt *st = sq_prepare(q, DUE_NON_ASCII_SQL, "claim", err);
    int n = 0, rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, now) != SQLITE_OK || sqlite3_bind_int(st, 2, max) != SQLITE_OK)
        return sq_bind_fail(q, st, "claim", err);
    while ((rc = sq_step(q, st, "claim", err)) == SQLITE_ROW && n < max) {
        ids[n] = sqlite3_column_int64(st, 0);
        if (sq_copy_text(st, 1, &emails[n]) == -1) {
            rc = errf(err, "%s: claim: out of memory", q->name);
            break;
        }
        n++;
    }
    sq_finish(q, st);
    if (rc == -1) {
        while (n-- > 0)
            free(emails[n]);
        return -1;
    }
    return n;
}

int sq_set_email(struct queue *q, int64_t id, const char *email, char *err)
{
    sqlite3_stmt *st = sq_prepare(q, "UPDATE signups SET email = ?2 WHERE id = ?1", "claim", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK || sq_bind_text(st, 2, email) != SQLITE_OK)
        return sq_bind_fail(q, st, "claim", err);
    rc = sq_step(q, st, "claim", err);
    sq_finish(q, st);
    return rc == -1 ? -1 : 0;
}

#define MARK_ATTEMPT_SQL                                                                           \
    "UPDATE signups SET attempt_started_at = ?3"                                                   \
    " WHERE id = ?1 AND state = 'sending' AND claimed_by = ?2"

int sq_mark_attempt(struct queue *q, int64_t id, const char *owner, int64_t now, char *err)
{
    sqlite3_stmt *st = sq_prepare(q, MARK_ATTEMPT_SQL, "mark attempt", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK || sq_bind_text(st, 2, owner) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, now) != SQLITE_OK)
        return sq_bind_fail(q, st, "mark attempt", err);
    /* One statement outside a transaction is its own transaction: committed when it returns. */
    rc = sq_step(q, st, "mark attempt", err);
    sq_finish(q, st);
    if (rc == -1)
        return -1;
    return sqlite3_changes(sq_db(q)) == 1 ? 0 : 1;
}

/* --- retention and purge ------------------------------------------------- */

/*
 * col with the address ?2 replaced wherever it appears as stored, as its key
 * and in lowercase (a relay may quote it in a reply, a reason may quote the
 * reply).  Only for text with an @, so that a producer's junk address
 * ("x") does not blank every x of a reason.
 */
#define REDACT_SQL(col)                                                                            \
    "CASE WHEN instr(?2, '@') = 0 THEN " col " ELSE replace(replace(replace(" col                  \
    ", ?2, '" QUEUE_ADDRESS_PLACEHOLDER                                                            \
    "'), " SQ_EMAIL_KEY("?2") ", '" QUEUE_ADDRESS_PLACEHOLDER                                      \
                              "'), lower(?2), '" QUEUE_ADDRESS_PLACEHOLDER "') END"

#define SCRUB_EVENTS_SQL                                                                           \
    "UPDATE signup_events SET detail = " REDACT_SQL("detail") " WHERE signup_id = ?1"

/* Producers insert email NOT NULL: '' stands in, and its key never equals an address's. */
#define SCRUB_SIGNUP_SQL                                                                           \
    "UPDATE signups SET email = '', name = NULL, tasks = '[]', skills = '[]', years = NULL,"       \
    " email_hash = ?3, scrubbed_at = ?4, reason = " REDACT_SQL(                                    \
        "reason") ","                                                                              \
                  " last_reply = " REDACT_SQL(                                                     \
                      "last_reply") " WHERE id = ?1 AND scrubbed_at IS NULL"

/*
 * Settled signups still holding personal data, settled at ?1 or before;
 * oldest first.  Without statistics SQLite would walk signups_due through
 * every sent row; the partial index holds only the ones still to scrub.
 */
#define SCRUB_DUE_SQL                                                                              \
    "SELECT id, email, state FROM signups INDEXED BY signups_unscrubbed"                           \
    " WHERE scrubbed_at IS NULL AND " SQ_STATE_IS_SETTLED(                                         \
        "state") " AND updated_at <= ?1 ORDER BY updated_at LIMIT ?2"

/*
 * Runs a scrub statement binding id ?1 and the address ?2, and for the
 * signup's row (with_row) its hash ?3 (NULL: none) and the time ?4.
 */
static int run_scrub(struct queue *q, const char *sql, int64_t id, const char *email, int with_row,
                     const char *hash, int64_t now, char *err)
{
    sqlite3_stmt *st = sq_prepare(q, sql, "scrub", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK || sq_bind_text(st, 2, email) != SQLITE_OK ||
        (with_row &&
         (sq_bind_text(st, 3, hash) != SQLITE_OK || sqlite3_bind_int64(st, 4, now) != SQLITE_OK)))
        return sq_bind_fail(q, st, "scrub", err);
    rc = sq_step(q, st, "scrub", err);
    sq_finish(q, st);
    return rc == -1 ? -1 : 0;
}

int sq_scrub(struct queue *q, int64_t id, const char *email, const char *hash, int64_t now,
             char *err)
{
    if (run_scrub(q, SCRUB_EVENTS_SQL, id, email, 0, NULL, now, err) == -1 ||
        run_scrub(q, SCRUB_SIGNUP_SQL, id, email, 1, hash, now, err) == -1)
        return -1;
    return 0;
}

int sq_select_scrub_due(struct queue *q, int64_t cutoff, struct queue_scrub_row *v, size_t *n,
                        char *err)
{
    sqlite3_stmt *st = sq_prepare(q, SCRUB_DUE_SQL, "scrub", err);
    size_t i;
    int rc;

    *n = 0;
    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, cutoff) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, QUEUE_SCRUB_BATCH) != SQLITE_OK)
        return sq_bind_fail(q, st, "scrub", err);
    while ((rc = sq_step(q, st, "scrub", err)) == SQLITE_ROW && *n < QUEUE_SCRUB_BATCH) {
        const char *state = (const char *)sqlite3_column_text(st, 2);
        struct queue_scrub_row *r = &v[*n];

        r->id = sqlite3_column_int64(st, 0);
        if (state == NULL || signup_state_parse(state, &r->state) == -1) {
            rc =
                errf(err, "%s: scrub: signup %lld has an unknown state", q->name, (long long)r->id);
            break;
        }
        /* A producer's email may be anything; as text it is what the key and hash see. */
        if (sq_copy_text(st, 1, &r->email) == -1 ||
            (r->email == NULL && (r->email = strdup("")) == NULL)) {
            rc = errf(err, "%s: scrub: out of memory", q->name);
            break;
        }
        (*n)++;
    }
    sq_finish(q, st);
    if (rc == -1) {
        for (i = 0; i < *n; i++)
            free(v[i].email);
        *n = 0;
        return -1;
    }
    return 0;
}

int sq_purge_target(struct queue *q, int64_t id, struct queue_purge_target *t, char *err)
{
    sqlite3_stmt *st =
        sq_prepare(q, "SELECT state, claim_until, scrubbed_at, email FROM signups WHERE id = ?1",
                   "purge", err);
    const char *state;
    int rc;

    *t = (struct queue_purge_target){0};
    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return sq_bind_fail(q, st, "purge", err);
    rc = sq_step(q, st, "purge", err);
    if (rc == SQLITE_ROW) {
        state = (const char *)sqlite3_column_text(st, 0);
        t->claim_until = sqlite3_column_int64(st, 1);
        t->scrubbed = sqlite3_column_int64(st, 2);
        if (state == NULL || signup_state_parse(state, &t->state) == -1)
            rc = errf(err, "%s: purge: signup %lld has an unknown state", q->name, (long long)id);
        else if (sq_copy_text(st, 3, &t->email) == -1 ||
                 (t->email == NULL && (t->email = strdup("")) == NULL))
            rc = errf(err, "%s: purge: out of memory", q->name);
    }
    sq_finish(q, st);
    if (rc == -1) {
        free(t->email);
        t->email = NULL;
        return -1;
    }
    return rc == SQLITE_ROW ? 0 : 1;
}

/* The history goes by ON DELETE CASCADE. */
int sq_delete_signup(struct queue *q, int64_t id, char *err)
{
    sqlite3_stmt *st = sq_prepare(q, "DELETE FROM signups WHERE id = ?1", "purge", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return sq_bind_fail(q, st, "purge", err);
    rc = sq_step(q, st, "purge", err);
    sq_finish(q, st);
    return rc == -1 ? -1 : 0;
}
