/* commands.c - the work behind each `reportd COMMAND`, returning an exit status. */
#define LOG_MODULE "reportd"
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_util.h"
#include "daemon.h"
#include "enqueue_file.h"
#include "idn.h"
#include "intake.h"
#include "json_out.h"
#include "log.h"
#include "message.h"
#include "metrics.h"
#include "queue.h"
#include "runtime.h"
#include "smtp_capture.h"

/* Command outcomes beyond sysexits: the signup is not in a state that allows it. */
#define EXIT_REFUSED 1
/* A domain in Unicode: UTF-8 takes at most 4 bytes for what punycode spells in one. */
#define DISPLAY_DOMAIN_MAX (SIGNUP_EMAIL_MAX * 4 + 1)
/* An address with its domain in Unicode too: "a@xn--bcher-kva.example (bücher.example)". */
#define DISPLAY_ADDRESS_MAX (SIGNUP_EMAIL_MAX + DISPLAY_DOMAIN_MAX + 4)

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
        status = enqueue_file(in, &rt.roles, &rt.config.queue);
        goto out;
    }
    if (signup_ascii_email(&s, err) == -1 || signup_validate(&s, &rt.roles, err) == -1) {
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

/* Prints a buffer built for stdout; -1 when building it ran out of memory. */
static int print_buf(struct buf *b)
{
    if (buf_failed(b)) {
        fprintf(stderr, "reportd: out of memory\n");
        return -1;
    }
    fputs(buf_str(b), stdout);
    return 0;
}

/* status --prometheus: the text the daemon writes to metrics.path. */
static int print_prometheus(struct queue *q)
{
    struct queue_metrics *m = malloc(sizeof(*m));
    struct buf b;
    char err[ERRLEN];
    int status = 0;

    if (m == NULL) {
        fprintf(stderr, "reportd: out of memory\n");
        return EXIT_SOFTWARE;
    }
    buf_init(&b);
    if (queue_metrics(q, m, err) == -1) {
        fprintf(stderr, "reportd: %s\n", err);
        status = EXIT_IOERR;
    } else if (metrics_format(m, now_ms(), &b) == -1 || print_buf(&b) == -1) {
        status = EXIT_SOFTWARE;
    }
    buf_free(&b);
    free(m);
    return status;
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
    if (o->prometheus) {
        status = print_prometheus(q);
    } else if (queue_stats(q, &st, err) == -1) {
        fprintf(stderr, "reportd: %s\n", err);
        status = EXIT_IOERR;
    } else if (o->json) {
        struct buf b;

        buf_init(&b);
        json_out_status(&b, &st, now_ms());
        if (print_buf(&b) == -1)
            status = EXIT_SOFTWARE;
        buf_free(&b);
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

/* The whole message, exactly as libcurl puts it on the wire. */
static int write_eml(const struct runtime *rt, const struct signup_record *r)
{
    struct message m;
    struct buf eml;
    char err[ERRLEN];
    int status = 0;

    switch (runtime_message(rt, &r->signup, now_ms(), &m, err)) {
    case RENDER_OK:
        break;
    case RENDER_INVALID:
        fprintf(stderr, "reportd: signup %lld: %s\n", (long long)r->signup.id, err);
        return EXIT_DATAERR;
    default:
        fprintf(stderr, "reportd: signup %lld: %s\n", (long long)r->signup.id, err);
        return EXIT_SOFTWARE;
    }
    buf_init(&eml);
    if (smtp_capture(&m, &eml, err) == -1) {
        fprintf(stderr, "reportd: signup %lld: %s\n", (long long)r->signup.id, err);
        status = EXIT_SOFTWARE;
    } else {
        fwrite(buf_str(&eml), 1, eml.len, stdout);
    }
    buf_free(&eml);
    message_free(&m);
    return status;
}

static int write_preview(const struct runtime *rt, const struct signup_record *r,
                         enum preview_format format)
{
    struct rendered out;
    char err[ERRLEN];

    if (format != PREVIEW_TEXT && format != PREVIEW_HTML)
        return write_eml(rt, r);
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
    if (format == PREVIEW_TEXT)
        fwrite(out.text.data ? out.text.data : "", 1, out.text.len, stdout);
    else
        fwrite(out.html.data ? out.html.data : "", 1, out.html.len, stdout);
    rendered_free(&out);
    return 0;
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

/* The address as operators see it: as stored, and an internationalized domain in Unicode. */
static const char *display_address(const char *email, char *out, size_t len)
{
    char unicode[DISPLAY_DOMAIN_MAX];

    if (idn_domain_unicode(email, unicode, sizeof(unicode)))
        snprintf(out, len, "%s (%s)", email, unicode);
    else
        snprintf(out, len, "%s", email);
    return out;
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
    char email[DISPLAY_ADDRESS_MAX];
    size_t i;

    printf("id: %lld\n", (long long)s->id);
    if (s->email)
        print_string_field("email", display_address(s->email, email, sizeof(email)));
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

/* History events into a JSON array. */
struct json_events {
    struct buf *b;
    int n;
};

static int json_event(void *arg, const struct queue_event *ev)
{
    struct json_events *je = arg;

    json_out_event(je->b, ev, je->n++ == 0);
    return 0;
}

static int show_json(struct queue *q, const struct signup_record *r)
{
    struct buf b;
    struct json_events je = {&b, 0};
    char err[ERRLEN];
    int status = 0;

    buf_init(&b);
    json_out_record(&b, r, 1);
    if (queue_history(q, r->signup.id, json_event, &je, err) == -1) {
        fprintf(stderr, "reportd: %s\n", err);
        status = EXIT_IOERR;
    } else {
        json_out_record_end(&b);
        buf_putc(&b, '\n');
        if (print_buf(&b) == -1)
            status = EXIT_SOFTWARE;
    }
    buf_free(&b);
    return status;
}

static int show_one(struct queue *q, const struct signup_record *r, const struct options *o)
{
    char err[ERRLEN];

    if (o->json)
        return show_json(q, r);
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
    char when[64], email[DISPLAY_ADDRESS_MAX];

    (void)arg;
    format_time_ms(r->signup.created_ms, when, sizeof(when));
    printf("%lld\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", (long long)r->signup.id,
           signup_state_name(r->state),
           r->scrubbed_ms    ? "(scrubbed)"
           : r->signup.email ? display_address(r->signup.email, email, sizeof(email))
                             : "",
           r->signup.role ? r->signup.role : "", r->signup.level ? r->signup.level : "",
           r->attempts, when, r->reason ? r->reason : "");
    return 0;
}

/* list --json: a JSON array, one signup a line, printed as the rows come. */
struct json_list {
    struct buf b;
    int n;
};

static int print_list_json(void *arg, const struct signup_record *r)
{
    struct json_list *jl = arg;

    buf_reset(&jl->b);
    buf_puts(&jl->b, jl->n++ ? ",\n" : "[\n");
    json_out_record(&jl->b, r, 0);
    return print_buf(&jl->b) == -1;
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

static int list_json(struct queue *q, int state)
{
    struct json_list jl = {.n = 0};
    char err[ERRLEN];
    int status = 0;

    buf_init(&jl.b);
    if (queue_list(q, state, print_list_json, &jl, err) == -1) {
        fprintf(stderr, "reportd: %s\n", err);
        status = EXIT_IOERR;
    } else if (buf_failed(&jl.b)) {
        status = EXIT_SOFTWARE;
    } else {
        fputs(jl.n ? "\n]\n" : "[]\n", stdout);
    }
    buf_free(&jl.b);
    return status;
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
    if (!retry && o->json) {
        status = list_json(q, state);
    } else if (queue_list(q, state, retry ? collect_id : print_list_line, &ids, err) == -1 ||
               ids.failed) {
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

    daemon_hold_signals();
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
