#define _POSIX_C_SOURCE 200809L
/* lmfuse convert --from pytorch | --to pytorch: neural models between
 * PyTorch state dicts (safetensors) and lmfuse's files. */
#include "cli.h"
#include "lmf/nn.h"

#include <stdlib.h>
#include <string.h>

static void help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse convert --from pytorch STATE_DICT.safetensors --vocab TOKENS.txt [--heads N] -o MODEL\n"
            "       lmfuse convert --to pytorch MODEL.safetensors -o STATE_DICT.safetensors\n"
            "\n"
            "--from pytorch reads a state dict saved with safetensors.torch.save_file:\n"
            "  recurrent: encoder.weight (or embedding.weight), <prefix>.weight_ih_l{k},\n"
            "    weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} of nn.RNN/LSTM/GRU (the gate\n"
            "    count tells which), decoder.weight (left out or equal to the embedding:\n"
            "    tied) and decoder.bias;\n"
            "  transformer: the layout of include/lmf/nn.h (tok_emb.weight, blocks.{l}...),\n"
            "    with --heads.\n"
            "TOKENS.txt lists the model's tokens one per line in id order; it must contain\n"
            "<unk> and </s> (or <eos>), which lmfuse moves to ids 0 and 1 (the embedding\n"
            "and output rows are permuted to match).  Each token is non-empty UTF-8 with no\n"
            "NUL and no whitespace (space, tab, CR, VT, FF), is not <s>, and appears once;\n"
            "other control characters are kept.  A file that already carries lmfuse\n"
            "metadata needs no --vocab.\n"
            "--to pytorch writes every tensor under its PyTorch name (decoder.weight or\n"
            "head.weight included when tied, as load_state_dict expects) and the tokens\n"
            "to STATE_DICT.vocab.txt.\n");
}

static int from_pytorch(const char *in, const char *vocab_path, int heads, const char *out) {
    lmf_nn_import_opts o;
    lmf_nn_import_opts_init(&o);
    o.vocab_path = vocab_path;
    o.heads = heads;
    lmf_model *m;
    if (lmf_nn_import_pytorch(in, &o, out, &m)) return cli_fail();
    char desc[256];
    lmf_model_describe(m, desc, sizeof desc);
    fprintf(stderr, "wrote %s: %s\n", out, desc);
    lmf_model_free(m);
    return 0;
}

static int to_pytorch(const char *in, const char *out) {
    size_t n = strlen(out) + sizeof ".vocab.txt";
    char *vp = (char *)malloc(n);
    if (!vp) {
        fprintf(stderr, "lmfuse convert: out of memory\n");
        return 1;
    }
    snprintf(vp, n, "%s.vocab.txt", out);
    int rc = 0;
    if (lmf_nn_export_pytorch(in, out, vp)) rc = cli_fail();
    else fprintf(stderr, "wrote %s and %s\n", out, vp);
    free(vp);
    return rc;
}

int lmf_cmd_convert(int argc, char **argv) {
    const char *from = NULL, *to = NULL, *out = NULL, *vocab = NULL, *heads = NULL, *in = NULL;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if ((v = cli_opt_value(argc, argv, &i, "--from", &missing))) {
            from = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--to", &missing))) {
            to = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--vocab", &missing))) {
            vocab = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--heads", &missing))) {
            heads = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "-o", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--output", &missing))) {
            out = v;
        } else if (missing) {
            return cli_usage_error("convert", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-') {
            return cli_usage_error("convert", "unknown option %s", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else {
            return cli_usage_error("convert", "unexpected argument \"%s\"", argv[i]);
        }
    }
    if (!in || !out) return cli_usage_error("convert", "need an input file and -o OUTPUT");
    if ((from != NULL) == (to != NULL)) return cli_usage_error("convert", "give one of --from pytorch or --to pytorch");
    if ((from && strcmp(from, "pytorch")) || (to && strcmp(to, "pytorch")))
        return cli_usage_error("convert", "the only format is \"pytorch\" (n-gram files: lmfuse ngram convert)");
    int nheads = 0;
    if (heads && (!lmf_parse_int(heads, &nheads) || nheads < 1))
        return cli_usage_error("convert", "--heads needs a positive integer, not \"%s\"", heads);
    return from ? from_pytorch(in, vocab, nheads, out) : to_pytorch(in, out);
}
