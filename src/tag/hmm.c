/* The hidden Markov model tagger, TnT-style (Brants 2000), first or second
 * order.
 *
 * Tags 0..T-1 in byte order of their names; index T is the sentence
 * boundary: the context before the first word (BOS) and the outcome after
 * the last (EOS).  S = T + 1.
 *
 * Transitions, second order:
 *   P(c | a, b) = l1 f(c)/N + l2 f(b,c)/f(b,.) + l3 f(a,b,c)/f(a,b,.)
 * with f the counts over the sentences BOS BOS t_1 .. t_n EOS, N the count
 * of outcomes, f(b,.) and f(a,b,.) the counts of the contexts, and the
 * lambdas by deleted interpolation (each trigram's count goes to the
 * lambda of the largest of (f(a,b,c)-1)/(f(a,b,.)-1), (f(b,c)-1)/(f(b,.)-1),
 * (f(c)-1)/(N-1); ties to the higher order).  A context never seen drops its
 * term and the others are renormalised, so every row sums to 1.  First
 * order: the same without the trigram term.
 *
 * Emissions: a word seen in training has P(w|t) = f(w,t)/f(t) for the tags
 * it was seen with.  Any other word uses the suffix model of its
 * capitalisation class (first byte A-Z or not), trained on the tokens of
 * words seen at most rare_max times: for its suffixes of 1..suffix_len bytes
 * that training saw,
 *   P(t | s_i) = (f(t, s_i)/f(s_i) + theta P(t | s_{i-1})) / (1 + theta),
 * starting from the class's tag distribution (the empty suffix), theta the
 * standard deviation of the tags' unigram probabilities; then
 * P(w|t) is proportional to P(t|suffix)/P(t).  Its candidate tags are those
 * within a factor `beam` of the most probable one.
 *
 * Decoding: Viterbi over (previous tag, tag) pairs of candidate tags, in
 * probabilities rescaled at every position; marginals by forward-backward
 * over the same lattice.  Tags outside a token's candidates have
 * probability 0 (ln = -inf). */
#define _POSIX_C_SOURCE 200809L
#include "tag_impl.h"
#include "../core/util_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* the longest sentence: the lattice of a sentence of unknown words holds up
 * to T^2 cells per token */
#define HMM_MAX_LEN 1000

typedef struct hmm {
    int order, T, S;
    int suffix_len, rare_max;
    double beam, lambda[3], theta;
    int32_t *uni;                 /* [S] outcome counts (index T: EOS) */
    int32_t *bi;                  /* [S*S] (context, outcome) */
    int64_t ntri, *tri_idx;       /* sparse trigram counts, index (a*S + b)*S + c */
    int32_t *tri_cnt;
    float *P;                     /* order 2: [S*S*S] P(c|a,b); order 1: [S*S] P(c|b) */
    int64_t *lex_ptr;             /* [W+1] over the tagger's words */
    int32_t *lex_tag, *lex_cnt;
    float *lex_p;                 /* P(w|t) */
    lmf_strtab suf;               /* "C"/"l" + suffix bytes */
    int64_t *suf_ptr;
    int32_t *suf_tag, *suf_cnt;
    double *suf_tot;
    double *ptag;                 /* [T] P(t) over training tokens */
    /* work space */
    size_t cap_coff, cap_doff, cap_cand, cap_em, cap_delta, cap_beta, cap_bp;
    size_t *coff;                 /* [n+1] offsets of each position's candidates */
    int *cand;                    /* candidate tags */
    double *em;                   /* their emissions */
    size_t *doff;                 /* [n+1] offsets of each position's cell matrix */
    double *delta, *beta;
    int *bp;
    double *dist;                 /* [T] */
} hmm;

static void hmm_free(void *p) {
    hmm *h = (hmm *)p;
    if (!h) return;
    lmf_free(h->uni);
    lmf_free(h->bi);
    lmf_free(h->tri_idx);
    lmf_free(h->tri_cnt);
    lmf_free(h->P);
    lmf_free(h->lex_ptr);
    lmf_free(h->lex_tag);
    lmf_free(h->lex_cnt);
    lmf_free(h->lex_p);
    lmf_strtab_free(&h->suf);
    lmf_free(h->suf_ptr);
    lmf_free(h->suf_tag);
    lmf_free(h->suf_cnt);
    lmf_free(h->suf_tot);
    lmf_free(h->ptag);
    lmf_free(h->coff);
    lmf_free(h->cand);
    lmf_free(h->em);
    lmf_free(h->doff);
    lmf_free(h->delta);
    lmf_free(h->beta);
    lmf_free(h->bp);
    lmf_free(h->dist);
    lmf_free(h);
}

static inline double trans(const hmm *h, int a, int b, int c) {
    const size_t S = (size_t)h->S;
    return h->order == 2 ? h->P[((size_t)a * S + (size_t)b) * S + (size_t)c] : h->P[(size_t)b * S + (size_t)c];
}

/* ---- the tables derived from the counts (training and loading) ---- */

