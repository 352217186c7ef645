/* The LM classifier (lmf/classify.h): one language model per class and
 * Bayes' rule (Peng and Schuurmans 2003), calibrated on held-out
 * documents.
 *
 * Documents become LM text here, for training and scoring alike: each
 * original line a sentence (empty ones dropped), words split at ASCII
 * blanks and control bytes; with `chars`, every character a token and each
 * run of blanks one "_".  A word "<s>" or "</s>" (markup in e-mail) is
 * written "<s_>" / "</s_>", since those two are reserved by the models. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "classify_impl.h"
#include "../core/json_impl.h"
#include "../core/optim_impl.h"
#include "../core/util_impl.h"
#include "lmf/ngram.h"
#include "lmf/text.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct lmclass {
    lmf_classifier base; /* must be first */
    lmf_model **m;       /* nm = C class models */
    int nm;
    char **paths;        /* where each lives (NULL: only in memory until saved) */
    double *lprior;      /* C: ln P(c) */
    double *unseen;      /* C: ln of the words model c shares its <unk> mass with */
    lmf_vocab *all;      /* the words of every class model */
    double a, *b;        /* calibration: p(c|d) ~ exp(a z_c + ln P(c) + b_c) */
    lmf_lmclass_opts o;
    double valid_nll, valid_acc; /* calibration's fit (NAN: none) */
} lmclass;

void lmf_lmclass_opts_init(lmf_lmclass_opts *o) {
    memset(o, 0, sizeof *o);
    o->calib = LMF_CALIB_TEMPERATURE;
    o->length_norm = 1;
}


/* Appends document text t[0..n) as LM text to b (see the top). */
static lmf_status prepare(lmf_buf *b, const char *t, size_t n, int chars) {
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && t[e] != '\n' && t[e] != '\r') e++;
        int any = 0;
        size_t j = i;
        while (j < e) {
            if (lmf_doc_blank((unsigned char)t[j])) {
                while (j < e && lmf_doc_blank((unsigned char)t[j])) j++;
                if (chars && any && j < e && lmf_buf_append(b, " _", 2)) return LMF_ERR_NOMEM;
                continue;
            }
            size_t w = j;
            while (j < e && !lmf_doc_blank((unsigned char)t[j])) j++;
            if (chars) {
                for (size_t k = w; k < j;) { /* one UTF-8 character per token */
                    size_t l = 1;
                    while (k + l < j && ((unsigned char)t[k + l] & 0xc0) == 0x80) l++;
                    if ((any && lmf_buf_append(b, " ", 1)) || lmf_buf_append(b, t + k, l)) return LMF_ERR_NOMEM;
                    any = 1;
                    k += l;
                }
                continue;
            }
            if (any && lmf_buf_append(b, " ", 1)) return LMF_ERR_NOMEM;
            int res = (j - w == 3 && !memcmp(t + w, "<s>", 3)) || (j - w == 4 && !memcmp(t + w, "</s>", 4));
            if (lmf_buf_append(b, t + w, j - w - (res ? 1 : 0)) || (res && lmf_buf_append(b, "_>", 2)))
                return LMF_ERR_NOMEM;
            any = 1;
        }
        if (any && lmf_buf_append(b, "\n", 1)) return LMF_ERR_NOMEM;
        i = e + 1;
    }
    return LMF_OK;
}

