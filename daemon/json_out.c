/*
 * json_out.c - the JSON of the --json options, built in a buffer: one
 * function per object, keys always in the same order.
 */
#include "json_out.h"

#include <string.h>

#include "idn.h"
#include "signup.h"
#include "util.h"

/* Room for the Unicode form of any domain (RFC 1035: 253 characters, 4 bytes each). */
#define UNICODE_DOMAIN_MAX 1024

void json_out_string(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int valid = utf8_valid(s, strlen(s));

    buf_putc(b, '"');
    for (; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            buf_printf(b, "\\u%04x", *p);
        else if (*p >= 0x80 && !valid)
            buf_puts(b, "\\ufffd");
        else
            buf_putc(b, *p);
    }
    buf_putc(b, '"');
}

static void key(struct buf *b, const char *name, int first)
{
    buf_printf(b, "%s\"%s\":", first ? "" : ",", name);
}

static void string_or_null(struct buf *b, const char *name, const char *value)
{
    key(b, name, 0);
    if (value)
        json_out_string(b, value);
    else
        buf_puts(b, "null");
}

/* A time as an RFC 3339 string, or null for none (0). */
static void put_time(struct buf *b, int64_t ms)
{
    char when[64];

    if (ms <= 0) {
        buf_puts(b, "null");
        return;
    }
    format_time_ms(ms, when, sizeof(when));
    buf_printf(b, "\"%s\"", when);
}

static void time_or_null(struct buf *b, const char *name, int64_t ms)
{
    key(b, name, 0);
    put_time(b, ms);
}

void json_out_status(struct buf *b, const struct queue_stats *st, int64_t now)
{
    int i;

    buf_puts(b, "{\"counts\":{");
    for (i = 0; i < SIGNUP_NSTATES; i++)
        buf_printf(b, "%s\"%s\":%lld", i ? "," : "", signup_state_name((enum signup_state)i),
                   (long long)st->count[i]);
    buf_printf(b, "},\"uncertain\":%lld,\"oldest_waiting_seconds\":", (long long)st->uncertain);
    if (st->oldest_waiting_ms)
        buf_printf(b, "%lld", (long long)((now - st->oldest_waiting_ms) / 1000));
    else
        buf_puts(b, "null");
    buf_puts(b, ",\"last_error\":");
    if (st->last_error_id) {
        buf_printf(b, "{\"id\":%lld,\"at\":", (long long)st->last_error_id);
        put_time(b, st->last_error_ms);
        buf_puts(b, ",\"reason\":");
        json_out_string(b, st->last_error);
        buf_putc(b, '}');
    } else {
        buf_puts(b, "null");
    }
    buf_puts(b, "}\n");
}

static void tasks_and_skills(struct buf *b, const struct signup *s)
{
    size_t i;

    key(b, "tasks", 0);
    buf_putc(b, '[');
    for (i = 0; i < s->ntasks; i++) {
        buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        json_out_string(b, s->tasks[i].id);
        if (s->tasks[i].has_share)
            buf_printf(b, ",\"share\":%.15g}", s->tasks[i].share);
        else
            buf_puts(b, ",\"share\":null}");
    }
    buf_putc(b, ']');
    key(b, "skills", 0);
    buf_putc(b, '[');
    for (i = 0; i < s->nskills; i++) {
        if (i)
            buf_putc(b, ',');
        json_out_string(b, s->skills[i]);
    }
    buf_putc(b, ']');
}

/* The address, and its domain in Unicode when it is an internationalized one. */
static void address(struct buf *b, const struct signup_record *r)
{
    char unicode[UNICODE_DOMAIN_MAX];
    const char *email = r->scrubbed_ms ? NULL : r->signup.email;

    string_or_null(b, "email", email);
    string_or_null(b, "email_domain_unicode",
                   email && idn_domain_unicode(email, unicode, sizeof(unicode)) ? unicode : NULL);
}

void json_out_record(struct buf *b, const struct signup_record *r, int with_history)
{
    const struct signup *s = &r->signup;
    int waiting = r->state == SIGNUP_QUEUED || r->state == SIGNUP_DEFERRED;

    buf_putc(b, '{');
    key(b, "id", 1);
    buf_printf(b, "%lld", (long long)s->id);
    address(b, r);
    string_or_null(b, "name", s->name);
    string_or_null(b, "role", s->role);
    string_or_null(b, "level", s->level);
    tasks_and_skills(b, s);
    key(b, "years", 0);
    if (s->has_years)
        buf_printf(b, "%.15g", s->years);
    else
        buf_puts(b, "null");
    string_or_null(b, "state", signup_state_name(r->state));
    key(b, "attempts", 0);
    buf_printf(b, "%d", r->attempts);
    time_or_null(b, "created_at", s->created_ms);
    time_or_null(b, "updated_at", r->updated_ms);
    time_or_null(b, "next_attempt_at", waiting ? r->next_attempt_ms : 0);
    time_or_null(b, "sent_at", r->sent_ms);
    string_or_null(b, "message_id", r->message_id);
    string_or_null(b, "last_reply", r->last_reply);
    string_or_null(b, "reason", r->reason);
    string_or_null(b, "load_error", r->load_error);
    string_or_null(b, "claimed_by", r->state == SIGNUP_SENDING ? r->claimed_by : NULL);
    time_or_null(b, "claim_until", r->state == SIGNUP_SENDING ? r->claim_until_ms : 0);
    time_or_null(b, "scrubbed_at", r->scrubbed_ms);
    string_or_null(b, "email_hash", r->email_hash);
    if (with_history)
        buf_puts(b, ",\"history\":[");
    else
        buf_putc(b, '}');
}

void json_out_event(struct buf *b, const struct queue_event *ev, int first)
{
    buf_puts(b, first ? "{" : ",{");
    key(b, "at", 1);
    put_time(b, ev->at_ms);
    string_or_null(b, "from", ev->has_from ? signup_state_name(ev->from) : NULL);
    string_or_null(b, "to", signup_state_name(ev->to));
    string_or_null(b, "detail", ev->detail);
    buf_putc(b, '}');
}

void json_out_record_end(struct buf *b)
{
    buf_puts(b, "]}");
}
