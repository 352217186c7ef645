/* libFuzzer target: tagger files (safetensors: HMM, perceptron, stack) and
 * tagger fusion recipes (JSON) on arbitrary bytes.  Beside the fuzzed file
 * sit an HMM (hmm.lmft) and a perceptron (perc.lmft) trained at start-up on
 * a toy corpus, so that member paths resolve; a tagger that loads tags a
 * sentence. */
#include "lmf/tag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void quiet(lmf_log_level l, const char *m, void *c) { (void)l; (void)m; (void)c; }

static char dir[64], path[96];

static void clean(void) {
    static const char *const names[] = {"t.lmft", "hmm.lmft", "perc.lmft"};
    char p[160];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void setup(void) {
    lmf_set_log(quiet, NULL, LMF_LOG_WARN);
    snprintf(dir, sizeof dir, "/tmp/fuzz_tagger_%ld", (long)getpid());
    mkdir(dir, 0700);
    atexit(clean);
    const char *text = "the\tdt\ndog\tnn\nruns\tvb\n\na\tdt\ncat\tnn\nsees\tvb\nthe\tdt\ndog\tnn\n\n";
    lmf_tagged *c = NULL;
    if (lmf_tagged_read_mem(text, strlen(text), "toy", 1, &c)) abort();
    for (int k = 0; k < 2; k++) {
        lmf_tagger_opts o;
        lmf_tagger_opts_init(&o);
        o.kind = k ? LMF_TAGGER_PERCEPTRON : LMF_TAGGER_HMM;
        lmf_tagger *t = NULL;
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, k ? "perc.lmft" : "hmm.lmft");
        if (lmf_tagger_train(&o, c, &t) || lmf_tagger_save(t, p)) abort();
        lmf_tagger_free(t);
    }
    lmf_tagged_free(c);
    snprintf(path, sizeof path, "%s/t.lmft", dir);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    static int ready;
    if (!ready) setup(), ready = 1;
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    lmf_tagger *t = NULL;
    if (lmf_tagger_load(path, &t) == LMF_OK) {
        const char *words[] = {"the", "Zorb", "runs"};
        int best[3];
        float *lp = (float *)malloc(3 * (size_t)lmf_tagger_ntags(t) * sizeof *lp);
        if (lp && lmf_tagger_max_len(t) >= 3) lmf_tagger_run(t, words, 3, best, lp);
        free(lp);
    }
    lmf_tagger_free(t);
    return 0;
}
