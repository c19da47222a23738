/* secret.c - a password from a file or $CREDENTIALS_DIRECTORY (see secret.h). */
#include "secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void credential_path(const char *file, char *path, size_t len)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    const char *base = strrchr(file, '/');
    int n;

    base = base ? base + 1 : file;
    if (dir != NULL && *dir != '\0' && *base != '\0') {
        n = snprintf(path, len, "%s/%s", dir, base);
        if (n > 0 && (size_t)n < len && (strchr(file, '/') == NULL || access(path, F_OK) == 0))
            return;
    }
    snprintf(path, len, "%s", file);
}

void secret_free(char *s)
{
    if (s != NULL)
        explicit_bzero(s, strlen(s));
    free(s);
}

int secret_read_file(const char *key, const char *file, char **out, char *err)
{
    char path[SECRET_PATH_MAX], e[ERRLEN];
    char *data;
    size_t len;

    *out = NULL;
    credential_path(file, path, sizeof(path));
    if (read_file(path, SECRET_MAX, &data, &len, e) == -1)
        return errf(err, "%s: %s", key, e);
    if (len > 0 && data[len - 1] == '\n')
        data[--len] = '\0';
    if (len > 0 && data[len - 1] == '\r')
        data[--len] = '\0';
    if (len == 0 || memchr(data, '\0', len) != NULL || strpbrk(data, "\r\n") != NULL) {
        explicit_bzero(data, len);
        free(data);
        return errf(err, "%s: %s: %s", key, path,
                    len == 0 ? "is empty" : "holds more than one line");
    }
    *out = data;
    return 0;
}
