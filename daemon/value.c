/* value.c - the template data tree. */
#include "value.h"

#include <stdlib.h>
#include <string.h>

static struct value *value_new(enum value_type type)
{
    struct value *v = calloc(1, sizeof(*v));

    if (v)
        v->type = type;
    return v;
}

struct value *value_null(void)
{
    return value_new(VALUE_NULL);
}

struct value *value_bool(int b)
{
    struct value *v = value_new(VALUE_BOOL);

    if (v)
        v->u.boolean = b != 0;
    return v;
}

struct value *value_number(double d)
{
    struct value *v = value_new(VALUE_NUMBER);

    if (v)
        v->u.number = d;
    return v;
}

struct value *value_stringn(const char *s, size_t len)
{
    struct value *v;

    if (s == NULL)
        return NULL;
    v = value_new(VALUE_STRING);
    if (v == NULL)
        return NULL;
    v->u.str.s = malloc(len + 1);
    if (v->u.str.s == NULL) {
        free(v);
        return NULL;
    }
    memcpy(v->u.str.s, s, len);
    v->u.str.s[len] = '\0';
    v->u.str.len = len;
    return v;
}

struct value *value_string(const char *s)
{
    return s ? value_stringn(s, strlen(s)) : NULL;
}

struct value *value_list(void)
{
    return value_new(VALUE_LIST);
}

struct value *value_map(void)
{
    return value_new(VALUE_MAP);
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
    size_t ncap;
    void *np;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 4;
    np = realloc(*p, ncap * size);
    if (np == NULL)
        return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

int value_list_push(struct value *list, struct value *item)
{
    size_t cap;

    if (list == NULL || item == NULL || list->type != VALUE_LIST)
        goto fail;
    cap = list->u.list.cap;
    if (grow((void **)&list->u.list.items, &cap, list->u.list.n, sizeof(struct value *)) == -1)
        goto fail;
    list->u.list.cap = cap;
    list->u.list.items[list->u.list.n++] = item;
    return 0;
fail:
    value_free(item);
    return -1;
}

int value_map_set(struct value *map, const char *key, struct value *val)
{
    struct value_pair *p;
    size_t i, cap;
    char *k;

    if (map == NULL || key == NULL || val == NULL || map->type != VALUE_MAP)
        goto fail;
    for (i = 0; i < map->u.map.n; i++) {
        p = &map->u.map.pairs[i];
        if (strcmp(p->key, key) == 0) {
            value_free(p->val);
            p->val = val;
            return 0;
        }
    }
    cap = map->u.map.cap;
    if (grow((void **)&map->u.map.pairs, &cap, map->u.map.n, sizeof(struct value_pair)) == -1)
        goto fail;
    map->u.map.cap = cap;
    if ((k = strdup(key)) == NULL)
        goto fail;
    p = &map->u.map.pairs[map->u.map.n++];
    p->key = k;
    p->val = val;
    return 0;
fail:
    value_free(val);
    return -1;
}

const struct value *value_map_get(const struct value *map, const char *key)
{
    size_t i;

    if (map == NULL || map->type != VALUE_MAP)
        return NULL;
    /* The first byte rules out most keys without a call. */
    for (i = 0; i < map->u.map.n; i++)
        if (map->u.map.pairs[i].key[0] == key[0] && strcmp(map->u.map.pairs[i].key, key) == 0)
            return map->u.map.pairs[i].val;
    return NULL;
}

void value_free(struct value *v)
{
    size_t i;

    if (v == NULL)
        return;
    switch (v->type) {
    case VALUE_STRING:
        free(v->u.str.s);
        break;
    case VALUE_LIST:
        for (i = 0; i < v->u.list.n; i++)
            value_free(v->u.list.items[i]);
        free(v->u.list.items);
        break;
    case VALUE_MAP:
        for (i = 0; i < v->u.map.n; i++) {
            free(v->u.map.pairs[i].key);
            value_free(v->u.map.pairs[i].val);
        }
        free(v->u.map.pairs);
        break;
    default:
        break;
    }
    free(v);
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

int value_append_text(const struct value *v, struct buf *out)
{
    if (v == NULL)
        return 0;
    switch (v->type) {
    case VALUE_NULL:
        return 0;
    case VALUE_BOOL:
        return buf_puts(out, v->u.boolean ? "true" : "false");
    case VALUE_NUMBER:
        return buf_printf(out, "%.15g", v->u.number);
    case VALUE_STRING:
        return buf_append(out, v->u.str.s, v->u.str.len);
    default:
        return 0;
    }
}
