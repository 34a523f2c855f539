/* The guest's Windows in a snapshot: its allocations, objects, clock and
 * counters, so that going back in a session's history and running again
 * gives the same services the same answers. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct nt_state {
    nt_alloc *allocs;
    size_t nallocs;
    uint64_t alloc_hint, clock_start, clock_now, run_insns, services, exceptions;
    nt_object *objects;
    size_t nobjects;
} nt_state;

static void free_allocs(nt_alloc *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++)
        free(a[i].protect);
    free(a);
}

/* A deep copy of n allocations, or NULL (with n > 0) if memory ran out. */
static nt_alloc *copy_allocs(const nt_alloc *from, size_t n)
{
    nt_alloc *to = n ? calloc(n, sizeof *to) : NULL;
    for (size_t i = 0; to && i < n; i++) {
        size_t pages = (size_t)(from[i].size / NT_PAGE);
        to[i] = from[i];
        to[i].protect = malloc(pages * sizeof *to[i].protect);
        if (!to[i].protect) {
            free_allocs(to, i);
            return NULL;
        }
        memcpy(to[i].protect, from[i].protect, pages * sizeof *to[i].protect);
    }
    return to;
}

static void release(void *state)
{
    nt_state *s = state;
    if (!s)
        return;
    free_allocs(s->allocs, s->nallocs);
    free(s->objects);
    free(s);
}

static void *save(void *user)
{
    const dx_nt *nt = user;
    nt_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (nt_state){.nallocs = nt->nallocs, .alloc_hint = nt->alloc_hint, .clock_start = nt->clock_start,
                    .clock_now = nt->clock_now, .run_insns = nt->run_insns, .services = nt->services,
                    .exceptions = nt->exceptions, .nobjects = nt->nobjects};
    s->allocs = copy_allocs(nt->allocs, nt->nallocs);
    s->objects = nt->nobjects ? malloc(nt->nobjects * sizeof *s->objects) : NULL;
    if ((nt->nallocs && !s->allocs) || (nt->nobjects && !s->objects)) {
        release(s);
        return NULL;
    }
    if (s->objects)
        memcpy(s->objects, nt->objects, nt->nobjects * sizeof *s->objects);
    return s;
}

static int restore(void *user, const void *state)
{
    dx_nt *nt = user;
    const nt_state *s = state;
    nt_alloc *allocs = copy_allocs(s->allocs, s->nallocs);
    nt_object *objects = s->nobjects ? malloc(s->nobjects * sizeof *objects) : NULL;
    if ((s->nallocs && !allocs) || (s->nobjects && !objects)) {
        free_allocs(allocs, s->nallocs);
        free(objects);
        return -1;
    }
    if (objects)
        memcpy(objects, s->objects, s->nobjects * sizeof *objects);
    nt_allocs_free(nt);
    nt_objects_free(nt);
    nt->allocs = allocs;
    nt->nallocs = nt->capallocs = s->nallocs;
    nt->objects = objects;
    nt->nobjects = s->nobjects;
    nt->alloc_hint = s->alloc_hint;
    nt->clock_start = s->clock_start;
    nt->clock_now = s->clock_now;
    nt->run_insns = s->run_insns;
    nt->services = s->services;
    nt->exceptions = s->exceptions;
    return 0;
}

static const dx_state_ops state_ops = {save, restore, release};

void nt_state_attach(dx_nt *nt) { dx_exec_on_state(nt->exec, &state_ops, nt); }
