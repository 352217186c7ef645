/* Fused models (lmf/fuse.h): K member models behind the model interface.
 *
 * Linear and bayes fusion need only each member's probability of the
 * observed token, so scoring runs every member's batched scorer over a
 * chunk and mixes per token (O(N*K)).  Log-linear and max fusion need whole
 * distributions: members write chunks of chd positions x V, and each
 * position is combined and normalised over the full vocabulary, so memory
 * stays K*chd*V floats (about CHD_BYTES) whatever the text length. */
#include "lmf/fuse.h"
#include "../model/model_impl.h"
#include "../core/util_impl.h"
#include "fuse_impl.h"
#include "../nn/nn_impl.h"
#include "lmf/ngram.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#define CH 2048 /* positions per chunk, per-token combiners */
#define CHD_BYTES ((size_t)64 << 20) /* full-distribution combiners: members' chunk at most this big, */
#define CHD_MIN 8                     /* and of CHD_MIN..CHD_MAX positions */
#define CHD_MAX 256

static const char *const comb_names[LMF_COMB_COUNT] = {"linear", "loglinear", "max", "bayes", "vote", "cascade", "gate"};

const char *lmf_combiner_name(lmf_combiner c) { return c < LMF_COMB_COUNT ? comb_names[c] : "?"; }

int lmf_combiner_parse(const char *s) {
    for (int c = 0; c < LMF_COMB_COUNT; c++)
        if (s && !strcmp(s, comb_names[c])) return c;
    return -1;
}

void lmf_fuse_opts_init(lmf_fuse_opts *o) {
    memset(o, 0, sizeof *o);
    o->comb = LMF_COMB_LINEAR;
    o->share = 0.01;
    o->top_k = 0; /* the combiner's default */
    o->vote_mass = 0.5;
}

typedef struct fused {
    lmf_model base; /* must be first */
    int K, V;
    lmf_model **m;
    int borrowed;  /* the members belong to the caller (lmf_fuse_eval_shared) */
    size_t chd;    /* positions per chunk of full distributions */
    int32_t **map; /* map[k][v]: member k's id of word v (NULL: the same ids) */
    double *w, *logw;
    lmf_fuse_opts o;
    /* gate: F = LMF_GATE_FEATURES * K features; ng[k]: member k as an n-gram (else NULL) */
    int F;
    lmf_ngram **ng;
    double *gA, *gb, *gmean, *gsd, *gloss0, gdecay;
} fused;

struct lmf_state {
    lmf_state **ms;
    double *lw;  /* bayes: current ln weights */
    float *buf;  /* [K, V] scratch of next() */
    float *tmp;  /* [V] member distribution in its own ids */
    int32_t *ids; /* [CH] tokens in a member's ids */
    float *dbuf;  /* [K, chd, V] members' distributions, made on first use */
    int32_t *top; /* [top_k] vote, cascade: a member's best words */
    float *topv;  /* [top_k] their log-probs */
    double *r;    /* [K] gate: recent losses */
    float *pk;    /* [K, V] gate: members' probabilities at the current position */
    lmf_ngram_ctx *nctx; /* [K] gate: n-gram members' contexts (their match order) */
    float *tr_phi, *tr_lp; /* gate trace: where to record features and member log-probs */
    size_t tr_pos, tr_n;
};

/* Member k's distribution (its ids) into the fused ids. */
static void to_fused(const fused *f, int k, const float *src, float *dst) {
    const int32_t *mp = f->map[k];
    for (int v = 0; v < f->V; v++) dst[v] = src[mp[v]];
}

static int per_token(const fused *f) { return f->o.comb == LMF_COMB_LINEAR || f->o.comb == LMF_COMB_BAYES; }

static void f_free(lmf_model *mm) {
    fused *f = (fused *)mm;
    /* caches borrow another member's vocabulary: free them first */
    for (int pass = 0; pass < 2 && !f->borrowed; pass++)
        for (int k = 0; k < f->K; k++)
            if (f->m[k] && (pass == 0) == !strcmp(lmf_model_kind(f->m[k]), "cache")) {
                lmf_model_free(f->m[k]);
                f->m[k] = NULL;
            }
    for (int k = 0; f->map && k < f->K; k++) lmf_free(f->map[k]);
    lmf_free(f->map);
    lmf_free(f->m);
    lmf_free(f->w);
    lmf_free(f->gA);
    lmf_free(f->ng);
    lmf_free(f);
}

