/* Private: the n-gram model's storage.
 *
 * Unigrams are dense arrays indexed by word id (0..V, V = <s>).  Orders
 * n >= 2 are open-addressing hash tables (linear probing) of 16-byte slots
 * keyed by a 64-bit hash of the n-gram (computed from the predicted word
 * leftwards, so that extending the context by one word is one mix step).
 * Keys are unique within an order (checked when the table is built; the seed
 * changes on a collision), key 0 marks an empty slot.  Next to each table,
 * the n-grams' word ids (n per entry) are kept for ARPA output. */
#ifndef LMF_NGRAM_IMPL_H
#define LMF_NGRAM_IMPL_H

#include "lmf/ngram.h"
#include "../model/model_impl.h"
#include "../core/util_impl.h"

#include <string.h>

/* Backoffs double as context flags: +0.0 means "not the context of any
 * longer n-gram and no backoff", so a query can drop the word from its state;
 * a context whose backoff is exactly 0 stores -0.0 (same value in sums). */
static inline int lmf_ngram_is_leaf(float bo) {
    uint32_t u;
    memcpy(&u, &bo, 4);
    return u == 0;
}

typedef struct lmf_ngram_slot {
    uint64_t key;
    float prob;    /* log10 */
    float backoff; /* log10; 0 if not a context */
} lmf_ngram_slot;

typedef struct lmf_ngram_table {
    lmf_ngram_slot *slots;
    uint64_t nslots; /* > count */
    uint64_t count;  /* entries */
    uint32_t *ids;   /* count * n word ids (may be NULL), sorted by word ids */
    int unsorted;    /* ids not sorted (binary files of early versions) */
} lmf_ngram_table;

struct lmf_ngram {
    lmf_model base; /* must be first */
    int order;
    lmf_vocab *vocab;
    uint64_t seed;
    float *uni_prob;    /* V+1 */
    float *uni_backoff; /* V+1 */
    lmf_ngram_table tab[LMF_NGRAM_MAX_ORDER + 1]; /* tab[n] for n = 2..order */
    /* when loaded from a binary file: the mapping owning slots/ids/unigrams */
    void *map;
    size_t map_len;
};

static inline uint64_t lmf_ngram_key1(uint64_t seed, uint32_t w) {
    return lmf_mix64(seed ^ ((uint64_t)w + 0x1234567ULL));
}
/* Extends key k (of an n-gram) by one word to its left. */
static inline uint64_t lmf_ngram_key_ext(uint64_t k, uint32_t w) {
    return lmf_mix64(k + ((uint64_t)w + 1) * 0x9e3779b97f4a7c15ULL);
}
/* Key of ids[0..n) (text order). */
static inline uint64_t lmf_ngram_key(uint64_t seed, const uint32_t *ids, int n) {
    uint64_t k = lmf_ngram_key1(seed, ids[n - 1]);
    for (int i = n - 2; i >= 0; i--) k = lmf_ngram_key_ext(k, ids[i]);
    return k ? k : 1;
}

/* Home slot of a key in a table of n slots (any n >= 1): the high bits of
 * key * n, so table sizes need not be powers of two. */
static inline uint64_t lmf_slot_home(uint64_t key, uint64_t n) {
    return (uint64_t)(((unsigned __int128)key * n) >> 64);
}

static inline const lmf_ngram_slot *lmf_ngram_find(const lmf_ngram_table *t, uint64_t key) {
    if (!key) key = 1;
    uint64_t n = t->nslots, i = lmf_slot_home(key, n);
    for (uint64_t probes = 0; probes < n; probes++) {
        const lmf_ngram_slot *s = &t->slots[i];
        if (s->key == key) return s;
        if (s->key == 0) return NULL;
        if (++i == n) i = 0;
    }
    return NULL;
}

/* The range [*lo, *hi) of n-grams in t's sorted id list (t->ids set and
 * sorted) whose first n-1 words are ctx[0..n-1) (text order). */
void lmf_ngram_prefix_range(const lmf_ngram_table *t, int n, const uint32_t *ctx, uint64_t *lo, uint64_t *hi);

/* N-gram lists for ARPA output: per order n >= 2, count[n] n-grams of n
 * word ids, sorted; values either from prob/backoff (log10, indexed through
 * perm when perm is non-NULL) or, when prob[n] is NULL, from the model's
 * tables. */
typedef struct lmf_ngram_lists {
    uint32_t *ids[LMF_NGRAM_MAX_ORDER + 1];
    uint64_t count[LMF_NGRAM_MAX_ORDER + 1];
    float *prob[LMF_NGRAM_MAX_ORDER + 1];
    float *backoff[LMF_NGRAM_MAX_ORDER + 1];
    uint32_t *perm[LMF_NGRAM_MAX_ORDER + 1];
} lmf_ngram_lists;
/* Writes ARPA from m's vocabulary and unigrams and the lists L. */
lmf_status lmf_ngram_write_arpa_lists(const lmf_ngram *m, const lmf_ngram_lists *L, const char *path);
/* Sorts count n-grams (n ids each) in place by word ids; *perm_out receives
 * sorted position -> old index (caller frees). */
lmf_status lmf_ngram_sort_ids(uint32_t *ids, uint64_t count, int n, uint32_t **perm_out);

/* Allocates an empty model shell for `vocab` (taken over) and `order`. */
lmf_ngram *lmf_ngram_alloc(lmf_vocab *vocab, int order);
/* Builds tables tab[n].slots from per-order id lists and values, for n >= 2:
 * ids[n] (counts[n] n-grams of n word ids), probs[n] and backoffs[n]
 * (counts[n] log10 floats each; backoffs[n] may be NULL).  Takes all three
 * over (sets them NULL): values are freed as soon as their order is built.
 * The lists end up sorted by word ids.  A duplicate n-gram is an
 * LMF_ERR_FORMAT error; a key collision changes the seed. */
lmf_status lmf_ngram_build_tables(lmf_ngram *m, uint32_t *ids[], const uint64_t counts[], float *probs[],
                                  float *backoffs[]);
/* Sets -0.0 on every context whose backoff is +0.0 (needs the id lists). */
void lmf_ngram_mark_contexts(lmf_ngram *m);
/* Number of hash slots for `count` entries. */
uint64_t lmf_ngram_nslots(uint64_t count);

#endif
