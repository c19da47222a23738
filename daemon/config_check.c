/*
 * config_check.c - the cross-checks of a configuration: keys that depend on
 * each other (the relay's URL and TLS mode, retry bounds, the lease against
 * the timeout, credentials and who may read them, the queue's place, the
 * metrics file), and the values derived from others when not given.
 */
#include "config_load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "queue_url.h"

/* The parts of an smtp URL the checks need. */
struct smtp_url {
    int smtps;
    char host[CONFIG_DOMAIN_MAX + 1];
};

/* Splits scheme://host[:port][/...]; NULL on success, else what is wrong. */
static const char *split_url(const char *url, struct smtp_url *u)
{
    const char *host, *end, *port;
    size_t hostlen;

    if (strchr(url, '@'))
        return "must not hold credentials; use smtp.username and smtp.password_file";
    if (strncasecmp(url, "smtp://", strlen("smtp://")) == 0) {
        u->smtps = 0;
        host = url + strlen("smtp://");
    } else if (strncasecmp(url, "smtps://", strlen("smtps://")) == 0) {
        u->smtps = 1;
        host = url + strlen("smtps://");
    } else {
        return "expected smtp://host[:port] or smtps://host[:port]";
    }
    if (strchr(url, ' '))
        return "must not contain spaces";
    if (*host == '[') {
        end = strchr(++host, ']');
        if (end == NULL)
            return "has an unterminated [IPv6] address";
        port = end + 1;
    } else {
        end = host + strcspn(host, ":/?#");
        port = end;
    }
    hostlen = (size_t)(end - host);
    if (hostlen == 0)
        return "has no host";
    if (hostlen >= sizeof(u->host))
        return "has a host name longer than 253 characters";
    memcpy(u->host, host, hostlen);
    u->host[hostlen] = '\0';
    if (*port == ':') {
        size_t digits = strspn(port + 1, "0123456789");
        long n = digits > 0 && digits <= 5 ? strtol(port + 1, NULL, 10) : 0;

        if (n < 1 || n > 65535 || strchr("/?#", port[1 + digits]) == NULL)
            return "has a bad port (expected 1 to 65535)";
    } else if (strchr("/?#", *port) == NULL) {
        return "has junk after the host";
    }
    return NULL;
}

/* Cleartext is only safe when it never leaves the machine. */
static int host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return 0;
}

static void check_tls_matches_url(struct load *l, const struct smtp_url *u)
{
    const struct config *c = l->c;
    char show[CONFIG_SHOW_LEN];

    /* tls defaults to starttls, so implicit and none were set on their own line. */
    if (c->tls == TLS_IMPLICIT && !u->smtps)
        config_report_key(l, K_TLS, "implicit needs an smtps:// URL, got \"%s\"",
                          config_shown(c->smtp_url, show));
    else if (c->tls != TLS_IMPLICIT && u->smtps && config_given(l, K_TLS))
        config_report_key(l, K_TLS, "%s needs an smtp:// URL; smtps:// means tls: implicit",
                          config_tls_name(c->tls));
    else if (c->tls != TLS_IMPLICIT && u->smtps)
        config_report_key(l, K_URL, "smtps:// needs smtp.tls: implicit (the default is starttls)");
    else if (c->tls == TLS_NONE && !host_is_loopback(u->host))
        config_report_key(l, K_TLS,
                          "none (cleartext) is allowed only to a loopback server (127.0.0.1, ::1, "
                          "localhost), not \"%s\"",
                          config_shown(u->host, show));
}

static void check_url(struct load *l)
{
    struct smtp_url u;
    const char *why;

    if (!config_usable(l, K_URL) || l->c->smtp_url == NULL)
        return;
    why = split_url(l->c->smtp_url, &u);
    if (why) {
        char show[CONFIG_SHOW_LEN];

        /* A URL with credentials in it is not repeated into a log. */
        if (strchr(l->c->smtp_url, '@'))
            config_report_key(l, K_URL, "%s", why);
        else
            config_report_key(l, K_URL, "%s, got \"%s\"", why, config_shown(l->c->smtp_url, show));
        return;
    }
    if (config_usable(l, K_TLS))
        check_tls_matches_url(l, &u);
}

