/*
 * test_value.c - the template data tree and the arena it lives in: blocks,
 * alignment and big requests; map keys copied and replaced; and numbers
 * written exactly as printf's "%.15g" writes them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "util.h"
#include "value.h"

static void test_arena_keeps_every_allocation(void **state)
{
    struct arena a = ARENA_EMPTY;
    unsigned char *p[2000];
    size_t i;

    /* Enough small pieces to take many blocks: none may overlap another. */
    for (i = 0; i < NELEM(p); i++) {
        p[i] = arena_alloc(&a, 1 + i % 61);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % alignof(max_align_t), 0);
        memset(p[i], (int)(i & 0xff), 1 + i % 61);
    }
    for (i = 0; i < NELEM(p); i++) {
        size_t k;

        for (k = 0; k < 1 + i % 61; k++)
            assert_int_equal(p[i][k], i & 0xff);
    }
    arena_free(&a);
    assert_null(a.blocks);
}

static void test_arena_big_request_gets_its_own_block(void **state)
{
    struct arena a = ARENA_EMPTY;
    size_t big = (size_t)1024 * 1024;
    char *small = arena_alloc(&a, 8), *large = arena_alloc(&a, big), *after;

    assert_non_null(small);
    assert_non_null(large);
    memset(large, 'x', big);
    /* The small block's room is still used after the big one. */
    after = arena_alloc(&a, 8);
    assert_non_null(after);
    memset(after, 'y', 8);
    assert_int_equal(large[big - 1], 'x');
    arena_free(&a);
}

static void test_arena_refuses_impossible_sizes(void **state)
{
    struct arena a = ARENA_EMPTY;

    assert_null(arena_alloc(&a, SIZE_MAX));
    assert_null(arena_alloc(&a, SIZE_MAX - 8));
    assert_null(arena_strndup(&a, "x", SIZE_MAX));
    arena_free(&a);
}

static void test_arena_strndup(void **state)
{
    struct arena a = ARENA_EMPTY;
    char *s = arena_strndup(&a, "hello world", 5);

    assert_string_equal(s, "hello");
    arena_free(&a);
}

static void test_map_keys_copied_and_replaced(void **state)
{
    struct arena a = ARENA_EMPTY;
    struct value *m = value_map(&a);
    char key[8] = "name";
    int i;

    assert_int_equal(value_map_set(m, key, value_string(&a, "Ann")), 0);
    strcpy(key, "zzzz");
    assert_string_equal(value_map_get(m, "name")->u.str.s, "Ann");
    assert_null(value_map_get(m, "zzzz"));
    /* Setting a key again replaces its value, it does not add a pair. */
    assert_int_equal(value_map_set(m, "name", value_string(&a, "Bo")), 0);
    assert_int_equal(m->u.map.n, 1);
    assert_string_equal(value_map_get(m, "name")->u.str.s, "Bo");
    /* Keys of the same length, and prefixes, are told apart. */
    assert_int_equal(value_map_set(m, "nam", value_number(&a, 1)), 0);
    assert_int_equal(value_map_set(m, "namf", value_number(&a, 2)), 0);
    assert_int_equal(value_map_getn(m, "namexyz", 3)->u.number, 1);
    assert_int_equal(value_map_getn(m, "namfxyz", 4)->u.number, 2);
    assert_string_equal(value_map_getn(m, "name.x", 4)->u.str.s, "Bo");
    /* Past the first arrays: every key still found. */
    for (i = 0; i < 100; i++) {
        char k[16];

        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(value_map_set(m, k, value_number(&a, i)), 0);
    }
    for (i = 0; i < 100; i++) {
        char k[16];

        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(value_map_get(m, k)->u.number, i);
    }
    arena_free(&a);
}

