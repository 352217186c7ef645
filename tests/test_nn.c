/* Neural kernels: every backward against central finite differences in
 * double precision, the float kernels against the double ones, and the
 * BLAS matmul against the naive one.  (PyTorch reference values for the
 * layers come with the models, from dev/.) */
#include "test.h"

#include "../src/nn/nn_impl.h"

#include <stdint.h>

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
 * central differences (h = 1e-6); |g - fd| <= 1e-7 + 1e-5 |fd|. */
typedef double (*loss_fn)(void *ctx);
static void check_grad(const char *what, double *x, const double *g, size_t n, loss_fn f, void *ctx) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double keep = x[i], h = 1e-6;
        x[i] = keep + h;
        double lp = f(ctx);
        x[i] = keep - h;
        double lm = f(ctx);
        x[i] = keep;
        double fd = (lp - lm) / (2 * h);
        double err = fabs(g[i] - fd) / (1e-7 + 1e-5 * fabs(fd));
        if (err > worst) worst = err;
    }
    CHECK_MSG(worst <= 1.0, "%s: gradient differs from finite differences (worst %.3g of tolerance)", what, worst);
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
    free(c.z), free(c.r), free(dz);
}

int main(void) {
    test_lstm();
    test_gru();
    test_rnn();
    test_matmul();
    test_xent();
    TEST_MAIN_END();
}
