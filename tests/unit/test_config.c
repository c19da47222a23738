/* test_config.c - unit tests for the configuration loader (daemon/config.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* mkstemp(3) template: the file is removed again by every helper. */
#define TMP_TEMPLATE "/tmp/test_config_XXXXXX"

/* The pieces of a file that loads, each line where the tests expect it. */
#define QUEUE_PART                                                                                 \
    "queue:\n"                                                                                     \
    "  path: /var/lib/reportd/queue.db\n"
#define DIRS_SENDER_PART                                                                           \
    "roles_dir: /etc/reportd/roles\n"                                                              \
    "templates_dir: /usr/share/reportd/templates\n"                                                \
    "sender:\n"                                                                                    \
    "  from: reports@example.com\n"
#define SMTP_PART                                                                                  \
    "smtp:\n"                                                                                      \
    "  url: smtp://mail.example.com:587\n"

/* Lines 1-6, so a test can add to sender or write its own smtp section from line 7. */
#define MINIMAL_NO_SMTP QUEUE_PART DIRS_SENDER_PART
/* Lines 1-8: the required keys only; a test can add smtp keys from line 9. */
#define MINIMAL MINIMAL_NO_SMTP SMTP_PART

struct loaded {
    struct config c;
    struct diag d;
    int rc;
    char path[sizeof(TMP_TEMPLATE)];
};

