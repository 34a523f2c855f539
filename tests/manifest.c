/* A small recursive-descent JSON parser: enough for the fixture manifests,
 * strict enough to notice a damaged one. */
#include "manifest.h"

#include "exec.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *p;
    const char *start;
    char *err;
    size_t errlen;
    int depth;
} parser;

static mj *fail(parser *ps, const char *what)
{
    if (ps->err && ps->errlen && !ps->err[0])
        snprintf(ps->err, ps->errlen, "JSON: %s at offset %zu", what, (size_t)(ps->p - ps->start));
    return NULL;
}

static void skip_ws(parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
        ps->p++;
}

static mj *node(mj_type t)
{
    mj *v = calloc(1, sizeof *v);
    if (v)
        v->type = t;
    return v;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* At the opening quote; returns the unescaped string. */
static char *parse_string_raw(parser *ps)
{
    const char *s = ps->p + 1;
    size_t n = 0;
    while (s[n] && s[n] != '"') {
        if (s[n] == '\\' && s[n + 1])
            n++;
        n++;
    }
    if (s[n] != '"') {
        fail(ps, "unterminated string");
        return NULL;
    }
    char *out = malloc(n * 2 + 1), *o = out; /* escapes never grow the text by 2x */
    if (!out)
        return NULL;
    const char *p = s;
    while (*p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) {
            free(out);
            ps->p = p;
            fail(ps, "control character in string");
            return NULL;
        }
        if (c != '\\') {
            *o++ = *p++;
            continue;
        }
        p++;
        switch (*p) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p + 1, &cp) != 0) {
                free(out);
                ps->p = p;
                fail(ps, "bad \\u escape");
                return NULL;
            }
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && p[1] == '\\' && p[2] == 'u' && hex4(p + 3, &lo) == 0 &&
                lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            o += put_utf8(o, cp);
            break;
        }
        default:
            free(out);
            ps->p = p;
            fail(ps, "bad escape");
            return NULL;
        }
        p++;
    }
    *o = 0;
    ps->p = p + 1;
    return out;
}

static mj *parse_value(parser *ps);

static mj *parse_container(parser *ps, bool object)
{
    mj *v = node(object ? MJ_OBJECT : MJ_ARRAY);
    if (!v)
        return NULL;
    ps->p++;
    skip_ws(ps);
    char close = object ? '}' : ']';
    if (*ps->p == close) {
        ps->p++;
        return v;
    }
    size_t cap = 0;
    for (;;) {
        char *key = NULL;
        skip_ws(ps);
        if (object) {
            if (*ps->p != '"' || !(key = parse_string_raw(ps))) {
                mj_free(v);
                return fail(ps, "expected a key");
            }
            skip_ws(ps);
            if (*ps->p != ':') {
                free(key);
                mj_free(v);
                return fail(ps, "expected ':'");
            }
            ps->p++;
        }
        mj *item = parse_value(ps);
        if (!item) {
            free(key);
            mj_free(v);
            return NULL;
        }
        if (v->count == cap) {
            cap = cap ? cap * 2 : 8;
            mj **items = realloc(v->items, cap * sizeof *items);
            char **keys = object ? realloc(v->keys, cap * sizeof *keys) : NULL;
            if (items)
                v->items = items;
            if (keys)
                v->keys = keys;
            if (!items || (object && !keys)) {
                free(key);
                mj_free(item);
                mj_free(v);
                return fail(ps, "out of memory");
            }
        }
        v->items[v->count] = item;
        if (object)
            v->keys[v->count] = key;
        v->count++;
        skip_ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            return v;
        }
        mj_free(v);
        return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static mj *parse_value(parser *ps)
{
    if (++ps->depth > 64)
        return fail(ps, "nesting too deep");
    skip_ws(ps);
    mj *v = NULL;
    const char *p = ps->p;
    if (*p == '{' || *p == '[') {
        v = parse_container(ps, *p == '{');
    } else if (*p == '"') {
        char *s = parse_string_raw(ps);
        if (s && (v = node(MJ_STRING)))
            v->text = s;
        else
            free(s);
    } else if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
        if ((v = node(MJ_BOOL)))
            v->b = *p == 't';
        ps->p += *p == 't' ? 4 : 5;
    } else if (!strncmp(p, "null", 4)) {
        v = node(MJ_NULL);
        ps->p += 4;
    } else if (*p == '-' || isdigit((unsigned char)*p)) {
        const char *q = p + (*p == '-');
        if (!isdigit((unsigned char)*q))
            return fail(ps, "bad number");
        while (isdigit((unsigned char)*q))
            q++;
        if (*q == '.') {
            q++;
            if (!isdigit((unsigned char)*q))
                return fail(ps, "bad number");
            while (isdigit((unsigned char)*q))
                q++;
        }
        if (*q == 'e' || *q == 'E') {
            q++;
            if (*q == '+' || *q == '-')
                q++;
            if (!isdigit((unsigned char)*q))
                return fail(ps, "bad number");
            while (isdigit((unsigned char)*q))
                q++;
        }
        if ((v = node(MJ_NUMBER)) && !(v->text = strndup(p, (size_t)(q - p)))) {
            free(v);
            v = NULL;
        }
        ps->p = q;
    } else {
        return fail(ps, "unexpected character");
    }
    ps->depth--;
    return v;
}

