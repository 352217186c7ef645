/* Static interpolation of back-off n-gram models into one (lmf_ngram_mix,
 * lmf/ngram.h), as SRILM's `ngram -lm A -mix-lm B -lambda L -write-lm`:
 *
 *  1. The union vocabulary U and, per member, the maps between its ids and
 *     U's, with the <unk> share of the words it lacks (the convention of
 *     lmf_fuse_unify, src/fuse/vmap.c, re-implemented in unk_divisor).
 *  2. The merged n-gram lists: per order, every member's n-grams mapped into
 *     U, sorted and made unique; then, from the highest order down, the
 *     prefix (context) and suffix of every n-gram are added where missing,
 *     so that each context is listed (ARPA) and each back-off sum below only
 *     meets listed n-grams.
 *  3. The probability of every listed (h, w): the dynamic mixture
 *     sum_k lambda_k p_k(w|h), p_k by member k's own back-off from the
 *     context h mapped into its ids (the context is built once per run of
 *     n-grams sharing it: the lists are sorted).
 *  4. The tables of the merged model (lmf_ngram_build_tables), then the
 *     back-off weight of every context from the stored float probabilities:
 *     bow(h) = (1 - sum_w p(w|h)) / (1 - sum_w p(w|h')) over the words w
 *     listed after h; (h', w) is listed by step 2, so both sums are lookups.
 */
#include "ngram_impl.h"

#include <math.h>
#include <string.h>

#define PROB_EPS 3e-6 /* SRILM's Prob_Epsilon: sums this close to 1 count as 1 */

void lmf_ngram_mix_opts_init(lmf_ngram_mix_opts *o) {
    memset(o, 0, sizeof *o);
}

/* One member seen through U. */
typedef struct mix_member {
    const lmf_ngram *m;
    double lambda;
    int order;       /* min(member's order, merged order) */
    int32_t V;       /* member's vocabulary size (<s> = V) */
    uint32_t *to_u;  /* V+1: member id -> U id (<s> -> NU) */
    int32_t *from_u; /* NU+1: U id -> member id; -1 where the member lacks the word, and for U's <unk> */
    double pen;      /* log10 of the <unk> share divisor */
    lmf_ngram_ctx ctx; /* the current context, in member ids */
} mix_member;

/* The divisor of member k's p(<unk>|h) for each U word it lacks and for
 * U's <unk>; mirrors vmap_new in src/fuse/vmap.c (keep the two in step):
 * dub 0 spreads the mass over the missing words and <unk> (the member still
 * sums to 1), dub > 0 is IRSTLM's dictionary upper bound (|V| + 1 counts
 * <s> as an ARPA unigram), dub < 0 keeps p(<unk>) as is. */
static double unk_divisor(double dub, int32_t V, int32_t missing) {
    double div = dub > 0 ? dub - (double)V - 1 : dub < 0 ? 1 : (double)missing + 1;
    return div > 1 ? div : 1;
}

static const char *member_name(const lmf_ngram_mix_opts *o, int k, char *buf, size_t n) {
    if (o->names && o->names[k]) return o->names[k];
    snprintf(buf, n, "member %d", k + 1);
    return buf;
}

/* "a b c" (U ids) for messages, cut to fit buf[0..cap). */
static const char *ids_text(const lmf_vocab *v, const uint32_t *g, int n, char *buf, size_t cap) {
    size_t at = 0;
    buf[0] = 0;
    for (int j = 0; j < n && at + 1 < cap; j++) {
        size_t wl;
        const char *w = lmf_vocab_word(v, (int32_t)g[j], &wl); /* id V is <s> */
        int k = snprintf(buf + at, cap - at, "%s%.*s", j ? " " : "", (int)wl, w);
        if (k < 0) break;
        at += (size_t)k;
    }
    return buf;
}

