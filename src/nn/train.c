/* The training loop (lmf/train.h): data layout, optimizer, schedule,
 * validation, checkpoints and resume.  Architectures plug in through
 * lmf_net (net.h). */
#define _POSIX_C_SOURCE 200809L
#include "lmf/train.h"
#include "lmf/eval.h"
#include "lmf/parse.h"
#include "head.h"
#include "net.h"
#include "../core/json_impl.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void lmf_train_opts_init(lmf_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->arch = "lstm";
    o->layers = 2;
    o->hidden = 256;
    o->emb = 256;
    o->dropout = 0.2f;
    o->heads = 4;
    o->ctx = 64;
    o->batch = 32;
    o->bptt = 35;
    o->epochs = 3;
    o->threads = 1;
    o->seed = 1;
    o->lr = 2e-3;
    o->clip = 0.25;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->schedule = "plateau";
    o->plateau_factor = 0.25;
    o->checkpoint_every = 500;
    o->log_seconds = 10;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_dur(char *b, size_t n, double s) {
    if (s < 0 || !isfinite(s)) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(b, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(b, n, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(b, n, "%lds", t);
}

/* Progress that a resumed run continues from. */
typedef struct progress {
    int64_t step;     /* optimizer steps done */
    int epoch;        /* current epoch, 0-based */
    int64_t window;   /* next window of the epoch */
    double lr_scale;  /* plateau multiplier */
    double best_valid;
    int best_epoch, bad_epochs;
    double epoch_nll;
    int64_t epoch_tokens;
} progress;

typedef struct trainer {
    lmf_train_opts o;
    char *strs[8]; /* strings owned after a resume */
    lmf_net *net;
    lmf_vocab *vocab;
    lmf_tokens train, valid;
    int32_t *data; /* [cols, B] time-major */
    int64_t cols, windows;
    uint64_t data_hash;
    float *m, *v;
    int32_t *cstart, *cls; /* output classes when o.classes > 0 */
    progress pg;
    char *ckpt_path;
    FILE *loss_log;
} trainer;

/* ---------------- settings <-> JSON ---------------- */

/* The settings; with_run adds what only a checkpoint needs (paths, limits). */
static cJSON *opts_json(const trainer *tr, int with_run) {
    const lmf_train_opts *o = &tr->o;
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "arch", o->arch);
    cJSON_AddNumberToObject(j, "layers", o->layers);
    cJSON_AddNumberToObject(j, "hidden", o->hidden);
    cJSON_AddNumberToObject(j, "emb", o->emb);
    cJSON_AddBoolToObject(j, "tied", o->tied);
    cJSON_AddNumberToObject(j, "dropout", o->dropout);
    if (o->classes) cJSON_AddNumberToObject(j, "classes", o->classes);
    if (o->bf16) cJSON_AddBoolToObject(j, "bf16", 1);
    if (!strcmp(o->arch, "transformer")) {
        cJSON_AddNumberToObject(j, "heads", o->heads);
        cJSON_AddNumberToObject(j, "ff", o->ff);
        cJSON_AddNumberToObject(j, "ctx", o->ctx);
    }
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddNumberToObject(j, "bptt", o->bptt);
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    cJSON_AddNumberToObject(j, "threads", o->threads);
    if (o->seed <= ((uint64_t)1 << 53)) /* exact as a JSON number; larger seeds as decimal strings */
        cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    else {
        char sd[24];
        snprintf(sd, sizeof sd, "%llu", (unsigned long long)o->seed);
        cJSON_AddStringToObject(j, "seed", sd);
    }
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "lr_min", o->lr_min);
    cJSON_AddNumberToObject(j, "clip", o->clip);
    cJSON_AddNumberToObject(j, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(j, "beta1", o->beta1);
    cJSON_AddNumberToObject(j, "beta2", o->beta2);
    cJSON_AddNumberToObject(j, "eps", o->eps);
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddStringToObject(j, "schedule", o->schedule);
    cJSON_AddNumberToObject(j, "plateau_factor", o->plateau_factor);
    cJSON_AddNumberToObject(j, "patience", o->patience);
    if (!with_run) return j;
    cJSON_AddStringToObject(j, "train", o->train);
    if (o->valid) cJSON_AddStringToObject(j, "valid", o->valid);
    cJSON_AddStringToObject(j, "out", o->out);
    cJSON_AddNumberToObject(j, "checkpoint_every", o->checkpoint_every);
    cJSON_AddNumberToObject(j, "max_steps", (double)o->max_steps);
    if (o->loss_log) cJSON_AddStringToObject(j, "loss_log", o->loss_log);
    return j;
}

static cJSON *progress_json(const trainer *tr) {
    const progress *p = &tr->pg;
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddNumberToObject(j, "step", (double)p->step);
    cJSON_AddNumberToObject(j, "epoch", p->epoch);
    cJSON_AddNumberToObject(j, "window", (double)p->window);
    cJSON_AddNumberToObject(j, "lr_scale", p->lr_scale);
    cJSON_AddNumberToObject(j, "best_valid", p->best_valid);
    cJSON_AddNumberToObject(j, "best_epoch", p->best_epoch);
    cJSON_AddNumberToObject(j, "bad_epochs", p->bad_epochs);
    cJSON_AddNumberToObject(j, "epoch_nll", p->epoch_nll);
    cJSON_AddNumberToObject(j, "epoch_tokens", (double)p->epoch_tokens);
    char h[32];
    snprintf(h, sizeof h, "%016llx", (unsigned long long)tr->data_hash);
    cJSON_AddStringToObject(j, "train_hash", h);
    return j;
}

/* Checkpoint metadata is input like any file: every field is checked before
 * it is used (a window of -1 or 1e30 would index outside the training data).
 * A key that is absent takes its default (older checkpoints lack some). */
#define CK_FIX "the checkpoint is damaged or was edited; resume from another one or start again"

static const cJSON *ck_item(const cJSON *j, const char *k) { return cJSON_GetObjectItemCaseSensitive(j, k); }

static lmf_status ck_int(const cJSON *j, const char *sec, const char *k, int64_t lo, int64_t hi, int64_t dflt,
                         const char *path, int64_t *out) {
    const cJSON *e = ck_item(j, k);
    if (!e) {
        *out = dflt;
        return LMF_OK;
    }
    char key[96];
    snprintf(key, sizeof key, "%s \"%s\"", sec, k);
    return lmf_json_int(e, path, key, lo, hi, CK_FIX, out);
}

static lmf_status ck_i32(const cJSON *j, const char *sec, const char *k, int lo, int hi, int dflt, const char *path,
                         int *out) {
    int64_t v;
    lmf_status s = ck_int(j, sec, k, lo, hi, dflt, path, &v);
    if (!s) *out = (int)v;
    return s;
}

static lmf_status ck_num(const cJSON *j, const char *sec, const char *k, double lo, double hi, double dflt,
                         const char *path, double *out) {
    const cJSON *e = ck_item(j, k);
    if (!e) {
        *out = dflt;
        return LMF_OK;
    }
    char key[96];
    snprintf(key, sizeof key, "%s \"%s\"", sec, k);
    return lmf_json_num(e, path, key, lo, hi, CK_FIX, out);
}

static lmf_status ck_bool(const cJSON *j, const char *sec, const char *k, const char *path, int *out) {
    const cJSON *e = ck_item(j, k);
    *out = cJSON_IsTrue(e);
    if (e && !cJSON_IsBool(e))
        return lmf_error(LMF_ERR_FORMAT, "%s: %s \"%s\" must be true or false; " CK_FIX, path, sec, k);
    return LMF_OK;
}

/* Copies a string setting out of the checkpoint JSON (owned by tr). */
static lmf_status ck_str(trainer *tr, const cJSON *j, const char *k, const char *dflt, const char *path,
                         const char **out) {
    const cJSON *e = ck_item(j, k);
    *out = dflt;
    if (!e) return LMF_OK;
    if (!cJSON_IsString(e) || !e->valuestring[0])
        return lmf_error(LMF_ERR_FORMAT, "%s: lmfuse.train \"%s\" must be a non-empty string; " CK_FIX, path, k);
    for (int i = 0; i < 8; i++)
        if (!tr->strs[i]) {
            if (!(tr->strs[i] = lmf_strdup(e->valuestring))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
            *out = tr->strs[i];
            return LMF_OK;
        }
    return lmf_error(LMF_ERR_FORMAT, "%s: too many string settings", path);
}

#define CK_BIG ((int64_t)1 << 62)

static lmf_status read_settings(trainer *tr, const cJSON *j, const char *path) {
    lmf_train_opts *o = &tr->o;
    const char *T = "lmfuse.train";
    double dropout;
    lmf_status s;
    if ((s = ck_str(tr, j, "arch", "?", path, &o->arch)) || (s = ck_i32(j, T, "layers", 1, LMF_NN_MAX_LAYERS, 0, path, &o->layers)) ||
        (s = ck_i32(j, T, "hidden", 1, 65536, 0, path, &o->hidden)) || (s = ck_i32(j, T, "emb", 1, 65536, 0, path, &o->emb)) ||
        (s = ck_bool(j, T, "tied", path, &o->tied)) || (s = ck_num(j, T, "dropout", 0, 1, 0, path, &dropout)) ||
        (s = ck_i32(j, T, "classes", 0, 1 << 30, 0, path, &o->classes)) || (s = ck_bool(j, T, "bf16", path, &o->bf16)) ||
        (s = ck_i32(j, T, "heads", 1, 65536, 4, path, &o->heads)) || (s = ck_i32(j, T, "ff", 0, 1 << 20, 0, path, &o->ff)) ||
        (s = ck_i32(j, T, "ctx", 1, 65536, 64, path, &o->ctx)) || (s = ck_i32(j, T, "batch", 1, 65536, 0, path, &o->batch)) ||
        (s = ck_i32(j, T, "bptt", 1, 65536, 0, path, &o->bptt)) || (s = ck_i32(j, T, "epochs", 1, 1 << 30, 0, path, &o->epochs)))
        return s;
    o->dropout = (float)dropout;
    const cJSON *sd = ck_item(j, "seed");
    if (cJSON_IsString(sd)) { /* seeds above 2^53 */
        if (!lmf_parse_u64(sd->valuestring, &o->seed))
            return lmf_error(LMF_ERR_FORMAT, "%s: lmfuse.train \"seed\" must be a whole number 0..%llu (got \"%.40s\"); %s",
                             path, (unsigned long long)UINT64_MAX, sd->valuestring, CK_FIX);
    } else if (sd && (s = lmf_json_u64(sd, path, "lmfuse.train \"seed\"", UINT64_MAX, CK_FIX, &o->seed))) {
        return s;
    }
    const double inf = INFINITY;
    if ((s = ck_num(j, T, "lr", 0, inf, 0, path, &o->lr)) || (s = ck_num(j, T, "lr_min", 0, inf, 0, path, &o->lr_min)) ||
        (s = ck_num(j, T, "clip", 0, inf, 0, path, &o->clip)) ||
        (s = ck_num(j, T, "weight_decay", 0, inf, 0, path, &o->weight_decay)) ||
        (s = ck_num(j, T, "beta1", 0, 1, 0.9, path, &o->beta1)) || (s = ck_num(j, T, "beta2", 0, 1, 0.999, path, &o->beta2)) ||
        (s = ck_num(j, T, "eps", 0, inf, 1e-8, path, &o->eps)) ||
        (s = ck_i32(j, T, "warmup", 0, INT32_MAX, 0, path, &o->warmup)) ||
        (s = ck_str(tr, j, "schedule", "cosine", path, &o->schedule)) ||
        (s = ck_num(j, T, "plateau_factor", 0, 1, 0.25, path, &o->plateau_factor)) ||
        (s = ck_i32(j, T, "patience", 0, INT32_MAX, 0, path, &o->patience)) ||
        (s = ck_str(tr, j, "train", NULL, path, &o->train)) || (s = ck_str(tr, j, "valid", NULL, path, &o->valid)) ||
        (s = ck_str(tr, j, "out", NULL, path, &o->out)) ||
        (s = ck_i32(j, T, "checkpoint_every", 0, INT32_MAX, 500, path, &o->checkpoint_every)) ||
        (s = ck_int(j, T, "max_steps", 0, CK_BIG, 0, path, &o->max_steps)) ||
        (s = ck_str(tr, j, "loss_log", NULL, path, &o->loss_log)))
        return s;
    o->vocab = NULL; /* the checkpoint carries the vocabulary */
    if (!o->train || !o->out) return lmf_error(LMF_ERR_FORMAT, "%s: checkpoint settings lack train/out; " CK_FIX, path);
    return LMF_OK;
}

/* The progress; window is checked against the data in setup (windows per
 * epoch depend on the text). */
static lmf_status read_progress(trainer *tr, const cJSON *p, const char *path) {
    progress *g = &tr->pg;
    const char *P = "lmfuse.progress";
    const double inf = INFINITY;
    lmf_status s;
    if ((s = ck_int(p, P, "step", 0, CK_BIG, 0, path, &g->step)) ||
        (s = ck_i32(p, P, "epoch", 0, tr->o.epochs, 0, path, &g->epoch)) ||
        (s = ck_int(p, P, "window", 0, CK_BIG, 0, path, &g->window)) ||
        (s = ck_num(p, P, "lr_scale", 0, 1, 1, path, &g->lr_scale)) ||
        (s = ck_num(p, P, "best_valid", 0, inf, 0, path, &g->best_valid)) ||
        (s = ck_i32(p, P, "best_epoch", 0, g->epoch, 0, path, &g->best_epoch)) ||
        (s = ck_i32(p, P, "bad_epochs", 0, g->epoch, 0, path, &g->bad_epochs)) ||
        (s = ck_num(p, P, "epoch_nll", 0, inf, 0, path, &g->epoch_nll)) ||
        (s = ck_int(p, P, "epoch_tokens", 0, CK_BIG, 0, path, &g->epoch_tokens)))
        return s;
    if (!(g->lr_scale > 0))
        return lmf_error(LMF_ERR_FORMAT, "%s: %s \"lr_scale\" must be in (0, 1] (got 0); " CK_FIX, path, P);
    const cJSON *h = ck_item(p, "train_hash");
    tr->data_hash = 0;
    if (h) {
        char *e = NULL;
        if (cJSON_IsString(h) && strlen(h->valuestring) == 16) tr->data_hash = strtoull(h->valuestring, &e, 16);
        if (!e || *e)
            return lmf_error(LMF_ERR_FORMAT, "%s: %s \"train_hash\" must be 16 hexadecimal digits; " CK_FIX, path, P);
    }
    return LMF_OK;
}

/* ---------------- files ---------------- */

/* A resumed run's loss log (path, open "r+" as fp): cut after the last line
 * of a step <= step (lines the killed run wrote after its checkpoint would
 * be repeated), positioned at the end for appending. */
static lmf_status loss_log_cut(FILE *fp, const char *path, int64_t step) {
    char line[256];
    long keep = 0;
    while (fgets(line, sizeof line, fp)) {
        long long st;
        if (!strchr(line, '\n') || sscanf(line, "%lld", &st) != 1 || st > step) break;
        keep = ftell(fp);
    }
    if (fflush(fp) || ftruncate(fileno(fp), (off_t)keep) || fseek(fp, keep, SEEK_SET))
        return lmf_error(LMF_ERR_IO, "%s: cannot cut the loss log to step %lld for the resumed run", path,
                         (long long)step);
    return LMF_OK;
}

static lmf_status write_model(trainer *tr, const char *path, int with_training_state) {
    /* a checkpoint lands after the loss log's lines up to its step */
    if (with_training_state && tr->loss_log && fflush(tr->loss_log))
        return lmf_error(LMF_ERR_IO, "%s: cannot write the loss log", tr->o.loss_log);
    lmf_st_writer *w = lmf_st_writer_new();
    if (!w) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = tr->net->ops->add_tensors(tr->net, w);
    char *vj = s ? NULL : lmf_vocab_json(tr->vocab);
    if (!s && !vj) s = LMF_ERR_NOMEM;
    if (!s) s = lmf_st_set_meta(w, "lmfuse.vocab", vj);
    if (!s) s = lmf_st_set_meta(w, "lmfuse.token_mode", lmf_token_mode_name(lmf_vocab_mode(tr->vocab)));
    lmf_json_init();
    const uint64_t jf = lmf_json_failures(); /* cJSON_Add* drops what it cannot allocate */
    cJSON *oj = opts_json(tr, with_training_state), *pj = with_training_state ? progress_json(tr) : NULL;
    char *ojs = oj ? cJSON_PrintUnformatted(oj) : NULL, *pjs = pj ? cJSON_PrintUnformatted(pj) : NULL;
    if (!s && (!ojs || (with_training_state && !pjs) || lmf_json_failures() != jf))
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) s = lmf_st_set_meta(w, "lmfuse.train", ojs);
    float *parts[LMF_NET_MAX_PARTS];
    size_t sizes[LMF_NET_MAX_PARTS];
    if (!s && with_training_state) {
        s = lmf_st_set_meta(w, "lmfuse.progress", pjs);
        int64_t sh[1] = {(int64_t)tr->net->n_param};
        if (!s) s = lmf_st_add(w, "train.adam_m", LMF_DT_F32, 1, sh, tr->m);
        if (!s) s = lmf_st_add(w, "train.adam_v", LMF_DT_F32, 1, sh, tr->v);
        int k = tr->net->ops->state_parts(tr->net, parts, sizes);
        for (int i = 0; i < k && !s; i++) {
            char nm[48];
            snprintf(nm, sizeof nm, "train.state.%d", i);
            sh[0] = (int64_t)sizes[i];
            s = lmf_st_add(w, nm, LMF_DT_F32, 1, sh, parts[i]);
        }
    }
    if (!s) s = lmf_st_write(w, path);
    cJSON_free(vj);
    cJSON_free(ojs);
    cJSON_free(pjs);
    cJSON_Delete(oj);
    cJSON_Delete(pj);
    lmf_st_writer_free(w);
    return s;
}

/* Tensors with one row per vocabulary word (input embeddings, output
 * weights and biases), by file name. */
static int vocab_rows(const char *name) {
    return !strcmp(name, "encoder.weight") || !strcmp(name, "decoder.weight") || !strcmp(name, "decoder.bias") ||
           !strcmp(name, "tok_emb.weight") || !strcmp(name, "head.weight") || !strcmp(name, "head.bias");
}

/* --init from a model over another vocabulary (domain adaptation): every
 * parameter comes from the init file, except that the rows of the words the
 * init model lacks keep this run's fresh initialisation and the rows of
 * words only it knows are dropped.  Built as a file of this run's shapes
 * (its fresh parameters overwritten from the init file), then loaded as
 * usual.  *shared receives the words the two vocabularies share. */
static lmf_status init_remapped(trainer *tr, const lmf_safetensors *ist, const lmf_vocab *iv, const char *ipath,
                                int32_t *shared) {
    const int32_t Vn = lmf_vocab_size(tr->vocab), Vo = lmf_vocab_size(iv);
    int32_t *from = (int32_t *)lmf_malloc((size_t)Vn * sizeof *from);
    if (!from) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    *shared = 0;
    for (int32_t i = 0; i < Vn; i++) {
        size_t len;
        const char *w = lmf_vocab_word(tr->vocab, i, &len);
        from[i] = i < 2 ? i : lmf_vocab_find(iv, w, len);
        *shared += from[i] >= 2;
    }
    if (!lmf_st_meta(ist, "lmfuse.classes") != !tr->o.classes) {
        lmf_free(from);
        return lmf_error(LMF_ERR_DATA, "%s: it has %s output layer, this run %s; use the same --classes", ipath,
                         tr->o.classes ? "a full-softmax" : "a class-factored", tr->o.classes ? "output classes" : "a full softmax");
    }
    char fresh[4096]; /* beside the output: this run can write there */
    if ((size_t)snprintf(fresh, sizeof fresh, "%s.init.%ld", tr->o.out, (long)getpid()) >= sizeof fresh) {
        lmf_free(from);
        return lmf_error(LMF_ERR_ARG, "%s: the output path is too long", tr->o.out);
    }
    lmf_st_writer *w = lmf_st_writer_new(), *w2 = lmf_st_writer_new();
    lmf_safetensors *fs = NULL;
    lmf_status s = w && w2 ? tr->net->ops->add_tensors(tr->net, w) : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) s = lmf_st_write(w, fresh);
    if (!s) s = lmf_st_open(fresh, &fs);
    const size_t nt = fs ? lmf_st_count(fs) : 0;
    float **buf = s ? NULL : (float **)lmf_calloc(nt ? nt : 1, sizeof *buf);
    if (!s && !buf) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < nt; i++) {
        const lmf_st_tensor *tf = lmf_st_at(fs, i), *ti = lmf_st_find(ist, tf->name);
        if (!(buf[i] = (float *)lmf_malloc((tf->numel ? tf->numel : 1) * sizeof(float)))) {
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            break;
        }
        if ((s = lmf_st_to_f32(tf, buf[i]))) break;
        int same = ti && ti->ndim == tf->ndim;
        for (int d = 0; same && d < tf->ndim; d++) same = ti->shape[d] == tf->shape[d];
        int rows = ti && vocab_rows(tf->name) && ti->ndim == tf->ndim && ti->shape[0] == Vo && tf->shape[0] == Vn;
        for (int d = 1; rows && d < tf->ndim; d++) rows = ti->shape[d] == tf->shape[d];
        if (!ti) {
            s = lmf_error(LMF_ERR_DATA, "%s: tensor \"%s\" is missing; --init needs a model of the same architecture and sizes", ipath, tf->name);
        } else if (rows && !same) {
            size_t width = tf->numel / (size_t)Vn;
            float *old = (float *)lmf_malloc((ti->numel ? ti->numel : 1) * sizeof *old);
            if (!old) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            else if (!(s = lmf_st_to_f32_finite(ti, old, ipath)))
                for (int32_t r = 0; r < Vn; r++)
                    if (from[r] >= 0) memcpy(buf[i] + (size_t)r * width, old + (size_t)from[r] * width, width * sizeof(float));
            lmf_free(old);
        } else if (same) {
            s = lmf_st_to_f32_finite(ti, buf[i], ipath);
        } else {
            s = lmf_error(LMF_ERR_DATA, "%s: tensor \"%s\" has another shape than this run's; --init needs the same "
                                        "architecture and sizes (only the vocabulary may differ)", ipath, tf->name);
        }
        if (!s) s = lmf_st_add(w2, tf->name, LMF_DT_F32, tf->ndim, tf->shape, buf[i]);
    }
    if (!s && tr->o.classes) s = lmf_head_write_classes(w2, tr->cstart, tr->o.classes);
    if (!s) s = lmf_st_write(w2, fresh);
    lmf_st_close(fs);
    fs = NULL;
    if (!s) s = lmf_st_open(fresh, &fs);
    if (!s) s = tr->net->ops->load_tensors(tr->net, fs, ipath);
    lmf_st_close(fs);
    unlink(fresh);
    for (size_t i = 0; buf && i < nt; i++) lmf_free(buf[i]);
    lmf_free(buf);
    lmf_st_writer_free(w);
    lmf_st_writer_free(w2);
    lmf_free(from);
    return s;
}

