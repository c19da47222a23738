/*
 * arena.h - a bump allocator for data that is built piece by piece and
 * freed all at once: the template context of one report (a few hundred
 * nodes and strings) costs a handful of mallocs instead of one per piece,
 * and freeing it costs one free per block instead of a walk of the tree.
 *
 * An arena belongs to whoever declared it (one rendering, on one thread),
 * and only that thread writes it: report_shared's is written once, while
 * the roles load, and only read after.  Memory from it is never freed
 * piece by piece.
 */
#ifndef REPORTD_ARENA_H
#define REPORTD_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
    struct arena_block *blocks; /* the newest first */
    char *next, *end;           /* the free room in the newest block */
};

/* An empty arena, as an initializer: nothing is allocated until the first arena_alloc(). */
#define ARENA_EMPTY                                                                                \
    {                                                                                              \
        NULL, NULL, NULL                                                                           \
    }

/* The same as an assignment. */
void arena_init(struct arena *a);
/* Frees every block; the arena is empty again and can be reused. */
void arena_free(struct arena *a);

/* n bytes aligned for any type, valid until arena_free(); NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t n);
/* The n bytes at s and a NUL, copied into the arena; NULL when out of memory. */
char *arena_strndup(struct arena *a, const char *s, size_t n);

#endif
