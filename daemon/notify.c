/* notify.c - sd_notify(3) datagrams to $NOTIFY_SOCKET, written out by hand. */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A STATUS= line is for humans in `systemctl status`; keep it one short line. */
#define NOTIFY_STATUS_MAX 256

int notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sun;
    socklen_t len;
    size_t plen;
    ssize_t n;
    int fd;

    if (path == NULL || *path == '\0')
        return 0;
    plen = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sun.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, plen);
    /* '@' names a socket in the abstract namespace: a leading NUL, no terminator. */
    if (path[0] == '@')
        sun.sun_path[0] = '\0';
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] == '/'));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    /*
     * Never wait for the manager: a full socket queue (net.unix.max_dgram_qlen
     * is 10 here) would stop the daemon's loop.  A keep-alive lost that way is
     * followed by the next one.
     */
    n = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sun, len);
    close(fd);
    return n == (ssize_t)strlen(state) ? 0 : -1;
}

int notify_ready(void)
{
    return notify_send("READY=1");
}

int notify_stopping(void)
{
    return notify_send("STOPPING=1");
}

int notify_reloading(void)
{
    return notify_send("RELOADING=1");
}

int notify_watchdog(void)
{
    return notify_send("WATCHDOG=1");
}

int notify_status(const char *fmt, ...)
{
    char msg[NOTIFY_STATUS_MAX];
    va_list ap;
    int n;

    n = snprintf(msg, sizeof(msg), "STATUS=");
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return notify_send(msg);
}

int64_t notify_watchdog_interval_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    char *end;
    long long v;

    if (usec == NULL)
        return 0;
    /* The watchdog may be meant for another process (a wrapper that exec'd us is fine). */
    if (pid && strtoll(pid, NULL, 10) != (long long)getpid())
        return 0;
    v = strtoll(usec, &end, 10);
    if (*end != '\0' || v <= 0)
        return 0;
    /* systemd recommends a keep-alive at half the timeout. */
    return (int64_t)(v / 1000 / 2);
}
