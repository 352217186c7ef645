/* libFuzzer target: neural models from arbitrary bytes through the public
 * model loader (lmf_model_load): the safetensors reader, lmfuse's metadata
 * (lmfuse.arch, lmfuse.vocab, lmfuse.token_mode, lmfuse.heads,
 * lmfuse.classes) and each architecture's tensor checks.  A model that
 * loads scores a few tokens through every entry point (batched scoring,
 * full distributions, the incremental state, hidden vectors), so the loaded
 * weights are used.  Seeds: fuzz/corpus/nn (dev/gen_fuzz_seeds.py), tiny
 * models of each architecture. */
#include "lmf/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void quiet(lmf_log_level l, const char *m, void *c) { (void)l; (void)m; (void)c; }

static char path[64];
static void clean(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_nn_%ld.safetensors", (long)getpid());
        atexit(clean);
        lmf_set_log(quiet, NULL, LMF_LOG_WARN);
        lmf_set_threads(1);
    }
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    lmf_model *m = NULL;
    if (lmf_model_load(path, &m) != LMF_OK) return 0;
    int32_t V = lmf_vocab_size(lmf_model_vocab(m));
    enum { N = 12 };
    int32_t tok[N];
    for (int i = 0; i < N; i++) tok[i] = (int32_t)((i * 7 + size) % (size_t)V);
    float lp[N];
    (void)lmf_model_score(m, NULL, tok, N, lp);
    if (V <= 4096) {
        float *d = (float *)malloc((size_t)3 * V * sizeof *d);
        lmf_state *s = lmf_state_new(m);
        if (d && s) {
            (void)lmf_model_dists(m, s, tok, 3, d);
            (void)lmf_model_next(m, s, d);
            (void)lmf_model_feed(m, s, tok[3]);
            lmf_state *c = lmf_state_new(m);
            if (c && lmf_state_copy(m, c, s) == LMF_OK) (void)lmf_model_score(m, c, tok + 4, N - 4, lp);
            lmf_state_free(m, c);
        }
        lmf_state_free(m, s);
        free(d);
    }
    int D = lmf_model_hidden_dim(m);
    if (D > 0 && D <= 4096) {
        float *h = (float *)malloc((size_t)(N + 1) * D * sizeof *h);
        lmf_state *s = lmf_state_new(m);
        if (h && s) (void)lmf_model_hidden(m, s, tok, N, h);
        lmf_state_free(m, s);
        free(h);
    }
    lmf_model_free(m);
    return 0;
}
