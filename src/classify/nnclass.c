/* The fine-tuned neural classifier (lmf/classify.h): a neural LM's network
 * read over the document (lmf_net's window_top, src/nn/net.h), its top
 * states pooled (src/nn/cls_top.c) and a softmax layer over the classes,
 * trained together from a pretrained LM or from random weights.
 *
 * Documents go through the network B at a time, one per stream of a
 * window (time-major rows t*B + b); a shorter document is padded with
 * </s> after its end, which changes none of its states (both kinds of
 * net are causal) and gets no gradient (the pooling does not read it).
 *
 * File: the JSON frame of classifier.c with
 *   "network": side file (path + ".neural.safetensors": the network under
 *              its LM file names, the vocabulary, and classifier.weight
 *              [C,H], classifier.bias [C]),
 *   "pooling", "max_tokens", and the training options (for refit). */
#define _POSIX_C_SOURCE 200809L
#include "classify_impl.h"
#include "../core/json_impl.h"
#include "../core/util_impl.h"
#include "../nn/net.h"
#include "lmf/parse.h"
#include "lmf/text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct nnclass {
    lmf_classifier base; /* must be first */
    lmf_nnclass_opts o;  /* o.init and o.arch point into init_s, arch_s */
    char *init_s, *arch_s;
    lmf_net *net;
    lmf_vocab *vocab;
    int32_t *start, *cls; /* the LM's output classes (borrowed by the net) */
    int H, Tmax;          /* top width; window steps = 1 + tokens read */
    float *hp, *hg;       /* the softmax layer [W (C*H), b (C)] and its gradient, one block */
    int best_epoch;
    double valid_acc, valid_nll; /* of the kept epoch (NAN: no valid) */
} nnclass;

/* Document ids: doc i is ids[off[i] .. off[i+1]). */
typedef struct doc_ids {
    int32_t *ids;
    size_t *off;
    size_t n;
} doc_ids;

static void doc_ids_free(doc_ids *t) {
    lmf_free(t->ids);
    lmf_free(t->off);
    memset(t, 0, sizeof *t);
}

void lmf_nnclass_opts_init(lmf_nnclass_opts *o) {
    memset(o, 0, sizeof *o);
    o->pooling = LMF_POOL_MEAN;
    o->max_tokens = 256;
    o->epochs = 4;
    o->lr = 1e-3;
    o->batch = 16;
    o->seed = 1;
    o->threads = 1;
    o->dropout = 0.1f;
    o->clip = 1.0;
    o->arch = "lstm";
    o->layers = 1;
    o->hidden = 256;
    o->emb = 256;
    o->min_count = 2;
}


/* Calls fn(ctx, word, len) for each word of t[0..n) and fn(ctx, NULL, 0)
 * after each non-empty line (see the header); stops when fn returns
 * non-zero, and returns that. */
static int each_word(const char *t, size_t n, int (*fn)(void *, const char *, size_t), void *ctx) {
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && t[e] != '\n' && t[e] != '\r') e++;
        int any = 0, r;
        for (size_t j = i; j < e;) {
            if (lmf_doc_blank((unsigned char)t[j])) {
                j++;
                continue;
            }
            size_t w = j;
            while (j < e && !lmf_doc_blank((unsigned char)t[j])) j++;
            if ((r = fn(ctx, t + w, j - w))) return r;
            any = 1;
        }
        if (any && (r = fn(ctx, NULL, 0))) return r;
        i = e + 1;
    }
    return 0;
}

static int reserved(const char *w, size_t len) {
    return (len == 3 && !memcmp(w, "<s>", 3)) || (len == 4 && !memcmp(w, "</s>", 4));
}

/* ---- documents to ids ---- */
typedef struct tok_ctx {
    const lmf_vocab *v;
    int32_t *out;
    int max, n; /* room, written */
} tok_ctx;

static int tok_word(void *ctx, const char *w, size_t len) {
    tok_ctx *k = (tok_ctx *)ctx;
    if (k->n >= k->max) return 1; /* truncated */
    int32_t id = LMF_EOS;
    if (w) {
        id = reserved(w, len) ? -1 : lmf_vocab_find(k->v, w, len);
        if (id < 0 || id >= lmf_vocab_size(k->v)) id = LMF_UNK;
    }
    k->out[k->n++] = id;
    return 0;
}

/* The ids the network reads of each document: </s>, then its tokens, at
 * most Tmax in all. */
