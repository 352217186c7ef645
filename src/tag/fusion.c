/* Fusion of taggers (lmf/tag.h, "fusion"): per token, the members' tag
 * distributions combined by a combiner of lmf/comb.h, the code that fuses
 * next-token distributions and document classes.  Two inputs: the
 * members' distributions (soft methods; smoothed as (1 - 1e-6) p + 1e-6 / T
 * so that a tag one member rules out stays possible), or their decisions,
 * the best sequence's tag with probability 1 (votes).  Two decodings: each
 * token's most probable fused tag, or one Viterbi pass over the fused
 * per-token distributions with an HMM member's transitions.
 *
 * Recipe (JSON):
 *   {"lmfuse": "tagger fusion", "members": [tagger files, relative to the
 *    recipe], "combiner": name, "weights": [K], "top_k", "threshold",
 *    "vote_mass", "stack": {"W": [T x KT], "b": [T], "features": "prob" |
 *    "logp"}, "inputs": "distributions" | "decisions",
 *    "decode": "token" | "viterbi", "viterbi_member": k (1-based, an HMM),
 *    "tuning": {...} (kept, not read)} */
#define _XOPEN_SOURCE 700 /* realpath */
#include "tag_impl.h"
#include "lmf/classify.h"
#include "lmf/comb.h"
#include "../core/json_impl.h"
#include "../core/util_impl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SMOOTH 1e-6

typedef struct tfuse {
    int K;
    lmf_tagger **m;
    char **paths;
    lmf_comb *comb;
    lmf_comb_state *cs;
    lmf_tagfuse_opts fo;
    double *w, *sW, *sb; /* owned copies of the combiner's parameters */
    int slogp;
    double *vfor, *vag;  /* per-outcome votes (K x T each), or NULL */
    int64_t pn, *pkey, *pptr; /* the pair-vote table, or pn = -1 */
    int32_t *py;
    double *pp;
    char *tuning;
    float *d;   /* K x cap x T */
    int *bt;    /* K x cap */
    float *row; /* K x T */
    float *lq;  /* cap x T */
    size_t cap;
} tfuse;

static void tf_free(void *p) {
    tfuse *f = (tfuse *)p;
    if (!f) return;
    for (int k = 0; k < f->K; k++) {
        lmf_tagger_free(f->m[k]);
        if (f->paths) lmf_free(f->paths[k]);
    }
    lmf_free(f->m);
    lmf_free(f->paths);
    lmf_comb_state_free(f->cs);
    lmf_comb_free(f->comb);
    lmf_free(f->w);
    lmf_free(f->vfor);
    lmf_free(f->pkey);
    lmf_free(f->tuning);
    lmf_free(f->d);
    lmf_free(f->bt);
    lmf_free(f->row);
    lmf_free(f->lq);
    lmf_free(f);
}

void lmf_tagfuse_opts_init(lmf_tagfuse_opts *o) {
    memset(o, 0, sizeof *o);
    lmf_comb_opts_init(&o->comb);
}

/* The members' inputs of one sentence into f->d (row i of member k at
 * d + (k cap + i) T), f->bt their best tags. */
static lmf_status members_run(tfuse *f, const char *const *words, size_t n) {
    const int T = f->m[0]->tags.n;
    if (n > f->cap) {
        size_t c = f->cap ? f->cap : 64;
        while (c < n) c *= 2;
        float *d = (float *)lmf_realloc(f->d, (size_t)f->K * c * (size_t)T * sizeof *d);
        if (d) f->d = d;
        int *bt = d ? (int *)lmf_realloc(f->bt, (size_t)f->K * c * sizeof *bt) : NULL;
        if (bt) f->bt = bt;
        float *lq = bt ? (float *)lmf_realloc(f->lq, c * (size_t)T * sizeof *lq) : NULL;
        if (lq) f->lq = lq;
        if (!lq) return lmf_error(LMF_ERR_NOMEM, "out of memory (tagger fusion)");
        f->cap = c;
    }
    for (int k = 0; k < f->K; k++) {
        float *dk = f->d + (size_t)k * f->cap * T;
        int *bk = f->bt + (size_t)k * f->cap;
        lmf_status s = lmf_tagger_run(f->m[k], words, n, bk, dk);
        if (s) return s;
        for (size_t i = 0; i < n; i++) {
            float *r = dk + i * (size_t)T;
            if (f->fo.decisions) {
                for (int c = 0; c < T; c++) r[c] = -INFINITY;
                r[bk[i]] = 0;
            } else {
                for (int c = 0; c < T; c++) r[c] = (float)log((1 - SMOOTH) * exp((double)r[c]) + SMOOTH / T);
            }
        }
    }
    return LMF_OK;
}

