/* Neural kernels: every backward against central finite differences in
 * double precision, the float kernels against the double ones, and the
 * BLAS matmul against the naive one.  (PyTorch reference values for the
 * layers come with the models, from dev/.) */
#include "test.h"

#include "../src/nn/nn_impl.h"

/* private helpers of src/nn/net.h (which brings cblas.h and its macros) */
double lmf_softmax_xent_f32(float *z, const int32_t *y, int N, int V, float scale);
double lmf_softmax_xent_bf16(float *z, const float *bias, const int32_t *y, int N, int V, float scale, float *dbias);
void lmf_colsum_add(float *out, const float *d, int N, int V);
#include "lmf/io.h"
#include "lmf/nn.h"

#include <stdint.h>

/* Tolerances for the same numbers computed through different call shapes
 * (one call against two, a span of chunks against one token at a time):
 * the matrix products then run over other row counts, which the BLAS may
 * block differently, and their last bits may differ.  Log-probs (|ln p|
 * up to ~20) and hidden vectors (|h| <= ~1). */
#ifndef LP_ATOL
#define LP_ATOL 1e-5
#define LP_RTOL 1e-5
#define H_ATOL 5e-6
#define H_RTOL 1e-5
#endif

static uint64_t rng = 12345;
static double urand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng >> 11) / 4503599627370496.0 - 1.0;
}
static double *rvec(size_t n, double scale) {
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = urand() * scale;
    return v;
}
static double *zvec(size_t n) { return calloc(n, sizeof(double)); }
static float *tof(const double *v, size_t n) {
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)v[i];
    return f;
}
static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Compares an analytic gradient g[n] of loss() with respect to x[n] against
 * central differences (h = 1e-6); |g - fd| <= atol + rtol |fd|. */
typedef double (*loss_fn)(void *ctx);
static void check_grad_tol(const char *what, double *x, const double *g, size_t n, loss_fn f, void *ctx, double atol,
                           double rtol) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double keep = x[i], h = 1e-6;
        x[i] = keep + h;
        double lp = f(ctx);
        x[i] = keep - h;
        double lm = f(ctx);
        x[i] = keep;
        double fd = (lp - lm) / (2 * h);
        double err = fabs(g[i] - fd) / (atol + rtol * fabs(fd));
        if (err > worst) worst = err;
    }
    CHECK_MSG(worst <= 1.0, "%s: gradient differs from finite differences (worst %.3g of tolerance)", what, worst);
}
/* double kernels: |g - fd| <= 1e-7 + 1e-5 |fd| */
static void check_grad(const char *what, double *x, const double *g, size_t n, loss_fn f, void *ctx) {
    check_grad_tol(what, x, g, n, f, ctx, 1e-7, 1e-5);
}

/* ---- LSTM ---- */
enum { B = 3, H = 4, I = 5, O = 6, V = 7 };
typedef struct {
    double *gi, *gh, *cp, *rh, *rc;
} lstm_ctx;
static double lstm_loss(void *p) {
    lstm_ctx *c = p;
    double h[B * H], cc[B * H], act[B * 4 * H], tc[B * H];
    lmf_lstm_forward_f64(h, cc, act, tc, c->gi, c->gh, c->cp, B, H);
    return dot(h, c->rh, B * H) + dot(cc, c->rc, B * H);
}
static void test_lstm(void) {
    lstm_ctx c = {rvec(B * 4 * H, 2), rvec(B * 4 * H, 2), rvec(B * H, 1), rvec(B * H, 1), rvec(B * H, 1)};
    double h[B * H], cc[B * H], act[B * 4 * H], tc[B * H];
    lmf_lstm_forward_f64(h, cc, act, tc, c.gi, c.gh, c.cp, B, H);
    double *dpre = zvec(B * 4 * H), *dcp = zvec(B * H);
    lmf_lstm_backward_f64(dpre, dcp, c.rh, c.rc, act, tc, c.cp, B, H);
    check_grad("lstm d/gi", c.gi, dpre, B * 4 * H, lstm_loss, &c);
    check_grad("lstm d/gh", c.gh, dpre, B * 4 * H, lstm_loss, &c);
    check_grad("lstm d/c_prev", c.cp, dcp, B * H, lstm_loss, &c);
    /* float agrees with double */
    float *gi = tof(c.gi, B * 4 * H), *gh = tof(c.gh, B * 4 * H), *cp = tof(c.cp, B * H);
    float hf[B * H], cf[B * H], af[B * 4 * H], tf[B * H];
    lmf_lstm_forward_f32(hf, cf, af, tf, gi, gh, cp, B, H);
    for (int k = 0; k < B * H; k++) {
        CHECK_CLOSE(hf[k], h[k], 1e-6, 1e-5);
        CHECK_CLOSE(cf[k], cc[k], 1e-6, 1e-5);
    }
    free(c.gi), free(c.gh), free(c.cp), free(c.rh), free(c.rc), free(dpre), free(dcp), free(gi), free(gh), free(cp);
}

/* ---- GRU ---- */
typedef struct {
    double *gi, *gh, *hp, *r;
} gru_ctx;
static double gru_loss(void *p) {
    gru_ctx *c = p;
    double h[B * H], act[B * 3 * H];
    lmf_gru_forward_f64(h, act, c->gi, c->gh, c->hp, B, H);
    return dot(h, c->r, B * H);
}
static void test_gru(void) {
    gru_ctx c = {rvec(B * 3 * H, 2), rvec(B * 3 * H, 2), rvec(B * H, 1), rvec(B * H, 1)};
    double h[B * H], act[B * 3 * H];
    lmf_gru_forward_f64(h, act, c.gi, c.gh, c.hp, B, H);
    double *dgi = zvec(B * 3 * H), *dgh = zvec(B * 3 * H), *dhp = zvec(B * H);
    lmf_gru_backward_f64(dgi, dgh, dhp, c.r, act, c.gh, c.hp, B, H);
    check_grad("gru d/gi", c.gi, dgi, B * 3 * H, gru_loss, &c);
    check_grad("gru d/gh", c.gh, dgh, B * 3 * H, gru_loss, &c);
    check_grad("gru d/h_prev (direct)", c.hp, dhp, B * H, gru_loss, &c);
    free(c.gi), free(c.gh), free(c.hp), free(c.r), free(dgi), free(dgh), free(dhp);
}

