/* Fusion: exact invariants of every combiner (distributions sum to 1, the
 * fast scoring path equals the full distributions, weight 1 on a member
 * reproduces it), vocabulary mapping, EM (monotone, at a stationary point). */
#include "test.h"

#include "lmf/eval.h"
#include "lmf/fuse.h"
#include "lmf/generate.h"
#include "lmf/ngram.h"
#include "lmf/nn.h"
#include "../src/fuse/fuse_impl.h"

static lmf_model *ngram(int order) {
    lmf_ngram_train_opts o;
    lmf_ngram_train_opts_init(&o);
    o.order = order;
    lmf_ngram *ng = NULL;
    CHECK(lmf_ngram_train(tdata("brown-mini.train.txt"), &o, &ng, NULL) == LMF_OK);
    return ng ? lmf_ngram_model(ng) : NULL;
}

/* A fusion of a 2-gram, a 3-gram and a cache (over vocabulary cv, or the
 * n-grams' own when NULL). */
static lmf_model *trio_k(lmf_combiner comb, const double *w, double share, const lmf_vocab *cv, int top_k,
                         double vote_mass) {
    lmf_model *m[3] = {ngram(2), ngram(3), NULL};
    int K = comb == LMF_COMB_CASCADE ? 2 : 3; /* proposer 2-gram, rescorer 3-gram */
    if (K == 3) CHECK(lmf_cache_new(cv ? cv : lmf_model_vocab(m[0]), 50, 0.5, &m[2]) == LMF_OK);
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    o.comb = comb;
    o.weights = w;
    o.share = share;
    o.top_k = top_k;
    o.vote_mass = vote_mass;
    /* gate: arbitrary fixed parameters (fitting is test_gate's) */
    double A[45], b[3] = {0.1, -0.2, 0.3}, mean[15], sd[15], loss0[3] = {5, 5, 6};
    for (int i = 0; i < 45; i++) A[i] = 0.3 * sin(i + 1.0);
    for (int i = 0; i < 15; i++) mean[i] = 0.5 * i - 2, sd[i] = 1 + 0.1 * i;
    lmf_gate_params gp = {0.9, mean, sd, loss0, A, b};
    o.gate = &gp;
    lmf_model *f = NULL;
    CHECK(lmf_fuse_new(m, K, &o, &f) == LMF_OK);
    return f;
}
static lmf_model *trio(lmf_combiner comb, const double *w, double share, const lmf_vocab *cv) {
    return trio_k(comb, w, share, cv, 0, 0.5);
}

enum { NT = 300 };

static void read_valid(const lmf_model *m, lmf_tokens *t) {
    CHECK(lmf_tokens_read_file(tdata("brown-mini.valid.txt"), lmf_model_vocab(m), NULL, t) == LMF_OK);
    CHECK(t->n >= NT);
}

/* next() sums to 1 and agrees with score() and dists() over NT tokens. */
static void check_consistent(lmf_model *f, const char *what) {
    lmf_tokens t;
    read_valid(f, &t);
    int V = lmf_vocab_size(lmf_model_vocab(f));
    float *d = malloc((size_t)V * sizeof *d), *viaNext = malloc(NT * sizeof(float)), *lp = malloc(NT * sizeof(float));
    float *dd = malloc((size_t)16 * V * sizeof *dd);
    lmf_state *s = lmf_state_new(f);
    double worst_sum = 0;
    int nan = 0;
    for (int i = 0; i < NT; i++) {
        CHECK(lmf_model_next(f, s, d) == LMF_OK);
        double sum = 0;
        for (int v = 0; v < V; v++) {
            nan |= isnan(d[v]);
            sum += exp((double)d[v]);
        }
        if (fabs(sum - 1) > worst_sum) worst_sum = fabs(sum - 1);
        viaNext[i] = d[t.ids[i]];
        CHECK(lmf_model_feed(f, s, t.ids[i]) == LMF_OK);
    }
    CHECK_MSG(!nan && worst_sum < 1e-5, "%s: distributions sum to 1 +- %.3g, NaN %d", what, worst_sum, nan);
    CHECK(lmf_model_score(f, NULL, t.ids, NT, lp) == LMF_OK);
    double worst = 0;
    for (int i = 0; i < NT; i++)
        if (fabs(lp[i] - viaNext[i]) > worst) worst = fabs(lp[i] - viaNext[i]);
    CHECK_MSG(worst < 2e-5, "%s: score() differs from next() by %.3g", what, worst);
    lmf_state_reset(f, s);
    CHECK(lmf_model_dists(f, s, t.ids, 16, dd) == LMF_OK);
    worst = 0;
    for (int i = 0; i < 16; i++)
        if (fabs(dd[(size_t)i * V + t.ids[i]] - viaNext[i]) > worst) worst = fabs(dd[(size_t)i * V + t.ids[i]] - viaNext[i]);
    CHECK_MSG(worst < 2e-5, "%s: dists() differs from next() by %.3g", what, worst);
    lmf_state_free(f, s);
    free(d), free(viaNext), free(lp), free(dd);
    lmf_tokens_free(&t);
}

static void test_invariants(void) {
    const double w[3] = {0.2, 0.5, 0.3};
    for (int c = 0; c < LMF_COMB_COUNT; c++) {
        if (c == LMF_COMB_STACK) continue; /* a meta-model over classes, K V^2 weights here: test_comb.c */
        if (c == LMF_COMB_PAIRVOTE) continue; /* a table fitted for tags: test_comb.c, test_tag.c */
        lmf_model *f = trio((lmf_combiner)c, w, 0.02, NULL);
        if (f) check_consistent(f, lmf_combiner_name((lmf_combiner)c));
        lmf_model_free(f);
    }
}

/* Weight 1 on the 3-gram reproduces it, for every combiner. */
static void test_degenerate(void) {
    lmf_model *ng3 = ngram(3);
    lmf_tokens t;
    read_valid(ng3, &t);
    float *ref = malloc(t.n * sizeof *ref), *lp = malloc(t.n * sizeof *lp);
    CHECK(lmf_model_score(ng3, NULL, t.ids, t.n, ref) == LMF_OK);
    const double w[3] = {0, 1, 0};
    for (int c = 0; c < LMF_COMB_COUNT; c++) {
        if (c == LMF_COMB_MAX || c == LMF_COMB_VOTE || c == LMF_COMB_CASCADE || c == LMF_COMB_GATE) continue; /* below */
        if (c == LMF_COMB_STACK || c == LMF_COMB_PAIRVOTE) continue; /* test_comb.c */
        lmf_model *f = trio((lmf_combiner)c, w, 0, NULL);
        CHECK(f && lmf_model_score(f, NULL, t.ids, t.n, lp) == LMF_OK);
        double worst = 0;
        for (size_t i = 0; f && i < t.n; i++)
            if (fabs(lp[i] - ref[i]) > worst) worst = fabs(lp[i] - ref[i]);
        CHECK_MSG(worst < 1e-5, "%s with weight 1 on a member differs from it by %.3g", lmf_combiner_name((lmf_combiner)c),
                  worst);
        lmf_model_free(f);
    }
    /* vote with no vote mass is the linear mixture: weight 1 reproduces the
     * member; a cascade whose proposer offers every word is the rescorer */
    for (int c = 0; c < 2; c++) {
        lmf_model *f = c ? trio_k(LMF_COMB_CASCADE, NULL, 0, NULL, lmf_vocab_size(lmf_model_vocab(ng3)), 0)
                         : trio_k(LMF_COMB_VOTE, w, 0, NULL, 5, 0);
        CHECK(f && lmf_model_score(f, NULL, t.ids, t.n, lp) == LMF_OK);
        double worst = 0;
        for (size_t i = 0; f && i < t.n; i++)
            if (fabs(lp[i] - ref[i]) > worst) worst = fabs(lp[i] - ref[i]);
        CHECK_MSG(worst < 1e-5, "%s: degenerate case differs from the 3-gram by %.3g", c ? "cascade" : "vote", worst);
        lmf_model_free(f);
    }
    /* max (and every combiner) over a single member is that member */
    lmf_model *one[1] = {ngram(3)};
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    o.comb = LMF_COMB_MAX;
    lmf_model *f = NULL;
    CHECK(lmf_fuse_new(one, 1, &o, &f) == LMF_OK);
    CHECK(f && lmf_model_score(f, NULL, t.ids, t.n, lp) == LMF_OK);
    double worst = 0;
    for (size_t i = 0; f && i < t.n; i++)
        if (fabs(lp[i] - ref[i]) > worst) worst = fabs(lp[i] - ref[i]);
    CHECK_MSG(worst < 1e-5, "max over one member differs from it by %.3g", worst);
    lmf_model_free(f);
    free(ref), free(lp);
    lmf_tokens_free(&t);
    lmf_model_free(ng3);
}

