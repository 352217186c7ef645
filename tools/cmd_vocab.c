/* lmfuse vocab build TEXT -o VOCAB */
#include "cli.h"
#include "lmf/text.h"

#include <string.h>

static void help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse vocab build TEXT -o VOCAB [options]\n"
            "\n"
            "Builds a vocabulary: <unk> (id 0), </s> (id 1), then the tokens of TEXT by\n"
            "decreasing count (ties: first appearance); <s> is id V, context only.\n"
            "\n"
            "options:\n"
            "  -o, --output FILE   vocabulary file to write (text, one token per line; - is stdout)\n"
            "  --mode M            word | char | byte (default word)\n"
            "  --min-count N       keep tokens seen at least N times (default 1)\n"
            "  --max-size N        keep at most N tokens besides <unk> and </s> (default: all)\n"
            "  --no-utf8-check     accept text that is not valid UTF-8\n");
}

int lmf_cmd_vocab(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "build")) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            help(stdout);
            return 0;
        }
        return cli_usage_error("vocab", "expected `lmfuse vocab build TEXT -o VOCAB`");
    }
    lmf_vocab_opts o;
    lmf_vocab_opts_init(&o);
    const char *text = NULL, *outp = NULL;
    for (int i = 2; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if ((v = cli_opt_value(argc, argv, &i, "--output", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "-o", &missing))) {
            outp = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--mode", &missing))) {
            int md = lmf_token_mode_parse(v);
            if (md < 0) return cli_usage_error("vocab build", "--mode must be word, char or byte");
            o.mode = (lmf_token_mode)md;
        } else if ((v = cli_opt_value(argc, argv, &i, "--min-count", &missing))) {
            if (!lmf_parse_u64(v, &o.min_count)) return cli_usage_error("vocab build", "bad --min-count \"%s\"", v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--max-size", &missing))) {
            if (!lmf_parse_u64(v, &o.max_size)) return cli_usage_error("vocab build", "bad --max-size \"%s\"", v);
        } else if (!strcmp(argv[i], "--no-utf8-check")) {
            o.utf8_check = 0;
        } else if (missing) {
            return cli_usage_error("vocab build", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("vocab build", "unknown option %s", argv[i]);
        } else if (!text) {
            text = argv[i];
        } else {
            return cli_usage_error("vocab build", "unexpected argument \"%s\"", argv[i]);
        }
    }
    if (!text || !outp) return cli_usage_error("vocab build", "need TEXT and -o VOCAB");
    lmf_vocab *v;
    if (lmf_vocab_build_file(text, &o, &v)) return cli_fail();
    int rc = lmf_vocab_save(v, outp) ? cli_fail() : 0;
    if (!rc)
        fprintf(stderr, "lmfuse: %s: %d tokens (with <unk> and </s>)\n", strcmp(outp, "-") ? outp : "standard output",
                (int)lmf_vocab_size(v));
    lmf_vocab_free(v);
    return rc;
}
