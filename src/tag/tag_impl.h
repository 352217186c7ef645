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

/* ---- the tagger object (tagger.c) ---- */
typedef struct lmf_tagger_ops {
    lmf_status (*run)(lmf_tagger *t, const char *const *words, size_t n, int *best, float *logp);
    /* adds the kind's tensors and metadata (the tags and words are added by tagger.c) */
    lmf_status (*save)(const lmf_tagger *t, lmf_st_writer *w, void **keep);
    void (*free_impl)(void *impl);
} lmf_tagger_ops;

struct lmf_tagger {
    lmf_tagger_kind kind;
    const lmf_tagger_ops *ops;
    void *impl;
    lmf_strtab tags;  /* in byte order of the names */
    lmf_strtab words; /* every word seen in training, as written */
    size_t max_len;
};

/* A tagger of `kind` with the tags and words of a training corpus (tags
 * sorted); impl and ops are the caller's to set. */
lmf_status lmf_tagger_base_new(lmf_tagger_kind kind, const lmf_tagged *train, lmf_tagger **out);

/* Per-kind training and loading (hmm.c, perceptron.c). */
lmf_status lmf_hmm_train(lmf_tagger *t, const lmf_tagger_opts *o, const lmf_tagged *train);
lmf_status lmf_hmm_load(lmf_tagger *t, const lmf_safetensors *st, const char *path);
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
