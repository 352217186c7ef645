/* Taggers (lmf/tag.h, src/tag/).
 * - The HMM against an independent implementation (dev/gen_tag_fixtures.py:
 *   the model from its definition, the answers by enumerating every tag
 *   sequence): best sequences and posterior marginals, first and second
 *   order, known and unknown words.
 * - Invariants: marginals and the perceptron's distributions sum to 1, the
 *   best tag of the perceptron is the argmax of its distribution, a saved and
 *   loaded tagger gives the same bits, evaluation counts by hand.
 * - The CoNLL reader's errors name the line; out-of-memory at every
 *   allocation of training, loading and tagging fails cleanly. */
#include "test.h"

#include "lmf/tag.h"
#include "../src/tag/tag_impl.h"

#define TINY TEST_DATA_DIR "/tag-tiny.train.conll"

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = (char *)malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

static lmf_tagger *train_hmm(const lmf_tagged *c, int order, double beam) {
    lmf_tagger_opts o;
    lmf_tagger_opts_init(&o);
    o.order = order;
    o.beam = beam;
    lmf_tagger *t = NULL;
    CHECK_MSG(lmf_tagger_train(&o, c, &t) == LMF_OK, "%s", lmf_last_error());
    return t;
}

/* The fixture's blocks: order, words, best, marginals. */
static void test_hmm_reference(void) {
    lmf_tagged *c;
    CHECK_MSG(lmf_tagged_read(TINY, 1, &c) == LMF_OK, "%s", lmf_last_error());
    if (!c) return;
    lmf_tagger *h[2] = {train_hmm(c, 1, 0), train_hmm(c, 2, 0)};
    char *text = read_text(TEST_DATA_DIR "/tag-tiny.expect");
    CHECK(text != NULL);
    char *lines[256];
    int nl = 0;
    for (char *p = text, *q; p && *p && nl < 256; p = q ? q + 1 : NULL) {
        q = strchr(p, '\n');
        if (q) *q = 0;
        lines[nl++] = p;
    }
    int blocks = 0;
    for (int li = 0; li < nl && h[0] && h[1];) {
        int order = 0;
        CHECK(sscanf(lines[li++], "order %d", &order) == 1);
        if (order != 1 && order != 2) break;
        lmf_tagger *t = h[order - 1];
        const char *words[16], *best[16];
        size_t n = 0, nb = 0;
        for (char *w = strtok(lines[li++] + 6, " "); w && n < 16; w = strtok(NULL, " ")) words[n++] = w;
        for (char *w = strtok(lines[li++] + 5, " "); w && nb < 16; w = strtok(NULL, " ")) best[nb++] = w;
        CHECK(nb == n);
        const int T = lmf_tagger_ntags(t);
        int got[16];
        float lp[16 * 8];
        CHECK(T == 5);
        if (T != 5 || nb != n || li + (int)n > nl) break;
        CHECK_MSG(lmf_tagger_run(t, words, n, got, lp) == LMF_OK, "%s", lmf_last_error());
        for (size_t i = 0; i < n; i++)
            CHECK_MSG(!strcmp(lmf_tagger_tag_name(t, got[i]), best[i]), "order %d, %s: token %zu tagged %s, brute force %s",
                      order, words[0], i, lmf_tagger_tag_name(t, got[i]), best[i]);
        for (size_t i = 0; i < n; i++) {
            char *p = lines[li++];
            double sum = 0;
            for (int k = 0; k < T; k++) {
                double want = strtod(p, &p);
                double have = exp((double)lp[i * T + k]);
                sum += have;
                CHECK_MSG(fabs(have - want) <= 2e-6 + 2e-5 * want, "order %d, %s..., token %zu, tag %d: %.9g vs %.9g",
                          order, words[0], i, k, have, want);
            }
            CHECK_CLOSE(sum, 1.0, 1e-6, 0);
        }
        blocks++;
    }
    CHECK(blocks == 10);
    free(text);
    lmf_tagger_free(h[0]);
    lmf_tagger_free(h[1]);
    lmf_tagged_free(c);
}

/* Distributions sum to 1; best = argmax for the perceptron; saving and
 * loading keeps every bit. */
