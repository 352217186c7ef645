/* vote: majority, threshold and weighted votes, smoothed by the linear
 * mixture with weight 1 - vote_mass (lmf/comb.h). */
#include "comb_impl.h"

#include <string.h>

static void combine(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, float *out) {
    (void)aux;
    const int K = c->K, N = c->N;
    float *votes = s->tmp;
    memset(votes, 0, (size_t)N * sizeof *votes);
    double total = 0, m = c->o.vote_mass;
    for (int k = 0; k < K; k++) {
        const float *dk = d + (size_t)k * ks;
        if (c->w[k] <= 0) continue;
        if (c->o.threshold > 0) {
            double lt = log(c->o.threshold);
            int any = 0;
            for (int v = 0; v < N; v++)
                if ((double)dk[v] >= lt) votes[v] += (float)c->w[k], total += c->w[k], any = 1;
            if (any) continue;
            lmf_comb_top(dk, N, 1, s->top, s->topv); /* none above: the top outcome */
            votes[s->top[0]] += (float)c->w[k];
            total += c->w[k];
        } else {
            int n = lmf_comb_top(dk, N, c->o.top_k, s->top, s->topv);
            for (int i = 0; i < n; i++) votes[s->top[i]] += (float)c->w[k];
            total += c->w[k] * n;
        }
    }
    for (int v = 0; v < N; v++) {
        double lin = 0;
        for (int k = 0; k < K; k++) lin += c->w[k] * exp((double)d[(size_t)k * ks + (size_t)v]);
        out[v] = (float)log(m * (double)votes[v] / total + (1 - m) * lin);
    }
}

const lmf_comb_ops lmf_comb_vote_ops = {
    .kind = LMF_COMB_VOTE,
    .combine = combine,
};
