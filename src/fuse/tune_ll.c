/* Log-linear weight tuning (lmf/fuse.h).
 *
 * The dev-set objective F(l) = (1/N) sum_t [ln Z_t(l) - sum_k l_k ln p_k(y_t|h_t)],
 * Z_t(l) = sum_w prod_k p_k(w|h_t)^l_k, is convex in the weights l, with
 * gradient E_t[ln p_k] - ln p_k(y_t) and Hessian Cov_t(ln p_j, ln p_k)
 * (expectations under the fused distribution at t).  Projected Newton
 * minimises it subject to l >= 0.
 *
 * What costs is Z_t and its moments over the whole vocabulary at every
 * position.  Two ways:
 *
 * Exact, for n-gram members (the context tree).  A back-off model gives
 * p_k(w|h) = b_k(h) p_k(w|h') for every w without an explicit n-gram after h
 * (h' = h without its oldest word).  Let E(h) be the words explicit after h
 * in any member, f_h(w) = prod_k p_k(w|h)^l_k and beta = ln b(h).  Then
 *   sum_w f_h(w) g(w) = sum_{E(h)} f_h g + B(h) [sum_w f_h'(w) g~(w) - sum_{E(h)} f_h' g~]
 * with B(h) = exp(l . beta) and g~ the moment shifted by beta: the moments
 * (1, ln p_k, ln p_j ln p_k) of a context follow from those of its parent and
 * the explicit words.  Every context that occurs in the dev text is one node
 * of a tree whose root is the unigram distribution (all V words); a node
 * keeps its explicit words with each member's log-probability after h and
 * after h', so one evaluation costs the number of stored entries (at most
 * the models' n-gram counts), independent of how often contexts repeat.
 *
 * Sampled, for any members: the full distributions at up to max_bytes
 * worth of evenly spaced dev positions are stored and the moments summed
 * directly.  The recipe records how many positions were used. */
#include "lmf/fuse.h"
#include "lmf/ngram.h"
#include "../ngram/ngram_impl.h"
#include "../core/util_impl.h"
#include "../core/optim_impl.h"
#include "fuse_impl.h"

#include <math.h>
#include <string.h>

#define LN10 2.302585092994045684

/* ---------------- the problem: anything that yields F, g, H ---------------- */
typedef struct llprob llprob;
typedef double (*ll_eval_fn)(llprob *p, const double *l, double *g, double *H);

/* ---------------- exact: the context tree ---------------- */
typedef struct ctxnode {
    int32_t parent;  /* index in the level above (-1 at the root) */
    uint32_t count;  /* dev positions predicted from this context */
    uint64_t e0;     /* entries [e0, e0 + ne) of the level */
    uint32_t ne;
} ctxnode;

typedef struct ctxlevel {
    ctxnode *node;
    size_t n, cap;
    int32_t *words;  /* n * L context words, most recent first */
    float *beta;     /* n * K ln back-off weights */
    int32_t *ew;     /* entries: word */
    float *eh, *ep;  /* entries * K: ln p_k(w|h), ln p_k(w|h') */
    size_t ne, ecap;
    double *mom;     /* n * D moments while evaluating */
} ctxlevel;

struct llprob {
    ll_eval_fn eval;
    int K;
    size_t N;         /* positions in the objective */
    double *ly;       /* K: sum_t ln p_k(y_t) */
    /* tree */
    int levels;
    ctxlevel lv[LMF_NGRAM_MAX_ORDER];
    uint64_t *hkey;   /* node lookup: open addressing on (level, words) */
    int32_t *hval;    /* level << 27 | index within the level */
    size_t hcap, hn;
    /* sampled */
    int V;
    float *dist;      /* P * V * K: word-major, as the moment loop reads it */
};

static void prob_free(llprob *p) {
    for (int L = 0; L < LMF_NGRAM_MAX_ORDER; L++) {
        ctxlevel *c = &p->lv[L];
        lmf_free(c->node);
        lmf_free(c->words);
        lmf_free(c->beta);
        lmf_free(c->ew);
        lmf_free(c->eh);
        lmf_free(c->ep);
        lmf_free(c->mom);
    }
    lmf_free(p->hkey);
    lmf_free(p->hval);
    lmf_free(p->ly);
    lmf_free(p->dist);
}