static lmf_status read_training_state(trainer *tr, const lmf_safetensors *st, const char *path) {
    float *parts[LMF_NET_MAX_PARTS];
    size_t sizes[LMF_NET_MAX_PARTS];
    int k = tr->net->ops->state_parts(tr->net, parts, sizes);
    const char *nm[2] = {"train.adam_m", "train.adam_v"};
    float *dst[2] = {tr->m, tr->v};
    for (int i = 0; i < 2; i++) {
        const lmf_st_tensor *t = lmf_st_find(st, nm[i]);
        if (!t || t->ndim != 1 || (uint64_t)t->shape[0] != tr->net->n_param || t->dtype != LMF_DT_F32)
            return lmf_error(LMF_ERR_FORMAT, "%s: not a training checkpoint (tensor \"%s\" missing or mis-shaped)",
                             path, nm[i]);
        lmf_status s = lmf_st_to_f32_finite(t, dst[i], path);
        if (s) return s;
    }
    for (size_t i = 0; i < tr->net->n_param; i++) /* second moments: sqrt(v) in the update */
        if (!(tr->v[i] >= 0))
            return lmf_error(LMF_ERR_FORMAT, "%s: tensor \"train.adam_v\" holds %g at element %zu (must be >= 0); " CK_FIX,
                             path, (double)tr->v[i], i);
    for (int i = 0; i < k; i++) {
        char n[48];
        snprintf(n, sizeof n, "train.state.%d", i);
        const lmf_st_tensor *t = lmf_st_find(st, n);
        if (!t || t->ndim != 1 || (uint64_t)t->shape[0] != sizes[i] || t->dtype != LMF_DT_F32)
            return lmf_error(LMF_ERR_FORMAT, "%s: checkpoint tensor \"%s\" missing or mis-shaped", path, n);
        lmf_status s = lmf_st_to_f32_finite(t, parts[i], path);
        if (s) return s;
    }
    return LMF_OK;
}

