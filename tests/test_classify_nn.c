/* The fine-tuned neural classifier (lmf_nnclass_*, src/classify/nnclass.c)
 * and what it stands on in src/nn: the pooled softmax layer and the
 * backward through every architecture from its top states, against
 * central finite differences; padding that changes nothing; a toy task
 * learnt exactly from random weights by every architecture and both
 * poolings; save -> load -> predict bit for bit, damaged files refused; a
 * pretrained LM (trained here with lmf_train) as the start, its weights
 * the classifier's before the first step. */
#include "test.h"

#include "lmf/classify.h"
#include "lmf/io.h"
#include "lmf/nn.h"
#include "lmf/train.h"
#include "../src/classify/classify_impl.h"
#include "../src/nn/net.h"

static char *tmp(const char *name) {
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/classify_nn_%s", TEST_TMP_DIR, name);
    return buf[i];
}

static uint64_t rng_state = 12345;
static double urand(void) { /* [0, 1) */
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- (a) gradients against central differences ---- */

/* The pooled softmax layer alone: dY, dW, db against differences of its
 * loss in Y, W, b.  Its sums run in double over float inputs, so a step
 * of 1e-3 leaves only the O(h^2) error: tolerance 1e-4 + 1e-3 |ref|. */
static void test_top_gradients(void) {
    enum { T = 4, B = 3, H = 5, C = 3 };
    for (int pool = 0; pool < 2; pool++) {
        float Y[T * B * H], W[C * H], b[C], dY[T * B * H], dW[C * H] = {0}, db[C] = {0}, pooled[B * H];
        int32_t len[B] = {4, 2, 0}, y[B] = {2, 0, 1};
        for (int i = 0; i < T * B * H; i++) Y[i] = (float)(urand() * 2 - 1);
        for (int i = 0; i < C * H; i++) W[i] = (float)(urand() * 2 - 1);
        for (int i = 0; i < C; i++) b[i] = (float)(urand() - 0.5);
        lmf_cls_top k = {C, pool, W, b, dW, db, len, y, 1.0f, NULL, pooled};
        lmf_cls_top_loss(&k, Y, T, B, H, dY);
        double worst = 0;
        const double h = 1e-3;
        float *vars[3] = {Y, W, b}, *grads[3] = {dY, dW, db};
        int counts[3] = {T * B * H, C * H, C};
        for (int v = 0; v < 3; v++)
            for (int i = 0; i < counts[v]; i++) {
                float keep = vars[v][i];
                vars[v][i] = (float)(keep + h);
                double up = lmf_cls_top_loss(&k, Y, T, B, H, NULL);
                vars[v][i] = (float)(keep - h);
                double dn = lmf_cls_top_loss(&k, Y, T, B, H, NULL);
                vars[v][i] = keep;
                double fd = (up - dn) / ((double)(float)(keep + h) - (double)(float)(keep - h));
                double r = fabs(grads[v][i] - fd) / (1e-4 + 1e-3 * fabs(fd));
                worst = r > worst ? r : worst;
            }
        CHECK_MSG(worst <= 1, "pooling %s: the layer's gradients are off by %.3g of the tolerance", pool ? "last" : "mean",
                  worst);
        /* rows the pooling does not read get zero gradient: after stream 1's
         * two rows, and every row of the empty slot 2 */
        int zero = 1;
        for (int t = 0; t < T; t++)
            for (int h2 = 0; h2 < H; h2++) {
                if (t >= 2) zero &= dY[((size_t)t * B + 1) * H + h2] == 0;
                zero &= dY[((size_t)t * B + 2) * H + h2] == 0;
                if (pool && t < 3) zero &= dY[((size_t)t * B + 0) * H + h2] == 0; /* last: only row 3 */
            }
        CHECK_MSG(zero, "pooling %s: gradient on rows the pooling does not read", pool ? "last" : "mean");
    }
}

/* A tiny net of each architecture with the pooled layer on top: the
 * gradient window_top adds for every body parameter against central
 * differences of its loss.  The net computes in float, so the step is
 * 1e-2 and the tolerance 5e-4 + 5e-3 |ref| (float rounding over the
 * difference of two losses of size ~3, divided by the step, is ~1e-5;
 * the curvature term h^2 f''' / 6 dominates).  The output layer gets no
 * gradient, and padding after a document changes no number. */
static double top_loss(lmf_net *net, const int32_t *x, int T, lmf_cls_top *k, int backward) {
    double loss = NAN;
    lmf_status s = net->ops->window_top(net, x, T, 0, lmf_cls_top_loss, k, backward, &loss);
    CHECK_MSG(s == LMF_OK, "window_top: %s", lmf_last_error());
    return loss;
}

static void test_net_gradients(int arch) {
    enum { V = 11, B = 3, T = 5, C = 3 };
    const int H = arch == LMF_ARCH_TRANSFORMER ? 8 : 5, E = arch == LMF_ARCH_TRANSFORMER ? 8 : 4;
    const char *an = lmf_arch_names[arch];
    for (int pool = 0; pool < 2; pool++) {
        lmf_net_cfg c;
        memset(&c, 0, sizeof c);
        c.arch = arch;
        c.L = 2;
        c.E = E;
        c.H = H;
        c.V = V;
        c.heads = 2;
        c.ff = 12;
        c.ctx = T;
        c.B = B;
        c.T = T;
        lmf_net *net = NULL;
        CHECK_MSG(lmf_net_new(&c, 3 + (uint64_t)pool, 1, &net) == LMF_OK, "%s: %s", an, lmf_last_error());
        if (!net) return;
        /* larger weights than the initialisation, so every path carries gradient */
        for (size_t i = 0; i < net->n_body; i++) net->param[i] += (float)(urand() - 0.5) * 0.6f;
        float W[C * 8], b[C], dW[C * 8] = {0}, db[C] = {0}, pooled[B * 8];
        for (int i = 0; i < C * H; i++) W[i] = (float)(urand() * 2 - 1);
        for (int i = 0; i < C; i++) b[i] = 0.1f * i;
        int32_t len[B] = {5, 3, 1}, y[B] = {1, 2, 0}, x[T * B], x2[T * B];
        for (int t = 0; t < T; t++)
            for (int s = 0; s < B; s++) {
                x[t * B + s] = t < len[s] ? 1 + (int32_t)(urand() * (V - 1)) : LMF_EOS;
                x2[t * B + s] = t < len[s] ? x[t * B + s] : 7; /* other padding */
            }
        lmf_cls_top k = {C, pool, W, b, dW, db, len, y, 1.0f, NULL, pooled};
        memset(net->grad, 0, net->n_param * sizeof(float));
        double l0 = top_loss(net, x, T, &k, 1);
        float *g = (float *)malloc(net->n_param * sizeof(float));
        if (!g) abort();
        memcpy(g, net->grad, net->n_param * sizeof(float));
        int head_zero = 1;
        for (size_t i = net->n_body; i < net->n_param; i++) head_zero &= g[i] == 0;
        CHECK_MSG(head_zero, "%s: the output layer got gradient", an);
        /* padding: other pad ids, the same loss and gradients */
        memset(net->grad, 0, net->n_param * sizeof(float));
        double l1 = top_loss(net, x2, T, &k, 1);
        CHECK_MSG(l0 == l1 && !memcmp(g, net->grad, net->n_body * sizeof(float)),
                  "%s: padding changed the loss (%.9g vs %.9g) or the gradients", an, l0, l1);
        const double h = 1e-2;
        double worst = 0;
        size_t wi = 0, checked = 0;
        double wfd = 0;
        for (size_t i = 0; i < net->n_body; i++) {
            float keep = net->param[i];
            net->param[i] = (float)(keep + h);
            double up = top_loss(net, x, T, &k, 0);
            net->param[i] = (float)(keep - h);
            double dn = top_loss(net, x, T, &k, 0);
            net->param[i] = keep;
            double fd = (up - dn) / ((double)(float)(keep + h) - (double)(float)(keep - h));
            double r = fabs(g[i] - fd) / (5e-4 + 5e-3 * fabs(fd));
            if (r > worst) worst = r, wi = i, wfd = fd;
            checked++;
        }
        CHECK_MSG(worst <= 1, "%s, pooling %s: parameter %zu of %zu off by %.3g of the tolerance (%.6g vs %.6g)", an,
                  pool ? "last" : "mean", wi, checked, worst, (double)g[wi], wfd);
        printf("%s pooling %-4s: %zu parameters, worst |analytic - difference| / (5e-4 + 5e-3 |difference|) = %.3f\n",
               an, pool ? "last" : "mean", checked, worst);
        free(g);
        net->ops->free(net);
    }
}

/* ---- toy documents ---- */
static const char *const sport_w[] = {"goal", "match", "team", "score", "coach", "league", "ball", "win"};
static const char *const food_w[] = {"bread", "soup", "salt", "cook", "oven", "taste", "dish", "sauce"};

/* n documents alternating between two classes, each 12 words of its
 * class's list a and b plus "the", a line break after the 6th. */
static void toy_file(const char *path, int n, unsigned seed, const char *const *a, const char *const *b,
                     const char *na, const char *nb) {
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    for (int i = 0; i < n && fp; i++) {
        int second = i % 2;
        fprintf(fp, "__label__%s", second ? nb : na);
        for (int j = 0; j < 12; j++) {
            seed = seed * 1103515245u + 12345u;
            fprintf(fp, " %s%s", (second ? b : a)[(seed >> 16) % 8], j == 5 ? "\\n" : "");
        }
        fprintf(fp, " the\n");
    }
    if (fp) fclose(fp);
}

static int read_three(const char *stem, lmf_docs *tr, lmf_docs *va, lmf_docs *te) {
    char p[3][600];
    const char *part[3] = {"train", "valid", "test"};
    for (int i = 0; i < 3; i++) snprintf(p[i], sizeof p[i], "%s.%s.txt", stem, part[i]);
    if (lmf_docs_read(p[0], NULL, 0, tr)) return 0;
    if (lmf_docs_read(p[1], (const char *const *)tr->names, tr->C, va)) return 0;
    return lmf_docs_read(p[2], (const char *const *)tr->names, tr->C, te) == LMF_OK;
}

static double accuracy(lmf_classifier *c, const lmf_docs *d, float *lp) {
    CHECK_MSG(lmf_classifier_predict(c, d, lp, NULL, NULL) == LMF_OK, "%s", lmf_last_error());
    size_t right = 0;
    for (size_t i = 0; i < d->n; i++) {
        right += lmf_argmax_f(lp + i * d->C, d->C) == d->label[i];
        double s = 0;
        for (int k = 0; k < d->C; k++) s += exp(lp[i * d->C + k]);
        CHECK_MSG(fabs(s - 1) < 1e-5, "row %zu sums to %.9g", i, s);
    }
    return (double)right / (double)d->n;
}

static void file_bytes(const char *path, char **data, long *n) {
    FILE *fp = fopen(path, "rb");
    *data = NULL;
    *n = 0;
    if (!fp) return;
    fseek(fp, 0, SEEK_END);
    *n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    *data = (char *)malloc((size_t)*n + 1);
    if (*data && fread(*data, 1, (size_t)*n, fp) != (size_t)*n) *n = 0;
    fclose(fp);
}

static void put_bytes(const char *path, const char *data, long n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    fwrite(data, 1, (size_t)n, fp);
    fclose(fp);
}

/* save -> load -> predict, bit for bit; damaged files refused with a
 * message, never a crash. */
static void check_round_trip(lmf_classifier *c, const lmf_docs *te, const char *name) {
    char json[600], side[700];
    snprintf(json, sizeof json, "%s", tmp(name));
    snprintf(side, sizeof side, "%s.neural.safetensors", json);
    size_t n = te->n * (size_t)te->C;
    float *a = (float *)malloc(n * sizeof *a), *b = (float *)malloc(n * sizeof *b);
    if (!a || !b) abort();
    CHECK(lmf_classifier_predict(c, te, a, NULL, NULL) == LMF_OK);
    CHECK_MSG(lmf_classifier_save(c, json) == LMF_OK, "%s", lmf_last_error());
    lmf_classifier *c2 = NULL;
    CHECK_MSG(lmf_classifier_load(json, &c2) == LMF_OK, "%s", lmf_last_error());
    if (c2) {
        CHECK(!strcmp(lmf_classifier_kind(c2), "neural"));
        CHECK(lmf_classifier_predict(c2, te, b, NULL, NULL) == LMF_OK);
        CHECK_MSG(!memcmp(a, b, n * sizeof *a), "%s: loaded classifier predicts other numbers", name);
        lmf_classifier_free(c2);
    }
    /* damage: a truncated side file, a mis-shaped field, a missing tensor */
    char *sd, *js;
    long sn, jn;
    file_bytes(side, &sd, &sn);
    file_bytes(json, &js, &jn);
    CHECK(sd && js && sn > 100 && jn > 10);
    if (sd && js) {
        put_bytes(side, sd, sn / 2);
        c2 = NULL;
        CHECK(lmf_classifier_load(json, &c2) != LMF_OK && !c2 && strstr(lmf_last_error(), ".neural.safetensors"));
        put_bytes(side, sd, sn);
        js[jn] = 0;
        char *p = strstr(js, "\"max_tokens\":");
        if (p) {
            char *bad = (char *)malloc((size_t)jn + 32);
            if (!bad) abort();
            size_t pre = (size_t)(p - js) + strlen("\"max_tokens\":");
            memcpy(bad, js, pre);
            snprintf(bad + pre, 32, " -5,%s", "");
            char *rest = strchr(p, ',');
            strcat(bad, rest ? rest + 1 : "}");
            put_bytes(json, bad, (long)strlen(bad));
            c2 = NULL;
            CHECK_MSG(lmf_classifier_load(json, &c2) != LMF_OK && !c2 && strstr(lmf_last_error(), "max_tokens"),
                      "%s", lmf_last_error());
            free(bad);
        }
        /* the classifier layer renamed in the side file */
        for (long i = 0; i + 17 <= sn; i++)
            if (!memcmp(sd + i, "classifier.weight", 17)) sd[i] = 'k';
        put_bytes(side, sd, sn);
        put_bytes(json, js, jn);
        c2 = NULL;
        CHECK_MSG(lmf_classifier_load(json, &c2) != LMF_OK && !c2 && strstr(lmf_last_error(), "classifier.weight"), "%s",
                  lmf_last_error());
    }
    free(sd);
    free(js);
    free(a);
    free(b);
}

/* ---- (b), (c): the toy task from random weights ---- */
static void test_toy(int arch, int pool) {
    const char *an = lmf_arch_names[arch];
    toy_file(tmp("toy.train.txt"), 40, 1, sport_w, food_w, "sport", "food");
    toy_file(tmp("toy.valid.txt"), 20, 2, sport_w, food_w, "sport", "food");
    toy_file(tmp("toy.test.txt"), 20, 3, sport_w, food_w, "sport", "food");
    char stem[600];
    snprintf(stem, sizeof stem, "%s", tmp("toy"));
    lmf_docs tr, va, te;
    if (!read_three(stem, &tr, &va, &te)) {
        CHECK_MSG(0, "toy files: %s", lmf_last_error());
        return;
    }
    lmf_nnclass_opts o;
    lmf_nnclass_opts_init(&o);
    o.arch = an;
    o.hidden = o.emb = 16;
    o.layers = 1;
    o.epochs = 8;
    o.batch = 8;
    o.lr = 1e-2;
    o.min_count = 1;
    o.max_tokens = 32;
    o.pooling = pool ? LMF_POOL_LAST : LMF_POOL_MEAN;
    lmf_classifier *c = NULL;
    CHECK_MSG(lmf_nnclass_train(&tr, &va, &o, &c) == LMF_OK, "%s: %s", an, lmf_last_error());
    if (c) {
        float lp[2 * 20];
        double acc = accuracy(c, &te, lp);
        CHECK_MSG(acc == 1.0, "%s, pooling %s: test accuracy %.3f", an, pool ? "last" : "mean", acc);
        char d[256];
        lmf_classifier_describe(c, d, sizeof d);
        printf("%s\n", d);
        char name[64];
        snprintf(name, sizeof name, "%s_%d.json", an, pool);
        check_round_trip(c, &te, name);
        /* refit: the same options on other documents */
        lmf_classifier *r = NULL;
        CHECK_MSG(lmf_classifier_refit(c, &va, NULL, &r) == LMF_OK, "%s", lmf_last_error());
        lmf_classifier_free(r);
        lmf_classifier_free(c);
    }
    lmf_docs_free(&tr);
    lmf_docs_free(&va);
    lmf_docs_free(&te);
}

/* ---- (d) from a pretrained LM ---- */
static void test_pretrained(void) {
    lmf_train_opts to;
    lmf_train_opts_init(&to);
    to.arch = "lstm";
    to.layers = 1;
    to.hidden = to.emb = 16;
    to.batch = 8;
    to.bptt = 10;
    to.epochs = 1;
    to.train = TEST_DATA_DIR "/brown-mini.train.txt";
    char lm[600];
    snprintf(lm, sizeof lm, "%s", tmp("lm.safetensors"));
    to.out = lm;
    to.checkpoint_every = 0;
    to.log_seconds = -1;
    CHECK_MSG(lmf_train(&to, NULL) == LMF_OK, "%s", lmf_last_error());
    lmf_model *m = NULL;
    CHECK_MSG(lmf_model_load(lm, &m) == LMF_OK, "%s", lmf_last_error());
    if (!m) return;
    /* two classes over words the LM knows: ids 10..17 and 20..27 */
    static char wa[8][64], wb[8][64];
    const char *a[8], *b[8];
    const lmf_vocab *v = lmf_model_vocab(m);
    for (int i = 0; i < 8; i++) {
        size_t l;
        const char *w = lmf_vocab_word(v, 10 + i, &l);
        snprintf(wa[i], sizeof wa[i], "%.*s", (int)l, w);
        w = lmf_vocab_word(v, 20 + i, &l);
        snprintf(wb[i], sizeof wb[i], "%.*s", (int)l, w);
        a[i] = wa[i];
        b[i] = wb[i];
    }
    lmf_model_free(m);
    toy_file(tmp("pre.train.txt"), 40, 1, a, b, "x", "y");
    toy_file(tmp("pre.valid.txt"), 20, 2, a, b, "x", "y");
    toy_file(tmp("pre.test.txt"), 20, 3, a, b, "x", "y");
    char stem[600];
    snprintf(stem, sizeof stem, "%s", tmp("pre"));
    lmf_docs tr, va, te;
    if (!read_three(stem, &tr, &va, &te)) {
        CHECK_MSG(0, "toy files: %s", lmf_last_error());
        return;
    }
    /* the net the classifier starts from holds the LM's tensors */
    lmf_safetensors *st = NULL;
    CHECK(lmf_st_open(lm, &st) == LMF_OK);
    lmf_net *net = NULL;
    lmf_vocab *nv = NULL;
    int32_t *start = NULL, *cls = NULL;
    if (st) CHECK_MSG(lmf_net_from_file(st, lm, 4, 9, 0.1f, 1, &net, &nv, &start, &cls) == LMF_OK, "%s", lmf_last_error());
    if (net) {
        const char *names[] = {"encoder.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                               "rnn.bias_hh_l0"};
        size_t at = 0;
        for (int i = 0; i < 5; i++) { /* the layout's order: embedding, then the layer */
            const lmf_st_tensor *t = lmf_st_find(st, names[i]);
            CHECK(t != NULL);
            if (!t) break;
            size_t cnt = (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1);
            float *ref = (float *)malloc(cnt * sizeof *ref);
            if (!ref) abort();
            CHECK(lmf_st_to_f32(t, ref) == LMF_OK);
            CHECK_MSG(!memcmp(ref, net->param + at, cnt * sizeof *ref), "%s differs from the pretrained LM's", names[i]);
            at += cnt;
            free(ref);
        }
        CHECK(at == net->n_body);
        net->ops->free(net);
    }
    lmf_vocab_free(nv);
    free(start);
    free(cls);
    /* and the classifier itself: with a learning rate far below any
     * float's last bit, its saved network is the LM's, bit for bit */
    lmf_nnclass_opts o;
    lmf_nnclass_opts_init(&o);
    o.init = lm;
    o.epochs = 1;
    o.lr = 1e-30;
    o.batch = 8;
    lmf_classifier *c = NULL;
    CHECK_MSG(lmf_nnclass_train(&tr, &va, &o, &c) == LMF_OK, "%s", lmf_last_error());
    if (c && st) {
        CHECK(lmf_classifier_save(c, tmp("frozen.json")) == LMF_OK);
        lmf_safetensors *s2 = NULL;
        CHECK(lmf_st_open(tmp("frozen.json.neural.safetensors"), &s2) == LMF_OK);
        for (size_t i = 0; s2 && i < lmf_st_count(st); i++) {
            const lmf_st_tensor *t = lmf_st_at(st, i), *u = lmf_st_find(s2, t->name);
            if (!strncmp(t->name, "train.", 6)) continue;
            CHECK_MSG(u && u->nbytes == t->nbytes && !memcmp(u->data, t->data, t->nbytes), "tensor %s changed", t->name);
        }
        lmf_st_close(s2);
    }
    lmf_classifier_free(c);
    lmf_st_close(st);
    /* fine-tuned for real: the task learnt */
    o.lr = 1e-2;
    o.epochs = 8;
    c = NULL;
    CHECK_MSG(lmf_nnclass_train(&tr, &va, &o, &c) == LMF_OK, "%s", lmf_last_error());
    if (c) {
        float lp[2 * 20];
        double acc = accuracy(c, &te, lp);
        CHECK_MSG(acc == 1.0, "pretrained: test accuracy %.3f", acc);
        check_round_trip(c, &te, "pre.json");
        lmf_classifier_free(c);
    }
    /* a file that is not a neural LM */
    o.init = TEST_DATA_DIR "/brown-mini.train.txt";
    c = NULL;
    CHECK(lmf_nnclass_train(&tr, &va, &o, &c) != LMF_OK && !c);
    lmf_docs_free(&tr);
    lmf_docs_free(&va);
    lmf_docs_free(&te);
}

int main(void) {
    test_top_gradients();
    for (int a = 0; a < LMF_ARCH_COUNT; a++) test_net_gradients(a);
    for (int a = 0; a < LMF_ARCH_COUNT; a++) test_toy(a, 0);
    test_toy(LMF_ARCH_LSTM, 1);
    test_toy(LMF_ARCH_TRANSFORMER, 1);
    test_pretrained();
    TEST_MAIN_END();
}