/* ln P_c(d) of prepared text, and its tokens. */
static lmf_status doc_loglik(const lmclass *lc, int c, const char *txt, size_t n, const char *name, double *ll,
                             size_t *ntok) {
    lmf_model *m = lc->m[c];
    lmf_read_opts ro;
    lmf_read_opts_init(&ro);
    ro.utf8_check = 0; /* checked when the file was read */
    ro.max_line = SIZE_MAX / 2;
    ro.skip_empty = 1;
    ro.keep_oov_text = 1;
    lmf_tokens t;
    lmf_status s = lmf_tokens_read_mem(txt, n, name, lmf_model_vocab(m), &ro, &t);
    if (s) return s;
    float *lp = (float *)lmf_malloc((t.n ? t.n : 1) * sizeof *lp);
    if (!lp) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) s = lmf_model_score(m, NULL, t.ids, t.n, lp);
    double sum = 0;
    const char *ot = t.oov_text;
    for (size_t i = 0; !s && i < t.n; i++) {
        if (!t.oov[i]) {
            sum += (double)lp[i];
            continue;
        }
        size_t ol = strlen(ot);
        /* a word no class model knows scores the same under every class: left out */
        if (lmf_vocab_find(lc->all, ot, ol) >= 0) sum += (double)lp[i] - lc->unseen[c];
        ot += ol + 1;
    }
    *ll = sum;
    *ntok = t.n;
    lmf_free(lp);
    lmf_tokens_free(&t);
    return s;
}

/* The documents' uncalibrated scores z[i*C + c] = ln P_c(d) (/ tokens). */
static lmf_status scores(const lmclass *lc, const lmf_docs *d, double *z, lmf_progress_fn progress, void *user) {
    const int C = lc->base.C;
    lmf_buf b = {0};
    lmf_status s = LMF_OK;
    for (size_t i = 0; i < d->n && !s; i++) {
        b.len = 0;
        if (prepare(&b, d->text[i], d->len[i], lc->o.chars)) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        char name[64];
        snprintf(name, sizeof name, "document %zu", i + 1);
        for (int c = 0; c < C && !s; c++) {
            double ll;
            size_t nt;
            s = doc_loglik(lc, c, b.p ? b.p : "", b.len, name, &ll, &nt);
            if (s) {
                s = lmf_error(s, "%s:%zu: %s", d->path ? d->path : "documents", d->line[i], lmf_last_error());
                break;
            }
            z[i * (size_t)C + (size_t)c] = lc->o.length_norm ? ll / (double)(nt ? nt : 1) : ll;
        }
        if (progress) progress(user, (double)(i + 1), (double)d->n);
    }
    lmf_buf_free(&b);
    return s;
}

static void posterior(const lmclass *lc, const double *z, float *out) {
    const int C = lc->base.C;
    for (int c = 0; c < C; c++) out[c] = (float)(lc->a * z[c] + lc->lprior[c] + lc->b[c]);
    lmf_log_softmax(out, C);
}

static lmf_status lc_predict(lmf_classifier *cl, const lmf_docs *d, float *logp, lmf_progress_fn progress,
                             void *user) {
    lmclass *lc = (lmclass *)cl;
    const size_t C = (size_t)cl->C;
    double *z = (double *)lmf_malloc(d->n * C * sizeof *z + 1);
    if (!z) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = scores(lc, d, z, progress, user);
    for (size_t i = 0; !s && i < d->n; i++) posterior(lc, z + i * C, logp + i * C);
    lmf_free(z);
    return s;
}

/* ---- calibration ---- */
typedef struct cdata {
    const lmclass *lc;
    const double *z;
    const int32_t *y;
    size_t n;
    int platt;
} cdata;

/* Mean NLL of labels y under softmax(x[0] z + ln prior + b) (b = x[1..C]
 * with Platt, else 0) + 1e-4/2 |b|^2, and its gradient. */
static double calib_nll(void *user, const double *x, double *g) {
    const cdata *cd = (const cdata *)user;
    const int C = cd->lc->base.C, P = cd->platt ? 1 + C : 1;
    double nll = 0, q[LMF_MAX_CLASSES];
    memset(g, 0, (size_t)P * sizeof *g);
    for (size_t i = 0; i < cd->n; i++) {
        const double *z = cd->z + i * (size_t)C;
        double mx = -INFINITY, sum = 0;
        for (int c = 0; c < C; c++) {
            q[c] = x[0] * z[c] + cd->lc->lprior[c] + (cd->platt ? x[1 + c] : 0);
            mx = q[c] > mx ? q[c] : mx;
        }
        for (int c = 0; c < C; c++) sum += exp(q[c] - mx);
        double lz = mx + log(sum);
        nll += lz - q[cd->y[i]];
        for (int c = 0; c < C; c++) {
            double p = exp(q[c] - lz) - (c == cd->y[i]);
            g[0] += p * z[c];
            if (cd->platt) g[1 + c] += p;
        }
    }
    for (int j = 0; j < P; j++) g[j] /= (double)cd->n;
    nll /= (double)cd->n;
    for (int c = 0; cd->platt && c < C; c++) {
        nll += 0.5e-4 * x[1 + c] * x[1 + c];
        g[1 + c] += 1e-4 * x[1 + c];
    }
    return nll;
}

