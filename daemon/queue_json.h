/*
 * queue_json.h - reads a producer's tasks or skills list (JSON text the
 * database has already found to be a valid array) element by element, in
 * one pass, into what the row codec takes (struct queue_json_elem).
 */
#ifndef REPORTD_QUEUE_JSON_H
#define REPORTD_QUEUE_JSON_H

#include <stddef.h>

#include "buf.h"
#include "queue_backend.h"

struct queue_json_list {
    const char *p, *end;
    int started;
    /* The unescaped strings of the current element: valid until the next call. */
    struct buf atom, id, extra_key;
    struct buf key; /* the member name being read */
};

/* Starts reading json (len bytes, not NUL-terminated necessarily). */
void queue_json_list_init(struct queue_json_list *l, const char *json, size_t len);
void queue_json_list_free(struct queue_json_list *l);

enum queue_json_status {
    QUEUE_JSON_ELEMENT, /* *e is the next element */
    QUEUE_JSON_END,     /* no more elements */
    QUEUE_JSON_INVALID, /* not a JSON array after all */
    QUEUE_JSON_NOMEM,
};

enum queue_json_status queue_json_list_next(struct queue_json_list *l, struct queue_json_elem *e);

#endif
