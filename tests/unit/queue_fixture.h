/*
 * queue_fixture.h - what the queue's unit tests share: a queue in a
 * directory of its own under /tmp, a second SQLite connection to the same
 * file (a producer's or an inspector's), and one-value queries through it.
 */
#ifndef REPORTD_TEST_QUEUE_FIXTURE_H
#define REPORTD_TEST_QUEUE_FIXTURE_H

#include <sqlite3.h>
#include <stdint.h>

#include "queue.h"

struct fixture {
    char dir[64];
    char path[128];
    struct queue *q;
    sqlite3 *raw; /* a second connection, as a producer or an inspector */
};

/* cmocka setups: a fresh directory named from prefix, with the queue and raw open in it. */
int fixture_setup(void **state, const char *prefix);
/* The directory only: the test makes its own database first, then calls fixture_open(). */
int fixture_setup_dir(void **state, const char *prefix);
/* Opens the queue and raw (unless open) on f->path; fails the test on error. */
void fixture_open(struct fixture *f);
/* Opens raw alone, as a producer would before reportd ever ran: 0, or -1. */
int fixture_open_raw(struct fixture *f);
/* cmocka teardown: closes what is open and removes the directory. */
int fixture_teardown(void **state);

/* Removes a database file with its -wal and -shm. */
void unlink_db(const char *path);
/* Runs sql on raw; fails the test on error. */
void raw_exec(struct fixture *f, const char *sql);
/* The first column of a one-row query, on db or on raw. */
int64_t db_int(sqlite3 *db, const char *sql);
int64_t raw_int(struct fixture *f, const char *sql);

#endif