static void check_retry(struct load *l)
{
    char min[CONFIG_DURATION_LEN], max[CONFIG_DURATION_LEN];

    if (!config_usable(l, K_RETRY_MIN) || !config_usable(l, K_RETRY_MAX) ||
        l->c->retry_min_ms <= l->c->retry_max_ms)
        return;
    format_duration_ms(l->c->retry_min_ms, min, sizeof(min));
    format_duration_ms(l->c->retry_max_ms, max, sizeof(max));
    if (config_located(l, K_RETRY_MIN, K_RETRY_MAX) == K_RETRY_MIN)
        config_report_key(l, K_RETRY_MIN, "%s must not be longer than queue.retry_max (%s)", min,
                          max);
    else
        config_report_key(l, K_RETRY_MAX, "%s must not be shorter than queue.retry_min (%s)", max,
                          min);
}

static void check_lease(struct load *l)
{
    char lease[CONFIG_DURATION_LEN], timeout[CONFIG_DURATION_LEN];

    if (!config_usable(l, K_LEASE) || !config_usable(l, K_TIMEOUT) ||
        l->c->lease_ms > l->c->timeout_ms + CONFIG_LEASE_MARGIN_MS)
        return;
    format_duration_ms(l->c->lease_ms, lease, sizeof(lease));
    format_duration_ms(l->c->timeout_ms, timeout, sizeof(timeout));
    if (config_located(l, K_LEASE, K_TIMEOUT) == K_LEASE)
        config_report_key(
            l, K_LEASE,
            "%s must be longer than smtp.timeout (%s) plus %ds: a claim must outlive a "
            "delivery attempt",
            lease, timeout, CONFIG_LEASE_MARGIN_MS / 1000);
    else
        config_report_key(
            l, K_TIMEOUT,
            "%s must be shorter than queue.lease (%s) less %ds: a claim must outlive a "
            "delivery attempt",
            timeout, lease, CONFIG_LEASE_MARGIN_MS / 1000);
}

/* A key given but wrong still counts as given here: its own message says what is wrong. */
static void check_credentials(struct load *l)
{
    int secret = config_given(l, K_PASSWORD) || config_given(l, K_PASSWORD_FILE);

    if (config_given(l, K_PASSWORD) && config_given(l, K_PASSWORD_FILE))
        config_report_key(l, K_PASSWORD,
                          "set either smtp.password or smtp.password_file, not both");
    if (config_given(l, K_USERNAME) && !secret)
        config_report_key(l, K_USERNAME,
                          "needs smtp.password_file (or smtp.password) to authenticate");
    if (secret && !config_given(l, K_USERNAME))
        config_report_key(l, config_located(l, K_PASSWORD_FILE, K_PASSWORD), "needs smtp.username");
}

/* An inline password is only as secret as the file it sits in. */
static void check_password_privacy(struct load *l)
{
    const char *path = l->c->path;
    struct stat st;
    unsigned mode;

    if (l->c->password == NULL)
        return;
    if (stat(path, &st) == -1) {
        config_report_key(l, K_PASSWORD, "cannot check who may read %s: %s", path, strerror(errno));
        return;
    }
    mode = (unsigned)st.st_mode & 07777;
    if (mode & 077)
        config_report_key(
            l, K_PASSWORD,
            "%s is %s by group or others (mode %04o); use smtp.password_file or chmod 600 %s", path,
            mode & 044 ? "readable" : "writable", mode, path);
}

/* The config file's mode, for the privacy checks: 0, or -1 reported at id. */
static int config_mode(struct load *l, enum key_id id, unsigned *mode)
{
    struct stat st;

    if (stat(l->c->path, &st) == -1) {
        config_report_key(l, id, "cannot check who may read %s: %s", l->c->path, strerror(errno));
        return -1;
    }
    *mode = (unsigned)st.st_mode & 07777;
    return 0;
}