static void f_describe(const lmf_model *mm, char *buf, size_t n) {
    const fused *f = (const fused *)mm;
    size_t k = (size_t)snprintf(buf, n, "%s fusion of %d members (weights", lmf_combiner_name(f->o.comb), f->K);
    for (int i = 0; i < f->K && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%.4g", i ? ", " : " ", f->w[i]);
    if (k < n) snprintf(buf + k, n - k, ")");
}

static void f_reset(const lmf_model *mm, lmf_state *s) {
    const fused *f = (const fused *)mm;
    for (int k = 0; k < f->K; k++) lmf_state_reset(f->m[k], s->ms[k]);
    memcpy(s->lw, f->logw, (size_t)f->K * sizeof *s->lw);
    for (int k = 0; k < f->K; k++) s->r[k] = f->gloss0 ? f->gloss0[k] : 0;
    for (int k = 0; f->ng && k < f->K; k++)
        if (f->ng[k]) lmf_ngram_ctx_begin(f->ng[k], &s->nctx[k]);
}

static void f_state_free(const lmf_model *mm, lmf_state *s) {
    const fused *f = (const fused *)mm;
    if (!s) return;
    for (int k = 0; k < f->K && s->ms; k++) lmf_state_free(f->m[k], s->ms[k]);
    lmf_free(s->ms);
    lmf_free(s->lw);
    lmf_free(s->buf);
    lmf_free(s->tmp);
    lmf_free(s->ids);
    lmf_free(s->dbuf);
    lmf_free(s->top);
    lmf_free(s->topv);
    lmf_free(s->r);
    lmf_free(s->pk);
    lmf_free(s->nctx);
    lmf_free(s);
}

static lmf_state *f_state_new(const lmf_model *mm) {
    const fused *f = (const fused *)mm;
    lmf_state *s = (lmf_state *)lmf_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->ms = (lmf_state **)lmf_calloc((size_t)f->K, sizeof *s->ms);
    s->lw = (double *)lmf_malloc((size_t)f->K * sizeof *s->lw);
    s->buf = (float *)lmf_malloc((size_t)f->K * (size_t)f->V * sizeof *s->buf);
    s->tmp = (float *)lmf_malloc((size_t)f->V * sizeof *s->tmp);
    s->ids = (int32_t *)lmf_malloc(CH * sizeof *s->ids);
    s->top = (int32_t *)lmf_malloc((size_t)f->o.top_k * sizeof *s->top + 1);
    s->topv = (float *)lmf_malloc((size_t)f->o.top_k * sizeof *s->topv + 1);
    s->r = (double *)lmf_malloc((size_t)f->K * sizeof *s->r);
    if (f->o.comb == LMF_COMB_GATE) {
        s->pk = (float *)lmf_malloc((size_t)f->K * (size_t)f->V * sizeof *s->pk);
        s->nctx = (lmf_ngram_ctx *)lmf_calloc((size_t)f->K, sizeof *s->nctx);
    }
    int ok = s->ms && s->lw && s->buf && s->tmp && s->ids && s->top && s->topv && s->r &&
             ((s->pk && s->nctx) || f->o.comb != LMF_COMB_GATE);
    for (int k = 0; ok && k < f->K; k++) ok = (s->ms[k] = lmf_state_new(f->m[k])) != NULL;
    if (!ok) {
        f_state_free(mm, s);
        return NULL;
    }
    memcpy(s->lw, f->logw, (size_t)f->K * sizeof *s->lw);
    for (int k = 0; k < f->K; k++) s->r[k] = f->gloss0 ? f->gloss0[k] : 0;
    for (int k = 0; f->ng && k < f->K; k++)
        if (f->ng[k]) lmf_ngram_ctx_begin(f->ng[k], &s->nctx[k]);
    return s;
}

static lmf_status f_state_copy(const lmf_model *mm, lmf_state *d, const lmf_state *s) {
    const fused *f = (const fused *)mm;
    for (int k = 0; k < f->K; k++) {
        lmf_status st = lmf_state_copy(f->m[k], d->ms[k], s->ms[k]);
        if (st) return st;
    }
    memcpy(d->lw, s->lw, (size_t)f->K * sizeof *d->lw);
    memcpy(d->r, s->r, (size_t)f->K * sizeof *d->r);
    if (s->nctx) memcpy(d->nctx, s->nctx, (size_t)f->K * sizeof *d->nctx);
    return LMF_OK;
}

/* ln sum_k e^{a_k} */
static double lse(const double *a, int K) {
    double mx = -INFINITY, sum = 0;
    for (int k = 0; k < K; k++) mx = a[k] > mx ? a[k] : mx;
    if (mx == -INFINITY) return mx;
    for (int k = 0; k < K; k++) sum += exp(a[k] - mx);
    return mx + log(sum);
}

/* Mixes per-token member log-probs lp[k*stride + t] with ln weights lw
 * (bayes: updated after every token). */
static void mix_tokens(const fused *f, double *lw, const float *lp, size_t stride, size_t n, float *out) {
    double a[LMF_FUSE_MAX_MEMBERS];
    const int K = f->K;
    for (size_t t = 0; t < n; t++) {
        for (int k = 0; k < K; k++) a[k] = lw[k] + (double)lp[(size_t)k * stride + t];
        double l = lse(a, K);
        out[t] = (float)l;
        if (f->o.comb == LMF_COMB_BAYES && isfinite(l)) {
            /* posterior, then fixed share towards the prior weights */
            for (int k = 0; k < K; k++)
                lw[k] = log((1 - f->o.share) * exp(a[k] - l) + f->o.share * f->w[k]);
        }
    }
}

/* The n best words of d[0..V) into idx, in no particular order (ties: the
 * lower id); returns how many (min(n, V)).  A min-heap of the best so far:
 * O(V log n). */
static int top_words(const float *d, int V, int n, int32_t *idx, float *val) {
    if (n >= V) {
        for (int v = 0; v < V; v++) idx[v] = v, val[v] = d[v];
        return V;
    }
    int m = 0;
    for (int v = 0; v < V; v++) {
        float x = d[v];
        int i;
        if (m < n) { /* sift up */
            i = m++;
            while (i > 0 && x <= val[(i - 1) / 2]) { /* among equals, the later id is worse */
                val[i] = val[(i - 1) / 2];
                idx[i] = idx[(i - 1) / 2];
                i = (i - 1) / 2;
            }
        } else if (x > val[0]) { /* replace the smallest, sift down */
            i = 0;
            for (;;) {
                int c = 2 * i + 1;
                if (c >= m) break;
                if (c + 1 < m && (val[c + 1] < val[c] || (val[c + 1] == val[c] && idx[c + 1] > idx[c]))) c++;
                if (!(val[c] < x || (val[c] == x && idx[c] > v))) break;
                val[i] = val[c];
                idx[i] = idx[c];
                i = c;
            }
        } else {
            continue;
        }
        val[i] = x;
        idx[i] = v;
    }
    return m;
}

/* vote: votes in scratch (V floats), smoothed by the linear mixture. */
static void combine_vote(const fused *f, lmf_state *s, const float *d, size_t kstride, float *out) {
    const int K = f->K, V = f->V;
    float *votes = s->tmp;
    memset(votes, 0, (size_t)V * sizeof *votes);
    double total = 0, m = f->o.vote_mass;
    for (int k = 0; k < K; k++) {
        const float *dk = d + (size_t)k * kstride;
        if (f->w[k] <= 0) continue;
        if (f->o.threshold > 0) {
            double lt = log(f->o.threshold);
            int any = 0;
            for (int v = 0; v < V; v++)
                if ((double)dk[v] >= lt) votes[v] += (float)f->w[k], total += f->w[k], any = 1;
            if (any) continue;
            top_words(dk, V, 1, s->top, s->topv); /* none above: the top word */
            votes[s->top[0]] += (float)f->w[k];
            total += f->w[k];
        } else {
            int n = top_words(dk, V, f->o.top_k, s->top, s->topv);
            for (int i = 0; i < n; i++) votes[s->top[i]] += (float)f->w[k];
            total += f->w[k] * n;
        }
    }
    for (int v = 0; v < V; v++) {
        double lin = 0;
        for (int k = 0; k < K; k++) lin += f->w[k] * exp((double)d[(size_t)k * kstride + v]);
        out[v] = (float)log(m * (double)votes[v] / total + (1 - m) * lin);
    }
}

/* cascade: the proposer's top words rescored by member 2. */
static void combine_cascade(const fused *f, lmf_state *s, const float *d, size_t kstride, float *out) {
    const int V = f->V;
    const float *p1 = d, *p2 = d + kstride;
    int n = top_words(p1, V, f->o.top_k, s->top, s->topv);
    double m1 = 0, m2 = 0;
    for (int i = 0; i < n; i++) {
        m1 += exp((double)p1[s->top[i]]);
        m2 += exp((double)p2[s->top[i]]);
    }
    memcpy(out, p1, (size_t)V * sizeof *out);
    if (!(m2 > 0)) return; /* the rescorer gives the candidates nothing: keep the proposer */
    double shift = log(m1) - log(m2);
    for (int i = 0; i < n; i++) out[s->top[i]] = (float)((double)p2[s->top[i]] + shift);
}

#define G LMF_GATE_FEATURES
/* gate: the raw features of a position (see lmf/fuse.h), phi[G k + i];
 * the members' probabilities go to pk[k*V + v] for the mixture. */
static void gate_features(const fused *f, const lmf_state *s, const float *d, size_t kstride, double *phi,
                          float *pk) {
    const int K = f->K, V = f->V;
    int32_t best[LMF_FUSE_MAX_MEMBERS];
    for (int k = 0; k < K; k++) {
        float mx;
        int32_t arg;
        double h = lmf_exp_entropy_f32(d + (size_t)k * kstride, V, pk + (size_t)k * (size_t)V, &mx, &arg);
        best[k] = arg;
        phi[G * k] = h;
        phi[G * k + 1] = (double)mx;
        phi[G * k + 3] = s->r[k];
        phi[G * k + 4] = f->ng[k] ? (double)s->nctx[k].len : 0; /* n-gram match order - 1 */
    }
    for (int k = 0; k < K; k++) {
        int agree = 0;
        for (int j = 0; j < K; j++) agree += j != k && best[j] == best[k];
        phi[G * k + 2] = K > 1 ? (double)agree / (K - 1) : 1.0;
    }
}

/* gate: ln mixture weights from raw features. */
static void gate_weights(const fused *f, const double *phi, double *lw) {
    const int K = f->K, F = f->F;
    double z[G * LMF_FUSE_MAX_MEMBERS];
    for (int j = 0; j < F; j++) z[j] = (phi[j] - f->gmean[j]) / f->gsd[j];
    for (int k = 0; k < K; k++) {
        double a = f->gb[k];
        for (int j = 0; j < F; j++) a += f->gA[k * F + j] * z[j];
        lw[k] = a;
    }
    double l = lse(lw, K);
    for (int k = 0; k < K; k++) lw[k] -= l;
}

/* gate: after token y (fused ids), the recent losses move (lp: members'
 * ln p(y)) and the n-gram members' contexts advance. */
static void gate_observe(const fused *f, lmf_state *s, const float *lp, int32_t y) {
    for (int k = 0; k < f->K; k++) {
        s->r[k] = f->gdecay * s->r[k] - (1 - f->gdecay) * (double)lp[k];
        if (!f->ng[k]) continue;
        if (y == LMF_EOS) /* the n-gram member starts the next line at <s> */
            lmf_ngram_ctx_begin(f->ng[k], &s->nctx[k]);
        else
            lmf_ngram_score_word(f->ng[k], &s->nctx[k], f->map[k] ? f->map[k][y] : y, &s->nctx[k], NULL);
    }
}

/* Combines K full distributions d[k*V ..] into out[V] (ln); lw: ln weights
 * for linear/bayes. */
static void combine(const fused *f, const lmf_state *st, const double *lw, const float *d, size_t kstride,
                    float *out) {
    const int K = f->K, V = f->V;
    double a[LMF_FUSE_MAX_MEMBERS];
    lmf_state *s = (lmf_state *)st; /* scratch only */
    if (f->o.comb == LMF_COMB_VOTE) {
        combine_vote(f, s, d, kstride, out);
        return;
    }
    if (f->o.comb == LMF_COMB_CASCADE) {
        combine_cascade(f, s, d, kstride, out);
        return;
    }
    double gw[LMF_FUSE_MAX_MEMBERS] = {0};
    if (f->o.comb == LMF_COMB_GATE) {
        double phi[G * LMF_FUSE_MAX_MEMBERS];
        gate_features(f, s, d, kstride, phi, s->pk);
        if (s->tr_phi) { /* tracing: the features are what is wanted */
            if (s->tr_pos < s->tr_n)
                for (int j = 0; j < f->F; j++) s->tr_phi[s->tr_pos * (size_t)f->F + (size_t)j] = (float)phi[j];
            return;
        }
        gate_weights(f, phi, gw);
        float g[LMF_FUSE_MAX_MEMBERS];
        for (int k = 0; k < K; k++) g[k] = (float)exp(gw[k]);
        for (int v = 0; v < V; v++) { /* probabilities from the features' pass; exact lse if they underflow */
            float sum = 0;
            for (int k = 0; k < K; k++) sum += g[k] * s->pk[(size_t)k * (size_t)V + (size_t)v];
            if (sum > 1e-30f) {
                out[v] = logf(sum);
            } else {
                for (int k = 0; k < K; k++) a[k] = gw[k] + (double)d[(size_t)k * kstride + v];
                out[v] = (float)lse(a, K);
            }
        }
        return;
    }
    if (per_token(f)) {
        for (int v = 0; v < V; v++) {
            for (int k = 0; k < K; k++) a[k] = lw[k] + (double)d[(size_t)k * kstride + v];
            out[v] = (float)lse(a, K);
        }
        return;
    }
    double mx = -INFINITY;
    for (int v = 0; v < V; v++) {
        double z;
        if (f->o.comb == LMF_COMB_LOGLINEAR) {
            z = 0;
            for (int k = 0; k < K; k++)
                if (f->w[k] > 0) z += f->w[k] * (double)d[(size_t)k * kstride + v];
        } else { /* max */
            z = -INFINITY;
            for (int k = 0; k < K; k++) z = (double)d[(size_t)k * kstride + v] > z ? (double)d[(size_t)k * kstride + v] : z;
        }
        out[v] = (float)z;
        mx = z > mx ? z : mx;
    }
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp((double)out[v] - mx);
    double norm = mx + log(sum);
    for (int v = 0; v < V; v++) out[v] = (float)((double)out[v] - norm);
}

static lmf_status f_next(lmf_model *mm, const lmf_state *s, float *logp) {
    const fused *f = (const fused *)mm;
    for (int k = 0; k < f->K; k++) {
        float *d = s->buf + (size_t)k * f->V;
        lmf_status st = lmf_model_next(f->m[k], s->ms[k], f->map[k] ? s->tmp : d);
        if (st) return st;
        if (f->map[k]) to_fused(f, k, s->tmp, d);
    }
    combine(f, s, s->lw, s->buf, (size_t)f->V, logp);
    return LMF_OK;
}

static lmf_status f_feed(lmf_model *mm, lmf_state *s, int32_t tok) {
    const fused *f = (const fused *)mm;
    if (f->o.comb == LMF_COMB_BAYES || f->o.comb == LMF_COMB_GATE) { /* the weights need each member's p(tok) */
        float lp[LMF_FUSE_MAX_MEMBERS], out;
        for (int k = 0; k < f->K; k++) {
            int32_t t = f->map[k] ? f->map[k][tok] : tok;
            lmf_status st = lmf_model_score(f->m[k], s->ms[k], &t, 1, &lp[k]);
            if (st) return st;
        }
        if (f->o.comb == LMF_COMB_GATE) gate_observe(f, s, lp, tok);
        else mix_tokens(f, s->lw, lp, 1, 1, &out);
        return LMF_OK;
    }
    for (int k = 0; k < f->K; k++) {
        lmf_status st = lmf_model_feed(f->m[k], s->ms[k], f->map[k] ? f->map[k][tok] : tok);
        if (st) return st;
    }
    return LMF_OK;
}

/* The members' distributions of the c <= chd positions tok[0..c) (fused
 * ids), member k's at buf + k*chd*V, or (score) their log-probs of the
 * c <= CH tokens at buf + k*CH, advancing the members' states.  With
 * lmf_set_threads(n > 1), up to n members at once, each on one BLAS thread:
 * each thread takes the next member not yet done (the members and their
 * states are distinct, so the results are those of one thread). */
typedef struct mdjob {
    const fused *f;
    lmf_state *s;
    const int32_t *tok;
    size_t c;
    int score;
    float *buf;
    pthread_mutex_t mu;
    int next;
    lmf_status st; /* the first failure, and its message (errors are per thread) */
    char err[1024];
} mdjob;

static lmf_status member_dist(const fused *f, lmf_state *s, int k, const int32_t *tok, size_t c, float *buf,
                              int32_t *ids, float *tmp) {
    const size_t V = (size_t)f->V;
    float *d = buf + (size_t)k * f->chd * V;
    const int32_t *mt = tok;
    if (f->map[k]) {
        for (size_t i = 0; i < c; i++) ids[i] = f->map[k][tok[i]];
        mt = ids;
    }
    lmf_status st = lmf_model_dists(f->m[k], s->ms[k], mt, c, d);
    for (size_t t = 0; t < c && !st && f->map[k]; t++) { /* into fused ids, row by row */
        memcpy(tmp, d + t * V, V * sizeof *d);
        to_fused(f, k, tmp, d + t * V);
    }
    return st;
}

static lmf_status member_score(const fused *f, lmf_state *s, int k, const int32_t *tok, size_t c, float *buf,
                               int32_t *ids) {
    const int32_t *mt = tok;
    if (f->map[k]) {
        for (size_t i = 0; i < c; i++) ids[i] = f->map[k][tok[i]];
        mt = ids;
    }
    return lmf_model_score(f->m[k], s->ms[k], mt, c, buf + (size_t)k * CH);
}

static void *md_worker(void *arg) {
    mdjob *j = (mdjob *)arg;
    const size_t V = (size_t)j->f->V;
    int32_t *ids = (int32_t *)lmf_malloc(j->c * sizeof *ids + 1);
    float *tmp = (float *)lmf_malloc(V * sizeof *tmp);
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int k = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (k >= j->f->K) break;
        lmf_status st = !ids || !tmp ? lmf_error(LMF_ERR_NOMEM, "out of memory")
                        : j->score   ? member_score(j->f, j->s, k, j->tok, j->c, j->buf, ids)
                                     : member_dist(j->f, j->s, k, j->tok, j->c, j->buf, ids, tmp);
        if (st) {
            pthread_mutex_lock(&j->mu);
            if (!j->st) {
                j->st = st;
                snprintf(j->err, sizeof j->err, "%s", lmf_last_error());
            }
            j->next = j->f->K; /* start no other member */
            pthread_mutex_unlock(&j->mu);
        }
    }
    lmf_free(ids);
    lmf_free(tmp);
    return NULL;
}

