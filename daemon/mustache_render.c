/*
 * mustache_render.c - the Mustache engine's renderer: walks a compiled
 * template's nodes (mustache_int.h) against a value tree.
 *
 * The renderer keeps its context stack and partial indentation in linked
 * frames on the C stack: rendering allocates nothing but the output.
 */
#include "mustache_int.h"

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#include "util.h"

/*
 * The shipped report renders to about one and a half times its template
 * (sections repeat, names expand): room for twice the template, taken
 * before the first node, saves the output's series of doublings, each a
 * copy of everything rendered so far.
 */
#define RENDER_ROOM_FACTOR 2

/* The indentation of the standalone partials being rendered, innermost last. */
struct indent {
    const char *s;
    size_t len;
    const struct indent *up;
};

struct render {
    mustache_partial_fn partials;
    void *arg;
    enum mustache_escape escape;
    struct buf *out;
    char *err;
    int partial_depth;
    size_t start; /* out->len before this rendering */
    size_t steps; /* nodes visited so far */
};

/*
 * The first part of a dotted name is looked up through the whole stack,
 * the rest only inside what the first part found.
 */
const struct value *mustache_lookup(const struct frame *ctx, const struct name *name)
{
    const struct value *v = NULL;
    const char *part = name->parts;
    size_t i, len;

    if (name->nparts == 0)
        return ctx->v;
    len = name->len0;
    for (; ctx != NULL && v == NULL; ctx = ctx->up)
        v = value_map_getn(ctx->v, part, len);
    for (i = 1; v != NULL && i < name->nparts; i++) {
        part += len + 1;
        len = strlen(part);
        v = value_map_getn(v, part, len);
    }
    return v;
}

static void put_indent(struct buf *out, const struct indent *in)
{
    if (in == NULL)
        return;
    put_indent(out, in->up);
    buf_append(out, in->s, in->len);
}

/* Text with the partial's indentation after every newline that more text follows. */
static void put_text(struct buf *out, const char *s, size_t len, const struct indent *in)
{
    const char *nl;

    if (in == NULL) {
        buf_append(out, s, len);
        return;
    }
    while (len > 0 && (nl = memchr(s, '\n', len - 1)) != NULL) {
        size_t n = (size_t)(nl - s) + 1;

        buf_append(out, s, n);
        put_indent(out, in);
        s += n;
        len -= n;
    }
    buf_append(out, s, len);
}

static const char *html_entity(char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

#if defined(__SSE2__) && defined(__GNUC__)
/*
 * The first byte from p that HTML escapes, or end: sixteen bytes at a time,
 * for the long texts (rationales, advice) every report shows.
 */
static const char *next_special(const char *p, const char *end)
{
    const __m128i amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<'), gt = _mm_set1_epi8('>');
    const __m128i quot = _mm_set1_epi8('"'), apos = _mm_set1_epi8('\'');

    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(x, amp), _mm_cmpeq_epi8(x, lt)),
            _mm_or_si128(_mm_cmpeq_epi8(x, gt),
                         _mm_or_si128(_mm_cmpeq_epi8(x, quot), _mm_cmpeq_epi8(x, apos))));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);

        if (mask != 0)
            return p + __builtin_ctz(mask);
        p += 16;
    }
    while (p < end && html_entity(*p) == NULL)
        p++;
    return p;
}
#else
static const char *next_special(const char *p, const char *end)
{
    while (p < end && html_entity(*p) == NULL)
        p++;
    return p;
}
#endif

static void put_escaped(struct buf *out, const char *s, size_t len)
{
    const char *end = s + len;

    for (;;) {
        const char *q = next_special(s, end);

        buf_append(out, s, (size_t)(q - s));
        if (q == end)
            return;
        buf_puts(out, html_entity(*q));
        s = q + 1;
    }
}

static void put_value(struct render *r, const struct value *v, int escape)
{
    if (v == NULL)
        return;
    /* Only strings can hold markup: numbers and booleans print as digits and words. */
    if (escape && r->escape == MUSTACHE_ESCAPE_HTML && v->type == VALUE_STRING)
        put_escaped(r->out, v->u.str.s, v->u.str.len);
    else
        value_append_text(v, r->out);
}

static int render_nodes(struct render *r, const struct mustache *t, size_t from, size_t to,
                        const struct frame *ctx, const struct indent *in);

