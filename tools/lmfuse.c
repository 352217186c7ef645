/* lmfuse: git-style dispatcher over a table of subcommands. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "cli.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct subcommand {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} subcommand;

static const subcommand commands[] = {
    {"demo", lmf_cmd_demo, "the main job: train 5 models on Brown, fuse them, print the table (--quick)"},
    {"data", lmf_cmd_data, "fetch and prepare corpora (data fetch brown|spam)"},
    {"vocab", lmf_cmd_vocab, "build a vocabulary from text (vocab build)"},
    {"ngram", lmf_cmd_ngram, "estimate Kneser-Ney n-gram models, convert ARPA <-> binary"},
    {"train", lmf_cmd_train, "train neural language models (rnn, lstm, gru, transformer)"},
    {"convert", lmf_cmd_convert, "neural models from and to PyTorch state dicts"},
    {"tune", lmf_cmd_tune, "tune fusion weights on held-out text, write a recipe"},
    {"select", lmf_cmd_select, "greedy forward selection of a linear ensemble on held-out text"},
    {"explain", lmf_cmd_explain, "per-token attribution and diversity of a fusion's members"},
    {"generate", lmf_cmd_generate, "sample or beam-search text from a model or recipe"},
    {"ppl", lmf_cmd_ppl, "perplexity of a model or recipe on a text file"},
    {"classify", lmf_cmd_classify, "document classifiers (LM, linear) and their fusion: train, eval, predict, fuse"},
    {"tag", lmf_cmd_tag, "part-of-speech taggers (HMM, perceptron) and their fusion: train, eval, predict"},
    {"rescore", lmf_cmd_rescore, "rescore lattices and n-best lists with lmfuse models, weights tuned by MERT"},
};

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse <command> [options]\n"
            "\n"
            "lmfuse %s: language models of every classic family, fused and measured.\n"
            "\n"
            "commands:\n",
            LMF_VERSION_STRING);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(fp, "  %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(fp, "\nRun `lmfuse <command> --help` for the options of a command and their defaults,\n"
                "`lmfuse help recipe` for the recipe format.\n");
}

static void recipe_help(FILE *fp) {
    fputs("A recipe is a JSON file that describes a fusion; lmfuse tune writes them and\n"
          "every command that takes a model takes a recipe.\n"
          "\n"
          "  {\"lmfuse\": \"recipe\",\n"
          "   \"combiner\": \"linear\" | \"loglinear\" | \"max\" | \"bayes\" | \"vote\" | \"cascade\" | \"gate\",\n"
          "   \"members\": [M, ...],          model paths (relative to the recipe's folder),\n"
          "                                  {\"path\": P}, {\"recipe\": {...}} (inline) or\n"
          "                                  {\"cache\": {\"window\": N, \"beta\": b}}\n"
          "   \"weights\": [w, ...],          one per member, >= 0 (default equal)\n"
          "   \"share\": a,                   bayes: fixed-share rate in [0, 1) (default 0.01)\n"
          "   \"top_k\": n,                   vote: words each member votes for (default 10);\n"
          "                                  cascade: the proposer's candidates (default 20)\n"
          "   \"threshold\": t,               vote: vote for words with p >= t instead of top_k\n"
          "   \"vote_mass\": m,               vote: weight of the votes against the linear mix (0.5)\n"
          "   \"gate\": {...},                gate: its fitted parameters (lmfuse tune --method gate)\n"
          "   \"tuning\": {...},              how the weights were found (kept, not read)\n"
          "   \"comment\": \"...\"}\n"
          "\n"
          "A cascade has two members: the proposer, then the rescorer.  Unknown keys are\n"
          "errors.  The formulas are in include/lmf/fuse.h and docs/design.md.\n",
          fp);
}

static int stdout_failure_reported;

int cli_stdout_failed(void) {
    if (!ferror(stdout)) return 0;
    int e = errno;
    lmf_error(LMF_ERR_IO, "error writing to standard output: %s", e ? strerror(e) : "write error");
    stdout_failure_reported = 1;
    return 1;
}

/* Flushes and closes stdout: output lost to a full disk or a closed stream
 * is an error (exit 1), not a silent success. */
static int close_stdout(int rc) {
    errno = 0;
    int bad = fflush(stdout) != 0 || ferror(stdout);
    int e = errno;
    if (fclose(stdout) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad) return rc;
    if (!stdout_failure_reported)
        fprintf(stderr, "lmfuse: error writing to standard output: %s\n", e ? strerror(e) : "write error");
    return rc ? rc : 1;
}

int cli_fail(void) {
    fprintf(stderr, "lmfuse: %s\n", lmf_last_error());
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lmfuse %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(run `lmfuse %s --help` for usage)\n", cmd);
    return 2;
}

const char *cli_opt_value(int argc, char **argv, int *i, const char *name, int *missing) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != 0) return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

double cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_json_str(FILE *fp, const char *s, size_t n) {
    fputc('"', fp);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(fp, "\\%c", c);
        else if (c < 0x20)
            fprintf(fp, "\\u%04x", c);
        else
            fputc(c, fp);
    }
    fputc('"', fp);
}

static int run(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help") && argc > 2 && !strcmp(argv[2], "recipe")) {
        recipe_help(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("lmfuse %s\n", LMF_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "lmfuse: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv) {
    /* Large arrays come and go during estimation; a fixed mmap threshold
     * returns each to the system when freed, instead of letting glibc grow
     * the heap, so the peak resident size follows what is actually live. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    return close_stdout(run(argc, argv));
}
