/* Allocation-failure sweeps: for each operation, the k-th allocation fails
 * for k = 1, 2, ... until the operation succeeds.  Every failed attempt must
 * return LMF_ERR_NOMEM and leave nothing behind (ASan's leak check runs in
 * CI), and the first success must give exactly the numbers of a run without
 * failures.  Covered: loading each neural architecture and scoring with it,
 * nested recipes (every combiner, both caches, a gate), the caches, training
 * set-up and its first steps, and every tuner. */
#include "test.h"

#include "lmf/fuse.h"
#include "lmf/ngram.h"
#include "lmf/nn.h"
#include "lmf/train.h"

#include <stdint.h>

/* ---- the sweep ---- */

/* What an operation computed: compared bit for bit with the unfailed run. */
typedef struct sig {
    double v[512];
    int n;
} sig;

static void sig_add(sig *g, double x) {
    if (g->n < (int)(sizeof g->v / sizeof *g->v)) g->v[g->n++] = x;
}
static void sig_addf(sig *g, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) sig_add(g, x[i]);
}

static uint64_t fail_k;  /* the allocation to fail in this attempt (0: none) */
static int counting;     /* the unfailed run: count the allocations instead */
static int armed;
static uint64_t counted; /* allocations the unfailed run made in its windows */
#define COUNT_FROM ((uint64_t)1 << 18)

/* The operation's failure window (one per operation): set-up outside it
 * may not fail. */
static void arm(void) {
    lmf_alloc_fail_after(counting ? COUNT_FROM : fail_k);
    armed = 1;
}
static void disarm(void) {
    if (counting && armed) { /* the countdown left tells how many allocations the window made */
        uint64_t left = 0;
        for (void *p; (p = lmf_malloc(1)) != NULL; left++) lmf_free(p);
        counted += COUNT_FROM - 1 - left;
    }
    armed = 0;
    lmf_alloc_fail_after(0);
}

typedef lmf_status (*op_fn)(void *ctx, sig *out);

/* Runs op unfailed, counting the A allocations of its window, then with
 * the k-th allocation failing for k = 1..A+1: each attempt must fail with
 * LMF_ERR_NOMEM, or succeed (a best-effort allocation, such as the clean-up
 * of stale temporary files, may fail quietly) with the unfailed run's
 * numbers; k = A+1 fails nothing and must succeed.  Returns A. */
static uint64_t sweep(const char *what, op_fn op, void *ctx) {
    static sig ref, got;
    memset(&ref, 0, sizeof ref);
    fail_k = 0;
    counting = 1;
    counted = 0;
    lmf_status s = op(ctx, &ref);
    disarm();
    counting = 0;
    CHECK_MSG(s == LMF_OK, "%s: the unfailed run fails: %s", what, lmf_last_error());
    if (s) return 0;
    CHECK_MSG(counted < COUNT_FROM - 1, "%s: too many allocations to count", what);
    const uint64_t A = counted;
    uint64_t quiet = 0;
    for (uint64_t k = 1; k <= A + 1; k++) {
        memset(&got, 0, sizeof got);
        fail_k = k;
        s = op(ctx, &got);
        disarm();
        if (s == LMF_OK) {
            quiet += k <= A;
            CHECK_MSG(got.n == ref.n && !memcmp(got.v, ref.v, (size_t)ref.n * sizeof *ref.v),
                      "%s: succeeded with allocation %llu of %llu failing, but computed something else", what,
                      (unsigned long long)k, (unsigned long long)A);
        } else {
            CHECK_MSG(s == LMF_ERR_NOMEM && k <= A, "%s: allocation %llu of %llu failing gives status %s: %s", what,
                      (unsigned long long)k, (unsigned long long)A, lmf_status_name(s), lmf_last_error());
            if (s != LMF_ERR_NOMEM) break; /* one report per operation */
        }
    }
    fail_k = 0;
    fprintf(stderr, "%s: %llu allocations swept (%llu failing quietly)\n", what, (unsigned long long)A,
            (unsigned long long)quiet);
    return A;
}

/* ---- fixtures ---- */

static const char *const nn_files[4] = {"rnnlm_rnn.safetensors", "rnnlm_lstm.safetensors", "rnnlm_gru.safetensors",
                                        "rnnlm_transformer.safetensors"};

/* A text over the neural fixtures' words (w2..w22), 40 lines, written to
 * tmp: training text, dev text and the n-grams' training data. */
