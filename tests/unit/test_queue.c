/* test_queue.c - the SQLite signup queue: schema, enqueue, loading, transitions, claims. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue_fixture.h"

#define OWNER    "testhost:1"
#define LEASE_MS ((int64_t)60000)
#define HOUR_MS  ((int64_t)3600000)
/* The schema version queue.c migrates to; changing it here is a conscious act. */
#define SCHEMA_VERSION 7

static int setup(void **state)
{
    return fixture_setup(state, "test_queue");
}

static int teardown(void **state)
{
    return fixture_teardown(state);
}

/* --- helpers ------------------------------------------------------------ */

static void raw_text(struct fixture *f, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st;

    assert_int_equal(sqlite3_prepare_v2(f->raw, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* A producer's own INSERT; returns the new id. */
static int64_t raw_insert(struct fixture *f, const char *sql)
{
    raw_exec(f, sql);
    return sqlite3_last_insert_rowid(f->raw);
}

/* Puts a signup in a state behind reportd's back, to test transitions from it. */
static void force_state(struct fixture *f, int64_t id, enum signup_state st)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "UPDATE signups SET state = '%s' WHERE id = %lld",
             signup_state_name(st), (long long)id);
    raw_exec(f, sql);
}

static int64_t count_events(struct fixture *f, int64_t id)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM signup_events WHERE signup_id = %lld",
             (long long)id);
    return raw_int(f, sql);
}

static void make_signup(struct signup *s, const char *email)
{
    signup_init(s);
    s->email = strdup(email);
    s->role = strdup("backend-developer");
    s->level = strdup("senior");
    assert_non_null(s->email);
    assert_non_null(s->role);
    assert_non_null(s->level);
}

static int64_t enqueue_one(struct fixture *f, const char *email, enum enqueue_result want)
{
    struct signup s;
    enum enqueue_result res;
    char err[ERRLEN];
    int64_t id = 0;

    make_signup(&s, email);
    if (queue_enqueue(f->q, &s, 1, &id, &res, err) != 0)
        fail_msg("enqueue: %s", err);
    assert_int_equal(res, want);
    signup_free(&s);
    return id;
}

static enum signup_state state_of(struct fixture *f, int64_t id)
{
    struct signup_record r;
    char err[ERRLEN];
    enum signup_state st;

    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    st = r.state;
    signup_record_free(&r);
    return st;
}

static void transition_ok(struct fixture *f, int64_t id, enum signup_state from,
                          enum signup_state to, const struct transition *t)
{
    char err[ERRLEN];
    int rc = queue_transition(f->q, id, from, to, t, err);

    if (rc != 0)
        fail_msg("transition %lld %s -> %s: rc %d %s", (long long)id, signup_state_name(from),
                 signup_state_name(to), rc, rc == -1 ? err : "");
}

/* Claims and frees; returns how many, ids in *ids. */
static size_t claim_ids(struct fixture *f, const char *owner, int64_t now, int max, int64_t *ids)
{
    struct signup_record *v;
    size_t n, i;
    char err[ERRLEN];

    if (queue_claim(f->q, owner, now, LEASE_MS, max, &v, &n, err) != 0)
        fail_msg("claim: %s", err);
    for (i = 0; i < n; i++)
        ids[i] = v[i].signup.id;
    queue_claim_free(v, n);
    return n;
}

/* Where this process's stderr (and so every log line) went before a capture. */
struct capture {
    int saved;
    char path[160];
};

static void capture_start(struct fixture *f, struct capture *c)
{
    int fd;

    snprintf(c->path, sizeof(c->path), "%s/log", f->dir);
    fflush(stderr);
    fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
}

/* Puts stderr back; out gets what was logged meanwhile. */
static void capture_end(struct capture *c, char *out, size_t outlen)
{
    FILE *fp;
    size_t n;

    fflush(stderr);
    assert_int_equal(dup2(c->saved, STDERR_FILENO), STDERR_FILENO);
    close(c->saved);
    fp = fopen(c->path, "r");
    assert_non_null(fp);
    n = fread(out, 1, outlen - 1, fp);
    out[n] = '\0';
    fclose(fp);
    unlink(c->path);
}

static size_t count_substr(const char *s, const char *sub)
{
    size_t n = 0;

    for (; (s = strstr(s, sub)) != NULL; s += strlen(sub))
        n++;
    return n;
}

/*
 * From now on every commit that changed a signup fails: each change leaves a
 * row that breaks a deferred foreign key, which SQLite checks at COMMIT.
 */
static void poison_commits(struct fixture *f)
{
    raw_exec(f, "CREATE TABLE poison_target (id INTEGER PRIMARY KEY);"
                "CREATE TABLE poison (ref INTEGER REFERENCES poison_target (id)"
                " DEFERRABLE INITIALLY DEFERRED);"
                "CREATE TRIGGER poison_update AFTER UPDATE ON signups BEGIN"
                " INSERT INTO poison VALUES (1); END;"
                "CREATE TRIGGER poison_delete AFTER DELETE ON signups BEGIN"
                " INSERT INTO poison VALUES (1); END;");
}

/* --- opening ------------------------------------------------------------ */

static void test_open_creates_schema(void **state)
{
    struct fixture *f = *state;
    char mode[16];

    assert_int_equal(raw_int(f, "PRAGMA user_version"), SCHEMA_VERSION);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM pragma_table_info('signups') WHERE name IN"
                                " ('requeued_at', 'attempt_started_at', 'email_hash',"
                                " 'scrubbed_at')"),
                     4);
    raw_text(f, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_master WHERE name IN"
                                " ('signups', 'signup_events', 'signups_due',"
                                " 'signups_email_key', 'signups_created', 'signups_email_hash',"
                                " 'signups_unscrubbed', 'reportd_secrets',"
                                " 'signups_producer_columns', 'signup_status',"
                                " 'signups_unicode_due')"),
                     11);
    /* One random key for the address hash, made with the schema. */
    assert_int_equal(raw_int(f, "SELECT count(*) FROM reportd_secrets"
                                " WHERE name = 'email_hash_key' AND length(value) = 32"),
                     1);
    assert_string_equal(queue_path(f->q), f->path);
}

static void test_open_sets_group_writable_mode(void **state)
{
    struct fixture *f = *state;
    struct queue *q;
    struct stat sb;
    char path[160], err[ERRLEN];
    mode_t old = umask(0007);

    snprintf(path, sizeof(path), "%s/other.db", f->dir);
    assert_int_equal(queue_open(&q, path, err), 0);
    umask(old);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0660);
    queue_close(q);
    unlink(path);
    snprintf(path, sizeof(path), "%s/other.db-wal", f->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/other.db-shm", f->dir);
    unlink(path);
}

static void test_reopen_is_idempotent(void **state)
{
    struct fixture *f = *state;
    struct signup_record r;
    char err[ERRLEN];
    int64_t id = enqueue_one(f, "ada@example.com", ENQUEUE_ADDED);

    queue_close(f->q);
    assert_int_equal(queue_open(&f->q, f->path, err), 0);
    queue_close(f->q);
    assert_int_equal(queue_open(&f->q, f->path, err), 0);
    assert_int_equal(raw_int(f, "PRAGMA user_version"), SCHEMA_VERSION);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signups"), 1);
    /* Reopening never makes a second key: hashes made before stay comparable. */
    assert_int_equal(raw_int(f, "SELECT count(*) FROM reportd_secrets"), 1);
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_string_equal(r.signup.email, "ada@example.com");
    signup_record_free(&r);
}

static void test_open_refuses_newer_schema(void **state)
{
    struct fixture *f = *state;
    struct queue *q = NULL;
    char err[ERRLEN];

    raw_exec(f, "PRAGMA user_version = 8");
    assert_int_equal(queue_open(&q, f->path, err), -1);
    assert_null(q);
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, "schema version 8 is newer"));
}

/* A reader refuses a schema it does not know, newer or older, and leaves it as it was. */
static void test_read_only_open_refuses_other_schemas(void **state)
{
    struct fixture *f = *state;
    struct queue *q = NULL;
    char err[ERRLEN], want[ERRLEN], sql[64];

    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION + 1);
    raw_exec(f, sql);
    assert_int_equal(queue_open_readonly(&q, f->path, err), -1);
    assert_null(q);
    snprintf(want, sizeof(want), "%s: schema version %d is newer than this reportd knows (%d)",
             f->path, SCHEMA_VERSION + 1, SCHEMA_VERSION);
    assert_string_equal(err, want);

    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION - 1);
    raw_exec(f, sql);
    assert_int_equal(queue_open_readonly(&q, f->path, err), -1);
    assert_null(q);
    snprintf(want, sizeof(want), "%s: schema version %d is older than this reportd's (%d)", f->path,
             SCHEMA_VERSION - 1, SCHEMA_VERSION);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    assert_int_equal(raw_int(f, "PRAGMA user_version"), SCHEMA_VERSION - 1);

    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
    raw_exec(f, sql);
    assert_int_equal(queue_open_readonly(&q, f->path, err), 0);
    queue_close(q);
}

/* Schema version 1 as reportd created it, written out here independently of queue.c. */
static const char v1_schema[] =
    "CREATE TABLE signups (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT,"
    " role TEXT NOT NULL, level TEXT NOT NULL, tasks TEXT NOT NULL DEFAULT '[]',"
    " skills TEXT NOT NULL DEFAULT '[]', years REAL,"
    " created_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000"
    " AS INTEGER)),"
    " state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'deferred',"
    " 'held', 'sent', 'failed', 'rejected')),"
    " attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0,"
    " updated_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000"
    " AS INTEGER)),"
    " sent_at INTEGER, message_id TEXT, last_reply TEXT, reason TEXT, claimed_by TEXT,"
    " claim_until INTEGER);"
    "CREATE INDEX signups_due ON signups (state, next_attempt_at);"
    "CREATE INDEX signups_email_key ON signups ((substr(email, 1, instr(email, '@'))"
    " || lower(substr(email, instr(email, '@') + 1))));"
    "CREATE TABLE signup_events (id INTEGER PRIMARY KEY,"
    " signup_id INTEGER NOT NULL REFERENCES signups (id) ON DELETE CASCADE,"
    " at INTEGER NOT NULL, from_state TEXT, to_state TEXT NOT NULL, detail TEXT);"
    "CREATE INDEX signup_events_signup ON signup_events (signup_id, at);"
    "CREATE TRIGGER signups_created AFTER INSERT ON signups BEGIN"
    " INSERT INTO signup_events (signup_id, at, from_state, to_state, detail)"
    " VALUES (new.id, 1, NULL, new.state, 'created'); END;"
    "INSERT INTO signups (email, role, level, state) VALUES"
    " ('old@example.com', 'backend-developer', 'senior', 'failed');"
    "PRAGMA user_version = 1;";

