/* yamldoc.c - libyaml documents with positions for error messages. */
#include "yamldoc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yamlerr.h"

static int load(struct yamldoc *yd, yaml_parser_t *parser, const char *text, size_t len, char *err)
{
    if (!yaml_parser_load(parser, &yd->doc)) {
        struct yamlerr e;

        yamlerr_explain(text, len, parser->problem, parser->context,
                        (unsigned long)parser->problem_mark.line + 1,
                        (unsigned long)parser->problem_mark.column + 1, &e);
        errf(err, "%s:%lu:%lu: %s", yd->name, e.line, e.column, e.message);
        yaml_parser_delete(parser);
        free(yd->name);
        yd->name = NULL;
        return -1;
    }
    yaml_parser_delete(parser);
    yd->loaded = 1;
    return 0;
}

int yamldoc_load_string(struct yamldoc *yd, const char *name, const char *s, size_t len, char *err)
{
    yaml_parser_t parser;

    memset(yd, 0, sizeof(*yd));
    yd->name = strdup(name);
    if (yd->name == NULL)
        return errf(err, "%s: out of memory", name);
    if (!yaml_parser_initialize(&parser)) {
        free(yd->name);
        yd->name = NULL;
        return errf(err, "%s: cannot initialize the YAML parser", name);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)s, len);
    return load(yd, &parser, s, len, err);
}

int yamldoc_load_file(struct yamldoc *yd, const char *path, char *err)
{
    char *data;
    size_t len;
    int rc;

    memset(yd, 0, sizeof(*yd));
    if (read_file(path, YAMLDOC_MAX_BYTES, &data, &len, err) == -1)
        return -1;
    rc = yamldoc_load_string(yd, path, data, len, err);
    free(data);
    return rc;
}

void yamldoc_free(struct yamldoc *yd)
{
    if (yd->loaded)
        yaml_document_delete(&yd->doc);
    free(yd->name);
    memset(yd, 0, sizeof(*yd));
}

yaml_node_t *yamldoc_root(struct yamldoc *yd)
{
    return yd->loaded ? yaml_document_get_root_node(&yd->doc) : NULL;
}

yaml_node_t *yamldoc_node(struct yamldoc *yd, int id)
{
    return yaml_document_get_node(&yd->doc, id);
}

yaml_node_t *yamldoc_get(struct yamldoc *yd, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t *pair;

    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
        const char *k = yamldoc_scalar(yamldoc_node(yd, pair->key));

        if (k && strcmp(k, key) == 0)
            return yamldoc_node(yd, pair->value);
    }
    return NULL;
}

const char *yamldoc_scalar(const yaml_node_t *node)
{
    if (node == NULL || node->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)node->data.scalar.value;
}

int yamldoc_is_plain(const yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE &&
           node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

int yamldoc_is_null(const yaml_node_t *node)
{
    const char *s = yamldoc_scalar(node);

    return yamldoc_is_plain(node) &&
           (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
            strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0);
}

const char *yamldoc_type_name(const yaml_node_t *node)
{
    if (node == NULL)
        return "nothing";
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return yamldoc_is_null(node) ? "null" : "a scalar";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

unsigned long yamldoc_line(const yaml_node_t *node)
{
    return node ? (unsigned long)node->start_mark.line + 1 : 1;
}

unsigned long yamldoc_column(const yaml_node_t *node)
{
    return node ? (unsigned long)node->start_mark.column + 1 : 1;
}

void yamldoc_diag(struct diag *d, struct yamldoc *yd, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[ERRLEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    diag_at(d, yd->name, yamldoc_line(node), yamldoc_column(node), "%s", msg);
}

int yamldoc_errf(char *err, struct yamldoc *yd, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[ERRLEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return errf(err, "%s:%lu:%lu: %s", yd->name, yamldoc_line(node), yamldoc_column(node), msg);
}
