/*
 * idn.h - internationalized domains in addresses: a Unicode domain
 * (joerg@bücher.example) becomes the ASCII form the DNS and SMTP use
 * (joerg@xn--bcher-kva.example) at intake, and operators are shown both.
 *
 * libidn2 does the work: IDNA2008 with the Unicode TR46 non-transitional
 * mapping and NFC input, as libidn2 recommends for compatibility with other
 * software (so "BÜCHER.example" maps to the same name as "bücher.example").
 */
#ifndef REPORTD_IDN_H
#define REPORTD_IDN_H

#include <stddef.h>

#include "util.h"

enum idn_result {
    IDN_SAME,      /* the domain is ASCII already (or there is no @): nothing to convert */
    IDN_CONVERTED, /* *out is the address with its domain in ASCII; the caller frees it */
    IDN_INVALID,   /* not a valid internationalized domain: err says why, naming the domain */
    IDN_NOMEM,
};

/* The address with a Unicode domain in ASCII form; the local part is left as it is. */
enum idn_result idn_email_to_ascii(const char *email, char **out, char *err);

/*
 * The domain of an address in ASCII form shown in Unicode, for operators:
 * 1 and out filled when the domain has an xn-- label that decodes, else 0.
 */
int idn_domain_unicode(const char *email, char *out, size_t len);

#endif
