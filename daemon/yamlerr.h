/*
 * yamlerr.h - libyaml's parse errors told the way a person editing the file
 * needs them.  libyaml names a tab in the indentation "found character that
 * cannot start any token", and reports a mis-indented key where it noticed
 * the damage; this looks at the text itself for those two mistakes.
 */
#ifndef REPORTD_YAMLERR_H
#define REPORTD_YAMLERR_H

#include <stddef.h>

/* Where a YAML problem is, 1-based, and what it is. */
struct yamlerr {
    unsigned long line;
    unsigned long column;
    char message[512];
};

/*
 * Explains a libyaml parse error in text (len bytes).  problem and context are
 * libyaml's (context may be NULL), line and column its 1-based mark.  Fills e
 * with the position and message to show: a tab in the indentation of a line
 * up to the mark, or a line indented deeper or shallower than its siblings
 * when libyaml says it did not find an expected key or that mapping values are
 * not allowed; otherwise libyaml's own words and mark.
 */
void yamlerr_explain(const char *text, size_t len, const char *problem, const char *context,
                     unsigned long line, unsigned long column, struct yamlerr *e);

#endif
