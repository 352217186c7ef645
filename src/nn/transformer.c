/* Decoder-only Transformer word model: inference behind the model
 * interface (with a KV cache) and training (lmf_net).
 *
 * x = drop(tok_emb[w] + pos_emb[p]);  per block:
 *     x = x + drop(proj(attn(ln1(x))));  x = x + drop(out(gelu(fc(ln2(x)))))
 * logits = head(ln_f(x))   (head.weight = tok_emb.weight when tied)
 * Causal multi-head attention with scale 1/sqrt(d/heads), exact GELU,
 * LayerNorm eps 1e-5, learned positions 0..ctx-1.
 *
 * File layout (safetensors; PyTorch module names of bench/torch_lm.py):
 *     tok_emb.weight [V,d]   pos_emb.weight [ctx,d]
 *     blocks.{l}.ln1.weight/.bias [d]      blocks.{l}.qkv.weight [3d,d] .bias [3d]
 *     blocks.{l}.proj.weight [d,d] .bias   blocks.{l}.ln2.weight/.bias [d]
 *     blocks.{l}.fc.weight [ff,d] .bias    blocks.{l}.out.weight [d,ff] .bias [d]
 *     ln_f.weight/.bias [d]   head.weight [V,d] (absent when tied)   head.bias [V]
 * metadata lmfuse.arch "transformer", lmfuse.heads, lmfuse.vocab.
 *
 * Context at inference: a stream is read through a window of at most ctx
 * positions.  When the window is full, its last ctx/2 tokens are re-encoded
 * at positions 0.. and reading goes on, so every prediction after the first
 * ctx tokens sees between ctx/2 and ctx-1 tokens of context (a sliding
 * window with stride ctx/2).  Batched scoring and token-by-token feeding
 * give the same results.  As for the recurrent models, a fresh state has
 * read one </s>. */
#include "net.h"
#include "../model/model_impl.h"
#include "../core/util_impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

typedef struct tf_cfg {
    int L, d, NH, ff, ctx, V, tied;
    int C;                      /* output classes (lmf_head), 0 = full softmax */
    const int32_t *start, *cls; /* borrowed */
} tf_cfg;

typedef struct tf_params {
    float *tok, *pos;
    float *ln1w[LMF_NN_MAX_LAYERS], *ln1b[LMF_NN_MAX_LAYERS], *qkvw[LMF_NN_MAX_LAYERS], *qkvb[LMF_NN_MAX_LAYERS];
    float *projw[LMF_NN_MAX_LAYERS], *projb[LMF_NN_MAX_LAYERS], *ln2w[LMF_NN_MAX_LAYERS], *ln2b[LMF_NN_MAX_LAYERS];
    float *fcw[LMF_NN_MAX_LAYERS], *fcb[LMF_NN_MAX_LAYERS], *outw[LMF_NN_MAX_LAYERS], *outb[LMF_NN_MAX_LAYERS];
    float *lnfw, *lnfb, *headw, *headb, *clsw, *clsb;
} tf_params;

static lmf_head tf_head(const tf_cfg *c, const tf_params *p) {
    lmf_head h = {c->V, c->d, c->C, p->headw, p->headb, p->clsw, p->clsb, c->start, c->cls, NULL};
    return h;
}

/* The tensors in file and block order: name pattern, dims, pointer slot. */
typedef struct tf_tensor {
    char name[48];
    int ndim;
    int64_t d0, d1;
    float **slot;
} tf_tensor;

static int tf_tensors(const tf_cfg *c, tf_params *p, tf_tensor *t) {
    int k = 0;
#define T2(nm, a, b, sl) (snprintf(t[k].name, sizeof t[k].name, "%s", nm), t[k].ndim = 2, t[k].d0 = (a), t[k].d1 = (b), t[k++].slot = (sl))
#define T1(nm, a, sl) (snprintf(t[k].name, sizeof t[k].name, "%s", nm), t[k].ndim = 1, t[k].d0 = (a), t[k].d1 = 0, t[k++].slot = (sl))
    char nm[48];
    T2("tok_emb.weight", c->V, c->d, &p->tok);
    T2("pos_emb.weight", c->ctx, c->d, &p->pos);
    for (int l = 0; l < c->L; l++) {
#define NM(s) (snprintf(nm, sizeof nm, "blocks.%d." s, l), nm)
        T1(NM("ln1.weight"), c->d, &p->ln1w[l]);
        T1(NM("ln1.bias"), c->d, &p->ln1b[l]);
        T2(NM("qkv.weight"), 3 * c->d, c->d, &p->qkvw[l]);
        T1(NM("qkv.bias"), 3 * c->d, &p->qkvb[l]);
        T2(NM("proj.weight"), c->d, c->d, &p->projw[l]);
        T1(NM("proj.bias"), c->d, &p->projb[l]);
        T1(NM("ln2.weight"), c->d, &p->ln2w[l]);
        T1(NM("ln2.bias"), c->d, &p->ln2b[l]);
        T2(NM("fc.weight"), c->ff, c->d, &p->fcw[l]);
        T1(NM("fc.bias"), c->ff, &p->fcb[l]);
        T2(NM("out.weight"), c->d, c->ff, &p->outw[l]);
        T1(NM("out.bias"), c->d, &p->outb[l]);
#undef NM
    }
    T1("ln_f.weight", c->d, &p->lnfw);
    T1("ln_f.bias", c->d, &p->lnfb);
    if (!c->tied) T2("head.weight", c->V, c->d, &p->headw);
    T1("head.bias", c->V, &p->headb);
    if (c->C) {
        T2("cls.weight", c->C, c->d, &p->clsw);
        T1("cls.bias", c->C, &p->clsb);
    }
#undef T1
#undef T2
    return k;
}

#define TF_MAX_TENSORS (12 * LMF_NN_MAX_LAYERS + 8)

