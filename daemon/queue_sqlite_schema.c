/*
 * queue_sqlite_schema.c - the SQLite queue's schema: its migrations (PRAGMA
 * user_version counts them), the check a read-only open makes, and the
 * address hash key stored with it (and the SQL function the claim uses to
 * compare an address with scrubbed ones).
 */
#define LOG_MODULE "queue"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "queue_sqlite.h"

/* SQLite's idea of now, in Unix milliseconds, for column defaults. */
#define SQL_NOW_MS "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"

#define HASH_KEY_NAME "email_hash_key"
/* The schema version that brought the hash key: databases migrated past it get one. */
#define HASH_KEY_SCHEMA 4

/* signups' columns as schema 4 left them, in their order, for the rebuild's copy. */
#define SIGNUPS_V4_COLUMNS                                                                         \
    "id, email, name, role, level, tasks, skills, years, created_at, state, attempts,"             \
    " next_attempt_at, updated_at, sent_at, message_id, last_reply, reason, claimed_by,"           \
    " claim_until, requeued_at, attempt_started_at, email_hash, scrubbed_at"

/* One statement of the trigger that keeps producers off reportd's columns. */
#define OWNED_COLUMN_CHECK(col, set_sql)                                                           \
    " SELECT RAISE(ABORT, 'signups." col " belongs to reportd: a producer inserts only email,"     \
    " name, role, level, tasks, skills, years and created_at') WHERE " set_sql ";"

/*
 * Schema migrations, applied in order; PRAGMA user_version counts the ones a
 * database has had.  Append new versions, never edit an old one.
 */
/*
 * A version's SQL, in parts run in order: C compilers need not take a string
 * literal longer than 4095 bytes.
 */
#define MIGRATION_PARTS 3

struct migration {
    const char *const sql[MIGRATION_PARTS];
};

