/* Model interface dispatch and generic fallbacks. */
#define _POSIX_C_SOURCE 200809L /* stat */
#include "model_impl.h"
#include "lmf/ngram.h"
#include "lmf/nn.h"
#include "lmf/fuse.h"
#include "../core/util_impl.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

void lmf_model_free(lmf_model *m) {
    if (m) m->ops->free(m);
}

const char *lmf_model_kind(const lmf_model *m) { return m->ops->kind; }
const lmf_vocab *lmf_model_vocab(const lmf_model *m) { return m->vocab; }

void lmf_model_describe(const lmf_model *m, char *buf, size_t n) {
    if (m->ops->describe)
        m->ops->describe(m, buf, n);
    else
        snprintf(buf, n, "%s model, %d tokens", m->ops->kind, (int)lmf_vocab_size(m->vocab));
}

lmf_state *lmf_state_new(const lmf_model *m) { return m->ops->state_new(m); }
void lmf_state_free(const lmf_model *m, lmf_state *s) {
    if (s) m->ops->state_free(m, s);
}
void lmf_state_reset(const lmf_model *m, lmf_state *s) { m->ops->state_reset(m, s); }
lmf_status lmf_state_copy(const lmf_model *m, lmf_state *dst, const lmf_state *src) {
    return m->ops->state_copy(m, dst, src);
}

static lmf_status check_tok(const lmf_model *m, int32_t tok) {
    if (tok < 0 || tok >= lmf_vocab_size(m->vocab))
        return lmf_error(LMF_ERR_ARG, "token id %d out of range 0..%d", (int)tok, (int)lmf_vocab_size(m->vocab) - 1);
    return LMF_OK;
}

lmf_status lmf_model_feed(lmf_model *m, lmf_state *s, int32_t tok) {
    lmf_status st = check_tok(m, tok);
    return st ? st : m->ops->feed(m, s, tok);
}

lmf_status lmf_model_next(lmf_model *m, const lmf_state *s, float *logp) { return m->ops->next(m, s, logp); }

lmf_status lmf_model_score(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *logp) {
    for (size_t i = 0; i < n; i++) {
        lmf_status st = check_tok(m, tok[i]);
        if (st) return st;
    }
    lmf_state *own = NULL;
    if (!s) {
        own = s = lmf_state_new(m);
        if (!s) return lmf_error(LMF_ERR_NOMEM, "out of memory (model state)");
    }
    lmf_status st = LMF_OK;
    if (m->ops->score) {
        st = m->ops->score(m, s, tok, n, logp);
    } else {
        int32_t V = lmf_vocab_size(m->vocab);
        float *d = (float *)lmf_malloc((size_t)V * sizeof *d);
        if (!d) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n && !st; i++) {
            st = m->ops->next(m, s, d);
            if (!st) {
                logp[i] = d[tok[i]];
                st = m->ops->feed(m, s, tok[i]);
            }
        }
        lmf_free(d);
    }
    lmf_state_free(m, own);
    return st;
}

int lmf_model_hidden_dim(const lmf_model *m) { return m->ops->hidden_dim ? m->ops->hidden_dim(m) : 0; }

lmf_status lmf_model_hidden(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *h) {
    if (!m->ops->hidden) return lmf_error(LMF_ERR_ARG, "a %s model has no hidden states", m->ops->kind);
    for (size_t i = 0; i < n; i++) {
        lmf_status st = check_tok(m, tok[i]);
        if (st) return st;
    }
    return m->ops->hidden(m, s, tok, n, h);
}

lmf_status lmf_model_score_batch(lmf_model *m, lmf_state **st, const int32_t *const *tok, const size_t *n,
                                 size_t nstreams, float *const *logp) {
    if (m->ops->score_batch) return m->ops->score_batch(m, st, tok, n, nstreams, logp);
    for (size_t b = 0; b < nstreams; b++) {
        lmf_status s = lmf_model_score(m, st ? st[b] : NULL, tok[b], n[b], logp[b]);
        if (s) return s;
    }
    return LMF_OK;
}

