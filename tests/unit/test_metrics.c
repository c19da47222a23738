/*
 * test_metrics.c - the Prometheus text of struct queue_metrics, checked line
 * by line against the exposition format's rules, and the metrics file
 * written whole, readable by node_exporter, and never half-written.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include "metrics_file.h"

#define NOW_MS ((int64_t)1800000000000)

static void sample_metrics(struct queue_metrics *m)
{
    static const int64_t bounds[QUEUE_LATENCY_BUCKETS] = QUEUE_LATENCY_BOUNDS_MS;
    size_t i;

    memset(m, 0, sizeof(*m));
    m->count[SIGNUP_QUEUED] = 4;
    m->count[SIGNUP_SENT] = 120;
    m->count[SIGNUP_FAILED] = 2;
    m->oldest_waiting_ms = NOW_MS - 90500;
    m->attempts = 131;
    m->outcomes[SIGNUP_SENT] = 120;
    m->outcomes[SIGNUP_DEFERRED] = 9;
    m->outcomes[SIGNUP_FAILED] = 2;
    m->last_reply[250] = 120;
    m->last_reply[550] = 2;
    m->last_reply[0] = 1;
    /* Half of the sent ones under each bound from the fourth on, all past the last. */
    for (i = 0; i < QUEUE_LATENCY_BUCKETS; i++)
        m->latency_le[i] = bounds[i] >= 1000 ? 60 : 0;
    m->latency_le[QUEUE_LATENCY_BUCKETS - 1] = 120;
    m->latency_count = 120;
    m->latency_sum_ms = 123456;
    m->last_sent_ms = NOW_MS - 1500;
}

static char *format(const struct queue_metrics *m)
{
    struct buf b;

    buf_init(&b);
    assert_int_equal(metrics_format(m, NOW_MS, &b), 0);
    return buf_steal(&b);
}

static void assert_line(const char *text, const char *line)
{
    char want[256];

    snprintf(want, sizeof(want), "\n%s\n", line);
    if (strstr(text, want) == NULL && strncmp(text, want + 1, strlen(want + 1)) != 0)
        fail_msg("missing line \"%s\" in:\n%s", line, text);
}

static void test_values(void **state)
{
    struct queue_metrics m;
    char *text;

    sample_metrics(&m);
    text = format(&m);
    assert_line(text, "reportd_signups{state=\"queued\"} 4");
    assert_line(text, "reportd_signups{state=\"sending\"} 0");
    assert_line(text, "reportd_signups{state=\"sent\"} 120");
    assert_line(text, "reportd_oldest_waiting_age_seconds 90.5");
    assert_line(text, "reportd_delivery_attempts_total 131");
    assert_line(text, "reportd_claim_outcomes_total{outcome=\"deferred\"} 9");
    assert_line(text, "reportd_claim_outcomes_total{outcome=\"queued\"} 0");
    assert_line(text, "reportd_relay_last_reply_signups{class=\"2xx\",code=\"250\"} 120");
    assert_line(text, "reportd_relay_last_reply_signups{class=\"5xx\",code=\"550\"} 2");
    assert_line(text, "reportd_relay_last_reply_signups{class=\"none\",code=\"none\"} 1");
    assert_line(text, "reportd_delivery_latency_seconds_bucket{le=\"0.01\"} 0");
    assert_line(text, "reportd_delivery_latency_seconds_bucket{le=\"1\"} 60");
    assert_line(text, "reportd_delivery_latency_seconds_bucket{le=\"604800\"} 120");
    assert_line(text, "reportd_delivery_latency_seconds_bucket{le=\"+Inf\"} 120");
    assert_line(text, "reportd_delivery_latency_seconds_sum 123.456");
    assert_line(text, "reportd_delivery_latency_seconds_count 120");
    assert_line(text, "reportd_last_success_timestamp_seconds 1799999998.5");
    /* A code nobody got is not made up. */
    assert_null(strstr(text, "code=\"451\""));
    free(text);
}

/* The name a sample line is of: up to '{' or ' '. */
static void sample_name(const char *line, char *out, size_t len)
{
    size_t n = strcspn(line, "{ ");

    snprintf(out, len, "%.*s", (int)n, line);
}

/* Whether a sample of family fam (of type type) may have this name. */
static int belongs(const char *name, const char *fam, const char *type)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    size_t i, n = strlen(fam);

    if (strcmp(name, fam) == 0)
        return strcmp(type, "histogram") != 0;
    if (strcmp(type, "histogram") != 0 || strncmp(name, fam, n) != 0)
        return 0;
    for (i = 0; i < 3; i++)
        if (strcmp(name + n, suffixes[i]) == 0)
            return 1;
    return 0;
}

