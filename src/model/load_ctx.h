/* Private: the load context, handed down while a model file loads the model
 * files it names (a recipe's members, a continuous cache's neural model).
 *
 * Why it is declared here, in src/model: the registry that makes and fills
 * it (src/load) sits above every model family, and the loaders of composite
 * models (src/fuse's recipes and caches, later a classifier) sit below the
 * registry.  Both already stand on src/model, so declaring the context here
 * adds no dependency, and a composite loader reaches the registry only
 * through ctx->load, never by calling up into src/load (which would be a
 * cycle: load -> fuse -> load).  It is private, not in lmf/model.h:
 * applications load with lmf_model_load, and the context's fields may
 * change with the loaders.
 *
 * The stack of files being loaded is the chain of contexts through
 * `parent`, each on its loader's C stack: nothing to allocate or free, and
 * no thread-local state, so loads on different threads cannot meet. */
#ifndef LMF_LOAD_CTX_H
#define LMF_LOAD_CTX_H

#include "lmf/model.h"

typedef struct lmf_load_ctx lmf_load_ctx;
struct lmf_load_ctx {
    /* Loads the model file `path` (any format the registry knows; relative
     * paths against ctx->dir) as a member of the file ctx describes, so
     * that file's loader sees ctx as its parent.  *out is NULL on error. */
    lmf_status (*load)(const lmf_load_ctx *ctx, const char *path, lmf_model **out);
    const char *dir;            /* base folder of relative member paths; NULL: the working folder */
    const char *canon;          /* canonical path of the file being loaded; NULL at the top */
    const lmf_load_ctx *parent; /* the context of the file that names this one; NULL at the top */
    int depth;                  /* files on the chain (contexts with a canon); 0 at the top */
};

#endif
