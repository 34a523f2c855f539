/* History: checkpoints along a session's runs, and travel between them.
 *
 * A position is the number of instructions run since the history began.
 * Runs are deterministic (nt/'s clock and services depend only on the
 * guest), so the state at any recorded position is found again by
 * restoring the checkpoint before it and running forward, quietly, to
 * it. Checkpoints are taken at stops that follow enough work and every
 * INTERVAL instructions of a run. Whatever the debugger changes outside a
 * run (registers, memory, a delivered exception, a call) is a barrier: a
 * checkpoint of the changed state, from which positions after it are
 * reached; the history that followed the old state is dropped.
 *
 * Going back to the last breakpoint or watchpoint replays the segments
 * between checkpoints, newest first, noting the last hit in each. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define INTERVAL (1ull << 20) /* instructions between a run's checkpoints */
#define STOP_GAP (1ull << 16) /* a stop gets a checkpoint after this much work */
#define NEAR (1ull << 14)     /* travel leaves a checkpoint this close before a far target */
#define SLACK 1024            /* a replay runs by block to this close, then by instruction */
#define NONE ((size_t)-1)

struct history {
    bool recording;
    dx_snapshot **ckpts; /* by position; at one position, in the order taken */
    size_t n, cap;
    dx_snapshot **named;
    size_t nnamed, capnamed;
    const dx_snapshot *base; /* memory is this snapshot's plus what was written since */
    bool dirty;              /* the debugger changed the state: a barrier is due */
    uint64_t end;            /* the newest position recorded */
    uint64_t run_from;       /* where the live run under way started */
    uint64_t bytes, cap_bytes, dropped;
};

void dx_exec_on_state(dx_exec *e, const dx_state_ops *ops, void *user)
{
    e->state_ops = ops ? *ops : (dx_state_ops){0};
    e->state_user = user;
}

static history *history_of(dx_exec *e)
{
    if (!e->history)
        e->history = calloc(1, sizeof *e->history);
    return e->history;
}

static dx_snapshot *take(dx_exec *e)
{
    history *h = e->history;
    char err[DX_ERRLEN];
    if (engine_ensure(e, err, sizeof err) != 0)
        return NULL;
    dx_snapshot *s = snapshot_take(e, h->base);
    if (s) {
        h->bytes += snapshot_bytes(s);
        h->base = s;
    }
    return s;
}

static void drop(dx_exec *e, dx_snapshot *s)
{
    history *h = e->history;
    if (h->base == s)
        h->base = NULL;
    uint64_t freed = snapshot_free(s);
    h->bytes -= freed < h->bytes ? freed : h->bytes;
}

/* The last checkpoint at or before pos (strictly before, if before). */
static size_t ckpt_before(const history *h, uint64_t pos, bool strictly)
{
    size_t i = h->n;
    while (i-- > 0)
        if (strictly ? snapshot_pos(h->ckpts[i]) < pos : snapshot_pos(h->ckpts[i]) <= pos)
            return i;
    return NONE;
}

static uint64_t start_of(const history *h) { return h->n ? snapshot_pos(h->ckpts[0]) : 0; }

/* The oldest checkpoints go first; the newest always stays. */
static void keep_under_cap(dx_exec *e)
{
    history *h = e->history;
    while (h->cap_bytes && h->bytes > h->cap_bytes && h->n > 1) {
        drop(e, h->ckpts[0]);
        memmove(h->ckpts, h->ckpts + 1, --h->n * sizeof *h->ckpts);
        h->dropped++;
    }
}

static int add_checkpoint(dx_exec *e, bool barrier)
{
    history *h = e->history;
    dx_snapshot **grown = grow(h->ckpts, h->n, &h->cap, sizeof *grown);
    if (!grown)
        return -1;
    h->ckpts = grown;
    dx_snapshot *s = take(e);
    if (!s)
        return -1;
    snapshot_set_barrier(s, barrier);
    size_t i = h->n;
    while (i > 0 && snapshot_pos(h->ckpts[i - 1]) > e->pos)
        i--;
    memmove(h->ckpts + i + 1, h->ckpts + i, (h->n - i) * sizeof *h->ckpts);
    h->ckpts[i] = s;
    h->n++;
    if (e->pos > h->end)
        h->end = e->pos;
    keep_under_cap(e);
    return 0;
}