static lmf_status tokenize(const lmf_docs *d, const lmf_vocab *v, int Tmax, doc_ids *out) {
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (size_t i = 0; i < d->n; i++) cap += (size_t)Tmax < d->len[i] + 2 ? (size_t)Tmax : d->len[i] + 2;
    out->ids = (int32_t *)lmf_malloc((cap ? cap : 1) * sizeof *out->ids);
    out->off = (size_t *)lmf_malloc((d->n + 1) * sizeof *out->off);
    if (!out->ids || !out->off) {
        doc_ids_free(out);
        return lmf_error(LMF_ERR_NOMEM, "out of memory for the ids of %zu documents", d->n);
    }
    out->n = d->n;
    size_t at = 0;
    for (size_t i = 0; i < d->n; i++) {
        out->off[i] = at;
        /* a document of len bytes has at most (len + 1) / 2 words and as many line ends */
        size_t room = (size_t)Tmax < d->len[i] + 2 ? (size_t)Tmax : d->len[i] + 2;
        tok_ctx k = {v, out->ids + at, (int)room, 0};
        tok_word(&k, NULL, 0); /* the leading </s> */
        each_word(d->text[i], d->len[i], tok_word, &k);
        at += (size_t)k.n;
    }
    out->off[d->n] = at;
    return LMF_OK;
}

/* ---- a vocabulary from the training documents (random init) ---- */
typedef struct count_ctx {
    lmf_vocab *v;
    uint64_t *cnt;
    size_t cap;
    int oom;
} count_ctx;

static int count_word(void *ctx, const char *w, size_t len) {
    count_ctx *k = (count_ctx *)ctx;
    if (!w || reserved(w, len) || (len == 5 && !memcmp(w, "<unk>", 5))) return 0;
    int32_t id = lmf_vocab_add(k->v, w, len);
    if (id < 0) return k->oom = 1;
    if ((size_t)id >= k->cap) {
        size_t nc = k->cap ? 2 * k->cap : 4096;
        while (nc <= (size_t)id) nc *= 2;
        uint64_t *p = (uint64_t *)lmf_realloc(k->cnt, nc * sizeof *p);
        if (!p) return k->oom = 1;
        memset(p + k->cap, 0, (nc - k->cap) * sizeof *p);
        k->cnt = p;
        k->cap = nc;
    }
    k->cnt[id]++;
    return 0;
}

static const uint64_t *sort_cnt; /* for by_count (single use at a time under the caller's call) */
static int by_count(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (sort_cnt[x] != sort_cnt[y]) return sort_cnt[x] > sort_cnt[y] ? -1 : 1;
    return x < y ? -1 : x > y; /* ties: first appearance */
}

/* Words seen >= min_count times, ids 2.. by decreasing count. */
static lmf_status build_vocab(const lmf_docs *d, int min_count, lmf_vocab **out) {
    *out = NULL;
    count_ctx k = {lmf_vocab_new(LMF_TOK_WORD), NULL, 0, 0};
    if (!k.v) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < d->n && !k.oom; i++) each_word(d->text[i], d->len[i], count_word, &k);
    int32_t V = lmf_vocab_size(k.v), m = 0;
    int32_t *ord = k.oom ? NULL : (int32_t *)lmf_malloc((size_t)(V > 0 ? V : 1) * sizeof *ord);
    lmf_vocab *v = ord ? lmf_vocab_new(LMF_TOK_WORD) : NULL;
    lmf_status s = v ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory for the vocabulary");
    for (int32_t w = 2; !s && w < V; w++)
        if ((size_t)w < k.cap && k.cnt[w] >= (uint64_t)min_count) ord[m++] = w;
    if (!s) {
        sort_cnt = k.cnt;
        qsort(ord, (size_t)m, sizeof *ord, by_count);
    }
    for (int32_t i = 0; !s && i < m; i++) {
        size_t len;
        const char *w = lmf_vocab_word(k.v, ord[i], &len);
        if (lmf_vocab_add(v, w, len) < 0) s = lmf_error(LMF_ERR_NOMEM, "out of memory for the vocabulary");
    }
    lmf_free(ord);
    lmf_free(k.cnt);
    lmf_vocab_free(k.v);
    if (s) {
        lmf_vocab_free(v);
        return s;
    }
    *out = v;
    return LMF_OK;
}

/* ---- the classifier ---- */
static void nc_free(lmf_classifier *c) {
    if (!c) return;
    nnclass *nc = (nnclass *)c;
    if (nc->net) nc->net->ops->free(nc->net);
    lmf_gemm_bf16_release();
    lmf_vocab_free(nc->vocab);
    lmf_free(nc->start);
    lmf_free(nc->cls);
    lmf_free(nc->hp);
    lmf_free(nc->init_s);
    lmf_free(nc->arch_s);
    lmf_classifier_base_free(c);
    lmf_free(nc);
}

