/*
 * yamlerr.c - libyaml's parse errors explained from the text: a tab in the
 * indentation named as such, and a mis-indented key pointed at.
 *
 * The indentation check follows the block structure line by line, keeping
 * the columns of the mappings and sequences that are open, the way a reader
 * does: a key line must start in the column of its siblings, or deeper only
 * right after a line that opens a block ("key:", "-").  It skips what it
 * cannot judge (block scalars' text, multi-line plain scalars, flow
 * collections spread over lines) and reports only a line at or before the
 * one libyaml stopped at, so it never points past the actual error.
 */
#include "yamlerr.h"

#include <stdio.h>
#include <string.h>

/* Deeper nesting than this is not a hand-edited file: leave it to libyaml's message. */
#define YAMLERR_MAX_DEPTH 64

struct line {
    const char *s;
    size_t len; /* without the line break */
};

/* The n-th line (1-based) of text starting at *pos; advances *pos.  0 at the end. */
static int next_line(const char *text, size_t len, size_t *pos, struct line *l)
{
    size_t start = *pos, end;

    if (start >= len)
        return 0;
    end = start;
    while (end < len && text[end] != '\n')
        end++;
    l->s = text + start;
    l->len = end - start;
    if (l->len > 0 && l->s[l->len - 1] == '\r')
        l->len--;
    *pos = end < len ? end + 1 : end;
    return 1;
}

static size_t count_spaces(const struct line *l)
{
    size_t i = 0;

    while (i < l->len && l->s[i] == ' ')
        i++;
    return i;
}

/* Spaces and tabs before the first other character: where a tab would be indentation. */
static size_t leading_blank(const struct line *l)
{
    size_t i = 0;

    while (i < l->len && (l->s[i] == ' ' || l->s[i] == '\t'))
        i++;
    return i;
}

static int is_blank_or_comment(const struct line *l)
{
    size_t i = leading_blank(l);

    return i == l->len || l->s[i] == '#';
}

/* The length of the line's content without a trailing comment and trailing blanks. */
static size_t content_end(const struct line *l)
{
    size_t i, end = l->len;
    char quote = 0;

    for (i = 0; i < l->len; i++) {
        char c = l->s[i];

        if (quote) {
            if (c == quote)
                quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '#' && (i == 0 || l->s[i - 1] == ' ' || l->s[i - 1] == '\t')) {
            end = i;
            break;
        }
    }
    while (end > 0 && (l->s[end - 1] == ' ' || l->s[end - 1] == '\t'))
        end--;
    return end;
}

/* Where a "key:" ends in s[from, end): the index after the colon, or 0 when it is not a key. */
static size_t key_colon(const char *s, size_t from, size_t end)
{
    size_t i;

    if (from < end && (s[from] == '"' || s[from] == '\'' || s[from] == '[' || s[from] == '{'))
        return 0; /* quoted keys and flow collections: not judged */
    for (i = from; i < end; i++)
        if (s[i] == ':' && (i + 1 == end || s[i + 1] == ' ' || s[i + 1] == '\t'))
            return i + 1;
    return 0;
}

/* A block scalar indicator ("|", ">-", "|2+") is all that follows the key. */
static int is_block_scalar(const char *v, size_t n)
{
    size_t i;

    if (n == 0 || (v[0] != '|' && v[0] != '>'))
        return 0;
    for (i = 1; i < n; i++)
        if (v[i] != '+' && v[i] != '-' && (v[i] < '1' || v[i] > '9'))
            return 0;
    return 1;
}

/* A flow collection opened and not closed on this line: the next lines are not judged. */
static int opens_flow(const char *v, size_t n)
{
    int depth = 0;
    size_t i;

    if (n == 0 || (v[0] != '[' && v[0] != '{'))
        return 0;
    for (i = 0; i < n; i++) {
        if (v[i] == '[' || v[i] == '{')
            depth++;
        else if (v[i] == ']' || v[i] == '}')
            depth--;
    }
    return depth > 0;
}

