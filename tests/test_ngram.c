/* N-gram tests: estimation against an independent reference
 * (dev/kn_reference.py), exact invariants, ARPA/binary round trips, ARPA
 * dialects, malformed and corrupt files, allocation failures. */
#include "test.h"

#include "lmf/eval.h"
#include "lmf/ngram.h"

#define LN10 2.302585092994045684

static void quiet_log(lmf_log_level l, const char *m, void *c) {
    (void)l;
    (void)m;
    (void)c;
}

/* Scores text with model m; returns malloc'd per-token log10 probs. */
static float *score_file(lmf_model *m, const char *text, size_t *n) {
    lmf_tokens t;
    lmf_status s = lmf_tokens_read_file(text, lmf_model_vocab(m), NULL, &t);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    if (s) return NULL;
    float *lp = malloc(t.n * sizeof *lp);
    CHECK(lmf_model_score(m, NULL, t.ids, t.n, lp) == LMF_OK);
    for (size_t i = 0; i < t.n; i++) lp[i] = (float)(lp[i] / LN10);
    *n = t.n;
    lmf_tokens_free(&t);
    return lp;
}

static double *read_expected(const char *path, size_t *n) {
    FILE *fp = fopen(path, "r");
    CHECK_MSG(fp != NULL, "cannot open %s", path);
    if (!fp) return NULL;
    size_t cap = 1024, k = 0;
    double *v = malloc(cap * sizeof *v);
    char line[256];
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        if (k == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[k++] = strtod(line, NULL);
    }
    fclose(fp);
    *n = k;
    return v;
}

/* Every next-token distribution along the text sums to 1 (within 1e-5) and
 * has no NaN, and every entry equals the word's own query (the whole
 * distribution is built order by order, not word by word). */
static void check_sums(lmf_model *m, const char *text, size_t stride) {
    lmf_tokens t;
    CHECK(lmf_tokens_read_file(text, lmf_model_vocab(m), NULL, &t) == LMF_OK);
    int32_t V = lmf_vocab_size(lmf_model_vocab(m));
    float *d = malloc((size_t)V * sizeof *d);
    lmf_state *st = lmf_state_new(m);
    int bad = 0, differ = 0;
    double worst = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (i % stride == 0) {
            CHECK(lmf_model_next(m, st, d) == LMF_OK);
            double sum = 0;
            for (int32_t w = 0; w < V; w++) {
                if (isnan(d[w])) bad++;
                sum += exp((double)d[w]);
            }
            if (fabs(sum - 1) > worst) worst = fabs(sum - 1);
            lmf_state *cp = lmf_state_new(m);
            for (int32_t w = 0; w < V; w++) {
                float lp;
                lmf_state_copy(m, cp, st);
                lmf_model_score(m, cp, &w, 1, &lp);
                if (lp != d[w] && !differ++)
                    CHECK_MSG(0, "position %zu word %d: next() gives %.9g, the query %.9g", i, (int)w, d[w], lp);
            }
            lmf_state_free(m, cp);
        }
        lmf_model_feed(m, st, t.ids[i]);
    }
    CHECK_MSG(bad == 0, "%d NaN probabilities", bad);
    CHECK_MSG(worst <= 1e-5, "a distribution sums to 1%+g", worst);
    lmf_state_free(m, st);
    free(d);
    lmf_tokens_free(&t);
}

/* The batched scorer (several lines at once) equals word-by-word queries,
 * and scoring in chunks with a carried state equals one call. */
static void check_batched(lmf_model *m, const char *text) {
    lmf_tokens t;
    CHECK(lmf_tokens_read_file(text, lmf_model_vocab(m), NULL, &t) == LMF_OK);
    float *whole = malloc(t.n * sizeof *whole), *chunked = malloc(t.n * sizeof *chunked);
    float *single = malloc(t.n * sizeof *single);
    CHECK(lmf_model_score(m, NULL, t.ids, t.n, whole) == LMF_OK);
    lmf_state *st = lmf_state_new(m);
    size_t cuts[] = {0, 1, 7, 8, 100, 555, 556, 1000, t.n};
    for (size_t c = 0; c + 1 < sizeof cuts / sizeof *cuts; c++) {
        size_t a = cuts[c] < t.n ? cuts[c] : t.n, b = cuts[c + 1] < t.n ? cuts[c + 1] : t.n;
        if (b > a) CHECK(lmf_model_score(m, st, t.ids + a, b - a, chunked + a) == LMF_OK);
    }
    lmf_state_reset(m, st);
    float d;
    for (size_t i = 0; i < t.n; i++) {
        CHECK(lmf_model_score(m, st, t.ids + i, 1, &d) == LMF_OK);
        single[i] = d;
    }
    CHECK(!memcmp(whole, chunked, t.n * sizeof *whole));
    CHECK(!memcmp(whole, single, t.n * sizeof *whole));
    lmf_state_free(m, st);
    free(whole);
    free(chunked);
    free(single);
    lmf_tokens_free(&t);
}

