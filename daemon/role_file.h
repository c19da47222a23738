/*
 * role_file.h - one role file of the roles directory, read into a struct
 * role (roles.c reads the directory and checks the roles together).
 */
#ifndef REPORTD_ROLE_FILE_H
#define REPORTD_ROLE_FILE_H

#include "roles.h"
#include "util.h"

/* The file name of a role: its id and this suffix. */
#define ROLE_FILE_SUFFIX ".yaml"

/*
 * Reads dir/ID.yaml into role (zeroed by the caller), which takes ownership
 * of id; every problem goes to d, with its position.  A role read with
 * problems is still freed by roles_free's rules (fields may be NULL).
 */
void role_file_load(struct role *role, const char *dir, char *id, struct diag *d);

#endif