static void test_open_migrates_version_1(void **state)
{
    struct fixture *f = *state;
    struct queue *q;
    struct signup_record r;
    sqlite3 *db;
    char path[160], err[ERRLEN];
    int64_t before = now_ms();

    snprintf(path, sizeof(path), "%s/v1.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    if (queue_open(&q, path, err) != 0)
        fail_msg("open v1: %s", err);
    assert_int_equal(queue_get(q, 1, &r, err), 0);
    assert_string_equal(r.signup.email, "old@example.com");
    assert_int_equal(r.requeued_ms, 0);
    signup_record_free(&r);
    assert_int_equal(queue_transition(q, 1, SIGNUP_FAILED, SIGNUP_QUEUED, NULL, err), 0);
    assert_int_equal(queue_get(q, 1, &r, err), 0);
    assert_in_range(r.requeued_ms, before, now_ms());
    signup_record_free(&r);
    queue_close(q);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(db_int(db, "PRAGMA user_version"), SCHEMA_VERSION);
    assert_int_equal(
        db_int(db, "SELECT count(*) FROM pragma_table_info('signups') WHERE name = 'requeued_at'"),
        1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM reportd_secrets"), 1);
    /* A producer's INSERT of version 1 still works and leaves the new column NULL. */
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO signups (email, role, level)"
                                  " VALUES ('new@example.com', 'r', 'l')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(db_int(db, "SELECT requeued_at IS NULL FROM signups WHERE id = 2"), 1);
    /* Schema 7 rewrote the state check in place: still enforced, and no IN list left. */
    assert_int_equal(db_int(db, "SELECT instr(sql, ' IN (') FROM sqlite_schema"
                                " WHERE name = 'signups'"),
                     0);
    assert_int_not_equal(
        sqlite3_exec(db, "UPDATE signups SET state = 'lost' WHERE id = 2", NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(db_int(db, "SELECT count(*) FROM pragma_integrity_check"
                                " WHERE integrity_check = 'ok'"),
                     1);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    unlink_db(path);
}

/*
 * A new queue's state checks (signups and their history) are the = and OR
 * chains of schema 7: they refuse what the IN lists refused, and every
 * state the state machine has is accepted.
 */
static void test_state_checks_refuse_unknown_states(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {
        "UPDATE signups SET state = 'lost'",
        "UPDATE signups SET state = 'SENT'",
        ("INSERT INTO signup_events (signup_id, at, from_state, to_state) VALUES (1, 1, 'x', "
         "'sent')"),
        "INSERT INTO signup_events (signup_id, at, from_state, to_state) VALUES (1, 1, NULL, 'y')",
    };
    struct signup s;
    enum enqueue_result res;
    char err[ERRLEN], sql[160];
    int64_t id;
    size_t i;
    int st;

    make_signup(&s, "checks@example.com");
    assert_int_equal(queue_enqueue(f->q, &s, 1, &id, &res, err), 0);
    signup_free(&s);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_schema WHERE instr(sql, ' IN (') > 0"
                                " AND name IN ('signups', 'signup_events')"),
                     0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(sqlite3_exec(f->raw, bad[i], NULL, NULL, NULL), SQLITE_OK);
    for (st = 0; st < SIGNUP_NSTATES; st++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO signup_events (signup_id, at, from_state, to_state)"
                 " VALUES (%lld, 1, '%s', '%s')",
                 (long long)id, signup_state_name((enum signup_state)st),
                 signup_state_name((enum signup_state)st));
        raw_exec(f, sql);
    }
}

static void test_open_error_names_path(void **state)
{
    struct queue *q = NULL;
    char err[ERRLEN];
    const char *path = "/nonexistent-reportd-dir/queue.db";

    assert_int_equal(queue_open(&q, path, err), -1);
    assert_null(q);
    assert_non_null(strstr(err, path));
}

/* --- enqueue and load --------------------------------------------------- */

static void test_enqueue_get_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct signup s;
    struct signup_record r;
    enum enqueue_result res;
    char err[ERRLEN], json[256];
    int64_t id, before = now_ms(), after;

    make_signup(&s, "Ada.Lovelace@Example.org");
    assert_int_equal(signup_add_task(&s, "api-design", 40, 1), 0);
    assert_int_equal(signup_add_task(&s, "debugging", 0, 0), 0);
    assert_int_equal(signup_add_task(&s, "code-review", 12.5, 1), 0);
    assert_int_equal(signup_add_skill(&s, "sql"), 0);
    assert_int_equal(signup_add_skill(&s, "testing"), 0);
    s.years = 7.5;
    s.has_years = 1;
    assert_int_equal(queue_enqueue(f->q, &s, 1, &id, &res, err), 0);
    after = now_ms();
    assert_int_equal(res, ENQUEUE_ADDED);
    signup_free(&s);

    raw_text(f, "SELECT tasks FROM signups", json, sizeof(json));
    assert_string_equal(json, "[{\"id\":\"api-design\",\"share\":40},\"debugging\","
                              "{\"id\":\"code-review\",\"share\":12.5}]");

    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_null(r.load_error);
    assert_int_equal(r.signup.id, id);
    assert_string_equal(r.signup.email, "Ada.Lovelace@Example.org");
    assert_null(r.signup.name);
    assert_string_equal(r.signup.role, "backend-developer");
    assert_string_equal(r.signup.level, "senior");
    assert_int_equal(r.signup.ntasks, 3);
    assert_string_equal(r.signup.tasks[0].id, "api-design");
    assert_true(r.signup.tasks[0].has_share);
    assert_true(r.signup.tasks[0].share == 40);
    assert_string_equal(r.signup.tasks[1].id, "debugging");
    assert_false(r.signup.tasks[1].has_share);
    assert_true(r.signup.tasks[2].share == 12.5);
    assert_int_equal(r.signup.nskills, 2);
    assert_string_equal(r.signup.skills[1], "testing");
    assert_true(r.signup.has_years);
    assert_true(r.signup.years == 7.5);
    assert_in_range(r.signup.created_ms, before, after);
    assert_int_equal(r.state, SIGNUP_QUEUED);
    assert_int_equal(r.attempts, 0);
    assert_null(r.claimed_by);
    assert_null(r.message_id);
    signup_record_free(&r);

    /* A name, no years, no tasks or skills. */
    make_signup(&s, "grace@example.org");
    s.name = strdup("Grace \"Amazing\" Hopper");
    s.created_ms = 1234;
    assert_int_equal(queue_enqueue(f->q, &s, 1, &id, &res, err), 0);
    signup_free(&s);
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_string_equal(r.signup.name, "Grace \"Amazing\" Hopper");
    assert_false(r.signup.has_years);
    assert_int_equal(r.signup.ntasks, 0);
    assert_int_equal(r.signup.nskills, 0);
    assert_int_equal(r.signup.created_ms, 1234);
    signup_record_free(&r);

    assert_int_equal(queue_get(f->q, id + 100, &r, err), 1);
}

static void test_enqueue_duplicates(void **state)
{
    struct fixture *f = *state;
    int64_t first = enqueue_one(f, "Ada@Example.com", ENQUEUE_ADDED), id;

    /* The domain's case does not make a new address; the local part's does. */
    assert_int_equal(enqueue_one(f, "Ada@EXAMPLE.COM", ENQUEUE_DUPLICATE), first);
    assert_true(enqueue_one(f, "ada@example.com", ENQUEUE_ADDED) != first);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signups"), 2);

    /* Rejected and failed signups do not block a new one. */
    transition_ok(f, first, SIGNUP_QUEUED, SIGNUP_REJECTED, NULL);
    id = enqueue_one(f, "Ada@example.com", ENQUEUE_ADDED);
    transition_ok(f, id, SIGNUP_QUEUED, SIGNUP_FAILED, NULL);
    id = enqueue_one(f, "Ada@example.com", ENQUEUE_ADDED);
    /* Held does. */
    transition_ok(f, id, SIGNUP_QUEUED, SIGNUP_HELD, NULL);
    assert_int_equal(enqueue_one(f, "Ada@example.com", ENQUEUE_DUPLICATE), id);
}

static void test_enqueue_batch_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    struct signup s[3];
    enum enqueue_result res[3];
    int64_t ids[3];
    struct capture cap = {-1, ""};
    char err[ERRLEN], log[1024], want[128];
    size_t i;
    int rc;

    make_signup(&s[0], "one@example.com");
    make_signup(&s[1], "two@example.com");
    free(s[1].role);
    s[1].role = NULL;
    capture_start(f, &cap);
    rc = queue_enqueue(f->q, s, 2, ids, res, err);
    capture_end(&cap, log, sizeof(log));
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, f->path));
    /* The first one was inserted, then rolled back: the log must not tell of it. */
    assert_null(strstr(log, "state=queued"));
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signups"), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signup_events"), 0);
    signup_free(&s[0]);
    signup_free(&s[1]);

    /* A duplicate inside the batch points at the earlier one. */
    make_signup(&s[0], "one@example.com");
    make_signup(&s[1], "one@EXAMPLE.com");
    make_signup(&s[2], "two@example.com");
    assert_int_equal(queue_enqueue(f->q, s, 3, ids, res, err), 0);
    assert_int_equal(res[0], ENQUEUE_ADDED);
    assert_int_equal(res[1], ENQUEUE_DUPLICATE);
    assert_int_equal(ids[1], ids[0]);
    assert_int_equal(res[2], ENQUEUE_ADDED);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signups"), 2);
    for (i = 0; i < 3; i++)
        signup_free(&s[i]);

    /* A committed one is logged. */
    make_signup(&s[0], "three@example.com");
    capture_start(f, &cap);
    rc = queue_enqueue(f->q, s, 1, ids, res, err);
    capture_end(&cap, log, sizeof(log));
    signup_free(&s[0]);
    assert_int_equal(rc, 0);
    snprintf(want, sizeof(want), "id=%lld state=queued prev=none detail=\"enqueued\"\n",
             (long long)ids[0]);
    assert_non_null(strstr(log, want));
}

