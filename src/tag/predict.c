/* Tagging a file and writing the tags as CoNLL columns, atomically
 * (lmf_tag_predict_file, lmf/tag.h). */
#define _POSIX_C_SOURCE 200809L
#include "tag_impl.h"
#include "../core/util_impl.h"

#include <math.h>
#include <string.h>

lmf_status lmf_tag_predict_file(lmf_tagger *t, const lmf_tagged *in, const char *path, int probs) {
    const int T = lmf_tagger_ntags(t);
    size_t maxn = 0;
    for (size_t i = 0; i < lmf_tagged_nsent(in); i++) {
        size_t a, b;
        lmf_tagged_sentence(in, i, &a, &b);
        if (b - a > lmf_tagger_max_len(t))
            return lmf_error(LMF_ERR_DATA, "%s line %zu: a sentence of %zu tokens; the tagger takes at most %zu (split it)",
                             lmf_tagged_path(in), lmf_tagged_line(in, a), b - a, lmf_tagger_max_len(t));
        if (b - a > maxn) maxn = b - a;
    }
    int *best = (int *)lmf_malloc(maxn * sizeof *best);
    float *lp = probs ? (float *)lmf_malloc(maxn * (size_t)T * sizeof *lp) : NULL;
    if (!best || (probs && !lp)) {
        lmf_free(best);
        lmf_free(lp);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    lmf_outfile of;
    lmf_status s = lmf_outfile_open(&of, path);
    const char *const *words = lmf_tagged_words(in);
    for (size_t i = 0; i < lmf_tagged_nsent(in) && !s; i++) {
        size_t a, b;
        lmf_tagged_sentence(in, i, &a, &b);
        if ((s = lmf_tagger_run(t, words + a, b - a, best, lp))) break;
        for (size_t k = a; k < b; k++) {
            const int g = best[k - a];
            if (probs)
                fprintf(of.fp, "%s\t%s\t%.6f\n", words[k], lmf_tagger_tag_name(t, g), exp((double)lp[(k - a) * (size_t)T + g]));
            else
                fprintf(of.fp, "%s\t%s\n", words[k], lmf_tagger_tag_name(t, g));
        }
        fputc('\n', of.fp);
    }
    if (!s) s = lmf_outfile_commit(&of);
    else if (of.fp) lmf_outfile_abort(&of);
    lmf_free(best);
    lmf_free(lp);
    return s;
}