static uint64_t node_key(int L, const int32_t *w) {
    uint64_t k = lmf_mix64(0x5bd1e995u + (uint64_t)L);
    for (int i = 0; i < L; i++) k = lmf_mix64(k + ((uint64_t)(uint32_t)w[i] + 1) * 0x9e3779b97f4a7c15ULL);
    return k ? k : 1;
}

/* Node lookup table: key -> (level << 27 | index); grows at half load. */
static int hash_rehash(llprob *p, size_t ncap) {
    uint64_t *k = (uint64_t *)lmf_calloc(ncap, sizeof *k);
    int32_t *v = (int32_t *)lmf_malloc(ncap * sizeof *v);
    if (!k || !v) {
        lmf_free(k);
        lmf_free(v);
        return 0;
    }
    for (size_t i = 0; i < p->hcap; i++) {
        if (!p->hkey[i]) continue;
        size_t j = (size_t)lmf_slot_home(p->hkey[i], ncap);
        while (k[j]) j = j + 1 == ncap ? 0 : j + 1;
        k[j] = p->hkey[i];
        v[j] = p->hval[i];
    }
    lmf_free(p->hkey);
    lmf_free(p->hval);
    p->hkey = k;
    p->hval = v;
    p->hcap = ncap;
    return 1;
}

/* Index of node (L, words) at level L, or -1 (then *slot is where to insert). */
static int32_t node_find(const llprob *p, int L, const int32_t *w, uint64_t key, size_t *slot) {
    size_t j = (size_t)lmf_slot_home(key, p->hcap);
    for (;;) {
        if (!p->hkey[j]) {
            *slot = j;
            return -1;
        }
        if (p->hkey[j] == key && (p->hval[j] >> 27) == L) {
            int32_t idx = p->hval[j] & ((1 << 27) - 1);
            if (!memcmp(p->lv[L].words + (size_t)idx * (size_t)L, w, (size_t)L * sizeof *w)) return idx;
        }
        j = j + 1 == p->hcap ? 0 : j + 1;
    }
}

typedef struct ngmember {
    const lmf_ngram *m;
    lmf_ngram_ctx ctx;
} ngmember;

/* ln p_k(w | the context's first len words). */
static float ng_lp(const ngmember *g, int len, int32_t w) {
    lmf_ngram_ctx c = g->ctx;
    if (c.len > len) c.len = len;
    return (float)((double)lmf_ngram_score_word(g->m, &c, w, NULL, NULL) * LN10);
}

