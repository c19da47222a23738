/*
 * enqueue_file.c - streaming a file of signups into the queue in batches,
 * all in one transaction: memory holds one batch and the ids, not the file.
 */
#define LOG_MODULE "enqueue"
#include "enqueue_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue.h"

struct run {
    const struct queue_place *place;
    struct queue *q; /* opened at the first batch: a file bad early never touches the database */
    struct signup batch[ENQUEUE_BATCH];
    size_t n;
    int64_t batch_ids[ENQUEUE_BATCH];
    enum enqueue_result batch_res[ENQUEUE_BATCH];
    int64_t *ids; /* every signup's id in file order, negated for a duplicate */
    size_t nids, cap;
    size_t added, bad;
};

static void drop_batch(struct run *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        signup_free(&r->batch[i]);
    r->n = 0;
}

/* The first bad signup ends the writing: roll back at once, so the write lock is not held. */
static void stop_writing(struct run *r)
{
    drop_batch(r);
    if (r->q != NULL) {
        queue_enqueue_rollback(r->q);
        queue_close(r->q);
        r->q = NULL;
    }
}

static int keep_id(struct run *r, int64_t id, char *err)
{
    if (r->nids == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : ENQUEUE_BATCH;
        int64_t *v;

        if (cap > INTAKE_MAX_SIGNUPS)
            cap = INTAKE_MAX_SIGNUPS;
        v = cap > r->nids ? realloc(r->ids, cap * sizeof(*v)) : NULL;
        if (v == NULL)
            return errf(err, "out of memory");
        r->ids = v;
        r->cap = cap;
    }
    r->ids[r->nids++] = id;
    return 0;
}

/* Inserts the batch in the one transaction, opening it first.  -1 with err. */
static int flush(struct run *r, char *err)
{
    size_t i;
    int rc = 0;

    if (r->q == NULL) {
        if (queue_open_at(&r->q, r->place, err) != 0) {
            r->q = NULL;
            return -1;
        }
        if (queue_enqueue_begin(r->q, err) == -1)
            return -1;
    }
    if (r->n > 0 && queue_enqueue(r->q, r->batch, r->n, r->batch_ids, r->batch_res, err) == -1)
        return -1;
    for (i = 0; i < r->n && rc == 0; i++) {
        if (r->batch_res[i] == ENQUEUE_DUPLICATE) {
            fprintf(stderr, "reportd: %s: already has a report (signup %lld); not queued again\n",
                    r->batch[i].email, (long long)r->batch_ids[i]);
            rc = keep_id(r, -r->batch_ids[i], err);
        } else {
            r->added++;
            rc = keep_id(r, r->batch_ids[i], err);
        }
    }
    drop_batch(r);
    return rc;
}

/* Takes a read signup: validates it, and batches it while the file is still good. */
static int take(struct run *r, struct intake *in, struct signup *s, const struct intake_pos *pos,
                const struct roles *roles, char *err)
{
    char why[ERRLEN];

    if (signup_ascii_email(s, why) == -1 || signup_validate(s, roles, why) == -1) {
        fprintf(stderr, "reportd: %s:%lu:%lu: signups[%zu].%s\n", intake_name(in), pos->line,
                pos->column, pos->index, why);
        r->bad++;
        stop_writing(r);
    }
    if (r->bad) {
        signup_free(s);
        return 0;
    }
    r->batch[r->n++] = *s;
    return r->n == ENQUEUE_BATCH ? flush(r, err) : 0;
}

static int finish(struct run *r, const char *name, char *err)
{
    char quoted[LOG_VALUE_MAX];
    size_t i;

    if (flush(r, err) == -1 || queue_enqueue_commit(r->q, err) == -1)
        return -1;
    for (i = 0; i < r->nids; i++)
        if (r->ids[i] > 0)
            printf("%lld\n", (long long)r->ids[i]);
    log_info("file=%s enqueued=%zu duplicates=%zu", log_quoted(name, quoted, sizeof(quoted)),
             r->added, r->nids - r->added);
    return 0;
}

int enqueue_file(struct intake *in, const struct roles *roles, const struct queue_place *place)
{
    struct run *r = calloc(1, sizeof(*r));
    struct intake_pos pos = {0};
    struct signup s;
    char err[ERRLEN];
    int status = 0;

    if (r == NULL) {
        fprintf(stderr, "reportd: out of memory\n");
        return EXIT_OSERR;
    }
    r->place = place;
    for (;;) {
        enum intake_status st = intake_next(in, &s, &pos, err);

        if (st == INTAKE_END)
            break;
        if (st == INTAKE_FATAL) {
            fprintf(stderr, "reportd: %s\n", err);
            status = EXIT_DATAERR;
            break;
        }
        if (st == INTAKE_BAD) {
            fprintf(stderr, "reportd: %s\n", err);
            r->bad++;
            stop_writing(r);
            continue;
        }
        if (take(r, in, &s, &pos, roles, err) == -1) {
            fprintf(stderr, "reportd: %s\n", err);
            status = EXIT_IOERR;
            break;
        }
    }
    if (status == 0 && r->bad)
        status = EXIT_DATAERR;
    if (status == 0 && finish(r, intake_name(in), err) == -1) {
        fprintf(stderr, "reportd: %s\n", err);
        status = EXIT_IOERR;
    }
    if (status != 0)
        stop_writing(r);
    else
        queue_close(r->q);
    free(r->ids);
    free(r);
    return status;
}