/* Reads the settings, vocabulary and progress of a checkpoint. */
static lmf_status resume_settings(trainer *tr, const lmf_safetensors *st, const char *path) {
    const char *tj = lmf_st_meta(st, "lmfuse.train"), *pj = lmf_st_meta(st, "lmfuse.progress");
    if (!tj || !pj)
        return lmf_error(LMF_ERR_FORMAT,
                         "%s: not a training checkpoint (no lmfuse.train/lmfuse.progress metadata); "
                         "to start from a model's weights use --init",
                         path);
    cJSON *j = NULL, *p = NULL;
    lmf_status s = lmf_json_parse(tj, strlen(tj), NULL, &j);
    if (!s) s = lmf_json_parse(pj, strlen(pj), NULL, &p);
    if (s == LMF_ERR_NOMEM) {
        /* the message is set */
    } else if (s || !cJSON_IsObject(j) || !cJSON_IsObject(p)) {
        s = lmf_error(LMF_ERR_FORMAT, "%s: checkpoint metadata is not valid JSON; %s", path, CK_FIX);
    } else {
        lmf_train_opts *o = &tr->o;
        int threads = o->threads;
        double log_s = o->log_seconds;
        const char *resume = o->resume, *ck = o->checkpoint;
        void (*on_progress)(void *, const lmf_train_progress *) = o->on_progress;
        void *user = o->progress_user;
        lmf_train_opts_init(o);
        o->threads = threads;
        o->log_seconds = log_s;
        o->resume = resume;
        o->checkpoint = ck ? ck : resume;
        o->on_progress = on_progress;
        o->progress_user = user;
        s = read_settings(tr, j, path);
        if (!s) s = read_progress(tr, p, path);
    }
    cJSON_Delete(j);
    cJSON_Delete(p);
    if (!s) s = lmf_nn_load_vocab(st, path, &tr->vocab);
    return s;
}