static size_t tf_layout(const tf_cfg *c, float *base, tf_params *p) {
    tf_tensor t[TF_MAX_TENSORS];
    tf_params dummy;
    int k = tf_tensors(c, p ? p : &dummy, t);
    size_t n = 0;
    for (int i = 0; i < k; i++) {
        if (p) *t[i].slot = base + n;
        n += (size_t)t[i].d0 * (size_t)(t[i].ndim == 2 ? t[i].d1 : 1);
    }
    if (p && c->tied) p->headw = p->tok;
    return n;
}

/* ---------------- attention with BLAS, per sequence and head ----------------
 * qkv [B*T, 3d] (q, k, v; head h in columns h*hs..), out [B*T, d],
 * att [B, NH, T, T] probabilities (zero above the diagonal). */
static void attn_forward(float *out, float *att, const float *qkv, int B, int T, int d, int NH) {
    int hs = d / NH;
    float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *q = qkv + (size_t)b * T * 3 * d + h * hs, *k = q + d, *v = q + 2 * d;
            float *a = att + ((size_t)b * NH + h) * T * T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q, 3 * d, k, 3 * d, 0.0f, a, T);
            for (int t = 0; t < T; t++) {
                float *r = a + (size_t)t * T, mx = r[0], sum = 0;
                for (int u = 1; u <= t; u++) mx = r[u] > mx ? r[u] : mx;
                for (int u = 0; u <= t; u++) sum += (r[u] = expf(r[u] - mx));
                float inv = 1.0f / sum;
                for (int u = 0; u <= t; u++) r[u] *= inv;
                for (int u = t + 1; u < T; u++) r[u] = 0;
            }
            float *o = out + (size_t)b * T * d + h * hs;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, a, T, v, 3 * d, 0.0f, o, d);
        }
}

/* dqkv = gradient of qkv (overwritten); scratch dp [T,T]. */
static void attn_backward(float *dqkv, float *dp, const float *dout, const float *qkv, const float *att, int B,
                          int T, int d, int NH) {
    int hs = d / NH;
    float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            const float *q = qkv + (size_t)b * T * 3 * d + h * hs, *k = q + d, *v = q + 2 * d;
            float *dq = dqkv + (size_t)b * T * 3 * d + h * hs, *dk = dq + d, *dv = dq + 2 * d;
            const float *a = att + ((size_t)b * NH + h) * T * T, *dout_bh = dout + (size_t)b * T * d + h * hs;
            /* dv = a^T dout; dp = dout v^T */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, a, T, dout_bh, d, 0.0f, dv, 3 * d);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1.0f, dout_bh, d, v, 3 * d, 0.0f, dp, T);
            /* through the softmax: ds = a * (dp - sum(dp * a)), scaled */
            for (int t = 0; t < T; t++) {
                const float *ar = a + (size_t)t * T;
                float *r = dp + (size_t)t * T, s = 0;
                for (int u = 0; u <= t; u++) s += r[u] * ar[u];
                for (int u = 0; u <= t; u++) r[u] = ar[u] * (r[u] - s) * scale;
                for (int u = t + 1; u < T; u++) r[u] = 0;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, dp, T, k, 3 * d, 0.0f, dq, 3 * d);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, dp, T, q, 3 * d, 0.0f, dk, 3 * d);
        }
}

/* =============================== inference =============================== */

typedef struct tflm {
    lmf_model base; /* must be first */
    lmf_vocab *vocab;
    tf_cfg c;
    float *block;
    tf_params p;
    int borrowed;
    int32_t *start, *cls; /* output classes (owned when loaded) */
    /* the weights of every product packed for lmf_sgemm_p (one block,
     * pack; NULL without the memory: packed per product, the same sums) */
    float *pack, *headp, *qkvp[LMF_NN_MAX_LAYERS], *projp[LMF_NN_MAX_LAYERS], *fcp[LMF_NN_MAX_LAYERS],
        *outp[LMF_NN_MAX_LAYERS];
} tflm;

struct lmf_state {
    int w;           /* tokens in the window */
    int32_t *win;    /* [ctx] the window's tokens */
    float *kc, *vc;  /* [L, ctx, d] keys and values of the window */
    float *last;     /* [d] final hidden of the newest token */
    /* scratch for up to ctx new tokens */
    float *x, *a, *qkv, *y, *f, *sc, *mean, *rstd, *zb, *hw;
    int32_t *kept;
};

static const lmf_model_ops tflm_ops;

/* Appends n tokens (w + n <= ctx) to the window; Z [n,d] gets their final
 * hidden states (after ln_f). */
