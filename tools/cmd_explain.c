/* lmfuse explain RECIPE TEXT: per-token attribution and member diversity
 * (lmf_fuse_explain). */
#include "cli.h"
#include "lmf/fuse.h"
#include "lmf/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse explain RECIPE.json TEXT [--json] [--summary] [--threads N]\n"
            "\n"
            "Explains a fusion on TEXT.  Per token (TSV on stdout: line, position, word,\n"
            "oov flag, the fusion's ln p, each member's ln p, each member's responsibility):\n"
            "a member's responsibility is its posterior share of the observed token,\n"
            "w_k p_k(y) / sum_j w_j p_j(y), with the weights that position is mixed with\n"
            "(gate: the gate's weights there; bayes: the online ones; linear and the\n"
            "combiners that are not mixtures: the recipe's).  Then, on stderr, the\n"
            "diversity of the members over all tokens: correlation of their per-token\n"
            "losses, how often their most probable words differ, and the mean\n"
            "Jensen-Shannon divergence of their distributions (nats, at most ln 2).\n"
            "\n"
            "options:\n"
            "  --json        one JSON document on stdout instead (tokens and summary)\n"
            "  --summary     no per-token rows, only the summary (on stdout)\n"
            "  --threads N   BLAS threads for neural members (default 1)\n");
}

static void matrix(FILE *fp, const char *title, const double *a, int K, const char *const *names) {
    fprintf(fp, "%s\n%-24s", title, "");
    for (int k = 0; k < K; k++) fprintf(fp, " %10.10s", names[k]);
    fprintf(fp, "\n");
    for (int i = 0; i < K; i++) {
        fprintf(fp, "%-24.24s", names[i]);
        for (int k = 0; k < K; k++) fprintf(fp, " %10.4f", a[(size_t)i * K + k]);
        fprintf(fp, "\n");
    }
}

static void json_matrix(FILE *fp, const char *key, const double *a, int K) {
    fprintf(fp, ",\"%s\":[", key);
    for (int i = 0; i < K; i++) {
        fprintf(fp, "%s[", i ? "," : "");
        for (int k = 0; k < K; k++) fprintf(fp, "%s%.6g", k ? "," : "", isfinite(a[i * K + k]) ? a[i * K + k] : 0.0);
        fprintf(fp, "]");
    }
    fprintf(fp, "]");
}

