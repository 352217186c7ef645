/* The averaged perceptron tagger: greedy, left to right, each token scored
 * by a linear model over features of its words and the two tags already
 * chosen (Collins 2002; the feature set of the usual part-of-speech
 * perceptron, plus prefixes and suffixes of 1-4 bytes and the word's shape
 * for unknown words).
 *
 * Words are normalised for most features: "!HYPHEN" if it holds a '-' after
 * its first byte, "!YEAR" for four digits, "!DIGITS" if it starts with a
 * digit, else ASCII-lowercased.  Before a sentence the words and tags are
 * -START- and -START2-, after it the words are -END- and -END2-.
 *
 * Training: `iters` passes over the sentences in a seeded random order;
 * for every token whose predicted tag g differs from the gold y, every
 * feature's weight of y goes up by 1 and of g down by 1.  The model kept is
 * the average of the weights over all tokens of all passes.  A token's
 * distribution is the softmax of its scores.  With `reverse` the tagger
 * reads each sentence from right to left (its tag features are the tags of
 * the next two words): a different view of the same data, whose errors
 * differ from the left-to-right tagger's. */
#define _POSIX_C_SOURCE 200809L
#include "tag_impl.h"
#include "../core/util_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { F_BIAS = 1, F_SUF3, F_PRE1, F_WORD, F_W1, F_SUF3_1, F_W2, F_WN1, F_SUF3_N1, F_WN2, F_RAW, F_SUF1, F_SUF2,
       F_SUF4, F_PRE2, F_PRE3, F_SHAPE, NWORDF = F_SHAPE, F_T1, F_T2, F_T1T2, F_T1W };
#define NFEAT (NWORDF + 4)

/* ---- feature keys ---- */

static uint64_t key_bytes(int tmpl, const char *s, size_t n) { return lmf_hash_bytes(s, n, 0x9e3779b97f4a7c15ULL * (uint64_t)tmpl); }
static uint64_t key_tags(int tmpl, int a, int b) { return lmf_mix64(((uint64_t)tmpl << 48) ^ ((uint64_t)(a + 1) << 24) ^ (uint64_t)(b + 1)); }
static uint64_t key_tag_word(int a, uint64_t wkey) { return lmf_mix64(wkey ^ ((uint64_t)(a + 7) * 0xd6e8feb86659fd93ULL)); }

static size_t normalise(const char *w, char *out, size_t cap) {
    const size_t n = strlen(w);
    if (n > 1 && memchr(w + 1, '-', n - 1)) return (size_t)snprintf(out, cap, "!HYPHEN");
    int digits = 1;
    for (size_t i = 0; i < n; i++) digits &= w[i] >= '0' && w[i] <= '9';
    if (digits && n == 4) return (size_t)snprintf(out, cap, "!YEAR");
    if (w[0] >= '0' && w[0] <= '9') return (size_t)snprintf(out, cap, "!DIGITS");
    size_t k = n < cap ? n : cap;
    for (size_t i = 0; i < k; i++) out[i] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
    return k;
}

/* Shape: capitalisation, digits, hyphen, sentence start. */
static int shape(const char *w, int first) {
    int up = 0, low = 0, dig = 0, hy = 0, other = 0;
    for (const char *p = w; *p; p++) {
        if (*p >= 'A' && *p <= 'Z') up++;
        else if (*p >= 'a' && *p <= 'z') low++;
        else if (*p >= '0' && *p <= '9') dig++;
        else if (*p == '-') hy++;
        else other++;
    }
    const int cap = w[0] >= 'A' && w[0] <= 'Z';
    return (cap ? (low ? 1 : 2) : up ? 3 : 0) | (dig ? 4 : 0) | (hy ? 8 : 0) | (other ? 16 : 0) | (first ? 32 : 0);
}

#define NORM_CAP 64

/* The word-only features of position i of a sentence (NWORDF keys) and the
 * key of its normalised word (for the tag+word feature). */
