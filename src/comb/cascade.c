/* cascade: member 1 proposes its top_k outcomes, member 2 rescores them
 * within the mass member 1 gave them (lmf/comb.h). */
#include "comb_impl.h"

#include <string.h>

static void combine(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, float *out) {
    (void)aux;
    const int N = c->N;
    const float *p1 = d, *p2 = d + ks;
    int n = lmf_comb_top(p1, N, c->o.top_k, s->top, s->topv);
    double m1 = 0, m2 = 0;
    for (int i = 0; i < n; i++) {
        m1 += exp((double)p1[s->top[i]]);
        m2 += exp((double)p2[s->top[i]]);
    }
    memcpy(out, p1, (size_t)N * sizeof *out);
    if (!(m2 > 0)) return; /* the rescorer gives the candidates nothing: keep the proposer */
    double shift = log(m1) - log(m2);
    for (int i = 0; i < n; i++) out[s->top[i]] = (float)((double)p2[s->top[i]] + shift);
}

const lmf_comb_ops lmf_comb_cascade_ops = {
    .kind = LMF_COMB_CASCADE,
    .combine = combine,
};
