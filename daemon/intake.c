/*
 * intake.c - reading signups from the command line, and from YAML or JSON
 * lists as a stream of libyaml events: one signup in memory at a time.
 */
#include "intake.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define INTAKE_STDIN_NAME "<stdin>"
/* A field path like "signups[12].tasks[3].share"; nested levels get room for their suffix. */
#define FIELD_MAX 128

enum intake_state { ST_START, ST_LIST, ST_END, ST_FATAL };

struct intake {
    char *name; /* for messages */
    FILE *f;
    int own_f; /* opened here, so closed here (not stdin) */
    size_t bytes;
    int too_big, read_errno;
    yaml_parser_t parser;
    enum intake_state state;
    char fatal[ERRLEN]; /* repeated by every call after INTAKE_FATAL */
    size_t index;       /* of the next signup */
};

/* One signup being read: its first shape problem is the one reported. */
struct reader {
    struct intake *in;
    char *err;
    int bad;
};

int intake_set_years(struct signup *s, const char *text, char *err)
{
    double years;

    if (parse_nonnegative(text, &years) == -1)
        return errf(err, "years: expected a number >= 0, got \"%s\"", text);
    s->years = years;
    s->has_years = 1;
    return 0;
}

int intake_add_task_arg(struct signup *s, const char *arg, char *err)
{
    const char *eq = strchr(arg, '=');
    double share = 0;
    char *id;
    int rc;

    if (eq && parse_nonnegative(eq + 1, &share) == -1)
        return errf(err, "tasks: share for \"%.*s\" must be a number >= 0, got \"%s\"",
                    (int)(eq - arg), arg, eq + 1);
    id = eq ? strndup(arg, (size_t)(eq - arg)) : strdup(arg);
    if (id == NULL)
        return errf(err, "tasks: out of memory");
    if (*id == '\0') {
        free(id);
        return errf(err, "tasks: empty task id in \"%s\"", arg);
    }
    rc = signup_add_task(s, id, share, eq != NULL);
    free(id);
    if (rc == -1)
        return errf(err, "tasks: out of memory");
    return 0;
}

/* --- the input ------------------------------------------------------------ */

/* libyaml's read handler: counts bytes so that no file can pass the limit. */
static int read_input(void *data, unsigned char *buffer, size_t size, size_t *size_read)
{
    struct intake *in = data;
    size_t n = fread(buffer, 1, size, in->f);

    if (n == 0 && ferror(in->f)) {
        in->read_errno = errno ? errno : EIO;
        return 0;
    }
    in->bytes += n;
    if (in->bytes > INTAKE_MAX_BYTES) {
        in->too_big = 1;
        return 0;
    }
    *size_read = n;
    return 1;
}

int intake_open(struct intake **inp, const char *path, char *err)
{
    int is_stdin = strcmp(path, "-") == 0;
    struct intake *in = calloc(1, sizeof(*in));

    *inp = NULL;
    if (in == NULL)
        return errf(err, "%s: out of memory", path);
    in->name = strdup(is_stdin ? INTAKE_STDIN_NAME : path);
    if (in->name == NULL) {
        free(in);
        return errf(err, "%s: out of memory", path);
    }
    in->f = is_stdin ? stdin : fopen(path, "rb");
    if (in->f == NULL) {
        errf(err, "%s: %s", path, strerror(errno));
        free(in->name);
        free(in);
        return -1;
    }
    in->own_f = !is_stdin;
    if (!yaml_parser_initialize(&in->parser)) {
        if (in->own_f)
            fclose(in->f);
        free(in->name);
        free(in);
        return errf(err, "%s: cannot initialize the YAML parser", path);
    }
    yaml_parser_set_input(&in->parser, read_input, in);
    *inp = in;
    return 0;
}

void intake_close(struct intake *in)
{
    if (in == NULL)
        return;
    yaml_parser_delete(&in->parser);
    if (in->own_f)
        fclose(in->f);
    free(in->name);
    free(in);
}

