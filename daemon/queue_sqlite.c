/*
 * queue_sqlite.c - the SQLite backend's connection: opening the file (its
 * mode, WAL, a read-only file refused), the schema and its migrations
 * (PRAGMA user_version), the address hash key, transactions, and the cache
 * of prepared statements.  Its reads and writes are in queue_sqlite_rows.c.
 *
 * Statements are prepared once per connection and reset before a function
 * returns, so no statement is left half-stepped holding a read snapshot
 * open in WAL mode.
 */
#define LOG_MODULE "queue"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "queue_sqlite.h"

/*
 * A website's process in reportd's group inserts into the same file, so the
 * file gets this mode whatever the creator's umask (see create_file); SQLite
 * gives the -wal and -shm files the database file's mode.
 */
#define QUEUE_FILE_MODE 0660
/* Long enough for any path with a "-wal" or "-shm" after it. */
#define QUEUE_PATH_MAX 4096

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
    " END;",
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
};
/* clang-format on */

/* The version whose migration rebuilds signups: it must run with foreign keys off. */
#define REBUILD_SCHEMA 5

/*
 * Statements are prepared once per connection and kept: the daemon runs the
 * same few dozen statements for every message, and parsing them again each
 * time was a measurable share of its work.  Far more room than there are
 * statements in this backend.
 */
#define QUEUE_STMT_CACHE 96

struct cached_stmt {
    uint64_t hash; /* of the SQL text, to skip most comparisons */
    char *sql;
    sqlite3_stmt *st;
    int busy; /* handed out and not finished: a nested use gets a statement of its own */
};

struct sq {
    sqlite3 *db;
    struct cached_stmt stmts[QUEUE_STMT_CACHE];
    int nstmts;
};

#define SQ(q) ((struct sq *)(q)->be)

sqlite3 *sq_db(struct queue *q)
{
    return SQ(q)->db;
}

/* --- SQLite plumbing ---------------------------------------------------- */

int sq_fail(struct queue *q, const char *what, char *err)
{
    return errf(err, "%s: %s: %s", q->name, what, sqlite3_errmsg(SQ(q)->db));
}

