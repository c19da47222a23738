/*
 * queue_pg_load.c - the PostgreSQL backend reading whole signups through the
 * row codec, the lists taken apart by jsonb's functions: one signup
 * (pg_load), a claim's batch in two round trips (pg_load_many), and the
 * list command's pages (pg_list).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "queue_pg.h"

/* A list column's problem: NULL for an array (or none at all), else what is wrong. */
#define ARRAY_PROBLEM_SQL(col)                                                                     \
    "CASE WHEN " col " IS NULL OR jsonb_typeof(" col ") = 'array' THEN NULL"                       \
    " ELSE 'not a JSON array' END"

/* The columns of enum queue_column, then each list, its length and its problem. */
#define RECORD_COLUMNS_SQL                                                                         \
    "id, email, name, role, level, years, created_at, state, attempts,"                            \
    " next_attempt_at, updated_at, sent_at, message_id, last_reply, reason, claimed_by,"           \
    " claim_until, requeued_at, attempt_started_at, scrubbed_at, email_hash,"                      \
    " tasks, CASE WHEN jsonb_typeof(tasks) = 'array' THEN jsonb_array_length(tasks) ELSE 0 "       \
    "END, " ARRAY_PROBLEM_SQL("tasks") ","                                                         \
                                       " skills, CASE WHEN jsonb_typeof(skills) = 'array' THEN "   \
                                       "jsonb_array_length(skills) ELSE 0 END,"                    \
                                       " " ARRAY_PROBLEM_SQL("skills")

/* The first of the three columns of a list, after the record's. */
#define COL_TASKS  QCOL_COUNT
#define COL_SKILLS (QCOL_COUNT + 3)

/* The columns of enum queue_elem_column for the element e of a list. */
#define ELEMENT_COLUMNS_SQL                                                                        \
    "jsonb_typeof(e), CASE WHEN jsonb_typeof(e) = 'string' THEN e #>> '{}' END,"                   \
    " CASE WHEN jsonb_typeof(e) = 'object' THEN jsonb_typeof(e -> 'id') END,"                      \
    " CASE WHEN jsonb_typeof(e) = 'object' THEN e ->> 'id' END,"                                   \
    " CASE WHEN jsonb_typeof(e) = 'object' THEN jsonb_typeof(e -> 'share') END,"                   \
    " CASE WHEN jsonb_typeof(e -> 'share') = 'number' THEN (e ->> 'share')::float8 END,"           \
    " CASE WHEN jsonb_typeof(e) = 'object' THEN (SELECT k FROM jsonb_object_keys(e) AS k"          \
    "  WHERE k NOT IN ('id', 'share') LIMIT 1) END"

/* Each element of the array $1 (up to $2 of them). */
#define ELEMENTS_SQL                                                                               \
    "SELECT " ELEMENT_COLUMNS_SQL " FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY"          \
    " AS a (e, n) ORDER BY n LIMIT $2"

/*
 * For a claim's batch: the signup, the list (0 tasks, 1 skills) and the
 * element columns of every element of the tasks of the signups $1 and the
 * skills of the signups $2, in that order.  The rows are the claim's own,
 * locked by it: they read the same as the batch's row query did.
 */
#define BATCH_ELEMENT_BASE 2
#define BATCH_ELEMENTS_SQL                                                                         \
    "SELECT l.id, l.w, " ELEMENT_COLUMNS_SQL " FROM (SELECT id, 0 AS w, tasks AS arr"              \
    " FROM signups WHERE id = ANY ($1::bigint[]) UNION ALL SELECT id, 1, skills FROM signups"      \
    " WHERE id = ANY ($2::bigint[])) AS l CROSS JOIN LATERAL jsonb_array_elements(l.arr)"          \
    " WITH ORDINALITY AS a (e, n) ORDER BY l.id, l.w, a.n"