/* A member over the same words in another order is mapped by string. */
static void test_vocab_map(void) {
    lmf_model *ng = ngram(2);
    const lmf_vocab *v = lmf_model_vocab(ng);
    lmf_vocab *rev = lmf_vocab_new(lmf_vocab_mode(v));
    int32_t n = lmf_vocab_size(v);
    for (int32_t i = n - 1; i >= 2; i--) { /* <unk> and </s> keep ids 0 and 1 */
        size_t len;
        const char *w = lmf_vocab_word(v, i, &len);
        CHECK(lmf_vocab_add(rev, w, len) >= 0);
    }
    CHECK(lmf_vocab_size(rev) == n && !lmf_vocab_equal(rev, v));
    const double w[3] = {0.2, 0.5, 0.3};
    for (int c = 0; c < LMF_COMB_COUNT; c++) {
        if (c == LMF_COMB_STACK || c == LMF_COMB_PAIRVOTE) continue; /* test_comb.c */
        lmf_model *a = trio((lmf_combiner)c, w, 0.02, NULL), *b = trio((lmf_combiner)c, w, 0.02, rev);
        lmf_tokens t;
        read_valid(a, &t);
        float la[NT], lb[NT];
        CHECK(lmf_model_score(a, NULL, t.ids, NT, la) == LMF_OK && lmf_model_score(b, NULL, t.ids, NT, lb) == LMF_OK);
        CHECK_MSG(!memcmp(la, lb, sizeof la), "%s: a member with permuted ids scores differently",
                  lmf_combiner_name((lmf_combiner)c));
        if (c == LMF_COMB_LINEAR) check_consistent(b, "linear with a permuted member");
        lmf_tokens_free(&t);
        lmf_model_free(a);
        lmf_model_free(b);
    }
    lmf_vocab_free(rev);
    /* different words: fused over their union (test_union_vocab), and the tuners that need one vocabulary say so */
    lmf_model *m[2] = {ngram(2), NULL}, *f = NULL;
    CHECK(lmf_nn_load(tdata("rnnlm_lstm.safetensors"), &m[1]) == LMF_OK);
    CHECK(lmf_fuse_check_vocab(m, 2) == LMF_ERR_DATA);
    CHECK_MSG(strstr(lmf_last_error(), "different vocabularies") != NULL, "message: %s", lmf_last_error());
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    CHECK(lmf_fuse_new(m, 2, &o, &f) == LMF_OK && f);
    if (f) check_consistent(f, "an n-gram and an LSTM over their union vocabulary");
    lmf_model_free(f);
    lmf_model_free(ng);
}

/* Two n-grams trained on the two halves of a text know different words.
 * Over their union: each member's view sums to 1 (the default share) and
 * scores what its member knows exactly as the member does, a word it lacks
 * as its <unk> over (missing + 1); weight 1 on one member reproduces its
 * view; IRSTLM's dub leaves the views below 1. */
static void test_union_vocab(void) {
    FILE *fp = fopen(tdata("brown-mini.train.txt"), "rb");
    static char buf[1 << 20];
    size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
    if (fp) fclose(fp);
    CHECK(n > 1000 && n < sizeof buf);
    size_t half = n / 2;
    while (half < n && buf[half - 1] != '\n') half++;
    lmf_ngram_train_opts to;
    lmf_ngram_train_opts_init(&to);
    to.order = 3;
    lmf_ngram *a = NULL, *b = NULL;
    CHECK(lmf_ngram_train_mem(buf, half, "half1", &to, &a, NULL) == LMF_OK);
    to.order = 2;
    CHECK(lmf_ngram_train_mem(buf + half, n - half, "half2", &to, &b, NULL) == LMF_OK);
    if (!a || !b) return;
    lmf_model *m[2] = {lmf_ngram_model(a), lmf_ngram_model(b)};
    CHECK(lmf_fuse_check_vocab(m, 2) == LMF_ERR_DATA);
    /* the member alone, through its own vocabulary */
    lmf_tokens own;
    CHECK(lmf_tokens_read_file(tdata("brown-mini.valid.txt"), lmf_model_vocab(m[0]), NULL, &own) == LMF_OK);
    float *lo = malloc(own.n * sizeof *lo), *lu = malloc(own.n * sizeof *lu), *lw = malloc(own.n * sizeof *lw);
    CHECK(lmf_model_score(m[0], NULL, own.ids, own.n, lo) == LMF_OK);
    int32_t Va = lmf_vocab_size(lmf_model_vocab(m[0]));
    int changed = 0;
    CHECK(lmf_fuse_unify(m, 2, 0, 0, &changed) == LMF_OK && changed);
    const lmf_vocab *U = lmf_model_vocab(m[0]);
    CHECK(lmf_vocab_size(U) > Va && lmf_vocab_size(lmf_model_vocab(m[1])) == lmf_vocab_size(U));
    int32_t missing = lmf_vocab_size(U) - Va; /* union words member 1 lacks: U starts with its words */
    CHECK(missing > 0);
    check_consistent(m[0], "member 1 over the union");
    check_consistent(m[1], "member 2 over the union");
    lmf_tokens un;
    CHECK(lmf_tokens_read_file(tdata("brown-mini.valid.txt"), U, NULL, &un) == LMF_OK);
    CHECK(un.n == own.n);
    CHECK(lmf_model_score(m[0], NULL, un.ids, un.n, lu) == LMF_OK);
    size_t same = 0, shared = 0, nunk = 0;
    for (size_t i = 0; i < own.n && i < un.n; i++) {
        if (own.ids[i] != LMF_UNK) same += lu[i] == lo[i];
        else shared += fabsf(lu[i] - (lo[i] - (float)log((double)missing + 1))) < 1e-5f, nunk++;
    }
    CHECK_MSG(same == own.n - nunk, "%zu of %zu known tokens score as the member alone", same, own.n - nunk);
    CHECK_MSG(nunk > 0 && shared == nunk, "%zu of %zu tokens the member lacks get <unk> / (missing + 1)", shared, nunk);
    /* weight 1 on member 1 of a linear fusion: its view */
    const double w10[2] = {1, 0};
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    o.weights = w10;
    lmf_model *f = NULL;
    CHECK(lmf_fuse_new(m, 2, &o, &f) == LMF_OK); /* takes the views */
    if (f) {
        CHECK(lmf_model_score(f, NULL, un.ids, un.n, lw) == LMF_OK);
        double worst = 0;
        for (size_t i = 0; i < un.n; i++) worst = fmax(worst, fabs(lw[i] - lu[i]));
        CHECK_MSG(worst < 1e-6, "weight 1 on member 1 differs from it by %.3g", worst);
        const double half_w[2] = {0.5, 0.5};
        lmf_fuse_opts_init(&o);
        o.weights = half_w;
        lmf_model *m2[2] = {NULL, NULL}, *f2 = NULL;
        lmf_ngram *a2 = NULL, *b2 = NULL;
        to.order = 3;
        CHECK(lmf_ngram_train_mem(buf, half, "half1", &to, &a2, NULL) == LMF_OK);
        to.order = 2;
        CHECK(lmf_ngram_train_mem(buf + half, n - half, "half2", &to, &b2, NULL) == LMF_OK);
        m2[0] = lmf_ngram_model(a2), m2[1] = lmf_ngram_model(b2);
        CHECK(lmf_fuse_new(m2, 2, &o, &f2) == LMF_OK); /* unifies by itself */
        if (f2) check_consistent(f2, "a linear fusion over the union");
        /* IRSTLM's dictionary upper bound: the views no longer sum to 1 */
        lmf_model *m3[2] = {NULL, NULL};
        to.order = 3;
        lmf_ngram *a3 = NULL, *b3 = NULL;
        CHECK(lmf_ngram_train_mem(buf, half, "half1", &to, &a3, NULL) == LMF_OK);
        to.order = 2;
        CHECK(lmf_ngram_train_mem(buf + half, n - half, "half2", &to, &b3, NULL) == LMF_OK);
        m3[0] = lmf_ngram_model(a3), m3[1] = lmf_ngram_model(b3);
        CHECK(lmf_fuse_unify(m3, 2, 1e7, 0, NULL) == LMF_OK);
        int V = lmf_vocab_size(lmf_model_vocab(m3[0]));
        float *d = malloc((size_t)V * sizeof *d);
        lmf_state *st = lmf_state_new(m3[0]);
        CHECK(lmf_model_next(m3[0], st, d) == LMF_OK);
        double sum = 0;
        for (int v = 0; v < V; v++) sum += exp((double)d[v]);
        CHECK_MSG(sum < 1 - 1e-4, "dub 1e7: member 1 sums to %.6f over the union", sum);
        lmf_state_free(m3[0], st);
        free(d);
        lmf_model_free(m3[0]);
        lmf_model_free(m3[1]);
        lmf_model_free(f2);
    }
    lmf_model_free(f);
    free(lo), free(lu), free(lw);
    lmf_tokens_free(&own);
    lmf_tokens_free(&un);
}