/* Sorts *count n-grams and drops repeats (*count becomes the number left). */
static lmf_status sort_unique(uint32_t *ids, uint64_t *count, int n) {
    uint32_t *perm;
    lmf_status s = lmf_ngram_sort_ids(ids, *count, n, &perm);
    if (s) return s;
    lmf_free(perm);
    uint64_t out = 0;
    for (uint64_t e = 0; e < *count; e++) {
        const uint32_t *g = ids + e * (uint64_t)n;
        if (out && !memcmp(ids + (out - 1) * (uint64_t)n, g, (size_t)n * sizeof *g)) continue;
        if (out != e) memmove(ids + out * (uint64_t)n, g, (size_t)n * sizeof *g);
        out++;
    }
    *count = out;
    return LMF_OK;
}

/* Whether the n-gram g is among the count sorted n-grams ids. */
static int sorted_has(const uint32_t *ids, uint64_t count, int n, const uint32_t *g) {
    uint64_t a = 0, b = count;
    while (a < b) {
        uint64_t mid = a + (b - a) / 2;
        const uint32_t *x = ids + mid * (uint64_t)n;
        int j = 0;
        while (j < n && x[j] == g[j]) j++;
        if (j == n) return 1;
        if (x[j] < g[j]) a = mid + 1;
        else b = mid;
    }
    return 0;
}

/* Adds to the sorted, unique list of order n-1 (*lo, *nlo n-grams, capacity
 * *caplo) the prefixes and suffixes of the n-grams of order n that it
 * lacks; the list stays sorted and unique. */
static lmf_status close_order(const uint32_t *hi, uint64_t nhi, int n, uint32_t **lo, uint64_t *nlo, uint64_t *caplo) {
    const int k = n - 1;
    uint64_t base = *nlo, cnt = *nlo;
    for (uint64_t e = 0; e < nhi; e++) {
        const uint32_t *g = hi + e * (uint64_t)n;
        for (int part = 0; part < 2; part++) {
            const uint32_t *x = g + part; /* prefix g[0..k), suffix g[1..n) */
            if (part == 0 && e && !memcmp(g - n, g, (size_t)k * sizeof *g)) continue; /* same prefix as before */
            if (sorted_has(*lo, base, k, x)) continue;
            if (cnt == *caplo) {
                uint64_t nc = *caplo + *caplo / 2 + 1024;
                uint32_t *p = (uint32_t *)lmf_realloc(*lo, nc * (uint64_t)k * sizeof *p);
                if (!p) return lmf_error(LMF_ERR_NOMEM, "out of memory adding missing %d-grams", k);
                *lo = p;
                *caplo = nc;
            }
            memcpy(*lo + cnt * (uint64_t)k, x, (size_t)k * sizeof *x);
            cnt++;
        }
    }
    *nlo = cnt;
    return cnt > base ? sort_unique(*lo, nlo, k) : LMF_OK;
}

/* Sets member mm's context to the U-id history h[0..L) (text order). */
static void member_ctx(mix_member *mm, const uint32_t *h, int L) {
    const lmf_ngram *m = mm->m;
    lmf_ngram_ctx *c = &mm->ctx;
    int len = L < mm->order - 1 ? L : mm->order - 1;
    memset(c, 0, sizeof *c);
    c->len = len;
    uint64_t key = 0;
    for (int j = 0; j < len; j++) { /* words[j] = h[L-1-j]; backoff[j] of the (j+1)-gram words[j..0] */
        int32_t id = mm->from_u[h[L - 1 - j]];
        if (id < 0) id = LMF_UNK;
        c->words[j] = id;
        if (j == 0) {
            key = lmf_ngram_key1(m->seed, (uint32_t)id);
            c->backoff[0] = m->uni_backoff[id];
        } else {
            key = lmf_ngram_key_ext(key, (uint32_t)id);
            const lmf_ngram_slot *sl = lmf_ngram_find(&m->tab[j + 1], key);
            c->backoff[j] = sl ? sl->backoff : 0.0f;
        }
    }
}

