/* L-BFGS (Nocedal and Wright, Algorithm 7.4 with the two-loop recursion)
 * with a backtracking line search; see optim_impl.h. */
#include "optim_impl.h"
#include "util_impl.h"

#include <math.h>
#include <string.h>

int lmf_lbfgs(lmf_objective_fn fn, void *user, size_t P, double *th, int max_iter, double min_gain) {
    enum { M = 8 };
    double *mem = (double *)lmf_malloc((4 + 2 * M) * (P ? P : 1) * sizeof *mem);
    if (!mem) return -1;
    double *g = mem, *g2 = g + P, *x2 = g2 + P, *dir = x2 + P, *S = dir + P, *Y = S + M * P;
    double rho[M], al[M];
    int hist = 0, head = 0, it = 0;
    double f = fn(user, th, g);
    for (; it < max_iter; it++) {
        /* two-loop recursion: dir = -H g */
        for (size_t i = 0; i < P; i++) dir[i] = -g[i];
        for (int h = 0; h < hist; h++) {
            int j = (head - 1 - h + M) % M;
            double s = 0;
            for (size_t i = 0; i < P; i++) s += S[j * P + i] * dir[i];
            al[j] = rho[j] * s;
            for (size_t i = 0; i < P; i++) dir[i] -= al[j] * Y[j * P + i];
        }
        if (hist) {
            int j = (head - 1 + M) % M;
            double yy = 0, sy = 1 / rho[j];
            for (size_t i = 0; i < P; i++) yy += Y[j * P + i] * Y[j * P + i];
            for (size_t i = 0; i < P; i++) dir[i] *= sy / yy;
        }
        for (int h = hist - 1; h >= 0; h--) {
            int j = (head - 1 - h + M) % M;
            double s = 0;
            for (size_t i = 0; i < P; i++) s += Y[j * P + i] * dir[i];
            double be = rho[j] * s;
            for (size_t i = 0; i < P; i++) dir[i] += (al[j] - be) * S[j * P + i];
        }
        double slope = 0;
        for (size_t i = 0; i < P; i++) slope += g[i] * dir[i];
        if (!(slope < 0)) { /* not a descent direction: restart from the gradient */
            hist = 0;
            for (size_t i = 0; i < P; i++) dir[i] = -g[i];
            slope = 0;
            for (size_t i = 0; i < P; i++) slope -= g[i] * g[i];
            if (!(slope < 0)) break;
        }
        double step = hist ? 1 : 1 / sqrt(-slope), f2 = f;
        int ok = 0;
        for (int ls = 0; ls < 30; ls++, step *= 0.5) {
            for (size_t i = 0; i < P; i++) x2[i] = th[i] + step * dir[i];
            f2 = fn(user, x2, g2);
            if (isfinite(f2) && f2 <= f + 1e-4 * step * slope) {
                ok = 1;
                break;
            }
        }
        if (!ok) break;
        double sy = 0;
        for (size_t i = 0; i < P; i++) {
            S[(size_t)head * P + i] = x2[i] - th[i];
            Y[(size_t)head * P + i] = g2[i] - g[i];
            sy += S[(size_t)head * P + i] * Y[(size_t)head * P + i];
        }
        if (sy > 1e-20) {
            rho[head] = 1 / sy;
            head = (head + 1) % M;
            if (hist < M) hist++;
        }
        double gain = f - f2;
        memcpy(th, x2, P * sizeof *th);
        memcpy(g, g2, P * sizeof *g);
        f = f2;
        if (gain < min_gain) {
            it++;
            break;
        }
    }
    lmf_free(mem);
    return it;
}