static void test_builders_accept_null(void **state)
{
    struct arena a = ARENA_EMPTY;
    struct value *m = value_map(&a), *l = value_list(&a);

    assert_null(value_string(&a, NULL));
    assert_null(value_string_ref(&a, NULL));
    assert_int_equal(value_map_set(m, "x", NULL), -1);
    assert_int_equal(value_list_push(l, NULL), -1);
    assert_int_equal(value_list_push(NULL, value_null(&a)), -1);
    assert_int_equal(value_list_push(m, value_null(&a)), -1);
    assert_int_equal(m->u.map.n, 0);
    arena_free(&a);
}

static void test_string_ref_is_not_copied(void **state)
{
    struct arena a = ARENA_EMPTY;
    static const char text[] = "role data";
    struct value *v = value_string_ref(&a, text);

    assert_ptr_equal(v->u.str.s, text);
    assert_int_equal(v->u.str.len, strlen(text));
    arena_free(&a);
}

static void expect_printf(double d)
{
    char want[64], got[VALUE_NUMBER_MAX];
    size_t n;

    snprintf(want, sizeof(want), "%.15g", d);
    n = value_format_number(d, got);
    assert_int_equal(n, strlen(got));
    if (strcmp(want, got) != 0)
        fail_msg("%a: printf says \"%s\", value_format_number \"%s\"", d, want, got);
}

static void test_numbers_print_as_printf(void **state)
{
    static const double cases[] = {0,
                                   1,
                                   -1,
                                   7,
                                   42,
                                   100,
                                   -100,
                                   2.5,
                                   0.1,
                                   0.25,
                                   33.333333333333336,
                                   7.123456789,
                                   99999999999999,
                                   999999999999999,
                                   -999999999999999,
                                   1e15,
                                   -1e15,
                                   1e15 + 2,
                                   9007199254740993.0,
                                   1e300,
                                   1e-300,
                                   5e-324,
                                   123456789012345.6,
                                   0.5,
                                   -0.5};
    size_t i;
    long k;

    for (i = 0; i < NELEM(cases); i++)
        expect_printf(cases[i]);
    expect_printf(-0.0);
    expect_printf(NAN);
    expect_printf(-NAN);
    expect_printf(INFINITY);
    expect_printf(-INFINITY);
    /* Every whole number a report shows, and their neighbours. */
    for (k = -1000; k <= 100000; k++) {
        expect_printf((double)k);
        expect_printf(nextafter((double)k, INFINITY));
    }
    /* Powers of ten and one less, up past the 15 digits %.15g keeps. */
    for (k = 1, i = 0; i < 18; i++, k *= 10) {
        expect_printf((double)k);
        expect_printf((double)(k - 1));
        expect_printf(-(double)(k - 1));
    }
}

static void test_append_text(void **state)
{
    struct arena a = ARENA_EMPTY;
    struct buf out;

    buf_init(&out);
    assert_int_equal(value_append_text(value_number(&a, 12), &out), 0);
    assert_int_equal(value_append_text(value_bool(&a, 1), &out), 0);
    assert_int_equal(value_append_text(value_bool(&a, 0), &out), 0);
    assert_int_equal(value_append_text(value_null(&a), &out), 0);
    assert_int_equal(value_append_text(value_number(&a, 0.5), &out), 0);
    assert_int_equal(value_append_text(value_stringn(&a, "abc", 2), &out), 0);
    assert_string_equal(buf_str(&out), "12truefalse0.5ab");
    buf_free(&out);
    arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_keeps_every_allocation),
        cmocka_unit_test(test_arena_big_request_gets_its_own_block),
        cmocka_unit_test(test_arena_refuses_impossible_sizes),
        cmocka_unit_test(test_arena_strndup),
        cmocka_unit_test(test_map_keys_copied_and_replaced),
        cmocka_unit_test(test_builders_accept_null),
        cmocka_unit_test(test_string_ref_is_not_copied),
        cmocka_unit_test(test_numbers_print_as_printf),
        cmocka_unit_test(test_append_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
