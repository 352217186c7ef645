/* The cache model (lmf/fuse.h): a unigram over the last `window` tokens,
 * smoothed towards uniform so that it is a proper distribution on its own:
 * p(w) = (c(w) + beta / V) / (n + beta). */
#include "lmf/fuse.h"
#include "../model/model_impl.h"
#include "../core/util_impl.h"

#include <math.h>
#include <string.h>

typedef struct cache {
    lmf_model base; /* must be first */
    int window, V;
    double beta;
} cache;

struct lmf_state {
    int32_t *ring; /* [window] */
    uint32_t *count; /* [V] */
    int n, head;
};

static void c_free(lmf_model *m) { lmf_free(m); }

static void c_describe(const lmf_model *m, char *buf, size_t n) {
    const cache *c = (const cache *)m;
    snprintf(buf, n, "cache, last %d tokens, beta %g, %d tokens", c->window, c->beta, c->V);
}

static void c_reset(const lmf_model *m, lmf_state *s) {
    const cache *c = (const cache *)m;
    memset(s->count, 0, (size_t)c->V * sizeof *s->count);
    s->n = s->head = 0;
}

static void c_state_free(const lmf_model *m, lmf_state *s) {
    (void)m;
    if (!s) return;
    lmf_free(s->ring);
    lmf_free(s->count);
    lmf_free(s);
}

static lmf_state *c_state_new(const lmf_model *m) {
    const cache *c = (const cache *)m;
    lmf_state *s = (lmf_state *)lmf_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->ring = (int32_t *)lmf_malloc((size_t)c->window * sizeof *s->ring);
    s->count = (uint32_t *)lmf_calloc((size_t)c->V, sizeof *s->count);
    if (!s->ring || !s->count) {
        c_state_free(m, s);
        return NULL;
    }
    return s;
}

static lmf_status c_copy(const lmf_model *m, lmf_state *d, const lmf_state *s) {
    const cache *c = (const cache *)m;
    memcpy(d->ring, s->ring, (size_t)c->window * sizeof *d->ring);
    memcpy(d->count, s->count, (size_t)c->V * sizeof *d->count);
    d->n = s->n;
    d->head = s->head;
    return LMF_OK;
}

static lmf_status c_feed(lmf_model *m, lmf_state *s, int32_t tok) {
    const cache *c = (const cache *)m;
    if (s->n == c->window) {
        s->count[s->ring[s->head]]--;
    } else {
        s->n++;
    }
    s->ring[s->head] = tok;
    s->count[tok]++;
    s->head = (s->head + 1) % c->window;
    return LMF_OK;
}

static lmf_status c_next(lmf_model *m, const lmf_state *s, float *logp) {
    const cache *c = (const cache *)m;
    double base = c->beta / c->V, den = log((double)s->n + c->beta);
    for (int v = 0; v < c->V; v++) logp[v] = (float)(log((double)s->count[v] + base) - den);
    return LMF_OK;
}

static lmf_status c_score(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *logp) {
    const cache *c = (const cache *)m;
    double base = c->beta / c->V;
    for (size_t i = 0; i < n; i++) {
        logp[i] = (float)(log((double)s->count[tok[i]] + base) - log((double)s->n + c->beta));
        c_feed(m, s, tok[i]);
    }
    return LMF_OK;
}

static const lmf_model_ops cache_ops = {
    .kind = "cache",
    .free = c_free,
    .describe = c_describe,
    .state_new = c_state_new,
    .state_free = c_state_free,
    .state_reset = c_reset,
    .state_copy = c_copy,
    .feed = c_feed,
    .next = c_next,
    .score = c_score,
};

lmf_status lmf_cache_new(const lmf_vocab *v, int window, double beta, lmf_model **out) {
    *out = NULL;
    if (window < 1 || window > LMF_CACHE_MAX_WINDOW)
        return lmf_error(LMF_ERR_ARG, "cache window must be 1..%d tokens (got %d)", LMF_CACHE_MAX_WINDOW, window);
    if (!(beta > 0) || !isfinite(beta)) return lmf_error(LMF_ERR_ARG, "cache beta must be > 0 (got %g)", beta);
    cache *c = (cache *)lmf_calloc(1, sizeof *c);
    if (!c) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    c->base.ops = &cache_ops;
    c->base.vocab = v;
    c->window = window;
    c->V = lmf_vocab_size(v);
    c->beta = beta;
    *out = &c->base;
    return LMF_OK;
}
