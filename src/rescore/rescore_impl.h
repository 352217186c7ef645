/* Private: shared by the rescoring sources (src/rescore). */
#ifndef LMF_RESCORE_IMPL_H
#define LMF_RESCORE_IMPL_H

#include "lmf/rescore.h"

/* Whether a recogniser's word is no word: !NULL, !SENT_START, <s>, </s>,
 * <sil>, [NOISE], ++BREATH++, -pau- and the like. */
int lmf_nbest_is_filler(const char *w, size_t n);

#endif
