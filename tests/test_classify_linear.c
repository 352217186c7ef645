/* The linear classifier (src/classify/linear.c): its gradient against
 * central differences, a word-separable task learnt exactly, its tf-idf
 * vectors against a second, plain implementation and against values worked
 * out by hand, save -> load bit-exact (and damaged files refused with the
 * file named), refit on a subset. */
#include "test.h"

#include "lmf/classify.h"
#include "../src/classify/classify_impl.h"
#include "../src/core/util_impl.h"

#include <ctype.h>

static void write_str(const char *path, const char *s) { write_file(path, s, strlen(s)); }

static int read_docs(const char *name, const char *text, const lmf_docs *classes_of, lmf_docs *d) {
    write_str(tmp_path(name), text);
    lmf_status s = lmf_docs_read(tmp_path(name), classes_of ? (const char *const *)classes_of->names : NULL,
                                 classes_of ? classes_of->C : 0, d);
    CHECK_MSG(s == LMF_OK, "%s: %s", name, lmf_last_error());
    return s == LMF_OK;
}

static size_t argmax(const float *row, int C) {
    size_t b = 0;
    for (int c = 1; c < C; c++)
        if (row[c] > row[b]) b = (size_t)c;
    return b;
}

/* Every row finite, summing to 1 within 1e-5; returns the accuracy. */
static double check_rows(const float *logp, const lmf_docs *d, const char *what) {
    size_t right = 0, bad = 0;
    for (size_t i = 0; i < d->n; i++) {
        double sum = 0;
        for (int c = 0; c < d->C; c++) {
            bad += !isfinite(logp[i * d->C + c]);
            sum += exp((double)logp[i * d->C + c]);
        }
        bad += !(fabs(sum - 1) < 1e-5);
        right += argmax(logp + i * d->C, d->C) == (size_t)d->label[i];
    }
    CHECK_MSG(bad == 0, "%s: %zu rows not finite or not summing to 1", what, bad);
    return (double)right / (double)d->n;
}

/* ---- a word-separable task: three classes, each with words of its own,
 * all sharing filler words ---- */
static const char *const animal[] = {"cat", "dog", "horse", "sheep", "goat", "mouse"};
static const char *const fruit[] = {"apple", "pear", "plum", "cherry", "grape", "lemon"};
static const char *const vehicle[] = {"car", "bus", "train", "truck", "bicycle", "tram"};
static const char *const filler[] = {"the", "a", "and", "with", "of", "Some", "very", "big"};

static void toy_file(char *buf, size_t cap, int ndocs, unsigned seed) {
    size_t k = 0;
    for (int i = 0; i < ndocs; i++) {
        int c = i % 3;
        const char *const *words = c == 0 ? animal : c == 1 ? fruit : vehicle;
        k += (size_t)snprintf(buf + k, cap - k, "__label__%s", c == 0 ? "animal" : c == 1 ? "fruit" : "vehicle");
        int len = 4 + (int)(seed % 5);
        for (int w = 0; w < len; w++) {
            seed = seed * 1103515245u + 12345u;
            int r = (int)((seed >> 16) % 14);
            k += (size_t)snprintf(buf + k, cap - k, " %s", r < 6 ? words[r] : filler[r - 6]);
        }
        /* at least one word of the class */
        k += (size_t)snprintf(buf + k, cap - k, " %s\n", words[i % 6]);
    }
}

/* ---- 1. the gradient against central differences (the plain loss, and
 * the class-balanced one: classes of 2, 2 and 1 documents) ---- */