const char *intake_name(const struct intake *in)
{
    return in->name;
}

/* --- events --------------------------------------------------------------- */

static int fatal_at(struct intake *in, const yaml_mark_t *m, const char *fmt, ...)
    UTIL_PRINTF(3, 4);

/* Ends the stream with "FILE:LINE:COLUMN: message"; -1 for "return fatal_at(...)". */
static int fatal_at(struct intake *in, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[ERRLEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    errf(in->fatal, "%s:%lu:%lu: %s", in->name, (unsigned long)m->line + 1,
         (unsigned long)m->column + 1, msg);
    in->state = ST_FATAL;
    return -1;
}

static const char *anchor_of(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return (const char *)ev->data.scalar.anchor;
    case YAML_SEQUENCE_START_EVENT:
        return (const char *)ev->data.sequence_start.anchor;
    case YAML_MAPPING_START_EVENT:
        return (const char *)ev->data.mapping_start.anchor;
    default:
        return NULL;
    }
}

/*
 * The next event, or -1 when the stream cannot go on.  Anchors and aliases
 * are refused where they appear: a few bytes of aliases can name a list
 * millions of times, and refusing the anchor means nothing is remembered to
 * be named later.
 */
static int pull(struct intake *in, yaml_event_t *ev)
{
    const char *anchor;

    if (!yaml_parser_parse(&in->parser, ev)) {
        const yaml_parser_t *p = &in->parser;

        in->state = ST_FATAL;
        if (in->too_big)
            return errf(in->fatal, "%s: larger than the limit of %zu bytes", in->name,
                        INTAKE_MAX_BYTES);
        if (in->read_errno)
            return errf(in->fatal, "%s: read: %s", in->name, strerror(in->read_errno));
        return fatal_at(in, &p->problem_mark, "%s%s%s", p->problem ? p->problem : "malformed YAML",
                        p->context ? " " : "", p->context ? p->context : "");
    }
    if (ev->type == YAML_ALIAS_EVENT) {
        fatal_at(in, &ev->start_mark,
                 "a YAML alias (*%s): aliases are not accepted; write each signup out in full",
                 (const char *)ev->data.alias.anchor);
        yaml_event_delete(ev);
        return -1;
    }
    anchor = anchor_of(ev);
    if (anchor != NULL) {
        fatal_at(in, &ev->start_mark,
                 "a YAML anchor (&%s) for an alias: aliases are not accepted; write each signup "
                 "out in full",
                 anchor);
        yaml_event_delete(ev);
        return -1;
    }
    return 0;
}

/* Consumes the rest of the node ev starts (a list or mapping) and ev itself. */
static int skip_node(struct intake *in, yaml_event_t *ev)
{
    int depth = ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT;

    yaml_event_delete(ev);
    while (depth > 0) {
        if (pull(in, ev) == -1)
            return -1;
        if (ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT)
            depth++;
        else if (ev->type == YAML_SEQUENCE_END_EVENT || ev->type == YAML_MAPPING_END_EVENT)
            depth--;
        yaml_event_delete(ev);
    }
    return 0;
}

/* Plain null: "", "~", "null". */
static int is_null(const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;

    return ev->type == YAML_SCALAR_EVENT && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
            strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0);
}

static const char *type_name(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return is_null(ev) ? "null" : "a scalar";
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    case YAML_MAPPING_START_EVENT:
        return "a mapping";
    default:
        return "nothing";
    }
}

/* --- one signup ----------------------------------------------------------- */

static void bad(struct reader *r, const yaml_mark_t *m, const char *fmt, ...) UTIL_PRINTF(3, 4);

/* Later problems of a signup are often consequences of its first: report that one. */
static void bad(struct reader *r, const yaml_mark_t *m, const char *fmt, ...)
{
    char msg[ERRLEN];
    va_list ap;

    if (r->bad)
        return;
    r->bad = 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    errf(r->err, "%s:%lu:%lu: %s", r->in->name, (unsigned long)m->line + 1,
         (unsigned long)m->column + 1, msg);
}