static void test_reference(int order) {
    lmf_ngram_train_opts o;
    lmf_ngram_train_opts_init(&o);
    o.order = order;
    lmf_ngram *ng;
    lmf_status s = lmf_ngram_train(tdata("brown-mini.train.txt"), &o, &ng, NULL);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    if (s) return;
    char name[64];
    snprintf(name, sizeof name, "brown-mini.kn%d.expected", order);
    size_t ne, n1, n2, n3;
    double *ref = read_expected(tdata(name), &ne);
    float *a = score_file(lmf_ngram_model(ng), tdata("brown-mini.test.txt"), &n1);
    CHECK(ref && a && ne == n1);
    if (ref && a && ne == n1) {
        double worst = 0;
        for (size_t i = 0; i < n1; i++) worst = fmax(worst, fabs(a[i] - ref[i]) / fmax(1.0, fabs(ref[i])));
        CHECK_MSG(worst < 2e-6, "order %d: worst relative difference to the reference %.3g", order, worst);
    }
    /* ARPA and binary round trips give identical scores */
    CHECK(lmf_ngram_write_arpa(ng, tmp_path("rt.arpa")) == LMF_OK);
    CHECK(lmf_ngram_write_binary(ng, tmp_path("rt.lmfb")) == LMF_OK);
    lmf_model *ma = NULL, *mb = NULL;
    CHECK_MSG(lmf_model_load(tmp_path("rt.arpa"), &ma) == LMF_OK, "%s", lmf_last_error());
    CHECK_MSG(lmf_model_load(tmp_path("rt.lmfb"), &mb) == LMF_OK, "%s", lmf_last_error());
    if (ma && mb) {
        float *b = score_file(ma, tdata("brown-mini.test.txt"), &n2);
        float *c = score_file(mb, tdata("brown-mini.test.txt"), &n3);
        CHECK(n2 == n1 && n3 == n1 && !memcmp(a, b, n1 * sizeof *a) && !memcmp(a, c, n1 * sizeof *a));
        free(b);
        free(c);
        /* ARPA -> binary -> ARPA gives the same file */
        lmf_ngram *nb = lmf_ngram_from_model(mb);
        CHECK(lmf_ngram_write_arpa(nb, tmp_path("rt2.arpa")) == LMF_OK);
        FILE *f1 = fopen(tmp_path("rt.arpa"), "rb"), *f2 = fopen(tmp_path("rt2.arpa"), "rb");
        int same = f1 && f2;
        while (same) {
            int c1 = fgetc(f1), c2 = fgetc(f2);
            if (c1 != c2) same = 0;
            if (c1 == EOF) break;
        }
        if (f1) fclose(f1);
        if (f2) fclose(f2);
        CHECK_MSG(same, "ARPA -> binary -> ARPA changed the file");
        check_sums(mb, tdata("brown-mini.test.txt"), order == 1 ? 50 : 17);
    }
    check_sums(lmf_ngram_model(ng), tdata("brown-mini.valid.txt"), 97);
    check_batched(lmf_ngram_model(ng), tdata("brown-mini.valid.txt"));
    lmf_model_free(ma);
    lmf_model_free(mb);
    free(ref);
    free(a);
    lmf_ngram_free(ng);
}