/* enqueue --file: batches in one transaction, seen by no one until the commit. */
static void test_enqueue_batches_in_one_transaction(void **state)
{
    struct fixture *f = *state;
    struct signup s[2];
    enum enqueue_result res[2];
    int64_t ids[2], first;
    struct capture cap = {-1, ""};
    char err[ERRLEN], log[1024];
    size_t i;

    /* Rolled back after two batches: nothing of either is left. */
    assert_int_equal(queue_enqueue_begin(f->q, err), 0);
    for (i = 0; i < 2; i++) {
        make_signup(&s[0], i == 0 ? "a@example.com" : "b@example.com");
        assert_int_equal(queue_enqueue(f->q, s, 1, ids, res, err), 0);
        assert_int_equal(res[0], ENQUEUE_ADDED);
        signup_free(&s[0]);
    }
    queue_enqueue_rollback(f->q);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signups"), 0);

    /* Committed: a duplicate of an earlier batch is found; no line per signup is logged. */
    capture_start(f, &cap);
    assert_int_equal(queue_enqueue_begin(f->q, err), 0);
    make_signup(&s[0], "a@example.com");
    make_signup(&s[1], "b@example.com");
    assert_int_equal(queue_enqueue(f->q, s, 2, ids, res, err), 0);
    first = ids[0];
    signup_free(&s[0]);
    signup_free(&s[1]);
    make_signup(&s[0], "a@EXAMPLE.COM");
    assert_int_equal(queue_enqueue(f->q, s, 1, ids, res, err), 0);
    signup_free(&s[0]);
    assert_int_equal(res[0], ENQUEUE_DUPLICATE);
    assert_int_equal(ids[0], first);
    assert_int_equal(queue_enqueue_commit(f->q, err), 0);
    capture_end(&cap, log, sizeof(log));
    assert_null(strstr(log, "state=queued"));
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signups"), 2);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signup_events"), 2);
}

static int collect_event(void *arg, const struct queue_event *ev)
{
    struct queue_event *v = arg;
    size_t i;

    for (i = 0; v[i].at_ms != 0; i++)
        ;
    v[i] = *ev;
    v[i].detail = NULL; /* only valid during the callback */
    return 0;
}

static void test_producer_minimal_insert(void **state)
{
    struct fixture *f = *state;
    struct signup_record r;
    struct queue_event ev[4] = {{0}};
    char err[ERRLEN];
    int64_t before = now_ms();
    int64_t id = raw_insert(f, "INSERT INTO signups (email, role, level)"
                               " VALUES ('p@example.com', 'backend-developer', 'junior')");

    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_null(r.load_error);
    assert_string_equal(r.signup.email, "p@example.com");
    assert_null(r.signup.name);
    assert_int_equal(r.signup.ntasks, 0);
    assert_int_equal(r.signup.nskills, 0);
    assert_false(r.signup.has_years);
    assert_int_equal(r.state, SIGNUP_QUEUED);
    assert_int_equal(r.attempts, 0);
    assert_int_equal(r.next_attempt_ms, 0);
    assert_in_range(r.signup.created_ms, before - 1000, now_ms() + 1000);
    signup_record_free(&r);

    /* The creation is in the history, as for reportd's own enqueue. */
    assert_int_equal(queue_history(f->q, id, collect_event, ev, err), 0);
    assert_false(ev[0].has_from);
    assert_int_equal(ev[0].to, SIGNUP_QUEUED);
    assert_int_equal(ev[1].at_ms, 0);

    /* Every optional column, numbers given as text, an empty name. */
    id = raw_insert(f, "INSERT INTO signups (email, name, role, level, tasks, skills, years)"
                       " VALUES ('q@example.com', '', 'backend-developer', 'senior',"
                       " '[\"api-design\", {\"id\": \"code-review\", \"share\": 40},"
                       " {\"id\": \"debugging\", \"share\": null}]', '[\"sql\"]', '12.5')");
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_null(r.load_error);
    assert_null(r.signup.name);
    assert_int_equal(r.signup.ntasks, 3);
    assert_false(r.signup.tasks[0].has_share);
    assert_string_equal(r.signup.tasks[1].id, "code-review");
    assert_true(r.signup.tasks[1].has_share);
    assert_true(r.signup.tasks[1].share == 40);
    assert_false(r.signup.tasks[2].has_share);
    assert_int_equal(r.signup.nskills, 1);
    assert_true(r.signup.has_years);
    assert_true(r.signup.years == 12.5);
    signup_record_free(&r);
}

static void test_producer_bad_rows_load_with_error(void **state)
{
    static const struct {
        const char *columns, *values, *want;
    } cases[] = {
        {"tasks", "'not json'", "tasks: not valid JSON"},
        {"tasks", "'{\"id\": \"x\"}'", "tasks: not a JSON array"},
        {"tasks", "X'5B5D'", "tasks: not text"},
        {"tasks", "'[1]'", "tasks[0]: not a task id or an {\"id\", \"share\"} object"},
        {"tasks", "'[\"a\", {\"id\": \"b\", \"share\": \"40\"}]'", "tasks[1].share: not a number"},
        {"tasks", "'[{\"share\": 40}]'", "tasks[0].id: missing"},
        {"tasks", "'[{\"id\": 5}]'", "tasks[0].id: not a string"},
        {"tasks", "'[{\"id\": \"a\", \"shares\": 40}]'", "tasks[0]: unknown key \"shares\""},
        {"tasks", "'[\"a\\u0000b\"]'", "tasks: contains a line break or control character"},
        {"tasks",
         "(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 129)"
         " SELECT json_group_array('t' || i) FROM c)",
         "tasks: more than 128 entries"},
        {"skills", "'[\"sql\", 2]'", "skills[1]: not a string"},
        {"skills", "'\"sql\"'", "skills: not a JSON array"},
        {"skills", "'[\"sql\\u0000x\"]'", "skills: contains a line break or control character"},
        {"years", "'many'", "years: not a number"},
        {"name", "X'00'", "name: not text"},
        {"email", "X'616263'", "email: not text"},
        {"email", "'a' || char(0) || 'b@example.com'",
         "email: contains a line break or control character"},
    };
    struct fixture *f = *state;
    struct signup_record r;
    char sql[512], err[ERRLEN];
    size_t i;

    for (i = 0; i < NELEM(cases); i++) {
        int has_email = strcmp(cases[i].columns, "email") == 0;
        int64_t id;

        snprintf(sql, sizeof(sql),
                 "INSERT INTO signups (%s, role, level%s) VALUES (%s, 'r', 'l'%s)",
                 cases[i].columns, has_email ? "" : ", email", cases[i].values,
                 has_email ? "" : ", 'x@example.com'");
        id = raw_insert(f, sql);
        if (queue_get(f->q, id, &r, err) != 0)
            fail_msg("case %zu: %s", i, err);
        if (r.load_error == NULL || strcmp(r.load_error, cases[i].want) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, r.load_error ? r.load_error : "",
                     cases[i].want);
        signup_record_free(&r);
    }
}

/* --- transitions -------------------------------------------------------- */

