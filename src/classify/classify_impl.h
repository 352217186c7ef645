/* Private: what a classifier kind provides (one file each in src/classify),
 * and helpers they share. */
#ifndef LMF_CLASSIFY_IMPL_H
#define LMF_CLASSIFY_IMPL_H

#include "lmf/classify.h"

#include <cjson/cJSON.h>
#include <string.h>

typedef struct lmf_classifier_ops {
    const char *kind;
    void (*free)(lmf_classifier *c);
    void (*describe)(const lmf_classifier *c, char *buf, size_t n);
    /* logp[i*C + c] for documents d (rows normalised) */
    lmf_status (*predict)(lmf_classifier *c, const lmf_docs *d, float *logp, lmf_progress_fn progress, void *user);
    lmf_status (*refit)(const lmf_classifier *c, const lmf_docs *train, const lmf_docs *valid, lmf_classifier **out);
    /* adds the kind's fields to the JSON object j; side files go to path + ".NAME.EXT" */
    lmf_status (*save)(const lmf_classifier *c, const char *path, cJSON *j);
} lmf_classifier_ops;

struct lmf_classifier {
    const lmf_classifier_ops *ops;
    int C;
    char **names; /* C class names, owned (one allocation: lmf_classifier_set_names) */
};

/* Copies the class names into c (freed by lmf_classifier_base_free). */
lmf_status lmf_classifier_set_names(lmf_classifier *c, const char *const *names, int C);
void lmf_classifier_base_free(lmf_classifier *c);

/* Loaders of the kinds: j is the whole file's object, dir the file's folder. */
lmf_status lmf_lmclass_load(const cJSON *j, const char *path, const char *dir, lmf_model_loader_fn load_model,
                            void *user, char **names, int C, lmf_classifier **out);
lmf_status lmf_linear_load(const cJSON *j, const char *path, const char *dir, char **names, int C,
                           lmf_classifier **out);
lmf_status lmf_nb_load(const cJSON *j, const char *path, const char *dir, char **names, int C, lmf_classifier **out);
lmf_status lmf_cfuse_load(const cJSON *j, const char *path, const char *dir, lmf_model_loader_fn load_model,
                          void *user, int depth, char **names, int C, lmf_classifier **out);
/* lmf_classifier_load_with at a nesting depth (fusions of fusions). */
#define LMF_CLASSIFIER_MAX_DEPTH 16
lmf_status lmf_classifier_load_depth(const char *path, lmf_model_loader_fn load_model, void *user, int depth,
                                     lmf_classifier **out);
/* The argmax of a row (ties: the lowest index). */
static inline int lmf_argmax_f(const float *x, int C) {
    int a = 0;
    for (int c = 1; c < C; c++)
        if (x[c] > x[a]) a = c;
    return a;
}

/* What separates words in documents: ASCII blanks and control bytes. */
static inline int lmf_doc_blank(unsigned char ch) { return ch <= 0x20 || ch == 0x7f; }
/* The next word of t[0..n) from *i: its start in *w, its length returned
 * (0: no more words); *i moves past it. */
static inline size_t lmf_doc_next_word(const char *t, size_t n, size_t *i, size_t *w) {
    size_t j = *i;
    while (j < n && lmf_doc_blank((unsigned char)t[j])) j++;
    *w = j;
    while (j < n && !lmf_doc_blank((unsigned char)t[j])) j++;
    *i = j;
    return j - *w;
}
/* The file name of a path (after its last '/'), for side files named
 * relative to the classifier file. */
static inline const char *lmf_base_name(const char *p) {
    const char *sl = strrchr(p, '/');
    return sl ? sl + 1 : p;
}

/* Softmax in place over C values (ln probabilities out). */
void lmf_log_softmax(float *x, int C);
/* Class weights cw[c] = n / (C' n_c) over the C' classes of labels y[0..n)
 * present (0 for an absent class): scikit-learn's class_weight="balanced",
 * mean 1 over the documents; for the class-balanced losses. */
void lmf_balanced_class_weights(const int32_t *y, size_t n, int C, double *cw);

/* ---- the linear classifier's internals (linear.c), for its tests ----
 * Seeds of lmf_hash_bytes for word n-grams (their words joined by one
 * blank) and for character n-grams. */
#define LMF_LINEAR_WORD_SEED 0x6c6d662d776f7264ULL /* "lmf-word" */
#define LMF_LINEAR_CHAR_SEED 0x6c6d662d63686172ULL /* "lmf-char" */
/* The tf-idf vector of text[0..len) under a linear classifier c (its
 * options and idf): *nnz entries, *ids ascending buckets, *vals their
 * values (L2 norm 1 unless empty); both lmf_malloc'd (NULL when nnz is 0),
 * the caller frees them. */
lmf_status lmf_linear_features(const lmf_classifier *c, const char *text, size_t len, uint32_t **ids, float **vals,
                               size_t *nnz);
/* The training objective over documents d with c's features: mean
 * cross-entropy + l2/2 |W|^2 at x = (W [C x 2^hash_bits] row-major, then
 * bias [C]) into *f, its gradient (same layout) into grad; the very code
 * L-BFGS minimises in training. */
lmf_status lmf_linear_objective(const lmf_classifier *c, const lmf_docs *d, double l2, const double *x, double *grad,
                                double *f);

#endif
