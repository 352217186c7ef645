/* JSON through the allocation seam, and range-checked numbers out of it
 * (json_impl.h). */
#include "json_impl.h"
#include "util_impl.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>

/* What j holds, for a message. */
static void describe(const cJSON *j, char *buf, size_t n) {
    if (!j)
        snprintf(buf, n, "missing");
    else if (cJSON_IsNumber(j))
        snprintf(buf, n, "%.15g", j->valuedouble);
    else if (cJSON_IsString(j))
        snprintf(buf, n, "the string \"%.40s\"", j->valuestring);
    else
        snprintf(buf, n, "%s", cJSON_IsBool(j) ? "a boolean" : cJSON_IsNull(j) ? "null" : cJSON_IsArray(j) ? "an array" : "an object");
}

static lmf_status bad(const cJSON *j, const char *file, const char *key, const char *what, const char *fix) {
    char got[80];
    describe(j, got, sizeof got);
    return lmf_error(LMF_ERR_FORMAT, "%s: %s must be %s (got %s)%s%s", file, key, what, got, fix ? "; " : "",
                     fix ? fix : "");
}

/* A whole number in [-2^63, 2^63) as int64, exactly; 0 if j is not one. */
static int as_int64(const cJSON *j, int64_t *v) {
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < -0x1p63 || d >= 0x1p63) return 0;
    *v = (int64_t)d;
    return 1;
}

lmf_status lmf_json_int(const cJSON *j, const char *file, const char *key, int64_t lo, int64_t hi, const char *fix,
                        int64_t *out) {
    int64_t v;
    if (!as_int64(j, &v) || v < lo || v > hi) {
        char what[96];
        snprintf(what, sizeof what, "%lld..%lld, a whole number", (long long)lo, (long long)hi);
        return bad(j, file, key, what, fix);
    }
    *out = v;
    return LMF_OK;
}

lmf_status lmf_json_i32(const cJSON *j, const char *file, const char *key, int lo, int hi, const char *fix, int *out) {
    int64_t v;
    lmf_status s = lmf_json_int(j, file, key, lo, hi, fix, &v);
    if (!s) *out = (int)v;
    return s;
}

lmf_status lmf_json_u64(const cJSON *j, const char *file, const char *key, uint64_t hi, const char *fix,
                        uint64_t *out) {
    double d = cJSON_IsNumber(j) ? j->valuedouble : -1;
    if (!(d >= 0 && d < 0x1p64) || d != floor(d) || (uint64_t)d > hi) {
        char what[96];
        snprintf(what, sizeof what, "0..%llu, a whole number", (unsigned long long)hi);
        return bad(j, file, key, what, fix);
    }
    *out = (uint64_t)d;
    return LMF_OK;
}

lmf_status lmf_json_num(const cJSON *j, const char *file, const char *key, double lo, double hi, const char *fix,
                        double *out) {
    double d = cJSON_IsNumber(j) ? j->valuedouble : NAN;
    if (!isfinite(d) || !(d >= lo && d <= hi)) {
        char what[96];
        if (isinf(lo) && isinf(hi))
            snprintf(what, sizeof what, "a finite number");
        else if (isinf(hi))
            snprintf(what, sizeof what, "a finite number >= %g", lo);
        else
            snprintf(what, sizeof what, "a finite number in [%g, %g]", lo, hi);
        return bad(j, file, key, what, fix);
    }
    *out = d;
    return LMF_OK;
}

/* ---- parsing through the allocation seam ---- */

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

uint64_t lmf_json_failures(void) { return json_failed; }

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

lmf_status lmf_json_add_numbers(cJSON *j, const char *name, const double *v, size_t n) {
    cJSON *a = cJSON_AddArrayToObject(j, name);
    for (size_t i = 0; a && i < n; i++)
        if (!cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]))) a = NULL;
    return a ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
}

int lmf_json_numbers(const cJSON *a, size_t n, double *v) {
    if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) != n) return 0;
    size_t i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) return 0;
        v[i] = e->valuedouble;
    }
    return 1;
}

lmf_status lmf_json_save(const char *path, cJSON *j) {
    char *txt = cJSON_Print(j);
    cJSON_Delete(j);
    if (!txt) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_outfile of;
    lmf_status s = lmf_outfile_open(&of, path);
    if (!s) {
        fputs(txt, of.fp);
        fputc('\n', of.fp);
        s = lmf_outfile_commit(&of);
    }
    cJSON_free(txt);
    return s;
}
