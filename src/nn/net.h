/* Private: a trainable network as the training loop (train.c) sees it.
 *
 * A net owns one block of parameters and one of gradients with the same
 * layout, so that the optimizer, gradient clipping and checkpoints treat
 * every architecture alike.  It trains on windows of B streams x T steps
 * (time-major: row t*B + b) and carries what it keeps across windows
 * (recurrent hidden state) itself; checkpoints save it. */
#ifndef LMF_NET_H
#define LMF_NET_H

#include "nn_impl.h"
#include "../core/util_impl.h"

#include <cblas.h>
#include <string.h>

typedef struct lmf_net_cfg {
    int arch;
    int L, E, H, V, tied;
    int heads, ff, ctx; /* Transformer */
    float dropout;
    int B, T; /* streams per window, steps per window */
    int C;    /* output classes (lmf_head), 0 = full softmax */
    const int32_t *start, *cls; /* class ranges, owned by the caller */
    int bf16;                   /* matrix products in bfloat16, float sums (lmf_gemm_bf16) */
} lmf_net_cfg;

#define LMF_NET_MAX_PARTS (2 * LMF_NN_MAX_LAYERS)

typedef struct lmf_net lmf_net;

/* A loss on the top layer's outputs, for window_top: Y [T*B, H] holds the
 * top states (time-major, row t*B + b: the last recurrent layer's hidden
 * state after step t, after dropout; the Transformer's final LayerNorm
 * output at position t).  Returns the loss; with dY non-NULL writes its
 * gradient dY [T*B, H] (every row, zeros where the loss does not look). */
typedef double (*lmf_net_top_fn)(void *ctx, const float *Y, int T, int B, int H, float *dY);

typedef struct lmf_net_ops {
    /* Forward and backward over one window of T <= cfg.T steps: x and y
     * hold T*B ids (time-major).  Gradients of scale * (sum of the
     * window's negative log-likelihoods) are added to net->grad; the sum
     * itself goes to *nll.  drop_key selects the dropout masks (0: no
     * dropout, as in evaluation). */
    lmf_status (*window)(lmf_net *n, const int32_t *x, const int32_t *y, int T, float scale, uint64_t drop_key,
                         double *nll);
    /* Forward over a window of T <= cfg.T steps of B = cfg.B streams x
     * (time-major) from a fresh state (zero hidden state, nothing carried
     * in or out), then the loss top(ctx, ...) on the top states instead of
     * the output layer.  backward: its gradients are added to net->grad
     * (the output layer's get none); else top gets dY = NULL and nothing
     * is added.  A stream's steps after the ones the loss looks at do not
     * change its earlier states (both kinds are causal), so shorter
     * streams can be padded with any id.  The loss goes to *loss. */
    lmf_status (*window_top)(lmf_net *n, const int32_t *x, int T, uint64_t drop_key, lmf_net_top_fn top, void *ctx,
                             int backward, double *loss);
    /* An inference model over the current parameters (borrowed). */
    lmf_status (*wrap)(lmf_net *n, const lmf_vocab *v, lmf_model **out);
    /* Adds the parameters to a writer under their file names. */
    lmf_status (*add_tensors)(lmf_net *n, lmf_st_writer *w);
    /* Reads the parameters from a model file of the same shape. */
    lmf_status (*load_tensors)(lmf_net *n, const lmf_safetensors *st, const char *path);
    /* The state carried across windows (zeroed at an epoch start, saved in
     * checkpoints): sets up to LMF_NET_MAX_PARTS arrays, returns the count. */
    int (*state_parts)(lmf_net *n, float **parts, size_t *sizes);
    void (*free)(lmf_net *n);
} lmf_net_ops;

struct lmf_net {
    const lmf_net_ops *ops;
    lmf_net_cfg cfg;
    float *param, *grad;
    size_t n_param;
    size_t n_body; /* the parameters below the output layer: a prefix of param (embedding and layers; a tied
                      embedding included) */
};

/* Creates a net with freshly initialised parameters (from seed) and
 * zero gradients and state. */
lmf_status lmf_rnn_net_new(const lmf_net_cfg *c, uint64_t seed, lmf_net **out);
lmf_status lmf_tf_net_new(const lmf_net_cfg *c, uint64_t seed, lmf_net **out);
/* The same for either kind (by c->arch); top_only: the net is trained
 * through window_top only, without the output layer's scratch (B*T x V
 * floats for a full softmax), and window refuses to run. */
lmf_status lmf_net_new(const lmf_net_cfg *c, uint64_t seed, int top_only, lmf_net **out);
lmf_status lmf_tf_net_new_top(const lmf_net_cfg *c, uint64_t seed, int top_only, lmf_net **out);