/* A scalar's text, or NULL after reporting what the field got instead. */
static const char *scalar_field(struct reader *r, const yaml_event_t *ev, const char *field)
{
    const char *s = (const char *)ev->data.scalar.value;

    if (ev->type != YAML_SCALAR_EVENT) {
        bad(r, &ev->start_mark, "%s: expected a string, got %s", field, type_name(ev));
        return NULL;
    }
    /* libyaml keeps a NUL written as "\0"; C strings would silently cut the value there. */
    if (ev->data.scalar.length != strlen(s)) {
        bad(r, &ev->start_mark, "%s: contains a NUL character", field);
        return NULL;
    }
    return s;
}

static void number_field(struct reader *r, const yaml_event_t *ev, const char *field, double *out)
{
    const char *s = scalar_field(r, ev, field);

    if (s != NULL && parse_nonnegative(s, out) == -1)
        bad(r, &ev->start_mark, "%s: expected a number >= 0, got \"%s\"", field, s);
}

static void strdup_field(struct reader *r, const yaml_event_t *ev, const char *field, char **out)
{
    const char *s = scalar_field(r, ev, field);

    if (s == NULL)
        return;
    free(*out);
    *out = strdup(s);
    if (*out == NULL)
        bad(r, &ev->start_mark, "%s: out of memory", field);
}

/* The pairs of a task mapping {id, share}, ev its start; consumes the mapping. */
static int read_task_mapping(struct reader *r, yaml_event_t *ev, struct signup *s,
                             const char *field)
{
    yaml_mark_t start = ev->start_mark;
    char f[FIELD_MAX + 64], *id = NULL;
    double share = 0;
    int has_share = 0, has_id = 0;

    yaml_event_delete(ev);
    for (;;) {
        const char *k;
        int which;

        if (pull(r->in, ev) == -1)
            goto fatal;
        if (ev->type == YAML_MAPPING_END_EVENT)
            break;
        k = ev->type == YAML_SCALAR_EVENT ? (const char *)ev->data.scalar.value : NULL;
        which = k == NULL ? 0 : strcmp(k, "id") == 0 ? 1 : strcmp(k, "share") == 0 ? 2 : 0;
        if (which == 0)
            bad(r, &ev->start_mark, "%s: unknown key \"%s\"", field, k ? k : "?");
        if (skip_node(r->in, ev) == -1 || pull(r->in, ev) == -1)
            goto fatal;
        if (which == 1) {
            const char *v = scalar_field(r, ev, field);

            has_id = 1;
            free(id);
            id = v ? strdup(v) : NULL;
            if (v != NULL && id == NULL)
                bad(r, &ev->start_mark, "%s: out of memory", field);
        } else if (which == 2 && !is_null(ev)) {
            snprintf(f, sizeof(f), "%s.share", field);
            number_field(r, ev, f, &share);
            has_share = 1;
        } else if (which == 2) {
            has_share = 0;
        }
        if (skip_node(r->in, ev) == -1)
            goto fatal;
    }
    yaml_event_delete(ev);
    if (!has_id)
        bad(r, &start, "%s.id: required", field);
    if (!r->bad && signup_add_task(s, id, share, has_share) == -1)
        bad(r, &start, "%s: out of memory", field);
    free(id);
    return 0;
fatal:
    free(id);
    return -1;
}

static int read_task(struct reader *r, yaml_event_t *ev, struct signup *s, const char *field)
{
    if (ev->type == YAML_MAPPING_START_EVENT)
        return read_task_mapping(r, ev, s, field);
    if (ev->type == YAML_SCALAR_EVENT) {
        const char *id = scalar_field(r, ev, field);

        if (id != NULL && !r->bad && signup_add_task(s, id, 0, 0) == -1)
            bad(r, &ev->start_mark, "%s: out of memory", field);
    } else {
        bad(r, &ev->start_mark, "%s: expected a task id or {id, share}, got %s", field,
            type_name(ev));
    }
    return skip_node(r->in, ev);
}

