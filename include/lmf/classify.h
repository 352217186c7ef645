/* lmfuse document classification: labelled documents, classifiers that
 * give class probabilities (one interface, several kinds), their fusion
 * through the combiners of lmf/comb.h, and the metrics of the field.
 *
 * Labelled files follow fastText: one document per line,
 *   __label__NAME<space>document text
 * with the document's own line breaks and control bytes escaped as \n, \r,
 * \\ and \xHH (lmfuse data labelled writes them so).  Exactly one label per
 * line (single-label classification).  Class names are the labels of the
 * training file, sorted by byte value: class i is the i-th name. */
#ifndef LMF_CLASSIFY_H
#define LMF_CLASSIFY_H

#include "lmf/comb.h"
#include "lmf/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LMF_MAX_CLASSES 4096

/* ---- labelled documents ---- */
typedef struct lmf_docs {
    size_t n;
    char **text;    /* n documents, unescaped (line breaks are '\n'), NUL-terminated */
    size_t *len;    /* their lengths in bytes */
    int32_t *label; /* class of each (index into names; -1: unlabelled, lmf_docs_read_any) */
    size_t *line;   /* line of each in its file */
    int C;          /* classes */
    char **names;   /* C class names (without __label__), sorted */
    char *path;     /* the file read, for messages */
} lmf_docs;

/* Reads a labelled file.  classes: the class names a model knows (C of
 * them, sorted), or NULL to take the file's own labels as the classes (a
 * training file).  Errors name the file and line: a line without
 * __label__, two labels, an empty document, invalid UTF-8, a label not in
 * `classes`, no documents at all. */
lmf_status lmf_docs_read(const char *path, const char *const *classes, int C, lmf_docs *out);
/* The same for documents to classify: a line without __label__ is a
 * document whose label is unknown (label -1); classes are required. */
lmf_status lmf_docs_read_any(const char *path, const char *const *classes, int C, lmf_docs *out);
void lmf_docs_free(lmf_docs *d);
/* Documents per class (counts[C]). */
void lmf_docs_counts(const lmf_docs *d, size_t *counts);
/* The documents idx[0..m) of d, as a new set over the same classes (copies). */
lmf_status lmf_docs_subset(const lmf_docs *d, const size_t *idx, size_t m, lmf_docs *out);
/* a's documents then b's, as a new set (copies); both over the same
 * classes (an error otherwise).  Its path names both files ("A+B"). */
lmf_status lmf_docs_concat(const lmf_docs *a, const lmf_docs *b, lmf_docs *out);

/* ---- classifiers ---- */
typedef struct lmf_classifier lmf_classifier;

const char *lmf_classifier_kind(const lmf_classifier *c); /* "lm", "linear", "fusion", ... */
int lmf_classifier_classes(const lmf_classifier *c);
const char *lmf_classifier_class_name(const lmf_classifier *c, int i);
/* ln p(class | document) for each document: logp[i*C + c], rows normalised.
 * Documents are scored independently; progress (may be NULL) counts them. */
lmf_status lmf_classifier_predict(lmf_classifier *c, const lmf_docs *d, float *logp, lmf_progress_fn progress,
                                  void *user);
/* A one-line description. */
void lmf_classifier_describe(const lmf_classifier *c, char *buf, size_t n);
/* The same classifier kind and options trained again on other documents
 * (stacking's out-of-fold members).  valid may be NULL (no calibration or
 * regularisation choice then: the values this one chose are kept). */
lmf_status lmf_classifier_refit(const lmf_classifier *c, const lmf_docs *train, const lmf_docs *valid,
                                lmf_classifier **out);
/* Writes the classifier to path (JSON; large parameters go into files next
 * to it named path + ".NAME.EXT", written first), atomically. */
lmf_status lmf_classifier_save(const lmf_classifier *c, const char *path);
void lmf_classifier_free(lmf_classifier *c);

/* Loads a classifier file.  load_model opens the member models an LM
 * classifier names (lmf_model_load, or a loader with a context); user is
 * passed to it.  lmf_classifier_load (in the loader module) passes
 * lmf_model_load. */
typedef lmf_status (*lmf_model_loader_fn)(void *user, const char *path, lmf_model **out);
lmf_status lmf_classifier_load_with(const char *path, lmf_model_loader_fn load_model, void *user,
                                    lmf_classifier **out);