static const lmf_classifier_ops nn_ops;

static lmf_status check_opts(const lmf_nnclass_opts *o) {
#define NEED(cond, ...)                                              \
    do {                                                             \
        if (!(cond)) return lmf_error(LMF_ERR_ARG, __VA_ARGS__);     \
    } while (0)
    NEED(o->pooling == LMF_POOL_MEAN || o->pooling == LMF_POOL_LAST, "--pooling must be mean or last");
    NEED(o->max_tokens >= 1 && o->max_tokens <= 65535, "--max-tokens must be 1..65535 (got %d)", o->max_tokens);
    NEED(o->epochs >= 1 && o->epochs <= 100000, "--epochs must be 1..100000 (got %d)", o->epochs);
    NEED(o->lr > 0 && isfinite(o->lr), "--lr must be positive (got %g)", o->lr);
    NEED(o->batch >= 1 && o->batch <= 4096, "--batch must be 1..4096 (got %d)", o->batch);
    NEED(o->threads >= 1 && o->threads <= 1024, "--threads must be 1..1024 (got %d)", o->threads);
    NEED(o->dropout >= 0 && o->dropout < 1, "--dropout must be in [0, 1) (got %g)", (double)o->dropout);
    NEED(o->clip >= 0 && isfinite(o->clip), "--clip must be >= 0 (got %g)", o->clip);
    NEED(o->weight_decay >= 0 && isfinite(o->weight_decay), "--weight-decay must be >= 0 (got %g)", o->weight_decay);
    if (!o->init) {
        int a = lmf_arch_parse(o->arch);
        NEED(a >= 0, "unknown --arch \"%s\" (rnn, lstm, gru or transformer)", o->arch ? o->arch : "(none)");
        NEED(o->layers >= 1 && o->layers <= LMF_NN_MAX_LAYERS, "--layers must be 1..%d (got %d)", LMF_NN_MAX_LAYERS,
             o->layers);
        NEED(o->hidden >= 1 && o->hidden <= 65536, "--hidden must be 1..65536 (got %d)", o->hidden);
        NEED(o->emb >= 1 && o->emb <= 65536, "--emb must be 1..65536 (got %d)", o->emb);
        NEED(a != LMF_ARCH_TRANSFORMER || o->hidden % 4 == 0,
             "a transformer has 4 heads: --hidden must be a multiple of 4 (got %d)", o->hidden);
        NEED(o->min_count >= 1, "--min-count must be >= 1 (got %d)", o->min_count);
    }
#undef NEED
    return LMF_OK;
}

