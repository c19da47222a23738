/*
 * yamldoc.h - YAML (and JSON) documents loaded with libyaml, with the
 * positions every error message needs.
 *
 * Config, roles data and the Mustache spec runner read YAML through this
 * module (`enqueue --file` streams libyaml's events instead, in intake.c,
 * with the same "file:line:column").  Aliases are resolved by libyaml's
 * document loader.
 */
#ifndef REPORTD_YAMLDOC_H
#define REPORTD_YAMLDOC_H

#include <stddef.h>
#include <yaml.h>

#include "util.h"

/* Config, roles and signup files are small; a bigger one is a mistake. */
#define YAMLDOC_MAX_BYTES ((size_t)16 * 1024 * 1024)

struct yamldoc {
    char *name; /* file name used in messages */
    yaml_document_t doc;
    int loaded;
};

/* Loads the first document of a file; an empty file gives a NULL root. */
int yamldoc_load_file(struct yamldoc *yd, const char *path, char *err);
int yamldoc_load_string(struct yamldoc *yd, const char *name, const char *s, size_t len, char *err);
void yamldoc_free(struct yamldoc *yd);

yaml_node_t *yamldoc_root(struct yamldoc *yd);
yaml_node_t *yamldoc_node(struct yamldoc *yd, int id);

/* Looks a key up in a mapping; NULL when absent or when map is not a mapping. */
yaml_node_t *yamldoc_get(struct yamldoc *yd, yaml_node_t *map, const char *key);

/* The scalar's text, or NULL when the node is not a scalar. */
const char *yamldoc_scalar(const yaml_node_t *node);
/* A plain (unquoted) scalar may be a number, a boolean or null. */
int yamldoc_is_plain(const yaml_node_t *node);
/* Plain null: "", "~", "null". */
int yamldoc_is_null(const yaml_node_t *node);
const char *yamldoc_type_name(const yaml_node_t *node);

/* 1-based positions of a node, for messages. */
unsigned long yamldoc_line(const yaml_node_t *node);
unsigned long yamldoc_column(const yaml_node_t *node);

/* "file:line:column: message" at a node. */
void yamldoc_diag(struct diag *d, struct yamldoc *yd, const yaml_node_t *node, const char *fmt, ...)
    UTIL_PRINTF(4, 5);
int yamldoc_errf(char *err, struct yamldoc *yd, const yaml_node_t *node, const char *fmt, ...)
    UTIL_PRINTF(4, 5);

#endif
