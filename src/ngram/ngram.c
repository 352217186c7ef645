/* The n-gram model: hashed tables, queries, and the model interface. */
#define _DEFAULT_SOURCE
#include "ngram_impl.h"

#include <math.h>
#include <string.h>
#include <sys/mman.h>

#define LN10 2.302585092994045684

uint64_t lmf_ngram_nslots(uint64_t count) {
    /* load factor <= 2/3 (KenLM's probing multiplier is 1.5) */
    return count + count / 2 + 2;
}

static const lmf_model_ops ngram_ops;

lmf_ngram *lmf_ngram_alloc(lmf_vocab *vocab, int order) {
    lmf_ngram *m = (lmf_ngram *)lmf_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->base.ops = &ngram_ops;
    m->base.vocab = vocab;
    m->vocab = vocab;
    m->order = order;
    m->seed = 0x5eed5eed12345678ULL;
    return m;
}

void lmf_ngram_free(lmf_ngram *m) {
    if (!m) return;
    if (m->map) {
        munmap(m->map, m->map_len);
    } else {
        lmf_free(m->uni_prob);
        lmf_free(m->uni_backoff);
        for (int n = 2; n <= LMF_NGRAM_MAX_ORDER; n++) {
            lmf_free(m->tab[n].slots);
            lmf_free(m->tab[n].ids);
        }
    }
    lmf_vocab_free(m->vocab);
    lmf_free(m);
}

lmf_model *lmf_ngram_model(lmf_ngram *m) { return m ? &m->base : NULL; }
lmf_ngram *lmf_ngram_from_model(lmf_model *m) {
    return (m && m->ops == &ngram_ops) ? (lmf_ngram *)m : NULL;
}
int lmf_ngram_order(const lmf_ngram *m) { return m->order; }
const lmf_vocab *lmf_ngram_vocab(const lmf_ngram *m) { return m->vocab; }
uint64_t lmf_ngram_count(const lmf_ngram *m, int n) {
    if (n < 1 || n > m->order) return 0;
    if (n == 1) return (uint64_t)lmf_vocab_size(m->vocab) + 1;
    return m->tab[n].count;
}

/* Sorts count n-grams of n word ids (ids[e*n .. e*n+n)) lexicographically
 * and returns the permutation in *perm_out (sorted position -> old index).
 * LSD radix sort over whole records {ids, old index}, so every pass reads
 * sequentially; one 16-bit digit per word when every id is below 65,536,
 * two otherwise. */
lmf_status lmf_ngram_sort_ids(uint32_t *ids, uint64_t count, int n, uint32_t **perm_out) {
    *perm_out = NULL;
    size_t w = (size_t)n + 1; /* record width in words */
    uint64_t c1 = count ? count : 1;
    uint32_t *a = (uint32_t *)lmf_malloc(c1 * w * sizeof *a);
    uint32_t *b = (uint32_t *)lmf_malloc(c1 * w * sizeof *b);
    uint32_t *hist = (uint32_t *)lmf_malloc(65536 * sizeof *hist);
    uint32_t *perm = (uint32_t *)lmf_malloc(c1 * sizeof *perm);
    if (!a || !b || !hist || !perm) {
        lmf_free(a);
        lmf_free(b);
        lmf_free(hist);
        lmf_free(perm);
        return lmf_error(LMF_ERR_NOMEM, "out of memory sorting %d-grams", n);
    }
    for (uint64_t e = 0; e < count; e++) {
        memcpy(a + e * w, ids + e * n, (size_t)n * sizeof *a);
        a[e * w + n] = (uint32_t)e;
    }
    /* the largest id present decides, not maxid alone: with a small
     * vocabulary only its buckets are cleared and summed in each pass */
    uint32_t top = 0;
    for (uint64_t e = 0; e < count * (uint64_t)n; e++) top = ids[e] > top ? ids[e] : top;
    const int digits = top < 65536 ? 1 : 2, nb = top < 65536 ? (int)top + 1 : 65536;
    for (int j = n - 1; j >= 0; j--) {
        for (int d = 0; d < digits; d++) {
            int shift = 16 * d;
            memset(hist, 0, (size_t)nb * sizeof *hist);
            for (uint64_t e = 0; e < count; e++) hist[(a[e * w + j] >> shift) & 0xffff]++;
            uint32_t sum = 0;
            for (int x = 0; x < nb; x++) {
                uint32_t c = hist[x];
                hist[x] = sum;
                sum += c;
            }
            for (uint64_t e = 0; e < count; e++) {
                const uint32_t *r = a + e * w;
                memcpy(b + (uint64_t)hist[(r[j] >> shift) & 0xffff]++ * w, r, w * sizeof *r);
            }
            uint32_t *x = a;
            a = b;
            b = x;
        }
    }
    for (uint64_t e = 0; e < count; e++) {
        memcpy(ids + e * n, a + e * w, (size_t)n * sizeof *a);
        perm[e] = a[e * w + n];
    }
    lmf_free(a);
    lmf_free(b);
    lmf_free(hist);
    *perm_out = perm;
    return LMF_OK;
}

