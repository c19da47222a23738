/*
 * fuzz_json.c - libFuzzer target for the queue's reader of tasks and skills
 * lists (queue_json.c).  Any bytes: it never reads past their end and ends
 * every list in a bounded number of steps.  When SQLite calls the bytes a
 * JSON array (what the queue checks before it reads one), the reader finds
 * exactly as many elements and never calls the list invalid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "queue_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* SQLite's verdict: the number of elements of a valid array, else -1. */
static long sqlite_array_length(sqlite3 *db, const uint8_t *data, size_t size)
{
    sqlite3_stmt *st;
    long n = -1;

    if (sqlite3_prepare_v2(db,
                           "SELECT CASE WHEN json_valid(?1) AND json_type(?1) = 'array'"
                           " THEN json_array_length(?1) END",
                           -1, &st, NULL) != SQLITE_OK)
        abort();
    if (sqlite3_bind_text(st, 1, (const char *)data, (int)size, SQLITE_STATIC) != SQLITE_OK)
        abort();
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sqlite3 *db;
    struct queue_json_list l;
    struct queue_json_elem e;
    enum queue_json_status st;
    long want, n = 0;

    /* SQLite reads text up to a NUL; so does the queue's column. */
    if (memchr(data, 0, size) != NULL || size > 1 << 16)
        return 0;
    if (db == NULL && sqlite3_open(":memory:", &db) != SQLITE_OK)
        abort();
    want = sqlite_array_length(db, data, size);
    queue_json_list_init(&l, (const char *)data, size);
    while ((st = queue_json_list_next(&l, &e)) == QUEUE_JSON_ELEMENT) {
        if (e.type == JT_STRING && e.atom.len > size)
            abort();
        if (++n > (long)size)
            abort();
    }
    queue_json_list_free(&l);
    if (want >= 0 && (st != QUEUE_JSON_END || n != want))
        abort();
    return 0;
}