/* EM: the perplexity never rises, and the result is a stationary point of
 * the likelihood: mean_t p_k(t) / p_mix(t) = 1 for every member with weight
 * > 0 (<= 1 for weight 0). */
static void test_em(void) {
    lmf_model *m[3] = {ngram(1), ngram(2), ngram(3)};
    lmf_tokens t;
    read_valid(m[0], &t);
    float *lp[3];
    for (int k = 0; k < 3; k++) {
        lp[k] = malloc(t.n * sizeof(float));
        CHECK(lmf_model_score(m[k], NULL, t.ids, t.n, lp[k]) == LMF_OK);
    }
    double w[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3}, trace[2001];
    int it = 0;
    CHECK(lmf_tune_linear_em((const float *const *)lp, 3, t.n, 1e-10, 2000, w, trace, &it) == LMF_OK);
    CHECK(it > 2);
    for (int i = 0; i < it; i++) CHECK_MSG(trace[i + 1] <= trace[i] * (1 + 1e-12), "EM step %d raised ppl", i + 1);
    CHECK_CLOSE(w[0] + w[1] + w[2], 1.0, 1e-12, 0);
    for (int k = 0; k < 3; k++) {
        double r = 0;
        for (size_t i = 0; i < t.n; i++) {
            double mix = w[0] * exp(lp[0][i]) + w[1] * exp(lp[1][i]) + w[2] * exp(lp[2][i]);
            r += exp(lp[k][i]) / mix;
        }
        r /= (double)t.n;
        CHECK_MSG(w[k] > 1e-6 ? fabs(r - 1) < 1e-3 : r <= 1 + 1e-3, "member %d: weight %g, mean ratio %.6f", k, w[k], r);
    }
    /* the tuned mixture beats every member on its tuning data */
    for (int k = 0; k < 3; k++) {
        double ll = 0;
        for (size_t i = 0; i < t.n; i++) ll += lp[k][i];
        CHECK(trace[it] < exp(-ll / (double)t.n));
    }
    /* bayes with share 0 and one member weighted 1 is that member */
    double one[3] = {0, 0, 1}, ll = 0;
    for (size_t i = 0; i < t.n; i++) ll += lp[2][i];
    CHECK_CLOSE(lmf_bayes_ppl((const float *const *)lp, 3, t.n, one, 0), exp(-ll / (double)t.n), 0, 1e-9);
    for (int k = 0; k < 3; k++) {
        free(lp[k]);
        lmf_model_free(m[k]);
    }
    lmf_tokens_free(&t);
}

/* Sampling draws from the model's distribution (without <unk>): the
 * first token's frequencies over 4000 seeds match next() within 4 sigma;
 * top-k 1 is the argmax; top-p stays in the nucleus; same seed, same text. */
static void test_generate(void) {
    lmf_model *m = ngram(2);
    int V = lmf_vocab_size(lmf_model_vocab(m));
    float *d = malloc((size_t)V * sizeof *d);
    lmf_state *s = lmf_state_new(m);
    CHECK(lmf_model_next(m, s, d) == LMF_OK);
    double z = 1 - exp(d[LMF_UNK]);
    int *cnt = calloc((size_t)V, sizeof *cnt), best = 1;
    for (int v = 1; v < V; v++)
        if (d[v] > d[best]) best = v;
    lmf_gen_opts o;
    lmf_gen_opts_init(&o);
    o.max_tokens = 1;
    const int S = 4000;
    for (int i = 0; i < S; i++) {
        int32_t out[2];
        size_t n;
        o.seed = (uint64_t)i + 1;
        CHECK(lmf_generate(m, NULL, 0, &o, out, &n, NULL) == LMF_OK && n == 1);
        cnt[out[0]]++;
    }
    CHECK(cnt[LMF_UNK] == 0);
    /* tokens with >= 1% probability one by one, the rest as one bin */
    double rest_p = 0;
    int rest_n = 0;
    for (int v = 1; v < V; v++) {
        double p = exp(d[v]) / z, sd = sqrt(S * p * (1 - p));
        if (p < 0.01) {
            rest_p += p, rest_n += cnt[v];
            continue;
        }
        CHECK_MSG(fabs(cnt[v] - S * p) <= 4 * sd, "token %d: %d samples, expected %.1f", v, cnt[v], S * p);
    }
    CHECK_MSG(fabs(rest_n - S * rest_p) <= 4 * sqrt(S * rest_p * (1 - rest_p)), "rare tokens: %d samples, expected %.1f",
              rest_n, S * rest_p);
    o.top_k = 1;
    for (int i = 0; i < 5; i++) {
        int32_t out[2];
        size_t n;
        o.seed = (uint64_t)i + 100;
        CHECK(lmf_generate(m, NULL, 0, &o, out, &n, NULL) == LMF_OK && n == 1 && out[0] == best);
    }
    /* top-p 0.5: only tokens of the smallest set (by probability) holding half the mass */
    o.top_k = 0;
    o.top_p = 0.5;
    double cut = 0, cum = 0;
    float *sorted = malloc((size_t)V * sizeof *sorted);
    int ns = 0;
    for (int v = 1; v < V; v++) sorted[ns++] = d[v];
    for (int i = 0; i < ns && cum < 0.5; i++) { /* selection of the largest, one at a time */
        int b = i;
        for (int j = i + 1; j < ns; j++)
            if (sorted[j] > sorted[b]) b = j;
        float t = sorted[i];
        sorted[i] = sorted[b];
        sorted[b] = t;
        cum += exp(sorted[i]) / z;
        cut = sorted[i];
    }
    for (int i = 0; i < 200; i++) {
        int32_t out[2];
        size_t n;
        o.seed = (uint64_t)i + 7;
        CHECK(lmf_generate(m, NULL, 0, &o, out, &n, NULL) == LMF_OK && n == 1 && d[out[0]] >= cut);
    }
    /* reproducible, and beam search returns its score */
    int32_t a[20], b[20];
    size_t na = 0, nb = 1;
    double la = 0, lb = 1;
    lmf_gen_opts_init(&o);
    o.max_tokens = 20;
    o.seed = 5;
    CHECK(lmf_generate(m, NULL, 0, &o, a, &na, &la) == LMF_OK && lmf_generate(m, NULL, 0, &o, b, &nb, &lb) == LMF_OK);
    CHECK(na == nb && !memcmp(a, b, na * sizeof *a) && la == lb);
    o.beam = 4;
    CHECK(lmf_generate(m, NULL, 0, &o, a, &na, &la) == LMF_OK && na > 0);
    float *lp = malloc(na * sizeof *lp);
    CHECK(lmf_model_score(m, NULL, a, na, lp) == LMF_OK);
    double sum = 0;
    for (size_t i = 0; i < na; i++) sum += lp[i];
    CHECK_CLOSE(la, sum, 1e-3, 1e-5);
    o.temperature = 0;
    CHECK(lmf_generate(m, NULL, 0, &o, a, &na, &la) == LMF_ERR_ARG);
    free(lp), free(sorted), free(cnt), free(d);
    lmf_state_free(m, s);
    lmf_model_free(m);
}

/* Mean NLL of a log-linear fusion of a 2-gram and a 3-gram with weights w,
 * as the fused model itself computes it (normalised over all V words). */
static double ll_fused_nll(const double *w, const lmf_tokens *t) {
    lmf_model *m[2] = {ngram(2), ngram(3)}, *f = NULL;
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    o.comb = LMF_COMB_LOGLINEAR;
    o.weights = w;
    CHECK(lmf_fuse_new(m, 2, &o, &f) == LMF_OK);
    lmf_ppl r;
    CHECK(lmf_eval_ppl(f, t, NULL, &r) == LMF_OK);
    lmf_model_free(f);
    return log(r.ppl);
}

