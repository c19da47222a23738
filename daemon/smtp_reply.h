/*
 * smtp_reply.h - what the relay said, and what it means.  The transport
 * feeds libcurl's debug stream in here (the server's reply lines, the
 * commands we sent) and asks, once a transfer ends, how to classify it.
 */
#ifndef REPORTD_SMTP_REPLY_H
#define REPORTD_SMTP_REPLY_H

#include <stddef.h>

#include <curl/curl.h>

/* Long enough for any SMTP reply line we keep (RFC 5321 says 512). */
#define SMTP_REPLY_MAX 512

enum smtp_status {
    SMTP_SENT,     /* 2xx after DATA */
    SMTP_DEFER,    /* connection failure, timeout, 4xx: try again later */
    SMTP_FAIL,     /* 5xx: permanent */
    SMTP_THROTTLE, /* the relay asks the whole sender to slow down (421/450/451/454 rate wording) */
    SMTP_CONFIG,   /* authentication or TLS problem: ours to fix, not the signup's */
    SMTP_UNREACHABLE, /* no word from the relay (connect, greeting): nothing was sent */
    SMTP_NOT_BUILT,   /* the caller's builder failed on the worker: nothing was sent */
    SMTP_NOT_STARTED, /* no connection was free before its start_by: nothing was sent */
};

/* Long enough for "STARTTLS", the longest SMTP verb we track. */
#define SMTP_VERB_MAX 16
/* RFC 5321 4.3.2: 354 asks for the message data. */
#define SMTP_CODE_GO_AHEAD 354

/* What the debug stream told us about the current transaction. */
struct reply_track {
    char partial[SMTP_REPLY_MAX]; /* the reply line being received */
    size_t plen;
    char last[SMTP_REPLY_MAX];   /* the last complete reply line */
    long code;                   /* its code */
    char command[SMTP_VERB_MAX]; /* the last command sent, "" before any */
    int quitting;                /* QUIT sent: what follows is not the transaction's */
    int greeted;                 /* the reply to the last EHLO or HELO is complete */
    int auth_offered;            /* and it offered AUTH */
    int starttls_sent;           /* STARTTLS was sent: the EHLO after it is the one that counts */
};

void reply_track_reset(struct reply_track *t);
/* Bytes the server sent (CURLINFO_HEADER_IN). */
void reply_track_input(struct reply_track *t, const char *data, size_t n);
/*
 * Bytes we sent (CURLINFO_HEADER_OUT): only known verbs are kept, and
 * nothing while a SASL exchange is under way (those lines are credentials).
 */
void reply_track_output(struct reply_track *t, const char *data, size_t n);

/*
 * Whether the relay's reply to EHLO (or HELO) on the session that will carry
 * the mail offered no AUTH: with a username configured libcurl would then
 * send without authenticating and without a word (7.88 skips AUTH when the
 * server offers none).  starttls: the session upgrades first, so only the
 * EHLO after STARTTLS counts.
 */
int reply_track_lacks_auth(const struct reply_track *t, int starttls);

/*
 * The classification of one finished transfer, pure so it can be tested:
 * libcurl's result, the last reply code (0 when none), the last reply line
 * and the command it answered ("" for the greeting, "AUTH", "MAIL", ...).
 */
enum smtp_status smtp_classify(CURLcode rc, long code, const char *reply, const char *command);

#endif