static lmf_status tf_run(lmf_tagger *t, const char *const *words, size_t n, int *best, float *logp) {
    tfuse *f = (tfuse *)t->impl;
    const int T = t->tags.n;
    lmf_status s = members_run(f, words, n);
    if (s) return s;
    float *out = logp ? logp : f->lq;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < f->K; k++)
            memcpy(f->row + (size_t)k * T, f->d + ((size_t)k * f->cap + i) * T, (size_t)T * sizeof *f->row);
        lmf_comb_state_reset(f->comb, f->cs);
        lmf_comb_combine(f->comb, f->cs, f->row, (size_t)T, NULL, out + i * (size_t)T);
    }
    if (!best) return LMF_OK;
    if (f->fo.viterbi) return lmf_hmm_viterbi_scores(f->m[f->fo.viterbi - 1], out, n, best);
    for (size_t i = 0; i < n; i++) {
        const float *r = out + i * (size_t)T;
        int g = 0;
        for (int c = 1; c < T; c++)
            if (r[c] > r[g]) g = c;
        best[i] = g;
    }
    return LMF_OK;
}

static const lmf_tagger_ops fusion_ops = {tf_run, NULL, tf_free};

lmf_status lmf_tagger_fusion_new(lmf_tagger **members, const char *const *paths, int K, const lmf_tagfuse_opts *o,
                                 const char *tuning_json, lmf_tagger **out) {
    *out = NULL;
    lmf_status s = LMF_OK;
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS) s = lmf_error(LMF_ERR_ARG, "a tagger fusion needs 1..%d members (got %d)", LMF_FUSE_MAX_MEMBERS, K);
    for (int k = 1; !s && k < K; k++) {
        if (!lmf_tagger_same_tags(members[k], members[0]))
            s = lmf_error(LMF_ERR_ARG, "member %d (%s) has other tags than member 1 (%d vs %d tags); fuse taggers trained "
                                       "on the same tag set", k + 1, paths && paths[k] ? paths[k] : "?", members[k]->tags.n,
                          members[0]->tags.n);
    }
    if (!s && o->viterbi && (o->viterbi < 1 || o->viterbi > K || members[o->viterbi - 1]->kind != LMF_TAGGER_HMM))
        s = lmf_error(LMF_ERR_ARG, "Viterbi decoding takes the transitions of an HMM member: member %d is not one", o->viterbi);
    lmf_tagger *t = NULL;
    tfuse *f = NULL;
    if (!s && (!(t = (lmf_tagger *)lmf_calloc(1, sizeof *t)) || !(f = (tfuse *)lmf_calloc(1, sizeof *f))))
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) {
        lmf_free(t);
        for (int k = 0; k < K; k++) lmf_tagger_free(members[k]);
        return s;
    }
    t->kind = LMF_TAGGER_FUSION;
    t->ops = &fusion_ops;
    t->impl = f;
    f->K = K;
    f->fo = *o;
    f->m = (lmf_tagger **)lmf_calloc((size_t)K, sizeof *f->m);
    f->paths = (char **)lmf_calloc((size_t)K, sizeof *f->paths);
    if (!f->m || !f->paths) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int k = 0; k < K; k++) {
        if (f->m) f->m[k] = members[k];
        else lmf_tagger_free(members[k]);
    }
    if (s) {
        f->K = f->m ? K : 0;
        lmf_tagger_free(t);
        return s;
    }
    const int T = members[0]->tags.n;
    s = lmf_tagger_adopt(t, members, K);
    for (int k = 0; k < K && !s; k++)
        if (paths && paths[k] && !(f->paths[k] = lmf_strdup(paths[k]))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    /* own copies of the combiner's parameters */
    const lmf_comb_opts *co = &o->comb;
    const size_t nw = co->stack ? (size_t)T * (size_t)K * (size_t)T : 0;
    if (!s && !(f->w = (double *)lmf_malloc(((size_t)K + nw + (co->stack ? (size_t)T : 0)) * sizeof *f->w)))
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_stack_params sp;
    if (!s) {
        for (int k = 0; k < K; k++) f->w[k] = co->weights ? co->weights[k] : 1.0 / K;
        f->fo.comb.weights = f->w;
        f->fo.comb.gate = NULL;
        f->fo.comb.stack = NULL;
        if (co->stack) {
            if (co->stack->N != T) s = lmf_error(LMF_ERR_ARG, "the stacking meta-model has %d outcomes, the taggers %d tags", co->stack->N, T);
            f->sW = f->w + K;
            f->sb = f->sW + nw;
            if (!s) {
                memcpy(f->sW, co->stack->W, nw * sizeof *f->sW);
                memcpy(f->sb, co->stack->b, (size_t)T * sizeof *f->sb);
            }
            f->slogp = co->stack->logp;
            sp = (lmf_stack_params){T, f->sW, f->sb, f->slogp};
            f->fo.comb.stack = &sp;
        }
    }
    f->pn = -1;
    const size_t KT = (size_t)K * (size_t)T;
    if (!s && co->vote_for) {
        if (!(f->vfor = (double *)lmf_malloc(2 * KT * sizeof *f->vfor))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        if (!s) memcpy(f->vfor, co->vote_for, KT * sizeof *f->vfor);
        if (!s && co->vote_against) f->vag = f->vfor + KT, memcpy(f->vag, co->vote_against, KT * sizeof *f->vag);
        f->fo.comb.vote_for = f->vfor;
        f->fo.comb.vote_against = f->vag;
    }
    lmf_pairvote_params pv;
    if (!s && co->pairs) {
        const lmf_pairvote_params *q = co->pairs;
        const int64_t nn = q->n > 0 ? q->ptr[q->n] : 0;
        if (q->n < 0 || nn < 0) s = lmf_error(LMF_ERR_ARG, "a pair-vote table with a negative size");
        char *b = s ? NULL : (char *)lmf_malloc((size_t)(2 * q->n + 1) * sizeof(int64_t) + (size_t)nn * (sizeof(double) + sizeof(int32_t)) + 8);
        if (!s && !b) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        if (!s) {
            f->pn = q->n;
            f->pkey = (int64_t *)b;
            f->pptr = f->pkey + q->n;
            f->pp = (double *)(f->pptr + q->n + 1);
            f->py = (int32_t *)(f->pp + nn);
            if (q->n) memcpy(f->pkey, q->key, (size_t)q->n * sizeof *f->pkey), memcpy(f->pptr, q->ptr, (size_t)(q->n + 1) * sizeof *f->pptr);
            else f->pptr[0] = 0;
            if (nn) memcpy(f->pp, q->p, (size_t)nn * sizeof *f->pp), memcpy(f->py, q->y, (size_t)nn * sizeof *f->py);
            pv = (lmf_pairvote_params){f->pn, f->pkey, f->pptr, f->py, f->pp};
            f->fo.comb.pairs = &pv;
        }
    }
    if (!s && co->gate) s = lmf_error(LMF_ERR_UNSUPPORTED, "a gate needs a history of outcomes; tagger fusions have none");
    if (!s) s = lmf_comb_new(&f->fo.comb, K, T, &f->comb);
    f->fo.comb.stack = NULL; /* sp and pv go out of scope; the comb copied them */
    f->fo.comb.pairs = NULL;
    if (!s && !(f->cs = lmf_comb_state_new(f->comb))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && !(f->row = (float *)lmf_malloc((size_t)K * (size_t)T * sizeof *f->row))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && tuning_json && !(f->tuning = lmf_strdup(tuning_json))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) {
        lmf_tagger_free(t);
        return s;
    }
    *out = t;
    return LMF_OK;
}

int lmf_tagger_fusion_members(const lmf_tagger *t, lmf_tagger *const **members) {
    if (t->kind == LMF_TAGGER_STACK) return lmf_stack_members(t, members);
    if (t->kind != LMF_TAGGER_FUSION) return 0;
    const tfuse *f = (const tfuse *)t->impl;
    *members = f->m;
    return f->K;
}

/* ---- recipes ---- */


lmf_status lmf_tagger_fusion_save(const lmf_tagger *t, const char *path) {
    const tfuse *f = (const tfuse *)t->impl;
    const int T = t->tags.n;
    cJSON *j = cJSON_CreateObject();
    lmf_status s = j ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    cJSON *mem = s ? NULL : cJSON_AddArrayToObject(j, "members");
    if (!s && (!cJSON_AddStringToObject(j, "lmfuse", "tagger fusion") || !mem ||
               !cJSON_AddStringToObject(j, "combiner", lmf_combiner_name(f->fo.comb.comb))))
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int k = 0; k < f->K && !s; k++) {
        if (!f->paths[k]) {
            s = lmf_error(LMF_ERR_ARG, "member %d of the fusion has no file to refer to (save it first)", k + 1);
            break;
        }
        char *ref = realpath(f->paths[k], NULL);
        if (!ref) s = lmf_error(LMF_ERR_IO, "%s: member %d's file is gone", f->paths[k], k + 1);
        else if (!cJSON_AddItemToArray(mem, cJSON_CreateString(ref))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        free(ref);
    }
    if (!s) s = lmf_json_add_numbers(j, "weights", f->w, (size_t)f->K);
    if (!s && f->fo.comb.comb == LMF_COMB_VOTE &&
        (!cJSON_AddNumberToObject(j, "top_k", f->fo.comb.top_k ? f->fo.comb.top_k : 10) ||
         !cJSON_AddNumberToObject(j, "threshold", f->fo.comb.threshold) ||
         !cJSON_AddNumberToObject(j, "vote_mass", f->fo.comb.vote_mass)))
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && f->sW) {
        cJSON *st = cJSON_AddObjectToObject(j, "stack");
        s = st ? lmf_json_add_numbers(st, "W", f->sW, (size_t)T * (size_t)f->K * T) : lmf_error(LMF_ERR_NOMEM, "out of memory");
        if (!s) s = lmf_json_add_numbers(st, "b", f->sb, (size_t)T);
        if (!s && !cJSON_AddStringToObject(st, "features", f->slogp ? "logp" : "prob")) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    if (!s && f->vfor) s = lmf_json_add_numbers(j, "vote_for", f->vfor, (size_t)f->K * T);
    if (!s && f->vag) s = lmf_json_add_numbers(j, "vote_against", f->vag, (size_t)f->K * T);
    if (!s && f->pn >= 0) {
        cJSON *pj = cJSON_AddObjectToObject(j, "pairs");
        const int64_t nn = f->pptr[f->pn];
        double *tmp = (double *)lmf_malloc((size_t)(f->pn + 1 + nn + 1) * sizeof *tmp);
        if (!pj || !tmp) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        for (int64_t e = 0; !s && e < f->pn; e++) tmp[e] = (double)f->pkey[e]; /* keys < 2^53: checked when loading */
        if (!s) s = lmf_json_add_numbers(pj, "key", tmp, (size_t)f->pn);
        for (int64_t e = 0; !s && e <= f->pn; e++) tmp[e] = (double)f->pptr[e];
        if (!s) s = lmf_json_add_numbers(pj, "ptr", tmp, (size_t)f->pn + 1);
        for (int64_t e = 0; !s && e < nn; e++) tmp[e] = f->py[e];
        if (!s) s = lmf_json_add_numbers(pj, "y", tmp, (size_t)nn);
        if (!s) s = lmf_json_add_numbers(pj, "p", f->pp, (size_t)nn);
        lmf_free(tmp);
    }
    if (!s && (!cJSON_AddStringToObject(j, "inputs", f->fo.decisions ? "decisions" : "distributions") ||
               !cJSON_AddStringToObject(j, "decode", f->fo.viterbi ? "viterbi" : "token") ||
               (f->fo.viterbi && !cJSON_AddNumberToObject(j, "viterbi_member", f->fo.viterbi))))
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && f->tuning) {
        cJSON *tu = cJSON_Parse(f->tuning);
        if (!tu || !cJSON_AddItemToObject(j, "tuning", tu)) {
            cJSON_Delete(tu);
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
    }
    char *text = s ? NULL : cJSON_Print(j);
    if (!s && !text) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    cJSON_Delete(j);
    if (!s) {
        lmf_outfile of;
        s = lmf_outfile_open(&of, path);
        if (!s) {
            fputs(text, of.fp);
            fputc('\n', of.fp);
            s = lmf_outfile_commit(&of);
        }
    }
    free(text);
    return s;
}


static _Thread_local int load_depth;

lmf_status lmf_tagger_fusion_load(const char *path, lmf_tagger **out) {
    *out = NULL;
    if (load_depth >= 8) return lmf_error(LMF_ERR_FORMAT, "%s: tagger fusions nested more than 8 deep (a cycle?)", path);
    lmf_filebuf fb;
    lmf_status s = lmf_file_read(path, &fb);
    if (s) return s;
    cJSON *j = cJSON_ParseWithLength(fb.data, fb.size);
    lmf_filebuf_free(&fb);
    if (!j) return lmf_error(LMF_ERR_FORMAT, "%s: not valid JSON (a tagger fusion recipe is a JSON object)", path);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "lmfuse"), *comb = cJSON_GetObjectItemCaseSensitive(j, "combiner"),
                *mem = cJSON_GetObjectItemCaseSensitive(j, "members"), *w = cJSON_GetObjectItemCaseSensitive(j, "weights"),
                *st = cJSON_GetObjectItemCaseSensitive(j, "stack"), *tk = cJSON_GetObjectItemCaseSensitive(j, "top_k"),
                *th = cJSON_GetObjectItemCaseSensitive(j, "threshold"), *vm = cJSON_GetObjectItemCaseSensitive(j, "vote_mass"),
                *in = cJSON_GetObjectItemCaseSensitive(j, "inputs"), *de = cJSON_GetObjectItemCaseSensitive(j, "decode"),
                *vmem = cJSON_GetObjectItemCaseSensitive(j, "viterbi_member"), *tu = cJSON_GetObjectItemCaseSensitive(j, "tuning");
    lmf_tagfuse_opts o;
    lmf_tagfuse_opts_init(&o);
    const int ci = cJSON_IsString(comb) ? lmf_combiner_parse(comb->valuestring) : -1;
    const int K = cJSON_IsArray(mem) ? cJSON_GetArraySize(mem) : 0;
    lmf_tagger *m[LMF_FUSE_MAX_MEMBERS] = {0};
    char *paths[LMF_FUSE_MAX_MEMBERS] = {0};
    double *buf = NULL;
    char *dir = lmf_path_dir(path);
    if (!dir) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    else if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "tagger fusion"))
        s = lmf_error(LMF_ERR_FORMAT, "%s: not a tagger fusion recipe (\"lmfuse\": \"tagger fusion\" missing)", path);
    else if (ci < 0 || ci == LMF_COMB_GATE)
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"combiner\" must name a combiner (linear, loglinear, max, bayes, vote, stack)", path);
    else if (K < 1 || K > LMF_FUSE_MAX_MEMBERS)
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"members\" must list 1..%d tagger files", path, LMF_FUSE_MAX_MEMBERS);
    if (!s) o.comb.comb = (lmf_combiner)ci;
    if (!s && in && !(cJSON_IsString(in) && (!strcmp(in->valuestring, "distributions") || !strcmp(in->valuestring, "decisions"))))
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"inputs\" must be \"distributions\" or \"decisions\"", path);
    if (!s && in) o.decisions = !strcmp(in->valuestring, "decisions");
    if (!s && de && !(cJSON_IsString(de) && (!strcmp(de->valuestring, "token") || !strcmp(de->valuestring, "viterbi"))))
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"decode\" must be \"token\" or \"viterbi\"", path);
    if (!s && de && !strcmp(de->valuestring, "viterbi")) {
        if (!cJSON_IsNumber(vmem) || vmem->valuedouble < 1 || vmem->valuedouble > K || vmem->valuedouble != floor(vmem->valuedouble))
            s = lmf_error(LMF_ERR_FORMAT, "%s: \"decode\": \"viterbi\" needs \"viterbi_member\", an HMM member's number 1..%d", path, K);
        else o.viterbi = (int)vmem->valuedouble;
    }
    int k = 0;
    load_depth++;
    for (const cJSON *e = s ? NULL : mem->child; !s && e; e = e->next, k++) {
        if (!cJSON_IsString(e) || !e->valuestring[0]) {
            s = lmf_error(LMF_ERR_FORMAT, "%s: member %d is not a file name", path, k + 1);
            break;
        }
        paths[k] = e->valuestring[0] == '/' ? lmf_strdup(e->valuestring) : lmf_path_join(dir, e->valuestring);
        if (!paths[k]) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else if ((s = lmf_tagger_load(paths[k], &m[k]))) s = lmf_error(s, "%s: member %d: %s", path, k + 1, lmf_last_error());
    }
    load_depth--;
    const int T = !s ? m[0]->tags.n : 0;
    const size_t nw = (size_t)T * (size_t)K * (size_t)T;
    if (!s && !(buf = (double *)lmf_malloc(((size_t)K + nw + (size_t)T) * sizeof *buf))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && w && !lmf_json_numbers(w, (size_t)K, buf)) s = lmf_error(LMF_ERR_FORMAT, "%s: \"weights\" must be %d finite numbers", path, K);
    if (!s && w) o.comb.weights = buf;
    if (!s && tk && (!cJSON_IsNumber(tk) || tk->valuedouble < 1 || tk->valuedouble > 1e6))
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"top_k\" must be a whole number 1..1000000", path);
    if (!s && tk) o.comb.top_k = (int)tk->valuedouble;
    if (!s && th && !cJSON_IsNumber(th)) s = lmf_error(LMF_ERR_FORMAT, "%s: \"threshold\" must be a number", path);
    if (!s && th) o.comb.threshold = th->valuedouble;
    if (!s && vm && !cJSON_IsNumber(vm)) s = lmf_error(LMF_ERR_FORMAT, "%s: \"vote_mass\" must be a number", path);
    if (!s && vm) o.comb.vote_mass = vm->valuedouble;
    lmf_stack_params sp;
    if (!s && o.comb.comb == LMF_COMB_STACK) {
        const cJSON *fe = cJSON_GetObjectItemCaseSensitive(st, "features");
        sp = (lmf_stack_params){T, buf + K, buf + K + nw, 0};
        if (!cJSON_IsObject(st) || !lmf_json_numbers(cJSON_GetObjectItemCaseSensitive(st, "W"), nw, buf + K) ||
            !lmf_json_numbers(cJSON_GetObjectItemCaseSensitive(st, "b"), (size_t)T, buf + K + nw))
            s = lmf_error(LMF_ERR_FORMAT, "%s: \"stack\" must be {\"W\": [%zu numbers], \"b\": [%d numbers]}", path, nw, T);
        else if (fe && !(cJSON_IsString(fe) && (!strcmp(fe->valuestring, "prob") || !strcmp(fe->valuestring, "logp"))))
            s = lmf_error(LMF_ERR_FORMAT, "%s: \"stack\": \"features\" must be \"prob\" or \"logp\"", path);
        else sp.logp = fe && !strcmp(fe->valuestring, "logp");
        o.comb.stack = &sp;
    }
    /* per-outcome votes and the pair-vote table */
    const cJSON *vf = cJSON_GetObjectItemCaseSensitive(j, "vote_for"), *va = cJSON_GetObjectItemCaseSensitive(j, "vote_against"),
                *pj = cJSON_GetObjectItemCaseSensitive(j, "pairs");
    double *vbuf = NULL, *pbuf = NULL;
    int64_t *pkey = NULL;
    int32_t *py = NULL;
    lmf_pairvote_params pv;
    const size_t KT = (size_t)K * (size_t)T;
    if (!s && (vf || va)) {
        if (!(vbuf = (double *)lmf_malloc(2 * KT * sizeof *vbuf))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else if (!vf || !lmf_json_numbers(vf, KT, vbuf) || (va && !lmf_json_numbers(va, KT, vbuf + KT)))
            s = lmf_error(LMF_ERR_FORMAT, "%s: \"vote_for\" (and \"vote_against\") must be %zu numbers each (members x tags)", path, KT);
        else o.comb.vote_for = vbuf, o.comb.vote_against = va ? vbuf + KT : NULL;
    }
    if (!s && pj) {
        const cJSON *jk = cJSON_GetObjectItemCaseSensitive(pj, "key"), *jp = cJSON_GetObjectItemCaseSensitive(pj, "ptr"),
                    *jy = cJSON_GetObjectItemCaseSensitive(pj, "y"), *jq = cJSON_GetObjectItemCaseSensitive(pj, "p");
        const int n = cJSON_IsArray(jk) ? cJSON_GetArraySize(jk) : -1, nn = cJSON_IsArray(jy) ? cJSON_GetArraySize(jy) : -1;
        if (n < 0 || nn < 0 || !(pbuf = (double *)lmf_malloc((2 * (size_t)n + 2 + 2 * (size_t)nn) * sizeof *pbuf)) ||
            !(pkey = (int64_t *)lmf_malloc((2 * (size_t)n + 1) * sizeof *pkey)) || !(py = (int32_t *)lmf_malloc(((size_t)nn + 1) * sizeof *py)))
            s = n < 0 || nn < 0 ? lmf_error(LMF_ERR_FORMAT, "%s: \"pairs\" must hold arrays \"key\", \"ptr\", \"y\", \"p\"", path)
                                : lmf_error(LMF_ERR_NOMEM, "out of memory");
        double *kv = NULL, *pv2 = NULL, *yv = NULL, *qv = NULL;
        if (!s) kv = pbuf, pv2 = pbuf + n, yv = pv2 + n + 1, qv = yv + nn;
        if (!s && (!lmf_json_numbers(jk, (size_t)n, kv) || !lmf_json_numbers(jp, (size_t)n + 1, pv2) || !lmf_json_numbers(jy, (size_t)nn, yv) || !lmf_json_numbers(jq, (size_t)nn, qv)))
            s = lmf_error(LMF_ERR_FORMAT, "%s: \"pairs\": key [n], ptr [n + 1], y [m], p [m] numbers", path);
        for (int e = 0; !s && e < n; e++) {
            if (!(kv[e] >= 0 && kv[e] < 9007199254740992.0 && kv[e] == floor(kv[e])))
                s = lmf_error(LMF_ERR_FORMAT, "%s: \"pairs\": key %d is not a whole number", path, e + 1);
            else pkey[e] = (int64_t)kv[e];
        }
        for (int e = 0; !s && e <= n; e++) {
            if (!(pv2[e] >= 0 && pv2[e] <= nn && pv2[e] == floor(pv2[e])))
                s = lmf_error(LMF_ERR_FORMAT, "%s: \"pairs\": offset %d is out of range", path, e + 1);
            else pkey[n + e] = (int64_t)pv2[e];
        }
        if (!s && pkey[n + n] != nn) s = lmf_error(LMF_ERR_FORMAT, "%s: \"pairs\": the offsets must end at %d", path, nn);
        for (int t = 0; !s && t < nn; t++) {
            if (!(yv[t] >= 0 && yv[t] < T && yv[t] == floor(yv[t]))) s = lmf_error(LMF_ERR_FORMAT, "%s: \"pairs\": tag %d out of range", path, t + 1);
            else py[t] = (int32_t)yv[t];
        }
        if (!s) {
            pv = (lmf_pairvote_params){n, pkey, pkey + n, py, qv};
            o.comb.pairs = &pv;
        }
    }
    char *tuning = !s && cJSON_IsObject(tu) ? cJSON_PrintUnformatted(tu) : NULL;
    if (!s) {
        s = lmf_tagger_fusion_new(m, (const char *const *)paths, K, &o, tuning, out);
        memset(m, 0, sizeof m); /* taken */
        if (s) s = lmf_error(s, "%s: %s", path, lmf_last_error());
    }
    free(tuning);
    for (int i = 0; i < K && i < LMF_FUSE_MAX_MEMBERS; i++) {
        lmf_tagger_free(m[i]);
        lmf_free(paths[i]);
    }
    lmf_free(buf);
    lmf_free(vbuf);
    lmf_free(pbuf);
    lmf_free(pkey);
    lmf_free(py);
    lmf_free(dir);
    cJSON_Delete(j);
    return s;
}