/* log10 of sum_k lambda_k p_k(w | each member's current context). */
static double mix_logp(mix_member *mm, int K, uint32_t w) {
    double lp[LMF_NGRAM_MIX_MAX_MEMBERS], top = -INFINITY;
    for (int k = 0; k < K; k++) {
        if (mm[k].lambda == 0) continue;
        int32_t id = mm[k].from_u[w];
        double l = id >= 0 ? (double)lmf_ngram_score_word(mm[k].m, &mm[k].ctx, id, NULL, NULL)
                           : (double)lmf_ngram_score_word(mm[k].m, &mm[k].ctx, LMF_UNK, NULL, NULL) - mm[k].pen;
        lp[k] = l;
        if (l > top) top = l;
    }
    if (top == -INFINITY) return -INFINITY;
    double sum = 0;
    for (int k = 0; k < K; k++)
        if (mm[k].lambda != 0) sum += mm[k].lambda * pow(10.0, lp[k] - top);
    return top + log10(sum);
}

static float to_float_logp(double lp) { return lp == -INFINITY ? -99.0f : (float)lp; }

/* Back-off weights of every context (step 4). */
static void backoffs(lmf_ngram *m, lmf_ngram_mix_info *info) {
    char ex_zero[256] = "", ex_over[256] = "", ex_improper[256] = "", ex_tiny[256] = "";
    for (int n = 2; n <= m->order; n++) {
        const lmf_ngram_table *t = &m->tab[n];
        for (uint64_t e = 0; e < t->count;) {
            const uint32_t *h = t->ids + e * (uint64_t)n;
            double s1 = 0, s2 = 0;
            uint64_t f = e;
            for (; f < t->count; f++) {
                const uint32_t *g = t->ids + f * (uint64_t)n;
                if (f > e && memcmp(g, h, (size_t)(n - 1) * sizeof *g)) break;
                const lmf_ngram_slot *sl = lmf_ngram_find(t, lmf_ngram_key(m->seed, g, n));
                LMF_ASSERT(sl);
                s1 += pow(10.0, (double)sl->prob);
                float lower;
                if (n == 2) {
                    lower = m->uni_prob[g[1]];
                } else {
                    const lmf_ngram_slot *ls = lmf_ngram_find(&m->tab[n - 1], lmf_ngram_key(m->seed, g + 1, n - 1));
                    LMF_ASSERT(ls); /* every suffix is listed (close_order) */
                    lower = ls->prob;
                }
                s2 += pow(10.0, (double)lower);
            }
            double num = 1 - s1, den = 1 - s2, bow;
            if (num < 0 && num > -PROB_EPS) num = 0;
            if (den < 0 && den > -PROB_EPS) den = 0;
            char *ex = NULL;
            if (num < 0 || den < 0) { /* listed mass above 1: members that sum above 1 (unk_dub < 0) */
                bow = 0;
                info->bow_over++;
                ex = ex_over;
            } else if (den <= 0) {
                if (num > PROB_EPS) {
                    bow = -99;
                    info->bow_improper++;
                    ex = ex_improper;
                } else {
                    bow = 0;
                }
            } else if (num == 0) {
                bow = -99;
                info->bow_zero++;
                ex = ex_zero;
            } else {
                bow = log10(num) - log10(den);
                if (den < PROB_EPS) {
                    info->bow_tiny_den++;
                    ex = ex_tiny;
                }
            }
            if (ex && !ex[0]) {
                char ctx[160];
                snprintf(ex, 256, "\"%s\" (numerator %.3g, denominator %.3g)",
                         ids_text(m->vocab, h, n - 1, ctx, sizeof ctx), num, den);
            }
            float *slot;
            if (n == 2) {
                slot = &m->uni_backoff[h[0]];
            } else {
                lmf_ngram_slot *cs = (lmf_ngram_slot *)lmf_ngram_find(&m->tab[n - 1], lmf_ngram_key(m->seed, h, n - 1));
                LMF_ASSERT(cs); /* every context is listed (close_order) */
                slot = &cs->backoff;
            }
            *slot = (float)bow;
            info->contexts++;
            e = f;
        }
    }
    if (info->bow_zero)
        lmf_log(LMF_LOG_WARN, "mix: %llu context%s leave no probability mass for unlisted words (back-off weight set "
                              "to log10 -99), e.g. %s",
                (unsigned long long)info->bow_zero, info->bow_zero == 1 ? "" : "s", ex_zero);
    if (info->bow_over)
        lmf_log(LMF_LOG_WARN, "mix: %llu context%s list words whose probabilities sum above 1 (members that are not "
                              "normalised, as with unk_dub < 0); their back-off weight is 1, e.g. %s",
                (unsigned long long)info->bow_over, info->bow_over == 1 ? "" : "s", ex_over);
    if (info->bow_improper)
        lmf_log(LMF_LOG_WARN, "mix: %llu context%s have mass left but none below to give it to (back-off weight "
                              "log10 -99; the model sums below 1 there), e.g. %s",
                (unsigned long long)info->bow_improper, info->bow_improper == 1 ? "" : "s", ex_improper);
    if (info->bow_tiny_den)
        lmf_log(LMF_LOG_WARN, "mix: %llu context%s have a back-off denominator below %g (float rounding may show in "
                              "their back-off weights), e.g. %s",
                (unsigned long long)info->bow_tiny_den, info->bow_tiny_den == 1 ? "" : "s", PROB_EPS, ex_tiny);
}

