/*
 * queue.c - the signup queue in SQLite: the schema and its migrations, the
 * producer's enqueue, the daemon's claim and recovery, the reading side,
 * and queue_transition(), through which every state change goes.
 *
 * Statements are prepared once per connection and reset before a function
 * returns, so no statement is left half-stepped holding a read snapshot
 * open in WAL mode.
 */
#define LOG_MODULE "queue"

#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "idn.h"
#include "log.h"
#include "sha256.h"

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

/*
 * The key duplicates are compared by: the local part as given, the domain
 * lowercased (what email_key() computes).  The index below is built on this
 * exact expression, and SQLite uses it only for a query that repeats it.
 */
#define EMAIL_KEY_SQL(col)                                                                         \
    "(substr(" col ", 1, instr(" col ", '@')) || lower(substr(" col ", instr(" col ", '@') + 1)))"

#define EMAIL_KEY_OF_COLUMN EMAIL_KEY_SQL("email")
#define EMAIL_KEY_OF_PARAM  EMAIL_KEY_SQL("?1")
#define EMAIL_KEY_OF_SELF   EMAIL_KEY_SQL("s.email")
#define EMAIL_KEY_OF_OTHER  EMAIL_KEY_SQL("o.email")

#define STATE_NAMES_SQL "('queued', 'sending', 'deferred', 'held', 'sent', 'failed', 'rejected')"

/* The states a signup ends in; retention counts from the move into one of them. */
#define SETTLED_STATES_SQL "('sent', 'failed', 'rejected')"

/*
 * The keyed address hash is HMAC-SHA-256 with a random key of this many bytes
 * (the hash's own size: a longer key adds nothing), made once per database.
 */
#define HASH_KEY_LEN  32
#define HASH_KEY_NAME "email_hash_key"
/* The schema version that brought the hash key: databases migrated past it get one. */
#define HASH_KEY_SCHEMA 4
/* The SQL function the claim uses to compare a producer's address with scrubbed ones. */
#define EMAIL_HASH_FUNCTION "reportd_email_hash"
/* What a scrubbed address is replaced by in reasons, replies and history details. */
#define ADDRESS_PLACEHOLDER "(address)"

/* signups' columns as schema 4 left them, in their order, for the rebuild's copy. */
#define SIGNUPS_V4_COLUMNS                                                                         \
    "id, email, name, role, level, tasks, skills, years, created_at, state, attempts,"             \
    " next_attempt_at, updated_at, sent_at, message_id, last_reply, reason, claimed_by,"           \
    " claim_until, requeued_at, attempt_started_at, email_hash, scrubbed_at"

/*
 * A waiting signup whose address has a byte that is not printable ASCII
 * (GLOB's class is every printable ASCII character): a Unicode domain to
 * convert.  The partial index on it is what keeps the claim from reading
 * every waiting signup to find the few.
 */
#define NON_ASCII_DUE_SQL "state IN ('queued', 'deferred') AND email GLOB '*[^ -~]*'"

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
    " state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN " STATE_NAMES_SQL "),"
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
    "CREATE INDEX signups_email_key ON signups (" EMAIL_KEY_OF_COLUMN ");"
    "CREATE TABLE signup_events ("
    " id INTEGER PRIMARY KEY,"
    " signup_id INTEGER NOT NULL REFERENCES signups (id) ON DELETE CASCADE,"
    " at INTEGER NOT NULL,"
    " from_state TEXT CHECK (from_state IS NULL OR from_state IN " STATE_NAMES_SQL "),"
    " to_state TEXT NOT NULL CHECK (to_state IN " STATE_NAMES_SQL "),"
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
    " WHERE scrubbed_at IS NULL AND state IN " SETTLED_STATES_SQL ";"
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
    " state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN " STATE_NAMES_SQL "),"
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
    "CREATE INDEX signups_email_key ON signups (" EMAIL_KEY_OF_COLUMN ");"
    "CREATE INDEX signups_email_hash ON signups (email_hash) WHERE email_hash IS NOT NULL;"
    "CREATE INDEX signups_unscrubbed ON signups (updated_at)"
    " WHERE scrubbed_at IS NULL AND state IN " SETTLED_STATES_SQL ";"
    "CREATE TRIGGER signups_created AFTER INSERT ON signups BEGIN"
    " INSERT INTO signup_events (signup_id, at, from_state, to_state, detail)"
    " VALUES (new.id, " SQL_NOW_MS ", NULL, new.state, 'created');"
    " END;"
    /* The waiting signups whose address is not ASCII, for the claim (see DUE_NON_ASCII_SQL). */
    "CREATE INDEX signups_unicode_due ON signups (next_attempt_at) WHERE " NON_ASCII_DUE_SQL ";",
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
};
/* clang-format on */

/* The version whose migration rebuilds signups: it must run with foreign keys off. */
#define REBUILD_SCHEMA 5

/*
 * Statements are prepared once per connection and kept: the daemon runs the
 * same few dozen statements for every message, and parsing them again each
 * time was a measurable share of its work.  Far more room than there are
 * statements in this file.
 */
#define QUEUE_STMT_CACHE 96

struct cached_stmt {
    uint64_t hash; /* of the SQL text, to skip most comparisons */
    char *sql;
    sqlite3_stmt *st;
    int busy; /* handed out and not finished: a nested use gets a statement of its own */
};

struct queue {
    sqlite3 *db;
    char *path;
    struct cached_stmt stmts[QUEUE_STMT_CACHE];
    int nstmts;
    /*
     * Log lines of changes made in the open transaction, each ended by a NUL:
     * written when it commits, dropped when it rolls back, so the log never
     * tells of a change the database does not have.
     */
    struct buf pending;
    unsigned char hash_key[HASH_KEY_LEN];
    int has_hash_key;
    int64_t last_scrub_ms; /* when the retention sweep last ran on this handle, 0 never */
};

static const char *const state_names[SIGNUP_NSTATES] = {
    [SIGNUP_QUEUED] = "queued",     [SIGNUP_SENDING] = "sending", [SIGNUP_DEFERRED] = "deferred",
    [SIGNUP_HELD] = "held",         [SIGNUP_SENT] = "sent",       [SIGNUP_FAILED] = "failed",
    [SIGNUP_REJECTED] = "rejected",
};

/* The state machine: every edge a signup may take, and no other. */
/* clang-format off */
static const struct {
    enum signup_state from, to;
} transitions[] = {
    {SIGNUP_QUEUED,   SIGNUP_SENDING},
    {SIGNUP_DEFERRED, SIGNUP_SENDING},
    {SIGNUP_SENDING,  SIGNUP_SENT},
    {SIGNUP_SENDING,  SIGNUP_DEFERRED},
    {SIGNUP_SENDING,  SIGNUP_FAILED},
    {SIGNUP_SENDING,  SIGNUP_REJECTED},
    {SIGNUP_SENDING,  SIGNUP_QUEUED},   /* handed back unattempted, or recovered */
    {SIGNUP_SENDING,  SIGNUP_HELD},     /* outcome unknown, and queue.uncertain is hold */
    {SIGNUP_QUEUED,   SIGNUP_REJECTED},
    {SIGNUP_DEFERRED, SIGNUP_REJECTED},
    {SIGNUP_QUEUED,   SIGNUP_FAILED},   /* expired */
    {SIGNUP_DEFERRED, SIGNUP_FAILED},   /* expired */
    {SIGNUP_QUEUED,   SIGNUP_HELD},
    {SIGNUP_DEFERRED, SIGNUP_HELD},
    {SIGNUP_HELD,     SIGNUP_QUEUED},   /* released */
    {SIGNUP_FAILED,   SIGNUP_QUEUED},   /* retried */
    {SIGNUP_DEFERRED, SIGNUP_QUEUED},   /* retried now */
};
/* clang-format on */

const char *signup_state_name(enum signup_state st)
{
    if ((unsigned)st >= SIGNUP_NSTATES)
        return "unknown";
    return state_names[st];
}

int signup_state_parse(const char *name, enum signup_state *st)
{
    size_t i;

    for (i = 0; i < SIGNUP_NSTATES; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *st = (enum signup_state)i;
            return 0;
        }
    }
    return -1;
}

static int transition_allowed(enum signup_state from, enum signup_state to)
{
    size_t i;

    for (i = 0; i < NELEM(transitions); i++)
        if (transitions[i].from == from && transitions[i].to == to)
            return 1;
    return 0;
}

void signup_record_free(struct signup_record *r)
{
    signup_free(&r->signup);
    free(r->load_error);
    free(r->message_id);
    free(r->last_reply);
    free(r->reason);
    free(r->claimed_by);
    free(r->email_hash);
    *r = (struct signup_record){0};
    signup_init(&r->signup);
}

/* --- SQLite plumbing ---------------------------------------------------- */

static int db_fail(struct queue *q, const char *what, char *err)
{
    return errf(err, "%s: %s: %s", q->path, what, sqlite3_errmsg(q->db));
}

static int exec_sql(struct queue *q, const char *sql, const char *what, char *err)
{
    char *msg = NULL;

    if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        errf(err, "%s: %s: %s", q->path, what, msg ? msg : sqlite3_errmsg(q->db));
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

    if (q->nstmts >= QUEUE_STMT_CACHE)
        return;
    c = &q->stmts[q->nstmts];
    c->sql = strdup(sql);
    if (c->sql == NULL)
        return;
    c->hash = hash;
    c->st = st;
    c->busy = 1;
    q->nstmts++;
}

static sqlite3_stmt *prepare(struct queue *q, const char *sql, const char *what, char *err)
{
    uint64_t hash = sql_hash(sql);
    sqlite3_stmt *st = NULL;
    int i, in_use = 0;

    for (i = 0; i < q->nstmts; i++) {
        struct cached_stmt *c = &q->stmts[i];

        if (c->hash != hash || strcmp(c->sql, sql) != 0)
            continue;
        if (!c->busy) {
            c->busy = 1;
            return c->st;
        }
        in_use = 1;
        break;
    }
    if (sqlite3_prepare_v3(q->db, sql, -1, in_use ? 0 : SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
        SQLITE_OK) {
        db_fail(q, what, err);
        sqlite3_finalize(st);
        return NULL;
    }
    if (!in_use)
        cache_stmt(q, sql, hash, st);
    return st;
}

/* SQLITE_ROW or SQLITE_DONE, or -1 with err. */
static int step(struct queue *q, sqlite3_stmt *st, const char *what, char *err)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc;
    return db_fail(q, what, err);
}

