/* Private: what a combiner implementation provides (one file each in
 * src/comb), and helpers they share. */
#ifndef LMF_COMB_IMPL_H
#define LMF_COMB_IMPL_H

#include "lmf/comb.h"

#include <math.h>

typedef struct lmf_comb_ops {
    lmf_combiner kind;
    int per_outcome; /* mixtures computable from the members' p(y) alone */
    /* copies and checks the combiner's own parameters (gate, stack); may be NULL */
    lmf_status (*init)(lmf_comb *c, const lmf_comb_opts *o);
    void (*combine)(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, float *out);
    /* out[y] of combine alone, the same bits (NULL: combine into s->tmp) */
    float (*combine_at)(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, int32_t y);
    /* history update after an item (NULL: none) */
    void (*observe)(const lmf_comb *c, lmf_comb_state *s, const float *lp);
    /* item-dependent mixture weights (NULL: the state's ln weights) */
    void (*item_weights)(const lmf_comb *c, const lmf_comb_state *s, const float *d, size_t ks, const float *aux,
                         double *lw);
} lmf_comb_ops;

struct lmf_comb {
    const lmf_comb_ops *ops;
    int K, N;
    lmf_comb_opts o; /* weights, gate and stack pointers cleared: see below */
    double *w, *logw; /* K each (one allocation) */
    double *par;      /* the combiner's own parameters (gate, stack), owned */
    /* gate: F = 5K features; A [K x F], b [K], mean, sd [F], loss0 [K] in par */
    int F;
    const double *gA, *gb, *gmean, *gsd, *gloss0;
    double gdecay;
    /* stack: W [N x KN], b [N] in par */
    const double *sW, *sb;
    int slogp; /* features ln p instead of p */
    /* vote: per-outcome votes [K x N] in par (NULL: the weights) */
    const double *vfor, *vagainst;
    /* pairvote: the table, owned (pkey, pptr in par2; py, pp after them) */
    int64_t pn;
    const int64_t *pkey, *pptr;
    const int32_t *py;
    const double *pp;
    void *par2;
};

struct lmf_comb_state {
    double *lw;   /* [K] ln mixture weights (bayes: the current ones) */
    double *r;    /* [K] gate: recent losses */
    float *tmp;   /* [N] scratch */
    int32_t *top; /* [top_k] vote, cascade: a member's best outcomes */
    float *topv;  /* [top_k] their ln probabilities */
    float *pk;    /* [K x N] gate: the members' probabilities of the current item */
    double *sx;   /* [K x N] stack: the meta-model's features of the current item */
};

extern const lmf_comb_ops lmf_comb_linear_ops, lmf_comb_loglinear_ops, lmf_comb_max_ops, lmf_comb_bayes_ops,
    lmf_comb_vote_ops, lmf_comb_cascade_ops, lmf_comb_gate_ops, lmf_comb_stack_ops, lmf_comb_pairvote_ops;

/* vote, pairvote: out = ln(m votes / total + (1 - m) linear mixture). */
void lmf_comb_votes_out(const lmf_comb *c, const float *votes, double total, const float *d, size_t ks, float *out);

/* ln sum_k e^{a_k} */
static inline double lmf_comb_lse(const double *a, int K) {
    double mx = -INFINITY, sum = 0;
    for (int k = 0; k < K; k++) mx = a[k] > mx ? a[k] : mx;
    if (mx == -INFINITY) return mx;
    for (int k = 0; k < K; k++) sum += exp(a[k] - mx);
    return mx + log(sum);
}

/* The n best of d[0..N) into idx/val, in no particular order (ties: the
 * lower index); returns how many (min(n, N)). */
int lmf_comb_top(const float *d, int N, int n, int32_t *idx, float *val);

/* out[i] -= ln sum_j e^{out[j]}, with mx the largest unrounded score. */
void lmf_comb_normalise(float *out, int N, double mx);

/* linear and bayes: mixes per-item ln p_k(y) lp[k*stride + t] with the ln
 * weights s->lw (bayes: updated after every item). */
void lmf_comb_mix(const lmf_comb *c, lmf_comb_state *s, const float *lp, size_t stride, size_t n, float *out);
/* linear and bayes: out[i] = ln sum_k e^{lw_k} p_k(i). */
void lmf_comb_mix_full(const double *lw, int K, int N, const float *d, size_t ks, float *out);

#endif
