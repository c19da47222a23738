/*
 * queue.c - the signup queue's backend-neutral half: the state machine and
 * queue_transition(), through which every state change goes; the producer's
 * enqueue; the reading side; and the transactions around them, whose log
 * lines are written only once they commit.  The claim, recovery and
 * retention rules are in queue_rules.c; storage is a backend's
 * (queue_sqlite.c, queue_pg.c; see queue_backend.h).
 */
#define LOG_MODULE "queue"

#include "queue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "buf.h"
#include "log.h"
#include "queue_backend.h"
#include "queue_url.h"

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

const char *queue_state_sql_name(enum signup_state st)
{
    return signup_state_name(st);
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

void queue_log_transition(struct queue *q, int64_t id, const char *from, const char *to,
                          const char *detail)
{
    (void)buf_printf(&q->pending, "id=%lld state=%s prev=%s detail=", (long long)id, to, from);
    put_log_quoted(&q->pending, detail ? detail : "");
    end_log_line(q);
}

void queue_log_change(struct queue *q, int64_t id, const char *what, const char *detail)
{
    (void)buf_printf(&q->pending, "id=%lld %s", (long long)id, what);
    if (detail != NULL) {
        buf_puts(&q->pending, " detail=");
        put_log_quoted(&q->pending, detail);
    }
    end_log_line(q);
}

/* Writes the lines of a transaction that committed. */
static void write_pending_log(struct queue *q)
{
    const char *p = q->pending.data;

    if (buf_failed(&q->pending))
        log_warnx("%s: out of memory: log lines of committed changes lost (the history has them)",
                  q->name);
    else if (p != NULL)
        log_emit_lines(LOG_PRIO_INFO, LOG_MODULE, p, q->pending.len);
    buf_reset(&q->pending);
}

int queue_in_transaction(struct queue *q)
{
    return q->ops->in_transaction(q);
}

void queue_global_init(void)
{
    queue_sqlite_global_init();
}

int queue_begin_write(struct queue *q, const char *what, char *err)
{
    return q->ops->begin(q, 1, what, err);
}

int queue_commit(struct queue *q, const char *what, char *err)
{
    if (q->ops->commit(q, what, err) == -1)
        return -1;
    write_pending_log(q);
    return 0;
}

void queue_rollback(struct queue *q)
{
    buf_reset(&q->pending);
    q->ops->rollback(q);
}

/* --- the address hash ---------------------------------------------------- */

int queue_new_hash_key(unsigned char key[QUEUE_HASH_KEY_LEN], char *err)
{
    if (getrandom(key, QUEUE_HASH_KEY_LEN, 0) != (ssize_t)QUEUE_HASH_KEY_LEN)
        return errf(err, "address hash key: getrandom: %s", strerror(errno));
    return 0;
}

int queue_email_hash_hex(const struct queue *q, const char *email, char hex[SHA256_HEX_LEN])
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

/* --- the schema ---------------------------------------------------------- */

enum queue_schema queue_schema_compare(const char *name, int64_t version, size_t known, char *err)
{
    /* A negative version was not written by any reportd: refuse it like a newer one. */
    if (version < 0 || (uint64_t)version > known) {
        errf(err, "%s: schema version %lld is newer than this reportd knows (%zu)", name,
             (long long)version, known);
        return QUEUE_SCHEMA_NEWER;
    }
    return (uint64_t)version == known ? QUEUE_SCHEMA_CURRENT : QUEUE_SCHEMA_OLDER;
}

/* --- opening ------------------------------------------------------------- */

const char *queue_place_name(const struct queue_place *pl)
{
    if (pl->url == NULL)
        return pl->path ? pl->path : "(no queue)";
    return queue_url_has_password(pl->url) ? "postgresql (queue.url)" : pl->url;
}

static int open_place(struct queue **qp, const struct queue_place *pl, int readonly, char *err)
{
    struct queue *q;
    int rc;

    *qp = NULL;
    if ((pl->url == NULL) == (pl->path == NULL))
        return errf(err, "queue: give either a file or a URL");
    q = calloc(1, sizeof(*q));
    if (q == NULL || (q->name = strdup(queue_place_name(pl))) == NULL) {
        free(q);
        return errf(err, "queue: out of memory");
    }
    buf_init(&q->pending);
    q->ops = pl->url != NULL ? &queue_pg_ops : &queue_sqlite_ops;
    rc = q->ops->open(q, pl, readonly, err);
    if (rc != QUEUE_OPEN_OK) {
        buf_free(&q->pending);
        free(q->name);
        free(q);
        return rc;
    }
    *qp = q;
    return QUEUE_OPEN_OK;
}

int queue_open_at(struct queue **qp, const struct queue_place *pl, char *err)
{
    return open_place(qp, pl, 0, err);
}

int queue_open_readonly_at(struct queue **qp, const struct queue_place *pl, char *err)
{
    return open_place(qp, pl, 1, err) == QUEUE_OPEN_OK ? 0 : -1;
}

int queue_open(struct queue **qp, const char *path, char *err)
{
    const struct queue_place pl = {.path = path};

    return open_place(qp, &pl, 0, err);
}

int queue_open_readonly(struct queue **qp, const char *path, char *err)
{
    const struct queue_place pl = {.path = path};

    return open_place(qp, &pl, 1, err) == QUEUE_OPEN_OK ? 0 : -1;
}

void queue_close(struct queue *q)
{
    if (q == NULL)
        return;
    q->ops->close(q);
    buf_free(&q->pending);
    explicit_bzero(q->hash_key, sizeof(q->hash_key));
    free(q->name);
    free(q);
}

const char *queue_path(const struct queue *q)
{
    return q->name;
}

/* --- state changes ------------------------------------------------------ */

/* The rules of a transition, before the backend is asked to make it: 0, or -1 with err. */
static int transition_check(struct queue *q, int64_t id, enum signup_state from,
                            enum signup_state to, const struct transition *t, char *err)
{
    if ((unsigned)from >= SIGNUP_NSTATES || (unsigned)to >= SIGNUP_NSTATES)
        return errf(err, "%s: signup %lld: no such state", q->name, (long long)id);
    if (!transition_allowed(from, to))
        return errf(err, "%s: signup %lld: transition %s -> %s is not allowed", q->name,
                    (long long)id, state_names[from], state_names[to]);
    if (to == SIGNUP_SENDING && (t->claimed_by == NULL || *t->claimed_by == '\0'))
        return errf(err, "%s: signup %lld: a claim needs an owner", q->name, (long long)id);
    return 0;
}

int queue_apply_transition(struct queue *q, int64_t id, enum signup_state from,
                           enum signup_state to, const struct transition *t, int64_t now, char *err)
{
    static const struct transition none;
    const char *owner;
    int64_t next;
    int changed;

    if (t == NULL)
        t = &none;
    if (transition_check(q, id, from, to, t, err) == -1)
        return -1;
    next = t->next_attempt_ms == TRANSITION_KEEP_DUE ? -1
           : t->next_attempt_ms                      ? t->next_attempt_ms
                                                     : now;
    owner = from == SIGNUP_SENDING ? t->owner : NULL;
    changed = q->ops->update_state(q, id, from, to, t, next, owner, now, err);
    if (changed != 1)
        return changed == 0 ? 1 : -1;
    if (q->ops->record_event(q, id, 1, from, to, t->detail, now, err) == -1)
        return -1;
    queue_log_transition(q, id, state_names[from], state_names[to], t->detail);
    return 0;
}

int queue_apply_claims(struct queue *q, const int64_t *ids, const enum signup_state *from, int n,
                       const struct transition *t, int64_t now, char *taken, char *err)
{
    int i, rc;

    if (q->ops->claim_many == NULL) {
        for (i = 0; i < n; i++) {
            rc = queue_apply_transition(q, ids[i], from[i], SIGNUP_SENDING, t, now, err);
            if (rc == -1)
                return -1;
            taken[i] = rc == 0;
        }
        return 0;
    }
    for (i = 0; i < n; i++)
        if (transition_check(q, ids[i], from[i], SIGNUP_SENDING, t, err) == -1)
            return -1;
    if (n > 0 && q->ops->claim_many(q, ids, from, n, t, now, taken, err) == -1)
        return -1;
    for (i = 0; i < n; i++)
        if (taken[i])
            queue_log_transition(q, ids[i], state_names[from[i]], state_names[SIGNUP_SENDING],
                                 t->detail);
    return 0;
}

int queue_transition(struct queue *q, int64_t id, enum signup_state from, enum signup_state to,
                     const struct transition *t, char *err)
{
    int rc;

    /* Inside a caller's transaction the change commits or rolls back with it. */
    if (queue_in_transaction(q))
        return queue_apply_transition(q, id, from, to, t, now_ms(), err);
    if (queue_begin_write(q, "transition", err) == -1)
        return -1;
    rc = queue_apply_transition(q, id, from, to, t, now_ms(), err);
    if (rc == -1 || queue_commit(q, "transition", err) == -1) {
        queue_rollback(q);
        return -1;
    }
    return rc;
}

int queue_transitions(struct queue *q, struct queue_change *v, size_t n, char *err)
{
    int64_t now = now_ms();
    size_t i;

    if (queue_begin_write(q, "transition", err) == -1)
        return -1;
    for (i = 0; i < n; i++) {
        v[i].result = queue_apply_transition(q, v[i].id, v[i].from, v[i].to, v[i].t, now, err);
        if (v[i].result == -1)
            break;
    }
    if (i < n || queue_commit(q, "transition", err) == -1) {
        queue_rollback(q);
        return -1;
    }
    return 0;
}

/* --- producer side ------------------------------------------------------ */

/* 0 and *id of the newest signup for the address (active: one that blocks it), 1 none, -1. */
static int find_address(struct queue *q, const char *email, int active, int64_t *id,
                        const char *what, char *err)
{
    char hex[SHA256_HEX_LEN];
    int rc = queue_email_hash_hex(q, email, hex);

    if (rc == -1)
        return errf(err, "%s: %s: out of memory", q->name, what);
    return q->ops->find_address(q, email, rc == 0 ? hex : NULL, active, id, err);
}

/*
 * Earlier signups of the same batch are already inserted in this
 * transaction, so the one query finds duplicates within the batch too.
 */
static int enqueue_one(struct queue *q, const struct signup *s, int64_t now, int64_t *id,
                       enum enqueue_result *res, char *err)
{
    char *tasks, *skills;
    int rc;

    if (s->email == NULL || s->role == NULL || s->level == NULL)
        return errf(err, "%s: enqueue: email, role and level are required", q->name);
    rc = find_address(q, s->email, 1, id, "find duplicate", err);
    if (rc == 0) {
        *res = ENQUEUE_DUPLICATE;
        return 0;
    }
    if (rc == -1)
        return -1;
    *res = ENQUEUE_ADDED;
    tasks = queue_codec_tasks_json(s);
    skills = queue_codec_skills_json(s);
    if (tasks == NULL || skills == NULL)
        rc = errf(err, "%s: enqueue: out of memory", q->name);
    else
        rc = q->ops->insert(q, s, tasks, skills, now, id, err);
    free(tasks);
    free(skills);
    if (rc == 0)
        queue_log_transition(q, *id, "none", "queued", "enqueued");
    return rc;
}

int queue_enqueue(struct queue *q, const struct signup *s, size_t n, int64_t *ids,
                  enum enqueue_result *res, char *err)
{
    int64_t now = now_ms();
    size_t i;

    if (queue_in_transaction(q)) {
        for (i = 0; i < n; i++)
            if (enqueue_one(q, &s[i], now, &ids[i], &res[i], err) == -1)
                return -1;
        /* Only queue_enqueue_begin() leaves a transaction open: see its comment. */
        buf_reset(&q->pending);
        return 0;
    }
    if (queue_begin_write(q, "enqueue", err) == -1)
        return -1;
    for (i = 0; i < n; i++) {
        if (enqueue_one(q, &s[i], now, &ids[i], &res[i], err) == -1) {
            queue_rollback(q);
            return -1;
        }
    }
    if (queue_commit(q, "enqueue", err) == -1) {
        queue_rollback(q);
        return -1;
    }
    return 0;
}

int queue_enqueue_begin(struct queue *q, char *err)
{
    return queue_begin_write(q, "enqueue", err);
}

int queue_enqueue_commit(struct queue *q, char *err)
{
    if (queue_commit(q, "enqueue", err) == -1) {
        queue_rollback(q);
        return -1;
    }
    return 0;
}

void queue_enqueue_rollback(struct queue *q)
{
    queue_rollback(q);
}

/* --- reading ------------------------------------------------------------ */

/* A snapshot for a multi-statement read, unless a transaction is open already. */
static int begin_read(struct queue *q, int *began, const char *what, char *err)
{
    *began = 0;
    if (queue_in_transaction(q))
        return 0;
    if (q->ops->begin(q, 0, what, err) == -1)
        return -1;
    *began = 1;
    return 0;
}

static int end_read(struct queue *q, int began, int rc, const char *what, char *err)
{
    if (!began)
        return rc;
    if (rc == -1) {
        queue_rollback(q);
        return -1;
    }
    if (queue_commit(q, what, err) == -1) {
        queue_rollback(q);
        return -1;
    }
    return rc;
}

int queue_get(struct queue *q, int64_t id, struct signup_record *r, char *err)
{
    int began, rc;

    if (begin_read(q, &began, "get", err) == -1)
        return -1;
    rc = q->ops->load(q, id, r, err);
    return end_read(q, began, rc, "get", err);
}

int queue_find_email(struct queue *q, const char *email, int64_t *id, char *err)
{
    return find_address(q, email, 0, id, "find address", err);
}

int queue_stats(struct queue *q, struct queue_stats *s, char *err)
{
    int began, rc;

    *s = (struct queue_stats){0};
    if (begin_read(q, &began, "stats", err) == -1)
        return -1;
    rc = q->ops->stats(q, s, err);
    return end_read(q, began, rc, "stats", err);
}

int queue_metrics(struct queue *q, struct queue_metrics *m, char *err)
{
    int began, rc;

    memset(m, 0, sizeof(*m));
    if (begin_read(q, &began, "metrics", err) == -1)
        return -1;
    rc = q->ops->metrics(q, m, err);
    return end_read(q, began, rc, "metrics", err);
}

int queue_list(struct queue *q, int state, queue_list_fn fn, void *arg, char *err)
{
    int began, rc;

    if (state >= SIGNUP_NSTATES)
        return errf(err, "%s: list: no such state", q->name);
    if (begin_read(q, &began, "list", err) == -1)
        return -1;
    rc = q->ops->list(q, state, fn, arg, err);
    return end_read(q, began, rc, "list", err);
}

int queue_history(struct queue *q, int64_t id, queue_event_fn fn, void *arg, char *err)
{
    return q->ops->history(q, id, fn, arg, err);
}

int queue_has_work(struct queue *q, int64_t now, int64_t *next_due_ms, char *err)
{
    return q->ops->has_work(q, now, next_due_ms, err);
}

int queue_mark_attempt(struct queue *q, int64_t id, const char *owner, int64_t now, char *err)
{
    return q->ops->mark_attempt(q, id, owner, now, err);
}

int queue_mark_attempts(struct queue *q, const int64_t *ids, int *result, size_t n,
                        const char *owner, int64_t now, char *err)
{
    size_t i;

    if (n == 1) {
        result[0] = q->ops->mark_attempt(q, ids[0], owner, now, err);
        return result[0] == -1 ? -1 : 0;
    }
    if (queue_begin_write(q, "mark attempts", err) == -1)
        return -1;
    for (i = 0; i < n; i++) {
        result[i] = q->ops->mark_attempt(q, ids[i], owner, now, err);
        if (result[i] == -1)
            break;
    }
    if (i < n || queue_commit(q, "mark attempts", err) == -1) {
        queue_rollback(q);
        return -1;
    }
    return 0;
}
