/*
 * test_retention.c - the queue's retention and purge (what a scrubbed signup
 * keeps, and that its address still counts as served), and its read-only
 * and read-only-file opens.
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
#include <sys/wait.h>
#include <unistd.h>

#include "queue_fixture.h"
#include "sha256.h"

#define OWNER        "testhost:1"
#define LEASE_MS     ((int64_t)60000)
#define RETENTION_MS ((int64_t)30 * 24 * 3600 * 1000)
/* An unprivileged user for the read-only file test when running as root. */
#define NOBODY 65534

static int setup(void **state)
{
    return fixture_setup(state, "test_retention");
}

static int teardown(void **state)
{
    return fixture_teardown(state);
}

/* --- helpers ------------------------------------------------------------ */

/* The first column of a one-row query about signup id, as text ("" for NULL). */
static void row_text(struct fixture *f, const char *sql, int64_t id, char *out, size_t outlen)
{
    sqlite3_stmt *st;

    assert_int_equal(sqlite3_prepare_v2(f->raw, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_int64(st, 1, id), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, outlen, "%s",
             sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
    sqlite3_finalize(st);
}

static int64_t row_int(struct fixture *f, const char *sql, int64_t id)
{
    sqlite3_stmt *st;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(f->raw, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_int64(st, 1, id), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Everything stored about a signup, its row and its history, as one text. */
static void everything_about(struct fixture *f, int64_t id, char *out, size_t outlen)
{
    char row[3072], events[3072];

    row_text(f,
             "SELECT email || '|' || coalesce(name, '') || '|' || role || '|' || level || '|' ||"
             " tasks || '|' || skills || '|' || coalesce(years, '') || '|' || state || '|' ||"
             " coalesce(message_id, '') || '|' || coalesce(last_reply, '') || '|' ||"
             " coalesce(reason, '') || '|' || coalesce(email_hash, '') FROM signups WHERE id = ?1",
             id, row, sizeof(row));
    row_text(f,
             "SELECT coalesce(group_concat(coalesce(detail, ''), '|'), '') FROM signup_events"
             " WHERE signup_id = ?1",
             id, events, sizeof(events));
    snprintf(out, outlen, "%s||%s", row, events);
}

/* A signup with every kind of personal data; returns its id. */
static int64_t enqueue_person(struct fixture *f, const char *email, enum enqueue_result want)
{
    struct signup s;
    enum enqueue_result res;
    char err[ERRLEN];
    int64_t id = 0;

    signup_init(&s);
    s.email = strdup(email);
    s.name = strdup("Ada Lovelace");
    s.role = strdup("backend-developer");
    s.level = strdup("senior");
    assert_non_null(s.email);
    assert_non_null(s.name);
    assert_non_null(s.role);
    assert_non_null(s.level);
    assert_int_equal(signup_add_task(&s, "review-code", 40, 1), 0);
    assert_int_equal(signup_add_skill(&s, "sql"), 0);
    s.years = 12;
    s.has_years = 1;
    if (queue_enqueue(f->q, &s, 1, &id, &res, err) != 0)
        fail_msg("enqueue: %s", err);
    assert_int_equal(res, want);
    signup_free(&s);
    return id;
}

static void claim_only(struct fixture *f, int64_t id)
{
    struct signup_record *v;
    size_t n;
    char err[ERRLEN];

    if (queue_claim(f->q, OWNER, now_ms(), LEASE_MS, 1, &v, &n, err) != 0)
        fail_msg("claim: %s", err);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].signup.id, id);
    queue_claim_free(v, n);
}

/* Claims id and settles it in to, with a reply that quotes the address. */
static void settle(struct fixture *f, int64_t id, const char *email, enum signup_state to)
{
    struct transition t = {0};
    char reply[256], err[ERRLEN];

    claim_only(f, id);
    if (to == SIGNUP_SENT) {
        snprintf(reply, sizeof(reply), "250 2.0.0 Ok: queued for <%s> as 4F2A", email);
        t.detail = "delivered";
        t.reply = reply;
        t.message_id = "<report.1.2@reportd.test>";
    } else {
        snprintf(reply, sizeof(reply), "550 5.1.1 <%s>: Recipient address rejected", email);
        t.detail = t.reason = t.reply = reply;
    }
    t.count_attempt = 1;
    if (queue_transition(f->q, id, SIGNUP_SENDING, to, &t, err) != 0)
        fail_msg("settle: %s", err);
}

static int scrub(struct fixture *f, int64_t now)
{
    char err[ERRLEN];
    int n = -1;

    if (queue_scrub_expired(f->q, now, RETENTION_MS, &n, err) != 0)
        fail_msg("scrub: %s", err);
    return n;
}

/* The hash the address should be kept as, from the database's key and email_key(). */
static void expected_hash(struct fixture *f, const char *email, char hex[SHA256_HEX_LEN])
{
    sqlite3_stmt *st;
    unsigned char digest[SHA256_DIGEST_LEN];
    char key[256];

    assert_int_equal(email_key(email, key, sizeof(key)), 0);
    assert_int_equal(sqlite3_prepare_v2(f->raw,
                                        "SELECT value FROM reportd_secrets"
                                        " WHERE name = 'email_hash_key'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    hmac_sha256(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), key, strlen(key),
                digest);
    sqlite3_finalize(st);
    sha256_hex(digest, hex);
}

/* --- retention ----------------------------------------------------------- */

static void test_scrub_after_retention_not_before(void **state)
{
    struct fixture *f = *state;
    const char *email = "Ada.L@Example.COM";
    char all[8192], text[512], hex[SHA256_HEX_LEN];
    int64_t id = enqueue_person(f, email, ENQUEUE_ADDED), settled, sent_at, later;

    settle(f, id, email, SIGNUP_SENT);
    settled = row_int(f, "SELECT updated_at FROM signups WHERE id = ?1", id);
    sent_at = row_int(f, "SELECT sent_at FROM signups WHERE id = ?1", id);

    /* A second short of the retention: everything is still there. */
    assert_int_equal(scrub(f, settled + RETENTION_MS - 1000), 0);
    everything_about(f, id, all, sizeof(all));
    assert_non_null(strstr(all, email));
    assert_non_null(strstr(all, "Ada Lovelace"));

    later = settled + RETENTION_MS + QUEUE_SCRUB_INTERVAL_MS;
    assert_int_equal(scrub(f, later), 1);
    everything_about(f, id, all, sizeof(all));
    /* No trace of the address in any spelling, nor of the rest of the person. */
    if (strcasestr(all, "Ada.L@") || strcasestr(all, "example.com") || strstr(all, "Lovelace") ||
        strstr(all, "review-code") || strstr(all, "sql"))
        fail_msg("personal data left after scrubbing: %s", all);
    row_text(f,
             "SELECT email || '|' || (name IS NULL) || '|' || tasks || '|' || skills || '|' ||"
             " (years IS NULL) FROM signups WHERE id = ?1",
             id, text, sizeof(text));
    assert_string_equal(text, "|1|[]|[]|1");
    /* The proof of delivery stays. */
    expected_hash(f, email, hex);
    row_text(f, "SELECT email_hash FROM signups WHERE id = ?1", id, text, sizeof(text));
    assert_string_equal(text, hex);
    row_text(f, "SELECT state || '|' || message_id || '|' || last_reply FROM signups WHERE id = ?1",
             id, text, sizeof(text));
    assert_string_equal(text, "sent|<report.1.2@reportd.test>|250 2.0.0 Ok: queued for "
                              "<(address)> as 4F2A");
    assert_int_equal(row_int(f, "SELECT sent_at FROM signups WHERE id = ?1", id), sent_at);
    assert_int_equal(row_int(f, "SELECT scrubbed_at FROM signups WHERE id = ?1", id), later);
    /* Settled, created, claimed, sent, and now the scrub, in the history. */
    assert_int_equal(row_int(f,
                             "SELECT count(*) FROM signup_events WHERE signup_id = ?1"
                             " AND detail LIKE 'personal data scrubbed%'",
                             id),
                     1);
    /* Scrubbed once: a later sweep finds nothing more. */
    assert_int_equal(scrub(f, later + 2 * QUEUE_SCRUB_INTERVAL_MS), 0);
}

static void test_scrub_runs_once_per_interval_and_never_when_kept_forever(void **state)
{
    struct fixture *f = *state;
    int64_t a = enqueue_person(f, "a@example.com", ENQUEUE_ADDED), now, settled;
    char err[ERRLEN];
    int n = -1;

    settle(f, a, "a@example.com", SIGNUP_SENT);
    settled = row_int(f, "SELECT updated_at FROM signups WHERE id = ?1", a);
    now = settled + RETENTION_MS + 1;
    /* retention 0 ("never") keeps everything. */
    assert_int_equal(queue_scrub_expired(f->q, now, 0, &n, err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(row_int(f, "SELECT scrubbed_at IS NULL FROM signups WHERE id = ?1", a), 1);
    /* A sweep 1 ms short of the retention ran and found nothing; one at now is too soon after. */
    assert_int_equal(scrub(f, now - 2), 0);
    assert_int_equal(scrub(f, now), 0);
    assert_int_equal(row_int(f, "SELECT scrubbed_at IS NULL FROM signups WHERE id = ?1", a), 1);
    assert_int_equal(scrub(f, now - 2 + QUEUE_SCRUB_INTERVAL_MS), 1);
}

static void test_scrubbed_address_still_refused(void **state)
{
    struct fixture *f = *state;
    struct signup_record *v = NULL;
    size_t n = 9;
    char err[ERRLEN], reason[256], want[128];
    int64_t id = enqueue_person(f, "Ada@Example.COM", ENQUEUE_ADDED), settled, again, raw, other;
    int64_t found = 0;

    settle(f, id, "Ada@Example.COM", SIGNUP_SENT);
    settled = row_int(f, "SELECT updated_at FROM signups WHERE id = ?1", id);
    assert_int_equal(scrub(f, settled + RETENTION_MS), 1);

    /* enqueue: the same address, domain in another case, is a duplicate of the scrubbed one. */
    again = enqueue_person(f, "Ada@example.com", ENQUEUE_DUPLICATE);
    assert_int_equal(again, id);
    assert_int_equal(queue_find_email(f->q, "Ada@EXAMPLE.com", &found, err), 0);
    assert_int_equal(found, id);
    /* The local part compares as given: another address, another report. */
    other = enqueue_person(f, "ada@example.com", ENQUEUE_ADDED);

    /* A producer's own INSERT of the address is rejected at the claim, never claimed. */
    raw_exec(f, "INSERT INTO signups (email, role, level)"
                " VALUES ('Ada@eXample.com', 'backend-developer', 'senior')");
    raw = sqlite3_last_insert_rowid(f->raw);
    if (queue_claim(f->q, OWNER, now_ms(), LEASE_MS, 10, &v, &n, err) != 0)
        fail_msg("claim: %s", err);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].signup.id, other);
    queue_claim_free(v, n);
    row_text(f, "SELECT state || ': ' || reason FROM signups WHERE id = ?1", raw, reason,
             sizeof(reason));
    snprintf(want, sizeof(want), "rejected: duplicate: address already has signup %lld",
             (long long)id);
    assert_string_equal(reason, want);

    /* An empty address is not a duplicate of the scrubbed one's placeholder: it is claimed and
     * then rejected by the daemon for what it is. */
    raw_exec(f,
             "INSERT INTO signups (email, role, level) VALUES ('', 'backend-developer', 'senior')");
    raw = sqlite3_last_insert_rowid(f->raw);
    if (queue_claim(f->q, OWNER, now_ms(), LEASE_MS, 10, &v, &n, err) != 0)
        fail_msg("claim: %s", err);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].signup.id, raw);
    assert_string_equal(v[0].signup.email, "");
    queue_claim_free(v, n);
}

static void test_scrub_settled_states_only(void **state)
{
    struct fixture *f = *state;
    int64_t failed = enqueue_person(f, "f@example.com", ENQUEUE_ADDED);
    int64_t rejected = enqueue_person(f, "r@example.com", ENQUEUE_ADDED);
    int64_t deferred = enqueue_person(f, "d@example.com", ENQUEUE_ADDED), queued, held;
    char all[8192], err[ERRLEN];
    struct transition t = {.detail = "held by operator"};
    int64_t now;

    settle(f, failed, "f@example.com", SIGNUP_FAILED);
    settle(f, rejected, "r@example.com", SIGNUP_REJECTED);
    settle(f, deferred, "d@example.com", SIGNUP_DEFERRED);
    queued = enqueue_person(f, "q@example.com", ENQUEUE_ADDED);
    held = enqueue_person(f, "h@example.com", ENQUEUE_ADDED);
    assert_int_equal(queue_transition(f->q, held, SIGNUP_QUEUED, SIGNUP_HELD, &t, err), 0);
    now = now_ms() + RETENTION_MS + 1000;
    assert_int_equal(scrub(f, now), 2);
    assert_int_equal(
        row_int(f, "SELECT scrubbed_at IS NOT NULL FROM signups WHERE id = ?1", failed), 1);
    assert_int_equal(
        row_int(f, "SELECT scrubbed_at IS NOT NULL FROM signups WHERE id = ?1", rejected), 1);
    /* Waiting signups keep everything, however old. */
    assert_int_equal(queued, deferred + 1);
    assert_int_equal(held, deferred + 2);
    assert_int_equal(row_int(f,
                             "SELECT count(*) FROM signups WHERE scrubbed_at IS NULL"
                             " AND name = 'Ada Lovelace' AND id IN (?1, ?1 + 1, ?1 + 2)",
                             deferred),
                     3);
    /* The history details (the reply quoted the address) are scrubbed too. */
    everything_about(f, failed, all, sizeof(all));
    if (strcasestr(all, "f@example.com"))
        fail_msg("address left in a failed signup: %s", all);
    assert_non_null(strstr(all, "550 5.1.1 <(address)>: Recipient address rejected"));
    /* A failed address was never served: a new signup for it is welcome. */
    enqueue_person(f, "f@example.com", ENQUEUE_ADDED);
}

static void test_scrub_works_through_many_batches(void **state)
{
    struct fixture *f = *state;
    const int total = QUEUE_SCRUB_BATCH * 5 / 2;
    char sql[512];
    int i;

    raw_exec(f, "BEGIN");
    for (i = 0; i < total; i++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO signups (email, role, level)"
                 " VALUES ('p%d@example.com', 'backend-developer', 'senior')",
                 i);
        raw_exec(f, sql);
    }
    /* reportd's columns are set behind its back: a producer's INSERT may not. */
    raw_exec(f, "UPDATE signups SET state = 'sent', updated_at = 1000");
    raw_exec(f, "COMMIT");
    assert_int_equal(scrub(f, 1000 + RETENTION_MS), total);
    assert_int_equal(row_int(f,
                             "SELECT count(*) FROM signups WHERE scrubbed_at IS NOT NULL"
                             " AND email = '' AND length(email_hash) = ?1",
                             2 * SHA256_DIGEST_LEN),
                     total);
    assert_int_equal(row_int(f, "SELECT count(DISTINCT email_hash) FROM signups WHERE ?1", 1),
                     total);
}

