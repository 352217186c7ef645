/* Rescorers (lmf/rescore.h): the models that add features to n-best lists,
 * the lattice search settings, the feature weights, and their JSON file. */
#define _XOPEN_SOURCE 700
#include "lmf/rescore.h"

#include "rescore_impl.h"
#include "../core/json_impl.h"
#include "../core/util_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lmf_rescorer {
    int K;
    char *name[LMF_RESCORE_MAX_MODELS], *path[LMF_RESCORE_MAX_MODELS];
    lmf_model *m[LMF_RESCORE_MAX_MODELS];
    int context;     /* words of earlier output the models read first (lmf_nbest_add_model_ctx) */
    double mbr_scale; /* > 0: decide by minimum Bayes risk (lmf_rescore_mbr) over the mbr_top best */
    int mbr_top;
    char *lat_path;  /* the lattice search's model (NULL: none) */
    lmf_model *lat_m;
    lmf_lattice_opts lo;
    int nw;
    char *wname[LMF_NBEST_MAX_FEATS];
    double w[LMF_NBEST_MAX_FEATS];
    char format[16];
    lmf_metric metric;
};

void lmf_rescorer_free(lmf_rescorer *r) {
    if (!r) return;
    for (int k = 0; k < r->K; k++) {
        lmf_free(r->name[k]);
        lmf_free(r->path[k]);
        lmf_model_free(r->m[k]);
    }
    for (int i = 0; i < r->nw; i++) lmf_free(r->wname[i]);
    lmf_free(r->lat_path);
    lmf_model_free(r->lat_m);
    lmf_free(r);
}

