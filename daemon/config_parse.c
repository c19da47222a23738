/*
 * config_parse.c - walks the YAML document against the table of keys:
 * unknown keys (with a suggestion), duplicate, missing and mistyped keys and
 * sections, each reported as "file:line:column: key: message".  A key whose
 * value was wrong is marked, so the cross-checks leave it alone and one
 * mistake gives one message.
 */
#include "config_load.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "yamldoc.h"

/* An unknown key this many edits from a known one is probably that key mistyped. */
#define CONFIG_SUGGEST_DISTANCE 2
/* ... and at most one edit per this many characters of the unknown key. */
#define CONFIG_SUGGEST_SHARE 3
/* Known keys are short; a longer unknown key is not compared for a suggestion. */
#define CONFIG_KEY_MAX 32

/* Messages --------------------------------------------------------------- */

/* Copies s for a message: control characters, quotes and backslashes escaped, long values cut. */
const char *config_shown(const char *s, char *out)
{
    size_t used = 0, n;

    for (n = 0; n < CONFIG_SHOW_MAX && s[n] != '\0'; n++) {
        unsigned char ch = (unsigned char)s[n];

        if (ch < 0x20 || ch == 0x7f)
            used += (size_t)snprintf(out + used, CONFIG_SHOW_LEN - used, "\\x%02x", ch);
        else if (ch == '"' || ch == '\\')
            used += (size_t)snprintf(out + used, CONFIG_SHOW_LEN - used, "\\%c", ch);
        else
            out[used++] = (char)ch;
    }
    out[used] = '\0';
    if (s[n] != '\0')
        memcpy(out + used, "...", sizeof("..."));
    return out;
}

