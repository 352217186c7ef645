/* Fusion: exact invariants of every combiner (distributions sum to 1, the
 * fast scoring path equals the full distributions, weight 1 on a member
 * reproduces it), vocabulary mapping, EM (monotone, at a stationary point). */
#include "test.h"

#include "lmf/eval.h"
#include "lmf/fuse.h"
#include "lmf/generate.h"
#include "lmf/ngram.h"
#include "lmf/nn.h"

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
static lmf_model *trio(lmf_combiner comb, const double *w, double share, const lmf_vocab *cv) {
    lmf_model *m[3] = {ngram(2), ngram(3), NULL};
    CHECK(lmf_cache_new(cv ? cv : lmf_model_vocab(m[0]), 50, 0.5, &m[2]) == LMF_OK);
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    o.comb = comb;
    o.weights = w;
    o.share = share;
    lmf_model *f = NULL;
    CHECK(lmf_fuse_new(m, 3, &o, &f) == LMF_OK);
    return f;
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
        if (c == LMF_COMB_MAX) continue; /* max of several members is not one member */
        lmf_model *f = trio((lmf_combiner)c, w, 0, NULL);
        CHECK(f && lmf_model_score(f, NULL, t.ids, t.n, lp) == LMF_OK);
        double worst = 0;
        for (size_t i = 0; f && i < t.n; i++)
            if (fabs(lp[i] - ref[i]) > worst) worst = fabs(lp[i] - ref[i]);
        CHECK_MSG(worst < 1e-5, "%s with weight 1 on a member differs from it by %.3g", lmf_combiner_name((lmf_combiner)c),
                  worst);
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
    /* different words: refused, naming the difference */
    lmf_model *m[2] = {ngram(2), NULL}, *f = NULL;
    CHECK(lmf_nn_load(tdata("rnnlm_lstm.safetensors"), &m[1]) == LMF_OK);
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    CHECK(lmf_fuse_new(m, 2, &o, &f) == LMF_ERR_DATA && !f);
    CHECK_MSG(strstr(lmf_last_error(), "different vocabularies") != NULL, "message: %s", lmf_last_error());
    lmf_model_free(ng);
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
    size_t na, nb;
    double la, lb;
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

int main(void) {
    test_invariants();
    test_degenerate();
    test_vocab_map();
    test_em();
    test_generate();
    TEST_MAIN_END();
}