static void word_features(const char *const *w, size_t n, size_t i, uint64_t *f, uint64_t *wkey) {
    char nb[5][NORM_CAP];
    size_t nl[5];
    static const char *const pad[4] = {"-START2-", "-START-", "-END-", "-END2-"};
    for (int d = -2; d <= 2; d++) {
        const ptrdiff_t j = (ptrdiff_t)i + d;
        const char *s = j < 0 ? pad[j + 2] : j >= (ptrdiff_t)n ? pad[j - (ptrdiff_t)n + 2] : NULL;
        if (s) nl[d + 2] = (size_t)snprintf(nb[d + 2], NORM_CAP, "%s", s);
        else nl[d + 2] = normalise(w[j], nb[d + 2], NORM_CAP);
    }
    const char *x = nb[2];
    const size_t xl = nl[2];
    const char *raw = w[i];
    const size_t rl = strlen(raw);
#define SUF(s, l, k) (s) + ((l) > (k) ? (l) - (k) : 0), ((l) > (k) ? (k) : (l))
    f[0] = key_bytes(F_BIAS, "", 0);
    f[1] = key_bytes(F_SUF3, SUF(x, xl, 3));
    f[2] = key_bytes(F_PRE1, x, xl ? 1 : 0);
    f[3] = *wkey = key_bytes(F_WORD, x, xl);
    f[4] = key_bytes(F_W1, nb[1], nl[1]);
    f[5] = key_bytes(F_SUF3_1, SUF(nb[1], nl[1], 3));
    f[6] = key_bytes(F_W2, nb[0], nl[0]);
    f[7] = key_bytes(F_WN1, nb[3], nl[3]);
    f[8] = key_bytes(F_SUF3_N1, SUF(nb[3], nl[3], 3));
    f[9] = key_bytes(F_WN2, nb[4], nl[4]);
    f[10] = key_bytes(F_RAW, raw, rl);
    f[11] = key_bytes(F_SUF1, SUF(raw, rl, 1));
    f[12] = key_bytes(F_SUF2, SUF(raw, rl, 2));
    f[13] = key_bytes(F_SUF4, SUF(raw, rl, 4));
    f[14] = key_bytes(F_PRE2, raw, rl < 2 ? rl : 2);
    f[15] = key_bytes(F_PRE3, raw, rl < 3 ? rl : 3);
    const int sh = shape(raw, i == 0);
    f[16] = key_bytes(F_SHAPE, (const char *)&sh, sizeof sh);
#undef SUF
}

/* ---- the model ---- */

typedef struct perc {
    int T;
    int iters, reverse;
    lmf_linmodel lm;
    /* work space */
    float *score;   /* T */
    uint64_t *wf;   /* NWORDF per position */
    uint64_t *wk;
    const char **rw; /* reverse: the words right to left */
    size_t cap;
} perc;

static void perc_free(void *p) {
    perc *m = (perc *)p;
    if (!m) return;
    lmf_linmodel_free(&m->lm);
    lmf_free(m->score);
    lmf_free(m->wf);
    lmf_free(m->wk);
    lmf_free(m->rw);
    lmf_free(m);
}

static void add_row(const perc *m, uint64_t key, float *score) { lmf_linmodel_add(&m->lm, key, score); }

static lmf_status ensure(perc *m, size_t n) {
    if (n <= m->cap) return LMF_OK;
    size_t c = m->cap ? m->cap : 64;
    while (c < n) c *= 2;
    uint64_t *a = (uint64_t *)lmf_realloc(m->wf, c * NWORDF * sizeof *a);
    if (a) m->wf = a;
    uint64_t *b = a ? (uint64_t *)lmf_realloc(m->wk, c * sizeof *b) : NULL;
    if (b) m->wk = b;
    const char **r = b ? (const char **)lmf_realloc(m->rw, c * sizeof *r) : NULL;
    if (r) m->rw = r;
    if (!a || !b || !r) return lmf_error(LMF_ERR_NOMEM, "out of memory (tagging work space)");
    m->cap = c;
    return LMF_OK;
}

static lmf_status perc_run(lmf_tagger *t, const char *const *words, size_t n, int *best, float *logp) {
    perc *m = (perc *)t->impl;
    const int T = m->T;
    lmf_status s = ensure(m, n);
    if (s) return s;
    int p1 = T, p2 = T + 1; /* -START-, -START2- */
    if (m->reverse) {
        for (size_t i = 0; i < n; i++) m->rw[i] = words[n - 1 - i];
        words = m->rw;
    }
    for (size_t i = 0; i < n; i++) word_features(words, n, i, m->wf + i * NWORDF, m->wk + i);
    for (size_t j = 0; j < n; j++) {
        const size_t i = m->reverse ? n - 1 - j : j; /* where the token's results go */
        float *sc = logp ? logp + i * (size_t)T : m->score;
        memset(sc, 0, (size_t)T * sizeof *sc);
        const uint64_t *f = m->wf + j * NWORDF;
        for (int k = 0; k < NWORDF; k++) add_row(m, f[k], sc);
        add_row(m, key_tags(F_T1, p1, 0), sc);
        add_row(m, key_tags(F_T2, p2, 0), sc);
        add_row(m, key_tags(F_T1T2, p1, p2), sc);
        add_row(m, key_tag_word(p1, m->wk[j]), sc);
        int g = 0;
        for (int c = 1; c < T; c++)
            if (sc[c] > sc[g]) g = c;
        if (best) best[i] = g;
        if (logp) lmf_tag_log_softmax(sc, T);
        p2 = p1;
        p1 = g;
    }
    return LMF_OK;
}