/* A classifier object with names, options (strings copied) and no network. */
static lmf_status nc_new(const char *const *names, int C, const lmf_nnclass_opts *o, nnclass **out) {
    *out = NULL;
    nnclass *nc = (nnclass *)lmf_calloc(1, sizeof *nc);
    if (!nc) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    nc->base.ops = &nn_ops;
    nc->o = *o;
    nc->valid_acc = nc->valid_nll = NAN;
    lmf_status s = lmf_classifier_set_names(&nc->base, names, C);
    if (!s && o->init && !(nc->init_s = lmf_strdup(o->init))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s && o->arch && !(nc->arch_s = lmf_strdup(o->arch))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    nc->o.init = nc->init_s;
    nc->o.arch = nc->arch_s;
    if (s) {
        nc_free(&nc->base);
        return s;
    }
    *out = nc;
    return LMF_OK;
}

/* Window steps for a net whose position table (Transformer) holds ctx
 * (0: no limit). */
static int steps_for(int max_tokens, int ctx) {
    int T = max_tokens + 1;
    return ctx > 0 && T > ctx ? ctx : T;
}

/* The position table's length of a Transformer file (0 for others). */
static int file_ctx(const lmf_safetensors *st) {
    const char *an = lmf_st_meta(st, "lmfuse.arch");
    const lmf_st_tensor *pe = lmf_st_find(st, "pos_emb.weight");
    if (!an || strcmp(an, "transformer") || !pe || pe->ndim != 2 || pe->shape[0] < 1 || pe->shape[0] > 65536) return 0;
    return (int)pe->shape[0];
}

/* The network and softmax layer's memory, from a model file (the
 * pretrained LM or a saved classifier's side file). */
static lmf_status net_from_path(nnclass *nc, const char *path, lmf_safetensors **stp) {
    lmf_status s = lmf_st_open(path, stp);
    if (s) return s;
    nc->Tmax = steps_for(nc->o.max_tokens, file_ctx(*stp));
    s = lmf_net_from_file(*stp, path, nc->o.batch, nc->Tmax, nc->o.dropout, 1, &nc->net, &nc->vocab, &nc->start,
                          &nc->cls);
    if (!s && lmf_vocab_mode(nc->vocab) != LMF_TOK_WORD)
        s = lmf_error(LMF_ERR_ARG, "%s: a %s model; the classifier reads words: pretrain a word model", path,
                      lmf_token_mode_name(lmf_vocab_mode(nc->vocab)));
    return s;
}

static lmf_status alloc_head(nnclass *nc) {
    nc->H = nc->net->cfg.H;
    size_t nh = (size_t)nc->base.C * nc->H + (size_t)nc->base.C;
    nc->hp = (float *)lmf_calloc(2 * nh, sizeof(float));
    if (!nc->hp) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    nc->hg = nc->hp + nh;
    return LMF_OK;
}

/* A splitmix64 stream: uniform [0, 1). */
static double unif(uint64_t *ctr) { return (double)(lmf_mix64((*ctr)++) >> 11) * (1.0 / 9007199254740992.0); }

/* Runs documents idx[0..m) (m <= B) through the net: logp [m,C] (may be
 * NULL), and with y the loss and (backward) the gradients. */
static lmf_status run_batch(nnclass *nc, const doc_ids *d, const size_t *idx, int m, const int32_t *labels,
                            uint64_t key, int backward, int32_t *x, float *logp, double *loss) {
    const int B = nc->o.batch, C = nc->base.C;
    int32_t len[4096], y[4096];
    int T = 1;
    for (int b = 0; b < B; b++) {
        len[b] = b < m ? (int32_t)(d->off[idx[b] + 1] - d->off[idx[b]]) : 0;
        y[b] = b < m && labels ? labels[idx[b]] : 0;
        T = len[b] > T ? len[b] : T;
    }
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) x[(size_t)t * B + b] = t < len[b] ? d->ids[d->off[idx[b]] + (size_t)t] : LMF_EOS;
    lmf_cls_top top;
    top.C = C;
    top.pool = nc->o.pooling == LMF_POOL_LAST;
    top.W = nc->hp;
    top.b = nc->hp + (size_t)C * nc->H;
    top.dW = nc->hg;
    top.db = nc->hg + (size_t)C * nc->H;
    top.len = len;
    top.y = labels ? y : NULL;
    top.scale = 1.0f / (float)m;
    top.logp = logp;
    top.pooled = (float *)lmf_malloc((size_t)B * nc->H * sizeof(float));
    if (!top.pooled) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = nc->net->ops->window_top(nc->net, x, T, key, lmf_cls_top_loss, &top, backward, loss);
    lmf_free(top.pooled);
    return s;
}

/* ln p(c | d) of every document into logp [n,C]. */
static lmf_status run_docs(nnclass *nc, const doc_ids *d, float *logp, lmf_progress_fn progress, void *user) {
    const int B = nc->o.batch, C = nc->base.C;
    int32_t *x = (int32_t *)lmf_malloc((size_t)nc->Tmax * B * sizeof *x);
    size_t *idx = (size_t *)lmf_malloc((size_t)B * sizeof *idx);
    float *lp = (float *)lmf_malloc((size_t)B * C * sizeof *lp);
    lmf_status s = x && idx && lp ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < d->n; i += (size_t)B) {
        int m = d->n - i < (size_t)B ? (int)(d->n - i) : B;
        for (int b = 0; b < m; b++) idx[b] = i + (size_t)b;
        double loss;
        s = run_batch(nc, d, idx, m, NULL, 0, 0, x, lp, &loss);
        if (!s) memcpy(logp + i * (size_t)C, lp, (size_t)m * C * sizeof *lp);
        if (!s && progress) progress(user, (double)(i + (size_t)m), (double)d->n);
    }
    lmf_free(x);
    lmf_free(idx);
    lmf_free(lp);
    return s;
}

/* Accuracy and mean cross-entropy of the network on d (gold labels). */
static lmf_status evaluate(nnclass *nc, const doc_ids *d, const int32_t *label, double *acc, double *nll) {
    const int C = nc->base.C;
    float *lp = (float *)lmf_malloc((d->n ? d->n : 1) * (size_t)C * sizeof *lp);
    if (!lp) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = run_docs(nc, d, lp, NULL, NULL);
    size_t right = 0;
    double sum = 0;
    for (size_t i = 0; !s && i < d->n; i++) {
        right += lmf_argmax_f(lp + i * C, C) == label[i];
        sum -= lp[i * C + label[i]];
    }
    lmf_free(lp);
    *acc = d->n ? (double)right / (double)d->n : 0;
    *nll = d->n ? sum / (double)d->n : 0;
    return s;
}

