/* Private: numerical optimisers shared by the tuners (gate, stacking and
 * linear classifiers, calibration). */
#ifndef LMF_OPTIM_IMPL_H
#define LMF_OPTIM_IMPL_H

#include "lmf/common.h"

#include <stddef.h>

/* f(x) and its gradient (P values) at x; a non-finite value rejects x. */
typedef double (*lmf_objective_fn)(void *user, const double *x, double *grad);

/* Minimises f from x (P values, in place) by L-BFGS with memory 8 and a
 * backtracking (Armijo) line search; stops after max_iter iterations, when
 * an iteration gains less than min_gain, or when no step decreases f.
 * Returns the iterations run, or -1 when out of memory (x unchanged). */
int lmf_lbfgs(lmf_objective_fn f, void *user, size_t P, double *x, int max_iter, double min_gain);

/* Cholesky factor L (lower triangle, in place) of the symmetric n x n
 * matrix A; 0 if A is not positive definite.  Then L z = b and L^T z = b
 * (z may be b). */
int lmf_cholesky(double *A, int n);
void lmf_tri_lower_solve(const double *L, int n, const double *b, double *z);
void lmf_tri_upper_solve(const double *L, int n, const double *b, double *z);

/* Maximises a costly, possibly noisy or piecewise-constant f over the box
 * [lo, hi]^D by Bayesian optimisation: a Gaussian-process surrogate
 * (squared-exponential kernel, length scale 0.25 (hi - lo) sqrt(D), the
 * observations standardised, noise 1e-3) and expected improvement, each
 * next point the best of 2,000 candidates (uniform in the box, and half of
 * them near the best point so far).  The first point is x (the caller's
 * guess), then D + 1 uniform ones; budget evaluations in all (at most
 * LMF_BO_MAX_EVALS).  x gets the best point seen; returns its value, NAN on
 * out of memory.  Deterministic for a seed. */
typedef double (*lmf_bo_fn)(void *user, const double *x);
#define LMF_BO_MAX_EVALS 200
double lmf_bayesopt(lmf_bo_fn f, void *user, int D, double lo, double hi, int budget, uint64_t seed, double *x);

#endif
