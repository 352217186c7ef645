/* Combiner interface (lmf/comb.h): option checks, states, dispatch to the
 * implementations (one file per combiner in this folder) and the helpers
 * they share. */
#include "comb_impl.h"
#include "../core/util_impl.h"

#include <string.h>

static const lmf_comb_ops *const table[LMF_COMB_COUNT] = {
    [LMF_COMB_LINEAR] = &lmf_comb_linear_ops, [LMF_COMB_LOGLINEAR] = &lmf_comb_loglinear_ops,
    [LMF_COMB_MAX] = &lmf_comb_max_ops,       [LMF_COMB_BAYES] = &lmf_comb_bayes_ops,
    [LMF_COMB_VOTE] = &lmf_comb_vote_ops,     [LMF_COMB_CASCADE] = &lmf_comb_cascade_ops,
    [LMF_COMB_GATE] = &lmf_comb_gate_ops,     [LMF_COMB_STACK] = &lmf_comb_stack_ops,
    [LMF_COMB_PAIRVOTE] = &lmf_comb_pairvote_ops,
};

static const char *const names[LMF_COMB_COUNT] = {"linear", "loglinear", "max",  "bayes",
                                                  "vote",   "cascade",   "gate", "stack", "pairvote"};

const char *lmf_combiner_name(lmf_combiner c) { return (unsigned)c < LMF_COMB_COUNT ? names[c] : "?"; }

int lmf_combiner_parse(const char *s) {
    for (int c = 0; c < LMF_COMB_COUNT; c++)
        if (s && !strcmp(s, names[c])) return c;
    return -1;
}

void lmf_comb_opts_init(lmf_comb_opts *o) {
    memset(o, 0, sizeof *o);
    o->comb = LMF_COMB_LINEAR;
    o->share = 0.01;
    o->top_k = 0; /* the combiner's default */
    o->vote_mass = 0.5;
}

void lmf_comb_free(lmf_comb *c) {
    if (!c) return;
    lmf_free(c->w);
    lmf_free(c->par);
    lmf_free(c->par2);
    lmf_free(c);
}

lmf_status lmf_comb_new(const lmf_comb_opts *o, int K, int N, lmf_comb **out) {
    *out = NULL;
    lmf_status s = LMF_OK;
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS)
        s = lmf_error(LMF_ERR_ARG, "a fusion needs 1..%d members (got %d)", LMF_FUSE_MAX_MEMBERS, K);
    if (!s && N < 1) s = lmf_error(LMF_ERR_ARG, "a fusion needs at least one outcome (got %d)", N);
    if (!s && ((unsigned)o->comb >= LMF_COMB_COUNT)) s = lmf_error(LMF_ERR_ARG, "unknown combiner");
    if (!s && (!(o->share >= 0) || o->share >= 1))
        s = lmf_error(LMF_ERR_ARG, "bayes share must be in [0, 1) (got %g)", o->share);
    if (!s && o->comb == LMF_COMB_CASCADE && K != 2)
        s = lmf_error(LMF_ERR_ARG, "a cascade has exactly two members, the proposer and the rescorer (got %d); "
                                   "nest recipes to chain more", K);
    if (!s && (o->top_k < 0 || o->top_k > 1000000))
        s = lmf_error(LMF_ERR_ARG, "top_k must be in 1..1000000 (got %d)", o->top_k);
    if (!s && (!(o->threshold >= 0) || o->threshold > 1))
        s = lmf_error(LMF_ERR_ARG, "the vote threshold must be a probability in [0, 1] (got %g)", o->threshold);
    if (!s && (!(o->vote_mass >= 0) || o->vote_mass > 1))
        s = lmf_error(LMF_ERR_ARG, "vote_mass must be in [0, 1] (got %g)", o->vote_mass);
    double sum = 0;
    for (int k = 0; !s && k < K; k++) {
        double w = o->weights ? o->weights[k] : 1.0 / K;
        if (!(w >= 0) || !isfinite(w)) s = lmf_error(LMF_ERR_ARG, "weight %d is %g; weights must be >= 0", k + 1, w);
        sum += w;
    }
    if (!s && !(sum > 0)) s = lmf_error(LMF_ERR_ARG, "the weights sum to 0");
    if (s) return s;
    lmf_comb *c = (lmf_comb *)lmf_calloc(1, sizeof *c);
    if (c && !(c->w = (double *)lmf_malloc(2 * (size_t)K * sizeof *c->w))) {
        lmf_free(c);
        c = NULL;
    }
    if (!c) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    c->ops = table[o->comb];
    c->K = K;
    c->N = N;
    c->o = *o;
    c->o.weights = NULL;
    c->o.gate = NULL;
    c->o.stack = NULL;
    c->o.vote_for = c->o.vote_against = NULL;
    c->o.pairs = NULL;
    if (!c->o.top_k) c->o.top_k = o->comb == LMF_COMB_CASCADE ? 20 : 10;
    c->logw = c->w + K;
    int norm = o->comb != LMF_COMB_LOGLINEAR; /* mixture weights sum to 1 */
    for (int k = 0; k < K; k++) {
        c->w[k] = (o->weights ? o->weights[k] : 1.0 / K) / (norm ? sum : 1.0);
        c->logw[k] = log(c->w[k]);
    }
    if (c->ops->init && (s = c->ops->init(c, o))) {
        lmf_comb_free(c);
        return s;
    }
    *out = c;
    return LMF_OK;
}

