/* Recurrent word language models (Elman RNN, LSTM, GRU) behind the model
 * interface: loading from PyTorch-style safetensors (see include/lmf/nn.h)
 * and inference.  Training comes with the training loop. */
#include "lmf/nn.h"
#include "lmf/io.h"
#include "nn_impl.h"
#include "../model/model_impl.h"
#include "../core/json_impl.h"
#include "../core/util_impl.h"
#include "../text/text_impl.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>


typedef struct rnnlm {
    lmf_model base; /* must be first */
    lmf_vocab *vocab; /* owned unless borrowed */
    lmf_rnn_cfg cfg;
    int G, borrowed;
    float *block; /* every parameter; owned unless borrowed */
    lmf_rnn_params p;
    int32_t *start, *cls; /* output classes (owned when loaded) */
    /* the weights packed for lmf_sgemm_p (NULL without the memory: packed
     * per product, the same sums) */
    float *pack;
    const float *wihp[LMF_NN_MAX_LAYERS], *whhp[LMF_NN_MAX_LAYERS], *decp;
} rnnlm;

struct lmf_state {
    float *h, *c;           /* [L,H] hidden (and LSTM cell) after the tokens read so far */
    float *gi, *gh, *act;   /* [G*H] scratch */
    float *tmp, *tc;        /* [H] scratch */
    float *hw;              /* [C] output-layer scratch */
};

static const lmf_model_ops rnnlm_ops;
struct rnnlm;
static void pack_weights(struct rnnlm *m);

/* One recurrent step of layer l from a precomputed input projection gi. */
static void layer_step(const rnnlm *m, lmf_state *s, int l, const float *gi) {
    int H = m->cfg.H;
    float *h = s->h + (size_t)l * H, *c = s->c + (size_t)l * H;
    lmf_matmul_forward_wp(s->gh, h, m->p.whh[l], m->whhp[l], m->p.bhh[l], 1, H, m->G * H);
    if (m->cfg.arch == LMF_ARCH_RNN) {
        lmf_rnn_forward_f32(h, gi, s->gh, 1, H);
    } else if (m->cfg.arch == LMF_ARCH_LSTM) {
        memcpy(s->tmp, c, (size_t)H * sizeof *c);
        lmf_lstm_forward_f32(h, c, s->act, s->tc, gi, s->gh, s->tmp, 1, H);
    } else {
        memcpy(s->tmp, h, (size_t)H * sizeof *h);
        lmf_gru_forward_f32(h, s->act, gi, s->gh, s->tmp, 1, H);
    }
}

/* One step: reads token tok, updates h (and c). */
static void step(const rnnlm *m, lmf_state *s, int32_t tok) {
    const float *x = m->p.emb + (size_t)tok * m->cfg.E;
    for (int l = 0; l < m->cfg.L; l++) {
        lmf_matmul_forward_wp(s->gi, x, m->p.wih[l], m->wihp[l], m->p.bih[l], 1, l ? m->cfg.H : m->cfg.E,
                              m->G * m->cfg.H);
        layer_step(m, s, l, s->gi);
        x = s->h + (size_t)l * m->cfg.H;
    }
}


static void st_reset(const lmf_model *mm, lmf_state *s) {
    const rnnlm *m = (const rnnlm *)mm;
    memset(s->h, 0, (size_t)m->cfg.L * m->cfg.H * sizeof(float));
    memset(s->c, 0, (size_t)m->cfg.L * m->cfg.H * sizeof(float));
    step(m, s, LMF_EOS); /* a stream starts as if after an end of line */
}