static void test_prune_and_fallback(void) {
    lmf_ngram_train_opts o;
    lmf_ngram_train_opts_init(&o);
    o.order = 4;
    o.prune[2] = 1;
    o.prune[3] = 1;
    lmf_ngram *full, *pr;
    CHECK(lmf_ngram_train(tdata("brown-mini.train.txt"), NULL, &full, NULL) == LMF_OK);
    CHECK(lmf_ngram_train(tdata("brown-mini.train.txt"), &o, &pr, NULL) == LMF_OK);
    if (pr) {
        CHECK(lmf_ngram_count(pr, 3) < lmf_ngram_count(full, 3));
        CHECK(lmf_ngram_count(pr, 2) == lmf_ngram_count(full, 2));
        check_sums(lmf_ngram_model(pr), tdata("brown-mini.test.txt"), 13);
    }
    lmf_ngram_free(full);
    lmf_ngram_free(pr);

    /* tiny data: the discount formula breaks; fallback is used, and says so */
    write_file(tmp_path("tiny.txt"), "a b\nb a c\n", 10);
    lmf_ngram_train_info info;
    lmf_ngram *t;
    CHECK(lmf_ngram_train(tmp_path("tiny.txt"), NULL, &t, &info) == LMF_OK);
    CHECK(info.used_fallback[4] == 1 && info.discount[4][0] == 0.5);
    if (t) check_sums(lmf_ngram_model(t), tmp_path("tiny.txt"), 1);
    lmf_ngram_free(t);

    /* only empty lines: valid (every line is a lone </s>) */
    char *blank = malloc(5000);
    memset(blank, '\n', 5000);
    write_file(tmp_path("blank.txt"), blank, 5000);
    free(blank);
    CHECK_MSG(lmf_ngram_train(tmp_path("blank.txt"), NULL, &t, &info) == LMF_OK, "%s", lmf_last_error());
    CHECK(t && info.tokens == 5000 && info.lines == 5000);
    if (t) check_sums(lmf_ngram_model(t), tmp_path("tiny.txt"), 1);
    lmf_ngram_free(t);

    /* empty text and bad order are clear errors */
    write_file(tmp_path("empty.txt"), "", 0);
    CHECK(lmf_ngram_train(tmp_path("empty.txt"), NULL, &t, NULL) == LMF_ERR_DATA && t == NULL);
    CHECK(strstr(lmf_last_error(), "empty") != NULL);
    o.order = 7;
    CHECK(lmf_ngram_train(tdata("brown-mini.train.txt"), &o, &t, NULL) == LMF_ERR_ARG);
    write_file(tmp_path("reserved.txt"), "a b\nx </s> y\n", 13);
    CHECK(lmf_ngram_train(tmp_path("reserved.txt"), NULL, &t, NULL) == LMF_ERR_FORMAT);
    CHECK(strstr(lmf_last_error(), ":2:") != NULL);
}

/* A hand-written ARPA file in SRILM style: comment before \data\, missing
 * backoffs, no <unk>, unsorted entries, CRLF variant.  Expected values are
 * worked out by hand from the back-off rule. */
static const char *hand_arpa =
    "Hand-written test model; this line is a comment before the data section.\n"
    "\\data\\\n"
    "ngram 1=5\n"
    "ngram 2=4\n"
    "ngram 3=2\n"
    "\n"
    "\\1-grams:\n"
    "-0.8\tb\t-0.3\n"
    "-99\t<s>\t-0.2\n"
    "-1.0\ta\t-0.5\n"
    "-0.6\t</s>\n"
    "-1.2\tc\n"
    "\n"
    "\\2-grams:\n"
    "-0.25\tb </s>\n"
    "-0.4\ta b\t-0.1\n"
    "-0.3\t<s> a\t-0.05\n"
    "-0.7\tb c\n"
    "\n"
    "\\3-grams:\n"
    "-0.15\ta b c\n"
    "-0.35\t<s> a b\n"
    "\n"
    "\\end\\\n";