static lmf_status run_members(const fused *f, lmf_state *s, const int32_t *tok, size_t c, int score, float *buf) {
    int nt = lmf_threads();
    nt = nt > f->K ? f->K : nt;
    if (nt <= 1) {
        lmf_status st = LMF_OK;
        for (int k = 0; k < f->K && !st; k++)
            st = score ? member_score(f, s, k, tok, c, buf, s->ids) : member_dist(f, s, k, tok, c, buf, s->ids, s->tmp);
        return st;
    }
    mdjob j;
    memset(&j, 0, sizeof j);
    j.f = f, j.s = s, j.tok = tok, j.c = c, j.score = score, j.buf = buf;
    pthread_mutex_init(&j.mu, NULL);
    pthread_t th[LMF_FUSE_MAX_MEMBERS];
    int started = 0;
    lmf_blas_threads(1);
    for (int i = 0; i < nt - 1; i++)
        if (pthread_create(&th[started], NULL, md_worker, &j) == 0) started++;
    md_worker(&j); /* this thread works too */
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    lmf_blas_threads(lmf_threads());
    pthread_mutex_destroy(&j.mu);
    return j.st ? lmf_error(j.st, "%s", j.err) : LMF_OK;
}

/* After a position: bayes and gate update their history with the members'
 * log-probs lp[k] of the observed token. */