/* --- purge --------------------------------------------------------------- */

static void test_purge_sent_scrubs_and_keeps_proof(void **state)
{
    struct fixture *f = *state;
    char err[ERRLEN], all[8192];
    struct signup_record r;
    int64_t sent = enqueue_person(f, "s@example.com", ENQUEUE_ADDED);
    int64_t queued = enqueue_person(f, "q@example.com", ENQUEUE_ADDED), events;

    settle(f, sent, "s@example.com", SIGNUP_SENT);
    events = row_int(f, "SELECT count(*) FROM signup_events WHERE signup_id = ?1", sent);
    assert_int_equal(queue_purge(f->q, sent, err), PURGE_SCRUBBED);
    everything_about(f, sent, all, sizeof(all));
    if (strstr(all, "s@example.com") || strstr(all, "Lovelace"))
        fail_msg("personal data left after purge: %s", all);
    assert_int_equal(queue_get(f->q, sent, &r, err), 0);
    assert_int_equal(r.state, SIGNUP_SENT);
    assert_true(r.scrubbed_ms > 0);
    assert_non_null(r.email_hash);
    assert_string_equal(r.message_id, "<report.1.2@reportd.test>");
    signup_record_free(&r);
    /* The history stays, with one more event saying why. */
    assert_int_equal(row_int(f,
                             "SELECT count(*) FROM signup_events WHERE signup_id = ?1"
                             " AND detail = 'personal data scrubbed: purged by operator'",
                             sent),
                     1);
    assert_int_equal(row_int(f, "SELECT count(*) FROM signup_events WHERE signup_id = ?1", sent),
                     events + 1);
    /* Again: nothing more to do, the same answer. */
    assert_int_equal(queue_purge(f->q, sent, err), PURGE_SCRUBBED);
    assert_int_equal(row_int(f, "SELECT count(*) FROM signup_events WHERE signup_id = ?1", sent),
                     events + 1);
    enqueue_person(f, "s@example.com", ENQUEUE_DUPLICATE);

    /* Never sent: gone whole, and the address may sign up again. */
    assert_int_equal(queue_purge(f->q, queued, err), PURGE_DELETED);
    assert_int_equal(row_int(f, "SELECT count(*) FROM signups WHERE id = ?1", queued), 0);
    assert_int_equal(row_int(f, "SELECT count(*) FROM signup_events WHERE signup_id = ?1", queued),
                     0);
    enqueue_person(f, "q@example.com", ENQUEUE_ADDED);
}

