/* Members over different vocabularies (lmf/fuse.h, lmf_fuse_unify): each
 * member seen through the union vocabulary U of all members.  A word of U
 * the member lacks gets a share of the member's <unk> probability:
 *   spread (default):  p(<unk>) / (|U \ V| + 1) for each missing word and
 *                      for U's own <unk> (words outside every member), so the
 *                      member's distribution over U still sums to 1;
 *   IRSTLM (dub > 0):  p(<unk>) / (dub - |V| - 1) (|V| + 1 counts <s> as an
 *                      ARPA unigram), interpolate-lm's dictionary upper
 *                      bound; sums below 1;
 *   raw (dub < 0):     p(<unk>) as is (interpolate-lm --dub=0); sums above 1.
 * The member's history sees its own <unk> for every word it lacks. */
#include "lmf/fuse.h"

#include "fuse_impl.h"
#include "../core/util_impl.h"
#include "../model/model_impl.h"

#include <math.h>
#include <string.h>

typedef struct vmap {
    lmf_model base;
    lmf_model *inner;
    int owns;
    lmf_vocab *U;
    int32_t *map; /* U id -> inner id, -1 when the inner model lacks the word */
    int32_t NU, Vi;
    float pen;   /* ln of the share divisor */
    float *buf;  /* Vi floats */
    float *dbuf; /* dcap x Vi floats (dists) */
    size_t dcap;
    int32_t *tb; /* mapped tokens */
    size_t tcap;
} vmap;

static void vm_free(lmf_model *m) {
    vmap *v = (vmap *)m;
    if (v->owns) lmf_model_free(v->inner);
    lmf_vocab_free(v->U);
    lmf_free(v->map);
    lmf_free(v->buf);
    lmf_free(v->dbuf);
    lmf_free(v->tb);
    lmf_free(v);
}

static void vm_describe(const lmf_model *m, char *buf, size_t n) {
    const vmap *v = (const vmap *)m;
    char in[200];
    lmf_model_describe(v->inner, in, sizeof in);
    snprintf(buf, n, "%s, over a union vocabulary of %d (<unk> share 1/%.6g)", in, (int)v->NU, exp((double)v->pen));
}

static lmf_state *vm_state_new(const lmf_model *m) { return lmf_state_new(((const vmap *)m)->inner); }
static void vm_state_free(const lmf_model *m, lmf_state *s) { lmf_state_free(((const vmap *)m)->inner, s); }
static void vm_reset(const lmf_model *m, lmf_state *s) { lmf_state_reset(((const vmap *)m)->inner, s); }
static lmf_status vm_copy(const lmf_model *m, lmf_state *d, const lmf_state *s) {
    return lmf_state_copy(((const vmap *)m)->inner, d, s);
}

static int32_t inner_id(const vmap *v, int32_t t) { return t >= 0 && t < v->NU && v->map[t] >= 0 ? v->map[t] : LMF_UNK; }

static lmf_status vm_feed(lmf_model *m, lmf_state *s, int32_t tok) {
    vmap *v = (vmap *)m;
    return lmf_model_feed(v->inner, s, inner_id(v, tok));
}

static void project(const vmap *v, const float *in, float *out) {
    const float unk = in[LMF_UNK] - v->pen;
    for (int32_t u = 0; u < v->NU; u++) out[u] = v->map[u] >= 0 ? in[v->map[u]] : unk;
    out[LMF_UNK] = unk;
}

static lmf_status vm_next(lmf_model *m, const lmf_state *s, float *logp) {
    vmap *v = (vmap *)m;
    lmf_status st = lmf_model_next(v->inner, s, v->buf);
    if (!st) project(v, v->buf, logp);
    return st;
}

static lmf_status map_tokens(vmap *v, const int32_t *tok, size_t n) {
    if (n > v->tcap) {
        int32_t *p = (int32_t *)lmf_realloc(v->tb, n * sizeof *p);
        if (!p) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        v->tb = p;
        v->tcap = n;
    }
    for (size_t i = 0; i < n; i++) v->tb[i] = inner_id(v, tok[i]);
    return LMF_OK;
}