/*
 * Finalizing only repeats the last step's result, which the caller checked
 * already, so its return value carries nothing new.
 */
/* A kept statement is reset for its next use (holding no read snapshot); any other is finalized. */
static void finish(struct queue *q, sqlite3_stmt *st)
{
    int i;

    for (i = 0; i < q->nstmts; i++) {
        if (q->stmts[i].st == st) {
            (void)sqlite3_reset(st);
            (void)sqlite3_clear_bindings(st);
            q->stmts[i].busy = 0;
            return;
        }
    }
    (void)sqlite3_finalize(st);
}

static void forget_stmts(struct queue *q)
{
    int i;

    for (i = 0; i < q->nstmts; i++) {
        (void)sqlite3_finalize(q->stmts[i].st);
        free(q->stmts[i].sql);
    }
    q->nstmts = 0;
}

/* Bound strings outlive the statement's steps: no copy needed. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int bind_fail(struct queue *q, sqlite3_stmt *st, const char *what, char *err)
{
    db_fail(q, what, err);
    finish(q, st);
    return -1;
}

static int in_transaction(struct queue *q)
{
    return !sqlite3_get_autocommit(q->db);
}

/* A write transaction from the start, so no lock upgrade can deadlock with a producer. */
static int begin_write(struct queue *q, const char *what, char *err)
{
    return exec_sql(q, "BEGIN IMMEDIATE", what, err);
}

/* --- logging changes once they are committed ---------------------------- */

/*
 * Appends s as a quoted log value.  Escaping the quote and the backslash
 * keeps a producer's text inside the quotes, so it cannot forge key=value
 * fields of its own (log.c blanks control characters, so it cannot start a
 * line either).
 */
static void put_log_quoted(struct buf *b, const char *s)
{
    char quoted[LOG_VALUE_MAX];

    buf_puts(b, log_quoted(s, quoted, sizeof(quoted)));
}

/* Ends a pending log line; a failed append is seen once, when the lines are written. */
static void end_log_line(struct queue *q)
{
    (void)buf_append(&q->pending, "", 1);
}

static void log_transition(struct queue *q, int64_t id, const char *from, const char *to,
                           const char *detail)
{
    (void)buf_printf(&q->pending, "id=%lld state=%s prev=%s detail=", (long long)id, to, from);
    put_log_quoted(&q->pending, detail ? detail : "");
    end_log_line(q);
}

static void log_purge(struct queue *q, int64_t id)
{
    (void)buf_printf(&q->pending, "id=%lld purged", (long long)id);
    end_log_line(q);
}

/* Writes the lines of a transaction that committed. */
static void write_pending_log(struct queue *q)
{
    const char *p = q->pending.data;
    size_t off = 0;

    if (buf_failed(&q->pending))
        log_warnx("%s: out of memory: log lines of committed changes lost (the history has them)",
                  q->path);
    else if (p != NULL)
        for (; off < q->pending.len; off += strlen(p + off) + 1)
            log_info("%s", p + off);
    buf_reset(&q->pending);
}

static int commit(struct queue *q, const char *what, char *err)
{
    if (exec_sql(q, "COMMIT", what, err) == -1)
        return -1;
    write_pending_log(q);
    return 0;
}

static void rollback(struct queue *q)
{
    char err[ERRLEN];

    buf_reset(&q->pending);
    if (in_transaction(q) && exec_sql(q, "ROLLBACK", "rollback", err) == -1)
        log_warnx("%s", err);
}

/* Runs a one-row statement and returns its first column as an integer. */
static int query_int(struct queue *q, const char *sql, const char *what, int64_t *out, char *err)
{
    sqlite3_stmt *st = prepare(q, sql, what, err);
    int rc;

    if (st == NULL)
        return -1;
    rc = step(q, st, what, err);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    finish(q, st);
    if (rc == SQLITE_DONE)
        return errf(err, "%s: %s: no result", q->path, what);
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
    sqlite3_stmt *st = prepare(q, sql, "journal mode", err);
    const unsigned char *text;
    int rc;

    if (st == NULL)
        return -1;
    rc = step(q, st, "journal mode", err);
    if (rc == SQLITE_ROW) {
        text = sqlite3_column_text(st, 0);
        snprintf(mode, len, "%s", text ? (const char *)text : "unknown");
    }
    finish(q, st);
    if (rc == SQLITE_DONE)
        return errf(err, "%s: journal mode: no result", q->path);
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
        return errf(err, "%s: cannot use WAL mode (journal mode is %s)", q->path, mode);
    return 0;
}

/* A new random key for the address hash, stored in the database it belongs to. */
static int store_hash_key(struct queue *q, char *err)
{
    unsigned char key[HASH_KEY_LEN];
    sqlite3_stmt *st;
    int rc;

    if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key))
        return errf(err, "%s: address hash key: getrandom: %s", q->path, strerror(errno));
    st = prepare(q, "INSERT INTO reportd_secrets (name, value) VALUES (?1, ?2)", "hash key", err);
    if (st == NULL)
        return -1;
    if (bind_text(st, 1, HASH_KEY_NAME) != SQLITE_OK ||
        sqlite3_bind_blob(st, 2, key, sizeof(key), SQLITE_TRANSIENT) != SQLITE_OK)
        return bind_fail(q, st, "hash key", err);
    rc = step(q, st, "hash key", err);
    finish(q, st);
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
                    q->path, REBUILD_SCHEMA, (long long)orphans);
    return 0;
}