static void observe(const fused *f, lmf_state *s, const float *lp, int32_t y) {
    if (f->o.comb == LMF_COMB_BAYES) {
        float mixed;
        mix_tokens(f, s->lw, lp, 1, 1, &mixed);
    } else if (f->o.comb == LMF_COMB_GATE) {
        gate_observe(f, s, lp, y);
        if (s->tr_lp && s->tr_pos < s->tr_n) /* tracing (lmf_gate_trace) */
            for (int k = 0; k < f->K; k++) s->tr_lp[(size_t)k * s->tr_n + s->tr_pos] = lp[k];
        s->tr_pos++;
    }
}

/* Fusion f's ln p of the observed token y at one position, from the
 * members' distributions d (member k's at d + k*ks) and their ln p(y) lp,
 * then the position's history update (bayes weights, gate losses).  Only
 * full-distribution combiners need d (and V floats of scratch tmp). */
static float position_logp(const fused *f, lmf_state *s, const float *d, size_t ks, const float *lp, size_t y,
                           float *tmp) {
    float out;
    if (per_token(f)) {
        mix_tokens(f, s->lw, lp, 1, 1, &out); /* bayes: also the weights' update */
    } else {
        combine(f, s, s->lw, d, ks, tmp);
        out = tmp[y];
        observe(f, s, lp, (int32_t)y);
    }
    return out;
}