/* The kinds of the record's columns, in enum queue_column's order. */
static const enum queue_cell_type column_kinds[QCOL_COUNT] = {
    [QCOL_ID] = CELL_INT,
    [QCOL_EMAIL] = CELL_TEXT,
    [QCOL_NAME] = CELL_TEXT,
    [QCOL_ROLE] = CELL_TEXT,
    [QCOL_LEVEL] = CELL_TEXT,
    [QCOL_YEARS] = CELL_REAL,
    [QCOL_CREATED] = CELL_INT,
    [QCOL_STATE] = CELL_TEXT,
    [QCOL_ATTEMPTS] = CELL_INT,
    [QCOL_NEXT_ATTEMPT] = CELL_INT,
    [QCOL_UPDATED] = CELL_INT,
    [QCOL_SENT] = CELL_INT,
    [QCOL_MESSAGE_ID] = CELL_TEXT,
    [QCOL_LAST_REPLY] = CELL_TEXT,
    [QCOL_REASON] = CELL_TEXT,
    [QCOL_CLAIMED_BY] = CELL_TEXT,
    [QCOL_CLAIM_UNTIL] = CELL_INT,
    [QCOL_REQUEUED] = CELL_INT,
    [QCOL_ATTEMPT_STARTED] = CELL_INT,
    [QCOL_SCRUBBED] = CELL_INT,
    [QCOL_EMAIL_HASH] = CELL_TEXT,
};

static enum queue_json_type json_type_at(const PGresult *res, int row, int col)
{
    return queue_codec_json_type(PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col));
}

/* The element in row `row` of res, its columns from base on. */
static void read_element(const PGresult *res, int row, int base, struct queue_json_elem *e)
{
    *e = (struct queue_json_elem){0};
    e->type = json_type_at(res, row, base + ELEM_TYPE);
    if (e->type == JT_STRING)
        pg_cell(res, row, base + ELEM_ATOM, CELL_TEXT, &e->atom);
    if (e->type != JT_OBJECT)
        return;
    e->id_type = json_type_at(res, row, base + ELEM_ID_TYPE);
    pg_cell(res, row, base + ELEM_ID, CELL_TEXT, &e->id);
    e->share_type = json_type_at(res, row, base + ELEM_SHARE_TYPE);
    e->share = PQgetisnull(res, row, base + ELEM_SHARE)
                   ? 0
                   : strtod(PQgetvalue(res, row, base + ELEM_SHARE), NULL);
    e->extra_key = PQgetisnull(res, row, base + ELEM_EXTRA_KEY)
                       ? NULL
                       : PQgetvalue(res, row, base + ELEM_EXTRA_KEY);
}

/*
 * Where a claim's batch finds a list's elements: the rows first..first+n-1
 * of res, their columns from base on.  res NULL: the list is read by a query
 * of its own.
 */
struct elements {
    const PGresult *res;
    int first, n, base;
};

/* A list of row `row` that has elements to read (an array, not empty, not too long): 1, else 0. */
static int list_has_elements(const PGresult *res, int row, int is_task)
{
    int col = is_task ? COL_TASKS : COL_SKILLS;
    int64_t n = pg_int(res, row, col + 1);

    return PQgetisnull(res, row, col + 2) && n > 0 && (size_t)n <= queue_codec_max(is_task);
}

/*
 * A list of row `row`, element by element.  A problem stops at the first bad
 * element; a list longer than the limit is noted without reading it all.
 */
