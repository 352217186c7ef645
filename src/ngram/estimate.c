/* Interpolated modified Kneser-Ney estimation (Chen & Goodman 1998; the
 * same quantities as KenLM's lmplz).
 *
 *  1. Count the highest-order n-grams of every line padded as
 *     "<s> w1 .. wk </s>" (one <s>; windows that would need more <s> are the
 *     shorter n-grams starting with <s>, kept at their own order with raw
 *     counts).
 *  2. Lower orders get adjusted counts: the number of distinct words seen to
 *     the left (each distinct n-gram adds one to its suffix), except n-grams
 *     starting with <s>, which keep raw counts.
 *  3. Discounts per order from counts-of-counts t1..t4 of those counts:
 *     Y = t1/(t1+2 t2), D_k = k - (k+1) Y t_{k+1}/t_k  (k = 1, 2, 3+).
 *  4. p(w|h) = (a(hw) - D(a(hw)))/sum_x a(hx) + gamma(h) p(w|h'), with
 *     gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3 N3+(h.)) / sum_x a(hx), down to
 *     the uniform 1/V over every predictable token (<unk> and </s>
 *     included, <s> excluded).
 */
#include "ngram_impl.h"
#include "../text/text_impl.h"

#include <math.h>
#include <string.h>

void lmf_ngram_train_opts_init(lmf_ngram_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->order = 5;
    o->fallback[0] = 0.5;
    o->fallback[1] = 1.0;
    o->fallback[2] = 1.5;
    o->utf8_check = 1;
    o->max_line = (size_t)1 << 24;
}

/* A counting table of one order: n-grams with ids, counts and a hash index. */
typedef struct ctab {
    int n;
    uint32_t *ids;   /* cap * n */
    uint32_t *cnt;   /* cap */
    uint64_t count, cap;
    uint32_t *index; /* nslots; 0 = empty, else entry + 1 */
    uint64_t nslots;
} ctab;

static lmf_status ctab_init(ctab *t, int n, uint64_t cap) {
    memset(t, 0, sizeof *t);
    t->n = n;
    t->cap = cap ? cap : 1;
    if (t->cap > UINT32_MAX - 1) return lmf_error(LMF_ERR_DATA, "too many %d-grams (more than 4 billion)", n);
    t->nslots = lmf_ngram_nslots(t->cap);
    t->ids = (uint32_t *)lmf_malloc(t->cap * (uint64_t)n * sizeof *t->ids);
    t->cnt = (uint32_t *)lmf_malloc(t->cap * sizeof *t->cnt);
    t->index = (uint32_t *)lmf_calloc(t->nslots, sizeof *t->index);
    if (!t->ids || !t->cnt || !t->index)
        return lmf_error(LMF_ERR_NOMEM, "out of memory counting %d-grams (%llu entries)", n,
                         (unsigned long long)t->cap);
    return LMF_OK;
}

/* Gives back the unused tail of ids/cnt once the order is complete (the
 * hash index keeps its size). */
static void ctab_shrink(ctab *t) {
    uint64_t c = t->count ? t->count : 1;
    uint32_t *ids = (uint32_t *)lmf_realloc(t->ids, c * (uint64_t)t->n * sizeof *ids);
    if (ids) t->ids = ids;
    uint32_t *cnt = (uint32_t *)lmf_realloc(t->cnt, c * sizeof *cnt);
    if (cnt) t->cnt = cnt;
    if (ids && cnt) t->cap = c; /* no further adds: ctab_add checks count < cap */
}

static void ctab_free(ctab *t) {
    lmf_free(t->ids);
    lmf_free(t->cnt);
    lmf_free(t->index);
    memset(t, 0, sizeof *t);
}

static const uint64_t CSEED = 0x6b6e636f756e7473ULL;

