/*
 * test_queue_json.c - the one-pass reader of tasks and skills lists, checked
 * against SQLite's own JSON functions (what the queue used before it): for
 * every list below, each element's kind, string, "id", "share" and first
 * other key must be what json_each() and json_extract() say.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "queue_json.h"

/* SQLite's reading of each element, in the columns of enum queue_elem_column. */
#define SQLITE_ELEMENTS                                                                            \
    "SELECT e.type, e.atom,"                                                                       \
    " CASE WHEN e.type = 'object' THEN json_type(e.value, '$.id') END,"                            \
    " CASE WHEN e.type = 'object' THEN json_extract(e.value, '$.id') END,"                         \
    " CASE WHEN e.type = 'object' THEN json_type(e.value, '$.share') END,"                         \
    " CASE WHEN e.type = 'object' THEN json_extract(e.value, '$.share') END,"                      \
    " CASE WHEN e.type = 'object' THEN (SELECT k.key FROM json_each(e.value) AS k"                 \
    "  WHERE k.key NOT IN ('id', 'share') LIMIT 1) END"                                            \
    " FROM json_each(?1) AS e ORDER BY e.key"

static const char *const lists[] = {
    "[]",
    " [ ] ",
    "[\"api-design\",\"debugging\"]",
    "[{\"id\":\"api-design\",\"share\":40},\"debugging\",{\"id\":\"code-review\",\"share\":12.5}]",
    "[ {\"share\" : 1e1 , \"id\" : \"x\"} ]",
    "[{\"id\":\"a\",\"share\":null}]",
    "[{\"id\":\"a\",\"share\":\"40\"}]",
    "[{\"id\":7}]",
    "[{\"id\":null,\"share\":-0.5}]",
    "[{}]",
    "[{\"share\":3}]",
    "[{\"id\":\"a\",\"extra\":[1,{\"x\":\"]}\"}],\"more\":true}]",
    "[{\"id\":\"a\",\"id\":\"b\"}]",
    "[{\"id\":{\"nested\":[\"deep\"]}}]",
    "[1,2.5,-3e-2,true,false,null,[\"x\"],{\"id\":\"y\"}]",
    "[\"tab\\there\",\"quote\\\"back\\\\slash\\/\",\"\\u00e9t\\u00E9\",\"\\ud83d\\ude00\"]",
    "[\"line\\nbreak\"]",
    "[\"caf\xc3\xa9\",{\"id\":\"\xe2\x82\xac\",\"share\":100}]",
    "[{\"k\\\"ey\":1,\"id\":\"a\"}]",
    "[\"a\"\n,\r\n\t\"b\"]",
};

static void expect_text(const char *what, size_t i, const unsigned char *want, int want_len,
                        const struct queue_cell *got)
{
    if (want == NULL) {
        if (got->type == CELL_TEXT)
            fail_msg("element %zu %s: SQLite has none, the reader has \"%.*s\"", i, what,
                     (int)got->len, got->text);
        return;
    }
    if (got->type != CELL_TEXT || got->len != (size_t)want_len ||
        memcmp(got->text, want, (size_t)want_len) != 0)
        fail_msg("element %zu %s: SQLite \"%.*s\", the reader \"%.*s\"", i, what, want_len,
                 (const char *)want, (int)got->len, got->type == CELL_TEXT ? got->text : "");
}

/* Compares the reader with SQLite on one list. */
static void compare_with_sqlite(sqlite3 *db, const char *json)
{
    struct queue_json_list l;
    struct queue_json_elem e;
    sqlite3_stmt *st;
    size_t i = 0;

    assert_int_equal(sqlite3_prepare_v2(db, SQLITE_ELEMENTS, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC), SQLITE_OK);
    queue_json_list_init(&l, json, strlen(json));
    for (;; i++) {
        int rc = sqlite3_step(st);
        enum queue_json_status got = queue_json_list_next(&l, &e);

        if (rc == SQLITE_DONE) {
            if (got != QUEUE_JSON_END)
                fail_msg("%s: SQLite ends after %zu elements, the reader does not (%d)", json, i,
                         got);
            break;
        }
        assert_int_equal(rc, SQLITE_ROW);
        if (got != QUEUE_JSON_ELEMENT)
            fail_msg("%s: element %zu: the reader says %d", json, i, got);
        assert_int_equal(e.type, queue_codec_json_type((const char *)sqlite3_column_text(st, 0)));
        if (e.type == JT_STRING)
            expect_text("string", i, sqlite3_column_text(st, 1), sqlite3_column_bytes(st, 1),
                        &e.atom);
        if (e.type != JT_OBJECT)
            continue;
        if (e.id_type != queue_codec_json_type((const char *)sqlite3_column_text(st, 2)))
            fail_msg("%s: element %zu: the id's kind differs", json, i);
        if (e.id_type == JT_STRING)
            expect_text("id", i, sqlite3_column_text(st, 3), sqlite3_column_bytes(st, 3), &e.id);
        assert_int_equal(e.share_type,
                         queue_codec_json_type((const char *)sqlite3_column_text(st, 4)));
        if (e.share_type == JT_NUMBER)
            assert_true(e.share == sqlite3_column_double(st, 5));
        if (sqlite3_column_type(st, 6) == SQLITE_NULL)
            assert_null(e.extra_key);
        else if (e.extra_key == NULL ||
                 strcmp(e.extra_key, (const char *)sqlite3_column_text(st, 6)))
            fail_msg("%s: element %zu: first other key: SQLite \"%s\", the reader \"%s\"", json, i,
                     sqlite3_column_text(st, 6), e.extra_key ? e.extra_key : "(none)");
    }
    queue_json_list_free(&l);
    sqlite3_finalize(st);
}