static int find_tab(const char *text, size_t len, unsigned long upto, struct yamlerr *e)
{
    struct line l;
    size_t pos = 0, i, block_indent = 0;
    unsigned long n = 0;
    int in_block = 0;

    while (n < upto && next_line(text, len, &pos, &l)) {
        size_t lead = leading_blank(&l), end;
        const char *tab = memchr(l.s, '\t', lead);

        n++;
        /* A block scalar's text may hold tabs; its lines are deeper than its key. */
        if (in_block && (lead == l.len || count_spaces(&l) > block_indent))
            continue;
        in_block = 0;
        if (tab && lead < l.len) {
            e->line = n;
            e->column = (unsigned long)(tab - l.s) + 1;
            snprintf(e->message, sizeof(e->message),
                     "tab character in the indentation: YAML allows only spaces for indentation");
            return 1;
        }
        end = content_end(&l);
        for (i = lead; i < end; i++) {
            size_t after = key_colon(l.s, i, end);

            if (after) {
                while (after < end && l.s[after] == ' ')
                    after++;
                if (is_block_scalar(l.s + after, end - after)) {
                    in_block = 1;
                    block_indent = count_spaces(&l);
                }
                break;
            }
            if (l.s[i] != '-' && l.s[i] != ' ')
                break;
        }
    }
    return 0;
}

/* An open block: the column its lines start in, its first line, how many lines start there. */
struct level {
    size_t col;
    unsigned long first_line;
    unsigned long lines;
};

struct scan {
    struct level stack[YAMLERR_MAX_DEPTH];
    int depth;
    int prev_opens;          /* the last line ended in "key:" or "-": a deeper line may follow */
    int prev2_opens;         /* the same of the line before it */
    int prev_is_value;       /* the last line held a plain value a deeper line may continue */
    unsigned long prev_line; /* the last line judged, and the one before it */
    unsigned long prev2_line;
    size_t prev_col, prev2_col;
    size_t block_indent; /* a block scalar's text is deeper than this */
    int in_block;
};

static int push(struct scan *sc, size_t col, unsigned long n)
{
    if (sc->depth == YAMLERR_MAX_DEPTH)
        return -1;
    sc->stack[sc->depth].col = col;
    sc->stack[sc->depth].first_line = n;
    sc->stack[sc->depth].lines = 1;
    sc->depth++;
    return 0;
}

/* What the content of a line (or of a sequence entry) from column col opens. */
static int take_content(struct scan *sc, const struct line *l, size_t col, size_t end,
                        unsigned long n)
{
    size_t after;

    sc->prev_opens = 0;
    sc->prev_is_value = 0;
    while (col < end && l->s[col] == '-' && (col + 1 == end || l->s[col + 1] == ' ')) {
        /* "- ": a sequence entry; what follows the dash sits one level deeper. */
        size_t inner = col + 1;

        while (inner < end && l->s[inner] == ' ')
            inner++;
        if (inner == end) {
            sc->prev_opens = 1;
            return 0;
        }
        if (push(sc, inner, n) == -1)
            return -1;
        col = inner;
    }
    after = key_colon(l->s, col, end);
    if (after == 0) {
        if (opens_flow(l->s + col, end - col))
            return -1;
        sc->prev_is_value = 1;
        return 0;
    }
    while (after < end && l->s[after] == ' ')
        after++;
    if (after == end) {
        sc->prev_opens = 1;
    } else if (is_block_scalar(l->s + after, end - after)) {
        sc->in_block = 1;
        sc->block_indent = col;
    } else if (opens_flow(l->s + after, end - after)) {
        return -1;
    } else {
        sc->prev_is_value = 1;
    }
    return 0;
}

static int looks_like_key_or_entry(const struct line *l, size_t col, size_t end)
{
    if (l->s[col] == '-' && (col + 1 == end || l->s[col + 1] == ' '))
        return 1;
    return key_colon(l->s, col, end) != 0;
}