static lmf_status dbuf_alloc(const fused *f, lmf_state *s) {
    const size_t V = (size_t)f->V, K = (size_t)f->K;
    if (!s->dbuf && !(s->dbuf = (float *)lmf_malloc(K * f->chd * V * sizeof *s->dbuf)))
        return lmf_error(LMF_ERR_NOMEM, "out of memory (fusion of %zu members, %zu x %zu floats)", K, K * f->chd, V);
    return LMF_OK;
}

static lmf_status f_dists(lmf_model *mm, lmf_state *s, const int32_t *tok, size_t n, float *out) {
    const fused *f = (const fused *)mm;
    const size_t V = (size_t)f->V, K = (size_t)f->K;
    lmf_status st = dbuf_alloc(f, s);
    float *buf = s->dbuf;
    for (size_t p0 = 0; p0 < n && !st; p0 += f->chd) {
        size_t c = n - p0 < f->chd ? n - p0 : f->chd;
        st = run_members(f, s, tok + p0, c, 0, buf);
        for (size_t t = 0; t < c && !st; t++) {
            combine(f, s, s->lw, buf + t * V, f->chd * V, out + (p0 + t) * V);
            float lp[LMF_FUSE_MAX_MEMBERS];
            for (size_t k = 0; k < K; k++) lp[k] = buf[k * f->chd * V + t * V + (size_t)tok[p0 + t]];
            observe(f, s, lp, tok[p0 + t]);
        }
    }
    return st;
}

static lmf_status f_score(lmf_model *mm, lmf_state *s, const int32_t *tok, size_t n, float *logp) {
    const fused *f = (const fused *)mm;
    const size_t K = (size_t)f->K;
    lmf_status st = LMF_OK;
    if (!per_token(f)) { /* full distributions, CHD positions at a time */
        const size_t V = (size_t)f->V;
        float *d = (float *)lmf_malloc(f->chd * V * sizeof *d);
        if (!d) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        for (size_t p0 = 0; p0 < n && !st; p0 += f->chd) {
            size_t c = n - p0 < f->chd ? n - p0 : f->chd;
            st = f_dists(mm, s, tok + p0, c, d);
            for (size_t t = 0; t < c && !st; t++) logp[p0 + t] = d[t * V + (size_t)tok[p0 + t]];
        }
        lmf_free(d);
        return st;
    }
    float *lp = (float *)lmf_malloc(K * CH * sizeof *lp);
    if (!lp) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t p0 = 0; p0 < n && !st; p0 += CH) {
        size_t c = n - p0 < CH ? n - p0 : CH;
        st = run_members(f, s, tok + p0, c, 1, lp);
        if (!st) mix_tokens(f, s->lw, lp, CH, c, logp + p0);
    }
    lmf_free(lp);
    return st;
}

static const lmf_model_ops fused_ops = {
    .kind = "fusion",
    .free = f_free,
    .describe = f_describe,
    .state_new = f_state_new,
    .state_free = f_state_free,
    .state_reset = f_reset,
    .state_copy = f_state_copy,
    .feed = f_feed,
    .next = f_next,
    .score = f_score,
    .dists = f_dists,
};

lmf_status lmf_gate_trace(lmf_model *m, const lmf_tokens *t, float *phi, float *lp, lmf_progress_fn progress,
                          void *user) {
    fused *f = (fused *)m;
    if (m->ops != &fused_ops || f->o.comb != LMF_COMB_GATE) return lmf_error(LMF_ERR_ARG, "not a gate fusion");
    lmf_state *s = f_state_new(m);
    float *out = (float *)lmf_malloc(f->chd * (size_t)f->V * sizeof *out);
    lmf_status st = s && out ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!st) {
        s->tr_phi = phi;
        s->tr_lp = lp;
        s->tr_n = t->n;
        s->tr_pos = 0;
    }
    for (size_t p0 = 0; p0 < t->n && !st; p0 += f->chd) {
        st = f_dists(m, s, t->ids + p0, t->n - p0 < f->chd ? t->n - p0 : f->chd, out);
        if (progress) progress(user, (double)(p0 + f->chd < t->n ? p0 + f->chd : t->n), (double)t->n);
    }
    lmf_free(out);
    if (s) f_state_free(m, s);
    return st;
}