static void test_invariants_and_files(void) {
    lmf_tagged *c;
    CHECK(lmf_tagged_read(TINY, 1, &c) == LMF_OK);
    if (!c) return;
    lmf_tagger_opts o;
    lmf_tagger_opts_init(&o);
    const char *sent[] = {"Rex", "sees", "the", "bluish", "Zorbatron", "walk", "-", "1960s"};
    const size_t n = sizeof sent / sizeof *sent;
    for (int kind = 0; kind < 2; kind++) {
        o.kind = kind ? LMF_TAGGER_PERCEPTRON : LMF_TAGGER_HMM;
        lmf_tagger *t = NULL, *u = NULL;
        CHECK_MSG(lmf_tagger_train(&o, c, &t) == LMF_OK, "%s", lmf_last_error());
        if (!t) continue;
        const int T = lmf_tagger_ntags(t);
        int best[8], best2[8];
        float lp[8 * 5], lp2[8 * 5];
        CHECK(lmf_tagger_run(t, sent, n, best, lp) == LMF_OK);
        for (size_t i = 0; i < n; i++) {
            double z = 0;
            int am = 0;
            for (int k = 0; k < T; k++) {
                z += exp((double)lp[i * T + k]);
                if (lp[i * T + k] > lp[i * T + am]) am = k;
            }
            CHECK_CLOSE(z, 1.0, 1e-5, 0);
            if (kind) CHECK(best[i] == am);
        }
        const char *path = kind ? TEST_TMP_DIR "/perc.lmft" : TEST_TMP_DIR "/hmm.lmft";
        CHECK_MSG(lmf_tagger_save(t, path) == LMF_OK, "%s", lmf_last_error());
        CHECK_MSG(lmf_tagger_load(path, &u) == LMF_OK, "%s", lmf_last_error());
        if (u) {
            CHECK(lmf_tagger_kind_of(u) == o.kind);
            CHECK(lmf_tagger_run(u, sent, n, best2, lp2) == LMF_OK);
            CHECK(!memcmp(best, best2, sizeof best));
            CHECK(!memcmp(lp, lp2, n * (size_t)T * sizeof *lp));
            CHECK(lmf_tagger_knows(u, "Rex") && !lmf_tagger_knows(u, "Zorbatron"));
        }
        /* the best sequence alone equals the one given with the distributions */
        CHECK(lmf_tagger_run(t, sent, n, best2, NULL) == LMF_OK);
        CHECK(!memcmp(best, best2, sizeof best));
        lmf_tagger_free(u);
        lmf_tagger_free(t);
    }
    lmf_tagged_free(c);
}

/* Evaluation counted by hand: a perfect tagger on its training text, and a
 * gold file with one tag training never saw. */
static void test_evaluate(void) {
    lmf_tagged *c, *g;
    CHECK(lmf_tagged_read(TINY, 1, &c) == LMF_OK);
    const char *gold = "the\tdt\nZorb\tnn\n\nRex\tnp\nruns\tzz\n";
    CHECK(lmf_tagged_read_mem(gold, strlen(gold), "gold", 1, &g) == LMF_OK);
    if (!c || !g) return;
    lmf_tagger *t = train_hmm(c, 2, 1000);
    lmf_tag_eval ev;
    if (t && lmf_tag_evaluate(t, g, NULL, NULL, &ev) == LMF_OK) {
        CHECK(ev.tokens == 4 && ev.sentences == 2);
        CHECK(ev.unseen == 1 && ev.unseen_line == 5 && !strcmp(ev.unseen_tag, "zz"));
        CHECK(ev.known == 3 && ev.unknown == 1);
        CHECK(ev.correct <= 3 && ev.sentences_correct <= 1);
        size_t tp = 0, fp = 0, fn = 0;
        for (int k = 0; k < ev.ntags; k++) tp += ev.tp[k], fp += ev.fp[k], fn += ev.fn[k];
        CHECK(tp == ev.correct && fp == ev.tokens - ev.correct && fn == ev.tokens - ev.correct - ev.unseen);
        lmf_tag_eval_free(&ev);
    } else {
        CHECK(0);
    }
    lmf_tagger_free(t);
    lmf_tagged_free(g);
    lmf_tagged_free(c);
}

