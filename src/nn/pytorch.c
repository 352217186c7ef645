/* PyTorch state dicts in and out (include/lmf/nn.h): tensor names,
 * the architecture from the gate count, the token list and the row
 * permutation it implies, tied output layers. */
#define _POSIX_C_SOURCE 200809L
#include "lmf/io.h"
#include "lmf/nn.h"
#include "../core/util_impl.h"
#include "nn_impl.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#define BAD(...) lmf_error(LMF_ERR_FORMAT, __VA_ARGS__)

void lmf_nn_import_opts_init(lmf_nn_import_opts *o) {
    o->vocab_path = NULL;
    o->heads = 0;
}

/* ---- the token list ---- */

typedef struct span {
    size_t off, len;
} span;

/* One token of the list at `line` (1-based): the rules of lmf/nn.h. */
static lmf_status check_token(const char *path, size_t line, const char *tok, size_t len) {
    if (!len)
        return BAD("%s:%zu: empty line; the token list has one token per line (delete the line, or give the "
                   "token it stands for)",
                   path, line);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)tok[i];
        if (!c)
            return BAD("%s:%zu: byte %zu of the token is NUL, which no token can contain (a model file stores "
                       "tokens as text); remove it",
                       path, line, i + 1);
        if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f')
            return BAD("%s:%zu: byte %zu of the token is whitespace (0x%02x); word models split text there, so "
                       "no text could give this token: remove it or replace it (e.g. by '_')",
                       path, line, i + 1, c);
    }
    size_t bl, bc;
    if (!lmf_utf8_valid(tok, len, &bl, &bc))
        return BAD("%s:%zu: the token is not valid UTF-8 (byte %zu); convert the list to UTF-8 (e.g. iconv -f "
                   "latin1 -t utf-8)",
                   path, line, bc);
    if (len == 3 && !memcmp(tok, "<s>", 3))
        return BAD("%s:%zu: \"<s>\" is reserved for the beginning-of-line context, which lmfuse never predicts; "
                   "rename the token",
                   path, line);
    return LMF_OK;
}

/* Reads the token list into fb and n spans (lmf_free *sp), every token
 * checked. */
static lmf_status read_token_list(const char *path, lmf_filebuf *fb, span **sp, size_t *n) {
    *sp = NULL;
    *n = 0;
    lmf_status s = lmf_file_read(path, fb);
    if (s) return s;
    const char *d = fb->data;
    size_t count = 0;
    for (size_t i = 0; i < fb->size; i++) count += d[i] == '\n';
    if (fb->size && d[fb->size - 1] != '\n') count++;
    span *t = (span *)lmf_malloc((count ? count : 1) * sizeof *t);
    if (!t) return lmf_error(LMF_ERR_NOMEM, "%s: out of memory for %zu tokens", path, count);
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= fb->size && k < count; i++) {
        if (i < fb->size && d[i] != '\n') continue;
        size_t len = i - start;
        if (len && d[start + len - 1] == '\r') len--;
        t[k].off = start;
        t[k].len = len;
        if ((s = check_token(path, k + 1, d + start, len))) {
            lmf_free(t);
            return s;
        }
        k++;
        start = i + 1;
    }
    *sp = t;
    *n = k;
    return LMF_OK;
}

static int span_is(const lmf_filebuf *fb, span t, const char *w) {
    return t.len == strlen(w) && !memcmp(fb->data + t.off, w, t.len);
}

/* The lmfuse order of the V listed tokens: order[id] = line - 1, with
 * <unk> and </s> (or <eos>) first; *json = lmfuse.vocab (cJSON_free). */
static lmf_status token_order(const char *path, const lmf_filebuf *fb, const span *t, int32_t V, int32_t *order,
                              char **json) {
    *json = NULL;
    int32_t unk = -1, eos = -1, eos2 = -1; /* </s>, else <eos> (then an ordinary word) */
    for (int32_t i = 0; i < V; i++) {
        if (unk < 0 && span_is(fb, t[i], "<unk>")) unk = i;
        if (eos < 0 && span_is(fb, t[i], "</s>")) eos = i;
        if (eos2 < 0 && span_is(fb, t[i], "<eos>")) eos2 = i;
    }
    if (eos < 0) eos = eos2;
    if (unk < 0 || eos < 0)
        return BAD("%s: the token list needs <unk> and </s> (or <eos>): add the tokens the model predicts for "
                   "unknown words and for the end of a line",
                   path);
    order[0] = unk;
    order[1] = eos;
    for (int32_t i = 0, k = 2; i < V; i++)
        if (i != unk && i != eos) order[k++] = i;
    /* the vocabulary finds repeats (and "</s>" after "<eos>") and gives the JSON */
    lmf_vocab *v = lmf_vocab_new(LMF_TOK_WORD);
    lmf_status s = v ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int32_t id = 2; id < V && !s; id++) {
        span w = t[order[id]];
        /* a second spelling of the end of line is a repeat too */
        int32_t got = eos == eos2 && span_is(fb, w, "<eos>") ? LMF_EOS : lmf_vocab_add(v, fb->data + w.off, w.len);
        if (got < 0)
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else if (got != id)
            s = BAD("%s:%d: the token repeats line %d; every token must appear once: remove one", path,
                    order[id] + 1, order[got] + 1);
    }
    if (!s) {
        *json = lmf_vocab_json(v);
        if (!*json) s = LMF_ERR_NOMEM;
    }
    lmf_vocab_free(v);
    return s;
}