/* Whatever moves them, two signups for one address are never in flight or sent together. */
static void test_one_report_per_address_held_by_the_database(void **state)
{
    struct fixture *f = *state;
    int64_t a = raw_insert(f, "INSERT INTO signups (email, role, level) VALUES "
                              "('one@example.com', 'r', 'l')");
    int64_t b = raw_insert(f, "INSERT INTO signups (email, role, level) VALUES "
                              "('one@EXAMPLE.com', 'r', 'l')");
    int64_t c = raw_insert(f, "INSERT INTO signups (email, role, level) VALUES "
                              "('One@example.com', 'r', 'l')");
    char sql[128];

    force_state(f, a, SIGNUP_SENT);
    snprintf(sql, sizeof(sql), "UPDATE signups SET state = 'sending' WHERE id = %lld",
             (long long)b);
    assert_int_not_equal(sqlite3_exec(f->raw, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_errcode(f->raw) & 0xff, SQLITE_CONSTRAINT);
    /* The local part as given is another address: it may go. */
    force_state(f, c, SIGNUP_SENDING);
    /* Queued, held, failed and rejected ones are the claim's to decide: no constraint there. */
    force_state(f, b, SIGNUP_HELD);
}

static void test_transition_table(void **state)
{
    /* Written out independently of queue.c: [from][to]. */
    static const int allowed[SIGNUP_NSTATES][SIGNUP_NSTATES] = {
        /*                  queued sending deferred held sent failed rejected */
        [SIGNUP_QUEUED] = {0, 1, 0, 1, 0, 1, 1},   [SIGNUP_SENDING] = {1, 0, 1, 1, 1, 1, 1},
        [SIGNUP_DEFERRED] = {1, 1, 0, 1, 0, 1, 1}, [SIGNUP_HELD] = {1, 0, 0, 0, 0, 0, 0},
        [SIGNUP_SENT] = {0, 0, 0, 0, 0, 0, 0},     [SIGNUP_FAILED] = {1, 0, 0, 0, 0, 0, 0},
        [SIGNUP_REJECTED] = {0, 0, 0, 0, 0, 0, 0},
    };
    struct fixture *f = *state;
    struct transition t = {.claimed_by = OWNER, .claim_until_ms = 1};
    char err[ERRLEN], want[128];
    int64_t id = enqueue_one(f, "ada@example.com", ENQUEUE_ADDED);
    int from, to;

    for (from = 0; from < SIGNUP_NSTATES; from++) {
        for (to = 0; to < SIGNUP_NSTATES; to++) {
            int rc;

            force_state(f, id, (enum signup_state)from);
            rc =
                queue_transition(f->q, id, (enum signup_state)from, (enum signup_state)to, &t, err);
            if (allowed[from][to]) {
                if (rc != 0)
                    fail_msg("%s -> %s refused: %s", signup_state_name((enum signup_state)from),
                             signup_state_name((enum signup_state)to), err);
                assert_int_equal(state_of(f, id), to);
            } else {
                assert_int_equal(rc, -1);
                snprintf(want, sizeof(want), "transition %s -> %s is not allowed",
                         signup_state_name((enum signup_state)from),
                         signup_state_name((enum signup_state)to));
                if (strstr(err, want) == NULL)
                    fail_msg("error \"%s\" lacks \"%s\"", err, want);
                assert_int_equal(state_of(f, id), from);
            }
        }
    }
}

static void test_transition_compare_and_set(void **state)
{
    struct fixture *f = *state;
    char err[ERRLEN];
    int64_t id = enqueue_one(f, "ada@example.com", ENQUEUE_ADDED);
    int64_t events = count_events(f, id);

    /* Someone else moved it: the signup is not in the state the caller assumed. */
    assert_int_equal(queue_transition(f->q, id, SIGNUP_DEFERRED, SIGNUP_HELD, NULL, err), 1);
    assert_int_equal(state_of(f, id), SIGNUP_QUEUED);
    assert_int_equal(count_events(f, id), events);
    assert_int_equal(queue_transition(f->q, id + 1, SIGNUP_QUEUED, SIGNUP_HELD, NULL, err), 1);
    /* The first of two identical moves wins, the second is told. */
    assert_int_equal(queue_transition(f->q, id, SIGNUP_QUEUED, SIGNUP_HELD, NULL, err), 0);
    assert_int_equal(queue_transition(f->q, id, SIGNUP_QUEUED, SIGNUP_HELD, NULL, err), 1);
    assert_int_equal(count_events(f, id), events + 1);
    /* Claiming needs an owner. */
    force_state(f, id, SIGNUP_QUEUED);
    assert_int_equal(queue_transition(f->q, id, SIGNUP_QUEUED, SIGNUP_SENDING, NULL, err), -1);
    assert_non_null(strstr(err, "needs an owner"));
}

/* A batch: each change gets its own result, and they commit together. */
static void test_transitions_batch_results(void **state)
{
    struct fixture *f = *state;
    char err[ERRLEN];
    int64_t a = enqueue_one(f, "a@example.com", ENQUEUE_ADDED);
    int64_t b = enqueue_one(f, "b@example.com", ENQUEUE_ADDED);
    int64_t c = enqueue_one(f, "c@example.com", ENQUEUE_ADDED);
    struct queue_change v[] = {
        {.id = a, .from = SIGNUP_QUEUED, .to = SIGNUP_HELD},
        /* Not in deferred: told, and the others still change. */
        {.id = b, .from = SIGNUP_DEFERRED, .to = SIGNUP_HELD},
        {.id = c, .from = SIGNUP_QUEUED, .to = SIGNUP_FAILED},
    };
    int64_t events_b = count_events(f, b);

    assert_int_equal(queue_transitions(f->q, v, 3, err), 0);
    assert_int_equal(v[0].result, 0);
    assert_int_equal(v[1].result, 1);
    assert_int_equal(v[2].result, 0);
    assert_int_equal(state_of(f, a), SIGNUP_HELD);
    assert_int_equal(state_of(f, b), SIGNUP_QUEUED);
    assert_int_equal(state_of(f, c), SIGNUP_FAILED);
    assert_int_equal(count_events(f, b), events_b);
}

/* A batch with a change the state machine refuses changes nothing at all. */
static void test_transitions_batch_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    char err[ERRLEN];
    int64_t a = enqueue_one(f, "a@example.com", ENQUEUE_ADDED);
    int64_t b = enqueue_one(f, "b@example.com", ENQUEUE_ADDED);
    struct queue_change v[] = {
        {.id = a, .from = SIGNUP_QUEUED, .to = SIGNUP_HELD},
        {.id = b, .from = SIGNUP_QUEUED, .to = SIGNUP_SENT},
    };
    int64_t events_a = count_events(f, a);

    assert_int_equal(queue_transitions(f->q, v, 2, err), -1);
    assert_non_null(strstr(err, "transition queued -> sent is not allowed"));
    assert_int_equal(state_of(f, a), SIGNUP_QUEUED);
    assert_int_equal(count_events(f, a), events_a);
    /* Nothing was left open: the queue takes the next change. */
    assert_int_equal(queue_transition(f->q, a, SIGNUP_QUEUED, SIGNUP_HELD, NULL, err), 0);
}

static void test_transition_fields(void **state)
{
    struct fixture *f = *state;
    struct signup_record r;
    char err[ERRLEN];
    int64_t id = enqueue_one(f, "ada@example.com", ENQUEUE_ADDED), ids[4];
    int64_t now = now_ms(), later = now + HOUR_MS;
    struct transition defer = {.detail = "temporary failure",
                               .reason = "421 busy",
                               .reply = "421 4.3.2 try later",
                               .next_attempt_ms = later,
                               .count_attempt = 1};
    struct transition sent = {.detail = "delivered",
                              .reply = "250 2.0.0 ok",
                              .message_id = "<m1@example>",
                              .count_attempt = 1};

    assert_int_equal(claim_ids(f, OWNER, now, 10, ids), 1);
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_string_equal(r.claimed_by, OWNER);
    assert_int_equal(r.claim_until_ms, now + LEASE_MS);
    signup_record_free(&r);

    transition_ok(f, id, SIGNUP_SENDING, SIGNUP_DEFERRED, &defer);
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_DEFERRED);
    assert_int_equal(r.attempts, 1);
    assert_string_equal(r.reason, "421 busy");
    assert_string_equal(r.last_reply, "421 4.3.2 try later");
    assert_int_equal(r.next_attempt_ms, later);
    assert_null(r.claimed_by);
    assert_int_equal(r.claim_until_ms, 0);
    assert_int_equal(r.sent_ms, 0);
    signup_record_free(&r);

    assert_int_equal(claim_ids(f, "testhost:2", later, 10, ids), 1);
    transition_ok(f, id, SIGNUP_SENDING, SIGNUP_SENT, &sent);
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_SENT);
    assert_int_equal(r.attempts, 2);
    assert_string_equal(r.message_id, "<m1@example>");
    assert_string_equal(r.last_reply, "250 2.0.0 ok");
    assert_null(r.reason); /* a sent signup keeps no failure text */
    assert_true(r.sent_ms >= now);
    assert_true(r.updated_ms >= now);
    assert_null(r.claimed_by);
    signup_record_free(&r);
}

static void test_transition_into_queued_sets_due_time(void **state)
{
    struct fixture *f = *state;
    struct signup_record r;
    struct transition back = {.detail = "throttled"};
    char err[ERRLEN];
    int64_t id = enqueue_one(f, "ada@example.com", ENQUEUE_ADDED), got[2], now = now_ms(), before;

    /* Handed back unattempted, due in an hour: queued, but not claimed before then. */
    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 1);
    back.next_attempt_ms = now + HOUR_MS;
    transition_ok(f, id, SIGNUP_SENDING, SIGNUP_QUEUED, &back);
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_QUEUED);
    assert_int_equal(r.next_attempt_ms, now + HOUR_MS);
    signup_record_free(&r);
    assert_int_equal(claim_ids(f, OWNER, now + HOUR_MS - 1, 10, got), 0);
    assert_int_equal(claim_ids(f, OWNER, now + HOUR_MS, 10, got), 1);

    /* 0 means the time of the transition. */
    transition_ok(f, id, SIGNUP_SENDING, SIGNUP_QUEUED, NULL);
    transition_ok(f, id, SIGNUP_QUEUED, SIGNUP_HELD, NULL);
    before = now_ms();
    transition_ok(f, id, SIGNUP_HELD, SIGNUP_QUEUED, NULL);
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_in_range(r.next_attempt_ms, before, now_ms());
    signup_record_free(&r);
    assert_int_equal(claim_ids(f, OWNER, before - 1, 10, got), 0);
    assert_int_equal(claim_ids(f, OWNER, now_ms(), 10, got), 1);
}

static void test_hand_back_keeps_its_place_in_line(void **state)
{
    struct fixture *f = *state;
    struct transition back = {.detail = "handed back", .next_attempt_ms = TRANSITION_KEEP_DUE};
    struct signup_record r;
    char err[ERRLEN];
    int64_t first = enqueue_one(f, "ada@example.com", ENQUEUE_ADDED), got[2], newer;

    assert_int_equal(claim_ids(f, OWNER, now_ms(), 1, got), 1);
    assert_int_equal(got[0], first);
    /* A newer signup arrives while the first is out; the first comes back untried. */
    newer = enqueue_one(f, "bob@example.com", ENQUEUE_ADDED);
    transition_ok(f, first, SIGNUP_SENDING, SIGNUP_QUEUED, &back);
    assert_int_equal(queue_get(f->q, first, &r, err), 0);
    assert_int_equal(r.next_attempt_ms, 0);
    signup_record_free(&r);
    /* It is first in line again, ahead of the newer one. */
    assert_int_equal(claim_ids(f, OWNER, now_ms(), 1, got), 1);
    assert_int_equal(got[0], first);
    assert_true(newer > first);
}

static void test_transition_out_of_sending_checks_owner(void **state)
{
    struct fixture *f = *state;
    struct signup_record r;
    struct transition theirs = {.detail = "delivered", .owner = "otherhost:9"};
    struct transition mine = {.detail = "delivered", .owner = OWNER};
    struct transition hold = {.owner = "otherhost:9"};
    char err[ERRLEN];
    int64_t id = enqueue_one(f, "ada@example.com", ENQUEUE_ADDED), got[2], events;
    int64_t other = enqueue_one(f, "bob@example.com", ENQUEUE_ADDED);

    assert_int_equal(claim_ids(f, OWNER, now_ms(), 1, got), 1);
    events = count_events(f, id);
    /* Another daemon's claim: a lost race, nothing changes. */
    assert_int_equal(queue_transition(f->q, id, SIGNUP_SENDING, SIGNUP_SENT, &theirs, err), 1);
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_SENDING);
    assert_string_equal(r.claimed_by, OWNER);
    assert_int_equal(r.attempts, 0);
    signup_record_free(&r);
    assert_int_equal(count_events(f, id), events);
    /* The owner's own. */
    transition_ok(f, id, SIGNUP_SENDING, SIGNUP_SENT, &mine);
    assert_int_equal(state_of(f, id), SIGNUP_SENT);
    /* The owner only matters out of sending. */
    transition_ok(f, other, SIGNUP_QUEUED, SIGNUP_HELD, &hold);
}