lmf_status lmf_ngram_mix(const lmf_ngram *const *members, int K, const double *lambda,
                         const lmf_ngram_mix_opts *opts_in, lmf_ngram **out, lmf_ngram_mix_info *info) {
    *out = NULL;
    lmf_ngram_mix_opts opts;
    if (opts_in)
        opts = *opts_in;
    else
        lmf_ngram_mix_opts_init(&opts);
    lmf_ngram_mix_info linfo;
    if (!info) info = &linfo;
    memset(info, 0, sizeof *info);
    char nb[32], nb2[32];
    if (K < 1 || K > LMF_NGRAM_MIX_MAX_MEMBERS)
        return lmf_error(LMF_ERR_ARG, "mixing needs 1..%d models, got %d", LMF_NGRAM_MIX_MAX_MEMBERS, K);
    double wsum = 0;
    for (int k = 0; k < K; k++) {
        double l = lambda ? lambda[k] : 1.0;
        if (!(l >= 0 && isfinite(l)))
            return lmf_error(LMF_ERR_ARG, "weight %d (%s) is %g; weights must be finite and >= 0", k + 1,
                             member_name(&opts, k, nb, sizeof nb), l);
        wsum += l;
    }
    if (!(wsum > 0 && isfinite(wsum)))
        return lmf_error(LMF_ERR_ARG, "the weights sum to %g; give at least one a positive weight", wsum);
    if (!isfinite(opts.unk_dub)) return lmf_error(LMF_ERR_ARG, "unk_dub must be finite");
    int maxo = 0;
    for (int k = 0; k < K; k++) {
        const lmf_ngram *m = members[k];
        maxo = m->order > maxo ? m->order : maxo;
        if (lmf_vocab_mode(m->vocab) != lmf_vocab_mode(members[0]->vocab))
            return lmf_error(LMF_ERR_DATA,
                             "%s and %s read different units (%s and %s); a union vocabulary needs one kind of token",
                             member_name(&opts, 0, nb, sizeof nb), member_name(&opts, k, nb2, sizeof nb2),
                             lmf_token_mode_name(lmf_vocab_mode(members[0]->vocab)),
                             lmf_token_mode_name(lmf_vocab_mode(m->vocab)));
        for (int n = 2; n <= m->order; n++)
            if (m->tab[n].count && !m->tab[n].ids)
                return lmf_error(LMF_ERR_UNSUPPORTED,
                                 "%s was saved without its n-gram lists, so its n-grams cannot be listed; "
                                 "convert it from its ARPA file again (lmfuse ngram convert)",
                                 member_name(&opts, k, nb, sizeof nb));
    }
    const int N = opts.order ? opts.order : maxo;
    if (N < 1 || N > LMF_NGRAM_MAX_ORDER)
        return lmf_error(LMF_ERR_ARG, "order %d is out of range; use 1..%d", N, LMF_NGRAM_MAX_ORDER);
    if (N > maxo)
        return lmf_error(LMF_ERR_ARG,
                         "order %d is above the members' highest order %d; the merged model could list no %d-grams", N,
                         maxo, N);
    info->order = N;
    for (int k = 0; k < K; k++) info->lambda[k] = (lambda ? lambda[k] : 1.0) / wsum;

    lmf_status s = LMF_OK;
    mix_member mm[LMF_NGRAM_MIX_MAX_MEMBERS];
    memset(mm, 0, sizeof mm);
    uint32_t *ids[LMF_NGRAM_MAX_ORDER + 1] = {0};
    uint64_t cnt[LMF_NGRAM_MAX_ORDER + 1] = {0}, cap[LMF_NGRAM_MAX_ORDER + 1] = {0};
    float *probs[LMF_NGRAM_MAX_ORDER + 1] = {0}, *bos[LMF_NGRAM_MAX_ORDER + 1] = {0};
    lmf_ngram *r = NULL;

    /* ---- 1. union vocabulary and maps ---- */
    lmf_vocab *U = lmf_vocab_new(lmf_vocab_mode(members[0]->vocab));
    for (int k = 0; k < K && U && !s; k++) {
        const lmf_vocab *v = members[k]->vocab;
        for (int32_t i = 2; i < lmf_vocab_size(v) && !s; i++) {
            size_t wl;
            const char *w = lmf_vocab_word(v, i, &wl);
            if (lmf_vocab_add(U, w, wl) < 0) s = lmf_error(LMF_ERR_NOMEM, "out of memory (union vocabulary)");
        }
    }
    if (!U) s = lmf_error(LMF_ERR_NOMEM, "out of memory (union vocabulary)");
    const int32_t NU = U ? lmf_vocab_size(U) : 0;
    for (int k = 0; k < K && !s; k++) {
        mix_member *x = &mm[k];
        x->m = members[k];
        x->lambda = info->lambda[k];
        x->order = members[k]->order < N ? members[k]->order : N;
        x->V = lmf_vocab_size(members[k]->vocab);
        x->to_u = (uint32_t *)lmf_malloc(((size_t)x->V + 1) * sizeof *x->to_u);
        x->from_u = (int32_t *)lmf_malloc(((size_t)NU + 1) * sizeof *x->from_u);
        if (!x->to_u || !x->from_u) {
            s = lmf_error(LMF_ERR_NOMEM, "out of memory (vocabulary maps)");
            break;
        }
        for (int32_t u = 0; u <= NU; u++) x->from_u[u] = -1;
        x->to_u[LMF_UNK] = LMF_UNK;
        x->to_u[LMF_EOS] = LMF_EOS;
        x->to_u[x->V] = (uint32_t)NU;
        x->from_u[LMF_EOS] = LMF_EOS;
        x->from_u[NU] = x->V;
        for (int32_t i = 2; i < x->V; i++) {
            size_t wl;
            const char *w = lmf_vocab_word(members[k]->vocab, i, &wl);
            int32_t u = lmf_vocab_find(U, w, wl);
            LMF_ASSERT(u >= 2);
            x->to_u[i] = (uint32_t)u;
            x->from_u[u] = i;
        }
        int32_t missing = 0;
        for (int32_t u = 2; u < NU; u++) missing += x->from_u[u] < 0;
        x->pen = log10(unk_divisor(opts.unk_dub, x->V, missing));
    }
    info->vocab = NU;

    /* ---- 2. merged n-gram lists ---- */
    for (int n = 2; n <= N && !s; n++) {
        uint64_t total = 0;
        for (int k = 0; k < K; k++)
            if (mm[k].order >= n) total += members[k]->tab[n].count;
        cap[n] = total ? total : 1;
        ids[n] = (uint32_t *)lmf_malloc(cap[n] * (uint64_t)n * sizeof(uint32_t));
        if (!ids[n]) {
            s = lmf_error(LMF_ERR_NOMEM, "out of memory listing %llu %d-grams", (unsigned long long)total, n);
            break;
        }
        for (int k = 0; k < K && !s; k++) {
            if (mm[k].order < n) continue;
            const lmf_ngram_table *t = &members[k]->tab[n];
            const uint64_t c = t->count * (uint64_t)n;
            uint32_t *d = ids[n] + cnt[n] * (uint64_t)n;
            for (uint64_t i = 0; i < c; i++) {
                uint32_t id = t->ids[i];
                if (id > (uint32_t)mm[k].V) {
                    s = lmf_error(LMF_ERR_DATA, "%s: damaged n-gram list (word id %u)",
                                  member_name(&opts, k, nb, sizeof nb), id);
                    break;
                }
                d[i] = mm[k].to_u[id];
            }
            cnt[n] += t->count;
        }
        if (!s) s = sort_unique(ids[n], &cnt[n], n);
    }
    for (int n = N; n >= 3 && !s; n--) {
        uint64_t before = cnt[n - 1];
        s = close_order(ids[n], cnt[n], n, &ids[n - 1], &cnt[n - 1], &cap[n - 1]);
        info->added[n - 2] = cnt[n - 1] - before;
    }

    /* ---- 3. probabilities ---- */
    float *uni_p = NULL, *uni_b = NULL;
    if (!s) {
        uni_p = (float *)lmf_malloc(((size_t)NU + 1) * sizeof *uni_p);
        uni_b = (float *)lmf_calloc((size_t)NU + 1, sizeof *uni_b);
        if (!uni_p || !uni_b) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    if (!s) {
        for (int k = 0; k < K; k++) member_ctx(&mm[k], NULL, 0);
        for (int32_t w = 0; w < NU; w++) uni_p[w] = to_float_logp(mix_logp(mm, K, (uint32_t)w));
        uni_p[NU] = -99.0f; /* <s>: context only */
    }
    for (int n = 2; n <= N && !s; n++) {
        probs[n] = (float *)lmf_malloc((cnt[n] ? cnt[n] : 1) * sizeof(float));
        if (!probs[n]) {
            s = lmf_error(LMF_ERR_NOMEM, "out of memory for %llu %d-gram probabilities", (unsigned long long)cnt[n], n);
            break;
        }
        for (uint64_t e = 0; e < cnt[n]; e++) {
            const uint32_t *g = ids[n] + e * (uint64_t)n;
            if (e == 0 || memcmp(g - n, g, (size_t)(n - 1) * sizeof *g))
                for (int k = 0; k < K; k++)
                    if (mm[k].lambda != 0) member_ctx(&mm[k], g, n - 1);
            probs[n][e] = to_float_logp(mix_logp(mm, K, g[n - 1]));
        }
    }

    /* ---- 4. the model, then its back-off weights ---- */
    if (!s) {
        r = lmf_ngram_alloc(U, N);
        if (!r) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else U = NULL;
    }
    if (!s) {
        r->uni_prob = uni_p;
        r->uni_backoff = uni_b;
        uni_p = uni_b = NULL;
        s = lmf_ngram_build_tables(r, ids, cnt, probs, bos);
    }
    if (!s) {
        backoffs(r, info);
        lmf_ngram_mark_contexts(r);
        info->ngrams[0] = (uint64_t)NU + 1;
        for (int n = 2; n <= N; n++) info->ngrams[n - 1] = r->tab[n].count;
    }

    lmf_free(uni_p);
    lmf_free(uni_b);
    for (int n = 0; n <= LMF_NGRAM_MAX_ORDER; n++) {
        lmf_free(ids[n]);
        lmf_free(probs[n]);
        lmf_free(bos[n]);
    }
    for (int k = 0; k < K; k++) {
        lmf_free(mm[k].to_u);
        lmf_free(mm[k].from_u);
    }
    lmf_vocab_free(U);
    if (s) {
        lmf_ngram_free(r);
        return s;
    }
    *out = r;
    return LMF_OK;
}