/* "a b c" for messages. */
static void ngram_text(const lmf_ngram *m, const uint32_t *g, int n, lmf_buf *b) {
    for (int j = 0; j < n; j++) {
        size_t wl;
        const char *w = lmf_vocab_word(m->vocab, (int32_t)g[j], &wl);
        if (j) lmf_buf_append(b, " ", 1);
        lmf_buf_append(b, w, wl);
    }
    lmf_buf_append(b, "", 1);
}

/* Fills order n's table with seed m->seed, from values prob/bo (indexed
 * through perm) or, when old is non-NULL, from old's slots keyed with
 * old_seed.  The table is replaced only on success.  Returns 0, 1 on a
 * key collision, -1 on out of memory. */
static int fill_table(lmf_ngram *m, int n, const float *prob, const float *bo, const uint32_t *perm,
                      const lmf_ngram_table *old, uint64_t old_seed) {
    lmf_ngram_table *t = &m->tab[n];
    uint64_t ns = lmf_ngram_nslots(t->count);
    lmf_ngram_slot *slots = (lmf_ngram_slot *)lmf_calloc(ns, sizeof *slots);
    if (!slots) return -1;
    for (uint64_t e = 0; e < t->count; e++) {
        if (e + 16 < t->count) { /* independent inserts: prefetch ahead */
            uint64_t k2 = lmf_ngram_key(m->seed, t->ids + (e + 16) * (uint64_t)n, n);
            __builtin_prefetch(&slots[lmf_slot_home(k2, ns)], 1);
            if (!old) __builtin_prefetch(&prob[perm[e + 16]]);
        }
        const uint32_t *g = t->ids + e * (uint64_t)n;
        uint64_t key = lmf_ngram_key(m->seed, g, n);
        uint64_t i = lmf_slot_home(key, ns);
        while (slots[i].key && slots[i].key != key)
            if (++i == ns) i = 0;
        if (slots[i].key == key) {
            lmf_free(slots);
            return 1;
        }
        slots[i].key = key;
        if (old) {
            const lmf_ngram_slot *o = lmf_ngram_find(old, lmf_ngram_key(old_seed, g, n));
            LMF_ASSERT(o);
            slots[i].prob = o->prob;
            slots[i].backoff = o->backoff;
        } else {
            slots[i].prob = prob[perm[e]];
            slots[i].backoff = bo ? bo[perm[e]] : 0.0f;
        }
    }
    lmf_free(t->slots);
    t->slots = slots;
    t->nslots = ns;
    return 0;
}

