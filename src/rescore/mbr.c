/* Minimum Bayes risk decoding of n-best lists (lmf/rescore.h), after
 * Stolcke, Konig and Weintraub (1997): instead of the hypothesis with the
 * best combined score, the one with the fewest expected word errors against
 * the list's other hypotheses, weighted by their posteriors
 * P(h) ~ exp(scale * score(h)) over the `top` best. */
#include "lmf/rescore.h"

#include "../core/util_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Levenshtein distance with one row of n+1 ints (row: caller's scratch). */
static int32_t edit_distance(const int32_t *a, int32_t na, const int32_t *b, int32_t nb, int32_t *row) {
    for (int32_t j = 0; j <= nb; j++) row[j] = j;
    for (int32_t i = 1; i <= na; i++) {
        int32_t diag = row[0];
        row[0] = i;
        for (int32_t j = 1; j <= nb; j++) {
            int32_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[nb];
}

typedef struct {
    double s;
    size_t h;
} scored;

static int cmp_scored(const void *x, const void *y) {
    const scored *a = (const scored *)x, *b = (const scored *)y;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return a->h < b->h ? -1 : a->h > b->h;
}

lmf_status lmf_rescore_mbr(const lmf_nbest *nb, const double *w, double scale, int top, size_t *best) {
    if (!(scale > 0) || !isfinite(scale) || top < 1)
        return lmf_error(LMF_ERR_ARG, "minimum Bayes risk: the scale must be a positive number and top at least 1");
    size_t maxh = 0;
    int32_t maxn = 0;
    for (size_t u = 0; u < nb->nutt; u++)
        if (nb->utt[u].nh > maxh) maxh = nb->utt[u].nh;
    for (size_t h = 0; h < nb->nhyp; h++)
        if (nb->hyp[h].n > maxn) maxn = nb->hyp[h].n;
    scored *sc = (scored *)lmf_malloc((maxh ? maxh : 1) * sizeof *sc);
    double *p = (double *)lmf_malloc((maxh ? maxh : 1) * sizeof *p);
    int32_t *row = (int32_t *)lmf_malloc(((size_t)maxn + 1) * sizeof *row);
    if (!sc || !p || !row) {
        lmf_free(sc);
        lmf_free(p);
        lmf_free(row);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    for (size_t u = 0; u < nb->nutt; u++) {
        const lmf_nbest_utt *ut = &nb->utt[u];
        for (size_t k = 0; k < ut->nh; k++) {
            double s = 0;
            for (int f = 0; f < nb->nfeat; f++) s += w[f] * lmf_nbest_f(nb, ut->h0 + k, f);
            sc[k] = (scored){s, ut->h0 + k};
        }
        qsort(sc, ut->nh, sizeof *sc, cmp_scored);
        size_t M = ut->nh < (size_t)top ? ut->nh : (size_t)top;
        double z = 0;
        for (size_t k = 0; k < M; k++) z += p[k] = exp(scale * (sc[k].s - sc[0].s));
        size_t choice = 0;
        double risk_best = INFINITY;
        for (size_t i = 0; i < M; i++) {
            const lmf_nbest_hyp *a = &nb->hyp[sc[i].h];
            double risk = 0;
            for (size_t j = 0; j < M && risk < risk_best; j++) {
                if (i == j || p[j] / z < 1e-12) continue;
                const lmf_nbest_hyp *b = &nb->hyp[sc[j].h];
                risk += p[j] / z * edit_distance(nb->tok + a->w0, a->n, nb->tok + b->w0, b->n, row);
            }
            if (risk < risk_best - 1e-12) risk_best = risk, choice = i; /* ties: the better score */
        }
        best[u] = M ? sc[choice].h : ut->h0;
    }
    lmf_free(sc);
    lmf_free(p);
    lmf_free(row);
    return LMF_OK;
}
