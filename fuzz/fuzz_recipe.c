/* libFuzzer target: recipes (JSON) on arbitrary bytes.  A small ARPA model
 * "m.arpa" sits beside the recipe so that member paths can resolve; a
 * recipe that loads is scored on a few tokens. */
#include "lmf/fuse.h"
#include "lmf/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char arpa[] = "\\data\\\nngram 1=4\n\n\\1-grams:\n-0.6\t<unk>\n-0.5\t</s>\n-99\t<s>\t-0.3\n-0.4\ta\n\n\\end\\\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[64], path[96];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_recipe_%ld", (long)getpid());
        mkdir(dir, 0700);
        char mp[96];
        snprintf(mp, sizeof mp, "%s/m.arpa", dir);
        FILE *fp = fopen(mp, "wb");
        if (fp) {
            fputs(arpa, fp);
            fclose(fp);
        }
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
