/* lmfuse tune --method linear|loglinear|bayes|gate|cache --dev FILE MODEL... -o RECIPE */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "cli.h"
#include "lmf/eval.h"
#include "lmf/fuse.h"
#include "lmf/model.h"
#include "lmf/parse.h"

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
            "  gate     context-dependent linear weights: a softmax over features of each\n"
            "           position (members' entropy, top probability, agreement, recent\n"
            "           loss), fitted by L-BFGS on FILE from the EM mixture; --folds\n"
            "           blocks of FILE held out in turn estimate it on unseen text\n"
            "  loglinear  weighted geometric mean, renormalised; weights >= 0 by projected\n"
            "           Newton on the convex dev objective.  Exact over all of FILE for\n"
            "           n-gram members; with other members, over evenly spaced positions\n"
            "           whose full distributions fit in --max-mem\n"
            "  cache    one neural MODEL: a continuous cache over its hidden vectors (Grave et\n"
            "           al. 2017), theta and window by grid search for the dev perplexity of\n"
            "           MODEL mixed with its cache; -o writes the cache file, a member for\n"
            "           other recipes and tune runs\n"
            "\n"
            "options:\n"
            "  --dub D          members over different vocabularies are fused over their union;\n"
            "                   a word a member lacks gets a share of its <unk> probability:\n"
            "                   0 (default) p(<unk>) / (words it lacks + 1), which keeps each\n"
            "                   member normalised; D > 0 IRSTLM's p(<unk>) / (D - |V|), e.g.\n"
            "                   1e7 as interpolate-lm; D < 0 p(<unk>) as is (its --dub=0)\n"
            "  --tol X          EM stopping tolerance, relative perplexity change (default 1e-7)\n"
            "  --max-iter N     EM iteration limit (default 1000)\n"
            "  --max-mem MB     loglinear with non-n-gram members: memory for stored\n"
            "                   distributions (default 512)\n"
            "  --folds N        gate: cross-validation folds for the held-out estimate\n"
            "                   (default 5; 0 = none)\n"
            "  --l2 X           gate: weight penalty (default 1e-4)\n"
            "  --decay X        gate: recent-loss averaging factor (default 0.95)\n"
            "  --window N,...   cache: window sizes to try (default 500,1000,2000)\n"
            "  --theta X,...    cache: thetas to try (default c / E|h|^2, c = 1, 1.41, 2 ... 64)\n"
            "  --floor X        cache: uniform share of its distribution (default 0.01)\n"
            "  --every N        cache: score every N-th block of 256 dev positions (default 1)\n"
            "  --threads N      BLAS threads for neural members (default 1)\n"
            "  -q               no progress on stderr\n");
}

char *cli_ncache_tuning_json(const char *dev, size_t n, const lmf_ncache_fit *fit, double secs, const char *by) {
    char *js = NULL;
    size_t jl = 0;
    FILE *jf = open_memstream(&js, &jl);
    if (!jf) return NULL;
    fprintf(jf, "{\"method\":\"grid\",");
    if (by) fprintf(jf, "\"by\":\"%s\",", by);
    fprintf(jf, "\"dev\":");
    cli_json_str(jf, dev, strlen(dev));
    fprintf(jf, ",\"dev_tokens\":%zu,\"positions\":%zu,\"dev_ppl_model\":%.6f,\"dev_ppl_mixture\":%.6f,"
                "\"mixture_weight\":%.6f,\"grid\":[",
            n, fit->positions, fit->ppl_model, fit->ppl, fit->lambda);
    for (int g = 0; g < fit->n; g++)
        fprintf(jf, "%s{\"window\":%d,\"theta\":%.6g,\"dev_ppl_mixture\":%.6f}", g ? "," : "", fit->grid_window[g],
                fit->grid_theta[g], fit->grid_ppl[g]);
    fprintf(jf, "],\"seconds\":%.3f}", secs);
    if (fclose(jf)) {
        free(js);
        return NULL;
    }
    return js;
}