/* ---- RNN ---- */
typedef struct {
    double *gi, *gh, *r;
} rnn_ctx;
static double rnn_loss(void *p) {
    rnn_ctx *c = p;
    double h[B * H];
    lmf_rnn_forward_f64(h, c->gi, c->gh, B, H);
    return dot(h, c->r, B * H);
}
static void test_rnn(void) {
    rnn_ctx c = {rvec(B * H, 2), rvec(B * H, 2), rvec(B * H, 1)};
    double h[B * H];
    lmf_rnn_forward_f64(h, c.gi, c.gh, B, H);
    double *d = zvec(B * H);
    lmf_rnn_backward_f64(d, c.r, h, B, H);
    check_grad("rnn d/gi", c.gi, d, B * H, rnn_loss, &c);
    check_grad("rnn d/gh", c.gh, d, B * H, rnn_loss, &c);
    free(c.gi), free(c.gh), free(c.r), free(d);
}

/* ---- matmul ---- */
typedef struct {
    double *in, *w, *b, *r;
} mm_ctx;
static double mm_loss(void *p) {
    mm_ctx *c = p;
    double out[B * O];
    lmf_matmul_forward_naive_f64(out, c->in, c->w, c->b, B, I, O);
    return dot(out, c->r, B * O);
}
static void test_matmul(void) {
    mm_ctx c = {rvec(B * I, 1), rvec(O * I, 1), rvec(O, 1), rvec(B * O, 1)};
    double *din = zvec(B * I), *dw = zvec(O * I), *db = zvec(O);
    lmf_matmul_backward_naive_f64(din, dw, db, c.r, c.in, c.w, B, I, O);
    check_grad("matmul d/in", c.in, din, B * I, mm_loss, &c);
    check_grad("matmul d/w", c.w, dw, O * I, mm_loss, &c);
    check_grad("matmul d/bias", c.b, db, O, mm_loss, &c);
    /* BLAS float == naive float */
    float *in = tof(c.in, B * I), *w = tof(c.w, O * I), *b = tof(c.b, O), *r = tof(c.r, B * O);
    float o1[B * O], o2[B * O];
    lmf_matmul_forward_f32(o1, in, w, b, B, I, O);
    lmf_matmul_forward_naive_f32(o2, in, w, b, B, I, O);
    for (int k = 0; k < B * O; k++) CHECK_CLOSE(o1[k], o2[k], 1e-6, 1e-5);
    lmf_matmul_forward_f32(o1, in, w, NULL, B, I, O);
    lmf_matmul_forward_naive_f32(o2, in, w, NULL, B, I, O);
    for (int k = 0; k < B * O; k++) CHECK_CLOSE(o1[k], o2[k], 1e-6, 1e-5);
    float di1[B * I] = {0}, di2[B * I] = {0}, dw1[O * I] = {0}, dw2[O * I] = {0}, db1[O] = {0}, db2[O] = {0};
    lmf_matmul_backward_f32(di1, dw1, db1, r, in, w, B, I, O);
    lmf_matmul_backward_naive_f32(di2, dw2, db2, r, in, w, B, I, O);
    for (int k = 0; k < B * I; k++) CHECK_CLOSE(di1[k], di2[k], 1e-6, 1e-5);
    for (int k = 0; k < O * I; k++) CHECK_CLOSE(dw1[k], dw2[k], 1e-6, 1e-5);
    for (int k = 0; k < O; k++) CHECK_CLOSE(db1[k], db2[k], 1e-6, 1e-5);
    free(c.in), free(c.w), free(c.b), free(c.r), free(din), free(dw), free(db), free(in), free(w), free(b), free(r);
}

/* ---- cross-entropy ---- */
typedef struct {
    double *z, *r;
    int32_t t[B];
} xe_ctx;
static double xe_loss(void *p) {
    xe_ctx *c = p;
    double loss[B], prob[B * V];
    lmf_xent_forward_f64(loss, prob, c->z, c->t, B, V);
    return dot(loss, c->r, B);
}
static void test_xent(void) {
    xe_ctx c = {rvec(B * V, 5), rvec(B, 1), {0, 3, 6}};
    double loss[B], prob[B * V];
    lmf_xent_forward_f64(loss, prob, c.z, c.t, B, V);
    for (int b = 0; b < B; b++) { /* the definition, computed directly */
        double s = 0;
        for (int v = 0; v < V; v++) s += exp(c.z[b * V + v]);
        CHECK_CLOSE(loss[b], log(s) - c.z[b * V + c.t[b]], 1e-12, 1e-12);
    }
    double *dz = zvec(B * V);
    lmf_xent_backward_f64(dz, c.r, prob, c.t, B, V);
    check_grad("xent d/logits", c.z, dz, B * V, xe_loss, &c);
    /* huge logits: no overflow (the max is subtracted) */
    float zf[V] = {1000, 999, -1000, 0, 0, 0, 88.8f}, lf, pf[V];
    int32_t t0 = 1;
    lmf_xent_forward_f32(&lf, pf, zf, &t0, 1, V);
    CHECK(isfinite(lf) && fabs(lf - 1.3132616f) < 1e-4);
    /* a NaN logit (huge weights overflow to inf - inf) gives a NaN loss, and
     * no float-to-int conversion of NaN inside the fast exp (undefined; the
     * sanitizer build checks float-cast-overflow) */
    float zn[40];
    for (int v = 0; v < 40; v++) zn[v] = 0.1f * v;
    zn[5] = NAN;
    CHECK(isnan(lmf_softmax_xent_f32(zn, &t0, 1, 40, 1.0f)));
    free(c.z), free(c.r), free(dz);

    /* softmax_xent_bf16 over logits + bias = softmax_xent_f32 over the sums,
     * then rounded to bfloat16 (bit for bit); rows longer than its 1024-value
     * blocks, written in place; the bias gradient is the column sum */
    enum { XN = 3, XV = 2500 };
    float *z1 = malloc(XN * XV * sizeof *z1), *z2 = malloc(XN * XV * sizeof *z2), *bias = malloc(XV * sizeof *bias),
          *db1 = calloc(XV, sizeof *db1), *db2 = calloc(XV, sizeof *db2);
    int32_t ty[XN] = {0, 1777, XV - 1};
    for (int v = 0; v < XV; v++) bias[v] = (float)urand();
    for (int k = 0; k < XN * XV; k++) {
        z1[k] = (float)(3 * urand());
        z2[k] = z1[k] + bias[k % XV];
    }
    double n1 = lmf_softmax_xent_bf16(z1, bias, ty, XN, XV, 0.5f, db1), n2 = lmf_softmax_xent_f32(z2, ty, XN, XV, 0.5f);
    lmf_colsum_add(db2, z2, XN, XV);
    CHECK_CLOSE(n1, n2, 0, 1e-12);
    int same = 1;
    for (int r = 0; r < XN; r++)
        for (int v = 0; v < XV; v++) {
            float f = test_to_bf16(z2[r * XV + v]);
            uint32_t u;
            memcpy(&u, &f, 4);
            same &= ((const uint16_t *)(z1 + r * XV))[v] == (uint16_t)(u >> 16);
        }
    CHECK_MSG(same, "softmax_xent_bf16: gradient is not the float one rounded to bfloat16");
    for (int v = 0; v < XV; v++) CHECK_CLOSE(db1[v], db2[v], 1e-7, 1e-6);
    free(z1), free(z2), free(bias), free(db1), free(db2);
}