/* ---------------- checks ---------------- */

static lmf_status check_opts(const lmf_train_opts *o, int *arch) {
#define NEED(cond, ...)                                    \
    do {                                                   \
        if (!(cond)) return lmf_error(LMF_ERR_ARG, __VA_ARGS__); \
    } while (0)
    *arch = lmf_arch_parse(o->arch);
    NEED(*arch >= 0, "unknown --arch \"%s\" (rnn, lstm, gru or transformer)", o->arch);
    NEED(o->layers >= 1 && o->layers <= LMF_NN_MAX_LAYERS, "--layers must be 1..%d (got %d)", LMF_NN_MAX_LAYERS,
         o->layers);
    NEED(o->hidden >= 1 && o->hidden <= 65536, "--hidden must be 1..65536 (got %d)", o->hidden);
    NEED(o->emb >= 1 && o->emb <= 65536, "--emb must be 1..65536 (got %d)", o->emb);
    NEED(!o->tied || o->emb == o->hidden, "--tied needs --emb equal to --hidden (got %d and %d)", o->emb, o->hidden);
    NEED(o->dropout >= 0 && o->dropout < 1, "--dropout must be in [0, 1) (got %g)", o->dropout);
    NEED(o->classes >= 0, "--classes must be >= 0 (0 = full softmax; got %d)", o->classes);
    NEED(!o->bf16 || !o->classes, "--bf16 is for the full softmax; drop it or --classes");
    NEED(!o->bf16 || lmf_bf16_available(),
         "--bf16 needs a CPU with AVX512_BF16 (bfloat16 dot products), which this one lacks; drop --bf16");
    NEED(o->batch >= 1 && o->batch <= 65536, "--batch must be 1..65536 (got %d)", o->batch);
    NEED(o->bptt >= 1 && o->bptt <= 65536, "--bptt must be 1..65536 (got %d)", o->bptt);
    NEED(o->epochs >= 1, "--epochs must be at least 1 (got %d)", o->epochs);
    NEED(o->threads >= 1 && o->threads <= 1024, "--threads must be 1..1024 (got %d)", o->threads);
    NEED(o->lr > 0 && isfinite(o->lr), "--lr must be positive (got %g)", o->lr);
    NEED(o->lr_min >= 0 && o->lr_min <= o->lr, "--lr-min must be in [0, lr] (got %g)", o->lr_min);
    NEED(o->clip >= 0, "--clip must be >= 0 (got %g)", o->clip);
    NEED(o->weight_decay >= 0, "--weight-decay must be >= 0 (got %g)", o->weight_decay);
    NEED(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1 && o->eps > 0, "bad Adam betas or eps");
    NEED(o->warmup >= 0, "--warmup must be >= 0");
    NEED(!strcmp(o->schedule, "cosine") || !strcmp(o->schedule, "plateau") || !strcmp(o->schedule, "constant"),
         "unknown --schedule \"%s\" (cosine, plateau or constant)", o->schedule);
    NEED(o->plateau_factor > 0 && o->plateau_factor <= 1, "--plateau-factor must be in (0, 1]");
    NEED(o->patience >= 0 && o->checkpoint_every >= 0 && o->max_steps >= 0, "negative --patience/--checkpoint-every/--max-steps");
    NEED(o->train && o->out, "training needs --train and -o");
#undef NEED
    return LMF_OK;
}

