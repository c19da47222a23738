/*
 * templates.c - the operator's report templates: loads and compiles the
 * subject, text and HTML templates and the partials they share, reporting
 * every problem at once, and renders all three for one report.
 */
#include "templates.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mustache.h"

#define TEMPLATE_SUFFIX ".mustache"
#define SUBJECT_FILE    "subject.mustache"
#define TEXT_FILE       "body.txt.mustache"
#define HTML_FILE       "body.html.mustache"
#define PARTIALS_DIR    "partials"
/*
 * Plain-text lines longer than this are wrapped at spaces: rationales and
 * strategies come from data, and mail readers show text parts as they are.
 */
#define TEXT_WRAP_WIDTH 76

static const struct mustache *find_partial(void *arg, const char *name);

struct partial {
    char *name; /* the file name less .mustache, as {{> name}} spells it */
    struct mustache *m;
};

struct templates {
    struct mustache *subject;
    struct mustache *text;
    struct mustache *html;
    struct partial partials[TEMPLATES_MAX_PARTIALS]; /* sorted by name */
    size_t npartials;
};

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Reads and compiles path; NULL with the problem in d. */
static struct mustache *compile_file(const char *path, struct diag *d)
{
    char err[ERRLEN];
    struct mustache *m;
    size_t len;
    char *src;

    if (read_file(path, (size_t)MUSTACHE_MAX_TEMPLATE, &src, &len, err) == -1) {
        diag_add(d, "%s", err);
        return NULL;
    }
    /* Mail bodies are declared UTF-8; a template in another encoding would garble every report. */
    if (!utf8_valid(src, len)) {
        diag_add(d, "%s: not valid UTF-8", path);
        free(src);
        return NULL;
    }
    m = mustache_compile(path, src, len, err);
    if (m == NULL)
        diag_add(d, "%s", err);
    free(src);
    return m;
}

static struct mustache *compile_in(const char *dir, const char *name, struct diag *d)
{
    char *path = path_join(dir, name);
    struct mustache *m;

    if (path == NULL) {
        diag_add(d, "%s/%s: out of memory", dir, name);
        return NULL;
    }
    m = compile_file(path, d);
    free(path);
    return m;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n > m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_partial(const void *a, const void *b)
{
    return strcmp(((const struct partial *)a)->name, ((const struct partial *)b)->name);
}

/*
 * Collects the names of the partials (NAME.mustache files in dir) into
 * t->partials, sorted by name for bsearch.  Hidden files are editor
 * leftovers.  A missing directory means no partials.
 */
static void list_partials(struct templates *t, const char *dir, struct diag *d)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    size_t found = 0;

    if (dp == NULL) {
        if (errno != ENOENT)
            diag_add(d, "%s: cannot open the partials directory: %s", dir, strerror(errno));
        return;
    }
    while ((de = readdir(dp)) != NULL) {
        struct partial *p;

        if (de->d_name[0] == '.')
            continue;
        if (!has_suffix(de->d_name, TEMPLATE_SUFFIX)) {
            /* A partial saved as NAME.html would leave {{> NAME}} rendering nothing. */
            diag_add(d, "%s/%s:1:1: not a partial: partials are named NAME%s", dir, de->d_name,
                     TEMPLATE_SUFFIX);
            continue;
        }
        if (++found > TEMPLATES_MAX_PARTIALS)
            continue;
        p = &t->partials[t->npartials];
        p->name = strndup(de->d_name, strlen(de->d_name) - strlen(TEMPLATE_SUFFIX));
        if (p->name == NULL) {
            diag_add(d, "%s/%s: out of memory", dir, de->d_name);
            continue;
        }
        t->npartials++;
    }
    closedir(dp);
    if (found > TEMPLATES_MAX_PARTIALS)
        diag_add(d, "%s: %zu partials, at most %d are allowed", dir, found, TEMPLATES_MAX_PARTIALS);
    qsort(t->partials, t->npartials, sizeof(t->partials[0]), cmp_partial);
}

static void load_partials(struct templates *t, const char *dir, struct diag *d)
{
    char *pdir = path_join(dir, PARTIALS_DIR);
    char file[ERRLEN];
    size_t i;

    if (pdir == NULL) {
        diag_add(d, "%s/%s: out of memory", dir, PARTIALS_DIR);
        return;
    }
    list_partials(t, pdir, d);
    for (i = 0; i < t->npartials; i++) {
        snprintf(file, sizeof(file), "%s%s", t->partials[i].name, TEMPLATE_SUFFIX);
        t->partials[i].m = compile_in(pdir, file, d);
    }
    free(pdir);
}