/* ---- against PyTorch (tests/data/cells.safetensors, dev/gen_cell_fixtures.py) ---- */
static const lmf_safetensors *cells;
static float *get(const char *kind, const char *what, size_t *n) {
    char name[64];
    snprintf(name, sizeof name, "%s.%s", kind, what);
    const lmf_st_tensor *t = lmf_st_find(cells, name);
    CHECK_MSG(t != NULL, "fixture lacks %s", name);
    if (!t) exit(1);
    float *f = malloc(t->numel * sizeof *f);
    lmf_st_to_f32(t, f);
    if (n) *n = t->numel;
    return f;
}
static void expect(const char *kind, const char *what, const float *got) {
    size_t n;
    float *want = get(kind, what, &n);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]) / (1e-5 + 1e-4 * fabs(want[i]));
        if (err > worst) worst = err;
    }
    CHECK_MSG(worst <= 1.0, "%s %s differs from PyTorch (worst %.3g of tolerance)", kind, what, worst);
    free(want);
}

static void test_cells_vs_torch(void) {
    lmf_safetensors *st;
    lmf_status s = lmf_st_open(tdata("cells.safetensors"), &st);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    if (s) return;
    cells = st;
    const char *kinds[] = {"rnn", "lstm", "gru"};
    for (int k = 0; k < 3; k++) {
        const char *kd = kinds[k];
        int G = k == 0 ? 1 : k == 1 ? 4 : 3; /* gates */
        size_t nx;
        float *x = get(kd, "x", &nx), *h0 = get(kd, "h0", NULL), *rh = get(kd, "r_h", NULL);
        float *wih = get(kd, "weight_ih", NULL), *whh = get(kd, "weight_hh", NULL);
        float *bih = get(kd, "bias_ih", NULL), *bhh = get(kd, "bias_hh", NULL);
        const int Bt = 3, It = 5, Ht = 4, GH = G * Ht;
        float gi[3 * 16], gh[3 * 16], h1[12], act[3 * 16], dgi[3 * 16] = {0}, dgh[3 * 16] = {0};
        float dx[15] = {0}, dh0[12] = {0}, dwih[16 * 5] = {0}, dwhh[16 * 4] = {0}, dbih[16] = {0}, dbhh[16] = {0};
        lmf_matmul_forward_f32(gi, x, wih, bih, Bt, It, GH);
        lmf_matmul_forward_f32(gh, h0, whh, bhh, Bt, Ht, GH);
        if (k == 0) {
            lmf_rnn_forward_f32(h1, gi, gh, Bt, Ht);
            lmf_rnn_backward_f32(dgi, rh, h1, Bt, Ht);
            memcpy(dgh, dgi, sizeof dgi);
        } else if (k == 1) {
            float *c0 = get(kd, "c0", NULL), *rc = get(kd, "r_c", NULL), c1[12], tc[12], dc0[12] = {0};
            lmf_lstm_forward_f32(h1, c1, act, tc, gi, gh, c0, Bt, Ht);
            expect(kd, "c1", c1);
            lmf_lstm_backward_f32(dgi, dc0, rh, rc, act, tc, c0, Bt, Ht);
            memcpy(dgh, dgi, sizeof dgi);
            expect(kd, "grad.c0", dc0);
            free(c0), free(rc);
        } else {
            lmf_gru_forward_f32(h1, act, gi, gh, h0, Bt, Ht);
            lmf_gru_backward_f32(dgi, dgh, dh0, rh, act, gh, h0, Bt, Ht);
        }
        expect(kd, "h1", h1);
        lmf_matmul_backward_f32(dx, dwih, dbih, dgi, x, wih, Bt, It, GH);
        lmf_matmul_backward_f32(dh0, dwhh, dbhh, dgh, h0, whh, Bt, Ht, GH);
        expect(kd, "grad.x", dx);
        expect(kd, "grad.h0", dh0);
        expect(kd, "grad.weight_ih", dwih);
        expect(kd, "grad.weight_hh", dwhh);
        expect(kd, "grad.bias_ih", dbih);
        expect(kd, "grad.bias_hh", dbhh);
        free(x), free(h0), free(rh), free(wih), free(whh), free(bih), free(bhh);
    }
    /* LayerNorm */
    float *x = get("ln", "x", NULL), *w = get("ln", "weight", NULL), *b = get("ln", "bias", NULL),
          *r = get("ln", "r", NULL);
    float y[18], mean[3], rstd[3], dx[18] = {0}, dw[6] = {0}, db[6] = {0};
    lmf_layernorm_forward_f32(y, mean, rstd, x, w, b, 3, 6, 1e-5f);
    expect("ln", "y", y);
    lmf_layernorm_backward_f32(dx, dw, db, r, x, w, mean, rstd, 3, 6);
    expect("ln", "grad.x", dx);
    expect("ln", "grad.weight", dw);
    expect("ln", "grad.bias", db);
    free(x), free(w), free(b);
    /* GELU (r is LayerNorm's r: the generator reuses it) */
    x = get("gelu", "x", NULL);
    float gx[18] = {0};
    lmf_gelu_forward_f32(y, x, 18);
    expect("gelu", "y", y);
    lmf_gelu_backward_f32(gx, r, x, 18);
    expect("gelu", "grad.x", gx);
    free(x), free(r);
    /* causal attention */
    float *qkv = get("attn", "qkv", NULL), *ar = get("attn", "r", NULL), ao[2 * 5 * 8], aatt[2 * 2 * 5 * 5];
    float dqkv[2 * 5 * 24] = {0};
    lmf_attention_forward_f32(ao, aatt, qkv, 2, 5, 8, 2);
    expect("attn", "out", ao);
    lmf_attention_backward_f32(dqkv, ar, qkv, aatt, 2, 5, 8, 2);
    expect("attn", "grad.qkv", dqkv);
    free(qkv), free(ar);
    /* AdamW */
    float *p = get("adamw", "p0", NULL), *g = get("adamw", "grads", NULL), m[10] = {0}, v[10] = {0};
    for (int t = 1; t <= 3; t++) lmf_adamw_step(p, m, v, g + 10 * (t - 1), 10, 2e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, t);
    expect("adamw", "p3", p);
    free(p), free(g);
    lmf_st_close(st);
}