static void expect_bad(const char *text, int need_tags, const char *msg) {
    lmf_tagged *c = NULL;
    lmf_status s = lmf_tagged_read_mem(text, strlen(text) + (text[0] == 'N'), "in.conll", need_tags, &c);
    CHECK_MSG(s == LMF_ERR_FORMAT && c == NULL && strstr(lmf_last_error(), msg), "\"%s\": %d %s", text, s, lmf_last_error());
    lmf_tagged_free(c);
}

static void test_reader(void) {
    expect_bad("a\tdt\nb dt\n", 1, "in.conll line 2: no tab");
    expect_bad("a\tdt\n\n\tnn\n", 1, "line 3: an empty word");
    expect_bad("a\tdt\nb\t\n", 1, "line 2: an empty tag");
    expect_bad("", 1, "in.conll: no tokens");
    expect_bad("\n\n\r\n", 0, "no tokens");
    expect_bad("a\tdt\n\xff\tnn\n", 1, "line 2, byte 1: invalid UTF-8");
    expect_bad("N\tdt\n", 1, "line 2: a NUL byte"); /* the NUL is the byte after the text */
    lmf_tagged *c = NULL;
    const char *ok = "a\tx\tdt\r\nb\tnn\n\n\nc\tvb";
    CHECK(lmf_tagged_read_mem(ok, strlen(ok), "ok", 1, &c) == LMF_OK);
    if (c) {
        CHECK(lmf_tagged_nsent(c) == 2 && lmf_tagged_ntok(c) == 3);
        CHECK(!strcmp(lmf_tagged_tag(c, 0), "dt") && !strcmp(lmf_tagged_word(c, 0), "a"));
        CHECK(lmf_tagged_line(c, 2) == 5);
    }
    lmf_tagged_free(c);
    /* without tags a line is its first column */
    CHECK(lmf_tagged_read_mem(ok, strlen(ok), "ok", 0, &c) == LMF_OK);
    if (c) CHECK(lmf_tagged_tag(c, 0) == NULL && !strcmp(lmf_tagged_word(c, 1), "b"));
    lmf_tagged_free(c);
}

/* Every allocation of training, saving, loading and tagging may fail. */
static void test_alloc_failures(void) {
    lmf_tagged *c;
    CHECK(lmf_tagged_read(TINY, 1, &c) == LMF_OK);
    if (!c) return;
    const char *sent[] = {"the", "Zorb", "runs"};
    for (int kind = 0; kind < 2; kind++) {
        lmf_tagger_opts o;
        lmf_tagger_opts_init(&o);
        o.kind = kind ? LMF_TAGGER_PERCEPTRON : LMF_TAGGER_HMM;
        const char *path = TEST_TMP_DIR "/alloc.lmft";
        int done = 0;
        for (uint64_t k = 1; k < 100000 && !done; k++) {
            lmf_tagger *t = NULL, *u = NULL;
            int best[3];
            float lp[3 * 8];
            lmf_alloc_fail_after(k);
            lmf_status s = lmf_tagger_train(&o, c, &t);
            if (!s) s = lmf_tagger_save(t, path);
            if (!s) s = lmf_tagger_load(path, &u);
            if (!s) s = lmf_tagger_run(u, sent, 3, best, lp);
            lmf_alloc_fail_after(0);
            CHECK_MSG(s == LMF_OK || s == LMF_ERR_NOMEM, "kind %d, failing allocation %llu: %d %s", kind,
                      (unsigned long long)k, s, lmf_last_error());
            if (s == LMF_ERR_NOMEM && !t) CHECK(t == NULL);
            done = s == LMF_OK;
            lmf_tagger_free(u);
            lmf_tagger_free(t);
        }
        CHECK(done);
    }
    lmf_tagged_free(c);
}

static lmf_tagger *train_kind(const lmf_tagged *c, lmf_tagger_kind kind, int reverse) {
    lmf_tagger_opts o;
    lmf_tagger_opts_init(&o);
    o.kind = kind;
    o.reverse = reverse;
    lmf_tagger *t = NULL;
    CHECK_MSG(lmf_tagger_train(&o, c, &t) == LMF_OK, "%s", lmf_last_error());
    return t;
}

