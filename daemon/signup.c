/*
 * signup.c - a subscriber's signup and the checks that decide whether
 * reportd can build a report from it and put it in a mail header.
 */
#include "signup.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idn.h"

/* Labels of a DNS name (RFC 1035). */
#define DOMAIN_LABEL_MAX 63
/* Shares are percentages people type; 33.3 + 33.3 + 33.4 may sum to 100.0000000001. */
#define SHARE_SUM_SLACK 1e-6
#define SHARE_MAX       100.0
/* Room for a field name such as "tasks[127].share", whatever the index. */
#define FIELD_NAME_MAX 48

void signup_init(struct signup *s)
{
    *s = (struct signup){0};
}

void signup_free(struct signup *s)
{
    size_t i;

    free(s->email);
    free(s->name);
    free(s->role);
    free(s->level);
    for (i = 0; i < s->ntasks; i++)
        free(s->tasks[i].id);
    free(s->tasks);
    for (i = 0; i < s->nskills; i++)
        free(s->skills[i]);
    free(s->skills);
    signup_init(s);
}

int signup_add_task(struct signup *s, const char *id, double share, int has_share)
{
    struct signup_task *v;
    char *copy = strdup(id);

    if (copy == NULL)
        return -1;
    v = realloc(s->tasks, (s->ntasks + 1) * sizeof(*v));
    if (v == NULL) {
        free(copy);
        return -1;
    }
    s->tasks = v;
    v[s->ntasks].id = copy;
    v[s->ntasks].share = has_share ? share : 0;
    v[s->ntasks].has_share = has_share;
    s->ntasks++;
    return 0;
}

int signup_add_skill(struct signup *s, const char *id)
{
    char **v;
    char *copy = strdup(id);

    if (copy == NULL)
        return -1;
    v = realloc(s->skills, (s->nskills + 1) * sizeof(*v));
    if (v == NULL) {
        free(copy);
        return -1;
    }
    s->skills = v;
    v[s->nskills++] = copy;
    return 0;
}

/* --- text hygiene ------------------------------------------------------- */

/*
 * C0 controls, DEL, the C1 controls (U+0080-U+009F) and the Unicode line and
 * paragraph separators: any of them in a value that ends up in a mail header
 * or a log line could start a new header or a forged log event.
 */
static int has_control(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    for (; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return 1;
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            return 1;
        if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
            return 1;
    }
    return 0;
}

static int check_text(const char *field, const char *s, char *err)
{
    if (!utf8_valid(s, strlen(s)))
        return errf(err, "%s: not valid UTF-8", field);
    if (has_control(s))
        return errf(err, "%s: contains a line break or control character", field);
    return 0;
}

/* --- addresses ---------------------------------------------------------- */

/* RFC 5322 atext, without the letters and digits. */
static int is_atext(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int is_label_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

/* Names a byte for a message without printing a control or half a UTF-8 sequence. */
static void describe_byte(unsigned char c, char *out, size_t outlen)
{
    if (c > 0x20 && c < 0x7f)
        snprintf(out, outlen, "'%c'", c);
    else
        snprintf(out, outlen, "byte 0x%02x", c);
}

static int check_local_part(const char *local, size_t len, char *err)
{
    char what[16];
    size_t i;

    if (len == 0)
        return errf(err, "local part is empty");
    if (len > SIGNUP_LOCAL_MAX)
        return errf(err, "local part longer than %d characters", SIGNUP_LOCAL_MAX);
    if (local[0] == '.' || local[len - 1] == '.')
        return errf(err, "local part starts or ends with a dot");
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)local[i];

        if (c == '.' && local[i + 1] == '.')
            return errf(err, "local part has two dots in a row");
        if (c >= 0x80)
            return errf(err, "local part: non-ASCII characters are not supported");
        if (c != '.' && !is_atext(c)) {
            describe_byte(c, what, sizeof(what));
            return errf(err, "local part: %s is not allowed", what);
        }
    }
    return 0;
}

static int check_domain_label(const char *label, size_t len, char *err)
{
    if (len == 0)
        return errf(err, "domain has an empty label");
    if (len > DOMAIN_LABEL_MAX)
        return errf(err, "domain label longer than %d characters", DOMAIN_LABEL_MAX);
    if (label[0] == '-' || label[len - 1] == '-')
        return errf(err, "domain label starts or ends with a hyphen");
    return 0;
}

