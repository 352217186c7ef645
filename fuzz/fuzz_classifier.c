/* libFuzzer target: classifier files (JSON) on arbitrary bytes.  Beside
 * the fuzzed file sit an LM classifier (lm.json and its two class models),
 * a linear one (lin.json and its weights) and naive Bayes (nb.json, its
 * vocabulary and counts), trained at start-up on a
 * toy task, so that model and member paths can resolve; a classifier that
 * loads classifies the toy documents. */
#include "lmf/classify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void quiet(lmf_log_level l, const char *m, void *c) { (void)l; (void)m; (void)c; }

static char dir[64], path[96];
static lmf_docs docs;

static void clean(void) {
    static const char *const names[] = {"c.json", "docs.txt", "lm.json", "lm.json.class0.lmfb", "lm.json.class1.lmfb",
                                        "lin.json", "lin.json.linear.safetensors", "nb.json", "nb.json.nb.vocab",
                                        "nb.json.nb.safetensors"};
    char p[160];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    lmf_docs_free(&docs);
}

static void setup(void) {
    lmf_set_log(quiet, NULL, LMF_LOG_WARN);
    snprintf(dir, sizeof dir, "/tmp/fuzz_classifier_%ld", (long)getpid());
    mkdir(dir, 0700);
    atexit(clean);
    char p[128];
    snprintf(p, sizeof p, "%s/docs.txt", dir);
    FILE *fp = fopen(p, "wb");
    if (!fp) abort();
    for (int i = 0; i < 8; i++)
        fputs("__label__a goal team match win\n__label__b bread soup cook oven\n", fp);
    fclose(fp);
    lmf_classifier *c = NULL;
    if (lmf_docs_read(p, NULL, 0, &docs) || lmf_lmclass_train(&docs, &docs, NULL, &c)) abort();
    snprintf(p, sizeof p, "%s/lm.json", dir);
    if (lmf_classifier_save(c, p)) abort();
    lmf_classifier_free(c);
    lmf_linear_opts lo;
    lmf_linear_opts_init(&lo);
    lo.hash_bits = 8;
    lo.l2 = 1e-3;
    if (lmf_linear_train(&docs, NULL, &lo, &c)) abort();
    snprintf(p, sizeof p, "%s/lin.json", dir);
    if (lmf_classifier_save(c, p)) abort();
    lmf_classifier_free(c);
    if (lmf_nb_train(&docs, NULL, 0.5, &c)) abort();
    snprintf(p, sizeof p, "%s/nb.json", dir);
    if (lmf_classifier_save(c, p)) abort();
    lmf_classifier_free(c);
    snprintf(path, sizeof path, "%s/c.json", dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) setup();
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    lmf_classifier *c = NULL;
    if (lmf_classifier_load(path, &c) == LMF_OK) {
        float lp[16 * LMF_MAX_CLASSES];
        if (lmf_classifier_classes(c) == docs.C) lmf_classifier_predict(c, &docs, lp, NULL, NULL);
        lmf_classifier_free(c);
    }
    return 0;
}
