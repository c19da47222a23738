/*
 * mustache_check.c - the Mustache engine's template checker: walks a compiled
 * template (mustache_int.h) and its partials against a sample context and
 * reports each name the context does not have and each partial not found.
 */
#include "mustache_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

struct check {
    mustache_partial_fn partials;
    void *arg;
    struct diag *d;
    int partial_depth;
};

/* The name as written, dots and all. */
static void name_text(const struct name *name, char *out, size_t outlen)
{
    const char *part = name->parts;
    size_t i, used = 0;

    snprintf(out, outlen, "%s", name->nparts == 0 ? "." : "");
    for (i = 0; i < name->nparts && used < outlen; i++) {
        int w = snprintf(out + used, outlen - used, "%s%s", i ? "." : "", part);

        if (w < 0)
            return;
        used += (size_t)w;
        part += strlen(part) + 1;
    }
}

UTIL_PRINTF(4, 5)
static void check_problem(struct check *c, const struct mustache *t, const struct node *n,
                          const char *fmt, ...)
{
    char msg[ERRLEN], line[ERRLEN * 2];
    unsigned long ln, col;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    mustache_position(t->src, n->pos, &ln, &col);
    snprintf(line, sizeof(line), "%s:%lu:%lu: %s\n", t->name, ln, col, msg);
    /* A partial included in several places would repeat its problems. */
    if (c->d->text.data != NULL && strstr(c->d->text.data, line) != NULL)
        return;
    diag_add(c->d, "%s:%lu:%lu: %s", t->name, ln, col, msg);
}

static void check_nodes(struct check *c, const struct mustache *t, size_t from, size_t to,
                        const struct frame *ctx);

static void check_name_exists(struct check *c, const struct mustache *t, const struct node *n,
                              const struct frame *ctx, const char *open, const char *close)
{
    char text[ERRLEN];

    if (n->name.nparts == 0 || mustache_lookup(ctx, &n->name) != NULL)
        return;
    name_text(&n->name, text, sizeof(text));
    check_problem(c, t, n,
                  "%s%s%s: no such variable in the report (see README, Template variables)", open,
                  text, close);
}

static void check_section(struct check *c, const struct mustache *t, const struct node *n,
                          const struct frame *ctx)
{
    const struct value *v = mustache_lookup(ctx, &n->name);
    struct frame top = {v, ctx, ctx->depth + 1};

    check_name_exists(c, t, n, ctx, n->type == NODE_SECTION ? "{{#" : "{{^", "}}");
    if (v == NULL || n->type == NODE_INVERTED || top.depth > MUSTACHE_MAX_CONTEXT_DEPTH) {
        check_nodes(c, t, (size_t)(n - t->nodes) + 1, n->end, ctx);
        return;
    }
    if (v->type == VALUE_LIST) {
        /* An empty list tells nothing about its items: their names cannot be checked. */
        if (v->u.list.n == 0)
            return;
        top.v = v->u.list.items[0];
    }
    check_nodes(c, t, (size_t)(n - t->nodes) + 1, n->end, &top);
}

static void check_partial(struct check *c, const struct mustache *t, const struct node *n,
                          const struct frame *ctx)
{
    const struct mustache *partial = c->partials ? c->partials(c->arg, n->name.parts) : NULL;

    if (partial == NULL) {
        check_problem(c, t, n, "{{> %s}}: no such partial (partials/%s.mustache)", n->name.parts,
                      n->name.parts);
        return;
    }
    if (c->partial_depth == MUSTACHE_MAX_PARTIAL_DEPTH)
        return;
    c->partial_depth++;
    check_nodes(c, partial, 0, partial->n, ctx);
    c->partial_depth--;
}

static void check_nodes(struct check *c, const struct mustache *t, size_t from, size_t to,
                        const struct frame *ctx)
{
    size_t i = from;

    while (i < to) {
        const struct node *n = &t->nodes[i];

        switch (n->type) {
        case NODE_VAR:
            check_name_exists(c, t, n, ctx, "{{", "}}");
            break;
        case NODE_RAW:
            check_name_exists(c, t, n, ctx, "{{{", "}}}");
            break;
        case NODE_SECTION:
        case NODE_INVERTED:
            check_section(c, t, n, ctx);
            i = n->end;
            continue;
        case NODE_PARTIAL:
            check_partial(c, t, n, ctx);
            break;
        default:
            break;
        }
        i++;
    }
}

void mustache_check(const struct mustache *t, const struct value *sample,
                    mustache_partial_fn partials, void *arg, struct diag *d)
{
    struct check c = {partials, arg, d, 0};
    struct frame root = {sample, NULL, 1};

    check_nodes(&c, t, 0, t->n, &root);
}
