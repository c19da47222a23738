/*
 * queue_rules.c - the daemon's side of the queue, the same on every
 * backend: which due signups a claim takes and which it rejects as
 * duplicates, when a claim is abandoned and what recovery makes of it, and
 * the retention sweep and the operator's purge.  The backend selects and
 * stores (queue_backend.h); every state change goes through queue.c's
 * queue_apply_transition(), or queue_apply_claims() for a claim's batch.
 */
#define LOG_MODULE "queue"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idn.h"
#include "log.h"
#include "queue_backend.h"

/* --- claims --------------------------------------------------------------- */

/* A due signup whose address already has a report: rejected.  0, or -1 with err. */
static int reject_duplicate(struct queue *q, const struct queue_due *d, int64_t now, char *err)
{
    char detail[ERRLEN];
    struct transition t = {0};

    snprintf(detail, sizeof(detail), "duplicate: address already has signup %lld",
             (long long)d->sent_id);
    t.detail = t.reason = detail;
    return queue_apply_transition(q, d->id, d->state, SIGNUP_REJECTED, &t, now, err) == -1 ? -1 : 0;
}

/*
 * One selection's due signups: the duplicates rejected, the others claimed
 * together (ids[] gets the ones taken).  *moved: how many left the due set.
 *
 * The backend locked the rows for this claim, so nobody else moved them;
 * but the database may refuse a second signup in flight for one address
 * (another daemon claimed that address in the meantime): that one waits.
 */
static int claim_selected(struct queue *q, const struct queue_due *due, int n, const char *owner,
                          int64_t now, int64_t lease_ms, int64_t *ids, int *nids, int *moved,
                          char *err)
{
    int64_t *cid = calloc((size_t)n, sizeof(*cid));
    enum signup_state *from = calloc((size_t)n, sizeof(*from));
    char *taken = calloc((size_t)n, 1);
    char detail[ERRLEN];
    struct transition t = {0};
    int i, nc = 0, rc = 0;

    *moved = 0;
    if (cid == NULL || from == NULL || taken == NULL) {
        free(cid);
        free(from);
        free(taken);
        return errf(err, "%s: claim: out of memory", q->name);
    }
    for (i = 0; i < n && rc == 0; i++) {
        if (due[i].sent_id != 0) {
            rc = reject_duplicate(q, &due[i], now, err);
            *moved += rc == 0;
        } else {
            cid[nc] = due[i].id;
            from[nc++] = due[i].state;
        }
    }
    if (rc == 0) {
        snprintf(detail, sizeof(detail), "claimed by %s", owner);
        t.detail = detail;
        t.claimed_by = owner;
        t.claim_until_ms = now + lease_ms;
        rc = queue_apply_claims(q, cid, from, nc, &t, now, taken, err);
    }
    for (i = 0; i < nc && rc == 0; i++) {
        if (taken[i]) {
            ids[(*nids)++] = cid[i];
            (*moved)++;
        }
    }
    free(cid);
    free(from);
    free(taken);
    return rc;
}

/*
 * A website may insert an address with a Unicode domain (joerg@bücher.example):
 * before the claim compares addresses, each due one is stored in its ASCII
 * form (joerg@xn--bcher-kva.example), the form enqueue stores and SMTP uses.
 * An invalid one is left as it is, for the daemon to reject with the reason.
 */
static int store_ascii_email(struct queue *q, int64_t id, const char *email, char *err)
{
    char idn_err[ERRLEN];
    char *ascii;
    int rc;

    switch (idn_email_to_ascii(email, &ascii, idn_err)) {
    case IDN_CONVERTED:
        break;
    case IDN_NOMEM:
        return errf(err, "%s: claim: out of memory", q->name);
    default:
        return 0;
    }
    rc = q->ops->set_email(q, id, ascii, err);
    if (rc == 0) {
        char what[ERRLEN];
        char quoted[LOG_VALUE_MAX];

        snprintf(what, sizeof(what), "email=%s", log_quoted(ascii, quoted, sizeof(quoted)));
        queue_log_change(q, id, what, "Unicode domain stored in its ASCII form");
    }
    free(ascii);
    return rc;
}

static int ascii_due_domains(struct queue *q, int64_t now, char *err)
{
    int64_t *ids = calloc(QUEUE_MAX_BATCH, sizeof(*ids));
    char **emails = calloc(QUEUE_MAX_BATCH, sizeof(*emails));
    int n = 0, i, rc = 0;

    if (ids == NULL || emails == NULL)
        rc = errf(err, "%s: claim: out of memory", q->name);
    else
        rc = n = q->ops->select_non_ascii_due(q, now, ids, emails, QUEUE_MAX_BATCH, err);
    for (i = 0; rc != -1 && i < n; i++)
        if (emails[i] != NULL && store_ascii_email(q, ids[i], emails[i], err) == -1)
            rc = -1;
    for (i = 0; i < n; i++)
        free(emails[i]);
    free(ids);
    free(emails);
    return rc == -1 ? -1 : 0;
}

