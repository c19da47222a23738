/*
 * metrics.h - the queue's metrics in the Prometheus text exposition format
 * (version 0.0.4), as node_exporter's textfile collector reads them and as
 * `reportd status --prometheus` prints them.  Pure: numbers in, text out.
 *
 * Every name starts with reportd_, every family has its HELP and TYPE
 * lines, and times are in seconds (Prometheus's base unit).
 */
#ifndef REPORTD_METRICS_H
#define REPORTD_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "queue.h"

/* Appends the metrics of m, ages measured at now_ms, to out.  -1 when out ran out of memory. */
int metrics_format(const struct queue_metrics *m, int64_t now_ms, struct buf *out);

#endif