static lmf_state *st_new(const lmf_model *mm) {
    const rnnlm *m = (const rnnlm *)mm;
    size_t LH = (size_t)m->cfg.L * m->cfg.H, GH = (size_t)m->G * m->cfg.H;
    lmf_state *s = (lmf_state *)lmf_calloc(1, sizeof *s);
    float *buf = s ? (float *)lmf_calloc(2 * LH + 3 * GH + 2 * (size_t)m->cfg.H + (size_t)m->cfg.C + 1, sizeof(float)) : NULL;
    if (!buf) {
        lmf_free(s);
        return NULL;
    }
    s->h = buf;
    s->c = s->h + LH;
    s->gi = s->c + LH;
    s->gh = s->gi + GH;
    s->act = s->gh + GH;
    s->tmp = s->act + GH;
    s->tc = s->tmp + m->cfg.H;
    s->hw = s->tc + m->cfg.H;
    st_reset(mm, s);
    return s;
}

static void st_free(const lmf_model *mm, lmf_state *s) {
    (void)mm;
    if (!s) return;
    lmf_free(s->h);
    lmf_free(s);
}

static lmf_status st_copy(const lmf_model *mm, lmf_state *d, const lmf_state *s) {
    const rnnlm *m = (const rnnlm *)mm;
    memcpy(d->h, s->h, 2 * (size_t)m->cfg.L * m->cfg.H * sizeof(float));
    return LMF_OK;
}

static lmf_status nn_feed(lmf_model *mm, lmf_state *s, int32_t tok) {
    step((const rnnlm *)mm, s, tok);
    return LMF_OK;
}

static lmf_status nn_next(lmf_model *mm, const lmf_state *s, float *logp) {
    const rnnlm *m = (const rnnlm *)mm;
    lmf_head h = lmf_rnn_head(&m->cfg, &m->p);
    h.wp = m->decp;
    lmf_head_logprobs(&h, s->h + (size_t)(m->cfg.L - 1) * m->cfg.H, logp, s->hw);
    return LMF_OK;
}

/* Scoring runs a chunk of positions layer by layer: each layer's input
 * projection for the whole chunk is one matrix product, only the recurrent
 * product is per step, and the output layer is one product for the chunk. */
#define CHUNK 256

/* logp: each token's log-probability; or dist: the full distributions
 * before each token (n x V); or hid: the top states before each token and
 * after the last ((n+1) x H, no output layer). */
static lmf_status nn_run(lmf_model *mm, lmf_state *s, const int32_t *tok, size_t n, float *logp, float *dist,
                         float *hid) {
    const rnnlm *m = (const rnnlm *)mm;
    size_t H = (size_t)m->cfg.H, GH = (size_t)m->G * m->cfg.H;
    if (n == 0) {
        if (hid) memcpy(hid, s->h + (size_t)(m->cfg.L - 1) * H, H * sizeof *hid);
        return LMF_OK;
    }
    size_t cw = n < CHUNK ? n : CHUNK, D = m->cfg.E > m->cfg.H ? (size_t)m->cfg.E : H;
    lmf_head head = lmf_rnn_head(&m->cfg, &m->p);
    head.wp = m->decp;
    float *buf = (float *)lmf_malloc(cw * (2 * D + GH + H) * sizeof(float) + lmf_head_work_bytes(&head, (int)cw, 0));
    if (!buf) return lmf_error(LMF_ERR_NOMEM, "out of memory scoring (chunk of %zu positions)", cw);
    float *X = buf, *Y = X + cw * D, *GI = Y + cw * D, *P = GI + cw * GH, *HW = P + cw * H;
    for (size_t p0 = 0; p0 < n; p0 += cw) {
        int k = (int)(n - p0 < cw ? n - p0 : cw);
        /* predictions use the top state before each token */
        memcpy(P, s->h + (size_t)(m->cfg.L - 1) * H, H * sizeof *P);
        lmf_embed_forward_f32(X, m->p.emb, tok + p0, k, m->cfg.E);
        for (int l = 0; l < m->cfg.L; l++) {
            lmf_matmul_forward_wp(GI, X, m->p.wih[l], m->wihp[l], m->p.bih[l], k, l ? m->cfg.H : m->cfg.E, (int)GH);
            for (int t = 0; t < k; t++) {
                layer_step(m, s, l, GI + (size_t)t * GH);
                memcpy(Y + (size_t)t * H, s->h + (size_t)l * H, H * sizeof *Y);
            }
            float *x = X;
            X = Y;
            Y = x;
        }
        /* X now holds the top state after each token of the chunk */
        memcpy(P + H, X, (size_t)(k - 1) * H * sizeof *P);
        if (hid) memcpy(hid + p0 * H, P, (size_t)k * H * sizeof *P);
        else if (dist) lmf_head_logprobs_batch(&head, P, k, dist + p0 * (size_t)m->cfg.V, HW);
        else lmf_head_score(&head, P, k, tok + p0, logp + p0, HW);
    }
    if (hid) memcpy(hid + n * H, s->h + (size_t)(m->cfg.L - 1) * H, H * sizeof *hid);
    lmf_free(buf);
    return LMF_OK;
}

