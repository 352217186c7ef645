/* lmfuse tag: train, evaluate and run taggers (lmf/tag.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "lmf/classify.h"
#include "lmf/tag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void usage_tag(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse tag train TRAIN.conll -o MODEL [--kind hmm|perceptron] [options]\n"
            "       lmfuse tag eval MODEL TEST.conll [--json] [--errors N] [--strict]\n"
            "       lmfuse tag predict MODEL IN.conll [-o OUT] [--probs]\n"
            "       lmfuse tag fuse MEMBER... -o RECIPE.json [--method M] [--valid VALID.conll] [--viterbi]\n"
            "       lmfuse tag stack MEMBER... -o STACK.lmft (--train TRAIN.conll [--folds K] | --valid VALID.conll)\n"
            "\n"
            "Files are CoNLL columns: WORD<TAB>TAG per token (the tag in the last column), an\n"
            "empty line after each sentence; `predict` reads the first column only.  MODEL is a\n"
            "tagger file (.lmft, safetensors) or a fusion recipe (.json).\n"
            "\n"
            "train options:\n"
            "  --kind K          hmm (TnT-style, default), perceptron (averaged, greedy) or neural\n"
            "                    (a network per direction + character features, softmax per token)\n"
            "  --order N         hmm: 1 (tag bigrams) or 2 (tag trigrams, default)\n"
            "  --suffix-len N    hmm: longest suffix of the unknown-word model (default 10)\n"
            "  --rare N          hmm: words seen at most N times train the suffix model (default 10)\n"
            "  --beam X          hmm: an unknown word's tags within a factor X of its best (default 1000; 0 all)\n"
            "  --iters N         perceptron: passes over the data (default 5)\n"
            "  --seed N          perceptron: order of the sentences in each pass (default 1)\n"
            "  --reverse         perceptron: read sentences right to left\n"
            "  --arch A          neural: rnn, lstm (default), gru or transformer, one per direction\n"
            "  --layers N --hidden N --emb N   neural: sizes (default 1, 128, 128)\n"
            "  --epochs N --batch N --lr X --dropout X   neural: training (default 3, 16, 0.002, 0.2)\n"
            "  --init LM         neural: start both networks from an lmfuse neural LM (its vocabulary)\n"
            "  -q                no progress lines\n"
            "eval: token accuracy, on words seen / not seen in training, sentence accuracy,\n"
            "  per-tag precision, recall and F1 (--json: all of it), the N most frequent errors;\n"
            "  gold tags the tagger never saw count as errors (--strict: refuse them).\n"
            "predict: WORD<TAB>TAG lines; --probs adds the tag's probability as a third column.\n"
            "fuse: a fusion recipe of tagger files (or recipes) with the same tags, fitted on VALID:\n"
            "  --method M   average, weighted (EM, default), acc-weighted, geometric, geo-weighted, max,\n"
            "               vote (majority of the members' best tags), weighted-vote (votes weighted by\n"
            "               valid accuracy: van Halteren's TotPrecision), precision-vote (by the\n"
            "               member's precision on the tag: TagPrecision), precision-recall-vote\n"
            "               (and 1 - recall against the other tags), pair-vote (each pair of members\n"
            "               votes with the gold tags seen for their two tags: TagPair),\n"
            "               threshold-vote, select, bo-weighted, blend (class-wise meta-model on\n"
            "               valid), blend-full (over every member probability)\n"
            "  --viterbi    decode the fused per-token distributions with the first HMM member's\n"
            "               transitions instead of token by token\n"
            "stack: a meta-tagger (averaged perceptron) over the members' tags in context, their\n"
            "  confidence, their agreement and the word, trained on outputs for text the members\n"
            "  did not see: with --train (the members' training file), out of fold (--folds K,\n"
            "  default 5: the members are trained again on the other folds with their own\n"
            "  options); with --valid only, on held-out text (blending).  --iters N (default 10).\n");
}

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

static int cmd_train(int argc, char **argv) {
    lmf_tagger_opts o;
    lmf_tagger_opts_init(&o);
    o.progress = 1;
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (is_help(argv[i])) {
            usage_tag(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "-q")) {
            o.progress = 0;
        } else if (!strcmp(argv[i], "--reverse")) {
            o.reverse = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--kind", &missing))) {
            int k = lmf_tagger_kind_parse(v);
            if (k != LMF_TAGGER_HMM && k != LMF_TAGGER_PERCEPTRON && k != LMF_TAGGER_NEURAL)
                return cli_usage_error("tag train", "--kind wants hmm, perceptron or neural, not \"%s\"", v);
            o.kind = (lmf_tagger_kind)k;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--order", &missing))) {
            if (!lmf_parse_int(v, &o.order) || (o.order != 1 && o.order != 2))
                return cli_usage_error("tag train", "--order wants 1 or 2, not \"%s\"", v);
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--suffix-len", &missing))) {
            if (!lmf_parse_int(v, &o.suffix_len) || o.suffix_len < 0 || o.suffix_len > 14)
                return cli_usage_error("tag train", "--suffix-len wants 0 to 14, not \"%s\"", v);
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--rare", &missing))) {
            if (!lmf_parse_int(v, &o.rare_max) || o.rare_max < 0)
                return cli_usage_error("tag train", "--rare wants a count >= 0, not \"%s\"", v);
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--beam", &missing))) {
            if (!lmf_parse_double(v, &o.beam) || !(o.beam == 0 || (o.beam >= 1 && o.beam < 1e300)))
                return cli_usage_error("tag train", "--beam wants 0 or a factor >= 1, not \"%s\"", v);
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--iters", &missing))) {
            if (!lmf_parse_int(v, &o.iters) || o.iters < 1 || o.iters > 1000)
                return cli_usage_error("tag train", "--iters wants 1 to 1000, not \"%s\"", v);
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--seed", &missing))) {
            if (!lmf_parse_u64(v, &o.seed)) return cli_usage_error("tag train", "--seed wants an integer, not \"%s\"", v);
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--arch", &missing))) {
            if (strcmp(v, "rnn") && strcmp(v, "lstm") && strcmp(v, "gru") && strcmp(v, "transformer"))
                return cli_usage_error("tag train", "--arch wants rnn, lstm, gru or transformer, not \"%s\"", v);
            o.nn_arch = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--layers", &missing))) {
            if (!lmf_parse_int(v, &o.nn_layers) || o.nn_layers < 1 || o.nn_layers > 4) return cli_usage_error("tag train", "--layers wants 1 to 4");
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--hidden", &missing))) {
            if (!lmf_parse_int(v, &o.nn_hidden) || o.nn_hidden < 4 || o.nn_hidden > 4096) return cli_usage_error("tag train", "--hidden wants 4 to 4096");
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--emb", &missing))) {
            if (!lmf_parse_int(v, &o.nn_emb) || o.nn_emb < 4 || o.nn_emb > 4096) return cli_usage_error("tag train", "--emb wants 4 to 4096");
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--epochs", &missing))) {
            if (!lmf_parse_int(v, &o.nn_epochs) || o.nn_epochs < 1 || o.nn_epochs > 1000) return cli_usage_error("tag train", "--epochs wants 1 to 1000");
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--batch", &missing))) {
            if (!lmf_parse_int(v, &o.nn_batch) || o.nn_batch < 1 || o.nn_batch > 64) return cli_usage_error("tag train", "--batch wants 1 to 64");
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--lr", &missing))) {
            if (!lmf_parse_double(v, &o.nn_lr) || !(o.nn_lr > 0 && o.nn_lr < 10)) return cli_usage_error("tag train", "--lr wants a rate in (0, 10)");
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--dropout", &missing))) {
            if (!lmf_parse_double(v, &o.nn_dropout) || !(o.nn_dropout >= 0 && o.nn_dropout < 1)) return cli_usage_error("tag train", "--dropout wants [0, 1)");
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--init", &missing))) {
            o.nn_init = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "-o", &missing))) {
            out = v;
        } else if (missing) {
            return cli_usage_error("tag train", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("tag train", "unknown option \"%s\"", argv[i]);
        } else {
            if (in) return cli_usage_error("tag train", "one training file (got \"%s\" and \"%s\")", in, argv[i]);
            in = argv[i];
        }
    }
    if (!in || !out) return cli_usage_error("tag train", "wants TRAIN.conll and -o MODEL");
    if (o.progress) lmf_set_log(NULL, NULL, LMF_LOG_INFO);
    lmf_tagged *c;
    if (lmf_tagged_read(in, 1, &c)) return cli_fail();
    const double t0 = cli_now_s();
    lmf_tagger *t;
    lmf_status s = lmf_tagger_train(&o, c, &t);
    if (!s) {
        const double secs = cli_now_s() - t0;
        s = lmf_tagger_save(t, out);
        if (!s && o.progress)
            fprintf(stderr, "lmfuse tag train: %s tagger, %d tags, %zu sentences, %zu tokens, %.2f s -> %s\n",
                    lmf_tagger_kind_name(o.kind), lmf_tagger_ntags(t), lmf_tagged_nsent(c), lmf_tagged_ntok(c), secs, out);
        lmf_tagger_free(t);
    }
    lmf_tagged_free(c);
    return s ? cli_fail() : 0;
}

typedef struct err_pair {
    size_t n;
    int gold, pred;
} err_pair;

static int cmp_err(const void *a, const void *b) {
    const err_pair *x = (const err_pair *)a, *y = (const err_pair *)b;
    if (x->n != y->n) return x->n < y->n ? 1 : -1;
    if (x->gold != y->gold) return x->gold - y->gold;
    return x->pred - y->pred;
}

static double ratio(size_t a, size_t b) { return b ? (double)a / (double)b : 0; }

static void print_eval(FILE *fp, const lmf_tagger *t, const char *model, const char *test, const lmf_tag_eval *ev,
                       int json, int nerr, int K, const double *macc, double best) {
    const double acc = ratio(ev->correct, ev->tokens), red = K && best < 1 ? 1 - (1 - acc) / (1 - best) : 0;
    const int T = ev->ntags;
    err_pair *e = (err_pair *)calloc((size_t)T * T, sizeof *e);
    size_t ne = 0;
    for (int g = 0; e && g < T; g++)
        for (int p = 0; p < T; p++)
            if (g != p && ev->confusion[(size_t)g * T + p]) e[ne++] = (err_pair){ev->confusion[(size_t)g * T + p], g, p};
    if (e) qsort(e, ne, sizeof *e, cmp_err);
    if ((size_t)nerr > ne) nerr = (int)ne;
    const double tps = ev->seconds > 0 ? (double)ev->tokens / ev->seconds : 0;
    if (json) {
        fprintf(fp, "{\"model\": ");
        cli_json_str(fp, model, strlen(model));
        fprintf(fp, ", \"test\": ");
        cli_json_str(fp, test, strlen(test));
        fprintf(fp,
                ", \"kind\": \"%s\", \"tokens\": %zu, \"accuracy\": %.6f, \"known\": %zu, \"known_accuracy\": %.6f, "
                "\"unknown\": %zu, \"unknown_accuracy\": %.6f, \"sentences\": %zu, \"sentence_accuracy\": %.6f, "
                "\"unseen_tags\": %zu, \"seconds\": %.4f, \"tokens_per_s\": %.1f, \"per_tag\": {",
                lmf_tagger_kind_name(lmf_tagger_kind_of(t)), ev->tokens, ratio(ev->correct, ev->tokens), ev->known,
                ratio(ev->known_correct, ev->known), ev->unknown, ratio(ev->unknown_correct, ev->unknown), ev->sentences,
                ratio(ev->sentences_correct, ev->sentences), ev->unseen, ev->seconds, tps);
        for (int c = 0, first = 1; c < T; c++) {
            const size_t sup = ev->tp[c] + ev->fn[c];
            if (!sup && !ev->fp[c]) continue;
            const double P = ratio(ev->tp[c], ev->tp[c] + ev->fp[c]), R = ratio(ev->tp[c], sup);
            fprintf(fp, "%s", first ? "" : ", ");
            first = 0;
            const char *name = lmf_tagger_tag_name(t, c);
            cli_json_str(fp, name, strlen(name));
            fprintf(fp, ": {\"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, \"support\": %zu}", P, R,
                    P + R > 0 ? 2 * P * R / (P + R) : 0, sup);
        }
        fprintf(fp, "}, \"members_accuracy\": [");
        for (int k = 0; k < K; k++) fprintf(fp, "%s%.6f", k ? ", " : "", macc[k]);
        fprintf(fp, "]");
        if (K) fprintf(fp, ", \"error_reduction\": %.6f", red);
        fprintf(fp, ", \"errors\": [");
        for (int k = 0; k < nerr; k++) {
            fprintf(fp, "%s{\"gold\": ", k ? ", " : "");
            cli_json_str(fp, lmf_tagger_tag_name(t, e[k].gold), strlen(lmf_tagger_tag_name(t, e[k].gold)));
            fprintf(fp, ", \"predicted\": ");
            cli_json_str(fp, lmf_tagger_tag_name(t, e[k].pred), strlen(lmf_tagger_tag_name(t, e[k].pred)));
            fprintf(fp, ", \"count\": %zu}", e[k].n);
        }
        fprintf(fp, "]}\n");
    } else {
        fprintf(fp, "%s on %s (%s tagger, %d tags)\n", model, test, lmf_tagger_kind_name(lmf_tagger_kind_of(t)), T);
        fprintf(fp, "  accuracy            %.4f  (%zu of %zu tokens)\n", ratio(ev->correct, ev->tokens), ev->correct, ev->tokens);
        fprintf(fp, "  known words         %.4f  (%zu tokens)\n", ratio(ev->known_correct, ev->known), ev->known);
        fprintf(fp, "  unknown words       %.4f  (%zu tokens, %.2f%%)\n", ratio(ev->unknown_correct, ev->unknown),
                ev->unknown, 100 * ratio(ev->unknown, ev->tokens));
        fprintf(fp, "  sentences           %.4f  (%zu of %zu)\n", ratio(ev->sentences_correct, ev->sentences),
                ev->sentences_correct, ev->sentences);
        fprintf(fp, "  speed               %.0f tokens/s (%.3f s)\n", tps, ev->seconds);
        for (int k = 0; k < K; k++) fprintf(fp, "  member %-2d           %.4f\n", k + 1, macc[k]);
        if (K) fprintf(fp, "  error reduction     %.1f%% against the best member (%.4f)\n", 100 * red, best);
        if (nerr) fprintf(fp, "  most frequent errors (gold -> predicted):\n");
        for (int k = 0; k < nerr; k++)
            fprintf(fp, "    %-8s -> %-8s %zu\n", lmf_tagger_tag_name(t, e[k].gold), lmf_tagger_tag_name(t, e[k].pred), e[k].n);
    }
    free(e);
}

static int cmd_eval(int argc, char **argv) {
    const char *pos[2];
    int np = 0, json = 0, nerr = 10, strict = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (is_help(argv[i])) {
            usage_tag(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--strict")) {
            strict = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--errors", &missing))) {
            if (!lmf_parse_int(v, &nerr) || nerr < 0) return cli_usage_error("tag eval", "--errors wants N >= 0, not \"%s\"", v);
        } else if (missing) {
            return cli_usage_error("tag eval", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("tag eval", "unknown option \"%s\"", argv[i]);
        } else {
            if (np == 2) return cli_usage_error("tag eval", "too many arguments (\"%s\")", argv[i]);
            pos[np++] = argv[i];
        }
    }
    if (np != 2) return cli_usage_error("tag eval", "wants MODEL and TEST.conll");
    lmf_tagger *t;
    if (lmf_tagger_load(pos[0], &t)) return cli_fail();
    lmf_tagged *c;
    if (lmf_tagged_read(pos[1], 1, &c)) {
        lmf_tagger_free(t);
        return cli_fail();
    }
    lmf_tag_eval ev;
    lmf_status s = lmf_tag_evaluate(t, c, NULL, NULL, &ev);
    if (!s && ev.unseen && strict)
        s = lmf_error(LMF_ERR_DATA, "%s line %zu: tag \"%s\" was never seen in training (%zu such tokens; without "
                                    "--strict they count as errors)", pos[1], ev.unseen_line, ev.unseen_tag, ev.unseen);
    else if (!s && ev.unseen)
        fprintf(stderr, "lmfuse tag eval: warning: %zu tokens of %s have tags the tagger never saw (the first: line %zu, "
                        "\"%s\"); they count as errors\n", ev.unseen, pos[1], ev.unseen_line, ev.unseen_tag);
    /* a fusion's or stack's members on the same text: the error reduction against the best */
    lmf_tagger *const *mem = NULL;
    const int K = s ? 0 : lmf_tagger_fusion_members(t, &mem);
    double macc[LMF_FUSE_MAX_MEMBERS], best = -1;
    for (int k = 0; k < K && !s; k++) {
        lmf_tag_eval me;
        if ((s = lmf_tag_evaluate(mem[k], c, NULL, NULL, &me))) break;
        macc[k] = me.tokens ? (double)me.correct / (double)me.tokens : 0;
        if (macc[k] > best) best = macc[k];
        lmf_tag_eval_free(&me);
    }
    if (!s) print_eval(stdout, t, pos[0], pos[1], &ev, json, nerr, K, macc, best);
    lmf_tag_eval_free(&ev);
    lmf_tagged_free(c);
    lmf_tagger_free(t);
    return s ? cli_fail() : 0;
}