lmf_status lmf_fuse_vocab_maps(lmf_model *const *members, int K, int32_t **maps) {
    const lmf_vocab *v0 = lmf_model_vocab(members[0]);
    int32_t n0 = lmf_vocab_size(v0);
    for (int k = 0; k < K; k++) maps[k] = NULL;
    for (int k = 1; k < K; k++) {
        const lmf_vocab *v = lmf_model_vocab(members[k]);
        if (lmf_vocab_equal(v0, v)) continue;
        /* the same words in another order: map by string */
        int32_t n = lmf_vocab_size(v), missing = 0, first = -1;
        int32_t *mp = (int32_t *)lmf_malloc((size_t)n0 * sizeof *mp);
        if (!mp) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        for (int32_t i = 0; i < n0; i++) {
            size_t len;
            const char *w = lmf_vocab_word(v0, i, &len);
            mp[i] = lmf_vocab_find(v, w, len);
            if (mp[i] < 0 && !missing++) first = i;
        }
        maps[k] = mp;
        if (missing || n != n0) {
            char ex[120] = "";
            if (first >= 0) {
                size_t len;
                const char *w = lmf_vocab_word(v0, first, &len);
                snprintf(ex, sizeof ex, ", e.g. \"%.*s\"", (int)(len > 40 ? 40 : len), w);
            }
            return lmf_error(LMF_ERR_DATA,
                             "members 1 and %d predict over different vocabularies (%d and %d tokens; %d words of "
                             "member 1 are unknown to member %d%s); token-level fusion needs one vocabulary: build "
                             "the models from the same training text or with the same --vocab file",
                             k + 1, (int)n0, (int)n, (int)missing, k + 1, ex);
        }
    }
    return LMF_OK;
}

/* lmf_fuse_new; with `borrow`, the members stay the caller's (also on failure). */
static lmf_status fuse_create(lmf_model **members, int K, const lmf_fuse_opts *o, int borrow, lmf_model **out) {
    *out = NULL;
    lmf_status s = LMF_OK;
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS)
        s = lmf_error(LMF_ERR_ARG, "a fusion needs 1..%d members (got %d)", LMF_FUSE_MAX_MEMBERS, K);
    for (int k = 0; !s && k < K; k++)
        if (!members[k]) s = lmf_error(LMF_ERR_ARG, "member %d is missing", k + 1);
    if (!s && (o->comb < 0 || o->comb >= LMF_COMB_COUNT)) s = lmf_error(LMF_ERR_ARG, "unknown combiner");
    if (!s && (!(o->share >= 0) || o->share >= 1))
        s = lmf_error(LMF_ERR_ARG, "bayes share must be in [0, 1) (got %g)", o->share);
    if (!s && o->comb == LMF_COMB_CASCADE && K != 2)
        s = lmf_error(LMF_ERR_ARG, "a cascade has exactly two members, the proposer and the rescorer (got %d); "
                                   "nest recipes to chain more", K);
    if (!s && (o->top_k < 0 || o->top_k > 1000000))
        s = lmf_error(LMF_ERR_ARG, "top_k must be in 1..1000000 (got %d)", o->top_k);
    if (!s && (!(o->threshold >= 0) || o->threshold > 1))
        s = lmf_error(LMF_ERR_ARG, "the vote threshold must be a probability in [0, 1] (got %g)", o->threshold);
    if (!s && (!(o->vote_mass >= 0) || o->vote_mass > 1))
        s = lmf_error(LMF_ERR_ARG, "vote_mass must be in [0, 1] (got %g)", o->vote_mass);
    if (!s && o->comb == LMF_COMB_GATE) {
        const lmf_gate_params *g = o->gate;
        if (!g || !g->mean || !g->sd || !g->loss0 || !g->A || !g->b)
            s = lmf_error(LMF_ERR_ARG, "a gate needs its parameters (tune it with lmfuse tune --method gate)");
        else if (!(g->decay > 0 && g->decay < 1))
            s = lmf_error(LMF_ERR_ARG, "the gate's decay must be in (0, 1) (got %g)", g->decay);
        for (int j = 0; !s && j < LMF_GATE_FEATURES * K; j++)
            if (!isfinite(g->mean[j]) || !(g->sd[j] > 0) || !isfinite(g->sd[j]))
                s = lmf_error(LMF_ERR_ARG, "gate feature %d: mean must be finite and sd > 0", j + 1);
        for (int j = 0; !s && j < LMF_GATE_FEATURES * K * K; j++)
            if (!isfinite(g->A[j])) s = lmf_error(LMF_ERR_ARG, "gate matrix entry %d is not finite", j + 1);
        for (int k = 0; !s && k < K; k++)
            if (!isfinite(g->b[k]) || !isfinite(g->loss0[k]))
                s = lmf_error(LMF_ERR_ARG, "gate bias / loss0 %d is not finite", k + 1);
    }
    int32_t *maps[LMF_FUSE_MAX_MEMBERS] = {0};
    if (!s) s = lmf_fuse_vocab_maps(members, K, maps);
    double sum = 0;
    for (int k = 0; !s && k < K; k++) {
        double w = o->weights ? o->weights[k] : 1.0 / K;
        if (!(w >= 0) || !isfinite(w)) s = lmf_error(LMF_ERR_ARG, "weight %d is %g; weights must be >= 0", k + 1, w);
        sum += w;
    }
    if (!s && !(sum > 0)) s = lmf_error(LMF_ERR_ARG, "the weights sum to 0");
    fused *f = s ? NULL : (fused *)lmf_calloc(1, sizeof *f);
    if (!s && f) {
        f->m = (lmf_model **)lmf_calloc((size_t)K, sizeof *f->m);
        f->map = (int32_t **)lmf_calloc((size_t)K, sizeof *f->map);
        f->w = (double *)lmf_malloc(2 * (size_t)K * sizeof *f->w);
    }
    if (!s && (!f || !f->m || !f->w || !f->map)) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) {
        for (int k = 0; k < K; k++) lmf_free(maps[k]);
        if (f) {
            lmf_free(f->map);
            lmf_free(f->m);
            lmf_free(f->w);
            lmf_free(f);
        }
        for (int k = 0; k < K && !borrow; k++) lmf_model_free(members[k]);
        return s;
    }
    f->base.ops = &fused_ops;
    f->borrowed = borrow;
    f->base.vocab = lmf_model_vocab(members[0]);
    f->K = K;
    f->V = lmf_vocab_size(f->base.vocab);
    f->chd = CHD_BYTES / ((size_t)K * (size_t)f->V * sizeof(float));
    f->chd = f->chd < CHD_MIN ? CHD_MIN : f->chd > CHD_MAX ? CHD_MAX : f->chd;
    f->o = *o;
    f->o.weights = NULL;
    if (!f->o.top_k) f->o.top_k = o->comb == LMF_COMB_CASCADE ? 20 : 10;
    f->logw = f->w + K;
    int norm = o->comb != LMF_COMB_LOGLINEAR; /* mixture weights sum to 1 */
    f->F = 0;
    for (int k = 0; k < K; k++) {
        f->m[k] = members[k];
        f->map[k] = maps[k];
        f->w[k] = (o->weights ? o->weights[k] : 1.0 / K) / (norm ? sum : 1.0);
        f->logw[k] = log(f->w[k]);
    }
    f->o.gate = NULL; /* copied below */
    if (o->comb == LMF_COMB_GATE) {
        const lmf_gate_params *g = o->gate;
        int F = f->F = LMF_GATE_FEATURES * K;
        size_t n = (size_t)K * (size_t)F + (size_t)K + 2 * (size_t)F + (size_t)K;
        f->ng = (lmf_ngram **)lmf_calloc((size_t)K, sizeof *f->ng);
        for (int k = 0; f->ng && k < K; k++) f->ng[k] = lmf_ngram_from_model(f->m[k]);
        if (!f->ng || !(f->gA = (double *)lmf_malloc(n * sizeof *f->gA))) {
            f_free(&f->base); /* frees the members too */
            return lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
        f->gb = f->gA + (size_t)K * (size_t)F;
        f->gmean = f->gb + K;
        f->gsd = f->gmean + F;
        f->gloss0 = f->gsd + F;
        memcpy(f->gA, g->A, (size_t)K * (size_t)F * sizeof *f->gA);
        memcpy(f->gb, g->b, (size_t)K * sizeof *f->gb);
        memcpy(f->gmean, g->mean, (size_t)F * sizeof *f->gmean);
        memcpy(f->gsd, g->sd, (size_t)F * sizeof *f->gsd);
        memcpy(f->gloss0, g->loss0, (size_t)K * sizeof *f->gloss0);
        f->gdecay = g->decay;
    }
    *out = &f->base;
    return LMF_OK;
}

