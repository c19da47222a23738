/* commands.c - the work behind each `reportd COMMAND`, returning an exit status. */
#define LOG_MODULE "reportd"
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "enqueue_file.h"
#include "intake.h"
#include "log.h"
#include "message.h"
#include "queue.h"
#include "runtime.h"
#include "smtp.h"
#include "smtp_capture.h"

/* Command outcomes beyond sysexits: the signup is not in a state that allows it. */
#define EXIT_REFUSED 1

static const char *config_path_of(const struct options *o)
{
    const char *env;

    if (o->config_path)
        return o->config_path;
    env = getenv(CONFIG_ENV);
    return env && *env ? env : CONFIG_DEFAULT_PATH;
}

static void print_diag(const struct diag *d)
{
    fputs(buf_str(&d->text), stderr);
}

/* Config alone: enough for the queue commands, which must work when roles are broken. */
static int load_config(const struct options *o, struct config *c)
{
    struct diag d;
    int rc;

    diag_init(&d);
    rc = config_load(c, config_path_of(o), &d);
    if (rc == -1)
        print_diag(&d);
    diag_free(&d);
    return rc;
}

static int load_runtime(const struct options *o, struct runtime *rt, int with_templates)
{
    struct diag d;
    int rc;

    diag_init(&d);
    rc = with_templates ? runtime_load(rt, config_path_of(o), &d)
                        : runtime_load_data(rt, config_path_of(o), &d);
    if (rc == -1)
        print_diag(&d);
    diag_free(&d);
    return rc;
}

/* Read-only commands open without the write lock: they work while a website holds a long write. */
enum queue_access { QUEUE_READ, QUEUE_WRITE };

static int open_queue(const struct config *c, struct queue **q, enum queue_access access)
{
    char err[ERRLEN];
    int rc = access == QUEUE_READ ? queue_open_readonly(q, c->queue_path, err)
                                  : queue_open(q, c->queue_path, err);

    if (rc != 0) {
        fprintf(stderr, "reportd: %s\n", err);
        return -1;
    }
    return 0;
}

int cmd_check_config(const struct options *o)
{
    struct runtime rt;

    if (load_runtime(o, &rt, 1) == -1)
        return EXIT_CONFIG;
    printf("%s: OK (%zu role%s, templates in %s)\n", config_path_of(o), rt.roles.n,
           rt.roles.n == 1 ? "" : "s", rt.config.templates_dir);
    runtime_free(&rt);
    return 0;
}

/* --- enqueue ------------------------------------------------------------ */

static int signup_from_options(const struct options *o, struct signup *s, char *err)
{
    size_t i;

    signup_init(s);
    if (o->email == NULL || o->role == NULL || o->level == NULL)
        return errf(err, "%s: required",
                    o->email == NULL  ? "email"
                    : o->role == NULL ? "role"
                                      : "level");
    s->email = strdup(o->email);
    s->role = strdup(o->role);
    s->level = strdup(o->level);
    s->name = o->name ? strdup(o->name) : NULL;
    if (!s->email || !s->role || !s->level || (o->name && !s->name))
        return errf(err, "out of memory");
    for (i = 0; i < o->ntasks; i++)
        if (intake_add_task_arg(s, o->tasks[i], err) == -1)
            return -1;
    for (i = 0; i < o->nskills; i++)
        if (signup_add_skill(s, o->skills[i]) == -1)
            return errf(err, "skills: out of memory");
    if (o->years && intake_set_years(s, o->years, err) == -1)
        return -1;
    return 0;
}