static void test_gradient_one(int balanced, double *fout) {
    lmf_docs tr;
    if (!read_docs("lin_grad.txt",
                   "__label__x The cat sat on the mat\n__label__y a dog, A DOG!\n__label__z cats and dogs\n"
                   "__label__x mat mat mat\n__label__y dogma\n",
                   NULL, &tr))
        return;
    lmf_linear_opts o;
    lmf_linear_opts_init(&o);
    o.hash_bits = 6; /* 64 buckets: collisions too */
    o.l2 = 1e-2;
    o.max_iter = 3;
    o.balanced = balanced;
    lmf_classifier *c = NULL;
    CHECK(lmf_linear_train(&tr, NULL, &o, &c) == LMF_OK);
    if (!c) {
        lmf_docs_free(&tr);
        return;
    }
    const int C = tr.C;
    const size_t D = 64, P = (size_t)C * D + (size_t)C;
    double *x = (double *)malloc(P * sizeof *x), *g = (double *)malloc(P * sizeof *g),
           *g2 = (double *)malloc(P * sizeof *g2);
    unsigned seed = 7;
    for (size_t j = 0; j < P; j++) {
        seed = seed * 1103515245u + 12345u;
        x[j] = ((double)((seed >> 8) % 20001) / 10000.0 - 1) * 2; /* in [-2, 2] */
    }
    double f = 0, fp = 0, fm = 0;
    CHECK(lmf_linear_objective(c, &tr, o.l2, x, g, &f) == LMF_OK);
    CHECK(isfinite(f) && f > 0);
    *fout = f;
    /* coordinates: every 7th W entry (buckets held by documents and
     * others) and every bias */
    const double h = 1e-5, atol = 1e-8, rtol = 1e-5;
    int checked = 0;
    for (size_t j = 0; j < P; j = j + 7 < (size_t)C * D ? j + 7 : j < (size_t)C * D ? (size_t)C * D : j + 1) {
        const double keep = x[j];
        x[j] = keep + h;
        CHECK(lmf_linear_objective(c, &tr, o.l2, x, g2, &fp) == LMF_OK);
        x[j] = keep - h;
        CHECK(lmf_linear_objective(c, &tr, o.l2, x, g2, &fm) == LMF_OK);
        x[j] = keep;
        const double fd = (fp - fm) / (2 * h);
        CHECK_MSG(fabs(g[j] - fd) <= atol + rtol * fabs(fd), "gradient %zu: %.10g, central difference %.10g", j, g[j],
                  fd);
        checked++;
    }
    CHECK(checked > 30);
    /* the gradient is not trivially l2 * x: the data part is there */
    double data = 0;
    for (size_t j = 0; j < P; j++) data += fabs(g[j] - (j < (size_t)C * D ? o.l2 * x[j] : 0));
    CHECK(data > 1e-3);
    free(x);
    free(g);
    free(g2);
    lmf_classifier_free(c);
    lmf_docs_free(&tr);
}
static void test_gradient(void) {
    double f0 = 0, f1 = 0;
    test_gradient_one(0, &f0);
    test_gradient_one(1, &f1);
    CHECK_MSG(fabs(f0 - f1) > 1e-6, "the balanced loss %.9g equals the plain one %.9g at the same weights", f1, f0);
}

/* ---- 3. tf-idf vectors against a plain second implementation ---- */

/* n-grams of one document, as strings, added to bucket counts cnt[D] (the
 * plain way: split, lower-case, join, scikit-learn's char_wb loop). */
static void ref_count(const char *text, int word_max, int cmin, int cmax, size_t D, unsigned *cnt) {
    char words[64][64]; /* test documents: short words, few of them */
    int nw = 0;
    const char *p = text;
    while (*p) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        int L = 0;
        while (*p && !isspace((unsigned char)*p)) words[nw][L++] = (char)tolower((unsigned char)*p++);
        words[nw++][L] = 0;
    }
    char g[512];
    for (int n = 1; n <= word_max; n++)
        for (int i = 0; i + n <= nw; i++) {
            g[0] = 0;
            for (int k = 0; k < n; k++) {
                if (k) strcat(g, " ");
                strcat(g, words[i + k]);
            }
            cnt[lmf_hash_bytes(g, strlen(g), LMF_LINEAR_WORD_SEED) & (D - 1)]++;
        }
    for (int i = 0; cmax > 0 && i < nw; i++) {
        char w[80] = " ";
        strcat(w, words[i]);
        strcat(w, " ");
        int wl = (int)strlen(w);
        for (int n = cmin; n <= cmax; n++) { /* sklearn's _char_wb_ngrams */
            int off = 0;
            int len = n < wl ? n : wl;
            cnt[lmf_hash_bytes(w + off, (size_t)len, LMF_LINEAR_CHAR_SEED) & (D - 1)]++;
            while (off + n < wl) {
                off++;
                cnt[lmf_hash_bytes(w + off, (size_t)n, LMF_LINEAR_CHAR_SEED) & (D - 1)]++;
            }
            if (off == 0) break;
        }
    }
}