/* A fusion with all the weight on one member gives that member's tags and
 * (up to the 1e-6 smoothing) its distributions; saved and loaded it gives
 * the same bits; members with other tags are refused. */
static void test_fusion(void) {
    lmf_tagged *c;
    CHECK(lmf_tagged_read(TINY, 1, &c) == LMF_OK);
    if (!c) return;
    const char *sent[] = {"Rex", "sees", "the", "bluish", "Zorbatron", "walk"};
    const size_t n = 6;
    const char *hp = TEST_TMP_DIR "/fu_hmm.lmft", *pp = TEST_TMP_DIR "/fu_perc.lmft";
    lmf_tagger *h = train_kind(c, LMF_TAGGER_HMM, 0), *p = train_kind(c, LMF_TAGGER_PERCEPTRON, 1);
    if (!h || !p) return;
    CHECK(lmf_tagger_save(h, hp) == LMF_OK && lmf_tagger_save(p, pp) == LMF_OK);
    int hb[6], fb[6], fb2[6];
    float hl[6 * 5], fl[6 * 5], fl2[6 * 5];
    CHECK(lmf_tagger_run(p, sent, n, hb, hl) == LMF_OK);
    const double w[2] = {0, 1};
    for (int comb = 0; comb < 3; comb++) {
        lmf_tagfuse_opts o;
        lmf_tagfuse_opts_init(&o);
        o.comb.comb = comb == 0 ? LMF_COMB_LINEAR : comb == 1 ? LMF_COMB_LOGLINEAR : LMF_COMB_VOTE;
        o.comb.weights = w;
        if (comb == 2) o.decisions = 1, o.comb.top_k = 1, o.comb.vote_mass = 1;
        lmf_tagger *m[2] = {NULL, NULL}, *f = NULL, *g = NULL;
        CHECK(lmf_tagger_load(hp, &m[0]) == LMF_OK && lmf_tagger_load(pp, &m[1]) == LMF_OK);
        const char *paths[2] = {hp, pp};
        CHECK_MSG(lmf_tagger_fusion_new(m, paths, 2, &o, NULL, &f) == LMF_OK, "%s", lmf_last_error());
        if (!f) continue;
        CHECK(lmf_tagger_run(f, sent, n, fb, fl) == LMF_OK);
        CHECK(!memcmp(hb, fb, sizeof hb));
        for (size_t i = 0; comb < 2 && i < n * 5; i++) CHECK_CLOSE(exp(fl[i]), exp(hl[i]), 2e-6, 0);
        const char *fp = TEST_TMP_DIR "/fu.json";
        CHECK_MSG(lmf_tagger_save(f, fp) == LMF_OK, "%s", lmf_last_error());
        CHECK_MSG(lmf_tagger_load(fp, &g) == LMF_OK, "%s", lmf_last_error());
        if (g) {
            CHECK(lmf_tagger_kind_of(g) == LMF_TAGGER_FUSION);
            CHECK(lmf_tagger_run(g, sent, n, fb2, fl2) == LMF_OK);
            CHECK(!memcmp(fb, fb2, sizeof fb) && !memcmp(fl, fl2, sizeof fl));
        }
        lmf_tagger_free(g);
        lmf_tagger_free(f);
    }
    /* other tags: refused */
    const char *other = "the\tdt\ncat\tzz\n";
    lmf_tagged *oc = NULL;
    CHECK(lmf_tagged_read_mem(other, strlen(other), "other", 1, &oc) == LMF_OK);
    lmf_tagger *m2[2] = {train_kind(c, LMF_TAGGER_HMM, 0), oc ? train_kind(oc, LMF_TAGGER_HMM, 0) : NULL}, *f2 = NULL;
    lmf_tagfuse_opts o;
    lmf_tagfuse_opts_init(&o);
    if (m2[0] && m2[1]) {
        CHECK(lmf_tagger_fusion_new(m2, NULL, 2, &o, NULL, &f2) == LMF_ERR_ARG && f2 == NULL);
        CHECK(strstr(lmf_last_error(), "other tags") != NULL);
    }
    lmf_tagged_free(oc);
    lmf_tagger_free(h);
    lmf_tagger_free(p);
    lmf_tagged_free(c);
}

