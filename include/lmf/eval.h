/* lmfuse evaluation: perplexity and its counts.
 *
 * Conventions (those of SRILM's `ngram -ppl` and KenLM's `query`):
 *  - every word and one </s> per line is predicted; <s> is context only;
 *  - an OOV is a text token whose string is not in the model's vocabulary;
 *    it is scored as <unk> and counted in `oovs`.  A literal "<unk>" in the
 *    text is an ordinary in-vocabulary token (counted in `unks`, not oovs);
 *  - ppl          = exp(-logprob_all / tokens)            (OOVs included)
 *  - ppl_excl_oov = exp(-logprob_in_vocab / (tokens - oovs))
 *  - ppl1         = like ppl_excl_oov but without the </s> predictions
 *    (SRILM's ppl1).
 */
#ifndef LMF_EVAL_H
#define LMF_EVAL_H

#include "lmf/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmf_ppl {
    uint64_t sentences; /* lines */
    uint64_t words;     /* tokens excluding </s> */
    uint64_t tokens;    /* predictions: words + one </s> per line */
    uint64_t oovs;      /* tokens not in the vocabulary (scored as <unk>) */
    uint64_t unks;      /* literal <unk> tokens */
    double logprob;     /* natural-log sum over all predictions */
    double logprob_in_vocab; /* the same without OOVs */
    double logprob_words_in_vocab; /* without OOVs and without </s> */
    double ppl, ppl_excl_oov, ppl1;
} lmf_ppl;

/* Scores the token stream with model m (from a fresh state) and fills out.
 * per_token (may be NULL) receives t->n natural-log probabilities. */
lmf_status lmf_eval_ppl(lmf_model *m, const lmf_tokens *t, float *per_token, lmf_ppl *out);
/* The same counts from t->n natural-log probabilities already computed. */
void lmf_eval_ppl_from(const lmf_tokens *t, const float *lp, lmf_ppl *out);

#ifdef __cplusplus
}
#endif
#endif