/* ---- import ---- */

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

typedef struct pt_in {
    const char *path;
    const lmf_safetensors *st;
    const lmf_st_tensor *emb, *dec;
    int is_tf, tied;
    const char *arch;
    const char *prefix; /* name of the recurrent weight_hh_l0 tensor; plen bytes of it are the prefix */
    size_t plen;
    int64_t V;
} pt_in;

/* prefix + weight_ih_l<k>, weight_hh_l<k>, bias_ih_l<k> or bias_hh_l<k>:
 * the part after the prefix, else NULL. */
static const char *recurrent_part(const pt_in *p, const char *nm) {
    if (!p->prefix || strncmp(nm, p->prefix, p->plen)) return NULL;
    const char *r = nm + p->plen;
    static const char *const kinds[] = {"weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l"};
    for (int i = 0; i < 4; i++) {
        size_t k = strlen(kinds[i]);
        if (strncmp(r, kinds[i], k)) continue;
        const char *q = r + k;
        if (*q < '0' || *q > '9') return NULL;
        while (*q >= '0' && *q <= '9') q++;
        return *q ? NULL : r;
    }
    return NULL;
}

/* Finds the embedding, the architecture and the output layer. */
static lmf_status analyse(pt_in *p) {
    const lmf_safetensors *st = p->st;
    p->is_tf = lmf_st_find(st, "tok_emb.weight") != NULL;
    p->emb = lmf_st_find(st, "encoder.weight");
    if (!p->emb) p->emb = lmf_st_find(st, "embedding.weight");
    if (!p->emb) p->emb = lmf_st_find(st, "tok_emb.weight");
    if (p->is_tf) p->emb = lmf_st_find(st, "tok_emb.weight");
    if (!p->emb)
        return BAD("%s: no embedding (encoder.weight, embedding.weight or tok_emb.weight); is this a PyTorch "
                   "state dict of a word model?",
                   p->path);
    if (p->emb->ndim != 2 || p->emb->shape[0] < 2 || p->emb->shape[0] >= INT32_MAX || p->emb->shape[1] < 1)
        return BAD("%s: the embedding \"%s\" is not [V, E] with 2 <= V < 2^31 and E >= 1", p->path, p->emb->name);
    p->V = p->emb->shape[0];
    if (!p->is_tf) {
        const lmf_st_tensor *hh = NULL;
        for (size_t i = 0; i < lmf_st_count(st); i++) {
            const lmf_st_tensor *t = lmf_st_at(st, i);
            if (!ends_with(t->name, "weight_hh_l0")) continue;
            if (hh)
                return BAD("%s: two recurrent modules (\"%s\" and \"%s\"); lmfuse reads a state dict with one "
                           "nn.RNN, nn.LSTM or nn.GRU",
                           p->path, hh->name, t->name);
            hh = t;
        }
        int64_t G = hh && hh->ndim == 2 && hh->shape[1] > 0 && hh->shape[0] % hh->shape[1] == 0
                        ? hh->shape[0] / hh->shape[1]
                        : 0;
        p->arch = G == 1 ? "rnn" : G == 4 ? "lstm" : G == 3 ? "gru" : NULL;
        if (!p->arch)
            return BAD("%s: no nn.RNN/LSTM/GRU weights (*weight_hh_l0 of shape [G*H, H] with G = 1, 3 or 4)",
                       p->path);
        p->prefix = hh->name;
        p->plen = strlen(hh->name) - strlen("weight_hh_l0");
    }
    p->dec = lmf_st_find(st, p->is_tf ? "head.weight" : "decoder.weight");
    if (!p->dec && !p->is_tf) p->dec = lmf_st_find(st, "fc.weight");
    const lmf_st_tensor *e = p->emb, *d = p->dec;
    p->tied = !d || (d->dtype == e->dtype && d->ndim == e->ndim && d->nbytes == e->nbytes &&
                     !memcmp(d->shape, e->shape, sizeof e->shape) && !memcmp(d->data, e->data, (size_t)e->nbytes));
    return LMF_OK;
}

