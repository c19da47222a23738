/*
 * enqueue_file.h - `reportd enqueue --file`: a YAML or JSON list of signups
 * read as a stream, each validated, queued in batches inside one write
 * transaction that commits only when every signup was good.
 */
#ifndef REPORTD_ENQUEUE_FILE_H
#define REPORTD_ENQUEUE_FILE_H

#include "intake.h"
#include "queue.h"
#include "roles.h"

/*
 * Signups held in memory before they are inserted: enough that each
 * queue_enqueue() call is worth its overhead, few enough (a few KB each at
 * most) that memory stays flat however long the file.
 */
#define ENQUEUE_BATCH 256

/*
 * Queues every signup in, validated against roles, into the queue at
 * place.  Prints each new id once committed (stdout, in file order),
 * a duplicate address and every bad signup with FILE:LINE:COLUMN (stderr).
 * Nothing is written unless every signup is good.  Returns 0 or an exit
 * status: EXIT_DATAERR for a bad file, EXIT_IOERR for the database.
 */
int enqueue_file(struct intake *in, const struct roles *roles, const struct queue_place *place);

#endif
