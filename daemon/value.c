/* value.c - the template data tree, built in an arena. */
#include "value.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* First sizes of the arrays: most lists and maps of a report hold a few to a dozen entries. */
#define LIST_FIRST_CAP 4
#define MAP_FIRST_CAP  8
/*
 * Whole numbers below this print as their digits under %.15g (15
 * significant digits, no exponent), so they can be written without printf.
 */
#define PLAIN_INTEGER_LIMIT 1e15

static struct value *value_new(struct arena *a, enum value_type type)
{
    struct value *v = arena_alloc(a, sizeof(*v));

    if (v) {
        memset(v, 0, sizeof(*v));
        v->type = type;
    }
    return v;
}

struct value *value_null(struct arena *a)
{
    return value_new(a, VALUE_NULL);
}

struct value *value_bool(struct arena *a, int b)
{
    struct value *v = value_new(a, VALUE_BOOL);

    if (v)
        v->u.boolean = b != 0;
    return v;
}

struct value *value_number(struct arena *a, double d)
{
    struct value *v = value_new(a, VALUE_NUMBER);

    if (v)
        v->u.number = d;
    return v;
}

struct value *value_stringn(struct arena *a, const char *s, size_t len)
{
    struct value *v;
    char *copy;

    if (s == NULL || (v = value_new(a, VALUE_STRING)) == NULL ||
        (copy = arena_strndup(a, s, len)) == NULL)
        return NULL;
    v->u.str.s = copy;
    v->u.str.len = len;
    return v;
}

struct value *value_string(struct arena *a, const char *s)
{
    return s ? value_stringn(a, s, strlen(s)) : NULL;
}

struct value *value_string_ref(struct arena *a, const char *s)
{
    struct value *v;

    if (s == NULL || (v = value_new(a, VALUE_STRING)) == NULL)
        return NULL;
    v->u.str.s = s;
    v->u.str.len = strlen(s);
    return v;
}

struct value *value_list(struct arena *a)
{
    struct value *v = value_new(a, VALUE_LIST);

    if (v)
        v->u.list.arena = a;
    return v;
}

struct value *value_map(struct arena *a)
{
    struct value *v = value_new(a, VALUE_MAP);

    if (v)
        v->u.map.arena = a;
    return v;
}

/* Makes room for one more of n items of size bytes: a bigger array in the arena, the old one left.
 */
static int grow(struct arena *a, void **p, size_t *cap, size_t n, size_t size, size_t first)
{
    size_t ncap;
    void *np;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : first;
    if (ncap > (size_t)-1 / size || (np = arena_alloc(a, ncap * size)) == NULL)
        return -1;
    if (n)
        memcpy(np, *p, n * size);
    *p = np;
    *cap = ncap;
    return 0;
}

int value_list_push(struct value *list, struct value *item)
{
    if (list == NULL || item == NULL || list->type != VALUE_LIST ||
        grow(list->u.list.arena, (void **)&list->u.list.items, &list->u.list.cap, list->u.list.n,
             sizeof(struct value *), LIST_FIRST_CAP) == -1)
        return -1;
    list->u.list.items[list->u.list.n++] = item;
    return 0;
}

static struct value_pair *find_pair(const struct value *map, const char *key, size_t len)
{
    struct value_pair *p, *end;

    /* An empty map may have no array: no pointer arithmetic on NULL. */
    if (map->u.map.n == 0)
        return NULL;
    /* Lengths first, then the first byte: most keys are ruled out without a call. */
    for (p = map->u.map.pairs, end = p + map->u.map.n; p < end; p++)
        if (p->klen == len && (len == 0 || (p->key[0] == key[0] && memcmp(p->key, key, len) == 0)))
            return p;
    return NULL;
}

/* Appends a pair for key (of len bytes, kept as it is). */
static int append_pair(struct value *map, const char *key, size_t len, struct value *val)
{
    struct value_pair *p;

    if (grow(map->u.map.arena, (void **)&map->u.map.pairs, &map->u.map.cap, map->u.map.n,
             sizeof(struct value_pair), MAP_FIRST_CAP) == -1)
        return -1;
    p = &map->u.map.pairs[map->u.map.n++];
    p->key = key;
    p->klen = len;
    p->val = val;
    return 0;
}

int value_map_set(struct value *map, const char *key, struct value *val)
{
    struct value_pair *p;
    size_t len;
    char *k;

    if (map == NULL || key == NULL || val == NULL || map->type != VALUE_MAP)
        return -1;
    len = strlen(key);
    if ((p = find_pair(map, key, len)) != NULL) {
        p->val = val;
        return 0;
    }
    if ((k = arena_strndup(map->u.map.arena, key, len)) == NULL)
        return -1;
    return append_pair(map, k, len, val);
}

int value_map_add(struct value *map, const char *key, struct value *val)
{
    if (map == NULL || key == NULL || val == NULL || map->type != VALUE_MAP)
        return -1;
    return append_pair(map, key, strlen(key), val);
}

const struct value *value_map_getn(const struct value *map, const char *key, size_t len)
{
    const struct value_pair *p;

    if (map == NULL || map->type != VALUE_MAP)
        return NULL;
    p = find_pair(map, key, len);
    return p ? p->val : NULL;
}

const struct value *value_map_get(const struct value *map, const char *key)
{
    return value_map_getn(map, key, strlen(key));
}

/*
 * Mustache leaves truthiness to the host language; the spec's tests expect
 * false, null and the empty list to be falsey.  An empty string is falsey
 * too, so that {{#name}}Hi {{name}}{{/name}} works for an optional name.
 */
int value_truthy(const struct value *v)
{
    if (v == NULL)
        return 0;
    switch (v->type) {
    case VALUE_NULL:
        return 0;
    case VALUE_BOOL:
        return v->u.boolean;
    case VALUE_STRING:
        return v->u.str.len > 0;
    case VALUE_LIST:
        return v->u.list.n > 0;
    default:
        return 1;
    }
}

/*
 * A report's numbers are whole (scores, percentages, counts, most years):
 * those are written digit by digit, the same text as printf's and a tenth
 * of its cost; anything else (fractions, -0, huge, NaN) goes to printf.
 */
size_t value_format_number(double d, char *out)
{
    char digits[VALUE_NUMBER_MAX];
    long long n;
    unsigned long long u;
    size_t len = 0, k = 0;

    if (!(d > -PLAIN_INTEGER_LIMIT && d < PLAIN_INTEGER_LIMIT) || (n = (long long)d) != d ||
        (n == 0 && signbit(d))) {
        int w = snprintf(out, VALUE_NUMBER_MAX, "%.15g", d);

        return w > 0 ? (size_t)w : 0;
    }
    if (n < 0)
        out[len++] = '-';
    u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
    do {
        digits[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    while (k > 0)
        out[len++] = digits[--k];
    out[len] = '\0';
    return len;
}

int value_append_text(const struct value *v, struct buf *out)
{
    char num[VALUE_NUMBER_MAX];

    if (v == NULL)
        return 0;
    switch (v->type) {
    case VALUE_NULL:
        return 0;
    case VALUE_BOOL:
        return v->u.boolean ? buf_append(out, "true", 4) : buf_append(out, "false", 5);
    case VALUE_NUMBER:
        return buf_append(out, num, value_format_number(v->u.number, num));
    case VALUE_STRING:
        return buf_append(out, v->u.str.s, v->u.str.len);
    default:
        return 0;
    }
}
