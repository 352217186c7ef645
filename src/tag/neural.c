/* The neural tagger (lmf/tag.h, kind "neural"): two networks of the
 * language models' kinds (RNN, LSTM, GRU or Transformer; src/nn), one
 * reading each sentence left to right and one right to left, and per token a
 * softmax layer over both top states and hashed character features of the
 * word (suffixes and prefixes of 1-4 bytes, shape, the lower-cased word),
 * which carry what the word embedding cannot for unknown words:
 *   z = W_f y_f(i) + W_b y_b(i) + b + sum_{f in feats(w_i)} U[f]
 * trained with the cross-entropy of the gold tags by AdamW (U: lazily, the
 * rows a batch touches).  The networks start from random weights or from
 * an lmfuse language model (fine-tuning; both directions start from it),
 * whose vocabulary the tagger then reads; otherwise the vocabulary is the
 * training words seen twice or more (the others are <unk>).
 *
 * The nets run through lmf_net's window_top (src/nn/net.h): a batch of B
 * sentences is a window of B streams, padded after each sentence's end,
 * which changes none of its states (both kinds of net are causal).  Each
 * batch runs the nets forward once to read their top states, computes the
 * softmax layer's loss and gradients, then runs them again with the
 * gradients of their top states (the same dropout masks).
 *
 * Files: the tagger file (kind "tagger neural": tags, words, the softmax
 * layer "W_f", "W_b", "b", "U" and "neural_params") and two side files,
 * path + ".fwd.safetensors" and path + ".bwd.safetensors", each a neural
 * LM file of the network (`lmfuse ppl` reads it; its output layer is the
 * pretrained one or untrained). */
#define _POSIX_C_SOURCE 200809L
#include "tag_impl.h"
#include "../core/util_impl.h"
#include "../nn/net.h"
#include "lmf/text.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NFB 14          /* hashed feature rows: 2^NFB */
#define NCF 10          /* character features per word */

typedef struct nntag {
    lmf_net *net[2];    /* left to right, right to left */
    lmf_vocab *vocab;
    int32_t *start[2], *cls[2];
    int H, Tm, B, T;    /* top width, window steps (longest sentence), streams, tags */
    float *hp, *hg;     /* W_f [T,H], W_b [T,H], b [T] | U [2^NFB, T]; gradients alike */
    size_t nd, nu;      /* dense head size, U size */
    /* work space */
    float *Y[2], *dY[2], *A[2], *Z;
    int32_t *x[2];
    size_t cap;         /* rows of A, Z */
} nntag;

static void nt_free(void *p) {
    nntag *n = (nntag *)p;
    if (!n) return;
    for (int d = 0; d < 2; d++) {
        if (n->net[d]) n->net[d]->ops->free(n->net[d]);
        lmf_free(n->start[d]);
        lmf_free(n->cls[d]);
        lmf_free(n->Y[d]);
        lmf_free(n->dY[d]);
        lmf_free(n->A[d]);
        lmf_free(n->x[d]);
    }
    lmf_vocab_free(n->vocab);
    lmf_free(n->hp);
    lmf_free(n->Z);
    lmf_free(n);
}

/* ---- inputs ---- */

/* The character features of a word: hashed rows of U. */
static void char_feats(const char *w, int first, uint32_t *f) {
    const size_t n = strlen(w);
    char low[64];
    const size_t k = n < sizeof low ? n : sizeof low;
    int up = 0, dig = 0, hy = 0;
    for (size_t i = 0; i < k; i++) low[i] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
    for (size_t i = 0; i < n; i++) up += w[i] >= 'A' && w[i] <= 'Z', dig += w[i] >= '0' && w[i] <= '9', hy += w[i] == '-';
    const uint64_t mask = ((uint64_t)1 << NFB) - 1;
    int j = 0;
    for (size_t l = 1; l <= 4; l++) { /* suffixes and prefixes of the lower-cased word */
        const size_t m = l < k ? l : k;
        f[j++] = (uint32_t)(lmf_hash_bytes(low + k - m, m, 0x737566ULL + l) & mask);
        f[j++] = (uint32_t)(lmf_hash_bytes(low, m, 0x707265ULL + l) & mask);
    }
    const uint64_t shape = (uint64_t)(w[0] >= 'A' && w[0] <= 'Z') | (uint64_t)(up == (int)n) << 1 | (uint64_t)(dig > 0) << 2 |
                           (uint64_t)(hy > 0) << 3 | (uint64_t)(first != 0) << 4;
    f[j++] = (uint32_t)(lmf_mix64(shape + 0x5348ULL) & mask);
    f[j++] = (uint32_t)(lmf_hash_bytes(low, k, 0x776f7264ULL) & mask);
}

