/*
 * mustache.c - the Mustache engine's compiler: template text to a flat node
 * array (mustache_int.h) that mustache_render.c renders and
 * mustache_check.c checks.
 *
 * Compiling does all the text work (delimiters, standalone lines, names split
 * at their dots) so rendering only looks names up and appends bytes.
 */
#include "mustache.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mustache_int.h"
#include "util.h"

/* The delimiters every template starts with; {{=<% %>=}} changes them until its end. */
static const char default_open[] = "{{";
static const char default_close[] = "}}";

struct parser {
    struct mustache *t;
    const char *src;
    size_t len, pos;
    const char *otag, *ctag; /* the current delimiters, in t->src or the defaults */
    size_t olen, clen;
    size_t open[MUSTACHE_MAX_NESTING]; /* node indexes of the open sections */
    size_t depth;
    char *err;
};

/* One tag as found in the source. */
struct tag {
    char sigil;        /* '!', '#', '^', '/', '>', '=', '{', '&', or 0 for a variable */
    size_t start, end; /* the whole tag, delimiters included */
    size_t coff, clen; /* the content with the sigil and surrounding whitespace removed */
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* 1-based line and column of a byte offset; columns count UTF-8 characters as editors do. */
void mustache_position(const char *src, size_t off, unsigned long *line, unsigned long *col)
{
    size_t i;

    *line = 1;
    *col = 1;
    for (i = 0; i < off; i++) {
        if (src[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)src[i] & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

UTIL_PRINTF(3, 4) static int parse_error(const struct parser *p, size_t off, const char *fmt, ...)
{
    char msg[ERRLEN];
    unsigned long line, col;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mustache_position(p->src, off, &line, &col);
    return errf(p->err, "%s:%lu:%lu: %s", p->t->name, line, col, msg);
}

static struct node *add_node(struct parser *p, enum node_type type)
{
    struct mustache *t = p->t;
    struct node *n;

    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        struct node *nn = realloc(t->nodes, ncap * sizeof(*nn));

        if (nn == NULL) {
            errf(p->err, "%s: out of memory", t->name);
            return NULL;
        }
        t->nodes = nn;
        t->cap = ncap;
    }
    n = &t->nodes[t->n++];
    memset(n, 0, sizeof(*n));
    n->type = type;
    return n;
}

static int at_line_start(const struct parser *p, size_t off)
{
    return off == 0 || p->src[off - 1] == '\n';
}

/* Marks where a template line begins so a standalone partial can indent it. */
static int add_line_start(struct parser *p, size_t off)
{
    if (!at_line_start(p, off))
        return 0;
    return add_node(p, NODE_INDENT) ? 0 : -1;
}

static int add_text(struct parser *p, size_t from, size_t to)
{
    struct node *n;

    if (to == from)
        return 0;
    if (add_line_start(p, from) == -1 || (n = add_node(p, NODE_TEXT)) == NULL)
        return -1;
    n->off = from;
    n->len = to - from;
    return 0;
}

/*
 * Finds the end of the tag whose content starts at from.  A '{' or '='
 * tag ends with that sigil's partner right before the closing delimiter.
 */
static int find_tag_end(const struct parser *p, size_t from, char closer, size_t *content_end,
                        size_t *tag_end)
{
    size_t at = from;
    const char *hit;

    while (at < p->len && (hit = memmem(p->src + at, p->len - at, p->ctag, p->clen)) != NULL) {
        size_t q = (size_t)(hit - p->src);

        if (closer == 0 || (q > from && p->src[q - 1] == closer)) {
            *content_end = closer ? q - 1 : q;
            *tag_end = q + p->clen;
            return 0;
        }
        at = q + 1;
    }
    return -1;
}

static char tag_sigil(char c)
{
    return c != '\0' && strchr("!#^/>={&", c) ? c : 0;
}

static int parse_tag(const struct parser *p, size_t start, struct tag *tag)
{
    size_t from = start + p->olen, cend;
    char closer;

    memset(tag, 0, sizeof(*tag));
    tag->start = start;
    tag->sigil = from < p->len ? tag_sigil(p->src[from]) : 0;
    if (tag->sigil)
        from++;
    closer = tag->sigil == '{' ? '}' : tag->sigil == '=' ? '=' : 0;
    if (find_tag_end(p, from, closer, &cend, &tag->end) == -1) {
        char lead[2] = {closer, '\0'};

        return parse_error(p, start, "unclosed tag (no closing \"%s%.*s\")", lead, (int)p->clen,
                           p->ctag);
    }
    while (from < cend && is_blank(p->src[from]))
        from++;
    while (cend > from && is_blank(p->src[cend - 1]))
        cend--;
    tag->coff = from;
    tag->clen = cend - from;
    return 0;
}

/* Section, comment, partial and delimiter tags alone on a line take the line with them. */
static int can_stand_alone(char sigil)
{
    return sigil != 0 && strchr("!#^/>=", sigil) != NULL;
}

/*
 * When the tag is alone on its line, narrows the text before it to end at
 * the line's start and moves next past the line's end.
 */
static int standalone(const struct parser *p, const struct tag *tag, size_t *text_end, size_t *next)
{
    size_t before = tag->start, after = tag->end;

    while (before > p->pos && (p->src[before - 1] == ' ' || p->src[before - 1] == '\t'))
        before--;
    if (!at_line_start(p, before))
        return 0;
    while (after < p->len && (p->src[after] == ' ' || p->src[after] == '\t'))
        after++;
    if (after < p->len && p->src[after] == '\n')
        after++;
    else if (after + 1 < p->len && p->src[after] == '\r' && p->src[after + 1] == '\n')
        after += 2;
    else if (after < p->len)
        return 0;
    *text_end = before;
    *next = after;
    return 1;
}

static int check_name(const struct parser *p, const struct tag *tag, int dotted)
{
    const char *s = p->src + tag->coff;
    size_t i;

    if (tag->clen == 0)
        return parse_error(p, tag->start, "empty tag");
    for (i = 0; i < tag->clen; i++)
        if (is_blank(s[i]))
            return parse_error(p, tag->start, "tag name \"%.*s\" contains whitespace",
                               (int)tag->clen, s);
    if (!dotted || (tag->clen == 1 && s[0] == '.'))
        return 0;
    for (i = 0; i < tag->clen; i++)
        if (s[i] == '.' && (i == 0 || i + 1 == tag->clen || s[i + 1] == '.'))
            return parse_error(p, tag->start, "bad dotted name \"%.*s\"", (int)tag->clen, s);
    return 0;
}

/* Copies the name with its dots turned into the NULs that end each part. */
static int set_name(const struct parser *p, const struct tag *tag, int dotted, struct name *name)
{
    size_t i;

    if (dotted && tag->clen == 1 && p->src[tag->coff] == '.')
        return 0;
    name->parts = malloc(tag->clen + 1);
    if (name->parts == NULL)
        return errf(p->err, "%s: out of memory", p->t->name);
    memcpy(name->parts, p->src + tag->coff, tag->clen);
    name->parts[tag->clen] = '\0';
    name->nparts = 1;
    for (i = 0; dotted && i < tag->clen; i++) {
        if (name->parts[i] == '.') {
            name->parts[i] = '\0';
            name->nparts++;
        }
    }
    name->len0 = strlen(name->parts);
    return 0;
}

static int add_named(struct parser *p, const struct tag *tag, enum node_type type,
                     struct node **out)
{
    int dotted = type != NODE_PARTIAL;
    struct node *n;

    if (check_name(p, tag, dotted) == -1 || (n = add_node(p, type)) == NULL)
        return -1;
    n->pos = tag->start;
    *out = n;
    return set_name(p, tag, dotted, &n->name);
}

static int open_section(struct parser *p, const struct tag *tag)
{
    struct node *n;

    if (p->depth == MUSTACHE_MAX_NESTING)
        return parse_error(p, tag->start, "sections nested deeper than %d", MUSTACHE_MAX_NESTING);
    if (add_named(p, tag, tag->sigil == '#' ? NODE_SECTION : NODE_INVERTED, &n) == -1)
        return -1;
    n->off = tag->coff;
    n->len = tag->clen;
    n->pos = tag->start;
    p->open[p->depth++] = p->t->n - 1;
    return 0;
}

static int close_section(struct parser *p, const struct tag *tag)
{
    const char *s = p->src + tag->coff;
    struct node *n;

    if (check_name(p, tag, 1) == -1)
        return -1;
    if (p->depth == 0)
        return parse_error(p, tag->start, "unexpected closing tag \"%.*s\" (no section is open)",
                           (int)tag->clen, s);
    n = &p->t->nodes[p->open[p->depth - 1]];
    if (n->len != tag->clen || memcmp(p->src + n->off, s, n->len) != 0)
        return parse_error(p, tag->start,
                           "unexpected closing tag \"%.*s\" (open section is \"%.*s\")",
                           (int)tag->clen, s, (int)n->len, p->src + n->off);
    n->end = p->t->n;
    p->depth--;
    return 0;
}

static int add_partial(struct parser *p, const struct tag *tag, int alone, size_t indent_off)
{
    struct node *n;

    if (add_named(p, tag, NODE_PARTIAL, &n) == -1)
        return -1;
    n->standalone = alone;
    n->off = indent_off;
    n->len = alone ? tag->start - indent_off : 0;
    return 0;
}

static size_t skip_nonblank(const char *s, size_t i, size_t end)
{
    while (i < end && !is_blank(s[i]))
        i++;
    return i;
}

/* {{=<% %>=}}: two delimiters, neither empty nor holding whitespace or '='. */
static int set_delimiters(struct parser *p, const struct tag *tag)
{
    const char *s = p->src;
    size_t end = tag->coff + tag->clen, o = tag->coff, oend, c, cend;

    oend = skip_nonblank(s, o, end);
    c = oend;
    while (c < end && is_blank(s[c]))
        c++;
    cend = skip_nonblank(s, c, end);
    if (oend == o || cend == c || cend != end || memchr(s + o, '=', oend - o) ||
        memchr(s + c, '=', cend - c))
        return parse_error(p, tag->start,
                           "bad set-delimiter tag \"=%.*s=\" (want two delimiters without "
                           "whitespace or '=', like {{=<%% %%>=}})",
                           (int)tag->clen, s + tag->coff);
    p->otag = s + o;
    p->olen = oend - o;
    p->ctag = s + c;
    p->clen = cend - c;
    return 0;
}

static int add_tag(struct parser *p, const struct tag *tag, int alone, size_t indent_off)
{
    struct node *n;

    /* A line that holds more than this tag is kept, so indentation goes before the tag. */
    if (!alone && add_line_start(p, tag->start) == -1)
        return -1;
    switch (tag->sigil) {
    case '!':
        return 0;
    case '=':
        return set_delimiters(p, tag);
    case '#':
    case '^':
        return open_section(p, tag);
    case '/':
        return close_section(p, tag);
    case '>':
        return add_partial(p, tag, alone, indent_off);
    case '{':
    case '&':
        return add_named(p, tag, NODE_RAW, &n);
    default:
        return add_named(p, tag, NODE_VAR, &n);
    }
}

static int parse(struct parser *p)
{
    while (p->pos < p->len) {
        const char *hit = memmem(p->src + p->pos, p->len - p->pos, p->otag, p->olen);
        size_t text_end, next;
        struct tag tag;
        int alone = 0;

        if (hit == NULL) {
            if (add_text(p, p->pos, p->len) == -1)
                return -1;
            break;
        }
        text_end = (size_t)(hit - p->src);
        if (parse_tag(p, text_end, &tag) == -1)
            return -1;
        next = tag.end;
        if (can_stand_alone(tag.sigil))
            alone = standalone(p, &tag, &text_end, &next);
        if (add_text(p, p->pos, text_end) == -1 || add_tag(p, &tag, alone, text_end) == -1)
            return -1;
        p->pos = next;
    }
    if (p->depth > 0) {
        const struct node *n = &p->t->nodes[p->open[p->depth - 1]];

        return parse_error(p, n->pos, "unclosed section \"%.*s\"", (int)n->len, p->src + n->off);
    }
    return 0;
}

struct mustache *mustache_compile(const char *name, const char *src, size_t len, char *err)
{
    struct parser p;
    struct mustache *t;

    if (len > MUSTACHE_MAX_TEMPLATE) {
        errf(err, "%s: template is %zu bytes, more than the limit of %zu", name, len,
             MUSTACHE_MAX_TEMPLATE);
        return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL || (t->name = strdup(name)) == NULL || (t->src = malloc(len + 1)) == NULL) {
        errf(err, "%s: out of memory", name);
        mustache_free(t);
        return NULL;
    }
    if (len)
        memcpy(t->src, src, len);
    t->src[len] = '\0';
    t->len = len;
    memset(&p, 0, sizeof(p));
    p.t = t;
    p.src = t->src;
    p.len = len;
    p.otag = default_open;
    p.olen = sizeof(default_open) - 1;
    p.ctag = default_close;
    p.clen = sizeof(default_close) - 1;
    p.err = err;
    if (parse(&p) == -1) {
        mustache_free(t);
        return NULL;
    }
    return t;
}

void mustache_free(struct mustache *t)
{
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < t->n; i++)
        free(t->nodes[i].name.parts);
    free(t->nodes);
    free(t->src);
    free(t->name);
    free(t);
}

const char *mustache_name(const struct mustache *t)
{
    return t->name;
}