/* Moves due signups to sending (or rejected) until max are claimed or none is due. */
static int claim_due(struct queue *q, const char *owner, int64_t now, int64_t lease_ms, int max,
                     int64_t *ids, int *nids, char *err)
{
    struct queue_due *due = calloc((size_t)max, sizeof(*due));
    int n, rc = 0, moved;

    if (due == NULL)
        return errf(err, "%s: claim: out of memory", q->name);
    *nids = 0;
    if (ascii_due_domains(q, now, err) == -1) {
        free(due);
        return -1;
    }
    /* Every round moves a selected signup out of the due set, or stops. */
    while (rc == 0 && *nids < max) {
        n = q->ops->select_due(q, now, max - *nids, due, err);
        if (n <= 0) {
            rc = n;
            break;
        }
        rc = claim_selected(q, due, n, owner, now, lease_ms, ids, nids, &moved, err);
        /* Only skipped ones: the next select would find them again. */
        if (moved == 0)
            break;
    }
    free(due);
    return rc;
}

/* Loads the claimed signups into v; on failure none stays loaded. */
static int load_claimed(struct queue *q, const int64_t *ids, int n, struct signup_record *v,
                        char *err)
{
    int i, rc;

    if (q->ops->load_many != NULL && n > 0) {
        rc = q->ops->load_many(q, ids, n, v, err);
        if (rc == 1)
            errf(err, "%s: claim: a claimed signup vanished", q->name);
        return rc == 0 ? 0 : -1;
    }
    for (i = 0; i < n; i++) {
        rc = q->ops->load(q, ids[i], &v[i], err);
        if (rc != 0) {
            if (rc == 1)
                errf(err, "%s: claim: signup %lld vanished", q->name, (long long)ids[i]);
            while (i-- > 0)
                signup_record_free(&v[i]);
            return -1;
        }
    }
    return 0;
}

int queue_claim(struct queue *q, const char *owner, int64_t now, int64_t lease_ms, int max,
                struct signup_record **out, size_t *n, char *err)
{
    struct signup_record *v = NULL;
    int64_t *ids = NULL;
    int nids = 0;

    *out = NULL;
    *n = 0;
    if (owner == NULL || *owner == '\0')
        return errf(err, "%s: claim: no owner", q->name);
    if (max <= 0)
        return 0;
    if (max > QUEUE_MAX_BATCH)
        max = QUEUE_MAX_BATCH;
    ids = calloc((size_t)max, sizeof(*ids));
    v = calloc((size_t)max, sizeof(*v));
    if (ids == NULL || v == NULL) {
        free(ids);
        free(v);
        return errf(err, "%s: claim: out of memory", q->name);
    }
    if (queue_begin_write(q, "claim", err) == -1)
        goto fail;
    if (claim_due(q, owner, now, lease_ms, max, ids, &nids, err) == -1 ||
        load_claimed(q, ids, nids, v, err) == -1)
        goto fail;
    if (queue_commit(q, "claim", err) == -1) {
        queue_claim_free(v, (size_t)nids);
        v = NULL;
        goto fail;
    }
    free(ids);
    if (nids == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    *n = (size_t)nids;
    return 0;
fail:
    queue_rollback(q);
    free(ids);
    free(v);
    return -1;
}

void queue_claim_free(struct signup_record *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        signup_record_free(&v[i]);
    free(v);
}

/* --- recovery ------------------------------------------------------------- */

static void claims_free(struct queue_claim *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i].owner);
    free(v);
}

/* What an owner "host:pid:start" (or the older "host:pid") says about its process. */
enum owner_status {
    OWNER_ELSEWHERE, /* another host, or not an owner we can read: trust the lease */
    OWNER_ALIVE,     /* that very process still runs here */
    OWNER_GONE,      /* it ran here and is gone (its pid unused, or reused by another) */
};

static enum owner_status owner_status(const char *owner, const char *host)
{
    size_t hlen = host ? strlen(host) : 0;
    unsigned long long start = 0, now_start;
    const char *p;
    char *end;
    long pid;

