/* Watchpoints by page protection. In Unicorn 2.1 any memory hook sends
 * every load and store down the slow path (13 ms -> 165 ms for fib(27)),
 * so a watchpoint instead takes the watched pages' read or write
 * permission away while a run is under way. An access to such a page
 * faults; run() then steps the one instruction with the permission back
 * and stops after it if it touched a watched range (as a hardware
 * watchpoint does), or resumes if it only touched the rest of the page.
 * Code that never touches a watched page runs at full speed. */
#include "internal.h"

#include <stdlib.h>

/* Each watched page splits Unicorn's regions and is re-armed at every
 * run start, so a client may not ask for an unbounded number. */
#define MAX_WATCHES 32
#define MAX_WATCH_LEN 0x4000ull

int dx_exec_watch_add(dx_exec *e, uint64_t addr, uint64_t len, dx_watch_kind kind)
{
    len = len ? len : 1;
    if (len > MAX_WATCH_LEN || addr + len < addr)
        return -1;
    for (size_t i = 0; i < e->nwatches; i++)
        if (e->watches[i].addr == addr && e->watches[i].len == len && e->watches[i].kind == kind)
            return 0;
    if (e->nwatches == MAX_WATCHES)
        return -1;
    watch *grown = grow(e->watches, e->nwatches, &e->capwatches, sizeof *grown);
    if (!grown)
        return -1;
    e->watches = grown;
    e->watches[e->nwatches++] = (watch){addr, len, kind};
    return 0;
}

int dx_exec_watch_remove(dx_exec *e, uint64_t addr, uint64_t len, dx_watch_kind kind)
{
    for (size_t i = 0; i < e->nwatches; i++) {
        watch *w = &e->watches[i];
        if (w->addr == addr && (w->len == len || !len) && w->kind == kind) {
            *w = e->watches[--e->nwatches];
            return 0;
        }
    }
    return -1;
}

/* The permission a watch takes away: writes for a write watch, reads and
 * writes for the others (Unicorn cannot deny reads but allow writes). */
static uint32_t denied(dx_watch_kind kind)
{
    return kind == DX_WATCH_WRITE ? UC_PROT_WRITE : UC_PROT_READ | UC_PROT_WRITE;
}

static bool add_armed(dx_exec *e, uint64_t page, uint32_t prot)
{
    for (size_t i = 0; i < e->narmed; i++)
        if (e->armed[i].page == page)
            return true;
    armed_page *grown = grow(e->armed, e->narmed, &e->caparmed, sizeof *grown);
    if (!grown)
        return false;
    e->armed = grown;
    e->armed[e->narmed++] = (armed_page){page, prot};
    return true;
}

void watch_arm(dx_exec *e)
{
    e->narmed = 0;
    dx_stop *stop = e->stop;
    e->stop = NULL; /* paging in a watched page is not the run's stop */
    for (size_t i = 0; i < e->nwatches; i++) {
        const watch *w = &e->watches[i];
        uint64_t first = w->addr & ~(PAGE - 1), pages = (w->addr + w->len - 1 - first) / PAGE + 1;
        for (uint64_t k = 0; k < pages; k++) {
            uint64_t page = first + k * PAGE;
            /* Memory the dump lacks: an access faults anyway, unless it reads
             * as zeros, and then the watched page is made now. */
            if (!mem_fault_in(e, page, e->opt.unmapped_zero))
                continue;
            uint32_t prot = mem_prot_of(e, page);
            if (!add_armed(e, page, prot))
                continue;
            uint32_t now = mem_prot_of(e, page) & ~denied(w->kind);
            uc_mem_protect(e->uc, page, PAGE, now);
        }
    }
    e->stop = stop;
}

void watch_disarm(dx_exec *e)
{
    for (size_t i = 0; i < e->narmed; i++)
        uc_mem_protect(e->uc, e->armed[i].page, PAGE, e->armed[i].prot);
    e->narmed = 0;
}

/* A protection fault that a watchpoint caused: the page was armed and its
 * own protection allows the access. */
bool watch_caused(const dx_exec *e, uint64_t addr, dx_access access)
{
    uint64_t page = addr & ~(PAGE - 1);
    for (size_t i = 0; i < e->narmed; i++) {
        if (e->armed[i].page != page)
            continue;
        uint32_t need = access == DX_ACCESS_WRITE ? UC_PROT_WRITE : access == DX_ACCESS_READ ? UC_PROT_READ : 0;
        return need && (e->armed[i].prot & need);
    }
    return false;
}

/* The watch an access of size bytes at addr touches, or NULL. */
const watch *watch_hit(const dx_exec *e, uint64_t addr, uint64_t size, dx_access access)
{
    dx_watch_kind want = access == DX_ACCESS_WRITE ? DX_WATCH_WRITE : DX_WATCH_READ;
    for (size_t i = 0; i < e->nwatches; i++) {
        const watch *w = &e->watches[i];
        if ((w->kind & want) && addr < w->addr + w->len && w->addr < addr + (size ? size : 1))
            return w;
    }
    return NULL;
}
