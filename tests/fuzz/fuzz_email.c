/*
 * fuzz_email.c - libFuzzer target for the address validator (signup.c's
 * email_validate) and the duplicate key derived from a valid address.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "signup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ERRLEN], key[SIGNUP_EMAIL_KEY_MAX];
    char *s = fuzz_string(data, size);

    err[0] = '\0';
    if (email_validate(s, err) == 0) {
        /* A valid address fits the key buffer and keeps its length and its one @. */
        if (strlen(s) > SIGNUP_EMAIL_MAX || strchr(s, '@') != strrchr(s, '@'))
            abort();
        if (email_key(s, key, sizeof(key)) != 0 || strlen(key) != strlen(s))
            abort();
        /* Nothing a header or an SMTP command could be split with. */
        if (strpbrk(s, "\r\n<> ,;\"") != NULL)
            abort();
    } else if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL) {
        abort();
    }
    free(s);
    return 0;
}