static void tf_extend(const tflm *m, lmf_state *s, const int32_t *tok, int n, float *Z) {
    const tf_cfg *c = &m->c;
    const tf_params *p = &m->p;
    const int d = c->d, hs = d / c->NH, w = s->w;
    const float scale = 1.0f / sqrtf((float)hs);
    for (int i = 0; i < n; i++) {
        float *xr = s->x + (size_t)i * d;
        const float *te = p->tok + (size_t)tok[i] * d, *pe = p->pos + (size_t)(w + i) * d;
        for (int j = 0; j < d; j++) xr[j] = te[j] + pe[j];
        s->win[w + i] = tok[i];
    }
    for (int l = 0; l < c->L; l++) {
        lmf_layernorm_forward_f32(s->a, s->mean, s->rstd, s->x, p->ln1w[l], p->ln1b[l], n, d, 1e-5f);
        lmf_matmul_forward_wp(s->qkv, s->a, p->qkvw[l], m->qkvp[l], p->qkvb[l], n, d, 3 * d);
        float *K = s->kc + (size_t)l * c->ctx * d, *Vv = s->vc + (size_t)l * c->ctx * d;
        for (int i = 0; i < n; i++) {
            memcpy(K + (size_t)(w + i) * d, s->qkv + (size_t)i * 3 * d + d, (size_t)d * sizeof(float));
            memcpy(Vv + (size_t)(w + i) * d, s->qkv + (size_t)i * 3 * d + 2 * d, (size_t)d * sizeof(float));
        }
        for (int h = 0; h < c->NH; h++) {
            /* scores of the n queries against keys 0..w+n-1 */
            int nk = w + n;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, nk, hs, scale, s->qkv + h * hs, 3 * d,
                        K + h * hs, d, 0.0f, s->sc, nk);
            for (int i = 0; i < n; i++) {
                float *r = s->sc + (size_t)i * nk, mx = r[0], sum = 0;
                int last = w + i;
                for (int u = 1; u <= last; u++) mx = r[u] > mx ? r[u] : mx;
                for (int u = 0; u <= last; u++) sum += (r[u] = expf(r[u] - mx));
                float inv = 1.0f / sum;
                for (int u = 0; u <= last; u++) r[u] *= inv;
                for (int u = last + 1; u < nk; u++) r[u] = 0;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hs, nk, 1.0f, s->sc, nk, Vv + h * hs, d, 0.0f,
                        s->y + h * hs, d);
        }
        /* x += proj(y) */
        if (m->pack)
            lmf_sgemm_p(0, n, d, d, s->y, d, m->projp[l], 1.0f, s->x, d);
        else
            LMF_GEMM(0, 1, n, d, d, s->y, d, p->projw[l], d, 1.0f, s->x, d);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) s->x[(size_t)i * d + j] += p->projb[l][j];
        lmf_layernorm_forward_f32(s->a, s->mean, s->rstd, s->x, p->ln2w[l], p->ln2b[l], n, d, 1e-5f);
        lmf_matmul_forward_wp(s->f, s->a, p->fcw[l], m->fcp[l], p->fcb[l], n, d, c->ff);
        lmf_gelu_forward_f32(s->f, s->f, (size_t)n * c->ff);
        if (m->pack)
            lmf_sgemm_p(0, n, d, c->ff, s->f, c->ff, m->outp[l], 1.0f, s->x, d);
        else
            LMF_GEMM(0, 1, n, d, c->ff, s->f, c->ff, p->outw[l], c->ff, 1.0f, s->x, d);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) s->x[(size_t)i * d + j] += p->outb[l][j];
    }
    lmf_layernorm_forward_f32(Z, s->mean, s->rstd, s->x, p->lnfw, p->lnfb, n, d, 1e-5f);
    s->w = w + n;
}

/* When the window is full: keep its last ctx/2 tokens, re-encoded. */
static void tf_slide(const tflm *m, lmf_state *s) {
    int keep = m->c.ctx / 2 > 0 ? m->c.ctx / 2 : 1, d = m->c.d;
    memcpy(s->kept, s->win + (s->w - keep), (size_t)keep * sizeof(int32_t));
    s->w = 0;
    tf_extend(m, s, s->kept, keep, s->zb);
    memcpy(s->last, s->zb + (size_t)(keep - 1) * d, (size_t)d * sizeof(float));
}

static void tf_reset(const lmf_model *mm, lmf_state *s) {
    const tflm *m = (const tflm *)mm;
    int32_t eos = LMF_EOS;
    s->w = 0;
    tf_extend(m, s, &eos, 1, s->last);
}

static lmf_state *tf_state_new(const lmf_model *mm) {
    const tflm *m = (const tflm *)mm;
    const tf_cfg *c = &m->c;
    size_t d = (size_t)c->d, X = (size_t)c->ctx, KV = (size_t)c->L * X * d;
    size_t n = 2 * KV + d + X * d * 7 + X * (size_t)c->ff + X * X + 2 * X + (size_t)c->C + 1;
    lmf_state *s = (lmf_state *)lmf_calloc(1, sizeof *s);
    float *q = s ? (float *)lmf_calloc(n, sizeof(float)) : NULL;
    int32_t *win = q ? (int32_t *)lmf_calloc(2 * X, sizeof(int32_t)) : NULL;
    if (!win) {
        lmf_free(q);
        lmf_free(s);
        return NULL;
    }
    s->win = win;
    s->kept = win + X;
    s->kc = q, q += KV;
    s->vc = q, q += KV;
    s->last = q, q += d;
    s->x = q, q += X * d;
    s->a = q, q += X * d;
    s->y = q, q += X * d;
    s->zb = q, q += X * d;
    s->qkv = q, q += 3 * X * d;
    s->f = q, q += X * (size_t)c->ff;
    s->sc = q, q += X * X;
    s->mean = q, q += X;
    s->rstd = q, q += X;
    s->hw = q;
    tf_reset(mm, s);
    return s;
}

static void tf_state_free(const lmf_model *mm, lmf_state *s) {
    (void)mm;
    if (!s) return;
    lmf_free(s->kc);
    lmf_free(s->win);
    lmf_free(s);
}

static lmf_status tf_state_copy(const lmf_model *mm, lmf_state *dst, const lmf_state *src) {
    const tflm *m = (const tflm *)mm;
    size_t X = (size_t)m->c.ctx, d = (size_t)m->c.d;
    dst->w = src->w;
    memcpy(dst->win, src->win, X * sizeof(int32_t));
    memcpy(dst->kc, src->kc, (2 * (size_t)m->c.L * X * d + d) * sizeof(float));
    return LMF_OK;
}

static lmf_status tf_feed(lmf_model *mm, lmf_state *s, int32_t tok) {
    const tflm *m = (const tflm *)mm;
    if (s->w == m->c.ctx) tf_slide(m, s);
    tf_extend(m, s, &tok, 1, s->last);
    return LMF_OK;
}

static lmf_status tf_next(lmf_model *mm, const lmf_state *s, float *logp) {
    const tflm *m = (const tflm *)mm;
    lmf_head h = tf_head(&m->c, &m->p);
    h.wp = m->headp;
    lmf_head_logprobs(&h, s->last, logp, s->hw);
    return LMF_OK;
}

/* logp: each token's log-probability; or dist: the full distributions
 * before each token (n x V); or hid: the final states before each token and
 * after the last ((n+1) x d, no output layer). */
