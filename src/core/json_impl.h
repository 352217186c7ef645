/* Private: JSON through the library's allocation seam, and numbers out of
 * JSON (recipes, cache files, checkpoint metadata, safetensors headers)
 * into C types, with their range checked first.  A JSON number is a
 * double; converting one that is out of range (1e30 into an int) is
 * undefined behaviour, so every conversion goes through here. */
#ifndef LMF_JSON_IMPL_H
#define LMF_JSON_IMPL_H

#include "lmf/common.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* Makes cJSON allocate through lmf_malloc/lmf_free (once per process), so
 * that allocation-failure tests reach it.  lmf_json_parse calls it; writers
 * that build JSON before any parse call it first. */
void lmf_json_init(void);

/* Parses s[0..n) as one JSON value into *out.  LMF_ERR_NOMEM (message set)
 * when an allocation failed; LMF_ERR_FORMAT when the text is not JSON: the
 * message is left to the caller, and *end (may be NULL) points where
 * parsing stopped.  *out is NULL on error. */
lmf_status lmf_json_parse(const char *s, size_t n, const char **end, cJSON **out);

/* How many allocations cJSON was refused on this thread so far: a writer
 * that builds a tree with cJSON_Add* (which drop an item they cannot
 * allocate) compares it before and after, and reports out of memory
 * instead of writing a document with keys missing. */
uint64_t lmf_json_failures(void);

/* j must be a JSON number, whole, in [lo, hi]; *out gets it.  Otherwise
 * returns LMF_ERR_FORMAT with the message
 *   "<file>: <key> must be <lo>..<hi>, a whole number (got <value>); <fix>"
 * (j == NULL: "(missing)").  `fix` may be NULL. */
lmf_status lmf_json_int(const cJSON *j, const char *file, const char *key, int64_t lo, int64_t hi, const char *fix,
                        int64_t *out);
/* The same for an int. */
lmf_status lmf_json_i32(const cJSON *j, const char *file, const char *key, int lo, int hi, const char *fix, int *out);
/* The same for an unsigned 64-bit integer in [0, hi]. */
lmf_status lmf_json_u64(const cJSON *j, const char *file, const char *key, uint64_t hi, const char *fix,
                        uint64_t *out);
/* j must be a finite JSON number in [lo, hi] (either bound may be infinite). */
lmf_status lmf_json_num(const cJSON *j, const char *file, const char *key, double lo, double hi, const char *fix,
                        double *out);
/* Adds an array of n numbers under name (LMF_ERR_NOMEM on failure). */
/* Writes j to path atomically (lmf_outfile), indented, and frees j. */
lmf_status lmf_json_save(const char *path, cJSON *j);
lmf_status lmf_json_add_numbers(cJSON *j, const char *name, const double *v, size_t n);
/* 1 if a is an array of exactly n finite numbers, copied to v; else 0. */
int lmf_json_numbers(const cJSON *a, size_t n, double *v);

#endif