/* Runs with foreign keys off: see REBUILD_SCHEMA; configure() turns them on after. */
static int migrate(struct queue *q, char *err)
{
    char sql[64];
    int64_t version = 0;
    size_t i, part;

    if (begin_write(q, "migrate", err) == -1)
        return -1;
    if (query_int(q, "PRAGMA user_version", "schema version", &version, err) == -1)
        goto fail;
    if (version < 0 || (uint64_t)version > NELEM(migrations)) {
        errf(err, "%s: schema version %lld is newer than this reportd knows (%zu)", q->path,
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
    log_info("%s: schema migrated from version %lld to %zu", q->path, (long long)version,
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
        if ((sqlite3_errcode(q->db) & 0xff) != SQLITE_BUSY || waited >= QUEUE_BUSY_TIMEOUT_MS)
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

/* 0 and hex, 1 when the text has no @ (not an address: no hash), -1 out of memory. */
static int email_hash_hex(const struct queue *q, const char *email, char hex[SHA256_HEX_LEN])
{
    unsigned char digest[SHA256_DIGEST_LEN];
    size_t len;
    char *key;

    if (email == NULL)
        return 1;
    len = strlen(email);
    key = malloc(len + 1);
    if (key == NULL)
        return -1;
    if (!q->has_hash_key || email_key(email, key, len + 1) == -1) {
        free(key);
        return 1;
    }
    hmac_sha256(q->hash_key, sizeof(q->hash_key), key, len, digest);
    free(key);
    sha256_hex(digest, hex);
    return 0;
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
    switch (email_hash_hex(q, (const char *)email, hex)) {
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
        prepare(q, "SELECT value FROM reportd_secrets WHERE name = ?1", "hash key", err);
    int rc;

    if (st == NULL)
        return -1;
    if (bind_text(st, 1, HASH_KEY_NAME) != SQLITE_OK)
        return bind_fail(q, st, "hash key", err);
    rc = step(q, st, "hash key", err);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == HASH_KEY_LEN) {
        memcpy(q->hash_key, sqlite3_column_blob(st, 0), HASH_KEY_LEN);
        q->has_hash_key = 1;
    }
    finish(q, st);
    if (rc == -1)
        return -1;
    if (!q->has_hash_key)
        return errf(err, "%s: the address hash key is missing or damaged", q->path);
    if (sqlite3_create_function_v2(q->db, EMAIL_HASH_FUNCTION, 1,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC, q, sql_email_hash, NULL,
                                   NULL, NULL) != SQLITE_OK)
        return db_fail(q, "register " EMAIL_HASH_FUNCTION, err);
    return 0;
}

static struct queue *queue_new(const char *path, char *err)
{
    struct queue *q = calloc(1, sizeof(*q));

    if (q == NULL || (q->path = strdup(path)) == NULL) {
        free(q);
        errf(err, "%s: out of memory", path);
        return NULL;
    }
    buf_init(&q->pending);
    return q;
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
    int rc = sqlite3_open_v2(q->path, &q->db, flags, NULL);

    if (rc != SQLITE_OK)
        return errf(err, "%s: cannot open: %s", q->path,
                    q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
    if (sqlite3_extended_result_codes(q->db, 1) != SQLITE_OK ||
        sqlite3_busy_handler(q->db, on_busy, NULL) != SQLITE_OK)
        return db_fail(q, "open", err);
    return 0;
}

/*
 * SQLite opens a file it may not write read-only without a word, and every
 * write fails later; a writer must know now, and why.
 */
static int refuse_read_only(struct queue *q, char *err)
{
    const char *why = "SQLite could open it only for reading";

    if (access(q->path, W_OK) == -1)
        why = strerror(errno);
    return errf(err,
                "%s: the queue database is read-only (%s): reportd must be able to write it; "
                "check the file's owner and mode and that its filesystem is mounted read-write",
                q->path, why);
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

int queue_open(struct queue **qp, const char *path, char *err)
{
    struct queue *q;
    int rc;

    *qp = NULL;
    rc = create_file(path, err);
    if (rc != 0)
        return rc;
    align_journal_modes(path);
    if ((q = queue_new(path, err)) == NULL)
        return QUEUE_OPEN_ERROR;
    if (open_db(q, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err) == -1) {
        queue_close(q);
        return QUEUE_OPEN_ERROR;
    }
    if (sqlite3_db_readonly(q->db, "main") == 1) {
        refuse_read_only(q, err);
        queue_close(q);
        return QUEUE_OPEN_READ_ONLY;
    }
    if (configure(q, err) == -1 || load_hash_key(q, err) == -1) {
        queue_close(q);
        return QUEUE_OPEN_ERROR;
    }
    *qp = q;
    return QUEUE_OPEN_OK;
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
                    q->path);
    if (version < 0 || (uint64_t)version > NELEM(migrations))
        return errf(err, "%s: schema version %lld is newer than this reportd knows (%zu)", q->path,
                    (long long)version, NELEM(migrations));
    if ((size_t)version < NELEM(migrations))
        return errf(err,
                    "%s: schema version %lld is older than this reportd's (%zu): start the daemon "
                    "(reportd run) or run a writing command (such as enqueue) to migrate it; "
                    "read-only commands never write",
                    q->path, (long long)version, NELEM(migrations));
    return 0;
}

int queue_open_readonly(struct queue **qp, const char *path, char *err)
{
    struct queue *q;

    *qp = NULL;
    if (access(path, F_OK) == -1)
        return errf(err, "%s: cannot open: %s (the daemon creates it when it starts)", path,
                    strerror(errno));
    if ((q = queue_new(path, err)) == NULL)
        return -1;
    /* query_only: a statement that would write fails rather than wait for the lock. */
    if (open_db(q, SQLITE_OPEN_READONLY, err) == -1 || check_schema_readonly(q, err) == -1 ||
        exec_sql(q, "PRAGMA query_only = 1", "query only", err) == -1 ||
        load_hash_key(q, err) == -1) {
        queue_close(q);
        return -1;
    }
    *qp = q;
    return 0;
}

void queue_close(struct queue *q)
{
    if (q == NULL)
        return;
    forget_stmts(q);
    if (q->db && sqlite3_close(q->db) != SQLITE_OK)
        log_warnx("%s: close: %s", q->path, sqlite3_errmsg(q->db));
    buf_free(&q->pending);
    free(q->path);
    free(q);
}

const char *queue_path(const struct queue *q)
{
    return q->path;
}

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

#define RECORD_COLUMNS_SQL                                                                         \
    "id, email, name, role, level, tasks, skills, years, created_at, state, attempts,"             \
    " next_attempt_at, updated_at, sent_at, message_id, last_reply, reason, claimed_by,"           \
    " claim_until, requeued_at, attempt_started_at, scrubbed_at, email_hash,"                      \
    " " JSON_ARRAY_PROBLEM_SQL("tasks") ", " JSON_ARRAY_PROBLEM_SQL("skills")

enum record_column {
    COL_ID,
    COL_EMAIL,
    COL_NAME,
    COL_ROLE,
    COL_LEVEL,
    COL_TASKS,
    COL_SKILLS,
    COL_YEARS,
    COL_CREATED,
    COL_STATE,
    COL_ATTEMPTS,
    COL_NEXT_ATTEMPT,
    COL_UPDATED,
    COL_SENT,
    COL_MESSAGE_ID,
    COL_LAST_REPLY,
    COL_REASON,
    COL_CLAIMED_BY,
    COL_CLAIM_UNTIL,
    COL_REQUEUED,
    COL_ATTEMPT_STARTED,
    COL_SCRUBBED,
    COL_EMAIL_HASH,
    COL_TASKS_PROBLEM,
    COL_SKILLS_PROBLEM,
};

/* One task of the tasks array: a bare id, or an object with id and share. */
#define TASK_ELEMENTS_SQL                                                                          \
    "SELECT e.type, e.atom,"                                                                       \
    " CASE WHEN e.type = 'object' THEN json_type(e.value, '$.id') END,"                            \
    " CASE WHEN e.type = 'object' THEN json_extract(e.value, '$.id') END,"                         \
    " CASE WHEN e.type = 'object' THEN json_type(e.value, '$.share') END,"                         \
    " CASE WHEN e.type = 'object' THEN json_extract(e.value, '$.share') END,"                      \
    " CASE WHEN e.type = 'object' THEN (SELECT k.key FROM json_each(e.value) AS k"                 \
    "  WHERE k.key NOT IN ('id', 'share') LIMIT 1) END"                                            \
    " FROM json_each(?1) AS e ORDER BY e.key"

enum task_column {
    TASK_TYPE,
    TASK_ATOM,
    TASK_ID_TYPE,
    TASK_ID,
    TASK_SHARE_TYPE,
    TASK_SHARE,
    TASK_EXTRA_KEY
};

#define SKILL_ELEMENTS_SQL "SELECT type, atom FROM json_each(?1) ORDER BY key"

enum copy_result { COPY_OK, COPY_NULL, COPY_NOT_TEXT, COPY_HAS_NUL, COPY_NOMEM };

/* Copies a text column, telling a NUL inside the text (which C would cut) from a good one. */
static enum copy_result copy_text(sqlite3_stmt *st, int col, char **out)
{
    const unsigned char *text;
    int len;

    *out = NULL;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return COPY_NULL;
    if (sqlite3_column_type(st, col) != SQLITE_TEXT)
        return COPY_NOT_TEXT;
    text = sqlite3_column_text(st, col);
    len = sqlite3_column_bytes(st, col);
    if (text == NULL)
        return COPY_NOMEM;
    if (strlen((const char *)text) != (size_t)len)
        return COPY_HAS_NUL;
    *out = strdup((const char *)text);
    return *out ? COPY_OK : COPY_NOMEM;
}

/* Our own bookkeeping columns: text or NULL.  -1 out of memory. */
static int copy_own_text(sqlite3_stmt *st, int col, char **out)
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

UTIL_PRINTF(2, 3) static int note_problem(struct signup_record *r, const char *fmt, ...)
{
    char msg[ERRLEN];
    va_list ap;

    if (r->load_error)
        return 0;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->load_error = strdup(msg);
    return r->load_error ? 0 : -1;
}

/*
 * A producer's text column: a problem is noted in the record, not returned.
 * -1 only when out of memory.
 */
static int load_text(sqlite3_stmt *st, int col, const char *field, int required, char **out,
                     struct signup_record *r)
{
    switch (copy_text(st, col, out)) {
    case COPY_OK:
        return 0;
    case COPY_NULL:
        return required ? note_problem(r, "%s: missing", field) : 0;
    case COPY_NOT_TEXT:
        return note_problem(r, "%s: not text", field);
    case COPY_HAS_NUL:
        return note_problem(r, "%s: contains a line break or control character", field);
    case COPY_NOMEM:
        break;
    }
    return -1;
}

static int load_task_object(sqlite3_stmt *el, size_t i, struct signup_record *r)
{
    const char *id_type = (const char *)sqlite3_column_text(el, TASK_ID_TYPE);
    const char *share_type = (const char *)sqlite3_column_text(el, TASK_SHARE_TYPE);
    int has_share = 0;
    double share = 0;
    char *id;
    int rc;

    if (sqlite3_column_type(el, TASK_EXTRA_KEY) != SQLITE_NULL)
        return note_problem(r, "tasks[%zu]: unknown key \"%s\"", i,
                            (const char *)sqlite3_column_text(el, TASK_EXTRA_KEY));
    if (id_type == NULL)
        return note_problem(r, "tasks[%zu].id: missing", i);
    if (strcmp(id_type, "text") != 0)
        return note_problem(r, "tasks[%zu].id: not a string", i);
    if (share_type && (strcmp(share_type, "integer") == 0 || strcmp(share_type, "real") == 0)) {
        share = sqlite3_column_double(el, TASK_SHARE);
        has_share = 1;
    } else if (share_type && strcmp(share_type, "null") != 0) {
        return note_problem(r, "tasks[%zu].share: not a number", i);
    }
    switch (copy_text(el, TASK_ID, &id)) {
    case COPY_OK:
        rc = signup_add_task(&r->signup, id, share, has_share);
        free(id);
        return rc;
    case COPY_NOMEM:
        return -1;
    default:
        return note_problem(r, "tasks[%zu].id: contains a line break or control character", i);
    }
}

static int load_task(sqlite3_stmt *el, size_t i, struct signup_record *r)
{
    const char *type = (const char *)sqlite3_column_text(el, TASK_TYPE);
    char *id;
    int rc;

    if (type && strcmp(type, "object") == 0)
        return load_task_object(el, i, r);
    if (type == NULL || strcmp(type, "text") != 0)
        return note_problem(r, "tasks[%zu]: not a task id or an {\"id\", \"share\"} object", i);
    switch (copy_text(el, TASK_ATOM, &id)) {
    case COPY_OK:
        rc = signup_add_task(&r->signup, id, 0, 0);
        free(id);
        return rc;
    case COPY_NOMEM:
        return -1;
    default:
        return note_problem(r, "tasks[%zu]: contains a line break or control character", i);
    }
}

static int load_skill(sqlite3_stmt *el, size_t i, struct signup_record *r)
{
    const char *type = (const char *)sqlite3_column_text(el, 0);
    char *id;
    int rc;

    if (type == NULL || strcmp(type, "text") != 0)
        return note_problem(r, "skills[%zu]: not a string", i);
    switch (copy_text(el, 1, &id)) {
    case COPY_OK:
        rc = signup_add_skill(&r->signup, id);
        free(id);
        return rc;
    case COPY_NOMEM:
        return -1;
    default:
        return note_problem(r, "skills[%zu]: contains a line break or control character", i);
    }
}

typedef int (*element_loader)(sqlite3_stmt *el, size_t i, struct signup_record *r);

/*
 * Reads a JSON array column element by element with SQLite's json_each.  A
 * problem stops at the first bad element; an array longer than max is refused
 * before it is read to the end, whatever a producer put there.
 */
static int load_array(struct queue *q, sqlite3_stmt *row, int col, int problem_col,
                      const char *field, size_t max, const char *sql, element_loader load,
                      struct signup_record *r, char *err)
{
    sqlite3_stmt *el;
    size_t i;
    int rc = 0;

    if (sqlite3_column_type(row, problem_col) != SQLITE_NULL) {
        if (note_problem(r, "%s: %s", field, (const char *)sqlite3_column_text(row, problem_col)) ==
            -1)
            return errf(err, "%s: out of memory", q->path);
        return 0;
    }
    if (sqlite3_column_type(row, col) == SQLITE_NULL)
        return 0;
    el = prepare(q, sql, "load signup", err);
    if (el == NULL)
        return -1;
    if (sqlite3_bind_value(el, 1, sqlite3_column_value(row, col)) != SQLITE_OK)
        return bind_fail(q, el, "load signup", err);
    for (i = 0; r->load_error == NULL; i++) {
        rc = step(q, el, "load signup", err);
        if (rc != SQLITE_ROW)
            break;
        if (i == max) {
            rc = note_problem(r, "%s: more than %zu entries", field, max);
        } else {
            rc = load(el, i, r);
        }
        if (rc == -1) {
            errf(err, "%s: out of memory", q->path);
            break;
        }
    }
    finish(q, el);
    return rc == -1 ? -1 : 0;
}

static int load_years(sqlite3_stmt *row, struct signup_record *r)
{
    switch (sqlite3_column_type(row, COL_YEARS)) {
    case SQLITE_NULL:
        return 0;
    case SQLITE_INTEGER:
    case SQLITE_FLOAT:
        r->signup.years = sqlite3_column_double(row, COL_YEARS);
        r->signup.has_years = 1;
        return 0;
    default:
        /* The column's REAL affinity already turned numeric text into a number. */
        return note_problem(r, "years: not a number");
    }
}

static int load_producer_columns(struct queue *q, sqlite3_stmt *row, struct signup_record *r,
                                 char *err)
{
    struct signup *s = &r->signup;

    s->id = sqlite3_column_int64(row, COL_ID);
    s->created_ms = sqlite3_column_int64(row, COL_CREATED);
    if (load_text(row, COL_EMAIL, "email", 1, &s->email, r) == -1 ||
        load_text(row, COL_NAME, "name", 0, &s->name, r) == -1 ||
        load_text(row, COL_ROLE, "role", 1, &s->role, r) == -1 ||
        load_text(row, COL_LEVEL, "level", 1, &s->level, r) == -1 || load_years(row, r) == -1)
        return errf(err, "%s: out of memory", q->path);
    /* A producer writing '' means no name, as NULL does. */
    if (s->name && *s->name == '\0') {
        free(s->name);
        s->name = NULL;
    }
    if (load_array(q, row, COL_TASKS, COL_TASKS_PROBLEM, "tasks", SIGNUP_MAX_TASKS,
                   TASK_ELEMENTS_SQL, load_task, r, err) == -1 ||
        load_array(q, row, COL_SKILLS, COL_SKILLS_PROBLEM, "skills", SIGNUP_MAX_SKILLS,
                   SKILL_ELEMENTS_SQL, load_skill, r, err) == -1)
        return -1;
    return 0;
}

static int load_own_columns(struct queue *q, sqlite3_stmt *row, struct signup_record *r, char *err)
{
    const char *state = (const char *)sqlite3_column_text(row, COL_STATE);

    if (state == NULL || signup_state_parse(state, &r->state) == -1)
        return errf(err, "%s: signup %lld: unknown state \"%s\"", q->path,
                    (long long)sqlite3_column_int64(row, COL_ID), state ? state : "NULL");
    r->attempts = sqlite3_column_int(row, COL_ATTEMPTS);
    r->next_attempt_ms = sqlite3_column_int64(row, COL_NEXT_ATTEMPT);
    r->updated_ms = sqlite3_column_int64(row, COL_UPDATED);
    r->sent_ms = sqlite3_column_int64(row, COL_SENT);
    r->claim_until_ms = sqlite3_column_int64(row, COL_CLAIM_UNTIL);
    r->requeued_ms = sqlite3_column_int64(row, COL_REQUEUED);
    r->attempt_started_ms = sqlite3_column_int64(row, COL_ATTEMPT_STARTED);
    r->scrubbed_ms = sqlite3_column_int64(row, COL_SCRUBBED);
    if (copy_own_text(row, COL_MESSAGE_ID, &r->message_id) == -1 ||
        copy_own_text(row, COL_EMAIL_HASH, &r->email_hash) == -1 ||
        copy_own_text(row, COL_LAST_REPLY, &r->last_reply) == -1 ||
        copy_own_text(row, COL_REASON, &r->reason) == -1 ||
        copy_own_text(row, COL_CLAIMED_BY, &r->claimed_by) == -1)
        return errf(err, "%s: out of memory", q->path);
    return 0;
}

/* Fills r from a row of RECORD_COLUMNS_SQL.  -1 only for a database error or no memory. */
static int load_record(struct queue *q, sqlite3_stmt *row, struct signup_record *r, char *err)
{
    *r = (struct signup_record){0};
    signup_init(&r->signup);
    if (load_own_columns(q, row, r, err) == -1 || load_producer_columns(q, row, r, err) == -1) {
        signup_record_free(r);
        return -1;
    }
    return 0;
}

/* 0 loaded, 1 no such signup, -1 error. */
static int load_by_id(struct queue *q, int64_t id, struct signup_record *r, char *err)
{
    sqlite3_stmt *st =
        prepare(q, "SELECT " RECORD_COLUMNS_SQL " FROM signups WHERE id = ?1", "load signup", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return bind_fail(q, st, "load signup", err);
    rc = step(q, st, "load signup", err);
    if (rc == SQLITE_ROW)
        rc = load_record(q, st, r, err) == -1 ? -1 : 0;
    else if (rc == SQLITE_DONE)
        rc = 1;
    finish(q, st);
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
    " requeued_at = CASE WHEN ?3 = 'queued' AND ?2 IN ('failed', 'held', 'deferred') THEN ?4"      \
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

/* 1 changed, 0 the signup was not in from (or not held by t->owner), -1 error. */
static int update_state(struct queue *q, int64_t id, enum signup_state from, enum signup_state to,
                        const struct transition *t, int64_t now, char *err)
{
    sqlite3_stmt *st = prepare(q, TRANSITION_SQL, "transition", err);
    int64_t next = t->next_attempt_ms == TRANSITION_KEEP_DUE ? -1
                   : t->next_attempt_ms                      ? t->next_attempt_ms
                                                             : now;
    const char *owner = from == SIGNUP_SENDING ? t->owner : NULL;
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
        bind_text(st, 2, state_names[from]) != SQLITE_OK ||
        bind_text(st, 3, state_names[to]) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, now) != SQLITE_OK ||
        sqlite3_bind_int(st, 5, t->count_attempt ? 1 : 0) != SQLITE_OK ||
        bind_text(st, 6, t->reason) != SQLITE_OK || bind_text(st, 7, t->reply) != SQLITE_OK ||
        bind_text(st, 8, t->message_id) != SQLITE_OK ||
        sqlite3_bind_int64(st, 9, next) != SQLITE_OK ||
        bind_text(st, 10, t->claimed_by) != SQLITE_OK ||
        sqlite3_bind_int64(st, 11, t->claim_until_ms) != SQLITE_OK ||
        bind_text(st, 12, owner) != SQLITE_OK)
        return bind_fail(q, st, "transition", err);
    rc = step(q, st, "transition", err);
    finish(q, st);
    if (rc == -1)
        return -1;
    return sqlite3_changes(q->db) == 1;
}

static int record_event(struct queue *q, int64_t id, int has_from, enum signup_state from,
                        enum signup_state to, const char *detail, int64_t now, char *err)
{
    sqlite3_stmt *st = prepare(q, EVENT_SQL, "record event", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK || sqlite3_bind_int64(st, 2, now) != SQLITE_OK ||
        bind_text(st, 3, has_from ? state_names[from] : NULL) != SQLITE_OK ||
        bind_text(st, 4, state_names[to]) != SQLITE_OK || bind_text(st, 5, detail) != SQLITE_OK)
        return bind_fail(q, st, "record event", err);
    rc = step(q, st, "record event", err);
    finish(q, st);
    return rc == -1 ? -1 : 0;
}

/*
 * The single implementation of a state change, run inside the caller's
 * transaction: compare-and-set, history, and the log line, written when the
 * transaction commits.  0 done, 1 not in from.
 */
static int apply_transition(struct queue *q, int64_t id, enum signup_state from,
                            enum signup_state to, const struct transition *t, int64_t now,
                            char *err)
{
    static const struct transition none;
    int changed;

    if ((unsigned)from >= SIGNUP_NSTATES || (unsigned)to >= SIGNUP_NSTATES)
        return errf(err, "%s: signup %lld: no such state", q->path, (long long)id);
    if (!transition_allowed(from, to))
        return errf(err, "%s: signup %lld: transition %s -> %s is not allowed", q->path,
                    (long long)id, state_names[from], state_names[to]);
    if (t == NULL)
        t = &none;
    if (to == SIGNUP_SENDING && (t->claimed_by == NULL || *t->claimed_by == '\0'))
        return errf(err, "%s: signup %lld: a claim needs an owner", q->path, (long long)id);
    changed = update_state(q, id, from, to, t, now, err);
    if (changed != 1)
        return changed == 0 ? 1 : -1;
    if (record_event(q, id, 1, from, to, t->detail, now, err) == -1)
        return -1;
    log_transition(q, id, state_names[from], state_names[to], t->detail);
    return 0;
}

int queue_transition(struct queue *q, int64_t id, enum signup_state from, enum signup_state to,
                     const struct transition *t, char *err)
{
    int rc;

    /* Inside a caller's transaction the change commits or rolls back with it. */
    if (in_transaction(q))
        return apply_transition(q, id, from, to, t, now_ms(), err);
    if (begin_write(q, "transition", err) == -1)
        return -1;
    rc = apply_transition(q, id, from, to, t, now_ms(), err);
    if (rc == -1 || commit(q, "transition", err) == -1) {
        rollback(q);
        return -1;
    }
    return rc;
}

/* --- producer side ------------------------------------------------------ */

/*
 * A signup for the address ?1, by its key or, once scrubbed, by its keyed
 * hash ?2.  (A scrubbed email is '', whose key never equals an address's.)
 */
#define SAME_ADDRESS_SQL "(" EMAIL_KEY_OF_COLUMN " = " EMAIL_KEY_OF_PARAM " OR email_hash = ?2)"

/* The states in which a signup blocks another for the same address; failed and rejected don't. */
#define FIND_ACTIVE_SQL                                                                            \
    "SELECT max(id) FROM signups WHERE " SAME_ADDRESS_SQL                                          \
    " AND state IN ('queued', 'sending', 'deferred', 'held', 'sent')"

static void json_string(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    buf_putc(b, '"');
    for (; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            buf_printf(b, "\\u%04x", *p);
        else
            buf_putc(b, *p);
    }
    buf_putc(b, '"');
}

/*
 * Shares are validated finite percentages; 15 significant digits give back
 * the decimal a person typed.  (reportd never calls setlocale, so the
 * decimal point stays a point.)
 */
static char *tasks_json(const struct signup *s)
{
    struct buf b;
    size_t i;

    buf_init(&b);
    buf_putc(&b, '[');
    for (i = 0; i < s->ntasks; i++) {
        if (i)
            buf_putc(&b, ',');
        if (!s->tasks[i].has_share) {
            json_string(&b, s->tasks[i].id);
            continue;
        }
        buf_puts(&b, "{\"id\":");
        json_string(&b, s->tasks[i].id);
        buf_printf(&b, ",\"share\":%.15g}", s->tasks[i].share);
    }
    buf_putc(&b, ']');
    return buf_steal(&b);
}

static char *skills_json(const struct signup *s)
{
    struct buf b;
    size_t i;

    buf_init(&b);
    buf_putc(&b, '[');
    for (i = 0; i < s->nskills; i++) {
        if (i)
            buf_putc(&b, ',');
        json_string(&b, s->skills[i]);
    }
    buf_putc(&b, ']');
    return buf_steal(&b);
}

/*
 * Runs a SELECT max(id) for the address email (?1, and its hash ?2): 0 and
 * *id, 1 none, -1 error.  max() rather than ORDER BY id, so that SQLite
 * looks the address up in both indexes instead of walking the table by id.
 */
static int find_address(struct queue *q, const char *sql, const char *email, int64_t *id,
                        const char *what, char *err)
{
    char hex[SHA256_HEX_LEN];
    sqlite3_stmt *st;
    int rc = email_hash_hex(q, email, hex);

    if (rc == -1)
        return errf(err, "%s: %s: out of memory", q->path, what);
    st = prepare(q, sql, what, err);
    if (st == NULL)
        return -1;
    if (bind_text(st, 1, email) != SQLITE_OK || bind_text(st, 2, rc == 0 ? hex : NULL) != SQLITE_OK)
        return bind_fail(q, st, what, err);
    rc = step(q, st, what, err);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL)
        rc = SQLITE_DONE;
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    finish(q, st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

/* 0 and *id of the newest signup that blocks this address, 1 none, -1 error. */
static int find_active(struct queue *q, const char *email, int64_t *id, char *err)
{
    return find_address(q, FIND_ACTIVE_SQL, email, id, "find duplicate", err);
}

/*
 * The same INSERT a website makes: reportd's columns keep their defaults, as
 * the trigger signups_producer_columns demands (updated_at is SQLite's now).
 */
static int insert_signup(struct queue *q, const struct signup *s, int64_t now, int64_t *id,
                         char *err)
{
    char *tasks = tasks_json(s), *skills = skills_json(s);
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (tasks == NULL || skills == NULL) {
        errf(err, "%s: enqueue: out of memory", q->path);
        goto out;
    }
    st = prepare(q,
                 "INSERT INTO signups (email, name, role, level, tasks, skills, years, created_at)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                 "enqueue", err);
    if (st == NULL)
        goto out;
    if (bind_text(st, 1, s->email) != SQLITE_OK || bind_text(st, 2, s->name) != SQLITE_OK ||
        bind_text(st, 3, s->role) != SQLITE_OK || bind_text(st, 4, s->level) != SQLITE_OK ||
        bind_text(st, 5, tasks) != SQLITE_OK || bind_text(st, 6, skills) != SQLITE_OK ||
        (s->has_years ? sqlite3_bind_double(st, 7, s->years) : sqlite3_bind_null(st, 7)) !=
            SQLITE_OK ||
        sqlite3_bind_int64(st, 8, s->created_ms ? s->created_ms : now) != SQLITE_OK) {
        db_fail(q, "enqueue", err);
        goto out;
    }
    if (step(q, st, "enqueue", err) == -1)
        goto out;
    *id = sqlite3_last_insert_rowid(q->db);
    log_transition(q, *id, "none", "queued", "enqueued");
    rc = 0;
out:
    finish(q, st);
    free(tasks);
    free(skills);
    return rc;
}

/*
 * Earlier signups of the same batch are already inserted in this
 * transaction, so the one query finds duplicates within the batch too.
 */
static int enqueue_one(struct queue *q, const struct signup *s, int64_t now, int64_t *id,
                       enum enqueue_result *res, char *err)
{
    int rc;

    if (s->email == NULL || s->role == NULL || s->level == NULL)
        return errf(err, "%s: enqueue: email, role and level are required", q->path);
    rc = find_active(q, s->email, id, err);
    if (rc == 0) {
        *res = ENQUEUE_DUPLICATE;
        return 0;
    }
    if (rc == -1)
        return -1;
    *res = ENQUEUE_ADDED;
    return insert_signup(q, s, now, id, err);
}

int queue_enqueue(struct queue *q, const struct signup *s, size_t n, int64_t *ids,
                  enum enqueue_result *res, char *err)
{
    int64_t now = now_ms();
    size_t i;

    if (in_transaction(q)) {
        for (i = 0; i < n; i++)
            if (enqueue_one(q, &s[i], now, &ids[i], &res[i], err) == -1)
                return -1;
        /* Only queue_enqueue_begin() leaves a transaction open: see its comment. */
        buf_reset(&q->pending);
        return 0;
    }
    if (begin_write(q, "enqueue", err) == -1)
        return -1;
    for (i = 0; i < n; i++) {
        if (enqueue_one(q, &s[i], now, &ids[i], &res[i], err) == -1) {
            rollback(q);
            return -1;
        }
    }
    if (commit(q, "enqueue", err) == -1) {
        rollback(q);
        return -1;
    }
    return 0;
}

int queue_enqueue_begin(struct queue *q, char *err)
{
    return begin_write(q, "enqueue", err);
}

int queue_enqueue_commit(struct queue *q, char *err)
{
    if (commit(q, "enqueue", err) == -1) {
        rollback(q);
        return -1;
    }
    return 0;
}

void queue_enqueue_rollback(struct queue *q)
{
    rollback(q);
}

/* --- reading ------------------------------------------------------------ */

/* A snapshot for a multi-statement read, unless a transaction is open already. */
static int begin_read(struct queue *q, int *began, const char *what, char *err)
{
    *began = 0;
    if (in_transaction(q))
        return 0;
    if (exec_sql(q, "BEGIN", what, err) == -1)
        return -1;
    *began = 1;
    return 0;
}

static int end_read(struct queue *q, int began, int rc, const char *what, char *err)
{
    if (!began)
        return rc;
    if (rc == -1) {
        rollback(q);
        return -1;
    }
    if (commit(q, what, err) == -1) {
        rollback(q);
        return -1;
    }
    return rc;
}

int queue_get(struct queue *q, int64_t id, struct signup_record *r, char *err)
{
    int began, rc;

    if (begin_read(q, &began, "get", err) == -1)
        return -1;
    rc = load_by_id(q, id, r, err);
    return end_read(q, began, rc, "get", err);
}

#define FIND_EMAIL_SQL "SELECT max(id) FROM signups WHERE " SAME_ADDRESS_SQL

int queue_find_email(struct queue *q, const char *email, int64_t *id, char *err)
{
    return find_address(q, FIND_EMAIL_SQL, email, id, "find address", err);
}

static int stats_counts(struct queue *q, int64_t count[SIGNUP_NSTATES], char *err)
{
    sqlite3_stmt *st =
        prepare(q, "SELECT state, count(*) FROM signups GROUP BY state", "stats", err);
    enum signup_state state;
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = step(q, st, "stats", err)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);

        if (name && signup_state_parse(name, &state) == 0)
            count[state] = sqlite3_column_int64(st, 1);
    }
    finish(q, st);
    return rc == -1 ? -1 : 0;
}

static int stats_last_error(struct queue *q, struct queue_stats *s, char *err)
{
    sqlite3_stmt *st = prepare(q,
                               "SELECT id, updated_at, reason FROM signups"
                               " WHERE state IN ('failed', 'deferred', 'rejected')"
                               " ORDER BY updated_at DESC, id DESC LIMIT 1",
                               "stats", err);
    int rc;

    if (st == NULL)
        return -1;
    rc = step(q, st, "stats", err);
    if (rc == SQLITE_ROW) {
        const char *reason = (const char *)sqlite3_column_text(st, 2);

        s->last_error_id = sqlite3_column_int64(st, 0);
        s->last_error_ms = sqlite3_column_int64(st, 1);
        snprintf(s->last_error, sizeof(s->last_error), "%s", reason ? reason : "");
    }
    finish(q, st);
    return rc == -1 ? -1 : 0;
}

#define OLDEST_WAITING_SQL                                                                         \
    "SELECT coalesce(min(created_at), 0) FROM signups WHERE state IN ('queued', 'deferred')"

int queue_stats(struct queue *q, struct queue_stats *s, char *err)
{
    int began, rc;

    *s = (struct queue_stats){0};
    if (begin_read(q, &began, "stats", err) == -1)
        return -1;
    rc = stats_counts(q, s->count, err);
    if (rc == 0)
        rc = query_int(q, OLDEST_WAITING_SQL, "stats", &s->oldest_waiting_ms, err);
    if (rc == 0)
        rc = stats_last_error(q, s, err);
    if (rc == 0)
        rc = query_int(q,
                       "SELECT count(*) FROM signups WHERE state = 'held'"
                       " AND reason LIKE '" QUEUE_UNCERTAIN_PREFIX "%'",
                       "stats", &s->uncertain, err);
    return end_read(q, began, rc, "stats", err);
}

/* --- metrics ------------------------------------------------------------ */

/* How each claim ended: history moves out of sending, by the state they went to. */
static int metrics_outcomes(struct queue *q, struct queue_metrics *m, char *err)
{
    sqlite3_stmt *st = prepare(q,
                               "SELECT to_state, count(*) FROM signup_events"
                               " WHERE from_state = 'sending' GROUP BY to_state",
                               "metrics", err);
    enum signup_state state;
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = step(q, st, "metrics", err)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);

        if (name && signup_state_parse(name, &state) == 0)
            m->outcomes[state] = sqlite3_column_int64(st, 1);
    }
    finish(q, st);
    return rc == -1 ? -1 : 0;
}

/* Signups by the code their relay's last reply began with; 0 for one without a code. */
static int metrics_replies(struct queue *q, struct queue_metrics *m, char *err)
{
    sqlite3_stmt *st =
        prepare(q,
                "SELECT CASE WHEN last_reply GLOB '[1-5][0-9][0-9]*'"
                " THEN CAST(substr(last_reply, 1, 3) AS INTEGER) ELSE 0 END AS code, count(*)"
                " FROM signups WHERE last_reply IS NOT NULL GROUP BY code",
                "metrics", err);
    int64_t code;
    int rc;

    if (st == NULL)
        return -1;
    while ((rc = step(q, st, "metrics", err)) == SQLITE_ROW) {
        code = sqlite3_column_int64(st, 0);
        if (code >= 0 && code < QUEUE_REPLY_CODES)
            m->last_reply[code] = sqlite3_column_int64(st, 1);
    }
    finish(q, st);
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
        return errf(err, "%s: metrics: out of memory", q->path);
    }
    st = prepare(q, buf_str(&sql), "metrics", err);
    buf_free(&sql);
    if (st == NULL)
        return -1;
    rc = step(q, st, "metrics", err);
    if (rc == SQLITE_ROW) {
        m->attempts = sqlite3_column_int64(st, 0);
        m->last_sent_ms = sqlite3_column_int64(st, 1);
        m->latency_count = sqlite3_column_int64(st, 2);
        m->latency_sum_ms = sqlite3_column_int64(st, 3);
        for (i = 0; i < QUEUE_LATENCY_BUCKETS; i++)
            m->latency_le[i] = sqlite3_column_int64(st, 4 + (int)i);
    }
    finish(q, st);
    return rc == -1 ? -1 : 0;
}

int queue_metrics(struct queue *q, struct queue_metrics *m, char *err)
{
    int began, rc;

    memset(m, 0, sizeof(*m));
    if (begin_read(q, &began, "metrics", err) == -1)
        return -1;
    rc = stats_counts(q, m->count, err);
    if (rc == 0)
        rc = query_int(q, OLDEST_WAITING_SQL, "metrics", &m->oldest_waiting_ms, err);
    if (rc == 0)
        rc = metrics_outcomes(q, m, err);
    if (rc == 0)
        rc = metrics_replies(q, m, err);
    if (rc == 0)
        rc = metrics_sent(q, m, err);
    return end_read(q, began, rc, "metrics", err);
}

static int list_rows(struct queue *q, int state, queue_list_fn fn, void *arg, char *err)
{
    sqlite3_stmt *st = prepare(q,
                               "SELECT " RECORD_COLUMNS_SQL " FROM signups"
                               " WHERE ?1 IS NULL OR state = ?1 ORDER BY id",
                               "list", err);
    struct signup_record r;
    int rc;

    if (st == NULL)
        return -1;
    if (bind_text(st, 1, state < 0 ? NULL : state_names[state]) != SQLITE_OK)
        return bind_fail(q, st, "list", err);
    while ((rc = step(q, st, "list", err)) == SQLITE_ROW) {
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
    finish(q, st);
    return rc == -1 ? -1 : 0;
}

int queue_list(struct queue *q, int state, queue_list_fn fn, void *arg, char *err)
{
    int began, rc;

    if (state >= SIGNUP_NSTATES)
        return errf(err, "%s: list: no such state", q->path);
    if (begin_read(q, &began, "list", err) == -1)
        return -1;
    rc = list_rows(q, state, fn, arg, err);
    return end_read(q, began, rc, "list", err);
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
        return errf(err, "%s: history: unknown state", q->path);
    return 0;
}

int queue_history(struct queue *q, int64_t id, queue_event_fn fn, void *arg, char *err)
{
    sqlite3_stmt *st = prepare(q,
                               "SELECT at, from_state, to_state, detail FROM signup_events"
                               " WHERE signup_id = ?1 ORDER BY at, id",
                               "history", err);
    struct queue_event ev;
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return bind_fail(q, st, "history", err);
    while ((rc = step(q, st, "history", err)) == SQLITE_ROW) {
        if (parse_event(q, st, &ev, err) == -1) {
            rc = -1;
            break;
        }
        if (fn(arg, &ev))
            break;
    }
    finish(q, st);
    return rc == -1 ? -1 : 0;
}

/* --- daemon side -------------------------------------------------------- */

struct due {
    int64_t id;
    enum signup_state state;
    int64_t sent_id; /* a signup already sent to the address, 0 none */
};

/*
 * Due signups, oldest due first, each with a signup already sent to its
 * address if there is one (it is a duplicate then): by the address's key,
 * or by its keyed hash when that signup was scrubbed (two lookups rather
 * than one OR, which SQLite would answer by reading every sent row).  A
 * scrubbed email is '', whose key is '': a producer's empty address must be
 * rejected as the invalid address it is, not as a duplicate of those.  A signup that waits
 * behind an earlier one for the same address (queued, deferred or held), or
 * behind any one in flight (an operator may have retried an older signup), is
 * left out: it is decided once that one settles, and leaving it out here lets
 * a claim fill its batch with signups that can go.
 */
#define SELECT_DUE_SQL                                                                             \
    "SELECT id, state, sent_id FROM (SELECT s.id, s.state, s.next_attempt_at,"                     \
    " coalesce((SELECT min(o.id) FROM signups AS o WHERE " EMAIL_KEY_OF_OTHER                      \
    " = " EMAIL_KEY_OF_SELF "  AND o.id <> s.id AND o.state = 'sent' AND o.scrubbed_at IS NULL),"  \
    "  (SELECT min(o.id) FROM signups AS o WHERE o.email_hash = " EMAIL_HASH_FUNCTION "(s.email)"  \
    "   AND o.state = 'sent')) AS sent_id,"                                                        \
    " EXISTS (SELECT 1 FROM signups AS o WHERE " EMAIL_KEY_OF_OTHER " = " EMAIL_KEY_OF_SELF        \
    "  AND ((o.id < s.id AND o.state IN ('queued', 'deferred', 'held'))"                           \
    "   OR (o.id <> s.id AND o.state = 'sending'))) AS waits"                                      \
    " FROM signups AS s WHERE s.state IN ('queued', 'deferred') AND s.next_attempt_at <= ?1)"      \
    " WHERE sent_id IS NOT NULL OR NOT waits ORDER BY next_attempt_at, id LIMIT ?2"

/* Returns how many, or -1. */
static int select_due(struct queue *q, int64_t now, int max, struct due *out, char *err)
{
    sqlite3_stmt *st = prepare(q, SELECT_DUE_SQL, "claim", err);
    int n = 0, rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, now) != SQLITE_OK || sqlite3_bind_int(st, 2, max) != SQLITE_OK)
        return bind_fail(q, st, "claim", err);
    while ((rc = step(q, st, "claim", err)) == SQLITE_ROW && n < max) {
        const char *state = (const char *)sqlite3_column_text(st, 1);

        out[n].id = sqlite3_column_int64(st, 0);
        out[n].sent_id = sqlite3_column_int64(st, 2);
        if (state == NULL || signup_state_parse(state, &out[n].state) == -1) {
            errf(err, "%s: claim: signup %lld has an unknown state", q->path, (long long)out[n].id);
            rc = -1;
            break;
        }
        n++;
    }
    finish(q, st);
    return rc == -1 ? -1 : n;
}

/* 1 claimed, 0 rejected as a duplicate of a signup already sent, -1 error. */
static int claim_one(struct queue *q, const struct due *d, const char *owner, int64_t now,
                     int64_t lease_ms, char *err)
{
    char detail[ERRLEN];
    struct transition t = {0};
    int rc;

    if (d->sent_id != 0) {
        snprintf(detail, sizeof(detail), "duplicate: address already has signup %lld",
                 (long long)d->sent_id);
        t.detail = t.reason = detail;
        rc = apply_transition(q, d->id, d->state, SIGNUP_REJECTED, &t, now, err);
        return rc == -1 ? -1 : 0;
    }
    snprintf(detail, sizeof(detail), "claimed by %s", owner);
    t.detail = detail;
    t.claimed_by = owner;
    t.claim_until_ms = now + lease_ms;
    rc = apply_transition(q, d->id, d->state, SIGNUP_SENDING, &t, now, err);
    /* Inside our write transaction nobody else can have moved it. */
    if (rc == 1)
        return errf(err, "%s: claim: signup %lld changed under the claim", q->path,
                    (long long)d->id);
    return rc == -1 ? -1 : 1;
}

/*
 * A website may insert an address with a Unicode domain (joerg@bücher.example):
 * before the claim compares addresses, each due one is stored in its ASCII
 * form (joerg@xn--bcher-kva.example), the form enqueue stores and SMTP uses.
 * An invalid one is left as it is, for the daemon to reject with the reason.
 * INDEXED BY: without statistics SQLite would pick signups_due and read every
 * waiting signup on each claim; with it, only the non-ASCII ones.
 */
#define DUE_NON_ASCII_SQL                                                                          \
    "SELECT id, email FROM signups INDEXED BY signups_unicode_due WHERE " NON_ASCII_DUE_SQL        \
    " AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2"
#define SET_EMAIL_SQL "UPDATE signups SET email = ?2 WHERE id = ?1"

static int store_ascii_email(struct queue *q, int64_t id, const char *email, char *err)
{
    char idn_err[ERRLEN];
    char *ascii;
    sqlite3_stmt *st;
    int rc;

    switch (idn_email_to_ascii(email, &ascii, idn_err)) {
    case IDN_CONVERTED:
        break;
    case IDN_NOMEM:
        return errf(err, "%s: claim: out of memory", q->path);
    default:
        return 0;
    }
    st = prepare(q, SET_EMAIL_SQL, "claim", err);
    if (st == NULL || sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
        bind_text(st, 2, ascii) != SQLITE_OK) {
        free(ascii);
        return st == NULL ? -1 : bind_fail(q, st, "claim", err);
    }
    rc = step(q, st, "claim", err);
    finish(q, st);
    if (rc != -1) {
        (void)buf_printf(&q->pending, "id=%lld email=", (long long)id);
        put_log_quoted(&q->pending, ascii);
        buf_puts(&q->pending, " detail=\"Unicode domain stored in its ASCII form\"");
        end_log_line(q);
    }
    free(ascii);
    return rc == -1 ? -1 : 0;
}

static int ascii_due_domains(struct queue *q, int64_t now, char *err)
{
    sqlite3_stmt *st = prepare(q, DUE_NON_ASCII_SQL, "claim", err);
    int64_t *ids = NULL;
    char **emails = NULL;
    int n = 0, i, rc;

    if (st == NULL)
        return -1;
    ids = calloc(QUEUE_MAX_BATCH, sizeof(*ids));
    emails = calloc(QUEUE_MAX_BATCH, sizeof(*emails));
    if (ids == NULL || emails == NULL) {
        finish(q, st);
        free(ids);
        free(emails);
        return errf(err, "%s: claim: out of memory", q->path);
    }
    if (sqlite3_bind_int64(st, 1, now) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, QUEUE_MAX_BATCH) != SQLITE_OK) {
        rc = bind_fail(q, st, "claim", err);
        goto out;
    }
    /* Read first, then write: no update under a statement still stepping. */
    while ((rc = step(q, st, "claim", err)) == SQLITE_ROW && n < QUEUE_MAX_BATCH) {
        ids[n] = sqlite3_column_int64(st, 0);
        if (copy_own_text(st, 1, &emails[n]) == -1) {
            rc = errf(err, "%s: claim: out of memory", q->path);
            break;
        }
        n++;
    }
    finish(q, st);
    for (i = 0; rc != -1 && i < n; i++)
        if (emails[i] != NULL && store_ascii_email(q, ids[i], emails[i], err) == -1)
            rc = -1;
out:
    for (i = 0; i < n; i++)
        free(emails[i]);
    free(ids);
    free(emails);
    return rc == -1 ? -1 : 0;
}

