/*
 * queue_codec.c - the row codec, written once for every backend: a signup
 * row as a backend read it (neutral cells, JSON elements) into a
 * signup_record, judging what a producer wrote; and a signup's task and
 * skill lists into the JSON text a row stores.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "queue_backend.h"

enum copy_result { COPY_OK, COPY_NULL, COPY_NOT_TEXT, COPY_HAS_NUL, COPY_NOMEM };

/* Copies a text cell, telling a NUL inside the text (which C would cut) from a good one. */
static enum copy_result copy_text(const struct queue_cell *c, char **out)
{
    *out = NULL;
    if (c->type == CELL_NULL)
        return COPY_NULL;
    if (c->type != CELL_TEXT)
        return COPY_NOT_TEXT;
    if (c->text == NULL)
        return COPY_NOMEM;
    if (memchr(c->text, '\0', c->len) != NULL)
        return COPY_HAS_NUL;
    *out = strndup(c->text, c->len);
    return *out ? COPY_OK : COPY_NOMEM;
}

/* Our own bookkeeping columns: text or NULL.  -1 out of memory. */
static int copy_own_text(const struct queue_cell *c, char **out)
{
    *out = NULL;
    if (c->type == CELL_NULL)
        return 0;
    if (c->text == NULL)
        return -1;
    *out = strndup(c->text, c->len);
    return *out ? 0 : -1;
}

static int64_t cell_int(const struct queue_cell *c)
{
    return c->type == CELL_INT ? c->i : c->type == CELL_REAL ? (int64_t)c->d : 0;
}

UTIL_PRINTF(2, 3) static int note_problem(struct signup_record *r, const char *fmt, ...)
{
    char msg[ERRLEN];
    va_list ap;

    if (r->load_error)
        return 0;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->load_error = strdup(msg);
    return r->load_error ? 0 : -1;
}

void queue_codec_init(struct signup_record *r)
{
    *r = (struct signup_record){0};
    signup_init(&r->signup);
}

/*
 * A producer's text column: a problem is noted in the record, not returned.
 * -1 only when out of memory.
 */
static int load_text(const struct queue_cell *c, const char *field, int required, char **out,
                     struct signup_record *r)
{
    switch (copy_text(c, out)) {
    case COPY_OK:
        return 0;
    case COPY_NULL:
        return required ? note_problem(r, "%s: missing", field) : 0;
    case COPY_NOT_TEXT:
        return note_problem(r, "%s: not text", field);
    case COPY_HAS_NUL:
        return note_problem(r, "%s: contains a line break or control character", field);
    case COPY_NOMEM:
        break;
    }
    return -1;
}

static int load_years(const struct queue_cell *c, struct signup_record *r)
{
    switch (c->type) {
    case CELL_NULL:
        return 0;
    case CELL_INT:
        r->signup.years = (double)c->i;
        r->signup.has_years = 1;
        return 0;
    case CELL_REAL:
        r->signup.years = c->d;
        r->signup.has_years = 1;
        return 0;
    default:
        /* Both backends' column types already turn numeric text into a number. */
        return note_problem(r, "years: not a number");
    }
}

int queue_codec_producer(const struct queue_cell *c, struct signup_record *r)
{
    struct signup *s = &r->signup;

    s->id = cell_int(&c[QCOL_ID]);
    s->created_ms = cell_int(&c[QCOL_CREATED]);
    if (load_text(&c[QCOL_EMAIL], "email", 1, &s->email, r) == -1 ||
        load_text(&c[QCOL_NAME], "name", 0, &s->name, r) == -1 ||
        load_text(&c[QCOL_ROLE], "role", 1, &s->role, r) == -1 ||
        load_text(&c[QCOL_LEVEL], "level", 1, &s->level, r) == -1 ||
        load_years(&c[QCOL_YEARS], r) == -1)
        return -1;
    /* A producer writing '' means no name, as NULL does. */
    if (s->name && *s->name == '\0') {
        free(s->name);
        s->name = NULL;
    }
    return 0;
}

int queue_codec_own(const struct queue *q, const struct queue_cell *c, struct signup_record *r,
                    char *err)
{
    const struct queue_cell *state = &c[QCOL_STATE];
    char name[32];

    snprintf(name, sizeof(name), "%.*s", state->type == CELL_TEXT ? (int)state->len : 4,
             state->type == CELL_TEXT ? state->text : "NULL");
    if (state->type != CELL_TEXT || signup_state_parse(name, &r->state) == -1)
        return errf(err, "%s: signup %lld: unknown state \"%s\"", q->name,
                    (long long)cell_int(&c[QCOL_ID]), name);
    r->attempts = (int)cell_int(&c[QCOL_ATTEMPTS]);
    r->next_attempt_ms = cell_int(&c[QCOL_NEXT_ATTEMPT]);
    r->updated_ms = cell_int(&c[QCOL_UPDATED]);
    r->sent_ms = cell_int(&c[QCOL_SENT]);
    r->claim_until_ms = cell_int(&c[QCOL_CLAIM_UNTIL]);
    r->requeued_ms = cell_int(&c[QCOL_REQUEUED]);
    r->attempt_started_ms = cell_int(&c[QCOL_ATTEMPT_STARTED]);
    r->scrubbed_ms = cell_int(&c[QCOL_SCRUBBED]);
    if (copy_own_text(&c[QCOL_MESSAGE_ID], &r->message_id) == -1 ||
        copy_own_text(&c[QCOL_EMAIL_HASH], &r->email_hash) == -1 ||
        copy_own_text(&c[QCOL_LAST_REPLY], &r->last_reply) == -1 ||
        copy_own_text(&c[QCOL_REASON], &r->reason) == -1 ||
        copy_own_text(&c[QCOL_CLAIMED_BY], &r->claimed_by) == -1)
        return errf(err, "%s: out of memory", q->name);
    return 0;
}

