/*
 * templates.h - the operator's report templates, compiled once.
 *
 * The templates directory holds subject.mustache, body.txt.mustache,
 * body.html.mustache and a partials/ directory of NAME.mustache files that
 * any of them can include as {{> NAME}}.  The HTML body is rendered with
 * HTML escaping, the subject and text body without.
 */
#ifndef REPORTD_TEMPLATES_H
#define REPORTD_TEMPLATES_H

#include "buf.h"
#include "util.h"
#include "value.h"

/* A report has at most this many partials; more is a mistake in the directory. */
#define TEMPLATES_MAX_PARTIALS 64
/* A subject longer than this is cut at a character boundary. */
#define TEMPLATES_SUBJECT_MAX 200

struct templates;

/* 0, or -1 with every problem (file:line:column) in d. */
int templates_load(struct templates **tp, const char *dir, struct diag *d);
void templates_free(struct templates *t);

/*
 * Checks every template against a sample report context (one where every
 * name the report model provides is set and every list has an item):
 * names the model does not provide and missing partials, with
 * file:line:column, into d.
 */
void templates_check(const struct templates *t, const struct value *sample, struct diag *d);

/* The three renderings of one context; out buffers are appended to. */
struct rendered {
    struct buf subject; /* one line: newlines folded to spaces, trimmed */
    struct buf text;
    struct buf html;
};

void rendered_init(struct rendered *r);
void rendered_free(struct rendered *r);
int templates_render(const struct templates *t, const struct value *ctx, struct rendered *out,
                     char *err);

#endif