/* Refuses configurations whose activations cannot fit in memory. */
/* V: the width of the output layer's logits per position. */
static lmf_status check_memory(const lmf_train_opts *o, int V, int arch) {
    double B = o->batch, T = o->bptt, H = o->hidden, E = o->emb, G = lmf_arch_gates(arch);
    double floats = B * T * (V + 2 * (E > H ? E : H) + E * 2 + o->layers * (G * H * 4 + H * 5)) +
                    4.0 * ((double)V * (E + H) + o->layers * G * H * (E + 2 * H));
    if (arch == LMF_ARCH_TRANSFORMER)
        floats = B * T * (V + 12.0 * H + o->layers * (12.0 * H + 3.0 * o->ff + o->heads * T)) +
                 4.0 * ((double)V * H * 2 + T * H + o->layers * (12.0 * H * H));
    double bytes = floats * 4;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    double phys = pages > 0 && psz > 0 ? (double)pages * (double)psz : 0;
    if (phys > 0 && bytes > 0.8 * phys)
        return lmf_error(LMF_ERR_ARG,
                         "this configuration needs about %.1f GB for training (batch %d x bptt %d x vocabulary %d "
                         "logits, weights, optimizer), more than this machine's %.1f GB allow; lower --batch or --bptt",
                         bytes / 1e9, o->batch, o->bptt, V, phys / 1e9);
    return LMF_OK;
}

