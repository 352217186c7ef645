/* lmfuse classify train|eval|predict|fuse: document classifiers and their
 * fusion (lmf/classify.h). */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "cli.h"
#include "lmf/classify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse classify train --kind lm|nb|linear|neural TRAIN [--valid VALID] -o CLASSIFIER.json [options]\n"
            "       lmfuse classify eval CLASSIFIER.json TEST [--json]\n"
            "       lmfuse classify predict CLASSIFIER.json DOCS [-o OUT.tsv]\n"
            "       lmfuse classify fuse --method M [--valid VALID] [--train TRAIN]... MEMBER.json... -o FUSED.json\n"
            "\n"
            "Labelled files: one document per line, `__label__NAME text` (fastText), the\n"
            "document's line breaks written \\n (\\r, \\\\, \\xHH for the others), as\n"
            "`lmfuse data labelled` writes them.  The classes are the training file's labels.\n"
            "\n"
            "train kinds:\n"
            "  lm       one Kneser-Ney n-gram per class and Bayes' rule with the class prior;\n"
            "           posteriors calibrated on VALID (temperature, or Platt with --calibration)\n"
            "  nb       multinomial naive Bayes over words (Lidstone alpha chosen on VALID)\n"
            "  linear   multinomial logistic regression on hashed tf-idf word 1-2 grams and\n"
            "           character 3-5 grams, L2 chosen on VALID\n"
            "  neural   a recurrent or Transformer network read over each document (its first\n"
            "           --max-tokens tokens), top states pooled under a softmax layer; from a\n"
            "           pretrained neural LM (--init, as lmfuse train writes) or random weights;\n"
            "           the best epoch on VALID is kept\n"
            "train options:\n"
            "  --order N          lm: n-gram order (default 3 for words, 5 for characters)\n"
            "  --chars            lm: characters as tokens instead of words\n"
            "  --no-length-norm   lm: the classes' whole-document log-likelihoods, not per token\n"
            "  --refit            lm, nb, linear: after choosing on VALID (calibration, regularisation),\n"
            "                     train again on TRAIN and VALID together with those choices kept\n"
            "  --calibration C    lm: none | temperature | platt (default temperature)\n"
            "  --alpha X          nb: this smoothing instead of the choice on VALID\n"
            "  --hash-bits B      linear: 2^B feature buckets (default 20)\n"
            "  --word-ngrams N    linear: word 1..N grams (default 2; 0: none)\n"
            "  --char-ngrams A-B  linear: character A..B grams (default 3-5; 0: none)\n"
            "  --l2 X             linear: this regularisation instead of the choice on VALID\n"
            "  --balanced         linear: every class weighs the same in the loss (for macro-F1);\n"
            "                     the regularisation then chosen by VALID's mean recall over classes\n"
            "  --init LM          neural: start from this word-level neural LM (.safetensors)\n"
            "  --pooling P        neural: mean | last (default mean)\n"
            "  --max-tokens N     neural: tokens read per document (default 256; a Transformer reads\n"
            "                     at most its context - 1)\n"
            "  --epochs N, --lr X, --batch N, --dropout P, --seed N, --threads N\n"
            "                     neural: default 4, 1e-3, 16, 0.1, 1, 1\n"
            "  --arch A, --layers N, --hidden N, --emb N, --min-count N\n"
            "                     neural, without --init: lstm, 1, 256, 256, 2 (vocabulary from TRAIN)\n"
            "\n"
            "eval prints accuracy, macro/micro/weighted F1, per-class precision, recall and F1,\n"
            "the confusion matrix (rows gold), and for two classes ROC-AUC and FP/FN (the\n"
            "positive class is the second name in sorted order), as scikit-learn defines them.\n"
            "predict writes TSV: the predicted label, then p(class) for each class; lines of\n"
            "DOCS may carry a label or not.\n"
            "\n"
            "fuse methods (weights and meta-models fitted on VALID unless said):\n"
            "  average        equal-weight average of the members' probabilities\n"
            "  weighted       weighted average, weights maximising VALID's likelihood (EM)\n"
            "  acc-weighted   weighted average, weights proportional to VALID accuracy\n"
            "  geometric      equal-weight geometric mean, renormalised\n"
            "  geo-weighted   weighted geometric mean, weights maximising VALID's likelihood\n"
            "  max            maximum of the members' probabilities, renormalised\n"
            "  vote           majority vote (ties: the lower class)\n"
            "  weighted-vote  votes weighted by VALID accuracy\n"
            "  threshold-vote each member votes for every class it gives p >= --threshold\n"
            "  select         greedy forward selection (with replacement) of members into an\n"
            "                 average, by VALID accuracy (Caruana et al. 2004)\n"
            "  bo-weighted    weighted average, weights maximising VALID macro-F1 by Bayesian\n"
            "                 optimisation (a Gaussian process and expected improvement, 40 tries)\n"
            "  stack          logistic regression on the members' out-of-fold probabilities\n"
            "                 on TRAIN (--folds, default 5; members trained again per fold; --train\n"
            "                 again to add a file: --train TRAIN --train VALID for members --refit)\n"
            "  blend          logistic regression on the members' probabilities on VALID\n"
            "                 (stack and blend: class-wise, each class's score from the members'\n"
            "                 probabilities of that class; stack-full, blend-full: from all of them)\n"
            "fuse options: --threshold T (default 0.5), --folds K, --l2 X (meta-model; default: chosen by\n"
            "              5-fold cross-validation)\n"
            "  --meta F      stack, blend: the meta-model over the members' prob(abilities) (default)\n"
            "                or their logp (ln probabilities, floored at -20)\n"
            "  --balanced    stack, blend: every class weighs the same in the meta-model's loss\n"
            "                (scikit-learn's class_weight=\"balanced\"; for macro-F1)\n"
            "  --oof-out P   stack: also write member k's out-of-fold outputs to P.k.tsv (as predict)\n");
}

