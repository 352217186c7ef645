/* Weight tuning on held-out data (lmf/fuse.h). */
#include "lmf/fuse.h"
#include "../core/util_impl.h"
#include "fuse_impl.h"

#include <math.h>
#include <string.h>

lmf_status lmf_fuse_check_vocab(lmf_model *const *members, int K) {
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS)
        return lmf_error(LMF_ERR_ARG, "a fusion needs 1..%d members (got %d)", LMF_FUSE_MAX_MEMBERS, K);
    for (int k = 0; k < K; k++)
        if (!members[k]) return lmf_error(LMF_ERR_ARG, "member %d is missing", k + 1);
    int32_t *maps[LMF_FUSE_MAX_MEMBERS];
    lmf_status s = lmf_fuse_vocab_maps(members, K, maps);
    for (int k = 0; k < K; k++) lmf_free(maps[k]);
    return s;
}

/* Mean log-likelihood of the mixture and, with post, the summed posterior
 * responsibilities of each member. */
static double mix_ll(const float *const *lp, int K, size_t N, const double *w, double *post) {
    double lw[LMF_FUSE_MAX_MEMBERS], ll = 0;
    for (int k = 0; k < K; k++) {
        lw[k] = w[k] > 0 ? log(w[k]) : -INFINITY;
        if (post) post[k] = 0;
    }
    for (size_t t = 0; t < N; t++) {
        double a[LMF_FUSE_MAX_MEMBERS], mx = -INFINITY, sum = 0;
        for (int k = 0; k < K; k++) {
            a[k] = lw[k] + (double)lp[k][t];
            mx = a[k] > mx ? a[k] : mx;
        }
        for (int k = 0; k < K; k++) sum += (a[k] = exp(a[k] - mx));
        ll += mx + log(sum);
        if (post)
            for (int k = 0; k < K; k++) post[k] += a[k] / sum;
    }
    return ll / (double)N;
}

lmf_status lmf_tune_linear_em(const float *const *lp, int K, size_t N, double tol, int max_iter, double *w,
                              double *trace, int *iters) {
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS) return lmf_error(LMF_ERR_ARG, "EM needs 1..%d members", LMF_FUSE_MAX_MEMBERS);
    if (N == 0) return lmf_error(LMF_ERR_DATA, "EM needs at least one token of tuning data");
    for (size_t t = 0; t < N; t++) {
        int any = 0;
        for (int k = 0; k < K; k++) any |= lp[k][t] > -INFINITY;
        if (!any)
            return lmf_error(LMF_ERR_DATA, "token %zu of the tuning data has probability 0 under every member", t + 1);
    }
    double post[LMF_FUSE_MAX_MEMBERS];
    double ll = mix_ll(lp, K, N, w, post);
    if (trace) trace[0] = exp(-ll);
    int it = 0;
    while (it < max_iter) {
        for (int k = 0; k < K; k++) w[k] = post[k] / (double)N; /* M step */
        double nll = mix_ll(lp, K, N, w, post);                 /* E step for the next round */
        it++;
        if (trace) trace[it] = exp(-nll);
        double gain = nll - ll;
        ll = nll;
        if (gain < tol) break; /* relative change of perplexity ~ gain */
    }
    *iters = it;
    return LMF_OK;
}

double lmf_bayes_ppl(const float *const *lp, int K, size_t N, const double *w, double share) {
    double lw[LMF_FUSE_MAX_MEMBERS], a[LMF_FUSE_MAX_MEMBERS], sw = 0, ll = 0;
    for (int k = 0; k < K; k++) sw += w[k];
    for (int k = 0; k < K; k++) lw[k] = log(w[k] / sw);
    for (size_t t = 0; t < N; t++) {
        double mx = -INFINITY, sum = 0;
        for (int k = 0; k < K; k++) {
            a[k] = lw[k] + (double)lp[k][t];
            mx = a[k] > mx ? a[k] : mx;
        }
        for (int k = 0; k < K; k++) sum += exp(a[k] - mx);
        double l = mx + log(sum);
        ll += l;
        if (isfinite(l))
            for (int k = 0; k < K; k++) lw[k] = log((1 - share) * exp(a[k] - l) + share * w[k] / sw);
    }
    return exp(-ll / (double)N);
}

lmf_status lmf_select_forward(const float *const *lp, int K, size_t N, double min_gain, lmf_selection *out) {
    memset(out, 0, sizeof *out);
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS)
        return lmf_error(LMF_ERR_ARG, "selection needs 1..%d candidates", LMF_FUSE_MAX_MEMBERS);
    if (N == 0) return lmf_error(LMF_ERR_DATA, "selection needs at least one token of tuning data");
    int used[LMF_FUSE_MAX_MEMBERS] = {0};
    const float *sub[LMF_FUSE_MAX_MEMBERS];
    double cur = INFINITY;
    while (out->n < K) {
        int best = -1;
        double best_ppl = INFINITY, best_w[LMF_FUSE_MAX_MEMBERS];
        for (int c = 0; c < K; c++) {
            if (used[c]) continue;
            int n = out->n;
            for (int i = 0; i < n; i++) sub[i] = lp[out->order[i]];
            sub[n] = lp[c];
            double w[LMF_FUSE_MAX_MEMBERS], ppl;
            if (n == 0) { /* one member: its own perplexity */
                double s = 0;
                for (size_t t = 0; t < N; t++) s += (double)lp[c][t];
                ppl = exp(-s / (double)N);
                w[0] = 1;
            } else {
                int it;
                for (int i = 0; i <= n; i++) w[i] = 1.0 / (n + 1);
                lmf_status s = lmf_tune_linear_em(sub, n + 1, N, 1e-7, 1000, w, NULL, &it);
                if (s == LMF_ERR_DATA) continue; /* some token has probability 0 under all of them */
                if (s) return s;
                ppl = exp(-mix_ll(sub, n + 1, N, w, NULL));
            }
            if (ppl < best_ppl) {
                best_ppl = ppl;
                best = c;
                memcpy(best_w, w, (size_t)(n + 1) * sizeof *w);
            }
        }
        if (best < 0) break;
        /* stop when the best addition gains less than min_gain (relative) */
        if (out->n > 0 && !(best_ppl < cur * (1 - min_gain))) {
            out->rejected = best;
            out->rejected_ppl = best_ppl;
            break;
        }
        used[best] = 1;
        out->order[out->n] = best;
        out->ppl[out->n] = cur = best_ppl;
        out->n++;
        memcpy(out->w, best_w, (size_t)out->n * sizeof *best_w);
    }
    if (out->n == 0) return lmf_error(LMF_ERR_DATA, "every candidate gives some tuning token probability 0");
    if (out->n == K) out->rejected = -1;
    return LMF_OK;
}