/* ---------------- the loop ---------------- */

static double lr_at(const trainer *tr, int64_t step, int64_t total) {
    const lmf_train_opts *o = &tr->o;
    if (step < o->warmup) return o->lr * (double)(step + 1) / (double)o->warmup;
    if (!strcmp(o->schedule, "cosine")) {
        double span = (double)(total - o->warmup), x = span > 0 ? (double)(step - o->warmup) / span : 1;
        if (x > 1) x = 1;
        return o->lr_min + 0.5 * (o->lr - o->lr_min) * (1 + cos(3.14159265358979323846 * x));
    }
    if (!strcmp(o->schedule, "plateau")) return o->lr * tr->pg.lr_scale;
    return o->lr;
}

static lmf_status validate(trainer *tr, double *ppl) {
    lmf_model *m;
    lmf_status s = tr->net->ops->wrap(tr->net, tr->vocab, &m);
    if (s) return s;
    lmf_ppl r;
    s = lmf_eval_ppl(m, &tr->valid, NULL, &r);
    lmf_model_free(m);
    *ppl = r.ppl;
    return s;
}

static void trainer_free(trainer *tr) {
    if (tr->net) tr->net->ops->free(tr->net);
    lmf_vocab_free(tr->vocab);
    lmf_tokens_free(&tr->train);
    lmf_tokens_free(&tr->valid);
    lmf_free(tr->data);
    lmf_gemm_bf16_release();
    lmf_free(tr->m);
    lmf_free(tr->v);
    lmf_free(tr->cstart);
    lmf_free(tr->cls);
    lmf_free(tr->ckpt_path);
    if (tr->loss_log) fclose(tr->loss_log);
    for (int i = 0; i < 8; i++) lmf_free(tr->strs[i]);
}