/* clang-format off */
static const struct migration migrations[] = {
    /* 1: signups and their history. */
    {{"CREATE TABLE signups ("
    " id INTEGER PRIMARY KEY,"
    /* The producer's columns. */
    " email TEXT NOT NULL,"
    " name TEXT,"
    " role TEXT NOT NULL,"
    " level TEXT NOT NULL,"
    " tasks TEXT NOT NULL DEFAULT '[]',"
    " skills TEXT NOT NULL DEFAULT '[]',"
    " years REAL,"
    " created_at INTEGER NOT NULL DEFAULT (" SQL_NOW_MS "),"
    /* reportd's columns. */
    " state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN " SQ_STATE_NAMES "),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt_at INTEGER NOT NULL DEFAULT 0,"
    " updated_at INTEGER NOT NULL DEFAULT (" SQL_NOW_MS "),"
    " sent_at INTEGER,"
    " message_id TEXT,"
    " last_reply TEXT,"
    " reason TEXT,"
    " claimed_by TEXT,"
    " claim_until INTEGER"
    ");"
    "CREATE INDEX signups_due ON signups (state, next_attempt_at);"
    "CREATE INDEX signups_email_key ON signups (" SQ_EMAIL_KEY("email") ");"
    "CREATE TABLE signup_events ("
    " id INTEGER PRIMARY KEY,"
    " signup_id INTEGER NOT NULL REFERENCES signups (id) ON DELETE CASCADE,"
    " at INTEGER NOT NULL,"
    " from_state TEXT CHECK (from_state IS NULL OR from_state IN " SQ_STATE_NAMES "),"
    " to_state TEXT NOT NULL CHECK (to_state IN " SQ_STATE_NAMES "),"
    " detail TEXT"
    ");"
    "CREATE INDEX signup_events_signup ON signup_events (signup_id, at);"
    /* A producer's own INSERT gets its creation event too. */
    "CREATE TRIGGER signups_created AFTER INSERT ON signups BEGIN"
    " INSERT INTO signup_events (signup_id, at, from_state, to_state, detail)"
    " VALUES (new.id, " SQL_NOW_MS ", NULL, new.state, 'created');"
    " END;"}},
    /*
     * 2: when an operator last put a signup back in the queue, so that its
     * lifetime starts again there rather than at its creation.
     */
    {{"ALTER TABLE signups ADD COLUMN requeued_at INTEGER;"}},
    /*
     * 3: when the current claim's message started to go out (NULL: not
     * yet).  A claim recovered after a crash with this set may have been
     * delivered: it is uncertain, and queue.uncertain decides.
     */
    {{"ALTER TABLE signups ADD COLUMN attempt_started_at INTEGER;"}},
    /*
     * 4: retention.  A scrubbed signup keeps a keyed hash of its address
     * (email_hash; email becomes '') and the time it was scrubbed.  The key
     * is made at migration (see store_hash_key) and shared by every process
     * that opens the file.  The partial index finds settled signups still
     * holding personal data without reading the scrubbed ones.
     */
    {{"ALTER TABLE signups ADD COLUMN email_hash TEXT;"
    "ALTER TABLE signups ADD COLUMN scrubbed_at INTEGER;"
    "CREATE INDEX signups_email_hash ON signups (email_hash) WHERE email_hash IS NOT NULL;"
    "CREATE INDEX signups_unscrubbed ON signups (updated_at)"
    " WHERE scrubbed_at IS NULL AND state IN " SQ_SETTLED_STATES ";"
    "CREATE TABLE reportd_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);"}},
    /*
     * 5: the producer contract enforced by the database.  tasks and skills
     * may be NULL (an empty list).  SQLite cannot drop NOT NULL in place, so
     * signups is rebuilt (SQLite's 12-step procedure: new table, copy, drop,
     * rename, indexes and triggers again), keeping every id and so every
     * history row; migrate() runs it with foreign keys off, else the DROP
     * would cascade into signup_events, and checks them before committing.
     * A trigger refuses an INSERT that gives one of reportd's columns a value
     * other than its default, and signup_status is what a website reads.
     */
    {{"CREATE TABLE signups_v5 ("
    " id INTEGER PRIMARY KEY,"
    " email TEXT NOT NULL,"
    " name TEXT,"
    " role TEXT NOT NULL,"
    " level TEXT NOT NULL,"
    " tasks TEXT DEFAULT '[]',"
    " skills TEXT DEFAULT '[]',"
    " years REAL,"
    " created_at INTEGER NOT NULL DEFAULT (" SQL_NOW_MS "),"
    " state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN " SQ_STATE_NAMES "),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt_at INTEGER NOT NULL DEFAULT 0,"
    " updated_at INTEGER NOT NULL DEFAULT (" SQL_NOW_MS "),"
    " sent_at INTEGER,"
    " message_id TEXT,"
    " last_reply TEXT,"
    " reason TEXT,"
    " claimed_by TEXT,"
    " claim_until INTEGER,"
    " requeued_at INTEGER,"
    " attempt_started_at INTEGER,"
    " email_hash TEXT,"
    " scrubbed_at INTEGER"
    ");"
    "INSERT INTO signups_v5 (" SIGNUPS_V4_COLUMNS ") SELECT " SIGNUPS_V4_COLUMNS " FROM signups;"
    "DROP TABLE signups;"
    "ALTER TABLE signups_v5 RENAME TO signups;"
    "CREATE INDEX signups_due ON signups (state, next_attempt_at);"
    "CREATE INDEX signups_email_key ON signups (" SQ_EMAIL_KEY("email") ");"
    "CREATE INDEX signups_email_hash ON signups (email_hash) WHERE email_hash IS NOT NULL;"
    "CREATE INDEX signups_unscrubbed ON signups (updated_at)"
    " WHERE scrubbed_at IS NULL AND state IN " SQ_SETTLED_STATES ";"
    "CREATE TRIGGER signups_created AFTER INSERT ON signups BEGIN"
    " INSERT INTO signup_events (signup_id, at, from_state, to_state, detail)"
    " VALUES (new.id, " SQL_NOW_MS ", NULL, new.state, 'created');"
    " END;"
    /* The waiting signups whose address is not ASCII, for the claim (see DUE_NON_ASCII_SQL). */
    "CREATE INDEX signups_unicode_due ON signups (next_attempt_at) WHERE " SQ_NON_ASCII_DUE ";",
    /*
     * Defaults are filled in before a BEFORE trigger runs, so "set" means
     * "not the default".  SQLite's 'now' is the same for a whole statement,
     * so updated_at's default compares equal to itself.  NEW.id is -1 (or
     * NULL) in a BEFORE INSERT trigger unless the INSERT names an id.
     */
    "CREATE TRIGGER signups_producer_columns BEFORE INSERT ON signups BEGIN"
    OWNED_COLUMN_CHECK("id", "NEW.id IS NOT NULL AND NEW.id <> -1")
    OWNED_COLUMN_CHECK("state", "NEW.state IS NOT 'queued'")
    OWNED_COLUMN_CHECK("attempts", "NEW.attempts IS NOT 0")
    OWNED_COLUMN_CHECK("next_attempt_at", "NEW.next_attempt_at IS NOT 0")
    OWNED_COLUMN_CHECK("updated_at", "NEW.updated_at IS NOT " SQL_NOW_MS)
    OWNED_COLUMN_CHECK("sent_at", "NEW.sent_at IS NOT NULL")
    OWNED_COLUMN_CHECK("message_id", "NEW.message_id IS NOT NULL")
    OWNED_COLUMN_CHECK("last_reply", "NEW.last_reply IS NOT NULL")
    OWNED_COLUMN_CHECK("reason", "NEW.reason IS NOT NULL")
    OWNED_COLUMN_CHECK("claimed_by", "NEW.claimed_by IS NOT NULL")
    OWNED_COLUMN_CHECK("claim_until", "NEW.claim_until IS NOT NULL")
    OWNED_COLUMN_CHECK("requeued_at", "NEW.requeued_at IS NOT NULL")
    OWNED_COLUMN_CHECK("attempt_started_at", "NEW.attempt_started_at IS NOT NULL")
    OWNED_COLUMN_CHECK("email_hash", "NEW.email_hash IS NOT NULL")
    OWNED_COLUMN_CHECK("scrubbed_at", "NEW.scrubbed_at IS NOT NULL")
    " END;",
    /* A view without INSTEAD OF triggers is read-only in SQLite. */
    "CREATE VIEW signup_status AS"
    " SELECT id, email, state, reason, sent_at, message_id, created_at FROM signups;"}},
    /*
     * 6: one report per address, held by the database as well as by the
     * claim's rules: no two signups for one address (by key, or by keyed
     * hash once scrubbed) in sending or sent.  The claim never makes a
     * second one (the file's write lock orders claims); these refuse
     * whatever else would.
     */
    {{"CREATE UNIQUE INDEX signups_one_report ON signups (" SQ_EMAIL_KEY("email") ")"
    " WHERE state IN ('sending', 'sent') AND email_hash IS NULL;"
    "CREATE UNIQUE INDEX signups_one_report_scrubbed ON signups (email_hash)"
    " WHERE state IN ('sending', 'sent') AND email_hash IS NOT NULL;"}},
    /*
     * 7: the retention index tests the settled states with = and OR (see
     * SQ_STATE_IS_SETTLED), as its query now does; the state checks of
     * signups and signup_events are rewritten the same way after the SQL
     * (rewrite_state_checks).  Same rows, same constraints, fewer
     * temporary b-trees per state change.
     */
    {{"DROP INDEX signups_unscrubbed;"
    "CREATE INDEX signups_unscrubbed ON signups (updated_at)"
    " WHERE scrubbed_at IS NULL AND " SQ_STATE_IS_SETTLED("state") ";"}},
};
/* clang-format on */