/* ---- attention: finite differences ---- */
enum { AB = 2, AT = 4, AC = 6, AH = 2 };
typedef struct {
    double *qkv, *r;
} at_ctx;
static double at_loss(void *p) {
    at_ctx *c = p;
    double out[AB * AT * AC], att[AB * AH * AT * AT];
    lmf_attention_forward_f64(out, att, c->qkv, AB, AT, AC, AH);
    return dot(out, c->r, AB * AT * AC);
}
static void test_attention(void) {
    at_ctx c = {rvec(AB * AT * 3 * AC, 1.5), rvec(AB * AT * AC, 1)};
    double out[AB * AT * AC], att[AB * AH * AT * AT];
    lmf_attention_forward_f64(out, att, c.qkv, AB, AT, AC, AH);
    double *d = zvec(AB * AT * 3 * AC);
    lmf_attention_backward_f64(d, c.r, c.qkv, att, AB, AT, AC, AH);
    check_grad("attention d/qkv", c.qkv, d, AB * AT * 3 * AC, at_loss, &c);
    /* causality: the first output does not depend on later positions */
    double keep = out[0];
    c.qkv[3 * AC * 2] += 1.0; /* position 2's q */
    c.qkv[3 * AC * 2 + AC] += 1.0; /* its k */
    lmf_attention_forward_f64(out, att, c.qkv, AB, AT, AC, AH);
    CHECK(out[0] == keep);
    free(c.qkv), free(c.r), free(d);
}

/* ---- the attention training runs (BLAS, per sequence and head) against
 * the kernel checked above by finite differences, in double ---- */
/* src/nn/tf_impl.h (not included: net.h's names clash with this file's) */
void lmf_tf_attn_forward(float *out, float *att, const float *qkv, int B, int T, int d, int NH);
void lmf_tf_attn_backward(float *dqkv, float *dp, const float *dout, const float *qkv, const float *att, int B, int T,
                          int d, int NH);
static void test_attention_shipped(void) {
    enum { SB = 3, ST = 7, SC = 12, SH = 3 };
    double *q64 = rvec(SB * ST * 3 * SC, 1.5), *r64 = rvec(SB * ST * SC, 1);
    double out64[SB * ST * SC], att64[SB * SH * ST * ST], *d64 = zvec(SB * ST * 3 * SC);
    lmf_attention_forward_f64(out64, att64, q64, SB, ST, SC, SH);
    lmf_attention_backward_f64(d64, r64, q64, att64, SB, ST, SC, SH);
    float qkv[SB * ST * 3 * SC], r[SB * ST * SC], out[SB * ST * SC], att[SB * SH * ST * ST], dqkv[SB * ST * 3 * SC], dp[ST * ST];
    float ref_out[SB * ST * SC], ref_att[SB * SH * ST * ST], ref_d[SB * ST * 3 * SC];
    for (int i = 0; i < SB * ST * 3 * SC; i++) qkv[i] = (float)q64[i], ref_d[i] = (float)d64[i];
    for (int i = 0; i < SB * ST * SC; i++) r[i] = (float)r64[i], ref_out[i] = (float)out64[i];
    for (int i = 0; i < SB * SH * ST * ST; i++) ref_att[i] = (float)att64[i];
    lmf_tf_attn_forward(out, att, qkv, SB, ST, SC, SH);
    lmf_tf_attn_backward(dqkv, dp, r, qkv, att, SB, ST, SC, SH);
    CHECK_ALLCLOSE("shipped attention out", out, ref_out, SB * ST * SC, 1e-5, 1e-5);
    CHECK_ALLCLOSE("shipped attention probabilities", att, ref_att, SB * SH * ST * ST, 1e-6, 1e-5);
    CHECK_ALLCLOSE("shipped attention d/qkv", dqkv, ref_d, SB * ST * 3 * SC, 1e-5, 1e-4);
    free(q64), free(r64), free(d64);
}

