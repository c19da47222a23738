/*
 * config.c - reads reportd.yaml into struct config, in OpenSMTPD's order:
 * the defaults (config_defaults), then the file walked against the table of
 * keys below (config_parse.c, each value by config_value.c), then the
 * cross-checks between keys (config_check.c).  Every problem becomes one
 * "file:line:column: key: message" line, and any problem rejects the file.
 */
#include "config.h"
#include "config_load.h"

#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "yamldoc.h"

/* More parallel sessions than this looks like abuse to any relay. */
#define CONFIG_MAX_CONNECTIONS 16

#define MS_PER_SECOND 1000LL
#define MS_PER_MINUTE (60 * MS_PER_SECOND)
#define MS_PER_HOUR   (60 * MS_PER_MINUTE)
#define MS_PER_DAY    (24 * MS_PER_HOUR)

/*
 * The file is described by this one table (dotted name, section, kind,
 * field): unknown, duplicate, missing and mistyped keys are all found
 * against it.
 */
const struct key config_keys[K_COUNT] = {
    [K_QUEUE] = {"queue", TOP, KIND_SECTION, 1, 0, 0, 0},
    /* Exactly one of path and url: check_queue_place(). */
    [K_QUEUE_PATH] = {"queue.path", K_QUEUE, KIND_TEXT, 0, FIELD(queue_path), 0, 0},
    [K_QUEUE_URL] = {"queue.url", K_QUEUE, KIND_TEXT, 0, FIELD(queue_url), 0, 0},
    [K_QUEUE_PASSWORD_FILE] = {"queue.password_file", K_QUEUE, KIND_TEXT, 0,
                               FIELD(queue_password_file), 0, 0},
    [K_POLL_INTERVAL] = {"queue.poll_interval", K_QUEUE, KIND_DURATION, 0, FIELD(poll_interval_ms),
                         0, 0},
    [K_BATCH_SIZE] = {"queue.batch_size", K_QUEUE, KIND_INT, 0, FIELD(batch_size), 1,
                      QUEUE_MAX_BATCH},
    [K_LEASE] = {"queue.lease", K_QUEUE, KIND_DURATION, 0, FIELD(lease_ms), 0, 0},
    [K_LIFETIME] = {"queue.lifetime", K_QUEUE, KIND_DURATION, 0, FIELD(lifetime_ms), 0, 0},
    [K_RETRY_MIN] = {"queue.retry_min", K_QUEUE, KIND_DURATION, 0, FIELD(retry_min_ms), 0, 0},
    [K_RETRY_MAX] = {"queue.retry_max", K_QUEUE, KIND_DURATION, 0, FIELD(retry_max_ms), 0, 0},
    [K_UNCERTAIN] = {"queue.uncertain", K_QUEUE, KIND_UNCERTAIN, 0, FIELD(uncertain), 0, 0},
    [K_RETENTION] = {"queue.retention", K_QUEUE, KIND_DURATION, 0, FIELD(retention_ms), 0, 0},
    [K_ROLES_DIR] = {"roles_dir", TOP, KIND_TEXT, 1, FIELD(roles_dir), 0, 0},
    [K_TEMPLATES_DIR] = {"templates_dir", TOP, KIND_TEXT, 1, FIELD(templates_dir), 0, 0},
    [K_SENDER] = {"sender", TOP, KIND_SECTION, 1, 0, 0, 0},
    [K_FROM] = {"sender.from", K_SENDER, KIND_ADDRESS, 1, FIELD(from_address), 0, 0},
    [K_NAME] = {"sender.name", K_SENDER, KIND_TEXT, 0, FIELD(from_name), 0, 0},
    [K_REPLY_TO] = {"sender.reply_to", K_SENDER, KIND_ADDRESS, 0, FIELD(reply_to), 0, 0},
    [K_MESSAGE_ID_DOMAIN] = {"sender.message_id_domain", K_SENDER, KIND_DOMAIN, 0,
                             FIELD(message_id_domain), 0, 0},
    [K_SITE] = {"site", TOP, KIND_SECTION, 0, 0, 0, 0},
    [K_SITE_NAME] = {"site.name", K_SITE, KIND_TEXT, 0, FIELD(site_name), 0, 0},
    [K_SITE_URL] = {"site.url", K_SITE, KIND_URL, 0, FIELD(site_url), 0, 0},
    [K_ANALYSIS_URL] = {"site.analysis_url", K_SITE, KIND_URL, 0, FIELD(analysis_url), 0, 0},
    [K_DELETION] = {"site.deletion", K_SITE, KIND_CONTACT, 0, FIELD(deletion), 0, 0},
    [K_SMTP] = {"smtp", TOP, KIND_SECTION, 1, 0, 0, 0},
    [K_URL] = {"smtp.url", K_SMTP, KIND_TEXT, 1, FIELD(smtp_url), 0, 0},
    [K_TLS] = {"smtp.tls", K_SMTP, KIND_TLS, 0, FIELD(tls), 0, 0},
    [K_CA_FILE] = {"smtp.ca_file", K_SMTP, KIND_TEXT, 0, FIELD(ca_file), 0, 0},
    [K_USERNAME] = {"smtp.username", K_SMTP, KIND_TEXT, 0, FIELD(username), 0, 0},
    [K_PASSWORD_FILE] = {"smtp.password_file", K_SMTP, KIND_TEXT, 0, FIELD(password_file), 0, 0},
    [K_PASSWORD] = {"smtp.password", K_SMTP, KIND_TEXT, 0, FIELD(password), 0, 0},
    [K_CONNECT_TIMEOUT] = {"smtp.connect_timeout", K_SMTP, KIND_DURATION, 0,
                           FIELD(connect_timeout_ms), 0, 0},
    [K_TIMEOUT] = {"smtp.timeout", K_SMTP, KIND_DURATION, 0, FIELD(timeout_ms), 0, 0},
    [K_IDLE_TIMEOUT] = {"smtp.idle_timeout", K_SMTP, KIND_DURATION, 0, FIELD(idle_timeout_ms), 0,
                        0},
    [K_CONNECTIONS] = {"smtp.connections", K_SMTP, KIND_INT, 0, FIELD(connections), 1,
                       CONFIG_MAX_CONNECTIONS},
    [K_RATE_LIMIT] = {"smtp.rate_limit", K_SMTP, KIND_RATE, 0, FIELD(rate_limit), 0, 0},
    [K_LOG] = {"log", TOP, KIND_SECTION, 0, 0, 0, 0},
    [K_VERBOSE] = {"log.verbose", K_LOG, KIND_BOOL, 0, FIELD(verbose), 0, 0},
    [K_METRICS] = {"metrics", TOP, KIND_SECTION, 0, 0, 0, 0},
    [K_METRICS_PATH] = {"metrics.path", K_METRICS, KIND_TEXT, 0, FIELD(metrics_path), 0, 0},
};

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    c->poll_interval_ms = 5 * MS_PER_SECOND;
    c->batch_size = 50;
    c->lease_ms = 2 * MS_PER_MINUTE;
    c->lifetime_ms = 5 * MS_PER_DAY;
    c->retry_min_ms = 1 * MS_PER_MINUTE;
    c->retry_max_ms = 1 * MS_PER_HOUR;
    c->uncertain = UNCERTAIN_RESEND;
    c->retention_ms = 30 * MS_PER_DAY;
    c->tls = TLS_STARTTLS;
    c->connect_timeout_ms = 10 * MS_PER_SECOND;
    c->timeout_ms = 60 * MS_PER_SECOND;
    c->idle_timeout_ms = 30 * MS_PER_SECOND;
    c->connections = 1;
    c->rate_limit = 0;
    c->verbose = 0;
}