/* The version whose migration rebuilds signups: it must run with foreign keys off. */
#define REBUILD_SCHEMA 5
/* The version whose migration rewrites the state checks in place. */
#define STATE_CHECKS_SCHEMA 7

/* A CHECK as migrations 1 and 5 wrote it, and as schema 7 has it. */
struct check_rewrite {
    const char *table, *was, *now;
};

static const struct check_rewrite state_checks[] = {
    {"signups", "CHECK (state IN " SQ_STATE_NAMES ")", "CHECK " SQ_STATE_IS_KNOWN("state")},
    {"signup_events", "CHECK (from_state IS NULL OR from_state IN " SQ_STATE_NAMES ")",
     "CHECK (from_state IS NULL OR " SQ_STATE_IS_KNOWN("from_state") ")"},
    {"signup_events", "CHECK (to_state IN " SQ_STATE_NAMES ")",
     "CHECK " SQ_STATE_IS_KNOWN("to_state")},
};

/*
 * Replaces each CHECK's "IN (list)" with the equivalent "= OR" chain in the
 * stored table definitions, by the procedure SQLite documents for changing
 * a CHECK constraint without rebuilding the table ("Making Other Kinds Of
 * Table Schema Changes"): the rows on disk are untouched, every row valid
 * before is valid after, and the schema version is bumped so that every
 * connection reads the new text.  A definition without the text (the first
 * reportd kept no checks in signup_events) is left as it is.
 */
