/*
 * delivery.c - from a claimed signup to a message, and from a transfer's
 * result to the outcome the queue records: backoff, expiry, uncertain
 * outcomes, and the pauses that hold the whole sender back.
 */
#define LOG_MODULE "daemon"
#include "delivery.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "schedule.h"

static const struct config *cfg(const struct delivery *dl)
{
    return &dl->rt->config;
}

void delivery_init(struct delivery *dl, struct runtime *rt, const char *owner)
{
    size_t i;

    memset(dl, 0, sizeof(*dl));
    dl->rt = rt;
    dl->rng = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    for (i = 0; owner[i]; i++)
        dl->rng = (dl->rng ^ (unsigned char)owner[i]) * 0x100000001b3ULL;
    if (dl->rng == 0)
        dl->rng = 1;
}

void delivery_reconfigured(struct delivery *dl, struct runtime *rt)
{
    dl->rt = rt;
    /* A throttling or unreachable relay still wants its pause; a fixed setup may work now. */
    if (dl->pause == PAUSE_CONFIG) {
        dl->pause = PAUSE_NONE;
        dl->pause_until_ms = 0;
        dl->pause_step_ms = 0;
    }
}

/* --- settling without a message ---------------------------------------------- */

void delivery_hand_back(struct job *job, const char *detail, const char *reason, int64_t when_ms)
{
    job_settle(job, job->rec.attempts == 0 ? SIGNUP_QUEUED : SIGNUP_DEFERRED, TALLY_NONE, detail,
               reason, NULL);
    job->t.next_attempt_ms = when_ms <= now_ms() ? TRANSITION_KEEP_DUE : when_ms;
}

static void reject(struct job *job, const char *reason)
{
    char to[LOG_VALUE_MAX], why[LOG_VALUE_MAX];

    job_settle(job, SIGNUP_REJECTED, TALLY_REJECTED, reason, reason, NULL);
    log_notice("id=%lld to=%s status=rejected reason=%s", (long long)job->rec.signup.id,
               log_quoted(job->rec.signup.email ? job->rec.signup.email : "", to, sizeof(to)),
               log_quoted(reason, why, sizeof(why)));
}

static void fail(struct job *job, const char *reason, const char *reply, int attempted)
{
    job_settle(job, SIGNUP_FAILED, TALLY_FAILED, reason, reason, reply);
    job->t.count_attempt = attempted;
}

int64_t delivery_start_by(const struct delivery *dl, const struct job *job)
{
    /* A send must end inside our claim, or another daemon may take it and send again. */
    return job->claim_end_mono - cfg(dl)->timeout_ms - CONFIG_LEASE_MARGIN_MS;
}

int delivery_hand_back_if_late(const struct delivery *dl, struct job *job, int64_t now,
                               int64_t mono)
{
    if (mono <= delivery_start_by(dl, job))
        return 0;
    delivery_hand_back(job, "claim too close to its end; handed back", NULL, now);
    return 1;
}

enum prepare_result delivery_screen(const struct delivery *dl, struct job *job, int64_t now,
                                    int64_t mono)
{
    const struct config *c = cfg(dl);
    struct signup_record *rec = &job->rec;

    if (rec->load_error) {
        reject(job, rec->load_error);
        return PREPARE_SETTLED;
    }
    /*
     * Never attempted and past its lifetime: expired.  One already being
     * retried gets the attempt it was scheduled for (at the latest the end of
     * its lifetime), however late it is claimed; as with a mail server's
     * queue, it fails as expired when that attempt fails too.
     */
    if (rec->attempts == 0 && schedule_expired(c, rec->signup.created_ms, rec->requeued_ms, now)) {
        fail(job, "expired: undelivered within the queue lifetime", rec->last_reply, 0);
        return PREPARE_SETTLED;
    }
    if (delivery_hand_back_if_late(dl, job, now, mono))
        return PREPARE_SETTLED;
    return PREPARE_READY;
}

int delivery_build(void *runtime, void *cookie, struct message *m)
{
    const struct runtime *rt = runtime;
    struct job *job = cookie;

    job->render = runtime_message(rt, &job->rec.signup, now_ms(), m, job->render_error);
    job->built = job->render == RENDER_OK;
    return job->built ? 0 : -1;
}

void delivery_not_built(const struct delivery *dl, struct job *job, int64_t now)
{
    if (job->render == RENDER_INVALID) {
        reject(job, job->render_error);
        return;
    }
    log_warnx("signup %lld: %s", (long long)job->rec.signup.id, job->render_error);
    delivery_hand_back(job, job->render_error, NULL, now + cfg(dl)->retry_min_ms);
}

