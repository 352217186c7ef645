/* libFuzzer target: the PyTorch converter (lmf_nn_import_pytorch) on an
 * arbitrary token list and state dict.  Input layout:
 *     byte 0       flags: bit 0 = give the token list (else the state
 *                  dict's own lmfuse.vocab), bits 1-3 = heads (0: the file's)
 *     bytes 1-2    L, little-endian: the token list is the next L bytes
 *                  (fewer if the input ends first)
 *     the rest     the state dict (safetensors)
 * (fuzz/corpus/convert: dev/gen_convert_seeds.py).  The import loads its
 * result as a model (the converter's own check); a model that converts goes
 * back through lmf_nn_export_pytorch, and when it came from a token list,
 * importing the exported list must give the same vocabulary.  (Scoring is
 * left to the model's own targets: hostile finite weights overflow to NaN
 * there, which is not the converter's business.) */
#include "lmf/nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void quiet(lmf_log_level l, const char *m, void *c) { (void)l; (void)m; (void)c; }

static char dir[64], list[96], sd[96], out[96], pt[96], pt_list[96], out2[96];

static int put(const char *path, const uint8_t *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(p, 1, n, fp);
    return fclose(fp) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_convert_%ld", (long)getpid());
        mkdir(dir, 0700);
        snprintf(list, sizeof list, "%s/tokens.txt", dir);
        snprintf(sd, sizeof sd, "%s/sd.safetensors", dir);
        snprintf(out, sizeof out, "%s/m.safetensors", dir);
        snprintf(pt, sizeof pt, "%s/pt.safetensors", dir);
        snprintf(pt_list, sizeof pt_list, "%s/pt.txt", dir);
        snprintf(out2, sizeof out2, "%s/m2.safetensors", dir);
        lmf_set_log(quiet, NULL, LMF_LOG_WARN);
        lmf_set_threads(1);
    }
    if (size < 3) return 0;
    int flags = data[0];
    size_t L = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3, size -= 3;
    if (L > size) L = size;
    if (!put(list, data, L) || !put(sd, data + L, size - L)) return 0;
    lmf_nn_import_opts o;
    lmf_nn_import_opts_init(&o);
    o.vocab_path = flags & 1 ? list : NULL;
    o.heads = (flags >> 1) & 7;
    lmf_model *m = NULL;
    if (lmf_nn_import_pytorch(sd, &o, out, &m) != LMF_OK) return 0;
    if (lmf_nn_export_pytorch(out, pt, pt_list) == LMF_OK && o.vocab_path) {
        lmf_model *m2 = NULL;
        o.vocab_path = pt_list;
        if (lmf_nn_import_pytorch(pt, &o, out2, &m2) != LMF_OK) {
            fprintf(stderr, "the exported token list does not import: %s\n", lmf_last_error());
            abort();
        }
        if (!lmf_vocab_equal(lmf_model_vocab(m), lmf_model_vocab(m2))) {
            fprintf(stderr, "the vocabulary changed on the way through PyTorch\n");
            abort();
        }
        lmf_model_free(m2);
    }
    lmf_model_free(m);
    return 0;
}