static int rewrite_state_checks(struct queue *q, char *err)
{
    const char *update = "UPDATE sqlite_schema SET sql = replace(sql, ?2, ?3)"
                         " WHERE type = 'table' AND name = ?1 AND instr(sql, ?2) > 0";
    char bump[64], off_err[ERRLEN] = "";
    int64_t schema_version = 0;
    size_t i;
    int rc = 0;

    if (sq_query_int(q, "PRAGMA schema_version", "schema version", &schema_version, err) == -1 ||
        sq_exec(q, "PRAGMA writable_schema = ON", "writable schema", err) == -1)
        return -1;
    for (i = 0; rc == 0 && i < NELEM(state_checks); i++) {
        sqlite3_stmt *st = sq_prepare(q, update, "rewrite state checks", err);

        if (st == NULL) {
            rc = -1;
            break;
        }
        if (sq_bind_text(st, 1, state_checks[i].table) != SQLITE_OK ||
            sq_bind_text(st, 2, state_checks[i].was) != SQLITE_OK ||
            sq_bind_text(st, 3, state_checks[i].now) != SQLITE_OK) {
            rc = sq_bind_fail(q, st, "rewrite state checks", err);
            break;
        }
        rc = sq_step(q, st, "rewrite state checks", err) == -1 ? -1 : 0;
        sq_finish(q, st);
    }
    /* A pragma takes no parameters; the number is SQLite's, not data. */
    snprintf(bump, sizeof(bump), "PRAGMA schema_version = %lld", (long long)schema_version + 1);
    if (rc == 0 && sq_exec(q, bump, "schema version", err) == -1)
        rc = -1;
    /* Back off whatever happened; the first error is the one to tell. */
    if (sq_exec(q, "PRAGMA writable_schema = OFF", "writable schema", rc == 0 ? err : off_err) ==
        -1)
        rc = -1;
    return rc;
}

/* A new random key for the address hash, stored in the database it belongs to. */
static int store_hash_key(struct queue *q, char *err)
{
    unsigned char key[QUEUE_HASH_KEY_LEN];
    char e[ERRLEN];
    sqlite3_stmt *st;
    int rc;

    if (queue_new_hash_key(key, e) == -1)
        return errf(err, "%s: %s", q->name, e);
    st =
        sq_prepare(q, "INSERT INTO reportd_secrets (name, value) VALUES (?1, ?2)", "hash key", err);
    if (st == NULL)
        return -1;
    if (sq_bind_text(st, 1, HASH_KEY_NAME) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, key, sizeof(key), SQLITE_TRANSIENT) != SQLITE_OK)
        return sq_bind_fail(q, st, "hash key", err);
    rc = sq_step(q, st, "hash key", err);
    sq_finish(q, st);
    memset(key, 0, sizeof(key));
    return rc == -1 ? -1 : 0;
}

/*
 * The rebuild ran with foreign keys off (a DROP would have cascaded): every
 * history row must still point at its signup before the change commits.
 */
static int check_rebuild(struct queue *q, char *err)
{
    int64_t orphans = 0;

    if (sq_query_int(q, "SELECT count(*) FROM pragma_foreign_key_check", "foreign key check",
                     &orphans, err) == -1)
        return -1;
    if (orphans != 0)
        return errf(err, "%s: migrate to schema version %d: %lld history rows lost their signup",
                    q->name, REBUILD_SCHEMA, (long long)orphans);
    return 0;
}

