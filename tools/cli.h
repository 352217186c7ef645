/* lmfuse command line: shared helpers for the subcommands (tools/cmd_*.c).
 * The CLI is a thin client: it uses only the public headers. */
#ifndef LMF_CLI_H
#define LMF_CLI_H

#include "lmf/common.h"
#include "lmf/fuse.h"
#include "lmf/parse.h"

#include <stdio.h>

/* Subcommand entry points: argv[0] is the subcommand name.  Return the exit
 * status (0 ok, 1 failure, 2 usage error). */
int lmf_cmd_data(int argc, char **argv);
int lmf_cmd_vocab(int argc, char **argv);
int lmf_cmd_ngram(int argc, char **argv);
int lmf_cmd_ppl(int argc, char **argv);
int lmf_cmd_train(int argc, char **argv);
int lmf_cmd_convert(int argc, char **argv);
int lmf_cmd_tune(int argc, char **argv);
int lmf_cmd_generate(int argc, char **argv);
int lmf_cmd_demo(int argc, char **argv);
int lmf_cmd_select(int argc, char **argv);
int lmf_cmd_explain(int argc, char **argv);
int lmf_cmd_classify(int argc, char **argv);
int lmf_cmd_demo_classify(int argc, char **argv);
int lmf_cmd_tag(int argc, char **argv);
int lmf_cmd_demo_tag(int argc, char **argv);
int lmf_cmd_rescore(int argc, char **argv);

/* Loads the K models and scores the text file dev with each: ms[k], lp[k]
 * (malloc'd, dev's tokens), mppl[k]; devtok = dev read with member 1's
 * vocabulary.  On error (1; the message is in lmf_last_error()) what was
 * made so far is left for the caller to free.  Members over different
 * vocabularies are first made one over their union with <unk> share dub
 * (lmf_fuse_unify; tune --dub, default 0). */
typedef struct lmf_model lmf_model;
typedef struct lmf_tokens lmf_tokens;
/* The "tuning" record of a continuous cache file (malloc'd JSON; NULL on out of
 * memory).  by: who tuned it (NULL: not recorded). */
char *cli_ncache_tuning_json(const char *dev, size_t n, const lmf_ncache_fit *fit, double secs, const char *by);
int cli_score_members(const char *tag, const char *const *paths, int K, const char *dev, double dub, int quiet, lmf_model **ms, float **lp,
                      lmf_tokens *devtok, double *mppl);

/* 1 once a write to standard output has failed (full disk, closed stream),
 * with "error writing to standard output: <reason>" as lmf_last_error();
 * loops that print much check it to stop early.  main() also flushes and
 * closes stdout at exit and fails (exit 1) if that fails. */
int cli_stdout_failed(void);

/* Prints "lmfuse: <lmf_last_error()>" to stderr and returns 1. */
int cli_fail(void);
/* Prints "lmfuse <cmd>: <message>" plus a hint to run --help, returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Option parsing helpers.  cli_opt_value: if argv[*i] is "--name" or
 * "--name=VALUE", returns VALUE (taking argv[*i+1] for the first form and
 * advancing *i); returns NULL if argv[*i] is another option.  A missing value
 * sets *missing. */
const char *cli_opt_value(int argc, char **argv, int *i, const char *name, int *missing);
/* Option values are parsed with lmf_parse_u64/int/double (lmf/parse.h). */
/* Seconds on the monotonic clock (for timings). */
double cli_now_s(void);
/* Writes s[0..n) as a JSON string (quoted, escaped). */
void cli_json_str(FILE *fp, const char *s, size_t n);

#endif