/* Moves due signups to sending (or rejected) until max are claimed or none is due. */
static int claim_due(struct queue *q, const char *owner, int64_t now, int64_t lease_ms, int max,
                     int64_t *ids, int *nids, char *err)
{
    struct due *due = calloc((size_t)max, sizeof(*due));
    int n, i, rc = 0;

    if (due == NULL)
        return errf(err, "%s: claim: out of memory", q->path);
    *nids = 0;
    if (ascii_due_domains(q, now, err) == -1) {
        free(due);
        return -1;
    }
    /* Every round moves each selected signup out of the due set, so this ends. */
    while (rc == 0 && *nids < max) {
        n = select_due(q, now, max - *nids, due, err);
        if (n <= 0) {
            rc = n;
            break;
        }
        for (i = 0; i < n && rc == 0; i++) {
            int claimed = claim_one(q, &due[i], owner, now, lease_ms, err);

            if (claimed == -1)
                rc = -1;
            else if (claimed)
                ids[(*nids)++] = due[i].id;
        }
    }
    free(due);
    return rc;
}

/* Loads the claimed signups into v; on failure none stays loaded. */
static int load_claimed(struct queue *q, const int64_t *ids, int n, struct signup_record *v,
                        char *err)
{
    int i, rc;

    for (i = 0; i < n; i++) {
        rc = load_by_id(q, ids[i], &v[i], err);
        if (rc != 0) {
            if (rc == 1)
                errf(err, "%s: claim: signup %lld vanished", q->path, (long long)ids[i]);
            while (i-- > 0)
                signup_record_free(&v[i]);
            return -1;
        }
    }
    return 0;
}