static int cmd_predict(int argc, char **argv) {
    const char *pos[2], *out = "-";
    int np = 0, probs = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (is_help(argv[i])) {
            usage_tag(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--probs")) {
            probs = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "-o", &missing))) {
            out = v;
        } else if (missing) {
            return cli_usage_error("tag predict", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("tag predict", "unknown option \"%s\"", argv[i]);
        } else {
            if (np == 2) return cli_usage_error("tag predict", "too many arguments (\"%s\")", argv[i]);
            pos[np++] = argv[i];
        }
    }
    if (np != 2) return cli_usage_error("tag predict", "wants MODEL and IN.conll");
    lmf_tagger *t;
    if (lmf_tagger_load(pos[0], &t)) return cli_fail();
    lmf_tagged *c;
    if (lmf_tagged_read(pos[1], 0, &c)) {
        lmf_tagger_free(t);
        return cli_fail();
    }
    int rc = lmf_tag_predict_file(t, c, out, probs) ? cli_fail() : 0;
    lmf_tagged_free(c);
    lmf_tagger_free(t);
    return rc;
}

/* Loads K tagger files; on failure frees what it loaded and returns 1. */
static int load_members(const char *const *paths, int K, lmf_tagger **m) {
    for (int k = 0; k < K; k++)
        if (lmf_tagger_load(paths[k], &m[k])) {
            for (int j = 0; j < k; j++) lmf_tagger_free(m[j]);
            return 1;
        }
    return 0;
}

