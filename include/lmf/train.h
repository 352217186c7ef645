/* lmfuse training: neural word language models trained on a text file.
 *
 * The training text is one token stream (every line's tokens followed by
 * </s>, the whole stream preceded by one </s>), cut into `batch` equal
 * columns.  Each step reads a window of `bptt` tokens of every column
 * (recurrent models carry their hidden state from window to window and
 * reset it at each epoch start).  The loss of a step is the summed
 * cross-entropy of its window divided by batch * bptt, so a short last
 * window weighs in proportion to its tokens.  AdamW (decoupled weight
 * decay), gradient-norm clipping, linear warm-up, then cosine decay or
 * reduce-on-plateau.  Validation after every epoch keeps the best model in
 * `out`; a checkpoint (weights, optimizer, carried state, progress) is
 * written every `checkpoint_every` steps and after each epoch, and
 * `resume` continues one: with the same thread count the resumed run ends
 * with exactly the weights of an uninterrupted run.
 */
#ifndef LMF_TRAIN_H
#define LMF_TRAIN_H

#include "lmf/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a progress callback sees (lmf_train_opts.on_progress). */
typedef struct lmf_train_progress {
    int epoch, epochs;         /* current epoch (1-based) and planned */
    int64_t step, total_steps; /* steps done in all, planned in all */
    double train_ppl;          /* this epoch so far */
    double valid_ppl;          /* the last validation's (0 before the first) */
    double tokens_per_s;       /* training throughput so far */
    int validating;            /* 1: called as the epoch's validation starts */
} lmf_train_progress;

typedef struct lmf_train_opts {
    const char *arch;        /* "rnn", "lstm", "gru", "transformer" (default "lstm") */
    int layers;              /* default 2 */
    int hidden;              /* default 256 */
    int emb;                 /* default 256 */
    int tied;                /* tie input and output embeddings (needs emb == hidden); default 0 */
    float dropout;           /* default 0.2 */
    int classes;             /* output layer: 0 = full softmax (default); C > 0 = class-factored softmax over C
                                frequency classes (exact probabilities, ~sqrt(V) is fastest) */
    int bf16;                /* full softmax: training's matrix products (output layer, input projections,
                                weight gradients, the Transformer's linear layers, the LSTM's recurrent steps)
                                in bfloat16 with float sums (needs a CPU with AVX512_BF16; weights, optimizer
                                and evaluation stay float); default 0 */
    int heads, ff, ctx;      /* transformer: attention heads (4), MLP width (4 * hidden), context = training
                                window (64; replaces bptt) */
    int batch;               /* default 32 */
    int bptt;                /* default 35 */
    int epochs;              /* default 3 */
    int threads;             /* BLAS threads; default 1 */
    uint64_t seed;           /* default 1 */
    double lr;               /* peak learning rate; default 2e-3 */
    double lr_min;           /* cosine floor; default 0 */
    double clip;             /* max gradient norm, 0 = off; default 0.25 */
    double weight_decay;     /* AdamW; default 0 */
    double beta1, beta2, eps; /* default 0.9, 0.999, 1e-8 */
    int warmup;              /* linear warm-up steps; default 0 */
    const char *schedule;    /* "plateau" (default: constant until validation stops improving), "cosine" or "constant" */
    double plateau_factor;   /* lr multiplier when validation does not improve; default 0.25 */
    int patience;            /* stop after this many epochs without improvement; 0 = never; default 0 */
    const char *train, *valid; /* text files (valid may be NULL: no validation, last epoch kept) */
    const char *vocab;       /* vocabulary file (lmfuse vocab build); NULL = every token of train */
    const char *out;         /* best model (safetensors) */
    const char *checkpoint;  /* default: out + ".ckpt" */
    const char *resume;      /* checkpoint to continue (its settings win) */
    const char *init;        /* optional model file to start from (same architecture and sizes); when its
                                vocabulary differs from the training text's, the words both know keep its
                                embedding and output rows, new words get fresh rows, its other words are
                                dropped (domain adaptation) */
    int checkpoint_every;    /* steps; default 500; 0 = only after epochs */
    int64_t max_steps;       /* stop after this many steps in all (0 = no limit) */
    const char *loss_log;    /* optional TSV: step, window loss, gradient norm, learning rate */
    double log_seconds;      /* progress line interval; default 10; < 0 = none.  The lines go to the log
                                callback (lmf_set_log) at LMF_LOG_INFO, below the default level */
    void (*on_progress)(void *user, const lmf_train_progress *p); /* optional: after every step, before and
                                                                    after every validation */
    void *progress_user;
} lmf_train_opts;

void lmf_train_opts_init(lmf_train_opts *o);

/* Result of a run. */
typedef struct lmf_train_result {
    int epochs_done;
    int64_t steps;
    double best_valid_ppl; /* 0 without validation */
    int best_epoch;
    double seconds;        /* training time (this process) */
    double tokens_per_s;   /* training throughput (this process, excluding validation) */
} lmf_train_result;

/* Trains a model as described above.  Errors (bad options, unreadable
 * data, divergence) are reported through lmf_last_error(); on divergence
 * the last good checkpoint and the best model stay as they were. */
lmf_status lmf_train(const lmf_train_opts *o, lmf_train_result *res);

#ifdef __cplusplus
}
#endif
#endif
