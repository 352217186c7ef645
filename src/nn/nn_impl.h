/* Private: neural-network kernels (src/nn/ops.c, src/nn/ops_t.h).  Every
 * element-wise kernel exists for float (_f32) and double (_f64); the double
 * versions let the tests check every backward against central finite
 * differences in double precision, and the float versions against them. */
#ifndef LMF_NN_IMPL_H
#define LMF_NN_IMPL_H

#include "lmf/common.h"
#include "lmf/io.h"
#include "lmf/model.h"
#include "lmf/text.h"

#include <stdint.h>
#include <string.h>

#define LMF_NN_MAX_LAYERS 16
enum { LMF_ARCH_RNN = 0, LMF_ARCH_LSTM, LMF_ARCH_GRU, LMF_ARCH_TRANSFORMER, LMF_ARCH_COUNT };
extern const char *const lmf_arch_names[LMF_ARCH_COUNT];
int lmf_arch_parse(const char *s); /* -1 if unknown */
/* Gates per recurrent unit: 1 (rnn), 4 (lstm), 3 (gru); 0 for the
 * Transformer.  The one table of them (rnnlm.c). */
int lmf_arch_gates(int arch);

#include "gemm.h" /* float and bfloat16 matrix products */
#include "head.h" /* the output layer */

/* A recurrent word model: embedding [V,E], L layers of G*H gates
 * (G = 1 rnn, 4 lstm, 3 gru), output layer [V,H] (the embedding when tied)
 * plus bias [V]. */
typedef struct lmf_rnn_cfg {
    int arch, L, E, H, V, tied;
    int C;                      /* output classes, 0 = full softmax */
    const int32_t *start, *cls; /* class ranges (borrowed) when C > 0 */
} lmf_rnn_cfg;
typedef struct lmf_rnn_params {
    float *emb, *wih[LMF_NN_MAX_LAYERS], *whh[LMF_NN_MAX_LAYERS], *bih[LMF_NN_MAX_LAYERS], *bhh[LMF_NN_MAX_LAYERS];
    float *dec_w, *dec_b, *cls_w, *cls_b;
} lmf_rnn_params;
/* The output layer of a recurrent model's parameters (or gradients). */
lmf_head lmf_rnn_head(const lmf_rnn_cfg *c, const lmf_rnn_params *p);
/* The parameters laid out in one block: returns the float count, and with
 * p sets each pointer into base (emb, per layer wih whh bih bhh, dec_b,
 * dec_w unless tied). */
size_t lmf_rnn_layout(const lmf_rnn_cfg *c, float *base, lmf_rnn_params *p);
/* A model over borrowed parameters and vocabulary (both must outlive it,
 * and the parameters must not change while it lives: it packs them for
 * its products, as a loaded model does). */
lmf_status lmf_rnn_wrap(const lmf_rnn_cfg *c, float *block, const lmf_vocab *v, lmf_model **out);
/* Adds the parameters under PyTorch's names, and lmfuse.arch. */
lmf_status lmf_rnn_add_tensors(lmf_st_writer *w, const lmf_rnn_cfg *c, const lmf_rnn_params *p);
/* The vocabulary as a JSON array (lmfuse.vocab); free with cJSON_free.
 * NULL on out of memory. */
char *lmf_vocab_json(const lmf_vocab *v);
/* The vocabulary of a model file (metadata lmfuse.vocab and
 * lmfuse.token_mode). */
lmf_status lmf_tf_load(const lmf_safetensors *st, const char *path, lmf_model **out);
lmf_status lmf_nn_load_vocab(const lmf_safetensors *st, const char *path, lmf_vocab **out);

