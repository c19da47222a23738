/*
 * mustache_int.h - a compiled template as the Mustache engine's three files
 * see it: mustache.c builds it, mustache_render.c renders it and
 * mustache_check.c checks it.  Internal to those files; mustache.h is the
 * engine's interface.
 */
#ifndef REPORTD_MUSTACHE_INT_H
#define REPORTD_MUSTACHE_INT_H

#include <stddef.h>

#include "mustache.h"
#include "value.h"

enum node_type {
    NODE_TEXT,     /* literal text */
    NODE_INDENT,   /* a template line starts here: a standalone partial's indentation goes here */
    NODE_VAR,      /* {{name}}, escaped as the render call asks */
    NODE_RAW,      /* {{{name}}} and {{&name}}, never escaped */
    NODE_SECTION,  /* {{#name}} */
    NODE_INVERTED, /* {{^name}} */
    NODE_PARTIAL,  /* {{>name}} */
};

/* A tag's name, split at its dots when compiled so lookups allocate nothing. */
struct name {
    char *parts;   /* "a\0b\0c\0" for a.b.c; a partial's whole name */
    size_t nparts; /* 0 for ".", the top of the context stack */
    size_t len0;   /* strlen of the first part: looked up through the whole stack */
};

struct node {
    enum node_type type;
    size_t off, len;  /* TEXT: the text; SECTION, INVERTED: the name as written;
                         PARTIAL: a standalone tag's indentation (all in t->src) */
    size_t pos;       /* named nodes: where the tag starts, for errors */
    size_t end;       /* SECTION, INVERTED: the index of the first node after the body */
    int standalone;   /* PARTIAL: the tag stood alone on its line */
    struct name name; /* VAR, RAW, SECTION, INVERTED, PARTIAL */
};

struct mustache {
    char *name;
    char *src; /* a copy of the template: text nodes point into it */
    size_t len;
    struct node *nodes;
    size_t n, cap;
};

/* One entry of the context stack; the top is the innermost section's value. */
struct frame {
    const struct value *v;
    const struct frame *up;
    size_t depth;
};

/* 1-based line and column of a byte offset in src (mustache.c), for messages. */
void mustache_position(const char *src, size_t off, unsigned long *line, unsigned long *col);

/* What name means in the context stack ctx, or NULL (mustache_render.c). */
const struct value *mustache_lookup(const struct frame *ctx, const struct name *name);

#endif