/* The training loop (see the header). */
static lmf_status fit(nnclass *nc, const lmf_docs *train, const lmf_docs *valid) {
    const lmf_nnclass_opts *o = &nc->o;
    lmf_net *net = nc->net;
    const int B = o->batch, C = nc->base.C;
    const size_t nb = net->n_body, nh = (size_t)C * nc->H + (size_t)C, n = train->n;
    doc_ids tr = {0}, va = {0};
    lmf_status s = tokenize(train, nc->vocab, nc->Tmax, &tr);
    if (!s && valid) s = tokenize(valid, nc->vocab, nc->Tmax, &va);
    float *mom = s ? NULL : (float *)lmf_calloc(2 * (nb + nh), sizeof(float));
    float *best = s ? NULL : (float *)lmf_malloc((nb + nh) * sizeof(float));
    size_t *perm = s ? NULL : (size_t *)lmf_malloc(n * sizeof *perm);
    int32_t *x = s ? NULL : (int32_t *)lmf_malloc((size_t)nc->Tmax * B * sizeof *x);
    if (!s && (!mom || !best || !perm || !x)) s = lmf_error(LMF_ERR_NOMEM, "out of memory for training");
    const int64_t spe = (int64_t)((n + (size_t)B - 1) / (size_t)B), total = spe * o->epochs;
    const int64_t warm = total / 10 > 0 ? total / 10 : 1;
    int64_t step = 0;
    double best_acc = -1, best_nll = INFINITY;
    uint64_t ctr = lmf_mix64(o->seed ^ 0x6e6e636c61737301ULL);
    for (size_t i = 0; !s && i < n; i++) perm[i] = i;
    for (int ep = 0; !s && ep < o->epochs; ep++) {
        for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
            size_t j = (size_t)(unif(&ctr) * (double)i), t = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = t;
        }
        for (size_t i = 0; !s && i < n; i += (size_t)B, step++) {
            int m = n - i < (size_t)B ? (int)(n - i) : B;
            memset(net->grad, 0, nb * sizeof(float));
            memset(nc->hg, 0, nh * sizeof(float));
            uint64_t key = o->dropout > 0 ? (lmf_mix64(o->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)step + 1) | 1) : 0;
            double loss;
            s = run_batch(nc, &tr, perm + i, m, train->label, key, 1, x, NULL, &loss);
            if (s) break;
            float *g[2] = {net->grad, nc->hg};
            size_t gn[2] = {nb, nh};
            float norm = lmf_clip_grad_norm(g, gn, 2, o->clip > 0 ? (float)o->clip : INFINITY);
            if (!isfinite(loss) || !isfinite(norm)) {
                s = lmf_error(LMF_ERR_DATA,
                              "training diverged at step %lld (epoch %d): loss %g, gradient norm %g; lower --lr or "
                              "--clip",
                              (long long)step + 1, ep + 1, loss / m, (double)norm);
                break;
            }
            double lr = step < warm ? o->lr * (double)(step + 1) / (double)warm
                                    : 0.5 * o->lr * (1 + cos(3.14159265358979323846 * (double)(step - warm) /
                                                             (double)(total - warm > 0 ? total - warm : 1)));
            lmf_adamw_step(net->param, mom, mom + nb, net->grad, nb, (float)lr, 0.9f, 0.999f, 1e-8f,
                           (float)o->weight_decay, step + 1);
            lmf_adamw_step(nc->hp, mom + 2 * nb, mom + 2 * nb + nh, nc->hg, nh, (float)lr, 0.9f, 0.999f, 1e-8f,
                           (float)o->weight_decay, step + 1);
        }
        if (s) break;
        double acc = NAN, nll = NAN;
        if (valid) s = evaluate(nc, &va, valid->label, &acc, &nll);
        if (s) break;
        lmf_log(LMF_LOG_INFO, "[neural] epoch %d/%d: valid accuracy %.4f, cross-entropy %.4f", ep + 1, o->epochs, acc,
                nll);
        if (!valid || acc > best_acc || (acc == best_acc && nll < best_nll)) {
            best_acc = acc;
            best_nll = nll;
            nc->best_epoch = ep + 1;
            nc->valid_acc = acc;
            nc->valid_nll = nll;
            memcpy(best, net->param, nb * sizeof(float));
            memcpy(best + nb, nc->hp, nh * sizeof(float));
        }
    }
    if (!s) { /* the kept epoch's weights */
        memcpy(net->param, best, nb * sizeof(float));
        memcpy(nc->hp, best + nb, nh * sizeof(float));
    }
    doc_ids_free(&tr);
    doc_ids_free(&va);
    lmf_free(mom);
    lmf_free(best);
    lmf_free(perm);
    lmf_free(x);
    return s;
}