static void check_features(const lmf_classifier *c, const char *const *train, int ntrain, const char *doc,
                           int word_max, int cmin, int cmax, size_t D, const char *what) {
    unsigned *cnt = (unsigned *)calloc(D, sizeof *cnt), *df = (unsigned *)calloc(D, sizeof *df);
    for (int t = 0; t < ntrain; t++) {
        memset(cnt, 0, D * sizeof *cnt);
        ref_count(train[t], word_max, cmin, cmax, D, cnt);
        for (size_t b = 0; b < D; b++) df[b] += cnt[b] > 0;
    }
    memset(cnt, 0, D * sizeof *cnt);
    ref_count(doc, word_max, cmin, cmax, D, cnt);
    double ss = 0;
    size_t nref = 0;
    for (size_t b = 0; b < D; b++)
        if (cnt[b]) {
            double v = (1 + log(cnt[b])) * (log((1.0 + ntrain) / (1.0 + df[b])) + 1);
            ss += v * v;
            nref++;
        }
    uint32_t *ids = NULL;
    float *vals = NULL;
    size_t nnz = 0;
    CHECK(lmf_linear_features(c, doc, strlen(doc), &ids, &vals, &nnz) == LMF_OK);
    CHECK_MSG(nnz == nref, "%s: %zu buckets, the reference %zu", what, nnz, nref);
    size_t bad = 0;
    double norm = 0;
    for (size_t k = 0; k < nnz; k++) {
        if (k && ids[k] <= ids[k - 1]) bad++;
        if (ids[k] >= D || !cnt[ids[k]]) {
            bad++;
            continue;
        }
        double v = (1 + log(cnt[ids[k]])) * (log((1.0 + ntrain) / (1.0 + df[ids[k]])) + 1) / sqrt(ss);
        if (!(fabs(vals[k] - v) <= 1e-7 + 1e-6 * fabs(v))) {
            bad++;
            fprintf(stderr, "%s: bucket %u: %.9g, reference %.9g\n", what, ids[k], vals[k], v);
        }
        norm += (double)vals[k] * vals[k];
    }
    CHECK_MSG(bad == 0, "%s: %zu buckets differ from the reference", what, bad);
    CHECK_CLOSE(norm, 1, 1e-6, 0);
    lmf_free(ids);
    lmf_free(vals);
    free(cnt);
    free(df);
}