lmf_status lmf_classifier_load(const char *path, lmf_classifier **out);

/* ---- the LM classifier (Peng and Schuurmans 2003) ----
 * One language model per class; score_c(d) = ln P(c) + ln P_c(d) [/ tokens
 * with length_norm], ln P_c(d) the sum of the model's log-probabilities of
 * the document's tokens, each original line a sentence.  A word outside a
 * class model's vocabulary but known to another class's shares the
 * model's <unk> probability equally with the other such words, so every
 * class scores the same vocabulary (the words of all class models); a word
 * no class model knows would score alike under every class and is left
 * out.  Posteriors: softmax(a score + b) with a (temperature) and, with
 * Platt calibration, b (C biases) fitted on valid by maximum likelihood. */
typedef enum { LMF_CALIB_NONE = 0, LMF_CALIB_TEMPERATURE, LMF_CALIB_PLATT } lmf_calibration;
typedef struct lmf_lmclass_opts {
    int order;          /* n-gram order (default 3 for words, 5 for characters) */
    int chars;          /* 1: a character model (a document's characters as tokens, '_' for blanks) */
    int length_norm;    /* divide ln P_c(d) by the document's tokens (default 1: on the spam tasks it
                           cuts the test errors of a word 3-gram classifier from 72 to 15) */
    lmf_calibration calib; /* default temperature */
    const char *dir;    /* where to write the class models (lmf_classifier_save needs them on disk); NULL:
                           next to the classifier when saved */
} lmf_lmclass_opts;
void lmf_lmclass_opts_init(lmf_lmclass_opts *o);
/* Trains a Kneser-Ney n-gram per class on train, calibrates on valid (may
 * be NULL: a = 1, b = 0). */
lmf_status lmf_lmclass_train(const lmf_docs *train, const lmf_docs *valid, const lmf_lmclass_opts *o,
                             lmf_classifier **out);
/* An LM classifier over given class models (any lmf_model: n-gram,
 * neural, recipe), taking ownership of them (freed on failure too); prior
 * (C values summing to 1) from the training counts; paths (may be NULL)
 * are where the models live, for lmf_classifier_save. */
lmf_status lmf_lmclass_new(lmf_model **models, const char *const *paths, const char *const *names, int C,
                           const double *prior, const lmf_lmclass_opts *o, lmf_classifier **out);
/* Fits the calibration of an LM classifier on documents d (for lmf_lmclass_new). */
lmf_status lmf_lmclass_calibrate(lmf_classifier *c, const lmf_docs *d);

/* ---- the linear baseline ----
 * Multinomial logistic regression on hashed tf-idf features: word 1..2
 * grams and character 3..5 grams (of the lower-cased text, within words
 * padded by blanks), each hashed into 2^hash_bits buckets, tf = 1 + ln
 * count, idf = ln((1 + n) / (1 + df)) + 1 from train, each document's
 * vector L2-normalised; L2-regularised cross-entropy fitted by L-BFGS, the
 * regularisation chosen on valid from a grid. */
typedef struct lmf_linear_opts {
    int hash_bits;     /* default 20 */
    int word_max;      /* word n-grams 1..word_max (default 2; 0: none) */
    int char_min, char_max; /* character n-grams (default 3..5; 0: none) */
    double l2;         /* > 0: this value; 0: the best on valid of 1e-7..1e-1 (default 0) */
    int max_iter;      /* L-BFGS iterations (default 200) */
    int balanced;      /* each document's loss weighs n / (C n_c) for its class c (scikit-learn's
                          class_weight="balanced", for macro-F1); l2 then chosen by VALID's balanced
                          accuracy (mean recall over classes) */
} lmf_linear_opts;
void lmf_linear_opts_init(lmf_linear_opts *o);
lmf_status lmf_linear_train(const lmf_docs *train, const lmf_docs *valid, const lmf_linear_opts *o,
                            lmf_classifier **out);

/* ---- multinomial naive Bayes (src/classify/nb.c) ----
 * The LM classifier's order-1 cousin with Lidstone smoothing: p(w|c) =
 * (n_cw + alpha) / (n_c + alpha V) over the training words (split at
 * blanks, case kept; unseen words left out) and Bayes' rule with the
 * documents-per-class prior.  alpha > 0: this one; 0: the best valid
 * accuracy of 0.01, 0.03, 0.1, 0.3, 1 (0.1 without valid).  It is
 * scikit-learn's MultinomialNB on CountVectorizer(lowercase=False,
 * token_pattern=r"\S+") counts. */
