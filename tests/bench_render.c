/*
 * bench_render.c - how fast reportd turns a signup into a rendered report
 * (validate, score, build the template context, render subject, text and
 * HTML), and how long loading config, roles and templates takes.
 *
 * usage: build/bench-render CONFIG [REPORTS_PER_ROUND] [ROUNDS]
 * Prints the median of the rounds: one run, one machine, medians only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime.h"

#define DEFAULT_REPORTS 2000
#define DEFAULT_ROUNDS  7
#define MAX_ROUNDS      101

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double elapsed_us(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e6 + (double)(b->tv_nsec - a->tv_nsec) / 1e3;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A signup shaped like a real one: several tasks with shares, some skills. */
static int make_signup(struct signup *s, const struct role *role, int i)
{
    size_t t;
    char email[64];

    signup_init(s);
    snprintf(email, sizeof(email), "person%d@example.com", i);
    s->id = i + 1;
    s->email = strdup(email);
    s->name = strdup("Ada Lovelace");
    s->role = strdup(role->id);
    s->level = strdup(role->levels[(size_t)i % role->nlevels].id);
    if (!s->email || !s->name || !s->role || !s->level)
        return -1;
    for (t = 0; t < role->ntasks && t < 5; t++)
        if (signup_add_task(s, role->tasks[((size_t)i + t) % role->ntasks].id, 20, 1) == -1)
            return -1;
    for (t = 0; t < role->nskills && t < 4; t++)
        if (signup_add_skill(s, role->skills[((size_t)i + t * 3) % role->nskills].id) == -1)
            return -1;
    s->years = 7;
    s->has_years = 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct runtime rt;
    struct diag d;
    struct signup *signups;
    double load[MAX_ROUNDS], per[MAX_ROUNDS];
    int n, rounds, r, i;
    size_t bytes = 0;
    char err[ERRLEN];

    if (argc < 2) {
        fprintf(stderr, "usage: bench-render CONFIG [REPORTS] [ROUNDS]\n");
        return 64;
    }
    n = argc > 2 ? atoi(argv[2]) : DEFAULT_REPORTS;
    rounds = argc > 3 ? atoi(argv[3]) : DEFAULT_ROUNDS;
    if (n <= 0 || rounds <= 0 || rounds > MAX_ROUNDS)
        return 64;
    diag_init(&d);
    for (r = 0; r < rounds; r++) {
        struct timespec a, b;

        clock_gettime(CLOCK_MONOTONIC, &a);
        if (runtime_load(&rt, argv[1], &d) == -1) {
            fputs(buf_str(&d.text), stderr);
            return 78;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        load[r] = elapsed_us(&a, &b) / 1000;
        if (r + 1 < rounds)
            runtime_free(&rt);
    }
    diag_free(&d);
    signups = calloc((size_t)n, sizeof(*signups));
    if (signups == NULL)
        return 71;
    for (i = 0; i < n; i++)
        if (make_signup(&signups[i], &rt.roles.v[0], i) == -1)
            return 71;
    for (r = 0; r < rounds; r++) {
        struct timespec a, b;

        clock_gettime(CLOCK_MONOTONIC, &a);
        for (i = 0; i < n; i++) {
            struct rendered out;

            rendered_init(&out);
            if (runtime_render(&rt, &signups[i], &out, err) != RENDER_OK) {
                fprintf(stderr, "render: %s\n", err);
                return 70;
            }
            if (r == 0)
                bytes += out.subject.len + out.text.len + out.html.len;
            rendered_free(&out);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        per[r] = elapsed_us(&a, &b) / n;
    }
    printf("load config+roles+templates: median %.2f ms over %d loads\n", median(load, rounds),
           rounds);
    printf("render one report (validate, score, subject+text+html): median %.1f us "
           "(%.0f reports/s), %zu bytes on average, %d reports x %d rounds\n",
           median(per, rounds), 1e6 / median(per, rounds), bytes / (size_t)n, n, rounds);
    for (i = 0; i < n; i++)
        signup_free(&signups[i]);
    free(signups);
    runtime_free(&rt);
    return 0;
}