/* A barrier the debugger's change made due, before anything travels or runs. */
static int settle_dirty(dx_exec *e)
{
    history *h = e->history;
    if (!h->dirty)
        return 0;
    h->dirty = false;
    return add_checkpoint(e, true);
}

static int restore(dx_exec *e, const dx_snapshot *s);

static size_t next_barrier(const history *h, uint64_t pos)
{
    for (size_t i = 0; i < h->n; i++)
        if (snapshot_barrier(h->ckpts[i]) && snapshot_pos(h->ckpts[i]) > pos)
            return i;
    return NONE;
}

/* A live run pauses for the next periodic checkpoint past the newest. */
static void plan_pause(dx_exec *e)
{
    history *h = e->history;
    e->pause_at = (h->n ? snapshot_pos(h->ckpts[h->n - 1]) : e->pos) + INTERVAL;
}

int dx_exec_history_start(dx_exec *e, uint64_t cap_bytes, char *err, size_t errlen)
{
    history *h = history_of(e);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->recording = true;
    h->cap_bytes = cap_bytes;
    e->counting = true;
    return 0;
}

static void drop_checkpoints(dx_exec *e, size_t from)
{
    history *h = e->history;
    while (h->n > from)
        drop(e, h->ckpts[--h->n]);
}

void dx_exec_history_stop(dx_exec *e)
{
    history *h = e->history;
    if (!h)
        return;
    drop_checkpoints(e, 0);
    h->recording = h->dirty = false;
    h->end = h->dropped = 0;
    e->counting = false;
    e->pos = 0;
    e->pause_at = UINT64_MAX;
}

bool dx_exec_history_on(const dx_exec *e) { return e->history && e->history->recording; }

/* The session went back to the dump: the history starts again. */
void history_reset(dx_exec *e)
{
    history *h = e->history;
    if (!h)
        return;
    drop_checkpoints(e, 0);
    h->dirty = false;
    h->end = h->dropped = 0;
    h->base = NULL;
    e->pos = 0;
}

void history_free(dx_exec *e)
{
    history *h = e->history;
    if (!h)
        return;
    drop_checkpoints(e, 0);
    for (size_t i = 0; i < h->nnamed; i++)
        drop(e, h->named[i]);
    free(h->named);
    free(h->ckpts);
    free(h);
    e->history = NULL;
}

void dx_exec_history_info(const dx_exec *e, dx_history_info *out)
{
    const history *h = e->history;
    memset(out, 0, sizeof *out);
    out->pos = e->pos;
    if (!h)
        return;
    out->start = start_of(h);
    out->end = h->end > e->pos ? h->end : e->pos;
    out->checkpoints = h->n;
    out->snapshots = h->nnamed;
    out->bytes = h->bytes;
    out->cap_bytes = h->cap_bytes;
    out->dropped = h->dropped;
}

int dx_exec_history_mark(dx_exec *e)
{
    history *h = e->history;
    if (!dx_exec_history_on(e))
        return 0;
    size_t i = ckpt_before(h, e->pos, false);
    drop_checkpoints(e, i == NONE ? 0 : i + 1); /* what followed the old state */
    h->end = e->pos;
    h->dirty = true;
    return 0;
}

/* A run from a position where the debugger changed the state, from the
 * state before the change (a replay stopped there): the change comes first,
 * as it did. */
static void enter_barrier_here(dx_exec *e)
{
    history *h = e->history;
    size_t b = e->pos ? next_barrier(h, e->pos - 1) : NONE;
    for (size_t i = 0; e->pos == 0 && i < h->n; i++)
        if (snapshot_barrier(h->ckpts[i]) && snapshot_pos(h->ckpts[i]) == 0)
            b = i;
    if (b == NONE || snapshot_pos(h->ckpts[b]) != e->pos || h->base == h->ckpts[b])
        return;
    while (b + 1 < h->n && snapshot_pos(h->ckpts[b + 1]) == e->pos && snapshot_barrier(h->ckpts[b + 1]))
        b++; /* the last change made there */
    if (h->base != h->ckpts[b])
        restore(e, h->ckpts[b]);
}

