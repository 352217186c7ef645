/* Fusion of classifiers (lmf/classify.h): members' class distributions
 * combined per document by a combiner of lmf/comb.h, the same code that
 * fuses next-token distributions.  File fields (besides the frame of
 * classifier.c):
 *   "combiner": name, "members": [classifier files, relative to this one],
 *   "weights": [K], "top_k", "threshold", "vote_mass",
 *   "stack": {"W": [C x KC], "b": [C], "features": "prob" | "logp" (absent:
 *   prob)}, "tuning": {...} (kept, not read). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "classify_impl.h"
#include "../core/json_impl.h"
#include "../core/util_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cfuse {
    lmf_classifier base; /* must be first */
    int K;
    lmf_classifier **m;
    char **paths;    /* members' files (NULL entries: none) */
    lmf_comb *comb;
    lmf_comb_opts o; /* weights and parameters below, owned */
    double *w, *sW, *sb;
    int slogp;       /* stack: features ln p */
    char *tuning;    /* JSON text or NULL */
} cfuse;

static void cf_free(lmf_classifier *c) {
    cfuse *f = (cfuse *)c;
    for (int k = 0; k < f->K; k++) {
        lmf_classifier_free(f->m[k]);
        if (f->paths) lmf_free(f->paths[k]);
    }
    lmf_free(f->m);
    lmf_free(f->paths);
    lmf_comb_free(f->comb);
    lmf_free(f->w);
    lmf_free(f->sW);
    lmf_free(f->tuning);
    lmf_classifier_base_free(c);
    lmf_free(f);
}

static void cf_describe(const lmf_classifier *c, char *buf, size_t n) {
    const cfuse *f = (const cfuse *)c;
    size_t k = (size_t)snprintf(buf, n, "%s fusion of %d classifiers", lmf_combiner_name(f->o.comb), f->K);
    if (f->o.comb != LMF_COMB_STACK && k < n) {
        const double *w = lmf_comb_weights(f->comb);
        k += (size_t)snprintf(buf + k, n - k, " (weights");
        for (int i = 0; i < f->K && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%.4g", i ? ", " : " ", w[i]);
        if (k < n) snprintf(buf + k, n - k, ")");
    }
}

static lmf_status cf_predict(lmf_classifier *c, const lmf_docs *d, float *logp, lmf_progress_fn progress,
                             void *user) {
    cfuse *f = (cfuse *)c;
    const size_t C = (size_t)c->C, nC = d->n * C;
    float *all = (float *)lmf_malloc((size_t)f->K * nC * sizeof *all + 1);
    lmf_comb_state *cs = lmf_comb_state_new(f->comb);
    lmf_status s = all && cs ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int k = 0; k < f->K && !s; k++) {
        s = lmf_classifier_predict(f->m[k], d, all + (size_t)k * nC, NULL, NULL);
        if (progress) progress(user, (double)(k + 1), (double)f->K);
    }
    for (size_t i = 0; i < d->n && !s; i++) {
        lmf_comb_state_reset(f->comb, cs); /* documents are independent */
        lmf_comb_combine(f->comb, cs, all + i * C, nC, NULL, logp + i * C);
    }
    lmf_comb_state_free(cs);
    lmf_free(all);
    return s;
}

int lmf_cfuse_members(const lmf_classifier *c, lmf_classifier *const **members) {
    if (strcmp(c->ops->kind, "fusion")) {
        *members = NULL;
        return 0;
    }
    const cfuse *f = (const cfuse *)c;
    *members = f->m;
    return f->K;
}

static lmf_status cf_refit(const lmf_classifier *c, const lmf_docs *train, const lmf_docs *valid,
                           lmf_classifier **out) {
    const cfuse *f = (const cfuse *)c;
    lmf_classifier *m[LMF_FUSE_MAX_MEMBERS] = {0};
    lmf_status s = LMF_OK;
    for (int k = 0; k < f->K && !s; k++) s = lmf_classifier_refit(f->m[k], train, valid, &m[k]);
    if (s) {
        for (int k = 0; k < f->K; k++) lmf_classifier_free(m[k]);
        return s;
    }
    lmf_comb_opts o = f->o; /* the same combiner and parameters over the members trained again */
    o.weights = f->w;
    lmf_stack_params sp = {c->C, f->sW, f->sb, f->slogp};
    if (f->sW) o.stack = &sp;
    return lmf_cfuse_new(m, NULL, f->K, &o, f->tuning, out);
}