/*
 * Exactly one of queue.path (SQLite) and queue.url (PostgreSQL).  A password
 * inside the URL is only as secret as this file; queue.password_file (or
 * $CREDENTIALS_DIRECTORY) is the place for it.  The URL is never repeated in
 * a message: it may hold that password.
 */
static void check_queue_place(struct load *l)
{
    const struct config *c = l->c;
    unsigned mode;

    if (!config_given(l, K_QUEUE_PATH) && !config_given(l, K_QUEUE_URL)) {
        /* A missing or wrong queue section is reported as that already. */
        if (config_given(l, K_QUEUE) && config_usable(l, K_QUEUE))
            config_report(l, l->value_node[K_QUEUE], config_keys[K_QUEUE_PATH].name,
                          "required key is missing (or queue.url, for PostgreSQL)");
        return;
    }
    if (config_given(l, K_QUEUE_PATH) && config_given(l, K_QUEUE_URL)) {
        config_report_key(l, K_QUEUE_URL, "set either queue.path or queue.url, not both");
        return;
    }
    if (config_given(l, K_QUEUE_PASSWORD_FILE) && !config_given(l, K_QUEUE_URL))
        config_report_key(l, K_QUEUE_PASSWORD_FILE,
                          "is for queue.url; a SQLite queue has no password");
    if (!config_usable(l, K_QUEUE_URL) || c->queue_url == NULL)
        return;
    if (!queue_url_is_postgres(c->queue_url)) {
        config_report_key(l, K_QUEUE_URL, "expected a postgresql:// URL");
        return;
    }
    if (!queue_url_has_password(c->queue_url))
        return;
    if (config_given(l, K_QUEUE_PASSWORD_FILE)) {
        config_report_key(l, K_QUEUE_URL, "holds a password; set it in queue.password_file only");
        return;
    }
    if (config_mode(l, K_QUEUE_URL, &mode) == 0 && (mode & 077))
        config_report_key(l, K_QUEUE_URL,
                          "holds a password and %s is %s by group or others (mode %04o); use "
                          "queue.password_file or chmod 600 %s",
                          c->path, mode & 044 ? "readable" : "writable", mode, c->path);
}

static void derive_message_id_domain(struct load *l)
{
    struct config *c = l->c;

    if (c->message_id_domain || c->from_address == NULL)
        return;
    c->message_id_domain = strdup(strchr(c->from_address, '@') + 1);
    if (c->message_id_domain == NULL)
        config_report_key(l, K_MESSAGE_ID_DOMAIN, "out of memory");
}

/* Every report names the site; without site.name, the sender's name or domain stands in. */
static void derive_site_name(struct load *l)
{
    struct config *c = l->c;
    const char *name;

    if (c->site_name || c->from_address == NULL)
        return;
    name = c->from_name ? c->from_name : strchr(c->from_address, '@') + 1;
    c->site_name = strdup(name);
    if (c->site_name == NULL)
        config_report_key(l, K_SITE_NAME, "out of memory");
}

/* node_exporter's textfile collector reads only files named *.prom. */
static void check_metrics_path(struct load *l)
{
    const char *p = l->c->metrics_path;
    size_t len = p ? strlen(p) : 0;

    if (config_usable(l, K_METRICS_PATH) && p &&
        (len <= strlen(".prom") || strcmp(p + len - strlen(".prom"), ".prom") != 0))
        config_report_key(l, K_METRICS_PATH,
                          "\"%s\" must end in .prom: node_exporter's textfile collector reads only "
                          "*.prom files",
                          p);
}

void config_cross_check(struct load *l)
{
    check_queue_place(l);
    check_metrics_path(l);
    check_url(l);
    check_retry(l);
    check_lease(l);
    check_credentials(l);
    check_password_privacy(l);
    derive_message_id_domain(l);
    derive_site_name(l);
}
