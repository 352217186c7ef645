/* Error statistics of hypotheses against references (lmf/rescore.h): word
 * error rate by Levenshtein alignment (substitutions, deletions, insertions,
 * as NIST sclite counts them over a whole set) and corpus BLEU-4 (Papineni
 * et al. 2002: clipped n-gram precisions, geometric mean, brevity penalty
 * from the summed lengths). */
#include "lmf/rescore.h"

#include "../core/util_impl.h"

#include <math.h>
#include <string.h>

void lmf_errstats_add(lmf_errstats *a, const lmf_errstats *b) {
    a->sub += b->sub;
    a->del += b->del;
    a->ins += b->ins;
    a->ref_words += b->ref_words;
    for (int n = 0; n < 4; n++) {
        a->match[n] += b->match[n];
        a->total[n] += b->total[n];
    }
    a->hyp_len += b->hyp_len;
    a->sents += b->sents;
    a->sents_right += b->sents_right;
}

double lmf_errstats_wer(const lmf_errstats *s) {
    double e = s->sub + s->del + s->ins;
    return s->ref_words > 0 ? e / s->ref_words : e > 0 ? INFINITY : 0;
}

double lmf_errstats_bleu(const lmf_errstats *s) {
    double lp = 0;
    for (int n = 0; n < 4; n++) {
        if (s->match[n] <= 0 || s->total[n] <= 0) return 0;
        lp += log(s->match[n] / s->total[n]);
    }
    lp /= 4;
    if (s->hyp_len < s->ref_words) lp += 1 - s->ref_words / s->hyp_len;
    return exp(lp);
}

/* Counts of n-gram (a[i..i+n)) in x[0..len). */
static int count_ngram(const int32_t *x, int32_t len, const int32_t *g, int n) {
    int c = 0;
    for (int32_t i = 0; i + n <= len; i++) c += !memcmp(x + i, g, (size_t)n * sizeof *g);
    return c;
}

static void edit_stats(const int32_t *r, int32_t R, const int32_t *h, int32_t H, lmf_errstats *st) {
    /* DP over (R+1) x (H+1) with costs; backtrace prefers matches/substitutions, then deletions */
    size_t W = (size_t)H + 1;
    int32_t small[64 * 64];
    int32_t *d = (size_t)(R + 1) * W <= sizeof small / sizeof *small ? small : (int32_t *)lmf_malloc((size_t)(R + 1) * W * sizeof *d);
    if (!d) { /* out of memory: count the length difference and all substitutions as an upper bound */
        st->sub += R < H ? R : H;
        st->del += R > H ? R - H : 0;
        st->ins += H > R ? H - R : 0;
        return;
    }
    for (int32_t j = 0; j <= H; j++) d[j] = j;
    for (int32_t i = 1; i <= R; i++) {
        d[(size_t)i * W] = i;
        for (int32_t j = 1; j <= H; j++) {
            int32_t best = d[(size_t)(i - 1) * W + (size_t)(j - 1)] + (r[i - 1] != h[j - 1]);
            int32_t del = d[(size_t)(i - 1) * W + (size_t)j] + 1, ins = d[(size_t)i * W + (size_t)(j - 1)] + 1;
            if (del < best) best = del;
            if (ins < best) best = ins;
            d[(size_t)i * W + (size_t)j] = best;
        }
    }
    int32_t i = R, j = H;
    while (i > 0 || j > 0) {
        int32_t here = d[(size_t)i * W + (size_t)j];
        if (i > 0 && j > 0 && here == d[(size_t)(i - 1) * W + (size_t)(j - 1)] + (r[i - 1] != h[j - 1])) {
            st->sub += r[i - 1] != h[j - 1];
            i--, j--;
        } else if (i > 0 && here == d[(size_t)(i - 1) * W + (size_t)j] + 1) {
            st->del++;
            i--;
        } else {
            st->ins++;
            j--;
        }
    }
    if (d != small) lmf_free(d);
}

void lmf_hyp_stats(const lmf_nbest *nb, const lmf_refs *r, size_t u, size_t h, lmf_errstats *st) {
    memset(st, 0, sizeof *st);
    const int32_t *ref = r->tok ? r->tok + r->w0[u] : NULL, R = r->len[u];
    const lmf_nbest_hyp *hy = &nb->hyp[h];
    const int32_t *hw = nb->tok ? nb->tok + hy->w0 : NULL, H = hy->n;
    edit_stats(ref, R, hw, H, st);
    st->ref_words = R;
    st->hyp_len = H;
    st->sents = 1;
    st->sents_right = st->sub + st->del + st->ins == 0;
    for (int n = 1; n <= 4; n++) {
        if (H < n) continue;
        st->total[n - 1] = H - n + 1;
        double m = 0;
        for (int32_t i = 0; i + n <= H; i++) {
            /* count each distinct n-gram once: at its first occurrence */
            int first = 1;
            for (int32_t k = 0; k < i && first; k++) first = memcmp(hw + k, hw + i, (size_t)n * sizeof *hw) != 0;
            if (!first) continue;
            int ch = count_ngram(hw, H, hw + i, n), cr = count_ngram(ref, R, hw + i, n);
            m += ch < cr ? ch : cr;
        }
        st->match[n - 1] = m;
    }
}

void lmf_rescore_best(const lmf_nbest *nb, const double *w, size_t *best) {
    for (size_t u = 0; u < nb->nutt; u++) {
        const lmf_nbest_utt *ut = &nb->utt[u];
        size_t b = ut->h0;
        double bs = -INFINITY;
        for (size_t h = ut->h0; h < ut->h0 + ut->nh; h++) {
            double s = 0;
            for (int f = 0; f < nb->nfeat; f++) s += w[f] * lmf_nbest_f(nb, h, f);
            if (s > bs) bs = s, b = h; /* ties: the earlier hypothesis */
        }
        best[u] = b;
    }
}

void lmf_rescore_stats(const lmf_nbest *nb, const lmf_refs *r, const size_t *best, lmf_errstats *chosen,
                       lmf_errstats *oracle) {
    memset(chosen, 0, sizeof *chosen);
    if (oracle) memset(oracle, 0, sizeof *oracle);
    for (size_t u = 0; u < nb->nutt; u++) {
        const lmf_nbest_utt *ut = &nb->utt[u];
        lmf_errstats s, o;
        lmf_hyp_stats(nb, r, u, best ? best[u] : ut->h0, &s);
        lmf_errstats_add(chosen, &s);
        if (!oracle) continue;
        double be = INFINITY;
        for (size_t h = ut->h0; h < ut->h0 + ut->nh; h++) {
            lmf_hyp_stats(nb, r, u, h, &s);
            double e = s.sub + s.del + s.ins;
            if (e < be) be = e, o = s;
        }
        lmf_errstats_add(oracle, &o);
    }
}