static void test_reader_agrees_with_sqlite(void **state)
{
    sqlite3 *db;
    size_t i;

    (void)state;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        compare_with_sqlite(db, lists[i]);
    sqlite3_close(db);
}

/* Text that is not an array, or stops short, is INVALID: never read past its end. */
static void test_reader_refuses_what_is_not_an_array(void **state)
{
    static const char *const bad[] = {"",
                                      "{}",
                                      "\"x\"",
                                      "[",
                                      "[\"a\"",
                                      "[\"a\" \"b\"]",
                                      "[\"unterminated]",
                                      "[{\"id\":\"a\"",
                                      "[{\"id\"}]",
                                      "[\"bad escape \\q\"]",
                                      "[\"\\u12\"]"};
    struct queue_json_list l;
    struct queue_json_elem e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum queue_json_status st;
        int n = 0;

        queue_json_list_init(&l, bad[i], strlen(bad[i]));
        while ((st = queue_json_list_next(&l, &e)) == QUEUE_JSON_ELEMENT && n < 10)
            n++;
        if (st != QUEUE_JSON_INVALID)
            fail_msg("\"%s\": %d after %d elements, not INVALID", bad[i], st, n);
        queue_json_list_free(&l);
    }
}

/*
 * An escaped NUL is kept, length and all, for the codec to refuse (SQLite's
 * json_each() cuts the string there; the queue's problem column refuses
 * such a list before its elements are read).
 */
static void test_reader_keeps_escaped_nul(void **state)
{
    const char *json = "[\"nul\\u0000inside\"]";
    struct queue_json_list l;
    struct queue_json_elem e;

    (void)state;
    queue_json_list_init(&l, json, strlen(json));
    assert_int_equal(queue_json_list_next(&l, &e), QUEUE_JSON_ELEMENT);
    assert_int_equal(e.atom.len, 10);
    assert_memory_equal(e.atom.text, "nul\0inside", 10);
    assert_int_equal(queue_json_list_next(&l, &e), QUEUE_JSON_END);
    queue_json_list_free(&l);
}

/*
 * A key is read as JSON means it: "\u0069d" is "id", as PostgreSQL's jsonb
 * has it (SQLite 3.40's json_extract() compares keys as written).
 */
static void test_reader_unescapes_keys(void **state)
{
    const char *json = "[{\"\\u0069d\":\"escaped key\",\"sh\\u0061re\":5,\"n\\u00e9\":1}]";
    struct queue_json_list l;
    struct queue_json_elem e;

    (void)state;
    queue_json_list_init(&l, json, strlen(json));
    assert_int_equal(queue_json_list_next(&l, &e), QUEUE_JSON_ELEMENT);
    assert_int_equal(e.id_type, JT_STRING);
    assert_int_equal(e.id.len, strlen("escaped key"));
    assert_memory_equal(e.id.text, "escaped key", e.id.len);
    assert_int_equal(e.share_type, JT_NUMBER);
    assert_true(e.share == 5);
    assert_string_equal(e.extra_key, "n\xc3\xa9");
    queue_json_list_free(&l);
}

/* The length is the end: a list cut short inside a longer buffer is not read on. */
static void test_reader_stops_at_len(void **state)
{
    const char *json = "[\"a\",\"b\"]garbage";
    struct queue_json_list l;
    struct queue_json_elem e;

    (void)state;
    queue_json_list_init(&l, json, 6);
    assert_int_equal(queue_json_list_next(&l, &e), QUEUE_JSON_ELEMENT);
    assert_int_equal(queue_json_list_next(&l, &e), QUEUE_JSON_INVALID);
    queue_json_list_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_agrees_with_sqlite),
        cmocka_unit_test(test_reader_refuses_what_is_not_an_array),
        cmocka_unit_test(test_reader_keeps_escaped_nul),
        cmocka_unit_test(test_reader_unescapes_keys),
        cmocka_unit_test(test_reader_stops_at_len),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