/* Log-linear tuning: the tuner's objective (context tree, and stored full
 * distributions) equals the fused model's perplexity; its gradient equals
 * finite differences of that perplexity; the tuned weights are a
 * constrained optimum (zero slope where > 0, no descent from 0). */
static void test_loglinear_tune(void) {
    lmf_model *m[2] = {ngram(2), ngram(3)};
    lmf_tokens t;
    read_valid(m[0], &t);
    t.n = 2000; /* a prefix of whole lines is enough */
    while (t.ids[t.n - 1] != LMF_EOS) t.n++;
    const double pts[][2] = {{0.5, 0.5}, {0.3, 1.2}, {1, 0}, {0, 1}, {1.4, 0.2}};
    for (size_t i = 0; i < sizeof pts / sizeof *pts; i++) {
        double ref = ll_fused_nll(pts[i], &t), g[2], gs[2], H[4];
        double tree = lmf_tune_loglinear_objective(m, 2, &t, 0, pts[i], g, H);
        double samp = lmf_tune_loglinear_objective(m, 2, &t, 1, pts[i], gs, NULL);
        CHECK_MSG(fabs(tree - ref) < 2e-6, "weights (%g, %g): tree objective %.9f, fused model %.9f", pts[i][0],
                  pts[i][1], tree, ref);
        CHECK_MSG(fabs(samp - ref) < 2e-6, "weights (%g, %g): sampled objective %.9f, fused model %.9f", pts[i][0],
                  pts[i][1], samp, ref);
        for (int k = 0; k < 2; k++) {
            const double h = 1e-4;
            double a[2] = {pts[i][0], pts[i][1]}, b[2] = {pts[i][0], pts[i][1]};
            a[k] += h;
            b[k] -= h;
            if (b[k] < 0) b[k] = 0, a[k] = 2 * h; /* one-sided at 0 */
            double fd = (ll_fused_nll(a, &t) - ll_fused_nll(b, &t)) / (a[k] - b[k]);
            CHECK_MSG(fabs(g[k] - fd) < 1e-4 * (1 + fabs(fd)) || (b[k] == 0 && fabs(g[k] - fd) < 2e-2),
                      "weights (%g, %g): d/dw%d tree %.7f, finite differences %.7f", pts[i][0], pts[i][1], k + 1, g[k],
                      fd);
            CHECK_MSG(fabs(gs[k] - g[k]) < 1e-6, "weights (%g, %g): gradients tree %.8f sampled %.8f", pts[i][0],
                      pts[i][1], g[k], gs[k]);
            /* Hessian column k: finite differences of the tree's gradient */
            double ga[2], gb[2], xa[2] = {pts[i][0], pts[i][1]}, xb[2] = {pts[i][0], pts[i][1]};
            xa[k] += h;
            xb[k] = xb[k] > h ? xb[k] - h : xb[k];
            lmf_tune_loglinear_objective(m, 2, &t, 0, xa, ga, NULL);
            lmf_tune_loglinear_objective(m, 2, &t, 0, xb, gb, NULL);
            for (int j = 0; j < 2; j++) {
                double hd = (ga[j] - gb[j]) / (xa[k] - xb[k]);
                CHECK_MSG(fabs(H[j * 2 + k] - hd) < 1e-3 * (1 + fabs(hd)), "weights (%g, %g): H[%d][%d] %.6f, FD %.6f",
                          pts[i][0], pts[i][1], j, k, H[j * 2 + k], hd);
            }
        }
    }
    for (int sampled = 0; sampled < 2; sampled++) {
        lmf_tune_ll_opts o = {0};
        o.sampled = sampled;
        double w[2] = {0.5, 0.5};
        lmf_tune_info info;
        CHECK(lmf_tune_loglinear(m, 2, &t, &o, w, &info) == LMF_OK);
        CHECK(info.exact == !sampled && info.positions == t.n && info.ppl <= info.ppl_start);
        double best = ll_fused_nll(w, &t);
        CHECK_MSG(fabs(log(info.ppl) - best) < 2e-6, "tuned: reported ppl %.6f, fused model %.6f", info.ppl, exp(best));
        for (int k = 0; k < 2; k++)
            for (int sg = -1; sg <= 1; sg += 2) { /* no better point nearby */
                double x[2] = {w[0], w[1]};
                x[k] += sg * 0.02;
                if (x[k] < 0) continue;
                CHECK_MSG(ll_fused_nll(x, &t) >= best - 1e-9, "%s tuning: (%g, %g) beats the tuned (%g, %g)",
                          sampled ? "sampled" : "exact", x[0], x[1], w[0], w[1]);
            }
    }
    /* a budget of 100 positions samples evenly */
    lmf_tune_ll_opts o = {0};
    o.sampled = 1;
    o.max_bytes = 100 * 2 * (size_t)lmf_vocab_size(lmf_model_vocab(m[0])) * sizeof(float);
    double w[2] = {0.5, 0.5};
    lmf_tune_info info;
    CHECK(lmf_tune_loglinear(m, 2, &t, &o, w, &info) == LMF_OK);
    CHECK_MSG(info.positions <= 100 && info.positions >= 90, "100-position budget used %zu", info.positions);
    lmf_tokens_free(&t);
    lmf_model_free(m[0]);
    lmf_model_free(m[1]);
}

