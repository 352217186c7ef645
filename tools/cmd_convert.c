#define _POSIX_C_SOURCE 200809L
/* lmfuse convert --from pytorch | --to pytorch: neural models between
 * PyTorch state dicts (safetensors) and lmfuse's files. */
#include "cli.h"
#include "lmf/io.h"
#include "lmf/model.h"

#include <stdlib.h>
#include <string.h>

static void help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse convert --from pytorch STATE_DICT.safetensors --vocab TOKENS.txt [--heads N] -o MODEL\n"
            "       lmfuse convert --to pytorch MODEL.safetensors -o STATE_DICT.safetensors\n"
            "\n"
            "--from pytorch reads a state dict saved with safetensors.torch.save_file:\n"
            "  recurrent: encoder.weight (or embedding.weight), <prefix>.weight_ih_l{k},\n"
            "    weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} of nn.RNN/LSTM/GRU (the gate\n"
            "    count tells which), decoder.weight (left out or equal to the embedding:\n"
            "    tied) and decoder.bias;\n"
            "  transformer: the layout of include/lmf/nn.h (tok_emb.weight, blocks.{l}...),\n"
            "    with --heads.\n"
            "TOKENS.txt lists the model's tokens one per line in id order; it must contain\n"
            "<unk> and </s> (or <eos>), which lmfuse moves to ids 0 and 1 (the embedding\n"
            "and output rows are permuted to match).  A file that already carries lmfuse\n"
            "metadata needs no --vocab.\n"
            "--to pytorch writes every tensor under its PyTorch name (decoder.weight or\n"
            "head.weight included when tied, as load_state_dict expects) and the tokens\n"
            "to STATE_DICT.vocab.txt.\n");
}

typedef struct outt {
    char *name;
    int ndim;
    int64_t shape[2];
    float *data;
} outt;

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Reads TOKENS.txt: returns the count, fills *toks (one allocation of
 * pointers into *buf). */
static int read_tokens(const char *path, char **buf, char ***toks) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    *buf = (char *)malloc((size_t)n + 1);
    if (!*buf || fread(*buf, 1, (size_t)n, fp) != (size_t)n) {
        fclose(fp);
        return -1;
    }
    fclose(fp);
    (*buf)[n] = 0;
    int count = 0;
    for (long i = 0; i < n; i++) count += (*buf)[i] == '\n';
    if (n && (*buf)[n - 1] != '\n') count++;
    *toks = (char **)malloc((size_t)(count + 1) * sizeof(char *));
    int k = 0;
    for (char *p = *buf; *p && k < count;) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r') p[l - 1] = 0;
        (*toks)[k++] = p;
        if (!e) break;
        p = e + 1;
    }
    return k;
}

static char *json_vocab(char **toks, const int *order, int V) {
    size_t cap = 64;
    for (int i = 0; i < V; i++) cap += 2 * strlen(toks[order[i]]) + 8;
    char *s = (char *)malloc(cap), *p = s;
    if (!s) return NULL;
    *p++ = '[';
    for (int i = 0; i < V; i++) {
        const char *t = i == 0 ? "<unk>" : i == 1 ? "</s>" : toks[order[i]];
        if (i) *p++ = ',';
        *p++ = '"';
        for (const char *c = t; *c; c++) {
            if (*c == '"' || *c == '\\') *p++ = '\\';
            if ((unsigned char)*c < 0x20) {
                p += sprintf(p, "\\u%04x", *c);
                continue;
            }
            *p++ = *c;
        }
        *p++ = '"';
    }
    *p++ = ']';
    *p = 0;
    return s;
}