lmf_status lmf_nb_train(const lmf_docs *train, const lmf_docs *valid, double alpha, lmf_classifier **out);

/* ---- the fine-tuned neural classifier ----
 * A neural LM's network (lmf/nn.h; trained by lmfuse train on unlabelled
 * text) reads each document; its top states are pooled and a softmax
 * layer W pooled + b gives the C class probabilities.  Network and layer
 * are trained together on the labelled documents (cross-entropy), from
 * the pretrained LM's weights (init) or, as the control, from random ones.
 * Pooling: "mean" averages the top states over the document's positions,
 * "last" takes the state after its last token (for a Transformer, the
 * last position's output).
 *
 * A document is read as lmfuse's text reader reads LM text: words split
 * at blanks (ASCII blanks and control bytes), each non-empty line followed
 * by </s>, the whole preceded by one </s> (a fresh state, as in LM
 * training); words outside the vocabulary are <unk>, and so are the words
 * "<s>" and "</s>".  Only a document's first max_tokens tokens are read
 * (a Transformer reads at most ctx - 1, the length of its position table
 * less the leading </s>).
 *
 * Training: epochs over the training documents in an order shuffled from
 * the seed, batches of `batch` documents, the loss their mean
 * cross-entropy; AdamW, gradient-norm clipping, the learning rate rising
 * linearly over the first 10% of the steps, then cosine decay to 0.
 * After each epoch the accuracy on valid; the weights of the best epoch
 * (ties: the lower valid cross-entropy) are kept (without valid: the
 * last).  The same seed and thread count give the same weights. */
typedef enum { LMF_POOL_MEAN = 0, LMF_POOL_LAST } lmf_pooling;
typedef struct lmf_nnclass_opts {
    const char *init;      /* a neural LM file (.safetensors, word tokens) to start from: architecture, sizes
                              and vocabulary come from it; NULL: random weights shaped by the fields below */
    lmf_pooling pooling;   /* default LMF_POOL_MEAN */
    int max_tokens;        /* tokens read per document (default 256) */
    int epochs;            /* default 4 */
    double lr;             /* peak learning rate (default 1e-3) */
    int batch;             /* documents per step (default 16) */
    uint64_t seed;         /* order, dropout masks, random weights (default 1) */
    int threads;           /* BLAS threads (default 1) */
    float dropout;         /* on the embeddings, between layers and on the top states (default 0.1) */
    double clip;           /* maximal gradient norm, 0 = off (default 1) */
    double weight_decay;   /* AdamW, decoupled (default 0) */
    /* random weights only (with init they come from the file): */
    const char *arch;      /* "rnn", "lstm", "gru" or "transformer" (default "lstm") */
    int layers, hidden, emb; /* default 1, 256, 256 (a Transformer's width is hidden; ff 4 x hidden, 4 heads,
                                ctx max_tokens + 1) */
    int min_count;         /* the vocabulary: words seen at least this often in train (default 2) */
} lmf_nnclass_opts;
void lmf_nnclass_opts_init(lmf_nnclass_opts *o);
/* Trains the classifier on train (valid may be NULL: no early stopping).
 * Errors: LMF_ERR_ARG (options; the message names the option),
 * LMF_ERR_IO / LMF_ERR_FORMAT (init: the file, tensor or metadata key),
 * LMF_ERR_DATA (divergence), LMF_ERR_NOMEM.  *out is NULL on error. */
lmf_status lmf_nnclass_train(const lmf_docs *train, const lmf_docs *valid, const lmf_nnclass_opts *o,
                             lmf_classifier **out);
/* For lmf_classifier_load (a file of kind "neural"): j is the file's JSON
 * object, dir its folder; the network is read from the side file the JSON
 * names (written by lmf_classifier_save as path + ".neural.safetensors"). */
struct cJSON;
lmf_status lmf_nnclass_load(const struct cJSON *j, const char *path, const char *dir, char **names, int C,
                            lmf_classifier **out);

