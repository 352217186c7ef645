/* libFuzzer target: what recognisers and translators hand to lmfuse rescore
 * (lmf/rescore.h), on arbitrary bytes.  The first byte picks the reader: an
 * HTK SLF lattice searched with a tiny 2-gram (beam and list sizes from the
 * byte), or an n-best list in any of the list formats.  Lists that read are
 * scored with the 2-gram, their first hypotheses taken as references, and
 * tuned by MERT for a round, for WER or BLEU.  A first byte of 0xfe: the rest
 * is a rescorer file (JSON), loaded from a temporary file. */
#include "lmf/ngram.h"
#include "lmf/rescore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void quiet(lmf_log_level l, const char *m, void *c) { (void)l; (void)m; (void)c; }

static lmf_model *lm;

static void setup(void) {
    lmf_set_log(quiet, NULL, LMF_LOG_WARN);
    static const char txt[] = "a b c\nb c a\nthe cat sat\nc a b a\n";
    lmf_ngram_train_opts o;
    lmf_ngram_train_opts_init(&o);
    o.order = 2;
    lmf_ngram *ng = NULL;
    if (lmf_ngram_train_mem(txt, sizeof txt - 1, "fuzz", &o, &ng, NULL)) abort();
    lm = lmf_ngram_model(ng);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (!lm) setup();
    if (size < 1) return 0;
    const unsigned char sel = data[0];
    const char *text = (const char *)data + 1;
    size -= 1;
    if (sel == 0xfe) {
        char path[64];
        snprintf(path, sizeof path, "/tmp/fuzz_rescore_%ld.json", (long)getpid());
        FILE *fp = fopen(path, "wb");
        if (!fp) return 0;
        fwrite(text, 1, size, fp);
        fclose(fp);
        lmf_rescorer *r = NULL;
        if (lmf_rescorer_load(path, &r) == LMF_OK) lmf_rescorer_free(r);
        unlink(path);
        return 0;
    }
    lmf_nbest nb;
    memset(&nb, 0, sizeof nb);
    lmf_status st;
    if (sel & 1) {
        lmf_lattice_opts lo;
        lmf_lattice_opts_init(&lo);
        lo.beam = 1 + (sel >> 1 & 7);
        lo.nbest = 1 + (sel >> 4 & 7);
        lo.lm = (sel & 0x80) ? lm : NULL;
        st = lmf_nbest_add_slf(&nb, text, size, "fuzz.lat", "u1", &lo);
    } else {
        st = lmf_nbest_add_list(&nb, text, size, "fuzz.nbest");
    }
    if (!st && nb.nhyp < 2000 && lmf_nbest_add_model(&nb, lm, "lm") == LMF_OK) {
        lmf_refs r;
        r.n = nb.nutt;
        r.w0 = (size_t *)malloc((nb.nutt + 1) * sizeof *r.w0);
        r.len = (int32_t *)malloc((nb.nutt + 1) * sizeof *r.len);
        r.tok = nb.tok;
        if (r.w0 && r.len) {
            for (size_t u = 0; u < nb.nutt; u++) {
                r.w0[u] = nb.hyp[nb.utt[u].h0].w0;
                r.len[u] = nb.hyp[nb.utt[u].h0].n;
            }
            lmf_mert_opts o;
            lmf_mert_opts_init(&o);
            o.metric = (sel & 2) ? LMF_METRIC_BLEU : LMF_METRIC_WER;
            o.restarts = 0;
            o.max_iter = 1;
            double w[LMF_NBEST_MAX_FEATS] = {0}, score;
            for (int f = 0; f < nb.nfeat; f++) w[f] = 1;
            lmf_mert(&nb, &r, &o, w, &score);
        }
        free(r.w0);
        free(r.len);
    }
    lmf_nbest_free(&nb);
    return 0;
}
