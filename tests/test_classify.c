#define _POSIX_C_SOURCE 200809L /* strtok_r */
/* Document classification (lmf/classify.h): the labelled-file reader, the
 * LM classifier against Bayes' rule computed here from its own class
 * models, fusion invariants, stacking that never scores a row with a model
 * trained on it (a planted member that memorises its training rows), and
 * the metrics against scikit-learn's on fixtures from dev/. */
#include "test.h"

#include "lmf/classify.h"
#include "lmf/model.h"
#include "lmf/text.h"
#include "../src/classify/classify_impl.h"
#include "../src/core/optim_impl.h"

#include <cjson/cJSON.h>
#include <unistd.h>

static char *tmp(const char *name) {
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/classify_%s", TEST_TMP_DIR, name);
    return buf[i];
}

static void put_file(const char *path, const char *s) {
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (!fp) return;
    fputs(s, fp);
    fclose(fp);
}

/* A toy task: sport and food documents with their own words. */
static const char *const sport_w[] = {"goal", "match", "team", "score", "coach", "league", "ball", "win"};
static const char *const food_w[] = {"bread", "soup", "salt", "cook", "oven", "taste", "dish", "sauce"};

static void toy_file(const char *path, int n, unsigned seed) {
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    for (int i = 0; i < n && fp; i++) {
        int food = i % 2;
        fprintf(fp, "__label__%s", food ? "food" : "sport");
        for (int j = 0; j < 12; j++) {
            seed = seed * 1103515245u + 12345u;
            const char *w = (food ? food_w : sport_w)[(seed >> 16) % 8];
            fprintf(fp, " %s%s", w, j == 5 ? "\\n" : "");
        }
        fprintf(fp, " the\n");
    }
    if (fp) fclose(fp);
}