static lmf_status calibrate(lmclass *lc, const lmf_docs *d) {
    const int C = lc->base.C;
    lc->a = 1;
    memset(lc->b, 0, (size_t)C * sizeof *lc->b);
    lc->valid_nll = lc->valid_acc = NAN;
    if (lc->o.calib == LMF_CALIB_NONE) return LMF_OK;
    double *z = (double *)lmf_malloc(d->n * (size_t)C * sizeof *z + 1);
    if (!z) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = scores(lc, d, z, NULL, NULL);
    if (!s) {
        cdata cd = {lc, z, d->label, d->n, lc->o.calib == LMF_CALIB_PLATT};
        double x[1 + LMF_MAX_CLASSES] = {0}, g[1 + LMF_MAX_CLASSES], best = INFINITY, a0 = 1;
        /* the scores are sums over whole documents: start from the best of a grid of temperatures */
        for (double a = 1; a > 1e-5; a /= 3) {
            x[0] = a;
            double f = calib_nll(&cd, x, g);
            if (f < best) best = f, a0 = a;
        }
        x[0] = a0;
        if (lmf_lbfgs(calib_nll, &cd, cd.platt ? 1 + (size_t)C : 1, x, 200, 1e-12) < 0)
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        if (!s) {
            lc->a = x[0];
            for (int c = 0; cd.platt && c < C; c++) lc->b[c] = x[1 + c];
            lc->valid_nll = calib_nll(&cd, x, g);
            size_t right = 0;
            float row[LMF_MAX_CLASSES];
            for (size_t i = 0; i < d->n; i++) {
                posterior(lc, z + i * (size_t)C, row);
                int arg = 0;
                for (int c = 1; c < C; c++) arg = row[c] > row[arg] ? c : arg;
                right += arg == d->label[i];
            }
            lc->valid_acc = (double)right / (double)d->n;
        }
    }
    lmf_free(z);
    return s;
}

lmf_status lmf_lmclass_calibrate(lmf_classifier *c, const lmf_docs *d) {
    if (strcmp(c->ops->kind, "lm")) return lmf_error(LMF_ERR_ARG, "not an LM classifier");
    lmf_status s = LMF_OK;
    int same = d->C == c->C;
    for (int i = 0; same && i < c->C; i++) same = !strcmp(d->names[i], c->names[i]);
    if (!same) s = lmf_error(LMF_ERR_DATA, "%s: not over the classifier's classes", d->path ? d->path : "documents");
    return s ? s : calibrate((lmclass *)c, d);
}

/* ---- life cycle ---- */
static void lc_free(lmf_classifier *cl) {
    lmclass *lc = (lmclass *)cl;
    for (int c = 0; lc->m && c < lc->nm; c++) lmf_model_free(lc->m[c]);
    for (int c = 0; lc->paths && c < lc->nm; c++) lmf_free(lc->paths[c]);
    lmf_free(lc->m);
    lmf_free(lc->paths);
    lmf_free(lc->lprior);
    lmf_vocab_free(lc->all);
    lmf_free((char *)lc->o.dir);
    lmf_classifier_base_free(cl);
    lmf_free(lc);
}