int lmf_cmd_explain(int argc, char **argv) {
    const char *files[2] = {0};
    int nf = 0, json = 0, summary = 0, threads = 1;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--summary")) {
            summary = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--threads", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &threads) || threads < 1 || threads > 1024)
                return cli_usage_error("explain", "--threads takes a number 1..1024");
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("explain", "unknown option %s", argv[i]);
        } else {
            if (nf == 2) return cli_usage_error("explain", "give one recipe and one text file");
            files[nf++] = argv[i];
        }
    }
    if (nf != 2) return cli_usage_error("explain", "give one recipe and one text file");
    lmf_set_threads(threads);
    lmf_model *m = NULL;
    lmf_tokens t = {0};
    lmf_explain ex = {0};
    float *flp = NULL, *mlp = NULL, *resp = NULL;
    int rc = 1;
    if (lmf_model_load(files[0], &m)) goto done;
    lmf_model *const *mem;
    int K = lmf_fuse_members(m, &mem);
    if (K == 0) {
        lmf_error(LMF_ERR_ARG, "%s is a single model; explain needs a fusion recipe (lmfuse tune writes one)", files[0]);
        goto done;
    }
    const lmf_vocab *voc = lmf_model_vocab(m);
    if (lmf_tokens_read_file(files[1], voc, NULL, &t)) goto done;
    size_t n = t.n ? t.n : 1;
    flp = (float *)malloc(n * sizeof *flp);
    mlp = (float *)malloc((size_t)K * n * sizeof *mlp);
    resp = (float *)malloc((size_t)K * n * sizeof *resp);
    if (!flp || !mlp || !resp) {
        lmf_error(LMF_ERR_NOMEM, "out of memory for %zu tokens x %d members", t.n, K);
        goto done;
    }
    if (lmf_fuse_explain(m, &t, flp, mlp, resp, &ex, NULL, NULL)) goto done;
    char names[LMF_FUSE_MAX_MEMBERS][64];
    const char *np[LMF_FUSE_MAX_MEMBERS];
    for (int k = 0; k < K; k++) {
        char d[256];
        lmf_model_describe(mem[k], d, sizeof d);
        size_t dl = strcspn(d, ",");
        snprintf(names[k], sizeof names[k], "%d:%.*s", k + 1, (int)(dl < 20 ? dl : 20), d);
        np[k] = names[k];
    }
    FILE *so = stdout, *sm = summary || json ? stdout : stderr;
    if (json) fprintf(so, "{\"recipe\":"), cli_json_str(so, files[0], strlen(files[0])), fprintf(so, ",\"text\":"),
        cli_json_str(so, files[1], strlen(files[1])), fprintf(so, ",\"tokens\":[");
    if (!summary) {
        if (!json) {
            fprintf(so, "line\tpos\tword\toov\tlnp");
            for (int k = 0; k < K; k++) fprintf(so, "\tlnp_%d", k + 1);
            for (int k = 0; k < K; k++) fprintf(so, "\tresp_%d", k + 1);
            fprintf(so, "\n");
        }
        size_t line = 1, pos = 1;
        for (size_t i = 0; i < t.n; i++) {
            size_t wl;
            const char *w = lmf_vocab_word(voc, t.ids[i], &wl);
            int oov = t.oov && t.oov[i];
            if (json) {
                fprintf(so, "%s\n{\"line\":%zu,\"pos\":%zu,\"word\":", i ? "," : "", line, pos);
                cli_json_str(so, w, wl);
                fprintf(so, ",\"oov\":%s,\"lnp\":%.6g,\"member_lnp\":[", oov ? "true" : "false", (double)flp[i]);
                for (int k = 0; k < K; k++) fprintf(so, "%s%.6g", k ? "," : "", (double)mlp[(size_t)k * t.n + i]);
                fprintf(so, "],\"resp\":[");
                for (int k = 0; k < K; k++) fprintf(so, "%s%.4f", k ? "," : "", (double)resp[(size_t)k * t.n + i]);
                fprintf(so, "]}");
            } else {
                fprintf(so, "%zu\t%zu\t%.*s\t%d\t%.6g", line, pos, (int)wl, w, oov, (double)flp[i]);
                for (int k = 0; k < K; k++) fprintf(so, "\t%.6g", (double)mlp[(size_t)k * t.n + i]);
                for (int k = 0; k < K; k++) fprintf(so, "\t%.4f", (double)resp[(size_t)k * t.n + i]);
                fprintf(so, "\n");
            }
            if (t.ids[i] == LMF_EOS) line++, pos = 1;
            else pos++;
            if (cli_stdout_failed()) goto done; /* a full disk: stop now */
        }
    }
    if (json) {
        fprintf(so, "],\n\"tokens_total\":%zu,\"ppl\":%.6f,\"members\":[", t.n, ex.ppl);
        for (int k = 0; k < K; k++) {
            char d[256];
            lmf_model_describe(mem[k], d, sizeof d);
            fprintf(so, "%s{\"kind\":\"%s\",\"describe\":", k ? "," : "", lmf_model_kind(mem[k]));
            cli_json_str(so, d, strlen(d));
            fprintf(so, ",\"ppl\":%.6f,\"mean_resp\":%.6f}", ex.member_ppl[k], ex.mean_resp[k]);
        }
        fprintf(so, "]");
        json_matrix(so, "loss_corr", ex.loss_corr, K);
        json_matrix(so, "top1_disagree", ex.top1_disagree, K);
        json_matrix(so, "js", ex.js, K);
        fprintf(so, "}\n");
    } else {
        fprintf(sm, "%s on %s: %zu tokens, fusion ppl %.4f\n", files[0], files[1], t.n, ex.ppl);
        for (int k = 0; k < K; k++) {
            char d[256];
            lmf_model_describe(mem[k], d, sizeof d);
            fprintf(sm, "  member %d (%s): ppl %.4f, mean responsibility %.4f\n", k + 1, d, ex.member_ppl[k],
                    ex.mean_resp[k]);
        }
        matrix(sm, "correlation of per-token losses:", ex.loss_corr, K, np);
        matrix(sm, "top-1 disagreement rate:", ex.top1_disagree, K, np);
        matrix(sm, "Jensen-Shannon divergence (nats, mean over tokens):", ex.js, K, np);
    }
    if (cli_stdout_failed()) goto done;
    rc = 0;
done:
    lmf_explain_free(&ex);
    free(flp);
    free(mlp);
    free(resp);
    lmf_tokens_free(&t);
    if (m) lmf_model_free(m);
    return rc ? cli_fail() : 0;
}
