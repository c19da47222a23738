/*
 * queue_sqlite.c - the SQLite backend's connection: opening the file (its
 * mode, WAL, a read-only file refused), transactions, and the cache of
 * prepared statements.  The schema is queue_sqlite_schema.c's; reads and
 * writes are in queue_sqlite_rows.c and queue_sqlite_work.c.
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

/*
 * Statements are prepared once per connection and kept: the daemon runs the
 * same few dozen statements for every message, and parsing them again each
 * time was a measurable share of its work.  Far more room than there are
 * statements in this backend.
 */
#define QUEUE_STMT_CACHE 96
/*
 * Write-ahead log pages at which the writer checkpoints itself, so that the
 * log starts over (see on_commit()); about 40 MiB on disk at most.
 */
#define QUEUE_SQLITE_CHECKPOINT_PAGES 10000
/*
 * Log pages between two pokes of the checkpoint thread: often enough that
 * the writer's own checkpoint finds little left, rarely enough that the
 * helper's fixed cost (two fdatasync calls) is spread over many commits.
 */
#define QUEUE_SQLITE_CHECKPOINT_STEP 1000
/* SQLite's page cache per connection, as PRAGMA cache_size takes it (negative: KiB). */
#define QUEUE_SQLITE_CACHE_KIB "-512"

struct cached_stmt {
    uint64_t hash;    /* of the SQL text, to skip most comparisons */
    const char *from; /* the text it was first asked for by: usually a literal, asked for again */
    char *sql;
    sqlite3_stmt *st;
    int busy; /* handed out and not finished: a nested use gets a statement of its own */
};

struct sq {
    sqlite3 *db;
    struct cached_stmt stmts[QUEUE_STMT_CACHE];
    int nstmts;
    /* A writer's checkpoint thread, started once the log first grows (NULL before). */
    struct sq_checkpointer *ckpt;
    int ckpt_failed; /* it could not start: the writer checkpoints alone */
    int poked_at;    /* the log's length in pages when the thread was last poked */
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

int sq_exec(struct queue *q, const char *sql, const char *what, char *err)
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
    c->from = sql;
    c->st = st;
    c->busy = 1;
    SQ(q)->nstmts++;
}

/* The cached statement for sql when it is free, found without hashing sql: NULL if none. */
static sqlite3_stmt *cached_by_address(struct queue *q, const char *sql)
{
    int i;

    for (i = 0; i < SQ(q)->nstmts; i++) {
        struct cached_stmt *c = &SQ(q)->stmts[i];

        /* The same address may hold other text by now (a freed buffer): compare too. */
        if (c->from == sql && !c->busy && strcmp(c->sql, sql) == 0) {
            c->busy = 1;
            return c->st;
        }
    }
    return NULL;
}

