/* queue_fixture.c - the queue's unit tests' shared fixture (queue_fixture.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "queue_fixture.h"

void unlink_db(const char *path)
{
    char p[200];

    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

int fixture_setup_dir(void **state, const char *prefix)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    *state = f;
    snprintf(f->dir, sizeof(f->dir), "/tmp/%s-XXXXXX", prefix);
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/queue.db", f->dir);
    return 0;
}

int fixture_open_raw(struct fixture *f)
{
    return sqlite3_open(f->path, &f->raw) == SQLITE_OK &&
                   sqlite3_busy_timeout(f->raw, QUEUE_BUSY_TIMEOUT_MS) == SQLITE_OK
               ? 0
               : -1;
}

/* The queue, and raw unless a test opened it first. */
static int open_both(struct fixture *f, char *err)
{
    if (queue_open(&f->q, f->path, err) != QUEUE_OPEN_OK)
        return -1;
    if (f->raw == NULL && fixture_open_raw(f) == -1) {
        snprintf(err, ERRLEN, "%s: second connection: %s", f->path, sqlite3_errmsg(f->raw));
        return -1;
    }
    return 0;
}

int fixture_setup(void **state, const char *prefix)
{
    char err[ERRLEN];

    if (fixture_setup_dir(state, prefix) == -1)
        return -1;
    if (open_both(*state, err) == -1) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

void fixture_open(struct fixture *f)
{
    char err[ERRLEN];

    if (open_both(f, err) == -1)
        fail_msg("open: %s", err);
}

int fixture_teardown(void **state)
{
    struct fixture *f = *state;

    if (f == NULL)
        return 0;
    queue_close(f->q);
    sqlite3_close(f->raw);
    unlink_db(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

void raw_exec(struct fixture *f, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(f->raw, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

int64_t db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int64_t raw_int(struct fixture *f, const char *sql)
{
    return db_int(f->raw, sql);
}
