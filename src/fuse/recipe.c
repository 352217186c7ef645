#define _XOPEN_SOURCE 700
/* Recipes (lmf/fuse.h): JSON files that describe a fusion.  Members are
 * model paths (relative to the recipe's folder), inline recipes or cache
 * models; a member path may itself be a recipe, so fusions nest.  The loader
 * registry (src/load) reads and parses the file and calls
 * lmf_recipe_from_json or lmf_ncache_from_json; members load back through
 * the load context's callback (src/model/load_ctx.h), so this file never
 * calls up into the registry.  The context's chain of files stops a recipe
 * that includes itself, and the depth limit stops deep nesting. */
#include "lmf/fuse.h"
#include "../core/json_impl.h"
#include "../core/util_impl.h"
#include "fuse_impl.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define BAD(...) lmf_error(LMF_ERR_FORMAT, __VA_ARGS__)


/* Puts "prefix: " before the current error message. */
static lmf_status prefix_error(lmf_status s, const char *fmt, ...) {
    char pre[512], msg[1024];
    snprintf(msg, sizeof msg, "%s", lmf_last_error());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    return lmf_error(s, "%s: %s", pre, msg);
}


static lmf_status load_node(const cJSON *j, const lmf_load_ctx *ctx, const char *file, const char *where, int depth,
                            lmf_model **out);

/* A continuous cache: {"model": P, "window": N, "theta": t, "floor": f}, in a
 * recipe's members or as a cache file (which may add "lmfuse", "tuning" and
 * "comment"). */
static lmf_status load_ncache(const cJSON *c, const lmf_load_ctx *ctx, const char *file, const char *where,
                              int is_file, lmf_model **out) {
    *out = NULL;
    for (const cJSON *e = c->child; e; e = e->next) {
        static const char *const known[] = {"model", "window", "theta", "floor", "lmfuse", "tuning", "comment", NULL};
        int ok = 0;
        for (int i = 0; known[i] && !ok; i++) ok = !strcmp(e->string, known[i]) && (i < 4 || is_file);
        if (!ok)
            return BAD("%s: %s: unknown key \"%s\" in a continuous cache (known: model, window, theta, floor%s)", file,
                       where, e->string, is_file ? ", tuning, comment" : "");
    }
    const cJSON *mp = cJSON_GetObjectItemCaseSensitive(c, "model");
    const cJSON *wn = cJSON_GetObjectItemCaseSensitive(c, "window");
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(c, "theta");
    const cJSON *fl = cJSON_GetObjectItemCaseSensitive(c, "floor");
    if (!cJSON_IsString(mp) || !mp->valuestring[0] || !cJSON_IsNumber(wn) || !cJSON_IsNumber(th) ||
        (fl && !cJSON_IsNumber(fl)))
        return BAD("%s: %s: a continuous cache is {\"model\": neural model path, \"window\": N positions, \"theta\": "
                   "t >= 0, \"floor\": f in (0, 1] (default 0.01)} (lmfuse tune --method cache writes one)",
                   file, where);
    char key[256];
    snprintf(key, sizeof key, "%.200s: window", where);
    int window;
    lmf_status s = lmf_json_i32(wn, file, key, 1, LMF_NCACHE_MAX_WINDOW, NULL, &window);
    if (s) return s;
    const char *path = mp->valuestring;
    lmf_model *m = NULL;
    s = ctx->load(ctx, path, &m);
    if (!s) s = lmf_ncache_new(m, window, th->valuedouble, fl ? fl->valuedouble : 0.01, out);
    if (s) s = prefix_error(s, "%s: %s (\"%s\")", file, where, path);
    return s;
}

