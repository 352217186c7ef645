/* Decoding (lmf/generate.h): sampling with temperature / top-k / top-p and
 * beam search, through the model interface only (next, feed, state copy),
 * so every model and recipe decodes the same way. */
#include "lmf/generate.h"
#include "../core/util_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lmf_gen_opts_init(lmf_gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->temperature = 1;
    o->top_p = 1;
    o->beam = 1;
    o->max_tokens = 40;
    o->stop_at_eos = 1;
    o->seed = 1;
}

typedef struct {
    float lp;
    int32_t id;
} cand;

static int by_lp_desc(const void *a, const void *b) {
    const cand *x = (const cand *)a, *y = (const cand *)b;
    if (x->lp != y->lp) return x->lp > y->lp ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Uniform in [0, 1) from a splitmix64 counter. */
static double unif(uint64_t *ctr) { return (double)(lmf_mix64((*ctr)++) >> 11) * (1.0 / 9007199254740992.0); }

static lmf_status check_opts(const lmf_gen_opts *o) {
    if (!(o->temperature > 0) || !isfinite(o->temperature))
        return lmf_error(LMF_ERR_ARG, "temperature must be > 0 (got %g)", o->temperature);
    if (o->top_k < 0) return lmf_error(LMF_ERR_ARG, "top-k must be >= 0 (got %d)", o->top_k);
    if (!(o->top_p > 0) || o->top_p > 1) return lmf_error(LMF_ERR_ARG, "top-p must be in (0, 1] (got %g)", o->top_p);
    if (o->beam < 1 || o->beam > 1024) return lmf_error(LMF_ERR_ARG, "beam must be 1..1024 (got %d)", o->beam);
    if (o->max_tokens < 0) return lmf_error(LMF_ERR_ARG, "max tokens must be >= 0");
    return LMF_OK;
}

static lmf_status sample(lmf_model *m, lmf_state *s, const lmf_gen_opts *o, int32_t *out, size_t *n, double *logprob) {
    int V = lmf_vocab_size(lmf_model_vocab(m));
    float *lp = (float *)lmf_malloc((size_t)V * sizeof *lp);
    cand *c = (cand *)lmf_malloc((size_t)V * sizeof *c);
    double *pr = (double *)lmf_malloc((size_t)V * sizeof *pr);
    lmf_status st = lp && c && pr ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    uint64_t ctr = lmf_mix64(o->seed ^ 0x67656e6572617465ULL);
    double total = 0;
    size_t k = 0;
    while (!st && k < (size_t)o->max_tokens) {
        if ((st = lmf_model_next(m, s, lp))) break;
        int nc = 0;
        for (int v = 0; v < V; v++)
            if ((v != LMF_UNK || o->allow_unk) && lp[v] > -INFINITY) c[nc].lp = lp[v], c[nc++].id = v;
        if (!nc) {
            st = lmf_error(LMF_ERR_DATA, "the model gives every allowed token probability 0");
            break;
        }
        qsort(c, (size_t)nc, sizeof *c, by_lp_desc);
        if (o->top_k > 0 && nc > o->top_k) nc = o->top_k;
        double z = 0;
        for (int i = 0; i < nc; i++) z += (pr[i] = exp(((double)c[i].lp - (double)c[0].lp) / o->temperature));
        if (o->top_p < 1) { /* smallest prefix with mass >= top_p */
            double cum = 0;
            int keep = nc;
            for (int i = 0; i < nc; i++) {
                cum += pr[i] / z;
                if (cum >= o->top_p) {
                    keep = i + 1;
                    break;
                }
            }
            nc = keep;
            z = 0;
            for (int i = 0; i < nc; i++) z += pr[i];
        }
        double r = unif(&ctr) * z, acc = 0;
        int pick = nc - 1;
        for (int i = 0; i < nc; i++) {
            acc += pr[i];
            if (r < acc) {
                pick = i;
                break;
            }
        }
        int32_t tok = c[pick].id;
        total += (double)lp[tok];
        out[k++] = tok;
        if (tok == LMF_EOS && o->stop_at_eos) break;
        st = lmf_model_feed(m, s, tok);
    }
    lmf_free(lp);
    lmf_free(c);
    lmf_free(pr);
    *n = k;
    if (logprob) *logprob = total;
    return st;
}

typedef struct {
    lmf_state *s;
    int32_t *toks;
    size_t n;
    double score;
    int done;
} hyp;

static lmf_status beam_search(lmf_model *m, lmf_state *s0, const lmf_gen_opts *o, int32_t *out, size_t *n,
                              double *logprob) {
    const int B = o->beam, V = lmf_vocab_size(lmf_model_vocab(m)), T = o->max_tokens;
    hyp *h = (hyp *)lmf_calloc(2 * (size_t)B, sizeof *h);
    float *lp = (float *)lmf_malloc((size_t)V * sizeof *lp);
    cand *all = (cand *)lmf_malloc((size_t)B * B * sizeof *all); /* candidates of this step */
    int *from = (int *)lmf_malloc((size_t)B * B * sizeof *from), *ord = (int *)lmf_malloc((size_t)B * B * sizeof *ord);
    cand *c = (cand *)lmf_malloc((size_t)V * sizeof *c);
    lmf_status st = h && lp && all && from && ord && c ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < 2 * B; i++) {
        h[i].s = lmf_state_new(m);
        h[i].toks = (int32_t *)lmf_malloc(((size_t)T + 1) * sizeof(int32_t));
        if (!h[i].s || !h[i].toks) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    hyp *cur = h, *nxt = h + B;
    int live = 1;
    if (!st) st = lmf_state_copy(m, cur[0].s, s0);
    for (int t = 0; !st && t < T; t++) {
        int na = 0, all_done = 1;
        for (int b = 0; b < live && !st; b++) {
            if (cur[b].done) { /* a finished hypothesis competes unchanged */
                all[na].lp = (float)cur[b].score, all[na].id = -1, from[na++] = b;
                continue;
            }
            all_done = 0;
            if ((st = lmf_model_next(m, cur[b].s, lp))) break;
            int nc = 0;
            for (int v = 0; v < V; v++)
                if ((v != LMF_UNK || o->allow_unk) && lp[v] > -INFINITY) c[nc].lp = lp[v], c[nc++].id = v;
            qsort(c, (size_t)nc, sizeof *c, by_lp_desc);
            for (int i = 0; i < nc && i < B; i++)
                all[na].lp = (float)(cur[b].score + (double)c[i].lp), all[na].id = c[i].id, from[na++] = b;
        }
        if (st || all_done) break;
        /* best B of the candidates (stable: ties keep beam order) */
        for (int i = 0; i < na; i++) ord[i] = i;
        for (int i = 1; i < na; i++) /* insertion sort: na <= B*B is small */
            for (int j = i; j > 0 && all[ord[j]].lp > all[ord[j - 1]].lp; j--) {
                int x = ord[j];
                ord[j] = ord[j - 1];
                ord[j - 1] = x;
            }
        int nl = na < B ? na : B;
        for (int i = 0; i < nl && !st; i++) {
            const cand *a = &all[ord[i]];
            const hyp *src = &cur[from[ord[i]]];
            hyp *d = &nxt[i];
            st = lmf_state_copy(m, d->s, src->s);
            memcpy(d->toks, src->toks, src->n * sizeof(int32_t));
            d->n = src->n;
            d->score = a->lp;
            d->done = src->done;
            if (a->id >= 0) {
                d->toks[d->n++] = a->id;
                if (a->id == LMF_EOS && o->stop_at_eos)
                    d->done = 1;
                else if (!st)
                    st = lmf_model_feed(m, d->s, a->id);
            }
        }
        hyp *sw = cur;
        cur = nxt;
        nxt = sw;
        live = nl;
    }
    if (!st) {
        memcpy(out, cur[0].toks, cur[0].n * sizeof(int32_t));
        *n = cur[0].n;
        if (logprob) *logprob = cur[0].score;
    }
    for (int i = 0; h && i < 2 * B; i++) {
        lmf_state_free(m, h[i].s);
        lmf_free(h[i].toks);
    }
    lmf_free(h);
    lmf_free(lp);
    lmf_free(all);
    lmf_free(from);
    lmf_free(ord);
    lmf_free(c);
    return st;
}

lmf_status lmf_generate(lmf_model *m, const int32_t *prompt, size_t np, const lmf_gen_opts *o, int32_t *out,
                        size_t *n, double *logprob) {
    *n = 0;
    lmf_status st = check_opts(o);
    if (st) return st;
    lmf_state *s = lmf_state_new(m);
    if (!s) return lmf_error(LMF_ERR_NOMEM, "out of memory (model state)");
    for (size_t i = 0; i < np && !st; i++) st = lmf_model_feed(m, s, prompt[i]);
    if (!st) st = o->beam > 1 ? beam_search(m, s, o, out, n, logprob) : sample(m, s, o, out, n, logprob);
    lmf_state_free(m, s);
    return st;
}