static int load_array(struct queue *q, const PGresult *row_res, int row, int is_task,
                      const struct elements *el, struct signup_record *r, char *err)
{
    int col = is_task ? COL_TASKS : COL_SKILLS;
    size_t max = queue_codec_max(is_task), i, n;
    struct queue_json_elem e;
    struct pg_params p = {0};
    struct elements own;
    PGresult *res = NULL;
    int rc = 0;

    if (!PQgetisnull(row_res, row, col + 2))
        return queue_codec_array_problem(r, is_task ? "tasks" : "skills",
                                         PQgetvalue(row_res, row, col + 2)) == -1
                   ? errf(err, "%s: out of memory", q->name)
                   : 0;
    n = (size_t)pg_int(row_res, row, col + 1);
    if (n == 0)
        return 0;
    if (n > max)
        return queue_codec_too_many(r, is_task) == -1 ? errf(err, "%s: out of memory", q->name) : 0;
    if (el == NULL) {
        pg_param_text(&p, PQgetvalue(row_res, row, col));
        pg_param_int(&p, (int64_t)max);
        res = pg_run(q, ELEMENTS_SQL, &p, "load signup", err);
        if (res == NULL)
            return -1;
        own = (struct elements){res, 0, PQntuples(res), 0};
        el = &own;
    }
    for (i = 0; i < (size_t)el->n && r->load_error == NULL && rc == 0; i++) {
        read_element(el->res, el->first + (int)i, el->base, &e);
        rc = queue_codec_element(r, is_task, i, &e);
    }
    PQclear(res);
    return rc == -1 ? errf(err, "%s: out of memory", q->name) : 0;
}

/*
 * Fills r from row `row` of RECORD_COLUMNS_SQL; el NULL, or the elements of
 * its tasks and skills already read.  -1 only for a database error or no
 * memory.
 */
static int load_record(struct queue *q, const PGresult *res, int row, const struct elements *el,
                       struct signup_record *r, char *err)
{
    struct queue_cell c[QCOL_COUNT];
    int i;

    for (i = 0; i < QCOL_COUNT; i++)
        pg_cell(res, row, i, column_kinds[i], &c[i]);
    if (queue_codec_row(q, c, r, err) == -1)
        goto fail;
    if (load_array(q, res, row, 1, el ? &el[0] : NULL, r, err) == -1 ||
        load_array(q, res, row, 0, el ? &el[1] : NULL, r, err) == -1)
        goto fail;
    return 0;
fail:
    signup_record_free(r);
    return -1;
}

int pg_load(struct queue *q, int64_t id, struct signup_record *r, char *err)
{
    struct pg_params p = {0};
    PGresult *res;
    int rc;

    pg_param_int(&p, id);
    res = pg_run(q, "SELECT " RECORD_COLUMNS_SQL " FROM signups WHERE id = $1", &p, "load signup",
                 err);
    if (res == NULL)
        return -1;
    rc = PQntuples(res) == 0 ? 1 : load_record(q, res, 0, NULL, r, err);
    PQclear(res);
    return rc;
}

/* The row of res (column 0 the id) whose id is id, or -1. */
static int row_of(const PGresult *res, int64_t id)
{
    int i;

    for (i = 0; i < PQntuples(res); i++)
        if (pg_int(res, i, 0) == id)
            return i;
    return -1;
}

/*
 * The elements of list w (0 tasks, 1 skills) of signup id in els, sorted by
 * signup and list: the run of its rows, empty when it has none.
 */
static struct elements elements_of(const PGresult *els, int64_t id, int w)
{
    struct elements el = {els, 0, 0, BATCH_ELEMENT_BASE};
    int rows = els ? PQntuples(els) : 0, lo = 0, hi = rows, mid;

    /* The first row at or after (id, w). */
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (pg_int(els, mid, 0) < id || (pg_int(els, mid, 0) == id && pg_int(els, mid, 1) < w))
            lo = mid + 1;
        else
            hi = mid;
    }
    el.first = lo;
    while (lo < rows && pg_int(els, lo, 0) == id && pg_int(els, lo, 1) == w)
        lo++;
    el.n = lo - el.first;
    return el;
}

/* "{1,2,3}" of the ids whose list (is_task: tasks, else skills) has elements to read. */
static void ids_with_elements(const PGresult *res, int is_task, struct buf *arr)
{
    int i, any = 0;

    buf_putc(arr, '{');
    for (i = 0; i < PQntuples(res); i++)
        if (list_has_elements(res, i, is_task))
            buf_printf(arr, "%s%s", any++ ? "," : "", PQgetvalue(res, i, 0));
    buf_putc(arr, '}');
}