/* A file's metadata lmfuse.classes must equal the net's classes. */
lmf_status lmf_net_check_classes(const lmf_net *n, const lmf_safetensors *st, const char *path);

/* Row-major SGEMM, C = A' B' + beta C, A' = A or A^T (ta), B' likewise. */
#define LMF_GEMM(ta, tb, M, Nn, K, A, lda, Bm, ldb, beta, C, ldc) lmf_sgemm(ta, tb, M, Nn, K, A, lda, Bm, ldb, beta, C, ldc)

/* LMF_GEMM, or with bfloat16 products (lmf_gemm_bf16) when bf is set. */
#define LMF_GEMM_BF(bf, ta, tb, M, Nn, K, A, lda, Bm, ldb, beta, C, ldc)                 \
    do {                                                                                 \
        if (bf)                                                                          \
            lmf_gemm_bf16(ta, tb, M, Nn, K, A, lda, Bm, ldb, beta, C, ldc);              \
        else                                                                             \
            LMF_GEMM(ta, tb, M, Nn, K, A, lda, Bm, ldb, beta, C, ldc);                   \
    } while (0)
/* lmf_matmul_forward_f32 (out = in w^T + bias), in bfloat16 when bf is set. */
static inline void lmf_linear_forward(int bf, float *out, const float *in, const float *w, const float *bias, int B,
                                      int Ni, int O) {
    if (!bf) {
        lmf_matmul_forward_f32(out, in, w, bias, B, Ni, O);
        return;
    }
    if (bias)
        for (int b = 0; b < B; b++) memcpy(out + (size_t)b * O, bias, (size_t)O * sizeof *out);
    lmf_gemm_bf16(0, 1, B, O, Ni, in, Ni, w, Ni, bias ? 1.0f : 0.0f, out, O);
}

/* ---- shared helpers (train_util in rnn_train.c) ---- */
/* Dropout multipliers: mask[i] = 0 with probability p, else 1/(1-p),
 * a pure function of (key, i) so that a resumed run draws the same masks. */
void lmf_dropout_mask(float *mask, size_t n, float p, uint64_t key);
/* Row-wise softmax cross-entropy in place: z[N,V] logits become
 * scale * (softmax - onehot(y)); returns the sum of -ln softmax[y]. */
double lmf_softmax_xent_f32(float *z, const int32_t *y, int N, int V, float scale);
/* The same over logits z + bias[V], with the gradient written as bfloat16
 * in place (row r's V values start at (uint16_t *)(z + r V), for
 * lmf_gemm_bf16a with lda = 2V); dbias[V] += its column sums. */
double lmf_softmax_xent_bf16(float *z, const float *bias, const int32_t *y, int N, int V, float scale, float *dbias);
/* out[V] += column sums of d[N,V]. */
void lmf_colsum_add(float *out, const float *d, int N, int V);

/* ---- classification on a net's top states (cls_top.c) ----
 * A document is a stream: its rows t = 0..len-1 of the window (row
 * t*B + b of stream b).  Pooling "mean" averages its top states, "last"
 * takes the one after its last token.  Logits W pooled + b
 * over C classes, softmax cross-entropy. */
#define LMF_CLS_TOP_MAX_C 4096 /* LMF_MAX_CLASSES */
typedef struct lmf_cls_top {
    int C, pool;        /* classes; pooling: 0 mean, 1 last (lmf_pooling of lmf/classify.h) */
    const float *W, *b; /* [C,H], [C] */
    float *dW, *db;     /* their gradients, added to when the net asks for dY */
    const int32_t *len; /* [B] the documents' rows (0: an empty slot, ignored) */
    const int32_t *y;   /* [B] gold classes; NULL: no loss (0 is returned) */
    float scale;        /* the gradients are scale times those of the summed loss */
    float *logp;        /* [B,C] out: ln p(c | document), rows of empty slots untouched (may be NULL) */
    float *pooled;      /* [B,H] scratch */
} lmf_cls_top;
/* An lmf_net_top_fn over ctx = lmf_cls_top: returns the summed -ln p(y|d)
 * of the non-empty slots. */
double lmf_cls_top_loss(void *ctx, const float *Y, int T, int B, int H, float *dY);

/* A net shaped as the neural LM file st (path for messages): architecture,
 * sizes, vocabulary (*vocab, owned by the caller) and output classes
 * (*start, *cls: owned by the caller, to outlive the net; NULL with a full
 * softmax) from the file, its parameters loaded; B, T, dropout and top_only
 * as given.  Errors name the file and the tensor or metadata key. */
lmf_status lmf_net_from_file(const lmf_safetensors *st, const char *path, int B, int T, float dropout, int top_only,
                             lmf_net **out, lmf_vocab **vocab, int32_t **start, int32_t **cls);

#endif