static lmf_status nn_score(lmf_model *mm, lmf_state *s, const int32_t *tok, size_t n, float *logp) {
    return nn_run(mm, s, tok, n, logp, NULL, NULL);
}

static lmf_status nn_dists(lmf_model *mm, lmf_state *s, const int32_t *tok, size_t n, float *out) {
    return nn_run(mm, s, tok, n, NULL, out, NULL);
}

static lmf_status nn_hidden(lmf_model *mm, lmf_state *s, const int32_t *tok, size_t n, float *h) {
    return nn_run(mm, s, tok, n, NULL, NULL, h);
}

static int nn_hidden_dim(const lmf_model *mm) { return ((const rnnlm *)mm)->cfg.H; }

static void nn_describe(const lmf_model *mm, char *buf, size_t n) {
    const rnnlm *m = (const rnnlm *)mm;
    char cls[48] = "";
    if (m->cfg.C) snprintf(cls, sizeof cls, ", %d output classes", m->cfg.C);
    snprintf(buf, n, "%s, %d layer%s x %d, embedding %d, %d tokens%s%s", lmf_arch_names[m->cfg.arch], m->cfg.L,
             m->cfg.L > 1 ? "s" : "", m->cfg.H, m->cfg.E, m->cfg.V, m->cfg.tied ? ", tied" : "", cls);
}

static void nn_free(lmf_model *mm) {
    rnnlm *m = (rnnlm *)mm;
    if (!m->borrowed) {
        lmf_vocab_free(m->vocab);
        lmf_free(m->block);
        lmf_free(m->start);
        lmf_free(m->cls);
    }
    lmf_free(m->pack);
    lmf_free(m);
}

static const lmf_model_ops rnnlm_ops = {
    .kind = "rnnlm",
    .free = nn_free,
    .describe = nn_describe,
    .state_new = st_new,
    .state_free = st_free,
    .state_reset = st_reset,
    .state_copy = st_copy,
    .feed = nn_feed,
    .next = nn_next,
    .score = nn_score,
    .dists = nn_dists,
    .hidden_dim = nn_hidden_dim,
    .hidden = nn_hidden,
};

/* ---------------- loading ---------------- */

#define BAD(...) lmf_error(LMF_ERR_FORMAT, __VA_ARGS__)

/* Finds a float tensor of the given shape (ndim dims; -1 = any). */
static lmf_status need(const lmf_safetensors *st, const char *path, const char *name, int ndim, int64_t d0,
                       int64_t d1, const lmf_st_tensor **out) {
    const lmf_st_tensor *t = lmf_st_find(st, name);
    if (!t) return BAD("%s: tensor \"%s\" is missing (see include/lmf/nn.h for the layout)", path, name);
    if (t->ndim != ndim || (d0 >= 0 && t->shape[0] != d0) || (ndim > 1 && d1 >= 0 && t->shape[1] != d1))
        return BAD("%s: tensor \"%s\" has shape [%lld%s%lld], expected [%lld%s%lld]", path, name,
                   (long long)(t->ndim > 0 ? t->shape[0] : 0), t->ndim > 1 ? ", " : "",
                   (long long)(t->ndim > 1 ? t->shape[1] : 0), (long long)d0, ndim > 1 ? ", " : "",
                   (long long)(ndim > 1 ? d1 : 0));
    if (t->dtype != LMF_DT_F32 && t->dtype != LMF_DT_F16 && t->dtype != LMF_DT_BF16 && t->dtype != LMF_DT_F64)
        return BAD("%s: tensor \"%s\" is %s, expected floating point", path, name, lmf_dtype_name(t->dtype));
    *out = t;
    return LMF_OK;
}