lmf_status lmf_ngram_build_tables(lmf_ngram *m, uint32_t *ids[], const uint64_t counts[], float *probs[],
                                  float *backoffs[]) {
    for (int n = 2; n <= m->order; n++) {
        m->tab[n].ids = ids[n];
        ids[n] = NULL;
        m->tab[n].count = counts[n];
    }
    uint32_t *perm[LMF_NGRAM_MAX_ORDER + 1] = {0}; /* sorted entry -> caller's index */
    lmf_status s = LMF_OK;
    /* id lists in prefix order (by word id), as SRILM and KenLM write them
     * (IRSTLM refuses ARPA files whose n-grams are not grouped this way).
     * Sorting first also makes the table layout independent of the input
     * order, and puts duplicates next to each other. */
    for (int n = 2; n <= m->order && !s; n++) {
        lmf_ngram_table *t = &m->tab[n];
        s = lmf_ngram_sort_ids(t->ids, t->count, n, &perm[n]);
        for (uint64_t e = 1; e < t->count && !s; e++) {
            const uint32_t *g = t->ids + e * (uint64_t)n;
            if (memcmp(g - n, g, (size_t)n * sizeof *g)) continue;
            lmf_buf b = {0};
            ngram_text(m, g, n, &b);
            uint64_t a = perm[n][e - 1], c = perm[n][e];
            s = lmf_error(LMF_ERR_FORMAT, "duplicate %d-gram \"%s\" (entries %llu and %llu of the \\%d-grams: section)",
                          n, b.p ? b.p : "", (unsigned long long)(a < c ? a : c) + 1,
                          (unsigned long long)(a < c ? c : a) + 1, n);
            lmf_buf_free(&b);
        }
    }
    /* Orders are built one at a time, freeing each order's values as soon
     * as its table holds them.  n-grams are unique now, so equal keys are
     * hash collisions: then the seed changes and the finished orders are
     * re-keyed from their own tables. */
    uint64_t tseed[LMF_NGRAM_MAX_ORDER + 1] = {0};
    for (int n = 2; n <= m->order && !s; n++) {
        int r = 1;
        for (int attempt = 0; attempt < 8 && r == 1; attempt++) {
            r = fill_table(m, n, probs[n], backoffs[n], perm[n], NULL, 0);
            for (int k = 2; k < n && r == 0; k++)
                if (tseed[k] != m->seed && (r = fill_table(m, k, NULL, NULL, NULL, &m->tab[k], tseed[k])) == 0)
                    tseed[k] = m->seed;
            if (r == 1) m->seed = lmf_mix64(m->seed + 1);
        }
        if (r < 0) s = lmf_error(LMF_ERR_NOMEM, "out of memory building the %d-gram table (%llu entries)", n,
                                 (unsigned long long)m->tab[n].count);
        else if (r == 1) s = lmf_error(LMF_ERR_DATA, "could not build collision-free n-gram hash tables");
        tseed[n] = m->seed;
        lmf_free(perm[n]);
        perm[n] = NULL;
        lmf_free(probs[n]);
        probs[n] = NULL;
        lmf_free(backoffs[n]);
        backoffs[n] = NULL;
    }
    for (int n = 0; n <= LMF_NGRAM_MAX_ORDER; n++) lmf_free(perm[n]);
    return s;
}

void lmf_ngram_mark_contexts(lmf_ngram *m) {
    for (int n = 2; n <= m->order; n++) {
        const lmf_ngram_table *t = &m->tab[n];
        for (uint64_t e = 0; e < t->count; e++) {
            const uint32_t *g = t->ids + e * (uint64_t)n;
            float *b;
            if (n == 2) {
                b = &m->uni_backoff[g[0]];
            } else {
                lmf_ngram_slot *sl = (lmf_ngram_slot *)lmf_ngram_find(&m->tab[n - 1], lmf_ngram_key(m->seed, g, n - 1));
                if (!sl) continue;
                b = &sl->backoff;
            }
            if (lmf_ngram_is_leaf(*b)) *b = -0.0f;
        }
    }
}

void lmf_ngram_ctx_begin(const lmf_ngram *m, lmf_ngram_ctx *ctx) {
    int32_t bos = lmf_vocab_size(m->vocab);
    memset(ctx, 0, sizeof *ctx);
    ctx->len = m->order > 1 ? 1 : 0;
    ctx->words[0] = bos;
    ctx->backoff[0] = m->uni_backoff[bos];
}

/* Stage 1 of a query: the keys of the n-grams ending in w (w, c0 w, c1 c0 w,
 * ...), with each order's home slot prefetched.  Splitting the query lets a
 * caller issue the cache misses of several independent queries at once. */
static inline void ng_keys(const lmf_ngram *m, const lmf_ngram_ctx *in, int32_t w, uint64_t *keys) {
    uint64_t key = lmf_ngram_key1(m->seed, (uint32_t)w);
    for (int k = 0; k < in->len; k++) {
        key = lmf_ngram_key_ext(key, (uint32_t)in->words[k]);
        keys[k] = key ? key : 1;
        const lmf_ngram_table *t = &m->tab[k + 2];
        __builtin_prefetch(&t->slots[lmf_slot_home(keys[k], t->nslots)]);
    }
}

