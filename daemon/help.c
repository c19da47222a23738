/*
 * help.c - every command's usage text.  The overview lists each command's
 * synopsis and summary from the same table that `reportd help COMMAND`
 * prints in full, and tests/integration/test_docs.py holds the man page,
 * the README and the bash completion to it.
 */
#include "help.h"

#include <string.h>

#include "config.h"
#include "util.h"

/* Help is read in a terminal: summaries are wrapped to fit 80 columns. */
#define HELP_WIDTH 78

struct help {
    const char *name;
    /* One synopsis per line, without "reportd [-c FILE] "; leading spaces continue a line. */
    const char *synopsis;
    const char *summary;
    /* The options, one "  --opt ARG   what it does" line each; "" for none. */
    const char *options;
};

static const struct help helps[] = {
    {"run", "run [--drain]\n",
     "Deliver reports in the foreground, as the systemd service does; SIGHUP reloads, SIGTERM "
     "stops.",
     "  --drain              deliver what is due, then exit (75 if the relay cannot be used)\n"},
    {"check-config", "check-config\n",
     "Validate the config, the roles data and the templates together and render a sample report "
     "for every role and level; every problem is printed as file:line:column (exit 78).",
     ""},
    {"send-test", "send-test --to ADDRESS [--role R --level L]\n",
     "Send a sample report through the configured relay and print its reply; nothing is queued.",
     "  --to ADDRESS         where to send it (required)\n"
     "  --role R             the role of the sample (default: the first)\n"
     "  --level L            the level of the sample (default: the first)\n"},
    {"enqueue",
     "enqueue --email E --role R --level L [--name N]\n"
     "        [--task ID[=SHARE]]... [--skill ID]... [--years N]\n"
     "enqueue --file F\n",
     "Queue one signup, or a YAML or JSON list of them, and print the new ids.",
     "  --email E            the subscriber's address\n"
     "  --role R             a role id (a file in roles_dir)\n"
     "  --level L            a level of that role\n"
     "  --name N             the display name\n"
     "  --task ID[=SHARE]    a task id, with the percent of time it takes (repeatable)\n"
     "  --skill ID           a skill id of the role (repeatable)\n"
     "  --years N            years of experience\n"
     "  --file F             a YAML or JSON list of signups ('-': standard input)\n"},
    {"status", "status [--json | --prometheus]\n",
     "Counts per state, uncertain signups held, the oldest waiting signup's age, the last error.",
     "  --json               as one JSON object\n"
     "  --prometheus         as Prometheus text, the same as the metrics.path file\n"},
    {"list", "list [--state S] [--json]\n",
     "One tab-separated line per signup: id, state, email, role, level, attempts, created, "
     "reason.",
     "  --state S            only signups in state S: queued, sending, deferred, held, sent, "
     "failed, rejected\n"
     "  --json               as one JSON array\n"},
    {"show", "show ID [--json]\n",
     "A signup, its attempts, last server reply, Message-ID and history.",
     "  --json               as one JSON object\n"},
    {"preview", "preview (ID | --email E) [--text | --html | --eml]\n",
     "A signup's report exactly as it will be sent, without sending it.",
     "  --email E            the signup of this address instead of an id\n"
     "  --text               the plain-text part (the default)\n"
     "  --html               the HTML part\n"
     "  --eml                the whole message, as libcurl puts it on the wire\n"},
    {"hold", "hold ID\n", "Keep a waiting signup from being sent.", ""},
    {"release", "release ID\n", "Let a held signup go again.", ""},
    {"retry", "retry ID\nretry --failed\n",
     "Put a failed (or deferred) signup, or every failed one, back in the queue.",
     "  --failed             every failed signup\n"},
    {"purge", "purge ID\n",
     "Delete a signup's personal data now: a signup never sent is deleted, a sent one scrubbed.",
     ""},
    {"queue", "queue copy --to URL [--password-file F]\n",
     "Copy the configured SQLite queue, every signup with its state and history, into an empty "
     "PostgreSQL database; refused while a daemon holds claims.",
     "  --to URL             the PostgreSQL database (a postgresql:// URL)\n"
     "  --password-file F    a file holding its password\n"},
    {"help", "help [COMMAND]\n", "This overview, or one command's usage and options.", ""},
};

static const struct help *find(const char *name)
{
    size_t i;

    for (i = 0; i < NELEM(helps); i++)
        if (strcmp(helps[i].name, name) == 0)
            return &helps[i];
    return NULL;
}

/*
 * Each synopsis line after prefix; a line that starts with spaces goes on
 * the one before it, and is indented two columns past the prefix instead.
 */
static void print_synopsis(FILE *f, const char *prefix, const char *synopsis)
{
    const char *line = synopsis, *nl;

    while ((nl = strchr(line, '\n')) != NULL) {
        if (*line == ' ') {
            const char *text = line + strspn(line, " ");

            fprintf(f, "%*s%.*s\n", (int)strlen(prefix) + 2, "", (int)(nl - text), text);
        } else {
            fprintf(f, "%s%.*s\n", prefix, (int)(nl - line), line);
        }
        line = nl + 1;
    }
}

/* Prints text indented by indent columns, broken at spaces to fit HELP_WIDTH. */
static void print_wrapped(FILE *f, int indent, const char *text)
{
    const char *p = text;

    while (*p) {
        size_t room = HELP_WIDTH - (size_t)indent, len = strlen(p), cut = len;

        if (len > room) {
            cut = room;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0) /* one word longer than the line: print it whole */
                cut = strcspn(p, " ");
        }
        fprintf(f, "%*s%.*s\n", indent, "", (int)cut, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
}

void help_overview(FILE *f)
{
    size_t i;

    fputs("usage: reportd [-v] [-c FILE] COMMAND [ARGS]\n"
          "       reportd help [COMMAND] | COMMAND --help\n"
          "\n"
          "commands:\n",
          f);
    for (i = 0; i < NELEM(helps); i++) {
        print_synopsis(f, "  ", helps[i].synopsis);
        print_wrapped(f, 6, helps[i].summary);
    }
    fputs("\n"
          "options:\n"
          "  -c, --config FILE   config file (default $" CONFIG_ENV ",\n"
          "                      else " CONFIG_DEFAULT_PATH ")\n"
          "  -v, --verbose       debug logging\n"
          "  -h, --help          this text\n"
          "  -V, --version       print the version\n"
          "\n"
          "Exit status: 0 done, 1 refused in the signup's state, 64 usage, 65 bad data,\n"
          "66 no such signup, 69 refused by the relay, 74 queue database, 75 temporary,\n"
          "78 configuration.  See reportd(8) and reportd.yaml(5).\n",
          f);
}

int help_command(FILE *f, const char *name)
{
    const struct help *h = find(name);

    if (h == NULL)
        return -1;
    fputs("usage:\n", f);
    print_synopsis(f, "  reportd [-v] [-c FILE] ", h->synopsis);
    fputc('\n', f);
    print_wrapped(f, 0, h->summary);
    fprintf(f, "\noptions:\n%s", h->options);
    fputs("  -h, --help           this text\n", f);
    return 0;
}
