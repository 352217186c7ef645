/* lmfuse number parsing: whole-string numbers for option values and other
 * text fields (the command line parses every number through these).
 *
 * Each accepts exactly one number filling the whole NUL-terminated string:
 * no leading or trailing spaces, decimal only for integers.  On success it
 * returns 1 and sets *out; otherwise it returns 0 and leaves *out alone. */
#ifndef LMF_PARSE_H
#define LMF_PARSE_H

#include "lmf/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* [+]digits, at most UINT64_MAX (a minus sign is refused, not wrapped). */
int lmf_parse_u64(const char *s, uint64_t *out);
/* [+-]digits within [-2147483647, 2147483647]. */
int lmf_parse_int(const char *s, int *out);
/* A finite number as strtod reads it ("1.5", "-2e-3", "0x1p4"); "nan",
 * "inf" and values that overflow or underflow are refused. */
int lmf_parse_double(const char *s, double *out);
/* A comma-separated list of 1..max such numbers ("0.5,1,1.5") into out;
 * returns the count, or -1 if the list is empty, malformed (an empty item)
 * or longer than max (out may be partly written then). */
int lmf_parse_double_list(const char *s, double *out, int max);

#ifdef __cplusplus
}
#endif
#endif
