/* libFuzzer target: the binary n-gram loader on arbitrary bytes (checksum
 * verification off, so that damaged tables reach the query code too). */
#include "lmf/ngram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_bin_%ld.lmfb", (long)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    /* give the fuzzer a head start: a valid magic + version prefix */
    if (size >= 12) {
        fwrite(LMF_NGRAM_MAGIC, 1, 8, fp);
        fwrite(data + 8, 1, size - 8, fp);
    } else {
        fwrite(data, 1, size, fp);
    }
    fclose(fp);
    lmf_ngram_load_opts o = {0};
    lmf_ngram *m = NULL;
    for (int verify = 0; verify < 2; verify++) {
        o.verify_checksum = verify;
        if (lmf_ngram_load_binary(path, &o, &m) == LMF_OK) {
            lmf_model *mm = lmf_ngram_model(m);
            int32_t V = lmf_vocab_size(lmf_model_vocab(mm));
            int32_t toks[8];
            float lp[8];
            for (int i = 0; i < 8; i++) toks[i] = (int32_t)((i * 7 + size) % (size_t)V);
            lmf_model_score(mm, NULL, toks, 8, lp);
            lmf_model_free(mm);
        }
    }
    return 0;
}