/* ---- LayerNorm, GELU: finite differences ---- */
typedef struct {
    double *x, *w, *b, *r;
} ln_ctx;
static double ln_loss(void *p) {
    ln_ctx *c = p;
    double y[B * O], mean[B], rstd[B];
    lmf_layernorm_forward_f64(y, mean, rstd, c->x, c->w, c->b, B, O, 1e-5);
    return dot(y, c->r, B * O);
}
static double gelu_loss(void *p) {
    ln_ctx *c = p;
    double y[B * O];
    lmf_gelu_forward_f64(y, c->x, B * O);
    return dot(y, c->r, B * O);
}
static void test_layernorm_gelu(void) {
    ln_ctx c = {rvec(B * O, 2), rvec(O, 1), rvec(O, 1), rvec(B * O, 1)};
    double y[B * O], mean[B], rstd[B];
    lmf_layernorm_forward_f64(y, mean, rstd, c.x, c.w, c.b, B, O, 1e-5);
    double *dx = zvec(B * O), *dw = zvec(O), *db = zvec(O);
    lmf_layernorm_backward_f64(dx, dw, db, c.r, c.x, c.w, mean, rstd, B, O);
    check_grad("layernorm d/x", c.x, dx, B * O, ln_loss, &c);
    check_grad("layernorm d/w", c.w, dw, O, ln_loss, &c);
    check_grad("layernorm d/b", c.b, db, O, ln_loss, &c);
    double *gx = zvec(B * O);
    lmf_gelu_backward_f64(gx, c.r, c.x, B * O);
    check_grad("gelu d/x", c.x, gx, B * O, gelu_loss, &c);
    /* float GELU (its own erfc approximation) against the double one (libm
     * erfc) over [-12, 12], relative to the size of the terms: 2e-6, plus
     * float rounding of the exponent -x^2/2 in the left tail; both tails
     * keep their relative accuracy */
    enum { NG = 4801 };
    float *gxf = malloc(NG * sizeof *gxf), *gyf = malloc(NG * sizeof *gyf), *gdf = calloc(NG, sizeof *gdf),
          *one = malloc(NG * sizeof *one);
    double *gxd = malloc(NG * sizeof *gxd), *gyd = malloc(NG * sizeof *gyd), *gdd = calloc(NG, sizeof *gdd),
           *oned = malloc(NG * sizeof *oned);
    for (int i = 0; i < NG; i++) {
        gxf[i] = (float)(-12.0 + 24.0 * i / (NG - 1)) + 1e-4f; /* not exactly 0 */
        gxd[i] = gxf[i];
        one[i] = 1.0f, oned[i] = 1.0;
    }
    lmf_gelu_forward_f32(gyf, gxf, NG);
    lmf_gelu_backward_f32(gdf, one, gxf, NG);
    lmf_gelu_forward_f64(gyd, gxd, NG);
    lmf_gelu_backward_f64(gdd, oned, gxd, NG);
    double wy = 0, wd = 0;
    for (int i = 0; i < NG; i++) {
        const double x = gxd[i], tol = 2e-6 + 2e-7 * x * x, phi = gyd[i] / x,
                     terms = phi + fabs(x) * exp(-0.5 * x * x) * 0.3989422804014327;
        wy = fmax(wy, fabs(gyf[i] - gyd[i]) / fabs(gyd[i]) / tol);
        wd = fmax(wd, fabs(gdf[i] - gdd[i]) / terms / tol);
    }
    CHECK_MSG(wy <= 1 && wd <= 1, "float GELU: error %.3g (forward), %.3g (backward) of the tolerance", wy, wd);
    free(gxf), free(gyf), free(gdf), free(one), free(gxd), free(gyd), free(gdd), free(oned);
    /* embedding: backward scatters to the looked-up rows (a repeated id accumulates) */
    double table[4 * 2] = {1, 2, 3, 4, 5, 6, 7, 8}, out[3 * 2], dt[4 * 2] = {0}, go[3 * 2] = {1, 1, 2, 2, 3, 3};
    int32_t ids[3] = {2, 0, 2};
    lmf_embed_forward_f64(out, table, ids, 3, 2);
    CHECK(out[0] == 5 && out[2] == 1 && out[5] == 6);
    lmf_embed_backward_f64(dt, go, ids, 3, 2);
    CHECK(dt[4] == 4 && dt[5] == 4 && dt[0] == 2 && dt[2] == 0);
    /* gradient clipping */
    float g1[2] = {3, 0}, g2[1] = {4};
    float *gs[2] = {g1, g2};
    size_t ns[2] = {2, 1};
    CHECK(fabsf(lmf_clip_grad_norm(gs, ns, 2, 1.0f) - 5.0f) < 1e-6f);
    CHECK(fabsf(g1[0] - 0.6f) < 1e-6f && fabsf(g2[0] - 0.8f) < 1e-6f);
    free(c.x), free(c.w), free(c.b), free(c.r), free(dx), free(dw), free(db), free(gx);
}

/* ---- whole models against PyTorch (dev/gen_rnnlm_fixtures.py); the Transformer
 * through its sliding window ---- */
