/*
 * bench_render.c - how fast reportd turns a signup into a rendered report
 * (validate, score, build the template context, render subject, text and
 * HTML) and, with --build, into the message it sends (headers and
 * quoted-printable bodies too); and how long loading config, roles and
 * templates takes.
 *
 * --dump writes the messages of a fixed corpus of varied signups (every
 * role and level; bare, full and random signups; odd names, fractional
 * shares and years) to stdout, headers and bodies as sent, so that a change
 * to the rendering path can be checked to leave every byte as it was:
 * dump before, dump after, cmp.
 *
 * usage: build/bench-render [--build | --dump] CONFIG [REPORTS_PER_ROUND] [ROUNDS]
 * Prints the median of the rounds: one run, one machine, medians only.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime.h"

#define DEFAULT_REPORTS 2000
#define DEFAULT_ROUNDS  7
#define MAX_ROUNDS      101
/* Random signups per role and level in the dump corpus, besides the fixed ones. */
#define DUMP_RANDOM 12
/* Any fixed time: the dump must not change from one run to the next. */
#define DUMP_DATE_MS 1780000000123LL

enum mode { MODE_RENDER, MODE_BUILD, MODE_DUMP };

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

/* Names that exercise encoded-words, quoting, HTML escaping and trimming. */
static const char *const dump_names[] = {
    NULL,
    "Ada Lovelace",
    "Zoë Ñúñez-Ångström",
    "李小龍",
    "O'Brien & <Sons> \"Quoted\"",
    "   spaced   out   ",
    "x",
    "Dr. Jane \"JJ\" Smith, PhD",
    "=?UTF-8?Q?looks_encoded?=",
    "Émile 🎉 Zola",
    "A very long name that goes on and on and on and on and on and on and on and on and on and "
    "on so the To header has to fold somewhere along the way ÆØÅ",
    "back\\slash <b>bold</b> &amp;",
};
static const double dump_years[] = {0, 1, 7, 2.5, 80, 7.123456789, 0.1, 33.3333333333333333};
static const double dump_shares[] = {10, 20, 12.5, 33.333333333333336, 0.5, 5, 1, 7.25, 0};

/* The same numbers on every machine: a small LCG, not rand(). */
static unsigned next_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(*state >> 33);
}

#define PICK(st, arr) ((arr)[next_rand(st) % (sizeof(arr) / sizeof((arr)[0]))])

static int random_signup(struct signup *s, const struct role *role, const struct role_level *level,
                         uint64_t *st, int k)
{
    char email[64];
    double sum = 0;
    size_t i, ntasks, nskills;

    signup_init(s);
    snprintf(email, sizeof(email), "p.%d+%u@example.org", k, next_rand(st) % 1000);
    s->id = 1000 + k;
    s->created_ms =
        next_rand(st) % 4 ? 1700000000000LL + (int64_t)(next_rand(st) % 100000) * 86400 : 0;
    s->email = strdup(email);
    s->role = strdup(role->id);
    s->level = strdup(level->id);
    if (!s->email || !s->role || !s->level)
        return -1;
    {
        const char *name = PICK(st, dump_names);

        if (name && (s->name = strdup(name)) == NULL)
            return -1;
    }
    ntasks = next_rand(st) % (role->ntasks + 1);
    for (i = 0; i < ntasks; i++) {
        const char *id = role->tasks[(i * 7 + k) % role->ntasks].id;
        double share = PICK(st, dump_shares);
        int has = next_rand(st) % 3 != 0 && sum + share <= 100;
        size_t j;

        for (j = 0; j < s->ntasks && strcmp(s->tasks[j].id, id) != 0; j++)
            ;
        if (j < s->ntasks)
            continue;
        sum += has ? share : 0;
        if (signup_add_task(s, id, share, has) == -1)
            return -1;
    }
    nskills = next_rand(st) % (role->nskills + 1);
    for (i = 0; i < nskills; i++) {
        const char *id = role->skills[(i * 5 + k) % role->nskills].id;
        size_t j;

        for (j = 0; j < s->nskills && strcmp(s->skills[j], id) != 0; j++)
            ;
        if (j == s->nskills && signup_add_skill(s, id) == -1)
            return -1;
    }
    s->has_years = next_rand(st) % 3 != 0;
    s->years = s->has_years ? PICK(st, dump_years) : 0;
    return 0;
}

static void dump_message(const char *label, const struct runtime *rt, const struct signup *s)
{
    struct message m;
    char err[ERRLEN];
    size_t i;
    enum render_result rc = runtime_message(rt, s, DUMP_DATE_MS, &m, err);

    printf("=== %s\n", label);
    if (rc != RENDER_OK) {
        printf("result %d: %s\n", (int)rc, err);
        return;
    }
    printf("from %s\nto %s\nid %s\n", m.envelope_from, m.envelope_to, m.message_id);
    for (i = 0; i < m.nheaders; i++)
        printf("%s\n", m.headers[i]);
    printf("--- text %zu\n", m.text_qp.len);
    fwrite(buf_str(&m.text_qp), 1, m.text_qp.len, stdout);
    printf("--- html %zu\n", m.html_qp.len);
    fwrite(buf_str(&m.html_qp), 1, m.html_qp.len, stdout);
    message_free(&m);
}

