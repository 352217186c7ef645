/* Transformer training (lmf_net, net.h): a window of B sequences of T
 * positions forward and backward, every linear layer one matrix product
 * over the B*T rows, attention per sequence and head.  The model, its
 * inference and its files are in transformer.c. */
#include "tf_impl.h"
#include "../core/util_impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---------------- attention with BLAS, per sequence and head ----------------
 * qkv [B*T, 3d] (q, k, v; head h in columns h*hs..), out [B*T, d],
 * att [B, NH, T, T] probabilities (zero above the diagonal). */
void lmf_tf_attn_forward(float *out, float *att, const float *qkv, int B, int T, int d, int NH) {
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
void lmf_tf_attn_backward(float *dqkv, float *dp, const float *dout, const float *qkv, const float *att, int B, int T,
                          int d, int NH) {
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
        lmf_tf_attn_forward(n->Y[l], n->ATT[l], n->QKV[l], B, T, d, NH);
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
        lmf_tf_attn_backward(n->dQKV, n->dp, dYa, n->QKV[l], n->ATT[l], B, T, d, NH);
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
    return lmf_tf_wrap(&n->c, &n->P, nn->param, v, out);
}

static lmf_status tfn_add(lmf_net *nn, lmf_st_writer *w) {
    tf_net *n = (tf_net *)nn;
    return lmf_tf_add_tensors(w, &n->c, &n->P);
}

static lmf_status tfn_load(lmf_net *nn, const lmf_safetensors *st, const char *path) {
    tf_net *n = (tf_net *)nn;
    lmf_status s = lmf_net_check_classes(nn, st, path);
    return s ? s : lmf_tf_read_tensors(&n->c, &n->P, st, path);
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
    size_t np = lmf_tf_layout(c, NULL, NULL);
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
    lmf_tf_layout(c, n->base.param, &n->P);
    lmf_tf_layout(c, n->base.grad, &n->D);
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
    int k = lmf_tf_tensors(c, &q, t);
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
