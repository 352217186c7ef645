/* Multinomial naive Bayes (lmf/classify.h): the LM classifier's order-1
 * cousin with Lidstone smoothing, p(w|c) = (n_cw + alpha) / (n_c + alpha V)
 * over the training words, and Bayes' rule with the class prior
 * (documents per class).  Words are split at ASCII blanks and control
 * bytes, case kept; a word training never saw is left out (scikit-learn's
 * CountVectorizer does the same).  alpha is chosen on valid.
 *
 * File fields (besides the frame of classifier.c): "alpha", "choose_alpha",
 * "grid" (valid accuracy per grid value), "documents" [C] (the prior),
 * "vocab" (side file, lmf_vocab text format) and "counts" (side
 * safetensors file: "counts" [C, V] float32 word counts). */
#include "classify_impl.h"
#include "../core/json_impl.h"
#include "../core/util_impl.h"
#include "lmf/io.h"
#include "lmf/text.h"

#include <math.h>
#include <string.h>

#define NGRID 5
static const double grid_alpha[NGRID] = {0.01, 0.03, 0.1, 0.3, 1.0};
#define DEFAULT_ALPHA 0.1

typedef struct nb {
    lmf_classifier base; /* must be first */
    lmf_vocab *v;
    int32_t V;
    float *cnt;    /* C x V word counts */
    double *lp;    /* C x V ln p(w|c) */
    double *lprior; /* C */
    double *ndoc;   /* C documents per class */
    double alpha;
    int special[2]; /* whether "<unk>" / "</s>" (ids 0, 1 of every vocabulary) were training words */
    int choose;    /* alpha was chosen on valid (refit without valid keeps it) */
    int ngrid;
    double grid_acc[NGRID];
    size_t ntrain;
} nb;

static const lmf_classifier_ops nb_ops;

static void nb_free(lmf_classifier *c) {
    nb *b = (nb *)c;
    lmf_classifier_base_free(c);
    lmf_vocab_free(b->v);
    lmf_free(b->cnt);
    lmf_free(b->lp);
    lmf_free(b->lprior);
    lmf_free(b);
}