int queue_codec_row(const struct queue *q, const struct queue_cell *c, struct signup_record *r,
                    char *err)
{
    queue_codec_init(r);
    if (queue_codec_own(q, c, r, err) == -1)
        return -1;
    if (queue_codec_producer(c, r) == -1)
        return errf(err, "%s: out of memory", q->name);
    return 0;
}

int queue_codec_array_problem(struct signup_record *r, const char *field, const char *problem)
{
    return note_problem(r, "%s: %s", field, problem);
}

size_t queue_codec_max(int is_task)
{
    static const size_t max[] = {SIGNUP_MAX_SKILLS, SIGNUP_MAX_TASKS};

    return max[is_task != 0];
}

int queue_codec_too_many(struct signup_record *r, int is_task)
{
    return note_problem(r, "%s: more than %zu entries", is_task ? "tasks" : "skills",
                        queue_codec_max(is_task));
}

enum queue_json_type queue_codec_json_type(const char *name)
{
    static const struct {
        const char *name;
        enum queue_json_type type;
    } names[] = {
        {"text", JT_STRING},   {"string", JT_STRING}, {"integer", JT_NUMBER}, {"real", JT_NUMBER},
        {"number", JT_NUMBER}, {"object", JT_OBJECT}, {"null", JT_NULL},
    };
    size_t i;

    if (name == NULL)
        return JT_ABSENT;
    for (i = 0; i < NELEM(names); i++)
        if (strcmp(name, names[i].name) == 0)
            return names[i].type;
    return JT_OTHER;
}

static int load_task_object(const struct queue_json_elem *e, size_t i, struct signup_record *r)
{
    char *id;
    int rc;

    if (e->extra_key != NULL)
        return note_problem(r, "tasks[%zu]: unknown key \"%s\"", i, e->extra_key);
    if (e->id_type == JT_ABSENT)
        return note_problem(r, "tasks[%zu].id: missing", i);
    if (e->id_type != JT_STRING)
        return note_problem(r, "tasks[%zu].id: not a string", i);
    if (e->share_type != JT_NUMBER && e->share_type != JT_NULL && e->share_type != JT_ABSENT)
        return note_problem(r, "tasks[%zu].share: not a number", i);
    switch (copy_text(&e->id, &id)) {
    case COPY_OK:
        rc = signup_add_task(&r->signup, id, e->share, e->share_type == JT_NUMBER);
        free(id);
        return rc;
    case COPY_NOMEM:
        return -1;
    default:
        return note_problem(r, "tasks[%zu].id: contains a line break or control character", i);
    }
}

static int load_task(const struct queue_json_elem *e, size_t i, struct signup_record *r)
{
    char *id;
    int rc;

    if (e->type == JT_OBJECT)
        return load_task_object(e, i, r);
    if (e->type != JT_STRING)
        return note_problem(r, "tasks[%zu]: not a task id or an {\"id\", \"share\"} object", i);
    switch (copy_text(&e->atom, &id)) {
    case COPY_OK:
        rc = signup_add_task(&r->signup, id, 0, 0);
        free(id);
        return rc;
    case COPY_NOMEM:
        return -1;
    default:
        return note_problem(r, "tasks[%zu]: contains a line break or control character", i);
    }
}

static int load_skill(const struct queue_json_elem *e, size_t i, struct signup_record *r)
{
    char *id;
    int rc;

    if (e->type != JT_STRING)
        return note_problem(r, "skills[%zu]: not a string", i);
    switch (copy_text(&e->atom, &id)) {
    case COPY_OK:
        rc = signup_add_skill(&r->signup, id);
        free(id);
        return rc;
    case COPY_NOMEM:
        return -1;
    default:
        return note_problem(r, "skills[%zu]: contains a line break or control character", i);
    }
}

int queue_codec_element(struct signup_record *r, int is_task, size_t i,
                        const struct queue_json_elem *e)
{
    return is_task ? load_task(e, i, r) : load_skill(e, i, r);
}

/* --- lists into JSON ----------------------------------------------------- */

static void json_string(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    buf_putc(b, '"');
    for (; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            buf_printf(b, "\\u%04x", *p);
        else
            buf_putc(b, *p);
    }
    buf_putc(b, '"');
}

/*
 * Shares are validated finite percentages; 15 significant digits give back
 * the decimal a person typed.  (reportd never calls setlocale, so the
 * decimal point stays a point.)
 */
char *queue_codec_tasks_json(const struct signup *s)
{
    struct buf b;
    size_t i;

    buf_init(&b);
    buf_putc(&b, '[');
    for (i = 0; i < s->ntasks; i++) {
        if (i)
            buf_putc(&b, ',');
        if (!s->tasks[i].has_share) {
            json_string(&b, s->tasks[i].id);
            continue;
        }
        buf_puts(&b, "{\"id\":");
        json_string(&b, s->tasks[i].id);
        buf_printf(&b, ",\"share\":%.15g}", s->tasks[i].share);
    }
    buf_putc(&b, ']');
    return buf_steal(&b);
}

char *queue_codec_skills_json(const struct signup *s)
{
    struct buf b;
    size_t i;

    buf_init(&b);
    buf_putc(&b, '[');
    for (i = 0; i < s->nskills; i++) {
        if (i)
            buf_putc(&b, ',');
        json_string(&b, s->skills[i]);
    }
    buf_putc(&b, ']');
    return buf_steal(&b);
}
