/* libFuzzer target: labelled files (fastText lines, lmfuse's escapes) on
 * arbitrary bytes, read as training documents, then again over the classes
 * they gave and as unlabelled documents to classify. */
#include "lmf/classify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[96];

static void clean(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_docs_%ld.txt", (long)getpid());
        atexit(clean);
    }
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    lmf_docs d, e;
    if (lmf_docs_read(path, NULL, 0, &d) == LMF_OK) {
        size_t cnt[LMF_MAX_CLASSES];
        lmf_docs_counts(&d, cnt);
        if (lmf_docs_read(path, (const char *const *)d.names, d.C, &e) == LMF_OK) lmf_docs_free(&e);
        if (lmf_docs_read_any(path, (const char *const *)d.names, d.C, &e) == LMF_OK) lmf_docs_free(&e);
        lmf_docs_free(&d);
    }
    return 0;
}