#define LMF_OPS_DECL(T, S)                                                                                   \
    void lmf_matmul_forward_naive##S(T *out, const T *in, const T *w, const T *bias, int B, int Ni, int O);   \
    void lmf_matmul_backward_naive##S(T *din, T *dw, T *dbias, const T *dout, const T *in, const T *w, int B, \
                                      int Ni, int O);                                                         \
    void lmf_rnn_forward##S(T *h, const T *gi, const T *gh, int B, int H);                                   \
    void lmf_rnn_backward##S(T *dpre, const T *dh, const T *h, int B, int H);                                \
    void lmf_lstm_forward##S(T *h, T *c, T *act, T *tc, const T *gi, const T *gh, const T *c_prev, int B,     \
                             int H);                                                                         \
    void lmf_lstm_backward##S(T *dpre, T *dc_prev, const T *dh, const T *dc, const T *act, const T *tc,       \
                              const T *c_prev, int B, int H);                                                \
    void lmf_gru_forward##S(T *h, T *act, const T *gi, const T *gh, const T *h_prev, int B, int H);          \
    void lmf_gru_backward##S(T *dgi, T *dgh, T *dh_prev, const T *dh, const T *act, const T *gh,             \
                             const T *h_prev, int B, int H);                                                 \
    void lmf_xent_forward##S(T *loss, T *prob, const T *logits, const int32_t *target, int B, int V);        \
    void lmf_xent_backward##S(T *dlogits, const T *dloss, const T *prob, const int32_t *target, int B, int V);    \
    void lmf_layernorm_forward##S(T *y, T *mean, T *rstd, const T *x, const T *w, const T *b, int B, int C,      \
                                  T eps);                                                                      \
    void lmf_layernorm_backward##S(T *dx, T *dw, T *db, const T *dy, const T *x, const T *w, const T *mean,    \
                                   const T *rstd, int B, int C);                                               \
    void lmf_gelu_forward##S(T *y, const T *x, size_t n);                                                      \
    void lmf_gelu_backward##S(T *dx, const T *dy, const T *x, size_t n);                                       \
    void lmf_embed_forward##S(T *out, const T *table, const int32_t *ids, int B, int C);                       \
    void lmf_embed_backward##S(T *dtable, const T *dout, const int32_t *ids, int B, int C);                    \
    void lmf_attention_forward##S(T *out, T *att, const T *qkv, int B, int Tn, int C, int NH);                 \
    void lmf_attention_backward##S(T *dqkv, const T *dout, const T *qkv, const T *att, int B, int Tn, int C,   \
                                   int NH);

LMF_OPS_DECL(float, _f32)
LMF_OPS_DECL(double, _f64)

/* The fast float matmul (lmf_sgemm), same contract as the naive one. */
void lmf_matmul_forward_f32(float *out, const float *in, const float *w, const float *bias, int B, int Ni, int O);
/* The same from w packed beforehand (wp: lmf_sgemm_pack(1, O, Ni, w, Ni),
 * bit for bit the same on lmfuse's kernel); wp NULL: from w. */
void lmf_matmul_forward_wp(float *out, const float *in, const float *w, const float *wp, const float *bias, int B,
                           int Ni, int O);
/* Outputs [o0, o1) of a layer of O outputs: out [B, o1-o0] = in w[o0..o1)^T
 * + bias[o0..o1), from w packed whole (wp, as above) or from w. */
void lmf_matmul_forward_wp_cols(float *out, const float *in, const float *w, const float *wp, const float *bias,
                                int B, int Ni, int O, int o0, int o1);
void lmf_matmul_backward_f32(float *din, float *dw, float *dbias, const float *dout, const float *in,
                             const float *w, int B, int Ni, int O);

/* ln sum_v e^{z[v]} (max-shifted, vectorised; relative error ~1e-7). */
/* p[v] = e^d[v] for log-probs d (fast exp, relative error < 2e-7; ln 0 gives
 * e^-87); returns the entropy -sum p d, with the largest d and its first
 * index in *mx, *arg. */
double lmf_exp_entropy_f32(const float *d, int V, float *p, float *mx, int32_t *arg);
double lmf_logsumexp_f32(const float *z, int V);

/* One AdamW step as torch.optim.AdamW (decoupled weight decay, bias
 * correction; t is the 1-based step number). */
void lmf_adamw_step(float *p, float *m, float *v, const float *g, size_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int64_t t);
/* Scales the gradients (count arrays g[k] of n[k] floats) so that their
 * global L2 norm is at most max_norm (torch.nn.utils.clip_grad_norm_);
 * returns the norm before clipping. */
float lmf_clip_grad_norm(float *const *g, const size_t *n, int count, float max_norm);

#endif
