/* linear: p(i) = sum_k w_k p_k(i), the weighted average (lmf/comb.h).  The
 * mixing code here is shared with bayes.c, whose weights move. */
#include "comb_impl.h"

void lmf_comb_mix(const lmf_comb *c, lmf_comb_state *s, const float *lp, size_t stride, size_t n, float *out) {
    double a[LMF_FUSE_MAX_MEMBERS];
    const int K = c->K, bayes = c->ops->kind == LMF_COMB_BAYES;
    double *lw = s->lw;
    for (size_t t = 0; t < n; t++) {
        for (int k = 0; k < K; k++) a[k] = lw[k] + (double)lp[(size_t)k * stride + t];
        double l = lmf_comb_lse(a, K);
        out[t] = (float)l;
        if (bayes && isfinite(l)) {
            /* posterior, then fixed share towards the prior weights */
            for (int k = 0; k < K; k++) lw[k] = log((1 - c->o.share) * exp(a[k] - l) + c->o.share * c->w[k]);
        }
    }
}

void lmf_comb_mix_full(const double *lw, int K, int N, const float *d, size_t ks, float *out) {
    double a[LMF_FUSE_MAX_MEMBERS];
    for (int v = 0; v < N; v++) {
        for (int k = 0; k < K; k++) a[k] = lw[k] + (double)d[(size_t)k * ks + (size_t)v];
        out[v] = (float)lmf_comb_lse(a, K);
    }
}

static void combine(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, float *out) {
    (void)aux;
    lmf_comb_mix_full(s->lw, c->K, c->N, d, ks, out);
}

const lmf_comb_ops lmf_comb_linear_ops = {
    .kind = LMF_COMB_LINEAR,
    .per_outcome = 1,
    .combine = combine,
};
