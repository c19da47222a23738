/*
 * main.c - reportd's command line: parses the options, then dispatches to
 * the command.  Every exit status is decided here.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "commands.h"
#include "config.h"
#include "help.h"
#include "log.h"
#include "queue.h"
#include "util.h"

#define REPORTD_VERSION "0.1.0"

static int usage(const char *fmt, ...) UTIL_PRINTF(1, 2);

static int usage(const char *fmt, ...)
{
    va_list ap;

    if (fmt) {
        fprintf(stderr, "reportd: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n");
    }
    help_overview(stderr);
    return EXIT_USAGE;
}

enum {
    OPT_EMAIL = 256,
    OPT_NAME,
    OPT_ROLE,
    OPT_LEVEL,
    OPT_TASK,
    OPT_SKILL,
    OPT_YEARS,
    OPT_FILE,
    OPT_JSON,
    OPT_TEXT,
    OPT_HTML,
    OPT_EML,
    OPT_STATE,
    OPT_DRAIN,
    OPT_FAILED,
    OPT_TO,
    OPT_PROMETHEUS,
    OPT_PASSWORD_FILE,
    OPT_HELP = 'h',
};

/* parse_command's answer when the command's help was asked for and printed: exit 0. */
#define PARSE_HELP (-1)

static const struct option command_options[] = {
    {"email", required_argument, NULL, OPT_EMAIL},
    {"name", required_argument, NULL, OPT_NAME},
    {"role", required_argument, NULL, OPT_ROLE},
    {"level", required_argument, NULL, OPT_LEVEL},
    {"task", required_argument, NULL, OPT_TASK},
    {"skill", required_argument, NULL, OPT_SKILL},
    {"years", required_argument, NULL, OPT_YEARS},
    {"file", required_argument, NULL, OPT_FILE},
    {"json", no_argument, NULL, OPT_JSON},
    {"text", no_argument, NULL, OPT_TEXT},
    {"html", no_argument, NULL, OPT_HTML},
    {"eml", no_argument, NULL, OPT_EML},
    {"state", required_argument, NULL, OPT_STATE},
    {"drain", no_argument, NULL, OPT_DRAIN},
    {"failed", no_argument, NULL, OPT_FAILED},
    {"to", required_argument, NULL, OPT_TO},
    {"prometheus", no_argument, NULL, OPT_PROMETHEUS},
    {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Which options and arguments each command accepts. */
enum {
    TAKES_ID = 1 << 0,       /* a signup id argument */
    TAKES_EMAIL_ID = 1 << 1, /* or --email instead of the id */
    TAKES_WORD = 1 << 2,     /* a subcommand word ("queue copy") */
};

struct command {
    const char *name;
    int (*run)(const struct options *o);
    const int *opts; /* accepted option codes, 0-terminated */
    int args;
};

static const int opts_none[] = {0};
static const int opts_run[] = {OPT_DRAIN, 0};
static const int opts_enqueue[] = {OPT_EMAIL, OPT_NAME,  OPT_ROLE, OPT_LEVEL, OPT_TASK,
                                   OPT_SKILL, OPT_YEARS, OPT_FILE, 0};
static const int opts_status[] = {OPT_JSON, OPT_PROMETHEUS, 0};
static const int opts_json[] = {OPT_JSON, 0};
static const int opts_preview[] = {OPT_EMAIL, OPT_TEXT, OPT_HTML, OPT_EML, 0};
static const int opts_list[] = {OPT_STATE, OPT_JSON, 0};
static const int opts_retry[] = {OPT_FAILED, 0};
static const int opts_send_test[] = {OPT_TO, OPT_ROLE, OPT_LEVEL, 0};
static const int opts_queue[] = {OPT_TO, OPT_PASSWORD_FILE, 0};

static const struct command commands[] = {
    {"run", cmd_run, opts_run, 0},
    {"check-config", cmd_check_config, opts_none, 0},
    {"send-test", cmd_send_test, opts_send_test, 0},
    {"enqueue", cmd_enqueue, opts_enqueue, 0},
    {"status", cmd_status, opts_status, 0},
    {"preview", cmd_preview, opts_preview, TAKES_ID | TAKES_EMAIL_ID},
    {"list", cmd_list, opts_list, 0},
    {"show", cmd_show, opts_json, TAKES_ID},
    {"hold", cmd_hold, opts_none, TAKES_ID},
    {"release", cmd_release, opts_none, TAKES_ID},
    {"retry", cmd_retry, opts_retry, TAKES_ID},
    {"purge", cmd_purge, opts_none, TAKES_ID},
    {"queue", cmd_queue, opts_queue, TAKES_WORD},
};

static int accepts(const struct command *cmd, int opt)
{
    const int *p;

    for (p = cmd->opts; *p; p++)
        if (*p == opt)
            return 1;
    return 0;
}

static int add_item(const char **v, size_t *n, const char *item, const char *what)
{
    if (*n >= OPTIONS_MAX_ITEMS) {
        fprintf(stderr, "reportd: more than %d %s\n", OPTIONS_MAX_ITEMS, what);
        return -1;
    }
    v[(*n)++] = item;
    return 0;
}

static int parse_id(const char *s, int64_t *id)
{
    char *end;
    long long v;

    if (*s < '0' || *s > '9')
        return -1;
    v = strtoll(s, &end, 10);
    if (*end != '\0' || v <= 0)
        return -1;
    *id = v;
    return 0;
}

/*
 * Parses one command's options into o.  Returns 0, EXIT_USAGE, EXIT_DATAERR,
 * or PARSE_HELP when -h or --help printed the command's usage.
 */
static int parse_command(const struct command *cmd, int argc, char **argv, struct options *o)
{
    int ch, formats = 0;

    /* 0 makes glibc start afresh, and lets options follow the id ("preview 7 --html"). */
    optind = 0;
    while ((ch = getopt_long(argc, argv, "h", command_options, NULL)) != -1) {
        if (ch == OPT_HELP) {
            help_command(stdout, cmd->name);
            return PARSE_HELP;
        }
        if (ch == '?' || !accepts(cmd, ch))
            return ch == '?' ? usage("%s: bad option", cmd->name)
                             : usage("%s: option not accepted here", cmd->name);
        switch (ch) {
        case OPT_EMAIL:
            o->email = optarg;
            break;
        case OPT_NAME:
            o->name = optarg;
            break;
        case OPT_ROLE:
            o->role = optarg;
            break;
        case OPT_LEVEL:
            o->level = optarg;
            break;
        case OPT_YEARS:
            o->years = optarg;
            break;
        case OPT_FILE:
            o->file = optarg;
            break;
        case OPT_TASK:
            if (add_item(o->tasks, &o->ntasks, optarg, "tasks") == -1)
                return EXIT_DATAERR;
            break;
        case OPT_SKILL:
            if (add_item(o->skills, &o->nskills, optarg, "skills") == -1)
                return EXIT_DATAERR;
            break;
        case OPT_JSON:
            o->json = 1;
            break;
        case OPT_TEXT:
        case OPT_HTML:
        case OPT_EML:
            o->format = ch == OPT_TEXT ? PREVIEW_TEXT : ch == OPT_HTML ? PREVIEW_HTML : PREVIEW_EML;
            formats++;
            break;
        case OPT_STATE:
            o->state = optarg;
            break;
        case OPT_DRAIN:
            o->drain = 1;
            break;
        case OPT_FAILED:
            o->all_failed = 1;
            break;
        case OPT_TO:
            o->to = optarg;
            break;
        case OPT_PROMETHEUS:
            o->prometheus = 1;
            break;
        case OPT_PASSWORD_FILE:
            o->password_file = optarg;
            break;
        }
    }
    if (cmd->run == cmd_send_test && o->to == NULL)
        return usage("%s: needs --to ADDRESS", cmd->name);
    if (formats > 1)
        return usage("%s: give one of --text, --html, --eml", cmd->name);
    if (o->json && o->prometheus)
        return usage("%s: give one of --json, --prometheus", cmd->name);
    if (o->file &&
        (o->email || o->name || o->role || o->level || o->ntasks || o->nskills || o->years))
        return usage("%s: --file cannot be combined with the fields of a single signup", cmd->name);
    argc -= optind;
    argv += optind;
    if (cmd->args & TAKES_ID) {
        int by_email = (cmd->args & TAKES_EMAIL_ID) && o->email;
        int wants_id = !by_email && !o->all_failed;

        if (argc != (wants_id ? 1 : 0))
            return wants_id ? usage("%s: needs one signup id", cmd->name)
                            : usage("%s: takes no signup id here", cmd->name);
        if (wants_id && parse_id(argv[0], &o->id) == -1)
            return usage("%s: a signup id is a positive number", cmd->name);
    } else if (cmd->args & TAKES_WORD) {
        if (argc != 1 || strcmp(argv[0], "copy") != 0)
            return usage("%s: expected \"copy\"", cmd->name);
        o->subcommand = argv[0];
        if (o->to == NULL)
            return usage("%s copy: needs --to URL", cmd->name);
    } else if (argc != 0) {
        return usage("%s: unexpected argument", argv[0]);
    }
    return 0;
}

/* `reportd help [COMMAND]`: argv[0] is "help". */
static int help(int argc, char **argv)
{
    const char *topic = argv[argc > 1 ? 1 : 0];

    if (argc == 1) {
        help_overview(stdout);
        return 0;
    }
    if (argc > 2)
        return usage("%s", "help: takes at most one command");
    /* "help --help" asks about help itself. */
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        topic = "help";
    if (help_command(stdout, topic) == -1)
        return usage("unknown command \"%s\"", argv[1]);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option global_options[] = {
        {"config", required_argument, NULL, 'c'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct options o;
    size_t i;
    int ch, rc;

    memset(&o, 0, sizeof(o));
    while ((ch = getopt_long(argc, argv, "+c:vhV", global_options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o.config_path = optarg;
            break;
        case 'v':
            o.verbose = 1;
            break;
        case 'h':
            help_overview(stdout);
            return 0;
        case 'V':
            printf("reportd %s\n", REPORTD_VERSION);
            return 0;
        default:
            return usage(NULL);
        }
    }
    if (optind >= argc)
        return usage("%s", "no command given");
    if (strcmp(argv[optind], "help") == 0)
        return help(argc - optind, argv + optind);
    /* The daemon reports every delivery; a command-line tool speaks only of trouble. */
    log_init(o.verbose                          ? LOG_PRIO_DEBUG
             : strcmp(argv[optind], "run") == 0 ? LOG_PRIO_INFO
                                                : LOG_PRIO_WARNING,
             -1);
    for (i = 0; i < NELEM(commands); i++) {
        if (strcmp(argv[optind], commands[i].name) != 0)
            continue;
        rc = parse_command(&commands[i], argc - optind, argv + optind, &o);
        if (rc != 0)
            return rc == PARSE_HELP ? 0 : rc;
        /* Once per process, before any thread or handle: libcurl's and SQLite's own rule. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fprintf(stderr, "reportd: cannot initialize libcurl\n");
            return EXIT_SOFTWARE;
        }
        queue_global_init();
        rc = commands[i].run(&o);
        curl_global_cleanup();
        return rc;
    }
    return usage("unknown command \"%s\"", argv[optind]);
}