static lmf_status build_tables(hmm *h, lmf_tagger *t) {
    const int T = h->T, S = h->S;
    const size_t SS = (size_t)S * S;
    double N = 0;
    for (int c = 0; c < S; c++) N += h->uni[c];
    double *ctx1 = (double *)lmf_calloc((size_t)S, sizeof *ctx1);
    double *ctx2 = h->order == 2 ? (double *)lmf_calloc(SS, sizeof *ctx2) : NULL;
    h->P = (float *)lmf_malloc((h->order == 2 ? SS * S : SS) * sizeof *h->P);
    h->ptag = (double *)lmf_malloc((size_t)T * sizeof *h->ptag);
    h->dist = (double *)lmf_malloc((size_t)T * sizeof *h->dist);
    if (!ctx1 || (h->order == 2 && !ctx2) || !h->P || !h->ptag || !h->dist) {
        lmf_free(ctx1);
        lmf_free(ctx2);
        return lmf_error(LMF_ERR_NOMEM, "out of memory (HMM tables, %d tags)", T);
    }
    for (int b = 0; b < S; b++)
        for (int c = 0; c < S; c++) ctx1[b] += h->bi[(size_t)b * S + c];
    for (int64_t k = 0; k < h->ntri; k++) ctx2[h->tri_idx[k] / S] += h->tri_cnt[k];
    const double *l = h->lambda;
    if (h->order == 1) {
        for (int b = 0; b < S; b++) {
            const double w2 = ctx1[b] > 0 ? l[1] : 0, z = l[0] + w2;
            for (int c = 0; c < S; c++)
                h->P[(size_t)b * S + c] =
                    (float)((l[0] * h->uni[c] / N + (w2 > 0 ? w2 * h->bi[(size_t)b * S + c] / ctx1[b] : 0)) / z);
        }
    } else {
        for (int a = 0; a < S; a++)
            for (int b = 0; b < S; b++) {
                const double w2 = ctx1[b] > 0 ? l[1] : 0, w3 = ctx2[(size_t)a * S + b] > 0 ? l[2] : 0;
                const double z = l[0] + w2 + w3;
                float *row = h->P + ((size_t)a * S + b) * S;
                for (int c = 0; c < S; c++)
                    row[c] = (float)((l[0] * h->uni[c] / N + (w2 > 0 ? w2 * h->bi[(size_t)b * S + c] / ctx1[b] : 0)) / z);
            }
        for (int64_t k = 0; k < h->ntri; k++) {
            const int64_t ab = h->tri_idx[k] / S;
            h->P[h->tri_idx[k]] +=
                (float)(l[2] * h->tri_cnt[k] / ctx2[ab] / (l[0] + (ctx1[ab % S] > 0 ? l[1] : 0) + l[2]));
        }
    }
    lmf_free(ctx1);
    lmf_free(ctx2);
    /* tag unigram and theta */
    double nt = 0, mean = 0, var = 0;
    for (int c = 0; c < T; c++) nt += h->uni[c];
    for (int c = 0; c < T; c++) h->ptag[c] = h->uni[c] / nt, mean += h->ptag[c];
    mean /= T;
    for (int c = 0; c < T; c++) var += (h->ptag[c] - mean) * (h->ptag[c] - mean);
    h->theta = T > 1 ? sqrt(var / (T - 1)) : 0;
    /* emissions of known words */
    const int64_t nlex = h->lex_ptr[t->words.n];
    if (!(h->lex_p = (float *)lmf_malloc((size_t)(nlex ? nlex : 1) * sizeof *h->lex_p)))
        return lmf_error(LMF_ERR_NOMEM, "out of memory (HMM lexicon)");
    for (int64_t k = 0; k < nlex; k++) h->lex_p[k] = (float)((double)h->lex_cnt[k] / h->uni[h->lex_tag[k]]);
    /* suffix totals */
    if (!(h->suf_tot = (double *)lmf_calloc((size_t)(h->suf.n ? h->suf.n : 1), sizeof *h->suf_tot)))
        return lmf_error(LMF_ERR_NOMEM, "out of memory (HMM suffixes)");
    for (int32_t k = 0; k < h->suf.n; k++)
        for (int64_t j = h->suf_ptr[k]; j < h->suf_ptr[k + 1]; j++) h->suf_tot[k] += h->suf_cnt[j];
    return LMF_OK;
}

/* ---- training ---- */

typedef struct triple {
    int32_t key, tag, cnt;
} triple;

static int cmp_triple(const void *x, const void *y) {
    const triple *a = (const triple *)x, *b = (const triple *)y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->tag > b->tag) - (a->tag < b->tag);
}

static int cmp_u64(const void *x, const void *y) {
    const uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static int is_cap(const char *w) { return w[0] >= 'A' && w[0] <= 'Z'; }

static lmf_status train_suffixes(hmm *h, const lmf_tagger *t) {
    triple *v = NULL;
    size_t n = 0, cap = 0;
    char key[16];
    for (int32_t w = 0; w < t->words.n; w++) {
        int64_t tot = 0;
        for (int64_t j = h->lex_ptr[w]; j < h->lex_ptr[w + 1]; j++) tot += h->lex_cnt[j];
        if (tot > h->rare_max) continue;
        const char *s = lmf_strtab_str(&t->words, w);
        const size_t len = strlen(s);
        key[0] = is_cap(s) ? 'C' : 'l';
        for (size_t i = 0; i <= len && i <= (size_t)h->suffix_len; i++) {
            memcpy(key + 1, s + len - i, i);
            const int32_t id = lmf_strtab_add(&h->suf, key, i + 1);
            if (id < 0) goto oom;
            for (int64_t j = h->lex_ptr[w]; j < h->lex_ptr[w + 1]; j++) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 1 << 16;
                    triple *nv = (triple *)lmf_realloc(v, cap * sizeof *nv);
                    if (!nv) goto oom;
                    v = nv;
                }
                v[n++] = (triple){id, h->lex_tag[j], h->lex_cnt[j]};
            }
        }
    }
    if (n) qsort(v, n, sizeof *v, cmp_triple);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && v[m - 1].key == v[i].key && v[m - 1].tag == v[i].tag) v[m - 1].cnt += v[i].cnt;
        else v[m++] = v[i];
    }
    h->suf_ptr = (int64_t *)lmf_calloc((size_t)h->suf.n + 1, sizeof *h->suf_ptr);
    h->suf_tag = (int32_t *)lmf_malloc((m ? m : 1) * sizeof *h->suf_tag);
    h->suf_cnt = (int32_t *)lmf_malloc((m ? m : 1) * sizeof *h->suf_cnt);
    if (!h->suf_ptr || !h->suf_tag || !h->suf_cnt) goto oom;
    for (size_t i = 0; i < m; i++) {
        h->suf_ptr[v[i].key + 1]++;
        h->suf_tag[i] = v[i].tag;
        h->suf_cnt[i] = v[i].cnt;
    }
    for (int32_t k = 0; k < h->suf.n; k++) h->suf_ptr[k + 1] += h->suf_ptr[k];
    lmf_free(v);
    return LMF_OK;