/* A classifier over names with vocabulary v (taken) and zero counts. */
static lmf_status nb_new(const char *const *names, int C, lmf_vocab *v, nb **out) {
    *out = NULL;
    nb *b = (nb *)lmf_calloc(1, sizeof *b);
    if (!b) {
        lmf_vocab_free(v);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    b->base.ops = &nb_ops;
    b->v = v;
    b->V = lmf_vocab_size(v);
    lmf_status s = lmf_classifier_set_names(&b->base, names, C);
    const size_t n = (size_t)C * (size_t)b->V;
    if (!s) {
        b->cnt = (float *)lmf_calloc(n, sizeof *b->cnt);
        b->lp = (double *)lmf_malloc(n * sizeof *b->lp);
        b->lprior = (double *)lmf_calloc(2 * (size_t)C, sizeof *b->lprior);
        if (!b->cnt || !b->lp || !b->lprior) s = lmf_error(LMF_ERR_NOMEM, "out of memory (naive Bayes: %d classes x %d words)", C, (int)b->V);
        else b->ndoc = b->lprior + C;
    }
    if (s) {
        nb_free(&b->base);
        return s;
    }
    *out = b;
    return LMF_OK;
}

/* ln p(w|c) and ln P(c) from the counts, with smoothing alpha. */
static void nb_estimate(nb *b, double alpha) {
    const int C = b->base.C;
    const size_t V = (size_t)b->V;
    double nd = 0;
    for (int c = 0; c < C; c++) nd += b->ndoc[c];
    /* the words: the vocabulary's ordinary tokens, and its two reserved
     * ones only where the training text held them */
    size_t words = V > 2 ? V - 2 : 0;
    for (int id = 0; id < 2 && (size_t)id < V; id++) {
        b->special[id] = 0;
        for (int c = 0; c < C; c++) b->special[id] |= b->cnt[(size_t)c * V + (size_t)id] > 0;
        words += (size_t)b->special[id];
    }
    for (int c = 0; c < C; c++) {
        const float *n = b->cnt + (size_t)c * V;
        double tot = 0;
        for (size_t w = 0; w < V; w++) tot += n[w];
        const double den = log(tot + alpha * (double)words);
        for (size_t w = 0; w < V; w++) b->lp[(size_t)c * V + w] = log((double)n[w] + alpha) - den;
        b->lprior[c] = log(b->ndoc[c] / nd);
    }
    b->alpha = alpha;
}

/* The id of word t[0..n) for counting and scoring: -1 for a word training
 * never saw (and for the reserved "<unk>" / "</s>" unless training text held
 * them; all: those two in any case, for counting). */
static int32_t word_id(const nb *b, const char *t, size_t n, int all) {
    const int32_t id = lmf_vocab_find(b->v, t, n);
    return id >= 2 || (id >= 0 && (all || b->special[id])) ? id : -1;
}

static void doc_logp(const nb *b, const char *t, size_t n, float *out) {
    double z[LMF_MAX_CLASSES];
    const int C = b->base.C;
    for (int c = 0; c < C; c++) z[c] = b->lprior[c];
    size_t i = 0, w, l;
    while ((l = lmf_doc_next_word(t, n, &i, &w))) {
        const int32_t id = word_id(b, t + w, l, 0);
        for (int c = 0; id >= 0 && c < C; c++) z[c] += b->lp[(size_t)c * (size_t)b->V + (size_t)id];
    }
    double mx = -INFINITY, sum = 0; /* normalised in double: z is in the thousands */
    for (int c = 0; c < C; c++) mx = z[c] > mx ? z[c] : mx;
    for (int c = 0; c < C; c++) sum += exp(z[c] - mx);
    const double lz = mx + log(sum);
    for (int c = 0; c < C; c++) out[c] = (float)(z[c] - lz);
}

static lmf_status nb_predict(lmf_classifier *c, const lmf_docs *d, float *logp, lmf_progress_fn progress, void *user) {
    const nb *b = (const nb *)c;
    for (size_t i = 0; i < d->n; i++) {
        doc_logp(b, d->text[i], d->len[i], logp + i * (size_t)c->C);
        if (progress && ((i + 1) % 256 == 0 || i + 1 == d->n)) progress(user, (double)(i + 1), (double)d->n);
    }
    return LMF_OK;
}

/* Trains on train; alpha > 0: this one; 0: the best on valid of the grid
 * (valid accuracy, ties: the smaller alpha), else keep > 0, else the default. */
static lmf_status nb_train_with(const lmf_docs *train, const lmf_docs *valid, double alpha, double keep,
                                lmf_classifier **out) {
    *out = NULL;
    if (!train->n || train->C < 1)
        return lmf_error(LMF_ERR_DATA, "%s: no training documents", train->path ? train->path : "training set");
    if (valid) {
        int same = valid->C == train->C;
        for (int c = 0; same && c < train->C; c++) same = !strcmp(train->names[c], valid->names[c]);
        if (!same)
            return lmf_error(LMF_ERR_DATA, "%s: the validation documents are over other classes than the training ones",
                             valid->path ? valid->path : "validation documents");
    }
    lmf_vocab *v = lmf_vocab_new(LMF_TOK_WORD);
    if (!v) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < train->n; i++) { /* the vocabulary first: counts need its size */
        size_t j = 0, w, l;
        while ((l = lmf_doc_next_word(train->text[i], train->len[i], &j, &w)))
            if (lmf_vocab_add(v, train->text[i] + w, l) < 0) {
                lmf_vocab_free(v);
                return lmf_error(LMF_ERR_NOMEM, "out of memory");
            }
    }
    nb *b = NULL;
    lmf_status s = nb_new((const char *const *)train->names, train->C, v, &b);
    if (s) return s;
    for (size_t i = 0; i < train->n; i++) {
        const int c = train->label[i];
        if (c < 0 || c >= train->C) continue;
        float *row = b->cnt + (size_t)c * (size_t)b->V;
        size_t j = 0, w, l;
        while ((l = lmf_doc_next_word(train->text[i], train->len[i], &j, &w)))
            row[word_id(b, train->text[i] + w, l, 1)] += 1; /* every word is in the vocabulary */
        b->ndoc[c] += 1;
    }
    for (int c = 0; c < train->C && !s; c++)
        if (!(b->ndoc[c] > 0))
            s = lmf_error(LMF_ERR_DATA, "%s: class %s has no training documents", train->path ? train->path : "training set",
                          train->names[c]);
    const int choose = !(alpha > 0) && valid && valid->n;
    if (!s && choose) {
        float *lp = (float *)lmf_malloc((size_t)train->C * sizeof *lp);
        if (!lp) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        int best = -1;
        for (int g = 0; !s && g < NGRID; g++) {
            nb_estimate(b, grid_alpha[g]);
            size_t right = 0;
            for (size_t i = 0; i < valid->n; i++) {
                doc_logp(b, valid->text[i], valid->len[i], lp);
                right += lmf_argmax_f(lp, train->C) == valid->label[i];
            }
            b->grid_acc[g] = (double)right / (double)valid->n;
            if (best < 0 || b->grid_acc[g] > b->grid_acc[best]) best = g;
        }
        lmf_free(lp);
        if (!s) {
            b->ngrid = NGRID;
            b->choose = 1;
            nb_estimate(b, grid_alpha[best]);
        }
    } else if (!s) {
        b->choose = !(alpha > 0);
        nb_estimate(b, alpha > 0 ? alpha : keep > 0 ? keep : DEFAULT_ALPHA);
    }
    b->ntrain = train->n;
    if (s) {
        nb_free(&b->base);
        return s;
    }
    *out = &b->base;
    return LMF_OK;
}

