/* max: p(i) = max_k p_k(i) / Z (lmf/comb.h); the weights are not used. */
#include "comb_impl.h"

static void combine(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, float *out) {
    (void)s, (void)aux;
    const int K = c->K, N = c->N;
    double mx = -INFINITY;
    for (int v = 0; v < N; v++) {
        double z = -INFINITY;
        for (int k = 0; k < K; k++) {
            double x = (double)d[(size_t)k * ks + (size_t)v];
            z = x > z ? x : z;
        }
        out[v] = (float)z;
        mx = z > mx ? z : mx;
    }
    lmf_comb_normalise(out, N, mx);
}

const lmf_comb_ops lmf_comb_max_ops = {
    .kind = LMF_COMB_MAX,
    .combine = combine,
};