static void write_text(void) {
    FILE *fp = fopen(tmp_path("alloc.txt"), "w");
    if (!fp) exit(2);
    uint32_t x = 12345;
    for (int line = 0; line < 40; line++) {
        int len = 3 + line % 6;
        for (int i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            fprintf(fp, "%sw%u", i ? " " : "", 2 + (x >> 16) % 21);
        }
        fputc('\n', fp);
    }
    fclose(fp);
}

static lmf_model *load(const char *path) {
    lmf_model *m = NULL;
    CHECK_MSG(lmf_model_load(path, &m) == LMF_OK, "%s", lmf_last_error());
    return m;
}

/* An n-gram of the given order over the text's words, saved as ARPA. */
static void write_ngram(int order, const char *name) {
    lmf_ngram_train_opts o;
    lmf_ngram_train_opts_init(&o);
    o.order = order;
    lmf_ngram *ng = NULL;
    CHECK(lmf_ngram_train(tmp_path("alloc.txt"), &o, &ng, NULL) == LMF_OK);
    CHECK(lmf_ngram_write_arpa(ng, tmp_path(name)) == LMF_OK);
    lmf_ngram_free(ng);
}

static lmf_tokens dev; /* the text, read with the neural vocabulary */
enum { NDEV = 60 };    /* positions scored by the operations */

/* ln p of the first NDEV dev tokens under m, into g (score may fail). */
static lmf_status score_into(lmf_model *m, sig *g) {
    float lp[NDEV];
    lmf_status s = lmf_model_score(m, NULL, dev.ids, NDEV, lp);
    if (!s) sig_addf(g, lp, NDEV);
    return s;
}

/* ---- operations ---- */

/* load a model file and score with it */
static lmf_status load_and_score(const char *path, sig *g) {
    lmf_model *m = NULL;
    lmf_status s = lmf_model_load(path, &m);
    if (s) CHECK_MSG(m == NULL, "a failed load returns a model");
    if (!s) s = score_into(m, g);
    if (!s) {
        /* the incremental path too */
        lmf_state *st = lmf_state_new(m);
        int V = lmf_vocab_size(lmf_model_vocab(m));
        float *d = (float *)malloc((size_t)V * sizeof *d);
        if (!st) s = LMF_ERR_NOMEM;
        for (int i = 0; i < 3 && !s; i++) {
            s = lmf_model_next(m, st, d);
            if (!s) sig_addf(g, d, (size_t)V);
            if (!s) s = lmf_model_feed(m, st, dev.ids[i]);
        }
        lmf_state_free(m, st);
        free(d);
    }
    lmf_model_free(m);
    return s;
}

static lmf_status op_load(void *ctx, sig *g) {
    arm();
    lmf_status s = load_and_score((const char *)ctx, g);
    disarm();
    return s;
}

/* a unigram cache over a vocabulary */
static lmf_status op_cache(void *ctx, sig *g) {
    lmf_model *m = NULL;
    arm();
    lmf_status s = lmf_cache_new((const lmf_vocab *)ctx, 20, 0.5, &m);
    if (s) CHECK(m == NULL);
    if (!s) s = score_into(m, g);
    disarm();
    lmf_model_free(m);
    return s;
}

/* a continuous cache over a neural model (ownership passes to it) */
static lmf_status op_ncache(void *ctx, sig *g) {
    lmf_model *nn = load((const char *)ctx), *m = NULL;
    arm();
    lmf_status s = lmf_ncache_new(nn, 15, 0.7, 0.02, &m);
    if (s) CHECK(m == NULL);
    if (!s) s = score_into(m, g);
    disarm();
    lmf_model_free(m);
    return s;
}

/* a continuous-cache file written, then loaded */
static lmf_status op_ncache_file(void *ctx, sig *g) {
    arm();
    lmf_status s = lmf_ncache_write(tmp_path("alloc_nc.json"), tdata("rnnlm_gru.safetensors"), 12, 0.5, 0.05,
                                    "{\"method\": \"test\"}");
    if (!s) s = load_and_score(tmp_path("alloc_nc.json"), g);
    disarm();
    return s;
}

/* fusions built from loaded members (lmf_fuse_new takes them over) */
static lmf_status op_fuse_new(void *ctx, sig *g) {
    const lmf_fuse_opts *o = (const lmf_fuse_opts *)ctx;
    lmf_model *m[3] = {load(tdata(nn_files[0])), load(tmp_path("alloc2.arpa")), load(tdata(nn_files[3]))}, *f = NULL;
    arm();
    lmf_status s = lmf_fuse_new(m, 3, o, &f);
    if (s) CHECK(f == NULL);
    if (!s) s = score_into(f, g);
    disarm();
    lmf_model_free(f);
    return s;
}

