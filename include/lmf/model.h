/* lmfuse model interface: the one small vtable every model implements
 * (n-gram, neural, cache, and fused ensembles), so that scoring, fusion and
 * decoding are written once and ensembles nest.
 *
 * Units: every probability crossing this interface is a natural log.
 * Vocabulary: a model predicts ids 0..V-1 of lmf_model_vocab(m) (see
 * lmf/text.h); <s> (id V) is context only.
 * State: an lmf_state is the model's memory of the history (n-gram context,
 * recurrent hidden state, Transformer KV cache).  A fresh or reset state is
 * at the beginning of a line (as if after <s>).  Feeding LMF_EOS ends a line;
 * what the model carries across lines is its own choice (n-grams restart at
 * <s>; neural models may carry their hidden state).
 */
#ifndef LMF_MODEL_H
#define LMF_MODEL_H

#include "lmf/common.h"
#include "lmf/text.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmf_model lmf_model;
typedef struct lmf_state lmf_state;

/* Loads any model file lmfuse knows: ARPA (plain or gzip-compressed),
 * lmfuse binary n-gram (.lmfb), neural models in safetensors (lmf/nn.h), and
 * JSON files by their "lmfuse" field: recipes (the default when the field is
 * missing) and continuous caches (lmf/fuse.h).  The type is detected from the file's first
 * bytes.  Only regular files are read (a device, FIFO or folder is refused: /dev/zero would never end).
 * *out is NULL on error (message names the file and line, and for a file that is no model, what it
 * looks like and what was expected).  Implemented by the loader registry
 * (src/load), which sits above every model family. */
lmf_status lmf_model_load(const char *path, lmf_model **out);
void lmf_model_free(lmf_model *m);

/* Short kind name: "ngram", ... */
const char *lmf_model_kind(const lmf_model *m);
/* The vocabulary the model predicts over (owned by the model). */
const lmf_vocab *lmf_model_vocab(const lmf_model *m);
/* A one-line human description (order, sizes). */
void lmf_model_describe(const lmf_model *m, char *buf, size_t bufsize);

/* ---- incremental state (decoding) ---- */
lmf_state *lmf_state_new(const lmf_model *m);  /* NULL on out of memory */
void lmf_state_free(const lmf_model *m, lmf_state *s);
void lmf_state_reset(const lmf_model *m, lmf_state *s);
lmf_status lmf_state_copy(const lmf_model *m, lmf_state *dst, const lmf_state *src);
/* Advances the state by one observed token (0 <= tok < V). */
lmf_status lmf_model_feed(lmf_model *m, lmf_state *s, int32_t tok);
/* Writes the next-token log-distribution given the state: logp[0..V). */
lmf_status lmf_model_next(lmf_model *m, const lmf_state *s, float *logp);

/* ---- batched scoring (the fast path) ----
 * logp[t] = ln p(tok[t] | history), for t in 0..n, starting from state `s`
 * (NULL = a fresh state) and advancing it past the tokens. */
lmf_status lmf_model_score(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *logp);

/* Scores several independent streams in one call (neural models batch them:
 * B streams x T steps).  st may be NULL (fresh states) or hold nstreams
 * states. */
lmf_status lmf_model_score_batch(lmf_model *m, lmf_state **st, const int32_t *const *tok, const size_t *n,
                                 size_t nstreams, float *const *logp);

/* Full next-token distributions before each of n tokens: out[t*V + w] =
 * ln p(w | history up to t), then advances past tok[t].  Callers stream long
 * texts through this in chunks of n positions, so memory stays n*V floats. */
lmf_status lmf_model_dists(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *out);

/* ---- hidden states (neural models) ----
 * The size D of the vector a model predicts from (the top layer's state of
 * an RNN, the final layer-norm output of a Transformer); 0 when the model has
 * none (n-gram, cache, fused). */
int lmf_model_hidden_dim(const lmf_model *m);
/* Writes n+1 rows of D floats: row t (t < n) is the vector that predicts
 * tok[t], row n the one that predicts the token after them; advances the
 * state past the n tokens (n = 0: only the current vector).  Cheaper than
 * scoring: the output layer is not run. */
lmf_status lmf_model_hidden(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *h);

#ifdef __cplusplus
}
#endif
#endif