void delivery_sent_one(struct delivery *dl, int64_t mono_us)
{
    if (cfg(dl)->rate_limit > 0)
        dl->next_send_us = schedule_next_send_us(dl->next_send_us, mono_us, cfg(dl)->rate_limit);
}

/* --- results --------------------------------------------------------------------- */

/* An address inside <>, escaped as log_quoted() escapes but without its quotes. */
static const char *address_for_log(const char *addr, char *out, size_t len)
{
    size_t n;

    log_quoted(addr ? addr : "", out, len);
    n = strlen(out);
    if (n >= 2) {
        memmove(out, out + 1, n - 2);
        out[n - 2] = '\0';
    }
    return out;
}

/* The one line per delivery attempt. */
static void log_attempt(const struct job *job, const char *status, const struct smtp_result *r,
                        int64_t now)
{
    char delay[64], to[LOG_VALUE_MAX], reply[LOG_VALUE_MAX];

    format_duration_ms(now - job->rec.signup.created_ms, delay, sizeof(delay));
    log_notice(
        "id=%lld to=<%s> status=%s reply=%s delay=%s xdelay=%lldms attempt=%d%s%s",
        (long long)job->rec.signup.id, address_for_log(job->rec.signup.email, to, sizeof(to)),
        status, log_quoted(r->reply[0] ? r->reply : r->reason, reply, sizeof(reply)), delay,
        (long long)r->elapsed_ms, job->rec.attempts + 1, job->msg.message_id ? " msgid=" : "",
        job->msg.message_id ? job->msg.message_id : "");
}

/*
 * The whole sender waits: the pause grows (first_ms, doubling up to
 * retry_max) only once the previous one has run out, so that the results
 * of transfers already in flight do not stack it up.
 */
static void pause_all(struct delivery *dl, enum pause_cause cause, int64_t first_ms,
                      const char *reason, int64_t mono)
{
    if (dl->pause_until_ms > mono && dl->pause == cause)
        return;
    if (dl->pause != cause)
        dl->pause_step_ms = 0;
    dl->pause = cause;
    dl->pause_step_ms = schedule_pause_ms(dl->pause_step_ms, first_ms, cfg(dl)->retry_max_ms);
    dl->pause_until_ms = mono + dl->pause_step_ms;
    snprintf(dl->pause_reason, sizeof(dl->pause_reason), "%s", reason);
    log_warnx("%s: pausing all sends for %llds", reason, (long long)(dl->pause_step_ms / 1000));
}

static void on_sent(struct delivery *dl, struct job *job, const struct smtp_result *r)
{
    job_settle(job, SIGNUP_SENT, TALLY_SENT, "delivered", NULL, r->reply);
    job->t.message_id = job->msg.message_id;
    job->t.count_attempt = 1;
    dl->pause = PAUSE_NONE;
    dl->pause_step_ms = 0;
}

static void on_deferred(struct delivery *dl, struct job *job, const struct smtp_result *r,
                        int64_t now)
{
    const struct config *c = cfg(dl);
    int64_t end = schedule_expiry_ms(c, job->rec.signup.created_ms, job->rec.requeued_ms);
    int64_t next = schedule_retry_at(
        now, schedule_backoff_ms(c, job->rec.attempts + 1, schedule_random(&dl->rng)), end);

    if (next == 0) {
        char reason[ERRLEN + 64];

        snprintf(reason, sizeof(reason), "expired: undelivered after %d attempts; last: %.*s",
                 job->rec.attempts + 1, ERRLEN - 1, r->reason);
        fail(job, reason, r->reply, 1);
        return;
    }
    job_settle(job, SIGNUP_DEFERRED, TALLY_DEFERRED, r->reason, r->reason, r->reply);
    job->t.next_attempt_ms = next;
    job->t.count_attempt = 1;
}

/* The data went out and no reply came: it may have been delivered. */
static void on_uncertain(struct delivery *dl, struct job *job, const struct smtp_result *r,
                         int64_t now)
{
    char reason[ERRLEN + 64];

    if (cfg(dl)->uncertain == UNCERTAIN_RESEND) {
        on_deferred(dl, job, r, now);
        return;
    }
    snprintf(reason, sizeof(reason), QUEUE_UNCERTAIN_PREFIX ": %.*s", ERRLEN - 1, r->reason);
    job_settle(job, SIGNUP_HELD, TALLY_HELD, reason, reason, NULL);
    job->t.count_attempt = 1;
}

