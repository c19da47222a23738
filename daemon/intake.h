/*
 * intake.h - signups as producers hand them to `reportd enqueue`: command
 * line arguments, or a YAML or JSON list in a file (libyaml reads both).
 *
 * Only the shape is checked here (a list of mappings, known keys, numbers
 * that are numbers); signup_validate() judges the content.
 */
#ifndef REPORTD_INTAKE_H
#define REPORTD_INTAKE_H

#include <stddef.h>

#include "signup.h"
#include "util.h"

/* One enqueue file is one transaction; keep it to what a transaction should hold. */
#define INTAKE_MAX_SIGNUPS 100000

struct intake {
    struct signup *v;
    size_t n;
    unsigned long *line; /* where each signup starts in the file, for messages */
};

/*
 * Reads path ("-" for standard input).  Returns 0, or -1 with
 * "FILE:LINE:COLUMN: signups[3].tasks[0].share: expected a number >= 0, got \"x\"".
 */
int intake_load(struct intake *in, const char *path, char *err);
void intake_free(struct intake *in);

/* Adds "--task ID[=SHARE]" to s.  -1 with "tasks: ..." in err. */
int intake_add_task_arg(struct signup *s, const char *arg, char *err);
/* Sets years from text.  -1 with "years: ..." in err. */
int intake_set_years(struct signup *s, const char *text, char *err);

#endif