lmf_status lmf_nn_load_vocab(const lmf_safetensors *st, const char *path, lmf_vocab **out) {
    const char *js = lmf_st_meta(st, "lmfuse.vocab");
    const char *mode_s = lmf_st_meta(st, "lmfuse.token_mode");
    int mode = mode_s ? lmf_token_mode_parse(mode_s) : LMF_TOK_WORD;
    if (!js) return BAD("%s: metadata \"lmfuse.vocab\" (a JSON array of tokens) is missing", path);
    if (mode < 0) return BAD("%s: unknown lmfuse.token_mode \"%s\"", path, mode_s);
    cJSON *arr = NULL;
    if (lmf_json_parse(js, strlen(js), NULL, &arr) == LMF_ERR_NOMEM) return LMF_ERR_NOMEM;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 2) {
        cJSON_Delete(arr);
        return BAD("%s: metadata \"lmfuse.vocab\" is not a JSON array of at least 2 tokens", path);
    }
    lmf_vocab *v = lmf_vocab_new((lmf_token_mode)mode);
    lmf_status s = v ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    int i = 0;
    for (cJSON *e = arr->child; e && !s; e = e->next, i++) {
        if (!cJSON_IsString(e)) {
            s = BAD("%s: lmfuse.vocab entry %d is not a string", path, i);
            break;
        }
        const char *w = e->valuestring;
        size_t wl = strlen(w);
        if (i < 2) {
            if (strcmp(w, i ? "</s>" : "<unk>")) s = BAD("%s: lmfuse.vocab entry %d must be %s", path, i, i ? "</s>" : "<unk>");
            continue;
        }
        int32_t before = lmf_vocab_size(v), id = lmf_vocab_add(v, w, wl);
        if (id < 0) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else if (id != before) s = BAD("%s: lmfuse.vocab entry %d (\"%s\") is a duplicate or reserved token", path, i, w);
    }
    cJSON_Delete(arr);
    if (s) {
        lmf_vocab_free(v);
        return s;
    }
    *out = v;
    return LMF_OK;
}

