/* Classifier interface (lmf/classify.h): dispatch, the file frame shared by
 * every kind, and helpers.  A classifier file is a JSON object
 *   {"lmfuse": "classifier", "kind": K, "classes": [names], ...}
 * whose other fields belong to the kind (lm.c, nb.c, linear.c, nnclass.c, fusion.c). */
#include "classify_impl.h"
#include "../core/json_impl.h"
#include "../core/util_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

lmf_status lmf_classifier_set_names(lmf_classifier *c, const char *const *names, int C) {
    c->names = (char **)lmf_calloc((size_t)C, sizeof *c->names);
    if (!c->names) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    c->C = C;
    for (int i = 0; i < C; i++)
        if (!(c->names[i] = lmf_strdup(names[i]))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    return LMF_OK;
}

void lmf_classifier_base_free(lmf_classifier *c) {
    for (int i = 0; c->names && i < c->C; i++) lmf_free(c->names[i]);
    lmf_free(c->names);
    c->names = NULL;
}

const char *lmf_classifier_kind(const lmf_classifier *c) { return c->ops->kind; }
int lmf_classifier_classes(const lmf_classifier *c) { return c->C; }
const char *lmf_classifier_class_name(const lmf_classifier *c, int i) {
    return i >= 0 && i < c->C ? c->names[i] : NULL;
}

void lmf_classifier_free(lmf_classifier *c) {
    if (c) c->ops->free(c);
}

void lmf_classifier_describe(const lmf_classifier *c, char *buf, size_t n) {
    if (c->ops->describe)
        c->ops->describe(c, buf, n);
    else
        snprintf(buf, n, "%s classifier over %d classes", c->ops->kind, c->C);
}

/* The documents' classes must be the classifier's, name for name. */
static lmf_status check_classes(const lmf_classifier *c, const lmf_docs *d) {
    int same = d->C == c->C;
    for (int i = 0; same && i < c->C; i++) same = !strcmp(d->names[i], c->names[i]);
    if (!same)
        return lmf_error(LMF_ERR_DATA,
                         "%s: the documents were read over %d classes, the classifier knows %d (or other names); read "
                         "them with the classifier's classes",
                         d->path ? d->path : "documents", d->C, c->C);
    return LMF_OK;
}

lmf_status lmf_classifier_predict(lmf_classifier *c, const lmf_docs *d, float *logp, lmf_progress_fn progress,
                                  void *user) {
    lmf_status s = check_classes(c, d);
    return s ? s : c->ops->predict(c, d, logp, progress, user);
}

lmf_status lmf_classifier_refit(const lmf_classifier *c, const lmf_docs *train, const lmf_docs *valid,
                                lmf_classifier **out) {
    *out = NULL;
    if (!c->ops->refit) return lmf_error(LMF_ERR_ARG, "a %s classifier cannot be trained again", c->ops->kind);
    lmf_status s = check_classes(c, train);
    if (!s && valid) s = check_classes(c, valid);
    return s ? s : c->ops->refit(c, train, valid, out);
}

void lmf_log_softmax(float *x, int C) {
    double mx = -INFINITY, sum = 0;
    for (int c = 0; c < C; c++) mx = x[c] > mx ? x[c] : mx;
    for (int c = 0; c < C; c++) sum += exp((double)x[c] - mx);
    double z = mx + log(sum);
    for (int c = 0; c < C; c++) x[c] = (float)((double)x[c] - z);
}

void lmf_balanced_class_weights(const int32_t *y, size_t n, int C, double *cw) {
    size_t nc[LMF_MAX_CLASSES] = {0};
    int present = 0;
    for (size_t i = 0; i < n; i++)
        if (y[i] >= 0 && y[i] < C) nc[y[i]]++;
    for (int c = 0; c < C; c++) present += nc[c] > 0;
    for (int c = 0; c < C; c++) cw[c] = nc[c] ? (double)n / ((double)present * (double)nc[c]) : 0;
}

lmf_status lmf_classifier_save(const lmf_classifier *c, const char *path) {
    cJSON *j = cJSON_CreateObject(), *names = cJSON_CreateArray();
    if (!j || !names || !cJSON_AddStringToObject(j, "lmfuse", "classifier") ||
        !cJSON_AddStringToObject(j, "kind", c->ops->kind)) {
        cJSON_Delete(j);
        cJSON_Delete(names);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    cJSON_AddItemToObject(j, "classes", names);
    for (int i = 0; i < c->C; i++) {
        cJSON *s = cJSON_CreateString(c->names[i]);
        if (!s) {
            cJSON_Delete(j);
            return lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
        cJSON_AddItemToArray(names, s);
    }
    lmf_status s = c->ops->save(c, path, j);
    if (s) {
        cJSON_Delete(j);
        return s;
    }
    return lmf_json_save(path, j);
}


lmf_status lmf_classifier_load_with(const char *path, lmf_model_loader_fn load_model, void *user,
                                    lmf_classifier **out) {
    return lmf_classifier_load_depth(path, load_model, user, 0, out);
}

lmf_status lmf_classifier_load_depth(const char *path, lmf_model_loader_fn load_model, void *user, int depth,
                                     lmf_classifier **out) {
    *out = NULL;
    if (depth > LMF_CLASSIFIER_MAX_DEPTH)
        return lmf_error(LMF_ERR_FORMAT, "%s: fusions nest deeper than %d levels (does a fusion include itself?)", path,
                         LMF_CLASSIFIER_MAX_DEPTH);
    lmf_filebuf fb;
    lmf_status s = lmf_file_read(path, &fb);
    if (s) return s;
    const char *end = NULL;
    cJSON *j = NULL;
    s = lmf_json_parse(fb.data, fb.size, &end, &j);
    if (s == LMF_ERR_NOMEM) {
        lmf_filebuf_free(&fb);
        return s;
    }
    if (!j) {
        int line = 1;
        for (const char *p = fb.data; end && p < end && p < fb.data + fb.size; p++) line += *p == '\n';
        lmf_filebuf_free(&fb);
        return lmf_error(LMF_ERR_FORMAT, "%s:%d: not valid JSON (a classifier file, as lmfuse classify train writes)",
                         path, line);
    }
    lmf_filebuf_free(&fb);
    const cJSON *tag = cJSON_GetObjectItemCaseSensitive(j, "lmfuse"), *kind = cJSON_GetObjectItemCaseSensitive(j, "kind"),
                *cl = cJSON_GetObjectItemCaseSensitive(j, "classes");
    char **names = NULL;
    int C = 0;
    if (!cJSON_IsObject(j) || !cJSON_IsString(tag) || strcmp(tag->valuestring, "classifier"))
        s = lmf_error(LMF_ERR_FORMAT,
                      "%s: not a classifier file (expected a JSON object with \"lmfuse\": \"classifier\"; train one "
                      "with lmfuse classify train)",
                      path);
    else if (!cJSON_IsString(kind))
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"kind\" is missing (lm, nb, linear, neural or fusion)", path);
    else if (!cJSON_IsArray(cl) || (C = cJSON_GetArraySize(cl)) < 1 || C > LMF_MAX_CLASSES)
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"classes\" must be an array of 1..%d class names", path, LMF_MAX_CLASSES);
    if (!s && !(names = (char **)lmf_calloc((size_t)C, sizeof *names))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    int i = 0;
    for (const cJSON *e = cl ? cl->child : NULL; !s && e; e = e->next, i++) {
        if (!cJSON_IsString(e) || !e->valuestring[0])
            s = lmf_error(LMF_ERR_FORMAT, "%s: class %d is not a non-empty string", path, i + 1);
        else if (i && strcmp(names[i - 1], e->valuestring) >= 0)
            s = lmf_error(LMF_ERR_FORMAT, "%s: class names must be sorted and distinct (\"%s\" after \"%s\")", path,
                          e->valuestring, names[i - 1]);
        else if (!(names[i] = lmf_strdup(e->valuestring)))
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    char *dir = s ? NULL : lmf_path_dir(path);
    if (!s && !dir) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) {
        const char *k = kind->valuestring;
        if (!strcmp(k, "lm"))
            s = lmf_lmclass_load(j, path, dir, load_model, user, names, C, out);
        else if (!strcmp(k, "linear"))
            s = lmf_linear_load(j, path, dir, names, C, out);
        else if (!strcmp(k, "nb"))
            s = lmf_nb_load(j, path, dir, names, C, out);
        else if (!strcmp(k, "neural"))
            s = lmf_nnclass_load(j, path, dir, names, C, out);
        else if (!strcmp(k, "fusion"))
            s = lmf_cfuse_load(j, path, dir, load_model, user, depth, names, C, out);
        else
            s = lmf_error(LMF_ERR_FORMAT, "%s: unknown classifier kind \"%s\" (lm, nb, linear, neural or fusion)", path, k);
    }
    for (int c = 0; names && c < C; c++) lmf_free(names[c]);
    lmf_free(names);
    lmf_free(dir);
    cJSON_Delete(j);
    return s;
}

static lmf_status load_plain(void *user, const char *path, lmf_model **out) {
    (void)user;
    return lmf_model_load(path, out);
}

lmf_status lmf_classifier_load(const char *path, lmf_classifier **out) {
    return lmf_classifier_load_with(path, load_plain, NULL, out);
}

lmf_status lmf_predictions_write(const char *path, char *const *names, int C, const float *logp, size_t n) {
    lmf_outfile of;
    lmf_status s = lmf_outfile_open(&of, path);
    if (s) return s;
    fputs("label", of.fp);
    for (int c = 0; c < C; c++) fprintf(of.fp, "\t%s", names[c]);
    fputc('\n', of.fp);
    for (size_t i = 0; i < n; i++) {
        const float *row = logp + i * (size_t)C;
        fputs(names[lmf_argmax_f(row, C)], of.fp);
        for (int c = 0; c < C; c++) fprintf(of.fp, "\t%.6g", exp((double)row[c]));
        fputc('\n', of.fp);
    }
    return lmf_outfile_commit(&of);
}