int cmd_enqueue(const struct options *o)
{
    struct runtime rt;
    struct intake *in = NULL;
    struct signup s;
    struct queue *q;
    int64_t id;
    enum enqueue_result res;
    char err[ERRLEN];
    int status = 0;

    signup_init(&s);
    if (o->file ? intake_open(&in, o->file, err) : signup_from_options(o, &s, err)) {
        fprintf(stderr, "reportd: %s\n", err);
        signup_free(&s);
        return EXIT_DATAERR;
    }
    if (load_runtime(o, &rt, 0) == -1) {
        intake_close(in);
        signup_free(&s);
        return EXIT_CONFIG;
    }
    if (in != NULL) {
        status = enqueue_file(in, &rt.roles, rt.config.queue_path);
        goto out;
    }
    if (signup_validate(&s, &rt.roles, err) == -1) {
        fprintf(stderr, "reportd: %s\n", err);
        status = EXIT_DATAERR;
        goto out;
    }
    if (open_queue(&rt.config, &q, QUEUE_WRITE) == -1) {
        status = EXIT_IOERR;
        goto out;
    }
    if (queue_enqueue(q, &s, 1, &id, &res, err) == -1) {
        fprintf(stderr, "reportd: %s\n", err);
        status = EXIT_IOERR;
    } else if (res == ENQUEUE_ADDED) {
        printf("%lld\n", (long long)id);
    } else {
        fprintf(stderr, "reportd: %s: already has a report (signup %lld); not queued again\n",
                s.email, (long long)id);
    }
    queue_close(q);
out:
    runtime_free(&rt);
    intake_close(in);
    signup_free(&s);
    return status;
}

/* --- status ------------------------------------------------------------- */

/* JSON string output for --json; the values are ours or already validated UTF-8. */
static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_status_json(const struct queue_stats *st, int64_t now)
{
    int i;

    printf("{\"counts\":{");
    for (i = 0; i < SIGNUP_NSTATES; i++)
        printf("%s\"%s\":%lld", i ? "," : "", signup_state_name((enum signup_state)i),
               (long long)st->count[i]);
    printf("},\"uncertain\":%lld,\"oldest_waiting_seconds\":", (long long)st->uncertain);
    if (st->oldest_waiting_ms)
        printf("%lld", (long long)((now - st->oldest_waiting_ms) / 1000));
    else
        printf("null");
    printf(",\"last_error\":");
    if (st->last_error_id) {
        char when[64];

        format_time_ms(st->last_error_ms, when, sizeof(when));
        printf("{\"id\":%lld,\"at\":\"%s\",\"reason\":", (long long)st->last_error_id, when);
        print_json_string(st->last_error);
        printf("}");
    } else {
        printf("null");
    }
    printf("}\n");
}

static void print_status_text(const struct queue_stats *st, int64_t now)
{
    char age[64], when[64];
    int i;

    for (i = 0; i < SIGNUP_NSTATES; i++)
        printf("%-9s %lld\n", signup_state_name((enum signup_state)i), (long long)st->count[i]);
    if (st->uncertain > 0)
        printf("uncertain: %lld held, outcome unknown (reportd list --state held; reportd release "
               "ID sends one again)\n",
               (long long)st->uncertain);
    if (st->oldest_waiting_ms) {
        format_duration_ms(now - st->oldest_waiting_ms, age, sizeof(age));
        printf("oldest waiting: %s\n", age);
    } else {
        printf("oldest waiting: none\n");
    }
    if (st->last_error_id) {
        format_time_ms(st->last_error_ms, when, sizeof(when));
        printf("last error: signup %lld at %s: %s\n", (long long)st->last_error_id, when,
               st->last_error);
    } else {
        printf("last error: none\n");
    }
}

int cmd_status(const struct options *o)
{
    struct config c;
    struct queue *q;
    struct queue_stats st;
    char err[ERRLEN];
    int status = 0;

    if (load_config(o, &c) == -1)
        return EXIT_CONFIG;
    if (open_queue(&c, &q, QUEUE_READ) == -1) {
        config_free(&c);
        return EXIT_IOERR;
    }
    if (queue_stats(q, &st, err) == -1) {
        fprintf(stderr, "reportd: %s\n", err);
        status = EXIT_IOERR;
    } else if (o->json) {
        print_status_json(&st, now_ms());
    } else {
        print_status_text(&st, now_ms());
    }
    queue_close(q);
    config_free(&c);
    return status;
}

/* --- commands on one signup --------------------------------------------- */