/* The failure window of training ends at the progress report of step 3,
 * after set-up, two steps and the checkpoint of step 2: later steps repeat
 * the same work. */
static void train_progress(void *user, const lmf_train_progress *p) {
    if (p->step >= 3) disarm();
}

/* the training library: set-up and a first step, then a few more steps,
 * validation, checkpoint and best model */
static lmf_status op_train(void *ctx, sig *g) {
    lmf_train_opts o;
    lmf_train_opts_init(&o);
    o.arch = (const char *)ctx;
    o.layers = 1;
    o.hidden = o.emb = 4;
    o.heads = 2;
    o.ctx = 4;
    o.batch = 2;
    o.bptt = 4;
    o.epochs = 1;
    o.max_steps = 3;
    o.checkpoint_every = 2;
    o.train = o.valid = tmp_path("alloc.txt");
    o.out = tmp_path("alloc_train.safetensors");
    o.checkpoint = tmp_path("alloc_train.ckpt");
    o.log_seconds = -1;
    o.on_progress = train_progress;
    lmf_train_result r;
    memset(&r, 0, sizeof r);
    arm();
    lmf_status s = lmf_train(&o, &r);
    disarm();
    if (!s) {
        sig_add(g, (double)r.steps);
        sig_add(g, r.best_valid_ppl);
    }
    return s;
}

static float lpbuf[4][NDEV];
static const float *const lps[4] = {lpbuf[0], lpbuf[1], lpbuf[2], lpbuf[3]};

static lmf_status op_em(void *ctx, sig *g) {
    double w[4] = {0.25, 0.25, 0.25, 0.25}, trace[21];
    int it = 0;
    arm();
    lmf_status s = lmf_tune_linear_em(lps, 4, NDEV, 1e-9, 20, w, trace, &it);
    disarm();
    if (!s) {
        for (int k = 0; k < 4; k++) sig_add(g, w[k]);
        sig_add(g, it);
    }
    return s;
}

static lmf_status op_select(void *ctx, sig *g) {
    lmf_selection sel;
    arm();
    lmf_status s = lmf_select_forward(lps, 4, NDEV, 1e-4, &sel);
    disarm();
    if (!s) {
        sig_add(g, sel.n);
        for (int i = 0; i < sel.n; i++) sig_add(g, sel.order[i]), sig_add(g, sel.ppl[i]), sig_add(g, sel.w[i]);
    }
    return s;
}

/* log-linear weights: n-gram members (exact path) or neural ones (sampled) */
static lmf_status op_loglinear(void *ctx, sig *g) {
    int exact = ctx != NULL;
    lmf_model *m[2];
    if (exact) m[0] = load(tmp_path("alloc2.arpa")), m[1] = load(tmp_path("alloc3.arpa"));
    else m[0] = load(tdata(nn_files[1])), m[1] = load(tdata(nn_files[3]));
    lmf_tokens t = dev;
    t.n = NDEV;
    lmf_tune_ll_opts o = {0};
    o.max_iter = 5;
    o.max_bytes = 1 << 20;
    double w[2] = {0.5, 0.5};
    lmf_tune_info info;
    arm();
    lmf_status s = lmf_tune_loglinear(m, 2, &t, &o, w, &info);
    disarm();
    if (!s) {
        sig_add(g, w[0]), sig_add(g, w[1]), sig_add(g, info.ppl), sig_add(g, info.exact);
    }
    lmf_model_free(m[0]);
    lmf_model_free(m[1]);
    return s;
}

/* gate training (takes over its members) */
static lmf_status op_gate(void *ctx, sig *g) {
    lmf_model *m[2] = {load(tmp_path("alloc2.arpa")), load(tdata(nn_files[2]))};
    lmf_tokens t = dev;
    t.n = NDEV;
    lmf_gate_tune_opts o = {0};
    o.decay = 0.9;
    o.l2 = 1e-3;
    o.folds = 2;
    o.max_iter = 5;
    lmf_gate_fit fit;
    memset(&fit, 0, sizeof fit);
    arm();
    lmf_status s = lmf_tune_gate(m, 2, &t, &o, &fit);
    disarm();
    if (!s) {
        for (int i = 0; i < fit.K * fit.F; i++) sig_add(g, fit.A[i]);
        sig_add(g, fit.ppl), sig_add(g, fit.cv_ppl), sig_add(g, fit.ppl_linear);
        lmf_gate_fit_free(&fit);
    }
    return s;
}