/* One member; unigram caches are made later (they need a vocabulary). */
static lmf_status load_member(const cJSON *e, const lmf_load_ctx *ctx, const char *file, const char *where, int depth,
                              lmf_model **out, const cJSON **cache_spec) {
    *out = NULL;
    *cache_spec = NULL;
    const char *path = NULL;
    if (cJSON_IsString(e)) {
        path = e->valuestring;
    } else if (cJSON_IsObject(e) && e->child && !e->child->next) {
        const cJSON *c = e->child;
        if (!strcmp(c->string, "path") && cJSON_IsString(c)) {
            path = c->valuestring;
        } else if (!strcmp(c->string, "recipe") && cJSON_IsObject(c)) {
            char sub[256];
            snprintf(sub, sizeof sub, "%.240s.recipe", where);
            return load_node(c, ctx, file, sub, depth + 1, out);
        } else if (!strcmp(c->string, "cache") && cJSON_IsObject(c)) {
            if (cJSON_GetObjectItemCaseSensitive(c, "model")) return load_ncache(c, ctx, file, where, 0, out);
            *cache_spec = c;
            return LMF_OK;
        }
    }
    if (!path)
        return BAD("%s: %s must be a model path, {\"path\": P}, {\"recipe\": {...}} or {\"cache\": {\"window\": N}}", file,
                   where);
    if (!*path) return BAD("%s: %s: empty path", file, where);
    lmf_status s = ctx->load(ctx, path, out);
    if (s) s = prefix_error(s, "%s: %s (\"%s\")", file, where, path);
    return s;
}

/* The gate's parameters into gbuf (2F + 2K + K F doubles), viewed by gp. */
static lmf_status parse_gate(const cJSON *gj, int K, const char *file, const char *where, double *gbuf,
                             lmf_gate_params *gp) {
    /* gate parameters: {"decay": d, "mean": [F], "sd": [F], "loss0": [K], "A": [[F] x K], "b": [K]} */
    const int F = LMF_GATE_FEATURES * K;
    double *mean = gbuf, *sd = mean + F, *loss0 = sd + F, *b = loss0 + K, *A = b + K;
    static const char *const gk[] = {"decay", "mean", "sd", "loss0", "A", "b", NULL};
    for (const cJSON *c = gj->child; c; c = c->next) {
        int ok = 0;
        for (int i = 0; gk[i]; i++) ok |= !strcmp(c->string, gk[i]);
        if (!ok) return BAD("%s: %s.gate: unknown key \"%s\" (known: decay, mean, sd, loss0, A, b)", file, where, c->string);
    }
    const cJSON *dj = cJSON_GetObjectItemCaseSensitive(gj, "decay");
    if (!cJSON_IsNumber(dj) || !(dj->valuedouble > 0 && dj->valuedouble < 1))
        return BAD("%s: %s.gate: \"decay\" must be a number in (0, 1)", file, where);
    struct { const char *key; double *dst; int n; } vec[] = {{"mean", mean, F}, {"sd", sd, F}, {"loss0", loss0, K}, {"b", b, K}};
    for (int v = 0; v < 4; v++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(gj, vec[v].key);
        if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != vec[v].n)
            return BAD("%s: %s.gate: \"%s\" must be an array of %d numbers (%s)", file, where, vec[v].key, vec[v].n,
                       vec[v].n == K ? "one per member"
                       : cJSON_IsArray(a) && cJSON_GetArraySize(a) == 4 * K
                           ? "5 features per member; this gate has 4, from an older lmfuse: tune it again"
                           : "5 features per member");
        int i = 0;
        for (const cJSON *e = a->child; e; e = e->next, i++) {
            if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || (v == 1 && !(e->valuedouble > 0)))
                return BAD("%s: %s.gate: %s[%d] must be a finite number%s", file, where, vec[v].key, i,
                           v == 1 ? " > 0" : "");
            vec[v].dst[i] = e->valuedouble;
        }
    }
    const cJSON *aj = cJSON_GetObjectItemCaseSensitive(gj, "A");
    if (!cJSON_IsArray(aj) || cJSON_GetArraySize(aj) != K)
        return BAD("%s: %s.gate: \"A\" must be %d rows (one per member) of %d numbers", file, where, K, F);
    int r = 0;
    for (const cJSON *row = aj->child; row; row = row->next, r++) {
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != F)
            return BAD("%s: %s.gate: A[%d] must be an array of %d numbers", file, where, r, F);
        int i = 0;
        for (const cJSON *e = row->child; e; e = e->next, i++) {
            if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
                return BAD("%s: %s.gate: A[%d][%d] must be a finite number", file, where, r, i);
            A[r * F + i] = e->valuedouble;
        }
    }
    gp->decay = dj->valuedouble;
    gp->mean = mean;
    gp->sd = sd;
    gp->loss0 = loss0;
    gp->A = A;
    gp->b = b;
    return LMF_OK;
}