static void write_temp(const char *text, mode_t mode, char *path)
{
    size_t len = strlen(text);
    int fd;

    strcpy(path, TMP_TEMPLATE);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

/* Loads text from a private temporary file with the given mode. */
static void load_mode(struct loaded *r, const char *text, mode_t mode)
{
    write_temp(text, mode, r->path);
    diag_init(&r->d);
    r->rc = config_load(&r->c, r->path, &r->d);
    unlink(r->path);
}

static void load(struct loaded *r, const char *text)
{
    load_mode(r, text, 0600);
}

static void done(struct loaded *r)
{
    config_free(&r->c);
    diag_free(&r->d);
}

static const char *diag_text(const struct loaded *r)
{
    return buf_str(&r->d.text);
}

/* The diagnostics contain want; on failure they are printed. */
static void assert_diag_has(const struct loaded *r, const char *want)
{
    if (strstr(diag_text(r), want) == NULL) {
        print_error("expected in diagnostics: %s\ngot:\n%s", want, diag_text(r));
        fail();
    }
}

static void assert_diag_lacks(const struct loaded *r, const char *unwanted)
{
    if (strstr(diag_text(r), unwanted) != NULL) {
        print_error("not expected in diagnostics: %s\ngot:\n%s", unwanted, diag_text(r));
        fail();
    }
}

static void assert_loads(struct loaded *r)
{
    if (r->rc != 0) {
        print_error("expected the file to load, got:\n%s", diag_text(r));
        fail();
    }
    assert_int_equal(r->d.count, 0);
}

/* Rejected with exactly n problems, and the config left freed. */
static void assert_rejected(const struct loaded *r, int n)
{
    if (r->rc != -1 || r->d.count != n) {
        print_error("expected %d problem(s), rc -1; rc %d, got:\n%s", n, r->rc, diag_text(r));
        fail();
    }
    assert_null(r->c.path);
    assert_null(r->c.queue_path);
    assert_null(r->c.smtp_url);
    assert_null(r->c.from_address);
}

/* One problem, and its line contains want. */
static void expect_one_error(const char *text, const char *want)
{
    struct loaded r;

    load(&r, text);
    assert_rejected(&r, 1);
    assert_diag_has(&r, want);
    done(&r);
}

static void expect_loads(const char *text)
{
    struct loaded r;

    load(&r, text);
    assert_loads(&r);
    done(&r);
}

/* Defaults and values ----------------------------------------------------- */

static void test_defaults(void **state)
{
    struct config c;

    config_defaults(&c);
    assert_null(c.path);
    assert_null(c.queue_path);
    assert_null(c.roles_dir);
    assert_null(c.templates_dir);
    assert_null(c.smtp_url);
    assert_null(c.password);
    assert_int_equal(c.poll_interval_ms, 5000);
    assert_int_equal(c.batch_size, 50);
    assert_int_equal(c.lease_ms, 2 * 60 * 1000);
    assert_int_equal(c.lifetime_ms, 5LL * 24 * 3600 * 1000);
    assert_int_equal(c.retry_min_ms, 60 * 1000);
    assert_int_equal(c.retry_max_ms, 3600 * 1000);
    assert_int_equal(c.tls, TLS_STARTTLS);
    assert_int_equal(c.connect_timeout_ms, 10000);
    assert_int_equal(c.timeout_ms, 60000);
    assert_int_equal(c.idle_timeout_ms, 30000);
    assert_int_equal(c.connections, 1);
    assert_true(c.rate_limit == 0);
    assert_int_equal(c.verbose, 0);
    config_free(&c);
}

static void test_minimal_file_gets_defaults(void **state)
{
    struct loaded r;

    load(&r, MINIMAL);
    assert_loads(&r);
    assert_string_equal(r.c.path, r.path);
    assert_string_equal(r.c.queue_path, "/var/lib/reportd/queue.db");
    assert_string_equal(r.c.roles_dir, "/etc/reportd/roles");
    assert_string_equal(r.c.templates_dir, "/usr/share/reportd/templates");
    assert_string_equal(r.c.from_address, "reports@example.com");
    assert_string_equal(r.c.smtp_url, "smtp://mail.example.com:587");
    assert_string_equal(r.c.message_id_domain, "example.com");
    assert_null(r.c.from_name);
    assert_null(r.c.reply_to);
    assert_null(r.c.username);
    assert_null(r.c.password_file);
    assert_null(r.c.ca_file);
    assert_int_equal(r.c.poll_interval_ms, 5000);
    assert_int_equal(r.c.batch_size, 50);
    assert_int_equal(r.c.lease_ms, 120000);
    assert_int_equal(r.c.lifetime_ms, 5LL * 86400 * 1000);
    assert_int_equal(r.c.tls, TLS_STARTTLS);
    assert_int_equal(r.c.timeout_ms, 60000);
    assert_int_equal(r.c.connections, 1);
    assert_int_equal(r.c.verbose, 0);
    done(&r);
}

static void test_site_keys(void **state)
{
    struct loaded r;

    load(&r, MINIMAL "site:\n"
                     "  name: Example Careers\n"
                     "  url: https://careers.example.org/\n"
                     "  analysis_url: https://careers.example.org/ai/{role}/{level}\n"
                     "  deletion: https://careers.example.org/privacy\n");
    assert_loads(&r);
    assert_string_equal(r.c.site_name, "Example Careers");
    assert_string_equal(r.c.site_url, "https://careers.example.org/");
    assert_string_equal(r.c.analysis_url, "https://careers.example.org/ai/{role}/{level}");
    assert_string_equal(r.c.deletion, "https://careers.example.org/privacy");
    done(&r);
    /* Without site.name the sender's domain names the site. */
    load(&r, MINIMAL);
    assert_loads(&r);
    assert_string_equal(r.c.site_name, "example.com");
    assert_null(r.c.site_url);
    assert_null(r.c.deletion);
    done(&r);
    expect_loads(MINIMAL "site:\n  deletion: privacy@example.com\n");
    expect_one_error(MINIMAL "site:\n  url: careers.example.org\n",
                     ":10:8: site.url: must start with https://");
    expect_one_error(MINIMAL "site:\n  analysis_url: https://x.example/{role}/{lvl}\n",
                     ":10:17: site.analysis_url: only {role} and {level} may appear in braces");
    expect_one_error(MINIMAL "site:\n  url: \"https://x.example/a b\"\n",
                     "site.url: contains a space");
    expect_one_error(MINIMAL "site:\n  deletion: call us\n",
                     "site.deletion: expected a mail address or an https:// URL");
}

static void test_every_key_is_read(void **state)
{
    struct loaded r;

    load(&r, "queue:\n"
             "  path: q.db\n"
             "  poll_interval: 250ms\n"
             "  batch_size: 1000\n"
             "  lease: 10m\n"
             "  lifetime: 2d\n"
             "  retry_min: 30s\n"
             "  retry_max: 1h30m\n"
             "roles_dir: roles\n"
             "templates_dir: templates\n"
             "sender:\n"
             "  from: a.b+c@mail.example.org\n"
             "  name: \"Zoë's Reports\"\n"
             "  reply_to: hello@example.org\n"
             "  message_id_domain: ids.example.org\n"
             "smtp:\n"
             "  url: smtps://relay.example.org\n"
             "  tls: implicit\n"
             "  ca_file: ca.pem\n"
             "  username: reportd\n"
             "  password_file: secret\n"
             "  connect_timeout: 5s\n"
             "  timeout: 2m\n"
             "  idle_timeout: 1m\n"
             "  connections: 16\n"
             "  rate_limit: 2.5\n"
             "log:\n"
             "  verbose: yes\n"
             "metrics:\n"
             "  path: /var/lib/prometheus/node-exporter/reportd.prom\n");
    assert_loads(&r);
    assert_string_equal(r.c.metrics_path, "/var/lib/prometheus/node-exporter/reportd.prom");
    assert_string_equal(r.c.queue_path, "q.db");
    assert_int_equal(r.c.poll_interval_ms, 250);
    assert_int_equal(r.c.batch_size, 1000);
    assert_int_equal(r.c.lease_ms, 600000);
    assert_int_equal(r.c.lifetime_ms, 2LL * 86400 * 1000);
    assert_int_equal(r.c.retry_min_ms, 30000);
    assert_int_equal(r.c.retry_max_ms, 5400000);
    assert_string_equal(r.c.roles_dir, "roles");
    assert_string_equal(r.c.templates_dir, "templates");
    assert_string_equal(r.c.from_address, "a.b+c@mail.example.org");
    assert_string_equal(r.c.from_name, "Zoë's Reports");
    assert_string_equal(r.c.reply_to, "hello@example.org");
    assert_string_equal(r.c.message_id_domain, "ids.example.org");
    assert_string_equal(r.c.smtp_url, "smtps://relay.example.org");
    assert_int_equal(r.c.tls, TLS_IMPLICIT);
    assert_string_equal(r.c.ca_file, "ca.pem");
    assert_string_equal(r.c.username, "reportd");
    assert_string_equal(r.c.password_file, "secret");
    assert_null(r.c.password);
    assert_int_equal(r.c.connect_timeout_ms, 5000);
    assert_int_equal(r.c.timeout_ms, 120000);
    assert_int_equal(r.c.idle_timeout_ms, 60000);
    assert_int_equal(r.c.connections, 16);
    assert_true(r.c.rate_limit > 2.49 && r.c.rate_limit < 2.51);
    assert_int_equal(r.c.verbose, 1);
    done(&r);
}

static void test_metrics_path_must_end_in_prom(void **state)
{
    struct loaded r;

    load(&r, MINIMAL);
    assert_loads(&r);
    assert_null(r.c.metrics_path);
    done(&r);
    expect_one_error(MINIMAL "metrics:\n  path: /tmp/reportd.txt\n",
                     "metrics.path: \"/tmp/reportd.txt\" must end in .prom: node_exporter's "
                     "textfile collector reads only *.prom files");
    expect_one_error(MINIMAL "metrics:\n  path: .prom\n", "must end in .prom");
}

static void test_booleans(void **state)
{
    static const struct {
        const char *text;
        int value;
    } cases[] = {
        {"true", 1},  {"True", 1},  {"yes", 1}, {"on", 1},
        {"false", 0}, {"FALSE", 0}, {"no", 0},  {"off", 0},
    };
    char text[512];
    size_t i;

    for (i = 0; i < NELEM(cases); i++) {
        struct loaded r;

        snprintf(text, sizeof(text), MINIMAL "log:\n  verbose: %s\n", cases[i].text);
        load(&r, text);
        assert_loads(&r);
        assert_int_equal(r.c.verbose, cases[i].value);
        done(&r);
    }
    expect_one_error(MINIMAL "log:\n  verbose: maybe\n",
                     ":10:12: log.verbose: expected true or false (or yes/no, on/off), got "
                     "\"maybe\"");
    expect_one_error(MINIMAL "log:\n  verbose: \"true\"\n",
                     ":10:12: log.verbose: expected true or false, got the quoted string");
}

/* The shipped files ------------------------------------------------------- */

static void test_shipped_production_config_loads(void **state)
{
    struct config c;
    struct diag d;
    int rc;

    diag_init(&d);
    rc = config_load(&c, "config/reportd.yaml", &d);
    if (rc != 0)
        print_error("%s", buf_str(&d.text));
    assert_int_equal(rc, 0);
    assert_int_equal(d.count, 0);
    assert_string_equal(c.queue_path, "/var/lib/reportd/queue.db");
    assert_string_equal(c.roles_dir, "/etc/reportd/roles");
    assert_string_equal(c.templates_dir, "/etc/reportd/templates");
    assert_int_equal(c.tls, TLS_STARTTLS);
    assert_string_equal(c.password_file, "/run/credentials/reportd.service/smtp-password");
    assert_null(c.password);
    assert_true(c.lease_ms > c.timeout_ms);
    config_free(&c);
    diag_free(&d);
}

static void test_shipped_dev_config_loads(void **state)
{
    struct config c;
    struct diag d;
    int rc;

    diag_init(&d);
    rc = config_load(&c, "config/reportd.dev.yaml", &d);
    if (rc != 0)
        print_error("%s", buf_str(&d.text));
    assert_int_equal(rc, 0);
    assert_string_equal(c.queue_path, "./var/queue.db");
    assert_string_equal(c.roles_dir, "./config/roles");
    assert_string_equal(c.templates_dir, "./templates");
    assert_string_equal(c.smtp_url, "smtp://127.0.0.1:2525");
    assert_int_equal(c.tls, TLS_NONE);
    assert_int_equal(c.poll_interval_ms, 500);
    assert_int_equal(c.retry_min_ms, 1000);
    assert_int_equal(c.retry_max_ms, 10000);
    assert_int_equal(c.lease_ms, 30000);
    assert_int_equal(c.timeout_ms, 10000);
    assert_string_equal(c.from_address, "reports@reportd.test");
    assert_string_equal(c.from_name, "AI Exposure Reports");
    assert_string_equal(c.reply_to, "hello@reportd.test");
    assert_string_equal(c.message_id_domain, "reportd.test");
    config_free(&c);
    diag_free(&d);
}

/* Whole-file problems ----------------------------------------------------- */

static void test_missing_file(void **state)
{
    struct config c;
    struct diag d;

    diag_init(&d);
    assert_int_equal(config_load(&c, "/nonexistent/reportd.yaml", &d), -1);
    assert_int_equal(d.count, 1);
    assert_non_null(strstr(buf_str(&d.text), "/nonexistent/reportd.yaml"));
    assert_null(c.path);
    diag_free(&d);
}

static void test_empty_file(void **state)
{
    expect_one_error("", ":1:1: empty configuration");
    expect_one_error("# only a comment\n", ":1:1: empty configuration");
}

static void test_root_not_a_mapping(void **state)
{
    expect_one_error("- a\n- b\n",
                     ":1:1: expected a mapping of settings at the top level, got a list");
    expect_one_error("just text\n", "expected a mapping of settings at the top level");
}

static void test_malformed_yaml(void **state)
{
    struct loaded r;
    char want[64];

    load(&r, MINIMAL "log:\n  verbose: [true\n");
    assert_rejected(&r, 1);
    snprintf(want, sizeof(want), "%s:11:1: did not find expected ',' or ']'", r.path);
    assert_diag_has(&r, want);
    assert_diag_has(&r, "while parsing a flow sequence");
    done(&r);
}

static void test_message_starts_with_file_line_column(void **state)
{
    struct loaded r;
    char want[128];

    load(&r, MINIMAL_NO_SMTP "smtp:\n"
                             "  url: smtp://mail.example.com\n"
                             "  timeout: thirty\n");
    assert_rejected(&r, 1);
    snprintf(want, sizeof(want),
             "%s:9:12: smtp.timeout: expected a duration like 30s, got \"thirty\"\n", r.path);
    assert_string_equal(diag_text(&r), want);
    done(&r);
}

/* Keys -------------------------------------------------------------------- */

static void test_unknown_key_top_level(void **state)
{
    expect_one_error(MINIMAL "colour: blue\n", ":9:1: colour: unknown key \"colour\"");
}

static void test_unknown_key_suggests_near_spelling(void **state)
{
    expect_one_error(MINIMAL "  timeot: 30s\n",
                     ":9:3: smtp.timeot: unknown key \"timeot\"; did you mean \"timeout\"?");
}

static void test_unknown_key_suggests_swapped_letters(void **state)
{
    expect_one_error(MINIMAL "  tsl: none\n",
                     ":9:3: smtp.tsl: unknown key \"tsl\"; did you mean \"tls\"?");
}

static void test_unknown_short_key_not_matched_loosely(void **state)
{
    struct loaded r;

    /* Two edits turn "foo" into "log", but that is no longer a typo. */
    load(&r, MINIMAL "foo: 1\n");
    assert_rejected(&r, 1);
    assert_diag_has(&r, ":9:1: foo: unknown key \"foo\"\n");
    done(&r);
}

static void test_unknown_key_suggests_other_section(void **state)
{
    expect_one_error(MINIMAL "verbose: true\n",
                     ":9:1: verbose: unknown key \"verbose\"; did you mean log.verbose?");
}

static void test_unknown_key_without_suggestion(void **state)
{
    struct loaded r;

    load(&r, MINIMAL "log:\n  wibblewobble: 1\n");
    assert_rejected(&r, 1);
    assert_diag_has(&r, ":10:3: log.wibblewobble: unknown key \"wibblewobble\"\n");
    assert_diag_lacks(&r, "did you mean");
    done(&r);
}

static void test_unknown_key_is_escaped(void **state)
{
    expect_one_error(MINIMAL "\"a\\nb\": 1\n", "unknown key \"a\\x0ab\"");
}

static void test_duplicate_key(void **state)
{
    expect_one_error(MINIMAL "  url: smtp://other.example.com\n",
                     ":9:3: smtp.url: duplicate key (first set at line 8)");
}

static void test_duplicate_section(void **state)
{
    expect_one_error(MINIMAL "smtp:\n  timeout: 5s\n",
                     ":9:1: smtp: duplicate key (first set at line 7)");
}

static void test_missing_required_key_points_at_section(void **state)
{
    expect_one_error("queue:\n"
                     "  poll_interval: 5s\n"
                     "roles_dir: /r\n"
                     "templates_dir: /t\n"
                     "sender:\n"
                     "  from: reports@example.com\n"
                     "smtp:\n"
                     "  url: smtp://mail.example.com\n",
                     ":2:3: queue.path: required key is missing");
}

static void test_missing_section(void **state)
{
    expect_one_error("queue:\n"
                     "  path: q.db\n"
                     "roles_dir: /r\n"
                     "templates_dir: /t\n"
                     "smtp:\n"
                     "  url: smtp://mail.example.com\n",
                     ":1:1: sender: required section is missing");
}

static void test_missing_top_level_key(void **state)
{
    expect_one_error("queue:\n"
                     "  path: q.db\n"
                     "templates_dir: /t\n"
                     "sender:\n"
                     "  from: reports@example.com\n"
                     "smtp:\n"
                     "  url: smtp://mail.example.com\n",
                     ":1:1: roles_dir: required key is missing");
}

static void test_non_scalar_key(void **state)
{
    expect_one_error(MINIMAL "? [a, b]\n: 1\n", "(top level): expected a key name, got a list");
    expect_one_error(MINIMAL "  \"url\\0x\": smtp://other.example.com\n",
                     ":9:3: smtp: a key name must not contain a NUL character");
}

/* Types ------------------------------------------------------------------- */

static void test_mapping_where_string_expected(void **state)
{
    expect_one_error("queue:\n"
                     "  path: q.db\n"
                     "roles_dir:\n"
                     "  a: 1\n"
                     "templates_dir: /t\n"
                     "sender:\n"
                     "  from: reports@example.com\n"
                     "smtp:\n"
                     "  url: smtp://mail.example.com\n",
                     ":4:3: roles_dir: expected a string, got a mapping");
}

static void test_list_where_section_expected(void **state)
{
    struct loaded r;

    load(&r, MINIMAL_NO_SMTP "smtp: [a, b]\n");
    assert_rejected(&r, 1);
    assert_diag_has(&r, ":7:7: smtp: expected a mapping of smtp settings, got a list");
    /* The section is wrong as a whole: its keys are not also reported missing. */
    assert_diag_lacks(&r, "smtp.url");
    done(&r);
}

static void test_null_value(void **state)
{
    expect_one_error(MINIMAL_NO_SMTP "  reply_to:\n"
                                     "smtp:\n"
                                     "  url: smtp://mail.example.com\n",
                     ":7:12: sender.reply_to: expected a mail address, got null");
    expect_one_error(MINIMAL "log:\n", ":9:5: log: expected a mapping of log settings, got null");
}

static void test_empty_string(void **state)
{
    expect_one_error(MINIMAL "  ca_file: \"\"\n", ":9:12: smtp.ca_file: must not be empty");
}

static void test_control_characters_refused(void **state)
{
    expect_one_error(MINIMAL_NO_SMTP "  name: \"Reports\\r\\nBcc: x@y.z\"\n"
                                     "smtp:\n"
                                     "  url: smtp://mail.example.com\n",
                     ":7:9: sender.name: must not contain control characters");
    expect_one_error(MINIMAL "  ca_file: \"a\\0b\"\n",
                     ":9:12: smtp.ca_file: must not contain a NUL character");
}

static void test_bad_duration(void **state)
{
    expect_one_error(MINIMAL "  timeout: thirty\n",
                     ":9:12: smtp.timeout: expected a duration like 30s, got \"thirty\"");
    expect_one_error(MINIMAL "  idle_timeout: 30\n",
                     ":9:17: smtp.idle_timeout: expected a duration like 30s, got \"30\"");
    expect_one_error(MINIMAL "  connect_timeout: 0s\n",
                     "smtp.connect_timeout: must be longer than 0, got \"0s\"");
    expect_one_error(MINIMAL "  connect_timeout: 400d\n",
                     "smtp.connect_timeout: must be at most 365d, got \"400d\"");
    expect_one_error(MINIMAL "  connect_timeout: [1s]\n",
                     "smtp.connect_timeout: expected a duration like 30s, got a list");
}

static void test_integer_ranges(void **state)
{
    expect_one_error("queue:\n  path: q\n  batch_size: 0\n" DIRS_SENDER_PART SMTP_PART,
                     ":3:15: queue.batch_size: expected a whole number from 1 to 1000, got \"0\"");
    expect_one_error(MINIMAL "  connections: 17\n",
                     ":9:16: smtp.connections: expected a whole number from 1 to 16, got \"17\"");
    expect_one_error(MINIMAL "  connections: two\n",
                     "smtp.connections: expected a whole number from 1 to 16, got \"two\"");
    expect_one_error(MINIMAL "  connections: 1.5\n", "got \"1.5\"");
    expect_one_error(MINIMAL "  connections: 99999999999999999999\n",
                     "smtp.connections: expected a whole number from 1 to 16");
    expect_one_error(MINIMAL "  connections: \"4\"\n",
                     "smtp.connections: expected a whole number, got the quoted string \"4\"");
    expect_loads(MINIMAL "  connections: 16\n");
}

static void test_rate_limit(void **state)
{
    struct loaded r;

    load(&r, MINIMAL "  rate_limit: 0.5\n");
    assert_loads(&r);
    assert_true(r.c.rate_limit > 0.49 && r.c.rate_limit < 0.51);
    done(&r);
    expect_one_error(MINIMAL "  rate_limit: -1\n",
                     ":9:15: smtp.rate_limit: expected a number of messages per second, 0 or "
                     "more, got \"-1\"");
    expect_one_error(MINIMAL "  rate_limit: fast\n", "smtp.rate_limit: expected a number");
    expect_one_error(MINIMAL "  rate_limit: .nan\n", "smtp.rate_limit: expected a number");
    expect_one_error(MINIMAL "  rate_limit: 1e999\n", "smtp.rate_limit: expected a number");
    expect_one_error(MINIMAL "  rate_limit: 0x10\n", "smtp.rate_limit: expected a number");
    expect_one_error(MINIMAL "  rate_limit: 1e-20\n",
                     ":9:15: smtp.rate_limit: 1e-20 messages per second is below the minimum of "
                     "0.001 (0 means no limit)");
    load(&r, MINIMAL "  rate_limit: 0.001\n");
    assert_loads(&r);
    done(&r);
}

static void test_tls_enum(void **state)
{
    expect_one_error(MINIMAL "  tls: ssl\n",
                     ":9:8: smtp.tls: expected one of starttls, implicit, none, got \"ssl\"");
    expect_one_error(MINIMAL "  tls: STARTTLS\n", "smtp.tls: expected one of");
}

static void test_long_value_is_cut_in_message(void **state)
{
    char text[1024], value[301];
    struct loaded r;

    memset(value, 'x', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    snprintf(text, sizeof(text), MINIMAL "  tls: %s\n", value);
    load(&r, text);
    assert_rejected(&r, 1);
    assert_diag_has(&r, "xxx...\"");
    assert_true(strlen(diag_text(&r)) < 200);
    done(&r);
}

/* Addresses and domains --------------------------------------------------- */

static void test_sender_from_must_be_an_address(void **state)
{
    static const char *const bad[] = {
        "reports",
        "reports@",
        "@example.com",
        "a@b@example.com",
        "\"r s\"@example.com",
        "Reports <r@example.com>",
        "r@exa mple.com",
        "r@-example.com",
        "r@example..com",
    };
    char text[512];
    size_t i;

    for (i = 0; i < NELEM(bad); i++) {
        snprintf(text, sizeof(text),
                 "queue:\n  path: q\nroles_dir: r\ntemplates_dir: t\nsender:\n  from: '%s'\n"
                 "smtp:\n  url: smtp://mail.example.com\n",
                 bad[i]);
        expect_one_error(text, ":6:9: sender.from: expected a bare address like "
                               "reports@example.com, got");
    }
}

static void test_reply_to_must_be_an_address(void **state)
{
    expect_one_error(MINIMAL_NO_SMTP "  reply_to: hello\n"
                                     "smtp:\n"
                                     "  url: smtp://mail.example.com\n",
                     ":7:13: sender.reply_to: expected a bare address like reports@example.com, "
                     "got \"hello\"");
}

static void test_message_id_domain(void **state)
{
    struct loaded r;

    load(&r, MINIMAL_NO_SMTP "  message_id_domain: mid.example.net\n"
                             "smtp:\n"
                             "  url: smtp://mail.example.com\n");
    assert_loads(&r);
    assert_string_equal(r.c.message_id_domain, "mid.example.net");
    done(&r);
    expect_one_error(MINIMAL_NO_SMTP "  message_id_domain: \"exa mple.com\"\n"
                                     "smtp:\n"
                                     "  url: smtp://mail.example.com\n",
                     ":7:22: sender.message_id_domain: expected a domain name like example.com, "
                     "got \"exa mple.com\"");
    expect_one_error(MINIMAL_NO_SMTP "  message_id_domain: a@example.com\n"
                                     "smtp:\n"
                                     "  url: smtp://mail.example.com\n",
                     "sender.message_id_domain: expected a domain name");
}

/* URL and TLS -------------------------------------------------------------- */

static void test_url_scheme(void **state)
{
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: http://mail.example.com\n",
                     ":8:8: smtp.url: expected smtp://host[:port] or smtps://host[:port], got "
                     "\"http://mail.example.com\"");
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: mail.example.com\n",
                     "smtp.url: expected smtp://host[:port] or smtps://host[:port]");
}

