/*
 * notify.h - the systemd notification protocol (sd_notify(3)): READY=1,
 * STOPPING=1, STATUS=..., WATCHDOG=1 as datagrams to $NOTIFY_SOCKET.
 * Written here rather than linking libsystemd: it is one sendmsg().
 * Without $NOTIFY_SOCKET every call does nothing and succeeds.
 */
#ifndef REPORTD_NOTIFY_H
#define REPORTD_NOTIFY_H

#include <stdint.h>

#include "util.h"

int notify_send(const char *state);
int notify_ready(void);
int notify_stopping(void);
int notify_reloading(void);
int notify_watchdog(void);
int notify_status(const char *fmt, ...) UTIL_PRINTF(1, 2);
/* The keep-alive interval systemd expects ($WATCHDOG_USEC / 2), or 0 when off. */
int64_t notify_watchdog_interval_ms(void);

#endif