static lmf_status vm_score(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *logp) {
    vmap *v = (vmap *)m;
    lmf_status st = map_tokens(v, tok, n);
    if (!st) st = lmf_model_score(v->inner, s, v->tb, n, logp);
    for (size_t i = 0; !st && i < n; i++)
        if (v->tb[i] == LMF_UNK) logp[i] -= v->pen;
    return st;
}

static lmf_status vm_score_batch(lmf_model *m, lmf_state **st, const int32_t *const *tok, const size_t *n, size_t ns,
                                 float *const *logp) {
    vmap *v = (vmap *)m;
    size_t tot = 0;
    for (size_t b = 0; b < ns; b++) tot += n[b];
    int32_t *all = (int32_t *)lmf_malloc((tot ? tot : 1) * sizeof *all);
    const int32_t **ptr = (const int32_t **)lmf_malloc((ns ? ns : 1) * sizeof *ptr);
    lmf_status s = all && ptr ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    size_t off = 0;
    for (size_t b = 0; !s && b < ns; b++) {
        ptr[b] = all + off;
        for (size_t i = 0; i < n[b]; i++) all[off + i] = inner_id(v, tok[b][i]);
        off += n[b];
    }
    if (!s) s = lmf_model_score_batch(v->inner, st, ptr, n, ns, logp);
    for (size_t b = 0; !s && b < ns; b++)
        for (size_t i = 0; i < n[b]; i++)
            if (ptr[b][i] == LMF_UNK) logp[b][i] -= v->pen;
    lmf_free(all);
    lmf_free(ptr);
    return s;
}

static lmf_status vm_dists(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *out) {
    vmap *v = (vmap *)m;
    /* the member's n x Vi distributions in one call (its batched path), then each row over U */
    if (n > v->dcap) {
        float *d = (float *)lmf_realloc(v->dbuf, n * (size_t)v->Vi * sizeof *d);
        if (!d) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        v->dbuf = d;
        v->dcap = n;
    }
    lmf_status st = map_tokens(v, tok, n);
    if (!st) st = lmf_model_dists(v->inner, s, v->tb, n, v->dbuf);
    for (size_t i = 0; !st && i < n; i++) project(v, v->dbuf + i * (size_t)v->Vi, out + i * (size_t)v->NU);
    return st;
}

static int vm_hidden_dim(const lmf_model *m) { return lmf_model_hidden_dim(((const vmap *)m)->inner); }
static lmf_status vm_hidden(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *h) {
    vmap *v = (vmap *)m;
    lmf_status st = map_tokens(v, tok, n);
    return st ? st : lmf_model_hidden(v->inner, s, v->tb, n, h);
}

static const lmf_model_ops vmap_ops = {
    .kind = "vocabmap",
    .free = vm_free,
    .describe = vm_describe,
    .state_new = vm_state_new,
    .state_free = vm_state_free,
    .state_reset = vm_reset,
    .state_copy = vm_copy,
    .feed = vm_feed,
    .next = vm_next,
    .score = vm_score,
    .score_batch = vm_score_batch,
    .dists = vm_dists,
    .hidden_dim = vm_hidden_dim,
    .hidden = vm_hidden,
};

static lmf_vocab *vocab_copy(const lmf_vocab *u) {
    lmf_vocab *c = lmf_vocab_new(lmf_vocab_mode(u));
    for (int32_t i = 2; c && i < lmf_vocab_size(u); i++) {
        size_t len;
        const char *w = lmf_vocab_word(u, i, &len);
        if (lmf_vocab_add(c, w, len) != i) {
            lmf_vocab_free(c);
            return NULL;
        }
    }
    return c;
}

