/* safetensors reading and writing (see include/lmf/io.h). */
#define _DEFAULT_SOURCE
#include "lmf/io.h"
#include "../core/json_impl.h"
#include "../core/util_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HEADER ((uint64_t)100 << 20) /* as the reference implementation */

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [LMF_DT_F32] = {"F32", 4}, [LMF_DT_F16] = {"F16", 2}, [LMF_DT_BF16] = {"BF16", 2}, [LMF_DT_F64] = {"F64", 8},
    [LMF_DT_I64] = {"I64", 8}, [LMF_DT_I32] = {"I32", 4}, [LMF_DT_I16] = {"I16", 2},  [LMF_DT_I8] = {"I8", 1},
    [LMF_DT_U8] = {"U8", 1},   [LMF_DT_BOOL] = {"BOOL", 1},
};
#define NDTYPES (sizeof dtypes / sizeof *dtypes)

size_t lmf_dtype_size(lmf_dtype t) { return (unsigned)t < NDTYPES ? dtypes[t].size : 0; }
const char *lmf_dtype_name(lmf_dtype t) { return (unsigned)t < NDTYPES ? dtypes[t].name : "?"; }

static int dtype_parse(const char *s) {
    for (size_t i = 0; i < NDTYPES; i++)
        if (!strcmp(s, dtypes[i].name)) return (int)i;
    return -1;
}

struct lmf_safetensors {
    void *map;
    size_t map_len;
    lmf_st_tensor *t;
    size_t n;
    char **meta_keys, **meta_vals;
    size_t nmeta;
    char *names; /* all tensor names, NUL-separated */
};

void lmf_st_close(lmf_safetensors *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->map_len);
    lmf_free(st->t);
    for (size_t i = 0; i < st->nmeta; i++) {
        lmf_free(st->meta_keys[i]);
        lmf_free(st->meta_vals[i]);
    }
    lmf_free(st->meta_keys);
    lmf_free(st->meta_vals);
    lmf_free(st->names);
    lmf_free(st);
}

size_t lmf_st_count(const lmf_safetensors *st) { return st->n; }
const lmf_st_tensor *lmf_st_at(const lmf_safetensors *st, size_t i) { return i < st->n ? &st->t[i] : NULL; }

const lmf_st_tensor *lmf_st_find(const lmf_safetensors *st, const char *name) {
    for (size_t i = 0; i < st->n; i++)
        if (!strcmp(st->t[i].name, name)) return &st->t[i];
    return NULL;
}

const char *lmf_st_meta(const lmf_safetensors *st, const char *key) {
    for (size_t i = 0; i < st->nmeta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_vals[i];
    return NULL;
}

static int cmp_offset(const void *a, const void *b) {
    const lmf_st_tensor *x = (const lmf_st_tensor *)a, *y = (const lmf_st_tensor *)b;
    const char *px = (const char *)x->data, *py = (const char *)y->data;
    if (px != py) return px < py ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

#define BAD(...) lmf_error(LMF_ERR_FORMAT, __VA_ARGS__)

/* A JSON number that is a non-negative integer below 2^53, else -1. */
static int64_t json_uint(const cJSON *j) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(int64_t)d) return -1;
    return (int64_t)d;
}