    if (owner == NULL || host == NULL || strncmp(owner, host, hlen) != 0 || owner[hlen] != ':')
        return OWNER_ELSEWHERE;
    p = owner + hlen + 1;
    errno = 0;
    pid = strtol(p, &end, 10);
    if (errno || end == p || pid <= 0 || (long)(pid_t)pid != pid)
        return OWNER_ELSEWHERE;
    if (*end == ':') {
        p = end + 1;
        start = strtoull(p, &end, 10);
        if (errno || end == p)
            return OWNER_ELSEWHERE;
    }
    if (*end != '\0')
        return OWNER_ELSEWHERE;
    if (kill((pid_t)pid, 0) == -1 && errno == ESRCH)
        return OWNER_GONE;
    /* The pid may have been reused: the start time tells the owner from a newcomer. */
    if (start != 0 && process_start_time((pid_t)pid, &now_start) == 0 && now_start != start)
        return OWNER_GONE;
    return OWNER_ALIVE;
}

/* Why a claim may be taken back, into detail; 0 when it is still held. */
static int claim_abandoned(const struct queue_claim *c, const char *host, int64_t now, char *detail,
                           size_t len)
{
    const char *owner = c->owner ? c->owner : "(nobody)";

    switch (owner_status(c->owner, host)) {
    case OWNER_ALIVE:
        return 0;
    case OWNER_GONE:
        snprintf(detail, len, "claiming process %s is gone", owner);
        return 1;
    case OWNER_ELSEWHERE:
        break;
    }
    if (c->has_until && c->until >= now)
        return 0;
    snprintf(detail, len, "claim by %s expired", owner);
    return 1;
}

/* 1 taken back, 0 still held, -1 error. */
static int recover_one(struct queue *q, const struct queue_claim *c, const char *host, int64_t now,
                       enum uncertain_policy policy, char *err)
{
    struct transition t = {0};
    char detail[ERRLEN + 64], why[ERRLEN];
    enum signup_state to;
    int rc;

    if (!claim_abandoned(c, host, now, why, sizeof(why)))
        return 0;
    if (q->ops->lock_claim != NULL && (rc = q->ops->lock_claim(q, c, err)) != 1)
        return rc == -1 ? -1 : 0;
    t.next_attempt_ms = TRANSITION_KEEP_DUE;
    if (!c->attempted) {
        /* Never attempted: queued again, else a retry; either way due now, in its old place. */
        snprintf(detail, sizeof(detail), "%s", why);
        to = c->attempts == 0 ? SIGNUP_QUEUED : SIGNUP_DEFERRED;
    } else if (policy == UNCERTAIN_HOLD) {
        snprintf(detail, sizeof(detail), "%.*s; " QUEUE_UNCERTAIN_REASON ", held", ERRLEN - 1, why);
        t.reason = QUEUE_UNCERTAIN_REASON;
        to = SIGNUP_HELD;
    } else {
        snprintf(detail, sizeof(detail), "%.*s; " QUEUE_UNCERTAIN_REASON ", sent again", ERRLEN - 1,
                 why);
        t.reason = QUEUE_UNCERTAIN_REASON "; sent again";
        t.count_attempt = 1;
        to = SIGNUP_DEFERRED;
    }
    t.detail = detail;
    rc = queue_apply_transition(q, c->id, SIGNUP_SENDING, to, &t, now, err);
    return rc == -1 ? -1 : rc == 0;
}

int queue_recover(struct queue *q, const char *host, int64_t now, enum uncertain_policy policy,
                  int *n, char *err)
{
    struct queue_claim *claims = NULL;
    size_t nclaims = 0, i;
    int rc = 0;

    *n = 0;
    if (queue_begin_write(q, "recover", err) == -1)
        return -1;
    if (q->ops->select_claims(q, &claims, &nclaims, err) == -1) {
        queue_rollback(q);
        return -1;
    }
    for (i = 0; i < nclaims && rc != -1; i++) {
        rc = recover_one(q, &claims[i], host, now, policy, err);
        if (rc == 1)
            (*n)++;
    }
    claims_free(claims, nclaims);
    if (rc == -1 || queue_commit(q, "recover", err) == -1) {
        queue_rollback(q);
        *n = 0;
        return -1;
    }
    return 0;
}

/* --- retention and purge -------------------------------------------------- */

/*
 * Scrubs one settled signup inside the caller's transaction: the address
 * becomes its keyed hash, the rest of the personal data goes, the address
 * is cut out of reasons, replies and history, and the history tells when
 * and why.  The state does not change.
 */
