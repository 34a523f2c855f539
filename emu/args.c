/* The argument syntax shared by the command line and `monitor call`. */
#include "exec.h"
#include "pe.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 64
#define MAX_BUF (512u << 10)

static bool prefixed(const char *w, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(w, prefix, n) != 0)
        return false;
    *rest = w + n;
    return true;
}

static bool parse_int(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    if (*s == '-') {
        long long n = strtoll(s, &end, 0);
        *v = (uint64_t)n;
    } else {
        *v = strtoull(s, &end, 0);
    }
    return *s && !*end && !errno;
}

/* A whole-word integer that does not fit 64 bits (not a double to pass). */
static bool int_overflows(const char *s)
{
    char *end;
    errno = 0;
    if (*s == '-')
        (void)strtoll(s, &end, 0);
    else
        (void)strtoull(s, &end, 0);
    return *s && !*end && errno == ERANGE;
}

static bool parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *s && !*end && errno != ERANGE;
}

static int parse_escape(const char **p, char *out)
{
    const char *s = *p;
    switch (*s) {
    case 'n': *out = '\n'; break;
    case 't': *out = '\t'; break;
    case 'r': *out = '\r'; break;
    case '0': *out = '\0'; break;
    case '\\': case '"': case '\'': *out = *s; break;
    case 'x':
        if (isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
            char hex[3] = {s[1], s[2], 0};
            *out = (char)strtol(hex, NULL, 16);
            *p = s + 3;
            return 0;
        }
        return -1;
    default: return -1;
    }
    *p = s + 1;
    return 0;
}

/* Text of a str:/wstr: argument: the rest of the word, unquoted if quoted.
 * Returns the byte length (escapes may produce NUL bytes). */
static int string_text(const char *s, char **out, size_t *len)
{
    size_t n = strlen(s);
    char *t = malloc(n + 1), *o = t;
    if (!t)
        return -1;
    bool quoted = n >= 2 && s[0] == '"' && s[n - 1] == '"';
    if (!quoted && n && s[0] == '"') { /* an opening quote without its closing one */
        free(t);
        return -1;
    }
    const char *p = quoted ? s + 1 : s, *end = quoted ? s + n - 1 : s + n;
    while (p < end) {
        if (quoted && *p == '\\') {
            p++;
            if (p >= end || parse_escape(&p, o) != 0) {
                free(t);
                return -1;
            }
            o++;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
    *out = t;
    *len = (size_t)(o - t);
    return 0;
}

static int parse_one(const dx_dump *d, const char *w, dx_arg *a, char *err, size_t errlen)
{
    const char *rest;
    memset(a, 0, sizeof *a);
    if (prefixed(w, "ptr:", &rest) || prefixed(w, "int:", &rest)) {
        a->kind = DX_ARG_INT;
        if (parse_int(rest, &a->i))
            return 0;
    } else if (prefixed(w, "f32:", &rest) || prefixed(w, "float:", &rest)) {
        a->kind = DX_ARG_FLOAT;
        if (parse_double(rest, &a->d))
            return 0;
    } else if (prefixed(w, "f64:", &rest) || prefixed(w, "double:", &rest)) {
        a->kind = DX_ARG_DOUBLE;
        if (parse_double(rest, &a->d))
            return 0;
    } else if (prefixed(w, "str:", &rest) || prefixed(w, "wstr:", &rest)) {
        a->kind = w[0] == 'w' ? DX_ARG_WSTR : DX_ARG_STR;
        if (string_text(rest, &a->text, &a->size) == 0)
            return 0;
        snprintf(err, errlen, "bad string argument '%s' (unknown escape or unbalanced quote)", w);
        return -1;
    } else if (prefixed(w, "buf:", &rest)) {
        a->kind = DX_ARG_BUF;
        uint64_t n;
        if (parse_int(rest, &n) && n > 0 && n <= MAX_BUF) {
            a->size = (size_t)n;
            return 0;
        }
        snprintf(err, errlen, "bad buffer size in '%s' (1 to %u bytes)", w, MAX_BUF);
        return -1;
    } else if (parse_int(w, &a->i)) {
        a->kind = DX_ARG_INT;
        return 0;
    } else if (int_overflows(w)) {
        snprintf(err, errlen, "bad argument '%s': the integer does not fit 64 bits", w);
        return -1;
    } else if (parse_double(w, &a->d) && !isalpha((unsigned char)w[0])) {
        a->kind = DX_ARG_DOUBLE;
        return 0;
    } else if (d && (strchr(w, '!') || strchr(w, '+'))) {
        a->kind = DX_ARG_INT;
        return dx_dump_resolve(d, w, &a->i, err, errlen);
    }
    snprintf(err, errlen,
             "bad argument '%s': expected 42, -7, 0x2a, ptr:0x..., 3.14, f32:1.5, str:\"...\", wstr:\"...\" or buf:N", w);
    return -1;
}

int dx_args_parse(const dx_dump *d, const char *const *words, size_t nwords, dx_arg **out, size_t *nout, char *err, size_t errlen)
{
    *out = NULL;
    *nout = 0;
    if (nwords > MAX_ARGS) {
        snprintf(err, errlen, "too many arguments (%zu; at most %d)", nwords, MAX_ARGS);
        return -1;
    }
    dx_arg *args = calloc(nwords ? nwords : 1, sizeof *args);
    if (!args) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nwords; i++) {
        if (parse_one(d, words[i], &args[i], err, errlen) != 0) {
            dx_args_free(args, i);
            return -1;
        }
    }
    *out = args;
    *nout = nwords;
    return 0;
}

void dx_args_free(dx_arg *args, size_t n)
{
    for (size_t i = 0; i < n && args; i++)
        free(args[i].text);
    free(args);
}

/* Quotes group words and are removed, their escapes applied; the result
 * of `str:"a b"` is the single word `str:"a b"` re-quoted, so the argument
 * parser sees quotes and escapes the same way from both front ends. */
int dx_words_split(const char *line, char ***words, size_t *nwords, char *err, size_t errlen)
{
    size_t cap = 8, n = 0, len = strlen(line);
    char **w = calloc(cap, sizeof *w);
    if (!w)
        return -1;
    const char *p = line;
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        char *word = malloc(len + 1), *o = word;
        bool in_quotes = false;
        while (word && *p && (in_quotes || !isspace((unsigned char)*p))) {
            if (*p == '"')
                in_quotes = !in_quotes;
            else if (*p == '\\' && in_quotes && p[1])
                *o++ = *p++; /* keep the escape for the argument parser */
            *o++ = *p++;
        }
        if (!word || in_quotes) {
            free(word);
            dx_words_free(w, n);
            snprintf(err, errlen, word ? "unbalanced quote in: %s" : "out of memory", line);
            return -1;
        }
        *o = 0;
        if (n == cap) {
            char **grown = realloc(w, (cap *= 2) * sizeof *w);
            if (!grown) {
                free(word);
                dx_words_free(w, n);
                return -1;
            }
            w = grown;
        }
        w[n++] = word;
    }
    *words = w;
    *nwords = n;
    return 0;
}

void dx_words_free(char **words, size_t n)
{
    for (size_t i = 0; i < n && words; i++)
        free(words[i]);
    free(words);
}
