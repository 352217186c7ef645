/* Model interface dispatch and generic fallbacks.  Loading a model file
 * (lmf_model_load) is the registry's, in src/load: this module knows no
 * model family. */
#include "model_impl.h"
#include "../core/util_impl.h"

#include <stdio.h>

void lmf_model_free(lmf_model *m) {
    if (m) m->ops->free(m);
}

const char *lmf_model_kind(const lmf_model *m) { return m->ops->kind; }
const lmf_vocab *lmf_model_vocab(const lmf_model *m) { return m->vocab; }

void lmf_model_describe(const lmf_model *m, char *buf, size_t n) {
    if (m->ops->describe)
        m->ops->describe(m, buf, n);
    else
        snprintf(buf, n, "%s model, %d tokens", m->ops->kind, (int)lmf_vocab_size(m->vocab));
}

lmf_state *lmf_state_new(const lmf_model *m) { return m->ops->state_new(m); }
void lmf_state_free(const lmf_model *m, lmf_state *s) {
    if (s) m->ops->state_free(m, s);
}
void lmf_state_reset(const lmf_model *m, lmf_state *s) { m->ops->state_reset(m, s); }
lmf_status lmf_state_copy(const lmf_model *m, lmf_state *dst, const lmf_state *src) {
    return m->ops->state_copy(m, dst, src);
}

static lmf_status check_tok(const lmf_model *m, int32_t tok) {
    if (tok < 0 || tok >= lmf_vocab_size(m->vocab))
        return lmf_error(LMF_ERR_ARG, "token id %d out of range 0..%d", (int)tok, (int)lmf_vocab_size(m->vocab) - 1);
    return LMF_OK;
}

lmf_status lmf_model_feed(lmf_model *m, lmf_state *s, int32_t tok) {
    lmf_status st = check_tok(m, tok);
    return st ? st : m->ops->feed(m, s, tok);
}

lmf_status lmf_model_next(lmf_model *m, const lmf_state *s, float *logp) { return m->ops->next(m, s, logp); }

lmf_status lmf_model_score(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *logp) {
    for (size_t i = 0; i < n; i++) {
        lmf_status st = check_tok(m, tok[i]);
        if (st) return st;
    }
    lmf_state *own = NULL;
    if (!s) {
        own = s = lmf_state_new(m);
        if (!s) return lmf_error(LMF_ERR_NOMEM, "out of memory (model state)");
    }
    lmf_status st = LMF_OK;
    if (m->ops->score) {
        st = m->ops->score(m, s, tok, n, logp);
    } else {
        int32_t V = lmf_vocab_size(m->vocab);
        float *d = (float *)lmf_malloc((size_t)V * sizeof *d);
        if (!d) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n && !st; i++) {
            st = m->ops->next(m, s, d);
            if (!st) {
                logp[i] = d[tok[i]];
                st = m->ops->feed(m, s, tok[i]);
            }
        }
        lmf_free(d);
    }
    lmf_state_free(m, own);
    return st;
}

int lmf_model_hidden_dim(const lmf_model *m) { return m->ops->hidden_dim ? m->ops->hidden_dim(m) : 0; }

lmf_status lmf_model_hidden(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *h) {
    if (!m->ops->hidden) return lmf_error(LMF_ERR_ARG, "a %s model has no hidden states", m->ops->kind);
    for (size_t i = 0; i < n; i++) {
        lmf_status st = check_tok(m, tok[i]);
        if (st) return st;
    }
    return m->ops->hidden(m, s, tok, n, h);
}

lmf_status lmf_model_score_batch(lmf_model *m, lmf_state **st, const int32_t *const *tok, const size_t *n,
                                 size_t nstreams, float *const *logp) {
    if (m->ops->score_batch) return m->ops->score_batch(m, st, tok, n, nstreams, logp);
    for (size_t b = 0; b < nstreams; b++) {
        lmf_status s = lmf_model_score(m, st ? st[b] : NULL, tok[b], n[b], logp[b]);
        if (s) return s;
    }
    return LMF_OK;
}

lmf_status lmf_model_dists(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) {
        lmf_status st = check_tok(m, tok[i]);
        if (st) return st;
    }
    if (m->ops->dists) return m->ops->dists(m, s, tok, n, out);
    size_t V = (size_t)lmf_vocab_size(m->vocab);
    for (size_t i = 0; i < n; i++) {
        lmf_status st = m->ops->next(m, s, out + i * V);
        if (!st) st = m->ops->feed(m, s, tok[i]);
        if (st) return st;
    }
    return LMF_OK;
}
