/*
 * json_out.h - what `status --json`, `list --json` and `show --json` print:
 * a signup record (and its history) or the queue's status as JSON with
 * stable keys (README, "Day to day").  Pure: records in, text out.
 *
 * Times are RFC 3339 UTC strings to the second, or null; absent values are
 * null, never left out, so every object of a kind has the same keys.
 */
#ifndef REPORTD_JSON_OUT_H
#define REPORTD_JSON_OUT_H

#include <stdint.h>

#include "buf.h"
#include "queue.h"

/* A JSON string; in text that is not UTF-8 every non-ASCII byte becomes U+FFFD, so the output is.
 */
void json_out_string(struct buf *b, const char *s);
/* The status object: counts, uncertain, oldest_waiting_seconds, last_error. */
void json_out_status(struct buf *b, const struct queue_stats *st, int64_t now_ms);
/*
 * A signup as an object.  With_history, the object stays open for
 * json_out_event()s and json_out_record_end() closes it.
 */
void json_out_record(struct buf *b, const struct signup_record *r, int with_history);
/* One event of the history; first is 1 for the first one. */
void json_out_event(struct buf *b, const struct queue_event *ev, int first);
void json_out_record_end(struct buf *b);

#endif
