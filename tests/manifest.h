/* The fixture manifests (tests/fixtures, testprog_*.json), read with jansson,
 * and the helpers the tests share to find fixtures.
 *
 * Lookups never fail loudly:
 * a missing key or a wrong type gives NULL (or false), so tests can assert on
 * the result. The manifests give 64-bit values as strings ("0x...", "-14"),
 * which the number getters read. */
#ifndef DX_TEST_MANIFEST_H
#define DX_TEST_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct json_t mj; /* a jansson value */

/* Parse a document; NULL with a message in err on failure. */
mj *mj_parse(const char *text, char *err, size_t errlen);
mj *mj_load(const char *path, char *err, size_t errlen);
void mj_free(mj *v);

const mj *mj_get(const mj *obj, const char *key);
/* A dotted path: "functions.add2.cases.0.result.hex" (array items by index). */
const mj *mj_path(const mj *root, const char *path);
size_t mj_len(const mj *v); /* items of an array or object, else 0 */
const mj *mj_at(const mj *v, size_t i);
const char *mj_key_at(const mj *obj, size_t i);
const char *mj_str(const mj *v); /* NULL unless a string */
bool mj_is_null(const mj *v);
bool mj_is_true(const mj *v);

/* Numbers from strings or number literals: "0x1a", "-14", 42. False when
 * the value is missing or not wholly a number. */
bool mj_u64(const mj *v, uint64_t *out);
bool mj_i64(const mj *v, int64_t *out);
/* mj_u64 of mj_path(root, path); 0 if absent (tests assert separately). */
uint64_t mj_path_u64(const mj *root, const char *path);

/* Fixture locations from the environment CTest sets (DX_FIXTURES holds the
 * unpacked dumps, DX_FIXTURES_SRC the manifests). The returned path is in a
 * ring of four static buffers per function; copy it to keep it longer. */
const char *fixture_dump_path(const char *file);   /* $DX_FIXTURES/file */
const char *fixture_source_path(const char *file); /* $DX_FIXTURES_SRC/file */
/* Load $DX_FIXTURES_SRC/name (e.g. "testprog_full.json"); aborts the
 * process with a message if that fails, since no test can run without it. */
mj *manifest_load(const char *name);
/* A fixture and its manifest, by base name ("testprog_full"): 0, or -1
 * with a message on stderr. */
struct dx_dump;
int fixture_open(const char *name, struct dx_dump **d, mj **m);
void fixture_close(struct dx_dump *d, mj *m);

/* testprog manifest helpers. */
struct dx_arg;
/* functions.<name>.address, or 0. */
uint64_t tp_func(const mj *m, const char *name);
/* A typed value object ({"type":"i32","dec":...} etc.) as the 64 bits the
 * calling convention carries: integers sign- or zero-extended from their
 * width, floats as their IEEE bits (f32 in the low 32). *width gets the
 * type's width in bits; *is_float whether it travels in XMM. */
bool tp_value(const mj *v, uint64_t *bits, int *width, bool *is_float);
/* A case's "args" as dx_args (integers and pointers DX_ARG_INT, f32
 * DX_ARG_FLOAT, f64 DX_ARG_DOUBLE). Returns the count, or -1. */
int tp_case_args(const mj *c, struct dx_arg *out, size_t max);

#endif
