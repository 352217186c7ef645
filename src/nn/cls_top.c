/* Classification on a net's top states (net.h): the pooled softmax layer
 * that window_top trains through, and nets made from neural LM files (the
 * pretrained start of a fine-tuned classifier, and its saved network). */
#include "net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double lmf_cls_top_loss(void *ctx, const float *Y, int T, int B, int H, float *dY) {
    lmf_cls_top *k = (lmf_cls_top *)ctx;
    const int C = k->C;
    double loss = 0;
    if (dY) memset(dY, 0, (size_t)T * B * H * sizeof *dY);
    for (int b = 0; b < B; b++) {
        const int len = k->len[b] < T ? k->len[b] : T;
        if (len <= 0) continue;
        float *pl = k->pooled + (size_t)b * H;
        if (k->pool == 1) {
            memcpy(pl, Y + ((size_t)(len - 1) * B + b) * H, (size_t)H * sizeof *pl);
        } else {
            for (int h = 0; h < H; h++) {
                double s = 0;
                for (int t = 0; t < len; t++) s += Y[((size_t)t * B + b) * H + h];
                pl[h] = (float)(s / len);
            }
        }
        /* logits and ln softmax in double, the true max subtracted */
        double z[LMF_CLS_TOP_MAX_C], mx = -INFINITY, sum = 0;
        for (int c = 0; c < C; c++) {
            const float *w = k->W + (size_t)c * H;
            double a = k->b[c];
            for (int h = 0; h < H; h++) a += (double)w[h] * pl[h];
            z[c] = a;
            mx = a > mx ? a : mx;
        }
        for (int c = 0; c < C; c++) sum += exp(z[c] - mx);
        const double lz = mx + log(sum);
        for (int c = 0; c < C; c++) z[c] -= lz;
        if (k->logp)
            for (int c = 0; c < C; c++) k->logp[(size_t)b * C + c] = (float)z[c];
        if (!k->y) continue;
        const int y = k->y[b];
        loss -= z[y];
        if (!dY) continue;
        /* g = scale (softmax - onehot(y)); dW += g pooled^T, db += g,
         * dpooled = W^T g spread over the rows the pooling read */
        for (int c = 0; c < C; c++) {
            const double g = k->scale * (exp(z[c]) - (c == y ? 1.0 : 0.0));
            float *dw = k->dW + (size_t)c * H;
            k->db[c] += (float)g;
            for (int h = 0; h < H; h++) dw[h] += (float)(g * pl[h]);
            z[c] = g; /* kept for dpooled */
        }
        for (int h = 0; h < H; h++) { /* pl becomes dpooled */
            double a = 0;
            for (int c = 0; c < C; c++) a += z[c] * k->W[(size_t)c * H + h];
            pl[h] = (float)a;
        }
        if (k->pool == 1) {
            memcpy(dY + ((size_t)(len - 1) * B + b) * H, pl, (size_t)H * sizeof *dY);
        } else {
            const float inv = 1.0f / (float)len;
            for (int h = 0; h < H; h++) pl[h] *= inv;
            for (int t = 0; t < len; t++) memcpy(dY + ((size_t)t * B + b) * H, pl, (size_t)H * sizeof *dY);
        }
    }
    return loss;
}

/* A 2-d tensor's shape, or 0 if it is absent or not 2-d. */
static int shape2(const lmf_safetensors *st, const char *name, int64_t *d0, int64_t *d1) {
    const lmf_st_tensor *t = lmf_st_find(st, name);
    if (!t || t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > (1 << 30) || t->shape[1] > 65536)
        return 0;
    *d0 = t->shape[0];
    *d1 = t->shape[1];
    return 1;
}

#define NET_FIX "(a neural LM as lmfuse train writes it)"