/* ---- fusion of classifiers ----
 * K member classifiers over the same classes (same names, same order),
 * their class distributions combined per document by a combiner of
 * lmf/comb.h (documents are independent: no history is carried from one
 * to the next).  Takes ownership of the members (freed on failure too).
 * paths (may be NULL, or hold NULL entries) are the members' files, which
 * a saved fusion refers to; members without one are saved next to it as
 * path + ".memberK.json".  tuning_json (may be NULL): a JSON object kept
 * under "tuning" in the file. */
lmf_status lmf_cfuse_new(lmf_classifier **members, const char *const *paths, int K, const lmf_comb_opts *o,
                         const char *tuning_json, lmf_classifier **out);
/* The members of a fusion (NULL/0 for other kinds). */
int lmf_cfuse_members(const lmf_classifier *c, lmf_classifier *const **members);

/* ---- fitting fusions (src/classify/tune.c) ----
 * Member outputs are arrays lp[k] of n x C ln probabilities (rows of the
 * documents, as lmf_classifier_predict writes them), y the gold classes. */

/* Linear weights maximising the likelihood of y (EM), from equal weights. */
lmf_status lmf_cfuse_em_weights(const float *const *lp, int K, size_t n, int C, const int32_t *y, double *w);
/* Log-linear weights >= 0 maximising the likelihood of y (projected
 * gradient on the convex objective), from equal weights. */
lmf_status lmf_cfuse_geo_weights(const float *const *lp, int K, size_t n, int C, const int32_t *y, double *w);
/* A stacking meta-model (lmf_stack_params: W [C x KC], b [C]) fitted on
 * member outputs lp (out-of-fold ones for stacking, held-out ones for
 * blending) by L-BFGS with penalty l2/2 |W|^2, over the members'
 * probabilities or, with logp, their ln probabilities (lmf_stack_feature);
 * with balanced, each row's loss weighs n / (C n_c) for its class c, as
 * scikit-learn's class_weight="balanced" (for macro-F1).  classwise (Ting and
 * Witten 1999): class c's score b_c + sum_k W[c][kC + c] p_k(c) sees the
 * members' probabilities of c only (the other entries of W stay 0), K C + C
 * parameters instead of K C^2 + C: with 15 classes and 60 documents the
 * full model learnt the documents by heart; with 1,171 it used the genres'
 * confusions to advantage (methods stack/blend and stack-full/blend-full). */
lmf_status lmf_cfuse_fit_stack(const float *const *lp, int K, size_t n, int C, const int32_t *y, double l2,
                               int classwise, int logp, int balanced, double *W, double *b);
/* The folds of every cross-validation here, stratified and grouped: each
 * class's documents, in file order, are cut into k runs of ceil(n_c / k)
 * consecutive ones (class c's first run in fold c mod k, the next in the
 * next fold).  Consecutive documents of a labelled file often come from one
 * source (brown-genre's 200-word chunks of one text, about 11 per text):
 * split finer, a chunk's neighbours train the model that scores it.  With
 * blocks of 10 (before 2026-12-07) brown-genre's out-of-fold accuracy was
 * 0.63 for a model that scores 0.46 on test; with runs, 0.44-0.46, as
 * honest as held-out text.  Every class with k or more documents is in
 * every fold.  fold: n values in 0..k-1. */
void lmf_cfuse_folds(const int32_t *y, size_t n, int C, int k, int *fold);

/* Out-of-fold outputs on train: the documents split into `folds` parts
 * (lmf_cfuse_folds), each part predicted by
 * the member trained again (lmf_classifier_refit) on the other parts.
 * valid may be NULL: each fold's member then keeps this member's
 * hyper-parameters and calibration (much faster: the linear classifier's
 * regularisation grid is not searched again).  oof: n x C floats. */
lmf_status lmf_cfuse_oof(const lmf_classifier *member, const lmf_docs *train, const lmf_docs *valid, int folds,
                         float *oof, lmf_progress_fn progress, void *user);

/* Fusion methods by name (lmfuse classify fuse --method): average,
 * weighted (EM on valid), acc-weighted (weights = valid accuracy),
 * geometric, geo-weighted (log-linear weights on valid), max, vote
 * (majority), weighted-vote (votes weighted by valid accuracy),
 * threshold-vote, select (greedy forward selection with replacement,
 * Caruana et al. 2004, by valid accuracy), bo-weighted (an average whose
 * weights softmax(theta), theta in [-3, 3]^K, maximise valid macro-F1 by
 * Bayesian optimisation: 40 evaluations from equal weights), stack (class-wise meta-model
 * on the out-of-fold outputs on train), blend (class-wise meta-model on
 * valid), stack-full and blend-full (the meta-model over every member
 * probability of every class). */