/* ---- printing metrics ---- */
static void print_metrics(FILE *fp, const lmf_cmetrics *m, char **names, int json) {
    const int C = m->C;
    if (json) {
        fprintf(fp, "{\"documents\":%zu,\"accuracy\":%.6f,\"macro_precision\":%.6f,\"macro_recall\":%.6f,"
                    "\"macro_f1\":%.6f,\"micro_f1\":%.6f,\"weighted_f1\":%.6f,\"log_loss\":%.6f",
                m->n, m->accuracy, m->macro_precision, m->macro_recall, m->macro_f1, m->micro_f1, m->weighted_f1,
                m->log_loss);
        if (C == 2) fprintf(fp, ",\"roc_auc\":%.6f,\"fp\":%zu,\"fn\":%zu", m->roc_auc, m->fp, m->fn);
        fprintf(fp, ",\"classes\":[");
        for (int c = 0; c < C; c++) {
            fprintf(fp, "%s{\"name\":", c ? "," : "");
            cli_json_str(fp, names[c], strlen(names[c]));
            fprintf(fp, ",\"precision\":%.6f,\"recall\":%.6f,\"f1\":%.6f,\"support\":%zu}", m->precision[c],
                    m->recall[c], m->f1[c], m->support[c]);
        }
        fprintf(fp, "],\"confusion\":[");
        for (int c = 0; c < C; c++) {
            fprintf(fp, "%s[", c ? "," : "");
            for (int d = 0; d < C; d++) fprintf(fp, "%s%zu", d ? "," : "", m->confusion[(size_t)c * C + d]);
            fprintf(fp, "]");
        }
        fprintf(fp, "]}\n");
        return;
    }
    fprintf(fp, "documents %zu  accuracy %.4f  macro-F1 %.4f  micro-F1 %.4f  weighted-F1 %.4f  log-loss %.4f\n", m->n,
            m->accuracy, m->macro_f1, m->micro_f1, m->weighted_f1, m->log_loss);
    if (C == 2) fprintf(fp, "ROC-AUC %.4f  FP %zu  FN %zu (positive: %s)\n", m->roc_auc, m->fp, m->fn, names[1]);
    fprintf(fp, "\n%-20s %9s %9s %9s %8s\n", "class", "precision", "recall", "f1", "support");
    for (int c = 0; c < C; c++)
        fprintf(fp, "%-20.20s %9.4f %9.4f %9.4f %8zu\n", names[c], m->precision[c], m->recall[c], m->f1[c],
                m->support[c]);
    fprintf(fp, "%-20s %9.4f %9.4f %9.4f %8zu\n", "macro avg", m->macro_precision, m->macro_recall, m->macro_f1, m->n);
    fprintf(fp, "\nconfusion (rows gold, columns predicted):\n%-12s", "");
    for (int d = 0; d < C; d++) fprintf(fp, " %6.6s", names[d]);
    fprintf(fp, "\n");
    for (int c = 0; c < C; c++) {
        fprintf(fp, "%-12.12s", names[c]);
        for (int d = 0; d < C; d++) fprintf(fp, " %6zu", m->confusion[(size_t)c * C + d]);
        fprintf(fp, "\n");
    }
}

