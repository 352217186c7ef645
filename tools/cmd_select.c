/* lmfuse select --dev FILE MODEL... -o RECIPE: greedy forward selection of a
 * linear mixture (lmf_select_forward). */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "cli.h"
#include "lmf/eval.h"
#include "lmf/fuse.h"
#include "lmf/model.h"

#include <stdlib.h>
#include <string.h>

static void help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse select --dev FILE MODEL... -o RECIPE.json [--min-gain X] [-q]\n"
            "\n"
            "Greedy forward ensemble selection: starts from the MODEL with the lowest\n"
            "perplexity on the held-out text FILE, then adds, one at a time, the MODEL\n"
            "whose linear mixture (weights by EM on FILE) with those chosen has the lowest\n"
            "perplexity, while that gains at least --min-gain.  Prints the perplexity\n"
            "after each addition (stdout, TSV) and writes the chosen linear recipe.\n"
            "Selection and weights use the same FILE, so its perplexities are optimistic:\n"
            "evaluate the recipe on other text.\n"
            "\n"
            "options:\n"
            "  --min-gain X     relative perplexity gain an addition must bring (default 0.001)\n"
            "  --threads N      BLAS threads for neural members (default 1)\n"
            "  -q               no progress on stderr\n");
}

int lmf_cmd_select(int argc, char **argv) {
    const char *dev = NULL, *out = NULL, *paths[LMF_FUSE_MAX_MEMBERS];
    int K = 0, quiet = 0, threads = 1;
    double min_gain = 1e-3;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-q")) {
            quiet = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--dev", &missing)) || missing) {
            if (!v) return cli_usage_error("select", "--dev needs a file");
            dev = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "-o", &missing)) || missing) {
            if (!v) return cli_usage_error("select", "-o needs a file");
            out = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--min-gain", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &min_gain) || !(min_gain >= 0 && min_gain < 1))
                return cli_usage_error("select", "--min-gain takes a number in [0, 1)");
        } else if ((v = cli_opt_value(argc, argv, &i, "--threads", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &threads) || threads < 1 || threads > 1024)
                return cli_usage_error("select", "--threads takes a number 1..1024");
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("select", "unknown option %s", argv[i]);
        } else {
            if (K == LMF_FUSE_MAX_MEMBERS) return cli_usage_error("select", "at most %d models", LMF_FUSE_MAX_MEMBERS);
            paths[K++] = argv[i];
        }
    }
    if (!dev) return cli_usage_error("select", "--dev FILE (held-out text) is required");
    if (!out) return cli_usage_error("select", "-o RECIPE.json is required");
    if (K < 1) return cli_usage_error("select", "give the candidate models");
    lmf_set_threads(threads);
    float *lp[LMF_FUSE_MAX_MEMBERS] = {0};
    lmf_model *ms[LMF_FUSE_MAX_MEMBERS] = {0};
    lmf_tokens devtok = {0};
    double mppl[LMF_FUSE_MAX_MEMBERS];
    int rc = 1;
    char *js = NULL;
    lmf_selection sel;
    if (cli_score_members("select", paths, K, dev, 0, quiet, ms, lp, &devtok, mppl)) goto done;
    if (lmf_select_forward((const float *const *)lp, K, devtok.n, min_gain, &sel)) goto done;
    printf("step\tadded\tdev_ppl\n");
    for (int i = 0; i < sel.n; i++) printf("%d\t%s\t%.4f\n", i + 1, paths[sel.order[i]], sel.ppl[i]);
    if (sel.rejected >= 0)
        printf("-\t%s (not added: %.4f)\t%.4f\n", paths[sel.rejected], sel.rejected_ppl, sel.ppl[sel.n - 1]);
    /* the recipe: the chosen members in the order added */
    size_t jl = 0;
    FILE *jf = open_memstream(&js, &jl);
    if (!jf) {
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    fprintf(jf, "{\"method\":\"greedy-forward+em\",\"dev\":");
    cli_json_str(jf, dev, strlen(dev));
    fprintf(jf, ",\"dev_tokens\":%zu,\"min_gain\":%g,\"steps\":[", devtok.n, min_gain);
    for (int i = 0; i < sel.n; i++) {
        fprintf(jf, "%s{\"added\":", i ? "," : "");
        cli_json_str(jf, paths[sel.order[i]], strlen(paths[sel.order[i]]));
        fprintf(jf, ",\"dev_ppl\":%.6f}", sel.ppl[i]);
    }
    fprintf(jf, "],\"candidates\":[");
    for (int k = 0; k < K; k++) {
        fprintf(jf, "%s{\"model\":", k ? "," : "");
        cli_json_str(jf, paths[k], strlen(paths[k]));
        fprintf(jf, ",\"dev_ppl\":%.6f}", mppl[k]);
    }
    fprintf(jf, "],\"dev_ppl\":%.6f}", sel.ppl[sel.n - 1]);
    if (fclose(jf) || !js) {
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    const char *chosen[LMF_FUSE_MAX_MEMBERS];
    for (int i = 0; i < sel.n; i++) chosen[i] = paths[sel.order[i]];
    lmf_fuse_opts fo;
    lmf_fuse_opts_init(&fo);
    fo.comb = LMF_COMB_LINEAR;
    fo.weights = sel.w;
    if (lmf_recipe_write(out, &fo, chosen, sel.n, js)) goto done;
    if (!quiet)
        fprintf(stderr, "[select] wrote %s: %d of %d models, dev ppl %.4f\n", out, sel.n, K, sel.ppl[sel.n - 1]);
    rc = 0;
done:
    free(js);
    lmf_tokens_free(&devtok);
    for (int k = 0; k < K; k++) {
        free(lp[k]);
        if (ms[k]) lmf_model_free(ms[k]);
    }
    return rc ? cli_fail() : 0;
}
