/*
 * help.h - the text of `reportd help`, `reportd --help` and `reportd COMMAND
 * --help`: one place for every command's synopsis and options, so the
 * overview and each command's usage cannot drift apart.
 */
#ifndef REPORTD_HELP_H
#define REPORTD_HELP_H

#include <stdio.h>

/* The overview: the synopsis and one line for each command, then the global options. */
void help_overview(FILE *f);
/* One command's synopsis, what it does and its options.  0, or -1 when there is no such command. */
int help_command(FILE *f, const char *name);

#endif