static void lc_describe(const lmf_classifier *cl, char *buf, size_t n) {
    const lmclass *lc = (const lmclass *)cl;
    snprintf(buf, n, "LM classifier, %d classes, %s%s models%s, calibration %s (a = %.4g)%s", cl->C,
             lc->o.chars ? "character " : "", lmf_model_kind(lc->m[0]), lc->o.length_norm ? ", length-normalised" : "",
             lc->o.calib == LMF_CALIB_PLATT ? "Platt" : lc->o.calib == LMF_CALIB_TEMPERATURE ? "temperature" : "none",
             lc->a, "");
}

static const lmf_classifier_ops lm_ops;

lmf_status lmf_lmclass_new(lmf_model **models, const char *const *paths, const char *const *names, int C,
                           const double *prior, const lmf_lmclass_opts *o, lmf_classifier **out) {
    *out = NULL;
    lmf_lmclass_opts def;
    if (!o) lmf_lmclass_opts_init(&def), o = &def;
    lmf_status s = LMF_OK;
    if (C < 2 || C > LMF_MAX_CLASSES) s = lmf_error(LMF_ERR_ARG, "an LM classifier needs 2..%d classes (got %d)", LMF_MAX_CLASSES, C);
    for (int c = 0; !s && c < C; c++)
        if (!models[c]) s = lmf_error(LMF_ERR_ARG, "class %s has no model", names[c]);
        else if (!(prior[c] > 0) || !(prior[c] < 1))
            s = lmf_error(LMF_ERR_DATA, "class %s: prior %g; every class needs training documents", names[c], prior[c]);
    lmclass *lc = s ? NULL : (lmclass *)lmf_calloc(1, sizeof *lc);
    if (!s && !lc) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) {
        for (int c = 0; c < C; c++) lmf_model_free(models[c]);
        return s;
    }
    lc->base.ops = &lm_ops;
    lc->m = (lmf_model **)lmf_calloc((size_t)C, sizeof *lc->m);
    lc->paths = (char **)lmf_calloc((size_t)C, sizeof *lc->paths);
    lc->lprior = (double *)lmf_calloc(3 * (size_t)C, sizeof *lc->lprior);
    if (!lc->m || !lc->paths || !lc->lprior) {
        for (int c = 0; c < C; c++) lmf_model_free(models[c]);
        lc_free(&lc->base);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    for (int c = 0; c < C; c++) lc->m[c] = models[c];
    lc->nm = C; /* the models are freed with it from here on */
    lc->o = *o;
    lc->o.dir = NULL;
    lc->unseen = lc->lprior + C;
    lc->b = lc->unseen + C;
    lc->a = 1;
    lc->valid_nll = lc->valid_acc = NAN;
    s = lmf_classifier_set_names(&lc->base, names, C);
    if (!s && o->dir && !(lc->o.dir = lmf_strdup(o->dir))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int c = 0; !s && c < C; c++) {
        lc->lprior[c] = log(prior[c]);
        if (paths && paths[c] && !(lc->paths[c] = lmf_strdup(paths[c]))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    /* the classifier's vocabulary: every word of every class model */
    lmf_vocab *all = s ? NULL : lmf_vocab_new(lmf_vocab_mode(lmf_model_vocab(models[0])));
    if (!s && !all) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int c = 0; !s && c < C; c++) {
        const lmf_vocab *v = lmf_model_vocab(models[c]);
        for (int32_t w = 2; w < lmf_vocab_size(v) && !s; w++) {
            size_t len;
            const char *t = lmf_vocab_word(v, w, &len);
            if (lmf_vocab_add(all, t, len) < 0) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
    }
    for (int c = 0; !s && c < C; c++) /* the words of the others unknown to model c */
        lc->unseen[c] = log(fmax(1.0, (double)(lmf_vocab_size(all) - lmf_vocab_size(lmf_model_vocab(models[c])))));
    lc->all = all;
    if (s) {
        lc_free(&lc->base);
        return s;
    }
    *out = &lc->base;
    return LMF_OK;
}

/* Trains one n-gram per class on the prepared text of its documents. */
static lmf_status train_models(const lmf_docs *tr, const lmf_lmclass_opts *o, lmf_model **m) {
    const int C = tr->C;
    lmf_buf *b = (lmf_buf *)lmf_calloc((size_t)C, sizeof *b);
    if (!b) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = LMF_OK;
    for (size_t i = 0; i < tr->n && !s; i++)
        if (prepare(&b[tr->label[i]], tr->text[i], tr->len[i], o->chars)) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_ngram_train_opts to;
    lmf_ngram_train_opts_init(&to);
    to.order = o->order > 0 ? o->order : o->chars ? 5 : 3;
    to.utf8_check = 0;
    to.max_line = SIZE_MAX / 2;
    for (int c = 0; c < C && !s; c++) {
        char name[300];
        snprintf(name, sizeof name, "%s (class %.200s)", tr->path ? tr->path : "training documents", tr->names[c]);
        if (!b[c].len) {
            s = lmf_error(LMF_ERR_DATA, "%s: class %s has no training documents", tr->path ? tr->path : "training",
                          tr->names[c]);
            break;
        }
        lmf_ngram *ng = NULL;
        s = lmf_ngram_train_mem(b[c].p, b[c].len, name, &to, &ng, NULL);
        if (!s) m[c] = lmf_ngram_model(ng);
    }
    for (int c = 0; c < C; c++) lmf_buf_free(&b[c]);
    lmf_free(b);
    return s;
}

lmf_status lmf_lmclass_train(const lmf_docs *train, const lmf_docs *valid, const lmf_lmclass_opts *o,
                             lmf_classifier **out) {
    *out = NULL;
    lmf_lmclass_opts def;
    if (!o) lmf_lmclass_opts_init(&def), o = &def;
    const int C = train->C;
    if (C < 2) return lmf_error(LMF_ERR_DATA, "%s: one class only (%s); classification needs two or more", train->path, train->names[0]);
    for (size_t i = 0; i < train->n; i++)
        if (train->label[i] < 0)
            return lmf_error(LMF_ERR_DATA, "%s:%zu: a training document without a label", train->path, train->line[i]);
    for (size_t i = 0; valid && i < valid->n; i++)
        if (valid->label[i] < 0)
            return lmf_error(LMF_ERR_DATA, "%s:%zu: a validation document without a label", valid->path, valid->line[i]);
    lmf_model **m = (lmf_model **)lmf_calloc((size_t)C, sizeof *m);
    double *prior = (double *)lmf_malloc((size_t)C * sizeof *prior);
    size_t *cnt = (size_t *)lmf_malloc((size_t)C * sizeof *cnt);
    lmf_status s = m && prior && cnt ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) {
        lmf_docs_counts(train, cnt);
        for (int c = 0; c < C; c++) prior[c] = (double)cnt[c] / (double)train->n;
        s = train_models(train, o, m);
    }
    lmf_lmclass_opts oo = *o;
    if (!s && oo.order <= 0) oo.order = o->chars ? 5 : 3;
    if (!s) {
        s = lmf_lmclass_new(m, NULL, (const char *const *)train->names, C, prior, &oo, out);
        if (!s && valid) s = lmf_lmclass_calibrate(*out, valid);
        if (s) {
            lmf_classifier_free(*out);
            *out = NULL;
        }
    } else {
        for (int c = 0; m && c < C; c++) lmf_model_free(m[c]);
    }
    lmf_free(m);
    lmf_free(prior);
    lmf_free(cnt);
    return s;
}

static lmf_status lc_refit(const lmf_classifier *cl, const lmf_docs *train, const lmf_docs *valid,
                           lmf_classifier **out) {
    const lmclass *lc = (const lmclass *)cl;
    for (int c = 0; c < cl->C; c++)
        if (!lmf_ngram_from_model(lc->m[c]))
            return lmf_error(LMF_ERR_ARG,
                             "an LM classifier over %s models cannot be trained again here (only its n-gram kind "
                             "can); train the class models yourself and combine them with lmf_lmclass_new",
                             lmf_model_kind(lc->m[c]));
    lmf_status s = lmf_lmclass_train(train, valid, &lc->o, out);
    if (!s && !valid) { /* keep this one's calibration */
        lmclass *n = (lmclass *)*out;
        n->a = lc->a;
        memcpy(n->b, lc->b, (size_t)cl->C * sizeof *n->b);
    }
    return s;
}

/* ---- files ---- */
static char *base_name(const char *p) {
    const char *sl = strrchr(p, '/');
    return lmf_strdup(sl ? sl + 1 : p);
}

static lmf_status lc_save(const lmf_classifier *cl, const char *path, cJSON *j) {
    const lmclass *lc = (const lmclass *)cl;
    const int C = cl->C;
    cJSON *models = cJSON_AddArrayToObject(j, "models"), *pr = cJSON_AddArrayToObject(j, "prior");
    cJSON *cal = cJSON_AddObjectToObject(j, "calibration");
    if (!models || !pr || !cal) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = LMF_OK;
    for (int c = 0; c < C && !s; c++) {
        char *ref = NULL;
        if (lc->paths[c]) { /* a model file of its own: stored by its absolute path */
            ref = realpath(lc->paths[c], NULL);
            if (!ref) s = lmf_error(LMF_ERR_IO, "%s: the class model's file is gone", lc->paths[c]);
        } else { /* trained here: written next to the classifier */
            lmf_ngram *ng = lmf_ngram_from_model(lc->m[c]);
            size_t n = strlen(path) + 32;
            char *side = (char *)lmf_malloc(n);
            if (!side || !ng) {
                lmf_free(side);
                s = lmf_error(ng ? LMF_ERR_NOMEM : LMF_ERR_ARG, ng ? "out of memory" : "a class model without a file");
                break;
            }
            snprintf(side, n, "%s.class%d.lmfb", path, c);
            s = lmf_ngram_write_binary(ng, side);
            char *b = s ? NULL : base_name(side);
            lmf_free(side);
            if (!s && !b) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            if (b) {
                ref = (char *)malloc(strlen(b) + 1);
                if (ref) strcpy(ref, b);
                lmf_free(b);
            }
        }
        if (!s && (!ref || !cJSON_AddItemToArray(models, cJSON_CreateString(ref)))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        free(ref);
        if (!s && !cJSON_AddItemToArray(pr, cJSON_CreateNumber(exp(lc->lprior[c]))))
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    if (s) return s;
    cJSON *b = cJSON_AddArrayToObject(cal, "b");
    if (!cJSON_AddStringToObject(j, "units", lc->o.chars ? "char" : "word") ||
        !cJSON_AddNumberToObject(j, "order", lc->o.order) || !cJSON_AddBoolToObject(j, "length_norm", lc->o.length_norm) ||
        !cJSON_AddStringToObject(cal, "method",
                                 lc->o.calib == LMF_CALIB_PLATT         ? "platt"
                                 : lc->o.calib == LMF_CALIB_TEMPERATURE ? "temperature"
                                                                         : "none") ||
        !cJSON_AddNumberToObject(cal, "a", lc->a) || !b)
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (isfinite(lc->valid_nll) && (!cJSON_AddNumberToObject(cal, "valid_nll", lc->valid_nll) ||
                                    !cJSON_AddNumberToObject(cal, "valid_accuracy", lc->valid_acc)))
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int c = 0; c < C; c++)
        if (!cJSON_AddItemToArray(b, cJSON_CreateNumber(lc->b[c]))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    return LMF_OK;
}

static int num_array(const cJSON *a, int C, double *out) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != C) return 0;
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) return 0;
        out[i] = e->valuedouble;
    }
    return 1;
}

