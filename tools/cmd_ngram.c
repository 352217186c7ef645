/* lmfuse ngram train | convert */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "lmf/ngram.h"
#include "lmf/parse.h"

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

int lmf_cmd_ngram(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *fp = argc < 2 ? stderr : stdout;
        fprintf(fp,
                "usage: lmfuse ngram <train|convert> ...\n"
                "  train    estimate a Kneser-Ney model (lmfuse ngram train --help)\n"
                "  convert  ARPA <-> binary, sphinxbase trie -> ARPA (lmfuse ngram convert --help)\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "convert")) return cmd_convert(argc - 1, argv + 1);
    return cli_usage_error("ngram", "unknown subcommand \"%s\"", argv[1]);
}
