/* Bayesian optimisation (optim_impl.h): a Gaussian process over the points
 * evaluated so far and expected improvement (Jones, Schonlau and Welch
 * 1998) to choose the next one. */
#include "optim_impl.h"
#include "util_impl.h"

#include <math.h>
#include <string.h>

/* A uniform double in [0, 1) from a 64-bit counter. */
static double unif(uint64_t *s) { return (double)(lmf_mix64(++*s) >> 11) * (1.0 / 9007199254740992.0); }

static double kern(const double *a, const double *b, int D, double inv2l2) {
    double d2 = 0;
    for (int j = 0; j < D; j++) d2 += (a[j] - b[j]) * (a[j] - b[j]);
    return exp(-d2 * inv2l2);
}

double lmf_bayesopt(lmf_bo_fn f, void *user, int D, double lo, double hi, int budget, uint64_t seed, double *x) {
    enum { CAND = 2000 };
    const int N = budget < 1 ? 1 : budget > LMF_BO_MAX_EVALS ? LMF_BO_MAX_EVALS : budget;
    double *X = (double *)lmf_malloc((size_t)N * (size_t)D * sizeof *X), *y = (double *)lmf_malloc((size_t)N * sizeof *y);
    double *L = (double *)lmf_malloc((size_t)N * (size_t)N * sizeof *L), *alpha = (double *)lmf_malloc(3 * (size_t)N * sizeof *alpha);
    double *c = (double *)lmf_malloc(2 * (size_t)D * sizeof *c);
    if (!X || !y || !L || !alpha || !c) {
        lmf_free(X), lmf_free(y), lmf_free(L), lmf_free(alpha), lmf_free(c);
        return NAN;
    }
    double *kv = alpha + N, *z = kv + N, *best_c = c + D;
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL;
    const double len = 0.25 * (hi - lo) * sqrt((double)D), inv2l2 = 1 / (2 * len * len);
    int n = 0, best = 0;
    for (; n < N; n++) {
        double *xn = X + (size_t)n * D;
        if (n == 0) {
            memcpy(xn, x, (size_t)D * sizeof *xn);
        } else if (n <= D + 1) { /* a uniform start */
            for (int j = 0; j < D; j++) xn[j] = lo + (hi - lo) * unif(&s);
        } else { /* the surrogate: standardised y, alpha = K^-1 y */
            double mean = 0, var = 0;
            for (int i = 0; i < n; i++) mean += y[i];
            mean /= n;
            for (int i = 0; i < n; i++) var += (y[i] - mean) * (y[i] - mean);
            double sd = sqrt(var / n);
            if (!(sd > 0)) sd = 1;
            for (int i = 0; i < n; i++) {
                for (int k = 0; k <= i; k++) L[i * n + k] = L[k * n + i] = kern(X + (size_t)i * D, X + (size_t)k * D, D, inv2l2);
                L[i * n + i] += 1e-3;
                z[i] = (y[i] - mean) / sd;
            }
            if (!lmf_cholesky(L, n)) break; /* cannot happen with the noise term; stop with what we have */
            lmf_tri_lower_solve(L, n, z, kv);
            lmf_tri_upper_solve(L, n, kv, alpha);
            const double ybest = (y[best] - mean) / sd;
            double best_ei = -1;
            for (int t = 0; t < CAND; t++) {
                const double *xb = X + (size_t)best * D;
                for (int j = 0; j < D; j++) {
                    double v = t % 2 ? xb[j] + 0.1 * (hi - lo) * (unif(&s) + unif(&s) + unif(&s) - 1.5)
                                     : lo + (hi - lo) * unif(&s);
                    c[j] = v < lo ? lo : v > hi ? hi : v;
                }
                double mu = 0;
                for (int i = 0; i < n; i++) mu += (kv[i] = kern(c, X + (size_t)i * D, D, inv2l2)) * alpha[i];
                lmf_tri_lower_solve(L, n, kv, z);
                double v2 = 1 + 1e-3;
                for (int i = 0; i < n; i++) v2 -= z[i] * z[i];
                double sg = sqrt(v2 > 1e-12 ? v2 : 1e-12), u = (mu - ybest - 0.01) / sg;
                double ei = sg * (u * 0.5 * erfc(-u / sqrt(2)) + exp(-0.5 * u * u) * 0.3989422804014327 /* 1 / sqrt(2 pi) */);
                if (ei > best_ei) best_ei = ei, memcpy(best_c, c, (size_t)D * sizeof *c);
            }
            memcpy(xn, best_c, (size_t)D * sizeof *xn);
        }
        y[n] = f(user, xn);
        if (!isfinite(y[n])) { /* a failed point: below every other */
            double mn = 0;
            for (int i = 0; i < n; i++) mn = i == 0 || y[i] < mn ? y[i] : mn;
            y[n] = mn - 1;
        }
        if (y[n] > y[best]) best = n;
    }
    memcpy(x, X + (size_t)best * D, (size_t)D * sizeof *x);
    double v = y[best];
    lmf_free(X), lmf_free(y), lmf_free(L), lmf_free(alpha), lmf_free(c);
    return v;
}