static int desc_cmp(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* vote and cascade against their formulas, computed here from the members'
 * own distributions along the text. */
static void test_vote_cascade_formula(void) {
    lmf_model *m2 = ngram(2), *m3 = ngram(3);
    const double w[2] = {0.3, 0.7};
    lmf_model *vm[2] = {ngram(2), ngram(3)}, *vote = NULL;
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    o.comb = LMF_COMB_VOTE;
    o.weights = w;
    o.top_k = 4;
    o.vote_mass = 0.3;
    CHECK(lmf_fuse_new(vm, 2, &o, &vote) == LMF_OK);
    lmf_model *casc = trio_k(LMF_COMB_CASCADE, NULL, 0, NULL, 7, 0);
    lmf_model *mem[2] = {m2, m3};
    lmf_tokens t;
    read_valid(m2, &t);
    int V = lmf_vocab_size(lmf_model_vocab(m2));
    float *d[2], *fv = malloc((size_t)V * sizeof *fv), *fc = malloc((size_t)V * sizeof *fc);
    float *sorted = malloc((size_t)V * sizeof *sorted);
    lmf_state *sm[2], *sv = lmf_state_new(vote), *sc = lmf_state_new(casc);
    for (int k = 0; k < 2; k++) d[k] = malloc((size_t)V * sizeof *d[k]), sm[k] = lmf_state_new(mem[k]);
    double worst_v = 0, worst_c = 0;
    for (int i = 0; i < 60; i++) {
        for (int k = 0; k < 2; k++) CHECK(lmf_model_next(mem[k], sm[k], d[k]) == LMF_OK);
        CHECK(lmf_model_next(vote, sv, fv) == LMF_OK);
        CHECK(lmf_model_next(casc, sc, fc) == LMF_OK);
        /* the n best words of a member: those at or above its n-th value
         * (the test checks there is no tie at the n-th place) */
        double thr[2];
        for (int k = 0; k < 2; k++) {
            memcpy(sorted, d[k], (size_t)V * sizeof *sorted);
            qsort(sorted, (size_t)V, sizeof *sorted, desc_cmp);
            thr[k] = sorted[k == 0 ? 6 : 3];
            CHECK_MSG(sorted[k == 0 ? 7 : 4] < thr[k], "tie at the n-th place, position %d member %d", i, k);
        }
        /* vote: each member votes w_k for its 4 best; votes sum to 4 */
        double thr4 = 0;
        memcpy(sorted, d[0], (size_t)V * sizeof *sorted);
        qsort(sorted, (size_t)V, sizeof *sorted, desc_cmp);
        thr4 = sorted[3];
        CHECK(sorted[4] < sorted[3]);
        for (int v = 0; v < V; v++) {
            double votes = (d[0][v] >= thr4 ? w[0] : 0) + (d[1][v] >= thr[1] ? w[1] : 0);
            double e = log(0.3 * votes / 4 + 0.7 * (w[0] * exp(d[0][v]) + w[1] * exp(d[1][v])));
            if (fabs(e - fv[v]) > worst_v) worst_v = fabs(e - fv[v]);
        }
        /* cascade: the 2-gram's 7 best words get the 3-gram's shape */
        double p1 = 0, p2 = 0;
        for (int v = 0; v < V; v++)
            if (d[0][v] >= thr[0]) p1 += exp(d[0][v]), p2 += exp(d[1][v]);
        for (int v = 0; v < V; v++) {
            double e = d[0][v] >= thr[0] ? d[1][v] + log(p1 / p2) : d[0][v];
            if (fabs(e - fc[v]) > worst_c) worst_c = fabs(e - fc[v]);
        }
        int32_t y = t.ids[i];
        for (int k = 0; k < 2; k++) CHECK(lmf_model_feed(mem[k], sm[k], y) == LMF_OK);
        CHECK(lmf_model_feed(vote, sv, y) == LMF_OK);
        CHECK(lmf_model_feed(casc, sc, y) == LMF_OK);
    }
    CHECK_MSG(worst_v < 1e-5, "vote differs from its formula by %.3g", worst_v);
    CHECK_MSG(worst_c < 1e-5, "cascade differs from its formula by %.3g", worst_c);
    for (int k = 0; k < 2; k++) free(d[k]), lmf_state_free(mem[k], sm[k]);
    lmf_state_free(vote, sv);
    lmf_state_free(casc, sc);
    free(fv), free(fc), free(sorted);
    lmf_tokens_free(&t);
    lmf_model_free(vote);
    lmf_model_free(casc);
    lmf_model_free(m3);
    lmf_model_free(m2);
}

/* Gate from fitted parameters (2-gram, 3-gram), A optionally overridden. */
static lmf_model *gate_of(const lmf_gate_fit *fit, const double *A, const double *b) {
    lmf_model *m[2] = {ngram(2), ngram(3)}, *f = NULL;
    lmf_gate_params gp;
    lmf_gate_fit_params(fit, &gp);
    if (A) gp.A = A;
    if (b) gp.b = b;
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    o.comb = LMF_COMB_GATE;
    o.gate = &gp;
    CHECK(lmf_fuse_new(m, 2, &o, &f) == LMF_OK);
    return f;
}

static double nll_of(lmf_model *f, const lmf_tokens *t) {
    lmf_ppl r;
    CHECK(f && lmf_eval_ppl(f, t, NULL, &r) == LMF_OK);
    lmf_model_free(f);
    return log(r.ppl);
}

/* Gate: the trainer's dev perplexity is the recipe model's; A = 0, b = ln w
 * is the linear mixture; the fit is a minimum of dev NLL + l2/2 |A|^2 (no
 * coordinate step improves it); it is at least as good as linear on dev;
 * and its distributions are proper. */
static void test_gate(void) {
    lmf_model *m[2] = {ngram(2), ngram(3)};
    lmf_tokens t;
    read_valid(m[0], &t);
    t.n = 2500; /* a prefix of whole lines */
    while (t.ids[t.n - 1] != LMF_EOS) t.n++;
    lmf_gate_tune_opts go = {0};
    go.folds = 3;
    go.l2 = 1e-3;
    lmf_gate_fit fit;
    CHECK(lmf_tune_gate(m, 2, &t, &go, &fit) == LMF_OK);
    CHECK(fit.K == 2 && fit.F == 10 && fit.folds == 3 && fit.cv_ppl > 0 && fit.cv_ppl_linear > 0);
    CHECK_MSG(fit.ppl <= fit.ppl_linear, "gate dev ppl %.4f above linear %.4f", fit.ppl, fit.ppl_linear);
    double best = nll_of(gate_of(&fit, NULL, NULL), &t);
    CHECK_MSG(fabs(best - log(fit.ppl)) < 1e-6, "gate recipe ppl %.6f, trainer %.6f", exp(best), fit.ppl);
    /* A = 0, b = ln w: the linear mixture */
    double A0[20] = {0}, b0[2] = {log(fit.w_linear[0]), log(fit.w_linear[1])};
    lmf_model *lm[2] = {ngram(2), ngram(3)}, *lin = NULL;
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    o.weights = fit.w_linear;
    CHECK(lmf_fuse_new(lm, 2, &o, &lin) == LMF_OK);
    double ln = nll_of(lin, &t), g0 = nll_of(gate_of(&fit, A0, b0), &t);
    CHECK_MSG(fabs(ln - g0) < 1e-6, "gate with A = 0: %.6f, linear %.6f", exp(g0), exp(ln));
    CHECK_MSG(fabs(exp(ln) - fit.ppl_linear) < 1e-4 * fit.ppl_linear, "linear ppl %.5f, trainer's %.5f", exp(ln),
              fit.ppl_linear);
    /* stationarity, coordinate by coordinate */
    double pen = 0;
    for (int i = 0; i < 20; i++) pen += 0.5 * go.l2 * fit.A[i] * fit.A[i];
    const int coords[] = {0, 3, 4, 6, 9, 14, 19, 20, 21}; /* A entries (4, 9, 14, 19: match order), then b */
    for (size_t c = 0; c < sizeof coords / sizeof *coords; c++)
        for (int sg = -1; sg <= 1; sg += 2) {
            double A[20], b[2], h = 0.02;
            memcpy(A, fit.A, sizeof A);
            memcpy(b, fit.b, sizeof b);
            int i = coords[c];
            double p2 = pen;
            if (i < 20) {
                p2 -= 0.5 * go.l2 * A[i] * A[i];
                A[i] += sg * h;
                p2 += 0.5 * go.l2 * A[i] * A[i];
            } else {
                b[i - 20] += sg * h;
            }
            double v = nll_of(gate_of(&fit, A, b), &t) + p2;
            CHECK_MSG(v >= best + pen - 1e-7, "coordinate %d %+g improves the gate objective: %.8f < %.8f", i, sg * h, v,
                      best + pen);
        }
    lmf_model *g = gate_of(&fit, NULL, NULL);
    check_consistent(g, "gate");
    lmf_model_free(g);
    lmf_gate_fit_free(&fit);
    lmf_tokens_free(&t);
}

/* lmf_fuse_eval_shared: every fusion's per-token log-probs are those of the
 * same fusion built alone and scored from a fresh state, every member's its
 * own; and gate tuning reports the members' dev perplexities. */
static void test_shared(void) {
    lmf_model *m[3] = {ngram(2), ngram(3), NULL};
    CHECK(lmf_cache_new(lmf_model_vocab(m[0]), 50, 0.5, &m[2]) == LMF_OK);
    lmf_tokens t;
    read_valid(m[0], &t);
    t.n = 1500;
    double w[3] = {0.5, 0.3, 0.2}, A[45], b[3] = {0.1, -0.2, 0.3}, mean[15], sd[15], loss0[3] = {5, 5, 6};
    for (int i = 0; i < 45; i++) A[i] = 0.3 * sin(i + 1.0);
    for (int i = 0; i < 15; i++) mean[i] = 0.5 * i - 2, sd[i] = 1 + 0.1 * i;
    lmf_gate_params gp = {0.9, mean, sd, loss0, A, b};
    const lmf_combiner combs[] = {LMF_COMB_LINEAR, LMF_COMB_LOGLINEAR, LMF_COMB_MAX, LMF_COMB_BAYES, LMF_COMB_VOTE,
                                  LMF_COMB_GATE};
    enum { F = sizeof combs / sizeof *combs };
    lmf_fuse_opts o[F];
    float *flp[F], *mlp[3];
    for (int i = 0; i < F; i++) {
        lmf_fuse_opts_init(&o[i]);
        o[i].comb = combs[i];
        o[i].weights = w;
        o[i].gate = &gp;
        flp[i] = (float *)malloc(t.n * sizeof(float));
    }
    for (int k = 0; k < 3; k++) mlp[k] = (float *)malloc(t.n * sizeof(float));
    int calls = 0;
    CHECK(lmf_fuse_eval_shared(m, 3, o, F, &t, flp, mlp, NULL, NULL) == LMF_OK);
    /* members computed in parallel threads: the same numbers, bit for bit */
    float *par[F];
    for (int i = 0; i < F; i++) par[i] = (float *)malloc(t.n * sizeof(float));
    lmf_set_threads(3);
    CHECK(lmf_fuse_eval_shared(m, 3, o, F, &t, par, NULL, NULL, NULL) == LMF_OK);
    lmf_set_threads(1);
    for (int i = 0; i < F; i++) {
        CHECK_MSG(!memcmp(par[i], flp[i], t.n * sizeof(float)), "%s: 3 threads differ from 1",
                  lmf_combiner_name(combs[i]));
        free(par[i]);
    }
    float *ref = (float *)malloc(t.n * sizeof(float));
    lmf_ppl r;
    for (int k = 0; k < 3; k++) { /* the members are still the caller's */
        CHECK(lmf_eval_ppl(m[k], &t, ref, &r) == LMF_OK);
        double worst = 0;
        for (size_t i = 0; i < t.n; i++) worst = fmax(worst, fabs((double)ref[i] - mlp[k][i]));
        CHECK_MSG(worst < 1e-5, "member %d: shared pass differs from its own scores by %g", k, worst);
    }
    for (int i = 0; i < F; i++) {
        lmf_model *mm[3] = {ngram(2), ngram(3), NULL}, *f = NULL;
        CHECK(lmf_cache_new(lmf_model_vocab(mm[0]), 50, 0.5, &mm[2]) == LMF_OK);
        CHECK(lmf_fuse_new(mm, 3, &o[i], &f) == LMF_OK);
        CHECK(lmf_eval_ppl(f, &t, ref, &r) == LMF_OK);
        double worst = 0;
        for (size_t j = 0; j < t.n; j++) worst = fmax(worst, fabs((double)ref[j] - flp[i][j]));
        CHECK_MSG(worst < 1e-5, "%s: shared pass differs from the fused model by %g", lmf_combiner_name(combs[i]),
                  worst);
        lmf_model_free(f);
        calls++;
    }
    CHECK(calls == F);
    /* a bad fusion among them is an error, and the members survive it */
    o[1].share = 2;
    o[1].comb = LMF_COMB_BAYES;
    CHECK(lmf_fuse_eval_shared(m, 3, o, F, &t, flp, NULL, NULL, NULL) == LMF_ERR_ARG);
    CHECK(lmf_eval_ppl(m[1], &t, NULL, &r) == LMF_OK);
    /* gate tuning's member perplexities */
    lmf_model *g2[2] = {ngram(2), ngram(3)};
    lmf_gate_tune_opts go = {0};
    lmf_gate_fit fit;
    CHECK(lmf_tune_gate(g2, 2, &t, &go, &fit) == LMF_OK);
    for (int k = 0; k < 2; k++) {
        CHECK(lmf_eval_ppl(m[k], &t, NULL, &r) == LMF_OK);
        CHECK_MSG(fabs(r.ppl - fit.ppl_member[k]) < 1e-6 * r.ppl, "member %d dev ppl %.6f, gate tuner %.6f", k, r.ppl,
                  fit.ppl_member[k]);
    }
    lmf_gate_fit_free(&fit);
    for (int i = 0; i < F; i++) free(flp[i]);
    for (int k = 0; k < 3; k++) free(mlp[k]);
    free(ref);
    lmf_model_free(m[2]); /* the cache borrows member 1's vocabulary */
    lmf_model_free(m[0]);
    lmf_model_free(m[1]);
    lmf_tokens_free(&t);
}

/* lmf_fuse_explain: the fused and member log-probs are the models' own;
 * responsibilities sum to 1 and are, for linear fusion, w_k p_k / sum; the
 * diversity numbers equal a direct computation from next() in double
 * precision; a member fused with a copy of itself has correlation 1,
 * disagreement 0 and divergence 0. */
static void test_explain(void) {
    double w[3] = {0.5, 0.3, 0.2};
    lmf_model *f = trio(LMF_COMB_LINEAR, w, 0, NULL);
    lmf_model *const *mem;
    CHECK(lmf_fuse_members(f, &mem) == 3);
    lmf_tokens t;
    read_valid(f, &t);
    t.n = 120;
    const size_t n = t.n;
    float flp[120], mlp[3 * 120], resp[3 * 120], ref[120];
    lmf_explain ex;
    CHECK(lmf_fuse_explain(f, &t, flp, mlp, resp, &ex, NULL, NULL) == LMF_OK);
    lmf_ppl r;
    lmf_model *f2 = trio(LMF_COMB_LINEAR, w, 0, NULL);
    CHECK(lmf_eval_ppl(f2, &t, ref, &r) == LMF_OK);
    CHECK_MSG(fabs(r.ppl - ex.ppl) < 1e-4 * r.ppl, "explain ppl %.6f, lmf_eval_ppl %.6f", ex.ppl, r.ppl);
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)flp[i] - ref[i]));
    CHECK_MSG(worst < 1e-5, "explain's fused log-probs differ by %g", worst);
    /* members and responsibilities, recomputed with next() + feed() */
    const int V = lmf_vocab_size(lmf_model_vocab(f));
    float *d = (float *)malloc(3 * (size_t)V * sizeof *d);
    lmf_state *st[3];
    for (int k = 0; k < 3; k++) st[k] = lmf_state_new(mem[k]);
    double corr_s[3][3] = {{0}}, ls[3] = {0}, dis[3][3] = {{0}}, js[3][3] = {{0}};
    worst = 0;
    double rworst = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t y = t.ids[i], best[3];
        double lp[3], sum = 0, rs = 0;
        for (int k = 0; k < 3; k++) {
            CHECK(lmf_model_next(mem[k], st[k], d + (size_t)k * V) == LMF_OK);
            lp[k] = d[(size_t)k * V + y];
            worst = fmax(worst, fabs(lp[k] - mlp[(size_t)k * n + i]));
            sum += w[k] * exp(lp[k]);
            best[k] = 0;
            for (int v = 1; v < V; v++)
                if (d[(size_t)k * V + v] > d[(size_t)k * V + best[k]]) best[k] = v;
            ls[k] -= lp[k];
        }
        for (int k = 0; k < 3; k++) {
            rworst = fmax(rworst, fabs(w[k] * exp(lp[k]) / sum - resp[(size_t)k * n + i]));
            rs += resp[(size_t)k * n + i];
            for (int j = 0; j < 3; j++) {
                corr_s[k][j] += lp[k] * lp[j];
                dis[k][j] += best[k] != best[j];
                double jsd = 0;
                for (int v = 0; v < V; v++) {
                    double p = exp((double)d[(size_t)k * V + v]), q = exp((double)d[(size_t)j * V + v]), m = 0.5 * (p + q);
                    if (p > 0) jsd += 0.5 * p * log(p / m);
                    if (q > 0) jsd += 0.5 * q * log(q / m);
                }
                js[k][j] += jsd;
            }
        }
        CHECK_MSG(fabs(rs - 1) < 1e-5, "responsibilities at %zu sum to %.7f", i, rs);
        for (int k = 0; k < 3; k++) CHECK(lmf_model_feed(mem[k], st[k], y) == LMF_OK);
    }
    CHECK_MSG(worst < 1e-5, "explain's member log-probs differ from next() by %g", worst);
    CHECK_MSG(rworst < 1e-5, "linear responsibilities differ from w p / sum by %g", rworst);
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 3; j++) {
            double mk = ls[k] / n, mj = ls[j] / n;
            double cov = corr_s[k][j] / n - mk * mj;
            double c = cov / sqrt((corr_s[k][k] / n - mk * mk) * (corr_s[j][j] / n - mj * mj));
            CHECK_MSG(fabs(c - ex.loss_corr[k * 3 + j]) < 1e-6, "loss correlation %d,%d: %.7f vs %.7f", k, j,
                      ex.loss_corr[k * 3 + j], c);
            CHECK(fabs(dis[k][j] / n - ex.top1_disagree[k * 3 + j]) < 1e-12);
            CHECK_MSG(fabs(js[k][j] / n - ex.js[k * 3 + j]) < 1e-5, "JS %d,%d: %.7f vs %.7f", k, j,
                      ex.js[k * 3 + j], js[k][j] / n);
            CHECK(ex.js[k * 3 + j] >= 0 && ex.js[k * 3 + j] <= log(2) + 1e-9);
        }
    for (int k = 0; k < 3; k++) {
        lmf_state_free(mem[k], st[k]);
        CHECK(fabs(ex.loss_corr[k * 4] - 1) < 1e-12 && ex.js[k * 4] == 0 && ex.top1_disagree[k * 4] == 0);
    }
    free(d);
    lmf_explain_free(&ex);
    lmf_model_free(f);
    lmf_model_free(f2);
    /* a member and a copy of it */
    lmf_model *m2[2] = {ngram(3), ngram(3)}, *g = NULL;
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    CHECK(lmf_fuse_new(m2, 2, &o, &g) == LMF_OK);
    CHECK(lmf_fuse_explain(g, &t, NULL, NULL, NULL, &ex, NULL, NULL) == LMF_OK);
    CHECK_MSG(fabs(ex.loss_corr[1] - 1) < 1e-9 && ex.top1_disagree[1] == 0 && fabs(ex.js[1]) < 1e-7 &&
                  fabs(ex.mean_resp[0] - 0.5) < 1e-9,
              "twins: corr %.9f, disagreement %g, JS %g, resp %g", ex.loss_corr[1], ex.top1_disagree[1], ex.js[1],
              ex.mean_resp[0]);
    lmf_explain_free(&ex);
    /* a single model is refused */
    lmf_model *one = ngram(2);
    CHECK(lmf_fuse_explain(one, &t, NULL, NULL, NULL, &ex, NULL, NULL) == LMF_ERR_ARG);
    lmf_model_free(one);
    lmf_model_free(g);
    lmf_tokens_free(&t);
}