static int from_pytorch(const char *in, const char *vocab_path, const char *heads, const char *out) {
    lmf_safetensors *st;
    if (lmf_st_open(in, &st)) return cli_fail();
    int rc = 1;
    size_t nt = lmf_st_count(st);
    const lmf_st_tensor *emb = lmf_st_find(st, "encoder.weight");
    if (!emb) emb = lmf_st_find(st, "embedding.weight");
    if (!emb) emb = lmf_st_find(st, "tok_emb.weight");
    int is_tf = lmf_st_find(st, "tok_emb.weight") != NULL;
    const char *have_vocab = lmf_st_meta(st, "lmfuse.vocab");
    char *vbuf = NULL, **toks = NULL, *vjson = NULL;
    int *order = NULL;
    outt *o = (outt *)calloc(nt + 1, sizeof *o);
    lmf_st_writer *w = lmf_st_writer_new();
    const char *arch = NULL;
    char prefix[256] = "";
    if (!emb || emb->ndim != 2) {
        fprintf(stderr, "lmfuse convert: %s: no embedding (encoder.weight, embedding.weight or tok_emb.weight)\n", in);
        goto done;
    }
    int64_t V = emb->shape[0];
    if (!is_tf) { /* find the recurrent module's prefix and gate count */
        for (size_t i = 0; i < nt; i++) {
            const lmf_st_tensor *t = lmf_st_at(st, i);
            if (ends_with(t->name, "weight_hh_l0") && t->ndim == 2 && t->shape[1] > 0) {
                size_t pl = strlen(t->name) - strlen("weight_hh_l0");
                if (pl >= sizeof prefix) break;
                memcpy(prefix, t->name, pl);
                prefix[pl] = 0;
                int64_t G = t->shape[0] / t->shape[1];
                arch = G == 1 ? "rnn" : G == 4 ? "lstm" : G == 3 ? "gru" : NULL;
                if (t->shape[0] % t->shape[1]) arch = NULL;
            }
        }
        if (!arch) {
            fprintf(stderr, "lmfuse convert: %s: no nn.RNN/LSTM/GRU weights (*weight_hh_l0 of shape [G*H, H])\n", in);
            goto done;
        }
    }
    /* vocabulary: id order of the PyTorch model -> lmfuse order */
    order = (int *)malloc((size_t)V * sizeof(int));
    if (!o || !w || !order) {
        fprintf(stderr, "lmfuse convert: out of memory\n");
        goto done;
    }
    if (vocab_path) {
        int n = read_tokens(vocab_path, &vbuf, &toks);
        if (n < 0) {
            fprintf(stderr, "lmfuse convert: %s: cannot read the token list\n", vocab_path);
            goto done;
        }
        if (n != V) {
            fprintf(stderr, "lmfuse convert: %s lists %d tokens but the embedding of %s has %lld rows\n", vocab_path, n,
                    in, (long long)V);
            goto done;
        }
        int unk = -1, eos = -1;
        for (int i = 0; i < n; i++) {
            if (!strcmp(toks[i], "<unk>") && unk < 0) unk = i;
            if ((!strcmp(toks[i], "</s>") || !strcmp(toks[i], "<eos>")) && eos < 0) eos = i;
            if (!toks[i][0] || strchr(toks[i], ' ') || strchr(toks[i], '\t')) {
                fprintf(stderr, "lmfuse convert: %s:%d: a token is empty or contains whitespace\n", vocab_path, i + 1);
                goto done;
            }
        }
        if (unk < 0 || eos < 0) {
            fprintf(stderr, "lmfuse convert: %s: the token list needs <unk> and </s> (or <eos>)\n", vocab_path);
            goto done;
        }
        order[0] = unk, order[1] = eos;
        int k = 2;
        for (int i = 0; i < n; i++)
            if (i != unk && i != eos) order[k++] = i;
        vjson = json_vocab(toks, order, (int)V);
    } else if (have_vocab) {
        for (int64_t i = 0; i < V; i++) order[i] = (int)i;
    } else {
        fprintf(stderr, "lmfuse convert: %s has no lmfuse.vocab metadata: give the tokens with --vocab FILE\n", in);
        goto done;
    }
    /* tensors, renamed and row-permuted where they are indexed by token */
    const lmf_st_tensor *dec = lmf_st_find(st, is_tf ? "head.weight" : "decoder.weight");
    if (!dec && !is_tf) dec = lmf_st_find(st, "fc.weight");
    int tied = !dec || (dec->nbytes == emb->nbytes && dec->dtype == emb->dtype &&
                        !memcmp(dec->data, emb->data, (size_t)emb->nbytes));
    size_t k = 0;
    for (size_t i = 0; i < nt; i++) {
        const lmf_st_tensor *t = lmf_st_at(st, i);
        const char *nm = t->name;
        char buf[300];
        if (!strncmp(nm, "train.", 6)) continue;
        if (t == emb) nm = is_tf ? "tok_emb.weight" : "encoder.weight";
        else if (t == dec) {
            if (tied) continue;
            nm = is_tf ? "head.weight" : "decoder.weight";
        } else if (!is_tf && !strcmp(nm, "fc.bias")) nm = "decoder.bias";
        else if (!is_tf && *prefix && !strncmp(nm, prefix, strlen(prefix))) {
            snprintf(buf, sizeof buf, "rnn.%s", nm + strlen(prefix));
            nm = buf;
        }
        if (t->dtype != LMF_DT_F32 && t->dtype != LMF_DT_F16 && t->dtype != LMF_DT_BF16 && t->dtype != LMF_DT_F64)
            continue;
        if (t->ndim < 1 || t->ndim > 2) continue;
        o[k].name = strdup(nm);
        o[k].ndim = t->ndim;
        o[k].shape[0] = t->shape[0];
        o[k].shape[1] = t->ndim == 2 ? t->shape[1] : 1;
        size_t cnt = (size_t)t->numel, row = t->ndim == 2 ? (size_t)t->shape[1] : 1;
        float *tmp = (float *)malloc(cnt * sizeof(float) + 1);
        o[k].data = (float *)malloc(cnt * sizeof(float) + 1);
        if (!tmp || !o[k].data || !o[k].name) {
            free(tmp);
            fprintf(stderr, "lmfuse convert: out of memory\n");
            goto done;
        }
        lmf_st_to_f32(t, tmp);
        int by_token = t->shape[0] == V && (t == emb || t == dec || !strcmp(nm, "decoder.bias") ||
                                            !strcmp(nm, "head.bias"));
        for (int64_t r = 0; r < t->shape[0]; r++) {
            int64_t src = by_token ? order[r] : r;
            memcpy(o[k].data + (size_t)r * row, tmp + (size_t)src * row, row * sizeof(float));
        }
        free(tmp);
        if (lmf_st_add(w, o[k].name, LMF_DT_F32, o[k].ndim, o[k].shape, o[k].data)) {
            k++;
            goto fail;
        }
        k++;
    }
    if (lmf_st_set_meta(w, "lmfuse.arch", is_tf ? "transformer" : arch) ||
        lmf_st_set_meta(w, "lmfuse.vocab", vjson ? vjson : have_vocab))
        goto fail;
    if (is_tf) {
        const char *h = heads ? heads : lmf_st_meta(st, "lmfuse.heads");
        if (!h) {
            fprintf(stderr, "lmfuse convert: a transformer needs --heads N (the state dict does not say)\n");
            goto done;
        }
        if (lmf_st_set_meta(w, "lmfuse.heads", h)) goto fail;
    }
    if (lmf_st_set_meta(w, "lmfuse.converted_from", "pytorch") || lmf_st_write(w, out)) goto fail;
    /* the result must load as a model */
    lmf_model *m;
    if (lmf_model_load(out, &m)) {
        fprintf(stderr, "lmfuse convert: the converted file does not load: %s\n", lmf_last_error());
        remove(out);
        goto done;
    }
    char desc[256];
    lmf_model_describe(m, desc, sizeof desc);
    fprintf(stderr, "wrote %s: %s\n", out, desc);
    lmf_model_free(m);
    rc = 0;
    goto done;
fail:
    rc = cli_fail();
done:
    for (size_t i = 0; o && i < nt + 1; i++) free(o[i].name), free(o[i].data);
    free(o);
    free(order);
    free(vbuf);
    free(toks);
    free(vjson);
    lmf_st_writer_free(w);
    lmf_st_close(st);
    return rc;
}

