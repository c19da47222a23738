/*
 * fuzz_intake.c - libFuzzer target for `reportd enqueue --file` intake
 * (intake_load): the input is the YAML or JSON file; every signup read is
 * then judged by signup_validate against the shipped roles, as enqueue does.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_file.h"
#include "intake.h"
#include "roles.h"
#include "signup.h"

/* Relative to the repository, where make runs the target. */
#define ROLES_DIR "config/roles"

static struct roles roles;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct diag d;

    diag_init(&d);
    if (roles_load(&roles, ROLES_DIR, &d) == -1) {
        fprintf(stderr, "fuzz_intake: %s\n", buf_str(&d.text));
        abort();
    }
    diag_free(&d);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("signups.yaml", data, size);
    char err[ERRLEN];
    struct intake in;
    size_t i;

    err[0] = '\0';
    if (intake_load(&in, path, err) == 0) {
        for (i = 0; i < in.n; i++)
            signup_validate(&in.v[i], &roles, err);
        intake_free(&in);
    } else if (err[0] == '\0') {
        abort();
    }
    return 0;
}
