/* Rescoring (lmf/rescore.h): list readers against hand-made files, lattice
 * n-best extraction against brute-force path enumeration, word error counts
 * against an independent recursive edit distance, MERT against the exact
 * optimum found by trying every breakpoint, model features against
 * unbatched scoring, and the errors hostile input must give. */
#include "lmf/fuse.h"
#include "lmf/ngram.h"
#include "lmf/rescore.h"
#include "test.h"

#define LN10 2.302585092994045684
#define BL (1024.0 / 10000.5)

static lmf_model *tiny_lm(lmf_ngram **ng) {
    static const char txt[] = "a b c d\nb c a\nd d a b\na a b c\nc b\nd a c b a\n";
    lmf_ngram_train_opts o;
    lmf_ngram_train_opts_init(&o);
    o.order = 3;
    if (lmf_ngram_train_mem(txt, sizeof txt - 1, "tiny", &o, ng, NULL)) {
        fprintf(stderr, "tiny lm: %s\n", lmf_last_error());
        return NULL;
    }
    return lmf_ngram_model(*ng);
}

static const char *word(const lmf_nbest *nb, size_t h, int32_t i) {
    static char buf[64];
    size_t len;
    const char *w = lmf_vocab_word(nb->words, nb->tok[nb->hyp[h].w0 + (size_t)i], &len);
    snprintf(buf, sizeof buf, "%.*s", (int)len, w);
    return buf;
}

static int feat(const lmf_nbest *nb, const char *name) {
    for (int f = 0; f < nb->nfeat; f++)
        if (!strcmp(nb->feat[f], name)) return f;
    return -1;
}

static void test_readers(void) {
    lmf_nbest nb;
    memset(&nb, 0, sizeof nb);
    static const char srilm[] = "-100.5 -20.25 3 a <s> b c\n-101 -19 2 a c\n";
    CHECK(!lmf_nbest_add_list(&nb, srilm, sizeof srilm - 1, "u1"));
    CHECK(nb.nutt == 1 && nb.nhyp == 2 && !strcmp(nb.format, "srilm"));
    int fa = feat(&nb, "acoustic"), fl = feat(&nb, "lm"), fw = feat(&nb, "words");
    CHECK(fa >= 0 && fl >= 0 && fw >= 0);
    if (fa >= 0 && fl >= 0 && fw >= 0) {
        CHECK_CLOSE(lmf_nbest_f(&nb, 0, fa), -100.5 * LN10, 1e-12, 1e-14);
        CHECK_CLOSE(lmf_nbest_f(&nb, 0, fl), -20.25 * LN10, 1e-12, 1e-14);
        CHECK(lmf_nbest_f(&nb, 0, fw) == 3 && lmf_nbest_f(&nb, 1, fw) == 2);
    }
    CHECK(nb.hyp[0].n == 3 && !strcmp(word(&nb, 0, 1), "b")); /* <s> is no word */
    lmf_nbest_free(&nb);

    static const char d1[] = "NBestList1.0\n(-1000) a b\n(-1200) a c d\n";
    CHECK(!lmf_nbest_add_list(&nb, d1, sizeof d1 - 1, "u1"));
    CHECK(!strcmp(nb.format, "decipher1") && nb.nhyp == 2);
    if (feat(&nb, "score") >= 0) CHECK_CLOSE(lmf_nbest_f(&nb, 1, feat(&nb, "score")), -1200 * BL, 1e-12, 1e-14);
    lmf_nbest_free(&nb);

    static const char d2[] = "NBestList2.0\n(-500) a ( st: 0 et: 1 g: -10 a: -100 ) b ( st: 1 et: 2 g: -20 a: -200 )\n";
    CHECK(!lmf_nbest_add_list(&nb, d2, sizeof d2 - 1, "u1"));
    CHECK(nb.nhyp == 1 && nb.hyp[0].n == 2);
    if (feat(&nb, "acoustic") >= 0 && feat(&nb, "lm") >= 0) {
        CHECK_CLOSE(lmf_nbest_f(&nb, 0, feat(&nb, "acoustic")), -300 * BL, 1e-12, 1e-14);
        CHECK_CLOSE(lmf_nbest_f(&nb, 0, feat(&nb, "lm")), -30 * BL, 1e-12, 1e-14);
    }
    lmf_nbest_free(&nb);

    static const char moses[] = "0 ||| a b ||| LM0= -1.5 TM0= -2 -3 ||| -4.5\n0 ||| a c ||| LM0= -2 TM0= -1 -1 ||| -3\n"
                                "1 ||| d ||| LM0= -1 TM0= 0 0.5 ||| -1\n";
    CHECK(!lmf_nbest_add_list(&nb, moses, sizeof moses - 1, "m.txt"));
    CHECK(nb.nutt == 2 && nb.nhyp == 3 && !strcmp(nb.format, "moses"));
    CHECK(nb.nutt == 2 && !strcmp(nb.utt[1].id, "1") && nb.utt[1].nh == 1);
    CHECK(feat(&nb, "TM0_2") >= 0 && feat(&nb, "total") >= 0);
    if (feat(&nb, "TM0_2") >= 0) CHECK(lmf_nbest_f(&nb, 2, feat(&nb, "TM0_2")) == 0.5);
    if (feat(&nb, "total") >= 0) CHECK(lmf_nbest_f(&nb, 0, feat(&nb, "total")) == -4.5);
    lmf_nbest_free(&nb);

    static const char plain[] = "a b -12\nc -13.5\n";
    CHECK(!lmf_nbest_add_list(&nb, plain, sizeof plain - 1, "u1"));
    CHECK(!strcmp(nb.format, "plain") && nb.nhyp == 2 && nb.hyp[1].n == 1);
    if (feat(&nb, "score") >= 0) CHECK(lmf_nbest_f(&nb, 1, feat(&nb, "score")) == -13.5);
    lmf_nbest_free(&nb);

    /* hostile lists */
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"a b c\n", "line 1"},                                       /* no score */
        {"", "empty"},                                               /* empty */
        {"\n  \n", "empty"},                                         /* only blank lines */
        {"a b 1\nc inf\n", "line 2"},                                /* non-finite */
        {"0 ||| a ||| LM0= nan ||| 1\n", "line 1"},                  /* non-finite Moses value */
        {"0 ||| a ||| LM0= 1 ||| 1\n1 ||| b ||| LM0= 1 ||| 1\n0 ||| c ||| LM0= 1 ||| 1\n", "line 3"}, /* id again */
        {"0 ||| a ||| LM0= 1\n", "line 1"},                          /* three fields */
        {"NBestList2.0\n(-5) a ( st: 0 et: 1 g: -1\n", "line 2"},    /* unclosed details */
        {"NBestList1.0\na b\n", "line 2"},                           /* no (score) */
        {"a\0b 1\n", "NUL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&nb, 0, sizeof nb);
        size_t n = i == sizeof bad / sizeof *bad - 1 ? 6 : strlen(bad[i].text);
        lmf_status st = lmf_nbest_add_list(&nb, bad[i].text, n, "bad.nbest");
        CHECK_MSG(st && strstr(lmf_last_error(), "bad.nbest") && strstr(lmf_last_error(), bad[i].want), "case %zu: %s", i,
                  st ? lmf_last_error() : "accepted");
        lmf_nbest_free(&nb);
    }
}

