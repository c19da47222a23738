/* arena.c - a bump allocator: blocks from malloc, handed out front to back. */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * A report's context takes about 25 KB (the shipped templates and roles):
 * two blocks of this size, and each stays under glibc's mmap threshold
 * (128 KiB), so a block is a cheap heap allocation, not a system call.
 */
#define ARENA_BLOCK_SIZE ((size_t)16 * 1024)
/* Everything handed out is aligned for any type, like malloc's memory. */
#define ARENA_ALIGN alignof(max_align_t)

struct arena_block {
    struct arena_block *prev;
    alignas(max_align_t) char data[];
};

void arena_init(struct arena *a)
{
    a->blocks = NULL;
    a->next = NULL;
    a->end = NULL;
}

void arena_free(struct arena *a)
{
    struct arena_block *b = a->blocks;

    while (b != NULL) {
        struct arena_block *prev = b->prev;

        free(b);
        b = prev;
    }
    arena_init(a);
}

/* A new block with room for at least n bytes; a request larger than a block gets its own. */
static int arena_grow(struct arena *a, size_t n)
{
    size_t room = n > ARENA_BLOCK_SIZE ? n : ARENA_BLOCK_SIZE;
    struct arena_block *b;

    if (room > SIZE_MAX - sizeof(*b))
        return -1;
    b = malloc(sizeof(*b) + room);
    if (b == NULL)
        return -1;
    b->prev = a->blocks;
    a->blocks = b;
    a->next = b->data;
    a->end = b->data + room;
    return 0;
}

void *arena_alloc(struct arena *a, size_t n)
{
    size_t size = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    void *p;

    if (size < n)
        return NULL;
    if ((a->blocks == NULL || size > (size_t)(a->end - a->next)) && arena_grow(a, size) == -1)
        return NULL;
    p = a->next;
    a->next += size;
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p;

    if (n == SIZE_MAX || (p = arena_alloc(a, n + 1)) == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