static uint64_t rng_next(uint64_t *s) {
    *s += 0x9e3779b97f4a7c15ULL;
    return lmf_mix64(*s);
}

static const lmf_tagger_ops perc_ops;

lmf_status lmf_perceptron_train(lmf_tagger *t, const lmf_tagger_opts *o, const lmf_tagged *train) {
    if (o->iters < 1 || o->iters > 1000) return lmf_error(LMF_ERR_ARG, "perceptron passes %d: 1 to 1000", o->iters);
    if (o->seed > ((uint64_t)1 << 53)) return lmf_error(LMF_ERR_ARG, "perceptron seed %llu: at most 2^53", (unsigned long long)o->seed);
    const size_t ntok = lmf_tagged_ntok(train), nsent = lmf_tagged_nsent(train);
    if ((uint64_t)ntok * (uint64_t)o->iters >= INT32_MAX)
        return lmf_error(LMF_ERR_ARG, "%zu tokens x %d passes: at most 2^31 steps", ntok, o->iters);
    perc *m = (perc *)lmf_calloc(1, sizeof *m);
    if (!m) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    t->impl = m;
    t->ops = &perc_ops;
    t->max_len = 100000;
    const int T = t->tags.n;
    m->T = T;
    m->iters = o->iters;
    m->reverse = o->reverse;
    lmf_lintrainer tr;
    memset(&tr, 0, sizeof tr);
    int *gold = NULL;
    int32_t *wrow = NULL;
    uint64_t *wkey = NULL;
    size_t *order = NULL;
    float *sc = NULL;
    const char **rwords = NULL;
    lmf_status s = lmf_tag_ids(t, train, &gold, NULL);
    if (s) goto done;
    if (m->reverse) { /* each sentence right to left, in place of the corpus's order */
        if (!(rwords = (const char **)lmf_malloc(ntok * sizeof *rwords))) goto oom;
        const char *const *w0 = lmf_tagged_words(train);
        for (size_t i = 0; i < nsent; i++) {
            size_t a, b;
            lmf_tagged_sentence(train, i, &a, &b);
            for (size_t k = a; k < b; k++) rwords[k] = w0[a + b - 1 - k];
            for (size_t k = a, e = b - 1; k < e; k++, e--) {
                const int x = gold[k];
                gold[k] = gold[e];
                gold[e] = x;
            }
        }
    }
    wrow = (int32_t *)lmf_malloc(ntok * NWORDF * sizeof *wrow);
    wkey = (uint64_t *)lmf_malloc(ntok * sizeof *wkey);
    order = (size_t *)lmf_malloc(nsent * sizeof *order);
    sc = (float *)lmf_malloc((size_t)T * sizeof *sc);
    m->score = (float *)lmf_malloc((size_t)T * sizeof *m->score);
    if (!wrow || !wkey || !order || !sc || !m->score) goto oom;
    /* the word features of every token, once */
    {
        const char *const *words = rwords ? rwords : lmf_tagged_words(train);
        uint64_t f[NWORDF];
        for (size_t i = 0; i < nsent; i++) {
            size_t a, b;
            lmf_tagged_sentence(train, i, &a, &b);
            for (size_t k = a; k < b; k++) {
                word_features(words + a, b - a, k - a, f, &wkey[k]);
                for (int j = 0; j < NWORDF; j++)
                    if ((wrow[k * NWORDF + j] = lmf_lintrainer_row(&tr, f[j])) < 0) goto oom;
            }
        }
    }
    for (size_t i = 0; i < nsent; i++) order[i] = i;
    uint64_t rs = o->seed;
    for (int it = 0; it < o->iters; it++) {
        for (size_t i = nsent; i > 1; i--) {
            const size_t j = (size_t)(rng_next(&rs) % i);
            const size_t x = order[i - 1];
            order[i - 1] = order[j];
            order[j] = x;
        }
        size_t wrong = 0;
        for (size_t si = 0; si < nsent; si++) {
            size_t a, b;
            lmf_tagged_sentence(train, order[si], &a, &b);
            int p1 = T, p2 = T + 1;
            for (size_t k = a; k < b; k++) {
                int32_t r[NFEAT];
                memcpy(r, wrow + k * NWORDF, NWORDF * sizeof *r);
                const uint64_t tk[4] = {key_tags(F_T1, p1, 0), key_tags(F_T2, p2, 0), key_tags(F_T1T2, p1, p2),
                                        key_tag_word(p1, wkey[k])};
                for (int j = 0; j < 4; j++) r[NWORDF + j] = lmf_lintrainer_find(&tr, tk[j]);
                memset(sc, 0, (size_t)T * sizeof *sc);
                for (int j = 0; j < NFEAT; j++) lmf_lintrainer_score(&tr, r[j], sc);
                int g = 0;
                for (int c = 1; c < T; c++)
                    if (sc[c] > sc[g]) g = c;
                tr.step++;
                if (g != gold[k]) {
                    wrong++;
                    for (int j = 0; j < NFEAT; j++) {
                        if (r[j] < 0 && (r[j] = lmf_lintrainer_row(&tr, tk[j - NWORDF])) < 0) goto oom;
                        if (!lmf_lintrainer_update(&tr, r[j], gold[k], 1.0f) || !lmf_lintrainer_update(&tr, r[j], g, -1.0f))
                            goto oom;
                    }
                }
                p2 = p1;
                p1 = g;
            }
        }
        if (o->progress)
            lmf_log(LMF_LOG_INFO, "perceptron pass %d/%d: %.4f of the training tokens tagged right", it + 1, o->iters,
                    1.0 - (double)wrong / (double)ntok);
    }
    s = lmf_lintrainer_finish(&tr, T, &m->lm);
    goto done;
oom:
    s = lmf_error(LMF_ERR_NOMEM, "out of memory (perceptron features)");
done:
    lmf_lintrainer_free(&tr);
    lmf_free(gold);
    lmf_free(rwords);
    lmf_free(wrow);
    lmf_free(wkey);
    lmf_free(order);
    lmf_free(sc);
    return s;
}