static int cmd_fuse(int argc, char **argv) {
    const char *method = "weighted", *valid = NULL, *out = NULL, *paths[LMF_FUSE_MAX_MEMBERS];
    int K = 0, viterbi = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (is_help(argv[i])) {
            usage_tag(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--viterbi")) {
            viterbi = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--method", &missing))) {
            const int vh = !strcmp(v, "precision-vote") || !strcmp(v, "precision-recall-vote") || !strcmp(v, "pair-vote");
            if (!vh && (lmf_cfuse_method_needs(v) < 0 || (lmf_cfuse_method_needs(v) & LMF_CFUSE_NEEDS_OOF)))
                return cli_usage_error("tag fuse", "unknown method \"%s\" (see lmfuse tag --help)", v);
            method = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--valid", &missing))) {
            valid = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "-o", &missing))) {
            out = v;
        } else if (missing) {
            return cli_usage_error("tag fuse", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("tag fuse", "unknown option \"%s\"", argv[i]);
        } else {
            if (K == LMF_FUSE_MAX_MEMBERS) return cli_usage_error("tag fuse", "at most %d members", LMF_FUSE_MAX_MEMBERS);
            paths[K++] = argv[i];
        }
    }
    if (!K || !out) return cli_usage_error("tag fuse", "wants MEMBER... and -o RECIPE.json");
    if (((lmf_cfuse_method_needs(method) & LMF_CFUSE_NEEDS_VALID) || lmf_cfuse_method_needs(method) < 0) && !valid)
        return cli_usage_error("tag fuse", "method %s is fitted on held-out tagged text: give --valid", method);
    lmf_tagger *m[LMF_FUSE_MAX_MEMBERS];
    if (load_members(paths, K, m)) return cli_fail();
    lmf_tagged *v = NULL;
    if (valid && lmf_tagged_read(valid, 1, &v)) {
        int rc = cli_fail();
        for (int j = 0; j < K; j++) lmf_tagger_free(m[j]);
        return rc;
    }
    const double t0 = cli_now_s();
    lmf_tagger *f;
    lmf_status s = lmf_tagger_fusion_fit(method, m, paths, K, v, viterbi, &f);
    if (!s) {
        s = lmf_tagger_save(f, out);
        if (!s) fprintf(stderr, "lmfuse tag fuse: %s of %d taggers%s, fitted in %.1f s -> %s\n", method, K,
                        viterbi ? ", Viterbi decoding" : "", cli_now_s() - t0, out);
        lmf_tagger_free(f);
    }
    lmf_tagged_free(v);
    return s ? cli_fail() : 0;
}

