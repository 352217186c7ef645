/* libFuzzer target: recipes (JSON) on arbitrary bytes.  A small ARPA model
 * "m.arpa" and a tiny recurrent model "nn.safetensors" over the same words
 * (<unk>, </s>, a) sit beside the recipe so that member paths can resolve
 * (the neural one also carries continuous caches); a recipe that loads is
 * scored on a few tokens. */
#include "lmf/fuse.h"
#include "lmf/io.h"
#include "lmf/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char arpa[] = "\\data\\\nngram 1=4\n\n\\1-grams:\n-0.6\t<unk>\n-0.5\t</s>\n-99\t<s>\t-0.3\n-0.4\ta\n\n\\end\\\n";

static void quiet(lmf_log_level l, const char *m, void *c) { (void)l; (void)m; (void)c; }

/* An Elman RNN (1 layer, embedding and hidden size 2) over m.arpa's words. */
static void write_nn(const char *path) {
    static const float enc[6] = {0.1f, -0.2f, 0.3f, 0.2f, -0.1f, 0.4f}, w[4] = {0.5f, -0.3f, 0.2f, 0.1f},
                       bias[2] = {0.05f, -0.05f}, dec_b[3] = {0.1f, 0.2f, -0.1f};
    const int64_t s32[2] = {3, 2}, s22[2] = {2, 2}, s2[1] = {2}, s3[1] = {3};
    lmf_st_writer *wr = lmf_st_writer_new();
    if (!wr || lmf_st_add(wr, "encoder.weight", LMF_DT_F32, 2, s32, enc) ||
        lmf_st_add(wr, "rnn.weight_ih_l0", LMF_DT_F32, 2, s22, w) ||
        lmf_st_add(wr, "rnn.weight_hh_l0", LMF_DT_F32, 2, s22, w) ||
        lmf_st_add(wr, "rnn.bias_ih_l0", LMF_DT_F32, 1, s2, bias) ||
        lmf_st_add(wr, "rnn.bias_hh_l0", LMF_DT_F32, 1, s2, bias) ||
        lmf_st_add(wr, "decoder.weight", LMF_DT_F32, 2, s32, enc) ||
        lmf_st_add(wr, "decoder.bias", LMF_DT_F32, 1, s3, dec_b) || lmf_st_set_meta(wr, "lmfuse.arch", "rnn") ||
        lmf_st_set_meta(wr, "lmfuse.vocab", "[\"<unk>\", \"</s>\", \"a\"]") || lmf_st_write(wr, path))
        abort();
    lmf_st_writer_free(wr);
}

static char dir[64], path[96];

/* At exit: the folder and its three files. */
static void clean(void) {
    static const char *const names[] = {"m.arpa", "nn.safetensors", "r.json"};
    char p[128];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        atexit(clean);
        lmf_set_log(quiet, NULL, LMF_LOG_WARN);
        lmf_set_threads(1);
        snprintf(dir, sizeof dir, "/tmp/fuzz_recipe_%ld", (long)getpid());
        mkdir(dir, 0700);
        char mp[96];
        snprintf(mp, sizeof mp, "%s/m.arpa", dir);
        FILE *fp = fopen(mp, "wb");
        if (fp) {
            fputs(arpa, fp);
            fclose(fp);
        }
        snprintf(mp, sizeof mp, "%s/nn.safetensors", dir);
        write_nn(mp);
        snprintf(path, sizeof path, "%s/r.json", dir);
    }
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    (void)lmf_recipe_tuned_on(path, path); /* reads the tuning record of any JSON */
    lmf_model *m = NULL;
    if (lmf_recipe_load(path, &m) == LMF_OK) {
        int32_t tok[4] = {2, 1, 0, 2};
        float lp[4];
        lmf_model_score(m, NULL, tok, 4, lp);
        lmf_model_free(m);
    }
    return 0;
}
