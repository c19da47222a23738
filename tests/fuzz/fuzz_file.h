/*
 * fuzz_file.h - hands a fuzzer's input to a loader that reads a path: one
 * temporary file per process, rewritten for every input.  Header-only
 * because each fuzz target is one binary built from one source.
 */
#ifndef REPORTD_FUZZ_FILE_H
#define REPORTD_FUZZ_FILE_H

#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_tmp_dir[256];

static inline int fuzz_remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

/* At exit: the directory and what the inputs left in it. */
static inline void fuzz_remove_dir(void)
{
    if (fuzz_tmp_dir[0] != '\0')
        nftw(fuzz_tmp_dir, fuzz_remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/*
 * Writes data to dir/name, making dir (under $TMPDIR) on first use and
 * removing it at exit.
 * Returns the file's path, or aborts: a harness that cannot write its
 * input would otherwise report every input as harmless.
 */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[512];
    FILE *f;

    if (fuzz_tmp_dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");

        snprintf(fuzz_tmp_dir, sizeof(fuzz_tmp_dir), "%s/reportd-fuzz-XXXXXX", tmp ? tmp : "/tmp");
        if (mkdtemp(fuzz_tmp_dir) == NULL) {
            perror("mkdtemp");
            abort();
        }
        atexit(fuzz_remove_dir);
    }
    snprintf(path, sizeof(path), "%s/%s", fuzz_tmp_dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* The directory part of path (out may be path). */
static inline const char *fuzz_dir(const char *path, char *out, size_t outlen)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;

    if (n >= outlen)
        abort();
    memmove(out, path, n); /* out may be path itself */
    out[n] = '\0';
    return out;
}

/* A NUL-terminated copy of the input, for functions that take C strings. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
