/*
 * config_value.c - one value of the file, by its kind: text, mail
 * addresses, domains, links, durations, whole numbers, rates, booleans and
 * the named choices (TLS mode, uncertain policy), each checked and stored in
 * its field of struct config, or reported at its position.
 */
#include "config_load.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "queue.h"
#include "signup.h"
#include "yamldoc.h"

/* A year: a longer duration is a typo, and now + duration stays far from overflow. */
#define CONFIG_MAX_DURATION_MS (365LL * 24 * 60 * 60 * 1000)
/* RFC 1035: 63 characters per label of a host name. */
#define CONFIG_LABEL_MAX 63

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

/* The field of struct config that key id is stored in. */
static void *field(struct config *c, enum key_id id)
{
    return (char *)c + config_keys[id].offset;
}

/* Values ----------------------------------------------------------------- */

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

/* Kinds ------------------------------------------------------------------ */

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

void config_parse_value(struct load *l, enum key_id id, const yaml_node_t *v)
{
    if (v->type != YAML_SCALAR_NODE || yamldoc_is_null(v)) {
        config_report_key(l, id, "expected %s, got %s", kind_name(config_keys[id].kind),
                          yamldoc_type_name(v));
        return;
    }
    parse_scalar(l, id, v);
}

/* For the cross-checks' messages ------------------------------------------ */

const char *config_tls_name(enum tls_mode mode)
{
    size_t i;

    for (i = 0; i < NELEM(tls_modes); i++)
        if (tls_modes[i].mode == mode)
            return tls_modes[i].name;
    return "?";
}
