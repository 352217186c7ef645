/* libFuzzer target: the safetensors reader on arbitrary bytes; tensors that
 * load are converted to float. */
#include "lmf/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_st_%ld.safetensors", (long)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    lmf_safetensors *st = NULL;
    if (lmf_st_open(path, &st) == LMF_OK) {
        for (size_t i = 0; i < lmf_st_count(st); i++) {
            const lmf_st_tensor *t = lmf_st_at(st, i);
            if (t->numel > (1u << 20)) continue;
            float *f = malloc((t->numel ? t->numel : 1) * sizeof *f);
            if (f) lmf_st_to_f32(t, f);
            free(f);
        }
        lmf_st_close(st);
    }
    return 0;
}
