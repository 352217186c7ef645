/* lmfuse combiners: one interface for every way of fusing K members'
 * probability distributions over N outcomes into one distribution.  The
 * outcomes are whatever the members predict: the next token (N = V, used by
 * fused language models, lmf/fuse.h), a document's class (N = classes,
 * lmf/classify.h) or a token's tag.  The combiner never sees the members
 * themselves, only, per item (a text position, a document):
 *   d[k*kstride + i]  member k's natural-log probability of outcome i,
 *   aux[k]            optionally, one number per member that the caller
 *                     knows and the distributions do not (the gate's n-gram
 *                     match order; 0 when not given),
 * and, after the item, the outcome that was observed (combiners with a
 * history: bayes, gate).  Every result is a normalised ln distribution.
 *
 *   linear     p(i) = sum_k w_k p_k(i)                  (w_k >= 0, sum 1)
 *   loglinear  p(i) = prod_k p_k(i)^w_k / Z             (w_k >= 0)
 *   max        p(i) = max_k p_k(i) / Z
 *   bayes      linear with online weights: after each outcome y,
 *              w_k <- w_k p_k(y) / sum_j w_j p_j(y), then w_k <- (1 - a) w_k + a / K
 *              (fixed share a = `share`; the prior is the given weights)
 *   vote       each member votes (with its weight) for its top_k outcomes,
 *              or with threshold > 0 for every outcome it gives at least
 *              that probability (its top outcome if none); v(i) = the votes.
 *              p(i) = m v(i) / sum_u v(u) + (1 - m) sum_k w_k p_k(i),
 *              m = vote_mass.  Majority vote: top_k 1, vote_mass 1 (ties
 *              share the mass; argmax takes the lowest index).  Threshold
 *              vote: threshold t, vote_mass 1.  Weighted vote: weights.
 *   cascade    two members, proposer p_1 and rescorer p_2: the proposer's
 *              top_k outcomes C keep their total mass under the proposer but
 *              share it as the rescorer does:
 *              p(i) = p_1(C) p_2(i) / p_2(C) for i in C, p_1(i) otherwise
 *   gate       linear with item-dependent weights g = softmax(A z + b), z
 *              the standardised features, 5 per member k: entropy of p_k,
 *              ln max_i p_k(i), agreement (share of the other members whose
 *              best outcome is k's), recent loss (moving average of
 *              -ln p_k(y) over the outcomes observed so far, factor `decay`,
 *              starting at loss0_k) and aux[k].  A = 0, b = ln w is linear.
 *   stack      a multinomial logistic-regression meta-model over the
 *              members' probabilities: s_c = b_c + sum_{k,i} W[c][k N + i]
 *              x_k(i), p(c) = softmax(s)_c, x_k(i) = p_k(i) or, with
 *              `logp`, max(ln p_k(i), -20) (stacking when W was fitted on
 *              out-of-fold member outputs, blending when on held-out ones;
 *              the fitting is the caller's, lmf/classify.h).
 */
#ifndef LMF_COMB_H
#define LMF_COMB_H

#include "lmf/common.h"

#include <math.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LMF_COMB_LINEAR = 0,
    LMF_COMB_LOGLINEAR,
    LMF_COMB_MAX,
    LMF_COMB_BAYES,
    LMF_COMB_VOTE,
    LMF_COMB_CASCADE,
    LMF_COMB_GATE,
    LMF_COMB_STACK,
    LMF_COMB_PAIRVOTE,
    LMF_COMB_COUNT
} lmf_combiner;

const char *lmf_combiner_name(lmf_combiner c);
int lmf_combiner_parse(const char *s); /* -1 if unknown */

#define LMF_FUSE_MAX_MEMBERS 64 /* members of one fusion */
#define LMF_GATE_FEATURES 5 /* per member */
typedef struct lmf_gate_params {
    double decay;       /* recent-loss average factor in (0, 1) */
    const double *mean; /* F = 5K: feature means and standard deviations */
    const double *sd;
    const double *loss0; /* K: starting recent loss */
    const double *A;    /* K x F, row-major */
    const double *b;    /* K */
} lmf_gate_params;

#define LMF_STACK_LOGP_FLOOR (-20.0) /* logp features: max(ln p, this) */
typedef struct lmf_stack_params {
    int N;            /* outcomes (classes) */
    const double *W;  /* N x (K N), row-major */
    const double *b;  /* N */
    int logp;         /* features: 0 the members' probabilities p_k(i), 1 max(ln p_k(i), LMF_STACK_LOGP_FLOOR) */
} lmf_stack_params;
/* The meta-model's feature of a member's ln probability lp (the one
 * definition for fitting and combining). */
static inline double lmf_stack_feature(float lp, int logp) {
    if (logp) return (double)lp > LMF_STACK_LOGP_FLOOR ? (double)lp : LMF_STACK_LOGP_FLOOR;
    return exp((double)lp);
}

/* pairvote's table: n entries in increasing key order, key = ((i K + j) N +
 * x_i) N + x_j for members i < j; entry e's distribution over outcomes is
 * (y[t], p[t]) for t in [ptr[e], ptr[e+1]). */