/* A classifier ready to train: network (from init or random), vocabulary,
 * softmax layer at its random start. */
static lmf_status nc_setup(const lmf_docs *train, const lmf_nnclass_opts *o, nnclass **out) {
    *out = NULL;
    lmf_status s = check_opts(o);
    if (s) return s;
    nnclass *nc;
    if ((s = nc_new((const char *const *)train->names, train->C, o, &nc))) return s;
    if (o->init) {
        lmf_safetensors *st = NULL;
        s = net_from_path(nc, o->init, &st);
        lmf_st_close(st);
    } else {
        const int arch = lmf_arch_parse(o->arch), tf = arch == LMF_ARCH_TRANSFORMER;
        s = build_vocab(train, o->min_count, &nc->vocab);
        nc->Tmax = steps_for(o->max_tokens, 0);
        if (!s) {
            lmf_net_cfg c;
            memset(&c, 0, sizeof c);
            c.arch = arch;
            c.L = o->layers;
            c.H = o->hidden;
            c.E = tf ? o->hidden : o->emb;
            c.V = lmf_vocab_size(nc->vocab);
            c.heads = 4;
            c.ff = 4 * o->hidden;
            c.ctx = nc->Tmax;
            c.dropout = o->dropout;
            c.B = o->batch;
            c.T = nc->Tmax;
            s = lmf_net_new(&c, o->seed, 1, &nc->net);
        }
    }
    if (!s) s = alloc_head(nc);
    if (s) {
        nc_free(&nc->base);
        return s;
    }
    /* the softmax layer: W ~ U(-1/sqrt(H), 1/sqrt(H)), b = 0 */
    uint64_t ctr = lmf_mix64(o->seed ^ 0x6e6e636c61737302ULL);
    const float a = 1.0f / sqrtf((float)nc->H);
    for (size_t i = 0; i < (size_t)nc->base.C * nc->H; i++) nc->hp[i] = (float)(2 * unif(&ctr) - 1) * a;
    *out = nc;
    return LMF_OK;
}

lmf_status lmf_nnclass_train(const lmf_docs *train, const lmf_docs *valid, const lmf_nnclass_opts *o,
                             lmf_classifier **out) {
    *out = NULL;
    if (!train->n) return lmf_error(LMF_ERR_DATA, "%s: no training documents", train->path ? train->path : "train");
    if (valid && (valid->C != train->C))
        return lmf_error(LMF_ERR_DATA, "%s: read over %d classes, the training documents over %d; read it with the "
                         "training file's classes", valid->path ? valid->path : "valid", valid->C, train->C);
    nnclass *nc;
    lmf_status s = nc_setup(train, o, &nc);
    if (s) return s;
    lmf_set_threads(o->threads);
    s = fit(nc, train, valid);
    if (s) {
        nc_free(&nc->base);
        return s;
    }
    *out = &nc->base;
    return LMF_OK;
}

/* ---- the interface ---- */
static lmf_status nc_predict(lmf_classifier *c, const lmf_docs *d, float *logp, lmf_progress_fn progress, void *user) {
    nnclass *nc = (nnclass *)c;
    doc_ids t;
    lmf_status s = tokenize(d, nc->vocab, nc->Tmax, &t);
    if (!s) s = run_docs(nc, &t, logp, progress, user);
    doc_ids_free(&t);
    return s;
}

static lmf_status nc_refit(const lmf_classifier *c, const lmf_docs *train, const lmf_docs *valid,
                           lmf_classifier **out) {
    return lmf_nnclass_train(train, valid, &((const nnclass *)c)->o, out);
}

static void nc_describe(const lmf_classifier *c, char *buf, size_t n) {
    const nnclass *nc = (const nnclass *)c;
    const lmf_net_cfg *k = &nc->net->cfg;
    char va[64] = "";
    if (isfinite(nc->valid_acc)) snprintf(va, sizeof va, ", valid accuracy %.4f (epoch %d)", nc->valid_acc, nc->best_epoch);
    snprintf(buf, n, "neural classifier over %d classes: %s %d x %d, %d words, %s pooling, %d tokens read, %s%s",
             c->C, lmf_arch_names[k->arch], k->L, k->H, k->V, nc->o.pooling == LMF_POOL_LAST ? "last" : "mean",
             nc->Tmax - 1, nc->o.init ? "fine-tuned from a pretrained LM" : "trained from random weights", va);
}