/* Finds the signup named by --email or ID; prints why not and returns an exit status. */
static int lookup_record(struct queue *q, const struct options *o, struct signup_record *r)
{
    char err[ERRLEN];
    int64_t id = o->id;
    int rc;

    if (o->email) {
        rc = queue_find_email(q, o->email, &id, err);
        if (rc == 1) {
            fprintf(stderr, "reportd: no signup for %s\n", o->email);
            return EXIT_NOINPUT;
        }
        if (rc == -1) {
            fprintf(stderr, "reportd: %s\n", err);
            return EXIT_IOERR;
        }
    }
    rc = queue_get(q, id, r, err);
    if (rc == 1) {
        fprintf(stderr, "reportd: no signup %lld\n", (long long)id);
        return EXIT_NOINPUT;
    }
    if (rc == -1) {
        fprintf(stderr, "reportd: %s\n", err);
        return EXIT_IOERR;
    }
    return 0;
}

static int write_preview(const struct runtime *rt, const struct signup_record *r,
                         enum preview_format format)
{
    struct rendered out;
    struct message m;
    struct buf eml;
    char err[ERRLEN];
    int status = 0;

    rendered_init(&out);
    switch (runtime_render(rt, &r->signup, &out, err)) {
    case RENDER_OK:
        break;
    case RENDER_INVALID:
        fprintf(stderr, "reportd: signup %lld: %s\n", (long long)r->signup.id, err);
        rendered_free(&out);
        return EXIT_DATAERR;
    default:
        fprintf(stderr, "reportd: signup %lld: %s\n", (long long)r->signup.id, err);
        rendered_free(&out);
        return EXIT_SOFTWARE;
    }
    if (format == PREVIEW_TEXT) {
        fwrite(out.text.data ? out.text.data : "", 1, out.text.len, stdout);
    } else if (format == PREVIEW_HTML) {
        fwrite(out.html.data ? out.html.data : "", 1, out.html.len, stdout);
    } else if (message_build(&m, &rt->config, &r->signup, &out, now_ms(), err) == -1) {
        fprintf(stderr, "reportd: signup %lld: %s\n", (long long)r->signup.id, err);
        status = EXIT_DATAERR;
    } else {
        buf_init(&eml);
        if (smtp_capture(&m, &eml, err) == -1) {
            fprintf(stderr, "reportd: signup %lld: %s\n", (long long)r->signup.id, err);
            status = EXIT_SOFTWARE;
        } else {
            fwrite(buf_str(&eml), 1, eml.len, stdout);
        }
        buf_free(&eml);
        message_free(&m);
    }
    rendered_free(&out);
    return status;
}

int cmd_preview(const struct options *o)
{
    struct runtime rt;
    struct queue *q;
    struct signup_record r;
    int status;

    if (load_runtime(o, &rt, 1) == -1)
        return EXIT_CONFIG;
    if (open_queue(&rt.config, &q, QUEUE_READ) == -1) {
        runtime_free(&rt);
        return EXIT_IOERR;
    }
    status = lookup_record(q, o, &r);
    if (status == 0) {
        if (r.scrubbed_ms) {
            fprintf(stderr,
                    "reportd: signup %lld: its personal data was scrubbed; nothing to show\n",
                    (long long)r.signup.id);
            status = EXIT_DATAERR;
        } else if (r.load_error) {
            fprintf(stderr, "reportd: signup %lld: %s\n", (long long)r.signup.id, r.load_error);
            status = EXIT_DATAERR;
        } else {
            status = write_preview(&rt, &r, o->format);
        }
        signup_record_free(&r);
    }
    queue_close(q);
    runtime_free(&rt);
    return status;
}

static void print_time_field(const char *label, int64_t ms)
{
    char when[64];

    if (ms <= 0)
        return;
    format_time_ms(ms, when, sizeof(when));
    printf("%s: %s\n", label, when);
}

static void print_string_field(const char *label, const char *value)
{
    if (value && *value)
        printf("%s: %s\n", label, value);
}