static void check_hand_model(const char *path) {
    lmf_model *m;
    lmf_status s = lmf_model_load(path, &m);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    if (s) return;
    const lmf_vocab *v = lmf_model_vocab(m);
    int32_t a = lmf_vocab_find(v, "a", 1), b = lmf_vocab_find(v, "b", 1), c = lmf_vocab_find(v, "c", 1);
    /* line "a b c a": */
    int32_t toks[] = {a, b, c, a, LMF_EOS, c, LMF_EOS};
    float lp[7];
    CHECK(lmf_model_score(m, NULL, toks, 7, lp) == LMF_OK);
    double expect[7] = {
        -0.3,              /* <s> a */
        -0.35,             /* <s> a b */
        -0.15,             /* a b c */
        -1.0,              /* b c a: no "b c a", "c a"; bo(b c)=0, bo(c)=0 -> p(a) */
        -0.6 + 0.0,        /* c a </s>: no "a </s>": bo(c a) absent=0; bo(a)=-0.5 -> -0.5 + p(</s>) */
        -1.2 - 0.2,        /* <s> c: bo(<s>) + p(c) */
        -0.6,              /* c </s>: bo(<s> c) absent, bo(c)=0 */
    };
    expect[4] = -0.5 + -0.6;
    for (int i = 0; i < 7; i++) CHECK_CLOSE(lp[i] / LN10, expect[i], 1e-6, 0);
    /* no <unk> in the file: KenLM's -100 */
    CHECK(lmf_vocab_size(v) == 5); /* <unk> </s> b a c */
    int32_t u = LMF_UNK;
    CHECK(lmf_model_score(m, NULL, &u, 1, lp) == LMF_OK);
    CHECK_CLOSE(lp[0] / LN10, -100 - 0.2, 1e-4, 0);
    lmf_model_free(m);
}

static void test_hand_arpa(void) {
    write_file(tmp_path("hand.arpa"), hand_arpa, strlen(hand_arpa));
    check_hand_model(tmp_path("hand.arpa"));
    /* CRLF line ends */
    size_t n = strlen(hand_arpa);
    char *crlf = malloc(2 * n + 1), *q = crlf;
    for (size_t i = 0; i < n; i++) {
        if (hand_arpa[i] == '\n') *q++ = '\r';
        *q++ = hand_arpa[i];
    }
    write_file(tmp_path("hand_crlf.arpa"), crlf, (size_t)(q - crlf));
    free(crlf);
    check_hand_model(tmp_path("hand_crlf.arpa"));
}

/* A pruned-model ARPA: the trigram "x y z" lacks its context "x y" and its
 * suffix "y z".  Hand-computed with the back-off rule. */
static void test_missing_context(void) {
    const char *text =
        "\\data\\\nngram 1=6\nngram 2=1\nngram 3=1\n\n\\1-grams:\n-99\t<s>\t-0.1\n-0.5\t</s>\n"
        "-1\tx\t-0.2\n-1.1\ty\t-0.3\n-1.2\tz\t-0.4\n-1.3\tw\n\n\\2-grams:\n-0.6\t<s> x\t-0.05\n\n"
        "\\3-grams:\n-0.2\tx y z\n\n\\end\\\n";
    write_file(tmp_path("pruned.arpa"), text, strlen(text));
    lmf_model *m;
    lmf_status s = lmf_model_load(tmp_path("pruned.arpa"), &m);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    if (s) return;
    const lmf_vocab *v = lmf_model_vocab(m);
    int32_t toks[] = {lmf_vocab_find(v, "x", 1), lmf_vocab_find(v, "y", 1), lmf_vocab_find(v, "z", 1),
                      lmf_vocab_find(v, "w", 1), LMF_EOS};
    double expect[] = {-0.6, -0.05 - 0.2 - 1.1, -0.2, -0.4 - 1.3, -0.5};
    float lp[5];
    CHECK(lmf_model_score(m, NULL, toks, 5, lp) == LMF_OK);
    for (int i = 0; i < 5; i++) CHECK_CLOSE(lp[i] / LN10, expect[i], 1e-6, 0);
    lmf_model_free(m);
}

/* ARPA numbers are parsed exactly as strtof parses them (the reader has a
 * fast path for plain decimals). */
