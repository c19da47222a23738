/*
 * mustache.h - a Mustache template engine (the spec's required modules:
 * interpolation, sections, inverted sections, comments, partials and set
 * delimiters).
 *
 * Templates are compiled once, when reportd starts or reloads, and rendered
 * many times.  Rendering never parses a value: text a subscriber typed is
 * data, never template.
 */
#ifndef REPORTD_MUSTACHE_H
#define REPORTD_MUSTACHE_H

#include <stddef.h>

#include "buf.h"
#include "util.h"
#include "value.h"

/* An operator's report template is a few KiB; anything near this is a mistake. */
#define MUSTACHE_MAX_TEMPLATE ((size_t)1024 * 1024)
/* Sections nested deeper than this are refused at compile time. */
#define MUSTACHE_MAX_NESTING 64
/* Partials that include each other stop here instead of exhausting the stack. */
#define MUSTACHE_MAX_PARTIAL_DEPTH 32
/*
 * A rendering is refused past these: the shipped report visits at most
 * about 600 nodes and makes at most about 40 KB per part, while sections
 * nested over lists multiply (twelve {{#tasks}} deep over 13 tasks is 13^12
 * passes) and would hold the daemon for hours or fill its memory.
 */
#define MUSTACHE_MAX_STEPS  ((size_t)1000000)
#define MUSTACHE_MAX_OUTPUT ((size_t)8 * 1024 * 1024)
/* The context stack (nested sections plus partials) never grows past this. */
#define MUSTACHE_MAX_CONTEXT_DEPTH ((size_t)MUSTACHE_MAX_NESTING * MUSTACHE_MAX_PARTIAL_DEPTH)

struct mustache;

enum mustache_escape {
    MUSTACHE_ESCAPE_HTML, /* {{x}} escapes & < > " ' (HTML bodies, the spec) */
    MUSTACHE_ESCAPE_NONE, /* plain text bodies and subjects */
};

/*
 * Compiles src; name is used in errors, which read
 * "name:line:column: unclosed section \"tasks\"".  Returns NULL with err set.
 */
struct mustache *mustache_compile(const char *name, const char *src, size_t len, char *err);
void mustache_free(struct mustache *t);
const char *mustache_name(const struct mustache *t);

/* Finds a compiled partial by name; NULL renders as the empty string. */
typedef const struct mustache *(*mustache_partial_fn)(void *arg, const char *name);

/*
 * Renders t against ctx, appending to out.  Returns 0, or -1 with err set
 * (out of memory, partials nested too deep).
 */
int mustache_render(const struct mustache *t, const struct value *ctx, mustache_partial_fn partials,
                    void *arg, enum mustache_escape escape, struct buf *out, char *err);

/*
 * Checks t, as rendered against contexts shaped like sample, and reports
 * each problem in d with name:line:column: a variable or section name that
 * sample does not have (inside a list section, the list's first item is the
 * context), and a partial that partials() does not find.
 */
void mustache_check(const struct mustache *t, const struct value *sample,
                    mustache_partial_fn partials, void *arg, struct diag *d);

#endif
