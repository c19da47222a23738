/*
 * idn.c - Unicode domains in addresses to their ASCII (xn--) form and back,
 * with libidn2.
 */
#include "idn.h"

#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* IDNA2008 with TR46 non-transitional mapping and NFC input: libidn2's advice. */
#define IDN_TO_ASCII_FLAGS (IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL | IDN2_USE_STD3_ASCII_RULES)
/* The prefix of an encoded label (RFC 5890's ACE prefix). */
#define ACE_PREFIX "xn--"

static int has_non_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 1;
    return 0;
}

enum idn_result idn_email_to_ascii(const char *email, char **out, char *err)
{
    const char *at = strrchr(email, '@');
    char *ascii = NULL;
    size_t local;
    int rc;

    *out = NULL;
    if (at == NULL || !has_non_ascii(at + 1))
        return IDN_SAME;
    rc = idn2_to_ascii_8z(at + 1, &ascii, IDN_TO_ASCII_FLAGS);
    if (rc == IDN2_MALLOC)
        return IDN_NOMEM;
    if (rc != IDN2_OK) {
        errf(err, "domain \"%s\" is not a valid internationalized domain name: %s", at + 1,
             idn2_strerror(rc));
        return IDN_INVALID;
    }
    local = (size_t)(at - email) + 1;
    *out = malloc(local + strlen(ascii) + 1);
    if (*out == NULL) {
        idn2_free(ascii);
        return IDN_NOMEM;
    }
    memcpy(*out, email, local);
    strcpy(*out + local, ascii);
    idn2_free(ascii);
    return IDN_CONVERTED;
}

static int has_ace_label(const char *domain)
{
    const char *label = domain;

    for (;;) {
        if (strncasecmp(label, ACE_PREFIX, strlen(ACE_PREFIX)) == 0)
            return 1;
        label = strchr(label, '.');
        if (label == NULL)
            return 0;
        label++;
    }
}

int idn_domain_unicode(const char *email, char *out, size_t len)
{
    const char *at = strrchr(email, '@');
    char *unicode = NULL;
    int written;

    if (at == NULL || !has_ace_label(at + 1))
        return 0;
    if (idn2_to_unicode_8z8z(at + 1, &unicode, 0) != IDN2_OK)
        return 0;
    written = snprintf(out, len, "%s", unicode);
    idn2_free(unicode);
    return written >= 0 && (size_t)written < len;
}