oom:
    lmf_free(v);
    return lmf_error(LMF_ERR_NOMEM, "out of memory (HMM suffix model)");
}

static lmf_status deleted_interpolation(hmm *h, const int32_t *tri_dense) {
    const int S = h->S;
    double N = 0, lam[3] = {0, 0, 0};
    double *ctx1 = (double *)lmf_calloc((size_t)S, sizeof *ctx1);
    if (!ctx1) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int c = 0; c < S; c++) N += h->uni[c];
    for (int b = 0; b < S; b++)
        for (int c = 0; c < S; c++) ctx1[b] += h->bi[(size_t)b * S + c];
    if (h->order == 1) {
        for (int b = 0; b < S; b++)
            for (int c = 0; c < S; c++) {
                const double f = h->bi[(size_t)b * S + c];
                if (f <= 0) continue;
                const double c2 = ctx1[b] > 1 ? (f - 1) / (ctx1[b] - 1) : 0, c1 = N > 1 ? (h->uni[c] - 1) / (N - 1) : 0;
                lam[c2 >= c1 ? 1 : 0] += f;
            }
    } else {
        for (int a = 0; a < S; a++)
            for (int b = 0; b < S; b++) {
                const int32_t *row = tri_dense + ((size_t)a * S + b) * S;
                double ctx2 = 0;
                for (int c = 0; c < S; c++) ctx2 += row[c];
                for (int c = 0; c < S; c++) {
                    const double f = row[c];
                    if (f <= 0) continue;
                    const double c3 = ctx2 > 1 ? (f - 1) / (ctx2 - 1) : 0;
                    const double c2 = ctx1[b] > 1 ? (h->bi[(size_t)b * S + c] - 1) / (ctx1[b] - 1) : 0;
                    const double c1 = N > 1 ? (h->uni[c] - 1) / (N - 1) : 0;
                    lam[c3 >= c2 && c3 >= c1 ? 2 : c2 >= c1 ? 1 : 0] += f;
                }
            }
    }
    lmf_free(ctx1);
    const double z = lam[0] + lam[1] + lam[2];
    for (int k = 0; k < 3; k++) h->lambda[k] = z > 0 ? lam[k] / z : (k == 0);
    if (h->lambda[0] <= 0) { /* keep every outcome possible */
        h->lambda[0] = 1e-6;
        const double z2 = h->lambda[0] + h->lambda[1] + h->lambda[2];
        for (int k = 0; k < 3; k++) h->lambda[k] /= z2;
    }
    return LMF_OK;
}

static const lmf_tagger_ops hmm_ops;