typedef struct lmf_pairvote_params {
    int64_t n;
    const int64_t *key, *ptr; /* n, n + 1 */
    const int32_t *y;         /* ptr[n] */
    const double *p;          /* ptr[n] */
} lmf_pairvote_params;

typedef struct lmf_comb_opts {
    lmf_combiner comb;
    const double *weights; /* K weights; NULL = equal (1/K) */
    double share;          /* bayes: fixed-share rate in [0, 1); default 0.01 */
    int top_k;             /* vote, cascade: outcomes per member / candidates (default 10 / 20, at most N) */
    double threshold;      /* vote: probability threshold instead of top_k (0 = use top_k) */
    double vote_mass;      /* vote: weight of the votes in [0, 1] (default 0.5) */
    const lmf_gate_params *gate;   /* gate: required (copied) */
    const lmf_stack_params *stack; /* stack: required (copied) */
    const double *vote_for;        /* vote: K x N per-outcome votes, or NULL (copied) */
    const double *vote_against;    /* vote: K x N votes against, or NULL; needs vote_for (copied) */
    const lmf_pairvote_params *pairs; /* pairvote: required (copied) */
    double unk_dub; /* language-model fusions whose members know different words (lmf_fuse_unify): 0 = each
                       member's <unk> mass shared evenly by the words of the union it lacks and <unk> (default,
                       sums to 1); > 0 = IRSTLM's p(<unk>) / (dub - |V|); < 0 = p(<unk>) as is (IRSTLM --dub=0) */
} lmf_comb_opts;
void lmf_comb_opts_init(lmf_comb_opts *o);

typedef struct lmf_comb lmf_comb;
typedef struct lmf_comb_state lmf_comb_state;

/* A combiner of K members over N outcomes, configured by o (checked: a
 * message names the bad setting).  Mixture weights are normalised to sum 1
 * (not log-linear ones). */
lmf_status lmf_comb_new(const lmf_comb_opts *o, int K, int N, lmf_comb **out);
void lmf_comb_free(lmf_comb *c);
lmf_combiner lmf_comb_kind(const lmf_comb *c);
int lmf_comb_members(const lmf_comb *c);
int lmf_comb_outcomes(const lmf_comb *c);
/* The weights as used (normalised for mixtures): K values. */
const double *lmf_comb_weights(const lmf_comb *c);

/* The history of one stream of items (bayes weights, gate losses); combiners
 * without one get a state too.  NULL on out of memory. */
lmf_comb_state *lmf_comb_state_new(const lmf_comb *c);
void lmf_comb_state_free(lmf_comb_state *s);
void lmf_comb_state_reset(const lmf_comb *c, lmf_comb_state *s);
void lmf_comb_state_copy(const lmf_comb *c, lmf_comb_state *dst, const lmf_comb_state *src);

/* The fused ln distribution of one item: out[0..N).  d: K rows of N ln
 * probabilities, row k at d + k*kstride; aux: K numbers or NULL.  Does not
 * advance the history (see lmf_comb_observe). */
void lmf_comb_combine(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t kstride, const float *aux,
                      float *out);
/* out[y] of lmf_comb_combine, bit for bit, without the rest where the
 * combiner can (gate: its weights need whole distributions, its mixture
 * only outcome y); uses the state's scratch. */
float lmf_comb_combine_at(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t kstride, const float *aux,
                          int32_t y);

/* 1 for the mixtures whose fused probability of the observed outcome needs
 * only the members' probabilities of it (linear, bayes): then
 * lmf_comb_mix_observed gives it without whole distributions. */
int lmf_comb_per_outcome(const lmf_comb *c);
/* Per-outcome combiners: ln p(y) from the members' ln p_k(y) (lp[k*stride]
 * for each of n items in a row, out[t]), advancing the history past each. */
void lmf_comb_mix_observed(const lmf_comb *c, lmf_comb_state *s, const float *lp, size_t stride, size_t n,
                           float *out);

/* 1 when the combiner keeps a history that lmf_comb_observe moves (bayes,
 * gate): the caller must then report every observed outcome. */
int lmf_comb_observes(const lmf_comb *c);

/* After an item: the members' ln p_k(y) of the observed outcome (K values)
 * move the history (bayes weights, gate recent losses); a no-op for the
 * others.  Per-outcome combiners advance in lmf_comb_mix_observed instead. */
void lmf_comb_observe(const lmf_comb *c, lmf_comb_state *s, const float *lp);

/* The ln mixture weights an item is mixed with (K): linear's own, bayes's
 * current ones, the gate's for this item (d, aux as in lmf_comb_combine);
 * for combiners that are not mixtures, the ln of the given weights. */
void lmf_comb_item_weights(const lmf_comb *c, const lmf_comb_state *s, const float *d, size_t kstride,
                           const float *aux, double *lw);

/* Gate: the raw (unstandardised) features of an item, F = 5K values (see
 * above), for fitting a gate.  LMF_ERR_ARG for other combiners. */
lmf_status lmf_comb_gate_features(const lmf_comb *c, const lmf_comb_state *s, const float *d, size_t kstride,
                                  const float *aux, double *phi);

#ifdef __cplusplus
}
#endif
#endif