static lmf_status load_node(const cJSON *j, const lmf_load_ctx *ctx, const char *file, const char *where, int depth,
                            lmf_model **out) {
    *out = NULL;
    if (depth > LMF_RECIPE_MAX_DEPTH)
        return BAD("%s: recipes nest deeper than %d levels (does a recipe include itself?)", file, LMF_RECIPE_MAX_DEPTH);
    if (!cJSON_IsObject(j)) return BAD("%s: %s is not a JSON object", file, where);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "lmfuse");
    if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "cache")) return load_ncache(j, ctx, file, where, 1, out);
    static const char *const known[] = {"lmfuse",    "combiner",  "members", "weights", "share",   "top_k", "threshold",
                                        "vote_mass", "unk_dub",   "gate",    "tuning",  "comment", NULL};
    for (const cJSON *c = j->child; c; c = c->next) {
        int ok = 0;
        for (int i = 0; known[i]; i++) ok |= !strcmp(c->string, known[i]);
        if (!ok)
            return BAD("%s: %s: unknown key \"%s\" (known: combiner, members, weights, share, top_k, threshold, vote_mass, "
                       "unk_dub, gate, tuning, comment)", file,
                       where, c->string);
    }
    const cJSON *cj = cJSON_GetObjectItemCaseSensitive(j, "combiner");
    const cJSON *mj = cJSON_GetObjectItemCaseSensitive(j, "members");
    const cJSON *wj = cJSON_GetObjectItemCaseSensitive(j, "weights");
    const cJSON *sj = cJSON_GetObjectItemCaseSensitive(j, "share");
    lmf_fuse_opts o;
    lmf_fuse_opts_init(&o);
    int comb = cJSON_IsString(cj) ? lmf_combiner_parse(cj->valuestring) : -1;
    if (comb < 0)
        return BAD("%s: %s: \"combiner\" must be one of linear, loglinear, max, bayes, vote, cascade, gate%s%s%s", file, where,
                   cJSON_IsString(cj) ? " (got \"" : "", cJSON_IsString(cj) ? cj->valuestring : "",
                   cJSON_IsString(cj) ? "\")" : "");
    o.comb = (lmf_combiner)comb;
    int K = cJSON_IsArray(mj) ? cJSON_GetArraySize(mj) : 0;
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS)
        return BAD("%s: %s: \"members\" must be an array of 1..%d models", file, where, LMF_FUSE_MAX_MEMBERS);
    double w[LMF_FUSE_MAX_MEMBERS];
    if (wj) {
        if (!cJSON_IsArray(wj) || cJSON_GetArraySize(wj) != K)
            return BAD("%s: %s: \"weights\" must be an array of %d numbers, one per member", file, where, K);
        int i = 0;
        for (const cJSON *e = wj->child; e; e = e->next, i++) {
            if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0) || !isfinite(e->valuedouble))
                return BAD("%s: %s: weight %d must be a number >= 0", file, where, i + 1);
            w[i] = e->valuedouble;
        }
        o.weights = w;
    }
    if (sj) {
        if (!cJSON_IsNumber(sj) || !(sj->valuedouble >= 0) || sj->valuedouble >= 1)
            return BAD("%s: %s: \"share\" must be a number in [0, 1)", file, where);
        o.share = sj->valuedouble;
    }
    const cJSON *tk = cJSON_GetObjectItemCaseSensitive(j, "top_k");
    if (tk) {
        char key[256];
        snprintf(key, sizeof key, "%.200s: \"top_k\"", where);
        lmf_status ks = lmf_json_i32(tk, file, key, 1, 1000000, NULL, &o.top_k);
        if (ks) return ks;
    }
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(j, "threshold");
    if (th) {
        if (!cJSON_IsNumber(th) || !(th->valuedouble >= 0) || th->valuedouble > 1)
            return BAD("%s: %s: \"threshold\" must be a probability in [0, 1]", file, where);
        o.threshold = th->valuedouble;
    }
    const cJSON *vm = cJSON_GetObjectItemCaseSensitive(j, "vote_mass");
    if (vm) {
        if (!cJSON_IsNumber(vm) || !(vm->valuedouble >= 0) || vm->valuedouble > 1)
            return BAD("%s: %s: \"vote_mass\" must be a number in [0, 1]", file, where);
        o.vote_mass = vm->valuedouble;
    }
    const cJSON *ud = cJSON_GetObjectItemCaseSensitive(j, "unk_dub");
    if (ud) {
        if (!cJSON_IsNumber(ud) || !isfinite(ud->valuedouble) || ud->valuedouble > 1e15 || ud->valuedouble < -1e15)
            return BAD("%s: %s: \"unk_dub\" must be a number (0: share each member's <unk> among the words it lacks; "
                       "> 0: IRSTLM's dictionary upper bound; < 0: <unk> as is)", file, where);
        o.unk_dub = ud->valuedouble;
    }
    const cJSON *gj = cJSON_GetObjectItemCaseSensitive(j, "gate");
    lmf_gate_params gp;
    double *gbuf = NULL;
    if (comb == LMF_COMB_GATE) {
        if (!cJSON_IsObject(gj))
            return BAD("%s: %s: a gate recipe needs \"gate\": its parameters (made by lmfuse tune --method gate)",
                       file, where);
        const size_t F = LMF_GATE_FEATURES * (size_t)K;
        if (!(gbuf = (double *)lmf_malloc((2 * F + 2 * (size_t)K + (size_t)K * F) * sizeof *gbuf)))
            return lmf_error(LMF_ERR_NOMEM, "out of memory");
        lmf_status gs = parse_gate(gj, K, file, where, gbuf, &gp);
        if (gs) {
            lmf_free(gbuf);
            return gs;
        }
        o.gate = &gp;
    } else if (gj) {
        return BAD("%s: %s: \"gate\" belongs to the gate combiner only", file, where);
    }
    lmf_model *m[LMF_FUSE_MAX_MEMBERS] = {0};
    const cJSON *caches[LMF_FUSE_MAX_MEMBERS] = {0};
    lmf_status s = LMF_OK;
    int i = 0;
    char sub[256];
    for (const cJSON *e = mj->child; e && !s; e = e->next, i++) {
        snprintf(sub, sizeof sub, "%.200s.members[%d]", where, i);
        s = load_member(e, ctx, file, sub, depth, &m[i], &caches[i]);
    }
    const lmf_vocab *v = NULL;
    for (int k = 0; k < K && !s && !v; k++)
        if (m[k]) v = lmf_model_vocab(m[k]);
    for (int k = 0; k < K && !s; k++) {
        if (!caches[k]) continue;
        snprintf(sub, sizeof sub, "%.200s.members[%d]", where, k);
        if (!v) {
            s = BAD("%s: %s: a cache needs another member (a model) for its vocabulary", file, sub);
            break;
        }
        const cJSON *wn = cJSON_GetObjectItemCaseSensitive(caches[k], "window");
        const cJSON *bt = cJSON_GetObjectItemCaseSensitive(caches[k], "beta");
        if (!cJSON_IsNumber(wn) || (bt && !cJSON_IsNumber(bt))) {
            s = BAD("%s: %s: a cache is {\"window\": N tokens, \"beta\": smoothing > 0 (default 1)}", file, sub);
            break;
        }
        char key[256];
        int window;
        snprintf(key, sizeof key, "%.200s.cache: window", sub);
        if ((s = lmf_json_i32(wn, file, key, 1, LMF_CACHE_MAX_WINDOW, NULL, &window))) break;
        s = lmf_cache_new(v, window, bt ? bt->valuedouble : 1.0, &m[k]);
        if (s) s = prefix_error(s, "%s: %s", file, sub);
    }
    if (s) {
        for (int k = 0; k < K; k++)
            if (m[k] && caches[k]) lmf_model_free(m[k]);
        for (int k = 0; k < K; k++)
            if (m[k] && !caches[k]) lmf_model_free(m[k]);
        lmf_free(gbuf);
        return s;
    }
    s = lmf_fuse_new(m, K, &o, out);
    lmf_free(gbuf);
    if (s) s = prefix_error(s, "%s: %s", file, where);
    return s;
}

