/* Whole-string number parsing (lmf/parse.h) and JSON through the
 * allocation seam (parse_impl.h). */
#include "lmf/parse.h"
#include "parse_impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
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

/* ---- JSON ---- */

static _Thread_local uint64_t json_failed; /* allocations refused to cJSON on this thread */

static void *json_malloc(size_t n) {
    void *p = lmf_malloc(n);
    if (!p) json_failed++;
    return p;
}

static void json_hooks(void) {
    cJSON_Hooks h = {json_malloc, lmf_free};
    cJSON_InitHooks(&h);
}

void lmf_json_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, json_hooks);
}

lmf_status lmf_json_parse(const char *s, size_t n, const char **end, cJSON **out) {
    lmf_json_init();
    uint64_t failed = json_failed;
    const char *stop = NULL;
    *out = cJSON_ParseWithLengthOpts(s, n, &stop, 0);
    if (end) *end = stop;
    if (*out) return LMF_OK;
    if (json_failed != failed) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    return LMF_ERR_FORMAT;
}
