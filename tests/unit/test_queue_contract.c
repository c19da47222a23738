/*
 * test_queue_contract.c - the producer contract the database enforces
 * (schema 5): the migration from version 4, the trigger that keeps producers
 * off reportd's columns, NULL lists, the signup_status view, the file's mode
 * whatever the umask; and queue_metrics().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_fixture.h"

#define OWNER    "testhost:1"
#define LEASE_MS ((int64_t)60000)
/* The schema version queue.c migrates to; changing it here is a conscious act. */
#define SCHEMA_VERSION 7

/* The columns a producer may set (README, "Producer contract"); every other one is reportd's. */
static const char *const producer_columns[] = {"email", "name",   "role",  "level",
                                               "tasks", "skills", "years", "created_at"};

/* A directory only: a test makes its own database, or calls fixture_open(). */
static int setup(void **state)
{
    return fixture_setup_dir(state, "test_contract");
}

static int teardown(void **state)
{
    return fixture_teardown(state);
}

/* The first column of a one-row query, as text, or "" for NULL; the caller frees. */
static char *raw_text(struct fixture *f, const char *sql)
{
    sqlite3_stmt *st;
    const unsigned char *t;
    char *out;

    assert_int_equal(sqlite3_prepare_v2(f->raw, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    t = sqlite3_column_text(st, 0);
    out = strdup(t ? (const char *)t : "");
    sqlite3_finalize(st);
    assert_non_null(out);
    return out;
}

static int is_producer_column(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(producer_columns) / sizeof(producer_columns[0]); i++)
        if (strcmp(name, producer_columns[i]) == 0)
            return 1;
    return 0;
}

/* --- the migration from version 4 ---------------------------------------- */

/* Schema 4 as reportd wrote it, with rows in several states and their history. */
static const char v4_database[] =
    "CREATE TABLE signups (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT,"
    " role TEXT NOT NULL, level TEXT NOT NULL, tasks TEXT NOT NULL DEFAULT '[]',"
    " skills TEXT NOT NULL DEFAULT '[]', years REAL,"
    " created_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS"
    " INTEGER)),"
    " state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'deferred',"
    " 'held', 'sent', 'failed', 'rejected')),"
    " attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0,"
    " updated_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS"
    " INTEGER)),"
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
    "ALTER TABLE signups ADD COLUMN requeued_at INTEGER;"
    "ALTER TABLE signups ADD COLUMN attempt_started_at INTEGER;"
    "ALTER TABLE signups ADD COLUMN email_hash TEXT;"
    "ALTER TABLE signups ADD COLUMN scrubbed_at INTEGER;"
    "CREATE INDEX signups_email_hash ON signups (email_hash) WHERE email_hash IS NOT NULL;"
    "CREATE INDEX signups_unscrubbed ON signups (updated_at)"
    " WHERE scrubbed_at IS NULL AND state IN ('sent', 'failed', 'rejected');"
    "CREATE TABLE reportd_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "INSERT INTO reportd_secrets VALUES ('email_hash_key', zeroblob(32));"
    /* Ids with gaps, so that a copy renumbering them would show. */
    "INSERT INTO signups (id, email, name, role, level, tasks, skills, years, created_at, state,"
    " attempts, next_attempt_at, updated_at, sent_at, message_id, last_reply, reason)"
    " VALUES (3, 'ada@example.org', 'Ada', 'backend-developer', 'senior', '[\"review-code\"]',"
    " '[\"sql\"]', 12, 1000, 'sent', 1, 0, 2000, 2000, '<m1@example.org>', '250 ok', NULL);"
    "INSERT INTO signups (id, email, role, level, state, attempts, next_attempt_at, reason,"
    " last_reply) VALUES (7, 'bob@example.org', 'backend-developer', 'mid', 'deferred', 2,"
    " 99999, '451 later', '451 later');"
    "INSERT INTO signups (id, email, role, level, state, email_hash, scrubbed_at)"
    " VALUES (9, '', 'backend-developer', 'mid', 'failed', 'abc', 5000);"
    "INSERT INTO signups (id, email, role, level) VALUES (12, 'cy@example.org',"
    " 'backend-developer', 'junior');"
    "INSERT INTO signup_events (signup_id, at, from_state, to_state, detail) VALUES"
    " (3, 1500, 'queued', 'sending', 'claimed'), (3, 2000, 'sending', 'sent', 'delivered'),"
    " (7, 1600, 'queued', 'sending', 'claimed'), (7, 1700, 'sending', 'deferred', '451 later');"
    "PRAGMA user_version = 4;";

/* Every column of every signup, and the whole history, as one text each. */
#define SIGNUPS_DUMP_SQL                                                                           \
    "SELECT group_concat(quote(id) || quote(email) || quote(name) || quote(role) ||"               \
    " quote(level) || quote(tasks) || quote(skills) || quote(years) || quote(created_at) ||"       \
    " quote(state) || quote(attempts) || quote(next_attempt_at) || quote(updated_at) ||"           \
    " quote(sent_at) || quote(message_id) || quote(last_reply) || quote(reason) ||"                \
    " quote(claimed_by) || quote(claim_until) || quote(requeued_at) ||"                            \
    " quote(attempt_started_at) || quote(email_hash) || quote(scrubbed_at), '|')"                  \
    " FROM (SELECT * FROM signups ORDER BY id)"
#define EVENTS_DUMP_SQL                                                                            \
    "SELECT group_concat(quote(id) || quote(signup_id) || quote(at) || quote(from_state) ||"       \
    " quote(to_state) || quote(detail), '|') FROM (SELECT * FROM signup_events ORDER BY id)"
/* The indexes and triggers version 4 had: the rebuild must make each again. */
#define V4_OBJECTS_SQL                                                                             \
    "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master"                          \
    " WHERE type IN ('index', 'trigger') AND name NOT LIKE 'sqlite_%' ORDER BY name)"

static void test_migrate_from_v4_keeps_rows_and_history(void **state)
{
    struct fixture *f = *state;
    char *signups, *events, *objects, *after, *key;
    char err[ERRLEN];
    int64_t kept;

    assert_int_equal(fixture_open_raw(f), 0);
    raw_exec(f, v4_database);
    signups = raw_text(f, SIGNUPS_DUMP_SQL);
    events = raw_text(f, EVENTS_DUMP_SQL);
    objects = raw_text(f, V4_OBJECTS_SQL);
    key = raw_text(f, "SELECT hex(value) FROM reportd_secrets");
    kept = raw_int(f, "SELECT count(*) FROM signup_events WHERE signup_id = 3");

    if (queue_open(&f->q, f->path, err) != QUEUE_OPEN_OK)
        fail_msg("open v4: %s", err);
    assert_int_equal(raw_int(f, "PRAGMA user_version"), SCHEMA_VERSION);
    after = raw_text(f, SIGNUPS_DUMP_SQL);
    assert_string_equal(after, signups);
    free(after);
    after = raw_text(f, EVENTS_DUMP_SQL);
    assert_string_equal(after, events);
    free(after);
    after = raw_text(f, "SELECT hex(value) FROM reportd_secrets");
    assert_string_equal(after, key);
    free(after);
    /*
     * Each old index and trigger is there again, on the new table, plus the
     * guard and the Unicode index (5) and the one-report indexes (6).
     */
    after = raw_text(f, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master"
                        " WHERE type IN ('index', 'trigger') AND name NOT LIKE 'sqlite_%'"
                        " AND name NOT IN ('signups_producer_columns', 'signups_unicode_due',"
                        " 'signups_one_report', 'signups_one_report_scrubbed') ORDER BY name)");
    assert_string_equal(after, objects);
    free(after);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_master WHERE tbl_name = 'signups'"
                                " AND name IN ('signups_producer_columns', 'signups_unicode_due')"),
                     2);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_master WHERE name = 'signups_v5'"), 0);
    /* NOT NULL is gone from the lists. */
    assert_int_equal(raw_int(f, "SELECT sum(\"notnull\") FROM pragma_table_info('signups')"
                                " WHERE name IN ('tasks', 'skills')"),
                     0);
    /* The history still cascades: foreign keys point at the rebuilt table. */
    assert_int_equal(queue_purge(f->q, 12, err), PURGE_DELETED);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signup_events WHERE signup_id = 12"), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signup_events WHERE signup_id = 3"), kept);
    free(signups);
    free(events);
    free(objects);
    free(key);
}

