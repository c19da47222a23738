/*
 * queue_copy.c - moving a live site's queue from SQLite into PostgreSQL
 * (`reportd queue copy --to URL`): every signup with its state and history,
 * through the backend-neutral reading side and the target backend's copy
 * operations, so that neither backend knows of the other.
 */
#define LOG_MODULE "queue"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue_backend.h"

struct copy {
    struct queue *from, *to;
    int64_t id;     /* the signup whose history is being copied */
    int64_t copied; /* signups copied so far */
    int failed;
    char *err;
};

static int copy_event(void *arg, const struct queue_event *ev)
{
    struct copy *c = arg;

    /* Events as they were, the creation event (no from state) included. */
    if (c->to->ops->record_event(c->to, c->id, ev->has_from, ev->from, ev->to, ev->detail,
                                 ev->at_ms, c->err) == -1) {
        c->failed = 1;
        return 1;
    }
    return 0;
}

static int copy_one(void *arg, const struct signup_record *r)
{
    struct copy *c = arg;
    char *tasks = queue_codec_tasks_json(&r->signup), *skills = queue_codec_skills_json(&r->signup);
    int rc = -1;

    if (tasks == NULL || skills == NULL)
        errf(c->err, "%s: copy: out of memory", c->from->name);
    else
        rc = c->to->ops->copy_row(c->to, r, tasks, skills, c->err);
    free(tasks);
    free(skills);
    if (rc == -1) {
        c->failed = 1;
        return 1;
    }
    c->id = r->signup.id;
    c->copied++;
    if (queue_history(c->from, r->signup.id, copy_event, c, c->err) == -1)
        c->failed = 1;
    return c->failed;
}

/* Refuses to copy while a daemon holds claims in from, or into a queue that has signups. */
static int check_sides(struct queue *from, struct queue *to, char *err)
{
    struct queue_stats st;
    int i;

    if (queue_stats(from, &st, err) == -1)
        return -1;
    if (st.count[SIGNUP_SENDING] > 0)
        return errf(err,
                    "%s: %lld signup%s being sent: a daemon holds claims; stop every daemon "
                    "(and let a stopped one's claims be recovered by `reportd run --drain`) "
                    "before copying",
                    from->name, (long long)st.count[SIGNUP_SENDING],
                    st.count[SIGNUP_SENDING] == 1 ? " is" : "s are");
    if (queue_stats(to, &st, err) == -1)
        return -1;
    for (i = 0; i < SIGNUP_NSTATES; i++)
        if (st.count[i] > 0)
            return errf(err, "%s: already has signups; copy into an empty database", to->name);
    return 0;
}

int queue_copy(struct queue *from, const struct queue_place *to_place, int64_t *n, char *err)
{
    struct copy c = {.from = from, .err = err};
    struct queue *to;
    int rc = -1;

    *n = 0;
    if (queue_open_at(&to, to_place, err) != QUEUE_OPEN_OK)
        return -1;
    c.to = to;
    if (to->ops->copy_row == NULL) {
        errf(err, "%s: cannot copy into this kind of queue; give a postgresql:// URL", to->name);
        goto out;
    }
    /* from's write lock: no daemon claims and no producer inserts until the copy is done. */
    if (queue_begin_write(from, "copy", err) == -1)
        goto out;
    if (queue_begin_write(to, "copy", err) == -1 || check_sides(from, to, err) == -1 ||
        to->ops->copy_begin(to, err) == -1)
        goto rollback;
    if (queue_list(from, -1, copy_one, &c, err) == -1 || c.failed)
        goto rollback;
    if (to->ops->copy_end(to, from->hash_key, err) == -1 || queue_commit(to, "copy", err) == -1)
        goto rollback;
    queue_rollback(from);
    *n = c.copied;
    rc = 0;
    goto out;
rollback:
    queue_rollback(to);
    queue_rollback(from);
out:
    queue_close(to);
    return rc;
}