/* ---- lattices ---- */
typedef struct {
    int N, L;
    int s[64], e[64];
    double a[64];
    int w[32]; /* node words: -1 !NULL, 0..3 a..d */
} glat;

static const char *const WORDS[] = {"a", "b", "c", "d"};

static void make_lattice(uint64_t *seed, glat *g) {
    g->N = 5 + (int)(*seed % 6);
    g->L = 0;
    for (int i = 0; i < g->N; i++) {
        *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
        g->w[i] = (i == 0 || i == g->N - 1) ? -1 : (int)(*seed >> 60) % 5 - 1;
    }
    for (int i = 0; i < g->N - 1 && g->L < 60; i++) {
        /* a link to the next node keeps everything connected; more at random */
        for (int j = i + 1; j < g->N && g->L < 60; j++) {
            *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
            if (j == i + 1 || (*seed >> 61) < 3) {
                g->s[g->L] = i;
                g->e[g->L] = j;
                g->a[g->L] = -(double)((*seed >> 20) % 100000) / 1000.0;
                g->L++;
            }
        }
    }
}

/* SLF text with node numbers permuted (perm[i] for node i) and links in reverse order */
static int write_slf(const glat *g, const int *perm, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "# test\nVERSION=1.0\nstart=%d\nend=%d\nN=%d\tL=%d\n", perm[0], perm[g->N - 1], g->N, g->L);
    for (int i = 0; i < g->N; i++)
        n += snprintf(buf + n, cap - (size_t)n, "I=%d\tt=%d.00\tW=%s\n", perm[i], i,
                      i == 0 ? "!SENT_START" : i == g->N - 1 ? "!SENT_END" : g->w[i] < 0 ? "!NULL" : WORDS[g->w[i]]);
    for (int k = g->L - 1, j = 0; k >= 0; k--, j++)
        n += snprintf(buf + n, cap - (size_t)n, "J=%d\tS=%d\tE=%d\ta=%.6f\tp=0.5\n", j, perm[g->s[k]], perm[g->e[k]], g->a[k]);
    return n;
}

