/* The tagger interface (lmf/tag.h): what every kind shares (tag set,
 * training words, files) and the dispatch to hmm.c, perceptron.c and
 * fusion.c. */
#define _POSIX_C_SOURCE 200809L
#include "tag_impl.h"
#include "../core/util_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[LMF_TAGGER_KIND_COUNT] = {"hmm", "perceptron", "fusion", "stack", "neural"};

const char *lmf_tagger_kind_name(lmf_tagger_kind k) {
    return (unsigned)k < LMF_TAGGER_KIND_COUNT ? kind_names[k] : "?";
}

int lmf_tagger_kind_parse(const char *s) {
    for (int k = 0; k < LMF_TAGGER_KIND_COUNT; k++)
        if (!strcmp(s, kind_names[k])) return k;
    return -1;
}

void lmf_tagger_opts_init(lmf_tagger_opts *o) {
    memset(o, 0, sizeof *o);
    o->kind = LMF_TAGGER_HMM;
    o->order = 2;
    o->suffix_len = 10;
    o->rare_max = 10;
    o->beam = 1000;
    o->iters = 5;
    o->seed = 1;
    o->nn_layers = 1;
    o->nn_hidden = 128;
    o->nn_emb = 128;
    o->nn_epochs = 3;
    o->nn_batch = 16;
    o->nn_lr = 2e-3;
    o->nn_dropout = 0.2;
}