static lmf_status parse_header(lmf_safetensors *st, const char *path, const char *json, size_t jlen,
                               const unsigned char *data, uint64_t dlen) {
    cJSON *root = NULL;
    lmf_status ps = lmf_json_parse(json, jlen, NULL, &root);
    if (ps == LMF_ERR_NOMEM) return lmf_error(ps, "%s: out of memory", path);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return BAD("%s: the header is not a JSON object (not a safetensors file, or damaged)", path);
    }
    lmf_status s = LMF_OK;
    size_t count = 0, namebytes = 0;
    for (cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) continue;
        count++;
        namebytes += strlen(e->string) + 1;
    }
    st->t = (lmf_st_tensor *)lmf_calloc(count ? count : 1, sizeof *st->t);
    st->names = (char *)lmf_malloc(namebytes ? namebytes : 1);
    if (!st->t || !st->names) {
        cJSON_Delete(root);
        return lmf_error(LMF_ERR_NOMEM, "%s: out of memory", path);
    }
    char *np = st->names;
    int seen_meta = 0;
    for (cJSON *e = root->child; e && !s; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (seen_meta++ || !cJSON_IsObject(e)) {
                s = BAD("%s: __metadata__ must be one object of strings", path);
                break;
            }
            size_t nm = 0;
            for (cJSON *k = e->child; k; k = k->next) nm++;
            st->meta_keys = (char **)lmf_calloc(nm ? nm : 1, sizeof(char *));
            st->meta_vals = (char **)lmf_calloc(nm ? nm : 1, sizeof(char *));
            if (!st->meta_keys || !st->meta_vals) {
                s = lmf_error(LMF_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            for (cJSON *k = e->child; k; k = k->next) {
                if (!cJSON_IsString(k)) {
                    s = BAD("%s: metadata value of \"%s\" is not a string", path, k->string);
                    break;
                }
                st->meta_keys[st->nmeta] = lmf_strdup(k->string);
                st->meta_vals[st->nmeta] = lmf_strdup(k->valuestring);
                st->nmeta++;
                if (!st->meta_keys[st->nmeta - 1] || !st->meta_vals[st->nmeta - 1]) {
                    s = lmf_error(LMF_ERR_NOMEM, "%s: out of memory", path);
                    break;
                }
            }
            continue;
        }
        lmf_st_tensor *t = &st->t[st->n];
        size_t nl = strlen(e->string) + 1;
        memcpy(np, e->string, nl);
        t->name = np;
        np += nl;
        const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
        const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        int d = cJSON_IsString(dt) ? dtype_parse(dt->valuestring) : -1;
        if (!cJSON_IsObject(e) || d < 0 || !cJSON_IsArray(sh) || !cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2) {
            s = BAD("%s: tensor \"%s\": needs a known \"dtype\", a \"shape\" array and \"data_offsets\" [begin, end]",
                    path, e->string);
            break;
        }
        t->dtype = (lmf_dtype)d;
        int nd = cJSON_GetArraySize(sh);
        if (nd > LMF_ST_MAX_DIMS) {
            s = BAD("%s: tensor \"%s\" has %d dimensions (at most %d supported)", path, e->string, nd,
                    LMF_ST_MAX_DIMS);
            break;
        }
        t->ndim = nd;
        uint64_t numel = 1;
        for (int i = 0; i < nd && !s; i++) {
            int64_t v = json_uint(cJSON_GetArrayItem(sh, i));
            if (v < 0) {
                s = BAD("%s: tensor \"%s\": shape entries must be non-negative integers", path, e->string);
                break;
            }
            t->shape[i] = v;
            if (v && numel > UINT64_MAX / (uint64_t)v) {
                s = BAD("%s: tensor \"%s\": shape overflows", path, e->string);
                break;
            }
            numel *= (uint64_t)v;
        }
        if (s) break;
        int64_t b = json_uint(cJSON_GetArrayItem(of, 0)), en = json_uint(cJSON_GetArrayItem(of, 1));
        uint64_t esz = dtypes[d].size;
        if (b < 0 || en < b || (uint64_t)en > dlen) {
            s = BAD("%s: tensor \"%s\": data_offsets [%lld, %lld] outside the %llu-byte data buffer (truncated "
                    "file?)",
                    path, e->string, (long long)b, (long long)en, (unsigned long long)dlen);
            break;
        }
        if (numel > UINT64_MAX / esz || numel * esz != (uint64_t)(en - b)) {
            s = BAD("%s: tensor \"%s\": %llu bytes for a %s tensor of %llu elements", path, e->string,
                    (unsigned long long)(en - b), dtypes[d].name, (unsigned long long)numel);
            break;
        }
        t->numel = numel;
        t->nbytes = (uint64_t)(en - b);
        t->data = data + b;
        st->n++;
    }
    cJSON_Delete(root);
    if (s) return s;
    /* names unique; tensors tile the data buffer exactly */
    lmf_st_tensor *sorted = (lmf_st_tensor *)lmf_malloc((st->n ? st->n : 1) * sizeof *sorted);
    if (!sorted) return lmf_error(LMF_ERR_NOMEM, "%s: out of memory", path);
    memcpy(sorted, st->t, st->n * sizeof *sorted);
    qsort(sorted, st->n, sizeof *sorted, cmp_offset);
    uint64_t at = 0;
    for (size_t i = 0; i < st->n && !s; i++) {
        uint64_t b = (uint64_t)((const unsigned char *)sorted[i].data - data);
        if (b != at)
            s = BAD("%s: tensor \"%s\" starts at byte %llu of the data buffer, expected %llu (gap or overlap)", path,
                    sorted[i].name, (unsigned long long)b, (unsigned long long)at);
        at = b + sorted[i].nbytes;
    }
    if (!s && at != dlen)
        s = BAD("%s: the tensors cover %llu of the %llu data bytes (trailing garbage?)", path,
                (unsigned long long)at, (unsigned long long)dlen);
    for (size_t i = 0; i < st->n && !s; i++)
        for (size_t j = i + 1; j < st->n && !s; j++)
            if (!strcmp(st->t[i].name, st->t[j].name)) s = BAD("%s: tensor \"%s\" appears twice", path, st->t[i].name);
    memcpy(st->t, sorted, st->n * sizeof *sorted); /* expose in data order */
    lmf_free(sorted);
    return s;
}

