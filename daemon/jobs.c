/*
 * jobs.c - claimed signups in the daemon's hands, and the lines they wait
 * in.  The outcome a job carries is copied into the job, so that it
 * outlives the transfer and the reply buffers it came from for as long as
 * the queue cannot record it.
 */
#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void job_line_push(struct job_line *l, struct job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

void job_line_push_front(struct job_line *l, struct job *j)
{
    j->next = l->head;
    l->head = j;
    if (l->tail == NULL)
        l->tail = j;
    l->n++;
}

struct job *job_line_pop(struct job_line *l)
{
    return job_line_take(l, NULL);
}

struct job *job_line_take(struct job_line *l, struct job *prev)
{
    struct job *j = prev == NULL ? l->head : prev->next;

    if (j == NULL)
        return NULL;
    if (prev == NULL)
        l->head = j->next;
    else
        prev->next = j->next;
    if (l->tail == j)
        l->tail = prev;
    l->n--;
    j->next = NULL;
    return j;
}

struct job *job_new(struct signup_record *r, int64_t claim_end_mono)
{
    struct job *j = calloc(1, sizeof(*j));

    if (j == NULL)
        return NULL;
    j->rec = *r;
    memset(r, 0, sizeof(*r));
    j->claim_end_mono = claim_end_mono;
    return j;
}

void job_free(struct job *j)
{
    if (j == NULL)
        return;
    if (j->built)
        message_free(&j->msg);
    signup_record_free(&j->rec);
    free(j);
}

void job_settle(struct job *j, enum signup_state to, enum job_tally tally, const char *detail,
                const char *reason, const char *reply)
{
    memset(&j->t, 0, sizeof(j->t));
    j->to = to;
    j->tally = tally;
    snprintf(j->detail, sizeof(j->detail), "%s", detail ? detail : "");
    j->t.detail = j->detail;
    if (reason != NULL) {
        snprintf(j->reason, sizeof(j->reason), "%s", reason);
        j->t.reason = j->reason;
    }
    if (reply != NULL && *reply != '\0') {
        snprintf(j->reply, sizeof(j->reply), "%s", reply);
        j->t.reply = j->reply;
    }
}