int templates_load(struct templates **tp, const char *dir, struct diag *d)
{
    int before = d->count;
    struct templates *t;

    *tp = NULL;
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        diag_add(d, "%s: out of memory", dir);
        return -1;
    }
    t->subject = compile_in(dir, SUBJECT_FILE, d);
    t->text = compile_in(dir, TEXT_FILE, d);
    t->html = compile_in(dir, HTML_FILE, d);
    load_partials(t, dir, d);
    if (d->count > before) {
        templates_free(t);
        return -1;
    }
    *tp = t;
    return 0;
}

void templates_free(struct templates *t)
{
    size_t i;

    if (t == NULL)
        return;
    mustache_free(t->subject);
    mustache_free(t->text);
    mustache_free(t->html);
    for (i = 0; i < t->npartials; i++) {
        free(t->partials[i].name);
        mustache_free(t->partials[i].m);
    }
    free(t);
}

void templates_check(const struct templates *t, const struct value *sample, struct diag *d)
{
    mustache_check(t->subject, sample, find_partial, (void *)t, d);
    mustache_check(t->text, sample, find_partial, (void *)t, d);
    mustache_check(t->html, sample, find_partial, (void *)t, d);
}

void rendered_init(struct rendered *r)
{
    buf_init(&r->subject);
    buf_init(&r->text);
    buf_init(&r->html);
}

void rendered_free(struct rendered *r)
{
    buf_free(&r->subject);
    buf_free(&r->text);
    buf_free(&r->html);
}

static int cmp_partial_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct partial *)elem)->name);
}

static const struct mustache *find_partial(void *arg, const char *name)
{
    const struct templates *t = arg;
    const struct partial *p;

    p = bsearch(name, t->partials, t->npartials, sizeof(t->partials[0]), cmp_partial_name);
    return p ? p->m : NULL;
}

/*
 * A header must not carry line breaks or other control characters (they
 * would end the header or inject new ones), so they become spaces.
 */
static int is_subject_space(unsigned char c)
{
    return c < 0x20 || c == 0x7f || c == ' ';
}

/* Backs up from cut to the start of the UTF-8 sequence it falls in. */
static size_t utf8_boundary(const char *s, size_t cut)
{
    while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
        cut--;
    return cut;
}

/* Appends s as one trimmed line of single spaces, at most TEMPLATES_SUBJECT_MAX bytes. */
static int append_subject_line(struct buf *out, const char *s, size_t len)
{
    struct buf line;
    size_t i, n;
    int rc;

    buf_init(&line);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!is_subject_space(c))
            buf_putc(&line, c);
        else if (line.len > 0 && line.data[line.len - 1] != ' ')
            buf_putc(&line, ' ');
    }
    n = line.len;
    if (n > TEMPLATES_SUBJECT_MAX)
        n = utf8_boundary(line.data, TEMPLATES_SUBJECT_MAX);
    while (n > 0 && line.data[n - 1] == ' ')
        n--;
    rc = buf_failed(&line) ? -1 : buf_append(out, line.data ? line.data : "", n);
    buf_free(&line);
    return rc;
}

static int render_subject(const struct templates *t, const struct value *ctx, struct buf *out,
                          char *err)
{
    struct buf raw;
    int rc;

    buf_init(&raw);
    rc = mustache_render(t->subject, ctx, find_partial, (void *)t, MUSTACHE_ESCAPE_NONE, &raw, err);
    if (rc == 0 && (buf_failed(&raw) || append_subject_line(out, buf_str(&raw), raw.len) == -1))
        rc = errf(err, "%s: out of memory", mustache_name(t->subject));
    buf_free(&raw);
    return rc;
}

static int render_body(const struct templates *t, const struct mustache *m, const struct value *ctx,
                       enum mustache_escape escape, struct buf *out, char *err)
{
    if (mustache_render(m, ctx, find_partial, (void *)t, escape, out, err) == -1)
        return -1;
    if (buf_failed(out))
        return errf(err, "%s: out of memory", mustache_name(m));
    return 0;
}

/* Columns a line takes on screen: UTF-8 continuation bytes take none. */
static size_t text_columns(const char *s, size_t len)
{
    const uint64_t high = UINT64_C(0x8080808080808080), ones = UINT64_C(0x0101010101010101);
    size_t i = 0, cont = 0;
    uint64_t x;

    /*
     * Eight bytes at a time: a continuation byte (10xxxxxx) has its top bit
     * set and the next one clear; the multiply adds up one bit per byte.
     */
    for (; len - i >= sizeof(x); i += sizeof(x)) {
        memcpy(&x, s + i, sizeof(x));
        cont += (size_t)((((x & ~(x << 1) & high) >> 7) * ones) >> 56);
    }
    for (; i < len; i++)
        cont += ((unsigned char)s[i] & 0xc0) == 0x80;
    return len - cont;
}

