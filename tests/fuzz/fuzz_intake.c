/*
 * fuzz_intake.c - libFuzzer target for `reportd enqueue --file` intake
 * (intake_open, intake_next): the input is the YAML or JSON file; every
 * signup read is then judged by signup_validate against the shipped roles,
 * as enqueue does.
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
    struct intake *in;
    struct intake_pos pos;
    struct signup s;
    enum intake_status st;

    err[0] = '\0';
    if (intake_open(&in, path, err) == -1)
        abort();
    do {
        err[0] = '\0';
        st = intake_next(in, &s, &pos, err);
        if (st == INTAKE_SIGNUP) {
            signup_validate(&s, &roles, err);
            signup_free(&s);
        } else if (st != INTAKE_END && err[0] == '\0') {
            abort(); /* a refusal must say why */
        }
    } while (st == INTAKE_SIGNUP || st == INTAKE_BAD);
    intake_close(in);
    return 0;
}
