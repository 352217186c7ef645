/* Decoder-only Transformer word model: inference behind the model
 * interface (with a KV cache), its files; training is in tf_train.c.
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
#include "tf_impl.h"
#include "../model/model_impl.h"
#include "../core/util_impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

int lmf_tf_tensors(const tf_cfg *c, tf_params *p, tf_tensor *t) {
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


size_t lmf_tf_layout(const tf_cfg *c, float *base, tf_params *p) {
    tf_tensor t[TF_MAX_TENSORS];
    tf_params dummy;
    int k = lmf_tf_tensors(c, p ? p : &dummy, t);
    size_t n = 0;
    for (int i = 0; i < k; i++) {
        if (p) *t[i].slot = base + n;
        n += (size_t)t[i].d0 * (size_t)(t[i].ndim == 2 ? t[i].d1 : 1);
    }
    if (p && c->tied) p->headw = p->tok;
    return n;
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

lmf_status lmf_tf_read_tensors(const tf_cfg *c, tf_params *p, const lmf_safetensors *st, const char *path) {
    tf_tensor t[TF_MAX_TENSORS];
    int k = lmf_tf_tensors(c, p, t);
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

lmf_status lmf_tf_add_tensors(lmf_st_writer *w, const tf_cfg *c, tf_params *p) {
    tf_tensor t[TF_MAX_TENSORS];
    tf_params q = *p;
    int k = lmf_tf_tensors(c, &q, t);
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
        size_t n = lmf_tf_layout(c, NULL, NULL);
        m->block = (float *)lmf_calloc(n, sizeof(float));
        if (!m->block) s = lmf_error(LMF_ERR_NOMEM, "%s: out of memory for %zu parameters", path, n);
    }
    if (!s) {
        lmf_tf_layout(c, m->block, &m->p);
        s = lmf_tf_read_tensors(c, &m->p, st, path);
    }
    if (s) {
        tf_free(&m->base);
        return s;
    }
    pack_weights(m);
    *out = &m->base;
    return LMF_OK;
}

lmf_status lmf_tf_wrap(const tf_cfg *c, const tf_params *p, float *block, const lmf_vocab *v, lmf_model **out) {
    tflm *m = (tflm *)lmf_calloc(1, sizeof *m);
    if (!m) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    m->base.ops = &tflm_ops;
    m->base.vocab = v;
    m->vocab = (lmf_vocab *)v;
    m->c = *c;
    m->block = block;
    m->p = *p;
    m->borrowed = 1;
    pack_weights(m); /* the weights do not change while the wrapped model lives (validation) */
    *out = &m->base;
    return LMF_OK;
}