static int to_pytorch(const char *in, const char *out) {
    lmf_model *m;
    if (lmf_model_load(in, &m)) return cli_fail(); /* checks that it is a complete model; gives the tokens */
    lmf_safetensors *st;
    if (lmf_st_open(in, &st)) {
        lmf_model_free(m);
        return cli_fail();
    }
    lmf_st_writer *w = lmf_st_writer_new();
    int rc = 1;
    const char *arch = lmf_st_meta(st, "lmfuse.arch");
    int is_tf = arch && !strcmp(arch, "transformer");
    const char *emb = is_tf ? "tok_emb.weight" : "encoder.weight", *dec = is_tf ? "head.weight" : "decoder.weight";
    lmf_status s = w ? LMF_OK : LMF_ERR_NOMEM;
    for (size_t i = 0; i < lmf_st_count(st) && !s; i++) {
        const lmf_st_tensor *t = lmf_st_at(st, i);
        if (!strncmp(t->name, "train.", 6)) continue;
        s = lmf_st_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
        if (!s && !strcmp(t->name, emb) && !lmf_st_find(st, dec)) /* tied: PyTorch's state dict has both */
            s = lmf_st_add(w, dec, t->dtype, t->ndim, t->shape, t->data);
    }
    const char *keys[] = {"lmfuse.arch", "lmfuse.vocab", "lmfuse.heads", "lmfuse.token_mode"};
    for (int i = 0; i < 4 && !s; i++)
        if (lmf_st_meta(st, keys[i])) s = lmf_st_set_meta(w, keys[i], lmf_st_meta(st, keys[i]));
    if (!s) s = lmf_st_set_meta(w, "format", "pt");
    if (!s) s = lmf_st_write(w, out);
    if (s) {
        rc = cli_fail();
    } else {
        /* the token list, one per line, for the PyTorch side */
        const lmf_vocab *v = lmf_model_vocab(m);
        size_t n = strlen(out);
        char *vp = (char *)malloc(n + 16);
        FILE *fp = NULL;
        if (vp) snprintf(vp, n + 16, "%s.vocab.txt", out), fp = fopen(vp, "w");
        for (int32_t i = 0; fp && i < lmf_vocab_size(v); i++) {
            size_t l;
            fprintf(fp, "%s\n", lmf_vocab_word(v, i, &l));
        }
        if (!fp || fclose(fp)) {
            fprintf(stderr, "lmfuse convert: cannot write %s\n", vp ? vp : "the token list");
            free(vp);
            goto end;
        }
        fprintf(stderr, "wrote %s and %s\n", out, vp);
        free(vp);
        rc = 0;
    }
end:
    lmf_st_writer_free(w);
    lmf_st_close(st);
    lmf_model_free(m);
    return rc;
}