lmf_status lmf_net_from_file(const lmf_safetensors *st, const char *path, int B, int T, float dropout, int top_only,
                             lmf_net **out, lmf_vocab **vocab, int32_t **start, int32_t **cls) {
    *out = NULL;
    *vocab = NULL;
    *start = *cls = NULL;
    const char *an = lmf_st_meta(st, "lmfuse.arch");
    const int arch = an ? lmf_arch_parse(an) : -1;
    if (arch < 0)
        return lmf_error(LMF_ERR_FORMAT, "%s: metadata \"lmfuse.arch\" is %s; expected rnn, lstm, gru or transformer " NET_FIX,
                         path, an ? an : "missing");
    lmf_status s = lmf_nn_load_vocab(st, path, vocab);
    if (s) return s;
    lmf_net_cfg c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    c.V = lmf_vocab_size(*vocab);
    c.dropout = dropout;
    c.B = B;
    c.T = T;
    int64_t d0, d1;
    char nm[64];
    if (arch == LMF_ARCH_TRANSFORMER) {
        int64_t p0, p1, f0, f1;
        const char *hs = lmf_st_meta(st, "lmfuse.heads");
        char *e = NULL;
        long nh = hs ? strtol(hs, &e, 10) : 0;
        if (!shape2(st, "tok_emb.weight", &d0, &d1) || d0 != c.V)
            s = lmf_error(LMF_ERR_FORMAT, "%s: tensor \"tok_emb.weight\" is missing or not [%d, d] " NET_FIX, path, c.V);
        else if (!shape2(st, "pos_emb.weight", &p0, &p1) || p1 != d1 || p0 > 65536)
            s = lmf_error(LMF_ERR_FORMAT, "%s: tensor \"pos_emb.weight\" is missing or not [ctx, %lld] " NET_FIX, path,
                          (long long)d1);
        else if (!shape2(st, "blocks.0.fc.weight", &f0, &f1) || f1 != d1 || f0 > (1 << 20))
            s = lmf_error(LMF_ERR_FORMAT, "%s: tensor \"blocks.0.fc.weight\" is missing or not [ff, %lld] " NET_FIX, path,
                          (long long)d1);
        else if (!hs || *e || nh < 1 || d1 % nh)
            s = lmf_error(LMF_ERR_FORMAT, "%s: metadata \"lmfuse.heads\" is %s; it must divide the width %lld", path,
                          hs ? hs : "missing", (long long)d1);
        if (!s) {
            c.E = c.H = (int)d1;
            c.ctx = (int)p0;
            c.ff = (int)f0;
            c.heads = (int)nh;
            c.tied = !lmf_st_find(st, "head.weight");
            for (c.L = 0; c.L < LMF_NN_MAX_LAYERS; c.L++) {
                snprintf(nm, sizeof nm, "blocks.%d.qkv.weight", c.L);
                if (!lmf_st_find(st, nm)) break;
            }
            if (c.T > c.ctx)
                s = lmf_error(LMF_ERR_ARG, "%s: the transformer reads at most %d positions, %d asked for", path, c.ctx,
                              c.T);
        }
    } else {
        const int G = lmf_arch_gates(arch);
        int64_t h0, h1;
        if (!shape2(st, "encoder.weight", &d0, &d1) || d0 != c.V)
            s = lmf_error(LMF_ERR_FORMAT, "%s: tensor \"encoder.weight\" is missing or not [%d, E] " NET_FIX, path, c.V);
        else if (!shape2(st, "rnn.weight_hh_l0", &h0, &h1) || h0 != G * h1)
            s = lmf_error(LMF_ERR_FORMAT, "%s: tensor \"rnn.weight_hh_l0\" is missing or not [%d*H, H] for a %s " NET_FIX,
                          path, G, an);
        if (!s) {
            c.E = (int)d1;
            c.H = (int)h1;
            c.tied = !lmf_st_find(st, "decoder.weight");
            for (c.L = 0; c.L < LMF_NN_MAX_LAYERS; c.L++) {
                snprintf(nm, sizeof nm, "rnn.weight_ih_l%d", c.L);
                if (!lmf_st_find(st, nm)) break;
            }
            if (c.L == 0) s = lmf_error(LMF_ERR_FORMAT, "%s: tensor \"rnn.weight_ih_l0\" is missing " NET_FIX, path);
            if (!s && c.tied && c.E != c.H)
                s = lmf_error(LMF_ERR_FORMAT, "%s: no \"decoder.weight\", and the embedding (%d) cannot be tied to hidden "
                              "size %d " NET_FIX, path, c.E, c.H);
        }
    }
    if (!s) s = lmf_head_read_classes(st, path, c.V, start, cls, &c.C);
    c.start = *start;
    c.cls = *cls;
    if (!s) s = lmf_net_new(&c, 1, top_only, out);
    if (!s) s = (*out)->ops->load_tensors(*out, st, path); /* every tensor's shape checked */
    if (s) {
        if (*out) (*out)->ops->free(*out);
        *out = NULL;
        lmf_vocab_free(*vocab);
        lmf_free(*start);
        lmf_free(*cls);
        *vocab = NULL;
        *start = *cls = NULL;
    }
    return s;
}
