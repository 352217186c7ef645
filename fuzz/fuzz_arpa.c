/* libFuzzer target: the ARPA reader on arbitrary bytes.  A model that loads
 * must also score a few tokens and write back without crashing. */
#include "lmf/ngram.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void quiet(lmf_log_level l, const char *m, void *c) { (void)l; (void)m; (void)c; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_arpa_%ld.arpa", (long)getpid());
        lmf_set_log(quiet, NULL, LMF_LOG_WARN);
    }
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    lmf_ngram *m = NULL;
    if (lmf_ngram_read_arpa(path, NULL, &m) == LMF_OK) {
        lmf_model *mm = lmf_ngram_model(m);
        int32_t V = lmf_vocab_size(lmf_model_vocab(mm));
        int32_t toks[8];
        float lp[8];
        for (int i = 0; i < 8; i++) toks[i] = (int32_t)((i * 7 + size) % (size_t)V);
        lmf_model_score(mm, NULL, toks, 8, lp);
        lmf_model_free(mm);
    }
    return 0;
}
