/* lmfuse demo classify: the main job for document classification.  On
 * brown-genre (15 genres, 200-word chunks; --quick: the sample shipped in
 * sample/genre) it trains the member classifiers, computes their outputs
 * on valid and test and their out-of-fold outputs on train, fits every
 * fusion method on them, and prints one table (members, fusions, and
 * scikit-learn's best for reference), with the members' diversity.  Every
 * classifier and fusion is written to DIR, so `lmfuse classify eval`
 * reproduces each row; DIR/results.json holds the numbers. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "lmf/classify.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse demo classify [--quick] [--dir DIR] [--data DIR] [--folds K]\n"
            "\n"
            "Document classification, fused: trains LM classifiers (word and character\n"
            "n-grams per genre, Bayes' rule), naive Bayes and linear ones (tf-idf logistic\n"
            "regression; words and characters, plain and class-balanced) on brown-genre,\n"
            "fuses them every way lmfuse classify fuse knows, stacks them trained again on\n"
            "train and valid, and prints accuracy and macro-F1 on valid and test, with\n"
            "scikit-learn's best for reference.\n"
            "\n"
            "options:\n"
            "  --quick     the sample in sample/genre (150/60/60 documents), about a minute\n"
            "  --dir DIR   where the classifiers, fusions and results.json go\n"
            "              (default lmfuse-demo-classify, or lmfuse-demo-classify-quick)\n"
            "  --data DIR  a folder with brown-genre.{train,valid,test}.txt (default data/brown,\n"
            "              fetched if missing; with --quick, sample/genre)\n"
            "  --folds K   folds of train for stacking's out-of-fold outputs (default 5)\n");
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = (char *)malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

typedef struct member {
    const char *name, *file;
    int kind; /* 0: lm, 1: linear, 2: naive Bayes */
    int chars, order; /* lm */
    int words, char_min, char_max, balanced; /* linear */
    lmf_classifier *c, *rc; /* rc: trained again on train + valid */
    float *va, *te, *oof, *rte, *roof;
    double secs;
} member;

typedef struct row {
    char name[48], file[64];
    double va_acc, te_acc, te_f1, va_f1;
} row;

static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6f", v);
    else fprintf(f, "null");
}

static void eval_row(row *r, const char *name, const float *va, const lmf_docs *dv, const float *te, const lmf_docs *dt) {
    lmf_cmetrics m;
    snprintf(r->name, sizeof r->name, "%s", name);
    r->va_acc = r->va_f1 = r->te_acc = r->te_f1 = NAN;
    if (va && !lmf_cmetrics_compute(dv->label, va, dv->n, dv->C, &m)) {
        r->va_acc = m.accuracy, r->va_f1 = m.macro_f1;
        lmf_cmetrics_free(&m);
    }
    if (!lmf_cmetrics_compute(dt->label, te, dt->n, dt->C, &m)) {
        r->te_acc = m.accuracy, r->te_f1 = m.macro_f1;
        lmf_cmetrics_free(&m);
    }
}

static void progress_line(const char *what, int k, int n) {
    fprintf(stderr, "[demo classify] %d/%d %s\n", k, n, what);
}

/* Valid outputs of a method fitted on valid, honestly: 5-fold
 * cross-validation over the valid documents (folds: lmf_cfuse_folds),
 * each fold fused by the method fitted on the other four. */
static lmf_status cv_valid(const char *method, int K, int C, const float *const *vlp, const lmf_docs *va,
                           const float *const *olp, const lmf_docs *tr, float *out) {
    enum { F = 5 };
    const size_t n = va->n;
    float *sub[LMF_FUSE_MAX_MEMBERS] = {0}, *held[LMF_FUSE_MAX_MEMBERS] = {0}, *fo = NULL;
    int32_t *ys = (int32_t *)malloc(n * sizeof *ys);
    int *fold = (int *)malloc(n * sizeof *fold);
    lmf_status s = ys && fold ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) lmf_cfuse_folds(va->label, n, C, F, fold);
    for (int k = 0; k < K && !s; k++)
        if (!(sub[k] = (float *)malloc(n * (size_t)C * sizeof(float))) ||
            !(held[k] = (float *)malloc(n * (size_t)C * sizeof(float))))
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && !(fo = (float *)malloc(n * (size_t)C * sizeof *fo))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int f = 0; f < F && !s; f++) {
        size_t m = 0, h = 0;
        for (size_t i = 0; i < n; i++) {
            const int in = fold[i] == f;
            float **dst = in ? held : sub;
            size_t at = in ? h++ : m++;
            for (int k = 0; k < K; k++) memcpy(dst[k] + at * C, vlp[k] + i * (size_t)C, (size_t)C * sizeof(float));
            if (!in) ys[at] = va->label[i];
        }
        lmf_cfuse_fit fit;
        s = lmf_cfuse_fit_method(method, K, C, (const float *const *)sub, ys, m, olp, tr->label, tr->n, NULL, &fit);
        if (!s) s = lmf_cfuse_apply(&fit.o, K, C, (const float *const *)held, h, fo);
        if (!s) lmf_cfuse_fit_free(&fit);
        for (size_t i = 0, j = 0; !s && i < n; i++)
            if (fold[i] == f) memcpy(out + i * (size_t)C, fo + j++ * (size_t)C, (size_t)C * sizeof(float));
    }
    for (int k = 0; k < K; k++) free(sub[k]), free(held[k]);
    free(fo);
    free(ys);
    free(fold);
    return s;
}