static void test_features(void) {
    /* 3a: the plain implementation, words 1..2 and char_wb 2..4 (short
     * words "a", "I" exercise the whole-padded-word rule) */
    static const char *const train[] = {"The cat sat on the MAT", "a dog\tsat  down", "I saw a cat and a dog"};
    lmf_docs tr;
    if (!read_docs("lin_feat.txt",
                   "__label__p The cat sat on the MAT\n__label__q a dog\tsat  down\n__label__p I saw a cat and a dog\n",
                   NULL, &tr))
        return;
    CHECK(tr.n == 3 && !strcmp(tr.text[1], train[1]));
    lmf_linear_opts o;
    lmf_linear_opts_init(&o);
    o.hash_bits = 18;
    o.char_min = 2;
    o.char_max = 4;
    o.l2 = 1e-3;
    o.max_iter = 2;
    lmf_classifier *c = NULL;
    CHECK(lmf_linear_train(&tr, NULL, &o, &c) == LMF_OK);
    if (c) {
        check_features(c, train, 3, "The CAT saw the cat, a dog and a mouse", 2, 2, 4, (size_t)1 << 18, "char 2..4");
        check_features(c, train, 3, "x", 2, 2, 4, (size_t)1 << 18, "one letter");
        /* a document of blanks only: no features, no NaN */
        uint32_t *ids = NULL;
        float *vals = NULL;
        size_t nnz = 1;
        CHECK(lmf_linear_features(c, " \t ", 3, &ids, &vals, &nnz) == LMF_OK && nnz == 0);
    }
    lmf_classifier_free(c);

    /* 3b: by hand, words only.  Train "cat sat", "dog sat", "cat dog bird":
     * n = 3, df(cat) = 2, df(bird) = 1.  "Cat cat BIRD": cat tf 1 + ln 2,
     * idf ln(4/3) + 1; bird tf 1, idf ln(4/2) + 1; then normalised. */
    lmf_docs tr2;
    if (read_docs("lin_hand.txt", "__label__a cat sat\n__label__b dog sat\n__label__a cat dog bird\n", NULL, &tr2)) {
        o.word_max = 1;
        o.char_min = o.char_max = 0;
        o.hash_bits = 20;
        CHECK(lmf_linear_train(&tr2, NULL, &o, &c) == LMF_OK);
        uint32_t *ids = NULL;
        float *vals = NULL;
        size_t nnz = 0;
        if (c) CHECK(lmf_linear_features(c, "Cat cat BIRD", 12, &ids, &vals, &nnz) == LMF_OK);
        const size_t mask = ((size_t)1 << 20) - 1;
        uint32_t bcat = (uint32_t)(lmf_hash_bytes("cat", 3, LMF_LINEAR_WORD_SEED) & mask),
                 bbird = (uint32_t)(lmf_hash_bytes("bird", 4, LMF_LINEAR_WORD_SEED) & mask);
        double vcat = (1 + log(2.0)) * (log(4.0 / 3.0) + 1), vbird = log(2.0) + 1, nrm = sqrt(vcat * vcat + vbird * vbird);
        CHECK(nnz == 2 && bcat != bbird);
        if (nnz == 2) {
            int ci = ids[0] == bcat ? 0 : 1;
            CHECK(ids[ci] == bcat && ids[1 - ci] == bbird && ids[0] < ids[1]);
            CHECK_CLOSE(vals[ci], vcat / nrm, 1e-7, 1e-6);
            CHECK_CLOSE(vals[1 - ci], vbird / nrm, 1e-7, 1e-6);
        }
        lmf_free(ids);
        lmf_free(vals);
        lmf_classifier_free(c);
        lmf_docs_free(&tr2);
    }
    lmf_docs_free(&tr);
}

/* ---- 2, 4, 5: learning, save -> load, damage, refit ---- */

static char *slurp(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = (char *)malloc((size_t)sz + 1);
    *n = fread(b, 1, (size_t)sz, fp);
    b[*n] = 0;
    fclose(fp);
    return b;
}

/* Loading path must fail with a message holding `needle` (the file named). */
static void check_load_fails(const char *path, const char *needle, const char *what) {
    lmf_classifier *c = NULL;
    lmf_status s = lmf_classifier_load(path, &c);
    CHECK_MSG(s != LMF_OK && c == NULL, "%s: loaded", what);
    CHECK_MSG(strstr(lmf_last_error(), needle) != NULL, "%s: message \"%s\" does not name \"%s\"", what,
              lmf_last_error(), needle);
    lmf_classifier_free(c);
}