lmf_status lmf_nn_load(const char *path, lmf_model **out) {
    *out = NULL;
    lmf_safetensors *st;
    lmf_status s = lmf_st_open(path, &st);
    if (s) return s;
    const char *a0 = lmf_st_meta(st, "lmfuse.arch");
    if (a0 && !strcmp(a0, "transformer")) {
        s = lmf_tf_load(st, path, out);
        lmf_st_close(st);
        return s;
    }
    rnnlm *m = (rnnlm *)lmf_calloc(1, sizeof *m);
    if (!m) {
        lmf_st_close(st);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    m->base.ops = &rnnlm_ops;
    const char *arch = lmf_st_meta(st, "lmfuse.arch");
    m->cfg.arch = -1;
    for (int a = 0; a < 3; a++)
        if (arch && !strcmp(arch, lmf_arch_names[a])) m->cfg.arch = a;
    if (m->cfg.arch < 0)
        s = BAD("%s: metadata \"lmfuse.arch\" is %s%s%s; expected rnn, lstm, gru or transformer", path, arch ? "\"" : "",
                arch ? arch : "missing", arch ? "\"" : "");
    if (!s) s = lmf_nn_load_vocab(st, path, &m->vocab);
    const lmf_st_tensor *emb = NULL, *wih[LMF_NN_MAX_LAYERS], *whh[LMF_NN_MAX_LAYERS], *bih[LMF_NN_MAX_LAYERS], *bhh[LMF_NN_MAX_LAYERS];
    const lmf_st_tensor *dw = NULL, *db = NULL;
    if (!s) {
        m->base.vocab = m->vocab;
        m->cfg.V = lmf_vocab_size(m->vocab);
        m->G = lmf_arch_gates(m->cfg.arch);
        s = need(st, path, "encoder.weight", 2, m->cfg.V, -1, &emb);
    }
    if (!s) {
        m->cfg.E = (int)emb->shape[1];
        const lmf_st_tensor *w0 = lmf_st_find(st, "rnn.weight_hh_l0");
        if (!w0 || w0->ndim != 2 || w0->shape[0] % m->G || w0->shape[0] / m->G != w0->shape[1])
            s = BAD("%s: \"rnn.weight_hh_l0\" missing or not [%d*H, H] for a %s", path, m->G, lmf_arch_names[m->cfg.arch]);
        else
            m->cfg.H = (int)w0->shape[1];
    }
    char name[64];
    for (int l = 0; !s; l++) {
        snprintf(name, sizeof name, "rnn.weight_ih_l%d", l);
        if (!lmf_st_find(st, name)) {
            if (l == 0) s = BAD("%s: tensor \"rnn.weight_ih_l0\" is missing", path);
            break;
        }
        if (l == LMF_NN_MAX_LAYERS) {
            s = BAD("%s: more than %d layers", path, LMF_NN_MAX_LAYERS);
            break;
        }
        int64_t GH = (int64_t)m->G * m->cfg.H;
        s = need(st, path, name, 2, GH, l ? m->cfg.H : m->cfg.E, &wih[l]);
        snprintf(name, sizeof name, "rnn.weight_hh_l%d", l);
        if (!s) s = need(st, path, name, 2, GH, m->cfg.H, &whh[l]);
        snprintf(name, sizeof name, "rnn.bias_ih_l%d", l);
        if (!s) s = need(st, path, name, 1, GH, -1, &bih[l]);
        snprintf(name, sizeof name, "rnn.bias_hh_l%d", l);
        if (!s) s = need(st, path, name, 1, GH, -1, &bhh[l]);
        if (!s) m->cfg.L = l + 1;
    }
    if (!s) {
        if (lmf_st_find(st, "decoder.weight")) {
            s = need(st, path, "decoder.weight", 2, m->cfg.V, m->cfg.H, &dw);
        } else if (m->cfg.E != m->cfg.H) {
            s = BAD("%s: no \"decoder.weight\", and the embedding (%d) cannot be tied to hidden size %d", path, m->cfg.E,
                    m->cfg.H);
        } else {
            m->cfg.tied = 1;
        }
    }
    if (!s && lmf_st_find(st, "decoder.bias")) s = need(st, path, "decoder.bias", 1, m->cfg.V, -1, &db);
    const lmf_st_tensor *cw = NULL, *cb = NULL;
    if (!s) s = lmf_head_read_classes(st, path, m->cfg.V, &m->start, &m->cls, &m->cfg.C);
    m->cfg.start = m->start;
    m->cfg.cls = m->cls;
    if (!s && m->cfg.C) {
        s = need(st, path, "cls.weight", 2, m->cfg.C, m->cfg.H, &cw);
        if (!s) s = need(st, path, "cls.bias", 1, m->cfg.C, -1, &cb);
    }
    if (!s) { /* one block for every parameter */
        size_t n = lmf_rnn_layout(&m->cfg, NULL, NULL);
        m->block = (float *)lmf_calloc(n, sizeof(float));
        if (!m->block) s = lmf_error(LMF_ERR_NOMEM, "%s: out of memory for %zu parameters", path, n);
    }
    if (!s) {
        lmf_rnn_layout(&m->cfg, m->block, &m->p);
        s = lmf_st_to_f32_finite(emb, m->p.emb, path);
        for (int l = 0; l < m->cfg.L && !s; l++) {
            s = lmf_st_to_f32_finite(wih[l], m->p.wih[l], path);
            if (!s) s = lmf_st_to_f32_finite(whh[l], m->p.whh[l], path);
            if (!s) s = lmf_st_to_f32_finite(bih[l], m->p.bih[l], path);
            if (!s) s = lmf_st_to_f32_finite(bhh[l], m->p.bhh[l], path);
        }
        if (!s && db) s = lmf_st_to_f32_finite(db, m->p.dec_b, path);
        if (!s && dw) s = lmf_st_to_f32_finite(dw, m->p.dec_w, path);
        if (!s && cw) s = lmf_st_to_f32_finite(cw, m->p.cls_w, path);
        if (!s && cb) s = lmf_st_to_f32_finite(cb, m->p.cls_b, path);
    }
    lmf_st_close(st);
    if (s) {
        nn_free(&m->base);
        return s;
    }
    pack_weights(m);
    *out = &m->base;
    return LMF_OK;
}

/* The weights of every product packed once for lmf_sgemm_p (as much
 * memory again as those weights); without the memory, products pack per
 * call, with the same sums. */
static void pack_weights(rnnlm *m) {
    const int GH = m->G * m->cfg.H, H = m->cfg.H;
    size_t n = lmf_sgemm_pack_floats(m->cfg.V, H);
    for (int l = 0; l < m->cfg.L; l++)
        n += lmf_sgemm_pack_floats(GH, l ? H : m->cfg.E) + lmf_sgemm_pack_floats(GH, H);
    float *p = m->pack = (float *)lmf_malloc(n * sizeof *p);
    if (!p) return;
    for (int l = 0; l < m->cfg.L; l++) {
        const int in = l ? H : m->cfg.E;
        lmf_sgemm_pack(1, GH, in, m->p.wih[l], in, p);
        m->wihp[l] = p;
        p += lmf_sgemm_pack_floats(GH, in);
        lmf_sgemm_pack(1, GH, H, m->p.whh[l], H, p);
        m->whhp[l] = p;
        p += lmf_sgemm_pack_floats(GH, H);
    }
    lmf_sgemm_pack(1, m->cfg.V, H, m->p.dec_w, H, p);
    m->decp = p;
}

/* ---------------- layout, borrowed models, saving ---------------- */

const char *const lmf_arch_names[LMF_ARCH_COUNT] = {"rnn", "lstm", "gru", "transformer"};

int lmf_arch_gates(int arch) {
    static const int gates[LMF_ARCH_COUNT] = {1, 4, 3, 0};
    return arch >= 0 && arch < LMF_ARCH_COUNT ? gates[arch] : 0;
}

int lmf_arch_parse(const char *s) {
    for (int a = 0; a < LMF_ARCH_COUNT; a++)
        if (s && !strcmp(s, lmf_arch_names[a])) return a;
    return -1;
}

size_t lmf_rnn_layout(const lmf_rnn_cfg *c, float *base, lmf_rnn_params *p) {
    size_t G = (size_t)lmf_arch_gates(c->arch), GH = G * c->H, n = 0;
#define TAKE(field, count)                      \
    do {                                        \
        if (p) field = base + n;                \
        n += (count);                           \
    } while (0)
    TAKE(p->emb, (size_t)c->V * c->E);
    for (int l = 0; l < c->L; l++) {
        TAKE(p->wih[l], GH * (l ? c->H : c->E));
        TAKE(p->whh[l], GH * c->H);
        TAKE(p->bih[l], GH);
        TAKE(p->bhh[l], GH);
    }
    TAKE(p->dec_b, (size_t)c->V);
    if (c->C) {
        TAKE(p->cls_b, (size_t)c->C);
        TAKE(p->cls_w, (size_t)c->C * c->H);
    }
    if (c->tied) {
        if (p) p->dec_w = p->emb;
    } else {
        TAKE(p->dec_w, (size_t)c->V * c->H);
    }
#undef TAKE
    return n;
}

lmf_head lmf_rnn_head(const lmf_rnn_cfg *c, const lmf_rnn_params *p) {
    lmf_head h = {c->V, c->H, c->C, p->dec_w, p->dec_b, p->cls_w, p->cls_b, c->start, c->cls, NULL};
    return h;
}

lmf_status lmf_rnn_wrap(const lmf_rnn_cfg *c, float *block, const lmf_vocab *v, lmf_model **out) {
    rnnlm *m = (rnnlm *)lmf_calloc(1, sizeof *m);
    if (!m) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    m->base.ops = &rnnlm_ops;
    m->base.vocab = v;
    m->vocab = (lmf_vocab *)v;
    m->cfg = *c;
    m->G = lmf_arch_gates(c->arch);
    m->borrowed = 1;
    m->block = block;
    lmf_rnn_layout(c, block, &m->p);
    pack_weights(m);
    *out = &m->base;
    return LMF_OK;
}

char *lmf_vocab_json(const lmf_vocab *v) {
    cJSON *arr = cJSON_CreateArray();
    int32_t n = lmf_vocab_size(v);
    for (int32_t i = 0; arr && i < n; i++) {
        size_t len;
        const char *w = lmf_vocab_word(v, i, &len);
        cJSON *e = cJSON_CreateString(w);
        if (!e || !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    char *js = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    if (!js) lmf_error(LMF_ERR_NOMEM, "out of memory writing the vocabulary");
    return js; /* free with cJSON_free */
}

lmf_status lmf_rnn_add_tensors(lmf_st_writer *w, const lmf_rnn_cfg *c, const lmf_rnn_params *p) {
    int64_t GH = (int64_t)lmf_arch_gates(c->arch) * c->H, sh[2];
    char name[64];
    lmf_status s;
#define ADD2(nm, ptr, d0, d1) (sh[0] = (d0), sh[1] = (d1), lmf_st_add(w, nm, LMF_DT_F32, 2, sh, ptr))
#define ADD1(nm, ptr, d0) (sh[0] = (d0), lmf_st_add(w, nm, LMF_DT_F32, 1, sh, ptr))
    if ((s = ADD2("encoder.weight", p->emb, c->V, c->E))) return s;
    for (int l = 0; l < c->L; l++) {
        snprintf(name, sizeof name, "rnn.weight_ih_l%d", l);
        if ((s = ADD2(name, p->wih[l], GH, l ? c->H : c->E))) return s;
        snprintf(name, sizeof name, "rnn.weight_hh_l%d", l);
        if ((s = ADD2(name, p->whh[l], GH, c->H))) return s;
        snprintf(name, sizeof name, "rnn.bias_ih_l%d", l);
        if ((s = ADD1(name, p->bih[l], GH))) return s;
        snprintf(name, sizeof name, "rnn.bias_hh_l%d", l);
        if ((s = ADD1(name, p->bhh[l], GH))) return s;
    }
    if (!c->tied && (s = ADD2("decoder.weight", p->dec_w, c->V, c->H))) return s;
    if ((s = ADD1("decoder.bias", p->dec_b, c->V))) return s;
    if (c->C) {
        if ((s = ADD2("cls.weight", p->cls_w, c->C, c->H))) return s;
        if ((s = ADD1("cls.bias", p->cls_b, c->C))) return s;
    }
    if ((s = lmf_head_write_classes(w, c->start, c->C))) return s;
#undef ADD1
#undef ADD2
    return lmf_st_set_meta(w, "lmfuse.arch", lmf_arch_names[c->arch]);
}