static void test_rnnlm(void) {
    const char *archs[] = {"rnn", "lstm", "gru", "transformer"};
    for (int a = 0; a < 4; a++) {
        char path[128], exp_name[128];
        snprintf(path, sizeof path, "rnnlm_%s.safetensors", archs[a]);
        snprintf(exp_name, sizeof exp_name, "rnnlm_%s.expected", archs[a]);
        lmf_model *m;
        lmf_status s = lmf_model_load(tdata(path), &m);
        CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
        if (s) continue;
        lmf_tokens t;
        CHECK(lmf_tokens_read_file(tdata("rnnlm.txt"), lmf_model_vocab(m), NULL, &t) == LMF_OK);
        float *lp = malloc(t.n * sizeof *lp), *lp2 = malloc(t.n * sizeof *lp2);
        CHECK(lmf_model_score(m, NULL, t.ids, t.n, lp) == LMF_OK);
        FILE *fp = fopen(tdata(exp_name), "r");
        double worst = 0;
        size_t k = 0;
        double want;
        while (fp && fscanf(fp, "%lf", &want) == 1 && k < t.n) {
            worst = fmax(worst, fabs(lp[k] - want));
            k++;
        }
        if (fp) fclose(fp);
        CHECK_MSG(k == t.n && worst < 2e-5, "%s: %zu of %zu tokens, worst |log p - PyTorch| %.3g", archs[a], k, t.n,
                  worst);
        /* scoring in two calls with a carried state agrees with one call, to
         * rounding (the products run over other row counts, so the BLAS may
         * block them differently); the same tolerance tells a state that is
         * not carried (the second half from a fresh state) */
        lmf_state *st = lmf_state_new(m);
        size_t half = t.n / 2;
        CHECK(lmf_model_score(m, st, t.ids, half, lp2) == LMF_OK);
        CHECK(lmf_model_score(m, st, t.ids + half, t.n - half, lp2 + half) == LMF_OK);
        char what[128];
        snprintf(what, sizeof what, "%s: scores in two calls against one", archs[a]);
        CHECK_ALLCLOSE(what, lp2, lp, t.n, LP_ATOL, LP_RTOL);
        lmf_state *fresh = lmf_state_new(m);
        CHECK(lmf_model_score(m, fresh, t.ids + half, t.n - half, lp2 + half) == LMF_OK);
        lmf_state_free(m, fresh);
        CHECK_MSG(close_ratio(lp2, lp, t.n, LP_ATOL, LP_RTOL, NULL, NULL) > 1,
                  "%s: the second half scored from a fresh state is within the tolerance", archs[a]);
        /* the same call twice: bit for bit */
        lmf_state_reset(m, st);
        CHECK(lmf_model_score(m, st, t.ids, half, lp2) == LMF_OK);
        CHECK(lmf_model_score(m, st, t.ids + half, t.n - half, lp2 + half) == LMF_OK);
        float *lp3 = malloc(t.n * sizeof *lp3);
        CHECK(lmf_model_score(m, NULL, t.ids, t.n, lp3) == LMF_OK);
        CHECK_MSG(!memcmp(lp3, lp, t.n * sizeof *lp), "%s: the same call twice differs", archs[a]);
        lmf_state_reset(m, st);
        CHECK(lmf_model_score(m, st, t.ids, half, lp3) == LMF_OK);
        CHECK(lmf_model_score(m, st, t.ids + half, t.n - half, lp3 + half) == LMF_OK);
        CHECK_MSG(!memcmp(lp3, lp2, t.n * sizeof *lp), "%s: the same two calls twice differ", archs[a]);
        free(lp3);
        int32_t nv = lmf_vocab_size(lmf_model_vocab(m));
        float *d = malloc((size_t)nv * sizeof *d);
        CHECK(lmf_model_next(m, st, d) == LMF_OK);
        double sum = 0;
        for (int32_t v = 0; v < nv; v++) sum += exp((double)d[v]);
        CHECK_CLOSE(sum, 1.0, 1e-5, 0);
        /* a stream spanning several scoring chunks agrees with token-at-a-time scoring */
        size_t rep = 4 * t.n;
        int32_t *ids = malloc(rep * sizeof *ids);
        float *a1 = malloc(rep * sizeof *a1), *a2 = malloc(rep * sizeof *a2);
        for (size_t i = 0; i < rep; i++) ids[i] = t.ids[i % t.n];
        CHECK(lmf_model_score(m, NULL, ids, rep, a1) == LMF_OK);
        lmf_state_reset(m, st);
        for (size_t i = 0; i < rep; i++) CHECK(lmf_model_score(m, st, ids + i, 1, a2 + i) == LMF_OK);
        snprintf(what, sizeof what, "%s: token-at-a-time scoring against a span of chunks", archs[a]);
        CHECK_ALLCLOSE(what, a2, a1, rep, LP_ATOL, LP_RTOL);
        snprintf(what, sizeof what, "%s: the first %zu tokens of a span of chunks against them alone", archs[a], t.n);
        CHECK_ALLCLOSE(what, a1, lp, t.n, LP_ATOL, LP_RTOL);
        /* full distributions over a span of chunks equal next() + feed() */
        size_t nd = rep < 300 ? rep : 300;
        float *dd = malloc(nd * (size_t)nv * sizeof *dd);
        lmf_state_reset(m, st);
        CHECK(lmf_model_dists(m, st, ids, nd, dd) == LMF_OK);
        lmf_state *s1 = lmf_state_new(m);
        float *dn = malloc(nd * (size_t)nv * sizeof *dn);
        for (size_t i = 0; i < nd; i++) {
            CHECK(lmf_model_next(m, s1, dn + i * (size_t)nv) == LMF_OK);
            CHECK(lmf_model_feed(m, s1, ids[i]) == LMF_OK);
        }
        snprintf(what, sizeof what, "%s: next() + feed() against dists() over a span of chunks", archs[a]);
        CHECK_ALLCLOSE(what, dn, dd, nd * (size_t)nv, LP_ATOL, LP_RTOL);
        lmf_state_free(m, s1);
        free(dd), free(dn);
        free(ids), free(a1), free(a2);
        lmf_state_free(m, st);
        free(d), free(lp), free(lp2);
        lmf_tokens_free(&t);
        lmf_model_free(m);
    }
    /* files that are not models of this kind */
    lmf_model *m = NULL;
    CHECK(lmf_nn_load(tdata("tiny.safetensors"), &m) == LMF_ERR_FORMAT && !m);
    CHECK(strstr(lmf_last_error(), "lmfuse.vocab") != NULL); /* it says lstm but has no vocabulary */
    CHECK(lmf_nn_load(tdata("cells.safetensors"), &m) == LMF_ERR_FORMAT && !m);
}

/* ---- output layer (lmf_head): full and class-factored softmax ---- */
enum { HV = 23, HH = 5, HN = 9 };
typedef struct {
    int C;
    const int32_t *start, *cls, *y;
    double *x, *w, *b, *cw, *cb; /* [HN,HH] [HV,HH] [HV] [C,HH] [C] */
} head_ctx;
/* -ln p(y|x) summed over rows, written from the definition in double. */
static double head_ref_row(const head_ctx *c, int i, int y) {
    const double *x = c->x + i * HH;
    int lo = 0, hi = HV;
    double lc = 0;
    if (c->C) {
        int k = c->cls[y];
        double z[HV], m = -1e300, sum = 0;
        for (int j = 0; j < c->C; j++) {
            z[j] = c->cb[j] + dot(c->cw + j * HH, x, HH);
            m = z[j] > m ? z[j] : m;
        }
        for (int j = 0; j < c->C; j++) sum += exp(z[j] - m);
        lc = z[k] - m - log(sum);
        lo = c->start[k], hi = c->start[k + 1];
    }
    double z[HV], m = -1e300, sum = 0;
    for (int v = lo; v < hi; v++) {
        z[v] = c->b[v] + dot(c->w + v * HH, x, HH);
        m = z[v] > m ? z[v] : m;
    }
    for (int v = lo; v < hi; v++) sum += exp(z[v] - m);
    return lc + z[y] - m - log(sum);
}
static double head_loss(void *p) {
    const head_ctx *c = p;
    double l = 0;
    for (int i = 0; i < HN; i++) l -= head_ref_row(c, i, c->y[i]);
    return l;
}
/* float gradient g against central differences of the double loss:
 * |g - fd| <= 2e-6 + 1e-4 |fd| */