typedef struct {
    int w[16], n;
    double ac, total;
} bpath;

static void enumerate(const glat *g, lmf_model *lm, double scale, double wip, int node, int *w, int n, double ac, bpath *out,
                      int *nout) {
    if (node == g->N - 1) {
        double lp = 0;
        if (lm) {
            int32_t tok[17];
            float l[17];
            for (int i = 0; i < n; i++) tok[i] = lmf_vocab_find(lmf_model_vocab(lm), WORDS[w[i]], 1);
            tok[n] = LMF_EOS;
            lmf_model_score(lm, NULL, tok, (size_t)n + 1, l);
            for (int i = 0; i <= n; i++) lp += l[i];
        }
        double total = ac + scale * lp + wip * n;
        for (int k = 0; k < *nout; k++)
            if (out[k].n == n && !memcmp(out[k].w, w, (size_t)n * sizeof *w)) {
                if (total > out[k].total) out[k].total = total, out[k].ac = ac;
                return;
            }
        out[*nout].n = n;
        memcpy(out[*nout].w, w, (size_t)n * sizeof *w);
        out[*nout].ac = ac;
        out[*nout].total = total;
        (*nout)++;
        return;
    }
    for (int k = 0; k < g->L; k++)
        if (g->s[k] == node) {
            int m = n;
            if (g->w[g->e[k]] >= 0) w[m++] = g->w[g->e[k]];
            enumerate(g, lm, scale, wip, g->e[k], w, m, ac + g->a[k], out, nout);
        }
}

static int cmp_bpath(const void *a, const void *b) {
    double x = ((const bpath *)a)->total, y = ((const bpath *)b)->total;
    return x > y ? -1 : x < y;
}

static void test_lattice_brute(lmf_model *lm) {
    uint64_t seed = 12345;
    static bpath paths[20000];
    char buf[8192];
    int cases = 0, exact = 0;
    for (int t = 0; t < 60; t++) {
        glat g;
        make_lattice(&seed, &g);
        int perm[32];
        for (int i = 0; i < g.N; i++) perm[i] = (i * 7 + 3) % g.N; /* N in 5..10, 7 coprime to all but 7 */
        if (g.N == 7)
            for (int i = 0; i < g.N; i++) perm[i] = g.N - 1 - i;
        int n = write_slf(&g, perm, buf, sizeof buf);
        lmf_model *m = t % 2 ? lm : NULL;
        lmf_lattice_opts lo;
        lmf_lattice_opts_init(&lo);
        lo.beam = 1000000;
        lo.nbest = 1000000;
        lo.lm = m;
        lo.lm_scale = 1.7;
        lo.wip = -0.3;
        int w[16], np = 0;
        enumerate(&g, m, lo.lm_scale, lo.wip, 0, w, 0, 0, paths, &np);
        qsort(paths, (size_t)np, sizeof *paths, cmp_bpath);
        lmf_nbest nb;
        memset(&nb, 0, sizeof nb);
        lmf_status st = lmf_nbest_add_slf(&nb, buf, (size_t)n, "t.lat", "t", &lo);
        CHECK_MSG(!st, "%s", lmf_last_error());
        if (st) continue;
        cases++;
        int ok = (int)nb.nhyp == np;
        int fa = feat(&nb, "acoustic");
        for (int k = 0; ok && k < np; k++) {
            ok = nb.hyp[k].n == paths[k].n && fabs(lmf_nbest_f(&nb, (size_t)k, fa) - paths[k].ac) < 1e-9;
            for (int i = 0; ok && i < paths[k].n; i++) ok = !strcmp(word(&nb, (size_t)k, i), WORDS[paths[k].w[i]]);
        }
        CHECK_MSG(ok, "lattice %d: %zu hypotheses, brute force %d", t, nb.nhyp, np);
        exact += ok;
        /* a narrow beam keeps the best when the LM is off: exact Viterbi per string */
        lmf_nbest_free(&nb);
        if (!m) {
            lo.beam = 1;
            lo.nbest = 1;
            memset(&nb, 0, sizeof nb);
            CHECK(!lmf_nbest_add_slf(&nb, buf, (size_t)n, "t.lat", "t", &lo));
            CHECK(nb.nhyp == 1 && nb.hyp[0].n == paths[0].n && fabs(lmf_nbest_f(&nb, 0, feat(&nb, "acoustic")) - paths[0].ac) < 1e-9);
            lmf_nbest_free(&nb);
        }
    }
    CHECK(cases == 60 && exact == 60);
}