static void print_record(const struct signup_record *r)
{
    const struct signup *s = &r->signup;
    size_t i;

    printf("id: %lld\n", (long long)s->id);
    print_string_field("email", s->email);
    print_string_field("name", s->name);
    print_string_field("role", s->role);
    print_string_field("level", s->level);
    if (s->ntasks) {
        printf("tasks:");
        for (i = 0; i < s->ntasks; i++) {
            printf(" %s", s->tasks[i].id);
            if (s->tasks[i].has_share)
                printf("=%g", s->tasks[i].share);
        }
        printf("\n");
    }
    if (s->nskills) {
        printf("skills:");
        for (i = 0; i < s->nskills; i++)
            printf(" %s", s->skills[i]);
        printf("\n");
    }
    if (s->has_years)
        printf("years: %g\n", s->years);
    print_time_field("created", s->created_ms);
    if (r->scrubbed_ms) {
        print_time_field("scrubbed", r->scrubbed_ms);
        printf("personal data: deleted (address, name, tasks, skills, years); kept: the address's "
               "keyed hash, times, Message-ID, server reply, state\n");
        print_string_field("address hash", r->email_hash);
    }
    printf("state: %s\n", signup_state_name(r->state));
    printf("attempts: %d\n", r->attempts);
    if (r->state == SIGNUP_DEFERRED)
        print_time_field("next attempt", r->next_attempt_ms);
    print_time_field("sent", r->sent_ms);
    print_string_field("message-id", r->message_id);
    print_string_field("last reply", r->last_reply);
    print_string_field("reason", r->reason);
    print_string_field("load error", r->load_error);
    if (r->state == SIGNUP_SENDING) {
        print_string_field("claimed by", r->claimed_by);
        print_time_field("claimed until", r->claim_until_ms);
    }
}

static int print_event(void *arg, const struct queue_event *ev)
{
    char when[64];

    (void)arg;
    format_time_ms(ev->at_ms, when, sizeof(when));
    printf("  %s %s -> %s%s%s\n", when, ev->has_from ? signup_state_name(ev->from) : "(new)",
           signup_state_name(ev->to), ev->detail && *ev->detail ? ": " : "",
           ev->detail ? ev->detail : "");
    return 0;
}

/* Runs fn on the signup named by the options, with the config and queue open. */
static int with_signup(const struct options *o, enum queue_access access,
                       int (*fn)(struct queue *q, const struct signup_record *r,
                                 const struct options *o))
{
    struct config c;
    struct queue *q;
    struct signup_record r;
    int status;

    if (load_config(o, &c) == -1)
        return EXIT_CONFIG;
    if (open_queue(&c, &q, access) == -1) {
        config_free(&c);
        return EXIT_IOERR;
    }
    status = lookup_record(q, o, &r);
    if (status == 0) {
        status = fn(q, &r, o);
        signup_record_free(&r);
    }
    queue_close(q);
    config_free(&c);
    return status;
}

static int show_one(struct queue *q, const struct signup_record *r, const struct options *o)
{
    char err[ERRLEN];

    (void)o;
    print_record(r);
    printf("history:\n");
    if (queue_history(q, r->signup.id, print_event, NULL, err) == -1) {
        fprintf(stderr, "reportd: %s\n", err);
        return EXIT_IOERR;
    }
    return 0;
}

int cmd_show(const struct options *o)
{
    return with_signup(o, QUEUE_READ, show_one);
}

/*
 * Moves a signup from the first of the given states it is in to `to`.
 * Prints the outcome; returns an exit status.
 */
static int move_signup(struct queue *q, const struct signup_record *r,
                       const enum signup_state *from, size_t nfrom, enum signup_state to,
                       const char *detail)
{
    struct transition t;
    char err[ERRLEN];
    size_t i;

    memset(&t, 0, sizeof(t));
    t.detail = detail;
    for (i = 0; i < nfrom; i++) {
        if (r->state != from[i])
            continue;
        switch (queue_transition(q, r->signup.id, from[i], to, &t, err)) {
        case 0:
            printf("%lld %s\n", (long long)r->signup.id, signup_state_name(to));
            return 0;
        case 1:
            fprintf(stderr, "reportd: signup %lld changed state meanwhile; try again\n",
                    (long long)r->signup.id);
            return EXIT_TEMPFAIL;
        default:
            fprintf(stderr, "reportd: %s\n", err);
            return EXIT_IOERR;
        }
    }
    fprintf(stderr, "reportd: signup %lld is %s; cannot make it %s\n", (long long)r->signup.id,
            signup_state_name(r->state), signup_state_name(to));
    return EXIT_REFUSED;
}

