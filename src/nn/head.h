/* Private: the output layer of every neural model (head.c), full or
 * class-factored softmax. */
#ifndef LMF_NN_HEAD_H
#define LMF_NN_HEAD_H

#include "lmf/common.h"
#include "lmf/io.h"

#include <stddef.h>
#include <stdint.h>

/* The output layer (head.c): full softmax (C = 0) or class-factored
 * softmax p(w|h) = p(c(w)|h) p(w|c(w),h) over C classes that are the id
 * ranges start[k] .. start[k+1]-1 (cls[v] = class of v).  Weights w [V,H]
 * (may be the tied embedding), b [V], class weights cw [C,H], cb [C].
 * The same struct holds gradients (D) in training.  wp: w packed for
 * lmf_sgemm_p (tb = 1, N = V, K = H) by a loaded model, used for the full
 * products when set (NULL: packed per call, the same sums). */
typedef struct lmf_head {
    int V, H, C;
    float *w, *b, *cw, *cb;
    const int32_t *start, *cls;
    const float *wp;
} lmf_head;
/* Scratch bytes the calls below need for N rows (train: lmf_head_train). */
size_t lmf_head_work_bytes(const lmf_head *h, int N, int train);
/* logp[i] = ln p(y[i] | X[i]) for N rows of X [N,H]. */
void lmf_head_score(const lmf_head *h, const float *X, int N, const int32_t *y, float *logp, void *work);
/* The whole next-token log distribution logp[V] for one row x [H]. */
void lmf_head_logprobs(const lmf_head *h, const float *x, float *logp, void *work);
/* Full log-distributions of N rows at once into logp[N x V] (work as for
 * lmf_head_score with N rows). */
void lmf_head_logprobs_batch(const lmf_head *h, const float *X, int N, float *logp, void *work);
/* Returns the sum of -ln p(y[i] | X[i]); adds scale times its gradients to
 * D's w, b, cw, cb and writes the gradient of X to dX [N,H].  bf16: a full
 * softmax's three matrix products in bfloat16 (lmf_gemm_bf16). */
double lmf_head_train(const lmf_head *P, const lmf_head *D, const float *X, const int32_t *y, int N, float scale,
                      float *dX, void *work, int bf16);
/* Classes of about equal sqrt-frequency mass over ids in order (count[V]);
 * sets start[0..C]; -1 unless 1 <= C <= V. */
int lmf_head_make_classes(const uint64_t *count, int V, int C, int32_t *start);
void lmf_head_fill_cls(const int32_t *start, int C, int32_t *cls);
/* Expected rows touched per token, C + E[|class of w|], under count. */
double lmf_head_cost(const int32_t *start, int C, const uint64_t *count);
/* Metadata lmfuse.classes: "[start_0,...,start_C]" (lmf_free) and its
 * parser, which checks it against the vocabulary size. */
char *lmf_head_classes_json(const int32_t *start, int C);
lmf_status lmf_head_parse_classes(const char *js, int V, const char *path, int32_t **start, int32_t **cls, int *C);
/* The classes of a model file (lmf_free both arrays); C = 0 and NULLs when
 * it has a full softmax. */
lmf_status lmf_head_read_classes(const lmf_safetensors *st, const char *path, int V, int32_t **start, int32_t **cls,
                                 int *C);
/* Records the classes in a file's metadata; nothing when C = 0. */
lmf_status lmf_head_write_classes(lmf_st_writer *w, const int32_t *start, int C);

#endif
