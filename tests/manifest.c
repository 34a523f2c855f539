/* The fixture manifests through jansson: dotted paths, and numbers that may
 * be given as strings ("0x7ff...", "-14") so that 64-bit values keep every bit. */
#include "manifest.h"

#include "exec.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mj *loaded(json_t *v, const json_error_t *e, char *err, size_t errlen)
{
    if (!v && err && errlen)
        snprintf(err, errlen, "JSON: %s at line %d, column %d", e->text, e->line, e->column);
    return v;
}

mj *mj_parse(const char *text, char *err, size_t errlen)
{
    json_error_t e;
    return loaded(json_loads(text, JSON_REJECT_DUPLICATES, &e), &e, err, errlen);
}

mj *mj_load(const char *path, char *err, size_t errlen)
{
    json_error_t e;
    return loaded(json_load_file(path, JSON_REJECT_DUPLICATES, &e), &e, err, errlen);
}

void mj_free(mj *v) { json_decref(v); }

const mj *mj_get(const mj *obj, const char *key) { return key ? json_object_get(obj, key) : NULL; }

const mj *mj_path(const mj *root, const char *path)
{
    const mj *v = root;
    const char *p = path;
    char part[256];
    while (v && *p) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof part)
            return NULL;
        memcpy(part, p, n);
        part[n] = 0;
        p += n + (p[n] == '.');
        if (json_is_array(v)) {
            char *end;
            errno = 0;
            unsigned long i = strtoul(part, &end, 10);
            v = *part && !*end && !errno ? json_array_get(v, i) : NULL;
        } else {
            v = mj_get(v, part);
        }
    }
    return v;
}

size_t mj_len(const mj *v) { return json_is_array(v) ? json_array_size(v) : json_object_size(v); }

/* jansson keeps an object's keys in the order of the text. */
static void *object_iter_at(const mj *obj, size_t i)
{
    if (!json_is_object(obj))
        return NULL;
    void *it = json_object_iter((json_t *)obj);
    while (it && i--)
        it = json_object_iter_next((json_t *)obj, it);
    return it;
}

const mj *mj_at(const mj *v, size_t i)
{
    if (json_is_array(v))
        return json_array_get(v, i);
    void *it = object_iter_at(v, i);
    return it ? json_object_iter_value(it) : NULL;
}

const char *mj_key_at(const mj *obj, size_t i)
{
    void *it = object_iter_at(obj, i);
    return it ? json_object_iter_key(it) : NULL;
}

const char *mj_str(const mj *v) { return json_string_value(v); }

bool mj_is_null(const mj *v) { return json_is_null(v); }

bool mj_is_true(const mj *v) { return json_is_true(v); }

/* A string that is wholly a number in C syntax, as strtoull/strtoll read it. */
static bool parse_number(const char *s, bool is_signed, uint64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s) || (!is_signed && *s == '-'))
        return false;
    char *end;
    errno = 0;
    *out = is_signed ? (uint64_t)strtoll(s, &end, 0) : strtoull(s, &end, 0);
    return !*end && !errno;
}

static bool number(const mj *v, bool is_signed, uint64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        *out = (uint64_t)i;
        return is_signed || i >= 0;
    }
    return parse_number(json_string_value(v), is_signed, out);
}

bool mj_u64(const mj *v, uint64_t *out) { return number(v, false, out); }

bool mj_i64(const mj *v, int64_t *out)
{
    uint64_t u;
    if (!number(v, true, &u))
        return false;
    *out = (int64_t)u;
    return true;
}

uint64_t mj_path_u64(const mj *root, const char *path)
{
    uint64_t v = 0;
    return mj_u64(mj_path(root, path), &v) ? v : 0;
}

static const char *join(char (*ring)[4096], int *slot, const char *env, const char *fallback, const char *file)
{
    const char *dir = getenv(env);
    if (!dir || !*dir)
        dir = fallback;
    char *out = ring[(*slot)++ & 3];
    snprintf(out, 4096, "%s/%s", dir, file);
    return out;
}