/* The lmfuse name of tensor t, written to buf (cap bytes) when it fits;
 * returns its length, or -1 when the tensor is left out. */
static int out_name(const pt_in *p, const lmf_st_tensor *t, char *buf, size_t cap) {
    const char *nm = t->name, *r;
    if (!strncmp(nm, "train.", 6)) return -1;
    if (t->dtype != LMF_DT_F32 && t->dtype != LMF_DT_F16 && t->dtype != LMF_DT_BF16 && t->dtype != LMF_DT_F64)
        return -1;
    if (t->ndim < 1 || t->ndim > 2) return -1;
    const char *pre = "";
    if (t == p->emb) {
        nm = p->is_tf ? "tok_emb.weight" : "encoder.weight";
    } else if (t == p->dec) {
        if (p->tied) return -1;
        nm = p->is_tf ? "head.weight" : "decoder.weight";
    } else if (!p->is_tf && !strcmp(nm, "fc.bias")) {
        nm = "decoder.bias";
    } else if (!p->is_tf && (r = recurrent_part(p, nm))) {
        pre = "rnn.";
        nm = r;
    }
    int n = snprintf(buf, cap, "%s%s", pre, nm);
    return n < 0 ? -1 : n;
}

/* Whether the rows of an output tensor are indexed by token. */
static int by_token(const pt_in *p, const lmf_st_tensor *t, const char *nm) {
    return t->shape[0] == p->V &&
           (t == p->emb || t == p->dec || !strcmp(nm, "decoder.bias") || !strcmp(nm, "head.bias"));
}

/* lmf_last_error() with `from` replaced by `to` (the temporary file's name
 * by the one the caller asked for). */
static lmf_status rename_in_error(lmf_status s, const char *from, const char *to) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", lmf_last_error());
    char *at = strstr(msg, from);
    if (!at) return lmf_error(s, "%s: the converted model does not load: %s", to, msg);
    *at = 0;
    return lmf_error(s, "%s%s%s", msg, to, at + strlen(from));
}

typedef struct import_job {
    pt_in in;
    lmf_safetensors *st;
    lmf_filebuf fb;
    span *toks;
    int32_t *order;
    char *vjson;      /* cJSON_free */
    float *block;     /* every output tensor, converted */
    float *scratch;   /* a by-token tensor before permutation */
    char *names;      /* every output name, NUL-separated */
    lmf_st_writer *w;
} import_job;

static void import_job_free(import_job *j) {
    lmf_st_close(j->st);
    lmf_filebuf_free(&j->fb);
    lmf_free(j->toks);
    lmf_free(j->order);
    cJSON_free(j->vjson);
    lmf_free(j->block);
    lmf_free(j->scratch);
    lmf_free(j->names);
    lmf_st_writer_free(j->w);
}

/* The converted file must load as a model (which copies the weights), read
 * from its temporary name before it replaces the output. */
typedef struct load_check {
    const char *out_path;
    lmf_model *m;
} load_check;

static lmf_status check_loads(const char *tmp_path, void *user) {
    load_check *c = (load_check *)user;
    lmf_status s = lmf_nn_load(tmp_path, &c->m);
    return s ? rename_in_error(s, tmp_path, c->out_path) : LMF_OK;
}

/* The vocabulary: the token list or the file's own. */
static lmf_status import_vocab(import_job *j, const char *vocab_path) {
    pt_in *p = &j->in;
    if (vocab_path) {
        size_t n;
        lmf_status s = read_token_list(vocab_path, &j->fb, &j->toks, &n);
        if (s) return s;
        if ((int64_t)n != p->V)
            return BAD("%s lists %zu tokens but the embedding of %s has %lld rows; give the list of this model's "
                       "tokens, one per line in id order",
                       vocab_path, n, p->path, (long long)p->V);
        j->order = (int32_t *)lmf_malloc((size_t)p->V * sizeof *j->order);
        if (!j->order) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        return token_order(vocab_path, &j->fb, j->toks, (int32_t)p->V, j->order, &j->vjson);
    }
    if (!lmf_st_meta(j->st, "lmfuse.vocab"))
        return lmf_error(LMF_ERR_ARG, "%s has no lmfuse.vocab metadata: give the tokens with --vocab FILE", p->path);
    lmf_vocab *v;
    lmf_status s = lmf_nn_load_vocab(j->st, p->path, &v);
    if (s) return s;
    int32_t V = lmf_vocab_size(v);
    lmf_vocab_free(v);
    if (V != p->V)
        return BAD("%s: lmfuse.vocab has %d tokens but the embedding \"%s\" has %lld rows", p->path, V,
                   p->emb->name, (long long)p->V);
    return LMF_OK;
}

