/* The output layer of every neural model (nn_impl.h, lmf_head): a full
 * softmax over the vocabulary, or a class-factored softmax
 *
 *     p(w | h) = p(c(w) | h) * p(w | c(w), h)
 *
 * with classes that are contiguous id ranges (the vocabulary is sorted by
 * frequency, so a range is a frequency band).  Both factors are softmaxes,
 * so the distribution is exactly normalised; scoring and training touch
 * only the C class rows and the rows of the observed word's class, which
 * for sqrt-frequency classes is a few hundred rows instead of V.
 *
 * In a batch, rows are grouped by the class of their target, so each
 * class's word softmax is one matrix product over its rows. */
#include "net.h"
#include "../core/json_impl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int max_class(const lmf_head *h) {
    int m = 1;
    for (int k = 0; k < h->C; k++)
        if (h->start[k + 1] - h->start[k] > m) m = h->start[k + 1] - h->start[k];
    return m;
}

size_t lmf_head_work_bytes(const lmf_head *h, int N, int train) {
    if (!h->C) return (size_t)N * (size_t)h->V * sizeof(float);
    size_t f = (size_t)N * ((size_t)h->C + (size_t)h->H * (train ? 2 : 1) + (size_t)max_class(h));
    return f * sizeof(float) + ((size_t)2 * N + (size_t)h->C + 1) * sizeof(int32_t);
}

typedef struct {
    float *lc, *xg, *dxg, *lw;
    int32_t *ord, *yl, *off;
} carve;

static carve carve_work(const lmf_head *h, int N, int train, void *work) {
    carve w;
    w.lc = (float *)work;
    w.xg = w.lc + (size_t)N * h->C;
    w.dxg = w.xg + (size_t)N * h->H;
    w.lw = w.dxg + (train ? (size_t)N * h->H : 0);
    w.ord = (int32_t *)(void *)(w.lw + (size_t)N * max_class(h));
    w.yl = w.ord + N;
    w.off = w.yl + N;
    return w;
}

/* Rows grouped by the class of their target: class k's rows are
 * ord[off[k] .. off[k+1]). */
static void group(const lmf_head *h, const int32_t *y, int N, int32_t *ord, int32_t *off) {
    memset(off, 0, ((size_t)h->C + 1) * sizeof *off);
    for (int i = 0; i < N; i++) off[h->cls[y[i]] + 1]++;
    for (int k = 0; k < h->C; k++) off[k + 1] += off[k];
    for (int i = 0; i < N; i++) ord[off[h->cls[y[i]]]++] = i;
    for (int k = h->C; k > 0; k--) off[k] = off[k - 1];
    off[0] = 0;
}

static void gather(float *dst, const float *X, const int32_t *rows, int n, int H) {
    for (int j = 0; j < n; j++) memcpy(dst + (size_t)j * H, X + (size_t)rows[j] * H, (size_t)H * sizeof *dst);
}

/* out [N,V] = X w^T + b: from the weights packed at load (lmf_sgemm_p)
 * when the model has them, the same sums bit for bit on lmfuse's kernel. */
static void full_logits(const lmf_head *h, float *out, const float *X, int N) {
    lmf_matmul_forward_wp(out, X, h->w, h->wp, h->b, N, h->H, h->V);
}

void lmf_head_score(const lmf_head *h, const float *X, int N, const int32_t *y, float *logp, void *work) {
    const int H = h->H;
    if (!h->C) {
        float *lg = (float *)work;
        full_logits(h, lg, X, N);
        for (int i = 0; i < N; i++) {
            const float *z = lg + (size_t)i * h->V;
            logp[i] = (float)((double)z[y[i]] - lmf_logsumexp_f32(z, h->V));
        }
        return;
    }
    carve w = carve_work(h, N, 0, work);
    lmf_matmul_forward_f32(w.lc, X, h->cw, h->cb, N, H, h->C);
    for (int i = 0; i < N; i++) {
        const float *z = w.lc + (size_t)i * h->C;
        logp[i] = (float)((double)z[h->cls[y[i]]] - lmf_logsumexp_f32(z, h->C));
    }
    group(h, y, N, w.ord, w.off);
    for (int k = 0; k < h->C; k++) {
        int n = w.off[k + 1] - w.off[k], s = h->start[k], sz = h->start[k + 1] - s;
        if (n == 0 || sz == 1) continue; /* a one-word class: p(w | c) = 1 */
        const int32_t *rows = w.ord + w.off[k];
        gather(w.xg, X, rows, n, H);
        lmf_matmul_forward_wp_cols(w.lw, w.xg, h->w, h->wp, h->b, n, H, h->V, s, s + sz);
        for (int j = 0; j < n; j++) {
            const float *z = w.lw + (size_t)j * sz;
            int i = rows[j];
            logp[i] = (float)((double)logp[i] + (double)z[y[i] - s] - lmf_logsumexp_f32(z, sz));
        }
    }
}

