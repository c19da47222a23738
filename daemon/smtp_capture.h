/*
 * smtp_capture.h - what `reportd preview --eml` shows: a message exactly as
 * libcurl puts it on the wire, without a server.
 */
#ifndef REPORTD_SMTP_CAPTURE_H
#define REPORTD_SMTP_CAPTURE_H

#include "buf.h"
#include "message.h"
#include "util.h"

/*
 * The exact bytes libcurl would send for m after DATA (headers and MIME
 * body, CRLF, dot-unstuffed), captured by an in-process SMTP peer on an
 * abstract Unix socket: what `reportd preview --eml` shows.
 */
int smtp_capture(const struct message *m, struct buf *out, char *err);

#endif
