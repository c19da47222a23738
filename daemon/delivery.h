/*
 * delivery.h - what happens to one claimed signup: it is rendered into a
 * message (or settled without one), and the transport's result becomes the
 * outcome the queue records.  The whole sender's pacing lives here too: the
 * rate limit, and the pauses a throttling, unreachable or misconfigured
 * relay calls for.  Every time given as "mono" is monotonic; "now" is the
 * wall clock, used only for what the queue stores.
 */
#ifndef REPORTD_DELIVERY_H
#define REPORTD_DELIVERY_H

#include <stdint.h>

#include "jobs.h"
#include "runtime.h"
#include "smtp.h"

/* After an authentication or TLS failure, wait this long before trying the server again. */
#define DELIVERY_CONFIG_PAUSE_MS ((int64_t)60 * 1000)

enum pause_cause {
    PAUSE_NONE,
    PAUSE_THROTTLED,   /* the relay asked us to slow down */
    PAUSE_UNREACHABLE, /* no word from the relay */
    PAUSE_CONFIG,      /* it refused our authentication or TLS */
};

struct delivery {
    struct runtime *rt;
    uint64_t rng; /* jitter */

    enum pause_cause pause;
    int64_t pause_until_ms; /* mono: no new sends before this */
    int64_t pause_step_ms;  /* the current pause, doubling while the cause persists */
    char pause_reason[ERRLEN];
    int64_t next_send_us; /* monotonic µs: the rate limit's next free moment */
};

void delivery_init(struct delivery *dl, struct runtime *rt, const char *owner);
/* After a reload: the new configuration applies; a fixed relay setup may work now. */
void delivery_reconfigured(struct delivery *dl, struct runtime *rt);

enum prepare_result {
    PREPARE_READY,   /* the job may be sent */
    PREPARE_SETTLED, /* it may not (invalid, expired, claim too short): record its outcome */
};

/*
 * When a transfer starting at mono could outlast job's claim, settles it as
 * handed back and returns 1; else 0.  Asked when it is screened and again
 * when it goes out, since a message built ahead may wait for a connection.
 */
int delivery_hand_back_if_late(const struct delivery *dl, struct job *job, int64_t now,
                               int64_t mono);

/*
 * The latest moment (monotonic) job's transfer may start and still end
 * inside its claim: what the transport is told as its start_by.
 */
int64_t delivery_start_by(const struct delivery *dl, const struct job *job);

/* Whether a claimed job may be sent at all; if not, it is settled. */
enum prepare_result delivery_screen(const struct delivery *dl, struct job *job, int64_t now,
                                    int64_t mono);

/*
 * Renders job's report into m: an smtp_build_fn (runtime is the struct
 * runtime, cookie the job), run on the daemon's thread for a message built
 * ahead or on a connection's worker.  It reads only the runtime and writes
 * only the job, so several run at once.  0, or -1 with the job's render and
 * render_error set; the outcome of a failure is settled when the transport
 * reports SMTP_NOT_BUILT.
 */
int delivery_build(void *runtime, void *cookie, struct message *m);

/* Settles a job whose message could not be built: its own data rejected, our trouble retried. */
void delivery_not_built(const struct delivery *dl, struct job *job, int64_t now);

/* The rate limit counts a message handed to a connection at mono_us. */
void delivery_sent_one(struct delivery *dl, int64_t mono_us);

/* Turns a transfer's result into the job's outcome, and logs the attempt. */
void delivery_outcome(struct delivery *dl, struct job *job, const struct smtp_result *r,
                      int64_t now, int64_t mono);

/*
 * Gives a claimed signup back untried: no attempt is counted, and it is due
 * again at when_ms (wall), keeping its place in line when that is now.
 * reason, when not NULL, is stored as the signup's reason.
 */
void delivery_hand_back(struct job *job, const char *detail, const char *reason, int64_t when_ms);

/* One line once the queue has recorded an outcome (debug). */
void delivery_log_recorded(const struct job *job);

/* The earliest moment a new message may start (mono): after any pause and the rate limit. */
int64_t delivery_next_send(const struct delivery *dl);
int delivery_paused(const struct delivery *dl, int64_t mono);
/* Why the sender is paused, for signups handed back meanwhile. */
const char *delivery_pause_reason(const struct delivery *dl);
/* When (wall) a signup handed back during the pause is due again. */
int64_t delivery_resume_at(const struct delivery *dl);
/* The last attempt failed on authentication or TLS. */
int delivery_config_trouble(const struct delivery *dl);
/* The relay could not be reached at the last attempt. */
int delivery_unreachable(const struct delivery *dl);

#endif