/* Sizes first, then one block of floats and one of names; fills the writer. */
static lmf_status import_tensors(import_job *j) {
    const pt_in *p = &j->in;
    size_t nt = lmf_st_count(j->st), floats = 0, name_bytes = 0, scratch = 0;
    for (size_t i = 0; i < nt; i++) {
        const lmf_st_tensor *t = lmf_st_at(j->st, i);
        char nm[64];
        int n = out_name(p, t, nm, sizeof nm);
        if (n < 0) continue;
        floats += (size_t)t->numel;
        name_bytes += (size_t)n + 1;
        if (j->order && by_token(p, t, nm) && (size_t)t->numel > scratch) scratch = (size_t)t->numel;
    }
    j->block = (float *)lmf_malloc((floats ? floats : 1) * sizeof(float));
    j->names = (char *)lmf_malloc(name_bytes ? name_bytes : 1);
    j->scratch = scratch ? (float *)lmf_malloc(scratch * sizeof(float)) : NULL;
    if (!j->block || !j->names || (scratch && !j->scratch))
        return lmf_error(LMF_ERR_NOMEM, "%s: out of memory for %zu parameters", p->path, floats);
    float *f = j->block;
    char *nm = j->names;
    lmf_status s = LMF_OK;
    for (size_t i = 0; i < nt && !s; i++) {
        const lmf_st_tensor *t = lmf_st_at(j->st, i);
        int n = out_name(p, t, nm, (size_t)(j->names + name_bytes - nm));
        if (n < 0) continue;
        int perm = j->order && by_token(p, t, nm);
        s = lmf_st_to_f32(t, perm ? j->scratch : f);
        if (!s && perm) {
            size_t row = t->ndim == 2 ? (size_t)t->shape[1] : 1;
            for (int64_t r = 0; r < p->V; r++)
                memcpy(f + (size_t)r * row, j->scratch + (size_t)j->order[r] * row, row * sizeof(float));
        }
        if (!s && (s = lmf_st_add(j->w, nm, LMF_DT_F32, t->ndim, t->shape, f)) == LMF_ERR_ARG)
            s = BAD("%s: tensor \"%s\" becomes \"%s\", which another tensor of the state dict becomes too "
                    "(e.g. decoder.bias and fc.bias); remove one",
                    p->path, t->name, nm);
        f += (size_t)t->numel;
        nm += n + 1;
    }
    return s;
}

static lmf_status import_meta(import_job *j, const lmf_nn_import_opts *o) {
    const pt_in *p = &j->in;
    lmf_st_writer *w = j->w;
    lmf_status s = lmf_st_set_meta(w, "lmfuse.arch", p->is_tf ? "transformer" : p->arch);
    if (!s) s = lmf_st_set_meta(w, "lmfuse.vocab", j->vjson ? j->vjson : lmf_st_meta(j->st, "lmfuse.vocab"));
    const char *mode = lmf_st_meta(j->st, "lmfuse.token_mode"), *classes = lmf_st_meta(j->st, "lmfuse.classes");
    if (!s && mode && !o->vocab_path) s = lmf_st_set_meta(w, "lmfuse.token_mode", mode); /* the file's own tokens */
    if (!s && classes) { /* class ranges are ranges of lmfuse ids: they hold while the order does */
        for (int64_t i = 0; j->order && i < p->V; i++)
            if (j->order[i] != i)
                return BAD("%s: the output classes (lmfuse.classes) are ranges of token ids, which the token list "
                           "%s reorders (<unk> and </s> must be its first two lines); convert without --vocab",
                           p->path, o->vocab_path);
        s = lmf_st_set_meta(w, "lmfuse.classes", classes);
    }
    if (!s && p->is_tf) {
        char hb[24];
        const char *h = lmf_st_meta(j->st, "lmfuse.heads");
        if (o->heads > 0) snprintf(hb, sizeof hb, "%d", o->heads), h = hb;
        if (!h)
            return lmf_error(LMF_ERR_ARG, "%s: a Transformer needs its number of attention heads, which the state "
                                          "dict does not say: give it (lmfuse convert --heads N)",
                             p->path);
        s = lmf_st_set_meta(w, "lmfuse.heads", h);
    }
    if (!s) s = lmf_st_set_meta(w, "lmfuse.converted_from", "pytorch");
    return s;
}