static lmf_status nc_save(const lmf_classifier *c, const char *path, cJSON *j) {
    const nnclass *nc = (const nnclass *)c;
    const lmf_nnclass_opts *o = &nc->o;
    size_t n = strlen(path) + 32;
    char *side = (char *)lmf_malloc(n);
    lmf_st_writer *w = lmf_st_writer_new();
    char *vj = NULL;
    lmf_status s = side && w ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) {
        snprintf(side, n, "%s.neural.safetensors", path);
        s = nc->net->ops->add_tensors(nc->net, w);
    }
    int64_t sw[2] = {c->C, nc->H}, sb[1] = {c->C};
    if (!s) s = lmf_st_add(w, "classifier.weight", LMF_DT_F32, 2, sw, nc->hp);
    if (!s) s = lmf_st_add(w, "classifier.bias", LMF_DT_F32, 1, sb, nc->hp + (size_t)c->C * nc->H);
    if (!s && !(vj = lmf_vocab_json(nc->vocab))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) s = lmf_st_set_meta(w, "lmfuse.vocab", vj);
    if (!s) s = lmf_st_set_meta(w, "lmfuse.token_mode", lmf_token_mode_name(lmf_vocab_mode(nc->vocab)));
    if (!s) s = lmf_st_write(w, side);
    cJSON_free(vj);
    lmf_st_writer_free(w);
    if (s) {
        lmf_free(side);
        return s;
    }
    const char *sl = strrchr(side, '/');
    lmf_json_init();
    const uint64_t jf = lmf_json_failures();
    const lmf_net_cfg *k = &nc->net->cfg;
    cJSON_AddStringToObject(j, "network", sl ? sl + 1 : side);
    cJSON_AddStringToObject(j, "pooling", o->pooling == LMF_POOL_LAST ? "last" : "mean");
    cJSON_AddNumberToObject(j, "max_tokens", o->max_tokens);
    cJSON_AddStringToObject(j, "arch", lmf_arch_names[k->arch]);
    cJSON_AddNumberToObject(j, "layers", k->L);
    cJSON_AddNumberToObject(j, "hidden", k->H);
    cJSON_AddNumberToObject(j, "emb", k->E);
    if (o->init) cJSON_AddStringToObject(j, "init", o->init);
    cJSON_AddNumberToObject(j, "min_count", o->min_count);
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    char sd[24];
    snprintf(sd, sizeof sd, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(j, "seed", sd);
    cJSON_AddNumberToObject(j, "threads", o->threads);
    cJSON_AddNumberToObject(j, "dropout", o->dropout);
    cJSON_AddNumberToObject(j, "clip", o->clip);
    cJSON_AddNumberToObject(j, "weight_decay", o->weight_decay);
    if (isfinite(nc->valid_acc)) {
        cJSON_AddNumberToObject(j, "best_epoch", nc->best_epoch);
        cJSON_AddNumberToObject(j, "valid_accuracy", nc->valid_acc);
        cJSON_AddNumberToObject(j, "valid_cross_entropy", nc->valid_nll);
    }
    lmf_free(side);
    return lmf_json_failures() != jf ? lmf_error(LMF_ERR_NOMEM, "out of memory") : LMF_OK;
}

#define LOAD_FIX "the classifier file is damaged or was edited; train it again"

static lmf_status get_int(const cJSON *j, const char *path, const char *key, int lo, int hi, int *out) {
    return lmf_json_i32(cJSON_GetObjectItemCaseSensitive(j, key), path, key, lo, hi, LOAD_FIX, out);
}

static lmf_status get_num(const cJSON *j, const char *path, const char *key, double lo, double hi, double *out) {
    return lmf_json_num(cJSON_GetObjectItemCaseSensitive(j, key), path, key, lo, hi, LOAD_FIX, out);
}

static lmf_status get_str(const cJSON *j, const char *path, const char *key, int need, const char **out) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, key);
    *out = NULL;
    if (!e && !need) return LMF_OK;
    if (!cJSON_IsString(e) || !e->valuestring[0])
        return lmf_error(LMF_ERR_FORMAT, "%s: \"%s\" must be a non-empty string; " LOAD_FIX, path, key);
    *out = e->valuestring;
    return LMF_OK;
}

