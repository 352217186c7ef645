/* pairvote: van Halteren's TagPair (lmf/comb.h).  Every pair of members
 * votes with the outcomes seen, on held-out data, when the first one's top
 * outcome was x_i and the second one's x_j; a pair the table lacks gives
 * half a vote to each of x_i and x_j.  The table is fitted by the caller
 * (lmf/tag.h fits it for taggers). */
#include "comb_impl.h"
#include "../core/util_impl.h"

#include <string.h>

static lmf_status init(lmf_comb *c, const lmf_comb_opts *o) {
    const lmf_pairvote_params *p = o->pairs;
    const int64_t K = c->K, N = c->N, top = K * K * N * N;
    if (!p || p->n < 0 || (p->n && (!p->key || !p->ptr || !p->y || !p->p)))
        return lmf_error(LMF_ERR_ARG, "a pair vote needs its table (fit it on held-out data)");
    const int64_t nn = p->n ? p->ptr[p->n] : 0;
    if (p->n && p->ptr[0] != 0) return lmf_error(LMF_ERR_ARG, "pair vote table: offsets must start at 0");
    for (int64_t e = 0; e < p->n; e++) {
        const int64_t k = p->key[e], ij = k / (N * N), i = ij / K, j = ij % K;
        if (k < 0 || k >= top || i >= j || (e && k <= p->key[e - 1]) || p->ptr[e + 1] < p->ptr[e] || p->ptr[e + 1] > nn)
            return lmf_error(LMF_ERR_ARG, "pair vote table: entry %lld has a bad key or offsets", (long long)e + 1);
        for (int64_t t = p->ptr[e]; t < p->ptr[e + 1]; t++)
            if (p->y[t] < 0 || p->y[t] >= N || !(p->p[t] >= 0) || p->p[t] > 1)
                return lmf_error(LMF_ERR_ARG, "pair vote table: entry %lld has a bad outcome or probability", (long long)e + 1);
    }
    const size_t bytes = (size_t)p->n * sizeof(int64_t) + (size_t)(p->n + 1) * sizeof(int64_t) + (size_t)nn * (sizeof(int32_t) + sizeof(double));
    char *b = (char *)lmf_malloc(bytes + 16);
    if (!b) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    int64_t *key = (int64_t *)b, *ptr = key + p->n;
    double *pp = (double *)(ptr + p->n + 1);
    int32_t *y = (int32_t *)(pp + nn);
    if (p->n) memcpy(key, p->key, (size_t)p->n * sizeof *key);
    if (p->n) memcpy(ptr, p->ptr, (size_t)(p->n + 1) * sizeof *ptr);
    else ptr[0] = 0;
    if (nn) memcpy(pp, p->p, (size_t)nn * sizeof *pp), memcpy(y, p->y, (size_t)nn * sizeof *y);
    c->par2 = b;
    c->pn = p->n;
    c->pkey = key;
    c->pptr = ptr;
    c->pp = pp;
    c->py = y;
    return LMF_OK;
}

static int64_t find(const lmf_comb *c, int64_t key) {
    int64_t lo = 0, hi = c->pn;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (c->pkey[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->pn && c->pkey[lo] == key ? lo : -1;
}

static void combine(const lmf_comb *c, lmf_comb_state *s, const float *d, size_t ks, const float *aux, float *out) {
    (void)aux;
    const int K = c->K, N = c->N;
    float *votes = s->tmp;
    int32_t top[LMF_FUSE_MAX_MEMBERS];
    memset(votes, 0, (size_t)N * sizeof *votes);
    for (int k = 0; k < K; k++) {
        lmf_comb_top(d + (size_t)k * ks, N, 1, s->top, s->topv);
        top[k] = s->top[0];
    }
    double total = 0;
    for (int i = 0; i < K; i++)
        for (int j = i + 1; j < K; j++) {
            const int64_t e = find(c, (((int64_t)i * K + j) * N + top[i]) * N + top[j]);
            if (e < 0) {
                votes[top[i]] += 0.5f;
                votes[top[j]] += 0.5f;
            } else {
                for (int64_t t = c->pptr[e]; t < c->pptr[e + 1]; t++) votes[c->py[t]] += (float)c->pp[t];
            }
            total += 1;
        }
    if (K == 1) votes[top[0]] = 1, total = 1; /* one member: its own vote */
    lmf_comb_votes_out(c, votes, total, d, ks, out);
}

const lmf_comb_ops lmf_comb_pairvote_ops = {
    .kind = LMF_COMB_PAIRVOTE,
    .init = init,
    .combine = combine,
};
