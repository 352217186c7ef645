/* Stacking of taggers (lmf/tag.h, "stacking"): a meta-tagger, an averaged
 * perceptron over the members' outputs in a window around each token (van
 * Halteren, Zavrel and Daelemans 2001 stack their taggers' tags in context
 * the same way).  Per token i, with b_k(j) member k's best tag at j (the
 * boundary outside the sentence) and c_k(i) its probability bucketed into
 * five levels:
 *   bias; (k, b_k(i)); (k, b_k(i), c_k(i)); (k, b_k(i-1)); (k, b_k(i+1));
 *   (k, j, b_k(i), b_j(i)) for every pair; the tuple of every b_k(i); the
 *   tuple with the lower-cased word; the lower-cased word.
 * The meta-tagger trains on outputs the members produced for text they did
 * not train on: out-of-fold on train (the sentences cut into `folds` runs of
 * consecutive sentences; each run tagged by the members trained again, with
 * their own options, on the other runs), or a held-out corpus (blending).
 * At tagging time the members trained on everything produce the inputs.
 * A token's distribution is the softmax of the meta-tagger's scores.
 *
 * File: safetensors of kind "tagger stack": the tags, the members' words,
 * the meta-model (linmodel.c), "stack_params" [K, iters, seed, folds] and
 * metadata "members": a JSON array of the members' files. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "tag_impl.h"
#include "../core/util_impl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct tstack {
    int K;
    lmf_tagger **m;
    char **paths;
    lmf_linmodel lm;
    lmf_tagstack_opts o;
    /* work space */
    int *best;   /* K x cap */
    float *conf; /* K x cap */
    float *lp;   /* cap x T */
    float *sc;   /* T */
    size_t cap;
} tstack;

void lmf_tagstack_opts_init(lmf_tagstack_opts *o) {
    memset(o, 0, sizeof *o);
    o->folds = 5;
    o->iters = 10;
    o->seed = 1;
}

static void ts_free(void *p) {
    tstack *f = (tstack *)p;
    if (!f) return;
    for (int k = 0; k < f->K; k++) {
        if (f->m) lmf_tagger_free(f->m[k]);
        if (f->paths) lmf_free(f->paths[k]);
    }
    lmf_free(f->m);
    lmf_free(f->paths);
    lmf_linmodel_free(&f->lm);
    lmf_free(f->best);
    lmf_free(f->conf);
    lmf_free(f->lp);
    lmf_free(f->sc);
    lmf_free(f);
}

/* ---- features ---- */

#define MAX_FEAT (3 + 4 * LMF_FUSE_MAX_MEMBERS + LMF_FUSE_MAX_MEMBERS * (LMF_FUSE_MAX_MEMBERS - 1) / 2 + 3)

static int bucket(float p) { return p >= 0.99f ? 4 : p >= 0.95f ? 3 : p >= 0.8f ? 2 : p >= 0.5f ? 1 : 0; }

static uint64_t key3(uint64_t tmpl, uint64_t a, uint64_t b) {
    return lmf_mix64(lmf_mix64(tmpl * 0x9e3779b97f4a7c15ULL + a) ^ (b * 0xc2b2ae3d27d4eb4fULL + 0x165667b19e3779f9ULL));
}

static uint64_t word_key(const char *w) {
    char b[64];
    size_t n = strlen(w), k = n < sizeof b ? n : sizeof b;
    for (size_t i = 0; i < k; i++) b[i] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
    return lmf_hash_bytes(b, k, 0x776f7264ULL) ^ (uint64_t)n;
}

/* The features of token i of a sentence of n tokens; best/conf: K rows of
 * stride `stride`; T the boundary tag.  Returns the count. */
