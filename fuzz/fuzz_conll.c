/* libFuzzer target: CoNLL tagged text (lmf_tagged_read_mem) on arbitrary
 * bytes, with and without the tag column; a corpus that reads is walked
 * (every sentence, word and tag) and, when small, tags train an HMM. */
#include "lmf/tag.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    for (int need = 0; need < 2; need++) {
        lmf_tagged *c = NULL;
        if (lmf_tagged_read_mem((const char *)data, size, "fuzz.conll", need, &c) != LMF_OK) continue;
        size_t n = 0;
        for (size_t i = 0; i < lmf_tagged_nsent(c); i++) {
            size_t a, b;
            lmf_tagged_sentence(c, i, &a, &b);
            for (size_t k = a; k < b; k++) n += strlen(lmf_tagged_word(c, k)) + (need ? strlen(lmf_tagged_tag(c, k)) : 0);
        }
        if (need && lmf_tagged_ntok(c) < 200 && n) {
            lmf_tagger_opts o;
            lmf_tagger_opts_init(&o);
            lmf_tagger *t = NULL;
            if (lmf_tagger_train(&o, c, &t) == LMF_OK) {
                size_t a, b;
                lmf_tagged_sentence(c, 0, &a, &b);
                int best[200];
                float lp[200 * 4];
                if (lmf_tagger_ntags(t) <= 4) lmf_tagger_run(t, lmf_tagged_words(c) + a, b - a, best, lp);
            }
            lmf_tagger_free(t);
        }
        lmf_tagged_free(c);
    }
    return 0;
}