static inline int same_ids(const uint32_t *a, const uint32_t *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* Index of n-gram g, or -1. */
static inline int64_t ctab_find(const ctab *t, const uint32_t *g) {
    int n = t->n;
    uint64_t ns = t->nslots, i = lmf_slot_home(lmf_ngram_key(CSEED, g, n), ns);
    for (;;) {
        uint32_t e = t->index[i];
        if (!e) return -1;
        if (same_ids(t->ids + (uint64_t)(e - 1) * n, g, n)) return (int64_t)e - 1;
        if (++i == ns) i = 0;
    }
}

/* Adds `c` to n-gram g (inserting it with count c if absent) and returns
 * its index.  The table was sized for the worst case, so it never fills. */
static inline uint32_t ctab_add(ctab *t, const uint32_t *g, uint32_t c) {
    int n = t->n;
    uint64_t ns = t->nslots, i = lmf_slot_home(lmf_ngram_key(CSEED, g, n), ns);
    for (;;) {
        uint32_t e = t->index[i];
        if (!e) break;
        if (same_ids(t->ids + (uint64_t)(e - 1) * n, g, n)) {
            t->cnt[e - 1] += c;
            return e - 1;
        }
        if (++i == ns) i = 0;
    }
    LMF_ASSERT(t->count < t->cap);
    memcpy(t->ids + t->count * n, g, (size_t)n * sizeof *g);
    t->cnt[t->count] = c;
    t->index[i] = (uint32_t)++t->count;
    return (uint32_t)(t->count - 1);
}

/* Discounts from counts-of-counts; returns 1 if the fallback was needed. */
static int discounts(const uint64_t cc[5], const double fb[3], double d[4]) {
    d[0] = 0;
    int bad = cc[1] == 0 || cc[2] == 0 || cc[3] == 0 || cc[4] == 0;
    if (!bad) {
        double y = (double)cc[1] / ((double)cc[1] + 2.0 * (double)cc[2]);
        for (int k = 1; k <= 3; k++) {
            d[k] = k - (k + 1) * y * (double)cc[k + 1] / (double)cc[k];
            if (!(d[k] >= 0 && d[k] <= k)) bad = 1;
        }
    }
    if (bad)
        for (int k = 1; k <= 3; k++) d[k] = fb[k - 1];
    return bad;
}

static inline double disc(const double d[4], uint32_t a) { return d[a >= 3 ? 3 : a]; }

/* Estimation proper: fills *out with a model shell (vocabulary and
 * unigrams, no tables yet) and L with the n-gram lists of orders >= 2
 * (unsorted; prob/backoff aligned with ids; caller frees both). */
static lmf_status estimate(const char *path, const char *mem, size_t mem_size, const lmf_ngram_train_opts *opts_in,
                           lmf_ngram **out, lmf_ngram_train_info *info, lmf_ngram_lists *L) {
    memset(L, 0, sizeof *L);
    lmf_ngram_train_opts opts;
    if (opts_in)
        opts = *opts_in;
    else
        lmf_ngram_train_opts_init(&opts);
    *out = NULL;
    lmf_ngram_train_info linfo;
    if (!info) info = &linfo;
    memset(info, 0, sizeof *info);
    const int N = opts.order;
    if (N < 1 || N > LMF_NGRAM_MAX_ORDER)
        return lmf_error(LMF_ERR_ARG, "order %d is out of range; use 1..%d", N, LMF_NGRAM_MAX_ORDER);
    for (int k = 0; k < 3; k++)
        if (!(opts.fallback[k] >= 0 && opts.fallback[k] <= k + 1))
            return lmf_error(LMF_ERR_ARG, "fallback discount D%d = %g is out of range [0, %d]", k + 1,
                             opts.fallback[k], k + 1);

    /* ---- read and map to ids ---- */
    lmf_filebuf fb = {(char *)mem, mem_size, 0};
    const int own = !mem; /* text in memory stays the caller's */
    lmf_status s = own ? lmf_file_map(path, &fb) : LMF_OK;
    if (s) return s;
    if ((s = lmf_text_check(fb.data, fb.size, path, LMF_TOK_WORD, opts.utf8_check))) {
        if (own) lmf_filebuf_free(&fb);
        return s;
    }
    lmf_vocab *vocab = lmf_vocab_new(LMF_TOK_WORD);
    uint64_t tcap = fb.size + 2, ntok = 0, lines = 0; /* every token uses >= 1 byte, but a last unended line */
    uint32_t *tok = (uint32_t *)lmf_malloc(tcap * sizeof *tok);
    if (!vocab || !tok) {
        if (own) lmf_filebuf_free(&fb);
        lmf_vocab_free(vocab);
        lmf_free(tok);
        return lmf_error(LMF_ERR_NOMEM, "out of memory reading %s", path);
    }
    {
        lmf_tokenizer tz;
        lmf_tokenizer_init(&tz, fb.data, fb.size, path, LMF_TOK_WORD, opts.max_line);
        const char *w;
        size_t wl;
        int r;
        while ((r = lmf_tokenizer_next(&tz, &w, &wl)) > 0) {
            int32_t id;
            if (r == 2) {
                id = LMF_EOS;
                lines++;
            } else {
                id = lmf_vocab_add(vocab, w, wl);
                if (id < 0) {
                    s = lmf_error(LMF_ERR_NOMEM, "out of memory (vocabulary)");
                    break;
                }
                if (id == LMF_EOS || id == lmf_vocab_size(vocab)) {
                    s = lmf_text_reserved_error(path, tz.line, w, wl);
                    break;
                }
            }
            LMF_ASSERT(ntok < tcap);
            tok[ntok++] = (uint32_t)id;
        }
        if (r < 0) s = LMF_ERR_FORMAT;
    }
    if (own) lmf_filebuf_free(&fb);
    if (!s && ntok == 0)
        s = lmf_error(LMF_ERR_DATA, "%s: no text to train on (the file is empty)", path);
    if (s) {
        lmf_vocab_free(vocab);
        lmf_free(tok);
        return s;
    }
    info->tokens = ntok;
    info->lines = lines;
    const uint32_t V = (uint32_t)lmf_vocab_size(vocab), BOS = V;

    /* ---- counts ---- */
    ctab tab[LMF_NGRAM_MAX_ORDER + 1];
    memset(tab, 0, sizeof tab);
    uint32_t *suf[LMF_NGRAM_MAX_ORDER + 1] = {0}; /* suf[n][e]: index of entry e's suffix in order n-1 */
    uint32_t *ucnt = (uint32_t *)lmf_calloc((size_t)V + 1, sizeof *ucnt);
    if (!ucnt) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && N == 1) {
        for (uint64_t i = 0; i < ntok; i++) ucnt[tok[i]]++;
    } else if (!s) {
        s = ctab_init(&tab[N], N, ntok);
        /* lower orders hold <s>-prefixed windows now, suffixes later:
         * allocated once the higher order's size is known */
        uint64_t nstart[LMF_NGRAM_MAX_ORDER + 1] = {0};
        uint64_t line_len = 0;
        for (uint64_t i = 0; i < ntok && !s; i++) {
            uint64_t hist = line_len; /* words before tok[i] on its line */
            if (i + 8 < ntok && i + 8 >= (uint64_t)N) /* prefetch a window ahead (a guess near line starts) */
                __builtin_prefetch(&tab[N].index[lmf_slot_home(lmf_ngram_key(CSEED, tok + i + 8 - (N - 1), N),
                                                               tab[N].nslots)]);
            if (hist + 2 > (uint64_t)N) {
                ctab_add(&tab[N], tok + i - (N - 1), 1);
            } else if (hist + 2 == (uint64_t)N) {
                uint32_t g[LMF_NGRAM_MAX_ORDER];
                g[0] = BOS;
                memcpy(g + 1, tok + i - hist, (size_t)(hist + 1) * sizeof *g);
                ctab_add(&tab[N], g, 1);
            } else {
                nstart[hist + 2]++;
            }
            line_len = tok[i] == LMF_EOS ? 0 : line_len + 1;
        }
        /* the top order is complete: its hash index is not needed again */
        lmf_free(tab[N].index);
        tab[N].index = NULL;
        ctab_shrink(&tab[N]);
        /* derive lower orders */
        for (int n = N - 1; n >= 1 && !s; n--) {
            ctab *hi = &tab[n + 1];
            if (n == 1) {
                for (uint64_t e = 0; e < hi->count; e++) ucnt[hi->ids[e * 2 + 1]]++;
                break;
            }
            if ((s = ctab_init(&tab[n], n, hi->count + nstart[n]))) break;
            /* raw counts of <s>-prefixed windows of length n */
            line_len = 0;
            for (uint64_t i = 0; i < ntok; i++) {
                if (line_len + 2 == (uint64_t)n) {
                    uint32_t g[LMF_NGRAM_MAX_ORDER];
                    g[0] = BOS;
                    memcpy(g + 1, tok + i - line_len, (size_t)(line_len + 1) * sizeof *g);
                    ctab_add(&tab[n], g, 1);
                }
                line_len = tok[i] == LMF_EOS ? 0 : line_len + 1;
            }
            /* each distinct (n+1)-gram adds one to its suffix; remember where */
            suf[n + 1] = (uint32_t *)lmf_malloc((hi->count ? hi->count : 1) * sizeof(uint32_t));
            if (!suf[n + 1]) {
                s = lmf_error(LMF_ERR_NOMEM, "out of memory counting %d-grams", n);
                break;
            }
            for (uint64_t e = 0; e < hi->count; e++) {
                if (e + 8 < hi->count)
                    __builtin_prefetch(&tab[n].index[lmf_slot_home(
                        lmf_ngram_key(CSEED, hi->ids + (e + 8) * (n + 1) + 1, n), tab[n].nslots)]);
                suf[n + 1][e] = ctab_add(&tab[n], hi->ids + e * (n + 1) + 1, 1);
            }
            ctab_shrink(&tab[n]);
        }
    }
    lmf_free(tok);
    tok = NULL;

    /* ---- pruning marks (orders >= 2, top down; keep what kept ones need) ---- */
    uint8_t *pruned[LMF_NGRAM_MAX_ORDER + 1] = {0};
    int any_prune = 0;
    for (int n = 2; n <= N; n++) any_prune |= opts.prune[n - 1] > 0;
    if (!s && any_prune) {
        for (int n = N; n >= 2 && !s; n--) {
            ctab *t = &tab[n];
            if (!pruned[n]) pruned[n] = (uint8_t *)lmf_calloc(t->count, 1);
            if (n > 2 && !pruned[n - 1]) pruned[n - 1] = (uint8_t *)lmf_calloc(tab[n - 1].count, 1);
            if (!pruned[n] || (n > 2 && !pruned[n - 1])) {
                s = lmf_error(LMF_ERR_NOMEM, "out of memory");
                break;
            }
            /* pruned[n][e]: 0 = undecided, 2 = needed by a longer n-gram, 1 = pruned */
            for (uint64_t e = 0; e < t->count; e++) {
                if (pruned[n][e] == 2) {
                    pruned[n][e] = 0;
                } else {
                    pruned[n][e] = t->cnt[e] <= opts.prune[n - 1];
                }
                if (!pruned[n][e] && n > 2) {
                    const uint32_t *g = t->ids + e * n;
                    int64_t c = ctab_find(&tab[n - 1], g);
                    int64_t f = ctab_find(&tab[n - 1], g + 1);
                    if (c >= 0) pruned[n - 1][c] = 2;
                    if (f >= 0) pruned[n - 1][f] = 2;
                }
            }
        }
    }

    /* ---- discounts ---- */
    double D[LMF_NGRAM_MAX_ORDER + 1][4];
    for (int n = 1; n <= N && !s; n++) {
        uint64_t cc[5] = {0};
        if (n == 1) {
            for (uint32_t w = 0; w < V; w++)
                if (ucnt[w] < 5) cc[ucnt[w]]++;
        } else {
            for (uint64_t e = 0; e < tab[n].count; e++)
                if (tab[n].cnt[e] < 5) cc[tab[n].cnt[e]]++;
        }
        info->used_fallback[n - 1] = discounts(cc, opts.fallback, D[n]);
        for (int k = 0; k < 3; k++) info->discount[n - 1][k] = D[n][k + 1];
        if (info->used_fallback[n - 1])
            lmf_log(LMF_LOG_WARN,
                    "%s: %d-gram counts-of-counts (t1=%llu t2=%llu t3=%llu t4=%llu) do not give valid Kneser-Ney "
                    "discounts (too little or artificial data); using fallback discounts %g %g %g",
                    path, n, (unsigned long long)cc[1], (unsigned long long)cc[2], (unsigned long long)cc[3],
                    (unsigned long long)cc[4], D[n][1], D[n][2], D[n][3]);
    }

    /* ---- probabilities, order by order ---- */
    float *plin[LMF_NGRAM_MAX_ORDER + 1] = {0};  /* interpolated p (linear) per entry */
    float *pout[LMF_NGRAM_MAX_ORDER + 1] = {0};  /* final log10 p */
    float *bout[LMF_NGRAM_MAX_ORDER + 1] = {0};  /* final log10 backoff */
    lmf_ngram *m = NULL;
    if (!s) {
        m = lmf_ngram_alloc(vocab, N);
        if (!m) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else vocab = NULL;
    }
    if (!s) {
        m->uni_prob = (float *)lmf_malloc(((size_t)V + 1) * sizeof(float));
        m->uni_backoff = (float *)lmf_calloc((size_t)V + 1, sizeof(float));
        plin[1] = (float *)lmf_malloc(((size_t)V + 1) * sizeof(float));
        if (!m->uni_prob || !m->uni_backoff || !plin[1]) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    if (!s) {
        double den = 0, gnum = 0;
        for (uint32_t w = 0; w < V; w++) {
            den += ucnt[w];
            if (ucnt[w]) gnum += disc(D[1], ucnt[w]);
        }
        double gamma = gnum / den, uni = 1.0 / V;
        for (uint32_t w = 0; w < V; w++) {
            double p = (ucnt[w] ? (ucnt[w] - disc(D[1], ucnt[w])) / den : 0.0) + gamma * uni;
            plin[1][w] = (float)p;
            m->uni_prob[w] = (float)log10(p);
        }
        plin[1][BOS] = 0;
        m->uni_prob[BOS] = -99.0f;
    }
    lmf_free(ucnt);
    ucnt = NULL;
    for (int n = 2; n <= N && !s; n++) {
        ctab *t = &tab[n];
        uint64_t nctx = n == 2 ? (uint64_t)V + 1 : tab[n - 1].count;
        uint32_t *cden = (uint32_t *)lmf_calloc(nctx, sizeof *cden); /* sum of counts after the context */
        double *cnum = (double *)lmf_calloc(nctx, sizeof *cnum);     /* discounted (or pruned) mass */
        uint32_t *ctx = (uint32_t *)lmf_malloc(t->count * sizeof *ctx);
        plin[n] = (float *)lmf_malloc(t->count * sizeof(float));
        pout[n] = (float *)lmf_malloc(t->count * sizeof(float));
        if (n < N) bout[n] = (float *)lmf_calloc(t->count, sizeof(float));
        if (!cden || !cnum || !ctx || !plin[n] || !pout[n] || (n < N && !bout[n])) {
            s = lmf_error(LMF_ERR_NOMEM, "out of memory computing %d-gram probabilities", n);
        } else {
            for (uint64_t e = 0; e < t->count; e++) {
                const uint32_t *g = t->ids + e * n;
                if (n > 2 && e + 8 < t->count)
                    __builtin_prefetch(&tab[n - 1].index[lmf_slot_home(
                        lmf_ngram_key(CSEED, t->ids + (e + 8) * n, n - 1), tab[n - 1].nslots)]);
                int64_t c = n == 2 ? (int64_t)g[0] : ctab_find(&tab[n - 1], g);
                LMF_ASSERT(c >= 0);
                ctx[e] = (uint32_t)c;
                uint32_t a = t->cnt[e];
                cden[c] += a;
                cnum[c] += (pruned[n] && pruned[n][e] == 1) ? a : disc(D[n], a);
            }
            for (uint64_t e = 0; e < t->count; e++) {
                if (pruned[n] && pruned[n][e] == 1) continue;
                const uint32_t *g = t->ids + e * n;
                uint32_t c = ctx[e], a = t->cnt[e];
                double lower = n == 2 ? plin[1][g[1]] : plin[n - 1][suf[n][e]];
                double p = (a - disc(D[n], a)) / cden[c] + cnum[c] / (double)cden[c] * lower;
                plin[n][e] = (float)p;
                pout[n][e] = (float)log10(p);
            }
            /* backoffs of the contexts (order n-1) */
            for (uint64_t c = 0; c < nctx; c++) {
                if (cden[c] <= 0) continue;
                float b = (float)log10(cnum[c] / (double)cden[c]);
                if (b == 0.0f) b = -0.0f; /* still a context (see lmf_ngram_is_leaf) */
                if (n == 2)
                    m->uni_backoff[c] = b;
                else
                    bout[n - 1][c] = b;
            }
        }
        lmf_free(cden);
        lmf_free(cnum);
        lmf_free(ctx);
        lmf_free(suf[n]);
        suf[n] = NULL;
        lmf_free(t->cnt); /* order n's counts are used up */
        t->cnt = NULL;
        /* order n-1 is complete: its linear probs and hash index are no longer needed */
        lmf_free(plin[n - 1]);
        plin[n - 1] = NULL;
        if (n - 1 >= 2) {
            lmf_free(tab[n - 1].index);
            tab[n - 1].index = NULL;
        }
    }
    for (int n = 1; n <= N; n++) lmf_free(plin[n]);

    /* ---- compact away pruned entries, then build the query tables ---- */
    uint32_t *ids[LMF_NGRAM_MAX_ORDER + 1] = {0};
    uint64_t counts[LMF_NGRAM_MAX_ORDER + 1] = {0};
    for (int n = 2; n <= N && !s; n++) {
        ctab *t = &tab[n];
        lmf_free(t->index);
        t->index = NULL;
        lmf_free(t->cnt);
        t->cnt = NULL;
        uint64_t k = 0;
        for (uint64_t e = 0; e < t->count; e++) {
            if (pruned[n] && pruned[n][e] == 1) continue;
            if (k != e) {
                memmove(t->ids + k * n, t->ids + e * n, (size_t)n * sizeof(uint32_t));
                pout[n][k] = pout[n][e];
                if (bout[n]) bout[n][k] = bout[n][e];
            }
            k++;
        }
        counts[n] = k;
        uint32_t *shrunk = (uint32_t *)lmf_realloc(t->ids, (k ? k : 1) * (uint64_t)n * sizeof(uint32_t));
        ids[n] = shrunk ? shrunk : t->ids;
        t->ids = NULL;
    }
    for (int n = 0; n <= N; n++) {
        lmf_free(pruned[n]);
        lmf_free(suf[n]);
    }
    for (int n = 0; n <= N; n++) ctab_free(&tab[n]);
    lmf_vocab_free(vocab);
    if (s) {
        for (int n = 0; n <= N; n++) {
            lmf_free(ids[n]);
            lmf_free(pout[n]);
            lmf_free(bout[n]);
        }
        lmf_ngram_free(m);
        return s;
    }
    info->ngrams[0] = (uint64_t)V + 1;
    for (int n = 2; n <= N; n++) {
        info->ngrams[n - 1] = counts[n];
        L->ids[n] = ids[n];
        L->count[n] = counts[n];
        L->prob[n] = pout[n];
        L->backoff[n] = bout[n];
    }
    *out = m;
    return LMF_OK;
}

static void lists_free(lmf_ngram_lists *L) {
    for (int n = 0; n <= LMF_NGRAM_MAX_ORDER; n++) {
        lmf_free(L->ids[n]);
        lmf_free(L->prob[n]);
        lmf_free(L->backoff[n]);
        lmf_free(L->perm[n]);
    }
    memset(L, 0, sizeof *L);
}

static lmf_status train(const char *path, const char *mem, size_t size, const lmf_ngram_train_opts *opts,
                        lmf_ngram **out, lmf_ngram_train_info *info) {
    lmf_ngram_lists L;
    lmf_ngram *m;
    *out = NULL;
    lmf_status s = estimate(path, mem, size, opts, &m, info, &L);
    if (s) return s;
    s = lmf_ngram_build_tables(m, L.ids, L.count, L.prob, L.backoff); /* takes the lists */
    lists_free(&L);
    if (s) {
        lmf_ngram_free(m);
        return s;
    }
    *out = m;
    return LMF_OK;
}

lmf_status lmf_ngram_train(const char *path, const lmf_ngram_train_opts *opts, lmf_ngram **out,
                           lmf_ngram_train_info *info) {
    return train(path, NULL, 0, opts, out, info);
}

lmf_status lmf_ngram_train_mem(const char *data, size_t size, const char *name, const lmf_ngram_train_opts *opts,
                               lmf_ngram **out, lmf_ngram_train_info *info) {
    return train(name, data ? data : "", size, opts, out, info);
}

lmf_status lmf_ngram_train_save(const char *path, const lmf_ngram_train_opts *opts, const char *out_path,
                                const char *format, lmf_ngram_train_info *info) {
    int binary;
    lmf_status s = lmf_ngram_output_format(out_path, format, &binary);
    if (s) return s;
    if (binary) {
        lmf_ngram *m;
        if ((s = lmf_ngram_train(path, opts, &m, info))) return s;
        s = lmf_ngram_write_binary(m, out_path);
        lmf_ngram_free(m);
        return s;
    }
    /* ARPA needs no hash tables: sort the lists and write them */
    lmf_ngram_lists L;
    lmf_ngram *m;
    if ((s = estimate(path, NULL, 0, opts, &m, info, &L))) return s;
    for (int n = 2; n <= m->order && !s; n++) s = lmf_ngram_sort_ids(L.ids[n], L.count[n], n, &L.perm[n]);
    if (!s) s = lmf_ngram_write_arpa_lists(m, &L, out_path);
    lists_free(&L);
    lmf_ngram_free(m);
    return s;
}