static lmf_status tf_run(lmf_model *mm, lmf_state *s, const int32_t *tok, size_t n, float *logp, float *dist,
                         float *hid) {
    const tflm *m = (const tflm *)mm;
    const int d = m->c.d, X = m->c.ctx;
    if (n == 0) {
        if (hid) memcpy(hid, s->last, (size_t)d * sizeof(float));
        return LMF_OK;
    }
    lmf_head h = tf_head(&m->c, &m->p);
    h.wp = m->headp;
    float *P = (float *)lmf_malloc((size_t)X * d * sizeof(float) * 2 + lmf_head_work_bytes(&h, X, 0));
    if (!P) return lmf_error(LMF_ERR_NOMEM, "out of memory scoring with a Transformer");
    float *Z = P + (size_t)X * d, *HW = Z + (size_t)X * d;
    for (size_t p0 = 0; p0 < n;) {
        memcpy(P, s->last, (size_t)d * sizeof(float)); /* the next token is predicted from the full window */
        if (s->w == X) tf_slide(m, s);
        int k = (int)(n - p0 < (size_t)(X - s->w) ? n - p0 : (size_t)(X - s->w));
        tf_extend(m, s, tok + p0, k, Z);
        memcpy(P + d, Z, (size_t)(k - 1) * d * sizeof(float));
        memcpy(s->last, Z + (size_t)(k - 1) * d, (size_t)d * sizeof(float));
        if (hid) memcpy(hid + p0 * (size_t)d, P, (size_t)k * d * sizeof(float));
        else if (dist) lmf_head_logprobs_batch(&h, P, k, dist + p0 * (size_t)m->c.V, HW);
        else lmf_head_score(&h, P, k, tok + p0, logp + p0, HW);
        p0 += (size_t)k;
    }
    if (hid) memcpy(hid + n * (size_t)d, s->last, (size_t)d * sizeof(float));
    lmf_free(P);
    return LMF_OK;
}

static lmf_status tf_score(lmf_model *mm, lmf_state *s, const int32_t *tok, size_t n, float *logp) {
    return tf_run(mm, s, tok, n, logp, NULL, NULL);
}

static lmf_status tf_dists(lmf_model *mm, lmf_state *s, const int32_t *tok, size_t n, float *out) {
    return tf_run(mm, s, tok, n, NULL, out, NULL);
}

static lmf_status tf_hidden(lmf_model *mm, lmf_state *s, const int32_t *tok, size_t n, float *h) {
    return tf_run(mm, s, tok, n, NULL, NULL, h);
}

static int tf_hidden_dim(const lmf_model *mm) { return ((const tflm *)mm)->c.d; }

static void tf_describe(const lmf_model *mm, char *buf, size_t n) {
    const tflm *m = (const tflm *)mm;
    char cls[48] = "";
    if (m->c.C) snprintf(cls, sizeof cls, ", %d output classes", m->c.C);
    snprintf(buf, n, "transformer, %d layer%s x %d, %d heads, ff %d, context %d (sliding, stride %d), %d tokens%s%s",
             m->c.L, m->c.L > 1 ? "s" : "", m->c.d, m->c.NH, m->c.ff, m->c.ctx, m->c.ctx / 2 > 0 ? m->c.ctx / 2 : 1,
             m->c.V, m->c.tied ? ", tied" : "", cls);
}

/* The weights of every product packed once for lmf_sgemm_p (as much
 * memory again as those weights; without it, each product packs its own,
 * with the same sums). */
static void pack_weights(tflm *m) {
    const tf_cfg *c = &m->c;
    const int d = c->d, ff = c->ff;
    lmf_head h = tf_head(c, &m->p);
    size_t n = lmf_sgemm_pack_floats(h.V, h.H);
    const size_t nq = lmf_sgemm_pack_floats(3 * d, d), np = lmf_sgemm_pack_floats(d, d),
                 nf = lmf_sgemm_pack_floats(ff, d), no = lmf_sgemm_pack_floats(d, ff);
    n += (size_t)c->L * (nq + np + nf + no);
    float *q = m->pack = (float *)lmf_malloc(n * sizeof *q);
    if (!q) return;
    m->headp = q;
    lmf_sgemm_pack(1, h.V, h.H, h.w, h.H, q);
    q += lmf_sgemm_pack_floats(h.V, h.H);
    for (int l = 0; l < c->L; l++) {
        lmf_sgemm_pack(1, 3 * d, d, m->p.qkvw[l], d, m->qkvp[l] = q);
        q += nq;
        lmf_sgemm_pack(1, d, d, m->p.projw[l], d, m->projp[l] = q);
        q += np;
        lmf_sgemm_pack(1, ff, d, m->p.fcw[l], d, m->fcp[l] = q);
        q += nf;
        lmf_sgemm_pack(1, d, ff, m->p.outw[l], ff, m->outp[l] = q);
        q += no;
    }
}

static void tf_free(lmf_model *mm) {
    tflm *m = (tflm *)mm;
    if (!m->borrowed) {
        lmf_vocab_free(m->vocab);
        lmf_free(m->block);
        lmf_free(m->start);
        lmf_free(m->cls);
    }
    lmf_free(m->pack);
    lmf_free(m);
}

static const lmf_model_ops tflm_ops = {
    .kind = "transformer",
    .free = tf_free,
    .describe = tf_describe,
    .state_new = tf_state_new,
    .state_free = tf_state_free,
    .state_reset = tf_reset,
    .state_copy = tf_state_copy,
    .feed = tf_feed,
    .next = tf_next,
    .score = tf_score,
    .dists = tf_dists,
    .hidden_dim = tf_hidden_dim,
    .hidden = tf_hidden,
};

/* ================================ files ================================ */

static lmf_status read_tensors(const tf_cfg *c, tf_params *p, const lmf_safetensors *st, const char *path) {
    tf_tensor t[TF_MAX_TENSORS];
    int k = tf_tensors(c, p, t);
    for (int i = 0; i < k; i++) {
        const lmf_st_tensor *x = lmf_st_find(st, t[i].name);
        if (!x || x->ndim != t[i].ndim || x->shape[0] != t[i].d0 || (t[i].ndim == 2 && x->shape[1] != t[i].d1))
            return lmf_error(LMF_ERR_FORMAT, "%s: tensor \"%s\" is %s; this transformer needs shape [%lld%s%lld]",
                             path, t[i].name, x ? "mis-shaped" : "missing", (long long)t[i].d0,
                             t[i].ndim == 2 ? ", " : "", (long long)(t[i].ndim == 2 ? t[i].d1 : 0));
        lmf_status s = lmf_st_to_f32_finite(x, *t[i].slot, path);
        if (s) return s;
    }
    return LMF_OK;
}