/* ---- files ---- */

static lmf_status perc_save(const lmf_tagger *t, lmf_st_writer *w, void **keep, const char *path) {
    (void)path;
    const perc *m = (const perc *)t->impl;
    double *pp = (double *)lmf_malloc(4 * sizeof *pp);
    if (!pp) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    *keep = pp;
    pp[0] = m->iters;
    pp[1] = NFEAT;
    pp[2] = m->reverse;
    pp[3] = (double)t->opts.seed; /* below 2^53: checked when training */
    int64_t sh[1] = {4};
    lmf_status s;
    if ((s = lmf_st_add(w, "perceptron_params", LMF_DT_F64, 1, sh, pp))) return s;
    return lmf_linmodel_save(&m->lm, w);
}

lmf_status lmf_perceptron_load(lmf_tagger *t, const lmf_safetensors *st, const char *path) {
    perc *m = (perc *)lmf_calloc(1, sizeof *m);
    if (!m) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    t->impl = m;
    t->ops = &perc_ops;
    t->max_len = 100000;
    m->T = t->tags.n;
    const lmf_st_tensor *x;
    double pp[4];
    lmf_status s = lmf_tag_tensor(st, path, "perceptron_params", LMF_DT_F64, 4, &x);
    if (s) return s;
    memcpy(pp, x->data, sizeof pp);
    if (!(pp[0] >= 1 && pp[0] <= 1000 && pp[0] == floor(pp[0])) || pp[1] != NFEAT || (pp[2] != 0 && pp[2] != 1) ||
        !(pp[3] >= 0 && pp[3] <= 9007199254740992.0 && pp[3] == floor(pp[3])))
        return lmf_error(LMF_ERR_FORMAT, "%s: perceptron parameters out of range or another feature set (a damaged file, or "
                                         "one from another version of lmfuse)", path);
    m->iters = (int)pp[0];
    m->reverse = t->opts.reverse = (int)pp[2];
    t->opts.iters = m->iters;
    t->opts.seed = (uint64_t)pp[3];
    if (!(m->score = (float *)lmf_malloc((size_t)m->T * sizeof *m->score))) return lmf_error(LMF_ERR_NOMEM, "out of memory (%s)", path);
    return lmf_linmodel_load(&m->lm, m->T, st, path);
}

static const lmf_tagger_ops perc_ops = {perc_run, perc_save, perc_free};