/* Every role and level: a bare and a full sample, then DUMP_RANDOM random signups. */
static int dump(const struct runtime *rt)
{
    uint64_t st = 42;
    size_t i, j;
    int k;

    for (i = 0; i < rt->roles.n; i++) {
        const struct role *role = &rt->roles.v[i];

        for (j = 0; j < role->nlevels; j++) {
            const struct role_level *level = &role->levels[j];
            char label[256];
            struct signup s;

            snprintf(label, sizeof(label), "%s %s sample", role->id, level->id);
            if (runtime_sample_signup(&s, role, level) == -1)
                return -1;
            dump_message(label, rt, &s);
            signup_free(&s);
            for (k = 0; k < DUMP_RANDOM; k++) {
                snprintf(label, sizeof(label), "%s %s random %d", role->id, level->id, k);
                if (random_signup(&s, role, level, &st, k) == -1)
                    return -1;
                dump_message(label, rt, &s);
                signup_free(&s);
            }
        }
    }
    return fflush(stdout) == 0 ? 0 : -1;
}

/* One signup through the path being measured; adds the bytes made to *bytes. */
static int run_one(const struct runtime *rt, const struct signup *s, enum mode mode, size_t *bytes)
{
    char err[ERRLEN];

    if (mode == MODE_BUILD) {
        struct message m;

        if (runtime_message(rt, s, DUMP_DATE_MS, &m, err) != RENDER_OK) {
            fprintf(stderr, "render: %s\n", err);
            return -1;
        }
        *bytes += m.text_qp.len + m.html_qp.len;
        message_free(&m);
    } else {
        struct rendered out;

        rendered_init(&out);
        if (runtime_render(rt, s, &out, err) != RENDER_OK) {
            fprintf(stderr, "render: %s\n", err);
            return -1;
        }
        *bytes += out.subject.len + out.text.len + out.html.len;
        rendered_free(&out);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct runtime rt;
    struct diag d;
    struct signup *signups;
    double load[MAX_ROUNDS], per[MAX_ROUNDS];
    enum mode mode = MODE_RENDER;
    int n, rounds, r, i, a = 1;
    size_t bytes = 0, round_bytes;

    if (argc > a && strcmp(argv[a], "--build") == 0)
        mode = MODE_BUILD, a++;
    else if (argc > a && strcmp(argv[a], "--dump") == 0)
        mode = MODE_DUMP, a++;
    if (argc <= a) {
        fprintf(stderr, "usage: bench-render [--build | --dump] CONFIG [REPORTS] [ROUNDS]\n");
        return 64;
    }
    n = argc > a + 1 ? atoi(argv[a + 1]) : DEFAULT_REPORTS;
    rounds = argc > a + 2 ? atoi(argv[a + 2]) : DEFAULT_ROUNDS;
    if (n <= 0 || rounds <= 0 || rounds > MAX_ROUNDS)
        return 64;
    if (mode == MODE_DUMP)
        rounds = 1;
    diag_init(&d);
    for (r = 0; r < rounds; r++) {
        struct timespec t0, t1;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (runtime_load(&rt, argv[a], &d) == -1) {
            fputs(buf_str(&d.text), stderr);
            return 78;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        load[r] = elapsed_us(&t0, &t1) / 1000;
        if (r + 1 < rounds)
            runtime_free(&rt);
    }
    diag_free(&d);
    if (mode == MODE_DUMP) {
        r = dump(&rt);
        runtime_free(&rt);
        return r == 0 ? 0 : 71;
    }
    signups = calloc((size_t)n, sizeof(*signups));
    if (signups == NULL)
        return 71;
    for (i = 0; i < n; i++)
        if (make_signup(&signups[i], &rt.roles.v[0], i) == -1)
            return 71;
    for (r = 0; r < rounds; r++) {
        struct timespec t0, t1;

        round_bytes = 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (i = 0; i < n; i++)
            if (run_one(&rt, &signups[i], mode, &round_bytes) == -1)
                return 70;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        per[r] = elapsed_us(&t0, &t1) / n;
        bytes = round_bytes;
    }
    printf("load config+roles+templates: median %.2f ms over %d loads\n", median(load, rounds),
           rounds);
    printf("%s one report (%s): median %.1f us (%.0f reports/s), %zu bytes on average, "
           "%d reports x %d rounds\n",
           mode == MODE_BUILD ? "render and build" : "render",
           mode == MODE_BUILD ? "validate, score, subject+text+html, headers, quoted-printable"
                              : "validate, score, subject+text+html",
           median(per, rounds), 1e6 / median(per, rounds), bytes / (size_t)n, n, rounds);
    for (i = 0; i < n; i++)
        signup_free(&signups[i]);
    free(signups);
    runtime_free(&rt);
    return 0;
}