static void test_lattice_errors(void) {
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"N=2 L=1\nI=0 W=!NULL\nI=1 W=a\nJ=0 S=0 E=2 a=-1\n", "line 4"},            /* link to a missing node */
        {"N=3 L=1\nI=0 W=!NULL\nI=2 W=a\nJ=0 S=0 E=1 a=-1\n", "not defined"},       /* node 1 never defined */
        {"N=3 L=3\nI=0\nI=1 W=a\nI=2 W=b\nJ=0 S=0 E=1\nJ=1 S=1 E=2\nJ=2 S=2 E=1\n", "cycle"},
        {"N=2 L=1\nI=0\nI=1 W=a\nJ=0 S=0 E=1 a=nan\n", "line 4"},                    /* non-finite score */
        {"N=2 L=2\nI=0\nI=1 W=a\nJ=0 S=0 E=1 a=-1\n", "L=2"},                         /* a link missing */
        {"I=0\nN=1 L=0\n", "line 1"},                                                /* node before header */
        {"N=2 L=1\nI=0\nI=0\nJ=0 S=0 E=1\n", "twice"},
        {"N=3 L=1 start=0 end=2\nI=0\nI=1 W=a\nI=2\nJ=0 S=0 E=1\n", "no path"},
        {"N=2 L=1\nI=0\nI=1\nJ=0 S=0 E=1 p=7\n", "line 4"},
        {"VERSION=1.0\n", "no N= and L="},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lmf_nbest nb;
        memset(&nb, 0, sizeof nb);
        lmf_status st = lmf_nbest_add_slf(&nb, bad[i].text, strlen(bad[i].text), "bad.lat", "bad", NULL);
        CHECK_MSG(st && strstr(lmf_last_error(), "bad.lat") && strstr(lmf_last_error(), bad[i].want), "case %zu: %s", i,
                  st ? lmf_last_error() : "accepted");
        lmf_nbest_free(&nb);
    }
}

/* ---- word errors ---- */
/* Edit distance by the full table (another shape than the library's one-row and backtrace versions). */
static int ed_table(const int32_t *r, int R, const int32_t *h, int H) {
    int d[17][17];
    for (int i = 0; i <= R; i++)
        for (int j = 0; j <= H; j++)
            d[i][j] = !i ? j : !j ? i : 0;
    for (int i = 1; i <= R; i++)
        for (int j = 1; j <= H; j++) {
            int a = d[i - 1][j - 1] + (r[i - 1] != h[j - 1]), b = d[i - 1][j] + 1, c = d[i][j - 1] + 1;
            d[i][j] = a < b ? (a < c ? a : c) : (b < c ? b : c);
        }
    return d[R][H];
}

static int ed(const int32_t *r, int R, const int32_t *h, int H) { /* plain recursion, tiny inputs */
    if (!R) return H;
    if (!H) return R;
    int a = ed(r + 1, R - 1, h + 1, H - 1) + (r[0] != h[0]), b = ed(r + 1, R - 1, h, H) + 1, c = ed(r, R, h + 1, H - 1) + 1;
    return a < b ? (a < c ? a : c) : (b < c ? b : c);
}