/* Stage 2: the longest match, its probability plus the backoffs above it,
 * and the next context. */
static inline float ng_score_keys(const lmf_ngram *m, const lmf_ngram_ctx *in, int32_t w, const uint64_t *keys,
                                  lmf_ngram_ctx *out, int *matched) {
    float lp = m->uni_prob[w];
    float bo[LMF_NGRAM_MAX_ORDER] = {0};
    bo[0] = m->uni_backoff[w];
    int found = 1;
    int len = in->len;
    for (int k = 0; k < len; k++) {
        const lmf_ngram_slot *s = lmf_ngram_find(&m->tab[k + 2], keys[k]);
        if (!s) break;
        lp = s->prob;
        bo[k + 1] = s->backoff;
        found = k + 2;
    }
    for (int j = found - 1; j < len; j++) lp += in->backoff[j];
    if (matched) *matched = found;
    /* new context: w followed by the words of the matched n-gram's context */
    int nlen = found < m->order ? found : m->order - 1;
    /* drop words that can neither extend a later match nor add a backoff:
     * a +0.0 backoff marks an n-gram that is no context (see ngram_impl.h) */
    while (nlen > 0 && lmf_ngram_is_leaf(bo[nlen - 1])) nlen--;
    if (out) { /* fixed-size copies (no memcpy calls); out may alias in */
        enum { C = LMF_NGRAM_MAX_ORDER - 1 };
        int32_t words[C];
        words[0] = w;
        for (int j = 1; j < C; j++) words[j] = in->words[j - 1];
        for (int j = 0; j < C; j++) {
            out->words[j] = words[j];
            out->backoff[j] = bo[j];
        }
        out->len = nlen;
    }
    return lp;
}

float lmf_ngram_score_word(const lmf_ngram *m, const lmf_ngram_ctx *in, int32_t w, lmf_ngram_ctx *out,
                           int *matched) {
    uint64_t keys[LMF_NGRAM_MAX_ORDER];
    ng_keys(m, in, w, keys);
    return ng_score_keys(m, in, w, keys, out, matched);
}

/* ---- model interface ---- */
struct lmf_state {
    lmf_ngram_ctx ctx;
    uint8_t *level; /* [V] next(): longest explicit order per word; made on first use */
};

static void ng_free(lmf_model *mm) { lmf_ngram_free((lmf_ngram *)mm); }

static void ng_describe(const lmf_model *mm, char *buf, size_t n) {
    const lmf_ngram *m = (const lmf_ngram *)mm;
    int k = snprintf(buf, n, "%d-gram, %d words", m->order, (int)lmf_vocab_size(m->vocab));
    for (int o = 2; o <= m->order && k > 0 && (size_t)k < n; o++)
        k += snprintf(buf + k, n - (size_t)k, ", %llu %d-grams", (unsigned long long)m->tab[o].count, o);
}

static lmf_state *ng_state_new(const lmf_model *mm) {
    lmf_state *s = (lmf_state *)lmf_calloc(1, sizeof *s);
    if (s) lmf_ngram_ctx_begin((const lmf_ngram *)mm, &s->ctx);
    return s;
}
static void ng_state_free(const lmf_model *mm, lmf_state *s) {
    (void)mm;
    if (s) lmf_free(s->level);
    lmf_free(s);
}
static void ng_state_reset(const lmf_model *mm, lmf_state *s) { lmf_ngram_ctx_begin((const lmf_ngram *)mm, &s->ctx); }
static lmf_status ng_state_copy(const lmf_model *mm, lmf_state *d, const lmf_state *s) {
    (void)mm;
    d->ctx = s->ctx; /* the scratch stays each state's own */
    return LMF_OK;
}

static lmf_status ng_feed(lmf_model *mm, lmf_state *s, int32_t tok) {
    const lmf_ngram *m = (const lmf_ngram *)mm;
    if (tok == LMF_EOS)
        lmf_ngram_ctx_begin(m, &s->ctx);
    else
        lmf_ngram_score_word(m, &s->ctx, tok, &s->ctx, NULL);
    return LMF_OK;
}