static int exec_sql(struct queue *q, const char *sql, const char *what, char *err)
{
    char *msg = NULL;

    if (sqlite3_exec(SQ(q)->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        errf(err, "%s: %s: %s", q->name, what, msg ? msg : sqlite3_errmsg(SQ(q)->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static uint64_t sql_hash(const char *sql)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

    for (; *sql; sql++)
        h = (h ^ (unsigned char)*sql) * 0x100000001b3ULL;
    return h;
}

/* Keeps st for later calls, when there is room; a failed copy only means no caching. */
static void cache_stmt(struct queue *q, const char *sql, uint64_t hash, sqlite3_stmt *st)
{
    struct cached_stmt *c;

    if (SQ(q)->nstmts >= QUEUE_STMT_CACHE)
        return;
    c = &SQ(q)->stmts[SQ(q)->nstmts];
    c->sql = strdup(sql);
    if (c->sql == NULL)
        return;
    c->hash = hash;
    c->st = st;
    c->busy = 1;
    SQ(q)->nstmts++;
}

sqlite3_stmt *sq_prepare(struct queue *q, const char *sql, const char *what, char *err)
{
    uint64_t hash = sql_hash(sql);
    sqlite3_stmt *st = NULL;
    int i, in_use = 0;

    for (i = 0; i < SQ(q)->nstmts; i++) {
        struct cached_stmt *c = &SQ(q)->stmts[i];

        if (c->hash != hash || strcmp(c->sql, sql) != 0)
            continue;
        if (!c->busy) {
            c->busy = 1;
            return c->st;
        }
        in_use = 1;
        break;
    }
    if (sqlite3_prepare_v3(SQ(q)->db, sql, -1, in_use ? 0 : SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
        SQLITE_OK) {
        sq_fail(q, what, err);
        sqlite3_finalize(st);
        return NULL;
    }
    if (!in_use)
        cache_stmt(q, sql, hash, st);
    return st;
}

/* SQLITE_ROW or SQLITE_DONE, or -1 with err. */
int sq_step(struct queue *q, sqlite3_stmt *st, const char *what, char *err)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc;
    return sq_fail(q, what, err);
}

/*
 * Finalizing only repeats the last step's result, which the caller checked
 * already, so its return value carries nothing new.
 */
/* A kept statement is reset for its next use (holding no read snapshot); any other is finalized. */
void sq_finish(struct queue *q, sqlite3_stmt *st)
{
    int i;

    for (i = 0; i < SQ(q)->nstmts; i++) {
        if (SQ(q)->stmts[i].st == st) {
            (void)sqlite3_reset(st);
            (void)sqlite3_clear_bindings(st);
            SQ(q)->stmts[i].busy = 0;
            return;
        }
    }
    (void)sqlite3_finalize(st);
}

static void forget_stmts(struct queue *q)
{
    int i;

    for (i = 0; i < SQ(q)->nstmts; i++) {
        (void)sqlite3_finalize(SQ(q)->stmts[i].st);
        free(SQ(q)->stmts[i].sql);
    }
    SQ(q)->nstmts = 0;
}

/* Bound strings outlive the statement's steps: no copy needed. */
int sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

int sq_bind_fail(struct queue *q, sqlite3_stmt *st, const char *what, char *err)
{
    sq_fail(q, what, err);
    sq_finish(q, st);
    return -1;
}

void sq_cell(sqlite3_stmt *st, int col, struct queue_cell *c)
{
    *c = (struct queue_cell){CELL_NULL, NULL, 0, 0, 0};
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        c->type = CELL_INT;
        c->i = sqlite3_column_int64(st, col);
        c->d = (double)c->i;
        break;
    case SQLITE_FLOAT:
        c->type = CELL_REAL;
        c->d = sqlite3_column_double(st, col);
        c->i = (int64_t)c->d;
        break;
    case SQLITE_TEXT:
        c->type = CELL_TEXT;
        c->text = (const char *)sqlite3_column_text(st, col);
        c->len = (size_t)sqlite3_column_bytes(st, col);
        break;
    case SQLITE_NULL:
        break;
    default:
        c->type = CELL_OTHER;
    }
}

int sq_copy_text(sqlite3_stmt *st, int col, char **out)
{
    const unsigned char *text;

    *out = NULL;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return 0;
    text = sqlite3_column_text(st, col);
    if (text == NULL)
        return -1;
    *out = strdup((const char *)text);
    return *out ? 0 : -1;
}

static int in_transaction(struct queue *q)
{
    return !sqlite3_get_autocommit(SQ(q)->db);
}

/*
 * A write transaction takes the write lock from the start, so no lock
 * upgrade can deadlock with a producer; a read is a snapshot.
 */
static int begin(struct queue *q, int write, const char *what, char *err)
{
    return exec_sql(q, write ? "BEGIN IMMEDIATE" : "BEGIN", what, err);
}

static int commit(struct queue *q, const char *what, char *err)
{
    return exec_sql(q, "COMMIT", what, err);
}

static void rollback(struct queue *q)
{
    char err[ERRLEN];

    if (in_transaction(q) && exec_sql(q, "ROLLBACK", "rollback", err) == -1)
        log_warnx("%s", err);
}

/* Runs a one-row statement and returns its first column as an integer. */
static int query_int(struct queue *q, const char *sql, const char *what, int64_t *out, char *err)
{
    sqlite3_stmt *st = sq_prepare(q, sql, what, err);
    int rc;

    if (st == NULL)
        return -1;
    rc = sq_step(q, st, what, err);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sq_finish(q, st);
    if (rc == SQLITE_DONE)
        return errf(err, "%s: %s: no result", q->name, what);
    return rc == SQLITE_ROW ? 0 : -1;
}
/* --- opening and the schema --------------------------------------------- */

/*
 * Creates the file with the group-writable mode before SQLite creates it
 * 0644 less the umask.  0, -1 with err, or QUEUE_OPEN_READ_ONLY on a read-only filesystem.
 */
static int create_file(const char *path, char *err)
{
    int fd, saved;

    if (strcmp(path, ":memory:") == 0)
        return 0;
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, QUEUE_FILE_MODE);
    if (fd == -1) {
        saved = errno;
        if (saved == EEXIST)
            return 0;
        errf(err, "%s: cannot create: %s", path, strerror(saved));
        return saved == EROFS ? QUEUE_OPEN_READ_ONLY : -1;
    }
    /*
     * Whoever creates it first (an operator's command under umask 022 or
     * 077) must not lock the website out: the mode is set, not masked.
     * SQLite gives -wal and -shm the database file's mode when it creates them.
     */
    if (fchmod(fd, QUEUE_FILE_MODE) == -1) {
        saved = errno;
        close(fd);
        return errf(err, "%s: cannot set mode %o: %s", path, QUEUE_FILE_MODE, strerror(saved));
    }
    close(fd);
    return 0;
}

/* Runs a journal_mode pragma and reports the mode it leaves: 0, or -1 with err. */
static int journal_mode(struct queue *q, const char *sql, char *mode, size_t len, char *err)
{
    sqlite3_stmt *st = sq_prepare(q, sql, "journal mode", err);
    const unsigned char *text;
    int rc;

    if (st == NULL)
        return -1;
    rc = sq_step(q, st, "journal mode", err);
    if (rc == SQLITE_ROW) {
        text = sqlite3_column_text(st, 0);
        snprintf(mode, len, "%s", text ? (const char *)text : "unknown");
    }
    sq_finish(q, st);
    if (rc == SQLITE_DONE)
        return errf(err, "%s: journal mode: no result", q->name);
    return rc == SQLITE_ROW ? 0 : -1;
}

/*
 * Switching to WAL needs an exclusive lock, which a producer or a running
 * daemon may hold; SQLite does not wait for it.  Once the file is in WAL
 * mode (it stays so) there is nothing to switch, so ask first.
 */
static int set_wal(struct queue *q, char *err)
{
    char mode[32];

    if (journal_mode(q, "PRAGMA journal_mode", mode, sizeof(mode), err) == -1)
        return -1;
    if (strcmp(mode, "wal") == 0 || strcmp(mode, "memory") == 0)
        return 0;
    if (journal_mode(q, "PRAGMA journal_mode=WAL", mode, sizeof(mode), err) == -1)
        return -1;
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
        return errf(err, "%s: cannot use WAL mode (journal mode is %s)", q->name, mode);
    return 0;
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

    if (query_int(q, "SELECT count(*) FROM pragma_foreign_key_check", "foreign key check", &orphans,
                  err) == -1)
        return -1;
    if (orphans != 0)
        return errf(err, "%s: migrate to schema version %d: %lld history rows lost their signup",
                    q->name, REBUILD_SCHEMA, (long long)orphans);
    return 0;
}

/* Runs with foreign keys off: see REBUILD_SCHEMA; configure() turns them on after. */
static int migrate(struct queue *q, char *err)
{
    char sql[64];
    int64_t version = 0;
    size_t i, part;

    if (begin(q, 1, "migrate", err) == -1)
        return -1;
    if (query_int(q, "PRAGMA user_version", "schema version", &version, err) == -1)
        goto fail;
    if (version < 0 || (uint64_t)version > NELEM(migrations)) {
        errf(err, "%s: schema version %lld is newer than this reportd knows (%zu)", q->name,
             (long long)version, NELEM(migrations));
        goto fail;
    }
    if ((size_t)version == NELEM(migrations)) {
        rollback(q);
        return 0;
    }
    for (i = (size_t)version; i < NELEM(migrations); i++) {
        snprintf(sql, sizeof(sql), "migrate to schema version %zu", i + 1);
        for (part = 0; part < MIGRATION_PARTS && migrations[i].sql[part]; part++)
            if (exec_sql(q, migrations[i].sql[part], sql, err) == -1)
                goto fail;
    }
    if (version < HASH_KEY_SCHEMA && store_hash_key(q, err) == -1)
        goto fail;
    if (version < REBUILD_SCHEMA && check_rebuild(q, err) == -1)
        goto fail;
    /* A pragma takes no parameters; the number is ours, not data. */
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", NELEM(migrations));
    if (exec_sql(q, sql, "set schema version", err) == -1 || commit(q, "migrate", err) == -1)
        goto fail;
    log_info("%s: schema migrated from version %lld to %zu", q->name, (long long)version,
             NELEM(migrations));
    return 0;
fail:
    rollback(q);
    return -1;
}

/*
 * Sets WAL mode, waiting out another process that is creating, converting or
 * recovering the same file: SQLite answers "database is locked" there without
 * calling the busy handler, so the wait is ours.
 */
static int set_wal_waiting(struct queue *q, char *err)
{
    const struct timespec pause = {0, QUEUE_OPEN_RETRY_MS * 1000000L};
    int waited;

    for (waited = 0;; waited += QUEUE_OPEN_RETRY_MS) {
        if (set_wal(q, err) == 0)
            return 0;
        if ((sqlite3_errcode(SQ(q)->db) & 0xff) != SQLITE_BUSY || waited >= QUEUE_BUSY_TIMEOUT_MS)
            return -1;
        nanosleep(&pause, NULL);
    }
}

static int configure(struct queue *q, char *err)
{
    if (set_wal_waiting(q, err) == -1)
        return -1;
    /*
     * In WAL mode NORMAL survives a crash of any process; only a power cut
     * can lose the last commits.
     */
    /*
     * secure_delete: a scrubbed or purged subscriber's data is overwritten
     * with zeros, not left in the file's free space.
     */
    /* The pragma is a no-op inside a transaction: set it around migrate()'s. */
    if (exec_sql(q, "PRAGMA foreign_keys = OFF", "foreign keys", err) == -1 ||
        exec_sql(q, "PRAGMA synchronous = NORMAL", "synchronous", err) == -1 ||
        exec_sql(q, "PRAGMA secure_delete = ON", "secure delete", err) == -1 ||
        migrate(q, err) == -1)
        return -1;
    return exec_sql(q, "PRAGMA foreign_keys = ON", "foreign keys", err);
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
static int load_hash_key(struct queue *q, char *err)
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
    if (sqlite3_create_function_v2(SQ(q)->db, SQ_EMAIL_HASH_FUNCTION, 1,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC, q, sql_email_hash, NULL,
                                   NULL, NULL) != SQLITE_OK)
        return sq_fail(q, "register " SQ_EMAIL_HASH_FUNCTION, err);
    return 0;
}

/*
 * SQLite's own busy handler backs off to sleeps of 100 ms, so a claim that
 * meets a website's insert of a millisecond would wait a tenth of a second.
 * This one looks again every QUEUE_BUSY_STEP_US, and gives up after about
 * QUEUE_BUSY_TIMEOUT_MS as SQLite's would.
 */
#define QUEUE_BUSY_STEP_US 500

static int on_busy(void *arg, int count)
{
    const struct timespec step = {0, QUEUE_BUSY_STEP_US * 1000L};

    (void)arg;
    if ((int64_t)count * QUEUE_BUSY_STEP_US >= (int64_t)QUEUE_BUSY_TIMEOUT_MS * 1000)
        return 0;
    nanosleep(&step, NULL);
    return 1;
}

static int open_db(struct queue *q, int flags, char *err)
{
    int rc = sqlite3_open_v2(q->name, &SQ(q)->db, flags, NULL);

    if (rc != SQLITE_OK)
        return errf(err, "%s: cannot open: %s", q->name,
                    SQ(q)->db ? sqlite3_errmsg(SQ(q)->db) : sqlite3_errstr(rc));
    if (sqlite3_extended_result_codes(SQ(q)->db, 1) != SQLITE_OK ||
        sqlite3_busy_handler(SQ(q)->db, on_busy, NULL) != SQLITE_OK)
        return sq_fail(q, "open", err);
    return 0;
}

/*
 * SQLite opens a file it may not write read-only without a word, and every
 * write fails later; a writer must know now, and why.
 */
static int refuse_read_only(struct queue *q, char *err)
{
    const char *why = "SQLite could open it only for reading";

    if (access(q->name, W_OK) == -1)
        why = strerror(errno);
    return errf(err,
                "%s: the queue database is read-only (%s): reportd must be able to write it; "
                "check the file's owner and mode and that its filesystem is mounted read-write",
                q->name, why);
}

/*
 * SQLite creates -wal and -shm with the database file's mode of the moment:
 * a reader that came while the file was read-only leaves them read-only,
 * and a database made writable again would still refuse every write.  Ours
 * are given the database's mode again; someone else's are left alone.
 */
static void align_journal_modes(const char *path)
{
    static const char *const suffixes[] = {"-wal", "-shm"};
    char side[QUEUE_PATH_MAX];
    struct stat db, st;
    size_t i;

    if (stat(path, &db) == -1)
        return;
    for (i = 0; i < NELEM(suffixes); i++) {
        if ((size_t)snprintf(side, sizeof(side), "%s%s", path, suffixes[i]) >= sizeof(side))
            continue;
        if (stat(side, &st) == -1 || st.st_uid != geteuid() ||
            (st.st_mode & 0777) == (db.st_mode & 0777))
            continue;
        if (chmod(side, db.st_mode & 0777) == -1)
            log_warnx("%s: cannot give it the database's mode: %s", side, strerror(errno));
    }
}

/* A reader works only with the schema it was written for; migrating is a writer's job. */
static int check_schema_readonly(struct queue *q, char *err)
{
    int64_t version = 0;

    if (query_int(q, "PRAGMA user_version", "schema version", &version, err) == -1)
        return -1;
    if (version == 0)
        return errf(err,
                    "%s: not set up as a queue yet: start the daemon (reportd run), which creates "
                    "the schema; read-only commands never write",
                    q->name);
    if (version < 0 || (uint64_t)version > NELEM(migrations))
        return errf(err, "%s: schema version %lld is newer than this reportd knows (%zu)", q->name,
                    (long long)version, NELEM(migrations));
    if ((size_t)version < NELEM(migrations))
        return errf(err,
                    "%s: schema version %lld is older than this reportd's (%zu): start the daemon "
                    "(reportd run) or run a writing command (such as enqueue) to migrate it; "
                    "read-only commands never write",
                    q->name, (long long)version, NELEM(migrations));
    return 0;
}

static void sq_close(struct queue *q)
{
    struct sq *b = SQ(q);

    if (b == NULL)
        return;
    forget_stmts(q);
    if (b->db && sqlite3_close(b->db) != SQLITE_OK)
        log_warnx("%s: close: %s", q->name, sqlite3_errmsg(b->db));
    free(b);
    q->be = NULL;
}

static int open_writer(struct queue *q, const char *path, char *err)
{
    int rc = create_file(path, err);

    if (rc != 0)
        return rc;
    align_journal_modes(path);
    if (open_db(q, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err) == -1)
        return QUEUE_OPEN_ERROR;
    if (sqlite3_db_readonly(SQ(q)->db, "main") == 1) {
        refuse_read_only(q, err);
        return QUEUE_OPEN_READ_ONLY;
    }
    if (configure(q, err) == -1 || load_hash_key(q, err) == -1)
        return QUEUE_OPEN_ERROR;
    return QUEUE_OPEN_OK;
}

static int open_reader(struct queue *q, const char *path, char *err)
{
    if (access(path, F_OK) == -1)
        return errf(err, "%s: cannot open: %s (the daemon creates it when it starts)", path,
                    strerror(errno));
    /* query_only: a statement that would write fails rather than wait for the lock. */
    if (open_db(q, SQLITE_OPEN_READONLY, err) == -1 || check_schema_readonly(q, err) == -1 ||
        exec_sql(q, "PRAGMA query_only = 1", "query only", err) == -1 ||
        load_hash_key(q, err) == -1)
        return QUEUE_OPEN_ERROR;
    return QUEUE_OPEN_OK;
}

static int sq_open(struct queue *q, const struct queue_place *pl, int readonly, char *err)
{
    int rc;

    q->be = calloc(1, sizeof(struct sq));
    if (q->be == NULL)
        return errf(err, "%s: out of memory", pl->path);
    rc = readonly ? open_reader(q, pl->path, err) : open_writer(q, pl->path, err);
    if (rc != QUEUE_OPEN_OK)
        sq_close(q);
    return rc;
}

const struct queue_ops queue_sqlite_ops = {
    .open = sq_open,
    .close = sq_close,
    .begin = begin,
    .commit = commit,
    .rollback = rollback,
    .in_transaction = in_transaction,
    .load = sq_load,
    .update_state = sq_update_state,
    .record_event = sq_record_event,
    .find_address = sq_find_address,
    .insert = sq_insert,
    .stats = sq_stats,
    .metrics = sq_metrics,
    .list = sq_list,
    .history = sq_history,
    .select_due = sq_select_due,
    .select_claims = sq_select_claims,
    .has_work = sq_has_work,
    .select_non_ascii_due = sq_select_non_ascii_due,
    .set_email = sq_set_email,
    .mark_attempt = sq_mark_attempt,
    .select_scrub_due = sq_select_scrub_due,
    .scrub = sq_scrub,
    .purge_target = sq_purge_target,
    .delete_signup = sq_delete_signup,
};
