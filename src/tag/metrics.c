/* Tagging a gold corpus and counting (lmf/tag.h, "evaluation"): token,
 * known- and unknown-word and sentence accuracy, per-tag counts for
 * precision, recall and F1, the confusion matrix. */
#define _POSIX_C_SOURCE 200809L
#include "tag_impl.h"
#include "../core/util_impl.h"

#include <string.h>
#include <time.h>

void lmf_tag_eval_free(lmf_tag_eval *ev) {
    if (!ev) return;
    lmf_free(ev->tp);
    lmf_free(ev->fp);
    lmf_free(ev->fn);
    lmf_free(ev->confusion);
    memset(ev, 0, sizeof *ev);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

lmf_status lmf_tag_evaluate(lmf_tagger *t, const lmf_tagged *gold, int *pred, float *logp, lmf_tag_eval *ev) {
    memset(ev, 0, sizeof *ev);
    const int T = lmf_tagger_ntags(t);
    const size_t n = lmf_tagged_ntok(gold), ns = lmf_tagged_nsent(gold);
    int *g = NULL, *p = pred;
    lmf_status s = lmf_tag_ids(t, gold, &g, &ev->unseen);
    if (s) return s;
    for (size_t k = 0; k < n && ev->unseen && !ev->unseen_line; k++)
        if (g[k] < 0) ev->unseen_line = lmf_tagged_line(gold, k), ev->unseen_tag = lmf_tagged_tag(gold, k);
    for (size_t i = 0; i < ns && !s; i++) {
        size_t a, b;
        lmf_tagged_sentence(gold, i, &a, &b);
        if (b - a > lmf_tagger_max_len(t))
            s = lmf_error(LMF_ERR_DATA, "%s line %zu: a sentence of %zu tokens; the tagger takes at most %zu (split it)",
                          lmf_tagged_path(gold), lmf_tagged_line(gold, a), b - a, lmf_tagger_max_len(t));
    }
    ev->ntags = T;
    ev->tp = (size_t *)lmf_calloc((size_t)T, sizeof *ev->tp);
    ev->fp = (size_t *)lmf_calloc((size_t)T, sizeof *ev->fp);
    ev->fn = (size_t *)lmf_calloc((size_t)T, sizeof *ev->fn);
    ev->confusion = (size_t *)lmf_calloc((size_t)T * T, sizeof *ev->confusion);
    if (!p) p = (int *)lmf_malloc(n * sizeof *p);
    if (!s && (!ev->tp || !ev->fp || !ev->fn || !ev->confusion || !p)) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    const char *const *words = lmf_tagged_words(gold);
    const double t0 = now_s();
    for (size_t i = 0; i < ns && !s; i++) {
        size_t a, b;
        lmf_tagged_sentence(gold, i, &a, &b);
        s = lmf_tagger_run(t, words + a, b - a, p + a, logp ? logp + a * (size_t)T : NULL);
    }
    ev->seconds = now_s() - t0;
    for (size_t i = 0; i < ns && !s; i++) {
        size_t a, b;
        lmf_tagged_sentence(gold, i, &a, &b);
        int all = 1;
        for (size_t k = a; k < b; k++) {
            const int ok = p[k] == g[k], known = lmf_tagger_knows(t, words[k]);
            ev->tokens++;
            ev->correct += ok;
            if (known) ev->known++, ev->known_correct += ok;
            else ev->unknown++, ev->unknown_correct += ok;
            if (g[k] < 0) { /* a tag training never saw: always wrong */
                ev->fp[p[k]]++;
            } else {
                ev->confusion[(size_t)g[k] * T + p[k]]++;
                if (ok) ev->tp[g[k]]++;
                else ev->fp[p[k]]++, ev->fn[g[k]]++;
            }
            all &= ok;
        }
        ev->sentences++;
        ev->sentences_correct += all;
    }
    if (p != pred) lmf_free(p);
    lmf_free(g);
    if (s) lmf_tag_eval_free(ev);
    return s;
}
