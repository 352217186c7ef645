/* Minimum error rate training (Och 2003) over n-best lists (lmf/rescore.h).
 * Along a direction d from weights w each hypothesis' score is a line
 * a + g b in the step g; each list's upper envelope says which hypothesis
 * wins on which interval of g, and sweeping the merged interval ends with
 * the summed error statistics finds the exact best step.  Line searches run
 * along every free feature's axis and as many random directions, round after
 * round until none improves, from the given weights and random restarts. */
#include "lmf/rescore.h"

#include "../core/util_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lmf_mert_opts_init(lmf_mert_opts *o) {
    memset(o, 0, sizeof *o);
    o->metric = LMF_METRIC_WER;
    o->restarts = 20;
    o->max_iter = 30;
    o->seed = 1;
}

typedef struct {
    double g;
    size_t u;
    size_t from, to; /* hypothesis indices */
} event;

static int cmp_event(const void *a, const void *b) {
    double x = ((const event *)a)->g, y = ((const event *)b)->g;
    return x < y ? -1 : x > y;
}

typedef struct {
    const lmf_nbest *nb;
    lmf_metric metric;
    lmf_errstats *hs; /* per hypothesis */
    double *a, *b;    /* per hypothesis: score and slope */
    size_t *ord, *stk;
    double *start;
    event *ev;
    size_t nev, capev;
} ctx;

static double loss_of(lmf_metric m, const lmf_errstats *s) {
    return m == LMF_METRIC_WER ? lmf_errstats_wer(s) : -lmf_errstats_bleu(s);
}

static const double *sort_a, *sort_b;
static int cmp_line(const void *x, const void *y) {
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    if (sort_b[i] != sort_b[j]) return sort_b[i] < sort_b[j] ? -1 : 1;
    if (sort_a[i] != sort_a[j]) return sort_a[i] < sort_a[j] ? -1 : 1;
    return i < j ? 1 : i > j ? -1 : 0; /* equal lines: the earlier hypothesis last, so it is kept */
}

/* Exact line search: the step g minimising the loss along b from a (g = 0
 * is the current point); returns the loss at the chosen step. */
static int line_search(ctx *c, double *step, double *loss) {
    const lmf_nbest *nb = c->nb;
    lmf_errstats tot;
    memset(&tot, 0, sizeof tot);
    c->nev = 0;
    for (size_t u = 0; u < nb->nutt; u++) {
        const lmf_nbest_utt *ut = &nb->utt[u];
        size_t n = ut->nh;
        for (size_t k = 0; k < n; k++) c->ord[k] = ut->h0 + k;
        sort_a = c->a;
        sort_b = c->b;
        qsort(c->ord, n, sizeof *c->ord, cmp_line);
        size_t top = 0;
        for (size_t k = 0; k < n; k++) {
            size_t l = c->ord[k];
            if (k + 1 < n && c->b[c->ord[k + 1]] == c->b[l]) continue; /* a parallel line above it follows */
            double x = -INFINITY;
            while (top > 0) {
                size_t t = c->stk[top - 1];
                x = (c->a[t] - c->a[l]) / (c->b[l] - c->b[t]);
                if (x <= c->start[top - 1]) top--;
                else break;
            }
            if (top == 0) x = -INFINITY;
            c->stk[top] = l;
            c->start[top] = x;
            top++;
        }
        lmf_errstats_add(&tot, &c->hs[c->stk[0]]);
        if (c->nev + top > c->capev) {
            size_t nc = (c->nev + top) * 2;
            event *e = (event *)lmf_realloc(c->ev, nc * sizeof *e);
            if (!e) return -1;
            c->ev = e;
            c->capev = nc;
        }
        for (size_t k = 1; k < top; k++) c->ev[c->nev++] = (event){c->start[k], u, c->stk[k - 1], c->stk[k]};
    }
    qsort(c->ev, c->nev, sizeof *c->ev, cmp_event);
    double best = loss_of(c->metric, &tot), lo = -INFINITY, hi = c->nev ? c->ev[0].g : INFINITY;
    double zero_loss = (lo <= 0 && 0 < hi) ? best : NAN;
    for (size_t i = 0; i < c->nev;) {
        double g = c->ev[i].g;
        while (i < c->nev && c->ev[i].g == g) {
            const lmf_errstats *f = &c->hs[c->ev[i].from], *t = &c->hs[c->ev[i].to];
            tot.sub += t->sub - f->sub;
            tot.del += t->del - f->del;
            tot.ins += t->ins - f->ins;
            for (int n = 0; n < 4; n++) {
                tot.match[n] += t->match[n] - f->match[n];
                tot.total[n] += t->total[n] - f->total[n];
            }
            tot.hyp_len += t->hyp_len - f->hyp_len;
            tot.sents_right += t->sents_right - f->sents_right;
            i++;
        }
        double next = i < c->nev ? c->ev[i].g : INFINITY, l = loss_of(c->metric, &tot);
        if (g <= 0 && 0 < next) zero_loss = l;
        if (l < best - 1e-12) best = l, lo = g, hi = next;
    }
    if (!(best < zero_loss - 1e-12)) {
        *step = 0;
        *loss = zero_loss;
        return 0;
    }
    *step = isinf(lo) ? hi - (fabs(hi) > 1 ? fabs(hi) : 1) : isinf(hi) ? lo + (fabs(lo) > 1 ? fabs(lo) : 1) : (lo + hi) / 2;
    *loss = best;
    return 1;
}