void history_before_run(dx_exec *e)
{
    history *h = e->history;
    if (!dx_exec_history_on(e))
        return;
    settle_dirty(e);
    enter_barrier_here(e);
    size_t i = ckpt_before(h, e->pos, false);
    if (i == NONE || e->pos - snapshot_pos(h->ckpts[i]) >= STOP_GAP)
        add_checkpoint(e, false);
    h->run_from = e->pos;
    plan_pause(e);
}

/* A live run paused for a checkpoint; a replay has come near its end. */
bool history_paused(dx_exec *e)
{
    history *h = e->history;
    if (e->replay != REPLAY_NONE || e->in_call || !dx_exec_history_on(e))
        return false;
    if (e->pos >= h->end)
        add_checkpoint(e, false);
    plan_pause(e);
    return true;
}

void history_after_run(dx_exec *e)
{
    history *h = e->history;
    if (!dx_exec_history_on(e))
        return;
    size_t b = next_barrier(h, h->run_from);
    if (b != NONE && snapshot_pos(h->ckpts[b]) == e->pos && snapshot_restore(e, h->ckpts[b]) == 0)
        h->base = h->ckpts[b]; /* a step landed where the debugger changed the state */
    if (e->pos > h->end)
        h->end = e->pos;
    e->pause_at = UINT64_MAX;
}

void history_note_hit(dx_exec *e, uint64_t pos, dx_stop_kind kind, uint64_t addr, dx_access access)
{
    if (pos >= e->hit.end || (e->hit.kind != DX_STOP_NONE && pos < e->hit.pos))
        return;
    e->hit.pos = pos;
    e->hit.kind = kind;
    e->hit.addr = addr;
    e->hit.access = access;
}

static int restore(dx_exec *e, const dx_snapshot *s)
{
    if (snapshot_restore(e, s) != 0)
        return -1;
    e->history->base = s;
    return 0;
}

/* Run forward to target from where the session is, passing or noting
 * breakpoints as mode says (REPLAY_NONE: they stop it, as live). By block
 * to SLACK before it, then instruction by instruction. 0 there; 1 stopped
 * on the way (interrupted, or at a breakpoint with REPLAY_NONE); -1 the
 * run stopped short (the history and the run disagree, which a
 * deterministic guest never makes happen). */
static int replay_to(dx_exec *e, uint64_t target, replay_mode mode, dx_stop *stop)
{
    int rc = 0;
    const uint64_t start = e->pos;
    e->replay = mode == REPLAY_NONE ? REPLAY_STOPS : mode;
    while (e->pos < target && rc == 0) {
        uint64_t from = e->pos, left = target - from;
        bool far = mode == REPLAY_QUIET && left > 4 * NEAR;
        /* A breakpoint where a piece of the replay starts is reached, not
         * passed, except where a forward continue starts. */
        e->moved = mode == REPLAY_SEARCH || (mode == REPLAY_NONE && from != start);
        memset(stop, 0, sizeof *stop);
        if (left > 2 * SLACK) { /* a block is at most 512 instructions: this pause is before target */
            e->pause_at = far ? target - NEAR : target - SLACK;
            run(e, RUN_BLOCK, 0, stop);
        } else {
            stop->kind = DX_STOP_STEP;
            run(e, RUN_INSN, left, stop);
        }
        if (far && stop->kind == DX_STOP_LIMIT)
            add_checkpoint(e, false); /* the next steps back start here */
        bool ends_run = stop->kind == DX_STOP_INTERRUPTED ||
                        (mode == REPLAY_NONE && stop->kind != DX_STOP_LIMIT && stop->kind != DX_STOP_STEP);
        if (ends_run)
            rc = 1;
        else if (e->pos == from || e->pos > target)
            rc = -1;
    }
    e->replay = REPLAY_NONE;
    e->moved = false;
    e->pause_at = UINT64_MAX;
    return rc;
}