/* Neural members computed in parallel threads, each on one BLAS thread
 * (lmf_set_threads(2)): the numbers of lmf_set_threads(1), bit for bit, as
 * common.h promises (each member's products run on one BLAS thread either
 * way).  One member at a time with the BLAS itself on two threads splits
 * the products, which may change their last bits: equal to rounding. */
void lmf_blas_threads(int n); /* src/core/util_impl.h */
static void test_parallel_neural(void) {
    const char *files[3] = {"rnnlm_lstm.safetensors", "rnnlm_gru.safetensors", "rnnlm_transformer.safetensors"};
    lmf_model *m[3];
    for (int k = 0; k < 3; k++) CHECK(lmf_model_load(tdata(files[k]), &m[k]) == LMF_OK);
    lmf_tokens t;
    CHECK(lmf_tokens_read_file(tdata("rnnlm.txt"), lmf_model_vocab(m[0]), NULL, &t) == LMF_OK);
    lmf_fuse_opts o[2];
    lmf_fuse_opts_init(&o[0]);
    lmf_fuse_opts_init(&o[1]);
    o[1].comb = LMF_COMB_LOGLINEAR;
    float *a[2], *b[2], *c[2], *ma[3], *mb[3], *mc[3];
    for (int i = 0; i < 2; i++)
        a[i] = (float *)malloc(t.n * sizeof(float)), b[i] = (float *)malloc(t.n * sizeof(float)),
        c[i] = (float *)malloc(t.n * sizeof(float));
    for (int k = 0; k < 3; k++)
        ma[k] = (float *)malloc(t.n * sizeof(float)), mb[k] = (float *)malloc(t.n * sizeof(float)),
        mc[k] = (float *)malloc(t.n * sizeof(float));
    lmf_set_threads(1);
    CHECK(lmf_fuse_eval_shared(m, 3, o, 2, &t, a, ma, NULL, NULL) == LMF_OK);
    lmf_set_threads(2);
    CHECK(lmf_fuse_eval_shared(m, 3, o, 2, &t, b, mb, NULL, NULL) == LMF_OK);
    lmf_set_threads(1);
    for (int i = 0; i < 2; i++) CHECK_MSG(!memcmp(a[i], b[i], t.n * sizeof(float)), "fusion %d: threads differ", i);
    for (int k = 0; k < 3; k++) CHECK_MSG(!memcmp(ma[k], mb[k], t.n * sizeof(float)), "member %d: threads differ", k);
    lmf_blas_threads(2);
    CHECK(lmf_fuse_eval_shared(m, 3, o, 2, &t, c, mc, NULL, NULL) == LMF_OK);
    lmf_blas_threads(1);
    char what[64];
    for (int i = 0; i < 2; i++) {
        snprintf(what, sizeof what, "fusion %d: two BLAS threads against one", i);
        CHECK_ALLCLOSE(what, c[i], a[i], t.n, 1e-5, 1e-5);
    }
    for (int k = 0; k < 3; k++) {
        snprintf(what, sizeof what, "member %d: two BLAS threads against one", k);
        CHECK_ALLCLOSE(what, mc[k], ma[k], t.n, 1e-5, 1e-5);
    }
    /* the tolerance tells a member's log-probs from another member's */
    CHECK(close_ratio(mc[1], ma[0], t.n, 1e-5, 1e-5, NULL, NULL) > 1);
    lmf_ppl r;
    CHECK(lmf_eval_ppl(m[2], &t, NULL, &r) == LMF_OK);
    double s = 0;
    for (size_t i = 0; i < t.n; i++) s += mb[2][i];
    CHECK_MSG(fabs(exp(-s / t.n) - r.ppl) < 1e-4 * r.ppl, "transformer via shared pass %.5f, alone %.5f",
              exp(-s / t.n), r.ppl);
    for (int i = 0; i < 2; i++) free(a[i]), free(b[i]), free(c[i]);
    for (int k = 0; k < 3; k++) free(ma[k]), free(mb[k]), free(mc[k]), lmf_model_free(m[k]);
    lmf_tokens_free(&t);
}