static void test_reader(void) {
    const char *p = tmp("esc.txt");
    put_file(p, "__label__b one\\ntwo\\\\ \\x41 \\q\r\n\n__label__a  x\ty  \n");
    lmf_docs d;
    CHECK(lmf_docs_read(p, NULL, 0, &d) == LMF_OK);
    CHECK(d.n == 2 && d.C == 2 && !strcmp(d.names[0], "a") && !strcmp(d.names[1], "b"));
    if (d.n == 2) {
        CHECK(!strcmp(d.text[0], "one\ntwo\\ A \\q") && d.label[0] == 1 && d.line[0] == 1);
        CHECK(!strcmp(d.text[1], "x\ty") && d.label[1] == 0 && d.line[1] == 3);
    }
    /* bad files: each error names the file and line */
    struct {
        const char *text, *msg;
    } bad[] = {
        {"__label__a ok\nno label here\n", ":2: the line has no label"},
        {"__label__a ok\n__label__a __label__b two\n", ":2: a second __label__"},
        {"__label__a ok\n__label__b   \n", ":2: the document after __label__b is empty"},
        {"__label__ x\n", ":1: empty label name"},
        {"__label__a \xff\xfe\n", ":1: invalid UTF-8"},
        {"", "no documents"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        put_file(p, bad[i].text);
        lmf_docs e;
        lmf_status s = lmf_docs_read(p, NULL, 0, &e);
        CHECK_MSG(s != LMF_OK && strstr(lmf_last_error(), bad[i].msg) && strstr(lmf_last_error(), p), "case %zu: %s",
                  i, lmf_last_error());
        if (!s) lmf_docs_free(&e);
    }
    /* a label the classes do not know */
    put_file(p, "__label__a fine\n__label__c new\n");
    lmf_docs e;
    CHECK(lmf_docs_read(p, (const char *const *)d.names, d.C, &e) == LMF_ERR_DATA &&
          strstr(lmf_last_error(), ":2: label \"c\" is not one the model was trained on"));
    /* unlabelled lines are documents to classify */
    put_file(p, "just text\n__label__b labelled\n");
    CHECK(lmf_docs_read_any(p, (const char *const *)d.names, d.C, &e) == LMF_OK && e.n == 2 && e.label[0] == -1 &&
          e.label[1] == 1 && !strcmp(e.text[0], "just text"));
    lmf_docs_free(&e);
    lmf_docs_free(&d);
}

static double row_sum(const float *r, int C) {
    double s = 0;
    for (int c = 0; c < C; c++) s += exp((double)r[c]);
    return s;
}

/* Sum of ln p of a prepared one-line text under a model file. */
static double model_loglik(const char *model_path, const char *text) {
    lmf_model *m = NULL;
    CHECK(lmf_model_load(model_path, &m) == LMF_OK);
    if (!m) return NAN;
    lmf_tokens t;
    CHECK(lmf_tokens_read_mem(text, strlen(text), "t", lmf_model_vocab(m), NULL, &t) == LMF_OK);
    float lp[64];
    CHECK(t.n < 64 && lmf_model_score(m, NULL, t.ids, t.n, lp) == LMF_OK);
    double s = 0;
    for (size_t i = 0; i < t.n; i++) {
        CHECK(!t.oov[i]);
        s += lp[i];
    }
    lmf_tokens_free(&t);
    lmf_model_free(m);
    return s;
}

static void test_lm_classifier(void) {
    toy_file(tmp("toy.train.txt"), 40, 1);
    toy_file(tmp("toy.valid.txt"), 20, 2);
    toy_file(tmp("toy.test.txt"), 20, 3);
    lmf_docs tr, va, te;
    CHECK(lmf_docs_read(tmp("toy.train.txt"), NULL, 0, &tr) == LMF_OK);
    CHECK(lmf_docs_read(tmp("toy.valid.txt"), (const char *const *)tr.names, tr.C, &va) == LMF_OK);
    CHECK(lmf_docs_read(tmp("toy.test.txt"), (const char *const *)tr.names, tr.C, &te) == LMF_OK);
    lmf_lmclass_opts o;
    lmf_lmclass_opts_init(&o);
    o.calib = LMF_CALIB_NONE;
    o.length_norm = 0; /* Bayes' rule on whole documents, checked below */
    o.order = 2;
    lmf_classifier *c = NULL;
    CHECK(lmf_lmclass_train(&tr, &va, &o, &c) == LMF_OK);
    if (!c) return;
    float lp[2 * 20], lp2[2 * 20];
    CHECK(lmf_classifier_predict(c, &te, lp, NULL, NULL) == LMF_OK);
    lmf_cmetrics m;
    CHECK(lmf_cmetrics_compute(te.label, lp, te.n, 2, &m) == LMF_OK && m.accuracy == 1.0);
    lmf_cmetrics_free(&m);
    for (size_t i = 0; i < te.n; i++) CHECK(fabs(row_sum(lp + 2 * i, 2) - 1) < 1e-5);
    /* saved and loaded: the same numbers, bit for bit */
    CHECK(lmf_classifier_save(c, tmp("lm.json")) == LMF_OK);
    lmf_classifier *c2 = NULL;
    CHECK(lmf_classifier_load(tmp("lm.json"), &c2) == LMF_OK);
    if (c2) {
        CHECK(lmf_classifier_predict(c2, &te, lp2, NULL, NULL) == LMF_OK);
        CHECK(!memcmp(lp, lp2, sizeof lp));
        lmf_classifier_free(c2);
    }
    /* Bayes' rule: without calibration, ln p(food|d) - ln p(sport|d) is the
     * difference of the class models' log-likelihoods plus that of the log
     * priors (equal here), each model scored here from its saved file. */
    const char *doc = "bread soup zebra goal the"; /* zebra: token 2 */
    put_file(tmp("one.txt"), "__label__food bread soup zebra goal the\n");
    lmf_docs one;
    CHECK(lmf_docs_read(tmp("one.txt"), (const char *const *)tr.names, tr.C, &one) == LMF_OK);
    float r[2];
    CHECK(lmf_classifier_predict(c, &one, r, NULL, NULL) == LMF_OK);
    char p0[600], p1[600];
    snprintf(p0, sizeof p0, "%s.class0.lmfb", tmp("lm.json"));
    snprintf(p1, sizeof p1, "%s.class1.lmfb", tmp("lm.json"));
    /* "goal" is unknown to the food model: its <unk> mass is shared by the
     * words only the sport model knows (8); "zebra" no model knows: left out */
    lmf_model *mf = NULL, *ms = NULL;
    CHECK(lmf_model_load(p0, &mf) == LMF_OK && lmf_model_load(p1, &ms) == LMF_OK);
    lmf_tokens tf, ts;
    CHECK(lmf_tokens_read_mem(doc, strlen(doc), "d", lmf_model_vocab(mf), NULL, &tf) == LMF_OK);
    CHECK(lmf_tokens_read_mem(doc, strlen(doc), "d", lmf_model_vocab(ms), NULL, &ts) == LMF_OK);
    float a[8], b[8];
    CHECK(lmf_model_score(mf, NULL, tf.ids, tf.n, a) == LMF_OK && lmf_model_score(ms, NULL, ts.ids, ts.n, b) == LMF_OK);
    double llf = 0, lls = 0;
    for (size_t i = 0; i < tf.n; i++) llf += i == 2 ? 0 : a[i] - (tf.oov[i] ? log(8.0) : 0);
    for (size_t i = 0; i < ts.n; i++) lls += i == 2 ? 0 : b[i] - (ts.oov[i] ? log(8.0) : 0);
    CHECK(tf.n_oov == 2 && ts.n_oov == 3); /* zebra, and goal for food; bread and soup for sport */
    CHECK_CLOSE((double)r[0] - r[1], llf - lls, 1e-4, 1e-5);
    (void)model_loglik;
    lmf_tokens_free(&tf);
    lmf_tokens_free(&ts);
    lmf_model_free(mf);
    lmf_model_free(ms);
    lmf_docs_free(&one);
    lmf_classifier_free(c);
    lmf_docs_free(&tr);
    lmf_docs_free(&va);
    lmf_docs_free(&te);
}

/* ---- a planted member that memorises its training rows ---- */
typedef struct memo {
    lmf_classifier base;
    lmf_docs seen;
} memo;

static void memo_free(lmf_classifier *c) {
    memo *m = (memo *)c;
    lmf_docs_free(&m->seen);
    lmf_classifier_base_free(c);
    free(m);
}

/* p = 0.99 on the label of a document seen in training, uniform otherwise */
static lmf_status memo_predict(lmf_classifier *c, const lmf_docs *d, float *logp, lmf_progress_fn p, void *u) {
    (void)p, (void)u;
    const memo *m = (const memo *)c;
    const int C = c->C;
    for (size_t i = 0; i < d->n; i++) {
        int y = -1;
        for (size_t j = 0; j < m->seen.n && y < 0; j++)
            if (!strcmp(m->seen.text[j], d->text[i])) y = m->seen.label[j];
        for (int k = 0; k < C; k++)
            logp[i * C + k] = y < 0 ? (float)-log((double)C) : (float)log(k == y ? 0.99 : 0.01 / (C - 1));
    }
    return LMF_OK;
}

static lmf_status memo_refit(const lmf_classifier *c, const lmf_docs *tr, const lmf_docs *va, lmf_classifier **out);
static const lmf_classifier_ops memo_ops = {"memo", memo_free, NULL, memo_predict, memo_refit, NULL};

static lmf_status memo_refit(const lmf_classifier *c, const lmf_docs *tr, const lmf_docs *va, lmf_classifier **out) {
    (void)c, (void)va;
    memo *m = (memo *)calloc(1, sizeof *m);
    m->base.ops = &memo_ops;
    size_t *all = (size_t *)malloc(tr->n * sizeof *all);
    for (size_t i = 0; i < tr->n; i++) all[i] = i;
    lmf_status s = lmf_docs_subset(tr, all, tr->n, &m->seen);
    free(all);
    if (!s) s = lmf_classifier_set_names(&m->base, (const char *const *)tr->names, tr->C);
    *out = &m->base;
    return s;
}

static void test_stacking_out_of_fold(void) {
    lmf_docs tr, va;
    CHECK(lmf_docs_read(tmp("toy.train.txt"), NULL, 0, &tr) == LMF_OK);
    CHECK(lmf_docs_read(tmp("toy.valid.txt"), (const char *const *)tr.names, tr.C, &va) == LMF_OK);
    lmf_classifier *m0 = NULL;
    CHECK(memo_refit(NULL, &tr, NULL, &m0) == LMF_OK);
    const size_t n = tr.n;
    float *in = (float *)malloc(n * 2 * sizeof *in), *oof = (float *)malloc(n * 2 * sizeof *oof);
    /* in-sample, the memoriser is always right and sure */
    CHECK(lmf_classifier_predict(m0, &tr, in, NULL, NULL) == LMF_OK);
    int sure = 0;
    for (size_t i = 0; i < n; i++) sure += in[2 * i + tr.label[i]] > logf(0.98f);
    CHECK(sure == (int)n);
    /* out of fold, no row is scored by a member that saw it: uniform everywhere */
    CHECK(lmf_cfuse_oof(m0, &tr, &va, 5, oof, NULL, NULL) == LMF_OK);
    double worst = 0;
    for (size_t i = 0; i < 2 * n; i++) worst = fmax(worst, fabs((double)oof[i] - log(0.5)));
    CHECK_MSG(worst < 1e-6, "an out-of-fold output differs from uniform by %g: a row was seen in training", worst);
    /* the meta-model fitted on the in-sample outputs trusts the memoriser;
     * on the out-of-fold ones it cannot (its features carry no signal) */
    double W[2 * 2], b[2];
    const float *lp[1] = {in};
    CHECK(lmf_cfuse_fit_stack(lp, 1, n, 2, tr.label, 1e-3, 0, 0, 0, W, b) == LMF_OK);
    double trust_in = fabs(W[0 * 2 + 0] - W[1 * 2 + 0]);
    lp[0] = oof;
    CHECK(lmf_cfuse_fit_stack(lp, 1, n, 2, tr.label, 1e-3, 0, 0, 0, W, b) == LMF_OK);
    double trust_oof = fabs(W[0 * 2 + 0] - W[1 * 2 + 0]);
    CHECK_MSG(trust_in > 1 && trust_oof < 1e-3, "in-sample %g, out-of-fold %g", trust_in, trust_oof);
    free(in);
    free(oof);
    lmf_classifier_free(m0);
    lmf_docs_free(&tr);
    lmf_docs_free(&va);
}

/* Fusion: rows sum to 1; weight 1 on a member reproduces it; members over
 * other label sets are refused. */
static void test_fusion(void) {
    lmf_docs tr, va, te, tr3;
    CHECK(lmf_docs_read(tmp("toy.train.txt"), NULL, 0, &tr) == LMF_OK);
    CHECK(lmf_docs_read(tmp("toy.valid.txt"), (const char *const *)tr.names, tr.C, &va) == LMF_OK);
    CHECK(lmf_docs_read(tmp("toy.test.txt"), (const char *const *)tr.names, tr.C, &te) == LMF_OK);
    lmf_lmclass_opts o;
    lmf_lmclass_opts_init(&o);
    float pa[40], pf[40];
    for (int cb = 0; cb < LMF_COMB_COUNT; cb++) {
        if (cb == LMF_COMB_CASCADE || cb == LMF_COMB_GATE || cb == LMF_COMB_STACK || cb == LMF_COMB_PAIRVOTE) continue;
        lmf_classifier *m[2] = {NULL, NULL}, *f = NULL;
        o.chars = 0;
        CHECK(lmf_lmclass_train(&tr, &va, &o, &m[0]) == LMF_OK);
        o.chars = 1;
        CHECK(lmf_lmclass_train(&tr, &va, &o, &m[1]) == LMF_OK);
        CHECK(lmf_classifier_predict(m[0], &te, pa, NULL, NULL) == LMF_OK);
        const double w[2] = {1, 0};
        lmf_comb_opts co;
        lmf_comb_opts_init(&co);
        co.comb = (lmf_combiner)cb;
        co.weights = w;
        CHECK(lmf_cfuse_new(m, NULL, 2, &co, NULL, &f) == LMF_OK); /* takes the members */
        if (!f) continue;
        CHECK(lmf_classifier_predict(f, &te, pf, NULL, NULL) == LMF_OK);
        for (size_t i = 0; i < te.n; i++) CHECK(fabs(row_sum(pf + 2 * i, 2) - 1) < 1e-5);
        if (cb == LMF_COMB_LINEAR || cb == LMF_COMB_LOGLINEAR || cb == LMF_COMB_BAYES) {
            double r = 0;
            for (size_t i = 0; i < 2 * te.n; i++) r = fmax(r, fabs((double)pf[i] - pa[i]));
            CHECK_MSG(r < 1e-5, "%s: weight 1 on member 1 is off by %g", lmf_combiner_name(co.comb), r);
        }
        lmf_classifier_free(f);
    }
    /* a member over three classes next to one over two */
    put_file(tmp("three.txt"), "__label__food bread soup\n__label__sport goal team\n__label__weather rain wind\n");
    CHECK(lmf_docs_read(tmp("three.txt"), NULL, 0, &tr3) == LMF_OK);
    lmf_classifier *m[2] = {NULL, NULL}, *f = NULL;
    o.chars = 0;
    CHECK(lmf_lmclass_train(&tr, NULL, &o, &m[0]) == LMF_OK);
    CHECK(lmf_lmclass_train(&tr3, NULL, &o, &m[1]) == LMF_OK);
    lmf_comb_opts co;
    lmf_comb_opts_init(&co);
    CHECK(lmf_cfuse_new(m, NULL, 2, &co, NULL, &f) == LMF_ERR_DATA && !f &&
          strstr(lmf_last_error(), "different label sets"));
    lmf_docs_free(&tr3);
    lmf_docs_free(&tr);
    lmf_docs_free(&va);
    lmf_docs_free(&te);
}

/* Folds: stratified (a class with k or more documents is in k folds) and
 * grouped (each class cut into k runs of consecutive documents). */
static void test_folds(void) {
    enum { N = 400, K = 5 };
    int32_t y[N];
    int fold[N];
    for (int i = 0; i < N; i++) y[i] = i < 300 ? 0 : i < 390 ? 1 : 2; /* 300, 90 and 10 documents, sorted */
    lmf_cfuse_folds(y, N, 3, K, fold);
    int in[3][K] = {{0}};
    for (int i = 0; i < N; i++) in[y[i]][fold[i]]++;
    for (int c = 0; c < 3; c++)
        for (int f = 0; f < K; f++) CHECK_MSG(in[c][f] > 0, "class %d has nothing in fold %d", c, f);
    CHECK(in[0][0] == 60 && in[1][0] == 18 && in[2][0] == 2); /* runs of n_c / 5 */
    for (int i = 1; i < 60; i++) CHECK(fold[i] == fold[0]);       /* the first run of class 0 */
    CHECK(fold[60] != fold[0]);
    for (int i = 300; i < 318; i++) CHECK(fold[i] == 1);          /* class 1 starts in fold 1 */
    int32_t y7[7] = {0, 0, 0, 0, 0, 0, 0};                        /* 7 documents: runs of 2, 2, 2, 1 */
    int f7[7];
    lmf_cfuse_folds(y7, 7, 2, 5, f7);
    CHECK(f7[0] == 0 && f7[1] == 0 && f7[2] == 1 && f7[5] == 2 && f7[6] == 3);
}

/* Bayesian optimisation finds the top of a smooth bump in 3 dimensions and
 * of a plateau no gradient sees, from a poor start; a budget of one point
 * only returns the start (a negative control). */
static double bump(void *u, const double *x) {
    (void)u;
    return -((x[0] - 0.3) * (x[0] - 0.3) + (x[1] + 0.5) * (x[1] + 0.5) + (x[2] - 0.8) * (x[2] - 0.8));
}
static double plateau(void *u, const double *x) {
    (void)u;
    return fabs(x[0] - 0.6) < 0.15 && fabs(x[1] + 0.2) < 0.15 ? 1 : 0;
}
static void test_bayesopt(void) {
    double x[3] = {-1, 1, -1};
    double v = lmf_bayesopt(bump, NULL, 3, -1, 1, 40, 1, x);
    CHECK_MSG(v > -0.02 && fabs(x[0] - 0.3) < 0.15 && fabs(x[1] + 0.5) < 0.15 && fabs(x[2] - 0.8) < 0.15,
              "bump: %g at %g %g %g", v, x[0], x[1], x[2]);
    double p[2] = {-1, -1};
    CHECK(lmf_bayesopt(plateau, NULL, 2, -1, 1, 60, 3, p) == 1);
    double q[3] = {-1, 1, -1};
    CHECK(lmf_bayesopt(bump, NULL, 3, -1, 1, 1, 1, q) < -3 && q[0] == -1);
}


/* ---- naive Bayes against scikit-learn (fixtures: dev/gen_classify_nb_fixtures.py) ----
 * MultinomialNB(alpha=0.5) on the same counts: every probability within
 * 1e-9; the literal words "<unk>" (a training word) and "</s>" (not one)
 * count and do not, as scikit-learn's vocabulary says.  Saved and loaded,
 * the same bits; trained again without valid, the same alpha. */
static void test_nb(void) {
    char tr_path[512], te_path[512], ex_path[512];
    snprintf(tr_path, sizeof tr_path, "%s/classify/nb.train.txt", TEST_DATA_DIR);
    snprintf(te_path, sizeof te_path, "%s/classify/nb.test.txt", TEST_DATA_DIR);
    snprintf(ex_path, sizeof ex_path, "%s/classify/nb.expected.tsv", TEST_DATA_DIR);
    lmf_docs tr, te;
    CHECK(lmf_docs_read(tr_path, NULL, 0, &tr) == LMF_OK);
    CHECK(lmf_docs_read(te_path, (const char *const *)tr.names, tr.C, &te) == LMF_OK);
    lmf_classifier *c = NULL, *c2 = NULL, *c3 = NULL;
    CHECK(lmf_nb_train(&tr, NULL, 0.5, &c) == LMF_OK);
    const int C = tr.C;
    float *lp = (float *)malloc(te.n * (size_t)C * sizeof *lp), *lp2 = (float *)malloc(te.n * (size_t)C * sizeof *lp2);
    CHECK(c && lmf_classifier_predict(c, &te, lp, NULL, NULL) == LMF_OK);
    FILE *fp = fopen(ex_path, "r");
    CHECK_MSG(fp != NULL, "%s missing", ex_path);
    char line[4096];
    size_t row = 0;
    double worst = 0;
    if (fp && fgets(line, sizeof line, fp)) {
        CHECK(!strcmp(line, "label\tart\tlaw\tsea\n"));
        while (fgets(line, sizeof line, fp) && row < te.n) {
            char *p = strchr(line, '\t');
            for (int k = 0; k < C && p; k++) {
                double e = strtod(p + 1, &p);
                worst = fmax(worst, fabs(exp((double)lp[row * C + k]) - e));
            }
            row++;
        }
    }
    if (fp) fclose(fp);
    CHECK_MSG(row == te.n && worst < 1e-6, "%zu rows of %zu; worst |p - scikit-learn's| %g", row, te.n, worst);
    /* a negative control: alpha 1 is another model */
    CHECK(lmf_nb_train(&tr, NULL, 1.0, &c3) == LMF_OK);
    CHECK(c3 && lmf_classifier_predict(c3, &te, lp2, NULL, NULL) == LMF_OK);
    double diff = 0;
    for (size_t i = 0; i < te.n * (size_t)C; i++) diff = fmax(diff, fabs((double)lp[i] - (double)lp2[i]));
    CHECK(diff > 1e-3);
    lmf_classifier_free(c3);
    /* save, load: the same bits */
    CHECK(lmf_classifier_save(c, tmp("nb.json")) == LMF_OK);
    CHECK(lmf_classifier_load(tmp("nb.json"), &c2) == LMF_OK);
    CHECK(c2 && lmf_classifier_predict(c2, &te, lp2, NULL, NULL) == LMF_OK);
    CHECK(c2 && !memcmp(lp, lp2, te.n * (size_t)C * sizeof *lp));
    lmf_classifier_free(c2);
    c2 = NULL;
    /* trained again without valid: the given alpha kept (the same outputs) */
    CHECK(lmf_classifier_refit(c, &tr, NULL, &c2) == LMF_OK);
    CHECK(c2 && lmf_classifier_predict(c2, &te, lp2, NULL, NULL) == LMF_OK);
    CHECK(c2 && !memcmp(lp, lp2, te.n * (size_t)C * sizeof *lp));
    lmf_classifier_free(c2);
    /* alpha chosen on valid: one of the grid, the best valid accuracy */
    CHECK(lmf_nb_train(&tr, &te, 0, &c2) == LMF_OK);
    char d[512];
    if (c2) lmf_classifier_describe(c2, d, sizeof d);
    CHECK(c2 && strstr(d, "chosen on valid"));
    lmf_classifier_free(c2);
    /* a damaged counts file is refused with its name */
    {
        lmf_docs none = {0};
        CHECK(lmf_nb_train(&none, NULL, 0.5, &c2) == LMF_ERR_DATA && !c2);
        CHECK(lmf_nb_train(&tr, NULL, -1, &c2) == LMF_ERR_ARG && !c2);
        put_file(tmp("nb_bad.json"), "{\"lmfuse\": \"classifier\", \"kind\": \"nb\", \"classes\": [\"art\", \"law\", "
                                     "\"sea\"], \"alpha\": 0.5, \"documents\": [7, 4, 2], \"vocab\": \"classify_nb.json.nb.vocab\", "
                                     "\"counts\": \"classify_nb.json.linear.safetensors\"}");
        CHECK(lmf_classifier_load(tmp("nb_bad.json"), &c2) != LMF_OK && !c2 && strstr(lmf_last_error(), "safetensors"));
        put_file(tmp("nb_bad.json"), "{\"lmfuse\": \"classifier\", \"kind\": \"nb\", \"classes\": [\"art\", \"law\", "
                                     "\"sea\"], \"alpha\": 0.5, \"documents\": [7, 0, 2], \"vocab\": \"classify_nb.json.nb.vocab\", "
                                     "\"counts\": \"classify_nb.json.nb.safetensors\"}");
        CHECK(lmf_classifier_load(tmp("nb_bad.json"), &c2) == LMF_ERR_FORMAT && strstr(lmf_last_error(), "documents[1]"));
    }
    free(lp);
    free(lp2);
    lmf_classifier_free(c);
    lmf_docs_free(&tr);
    lmf_docs_free(&te);
}

/* Two sets as one: a's documents then b's, labels and lines kept; sets over
 * other classes refused. */
static void test_docs_concat(void) {
    put_file(tmp("cat_a.txt"), "__label__x one\n__label__y two two\n");
    put_file(tmp("cat_b.txt"), "__label__y three\n");
    put_file(tmp("cat_c.txt"), "__label__z four\n");
    lmf_docs a, b, c, ab;
    CHECK(lmf_docs_read(tmp("cat_a.txt"), NULL, 0, &a) == LMF_OK);
    CHECK(lmf_docs_read(tmp("cat_b.txt"), (const char *const *)a.names, a.C, &b) == LMF_OK);
    CHECK(lmf_docs_read(tmp("cat_c.txt"), NULL, 0, &c) == LMF_OK);
    CHECK(lmf_docs_concat(&a, &b, &ab) == LMF_OK);
    CHECK(ab.n == 3 && ab.C == 2 && ab.label[0] == 0 && ab.label[1] == 1 && ab.label[2] == 1);
    CHECK(ab.n == 3 && !strcmp(ab.text[2], "three") && ab.line[2] == 1 && ab.len[1] == 7);
    CHECK(strstr(ab.path, "cat_a.txt+") && strstr(ab.path, "cat_b.txt"));
    lmf_docs bad;
    CHECK(lmf_docs_concat(&a, &c, &bad) == LMF_ERR_DATA && bad.n == 0 && strstr(lmf_last_error(), "different classes"));
    lmf_docs_free(&a);
    lmf_docs_free(&b);
    lmf_docs_free(&c);
    lmf_docs_free(&ab);
}

/* The class-balanced meta-model: its loss is the same when a class's rows
 * are repeated (each weighs n / (C n_c)), so the fit is too; the plain one
 * moves (a negative control).  And ln-probability features fit as well. */
static void test_stack_balanced(void) {
    enum { N = 60, C = 3, R = 4 };
    float a[N * C], b[(N + (R - 1) * 20) * C];
    int32_t y[N], yb[N + (R - 1) * 20];
    unsigned seed = 5;
    for (int i = 0; i < N; i++) {
        y[i] = i % C;
        float z[C];
        for (int c = 0; c < C; c++) {
            seed = seed * 1103515245u + 12345u;
            z[c] = (float)((seed >> 16) % 1000) / 400.0f + (c == y[i] ? 1.0f : 0.0f);
        }
        lmf_log_softmax(z, C);
        memcpy(a + i * C, z, sizeof z);
    }
    int m = 0; /* class 0's 20 rows four times */
    for (int i = 0; i < N; i++)
        for (int r = 0; r < (y[i] == 0 ? R : 1); r++) {
            memcpy(b + m * C, a + i * C, C * sizeof(float));
            yb[m++] = y[i];
        }
    CHECK(m == N + (R - 1) * 20);
    for (int logp = 0; logp < 2; logp++) {
        double W1[C * C], b1[C], W2[C * C], b2[C], W3[C * C], b3[C];
        const float *la[1] = {a}, *lb[1] = {b};
        CHECK(lmf_cfuse_fit_stack(la, 1, N, C, y, 1e-2, 0, logp, 1, W1, b1) == LMF_OK);
        CHECK(lmf_cfuse_fit_stack(lb, 1, (size_t)m, C, yb, 1e-2, 0, logp, 1, W2, b2) == LMF_OK);
        CHECK(lmf_cfuse_fit_stack(lb, 1, (size_t)m, C, yb, 1e-2, 0, logp, 0, W3, b3) == LMF_OK);
        double same = 0, moved = 0;
        for (int j = 0; j < C * C; j++) same = fmax(same, fabs(W1[j] - W2[j])), moved = fmax(moved, fabs(W1[j] - W3[j]));
        for (int j = 0; j < C; j++) same = fmax(same, fabs(b1[j] - b2[j])), moved = fmax(moved, fabs(b1[j] - b3[j]));
        CHECK_MSG(same < 1e-4 && moved > 1e-2, "logp %d: balanced fits differ by %g; the plain one moved %g", logp, same,
                  moved);
    }
}

/* ---- metrics against scikit-learn (fixtures: dev/gen_classify_metrics_fixtures.py) ---- */
static char *slurp(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = (char *)malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, fp) != (size_t)n) n = 0;
    if (b) b[n] = 0;
    fclose(fp);
    return b;
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void test_metrics_fixture(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/classify/%s.expected.json", TEST_DATA_DIR, name);
    char *js = slurp(path);
    cJSON *e = js ? cJSON_Parse(js) : NULL;
    CHECK_MSG(e != NULL, "%s: fixture missing or not JSON", path);
    if (!e) return;
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(e, "classes");
    const int C = cJSON_GetArraySize(cls);
    const size_t n = (size_t)jnum(e, "n");
    char *names[8];
    for (int c = 0; c < C && c < 8; c++) names[c] = cJSON_GetArrayItem(cls, c)->valuestring;
    int32_t *gold = (int32_t *)malloc(n * sizeof *gold);
    float *lp = (float *)malloc(n * (size_t)C * sizeof *lp);
    snprintf(path, sizeof path, "%s/classify/%s.gold.txt", TEST_DATA_DIR, name);
    char *g = slurp(path);
    snprintf(path, sizeof path, "%s/classify/%s.proba.tsv", TEST_DATA_DIR, name);
    char *pr = slurp(path);
    CHECK(g && pr);
    size_t i = 0;
    for (char *ln = g ? strtok(g, "\n") : NULL; ln && i < n; ln = strtok(NULL, "\n"), i++) {
        gold[i] = -1;
        for (int c = 0; c < C; c++)
            if (!strcmp(ln, names[c])) gold[i] = c;
    }
    CHECK(i == n);
    i = 0;
    char *save = NULL;
    int header = 1;
    for (char *ln = pr ? strtok_r(pr, "\n", &save) : NULL; ln && i < n; ln = strtok_r(NULL, "\n", &save)) {
        if (header) {
            header = 0;
            continue;
        }
        char *tab = strchr(ln, '\t');
        for (int c = 0; c < C && tab; c++) {
            double p = strtod(tab + 1, &tab);
            lp[i * C + c] = (float)log(p); /* ln 0 = -inf: a class given nothing */
        }
        i++;
    }
    CHECK(i == n);
    lmf_cmetrics m;
    CHECK(lmf_cmetrics_compute(gold, lp, n, C, &m) == LMF_OK);
    CHECK_CLOSE(m.accuracy, jnum(e, "accuracy"), 1e-12, 0);
    CHECK_CLOSE(m.macro_f1, jnum(e, "macro_f1"), 1e-12, 0);
    CHECK_CLOSE(m.micro_f1, jnum(e, "micro_f1"), 1e-12, 0);
    CHECK_CLOSE(m.weighted_f1, jnum(e, "weighted_f1"), 1e-12, 0);
    const cJSON *ma = cJSON_GetObjectItemCaseSensitive(e, "macro_avg");
    CHECK_CLOSE(m.macro_precision, jnum(ma, "precision"), 1e-12, 0);
    CHECK_CLOSE(m.macro_recall, jnum(ma, "recall"), 1e-12, 0);
    const cJSON *pc = cJSON_GetObjectItemCaseSensitive(e, "per_class");
    for (int c = 0; c < C; c++) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(pc, names[c]);
        CHECK_CLOSE(m.precision[c], jnum(o, "precision"), 1e-12, 0);
        CHECK_CLOSE(m.recall[c], jnum(o, "recall"), 1e-12, 0);
        CHECK_CLOSE(m.f1[c], jnum(o, "f1"), 1e-12, 0);
        CHECK(m.support[c] == (size_t)jnum(o, "support"));
    }
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(e, "confusion_matrix");
    for (int a = 0; a < C; a++)
        for (int b = 0; b < C; b++)
            CHECK(m.confusion[a * C + b] == (size_t)cJSON_GetArrayItem(cJSON_GetArrayItem(cm, a), b)->valuedouble);
    if (C == 2) {
        CHECK_CLOSE(m.roc_auc, jnum(e, "roc_auc"), 1e-12, 0);
        CHECK(m.fp == (size_t)jnum(e, "fp") && m.fn == (size_t)jnum(e, "fn"));
    }
    lmf_cmetrics_free(&m);
    cJSON_Delete(e);
    free(js), free(g), free(pr), free(gold), free(lp);
}

int main(void) {
    test_reader();
    test_lm_classifier();
    test_stacking_out_of_fold();
    test_fusion();
    test_folds();
    test_bayesopt();
    test_nb();
    test_docs_concat();
    test_stack_balanced();
    test_metrics_fixture("three");
    test_metrics_fixture("three_nogold");
    test_metrics_fixture("two");
    TEST_MAIN_END();
}