/* The ids as an array literal. */
static void id_array(const int64_t *ids, int n, struct buf *arr)
{
    int i;

    buf_putc(arr, '{');
    for (i = 0; i < n; i++)
        buf_printf(arr, "%s%lld", i ? "," : "", (long long)ids[i]);
    buf_putc(arr, '}');
}

/*
 * The claim's batch in two round trips, where one by one it took three per
 * signup: the rows, then every element of their lists.
 */
int pg_load_many(struct queue *q, const int64_t *ids, int n, struct signup_record *v, char *err)
{
    struct buf all, tasks, skills;
    struct elements el[2];
    struct pg_params p = {0};
    PGresult *res = NULL, *els = NULL;
    int i, row, rc = 0;

    buf_init(&all);
    buf_init(&tasks);
    buf_init(&skills);
    id_array(ids, n, &all);
    if (buf_failed(&all)) {
        rc = errf(err, "%s: load signups: out of memory", q->name);
        goto done;
    }
    pg_param_text(&p, buf_str(&all));
    res = pg_run(q, "SELECT " RECORD_COLUMNS_SQL " FROM signups WHERE id = ANY ($1::bigint[])", &p,
                 "load signups", err);
    if (res == NULL) {
        rc = -1;
        goto done;
    }
    if (PQntuples(res) != n) {
        rc = 1;
        goto done;
    }
    ids_with_elements(res, 1, &tasks);
    ids_with_elements(res, 0, &skills);
    if (buf_failed(&tasks) || buf_failed(&skills)) {
        rc = errf(err, "%s: load signups: out of memory", q->name);
        goto done;
    }
    if (strcmp(buf_str(&tasks), "{}") != 0 || strcmp(buf_str(&skills), "{}") != 0) {
        p = (struct pg_params){0};
        pg_param_text(&p, buf_str(&tasks));
        pg_param_text(&p, buf_str(&skills));
        els = pg_run(q, BATCH_ELEMENTS_SQL, &p, "load signups", err);
        if (els == NULL) {
            rc = -1;
            goto done;
        }
    }
    for (i = 0; i < n; i++) {
        row = row_of(res, ids[i]);
        if (row == -1) {
            rc = 1;
            break;
        }
        el[0] = elements_of(els, ids[i], 0);
        el[1] = elements_of(els, ids[i], 1);
        /* A failed record is freed already: only the ones before it are left. */
        if (load_record(q, res, row, el, &v[i], err) == -1) {
            rc = -1;
            break;
        }
    }
    if (rc != 0)
        while (i-- > 0)
            signup_record_free(&v[i]);
done:
    PQclear(res);
    PQclear(els);
    buf_free(&all);
    buf_free(&tasks);
    buf_free(&skills);
    return rc;
}

/*
 * Rows a page at a time, so that listing a large queue does not hold it all
 * in memory; the caller's snapshot keeps the pages consistent.
 */
#define LIST_PAGE 500

int pg_list(struct queue *q, int state, queue_list_fn fn, void *arg, char *err)
{
    struct signup_record r;
    int64_t after = 0;
    int i, n, stop = 0;

    do {
        struct pg_params p = {0};
        PGresult *res;

        pg_param_text(&p, state < 0 ? NULL : queue_state_sql_name((enum signup_state)state));
        pg_param_int(&p, after);
        pg_param_int(&p, LIST_PAGE);
        res = pg_run(q,
                     "SELECT " RECORD_COLUMNS_SQL " FROM signups WHERE ($1::text IS NULL"
                     " OR state = $1) AND id > $2 ORDER BY id LIMIT $3",
                     &p, "list", err);
        if (res == NULL)
            return -1;
        n = PQntuples(res);
        for (i = 0; i < n && !stop; i++) {
            if (load_record(q, res, i, NULL, &r, err) == -1) {
                PQclear(res);
                return -1;
            }
            after = r.signup.id;
            stop = fn(arg, &r);
            signup_record_free(&r);
        }
        PQclear(res);
    } while (!stop && n == LIST_PAGE);
    return 0;
}