/* The file `path` joins the chain of files being loaded: *child becomes its
 * context (members relative to its folder *dir, canonical path *canon; the
 * caller frees both, free() for canon) unless the file is already on ctx's
 * chain or the chain is full. */
static lmf_status enter_file(const lmf_load_ctx *ctx, const char *path, lmf_load_ctx *child, char **dir, char **canon) {
    *dir = lmf_path_dir(path);
    *canon = realpath(path, NULL);
    if (!*dir || !*canon) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (const lmf_load_ctx *c = ctx; c; c = c->parent)
        if (c->canon && !strcmp(c->canon, *canon))
            return BAD("%s: the recipe includes itself (directly or through other recipes)", path);
    if (ctx->depth >= LMF_RECIPE_MAX_DEPTH) return BAD("%s: recipes nest deeper than %d levels", path, LMF_RECIPE_MAX_DEPTH);
    *child = (lmf_load_ctx){.load = ctx->load, .dir = *dir, .canon = *canon, .parent = ctx, .depth = ctx->depth + 1};
    return LMF_OK;
}

lmf_status lmf_recipe_from_json(const lmf_load_ctx *ctx, const char *path, const cJSON *root, lmf_model **out) {
    *out = NULL;
    lmf_load_ctx child;
    char *dir, *canon;
    lmf_status s = enter_file(ctx, path, &child, &dir, &canon);
    if (!s) s = load_node(root, &child, path, "recipe", child.depth, out);
    free(canon);
    lmf_free(dir);
    return s;
}

