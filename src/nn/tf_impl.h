/* Private: what the Transformer's model (transformer.c) and its trainer
 * (tf_train.c) share. */
#ifndef LMF_NN_TF_IMPL_H
#define LMF_NN_TF_IMPL_H

#include "net.h"

typedef struct tf_cfg {
    int L, d, NH, ff, ctx, V, tied;
    int C;                      /* output classes (lmf_head), 0 = full softmax */
    const int32_t *start, *cls; /* borrowed */
} tf_cfg;

typedef struct tf_params {
    float *tok, *pos;
    float *ln1w[LMF_NN_MAX_LAYERS], *ln1b[LMF_NN_MAX_LAYERS], *qkvw[LMF_NN_MAX_LAYERS], *qkvb[LMF_NN_MAX_LAYERS];
    float *projw[LMF_NN_MAX_LAYERS], *projb[LMF_NN_MAX_LAYERS], *ln2w[LMF_NN_MAX_LAYERS], *ln2b[LMF_NN_MAX_LAYERS];
    float *fcw[LMF_NN_MAX_LAYERS], *fcb[LMF_NN_MAX_LAYERS], *outw[LMF_NN_MAX_LAYERS], *outb[LMF_NN_MAX_LAYERS];
    float *lnfw, *lnfb, *headw, *headb, *clsw, *clsb;
} tf_params;

static inline lmf_head tf_head(const tf_cfg *c, const tf_params *p) {
    lmf_head h = {c->V, c->d, c->C, p->headw, p->headb, p->clsw, p->clsb, c->start, c->cls, NULL};
    return h;
}

/* The tensors in file and block order: name pattern, dims, pointer slot. */
typedef struct tf_tensor {
    char name[48];
    int ndim;
    int64_t d0, d1;
    float **slot;
} tf_tensor;
#define TF_MAX_TENSORS (12 * LMF_NN_MAX_LAYERS + 8)
#define TF_MAX_CTX 65536 /* positions a file or a trainer may have */
/* The tensors of c in file and block order, their slots in p; returns the
 * count (at most TF_MAX_TENSORS). */
int lmf_tf_tensors(const tf_cfg *c, tf_params *p, tf_tensor *t);

/* The parameters laid out in one block: returns the float count, and with
 * p sets each pointer into base (file order; head = tok_emb when tied). */
size_t lmf_tf_layout(const tf_cfg *c, float *base, tf_params *p);
/* Every tensor of the file into p (shapes checked), and the reverse. */
lmf_status lmf_tf_read_tensors(const tf_cfg *c, tf_params *p, const lmf_safetensors *st, const char *path);
lmf_status lmf_tf_add_tensors(lmf_st_writer *w, const tf_cfg *c, tf_params *p);
/* A model over a trainer's parameters (block, laid out as p) and
 * vocabulary, which must outlive it and not change while it lives (it
 * packs the weights, as a loaded model does): validation. */
lmf_status lmf_tf_wrap(const tf_cfg *c, const tf_params *p, float *block, const lmf_vocab *v, lmf_model **out);

/* Causal attention as training runs it (tf_train.c: per sequence and head,
 * the products in BLAS), the same contract as lmf_attention_forward_f32 /
 * backward (ops_t.h, the kernel the tests check by finite differences and
 * against PyTorch; tests/test_nn.c checks these against it).  dp: T x T
 * scratch. */
void lmf_tf_attn_forward(float *out, float *att, const float *qkv, int B, int T, int d, int NH);
void lmf_tf_attn_backward(float *dqkv, float *dp, const float *dout, const float *qkv, const float *att, int B, int T,
                          int d, int NH);

#endif