static lmf_status setup(trainer *tr, lmf_safetensors **resume_st) {
    lmf_status s;
    *resume_st = NULL;
    tr->pg.lr_scale = 1;
    if (tr->o.resume) {
        if ((s = lmf_st_open(tr->o.resume, resume_st))) return s;
        if ((s = resume_settings(tr, *resume_st, tr->o.resume))) return s;
    }
    int arch;
    if ((s = check_opts(&tr->o, &arch))) return s;
    if (arch == LMF_ARCH_TRANSFORMER) {
        if (tr->o.ff == 0) tr->o.ff = 4 * tr->o.hidden;
        if (tr->o.ctx < 1 || tr->o.ctx > 65536) return lmf_error(LMF_ERR_ARG, "--ctx must be 1..65536 (got %d)", tr->o.ctx);
        tr->o.bptt = tr->o.ctx; /* a training window is one context */
    }
    const lmf_train_opts *o = &tr->o;
    if (!tr->vocab) {
        if (o->vocab) {
            s = lmf_vocab_load(o->vocab, &tr->vocab);
        } else {
            lmf_vocab_opts vo;
            lmf_vocab_opts_init(&vo);
            s = lmf_vocab_build_file(o->train, &vo, &tr->vocab);
        }
        if (s) return s;
    }
    lmf_read_opts ro;
    lmf_read_opts_init(&ro);
    if ((s = lmf_tokens_read_file(o->train, tr->vocab, &ro, &tr->train))) return s;
    if (o->valid && (s = lmf_tokens_read_file(o->valid, tr->vocab, &ro, &tr->valid))) return s;
    int V = lmf_vocab_size(tr->vocab), width = V;
    if (o->classes) {
        if (o->classes > V)
            return lmf_error(LMF_ERR_ARG, "--classes %d exceeds the vocabulary size %d (about %d is fastest)", o->classes,
                             V, (int)(sqrt((double)V) + 0.5));
        uint64_t *cnt = (uint64_t *)lmf_calloc((size_t)V, sizeof *cnt);
        tr->cstart = (int32_t *)lmf_malloc(((size_t)o->classes + 1) * sizeof(int32_t));
        tr->cls = (int32_t *)lmf_malloc((size_t)V * sizeof(int32_t));
        if (!cnt || !tr->cstart || !tr->cls) {
            lmf_free(cnt);
            return lmf_error(LMF_ERR_NOMEM, "out of memory for output classes");
        }
        for (size_t i = 0; i < tr->train.n; i++) cnt[tr->train.ids[i]]++;
        lmf_head_make_classes(cnt, V, o->classes, tr->cstart);
        lmf_head_fill_cls(tr->cstart, o->classes, tr->cls);
        int big = 0;
        for (int k = 0; k < o->classes; k++)
            if (tr->cstart[k + 1] - tr->cstart[k] > big) big = tr->cstart[k + 1] - tr->cstart[k];
        width = o->classes + big;
        if (o->log_seconds >= 0)
            lmf_log(LMF_LOG_INFO, "[%s] output layer: %d frequency classes, %.0f of %d rows per training token on average",
                    o->arch, o->classes, lmf_head_cost(tr->cstart, o->classes, cnt), V);
        lmf_free(cnt);
    }
    if ((s = check_memory(o, width, arch))) return s;

    /* the stream: </s>, then the text; cut into B columns, time-major */
    int64_t S = (int64_t)tr->train.n + 1, B = o->batch;
    tr->cols = S / B;
    if (tr->cols < 2)
        return lmf_error(LMF_ERR_DATA, "%s: %lld tokens are too few for --batch %d (need at least %lld)", o->train,
                         (long long)S - 1, o->batch, (long long)(2 * B - 1));
    tr->windows = (tr->cols - 1 + o->bptt - 1) / o->bptt;
    if (o->resume && tr->pg.window > tr->windows)
        return lmf_error(LMF_ERR_FORMAT,
                         "%s: lmfuse.progress \"window\" must be 0..%lld, a whole number, the windows of an epoch "
                         "of %s (got %lld); " CK_FIX,
                         o->resume, (long long)tr->windows, o->train, (long long)tr->pg.window);
    tr->data = (int32_t *)lmf_malloc((size_t)(tr->cols * B) * sizeof(int32_t));
    if (!tr->data) return lmf_error(LMF_ERR_NOMEM, "out of memory for %lld training tokens", (long long)S);
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < tr->cols; i++) {
            int64_t k = b * tr->cols + i;
            tr->data[i * B + b] = k == 0 ? LMF_EOS : tr->train.ids[k - 1];
        }
    uint64_t h = lmf_hash_bytes(tr->data, (size_t)(tr->cols * B) * sizeof(int32_t), (uint64_t)V);
    if (tr->o.resume && tr->data_hash && h != tr->data_hash)
        return lmf_error(LMF_ERR_DATA,
                         "%s: the training text differs from the one checkpoint %s was trained on; "
                         "resume with the same data",
                         o->train, o->resume);
    tr->data_hash = h;

    lmf_net_cfg nc = {arch,    o->layers, o->emb,   o->hidden, V,          o->tied,    o->heads,
                      o->ff,   o->ctx,    o->dropout, o->batch, o->bptt, o->classes, tr->cstart, tr->cls, o->bf16};
    s = arch == LMF_ARCH_TRANSFORMER ? lmf_tf_net_new(&nc, o->seed, &tr->net) : lmf_rnn_net_new(&nc, o->seed, &tr->net);
    if (s) return s;
    tr->m = (float *)lmf_calloc(tr->net->n_param, sizeof(float));
    tr->v = (float *)lmf_calloc(tr->net->n_param, sizeof(float));
    if (!tr->m || !tr->v) return lmf_error(LMF_ERR_NOMEM, "out of memory for the optimizer state");
    if (*resume_st) {
        if ((s = tr->net->ops->load_tensors(tr->net, *resume_st, o->resume))) return s;
        if ((s = read_training_state(tr, *resume_st, o->resume))) return s;
    } else if (o->init) {
        lmf_safetensors *st;
        if ((s = lmf_st_open(o->init, &st))) return s;
        lmf_vocab *iv = NULL;
        s = lmf_nn_load_vocab(st, o->init, &iv);
        if (!s && !lmf_vocab_equal(iv, tr->vocab)) { /* domain adaptation: known words keep their rows */
            int32_t shared = 0;
            s = init_remapped(tr, st, iv, o->init, &shared);
            if (!s)
                lmf_log(LMF_LOG_INFO, "--init %s: %d of this run's %d words start from its rows, %d are new",
                        o->init, shared, V - 2, V - 2 - shared);
        } else if (!s) {
            s = tr->net->ops->load_tensors(tr->net, st, o->init);
        }
        lmf_vocab_free(iv);
        lmf_st_close(st);
        if (s) return s;
    }
    tr->ckpt_path = o->checkpoint ? lmf_strdup(o->checkpoint) : NULL;
    if (o->checkpoint && !tr->ckpt_path) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!tr->ckpt_path) {
        size_t n = strlen(o->out);
        tr->ckpt_path = (char *)lmf_malloc(n + 6);
        if (tr->ckpt_path) memcpy(tr->ckpt_path, o->out, n), memcpy(tr->ckpt_path + n, ".ckpt", 6);
    }
    if (!tr->ckpt_path) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (o->loss_log) {
        tr->loss_log = o->resume ? fopen(o->loss_log, "r+") : NULL;
        if (tr->loss_log) { /* the lines up to the checkpoint's step stay; the run repeats the later ones */
            s = loss_log_cut(tr->loss_log, o->loss_log, tr->pg.step);
            if (s) return s;
        } else {
            tr->loss_log = fopen(o->loss_log, "w");
        }
        if (!tr->loss_log) return lmf_error(LMF_ERR_IO, "%s: cannot open for writing", o->loss_log);
        setvbuf(tr->loss_log, NULL, _IOLBF, 0); /* a line per step, on disk as it is done (tail -f) */
    }
    lmf_set_threads(o->threads);
    return LMF_OK;
}

static void zero_state(lmf_net *net) {
    float *parts[LMF_NET_MAX_PARTS];
    size_t sizes[LMF_NET_MAX_PARTS];
    int k = net->ops->state_parts(net, parts, sizes);
    for (int i = 0; i < k; i++) memset(parts[i], 0, sizes[i] * sizeof(float));
}

/* Calls the progress callback. */
static void report(const trainer *tr, int64_t total, int64_t tok_done, double t_train, double valid, int validating) {
    const progress *g = &tr->pg;
    lmf_train_progress p;
    p.epoch = g->epoch + 1 < tr->o.epochs ? g->epoch + 1 : tr->o.epochs;
    p.epochs = tr->o.epochs;
    p.step = g->step;
    p.total_steps = total;
    p.train_ppl = g->epoch_tokens ? exp(g->epoch_nll / (double)g->epoch_tokens) : 0;
    p.valid_ppl = valid;
    p.tokens_per_s = t_train > 0 ? (double)tok_done / t_train : 0;
    p.validating = validating;
    tr->o.on_progress(tr->o.progress_user, &p);
}

