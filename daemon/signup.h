/*
 * signup.h - one subscriber's signup as a producer gave it, and the rules
 * that decide whether it can be turned into a report.
 *
 * Validation names the field at fault ("email: local part longer than 64
 * characters") so that the enqueue command and the daemon (which rejects bad
 * rows a producer inserted directly) say the same thing.
 */
#ifndef REPORTD_SIGNUP_H
#define REPORTD_SIGNUP_H

#include <stddef.h>
#include <stdint.h>

#include "roles.h"
#include "util.h"

#define SIGNUP_EMAIL_MAX     254 /* RFC 5321 path limit less the angle brackets */
#define SIGNUP_LOCAL_MAX     64  /* RFC 5321 local-part limit */
#define SIGNUP_NAME_MAX      200 /* bytes; a display name, not an essay */
#define SIGNUP_MAX_TASKS     ROLE_MAX_TASKS
#define SIGNUP_MAX_SKILLS    ROLE_MAX_SKILLS
#define SIGNUP_YEARS_MAX     80 /* a working life */
#define SIGNUP_EMAIL_KEY_MAX (SIGNUP_EMAIL_MAX + 1)

struct signup_task {
    char *id;
    double share; /* percent of the person's time, when has_share */
    int has_share;
};

struct signup {
    int64_t id; /* 0 until queued */
    char *email;
    char *name; /* NULL when not given */
    char *role;
    char *level;
    struct signup_task *tasks;
    size_t ntasks;
    char **skills;
    size_t nskills;
    double years; /* when has_years */
    int has_years;
    int64_t created_ms;
};

void signup_init(struct signup *s);
void signup_free(struct signup *s);

/* Adds a task/skill, copying the strings.  -1 on allocation failure. */
int signup_add_task(struct signup *s, const char *id, double share, int has_share);
int signup_add_skill(struct signup *s, const char *id);

/*
 * Checks every field: the address, header-injection characters, UTF-8,
 * lengths, numbers, and that role, level, tasks and skills exist in roles.
 * Returns 0, or -1 with "field: what is wrong" in err.
 */
int signup_validate(const struct signup *s, const struct roles *roles, char *err);

/*
 * Replaces an address with a Unicode domain by its ASCII (xn--) form, as
 * stored and sent: what enqueue does before signup_validate().  0 (also
 * when there is nothing to convert), or -1 with "email: domain ...: why"
 * for a domain that is not a valid internationalized domain name.
 */
int signup_ascii_email(struct signup *s, char *err);
/* Checks an address (dot-atom local part @ domain), naming the problem. */
int email_validate(const char *email, char *err);
/* The address as duplicates are compared: local part as given, domain lowercased. */
int email_key(const char *email, char *key, size_t keylen);

/* Parses a share or years given as text ("40", "12.5"): -1 when not a number >= 0. */
int parse_nonnegative(const char *s, double *out);

#endif