lmf_status lmf_nnclass_load(const struct cJSON *j, const char *path, const char *dir, char **names, int C,
                            lmf_classifier **out) {
    *out = NULL;
    lmf_nnclass_opts o;
    lmf_nnclass_opts_init(&o);
    const char *net_name, *pool, *seed;
    double dropout, x;
    lmf_status s;
    if ((s = get_str(j, path, "network", 1, &net_name)) || (s = get_str(j, path, "pooling", 1, &pool)) ||
        (s = get_int(j, path, "max_tokens", 1, 65535, &o.max_tokens)) || (s = get_str(j, path, "arch", 1, &o.arch)) ||
        (s = get_int(j, path, "layers", 1, LMF_NN_MAX_LAYERS, &o.layers)) ||
        (s = get_int(j, path, "hidden", 1, 65536, &o.hidden)) || (s = get_int(j, path, "emb", 1, 65536, &o.emb)) ||
        (s = get_str(j, path, "init", 0, &o.init)) || (s = get_int(j, path, "min_count", 1, INT32_MAX, &o.min_count)) ||
        (s = get_int(j, path, "epochs", 1, 100000, &o.epochs)) || (s = get_num(j, path, "lr", 0, INFINITY, &o.lr)) ||
        (s = get_int(j, path, "batch", 1, 4096, &o.batch)) || (s = get_str(j, path, "seed", 1, &seed)) ||
        (s = get_int(j, path, "threads", 1, 1024, &o.threads)) || (s = get_num(j, path, "dropout", 0, 0.999, &dropout)) ||
        (s = get_num(j, path, "clip", 0, INFINITY, &o.clip)) ||
        (s = get_num(j, path, "weight_decay", 0, INFINITY, &o.weight_decay)))
        return s;
    o.dropout = (float)dropout;
    if (strcmp(pool, "mean") && strcmp(pool, "last"))
        return lmf_error(LMF_ERR_FORMAT, "%s: \"pooling\" must be \"mean\" or \"last\" (got \"%s\"); " LOAD_FIX, path,
                         pool);
    o.pooling = !strcmp(pool, "last") ? LMF_POOL_LAST : LMF_POOL_MEAN;
    if (!lmf_parse_u64(seed, &o.seed))
        return lmf_error(LMF_ERR_FORMAT, "%s: \"seed\" must be a whole number as a string (got \"%.40s\"); " LOAD_FIX, path,
                         seed);
    if (lmf_arch_parse(o.arch) < 0 || !(o.lr > 0))
        return lmf_error(LMF_ERR_FORMAT, "%s: \"arch\" must be rnn, lstm, gru or transformer and \"lr\" positive; " LOAD_FIX,
                         path);
    nnclass *nc;
    if ((s = nc_new((const char *const *)names, C, &o, &nc))) return s;
    char *side = net_name[0] == '/' ? lmf_strdup(net_name) : lmf_path_join(dir, net_name);
    lmf_safetensors *st = NULL;
    if (!side) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) s = net_from_path(nc, side, &st);
    if (!s && (lmf_arch_parse(o.arch) != nc->net->cfg.arch || nc->net->cfg.L != o.layers || nc->net->cfg.H != o.hidden))
        s = lmf_error(LMF_ERR_FORMAT, "%s: the network in %s is not the %s %d x %d the classifier file names; " LOAD_FIX,
                      path, side, o.arch, o.layers, o.hidden);
    if (!s) s = alloc_head(nc);
    const char *tn[2] = {"classifier.weight", "classifier.bias"};
    for (int i = 0; i < 2 && !s; i++) {
        const lmf_st_tensor *t = lmf_st_find(st, tn[i]);
        int nd = i ? 1 : 2;
        if (!t || t->ndim != nd || t->shape[0] != C || (nd == 2 && t->shape[1] != nc->H))
            s = lmf_error(LMF_ERR_FORMAT, "%s: tensor \"%s\" is %s; this classifier needs [%d%s] (%d classes, width %d); " LOAD_FIX,
                          side, tn[i], t ? "mis-shaped" : "missing", C, nd == 2 ? ", H" : "", C, nc->H);
        else
            s = lmf_st_to_f32_finite(t, i ? nc->hp + (size_t)C * nc->H : nc->hp, side);
    }
    const cJSON *be = cJSON_GetObjectItemCaseSensitive(j, "best_epoch");
    if (!s && be) {
        int ep;
        if (!(s = get_int(j, path, "best_epoch", 1, o.epochs, &ep)) &&
            !(s = get_num(j, path, "valid_accuracy", 0, 1, &x))) {
            nc->best_epoch = ep;
            nc->valid_acc = x;
            s = get_num(j, path, "valid_cross_entropy", 0, INFINITY, &nc->valid_nll);
        }
    }
    lmf_st_close(st);
    lmf_free(side);
    if (s) {
        nc_free(&nc->base);
        return s;
    }
    *out = &nc->base;
    return LMF_OK;
}

static const lmf_classifier_ops nn_ops = {
    .kind = "neural",
    .free = nc_free,
    .describe = nc_describe,
    .predict = nc_predict,
    .refit = nc_refit,
    .save = nc_save,
};
