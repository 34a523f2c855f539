/* Synchronisation objects of the guest's own: events, and waits that can
 * be satisfied inside the session. A wait that would block forever (no
 * other thread of a frozen process can signal) is a named stop, and so is
 * a wait on an object of the dump's, whose state the dump does not hold. */
#include "internal.h"

#include <stdlib.h>

#define OBJECT_HANDLES 0x40000000ull /* ours: far from the dump's small handle values */
#define STATUS_WAIT_0 0x00000000u
#define STATUS_OBJECT_TYPE_MISMATCH 0xc0000024u

static nt_object *object_of(dx_nt *nt, uint64_t h)
{
    if (h < OBJECT_HANDLES || (h & 3))
        return NULL;
    size_t i = (size_t)((h - OBJECT_HANDLES) / 4);
    return i < nt->nobjects && nt->objects[i].used ? &nt->objects[i] : NULL;
}

bool nt_object_close(dx_nt *nt, uint64_t h)
{
    nt_object *o = object_of(nt, h);
    if (o)
        o->used = false;
    return o != NULL;
}

void nt_objects_free(dx_nt *nt)
{
    free(nt->objects);
    nt->objects = NULL;
    nt->nobjects = 0;
}

/* NtCreateEvent(*handle, access, attributes, type, initial) */
static uint32_t create_event(nt_call *c)
{
    dx_nt *nt = c->nt;
    if (!dx_exec_writable(nt->exec, c->args[0], 8))
        return STATUS_ACCESS_VIOLATION;
    if (c->args[3] > 1)
        return STATUS_INVALID_PARAMETER;
    size_t i = 0;
    while (i < nt->nobjects && nt->objects[i].used)
        i++;
    if (i == nt->nobjects) {
        if (nt->nobjects == 65536)
            return STATUS_NO_MEMORY;
        nt_object *grown = realloc(nt->objects, (nt->nobjects + 16) * sizeof *grown);
        if (!grown)
            return STATUS_NO_MEMORY;
        nt->objects = grown;
        for (size_t k = nt->nobjects; k < nt->nobjects + 16; k++)
            grown[k].used = false;
        nt->nobjects += 16;
    }
    nt->objects[i] = (nt_object){.used = true, .auto_reset = c->args[3] == 1, .signaled = (c->args[4] & 0xff) != 0};
    uint64_t h = OBJECT_HANDLES + 4 * i;
    nt_write_u64(c, c->args[0], h);
    nt_trace(c, "-> 0x%llx", (unsigned long long)h);
    return STATUS_SUCCESS;
}

static uint32_t set_state(nt_call *c, bool signaled, bool report_previous)
{
    nt_object *o = object_of(c->nt, c->args[0]);
    if (!o)
        return STATUS_INVALID_HANDLE;
    int32_t previous = o->signaled;
    o->signaled = signaled;
    if (report_previous && c->args[1] && !nt_write(c, c->args[1], &previous, 4))
        return STATUS_ACCESS_VIOLATION;
    return STATUS_SUCCESS;
}

static uint32_t set_event(nt_call *c) { return set_state(c, true, true); }
static uint32_t reset_event(nt_call *c) { return set_state(c, false, true); }
static uint32_t clear_event(nt_call *c) { return set_state(c, false, false); }

/* Not signaled: run out the timeout on the virtual clock, or stop. */
static uint32_t wait_out(nt_call *c, const char *what, uint64_t timeout_ptr)
{
    int64_t t;
    if (!timeout_ptr) {
        snprintf(c->detail, c->detaillen, "%s would wait forever (nothing in the session can signal it)", what);
        c->stop = true;
        return STATUS_SUCCESS;
    }
    if (!nt_read(c, timeout_ptr, &t, 8))
        return STATUS_ACCESS_VIOLATION;
    nt_clock_pass(c->nt, t);
    return STATUS_TIMEOUT;
}

static uint32_t not_ours(nt_call *c, const char *what, uint64_t h)
{
    snprintf(c->detail, c->detaillen, "%s on handle 0x%llx, an object of the dump whose state it does not hold",
             what, (unsigned long long)h);
    c->stop = true;
    return STATUS_SUCCESS;
}

/* NtWaitForSingleObject(handle, alertable, *timeout) */
static uint32_t wait_single(nt_call *c)
{
    nt_object *o = object_of(c->nt, c->args[0]);
    if (!o)
        return not_ours(c, "NtWaitForSingleObject", c->args[0]);
    if (!o->signaled)
        return wait_out(c, "NtWaitForSingleObject", c->args[2]);
    if (o->auto_reset)
        o->signaled = false;
    return STATUS_WAIT_0;
}

/* NtWaitForMultipleObjects(count, handles, type (0 all, 1 any), alertable, *timeout) */
static uint32_t wait_multiple(nt_call *c)
{
    uint64_t count = c->args[0], handles[64];
    if (!count || count > 64)
        return STATUS_INVALID_PARAMETER;
    if (!nt_read(c, c->args[1], handles, count * 8))
        return STATUS_ACCESS_VIOLATION;
    bool any = c->args[2] == 1, all = true;
    for (uint64_t i = 0; i < count; i++) {
        nt_object *o = object_of(c->nt, handles[i]);
        if (!o)
            return not_ours(c, "NtWaitForMultipleObjects", handles[i]);
        if (any && o->signaled) {
            if (o->auto_reset)
                o->signaled = false;
            return STATUS_WAIT_0 + (uint32_t)i;
        }
        all = all && o->signaled;
    }
    if (!any && all) {
        for (uint64_t i = 0; i < count; i++) {
            nt_object *o = object_of(c->nt, handles[i]);
            if (o->auto_reset)
                o->signaled = false;
        }
        return STATUS_WAIT_0;
    }
    return wait_out(c, "NtWaitForMultipleObjects", c->args[4]);
}

const nt_service nt_sync_services[] = {
    {"NtCreateEvent", create_event, 5},
    {"NtSetEvent", set_event, 2},
    {"NtResetEvent", reset_event, 2},
    {"NtClearEvent", clear_event, 1},
    {"NtWaitForSingleObject", wait_single, 3},
    {"NtWaitForMultipleObjects", wait_multiple, 5},
};
const size_t nt_sync_count = sizeof nt_sync_services / sizeof nt_sync_services[0];
