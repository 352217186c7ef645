/* lmfuse tune --method linear|bayes --dev FILE MODEL... -o RECIPE */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "cli.h"
#include "lmf/eval.h"
#include "lmf/fuse.h"
#include "lmf/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXM 64

static void help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse tune --method M --dev FILE MODEL... -o RECIPE.json [options]\n"
            "\n"
            "Tunes the weights of a fusion of MODELs (n-gram, neural or recipe files) on the\n"
            "held-out text FILE and writes a recipe that `lmfuse ppl` and the other commands\n"
            "accept wherever they accept a model.  Tune on data you do not evaluate on: the\n"
            "recipe records which file was used.\n"
            "\n"
            "methods:\n"
            "  linear   weighted average of the members' probabilities; EM from equal weights\n"
            "           until the perplexity improves by less than --tol per iteration\n"
            "  bayes    linear with online weights (posterior of each member given the\n"
            "           tokens so far, fixed share towards the EM weights); the share is\n"
            "           chosen by grid search on FILE\n"
            "\n"
            "options:\n"
            "  --tol X          EM stopping tolerance, relative perplexity change (default 1e-7)\n"
            "  --max-iter N     EM iteration limit (default 1000)\n"
            "  --threads N      BLAS threads for neural members (default 1)\n"
            "  -q               no progress on stderr\n");
}

int lmf_cmd_tune(int argc, char **argv) {
    const char *method = NULL, *dev = NULL, *out = NULL, *paths[MAXM];
    int K = 0, max_iter = 1000, threads = 1, quiet = 0;
    double tol = 1e-7;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-q")) {
            quiet = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--method", &missing)) || missing) {
            if (!v) return cli_usage_error("tune", "--method needs a value");
            method = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--dev", &missing)) || missing) {
            if (!v) return cli_usage_error("tune", "--dev needs a file");
            dev = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "-o", &missing)) || missing) {
            if (!v) return cli_usage_error("tune", "-o needs a file");
            out = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--tol", &missing)) || missing) {
            if (!v || !cli_parse_double(v, &tol) || !(tol > 0)) return cli_usage_error("tune", "--tol takes a number > 0");
        } else if ((v = cli_opt_value(argc, argv, &i, "--max-iter", &missing)) || missing) {
            if (!v || !cli_parse_int(v, &max_iter) || max_iter < 1 || max_iter > 1000000)
                return cli_usage_error("tune", "--max-iter takes a number 1..1000000");
        } else if ((v = cli_opt_value(argc, argv, &i, "--threads", &missing)) || missing) {
            if (!v || !cli_parse_int(v, &threads) || threads < 1 || threads > 1024)
                return cli_usage_error("tune", "--threads takes a number 1..1024");
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("tune", "unknown option %s", argv[i]);
        } else {
            if (K == MAXM) return cli_usage_error("tune", "at most %d models", MAXM);
            paths[K++] = argv[i];
        }
    }
    if (!method) return cli_usage_error("tune", "--method is required (linear or bayes)");
    int comb = lmf_combiner_parse(method);
    if (comb != LMF_COMB_LINEAR && comb != LMF_COMB_BAYES)
        return cli_usage_error("tune", "--method %s is not available (linear or bayes)", method);
    if (!dev) return cli_usage_error("tune", "--dev FILE (held-out text) is required");
    if (!out) return cli_usage_error("tune", "-o RECIPE.json is required");
    if (K < 2) return cli_usage_error("tune", "give at least two models to fuse");
    lmf_set_threads(threads);

    /* every member's log-probability of every dev token */
    float *lp[MAXM] = {0};
    double mppl[MAXM];
    size_t N = 0;
    int rc = 1;
    clock_t t0 = clock();
    for (int k = 0; k < K; k++) {
        lmf_model *m;
        if (lmf_model_load(paths[k], &m)) goto done;
        lmf_tokens t;
        lmf_status s = lmf_tokens_read_file(dev, lmf_model_vocab(m), NULL, &t);
        if (!s && k > 0 && t.n != N) {
            s = lmf_error(LMF_ERR_DATA, "%s reads %s as %zu tokens, %s as %zu: the vocabularies differ", paths[k], dev,
                          t.n, paths[0], N);
        }
        if (!s) {
            N = t.n;
            lp[k] = (float *)malloc((N ? N : 1) * sizeof(float));
            lmf_ppl r;
            s = lp[k] ? lmf_eval_ppl(m, &t, lp[k], &r) : lmf_error(LMF_ERR_NOMEM, "out of memory");
            if (!s) {
                mppl[k] = r.ppl;
                if (!quiet) fprintf(stderr, "[tune] member %d %s: dev ppl %.4f\n", k + 1, paths[k], r.ppl);
            }
            lmf_tokens_free(&t);
        }
        lmf_model_free(m);
        if (s) goto done;
    }
    double w[MAXM], *trace = (double *)malloc(((size_t)max_iter + 1) * sizeof *trace);
    if (!trace) {
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int k = 0; k < K; k++) w[k] = 1.0 / K;
    int iters = 0;
    if (lmf_tune_linear_em((const float *const *)lp, K, N, tol, max_iter, w, trace, &iters)) {
        free(trace);
        goto done;
    }
    if (!quiet)
        fprintf(stderr, "[tune] EM: %d iterations, dev ppl %.4f (equal weights) -> %.4f\n", iters, trace[0],
                trace[iters]);
    double share = 0, best = trace[iters];
    if (comb == LMF_COMB_BAYES) {
        static const double grid[] = {0, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3};
        best = INFINITY;
        for (size_t g = 0; g < sizeof grid / sizeof *grid; g++) {
            double p = lmf_bayes_ppl((const float *const *)lp, K, N, w, grid[g]);
            if (!quiet) fprintf(stderr, "[tune] bayes share %g: dev ppl %.4f\n", grid[g], p);
            if (p < best) best = p, share = grid[g];
        }
    }
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    /* the tuning record */
    char *js = NULL;
    size_t jl = 0;
    FILE *jf = open_memstream(&js, &jl);
    if (!jf) {
        free(trace);
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    fprintf(jf, "{\"method\":\"%s\",\"dev\":", comb == LMF_COMB_BAYES ? "em+grid" : "em");
    cli_json_str(jf, dev, strlen(dev));
    fprintf(jf, ",\"dev_tokens\":%zu,\"iterations\":%d,\"tolerance\":%g,", N, iters, tol);
    fprintf(jf, "\"dev_ppl_equal_weights\":%.6f,\"dev_ppl\":%.6f,\"member_dev_ppl\":[", trace[0], best);
    for (int k = 0; k < K; k++) fprintf(jf, "%s%.6f", k ? "," : "", mppl[k]);
    fprintf(jf, "],\"cpu_seconds\":%.3f}", secs);
    free(trace);
    if (fclose(jf) || !js) {
        free(js);
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    lmf_status s = lmf_recipe_write(out, (lmf_combiner)comb, paths, K, w, share, js);
    free(js);
    if (s) goto done;
    if (!quiet) {
        fprintf(stderr, "[tune] wrote %s: weights", out);
        for (int k = 0; k < K; k++) fprintf(stderr, " %.4f", w[k]);
        if (comb == LMF_COMB_BAYES) fprintf(stderr, ", share %g", share);
        fprintf(stderr, "; dev ppl %.4f\n", best);
    }
    rc = 0;
done:
    for (int k = 0; k < K; k++) free(lp[k]);
    return rc ? cli_fail() : 0;
}