static void test_url_shape(void **state)
{
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: smtp://\n", "smtp.url: has no host");
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: smtp://mail.example.com:0\n",
                     "smtp.url: has a bad port");
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: smtp://mail.example.com:99999\n",
                     "smtp.url: has a bad port");
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: smtp://mail.example.com:25x\n",
                     "smtp.url: has a bad port");
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: \"smtp://mail example.com\"\n",
                     "smtp.url: must not contain spaces");
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: smtp://[::1\n  tls: none\n",
                     "smtp.url: has an unterminated [IPv6] address");
    expect_loads(MINIMAL_NO_SMTP "smtp:\n  url: smtp://mail.example.com:25/client.example\n");
}

static void test_url_credentials_refused_and_not_echoed(void **state)
{
    struct loaded r;

    load(&r, MINIMAL_NO_SMTP "smtp:\n  url: smtp://user:hunter2@mail.example.com\n");
    assert_rejected(&r, 1);
    assert_diag_has(&r, ":8:8: smtp.url: must not hold credentials");
    assert_diag_lacks(&r, "hunter2");
    done(&r);
}

static void test_tls_implicit_needs_smtps(void **state)
{
    expect_one_error(
        MINIMAL "  tls: implicit\n",
        ":9:8: smtp.tls: implicit needs an smtps:// URL, got \"smtp://mail.example.com:587\"");
    expect_loads(MINIMAL_NO_SMTP "smtp:\n  url: smtps://mail.example.com:465\n  tls: implicit\n");
}