/* To target by the shortest way: on from here, if no barrier lies
 * between and no checkpoint is closer, else from the checkpoint before. */
static int travel(dx_exec *e, uint64_t target, dx_stop *stop)
{
    history *h = e->history;
    size_t i = ckpt_before(h, target, false);
    if (i == NONE)
        return -1;
    uint64_t at = snapshot_pos(h->ckpts[i]);
    size_t b = next_barrier(h, e->pos);
    bool on = e->pos <= target && at <= e->pos && (b == NONE || snapshot_pos(h->ckpts[b]) > target);
    if (!on && restore(e, h->ckpts[i]) != 0)
        return -1;
    return replay_to(e, target, REPLAY_QUIET, stop);
}

bool history_forward(dx_exec *e, dx_stop *stop)
{
    history *h = e->history;
    if (!dx_exec_history_on(e) || settle_dirty(e) != 0)
        return false;
    enter_barrier_here(e);
    for (size_t b; (b = next_barrier(h, e->pos)) != NONE;) {
        dx_snapshot *barrier = h->ckpts[b];
        int rc = replay_to(e, snapshot_pos(barrier), REPLAY_NONE, stop);
        if (rc == 1)
            return true;
        if (rc < 0 || restore(e, barrier) != 0)
            return false; /* run on live from here */
    }
    return false;
}

static void stop_here(dx_exec *e, dx_stop *stop, dx_stop_kind kind)
{
    memset(stop, 0, sizeof *stop);
    stop->kind = kind;
    stop->pc = e->regs[e->cur].rip;
    stop->insns = e->pos;
}

static int begin(dx_exec *e, dx_stop *stop)
{
    char err[DX_ERRLEN];
    if (!dx_exec_history_on(e) || engine_ensure(e, err, sizeof err) != 0 || settle_dirty(e) != 0) {
        stop_here(e, stop, DX_STOP_ERROR);
        snprintf(stop->detail, sizeof stop->detail, "%s",
                 dx_exec_history_on(e) ? "cannot record the state" : "the session records no history");
        return -1;
    }
    if (!e->history->n)
        add_checkpoint(e, false);
    return 0;
}

int dx_exec_goto(dx_exec *e, uint64_t pos, dx_stop *stop, char *err, size_t errlen)
{
    if (begin(e, stop) != 0) {
        snprintf(err, errlen, "%s", stop->detail);
        return -1;
    }
    history *h = e->history;
    uint64_t end = h->end > e->pos ? h->end : e->pos;
    if (pos < start_of(h) || pos > end) {
        if (pos < start_of(h) && h->dropped)
            snprintf(err, errlen,
                     "instruction %llu is no longer in the history: it starts at %llu now (%llu checkpoints "
                     "dropped to stay under %.2f MiB)",
                     (unsigned long long)pos, (unsigned long long)start_of(h), (unsigned long long)h->dropped,
                     (double)h->cap_bytes / (1 << 20));
        else
            snprintf(err, errlen, "the history holds instructions %llu to %llu", (unsigned long long)start_of(h),
                     (unsigned long long)end);
        return -1;
    }
    int rc = travel(e, pos, stop);
    stop_here(e, stop, rc == 1 ? DX_STOP_INTERRUPTED : DX_STOP_STEP);
    if (rc < 0)
        snprintf(err, errlen, "the replay stopped short at instruction %llu", (unsigned long long)e->pos);
    return rc < 0 ? -1 : 0;
}

int dx_exec_reverse_step(dx_exec *e, dx_stop *stop)
{
    if (begin(e, stop) != 0)
        return -1;
    if (e->pos <= start_of(e->history)) {
        stop_here(e, stop, DX_STOP_NO_HISTORY);
        return 0;
    }
    int rc = travel(e, e->pos - 1, stop);
    stop_here(e, stop, rc == 1 ? DX_STOP_INTERRUPTED : rc < 0 ? DX_STOP_ERROR : DX_STOP_STEP);
    return 0;
}

/* Back to the last breakpoint or watchpoint hit before here, segment by
 * segment from the newest; the start of history if there is none. */
