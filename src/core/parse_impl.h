/* Private parsing helpers: JSON through the library's allocation seam. */
#ifndef LMF_PARSE_IMPL_H
#define LMF_PARSE_IMPL_H

#include "lmf/common.h"

#include <cjson/cJSON.h>

/* Makes cJSON allocate through lmf_malloc/lmf_free (once per process), so
 * that allocation-failure tests reach it.  lmf_json_parse calls it; writers
 * that build JSON before any parse call it first. */
void lmf_json_init(void);

/* Parses s[0..n) as one JSON value into *out.  LMF_ERR_NOMEM (message set)
 * when an allocation failed; LMF_ERR_FORMAT when the text is not JSON: the
 * message is left to the caller, and *end (may be NULL) points where
 * parsing stopped.  *out is NULL on error. */
lmf_status lmf_json_parse(const char *s, size_t n, const char **end, cJSON **out);

#endif
