/* loglinear: p(i) = prod_k p_k(i)^w_k / Z, the weighted geometric mean
 * (lmf/comb.h). */
#include "comb_impl.h"

static void combine(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, float *out) {
    (void)s, (void)aux;
    const int K = c->K, N = c->N;
    double mx = -INFINITY;
    for (int v = 0; v < N; v++) {
        double z = 0;
        for (int k = 0; k < K; k++)
            if (c->w[k] > 0) z += c->w[k] * (double)d[(size_t)k * ks + (size_t)v];
        out[v] = (float)z;
        mx = z > mx ? z : mx;
    }
    lmf_comb_normalise(out, N, mx);
}

const lmf_comb_ops lmf_comb_loglinear_ops = {
    .kind = LMF_COMB_LOGLINEAR,
    .combine = combine,
};