/* Stacking: the out-of-fold outputs come from members that never saw the
 * sentence (a word found in one sentence only is unknown to the model that
 * tags it, words of other sentences are known), and a stack saved and loaded
 * gives the same bits. */
static void test_stack(void) {
    char text[8192];
    size_t len = 0;
    for (int i = 0; i < 30; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "the\tdt\nuniq%d\tnn\n%s\tvb\n\n", i, i % 2 ? "runs" : "walks");
    lmf_tagged *c = NULL;
    CHECK(lmf_tagged_read_mem(text, len, "uniq", 1, &c) == LMF_OK);
    if (!c) return;
    lmf_tagger *m[2] = {train_kind(c, LMF_TAGGER_HMM, 0), train_kind(c, LMF_TAGGER_PERCEPTRON, 0)};
    if (!m[0] || !m[1]) return;
    const size_t n = lmf_tagged_ntok(c);
    int *best = (int *)calloc(2 * n, sizeof *best);
    float *conf = (float *)calloc(2 * n, sizeof *conf);
    unsigned char *known = (unsigned char *)calloc(2 * n, 1);
    CHECK_MSG(lmf_tag_oof(m, 2, c, 3, best, conf, known) == LMF_OK, "%s", lmf_last_error());
    int leaks = 0, blind = 0;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < n; i++) {
            const int uniq = !strncmp(lmf_tagged_word(c, i), "uniq", 4);
            leaks += uniq && known[k * n + i];
            blind += !uniq && !known[k * n + i];
            CHECK(conf[k * n + i] > 0 && conf[k * n + i] <= 1.0f + 1e-6f);
        }
    CHECK_MSG(leaks == 0, "%d tokens tagged by a fold model that trained on them", leaks);
    CHECK(blind == 0);
    free(best);
    free(conf);
    free(known);
    /* a stack: fitted out of fold, saved, loaded */
    const char *paths[2] = {TEST_TMP_DIR "/st_hmm.lmft", TEST_TMP_DIR "/st_perc.lmft"};
    CHECK(lmf_tagger_save(m[0], paths[0]) == LMF_OK && lmf_tagger_save(m[1], paths[1]) == LMF_OK);
    lmf_tagstack_opts o;
    lmf_tagstack_opts_init(&o);
    o.folds = 3;
    lmf_tagger *st = NULL, *st2 = NULL;
    CHECK_MSG(lmf_tagger_stack_fit(m, paths, 2, c, NULL, &o, &st) == LMF_OK, "%s", lmf_last_error());
    if (st) {
        const char *sent[] = {"the", "uniq3", "runs"};
        int b1[3], b2[3];
        float l1[3 * 3], l2[3 * 3];
        CHECK(lmf_tagger_ntags(st) == 3);
        CHECK(lmf_tagger_run(st, sent, 3, b1, l1) == LMF_OK);
        CHECK(!strcmp(lmf_tagger_tag_name(st, b1[0]), "dt") && !strcmp(lmf_tagger_tag_name(st, b1[2]), "vb"));
        CHECK(lmf_tagger_save(st, TEST_TMP_DIR "/st.lmft") == LMF_OK);
        CHECK_MSG(lmf_tagger_load(TEST_TMP_DIR "/st.lmft", &st2) == LMF_OK, "%s", lmf_last_error());
        if (st2) {
            CHECK(lmf_tagger_run(st2, sent, 3, b2, l2) == LMF_OK);
            CHECK(!memcmp(b1, b2, sizeof b1) && !memcmp(l1, l2, sizeof l1));
        }
    }
    lmf_tagger_free(st2);
    lmf_tagger_free(st);
    lmf_tagged_free(c);
}

/* The neural tagger's gradient (both networks, the softmax layer, the
 * character features) against central finite differences of its loss, for
 * each architecture; a trained one saved and loaded tags with the same bits. */