static const lmf_classifier_ops fusion_ops;

lmf_status lmf_cfuse_new(lmf_classifier **members, const char *const *paths, int K, const lmf_comb_opts *o,
                         const char *tuning_json, lmf_classifier **out) {
    *out = NULL;
    lmf_status s = LMF_OK;
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS)
        s = lmf_error(LMF_ERR_ARG, "a fusion needs 1..%d members (got %d)", LMF_FUSE_MAX_MEMBERS, K);
    for (int k = 0; !s && k < K; k++) {
        if (!members[k]) {
            s = lmf_error(LMF_ERR_ARG, "member %d is missing", k + 1);
            break;
        }
        int same = members[k]->C == members[0]->C;
        for (int c = 0; same && c < members[0]->C; c++) same = !strcmp(members[k]->names[c], members[0]->names[c]);
        if (!same)
            s = lmf_error(LMF_ERR_DATA,
                          "members 1 and %d were trained on different label sets (%d and %d classes%s); train every "
                          "member on the same training file",
                          k + 1, members[0]->C, members[k]->C, members[k]->C == members[0]->C ? ", other names" : "");
    }
    if (!s && o->comb == LMF_COMB_GATE)
        s = lmf_error(LMF_ERR_ARG, "a gate is fitted on text positions; for classes its counterpart is stack (a "
                                   "meta-model over the members' probabilities)");
    if (!s && o->comb == LMF_COMB_CASCADE)
        s = lmf_error(LMF_ERR_ARG, "a cascade proposes candidates for a rescorer; for classes use vote, linear, "
                                   "loglinear, max, gate or stack");
    cfuse *f = s ? NULL : (cfuse *)lmf_calloc(1, sizeof *f);
    if (!s && !f) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) {
        for (int k = 0; k < K; k++) lmf_classifier_free(members[k]);
        return s;
    }
    const int C = members[0]->C;
    f->base.ops = &fusion_ops;
    f->m = (lmf_classifier **)lmf_calloc((size_t)K, sizeof *f->m);
    f->paths = (char **)lmf_calloc((size_t)K, sizeof *f->paths);
    if (!f->m || !f->paths) {
        for (int k = 0; k < K; k++) lmf_classifier_free(members[k]);
        cf_free(&f->base);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    f->K = K;
    for (int k = 0; k < K; k++) f->m[k] = members[k];
    s = lmf_classifier_set_names(&f->base, (const char *const *)members[0]->names, C);
    f->o = *o;
    if (!s) s = lmf_comb_new(o, K, C, &f->comb);
    if (!s) { /* keep the settings for saving and refitting */
        f->w = (double *)lmf_malloc((size_t)K * sizeof *f->w);
        if (!f->w) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else memcpy(f->w, o->weights ? o->weights : lmf_comb_weights(f->comb), (size_t)K * sizeof *f->w);
        f->o.weights = f->w;
        f->o.gate = NULL; /* a gate over classes is fitted by the LM tuner only: not kept */
        f->o.stack = NULL;
    }
    if (!s && o->comb == LMF_COMB_STACK) {
        size_t nw = (size_t)C * (size_t)K * (size_t)C;
        f->sW = (double *)lmf_malloc((nw + (size_t)C) * sizeof *f->sW);
        if (!f->sW) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else {
            f->sb = f->sW + nw;
            memcpy(f->sW, o->stack->W, nw * sizeof *f->sW);
            memcpy(f->sb, o->stack->b, (size_t)C * sizeof *f->sb);
            f->slogp = o->stack->logp != 0;
        }
    }
    for (int k = 0; !s && paths && k < K; k++)
        if (paths[k] && !(f->paths[k] = lmf_strdup(paths[k]))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && tuning_json && !(f->tuning = lmf_strdup(tuning_json))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) {
        cf_free(&f->base);
        return s;
    }
    *out = &f->base;
    return LMF_OK;
}

/* ---- files ---- */

