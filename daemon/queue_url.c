/*
 * queue_url.c - recognizing a libpq connection URI and a password inside it
 * (see queue_url.h).  libpq parses the URI itself; this only looks.
 */
#include "queue_url.h"

#include <string.h>
#include <strings.h>

static const char *const schemes[] = {"postgresql://", "postgres://"};

/* The part after the scheme, or NULL when url has neither. */
static const char *after_scheme(const char *url)
{
    size_t i;

    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strncasecmp(url, schemes[i], strlen(schemes[i])) == 0)
            return url + strlen(schemes[i]);
    return NULL;
}

int queue_url_is_postgres(const char *url)
{
    return after_scheme(url) != NULL;
}

/* Whether the query string (after '?') has a parameter named name. */
static int has_param(const char *query, const char *name)
{
    size_t len = strlen(name);
    const char *p = query;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, len) == 0 && p[len] == '=')
            return 1;
        p = strchr(p, '&');
        if (p != NULL)
            p++;
    }
    return 0;
}

int queue_url_has_password(const char *url)
{
    const char *rest = after_scheme(url), *end, *at, *query;

    if (rest == NULL)
        return 0;
    end = rest + strcspn(rest, "/?");
    at = memchr(rest, '@', (size_t)(end - rest));
    if (at != NULL && memchr(rest, ':', (size_t)(at - rest)) != NULL)
        return 1;
    query = strchr(rest, '?');
    return query != NULL && has_param(query + 1, "password");
}