static void test_smtps_needs_tls_implicit(void **state)
{
    /* tls left at its default: the URL is the line to fix. */
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: smtps://mail.example.com\n",
                     ":8:8: smtp.url: smtps:// needs smtp.tls: implicit (the default is starttls)");
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: smtps://mail.example.com\n  tls: starttls\n",
                     ":9:8: smtp.tls: starttls needs an smtp:// URL; smtps:// means tls: implicit");
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: smtps://127.0.0.1\n  tls: none\n",
                     ":9:8: smtp.tls: none needs an smtp:// URL");
}

static void test_tls_none_needs_loopback(void **state)
{
    static const char *const loopback[] = {
        "smtp://127.0.0.1:2525", "smtp://127.9.8.7",          "smtp://localhost:25",
        "smtp://[::1]:2525",     "smtp://[::ffff:127.0.0.1]",
    };
    static const char *const remote[] = {
        "smtp://mail.example.com",      "smtp://128.0.0.1", "smtp://10.0.0.1:25", "smtp://[::2]",
        "smtp://127.0.0.1.example.com",
    };
    char text[512];
    size_t i;

    for (i = 0; i < NELEM(loopback); i++) {
        snprintf(text, sizeof(text), MINIMAL_NO_SMTP "smtp:\n  url: %s\n  tls: none\n",
                 loopback[i]);
        expect_loads(text);
    }
    for (i = 0; i < NELEM(remote); i++) {
        snprintf(text, sizeof(text), MINIMAL_NO_SMTP "smtp:\n  url: %s\n  tls: none\n", remote[i]);
        expect_one_error(text, ":9:8: smtp.tls: none (cleartext) is allowed only to a loopback "
                               "server");
    }
}