static void check_fgrad(const char *what, double *x, const float *g, size_t n, head_ctx *c) {
    double *gd = malloc(n * sizeof *gd);
    for (size_t i = 0; i < n; i++) gd[i] = g[i];
    check_grad_tol(what, x, gd, n, head_loss, c, 2e-6, 1e-4);
    free(gd);
}
static void test_head(void) {
    /* classes: sqrt-frequency bands, every class non-empty, big words alone */
    uint64_t cnt[HV];
    for (int v = 0; v < HV; v++) cnt[v] = v == 0 ? 1000 : (uint64_t)(200 / (v + 1));
    int32_t start[HV + 1], cls[HV];
    CHECK(lmf_head_make_classes(cnt, HV, 0, start) < 0 && lmf_head_make_classes(cnt, HV, HV + 1, start) < 0);
    CHECK(lmf_head_make_classes(cnt, HV, HV, start) == 0);
    for (int k = 0; k <= HV; k++) CHECK(start[k] == k); /* C = V: one word per class */
    const int C = 5;
    CHECK(lmf_head_make_classes(cnt, HV, C, start) == 0);
    CHECK(start[0] == 0 && start[C] == HV && start[1] == 1); /* the frequent word 0 has a class of its own */
    for (int k = 0; k < C; k++) CHECK(start[k + 1] > start[k]);
    lmf_head_fill_cls(start, C, cls);
    char *js = lmf_head_classes_json(start, C);
    int32_t *st2 = NULL, *cl2 = NULL;
    int C2 = 0;
    CHECK(js && lmf_head_parse_classes(js, HV, "x", &st2, &cl2, &C2) == LMF_OK && C2 == C);
    CHECK(st2 && cl2 && !memcmp(st2, start, (C + 1) * sizeof *start) && !memcmp(cl2, cls, HV * sizeof *cls));
    free(js), free(st2), free(cl2);
    CHECK(lmf_head_parse_classes("[0,5,5,23]", HV, "m.st", &st2, &cl2, &C2) == LMF_ERR_FORMAT);
    CHECK(strstr(lmf_last_error(), "m.st") && strstr(lmf_last_error(), "entry 2"));
    CHECK(lmf_head_parse_classes("[0,5,22]", HV, "m.st", &st2, &cl2, &C2) == LMF_ERR_FORMAT);
    CHECK(lmf_head_parse_classes("{}", HV, "m.st", &st2, &cl2, &C2) == LMF_ERR_FORMAT);

    int32_t y[HN] = {0, 3, 22, 7, 1, 0, 15, 3, 9};
    for (int withc = 0; withc < 2; withc++) {
        head_ctx c = {withc ? C : 0, start, cls, y, rvec(HN * HH, 1), rvec(HV * HH, 0.8), rvec(HV, 0.5),
                      rvec(C * HH, 0.8), rvec(C, 0.5)};
        float *fx = tof(c.x, HN * HH), *fw = tof(c.w, HV * HH), *fb = tof(c.b, HV), *fcw = tof(c.cw, C * HH),
              *fcb = tof(c.cb, C);
        float *gw = calloc(HV * HH, sizeof *gw), *gb = calloc(HV, sizeof *gb), *gcw = calloc(C * HH, sizeof *gcw),
              *gcb = calloc(C, sizeof *gcb), *dx = calloc(HN * HH, sizeof *dx);
        lmf_head P = {HV, HH, c.C, fw, fb, fcw, fcb, start, cls, NULL}, D = {HV, HH, c.C, gw, gb, gcw, gcb, start, cls, NULL};
        void *work = malloc(lmf_head_work_bytes(&P, HN, 1));
        if (!withc) { /* bfloat16 products: within their rounding of the float path */
            float *gw2 = calloc(HV * HH, sizeof *gw2), *gb2 = calloc(HV, sizeof *gb2), *dx2 = calloc(HN * HH, sizeof *dx2),
                  *gw3 = calloc(HV * HH, sizeof *gw3), *gb3 = calloc(HV, sizeof *gb3), *dx3 = calloc(HN * HH, sizeof *dx3);
            lmf_head D2 = {HV, HH, 0, gw2, gb2, NULL, NULL, start, cls, NULL}, D3 = {HV, HH, 0, gw3, gb3, NULL, NULL, start, cls, NULL};
            double l32 = lmf_head_train(&P, &D2, fx, y, HN, 1.0f, dx2, work, 0),
                   l16 = lmf_head_train(&P, &D3, fx, y, HN, 1.0f, dx3, work, 1);
            CHECK_MSG(fabs(l16 - l32) < 1e-2 * fabs(l32), "bf16 head loss %.9g, float %.9g", l16, l32);
            double ew = 0, nw = 0, ex = 0, nx = 0, eb = 0, nb = 0;
            for (int k = 0; k < HV * HH; k++) ew += (gw3[k] - gw2[k]) * (gw3[k] - gw2[k]), nw += gw2[k] * gw2[k];
            for (int k = 0; k < HN * HH; k++) ex += (dx3[k] - dx2[k]) * (dx3[k] - dx2[k]), nx += dx2[k] * dx2[k];
            for (int k = 0; k < HV; k++) eb += (gb3[k] - gb2[k]) * (gb3[k] - gb2[k]), nb += gb2[k] * gb2[k];
            CHECK_MSG(ew < 1e-4 * nw && ex < 1e-4 * nx && eb < 1e-4 * nb,
                      "bf16 head gradients differ from float ones: |dw| %.3g |dx| %.3g |db| %.3g (relative, squared)",
                      ew / nw, ex / nx, eb / nb);
            free(gw2), free(gb2), free(dx2), free(gw3), free(gb3), free(dx3);
            lmf_gemm_bf16_release();
        }
        double ref = head_loss(&c), got = lmf_head_train(&P, &D, fx, y, HN, 1.0f, dx, work, 0);
        CHECK_MSG(fabs(got - ref) < 1e-5 * fabs(ref), "head (classes %d): loss %.9g, reference %.9g", c.C, got, ref);
        check_fgrad(withc ? "class head d/dw" : "head d/dw", c.w, gw, HV * HH, &c);
        check_fgrad(withc ? "class head d/db" : "head d/db", c.b, gb, HV, &c);
        check_fgrad(withc ? "class head d/dx" : "head d/dx", c.x, dx, HN * HH, &c);
        if (withc) {
            check_fgrad("class head d/dcw", c.cw, gcw, C * HH, &c);
            check_fgrad("class head d/dcb", c.cb, gcb, C, &c);
        }
        /* scoring = the reference; full distributions sum to 1 and agree */
        float lp[HN], dist[HV];
        lmf_head_score(&P, fx, HN, y, lp, work);
        for (int i = 0; i < HN; i++) {
            double r = head_ref_row(&c, i, y[i]);
            CHECK_MSG(fabs(lp[i] - r) < 2e-6 * (1 + fabs(r)), "head score row %d: %.9g vs %.9g", i, lp[i], r);
            lmf_head_logprobs(&P, fx + i * HH, dist, work);
            double sum = 0;
            for (int v = 0; v < HV; v++) {
                sum += exp(dist[v]);
                double rv = head_ref_row(&c, i, v);
                CHECK_MSG(fabs(dist[v] - rv) < 2e-6 * (1 + fabs(rv)), "head dist row %d word %d: %.9g vs %.9g", i, v,
                          dist[v], rv);
            }
            CHECK_MSG(fabs(sum - 1) < 1e-5, "head distribution sums to %.9g", sum);
        }
        /* all rows at once = row by row against the reference */
        float *bd = malloc((size_t)HN * HV * sizeof *bd);
        lmf_head_logprobs_batch(&P, fx, HN, bd, work);
        double wb = 0;
        for (int i = 0; i < HN; i++)
            for (int v = 0; v < HV; v++) wb = fmax(wb, fabs(bd[i * HV + v] - head_ref_row(&c, i, v)));
        CHECK_MSG(wb < 2e-5, "head (classes %d): batched distributions differ from the reference by %.3g", c.C, wb);
        free(bd);
        free(c.x), free(c.w), free(c.b), free(c.cw), free(c.cb), free(fx), free(fw), free(fb), free(fcw), free(fcb);
        free(gw), free(gb), free(gcw), free(gcb), free(dx), free(work);
    }
}