static lmf_status add_tensors(lmf_st_writer *w, const tf_cfg *c, tf_params *p) {
    tf_tensor t[TF_MAX_TENSORS];
    tf_params q = *p;
    int k = tf_tensors(c, &q, t);
    for (int i = 0; i < k; i++) {
        int64_t sh[2] = {t[i].d0, t[i].d1};
        lmf_status s = lmf_st_add(w, t[i].name, LMF_DT_F32, t[i].ndim, sh, *t[i].slot);
        if (s) return s;
    }
    char heads[16];
    snprintf(heads, sizeof heads, "%d", c->NH);
    lmf_status s = lmf_st_set_meta(w, "lmfuse.arch", "transformer");
    if (!s) s = lmf_st_set_meta(w, "lmfuse.heads", heads);
    if (!s) s = lmf_head_write_classes(w, c->start, c->C);
    return s;
}

/* Largest context a loaded or trained model may have (the KV cache and the
 * attention scratch grow with it). */
#define TF_MAX_CTX 65536

lmf_status lmf_tf_load(const lmf_safetensors *st, const char *path, lmf_model **out) {
    *out = NULL;
    tflm *m = (tflm *)lmf_calloc(1, sizeof *m);
    if (!m) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    m->base.ops = &tflm_ops;
    tf_cfg *c = &m->c;
    lmf_status s = lmf_nn_load_vocab(st, path, &m->vocab);
    const lmf_st_tensor *te = lmf_st_find(st, "tok_emb.weight"), *pe = lmf_st_find(st, "pos_emb.weight"),
                        *fc = lmf_st_find(st, "blocks.0.fc.weight");
    const char *hs = lmf_st_meta(st, "lmfuse.heads");
    if (!s) {
        m->base.vocab = m->vocab;
        c->V = lmf_vocab_size(m->vocab);
        if (!te || te->ndim != 2 || te->shape[0] != c->V || te->shape[1] < 1 || te->shape[1] > 65536)
            s = lmf_error(LMF_ERR_FORMAT, "%s: \"tok_emb.weight\" is missing or not [%d, d]", path, c->V);
        else if (!pe || pe->ndim != 2 || pe->shape[1] != te->shape[1] || pe->shape[0] < 1 || pe->shape[0] > TF_MAX_CTX)
            s = lmf_error(LMF_ERR_FORMAT, "%s: \"pos_emb.weight\" is missing or not [ctx <= %d, d]", path, TF_MAX_CTX);
        else if (!fc || fc->ndim != 2 || fc->shape[0] < 1 || fc->shape[0] > (1 << 20))
            s = lmf_error(LMF_ERR_FORMAT, "%s: \"blocks.0.fc.weight\" is missing or mis-shaped", path);
    }
    if (!s) {
        c->d = (int)te->shape[1];
        c->ctx = (int)pe->shape[0];
        c->ff = (int)fc->shape[0];
        char *e = NULL;
        long nh = hs ? strtol(hs, &e, 10) : 0;
        if (!hs || *e || nh < 1 || c->d % nh)
            s = lmf_error(LMF_ERR_FORMAT, "%s: metadata \"lmfuse.heads\" is %s; it must divide the width %d", path,
                          hs ? hs : "missing", c->d);
        c->NH = (int)nh;
        char nm[48];
        for (c->L = 0; c->L < LMF_NN_MAX_LAYERS; c->L++) {
            snprintf(nm, sizeof nm, "blocks.%d.qkv.weight", c->L);
            if (!lmf_st_find(st, nm)) break;
        }
        c->tied = !lmf_st_find(st, "head.weight");
        if (!s) s = lmf_head_read_classes(st, path, c->V, &m->start, &m->cls, &c->C);
        c->start = m->start;
        c->cls = m->cls;
    }
    if (!s) {
        size_t n = tf_layout(c, NULL, NULL);
        m->block = (float *)lmf_calloc(n, sizeof(float));
        if (!m->block) s = lmf_error(LMF_ERR_NOMEM, "%s: out of memory for %zu parameters", path, n);
    }
    if (!s) {
        tf_layout(c, m->block, &m->p);
        s = read_tensors(c, &m->p, st, path);
    }
    if (s) {
        tf_free(&m->base);
        return s;
    }
    pack_weights(m);
    *out = &m->base;
    return LMF_OK;
}

/* =============================== training =============================== */

typedef struct tf_net {
    lmf_net base; /* must be first */
    tf_cfg c;
    tf_params P, D;
    int32_t *xb, *yb; /* [B*T] batch-major ids */
    /* per layer: block input, ln1 out, qkv, attention probs, attention out,
     * mid residual, ln2 out, fc pre-activation, gelu out, stats, masks */
    float *X[LMF_NN_MAX_LAYERS + 1], *A1[LMF_NN_MAX_LAYERS], *QKV[LMF_NN_MAX_LAYERS], *ATT[LMF_NN_MAX_LAYERS];
    float *Y[LMF_NN_MAX_LAYERS], *X1[LMF_NN_MAX_LAYERS], *A2[LMF_NN_MAX_LAYERS], *F[LMF_NN_MAX_LAYERS];
    float *G[LMF_NN_MAX_LAYERS], *m1[LMF_NN_MAX_LAYERS], *r1[LMF_NN_MAX_LAYERS], *m2[LMF_NN_MAX_LAYERS];
    float *r2[LMF_NN_MAX_LAYERS], *k1[LMF_NN_MAX_LAYERS], *k2[LMF_NN_MAX_LAYERS];
    float *k0, *Z, *mf, *rf;
    void *hwork; /* output layer scratch */
    float *dX, *dX1, *dA, *dQKV, *dY, *dF, *dp;
    float *arena;
} tf_net;