#define LMF_CFUSE_NEEDS_VALID 1
#define LMF_CFUSE_NEEDS_OOF 2
int lmf_cfuse_method_needs(const char *method); /* LMF_CFUSE_NEEDS_* flags; -1 if unknown */
const char *lmf_cfuse_method_name(int i);       /* the i-th method, NULL past the end */
typedef struct lmf_cfuse_fit_opts {
    double threshold; /* threshold-vote (default 0.5) */
    double l2;        /* stack, blend: meta-model penalty (0: chosen from 1e-5..0.1 by 5-fold
                         cross-validation of the likelihood over the rows it is fitted on) */
    int meta_logp;    /* stack, blend: the meta-model over ln probabilities (lmf_stack_feature) */
    int balanced;     /* stack, blend: class-balanced loss (lmf_cfuse_fit_stack) */
} lmf_cfuse_fit_opts;
typedef struct lmf_cfuse_fit {
    lmf_comb_opts o; /* the combiner and its fitted settings (pointing into this struct) */
    char method[32];
    double w[LMF_FUSE_MAX_MEMBERS];
    double *W, *b; /* stack, blend: the meta-model (owned) */
    double l2;     /* stack, blend: its penalty */
    lmf_stack_params sp;
} lmf_cfuse_fit;
/* Fits a method on member outputs: valid_lp[k] (n_valid x C) with labels
 * valid_y, and for stack the out-of-fold outputs oof_lp[k] on train
 * (n_train x C, labels train_y).  fo may be NULL.  The result's o is
 * what lmf_cfuse_new and lmf_cfuse_apply take (valid while out lives). */
lmf_status lmf_cfuse_fit_method(const char *method, int K, int C, const float *const *valid_lp, const int32_t *valid_y,
                                size_t n_valid, const float *const *oof_lp, const int32_t *train_y, size_t n_train,
                                const lmf_cfuse_fit_opts *fo, lmf_cfuse_fit *out);
void lmf_cfuse_fit_free(lmf_cfuse_fit *f);
/* The fused outputs of member outputs lp[k] (n x C) under o: out n x C. */
lmf_status lmf_cfuse_apply(const lmf_comb_opts *o, int K, int C, const float *const *lp, size_t n, float *out);

/* Diversity of two members over documents with gold labels y: the share of
 * documents where their predictions differ, Yule's Q-statistic of their
 * correct/wrong outcomes, and the correlation of their errors (the
 * Pearson correlation of the 0/1 error indicators). */
typedef struct lmf_diversity {
    double disagreement, q, error_corr;
} lmf_diversity;
void lmf_cfuse_diversity(const float *a, const float *b, size_t n, int C, const int32_t *y, lmf_diversity *out);

/* Writes predictions as TSV, atomically (path "-": standard output): a
 * header "label" then the C class names, then per document the predicted
 * class (argmax, ties to the lower index) and p(class) for each class. */
lmf_status lmf_predictions_write(const char *path, char *const *names, int C, const float *logp, size_t n);

/* ---- metrics (scikit-learn's definitions) ----
 * Predictions are argmax_c logp (ties: the lowest class index).  Precision,
 * recall and F1 are 0 where undefined (zero_division=0); macro averages
 * over all C classes; micro F1 = accuracy for single-label data.  For two
 * classes: ROC-AUC of p(positive) (ties averaged), FP and FN, positive =
 * class 1. */
typedef struct lmf_cmetrics {
    int C;
    size_t n;
    double accuracy, macro_precision, macro_recall, macro_f1, micro_f1, weighted_f1, log_loss;
    double *precision, *recall, *f1; /* C each */
    size_t *support, *predicted;     /* C each */
    size_t *confusion;               /* C x C: rows gold, columns predicted */
    double roc_auc;                  /* two classes only (else NAN) */
    size_t fp, fn;
} lmf_cmetrics;
lmf_status lmf_cmetrics_compute(const int32_t *gold, const float *logp, size_t n, int C, lmf_cmetrics *out);
void lmf_cmetrics_free(lmf_cmetrics *m);

#ifdef __cplusplus
}
#endif
#endif