lmf_status lmf_hmm_train(lmf_tagger *t, const lmf_tagger_opts *o, const lmf_tagged *train) {
    if (o->order != 1 && o->order != 2) return lmf_error(LMF_ERR_ARG, "HMM order %d: 1 or 2", o->order);
    if (o->suffix_len < 0 || o->suffix_len > 14)
        return lmf_error(LMF_ERR_ARG, "HMM suffix length %d: 0 to 14 bytes", o->suffix_len);
    if (o->rare_max < 0) return lmf_error(LMF_ERR_ARG, "HMM rare-word count %d: at least 0", o->rare_max);
    if (!(o->beam == 0 || o->beam >= 1)) return lmf_error(LMF_ERR_ARG, "HMM beam %g: 0 (all tags) or at least 1", o->beam);
    hmm *h = (hmm *)lmf_calloc(1, sizeof *h);
    if (!h) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    t->impl = h;
    t->ops = &hmm_ops;
    t->max_len = HMM_MAX_LEN;
    h->order = o->order;
    h->suffix_len = o->suffix_len;
    h->rare_max = o->rare_max;
    h->beam = o->beam;
    const int T = t->tags.n, S = T + 1;
    h->T = T;
    h->S = S;
    const size_t SS = (size_t)S * S, ntok = lmf_tagged_ntok(train), nsent = lmf_tagged_nsent(train);
    int *ids = NULL;
    int32_t *tri = NULL;
    uint64_t *pairs = NULL;
    lmf_status s = lmf_tag_ids(t, train, &ids, NULL);
    if (s) return s;
    h->uni = (int32_t *)lmf_calloc((size_t)S, sizeof *h->uni);
    h->bi = (int32_t *)lmf_calloc(SS, sizeof *h->bi);
    tri = h->order == 2 ? (int32_t *)lmf_calloc(SS * S, sizeof *tri) : NULL;
    pairs = (uint64_t *)lmf_malloc(ntok * sizeof *pairs);
    if (!h->uni || !h->bi || (h->order == 2 && !tri) || !pairs) {
        s = lmf_error(LMF_ERR_NOMEM, "out of memory (HMM counts, %d tags)", T);
        goto done;
    }
    for (size_t i = 0; i < nsent; i++) {
        size_t a0, a1;
        lmf_tagged_sentence(train, i, &a0, &a1);
        int a = T, b = T;
        for (size_t k = a0; k <= a1; k++) {
            const int c = k < a1 ? ids[k] : T;
            if (h->uni[c] == INT32_MAX) {
                s = lmf_error(LMF_ERR_DATA, "%s: more than 2^31 tokens of one tag", lmf_tagged_path(train));
                goto done;
            }
            h->uni[c]++;
            h->bi[(size_t)b * S + c]++;
            if (tri) tri[((size_t)a * S + b) * S + c]++;
            a = b, b = c;
        }
    }
    /* the lexicon: (word, tag) counts */
    for (size_t k = 0; k < ntok; k++) {
        const char *w = lmf_tagged_word(train, k);
        pairs[k] = (uint64_t)lmf_strtab_find(&t->words, w, strlen(w)) << 16 | (uint64_t)ids[k];
    }
    qsort(pairs, ntok, sizeof *pairs, cmp_u64);
    size_t m = 0;
    for (size_t k = 0; k < ntok; k++) m += !k || pairs[k] != pairs[k - 1];
    h->lex_ptr = (int64_t *)lmf_calloc((size_t)t->words.n + 1, sizeof *h->lex_ptr);
    h->lex_tag = (int32_t *)lmf_malloc(m * sizeof *h->lex_tag);
    h->lex_cnt = (int32_t *)lmf_malloc(m * sizeof *h->lex_cnt);
    if (!h->lex_ptr || !h->lex_tag || !h->lex_cnt) {
        s = lmf_error(LMF_ERR_NOMEM, "out of memory (HMM lexicon)");
        goto done;
    }
    m = 0;
    for (size_t k = 0; k < ntok; k++) {
        if (k && pairs[k] == pairs[k - 1]) {
            h->lex_cnt[m - 1]++;
            continue;
        }
        h->lex_ptr[(pairs[k] >> 16) + 1]++;
        h->lex_tag[m] = (int32_t)(pairs[k] & 0xffff);
        h->lex_cnt[m++] = 1;
    }
    for (int32_t w = 0; w < t->words.n; w++) h->lex_ptr[w + 1] += h->lex_ptr[w];
    if ((s = train_suffixes(h, t))) goto done;
    /* sparse trigrams and the lambdas */
    if ((s = deleted_interpolation(h, tri))) goto done;
    if (tri) {
        int64_t nnz = 0;
        for (size_t k = 0; k < SS * S; k++) nnz += tri[k] > 0;
        h->tri_idx = (int64_t *)lmf_malloc((size_t)(nnz ? nnz : 1) * sizeof *h->tri_idx);
        h->tri_cnt = (int32_t *)lmf_malloc((size_t)(nnz ? nnz : 1) * sizeof *h->tri_cnt);
        if (!h->tri_idx || !h->tri_cnt) {
            s = lmf_error(LMF_ERR_NOMEM, "out of memory (HMM trigrams)");
            goto done;
        }
        for (size_t k = 0; k < SS * S; k++)
            if (tri[k] > 0) h->tri_idx[h->ntri] = (int64_t)k, h->tri_cnt[h->ntri++] = tri[k];
    }
    s = build_tables(h, t);
done:
    lmf_free(ids);
    lmf_free(tri);
    lmf_free(pairs);
    return s;
}

/* ---- tagging ---- */

static lmf_status grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return LMF_OK;
    size_t nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
    void *np = lmf_realloc(*p, nc * elem);
    if (!np) return lmf_error(LMF_ERR_NOMEM, "out of memory (tagging work space)");
    *p = np;
    *cap = nc;
    return LMF_OK;
}

/* The unknown word's P(t|suffix) in h->dist. */
static void suffix_dist(hmm *h, const char *w) {
    const int T = h->T;
    const size_t len = strlen(w);
    char key[16];
    key[0] = is_cap(w) ? 'C' : 'l';
    int32_t id = lmf_strtab_find(&h->suf, key, 1);
    if (id < 0 || h->suf_tot[id] <= 0) {
        for (int c = 0; c < T; c++) h->dist[c] = h->ptag[c];
    } else {
        for (int c = 0; c < T; c++) h->dist[c] = 0;
        for (int64_t j = h->suf_ptr[id]; j < h->suf_ptr[id + 1]; j++) h->dist[h->suf_tag[j]] = h->suf_cnt[j] / h->suf_tot[id];
    }
    const double th = h->theta, g = 1.0 / (1.0 + th);
    for (size_t i = 1; i <= len && i <= (size_t)h->suffix_len; i++) {
        memcpy(key + 1, w + len - i, i);
        if ((id = lmf_strtab_find(&h->suf, key, i + 1)) < 0) break;
        for (int c = 0; c < T; c++) h->dist[c] *= th * g;
        for (int64_t j = h->suf_ptr[id]; j < h->suf_ptr[id + 1]; j++)
            h->dist[h->suf_tag[j]] += g * h->suf_cnt[j] / h->suf_tot[id];
    }
}