/* Progress on stderr when it is a terminal, at each whole percent. */
static void progress(void *user, double done, double total) {
    static int last = -1;
    if (*(int *)user || !isatty(2)) return;
    int pct = total > 0 ? (int)(100 * done / total) : 100;
    if (pct == last && done < total) return;
    last = pct;
    fprintf(stderr, "\r[%3d%%] %.0f / %.0f documents", pct, done, total);
    if (done >= total) fprintf(stderr, "\r%50s\r", ""), last = -1;
}

/* Reads documents over a classifier's classes. */
static int read_over(const lmf_classifier *c, const char *path, int any, lmf_docs *d) {
    int C = lmf_classifier_classes(c);
    const char **names = (const char **)malloc((size_t)C * sizeof *names);
    if (!names) return lmf_error(LMF_ERR_NOMEM, "out of memory"), 1;
    for (int i = 0; i < C; i++) names[i] = lmf_classifier_class_name(c, i);
    lmf_status s = any ? lmf_docs_read_any(path, names, C, d) : lmf_docs_read(path, names, C, d);
    free(names);
    return s != LMF_OK;
}

/* Reads files paths[0..n) over a classifier's classes, as one set. */
static int read_many(const lmf_classifier *c, const char *const *paths, int n, lmf_docs *d) {
    if (read_over(c, paths[0], 0, d)) return 1;
    for (int i = 1; i < n; i++) {
        lmf_docs more, both;
        if (read_over(c, paths[i], 0, &more)) return lmf_docs_free(d), 1;
        lmf_status s = lmf_docs_concat(d, &more, &both);
        lmf_docs_free(&more);
        lmf_docs_free(d);
        if (s) return 1;
        *d = both;
    }
    return 0;
}