/* Creates node (L, words) below parent: back-offs and explicit words. */
static lmf_status node_new(llprob *p, const ngmember *g, int L, const int32_t *words, int32_t parent, int32_t V,
                           uint32_t *stamp, uint32_t mark, int32_t *idx) {
    const int K = p->K;
    ctxlevel *c = &p->lv[L];
    if (c->n >= (1u << 27)) return lmf_error(LMF_ERR_NOMEM, "too many distinct contexts in the tuning text");
    if (c->n == c->cap) { /* node arrays grow together */
        size_t nc = c->cap ? 2 * c->cap : 1024;
        ctxnode *a = (ctxnode *)lmf_realloc(c->node, nc * sizeof *a);
        if (a) c->node = a;
        int32_t *b = a ? (int32_t *)lmf_realloc(c->words, nc * (size_t)L * sizeof *b) : NULL;
        if (b) c->words = b;
        float *d = b ? (float *)lmf_realloc(c->beta, nc * (size_t)K * sizeof *d) : NULL;
        if (d) c->beta = d;
        if (!d) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        c->cap = nc;
    }
    float *beta = c->beta;
    ctxnode *n = &c->node[c->n];
    n->parent = parent;
    n->count = 0;
    n->e0 = c->ne;
    n->ne = 0;
    memcpy(c->words + c->n * (size_t)L, words, (size_t)L * sizeof *words);
    for (int k = 0; k < K; k++)
        beta[c->n * (size_t)K + (size_t)k] = L <= g[k].ctx.len ? (float)((double)g[k].ctx.backoff[L - 1] * LN10) : 0.0f;
    uint32_t ctxw[LMF_NGRAM_MAX_ORDER];
    for (int j = 0; j < L; j++) ctxw[j] = (uint32_t)words[L - 1 - j]; /* text order */
    for (int k = 0; k < K; k++) {
        if (L > g[k].ctx.len) continue;
        const lmf_ngram_table *t = &g[k].m->tab[L + 1];
        uint64_t lo = 0, hi = 0;
        lmf_ngram_prefix_range(t, L + 1, ctxw, &lo, &hi);
        for (uint64_t e = lo; e < hi; e++) {
            int32_t w = (int32_t)t->ids[e * (uint64_t)(L + 1) + (uint64_t)L];
            if (w >= V || stamp[w] == mark) continue;
            stamp[w] = mark;
            if (c->ne == c->ecap) { /* entry arrays grow together */
                size_t nc = c->ecap ? 2 * c->ecap : 4096;
                int32_t *a = (int32_t *)lmf_realloc(c->ew, nc * sizeof *a);
                if (a) c->ew = a;
                float *b = a ? (float *)lmf_realloc(c->eh, nc * (size_t)K * sizeof *b) : NULL;
                if (b) c->eh = b;
                float *d = b ? (float *)lmf_realloc(c->ep, nc * (size_t)K * sizeof *d) : NULL;
                if (d) c->ep = d;
                if (!d) return lmf_error(LMF_ERR_NOMEM, "out of memory");
                c->ecap = nc;
            }
            c->ew[c->ne++] = w;
            n->ne++;
        }
    }
    for (uint64_t e = n->e0; e < c->ne; e++) {
        int32_t w = c->ew[e];
        for (int k = 0; k < K; k++) {
            c->eh[e * (uint64_t)K + (uint64_t)k] = ng_lp(&g[k], L, w);
            c->ep[e * (uint64_t)K + (uint64_t)k] = ng_lp(&g[k], L - 1, w);
        }
    }
    *idx = (int32_t)c->n++;
    return LMF_OK;
}

/* Moments (z, m[K], s[K*K]) of f = exp(l . x) over entries x[ne][K]. */
static void add_moments(const float *x, size_t ne, int K, const double *l, double *mom) {
    double *m = mom + 1, *s = mom + 1 + K;
    for (size_t e = 0; e < ne; e++) {
        const float *xe = x + e * (size_t)K;
        double a = 0;
        for (int k = 0; k < K; k++) a += l[k] * (double)xe[k];
        double f = exp(a);
        mom[0] += f;
        for (int j = 0; j < K; j++) {
            double fj = f * (double)xe[j];
            m[j] += fj;
            for (int k = j; k < K; k++) s[j * K + k] += fj * (double)xe[k];
        }
    }
}

/* F, g, H from one position group: count positions with moments mom. */
static double add_position(int K, const double *mom, double count, double *g, double *H) {
    double z = mom[0];
    const double *m = mom + 1, *s = mom + 1 + K;
    for (int j = 0; j < K; j++) {
        double ej = m[j] / z;
        g[j] += count * ej;
        for (int k = j; k < K; k++) H[j * K + k] += count * (s[j * K + k] / z - ej * m[k] / z);
    }
    return count * log(z);
}

static void finish(int K, size_t N, const double *l, const double *ly, double *F, double *g, double *H) {
    for (int k = 0; k < K; k++) {
        *F -= l[k] * ly[k];
        g[k] = (g[k] - ly[k]) / (double)N;
    }
    *F /= (double)N;
    for (int j = 0; j < K; j++)
        for (int k = j; k < K; k++) H[k * K + j] = H[j * K + k] = H[j * K + k] / (double)N;
}