static int read_skill(struct reader *r, yaml_event_t *ev, struct signup *s, const char *field)
{
    const char *id = scalar_field(r, ev, field);

    if (id != NULL && !r->bad && signup_add_skill(s, id) == -1)
        bad(r, &ev->start_mark, "%s: out of memory", field);
    return skip_node(r->in, ev);
}

/* A list of tasks or skills, ev its first event; consumes the whole value. */
static int read_list(struct reader *r, yaml_event_t *ev, struct signup *s, const char *field,
                     int tasks)
{
    char f[FIELD_MAX + 32];
    size_t i;

    if (ev->type != YAML_SEQUENCE_START_EVENT) {
        bad(r, &ev->start_mark, "%s: expected a list, got %s", field, type_name(ev));
        return skip_node(r->in, ev);
    }
    yaml_event_delete(ev);
    for (i = 0;; i++) {
        if (pull(r->in, ev) == -1)
            return -1;
        if (ev->type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(ev);
            return 0;
        }
        snprintf(f, sizeof(f), "%s[%zu]", field, i);
        if ((tasks ? read_task(r, ev, s, f) : read_skill(r, ev, s, f)) == -1)
            return -1;
    }
}

/* A signup's value for key k, ev its first event; consumes the whole value. */
static int read_value(struct reader *r, const char *k, yaml_event_t *ev, struct signup *s,
                      const char *f)
{
    if (strcmp(k, "email") == 0)
        strdup_field(r, ev, f, &s->email);
    else if (strcmp(k, "name") == 0) {
        if (!is_null(ev))
            strdup_field(r, ev, f, &s->name);
    } else if (strcmp(k, "role") == 0)
        strdup_field(r, ev, f, &s->role);
    else if (strcmp(k, "level") == 0)
        strdup_field(r, ev, f, &s->level);
    else if (strcmp(k, "tasks") == 0)
        return read_list(r, ev, s, f, 1);
    else if (strcmp(k, "skills") == 0)
        return read_list(r, ev, s, f, 0);
    else if (strcmp(k, "years") == 0) {
        s->has_years = !is_null(ev);
        if (s->has_years)
            number_field(r, ev, f, &s->years);
    }
    return skip_node(r->in, ev);
}

static int known_key(const char *k)
{
    static const char *const keys[] = {"email", "name",   "role", "level",
                                       "tasks", "skills", "years"};
    size_t i;

    for (i = 0; i < NELEM(keys); i++)
        if (strcmp(k, keys[i]) == 0)
            return 1;
    return 0;
}

/* The pairs of one signup's mapping, ev its start; consumes the mapping. */
static int read_pairs(struct reader *r, yaml_event_t *ev, size_t index, struct signup *s)
{
    yaml_mark_t start = ev->start_mark;
    char f[FIELD_MAX], k[FIELD_MAX];

    yaml_event_delete(ev);
    for (;;) {
        if (pull(r->in, ev) == -1)
            return -1;
        if (ev->type == YAML_MAPPING_END_EVENT)
            break;
        k[0] = '\0';
        if (ev->type != YAML_SCALAR_EVENT)
            bad(r, &ev->start_mark, "signups[%zu]: keys must be strings", index);
        else if (!known_key((const char *)ev->data.scalar.value))
            bad(r, &ev->start_mark, "signups[%zu]: unknown key \"%s\"", index,
                (const char *)ev->data.scalar.value);
        else
            snprintf(k, sizeof(k), "%s", (const char *)ev->data.scalar.value);
        if (skip_node(r->in, ev) == -1 || pull(r->in, ev) == -1)
            return -1;
        if (k[0] == '\0') {
            if (skip_node(r->in, ev) == -1)
                return -1;
            continue;
        }
        snprintf(f, sizeof(f), "signups[%zu].%s", index, k);
        if (read_value(r, k, ev, s, f) == -1)
            return -1;
    }
    yaml_event_delete(ev);
    if (s->email == NULL || s->role == NULL || s->level == NULL)
        bad(r, &start, "signups[%zu]: %s is required", index,
            s->email == NULL  ? "email"
            : s->role == NULL ? "role"
                              : "level");
    return 0;
}