static int cmd_train(int argc, char **argv) {
    const char *kind = NULL, *train = NULL, *valid = NULL, *out = NULL;
    int refit = 0;
    double alpha = 0;
    lmf_lmclass_opts lo;
    lmf_lmclass_opts_init(&lo);
    lmf_linear_opts li;
    lmf_linear_opts_init(&li);
    lmf_nnclass_opts no;
    lmf_nnclass_opts_init(&no);
    int ival;
    double dval;
    int quiet = 0;
    for (int i = 2; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-q")) {
            quiet = 1;
        } else if (!strcmp(argv[i], "--chars")) {
            lo.chars = 1;
        } else if (!strcmp(argv[i], "--no-length-norm")) {
            lo.length_norm = 0;
        } else if (!strcmp(argv[i], "--refit")) {
            refit = 1;
        } else if (!strcmp(argv[i], "--balanced")) {
            li.balanced = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--alpha", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &alpha) || !(alpha > 0) || !isfinite(alpha))
                return cli_usage_error("classify train", "--alpha takes a positive number");
        } else if ((v = cli_opt_value(argc, argv, &i, "--word-ngrams", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &li.word_max) || li.word_max < 0 || li.word_max > 8)
                return cli_usage_error("classify train", "--word-ngrams takes 0..8 (0: none)");
        } else if ((v = cli_opt_value(argc, argv, &i, "--char-ngrams", &missing)) || missing) {
            int a = 0, b = 0, used = 0;
            if (!v || !strcmp(v, "0")) {
                if (!v) return cli_usage_error("classify train", "--char-ngrams takes MIN-MAX or 0");
                li.char_min = li.char_max = 0;
            } else if (sscanf(v, "%d-%d%n", &a, &b, &used) != 2 || v[used] || a < 1 || b < a || b > 8) {
                return cli_usage_error("classify train", "--char-ngrams takes MIN-MAX (1 <= MIN <= MAX <= 8) or 0");
            } else {
                li.char_min = a, li.char_max = b;
            }
        } else if ((v = cli_opt_value(argc, argv, &i, "--kind", &missing)) || missing) {
            if (!v || (strcmp(v, "lm") && strcmp(v, "nb") && strcmp(v, "linear") && strcmp(v, "neural")))
                return cli_usage_error("classify train", "--kind takes lm, nb, linear or neural");
            kind = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--valid", &missing)) || missing) {
            if (!v) return cli_usage_error("classify train", "--valid needs a file");
            valid = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "-o", &missing)) || missing) {
            if (!v) return cli_usage_error("classify train", "-o needs a file");
            out = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--order", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &lo.order) || lo.order < 1 || lo.order > 6)
                return cli_usage_error("classify train", "--order takes 1..6");
        } else if ((v = cli_opt_value(argc, argv, &i, "--calibration", &missing)) || missing) {
            if (v && !strcmp(v, "none")) lo.calib = LMF_CALIB_NONE;
            else if (v && !strcmp(v, "temperature")) lo.calib = LMF_CALIB_TEMPERATURE;
            else if (v && !strcmp(v, "platt")) lo.calib = LMF_CALIB_PLATT;
            else return cli_usage_error("classify train", "--calibration takes none, temperature or platt");
        } else if ((v = cli_opt_value(argc, argv, &i, "--hash-bits", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &li.hash_bits) || li.hash_bits < 8 || li.hash_bits > 26)
                return cli_usage_error("classify train", "--hash-bits takes 8..26");
        } else if ((v = cli_opt_value(argc, argv, &i, "--l2", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &li.l2) || !(li.l2 > 0) || !isfinite(li.l2))
                return cli_usage_error("classify train", "--l2 takes a positive number");
        } else if ((v = cli_opt_value(argc, argv, &i, "--init", &missing)) || missing) {
            if (!v) return cli_usage_error("classify train", "--init needs a neural LM file");
            no.init = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--pooling", &missing)) || missing) {
            if (v && !strcmp(v, "mean")) no.pooling = LMF_POOL_MEAN;
            else if (v && !strcmp(v, "last")) no.pooling = LMF_POOL_LAST;
            else return cli_usage_error("classify train", "--pooling takes mean or last");
        } else if ((v = cli_opt_value(argc, argv, &i, "--arch", &missing)) || missing) {
            if (!v || (strcmp(v, "rnn") && strcmp(v, "lstm") && strcmp(v, "gru") && strcmp(v, "transformer")))
                return cli_usage_error("classify train", "--arch takes rnn, lstm, gru or transformer");
            no.arch = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--max-tokens", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &no.max_tokens) || no.max_tokens < 1 || no.max_tokens > 1 << 20)
                return cli_usage_error("classify train", "--max-tokens takes 1..1048576");
        } else if ((v = cli_opt_value(argc, argv, &i, "--epochs", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &no.epochs) || no.epochs < 1 || no.epochs > 10000)
                return cli_usage_error("classify train", "--epochs takes 1..10000");
        } else if ((v = cli_opt_value(argc, argv, &i, "--batch", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &no.batch) || no.batch < 1 || no.batch > 4096)
                return cli_usage_error("classify train", "--batch takes 1..4096");
        } else if ((v = cli_opt_value(argc, argv, &i, "--layers", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &no.layers) || no.layers < 1 || no.layers > 8)
                return cli_usage_error("classify train", "--layers takes 1..8");
        } else if ((v = cli_opt_value(argc, argv, &i, "--hidden", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &no.hidden) || no.hidden < 1 || no.hidden > 65536)
                return cli_usage_error("classify train", "--hidden takes 1..65536");
        } else if ((v = cli_opt_value(argc, argv, &i, "--emb", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &no.emb) || no.emb < 1 || no.emb > 65536)
                return cli_usage_error("classify train", "--emb takes 1..65536");
        } else if ((v = cli_opt_value(argc, argv, &i, "--threads", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &no.threads) || no.threads < 1 || no.threads > 1024)
                return cli_usage_error("classify train", "--threads takes 1..1024");
        } else if ((v = cli_opt_value(argc, argv, &i, "--min-count", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &no.min_count) || no.min_count < 1)
                return cli_usage_error("classify train", "--min-count takes a positive number");
        } else if ((v = cli_opt_value(argc, argv, &i, "--seed", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &ival) || ival < 0) return cli_usage_error("classify train", "--seed takes a number >= 0");
            no.seed = (uint64_t)ival;
        } else if ((v = cli_opt_value(argc, argv, &i, "--lr", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &no.lr) || !(no.lr > 0) || !isfinite(no.lr))
                return cli_usage_error("classify train", "--lr takes a positive number");
        } else if ((v = cli_opt_value(argc, argv, &i, "--dropout", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &dval) || !(dval >= 0 && dval < 1))
                return cli_usage_error("classify train", "--dropout takes a number in [0, 1)");
            no.dropout = (float)dval;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("classify train", "unknown option %s", argv[i]);
        } else if (!train) {
            train = argv[i];
        } else {
            return cli_usage_error("classify train", "one training file (got %s and %s)", train, argv[i]);
        }
    }
    if (!kind) return cli_usage_error("classify train", "--kind lm|nb|linear|neural is required");
    if (!train) return cli_usage_error("classify train", "give the labelled training file");
    if (!out) return cli_usage_error("classify train", "-o CLASSIFIER.json is required");
    if (refit && !valid) return cli_usage_error("classify train", "--refit trains again on TRAIN and VALID: give --valid VALID");
    if (refit && !strcmp(kind, "neural"))
        return cli_usage_error("classify train", "--refit is for lm, nb and linear (a neural classifier's best epoch is "
                                                 "chosen on VALID, which --refit would train on)");
    lmf_docs tr = {0}, va = {0};
    lmf_classifier *c = NULL;
    int rc = 1;
    double t0 = cli_now_s();
    if (lmf_docs_read(train, NULL, 0, &tr)) goto done;
    if (valid && lmf_docs_read(valid, (const char *const *)tr.names, tr.C, &va)) goto done;
    if (!quiet) fprintf(stderr, "[classify] %s: %zu documents, %d classes\n", train, tr.n, tr.C);
    if (!strcmp(kind, "lm") ? lmf_lmclass_train(&tr, valid ? &va : NULL, &lo, &c)
        : !strcmp(kind, "nb")     ? lmf_nb_train(&tr, valid ? &va : NULL, alpha, &c)
        : !strcmp(kind, "linear") ? lmf_linear_train(&tr, valid ? &va : NULL, &li, &c)
                                  : lmf_nnclass_train(&tr, valid ? &va : NULL, &no, &c))
        goto done;
    if (refit) { /* the choices made on VALID kept, the parameters fitted again on both */
        lmf_docs both;
        lmf_classifier *c2 = NULL;
        if (lmf_docs_concat(&tr, &va, &both)) goto done;
        if (!quiet) fprintf(stderr, "[classify] trained again on %s: %zu documents\n", both.path, both.n);
        lmf_status rs = lmf_classifier_refit(c, &both, NULL, &c2);
        lmf_docs_free(&both);
        if (rs) goto done;
        lmf_classifier_free(c);
        c = c2;
    }
    if (lmf_classifier_save(c, out)) goto done;
    if (!quiet) {
        char d[512];
        lmf_classifier_describe(c, d, sizeof d);
        fprintf(stderr, "[classify] wrote %s: %s (%.1f s)\n", out, d, cli_now_s() - t0);
    }
    rc = 0;