static int features(int K, const int *best, const float *conf, size_t stride, size_t n, size_t i, int T, const char *word,
                    uint64_t *f) {
    int nf = 0;
    f[nf++] = key3(1, 0, 0);
    uint64_t tuple = 0x7475706c65ULL;
    for (int k = 0; k < K; k++) {
        const int *bk = best + (size_t)k * stride;
        const int b = bk[i], prev = i ? bk[i - 1] : T, next = i + 1 < n ? bk[i + 1] : T;
        f[nf++] = key3(2, (uint64_t)k, (uint64_t)b);
        f[nf++] = key3(3, (uint64_t)k << 8 | (uint64_t)bucket(conf[(size_t)k * stride + i]), (uint64_t)b);
        f[nf++] = key3(4, (uint64_t)k, (uint64_t)prev);
        f[nf++] = key3(5, (uint64_t)k, (uint64_t)next);
        tuple = lmf_mix64(tuple ^ ((uint64_t)b + 1));
        for (int j = k + 1; j < K; j++)
            f[nf++] = key3(6, (uint64_t)k << 16 | (uint64_t)j, (uint64_t)b << 20 | (uint64_t)best[(size_t)j * stride + i]);
    }
    const uint64_t wk = word_key(word);
    f[nf++] = key3(7, tuple, 0);
    f[nf++] = key3(8, tuple, wk);
    f[nf++] = key3(9, wk, 0);
    return nf;
}

/* Members' best tags and the probability of each into best/conf (K rows of
 * stride `stride`, from column `at`); lp: n x T work space. */
static lmf_status members_tag(lmf_tagger *const *m, int K, const char *const *words, size_t n, int *best, float *conf,
                              size_t stride, size_t at, float *lp) {
    const int T = m[0]->tags.n;
    for (int k = 0; k < K; k++) {
        int *bk = best + (size_t)k * stride + at;
        lmf_status s = lmf_tagger_run(m[k], words, n, bk, lp);
        if (s) return s;
        for (size_t i = 0; i < n; i++) conf[(size_t)k * stride + at + i] = expf(lp[i * (size_t)T + bk[i]]);
    }
    return LMF_OK;
}

static size_t max_sentence(const lmf_tagged *c) {
    size_t mx = 0;
    for (size_t i = 0; i < lmf_tagged_nsent(c); i++) {
        size_t a, b;
        lmf_tagged_sentence(c, i, &a, &b);
        if (b - a > mx) mx = b - a;
    }
    return mx;
}

lmf_status lmf_tag_oof(lmf_tagger *const *members, int K, const lmf_tagged *train, int folds, int *best, float *conf,
                       unsigned char *known) {
    const size_t ns = lmf_tagged_nsent(train), n = lmf_tagged_ntok(train);
    if (folds < 2 || (size_t)folds > ns)
        return lmf_error(LMF_ERR_ARG, "%d folds for %zu sentences: at least 2 and at most one per sentence", folds, ns);
    const int T = members[0]->tags.n;
    float *lp = (float *)lmf_malloc(max_sentence(train) * (size_t)T * sizeof *lp);
    if (!lp) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = LMF_OK;
    for (int f = 0; f < folds && !s; f++) {
        /* fold f: sentences [s0, s1); the others in one corpus, in order */
        const size_t s0 = ns * (size_t)f / (size_t)folds, s1 = ns * (size_t)(f + 1) / (size_t)folds;
        size_t a0, a1, b0, b1;
        lmf_tagged_sentence(train, s0, &a0, &a1);
        lmf_tagged_sentence(train, s1 - 1, &b0, &b1);
        lmf_tagged *rest = NULL;
        s = lmf_tagged_without(train, s0, s1, &rest);
        lmf_tagger *fm[LMF_FUSE_MAX_MEMBERS] = {0};
        for (int k = 0; k < K && !s; k++) {
            s = lmf_tagger_retrain(members[k], rest, &fm[k]);
            if (!s && !lmf_tagger_same_tags(fm[k], members[k])) /* cannot happen: a fold keeps the whole's tag set */
                s = lmf_error(LMF_ERR_DATA, "fold %d of %s has other tags than the whole", f + 1, lmf_tagged_path(train));
        }
        for (size_t i = s0; i < s1 && !s; i++) {
            size_t a, b;
            lmf_tagged_sentence(train, i, &a, &b);
            s = members_tag(fm, K, lmf_tagged_words(train) + a, b - a, best, conf, n, a, lp);
            for (int k = 0; k < K && known && !s; k++)
                for (size_t r = a; r < b; r++) known[(size_t)k * n + r] = (unsigned char)lmf_tagger_knows(fm[k], lmf_tagged_word(train, r));
        }
        for (int k = 0; k < K; k++) lmf_tagger_free(fm[k]);
        lmf_tagged_free(rest);
    }
    lmf_free(lp);
    return s;
}