/* How far continuation lines are indented: the line's indent plus a "* " or "- " bullet. */
static size_t hanging_indent(const char *line, size_t len)
{
    size_t i = 0;

    while (i < len && line[i] == ' ')
        i++;
    if (i + 1 < len && (line[i] == '*' || line[i] == '-') && line[i + 1] == ' ')
        i += 2;
    return i;
}

static int is_ascii(const char *s, size_t len)
{
    uint64_t x, any = 0;
    size_t i = 0;

    for (; len - i >= sizeof(x); i += sizeof(x)) {
        memcpy(&x, s + i, sizeof(x));
        any |= x;
    }
    for (; i < len; i++)
        any |= (unsigned char)s[i];
    return (any & UINT64_C(0x8080808080808080)) == 0;
}

/*
 * Where the piece of line from start breaks: the last space beyond byte
 * `after` (the indent) among the bytes up to the one that starts character
 * width + 1, or 0 when there is none; *brk_cols gets the columns before it.
 */
static size_t find_break(const char *line, size_t len, size_t start, size_t after, size_t width,
                         size_t *brk_cols)
{
    size_t i, cols = 0, brk = 0, stop = start + width + 1;

    /* ASCII, the common case: a byte is a column, and the search is one call. */
    if (stop <= len && is_ascii(line + start, width + 1)) {
        const char *sp = stop > after + 1 ? memrchr(line + after + 1, ' ', stop - after - 1) : NULL;

        if (sp == NULL)
            return 0;
        *brk_cols = (size_t)(sp - line) - start;
        return (size_t)(sp - line);
    }
    for (i = start; i < len && cols <= width; i++) {
        if (line[i] == ' ' && i > after) {
            brk = i;
            *brk_cols = cols;
        }
        if (((unsigned char)line[i] & 0xc0) != 0x80)
            cols++;
    }
    return brk;
}

static void put_spaces(struct buf *out, size_t n)
{
    static const char spaces[] = "                                ";

    while (n > sizeof(spaces) - 1) {
        buf_append(out, spaces, sizeof(spaces) - 1);
        n -= sizeof(spaces) - 1;
    }
    buf_append(out, spaces, n);
}

/* Appends one line, broken at spaces so no piece is wider than TEXT_WRAP_WIDTH when avoidable. */
static void append_wrapped_line(struct buf *out, const char *line, size_t len)
{
    size_t indent, start = 0, first = 1, rest;

    /* Most lines are short: no more bytes than the width means no more columns either. */
    if (len <= TEXT_WRAP_WIDTH) {
        buf_append(out, line, len);
        return;
    }
    indent = hanging_indent(line, len);
    /* The columns left from start: counted once, then less what each piece took. */
    rest = text_columns(line, len);
    while (rest + (first ? 0 : indent) > TEXT_WRAP_WIDTH) {
        size_t brk_cols = 0;
        size_t brk = find_break(line, len, start, start + (first ? indent : 0),
                                TEXT_WRAP_WIDTH - (first ? 0 : indent), &brk_cols);

        if (brk == 0)
            break; /* one long word (a URL): leave it whole */
        if (!first)
            put_spaces(out, indent);
        buf_append(out, line + start, brk - start);
        buf_putc(out, '\n');
        /* The piece and the space it was broken at. */
        rest -= brk_cols + 1;
        start = brk + 1;
        first = 0;
    }
    if (!first)
        put_spaces(out, indent);
    buf_append(out, line + start, len - start);
}

static int wrap_text(const struct buf *in, struct buf *out, char *err)
{
    const char *p = buf_str(in), *end = p + in->len;

    /* Wrapping adds an indent and a line break here and there: an eighth is plenty. */
    buf_reserve(out, in->len + in->len / 8); /* a failure shows in buf_failed() */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

        append_wrapped_line(out, p, len);
        if (nl)
            buf_putc(out, '\n');
        p += len + (nl != NULL);
    }
    if (buf_failed(out))
        return errf(err, "out of memory wrapping the text body");
    return 0;
}

int templates_render(const struct templates *t, const struct value *ctx, struct rendered *out,
                     char *err)
{
    struct buf text;
    int rc;

    if (render_subject(t, ctx, &out->subject, err) == -1)
        return -1;
    buf_init(&text);
    rc = render_body(t, t->text, ctx, MUSTACHE_ESCAPE_NONE, &text, err);
    if (rc == 0)
        rc = wrap_text(&text, &out->text, err);
    buf_free(&text);
    if (rc == -1)
        return -1;
    return render_body(t, t->html, ctx, MUSTACHE_ESCAPE_HTML, &out->html, err);
}
