/*
 * smtp_reply.c - what the relay said, and what it means: the server's
 * replies and our commands followed from libcurl's debug stream, and each
 * finished transfer classified.  Pure functions of what was seen.
 */
#include "smtp_reply.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* RFC 4954 4: the server's "334" asks for the next line of a SASL exchange. */
#define SMTP_SASL_CONTINUE 334

/* --- classification ----------------------------------------------------- */

/* libcurl results that mean our TLS or authentication setup is wrong. */
static const CURLcode config_errors[] = {
    CURLE_LOGIN_DENIED,
    CURLE_AUTH_ERROR,
    CURLE_USE_SSL_FAILED, /* STARTTLS not offered: never fall back to cleartext */
    CURLE_PEER_FAILED_VERIFICATION,
    CURLE_SSL_CONNECT_ERROR,
    CURLE_SSL_ENGINE_NOTFOUND,
    CURLE_SSL_ENGINE_SETFAILED,
    CURLE_SSL_CERTPROBLEM,
    CURLE_SSL_CIPHER,
    CURLE_SSL_ENGINE_INITFAILED,
    CURLE_SSL_CACERT_BADFILE,
    CURLE_SSL_CRL_BADFILE,
    CURLE_SSL_ISSUER_ERROR,
    CURLE_SSL_PINNEDPUBKEYNOTMATCH,
    CURLE_SSL_INVALIDCERTSTATUS,
    CURLE_SSL_CLIENTCERT,
    CURLE_UNSUPPORTED_PROTOCOL,
    CURLE_NOT_BUILT_IN,
    CURLE_URL_MALFORMAT,
};

/* Reply codes about authentication wherever they come (RFC 4954 6). */
static const long auth_codes[] = {530, 534, 535, 538};

/* Transient codes a relay uses when it wants the sender to back off. */
static const long throttle_codes[] = {421, 450, 451, 454};

/* Commands before the recipient is named: a refusal there refuses every message. */
static const char *const session_commands[] = {"", "EHLO", "HELO", "STARTTLS", "AUTH", "MAIL"};

/* RFC 5321 3.8: the server is closing the transmission channel. */
#define SMTP_CODE_CLOSING 421

/* RFC 5321 4.5.3.1.10: 552 to MAIL is the message's own size, not the sender. */
#define SMTP_CODE_TOO_BIG 552

static int in_codes(long code, const long *codes, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (codes[i] == code)
            return 1;
    return 0;
}

static int is_config_error(CURLcode rc)
{
    size_t i;

    for (i = 0; i < NELEM(config_errors); i++)
        if (config_errors[i] == rc)
            return 1;
    return 0;
}

static int is_session_command(const char *command)
{
    size_t i;

    for (i = 0; i < NELEM(session_commands); i++)
        if (strcasecmp(command, session_commands[i]) == 0)
            return 1;
    return 0;
}

/* "rate" only as the start of a word: "generate" says nothing about rates. */
static int mentions_rate(const char *text)
{
    const char *p;

    for (p = strcasestr(text, "rate"); p != NULL; p = strcasestr(p + 1, "rate"))
        if (p == text || !isalpha((unsigned char)p[-1]))
            return 1;
    return 0;
}

/*
 * Rate-limit wording only: "try again later" alone is what any temporary
 * failure says, and treating it as throttling would never count an attempt.
 */
static int asks_to_slow_down(const char *reply)
{
    static const char *const phrases[] = {"throttl", "too many", "slow down"};
    size_t i;

    for (i = 0; i < NELEM(phrases); i++)
        if (strcasestr(reply, phrases[i]) != NULL)
            return 1;
    return mentions_rate(reply);
}

enum smtp_status smtp_classify(CURLcode rc, long code, const char *reply, const char *command)
{
    if (reply == NULL)
        reply = "";
    if (command == NULL)
        command = "";
    if (rc == CURLE_OK)
        return SMTP_SENT;
    if (is_config_error(rc) || in_codes(code, auth_codes, NELEM(auth_codes)))
        return SMTP_CONFIG;
    /* Not a word from the server: nothing of the message went out, and no other one would. */
    if (code == 0 && *command == '\0')
        return SMTP_UNREACHABLE;
    if (code >= 500 && code < 600) {
        if (strcasecmp(command, "MAIL") == 0 && code == SMTP_CODE_TOO_BIG)
            return SMTP_FAIL;
        return is_session_command(command) ? SMTP_CONFIG : SMTP_FAIL;
    }
    if (code >= 400 && code < 500) {
        /*
         * Throttling pauses the whole sender, so only a refusal of the session
         * counts (421 closes it; anything before the recipient is named).  A
         * rate refusal at RCPT or DATA is about that recipient's mailbox
         * ("receiving mail at a rate ..."): that signup alone is deferred.
         */
        if (in_codes(code, throttle_codes, NELEM(throttle_codes)) && asks_to_slow_down(reply) &&
            (code == SMTP_CODE_CLOSING || is_session_command(command)))
            return SMTP_THROTTLE;
        return SMTP_DEFER;
    }
    /* No failing reply: the connection, a timeout or the transfer itself failed. */
    return SMTP_DEFER;
}