static int cmd_stack(int argc, char **argv) {
    const char *train = NULL, *valid = NULL, *out = NULL, *paths[LMF_FUSE_MAX_MEMBERS];
    int K = 0;
    lmf_tagstack_opts o;
    lmf_tagstack_opts_init(&o);
    o.progress = 1;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (is_help(argv[i])) {
            usage_tag(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "-q")) {
            o.progress = 0;
        } else if ((v = cli_opt_value(argc, argv, &i, "--train", &missing))) {
            train = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--valid", &missing))) {
            valid = v;
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--folds", &missing))) {
            if (!lmf_parse_int(v, &o.folds) || o.folds < 2 || o.folds > 100)
                return cli_usage_error("tag stack", "--folds wants 2 to 100, not \"%s\"", v);
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "--iters", &missing))) {
            if (!lmf_parse_int(v, &o.iters) || o.iters < 1 || o.iters > 1000)
                return cli_usage_error("tag stack", "--iters wants 1 to 1000, not \"%s\"", v);
        } else if (!missing && (v = cli_opt_value(argc, argv, &i, "-o", &missing))) {
            out = v;
        } else if (missing) {
            return cli_usage_error("tag stack", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("tag stack", "unknown option \"%s\"", argv[i]);
        } else {
            if (K == LMF_FUSE_MAX_MEMBERS) return cli_usage_error("tag stack", "at most %d members", LMF_FUSE_MAX_MEMBERS);
            paths[K++] = argv[i];
        }
    }
    if (!K || !out || (!train && !valid)) return cli_usage_error("tag stack", "wants MEMBER..., -o STACK.lmft and --train or --valid");
    if (train && valid) return cli_usage_error("tag stack", "--train (out of fold) or --valid (blending), not both");
    if (!train) o.folds = 0;
    if (o.progress) lmf_set_log(NULL, NULL, LMF_LOG_INFO);
    lmf_tagger *m[LMF_FUSE_MAX_MEMBERS];
    if (load_members(paths, K, m)) return cli_fail();
    lmf_tagged *c = NULL;
    if (lmf_tagged_read(train ? train : valid, 1, &c)) {
        int rc = cli_fail();
        for (int j = 0; j < K; j++) lmf_tagger_free(m[j]);
        return rc;
    }
    const double t0 = cli_now_s();
    lmf_tagger *t;
    lmf_status s = lmf_tagger_stack_fit(m, paths, K, train ? c : NULL, train ? NULL : c, &o, &t);
    if (!s) {
        s = lmf_tagger_save(t, out);
        if (!s && o.progress)
            fprintf(stderr, "lmfuse tag stack: %d taggers, %s, %.1f s -> %s\n", K,
                    train ? "out of fold on train" : "blended on held-out text", cli_now_s() - t0, out);
        lmf_tagger_free(t);
    }
    lmf_tagged_free(c);
    return s ? cli_fail() : 0;
}

int lmf_cmd_tag(int argc, char **argv) {
    if (argc < 2) {
        usage_tag(stderr);
        return 2;
    }
    if (is_help(argv[1]) || !strcmp(argv[1], "help")) {
        usage_tag(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(argv[1], "predict")) return cmd_predict(argc - 1, argv + 1);
    if (!strcmp(argv[1], "fuse")) return cmd_fuse(argc - 1, argv + 1);
    if (!strcmp(argv[1], "stack")) return cmd_stack(argc - 1, argv + 1);
    return cli_usage_error("tag", "unknown subcommand \"%s\" (train, eval, predict, fuse, stack)", argv[1]);
}
