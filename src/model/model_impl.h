/* Private: what a model implementation provides.  Every model struct starts
 * with an lmf_model header whose ops point to its vtable.  Optional entries
 * may be NULL; model.c then falls back to the generic versions (score via
 * next+feed, batch via a loop over streams). */
#ifndef LMF_MODEL_IMPL_H
#define LMF_MODEL_IMPL_H

#include "lmf/model.h"

typedef struct lmf_model_ops {
    const char *kind;
    void (*free)(lmf_model *m);
    void (*describe)(const lmf_model *m, char *buf, size_t n);
    lmf_state *(*state_new)(const lmf_model *m);
    void (*state_free)(const lmf_model *m, lmf_state *s);
    void (*state_reset)(const lmf_model *m, lmf_state *s);
    lmf_status (*state_copy)(const lmf_model *m, lmf_state *dst, const lmf_state *src);
    lmf_status (*feed)(lmf_model *m, lmf_state *s, int32_t tok);
    lmf_status (*next)(lmf_model *m, const lmf_state *s, float *logp);
    /* optional fast paths */
    lmf_status (*score)(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *logp);
    lmf_status (*score_batch)(lmf_model *m, lmf_state **st, const int32_t *const *tok, const size_t *n,
                              size_t nstreams, float *const *logp);
    lmf_status (*dists)(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *out);
    /* neural models: hidden states (see lmf_model_hidden) */
    int (*hidden_dim)(const lmf_model *m);
    lmf_status (*hidden)(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *h);
} lmf_model_ops;

struct lmf_model {
    const lmf_model_ops *ops;
    const lmf_vocab *vocab; /* owned by the implementation */
};

#endif