/* tune --method cache: one neural model, a continuous cache file out. */
static int tune_cache(const char *model_path, const char *dev, const char *out, const double *theta, int nt,
                      const double *window, int nw, double floor, int every, int quiet) {
    lmf_model *m = NULL;
    lmf_tokens t = {0};
    int wins[LMF_NCACHE_GRID_MAX], rc = 1;
    double t0 = cli_now_s();
    if (lmf_model_load(model_path, &m)) return cli_fail();
    if (lmf_model_hidden_dim(m) <= 0) {
        lmf_error(LMF_ERR_ARG, "%s: a continuous cache needs a neural model (rnn, lstm, gru, transformer), not a %s model",
                  model_path, lmf_model_kind(m));
        lmf_model_free(m);
        return cli_fail();
    }
    if (lmf_tokens_read_file(dev, lmf_model_vocab(m), NULL, &t)) {
        lmf_model_free(m);
        return cli_fail();
    }
    for (int b = 0; b < nw; b++) wins[b] = (int)window[b];
    lmf_ncache_tune_opts o;
    lmf_ncache_tune_opts_init(&o);
    o.theta = nt ? theta : NULL;
    o.n_theta = nt;
    o.window = nw ? wins : NULL;
    o.n_window = nw;
    o.floor = floor;
    o.every = every;
    lmf_ncache_fit fit;
    char *js = NULL;
    if (lmf_tune_ncache(m, &t, &o, &fit)) goto done;
    if (!quiet) {
        fprintf(stderr, "[tune] %s: dev ppl %.4f alone (%zu positions scored, E|h|^2 = %.4g)\n", model_path,
                fit.ppl_model, fit.positions, fit.mean_sq_norm);
        for (int g = 0; g < fit.n; g++)
            fprintf(stderr, "[tune]   window %6d  theta %-10.4g  cache weight %.4f  dev ppl %.4f%s\n", fit.grid_window[g],
                    fit.grid_theta[g], fit.grid_lambda[g], fit.grid_ppl[g],
                    fit.grid_window[g] == fit.window && fit.grid_theta[g] == fit.theta ? "  <- best" : "");
    }
    if (!(js = cli_ncache_tuning_json(dev, t.n, &fit, cli_now_s() - t0, NULL))) {
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (lmf_ncache_write(out, model_path, fit.window, fit.theta, fit.floor, js)) goto done;
    if (!quiet)
        fprintf(stderr, "[tune] wrote %s: window %d, theta %.6g; %s mixed with it (weight %.4f): dev ppl %.4f -> %.4f\n",
                out, fit.window, fit.theta, model_path, fit.lambda, fit.ppl_model, fit.ppl);
    rc = 0;
done:
    free(js);
    lmf_tokens_free(&t);
    lmf_model_free(m);
    return rc ? cli_fail() : 0;
}

int cli_score_members(const char *tag, const char *const *paths, int K, const char *dev, double dub, int quiet, lmf_model **ms, float **lp,
                      lmf_tokens *devtok, double *mppl) {
    size_t N = 0;
    for (int k = 0; k < K; k++)
        if (lmf_model_load(paths[k], &ms[k])) return 1;
    /* members over different vocabularies: each over their union, as the recipe will be (lmf_fuse_new) */
    int changed = 0;
    if (lmf_fuse_unify(ms, K, dub, 0, &changed)) return 1;
    if (changed && !quiet)
        fprintf(stderr, "[%s] the members know different words: each is scored over their union of %d words (%s)\n", tag,
                (int)lmf_vocab_size(lmf_model_vocab(ms[0])),
                dub > 0 ? "IRSTLM's <unk> / (dub - |V|)" : dub < 0 ? "<unk> as is" : "each member's <unk> shared by the words it lacks");
    for (int k = 0; k < K; k++) {
        lmf_tokens t;
        lmf_status s = lmf_tokens_read_file(dev, lmf_model_vocab(ms[k]), NULL, &t);
        if (!s && k > 0 && t.n != N) {
            s = lmf_error(LMF_ERR_DATA, "%s reads %s as %zu tokens, %s as %zu: the vocabularies differ", paths[k], dev,
                          t.n, paths[0], N);
        }
        if (!s) {
            N = t.n;
            lp[k] = (float *)malloc((N ? N : 1) * sizeof(float));
            lmf_ppl r;
            s = lp[k] ? lmf_eval_ppl(ms[k], &t, lp[k], &r) : lmf_error(LMF_ERR_NOMEM, "out of memory");
            if (!s) {
                mppl[k] = r.ppl;
                if (!quiet) fprintf(stderr, "[%s] member %d %s: dev ppl %.4f\n", tag, k + 1, paths[k], r.ppl);
            }
            if (k == 0) *devtok = t;
            else lmf_tokens_free(&t);
        }
        if (s) return 1;
    }
    return 0;
}

int lmf_cmd_tune(int argc, char **argv) {
    const char *method = NULL, *dev = NULL, *out = NULL, *paths[MAXM];
    int K = 0, max_iter = 1000, threads = 1, quiet = 0, max_mb = 512, folds = 5;
    double l2 = 1e-4, decay = 0.95, dub = 0;
    double tol = 1e-7, ctheta[LMF_NCACHE_GRID_MAX], cwin[LMF_NCACHE_GRID_MAX], cfloor = 0.01;
    int nt = 0, nw = 0, every = 1;
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
        } else if ((v = cli_opt_value(argc, argv, &i, "--dub", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &dub) || dub > 1e15 || dub < -1e15)
                return cli_usage_error("tune", "--dub takes a number (0, the default: share each member's <unk>; > 0: "
                                               "IRSTLM's dictionary upper bound, e.g. 1e7; < 0: <unk> as is)");
        } else if ((v = cli_opt_value(argc, argv, &i, "--tol", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &tol) || !(tol > 0)) return cli_usage_error("tune", "--tol takes a number > 0");
        } else if ((v = cli_opt_value(argc, argv, &i, "--max-iter", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &max_iter) || max_iter < 1 || max_iter > 1000000)
                return cli_usage_error("tune", "--max-iter takes a number 1..1000000");
        } else if ((v = cli_opt_value(argc, argv, &i, "--folds", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &folds) || folds < 0 || folds > 100)
                return cli_usage_error("tune", "--folds takes a number 0..100");
        } else if ((v = cli_opt_value(argc, argv, &i, "--l2", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &l2) || !(l2 >= 0)) return cli_usage_error("tune", "--l2 takes a number >= 0");
        } else if ((v = cli_opt_value(argc, argv, &i, "--decay", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &decay) || !(decay > 0 && decay < 1))
                return cli_usage_error("tune", "--decay takes a number in (0, 1)");
        } else if ((v = cli_opt_value(argc, argv, &i, "--max-mem", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &max_mb) || max_mb < 1 || max_mb > 1 << 20)
                return cli_usage_error("tune", "--max-mem takes megabytes, 1..1048576");
        } else if ((v = cli_opt_value(argc, argv, &i, "--theta", &missing)) || missing) {
            if (!v || (nt = lmf_parse_double_list(v, ctheta, LMF_NCACHE_GRID_MAX)) < 1)
                return cli_usage_error("tune", "--theta takes numbers >= 0 separated by commas (at most %d)",
                                       LMF_NCACHE_GRID_MAX);
            for (int t = 0; t < nt; t++)
                if (!(ctheta[t] >= 0)) return cli_usage_error("tune", "--theta values must be >= 0");
        } else if ((v = cli_opt_value(argc, argv, &i, "--window", &missing)) || missing) {
            if (!v || (nw = lmf_parse_double_list(v, cwin, LMF_NCACHE_GRID_MAX)) < 1)
                return cli_usage_error("tune", "--window takes sizes separated by commas (at most %d)", LMF_NCACHE_GRID_MAX);
            for (int b = 0; b < nw; b++)
                if (cwin[b] != floor(cwin[b]) || cwin[b] < 1 || cwin[b] > LMF_NCACHE_MAX_WINDOW)
                    return cli_usage_error("tune", "--window sizes must be whole numbers 1..%d", LMF_NCACHE_MAX_WINDOW);
        } else if ((v = cli_opt_value(argc, argv, &i, "--floor", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &cfloor) || !(cfloor > 0 && cfloor <= 1))
                return cli_usage_error("tune", "--floor takes a number in (0, 1]");
        } else if ((v = cli_opt_value(argc, argv, &i, "--every", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &every) || every < 1 || every > 1000000)
                return cli_usage_error("tune", "--every takes a number 1..1000000");
        } else if ((v = cli_opt_value(argc, argv, &i, "--threads", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &threads) || threads < 1 || threads > 1024)
                return cli_usage_error("tune", "--threads takes a number 1..1024");
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("tune", "unknown option %s", argv[i]);
        } else {
            if (K == MAXM) return cli_usage_error("tune", "at most %d models", MAXM);
            paths[K++] = argv[i];
        }
    }
    if (!method) return cli_usage_error("tune", "--method is required (linear, loglinear, bayes, gate or cache)");
    if (!strcmp(method, "cache")) {
        if (!dev) return cli_usage_error("tune", "--dev FILE (held-out text) is required");
        if (!out) return cli_usage_error("tune", "-o CACHE.json is required");
        if (K != 1) return cli_usage_error("tune", "--method cache takes one neural model (got %d)", K);
        if ((nw ? nw : 3) * (nt ? nt : 13) > LMF_NCACHE_GRID_MAX)
            return cli_usage_error("tune", "--window x --theta: at most %d grid points", LMF_NCACHE_GRID_MAX);
        lmf_set_threads(threads);
        return tune_cache(paths[0], dev, out, ctheta, nt, cwin, nw, cfloor, every, quiet);
    }
    int comb = lmf_combiner_parse(method);
    if (comb != LMF_COMB_LINEAR && comb != LMF_COMB_BAYES && comb != LMF_COMB_LOGLINEAR && comb != LMF_COMB_GATE)
        return cli_usage_error("tune", "--method %s is not available (linear, loglinear, bayes, gate or cache)", method);
    if (!dev) return cli_usage_error("tune", "--dev FILE (held-out text) is required");
    if (!out) return cli_usage_error("tune", "-o RECIPE.json is required");
    if (K < 2) return cli_usage_error("tune", "give at least two models to fuse");
    lmf_set_threads(threads);

    /* every member's log-probability of every dev token */
    float *lp[MAXM] = {0};
    lmf_model *ms[MAXM] = {0};
    lmf_tokens devtok = {0};
    lmf_gate_fit fit = {0};
    double mppl[MAXM], *trace = NULL;
    size_t N = 0;
    int rc = 1;
    clock_t t0 = clock();
    if (cli_score_members("tune", paths, K, dev, dub, quiet, ms, lp, &devtok, mppl)) goto done;
    N = devtok.n;
    double w[MAXM];
    trace = (double *)malloc(((size_t)max_iter + 1) * sizeof *trace);
    if (!trace) {
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int k = 0; k < K; k++) w[k] = 1.0 / K;
    int iters = 0;
    double share = 0, best = 0, start = 0;
    lmf_tune_info li = {0};
    if (comb == LMF_COMB_GATE) {
        lmf_gate_tune_opts go = {0};
        go.folds = folds;
        go.l2 = l2 > 0 ? l2 : 1e-300;
        go.decay = decay;
        lmf_status gs = lmf_tune_gate(ms, K, &devtok, &go, &fit);
        for (int k = 0; k < K; k++) ms[k] = NULL; /* the gate trainer took them */
        if (gs) goto done;
        iters = fit.iterations;
        start = fit.ppl_linear;
        best = fit.ppl;
        memcpy(w, fit.w_linear, (size_t)K * sizeof *w);
        if (!quiet) {
            fprintf(stderr, "[tune] gate L-BFGS: %d iterations, dev ppl %.4f (EM linear) -> %.4f\n", iters, start, best);
            if (fit.folds)
                fprintf(stderr, "[tune] %d-fold held-out estimate: linear %.4f, gate %.4f\n", fit.folds,
                        fit.cv_ppl_linear, fit.cv_ppl);
        }
    } else if (comb == LMF_COMB_LOGLINEAR) {
        lmf_tune_ll_opts lo = {0};
        lo.max_iter = max_iter < 100 ? max_iter : 100;
        lo.max_bytes = (size_t)max_mb << 20;
        if (lmf_tune_loglinear(ms, K, &devtok, &lo, w, &li)) goto done;
        iters = li.iterations;
        start = li.ppl_start;
        best = li.ppl;
        if (!quiet) {
            fprintf(stderr, "[tune] log-linear Newton: %d iterations, dev ppl %.4f (weights 1/%d) -> %.4f", iters,
                    start, K, best);
            if (li.exact)
                fprintf(stderr, " (exact over %zu tokens; %zu contexts, %zu entries)\n", li.positions, li.contexts,
                        li.entries);
            else
                fprintf(stderr, " (over %zu of %zu positions, evenly spaced)\n", li.positions, li.dev_tokens);
        }
    } else {
        if (lmf_tune_linear_em((const float *const *)lp, K, N, tol, max_iter, w, trace, &iters)) goto done;
        start = trace[0];
        best = trace[iters];
        if (!quiet)
            fprintf(stderr, "[tune] EM: %d iterations, dev ppl %.4f (equal weights) -> %.4f\n", iters, trace[0],
                    trace[iters]);
    }
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
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    fprintf(jf, "{\"method\":\"%s\",\"dev\":",
            comb == LMF_COMB_BAYES       ? "em+grid"
            : comb == LMF_COMB_LOGLINEAR ? "projected-newton"
            : comb == LMF_COMB_GATE      ? "lbfgs-blending"
                                         : "em");
    cli_json_str(jf, dev, strlen(dev));
    fprintf(jf, ",\"dev_tokens\":%zu,\"iterations\":%d,", N, iters);
    if (comb == LMF_COMB_LOGLINEAR)
        fprintf(jf, "\"exact\":%s,\"positions\":%zu,", li.exact ? "true" : "false", li.positions);
    else if (comb == LMF_COMB_GATE) {
        fprintf(jf, "\"l2\":%g,\"folds\":%d,", l2, fit.folds);
        if (fit.folds) fprintf(jf, "\"cv_ppl_linear\":%.6f,\"cv_ppl\":%.6f,", fit.cv_ppl_linear, fit.cv_ppl);
    }
    else
        fprintf(jf, "\"tolerance\":%g,", tol);
    fprintf(jf, "\"dev_ppl_start\":%.6f,\"dev_ppl\":%.6f,\"member_dev_ppl\":[", start, best);
    for (int k = 0; k < K; k++) fprintf(jf, "%s%.6f", k ? "," : "", mppl[k]);
    fprintf(jf, "],\"cpu_seconds\":%.3f}", secs);
    if (fclose(jf) || !js) {
        free(js);
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto done;
    }
    lmf_fuse_opts fo;
    lmf_fuse_opts_init(&fo);
    fo.comb = (lmf_combiner)comb;
    fo.weights = w;
    fo.share = share;
    fo.unk_dub = dub;
    lmf_gate_params gp;
    if (comb == LMF_COMB_GATE) {
        lmf_gate_fit_params(&fit, &gp);
        fo.gate = &gp;
    }
    lmf_status s = lmf_recipe_write(out, &fo, paths, K, js);
    lmf_gate_fit_free(&fit);
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
    free(trace);
    lmf_gate_fit_free(&fit);
    lmf_tokens_free(&devtok);
    for (int k = 0; k < K; k++) {
        free(lp[k]);
        if (ms[k]) lmf_model_free(ms[k]);
    }
    return rc ? cli_fail() : 0;
}