static void on_config_trouble(struct delivery *dl, struct job *job, const struct smtp_result *r,
                              int64_t now, int64_t mono)
{
    log_critx("SMTP configuration problem, nothing is sent until it is fixed (next try in %llds): "
              "%s%s%s",
              (long long)(DELIVERY_CONFIG_PAUSE_MS / 1000), r->detail,
              r->reply[0] ? "; server said: " : "", r->reply);
    dl->pause = PAUSE_CONFIG;
    dl->pause_step_ms = DELIVERY_CONFIG_PAUSE_MS;
    dl->pause_until_ms = mono + DELIVERY_CONFIG_PAUSE_MS;
    snprintf(dl->pause_reason, sizeof(dl->pause_reason),
             "waiting: SMTP authentication or TLS problem");
    delivery_hand_back(job, dl->pause_reason, dl->pause_reason, now);
}

void delivery_outcome(struct delivery *dl, struct job *job, const struct smtp_result *r,
                      int64_t now, int64_t mono)
{
    char why[ERRLEN + 64];
    const int64_t end =
        schedule_expiry_ms(cfg(dl), job->rec.signup.created_ms, job->rec.requeued_ms);

    switch (r->status) {
    case SMTP_SENT:
        log_attempt(job, "sent", r, now);
        on_sent(dl, job, r);
        break;
    case SMTP_DEFER:
        if (r->uncertain && cfg(dl)->uncertain == UNCERTAIN_HOLD) {
            log_attempt(job, "held", r, now);
            on_uncertain(dl, job, r, now);
            break;
        }
        /* At the end of its lifetime a deferral is the end: say so in the attempt's line. */
        log_attempt(job, now >= end ? "failed" : "deferred", r, now);
        on_deferred(dl, job, r, now);
        break;
    case SMTP_FAIL:
        log_attempt(job, "failed", r, now);
        fail(job, r->reason, r->reply, 1);
        break;
    case SMTP_THROTTLE:
        log_attempt(job, "throttled", r, now);
        snprintf(why, sizeof(why), "relay is throttling us: %.*s", ERRLEN - 1, r->reason);
        pause_all(dl, PAUSE_THROTTLED, cfg(dl)->retry_min_ms, why, mono);
        delivery_hand_back(job, why, r->reason, delivery_resume_at(dl));
        break;
    case SMTP_UNREACHABLE:
        log_attempt(job, "unreachable", r, now);
        snprintf(why, sizeof(why), "relay unreachable: %.*s", ERRLEN - 1, r->reason);
        pause_all(dl, PAUSE_UNREACHABLE,
                  cfg(dl)->retry_min_ms < SCHEDULE_UNREACHABLE_FIRST_MS
                      ? cfg(dl)->retry_min_ms
                      : SCHEDULE_UNREACHABLE_FIRST_MS,
                  why, mono);
        delivery_hand_back(job, why, why, delivery_resume_at(dl));
        break;
    case SMTP_CONFIG:
        log_attempt(job, "waiting", r, now);
        on_config_trouble(dl, job, r, now, mono);
        break;
    case SMTP_NOT_BUILT: /* no attempt: nothing went to the relay */
        delivery_not_built(dl, job, now);
        break;
    case SMTP_NOT_STARTED: /* it waited for a connection until its claim was too short */
        delivery_hand_back(job, "claim too close to its end; handed back", NULL, now);
        break;
    }
}

void delivery_log_recorded(const struct job *job)
{
    /* From the relay's reply to the commit: the window in which a crash leaves an uncertain signup.
     */
    if (job->outcome_us)
        log_debug("id=%lld recorded=%s window=%lldus", (long long)job->rec.signup.id,
                  signup_state_name(job->to), (long long)(monotonic_us() - job->outcome_us));
}

/* --- the whole sender --------------------------------------------------------------- */

int64_t delivery_next_send(const struct delivery *dl)
{
    /* Rounded up: a message never starts before its slot. */
    int64_t pace_ms = (dl->next_send_us + 999) / 1000;

    return dl->pause_until_ms > pace_ms ? dl->pause_until_ms : pace_ms;
}

int delivery_paused(const struct delivery *dl, int64_t mono)
{
    return dl->pause_until_ms > mono;
}

const char *delivery_pause_reason(const struct delivery *dl)
{
    return dl->pause_reason;
}

int64_t delivery_resume_at(const struct delivery *dl)
{
    int64_t left = dl->pause_until_ms - monotonic_ms();

    return now_ms() + (left > 0 ? left : 0);
}

int delivery_config_trouble(const struct delivery *dl)
{
    return dl->pause == PAUSE_CONFIG;
}

int delivery_unreachable(const struct delivery *dl)
{
    return dl->pause == PAUSE_UNREACHABLE;
}