static double tree_eval(llprob *p, const double *l, double *g, double *H) {
    const int K = p->K, D = 1 + K + K * K;
    double F = 0;
    memset(g, 0, (size_t)K * sizeof *g);
    memset(H, 0, (size_t)K * (size_t)K * sizeof *H);
    double ep[1 + LMF_FUSE_MAX_MEMBERS * (1 + LMF_FUSE_MAX_MEMBERS)];
    for (int L = 0; L < p->levels; L++) {
        ctxlevel *c = &p->lv[L];
        const ctxlevel *up = L ? &p->lv[L - 1] : NULL;
        for (size_t i = 0; i < c->n; i++) {
            const ctxnode *n = &c->node[i];
            double *mom = c->mom + i * (size_t)D;
            memset(mom, 0, (size_t)D * sizeof *mom);
            add_moments(c->eh + n->e0 * (uint64_t)K, n->ne, K, l, mom);
            if (up) {
                /* the parent's moments without this node's explicit words, shifted by beta */
                const double *pm = up->mom + (size_t)n->parent * (size_t)D;
                memset(ep, 0, (size_t)D * sizeof *ep);
                add_moments(c->ep + n->e0 * (uint64_t)K, n->ne, K, l, ep);
                double r[1 + LMF_FUSE_MAX_MEMBERS * (1 + LMF_FUSE_MAX_MEMBERS)];
                for (int d = 0; d < D; d++) r[d] = pm[d] - ep[d];
                if (r[0] < 0) r[0] = 0;
                const float *b = c->beta + i * (size_t)K;
                double lb = 0;
                for (int k = 0; k < K; k++) lb += l[k] * (double)b[k];
                double B = exp(lb), z = r[0];
                const double *rm = r + 1, *rs = r + 1 + K;
                mom[0] += B * z;
                for (int j = 0; j < K; j++) {
                    double bj = (double)b[j];
                    mom[1 + j] += B * (rm[j] + bj * z);
                    for (int k = j; k < K; k++) {
                        double bk = (double)b[k];
                        mom[1 + K + j * K + k] += B * (rs[j * K + k] + bj * rm[k] + bk * rm[j] + bj * bk * z);
                    }
                }
            }
            if (n->count) F += add_position(K, mom, (double)n->count, g, H);
        }
    }
    finish(K, p->N, l, p->ly, &F, g, H);
    return F;
}

/* Builds the tree from the dev tokens (ids of member 1's vocabulary, equal
 * for every member). */
