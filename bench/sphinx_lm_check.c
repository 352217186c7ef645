/* The reference side of bench/sphinx_lm_check.sh: scores sentences with a
 * sphinxbase language model through sphinxbase's own API (Debian's
 * libsphinxbase-dev), so that lmfuse's ARPA conversion of the same model
 * (src/ngram/sphinx.c) can be checked against it.
 *
 *   cc bench/sphinx_lm_check.c $(pkg-config --cflags --libs sphinxbase) -o sphinx_lm_check
 *   ./sphinx_lm_check en-us.lm.bin TEXT > scores.tsv
 *
 * Each line of TEXT is a sentence "<s> w1 .. wn </s>"; <s> is context only.
 * Output (TSV on stdout):
 *   # order N counts c1 .. cN lw L log_wip W    (the model as sphinxbase read it)
 *   T  line  position  word  score  n_used      (each predicted token, position 1..n+1)
 *   S  line  tokens  oovs  log10_total          (each sentence)
 * score is ngram_ng_score's integer log in base 1.0001 (raw: language weight
 * 1, word insertion penalty 1, checked); log10_total is the sum of
 * logmath_log_to_log10 of those scores.  A sentence with a word outside the
 * model's vocabulary (sphinxbase gives such words no probability: the model
 * has no <UNK>) gets an S line with its OOV count and no T lines.
 * Diagnostics go to stderr; exit status 1 on error. */
#define _POSIX_C_SOURCE 200809L
#include <sphinxbase/err.h>
#include <sphinxbase/logmath.h>
#include <sphinxbase/ngram_model.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_TOKENS = 4096, MAX_ORDER = 8 };

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL TEXT\n", argv[0]);
        return 2;
    }
    err_set_logfp(NULL); /* sphinxbase's INFO chatter */
    logmath_t *lmath = logmath_init(1.0001, 0, 0);
    ngram_model_t *lm = lmath ? ngram_model_read(NULL, argv[1], NGRAM_AUTO, lmath) : NULL;
    if (!lm) {
        fprintf(stderr, "sphinx_lm_check: sphinxbase cannot read %s\n", argv[1]);
        return 1;
    }
    ngram_model_apply_weights(lm, 1.0f, 1.0f);
    int32 log_wip = 0;
    float32 lw = ngram_model_get_weights(lm, &log_wip);
    if (lw != 1.0f || log_wip != 0) {
        fprintf(stderr, "sphinx_lm_check: weights lw=%g log_wip=%d, expected 1 and 0\n", (double)lw, (int)log_wip);
        return 1;
    }
    int order = ngram_model_get_size(lm);
    if (order < 1 || order > MAX_ORDER) {
        fprintf(stderr, "sphinx_lm_check: order %d\n", order);
        return 1;
    }
    const uint32 *counts = ngram_model_get_counts(lm);
    printf("# order %d counts", order);
    for (int n = 0; n < order; n++) printf(" %u", (unsigned)counts[n]);
    printf(" lw %g log_wip %d\n", (double)lw, (int)log_wip);

    FILE *fp = fopen(argv[2], "r");
    if (!fp) {
        perror(argv[2]);
        return 1;
    }
    int32 bos = ngram_wid(lm, "<s>"), eos = ngram_wid(lm, "</s>");
    if (bos == NGRAM_INVALID_WID || eos == NGRAM_INVALID_WID) {
        fprintf(stderr, "sphinx_lm_check: the model lacks <s> or </s>\n");
        return 1;
    }
    static int32 wid[MAX_TOKENS + 2];
    static char *tok[MAX_TOKENS + 1];
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    while (getline(&line, &cap, fp) >= 0) {
        lineno++;
        int n = 0, oov = 0;
        for (char *save = NULL, *w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
            if (n == MAX_TOKENS) {
                fprintf(stderr, "sphinx_lm_check: line %ld has more than %d words\n", lineno, MAX_TOKENS);
                return 1;
            }
            tok[n] = w;
            wid[n] = ngram_wid(lm, w);
            if (wid[n] == NGRAM_INVALID_WID || wid[n] == ngram_unknown_wid(lm)) oov++;
            n++;
        }
        if (oov) {
            printf("S\t%ld\t%d\t%d\tnan\n", lineno, n + 1, oov);
            continue;
        }
        tok[n] = "</s>";
        wid[n] = eos;
        double total = 0;
        for (int i = 0; i <= n; i++) {
            int32 hist[MAX_ORDER]; /* most recent first; <s> before the first word */
            int nh = 0;
            for (int j = i - 1; nh < order - 1 && j >= -1; j--) hist[nh++] = j >= 0 ? wid[j] : bos;
            int32 used = 0;
            int32 score = ngram_ng_score(lm, wid[i], hist, nh, &used);
            total += logmath_log_to_log10(lmath, score);
            printf("T\t%ld\t%d\t%s\t%d\t%d\n", lineno, i + 1, tok[i], (int)score, (int)used);
        }
        printf("S\t%ld\t%d\t0\t%.6f\n", lineno, n + 1, total);
    }
    free(line);
    fclose(fp);
    ngram_model_free(lm);
    logmath_free(lmath);
    return ferror(stdout) ? 1 : 0;
}