lmf_status lmf_lmclass_load(const cJSON *j, const char *path, const char *dir, lmf_model_loader_fn load_model,
                            void *user, char **names, int C, lmf_classifier **out) {
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models"), *pr = cJSON_GetObjectItemCaseSensitive(j, "prior"),
                *cal = cJSON_GetObjectItemCaseSensitive(j, "calibration"),
                *units = cJSON_GetObjectItemCaseSensitive(j, "units"), *order = cJSON_GetObjectItemCaseSensitive(j, "order"),
                *ln = cJSON_GetObjectItemCaseSensitive(j, "length_norm");
    const cJSON *meth = cJSON_GetObjectItemCaseSensitive(cal, "method"), *a = cJSON_GetObjectItemCaseSensitive(cal, "a"),
                *b = cJSON_GetObjectItemCaseSensitive(cal, "b");
    double *prior = (double *)lmf_malloc(2 * (size_t)C * sizeof *prior);
    if (!prior) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = LMF_OK;
    if (!cJSON_IsArray(models) || cJSON_GetArraySize(models) != C)
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"models\" must list one model file per class (%d)", path, C);
    else if (!num_array(pr, C, prior))
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"prior\" must be %d finite numbers", path, C);
    else if (!cJSON_IsString(units) || (strcmp(units->valuestring, "word") && strcmp(units->valuestring, "char")))
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"units\" must be \"word\" or \"char\"", path);
    else if (!cJSON_IsObject(cal) || !cJSON_IsString(meth) || !cJSON_IsNumber(a) || !isfinite(a->valuedouble) ||
             !num_array(b, C, prior + C))
        s = lmf_error(LMF_ERR_FORMAT,
                      "%s: \"calibration\" must be {\"method\": ..., \"a\": number, \"b\": [%d numbers]}", path, C);
    lmf_lmclass_opts o;
    lmf_lmclass_opts_init(&o);
    if (!s && order) s = lmf_json_i32(order, path, "\"order\"", 0, LMF_NGRAM_MAX_ORDER, NULL, &o.order);
    if (!s) {
        o.chars = !strcmp(units->valuestring, "char");
        o.length_norm = cJSON_IsTrue(ln);
        o.calib = !strcmp(meth->valuestring, "platt")         ? LMF_CALIB_PLATT
                  : !strcmp(meth->valuestring, "temperature") ? LMF_CALIB_TEMPERATURE
                                                              : LMF_CALIB_NONE;
    }
    lmf_model **m = s ? NULL : (lmf_model **)lmf_calloc((size_t)C, sizeof *m);
    char **paths = s ? NULL : (char **)lmf_calloc((size_t)C, sizeof *paths);
    if (!s && (!m || !paths)) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    int c = 0;
    for (const cJSON *e = models ? models->child : NULL; !s && e; e = e->next, c++) {
        if (!cJSON_IsString(e) || !e->valuestring[0]) {
            s = lmf_error(LMF_ERR_FORMAT, "%s: model %d is not a file name", path, c + 1);
            break;
        }
        paths[c] = e->valuestring[0] == '/' ? lmf_strdup(e->valuestring) : lmf_path_join(dir, e->valuestring);
        if (!paths[c]) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else if ((s = load_model(user, paths[c], &m[c])))
            s = lmf_error(s, "%s: the model of class %s: %s", path, names[c], lmf_last_error());
    }
    if (!s) {
        s = lmf_lmclass_new(m, (const char *const *)paths, (const char *const *)names, C, prior, &o, out);
        memset(m, 0, (size_t)C * sizeof *m); /* the models are taken (freed on failure too) */
        if (!s) {
            lmclass *lc = (lmclass *)*out;
            lc->a = a->valuedouble;
            memcpy(lc->b, prior + C, (size_t)C * sizeof *lc->b);
        }
    }
    for (int k = 0; m && k < C; k++) lmf_model_free(m[k]);
    for (int k = 0; paths && k < C; k++) lmf_free(paths[k]);
    lmf_free(m);
    lmf_free(paths);
    lmf_free(prior);
    return s;
}

static const lmf_classifier_ops lm_ops = {
    .kind = "lm",
    .free = lc_free,
    .describe = lc_describe,
    .predict = lc_predict,
    .refit = lc_refit,
    .save = lc_save,
};