static int hold_one(struct queue *q, const struct signup_record *r, const struct options *o)
{
    static const enum signup_state from[] = {SIGNUP_QUEUED, SIGNUP_DEFERRED};

    (void)o;
    return move_signup(q, r, from, NELEM(from), SIGNUP_HELD, "held by operator");
}

static int release_one(struct queue *q, const struct signup_record *r, const struct options *o)
{
    static const enum signup_state from[] = {SIGNUP_HELD};

    (void)o;
    return move_signup(q, r, from, NELEM(from), SIGNUP_QUEUED, "released by operator");
}

static int retry_one(struct queue *q, const struct signup_record *r, const struct options *o)
{
    static const enum signup_state from[] = {SIGNUP_FAILED, SIGNUP_DEFERRED};

    (void)o;
    if (r->scrubbed_ms) {
        fprintf(stderr, "reportd: signup %lld: its personal data was scrubbed; it cannot be sent\n",
                (long long)r->signup.id);
        return EXIT_REFUSED;
    }
    return move_signup(q, r, from, NELEM(from), SIGNUP_QUEUED, "retry requested by operator");
}

static int purge_one(struct queue *q, const struct signup_record *r, const struct options *o)
{
    char err[ERRLEN];

    (void)o;
    /* A claim whose lease ran out has no sender left: its data can go. */
    if (r->state == SIGNUP_SENDING && r->claim_until_ms >= now_ms()) {
        fprintf(stderr, "reportd: signup %lld is being sent right now; try again shortly\n",
                (long long)r->signup.id);
        return EXIT_TEMPFAIL;
    }
    switch (queue_purge(q, r->signup.id, err)) {
    case PURGE_DELETED:
        printf("%lld purged\n", (long long)r->signup.id);
        return 0;
    case PURGE_SCRUBBED:
        printf(
            "%lld scrubbed (sent: the address's keyed hash, Message-ID, times and reply are kept "
            "as proof of delivery)\n",
            (long long)r->signup.id);
        return 0;
    case PURGE_NONE:
        fprintf(stderr, "reportd: no signup %lld\n", (long long)r->signup.id);
        return EXIT_NOINPUT;
    case PURGE_IN_FLIGHT:
        /* Claimed between our look and the delete: the same answer as above. */
        fprintf(stderr, "reportd: signup %lld is being sent right now; try again shortly\n",
                (long long)r->signup.id);
        return EXIT_TEMPFAIL;
    default:
        fprintf(stderr, "reportd: %s\n", err);
        return EXIT_IOERR;
    }
}

int cmd_hold(const struct options *o)
{
    return with_signup(o, QUEUE_WRITE, hold_one);
}

int cmd_release(const struct options *o)
{
    return with_signup(o, QUEUE_WRITE, release_one);
}

int cmd_purge(const struct options *o)
{
    return with_signup(o, QUEUE_WRITE, purge_one);
}

/* --- list and retry --failed --------------------------------------------- */

static int print_list_line(void *arg, const struct signup_record *r)
{
    char when[64];

    (void)arg;
    format_time_ms(r->signup.created_ms, when, sizeof(when));
    printf("%lld\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", (long long)r->signup.id,
           signup_state_name(r->state),
           r->scrubbed_ms    ? "(scrubbed)"
           : r->signup.email ? r->signup.email
                             : "",
           r->signup.role ? r->signup.role : "", r->signup.level ? r->signup.level : "",
           r->attempts, when, r->reason ? r->reason : "");
    return 0;
}

static int parse_state_option(const char *name, int *state)
{
    enum signup_state st;

    *state = -1;
    if (name == NULL)
        return 0;
    if (signup_state_parse(name, &st) == -1) {
        fprintf(stderr,
                "reportd: unknown state \"%s\" (queued, sending, deferred, held, sent, "
                "failed, rejected)\n",
                name);
        return -1;
    }
    *state = (int)st;
    return 0;
}

