/* stack: a multinomial logistic-regression meta-model over the members'
 * probabilities (lmf/comb.h); stacking or blending depending on what it was
 * fitted on (lmf/classify.h fits it). */
#include "comb_impl.h"
#include "../core/util_impl.h"

#include <string.h>

static lmf_status init(lmf_comb *c, const lmf_comb_opts *o) {
    const lmf_stack_params *p = o->stack;
    const int K = c->K, N = c->N;
    if (!p || !p->W || !p->b)
        return lmf_error(LMF_ERR_ARG, "a stacking meta-model needs its parameters (fit it with lmfuse classify fuse)");
    if (p->N != N)
        return lmf_error(LMF_ERR_ARG, "the stacking meta-model is over %d classes, the members over %d", p->N, N);
    const size_t n = (size_t)N * (size_t)K * (size_t)N + (size_t)N;
    for (size_t j = 0; j < n - (size_t)N; j++)
        if (!isfinite(p->W[j])) return lmf_error(LMF_ERR_ARG, "stacking weight %zu is not finite", j + 1);
    for (int j = 0; j < N; j++)
        if (!isfinite(p->b[j])) return lmf_error(LMF_ERR_ARG, "stacking bias %d is not finite", j + 1);
    double *w = (double *)lmf_malloc(n * sizeof *w);
    if (!w) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    memcpy(w, p->W, (n - (size_t)N) * sizeof *w);
    memcpy(w + n - (size_t)N, p->b, (size_t)N * sizeof *w);
    c->par = w;
    c->slogp = p->logp != 0;
    c->sW = w;
    c->sb = w + n - (size_t)N;
    return LMF_OK;
}

static void combine(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, float *out) {
    (void)aux;
    const int K = c->K, N = c->N;
    const size_t F = (size_t)K * (size_t)N;
    double *x = s->sx, mx = -INFINITY; /* the features once, for every class's score */
    for (int k = 0; k < K; k++)
        for (int i = 0; i < N; i++) x[(size_t)k * N + i] = lmf_stack_feature(d[(size_t)k * ks + (size_t)i], c->slogp);
    for (int y = 0; y < N; y++) {
        const double *w = c->sW + (size_t)y * F;
        double z = c->sb[y];
        for (size_t j = 0; j < F; j++) z += w[j] * x[j];
        out[y] = (float)z;
        mx = z > mx ? z : mx;
    }
    lmf_comb_normalise(out, N, mx);
}

const lmf_comb_ops lmf_comb_stack_ops = {
    .kind = LMF_COMB_STACK,
    .init = init,
    .combine = combine,
};