int lmf_cmd_demo_classify(int argc, char **argv) {
    int quick = 0, folds = 5;
    const char *dir = NULL, *data = NULL;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--dir", &missing)) || missing) {
            if (!v) return cli_usage_error("demo classify", "--dir needs a folder");
            dir = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--data", &missing)) || missing) {
            if (!v) return cli_usage_error("demo classify", "--data needs a folder");
            data = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--folds", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &folds) || folds < 2 || folds > 20)
                return cli_usage_error("demo classify", "--folds takes 2..20");
        } else {
            return cli_usage_error("demo classify", "unknown argument \"%s\"", argv[i]);
        }
    }
    if (!dir) dir = quick ? "lmfuse-demo-classify-quick" : "lmfuse-demo-classify";
    if (!data) {
        data = quick ? "sample/genre" : "data/brown";
        char *probe = join(data, "brown-genre.test.txt");
#ifdef LMF_SOURCE_DIR
        if (quick && probe && !exists(probe)) data = LMF_SOURCE_DIR "/sample/genre";
#endif
        if (!quick && probe && !exists(probe)) { /* as `lmfuse data fetch brown` */
            fprintf(stderr, "[demo classify] %s has no brown-genre split: fetching it (lmfuse data fetch brown)\n", data);
            char a0[] = "data", a1[] = "fetch", a2[] = "brown", *fa[] = {a0, a1, a2, NULL};
            if (lmf_cmd_data(3, fa)) {
                free(probe);
                return 1;
            }
        }
        free(probe);
    }
    char *ftr = join(data, "brown-genre.train.txt"), *fva = join(data, "brown-genre.valid.txt"),
         *fte = join(data, "brown-genre.test.txt");
    if (!ftr || !fva || !fte) return lmf_error(LMF_ERR_NOMEM, "out of memory"), cli_fail();
    if (mkdir(dir, 0777) && errno != EEXIST) {
        lmf_error(LMF_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
        free(ftr), free(fva), free(fte);
        return cli_fail();
    }
    member mem[] = {
        {.name = "LM word 3-gram", .file = "lm-word3.json", .kind = 0, .order = 3},
        {.name = "LM word 1-gram", .file = "lm-word1.json", .kind = 0, .order = 1},
        {.name = "LM char 4-gram", .file = "lm-char4.json", .kind = 0, .chars = 1, .order = 4},
        {.name = "naive Bayes", .file = "nb.json", .kind = 2},
        {.name = "linear tf-idf", .file = "linear.json", .kind = 1, .words = 2, .char_min = 3, .char_max = 5},
        {.name = "linear words, bal.", .file = "linear-words.json", .kind = 1, .words = 2, .balanced = 1},
        {.name = "linear chars, bal.", .file = "linear-chars.json", .kind = 1, .char_min = 3, .char_max = 5, .balanced = 1},
    };
    enum { K = sizeof mem / sizeof *mem };
    lmf_docs tr = {0}, va = {0}, te = {0};
    row rows[K + 32];
    int nrows = 0, rc = 1;
    char *paths[K] = {0};
    float *fused = NULL;
    const double t0 = cli_now_s();
    if (lmf_docs_read(ftr, NULL, 0, &tr) || lmf_docs_read(fva, (const char *const *)tr.names, tr.C, &va) ||
        lmf_docs_read(fte, (const char *const *)tr.names, tr.C, &te))
        goto done;
    const int C = tr.C;
    fprintf(stderr, "[demo classify] %s: %zu train, %zu valid, %zu test documents, %d classes; output in %s\n",
            quick ? "the brown-genre sample" : "brown-genre", tr.n, va.n, te.n, C, dir);
    /* ---- members ---- */
    for (int k = 0; k < K; k++) {
        member *m = &mem[k];
        char what[160];
        snprintf(what, sizeof what, "training %s", m->name);
        progress_line(what, k + 1, K);
        double t = cli_now_s();
        lmf_status s;
        if (m->kind == 0) {
            lmf_lmclass_opts o;
            lmf_lmclass_opts_init(&o);
            o.calib = LMF_CALIB_PLATT;
            o.chars = m->chars;
            o.order = m->order;
            s = lmf_lmclass_train(&tr, &va, &o, &m->c);
        } else if (m->kind == 2) {
            s = lmf_nb_train(&tr, &va, 0, &m->c);
        } else {
            lmf_linear_opts o;
            lmf_linear_opts_init(&o);
            if (quick) o.hash_bits = 18;
            o.word_max = m->words;
            o.char_min = m->char_min;
            o.char_max = m->char_max;
            o.balanced = m->balanced;
            s = lmf_linear_train(&tr, &va, &o, &m->c);
        }
        if (s || !(paths[k] = join(dir, m->file)) || lmf_classifier_save(m->c, paths[k])) goto done;
        m->va = (float *)malloc(va.n * (size_t)C * sizeof(float));
        m->te = (float *)malloc(te.n * (size_t)C * sizeof(float));
        m->oof = (float *)malloc(tr.n * (size_t)C * sizeof(float));
        if (!m->va || !m->te || !m->oof) {
            lmf_error(LMF_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (lmf_classifier_predict(m->c, &va, m->va, NULL, NULL) || lmf_classifier_predict(m->c, &te, m->te, NULL, NULL))
            goto done;
        snprintf(what, sizeof what, "%s: out-of-fold outputs on train (%d folds)", m->name, folds);
        progress_line(what, k + 1, K);
        /* each fold's member keeps the choices made on valid (calibration, penalty) */
        if (lmf_cfuse_oof(m->c, &tr, NULL, folds, m->oof, NULL, NULL)) goto done;
        m->secs = cli_now_s() - t;
        eval_row(&rows[nrows], m->name, m->va, &va, m->te, &te);
        snprintf(rows[nrows++].file, sizeof rows[0].file, "%s", m->file);
    }
    /* ---- fusions ---- */
    const float *vlp[K], *tlp[K], *olp[K];
    for (int k = 0; k < K; k++) vlp[k] = mem[k].va, tlp[k] = mem[k].te, olp[k] = mem[k].oof;
    fused = (float *)malloc((te.n > va.n ? te.n : va.n) * (size_t)C * sizeof *fused);
    float *fva_lp = (float *)malloc(va.n * (size_t)C * sizeof *fva_lp);
    if (!fused || !fva_lp) {
        free(fva_lp);
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    int best_member = 0, best_fusion = -1;
    for (int k = 1; k < K; k++)
        if (rows[k].va_acc > rows[best_member].va_acc) best_member = k;
    for (int i = 0; lmf_cfuse_method_name(i); i++) {
        const char *method = lmf_cfuse_method_name(i);
        lmf_cfuse_fit fit;
        if (lmf_cfuse_fit_method(method, K, C, vlp, va.label, va.n, olp, tr.label, tr.n, NULL, &fit)) {
            free(fva_lp);
            goto done;
        }
        lmf_status s = lmf_cfuse_apply(&fit.o, K, C, tlp, te.n, fused);
        if (!s)
            s = lmf_cfuse_method_needs(method) & LMF_CFUSE_NEEDS_VALID
                    ? cv_valid(method, K, C, vlp, &va, olp, &tr, fva_lp)
                    : lmf_cfuse_apply(&fit.o, K, C, vlp, va.n, fva_lp);
        /* the fusion as a file over the saved members, for lmfuse classify eval */
        lmf_classifier *ms[K] = {0}, *f = NULL;
        for (int k = 0; k < K && !s; k++) s = lmf_classifier_load(paths[k], &ms[k]);
        char fname[64], *fpath = NULL;
        snprintf(fname, sizeof fname, "fusion-%s.json", method);
        char tuning[512];
        snprintf(tuning, sizeof tuning, "{\"method\":\"%s\",\"by\":\"lmfuse demo classify\",\"folds\":%d}", method, folds);
        if (!s) {
            s = lmf_cfuse_new(ms, (const char *const *)paths, K, &fit.o, tuning, &f);
            memset(ms, 0, sizeof ms);
        }
        if (!s && !(fpath = join(dir, fname))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        if (!s) s = lmf_classifier_save(f, fpath);
        for (int k = 0; k < K; k++) lmf_classifier_free(ms[k]);
        lmf_classifier_free(f);
        free(fpath);
        lmf_cfuse_fit_free(&fit);
        if (s) {
            free(fva_lp);
            goto done;
        }
        char nm[48];
        snprintf(nm, sizeof nm, "fusion: %s", method);
        eval_row(&rows[nrows], nm, fva_lp, &va, fused, &te);
        snprintf(rows[nrows].file, sizeof rows[0].file, "%s", fname);
        if (best_fusion < 0 || rows[nrows].va_acc > rows[best_fusion].va_acc) best_fusion = nrows;
        nrows++;
    }
    free(fva_lp);
    /* ---- stacking over train + valid: every member trained again on both
     * (its choices on valid kept), the meta-model (over ln probabilities,
     * class-balanced) on their out-of-fold outputs over both ---- */
    {
        lmf_docs both = {0};
        const float *rte[K], *roof[K];
        lmf_status s = lmf_docs_concat(&tr, &va, &both);
        for (int k = 0; k < K && !s; k++) {
            member *m = &mem[k];
            char what[160];
            snprintf(what, sizeof what, "%s: trained again on train + valid, out-of-fold outputs (%d folds)", m->name,
                     folds);
            progress_line(what, k + 1, K);
            m->rte = (float *)malloc(te.n * (size_t)C * sizeof(float));
            m->roof = (float *)malloc(both.n * (size_t)C * sizeof(float));
            if (!m->rte || !m->roof) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            if (!s) s = lmf_classifier_refit(m->c, &both, NULL, &m->rc);
            if (!s) s = lmf_classifier_predict(m->rc, &te, m->rte, NULL, NULL);
            if (!s) s = lmf_cfuse_oof(m->c, &both, NULL, folds, m->roof, NULL, NULL);
            rte[k] = m->rte, roof[k] = m->roof;
        }
        lmf_cfuse_fit fit;
        lmf_cfuse_fit_opts fo = {0.5, 0, 1, 1};
        int fitted = 0;
        if (!s) s = lmf_cfuse_fit_method("stack-full", K, C, NULL, NULL, 0, roof, both.label, both.n, &fo, &fit);
        if (!s) fitted = 1;
        if (!s) s = lmf_cfuse_apply(&fit.o, K, C, rte, te.n, fused);
        /* the fusion as a file over the members trained again, saved beside it */
        char *rpaths[K] = {0}, *fpath = NULL;
        lmf_classifier *ms[K] = {0}, *f = NULL;
        for (int k = 0; k < K && !s; k++) {
            char fn[96];
            snprintf(fn, sizeof fn, "refit-%s", mem[k].file);
            if (!(rpaths[k] = join(dir, fn))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            if (!s) s = lmf_classifier_save(mem[k].rc, rpaths[k]);
            if (!s) s = lmf_classifier_load(rpaths[k], &ms[k]);
        }
        char tuning[512];
        snprintf(tuning, sizeof tuning,
                 "{\"method\":\"stack-full\",\"meta\":\"logp\",\"balanced\":true,\"by\":\"lmfuse demo classify\","
                 "\"train\":\"train+valid\",\"folds\":%d,\"l2\":%g}",
                 folds, fitted ? fit.l2 : 0.0);
        if (!s) {
            s = lmf_cfuse_new(ms, (const char *const *)rpaths, K, &fit.o, tuning, &f);
            memset(ms, 0, sizeof ms);
        }
        if (!s && !(fpath = join(dir, "fusion-stack-trainvalid.json"))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        if (!s) s = lmf_classifier_save(f, fpath);
        for (int k = 0; k < K; k++) lmf_classifier_free(ms[k]), free(rpaths[k]);
        lmf_classifier_free(f);
        free(fpath);
        if (fitted) lmf_cfuse_fit_free(&fit);
        lmf_docs_free(&both);
        if (s) goto done;
        eval_row(&rows[nrows], "fusion: stack, train+valid", NULL, &va, fused, &te);
        snprintf(rows[nrows++].file, sizeof rows[0].file, "fusion-stack-trainvalid.json");
    }
    /* ---- the table ---- */
    printf("\nlmfuse demo classify (%s): %zu train, %zu valid, %zu test documents, %d genres\n\n",
           quick ? "quick, brown-genre sample" : "brown-genre", tr.n, va.n, te.n, C);
    printf("%-24s %9s %9s %9s %9s\n", "classifier", "valid acc", "valid F1", "test acc", "test F1");
    for (int r = 0; r < nrows; r++) {
        if (r == K || r == nrows - 1) printf("\n");
        if (isfinite(rows[r].va_acc))
            printf("%-24s %9.4f %9.4f", rows[r].name, rows[r].va_acc, rows[r].va_f1);
        else
            printf("%-24s %9s %9s", rows[r].name, "-", "-");
        printf(" %9.4f %9.4f%s\n", rows[r].te_acc, rows[r].te_f1,
               r == best_member ? "  (best member on valid)" : r == best_fusion ? "  (best fusion on valid)" : "");
    }
    if (!quick)
        printf("\nscikit-learn 1.2.1 on the same files (bench/classify_sklearn.sh): best single MultinomialNB test acc\n"
               "0.4305, macro-F1 0.337; best ensemble blending test acc 0.4479, macro-F1 0.364\n");
    printf("\ndiversity of the members on test (disagreement / Q-statistic / error correlation):\n");
    for (int a = 0; a < K; a++)
        for (int b = a + 1; b < K; b++) {
            lmf_diversity dv;
            lmf_cfuse_diversity(mem[a].te, mem[b].te, te.n, C, te.label, &dv);
            printf("  %-19s %-19s %.3f  %6.3f  %6.3f\n", mem[a].name, mem[b].name, dv.disagreement, dv.q, dv.error_corr);
        }
    printf("\nValid figures of fusions fitted on valid come from 5-fold cross-validation over valid (each\n"
           "fold fused by the method fitted on the other four); stack is fitted on train's out-of-fold outputs.\n"
           "The members' calibration (and the linear ones' penalty, naive Bayes' alpha) was chosen on valid.\n"
           "\"stack, train+valid\": every member trained again on train and valid with those choices, the\n"
           "meta-model (ln probabilities, class-balanced loss) fitted on their out-of-fold outputs over both;\n"
           "valid is training data there, so it has no valid figure.\n");
    printf("\nmacro-F1 is over the genres; the fusions are in %s (lmfuse classify eval reproduces each row), %.0f s\n",
           dir, cli_now_s() - t0);
    /* results.json */
    char *rp = join(dir, "results.json");
    FILE *jf = rp ? fopen(rp, "w") : NULL;
    if (!jf) {
        lmf_error(LMF_ERR_IO, "%s: cannot write", rp ? rp : dir);
        free(rp);
        goto done;
    }
    fprintf(jf, "{\"mode\":\"%s\",\"test\":", quick ? "quick" : "full");
    cli_json_str(jf, fte, strlen(fte));
    fprintf(jf, ",\"rows\":[");
    for (int r = 0; r < nrows; r++) {
        fprintf(jf, "%s{\"name\":\"%s\",\"file\":\"%s\",\"valid_accuracy\":", r ? "," : "", rows[r].name,
                rows[r].file);
        json_num(jf, rows[r].va_acc);
        fprintf(jf, ",\"valid_macro_f1\":");
        json_num(jf, rows[r].va_f1);
        fprintf(jf, ",\"test_accuracy\":");
        json_num(jf, rows[r].te_acc);
        fprintf(jf, ",\"test_macro_f1\":");
        json_num(jf, rows[r].te_f1);
        fprintf(jf, "}");
    }
    fprintf(jf, "]}\n");
    int bad = fclose(jf);
    free(rp);
    if (bad) {
        lmf_error(LMF_ERR_IO, "results.json: write failed");
        goto done;
    }
    rc = 0;
done:
    for (int k = 0; k < K; k++) {
        lmf_classifier_free(mem[k].c);
        lmf_classifier_free(mem[k].rc);
        free(mem[k].va), free(mem[k].te), free(mem[k].oof), free(mem[k].rte), free(mem[k].roof);
        free(paths[k]);
    }
    free(fused);
    lmf_docs_free(&tr), lmf_docs_free(&va), lmf_docs_free(&te);
    free(ftr), free(fva), free(fte);
    return rc ? cli_fail() : 0;
}
