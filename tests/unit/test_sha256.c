/* test_sha256.c - SHA-256 against FIPS 180 examples, HMAC-SHA-256 against RFC 4231. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static void hex_of_sha256(const void *data, size_t len, char *hex)
{
    unsigned char d[SHA256_DIGEST_LEN];

    sha256(data, len, d);
    sha256_hex(d, hex);
}

static void hex_of_hmac(const void *key, size_t keylen, const void *data, size_t len, char *hex)
{
    unsigned char d[SHA256_DIGEST_LEN];

    hmac_sha256(key, keylen, data, len, d);
    sha256_hex(d, hex);
}

/* FIPS 180-2 appendix B and the NIST examples: empty, one block, two blocks. */
static void test_sha256_fips_vectors(void **state)
{
    char hex[SHA256_HEX_LEN];
    static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    (void)state;
    hex_of_sha256("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of_sha256("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_of_sha256(two_blocks, strlen(two_blocks), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* FIPS 180-2 B.3: one million "a", fed in uneven pieces across block edges. */
static void test_sha256_million_a(void **state)
{
    enum { TOTAL = 1000000, PIECE = 997 };
    char *a = malloc(PIECE);
    unsigned char d[SHA256_DIGEST_LEN];
    char hex[SHA256_HEX_LEN];
    struct sha256 c;
    size_t done = 0;

    (void)state;
    assert_non_null(a);
    memset(a, 'a', PIECE);
    sha256_init(&c);
    while (done < TOTAL) {
        size_t n = TOTAL - done < PIECE ? TOTAL - done : PIECE;

        sha256_update(&c, a, n);
        done += n;
    }
    sha256_final(&c, d);
    sha256_hex(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/*
 * Every length around the padding edges (55, 56 and 64 bytes need one more
 * block for the length or not): byte-at-a-time updates agree with one call,
 * and each length gives a different digest.
 */
static void test_sha256_incremental_matches_one_shot(void **state)
{
    unsigned char msg[130], one[SHA256_DIGEST_LEN], inc[SHA256_DIGEST_LEN],
        prev[SHA256_DIGEST_LEN] = {0};
    struct sha256 c;
    size_t len, i;

    (void)state;
    for (i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)(i * 7 + 1);
    for (len = 0; len <= sizeof(msg); len++) {
        sha256(msg, len, one);
        sha256_init(&c);
        for (i = 0; i < len; i++)
            sha256_update(&c, msg + i, 1);
        sha256_final(&c, inc);
        assert_memory_equal(one, inc, SHA256_DIGEST_LEN);
        assert_memory_not_equal(one, prev, SHA256_DIGEST_LEN);
        memcpy(prev, one, sizeof(prev));
    }
}

/* RFC 4231 section 4, test cases 1-4 and 6-7 (SHA-256 column). */
static void test_hmac_rfc4231(void **state)
{
    unsigned char key[131], data[50], seq[25];
    char hex[SHA256_HEX_LEN];
    static const char big_key_msg[] =
        "This is a test using a larger than block-size key and a larger than block-size data. "
        "The key needs to be hashed before being used by the HMAC algorithm.";
    size_t i;

    (void)state;
    memset(key, 0x0b, 20);
    hex_of_hmac(key, 20, "Hi There", 8, hex);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    hex_of_hmac("Jefe", 4, "what do ya want for nothing?", 28, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    memset(key, 0xaa, 20);
    memset(data, 0xdd, 50);
    hex_of_hmac(key, 20, data, 50, hex);
    assert_string_equal(hex, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");

    for (i = 0; i < sizeof(seq); i++)
        seq[i] = (unsigned char)(i + 1);
    memset(data, 0xcd, 50);
    hex_of_hmac(seq, sizeof(seq), data, 50, hex);
    assert_string_equal(hex, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");

    memset(key, 0xaa, sizeof(key));
    hex_of_hmac(key, sizeof(key), "Test Using Larger Than Block-Size Key - Hash Key First", 54,
                hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    hex_of_hmac(key, sizeof(key), big_key_msg, strlen(big_key_msg), hex);
    assert_string_equal(hex, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

/* RFC 4231 test case 5: the output truncated to 128 bits. */
static void test_hmac_rfc4231_truncated(void **state)
{
    unsigned char key[20];
    char hex[SHA256_HEX_LEN];

    (void)state;
    memset(key, 0x0c, sizeof(key));
    hex_of_hmac(key, sizeof(key), "Test With Truncation", 20, hex);
    hex[32] = '\0';
    assert_string_equal(hex, "a3b6167473100ee06e0c796c2955552b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_fips_vectors),
        cmocka_unit_test(test_sha256_million_a),
        cmocka_unit_test(test_sha256_incremental_matches_one_shot),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_hmac_rfc4231_truncated),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