/* Candidate tags and emissions of every position. */
static lmf_status candidates(hmm *h, const lmf_tagger *t, const char *const *words, size_t n) {
    lmf_status s;
    if ((s = grow((void **)&h->coff, &h->cap_coff, n + 1, sizeof *h->coff))) return s;
    if ((s = grow((void **)&h->doff, &h->cap_doff, n + 1, sizeof *h->doff))) return s;
    size_t k = 0;
    const int T = h->T;
    for (size_t i = 0; i < n; i++) {
        h->coff[i] = k;
        const int32_t w = lmf_strtab_find(&t->words, words[i], strlen(words[i]));
        const size_t need = k + (size_t)T;
        if ((s = grow((void **)&h->cand, &h->cap_cand, need, sizeof *h->cand))) return s;
        if ((s = grow((void **)&h->em, &h->cap_em, need, sizeof *h->em))) return s;
        if (w >= 0) {
            for (int64_t j = h->lex_ptr[w]; j < h->lex_ptr[w + 1]; j++) {
                h->cand[k] = h->lex_tag[j];
                h->em[k++] = h->lex_p[j];
            }
        } else {
            suffix_dist(h, words[i]);
            double mx = 0;
            for (int c = 0; c < T; c++)
                if (h->dist[c] > mx) mx = h->dist[c];
            const double floor_p = h->beam > 0 ? mx / h->beam : 0;
            for (int c = 0; c < T; c++)
                if (h->dist[c] > 0 && h->dist[c] >= floor_p && h->ptag[c] > 0) { /* a fold's model may lack a tag */
                    h->cand[k] = c;
                    h->em[k++] = h->dist[c] / h->ptag[c];
                }
        }
    }
    h->coff[n] = k;
    return LMF_OK;
}

/* Position i's previous candidates (BOS alone at i = 0). */
#define NPREV(i) ((i) ? h->coff[(i)] - h->coff[(i)-1] : 1)
#define PREV(i, j) ((i) ? h->cand[h->coff[(i)-1] + (j)] : T)

/* Candidates and emissions from per-token scores (n x T ln q): the tags
 * within a factor 1000 of the best, emission q(t) / P(t) (a posterior turned
 * into a scaled likelihood, as hybrid HMM decoders do). */
static lmf_status candidates_from_scores(hmm *h, const float *logq, size_t n) {
    lmf_status s;
    if ((s = grow((void **)&h->coff, &h->cap_coff, n + 1, sizeof *h->coff))) return s;
    if ((s = grow((void **)&h->doff, &h->cap_doff, n + 1, sizeof *h->doff))) return s;
    const int T = h->T;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        h->coff[i] = k;
        const size_t need = k + (size_t)T;
        if ((s = grow((void **)&h->cand, &h->cap_cand, need, sizeof *h->cand))) return s;
        if ((s = grow((void **)&h->em, &h->cap_em, need, sizeof *h->em))) return s;
        const float *q = logq + i * (size_t)T;
        float mx = -INFINITY;
        for (int c = 0; c < T; c++) mx = q[c] > mx ? q[c] : mx;
        if (!(mx > -INFINITY)) return lmf_error(LMF_ERR_ARG, "token %zu: no tag has a probability above 0", i + 1);
        const float lo = mx - (float)log(1000.0);
        for (int c = 0; c < T; c++)
            if (q[c] >= lo && h->ptag[c] > 0) {
                h->cand[k] = c;
                h->em[k++] = exp((double)q[c] - mx) / h->ptag[c];
            }
    }
    h->coff[n] = k;
    return LMF_OK;
}

static lmf_status decode(hmm *h, size_t n, int *best, float *logp);

static lmf_status hmm_run(lmf_tagger *t, const char *const *words, size_t n, int *best, float *logp) {
    hmm *h = (hmm *)t->impl;
    lmf_status s = candidates(h, t, words, n);
    return s ? s : decode(h, n, best, logp);
}

lmf_status lmf_hmm_viterbi_scores(lmf_tagger *t, const float *logq, size_t n, int *best) {
    if (t->kind != LMF_TAGGER_HMM) return lmf_error(LMF_ERR_ARG, "Viterbi decoding needs an HMM tagger's transitions");
    hmm *h = (hmm *)t->impl;
    lmf_status s = candidates_from_scores(h, logq, n);
    return s ? s : decode(h, n, best, NULL);
}

/* Viterbi (best) and forward-backward (logp) over the lattice of the
 * candidates in h. */