void lmf_tag_log_softmax(float *x, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    double z = 0;
    for (int i = 0; i < n; i++) z += exp((double)x[i] - m);
    const float lz = (float)(m + log(z));
    for (int i = 0; i < n; i++) x[i] -= lz;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

lmf_status lmf_tagger_base_new(lmf_tagger_kind kind, const lmf_tagged *train, const lmf_strtab *tagset, lmf_tagger **out) {
    *out = NULL;
    if (!lmf_tagged_tag(train, 0))
        return lmf_error(LMF_ERR_ARG, "%s: read without tags; a tagger trains on WORD<TAB>TAG lines", lmf_tagged_path(train));
    lmf_tagger *t = (lmf_tagger *)lmf_calloc(1, sizeof *t);
    if (!t) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    t->kind = kind;
    t->max_len = 100000;
    lmf_strtab seen = {0};
    const char **names = NULL;
    lmf_status s = LMF_OK;
    const size_t n = lmf_tagged_ntok(train);
    for (size_t i = 0; i < n && !s; i++) {
        const char *tg = lmf_tagged_tag(train, i), *w = lmf_tagged_word(train, i);
        if (lmf_strtab_add(&seen, tg, strlen(tg)) < 0 || lmf_strtab_add(&t->words, w, strlen(w)) < 0)
            s = lmf_error(LMF_ERR_NOMEM, "out of memory (the words of %s)", lmf_tagged_path(train));
        else if (seen.n > 32767)
            s = lmf_error(LMF_ERR_DATA, "%s line %zu: more than 32767 distinct tags (is the tag column the last one?)",
                          lmf_tagged_path(train), lmf_tagged_line(train, i));
    }
    if (tagset) { /* the given tags (already in order); the corpus's must be among them */
        for (int32_t i = 0; i < seen.n && !s; i++)
            if (lmf_strtab_find(tagset, lmf_strtab_str(&seen, i), strlen(lmf_strtab_str(&seen, i))) < 0)
                s = lmf_error(LMF_ERR_DATA, "%s: tag \"%s\" is not in the tag set", lmf_tagged_path(train), lmf_strtab_str(&seen, i));
        for (int32_t i = 0; i < tagset->n && !s; i++)
            if (lmf_strtab_add(&t->tags, lmf_strtab_str(tagset, i), strlen(lmf_strtab_str(tagset, i))) < 0)
                s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        seen.n = s ? seen.n : 0; /* nothing left to sort */
    }
    if (!s && !(names = (const char **)lmf_malloc((size_t)(seen.n ? seen.n : 1) * sizeof *names))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) {
        for (int32_t i = 0; i < seen.n; i++) names[i] = lmf_strtab_str(&seen, i);
        qsort(names, (size_t)seen.n, sizeof *names, cmp_str);
        for (int32_t i = 0; i < seen.n && !s; i++)
            if (lmf_strtab_add(&t->tags, names[i], strlen(names[i])) < 0) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    lmf_free(names);
    lmf_strtab_free(&seen);
    if (s) {
        lmf_tagger_free(t);
        return s;
    }
    *out = t;
    return LMF_OK;
}

static lmf_status train_tags(const lmf_tagger_opts *o, const lmf_tagged *train, const lmf_strtab *tagset, lmf_tagger **out) {
    *out = NULL;
    lmf_tagger_opts def;
    if (!o) lmf_tagger_opts_init(&def), o = &def;
    if (o->kind != LMF_TAGGER_HMM && o->kind != LMF_TAGGER_PERCEPTRON && o->kind != LMF_TAGGER_NEURAL)
        return lmf_error(LMF_ERR_ARG, "tagger kind %s cannot be trained (hmm, perceptron or neural; fusions are recipes)",
                         lmf_tagger_kind_name(o->kind));
    lmf_tagger *t;
    lmf_status s = lmf_tagger_base_new(o->kind, train, tagset, &t);
    if (s) return s;
    t->opts = *o;
    t->opts.progress = 0;
    s = o->kind == LMF_TAGGER_HMM ? lmf_hmm_train(t, o, train)
        : o->kind == LMF_TAGGER_NEURAL ? lmf_neural_train(t, o, train)
                                        : lmf_perceptron_train(t, o, train);
    if (s) {
        lmf_tagger_free(t);
        return s;
    }
    *out = t;
    return LMF_OK;
}

lmf_status lmf_tagger_train(const lmf_tagger_opts *o, const lmf_tagged *train, lmf_tagger **out) {
    return train_tags(o, train, NULL, out);
}

lmf_status lmf_tagger_retrain(const lmf_tagger *t, const lmf_tagged *train, lmf_tagger **out) {
    *out = NULL;
    if (t->kind != LMF_TAGGER_HMM && t->kind != LMF_TAGGER_PERCEPTRON && t->kind != LMF_TAGGER_NEURAL)
        return lmf_error(LMF_ERR_UNSUPPORTED, "a %s tagger cannot be trained again on other data", lmf_tagger_kind_name(t->kind));
    return train_tags(&t->opts, train, &t->tags, out);
}

void lmf_tagger_free(lmf_tagger *t) {
    if (!t) return;
    if (t->ops && t->ops->free_impl) t->ops->free_impl(t->impl);
    lmf_strtab_free(&t->tags);
    lmf_strtab_free(&t->words);
    lmf_free(t);
}

lmf_tagger_kind lmf_tagger_kind_of(const lmf_tagger *t) { return t->kind; }
int lmf_tagger_ntags(const lmf_tagger *t) { return t->tags.n; }
const char *lmf_tagger_tag_name(const lmf_tagger *t, int id) {
    return id >= 0 && id < t->tags.n ? lmf_strtab_str(&t->tags, id) : NULL;
}
int lmf_tagger_tag_id(const lmf_tagger *t, const char *tag) { return lmf_strtab_find(&t->tags, tag, strlen(tag)); }
int lmf_tagger_knows(const lmf_tagger *t, const char *word) { return lmf_strtab_find(&t->words, word, strlen(word)) >= 0; }
size_t lmf_tagger_max_len(const lmf_tagger *t) { return t->max_len; }

lmf_status lmf_tagger_run(lmf_tagger *t, const char *const *words, size_t n, int *best, float *logp) {
    if (n == 0) return lmf_error(LMF_ERR_ARG, "tagging an empty sentence");
    if (n > t->max_len)
        return lmf_error(LMF_ERR_ARG, "a sentence of %zu tokens; this %s tagger takes at most %zu (split it)", n,
                         lmf_tagger_kind_name(t->kind), t->max_len);
    return t->ops->run(t, words, n, best, logp);
}

int lmf_tagger_same_tags(const lmf_tagger *a, const lmf_tagger *b) {
    if (a->tags.n != b->tags.n) return 0;
    for (int32_t c = 0; c < a->tags.n; c++)
        if (strcmp(lmf_strtab_str(&a->tags, c), lmf_strtab_str(&b->tags, c))) return 0;
    return 1;
}

lmf_status lmf_tagger_adopt(lmf_tagger *t, lmf_tagger *const *members, int K) {
    t->max_len = SIZE_MAX;
    for (int32_t c = 0; c < members[0]->tags.n; c++) {
        const char *x = lmf_strtab_str(&members[0]->tags, c);
        if (lmf_strtab_add(&t->tags, x, strlen(x)) < 0) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < K; k++) {
        if (members[k]->max_len < t->max_len) t->max_len = members[k]->max_len;
        for (int32_t w = 0; w < members[k]->words.n; w++) {
            const char *x = lmf_strtab_str(&members[k]->words, w);
            if (lmf_strtab_add(&t->words, x, strlen(x)) < 0) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
    }
    return LMF_OK;
}

lmf_status lmf_tag_ids(const lmf_tagger *t, const lmf_tagged *c, int **ids, size_t *unseen) {
    *ids = NULL;
    if (unseen) *unseen = 0;
    const size_t n = lmf_tagged_ntok(c);
    if (!lmf_tagged_tag(c, 0)) return lmf_error(LMF_ERR_ARG, "%s: read without tags", lmf_tagged_path(c));
    int *v = (int *)lmf_malloc(n * sizeof *v);
    if (!v) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *tg = lmf_tagged_tag(c, i);
        if ((v[i] = lmf_tagger_tag_id(t, tg)) < 0 && unseen) {
            ++*unseen;
        } else if (v[i] < 0) {
            lmf_free(v);
            return lmf_error(LMF_ERR_DATA, "%s line %zu: tag \"%s\" was never seen in training (the tagger knows %d tags; "
                                           "retrain on data that has it, or map it to a known tag)",
                             lmf_tagged_path(c), lmf_tagged_line(c, i), tg, t->tags.n);
        }
    }
    *ids = v;
    return LMF_OK;
}

lmf_status lmf_tag_tensor(const lmf_safetensors *st, const char *path, const char *name, lmf_dtype dt, int64_t numel,
                          const lmf_st_tensor **out) {
    const lmf_st_tensor *x = lmf_st_find(st, name);
    if (!x) return lmf_error(LMF_ERR_FORMAT, "%s: no tensor \"%s\" (not a complete lmfuse tagger file)", path, name);
    if (x->dtype != dt || x->ndim != 1 || (numel >= 0 && x->numel != (uint64_t)numel))
        return lmf_error(LMF_ERR_FORMAT, "%s: tensor \"%s\" is %s with %llu elements; expected one dimension of %s%s%lld",
                         path, name, lmf_dtype_name(x->dtype), (unsigned long long)x->numel, lmf_dtype_name(dt),
                         numel >= 0 ? ", " : "", numel >= 0 ? (long long)numel : 0LL);
    *out = x;
    return LMF_OK;
}

/* ---- files ---- */

lmf_status lmf_tagger_save(const lmf_tagger *t, const char *path) {
    if (t->kind == LMF_TAGGER_FUSION) return lmf_tagger_fusion_save(t, path);
    lmf_st_writer *w = lmf_st_writer_new();
    if (!w) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    size_t nt = 0, nw = 0;
    char *tb = lmf_strtab_blob(&t->tags, &nt), *wb = lmf_strtab_blob(&t->words, &nw);
    void *keep = NULL;
    char kind[64];
    snprintf(kind, sizeof kind, "tagger %s", lmf_tagger_kind_name(t->kind));
    lmf_status s = tb && wb ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    int64_t sh[1];
    if (!s) s = lmf_st_set_meta(w, "lmfuse.kind", kind);
    sh[0] = (int64_t)nt;
    if (!s) s = lmf_st_add(w, "tags", LMF_DT_U8, 1, sh, tb);
    sh[0] = (int64_t)nw;
    if (!s) s = lmf_st_add(w, "words", LMF_DT_U8, 1, sh, wb);
    if (!s) s = t->ops->save(t, w, &keep, path);
    if (!s) s = lmf_st_write(w, path);
    lmf_st_writer_free(w);
    lmf_free(keep);
    lmf_free(tb);
    lmf_free(wb);
    return s;
}

lmf_status lmf_tagger_load(const char *path, lmf_tagger **out) {
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    int first = fp ? fgetc(fp) : EOF;
    if (fp) fclose(fp);
    if (first == '{') return lmf_tagger_fusion_load(path, out);
    lmf_safetensors *st;
    lmf_status s = lmf_st_open(path, &st);
    if (s) return s;
    const char *kind = lmf_st_meta(st, "lmfuse.kind");
    int k = kind && !strncmp(kind, "tagger ", 7) ? lmf_tagger_kind_parse(kind + 7) : -1;
    if (k != LMF_TAGGER_HMM && k != LMF_TAGGER_PERCEPTRON && k != LMF_TAGGER_STACK && k != LMF_TAGGER_NEURAL) {
        s = lmf_error(LMF_ERR_FORMAT, "%s: not an lmfuse tagger (metadata lmfuse.kind is \"%.60s\"; train one with "
                                      "`lmfuse tag train`)", path, kind ? kind : "(none)");
        lmf_st_close(st); /* kind lives in the file's mapping */
        return s;
    }
    lmf_tagger *t = (lmf_tagger *)lmf_calloc(1, sizeof *t);
    if (!t) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    const lmf_st_tensor *tt = NULL, *tw = NULL;
    if (!s) {
        t->kind = (lmf_tagger_kind)k;
        t->max_len = 100000;
        lmf_tagger_opts_init(&t->opts);
        t->opts.kind = (lmf_tagger_kind)k;
        s = lmf_tag_tensor(st, path, "tags", LMF_DT_U8, -1, &tt);
    }
    if (!s) s = lmf_tag_tensor(st, path, "words", LMF_DT_U8, -1, &tw);
    if (!s) s = lmf_strtab_from_blob(&t->tags, tt->data, tt->nbytes, 1, path, "tags");
    if (!s && t->tags.n == 0) s = lmf_error(LMF_ERR_FORMAT, "%s: a tagger without tags (a damaged file)", path);
    if (!s) s = lmf_strtab_from_blob(&t->words, tw->data, tw->nbytes, 0, path, "words");
    if (!s) s = k == LMF_TAGGER_HMM ? lmf_hmm_load(t, st, path)
                : k == LMF_TAGGER_STACK ? lmf_stack_load(t, st, path)
                : k == LMF_TAGGER_NEURAL ? lmf_neural_load(t, st, path)
                                         : lmf_perceptron_load(t, st, path);
    lmf_st_close(st);
    if (s) {
        lmf_tagger_free(t);
        return s;
    }
    *out = t;
    return LMF_OK;
}

