/*
 * queue_url.h - what reportd needs to know of a PostgreSQL connection URI
 * (queue.url) before handing it to libpq: whether it is one, and whether a
 * password sits in it.
 */
#ifndef REPORTD_QUEUE_URL_H
#define REPORTD_QUEUE_URL_H

/* 1 when url starts with postgresql:// or postgres://, else 0. */
int queue_url_is_postgres(const char *url);
/* 1 when url carries a password (user:secret@ or a password= parameter), else 0. */
int queue_url_has_password(const char *url);

#endif