static int name_ok(const char *s) {
    if (!*s || strlen(s) > 64) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

lmf_status lmf_rescorer_new(const char *const *names, const char *const *paths, int K, const char *lattice_lm,
                            const lmf_lattice_opts *lo, lmf_rescorer **out) {
    *out = NULL;
    if (K < 0 || K > LMF_RESCORE_MAX_MODELS)
        return lmf_error(LMF_ERR_ARG, "rescoring: 0..%d models, not %d", LMF_RESCORE_MAX_MODELS, K);
    for (int k = 0; k < K; k++) {
        if (!name_ok(names[k]))
            return lmf_error(LMF_ERR_ARG, "rescoring: model name \"%s\" must be 1..64 letters, digits, '.', '_' or '-'", names[k]);
        for (int j = 0; j < k; j++)
            if (!strcmp(names[j], names[k])) return lmf_error(LMF_ERR_ARG, "rescoring: two models are named \"%s\"", names[k]);
    }
    lmf_rescorer *r = (lmf_rescorer *)lmf_calloc(1, sizeof *r);
    if (!r) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (lo) r->lo = *lo;
    else lmf_lattice_opts_init(&r->lo);
    r->lo.lm = NULL;
    lmf_status st = LMF_OK;
    if (lattice_lm) {
        if (!(r->lat_path = lmf_strdup(lattice_lm))) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else if ((st = lmf_model_load(lattice_lm, &r->lat_m))) st = lmf_error(st, "the lattice model: %s", lmf_last_error());
        else if (lmf_vocab_mode(lmf_model_vocab(r->lat_m)) != LMF_TOK_WORD)
            st = lmf_error(LMF_ERR_UNSUPPORTED, "the lattice model %s predicts characters or bytes; a word model is needed", lattice_lm);
    }
    for (int k = 0; k < K && !st; k++) {
        r->K = k + 1;
        if (!(r->name[k] = lmf_strdup(names[k])) || !(r->path[k] = lmf_strdup(paths[k]))) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else if ((st = lmf_model_load(paths[k], &r->m[k]))) st = lmf_error(st, "model %s: %s", names[k], lmf_last_error());
        else if (lmf_vocab_mode(lmf_model_vocab(r->m[k])) != LMF_TOK_WORD)
            st = lmf_error(LMF_ERR_UNSUPPORTED, "model %s (%s) predicts characters or bytes; rescoring needs word models", names[k], paths[k]);
    }
    if (st) {
        lmf_rescorer_free(r);
        return st;
    }
    *out = r;
    return LMF_OK;
}

lmf_status lmf_rescorer_read(lmf_rescorer *r, const char *lists, lmf_nbest *out) {
    lmf_lattice_opts lo = r->lo;
    lo.lm = r->lat_m;
    lmf_status st = lmf_nbest_read(lists, &lo, out);
    for (int k = 0; !st && k < r->K; k++) st = lmf_nbest_add_model_ctx(out, r->m[k], r->name[k], r->context);
    if (st && out->words) lmf_nbest_free(out);
    return st;
}

static int weight_index(const lmf_rescorer *r, const char *name) {
    for (int i = 0; i < r->nw; i++)
        if (!strcmp(r->wname[i], name)) return i;
    return -1;
}

lmf_status lmf_rescorer_weights(const lmf_rescorer *r, const lmf_nbest *nb, double *w) {
    if (r->format[0] && strcmp(r->format, nb->format))
        return lmf_error(LMF_ERR_DATA, "the weights were tuned on %s lists and these are %s lists: tune on lists of the "
                                       "format you rescore", r->format, nb->format);
    for (int f = 0; f < nb->nfeat; f++) w[f] = 0;
    for (int i = 0; i < r->nw; i++) {
        int f = -1;
        for (int g = 0; g < nb->nfeat; g++)
            if (!strcmp(nb->feat[g], r->wname[i])) f = g;
        if (f < 0 && r->w[i] != 0)
            return lmf_error(LMF_ERR_DATA, "the weights give feature \"%s\" weight %g, and these lists have no such feature", r->wname[i], r->w[i]);
        if (f >= 0) w[f] = r->w[i];
    }
    return LMF_OK;
}

lmf_status lmf_rescorer_set_weights(lmf_rescorer *r, const lmf_nbest *nb, const double *w, lmf_metric metric) {
    for (int i = 0; i < r->nw; i++) lmf_free(r->wname[i]);
    r->nw = 0;
    for (int f = 0; f < nb->nfeat; f++) {
        if (!(r->wname[f] = lmf_strdup(nb->feat[f]))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        r->w[f] = w[f];
        r->nw = f + 1;
    }
    snprintf(r->format, sizeof r->format, "%s", nb->format);
    r->metric = metric;
    return LMF_OK;
}

lmf_status lmf_rescorer_tune(lmf_rescorer *r, const lmf_nbest *dev, const lmf_refs *refs, const lmf_mert_opts *o,
                             double *dev_score) {
    double w[LMF_NBEST_MAX_FEATS] = {0};
    int fixed[LMF_NBEST_MAX_FEATS] = {0}, pinned = -1;
    static const char *const base[] = {"acoustic", "total", "score"};
    for (size_t b = 0; b < 3 && pinned < 0; b++)
        for (int f = 0; f < dev->nfeat; f++)
            if (!strcmp(dev->feat[f], base[b])) pinned = f;
    int nlm = 0;
    for (int f = 0; f < dev->nfeat; f++) nlm += !strncmp(dev->feat[f], "lm:", 3);
    for (int f = 0; f < dev->nfeat; f++) {
        if (f == pinned) w[f] = 1, fixed[f] = 1;
        else if (!strncmp(dev->feat[f], "lm:", 3)) w[f] = r->lo.lm_scale / (nlm ? nlm : 1);
    }
    lmf_mert_opts mo;
    if (o) mo = *o;
    else lmf_mert_opts_init(&mo);
    mo.fixed = pinned >= 0 ? fixed : NULL;
    lmf_status st = lmf_mert(dev, refs, &mo, w, dev_score);
    if (!st) st = lmf_rescorer_set_weights(r, dev, w, mo.metric);
    return st;
}

/* ---- file ---- */
static void put(cJSON *o, const char *key, cJSON *item) {
    if (!cJSON_AddItemToObject(o, key, item)) cJSON_Delete(item);
}

lmf_status lmf_rescorer_save(const lmf_rescorer *r, const char *path, const char *tuning_json) {
    lmf_json_init();
    char *dir = lmf_path_dir(path);
    char *rdir = dir ? realpath(dir, NULL) : NULL;
    lmf_free(dir);
    if (!rdir) return lmf_error(LMF_ERR_IO, "%s: its folder does not exist", path);
    uint64_t fails = lmf_json_failures();
    cJSON *j = cJSON_CreateObject();
    lmf_status st = j ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!st) {
        put(j, "lmfuse", cJSON_CreateString("rescore"));
        put(j, "format", cJSON_CreateString(r->format));
        put(j, "metric", cJSON_CreateString(r->metric == LMF_METRIC_BLEU ? "bleu" : "wer"));
        put(j, "context", cJSON_CreateNumber(r->context));
        if (r->mbr_scale > 0) {
            cJSON *mb = cJSON_CreateObject();
            if (mb) {
                put(mb, "scale", cJSON_CreateNumber(r->mbr_scale));
                put(mb, "top", cJSON_CreateNumber(r->mbr_top));
            }
            put(j, "mbr", mb);
        }
        cJSON *ms = cJSON_CreateArray();
        for (int k = 0; ms && k < r->K && !st; k++) {
            char *abs = realpath(r->path[k], NULL), *rel = abs ? lmf_path_rel(abs, rdir) : NULL;
            if (!abs) st = lmf_error(LMF_ERR_IO, "%s: cannot resolve the model's path", r->path[k]);
            cJSON *m = cJSON_CreateObject();
            if (m) {
                put(m, "name", cJSON_CreateString(r->name[k]));
                put(m, "path", cJSON_CreateString(rel ? rel : ""));
                if (!cJSON_AddItemToArray(ms, m)) cJSON_Delete(m);
            }
            free(abs);
            lmf_free(rel);
        }
        put(j, "models", ms);
        cJSON *l = cJSON_CreateObject();
        if (l) {
            char *abs = r->lat_path ? realpath(r->lat_path, NULL) : NULL, *rel = abs ? lmf_path_rel(abs, rdir) : NULL;
            if (r->lat_path && !abs) st = lmf_error(LMF_ERR_IO, "%s: cannot resolve the lattice model's path", r->lat_path);
            put(l, "model", rel ? cJSON_CreateString(rel) : cJSON_CreateNull());
            free(abs);
            lmf_free(rel);
            put(l, "lm_scale", cJSON_CreateNumber(r->lo.lm_scale));
            put(l, "wip", cJSON_CreateNumber(r->lo.wip));
            put(l, "beam", cJSON_CreateNumber(r->lo.beam));
            put(l, "nbest", cJSON_CreateNumber(r->lo.nbest));
        }
        put(j, "lattice", l);
        cJSON *w = cJSON_CreateObject();
        for (int i = 0; w && i < r->nw; i++) put(w, r->wname[i], cJSON_CreateNumber(r->w[i]));
        put(j, "weights", w);
        if (tuning_json) {
            cJSON *t = NULL;
            if (lmf_json_parse(tuning_json, strlen(tuning_json), NULL, &t)) st = lmf_error(LMF_ERR_ARG, "the tuning record is not JSON");
            else put(j, "tuning", t);
        }
    }
    free(rdir);
    if (!st && lmf_json_failures() != fails) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (st) {
        cJSON_Delete(j);
        return st;
    }
    return lmf_json_save(path, j);
}

lmf_status lmf_rescorer_load(const char *path, lmf_rescorer **out) {
    *out = NULL;
    lmf_filebuf fb;
    lmf_status st = lmf_file_read(path, &fb);
    if (st) return st;
    cJSON *j = NULL;
    const char *end = NULL;
    st = lmf_json_parse(fb.data, fb.size, &end, &j);
    if (st == LMF_ERR_FORMAT) {
        size_t line = 1;
        for (const char *p = fb.data; end && p < end; p++) line += *p == '\n';
        st = lmf_error(st, "%s line %zu: not valid JSON (a rescorer file is written by lmfuse rescore tune)", path, line);
    }
    lmf_filebuf_free(&fb);
    if (st) return st;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "lmfuse"), *fmt = cJSON_GetObjectItemCaseSensitive(j, "format"),
                *met = cJSON_GetObjectItemCaseSensitive(j, "metric"), *ms = cJSON_GetObjectItemCaseSensitive(j, "models"),
                *lat = cJSON_GetObjectItemCaseSensitive(j, "lattice"), *ws = cJSON_GetObjectItemCaseSensitive(j, "weights");
    const char *names[LMF_RESCORE_MAX_MODELS];
    char *paths[LMF_RESCORE_MAX_MODELS] = {0};
    int K = 0;
    lmf_lattice_opts lo;
    lmf_lattice_opts_init(&lo);
    char *dir = lmf_path_dir(path);
    if (!dir) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
    else if (!cJSON_IsObject(j) || !cJSON_IsString(kind) || strcmp(kind->valuestring, "rescore"))
        st = lmf_error(LMF_ERR_FORMAT, "%s: not a rescorer file (\"lmfuse\": \"rescore\" is missing)", path);
    else if (!cJSON_IsString(fmt) || strlen(fmt->valuestring) >= 16)
        st = lmf_error(LMF_ERR_FORMAT, "%s: \"format\" must name the lists' format (slf, srilm, moses, plain, ...)", path);
    else if (!cJSON_IsString(met) || (strcmp(met->valuestring, "wer") && strcmp(met->valuestring, "bleu")))
        st = lmf_error(LMF_ERR_FORMAT, "%s: \"metric\" must be \"wer\" or \"bleu\"", path);
    else if (!cJSON_IsArray(ms) || cJSON_GetArraySize(ms) > LMF_RESCORE_MAX_MODELS)
        st = lmf_error(LMF_ERR_FORMAT, "%s: \"models\" must list 0..%d {\"name\", \"path\"} objects", path, LMF_RESCORE_MAX_MODELS);
    else if (!cJSON_IsObject(ws) || !cJSON_IsObject(lat))
        st = lmf_error(LMF_ERR_FORMAT, "%s: \"weights\" and \"lattice\" must be objects", path);
    for (const cJSON *m = st ? NULL : ms->child; m && !st; m = m->next) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(m, "name"), *p = cJSON_GetObjectItemCaseSensitive(m, "path");
        if (!cJSON_IsString(n) || !cJSON_IsString(p) || !p->valuestring[0]) {
            st = lmf_error(LMF_ERR_FORMAT, "%s: model %d must be {\"name\": ..., \"path\": ...}", path, K + 1);
            break;
        }
        names[K] = n->valuestring;
        paths[K] = p->valuestring[0] == '/' ? lmf_strdup(p->valuestring) : lmf_path_join(dir, p->valuestring);
        if (!paths[K++]) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    char *lat_path = NULL;
    if (!st) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(lat, "model");
        if (cJSON_IsString(l) && l->valuestring[0]) {
            lat_path = l->valuestring[0] == '/' ? lmf_strdup(l->valuestring) : lmf_path_join(dir, l->valuestring);
            if (!lat_path) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
        } else if (l && !cJSON_IsNull(l)) {
            st = lmf_error(LMF_ERR_FORMAT, "%s: \"lattice\": \"model\" must be a model file or null", path);
        }
    }
    if (!st) st = lmf_json_num(cJSON_GetObjectItemCaseSensitive(lat, "lm_scale"), path, "\"lattice\": \"lm_scale\"", -1e6, 1e6, NULL, &lo.lm_scale);
    if (!st) st = lmf_json_num(cJSON_GetObjectItemCaseSensitive(lat, "wip"), path, "\"lattice\": \"wip\"", -1e6, 1e6, NULL, &lo.wip);
    if (!st) st = lmf_json_i32(cJSON_GetObjectItemCaseSensitive(lat, "beam"), path, "\"lattice\": \"beam\"", 1, 1000000, NULL, &lo.beam);
    if (!st) st = lmf_json_i32(cJSON_GetObjectItemCaseSensitive(lat, "nbest"), path, "\"lattice\": \"nbest\"", 1, 1000000, NULL, &lo.nbest);
    int context = 0;
    const cJSON *cx = cJSON_GetObjectItemCaseSensitive(j, "context");
    if (!st && cx) st = lmf_json_i32(cx, path, "\"context\"", 0, 100000, NULL, &context);
    lmf_rescorer *r = NULL;
    if (!st) st = lmf_rescorer_new(names, (const char *const *)paths, K, lat_path, &lo, &r);
    if (!st) r->context = context;
    const cJSON *mb = cJSON_GetObjectItemCaseSensitive(j, "mbr");
    if (!st && mb && !cJSON_IsNull(mb)) {
        if (!cJSON_IsObject(mb)) st = lmf_error(LMF_ERR_FORMAT, "%s: \"mbr\" must be {\"scale\": x, \"top\": n} or null", path);
        if (!st) st = lmf_json_num(cJSON_GetObjectItemCaseSensitive(mb, "scale"), path, "\"mbr\": \"scale\"", 1e-9, 1e9, NULL, &r->mbr_scale);
        if (!st) st = lmf_json_i32(cJSON_GetObjectItemCaseSensitive(mb, "top"), path, "\"mbr\": \"top\"", 1, 100000, NULL, &r->mbr_top);
    }
    if (st && !strstr(lmf_last_error(), path)) st = lmf_error(st, "%s: %s", path, lmf_last_error());
    for (const cJSON *w = st ? NULL : ws->child; w && !st; w = w->next) {
        if (r->nw == LMF_NBEST_MAX_FEATS) st = lmf_error(LMF_ERR_FORMAT, "%s: more than %d weights", path, LMF_NBEST_MAX_FEATS);
        else if (!cJSON_IsNumber(w) || !isfinite(w->valuedouble))
            st = lmf_error(LMF_ERR_FORMAT, "%s: weight \"%s\" is not a finite number", path, w->string);
        else if (weight_index(r, w->string) >= 0) st = lmf_error(LMF_ERR_FORMAT, "%s: weight \"%s\" given twice", path, w->string);
        else if (!(r->wname[r->nw] = lmf_strdup(w->string))) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else r->w[r->nw++] = w->valuedouble;
    }
    if (!st) {
        snprintf(r->format, sizeof r->format, "%s", fmt->valuestring);
        r->metric = strcmp(met->valuestring, "bleu") ? LMF_METRIC_WER : LMF_METRIC_BLEU;
    }
    for (int k = 0; k < K; k++) lmf_free(paths[k]);
    lmf_free(lat_path);
    lmf_free(dir);
    cJSON_Delete(j);
    if (st) {
        lmf_rescorer_free(r);
        return st;
    }
    *out = r;
    return LMF_OK;
}

