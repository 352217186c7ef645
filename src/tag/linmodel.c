/* A multi-class linear model over hashed features, trained as an averaged
 * perceptron (tag_impl.h, "linear models"): the perceptron tagger's model
 * and the stacking meta-tagger's.  Features are 64-bit keys; each has a
 * sparse row of (class, weight).  Training keeps, per (feature, class), the
 * weight, the sum of its past values and the step of its last change, so
 * the average over all steps costs nothing per step (Collins 2002; the
 * usual "lazy" averaging). */
#define _POSIX_C_SOURCE 200809L
#include "tag_impl.h"
#include "../core/util_impl.h"

#include <string.h>

/* ---- key -> row ---- */

int32_t lmf_fmap_find(const lmf_fmap *m, uint64_t k) {
    if (!m->nslot) return -1;
    size_t i = (size_t)lmf_mix64(k) & (m->nslot - 1);
    while (m->val[i]) {
        if (m->key[i] == k) return m->val[i] - 1;
        i = (i + 1) & (m->nslot - 1);
    }
    return -1;
}

static int fmap_grow(lmf_fmap *m) {
    const size_t ns = m->nslot ? 2 * m->nslot : 1 << 10;
    uint64_t *nk = (uint64_t *)lmf_malloc(ns * sizeof *nk);
    int32_t *nv = (int32_t *)lmf_calloc(ns, sizeof *nv);
    if (!nk || !nv) {
        lmf_free(nk);
        lmf_free(nv);
        return 0;
    }
    for (size_t i = 0; i < m->nslot; i++) {
        if (!m->val[i]) continue;
        size_t j = (size_t)lmf_mix64(m->key[i]) & (ns - 1);
        while (nv[j]) j = (j + 1) & (ns - 1);
        nk[j] = m->key[i];
        nv[j] = m->val[i];
    }
    lmf_free(m->key);
    lmf_free(m->val);
    m->key = nk;
    m->val = nv;
    m->nslot = ns;
    return 1;
}

int32_t lmf_fmap_add(lmf_fmap *m, uint64_t k, int32_t next) {
    if (2 * (m->n + 1) > m->nslot && !fmap_grow(m)) return -1;
    size_t i = (size_t)lmf_mix64(k) & (m->nslot - 1);
    while (m->val[i]) {
        if (m->key[i] == k) return m->val[i] - 1;
        i = (i + 1) & (m->nslot - 1);
    }
    m->key[i] = k;
    m->val[i] = next + 1;
    m->n++;
    return next;
}

void lmf_fmap_free(lmf_fmap *m) {
    lmf_free(m->key);
    lmf_free(m->val);
    memset(m, 0, sizeof *m);
}

/* ---- the model ---- */

void lmf_linmodel_free(lmf_linmodel *m) {
    lmf_fmap_free(&m->map);
    lmf_free(m->ptr);
    lmf_free(m->cls);
    lmf_free(m->w);
    lmf_free(m->keys);
    memset(m, 0, sizeof *m);
}

lmf_status lmf_linmodel_save(const lmf_linmodel *m, lmf_st_writer *w) {
    int64_t sh[1] = {m->nrow};
    lmf_status s;
    if ((s = lmf_st_add(w, "feat_key", LMF_DT_I64, 1, sh, m->keys))) return s;
    sh[0] = m->nrow + 1;
    if ((s = lmf_st_add(w, "feat_ptr", LMF_DT_I64, 1, sh, m->ptr))) return s;
    sh[0] = m->ptr[m->nrow];
    if ((s = lmf_st_add(w, "feat_tag", LMF_DT_I32, 1, sh, m->cls))) return s;
    return lmf_st_add(w, "feat_w", LMF_DT_F32, 1, sh, m->w);
}

