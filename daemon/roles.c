/*
 * roles.c - the role data as a whole: every *.yaml file of the roles
 * directory (read by role_file.c), checked together (no stray files, the
 * same levels in every role), and looked up by id.  Any problem rejects the
 * whole set.
 */
#include "roles.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "role_file.h"

/* More role files than this in one directory means the path is wrong. */
#define ROLES_MAX_FILES 256

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int is_regular_file(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return 1;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strings(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/*
 * The role ids (file names less .yaml) in dir, sorted so that roles load,
 * list and report in the same order everywhere.  Hidden files are editor
 * and tool leftovers, never roles.  -1 (reported) when dir cannot be read.
 */
static int list_role_ids(const char *dir, char ***ids, size_t *n, struct diag *d)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    char **v;

    *ids = NULL;
    *n = 0;
    if (dp == NULL) {
        diag_add(d, "%s: cannot open the roles directory: %s", dir, strerror(errno));
        return -1;
    }
    v = calloc(ROLES_MAX_FILES, sizeof(*v));
    if (v == NULL) {
        closedir(dp);
        diag_add(d, "%s: out of memory", dir);
        return -1;
    }
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (!has_suffix(de->d_name, ROLE_FILE_SUFFIX)) {
            /* A role.yml or role.yaml.bak would otherwise vanish from the site without a word. */
            if (is_regular_file(dir, de->d_name))
                diag_add(d,
                         "%s/%s:1:1: not a role file: role files are named ID%s; rename it or "
                         "move it out of the roles directory",
                         dir, de->d_name, ROLE_FILE_SUFFIX);
            continue;
        }
        if (*n == ROLES_MAX_FILES) {
            diag_add(d, "%s: more than %d role files", dir, ROLES_MAX_FILES);
            goto fail;
        }
        v[*n] = strndup(de->d_name, strlen(de->d_name) - strlen(ROLE_FILE_SUFFIX));
        if (v[*n] == NULL) {
            diag_add(d, "%s: out of memory", dir);
            goto fail;
        }
        (*n)++;
    }
    closedir(dp);
    qsort(v, *n, sizeof(*v), cmp_str);
    *ids = v;
    return 0;
fail:
    closedir(dp);
    free_strings(v, *n);
    *n = 0;
    return -1;
}

/*
 * Producers send any level with any role (the site's form offers the same
 * levels for every profession), so a role without one of them would reject
 * those signups: every role must have every level some role has.
 */
static void check_same_levels(const struct roles *r, struct diag *d)
{
    size_t i, j, k, m;

    for (i = 0; i < r->n; i++)
        for (j = 0; j < r->n; j++) {
            if (i == j)
                continue;
            for (k = 0; k < r->v[j].nlevels; k++) {
                const char *id = r->v[j].levels[k].id;
                int seen = 0;

                for (m = 0; m < k && !seen; m++)
                    seen = strcmp(r->v[j].levels[m].id, id) == 0;
                /* Reported once per missing level: against the first role that has it. */
                for (m = 0; m < j && !seen; m++)
                    seen = m != i && role_find_level(&r->v[m], id) != NULL;
                if (!seen && role_find_level(&r->v[i], id) == NULL)
                    diag_at(d, r->v[i].file, r->v[i].levels_line, r->v[i].levels_column,
                            "levels: no level \"%s\", which role %s has (every role needs the "
                            "same levels)",
                            id, r->v[j].id);
            }
        }
}

int roles_load(struct roles *r, const char *dir, struct diag *d)
{
    int before = d->count;
    char **ids;
    size_t n, i;

    memset(r, 0, sizeof(*r));
    if (list_role_ids(dir, &ids, &n, d) == -1)
        return -1;
    if (n == 0) {
        diag_add(d, "%s: no roles: the directory has no *%s files", dir, ROLE_FILE_SUFFIX);
        free(ids);
        return -1;
    }
    r->v = calloc(n, sizeof(*r->v));
    if (r->v == NULL) {
        diag_add(d, "%s: out of memory", dir);
        free_strings(ids, n);
        return -1;
    }
    r->n = n;
    for (i = 0; i < n; i++)
        role_file_load(&r->v[i], dir, ids[i], d);
    free(ids);
    if (d->count == before)
        check_same_levels(r, d);
    if (d->count > before) {
        roles_free(r);
        return -1;
    }
    return 0;
}

static void free_role(struct role *role)
{
    size_t i, j;

    free(role->id);
    free(role->file);
    free(role->title);
    for (i = 0; i < role->nthresholds; i++)
        free(role->thresholds[i].label);
    free(role->thresholds);
    for (i = 0; i < role->nlevels; i++) {
        struct role_level *lv = &role->levels[i];

        free(lv->id);
        free(lv->title);
        free(lv->mix);
        free(lv->summary);
        for (j = 0; j < lv->nstrategies; j++)
            free(lv->strategies[j]);
        free(lv->strategies);
    }
    free(role->levels);
    for (i = 0; i < role->ntasks; i++) {
        free(role->tasks[i].id);
        free(role->tasks[i].title);
        free(role->tasks[i].rationale);
        free(role->tasks[i].advice);
    }
    free(role->tasks);
    for (i = 0; i < role->nskills; i++) {
        free(role->skills[i].id);
        free(role->skills[i].name);
        free(role->skills[i].rationale);
    }
    free(role->skills);
}

void roles_free(struct roles *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        free_role(&r->v[i]);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static int cmp_role_id(const void *key, const void *elem)
{
    return strcmp(key, ((const struct role *)elem)->id);
}

const struct role *roles_find(const struct roles *r, const char *id)
{
    if (r->n == 0 || id == NULL)
        return NULL;
    return bsearch(id, r->v, r->n, sizeof(*r->v), cmp_role_id);
}

const struct role_level *role_find_level(const struct role *role, const char *id)
{
    size_t i;

    for (i = 0; id != NULL && i < role->nlevels; i++)
        if (strcmp(role->levels[i].id, id) == 0)
            return &role->levels[i];
    return NULL;
}

const struct role_task *role_find_task(const struct role *role, const char *id)
{
    size_t i;

    /* A task whose id was wrong in the file has none (when checking a broken file). */
    for (i = 0; id != NULL && i < role->ntasks; i++)
        if (role->tasks[i].id != NULL && strcmp(role->tasks[i].id, id) == 0)
            return &role->tasks[i];
    return NULL;
}

const struct role_skill *role_find_skill(const struct role *role, const char *id)
{
    size_t i;

    for (i = 0; id != NULL && i < role->nskills; i++)
        if (strcmp(role->skills[i].id, id) == 0)
            return &role->skills[i];
    return NULL;
}
