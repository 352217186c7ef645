/* Private: shared by the rescoring sources (src/rescore). */
#ifndef LMF_RESCORE_IMPL_H
#define LMF_RESCORE_IMPL_H

#include "lmf/rescore.h"

/* Begins a new utterance (its id copied). */
lmf_status lmf_nbest_begin(lmf_nbest *nb, const char *id, size_t idlen);
/* Appends a hypothesis to the last utterance: n words, feature values f
 * (nb->nfeat of them, the rest zero). */
lmf_status lmf_nbest_push(lmf_nbest *nb, const int32_t *w, int32_t n, const double *f);
/* The index of feature `name`, added if new (-1 on a full table or out of memory: error set). */
int lmf_nbest_feature(lmf_nbest *nb, const char *name);
/* Whether a recogniser's word is no word: !NULL, !SENT_START, <s>, </s>,
 * <sil>, [NOISE], ++BREATH++, -pau- and the like. */
int lmf_nbest_is_filler(const char *w, size_t n);
/* Interns a word (-1 and error on out of memory). */
int32_t lmf_nbest_word(lmf_nbest *nb, const char *w, size_t n);

#endif
