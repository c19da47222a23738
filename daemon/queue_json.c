/*
 * queue_json.c - a producer's tasks or skills list, read element by element
 * in one pass.  The database has already said the text is a JSON array
 * (json_valid(), json_type()), so this reader trusts the grammar but not the
 * content: it still stops, as INVALID, at anything it does not expect rather
 * than read past the end.  SQLite's json_each() with a json_extract() per
 * member parsed each element five times over; this is what a claim of fifty
 * signups spends on their lists.
 */
#include "queue_json.h"

#include <stdlib.h>
#include <string.h>

/* Objects and arrays nested deeper than this inside an element are refused, not recursed into. */
#define JSON_MAX_DEPTH 64

void queue_json_list_init(struct queue_json_list *l, const char *json, size_t len)
{
    l->p = json;
    l->end = json + len;
    l->started = 0;
    buf_init(&l->atom);
    buf_init(&l->id);
    buf_init(&l->extra_key);
    buf_init(&l->key);
}

void queue_json_list_free(struct queue_json_list *l)
{
    buf_free(&l->atom);
    buf_free(&l->id);
    buf_free(&l->extra_key);
    buf_free(&l->key);
}

static void skip_blanks(struct queue_json_list *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
        l->p++;
}

/* Takes c if it comes next (after blanks). */
static int take(struct queue_json_list *l, char c)
{
    skip_blanks(l);
    if (l->p < l->end && *l->p == c) {
        l->p++;
        return 1;
    }
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits after "\u": the code unit, or -1. */
static long code_unit(struct queue_json_list *l)
{
    long v = 0;
    int i;

    if (l->end - l->p < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        int h = hex_value(l->p[i]);

        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    l->p += 4;
    return v;
}

static void put_utf8(struct buf *out, unsigned long cp)
{
    if (cp < 0x80) {
        buf_putc(out, (char)cp);
    } else if (cp < 0x800) {
        buf_putc(out, (char)(0xC0 | (cp >> 6)));
        buf_putc(out, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        buf_putc(out, (char)(0xE0 | (cp >> 12)));
        buf_putc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
        buf_putc(out, (char)(0x80 | (cp & 0x3F)));
    } else {
        buf_putc(out, (char)(0xF0 | (cp >> 18)));
        buf_putc(out, (char)(0x80 | ((cp >> 12) & 0x3F)));
        buf_putc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
        buf_putc(out, (char)(0x80 | (cp & 0x3F)));
    }
}

/* "\uXXXX", a surrogate pair taken whole; a lone surrogate is kept as its code unit. */
static int unescape_unicode(struct queue_json_list *l, struct buf *out)
{
    long hi = code_unit(l), lo;

    if (hi < 0)
        return -1;
    if (hi >= 0xD800 && hi <= 0xDBFF && l->end - l->p >= 6 && l->p[0] == '\\' && l->p[1] == 'u') {
        const char *at = l->p;

        l->p += 2;
        lo = code_unit(l);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            put_utf8(out,
                     0x10000 + (((unsigned long)hi - 0xD800) << 10) + ((unsigned long)lo - 0xDC00));
            return 0;
        }
        l->p = at;
    }
    put_utf8(out, (unsigned long)hi);
    return 0;
}

static int unescape_one(struct queue_json_list *l, struct buf *out)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit;

    if (l->p >= l->end)
        return -1;
    if (*l->p == 'u') {
        l->p++;
        return unescape_unicode(l, out);
    }
    hit = strchr(from, *l->p);
    if (hit == NULL || *l->p == '\0')
        return -1;
    buf_putc(out, to[hit - from]);
    l->p++;
    return 0;
}

/* A string at l->p (its opening quote), unescaped into out when out is not NULL. */
static int read_string(struct queue_json_list *l, struct buf *out)
{
    if (out != NULL)
        buf_reset(out);
    if (l->p >= l->end || *l->p != '"')
        return -1;
    l->p++;
    while (l->p < l->end && *l->p != '"') {
        const char *run = l->p;

        while (l->p < l->end && *l->p != '"' && *l->p != '\\')
            l->p++;
        if (out != NULL)
            buf_append(out, run, (size_t)(l->p - run));
        if (l->p < l->end && *l->p == '\\') {
            l->p++;
            if (out != NULL ? unescape_one(l, out) == -1 : l->p++ >= l->end)
                return -1;
        }
    }
    if (l->p >= l->end)
        return -1;
    l->p++;
    return out != NULL && buf_failed(out) ? -2 : 0;
}

/* A number, true, false or null: the bytes up to the next delimiter. */
static const char *scalar_end(const struct queue_json_list *l)
{
    const char *p = l->p;

    while (p < l->end && strchr(",]} \t\n\r", *p) == NULL)
        p++;
    return p;
}

/* The kind of the value at l->p, without moving. */
static enum queue_json_type peek_type(struct queue_json_list *l)
{
    skip_blanks(l);
    if (l->p >= l->end)
        return JT_OTHER;
    switch (*l->p) {
    case '"':
        return JT_STRING;
    case '{':
        return JT_OBJECT;
    case 'n':
        return JT_NULL;
    case '-':
        return JT_NUMBER;
    default:
        return *l->p >= '0' && *l->p <= '9' ? JT_NUMBER : JT_OTHER;
    }
}

/* Skips one value of any kind, nested ones included. */
static int skip_value(struct queue_json_list *l)
{
    int depth = 0;

    skip_blanks(l);
    do {
        if (l->p >= l->end)
            return -1;
        if (*l->p == '"') {
            if (read_string(l, NULL) != 0)
                return -1;
        } else if (*l->p == '{' || *l->p == '[') {
            if (++depth > JSON_MAX_DEPTH)
                return -1;
            l->p++;
        } else if (*l->p == '}' || *l->p == ']') {
            if (depth-- == 0)
                return -1;
            l->p++;
        } else if (*l->p == ',' || *l->p == ':') {
            if (depth == 0)
                return -1;
            l->p++;
        } else {
            const char *end = scalar_end(l);

            if (end == l->p)
                l->p++;
            else
                l->p = end;
        }
        skip_blanks(l);
    } while (depth > 0);
    return 0;
}

static int read_number(struct queue_json_list *l, double *out)
{
    const char *end = scalar_end(l);
    char tmp[64];
    char *stop;
    size_t n = (size_t)(end - l->p);

    /* A JSON number longer than this is no share anyone typed; strtod sees its start. */
    if (n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    memcpy(tmp, l->p, n);
    tmp[n] = '\0';
    *out = strtod(tmp, &stop);
    if (stop == tmp)
        return -1;
    l->p = end;
    return 0;
}

/* A member's value when it is the first "id": its kind, and its text when a string. */
static int read_id(struct queue_json_list *l, struct queue_json_elem *e)
{
    int rc;

    e->id_type = peek_type(l);
    if (e->id_type != JT_STRING)
        return skip_value(l);
    rc = read_string(l, &l->id);
    if (rc != 0)
        return rc;
    e->id = (struct queue_cell){.type = CELL_TEXT, .text = buf_str(&l->id), .len = l->id.len};
    return 0;
}

static int read_share(struct queue_json_list *l, struct queue_json_elem *e)
{
    e->share_type = peek_type(l);
    if (e->share_type != JT_NUMBER)
        return skip_value(l);
    return read_number(l, &e->share);
}

/*
 * An object element: its first "id" and "share" members and its first key
 * that is neither, as json_extract('$.id') and json_each() give them.
 */
static int read_object(struct queue_json_list *l, struct queue_json_elem *e)
{
    struct buf *key = &l->key;
    int rc = 0;

    e->id_type = e->share_type = JT_ABSENT;
    l->p++;
    if (take(l, '}'))
        return 0;
    do {
        skip_blanks(l);
        rc = read_string(l, key);
        if (rc != 0 || !take(l, ':')) {
            rc = rc == -2 ? -2 : -1;
            break;
        }
        if (strcmp(buf_str(key), "id") == 0 && key->len == 2 && e->id_type == JT_ABSENT) {
            rc = read_id(l, e);
        } else if (strcmp(buf_str(key), "share") == 0 && key->len == 5 &&
                   e->share_type == JT_ABSENT) {
            rc = read_share(l, e);
        } else {
            if (e->extra_key == NULL && strcmp(buf_str(key), "id") != 0 &&
                strcmp(buf_str(key), "share") != 0) {
                buf_reset(&l->extra_key);
                buf_append(&l->extra_key, key->data, key->len);
                e->extra_key = buf_str(&l->extra_key);
            }
            rc = skip_value(l);
        }
    } while (rc == 0 && take(l, ','));
    if (rc == 0 && !take(l, '}'))
        rc = -1;
    return rc;
}

static enum queue_json_status read_element(struct queue_json_list *l, struct queue_json_elem *e)
{
    int rc;

    *e = (struct queue_json_elem){.type = peek_type(l)};
    switch (e->type) {
    case JT_STRING:
        rc = read_string(l, &l->atom);
        if (rc == 0)
            e->atom = (struct queue_cell){
                .type = CELL_TEXT, .text = buf_str(&l->atom), .len = l->atom.len};
        break;
    case JT_OBJECT:
        rc = read_object(l, e);
        break;
    default:
        rc = skip_value(l);
        break;
    }
    if (buf_failed(&l->atom) || buf_failed(&l->id) || buf_failed(&l->extra_key) ||
        buf_failed(&l->key) || rc == -2)
        return QUEUE_JSON_NOMEM;
    return rc == 0 ? QUEUE_JSON_ELEMENT : QUEUE_JSON_INVALID;
}

enum queue_json_status queue_json_list_next(struct queue_json_list *l, struct queue_json_elem *e)
{
    if (!l->started) {
        l->started = 1;
        if (!take(l, '['))
            return QUEUE_JSON_INVALID;
        if (take(l, ']'))
            return QUEUE_JSON_END;
    } else {
        if (take(l, ']'))
            return QUEUE_JSON_END;
        if (!take(l, ','))
            return QUEUE_JSON_INVALID;
    }
    return read_element(l, e);
}