mj *mj_parse(const char *text, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    parser ps = {text, text, err, errlen, 0};
    mj *v = parse_value(&ps);
    if (!v)
        return fail(&ps, "parse error");
    skip_ws(&ps);
    if (*ps.p) {
        mj_free(v);
        return fail(&ps, "trailing text");
    }
    return v;
}

mj *mj_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        char *grown = realloc(buf, cap *= 2);
        if (!grown) {
            free(buf);
            buf = NULL;
        } else {
            buf = grown;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, errlen, "%s: cannot read", path);
        return NULL;
    }
    buf[n] = 0;
    mj *v = mj_parse(buf, err, errlen);
    free(buf);
    return v;
}

void mj_free(mj *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->count; i++) {
        mj_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->text);
    free(v);
}

const mj *mj_get(const mj *obj, const char *key)
{
    if (!obj || obj->type != MJ_OBJECT || !key)
        return NULL;
    for (size_t i = 0; i < obj->count; i++)
        if (!strcmp(obj->keys[i], key))
            return obj->items[i];
    return NULL;
}

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
        if (v->type == MJ_ARRAY) {
            char *end;
            errno = 0;
            unsigned long i = strtoul(part, &end, 10);
            v = *part && !*end && !errno ? mj_at(v, i) : NULL;
        } else {
            v = mj_get(v, part);
        }
    }
    return v;
}

size_t mj_len(const mj *v) { return v && (v->type == MJ_ARRAY || v->type == MJ_OBJECT) ? v->count : 0; }

const mj *mj_at(const mj *v, size_t i) { return i < mj_len(v) ? v->items[i] : NULL; }

const char *mj_key_at(const mj *obj, size_t i)
{
    return obj && obj->type == MJ_OBJECT && i < obj->count ? obj->keys[i] : NULL;
}

const char *mj_str(const mj *v) { return v && v->type == MJ_STRING ? v->text : NULL; }

bool mj_is_null(const mj *v) { return v && v->type == MJ_NULL; }

static const char *number_text(const mj *v)
{
    return v && (v->type == MJ_STRING || v->type == MJ_NUMBER) ? v->text : NULL;
}

bool mj_u64(const mj *v, uint64_t *out)
{
    const char *s = number_text(v);
    if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 0);
    return !*end && !errno;
}

bool mj_i64(const mj *v, int64_t *out)
{
    const char *s = number_text(v);
    if (!s || !*s || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    *out = (int64_t)strtoll(s, &end, 0);
    return !*end && !errno;
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
    if (!args || args->type != MJ_ARRAY || mj_len(args) > max)
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