lmf_status lmf_nb_train(const lmf_docs *train, const lmf_docs *valid, double alpha, lmf_classifier **out) {
    if (!(alpha >= 0) || !isfinite(alpha)) return lmf_error(LMF_ERR_ARG, "naive Bayes: alpha must be > 0 (or 0: chosen on valid)");
    return nb_train_with(train, valid, alpha, 0, out);
}

static lmf_status nb_refit(const lmf_classifier *c, const lmf_docs *train, const lmf_docs *valid, lmf_classifier **out) {
    const nb *b = (const nb *)c;
    return nb_train_with(train, valid, b->choose ? 0 : b->alpha, b->alpha, out);
}

static void nb_describe(const lmf_classifier *c, char *buf, size_t n) {
    const nb *b = (const nb *)c;
    int k = snprintf(buf, n, "naive Bayes over %d classes: %d words, alpha %g%s", c->C, (int)b->V, b->alpha,
                     b->ngrid ? " (chosen on valid; accuracy" : b->choose ? " (default or kept)" : " (given)");
    for (int g = 0; g < b->ngrid && k >= 0 && (size_t)k < n; g++)
        k += snprintf(buf + k, n - (size_t)k, " %g: %.4f", grid_alpha[g], b->grid_acc[g]);
    if (b->ngrid && k >= 0 && (size_t)k < n) k += snprintf(buf + k, n - (size_t)k, ")");
    if (b->ntrain && k >= 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, ", %zu training documents", b->ntrain);
}

/* path + ext, lmf_malloc'd */
static char *side_name(const char *path, const char *ext) {
    const size_t a = strlen(path), e = strlen(ext);
    char *p = (char *)lmf_malloc(a + e + 1);
    if (p) {
        memcpy(p, path, a);
        memcpy(p + a, ext, e + 1);
    }
    return p;
}