/* Cross-checks ------------------------------------------------------------- */

static void test_retry_min_not_above_max(void **state)
{
    expect_one_error("queue:\n  path: q\n  retry_min: 2h\n" DIRS_SENDER_PART SMTP_PART,
                     ":3:14: queue.retry_min: 2h must not be longer than queue.retry_max (1h)");
    /* Only retry_max was set: that is the line pointed at. */
    expect_one_error("queue:\n  path: q\n  retry_max: 30s\n" DIRS_SENDER_PART SMTP_PART,
                     ":3:14: queue.retry_max: 30s must not be shorter than queue.retry_min (1m)");
    expect_loads(
        "queue:\n  path: q\n  retry_min: 1h\n  retry_max: 1h\n" DIRS_SENDER_PART SMTP_PART);
}

static void test_lease_longer_than_timeout(void **state)
{
    expect_one_error("queue:\n  path: q\n  lease: 1m\n" DIRS_SENDER_PART SMTP_PART,
                     ":3:10: queue.lease: 1m must be longer than smtp.timeout (1m) plus 5s: a "
                     "claim must outlive a delivery attempt");
    /* Only the timeout was set: that is the line pointed at. */
    expect_one_error(MINIMAL "  timeout: 5m\n",
                     ":9:12: smtp.timeout: 5m must be shorter than queue.lease (2m) less 5s");
    /* The margin: the outcome must be written while the claim still holds. */
    expect_one_error(MINIMAL "  timeout: 115s\n",
                     ":9:12: smtp.timeout: 1m55s must be shorter than queue.lease (2m) less 5s");
    expect_loads(MINIMAL "  timeout: 114s\n");
}

