/*
 * config_load.h - a configuration file being loaded, shared by the files
 * that load it: config.c (the key table, defaults, the order of loading),
 * config_parse.c (walking the document, reporting), config_value.c (each
 * value by its kind) and config_check.c (the cross-checks between keys).
 * Internal to those files.
 */
#ifndef REPORTD_CONFIG_LOAD_H
#define REPORTD_CONFIG_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "config.h"
#include "util.h"
#include "yamldoc.h"

/* RFC 1035: 253 characters of name (63 per label, CONFIG_LABEL_MAX in config_value.c). */
#define CONFIG_DOMAIN_MAX 253
/* A value quoted in a message is cut after this many characters. */
#define CONFIG_SHOW_MAX 60
/* ... and its copy, escapes included, fits in this. */
#define CONFIG_SHOW_LEN (CONFIG_SHOW_MAX * 4 + 8)
/* A duration written back in a message ("1h30m"). */
#define CONFIG_DURATION_LEN 32

enum key_kind {
    KIND_SECTION,   /* a mapping of further keys */
    KIND_TEXT,      /* a non-empty string without control characters */
    KIND_ADDRESS,   /* a bare mail address: local@domain */
    KIND_DOMAIN,    /* a host name */
    KIND_DURATION,  /* "30s", "5m", "1h30m" */
    KIND_INT,       /* a whole number within [min, max] */
    KIND_RATE,      /* a number >= 0 */
    KIND_BOOL,      /* true/false, yes/no, on/off */
    KIND_TLS,       /* starttls, implicit, none */
    KIND_UNCERTAIN, /* resend, hold */
    KIND_URL,       /* an http(s) URL a subscriber can open */
    KIND_CONTACT,   /* a mail address or an http(s) URL */
};

enum key_id {
    K_QUEUE,
    K_QUEUE_PATH,
    K_QUEUE_URL,
    K_QUEUE_PASSWORD_FILE,
    K_POLL_INTERVAL,
    K_BATCH_SIZE,
    K_LEASE,
    K_LIFETIME,
    K_RETRY_MIN,
    K_RETRY_MAX,
    K_UNCERTAIN,
    K_RETENTION,
    K_ROLES_DIR,
    K_TEMPLATES_DIR,
    K_SENDER,
    K_FROM,
    K_NAME,
    K_REPLY_TO,
    K_MESSAGE_ID_DOMAIN,
    K_SITE,
    K_SITE_NAME,
    K_SITE_URL,
    K_ANALYSIS_URL,
    K_DELETION,
    K_SMTP,
    K_URL,
    K_TLS,
    K_CA_FILE,
    K_USERNAME,
    K_PASSWORD_FILE,
    K_PASSWORD,
    K_CONNECT_TIMEOUT,
    K_TIMEOUT,
    K_IDLE_TIMEOUT,
    K_CONNECTIONS,
    K_RATE_LIMIT,
    K_LOG,
    K_VERBOSE,
    K_METRICS,
    K_METRICS_PATH,
    K_COUNT
};

/* The parent of a top-level key. */
#define TOP (-1)

struct key {
    const char *name; /* dotted, exactly as messages show it */
    int parent;       /* the section's key_id, or TOP */
    enum key_kind kind;
    int required;
    size_t offset;    /* of the field in struct config; unused for sections */
    int64_t min, max; /* KIND_INT only */
};

#define FIELD(f) offsetof(struct config, f)

/* The file's keys, one entry per key_id. */
extern const struct key config_keys[K_COUNT];

/* One load in progress: where each key was found, and which values were wrong. */
struct load {
    struct yamldoc *yd;
    struct config *c;
    struct diag *d;
    const yaml_node_t *key_node[K_COUNT];
    const yaml_node_t *value_node[K_COUNT];
    unsigned char bad[K_COUNT];
};

/* Copies s for a message: control characters, quotes and backslashes escaped, long values cut. */
const char *config_shown(const char *s, char *out);
/* One "file:line:column: key: message" line at node at. */
UTIL_PRINTF(4, 5)
void config_report(struct load *l, const yaml_node_t *at, const char *key, const char *fmt, ...);
/*
 * Reports at key id (its value, or where it should have been) and marks it
 * wrong, so the cross-checks that follow leave it alone.
 */
UTIL_PRINTF(3, 4) void config_report_key(struct load *l, enum key_id id, const char *fmt, ...);
/* The key a problem between two is reported at: the first, unless only the second was set. */
enum key_id config_located(const struct load *l, enum key_id first, enum key_id second);
/* The value (given or default) can be trusted: neither it nor its section was wrong. */
int config_usable(const struct load *l, enum key_id id);
/* The file set the key (rightly or wrongly). */
int config_given(const struct load *l, enum key_id id);

/* Walks the document's mappings against config_keys, parsing each value (config_parse.c). */
void config_parse(struct load *l);
/*
 * Checks a (non-section) key's value against its kind and stores it in its
 * field, or reports it (config_value.c).
 */
void config_parse_value(struct load *l, enum key_id id, const yaml_node_t *v);

/* The name of a TLS mode, as the file spells it. */
const char *config_tls_name(enum tls_mode mode);

/* The checks between keys, and the values derived from others (config_check.c). */
void config_cross_check(struct load *l);

#endif