lmf_status lmf_ncache_from_json(const lmf_load_ctx *ctx, const char *path, const cJSON *root, lmf_model **out) {
    *out = NULL;
    lmf_load_ctx child;
    char *dir, *canon;
    lmf_status s = enter_file(ctx, path, &child, &dir, &canon);
    if (!s) s = load_ncache(root, &child, path, "recipe", 1, out);
    free(canon);
    lmf_free(dir);
    return s;
}

/* Adds item to object o under key, or frees it when cJSON cannot (the
 * caller then sees lmf_json_failures() move). */
static void put(cJSON *o, const char *key, cJSON *item) {
    if (!cJSON_AddItemToObject(o, key, item)) cJSON_Delete(item);
}

lmf_status lmf_recipe_write(const char *path, const lmf_fuse_opts *o, const char *const *members, int K,
                            const char *tuning_json) {
    const lmf_combiner comb = o->comb;
    const double *w = o->weights;
    if (!w) return lmf_error(LMF_ERR_ARG, "a recipe needs its weights");
    char *dir = lmf_path_dir(path), *rdir = NULL;
    if (!dir) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    rdir = realpath(dir, NULL);
    lmf_free(dir);
    if (!rdir) return lmf_error(LMF_ERR_IO, "%s: its folder does not exist", path);
    lmf_json_init();
    const uint64_t jf = lmf_json_failures(); /* cJSON_Add* drops what it cannot allocate */
    cJSON *j = cJSON_CreateObject(), *ms = cJSON_CreateArray(), *ws = cJSON_CreateArray();
    lmf_status s = j && ms && ws ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) {
        cJSON_AddStringToObject(j, "lmfuse", "recipe");
        cJSON_AddStringToObject(j, "combiner", lmf_combiner_name(comb));
        if (cJSON_AddItemToObject(j, "members", ms)) ms = NULL;
        if (cJSON_AddItemToObject(j, "weights", ws)) ws = NULL;
        if (ms || ws) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    cJSON *mj = cJSON_GetObjectItemCaseSensitive(j, "members"), *wj = cJSON_GetObjectItemCaseSensitive(j, "weights");
    for (int k = 0; k < K && !s; k++) {
        char *abs = realpath(members[k], NULL);
        if (!abs) {
            s = lmf_error(LMF_ERR_IO, "%s: cannot resolve the member's path", members[k]);
            break;
        }
        char *rel = lmf_path_rel(abs, rdir);
        free(abs);
        if (!rel) {
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            break;
        }
        cJSON_AddItemToArray(mj, cJSON_CreateString(rel));
        lmf_free(rel);
        cJSON_AddItemToArray(wj, cJSON_CreateNumber(w[k]));
    }
    if (!s && comb == LMF_COMB_BAYES) cJSON_AddNumberToObject(j, "share", o->share);
    if (!s && o->unk_dub != 0) cJSON_AddNumberToObject(j, "unk_dub", o->unk_dub);
    if (!s && (comb == LMF_COMB_VOTE || comb == LMF_COMB_CASCADE) && o->top_k)
        cJSON_AddNumberToObject(j, "top_k", o->top_k);
    if (!s && comb == LMF_COMB_VOTE) {
        if (o->threshold > 0) cJSON_AddNumberToObject(j, "threshold", o->threshold);
        cJSON_AddNumberToObject(j, "vote_mass", o->vote_mass);
    }
    if (!s && comb == LMF_COMB_GATE) {
        const lmf_gate_params *g = o->gate;
        const int F = LMF_GATE_FEATURES * K;
        cJSON *gj = g ? cJSON_AddObjectToObject(j, "gate") : NULL, *A = gj ? cJSON_AddArrayToObject(gj, "A") : NULL;
        if (!g) s = lmf_error(LMF_ERR_ARG, "a gate recipe needs its parameters");
        else if (!gj || !A) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        if (!s) {
            cJSON_AddNumberToObject(gj, "decay", g->decay);
            put(gj, "mean", cJSON_CreateDoubleArray(g->mean, F));
            put(gj, "sd", cJSON_CreateDoubleArray(g->sd, F));
            put(gj, "loss0", cJSON_CreateDoubleArray(g->loss0, K));
            for (int k = 0; k < K; k++) cJSON_AddItemToArray(A, cJSON_CreateDoubleArray(g->A + (size_t)k * F, F));
            put(gj, "b", cJSON_CreateDoubleArray(g->b, K));
        }
    }
    if (!s && tuning_json) {
        cJSON *t = NULL;
        s = lmf_json_parse(tuning_json, strlen(tuning_json), NULL, &t);
        if (s == LMF_ERR_FORMAT) s = lmf_error(LMF_ERR_ARG, "tuning record is not valid JSON");
        if (!s) put(j, "tuning", t);
    }
    if (!s && lmf_json_failures() != jf) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    cJSON_Delete(ms);
    cJSON_Delete(ws);
    free(rdir);
    if (s) {
        cJSON_Delete(j);
        return s;
    }
    return lmf_json_save(path, j);
}

