/* gate: a linear mixture whose weights a softmax model computes from
 * features of the item (lmf/comb.h); fitted by lmf_tune_gate (lmf/fuse.h). */
#include "comb_impl.h"
#include "../core/util_impl.h"
#include "../nn/nn_impl.h" /* lmf_exp_entropy_f32 */

#include <string.h>

#define G LMF_GATE_FEATURES

static lmf_status init(lmf_comb *c, const lmf_comb_opts *o) {
    const lmf_gate_params *g = o->gate;
    const int K = c->K, F = G * K;
    if (!g || !g->mean || !g->sd || !g->loss0 || !g->A || !g->b)
        return lmf_error(LMF_ERR_ARG, "a gate needs its parameters (tune it with lmfuse tune --method gate)");
    if (!(g->decay > 0 && g->decay < 1))
        return lmf_error(LMF_ERR_ARG, "the gate's decay must be in (0, 1) (got %g)", g->decay);
    for (int j = 0; j < F; j++)
        if (!isfinite(g->mean[j]) || !(g->sd[j] > 0) || !isfinite(g->sd[j]))
            return lmf_error(LMF_ERR_ARG, "gate feature %d: mean must be finite and sd > 0", j + 1);
    for (int j = 0; j < F * K; j++)
        if (!isfinite(g->A[j])) return lmf_error(LMF_ERR_ARG, "gate matrix entry %d is not finite", j + 1);
    for (int k = 0; k < K; k++)
        if (!isfinite(g->b[k]) || !isfinite(g->loss0[k]))
            return lmf_error(LMF_ERR_ARG, "gate bias / loss0 %d is not finite", k + 1);
    size_t n = (size_t)K * (size_t)F + (size_t)K + 2 * (size_t)F + (size_t)K;
    double *p = (double *)lmf_malloc(n * sizeof *p);
    if (!p) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    c->par = p;
    c->F = F;
    double *A = p, *b = A + (size_t)K * F, *mean = b + K, *sd = mean + F, *loss0 = sd + F;
    memcpy(A, g->A, (size_t)K * (size_t)F * sizeof *A);
    memcpy(b, g->b, (size_t)K * sizeof *b);
    memcpy(mean, g->mean, (size_t)F * sizeof *mean);
    memcpy(sd, g->sd, (size_t)F * sizeof *sd);
    memcpy(loss0, g->loss0, (size_t)K * sizeof *loss0);
    c->gA = A, c->gb = b, c->gmean = mean, c->gsd = sd, c->gloss0 = loss0;
    c->gdecay = g->decay;
    return LMF_OK;
}

/* The raw features phi[G k + i]; the members' probabilities go to pk[k*N + i]. */
static void features(const lmf_comb *c, const lmf_comb_state *s, const float *d, size_t ks, const float *aux,
                     double *phi, float *pk) {
    const int K = c->K, N = c->N;
    int32_t best[LMF_FUSE_MAX_MEMBERS];
    for (int k = 0; k < K; k++) {
        float mx;
        int32_t arg;
        double h = lmf_exp_entropy_f32(d + (size_t)k * ks, N, pk + (size_t)k * (size_t)N, &mx, &arg);
        best[k] = arg;
        phi[G * k] = h;
        phi[G * k + 1] = (double)mx;
        phi[G * k + 3] = s->r[k];
        phi[G * k + 4] = aux ? (double)aux[k] : 0;
    }
    for (int k = 0; k < K; k++) {
        int agree = 0;
        for (int j = 0; j < K; j++) agree += j != k && best[j] == best[k];
        phi[G * k + 2] = K > 1 ? (double)agree / (K - 1) : 1.0;
    }
}

/* ln mixture weights from raw features. */
static void weights(const lmf_comb *c, const double *phi, double *lw) {
    const int K = c->K, F = c->F;
    double z[G * LMF_FUSE_MAX_MEMBERS];
    for (int j = 0; j < F; j++) z[j] = (phi[j] - c->gmean[j]) / c->gsd[j];
    for (int k = 0; k < K; k++) {
        double a = c->gb[k];
        for (int j = 0; j < F; j++) a += c->gA[k * F + j] * z[j];
        lw[k] = a;
    }
    double l = lmf_comb_lse(lw, K);
    for (int k = 0; k < K; k++) lw[k] -= l;
}

/* ln sum_k g_k p_k(v): probabilities from the features' pass; the exact
 * lse if they underflow. */
static inline float mix_at(int K, int N, const float *g, const double *gw, const float *pk, const float *d, size_t ks,
                           size_t v) {
    float sum = 0;
    for (int k = 0; k < K; k++) sum += g[k] * pk[(size_t)k * (size_t)N + v];
    if (sum > 1e-30f) return logf(sum);
    double a[LMF_FUSE_MAX_MEMBERS];
    for (int k = 0; k < K; k++) a[k] = gw[k] + (double)d[(size_t)k * ks + v];
    return (float)lmf_comb_lse(a, K);
}

/* The weights of this item: ln gw and g = e^gw (float). */
static void item_mix(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, double *gw,
                     float *g) {
    double phi[G * LMF_FUSE_MAX_MEMBERS];
    features(c, s, d, ks, aux, phi, s->pk);
    weights(c, phi, gw);
    for (int k = 0; k < c->K; k++) g[k] = (float)exp(gw[k]);
}

static void combine(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, float *out) {
    double gw[LMF_FUSE_MAX_MEMBERS] = {0};
    float g[LMF_FUSE_MAX_MEMBERS];
    item_mix(c, s, d, ks, aux, gw, g);
    for (int v = 0; v < c->N; v++) out[v] = mix_at(c->K, c->N, g, gw, s->pk, d, ks, (size_t)v);
}

static float combine_at(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux,
                        int32_t y) {
    double gw[LMF_FUSE_MAX_MEMBERS] = {0};
    float g[LMF_FUSE_MAX_MEMBERS];
    item_mix(c, s, d, ks, aux, gw, g);
    return mix_at(c->K, c->N, g, gw, s->pk, d, ks, (size_t)y);
}

static void observe(const lmf_comb *c, lmf_comb_state *s, const float *lp) {
    for (int k = 0; k < c->K; k++) s->r[k] = c->gdecay * s->r[k] - (1 - c->gdecay) * (double)lp[k];
}

static void item_weights(const lmf_comb *c, const lmf_comb_state *s, const float *d, size_t ks, const float *aux,
                         double *lw) {
    double phi[G * LMF_FUSE_MAX_MEMBERS];
    features(c, s, d, ks, aux, phi, s->pk);
    weights(c, phi, lw);
}

lmf_status lmf_comb_gate_features(const lmf_comb *c, const lmf_comb_state *s, const float *d, size_t kstride,
                                  const float *aux, double *phi) {
    if (c->ops->kind != LMF_COMB_GATE) return lmf_error(LMF_ERR_ARG, "not a gate");
    features(c, s, d, kstride, aux, phi, s->pk);
    return LMF_OK;
}

const lmf_comb_ops lmf_comb_gate_ops = {
    .kind = LMF_COMB_GATE,
    .init = init,
    .combine = combine,
    .combine_at = combine_at,
    .observe = observe,
    .item_weights = item_weights,
};
