/* Private parts of the tag module: the string table, the tagger object and
 * its per-kind operations, the helpers that save and load the parts every
 * tagger file has. */
#ifndef LMF_TAG_IMPL_H
#define LMF_TAG_IMPL_H

#include "lmf/io.h"
#include "lmf/tag.h"

#include <stddef.h>
#include <stdint.h>

/* ---- strings to dense ids (strtab.c) ---- */
typedef struct lmf_strtab {
    char *arena; /* the strings, each NUL-terminated */
    size_t alen, acap;
    size_t *off; /* off[id]: start of string id in arena */
    int32_t n, cap;
    int32_t *slot; /* open addressing: id + 1, 0 = empty */
    size_t nslot;
} lmf_strtab;
/* Id of s[0..len) (added if new); -1 on out of memory. */
int32_t lmf_strtab_add(lmf_strtab *t, const char *s, size_t len);
int32_t lmf_strtab_find(const lmf_strtab *t, const char *s, size_t len); /* -1 if absent */
static inline const char *lmf_strtab_str(const lmf_strtab *t, int32_t id) { return t->arena + t->off[id]; }
void lmf_strtab_free(lmf_strtab *t);
/* The strings as one blob, NUL after each (for a U8 tensor); lmf_malloc'd. */
char *lmf_strtab_blob(const lmf_strtab *t, size_t *len);
/* Fills an empty table from such a blob; LMF_ERR_FORMAT (naming path and
 * what) on an empty string, a duplicate, a missing final NUL or, with
 * sorted, strings out of byte order. */
lmf_status lmf_strtab_from_blob(lmf_strtab *t, const void *blob, size_t len, int sorted, const char *path,
                                const char *what);

/* ---- linear models over hashed features (linmodel.c) ---- */
typedef struct lmf_fmap { /* 64-bit key -> row, open addressing */
    uint64_t *key;
    int32_t *val; /* row + 1; 0 = empty */
    size_t nslot, n;
} lmf_fmap;
int32_t lmf_fmap_find(const lmf_fmap *m, uint64_t k); /* -1 if absent */
/* The row of k, which becomes `next` if k is new; -1 on out of memory. */
int32_t lmf_fmap_add(lmf_fmap *m, uint64_t k, int32_t next);
void lmf_fmap_free(lmf_fmap *m);

/* A trained model: row r (feature keys[r]) holds (cls, w) pairs
 * [ptr[r], ptr[r+1]) in class order. */
typedef struct lmf_linmodel {
    int C;
    lmf_fmap map;
    int64_t nrow, *ptr;
    int32_t *cls;
    float *w;
    uint64_t *keys;
} lmf_linmodel;
/* score[c] += the weights of feature `key` (nothing if unknown). */
static inline void lmf_linmodel_add(const lmf_linmodel *m, uint64_t key, float *score) {
    const int32_t r = lmf_fmap_find(&m->map, key);
    if (r < 0) return;
    for (int64_t j = m->ptr[r]; j < m->ptr[r + 1]; j++) score[m->cls[j]] += m->w[j];
}
void lmf_linmodel_free(lmf_linmodel *m);
/* Tensors feat_key, feat_ptr, feat_tag, feat_w (the model must outlive the
 * write); loading checks every row against C classes. */
lmf_status lmf_linmodel_save(const lmf_linmodel *m, lmf_st_writer *w);
lmf_status lmf_linmodel_load(lmf_linmodel *m, int C, const lmf_safetensors *st, const char *path);

/* Training: rows made on demand, weights updated with lazy averaging. */
struct lmf_lintrainer_row;
typedef struct lmf_lintrainer {
    lmf_fmap map;
    struct lmf_lintrainer_row *rows;
    int64_t nrow, caprow;
    int64_t step; /* advance once per training instance (at most 2^31 - 1) */
} lmf_lintrainer;
int32_t lmf_lintrainer_row(lmf_lintrainer *tr, uint64_t key); /* made if new; -1 on out of memory */
static inline int32_t lmf_lintrainer_find(const lmf_lintrainer *tr, uint64_t key) { return lmf_fmap_find(&tr->map, key); }
void lmf_lintrainer_score(const lmf_lintrainer *tr, int32_t row, float *score); /* current weights; row -1: nothing */
int lmf_lintrainer_update(lmf_lintrainer *tr, int32_t row, int cls, float v); /* 0 on out of memory */
/* The averaged model (the trainer stays to be freed). */
lmf_status lmf_lintrainer_finish(lmf_lintrainer *tr, int C, lmf_linmodel *out);
void lmf_lintrainer_free(lmf_lintrainer *tr);

/* ---- the tagger object (tagger.c) ---- */
typedef struct lmf_tagger_ops {
    lmf_status (*run)(lmf_tagger *t, const char *const *words, size_t n, int *best, float *logp);
    /* adds the kind's tensors and metadata (the tags and words are added by tagger.c) */
    lmf_status (*save)(const lmf_tagger *t, lmf_st_writer *w, void **keep, const char *path);
    void (*free_impl)(void *impl);
} lmf_tagger_ops;