static lmf_status tree_build(llprob *p, lmf_model *const *members, const int32_t *tok, size_t N) {
    const int K = p->K;
    ngmember g[LMF_FUSE_MAX_MEMBERS];
    int32_t V = lmf_vocab_size(lmf_model_vocab(members[0]));
    int maxo = 1;
    for (int k = 0; k < K; k++) {
        g[k].m = lmf_ngram_from_model(members[k]);
        lmf_ngram_ctx_begin(g[k].m, &g[k].ctx);
        if (g[k].m->order > maxo) maxo = g[k].m->order;
    }
    p->levels = maxo;
    p->ly = (double *)lmf_calloc((size_t)K, sizeof *p->ly);
    uint32_t *stamp = (uint32_t *)lmf_calloc((size_t)V, sizeof *stamp);
    if (!p->ly || !stamp || !hash_rehash(p, 1 << 16)) {
        lmf_free(stamp);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    /* the root: every word at its unigram probability */
    ctxlevel *r = &p->lv[0];
    r->node = (ctxnode *)lmf_calloc(1, sizeof *r->node);
    r->ew = (int32_t *)lmf_malloc((size_t)V * sizeof *r->ew);
    r->eh = (float *)lmf_malloc((size_t)V * (size_t)K * sizeof *r->eh);
    if (!r->node || !r->ew || !r->eh) {
        lmf_free(stamp);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    r->n = r->cap = 1;
    r->node[0].parent = -1;
    r->node[0].ne = (uint32_t)V;
    r->ne = r->ecap = (size_t)V;
    for (int32_t w = 0; w < V; w++) {
        r->ew[w] = w;
        for (int k = 0; k < K; k++) r->eh[(size_t)w * (size_t)K + (size_t)k] = (float)((double)g[k].m->uni_prob[w] * LN10);
    }
    lmf_status s = LMF_OK;
    uint32_t mark = 0;
    for (size_t t = 0; t < N && !s; t++) {
        int top = 0;
        for (int k = 1; k < K; k++)
            if (g[k].ctx.len > g[top].ctx.len) top = k;
        const int32_t *words = g[top].ctx.words;
        int32_t cur = 0;
        for (int L = 1; L <= g[top].ctx.len && !s; L++) {
            uint64_t key = node_key(L, words);
            size_t slot;
            int32_t idx = node_find(p, L, words, key, &slot);
            if (idx < 0) {
                if (++mark == 0) { /* stamps wrapped: clear */
                    memset(stamp, 0, (size_t)V * sizeof *stamp);
                    mark = 1;
                }
                s = node_new(p, g, L, words, cur, V, stamp, mark, &idx);
                if (s) break;
                p->hkey[slot] = key;
                p->hval[slot] = (int32_t)(((uint32_t)L << 27) | (uint32_t)idx);
                if (++p->hn * 2 > p->hcap && !hash_rehash(p, p->hcap * 2)) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            }
            cur = idx;
        }
        if (s) break;
        p->lv[g[top].ctx.len].node[cur].count++;
        int32_t y = tok[t];
        for (int k = 0; k < K; k++) {
            p->ly[k] += (double)lmf_ngram_score_word(g[k].m, &g[k].ctx, y, &g[k].ctx, NULL) * LN10;
            if (y == LMF_EOS) lmf_ngram_ctx_begin(g[k].m, &g[k].ctx);
        }
    }
    lmf_free(stamp);
    lmf_free(p->hkey);
    lmf_free(p->hval);
    p->hkey = NULL;
    p->hval = NULL;
    if (s) return s;
    const size_t D = 1 + (size_t)K + (size_t)K * (size_t)K;
    for (int L = 0; L < p->levels; L++)
        if (p->lv[L].n && !(p->lv[L].mom = (double *)lmf_malloc(p->lv[L].n * D * sizeof(double))))
            return lmf_error(LMF_ERR_NOMEM, "out of memory");
    p->N = N;
    p->eval = tree_eval;
    return LMF_OK;
}

/* ---------------- sampled: stored full distributions ---------------- */
static double dense_eval(llprob *p, const double *l, double *g, double *H) {
    const int K = p->K, D = 1 + K + K * K;
    const size_t V = (size_t)p->V;
    double F = 0, mom[1 + LMF_FUSE_MAX_MEMBERS * (1 + LMF_FUSE_MAX_MEMBERS)];
    memset(g, 0, (size_t)K * sizeof *g);
    memset(H, 0, (size_t)K * (size_t)K * sizeof *H);
    for (size_t t = 0; t < p->N; t++) {
        memset(mom, 0, (size_t)D * sizeof *mom);
        add_moments(p->dist + t * V * (size_t)K, V, K, l, mom);
        F += add_position(K, mom, 1.0, g, H);
    }
    finish(K, p->N, l, p->ly, &F, g, H);
    return F;
}

static lmf_status dense_build(llprob *p, lmf_model *const *members, const int32_t *tok, size_t N, size_t max_bytes,
                              lmf_progress_fn progress, void *user) {
    const int K = p->K;
    const size_t V = (size_t)lmf_vocab_size(lmf_model_vocab(members[0]));
    int32_t *maps[LMF_FUSE_MAX_MEMBERS];
    lmf_status s = lmf_fuse_vocab_maps(members, K, maps);
    size_t per = (size_t)K * V * sizeof(float), P = max_bytes / per;
    if (!s && P == 0)
        s = lmf_error(LMF_ERR_ARG, "a memory budget of %zu bytes holds no dev position (%zu bytes each)", max_bytes, per);
    if (P > N) P = N;
    size_t stride = P ? (N + P - 1) / P : 1;
    P = P ? (N + stride - 1) / stride : 0;
    p->V = (int)V;
    p->ly = (double *)lmf_calloc((size_t)K, sizeof *p->ly);
    p->dist = (float *)lmf_malloc((P ? P : 1) * per);
    float *row = (float *)lmf_malloc(V * sizeof *row), *seg = (float *)lmf_malloc(stride * sizeof *seg);
    int32_t *ids = (int32_t *)lmf_malloc(stride * sizeof *ids);
    if (!s && (!p->ly || !p->dist || !row || !seg || !ids)) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int k = 0; k < K && !s; k++) {
        lmf_state *st = lmf_state_new(members[k]);
        if (!st) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < P && !s; i++) {
            size_t t = i * stride, n = t + stride < N ? stride : N - t; /* position t, then the rest of its stride */
            s = lmf_model_next(members[k], st, row);
            if (s) break;
            float *d = p->dist + i * V * (size_t)K + (size_t)k; /* member k's column, in fused ids */
            for (size_t w = 0; w < V; w++) d[w * (size_t)K] = row[maps[k] ? (size_t)maps[k][w] : w];
            p->ly[k] += (double)d[(size_t)tok[t] * (size_t)K];
            for (size_t j = 0; j < n; j++) ids[j] = maps[k] ? maps[k][tok[t + j]] : tok[t + j];
            s = lmf_model_score(members[k], st, ids, n, seg);
            if (progress && (i % 64 == 63 || i + 1 == P))
                progress(user, (double)k * (double)N + (double)(t + n), (double)K * (double)N);
        }
        lmf_state_free(members[k], st);
    }
    for (int k = 0; k < K; k++) lmf_free(maps[k]);
    lmf_free(row);
    lmf_free(seg);
    lmf_free(ids);
    p->N = P;
    p->eval = dense_eval;
    return s;
}