int queue_claim(struct queue *q, const char *owner, int64_t now, int64_t lease_ms, int max,
                struct signup_record **out, size_t *n, char *err)
{
    struct signup_record *v = NULL;
    int64_t *ids = NULL;
    int nids = 0;

    *out = NULL;
    *n = 0;
    if (owner == NULL || *owner == '\0')
        return errf(err, "%s: claim: no owner", q->path);
    if (max <= 0)
        return 0;
    if (max > QUEUE_MAX_BATCH)
        max = QUEUE_MAX_BATCH;
    ids = calloc((size_t)max, sizeof(*ids));
    v = calloc((size_t)max, sizeof(*v));
    if (ids == NULL || v == NULL) {
        free(ids);
        free(v);
        return errf(err, "%s: claim: out of memory", q->path);
    }
    if (begin_write(q, "claim", err) == -1)
        goto fail;
    if (claim_due(q, owner, now, lease_ms, max, ids, &nids, err) == -1 ||
        load_claimed(q, ids, nids, v, err) == -1)
        goto fail;
    if (commit(q, "claim", err) == -1) {
        queue_claim_free(v, (size_t)nids);
        v = NULL;
        goto fail;
    }
    free(ids);
    if (nids == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = (size_t)nids;
    return 0;
fail:
    rollback(q);
    free(ids);
    free(v);
    return -1;
}

void queue_claim_free(struct signup_record *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        signup_record_free(&v[i]);
    free(v);
}

struct claim {
    int64_t id;
    int attempts;
    char *owner; /* NULL when the row has none */
    int has_until;
    int64_t until;
    int attempted; /* the attempt mark is set: its message may have gone out */
};

static void claims_free(struct claim *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i].owner);
    free(v);
}