static void test_arpa_numbers(void) {
    enum { K = 20000 };
    static char vals[K][40];
    uint64_t rng = 7;
    for (int i = 0; i < K; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        double x = -(double)(rng >> 11) / 9007199254740992.0 * (i % 3 == 0 ? 99.0 : 7.0);
        int digits = 1 + (int)((rng >> 5) % 17); /* 1..17 significant digits */
        snprintf(vals[i], sizeof vals[i], i % 7 == 0 ? "%.*e" : "%.*g", digits, x);
        if (i == 0) snprintf(vals[i], sizeof vals[i], "-99");
        if (i == 1) snprintf(vals[i], sizeof vals[i], "-0.0000001192092896");
        if (i == 2) snprintf(vals[i], sizeof vals[i], "-1.000000059604644775390625"); /* a float midpoint */
        if (i == 3) snprintf(vals[i], sizeof vals[i], "-.5");
    }
    FILE *fp = fopen(tmp_path("nums.arpa"), "w");
    fprintf(fp, "\\data\\\nngram 1=%d\n\n\\1-grams:\n", K);
    for (int i = 0; i < K; i++) fprintf(fp, "%s\tw%d\n", vals[i], i);
    fprintf(fp, "\n\\end\\\n");
    fclose(fp);
    lmf_ngram *m;
    lmf_status s = lmf_ngram_read_arpa(tmp_path("nums.arpa"), NULL, &m);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    if (s) return;
    const lmf_vocab *v = lmf_ngram_vocab(m);
    lmf_ngram_ctx ctx;
    lmf_ngram_ctx_begin(m, &ctx);
    int bad = 0;
    for (int i = 0; i < K; i++) {
        char w[16];
        int wl = snprintf(w, sizeof w, "w%d", i);
        float got = lmf_ngram_score_word(m, &ctx, lmf_vocab_find(v, w, (size_t)wl), NULL, NULL);
        float want = strtof(vals[i], NULL);
        if (memcmp(&got, &want, sizeof got) && bad++ < 5)
            fprintf(stderr, "%s parsed as %.9g, strtof gives %.9g\n", vals[i], (double)got, (double)want);
    }
    CHECK(bad == 0);
    lmf_ngram_free(m);
}

/* Malformed ARPA files: each must fail with LMF_ERR_FORMAT and a message
 * naming the problem (and the line where there is one). */
static void test_bad_arpa(void) {
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", "no \\data\\"},
        {"\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n", "\\end\\"},                        /* truncated */
        {"\\data\\\nngram 1=3\n\n\\1-grams:\n-1\ta\n-1\tb\n\n\\end\\\n", "has 2 entries"}, /* wrong count */
        {"\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n-1\tb\n\\end\\\n", "more 1-grams"},
        {"\\data\\\nngram 1=1\n\n\\1-grams:\nabc\ta\n\\end\\\n", ":5: \"abc\" is not a number"},
        {"\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\tx\n\\end\\\n", "not a finite number"},
        {"\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n-1\ta\n\\end\\\n", "duplicate unigram"},
        {"\\data\\\nngram 1=2\nngram 3=1\n", "without gaps"},                              /* order gap */
        {"\\data\\\nngram 1=2\nngram 2=2\n\n\\1-grams:\n-1\ta\n-1\tb\n\n\\2-grams:\n-1\ta b\n-2\ta b\n\\end\\\n",
         "duplicate 2-gram"},
        {"\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1\ta\n-1\tb\n\n\\2-grams:\n-1\ta z\n\\end\\\n",
         "\"z\" is not in the unigram section"},
        {"\\data\\\nngram 1=1\n\n\\1-grams:\n0.5\ta\n\\end\\\n", "positive log10"},
        {"\\data\\\nngram 1=1\n\n\\1-grams:\n-1\n\\end\\\n", "needs a log10 probability"},
        {"\\data\\\nngram 1=1\n\n\\2-grams:\n-1\ta b\n\\end\\\n", "unexpected section"},
        {"\\data\\\nngram 1=99999999999\n", "more n-grams than the file can hold"},
        {"\\data\\\nngram x=1\n", "malformed count line"},
        {"\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n\n\\3-grams:\n\\end\\\n", "unexpected section"},
        {"\\data\\\nngram 1=1\nngram 2=0\n\n\\1-grams:\n-1\ta\n\\end\\\n", "\\2-grams: section is missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_file(tmp_path("bad.arpa"), cases[i].text, strlen(cases[i].text));
        lmf_ngram *m = (lmf_ngram *)1;
        lmf_status s = lmf_ngram_read_arpa(tmp_path("bad.arpa"), NULL, &m);
        CHECK_MSG(s != LMF_OK && m == NULL, "case %zu accepted", i);
        CHECK_MSG(strstr(lmf_last_error(), cases[i].want) != NULL && strstr(lmf_last_error(), "bad.arpa"),
                  "case %zu: message \"%s\" lacks \"%s\"", i, lmf_last_error(), cases[i].want);
    }
}

