/* command_queue.c - `reportd queue copy --to URL`: moving a live site's queue into PostgreSQL. */
#define LOG_MODULE "reportd"

#include <stdio.h>

#include "command_util.h"
#include "commands.h"
#include "config.h"
#include "queue.h"
#include "queue_url.h"

int cmd_queue(const struct options *o)
{
    struct queue_place to = {.url = o->to, .password_file = o->password_file};
    struct config c;
    struct queue *q;
    char err[ERRLEN];
    int64_t n;
    int status = 0;

    if (!queue_url_is_postgres(o->to)) {
        fprintf(stderr, "reportd: queue copy: --to expects a postgresql:// URL\n");
        return EXIT_USAGE;
    }
    if (load_config(o, &c) == -1)
        return EXIT_CONFIG;
    if (open_queue(&c, &q, QUEUE_WRITE) == -1) {
        config_free(&c);
        return EXIT_IOERR;
    }
    if (queue_copy(q, &to, &n, err) == -1) {
        fprintf(stderr, "reportd: queue copy: %s\n", err);
        status = EXIT_IOERR;
    } else {
        printf("copied %lld signup%s from %s to %s\n", (long long)n, n == 1 ? "" : "s",
               queue_path(q), queue_place_name(&to));
    }
    queue_close(q);
    config_free(&c);
    return status;
}