static void test_toy(void) {
    static char buf[1 << 16];
    lmf_docs tr, va;
    toy_file(buf, sizeof buf, 60, 1);
    if (!read_docs("lin_toy.train.txt", buf, NULL, &tr)) return;
    toy_file(buf, sizeof buf, 30, 99);
    if (!read_docs("lin_toy.valid.txt", buf, &tr, &va)) {
        lmf_docs_free(&tr);
        return;
    }
    lmf_linear_opts o;
    lmf_linear_opts_init(&o);
    o.hash_bits = 16;
    lmf_classifier *c = NULL;
    CHECK_MSG(lmf_linear_train(&tr, &va, &o, &c) == LMF_OK, "%s", lmf_last_error());
    if (!c) goto done;
    CHECK(!strcmp(lmf_classifier_kind(c), "linear") && lmf_classifier_classes(c) == 3);
    char desc[512];
    lmf_classifier_describe(c, desc, sizeof desc);
    fprintf(stderr, "%s\n", desc);
    CHECK(strstr(desc, "chosen on valid") != NULL);

    /* 2. every training document right, rows normalised */
    float *lp = (float *)malloc(tr.n * 3 * sizeof *lp), *lv = (float *)malloc(va.n * 3 * sizeof *lv),
          *lv2 = (float *)malloc(va.n * 3 * sizeof *lv2);
    CHECK(lmf_classifier_predict(c, &tr, lp, NULL, NULL) == LMF_OK);
    CHECK_CLOSE(check_rows(lp, &tr, "train"), 1, 0, 0);
    CHECK(lmf_classifier_predict(c, &va, lv, NULL, NULL) == LMF_OK);
    CHECK_CLOSE(check_rows(lv, &va, "valid"), 1, 0, 0);

    /* a document of line breaks only (escaped): no features, the biases' softmax */
    lmf_docs blank;
    if (read_docs("lin_blank.txt", "__label__fruit \\n\\r\\n\n", &tr, &blank)) {
        float row[3];
        CHECK(blank.n == 1 && blank.len[0] == 3);
        CHECK(lmf_classifier_predict(c, &blank, row, NULL, NULL) == LMF_OK);
        check_rows(row, &blank, "blank document");
        lmf_docs_free(&blank);
    }

    /* 4. save -> load: the same log-probabilities, bit for bit */
    const char *path = tmp_path("lin_toy.json");
    char side[1024];
    snprintf(side, sizeof side, "%s.linear.safetensors", path);
    remove(side);
    CHECK_MSG(lmf_classifier_save(c, path) == LMF_OK, "%s", lmf_last_error());
    CHECK(file_exists(side));
    size_t jn = 0;
    char *js = slurp(path, &jn);
    cJSON *j = js ? cJSON_Parse(js) : NULL;
    const cJSON *grid = j ? cJSON_GetObjectItemCaseSensitive(j, "grid") : NULL,
                *l2 = j ? cJSON_GetObjectItemCaseSensitive(j, "l2") : NULL,
                *w = j ? cJSON_GetObjectItemCaseSensitive(j, "weights") : NULL;
    CHECK(cJSON_IsArray(grid) && cJSON_GetArraySize(grid) == 7);
    for (const cJSON *e = grid ? grid->child : NULL; e; e = e->next) CHECK(cJSON_IsNumber(e) && e->valuedouble >= 0.3);
    CHECK(cJSON_IsNumber(l2) && (l2->valuedouble == 1e-7 || l2->valuedouble == 1e-6 || l2->valuedouble == 1e-5 ||
                                 l2->valuedouble == 1e-4 || l2->valuedouble == 1e-3));
    CHECK(cJSON_IsString(w) && !strcmp(w->valuestring, "lin_toy.json.linear.safetensors"));
    double chosen = cJSON_IsNumber(l2) ? l2->valuedouble : 0;
    cJSON_Delete(j);
    lmf_classifier *c2 = NULL;
    CHECK_MSG(lmf_classifier_load(path, &c2) == LMF_OK, "%s", lmf_last_error());
    if (c2) {
        CHECK(!strcmp(lmf_classifier_kind(c2), "linear") && lmf_classifier_classes(c2) == 3);
        CHECK(!strcmp(lmf_classifier_class_name(c2, 2), "vehicle"));
        CHECK(lmf_classifier_predict(c2, &va, lv2, NULL, NULL) == LMF_OK);
        CHECK_MSG(!memcmp(lv, lv2, va.n * 3 * sizeof *lv), "predictions after loading differ");
        /* and saved again: the same side file, byte for byte */
        const char *path2 = tmp_path("lin_toy2.json");
        CHECK(lmf_classifier_save(c2, path2) == LMF_OK);
        char side2[1024];
        snprintf(side2, sizeof side2, "%s.linear.safetensors", path2);
        size_t n1 = 0, n2 = 0;
        char *a = slurp(side, &n1), *b = slurp(side2, &n2);
        CHECK(a && b && n1 == n2 && !memcmp(a, b, n1));
        free(a);
        free(b);
        lmf_classifier_free(c2);
    }

    /* 5. refit on a subset, no valid: the chosen l2 kept, the same classes */
    size_t idx[30];
    for (size_t i = 0; i < 30; i++) idx[i] = 2 * i;
    lmf_docs sub;
    CHECK(lmf_docs_subset(&tr, idx, 30, &sub) == LMF_OK);
    lmf_classifier *r = NULL;
    CHECK_MSG(lmf_classifier_refit(c, &sub, NULL, &r) == LMF_OK, "%s", lmf_last_error());
    if (r) {
        CHECK(lmf_classifier_classes(r) == 3 && !strcmp(lmf_classifier_kind(r), "linear"));
        for (int k = 0; k < 3; k++) CHECK(!strcmp(lmf_classifier_class_name(r, k), lmf_classifier_class_name(c, k)));
        float *ls = (float *)malloc(sub.n * 3 * sizeof *ls);
        CHECK(lmf_classifier_predict(r, &sub, ls, NULL, NULL) == LMF_OK);
        CHECK_CLOSE(check_rows(ls, &sub, "refit"), 1, 0, 0);
        free(ls);
        CHECK(lmf_classifier_predict(r, &va, lv2, NULL, NULL) == LMF_OK);
        CHECK(check_rows(lv2, &va, "refit on valid") >= 0.9);
        const char *rp = tmp_path("lin_refit.json");
        CHECK(lmf_classifier_save(r, rp) == LMF_OK);
        js = (free(js), slurp(rp, &jn));
        j = js ? cJSON_Parse(js) : NULL;
        l2 = j ? cJSON_GetObjectItemCaseSensitive(j, "l2") : NULL;
        CHECK_MSG(cJSON_IsNumber(l2) && l2->valuedouble == chosen, "refit l2 %g, chosen %g",
                  cJSON_IsNumber(l2) ? l2->valuedouble : -1, chosen);
        cJSON_Delete(j);
        lmf_classifier_free(r);
    }
    /* refit with documents of other classes: refused */
    lmf_docs other;
    if (read_docs("lin_other.txt", "__label__p one\n__label__q two\n", NULL, &other)) {
        CHECK(lmf_classifier_refit(c, &other, NULL, &r) != LMF_OK && r == NULL);
        lmf_docs_free(&other);
    }
    lmf_docs_free(&sub);

    /* 4b. damaged files: refused with the file named, never a crash */
    size_t sn = 0;
    char *good = slurp(side, &sn);
    CHECK(good && sn > 16);
    if (good && sn > 16) {
        write_file(side, good, sn / 2); /* truncated */
        check_load_fails(path, "lin_toy.json.linear.safetensors", "truncated side file");
        /* a NaN in W: its data offsets from the header */
        uint64_t hl = 0;
        memcpy(&hl, good, 8);
        char *hdr = (char *)malloc(hl + 1);
        memcpy(hdr, good + 8, hl);
        hdr[hl] = 0;
        const char *wk = strstr(hdr, "\"W\"");
        const char *off = wk ? strstr(wk, "data_offsets") : NULL;
        unsigned long long b0 = 0, b1 = 0;
        CHECK(off && sscanf(off, "data_offsets\":[%llu,%llu]", &b0, &b1) == 2 && b1 > b0 + 100);
        if (b1 > b0 + 100) {
            char *bad = (char *)malloc(sn);
            memcpy(bad, good, sn);
            const float nan = NAN;
            memcpy(bad + 8 + hl + b0 + 4 * 37, &nan, 4);
            write_file(side, bad, sn);
            check_load_fails(path, "lin_toy.json.linear.safetensors", "NaN in W");
            check_load_fails(path, "\"W\"", "NaN in W (tensor named)");
            free(bad);
        }
        free(hdr);
        remove(side); /* missing */
        check_load_fails(path, "lin_toy.json.linear.safetensors", "missing side file");
        write_file(side, good, sn);
        /* the JSON disagreeing with the side file: W's shape */
        size_t n0 = 0;
        char *jt = slurp(path, &n0);
        char *hb = jt ? strstr(jt, "\"hash_bits\":") : NULL;
        if (hb) {
            char *digit = hb + strlen("\"hash_bits\":");
            while (*digit == ' ' || *digit == '\t') digit++;
            CHECK(digit[0] == '1' && digit[1] == '6');
            digit[1] = '5';
            const char *p2 = tmp_path("lin_bits.json");
            write_str(p2, jt);
            check_load_fails(p2, "\"W\"", "hash_bits edited");
            digit[0] = '9', digit[1] = '9';
            write_str(p2, jt);
            check_load_fails(p2, "hash_bits", "hash_bits out of range");
        }
        CHECK(hb != NULL);
        free(jt);
        /* restored: loads again */
        lmf_classifier *c3 = NULL;
        CHECK(lmf_classifier_load(path, &c3) == LMF_OK);
        lmf_classifier_free(c3);
    }
    free(good);
    free(js);
    free(lp);
    free(lv);
    free(lv2);
done:
    lmf_classifier_free(c);
    lmf_docs_free(&tr);
    lmf_docs_free(&va);
}