/* ---------------- projected Newton ---------------- */
/* Solves A x = b (n x n, symmetric positive semi-definite) by Cholesky with a
 * small ridge; returns 0 if it fails. */
static int solve_spd(double *A, double *b, int n) {
    double tr = 0;
    for (int i = 0; i < n; i++) tr += A[i * n + i];
    double ridge = 1e-10 * (tr > 0 ? tr / n : 1) + 1e-300;
    for (int i = 0; i < n; i++) A[i * n + i] += ridge;
    if (!lmf_cholesky(A, n)) return 0;
    lmf_tri_lower_solve(A, n, b, b); /* L y = b */
    lmf_tri_upper_solve(A, n, b, b); /* L^T x = y */
    return 1;
}

static lmf_status newton(llprob *p, double tol, int max_iter, double *l, lmf_tune_info *info) {
    const int K = p->K;
    double g[LMF_FUSE_MAX_MEMBERS], H[LMF_FUSE_MAX_MEMBERS * LMF_FUSE_MAX_MEMBERS];
    double g2[LMF_FUSE_MAX_MEMBERS], H2[LMF_FUSE_MAX_MEMBERS * LMF_FUSE_MAX_MEMBERS];
    double A[LMF_FUSE_MAX_MEMBERS * LMF_FUSE_MAX_MEMBERS], d[LMF_FUSE_MAX_MEMBERS], nl[LMF_FUSE_MAX_MEMBERS];
    int free_[LMF_FUSE_MAX_MEMBERS];
    double F = p->eval(p, l, g, H);
    if (!isfinite(F)) return lmf_error(LMF_ERR_DATA, "the log-linear objective is not finite at the start");
    info->ppl_start = exp(F);
    int it = 0;
    for (; it < max_iter; it++) {
        int nf = 0;
        for (int k = 0; k < K; k++)
            if (l[k] > 0 || g[k] < 0) free_[nf++] = k;
        if (!nf) break;
        for (int a = 0; a < nf; a++) {
            d[a] = -g[free_[a]];
            for (int b = 0; b < nf; b++) A[a * nf + b] = H[free_[a] * K + free_[b]];
        }
        if (!solve_spd(A, d, nf)) /* fall back to steepest descent */
            for (int a = 0; a < nf; a++) d[a] = -g[free_[a]];
        double step = 1, Fn = F;
        int ok = 0;
        for (int ls = 0; ls < 40; ls++, step *= 0.5) {
            memcpy(nl, l, (size_t)K * sizeof *nl);
            for (int a = 0; a < nf; a++) {
                double v = l[free_[a]] + step * d[a];
                nl[free_[a]] = v > 0 ? v : 0;
            }
            double dec = 0; /* predicted first-order change */
            for (int k = 0; k < K; k++) dec += g[k] * (nl[k] - l[k]);
            Fn = p->eval(p, nl, g2, H2);
            if (isfinite(Fn) && Fn <= F + 1e-4 * dec) {
                ok = 1;
                break;
            }
        }
        if (!ok) break; /* no descent: at the optimum within float noise */
        double gain = F - Fn;
        memcpy(l, nl, (size_t)K * sizeof *l);
        memcpy(g, g2, (size_t)K * sizeof *g);
        memcpy(H, H2, (size_t)K * (size_t)K * sizeof *H);
        F = Fn;
        if (gain < tol) {
            it++;
            break;
        }
    }
    info->iterations = it;
    info->ppl = exp(F);
    info->positions = p->N;
    return LMF_OK;
}

