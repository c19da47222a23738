/*
 * command_util.c - what every `reportd COMMAND` starts with: finding and
 * loading the configuration, and opening the queue the way it needs.
 */
#include "command_util.h"

#include <stdio.h>
#include <stdlib.h>

const char *config_path_of(const struct options *o)
{
    const char *env;

    if (o->config_path)
        return o->config_path;
    env = getenv(CONFIG_ENV);
    return env && *env ? env : CONFIG_DEFAULT_PATH;
}

void print_diag(const struct diag *d)
{
    fputs(buf_str(&d->text), stderr);
}

/* Config alone: enough for the queue commands, which must work when roles are broken. */
int load_config(const struct options *o, struct config *c)
{
    struct diag d;
    int rc;

    diag_init(&d);
    rc = config_load(c, config_path_of(o), &d);
    if (rc == -1)
        print_diag(&d);
    diag_free(&d);
    return rc;
}

int load_runtime(const struct options *o, struct runtime *rt, int with_templates)
{
    struct diag d;
    int rc;

    diag_init(&d);
    rc = with_templates ? runtime_load(rt, config_path_of(o), &d)
                        : runtime_load_data(rt, config_path_of(o), &d);
    if (rc == -1)
        print_diag(&d);
    diag_free(&d);
    return rc;
}

int open_queue(const struct config *c, struct queue **q, enum queue_access access)
{
    char err[ERRLEN];
    int rc = access == QUEUE_READ ? queue_open_readonly_at(q, &c->queue, err)
                                  : queue_open_at(q, &c->queue, err);

    if (rc != 0) {
        fprintf(stderr, "reportd: %s\n", err);
        return -1;
    }
    return 0;
}