static void test_wer(void) {
    lmf_nbest nb;
    memset(&nb, 0, sizeof nb);
    static const char lists[] = "0 ||| a x c ||| f= 1 ||| 0\n1 ||| c a b ||| f= 1 ||| 0\n2 ||| a ||| f= 1 ||| 0\n";
    CHECK(!lmf_nbest_add_list(&nb, lists, sizeof lists - 1, "w"));
    int32_t a = lmf_nbest_word(&nb, "a", 1), b = lmf_nbest_word(&nb, "b", 1), c = lmf_nbest_word(&nb, "c", 1),
            d = lmf_nbest_word(&nb, "d", 1);
    int32_t tok[] = {a, b, c, d, a, b};
    size_t w0[] = {0, 4, 6};
    int32_t len[] = {4, 2, 0};
    lmf_refs r = {3, w0, len, tok};
    lmf_errstats s;
    lmf_hyp_stats(&nb, &r, 0, 0, &s); /* a b c d vs a x c: b->x, d deleted */
    CHECK(s.sub == 1 && s.del == 1 && s.ins == 0 && s.ref_words == 4 && !s.sents_right);
    lmf_hyp_stats(&nb, &r, 1, 1, &s); /* a b vs c a b: c inserted */
    CHECK(s.sub == 0 && s.del == 0 && s.ins == 1);
    lmf_hyp_stats(&nb, &r, 2, 2, &s); /* empty reference */
    CHECK(s.ins == 1 && s.ref_words == 0);
    lmf_errstats tot;
    lmf_rescore_stats(&nb, &r, NULL, &tot, NULL);
    CHECK_CLOSE(lmf_errstats_wer(&tot), 4.0 / 6.0, 1e-15, 0);
    lmf_nbest_free(&nb);

    /* random pairs against the recursion */
    uint64_t seed = 7;
    int agree = 0;
    for (int t = 0; t < 300; t++) {
        int32_t rr[8], hh[8];
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int R = (int)(seed >> 61), H = (int)((seed >> 58) & 7);
        for (int i = 0; i < 8; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            rr[i] = 2 + (int32_t)((seed >> 60) & 3);
            hh[i] = 2 + (int32_t)((seed >> 56) & 3);
        }
        lmf_nbest one = {0};
        lmf_nbest_begin(&one, "x", 1);
        lmf_nbest_push(&one, hh, H, NULL);
        size_t z = 0;
        int32_t RL = R;
        lmf_refs rf = {1, &z, &RL, rr};
        lmf_hyp_stats(&one, &rf, 0, 0, &s);
        agree += (int)(s.sub + s.del + s.ins) == ed(rr, R, hh, H) && s.del - s.ins == R - H;
        lmf_nbest_free(&one);
    }
    CHECK(agree == 300);

    /* BLEU-4 of one pair, worked by hand: hypothesis "a b c d a b", reference "a b c d a c".
     * 1-grams 5/6 (b twice, once in ref), 2-grams 4/5 (a b twice: once in ref; b c, c d, d a),
     * 3-grams 3/4, 4-grams 2/3; equal lengths, so no brevity penalty. */
    lmf_nbest p = {0};
    lmf_nbest_begin(&p, "x", 1);
    int32_t hy[] = {2, 3, 4, 5, 2, 3}, rf6[] = {2, 3, 4, 5, 2, 4};
    lmf_nbest_push(&p, hy, 6, NULL);
    size_t z = 0;
    int32_t six = 6;
    lmf_refs rb = {1, &z, &six, rf6};
    lmf_hyp_stats(&p, &rb, 0, 0, &s);
    CHECK(s.match[0] == 5 && s.match[1] == 4 && s.match[2] == 3 && s.match[3] == 2);
    CHECK_CLOSE(lmf_errstats_bleu(&s), pow(5.0 / 6 * 4.0 / 5 * 3.0 / 4 * 2.0 / 3, 0.25), 1e-12, 0);
    six = 8; /* a longer reference: brevity penalty exp(1 - 8/6) */
    int32_t rf8[] = {2, 3, 4, 5, 2, 4, 5, 5};
    rb.tok = rf8;
    lmf_hyp_stats(&p, &rb, 0, 0, &s);
    CHECK_CLOSE(lmf_errstats_bleu(&s), exp(1 - 8.0 / 6) * pow(5.0 / 6 * 4.0 / 5 * 3.0 / 4 * 2.0 / 3, 0.25), 1e-12, 0);
    lmf_nbest_free(&p);
}

/* ---- minimum Bayes risk against expected errors computed by the recursion ---- */
static void test_mbr(void) {
    uint64_t seed = 5;
    lmf_nbest nb = {0};
    lmf_nbest_feature(&nb, "s");
    for (int u = 0; u < 30; u++) {
        char id[8];
        snprintf(id, sizeof id, "u%d", u);
        lmf_nbest_begin(&nb, id, strlen(id));
        for (int h = 0; h < 7; h++) {
            int32_t w[8];
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            int n = 1 + (int)(seed >> 61);
            for (int i = 0; i < n; i++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                w[i] = 2 + (int32_t)((seed >> 60) & 3);
            }
            double f = -(double)((seed >> 30) % 1000) / 100.0;
            lmf_nbest_push(&nb, w, n, &f);
        }
    }
    const double w1 = 1;
    size_t best[30], map[30];
    int agree = 0, differs = 0;
    for (int top = 3; top <= 7; top += 4) {
        for (double scale = 0.1; scale < 5; scale *= 3) {
            CHECK(!lmf_rescore_mbr(&nb, &w1, scale, top, best));
            lmf_rescore_best(&nb, &w1, map);
            for (size_t u = 0; u < nb.nutt; u++) {
                /* the top hypotheses by score (ties: earlier), their posteriors and risks */
                size_t idx[7] = {0};
                size_t n = nb.utt[u].nh;
                for (size_t k = 0; k < n; k++) idx[k] = nb.utt[u].h0 + k;
                for (size_t a = 0; a < n; a++)
                    for (size_t b = a + 1; b < n; b++)
                        if (lmf_nbest_f(&nb, idx[b], 0) > lmf_nbest_f(&nb, idx[a], 0)) {
                            size_t t = idx[a];
                            idx[a] = idx[b];
                            idx[b] = t;
                        }
                size_t M = n < (size_t)top ? n : (size_t)top;
                double p[7], z = 0, br = INFINITY;
                size_t want = idx[0];
                for (size_t k = 0; k < M; k++) z += p[k] = exp(scale * (lmf_nbest_f(&nb, idx[k], 0) - lmf_nbest_f(&nb, idx[0], 0)));
                for (size_t i = 0; i < M; i++) {
                    double r = 0;
                    for (size_t j = 0; j < M; j++) {
                        const lmf_nbest_hyp *a = &nb.hyp[idx[i]], *b = &nb.hyp[idx[j]];
                        r += p[j] / z * ed_table(nb.tok + a->w0, a->n, nb.tok + b->w0, b->n);
                    }
                    if (r < br - 1e-9) br = r, want = idx[i];
                }
                agree += best[u] == want;
                differs += best[u] != map[u];
            }
        }
    }
    CHECK_MSG(agree == 2 * 4 * 30, "%d of %d choices agree with the brute force", agree, 2 * 4 * 30);
    CHECK(differs > 0); /* the risk sometimes overrules the best score */
    CHECK(lmf_rescore_mbr(&nb, &w1, 0, 3, best) == LMF_ERR_ARG);
    lmf_nbest_free(&nb);
}