static int check_domain(const char *domain, char *err)
{
    char what[16];
    const char *p, *label = domain;

    if (*domain == '\0')
        return errf(err, "domain is empty");
    for (p = domain;; p++) {
        unsigned char c = (unsigned char)*p;

        if (c == '.' || c == '\0') {
            if (check_domain_label(label, (size_t)(p - label), err) == -1)
                return -1;
            if (c == '\0')
                break;
            label = p + 1;
        } else if (c >= 0x80) {
            return errf(err, "domain: non-ASCII characters; use the punycode (xn--) form");
        } else if (!is_label_char(c)) {
            describe_byte(c, what, sizeof(what));
            return errf(err, "domain: %s is not allowed", what);
        }
    }
    if (strchr(domain, '.') == NULL)
        return errf(err, "domain has no dot");
    return 0;
}

/*
 * A Unicode domain is converted at intake (signup_ascii_email, and the claim
 * for a producer's row); one still here did not convert, and libidn2 says why.
 */
static int check_unicode_domain(const char *email, char *err)
{
    char *ascii;

    switch (idn_email_to_ascii(email, &ascii, err)) {
    case IDN_INVALID:
        return -1;
    case IDN_CONVERTED:
        free(ascii);
        return errf(err, "domain: non-ASCII characters; use the punycode (xn--) form");
    case IDN_NOMEM:
        return errf(err, "out of memory");
    default:
        return 0;
    }
}

int email_validate(const char *email, char *err)
{
    const char *at;

    if (*email == '\0')
        return errf(err, "address is empty");
    if (strlen(email) > SIGNUP_EMAIL_MAX)
        return errf(err, "address longer than %d characters", SIGNUP_EMAIL_MAX);
    /* The last @: an @ in the local part is then reported as a bad character. */
    at = strrchr(email, '@');
    if (at == NULL)
        return errf(err, "no @ in the address");
    if (check_local_part(email, (size_t)(at - email), err) == -1 ||
        check_unicode_domain(email, err) == -1)
        return -1;
    return check_domain(at + 1, err);
}

int signup_ascii_email(struct signup *s, char *err)
{
    char why[ERRLEN];
    char *ascii;

    if (s->email == NULL)
        return 0;
    switch (idn_email_to_ascii(s->email, &ascii, why)) {
    case IDN_CONVERTED:
        free(s->email);
        s->email = ascii;
        return 0;
    case IDN_INVALID:
        return errf(err, "email: %s", why);
    case IDN_NOMEM:
        return errf(err, "email: out of memory");
    default:
        return 0;
    }
}

/*
 * The first @, as the database's email-key index computes it with instr();
 * a valid address has only one.  SQLite's lower() folds ASCII only, and a
 * valid domain is ASCII, so both compute the same key.
 */
