/* The continuous cache (lmf/fuse.h), after Grave, Joulin and Usunier,
 * "Improving neural language models with a continuous cache" (ICLR 2017).
 *
 * A neural model's stream is remembered as pairs (h_i, x_i): the vector
 * h_i that predicted token x_i, and x_i itself.  At the next position, with
 * query vector h, the cache predicts the tokens seen recently in contexts
 * like this one:
 *
 *   a_i  = exp(theta h . h_i) / sum_j exp(theta h . h_j)     over the last n <= window pairs
 *   p(w) = (1 - floor) sum_{i: x_i = w} a_i + floor / V       (1/V before anything is stored)
 *
 * The scores of a chunk of positions against the stored pairs are one
 * matrix product; the model's output layer is never run. */
#include "lmf/fuse.h"
#include "../model/model_impl.h"
#include "../core/util_impl.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

#define CHP 256 /* positions per chunk */

typedef struct ncache {
    lmf_model base; /* must be first */
    lmf_model *inner;
    int W, D, V;
    float theta;
    double floor;
} ncache;

/* The stored pairs, oldest first, with room for W + CHP (the model's state
 * and the tuner keep one each). */
typedef struct store {
    float *keys;   /* [W + CHP, D] vectors */
    int32_t *vals; /* [W + CHP] their tokens */
    int n;         /* pairs stored */
} store;

static int store_alloc(store *st, size_t cap, int D) {
    st->keys = (float *)lmf_malloc(cap * (size_t)D * sizeof *st->keys);
    st->vals = (int32_t *)lmf_malloc(cap * sizeof *st->vals);
    st->n = 0;
    return st->keys && st->vals;
}

static void store_free(store *st) {
    lmf_free(st->keys);
    lmf_free(st->vals);
}

/* Keeps the newest W pairs, so that a chunk of CHP more fits. */
static void store_trim(store *st, int W, int D) {
    if (st->n <= W) return;
    size_t drop = (size_t)(st->n - W);
    memmove(st->keys, st->keys + drop * D, (size_t)W * D * sizeof *st->keys);
    memmove(st->vals, st->vals + drop, (size_t)W * sizeof *st->vals);
    st->n = W;
}

/* Appends k <= CHP pairs (q's rows, tok) after trimming to W. */
static void store_add(store *st, int W, int D, const float *q, const int32_t *tok, int k) {
    store_trim(st, W, D);
    memcpy(st->keys + (size_t)st->n * D, q, (size_t)k * D * sizeof *st->keys);
    memcpy(st->vals + st->n, tok, (size_t)k * sizeof *st->vals);
    st->n += k;
}

struct lmf_state {
    lmf_state *in;
    store st;
    float *cur;    /* [D] the vector that predicts the next token */
    float *q;      /* [CHP + 1, D] a chunk's vectors */
    float *sc;     /* [CHP, W + CHP] their scores */
    double *acc;   /* [V] one distribution's cache mass (zero between uses) */
};

static void nc_free(lmf_model *m) {
    ncache *c = (ncache *)m;
    lmf_model_free(c->inner);
    lmf_free(c);
}

static void nc_describe(const lmf_model *m, char *buf, size_t n) {
    const ncache *c = (const ncache *)m;
    char in[256];
    lmf_model_describe(c->inner, in, sizeof in);
    snprintf(buf, n, "continuous cache, last %d positions, theta %g, floor %g, over %s", c->W, c->theta, c->floor, in);
}

static void nc_state_free(const lmf_model *m, lmf_state *s) {
    const ncache *c = (const ncache *)m;
    if (!s) return;
    lmf_state_free(c->inner, s->in);
    store_free(&s->st);
    lmf_free(s->cur);
    lmf_free(s->q);
    lmf_free(s->sc);
    lmf_free(s->acc);
    lmf_free(s);
}

static void nc_reset(const lmf_model *m, lmf_state *s) {
    const ncache *c = (const ncache *)m;
    lmf_state_reset(c->inner, s->in);
    s->st.n = 0;
    lmf_model_hidden(c->inner, s->in, NULL, 0, s->cur); /* cannot fail for n = 0 */
}