lmf_status lmf_linmodel_load(lmf_linmodel *m, int C, const lmf_safetensors *st, const char *path) {
    memset(m, 0, sizeof *m);
    m->C = C;
    const lmf_st_tensor *x;
    lmf_status s;
    if ((s = lmf_tag_tensor(st, path, "feat_key", LMF_DT_I64, -1, &x))) return s;
    m->nrow = (int64_t)x->numel;
    if (m->nrow > INT32_MAX - 1) return lmf_error(LMF_ERR_FORMAT, "%s: too many feature rows", path);
    m->keys = (uint64_t *)lmf_malloc((size_t)(m->nrow ? m->nrow : 1) * sizeof *m->keys);
    m->ptr = (int64_t *)lmf_malloc(((size_t)m->nrow + 1) * sizeof *m->ptr);
    if (!m->keys || !m->ptr) return lmf_error(LMF_ERR_NOMEM, "out of memory (%s)", path);
    memcpy(m->keys, x->data, (size_t)x->nbytes);
    if ((s = lmf_tag_tensor(st, path, "feat_ptr", LMF_DT_I64, m->nrow + 1, &x))) return s;
    memcpy(m->ptr, x->data, (size_t)x->nbytes);
    if ((s = lmf_tag_tensor(st, path, "feat_tag", LMF_DT_I32, -1, &x))) return s;
    const int64_t nnz = (int64_t)x->numel;
    m->cls = (int32_t *)lmf_malloc((size_t)(nnz ? nnz : 1) * sizeof *m->cls);
    m->w = (float *)lmf_malloc((size_t)(nnz ? nnz : 1) * sizeof *m->w);
    if (!m->cls || !m->w) return lmf_error(LMF_ERR_NOMEM, "out of memory (%s)", path);
    memcpy(m->cls, x->data, (size_t)x->nbytes);
    if ((s = lmf_tag_tensor(st, path, "feat_w", LMF_DT_F32, nnz, &x))) return s;
    if ((s = lmf_st_to_f32_finite(x, m->w, path))) return s;
    if (m->ptr[0] != 0 || m->ptr[m->nrow] != nnz)
        return lmf_error(LMF_ERR_FORMAT, "%s: feature offsets do not span the %lld weights (a damaged file)", path, (long long)nnz);
    for (int64_t r = 0; r < m->nrow; r++) {
        if (m->ptr[r + 1] < m->ptr[r] || m->ptr[r + 1] > nnz)
            return lmf_error(LMF_ERR_FORMAT, "%s: feature offsets decrease at row %lld (a damaged file)", path, (long long)r);
        for (int64_t j = m->ptr[r]; j < m->ptr[r + 1]; j++)
            if (m->cls[j] < 0 || m->cls[j] >= C)
                return lmf_error(LMF_ERR_FORMAT, "%s: feature row %lld: tag %d out of range (a damaged file)", path, (long long)r,
                                 m->cls[j]);
        const size_t before = m->map.n;
        if (lmf_fmap_add(&m->map, m->keys[r], (int32_t)r) < 0) return lmf_error(LMF_ERR_NOMEM, "out of memory (%s)", path);
        if (m->map.n == before) return lmf_error(LMF_ERR_FORMAT, "%s: feature key %lld twice (a damaged file)", path, (long long)r);
    }
    return LMF_OK;
}

/* ---- training: sparse rows with running averages ---- */

typedef struct entry {
    int32_t cls, ts; /* ts: the step of the last change */
    float w;
    double tot;      /* sum of w over the steps before ts */
} entry;

struct lmf_lintrainer_row {
    entry *e;
    int32_t n, cap;
};

void lmf_lintrainer_free(lmf_lintrainer *tr) {
    for (int64_t r = 0; r < tr->nrow; r++) lmf_free(tr->rows[r].e);
    lmf_free(tr->rows);
    lmf_fmap_free(&tr->map);
    memset(tr, 0, sizeof *tr);
}

int32_t lmf_lintrainer_row(lmf_lintrainer *tr, uint64_t key) {
    const int32_t r0 = lmf_fmap_find(&tr->map, key);
    if (r0 >= 0) return r0;
    if (tr->nrow == tr->caprow) {
        int64_t nc = tr->caprow ? 2 * tr->caprow : 1 << 12;
        if (nc > INT32_MAX - 1) return -1;
        struct lmf_lintrainer_row *nr = (struct lmf_lintrainer_row *)lmf_realloc(tr->rows, (size_t)nc * sizeof *nr);
        if (!nr) return -1;
        tr->rows = nr;
        tr->caprow = nc;
    }
    const int32_t r = lmf_fmap_add(&tr->map, key, (int32_t)tr->nrow);
    if (r == tr->nrow) memset(&tr->rows[tr->nrow++], 0, sizeof *tr->rows);
    return r;
}

