/* Fused models (lmf/fuse.h): K member models behind the model interface,
 * their distributions combined by a combiner of lmf/comb.h (src/comb).
 *
 * Linear and bayes fusion need only each member's probability of the
 * observed token, so scoring runs every member's batched scorer over a
 * chunk and mixes per token (O(N*K)).  The other combiners need whole
 * distributions: members write chunks of chd positions x V, and each
 * position is combined and normalised over the full vocabulary, so memory
 * stays K*chd*V floats (about CHD_BYTES) whatever the text length. */
#include "lmf/fuse.h"
#include "../model/model_impl.h"
#include "../core/util_impl.h"
#include "fuse_impl.h"
#include "../comb/comb_impl.h" /* lmf_comb_lse */
#include "lmf/ngram.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#define CH 2048 /* positions per chunk, per-token combiners */
#define CHD_BYTES ((size_t)64 << 20) /* full-distribution combiners: members' chunk at most this big, */
#define CHD_MIN 8                     /* and of CHD_MIN..CHD_MAX positions */
#define CHD_MAX 256

void lmf_fuse_opts_init(lmf_fuse_opts *o) { lmf_comb_opts_init(o); }

typedef struct fused {
    lmf_model base; /* must be first */
    int K, V;
    lmf_model **m;
    int borrowed;  /* the members belong to the caller (lmf_fuse_eval_shared) */
    size_t chd;    /* positions per chunk of full distributions */
    int32_t **map; /* map[k][v]: member k's id of word v (NULL: the same ids) */
    lmf_comb *c;
    int gate;        /* the combiner is a gate: it gets the n-gram members' match orders */
    lmf_ngram **ng;  /* gate: ng[k] member k as an n-gram (else NULL) */
} fused;

struct lmf_state {
    lmf_state **ms;
    lmf_comb_state *cs;
    float *buf;  /* [K, V] scratch of next() */
    float *tmp;  /* [V] member distribution in its own ids */
    int32_t *ids; /* [CH] tokens in a member's ids */
    float *dbuf;  /* [K, chd, V] members' distributions, made on first use */
    lmf_ngram_ctx *nctx; /* [K] gate: n-gram members' contexts (their match order) */
    float *aux;          /* [K] gate: the match orders */
    float *tr_phi, *tr_lp; /* gate trace: where to record features and member log-probs */
    size_t tr_pos, tr_n;
};

/* Member k's distribution (its ids) into the fused ids. */
static void to_fused(const fused *f, int k, const float *src, float *dst) {
    const int32_t *mp = f->map[k];
    for (int v = 0; v < f->V; v++) dst[v] = src[mp[v]];
}

static int per_token(const fused *f) { return lmf_comb_per_outcome(f->c); }

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
    lmf_comb_free(f->c);
    lmf_free(f->ng);
    lmf_free(f);
}

