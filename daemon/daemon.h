/*
 * daemon.h - `reportd run`: the delivery loop.
 *
 * Polls the queue, claims due signups, renders each report, hands it to the
 * SMTP transport and records the outcome back in the queue.  Runs in the
 * foreground as systemd expects (Type=notify, no forking, no pid file).
 * SIGTERM stops claiming and lets in-flight work finish or go back; SIGHUP
 * reloads config, roles and templates, keeping the old ones if the new are
 * broken.
 */
#ifndef REPORTD_DAEMON_H
#define REPORTD_DAEMON_H

#include "runtime.h"
#include "util.h"

/*
 * Runs until SIGTERM/SIGINT, or with drain until nothing is due.  rt is
 * loaded by the caller and owned by the daemon from here on (it is replaced
 * on reload and freed at the end).  Returns 0, or -1 with err.
 */
int daemon_run(struct runtime *rt, const char *config_path, int drain, char *err);

#endif