static void dropout_apply(float *x, float *mask, size_t n, float p, uint64_t key) {
    lmf_dropout_mask(mask, n, p, key);
    for (size_t i = 0; i < n; i++) x[i] *= mask[i];
}

/* Forward over a window whose inputs are in n->xb (batch-major): n->Z
 * gets the final LayerNorm's output, rows b*T + t. */
static void tf_forward(tf_net *n, int T, uint64_t key) {
    lmf_net *nn = &n->base;
    const tf_cfg *c = &n->c;
    const tf_params *P = &n->P;
    const int B = nn->cfg.B, d = c->d, ff = c->ff, NH = c->NH, N = B * T;
    const float p = key ? nn->cfg.dropout : 0.0f;
    const size_t Nd = (size_t)N * d;
    const int bf = n->base.cfg.bf16; /* linear layers in bfloat16; attention stays float */
    /* ---- forward ---- */
    float *x0 = n->X[0];
    for (int r = 0; r < N; r++) {
        const float *te = P->tok + (size_t)n->xb[r] * d, *pe = P->pos + (size_t)(r % T) * d;
        for (int j = 0; j < d; j++) x0[(size_t)r * d + j] = te[j] + pe[j];
    }
    if (p > 0) dropout_apply(x0, n->k0, Nd, p, key * 64);
    for (int l = 0; l < c->L; l++) {
        float *xi = n->X[l], *xo = n->X[l + 1];
        lmf_layernorm_forward_f32(n->A1[l], n->m1[l], n->r1[l], xi, P->ln1w[l], P->ln1b[l], N, d, 1e-5f);
        lmf_linear_forward(bf, n->QKV[l], n->A1[l], P->qkvw[l], P->qkvb[l], N, d, 3 * d);
        attn_forward(n->Y[l], n->ATT[l], n->QKV[l], B, T, d, NH);
        float *x1 = n->X1[l];
        lmf_linear_forward(bf, x1, n->Y[l], P->projw[l], P->projb[l], N, d, d);
        if (p > 0) dropout_apply(x1, n->k1[l], Nd, p, key * 64 + 1 + 2 * (uint64_t)l);
        for (size_t i = 0; i < Nd; i++) x1[i] += xi[i];
        lmf_layernorm_forward_f32(n->A2[l], n->m2[l], n->r2[l], x1, P->ln2w[l], P->ln2b[l], N, d, 1e-5f);
        lmf_linear_forward(bf, n->F[l], n->A2[l], P->fcw[l], P->fcb[l], N, d, ff);
        lmf_gelu_forward_f32(n->G[l], n->F[l], (size_t)N * ff);
        lmf_linear_forward(bf, xo, n->G[l], P->outw[l], P->outb[l], N, ff, d);
        if (p > 0) dropout_apply(xo, n->k2[l], Nd, p, key * 64 + 2 + 2 * (uint64_t)l);
        for (size_t i = 0; i < Nd; i++) xo[i] += x1[i];
    }
    float *xl = n->X[c->L];
    lmf_layernorm_forward_f32(n->Z, n->mf, n->rf, xl, P->lnfw, P->lnfb, N, d, 1e-5f);
}

/* Backward over the window tf_forward ran, from the gradient of Z in
 * n->dA: adds the gradients of every layer and the embeddings. */
static void tf_backward(tf_net *n, int T, uint64_t key) {
    lmf_net *nn = &n->base;
    const tf_cfg *c = &n->c;
    const tf_params *P = &n->P, *D = &n->D;
    const int B = nn->cfg.B, d = c->d, ff = c->ff, NH = c->NH, N = B * T;
    const float p = key ? nn->cfg.dropout : 0.0f;
    const size_t Nd = (size_t)N * d;
    const int bf = n->base.cfg.bf16;
    float *xl = n->X[c->L], *dZ = n->dA;
    memset(n->dX, 0, Nd * sizeof(float));
    lmf_layernorm_backward_f32(n->dX, D->lnfw, D->lnfb, dZ, xl, P->lnfw, n->mf, n->rf, N, d);
    for (int l = c->L - 1; l >= 0; l--) {
        /* dX: gradient of the block output xo = x1 + drop(out(gelu(fc(ln2(x1))))) */
        float *dO = n->dY;
        for (size_t i = 0; i < Nd; i++) dO[i] = p > 0 ? n->dX[i] * n->k2[l][i] : n->dX[i];
        lmf_colsum_add(D->outb[l], dO, N, d);
        LMF_GEMM_BF(bf, 1, 0, d, ff, N, dO, d, n->G[l], ff, 1.0f, D->outw[l], ff);
        float *dG = n->dF;
        LMF_GEMM_BF(bf, 0, 0, N, ff, d, dO, d, P->outw[l], ff, 0.0f, dG, ff);
        /* gelu backward in place: dF = dG * gelu'(F) */
        float *dFt = n->G[l]; /* G is no longer needed: reuse it for dF */
        memset(dFt, 0, (size_t)N * ff * sizeof(float));
        lmf_gelu_backward_f32(dFt, dG, n->F[l], (size_t)N * ff);
        lmf_colsum_add(D->fcb[l], dFt, N, ff);
        LMF_GEMM_BF(bf, 1, 0, ff, d, N, dFt, ff, n->A2[l], d, 1.0f, D->fcw[l], d);
        LMF_GEMM_BF(bf, 0, 0, N, d, ff, dFt, ff, P->fcw[l], d, 0.0f, n->dA, d);
        memcpy(n->dX1, n->dX, Nd * sizeof(float));
        lmf_layernorm_backward_f32(n->dX1, D->ln2w[l], D->ln2b[l], n->dA, n->X1[l], P->ln2w[l], n->m2[l], n->r2[l], N,
                                   d);
        /* x1 = xi + drop(proj(attn(ln1(xi)))) */
        float *dPj = n->dY;
        for (size_t i = 0; i < Nd; i++) dPj[i] = p > 0 ? n->dX1[i] * n->k1[l][i] : n->dX1[i];
        lmf_colsum_add(D->projb[l], dPj, N, d);
        LMF_GEMM_BF(bf, 1, 0, d, d, N, dPj, d, n->Y[l], d, 1.0f, D->projw[l], d);
        float *dYa = n->dA;
        LMF_GEMM_BF(bf, 0, 0, N, d, d, dPj, d, P->projw[l], d, 0.0f, dYa, d);
        attn_backward(n->dQKV, n->dp, dYa, n->QKV[l], n->ATT[l], B, T, d, NH);
        lmf_colsum_add(D->qkvb[l], n->dQKV, N, 3 * d);
        LMF_GEMM_BF(bf, 1, 0, 3 * d, d, N, n->dQKV, 3 * d, n->A1[l], d, 1.0f, D->qkvw[l], d);
        LMF_GEMM_BF(bf, 0, 0, N, d, 3 * d, n->dQKV, 3 * d, P->qkvw[l], d, 0.0f, n->dA, d);
        memcpy(n->dX, n->dX1, Nd * sizeof(float));
        lmf_layernorm_backward_f32(n->dX, D->ln1w[l], D->ln1b[l], n->dA, n->X[l], P->ln1w[l], n->m1[l], n->r1[l], N,
                                   d);
    }
    if (p > 0)
        for (size_t i = 0; i < Nd; i++) n->dX[i] *= n->k0[i];
    for (int r = 0; r < N; r++) {
        float *gt = D->tok + (size_t)n->xb[r] * d, *gp = D->pos + (size_t)(r % T) * d;
        const float *g = n->dX + (size_t)r * d;
        for (int j = 0; j < d; j++) {
            gt[j] += g[j];
            gp[j] += g[j];
        }
    }
}

