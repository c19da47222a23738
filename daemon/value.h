/*
 * value.h - the data a Mustache template is rendered against: a small tree
 * of null, booleans, numbers, strings, lists and maps.
 *
 * A tree lives in an arena (arena.h): every node, string, key and array is
 * allocated there and freed with it, by arena_free(); there is no freeing
 * node by node.  Builders accept NULL (a failed allocation further down),
 * returning -1, so a caller can nest calls like
 * value_map_set(m, "name", value_string(a, s)) and check once.
 */
#ifndef REPORTD_VALUE_H
#define REPORTD_VALUE_H

#include <stddef.h>

#include "arena.h"
#include "buf.h"

enum value_type { VALUE_NULL, VALUE_BOOL, VALUE_NUMBER, VALUE_STRING, VALUE_LIST, VALUE_MAP };

struct value_pair;

struct value {
    enum value_type type;
    union {
        int boolean;
        double number;
        struct {
            const char *s;
            size_t len;
        } str;
        struct {
            struct value **items;
            size_t n, cap;
            struct arena *arena; /* where the items array grows */
        } list;
        struct {
            struct value_pair *pairs;
            size_t n, cap;
            struct arena *arena; /* where the pairs array and the keys go */
        } map;
    } u;
};

struct value_pair {
    const char *key;
    size_t klen; /* strlen(key): most keys differ in length, a cheap first test */
    struct value *val;
};

/* Each NULL when the arena is out of memory. */
struct value *value_null(struct arena *a);
struct value *value_bool(struct arena *a, int b);
struct value *value_number(struct arena *a, double d);
/* A copy of s (NULL when s is NULL). */
struct value *value_string(struct arena *a, const char *s);
struct value *value_stringn(struct arena *a, const char *s, size_t len);
/*
 * s itself, not a copy: for text that outlives the arena, such as the
 * roles data a report is rendered from (NULL when s is NULL).
 */
struct value *value_string_ref(struct arena *a, const char *s);
struct value *value_list(struct arena *a);
struct value *value_map(struct arena *a);

/* Appends item.  -1 when list or item is NULL or out of memory. */
int value_list_push(struct value *list, struct value *item);
/* Sets key (a copy, replacing an earlier value) to val.  -1 when out of memory. */
int value_map_set(struct value *map, const char *key, struct value *val);
/*
 * Adds key, which the map must not hold yet, to val, for builders whose
 * keys are string literals: key is neither copied (it must outlive the
 * arena) nor looked for among the keys already set.  -1 as value_map_set().
 */
int value_map_add(struct value *map, const char *key, struct value *val);

/* NULL when map is not a map or has no such key. */
const struct value *value_map_get(const struct value *map, const char *key);
/* The same for a key of len bytes that need not end in a NUL. */
const struct value *value_map_getn(const struct value *map, const char *key, size_t len);

/* Mustache truthiness: false, null, the empty list and "" ... see value.c. */
int value_truthy(const struct value *v);
/* Appends the text an interpolation shows: numbers as %.15g, null as "". */
int value_append_text(const struct value *v, struct buf *out);

/* Room for any number as %.15g prints it, and its NUL. */
#define VALUE_NUMBER_MAX 32
/* Writes d as printf's "%.15g" would into out (VALUE_NUMBER_MAX bytes); returns the length. */
size_t value_format_number(double d, char *out);

#endif