/* The problem over dev: the exact tree when every member is an n-gram over
 * one vocabulary with sorted lists (and not `sampled`), else stored
 * distributions. */
static lmf_status build(llprob *p, lmf_model *const *members, int K, const lmf_tokens *dev, int sampled,
                        size_t max_bytes, lmf_progress_fn progress, void *user, int *exact) {
    memset(p, 0, sizeof *p);
    p->K = K;
    *exact = 0;
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS)
        return lmf_error(LMF_ERR_ARG, "log-linear tuning needs 1..%d members", LMF_FUSE_MAX_MEMBERS);
    if (dev->n == 0) return lmf_error(LMF_ERR_DATA, "log-linear tuning needs at least one token of tuning data");
    int ex = !sampled;
    for (int k = 0; k < K && ex; k++) {
        lmf_ngram *g = lmf_ngram_from_model(members[k]);
        ex = g && lmf_vocab_equal(lmf_model_vocab(members[0]), lmf_model_vocab(members[k]));
        for (int n = 2; ex && g && n <= g->order; n++)
            ex = g->tab[n].count == 0 || (g->tab[n].ids && !g->tab[n].unsorted);
    }
    *exact = ex;
    return ex ? tree_build(p, members, dev->ids, dev->n) : dense_build(p, members, dev->ids, dev->n, max_bytes, progress, user);
}

lmf_status lmf_tune_loglinear(lmf_model *const *members, int K, const lmf_tokens *dev, const lmf_tune_ll_opts *o,
                              double *w, lmf_tune_info *info) {
    memset(info, 0, sizeof *info);
    lmf_status s = lmf_fuse_check_vocab(members, K); /* before any scoring */
    if (s) return s;
    llprob p;
    int exact;
    s = build(&p, members, K, dev, o->sampled, o->max_bytes ? o->max_bytes : (size_t)1 << 29, o->progress,
              o->progress_user, &exact);
    if (!s) {
        if (exact)
            for (int L = 0; L < p.levels; L++) info->entries += p.lv[L].ne, info->contexts += p.lv[L].n;
        s = newton(&p, o->tol > 0 ? o->tol : 1e-9, o->max_iter > 0 ? o->max_iter : 100, w, info);
        info->exact = exact;
        info->dev_tokens = dev->n;
    }
    prob_free(&p);
    return s;
}

double lmf_tune_loglinear_objective(lmf_model *const *members, int K, const lmf_tokens *dev, int sampled,
                                    const double *w, double *grad, double *hess) {
    llprob p;
    int exact;
    lmf_status s = build(&p, members, K, dev, sampled, (size_t)1 << 30, NULL, NULL, &exact);
    double H[LMF_FUSE_MAX_MEMBERS * LMF_FUSE_MAX_MEMBERS], g[LMF_FUSE_MAX_MEMBERS];
    double F = s ? NAN : p.eval(&p, w, g, H);
    if (grad && !s) memcpy(grad, g, (size_t)K * sizeof *g);
    if (hess && !s) memcpy(hess, H, (size_t)K * (size_t)K * sizeof *H);
    prob_free(&p);
    return F;
}