static lmf_status tf_window(lmf_net *nn, const int32_t *x, const int32_t *y, int T, float scale, uint64_t key,
                            double *nll) {
    tf_net *n = (tf_net *)nn;
    const int B = nn->cfg.B, N = B * T;
    if (!n->hwork) return lmf_error(LMF_ERR_ARG, "this transformer was set up without its output layer");
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            n->xb[b * T + t] = x[t * B + b];
            n->yb[b * T + t] = y[t * B + b];
        }
    tf_forward(n, T, key);
    /* output layer forward and backward; the gradient of Z goes to dZ */
    lmf_head hp = tf_head(&n->c, &n->P), hd = tf_head(&n->c, &n->D);
    *nll = lmf_head_train(&hp, &hd, n->Z, n->yb, N, scale, n->dA, n->hwork, nn->cfg.bf16);
    if (!isfinite(*nll)) return LMF_OK;
    tf_backward(n, T, key);
    return LMF_OK;
}

static lmf_status tf_window_top(lmf_net *nn, const int32_t *x, int T, uint64_t key, lmf_net_top_fn top, void *ctx,
                                int backward, double *loss) {
    tf_net *n = (tf_net *)nn;
    const int B = nn->cfg.B, d = n->c.d;
    if (T < 1 || T > nn->cfg.T || T > n->c.ctx)
        return lmf_error(LMF_ERR_ARG, "a window of %d steps for a transformer set up for 1..%d (context %d)", T,
                         nn->cfg.T, n->c.ctx);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) n->xb[b * T + t] = x[t * B + b];
    tf_forward(n, T, key);
    /* the loss sees time-major rows: Z transposed into dY (free until the
     * backward), its gradient into dX, then batch-major into dZ = dA */
    float *Yt = n->dY, *dYt = backward ? n->dX : NULL;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            memcpy(Yt + ((size_t)t * B + b) * d, n->Z + ((size_t)b * T + t) * d, (size_t)d * sizeof(float));
    *loss = top(ctx, Yt, T, B, d, dYt);
    if (!backward || !isfinite(*loss)) return LMF_OK;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            memcpy(n->dA + ((size_t)b * T + t) * d, dYt + ((size_t)t * B + b) * d, (size_t)d * sizeof(float));
    tf_backward(n, T, key);
    return LMF_OK;
}

static lmf_status tfn_wrap(lmf_net *nn, const lmf_vocab *v, lmf_model **out) {
    tf_net *n = (tf_net *)nn;
    tflm *m = (tflm *)lmf_calloc(1, sizeof *m);
    if (!m) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    m->base.ops = &tflm_ops;
    m->base.vocab = v;
    m->vocab = (lmf_vocab *)v;
    m->c = n->c;
    m->block = nn->param;
    m->p = n->P;
    m->borrowed = 1;
    pack_weights(m); /* the weights do not change while the wrapped model lives (validation) */
    *out = &m->base;
    return LMF_OK;
}

static lmf_status tfn_add(lmf_net *nn, lmf_st_writer *w) {
    tf_net *n = (tf_net *)nn;
    return add_tensors(w, &n->c, &n->P);
}

static lmf_status tfn_load(lmf_net *nn, const lmf_safetensors *st, const char *path) {
    tf_net *n = (tf_net *)nn;
    lmf_status s = lmf_net_check_classes(nn, st, path);
    return s ? s : read_tensors(&n->c, &n->P, st, path);
}

static int tfn_state_parts(lmf_net *nn, float **parts, size_t *sizes) {
    (void)nn, (void)parts, (void)sizes;
    return 0; /* windows are independent */
}

static void tfn_free(lmf_net *nn) {
    if (!nn) return;
    tf_net *n = (tf_net *)nn;
    lmf_free(nn->param);
    lmf_free(nn->grad);
    lmf_free(n->arena);
    lmf_free(n->hwork);
    lmf_free(n->xb);
    lmf_free(n);
}

static const lmf_net_ops tfn_ops = {tf_window, tf_window_top, tfn_wrap, tfn_add, tfn_load, tfn_state_parts, tfn_free};