lmf_status lmf_ncache_write(const char *path, const char *model_path, int window, double theta, double floor,
                            const char *tuning_json) {
    lmf_json_init();
    char *dir = lmf_path_dir(path);
    if (!dir) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    char *rdir = realpath(dir, NULL);
    lmf_free(dir);
    if (!rdir) return lmf_error(LMF_ERR_IO, "%s: its folder does not exist", path);
    char *abs = realpath(model_path, NULL), *rel = abs ? lmf_path_rel(abs, rdir) : NULL;
    free(rdir);
    if (!rel) {
        lmf_status e = abs ? lmf_error(LMF_ERR_NOMEM, "out of memory")
                           : lmf_error(LMF_ERR_IO, "%s: cannot resolve the model's path", model_path);
        free(abs);
        return e;
    }
    free(abs);
    cJSON *j = cJSON_CreateObject(), *t = NULL;
    lmf_status s = j ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && tuning_json && (s = lmf_json_parse(tuning_json, strlen(tuning_json), NULL, &t)) == LMF_ERR_FORMAT)
        s = lmf_error(LMF_ERR_ARG, "tuning record is not valid JSON");
    if (!s && !(cJSON_AddStringToObject(j, "lmfuse", "cache") && cJSON_AddStringToObject(j, "model", rel) &&
                cJSON_AddNumberToObject(j, "window", window) && cJSON_AddNumberToObject(j, "theta", theta) &&
                cJSON_AddNumberToObject(j, "floor", floor) && (!t || cJSON_AddItemToObject(j, "tuning", t))))
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    else
        t = NULL; /* j has it */
    lmf_free(rel);
    cJSON_Delete(t);
    if (s) {
        cJSON_Delete(j);
        return s;
    }
    return lmf_json_save(path, j);
}

int lmf_recipe_tuned_on(const char *recipe_path, const char *text_path) {
    lmf_filebuf fb;
    if (lmf_file_read(recipe_path, &fb)) return 0;
    cJSON *j = cJSON_ParseWithLength(fb.data, fb.size);
    lmf_filebuf_free(&fb);
    const cJSON *tu = j ? cJSON_GetObjectItemCaseSensitive(j, "tuning") : NULL;
    const cJSON *dv = tu ? cJSON_GetObjectItemCaseSensitive(tu, "dev") : NULL;
    int same = 0;
    char *text = realpath(text_path, NULL);
    if (text && cJSON_IsString(dv) && dv->valuestring[0]) {
        /* the dev path as written (relative to where tune ran), else relative to the recipe */
        char *a = realpath(dv->valuestring, NULL);
        same = a && !strcmp(a, text);
        free(a);
        if (!same && dv->valuestring[0] != '/') {
            char *dir = lmf_path_dir(recipe_path), *p = dir ? lmf_path_join(dir, dv->valuestring) : NULL;
            char *b = p ? realpath(p, NULL) : NULL;
            same = b && !strcmp(b, text);
            free(b);
            lmf_free(p);
            lmf_free(dir);
        }
    }
    free(text);
    cJSON_Delete(j);
    return same;
}
