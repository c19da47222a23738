/*
 * intake.h - signups as producers hand them to `reportd enqueue`: command
 * line arguments, or a YAML or JSON list in a file (libyaml reads both).
 *
 * A file is read as a stream of libyaml events, one signup at a time, so
 * memory does not grow with the file.  Only the shape is checked here (a
 * list of mappings, known keys, numbers that are numbers);
 * signup_validate() judges the content.
 */
#ifndef REPORTD_INTAKE_H
#define REPORTD_INTAKE_H

#include <stddef.h>

#include "signup.h"
#include "util.h"

/*
 * One enqueue file is one transaction; keep it to what a transaction should
 * hold.  The command keeps each signup's id (8 bytes) until the commit.
 */
#define INTAKE_MAX_SIGNUPS 100000
/*
 * libyaml holds one scalar whole, so the file's size bounds the largest a
 * file can make it hold; 100,000 signups of up to 1 KiB each fit with room.
 */
#define INTAKE_MAX_BYTES ((size_t)128 * 1024 * 1024)

enum intake_status {
    INTAKE_SIGNUP, /* the next signup was read */
    INTAKE_BAD,    /* the next signup is malformed (err says where and why); reading goes on */
    INTAKE_END,    /* the list ended */
    INTAKE_FATAL,  /* nothing more can be read: malformed YAML, not a list, an alias, I/O */
};

/* Where the signup intake_next() last returned (or refused) starts. */
struct intake_pos {
    size_t index; /* 0-based, as in "signups[3]" */
    unsigned long line, column;
};

struct intake;

/* Opens path ("-" for standard input).  -1 with err when it cannot be opened. */
int intake_open(struct intake **inp, const char *path, char *err);
/*
 * Reads the next signup into s (which it initializes; the caller frees it
 * after INTAKE_SIGNUP).  INTAKE_BAD and INTAKE_FATAL fill err with
 * "FILE:LINE:COLUMN: signups[3].tasks[0].share: expected a number >= 0, got \"x\"".
 * After INTAKE_END or INTAKE_FATAL it returns the same again.
 */
enum intake_status intake_next(struct intake *in, struct signup *s, struct intake_pos *pos,
                               char *err);
/* The name used in messages: the path, or "<stdin>". */
const char *intake_name(const struct intake *in);
void intake_close(struct intake *in);

/* Adds "--task ID[=SHARE]" to s.  -1 with "tasks: ..." in err. */
int intake_add_task_arg(struct signup *s, const char *arg, char *err);
/* Sets years from text.  -1 with "years: ..." in err. */
int intake_set_years(struct signup *s, const char *text, char *err);

#endif
