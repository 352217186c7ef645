/* lmfuse ppl MODEL FILE [--json] [--per-token] */
#include "cli.h"
#include "lmf/eval.h"
#include "lmf/fuse.h"
#include "lmf/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse ppl MODEL TEXT [options]\n"
            "\n"
            "Perplexity of MODEL (ARPA, .lmfb, neural .safetensors or a fusion recipe .json)\n"
            "on TEXT (one sentence per line).  Every\n"
            "word and one </s> per line are predicted; <s> is context only.  Words not in\n"
            "the model's vocabulary are OOVs: scored as <unk> in `ppl`, left out of\n"
            "`ppl_excl_oov` (the SRILM/KenLM conventions; a literal <unk> is a word).\n"
            "logprob totals are log10, as SRILM and KenLM print them.\n"
            "\n"
            "options:\n"
            "  --json            one JSON object on stdout\n"
            "  --per-token       each token with its log10 probability (TSV: line, token as\n"
            "                    written, log10 p, oov flag) before the summary\n"
            "  --members         for a recipe, also each member's perplexity on the same tokens\n"
            "  --threads N       BLAS threads for neural models (default 1)\n"
            "  --no-utf8-check   accept text that is not valid UTF-8\n");
}

int lmf_cmd_ppl(int argc, char **argv) {
    const char *model = NULL, *text = NULL;
    int json = 0, per_token = 0, threads = 1, members = 0;
    lmf_read_opts ro;
    lmf_read_opts_init(&ro);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--members")) {
            members = 1;
        } else if (!strcmp(argv[i], "--per-token")) {
            per_token = 1;
        } else if (!strcmp(argv[i], "--no-utf8-check")) {
            ro.utf8_check = 0;
        } else if (!strncmp(argv[i], "--threads", 9)) {
            int missing = 0;
            const char *v = cli_opt_value(argc, argv, &i, "--threads", &missing);
            if (!v || !lmf_parse_int(v, &threads) || threads < 1 || threads > 1024)
                return cli_usage_error("ppl", "--threads takes a number 1..1024");
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("ppl", "unknown option %s", argv[i]);
        } else if (!model) {
            model = argv[i];
        } else if (!text) {
            text = argv[i];
        } else {
            return cli_usage_error("ppl", "unexpected argument \"%s\"", argv[i]);
        }
    }
    if (!model || !text) return cli_usage_error("ppl", "need MODEL and TEXT");
    ro.keep_oov_text = per_token;
    lmf_set_threads(threads);
    lmf_model *m;
    if (lmf_model_load(model, &m)) return cli_fail();
    lmf_model *const *fmem;
    if (lmf_fuse_members(m, &fmem) && lmf_recipe_tuned_on(model, text)) /* a recipe scored on its tuning text */
        fprintf(stderr, "lmfuse ppl: warning: %s was tuned on %s; its perplexity there is optimistic (evaluate on "
                        "other text)\n", model, text);
    lmf_tokens t;
    if (lmf_tokens_read_file(text, lmf_model_vocab(m), &ro, &t)) {
        lmf_model_free(m);
        return cli_fail();
    }
    float *lp = NULL;
    if (per_token && !(lp = (float *)malloc((t.n ? t.n : 1) * sizeof *lp))) {
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        lmf_tokens_free(&t);
        lmf_model_free(m);
        return cli_fail();
    }
    lmf_ppl r;
    if (lmf_eval_ppl(m, &t, lp, &r)) {
        free(lp);
        lmf_tokens_free(&t);
        lmf_model_free(m);
        return cli_fail();
    }
    const double L10 = 2.302585092994045684;
    const lmf_vocab *v = lmf_model_vocab(m);
    if (per_token) {
        /* OOVs print as written (they were scored as <unk>) */
        size_t line = 1;
        const char *oovw = t.oov_text;
        for (size_t i = 0; i < t.n; i++) {
            size_t wl;
            const char *w = lmf_vocab_word(v, t.ids[i], &wl);
            if (t.oov[i] && oovw) {
                w = oovw;
                wl = strlen(oovw);
                oovw += wl + 1;
            }
            if (json) {
                if (i == 0) printf("{\"tokens\":[");
                printf("%s{\"line\":%zu,\"token\":", i ? "," : "", line);
                cli_json_str(stdout, w, wl);
                printf(",\"log10p\":%.6f,\"oov\":%s}", lp[i] / L10, t.oov[i] ? "true" : "false");
            } else {
                printf("%zu\t%.*s\t%.6f\t%d\n", line, (int)wl, w, lp[i] / L10, t.oov[i]);
            }
            if (t.ids[i] == LMF_EOS) line++;
            if (cli_stdout_failed()) break; /* a full disk: stop now */
        }
        if (json) printf("],\"summary\":");
    }
    if (cli_stdout_failed()) {
        free(lp);
        lmf_tokens_free(&t);
        lmf_model_free(m);
        return cli_fail();
    }
    /* --members: each member on the same text (same words: the fusion maps ids) */
    lmf_model *const *mem = NULL;
    int K = members ? lmf_fuse_members(m, &mem) : 0;
    lmf_ppl mr[64];
    if (members && K == 0) fprintf(stderr, "lmfuse: warning: --members: %s is not a fusion recipe\n", model);
    for (int k = 0; k < K && k < 64; k++) {
        lmf_tokens mt;
        lmf_read_opts mo = ro;
        mo.keep_oov_text = 0;
        lmf_status s = lmf_tokens_read_file(text, lmf_model_vocab(mem[k]), &mo, &mt);
        if (!s) {
            s = lmf_eval_ppl(mem[k], &mt, NULL, &mr[k]);
            lmf_tokens_free(&mt);
        }
        if (s) {
            free(lp);
            lmf_tokens_free(&t);
            lmf_model_free(m);
            return cli_fail();
        }
    }
    if (json) {
        printf("{\"model\":");
        cli_json_str(stdout, model, strlen(model));
        printf(",\"text\":");
        cli_json_str(stdout, text, strlen(text));
        printf(",\"sentences\":%llu,\"words\":%llu,\"tokens\":%llu,\"oovs\":%llu,\"unks\":%llu,"
               "\"logprob\":%.6f,\"logprob_excl_oov\":%.6f,\"ppl\":%.6f,\"ppl_excl_oov\":%.6f,\"ppl1\":%.6f",
               (unsigned long long)r.sentences, (unsigned long long)r.words, (unsigned long long)r.tokens,
               (unsigned long long)r.oovs, (unsigned long long)r.unks, r.logprob / L10, r.logprob_in_vocab / L10,
               r.ppl, r.ppl_excl_oov, r.ppl1);
        if (K) {
            printf(",\"members\":[");
            for (int k = 0; k < K; k++) {
                char d[256];
                lmf_model_describe(mem[k], d, sizeof d);
                printf("%s{\"member\":%d,\"describe\":", k ? "," : "", k + 1);
                cli_json_str(stdout, d, strlen(d));
                printf(",\"tokens\":%llu,\"oovs\":%llu,\"ppl\":%.6f,\"ppl_excl_oov\":%.6f}",
                       (unsigned long long)mr[k].tokens, (unsigned long long)mr[k].oovs, mr[k].ppl, mr[k].ppl_excl_oov);
            }
            printf("]");
        }
        printf(per_token ? "}}\n" : "}\n");
    } else {
        printf("file %s: %llu sentences, %llu words, %llu OOVs (%llu literal <unk>)\n", text,
               (unsigned long long)r.sentences, (unsigned long long)r.words, (unsigned long long)r.oovs,
               (unsigned long long)r.unks);
        printf("tokens= %llu logprob= %.4f ppl= %.4f ppl_excl_oov= %.4f ppl1= %.4f\n", (unsigned long long)r.tokens,
               r.logprob / L10, r.ppl, r.ppl_excl_oov, r.ppl1);
        for (int k = 0; k < K; k++) {
            char d[256];
            lmf_model_describe(mem[k], d, sizeof d);
            printf("member %d (%s): tokens= %llu ppl= %.4f ppl_excl_oov= %.4f\n", k + 1, d,
                   (unsigned long long)mr[k].tokens, mr[k].ppl, mr[k].ppl_excl_oov);
        }
    }
    free(lp);
    lmf_tokens_free(&t);
    lmf_model_free(m);
    return 0;
}