int lmf_cmd_convert(int argc, char **argv) {
    const char *from = NULL, *to = NULL, *out = NULL, *vocab = NULL, *heads = NULL, *in = NULL;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if ((v = cli_opt_value(argc, argv, &i, "--from", &missing))) {
            from = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--to", &missing))) {
            to = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--vocab", &missing))) {
            vocab = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--heads", &missing))) {
            heads = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "-o", &missing)) ||
                   (v = cli_opt_value(argc, argv, &i, "--output", &missing))) {
            out = v;
        } else if (missing) {
            return cli_usage_error("convert", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-') {
            return cli_usage_error("convert", "unknown option %s", argv[i]);
        } else if (!in) {
            in = argv[i];
        } else {
            return cli_usage_error("convert", "unexpected argument \"%s\"", argv[i]);
        }
    }
    if (!in || !out) return cli_usage_error("convert", "need an input file and -o OUTPUT");
    if ((from != NULL) == (to != NULL)) return cli_usage_error("convert", "give one of --from pytorch or --to pytorch");
    if ((from && strcmp(from, "pytorch")) || (to && strcmp(to, "pytorch")))
        return cli_usage_error("convert", "the only format is \"pytorch\" (n-gram files: lmfuse ngram convert)");
    return from ? from_pytorch(in, vocab, heads, out) : to_pytorch(in, out);
}
