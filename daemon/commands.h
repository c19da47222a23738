/*
 * commands.h - what each `reportd COMMAND` does.  main.c parses the command
 * line into struct options and calls one of these; each returns the exit
 * status (sysexits(3) conventions) and prints its own messages.
 */
#ifndef REPORTD_COMMANDS_H
#define REPORTD_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

/* A signup's tasks and skills given on the command line, at most this many each. */
#define OPTIONS_MAX_ITEMS 128

enum preview_format { PREVIEW_TEXT, PREVIEW_HTML, PREVIEW_EML };

struct options {
    const char *config_path;
    int verbose;
    int json;       /* status, list, show */
    int prometheus; /* status */

    /* enqueue */
    const char *file;
    const char *email;
    const char *name;
    const char *role;
    const char *level;
    const char *years;
    const char *tasks[OPTIONS_MAX_ITEMS];
    size_t ntasks;
    const char *skills[OPTIONS_MAX_ITEMS];
    size_t nskills;

    /* preview, show, hold, release, retry, purge */
    int64_t id; /* 0 when not given */
    enum preview_format format;

    /* list */
    const char *state; /* NULL: every state */

    /* send-test; queue copy: the URL to copy to */
    const char *to;

    /* queue */
    const char *subcommand;    /* "copy" */
    const char *password_file; /* for --to */

    /* run */
    int drain;
    /* retry */
    int all_failed;
};

int cmd_check_config(const struct options *o);
int cmd_enqueue(const struct options *o);
int cmd_status(const struct options *o);
int cmd_preview(const struct options *o);
int cmd_list(const struct options *o);
int cmd_show(const struct options *o);
int cmd_hold(const struct options *o);
int cmd_release(const struct options *o);
int cmd_retry(const struct options *o);
int cmd_purge(const struct options *o);
int cmd_run(const struct options *o);
/* `reportd queue copy --to URL`: the configured queue into a new PostgreSQL one. */
int cmd_queue(const struct options *o);
/* Sends a sample report to o->to through the relay, outside the queue. */
int cmd_send_test(const struct options *o);

#endif