lmf_status lmf_st_open(const char *path, lmf_safetensors **out) {
    *out = NULL;
    lmf_json_init();
    int fd = open(path, O_RDONLY);
    if (fd < 0) return lmf_error(LMF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return lmf_error(LMF_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return BAD("%s: %llu bytes is too short for a safetensors file", path, (unsigned long long)size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return lmf_error(LMF_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
    const unsigned char *base = (const unsigned char *)map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    if (hlen > MAX_HEADER || hlen > size - 8) {
        munmap(map, size);
        return BAD("%s: header length %llu does not fit the %llu-byte file (not safetensors, or truncated)", path,
                   (unsigned long long)hlen, (unsigned long long)size);
    }
    lmf_safetensors *st = (lmf_safetensors *)lmf_calloc(1, sizeof *st);
    if (!st) {
        munmap(map, size);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    st->map = map;
    st->map_len = size;
    lmf_status s = parse_header(st, path, (const char *)base + 8, (size_t)hlen, base + 8 + hlen, size - 8 - hlen);
    if (s) {
        lmf_st_close(st);
        return s;
    }
    *out = st;
    return LMF_OK;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

lmf_status lmf_st_to_f32(const lmf_st_tensor *t, float *dst) {
    const unsigned char *p = (const unsigned char *)t->data;
    switch (t->dtype) {
    case LMF_DT_F32: memcpy(dst, p, t->numel * 4); return LMF_OK;
    case LMF_DT_F64:
        for (uint64_t i = 0; i < t->numel; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return LMF_OK;
    case LMF_DT_F16:
    case LMF_DT_BF16:
        for (uint64_t i = 0; i < t->numel; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
            if (t->dtype == LMF_DT_F16) {
                dst[i] = half_to_float(h);
            } else {
                uint32_t bits = (uint32_t)h << 16;
                memcpy(&dst[i], &bits, 4);
            }
        }
        return LMF_OK;
    default:
        return lmf_error(LMF_ERR_UNSUPPORTED, "tensor \"%s\" has dtype %s; expected a floating-point tensor", t->name,
                         lmf_dtype_name(t->dtype));
    }
}

lmf_status lmf_st_to_f32_finite(const lmf_st_tensor *t, float *dst, const char *path) {
    if (lmf_st_to_f32(t, dst))
        return lmf_error(LMF_ERR_FORMAT, "%s: tensor \"%s\" has dtype %s; expected a floating-point tensor", path,
                         t->name, lmf_dtype_name(t->dtype));
    for (uint64_t i = 0; i < t->numel; i++)
        if (!isfinite(dst[i]))
            return lmf_error(LMF_ERR_FORMAT,
                             "%s: tensor \"%s\" holds %s at element %llu: the model is damaged or its training "
                             "diverged; use an earlier checkpoint or train again",
                             path, t->name, isnan(dst[i]) ? "NaN" : dst[i] > 0 ? "+inf" : "-inf", (unsigned long long)i);
    return LMF_OK;
}

/* ---------------- writing ---------------- */

typedef struct wtensor {
    char *name;
    lmf_dtype dtype;
    int ndim;
    int64_t shape[LMF_ST_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
} wtensor;

struct lmf_st_writer {
    wtensor *t;
    size_t n, cap;
    cJSON *meta;
};

lmf_st_writer *lmf_st_writer_new(void) {
    lmf_json_init();
    lmf_st_writer *w = (lmf_st_writer *)lmf_calloc(1, sizeof *w);
    if (w && !(w->meta = cJSON_CreateObject())) {
        lmf_free(w);
        return NULL;
    }
    return w;
}

void lmf_st_writer_free(lmf_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) lmf_free(w->t[i].name);
    lmf_free(w->t);
    cJSON_Delete(w->meta);
    lmf_free(w);
}

lmf_status lmf_st_add(lmf_st_writer *w, const char *name, lmf_dtype dtype, int ndim, const int64_t *shape,
                      const void *data) {
    if ((unsigned)dtype >= NDTYPES || ndim < 0 || ndim > LMF_ST_MAX_DIMS || !strcmp(name, "__metadata__"))
        return lmf_error(LMF_ERR_ARG, "tensor \"%s\": bad dtype, rank or name", name);
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name)) return lmf_error(LMF_ERR_ARG, "tensor \"%s\" added twice", name);
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return lmf_error(LMF_ERR_ARG, "tensor \"%s\": negative dimension", name);
        numel *= (uint64_t)shape[i];
    }
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 16;
        wtensor *nt = (wtensor *)lmf_realloc(w->t, nc * sizeof *nt);
        if (!nt) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        w->t = nt;
        w->cap = nc;
    }
    wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = lmf_strdup(name))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = numel * dtypes[dtype].size;
    w->n++;
    return LMF_OK;
}

lmf_status lmf_st_set_meta(lmf_st_writer *w, const char *key, const char *value) {
    cJSON *v = cJSON_CreateString(value);
    if (!v) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (cJSON_GetObjectItemCaseSensitive(w->meta, key)) {
        cJSON_ReplaceItemInObjectCaseSensitive(w->meta, key, v);
    } else if (!cJSON_AddItemToObject(w->meta, key, v)) {
        cJSON_Delete(v);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    return LMF_OK;
}

lmf_status lmf_st_write(const lmf_st_writer *w, const char *path) { return lmf_st_write_checked(w, path, NULL, NULL); }

lmf_status lmf_st_write_checked(const lmf_st_writer *w, const char *path,
                                lmf_status (*check)(const char *tmp_path, void *user), void *user) {
    cJSON *root = cJSON_CreateObject();
    lmf_status s = root ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && cJSON_GetArraySize(w->meta) > 0) {
        cJSON *m = cJSON_Duplicate(w->meta, 1);
        if (!m || !cJSON_AddItemToObject(root, "__metadata__", m)) {
            cJSON_Delete(m); /* not added: still ours */
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n && !s; i++) {
        const wtensor *t = &w->t[i];
        cJSON *e = cJSON_CreateObject();
        cJSON *sh = cJSON_CreateArray();
        cJSON *of = cJSON_CreateArray();
        int ok = e && sh && of && cJSON_AddStringToObject(e, "dtype", dtypes[t->dtype].name);
        for (int d = 0; d < t->ndim && ok; d++) ok = cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        ok = ok && cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off)) &&
             cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + t->nbytes)));
        if (ok && cJSON_AddItemToObject(e, "shape", sh)) sh = NULL;
        if (ok && cJSON_AddItemToObject(e, "data_offsets", of)) of = NULL;
        ok = ok && !sh && !of && cJSON_AddItemToObject(root, t->name, e);
        if (!ok) {
            cJSON_Delete(sh);
            cJSON_Delete(of);
            cJSON_Delete(e);
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
        off += t->nbytes;
    }
    char *json = s ? NULL : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s && !json) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) return s;
    size_t jl = strlen(json), padded = (jl + 7) & ~(size_t)7; /* data 8-byte aligned; pad with spaces */
    lmf_outfile of;
    if ((s = lmf_outfile_open(&of, path))) {
        cJSON_free(json);
        return s;
    }
    if (check && !of.tmp) {
        lmf_outfile_abort(&of);
        cJSON_free(json);
        return lmf_error(LMF_ERR_ARG, "%s: not a regular file; this file is read back before it is kept, so give "
                                      "the name of a regular file", path);
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    fwrite(len8, 1, 8, of.fp);
    fwrite(json, 1, jl, of.fp);
    for (size_t i = jl; i < padded; i++) fputc(' ', of.fp);
    cJSON_free(json);
    for (size_t i = 0; i < w->n; i++) fwrite(w->t[i].data, 1, w->t[i].nbytes, of.fp);
    if (check) {
        if (fflush(of.fp) || ferror(of.fp))
            s = lmf_error(LMF_ERR_IO, "%s: write failed: %s (nothing written)", path, strerror(errno));
        if (!s) s = check(of.tmp, user);
        if (s) {
            lmf_outfile_abort(&of);
            return s;
        }
    }
    return lmf_outfile_commit(&of);
}