static void test_password_and_password_file_exclusive(void **state)
{
    expect_one_error(MINIMAL "  username: u\n  password: p\n  password_file: /f\n",
                     ":10:13: smtp.password: set either smtp.password or smtp.password_file, "
                     "not both");
}

static void test_username_needs_password(void **state)
{
    expect_one_error(MINIMAL "  username: reportd\n",
                     ":9:13: smtp.username: needs smtp.password_file (or smtp.password)");
}

static void test_password_needs_username(void **state)
{
    expect_one_error(MINIMAL "  password_file: /run/credentials/x\n",
                     ":9:18: smtp.password_file: needs smtp.username\n");
    expect_one_error(MINIMAL "  password: secret\n", ":9:13: smtp.password: needs smtp.username\n");
}

static void test_inline_password_private_file_accepted(void **state)
{
    struct loaded r;

    load_mode(&r, MINIMAL "  username: reportd\n  password: s3cret\n", 0600);
    assert_loads(&r);
    assert_string_equal(r.c.username, "reportd");
    assert_string_equal(r.c.password, "s3cret");
    assert_null(r.c.password_file);
    done(&r);
}

static void test_inline_password_readable_file_refused(void **state)
{
    struct loaded r;
    char want[256];

    load_mode(&r, MINIMAL "  username: reportd\n  password: s3cret\n", 0644);
    assert_rejected(&r, 1);
    snprintf(want, sizeof(want),
             ":10:13: smtp.password: %s is readable by group or others (mode 0644); use "
             "smtp.password_file or chmod 600",
             r.path);
    assert_diag_has(&r, want);
    assert_diag_lacks(&r, "s3cret");
    done(&r);

    load_mode(&r, MINIMAL "  username: reportd\n  password: s3cret\n", 0640);
    assert_rejected(&r, 1);
    assert_diag_has(&r, "(mode 0640)");
    done(&r);

    load_mode(&r, MINIMAL "  username: reportd\n  password: s3cret\n", 0620);
    assert_rejected(&r, 1);
    assert_diag_has(&r, "is writable by group or others (mode 0620)");
    done(&r);
}