/* Lines from line n on that start in column col, up to the first that starts left of it. */
static unsigned long lines_at(const char *text, size_t len, unsigned long n, size_t col)
{
    struct line l;
    size_t pos = 0;
    unsigned long i = 0, count = 0;

    while (next_line(text, len, &pos, &l)) {
        size_t c;

        if (++i < n || is_blank_or_comment(&l))
            continue;
        c = count_spaces(&l);
        if (c < col)
            break;
        if (c == col)
            count++;
    }
    return count;
}

/* The column of a comment line right above line n, or -1 when there is none. */
static long comment_column_above(const char *text, size_t len, unsigned long n)
{
    struct line l, above = {NULL, 0};
    size_t pos = 0;
    unsigned long i = 0;
    int have = 0;

    while (i + 1 < n && next_line(text, len, &pos, &l)) {
        i++;
        if (i + 1 == n) {
            above = l;
            have = 1;
        }
    }
    if (!have || leading_blank(&above) == above.len || above.s[leading_blank(&above)] != '#')
        return -1;
    return (long)count_spaces(&above);
}

static void blame(struct yamlerr *e, unsigned long line, size_t col)
{
    e->line = line;
    e->column = (unsigned long)col + 1;
}

/*
 * Line n starts in column col where its block's lines start in b->col.  When
 * more lines from n on agree with n than lines of the block agree with each
 * other, it is the block's first line that is off (a mapping's first key
 * indented by one space too many sets the column libyaml expects of the
 * rest, and libyaml stops at the next key): that one is blamed.  1 when so.
 */
static int blame_block(const char *text, size_t len, const struct level *b, int outermost,
                       unsigned long n, size_t col, struct yamlerr *e)
{
    unsigned long after;

    /* Only a mapping's lone first key: a block with siblings in agreement sets the column. */
    if (b->lines != 1 || outermost)
        return 0;
    after = lines_at(text, len, n, col);
    if (after <= b->lines)
        return 0;
    blame(e, b->first_line, b->col);
    snprintf(e->message, sizeof(e->message),
             "this line is indented to column %lu, but the %lu keys after it in the same mapping "
             "(from line %lu) start in column %lu: a key must start in the same column as the "
             "other keys of its mapping",
             (unsigned long)b->col + 1, after, n, (unsigned long)col + 1);
    return 1;
}

/* Line n, in column col, is deeper than its block, and the line above opens nothing. */
static int deeper(const char *text, size_t len, const struct scan *sc, unsigned long n, size_t col,
                  struct yamlerr *e)
{
    const struct level *b = &sc->stack[sc->depth - 1];

    /*
     * The line above is the odd one out when it is left of where the line
     * before it put its keys and this line is there: under a "key:" that
     * opened a block, or beside a sibling, with more lines following in this
     * column (else this line is the one that strayed).  A comment right above
     * either line is where its writer meant the key to be, and decides.
     */
    long above_prev = comment_column_above(text, len, sc->prev_line);
    long above_this = comment_column_above(text, len, n);
    int prev_odd = sc->prev2_line && sc->prev_col < col &&
                   ((sc->prev2_opens && sc->prev_col <= sc->prev2_col && col > sc->prev2_col) ||
                    (!sc->prev2_opens && col == sc->prev2_col && lines_at(text, len, n, col) >= 2));

    if (above_this >= 0 && (size_t)above_this != col)
        prev_odd = 0;
    else if (above_prev >= 0 && (size_t)above_prev == col && sc->prev_col < col)
        prev_odd = 1;
    if (prev_odd) {
        blame(e, sc->prev_line, sc->prev_col);
        snprintf(e->message, sizeof(e->message),
                 "this line is indented less than the lines around it (line %lu is in column "
                 "%lu): a key must start in the same column as the other keys of its mapping",
                 n, (unsigned long)col + 1);
        return 1;
    }
    if (blame_block(text, len, b, sc->depth == 1, n, col, e))
        return 1;
    blame(e, n, col);
    snprintf(e->message, sizeof(e->message),
             "this line is indented deeper than line %lu above it: a key must start in the same "
             "column as the other keys of its mapping (column %lu)",
             sc->prev_line, (unsigned long)b->col + 1);
    return 1;
}