lmf_status lmf_fuse_new(lmf_model **members, int K, const lmf_fuse_opts *o, lmf_model **out) {
    return fuse_create(members, K, o, 0, out);
}

lmf_status lmf_fuse_eval_shared(lmf_model **members, int K, const lmf_fuse_opts *opts, int F, const lmf_tokens *t,
                                float *const *fused_lp, float *const *member_lp, lmf_progress_fn progress,
                                void *user) {
    if (F < 1 || F > LMF_FUSE_MAX_MEMBERS) return lmf_error(LMF_ERR_ARG, "1..%d fusions at once (got %d)", LMF_FUSE_MAX_MEMBERS, F);
    lmf_model *fm[LMF_FUSE_MAX_MEMBERS] = {0};
    lmf_state *fs[LMF_FUSE_MAX_MEMBERS] = {0};
    lmf_status st = LMF_OK;
    for (int i = 0; i < F && !st; i++) {
        st = fuse_create(members, K, &opts[i], 1, &fm[i]);
        if (!st && !(fs[i] = f_state_new(fm[i]))) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    const fused *f0 = st ? NULL : (const fused *)fm[0];
    float *tmp = st ? NULL : (float *)lmf_malloc((size_t)f0->V * sizeof *tmp);
    if (!st && (!tmp || dbuf_alloc(f0, fs[0]))) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t p0 = 0; p0 < t->n && !st; p0 += f0->chd) {
        const size_t V = (size_t)f0->V, c = t->n - p0 < f0->chd ? t->n - p0 : f0->chd;
        const float *buf = fs[0]->dbuf;
        st = run_members(f0, fs[0], t->ids + p0, c, 0, fs[0]->dbuf); /* once, for every fusion */
        for (size_t j = 0; j < c && !st; j++) {
            const size_t p = p0 + j, y = (size_t)t->ids[p];
            float lp[LMF_FUSE_MAX_MEMBERS];
            for (int k = 0; k < K; k++) {
                lp[k] = buf[(size_t)k * f0->chd * V + j * V + y];
                if (member_lp && member_lp[k]) member_lp[k][p] = lp[k];
            }
            for (int i = 0; i < F; i++) {
                float out = position_logp((const fused *)fm[i], fs[i], buf + j * V, f0->chd * V, lp, y, tmp);
                if (fused_lp[i]) fused_lp[i][p] = out;
            }
        }
        if (progress) progress(user, (double)(p0 + c), (double)t->n);
    }
    lmf_free(tmp);
    for (int i = 0; i < F; i++) {
        if (fs[i]) f_state_free(fm[i], fs[i]);
        if (fm[i]) lmf_model_free(fm[i]);
    }
    return st;
}

void lmf_explain_free(lmf_explain *e) {
    lmf_free(e->loss_corr);
    memset(e, 0, sizeof *e);
}