static void test_password_file_in_readable_config_is_fine(void **state)
{
    struct loaded r;

    load_mode(&r, MINIMAL "  username: reportd\n  password_file: /etc/reportd/pw\n", 0644);
    assert_loads(&r);
    assert_string_equal(r.c.password_file, "/etc/reportd/pw");
    done(&r);
}

/* queue.url: PostgreSQL ------------------------------------------------------ */

/* Lines 1-2: the queue section with a URL; a test can add queue keys from line 3. */
#define PG_QUEUE_PART(url)                                                                         \
    "queue:\n"                                                                                     \
    "  url: " url "\n"
#define PG_REST DIRS_SENDER_PART SMTP_PART

static void test_queue_url_instead_of_path(void **state)
{
    struct loaded r;

    load(&r, PG_QUEUE_PART("postgresql:///reportd?host=/run/postgresql") PG_REST);
    assert_loads(&r);
    assert_null(r.c.queue_path);
    assert_string_equal(r.c.queue_url, "postgresql:///reportd?host=/run/postgresql");
    assert_null(r.c.queue_password_file);
    done(&r);

    load(
        &r,
        "queue:\n  url: postgres://db.example.com/reportd\n  password_file: pg-password\n" PG_REST);
    assert_loads(&r);
    assert_string_equal(r.c.queue_password_file, "pg-password");
    done(&r);
}

static void test_queue_path_or_url_not_both_nor_neither(void **state)
{
    expect_one_error("queue:\n  path: /q.db\n  url: postgresql:///reportd\n" PG_REST,
                     ":3:8: queue.url: set either queue.path or queue.url, not both");
    expect_one_error("queue:\n  poll_interval: 5s\n" PG_REST,
                     ":2:3: queue.path: required key is missing (or queue.url, for PostgreSQL)");
}

static void test_queue_url_scheme(void **state)
{
    expect_one_error(PG_QUEUE_PART("mysql://db/reportd") PG_REST,
                     ":2:8: queue.url: expected a postgresql:// URL");
}

static void test_queue_password_file_needs_url(void **state)
{
    expect_one_error(
        QUEUE_PART "  password_file: /pw\n" DIRS_SENDER_PART SMTP_PART,
        ":3:18: queue.password_file: is for queue.url; a SQLite queue has no password");
}

static void test_queue_url_password_refused_unless_private(void **state)
{
    static const char *const urls[] = {
        "postgresql://reportd:s3cret@db.example.com/reportd",
        "postgresql://db.example.com/reportd?sslmode=require&password=s3cret",
    };
    struct loaded r;
    char text[512], want[256];
    size_t i;

    for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        snprintf(text, sizeof(text), "queue:\n  url: %s\n" PG_REST, urls[i]);
        load_mode(&r, text, 0640);
        assert_rejected(&r, 1);
        snprintf(want, sizeof(want),
                 ":2:8: queue.url: holds a password and %s is readable by group or others "
                 "(mode 0640); use queue.password_file or chmod 600",
                 r.path);
        assert_diag_has(&r, want);
        assert_diag_lacks(&r, "s3cret");
        done(&r);

        load_mode(&r, text, 0600);
        assert_loads(&r);
        done(&r);
    }
    /* A user name alone, or an @ in the path part, is no password. */
    load_mode(&r, PG_QUEUE_PART("postgresql://reportd@db.example.com/reportd") PG_REST, 0644);
    assert_loads(&r);
    done(&r);
    expect_one_error(
        "queue:\n  url: postgresql://u:s3cret@db/reportd\n  password_file: /pw\n" PG_REST,
        ":2:8: queue.url: holds a password; set it in queue.password_file only");
}

/* Many problems at once ---------------------------------------------------- */

static void test_every_error_is_reported(void **state)
{
    struct loaded r;

    load(&r, "queue:\n"                            /* 1 */
             "  poll_interval: soon\n"             /* 2: bad duration, path missing */
             "  batch_size: 5000\n"                /* 3 */
             "roles_dir: /r\n"                     /* 4 */
             "templates_dir: [a]\n"                /* 5 */
             "sender:\n"                           /* 6 */
             "  from: nobody\n"                    /* 7 */
             "smtp:\n"                             /* 8 */
             "  url: smtp://mail.example.com\n"    /* 9 */
             "  tls: ssl\n"                        /* 10 */
             "  timeout: thirty\n"                 /* 11 */
             "  colour: red\n"                     /* 12 */
             "  url: smtp://again.example.com\n"); /* 13 */
    assert_rejected(&r, 9);
    assert_diag_has(&r, ":2:18: queue.poll_interval: expected a duration like 30s");
    assert_diag_has(&r, ":3:15: queue.batch_size: expected a whole number from 1 to 1000");
    assert_diag_has(&r, ":2:3: queue.path: required key is missing");
    assert_diag_has(&r, ":5:16: templates_dir: expected a string, got a list");
    assert_diag_has(&r, ":7:9: sender.from: expected a bare address");
    assert_diag_has(&r, ":10:8: smtp.tls: expected one of starttls, implicit, none");
    assert_diag_has(&r, ":11:12: smtp.timeout: expected a duration like 30s, got \"thirty\"");
    assert_diag_has(&r, ":12:3: smtp.colour: unknown key \"colour\"");
    assert_diag_has(&r, ":13:3: smtp.url: duplicate key (first set at line 9)");
    done(&r);
}