static void test_neural(void) {
    lmf_tagged *c;
    CHECK(lmf_tagged_read(TINY, 1, &c) == LMF_OK);
    if (!c) return;
    static const char *const archs[] = {"rnn", "lstm", "gru", "transformer"};
    for (int a = 0; a < 4; a++) {
        lmf_tagger_opts o;
        lmf_tagger_opts_init(&o);
        o.kind = LMF_TAGGER_NEURAL;
        o.nn_arch = archs[a];
        o.nn_hidden = o.nn_emb = 8;
        o.nn_epochs = 1;
        o.nn_dropout = 0;
        lmf_tagger *t = NULL;
        CHECK_MSG(lmf_tagger_train(&o, c, &t) == LMF_OK, "%s: %s", archs[a], lmf_last_error());
        if (!t) continue;
        float *p0, *p1, *p2, *g0, *g1, *g2, **pp[3] = {&p0, &p1, &p2}, **gg[3] = {&g0, &g1, &g2};
        size_t n[3];
        lmf_neural_params(t, pp, gg, n);
        double loss;
        CHECK(lmf_neural_loss_grad(t, c, &loss) == LMF_OK);
        size_t a0, a1;
        lmf_tagged_sentence(c, 0, &a0, &a1);
        const double r = (double)(a1 - a0);
        /* the largest gradients of each group, and a few others */
        float *P[3] = {p0, p1, p2}, *G[3] = {g0, g1, g2}, *gcopy[3];
        for (int k = 0; k < 3; k++) {
            gcopy[k] = (float *)malloc(n[k] * sizeof(float));
            memcpy(gcopy[k], G[k], n[k] * sizeof(float));
        }
        int checked = 0, bad = 0;
        for (int k = 0; k < 3; k++)
            for (int pick = 0; pick < 6; pick++) {
                size_t j = 0;
                if (pick < 3) { /* the pick-th largest |gradient| */
                    float lim = INFINITY, best = -1;
                    for (int q = 0; q <= pick; q++) {
                        best = -1;
                        for (size_t i = 0; i < n[k]; i++)
                            if (fabsf(gcopy[k][i]) < lim && fabsf(gcopy[k][i]) > best) best = fabsf(gcopy[k][i]), j = i;
                        lim = best;
                    }
                } else {
                    j = (size_t)(pick * 7919 + a * 104729) % n[k];
                }
                const float keep = P[k][j], eps = 1e-2f;
                double lp, lm;
                P[k][j] = keep + eps;
                CHECK(lmf_neural_loss_grad(t, c, &lp) == LMF_OK);
                P[k][j] = keep - eps;
                CHECK(lmf_neural_loss_grad(t, c, &lm) == LMF_OK);
                P[k][j] = keep;
                const double fd = (lp - lm) / (2 * eps) / r, an = gcopy[k][j];
                checked++;
                if (fabs(fd - an) > 2e-3 + 5e-2 * fabs(an)) {
                    bad++;
                    fprintf(stderr, "%s: group %d, parameter %zu: finite difference %.6g, gradient %.6g\n", archs[a], k, j, fd, an);
                }
            }
        CHECK_MSG(bad == 0, "%s: %d of %d gradients off", archs[a], bad, checked);
        for (int k = 0; k < 3; k++) free(gcopy[k]);
        /* saved and loaded: the same bits */
        const char *sent[] = {"Rex", "sees", "the", "Zorbatron"};
        int b1[4], b2[4];
        float l1[4 * 5], l2[4 * 5];
        lmf_tagger *u = NULL;
        CHECK(lmf_tagger_run(t, sent, 4, b1, l1) == LMF_OK);
        CHECK_MSG(lmf_tagger_save(t, TEST_TMP_DIR "/nn.lmft") == LMF_OK, "%s", lmf_last_error());
        CHECK_MSG(lmf_tagger_load(TEST_TMP_DIR "/nn.lmft", &u) == LMF_OK, "%s", lmf_last_error());
        if (u) {
            CHECK(lmf_tagger_run(u, sent, 4, b2, l2) == LMF_OK);
            CHECK(!memcmp(b1, b2, sizeof b1) && !memcmp(l1, l2, sizeof l1));
        }
        lmf_tagger_free(u);
        lmf_tagger_free(t);
    }
    lmf_tagged_free(c);
}

int main(void) {
    test_hmm_reference();
    test_invariants_and_files();
    test_evaluate();
    test_reader();
    test_alloc_failures();
    test_fusion();
    test_stack();
    test_neural();
    TEST_MAIN_END();
}