/* ---- the tagger ---- */

static lmf_status ensure(tstack *f, size_t n, int T) {
    if (n <= f->cap) return LMF_OK;
    size_t c = f->cap ? f->cap : 64;
    while (c < n) c *= 2;
    int *b = (int *)lmf_realloc(f->best, (size_t)f->K * c * sizeof *b);
    if (b) f->best = b;
    float *cf = b ? (float *)lmf_realloc(f->conf, (size_t)f->K * c * sizeof *cf) : NULL;
    if (cf) f->conf = cf;
    float *lp = cf ? (float *)lmf_realloc(f->lp, c * (size_t)T * sizeof *lp) : NULL;
    if (lp) f->lp = lp;
    if (!lp) return lmf_error(LMF_ERR_NOMEM, "out of memory (stacking work space)");
    f->cap = c;
    return LMF_OK;
}

static lmf_status ts_run(lmf_tagger *t, const char *const *words, size_t n, int *best, float *logp) {
    tstack *f = (tstack *)t->impl;
    const int T = t->tags.n;
    lmf_status s = ensure(f, n, T);
    if (s) return s;
    if ((s = members_tag(f->m, f->K, words, n, f->best, f->conf, f->cap, 0, f->lp))) return s;
    uint64_t feat[MAX_FEAT];
    for (size_t i = 0; i < n; i++) {
        float *sc = logp ? logp + i * (size_t)T : f->sc;
        memset(sc, 0, (size_t)T * sizeof *sc);
        const int nf = features(f->K, f->best, f->conf, f->cap, n, i, T, words[i], feat);
        for (int j = 0; j < nf; j++) lmf_linmodel_add(&f->lm, feat[j], sc);
        int g = 0;
        for (int c = 1; c < T; c++)
            if (sc[c] > sc[g]) g = c;
        if (best) best[i] = g;
        if (logp) lmf_tag_log_softmax(sc, T);
    }
    return LMF_OK;
}

static lmf_status ts_save(const lmf_tagger *t, lmf_st_writer *w, void **keep, const char *path) {
    (void)path;
    const tstack *f = (const tstack *)t->impl;
    cJSON *a = cJSON_CreateArray();
    lmf_status s = a ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int k = 0; k < f->K && !s; k++) {
        char *ref = f->paths[k] ? realpath(f->paths[k], NULL) : NULL;
        if (!ref) s = lmf_error(LMF_ERR_IO, "member %d of the stack (%s): no file to refer to", k + 1, f->paths[k] ? f->paths[k] : "unsaved");
        else if (!cJSON_AddItemToArray(a, cJSON_CreateString(ref))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        free(ref);
    }
    char *text = s ? NULL : cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    if (!s && !text) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) s = lmf_st_set_meta(w, "members", text);
    free(text);
    double *pp = s ? NULL : (double *)lmf_malloc(4 * sizeof *pp);
    if (!s && !pp) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) return s;
    *keep = pp;
    pp[0] = f->K, pp[1] = f->o.iters, pp[2] = (double)f->o.seed, pp[3] = f->o.folds;
    int64_t sh[1] = {4};
    if ((s = lmf_st_add(w, "stack_params", LMF_DT_F64, 1, sh, pp))) return s;
    return lmf_linmodel_save(&f->lm, w);
}