static lmf_state *nc_state_new(const lmf_model *m) {
    const ncache *c = (const ncache *)m;
    size_t cap = (size_t)c->W + CHP, D = (size_t)c->D;
    lmf_state *s = (lmf_state *)lmf_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->in = lmf_state_new(c->inner);
    int ok = store_alloc(&s->st, cap, c->D);
    s->cur = (float *)lmf_malloc(D * sizeof *s->cur);
    s->q = (float *)lmf_malloc((CHP + 1) * D * sizeof *s->q);
    s->sc = (float *)lmf_malloc((size_t)CHP * cap * sizeof *s->sc);
    s->acc = (double *)lmf_calloc((size_t)c->V, sizeof *s->acc);
    if (!ok || !s->in || !s->cur || !s->q || !s->sc || !s->acc) {
        nc_state_free(m, s);
        return NULL;
    }
    nc_reset(m, s);
    return s;
}

static lmf_status nc_copy(const lmf_model *m, lmf_state *d, const lmf_state *s) {
    const ncache *c = (const ncache *)m;
    lmf_status st = lmf_state_copy(c->inner, d->in, s->in);
    if (st) return st;
    memcpy(d->st.keys, s->st.keys, (size_t)s->st.n * c->D * sizeof *d->st.keys);
    memcpy(d->st.vals, s->st.vals, (size_t)s->st.n * sizeof *d->st.vals);
    memcpy(d->cur, s->cur, (size_t)c->D * sizeof *d->cur);
    d->st.n = s->st.n;
    return LMF_OK;
}

/* Turns raw scores r[lo..hi) into exp(r - max) in place; returns their sum. */
static double softmax_mass(float *r, int lo, int hi) {
    float mx = -FLT_MAX;
    for (int i = lo; i < hi; i++) mx = r[i] > mx ? r[i] : mx;
    double sum = 0;
    for (int i = lo; i < hi; i++) sum += (r[i] = expf(r[i] - mx));
    return sum;
}

/* One position: the cache's distribution from the scores r[lo..hi) of the
 * pairs vals[lo..hi); writes ln p(tok) to *lp, or all of ln p to out. */
static void position(const ncache *c, const lmf_state *s, float *r, int lo, int hi, int32_t tok, float *lp,
                     float *out) {
    const double base = c->floor / c->V;
    if (hi <= lo) { /* nothing stored yet */
        if (lp) *lp = -logf((float)c->V);
        if (out)
            for (int v = 0; v < c->V; v++) out[v] = -logf((float)c->V);
        return;
    }
    const double scale = (1 - c->floor) / softmax_mass(r, lo, hi);
    if (lp) {
        double num = 0;
        for (int i = lo; i < hi; i++) num += s->st.vals[i] == tok ? r[i] : 0;
        *lp = (float)log(num * scale + base);
    }
    if (out) { /* words not in the window get the floor; acc is all zeros between calls */
        const float lbase = (float)log(base);
        for (int v = 0; v < c->V; v++) out[v] = lbase;
        const int32_t *vals = s->st.vals;
        for (int i = lo; i < hi; i++) s->acc[vals[i]] += r[i] * scale;
        for (int i = lo; i < hi; i++) {
            double *a = &s->acc[vals[i]];
            if (*a != 0) out[vals[i]] = (float)log(*a + base);
            *a = 0;
        }
    }
}

/* logp: ln p of each token; or dist: the full distributions (n x V). */
static lmf_status nc_run(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *logp, float *dist) {
    const ncache *c = (const ncache *)m;
    const size_t D = (size_t)c->D;
    for (size_t p0 = 0; p0 < n; p0 += CHP) {
        int k = (int)(n - p0 < CHP ? n - p0 : CHP);
        lmf_status st = lmf_model_hidden(c->inner, s->in, tok + p0, (size_t)k, s->q);
        if (st) return st;
        /* the chunk's pairs join the store: position j sees pairs [.., n0 + j) */
        store_add(&s->st, c->W, c->D, s->q, tok + p0, k);
        const int nk = s->st.n, n0 = nk - k;
        if (nk > 1)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, nk, (int)D, c->theta, s->q, (int)D, s->st.keys,
                        (int)D, 0.0f, s->sc, nk);
        for (int j = 0; j < k; j++) {
            int hi = n0 + j, lo = hi > c->W ? hi - c->W : 0;
            position(c, s, s->sc + (size_t)j * nk, lo, hi, tok[p0 + j], logp ? logp + p0 + j : NULL,
                     dist ? dist + (p0 + j) * (size_t)c->V : NULL);
        }
        memcpy(s->cur, s->q + (size_t)k * D, D * sizeof *s->cur);
    }
    return LMF_OK;
}

