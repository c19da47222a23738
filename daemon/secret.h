/*
 * secret.h - reading a password from a file: one line, under systemd's
 * LoadCredential= looked up in $CREDENTIALS_DIRECTORY (a bare name always,
 * a path only when that copy exists).  Used for smtp.password_file and
 * queue.password_file.
 */
#ifndef REPORTD_SECRET_H
#define REPORTD_SECRET_H

#include "util.h"

/* A path under $CREDENTIALS_DIRECTORY. */
#define SECRET_PATH_MAX 4096
/* A password is a line, not a document: anything longer is the wrong file. */
#define SECRET_MAX 4096

/* *out gets the password (free with secret_free).  0, or -1 with "KEY: PATH: why" in err. */
int secret_read_file(const char *key, const char *file, char **out, char *err);
/* Wipes and frees a secret. */
void secret_free(char *s);

#endif
