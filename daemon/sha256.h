/*
 * sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104), for the
 * keyed address hash that stands in for a scrubbed subscriber's address.
 * Not constant-time beyond what the algorithm is by nature; nothing here
 * compares secrets.
 */
#ifndef REPORTD_SHA256_H
#define REPORTD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_BLOCK_LEN  64
/* A digest as lowercase hex, with its NUL. */
#define SHA256_HEX_LEN (2 * SHA256_DIGEST_LEN + 1)

struct sha256 {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    unsigned char block[SHA256_BLOCK_LEN];
    size_t used; /* bytes waiting in block */
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, unsigned char out[SHA256_DIGEST_LEN]);
void sha256(const void *data, size_t len, unsigned char out[SHA256_DIGEST_LEN]);

void hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                 unsigned char out[SHA256_DIGEST_LEN]);

/* Writes the digest as 64 lowercase hex digits and a NUL. */
void sha256_hex(const unsigned char digest[SHA256_DIGEST_LEN], char out[SHA256_HEX_LEN]);

#endif