static lmf_status nc_score(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *logp) {
    return nc_run(m, s, tok, n, logp, NULL);
}

static lmf_status nc_dists(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *out) {
    return nc_run(m, s, tok, n, NULL, out);
}

/* One token (decoding): the current vector is the one that predicted it. */
static lmf_status nc_feed(lmf_model *m, lmf_state *s, int32_t tok) {
    const ncache *c = (const ncache *)m;
    lmf_status st = lmf_model_feed(c->inner, s->in, tok);
    if (st) return st;
    store_add(&s->st, c->W, c->D, s->cur, &tok, 1);
    return lmf_model_hidden(c->inner, s->in, NULL, 0, s->cur);
}

static lmf_status nc_next(lmf_model *m, const lmf_state *s, float *logp) {
    const ncache *c = (const ncache *)m;
    int hi = s->st.n, lo = hi > c->W ? hi - c->W : 0;
    if (hi > lo)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, hi - lo, c->D, c->theta, s->st.keys + (size_t)lo * c->D, c->D, s->cur, 1,
                    0.0f, s->sc + lo, 1);
    position(c, s, s->sc, lo, hi, 0, NULL, logp);
    return LMF_OK;
}

static const lmf_model_ops ncache_ops = {
    .kind = "cache",
    .free = nc_free,
    .describe = nc_describe,
    .state_new = nc_state_new,
    .state_free = nc_state_free,
    .state_reset = nc_reset,
    .state_copy = nc_copy,
    .feed = nc_feed,
    .next = nc_next,
    .score = nc_score,
    .dists = nc_dists,
};