/* continuous-cache tuning */
static lmf_status op_ncache_tune(void *ctx, sig *g) {
    lmf_model *m = load(tdata(nn_files[1]));
    lmf_tokens t = dev;
    t.n = NDEV;
    lmf_ncache_tune_opts o;
    lmf_ncache_tune_opts_init(&o);
    const int win[2] = {5, 20};
    o.window = win;
    o.n_window = 2;
    lmf_ncache_fit fit;
    arm();
    lmf_status s = lmf_tune_ncache(m, &t, &o, &fit);
    disarm();
    if (!s) sig_add(g, fit.window), sig_add(g, fit.theta), sig_add(g, fit.lambda), sig_add(g, fit.ppl);
    lmf_model_free(m);
    return s;
}

/* the per-member explanation of a fusion and shared evaluation */
static lmf_status op_explain(void *ctx, sig *g) {
    lmf_model *f = load(tmp_path((const char *)ctx));
    lmf_tokens t = dev;
    t.n = NDEV;
    lmf_explain e;
    memset(&e, 0, sizeof e);
    arm();
    lmf_status s = lmf_fuse_explain(f, &t, NULL, NULL, NULL, &e, NULL, NULL);
    disarm();
    if (!s) {
        sig_add(g, e.ppl);
        for (int i = 0; i < e.K * e.K; i++) sig_add(g, e.loss_corr[i]), sig_add(g, e.js[i]);
        lmf_explain_free(&e);
    }
    lmf_model_free(f);
    return s;
}

static lmf_status op_shared(void *ctx, sig *g) {
    lmf_model *m[2] = {load(tmp_path("alloc3.arpa")), load(tdata(nn_files[0]))};
    lmf_tokens t = dev;
    t.n = NDEV;
    lmf_fuse_opts o[3];
    for (int i = 0; i < 3; i++) lmf_fuse_opts_init(&o[i]);
    o[1].comb = LMF_COMB_LOGLINEAR;
    o[2].comb = LMF_COMB_BAYES;
    float f0[NDEV], f1[NDEV], f2[NDEV], m0[NDEV];
    float *const fl[3] = {f0, f1, f2}, *const ml[2] = {m0, NULL};
    arm();
    lmf_status s = lmf_fuse_eval_shared(m, 2, o, 3, &t, fl, ml, NULL, NULL);
    disarm();
    if (!s) sig_addf(g, f0, NDEV), sig_addf(g, f1, NDEV), sig_addf(g, f2, NDEV), sig_addf(g, m0, NDEV);
    lmf_model_free(m[0]);
    lmf_model_free(m[1]);
    return s;
}

/* ---- the tests ---- */

static void test_nn_load(void) {
    for (int a = 0; a < 4; a++) {
        uint64_t n = sweep(nn_files[a], op_load, (void *)tdata(nn_files[a]));
        CHECK_MSG(n > 5, "%s: only %llu allocations", nn_files[a], (unsigned long long)n);
    }
}

static void test_caches(void) {
    lmf_model *nn = load(tdata(nn_files[0]));
    sweep("unigram cache", op_cache, (void *)lmf_model_vocab(nn));
    lmf_model_free(nn);
    for (int a = 0; a < 4; a++) sweep("continuous cache", op_ncache, (void *)tdata(nn_files[a]));
    sweep("continuous-cache file", op_ncache_file, NULL);
}