/* --- read-only opens ------------------------------------------------------ */

static void test_readonly_open_reads_while_a_writer_holds_the_lock(void **state)
{
    struct fixture *f = *state;
    struct queue *ro = NULL;
    struct queue_stats st;
    struct signup_record r;
    char err[ERRLEN];
    int64_t id = enqueue_person(f, "w@example.com", ENQUEUE_ADDED), t0;

    raw_exec(f, "BEGIN IMMEDIATE");
    raw_exec(f, "INSERT INTO signups (email, role, level) VALUES ('u@example.com', 'r', 'l')");
    t0 = monotonic_ms();
    if (queue_open_readonly(&ro, f->path, err) != 0)
        fail_msg("open read-only: %s", err);
    assert_int_equal(queue_stats(ro, &st, err), 0);
    assert_int_equal(queue_get(ro, id, &r, err), 0);
    /* Far from the busy timeout: nothing waited for the lock. */
    assert_true(monotonic_ms() - t0 < QUEUE_BUSY_TIMEOUT_MS / 5);
    /* The committed signup, not the uncommitted one. */
    assert_int_equal(st.count[SIGNUP_QUEUED], 1);
    assert_string_equal(r.signup.email, "w@example.com");
    signup_record_free(&r);
    raw_exec(f, "ROLLBACK");
    queue_close(ro);
}