/* --- the trigger --------------------------------------------------------- */

/*
 * Every column the schema has that is not the producer's is refused, by
 * name: the list comes from the table itself, so a column added later
 * without a check in the trigger fails here.
 */
static void test_insert_of_reportd_column_is_refused(void **state)
{
    struct fixture *f = *state;
    sqlite3_stmt *cols;
    char sql[256], want[128];
    int refused = 0, owned = 0;

    fixture_open(f);
    assert_int_equal(sqlite3_prepare_v2(f->raw, "SELECT name FROM pragma_table_info('signups')", -1,
                                        &cols, NULL),
                     SQLITE_OK);
    while (sqlite3_step(cols) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(cols, 0);
        int rc;

        if (is_producer_column(col))
            continue;
        owned++;
        snprintf(sql, sizeof(sql),
                 "INSERT INTO signups (email, role, level, %s)"
                 " VALUES ('x@example.org', 'backend-developer', 'mid', 12345)",
                 col);
        rc = sqlite3_exec(f->raw, sql, NULL, NULL, NULL);
        snprintf(want, sizeof(want), "signups.%s belongs to reportd", col);
        if (rc != SQLITE_CONSTRAINT || strstr(sqlite3_errmsg(f->raw), want) == NULL)
            fail_msg("%s: rc %d: %s", col, rc, sqlite3_errmsg(f->raw));
        refused++;
    }
    sqlite3_finalize(cols);
    assert_int_equal(refused, owned);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signups"), 0);
    /* A state a producer might write to skip the queue: the message names it. */
    assert_int_equal(sqlite3_exec(f->raw,
                                  "INSERT INTO signups (email, role, level, state)"
                                  " VALUES ('x@example.org', 'backend-developer', 'mid', 'sent')",
                                  NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    assert_non_null(strstr(sqlite3_errmsg(f->raw), "signups.state belongs to reportd"));
}

/* Every producer column at once, and a reportd column given its own default, pass. */
static void test_producer_columns_and_defaults_pass(void **state)
{
    struct fixture *f = *state;
    struct signup_record r;
    char err[ERRLEN];

    fixture_open(f);
    raw_exec(f, "INSERT INTO signups (email, name, role, level, tasks, skills, years, created_at)"
                " VALUES ('x@example.org', 'X', 'backend-developer', 'mid', '[\"a\"]', '[\"b\"]',"
                " 3, 1234)");
    raw_exec(f, "INSERT INTO signups (email, role, level, state, attempts, next_attempt_at)"
                " VALUES ('y@example.org', 'backend-developer', 'mid', 'queued', 0, 0)");
    assert_int_equal(queue_get(f->q, 1, &r, err), 0);
    assert_null(r.load_error);
    assert_int_equal(r.signup.created_ms, 1234);
    assert_int_equal(r.state, SIGNUP_QUEUED);
    signup_record_free(&r);
    assert_int_equal(queue_get(f->q, 2, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_QUEUED);
    signup_record_free(&r);
}

/* --- NULL lists ---------------------------------------------------------- */

static void test_null_and_omitted_lists_read_as_empty(void **state)
{
    struct fixture *f = *state;
    struct signup_record r;
    char err[ERRLEN];
    int64_t id;

    fixture_open(f);
    raw_exec(f, "INSERT INTO signups (email, role, level, tasks, skills)"
                " VALUES ('n@example.org', 'backend-developer', 'mid', NULL, NULL)");
    raw_exec(f, "INSERT INTO signups (email, role, level)"
                " VALUES ('o@example.org', 'backend-developer', 'mid')");
    raw_exec(f, "INSERT INTO signups (email, role, level, tasks)"
                " VALUES ('p@example.org', 'backend-developer', 'mid', '[\"review-code\"]')");
    for (id = 1; id <= 2; id++) {
        assert_int_equal(queue_get(f->q, id, &r, err), 0);
        if (r.load_error)
            fail_msg("signup %lld: %s", (long long)id, r.load_error);
        assert_int_equal(r.signup.ntasks, 0);
        assert_int_equal(r.signup.nskills, 0);
        signup_record_free(&r);
    }
    /* NULL skills beside real tasks: only the NULL one is empty. */
    assert_int_equal(queue_get(f->q, 3, &r, err), 0);
    assert_null(r.load_error);
    assert_int_equal(r.signup.ntasks, 1);
    assert_string_equal(r.signup.tasks[0].id, "review-code");
    signup_record_free(&r);
}

/* --- the status view ----------------------------------------------------- */

static void test_signup_status_view(void **state)
{
    struct fixture *f = *state;
    struct transition t = {0};
    struct signup_record *v;
    size_t n;
    char err[ERRLEN], *row;

    fixture_open(f);
    row = raw_text(f, "SELECT group_concat(name, ',') FROM pragma_table_info('signup_status')");
    assert_string_equal(row, "id,email,state,reason,sent_at,message_id,created_at");
    free(row);
    raw_exec(f, "INSERT INTO signups (email, role, level, created_at)"
                " VALUES ('v@example.org', 'backend-developer', 'mid', 777)");
    assert_int_equal(queue_claim(f->q, OWNER, now_ms(), LEASE_MS, 1, &v, &n, err), 0);
    assert_int_equal(n, 1);
    queue_claim_free(v, n);
    t.detail = "delivered";
    t.reply = "250 ok";
    t.message_id = "<id@example.org>";
    assert_int_equal(queue_transition(f->q, 1, SIGNUP_SENDING, SIGNUP_SENT, &t, err), 0);
    row = raw_text(f, "SELECT id || ',' || email || ',' || state || ',' || quote(reason) || ','"
                      " || (sent_at = (SELECT sent_at FROM signups WHERE id = 1)) || ','"
                      " || message_id || ',' || created_at FROM signup_status");
    assert_string_equal(row, "1,v@example.org,sent,NULL,1,<id@example.org>,777");
    free(row);
    /* Read-only: a website cannot change a signup through it. */
    assert_int_not_equal(
        sqlite3_exec(f->raw, "UPDATE signup_status SET state = 'queued'", NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(f->raw, "DELETE FROM signup_status", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM signups WHERE state = 'sent'"), 1);
}

/* --- the file's mode ----------------------------------------------------- */

static void check_mode(const char *path, const char *suffix, mode_t umask_was)
{
    char p[200];
    struct stat sb;

    snprintf(p, sizeof(p), "%s%s", path, suffix);
    if (stat(p, &sb) == -1)
        fail_msg("%s (umask %03o): missing", p, (unsigned)umask_was);
    if ((sb.st_mode & 0777) != 0660)
        fail_msg("%s (umask %03o): mode %03o", p, (unsigned)umask_was,
                 (unsigned)(sb.st_mode & 0777));
}

/* Whoever creates the file first, under whatever umask, leaves it 0660 with its -wal and -shm. */
static void test_mode_whatever_the_umask(void **state)
{
    static const mode_t masks[] = {022, 077, 0};
    struct fixture *f = *state;
    struct signup s;
    enum enqueue_result res;
    char err[ERRLEN];
    int64_t id;
    size_t i;

    for (i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
        mode_t old = umask(masks[i]);
        struct queue *q;
        int rc = queue_open(&q, f->path, err);

        if (rc == QUEUE_OPEN_OK) {
            signup_init(&s);
            s.email = "m@example.org";
            s.role = "backend-developer";
            s.level = "mid";
            rc = queue_enqueue(q, &s, 1, &id, &res, err);
        }
        umask(old);
        if (rc != 0)
            fail_msg("umask %03o: %s", (unsigned)masks[i], err);
        /* While open: the last connection to close removes -wal and -shm. */
        check_mode(f->path, "", masks[i]);
        check_mode(f->path, "-shm", masks[i]);
        check_mode(f->path, "-wal", masks[i]);
        queue_close(q);
        unlink_db(f->path);
    }
}

/* --- metrics ------------------------------------------------------------- */

static int64_t claim_one(struct fixture *f, int64_t now)
{
    struct signup_record *v;
    size_t n;
    char err[ERRLEN];
    int64_t id;

    if (queue_claim(f->q, OWNER, now, LEASE_MS, 1, &v, &n, err) != 0)
        fail_msg("claim: %s", err);
    assert_int_equal(n, 1);
    id = v[0].signup.id;
    queue_claim_free(v, n);
    return id;
}

static void settle(struct fixture *f, int64_t id, enum signup_state to, const char *reply)
{
    struct transition t = {0};
    char err[ERRLEN];

    t.detail = reply;
    t.reply = reply;
    t.count_attempt = to != SIGNUP_REJECTED;
    if (queue_transition(f->q, id, SIGNUP_SENDING, to, &t, err) != 0)
        fail_msg("settle %lld: %s", (long long)id, err);
}

static void test_metrics(void **state)
{
    static const int64_t bounds[QUEUE_LATENCY_BUCKETS] = QUEUE_LATENCY_BOUNDS_MS;
    /* Latencies that fall between bounds, and one past the last. */
    const int64_t latency[] = {bounds[0] - 1, bounds[3] + 1, bounds[QUEUE_LATENCY_BUCKETS - 1] + 1};
    struct fixture *f = *state;
    struct queue_metrics m;
    struct queue_stats st;
    char err[ERRLEN], sql[256];
    int64_t now = now_ms(), id, sum = 0, last = 0;
    size_t i, b;
    int s;

    fixture_open(f);
    for (i = 0; i < 7; i++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO signups (email, role, level, created_at)"
                 " VALUES ('m%zu@example.org', 'backend-developer', 'mid', %lld)",
                 i, (long long)(now - 1000 + (int64_t)i));
        raw_exec(f, sql);
    }
    for (i = 0; i < 3; i++)
        settle(f, claim_one(f, now), SIGNUP_SENT, "250 2.0.0 queued");
    /* The sent ones' latencies, set behind reportd's back. */
    for (i = 0; i < 3; i++) {
        snprintf(sql, sizeof(sql), "UPDATE signups SET sent_at = created_at + %lld WHERE id = %zu",
                 (long long)latency[i], i + 1);
        raw_exec(f, sql);
        sum += latency[i];
        if (now - 1000 + (int64_t)i + latency[i] > last)
            last = now - 1000 + (int64_t)i + latency[i];
    }
    id = claim_one(f, now);
    settle(f, id, SIGNUP_DEFERRED, "451 4.3.0 try later");
    raw_exec(f, "UPDATE signups SET next_attempt_at = 0 WHERE state = 'deferred'");
    settle(f, claim_one(f, now), SIGNUP_FAILED, "550 5.1.1 no such user");
    settle(f, claim_one(f, now), SIGNUP_REJECTED, NULL);
    /* Now: 1-3 sent, 4 deferred and then failed, 5 rejected, 6 and 7 queued. */

    if (queue_metrics(f->q, &m, err) != 0)
        fail_msg("metrics: %s", err);
    assert_int_equal(queue_stats(f->q, &st, err), 0);
    for (s = 0; s < SIGNUP_NSTATES; s++)
        assert_int_equal(m.count[s], st.count[s]);
    assert_int_equal(m.oldest_waiting_ms, st.oldest_waiting_ms);
    assert_int_equal(m.count[SIGNUP_SENT], 3);
    assert_int_equal(m.count[SIGNUP_QUEUED], 2);
    assert_int_equal(m.oldest_waiting_ms, now - 1000 + 5);
    /* Attempts: 3 sent, 1 deferred, 1 failed; the rejection was no attempt. */
    assert_int_equal(m.attempts, 5);
    assert_int_equal(m.outcomes[SIGNUP_SENT], 3);
    assert_int_equal(m.outcomes[SIGNUP_DEFERRED], 1);
    assert_int_equal(m.outcomes[SIGNUP_FAILED], 1);
    assert_int_equal(m.outcomes[SIGNUP_REJECTED], 1);
    assert_int_equal(m.outcomes[SIGNUP_QUEUED], 0);
    assert_int_equal(m.last_reply[250], 3);
    assert_int_equal(m.last_reply[550], 1);
    assert_int_equal(m.last_reply[451], 0);
    assert_int_equal(m.last_reply[0], 0);
    assert_int_equal(m.latency_count, 3);
    assert_int_equal(m.latency_sum_ms, sum);
    assert_int_equal(m.last_sent_ms, last);
    for (b = 0; b < QUEUE_LATENCY_BUCKETS; b++) {
        int64_t want = 0;

        for (i = 0; i < 3; i++)
            want += latency[i] <= bounds[b];
        assert_int_equal(m.latency_le[b], want);
    }
}

/* An empty queue: all zero, nothing made up. */
static void test_metrics_empty(void **state)
{
    struct fixture *f = *state;
    struct queue_metrics m;
    char err[ERRLEN];
    size_t i;

    fixture_open(f);
    assert_int_equal(queue_metrics(f->q, &m, err), 0);
    assert_int_equal(m.latency_count, 0);
    assert_int_equal(m.last_sent_ms, 0);
    assert_int_equal(m.oldest_waiting_ms, 0);
    for (i = 0; i < QUEUE_LATENCY_BUCKETS; i++)
        assert_int_equal(m.latency_le[i], 0);
}

/* --- Unicode domains at claim -------------------------------------------- */

static void test_claim_stores_unicode_domain_in_ascii(void **state)
{
    struct fixture *f = *state;
    struct signup_record *v;
    size_t n;
    char err[ERRLEN], *email;

    fixture_open(f);
    raw_exec(f, "INSERT INTO signups (email, role, level)"
                " VALUES ('joerg@B\xc3\x9c"
                "CHER.example', 'backend-developer', 'mid')");
    /* Not a valid IDN: left for the daemon to reject with libidn2's reason. */
    raw_exec(f, "INSERT INTO signups (email, role, level)"
                " VALUES ('x@\xe2\x98\x83.example', 'backend-developer', 'mid')");
    assert_int_equal(queue_claim(f->q, OWNER, now_ms(), LEASE_MS, 2, &v, &n, err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].signup.email, "joerg@xn--bcher-kva.example");
    assert_string_equal(v[1].signup.email, "x@\xe2\x98\x83.example");
    queue_claim_free(v, n);
    email = raw_text(f, "SELECT email FROM signups WHERE id = 1");
    assert_string_equal(email, "joerg@xn--bcher-kva.example");
    free(email);
    settle(f, 1, SIGNUP_SENT, "250 ok");
    /* The same address in its Unicode form again: a duplicate of the one sent. */
    raw_exec(f, "INSERT INTO signups (email, role, level)"
                " VALUES ('joerg@b\xc3\xbc"
                "cher.example', 'backend-developer', 'mid')");
    assert_int_equal(queue_claim(f->q, OWNER, now_ms(), LEASE_MS, 1, &v, &n, err), 0);
    assert_int_equal(n, 0);
    email = raw_text(f, "SELECT state || ' ' || reason FROM signups WHERE id = 3");
    assert_string_equal(email, "rejected duplicate: address already has signup 1");
    free(email);
}

#define CONTRACT_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CONTRACT_TEST(test_migrate_from_v4_keeps_rows_and_history),
        CONTRACT_TEST(test_insert_of_reportd_column_is_refused),
        CONTRACT_TEST(test_producer_columns_and_defaults_pass),
        CONTRACT_TEST(test_null_and_omitted_lists_read_as_empty),
        CONTRACT_TEST(test_signup_status_view),
        CONTRACT_TEST(test_mode_whatever_the_umask),
        CONTRACT_TEST(test_metrics),
        CONTRACT_TEST(test_metrics_empty),
        CONTRACT_TEST(test_claim_stores_unicode_domain_in_ascii),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