static void test_bad_binary(void) {
    lmf_ngram_train_opts o;
    lmf_ngram_train_opts_init(&o);
    o.order = 3;
    lmf_ngram *ng;
    CHECK(lmf_ngram_train(tdata("brown-mini.train.txt"), &o, &ng, NULL) == LMF_OK);
    CHECK(lmf_ngram_write_binary(ng, tmp_path("good.lmfb")) == LMF_OK);
    lmf_ngram_free(ng);
    FILE *fp = fopen(tmp_path("good.lmfb"), "rb");
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size);
    CHECK(fread(buf, 1, (size_t)size, fp) == (size_t)size);
    fclose(fp);
    /* truncations */
    long cuts[] = {0, 7, 100, 511, 512, size / 2, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_file(tmp_path("bad.lmfb"), (const char *)buf, (size_t)cuts[i]);
        lmf_ngram *m = NULL;
        CHECK_MSG(lmf_ngram_load_binary(tmp_path("bad.lmfb"), NULL, &m) == LMF_ERR_FORMAT && !m,
                  "truncation at %ld accepted", cuts[i]);
    }
    /* flipped bytes anywhere: header checks or the checksum catch them */
    uint64_t rng = 12345;
    for (int i = 0; i < 200; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        long at = (long)((rng >> 33) % (uint64_t)size);
        if (i < 64) at = i * 8; /* every header word */
        buf[at] ^= 0x5a;
        write_file(tmp_path("bad.lmfb"), (const char *)buf, (size_t)size);
        lmf_ngram *m = NULL;
        lmf_status s = lmf_ngram_load_binary(tmp_path("bad.lmfb"), NULL, &m);
        CHECK_MSG(s == LMF_ERR_FORMAT && m == NULL, "flip at %ld accepted", at);
        if (m) {
            /* still must not crash when used */
            size_t n;
            free(score_file(lmf_ngram_model(m), tdata("brown-mini.test.txt"), &n));
            lmf_ngram_free(m);
        }
        buf[at] ^= 0x5a;
    }
    /* without checksum verification, damaged tables give garbage but never a crash or hang */
    for (long at = 4096; at < size; at += size / 50) buf[at] ^= 0xff;
    write_file(tmp_path("bad.lmfb"), (const char *)buf, (size_t)size);
    lmf_ngram_load_opts lo = {0};
    lmf_ngram *m = NULL;
    if (lmf_ngram_load_binary(tmp_path("bad.lmfb"), &lo, &m) == LMF_OK) {
        size_t n;
        free(score_file(lmf_ngram_model(m), tdata("brown-mini.test.txt"), &n));
        lmf_ngram_free(m);
    }
    free(buf);
    /* an ARPA file is not a binary file */
    write_file(tmp_path("hand.arpa"), hand_arpa, strlen(hand_arpa));
    CHECK(lmf_ngram_load_binary(tmp_path("hand.arpa"), NULL, &m) == LMF_ERR_FORMAT);
}

/* Every allocation failure is reported and cleaned up (ASan/LSan builds
 * catch leaks). */
static void test_alloc_failures(void) {
    write_file(tmp_path("small.txt"), "the cat sat\nthe dog sat on the cat\na cat\n", 40);
    write_file(tmp_path("hand.arpa"), hand_arpa, strlen(hand_arpa));
    for (int which = 0; which < 2; which++) {
        int ok = 0;
        for (uint64_t k = 1; k < 2000 && !ok; k++) {
            lmf_ngram *m = NULL;
            lmf_alloc_fail_after(k);
            lmf_status s = which ? lmf_ngram_read_arpa(tmp_path("hand.arpa"), NULL, &m)
                                 : lmf_ngram_train(tmp_path("small.txt"), NULL, &m, NULL);
            lmf_alloc_fail_after(0);
            if (s == LMF_OK) {
                ok = 1;
                CHECK(m != NULL);
            } else {
                CHECK_MSG(m == NULL && s == LMF_ERR_NOMEM, "k=%llu: status %d (%s)", (unsigned long long)k, s,
                          lmf_last_error());
            }
            lmf_ngram_free(m);
        }
        CHECK(ok);
    }
}

int main(void) {
    lmf_set_log(quiet_log, NULL, LMF_LOG_WARN);
    for (int order = 1; order <= 5; order++) test_reference(order);
    test_prune_and_fallback();
    test_hand_arpa();
    test_missing_context();
    test_arpa_numbers();
    test_bad_arpa();
    test_bad_binary();
    test_alloc_failures();
    TEST_MAIN_END();
}