static const lmf_tagger_ops stack_ops = {ts_run, ts_save, ts_free};

int lmf_stack_members(const lmf_tagger *t, lmf_tagger *const **members) {
    const tstack *f = (const tstack *)t->impl;
    *members = f->m;
    return f->K;
}

/* A stack tagger around members (taken), without its meta-model yet. */
static lmf_status stack_new(lmf_tagger **members, const char *const *paths, int K, const lmf_tagstack_opts *o, lmf_tagger **out) {
    *out = NULL;
    lmf_status s = LMF_OK;
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS) s = lmf_error(LMF_ERR_ARG, "a stack needs 1..%d members (got %d)", LMF_FUSE_MAX_MEMBERS, K);
    for (int k = 1; !s && k < K; k++) {
        if (!lmf_tagger_same_tags(members[k], members[0])) s = lmf_error(LMF_ERR_ARG, "member %d has other tags than member 1; stack taggers trained on the same tag set", k + 1);
    }
    lmf_tagger *t = s ? NULL : (lmf_tagger *)lmf_calloc(1, sizeof *t);
    tstack *f = t ? (tstack *)lmf_calloc(1, sizeof *f) : NULL;
    if (!s && f) {
        f->m = (lmf_tagger **)lmf_calloc((size_t)K, sizeof *f->m);
        f->paths = (char **)lmf_calloc((size_t)K, sizeof *f->paths);
    }
    if (!s && (!f || !f->m || !f->paths)) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) {
        for (int k = 0; k < K; k++) lmf_tagger_free(members[k]);
        if (f) {
            lmf_free(f->m);
            lmf_free(f->paths);
            lmf_free(f);
        }
        lmf_free(t);
        return s;
    }
    t->kind = LMF_TAGGER_STACK;
    t->ops = &stack_ops;
    t->impl = f;
    f->K = K;
    f->o = *o;
    for (int k = 0; k < K; k++) f->m[k] = members[k];
    const int T = members[0]->tags.n;
    s = lmf_tagger_adopt(t, members, K);
    for (int k = 0; k < K && !s; k++)
        if (paths && paths[k] && !(f->paths[k] = lmf_strdup(paths[k]))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && !(f->sc = (float *)lmf_malloc((size_t)T * sizeof *f->sc))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) {
        lmf_tagger_free(t);
        return s;
    }
    *out = t;
    return LMF_OK;
}

static uint64_t rng_next(uint64_t *s) {
    *s += 0x9e3779b97f4a7c15ULL;
    return lmf_mix64(*s);
}

