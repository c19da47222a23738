/*
 * names.h - what a subscriber's display name becomes in a report: the name
 * trimmed (a blank name is no name, in the greeting and in the To: header
 * alike) and the name to greet them with.
 */
#ifndef REPORTD_NAMES_H
#define REPORTD_NAMES_H

#include <stddef.h>

/*
 * The name without leading and trailing white space (ASCII, no-break and
 * ideographic spaces): *start and *len.  len is 0 for NULL or a blank name.
 */
void name_trim(const char *name, const char **start, size_t *len);

/*
 * The name to greet with ("Hello Grace,"): the given name of "Grace
 * Hopper", "Dr. Grace Hopper" and "Hopper, Grace"; the whole name when
 * there is no given name to pick out ("Dr. Hopper", "J. Smith", a name
 * without spaces such as 山田太郎).  Written into out (NUL-terminated,
 * cut at a character boundary); "" for no name.
 */
void name_greeting(const char *name, char *out, size_t outlen);

#endif
