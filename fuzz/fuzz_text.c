/* libFuzzer target: the text readers (vocabulary building and token mapping
 * in every token mode, and the n-gram trainer) on arbitrary bytes. */
#include "lmf/ngram.h"
#include "lmf/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void quiet(lmf_log_level l, const char *m, void *c) { (void)l; (void)m; (void)c; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_text_%ld.txt", (long)getpid());
        lmf_set_log(quiet, NULL, LMF_LOG_WARN);
    }
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    for (int mode = 0; mode < 3; mode++) {
        lmf_vocab_opts o;
        lmf_vocab_opts_init(&o);
        o.mode = (lmf_token_mode)mode;
        o.max_line = 64;
        o.utf8_check = (size & 1) == 0;
        lmf_vocab *v = NULL;
        if (lmf_vocab_build_file(path, &o, &v) == LMF_OK) {
            lmf_read_opts ro;
            lmf_read_opts_init(&ro);
            ro.utf8_check = o.utf8_check;
            lmf_tokens t;
            if (lmf_tokens_read_mem((const char *)data, size, "fuzz", v, &ro, &t) == LMF_OK) lmf_tokens_free(&t);
            lmf_vocab_free(v);
        }
    }
    /* the n-gram trainer reads text its own way: fuzz it too */
    lmf_ngram_train_opts to;
    lmf_ngram_train_opts_init(&to);
    to.order = 1 + (int)(size % 4);
    to.max_line = 64;
    to.utf8_check = (size & 1) == 0;
    lmf_ngram *m = NULL;
    if (lmf_ngram_train(path, &to, &m, NULL) == LMF_OK) lmf_ngram_free(m);
    return 0;
}