done:
    lmf_classifier_free(c);
    lmf_docs_free(&tr);
    lmf_docs_free(&va);
    return rc ? cli_fail() : 0;
}

static int cmd_eval_predict(int argc, char **argv, int predict) {
    const char *cmd = predict ? "classify predict" : "classify eval";
    const char *model = NULL, *docs = NULL, *out = NULL;
    int json = 0, quiet = 0;
    for (int i = 2; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json") && !predict) {
            json = 1;
        } else if (!strcmp(argv[i], "-q")) {
            quiet = 1;
        } else if (predict && ((v = cli_opt_value(argc, argv, &i, "-o", &missing)) || missing)) {
            if (!v) return cli_usage_error(cmd, "-o needs a file");
            out = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error(cmd, "unknown option %s", argv[i]);
        } else if (!model) {
            model = argv[i];
        } else if (!docs) {
            docs = argv[i];
        } else {
            return cli_usage_error(cmd, "unexpected argument %s", argv[i]);
        }
    }
    if (!model || !docs) return cli_usage_error(cmd, "give CLASSIFIER.json and a labelled file");
    lmf_classifier *c = NULL;
    lmf_docs d = {0};
    lmf_cmetrics m = {0};
    float *lp = NULL;
    int rc = 1;
    if (lmf_classifier_load(model, &c)) goto done;
    if (read_over(c, docs, predict, &d)) goto done;
    const int C = lmf_classifier_classes(c);
    lp = (float *)malloc(d.n * (size_t)C * sizeof *lp);
    if (!lp) {
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (lmf_classifier_predict(c, &d, lp, progress, &quiet)) goto done;
    if (predict) {
        if (lmf_predictions_write(out ? out : "-", d.names, C, lp, d.n)) goto done;
    } else {
        if (lmf_cmetrics_compute(d.label, lp, d.n, C, &m)) goto done;
        print_metrics(stdout, &m, d.names, json);
    }
    rc = 0;
done:
    free(lp);
    lmf_cmetrics_free(&m);
    lmf_docs_free(&d);
    lmf_classifier_free(c);
    return rc ? cli_fail() : 0;
}

