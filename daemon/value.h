/*
 * value.h - the data a Mustache template is rendered against: a small tree
 * of null, booleans, numbers, strings, lists and maps.
 *
 * Builders take ownership of what they are given and accept NULL (a failed
 * allocation further down), returning -1, so a caller can nest calls like
 * value_map_set(m, "name", value_string(s)) and check once.
 */
#ifndef REPORTD_VALUE_H
#define REPORTD_VALUE_H

#include <stddef.h>

#include "buf.h"

enum value_type { VALUE_NULL, VALUE_BOOL, VALUE_NUMBER, VALUE_STRING, VALUE_LIST, VALUE_MAP };

struct value_pair;

struct value {
    enum value_type type;
    union {
        int boolean;
        double number;
        struct {
            char *s;
            size_t len;
        } str;
        struct {
            struct value **items;
            size_t n, cap;
        } list;
        struct {
            struct value_pair *pairs;
            size_t n, cap;
        } map;
    } u;
};

struct value *value_null(void);
struct value *value_bool(int b);
struct value *value_number(double d);
struct value *value_string(const char *s);
struct value *value_stringn(const char *s, size_t len);
struct value *value_list(void);
struct value *value_map(void);

/* Appends item (taking ownership; freed on failure).  -1 on failure. */
int value_list_push(struct value *list, struct value *item);
/* Sets key (replacing an earlier value), taking ownership of val.  -1 on failure. */
int value_map_set(struct value *map, const char *key, struct value *val);
struct value_pair {
    char *key;
    struct value *val;
};

/* NULL when map is not a map or has no such key. */
const struct value *value_map_get(const struct value *map, const char *key);

void value_free(struct value *v);

/* Mustache truthiness: false, null, the empty list and "" ... see value.c. */
int value_truthy(const struct value *v);
/* Appends the text an interpolation shows: numbers as %.15g, null as "". */
int value_append_text(const struct value *v, struct buf *out);

#endif