static uint64_t rng_next(uint64_t *s) {
    *s += 0x9E3779B97F4A7C15ULL;
    return lmf_mix64(*s);
}
static double rng_unif(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1p-53; }
static double rng_gauss(uint64_t *s) {
    double u = rng_unif(s), v = rng_unif(s);
    return sqrt(-2 * log(u > 1e-300 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

static double eval_w(ctx *c, const double *w, size_t *best) {
    lmf_rescore_best(c->nb, w, best);
    lmf_errstats tot;
    memset(&tot, 0, sizeof tot);
    for (size_t u = 0; u < c->nb->nutt; u++) lmf_errstats_add(&tot, &c->hs[best[u]]);
    return loss_of(c->metric, &tot);
}

lmf_status lmf_mert(const lmf_nbest *nb, const lmf_refs *r, const lmf_mert_opts *o, double *w, double *score) {
    lmf_mert_opts dflt;
    if (!o) {
        lmf_mert_opts_init(&dflt);
        o = &dflt;
    }
    const int F = nb->nfeat;
    if (!nb->nutt || !F) return lmf_error(LMF_ERR_DATA, "MERT: no lists or no features");
    if (r->n != nb->nutt) return lmf_error(LMF_ERR_DATA, "MERT: %zu references for %zu lists", r->n, nb->nutt);
    size_t maxh = 0;
    for (size_t u = 0; u < nb->nutt; u++)
        if (nb->utt[u].nh > maxh) maxh = nb->utt[u].nh;
    ctx c = {nb, o->metric, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0};
    c.hs = (lmf_errstats *)lmf_malloc(nb->nhyp * sizeof *c.hs);
    c.a = (double *)lmf_malloc(nb->nhyp * sizeof *c.a);
    c.b = (double *)lmf_malloc(nb->nhyp * sizeof *c.b);
    c.ord = (size_t *)lmf_malloc(maxh * sizeof *c.ord);
    c.stk = (size_t *)lmf_malloc(maxh * sizeof *c.stk);
    c.start = (double *)lmf_malloc(maxh * sizeof *c.start);
    double *cur = (double *)lmf_malloc((size_t)F * 4 * sizeof *cur), *dir = cur + F, *bestw = cur + 2 * F, *scale = cur + 3 * F;
    size_t *bh = (size_t *)lmf_malloc(nb->nutt * sizeof *bh);
    lmf_status st = LMF_OK;
    if (!c.hs || !c.a || !c.b || !c.ord || !c.stk || !c.start || !cur || !bh) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t u = 0; !st && u < nb->nutt; u++)
        for (size_t h = nb->utt[u].h0; h < nb->utt[u].h0 + nb->utt[u].nh; h++) lmf_hyp_stats(nb, r, u, h, &c.hs[h]);
    /* feature spreads, for random directions and starts */
    for (int f = 0; !st && f < F; f++) {
        double s = 0, s2 = 0;
        for (size_t h = 0; h < nb->nhyp; h++) {
            double v = lmf_nbest_f(nb, h, f);
            s += v;
            s2 += v * v;
        }
        double m = s / (double)nb->nhyp, var = s2 / (double)nb->nhyp - m * m;
        scale[f] = var > 1e-12 ? 1 / sqrt(var) : 0;
    }
    uint64_t rs = o->seed;
    double best_loss = INFINITY;
    for (int start = 0; !st && start <= o->restarts; start++) {
        if (start == 0) memcpy(cur, w, (size_t)F * sizeof *cur);
        else
            for (int f = 0; f < F; f++)
                cur[f] = o->fixed && o->fixed[f] ? w[f] : (rng_unif(&rs) * 2 - 1) * scale[f] * (scale[f] > 0);
        double l = eval_w(&c, cur, bh);
        for (size_t h = 0; h < nb->nhyp; h++) {
            double s = 0;
            for (int f = 0; f < F; f++) s += cur[f] * lmf_nbest_f(nb, h, f);
            c.a[h] = s;
        }
        for (int it = 0; !st && it < o->max_iter; it++) {
            int moved = 0;
            for (int k = 0; !st && k < 2 * F; k++) {
                if (k < F) {
                    if ((o->fixed && o->fixed[k]) || scale[k] == 0) continue;
                    for (int f = 0; f < F; f++) dir[f] = f == k;
                } else {
                    int any = 0;
                    for (int f = 0; f < F; f++) {
                        dir[f] = (o->fixed && o->fixed[f]) ? 0 : rng_gauss(&rs) * scale[f];
                        any |= dir[f] != 0;
                    }
                    if (!any) continue;
                }
                for (size_t h = 0; h < nb->nhyp; h++) {
                    double s = 0;
                    for (int f = 0; f < F; f++) s += dir[f] * lmf_nbest_f(nb, h, f);
                    c.b[h] = s;
                }
                double g, nl;
                int rc = line_search(&c, &g, &nl);
                if (rc < 0) {
                    st = lmf_error(LMF_ERR_NOMEM, "out of memory");
                    break;
                }
                if (rc == 1 && nl < l - 1e-12) {
                    for (int f = 0; f < F; f++) cur[f] += g * dir[f];
                    for (size_t h = 0; h < nb->nhyp; h++) c.a[h] += g * c.b[h];
                    l = eval_w(&c, cur, bh); /* the decision rule's own ties */
                    moved = 1;
                }
            }
            if (!moved) break;
        }
        if (l < best_loss) {
            best_loss = l;
            memcpy(bestw, cur, (size_t)F * sizeof *bestw);
        }
    }
    if (!st) {
        memcpy(w, bestw, (size_t)F * sizeof *w);
        *score = o->metric == LMF_METRIC_WER ? best_loss : -best_loss;
    }
    lmf_free(c.hs);
    lmf_free(c.a);
    lmf_free(c.b);
    lmf_free(c.ord);
    lmf_free(c.stk);
    lmf_free(c.start);
    lmf_free(c.ev);
    lmf_free(cur);
    lmf_free(bh);
    return st;
}