/* ---- hidden states: the vectors the output layer reads.  Their log-softmax
 * through the file's output weights gives PyTorch's log-probs; chunked calls
 * equal one call; a model without them says so. ---- */
static void test_hidden(void) {
    const char *archs[] = {"rnn", "lstm", "gru", "transformer"};
    for (int a = 0; a < 4; a++) {
        char path[128], exp_name[128];
        snprintf(path, sizeof path, "rnnlm_%s.safetensors", archs[a]);
        snprintf(exp_name, sizeof exp_name, "rnnlm_%s.expected", archs[a]);
        lmf_model *m;
        CHECK(lmf_model_load(tdata(path), &m) == LMF_OK);
        lmf_safetensors *st;
        CHECK(lmf_st_open(tdata(path), &st) == LMF_OK);
        const char *wn[] = {"decoder.weight", "head.weight", "encoder.weight", "tok_emb.weight"};
        const lmf_st_tensor *Wt = NULL, *Bt = lmf_st_find(st, "decoder.bias");
        for (int i = 0; i < 4 && !Wt; i++) Wt = lmf_st_find(st, wn[i]);
        if (!Bt) Bt = lmf_st_find(st, "head.bias");
        CHECK(Wt && Bt);
        int D = lmf_model_hidden_dim(m), nv = lmf_vocab_size(lmf_model_vocab(m));
        CHECK(Wt && (int)Wt->shape[0] == nv && (int)Wt->shape[1] == D);
        float *w = malloc((size_t)nv * D * sizeof *w), *b = malloc((size_t)nv * sizeof *b);
        CHECK(lmf_st_to_f32(Wt, w) == LMF_OK && lmf_st_to_f32(Bt, b) == LMF_OK);
        lmf_tokens t;
        CHECK(lmf_tokens_read_file(tdata("rnnlm.txt"), lmf_model_vocab(m), NULL, &t) == LMF_OK);
        float *h = malloc((t.n + 1) * (size_t)D * sizeof *h), *h2 = malloc((t.n + 2) * (size_t)D * sizeof *h2);
        lmf_state *s = lmf_state_new(m);
        CHECK(lmf_model_hidden(m, s, t.ids, t.n, h) == LMF_OK);
        FILE *fp = fopen(tdata(exp_name), "r");
        double worst = 0, want;
        size_t k = 0;
        for (; fp && k < t.n && fscanf(fp, "%lf", &want) == 1; k++) {
            double z[64], mx = -1e300, sum = 0;
            for (int v = 0; v < nv; v++) {
                z[v] = b[v];
                for (int d = 0; d < D; d++) z[v] += (double)w[(size_t)v * D + d] * h[k * D + d];
                mx = fmax(mx, z[v]);
            }
            for (int v = 0; v < nv; v++) sum += exp(z[v] - mx);
            worst = fmax(worst, fabs(z[t.ids[k]] - mx - log(sum) - want));
        }
        if (fp) fclose(fp);
        CHECK_MSG(k == t.n && worst < 2e-5, "%s: hidden rows through the output layer vs PyTorch: worst %.3g", archs[a],
                  worst);
        /* in two calls: the first call's last row is the second's first */
        char what[160];
        size_t half = t.n / 3;
        lmf_state_reset(m, s);
        CHECK(lmf_model_hidden(m, s, t.ids, half, h2) == LMF_OK);
        CHECK(lmf_model_hidden(m, s, t.ids + half, t.n - half, h2 + (half + 1) * D) == LMF_OK);
        CHECK(!memcmp(h2 + half * D, h2 + (half + 1) * D, (size_t)D * sizeof *h));
        snprintf(what, sizeof what, "%s: hidden rows 0..%zu of the first of two calls against one call's", archs[a], half);
        CHECK_ALLCLOSE(what, h2, h, (half + 1) * D, H_ATOL, H_RTOL);
        snprintf(what, sizeof what, "%s: hidden rows %zu..%zu of the second of two calls against one call's", archs[a],
                 half + 1, t.n);
        CHECK_ALLCLOSE(what, h2 + (half + 2) * D, h + (half + 1) * D, (t.n - half) * D, H_ATOL, H_RTOL);
        /* n = 0: the current vector, the second call's last row (the same
         * numbers, bit for bit), and one call's last row to rounding; the
         * tolerance tells the vector one token earlier */
        CHECK(lmf_model_hidden(m, s, NULL, 0, h2) == LMF_OK);
        CHECK(!memcmp(h2, h2 + (t.n + 1) * D, (size_t)D * sizeof *h));
        snprintf(what, sizeof what, "%s: the current vector after two calls against one call's", archs[a]);
        CHECK_ALLCLOSE(what, h2, h + t.n * D, (size_t)D, H_ATOL, H_RTOL);
        CHECK_MSG(close_ratio(h + (t.n - 1) * D, h + t.n * D, (size_t)D, H_ATOL, H_RTOL, NULL, NULL) > 1,
                  "%s: the vector one token earlier is within the tolerance", archs[a]);
        lmf_state_free(m, s);
        lmf_st_close(st);
        lmf_tokens_free(&t);
        free(w), free(b), free(h), free(h2);
        lmf_model_free(m);
    }
}

int main(void) {
    test_rnnlm();
    test_hidden();
    test_cells_vs_torch();
    test_lstm();
    test_gru();
    test_rnn();
    test_matmul();
    test_xent();
    test_layernorm_gelu();
    test_attention();
    test_attention_shipped();
    test_head();
    TEST_MAIN_END();
}
