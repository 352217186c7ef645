/* lmfuse generate MODEL|RECIPE [--prompt TEXT] [options] */
#include "cli.h"
#include "lmf/generate.h"
#include "lmf/model.h"

#include <stdlib.h>
#include <string.h>

static void help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse generate MODEL [--prompt TEXT] [options]\n"
            "\n"
            "Continues TEXT (read as the start of a line) with MODEL, any model file or\n"
            "fusion recipe.  Sampling by default; --beam B > 1 runs beam search.  The\n"
            "same seed gives the same output.\n"
            "\n"
            "options:\n"
            "  --prompt TEXT       words to continue (default: none, a new line)\n"
            "  --max-tokens N      at most N new tokens (default 40); stops after </s>\n"
            "  --temperature T     divide log-probabilities by T (default 1)\n"
            "  --top-k K           sample among the K most probable tokens (default: all)\n"
            "  --top-p P           sample among the smallest set holding mass P (default 1)\n"
            "  --beam B            beam search of width B (deterministic)\n"
            "  --samples N         N samples, seeds S, S+1, ... (default 1)\n"
            "  --seed S            default 1\n"
            "  --allow-unk         may generate <unk> (default: never)\n"
            "  --json              one JSON object per sample\n");
}

int lmf_cmd_generate(int argc, char **argv) {
    const char *model = NULL, *prompt = "";
    int samples = 1, json = 0;
    lmf_gen_opts o;
    lmf_gen_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        uint64_t u;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--allow-unk")) {
            o.allow_unk = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--prompt", &missing)) || missing) {
            if (!v) return cli_usage_error("generate", "--prompt needs text");
            prompt = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--max-tokens", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &o.max_tokens) || o.max_tokens < 0 || o.max_tokens > 1000000)
                return cli_usage_error("generate", "--max-tokens takes a number 0..1000000");
        } else if ((v = cli_opt_value(argc, argv, &i, "--temperature", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &o.temperature) || !(o.temperature > 0))
                return cli_usage_error("generate", "--temperature takes a number > 0");
        } else if ((v = cli_opt_value(argc, argv, &i, "--top-k", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &o.top_k) || o.top_k < 0)
                return cli_usage_error("generate", "--top-k takes a number >= 0");
        } else if ((v = cli_opt_value(argc, argv, &i, "--top-p", &missing)) || missing) {
            if (!v || !lmf_parse_double(v, &o.top_p) || !(o.top_p > 0) || o.top_p > 1)
                return cli_usage_error("generate", "--top-p takes a number in (0, 1]");
        } else if ((v = cli_opt_value(argc, argv, &i, "--beam", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &o.beam) || o.beam < 1 || o.beam > 1024)
                return cli_usage_error("generate", "--beam takes a number 1..1024");
        } else if ((v = cli_opt_value(argc, argv, &i, "--samples", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &samples) || samples < 1 || samples > 100000)
                return cli_usage_error("generate", "--samples takes a number 1..100000");
        } else if ((v = cli_opt_value(argc, argv, &i, "--seed", &missing)) || missing) {
            if (!v || !lmf_parse_u64(v, &u)) return cli_usage_error("generate", "--seed takes a number");
            o.seed = u;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("generate", "unknown option %s", argv[i]);
        } else if (!model) {
            model = argv[i];
        } else {
            return cli_usage_error("generate", "unexpected argument \"%s\"", argv[i]);
        }
    }
    if (!model) return cli_usage_error("generate", "need a MODEL");
    lmf_model *m;
    if (lmf_model_load(model, &m)) return cli_fail();
    const lmf_vocab *voc = lmf_model_vocab(m);
    /* the prompt's words; unknown ones become <unk>, with a warning */
    size_t cap = strlen(prompt) / 2 + 2, np = 0;
    int32_t *ids = (int32_t *)malloc(cap * sizeof *ids), *out = (int32_t *)malloc(((size_t)o.max_tokens + 1) * sizeof *out);
    if (!ids || !out) {
        free(ids), free(out), lmf_model_free(m);
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        return cli_fail();
    }
    for (const char *p = prompt; *p;) {
        while (*p == ' ' || *p == '\t') p++;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t') e++;
        if (e == p) break;
        int32_t id = lmf_vocab_find(voc, p, (size_t)(e - p));
        if (id < 0) {
            fprintf(stderr, "lmfuse: warning: prompt word \"%.*s\" is not in the model's vocabulary (read as <unk>)\n",
                    (int)(e - p), p);
            id = LMF_UNK;
        }
        ids[np++] = id;
        p = e;
    }
    int rc = 0;
    uint64_t seed0 = o.seed;
    for (int k = 0; k < samples && !rc; k++) {
        o.seed = seed0 + (uint64_t)k;
        size_t n;
        double lp;
        if (lmf_generate(m, ids, np, &o, out, &n, &lp)) {
            rc = cli_fail();
            break;
        }
        if (json) {
            printf("{\"seed\":%llu,\"prompt\":", (unsigned long long)o.seed);
            cli_json_str(stdout, prompt, strlen(prompt));
            printf(",\"generated\":[");
        } else if (*prompt) {
            printf("%s", prompt);
        }
        int first = !*prompt;
        for (size_t i = 0; i < n; i++) {
            if (out[i] == LMF_EOS && i + 1 == n) break;
            size_t len;
            const char *w = lmf_vocab_word(voc, out[i], &len);
            if (json) {
                if (i) putchar(',');
                cli_json_str(stdout, w, len);
            } else {
                printf("%s%.*s", first ? "" : " ", (int)len, w);
                first = 0;
            }
        }
        if (json)
            printf("],\"ended\":%s,\"logprob\":%.6f}\n", n && out[n - 1] == LMF_EOS ? "true" : "false", lp);
        else
            putchar('\n');
        if (cli_stdout_failed()) rc = cli_fail(); /* a full disk: stop now */
    }
    free(ids);
    free(out);
    lmf_model_free(m);
    return rc;
}
