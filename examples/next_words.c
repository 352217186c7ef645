#define _POSIX_C_SOURCE 200809L
/* Example: the model interface from the outside.
 *
 *     example_next_words MODEL "words of a prompt" [K]
 *
 * Loads any model (ARPA, .arpa.gz or .lmfb), scores the prompt word by word
 * with an incremental state, then prints the K most likely next tokens from
 * the full next-token distribution.  Uses only the public headers. */
#include "lmf/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL \"prompt words\" [K]\n", argv[0]);
        return 2;
    }
    int k = argc > 3 ? atoi(argv[3]) : 5;
    if (k < 1) k = 1;
    lmf_model *m;
    if (lmf_model_load(argv[1], &m)) {
        fprintf(stderr, "%s\n", lmf_last_error());
        return 1;
    }
    const lmf_vocab *v = lmf_model_vocab(m);
    int32_t V = lmf_vocab_size(v);
    lmf_state *st = lmf_state_new(m);
    float *dist = malloc((size_t)V * sizeof *dist);
    if (!st || !dist) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    double total = 0;
    char *prompt = strdup(argv[2]);
    for (char *w = strtok(prompt, " \t"); w; w = strtok(NULL, " \t")) {
        int32_t id = lmf_vocab_find(v, w, strlen(w));
        if (id < 0 || id >= V) id = LMF_UNK; /* unknown words (and <s>) score as <unk> */
        float lp;
        lmf_model_score(m, st, &id, 1, &lp); /* advances the state */
        printf("%-16s %8.4f\n", w, lp / log(10.0));
        total += lp;
    }
    printf("prompt log10 p = %.4f\n", total / log(10.0));
    lmf_model_next(m, st, dist);
    for (int r = 0; r < k && r < V; r++) { /* k passes of argmax: fine for an example */
        int32_t best = 0;
        for (int32_t w = 1; w < V; w++)
            if (dist[w] > dist[best]) best = w;
        size_t len;
        const char *word = lmf_vocab_word(v, best, &len);
        printf("next %d: %.*s  p = %.5f\n", r + 1, (int)len, word, exp(dist[best]));
        dist[best] = -INFINITY;
    }
    free(prompt);
    free(dist);
    lmf_state_free(m, st);
    lmf_model_free(m);
    return 0;
}