static lmf_status run(trainer *tr, lmf_train_result *res) {
    const lmf_train_opts *o = &tr->o;
    lmf_net *net = tr->net;
    progress *g = &tr->pg;
    const int B = o->batch;
    int64_t total = (int64_t)o->epochs * tr->windows;
    if (o->max_steps && o->max_steps < total) total = o->max_steps;
    const char *an = o->arch;
    if (o->log_seconds >= 0)
        lmf_log(LMF_LOG_INFO,
                "[%s] %zu parameters, %d tokens in the vocabulary, %lld training tokens in %d columns x %lld; "
                "%lld steps per epoch",
                an, net->n_param, lmf_vocab_size(tr->vocab), (long long)tr->train.n, B, (long long)tr->cols,
                (long long)tr->windows);
    double t_start = now_s(), t_log = t_start, t_train = 0;
    int64_t tok_done = 0;
    lmf_status s = LMF_OK;
    int stop = 0;
    double last_valid = g->best_valid;
    while (!stop && g->epoch < o->epochs) {
        while (g->window < tr->windows) {
            if (o->max_steps && g->step >= o->max_steps) {
                stop = 1;
                break;
            }
            double t0 = now_s();
            int64_t r0 = g->window * o->bptt;
            int T = (int)(tr->cols - 1 - r0 < o->bptt ? tr->cols - 1 - r0 : o->bptt);
            const int32_t *x = tr->data + r0 * B, *y = x + B;
            memset(net->grad, 0, net->n_param * sizeof(float));
            uint64_t key = o->dropout > 0 ? (lmf_mix64(o->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)g->step + 1) | 1) : 0;
            double nll;
            if ((s = net->ops->window(net, x, y, T, 1.0f / ((float)B * (float)o->bptt), key, &nll))) return s;
            float *gp = net->grad;
            size_t gn = net->n_param;
            float norm = lmf_clip_grad_norm(&gp, &gn, 1, o->clip > 0 ? (float)o->clip : INFINITY);
            if (!isfinite(nll) || !isfinite(norm))
                return lmf_error(LMF_ERR_DATA,
                                 "training diverged at step %lld (epoch %d): loss %g, gradient norm %g; nothing was "
                                 "written after the last good checkpoint (%s) and best model (%s); lower --lr or "
                                 "--clip and --resume or restart",
                                 (long long)g->step + 1, g->epoch + 1, nll / ((double)T * B), (double)norm,
                                 tr->ckpt_path, o->out);
            double lr = lr_at(tr, g->step, total);
            g->step++;
            lmf_adamw_step(net->param, tr->m, tr->v, net->grad, net->n_param, (float)lr, (float)o->beta1,
                           (float)o->beta2, (float)o->eps, (float)o->weight_decay, g->step);
            g->window++;
            g->epoch_nll += nll;
            g->epoch_tokens += (int64_t)T * B;
            tok_done += (int64_t)T * B;
            double t1 = now_s();
            t_train += t1 - t0;
            if (tr->loss_log)
                fprintf(tr->loss_log, "%lld\t%.9g\t%.9g\t%.9g\n", (long long)g->step, nll / ((double)T * B),
                        (double)norm, lr);
            if (o->on_progress) report(tr, total, tok_done, t_train, last_valid, 0);
            if (o->log_seconds >= 0 && (t1 - t_log >= o->log_seconds || g->window == tr->windows)) {
                t_log = t1;
                double tps = tok_done / (t_train > 0 ? t_train : 1e-9);
                char eta[32];
                fmt_dur(eta, sizeof eta, (double)(total - g->step) * (double)B * o->bptt / tps);
                lmf_log(LMF_LOG_INFO,
                        "[%s] epoch %d/%d step %lld/%lld (%.1f%%) loss %.4f ppl %.2f lr %.2e |g| %.3f %.0f tok/s ETA %s",
                        an, g->epoch + 1, o->epochs, (long long)g->window, (long long)tr->windows,
                        100.0 * (double)g->window / (double)tr->windows, g->epoch_nll / (double)g->epoch_tokens,
                        exp(g->epoch_nll / (double)g->epoch_tokens), lr, (double)norm, tps, eta);
            }
            if (o->checkpoint_every && g->step % o->checkpoint_every == 0 && g->window < tr->windows &&
                (s = write_model(tr, tr->ckpt_path, 1)))
                return s;
        }
        if (stop) break;
        /* end of an epoch */
        double vppl = 0;
        int improved = 1;
        if (o->valid) {
            double tv = now_s();
            if (o->on_progress) report(tr, total, tok_done, t_train, last_valid, 1);
            if ((s = validate(tr, &vppl))) return s;
            last_valid = vppl;
            if (o->on_progress) report(tr, total, tok_done, t_train, last_valid, 0);
            improved = g->best_valid == 0 || vppl < g->best_valid;
            if (o->log_seconds >= 0)
                lmf_log(LMF_LOG_INFO, "[%s] epoch %d done: train ppl %.2f, valid ppl %.2f%s (%.1fs validation)", an,
                        g->epoch + 1, exp(g->epoch_nll / (double)g->epoch_tokens), vppl,
                        improved ? " (best so far)" : "", now_s() - tv);
            if (!isfinite(vppl))
                return lmf_error(LMF_ERR_DATA, "validation perplexity is %g after epoch %d; best model %s kept", vppl,
                                 g->epoch + 1, o->out);
        }
        if (improved) {
            g->best_valid = vppl;
            g->best_epoch = g->epoch + 1;
            g->bad_epochs = 0;
            if ((s = write_model(tr, o->out, 0))) return s;
        } else {
            g->bad_epochs++;
            g->lr_scale *= o->plateau_factor;
        }
        g->epoch++;
        g->window = 0;
        g->epoch_nll = 0;
        g->epoch_tokens = 0;
        zero_state(net);
        if (o->patience && g->bad_epochs >= o->patience) {
            if (o->log_seconds >= 0)
                lmf_log(LMF_LOG_INFO, "[%s] stopping early: no improvement for %d epochs", an, g->bad_epochs);
            stop = 1;
        }
        if ((s = write_model(tr, tr->ckpt_path, 1))) return s;
    }
    if (stop && g->window > 0 && (s = write_model(tr, tr->ckpt_path, 1))) return s;
    if (g->best_epoch == 0 && (s = write_model(tr, o->out, 0))) return s; /* stopped before any epoch ended */
    if (res) {
        res->epochs_done = g->epoch;
        res->steps = g->step;
        res->best_valid_ppl = g->best_valid;
        res->best_epoch = g->best_epoch;
        res->seconds = now_s() - t_start;
        res->tokens_per_s = t_train > 0 ? (double)tok_done / t_train : 0;
    }
    return LMF_OK;
}

lmf_status lmf_train(const lmf_train_opts *o, lmf_train_result *res) {
    trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.o = *o;
    if (res) memset(res, 0, sizeof *res);
    lmf_safetensors *st = NULL;
    lmf_status s = setup(&tr, &st);
    lmf_st_close(st);
    if (!s) s = run(&tr, res);
    if (!s && tr.loss_log && fflush(tr.loss_log))
        s = lmf_error(LMF_ERR_IO, "%s: cannot write the loss log", tr.o.loss_log);
    trainer_free(&tr);
    return s;
}