/* --- the server's replies, from libcurl's debug stream -------------------- */

void reply_track_reset(struct reply_track *t)
{
    memset(t, 0, sizeof(*t));
}

/* A greeting ends a QUIT's silence: a closed connection was replaced. */
#define SMTP_CODE_GREETING 220
/* RFC 5321 4.2.1: the positive reply to EHLO, one line per extension. */
#define SMTP_CODE_OK 250

/* RFC 4954 3: "AUTH mechanisms", or the old "AUTH=mechanisms" some servers still send. */
static int is_auth_line(const char *text)
{
    return strncasecmp(text, "AUTH", 4) == 0 &&
           (text[4] == ' ' || text[4] == '=' || text[4] == '\0');
}

/* Follows the reply to EHLO or HELO: a line per extension, the last without a '-'. */
static void track_greeting(struct reply_track *t, long code)
{
    if (strcmp(t->command, "EHLO") != 0 && strcmp(t->command, "HELO") != 0)
        return;
    if (code == SMTP_CODE_OK && t->plen > 4 && is_auth_line(t->partial + 4))
        t->auth_offered = 1;
    if (t->plen < 4 || t->partial[3] != '-')
        t->greeted = code == SMTP_CODE_OK;
}

int reply_track_lacks_auth(const struct reply_track *t, int starttls)
{
    return t->greeted && !t->auth_offered && (!starttls || t->starttls_sent);
}

static void track_line_done(struct reply_track *t)
{
    long code;

    t->partial[t->plen] = '\0';
    if (t->plen >= 3 && isdigit((unsigned char)t->partial[0]) &&
        isdigit((unsigned char)t->partial[1]) && isdigit((unsigned char)t->partial[2])) {
        code = (t->partial[0] - '0') * 100 + (t->partial[1] - '0') * 10 + (t->partial[2] - '0');
        if (t->quitting && code == SMTP_CODE_GREETING)
            t->quitting = 0;
        if (!t->quitting) {
            memcpy(t->last, t->partial, t->plen + 1);
            t->code = code;
            track_greeting(t, code);
        }
    }
    t->plen = 0;
}

void reply_track_input(struct reply_track *t, const char *data, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)data[i];

        if (c == '\n')
            track_line_done(t);
        else if (c != '\r' && t->plen < sizeof(t->partial) - 1)
            t->partial[t->plen++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
}

/*
 * Remembers which command a reply answers.  Only known verbs are kept, and
 * nothing is read while a SASL exchange is under way: those lines are
 * credentials.  libcurl closes a connection after a failed command with
 * QUIT; the failure, not the goodbye, is what the result reports.
 */
void reply_track_output(struct reply_track *t, const char *data, size_t n)
{
    static const char *const verbs[] = {"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL",
                                        "RCPT", "DATA", "RSET",     "NOOP", "VRFY"};
    char verb[SMTP_VERB_MAX];
    size_t i;

    if (t->code == SMTP_SASL_CONTINUE)
        return;
    for (i = 0; i < n && i < sizeof(verb) - 1 && isalpha((unsigned char)data[i]); i++)
        verb[i] = (char)toupper((unsigned char)data[i]);
    verb[i] = '\0';
    if (i < n && data[i] != ' ' && data[i] != '\r')
        return;
    if (strcmp(verb, "QUIT") == 0) {
        t->quitting = 1;
        return;
    }
    for (i = 0; i < NELEM(verbs); i++) {
        if (strcmp(verb, verbs[i]) == 0) {
            memcpy(t->command, verb, strlen(verb) + 1);
            t->quitting = 0;
            /*
             * A new greeting is asked for, or TLS makes the session a new one
             * (RFC 3207 4.2): what the last greeting offered no longer counts.
             */
            if (strcmp(verb, "EHLO") == 0 || strcmp(verb, "HELO") == 0 ||
                strcmp(verb, "STARTTLS") == 0)
                t->greeted = t->auth_offered = 0;
            if (strcmp(verb, "STARTTLS") == 0)
                t->starttls_sent = 1;
            return;
        }
    }
}
