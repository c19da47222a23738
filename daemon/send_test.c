/*
 * send_test.c - `reportd send-test`: a sample report through the configured
 * relay to an operator, outside the queue (the one-report-per-address rule
 * is not touched), with the relay's reply printed.
 */
#define LOG_MODULE "reportd"
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_util.h"
#include "message.h"
#include "runtime.h"
#include "signup.h"
#include "smtp.h"

/* sysexits' EX_UNAVAILABLE: the relay refused the message for good. */
#define EXIT_UNAVAILABLE 69
/* How long one smtp_poll() call may wait before the loop looks again. */
#define SEND_TEST_POLL_MS 1000

struct send_test_outcome {
    int done;
    struct smtp_result r;
};

static void send_test_done(void *arg, const struct smtp_result *r)
{
    struct send_test_outcome *out = arg;

    out->r = *r;
    out->done = 1;
}

/* The role and level asked for, or the first of each; NULL (printed) when unknown. */
static const struct role_level *pick_sample(const struct runtime *rt, const struct options *o,
                                            const struct role **role)
{
    const struct role_level *level;

    *role = o->role ? roles_find(&rt->roles, o->role) : &rt->roles.v[0];
    if (*role == NULL) {
        fprintf(stderr, "reportd: send-test: no role \"%s\" in %s\n", o->role,
                rt->config.roles_dir);
        return NULL;
    }
    level = o->level ? role_find_level(*role, o->level) : &(*role)->levels[0];
    if (level == NULL)
        fprintf(stderr, "reportd: send-test: role %s has no level \"%s\"\n", (*role)->id, o->level);
    return level;
}

/* Builds the sample message for o->to; 0, or an exit status (printed). */
static int build_sample_message(const struct runtime *rt, const struct options *o,
                                struct message *m)
{
    const struct role *role;
    const struct role_level *level = pick_sample(rt, o, &role);
    struct signup s;
    char err[ERRLEN];
    int status = 0;

    if (level == NULL)
        return EXIT_USAGE;
    if (runtime_sample_signup(&s, role, level) == -1) {
        signup_free(&s);
        fprintf(stderr, "reportd: out of memory\n");
        return EXIT_OSERR;
    }
    free(s.email);
    s.email = strdup(o->to);
    /* Now, so each test carries its own Message-ID and date. */
    s.created_ms = now_ms();
    if (s.email == NULL) {
        fprintf(stderr, "reportd: out of memory\n");
        status = EXIT_OSERR;
    } else if (runtime_message(rt, &s, now_ms(), m, err) != RENDER_OK) {
        fprintf(stderr, "reportd: send-test: %s\n", err);
        status = EXIT_SOFTWARE;
    } else {
        printf("sending a sample report (role %s, level %s) to %s via %s\n", role->id, level->id,
               o->to, rt->config.smtp_url);
    }
    signup_free(&s);
    return status;
}

/* Submits m and waits for its outcome; 0, or an exit status (printed). */
static int deliver_once(struct smtp *smtp, struct message *m, struct send_test_outcome *outcome)
{
    char err[ERRLEN];

    memset(outcome, 0, sizeof(*outcome));
    if (smtp_submit(smtp, m, NULL, 1, 0, err) == -1) {
        fprintf(stderr, "reportd: send-test: %s\n", err);
        return EXIT_SOFTWARE;
    }
    while (!outcome->done) {
        if (smtp_poll(smtp, SEND_TEST_POLL_MS, send_test_done, outcome, err) == -1) {
            fprintf(stderr, "reportd: send-test: %s\n", err);
            return EXIT_SOFTWARE;
        }
        if (!outcome->done && smtp_in_flight(smtp) == 0) {
            fprintf(stderr, "reportd: send-test: the transfer ended without an outcome\n");
            return EXIT_SOFTWARE;
        }
    }
    return 0;
}

static int send_test_status(const struct send_test_outcome *out)
{
    const struct smtp_result *r = &out->r;
    const char *reply = r->reply[0] ? r->reply : "(no reply)";

    printf("relay reply: %s\n", reply);
    if (r->detail[0])
        printf("detail: %s\n", r->detail);
    switch (r->status) {
    case SMTP_SENT:
        printf("sent\n");
        return 0;
    case SMTP_DEFER:
    case SMTP_THROTTLE:
        fprintf(stderr, "reportd: send-test: temporary failure; try again later\n");
        return EXIT_TEMPFAIL;
    case SMTP_UNREACHABLE:
        fprintf(stderr, "reportd: send-test: the relay cannot be reached: %s\n", r->reason);
        return EXIT_TEMPFAIL;
    case SMTP_FAIL:
        fprintf(stderr, "reportd: send-test: the relay refused the message\n");
        return EXIT_UNAVAILABLE;
    case SMTP_CONFIG:
        fprintf(stderr, "reportd: send-test: authentication or TLS problem: check the smtp "
                        "settings\n");
        return EXIT_CONFIG;
    case SMTP_NOT_BUILT:   /* submitted built: cannot happen */
    case SMTP_NOT_STARTED: /* submitted without a start_by: cannot happen */
        break;
    }
    return EXIT_SOFTWARE;
}

/*
 * Outside the queue on purpose: nothing is inserted, so the one-report-per-
 * address rule never sees this address, and the operator can repeat it.
 */
int cmd_send_test(const struct options *o)
{
    struct send_test_outcome outcome;
    struct runtime rt;
    struct smtp *smtp = NULL;
    struct message m;
    char err[ERRLEN];
    int status;

    if (email_validate(o->to, err) == -1) {
        fprintf(stderr, "reportd: send-test: --to: %s\n", err);
        return EXIT_USAGE;
    }
    if (load_runtime(o, &rt, 1) == -1)
        return EXIT_CONFIG;
    memset(&m, 0, sizeof(m));
    status = build_sample_message(&rt, o, &m);
    if (status == 0 && smtp_open(&smtp, &rt.config, err) == -1) {
        fprintf(stderr, "reportd: send-test: %s\n", err);
        status = EXIT_CONFIG;
    }
    if (status == 0)
        status = deliver_once(smtp, &m, &outcome);
    if (status == 0)
        status = send_test_status(&outcome);
    smtp_free(smtp);
    message_free(&m);
    runtime_free(&rt);
    return status;
}
