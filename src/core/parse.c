/* Whole-string number parsing (lmf/parse.h). */
#include "lmf/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* ---- numbers ---- */

/* Reads one double at s (no leading space); *end past it.  0 if none. */
static int read_double(const char *s, double *v, char **end) {
    if (!*s || isspace((unsigned char)*s)) return 0;
    errno = 0;
    *v = strtod(s, end);
    return *end != s && !errno && isfinite(*v);
}

int lmf_parse_u64(const char *s, uint64_t *out) {
    if (!s) return 0;
    const char *p = s + (*s == '+');
    if (!isdigit((unsigned char)*p)) return 0; /* also refuses "-", spaces and "" */
    char *e;
    errno = 0;
    unsigned long long v = strtoull(p, &e, 10);
    if (*e || errno) return 0;
    *out = (uint64_t)v;
    return 1;
}

int lmf_parse_int(const char *s, int *out) {
    if (!s) return 0;
    const char *p = s + (*s == '+' || *s == '-');
    if (!isdigit((unsigned char)*p)) return 0;
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (*e || errno || v < -2147483647L || v > 2147483647L) return 0;
    *out = (int)v;
    return 1;
}

int lmf_parse_double(const char *s, double *out) {
    if (!s) return 0;
    double v;
    char *e;
    if (!read_double(s, &v, &e) || *e) return 0;
    *out = v;
    return 1;
}

int lmf_parse_double_list(const char *s, double *out, int max) {
    if (!s) return -1;
    int n = 0;
    for (const char *p = s;;) {
        double v;
        char *e;
        if (n == max || !read_double(p, &v, &e) || (*e && *e != ',')) return -1;
        out[n++] = v;
        if (!*e) return n;
        p = e + 1;
    }
}