/* Collects ids so that transitions do not run while a list query is open. */
struct id_list {
    int64_t *v;
    size_t n, cap;
    int failed;
};

static int collect_id(void *arg, const struct signup_record *r)
{
    struct id_list *l = arg;
    int64_t *nv;

    /* A scrubbed signup has no address left to send to. */
    if (r->scrubbed_ms)
        return 0;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;

        nv = realloc(l->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            l->failed = 1;
            return 1;
        }
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = r->signup.id;
    return 0;
}

static int list_or_retry_all(const struct options *o, int retry)
{
    struct config c;
    struct queue *q;
    struct id_list ids = {NULL, 0, 0, 0};
    struct transition t;
    char err[ERRLEN];
    int state, status = 0;
    size_t i;

    if (!retry && parse_state_option(o->state, &state) == -1)
        return EXIT_USAGE;
    if (retry)
        state = SIGNUP_FAILED;
    if (load_config(o, &c) == -1)
        return EXIT_CONFIG;
    if (open_queue(&c, &q, retry ? QUEUE_WRITE : QUEUE_READ) == -1) {
        config_free(&c);
        return EXIT_IOERR;
    }
    if (queue_list(q, state, retry ? collect_id : print_list_line, &ids, err) == -1 || ids.failed) {
        fprintf(stderr, "reportd: %s\n", ids.failed ? "out of memory" : err);
        status = EXIT_IOERR;
    }
    memset(&t, 0, sizeof(t));
    t.detail = "retry requested by operator";
    for (i = 0; status == 0 && i < ids.n; i++) {
        int rc = queue_transition(q, ids.v[i], SIGNUP_FAILED, SIGNUP_QUEUED, &t, err);

        if (rc == -1) {
            fprintf(stderr, "reportd: %s\n", err);
            status = EXIT_IOERR;
        } else if (rc == 0) {
            printf("%lld queued\n", (long long)ids.v[i]);
        }
    }
    free(ids.v);
    queue_close(q);
    config_free(&c);
    return status;
}

int cmd_list(const struct options *o)
{
    return list_or_retry_all(o, 0);
}

int cmd_retry(const struct options *o)
{
    if (o->all_failed)
        return list_or_retry_all(o, 1);
    return with_signup(o, QUEUE_WRITE, retry_one);
}

/* --- run ------------------------------------------------------------------ */

int cmd_run(const struct options *o)
{
    struct runtime rt;
    char err[ERRLEN];

    if (load_runtime(o, &rt, 1) == -1)
        return EXIT_CONFIG;
    switch (daemon_run(&rt, config_path_of(o), o->drain, o->verbose, err)) {
    case DAEMON_DONE:
        return 0;
    case DAEMON_NO_QUEUE:
        log_critx("%s", err);
        return EXIT_IOERR;
    default:
        log_critx("%s", err);
        return EXIT_TEMPFAIL;
    }
}

/* --- send-test ------------------------------------------------------------- */

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
    struct rendered out;
    struct signup s;
    char err[ERRLEN];
    int status = 0;

    if (level == NULL)
        return EXIT_USAGE;
    rendered_init(&out);
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
    } else if (runtime_render(rt, &s, &out, err) != RENDER_OK ||
               message_build(m, &rt->config, &s, &out, now_ms(), err) == -1) {
        fprintf(stderr, "reportd: send-test: %s\n", err);
        status = EXIT_SOFTWARE;
    } else {
        printf("sending a sample report (role %s, level %s) to %s via %s\n", role->id, level->id,
               o->to, rt->config.smtp_url);
    }
    rendered_free(&out);
    signup_free(&s);
    return status;
}

/* Submits m and waits for its outcome; 0, or an exit status (printed). */
static int deliver_once(struct smtp *smtp, const struct message *m,
                        struct send_test_outcome *outcome)
{
    char err[ERRLEN];

    memset(outcome, 0, sizeof(*outcome));
    if (smtp_submit(smtp, m, NULL, err) == -1) {
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
