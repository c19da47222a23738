/*
 * config.c - reads reportd.yaml into struct config.
 *
 * The file is described by one table of keys (dotted name, section, kind,
 * field).  Loading walks the YAML mappings against that table, so unknown,
 * duplicate, missing and mistyped keys are found in one place; then the
 * cross-checks (config_check.c) look at keys that depend on each other.  Every problem becomes
 * one "file:line:column: key: message" line, and a key whose value was wrong
 * is left out of the cross-checks so one mistake gives one message.
 */
#include "config.h"
#include "config_load.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "queue.h"
#include "queue_url.h"
#include "signup.h"
#include "yamldoc.h"

/* More parallel sessions than this looks like abuse to any relay. */
#define CONFIG_MAX_CONNECTIONS 16
/* A year: a longer duration is a typo, and now + duration stays far from overflow. */
#define CONFIG_MAX_DURATION_MS (365LL * 24 * 60 * 60 * 1000)
/* RFC 1035: 63 characters per label of a host name. */
#define CONFIG_LABEL_MAX 63
/* An unknown key this many edits from a known one is probably that key mistyped. */
#define CONFIG_SUGGEST_DISTANCE 2
/* ... and at most one edit per this many characters of the unknown key. */
#define CONFIG_SUGGEST_SHARE 3
/* Known keys are short; a longer unknown key is not compared for a suggestion. */
#define CONFIG_KEY_MAX 32
/* Characters that would make a bare address ambiguous inside a header. */

#define MS_PER_SECOND 1000LL
#define MS_PER_MINUTE (60 * MS_PER_SECOND)
#define MS_PER_HOUR   (60 * MS_PER_MINUTE)
#define MS_PER_DAY    (24 * MS_PER_HOUR)

#define FIELD(f) offsetof(struct config, f)

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

static const struct {
    const char *name;
    enum tls_mode mode;
} tls_modes[] = {
    {"starttls", TLS_STARTTLS},
    {"implicit", TLS_IMPLICIT},
    {"none", TLS_NONE},
};