/* ---- MERT: one free weight, so the exact line search is the global optimum ---- */
static double loss_at(const lmf_nbest *nb, const lmf_refs *r, double w1, lmf_metric m) {
    double w[2] = {1, w1};
    size_t best[64];
    lmf_rescore_best(nb, w, best);
    lmf_errstats s;
    lmf_rescore_stats(nb, r, best, &s, NULL);
    return m == LMF_METRIC_WER ? lmf_errstats_wer(&s) : -lmf_errstats_bleu(&s);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_mert(void) {
    for (int metric = 0; metric < 2; metric++) {
        uint64_t seed = 99 + (uint64_t)metric;
        lmf_nbest nb = {0};
        lmf_nbest_feature(&nb, "acoustic");
        lmf_nbest_feature(&nb, "x");
        int32_t rtok[64 * 8];
        size_t w0[64];
        int32_t len[64];
        const int U = 40;
        for (int u = 0; u < U; u++) {
            char id[8];
            snprintf(id, sizeof id, "u%d", u);
            lmf_nbest_begin(&nb, id, strlen(id));
            w0[u] = (size_t)u * 8;
            len[u] = 6;
            for (int i = 0; i < 6; i++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                rtok[u * 8 + i] = 2 + (int32_t)((seed >> 60) & 3);
            }
            for (int h = 0; h < 6; h++) {
                int32_t w[8];
                for (int i = 0; i < 6; i++) {
                    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                    w[i] = (seed >> 62) ? rtok[u * 8 + i] : 2 + (int32_t)((seed >> 50) & 3);
                }
                double f[2];
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                f[0] = (double)((seed >> 40) % 1000) / 100.0;
                f[1] = (double)((seed >> 20) % 1000) / 100.0 - 5;
                lmf_nbest_push(&nb, w, 6, f);
            }
        }
        lmf_refs r = {(size_t)U, w0, len, rtok};
        /* brute force: every breakpoint where two hypotheses of a list tie */
        static double bp[64 * 36];
        int nbp = 0;
        for (int u = 0; u < U; u++)
            for (size_t i = nb.utt[u].h0; i < nb.utt[u].h0 + nb.utt[u].nh; i++)
                for (size_t j = i + 1; j < nb.utt[u].h0 + nb.utt[u].nh; j++) {
                    double db = lmf_nbest_f(&nb, j, 1) - lmf_nbest_f(&nb, i, 1);
                    if (db != 0) bp[nbp++] = (lmf_nbest_f(&nb, i, 0) - lmf_nbest_f(&nb, j, 0)) / db;
                }
        qsort(bp, (size_t)nbp, sizeof *bp, cmp_d);
        double best = fmin(loss_at(&nb, &r, bp[0] - 1, (lmf_metric)metric), loss_at(&nb, &r, bp[nbp - 1] + 1, (lmf_metric)metric));
        for (int i = 0; i + 1 < nbp; i++)
            if (bp[i + 1] > bp[i]) best = fmin(best, loss_at(&nb, &r, (bp[i] + bp[i + 1]) / 2, (lmf_metric)metric));
        lmf_mert_opts o;
        lmf_mert_opts_init(&o);
        o.metric = (lmf_metric)metric;
        int fixed[2] = {1, 0};
        o.fixed = fixed;
        o.restarts = 0;
        double w[2] = {1, 0}, score;
        CHECK(!lmf_mert(&nb, &r, &o, w, &score));
        double got = metric == LMF_METRIC_WER ? score : -score;
        CHECK_MSG(fabs(got - best) < 1e-12, "metric %d: MERT %.9f, brute force %.9f", metric, got, best);
        CHECK(w[0] == 1);
        CHECK(fabs(loss_at(&nb, &r, w[1], (lmf_metric)metric) - got) < 1e-12);
        lmf_nbest_free(&nb);
    }
}

/* ---- model features and the rescorer file ---- */
static void test_features(lmf_model *lm, lmf_ngram *ng) {
    lmf_nbest nb = {0};
    static const char list[] = "a b c -1\nb zz a -2\n-3\n";
    CHECK(!lmf_nbest_add_list(&nb, list, sizeof list - 1, "u1"));
    CHECK(!lmf_nbest_add_model(&nb, lm, "tiny"));
    int fl = feat(&nb, "lm:tiny"), fo = feat(&nb, "oov:tiny");
    CHECK(fl >= 0 && fo >= 0);
    for (size_t h = 0; fl >= 0 && fo >= 0 && h < nb.nhyp; h++) {
        int32_t tok[8];
        float l[8];
        int oov = 0;
        for (int32_t i = 0; i < nb.hyp[h].n; i++) {
            const char *w = word(&nb, h, i);
            int32_t id = lmf_vocab_find(lmf_model_vocab(lm), w, strlen(w));
            oov += id < 0;
            tok[i] = id < 0 ? LMF_UNK : id;
        }
        tok[nb.hyp[h].n] = LMF_EOS;
        lmf_state *st = lmf_state_new(lm);
        double sum = 0;
        for (int32_t i = 0; i <= nb.hyp[h].n; i++) { /* one token at a time: another call shape */
            lmf_model_score(lm, st, tok + i, 1, l + i);
            sum += l[i];
        }
        lmf_state_free(lm, st);
        CHECK_CLOSE(lmf_nbest_f(&nb, h, fl), sum, 1e-4, 0);
        CHECK(lmf_nbest_f(&nb, h, fo) == oov);
    }
    CHECK(fo < 0 || (lmf_nbest_f(&nb, 1, fo) == 1 && lmf_nbest_f(&nb, 2, fo) == 0));

    /* the file keeps the weights; lists of another format are refused */
    char path[512], mpath[512];
    snprintf(mpath, sizeof mpath, "%s/rescore_tiny.arpa", TEST_TMP_DIR);
    snprintf(path, sizeof path, "%s/rescore_tiny.json", TEST_TMP_DIR);
    CHECK(!lmf_ngram_write_arpa(ng, mpath));
    const char *names[] = {"tiny"}, *paths[] = {mpath};
    lmf_rescorer *r = NULL, *r2 = NULL;
    CHECK(!lmf_rescorer_new(names, paths, 1, mpath, NULL, &r));
    double w[LMF_NBEST_MAX_FEATS] = {1, -0.5, 2.25, -7}, w2[LMF_NBEST_MAX_FEATS];
    if (r) {
        CHECK(!lmf_rescorer_set_weights(r, &nb, w, LMF_METRIC_WER));
        CHECK(!lmf_rescorer_save(r, path, "{\"note\": 1}"));
        CHECK(!lmf_rescorer_load(path, &r2));
    }
    if (r2) {
        CHECK(!lmf_rescorer_weights(r2, &nb, w2));
        for (int f = 0; f < nb.nfeat; f++) CHECK(w2[f] == w[f]);
        lmf_nbest other = {0};
        static const char srilm[] = "-1 -2 1 a\n";
        CHECK(!lmf_nbest_add_list(&other, srilm, sizeof srilm - 1, "u1"));
        CHECK(lmf_rescorer_weights(r2, &other, w2) && strstr(lmf_last_error(), "plain") && strstr(lmf_last_error(), "srilm"));
        lmf_nbest_free(&other);
    }
    lmf_rescorer_free(r);
    lmf_rescorer_free(r2);
    lmf_nbest_free(&nb);
}

/* Context: an n-gram restarts at <s>, so it scores the same with or without
 * one; a fusion with a unigram cache reads the earlier sentences' first
 * hypotheses, exactly as when fed them by hand. */
static void test_context(lmf_model *lm) {
    lmf_nbest nb = {0};
    static const char moses[] = "1 ||| a b c ||| f= 0 ||| 0\n1 ||| a c ||| f= 0 ||| 0\n2 ||| d d a ||| f= 0 ||| 0\n"
                                "2 ||| b ||| f= 0 ||| 0\n3 ||| c a ||| f= 0 ||| 0\n3 ||| zz b ||| f= 0 ||| 0\n";
    CHECK(!lmf_nbest_add_list(&nb, moses, sizeof moses - 1, "ctx"));
    CHECK(!lmf_nbest_add_model(&nb, lm, "plain"));
    CHECK(!lmf_nbest_add_model_ctx(&nb, lm, "ctx", 4));
    int f0 = feat(&nb, "lm:plain"), f1 = feat(&nb, "lm:ctx");
    for (size_t h = 0; f0 >= 0 && f1 >= 0 && h < nb.nhyp; h++) CHECK(lmf_nbest_f(&nb, h, f0) == lmf_nbest_f(&nb, h, f1));
    lmf_model *m[2] = {NULL, NULL}, *f = NULL;
    lmf_ngram *ng = NULL;
    static const char txt[] = "a b c d\nb c a\nd d a b\na a b c\nc b\nd a c b a\n";
    lmf_ngram_train_opts o;
    lmf_ngram_train_opts_init(&o);
    o.order = 2;
    CHECK(!lmf_ngram_train_mem(txt, sizeof txt - 1, "tiny2", &o, &ng, NULL));
    m[0] = lmf_ngram_model(ng);
    CHECK(!lmf_cache_new(lmf_model_vocab(m[0]), 100, 0.5, &m[1]));
    lmf_fuse_opts fo;
    lmf_fuse_opts_init(&fo);
    const double w[2] = {0.6, 0.4};
    fo.weights = w;
    CHECK(!lmf_fuse_new(m, 2, &fo, &f));
    if (f) {
        CHECK(!lmf_nbest_add_model_ctx(&nb, f, "cache", 5)); /* the last 5 tokens of "a b c </s> d d a </s>" */
        int fc = feat(&nb, "lm:cache");
        const char *ctx3[] = {"d", "d", "a"}; /* utterance 3 reads "c </s> d d a </s>" minus its first token */
        lmf_state *st = lmf_state_new(f);
        int32_t c4[5];
        const lmf_vocab *v = lmf_model_vocab(f);
        c4[0] = LMF_EOS;
        for (int i = 0; i < 3; i++) c4[1 + i] = lmf_vocab_find(v, ctx3[i], 1);
        c4[4] = LMF_EOS;
        for (int i = 0; i < 5; i++) lmf_model_feed(f, st, c4[i]);
        int32_t hy[3] = {lmf_vocab_find(v, "c", 1), lmf_vocab_find(v, "a", 1), LMF_EOS};
        float lp[3];
        CHECK(!lmf_model_score(f, st, hy, 3, lp));
        CHECK_CLOSE(lmf_nbest_f(&nb, 4, fc), (double)lp[0] + lp[1] + lp[2], 1e-5, 0);
        lmf_state_reset(f, st);
        CHECK(!lmf_model_score(f, st, hy, 3, lp));
        CHECK(fabs(lmf_nbest_f(&nb, 4, fc) - ((double)lp[0] + lp[1] + lp[2])) > 1e-3); /* the context mattered */
        lmf_state_free(f, st);
        lmf_model_free(f);
    }
    lmf_nbest_free(&nb);
}

static void test_refs(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/rescore_refs.txt", TEST_TMP_DIR);
    lmf_nbest nb = {0};
    static const char moses[] = "s1 ||| a ||| f= 1 ||| 0\ns2 ||| b ||| f= 1 ||| 0\n";
    CHECK(!lmf_nbest_add_list(&nb, moses, sizeof moses - 1, "m"));
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"s1 a\ns2 b\n", NULL},
        {"s1 a\ns3 b\n", "line 2"},
        {"s1 a\n", "the first without one: \"s2\""},
        {"s1 a\ns2 b\ns3 c\n", "line 3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE *fp = fopen(path, "w");
        fputs(cases[i].text, fp);
        fclose(fp);
        lmf_refs r;
        lmf_status st = lmf_refs_read(path, &nb, &r);
        if (!cases[i].want) CHECK(!st && r.n == 2 && r.len[1] == 1);
        else CHECK_MSG(st && strstr(lmf_last_error(), cases[i].want), "case %zu: %s", i, st ? lmf_last_error() : "accepted");
        if (!st) lmf_refs_free(&r);
    }
    lmf_nbest_free(&nb);
}

int main(void) {
    lmf_ngram *ng = NULL;
    lmf_model *lm = tiny_lm(&ng);
    CHECK(lm != NULL);
    test_readers();
    test_wer();
    test_mert();
    test_mbr();
    test_refs();
    test_lattice_errors();
    if (lm) {
        test_lattice_brute(lm);
        test_features(lm, ng);
        test_context(lm);
        lmf_model_free(lm);
    }
    printf("%d checks, %d failures\n", test_checks, test_failures);
    return test_failures != 0;
}