/* The continuous cache: score() against the formula computed here in double
 * from the model's hidden vectors, over a stream longer than the window and
 * than the cache's chunks; next() sums to 1 and agrees with score() and
 * dists(); a fused model with weight 1 on the neural member reproduces it. */
static void test_ncache(void) {
    const char *files[2] = {"rnnlm_lstm.safetensors", "rnnlm_transformer.safetensors"};
    for (int f = 0; f < 2; f++) {
        lmf_model *nn = NULL, *nn2 = NULL, *c = NULL;
        CHECK(lmf_model_load(tdata(files[f]), &nn) == LMF_OK);
        CHECK(lmf_model_load(tdata(files[f]), &nn2) == LMF_OK);
        const int W = 300;
        const double theta = 0.7, fl = 0.05;
        CHECK(lmf_ncache_new(nn2, W, theta, fl, &c) == LMF_OK);
        lmf_tokens t;
        CHECK(lmf_tokens_read_file(tdata("rnnlm.txt"), lmf_model_vocab(nn), NULL, &t) == LMF_OK);
        const size_t N = 20 * t.n; /* > W, > 2 chunks of 256 */
        const int D = lmf_model_hidden_dim(nn), V = lmf_vocab_size(lmf_model_vocab(nn));
        int32_t *ids = malloc(N * sizeof *ids);
        for (size_t i = 0; i < N; i++) ids[i] = t.ids[(i * 7 + i / t.n) % t.n]; /* not periodic */
        float *h = malloc((N + 1) * (size_t)D * sizeof *h), *lp = malloc(N * sizeof *lp), *lp2 = malloc(N * sizeof *lp2);
        float *d = malloc((size_t)V * sizeof *d), *dd = malloc((size_t)N * V * sizeof *dd);
        lmf_state *hs = lmf_state_new(nn);
        CHECK(lmf_model_hidden(nn, hs, ids, N, h) == LMF_OK);
        lmf_state_free(nn, hs);
        CHECK(lmf_model_score(c, NULL, ids, N, lp) == LMF_OK);
        double worst = 0;
        for (size_t j = 0; j < N; j++) {
            size_t lo = j > (size_t)W ? j - W : 0;
            double want;
            if (j == 0) {
                want = -log((double)V);
            } else {
                double mx = -1e300, den = 0, num = 0, sc[400];
                for (size_t i = lo; i < j; i++) {
                    double dot = 0;
                    for (int k = 0; k < D; k++) dot += (double)h[j * D + k] * h[i * D + k];
                    sc[i - lo] = theta * dot;
                    mx = fmax(mx, sc[i - lo]);
                }
                for (size_t i = lo; i < j; i++) {
                    double e = exp(sc[i - lo] - mx);
                    den += e;
                    num += ids[i] == ids[j] ? e : 0;
                }
                want = log((1 - fl) * num / den + fl / V);
            }
            worst = fmax(worst, fabs(lp[j] - want));
        }
        CHECK_MSG(worst < 2e-5, "%s: continuous cache vs the formula: worst %.3g", files[f], worst);
        /* next() + feed(): sums to 1, equals score() */
        lmf_state *s = lmf_state_new(c);
        double wsum = 0, wn = 0;
        for (size_t j = 0; j < N; j++) {
            CHECK(lmf_model_next(c, s, d) == LMF_OK);
            double sum = 0;
            for (int v = 0; v < V; v++) sum += exp((double)d[v]);
            wsum = fmax(wsum, fabs(sum - 1));
            wn = fmax(wn, fabs(d[ids[j]] - lp[j]));
            CHECK(lmf_model_feed(c, s, ids[j]) == LMF_OK);
        }
        CHECK_MSG(wsum < 1e-5 && wn < 2e-5, "%s: next() sums to 1 +- %.3g, differs from score() by %.3g", files[f], wsum,
                  wn);
        /* dists() in two calls; score() in uneven pieces from a copied state */
        lmf_state_reset(c, s);
        CHECK(lmf_model_dists(c, s, ids, 100, dd) == LMF_OK);
        CHECK(lmf_model_dists(c, s, ids + 100, N - 100, dd + (size_t)100 * V) == LMF_OK);
        double wd = 0;
        for (size_t j = 0; j < N; j++) wd = fmax(wd, fabs(dd[j * V + ids[j]] - lp[j]));
        CHECK_MSG(wd < 2e-5, "%s: dists() differs from score() by %.3g", files[f], wd);
        lmf_state *s2 = lmf_state_new(c);
        lmf_state_reset(c, s);
        CHECK(lmf_model_score(c, s, ids, 77, lp2) == LMF_OK);
        CHECK(lmf_state_copy(c, s2, s) == LMF_OK);
        CHECK(lmf_model_score(c, s2, ids + 77, N - 77, lp2 + 77) == LMF_OK);
        char what[160]; /* other call shapes: equal to rounding */
        snprintf(what, sizeof what, "%s: score() in pieces from a copied state", files[f]);
        CHECK_ALLCLOSE(what, lp2, lp, N, 1e-6, 1e-6);
        lmf_state_free(c, s);
        lmf_state_free(c, s2);
        /* linear fusion, weight 1 on the model: the model exactly */
        lmf_model *m2[2] = {nn, c}, *fu = NULL;
        double w[2] = {1, 0};
        lmf_fuse_opts o;
        lmf_fuse_opts_init(&o);
        o.weights = w;
        CHECK(lmf_fuse_new(m2, 2, &o, &fu) == LMF_OK);
        CHECK(lmf_model_score(fu, NULL, ids, N, lp2) == LMF_OK);
        lmf_model *nn3 = NULL;
        CHECK(lmf_model_load(tdata(files[f]), &nn3) == LMF_OK);
        CHECK(lmf_model_score(nn3, NULL, ids, N, lp) == LMF_OK);
        snprintf(what, sizeof what, "%s: weight 1 on the model against the model", files[f]);
        CHECK_ALLCLOSE(what, lp2, lp, N, 1e-6, 1e-6);
        lmf_model_free(fu);
        lmf_model_free(nn3);
        free(ids), free(h), free(lp), free(lp2), free(d), free(dd);
        lmf_tokens_free(&t);
    }
    /* errors: a model without hidden states; bad settings */
    lmf_model *c = NULL;
    CHECK(lmf_ncache_new(ngram(2), 100, 1, 0.01, &c) == LMF_ERR_ARG && !c);
    CHECK(strstr(lmf_last_error(), "needs a neural model") != NULL);
    lmf_model *nn = NULL;
    CHECK(lmf_model_load(tdata("rnnlm_gru.safetensors"), &nn) == LMF_OK);
    CHECK(lmf_ncache_new(nn, 0, 1, 0.01, &c) == LMF_ERR_ARG && !c); /* frees nn */
}