static lmf_status decode(hmm *h, size_t n, int *best, float *logp) {
    const int T = h->T;
    lmf_status s;
    /* cell matrices: position i has NPREV(i) x ncand(i) cells */
    size_t cells = 0;
    for (size_t i = 0; i < n; i++) {
        h->doff[i] = cells;
        cells += NPREV(i) * (h->coff[i + 1] - h->coff[i]);
    }
    h->doff[n] = cells;
    if ((s = grow((void **)&h->delta, &h->cap_delta, cells, sizeof *h->delta)) ||
        (s = grow((void **)&h->bp, &h->cap_bp, cells, sizeof *h->bp)) ||
        (logp && (s = grow((void **)&h->beta, &h->cap_beta, cells, sizeof *h->beta))))
        return s;
    /* Viterbi (max-product, rescaled) */
    for (size_t i = 0; i < n; i++) {
        const size_t np = NPREV(i), nc = h->coff[i + 1] - h->coff[i], npp = i ? NPREV(i - 1) : 1;
        const int *cc = h->cand + h->coff[i];
        const double *ee = h->em + h->coff[i];
        double *d = h->delta + h->doff[i], mx = 0;
        int *bp = h->bp + h->doff[i];
        for (size_t a = 0; a < np; a++) {
            const int ta = PREV(i, a);
            for (size_t c = 0; c < nc; c++) {
                double bv = -1;
                int bz = 0;
                if (i == 0) {
                    bv = trans(h, T, T, cc[c]);
                } else {
                    const double *dp = h->delta + h->doff[i - 1];
                    const size_t ncp = np; /* previous position's candidates == this position's rows */
                    for (size_t z = 0; z < npp; z++) {
                        const double v = dp[z * ncp + a] * trans(h, i >= 1 ? PREV(i - 1, z) : T, ta, cc[c]);
                        if (v > bv) bv = v, bz = (int)z;
                    }
                }
                d[a * nc + c] = bv * ee[c];
                bp[a * nc + c] = bz;
                if (d[a * nc + c] > mx) mx = d[a * nc + c];
            }
        }
        if (mx > 0)
            for (size_t k = 0; k < np * nc; k++) d[k] /= mx;
    }
    if (best) {
        const size_t i = n - 1, np = NPREV(i), nc = h->coff[n] - h->coff[i];
        const double *d = h->delta + h->doff[i];
        double bv = -1;
        size_t ba = 0, bc = 0;
        for (size_t a = 0; a < np; a++)
            for (size_t c = 0; c < nc; c++) {
                const double v = d[a * nc + c] * trans(h, PREV(i, a), h->cand[h->coff[i] + c], T);
                if (v > bv) bv = v, ba = a, bc = c;
            }
        /* best[] holds candidate indices while walking back */
        best[n - 1] = (int)bc;
        if (n >= 2) best[n - 2] = (int)ba;
        for (size_t k = n - 1; k >= 2; k--) {
            const size_t nck = h->coff[k + 1] - h->coff[k];
            best[k - 2] = h->bp[h->doff[k] + (size_t)best[k - 1] * nck + (size_t)best[k]];
        }
        for (size_t k = 0; k < n; k++) best[k] = h->cand[h->coff[k] + (size_t)best[k]];
    }
    if (!logp) return LMF_OK;
    /* forward (alpha in delta, rescaled to sum 1) */
    for (size_t i = 0; i < n; i++) {
        const size_t np = NPREV(i), nc = h->coff[i + 1] - h->coff[i], npp = i ? NPREV(i - 1) : 1;
        const int *cc = h->cand + h->coff[i];
        const double *ee = h->em + h->coff[i];
        double *d = h->delta + h->doff[i], sum = 0;
        for (size_t a = 0; a < np; a++) {
            const int ta = PREV(i, a);
            for (size_t c = 0; c < nc; c++) {
                double v = 0;
                if (i == 0) {
                    v = trans(h, T, T, cc[c]);
                } else {
                    const double *dp = h->delta + h->doff[i - 1];
                    for (size_t z = 0; z < npp; z++) v += dp[z * np + a] * trans(h, PREV(i - 1, z), ta, cc[c]);
                }
                d[a * nc + c] = v * ee[c];
                sum += d[a * nc + c];
            }
        }
        if (sum > 0)
            for (size_t k = 0; k < np * nc; k++) d[k] /= sum;
    }
    /* backward (rescaled to sum 1) */
    for (size_t i = n; i-- > 0;) {
        const size_t np = NPREV(i), nc = h->coff[i + 1] - h->coff[i];
        const int *cc = h->cand + h->coff[i];
        double *b = h->beta + h->doff[i], sum = 0;
        for (size_t a = 0; a < np; a++) {
            const int ta = PREV(i, a);
            for (size_t c = 0; c < nc; c++) {
                double v = 0;
                if (i == n - 1) {
                    v = trans(h, ta, cc[c], T);
                } else {
                    const size_t nn = h->coff[i + 2] - h->coff[i + 1];
                    const int *cn = h->cand + h->coff[i + 1];
                    const double *en = h->em + h->coff[i + 1], *bn = h->beta + h->doff[i + 1];
                    for (size_t e = 0; e < nn; e++) v += trans(h, ta, cc[c], cn[e]) * en[e] * bn[c * nn + e];
                }
                b[a * nc + c] = v;
                sum += v;
            }
        }
        if (sum > 0)
            for (size_t k = 0; k < np * nc; k++) b[k] /= sum;
    }
    for (size_t i = 0; i < n; i++) {
        const size_t np = NPREV(i), nc = h->coff[i + 1] - h->coff[i];
        const double *d = h->delta + h->doff[i], *b = h->beta + h->doff[i];
        float *out = logp + i * (size_t)T;
        for (int c = 0; c < T; c++) h->dist[c] = 0;
        double z = 0;
        for (size_t a = 0; a < np; a++)
            for (size_t c = 0; c < nc; c++) {
                const double v = d[a * nc + c] * b[a * nc + c];
                h->dist[h->cand[h->coff[i] + c]] += v;
                z += v;
            }
        for (int c = 0; c < T; c++) out[c] = z > 0 && h->dist[c] > 0 ? (float)log(h->dist[c] / z) : -INFINITY;
        if (!(z > 0)) /* nothing reachable (cannot happen with lambda_1 > 0): uniform over the candidates */
            for (size_t c = 0; c < nc; c++) out[h->cand[h->coff[i] + c]] = (float)-log((double)nc);
    }
    return LMF_OK;
}