void lmf_head_logprobs_batch(const lmf_head *h, const float *X, int N, float *logp, void *work) {
    const int V = h->V;
    full_logits(h, logp, X, N);
    if (!h->C) {
        for (int i = 0; i < N; i++) {
            float *z = logp + (size_t)i * V;
            double lse = lmf_logsumexp_f32(z, V);
            for (int v = 0; v < V; v++) z[v] = (float)((double)z[v] - lse);
        }
        return;
    }
    float *lc = (float *)work; /* N x C class logits */
    lmf_matmul_forward_f32(lc, X, h->cw, h->cb, N, h->H, h->C);
    for (int i = 0; i < N; i++) {
        float *z = logp + (size_t)i * V;
        const float *c = lc + (size_t)i * h->C;
        double lcs = lmf_logsumexp_f32(c, h->C);
        for (int k = 0; k < h->C; k++) {
            int s = h->start[k], sz = h->start[k + 1] - s;
            double add = (double)c[k] - lcs - lmf_logsumexp_f32(z + s, sz);
            for (int v = s; v < s + sz; v++) z[v] = (float)((double)z[v] + add);
        }
    }
}

void lmf_head_logprobs(const lmf_head *h, const float *x, float *logp, void *work) {
    lmf_head_logprobs_batch(h, x, 1, logp, work);
}

double lmf_head_train(const lmf_head *P, const lmf_head *D, const float *X, const int32_t *y, int N, float scale,
                      float *dX, void *work, int bf16) {
    const int H = P->H;
    if (!P->C && bf16) {
        const int V = P->V;
        float *lg = (float *)work;
        /* logits without the bias, which the softmax adds; the gradient
         * comes back as bfloat16 rows (stride 2V) over the logits */
        lmf_gemm_bf16(0, 1, N, V, H, X, H, P->w, H, 0.0f, lg, V);
        double loss = lmf_softmax_xent_bf16(lg, P->b, y, N, V, scale, D->b);
        if (!isfinite(loss)) return loss;
        const uint16_t *g16 = (const uint16_t *)(void *)lg;
        lmf_gemm_bf16a(1, 0, V, H, N, g16, 2 * V, X, H, 1.0f, D->w, H);
        lmf_gemm_bf16a(0, 0, N, H, V, g16, 2 * V, P->w, H, 0.0f, dX, H);
        return loss;
    }
    if (!P->C) {
        const int V = P->V;
        float *lg = (float *)work;
        lmf_matmul_forward_f32(lg, X, P->w, P->b, N, H, V);
        double loss = lmf_softmax_xent_f32(lg, y, N, V, scale);
        if (!isfinite(loss)) return loss;
        lmf_colsum_add(D->b, lg, N, V);
        LMF_GEMM(1, 0, V, H, N, lg, V, X, H, 1.0f, D->w, H);
        LMF_GEMM(0, 0, N, H, V, lg, V, P->w, H, 0.0f, dX, H);
        return loss;
    }
    carve w = carve_work(P, N, 1, work);
    const int C = P->C;
    /* class softmax */
    for (int i = 0; i < N; i++) w.yl[i] = P->cls[y[i]];
    lmf_matmul_forward_f32(w.lc, X, P->cw, P->cb, N, H, C);
    double loss = lmf_softmax_xent_f32(w.lc, w.yl, N, C, scale);
    if (!isfinite(loss)) return loss;
    lmf_colsum_add(D->cb, w.lc, N, C);
    LMF_GEMM(1, 0, C, H, N, w.lc, C, X, H, 1.0f, D->cw, H);
    LMF_GEMM(0, 0, N, H, C, w.lc, C, P->cw, H, 0.0f, dX, H);
    /* word softmax within each class, over the rows whose target is in it */
    group(P, y, N, w.ord, w.off);
    for (int k = 0; k < C; k++) {
        int n = w.off[k + 1] - w.off[k], s = P->start[k], sz = P->start[k + 1] - s;
        if (n == 0 || sz == 1) continue;
        const int32_t *rows = w.ord + w.off[k];
        gather(w.xg, X, rows, n, H);
        for (int j = 0; j < n; j++) w.yl[j] = y[rows[j]] - s;
        const float *ws = P->w + (size_t)s * H;
        lmf_matmul_forward_f32(w.lw, w.xg, ws, P->b + s, n, H, sz);
        double l = lmf_softmax_xent_f32(w.lw, w.yl, n, sz, scale);
        if (!isfinite(l)) return l;
        loss += l;
        lmf_colsum_add(D->b + s, w.lw, n, sz);
        LMF_GEMM(1, 0, sz, H, n, w.lw, sz, w.xg, H, 1.0f, D->w + (size_t)s * H, H);
        LMF_GEMM(0, 0, n, H, sz, w.lw, sz, ws, H, 0.0f, w.dxg, H);
        for (int j = 0; j < n; j++) {
            float *d = dX + (size_t)rows[j] * H;
            const float *g = w.dxg + (size_t)j * H;
            for (int e = 0; e < H; e++) d[e] += g[e];
        }
    }
    return loss;
}

/* ---- classes ---- */