const char *fixture_dump_path(const char *file)
{
    static char ring[4][4096];
    static int slot;
    return join(ring, &slot, "DX_FIXTURES", "tests/fixtures", file);
}

const char *fixture_source_path(const char *file)
{
    static char ring[4][4096];
    static int slot;
    return join(ring, &slot, "DX_FIXTURES_SRC", "../tests/fixtures", file);
}

mj *manifest_load(const char *name)
{
    char err[512];
    const char *path = fixture_source_path(name);
    mj *m = mj_load(path, err, sizeof err);
    if (!m) {
        fprintf(stderr, "cannot load manifest %s: %s\n", path, err);
        exit(1);
    }
    return m;
}

/* testprog manifest helpers */

uint64_t tp_func(const mj *m, const char *name)
{
    uint64_t a = 0;
    const mj *f = mj_get(mj_get(m, "functions"), name);
    return mj_u64(mj_get(f, "address"), &a) ? a : 0;
}

bool tp_value(const mj *v, uint64_t *bits, int *width, bool *is_float)
{
    const char *t = mj_str(mj_get(v, "type"));
    if (!t)
        return false;
    *is_float = false;
    if (!strcmp(t, "f32") || !strcmp(t, "f64")) {
        *is_float = true;
        *width = t[1] == '3' ? 32 : 64;
        return mj_u64(mj_get(v, "bits"), bits);
    }
    if (!strcmp(t, "ptr")) {
        *width = 64;
        return mj_u64(mj_get(v, "hex"), bits);
    }
    int w = !strcmp(t, "i32") || !strcmp(t, "u32") ? 32 : !strcmp(t, "i64") || !strcmp(t, "u64") ? 64 : 0;
    if (!w)
        return false;
    *width = w;
    /* "dec" is the value; "hex" its two's complement at the width. Both
     * must agree, which also checks this reader. */
    int64_t dec;
    uint64_t hex, udec;
    if (!mj_u64(mj_get(v, "hex"), &hex))
        return false;
    if (t[0] == 'u') {
        if (!mj_u64(mj_get(v, "dec"), &udec))
            return false;
        dec = (int64_t)udec;
    } else if (!mj_i64(mj_get(v, "dec"), &dec)) {
        return false;
    }
    uint64_t mask = w == 64 ? ~0ull : (1ull << w) - 1;
    if (((uint64_t)dec & mask) != hex)
        return false;
    *bits = (uint64_t)dec; /* signed types sign-extend, unsigned zero-extend */
    return true;
}

int tp_case_args(const mj *c, dx_arg *out, size_t max)
{
    const mj *args = mj_get(c, "args");
    if (!json_is_array(args) || mj_len(args) > max)
        return -1;
    for (size_t i = 0; i < mj_len(args); i++) {
        uint64_t bits;
        int width;
        bool is_float;
        if (!tp_value(mj_at(args, i), &bits, &width, &is_float))
            return -1;
        memset(&out[i], 0, sizeof out[i]);
        if (!is_float) {
            out[i].kind = DX_ARG_INT;
            out[i].i = bits;
        } else if (width == 32) {
            uint32_t b32 = (uint32_t)bits;
            float f;
            memcpy(&f, &b32, 4);
            out[i].kind = DX_ARG_FLOAT;
            out[i].d = f;
        } else {
            out[i].kind = DX_ARG_DOUBLE;
            memcpy(&out[i].d, &bits, 8);
        }
    }
    return (int)mj_len(args);
}

int fixture_open(const char *name, dx_dump **d, mj **m)
{
    char file[256], err[DX_ERRLEN];
    snprintf(file, sizeof file, "%s.json", name);
    *m = manifest_load(file);
    snprintf(file, sizeof file, "%s.dmp", name);
    if (dx_dump_open(fixture_dump_path(file), d, err, sizeof err) != 0) {
        fprintf(stderr, "cannot open %s: %s\n", file, err);
        return -1;
    }
    return 0;
}

void fixture_close(dx_dump *d, mj *m)
{
    dx_dump_close(d);
    mj_free(m);
}