/* Recipes nest recipes (inline and files), both caches and every combiner. */
static void test_recipes(void) {
    char gate[2048], nested[4096];
    /* a gate over two members: 5 features each */
    snprintf(gate, sizeof gate,
             "{\"lmfuse\": \"recipe\", \"combiner\": \"gate\", \"members\": [\"alloc2.arpa\", \"%s\"],\n"
             " \"weights\": [0.4, 0.6],\n"
             " \"gate\": {\"decay\": 0.9, \"mean\": [1, 2, 0.5, 3, 1, 1, 2, 0.5, 3, 0],"
             " \"sd\": [1, 1, 1, 2, 1, 1, 1, 1, 2, 1], \"loss0\": [3, 3],"
             " \"A\": [[0.1, -0.2, 0.3, 0, 0.1, 0.2, 0, 0, -0.1, 0], [0, 0.1, 0, 0.2, 0, -0.3, 0.1, 0, 0, 0]],"
             " \"b\": [-0.9, -0.5]}}\n",
             tdata(nn_files[1]));
    write_file(tmp_path("alloc_gate.json"), gate, strlen(gate));
    const char *small = "{\"combiner\": \"linear\", \"members\": [\"alloc2.arpa\", {\"path\": \"alloc3.arpa\"}]}";
    write_file(tmp_path("alloc_small.json"), small, strlen(small));
    snprintf(nested, sizeof nested,
             "{\"lmfuse\": \"recipe\", \"combiner\": \"linear\", \"weights\": [0.3, 0.1, 0.1, 0.2, 0.1, 0.2],\n"
             " \"members\": [\"alloc_small.json\", {\"path\": \"alloc3.arpa\"}, {\"cache\": {\"window\": 20, \"beta\": 0.5}},\n"
             "  {\"cache\": {\"model\": \"%s\", \"window\": 10, \"theta\": 0.5, \"floor\": 0.05}},\n"
             "  {\"recipe\": {\"combiner\": \"loglinear\", \"weights\": [0.7, 0.4], \"members\": [\"alloc2.arpa\",\n"
             "   {\"recipe\": {\"combiner\": \"bayes\", \"share\": 0.05, \"members\": [\"alloc3.arpa\",\n"
             "    {\"recipe\": {\"combiner\": \"max\", \"members\": [\"alloc2.arpa\", {\"cache\": {\"window\": 5}}]}}]}}]}},\n"
             "  {\"recipe\": {\"combiner\": \"vote\", \"top_k\": 3, \"members\": [\"alloc2.arpa\",\n"
             "   {\"recipe\": {\"combiner\": \"cascade\", \"top_k\": 5, \"members\": [\"alloc3.arpa\", \"alloc2.arpa\"]}}]}}]}\n",
             tdata(nn_files[0]));
    write_file(tmp_path("alloc_nested.json"), nested, strlen(nested));
    sweep("gate recipe", op_load, (void *)tmp_path("alloc_gate.json"));
    sweep("nested recipe", op_load, (void *)tmp_path("alloc_nested.json"));
    /* fusions made through the API, each combiner */
    double w[3] = {0.3, 0.5, 0.2}, A[45], b[3] = {-1, -0.7, -1.6}, mean[15], sd[15], loss0[3] = {3, 3, 3};
    for (int i = 0; i < 45; i++) A[i] = 0.1 * sin(i + 1.0);
    for (int i = 0; i < 15; i++) mean[i] = 0.1 * i, sd[i] = 1;
    lmf_gate_params gp = {0.9, mean, sd, loss0, A, b};
    for (int c = 0; c < LMF_COMB_COUNT; c++) {
        if (c == LMF_COMB_CASCADE) continue; /* two members only: the recipe covers it */
        if (c == LMF_COMB_STACK) continue;   /* over classes: the classifier sweeps cover it */
        if (c == LMF_COMB_PAIRVOTE) continue; /* a table fitted for tags: test_tag.c */
        lmf_fuse_opts o;
        lmf_fuse_opts_init(&o);
        o.comb = (lmf_combiner)c;
        o.weights = w;
        o.gate = &gp;
        sweep(lmf_combiner_name(o.comb), op_fuse_new, &o);
    }
}

static void test_train(void) {
    const char *arch[4] = {"rnn", "lstm", "gru", "transformer"};
    for (int a = 0; a < 4; a++) sweep(arch[a], op_train, (void *)arch[a]);
}

static void test_tuners(void) {
    /* the members' log-probs for the tuners that take them */
    for (int k = 0; k < 4; k++) {
        lmf_model *m = load(tdata(nn_files[k]));
        CHECK(lmf_model_score(m, NULL, dev.ids, NDEV, lpbuf[k]) == LMF_OK);
        lmf_model_free(m);
    }
    sweep("linear EM", op_em, NULL);
    sweep("forward selection", op_select, NULL);
    sweep("loglinear (exact)", op_loglinear, (void *)1);
    sweep("loglinear (sampled)", op_loglinear, NULL);
    sweep("gate tuning", op_gate, NULL);
    sweep("continuous-cache tuning", op_ncache_tune, NULL);
    sweep("explain (gate)", op_explain, (void *)"alloc_gate.json");
    sweep("shared evaluation", op_shared, NULL);
}

static void quiet(lmf_log_level l, const char *m, void *c) { (void)l, (void)m, (void)c; }

int main(void) {
    lmf_set_log(quiet, NULL, LMF_LOG_WARN);
    lmf_set_threads(1);
    write_text();
    write_ngram(2, "alloc2.arpa");
    write_ngram(3, "alloc3.arpa");
    lmf_model *nn = load(tdata(nn_files[0]));
    CHECK(lmf_tokens_read_file(tmp_path("alloc.txt"), lmf_model_vocab(nn), NULL, &dev) == LMF_OK);
    CHECK(dev.n >= NDEV && dev.n_oov == 0);
    lmf_model_free(nn);
    test_nn_load();
    test_caches();
    test_recipes();
    test_tuners();
    test_train();
    lmf_tokens_free(&dev);
    TEST_MAIN_END();
}