int lmf_head_make_classes(const uint64_t *count, int V, int C, int32_t *start) {
    if (C < 1 || C > V) return -1;
    double total = 0;
    for (int v = 0; v < V; v++) total += sqrt((double)count[v]);
    start[0] = 0;
    double cum = 0;
    int k = 1;
    for (int v = 0; v < V && k < C; v++) {
        cum += sqrt((double)count[v]);
        /* close class k-1 after v when its share of sqrt-frequency mass is
         * reached, keeping one id for each class still to come */
        if (V - (v + 1) == C - k || (total > 0 && cum >= total * k / C)) start[k++] = v + 1;
    }
    start[C] = V;
    return 0;
}

void lmf_head_fill_cls(const int32_t *start, int C, int32_t *cls) {
    for (int k = 0; k < C; k++)
        for (int v = start[k]; v < start[k + 1]; v++) cls[v] = k;
}

double lmf_head_cost(const int32_t *start, int C, const uint64_t *count) {
    double tot = 0, cost = 0;
    for (int k = 0; k < C; k++)
        for (int v = start[k]; v < start[k + 1]; v++) {
            tot += (double)count[v];
            cost += (double)count[v] * (start[k + 1] - start[k]);
        }
    return C + (tot > 0 ? cost / tot : 0);
}

char *lmf_head_classes_json(const int32_t *start, int C) {
    size_t cap = ((size_t)C + 1) * 12 + 3, n = 0;
    char *s = (char *)lmf_malloc(cap);
    if (!s) return NULL;
    s[n++] = '[';
    for (int k = 0; k <= C; k++) n += (size_t)snprintf(s + n, cap - n, k ? ",%d" : "%d", start[k]);
    s[n++] = ']';
    s[n] = 0;
    return s;
}

lmf_status lmf_head_parse_classes(const char *js, int V, const char *path, int32_t **start_out, int32_t **cls_out,
                                  int *C_out) {
    *start_out = *cls_out = NULL;
    *C_out = 0;
    cJSON *a = NULL;
    if (lmf_json_parse(js, strlen(js), NULL, &a) == LMF_ERR_NOMEM) return LMF_ERR_NOMEM;
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    if (n < 2) {
        cJSON_Delete(a);
        return lmf_error(LMF_ERR_FORMAT, "%s: metadata \"lmfuse.classes\" is not a JSON array of class starts", path);
    }
    int32_t *st = (int32_t *)lmf_malloc((size_t)n * sizeof *st), *cls = (int32_t *)lmf_malloc((size_t)V * sizeof *cls);
    lmf_status s = st && cls ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    int i = 0;
    for (cJSON *e = a->child; e && !s; e = e->next, i++) {
        double d = cJSON_IsNumber(e) ? e->valuedouble : -1;
        int prev = i ? st[i - 1] : -1;
        if (d != floor(d) || d <= prev || d > V || (i == 0 && d != 0) || (i == n - 1 && d != V))
            s = lmf_error(LMF_ERR_FORMAT,
                          "%s: \"lmfuse.classes\" entry %d is invalid: class starts must rise strictly from 0 to "
                          "the vocabulary size %d",
                          path, i, V);
        else
            st[i] = (int32_t)d;
    }
    cJSON_Delete(a);
    if (s) {
        lmf_free(st);
        lmf_free(cls);
        return s;
    }
    lmf_head_fill_cls(st, n - 1, cls);
    *start_out = st;
    *cls_out = cls;
    *C_out = n - 1;
    return LMF_OK;
}

lmf_status lmf_head_read_classes(const lmf_safetensors *st, const char *path, int V, int32_t **start, int32_t **cls,
                                 int *C) {
    const char *js = lmf_st_meta(st, "lmfuse.classes");
    *start = *cls = NULL;
    *C = 0;
    return js ? lmf_head_parse_classes(js, V, path, start, cls, C) : LMF_OK;
}

lmf_status lmf_head_write_classes(lmf_st_writer *w, const int32_t *start, int C) {
    if (!C) return LMF_OK;
    char *js = lmf_head_classes_json(start, C);
    lmf_status s = js ? lmf_st_set_meta(w, "lmfuse.classes", js) : lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_free(js);
    return s;
}

lmf_status lmf_net_check_classes(const lmf_net *n, const lmf_safetensors *st, const char *path) {
    int32_t *fs, *cls;
    int C;
    lmf_status s = lmf_head_read_classes(st, path, n->cfg.V, &fs, &cls, &C);
    if (s) return s;
    if (!n->cfg.C != !C) {
        lmf_free(fs);
        lmf_free(cls);
        return lmf_error(LMF_ERR_DATA, "%s: it has %s output layer, this run %s; use the same --classes", path,
                         C ? "a class-factored" : "a full-softmax", C ? "a full softmax" : "output classes");
    }
    int same = C == n->cfg.C && (!C || !memcmp(fs, n->cfg.start, ((size_t)C + 1) * sizeof *fs));
    lmf_free(fs);
    lmf_free(cls);
    if (!same)
        return lmf_error(LMF_ERR_DATA,
                         "%s: its output classes differ from this run's (--classes %d over this training text); "
                         "use the same --classes and training text",
                         path, n->cfg.C);
    return LMF_OK;
}
