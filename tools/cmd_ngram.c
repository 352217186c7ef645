/* lmfuse ngram train | convert | mix */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "lmf/eval.h"
#include "lmf/fuse.h"
#include "lmf/model.h"
#include "lmf/ngram.h"
#include "lmf/parse.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static void train_help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse ngram train [options] TEXT -o MODEL\n"
            "\n"
            "Estimates an interpolated modified Kneser-Ney n-gram model from TEXT (one\n"
            "sentence per line, whitespace-separated words, UTF-8).  The vocabulary is every\n"
            "word of TEXT plus <unk> and </s>; a literal <unk> in TEXT is an ordinary word.\n"
            "\n"
            "options:\n"
            "  --order N          n-gram order, 1..%d (default 5)\n"
            "  -o, --output FILE  model to write: FILE.arpa (ARPA text) or FILE.lmfb (binary);\n"
            "                     - is stdout (with --format)\n"
            "  --format F         arpa | binary (default: from the extension)\n"
            "  --prune C2,C3,...  drop n-grams of order 2, 3, ... whose count is <= Ci\n"
            "                     (the last value repeats; default: no pruning)\n"
            "  --fallback D1,D2,D3  discounts used when counts-of-counts break the\n"
            "                     Kneser-Ney formula on tiny data (default 0.5,1,1.5)\n"
            "  --no-utf8-check    accept text that is not valid UTF-8\n"
            "  --max-line BYTES   refuse longer lines (default 16777216)\n"
            "  -q, --quiet        no summary on stderr\n",
            LMF_NGRAM_MAX_ORDER);
}

static int cmd_train(int argc, char **argv) {
    lmf_ngram_train_opts o;
    lmf_ngram_train_opts_init(&o);
    const char *text = NULL, *outp = NULL, *format = NULL;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            train_help(stdout);
            return 0;
        } else if ((v = cli_opt_value(argc, argv, &i, "--order", &missing))) {
            if (!lmf_parse_int(v, &o.order) || o.order < 1 || o.order > LMF_NGRAM_MAX_ORDER)
                return cli_usage_error("ngram train", "--order must be 1..%d, got \"%s\"", LMF_NGRAM_MAX_ORDER, v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--output", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "-o", &missing))) {
            outp = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--format", &missing))) {
            format = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--prune", &missing))) {
            double vals[LMF_NGRAM_MAX_ORDER];
            int n = lmf_parse_double_list(v, vals, LMF_NGRAM_MAX_ORDER - 1);
            if (n <= 0) return cli_usage_error("ngram train", "--prune takes counts like 0,1,1, got \"%s\"", v);
            for (int k = 0; k < n; k++)
                if (!(vals[k] >= 0 && vals[k] < 18446744073709551616.0) || vals[k] != (double)(uint64_t)vals[k] ||
                    (k && vals[k] < vals[k - 1]))
                    return cli_usage_error("ngram train",
                                           "--prune values must be non-negative integers, non-decreasing: \"%s\"", v);
            for (int ord = 2; ord <= LMF_NGRAM_MAX_ORDER; ord++)
                o.prune[ord - 1] = (uint64_t)vals[ord - 2 < n ? ord - 2 : n - 1];
        } else if ((v = cli_opt_value(argc, argv, &i, "--fallback", &missing))) {
            double vals[3];
            if (lmf_parse_double_list(v, vals, 3) != 3)
                return cli_usage_error("ngram train", "--fallback takes three discounts like 0.5,1,1.5");
            for (int k = 0; k < 3; k++) o.fallback[k] = vals[k];
        } else if (!strcmp(argv[i], "--no-utf8-check")) {
            o.utf8_check = 0;
        } else if ((v = cli_opt_value(argc, argv, &i, "--max-line", &missing))) {
            uint64_t x;
            if (!lmf_parse_u64(v, &x) || x == 0) return cli_usage_error("ngram train", "bad --max-line \"%s\"", v);
            o.max_line = (size_t)x;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (missing) {
            return cli_usage_error("ngram train", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("ngram train", "unknown option %s", argv[i]);
        } else if (!text) {
            text = argv[i];
        } else {
            return cli_usage_error("ngram train", "unexpected argument \"%s\"", argv[i]);
        }
    }
    if (!text) return cli_usage_error("ngram train", "missing the training TEXT file");
    if (!outp) return cli_usage_error("ngram train", "missing -o MODEL (.arpa or .lmfb)");
    int binary;
    if (lmf_ngram_output_format(outp, format, &binary)) return cli_usage_error("ngram train", "%s", lmf_last_error());
    double t0 = cli_now_s();
    lmf_ngram_train_info info;
    if (lmf_ngram_train_save(text, &o, outp, format, &info)) return cli_fail();
    double t1 = cli_now_s();
    if (!quiet) {
        fprintf(stderr, "lmfuse: %s: %llu lines, %llu tokens, %llu words in vocabulary\n", text,
                (unsigned long long)info.lines, (unsigned long long)info.tokens,
                (unsigned long long)info.ngrams[0] - 1);
        for (int n = 1; n <= o.order; n++)
            fprintf(stderr, "  %d-grams: %10llu   discounts %.4f %.4f %.4f%s\n", n, (unsigned long long)info.ngrams[n - 1],
                    info.discount[n - 1][0], info.discount[n - 1][1], info.discount[n - 1][2],
                    info.used_fallback[n - 1] ? " (fallback)" : "");
        fprintf(stderr, "lmfuse: estimated and wrote %s in %.2f s\n", strcmp(outp, "-") ? outp : "standard output",
                t1 - t0);
    }
    return 0;
}

static void convert_help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse ngram convert IN -o OUT [--format arpa|binary]\n"
            "\n"
            "Converts between ARPA and the lmfuse binary format (.lmfb).  IN may be either;\n"
            "the output format comes from OUT's extension unless --format is given.\n"
            "\n"
            "IN may also be a sphinxbase/pocketsphinx binary trie LM, gzip-compressed or not\n"
            "(recognised by its first bytes, \"Trie Language Model\"; e.g. en-us.lm.bin of\n"
            "pocketsphinx-en-us), converted to ARPA only (OUT.arpa): its scores, logs in\n"
            "base 1.0001 (pocketsphinx's default -logbase), become log10.  The ARPA holds\n"
            "the n-grams sphinxbase's own lookup finds, so it scores as pocketsphinx does;\n"
            "its counts may be below the trie's header counts (a warning says so).\n");
}