lmf_status lmf_fuse_explain(lmf_model *m, const lmf_tokens *t, float *fused_lp, float *member_lp, float *resp,
                            lmf_explain *out, lmf_progress_fn progress, void *user) {
    memset(out, 0, sizeof *out);
    if (m->ops != &fused_ops) return lmf_error(LMF_ERR_ARG, "explain needs a fusion (a recipe), not a single model");
    const fused *f = (const fused *)m;
    const int K = f->K;
    const size_t V = (size_t)f->V, KK = (size_t)K * (size_t)K, n = t->n;
    if (n == 0) return lmf_error(LMF_ERR_DATA, "no text to explain (the file is empty)");
    lmf_state *s = f_state_new(m);
    float *tmp = (float *)lmf_malloc(V * sizeof *tmp), *pk = (float *)lmf_malloc((size_t)K * V * sizeof *pk);
    double *sums = (double *)lmf_calloc(KK + 2 * (size_t)K, sizeof *sums); /* sum l_i l_j, then sum l_i, sum resp */
    out->loss_corr = (double *)lmf_calloc(3 * KK, sizeof *out->loss_corr);
    lmf_status st = s && tmp && pk && sums && out->loss_corr ? dbuf_alloc(f, s) : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!st) {
        out->K = K;
        out->n = n;
        out->top1_disagree = out->loss_corr + KK;
        out->js = out->top1_disagree + KK;
    }
    double *sl = sums + KK, *sr = sl + K;
    double flp_sum = 0;
    for (size_t p0 = 0; p0 < n && !st; p0 += f->chd) {
        const size_t c = n - p0 < f->chd ? n - p0 : f->chd, ks = f->chd * V;
        st = run_members(f, s, t->ids + p0, c, 0, s->dbuf);
        for (size_t j = 0; j < c && !st; j++) {
            const size_t p = p0 + j, y = (size_t)t->ids[p];
            const float *d = s->dbuf + j * V;
            float lp[LMF_FUSE_MAX_MEMBERS];
            double lw[LMF_FUSE_MAX_MEMBERS], a[LMF_FUSE_MAX_MEMBERS];
            int32_t best[LMF_FUSE_MAX_MEMBERS];
            for (int k = 0; k < K; k++) lp[k] = d[(size_t)k * ks + y];
            /* the weights this position is mixed with */
            if (f->o.comb == LMF_COMB_GATE) {
                double phi[G * LMF_FUSE_MAX_MEMBERS];
                gate_features(f, s, d, ks, phi, s->pk);
                gate_weights(f, phi, lw);
            } else {
                memcpy(lw, f->o.comb == LMF_COMB_BAYES ? s->lw : f->logw, (size_t)K * sizeof *lw);
            }
            for (int k = 0; k < K; k++) a[k] = lw[k] + (double)lp[k];
            double l = lse(a, K);
            for (int k = 0; k < K; k++) {
                double r = isfinite(l) ? exp(a[k] - l) : 0;
                sr[k] += r;
                if (resp) resp[(size_t)k * n + p] = (float)r;
                if (member_lp) member_lp[(size_t)k * n + p] = lp[k];
            }
            /* the fused probability */
            float o = position_logp(f, s, d, ks, lp, y, tmp);
            if (fused_lp) fused_lp[p] = o;
            flp_sum += (double)o;
            /* diversity: losses, top-1 words, Jensen-Shannon divergence */
            for (int k = 0; k < K; k++) {
                const float *dk = d + (size_t)k * ks;
                float *pv = pk + (size_t)k * V, mx = -INFINITY;
                int32_t arg = 0;
                for (size_t v = 0; v < V; v++) {
                    pv[v] = expf(dk[v]);
                    if (dk[v] > mx) mx = dk[v], arg = (int32_t)v;
                }
                best[k] = arg;
                sl[k] -= (double)lp[k];
                for (int i = 0; i <= k; i++) sums[(size_t)i * K + k] += (double)lp[i] * (double)lp[k];
            }
            for (int i = 0; i < K; i++)
                for (int k = i + 1; k < K; k++) {
                    out->top1_disagree[(size_t)i * K + k] += best[i] != best[k];
                    const float *pi = pk + (size_t)i * V, *pj = pk + (size_t)k * V;
                    const float *di = d + (size_t)i * ks, *dj = d + (size_t)k * ks;
                    double js = 0;
                    for (size_t v = 0; v < V; v++) {
                        float mv = 0.5f * (pi[v] + pj[v]);
                        if (mv > 0) {
                            float lm = logf(mv);
                            if (pi[v] > 0) js += (double)(pi[v] * (di[v] - lm));
                            if (pj[v] > 0) js += (double)(pj[v] * (dj[v] - lm));
                        }
                    }
                    out->js[(size_t)i * K + k] += 0.5 * js;
                }
        }
        if (progress) progress(user, (double)(p0 + c), (double)n);
    }
    if (!st) {
        const double N = (double)n;
        for (int i = 0; i < K; i++) {
            out->mean_resp[i] = sr[i] / N;
            out->member_ppl[i] = exp(sl[i] / N);
        }
        out->ppl = exp(-flp_sum / N);
        for (int i = 0; i < K; i++)
            for (int k = i; k < K; k++) {
                /* losses are -lp: the covariance of losses is that of lp */
                double mi = -sl[i] / N, mk = -sl[k] / N;
                double cov = sums[(size_t)i * K + k] / N - mi * mk;
                double vi = sums[(size_t)i * K + i] / N - mi * mi, vk = sums[(size_t)k * K + k] / N - mk * mk;
                double r = i == k ? 1 : (vi > 0 && vk > 0 ? cov / sqrt(vi * vk) : NAN);
                out->loss_corr[(size_t)i * K + k] = out->loss_corr[(size_t)k * K + i] = r;
                double dis = i == k ? 0 : out->top1_disagree[(size_t)i * K + k] / N;
                out->top1_disagree[(size_t)i * K + k] = out->top1_disagree[(size_t)k * K + i] = dis;
                double js = i == k ? 0 : out->js[(size_t)i * K + k] / N;
                out->js[(size_t)i * K + k] = out->js[(size_t)k * K + i] = js;
            }
    }
    if (s) f_state_free(m, s);
    lmf_free(tmp);
    lmf_free(pk);
    lmf_free(sums);
    if (st) lmf_explain_free(out);
    return st;
}

int lmf_fuse_members(const lmf_model *m, lmf_model *const **members) {
    if (m->ops != &fused_ops) {
        *members = NULL;
        return 0;
    }
    const fused *f = (const fused *)m;
    *members = f->m;
    return f->K;
}