lmf_status lmf_tagger_stack_fit(lmf_tagger **members, const char *const *paths, int K, const lmf_tagged *train,
                                const lmf_tagged *valid, const lmf_tagstack_opts *o, lmf_tagger **out) {
    *out = NULL;
    lmf_tagstack_opts def;
    if (!o) lmf_tagstack_opts_init(&def), o = &def;
    lmf_status s = LMF_OK;
    if (o->iters < 1 || o->iters > 1000) s = lmf_error(LMF_ERR_ARG, "stack passes %d: 1 to 1000", o->iters);
    else if (o->folds && !train) s = lmf_error(LMF_ERR_ARG, "stacking out of fold needs the members' training text");
    else if (!o->folds && !valid) s = lmf_error(LMF_ERR_ARG, "stacking without folds (blending) needs held-out tagged text");
    else if (o->seed > ((uint64_t)1 << 53)) s = lmf_error(LMF_ERR_ARG, "stack seed: at most 2^53");
    if (s) {
        for (int k = 0; k < K; k++) lmf_tagger_free(members[k]);
        return s;
    }
    lmf_tagger *t;
    if ((s = stack_new(members, paths, K, o, &t))) return s;
    tstack *f = (tstack *)t->impl;
    const int T = t->tags.n;
    const lmf_tagged *c = o->folds ? train : valid;
    const size_t n = lmf_tagged_ntok(c), ns = lmf_tagged_nsent(c);
    int *best = (int *)lmf_malloc((size_t)K * n * sizeof *best), *gold = NULL;
    float *conf = (float *)lmf_malloc((size_t)K * n * sizeof *conf), *lp = NULL;
    size_t *order = (size_t *)lmf_malloc(ns * sizeof *order);
    lmf_lintrainer tr;
    memset(&tr, 0, sizeof tr);
    if (!best || !conf || !order) s = lmf_error(LMF_ERR_NOMEM, "out of memory (stacking, %zu tokens)", n);
    if (!s) s = lmf_tag_ids(t, c, &gold, o->folds ? NULL : &(size_t){0});
    if (!s && o->folds) {
        s = lmf_tag_oof(f->m, K, c, o->folds, best, conf, NULL);
    } else if (!s) { /* blending: the members as they are, on held-out text */
        if (!(lp = (float *)lmf_malloc(max_sentence(c) * (size_t)T * sizeof *lp))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < ns && !s; i++) {
            size_t a, b;
            lmf_tagged_sentence(c, i, &a, &b);
            if (b - a > t->max_len)
                s = lmf_error(LMF_ERR_DATA, "%s line %zu: a sentence of %zu tokens; the members take at most %zu", lmf_tagged_path(c),
                              lmf_tagged_line(c, a), b - a, t->max_len);
            else s = members_tag(f->m, K, lmf_tagged_words(c) + a, b - a, best, conf, n, a, lp);
        }
    }
    if (!s && (uint64_t)n * (uint64_t)o->iters >= INT32_MAX) s = lmf_error(LMF_ERR_ARG, "%zu tokens x %d passes: at most 2^31 steps", n, o->iters);
    /* the meta-model: an averaged perceptron over the tokens */
    float *sc = s ? NULL : (float *)lmf_malloc((size_t)T * sizeof *sc);
    if (!s && !sc) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ns; i++) order[i] = i;
    uint64_t rs = o->seed;
    const char *const *words = s ? NULL : lmf_tagged_words(c);
    for (int it = 0; it < o->iters && !s; it++) {
        for (size_t i = ns; i > 1; i--) {
            const size_t j = (size_t)(rng_next(&rs) % i), x = order[i - 1];
            order[i - 1] = order[j];
            order[j] = x;
        }
        size_t wrong = 0;
        for (size_t si = 0; si < ns && !s; si++) {
            size_t a, b;
            lmf_tagged_sentence(c, order[si], &a, &b);
            for (size_t r = a; r < b && !s; r++) {
                if (gold[r] < 0) continue; /* a held-out tag the members never saw */
                uint64_t feat[MAX_FEAT];
                int32_t rows[MAX_FEAT];
                /* the sentence's outputs: rows of stride n starting at a */
                const int nf = features(K, best + a, conf + a, n, b - a, r - a, T, words[r], feat);
                memset(sc, 0, (size_t)T * sizeof *sc);
                for (int j = 0; j < nf; j++) lmf_lintrainer_score(&tr, rows[j] = lmf_lintrainer_find(&tr, feat[j]), sc);
                int g = 0;
                for (int cc = 1; cc < T; cc++)
                    if (sc[cc] > sc[g]) g = cc;
                tr.step++;
                if (g == gold[r]) continue;
                wrong++;
                for (int j = 0; j < nf && !s; j++) {
                    if (rows[j] < 0 && (rows[j] = lmf_lintrainer_row(&tr, feat[j])) < 0) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
                    else if (!lmf_lintrainer_update(&tr, rows[j], gold[r], 1.0f) || !lmf_lintrainer_update(&tr, rows[j], g, -1.0f))
                        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
                }
            }
        }
        if (!s && o->progress)
            lmf_log(LMF_LOG_INFO, "stack pass %d/%d: %.4f of the %s tokens right", it + 1, o->iters, 1.0 - (double)wrong / (double)n,
                    o->folds ? "out-of-fold" : "held-out");
    }
    if (!s) s = lmf_lintrainer_finish(&tr, T, &f->lm);
    lmf_lintrainer_free(&tr);
    lmf_free(best);
    lmf_free(conf);
    lmf_free(lp);
    lmf_free(sc);
    lmf_free(order);
    lmf_free(gold);
    if (s) {
        lmf_tagger_free(t);
        return s;
    }
    *out = t;
    return LMF_OK;
}