/* ---- files ---- */

static lmf_status hmm_save(const lmf_tagger *t, lmf_st_writer *w, void **keep, const char *path) {
    (void)path;
    const hmm *h = (const hmm *)t->impl;
    const int64_t S = h->S;
    double params[7] = {h->order, h->suffix_len, h->rare_max, h->beam, h->lambda[0], h->lambda[1], h->lambda[2]};
    size_t kb = 0;
    char *keys = lmf_strtab_blob(&h->suf, &kb);
    if (!keys) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    *keep = keys;
    /* params must outlive this call: keep a copy after the keys */
    char *both = (char *)lmf_realloc(keys, kb + sizeof params + 8);
    if (!both) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    *keep = both;
    double *pp = (double *)(both + ((kb + 7) / 8) * 8);
    memcpy(pp, params, sizeof params);
    const int64_t nlex = h->lex_ptr[t->words.n], nsuf = h->suf_ptr[h->suf.n];
    int64_t sh[1];
    lmf_status s;
    sh[0] = 7;
    if ((s = lmf_st_add(w, "hmm_params", LMF_DT_F64, 1, sh, pp))) return s;
    sh[0] = S;
    if ((s = lmf_st_add(w, "uni", LMF_DT_I32, 1, sh, h->uni))) return s;
    sh[0] = S * S;
    if ((s = lmf_st_add(w, "bi", LMF_DT_I32, 1, sh, h->bi))) return s;
    static const int64_t none[1] = {0}; /* first order: no trigrams (and no NULL data pointers) */
    sh[0] = h->ntri;
    if ((s = lmf_st_add(w, "tri_idx", LMF_DT_I64, 1, sh, h->ntri ? (const void *)h->tri_idx : none))) return s;
    if ((s = lmf_st_add(w, "tri_cnt", LMF_DT_I32, 1, sh, h->ntri ? (const void *)h->tri_cnt : none))) return s;
    sh[0] = t->words.n + 1;
    if ((s = lmf_st_add(w, "lex_ptr", LMF_DT_I64, 1, sh, h->lex_ptr))) return s;
    sh[0] = nlex;
    if ((s = lmf_st_add(w, "lex_tag", LMF_DT_I32, 1, sh, h->lex_tag))) return s;
    if ((s = lmf_st_add(w, "lex_cnt", LMF_DT_I32, 1, sh, h->lex_cnt))) return s;
    sh[0] = (int64_t)kb;
    if ((s = lmf_st_add(w, "suf_keys", LMF_DT_U8, 1, sh, both))) return s;
    sh[0] = h->suf.n + 1;
    if ((s = lmf_st_add(w, "suf_ptr", LMF_DT_I64, 1, sh, h->suf_ptr))) return s;
    sh[0] = nsuf;
    if ((s = lmf_st_add(w, "suf_tag", LMF_DT_I32, 1, sh, h->suf_tag))) return s;
    return lmf_st_add(w, "suf_cnt", LMF_DT_I32, 1, sh, h->suf_cnt);
}

static lmf_status copy_tensor(const lmf_safetensors *st, const char *path, const char *name, lmf_dtype dt, int64_t numel,
                              void **dst, int64_t *got) {
    const lmf_st_tensor *x;
    lmf_status s = lmf_tag_tensor(st, path, name, dt, numel, &x);
    if (s) return s;
    *dst = lmf_malloc(x->nbytes ? (size_t)x->nbytes : 1);
    if (!*dst) return lmf_error(LMF_ERR_NOMEM, "out of memory (%s of %s)", name, path);
    memcpy(*dst, x->data, (size_t)x->nbytes);
    if (got) *got = (int64_t)x->numel;
    return LMF_OK;
}

static lmf_status check_csr(const char *path, const char *what, const int64_t *ptr, int64_t rows, const int32_t *tag,
                            const int32_t *cnt, int64_t nnz, int T) {
    if (ptr[0] != 0 || ptr[rows] != nnz)
        return lmf_error(LMF_ERR_FORMAT, "%s: %s offsets do not span their %lld entries (a damaged file)", path, what, (long long)nnz);
    for (int64_t r = 0; r < rows; r++) {
        if (ptr[r + 1] < ptr[r] || ptr[r + 1] > nnz) return lmf_error(LMF_ERR_FORMAT, "%s: %s offsets decrease at row %lld (a damaged file)", path, what, (long long)r);
        for (int64_t j = ptr[r]; j < ptr[r + 1]; j++) {
            if (tag[j] < 0 || tag[j] >= T || (j > ptr[r] && tag[j] <= tag[j - 1]))
                return lmf_error(LMF_ERR_FORMAT, "%s: %s row %lld: tag %d out of range or order (a damaged file)", path, what,
                                 (long long)r, tag[j]);
            if (cnt[j] <= 0) return lmf_error(LMF_ERR_FORMAT, "%s: %s row %lld: count %d (a damaged file)", path, what, (long long)r, cnt[j]);
        }
    }
    return LMF_OK;
}