/* Every signup in sending, read in full before any of them changes. */
static int select_claims(struct queue *q, struct claim **out, size_t *n, char *err)
{
    sqlite3_stmt *st = prepare(q,
                               "SELECT id, attempts, claimed_by, claim_until,"
                               " attempt_started_at IS NOT NULL FROM signups"
                               " WHERE state = 'sending' ORDER BY id",
                               "recover", err);
    struct claim *v = NULL, *grown;
    int rc;

    *n = 0;
    if (st == NULL)
        return -1;
    while ((rc = step(q, st, "recover", err)) == SQLITE_ROW) {
        grown = realloc(v, (*n + 1) * sizeof(*v));
        if (grown == NULL)
            break;
        v = grown;
        v[*n] = (struct claim){.id = sqlite3_column_int64(st, 0),
                               .attempts = sqlite3_column_int(st, 1),
                               .has_until = sqlite3_column_type(st, 3) != SQLITE_NULL,
                               .until = sqlite3_column_int64(st, 3),
                               .attempted = sqlite3_column_int(st, 4)};
        if (copy_own_text(st, 2, &v[*n].owner) == -1)
            break;
        (*n)++;
    }
    finish(q, st);
    if (rc == SQLITE_ROW)
        errf(err, "%s: recover: out of memory", q->path);
    if (rc != SQLITE_DONE) {
        claims_free(v, *n);
        *n = 0;
        return -1;
    }
    *out = v;
    return 0;
}