int email_key(const char *email, char *key, size_t keylen)
{
    const char *at = strchr(email, '@');
    size_t len = strlen(email), i;

    if (at == NULL || len + 1 > keylen)
        return -1;
    for (i = 0; i <= len; i++) {
        char c = email[i];

        if (email + i > at && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        key[i] = c;
    }
    return 0;
}

/* --- numbers ------------------------------------------------------------ */

static const char *skip_digits(const char *p)
{
    while (*p >= '0' && *p <= '9')
        p++;
    return p;
}

int parse_nonnegative(const char *s, double *out)
{
    const char *p = skip_digits(s);
    char *end;
    double v;

    /* Plain decimals only: no sign, exponent, hex, inf or nan as strtod takes. */
    if (p == s)
        return -1;
    if (*p == '.') {
        const char *frac = p + 1;

        p = skip_digits(frac);
        if (p == frac)
            return -1;
    }
    if (*p != '\0')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (end != p || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* --- the whole signup --------------------------------------------------- */

static int validate_email(const struct signup *s, char *err)
{
    char why[ERRLEN];

    if (s->email == NULL || *s->email == '\0')
        return errf(err, "email: required");
    if (check_text("email", s->email, err) == -1)
        return -1;
    if (email_validate(s->email, why) == -1)
        return errf(err, "email: %s", why);
    return 0;
}

static int validate_name(const struct signup *s, char *err)
{
    if (s->name == NULL)
        return 0;
    if (check_text("name", s->name, err) == -1)
        return -1;
    if (*s->name == '\0')
        return errf(err, "name: empty; leave it out instead");
    if (strlen(s->name) > SIGNUP_NAME_MAX)
        return errf(err, "name: longer than %d bytes", SIGNUP_NAME_MAX);
    return 0;
}

/* The signup's role, its level checked; NULL with err when either is wrong. */
static const struct role *validate_role(const struct signup *s, const struct roles *roles,
                                        char *err)
{
    const struct role *role;

    if (s->role == NULL || *s->role == '\0') {
        errf(err, "role: required");
        return NULL;
    }
    if (check_text("role", s->role, err) == -1)
        return NULL;
    role = roles_find(roles, s->role);
    if (role == NULL) {
        errf(err, "role: unknown role \"%s\"", s->role);
        return NULL;
    }
    if (s->level == NULL || *s->level == '\0') {
        errf(err, "level: required");
        return NULL;
    }
    if (check_text("level", s->level, err) == -1)
        return NULL;
    if (role_find_level(role, s->level) == NULL) {
        errf(err, "level: unknown level \"%s\" for role \"%s\"", s->level, role->id);
        return NULL;
    }
    return role;
}

static int check_share(const char *field, double share, char *err)
{
    if (isnan(share))
        return errf(err, "%s: not a number", field);
    if (share < 0 || share > SHARE_MAX)
        return errf(err, "%s: must be between 0 and %g, got %g", field, SHARE_MAX, share);
    return 0;
}

static int validate_task(const struct signup *s, size_t i, const struct role *role, char *err)
{
    const struct signup_task *t = &s->tasks[i];
    char field[FIELD_NAME_MAX];
    size_t j;

    snprintf(field, sizeof(field), "tasks[%zu]", i);
    if (t->id == NULL || *t->id == '\0')
        return errf(err, "%s: empty task id", field);
    if (check_text(field, t->id, err) == -1)
        return -1;
    if (role_find_task(role, t->id) == NULL)
        return errf(err, "%s: unknown task \"%s\" for role \"%s\"", field, t->id, role->id);
    for (j = 0; j < i; j++)
        if (strcmp(s->tasks[j].id, t->id) == 0)
            return errf(err, "%s: task \"%s\" listed twice", field, t->id);
    if (t->has_share) {
        snprintf(field, sizeof(field), "tasks[%zu].share", i);
        return check_share(field, t->share, err);
    }
    return 0;
}

static int validate_tasks(const struct signup *s, const struct role *role, char *err)
{
    double sum = 0;
    size_t i;

    if (s->ntasks > SIGNUP_MAX_TASKS)
        return errf(err, "tasks: more than %d tasks", SIGNUP_MAX_TASKS);
    for (i = 0; i < s->ntasks; i++) {
        if (validate_task(s, i, role, err) == -1)
            return -1;
        if (s->tasks[i].has_share)
            sum += s->tasks[i].share;
    }
    if (sum > SHARE_MAX + SHARE_SUM_SLACK)
        return errf(err, "tasks: shares add up to %g, more than %g", sum, SHARE_MAX);
    return 0;
}

static int validate_skills(const struct signup *s, const struct role *role, char *err)
{
    char field[FIELD_NAME_MAX];
    size_t i, j;

    if (s->nskills > SIGNUP_MAX_SKILLS)
        return errf(err, "skills: more than %d skills", SIGNUP_MAX_SKILLS);
    for (i = 0; i < s->nskills; i++) {
        const char *id = s->skills[i];

        snprintf(field, sizeof(field), "skills[%zu]", i);
        if (id == NULL || *id == '\0')
            return errf(err, "%s: empty skill id", field);
        if (check_text(field, id, err) == -1)
            return -1;
        if (role_find_skill(role, id) == NULL)
            return errf(err, "%s: unknown skill \"%s\" for role \"%s\"", field, id, role->id);
        for (j = 0; j < i; j++)
            if (strcmp(s->skills[j], id) == 0)
                return errf(err, "%s: skill \"%s\" listed twice", field, id);
    }
    return 0;
}

static int validate_years(const struct signup *s, char *err)
{
    if (!s->has_years)
        return 0;
    if (isnan(s->years))
        return errf(err, "years: not a number");
    if (s->years < 0 || s->years > SIGNUP_YEARS_MAX)
        return errf(err, "years: must be between 0 and %d, got %g", SIGNUP_YEARS_MAX, s->years);
    return 0;
}

int signup_validate(const struct signup *s, const struct roles *roles, char *err)
{
    const struct role *role;

    if (validate_email(s, err) == -1 || validate_name(s, err) == -1)
        return -1;
    role = validate_role(s, roles, err);
    if (role == NULL || validate_tasks(s, role, err) == -1 || validate_skills(s, role, err) == -1 ||
        validate_years(s, err) == -1)
        return -1;
    return 0;
}
