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

#endif