/* What an owner "host:pid:start" (or the older "host:pid") says about its process. */
enum owner_status {
    OWNER_ELSEWHERE, /* another host, or not an owner we can read: trust the lease */
    OWNER_ALIVE,     /* that very process still runs here */
    OWNER_GONE,      /* it ran here and is gone (its pid unused, or reused by another) */
};

static enum owner_status owner_status(const char *owner, const char *host)
{
    size_t hlen = host ? strlen(host) : 0;
    unsigned long long start = 0, now_start;
    const char *p;
    char *end;
    long pid;

    if (owner == NULL || host == NULL || strncmp(owner, host, hlen) != 0 || owner[hlen] != ':')
        return OWNER_ELSEWHERE;
    p = owner + hlen + 1;
    errno = 0;
    pid = strtol(p, &end, 10);
    if (errno || end == p || pid <= 0 || (long)(pid_t)pid != pid)
        return OWNER_ELSEWHERE;
    if (*end == ':') {
        p = end + 1;
        start = strtoull(p, &end, 10);
        if (errno || end == p)
            return OWNER_ELSEWHERE;
    }
    if (*end != '\0')
        return OWNER_ELSEWHERE;
    if (kill((pid_t)pid, 0) == -1 && errno == ESRCH)
        return OWNER_GONE;
    /* The pid may have been reused: the start time tells the owner from a newcomer. */
    if (start != 0 && process_start_time((pid_t)pid, &now_start) == 0 && now_start != start)
        return OWNER_GONE;
    return OWNER_ALIVE;
}

/* Why a claim may be taken back, into detail; 0 when it is still held. */
static int claim_abandoned(const struct claim *c, const char *host, int64_t now, char *detail,
                           size_t len)
{
    const char *owner = c->owner ? c->owner : "(nobody)";

    switch (owner_status(c->owner, host)) {
    case OWNER_ALIVE:
        return 0;
    case OWNER_GONE:
        snprintf(detail, len, "claiming process %s is gone", owner);
        return 1;
    case OWNER_ELSEWHERE:
        break;
    }
    if (c->has_until && c->until >= now)
        return 0;
    snprintf(detail, len, "claim by %s expired", owner);
    return 1;
}

/* 1 taken back, 0 still held, -1 error. */
static int recover_one(struct queue *q, const struct claim *c, const char *host, int64_t now,
                       enum uncertain_policy policy, char *err)
{
    struct transition t = {0};
    char detail[ERRLEN + 64], why[ERRLEN];
    enum signup_state to;
    int rc;

    if (!claim_abandoned(c, host, now, why, sizeof(why)))
        return 0;
    t.next_attempt_ms = TRANSITION_KEEP_DUE;
    if (!c->attempted) {
        /* Never attempted: queued again, else a retry; either way due now, in its old place. */
        snprintf(detail, sizeof(detail), "%s", why);
        to = c->attempts == 0 ? SIGNUP_QUEUED : SIGNUP_DEFERRED;
    } else if (policy == UNCERTAIN_HOLD) {
        snprintf(detail, sizeof(detail), "%.*s; " QUEUE_UNCERTAIN_REASON ", held", ERRLEN - 1, why);
        t.reason = QUEUE_UNCERTAIN_REASON;
        to = SIGNUP_HELD;
    } else {
        snprintf(detail, sizeof(detail), "%.*s; " QUEUE_UNCERTAIN_REASON ", sent again", ERRLEN - 1,
                 why);
        t.reason = QUEUE_UNCERTAIN_REASON "; sent again";
        t.count_attempt = 1;
        to = SIGNUP_DEFERRED;
    }
    t.detail = detail;
    rc = apply_transition(q, c->id, SIGNUP_SENDING, to, &t, now, err);
    return rc == -1 ? -1 : rc == 0;
}

int queue_recover(struct queue *q, const char *host, int64_t now, enum uncertain_policy policy,
                  int *n, char *err)
{
    struct claim *claims = NULL;
    size_t nclaims = 0, i;
    int rc = 0;

    *n = 0;
    if (begin_write(q, "recover", err) == -1)
        return -1;
    if (select_claims(q, &claims, &nclaims, err) == -1) {
        rollback(q);
        return -1;
    }
    for (i = 0; i < nclaims && rc != -1; i++) {
        rc = recover_one(q, &claims[i], host, now, policy, err);
        if (rc == 1)
            (*n)++;
    }
    claims_free(claims, nclaims);
    if (rc == -1 || commit(q, "recover", err) == -1) {
        rollback(q);
        *n = 0;
        return -1;
    }
    return 0;
}

/* Something to claim, or a claim that might be abandoned: both use the indexes. */
#define HAS_WORK_SQL                                                                               \
    "SELECT EXISTS (SELECT 1 FROM signups WHERE state IN ('queued', 'deferred')"                   \
    " AND next_attempt_at <= ?1) OR EXISTS (SELECT 1 FROM signups WHERE state = 'sending')"

int queue_has_work(struct queue *q, int64_t now, char *err)
{
    sqlite3_stmt *st = prepare(q, HAS_WORK_SQL, "look for work", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, now) != SQLITE_OK)
        return bind_fail(q, st, "look for work", err);
    rc = step(q, st, "look for work", err);
    if (rc == SQLITE_ROW)
        rc = sqlite3_column_int(st, 0) != 0;
    else if (rc != -1)
        rc = errf(err, "%s: look for work: no answer", q->path);
    finish(q, st);
    return rc;
}