static void test_readonly_open_never_writes(void **state)
{
    struct fixture *f = *state;
    struct queue *ro = NULL;
    struct signup s;
    enum enqueue_result res;
    char err[ERRLEN];
    int64_t id = 0;

    assert_int_equal(queue_open_readonly(&ro, f->path, err), 0);
    signup_init(&s);
    s.email = strdup("x@example.com");
    s.role = strdup("backend-developer");
    s.level = strdup("senior");
    assert_int_equal(queue_enqueue(ro, &s, 1, &id, &res, err), -1);
    signup_free(&s);
    queue_close(ro);
    assert_int_equal(row_int(f, "SELECT count(*) FROM signups WHERE ?1", 1), 0);
}

static void test_readonly_open_refuses_other_schemas(void **state)
{
    struct fixture *f = *state;
    struct queue *ro = NULL;
    char err[ERRLEN], path[160];
    int64_t version = row_int(f, "SELECT ?1 FROM pragma_user_version", 0);

    (void)version;
    snprintf(path, sizeof(path), "%s/missing.db", f->dir);
    assert_int_equal(queue_open_readonly(&ro, path, err), -1);
    assert_null(ro);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "daemon"));
    /* Nothing was created. */
    assert_int_equal(access(path, F_OK), -1);

    raw_exec(f, "PRAGMA user_version = 3");
    assert_int_equal(queue_open_readonly(&ro, f->path, err), -1);
    assert_non_null(strstr(err, "schema version 3 is older"));
    assert_non_null(strstr(err, "start the daemon"));
    raw_exec(f, "PRAGMA user_version = 99");
    assert_int_equal(queue_open_readonly(&ro, f->path, err), -1);
    assert_non_null(strstr(err, "schema version 99 is newer"));
    assert_null(ro);
}

