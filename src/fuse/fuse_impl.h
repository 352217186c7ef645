/* Private: shared by the fusion sources (src/fuse). */
#ifndef LMF_FUSE_IMPL_H
#define LMF_FUSE_IMPL_H

#include "lmf/fuse.h"
#include "../model/load_ctx.h"

/* How deep recipes nest: recipe and cache files on the load chain, plus the
 * inline recipes inside them. */
#define LMF_RECIPE_MAX_DEPTH 16

/* For the loader registry (src/load), which reads and parses a JSON model
 * file and picks one of these by its "lmfuse" field.  root: the parsed file
 * (any JSON value; not kept); path: the file, for messages and its folder.
 * ctx: the context of the file that names this one (the registry's top
 * context for a file loaded on its own).  Members load through ctx->load;
 * a file already on ctx's chain (a recipe including itself) or a chain of
 * LMF_RECIPE_MAX_DEPTH files is refused.  *out is NULL on error.
 *   lmf_recipe_from_json: a recipe ("lmfuse": "recipe" or no "lmfuse");
 *   lmf_ncache_from_json: a continuous-cache file ("lmfuse": "cache"). */
struct cJSON;
lmf_status lmf_recipe_from_json(const lmf_load_ctx *ctx, const char *path, const struct cJSON *root, lmf_model **out);
lmf_status lmf_ncache_from_json(const lmf_load_ctx *ctx, const char *path, const struct cJSON *root, lmf_model **out);

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