static int scrub_one(struct queue *q, int64_t id, const char *email, enum signup_state state,
                     const char *why, int64_t now, char *err)
{
    char hex[SHA256_HEX_LEN];
    /* Text without an @ was never an address: there is no hash to keep. */
    int rc = queue_email_hash_hex(q, email, hex);

    if (rc == -1)
        return errf(err, "%s: scrub: out of memory", q->name);
    if (q->ops->scrub(q, id, email, rc == 0 ? hex : NULL, now, err) == -1 ||
        q->ops->record_event(q, id, 1, state, state, why, now, err) == -1)
        return -1;
    queue_log_change(q, id, "scrubbed", why);
    return 0;
}

static void scrub_rows_free(struct queue_scrub_row *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i].email);
}

/* One transaction of the sweep: returns how many were scrubbed, or -1. */
static int scrub_batch(struct queue *q, int64_t cutoff, const char *why, int64_t now, char *err)
{
    struct queue_scrub_row rows[QUEUE_SCRUB_BATCH];
    size_t n = 0, i;
    int rc = 0;

    if (queue_begin_write(q, "scrub", err) == -1)
        return -1;
    if (q->ops->select_scrub_due(q, cutoff, rows, &n, err) == -1) {
        queue_rollback(q);
        return -1;
    }
    for (i = 0; i < n && rc == 0; i++)
        rc = scrub_one(q, rows[i].id, rows[i].email, rows[i].state, why, now, err);
    scrub_rows_free(rows, n);
    if (rc == -1 || queue_commit(q, "scrub", err) == -1) {
        queue_rollback(q);
        return -1;
    }
    return (int)n;
}

int queue_scrub_expired(struct queue *q, int64_t now, int64_t retention_ms, int *n, char *err)
{
    char why[ERRLEN], age[64];
    int batch;

    *n = 0;
    if (retention_ms <= 0)
        return 0;
    if (q->last_scrub_ms != 0 && now >= q->last_scrub_ms &&
        now - q->last_scrub_ms < QUEUE_SCRUB_INTERVAL_MS)
        return 0;
    if (queue_in_transaction(q))
        return errf(err, "%s: scrub: not inside a transaction", q->name);
    /* Set first: a sweep that fails (the lock is busy) is tried again next interval. */
    q->last_scrub_ms = now;
    format_duration_ms(retention_ms, age, sizeof(age));
    snprintf(why, sizeof(why), "personal data scrubbed: settled more than %s ago (queue.retention)",
             age);
    do {
        batch = scrub_batch(q, now - retention_ms, why, now, err);
        if (batch == -1)
            return -1;
        *n += batch;
    } while (batch == QUEUE_SCRUB_BATCH);
    if (*n > 0)
        log_notice("%s: scrubbed the personal data of %d signup%s settled more than %s ago",
                   q->name, *n, *n == 1 ? "" : "s", age);
    return 0;
}

/*
 * A signup being sent is left alone: its sender would record the outcome of
 * a delivery whose record is gone.  A claim whose lease ran out has no
 * sender any more, and must not keep personal data from being deleted.  A
 * sent signup keeps its proof of delivery, so that the address is not sent
 * a second report; any other never reached the subscriber and goes whole.
 */
static int purge_signup(struct queue *q, int64_t id, char *err)
{
    struct queue_purge_target t;
    int64_t now = now_ms();
    int rc = q->ops->purge_target(q, id, &t, err);

    if (rc != 0)
        return rc == 1 ? PURGE_NONE : -1;
    if (t.state == SIGNUP_SENDING && t.claim_until >= now) {
        errf(err, "%s: signup %lld is being sent", q->name, (long long)id);
        rc = PURGE_IN_FLIGHT;
    } else if (t.state == SIGNUP_SENT) {
        rc = t.scrubbed ? 0
                        : scrub_one(q, id, t.email, t.state,
                                    "personal data scrubbed: purged by operator", now, err);
        rc = rc == -1 ? -1 : PURGE_SCRUBBED;
    } else {
        rc = q->ops->delete_signup(q, id, err);
        if (rc == 0)
            queue_log_change(q, id, "purged", NULL);
        rc = rc == -1 ? -1 : PURGE_DELETED;
    }
    free(t.email);
    return rc;
}

int queue_purge(struct queue *q, int64_t id, char *err)
{
    int rc;

    /* Inside a caller's transaction the purge commits or rolls back with it. */
    if (queue_in_transaction(q))
        return purge_signup(q, id, err);
    if (queue_begin_write(q, "purge", err) == -1)
        return -1;
    rc = purge_signup(q, id, err);
    if (rc == -1 || queue_commit(q, "purge", err) == -1) {
        queue_rollback(q);
        return -1;
    }
    return rc;
}
