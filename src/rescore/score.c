/* Model features of n-best hypotheses (lmf/rescore.h): each hypothesis as
 * one stream "words </s>" after <s>, scored in batches through the model's
 * batched path, the words mapped to the model's own vocabulary. */
#include "lmf/rescore.h"

#include "rescore_impl.h"
#include "../core/util_impl.h"

#include <stdio.h>
#include <string.h>

#define BATCH 256

lmf_status lmf_nbest_add_model(lmf_nbest *nb, lmf_model *m, const char *name) {
    if (lmf_vocab_mode(lmf_model_vocab(m)) != LMF_TOK_WORD)
        return lmf_error(LMF_ERR_UNSUPPORTED, "%s: the model predicts characters or bytes; rescoring needs word models", name);
    char fn[256];
    snprintf(fn, sizeof fn, "lm:%s", name);
    int fl = lmf_nbest_feature(nb, fn);
    snprintf(fn, sizeof fn, "oov:%s", name);
    int fo = fl < 0 ? -1 : lmf_nbest_feature(nb, fn);
    if (fl < 0 || fo < 0) return LMF_ERR_DATA;
    const int32_t V = lmf_vocab_size(nb->words);
    int32_t *map = (int32_t *)lmf_malloc((size_t)V * sizeof *map);
    size_t maxn = 0;
    for (size_t h = 0; h < nb->nhyp; h++)
        if ((size_t)nb->hyp[h].n > maxn) maxn = (size_t)nb->hyp[h].n;
    int32_t *tok = (int32_t *)lmf_malloc((size_t)BATCH * (maxn + 1) * sizeof *tok);
    float *lp = (float *)lmf_malloc((size_t)BATCH * (maxn + 1) * sizeof *lp);
    if (!map || !tok || !lp) {
        lmf_free(map);
        lmf_free(tok);
        lmf_free(lp);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    const lmf_vocab *mv = lmf_model_vocab(m);
    for (int32_t w = 0; w < V; w++) {
        size_t len;
        const char *s = lmf_vocab_word(nb->words, w, &len);
        int32_t id = w < 2 ? w : lmf_vocab_find(mv, s, len);
        map[w] = id < 0 ? -1 : id;
    }
    lmf_status st = LMF_OK;
    const int32_t *ptr[BATCH];
    float *out[BATCH];
    size_t len[BATCH];
    for (size_t h0 = 0; !st && h0 < nb->nhyp; h0 += BATCH) {
        size_t B = nb->nhyp - h0 < BATCH ? nb->nhyp - h0 : BATCH;
        for (size_t b = 0; b < B; b++) {
            const lmf_nbest_hyp *hy = &nb->hyp[h0 + b];
            int32_t *t = tok + b * (maxn + 1);
            int oov = 0;
            for (int32_t i = 0; i < hy->n; i++) {
                int32_t id = map[nb->tok[hy->w0 + (size_t)i]];
                oov += id < 0;
                t[i] = id < 0 ? LMF_UNK : id;
            }
            t[hy->n] = LMF_EOS;
            ptr[b] = t;
            out[b] = lp + b * (maxn + 1);
            len[b] = (size_t)hy->n + 1;
            nb->fv[(h0 + b) * LMF_NBEST_MAX_FEATS + fo] = oov;
        }
        if ((st = lmf_model_score_batch(m, NULL, ptr, len, B, out))) {
            st = lmf_error(st, "%s: %s", name, lmf_last_error());
            break;
        }
        for (size_t b = 0; b < B; b++) {
            double s = 0;
            for (size_t i = 0; i < len[b]; i++) s += out[b][i];
            nb->fv[(h0 + b) * LMF_NBEST_MAX_FEATS + fl] = s;
        }
    }
    lmf_free(map);
    lmf_free(tok);
    lmf_free(lp);
    return st;
}
