/*
 * config.h - reportd's configuration: one strict YAML file.
 *
 * Loading follows OpenSMTPD's config.c: defaults are set in one function,
 * then the file is parsed, then cross-checks run.  Every problem found is
 * reported (file:line:column, the key, what was expected, what was found)
 * and any problem rejects the whole file.
 */
#ifndef REPORTD_CONFIG_H
#define REPORTD_CONFIG_H

#include <stdint.h>

#include "queue.h"
#include "util.h"

#define CONFIG_DEFAULT_PATH "/etc/reportd/reportd.yaml"
#define CONFIG_ENV          "REPORTD_CONFIG"

/*
 * A claim must outlive a delivery attempt and the writing of its outcome:
 * queue.lease must exceed smtp.timeout by this much, and the daemon starts a
 * send only while this much more than smtp.timeout is left of its claim.
 */
#define CONFIG_LEASE_MARGIN_MS 5000
/* Slower than one message in 1000 seconds is a typo, and would overflow the pacing arithmetic. */
#define CONFIG_RATE_MIN 0.001

enum tls_mode {
    TLS_STARTTLS, /* smtp:// and STARTTLS required: never fall back to cleartext */
    TLS_IMPLICIT, /* smtps:// */
    TLS_NONE,     /* cleartext, allowed only to a loopback server */
};

struct config {
    char *path; /* the file this came from */

    /* queue: */
    char *queue_path;          /* SQLite database, or NULL when queue_url is set */
    char *queue_url;           /* PostgreSQL: a libpq URI, or NULL */
    char *queue_password_file; /* for queue_url; may be NULL */
    struct queue_place queue;  /* the three above, for queue_open_at() */
    int64_t poll_interval_ms;  /* how often an idle daemon looks for work */
    int batch_size;            /* signups claimed per round */
    int64_t lease_ms;          /* how long a claim holds before others may take it */
    int64_t lifetime_ms;       /* undelivered this long: failed as expired */
    int64_t retry_min_ms;      /* first backoff */
    int64_t retry_max_ms;      /* backoff ceiling */
    enum uncertain_policy uncertain;
    int64_t retention_ms; /* a settled signup's personal data is kept this long; 0 = forever */

    char *roles_dir;     /* one YAML file per role */
    char *templates_dir; /* subject, text and HTML templates, partials/ */

    /* sender: */
    char *from_name;    /* display name, may be NULL */
    char *from_address; /* required */
    char *reply_to;     /* may be NULL */
    char *message_id_domain;

    /* site: who the subscriber asked, named and linked in every report */
    char *site_name;    /* default: sender.name, else the domain of sender.from */
    char *site_url;     /* may be NULL: no link */
    char *analysis_url; /* may be NULL; {role} and {level} are replaced */
    char *deletion;     /* an address or URL for deletion requests; NULL: reply */

    /* smtp: */
    char *smtp_url; /* smtp://host:port or smtps://host:port */
    enum tls_mode tls;
    char *ca_file;       /* may be NULL: the system store */
    char *username;      /* may be NULL: no AUTH */
    char *password_file; /* may be NULL */
    char *password;      /* inline; refused when the file is readable by others */
    int64_t connect_timeout_ms;
    int64_t timeout_ms;      /* one whole SMTP transaction */
    int64_t idle_timeout_ms; /* close a reused connection after this long unused */
    int connections;         /* parallel SMTP connections */
    double rate_limit;       /* messages per second, 0 = unlimited */

    /* log: */
    int verbose;

    /* metrics: */
    char *metrics_path; /* node_exporter textfile (*.prom); NULL: none written */
};

/* Fills every field with its default (paths are NULL until parsed). */
void config_defaults(struct config *c);
/*
 * Loads path into c: defaults, parse, cross-checks.  Returns 0, or -1 with
 * one line per problem in d (and c left freed).
 */
int config_load(struct config *c, const char *path, struct diag *d);
void config_free(struct config *c);

#endif