sqlite3_stmt *sq_prepare(struct queue *q, const char *sql, const char *what, char *err)
{
    sqlite3_stmt *st = cached_by_address(q, sql);
    uint64_t hash;
    int i, in_use = 0;

    if (st != NULL)
        return st;
    hash = sql_hash(sql);
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

int sq_in_transaction(struct queue *q)
{
    return !sqlite3_get_autocommit(SQ(q)->db);
}

/*
 * A write transaction takes the write lock from the start, so no lock
 * upgrade can deadlock with a producer; a read is a snapshot.
 */
int sq_begin(struct queue *q, int write, const char *what, char *err)
{
    return sq_exec(q, write ? "BEGIN IMMEDIATE" : "BEGIN", what, err);
}

int sq_commit(struct queue *q, const char *what, char *err)
{
    return sq_exec(q, "COMMIT", what, err);
}

void sq_rollback(struct queue *q)
{
    char err[ERRLEN];

    if (sq_in_transaction(q) && sq_exec(q, "ROLLBACK", "rollback", err) == -1)
        log_warnx("%s", err);
}

/* Runs a one-row statement and returns its first column as an integer. */
int sq_query_int(struct queue *q, const char *sql, const char *what, int64_t *out, char *err)
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

/*
 * SQLite calls this after each commit of the writer, with the log's length
 * in pages (see configure()).  It returns SQLITE_OK whatever happens: a
 * checkpoint that cannot run now runs at a later commit.
 */
static int on_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct queue *q = arg;
    struct sq *b = SQ(q);
    char err[ERRLEN];

    if (pages < b->poked_at) /* the log started over */
        b->poked_at = 0;
    if (pages >= QUEUE_SQLITE_CHECKPOINT_PAGES) {
        /* What the helper has not copied yet, then the log can start over. */
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    if (pages - b->poked_at < QUEUE_SQLITE_CHECKPOINT_STEP || b->ckpt_failed)
        return SQLITE_OK;
    if (b->ckpt == NULL && sq_checkpointer_start(q->name, &b->ckpt, err) == -1) {
        log_warnx("%s; the log is copied back in the committing thread", err);
        b->ckpt_failed = 1;
        return SQLITE_OK;
    }
    sq_checkpointer_poke(b->ckpt);
    b->poked_at = pages;
    return SQLITE_OK;
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
    /*
     * cache_size: the daemon's work touches the due index and a few rows at
     * a time, all in the OS page cache anyway; SQLite's default 2 MiB of
     * cache per connection would be an eighth of the daemon's memory.
     */
    /*
     * Checkpoints: SQLite's own (every 1000 log pages, in the committing
     * thread, each ending with two fdatasync() calls) are replaced by
     * on_commit(): a thread of its own does the copying and syncing as the
     * log grows, and the writer checkpoints itself only every
     * QUEUE_SQLITE_CHECKPOINT_PAGES, finding little left to do.
     */
    /* The pragma is a no-op inside a transaction: set it around migrate()'s. */
    if (sq_exec(q, "PRAGMA foreign_keys = OFF", "foreign keys", err) == -1 ||
        sq_exec(q, "PRAGMA synchronous = NORMAL", "synchronous", err) == -1 ||
        sq_exec(q, "PRAGMA secure_delete = ON", "secure delete", err) == -1 ||
        sq_exec(q, "PRAGMA cache_size = " QUEUE_SQLITE_CACHE_KIB, "cache size", err) == -1 ||
        sq_migrate(q, err) == -1)
        return -1;
    sqlite3_wal_hook(SQ(q)->db, on_commit, q);
    return sq_exec(q, "PRAGMA foreign_keys = ON", "foreign keys", err);
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

/*
 * SQLite counts every allocation under a global mutex for
 * sqlite3_memory_used(), which reportd never asks; each message makes a few
 * hundred.  SQLite takes the setting only before its first use.
 */
void queue_sqlite_global_init(void)
{
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
        log_debug("SQLite was already in use: its allocation counting stays on");
}

/*
 * NOMUTEX: a connection belongs to the one thread that opened it (the
 * checkpoint thread opens its own), so SQLite need not lock it around every
 * call it makes.
 */
static int open_db(struct queue *q, int flags, char *err)
{
    int rc = sqlite3_open_v2(q->name, &SQ(q)->db, flags | SQLITE_OPEN_NOMUTEX, NULL);

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

static void sq_close(struct queue *q)
{
    struct sq *b = SQ(q);

    if (b == NULL)
        return;
    sq_checkpointer_stop(b->ckpt);
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
    if (configure(q, err) == -1 || sq_load_hash_key(q, err) == -1)
        return QUEUE_OPEN_ERROR;
    return QUEUE_OPEN_OK;
}

static int open_reader(struct queue *q, const char *path, char *err)
{
    if (access(path, F_OK) == -1)
        return errf(err, "%s: cannot open: %s (the daemon creates it when it starts)", path,
                    strerror(errno));
    /* query_only: a statement that would write fails rather than wait for the lock. */
    if (open_db(q, SQLITE_OPEN_READONLY, err) == -1 || sq_check_schema_readonly(q, err) == -1 ||
        sq_exec(q, "PRAGMA query_only = 1", "query only", err) == -1 ||
        sq_load_hash_key(q, err) == -1)
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
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .in_transaction = sq_in_transaction,
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
