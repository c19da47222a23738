/*
 * buf.h - growable byte buffers, the one way reportd builds strings.
 *
 * A buffer remembers an allocation failure: once an append fails every later
 * append is a no-op and buf_failed() says so, so a caller that builds a long
 * string can check once at the end instead of after every piece.
 */
#ifndef REPORTD_BUF_H
#define REPORTD_BUF_H

#include <stddef.h>

#define BUF_PRINTF(a, b) __attribute__((format(printf, a, b)))

struct buf {
    char *data; /* NULL, or always NUL-terminated */
    size_t len;
    size_t cap;
    int failed; /* an allocation failed; contents are incomplete */
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Forgets the contents but keeps the memory, for reuse on a hot path. */
void buf_reset(struct buf *b);
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, int c);
int buf_printf(struct buf *b, const char *fmt, ...) BUF_PRINTF(2, 3);
int buf_failed(const struct buf *b);
/* Returns the contents ("" when empty) as a string the caller frees; NULL on failure. */
char *buf_steal(struct buf *b);
/* The contents as a C string, "" when nothing was appended. */
const char *buf_str(const struct buf *b);

#endif
