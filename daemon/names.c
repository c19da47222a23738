/*
 * names.c - a display name as the report uses it: trimmed, and the part of
 * it to greet the person with.  People type titles ("Dr."), family names
 * first with a comma ("Hopper, Grace") and names in scripts without spaces;
 * a greeting that picks the first word gets all three wrong.
 */
#include "names.h"

#include <string.h>
#include <strings.h>

/* A greeting is a name, not a sentence: longer ones are cut here (bytes: 64 characters of up to 4).
 */
#define GREETING_MAX_BYTES ((size_t)64 * 4)
/* Names have a handful of words; the rest are not looked at. */
#define WORDS_MAX 16

/* Titles that come before a name and are not what anyone is greeted by alone. */
static const char *const honorifics[] = {
    "mr",   "mrs",  "ms",   "mx",  "miss", "dr",   "prof", "professor", "sir",
    "dame", "lady", "lord", "rev", "fr",   "herr", "frau", "mme",       "mlle",
    "sr",   "sra",  "srta", "dra", "don",  "doña", "dott", "ing",       NULL,
};
/* What follows a name after a comma without being a given name ("Hopper, PhD"). */
static const char *const suffixes[] = {"phd", "md", "jr",  "sr",  "ii",
                                       "iii", "iv", "esq", "mba", NULL};

/* Bytes of the white-space character at s (ASCII, U+00A0, U+3000), or 0. */
static size_t space_at(const char *s, size_t left)
{
    const unsigned char *u = (const unsigned char *)s;

    if (left >= 1 && (u[0] == ' ' || u[0] == '\t'))
        return 1;
    if (left >= 2 && u[0] == 0xc2 && u[1] == 0xa0)
        return 2;
    if (left >= 3 && u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80)
        return 3;
    return 0;
}

/* The start of the UTF-8 character that ends just before end. */
static size_t char_start_before(const char *s, size_t end)
{
    size_t i = end;

    while (i > 0) {
        i--;
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            break;
    }
    return i;
}

void name_trim(const char *name, const char **start, size_t *len)
{
    const char *s = name ? name : "";
    size_t n = strlen(s), k;

    while ((k = space_at(s, n)) > 0) {
        s += k;
        n -= k;
    }
    while (n > 0) {
        size_t c = char_start_before(s, n);

        if (space_at(s + c, n - c) != n - c)
            break;
        n = c;
    }
    *start = s;
    *len = n;
}

struct word {
    const char *s;
    size_t len;
};

/* Splits s[0..n) at white space and commas into at most WORDS_MAX words. */
static size_t split_words(const char *s, size_t n, struct word *w)
{
    size_t i = 0, count = 0;

    while (i < n && count < WORDS_MAX) {
        size_t k, start;

        while (i < n && ((k = space_at(s + i, n - i)) > 0 || s[i] == ',')) {
            i += k > 0 ? k : 1;
        }
        if (i >= n)
            break;
        start = i;
        while (i < n && space_at(s + i, n - i) == 0 && s[i] != ',')
            i++;
        w[count].s = s + start;
        w[count++].len = i - start;
    }
    return count;
}

/* Titles and suffixes are short: longer words are never one. */
#define AFFIX_MAX 16

/* The word, with its dots left out ("Ph.D." is "PhD"), is one of list, ignoring ASCII case. */
static int word_in(const struct word *w, const char *const *list)
{
    char bare[AFFIX_MAX + 1];
    size_t i, n = 0;

    for (i = 0; i < w->len; i++) {
        if (w->s[i] == '.')
            continue;
        if (n == AFFIX_MAX)
            return 0;
        bare[n++] = w->s[i];
    }
    bare[n] = '\0';
    for (; *list != NULL; list++)
        if (strcasecmp(*list, bare) == 0)
            return 1;
    return 0;
}

/* "J." or "J": an initial, which nobody is greeted by. */
static int is_initial(const struct word *w)
{
    size_t first = w->len > 0 ? (size_t)1 : 0;

    while (first < w->len && ((unsigned char)w->s[first] & 0xc0) == 0x80)
        first++;
    return w->len > 0 && (first == w->len || (first + 1 == w->len && w->s[first] == '.'));
}

static void copy_out(char *out, size_t outlen, const char *s, size_t n)
{
    size_t max = outlen > 0 && outlen - 1 < GREETING_MAX_BYTES ? outlen - 1 : GREETING_MAX_BYTES;

    if (outlen == 0)
        return;
    if (n > max) {
        n = max;
        /* Never cut a UTF-8 sequence in half. */
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

/* Words after the honorifics; their count, with *first the index of the first. */
static size_t skip_honorifics(const struct word *w, size_t n, size_t *first)
{
    size_t i = 0;

    while (i < n && word_in(&w[i], honorifics))
        i++;
    *first = i;
    return n - i;
}

void name_greeting(const char *name, char *out, size_t outlen)
{
    struct word w[WORDS_MAX] = {{NULL, 0}};
    const char *s, *comma;
    size_t n, count, first, left;

    name_trim(name, &s, &n);
    if (outlen > 0)
        out[0] = '\0';
    if (n == 0)
        return;
    comma = memchr(s, ',', n);
    if (comma != NULL) {
        const char *after = comma + 1;
        size_t alen = n - (size_t)(after - s);

        count = split_words(after, alen, w);
        left = skip_honorifics(w, count, &first);
        /* "Hopper, Grace": the given name follows the comma; "Hopper, PhD" is a suffix. */
        if (left > 0 && !word_in(&w[first], suffixes) && !is_initial(&w[first])) {
            copy_out(out, outlen, w[first].s, w[first].len);
            return;
        }
        /* "Grace Hopper, PhD" or "Hopper, G.": greet by what comes before the comma. */
        n = (size_t)(comma - s);
    }
    count = split_words(s, n, w);
    left = skip_honorifics(w, count, &first);
    if (left >= 2 && !is_initial(&w[first]))
        copy_out(out, outlen, w[first].s, w[first].len);
    else if (left == 1 && first == 0)
        copy_out(out, outlen, w[0].s, w[0].len);
    else
        copy_out(out, outlen, s, n); /* "Dr. Hopper", "J. Smith": the name as written */
}