void config_free(struct config *c)
{
    free(c->path);
    free(c->queue_path);
    free(c->queue_url);
    free(c->queue_password_file);
    free(c->roles_dir);
    free(c->templates_dir);
    free(c->from_name);
    free(c->from_address);
    free(c->reply_to);
    free(c->message_id_domain);
    free(c->site_name);
    free(c->site_url);
    free(c->analysis_url);
    free(c->deletion);
    free(c->smtp_url);
    free(c->ca_file);
    free(c->username);
    free(c->password_file);
    free(c->metrics_path);
    if (c->password)
        explicit_bzero(c->password, strlen(c->password));
    free(c->password);
    memset(c, 0, sizeof(*c));
}

int config_load(struct config *c, const char *path, struct diag *d)
{
    struct yamldoc yd;
    struct load l;
    char err[ERRLEN];
    int errors_before = d->count;

    config_defaults(c);
    c->path = strdup(path);
    if (c->path == NULL) {
        diag_add(d, "%s: out of memory", path);
        return -1;
    }
    if (yamldoc_load_file(&yd, path, err) == -1) {
        diag_add(d, "%s", err);
        config_free(c);
        return -1;
    }
    memset(&l, 0, sizeof(l));
    l.yd = &yd;
    l.c = c;
    l.d = d;
    config_parse(&l);
    config_cross_check(&l);
    yamldoc_free(&yd);
    c->queue = (struct queue_place){c->queue_path, c->queue_url, c->queue_password_file};
    if (d->count != errors_before || buf_failed(&d->text)) {
        config_free(c);
        return -1;
    }
    return 0;
}