static void test_options(void) {
    lmf_docs tr;
    if (!read_docs("lin_opt.txt", "__label__a x y\n__label__b z\n", NULL, &tr)) return;
    lmf_linear_opts o;
    lmf_linear_opts_init(&o);
    CHECK(o.hash_bits == 20 && o.word_max == 2 && o.char_min == 3 && o.char_max == 5 && o.l2 == 0 &&
          o.max_iter == 200);
    /* bad options: refused, nothing returned */
    for (int k = 0; k < 6; k++) {
        lmf_linear_opts_init(&o);
        if (k == 0) o.hash_bits = 40;
        if (k == 1) o.word_max = -1;
        if (k == 2) o.char_min = 4, o.char_max = 3;
        if (k == 3) o.word_max = 0, o.char_min = o.char_max = 0;
        if (k == 4) o.l2 = NAN;
        if (k == 5) o.max_iter = 0;
        lmf_classifier *c = (lmf_classifier *)&o;
        CHECK_MSG(lmf_linear_train(&tr, NULL, &o, &c) == LMF_ERR_ARG && c == NULL, "bad option %d accepted", k);
    }
    /* valid over other classes: refused */
    lmf_docs other;
    if (read_docs("lin_opt2.txt", "__label__a x y\n__label__c z\n", NULL, &other)) {
        lmf_linear_opts_init(&o);
        lmf_classifier *c = NULL;
        CHECK(lmf_linear_train(&tr, &other, &o, &c) == LMF_ERR_DATA && c == NULL);
        lmf_docs_free(&other);
    }
    lmf_docs_free(&tr);
}

int main(void) {
    test_gradient();
    test_features();
    test_toy();
    test_options();
    TEST_MAIN_END();
}