static lmf_status nb_save(const lmf_classifier *c, const char *path, cJSON *j) {
    const nb *b = (const nb *)c;
    char *vp = side_name(path, ".nb.vocab"), *cp = side_name(path, ".nb.safetensors");
    lmf_st_writer *w = lmf_st_writer_new();
    lmf_status s = vp && cp && w ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    int64_t sh[2] = {c->C, b->V};
    if (!s) s = lmf_vocab_save(b->v, vp);
    if (!s) s = lmf_st_add(w, "counts", LMF_DT_F32, 2, sh, b->cnt);
    if (!s) s = lmf_st_set_meta(w, "lmfuse.kind", "naive Bayes word counts");
    if (!s) s = lmf_st_write(w, cp);
    lmf_st_writer_free(w);
    if (!s) {
        lmf_json_init();
        uint64_t fails = lmf_json_failures();
        cJSON_AddNumberToObject(j, "alpha", b->alpha);
        cJSON_AddBoolToObject(j, "choose_alpha", b->choose != 0);
        cJSON *grid = cJSON_CreateArray(), *docs = cJSON_CreateArray();
        for (int g = 0; grid && g < b->ngrid; g++) cJSON_AddItemToArray(grid, cJSON_CreateNumber(b->grid_acc[g]));
        for (int k = 0; docs && k < c->C; k++) cJSON_AddItemToArray(docs, cJSON_CreateNumber(b->ndoc[k]));
        if (grid) cJSON_AddItemToObject(j, "grid", grid);
        if (docs) cJSON_AddItemToObject(j, "documents", docs);
        cJSON_AddStringToObject(j, "vocab", lmf_base_name(vp));
        cJSON_AddStringToObject(j, "counts", lmf_base_name(cp));
        if (!grid || !docs || lmf_json_failures() != fails) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    lmf_free(vp);
    lmf_free(cp);
    return s;
}

static const lmf_classifier_ops nb_ops = {
    .kind = "nb",
    .free = nb_free,
    .describe = nb_describe,
    .predict = nb_predict,
    .refit = nb_refit,
    .save = nb_save,
};

lmf_status lmf_nb_load(const cJSON *j, const char *path, const char *dir, char **names, int C, lmf_classifier **out) {
    *out = NULL;
    const char *fix = "write it again with lmfuse classify train --kind nb";
#define FIELD(k) cJSON_GetObjectItemCaseSensitive(j, k)
    double alpha = 0;
    lmf_status s = lmf_json_num(FIELD("alpha"), path, "alpha", 0, 1e6, fix, &alpha);
    if (!s && !(alpha > 0)) s = lmf_error(LMF_ERR_FORMAT, "%s: alpha must be > 0 (got %g); %s", path, alpha, fix);
    const cJSON *ch = FIELD("choose_alpha"), *grid = FIELD("grid"), *docs = FIELD("documents"), *vf = FIELD("vocab"),
                *cf = FIELD("counts");
    if (!s && ch && !cJSON_IsBool(ch)) s = lmf_error(LMF_ERR_FORMAT, "%s: choose_alpha must be true or false; %s", path, fix);
    const int ng = cJSON_IsArray(grid) ? cJSON_GetArraySize(grid) : 0;
    if (!s && grid && (!cJSON_IsArray(grid) || ng > NGRID))
        s = lmf_error(LMF_ERR_FORMAT, "%s: grid must be an array of at most %d valid accuracies; %s", path, NGRID, fix);
    if (!s && (!cJSON_IsArray(docs) || cJSON_GetArraySize(docs) != C))
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"documents\" must be %d positive numbers (documents per class); %s", path, C, fix);
    if (!s && (!cJSON_IsString(vf) || !vf->valuestring[0] || !cJSON_IsString(cf) || !cf->valuestring[0]))
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"vocab\" and \"counts\" (side files) must be named; %s", path, fix);
#undef FIELD
    if (s) return s;
    char *vp = vf->valuestring[0] == '/' ? lmf_strdup(vf->valuestring) : lmf_path_join(dir, vf->valuestring);
    char *cp = cf->valuestring[0] == '/' ? lmf_strdup(cf->valuestring) : lmf_path_join(dir, cf->valuestring);
    lmf_vocab *v = NULL;
    nb *b = NULL;
    if (!vp || !cp) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) s = lmf_vocab_load(vp, &v);
    if (!s && lmf_vocab_mode(v) != LMF_TOK_WORD) {
        lmf_vocab_free(v);
        s = lmf_error(LMF_ERR_FORMAT, "%s: not a word vocabulary; %s", vp, fix);
    }
    if (!s) s = nb_new((const char *const *)names, C, v, &b); /* takes v */
    int k = 0;
    for (const cJSON *e = s ? NULL : docs->child; e; e = e->next, k++) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble > 0) || !isfinite(e->valuedouble)) {
            s = lmf_error(LMF_ERR_FORMAT, "%s: documents[%d] must be a positive number; %s", path, k, fix);
            break;
        }
        b->ndoc[k] = e->valuedouble;
    }
    k = 0;
    for (const cJSON *e = s || !grid ? NULL : grid->child; e && k < ng; e = e->next, k++) {
        char key[32];
        snprintf(key, sizeof key, "grid[%d]", k);
        if ((s = lmf_json_num(e, path, key, 0, 1, fix, &b->grid_acc[k]))) break;
    }
    lmf_safetensors *st = NULL;
    if (!s) s = lmf_st_open(cp, &st);
    if (!s) {
        const lmf_st_tensor *t = lmf_st_find(st, "counts");
        if (!t || t->ndim != 2 || t->shape[0] != C || t->shape[1] != b->V)
            s = lmf_error(LMF_ERR_FORMAT, "%s: tensor \"counts\" must be [%d, %d] (classes x words of %s); %s", cp, C,
                          (int)b->V, vp, fix);
        else s = lmf_st_to_f32_finite(t, b->cnt, cp);
    }
    for (size_t i = 0; !s && i < (size_t)C * (size_t)b->V; i++)
        if (b->cnt[i] < 0) s = lmf_error(LMF_ERR_FORMAT, "%s: a negative word count (entry %zu); %s", cp, i, fix);
    lmf_st_close(st);
    if (!s) {
        b->ngrid = ng;
        b->choose = ch && cJSON_IsTrue(ch);
        nb_estimate(b, alpha);
    }
    lmf_free(vp);
    lmf_free(cp);
    if (s) {
        if (b) nb_free(&b->base);
        return s;
    }
    *out = &b->base;
    return LMF_OK;
}