int dx_exec_reverse_continue(dx_exec *e, dx_stop *stop)
{
    if (begin(e, stop) != 0)
        return -1;
    history *h = e->history;
    uint64_t end = e->pos;
    for (size_t i = ckpt_before(h, end, true); i != NONE; i--) {
        uint64_t seg_end = i + 1 < h->n && snapshot_pos(h->ckpts[i + 1]) < end ? snapshot_pos(h->ckpts[i + 1]) : end;
        if (snapshot_pos(h->ckpts[i]) >= seg_end || restore(e, h->ckpts[i]) != 0)
            continue;
        e->hit.kind = DX_STOP_NONE;
        e->hit.end = seg_end;
        int rc = replay_to(e, seg_end, REPLAY_SEARCH, stop);
        if (rc == 1) {
            stop_here(e, stop, DX_STOP_INTERRUPTED);
            return 0;
        }
        if (e->hit.kind == DX_STOP_NONE)
            continue;
        dx_stop_kind kind = e->hit.kind;
        uint64_t addr = e->hit.addr;
        dx_access access = e->hit.access;
        rc = travel(e, e->hit.pos, stop);
        stop_here(e, stop, rc == 1 ? DX_STOP_INTERRUPTED : kind);
        if (kind == DX_STOP_WATCHPOINT) {
            stop->addr = addr;
            stop->access = access;
        }
        return 0;
    }
    if (h->n)
        restore(e, h->ckpts[0]);
    stop_here(e, stop, DX_STOP_NO_HISTORY);
    return 0;
}

/* Named snapshots: kept apart from the history, never dropped by its cap. */
static size_t named_index(const history *h, const char *name)
{
    for (size_t i = 0; h && i < h->nnamed; i++)
        if (!strcmp(snapshot_name(h->named[i]), name))
            return i;
    return NONE;
}

int dx_exec_snapshot_save(dx_exec *e, const char *name, char *err, size_t errlen)
{
    history *h = history_of(e);
    if (!h || strlen(name) >= 64 || !*name) {
        snprintf(err, errlen, h ? "a snapshot's name has 1 to 63 characters" : "out of memory");
        return -1;
    }
    dx_snapshot **grown = grow(h->named, h->nnamed, &h->capnamed, sizeof *grown);
    if (!grown) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->named = grown;
    dx_snapshot *s = take(e);
    if (!s) {
        snprintf(err, errlen, "cannot record the state (out of memory)");
        return -1;
    }
    snapshot_set_name(s, name);
    size_t old = named_index(h, name);
    if (old != NONE) {
        drop(e, h->named[old]);
        h->named[old] = s;
    } else {
        h->named[h->nnamed++] = s;
    }
    return 0;
}

int dx_exec_snapshot_restore(dx_exec *e, const char *name, char *err, size_t errlen)
{
    history *h = e->history;
    size_t i = named_index(h, name);
    char why[DX_ERRLEN];
    if (i == NONE) {
        snprintf(err, errlen, "no snapshot named %s", name);
        return -1;
    }
    if (engine_ensure(e, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    uint64_t pos = e->pos;
    if (restore(e, h->named[i]) != 0) {
        snprintf(err, errlen, "cannot restore snapshot %s", name);
        return -1;
    }
    e->pos = pos; /* the history goes on from here, with the snapshot's state */
    dx_exec_history_mark(e);
    return 0;
}

int dx_exec_snapshot_drop(dx_exec *e, const char *name)
{
    history *h = e->history;
    size_t i = named_index(h, name);
    if (i == NONE)
        return -1;
    drop(e, h->named[i]);
    memmove(h->named + i, h->named + i + 1, (--h->nnamed - i) * sizeof *h->named);
    return 0;
}

size_t dx_exec_snapshot_list(const dx_exec *e, dx_snapshot_info *out, size_t max)
{
    const history *h = e->history;
    size_t n = 0;
    for (; h && n < h->nnamed && n < max; n++) {
        snprintf(out[n].name, sizeof out[n].name, "%s", snapshot_name(h->named[n]));
        out[n].pos = snapshot_pos(h->named[n]);
        out[n].bytes = snapshot_bytes(h->named[n]);
    }
    return h ? h->nnamed : 0;
}
