/* Model features of n-best hypotheses (lmf/rescore.h): each hypothesis as
 * one stream "words </s>" after <s>, scored in batches through the model's
 * batched path, the words mapped to the model's own vocabulary. */
#include "lmf/rescore.h"

#include "rescore_impl.h"
#include "../core/util_impl.h"

#include <stdio.h>
#include <string.h>

#define BATCH 256

/* The model's id of each word of nb (-1: unknown to it). */
static int32_t *word_map(const lmf_nbest *nb, const lmf_model *m) {
    const int32_t V = lmf_vocab_size(nb->words);
    int32_t *map = (int32_t *)lmf_malloc((size_t)V * sizeof *map);
    if (!map) return NULL;
    const lmf_vocab *mv = lmf_model_vocab(m);
    for (int32_t w = 0; w < V; w++) {
        size_t len;
        const char *s = lmf_vocab_word(nb->words, w, &len);
        int32_t id = w < 2 ? w : lmf_vocab_find(mv, s, len);
        map[w] = id < 0 ? -1 : id;
    }
    return map;
}

/* Feeds the state the words of the lists' first hypotheses of utterances
 * before u (each followed by </s>), the last ctx_words tokens of them. */
static lmf_status prime(const lmf_nbest *nb, lmf_model *m, const int32_t *map, size_t u, int ctx_words, lmf_state *st) {
    lmf_state_reset(m, st);
    if (ctx_words <= 0 || u == 0) return LMF_OK;
    size_t first = u, have = 0;
    while (first > 0 && have < (size_t)ctx_words) {
        first--;
        have += (size_t)nb->hyp[nb->utt[first].h0].n + 1;
    }
    size_t skip = have > (size_t)ctx_words ? have - (size_t)ctx_words : 0;
    lmf_status s = LMF_OK;
    for (size_t v = first; !s && v < u; v++) {
        const lmf_nbest_hyp *h = &nb->hyp[nb->utt[v].h0];
        for (int32_t i = 0; !s && i <= h->n; i++) {
            if (skip) {
                skip--;
                continue;
            }
            int32_t id = i < h->n ? map[nb->tok[h->w0 + (size_t)i]] : LMF_EOS;
            s = lmf_model_feed(m, st, id < 0 ? LMF_UNK : id);
        }
    }
    return s;
}

lmf_status lmf_nbest_add_model_ctx(lmf_nbest *nb, lmf_model *m, const char *name, int ctx_words) {
    if (lmf_vocab_mode(lmf_model_vocab(m)) != LMF_TOK_WORD)
        return lmf_error(LMF_ERR_UNSUPPORTED, "%s: the model predicts characters or bytes; rescoring needs word models", name);
    if (ctx_words < 0 || ctx_words > 100000) return lmf_error(LMF_ERR_ARG, "%s: context of 0..100000 words, not %d", name, ctx_words);
    char fn[256];
    snprintf(fn, sizeof fn, "lm:%s", name);
    int fl = lmf_nbest_feature(nb, fn);
    snprintf(fn, sizeof fn, "oov:%s", name);
    int fo = fl < 0 ? -1 : lmf_nbest_feature(nb, fn);
    if (fl < 0 || fo < 0) return LMF_ERR_DATA;
    int32_t *map = word_map(nb, m);
    size_t maxn = 0;
    for (size_t h = 0; h < nb->nhyp; h++)
        if ((size_t)nb->hyp[h].n > maxn) maxn = (size_t)nb->hyp[h].n;
    int32_t *tok = (int32_t *)lmf_malloc((size_t)BATCH * (maxn + 1) * sizeof *tok);
    float *lp = (float *)lmf_malloc((size_t)BATCH * (maxn + 1) * sizeof *lp);
    lmf_state *ctx = ctx_words ? lmf_state_new(m) : NULL, *st[BATCH] = {0};
    lmf_status s = map && tok && lp && (!ctx_words || ctx) ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int b = 0; !s && ctx_words && b < BATCH; b++)
        if (!(st[b] = lmf_state_new(m))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    const int32_t *ptr[BATCH];
    float *out[BATCH];
    size_t len[BATCH];
    /* batches of hypotheses; with a context, each batch within one utterance (one primed state) */
    for (size_t u = 0; !s && u < nb->nutt; u++) {
        const lmf_nbest_utt *ut = &nb->utt[u];
        if (ctx_words) s = prime(nb, m, map, u, ctx_words, ctx);
        size_t h0 = ut->h0, hend = ut->h0 + ut->nh;
        if (!ctx_words) { /* no context: batches across utterances */
            if (u) break;
            hend = nb->nhyp;
        }
        for (; !s && h0 < hend; h0 += BATCH) {
            size_t B = hend - h0 < BATCH ? hend - h0 : BATCH;
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
                if (ctx_words && !s) s = lmf_state_copy(m, st[b], ctx);
            }
            if (!s && (s = lmf_model_score_batch(m, ctx_words ? st : NULL, ptr, len, B, out))) {
                s = lmf_error(s, "%s: %s", name, lmf_last_error());
                break;
            }
            for (size_t b = 0; !s && b < B; b++) {
                double sum = 0;
                for (size_t i = 0; i < len[b]; i++) sum += out[b][i];
                nb->fv[(h0 + b) * LMF_NBEST_MAX_FEATS + fl] = sum;
            }
        }
    }
    for (int b = 0; b < BATCH; b++)
        if (st[b]) lmf_state_free(m, st[b]);
    if (ctx) lmf_state_free(m, ctx);
    lmf_free(map);
    lmf_free(tok);
    lmf_free(lp);
    return s;
}

lmf_status lmf_nbest_add_model(lmf_nbest *nb, lmf_model *m, const char *name) {
    return lmf_nbest_add_model_ctx(nb, m, name, 0);
}
