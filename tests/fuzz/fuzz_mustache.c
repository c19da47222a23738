/*
 * fuzz_mustache.c - libFuzzer target for the Mustache compiler and renderer
 * as reportd uses them: the input, split at NUL bytes, is the subject, text
 * body, HTML body and two partials (p, q) of a templates directory, loaded
 * with templates_load and rendered with templates_render against a real
 * report's context, so the subject folding and text wrapping run too.
 * The shipped partials are there as well, so the shipped templates render.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_file.h"
#include "report.h"
#include "roles.h"
#include "signup.h"
#include "templates.h"
#include "value.h"

/* Where the shipped roles and partials are, relative to the repository (make runs from there). */
#define ROLES_DIR    "config/roles"
#define PARTIALS_DIR "templates/partials"

static const char *const parts[] = {"subject.mustache", "body.txt.mustache", "body.html.mustache",
                                    "partials/p.mustache", "partials/q.mustache"};

static struct value *contexts[2];
/* What the contexts live in and point into: kept for the whole run. */
static struct arena context_arena;
static struct roles roles;
/* The roles' parts of every context, shared as the daemon shares them. */
static struct report_shared *shared;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_mustache: %s: %s\n", what, err);
    abort();
}

/* A report context for s against the shipped roles. */
static struct value *context_for(const struct roles *rs, struct signup *s)
{
    char err[ERRLEN];
    struct report r;
    struct value *v;

    if (report_build(&r, s, rs, err) == -1)
        die("report_build", err);
    v = report_to_value(&r, shared, &context_arena);
    report_free(&r);
    if (v == NULL)
        die("report_to_value", "out of memory");
    return v;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct signup a, b;
    struct diag d;
    char dir[512], path[600], err[ERRLEN];
    const char *any;
    struct dirent *de;
    DIR *dp;

    diag_init(&d);
    if (roles_load(&roles, ROLES_DIR, &d) == -1)
        die(ROLES_DIR, buf_str(&d.text));
    if ((shared = report_shared_new(&roles)) == NULL)
        die(ROLES_DIR, "out of memory");
    diag_free(&d);

    /* One person with everything given, one with nothing: both sides of every section. */
    signup_init(&a);
    a.email = strdup("ada@example.org");
    a.name = strdup("Ada \"<b>\" Lovelace & Zoë");
    a.role = strdup("backend-developer");
    a.level = strdup("lead");
    a.has_years = 1;
    a.years = 14;
    if (signup_add_task(&a, "review-code", 60, 1) || signup_add_task(&a, "write-tests", 0, 0) ||
        signup_add_skill(&a, "python") || signup_add_skill(&a, "mentoring"))
        die("signup", "out of memory");
    signup_init(&b);
    b.email = strdup("b@example.org");
    b.role = strdup("backend-developer");
    b.level = strdup("junior");
    contexts[0] = context_for(&roles, &a);
    contexts[1] = context_for(&roles, &b);
    signup_free(&a);
    signup_free(&b);

    /* The shipped partials, copied once into the directory the inputs go to. */
    any = fuzz_file("subject.mustache", (const uint8_t *)"", 0);
    fuzz_dir(any, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/partials", dir);
    if (mkdir(path, 0700) == -1)
        die(path, "mkdir failed");
    dp = opendir(PARTIALS_DIR);
    if (dp == NULL)
        die(PARTIALS_DIR, "cannot open");
    while ((de = readdir(dp)) != NULL) {
        char *src;
        size_t len;

        if (de->d_name[0] == '.' || strstr(de->d_name, ".mustache") == NULL)
            continue;
        snprintf(path, sizeof(path), "%s/%s", PARTIALS_DIR, de->d_name);
        if (read_file(path, (size_t)1 << 20, &src, &len, err) == -1)
            die(path, err);
        snprintf(path, sizeof(path), "partials/%s", de->d_name);
        fuzz_file(path, (const uint8_t *)src, len);
        free(src);
    }
    closedir(dp);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct templates *t;
    struct diag d;
    char dir[512], err[ERRLEN];
    const char *path = NULL;
    size_t i, start = 0;

    for (i = 0; i < NELEM(parts); i++) {
        const uint8_t *nul = start < size ? memchr(data + start, '\0', size - start) : NULL;
        size_t end = nul ? (size_t)(nul - data) : size;

        if (start > size)
            start = end = size;
        path = fuzz_file(parts[i], data + start, end - start);
        start = end + 1;
    }
    fuzz_dir(path, dir, sizeof(dir));
    fuzz_dir(dir, dir, sizeof(dir)); /* partials/p.mustache's directory's parent */

    diag_init(&d);
    if (templates_load(&t, dir, &d) == 0) {
        for (i = 0; i < NELEM(contexts); i++) {
            struct rendered r;

            rendered_init(&r);
            err[0] = '\0';
            if (templates_render(t, contexts[i], &r, err) == -1 && err[0] == '\0')
                die("templates_render", "failed without saying why");
            /* The subject is one line: it goes into a header. */
            if (strpbrk(buf_str(&r.subject), "\r\n") != NULL)
                die("subject", "has a line break");
            rendered_free(&r);
        }
        templates_free(t);
    } else if (d.count == 0) {
        die("templates_load", "failed without a diagnostic");
    }
    diag_free(&d);
    return 0;
}