/* Whether the regular file (or, gzip-compressed, its content) starts with
 * sphinxbase's trie LM magic.  Pipes are not peeked at: they are read once. */
static int is_sphinx_trie(const char *path) {
    static const char magic[] = "Trie Language Model";
    char buf[sizeof magic - 1];
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz) return 0;
    int got = gzread(gz, buf, sizeof buf);
    gzclose(gz);
    return got == (int)sizeof buf && !memcmp(buf, magic, sizeof buf);
}

static int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *outp = NULL, *format = NULL;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            convert_help(stdout);
            return 0;
        } else if ((v = cli_opt_value(argc, argv, &i, "--output", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "-o", &missing))) {
            outp = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--format", &missing))) {
            format = v;
        } else if (missing) {
            return cli_usage_error("ngram convert", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("ngram convert", "unknown option %s", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else {
            return cli_usage_error("ngram convert", "unexpected argument \"%s\"", argv[i]);
        }
    }
    if (!in || !outp) return cli_usage_error("ngram convert", "need IN and -o OUT");
    int binary;
    if (lmf_ngram_output_format(outp, format, &binary)) return cli_usage_error("ngram convert", "%s", lmf_last_error());
    if (is_sphinx_trie(in)) {
        if (binary)
            return cli_usage_error("ngram convert",
                                   "%s is a sphinxbase trie LM, which converts to ARPA only: use -o OUT.arpa, then "
                                   "`lmfuse ngram convert OUT.arpa -o OUT.lmfb`",
                                   in);
        return lmf_sphinx_lm_to_arpa(in, outp) ? cli_fail() : 0;
    }
    lmf_model *mm;
    if (lmf_model_load(in, &mm)) return cli_fail();
    lmf_ngram *m = lmf_ngram_from_model(mm);
    if (!m) {
        lmf_model_free(mm);
        lmf_error(LMF_ERR_ARG, "%s: not an n-gram model", in);
        return cli_fail();
    }
    int rc = lmf_ngram_save(m, outp, format) ? cli_fail() : 0;
    lmf_model_free(mm);
    return rc;
}

static void mix_help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse ngram mix A B [C ...] -o OUT [options]\n"
            "\n"
            "Static interpolation: one back-off model from the n-gram models A, B, ... (ARPA or\n"
            ".lmfb), as SRILM's `ngram -lm A -mix-lm B -lambda L -write-lm OUT`.  OUT lists\n"
            "the union of the models' n-grams, each with the probability of the dynamic\n"
            "mixture sum_k lambda_k p_k(w|h) (each p_k by its model's own back-off), and\n"
            "new back-off weights that make every distribution sum to 1.  It scores like\n"
            "the mixture wherever the full context's n-gram is listed in some model; where\n"
            "it backs off, it can differ (--check TEXT measures by how much).\n"
            "\n"
            "The vocabulary is the union: A's words, then each further model's new ones.  A\n"
            "word a model lacks gets a share of that model's <unk> probability, as the\n"
            "fusion recipes' \"unk_dub\" does (see --dub); in a model's history it reads as\n"
            "<unk>.\n"
            "\n"
            "options:\n"
            "  --lambda L1,L2,... one weight per model, >= 0, renormalised to sum 1\n"
            "                     (default: equal weights)\n"
            "  -o, --output FILE  model to write: FILE.arpa (ARPA text) or FILE.lmfb (binary);\n"
            "                     - is stdout (with --format arpa)\n"
            "  --format F         arpa | binary (default: from the extension)\n"
            "  --order N          order of the merged model, 1..%d (default: the highest\n"
            "                     order among the models)\n"
            "  --dub D            <unk> share of the words a model lacks: 0 = its p(<unk>)\n"
            "                     spread over them and <unk> (default, sums to 1); D > 0 =\n"
            "                     p(<unk>) / (D - |V| - 1), IRSTLM's --dub; D < 0 = p(<unk>) as\n"
            "                     is (IRSTLM's --dub=0)\n"
            "  --check TEXT       also the perplexity on TEXT (one sentence per line) of the\n"
            "                     merged model and of the dynamic mixture (a linear fusion of\n"
            "                     the same models, weights and --dub), and their difference\n"
            "  --json             the report as one JSON object on stdout\n"
            "  -q, --quiet        no report on stderr\n",
            LMF_NGRAM_MAX_ORDER);
}