/*
 * A file the process may not write: SQLite would open it read-only without
 * a word.  Root may write any file, so as root the open runs in a child
 * that has become an unprivileged user.
 */
static void test_open_detects_read_only_file(void **state)
{
    struct fixture *f = *state;
    struct queue *q = NULL;
    char path[160], err[ERRLEN];
    int status;
    pid_t pid;

    snprintf(path, sizeof(path), "%s/ro.db", f->dir);
    assert_int_equal(queue_open(&q, path, err), QUEUE_OPEN_OK);
    queue_close(q);
    assert_int_equal(chmod(path, 0444), 0);
    assert_int_equal(chmod(f->dir, 0755), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc;

        if (geteuid() == 0 && (setgid(NOBODY) == -1 || setuid(NOBODY) == -1))
            _exit(100);
        rc = queue_open(&q, path, err);
        fprintf(stderr, "%s\n", err);
        _exit(rc == QUEUE_OPEN_READ_ONLY && strstr(err, path) && strstr(err, "read-only") &&
                      strstr(err, "Permission denied")
                  ? 0
                  : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    unlink_db(path);
}

#define RETENTION_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        RETENTION_TEST(test_scrub_after_retention_not_before),
        RETENTION_TEST(test_scrub_runs_once_per_interval_and_never_when_kept_forever),
        RETENTION_TEST(test_scrubbed_address_still_refused),
        RETENTION_TEST(test_scrub_settled_states_only),
        RETENTION_TEST(test_scrub_works_through_many_batches),
        RETENTION_TEST(test_purge_sent_scrubs_and_keeps_proof),
        RETENTION_TEST(test_readonly_open_reads_while_a_writer_holds_the_lock),
        RETENTION_TEST(test_readonly_open_never_writes),
        RETENTION_TEST(test_readonly_open_refuses_other_schemas),
        RETENTION_TEST(test_open_detects_read_only_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
