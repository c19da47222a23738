/*
 * command_util.h - the steps the commands share: the config's path, loading
 * config (and roles and templates), opening the queue.  Each prints its own
 * problems to stderr.
 */
#ifndef REPORTD_COMMAND_UTIL_H
#define REPORTD_COMMAND_UTIL_H

#include "commands.h"
#include "config.h"
#include "queue.h"
#include "runtime.h"
#include "util.h"

/* -c, else $REPORTD_CONFIG, else the default path. */
const char *config_path_of(const struct options *o);
void print_diag(const struct diag *d);
/* Config alone: enough for the queue commands, which must work when roles are broken.  0 or -1. */
int load_config(const struct options *o, struct config *c);
/* Config, roles and (with_templates) templates.  0 or -1. */
int load_runtime(const struct options *o, struct runtime *rt, int with_templates);

/* Read-only commands open without the write lock: they work while a website holds a long write. */
enum queue_access { QUEUE_READ, QUEUE_WRITE };

/* 0, or -1 (printed). */
int open_queue(const struct config *c, struct queue **q, enum queue_access access);

#endif