/* N(0, sd) by Box-Muller from a splitmix64 counter. */
static void fill_normal(float *p, size_t n, float sd, uint64_t *ctr) {
    for (size_t i = 0; i < n; i += 2) {
        double u1 = ((double)(lmf_mix64((*ctr)++ * 0x9e3779b97f4a7c15ULL + 1) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
        double u2 = (double)(lmf_mix64((*ctr)++ * 0x9e3779b97f4a7c15ULL + 1) >> 11) * (1.0 / 9007199254740992.0);
        double r = sqrt(-2.0 * log(u1));
        p[i] = (float)(sd * r * cos(6.283185307179586 * u2));
        if (i + 1 < n) p[i + 1] = (float)(sd * r * sin(6.283185307179586 * u2));
    }
}

lmf_status lmf_tf_net_new_top(const lmf_net_cfg *nc, uint64_t seed, int top_only, lmf_net **out) {
    *out = NULL;
    if (nc->heads < 1 || nc->H % nc->heads)
        return lmf_error(LMF_ERR_ARG, "--heads %d must divide the width --hidden %d", nc->heads, nc->H);
    if (nc->E != nc->H)
        return lmf_error(LMF_ERR_ARG, "a transformer has one width: --emb (%d) must equal --hidden (%d)", nc->E, nc->H);
    if (nc->ctx < 1 || nc->ctx > TF_MAX_CTX) return lmf_error(LMF_ERR_ARG, "--ctx must be 1..%d", TF_MAX_CTX);
    if (nc->ff < 1) return lmf_error(LMF_ERR_ARG, "--ff must be positive");
    tf_net *n = (tf_net *)lmf_calloc(1, sizeof *n);
    if (!n) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    n->base.ops = &tfn_ops;
    n->base.cfg = *nc;
    n->c = (tf_cfg){nc->L, nc->H, nc->heads, nc->ff, nc->ctx, nc->V, nc->tied, nc->C, nc->start, nc->cls};
    const tf_cfg *c = &n->c;
    size_t np = tf_layout(c, NULL, NULL);
    const size_t B = (size_t)nc->B, T = (size_t)nc->T, N = B * T, d = (size_t)c->d, ff = (size_t)c->ff,
                 L = (size_t)c->L;
    size_t per_layer = N * d * 6 + N * 3 * d + B * c->NH * T * T + 2 * N * ff + 4 * N;
    size_t need = (L + 1) * N * d + L * per_layer + 2 * N * d + 2 * N + 4 * N * d + N * 3 * d + N * ff + T * T;
    n->base.n_param = np;
    n->base.param = (float *)lmf_calloc(np, sizeof(float));
    n->base.grad = (float *)lmf_calloc(np, sizeof(float));
    n->arena = (float *)lmf_calloc(need, sizeof(float));
    n->xb = (int32_t *)lmf_malloc(2 * N * sizeof(int32_t));
    tf_params none = {0};
    lmf_head h0 = tf_head(c, &none);
    size_t hb = top_only ? 0 : lmf_head_work_bytes(&h0, (int)N, 1);
    n->hwork = top_only ? NULL : lmf_malloc(hb);
    if (!n->base.param || !n->base.grad || !n->arena || !n->xb || (!n->hwork && !top_only)) {
        tfn_free(&n->base);
        return lmf_error(LMF_ERR_NOMEM, "out of memory for a transformer of %zu parameters (%.0f MB of activations)", np,
                         (need * 4.0 + (double)hb) / 1e6);
    }
    n->yb = n->xb + N;
    tf_layout(c, n->base.param, &n->P);
    tf_layout(c, n->base.grad, &n->D);
    /* the layout ends with head.weight (unless tied), head.bias, cls.* */
    n->base.n_body = (size_t)((c->tied ? n->P.headb : n->P.headw) - n->base.param);
    float *a = n->arena;
#define CARVE(ptr, cnt) (ptr = a, a += (cnt))
    for (size_t l = 0; l <= L; l++) CARVE(n->X[l], N * d);
    for (size_t l = 0; l < L; l++) {
        CARVE(n->A1[l], N * d);
        CARVE(n->QKV[l], N * 3 * d);
        CARVE(n->ATT[l], B * c->NH * T * T);
        CARVE(n->Y[l], N * d);
        CARVE(n->X1[l], N * d);
        CARVE(n->A2[l], N * d);
        CARVE(n->F[l], N * ff);
        CARVE(n->G[l], N * ff);
        CARVE(n->m1[l], N);
        CARVE(n->r1[l], N);
        CARVE(n->m2[l], N);
        CARVE(n->r2[l], N);
        CARVE(n->k1[l], N * d);
        CARVE(n->k2[l], N * d);
    }
    CARVE(n->k0, N * d);
    CARVE(n->Z, N * d);
    CARVE(n->mf, N);
    CARVE(n->rf, N);
    CARVE(n->dX, N * d);
    CARVE(n->dX1, N * d);
    CARVE(n->dA, N * d);
    CARVE(n->dY, N * d);
    CARVE(n->dQKV, N * 3 * d);
    CARVE(n->dF, N * ff);
    CARVE(n->dp, T * T);
#undef CARVE
    /* GPT-2 style initialisation: N(0, 0.02) matrices and embeddings, zero
     * biases, LayerNorm 1 and 0 */
    uint64_t ctr = lmf_mix64(seed ^ 0x6c6d667573650002ULL);
    tf_tensor t[TF_MAX_TENSORS];
    tf_params q = n->P;
    int k = tf_tensors(c, &q, t);
    for (int i = 0; i < k; i++) {
        size_t cnt = (size_t)t[i].d0 * (size_t)(t[i].ndim == 2 ? t[i].d1 : 1);
        if (t[i].ndim == 2)
            fill_normal(*t[i].slot, cnt, 0.02f, &ctr);
        else if (strstr(t[i].name, "ln") && strstr(t[i].name, ".weight"))
            for (size_t j = 0; j < cnt; j++) (*t[i].slot)[j] = 1.0f;
    }
    *out = &n->base;
    return LMF_OK;
}

lmf_status lmf_tf_net_new(const lmf_net_cfg *nc, uint64_t seed, lmf_net **out) {
    return lmf_tf_net_new_top(nc, seed, 0, out);
}