static void test_wrong_value_does_not_cascade(void **state)
{
    /* The bad password is reported once, not again as "username needs a password". */
    expect_one_error(MINIMAL "  username: reportd\n  password_file: [a]\n",
                     ":10:18: smtp.password_file: expected a string, got a list");
    /* A bad timeout is not compared with the lease as if it were the default 60s. */
    expect_one_error("queue:\n  path: q\n  lease: 30s\n" DIRS_SENDER_PART SMTP_PART
                     "  timeout: thirty\n",
                     ":10:12: smtp.timeout: expected a duration like 30s");
    /* Nor when the whole smtp section is wrong. */
    expect_one_error("queue:\n  path: q\n  lease: 30s\n" DIRS_SENDER_PART "smtp: [x]\n",
                     ":8:7: smtp: expected a mapping of smtp settings, got a list");
    /* A bad tls is not taken as the default starttls and checked against smtps://. */
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: smtps://mail.example.com\n  tls: ssl\n",
                     ":9:8: smtp.tls: expected one of starttls, implicit, none");
    /* A bad URL is not also checked against tls. */
    expect_one_error(MINIMAL_NO_SMTP "smtp:\n  url: [x]\n  tls: none\n",
                     "smtp.url: expected a string, got a list");
}

static void test_diag_appends_to_existing_lines(void **state)
{
    struct config c;
    struct diag d;
    char path[sizeof(TMP_TEMPLATE)];

    diag_init(&d);
    diag_add(&d, "earlier problem");
    write_temp(MINIMAL, 0600, path);
    assert_int_equal(config_load(&c, path, &d), 0);
    assert_int_equal(d.count, 1);
    config_free(&c);
    unlink(path);
    diag_free(&d);
}

static void test_config_free_twice_is_safe(void **state)
{
    struct loaded r;

    load(&r, MINIMAL);
    assert_loads(&r);
    config_free(&r.c);
    assert_null(r.c.queue_path);
    config_free(&r.c);
    diag_free(&r.d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_minimal_file_gets_defaults),
        cmocka_unit_test(test_every_key_is_read),
        cmocka_unit_test(test_metrics_path_must_end_in_prom),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_site_keys),
        cmocka_unit_test(test_shipped_production_config_loads),
        cmocka_unit_test(test_shipped_dev_config_loads),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_root_not_a_mapping),
        cmocka_unit_test(test_malformed_yaml),
        cmocka_unit_test(test_message_starts_with_file_line_column),
        cmocka_unit_test(test_unknown_key_top_level),
        cmocka_unit_test(test_unknown_key_suggests_near_spelling),
        cmocka_unit_test(test_unknown_key_suggests_swapped_letters),
        cmocka_unit_test(test_unknown_short_key_not_matched_loosely),
        cmocka_unit_test(test_unknown_key_suggests_other_section),
        cmocka_unit_test(test_unknown_key_without_suggestion),
        cmocka_unit_test(test_unknown_key_is_escaped),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_duplicate_section),
        cmocka_unit_test(test_missing_required_key_points_at_section),
        cmocka_unit_test(test_missing_section),
        cmocka_unit_test(test_missing_top_level_key),
        cmocka_unit_test(test_non_scalar_key),
        cmocka_unit_test(test_mapping_where_string_expected),
        cmocka_unit_test(test_list_where_section_expected),
        cmocka_unit_test(test_null_value),
        cmocka_unit_test(test_empty_string),
        cmocka_unit_test(test_control_characters_refused),
        cmocka_unit_test(test_bad_duration),
        cmocka_unit_test(test_integer_ranges),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_tls_enum),
        cmocka_unit_test(test_long_value_is_cut_in_message),
        cmocka_unit_test(test_sender_from_must_be_an_address),
        cmocka_unit_test(test_reply_to_must_be_an_address),
        cmocka_unit_test(test_message_id_domain),
        cmocka_unit_test(test_url_scheme),
        cmocka_unit_test(test_url_shape),
        cmocka_unit_test(test_url_credentials_refused_and_not_echoed),
        cmocka_unit_test(test_tls_implicit_needs_smtps),
        cmocka_unit_test(test_smtps_needs_tls_implicit),
        cmocka_unit_test(test_tls_none_needs_loopback),
        cmocka_unit_test(test_retry_min_not_above_max),
        cmocka_unit_test(test_lease_longer_than_timeout),
        cmocka_unit_test(test_password_and_password_file_exclusive),
        cmocka_unit_test(test_username_needs_password),
        cmocka_unit_test(test_password_needs_username),
        cmocka_unit_test(test_queue_url_instead_of_path),
        cmocka_unit_test(test_queue_path_or_url_not_both_nor_neither),
        cmocka_unit_test(test_queue_url_scheme),
        cmocka_unit_test(test_queue_password_file_needs_url),
        cmocka_unit_test(test_queue_url_password_refused_unless_private),
        cmocka_unit_test(test_inline_password_private_file_accepted),
        cmocka_unit_test(test_inline_password_readable_file_refused),
        cmocka_unit_test(test_password_file_in_readable_config_is_fine),
        cmocka_unit_test(test_every_error_is_reported),
        cmocka_unit_test(test_wrong_value_does_not_cascade),
        cmocka_unit_test(test_diag_appends_to_existing_lines),
        cmocka_unit_test(test_config_free_twice_is_safe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
