/*
 * queue_sqlite_checkpoint.c - the write-ahead log copied back into the
 * database by a thread of its own, with its own connection, so that the
 * writing thread does not wait for the disk.
 *
 * A checkpoint copies the log's pages into the database file and ends with
 * two fdatasync() calls, which on a busy queue take tens of milliseconds:
 * run where the daemon commits, they stopped its thread, and every
 * connection ran dry meanwhile.  Here the helper does that work whenever
 * enough log has piled up; the writer still checkpoints itself once the log
 * is long (on_commit() in queue_sqlite.c), but finds it mostly copied and
 * synced, and that checkpoint is what lets SQLite start the log over from
 * its beginning (a helper's checkpoint alone never catches up with a writer
 * that keeps committing).
 */
#include "queue_sqlite.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MODULE "queue"
#include "log.h"

struct sq_checkpointer {
    sqlite3 *db; /* the helper's own connection; only it uses it */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int wanted; /* (lock) there is log to copy back */
    int quit;   /* (lock) */
};

static void *checkpoint_main(void *arg)
{
    struct sq_checkpointer *c = arg;
    /* At batch priority: its disk work waits for the daemon's, not the other way round. */
    int rc = thread_make_batch();

    if (rc != 0)
        log_debug("the checkpoint thread keeps the default scheduling: %s", strerror(rc));
    pthread_mutex_lock(&c->lock);
    for (;;) {
        int log_pages = 0, copied = 0;

        while (!c->wanted && !c->quit)
            pthread_cond_wait(&c->wake, &c->lock);
        if (c->quit)
            break;
        c->wanted = 0;
        pthread_mutex_unlock(&c->lock);
        /* Passive: it never waits for the writer, nor makes it wait. */
        rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_pages, &copied);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_debug("background checkpoint: %s", sqlite3_errmsg(c->db));
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static int open_connection(struct sq_checkpointer *c, const char *path, char *err)
{
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc != SQLITE_OK)
        return errf(err, "%s: checkpoint connection: %s", path,
                    c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    /* The writer's durability (see configure() in queue_sqlite.c); no checkpoints of its own. */
    if (sqlite3_exec(c->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_wal_autocheckpoint(c->db, 0) != SQLITE_OK)
        return errf(err, "%s: checkpoint connection: %s", path, sqlite3_errmsg(c->db));
    return 0;
}

static void free_checkpointer(struct sq_checkpointer *c)
{
    if (c->db != NULL && sqlite3_close(c->db) != SQLITE_OK)
        log_warnx("checkpoint connection: close: %s", sqlite3_errmsg(c->db));
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int sq_checkpointer_start(const char *path, struct sq_checkpointer **out, char *err)
{
    struct sq_checkpointer *c = calloc(1, sizeof(*c));
    sigset_t all, old;
    int rc;

    *out = NULL;
    if (c == NULL)
        return errf(err, "%s: checkpoint thread: out of memory", path);
    if (pthread_mutex_init(&c->lock, NULL) != 0 || pthread_cond_init(&c->wake, NULL) != 0) {
        free(c);
        return errf(err, "%s: checkpoint thread: cannot create its lock", path);
    }
    if (open_connection(c, path, err) == -1) {
        free_checkpointer(c);
        return -1;
    }
    /* Signals are the main thread's: the helper starts with all of them blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&c->thread, NULL, checkpoint_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        free_checkpointer(c);
        return errf(err, "%s: cannot start the checkpoint thread: %s", path, strerror(rc));
    }
    *out = c;
    return 0;
}

void sq_checkpointer_poke(struct sq_checkpointer *c)
{
    pthread_mutex_lock(&c->lock);
    c->wanted = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
}

void sq_checkpointer_stop(struct sq_checkpointer *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->quit = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    /* A checkpoint under way ends first: it is bounded by the log's length. */
    pthread_join(c->thread, NULL);
    free_checkpointer(c);
}