struct lmf_tagger {
    lmf_tagger_kind kind;
    const lmf_tagger_ops *ops;
    void *impl;
    lmf_strtab tags;  /* in byte order of the names */
    lmf_strtab words; /* every word seen in training, as written */
    size_t max_len;
    lmf_tagger_opts opts; /* how it was trained (hmm, perceptron): for training it again */
};

/* A tagger of `kind` with the tags and words of a training corpus (tags
 * sorted), or the tags of tagset (may be NULL; a tag set in byte order that
 * holds the corpus's tags: a fold's model keeps the whole's tag ids); impl
 * and ops are the caller's to set. */
lmf_status lmf_tagger_base_new(lmf_tagger_kind kind, const lmf_tagged *train, const lmf_strtab *tagset, lmf_tagger **out);

/* Whether two taggers have the same tags (names, in order). */
int lmf_tagger_same_tags(const lmf_tagger *a, const lmf_tagger *b);
/* A fusion or stack t over members: member 1's tags, the words any member
 * knows, the smallest of their sentence limits. */
lmf_status lmf_tagger_adopt(lmf_tagger *t, lmf_tagger *const *members, int K);

/* A tagger of t's kind and options trained on another corpus (out-of-fold
 * outputs for stacking). */
lmf_status lmf_tagger_retrain(const lmf_tagger *t, const lmf_tagged *train, lmf_tagger **out);

/* Out-of-fold outputs on train (stack.c): the sentences cut into `folds`
 * runs; for each, every member trained again (lmf_tagger_retrain) on the
 * other runs tags it.  best, conf: K rows of train's token count (the best
 * tag, its probability); known (may be NULL; same shape): whether that
 * fold's member knows the word. */
lmf_status lmf_tag_oof(lmf_tagger *const *members, int K, const lmf_tagged *train, int folds, int *best, float *conf,
                       unsigned char *known);
lmf_status lmf_stack_load(lmf_tagger *t, const lmf_safetensors *st, const char *path);
int lmf_stack_members(const lmf_tagger *t, lmf_tagger *const **members);

/* The corpus without sentences [s0, s1) (corpus.c): a view that shares c's
 * strings, valid while c is. */
lmf_status lmf_tagged_without(const lmf_tagged *c, size_t s0, size_t s1, lmf_tagged **out);

/* Fusion recipes (fusion.c). */
lmf_status lmf_tagger_fusion_save(const lmf_tagger *t, const char *path);
lmf_status lmf_tagger_fusion_load(const char *path, lmf_tagger **out);

/* Per-kind training and loading (hmm.c, perceptron.c). */
lmf_status lmf_hmm_train(lmf_tagger *t, const lmf_tagger_opts *o, const lmf_tagged *train);
lmf_status lmf_hmm_load(lmf_tagger *t, const lmf_safetensors *st, const char *path);
/* The best tag sequence under an HMM tagger's transitions for per-token
 * scores logq (n x T ln probabilities, e.g. a fusion's), each read as the
 * emission q(t)/P(t). */
lmf_status lmf_hmm_viterbi_scores(lmf_tagger *hmm, const float *logq, size_t n, int *best);
lmf_status lmf_neural_train(lmf_tagger *t, const lmf_tagger_opts *o, const lmf_tagged *train);
lmf_status lmf_neural_load(lmf_tagger *t, const lmf_safetensors *st, const char *path);
/* Tests: the summed loss of the first sentences of c (as many as the tagger's
 * batch) and its gradient divided by their token count in the parameters'
 * gradient arrays; the parameters: both nets' bodies, then the softmax layer. */
lmf_status lmf_neural_loss_grad(lmf_tagger *t, const lmf_tagged *c, double *loss);
lmf_status lmf_neural_params(lmf_tagger *t, float **p[3], float **g[3], size_t n[3]);
lmf_status lmf_perceptron_train(lmf_tagger *t, const lmf_tagger_opts *o, const lmf_tagged *train);
lmf_status lmf_perceptron_load(lmf_tagger *t, const lmf_safetensors *st, const char *path);

/* Tag ids of every token of a tagged corpus by t's tag set; lmf_malloc'd.
 * A tag t does not know is LMF_ERR_DATA naming file and line, or with
 * unseen (not NULL) the id -1, counted in *unseen. */
lmf_status lmf_tag_ids(const lmf_tagger *t, const lmf_tagged *c, int **ids, size_t *unseen);

/* Checked views of a tensor of a tagger file: exactly `numel` elements
 * (numel < 0: any) of dtype dt; errors name path and tensor. */
lmf_status lmf_tag_tensor(const lmf_safetensors *st, const char *path, const char *name, lmf_dtype dt, int64_t numel,
                          const lmf_st_tensor **out);

/* In-place ln-softmax of x[0..n) (double sums). */
void lmf_tag_log_softmax(float *x, int n);

#endif