/* Wraps `inner` over U (copied); takes inner when owns. */
static lmf_status vmap_new(lmf_model *inner, int owns, const lmf_vocab *U, double dub, lmf_model **out) {
    *out = NULL;
    vmap *v = (vmap *)lmf_calloc(1, sizeof *v);
    const lmf_vocab *vi = lmf_model_vocab(inner);
    if (v) {
        v->NU = lmf_vocab_size(U);
        v->Vi = lmf_vocab_size(vi);
        v->U = vocab_copy(U);
        v->map = (int32_t *)lmf_malloc((size_t)v->NU * sizeof *v->map);
        v->buf = (float *)lmf_malloc((size_t)v->Vi * sizeof *v->buf);
    }
    if (!v || !v->U || !v->map || !v->buf) {
        if (v) {
            lmf_vocab_free(v->U);
            lmf_free(v->map);
            lmf_free(v->buf);
            lmf_free(v);
        }
        if (owns) lmf_model_free(inner);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    int32_t missing = 0;
    for (int32_t u = 0; u < v->NU; u++) {
        size_t len;
        const char *w = lmf_vocab_word(U, u, &len);
        v->map[u] = u < 2 ? u : lmf_vocab_find(vi, w, len);
        missing += v->map[u] < 0;
    }
    v->map[LMF_UNK] = -1; /* U's <unk> takes a share like a missing word */
    double div = dub > 0 ? dub - (double)v->Vi - 1 : dub < 0 ? 1 : (double)missing + 1;
    v->pen = (float)log(div > 1 ? div : 1);
    v->base.ops = &vmap_ops;
    v->base.vocab = v->U;
    v->inner = inner;
    v->owns = owns;
    *out = &v->base;
    return LMF_OK;
}

lmf_status lmf_fuse_unify(lmf_model **members, int K, double dub, int borrow, int *changed) {
    if (changed) *changed = 0;
    int32_t *maps[LMF_FUSE_MAX_MEMBERS] = {0};
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS) return lmf_error(LMF_ERR_ARG, "a fusion needs 1..%d members", LMF_FUSE_MAX_MEMBERS);
    lmf_status s = lmf_fuse_vocab_maps(members, K, maps);
    for (int k = 0; k < K; k++) lmf_free(maps[k]);
    if (s == LMF_ERR_NOMEM) return s;
    if (!s && dub == 0) return LMF_OK; /* one vocabulary: nothing to share */
    for (int k = 0; k < K; k++)
        if (lmf_vocab_mode(lmf_model_vocab(members[k])) != lmf_vocab_mode(lmf_model_vocab(members[0])))
            return lmf_error(LMF_ERR_DATA, "members 1 and %d read different units (%s and %s): a union vocabulary needs "
                                           "one kind of token", k + 1, lmf_token_mode_name(lmf_vocab_mode(lmf_model_vocab(members[0]))),
                             lmf_token_mode_name(lmf_vocab_mode(lmf_model_vocab(members[k]))));
    lmf_vocab *U = vocab_copy(lmf_model_vocab(members[0]));
    if (!U) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int k = 1; k < K; k++) {
        const lmf_vocab *v = lmf_model_vocab(members[k]);
        for (int32_t i = 2; i < lmf_vocab_size(v); i++) {
            size_t len;
            const char *w = lmf_vocab_word(v, i, &len);
            if (lmf_vocab_add(U, w, len) < 0) {
                lmf_vocab_free(U);
                return lmf_error(LMF_ERR_NOMEM, "out of memory");
            }
        }
    }
    s = LMF_OK;
    for (int k = 0; k < K && !s; k++) {
        const lmf_vocab *v = lmf_model_vocab(members[k]);
        if (dub == 0 && lmf_vocab_size(v) == lmf_vocab_size(U)) continue; /* lacks nothing: itself */
        lmf_model *w;
        if (!(s = vmap_new(members[k], !borrow, U, dub, &w))) {
            members[k] = w;
            if (changed) *changed = 1;
        } else if (!borrow) {
            members[k] = NULL; /* taken and freed */
        }
    }
    lmf_vocab_free(U);
    return s;
}
