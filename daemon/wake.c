/*
 * wake.c - inotify on the queue's directory: the database and its WAL file
 * changed, so a producer may have committed a signup; or, for a PostgreSQL
 * queue, the LISTEN connection of pg_listen.c.
 */
#include "wake.h"

#include "pg_listen.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* Room for several events at once: each is a header and a name of up to NAME_MAX. */
#define WAKE_READ_BYTES (16 * (sizeof(struct inotify_event) + NAME_MAX + 1))
/* "<db>-wal" */
#define WAKE_WAL_SUFFIX "-wal"

struct wake {
    struct pg_listen *listen; /* a PostgreSQL queue: everything else is unused */
    int fd;
    char *base; /* the database's file name, without its directory */
    char *wal;  /* base + "-wal" */
};

static int split_path(struct wake *w, const char *db_path, char *dir, size_t dirlen, char *err)
{
    const char *slash = strrchr(db_path, '/');
    size_t n;

    if (slash == NULL) {
        snprintf(dir, dirlen, ".");
        w->base = strdup(db_path);
    } else {
        n = (size_t)(slash - db_path);
        if (n >= dirlen)
            return errf(err, "%s: directory name too long to watch", db_path);
        memcpy(dir, db_path, n);
        dir[n == 0 ? 1 : n] = '\0';
        if (n == 0)
            dir[0] = '/';
        w->base = strdup(slash + 1);
    }
    if (w->base == NULL)
        return errf(err, "out of memory");
    w->wal = malloc(strlen(w->base) + sizeof(WAKE_WAL_SUFFIX));
    if (w->wal == NULL)
        return errf(err, "out of memory");
    sprintf(w->wal, "%s" WAKE_WAL_SUFFIX, w->base);
    return 0;
}

int wake_open(struct wake **wp, const struct queue_place *place, char *err)
{
    struct wake *w = calloc(1, sizeof(*w));
    const char *db_path = place->path;
    char dir[PATH_MAX];

    *wp = NULL;
    if (w == NULL)
        return errf(err, "out of memory");
    w->fd = -1;
    if (place->url != NULL) {
        if (pg_listen_open(&w->listen, place, err) == -1) {
            wake_close(w);
            return -1;
        }
        *wp = w;
        return 0;
    }
    if (split_path(w, db_path, dir, sizeof(dir), err) == -1) {
        wake_close(w);
        return -1;
    }
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd == -1) {
        errf(err, "inotify: %s", strerror(errno));
        wake_close(w);
        return -1;
    }
    /* A commit modifies the WAL; a new WAL file is created, or renamed into place by tools. */
    if (inotify_add_watch(w->fd, dir, IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO) == -1) {
        errf(err, "inotify: cannot watch %s: %s", dir, strerror(errno));
        wake_close(w);
        return -1;
    }
    *wp = w;
    return 0;
}

void wake_close(struct wake *w)
{
    if (w == NULL)
        return;
    pg_listen_close(w->listen);
    if (w->fd != -1)
        close(w->fd);
    free(w->base);
    free(w->wal);
    free(w);
}

int wake_fd(const struct wake *w)
{
    if (w->listen != NULL)
        return pg_listen_fd(w->listen);
    return w->fd;
}

int wake_check(struct wake *w)
{
    char events[WAKE_READ_BYTES] __attribute__((aligned(__alignof__(struct inotify_event))));
    int changed = 0;
    ssize_t n;

    if (w->listen != NULL)
        return pg_listen_check(w->listen);
    while ((n = read(w->fd, events, sizeof(events))) > 0) {
        char *p = events;

        while (p < events + n) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;

            /* An overflowed queue lost events: one of them may have been ours. */
            if ((ev->mask & IN_Q_OVERFLOW) ||
                (ev->len > 0 && (strcmp(ev->name, w->wal) == 0 || strcmp(ev->name, w->base) == 0)))
                changed = 1;
            p += sizeof(*ev) + ev->len;
        }
    }
    return changed;
}
