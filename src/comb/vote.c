/* vote: majority, threshold and weighted votes, smoothed by the linear
 * mixture with weight 1 - vote_mass (lmf/comb.h). */
#include "comb_impl.h"

#include <string.h>

#include "../core/util_impl.h"

static lmf_status init(lmf_comb *c, const lmf_comb_opts *o) {
    if (!o->vote_for) {
        if (o->vote_against) return lmf_error(LMF_ERR_ARG, "votes against outcomes need votes for them (vote_for)");
        return LMF_OK;
    }
    if (c->o.top_k != 1 || o->threshold > 0)
        return lmf_error(LMF_ERR_ARG, "per-outcome votes are for each member's top outcome: top_k 1, no threshold");
    const size_t n = (size_t)c->K * (size_t)c->N;
    for (size_t j = 0; j < n; j++)
        if (!(o->vote_for[j] >= 0) || !isfinite(o->vote_for[j]) || (o->vote_against && (!(o->vote_against[j] >= 0) || !isfinite(o->vote_against[j]))))
            return lmf_error(LMF_ERR_ARG, "per-outcome vote %zu is negative or not finite", j + 1);
    double *v = (double *)lmf_malloc(2 * n * sizeof *v);
    if (!v) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    memcpy(v, o->vote_for, n * sizeof *v);
    if (o->vote_against) memcpy(v + n, o->vote_against, n * sizeof *v);
    c->par = v;
    c->vfor = v;
    c->vagainst = o->vote_against ? v + n : NULL;
    return LMF_OK;
}

/* The smoothed vote distribution of votes[N] (sum total) into out. */
void lmf_comb_votes_out(const lmf_comb *c, const float *votes, double total, const float *d, size_t ks, float *out) {
    const int K = c->K, N = c->N;
    const double m = c->o.vote_mass;
    for (int v = 0; v < N; v++) {
        double lin = 0;
        if (m < 1)
            for (int k = 0; k < K; k++) lin += c->w[k] * exp((double)d[(size_t)k * ks + (size_t)v]);
        out[v] = (float)log(total > 0 ? m * (double)votes[v] / total + (1 - m) * lin : (1 - m) * lin);
    }
}

static void combine(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, float *out) {
    (void)aux;
    const int K = c->K, N = c->N;
    float *votes = s->tmp;
    memset(votes, 0, (size_t)N * sizeof *votes);
    double total = 0;
    if (c->vfor) { /* per-outcome votes for each member's top outcome */
        int32_t top[LMF_FUSE_MAX_MEMBERS];
        for (int k = 0; k < K; k++) {
            lmf_comb_top(d + (size_t)k * ks, N, 1, s->top, s->topv);
            top[k] = s->top[0];
            votes[top[k]] += (float)c->vfor[(size_t)k * N + (size_t)top[k]];
            total += c->vfor[(size_t)k * N + (size_t)top[k]];
        }
        /* and for the outcomes the others chose: 1 - recall */
        for (int k = 0; c->vagainst && k < K; k++)
            for (int j = 0; j < K; j++) {
                int first = top[j] != top[k];
                for (int i = 0; first && i < j; i++) first = top[i] != top[j]; /* each competing outcome once */
                if (!first) continue;
                const double a = c->vagainst[(size_t)k * N + (size_t)top[j]];
                votes[top[j]] += (float)a;
                total += a;
            }
        lmf_comb_votes_out(c, votes, total, d, ks, out);
        return;
    }
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
    lmf_comb_votes_out(c, votes, total, d, ks, out);
}

const lmf_comb_ops lmf_comb_vote_ops = {
    .kind = LMF_COMB_VOTE,
    .init = init,
    .combine = combine,
};