void lmf_ngram_prefix_range(const lmf_ngram_table *t, int n, const uint32_t *ctx, uint64_t *lo, uint64_t *hi) {
    uint64_t a = 0, b = t->count;
    while (a < b) { /* first entry >= ctx */
        uint64_t mid = a + (b - a) / 2;
        const uint32_t *g = t->ids + mid * (uint64_t)n;
        int j = 0;
        while (j < n - 1 && g[j] == ctx[j]) j++;
        if (j < n - 1 && g[j] < ctx[j]) a = mid + 1;
        else b = mid;
    }
    *lo = a;
    b = t->count;
    while (a < b) { /* first entry > ctx */
        uint64_t mid = a + (b - a) / 2;
        const uint32_t *g = t->ids + mid * (uint64_t)n;
        int j = 0;
        while (j < n - 1 && g[j] == ctx[j]) j++;
        if (j == n - 1 || g[j] < ctx[j]) a = mid + 1;
        else b = mid;
    }
    *hi = a;
}

/* The whole distribution at once: every word starts at its unigram
 * probability plus all the context's backoffs; then, order by order upwards,
 * the words with an explicit n-gram after the context take that n-gram's
 * probability plus the backoffs of the longer contexts.  A word counts at
 * order n only if it was explicit at order n-1 too, as in a single query
 * (which stops at the first missing order).  Additions happen in the same
 * order as in lmf_ngram_score_word, so the values are identical.  Cost: V
 * plus one hash probe per explicit continuation, instead of V queries. */
static lmf_status ng_next(lmf_model *mm, const lmf_state *s, float *logp) {
    const lmf_ngram *m = (const lmf_ngram *)mm;
    const lmf_ngram_ctx *c = &s->ctx;
    int32_t V = lmf_vocab_size(m->vocab);
    int fast = c->len > 0;
    for (int k = 0; k < c->len; k++) fast &= (m->tab[k + 2].ids != NULL && !m->tab[k + 2].unsorted) || m->tab[k + 2].count == 0;
    if (!fast) {
        for (int32_t w = 0; w < V; w++)
            logp[w] = (float)((double)lmf_ngram_score_word(m, c, w, NULL, NULL) * LN10);
        return LMF_OK;
    }
    lmf_state *ms = (lmf_state *)s; /* scratch only */
    if (!ms->level && !(ms->level = (uint8_t *)lmf_malloc((size_t)V)))
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    uint8_t *level = ms->level; /* longest explicit order - 1 per word */
    memset(level, 0, (size_t)V);
    for (int32_t w = 0; w < V; w++) {
        float lp = m->uni_prob[w];
        for (int j = 0; j < c->len; j++) lp += c->backoff[j];
        logp[w] = lp;
    }
    uint32_t ctx[LMF_NGRAM_MAX_ORDER];
    for (int k = 0; k < c->len; k++) { /* n-grams of order k+2: context words[k..0] */
        const int n = k + 2;
        const lmf_ngram_table *t = &m->tab[n];
        for (int j = 0; j <= k; j++) ctx[j] = (uint32_t)c->words[k - j];
        uint64_t lo, hi;
        lmf_ngram_prefix_range(t, n, ctx, &lo, &hi);
        enum { B = 16 }; /* probes in flight: keys first, prefetched, then resolved */
        for (uint64_t e0 = lo; e0 < hi; e0 += B) {
            uint64_t keys[B];
            int nb = hi - e0 < B ? (int)(hi - e0) : B;
            for (int i = 0; i < nb; i++) {
                keys[i] = lmf_ngram_key(m->seed, t->ids + (e0 + (uint64_t)i) * (uint64_t)n, n);
                __builtin_prefetch(&t->slots[lmf_slot_home(keys[i], t->nslots)]);
            }
            for (int i = 0; i < nb; i++) {
                uint32_t w = t->ids[(e0 + (uint64_t)i) * (uint64_t)n + (uint64_t)n - 1];
                if (w >= (uint32_t)V || level[w] != k) continue;
                const lmf_ngram_slot *sl = lmf_ngram_find(t, keys[i]);
                if (!sl) continue;
                float lp = sl->prob;
                for (int j = k + 1; j < c->len; j++) lp += c->backoff[j];
                logp[w] = lp;
                level[w] = (uint8_t)(k + 1);
            }
        }
    }
    for (int32_t w = 0; w < V; w++) logp[w] = (float)((double)logp[w] * LN10);
    return LMF_OK;
}