/* ---- fuse ---- */
static int cmd_fuse(int argc, char **argv) {
    const char *method = NULL, *valid = NULL, *train = NULL, *out = NULL, *paths[LMF_FUSE_MAX_MEMBERS], *trains[8],
               *oof_out = NULL;
    int K = 0, quiet = 0, folds = 5, ntrain = 0;
    lmf_cfuse_fit_opts fo = {0.5, 0, 0, 0};
    for (int i = 2; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-q")) {
            quiet = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--method", &missing)) || missing) {
            if (!v || lmf_cfuse_method_needs(v) < 0)
                return cli_usage_error("classify fuse", "--method takes one of: average, weighted, acc-weighted, "
                                                        "geometric, geo-weighted, max, vote, weighted-vote, "
                                                        "threshold-vote, select, bo-weighted, stack, blend, stack-full, blend-full");
            method = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--valid", &missing)) || missing) {
            if (!v) return cli_usage_error("classify fuse", "--valid needs a file");
            valid = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--train", &missing)) || missing) {
            if (!v) return cli_usage_error("classify fuse", "--train needs a file");
            if (ntrain == 8) return cli_usage_error("classify fuse", "at most 8 --train files");
            train = trains[ntrain++] = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "-o", &missing)) || missing) {
            if (!v) return cli_usage_error("classify fuse", "-o needs a file");
            out = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--threshold", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &fo.threshold) || !(fo.threshold > 0 && fo.threshold <= 1))
                return cli_usage_error("classify fuse", "--threshold takes a probability in (0, 1]");
        } else if ((v = cli_opt_value(argc, argv, &i, "--folds", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &folds) || folds < 2 || folds > 100)
                return cli_usage_error("classify fuse", "--folds takes 2..100");
        } else if ((v = cli_opt_value(argc, argv, &i, "--l2", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &fo.l2) || !(fo.l2 > 0) || !isfinite(fo.l2))
                return cli_usage_error("classify fuse", "--l2 takes a positive number");
        } else if ((v = cli_opt_value(argc, argv, &i, "--meta", &missing)) || missing) {
            if (!v || (strcmp(v, "prob") && strcmp(v, "logp")))
                return cli_usage_error("classify fuse", "--meta takes prob or logp");
            fo.meta_logp = !strcmp(v, "logp");
        } else if (!strcmp(argv[i], "--balanced")) {
            fo.balanced = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--oof-out", &missing)) || missing) {
            if (!v) return cli_usage_error("classify fuse", "--oof-out needs a file name prefix");
            oof_out = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("classify fuse", "unknown option %s", argv[i]);
        } else {
            if (K == LMF_FUSE_MAX_MEMBERS) return cli_usage_error("classify fuse", "at most %d members", LMF_FUSE_MAX_MEMBERS);
            paths[K++] = argv[i];
        }
    }
    if (!method) return cli_usage_error("classify fuse", "--method is required (see --help)");
    if (!out) return cli_usage_error("classify fuse", "-o FUSED.json is required");
    if (K < 1) return cli_usage_error("classify fuse", "give the member classifiers");
    const int needs = lmf_cfuse_method_needs(method);
    if ((needs & LMF_CFUSE_NEEDS_VALID) && !valid)
        return cli_usage_error("classify fuse", "--method %s is fitted on --valid VALID", method);
    if ((needs & LMF_CFUSE_NEEDS_OOF) && !train)
        return cli_usage_error("classify fuse", "--method %s needs --train TRAIN (the members are trained again on its folds)", method);
    lmf_classifier *m[LMF_FUSE_MAX_MEMBERS] = {0}, *f = NULL;
    float *lp[LMF_FUSE_MAX_MEMBERS] = {0}, *oof[LMF_FUSE_MAX_MEMBERS] = {0};
    lmf_docs va = {0}, tr = {0};
    lmf_cfuse_fit fit = {0};
    char *tuning = NULL;
    size_t tl = 0;
    int rc = 1;
    for (int k = 0; k < K; k++)
        if (lmf_classifier_load(paths[k], &m[k])) goto done;
    const int C = lmf_classifier_classes(m[0]);
    if (valid) {
        if (read_over(m[0], valid, 0, &va)) goto done;
        for (int k = 0; k < K; k++) {
            if (!(lp[k] = (float *)malloc(va.n * (size_t)C * sizeof *lp[k]))) {
                lmf_error(LMF_ERR_NOMEM, "out of memory");
                goto done;
            }
            if (!quiet) fprintf(stderr, "[fuse] %s on %s\n", paths[k], valid);
            if (lmf_classifier_predict(m[k], &va, lp[k], NULL, NULL)) goto done;
        }
    }
    if (needs & LMF_CFUSE_NEEDS_OOF) { /* out-of-fold outputs on train */
        if (read_many(m[0], trains, ntrain, &tr)) goto done;
        for (int k = 0; k < K; k++) {
            if (!(oof[k] = (float *)malloc(tr.n * (size_t)C * sizeof *oof[k]))) {
                lmf_error(LMF_ERR_NOMEM, "out of memory");
                goto done;
            }
            if (!quiet) fprintf(stderr, "[fuse] %s: out-of-fold outputs on %s (%d folds)\n", paths[k], tr.path, folds);
            if (lmf_cfuse_oof(m[k], &tr, NULL, folds, oof[k], NULL, NULL)) goto done;
            if (oof_out) {
                char op[4096];
                if (snprintf(op, sizeof op, "%s.%d.tsv", oof_out, k + 1) >= (int)sizeof op) {
                    lmf_error(LMF_ERR_ARG, "--oof-out: the name is too long");
                    goto done;
                }
                if (lmf_predictions_write(op, tr.names, C, oof[k], tr.n)) goto done;
            }
        }
    }
    if (lmf_cfuse_fit_method(method, K, C, (const float *const *)lp, va.label, va.n, (const float *const *)oof, tr.label,
                             tr.n, &fo, &fit))
        goto done;
    FILE *jf = open_memstream(&tuning, &tl);
    if (!jf) {
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    fprintf(jf, "{\"method\":\"%s\"", method);
    if (valid) {
        fprintf(jf, ",\"valid\":");
        cli_json_str(jf, valid, strlen(valid));
        fprintf(jf, ",\"valid_documents\":%zu", va.n);
    }
    if (needs & LMF_CFUSE_NEEDS_OOF) {
        fprintf(jf, ",\"train\":");
        cli_json_str(jf, tr.path, strlen(tr.path));
        fprintf(jf, ",\"folds\":%d", folds);
    }
    if (fit.o.comb == LMF_COMB_STACK)
        fprintf(jf, ",\"l2\":%g,\"meta\":\"%s\",\"balanced\":%s", fit.l2, fo.meta_logp ? "logp" : "prob",
                fo.balanced ? "true" : "false");
    fprintf(jf, "}");
    if (fclose(jf) || !tuning) {
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    lmf_status fs = lmf_cfuse_new(m, paths, K, &fit.o, tuning, &f);
    memset(m, 0, sizeof m); /* taken by lmf_cfuse_new, also on failure */
    if (fs || lmf_classifier_save(f, out)) goto done;
    if (!quiet) {
        char d[1024];
        lmf_classifier_describe(f, d, sizeof d);
        fprintf(stderr, "[fuse] wrote %s: %s\n", out, d);
    }
    rc = 0;
done:
    for (int k = 0; k < K; k++) {
        lmf_classifier_free(m[k]);
        free(lp[k]);
        free(oof[k]);
    }
    lmf_classifier_free(f);
    lmf_cfuse_fit_free(&fit);
    lmf_docs_free(&va);
    lmf_docs_free(&tr);
    free(tuning);
    return rc ? cli_fail() : 0;
}

int lmf_cmd_classify(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return cmd_train(argc, argv);
    if (!strcmp(argv[1], "eval")) return cmd_eval_predict(argc, argv, 0);
    if (!strcmp(argv[1], "predict")) return cmd_eval_predict(argc, argv, 1);
    if (!strcmp(argv[1], "fuse")) return cmd_fuse(argc, argv);
    return cli_usage_error("classify", "unknown subcommand \"%s\" (train, eval, predict, fuse)", argv[1]);
}