static const struct {
    const char *name;
    enum uncertain_policy policy;
} uncertain_policies[] = {
    {"resend", UNCERTAIN_RESEND},
    {"hold", UNCERTAIN_HOLD},
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

static const char *kind_name(enum key_kind kind)
{
    switch (kind) {
    case KIND_SECTION:
        return "a mapping";
    case KIND_TEXT:
        return "a string";
    case KIND_ADDRESS:
        return "a mail address";
    case KIND_DOMAIN:
        return "a domain name";
    case KIND_DURATION:
        return "a duration like 30s";
    case KIND_INT:
        return "a whole number";
    case KIND_RATE:
        return "a number";
    case KIND_BOOL:
        return "true or false";
    case KIND_TLS:
        return "one of starttls, implicit, none";
    case KIND_UNCERTAIN:
        return "one of resend, hold";
    case KIND_URL:
        return "an http:// or https:// URL";
    case KIND_CONTACT:
        return "a mail address or an http(s) URL";
    }
    return "a value";
}

/* Fields ----------------------------------------------------------------- */

static void *field(struct config *c, enum key_id id)
{
    return (char *)c + config_keys[id].offset;
}

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

/* Scalars ---------------------------------------------------------------- */

/* Why s (len bytes as libyaml gave them) is not usable text, or NULL. */
static const char *text_problem(const char *s, size_t len)
{
    const unsigned char *p;

    if (len == 0)
        return "must not be empty";
    if (strlen(s) != len)
        return "must not contain a NUL character";
    for (p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "must not contain control characters (tabs, line breaks)";
    return NULL;
}

static int domain_ok(const char *s)
{
    size_t total = strlen(s), label = 0;
    const char *p;

    if (total == 0 || total > CONFIG_DOMAIN_MAX)
        return 0;
    for (p = s; *p; p++) {
        if (*p == '.') {
            if (label == 0 || p[-1] == '-')
                return 0;
            label = 0;
        } else if (isalnum((unsigned char)*p) || *p == '-') {
            if ((label == 0 && *p == '-') || ++label > CONFIG_LABEL_MAX)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0 && p[-1] != '-';
}

/* One definition of a mail address for the sender and the subscribers: signup.c's. */
static int address_ok(const char *s)
{
    char why[ERRLEN];

    return email_validate(s, why) == 0;
}

static int store_string(struct load *l, enum key_id id, const char *s)
{
    char *copy = strdup(s);

    if (copy == NULL) {
        config_report_key(l, id, "out of memory");
        return -1;
    }
    *(char **)field(l->c, id) = copy;
    return 0;
}

static int parse_text(struct load *l, enum key_id id, const char *s, size_t len)
{
    const char *why = text_problem(s, len);

    if (why) {
        config_report_key(l, id, "%s", why);
        return -1;
    }
    return store_string(l, id, s);
}

static int parse_address(struct load *l, enum key_id id, const char *s, size_t len)
{
    char show[CONFIG_SHOW_LEN];

    if (strlen(s) != len || !address_ok(s)) {
        config_report_key(l, id, "expected a bare address like reports@example.com, got \"%s\"",
                          config_shown(s, show));
        return -1;
    }
    return store_string(l, id, s);
}

static int parse_domain(struct load *l, enum key_id id, const char *s, size_t len)
{
    char show[CONFIG_SHOW_LEN];

    if (strlen(s) != len || !domain_ok(s)) {
        config_report_key(l, id, "expected a domain name like example.com, got \"%s\"",
                          config_shown(s, show));
        return -1;
    }
    return store_string(l, id, s);
}

/*
 * A link a subscriber opens from the email: http(s), a host, and no
 * characters that would end it early in text or HTML.  analysis_url may
 * hold the placeholders {role} and {level}, and no other braces.
 */
static const char *url_problem(const char *s, int placeholders)
{
    const char *p, *host;

    if (strncmp(s, "https://", 8) == 0)
        host = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        host = s + 7;
    else
        return "must start with https:// (or http://)";
    if (*host == '\0' || *host == '/')
        return "has no host";
    for (p = s; *p; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("\"<>\\^`|", *p))
            return "contains a space, a quote or a character that must be %-encoded";
        if (*p == '{' || *p == '}') {
            if (placeholders && (strncmp(p, "{role}", 6) == 0 || strncmp(p, "{level}", 7) == 0)) {
                p = strchr(p, '}');
                continue;
            }
            return placeholders ? "only {role} and {level} may appear in braces"
                                : "contains a brace";
        }
    }
    return NULL;
}

static int parse_url(struct load *l, enum key_id id, const char *s, size_t len)
{
    char show[CONFIG_SHOW_LEN];
    const char *why = strlen(s) != len ? "contains a NUL" : url_problem(s, id == K_ANALYSIS_URL);

    if (why) {
        config_report_key(l, id, "%s: \"%s\"", why, config_shown(s, show));
        return -1;
    }
    return store_string(l, id, s);
}

static int parse_contact(struct load *l, enum key_id id, const char *s, size_t len)
{
    char show[CONFIG_SHOW_LEN];

    if (strlen(s) == len && (address_ok(s) || url_problem(s, 0) == NULL))
        return store_string(l, id, s);
    config_report_key(l, id, "expected a mail address or an https:// URL, got \"%s\"",
                      config_shown(s, show));
    return -1;
}

static int parse_duration(struct load *l, enum key_id id, const char *s)
{
    char show[CONFIG_SHOW_LEN];
    int64_t ms;

    /* Keeping personal data forever is a choice an operator must spell out. */
    if (id == K_RETENTION && strcmp(s, "never") == 0) {
        *(int64_t *)field(l->c, id) = 0;
        return 0;
    }
    if (parse_duration_ms(s, &ms) == -1) {
        config_report_key(l, id, "expected a duration like 30s%s, got \"%s\"",
                          id == K_RETENTION ? " or never" : "", config_shown(s, show));
        return -1;
    }
    if (ms == 0) {
        config_report_key(l, id, "must be longer than 0, got \"%s\"", config_shown(s, show));
        return -1;
    }
    if (ms > CONFIG_MAX_DURATION_MS) {
        config_report_key(l, id, "must be at most 365d, got \"%s\"", config_shown(s, show));
        return -1;
    }
    *(int64_t *)field(l->c, id) = ms;
    return 0;
}

static int parse_int(struct load *l, enum key_id id, const char *s)
{
    char show[CONFIG_SHOW_LEN], *end;
    long long n;

    errno = 0;
    n = strtoll(s, &end, 10);
    if (!(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))) ||
        *end != '\0' || errno != 0 || n < config_keys[id].min || n > config_keys[id].max) {
        config_report_key(l, id, "expected a whole number from %lld to %lld, got \"%s\"",
                          (long long)config_keys[id].min, (long long)config_keys[id].max,
                          config_shown(s, show));
        return -1;
    }
    *(int *)field(l->c, id) = (int)n;
    return 0;
}

static int parse_rate(struct load *l, enum key_id id, const char *s)
{
    char show[CONFIG_SHOW_LEN], *end;
    double x;

    /* strtod alone would also take "inf", "nan" and hexadecimal. */
    errno = 0;
    x = strtod(s, &end);
    if (s[strspn(s, "0123456789.eE+-")] != '\0' || end == s || *end != '\0' || errno != 0 ||
        !isfinite(x) || x < 0) {
        config_report_key(l, id, "expected a number of messages per second, 0 or more, got \"%s\"",
                          config_shown(s, show));
        return -1;
    }
    if (x > 0 && x < CONFIG_RATE_MIN) {
        config_report_key(l, id,
                          "%s messages per second is below the minimum of %g (0 means no limit)",
                          config_shown(s, show), CONFIG_RATE_MIN);
        return -1;
    }
    *(double *)field(l->c, id) = x;
    return 0;
}

static int parse_bool(struct load *l, enum key_id id, const char *s)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    char show[CONFIG_SHOW_LEN];
    size_t i;

    for (i = 0; i < NELEM(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *(int *)field(l->c, id) = strcasecmp(s, yes[i]) == 0;
            return 0;
        }
    }
    config_report_key(l, id, "expected true or false (or yes/no, on/off), got \"%s\"",
                      config_shown(s, show));
    return -1;
}