lmf_status lmf_nn_import_pytorch(const char *state_dict, const lmf_nn_import_opts *opts, const char *out_path,
                                 lmf_model **model) {
    if (model) *model = NULL;
    lmf_nn_import_opts def;
    if (!opts) {
        lmf_nn_import_opts_init(&def);
        opts = &def;
    }
    if (opts->heads < 0) return lmf_error(LMF_ERR_ARG, "the number of attention heads must be positive (0: the file's)");
    import_job j;
    memset(&j, 0, sizeof j);
    j.in.path = state_dict;
    lmf_status s = lmf_st_open(state_dict, &j.st);
    if (!s) {
        j.in.st = j.st;
        s = analyse(&j.in);
    }
    if (!s) s = import_vocab(&j, opts->vocab_path);
    if (!s && !(j.w = lmf_st_writer_new())) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) s = import_tensors(&j);
    if (!s) s = import_meta(&j, opts);
    load_check lc = {out_path, NULL};
    if (!s) s = lmf_st_write_checked(j.w, out_path, check_loads, &lc);
    lmf_model *m = lc.m;
    if (s) {
        lmf_model_free(m);
        m = NULL;
    }
    import_job_free(&j);
    if (model) *model = m;
    else lmf_model_free(m);
    return s;
}

/* ---- export ---- */

lmf_status lmf_nn_export_pytorch(const char *model_path, const char *out_path, const char *tokens_path) {
    lmf_model *m;
    lmf_status s = lmf_nn_load(model_path, &m); /* a complete model; gives the tokens */
    if (s) return s;
    const lmf_vocab *v = lmf_model_vocab(m);
    int32_t V = lmf_vocab_size(v);
    for (int32_t i = 0; tokens_path && i < V && !s; i++) {
        size_t l;
        const char *w = lmf_vocab_word(v, i, &l);
        if (memchr(w, '\n', l) || memchr(w, '\r', l))
            s = lmf_error(LMF_ERR_UNSUPPORTED,
                          "%s: token %d contains a line break, which a list of one token per line cannot hold; "
                          "convert without the token list (the state dict's lmfuse.vocab has every token)",
                          model_path, i);
    }
    lmf_safetensors *st = NULL;
    if (!s) s = lmf_st_open(model_path, &st);
    lmf_st_writer *w = s ? NULL : lmf_st_writer_new();
    if (!s && !w) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    const char *arch = st ? lmf_st_meta(st, "lmfuse.arch") : NULL;
    int is_tf = arch && !strcmp(arch, "transformer");
    const char *emb = is_tf ? "tok_emb.weight" : "encoder.weight", *dec = is_tf ? "head.weight" : "decoder.weight";
    for (size_t i = 0; !s && i < lmf_st_count(st); i++) {
        const lmf_st_tensor *t = lmf_st_at(st, i);
        if (!strncmp(t->name, "train.", 6)) continue;
        s = lmf_st_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
        if (!s && !strcmp(t->name, emb) && !lmf_st_find(st, dec)) /* tied: PyTorch's state dict has both */
            s = lmf_st_add(w, dec, t->dtype, t->ndim, t->shape, t->data);
    }
    static const char *const keys[] = {"lmfuse.arch", "lmfuse.vocab", "lmfuse.heads", "lmfuse.token_mode",
                                       "lmfuse.classes"};
    for (int i = 0; i < 5 && !s; i++)
        if (lmf_st_meta(st, keys[i])) s = lmf_st_set_meta(w, keys[i], lmf_st_meta(st, keys[i]));
    if (!s) s = lmf_st_set_meta(w, "format", "pt");
    lmf_outfile of; /* the token list, committed once the state dict is written */
    int list_open = 0;
    if (!s && tokens_path && !(s = lmf_outfile_open(&of, tokens_path))) {
        list_open = 1;
        for (int32_t i = 0; i < V; i++) {
            size_t l;
            const char *tok = lmf_vocab_word(v, i, &l);
            fwrite(tok, 1, l, of.fp);
            fputc('\n', of.fp);
        }
    }
    if (!s) s = lmf_st_write(w, out_path);
    if (list_open) {
        if (!s) s = lmf_outfile_commit(&of);
        else lmf_outfile_abort(&of);
    }
    lmf_st_writer_free(w);
    lmf_st_close(st);
    lmf_model_free(m);
    return s;
}