static int note_requeued(void *arg, const struct signup_record *r)
{
    *(int64_t *)arg = r->requeued_ms;
    return 0;
}

static void test_transition_requeue_sets_requeued(void **state)
{
    struct fixture *f = *state;
    struct signup_record r, *v;
    size_t n;
    int64_t listed = 0;
    struct transition defer = {.count_attempt = 1};
    char err[ERRLEN];
    int64_t id = enqueue_one(f, "ada@example.com", ENQUEUE_ADDED), got[2], before;
    const enum signup_state parked[] = {SIGNUP_FAILED, SIGNUP_HELD, SIGNUP_DEFERRED};
    size_t i;

    /* Handed back by the daemon: not an operator's requeue. */
    assert_int_equal(claim_ids(f, OWNER, now_ms(), 1, got), 1);
    transition_ok(f, id, SIGNUP_SENDING, SIGNUP_QUEUED, NULL);
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_int_equal(r.requeued_ms, 0);
    signup_record_free(&r);

    for (i = 0; i < NELEM(parked); i++) {
        assert_int_equal(claim_ids(f, OWNER, now_ms(), 1, got), 1);
        transition_ok(f, id, SIGNUP_SENDING, SIGNUP_DEFERRED, &defer);
        if (parked[i] != SIGNUP_DEFERRED)
            transition_ok(f, id, SIGNUP_DEFERRED, parked[i], NULL);
        before = now_ms();
        transition_ok(f, id, parked[i], SIGNUP_QUEUED, NULL);
        assert_int_equal(queue_get(f->q, id, &r, err), 0);
        if (r.requeued_ms < before || r.requeued_ms > now_ms())
            fail_msg("%s -> queued: requeued_ms %lld", signup_state_name(parked[i]),
                     (long long)r.requeued_ms);
        signup_record_free(&r);
        raw_exec(f, "UPDATE signups SET requeued_at = NULL");
    }
    /* Lists and claims read it too. */
    raw_exec(f, "UPDATE signups SET requeued_at = 4242");
    assert_int_equal(queue_list(f->q, -1, note_requeued, &listed, err), 0);
    assert_int_equal(listed, 4242);
    assert_int_equal(queue_claim(f->q, OWNER, now_ms(), LEASE_MS, 1, &v, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].requeued_ms, 4242);
    queue_claim_free(v, n);
}

/* --- claiming ----------------------------------------------------------- */

static void test_claim_due_batch_and_lease(void **state)
{
    struct fixture *f = *state;
    struct signup_record *v;
    struct transition defer = {.next_attempt_ms = 0, .reason = "busy"};
    char err[ERRLEN], email[32];
    int64_t id[5], got[8], now = now_ms();
    size_t n, i;

    for (i = 0; i < 5; i++) {
        snprintf(email, sizeof(email), "user%zu@example.com", i);
        id[i] = enqueue_one(f, email, ENQUEUE_ADDED);
    }
    assert_int_equal(queue_claim(f->q, OWNER, now, LEASE_MS, 2, &v, &n, err), 0);
    assert_int_equal(n, 2);
    for (i = 0; i < 2; i++) {
        assert_int_equal(v[i].signup.id, id[i]);
        assert_int_equal(v[i].state, SIGNUP_SENDING);
        assert_string_equal(v[i].claimed_by, OWNER);
        assert_int_equal(v[i].claim_until_ms, now + LEASE_MS);
        assert_string_equal(v[i].signup.role, "backend-developer");
    }
    queue_claim_free(v, n);

    /* id[0] fails temporarily and is due in an hour. */
    defer.next_attempt_ms = now + HOUR_MS;
    transition_ok(f, id[0], SIGNUP_SENDING, SIGNUP_DEFERRED, &defer);
    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 3);
    assert_int_equal(got[0], id[2]);
    assert_int_equal(got[2], id[4]);
    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 0);
    assert_int_equal(claim_ids(f, OWNER, now + HOUR_MS - 1, 10, got), 0);
    assert_int_equal(claim_ids(f, OWNER, now + HOUR_MS, 10, got), 1);
    assert_int_equal(got[0], id[0]);

    /* Nothing asked, nothing taken; no owner is an error. */
    assert_int_equal(queue_claim(f->q, OWNER, now, LEASE_MS, 0, &v, &n, err), 0);
    assert_int_equal(n, 0);
    assert_null(v);
    assert_int_equal(queue_claim(f->q, NULL, now, LEASE_MS, 1, &v, &n, err), -1);
}

static int64_t insert_dup(struct fixture *f, const char *email)
{
    char sql[256];

    /* Producers inserting directly bypass enqueue's duplicate check. */
    snprintf(
        sql, sizeof(sql),
        "INSERT INTO signups (email, role, level) VALUES ('%s', 'backend-developer', 'senior')",
        email);
    return raw_insert(f, sql);
}

static void assert_waiting(struct fixture *f, int64_t id)
{
    struct signup_record r;
    char err[ERRLEN];

    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_QUEUED);
    assert_null(r.reason);
    signup_record_free(&r);
}

static void assert_duplicate_of(struct fixture *f, int64_t id, int64_t of)
{
    struct signup_record r;
    char err[ERRLEN], want[80];

    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_REJECTED);
    snprintf(want, sizeof(want), "duplicate: address already has signup %lld", (long long)of);
    assert_string_equal(r.reason, want);
    signup_record_free(&r);
}

static void test_claim_skips_later_signups_until_earlier_settles(void **state)
{
    struct fixture *f = *state;
    int64_t got[8], now = now_ms();
    int64_t a1 = insert_dup(f, "dup@example.com");
    int64_t a2 = insert_dup(f, "dup@EXAMPLE.com");
    int64_t b = insert_dup(f, "other@example.com");
    int64_t c = insert_dup(f, "Dup@example.com");
    int64_t a3 = insert_dup(f, "dup@Example.com");

    /* a2 and a3 wait behind a1, neither claimed nor rejected; the batch is filled past them. */
    assert_int_equal(claim_ids(f, OWNER, now, 2, got), 2);
    assert_int_equal(got[0], a1);
    assert_int_equal(got[1], b);
    assert_waiting(f, a2);
    assert_waiting(f, a3);
    /* The local part's case makes another address. */
    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 1);
    assert_int_equal(got[0], c);
    /* Still waiting while a1 is in flight. */
    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 0);
    assert_waiting(f, a2);

    /* Once a1 is sent, the later ones are duplicates of it. */
    transition_ok(f, a1, SIGNUP_SENDING, SIGNUP_SENT, NULL);
    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 0);
    assert_duplicate_of(f, a2, a1);
    assert_duplicate_of(f, a3, a1);
}

static void test_claim_takes_corrected_signup_after_rejected_one(void **state)
{
    struct fixture *f = *state;
    struct transition invalid = {.reason = "role: unknown"};
    int64_t got[4], now = now_ms();
    int64_t bad = insert_dup(f, "fix@example.com");
    int64_t good = insert_dup(f, "fix@example.com");

    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 1);
    assert_int_equal(got[0], bad);
    assert_waiting(f, good);
    /* The daemon rejects the invalid one; the corrected one goes next. */
    transition_ok(f, bad, SIGNUP_SENDING, SIGNUP_REJECTED, &invalid);
    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 1);
    assert_int_equal(got[0], good);
}

static void test_claim_duplicate_waits_for_held_and_deferred(void **state)
{
    struct fixture *f = *state;
    struct transition later = {.next_attempt_ms = 0, .count_attempt = 1};
    int64_t got[4], now = now_ms();
    int64_t held = insert_dup(f, "h@example.com");
    int64_t after_held = insert_dup(f, "h@example.com");
    int64_t deferred = insert_dup(f, "d@example.com");
    int64_t after_deferred = insert_dup(f, "d@example.com");

    transition_ok(f, held, SIGNUP_QUEUED, SIGNUP_HELD, NULL);
    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 1);
    assert_int_equal(got[0], deferred);
    later.next_attempt_ms = now + HOUR_MS;
    transition_ok(f, deferred, SIGNUP_SENDING, SIGNUP_DEFERRED, &later);
    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 0);
    assert_waiting(f, after_held);
    assert_waiting(f, after_deferred);
    /* A failed earlier one no longer blocks. */
    transition_ok(f, deferred, SIGNUP_DEFERRED, SIGNUP_FAILED, NULL);
    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 1);
    assert_int_equal(got[0], after_deferred);
}

static void test_claim_sent_duplicate_wins_over_waiting(void **state)
{
    struct fixture *f = *state;
    int64_t got[4], now = now_ms();
    int64_t sent = insert_dup(f, "s@example.com"), held, later;

    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 1);
    transition_ok(f, sent, SIGNUP_SENDING, SIGNUP_SENT, NULL);
    held = insert_dup(f, "s@example.com");
    transition_ok(f, held, SIGNUP_QUEUED, SIGNUP_HELD, NULL);
    later = insert_dup(f, "s@example.com");
    /* A signup already sent makes it a duplicate, though an earlier one is held. */
    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 0);
    assert_duplicate_of(f, later, sent);
    assert_int_equal(state_of(f, held), SIGNUP_HELD);
}

static void test_claim_fills_batch_past_waiting_signups(void **state)
{
    struct fixture *f = *state;
    char email[32];
    int64_t got[8], first = 0, id;
    int i;

    /* Six signups for one address first, then four for others. */
    for (i = 0; i < 6; i++) {
        id = insert_dup(f, "same@example.com");
        if (i == 0)
            first = id;
    }
    for (i = 0; i < 4; i++) {
        snprintf(email, sizeof(email), "u%d@example.com", i);
        insert_dup(f, email);
    }
    assert_int_equal(claim_ids(f, OWNER, now_ms(), 4, got), 4);
    assert_int_equal(got[0], first);
    assert_int_equal(got[1], first + 6);
    assert_int_equal(got[3], first + 8);
    assert_int_equal(claim_ids(f, OWNER, now_ms(), 8, got), 1);
    assert_int_equal(got[0], first + 9);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signups WHERE state = 'queued'"), 5);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signups WHERE state = 'rejected'"), 0);
}

