/*
 * metrics_file.c - metrics.path kept current: the queue read, formatted by
 * metrics.c, and put in place with a rename so that node_exporter never
 * reads a file half-written.
 */
#define LOG_MODULE "metrics"

#include "metrics_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "metrics.h"

/* Room for metrics.path and the temporary name beside it. */
#define METRICS_PATH_MAX 4096

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int metrics_write_file(const char *path, const char *text, size_t len, char *err)
{
    char tmp[METRICS_PATH_MAX];
    int fd, saved;

    /* Not ending in .prom: node_exporter reads only *.prom, so never this one. */
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp))
        return errf(err, "%s: path too long", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, METRICS_FILE_MODE);
    if (fd == -1)
        return errf(err, "%s: cannot create: %s", tmp, strerror(errno));
    if (fchmod(fd, METRICS_FILE_MODE) == -1 || write_all(fd, text, len) == -1 || fsync(fd) == -1) {
        saved = errno;
        close(fd);
        unlink(tmp);
        return errf(err, "%s: cannot write: %s", tmp, strerror(saved));
    }
    if (close(fd) == -1 || rename(tmp, path) == -1) {
        saved = errno;
        unlink(tmp);
        return errf(err, "%s: cannot put in place: %s", path, strerror(saved));
    }
    return 0;
}

/* Reads, formats and writes once: 0, or -1 with err. */
static int write_metrics(struct queue *q, const char *path, char *err)
{
    struct queue_metrics *m = malloc(sizeof(*m));
    struct buf b;
    int rc = -1;

    if (m == NULL)
        return errf(err, "%s: out of memory", path);
    buf_init(&b);
    if (queue_metrics(q, m, err) == 0) {
        if (metrics_format(m, now_ms(), &b) == -1)
            errf(err, "%s: out of memory", path);
        else
            rc = metrics_write_file(path, buf_str(&b), b.len, err);
    }
    buf_free(&b);
    free(m);
    return rc;
}

void metrics_writer_tick(struct metrics_writer *w, struct queue *q, const char *path, int force)
{
    char err[ERRLEN];
    int64_t now = monotonic_ms(), took;
    int rc;

    if (path == NULL || *path == '\0' || q == NULL || (!force && now < w->next_ms))
        return;
    rc = write_metrics(q, path, err);
    took = monotonic_ms() - now;
    w->next_ms = now + (took * METRICS_MAX_SHARE > METRICS_INTERVAL_MS ? took * METRICS_MAX_SHARE
                                                                       : METRICS_INTERVAL_MS);
    if (rc == 0) {
        if (w->last_error[0] != '\0')
            log_notice("metrics written again to %s", path);
        w->last_error[0] = '\0';
        return;
    }
    if (strcmp(err, w->last_error) != 0)
        log_warnx("metrics not written (trying again in %llds): %s",
                  (long long)((w->next_ms - now + 999) / 1000), err);
    snprintf(w->last_error, sizeof(w->last_error), "%s", err);
}

int64_t metrics_writer_next(const struct metrics_writer *w, const char *path)
{
    return path == NULL || *path == '\0' ? INT64_MAX : w->next_ms;
}