/* Grid search: the chosen point is the best of the grid, no worse than the
 * model alone, and scoring the written cache file reproduces its mixture. */
static void test_ncache_tune(void) {
    lmf_model *nn = NULL;
    CHECK(lmf_model_load(tdata("rnnlm_gru.safetensors"), &nn) == LMF_OK);
    lmf_tokens t;
    CHECK(lmf_tokens_read_file(tdata("rnnlm.txt"), lmf_model_vocab(nn), NULL, &t) == LMF_OK);
    size_t N = 12 * t.n;
    lmf_tokens dev = t;
    dev.ids = malloc(N * sizeof *dev.ids);
    dev.oov = calloc(N, 1);
    dev.n = N;
    dev.n_oov = dev.n_unk = dev.lines = 0;
    for (size_t i = 0; i < N; i++) dev.lines += (dev.ids[i] = t.ids[(i * 5 + i / t.n) % t.n]) == LMF_EOS;
    lmf_ncache_tune_opts o;
    lmf_ncache_tune_opts_init(&o);
    const int win[2] = {40, 200};
    o.window = win;
    o.n_window = 2;
    lmf_ncache_fit fit;
    CHECK(lmf_tune_ncache(nn, &dev, &o, &fit) == LMF_OK);
    CHECK(fit.n == 26 && fit.positions == N);
    double best = INFINITY;
    for (int g = 0; g < fit.n; g++) best = fmin(best, fit.grid_ppl[g]);
    CHECK(best == fit.ppl && fit.ppl <= fit.ppl_model * (1 + 1e-9));
    /* the cache it chose, mixed with the model at the tuned weight, scores the same */
    lmf_model *nn2 = NULL, *c = NULL, *fu = NULL;
    CHECK(lmf_model_load(tdata("rnnlm_gru.safetensors"), &nn2) == LMF_OK);
    CHECK(lmf_ncache_new(nn2, fit.window, fit.theta, fit.floor, &c) == LMF_OK);
    lmf_model *m2[2] = {nn, c};
    double w[2] = {1 - fit.lambda, fit.lambda};
    lmf_fuse_opts fo;
    lmf_fuse_opts_init(&fo);
    fo.weights = w;
    CHECK(lmf_fuse_new(m2, 2, &fo, &fu) == LMF_OK);
    lmf_ppl r;
    CHECK(lmf_eval_ppl(fu, &dev, NULL, &r) == LMF_OK);
    CHECK_MSG(fabs(r.ppl - fit.ppl) < 1e-4 * fit.ppl, "tuned mixture %.6f, rescored %.6f", fit.ppl, r.ppl);
    /* every = 3: fewer positions scored, the same shape of answer */
    o.every = 3;
    CHECK(lmf_tune_ncache(fu, &dev, &o, &fit) == LMF_ERR_ARG); /* a fused model has no hidden states */
    lmf_model_free(fu);
    free(dev.ids);
    free(dev.oov);
    lmf_tokens_free(&t);
}

/* The gate's n-gram match-order feature: for the n-gram members, the length
 * of the context their own state holds before each token (replayed here
 * with the n-gram's query API, restarting at each line as its model does);
 * 0 for a member that is not an n-gram. */
static void test_gate_match_order(void) {
    lmf_model *m[3] = {ngram(3), ngram(2), NULL};
    CHECK(lmf_cache_new(lmf_model_vocab(m[0]), 50, 0.5, &m[2]) == LMF_OK);
    lmf_tokens t;
    read_valid(m[0], &t);
    const size_t n = 600;
    double A[45] = {0}, b[3] = {0}, mean[15] = {0}, sd[15], loss0[3] = {5, 5, 5};
    for (int i = 0; i < 15; i++) sd[i] = 1;
    lmf_gate_params gp = {0.9, mean, sd, loss0, A, b};
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    o.comb = LMF_COMB_GATE;
    o.gate = &gp;
    lmf_model *g = NULL;
    CHECK(lmf_fuse_new(m, 3, &o, &g) == LMF_OK);
    lmf_tokens tn = t;
    tn.n = n;
    float *phi = malloc(n * 15 * sizeof *phi), *lp = malloc(n * 3 * sizeof *lp);
    CHECK(lmf_gate_trace(g, &tn, phi, lp, NULL, NULL) == LMF_OK);
    lmf_model *const *mem;
    CHECK(lmf_fuse_members(g, &mem) == 3);
    int bad = 0, seen[3] = {0};
    for (int k = 0; k < 2; k++) {
        lmf_ngram *ng = lmf_ngram_from_model(mem[k]);
        lmf_ngram_ctx c;
        lmf_ngram_ctx_begin(ng, &c);
        for (size_t i = 0; i < n; i++) {
            bad += phi[i * 15 + 5 * k + 4] != (float)c.len;
            seen[c.len < 3 ? c.len : 2] = 1;
            if (t.ids[i] == LMF_EOS) lmf_ngram_ctx_begin(ng, &c);
            else lmf_ngram_score_word(ng, &c, t.ids[i], &c, NULL);
        }
    }
    for (size_t i = 0; i < n; i++) bad += phi[i * 15 + 14] != 0;
    CHECK_MSG(!bad && seen[0] + seen[1] + seen[2] >= 2, "match-order feature: %d mismatches", bad);
    free(phi), free(lp);
    lmf_model_free(g);
    lmf_tokens_free(&t);
}

int main(void) {
    test_union_vocab();
    test_gate_match_order();
    test_ncache();
    test_ncache_tune();
    test_parallel_neural();
    test_explain();
    test_shared();
    test_invariants();
    test_degenerate();
    test_vote_cascade_formula();
    test_vocab_map();
    test_em();
    test_loglinear_tune();
    test_gate();
    test_generate();
    TEST_MAIN_END();
}