static void test_claim_returns_bad_rows_with_load_error(void **state)
{
    struct fixture *f = *state;
    struct signup_record *v;
    char err[ERRLEN];
    size_t n;

    raw_insert(f, "INSERT INTO signups (email, role, level, tasks) VALUES"
                  " ('x@example.com', 'backend-developer', 'senior', '[oops')");
    assert_int_equal(queue_claim(f->q, OWNER, now_ms(), LEASE_MS, 10, &v, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].state, SIGNUP_SENDING);
    assert_string_equal(v[0].load_error, "tasks: not valid JSON");
    queue_claim_free(v, n);
}

/* A child process: claims in small batches until nothing is left, writing ids to fd. */
static void claimer(const char *path, int fd)
{
    struct queue *q;
    struct signup_record *v;
    char err[ERRLEN], owner[32];
    size_t n, i;

    snprintf(owner, sizeof(owner), "testhost:%d", (int)getpid());
    if (queue_open(&q, path, err) == -1)
        _exit(2);
    do {
        if (queue_claim(q, owner, now_ms(), LEASE_MS, 7, &v, &n, err) == -1)
            _exit(3);
        for (i = 0; i < n; i++)
            if (write(fd, &v[i].signup.id, sizeof(v[i].signup.id)) != sizeof(v[i].signup.id))
                _exit(4);
        queue_claim_free(v, n);
    } while (n > 0);
    queue_close(q);
    _exit(0);
}