lmf_status lmf_ncache_new(lmf_model *model, int window, double theta, double floor, lmf_model **out) {
    *out = NULL;
    if (window < 1 || window > LMF_NCACHE_MAX_WINDOW) {
        lmf_model_free(model);
        return lmf_error(LMF_ERR_ARG, "continuous cache window must be 1..%d positions (got %d)", LMF_NCACHE_MAX_WINDOW,
                         window);
    }
    if (!(theta >= 0) || !isfinite(theta) || theta > 1e6) {
        lmf_model_free(model);
        return lmf_error(LMF_ERR_ARG, "continuous cache theta must be a number in [0, 1e6] (got %g)", theta);
    }
    if (!(floor > 0) || !(floor <= 1)) {
        lmf_model_free(model);
        return lmf_error(LMF_ERR_ARG, "continuous cache floor must be in (0, 1] (got %g)", floor);
    }
    int D = lmf_model_hidden_dim(model);
    if (D <= 0) {
        lmf_status s = lmf_error(LMF_ERR_ARG,
                                 "a continuous cache needs a neural model (rnn, lstm, gru, transformer); a %s model has "
                                 "no hidden states",
                                 lmf_model_kind(model));
        lmf_model_free(model);
        return s;
    }
    ncache *c = (ncache *)lmf_calloc(1, sizeof *c);
    if (!c) {
        lmf_model_free(model);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    c->base.ops = &ncache_ops;
    c->base.vocab = lmf_model_vocab(model);
    c->inner = model;
    c->W = window;
    c->D = D;
    c->V = lmf_vocab_size(c->base.vocab);
    c->theta = (float)theta;
    c->floor = floor;
    *out = &c->base;
    return LMF_OK;
}

/* ---------------- tuning: grid search ---------------- */

void lmf_ncache_tune_opts_init(lmf_ncache_tune_opts *o) {
    memset(o, 0, sizeof *o);
    o->floor = 0.01;
    o->every = 1;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

lmf_status lmf_tune_ncache(lmf_model *model, const lmf_tokens *dev, const lmf_ncache_tune_opts *o,
                           lmf_ncache_fit *out) {
    memset(out, 0, sizeof *out);
    lmf_ncache_tune_opts def;
    if (!o) {
        lmf_ncache_tune_opts_init(&def);
        o = &def;
    }
    static const int def_windows[] = {500, 1000, 2000};
    int nw = o->window ? o->n_window : 3, nt = o->theta ? o->n_theta : 13;
    const int D = lmf_model_hidden_dim(model), V = lmf_vocab_size(lmf_model_vocab(model));
    const size_t N = dev->n;
    if (D <= 0)
        return lmf_error(LMF_ERR_ARG, "a continuous cache needs a neural model; a %s model has no hidden states",
                         lmf_model_kind(model));
    if (nw < 1 || nt < 1 || nw * nt > LMF_NCACHE_GRID_MAX)
        return lmf_error(LMF_ERR_ARG, "continuous cache grid: 1..%d points (windows x thetas; got %d x %d)",
                         LMF_NCACHE_GRID_MAX, nw, nt);
    if (!(o->floor > 0) || !(o->floor <= 1))
        return lmf_error(LMF_ERR_ARG, "continuous cache floor must be in (0, 1] (got %g)", o->floor);
    if (N < 2) return lmf_error(LMF_ERR_ARG, "the dev text is too short to tune a cache (%zu tokens)", N);
    int win[LMF_NCACHE_GRID_MAX];
    for (int b = 0; b < nw; b++) {
        win[b] = o->window ? o->window[b] : def_windows[b];
        if (win[b] < 1 || win[b] > LMF_NCACHE_MAX_WINDOW)
            return lmf_error(LMF_ERR_ARG, "continuous cache window must be 1..%d positions (got %d)",
                             LMF_NCACHE_MAX_WINDOW, win[b]);
    }
    qsort(win, (size_t)nw, sizeof *win, cmp_int);
    const int W = win[nw - 1], every = o->every > 1 ? o->every : 1;
    for (int t = 0; o->theta && t < nt; t++)
        if (!(o->theta[t] >= 0) || !(o->theta[t] <= 1e6))
            return lmf_error(LMF_ERR_ARG, "continuous cache theta must be a number in [0, 1e6] (got %g)", o->theta[t]);

    /* which positions are scored: chunks c with c % every == 0 */
    size_t nchunks = (N + CHP - 1) / CHP, M = 0;
    for (size_t c = 0; c < nchunks; c += (size_t)every) M += (c + 1) * CHP <= N ? CHP : N - c * CHP;
    const size_t cap = (size_t)W + CHP, G = (size_t)nw * nt;
    float *lpm = (float *)lmf_malloc(N * sizeof *lpm);
    float *sel = (float *)lmf_malloc(M * (G + 1) * sizeof *sel); /* [0]: model, [1 + g]: grid point g */
    store ks;
    int kok = store_alloc(&ks, cap, D);
    float *q = (float *)lmf_malloc((CHP + 1) * (size_t)D * sizeof *q);
    float *sc = (float *)lmf_malloc((size_t)CHP * cap * sizeof *sc);
    double *num = (double *)lmf_malloc(2 * (size_t)nw * sizeof *num), *den = num ? num + nw : NULL;
    lmf_state *st = lmf_state_new(model);
    lmf_status s = lpm && sel && kok && q && sc && num && st ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory tuning a continuous cache");
    /* pass 1: the model's own log-probs */
    for (size_t p0 = 0; p0 < N && !s; p0 += 8192) {
        size_t k = N - p0 < 8192 ? N - p0 : 8192;
        s = lmf_model_score(model, st, dev->ids + p0, k, lpm + p0);
        if (o->progress) o->progress(o->progress_user, (double)(p0 + k), 2.0 * N);
    }
    /* pass 2: hidden vectors, raw dot products, every grid point */
    double theta[LMF_NCACHE_GRID_MAX];
    size_t m = 0;
    double sqn = 0;
    if (!s) lmf_state_reset(model, st);
    const double base = o->floor / V;
    for (size_t c = 0, p0 = 0; p0 < N && !s; c++, p0 += CHP) {
        int k = (int)(N - p0 < CHP ? N - p0 : CHP);
        s = lmf_model_hidden(model, st, dev->ids + p0, (size_t)k, q);
        if (s) break;
        store_add(&ks, W, D, q, dev->ids + p0, k);
        const int nk = ks.n, n = nk - k;
        const float *keys = ks.keys;
        const int32_t *vals = ks.vals;
        if (c % (size_t)every == 0) {
            if (m == 0) { /* the default grid is scaled to the vectors' size */
                double a = 0;
                for (size_t i = 0; i < (size_t)k * D; i++) a += (double)q[i] * q[i];
                a = a / k > 1e-12 ? a / k : 1;
                for (int t = 0; t < nt; t++) theta[t] = o->theta ? o->theta[t] : pow(2.0, t / 2.0) / a;
            }
            for (size_t i = 0; i < (size_t)k * D; i++) sqn += (double)q[i] * q[i];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, nk, D, 1.0f, q, D, keys, D, 0.0f, sc, nk);
            for (int j = 0; j < k; j++, m++) {
                const float *r = sc + (size_t)j * nk;
                const int hi = n + j, lo = hi > W ? hi - W : 0;
                const int32_t tok = dev->ids[p0 + j];
                float *row = sel + m * (G + 1);
                row[0] = lpm[p0 + j];
                float mx = -FLT_MAX;
                for (int i = lo; i < hi; i++) mx = r[i] > mx ? r[i] : mx;
                for (int t = 0; t < nt; t++) {
                    double nu = 0, de = 0;
                    int b = 0, cnt = 0;
                    for (int i = hi - 1; i >= lo; i--) {
                        double e = exp(theta[t] * ((double)r[i] - mx));
                        de += e;
                        nu += vals[i] == tok ? e : 0;
                        if (++cnt == win[b]) num[b] = nu, den[b++] = de;
                    }
                    for (; b < nw; b++) num[b] = nu, den[b] = de;
                    for (b = 0; b < nw; b++)
                        row[1 + (size_t)b * nt + t] = hi == lo ? -logf((float)V)
                                                               : (float)log((1 - o->floor) * (den[b] > 0 ? num[b] / den[b] : 0) + base);
                }
            }
        }
        if (o->progress) o->progress(o->progress_user, (double)N + (double)(p0 + k), 2.0 * N);
    }
    /* each grid point: EM for the two-member mixture */
    float *cols = s ? NULL : (float *)lmf_malloc(2 * M * sizeof *cols);
    if (!s && !cols) s = lmf_error(LMF_ERR_NOMEM, "out of memory tuning a continuous cache");
    if (!s) {
        double ll = 0;
        for (size_t i = 0; i < M; i++) ll += sel[i * (G + 1)];
        out->ppl_model = exp(-ll / (double)M);
        out->ppl = INFINITY;
        out->n = (int)G;
        out->positions = M;
        out->floor = o->floor;
        out->mean_sq_norm = sqn / (double)M;
        for (size_t i = 0; i < M; i++) cols[i] = sel[i * (G + 1)];
        for (size_t g = 0; g < G && !s; g++) {
            for (size_t i = 0; i < M; i++) cols[M + i] = sel[i * (G + 1) + 1 + g];
            const float *lp[2] = {cols, cols + M};
            double w[2] = {0.9, 0.1}, trace[201];
            int it = 0;
            s = lmf_tune_linear_em(lp, 2, M, 1e-6, 200, w, trace, &it);
            if (s) break;
            out->grid_window[g] = win[g / (size_t)nt];
            out->grid_theta[g] = theta[g % (size_t)nt];
            out->grid_lambda[g] = w[1];
            out->grid_ppl[g] = trace[it];
            if (trace[it] < out->ppl) {
                out->ppl = trace[it];
                out->window = out->grid_window[g];
                out->theta = out->grid_theta[g];
                out->lambda = w[1];
            }
        }
    }
    lmf_free(cols);
    lmf_state_free(model, st);
    lmf_free(lpm);
    lmf_free(sel);
    store_free(&ks);
    lmf_free(q);
    lmf_free(sc);
    lmf_free(num);
    return s;
}
