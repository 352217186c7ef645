/* Perplexity with the SRILM/KenLM conventions (see include/lmf/eval.h). */
#include "lmf/eval.h"
#include "../core/util_impl.h"

#include <math.h>
#include <string.h>

void lmf_eval_ppl_from(const lmf_tokens *t, const float *lp, lmf_ppl *out) {
    memset(out, 0, sizeof *out);
    double all = 0, inv = 0, winv = 0;
    for (size_t i = 0; i < t->n; i++) {
        double v = lp[i];
        all += v;
        if (t->oov && t->oov[i]) {
            out->oovs++;
            continue;
        }
        inv += v;
        if (t->ids[i] == LMF_EOS)
            out->sentences++;
        else
            winv += v;
    }
    out->tokens = t->n;
    out->words = t->n - out->sentences;
    out->unks = t->n_unk;
    out->logprob = all;
    out->logprob_in_vocab = inv;
    out->logprob_words_in_vocab = winv;
    out->ppl = t->n ? exp(-all / (double)t->n) : NAN;
    uint64_t nin = t->n - out->oovs;
    out->ppl_excl_oov = nin ? exp(-inv / (double)nin) : NAN;
    uint64_t nw = nin - out->sentences;
    out->ppl1 = nw ? exp(-winv / (double)nw) : NAN;
}

lmf_status lmf_eval_ppl(lmf_model *m, const lmf_tokens *t, float *per_token, lmf_ppl *out) {
    memset(out, 0, sizeof *out);
    if (t->n == 0) return lmf_error(LMF_ERR_DATA, "no text to score (the file is empty)");
    float *lp = per_token;
    if (!lp) {
        lp = (float *)lmf_malloc(t->n * sizeof *lp);
        if (!lp) return lmf_error(LMF_ERR_NOMEM, "out of memory for %zu scores", t->n);
    }
    lmf_status s = lmf_model_score(m, NULL, t->ids, t->n, lp);
    if (!s) lmf_eval_ppl_from(t, lp, out);
    if (lp != per_token) lmf_free(lp);
    return s;
}
