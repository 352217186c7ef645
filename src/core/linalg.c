/* Small dense linear algebra for the optimisers (optim_impl.h). */
#include "optim_impl.h"

#include <math.h>

int lmf_cholesky(double *A, int n) {
    for (int j = 0; j < n; j++) {
        double d = A[j * n + j];
        for (int k = 0; k < j; k++) d -= A[j * n + k] * A[j * n + k];
        if (!(d > 0)) return 0;
        d = sqrt(d);
        A[j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double v = A[i * n + j];
            for (int k = 0; k < j; k++) v -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = v / d;
        }
    }
    return 1;
}

void lmf_tri_lower_solve(const double *L, int n, const double *b, double *z) {
    for (int i = 0; i < n; i++) {
        double v = b[i];
        for (int k = 0; k < i; k++) v -= L[i * n + k] * z[k];
        z[i] = v / L[i * n + i];
    }
}

void lmf_tri_upper_solve(const double *L, int n, const double *b, double *z) {
    for (int i = n - 1; i >= 0; i--) {
        double v = b[i];
        for (int k = i + 1; k < n; k++) v -= L[k * n + i] * z[k];
        z[i] = v / L[i * n + i];
    }
}
