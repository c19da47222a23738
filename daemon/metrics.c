/*
 * metrics.c - struct queue_metrics as Prometheus text: one family after
 * another, each with HELP and TYPE, samples in a fixed order so that two
 * runs over the same queue print the same text.
 */
#include "metrics.h"

#include <stdio.h>

/* The states a claim can end in: every move out of sending the state machine has. */
static const enum signup_state claim_outcomes[] = {
    SIGNUP_SENT, SIGNUP_DEFERRED, SIGNUP_FAILED, SIGNUP_HELD, SIGNUP_REJECTED, SIGNUP_QUEUED,
};

/* Milliseconds as seconds, without trailing zeros: 10 -> "0.01", 1500 -> "1.5", 3000 -> "3". */
static void put_seconds(struct buf *b, int64_t ms)
{
    int64_t frac;
    char digits[4];
    int n;

    if (ms < 0)
        ms = 0;
    frac = ms % 1000;
    buf_printf(b, "%lld", (long long)(ms / 1000));
    if (frac == 0)
        return;
    snprintf(digits, sizeof(digits), "%03lld", (long long)frac);
    for (n = 3; n > 0 && digits[n - 1] == '0'; n--)
        digits[n - 1] = '\0';
    buf_printf(b, ".%s", digits);
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void signups_by_state(struct buf *b, const struct queue_metrics *m)
{
    int s;

    family(b, "reportd_signups", "gauge", "Signups in the queue, by state.");
    for (s = 0; s < SIGNUP_NSTATES; s++)
        buf_printf(b, "reportd_signups{state=\"%s\"} %lld\n",
                   signup_state_name((enum signup_state)s), (long long)m->count[s]);
}

static void oldest_waiting(struct buf *b, const struct queue_metrics *m, int64_t now)
{
    family(b, "reportd_oldest_waiting_age_seconds", "gauge",
           "Age of the oldest queued or deferred signup; 0 when none waits.");
    buf_puts(b, "reportd_oldest_waiting_age_seconds ");
    put_seconds(b, m->oldest_waiting_ms ? now - m->oldest_waiting_ms : 0);
    buf_putc(b, '\n');
}

static void attempts_and_outcomes(struct buf *b, const struct queue_metrics *m)
{
    size_t i;

    family(b, "reportd_delivery_attempts_total", "counter",
           "Delivery attempts made, over the signups in the queue.");
    buf_printf(b, "reportd_delivery_attempts_total %lld\n", (long long)m->attempts);
    family(b, "reportd_claim_outcomes_total", "counter",
           "Claims ended, by the state the signup went to (sent, deferred, failed, held, "
           "rejected; queued: handed back untried), from the signups' history.");
    for (i = 0; i < sizeof(claim_outcomes) / sizeof(claim_outcomes[0]); i++)
        buf_printf(b, "reportd_claim_outcomes_total{outcome=\"%s\"} %lld\n",
                   signup_state_name(claim_outcomes[i]), (long long)m->outcomes[claim_outcomes[i]]);
}

static void reply_codes(struct buf *b, const struct queue_metrics *m)
{
    int code;

    family(b, "reportd_relay_last_reply_signups", "gauge",
           "Signups by the relay's last reply to them: its class and code (none: a reply "
           "without a code).");
    for (code = 1; code < QUEUE_REPLY_CODES; code++)
        if (m->last_reply[code] > 0)
            buf_printf(b, "reportd_relay_last_reply_signups{class=\"%dxx\",code=\"%d\"} %lld\n",
                       code / 100, code, (long long)m->last_reply[code]);
    if (m->last_reply[0] > 0)
        buf_printf(b, "reportd_relay_last_reply_signups{class=\"none\",code=\"none\"} %lld\n",
                   (long long)m->last_reply[0]);
}

static void latency(struct buf *b, const struct queue_metrics *m)
{
    static const int64_t bounds[QUEUE_LATENCY_BUCKETS] = QUEUE_LATENCY_BOUNDS_MS;
    size_t i;

    family(b, "reportd_delivery_latency_seconds", "histogram",
           "Time from a signup's creation to its successful send.");
    for (i = 0; i < QUEUE_LATENCY_BUCKETS; i++) {
        buf_puts(b, "reportd_delivery_latency_seconds_bucket{le=\"");
        put_seconds(b, bounds[i]);
        buf_printf(b, "\"} %lld\n", (long long)m->latency_le[i]);
    }
    buf_printf(b, "reportd_delivery_latency_seconds_bucket{le=\"+Inf\"} %lld\n",
               (long long)m->latency_count);
    buf_puts(b, "reportd_delivery_latency_seconds_sum ");
    put_seconds(b, m->latency_sum_ms);
    buf_printf(b, "\nreportd_delivery_latency_seconds_count %lld\n", (long long)m->latency_count);
}

static void last_success(struct buf *b, const struct queue_metrics *m)
{
    family(b, "reportd_last_success_timestamp_seconds", "gauge",
           "Unix time of the last successful send; 0 when none.");
    buf_puts(b, "reportd_last_success_timestamp_seconds ");
    put_seconds(b, m->last_sent_ms);
    buf_putc(b, '\n');
}

int metrics_format(const struct queue_metrics *m, int64_t now_ms, struct buf *out)
{
    signups_by_state(out, m);
    oldest_waiting(out, m, now_ms);
    attempts_and_outcomes(out, m);
    reply_codes(out, m);
    latency(out, m);
    last_success(out, m);
    return buf_failed(out) ? -1 : 0;
}