void config_report(struct load *l, const yaml_node_t *at, const char *key, const char *fmt, ...)
{
    char msg[ERRLEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    yamldoc_diag(l->d, l->yd, at, "%s: %s", key, msg);
}

/*
 * Reports at key id (its value, or where it should have been) and marks it
 * wrong, so the cross-checks that follow leave it alone.
 */
void config_report_key(struct load *l, enum key_id id, const char *fmt, ...)
{
    char msg[ERRLEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    l->bad[id] = 1;
    config_report(l, l->value_node[id], config_keys[id].name, "%s", msg);
}

/* The key a problem between two is reported at: the first, unless only the second was set. */
enum key_id config_located(const struct load *l, enum key_id first, enum key_id second)
{
    return l->value_node[first] || !l->value_node[second] ? first : second;
}

/* Keys ------------------------------------------------------------------- */

static const char *last_component(const char *name)
{
    const char *dot = strrchr(name, '.');

    return dot ? dot + 1 : name;
}

static const char *section_name(int section)
{
    return section == TOP ? "" : config_keys[section].name;
}

static int find_key(int section, const char *name)
{
    int id;

    for (id = 0; id < K_COUNT; id++)
        if (config_keys[id].parent == section &&
            strcmp(last_component(config_keys[id].name), name) == 0)
            return id;
    return -1;
}

/*
 * Edits (insert, delete, replace, swap two neighbours) from a to b, or
 * SIZE_MAX when either is too long to bother with.
 */
static size_t edit_distance(const char *a, const char *b)
{
    size_t dist[CONFIG_KEY_MAX + 1][CONFIG_KEY_MAX + 1], la = strlen(a), lb = strlen(b), i, j;

    if (la > CONFIG_KEY_MAX || lb > CONFIG_KEY_MAX)
        return SIZE_MAX;
    for (i = 0; i <= la; i++)
        dist[i][0] = i;
    for (j = 0; j <= lb; j++)
        dist[0][j] = j;
    for (i = 1; i <= la; i++) {
        for (j = 1; j <= lb; j++) {
            size_t best = dist[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

            if (dist[i - 1][j] + 1 < best)
                best = dist[i - 1][j] + 1;
            if (dist[i][j - 1] + 1 < best)
                best = dist[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                dist[i - 2][j - 2] + 1 < best)
                best = dist[i - 2][j - 2] + 1;
            dist[i][j] = best;
        }
    }
    return dist[la][lb];
}

/*
 * The known key an unknown one was probably meant to be: a near spelling in
 * the same section, or the same name in another section.  -1 when none.
 */
static int suggest_key(int section, const char *name)
{
    size_t best = CONFIG_SUGGEST_DISTANCE + 1;
    int id, found = -1;

    for (id = 0; id < K_COUNT; id++) {
        size_t dist;

        if (config_keys[id].parent != section)
            continue;
        dist = edit_distance(name, last_component(config_keys[id].name));
        /* In a short name two edits leave little of it: "foo" is not "log". */
        if (dist < best && dist * CONFIG_SUGGEST_SHARE <= strlen(name)) {
            best = dist;
            found = id;
        }
    }
    if (found >= 0)
        return found;
    for (id = 0; id < K_COUNT; id++)
        if (strcmp(name, last_component(config_keys[id].name)) == 0)
            return id;
    return -1;
}

static void report_unknown(struct load *l, const yaml_node_t *at, int section, const char *name)
{
    char full[ERRLEN], show[CONFIG_SHOW_LEN];
    const char *prefix = section_name(section);
    int hint = suggest_key(section, name);

    config_shown(name, show);
    snprintf(full, sizeof(full), "%s%s%s", prefix, *prefix ? "." : "", show);
    if (hint < 0)
        config_report(l, at, full, "unknown key \"%s\"", show);
    else if (config_keys[hint].parent == section)
        config_report(l, at, full, "unknown key \"%s\"; did you mean \"%s\"?", show,
                      last_component(config_keys[hint].name));
    else
        config_report(l, at, full, "unknown key \"%s\"; did you mean %s?", show,
                      config_keys[hint].name);
}

/* Mappings --------------------------------------------------------------- */

static void parse_mapping(struct load *l, const yaml_node_t *map, int section);

static void parse_value(struct load *l, enum key_id id, const yaml_node_t *v)
{
    if (config_keys[id].kind == KIND_SECTION) {
        if (v->type != YAML_MAPPING_NODE)
            config_report_key(l, id, "expected a mapping of %s settings, got %s",
                              config_keys[id].name, yamldoc_type_name(v));
        else
            parse_mapping(l, v, id);
        return;
    }
    config_parse_value(l, id, v);
}

static void parse_pair(struct load *l, const yaml_node_pair_t *pair, int section)
{
    const yaml_node_t *k = yamldoc_node(l->yd, pair->key);
    const yaml_node_t *v = yamldoc_node(l->yd, pair->value);
    const char *name = yamldoc_scalar(k);
    const char *where = section == TOP ? "(top level)" : section_name(section);
    int id;

    if (name == NULL || v == NULL) {
        config_report(l, k, where, "expected a key name, got %s", yamldoc_type_name(k));
        return;
    }
    if (strlen(name) != k->data.scalar.length) {
        config_report(l, k, where, "a key name must not contain a NUL character");
        return;
    }
    id = find_key(section, name);
    if (id < 0) {
        report_unknown(l, k, section, name);
        return;
    }
    if (l->key_node[id]) {
        config_report(l, k, config_keys[id].name, "duplicate key (first set at line %lu)",
                      yamldoc_line(l->key_node[id]));
        return;
    }
    l->key_node[id] = k;
    l->value_node[id] = v;
    parse_value(l, (enum key_id)id, v);
}

static void report_missing(struct load *l, const yaml_node_t *map, int section)
{
    int id;

    for (id = 0; id < K_COUNT; id++) {
        if (config_keys[id].parent != section || !config_keys[id].required || l->key_node[id])
            continue;
        l->bad[id] = 1;
        /* A missing top-level key has no mapping around it worth pointing at. */
        config_report(l, section == TOP ? NULL : map, config_keys[id].name,
                      "required %s is missing",
                      config_keys[id].kind == KIND_SECTION ? "section" : "key");
    }
}

static void parse_mapping(struct load *l, const yaml_node_t *map, int section)
{
    const yaml_node_pair_t *pair;

    for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++)
        parse_pair(l, pair, section);
    report_missing(l, map, section);
}

void config_parse(struct load *l)
{
    const yaml_node_t *root = yamldoc_root(l->yd);

    if (root == NULL) {
        yamldoc_diag(l->d, l->yd, NULL,
                     "empty configuration: expected a mapping with queue, sender and smtp");
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        yamldoc_diag(l->d, l->yd, root, "expected a mapping of settings at the top level, got %s",
                     yamldoc_type_name(root));
        return;
    }
    parse_mapping(l, root, TOP);
}

/* Cross-checks' view of a load ----------------------------------------- */

/* The value (given or default) can be trusted: neither it nor its section was wrong. */
int config_usable(const struct load *l, enum key_id id)
{
    return !l->bad[id] && (config_keys[id].parent == TOP || !l->bad[config_keys[id].parent]);
}

int config_given(const struct load *l, enum key_id id)
{
    return l->value_node[id] != NULL;
}