lmf_status lmf_hmm_load(lmf_tagger *t, const lmf_safetensors *st, const char *path) {
    hmm *h = (hmm *)lmf_calloc(1, sizeof *h);
    if (!h) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    t->impl = h;
    t->ops = &hmm_ops;
    t->max_len = HMM_MAX_LEN;
    const int T = t->tags.n, S = T + 1;
    h->T = T;
    h->S = S;
    const lmf_st_tensor *x;
    double pr[7];
    lmf_status s = lmf_tag_tensor(st, path, "hmm_params", LMF_DT_F64, 7, &x);
    if (s) return s;
    memcpy(pr, x->data, sizeof pr);
    if (!((pr[0] == 1 || pr[0] == 2) && pr[1] >= 0 && pr[1] <= 14 && pr[1] == floor(pr[1]) && pr[2] >= 0 &&
          pr[2] <= 1e9 && pr[2] == floor(pr[2]) && (pr[3] == 0 || (pr[3] >= 1 && pr[3] <= 1e300)) && pr[4] > 0 &&
          pr[4] <= 1 && pr[5] >= 0 && pr[5] <= 1 && pr[6] >= 0 && pr[6] <= 1))
        return lmf_error(LMF_ERR_FORMAT, "%s: HMM parameters out of range (a damaged file)", path);
    h->order = t->opts.order = (int)pr[0];
    h->suffix_len = t->opts.suffix_len = (int)pr[1];
    h->rare_max = t->opts.rare_max = (int)pr[2];
    h->beam = t->opts.beam = pr[3];
    h->lambda[0] = pr[4], h->lambda[1] = pr[5], h->lambda[2] = pr[6];
    int64_t nlex = 0, nsuf = 0, nsuf2 = 0, nlex2 = 0;
    if ((s = copy_tensor(st, path, "uni", LMF_DT_I32, S, (void **)&h->uni, NULL)) ||
        (s = copy_tensor(st, path, "bi", LMF_DT_I32, (int64_t)S * S, (void **)&h->bi, NULL)) ||
        (s = copy_tensor(st, path, "tri_idx", LMF_DT_I64, -1, (void **)&h->tri_idx, &h->ntri)) ||
        (s = copy_tensor(st, path, "tri_cnt", LMF_DT_I32, h->ntri, (void **)&h->tri_cnt, NULL)) ||
        (s = copy_tensor(st, path, "lex_ptr", LMF_DT_I64, (int64_t)t->words.n + 1, (void **)&h->lex_ptr, NULL)) ||
        (s = copy_tensor(st, path, "lex_tag", LMF_DT_I32, -1, (void **)&h->lex_tag, &nlex)) ||
        (s = copy_tensor(st, path, "lex_cnt", LMF_DT_I32, nlex, (void **)&h->lex_cnt, &nlex2)))
        return s;
    if ((s = lmf_tag_tensor(st, path, "suf_keys", LMF_DT_U8, -1, &x))) return s;
    if ((s = lmf_strtab_from_blob(&h->suf, x->data, x->nbytes, 0, path, "suffixes"))) return s;
    if ((s = copy_tensor(st, path, "suf_ptr", LMF_DT_I64, (int64_t)h->suf.n + 1, (void **)&h->suf_ptr, NULL)) ||
        (s = copy_tensor(st, path, "suf_tag", LMF_DT_I32, -1, (void **)&h->suf_tag, &nsuf)) ||
        (s = copy_tensor(st, path, "suf_cnt", LMF_DT_I32, nsuf, (void **)&h->suf_cnt, &nsuf2)))
        return s;
    for (int c = 0; c < S; c++)
        if (h->uni[c] <= 0) return lmf_error(LMF_ERR_FORMAT, "%s: tag %d has count %d (a damaged file)", path, c, h->uni[c]);
    for (int64_t k = 0; k < (int64_t)S * S; k++)
        if (h->bi[k] < 0) return lmf_error(LMF_ERR_FORMAT, "%s: a negative bigram count (a damaged file)", path);
    const int64_t S3 = (int64_t)S * S * S;
    if (h->order == 1 && h->ntri) return lmf_error(LMF_ERR_FORMAT, "%s: a first-order HMM with trigram counts (a damaged file)", path);
    for (int64_t k = 0; k < h->ntri; k++)
        if (h->tri_idx[k] < 0 || h->tri_idx[k] >= S3 || (k && h->tri_idx[k] <= h->tri_idx[k - 1]) || h->tri_cnt[k] <= 0)
            return lmf_error(LMF_ERR_FORMAT, "%s: trigram entry %lld out of range or order (a damaged file)", path, (long long)k);
    for (int32_t k = 0; k < h->suf.n; k++) {
        const char *key = lmf_strtab_str(&h->suf, k);
        if ((key[0] != 'C' && key[0] != 'l') || strlen(key) > (size_t)h->suffix_len + 1)
            return lmf_error(LMF_ERR_FORMAT, "%s: suffix key %d is malformed (a damaged file)", path, k);
    }
    if ((s = check_csr(path, "lexicon", h->lex_ptr, t->words.n, h->lex_tag, h->lex_cnt, nlex, T)) ||
        (s = check_csr(path, "suffix", h->suf_ptr, h->suf.n, h->suf_tag, h->suf_cnt, nsuf, T)))
        return s;
    for (int32_t w = 0; w < t->words.n; w++)
        if (h->lex_ptr[w + 1] == h->lex_ptr[w])
            return lmf_error(LMF_ERR_FORMAT, "%s: word %d has no tags (a damaged file)", path, w);
    return build_tables(h, t);
}

static const lmf_tagger_ops hmm_ops = {hmm_run, hmm_save, hmm_free};
