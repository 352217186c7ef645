/* lmfuse decoding: sampling (temperature, top-k, top-p) and beam search from
 * any model or fused recipe, seeded and reproducible. */
#ifndef LMF_GENERATE_H
#define LMF_GENERATE_H

#include "lmf/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmf_gen_opts {
    double temperature; /* > 0; 1 = the model's distribution (default 1) */
    int top_k;          /* keep the k most probable tokens; 0 = all (default 0) */
    double top_p;       /* keep the smallest set with this much mass; 1 = all (default 1) */
    int beam;           /* > 1: beam search of this width instead of sampling (default 1) */
    int max_tokens;     /* tokens to generate at most (default 40) */
    int stop_at_eos;    /* stop after </s> (default 1) */
    int allow_unk;      /* may produce <unk> (default 0) */
    uint64_t seed;      /* default 1 */
} lmf_gen_opts;
void lmf_gen_opts_init(lmf_gen_opts *o);

/* Continues the prompt (token ids, read from the start of a line) and
 * writes up to max_tokens ids to out (*n of them; a final </s> included),
 * with their total natural-log probability under the model (before
 * temperature and truncation) in *logprob (may be NULL). */
lmf_status lmf_generate(lmf_model *m, const int32_t *prompt, size_t np, const lmf_gen_opts *o, int32_t *out,
                        size_t *n, double *logprob);

#ifdef __cplusplus
}
#endif
#endif