/* Runs with foreign keys off: see REBUILD_SCHEMA; configure() turns them on after. */
int sq_migrate(struct queue *q, char *err)
{
    char sql[64];
    int64_t version = 0;
    enum queue_schema standing;
    size_t i, part;

    if (sq_begin(q, 1, "migrate", err) == -1)
        return -1;
    if (sq_query_int(q, "PRAGMA user_version", "schema version", &version, err) == -1)
        goto fail;
    standing = queue_schema_compare(q->name, version, NELEM(migrations), err);
    if (standing == QUEUE_SCHEMA_NEWER)
        goto fail;
    if (standing == QUEUE_SCHEMA_CURRENT) {
        sq_rollback(q);
        return 0;
    }
    for (i = (size_t)version; i < NELEM(migrations); i++) {
        snprintf(sql, sizeof(sql), "migrate to schema version %zu", i + 1);
        for (part = 0; part < MIGRATION_PARTS && migrations[i].sql[part]; part++)
            if (sq_exec(q, migrations[i].sql[part], sql, err) == -1)
                goto fail;
    }
    if (version < HASH_KEY_SCHEMA && store_hash_key(q, err) == -1)
        goto fail;
    if (version < REBUILD_SCHEMA && check_rebuild(q, err) == -1)
        goto fail;
    if (version < STATE_CHECKS_SCHEMA && rewrite_state_checks(q, err) == -1)
        goto fail;
    /* A pragma takes no parameters; the number is ours, not data. */
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", NELEM(migrations));
    if (sq_exec(q, sql, "set schema version", err) == -1 || sq_commit(q, "migrate", err) == -1)
        goto fail;
    log_info("%s: schema migrated from version %lld to %zu", q->name, (long long)version,
             NELEM(migrations));
    return 0;
fail:
    sq_rollback(q);
    return -1;
}

/* A reader works only with the schema it was written for; migrating is a writer's job. */
int sq_check_schema_readonly(struct queue *q, char *err)
{
    int64_t version = 0;

    if (sq_query_int(q, "PRAGMA user_version", "schema version", &version, err) == -1)
        return -1;
    if (version == 0)
        return errf(err,
                    "%s: not set up as a queue yet: start the daemon (reportd run), which creates "
                    "the schema; read-only commands never write",
                    q->name);
    switch (queue_schema_compare(q->name, version, NELEM(migrations), err)) {
    case QUEUE_SCHEMA_CURRENT:
        return 0;
    case QUEUE_SCHEMA_OLDER:
        return errf(err,
                    "%s: schema version %lld is older than this reportd's (%zu): start the daemon "
                    "(reportd run) or run a writing command (such as enqueue) to migrate it; "
                    "read-only commands never write",
                    q->name, (long long)version, NELEM(migrations));
    case QUEUE_SCHEMA_NEWER:
        break;
    }
    return -1; /* newer: err says so */
}

/* reportd_email_hash(email): the keyed hash of an address, NULL for text without an @. */
static void sql_email_hash(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const struct queue *q = sqlite3_user_data(ctx);
    const unsigned char *email;
    char hex[SHA256_HEX_LEN];

    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    email = sqlite3_value_text(argv[0]);
    if (email == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    switch (queue_email_hash_hex(q, (const char *)email, hex)) {
    case 0:
        sqlite3_result_text(ctx, hex, -1, SQLITE_TRANSIENT);
        break;
    case 1:
        sqlite3_result_null(ctx);
        break;
    default:
        sqlite3_result_error_nomem(ctx);
    }
}

/* Reads the database's address hash key and gives the SQL side its function. */
int sq_load_hash_key(struct queue *q, char *err)
{
    sqlite3_stmt *st =
        sq_prepare(q, "SELECT value FROM reportd_secrets WHERE name = ?1", "hash key", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sq_bind_text(st, 1, HASH_KEY_NAME) != SQLITE_OK)
        return sq_bind_fail(q, st, "hash key", err);
    rc = sq_step(q, st, "hash key", err);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == QUEUE_HASH_KEY_LEN) {
        memcpy(q->hash_key, sqlite3_column_blob(st, 0), QUEUE_HASH_KEY_LEN);
        q->has_hash_key = 1;
    }
    sq_finish(q, st);
    if (rc == -1)
        return -1;
    if (!q->has_hash_key)
        return errf(err, "%s: the address hash key is missing or damaged", q->name);
    if (sqlite3_create_function_v2(sq_db(q), SQ_EMAIL_HASH_FUNCTION, 1,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC, q, sql_email_hash, NULL,
                                   NULL, NULL) != SQLITE_OK)
        return sq_fail(q, "register " SQ_EMAIL_HASH_FUNCTION, err);
    return 0;
}