lmf_status lmf_model_dists(lmf_model *m, lmf_state *s, const int32_t *tok, size_t n, float *out) {
    for (size_t i = 0; i < n; i++) {
        lmf_status st = check_tok(m, tok[i]);
        if (st) return st;
    }
    if (m->ops->dists) return m->ops->dists(m, s, tok, n, out);
    size_t V = (size_t)lmf_vocab_size(m->vocab);
    for (size_t i = 0; i < n; i++) {
        lmf_status st = m->ops->next(m, s, out + i * V);
        if (!st) st = m->ops->feed(m, s, tok[i]);
        if (st) return st;
    }
    return LMF_OK;
}

static const char *file_kind(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO (pipe)";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

lmf_status lmf_model_load(const char *path, lmf_model **out) {
    *out = NULL;
    /* Only regular files: a device like /dev/zero never ends, and the bytes
     * sniffed from a pipe would be gone when the reader opens it again. */
    struct stat st;
    if (stat(path, &st) != 0) return lmf_error(LMF_ERR_IO, "%s: cannot open model file: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return lmf_error(LMF_ERR_IO,
                         "%s: is %s, not a model file; models are read from regular files (save it to one first)", path,
                         file_kind(st.st_mode));
    FILE *fp = fopen(path, "rb");
    if (!fp) return lmf_error(LMF_ERR_IO, "%s: cannot open model file: %s", path, strerror(errno));
    unsigned char head[16] = {0};
    size_t got = fread(head, 1, sizeof head, fp);
    fclose(fp);
    lmf_ngram *ng = NULL;
    lmf_status s;
    if (got == 0)
        return lmf_error(LMF_ERR_FORMAT,
                         "%s: the file is empty; expected a model (ARPA, .lmfb, .safetensors or a recipe)", path);
    int text = !memchr(head, 0, got); /* JSON and ARPA have no NUL bytes */
    size_t sp = 0;                    /* first non-blank byte */
    while (sp < got && (head[sp] == ' ' || head[sp] == '\n' || head[sp] == '\t' || head[sp] == '\r')) sp++;
    int json = text && sp < got && (head[sp] == '{' || head[sp] == '[');
    int gzip = got >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    int lmfb = got >= 8 && !memcmp(head, LMF_NGRAM_MAGIC, 8);
    int ctl = 0; /* a control byte among the first 8: binary, not text with '{' at byte 8 */
    for (size_t i = 0; i < 8 && i < got; i++)
        ctl |= head[i] < 0x20 && head[i] != '\t' && head[i] != '\n' && head[i] != '\r';
    if (!gzip && !lmfb && ctl && got >= 9 && head[8] == '{') {
        /* safetensors: an 8-byte little-endian header length, then the JSON header */
        uint64_t hl = 0, room = (uint64_t)st.st_size - 8;
        for (int i = 7; i >= 0; i--) hl = (hl << 8) | head[i];
        if (hl < 2 || hl > room)
            return lmf_error(LMF_ERR_FORMAT,
                             "%s: looks like a safetensors file (a JSON header at byte 8), but its header length "
                             "field says %llu bytes where the file has %llu after it; the file is truncated or "
                             "damaged: write it again",
                             path, (unsigned long long)hl, (unsigned long long)room);
        return lmf_nn_load(path, out);
    }
    if (json && head[sp] == '[')
        return lmf_error(LMF_ERR_FORMAT,
                         "%s: is a JSON array, but a recipe is a JSON object: {\"lmfuse\": \"recipe\", \"combiner\": "
                         "\"linear\", \"members\": [\"a.arpa\", ...]} (see `lmfuse help recipe`)",
                         path);
    if (json) return lmf_recipe_load(path, out);
    if (lmfb) {
        s = lmf_ngram_load_binary(path, NULL, &ng);
    } else if (gzip || text) { /* ARPA, plain or gzip-compressed */
        s = lmf_ngram_read_arpa(path, NULL, &ng);
    } else {
        char hex[3 * 8 + 1];
        for (size_t i = 0; i < 8 && i < got; i++) snprintf(hex + 3 * i, 4, " %02x", head[i]);
        return lmf_error(LMF_ERR_FORMAT,
                         "%s: binary data that is no model lmfuse reads (it starts with bytes%s); expected ARPA text "
                         "(\\data\\ ...), an lmfuse n-gram binary (magic %s), a safetensors file or a JSON recipe",
                         path, hex, LMF_NGRAM_MAGIC);
    }
    if (s) return s;
    *out = lmf_ngram_model(ng);
    return LMF_OK;
}