/* Line n, in column col, closes blocks but matches none of those still open. */
static int shallower(const char *text, size_t len, const struct scan *sc, const struct level *inner,
                     unsigned long n, size_t col, struct yamlerr *e)
{
    if (blame_block(text, len, inner, sc->depth == 0, n, col, e))
        return 1;
    blame(e, n, col);
    if (sc->depth == 0)
        snprintf(e->message, sizeof(e->message),
                 "this line is indented less than the first line of the file: a key must start "
                 "in the same column as the other keys of its mapping");
    else
        snprintf(e->message, sizeof(e->message),
                 "this line is indented less than the keys above it (column %lu) but more than "
                 "the one that holds them (column %lu): a key must start in the same column as "
                 "the other keys of its mapping",
                 (unsigned long)inner->col + 1, (unsigned long)sc->stack[sc->depth - 1].col + 1);
    return 1;
}

static int find_misindent(const char *text, size_t len, unsigned long upto, struct yamlerr *e)
{
    struct scan sc;
    struct line l;
    size_t pos = 0;
    unsigned long n = 0;

    memset(&sc, 0, sizeof(sc));
    while (n < upto && next_line(text, len, &pos, &l)) {
        size_t col, end;

        n++;
        if (is_blank_or_comment(&l))
            continue;
        col = count_spaces(&l);
        if (sc.in_block && col > sc.block_indent)
            continue;
        sc.in_block = 0;
        if (l.s[col] == '\t')
            return 0; /* a tab: find_tab's business */
        end = content_end(&l);
        if (strncmp(l.s + col, "---", 3) == 0 || strncmp(l.s + col, "...", 3) == 0 ||
            l.s[col] == '%')
            return 0; /* documents and directives: not judged */
        if (sc.depth == 0) {
            if (push(&sc, col, n) == -1)
                return 0;
        } else if (col > sc.stack[sc.depth - 1].col) {
            if (sc.prev_opens) {
                if (push(&sc, col, n) == -1)
                    return 0;
            } else if (sc.prev_is_value && !looks_like_key_or_entry(&l, col, end)) {
                continue; /* a plain scalar going on over lines */
            } else {
                return deeper(text, len, &sc, n, col, e);
            }
        } else {
            struct level inner = sc.stack[sc.depth - 1];

            while (sc.depth > 0 && sc.stack[sc.depth - 1].col > col)
                inner = sc.stack[--sc.depth];
            if (sc.depth == 0 || sc.stack[sc.depth - 1].col != col)
                return shallower(text, len, &sc, &inner, n, col, e);
            sc.stack[sc.depth - 1].lines++;
        }
        sc.prev2_opens = sc.prev_opens;
        sc.prev2_line = sc.prev_line;
        sc.prev2_col = sc.prev_col;
        sc.prev_line = n;
        sc.prev_col = col;
        if (take_content(&sc, &l, col, end, n) == -1)
            return 0;
    }
    return 0;
}

void yamlerr_explain(const char *text, size_t len, const char *problem, const char *context,
                     unsigned long line, unsigned long column, struct yamlerr *e)
{
    int indentation_problem =
        problem && (strcmp(problem, "did not find expected key") == 0 ||
                    strcmp(problem, "mapping values are not allowed in this context") == 0 ||
                    strcmp(problem, "did not find expected '-' indicator") == 0);

    memset(e, 0, sizeof(*e));
    if (find_tab(text, len, line, e))
        return;
    if (indentation_problem && find_misindent(text, len, line, e)) {
        size_t used = strlen(e->message);

        /* libyaml's words too, for whoever searches for them. */
        snprintf(e->message + used, sizeof(e->message) - used, " (libyaml: %s at %lu:%lu)", problem,
                 line, column);
        return;
    }
    e->line = line;
    e->column = column;
    snprintf(e->message, sizeof(e->message), "%s%s%s", problem ? problem : "malformed YAML",
             context ? " " : "", context ? context : "");
}