static int parse_tls(struct load *l, enum key_id id, const char *s)
{
    char show[CONFIG_SHOW_LEN];
    size_t i;

    for (i = 0; i < NELEM(tls_modes); i++) {
        if (strcmp(s, tls_modes[i].name) == 0) {
            *(enum tls_mode *)field(l->c, id) = tls_modes[i].mode;
            return 0;
        }
    }
    config_report_key(l, id, "expected one of starttls, implicit, none, got \"%s\"",
                      config_shown(s, show));
    return -1;
}

static int parse_uncertain(struct load *l, enum key_id id, const char *s)
{
    char show[CONFIG_SHOW_LEN];
    size_t i;

    for (i = 0; i < NELEM(uncertain_policies); i++) {
        if (strcmp(s, uncertain_policies[i].name) == 0) {
            *(enum uncertain_policy *)field(l->c, id) = uncertain_policies[i].policy;
            return 0;
        }
    }
    config_report_key(l, id, "expected one of resend, hold, got \"%s\"", config_shown(s, show));
    return -1;
}

/* Numbers and booleans must be plain: a quoted "50" is a string someone meant as text. */
static int needs_plain(enum key_kind kind)
{
    return kind == KIND_INT || kind == KIND_RATE || kind == KIND_BOOL;
}

static void parse_scalar(struct load *l, enum key_id id, const yaml_node_t *v)
{
    const char *s = yamldoc_scalar(v);
    size_t len = v->data.scalar.length;
    char show[CONFIG_SHOW_LEN];

    if (needs_plain(config_keys[id].kind) && !yamldoc_is_plain(v)) {
        config_report_key(l, id, "expected %s, got the quoted string \"%s\"",
                          kind_name(config_keys[id].kind), config_shown(s, show));
        return;
    }
    switch (config_keys[id].kind) {
    case KIND_TEXT:
        parse_text(l, id, s, len);
        break;
    case KIND_ADDRESS:
        parse_address(l, id, s, len);
        break;
    case KIND_DOMAIN:
        parse_domain(l, id, s, len);
        break;
    case KIND_DURATION:
        parse_duration(l, id, s);
        break;
    case KIND_INT:
        parse_int(l, id, s);
        break;
    case KIND_RATE:
        parse_rate(l, id, s);
        break;
    case KIND_BOOL:
        parse_bool(l, id, s);
        break;
    case KIND_TLS:
        parse_tls(l, id, s);
        break;
    case KIND_UNCERTAIN:
        parse_uncertain(l, id, s);
        break;
    case KIND_URL:
        parse_url(l, id, s, len);
        break;
    case KIND_CONTACT:
        parse_contact(l, id, s, len);
        break;
    case KIND_SECTION:
        break;
    }
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
    if (v->type != YAML_SCALAR_NODE || yamldoc_is_null(v)) {
        config_report_key(l, id, "expected %s, got %s", kind_name(config_keys[id].kind),
                          yamldoc_type_name(v));
        return;
    }
    parse_scalar(l, id, v);
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

static void parse_root(struct load *l)
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

const char *config_tls_name(enum tls_mode mode)
{
    size_t i;

    for (i = 0; i < NELEM(tls_modes); i++)
        if (tls_modes[i].mode == mode)
            return tls_modes[i].name;
    return "?";
}

/* The value (given or default) can be trusted: neither it nor its section was wrong. */
int config_usable(const struct load *l, enum key_id id)
{
    return !l->bad[id] && (config_keys[id].parent == TOP || !l->bad[config_keys[id].parent]);
}

int config_given(const struct load *l, enum key_id id)
{
    return l->value_node[id] != NULL;
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
    parse_root(&l);
    config_cross_check(&l);
    yamldoc_free(&yd);
    c->queue = (struct queue_place){c->queue_path, c->queue_url, c->queue_password_file};
    if (d->count != errors_before || buf_failed(&d->text)) {
        config_free(c);
        return -1;
    }
    return 0;
}