/* Scores a stream by running up to LANES lines at once: each round computes
 * and prefetches the keys of every lane's next word, then resolves them, so
 * the hash-table cache misses of independent lines overlap.  Lines are
 * independent because the state restarts at every </s>. */
#define LANES 8
typedef struct ng_lane {
    size_t pos, end;
    lmf_ngram_ctx ctx;
    uint64_t keys[LMF_NGRAM_MAX_ORDER];
} ng_lane;

static size_t line_end(const int32_t *tok, size_t from, size_t n) {
    while (from < n && tok[from] != LMF_EOS) from++;
    return from < n ? from + 1 : n;
}

static lmf_status ng_score(lmf_model *mm, lmf_state *s, const int32_t *tok, size_t n, float *logp) {
    const lmf_ngram *m = (const lmf_ngram *)mm;
    if (n == 0) return LMF_OK;
    ng_lane lane[LANES];
    int nl = 0;
    size_t next = 0;
    lmf_ngram_ctx final_ctx = s->ctx;
    while (nl < LANES && next < n) {
        lane[nl].pos = next;
        lane[nl].end = next = line_end(tok, next, n);
        if (lane[nl].pos == 0)
            lane[nl].ctx = s->ctx; /* the first line continues the caller's state */
        else
            lmf_ngram_ctx_begin(m, &lane[nl].ctx);
        nl++;
    }
    while (nl > 0) {
        for (int l = 0; l < nl; l++) ng_keys(m, &lane[l].ctx, tok[lane[l].pos], lane[l].keys);
        for (int l = 0; l < nl; l++) {
            ng_lane *L = &lane[l];
            int32_t w = tok[L->pos];
            logp[L->pos] = (float)((double)ng_score_keys(m, &L->ctx, w, L->keys, &L->ctx, NULL) * LN10);
            if (w == LMF_EOS) lmf_ngram_ctx_begin(m, &L->ctx);
            if (++L->pos < L->end) continue;
            if (L->end == n) final_ctx = L->ctx;
            if (next < n) { /* take the next line */
                L->pos = next;
                L->end = next = line_end(tok, next, n);
                lmf_ngram_ctx_begin(m, &L->ctx);
            } else { /* retire the lane; the last lane moves into its place */
                lane[l] = lane[--nl];
                l--;
            }
        }
    }
    s->ctx = final_ctx;
    return LMF_OK;
}

static const lmf_model_ops ngram_ops = {
    .kind = "ngram",
    .free = ng_free,
    .describe = ng_describe,
    .state_new = ng_state_new,
    .state_free = ng_state_free,
    .state_reset = ng_state_reset,
    .state_copy = ng_state_copy,
    .feed = ng_feed,
    .next = ng_next,
    .score = ng_score,
};

lmf_status lmf_ngram_output_format(const char *path, const char *format, int *binary) {
    if (format) {
        if (!strcmp(format, "arpa"))
            *binary = 0;
        else if (!strcmp(format, "binary") || !strcmp(format, "lmfb"))
            *binary = 1;
        else
            return lmf_error(LMF_ERR_ARG, "unknown format \"%s\"; use arpa or binary", format);
        return LMF_OK;
    }
    size_t n = strlen(path);
    if (n >= 5 && !strcmp(path + n - 5, ".lmfb"))
        *binary = 1;
    else if (n >= 5 && !strcmp(path + n - 5, ".arpa"))
        *binary = 0;
    else
        return lmf_error(LMF_ERR_ARG,
                         "%s: cannot tell the format from the extension; name it .arpa or .lmfb, or pass "
                         "--format arpa|binary",
                         path);
    return LMF_OK;
}

lmf_status lmf_ngram_save(const lmf_ngram *m, const char *path, const char *format) {
    int binary;
    lmf_status s = lmf_ngram_output_format(path, format, &binary);
    if (s) return s;
    return binary ? lmf_ngram_write_binary(m, path) : lmf_ngram_write_arpa(m, path);
}

void lmf_ngram_load_opts_init(lmf_ngram_load_opts *o) { o->verify_checksum = 1; }