/* One item of the list, ev its first event. */
static enum intake_status read_signup(struct intake *in, yaml_event_t *ev, struct signup *s,
                                      char *err)
{
    struct reader r = {in, err, 0};
    size_t index = in->index++;
    int rc;

    if (ev->type == YAML_MAPPING_START_EVENT) {
        rc = read_pairs(&r, ev, index, s);
    } else {
        bad(&r, &ev->start_mark, "signups[%zu]: expected a mapping, got %s", index, type_name(ev));
        rc = skip_node(in, ev);
    }
    if (rc == -1 || r.bad)
        signup_free(s);
    if (rc == -1)
        return INTAKE_FATAL;
    return r.bad ? INTAKE_BAD : INTAKE_SIGNUP;
}

/* --- the list ------------------------------------------------------------- */

/* The stream's start up to the list's first item: -1 when it is not a list. */
static int start_list(struct intake *in)
{
    yaml_event_t ev;

    if (pull(in, &ev) == -1)
        return -1;
    yaml_event_delete(&ev); /* the stream's start */
    if (pull(in, &ev) == -1)
        return -1;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return fatal_at(in, &ev.start_mark, "expected a list of signups, got nothing");
    }
    yaml_event_delete(&ev); /* the document's start */
    if (pull(in, &ev) == -1)
        return -1;
    if (ev.type != YAML_SEQUENCE_START_EVENT) {
        fatal_at(in, &ev.start_mark, "expected a list of signups, got %s", type_name(&ev));
        yaml_event_delete(&ev);
        return -1;
    }
    yaml_event_delete(&ev);
    in->state = ST_LIST;
    return 0;
}

/* After the list: its document must be the last, or signups would be left unread. */
static int end_list(struct intake *in)
{
    yaml_event_t ev;

    if (pull(in, &ev) == -1)
        return -1;
    yaml_event_delete(&ev); /* the document's end */
    if (pull(in, &ev) == -1)
        return -1;
    if (ev.type != YAML_STREAM_END_EVENT) {
        fatal_at(in, &ev.start_mark,
                 "a second YAML document: put every signup in the one list of the first");
        yaml_event_delete(&ev);
        return -1;
    }
    yaml_event_delete(&ev);
    in->state = ST_END;
    return 0;
}

enum intake_status intake_next(struct intake *in, struct signup *s, struct intake_pos *pos,
                               char *err)
{
    enum intake_status st;
    yaml_event_t ev;

    signup_init(s);
    if (in->state == ST_START && start_list(in) == -1)
        goto fatal;
    if (in->state == ST_END)
        return INTAKE_END;
    if (in->state == ST_FATAL)
        goto fatal;
    if (pull(in, &ev) == -1)
        goto fatal;
    if (ev.type == YAML_SEQUENCE_END_EVENT) {
        yaml_event_delete(&ev);
        if (end_list(in) == -1)
            goto fatal;
        return INTAKE_END;
    }
    pos->index = in->index;
    pos->line = (unsigned long)ev.start_mark.line + 1;
    pos->column = (unsigned long)ev.start_mark.column + 1;
    if (in->index >= INTAKE_MAX_SIGNUPS) {
        fatal_at(in, &ev.start_mark, "more than %d signups in one file; split it",
                 INTAKE_MAX_SIGNUPS);
        yaml_event_delete(&ev);
        goto fatal;
    }
    st = read_signup(in, &ev, s, err);
    if (st != INTAKE_FATAL)
        return st;
fatal:
    snprintf(err, ERRLEN, "%s", in->fatal);
    return INTAKE_FATAL;
}