lmf_status lmf_stack_load(lmf_tagger *t, const lmf_safetensors *st, const char *path) {
    const lmf_st_tensor *x;
    double pp[4];
    lmf_status s = lmf_tag_tensor(st, path, "stack_params", LMF_DT_F64, 4, &x);
    if (s) return s;
    memcpy(pp, x->data, sizeof pp);
    if (!(pp[0] >= 1 && pp[0] <= LMF_FUSE_MAX_MEMBERS && pp[0] == floor(pp[0]) && pp[1] >= 1 && pp[1] <= 1000 &&
          pp[2] >= 0 && pp[2] <= 9007199254740992.0 && pp[3] >= 0 && pp[3] <= 1e9))
        return lmf_error(LMF_ERR_FORMAT, "%s: stacking parameters out of range (a damaged file)", path);
    const int K = (int)pp[0];
    const char *ms = lmf_st_meta(st, "members");
    cJSON *a = ms ? cJSON_Parse(ms) : NULL;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != K) {
        cJSON_Delete(a);
        return lmf_error(LMF_ERR_FORMAT, "%s: metadata \"members\" must list the %d member files", path, K);
    }
    char *dir = lmf_path_dir(path);
    lmf_tagger *m[LMF_FUSE_MAX_MEMBERS] = {0};
    char *paths[LMF_FUSE_MAX_MEMBERS] = {0};
    int k = 0;
    if (!dir) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (const cJSON *e = a->child; e && !s; e = e->next, k++) {
        if (!cJSON_IsString(e) || !e->valuestring[0]) {
            s = lmf_error(LMF_ERR_FORMAT, "%s: member %d is not a file name", path, k + 1);
            break;
        }
        paths[k] = e->valuestring[0] == '/' ? lmf_strdup(e->valuestring) : lmf_path_join(dir, e->valuestring);
        if (!paths[k]) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else if ((s = lmf_tagger_load(paths[k], &m[k]))) s = lmf_error(s, "%s: member %d: %s", path, k + 1, lmf_last_error());
        else if (!lmf_tagger_same_tags(m[k], t))
            s = lmf_error(LMF_ERR_FORMAT, "%s: member %d (%s) has other tags than the stack", path, k + 1, paths[k]);
    }
    cJSON_Delete(a);
    lmf_free(dir);
    lmf_tagger *tmp = NULL;
    lmf_tagstack_opts o;
    lmf_tagstack_opts_init(&o);
    o.iters = (int)pp[1];
    o.seed = (uint64_t)pp[2];
    o.folds = (int)pp[3];
    if (!s) {
        s = stack_new(m, (const char *const *)paths, K, &o, &tmp);
        memset(m, 0, sizeof m);
    }
    for (int i = 0; i < K; i++) {
        lmf_tagger_free(m[i]);
        lmf_free(paths[i]);
    }
    if (s) return s;
    tstack *f = (tstack *)tmp->impl;
    s = lmf_linmodel_load(&f->lm, t->tags.n, st, path);
    if (s) {
        lmf_tagger_free(tmp);
        return s;
    }
    /* the loaded stack's object becomes t's (t keeps its tags and words from the file) */
    t->impl = f;
    t->ops = &stack_ops;
    t->max_len = tmp->max_len;
    tmp->impl = NULL;
    tmp->ops = NULL;
    lmf_tagger_free(tmp);
    return LMF_OK;
}