static lmf_status cf_save(const lmf_classifier *c, const char *path, cJSON *j) {
    const cfuse *f = (const cfuse *)c;
    cJSON *mem = cJSON_AddArrayToObject(j, "members");
    if (!mem || !cJSON_AddStringToObject(j, "combiner", lmf_combiner_name(f->o.comb)))
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = LMF_OK;
    for (int k = 0; k < f->K && !s; k++) {
        char *ref = NULL;
        if (f->paths[k]) {
            ref = realpath(f->paths[k], NULL);
            if (!ref) s = lmf_error(LMF_ERR_IO, "%s: member %d's file is gone", f->paths[k], k + 1);
        } else { /* saved next to this file */
            size_t n = strlen(path) + 32;
            char *side = (char *)lmf_malloc(n);
            if (!side) return lmf_error(LMF_ERR_NOMEM, "out of memory");
            snprintf(side, n, "%s.member%d.json", path, k + 1);
            s = lmf_classifier_save(f->m[k], side);
            const char *sl = strrchr(side, '/');
            if (!s && !(ref = strdup(sl ? sl + 1 : side))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            lmf_free(side);
        }
        if (!s && !cJSON_AddItemToArray(mem, cJSON_CreateString(ref))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        free(ref);
    }
    if (!s) s = lmf_json_add_numbers(j, "weights", f->w, (size_t)f->K);
    if (!s && f->o.comb == LMF_COMB_VOTE &&
        (!cJSON_AddNumberToObject(j, "top_k", f->o.top_k ? f->o.top_k : 10) ||
         !cJSON_AddNumberToObject(j, "threshold", f->o.threshold) ||
         !cJSON_AddNumberToObject(j, "vote_mass", f->o.vote_mass)))
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && f->sW) {
        cJSON *st = cJSON_AddObjectToObject(j, "stack");
        const size_t C = (size_t)c->C;
        s = st ? lmf_json_add_numbers(st, "W", f->sW, C * (size_t)f->K * C) : lmf_error(LMF_ERR_NOMEM, "out of memory");
        if (!s) s = lmf_json_add_numbers(st, "b", f->sb, C);
        if (!s && !cJSON_AddStringToObject(st, "features", f->slogp ? "logp" : "prob"))
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    if (!s && f->tuning) {
        cJSON *t = cJSON_Parse(f->tuning);
        if (!t || !cJSON_AddItemToObject(j, "tuning", t)) {
            cJSON_Delete(t);
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
    }
    return s;
}

/* n finite numbers from array a into v. */

lmf_status lmf_cfuse_load(const cJSON *j, const char *path, const char *dir, lmf_model_loader_fn load_model,
                          void *user, int depth, char **names, int C, lmf_classifier **out) {
    const cJSON *comb = cJSON_GetObjectItemCaseSensitive(j, "combiner"), *mem = cJSON_GetObjectItemCaseSensitive(j, "members"),
                *w = cJSON_GetObjectItemCaseSensitive(j, "weights"), *st = cJSON_GetObjectItemCaseSensitive(j, "stack"),
                *tk = cJSON_GetObjectItemCaseSensitive(j, "top_k"), *th = cJSON_GetObjectItemCaseSensitive(j, "threshold"),
                *vm = cJSON_GetObjectItemCaseSensitive(j, "vote_mass"), *tu = cJSON_GetObjectItemCaseSensitive(j, "tuning");
    int ci = cJSON_IsString(comb) ? lmf_combiner_parse(comb->valuestring) : -1;
    int K = cJSON_IsArray(mem) ? cJSON_GetArraySize(mem) : 0;
    if (ci < 0) return lmf_error(LMF_ERR_FORMAT, "%s: \"combiner\" must name a combiner (linear, loglinear, max, vote, stack)", path);
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS)
        return lmf_error(LMF_ERR_FORMAT, "%s: \"members\" must list 1..%d classifier files", path, LMF_FUSE_MAX_MEMBERS);
    lmf_comb_opts o;
    lmf_comb_opts_init(&o);
    o.comb = (lmf_combiner)ci;
    const size_t nw = (size_t)C * (size_t)K * (size_t)C;
    double *buf = (double *)lmf_malloc(((size_t)K + nw + (size_t)C) * sizeof *buf);
    lmf_classifier *m[LMF_FUSE_MAX_MEMBERS] = {0};
    char *paths[LMF_FUSE_MAX_MEMBERS] = {0};
    lmf_status s = buf ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && w && !lmf_json_numbers(w, (size_t)K, buf)) s = lmf_error(LMF_ERR_FORMAT, "%s: \"weights\" must be %d finite numbers", path, K);
    if (!s && w) o.weights = buf;
    if (!s && tk && (!cJSON_IsNumber(tk) || tk->valuedouble < 1 || tk->valuedouble > 1e6))
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"top_k\" must be a whole number 1..1000000", path);
    if (!s && tk) o.top_k = (int)tk->valuedouble;
    if (!s && th && !cJSON_IsNumber(th)) s = lmf_error(LMF_ERR_FORMAT, "%s: \"threshold\" must be a number", path);
    if (!s && th) o.threshold = th->valuedouble;
    if (!s && vm && !cJSON_IsNumber(vm)) s = lmf_error(LMF_ERR_FORMAT, "%s: \"vote_mass\" must be a number", path);
    if (!s && vm) o.vote_mass = vm->valuedouble;
    lmf_stack_params sp = {C, buf + K, buf + K + nw, 0};
    if (!s && o.comb == LMF_COMB_STACK) {
        const cJSON *fe = cJSON_GetObjectItemCaseSensitive(st, "features");
        if (!cJSON_IsObject(st) || !lmf_json_numbers(cJSON_GetObjectItemCaseSensitive(st, "W"), nw, buf + K) ||
            !lmf_json_numbers(cJSON_GetObjectItemCaseSensitive(st, "b"), (size_t)C, buf + K + nw))
            s = lmf_error(LMF_ERR_FORMAT, "%s: \"stack\" must be {\"W\": [%zu numbers], \"b\": [%d numbers]}", path, nw, C);
        else if (fe && !(cJSON_IsString(fe) && (!strcmp(fe->valuestring, "prob") || !strcmp(fe->valuestring, "logp"))))
            s = lmf_error(LMF_ERR_FORMAT, "%s: \"stack\": \"features\" must be \"prob\" or \"logp\"", path);
        else sp.logp = fe && !strcmp(fe->valuestring, "logp");
        o.stack = &sp;
    }
    int k = 0;
    for (const cJSON *e = mem->child; !s && e; e = e->next, k++) {
        if (!cJSON_IsString(e) || !e->valuestring[0]) {
            s = lmf_error(LMF_ERR_FORMAT, "%s: member %d is not a file name", path, k + 1);
            break;
        }
        paths[k] = e->valuestring[0] == '/' ? lmf_strdup(e->valuestring) : lmf_path_join(dir, e->valuestring);
        if (!paths[k]) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else if ((s = lmf_classifier_load_depth(paths[k], load_model, user, depth + 1, &m[k])))
            s = lmf_error(s, "%s: member %d: %s", path, k + 1, lmf_last_error());
        else if (m[k]->C != C)
            s = lmf_error(LMF_ERR_FORMAT, "%s: member %d (%s) has %d classes, the fusion %d", path, k + 1, paths[k],
                          m[k]->C, C);
        for (int c = 0; !s && c < C; c++)
            if (strcmp(m[k]->names[c], names[c]))
                s = lmf_error(LMF_ERR_FORMAT, "%s: member %d (%s) names class %d \"%s\", the fusion \"%s\"", path, k + 1,
                              paths[k], c + 1, m[k]->names[c], names[c]);
    }
    char *tuning = !s && cJSON_IsObject(tu) ? cJSON_PrintUnformatted(tu) : NULL;
    if (!s) {
        s = lmf_cfuse_new(m, (const char *const *)paths, K, &o, tuning, out);
        memset(m, 0, sizeof m); /* taken */
        if (s) s = lmf_error(s, "%s: %s", path, lmf_last_error());
    }
    free(tuning);
    for (int i = 0; i < K; i++) {
        lmf_classifier_free(m[i]);
        lmf_free(paths[i]);
    }
    lmf_free(buf);
    return s;
}

static const lmf_classifier_ops fusion_ops = {
    .kind = "fusion",
    .free = cf_free,
    .describe = cf_describe,
    .predict = cf_predict,
    .refit = cf_refit,
    .save = cf_save,
};