static int32_t word_id(const lmf_vocab *v, const char *w) {
    const int32_t id = lmf_vocab_find(v, w, strlen(w));
    return id < 0 || id >= lmf_vocab_size(v) ? LMF_UNK : id;
}

static lmf_status work(nntag *n, size_t rows) {
    const size_t WB = (size_t)n->Tm * n->B * n->H;
    for (int d = 0; d < 2; d++) {
        if (!n->Y[d]) n->Y[d] = (float *)lmf_malloc(WB * sizeof(float));
        if (!n->dY[d]) n->dY[d] = (float *)lmf_malloc(WB * sizeof(float));
        if (!n->x[d]) n->x[d] = (int32_t *)lmf_malloc((size_t)n->Tm * n->B * sizeof(int32_t));
        if (!n->Y[d] || !n->dY[d] || !n->x[d]) return lmf_error(LMF_ERR_NOMEM, "out of memory (neural tagger)");
    }
    if (rows <= n->cap) return LMF_OK;
    for (int d = 0; d < 2; d++) {
        lmf_free(n->A[d]);
        if (!(n->A[d] = (float *)lmf_malloc(rows * n->H * sizeof(float)))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    lmf_free(n->Z);
    if (!(n->Z = (float *)lmf_malloc(rows * n->T * sizeof(float)))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    n->cap = rows;
    return LMF_OK;
}

/* The top states: a window_top callback that copies Y (forward) or hands
 * back the gradients computed from the copies (backward). */
typedef struct topctx {
    float *keep;
    const float *give;
} topctx;

static double top_fn(void *ctx, const float *Y, int T, int B, int H, float *dY) {
    topctx *c = (topctx *)ctx;
    const size_t n = (size_t)T * B * H;
    if (c->keep) memcpy(c->keep, Y, n * sizeof *Y);
    if (dY) memcpy(dY, c->give, n * sizeof *dY);
    return 0;
}

/* Logits of the tokens of a batch: sentences s[0..m) (words w[s], lengths
 * len), rows in order of (sentence, position); returns the row count.
 * Fills n->A[d] with the gathered top states and n->Z with the logits. */
static size_t logits(nntag *n, int m, const char *const *const *w, const int32_t *len) {
    const int B = n->B, H = n->H, T = n->T;
    size_t r = 0;
    for (int b = 0; b < m; b++)
        for (int t = 0; t < len[b]; t++, r++) {
            memcpy(n->A[0] + r * H, n->Y[0] + ((size_t)t * B + b) * H, (size_t)H * sizeof(float));
            memcpy(n->A[1] + r * H, n->Y[1] + ((size_t)(len[b] - 1 - t) * B + b) * H, (size_t)H * sizeof(float));
        }
    const float *Wf = n->hp, *Wb = Wf + (size_t)T * H, *bias = Wb + (size_t)T * H, *U = n->hp + n->nd;
    for (size_t i = 0; i < r; i++) memcpy(n->Z + i * T, bias, (size_t)T * sizeof(float));
    LMF_GEMM(0, 1, (int)r, T, H, n->A[0], H, Wf, H, 1.0f, n->Z, T);
    LMF_GEMM(0, 1, (int)r, T, H, n->A[1], H, Wb, H, 1.0f, n->Z, T);
    r = 0;
    for (int b = 0; b < m; b++)
        for (int t = 0; t < len[b]; t++, r++) {
            uint32_t f[NCF];
            char_feats(w[b][t], t == 0, f);
            float *z = n->Z + r * T;
            for (int j = 0; j < NCF; j++) {
                const float *u = U + (size_t)f[j] * T;
                for (int c = 0; c < T; c++) z[c] += u[c];
            }
        }
    return r;
}

/* The windows of both directions for sentences w[0..m) (m <= B). */
static int fill_windows(nntag *n, int m, const char *const *const *w, const int32_t *len) {
    const int B = n->B;
    int Tw = 1;
    for (int b = 0; b < m; b++) Tw = len[b] > Tw ? len[b] : Tw;
    for (int t = 0; t < Tw; t++)
        for (int b = 0; b < B; b++) {
            const int in = b < m && t < len[b];
            n->x[0][(size_t)t * B + b] = in ? word_id(n->vocab, w[b][t]) : LMF_EOS;
            n->x[1][(size_t)t * B + b] = in ? word_id(n->vocab, w[b][len[b] - 1 - t]) : LMF_EOS;
        }
    return Tw;
}

static lmf_status forward(nntag *n, int Tw, uint64_t key) {
    for (int d = 0; d < 2; d++) {
        topctx c = {n->Y[d], NULL};
        double loss;
        lmf_status s = n->net[d]->ops->window_top(n->net[d], n->x[d], Tw, key, top_fn, &c, 0, &loss);
        if (s) return s;
    }
    return LMF_OK;
}

static lmf_status nt_run(lmf_tagger *t, const char *const *words, size_t len, int *best, float *logp) {
    nntag *n = (nntag *)t->impl;
    const int T = n->T;
    lmf_status s = work(n, len);
    if (s) return s;
    const char *const *w[1] = {words};
    const int32_t L[1] = {(int32_t)len};
    const int Tw = fill_windows(n, 1, w, L);
    if ((s = forward(n, Tw, 0))) return s;
    logits(n, 1, w, L);
    for (size_t i = 0; i < len; i++) {
        float *z = n->Z + i * T;
        int g = 0;
        for (int c = 1; c < T; c++)
            if (z[c] > z[g]) g = c;
        if (best) best[i] = g;
        if (logp) {
            memcpy(logp + i * (size_t)T, z, (size_t)T * sizeof *z);
            lmf_tag_log_softmax(logp + i * (size_t)T, T);
        }
    }
    return LMF_OK;
}

/* ---- training ---- */

static double unif(uint64_t *ctr) { return (double)(lmf_mix64((*ctr)++) >> 11) * (1.0 / 9007199254740992.0); }

/* One batch: loss and (scale) gradients into the nets' grad and n->hg;
 * touched (2^NFB flags) marks the rows of U it used. */
static lmf_status batch_grad(nntag *n, int m, const char *const *const *w, const int32_t *len, const int32_t *const *y,
                             uint64_t key, unsigned char *touched, double *loss, size_t *ntok) {
    const int B = n->B, H = n->H, T = n->T;
    const int Tw = fill_windows(n, m, w, len);
    lmf_status s = forward(n, Tw, key);
    if (s) return s;
    const size_t r = logits(n, m, w, len);
    *ntok = r;
    /* softmax cross-entropy: Z becomes (p - onehot) / r */
    double L = 0;
    size_t i = 0;
    for (int b = 0; b < m; b++)
        for (int t = 0; t < len[b]; t++, i++) {
            float *z = n->Z + i * T;
            float mx = z[0];
            for (int c = 1; c < T; c++) mx = z[c] > mx ? z[c] : mx;
            double zs = 0;
            for (int c = 0; c < T; c++) zs += exp((double)z[c] - mx);
            L += log(zs) + mx - z[y[b][t]];
            for (int c = 0; c < T; c++) z[c] = (float)(exp((double)z[c] - mx) / zs / (double)r);
            z[y[b][t]] -= 1.0f / (float)r;
        }
    *loss = L;
    float *gWf = n->hg, *gWb = gWf + (size_t)T * H, *gb = gWb + (size_t)T * H, *gU = n->hg + n->nd;
    const float *Wf = n->hp, *Wb = Wf + (size_t)T * H;
    LMF_GEMM(1, 0, T, H, (int)r, n->Z, T, n->A[0], H, 1.0f, gWf, H);
    LMF_GEMM(1, 0, T, H, (int)r, n->Z, T, n->A[1], H, 1.0f, gWb, H);
    lmf_colsum_add(gb, n->Z, (int)r, T);
    /* dA = dZ W, scattered back to the windows' rows */
    LMF_GEMM(0, 0, (int)r, H, T, n->Z, T, Wf, H, 0.0f, n->A[0], H);
    LMF_GEMM(0, 0, (int)r, H, T, n->Z, T, Wb, H, 0.0f, n->A[1], H);
    for (int d = 0; d < 2; d++) memset(n->dY[d], 0, (size_t)Tw * B * H * sizeof(float));
    i = 0;
    for (int b = 0; b < m; b++)
        for (int t = 0; t < len[b]; t++, i++) {
            memcpy(n->dY[0] + ((size_t)t * B + b) * H, n->A[0] + i * H, (size_t)H * sizeof(float));
            memcpy(n->dY[1] + ((size_t)(len[b] - 1 - t) * B + b) * H, n->A[1] + i * H, (size_t)H * sizeof(float));
            uint32_t f[NCF];
            char_feats(w[b][t], t == 0, f);
            const float *dz = n->Z + i * T;
            for (int j = 0; j < NCF; j++) {
                float *u = gU + (size_t)f[j] * T;
                touched[f[j]] = 1;
                for (int c = 0; c < T; c++) u[c] += dz[c];
            }
        }
    for (int d = 0; d < 2 && !s; d++) {
        topctx c = {NULL, n->dY[d]};
        double dummy;
        s = n->net[d]->ops->window_top(n->net[d], n->x[d], Tw, key, top_fn, &c, 1, &dummy);
    }
    return s;
}

lmf_status lmf_neural_loss_grad(lmf_tagger *t, const lmf_tagged *c, double *loss) {
    /* the summed loss of c's first sentences (at most B) and its gradient / tokens, for tests */
    nntag *n = (nntag *)t->impl;
    const int B = n->B;
    const char *const *w[64];
    int32_t len[64], *y[64];
    int *ids = NULL;
    lmf_status s = lmf_tag_ids(t, c, &ids, NULL);
    if (s) return s;
    int m = 0;
    for (size_t i = 0; i < lmf_tagged_nsent(c) && m < B && m < 64; i++, m++) {
        size_t a, b;
        lmf_tagged_sentence(c, i, &a, &b);
        w[m] = lmf_tagged_words(c) + a;
        len[m] = (int32_t)(b - a);
        y[m] = (int32_t *)ids + a;
    }
    unsigned char *touched = (unsigned char *)lmf_calloc((size_t)1 << NFB, 1);
    size_t rows = 0;
    for (int b = 0; b < m; b++) rows += (size_t)len[b];
    if (!touched) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) s = work(n, rows);
    for (int d = 0; d < 2 && !s; d++) memset(n->net[d]->grad, 0, n->net[d]->n_body * sizeof(float));
    if (!s) memset(n->hg, 0, (n->nd + n->nu) * sizeof(float));
    size_t nt;
    if (!s) s = batch_grad(n, m, w, len, (const int32_t *const *)y, 0, touched, loss, &nt);
    lmf_free(touched);
    lmf_free(ids);
    return s;
}

lmf_status lmf_neural_params(lmf_tagger *t, float **p[3], float **g[3], size_t n[3]) {
    nntag *x = (nntag *)t->impl;
    for (int d = 0; d < 2; d++) *p[d] = x->net[d]->param, *g[d] = x->net[d]->grad, n[d] = x->net[d]->n_body;
    *p[2] = x->hp, *g[2] = x->hg, n[2] = x->nd + x->nu;
    return LMF_OK;
}

static const lmf_tagger_ops neural_ops;

/* A net for the tagger: from the LM file init (its vocabulary becomes the
 * tagger's when v is NULL) or fresh. */
static lmf_status make_net(nntag *n, int d, const lmf_tagger_opts *o, int B, float dropout) {
    if (o->nn_init) {
        lmf_safetensors *st;
        lmf_status s = lmf_st_open(o->nn_init, &st);
        lmf_vocab *v = NULL;
        if (!s) s = lmf_net_from_file(st, o->nn_init, B, n->Tm, dropout, 1, &n->net[d], &v, &n->start[d], &n->cls[d]);
        if (st) lmf_st_close(st);
        if (!s && lmf_vocab_mode(v) != LMF_TOK_WORD)
            s = lmf_error(LMF_ERR_ARG, "%s: a %s model; a tagger reads words: pretrain a word model", o->nn_init,
                          lmf_token_mode_name(lmf_vocab_mode(v)));
        if (!s && !n->vocab) n->vocab = v, v = NULL;
        lmf_vocab_free(v);
        return s;
    }
    lmf_net_cfg c;
    memset(&c, 0, sizeof c);
    c.arch = lmf_arch_parse(o->nn_arch ? o->nn_arch : "lstm");
    const int tf = c.arch == LMF_ARCH_TRANSFORMER;
    c.L = o->nn_layers;
    c.H = o->nn_hidden;
    c.E = tf ? o->nn_hidden : o->nn_emb;
    c.V = lmf_vocab_size(n->vocab);
    c.heads = 4;
    c.ff = 4 * o->nn_hidden;
    c.ctx = n->Tm;
    c.dropout = dropout;
    c.B = B;
    c.T = n->Tm;
    return lmf_net_new(&c, o->seed + (uint64_t)d * 0x9e3779b97f4a7c15ULL, 1, &n->net[d]);
}

/* Nets of one stream (for tagging) with the trained ones' parameters. */
static lmf_status to_inference(nntag *n) {
    for (int d = 0; d < 2; d++) {
        lmf_net_cfg c = n->net[d]->cfg;
        c.B = 1;
        c.dropout = 0;
        lmf_net *one;
        lmf_status s = lmf_net_new(&c, 1, 1, &one);
        if (s) return s;
        if (one->n_param != n->net[d]->n_param) {
            one->ops->free(one);
            return lmf_error(LMF_ERR_ARG, "internal: inference net of another size");
        }
        memcpy(one->param, n->net[d]->param, one->n_param * sizeof(float));
        n->net[d]->ops->free(n->net[d]);
        n->net[d] = one;
    }
    n->B = 1;
    for (int d = 0; d < 2; d++) {
        lmf_free(n->Y[d]), lmf_free(n->dY[d]), lmf_free(n->x[d]);
        n->Y[d] = n->dY[d] = NULL;
        n->x[d] = NULL;
    }
    return LMF_OK;
}

lmf_status lmf_neural_train(lmf_tagger *t, const lmf_tagger_opts *o, const lmf_tagged *train) {
    if (o->nn_arch && lmf_arch_parse(o->nn_arch) < 0)
        return lmf_error(LMF_ERR_ARG, "network \"%s\": rnn, lstm, gru or transformer", o->nn_arch);
    if (o->nn_layers < 1 || o->nn_layers > 4 || o->nn_hidden < 4 || o->nn_hidden > 4096 || o->nn_emb < 4 || o->nn_emb > 4096)
        return lmf_error(LMF_ERR_ARG, "network sizes: 1-4 layers, hidden and embedding 4-4096");
    if (o->nn_epochs < 1 || o->nn_epochs > 1000 || o->nn_batch < 1 || o->nn_batch > 64 || !(o->nn_lr > 0) ||
        !(o->nn_dropout >= 0 && o->nn_dropout < 1))
        return lmf_error(LMF_ERR_ARG, "training: 1-1000 epochs, batches of 1-64 sentences, lr > 0, dropout in [0, 1)");
    nntag *n = (nntag *)lmf_calloc(1, sizeof *n);
    if (!n) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    t->impl = n;
    t->ops = &neural_ops;
    n->T = t->tags.n;
    n->B = o->nn_batch;
    const size_t ns = lmf_tagged_nsent(train);
    size_t maxlen = 1;
    for (size_t i = 0; i < ns; i++) {
        size_t a, b;
        lmf_tagged_sentence(train, i, &a, &b);
        if (b - a > maxlen) maxlen = b - a;
    }
    n->Tm = (int)(maxlen > 256 ? maxlen : 256);
    if (n->Tm > 4096) return lmf_error(LMF_ERR_DATA, "%s: a sentence of %zu tokens; the neural tagger reads at most 4096", lmf_tagged_path(train), maxlen);
    t->max_len = (size_t)n->Tm;
    lmf_status s = LMF_OK;
    if (!o->nn_init) { /* the vocabulary: training words seen twice or more */
        lmf_strtab seen = {0};
        int32_t *cnt = NULL;
        size_t cap = 0;
        for (size_t i = 0; i < lmf_tagged_ntok(train) && !s; i++) {
            const char *w = lmf_tagged_word(train, i);
            const int32_t id = lmf_strtab_add(&seen, w, strlen(w));
            if (id < 0) {
                s = lmf_error(LMF_ERR_NOMEM, "out of memory");
                break;
            }
            if ((size_t)id >= cap) {
                size_t nc = cap ? 2 * cap : 1024;
                while (nc <= (size_t)id) nc *= 2;
                int32_t *nw = (int32_t *)lmf_realloc(cnt, nc * sizeof *nw);
                if (!nw) {
                    s = lmf_error(LMF_ERR_NOMEM, "out of memory");
                    break;
                }
                memset(nw + cap, 0, (nc - cap) * sizeof *nw);
                cnt = nw;
                cap = nc;
            }
            cnt[id]++;
        }
        if (!s && !(n->vocab = lmf_vocab_new(LMF_TOK_WORD))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        for (int32_t i = 0; i < seen.n && !s; i++)
            if (cnt[i] >= 2 && lmf_vocab_add(n->vocab, lmf_strtab_str(&seen, i), strlen(lmf_strtab_str(&seen, i))) < 0)
                s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        lmf_free(cnt);
        lmf_strtab_free(&seen);
    }
    for (int d = 0; d < 2 && !s; d++) s = make_net(n, d, o, n->B, (float)o->nn_dropout);
    if (s) return s;
    n->H = n->net[0]->cfg.H;
    if (n->net[1]->cfg.H != n->H) return lmf_error(LMF_ERR_ARG, "internal: directions of other widths");
    const int T = n->T, H = n->H, B = n->B;
    n->nd = 2 * (size_t)T * H + (size_t)T;
    n->nu = ((size_t)1 << NFB) * (size_t)T;
    if (!(n->hp = (float *)lmf_calloc(2 * (n->nd + n->nu), sizeof(float)))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    n->hg = n->hp + n->nd + n->nu;
    uint64_t ctr = lmf_mix64(o->seed ^ 0x6e74616731ULL);
    const float a = 1.0f / sqrtf((float)H);
    for (size_t i = 0; i < 2 * (size_t)T * H; i++) n->hp[i] = (float)(2 * unif(&ctr) - 1) * a;
    /* training */
    const size_t nb0 = n->net[0]->n_body, nb1 = n->net[1]->n_body;
    float *mom = (float *)lmf_calloc(2 * (nb0 + nb1 + n->nd + n->nu), sizeof(float));
    unsigned char *touched = (unsigned char *)lmf_calloc((size_t)1 << NFB, 1);
    size_t *perm = (size_t *)lmf_malloc(ns * sizeof *perm);
    int *ids = NULL;
    if (!mom || !touched || !perm) s = lmf_error(LMF_ERR_NOMEM, "out of memory for training");
    if (!s) s = lmf_tag_ids(t, train, &ids, NULL);
    if (!s) s = work(n, (size_t)B * n->Tm);
    float *m0 = mom, *v0 = m0 + nb0, *m1 = v0 + nb0, *v1 = m1 + nb1, *mh = v1 + nb1, *vh = mh + n->nd, *mu = vh + n->nd,
          *vu = mu + n->nu;
    const int64_t spe = (int64_t)((ns + (size_t)B - 1) / (size_t)B), total = spe * o->nn_epochs, warm = total / 20 > 0 ? total / 20 : 1;
    int64_t step = 0;
    for (size_t i = 0; i < ns; i++) perm[i] = i;
    for (int ep = 0; !s && ep < o->nn_epochs; ep++) {
        for (size_t i = ns; i > 1; i--) {
            size_t j = (size_t)(unif(&ctr) * (double)i), x = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = x;
        }
        double eloss = 0;
        size_t etok = 0;
        for (size_t i = 0; !s && i < ns; i += (size_t)B, step++) {
            const int m = ns - i < (size_t)B ? (int)(ns - i) : B;
            const char *const *w[64];
            int32_t len[64];
            const int32_t *y[64];
            for (int b = 0; b < m; b++) {
                size_t a0, e0;
                lmf_tagged_sentence(train, perm[i + (size_t)b], &a0, &e0);
                w[b] = lmf_tagged_words(train) + a0;
                len[b] = (int32_t)(e0 - a0);
                y[b] = (const int32_t *)ids + a0;
            }
            memset(n->net[0]->grad, 0, nb0 * sizeof(float));
            memset(n->net[1]->grad, 0, nb1 * sizeof(float));
            memset(n->hg, 0, n->nd * sizeof(float));
            const uint64_t key = o->nn_dropout > 0 ? (lmf_mix64(o->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)step + 1) | 1) : 0;
            double loss;
            size_t nt;
            if ((s = batch_grad(n, m, w, len, y, key, touched, &loss, &nt))) break;
            eloss += loss;
            etok += nt;
            float *g[3] = {n->net[0]->grad, n->net[1]->grad, n->hg};
            size_t gn[3] = {nb0, nb1, n->nd};
            const float norm = lmf_clip_grad_norm(g, gn, 3, 5.0f);
            if (!isfinite(loss) || !isfinite(norm)) {
                s = lmf_error(LMF_ERR_DATA, "training diverged at step %lld: loss %g; lower the learning rate", (long long)step + 1, loss);
                break;
            }
            const double lr = step < warm ? o->nn_lr * (double)(step + 1) / (double)warm
                                          : 0.5 * o->nn_lr * (1 + cos(3.14159265358979323846 * (double)(step - warm) / (double)(total - warm > 0 ? total - warm : 1)));
            lmf_adamw_step(n->net[0]->param, m0, v0, n->net[0]->grad, nb0, (float)lr, 0.9f, 0.999f, 1e-8f, 0, step + 1);
            lmf_adamw_step(n->net[1]->param, m1, v1, n->net[1]->grad, nb1, (float)lr, 0.9f, 0.999f, 1e-8f, 0, step + 1);
            lmf_adamw_step(n->hp, mh, vh, n->hg, n->nd, (float)lr, 0.9f, 0.999f, 1e-8f, 0, step + 1);
            float *U = n->hp + n->nd, *gU = n->hg + n->nd;
            for (size_t r = 0; r < ((size_t)1 << NFB); r++) { /* the rows this batch touched */
                if (!touched[r]) continue;
                const size_t o2 = r * (size_t)T;
                lmf_adamw_step(U + o2, mu + o2, vu + o2, gU + o2, (size_t)T, (float)lr, 0.9f, 0.999f, 1e-8f, 0, step + 1);
                memset(gU + o2, 0, (size_t)T * sizeof(float));
                touched[r] = 0;
            }
        }
        if (!s && o->progress)
            lmf_log(LMF_LOG_INFO, "neural tagger epoch %d/%d: training cross-entropy %.4f", ep + 1, o->nn_epochs,
                    etok ? eloss / (double)etok : 0);
    }
    lmf_free(mom);
    lmf_free(touched);
    lmf_free(perm);
    lmf_free(ids);
    if (!s) s = to_inference(n);
    return s;
}

/* ---- files ---- */

static char *side_name(const char *path, int d) {
    const size_t n = strlen(path) + 24;
    char *p = (char *)lmf_malloc(n);
    if (p) snprintf(p, n, "%s.%s.safetensors", path, d ? "bwd" : "fwd");
    return p;
}

static lmf_status nt_save(const lmf_tagger *t, lmf_st_writer *w, void **keep, const char *path) {
    const nntag *n = (const nntag *)t->impl;
    const int T = n->T, H = n->H;
    lmf_status s = LMF_OK;
    char *vj = lmf_vocab_json(n->vocab);
    if (!vj) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int d = 0; d < 2 && !s; d++) { /* the side files first: the main file names them */
        char *side = side_name(path, d);
        lmf_st_writer *sw = lmf_st_writer_new();
        if (!side || !sw) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        if (!s) s = n->net[d]->ops->add_tensors(n->net[d], sw);
        if (!s) s = lmf_st_set_meta(sw, "lmfuse.vocab", vj);
        if (!s) s = lmf_st_set_meta(sw, "lmfuse.token_mode", "word");
        if (!s) s = lmf_st_write(sw, side);
        if (!s) {
            const char *sl = strrchr(side, '/');
            s = lmf_st_set_meta(w, d ? "network_bwd" : "network_fwd", sl ? sl + 1 : side);
        }
        lmf_st_writer_free(sw);
        lmf_free(side);
    }
    cJSON_free(vj);
    double *pp = s ? NULL : (double *)lmf_malloc(2 * sizeof *pp);
    if (!s && !pp) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) return s;
    *keep = pp;
    pp[0] = NFB, pp[1] = n->Tm;
    int64_t sh[2] = {2, 0};
    if ((s = lmf_st_add(w, "neural_params", LMF_DT_F64, 1, sh, pp))) return s;
    sh[0] = T, sh[1] = H;
    if ((s = lmf_st_add(w, "W_f", LMF_DT_F32, 2, sh, n->hp))) return s;
    if ((s = lmf_st_add(w, "W_b", LMF_DT_F32, 2, sh, n->hp + (size_t)T * H))) return s;
    sh[0] = T;
    if ((s = lmf_st_add(w, "b", LMF_DT_F32, 1, sh, n->hp + 2 * (size_t)T * H))) return s;
    sh[0] = (int64_t)1 << NFB, sh[1] = T;
    return lmf_st_add(w, "U", LMF_DT_F32, 2, sh, n->hp + n->nd);
}

static lmf_status get2(const lmf_safetensors *st, const char *path, const char *name, int64_t d0, int64_t d1, float *dst) {
    const lmf_st_tensor *x = lmf_st_find(st, name);
    if (!x || x->dtype != LMF_DT_F32 || (d1 ? (x->ndim != 2 || x->shape[0] != d0 || x->shape[1] != d1) : (x->ndim != 1 || x->shape[0] != d0)))
        return lmf_error(LMF_ERR_FORMAT, "%s: tensor \"%s\" missing or not F32 [%lld%s%lld] (a damaged file)", path, name,
                         (long long)d0, d1 ? ", " : "", d1 ? (long long)d1 : 0LL);
    return lmf_st_to_f32_finite(x, dst, path);
}

lmf_status lmf_neural_load(lmf_tagger *t, const lmf_safetensors *st, const char *path) {
    nntag *n = (nntag *)lmf_calloc(1, sizeof *n);
    if (!n) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    t->impl = n;
    t->ops = &neural_ops;
    n->T = t->tags.n;
    n->B = 1;
    const lmf_st_tensor *x;
    double pp[2];
    lmf_status s = lmf_tag_tensor(st, path, "neural_params", LMF_DT_F64, 2, &x);
    if (s) return s;
    memcpy(pp, x->data, sizeof pp);
    if (pp[0] != NFB || !(pp[1] >= 1 && pp[1] <= 4096 && pp[1] == floor(pp[1])))
        return lmf_error(LMF_ERR_FORMAT, "%s: neural tagger parameters out of range, or from another version of lmfuse", path);
    n->Tm = (int)pp[1];
    t->max_len = (size_t)n->Tm;
    char *dir = lmf_path_dir(path);
    if (!dir) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int d = 0; d < 2 && !s; d++) {
        const char *name = lmf_st_meta(st, d ? "network_bwd" : "network_fwd");
        if (!name || !name[0] || strchr(name, '/')) {
            s = lmf_error(LMF_ERR_FORMAT, "%s: metadata \"%s\" must name the network's file next to it", path, d ? "network_bwd" : "network_fwd");
            break;
        }
        char *sp = lmf_path_join(dir, name);
        lmf_safetensors *ns = NULL;
        lmf_vocab *v = NULL;
        s = sp ? lmf_st_open(sp, &ns) : lmf_error(LMF_ERR_NOMEM, "out of memory");
        if (!s) s = lmf_net_from_file(ns, sp, 1, n->Tm, 0, 1, &n->net[d], &v, &n->start[d], &n->cls[d]);
        if (!s && d == 0) n->vocab = v, v = NULL;
        else if (!s && !lmf_vocab_equal(v, n->vocab)) s = lmf_error(LMF_ERR_FORMAT, "%s: the two networks read other vocabularies", path);
        lmf_vocab_free(v);
        if (ns) lmf_st_close(ns);
        lmf_free(sp);
    }
    lmf_free(dir);
    if (s) return s;
    n->H = n->net[0]->cfg.H;
    if (n->net[1]->cfg.H != n->H) return lmf_error(LMF_ERR_FORMAT, "%s: the two networks have other widths", path);
    const int T = n->T, H = n->H;
    n->nd = 2 * (size_t)T * H + (size_t)T;
    n->nu = ((size_t)1 << NFB) * (size_t)T;
    if (!(n->hp = (float *)lmf_calloc(2 * (n->nd + n->nu), sizeof(float)))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    n->hg = n->hp + n->nd + n->nu;
    if ((s = get2(st, path, "W_f", T, H, n->hp)) || (s = get2(st, path, "W_b", T, H, n->hp + (size_t)T * H)) ||
        (s = get2(st, path, "b", T, 0, n->hp + 2 * (size_t)T * H)) || (s = get2(st, path, "U", (int64_t)1 << NFB, T, n->hp + n->nd)))
        return s;
    return LMF_OK;
}

static const lmf_tagger_ops neural_ops = {nt_run, nt_save, nt_free};
