/*
 * fuzz_roles.c - libFuzzer target for the roles loader (roles_load): the
 * input is one role file in an otherwise empty roles directory; a role
 * that loads is then scored for a person with every task and skill it has.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "report.h"
#include "roles.h"
#include "signup.h"

#define ROLE_ID "fuzz-role"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Builds and renders a report for every level of the role, every task and skill given. */
static void score_role(const struct roles *roles, const struct role *role)
{
    char err[ERRLEN];
    size_t l, i;

    for (l = 0; l < role->nlevels; l++) {
        struct signup s;
        struct report r;

        signup_init(&s);
        s.email = strdup("a@example.org");
        s.role = strdup(role->id);
        s.level = strdup(role->levels[l].id);
        if (s.email == NULL || s.role == NULL || s.level == NULL)
            abort();
        for (i = 0; i < role->ntasks; i++)
            if (signup_add_task(&s, role->tasks[i].id, 0, 0) == -1)
                abort();
        for (i = 0; i < role->nskills; i++)
            if (signup_add_skill(&s, role->skills[i].id) == -1)
                abort();
        if (signup_validate(&s, roles, err) == 0 && report_build(&r, &s, roles, err) == 0) {
            struct arena a = ARENA_EMPTY;

            /* Both ways a context gets the role's parts: made for it, and shared. */
            struct report_shared *sh = report_shared_new(roles);

            if (sh == NULL || report_to_value(&r, NULL, &a) == NULL ||
                report_to_value(&r, sh, &a) == NULL || r.score < 0 || r.score > 100 ||
                r.risk_label == NULL)
                abort();
            report_shared_free(sh);
            arena_free(&a);
            report_free(&r);
        }
        signup_free(&s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(ROLE_ID ".yaml", data, size);
    char dir[512];
    struct roles roles;
    struct diag d;

    diag_init(&d);
    if (roles_load(&roles, fuzz_dir(path, dir, sizeof(dir)), &d) == 0) {
        const struct role *role = roles_find(&roles, ROLE_ID);

        if (role == NULL)
            abort();
        score_role(&roles, role);
        roles_free(&roles);
    } else if (d.count == 0) {
        abort();
    }
    diag_free(&d);
    return 0;
}