static int render_body(struct render *r, const struct mustache *t, const struct node *n,
                       const struct value *v, const struct frame *ctx, const struct indent *in)
{
    struct frame top = {v, ctx, ctx->depth + 1};

    if (top.depth > MUSTACHE_MAX_CONTEXT_DEPTH)
        return errf(r->err, "%s: sections nested deeper than %zu (counting partials)", t->name,
                    MUSTACHE_MAX_CONTEXT_DEPTH);
    return render_nodes(r, t, (size_t)(n - t->nodes) + 1, n->end, &top, in);
}

static int render_section(struct render *r, const struct mustache *t, const struct node *n,
                          const struct frame *ctx, const struct indent *in)
{
    const struct value *v = mustache_lookup(ctx, &n->name);
    size_t i;

    if (!value_truthy(v))
        return 0;
    if (v->type != VALUE_LIST)
        return render_body(r, t, n, v, ctx, in);
    for (i = 0; i < v->u.list.n; i++)
        if (render_body(r, t, n, v->u.list.items[i], ctx, in) == -1)
            return -1;
    return 0;
}

static int render_partial(struct render *r, const struct mustache *t, const struct node *n,
                          const struct frame *ctx, const struct indent *in)
{
    const struct mustache *partial;
    struct indent own = {t->src + n->off, n->len, in};
    int rc;

    partial = r->partials ? r->partials(r->arg, n->name.parts) : NULL;
    if (partial == NULL)
        return 0;
    if (r->partial_depth == MUSTACHE_MAX_PARTIAL_DEPTH)
        return errf(r->err, "%s: partial \"%s\" nested deeper than %d partials", t->name,
                    n->name.parts, MUSTACHE_MAX_PARTIAL_DEPTH);
    /*
     * Only a standalone tag indents the partial's lines (as if the tag's
     * indentation were prepended to each); an inline one renders it as is.
     */
    if (!n->standalone)
        in = NULL;
    else if (n->len > 0)
        in = &own;
    r->partial_depth++;
    rc = render_nodes(r, partial, 0, partial->n, ctx, in);
    r->partial_depth--;
    return rc;
}

static int render_nodes(struct render *r, const struct mustache *t, size_t from, size_t to,
                        const struct frame *ctx, const struct indent *in)
{
    size_t i = from;

    while (i < to) {
        const struct node *n = &t->nodes[i];

        if (++r->steps > MUSTACHE_MAX_STEPS)
            return errf(r->err,
                        "%s: rendering takes more than %zu steps (sections nested over lists?)",
                        t->name, MUSTACHE_MAX_STEPS);
        switch (n->type) {
        case NODE_TEXT:
            put_text(r->out, t->src + n->off, n->len, in);
            break;
        case NODE_INDENT:
            put_indent(r->out, in);
            break;
        case NODE_VAR:
        case NODE_RAW:
            put_value(r, mustache_lookup(ctx, &n->name), n->type == NODE_VAR);
            break;
        case NODE_SECTION:
            if (render_section(r, t, n, ctx, in) == -1)
                return -1;
            i = n->end;
            continue;
        case NODE_INVERTED:
            if (!value_truthy(mustache_lookup(ctx, &n->name)) &&
                render_nodes(r, t, i + 1, n->end, ctx, in) == -1)
                return -1;
            i = n->end;
            continue;
        case NODE_PARTIAL:
            if (render_partial(r, t, n, ctx, in) == -1)
                return -1;
            break;
        }
        if (buf_failed(r->out))
            return errf(r->err, "%s: out of memory", t->name);
        if (r->out->len - r->start > MUSTACHE_MAX_OUTPUT)
            return errf(r->err,
                        "%s: rendering is larger than %zu bytes (sections nested over lists?)",
                        t->name, MUSTACHE_MAX_OUTPUT);
        i++;
    }
    return 0;
}

int mustache_render(const struct mustache *t, const struct value *ctx, mustache_partial_fn partials,
                    void *arg, enum mustache_escape escape, struct buf *out, char *err)
{
    struct render r = {partials, arg, escape, out, err, 0, out->len, 0};
    struct frame root = {ctx, NULL, 1};

    if (t->len <= SIZE_MAX / RENDER_ROOM_FACTOR)
        buf_reserve(out, t->len * RENDER_ROOM_FACTOR); /* a failure shows in buf_failed() */
    if (render_nodes(&r, t, 0, t->n, &root, NULL) == -1)
        return -1;
    if (buf_failed(out))
        return errf(err, "%s: out of memory", t->name);
    return 0;
}
