/* Private: shared by the fusion sources (src/fuse). */
#ifndef LMF_FUSE_IMPL_H
#define LMF_FUSE_IMPL_H

#include "lmf/fuse.h"

#define LMF_RECIPE_MAX_DEPTH 16

/* maps[k][v] = member k's id of member 1's word v, or maps[k] = NULL when
 * the ids agree.  LMF_ERR_DATA (maps set so far must still be freed) unless
 * every member predicts over the same words as member 1. */
lmf_status lmf_fuse_vocab_maps(lmf_model *const *members, int K, int32_t **maps);

/* Runs gate fusion m over t from a fresh state and records, per position,
 * the raw (unstandardised) features phi[t*F ..] and each member's ln p(y_t)
 * in lp[k*n + t]. */
lmf_status lmf_gate_trace(lmf_model *m, const lmf_tokens *t, float *phi, float *lp, lmf_progress_fn progress,
                          void *user);

#endif