static void test_two_claimers_never_share(void **state)
{
    enum { COUNT = 80 };
    struct fixture *f = *state;
    char email[32];
    int seen[COUNT + 1] = {0};
    int64_t first = 0, id;
    int fds[2], k, status, total = 0;
    pid_t pid[2];

    for (k = 0; k < COUNT; k++) {
        snprintf(email, sizeof(email), "u%d@example.com", k);
        id = enqueue_one(f, email, ENQUEUE_ADDED);
        if (k == 0)
            first = id;
    }
    /* The children must not inherit open connections (nor, under valgrind, their memory). */
    queue_close(f->q);
    f->q = NULL;
    assert_int_equal(sqlite3_close(f->raw), SQLITE_OK);
    f->raw = NULL;
    assert_int_equal(pipe(fds), 0);
    for (k = 0; k < 2; k++) {
        pid[k] = fork();
        assert_true(pid[k] >= 0);
        if (pid[k] == 0) {
            close(fds[0]);
            claimer(f->path, fds[1]);
        }
    }
    close(fds[1]);
    while (read(fds[0], &id, sizeof(id)) == sizeof(id)) {
        assert_in_range(id - first, 0, COUNT - 1);
        assert_int_equal(seen[id - first], 0);
        seen[id - first] = 1;
        total++;
    }
    close(fds[0]);
    for (k = 0; k < 2; k++) {
        assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(total, COUNT);
    assert_int_equal(sqlite3_open(f->path, &f->raw), SQLITE_OK);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signups WHERE state = 'sending'"), COUNT);
}

/* --- recovery ----------------------------------------------------------- */

static int last_detail(void *arg, const struct queue_event *ev)
{
    snprintf(arg, 128, "%s", ev->detail ? ev->detail : "");
    return 0;
}

static void test_recover_expired_lease(void **state)
{
    struct fixture *f = *state;
    struct signup_record r;
    struct transition defer = {.count_attempt = 1};
    char err[ERRLEN], detail[128];
    int64_t a = enqueue_one(f, "a@example.com", ENQUEUE_ADDED);
    int64_t b = enqueue_one(f, "b@example.com", ENQUEUE_ADDED), got[4], now = now_ms(), due;
    int n;

    /* b has been attempted once before this claim. */
    assert_int_equal(claim_ids(f, OWNER, now, 10, got), 2);
    transition_ok(f, b, SIGNUP_SENDING, SIGNUP_DEFERRED, &defer);
    assert_int_equal(queue_get(f->q, b, &r, err), 0);
    due = r.next_attempt_ms;
    signup_record_free(&r);
    assert_int_equal(claim_ids(f, OWNER, now_ms(), 10, got), 1);

    assert_int_equal(
        queue_recover(f->q, "elsewhere", now + LEASE_MS / 2, UNCERTAIN_RESEND, &n, err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(
        queue_recover(f->q, "elsewhere", now + 2 * LEASE_MS, UNCERTAIN_RESEND, &n, err), 0);
    assert_int_equal(n, 2);

    assert_int_equal(queue_get(f->q, a, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_QUEUED);
    assert_null(r.claimed_by);
    signup_record_free(&r);
    assert_int_equal(queue_get(f->q, b, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_DEFERRED);
    assert_int_equal(r.attempts, 1);
    /* Due at once, in the place in line it had when it was claimed. */
    assert_int_equal(r.next_attempt_ms, due);
    assert_true(due <= now + 2 * LEASE_MS);
    signup_record_free(&r);
    assert_int_equal(queue_history(f->q, a, last_detail, detail, err), 0);
    assert_string_equal(detail, "claim by " OWNER " expired");
}

static void test_recover_dead_process(void **state)
{
    struct fixture *f = *state;
    char err[ERRLEN], owner[64], live[64], detail[128], want[128];
    int64_t a = enqueue_one(f, "a@example.com", ENQUEUE_ADDED);
    int64_t b = enqueue_one(f, "b@example.com", ENQUEUE_ADDED), got[2], now = now_ms();
    pid_t child = fork();
    int n, status;

    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, &status, 0), child);
    snprintf(owner, sizeof(owner), "testhost:%d", (int)child);
    snprintf(live, sizeof(live), "testhost:%d", (int)getpid());
    assert_int_equal(claim_ids(f, owner, now, 1, got), 1);
    assert_int_equal(got[0], a);
    assert_int_equal(claim_ids(f, live, now, 1, got), 1);
    assert_int_equal(got[0], b);

    /* Another host's pids mean nothing here. */
    assert_int_equal(queue_recover(f->q, "otherhost", now, UNCERTAIN_RESEND, &n, err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(queue_recover(f->q, "testhost", now, UNCERTAIN_RESEND, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(state_of(f, a), SIGNUP_QUEUED);
    assert_int_equal(state_of(f, b), SIGNUP_SENDING);
    assert_int_equal(queue_history(f->q, a, last_detail, detail, err), 0);
    snprintf(want, sizeof(want), "claiming process %s is gone", owner);
    assert_string_equal(detail, want);
}

/* Threads of this process: the checkpoint thread is one more. */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static off_t file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_size : -1;
}

/*
 * As the log grows, a thread of its own copies it back into the database:
 * the database file grows while the writer has not checkpointed at all (it
 * does so itself only at 10000 log pages), and the file stays whole.
 */
static void test_log_copied_back_by_its_own_thread(void **state)
{
    struct fixture *f = *state;
    char wal[sizeof(f->path) + 8], email[64];
    int threads = thread_count(), i, n;
    off_t db_before = file_size(f->path);
    sqlite3_stmt *st;

    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    /* Past 2000 log pages (two pokes), well short of the writer's own 10000. */
    for (i = 0; file_size(wal) < (off_t)2000 * 4096; i++) {
        snprintf(email, sizeof(email), "log%d@example.com", i);
        enqueue_one(f, email, ENQUEUE_ADDED);
        assert_true(file_size(wal) < (off_t)9000 * 4096);
    }
    n = i;
    assert_int_equal(thread_count(), threads + 1);
    /* The new rows, index entries and history fill a few dozen pages. */
    for (i = 0; i < 500 && file_size(f->path) < db_before + (off_t)8 * 4096; i++)
        usleep(10000);
    assert_true(file_size(f->path) >= db_before + (off_t)8 * 4096);
    /* Whole, and with every signup, read through another connection. */
    assert_int_equal(sqlite3_prepare_v2(f->raw, "PRAGMA integrity_check", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(f->raw, "SELECT count(*) FROM signups", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), n);
    sqlite3_finalize(st);
}

/* Marks in one commit: each its own result, as queue_mark_attempt() would give it. */
static void test_mark_attempts_batch(void **state)
{
    struct fixture *f = *state;
    struct signup_record r;
    char err[ERRLEN];
    int64_t a = enqueue_one(f, "a@example.com", ENQUEUE_ADDED);
    int64_t b = enqueue_one(f, "b@example.com", ENQUEUE_ADDED);
    int64_t got[2], now = now_ms(), ids[3];
    int result[3] = {-1, -1, -1};
    int64_t c;

    assert_int_equal(claim_ids(f, OWNER, now, 2, got), 2);
    /* Enqueued after the claim: not ours to mark. */
    c = enqueue_one(f, "c@example.com", ENQUEUE_ADDED);
    ids[0] = a;
    ids[1] = c;
    ids[2] = b;
    assert_int_equal(queue_mark_attempts(f->q, ids, result, 3, OWNER, now, err), 0);
    assert_int_equal(result[0], 0);
    assert_int_equal(result[1], 1);
    assert_int_equal(result[2], 0);
    assert_int_equal(queue_get(f->q, a, &r, err), 0);
    assert_int_equal(r.attempt_started_ms, now);
    signup_record_free(&r);
    assert_int_equal(queue_get(f->q, b, &r, err), 0);
    assert_int_equal(r.attempt_started_ms, now);
    signup_record_free(&r);
    assert_int_equal(queue_get(f->q, c, &r, err), 0);
    assert_int_equal(r.attempt_started_ms, 0);
    assert_int_equal(r.state, SIGNUP_QUEUED);
    signup_record_free(&r);
    /* Another owner's marks change nothing, and leave nothing open. */
    assert_int_equal(queue_transition(f->q, a, SIGNUP_SENDING, SIGNUP_QUEUED, NULL, err), 0);
    ids[0] = b;
    assert_int_equal(queue_mark_attempts(f->q, ids, result, 1, "testhost:2", now + 1, err), 0);
    assert_int_equal(result[0], 1);
    assert_int_equal(queue_get(f->q, b, &r, err), 0);
    assert_int_equal(r.attempt_started_ms, now);
    signup_record_free(&r);
}

static void test_mark_attempt(void **state)
{
    struct fixture *f = *state;
    struct signup_record r;
    char err[ERRLEN];
    int64_t id = enqueue_one(f, "a@example.com", ENQUEUE_ADDED), got[1], now = now_ms();

    /* Only a claimed signup, and only by its owner. */
    assert_int_equal(queue_mark_attempt(f->q, id, OWNER, now, err), 1);
    assert_int_equal(claim_ids(f, OWNER, now, 1, got), 1);
    assert_int_equal(queue_mark_attempt(f->q, id, "testhost:2", now, err), 1);
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_int_equal(r.attempt_started_ms, 0);
    signup_record_free(&r);
    assert_int_equal(queue_mark_attempt(f->q, id, OWNER, now, err), 0);
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_int_equal(r.attempt_started_ms, now);
    signup_record_free(&r);
    /* Leaving sending clears it: the next claim starts unmarked. */
    transition_ok(f, id, SIGNUP_SENDING, SIGNUP_QUEUED, NULL);
    assert_int_equal(queue_get(f->q, id, &r, err), 0);
    assert_int_equal(r.attempt_started_ms, 0);
    signup_record_free(&r);
}

static void test_recover_uncertain(void **state)
{
    struct fixture *f = *state;
    struct signup_record r;
    char err[ERRLEN], detail[128];
    int64_t plain = enqueue_one(f, "a@example.com", ENQUEUE_ADDED);
    int64_t held = enqueue_one(f, "b@example.com", ENQUEUE_ADDED), got[3], now = now_ms();
    int64_t resent = enqueue_one(f, "c@example.com", ENQUEUE_ADDED);
    int n;

    assert_int_equal(claim_ids(f, OWNER, now, 3, got), 3);
    assert_int_equal(queue_mark_attempt(f->q, held, OWNER, now, err), 0);
    assert_int_equal(queue_mark_attempt(f->q, resent, OWNER, now, err), 0);

    /* With hold: the unmarked one goes back untouched, the marked one is held. */
    force_state(f, resent, SIGNUP_QUEUED);
    assert_int_equal(queue_recover(f->q, "elsewhere", now + 2 * LEASE_MS, UNCERTAIN_HOLD, &n, err),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(queue_get(f->q, plain, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_QUEUED);
    assert_int_equal(r.attempts, 0);
    assert_null(r.reason);
    signup_record_free(&r);
    assert_int_equal(queue_get(f->q, held, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_HELD);
    assert_string_equal(r.reason, QUEUE_UNCERTAIN_REASON);
    assert_int_equal(r.attempt_started_ms, 0);
    signup_record_free(&r);
    assert_int_equal(queue_history(f->q, held, last_detail, detail, err), 0);
    assert_non_null(strstr(detail, "held"));

    /* With resend: deferred, due now, and the attempt counted. */
    force_state(f, resent, SIGNUP_SENDING);
    assert_int_equal(
        queue_recover(f->q, "elsewhere", now + 2 * LEASE_MS, UNCERTAIN_RESEND, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(queue_get(f->q, resent, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_DEFERRED);
    assert_int_equal(r.attempts, 1);
    assert_true(r.next_attempt_ms <= now_ms());
    assert_non_null(strstr(r.reason, QUEUE_UNCERTAIN_REASON));
    signup_record_free(&r);

    /* Status counts what waits for an operator because of it. */
    {
        struct queue_stats st;

        assert_int_equal(queue_stats(f->q, &st, err), 0);
        assert_int_equal(st.uncertain, 1);
        assert_int_equal(st.count[SIGNUP_HELD], 1);
    }
}

static void test_recover_never_takes_a_live_owner(void **state)
{
    struct fixture *f = *state;
    char err[ERRLEN], live[96], reused[96];
    int64_t a = enqueue_one(f, "a@example.com", ENQUEUE_ADDED);
    int64_t b = enqueue_one(f, "b@example.com", ENQUEUE_ADDED), got[1], now = now_ms();
    unsigned long long start;
    int n;

    assert_int_equal(process_start_time(getpid(), &start), 0);
    snprintf(live, sizeof(live), "testhost:%d:%llu", (int)getpid(), start);
    /* This pid, but started at another time: the pid was reused, the owner is gone. */
    snprintf(reused, sizeof(reused), "testhost:%d:%llu", (int)getpid(), start + 1);
    assert_int_equal(claim_ids(f, live, now, 1, got), 1);
    assert_int_equal(got[0], a);
    assert_int_equal(claim_ids(f, reused, now, 1, got), 1);
    assert_int_equal(got[0], b);

    /* Far past the lease, as after a clock jump: a live owner here keeps its claim. */
    assert_int_equal(
        queue_recover(f->q, "testhost", now + 100 * LEASE_MS, UNCERTAIN_RESEND, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(state_of(f, a), SIGNUP_SENDING);
    assert_int_equal(state_of(f, b), SIGNUP_QUEUED);
    /* Seen from another host, only the lease counts. */
    assert_int_equal(
        queue_recover(f->q, "elsewhere", now + 100 * LEASE_MS, UNCERTAIN_RESEND, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(state_of(f, a), SIGNUP_QUEUED);
}

/* --- reading and purging ------------------------------------------------ */

static void test_purge_removes_history(void **state)
{
    struct fixture *f = *state;
    struct signup_record r;
    char err[ERRLEN];
    int64_t id = enqueue_one(f, "a@example.com", ENQUEUE_ADDED), got[1];
    int64_t keep = enqueue_one(f, "b@example.com", ENQUEUE_ADDED);

    assert_int_equal(claim_ids(f, OWNER, now_ms(), 1, got), 1);
    /* Not while it is being sent. */
    assert_int_equal(queue_purge(f->q, id, err), PURGE_IN_FLIGHT);
    assert_non_null(strstr(err, "being sent"));
    assert_int_equal(state_of(f, id), SIGNUP_SENDING);
    assert_int_equal(count_events(f, id), 2);
    transition_ok(f, id, SIGNUP_SENDING, SIGNUP_DEFERRED, NULL);
    assert_int_equal(count_events(f, id), 3);
    /* Never sent: deleted whole, with its history. */
    assert_int_equal(queue_purge(f->q, id, err), PURGE_DELETED);
    assert_int_equal(count_events(f, id), 0);
    assert_int_equal(queue_get(f->q, id, &r, err), 1);
    assert_int_equal(queue_purge(f->q, id, err), PURGE_NONE);
    assert_int_equal(count_events(f, keep), 1);
}

/* --- the log -------------------------------------------------------------- */

static void test_log_one_line_per_committed_change(void **state)
{
    struct fixture *f = *state;
    struct capture cap = {-1, ""};
    char log[4096], want[128], err[ERRLEN];
    int64_t a = enqueue_one(f, "a@example.com", ENQUEUE_ADDED);
    int64_t b = enqueue_one(f, "b@example.com", ENQUEUE_ADDED), got[4], now = now_ms();
    size_t n;
    int recovered, rc;

    capture_start(f, &cap);
    n = claim_ids(f, OWNER, now, 10, got);
    rc = queue_recover(f->q, "elsewhere", now + 2 * LEASE_MS, UNCERTAIN_RESEND, &recovered, err);
    capture_end(&cap, log, sizeof(log));
    assert_int_equal(n, 2);
    assert_int_equal(rc, 0);
    assert_int_equal(recovered, 2);
    assert_int_equal(count_substr(log, "state=sending prev=queued"), 2);
    assert_int_equal(count_substr(log, "state=queued prev=sending"), 2);
    assert_int_equal(count_substr(log, "\n"), 4);
    snprintf(want, sizeof(want),
             "id=%lld state=sending prev=queued detail=\"claimed by " OWNER "\"\n", (long long)a);
    assert_non_null(strstr(log, want));
    snprintf(want, sizeof(want),
             "id=%lld state=queued prev=sending detail=\"claim by " OWNER " expired\"\n",
             (long long)b);
    assert_non_null(strstr(log, want));
}

static void test_log_nothing_rolled_back(void **state)
{
    struct fixture *f = *state;
    struct capture cap = {-1, ""};
    struct transition sent = {.detail = "delivered"};
    char log[4096], err[4][ERRLEN];
    int64_t a = enqueue_one(f, "a@example.com", ENQUEUE_ADDED);
    int64_t b = enqueue_one(f, "b@example.com", ENQUEUE_ADDED), got[2], now = now_ms();
    struct signup_record *v = NULL;
    size_t n = 0;
    int rc[4], recovered = 0;

    assert_int_equal(claim_ids(f, OWNER, now, 1, got), 1);
    assert_int_equal(got[0], a);
    poison_commits(f);
    capture_start(f, &cap);
    rc[0] = queue_transition(f->q, a, SIGNUP_SENDING, SIGNUP_SENT, &sent, err[0]);
    rc[1] = queue_claim(f->q, OWNER, now, LEASE_MS, 10, &v, &n, err[1]);
    rc[2] =
        queue_recover(f->q, "elsewhere", now + 2 * LEASE_MS, UNCERTAIN_RESEND, &recovered, err[2]);
    rc[3] = queue_purge(f->q, b, err[3]);
    capture_end(&cap, log, sizeof(log));

    assert_int_equal(rc[0], -1);
    assert_non_null(strstr(err[0], "FOREIGN KEY"));
    assert_int_equal(rc[1], -1);
    assert_null(v);
    assert_int_equal(n, 0);
    assert_int_equal(rc[2], -1);
    assert_int_equal(recovered, 0);
    assert_int_equal(rc[3], -1);
    if (strstr(log, "from=") || strstr(log, "purged"))
        fail_msg("rolled-back changes were logged:\n%s", log);
    assert_int_equal(state_of(f, a), SIGNUP_SENDING);
    assert_int_equal(state_of(f, b), SIGNUP_QUEUED);
}

static void test_log_escapes_quotes_in_detail(void **state)
{
    struct fixture *f = *state;
    struct capture cap = {-1, ""};
    /* A producer's text trying to close the quotes and add fields of its own. */
    struct transition t = {.detail = "bad \" to=sent id=99 x=\\"};
    char log[1024], want[160];
    int64_t id = enqueue_one(f, "a@example.com", ENQUEUE_ADDED);

    capture_start(f, &cap);
    transition_ok(f, id, SIGNUP_QUEUED, SIGNUP_HELD, &t);
    capture_end(&cap, log, sizeof(log));
    snprintf(want, sizeof(want),
             "id=%lld state=held prev=queued detail=\"bad \\\" to=sent id=99 x=\\\\\"\n",
             (long long)id);
    if (strstr(log, want) == NULL)
        fail_msg("log \"%s\" lacks \"%s\"", log, want);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000};

    nanosleep(&ts, NULL);
}

static void test_stats(void **state)
{
    struct fixture *f = *state;
    struct queue_stats st;
    struct transition failed = {.reason = "expired"}, rejected = {.reason = "role: unknown"};
    struct signup s;
    enum enqueue_result res;
    char err[ERRLEN], email[32];
    int64_t id[4];
    size_t i;

    assert_int_equal(queue_stats(f->q, &st, err), 0);
    assert_int_equal(st.count[SIGNUP_QUEUED], 0);
    assert_int_equal(st.oldest_waiting_ms, 0);
    assert_int_equal(st.last_error_id, 0);
    assert_string_equal(st.last_error, "");

    for (i = 0; i < 4; i++) {
        snprintf(email, sizeof(email), "s%zu@example.com", i);
        make_signup(&s, email);
        s.created_ms = 1000 * (int64_t)(i + 1);
        assert_int_equal(queue_enqueue(f->q, &s, 1, &id[i], &res, err), 0);
        signup_free(&s);
    }
    transition_ok(f, id[0], SIGNUP_QUEUED, SIGNUP_HELD, NULL);
    /* The later of two errors wins, whatever the ids. */
    transition_ok(f, id[2], SIGNUP_QUEUED, SIGNUP_FAILED, &failed);
    sleep_ms(5);
    transition_ok(f, id[1], SIGNUP_QUEUED, SIGNUP_REJECTED, &rejected);

    assert_int_equal(queue_stats(f->q, &st, err), 0);
    assert_int_equal(st.count[SIGNUP_QUEUED], 1);
    assert_int_equal(st.count[SIGNUP_HELD], 1);
    assert_int_equal(st.count[SIGNUP_FAILED], 1);
    assert_int_equal(st.count[SIGNUP_REJECTED], 1);
    assert_int_equal(st.count[SIGNUP_SENT], 0);
    assert_int_equal(st.oldest_waiting_ms, 4000);
    assert_int_equal(st.last_error_id, id[1]);
    assert_string_equal(st.last_error, "role: unknown");
    assert_true(st.last_error_ms > 0);
}

struct recorded {
    struct queue_event ev[8];
    char detail[8][64];
    size_t n, stop_after;
};

static int record_event(void *arg, const struct queue_event *ev)
{
    struct recorded *rec = arg;

    if (rec->n < NELEM(rec->ev)) {
        rec->ev[rec->n] = *ev;
        snprintf(rec->detail[rec->n], sizeof(rec->detail[0]), "%s", ev->detail ? ev->detail : "");
        rec->n++;
    }
    return rec->stop_after && rec->n == rec->stop_after;
}

static void test_history_order(void **state)
{
    static const struct {
        int has_from;
        enum signup_state from, to;
        const char *detail;
    } want[] = {
        {0, SIGNUP_QUEUED, SIGNUP_QUEUED, "created"},
        {1, SIGNUP_QUEUED, SIGNUP_SENDING, "claimed by " OWNER},
        {1, SIGNUP_SENDING, SIGNUP_DEFERRED, "421 busy"},
        {1, SIGNUP_DEFERRED, SIGNUP_SENDING, "claimed by " OWNER},
        {1, SIGNUP_SENDING, SIGNUP_SENT, "250 ok"},
    };
    struct fixture *f = *state;
    struct recorded rec = {0};
    struct transition defer = {.detail = "421 busy"}, sent = {.detail = "250 ok"};
    char err[ERRLEN];
    int64_t id = enqueue_one(f, "a@example.com", ENQUEUE_ADDED), got[1];
    size_t i;

    assert_int_equal(claim_ids(f, OWNER, now_ms(), 1, got), 1);
    transition_ok(f, id, SIGNUP_SENDING, SIGNUP_DEFERRED, &defer);
    assert_int_equal(claim_ids(f, OWNER, now_ms(), 1, got), 1);
    transition_ok(f, id, SIGNUP_SENDING, SIGNUP_SENT, &sent);

    assert_int_equal(queue_history(f->q, id, record_event, &rec, err), 0);
    assert_int_equal(rec.n, NELEM(want));
    for (i = 0; i < NELEM(want); i++) {
        assert_int_equal(rec.ev[i].has_from, want[i].has_from);
        if (want[i].has_from)
            assert_int_equal(rec.ev[i].from, want[i].from);
        assert_int_equal(rec.ev[i].to, want[i].to);
        assert_string_equal(rec.detail[i], want[i].detail);
        if (i > 0)
            assert_true(rec.ev[i].at_ms >= rec.ev[i - 1].at_ms);
    }
    /* The callback can stop the walk. */
    rec = (struct recorded){.stop_after = 2};
    assert_int_equal(queue_history(f->q, id, record_event, &rec, err), 0);
    assert_int_equal(rec.n, 2);
}

struct listed {
    int64_t ids[8];
    size_t n, stop_after;
};

static int list_one(void *arg, const struct signup_record *r)
{
    struct listed *l = arg;

    if (l->n < NELEM(l->ids))
        l->ids[l->n++] = r->signup.id;
    return l->stop_after && l->n == l->stop_after;
}

static void test_list_and_find_email(void **state)
{
    struct fixture *f = *state;
    struct listed l = {0};
    char err[ERRLEN];
    int64_t a = enqueue_one(f, "Ada@example.com", ENQUEUE_ADDED);
    int64_t b = enqueue_one(f, "b@example.com", ENQUEUE_ADDED);
    int64_t c = enqueue_one(f, "c@example.com", ENQUEUE_ADDED), found, a2;

    transition_ok(f, b, SIGNUP_QUEUED, SIGNUP_HELD, NULL);
    assert_int_equal(queue_list(f->q, -1, list_one, &l, err), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.ids[0], a);
    assert_int_equal(l.ids[2], c);
    l = (struct listed){0};
    assert_int_equal(queue_list(f->q, SIGNUP_HELD, list_one, &l, err), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.ids[0], b);
    l = (struct listed){.stop_after = 1};
    assert_int_equal(queue_list(f->q, -1, list_one, &l, err), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(queue_list(f->q, SIGNUP_NSTATES, list_one, &l, err), -1);

    assert_int_equal(queue_find_email(f->q, "Ada@EXAMPLE.COM", &found, err), 0);
    assert_int_equal(found, a);
    assert_int_equal(queue_find_email(f->q, "ada@example.com", &found, err), 1);
    /* The newest signup for the address. */
    transition_ok(f, a, SIGNUP_QUEUED, SIGNUP_REJECTED, NULL);
    a2 = enqueue_one(f, "Ada@example.com", ENQUEUE_ADDED);
    assert_int_equal(queue_find_email(f->q, "Ada@example.com", &found, err), 0);
    assert_int_equal(found, a2);
}

static void test_state_names(void **state)
{
    enum signup_state st;
    int i;

    for (i = 0; i < SIGNUP_NSTATES; i++) {
        assert_int_equal(signup_state_parse(signup_state_name((enum signup_state)i), &st), 0);
        assert_int_equal(st, i);
    }
    assert_string_equal(signup_state_name(SIGNUP_DEFERRED), "deferred");
    assert_int_equal(signup_state_parse("Queued", &st), -1);
    assert_int_equal(signup_state_parse("", &st), -1);
}

#define QUEUE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        QUEUE_TEST(test_open_creates_schema),
        QUEUE_TEST(test_open_sets_group_writable_mode),
        QUEUE_TEST(test_reopen_is_idempotent),
        QUEUE_TEST(test_open_refuses_newer_schema),
        QUEUE_TEST(test_read_only_open_refuses_other_schemas),
        QUEUE_TEST(test_open_migrates_version_1),
        QUEUE_TEST(test_state_checks_refuse_unknown_states),
        cmocka_unit_test(test_open_error_names_path),
        QUEUE_TEST(test_enqueue_get_roundtrip),
        QUEUE_TEST(test_enqueue_duplicates),
        QUEUE_TEST(test_enqueue_batch_all_or_nothing),
        QUEUE_TEST(test_enqueue_batches_in_one_transaction),
        QUEUE_TEST(test_producer_minimal_insert),
        QUEUE_TEST(test_producer_bad_rows_load_with_error),
        QUEUE_TEST(test_one_report_per_address_held_by_the_database),
        QUEUE_TEST(test_transition_table),
        QUEUE_TEST(test_transition_compare_and_set),
        QUEUE_TEST(test_transitions_batch_results),
        QUEUE_TEST(test_transitions_batch_all_or_nothing),
        QUEUE_TEST(test_transition_fields),
        QUEUE_TEST(test_transition_into_queued_sets_due_time),
        QUEUE_TEST(test_hand_back_keeps_its_place_in_line),
        QUEUE_TEST(test_transition_out_of_sending_checks_owner),
        QUEUE_TEST(test_transition_requeue_sets_requeued),
        QUEUE_TEST(test_claim_due_batch_and_lease),
        QUEUE_TEST(test_claim_skips_later_signups_until_earlier_settles),
        QUEUE_TEST(test_claim_takes_corrected_signup_after_rejected_one),
        QUEUE_TEST(test_claim_duplicate_waits_for_held_and_deferred),
        QUEUE_TEST(test_claim_sent_duplicate_wins_over_waiting),
        QUEUE_TEST(test_claim_fills_batch_past_waiting_signups),
        QUEUE_TEST(test_claim_returns_bad_rows_with_load_error),
        QUEUE_TEST(test_two_claimers_never_share),
        QUEUE_TEST(test_recover_expired_lease),
        QUEUE_TEST(test_recover_dead_process),
        QUEUE_TEST(test_mark_attempt),
        QUEUE_TEST(test_mark_attempts_batch),
        QUEUE_TEST(test_log_copied_back_by_its_own_thread),
        QUEUE_TEST(test_recover_uncertain),
        QUEUE_TEST(test_recover_never_takes_a_live_owner),
        QUEUE_TEST(test_purge_removes_history),
        QUEUE_TEST(test_log_one_line_per_committed_change),
        QUEUE_TEST(test_log_nothing_rolled_back),
        QUEUE_TEST(test_log_escapes_quotes_in_detail),
        QUEUE_TEST(test_stats),
        QUEUE_TEST(test_history_order),
        QUEUE_TEST(test_list_and_find_email),
        cmocka_unit_test(test_state_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
