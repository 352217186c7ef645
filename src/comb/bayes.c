/* bayes: a linear mixture whose weights follow the members' posteriors
 * online, with fixed share towards the prior (lmf/comb.h).  Mixing is
 * linear.c's; this file adds the weights' update. */
#include "comb_impl.h"

static void combine(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, float *out) {
    (void)aux;
    lmf_comb_mix_full(s->lw, c->K, c->N, d, ks, out);
}

static void observe(const lmf_comb *c, lmf_comb_state *s, const float *lp) {
    float mixed;
    lmf_comb_mix(c, s, lp, 1, 1, &mixed); /* updates s->lw */
}

const lmf_comb_ops lmf_comb_bayes_ops = {
    .kind = LMF_COMB_BAYES,
    .per_outcome = 1,
    .combine = combine,
    .observe = observe,
};