lmf_status lmf_rescorer_set_context(lmf_rescorer *r, int words) {
    if (words < 0 || words > 100000) return lmf_error(LMF_ERR_ARG, "context: 0..100000 words, not %d", words);
    r->context = words;
    return LMF_OK;
}

lmf_status lmf_rescorer_decide(const lmf_rescorer *r, const lmf_nbest *nb, size_t *best) {
    double w[LMF_NBEST_MAX_FEATS];
    lmf_status st = lmf_rescorer_weights(r, nb, w);
    if (st) return st;
    if (r->mbr_scale > 0) return lmf_rescore_mbr(nb, w, r->mbr_scale, r->mbr_top, best);
    lmf_rescore_best(nb, w, best);
    return LMF_OK;
}

lmf_status lmf_rescorer_tune_mbr(lmf_rescorer *r, const lmf_nbest *dev, const lmf_refs *refs, int top, double *dev_wer) {
    static const double scales[] = {0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2};
    double w[LMF_NBEST_MAX_FEATS];
    size_t *best = (size_t *)lmf_malloc((dev->nutt ? dev->nutt : 1) * sizeof *best);
    if (!best) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status st = lmf_rescorer_weights(r, dev, w);
    lmf_errstats e;
    double bw = INFINITY, bs = 0;
    if (!st) {
        lmf_rescore_best(dev, w, best);
        lmf_rescore_stats(dev, refs, best, &e, NULL);
        bw = lmf_errstats_wer(&e);
    }
    for (size_t i = 0; !st && i < sizeof scales / sizeof *scales; i++) {
        if ((st = lmf_rescore_mbr(dev, w, scales[i], top, best))) break;
        lmf_rescore_stats(dev, refs, best, &e, NULL);
        if (lmf_errstats_wer(&e) < bw - 1e-12) bw = lmf_errstats_wer(&e), bs = scales[i];
    }
    lmf_free(best);
    if (st) return st;
    r->mbr_scale = bs; /* 0: the plain best score did at least as well */
    r->mbr_top = top;
    *dev_wer = bw;
    return LMF_OK;
}

double lmf_rescorer_mbr_scale(const lmf_rescorer *r) { return r->mbr_scale; }