#define MARK_ATTEMPT_SQL                                                                           \
    "UPDATE signups SET attempt_started_at = ?3"                                                   \
    " WHERE id = ?1 AND state = 'sending' AND claimed_by = ?2"

int queue_mark_attempt(struct queue *q, int64_t id, const char *owner, int64_t now, char *err)
{
    sqlite3_stmt *st = prepare(q, MARK_ATTEMPT_SQL, "mark attempt", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK || bind_text(st, 2, owner) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, now) != SQLITE_OK)
        return bind_fail(q, st, "mark attempt", err);
    /* One statement outside a transaction is its own transaction: committed when it returns. */
    rc = step(q, st, "mark attempt", err);
    finish(q, st);
    if (rc == -1)
        return -1;
    return sqlite3_changes(q->db) == 1 ? 0 : 1;
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
    ", ?2, '" ADDRESS_PLACEHOLDER                                                                  \
    "'), " EMAIL_KEY_SQL("?2") ", '" ADDRESS_PLACEHOLDER "'), lower(?2), '" ADDRESS_PLACEHOLDER    \
                               "') END"

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
    " WHERE scrubbed_at IS NULL AND state IN " SETTLED_STATES_SQL                                  \
    " AND updated_at <= ?1 ORDER BY updated_at LIMIT ?2"

/*
 * Runs a scrub statement binding id ?1 and the address ?2, and for the
 * signup's row (with_row) its hash ?3 (NULL: none) and the time ?4.
 */
static int run_scrub(struct queue *q, const char *sql, int64_t id, const char *email, int with_row,
                     const char *hash, int64_t now, char *err)
{
    sqlite3_stmt *st = prepare(q, sql, "scrub", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK || bind_text(st, 2, email) != SQLITE_OK ||
        (with_row &&
         (bind_text(st, 3, hash) != SQLITE_OK || sqlite3_bind_int64(st, 4, now) != SQLITE_OK)))
        return bind_fail(q, st, "scrub", err);
    rc = step(q, st, "scrub", err);
    finish(q, st);
    return rc == -1 ? -1 : 0;
}

/*
 * Scrubs one settled signup inside the caller's transaction: the address
 * becomes its keyed hash, the rest of the personal data goes, the address
 * is cut out of reasons, replies and history, and the history tells when
 * and why.  The state does not change.
 */
static int scrub_one(struct queue *q, int64_t id, const char *email, enum signup_state state,
                     const char *why, int64_t now, char *err)
{
    char hex[SHA256_HEX_LEN];
    /* Text without an @ was never an address: there is no hash to keep. */
    int rc = email_hash_hex(q, email, hex);

    if (rc == -1)
        return errf(err, "%s: scrub: out of memory", q->path);
    if (run_scrub(q, SCRUB_EVENTS_SQL, id, email, 0, NULL, now, err) == -1 ||
        run_scrub(q, SCRUB_SIGNUP_SQL, id, email, 1, rc == 0 ? hex : NULL, now, err) == -1)
        return -1;
    if (record_event(q, id, 1, state, state, why, now, err) == -1)
        return -1;
    (void)buf_printf(&q->pending, "id=%lld scrubbed detail=", (long long)id);
    put_log_quoted(&q->pending, why);
    end_log_line(q);
    return 0;
}

struct scrub_row {
    int64_t id;
    char *email;
    enum signup_state state;
};

static void scrub_rows_free(struct scrub_row *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i].email);
}

/* Reads up to QUEUE_SCRUB_BATCH signups due for scrubbing; *n of them. */
static int select_scrub_due(struct queue *q, int64_t cutoff, struct scrub_row *v, size_t *n,
                            char *err)
{
    sqlite3_stmt *st = prepare(q, SCRUB_DUE_SQL, "scrub", err);
    int rc;

    *n = 0;
    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, cutoff) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, QUEUE_SCRUB_BATCH) != SQLITE_OK)
        return bind_fail(q, st, "scrub", err);
    while ((rc = step(q, st, "scrub", err)) == SQLITE_ROW && *n < QUEUE_SCRUB_BATCH) {
        const char *state = (const char *)sqlite3_column_text(st, 2);
        struct scrub_row *r = &v[*n];

        r->id = sqlite3_column_int64(st, 0);
        if (state == NULL || signup_state_parse(state, &r->state) == -1) {
            rc =
                errf(err, "%s: scrub: signup %lld has an unknown state", q->path, (long long)r->id);
            break;
        }
        /* A producer's email may be anything; as text it is what the key and hash see. */
        if (copy_own_text(st, 1, &r->email) == -1 ||
            (r->email == NULL && (r->email = strdup("")) == NULL)) {
            rc = errf(err, "%s: scrub: out of memory", q->path);
            break;
        }
        (*n)++;
    }
    finish(q, st);
    if (rc == -1) {
        scrub_rows_free(v, *n);
        *n = 0;
        return -1;
    }
    return 0;
}

/* One transaction of the sweep: returns how many were scrubbed, or -1. */
static int scrub_batch(struct queue *q, int64_t cutoff, const char *why, int64_t now, char *err)
{
    struct scrub_row rows[QUEUE_SCRUB_BATCH];
    size_t n = 0, i;
    int rc = 0;

    if (begin_write(q, "scrub", err) == -1)
        return -1;
    if (select_scrub_due(q, cutoff, rows, &n, err) == -1) {
        rollback(q);
        return -1;
    }
    for (i = 0; i < n && rc == 0; i++)
        rc = scrub_one(q, rows[i].id, rows[i].email, rows[i].state, why, now, err);
    scrub_rows_free(rows, n);
    if (rc == -1 || commit(q, "scrub", err) == -1) {
        rollback(q);
        return -1;
    }
    return (int)n;
}

int queue_scrub_expired(struct queue *q, int64_t now, int64_t retention_ms, int *n, char *err)
{
    char why[ERRLEN], age[64];
    int batch;

    *n = 0;
    if (retention_ms <= 0)
        return 0;
    if (q->last_scrub_ms != 0 && now >= q->last_scrub_ms &&
        now - q->last_scrub_ms < QUEUE_SCRUB_INTERVAL_MS)
        return 0;
    if (in_transaction(q))
        return errf(err, "%s: scrub: not inside a transaction", q->path);
    /* Set first: a sweep that fails (the lock is busy) is tried again next interval. */
    q->last_scrub_ms = now;
    format_duration_ms(retention_ms, age, sizeof(age));
    snprintf(why, sizeof(why), "personal data scrubbed: settled more than %s ago (queue.retention)",
             age);
    do {
        batch = scrub_batch(q, now - retention_ms, why, now, err);
        if (batch == -1)
            return -1;
        *n += batch;
    } while (batch == QUEUE_SCRUB_BATCH);
    if (*n > 0)
        log_notice("%s: scrubbed the personal data of %d signup%s settled more than %s ago",
                   q->path, *n, *n == 1 ? "" : "s", age);
    return 0;
}

struct purge_target {
    enum signup_state state;
    int64_t claim_until;
    int64_t scrubbed;
    char *email;
};

/* 0 loaded, 1 no such signup, -1 error. */
static int load_purge_target(struct queue *q, int64_t id, struct purge_target *t, char *err)
{
    sqlite3_stmt *st =
        prepare(q, "SELECT state, claim_until, scrubbed_at, email FROM signups WHERE id = ?1",
                "purge", err);
    const char *state;
    int rc;

    *t = (struct purge_target){0};
    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return bind_fail(q, st, "purge", err);
    rc = step(q, st, "purge", err);
    if (rc == SQLITE_ROW) {
        state = (const char *)sqlite3_column_text(st, 0);
        t->claim_until = sqlite3_column_int64(st, 1);
        t->scrubbed = sqlite3_column_int64(st, 2);
        if (state == NULL || signup_state_parse(state, &t->state) == -1)
            rc = errf(err, "%s: purge: signup %lld has an unknown state", q->path, (long long)id);
        else if (copy_own_text(st, 3, &t->email) == -1 ||
                 (t->email == NULL && (t->email = strdup("")) == NULL))
            rc = errf(err, "%s: purge: out of memory", q->path);
    }
    finish(q, st);
    if (rc == -1) {
        free(t->email);
        t->email = NULL;
        return -1;
    }
    return rc == SQLITE_ROW ? 0 : 1;
}

static int delete_signup(struct queue *q, int64_t id, char *err)
{
    sqlite3_stmt *st = prepare(q, "DELETE FROM signups WHERE id = ?1", "purge", err);
    int rc;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK)
        return bind_fail(q, st, "purge", err);
    rc = step(q, st, "purge", err);
    finish(q, st);
    if (rc == -1)
        return -1;
    /* The history goes by ON DELETE CASCADE. */
    log_purge(q, id);
    return 0;
}

/*
 * A signup being sent is left alone: its sender would record the outcome of
 * a delivery whose record is gone.  A claim whose lease ran out has no
 * sender any more, and must not keep personal data from being deleted.  A
 * sent signup keeps its proof of delivery, so that the address is not sent
 * a second report; any other never reached the subscriber and goes whole.
 */
static int purge_signup(struct queue *q, int64_t id, char *err)
{
    struct purge_target t;
    int64_t now = now_ms();
    int rc = load_purge_target(q, id, &t, err);

    if (rc != 0)
        return rc == 1 ? PURGE_NONE : -1;
    if (t.state == SIGNUP_SENDING && t.claim_until >= now) {
        errf(err, "%s: signup %lld is being sent", q->path, (long long)id);
        rc = PURGE_IN_FLIGHT;
    } else if (t.state == SIGNUP_SENT) {
        rc = t.scrubbed ? 0
                        : scrub_one(q, id, t.email, t.state,
                                    "personal data scrubbed: purged by operator", now, err);
        rc = rc == -1 ? -1 : PURGE_SCRUBBED;
    } else {
        rc = delete_signup(q, id, err) == -1 ? -1 : PURGE_DELETED;
    }
    free(t.email);
    return rc;
}

int queue_purge(struct queue *q, int64_t id, char *err)
{
    int rc;

    /* Inside a caller's transaction the purge commits or rolls back with it. */
    if (in_transaction(q))
        return purge_signup(q, id, err);
    if (begin_write(q, "purge", err) == -1)
        return -1;
    rc = purge_signup(q, id, err);
    if (rc == -1 || commit(q, "purge", err) == -1) {
        rollback(q);
        return -1;
    }
    return rc;
}