int lmf_lintrainer_update(lmf_lintrainer *tr, int32_t r, int cls, float v) {
    struct lmf_lintrainer_row *row = &tr->rows[r];
    entry *e = NULL;
    for (int32_t j = 0; j < row->n; j++)
        if (row->e[j].cls == cls) {
            e = &row->e[j];
            break;
        }
    if (!e) {
        if (row->n == row->cap) {
            int32_t nc = row->cap ? 2 * row->cap : 2;
            entry *ne = (entry *)lmf_realloc(row->e, (size_t)nc * sizeof *ne);
            if (!ne) return 0;
            row->e = ne;
            row->cap = nc;
        }
        e = &row->e[row->n++];
        e->cls = cls;
        e->w = 0;
        e->tot = 0;
        e->ts = 0;
    }
    e->tot += (double)(tr->step - e->ts) * e->w;
    e->ts = (int32_t)tr->step;
    e->w += v;
    return 1;
}

void lmf_lintrainer_score(const lmf_lintrainer *tr, int32_t r, float *sc) {
    if (r < 0) return;
    const struct lmf_lintrainer_row *row = &tr->rows[r];
    for (int32_t j = 0; j < row->n; j++) sc[row->e[j].cls] += row->e[j].w;
}

lmf_status lmf_lintrainer_finish(lmf_lintrainer *tr, int C, lmf_linmodel *m) {
    memset(m, 0, sizeof *m);
    m->C = C;
    int64_t nnz = 0;
    for (int64_t r = 0; r < tr->nrow; r++) nnz += tr->rows[r].n;
    m->ptr = (int64_t *)lmf_calloc((size_t)tr->nrow + 1, sizeof *m->ptr);
    m->keys = (uint64_t *)lmf_malloc((size_t)(tr->nrow ? tr->nrow : 1) * sizeof *m->keys);
    m->cls = (int32_t *)lmf_malloc((size_t)(nnz ? nnz : 1) * sizeof *m->cls);
    m->w = (float *)lmf_malloc((size_t)(nnz ? nnz : 1) * sizeof *m->w);
    if (!m->ptr || !m->keys || !m->cls || !m->w) {
        lmf_linmodel_free(m);
        return lmf_error(LMF_ERR_NOMEM, "out of memory (linear model)");
    }
    uint64_t *rk = m->keys;
    for (size_t i = 0; i < tr->map.nslot; i++)
        if (tr->map.val[i]) rk[tr->map.val[i] - 1] = tr->map.key[i];
    const double steps = tr->step > 0 ? (double)tr->step : 1;
    int64_t nr = 0, k = 0;
    for (int64_t r = 0; r < tr->nrow; r++) {
        struct lmf_lintrainer_row *row = &tr->rows[r];
        for (int32_t a = 1; a < row->n; a++) /* classes in order */
            for (int32_t b = a; b > 0 && row->e[b - 1].cls > row->e[b].cls; b--) {
                entry x = row->e[b];
                row->e[b] = row->e[b - 1];
                row->e[b - 1] = x;
            }
        const int64_t k0 = k;
        for (int32_t j = 0; j < row->n; j++) {
            const entry *e = &row->e[j];
            const double avg = (e->tot + (double)(tr->step - e->ts) * e->w) / steps;
            if (avg == 0) continue;
            m->cls[k] = e->cls;
            m->w[k++] = (float)avg;
        }
        if (k == k0) continue; /* rows that average to nothing are dropped */
        rk[nr] = rk[r];
        m->ptr[++nr] = k;
    }
    m->nrow = nr;
    for (int64_t r = 0; r < nr; r++)
        if (lmf_fmap_add(&m->map, rk[r], (int32_t)r) < 0) {
            lmf_linmodel_free(m);
            return lmf_error(LMF_ERR_NOMEM, "out of memory (linear model)");
        }
    return LMF_OK;
}