/* ---- fitting on held-out tagged text ---- */

/* van Halteren, Zavrel and Daelemans (2001)'s weighted votes from the
 * members' best tags on held-out tokens: TagPrecision (each member votes for
 * its tag x with its precision on x), Precision-Recall (and adds 1 - its
 * recall of y to every other tag y that the held-out text has), TagPair
 * (each pair of members votes with the distribution of the gold tag given
 * their two tags). */
typedef struct vh_tables {
    double *vf, *va;
    int64_t *key, *ptr;
    int32_t *y;
    double *p;
    lmf_pairvote_params pv;
} vh_tables;

static void vh_free(vh_tables *v) {
    lmf_free(v->vf);
    lmf_free(v->key);
    lmf_free(v->ptr);
    lmf_free(v->y);
    lmf_free(v->p);
    memset(v, 0, sizeof *v);
}

static int top1(const float *r, int T) {
    int g = 0;
    for (int c = 1; c < T; c++)
        if (r[c] > r[g]) g = c;
    return g;
}

static int cmp_i64pair(const void *a, const void *b) {
    const int64_t *x = (const int64_t *)a, *y = (const int64_t *)b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

static lmf_status fit_vh(int which, int K, int T, const float *const *lp, const int32_t *gold, size_t n, vh_tables *v,
                         lmf_comb_opts *o) {
    lmf_comb_opts_init(o);
    o->top_k = 1;
    o->vote_mass = 1;
    const size_t KT = (size_t)K * (size_t)T;
    if (which < 3) {
        double *tp = (double *)lmf_calloc(3 * KT, sizeof *tp), *pred = tp ? tp + KT : NULL, *gl = tp ? tp + 2 * KT : NULL;
        if (!tp || !(v->vf = (double *)lmf_malloc(2 * KT * sizeof *v->vf))) {
            lmf_free(tp);
            return lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
        for (int k = 0; k < K; k++) {
            double right = 0;
            for (size_t i = 0; i < n; i++) {
                const int x = top1(lp[k] + i * (size_t)T, T);
                pred[(size_t)k * T + x]++;
                gl[(size_t)k * T + gold[i]]++;
                if (x == gold[i]) tp[(size_t)k * T + x]++, right++;
            }
            /* a tag the member never chose on valid: its overall accuracy */
            const double acc = n ? right / (double)n : 0.5;
            for (int c = 0; c < T; c++) {
                const size_t j = (size_t)k * T + c;
                v->vf[j] = pred[j] > 0 ? tp[j] / pred[j] : acc;
                v->vf[KT + j] = gl[j] > 0 ? 1 - tp[j] / gl[j] : 0; /* no evidence about an absent tag: no vote */
            }
        }
        lmf_free(tp);
        v->va = which == 2 ? v->vf + KT : NULL;
        o->comb = LMF_COMB_VOTE;
        o->vote_for = v->vf;
        o->vote_against = v->va;
        return LMF_OK;
    }
    /* TagPair: (pair key, gold) for every pair and token, sorted, counted */
    const size_t np = (size_t)K * (size_t)(K - 1) / 2, rows = np * n;
    int64_t *kv = (int64_t *)lmf_malloc((rows ? rows : 1) * 2 * sizeof *kv);
    if (!kv) return lmf_error(LMF_ERR_NOMEM, "out of memory (pair votes)");
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        int tops[LMF_FUSE_MAX_MEMBERS];
        for (int k = 0; k < K; k++) tops[k] = top1(lp[k] + i * (size_t)T, T);
        for (int a = 0; a < K; a++)
            for (int b = a + 1; b < K; b++, r++) {
                kv[2 * r] = (((int64_t)a * K + b) * T + tops[a]) * T + tops[b];
                kv[2 * r + 1] = gold[i];
            }
    }
    if (rows) qsort(kv, rows, 2 * sizeof *kv, cmp_i64pair);
    size_t ne = 0, nt = 0;
    for (size_t i = 0; i < rows; i++) {
        ne += !i || kv[2 * i] != kv[2 * i - 2];
        nt += !i || kv[2 * i] != kv[2 * i - 2] || kv[2 * i + 1] != kv[2 * i - 1];
    }
    v->key = (int64_t *)lmf_malloc((ne ? ne : 1) * sizeof *v->key);
    v->ptr = (int64_t *)lmf_malloc((ne + 1) * sizeof *v->ptr);
    v->y = (int32_t *)lmf_malloc((nt ? nt : 1) * sizeof *v->y);
    v->p = (double *)lmf_malloc((nt ? nt : 1) * sizeof *v->p);
    if (!v->key || !v->ptr || !v->y || !v->p) {
        lmf_free(kv);
        return lmf_error(LMF_ERR_NOMEM, "out of memory (pair votes)");
    }
    size_t e = 0, t = 0, start = 0;
    v->ptr[0] = 0;
    for (size_t i = 0; i < rows; i++) {
        if (i && kv[2 * i] != kv[2 * i - 2]) { /* close entry e: counts -> probabilities */
            for (size_t q = (size_t)v->ptr[e]; q < t; q++) v->p[q] /= (double)(i - start);
            v->ptr[++e] = (int64_t)t;
            start = i;
        }
        if (i == start || kv[2 * i + 1] != kv[2 * i - 1]) {
            v->key[e] = kv[2 * i];
            v->y[t] = (int32_t)kv[2 * i + 1];
            v->p[t++] = 0;
        }
        v->p[t - 1] += 1;
    }
    if (rows) {
        for (size_t q = (size_t)v->ptr[e]; q < t; q++) v->p[q] /= (double)(rows - start);
        v->ptr[++e] = (int64_t)t;
    }
    lmf_free(kv);
    v->pv = (lmf_pairvote_params){(int64_t)e, v->key, v->ptr, v->y, v->p};
    o->comb = LMF_COMB_PAIRVOTE;
    o->pairs = &v->pv;
    return LMF_OK;
}

lmf_status lmf_tagger_fusion_fit(const char *method, lmf_tagger **members, const char *const *paths, int K,
                                 const lmf_tagged *valid, int decode_viterbi, lmf_tagger **out) {
    *out = NULL;
    lmf_status s = LMF_OK;
    /* van Halteren's votes: fitted here, combined by vote and pairvote */
    const int vh = !strcmp(method, "precision-vote") ? 1 : !strcmp(method, "precision-recall-vote") ? 2 : !strcmp(method, "pair-vote") ? 3 : 0;
    const int needs = vh ? LMF_CFUSE_NEEDS_VALID : lmf_cfuse_method_needs(method);
    if (needs < 0) s = lmf_error(LMF_ERR_ARG, "unknown fusion method \"%s\"", method);
    else if (needs & LMF_CFUSE_NEEDS_OOF)
        s = lmf_error(LMF_ERR_UNSUPPORTED, "fusion method %s needs out-of-fold outputs on train; for taggers use the "
                                           "held-out variant (blend, blend-full)", method);
    const int decisions = !s && (vh || !strcmp(method, "vote") || !strcmp(method, "weighted-vote"));
    int vmember = 0;
    for (int k = 0; k < K && decode_viterbi && !vmember; k++)
        if (members[k]->kind == LMF_TAGGER_HMM) vmember = k + 1;
    if (!s && decode_viterbi && !vmember) s = lmf_error(LMF_ERR_ARG, "Viterbi decoding takes an HMM member's transitions: none of the members is an HMM");
    /* a fusion with equal weights computes the members' inputs; the fit
     * then reads them from it */
    lmf_tagfuse_opts o;
    lmf_tagfuse_opts_init(&o);
    o.decisions = decisions;
    lmf_tagger *tmp = NULL;
    if (s) {
        for (int k = 0; k < K; k++) lmf_tagger_free(members[k]);
        return s;
    }
    if ((s = lmf_tagger_fusion_new(members, paths, K, &o, NULL, &tmp))) return s;
    tfuse *f = (tfuse *)tmp->impl;
    const int T = tmp->tags.n;
    const size_t n = valid ? lmf_tagged_ntok(valid) : 0;
    if (!valid && (needs & LMF_CFUSE_NEEDS_VALID)) s = lmf_error(LMF_ERR_ARG, "fusion method %s is fitted on held-out tagged text: give it (--valid)", method);
    int *y = NULL;
    size_t unseen = 0;
    float *lp[LMF_FUSE_MAX_MEMBERS] = {0};
    if (!s && valid) s = lmf_tag_ids(tmp, valid, &y, &unseen);
    for (int k = 0; k < K && !s; k++)
        if (!(lp[k] = (float *)lmf_malloc(n * (size_t)T * sizeof *lp[k]))) s = lmf_error(LMF_ERR_NOMEM, "out of memory (member outputs on %s)", lmf_tagged_path(valid));
    size_t m = 0; /* rows kept: tokens whose tag the members know */
    for (size_t i = 0; valid && i < lmf_tagged_nsent(valid) && !s; i++) {
        size_t a, b;
        lmf_tagged_sentence(valid, i, &a, &b);
        if (b - a > tmp->max_len) {
            s = lmf_error(LMF_ERR_DATA, "%s line %zu: a sentence of %zu tokens; the members take at most %zu", lmf_tagged_path(valid),
                          lmf_tagged_line(valid, a), b - a, tmp->max_len);
            break;
        }
        if ((s = members_run(f, lmf_tagged_words(valid) + a, b - a))) break;
        for (size_t r = a; r < b; r++) {
            if (y[r] < 0) continue;
            for (int k = 0; k < K; k++) memcpy(lp[k] + m * T, f->d + ((size_t)k * f->cap + (r - a)) * T, (size_t)T * sizeof(float));
            y[m++] = y[r];
        }
    }
    lmf_cfuse_fit fit;
    memset(&fit, 0, sizeof fit);
    vh_tables vt;
    memset(&vt, 0, sizeof vt);
    if (!s && vh) s = fit_vh(vh, K, T, (const float *const *)lp, y, m, &vt, &fit.o);
    else if (!s) s = lmf_cfuse_fit_method(method, K, T, (const float *const *)lp, y, m, NULL, NULL, 0, NULL, &fit);
    for (int k = 0; k < K; k++) lmf_free(lp[k]);
    lmf_free(y);
    /* the members move to the fitted fusion */
    lmf_tagger *mm[LMF_FUSE_MAX_MEMBERS];
    for (int k = 0; k < K; k++) mm[k] = f->m[k], f->m[k] = NULL;
    lmf_tagger_free(tmp);
    if (s) {
        for (int k = 0; k < K; k++) lmf_tagger_free(mm[k]);
        return s;
    }
    o.comb = fit.o;
    o.viterbi = vmember;
    char tuning[256];
    snprintf(tuning, sizeof tuning, "{\"method\": \"%s\", \"valid\": \"%s\", \"tokens\": %zu, \"unseen_tags\": %zu}", method,
             valid ? lmf_tagged_path(valid) : "", m, unseen);
    cJSON *tj = cJSON_Parse(tuning); /* a path with quotes would break the text: then no record */
    s = lmf_tagger_fusion_new(mm, paths, K, &o, tj ? tuning : NULL, out);
    cJSON_Delete(tj);
    if (vh) vh_free(&vt);
    else lmf_cfuse_fit_free(&fit);
    return s;
}
