/* buf.c - growable byte buffers with a sticky allocation-failure flag. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Small strings are the common case (header lines, template pieces). */
#define BUF_MIN_CAP 64

void buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

int buf_reserve(struct buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->failed)
        return -1;
    if (extra > (size_t)-1 / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need)
        cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    /* Reserved ahead of any append, it is already the empty string. */
    p[b->len] = '\0';
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    /* Room for n more and the NUL (cap > len whenever there is memory) needs no call. */
    if ((b->failed || n >= b->cap - b->len) && buf_reserve(b, n) == -1)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, int c)
{
    char ch = (char)c;

    /* The common case on the rendering path: room for one more and its NUL. */
    if (!b->failed && b->len + 2 <= b->cap) {
        b->data[b->len++] = ch;
        b->data[b->len] = '\0';
        return 0;
    }
    return buf_append(b, &ch, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return -1;
    /* Formatted once when it fits in the room left, which it mostly does. */
    if (b->cap > b->len) {
        va_start(ap, fmt);
        n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return 0;
        }
        b->data[b->len] = '\0';
    }
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) == -1) {
        b->failed = 1;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int buf_failed(const struct buf *b)
{
    return b->failed;
}

char *buf_steal(struct buf *b)
{
    char *s;

    if (b->failed) {
        buf_free(b);
        return NULL;
    }
    if (b->data == NULL)
        return strdup("");
    s = b->data;
    buf_init(b);
    return s;
}

const char *buf_str(const struct buf *b)
{
    return b->data ? b->data : "";
}