/*
 * The exposition format's rules, as node_exporter applies them: every
 * sample belongs to the family whose HELP and TYPE came just before it, each
 * family appears once, names are reportd_*, values are numbers, histogram
 * buckets never decrease and end with +Inf equal to _count.
 */
static void test_text_follows_the_exposition_format(void **state)
{
    struct queue_metrics m;
    char *text, *line, *save = NULL;
    char fam[128] = "", type[32] = "", seen[2048] = " ", name[128];
    long long last_bucket = -1, inf = -1, count = -2;
    int families = 0;

    sample_metrics(&m);
    text = format(&m);
    assert_int_equal(text[strlen(text) - 1], '\n');
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *value, *end;
        double v;

        if (strncmp(line, "# HELP ", 7) == 0) {
            sample_name(line + 7, fam, sizeof(fam));
            snprintf(name, sizeof(name), " %s ", fam);
            if (strstr(seen, name))
                fail_msg("family %s twice", fam);
            strncat(seen, name + 1, sizeof(seen) - strlen(seen) - 1);
            assert_int_equal(strncmp(fam, "reportd_", 8), 0);
            assert_true(strlen(line) > 7 + strlen(fam) + 1);
            type[0] = '\0';
            families++;
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            sample_name(line + 7, name, sizeof(name));
            assert_string_equal(name, fam);
            snprintf(type, sizeof(type), "%s", line + 7 + strlen(fam) + 1);
            if (strcmp(type, "gauge") && strcmp(type, "counter") && strcmp(type, "histogram"))
                fail_msg("type %s", type);
            if (strcmp(type, "counter") == 0 && strstr(fam, "_total") == NULL)
                fail_msg("counter %s without _total", fam);
            continue;
        }
        assert_int_not_equal(line[0], '#');
        if (type[0] == '\0')
            fail_msg("sample before its TYPE: %s", line);
        sample_name(line, name, sizeof(name));
        if (!belongs(name, fam, type))
            fail_msg("%s is not of family %s (%s)", name, fam, type);
        value = strrchr(line, ' ');
        assert_non_null(value);
        v = strtod(value + 1, &end);
        if (*end != '\0' || end == value + 1 || v < 0)
            fail_msg("value of: %s", line);
        if (strstr(name, "_bucket")) {
            assert_true((long long)v >= last_bucket);
            last_bucket = (long long)v;
            if (strstr(line, "le=\"+Inf\""))
                inf = (long long)v;
        } else if (strstr(name, "_count")) {
            count = (long long)v;
        }
    }
    assert_int_equal(families, 7);
    assert_int_equal(inf, count);
    free(text);
}

static void test_empty_queue(void **state)
{
    struct queue_metrics m;
    char *text;

    memset(&m, 0, sizeof(m));
    text = format(&m);
    /* Nothing waits, nothing was sent: zeros, not an age since 1970. */
    assert_line(text, "reportd_oldest_waiting_age_seconds 0");
    assert_line(text, "reportd_last_success_timestamp_seconds 0");
    assert_line(text, "reportd_delivery_latency_seconds_bucket{le=\"+Inf\"} 0");
    assert_null(strstr(text, "reportd_relay_last_reply_signups{"));
    free(text);
}

/* --- the file ------------------------------------------------------------ */

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_file_written_whole_and_readable(void **state)
{
    char dir[] = "/tmp/test_metrics-XXXXXX", path[128], err[ERRLEN], got[64];
    struct stat sb;
    mode_t old;
    FILE *fp;
    size_t n;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/reportd.prom", dir);
    old = umask(077);
    assert_int_equal(metrics_write_file(path, "first 1\n", 8, err), 0);
    assert_int_equal(metrics_write_file(path, "second 2\n", 9, err), 0);
    umask(old);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, METRICS_FILE_MODE);
    fp = fopen(path, "r");
    assert_non_null(fp);
    n = fread(got, 1, sizeof(got) - 1, fp);
    got[n] = '\0';
    fclose(fp);
    assert_string_equal(got, "second 2\n");
    /* No temporary file left beside it. */
    assert_int_equal(count_entries(dir), 1);
    unlink(path);
    rmdir(dir);
}

static void test_file_error_names_it(void **state)
{
    char err[ERRLEN];

    assert_int_equal(metrics_write_file("/nonexistent-dir/reportd.prom", "x 1\n", 4, err), -1);
    assert_non_null(strstr(err, "/nonexistent-dir/reportd.prom"));
    assert_non_null(strstr(err, "No such file or directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_text_follows_the_exposition_format),
        cmocka_unit_test(test_empty_queue),
        cmocka_unit_test(test_file_written_whole_and_readable),
        cmocka_unit_test(test_file_error_names_it),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
