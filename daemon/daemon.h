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

enum daemon_result {
    DAEMON_DONE = 0,      /* stopped by SIGTERM, or drained */
    DAEMON_STOPPED = -1,  /* could not go on: relay authentication/TLS (drain), transport */
    DAEMON_NO_QUEUE = -2, /* the queue database could not be opened or used */
};

/*
 * Holds SIGTERM, SIGINT and SIGHUP back from the very start of `reportd run`,
 * before the configuration is loaded: one that comes while the daemon starts
 * waits, and stops (or reloads) it cleanly once it runs.
 */
void daemon_hold_signals(void);

/*
 * Runs until SIGTERM/SIGINT, or with drain until nothing is due.  rt is
 * loaded by the caller and owned by the daemon from here on (it is replaced
 * on reload and freed at the end).  verbose forces debug logging.  Returns
 * DAEMON_DONE, or a failure with err.
 */
int daemon_run(struct runtime *rt, const char *config_path, int drain, int verbose, char *err);

#endif