lmf_combiner lmf_comb_kind(const lmf_comb *c) { return c->ops->kind; }
int lmf_comb_members(const lmf_comb *c) { return c->K; }
int lmf_comb_outcomes(const lmf_comb *c) { return c->N; }
const double *lmf_comb_weights(const lmf_comb *c) { return c->w; }
int lmf_comb_per_outcome(const lmf_comb *c) { return c->ops->per_outcome; }
int lmf_comb_observes(const lmf_comb *c) { return c->ops->observe != NULL; }

void lmf_comb_state_free(lmf_comb_state *s) {
    if (!s) return;
    lmf_free(s->lw);
    lmf_free(s->r);
    lmf_free(s->tmp);
    lmf_free(s->top);
    lmf_free(s->topv);
    lmf_free(s->pk);
    lmf_free(s->sx);
    lmf_free(s);
}

lmf_comb_state *lmf_comb_state_new(const lmf_comb *c) {
    lmf_comb_state *s = (lmf_comb_state *)lmf_calloc(1, sizeof *s);
    if (!s) return NULL;
    const size_t K = (size_t)c->K, N = (size_t)c->N, T = (size_t)c->o.top_k;
    s->lw = (double *)lmf_malloc(K * sizeof *s->lw);
    s->r = (double *)lmf_malloc(K * sizeof *s->r);
    s->tmp = (float *)lmf_malloc(N * sizeof *s->tmp);
    s->top = (int32_t *)lmf_malloc(T * sizeof *s->top + 1);
    s->topv = (float *)lmf_malloc(T * sizeof *s->topv + 1);
    if (c->ops->kind == LMF_COMB_GATE) s->pk = (float *)lmf_malloc(K * N * sizeof *s->pk);
    if (c->ops->kind == LMF_COMB_STACK) s->sx = (double *)lmf_malloc(K * N * sizeof *s->sx);
    if (!s->lw || !s->r || !s->tmp || !s->top || !s->topv || (!s->pk && c->ops->kind == LMF_COMB_GATE) ||
        (!s->sx && c->ops->kind == LMF_COMB_STACK)) {
        lmf_comb_state_free(s);
        return NULL;
    }
    lmf_comb_state_reset(c, s);
    return s;
}

void lmf_comb_state_reset(const lmf_comb *c, lmf_comb_state *s) {
    memcpy(s->lw, c->logw, (size_t)c->K * sizeof *s->lw);
    for (int k = 0; k < c->K; k++) s->r[k] = c->gloss0 ? c->gloss0[k] : 0;
}

void lmf_comb_state_copy(const lmf_comb *c, lmf_comb_state *d, const lmf_comb_state *s) {
    memcpy(d->lw, s->lw, (size_t)c->K * sizeof *d->lw);
    memcpy(d->r, s->r, (size_t)c->K * sizeof *d->r);
}

void lmf_comb_combine(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t kstride, const float *aux,
                      float *out) {
    c->ops->combine(c, s, d, kstride, aux, out);
}

float lmf_comb_combine_at(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t kstride, const float *aux,
                          int32_t y) {
    if (c->ops->combine_at) return c->ops->combine_at(c, s, d, kstride, aux, y);
    c->ops->combine(c, s, d, kstride, aux, s->tmp);
    return s->tmp[y];
}

void lmf_comb_mix_observed(const lmf_comb *c, lmf_comb_state *s, const float *lp, size_t stride, size_t n,
                           float *out) {
    LMF_ASSERT(c->ops->per_outcome);
    lmf_comb_mix(c, s, lp, stride, n, out);
}

void lmf_comb_observe(const lmf_comb *c, lmf_comb_state *s, const float *lp) {
    if (c->ops->observe) c->ops->observe(c, s, lp);
}

void lmf_comb_item_weights(const lmf_comb *c, const lmf_comb_state *s, const float *d, size_t kstride,
                           const float *aux, double *lw) {
    if (c->ops->item_weights)
        c->ops->item_weights(c, s, d, kstride, aux, lw);
    else
        memcpy(lw, c->ops->kind == LMF_COMB_BAYES ? s->lw : c->logw, (size_t)c->K * sizeof *lw);
}

int lmf_comb_top(const float *d, int N, int n, int32_t *idx, float *val) {
    if (n >= N) {
        for (int v = 0; v < N; v++) idx[v] = v, val[v] = d[v];
        return N;
    }
    /* a min-heap of the best so far: O(N log n) */
    int m = 0;
    for (int v = 0; v < N; v++) {
        float x = d[v];
        int i;
        if (m < n) { /* sift up */
            i = m++;
            while (i > 0 && x <= val[(i - 1) / 2]) { /* among equals, the later index is worse */
                val[i] = val[(i - 1) / 2];
                idx[i] = idx[(i - 1) / 2];
                i = (i - 1) / 2;
            }
        } else if (x > val[0]) { /* replace the smallest, sift down */
            i = 0;
            for (;;) {
                int ch = 2 * i + 1;
                if (ch >= m) break;
                if (ch + 1 < m && (val[ch + 1] < val[ch] || (val[ch + 1] == val[ch] && idx[ch + 1] > idx[ch]))) ch++;
                if (!(val[ch] < x || (val[ch] == x && idx[ch] > v))) break;
                val[i] = val[ch];
                idx[i] = idx[ch];
                i = ch;
            }
        } else {
            continue;
        }
        val[i] = x;
        idx[i] = v;
    }
    return m;
}

void lmf_comb_normalise(float *out, int N, double mx) {
    double sum = 0;
    for (int v = 0; v < N; v++) sum += exp((double)out[v] - mx);
    double norm = mx + log(sum);
    for (int v = 0; v < N; v++) out[v] = (float)((double)out[v] - norm);
}