static void f_describe(const lmf_model *mm, char *buf, size_t n) {
    const fused *f = (const fused *)mm;
    const double *w = lmf_comb_weights(f->c);
    size_t k = (size_t)snprintf(buf, n, "%s fusion of %d members (weights", lmf_combiner_name(lmf_comb_kind(f->c)),
                                f->K);
    for (int i = 0; i < f->K && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%.4g", i ? ", " : " ", w[i]);
    if (k < n) snprintf(buf + k, n - k, ")");
}

/* gate: the n-gram members' contexts back at <s>. */
static void ngram_begin(const fused *f, lmf_state *s) {
    for (int k = 0; f->ng && k < f->K; k++)
        if (f->ng[k]) {
            lmf_ngram_ctx_begin(f->ng[k], &s->nctx[k]);
            s->aux[k] = (float)s->nctx[k].len;
        }
}

static void f_reset(const lmf_model *mm, lmf_state *s) {
    const fused *f = (const fused *)mm;
    for (int k = 0; k < f->K; k++) lmf_state_reset(f->m[k], s->ms[k]);
    lmf_comb_state_reset(f->c, s->cs);
    ngram_begin(f, s);
}

static void f_state_free(const lmf_model *mm, lmf_state *s) {
    const fused *f = (const fused *)mm;
    if (!s) return;
    for (int k = 0; k < f->K && s->ms; k++) lmf_state_free(f->m[k], s->ms[k]);
    lmf_free(s->ms);
    lmf_comb_state_free(s->cs);
    lmf_free(s->buf);
    lmf_free(s->tmp);
    lmf_free(s->ids);
    lmf_free(s->dbuf);
    lmf_free(s->nctx);
    lmf_free(s->aux);
    lmf_free(s);
}

static lmf_state *f_state_new(const lmf_model *mm) {
    const fused *f = (const fused *)mm;
    lmf_state *s = (lmf_state *)lmf_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->ms = (lmf_state **)lmf_calloc((size_t)f->K, sizeof *s->ms);
    s->cs = lmf_comb_state_new(f->c);
    s->buf = (float *)lmf_malloc((size_t)f->K * (size_t)f->V * sizeof *s->buf);
    s->tmp = (float *)lmf_malloc((size_t)f->V * sizeof *s->tmp);
    s->ids = (int32_t *)lmf_malloc(CH * sizeof *s->ids);
    if (f->gate) {
        s->nctx = (lmf_ngram_ctx *)lmf_calloc((size_t)f->K, sizeof *s->nctx);
        s->aux = (float *)lmf_calloc((size_t)f->K, sizeof *s->aux);
    }
    int ok = s->ms && s->cs && s->buf && s->tmp && s->ids && ((s->nctx && s->aux) || !f->gate);
    for (int k = 0; ok && k < f->K; k++) ok = (s->ms[k] = lmf_state_new(f->m[k])) != NULL;
    if (!ok) {
        f_state_free(mm, s);
        return NULL;
    }
    ngram_begin(f, s);
    return s;
}

static lmf_status f_state_copy(const lmf_model *mm, lmf_state *d, const lmf_state *s) {
    const fused *f = (const fused *)mm;
    for (int k = 0; k < f->K; k++) {
        lmf_status st = lmf_state_copy(f->m[k], d->ms[k], s->ms[k]);
        if (st) return st;
    }
    lmf_comb_state_copy(f->c, d->cs, s->cs);
    if (s->nctx) {
        memcpy(d->nctx, s->nctx, (size_t)f->K * sizeof *d->nctx);
        memcpy(d->aux, s->aux, (size_t)f->K * sizeof *d->aux);
    }
    return LMF_OK;
}

/* Combines K full distributions d[k*kstride ..] into out[V] (ln). */
static void combine(const fused *f, lmf_state *s, const float *d, size_t kstride, float *out) {
    if (s->tr_phi) { /* tracing a gate (lmf_gate_trace): the features are what is wanted */
        double phi[LMF_GATE_FEATURES * LMF_FUSE_MAX_MEMBERS];
        const size_t F = (size_t)LMF_GATE_FEATURES * (size_t)f->K;
        lmf_comb_gate_features(f->c, s->cs, d, kstride, s->aux, phi);
        if (s->tr_pos < s->tr_n)
            for (size_t j = 0; j < F; j++) s->tr_phi[s->tr_pos * F + j] = (float)phi[j];
        return;
    }
    lmf_comb_combine(f->c, s->cs, d, kstride, s->aux, out);
}

/* After token y (fused ids), with the members' ln p(y) lp: the combiner's
 * history moves (bayes weights, gate losses) and a gate's n-gram members'
 * contexts advance. */
static void observe(const fused *f, lmf_state *s, const float *lp, int32_t y) {
    lmf_comb_observe(f->c, s->cs, lp);
    if (!f->gate) return;
    for (int k = 0; k < f->K; k++) {
        if (!f->ng[k]) continue;
        if (y == LMF_EOS) /* the n-gram member starts the next line at <s> */
            lmf_ngram_ctx_begin(f->ng[k], &s->nctx[k]);
        else
            lmf_ngram_score_word(f->ng[k], &s->nctx[k], f->map[k] ? f->map[k][y] : y, &s->nctx[k], NULL);
        s->aux[k] = (float)s->nctx[k].len;
    }
    if (s->tr_lp && s->tr_pos < s->tr_n) /* tracing (lmf_gate_trace) */
        for (int k = 0; k < f->K; k++) s->tr_lp[(size_t)k * s->tr_n + s->tr_pos] = lp[k];
    s->tr_pos++;
}

static lmf_status f_next(lmf_model *mm, const lmf_state *s, float *logp) {
    const fused *f = (const fused *)mm;
    for (int k = 0; k < f->K; k++) {
        float *d = s->buf + (size_t)k * f->V;
        lmf_status st = lmf_model_next(f->m[k], s->ms[k], f->map[k] ? s->tmp : d);
        if (st) return st;
        if (f->map[k]) to_fused(f, k, s->tmp, d);
    }
    combine(f, (lmf_state *)s, s->buf, (size_t)f->V, logp);
    return LMF_OK;
}

static lmf_status f_feed(lmf_model *mm, lmf_state *s, int32_t tok) {
    const fused *f = (const fused *)mm;
    if (lmf_comb_observes(f->c)) { /* bayes, gate: the history needs each member's p(tok) */
        float lp[LMF_FUSE_MAX_MEMBERS];
        for (int k = 0; k < f->K; k++) {
            int32_t t = f->map[k] ? f->map[k][tok] : tok;
            lmf_status st = lmf_model_score(f->m[k], s->ms[k], &t, 1, &lp[k]);
            if (st) return st;
        }
        observe(f, s, lp, tok);
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

/* Fusion f's ln p of the observed token y at one position, from the
 * members' distributions d (member k's at d + k*ks) and their ln p(y) lp,
 * then the position's history update (bayes weights, gate losses).  Only
 * full-distribution combiners need d. */
static float position_logp(const fused *f, lmf_state *s, const float *d, size_t ks, const float *lp, size_t y) {
    float out = 0;
    if (per_token(f)) {
        lmf_comb_mix_observed(f->c, s->cs, lp, 1, 1, &out); /* bayes: also the weights' update */
    } else {
        if (s->tr_phi) /* tracing a gate: the features only */
            combine(f, s, d, ks, NULL);
        else /* out[y] of the whole fused distribution, computed alone */
            out = lmf_comb_combine_at(f->c, s->cs, d, ks, s->aux, (int32_t)y);
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
            combine(f, s, buf + t * V, f->chd * V, out + (p0 + t) * V);
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
    if (!per_token(f)) { /* the members' full distributions, chd positions at a time */
        const size_t V = (size_t)f->V;
        st = dbuf_alloc(f, s);
        for (size_t p0 = 0; p0 < n && !st; p0 += f->chd) {
            size_t c = n - p0 < f->chd ? n - p0 : f->chd;
            st = run_members(f, s, tok + p0, c, 0, s->dbuf);
            for (size_t t = 0; t < c && !st; t++) {
                const size_t y = (size_t)tok[p0 + t];
                float lp[LMF_FUSE_MAX_MEMBERS];
                for (size_t k = 0; k < K; k++) lp[k] = s->dbuf[k * f->chd * V + t * V + y];
                logp[p0 + t] = position_logp(f, s, s->dbuf + t * V, f->chd * V, lp, y);
            }
        }
        return st;
    }
    float *lp = (float *)lmf_malloc(K * CH * sizeof *lp);
    if (!lp) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t p0 = 0; p0 < n && !st; p0 += CH) {
        size_t c = n - p0 < CH ? n - p0 : CH;
        st = run_members(f, s, tok + p0, c, 1, lp);
        if (!st) lmf_comb_mix_observed(f->c, s->cs, lp, CH, c, logp + p0);
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
    if (m->ops != &fused_ops || !f->gate) return lmf_error(LMF_ERR_ARG, "not a gate fusion");
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
    if (!s && !borrow) { /* members over different vocabularies: their union (lmf_fuse_unify) */
        if ((s = lmf_fuse_unify(members, K, o->unk_dub, 0, NULL))) {
            for (int k = 0; k < K; k++) lmf_model_free(members[k]);
            return s;
        }
    }
    lmf_comb *c = NULL;
    if (!s) s = lmf_comb_new(o, K, lmf_vocab_size(lmf_model_vocab(members[0])), &c);
    int32_t *maps[LMF_FUSE_MAX_MEMBERS] = {0};
    if (!s) s = lmf_fuse_vocab_maps(members, K, maps);
    fused *f = s ? NULL : (fused *)lmf_calloc(1, sizeof *f);
    if (!s && f) {
        f->m = (lmf_model **)lmf_calloc((size_t)K, sizeof *f->m);
        f->map = (int32_t **)lmf_calloc((size_t)K, sizeof *f->map);
    }
    if (!s && (!f || !f->m || !f->map)) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) {
        for (int k = 0; k < K; k++) lmf_free(maps[k]);
        if (f) {
            lmf_free(f->map);
            lmf_free(f->m);
            lmf_free(f);
        }
        lmf_comb_free(c);
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
    f->c = c;
    f->gate = lmf_comb_kind(c) == LMF_COMB_GATE;
    for (int k = 0; k < K; k++) {
        f->m[k] = members[k];
        f->map[k] = maps[k];
    }
    if (f->gate) {
        f->ng = (lmf_ngram **)lmf_calloc((size_t)K, sizeof *f->ng);
        if (!f->ng) {
            f_free(&f->base); /* frees the members too */
            return lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
        for (int k = 0; k < K; k++) f->ng[k] = lmf_ngram_from_model(f->m[k]);
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
    if (!st) st = dbuf_alloc(f0, fs[0]);
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
                float out = position_logp((const fused *)fm[i], fs[i], buf + j * V, f0->chd * V, lp, y);
                if (fused_lp[i]) fused_lp[i][p] = out;
            }
        }
        if (progress) progress(user, (double)(p0 + c), (double)t->n);
    }
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
    float *pk = (float *)lmf_malloc((size_t)K * V * sizeof *pk);
    double *sums = (double *)lmf_calloc(KK + 2 * (size_t)K, sizeof *sums); /* sum l_i l_j, then sum l_i, sum resp */
    out->loss_corr = (double *)lmf_calloc(3 * KK, sizeof *out->loss_corr);
    lmf_status st = s && pk && sums && out->loss_corr ? dbuf_alloc(f, s) : lmf_error(LMF_ERR_NOMEM, "out of memory");
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
            lmf_comb_item_weights(f->c, s->cs, d, ks, s->aux, lw);
            for (int k = 0; k < K; k++) a[k] = lw[k] + (double)lp[k];
            double l = lmf_comb_lse(a, K);
            for (int k = 0; k < K; k++) {
                double r = isfinite(l) ? exp(a[k] - l) : 0;
                sr[k] += r;
                if (resp) resp[(size_t)k * n + p] = (float)r;
                if (member_lp) member_lp[(size_t)k * n + p] = lp[k];
            }
            /* the fused probability */
            float o = position_logp(f, s, d, ks, lp, y);
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