/* Perplexity of m on text, per-token natural logs in *lp (malloc'd). */
static int mix_eval(lmf_model *m, const char *text, lmf_ppl *r, float **lp, lmf_tokens *t) {
    lmf_read_opts ro;
    lmf_read_opts_init(&ro);
    if (lmf_tokens_read_file(text, lmf_model_vocab(m), &ro, t)) return 1;
    if (!(*lp = (float *)malloc((t->n ? t->n : 1) * sizeof **lp))) {
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        return 1;
    }
    return lmf_eval_ppl(m, t, *lp, r) != LMF_OK;
}

static int cmd_mix(int argc, char **argv) {
    enum { KMAX = LMF_NGRAM_MIX_MAX_MEMBERS };
    const char *paths[KMAX], *outp = NULL, *format = NULL, *check = NULL;
    double lambda[KMAX];
    int K = 0, nl = -1, json = 0, quiet = 0;
    lmf_ngram_mix_opts mo;
    lmf_ngram_mix_opts_init(&mo);
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            mix_help(stdout);
            return 0;
        } else if ((v = cli_opt_value(argc, argv, &i, "--lambda", &missing))) {
            nl = lmf_parse_double_list(v, lambda, KMAX);
            if (nl <= 0)
                return cli_usage_error("ngram mix", "--lambda takes finite weights like 0.6,0.4, got \"%s\"", v);
            for (int k = 0; k < nl; k++)
                if (!(lambda[k] >= 0))
                    return cli_usage_error("ngram mix", "--lambda: weights must be >= 0, got \"%s\"", v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--output", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "-o", &missing))) {
            outp = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--format", &missing))) {
            format = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--order", &missing))) {
            if (!lmf_parse_int(v, &mo.order) || mo.order < 1 || mo.order > LMF_NGRAM_MAX_ORDER)
                return cli_usage_error("ngram mix", "--order must be 1..%d, got \"%s\"", LMF_NGRAM_MAX_ORDER, v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--dub", &missing))) {
            if (!lmf_parse_double(v, &mo.unk_dub))
                return cli_usage_error("ngram mix",
                                       "--dub takes a number (0, or IRSTLM's dictionary upper bound), got \"%s\"", v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--check", &missing))) {
            check = v;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (missing) {
            return cli_usage_error("ngram mix", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("ngram mix", "unknown option %s", argv[i]);
        } else if (K == KMAX) {
            return cli_usage_error("ngram mix", "at most %d models", KMAX);
        } else {
            paths[K++] = argv[i];
        }
    }
    if (K == 0) return cli_usage_error("ngram mix", "no models to mix; give them as ARPA or .lmfb files");
    if (!outp) return cli_usage_error("ngram mix", "missing -o OUT (.arpa or .lmfb)");
    if (nl >= 0 && nl != K)
        return cli_usage_error("ngram mix", "--lambda has %d weight%s for %d model%s", nl, nl == 1 ? "" : "s", K,
                               K == 1 ? "" : "s");
    if (nl < 0)
        for (int k = 0; k < K; k++) lambda[k] = 1.0;
    double wsum = 0;
    for (int k = 0; k < K; k++) wsum += lambda[k];
    if (!(wsum > 0)) return cli_usage_error("ngram mix", "--lambda: the weights are all 0");
    for (int k = 0; k < K; k++) lambda[k] /= wsum;
    int binary;
    if (lmf_ngram_output_format(outp, format, &binary)) return cli_usage_error("ngram mix", "%s", lmf_last_error());
    if (json && !strcmp(outp, "-")) return cli_usage_error("ngram mix", "--json and -o - both want standard output");

    if (check) { /* before the work, not after it */
        FILE *f = fopen(check, "r");
        if (!f) {
            lmf_error(LMF_ERR_IO, "%s: cannot read the --check text", check);
            return cli_fail();
        }
        fclose(f);
    }
    lmf_model *ms[KMAX] = {0};
    const lmf_ngram *ng[KMAX];
    lmf_model *merged = NULL, *fused = NULL;
    lmf_tokens tm = {0}, tf = {0};
    float *lpm = NULL, *lpf = NULL;
    int rc = 1;
    double t0 = cli_now_s();
    for (int k = 0; k < K; k++) {
        if (lmf_model_load(paths[k], &ms[k])) goto out;
        if (!(ng[k] = lmf_ngram_from_model(ms[k]))) {
            lmf_error(LMF_ERR_ARG, "%s: not an n-gram model (ngram mix takes ARPA or .lmfb files)", paths[k]);
            goto out;
        }
    }
    double t1 = cli_now_s();
    mo.names = paths;
    lmf_ngram_mix_info info;
    lmf_ngram *r;
    if (lmf_ngram_mix(ng, K, lambda, &mo, &r, &info)) goto out;
    merged = lmf_ngram_model(r);
    double t2 = cli_now_s();
    if (lmf_ngram_save(r, outp, format)) goto out;
    double t3 = cli_now_s();
    const char *outname = strcmp(outp, "-") ? outp : "standard output";
    if (!quiet) {
        fprintf(stderr, "lmfuse: mixed %d models into a %d-gram over %d words (weights", K, info.order,
                (int)info.vocab);
        for (int k = 0; k < K; k++) fprintf(stderr, "%s%.6g", k ? "," : " ", info.lambda[k]);
        fprintf(stderr, ", <unk> dub %g)\n", mo.unk_dub);
        for (int n = 1; n <= info.order; n++) {
            fprintf(stderr, "  %d-grams: %10llu", n, (unsigned long long)info.ngrams[n - 1]);
            if (info.added[n - 1])
                fprintf(stderr, "   (%llu contexts/suffixes no model lists)", (unsigned long long)info.added[n - 1]);
            fprintf(stderr, "\n");
        }
        fprintf(stderr, "  back-off weights: %llu (no mass left: %llu, listed mass above 1: %llu, improper: %llu, "
                        "tiny denominator: %llu)\n",
                (unsigned long long)info.contexts, (unsigned long long)info.bow_zero,
                (unsigned long long)info.bow_over, (unsigned long long)info.bow_improper,
                (unsigned long long)info.bow_tiny_den);
        fprintf(stderr, "lmfuse: wrote %s; load %.2f s, mix %.2f s, write %.2f s\n", outname, t1 - t0, t2 - t1,
                t3 - t2);
    }
    lmf_ppl pm, pf;
    double maxdiff = 0;
    size_t ndiff = 0;
    if (check) {
        if (mix_eval(merged, check, &pm, &lpm, &tm)) goto out;
        lmf_fuse_opts fo;
        lmf_fuse_opts_init(&fo);
        fo.comb = LMF_COMB_LINEAR;
        fo.weights = lambda;
        fo.unk_dub = mo.unk_dub;
        lmf_status s = lmf_fuse_new(ms, K, &fo, &fused); /* takes the members, also on failure */
        for (int k = 0; k < K; k++) ms[k] = NULL;
        if (s || mix_eval(fused, check, &pf, &lpf, &tf)) goto out;
        if (tm.n != tf.n) {
            lmf_error(LMF_ERR_DATA, "%s: the merged model and the mixture read different numbers of tokens (%zu, %zu)",
                      check, tm.n, tf.n);
            goto out;
        }
        for (size_t i = 0; i < tm.n; i++) {
            double d = fabs((double)lpm[i] - (double)lpf[i]) / 2.302585092994045684;
            if (d > maxdiff) maxdiff = d;
            ndiff += d > 1e-4;
        }
        if (!quiet) {
            fprintf(stderr, "check %s: %zu tokens, %zu OOVs\n", check, tm.n, (size_t)pm.oovs);
            fprintf(stderr, "  ppl merged %.4f   dynamic mixture %.4f   difference %+.4f (%+.4f%%)\n", pm.ppl, pf.ppl,
                    pm.ppl - pf.ppl, 100 * (pm.ppl - pf.ppl) / pf.ppl);
            fprintf(stderr, "  tokens scored differently (|log10 p difference| > 1e-4): %zu (%.2f%%), largest %.4f\n",
                    ndiff, tm.n ? 100.0 * (double)ndiff / (double)tm.n : 0.0, maxdiff);
        }
    }
    if (json) {
        printf("{\"output\":");
        cli_json_str(stdout, outp, strlen(outp));
        printf(",\"models\":[");
        for (int k = 0; k < K; k++) {
            if (k) putchar(',');
            cli_json_str(stdout, paths[k], strlen(paths[k]));
        }
        printf("],\"lambda\":[");
        for (int k = 0; k < K; k++) printf("%s%.17g", k ? "," : "", info.lambda[k]);
        printf("],\"unk_dub\":%.17g,\"order\":%d,\"vocab\":%d,\"ngrams\":[", mo.unk_dub, info.order, (int)info.vocab);
        for (int n = 1; n <= info.order; n++)
            printf("%s%llu", n > 1 ? "," : "", (unsigned long long)info.ngrams[n - 1]);
        printf("],\"added\":[");
        for (int n = 1; n <= info.order; n++) printf("%s%llu", n > 1 ? "," : "", (unsigned long long)info.added[n - 1]);
        printf("],\"backoffs\":%llu,\"bow_zero\":%llu,\"bow_over\":%llu,\"bow_improper\":%llu,\"bow_tiny_den\":%llu,"
               "\"seconds\":{\"load\":%.3f,\"mix\":%.3f,\"write\":%.3f}",
               (unsigned long long)info.contexts, (unsigned long long)info.bow_zero, (unsigned long long)info.bow_over,
               (unsigned long long)info.bow_improper, (unsigned long long)info.bow_tiny_den, t1 - t0, t2 - t1, t3 - t2);
        if (check) {
            printf(",\"check\":{\"text\":");
            cli_json_str(stdout, check, strlen(check));
            printf(",\"tokens\":%zu,\"oovs\":%llu,\"ppl_merged\":%.6f,\"ppl_dynamic\":%.6f,\"ppl_diff\":%.6f,"
                   "\"tokens_differing\":%zu,\"max_abs_log10_diff\":%.6f}",
                   tm.n, (unsigned long long)pm.oovs, pm.ppl, pf.ppl, pm.ppl - pf.ppl, ndiff, maxdiff);
        }
        printf("}\n");
    }
    rc = 0;
out:
    if (rc) rc = cli_fail();
    free(lpm);
    free(lpf);
    lmf_tokens_free(&tm);
    lmf_tokens_free(&tf);
    lmf_model_free(fused);
    lmf_model_free(merged);
    for (int k = 0; k < K; k++) lmf_model_free(ms[k]);
    return rc;
}

int lmf_cmd_ngram(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *fp = argc < 2 ? stderr : stdout;
        fprintf(fp,
                "usage: lmfuse ngram <train|convert|mix> ...\n"
                "  train    estimate a Kneser-Ney model (lmfuse ngram train --help)\n"
                "  convert  ARPA <-> binary, sphinxbase trie -> ARPA (lmfuse ngram convert --help)\n"
                "  mix      interpolate models into one back-off model (lmfuse ngram mix --help)\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "convert")) return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(argv[1], "mix")) return cmd_mix(argc - 1, argv + 1);
    return cli_usage_error("ngram", "unknown subcommand \"%s\"", argv[1]);
}
