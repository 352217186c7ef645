/* PyTorch state dicts in and out (src/nn/pytorch.c): the token list and
 * the row permutation it implies, tied output layers, round trips that
 * keep every distribution bit for bit, the token rules of lmf/nn.h (each
 * refusal names the file and line), hostile state dicts, and allocation
 * failures.  PyTorch's own numbers for the converted fixture are checked
 * by tests/test_train.sh section 7. */
#include "test.h"

#include "lmf/io.h"
#include "lmf/nn.h"

#include <stdint.h>

/* tdata and tmp_path return rotating static buffers: keep a copy. */
#define PATH(var, expr)      \
    char var[1024];          \
    snprintf(var, sizeof var, "%s", expr)

static const char *slurp(const char *path, size_t *n) {
    static char *buf;
    free(buf);
    buf = NULL;
    *n = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long l = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc((size_t)l + 1);
    *n = fread(buf, 1, (size_t)l, fp);
    buf[*n] = 0;
    fclose(fp);
    return buf;
}

/* The next-token distributions of m before each of n tokens. */
static float *dists(lmf_model *m, const int32_t *tok, size_t n) {
    int32_t V = lmf_vocab_size(lmf_model_vocab(m));
    float *out = malloc(n * (size_t)V * sizeof *out);
    lmf_state *s = lmf_state_new(m);
    if (!s || lmf_model_dists(m, s, tok, n, out)) {
        free(out);
        out = NULL;
    }
    lmf_state_free(m, s);
    return out;
}

/* Two models give the same distributions, bit for bit, on a few tokens. */
static int same_model(lmf_model *a, lmf_model *b) {
    int32_t V = lmf_vocab_size(lmf_model_vocab(a));
    if (V != lmf_vocab_size(lmf_model_vocab(b)) || !lmf_vocab_equal(lmf_model_vocab(a), lmf_model_vocab(b))) return 0;
    int32_t tok[7] = {2, 3 % V, 1, 4 % V, 0, 5 % V, 1};
    float *x = dists(a, tok, 7), *y = dists(b, tok, 7);
    int ok = x && y && !memcmp(x, y, 7 * (size_t)V * sizeof *x);
    free(x);
    free(y);
    return ok;
}

static float tensor_at(const lmf_safetensors *st, const char *name, size_t i) {
    const lmf_st_tensor *t = lmf_st_find(st, name);
    if (!t || i >= t->numel) return NAN;
    float *f = malloc((size_t)t->numel * sizeof *f);
    lmf_st_to_f32(t, f);
    float v = f[i];
    free(f);
    return v;
}

/* A recurrent state dict as PyTorch writes one: embedding [V,E] under
 * `emb`, one module with G gates under `prefix`, an output layer that is
 * tied (left out) or not, every value distinct. */
static void write_rnn_sd(const char *path, const char *emb, const char *prefix, int G, int V, int E, int H, int tied) {
    lmf_st_writer *w = lmf_st_writer_new();
    size_t total = (size_t)V * E + (size_t)G * H * (E + H + 2) + (size_t)V * H + V, k = 0;
    float *block = malloc(total * sizeof *block);
    for (size_t i = 0; i < total; i++) block[i] = (float)((i * 37) % 101) / 100.0f - 0.5f;
    char nm[128];
#define ADD(name, nd, d0, d1)                                                                  \
    do {                                                                                       \
        int64_t sh[2] = {(d0), (d1)};                                                          \
        CHECK(lmf_st_add(w, name, LMF_DT_F32, nd, sh, block + k) == LMF_OK);                   \
        k += (size_t)(d0) * (size_t)((nd) == 2 ? (d1) : 1);                                    \
    } while (0)
    ADD(emb, 2, V, E);
    snprintf(nm, sizeof nm, "%sweight_ih_l0", prefix);
    ADD(nm, 2, G * H, E);
    snprintf(nm, sizeof nm, "%sweight_hh_l0", prefix);
    ADD(nm, 2, G * H, H);
    snprintf(nm, sizeof nm, "%sbias_ih_l0", prefix);
    ADD(nm, 1, G * H, 1);
    snprintf(nm, sizeof nm, "%sbias_hh_l0", prefix);
    ADD(nm, 1, G * H, 1);
    if (!tied) ADD("decoder.weight", 2, V, H);
    ADD("decoder.bias", 1, V, 1);
#undef ADD
    CHECK(lmf_st_set_meta(w, "format", "pt") == LMF_OK);
    CHECK(lmf_st_write(w, path) == LMF_OK);
    lmf_st_writer_free(w);
    free(block);
}

/* The fixture of dev/gen_convert_fixtures.py: module "lstm", tied weights
 * stored twice, <unk> (line 3) and <eos> (line 7) inside the list. */
static void test_fixture(void) {
    PATH(out, tmp_path("cv_fixture.safetensors"));
    lmf_nn_import_opts o;
    lmf_nn_import_opts_init(&o);
    PATH(vocab, tdata("pt_lstm.vocab.txt"));
    o.vocab_path = vocab;
    lmf_model *m = NULL;
    lmf_status s = lmf_nn_import_pytorch(tdata("pt_lstm.safetensors"), &o, out, &m);
    CHECK_MSG(s == LMF_OK && m, "%s", lmf_last_error());
    if (!m) return;
    const lmf_vocab *v = lmf_model_vocab(m);
    CHECK(lmf_vocab_size(v) == 23);
    /* lines: w2 w3 <unk> w4 w5 w6 <eos> w7 ... w22 */
    const char *want[] = {"<unk>", "</s>", "w2", "w3", "w4", "w5", "w6", "w7"};
    int src[] = {2, 6, 0, 1, 3, 4, 5, 7}; /* line - 1 of each id */
    lmf_safetensors *a, *b;
    CHECK(lmf_st_open(tdata("pt_lstm.safetensors"), &a) == LMF_OK);
    CHECK(lmf_st_open(out, &b) == LMF_OK);
    for (int id = 0; id < 8; id++) {
        size_t l;
        CHECK(!strcmp(lmf_vocab_word(v, id, &l), want[id]));
        for (int c = 0; c < 8; c++) {
            CHECK(tensor_at(b, "encoder.weight", (size_t)id * 8 + c) == tensor_at(a, "encoder.weight", (size_t)src[id] * 8 + c));
        }
        CHECK(tensor_at(b, "decoder.bias", id) == tensor_at(a, "decoder.bias", src[id]));
    }
    CHECK(!lmf_st_find(b, "decoder.weight")); /* tied */
    CHECK(lmf_st_find(b, "rnn.weight_hh_l1") && !lmf_st_find(b, "lstm.weight_hh_l1"));
    CHECK(!strcmp(lmf_st_meta(b, "lmfuse.arch"), "lstm"));
    CHECK(!strcmp(lmf_st_meta(b, "lmfuse.converted_from"), "pytorch"));
    lmf_st_close(a);
    lmf_st_close(b);
    lmf_model_free(m);
}

/* Export, then import with the token list and without it: the same model,
 * bit for bit, for every architecture, tied or not, classes included. */
static void test_round_trips(void) {
    const char *files[] = {"rnnlm_rnn.safetensors",         "rnnlm_lstm.safetensors",     "rnnlm_gru.safetensors",
                           "rnnlm_transformer.safetensors", "train_transformer_init.safetensors",
                           "train_lstm_cls_init.safetensors"};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        lmf_model *orig = NULL, *m1 = NULL, *m2 = NULL;
        CHECK_MSG(lmf_nn_load(tdata(files[f]), &orig) == LMF_OK, "%s", lmf_last_error());
        PATH(pt, tmp_path("cv_rt_pt.safetensors"));
        PATH(toks, tmp_path("cv_rt_pt.txt"));
        lmf_status s = lmf_nn_export_pytorch(tdata(files[f]), pt, toks);
        CHECK_MSG(s == LMF_OK, "%s: %s", files[f], lmf_last_error());
        lmf_safetensors *st = NULL;
        CHECK(lmf_st_open(pt, &st) == LMF_OK);
        int tf = f == 3 || f == 4;
        CHECK_MSG(st && lmf_st_find(st, tf ? "head.weight" : "decoder.weight"), "%s: output weights missing", files[f]);
        CHECK(st && !strcmp(lmf_st_meta(st, "format"), "pt"));
        lmf_st_close(st);
        s = lmf_nn_import_pytorch(pt, NULL, tmp_path("cv_rt1.safetensors"), &m1);
        CHECK_MSG(s == LMF_OK, "%s: %s", files[f], lmf_last_error());
        lmf_nn_import_opts o;
        lmf_nn_import_opts_init(&o);
        o.vocab_path = toks;
        s = lmf_nn_import_pytorch(pt, &o, tmp_path("cv_rt2.safetensors"), &m2);
        CHECK_MSG(s == LMF_OK, "%s: %s", files[f], lmf_last_error());
        CHECK_MSG(orig && m1 && same_model(orig, m1), "%s: round trip without the list differs", files[f]);
        CHECK_MSG(orig && m2 && same_model(orig, m2), "%s: round trip with the list differs", files[f]);
        lmf_model_free(orig);
        lmf_model_free(m1);
        lmf_model_free(m2);
    }
}

/* The defect of issue 15: 38 tokens of ~2,000 control bytes (\x01), which
 * JSON escapes to six bytes each, overflowed the converter's buffer.  Now:
 * a correct model, whose tokens come back unchanged. */
static void test_control_bytes(void) {
    enum { V = 38, L = 2000 };
    PATH(sd, tmp_path("cv_ctl.safetensors"));
    PATH(list, tmp_path("cv_ctl.txt"));
    PATH(out, tmp_path("cv_ctl_m.safetensors"));
    write_rnn_sd(sd, "encoder.weight", "rnn.", 1, V, 3, 3, 0);
    size_t cap = (size_t)V * (L + V + 8), n = 0;
    char *buf = malloc(cap);
    int line_of_unk = 5, line_of_eos = 20;
    for (int i = 1; i <= V; i++) {
        if (i == line_of_unk) n += (size_t)sprintf(buf + n, "<unk>");
        else if (i == line_of_eos) n += (size_t)sprintf(buf + n, "</s>");
        else {
            memset(buf + n, 1, (size_t)(L + i));
            n += (size_t)(L + i);
        }
        buf[n++] = '\n';
    }
    write_file(list, buf, n);
    lmf_nn_import_opts o;
    lmf_nn_import_opts_init(&o);
    o.vocab_path = list;
    lmf_model *m = NULL;
    lmf_status s = lmf_nn_import_pytorch(sd, &o, out, &m);
    CHECK_MSG(s == LMF_OK && m, "%s", lmf_last_error());
    if (m) {
        const lmf_vocab *v = lmf_model_vocab(m);
        CHECK(lmf_vocab_size(v) == V);
        /* ids 2.. are the lines in order without lines 5 and 20 */
        for (int id = 2, line = 1; id < V; line++) {
            if (line == line_of_unk || line == line_of_eos) continue;
            size_t l;
            const char *w = lmf_vocab_word(v, id, &l);
            int ok = l == (size_t)(L + line);
            for (size_t k = 0; ok && k < l; k++) ok = w[k] == 1;
            CHECK_MSG(ok, "id %d: token of line %d changed", id, line);
            id++;
        }
        lmf_safetensors *st;
        CHECK(lmf_st_open(out, &st) == LMF_OK);
        CHECK(strstr(lmf_st_meta(st, "lmfuse.vocab"), "\\u0001") != NULL);
        /* row of id 1 (</s>) is line 20's row */
        CHECK(tensor_at(st, "decoder.weight", 3) ==
              (float)(((size_t)V * 3 + 2 * 3 * 3 + 2 * 3 + (size_t)(line_of_eos - 1) * 3) * 37 % 101) / 100.0f - 0.5f);
        lmf_st_close(st);
        /* and back: the list in lmfuse's order */
        PATH(pt, tmp_path("cv_ctl_pt.safetensors"));
        PATH(back, tmp_path("cv_ctl_pt.txt"));
        CHECK(lmf_nn_export_pytorch(out, pt, back) == LMF_OK);
        size_t bn;
        const char *b = slurp(back, &bn);
        CHECK(b && bn == n && !memcmp(b, "<unk>\n</s>\n\x01\x01", 13));
        lmf_model *m2 = NULL;
        o.vocab_path = back;
        CHECK(lmf_nn_import_pytorch(pt, &o, tmp_path("cv_ctl_m2.safetensors"), &m2) == LMF_OK);
        CHECK(m2 && same_model(m, m2));
        lmf_model_free(m2);
    }
    lmf_model_free(m);
    free(buf);
}

/* Token lists that break a rule of lmf/nn.h: refused with the file and
 * line, nothing written, an earlier output left alone. */
static void test_token_rules(void) {
    size_t n;
    const char *base = slurp(tdata("pt_lstm.vocab.txt"), &n);
    char orig[256];
    CHECK(base && n < sizeof orig);
    memcpy(orig, base, n);
    orig[n] = 0;
    /* lines: w2 w3 <unk> w4 w5 w6 <eos> w7 ...; line 4 is replaced */
    const char *l4 = strstr(orig, "\nw4\n") + 1, *after = l4 + 2;
    static const struct {
        const char *tok;
        size_t len;
        const char *want; /* NULL: accepted */
    } cases[] = {
        {"", 0, ":4: empty line"},
        {"a b", 3, ":4: byte 2 of the token is whitespace (0x20)"},
        {"a\tb", 3, ":4: byte 2 of the token is whitespace (0x09)"},
        {"a\vb", 3, ":4: byte 2 of the token is whitespace (0x0b)"},
        {"a\fb", 3, ":4: byte 2 of the token is whitespace (0x0c)"},
        {"a\rb", 3, ":4: byte 2 of the token is whitespace (0x0d)"},
        {"ab\0", 3, ":4: byte 3 of the token is NUL"},
        {"a\xff", 2, ":4: the token is not valid UTF-8 (byte 2)"},
        {"\xc3", 1, ":4: the token is not valid UTF-8 (byte 1)"},
        {"\xed\xa0\x80", 3, ":4: the token is not valid UTF-8"}, /* a surrogate */
        {"<s>", 3, ":4: \"<s>\" is reserved"},
        {"w3", 2, ":4: the token repeats line 2"},
        {"<unk>", 5, ":4: the token repeats line 3"},
        {"<eos>", 5, ":7: the token repeats line 4"},
        {"</s>", 4, NULL}, /* the end of line; <eos> (line 7) an ordinary word */
        {"\x01", 1, NULL},
        {"\x1f\x7f", 2, NULL},
        {"caf\xc3\xa9", 5, NULL},
        {"<eos2>", 6, NULL},
    };
    PATH(list, tmp_path("cv_rule.txt"));
    PATH(out, tmp_path("cv_rule.safetensors"));
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char buf[300];
        size_t k = (size_t)(l4 - orig);
        memcpy(buf, orig, k);
        memcpy(buf + k, cases[c].tok, cases[c].len);
        k += cases[c].len;
        memcpy(buf + k, after, n - (size_t)(after - orig));
        k += n - (size_t)(after - orig);
        write_file(list, buf, k);
        write_file(out, "earlier", 7);
        lmf_nn_import_opts o;
        lmf_nn_import_opts_init(&o);
        o.vocab_path = list;
        lmf_status s = lmf_nn_import_pytorch(tdata("pt_lstm.safetensors"), &o, out, NULL);
        size_t on;
        const char *got = slurp(out, &on);
        if (!cases[c].want) {
            CHECK_MSG(s == LMF_OK, "case %zu: %s", c, lmf_last_error());
            continue;
        }
        CHECK_MSG(s == LMF_ERR_FORMAT, "case %zu: status %d", c, (int)s);
        CHECK_MSG(strstr(lmf_last_error(), list) && strstr(lmf_last_error(), cases[c].want), "case %zu: \"%s\"", c,
                  lmf_last_error());
        CHECK_MSG(got && on == 7 && !memcmp(got, "earlier", 7), "case %zu: the earlier output changed", c);
    }
    /* CRLF lines and a last line without '\n' are read as they are meant */
    char crlf[512];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (orig[i] == '\n') crlf[k++] = '\r';
        crlf[k++] = orig[i];
    }
    write_file(list, crlf, k - 2); /* no final "\r\n" */
    lmf_nn_import_opts o;
    lmf_nn_import_opts_init(&o);
    o.vocab_path = list;
    lmf_model *m1 = NULL, *m2 = NULL;
    CHECK_MSG(lmf_nn_import_pytorch(tdata("pt_lstm.safetensors"), &o, out, &m1) == LMF_OK, "%s", lmf_last_error());
    PATH(vocab, tdata("pt_lstm.vocab.txt"));
    o.vocab_path = vocab;
    CHECK(lmf_nn_import_pytorch(tdata("pt_lstm.safetensors"), &o, tmp_path("cv_rule2.safetensors"), &m2) == LMF_OK);
    CHECK(m1 && m2 && same_model(m1, m2));
    lmf_model_free(m1);
    lmf_model_free(m2);
    /* the count, <unk> and </s> */
    write_file(list, orig, (size_t)(l4 - orig));
    o.vocab_path = list;
    CHECK(lmf_nn_import_pytorch(tdata("pt_lstm.safetensors"), &o, out, NULL) == LMF_ERR_FORMAT);
    CHECK_MSG(strstr(lmf_last_error(), "lists 3 tokens but the embedding"), "%s", lmf_last_error());
    char nounk[256];
    memcpy(nounk, orig, n);
    memcpy(strstr(nounk, "<unk>"), "<UNK>", 5);
    write_file(list, nounk, n);
    CHECK(lmf_nn_import_pytorch(tdata("pt_lstm.safetensors"), &o, out, NULL) == LMF_ERR_FORMAT);
    CHECK_MSG(strstr(lmf_last_error(), "needs <unk> and </s>"), "%s", lmf_last_error());
    PATH(missing, tmp_path("cv_no_such_list.txt"));
    o.vocab_path = missing;
    CHECK(lmf_nn_import_pytorch(tdata("pt_lstm.safetensors"), &o, out, NULL) == LMF_ERR_IO);
}

static lmf_status import_sd(const char *sd, const char *list, int heads, lmf_model **m) {
    lmf_nn_import_opts o;
    lmf_nn_import_opts_init(&o);
    o.vocab_path = list;
    o.heads = heads;
    return lmf_nn_import_pytorch(sd, &o, tmp_path("cv_bad_out.safetensors"), m);
}

/* State dicts that are not a model lmfuse knows: refused with a message
 * naming the file; the architecture comes from the gate count. */
static void test_state_dicts(void) {
    PATH(sd, tmp_path("cv_sd.safetensors"));
    PATH(list, tmp_path("cv_sd.txt"));
    write_file(list, "<unk>\n</s>\na\nb\nc\nd\n", 18);
    static const struct {
        int G;
        const char *arch;
    } gates[] = {{1, "rnn"}, {3, "gru"}, {4, "lstm"}};
    for (int g = 0; g < 3; g++) { /* any prefix, embedding.weight, untied */
        write_rnn_sd(sd, "embedding.weight", "model.core.", gates[g].G, 6, 4, 4, 0);
        lmf_model *m = NULL;
        CHECK_MSG(import_sd(sd, list, 0, &m) == LMF_OK, "%s", lmf_last_error());
        char desc[256] = "";
        if (m) lmf_model_describe(m, desc, sizeof desc);
        CHECK_MSG(!strncmp(desc, gates[g].arch, strlen(gates[g].arch)), "G=%d: %s", gates[g].G, desc);
        lmf_model_free(m);
    }
    struct {
        const char *emb, *prefix;
        int G, V, E, H, tied;
        lmf_status want;
        const char *msg;
    } bad[] = {
        {"lm.emb", "rnn.", 1, 6, 4, 4, 0, LMF_ERR_FORMAT, "no embedding"},
        {"encoder.weight", "rnn.", 2, 6, 4, 4, 0, LMF_ERR_FORMAT, "no nn.RNN/LSTM/GRU"},
        {"encoder.weight", "rnn.", 5, 6, 4, 4, 0, LMF_ERR_FORMAT, "no nn.RNN/LSTM/GRU"},
        {"encoder.weight", "rnn.", 1, 6, 0, 4, 0, LMF_ERR_FORMAT, "is not [V, E]"},
        {"encoder.weight", "rnn.", 1, 1, 4, 4, 0, LMF_ERR_FORMAT, "is not [V, E]"},
        {"encoder.weight", "rnn.", 1, 5, 4, 4, 0, LMF_ERR_FORMAT, "lists 6 tokens but the embedding"},
        /* converts, but does not load: tied with E != H (the message names the output, not a temporary) */
        {"encoder.weight", "rnn.", 4, 6, 4, 3, 1, LMF_ERR_FORMAT, "cv_bad_out.safetensors"},
    };
    remove(tmp_path("cv_bad_out.safetensors"));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_rnn_sd(sd, bad[i].emb, bad[i].prefix, bad[i].G, bad[i].V, bad[i].E, bad[i].H, bad[i].tied);
        lmf_model *m = (lmf_model *)&m;
        lmf_status s = import_sd(sd, list, 0, &m);
        CHECK_MSG(s == bad[i].want && !m, "case %zu: %d", i, (int)s);
        CHECK_MSG(strstr(lmf_last_error(), bad[i].msg), "case %zu: \"%s\"", i, lmf_last_error());
        CHECK_MSG(!strstr(lmf_last_error(), ".convert."), "case %zu names the temporary file: %s", i, lmf_last_error());
        CHECK(!file_exists(tmp_path("cv_bad_out.safetensors")));
    }
    /* a huge V with no columns must not be allocated */
    {
        lmf_st_writer *w = lmf_st_writer_new();
        int64_t sh[2] = {(int64_t)1 << 40, 0}, hh[2] = {4, 4};
        float z[16] = {0};
        CHECK(lmf_st_add(w, "encoder.weight", LMF_DT_F32, 2, sh, z) == LMF_OK);
        CHECK(lmf_st_add(w, "rnn.weight_hh_l0", LMF_DT_F32, 2, hh, z) == LMF_OK);
        CHECK(lmf_st_write(w, sd) == LMF_OK);
        lmf_st_writer_free(w);
        CHECK(import_sd(sd, list, 0, NULL) == LMF_ERR_FORMAT);
        CHECK(import_sd(sd, NULL, 0, NULL) == LMF_ERR_FORMAT);
    }
    /* two recurrent modules; two tensors with one lmfuse name */
    static const char *const twice[][3] = {{"rnn.weight_hh_l0", "aux.weight_hh_l0", "two recurrent modules"},
                                           {"decoder.bias", "fc.bias", "becomes \"decoder.bias\", which another"}};
    for (int c = 0; c < 2; c++) {
        write_rnn_sd(sd, "encoder.weight", "rnn.", 1, 6, 4, 4, 0);
        lmf_safetensors *st;
        CHECK(lmf_st_open(sd, &st) == LMF_OK);
        lmf_st_writer *w = lmf_st_writer_new();
        for (size_t i = 0; i < lmf_st_count(st); i++) {
            const lmf_st_tensor *t = lmf_st_at(st, i);
            CHECK(lmf_st_add(w, t->name, t->dtype, t->ndim, t->shape, t->data) == LMF_OK);
            if (!strcmp(t->name, twice[c][0]))
                CHECK(lmf_st_add(w, twice[c][1], t->dtype, t->ndim, t->shape, t->data) == LMF_OK);
        }
        PATH(sd2, tmp_path("cv_sd2.safetensors"));
        CHECK(lmf_st_write(w, sd2) == LMF_OK);
        lmf_st_writer_free(w);
        lmf_st_close(st);
        CHECK(import_sd(sd2, list, 0, NULL) == LMF_ERR_FORMAT);
        CHECK_MSG(strstr(lmf_last_error(), twice[c][2]) && strstr(lmf_last_error(), sd2), "%s", lmf_last_error());
    }
    /* no token list and no lmfuse.vocab */
    write_rnn_sd(sd, "encoder.weight", "rnn.", 1, 6, 4, 4, 0);
    CHECK(import_sd(sd, NULL, 0, NULL) == LMF_ERR_ARG);
    CHECK_MSG(strstr(lmf_last_error(), "give the tokens with --vocab"), "%s", lmf_last_error());
    remove(tmp_path("cv_missing.safetensors"));
    CHECK_MSG(import_sd(tmp_path("cv_missing.safetensors"), list, 0, NULL) == LMF_ERR_IO, "%s", lmf_last_error());
    /* Transformers: heads from the file, from the caller, or refused */
    {
        lmf_safetensors *st;
        CHECK(lmf_st_open(tdata("rnnlm_transformer.safetensors"), &st) == LMF_OK);
        lmf_st_writer *w = lmf_st_writer_new();
        for (size_t i = 0; i < lmf_st_count(st); i++) {
            const lmf_st_tensor *t = lmf_st_at(st, i);
            CHECK(lmf_st_add(w, t->name, t->dtype, t->ndim, t->shape, t->data) == LMF_OK);
        }
        CHECK(lmf_st_write(w, sd) == LMF_OK);
        lmf_st_writer_free(w);
        CHECK(lmf_nn_export_pytorch(tdata("rnnlm_transformer.safetensors"), tmp_path("cv_tf_pt.safetensors"),
                                    list) == LMF_OK);
        lmf_model *orig = NULL, *m = NULL;
        CHECK(import_sd(sd, list, 0, NULL) == LMF_ERR_ARG);
        CHECK_MSG(strstr(lmf_last_error(), "--heads N"), "%s", lmf_last_error());
        CHECK(import_sd(sd, list, 3, NULL) == LMF_ERR_FORMAT);
        CHECK_MSG(strstr(lmf_last_error(), "cv_bad_out.safetensors: metadata \"lmfuse.heads\" is 3"), "%s",
                  lmf_last_error());
        CHECK(import_sd(sd, list, -1, NULL) == LMF_ERR_ARG);
        CHECK(import_sd(sd, list, 2, &m) == LMF_OK);
        CHECK(lmf_nn_load(tdata("rnnlm_transformer.safetensors"), &orig) == LMF_OK);
        CHECK(orig && m && same_model(orig, m));
        lmf_model_free(orig);
        lmf_model_free(m);
        lmf_st_close(st);
    }
    /* classes are ranges of ids: a list that reorders them is refused */
    {
        PATH(pt, tmp_path("cv_cls_pt.safetensors"));
        PATH(toks, tmp_path("cv_cls.txt"));
        CHECK(lmf_nn_export_pytorch(tdata("train_lstm_cls_init.safetensors"), pt, toks) == LMF_OK);
        size_t n;
        const char *t = slurp(toks, &n);
        char *sw = malloc(n + 1);
        memcpy(sw, t, n);
        memcpy(sw, "</s>\n<unk>\n", 11); /* "<unk>\n</s>\n" swapped */
        write_file(list, sw, n);
        free(sw);
        CHECK(import_sd(pt, list, 0, NULL) == LMF_ERR_FORMAT);
        CHECK_MSG(strstr(lmf_last_error(), "lmfuse.classes"), "%s", lmf_last_error());
    }
}

/* A token the one-per-line list cannot hold: export refuses it before
 * writing anything, unless no list is asked for. */
static void test_export_line_breaks(void) {
    PATH(sd, tmp_path("cv_lb.safetensors"));
    PATH(m, tmp_path("cv_lb_m.safetensors"));
    write_rnn_sd(sd, "encoder.weight", "rnn.", 1, 3, 2, 2, 0);
    lmf_safetensors *st;
    CHECK(lmf_st_open(sd, &st) == LMF_OK);
    lmf_st_writer *w = lmf_st_writer_new();
    for (size_t i = 0; i < lmf_st_count(st); i++) {
        const lmf_st_tensor *t = lmf_st_at(st, i);
        CHECK(lmf_st_add(w, t->name, t->dtype, t->ndim, t->shape, t->data) == LMF_OK);
    }
    CHECK(lmf_st_set_meta(w, "lmfuse.vocab", "[\"<unk>\",\"</s>\",\"a\\rb\"]") == LMF_OK);
    CHECK(lmf_st_set_meta(w, "lmfuse.token_mode", "char") == LMF_OK);
    CHECK(lmf_st_write(w, sd) == LMF_OK);
    lmf_st_writer_free(w);
    lmf_st_close(st);
    CHECK_MSG(lmf_nn_import_pytorch(sd, NULL, m, NULL) == LMF_OK, "%s", lmf_last_error());
    PATH(pt, tmp_path("cv_lb_pt.safetensors"));
    PATH(toks, tmp_path("cv_lb_pt.txt"));
    remove(pt);
    remove(toks);
    CHECK(lmf_nn_export_pytorch(m, pt, toks) == LMF_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(lmf_last_error(), "token 2 contains a line break"), "%s", lmf_last_error());
    CHECK(!file_exists(pt) && !file_exists(toks));
    CHECK(lmf_nn_export_pytorch(m, pt, NULL) == LMF_OK);
    CHECK(lmf_st_open(pt, &st) == LMF_OK);
    CHECK(st && !strcmp(lmf_st_meta(st, "lmfuse.token_mode"), "char"));
    lmf_st_close(st);
    CHECK(lmf_nn_export_pytorch(tdata("brown-mini.train.txt"), pt, NULL) != LMF_OK);
}

/* Every allocation that fails leaves a clean error and no output. */
static void test_alloc_failures(void) {
    lmf_nn_import_opts o;
    lmf_nn_import_opts_init(&o);
    PATH(vocab, tdata("pt_lstm.vocab.txt"));
    o.vocab_path = vocab;
    PATH(out, tmp_path("cv_alloc.safetensors"));
    PATH(pt, tmp_path("cv_alloc_pt.safetensors"));
    PATH(toks, tmp_path("cv_alloc_pt.txt"));
    int done = 0;
    for (uint64_t k = 1; k < 5000 && !done; k++) {
        remove(out);
        lmf_model *m = NULL;
        lmf_alloc_fail_after(k);
        lmf_status s = lmf_nn_import_pytorch(tdata("pt_lstm.safetensors"), &o, out, &m);
        lmf_alloc_fail_after(0);
        if (s == LMF_OK) done = 1;
        else CHECK_MSG(s == LMF_ERR_NOMEM && !m && !file_exists(out), "import, allocation %llu: %d %s",
                       (unsigned long long)k, (int)s, lmf_last_error());
        lmf_model_free(m);
    }
    CHECK(done);
    done = 0;
    for (uint64_t k = 1; k < 5000 && !done; k++) {
        remove(pt);
        remove(toks);
        lmf_alloc_fail_after(k);
        lmf_status s = lmf_nn_export_pytorch(out, pt, toks);
        lmf_alloc_fail_after(0);
        if (s == LMF_OK) done = 1;
        else CHECK_MSG(s == LMF_ERR_NOMEM && !file_exists(pt) && !file_exists(toks), "export, allocation %llu: %d %s",
                       (unsigned long long)k, (int)s, lmf_last_error());
    }
    CHECK(done);
}

int main(void) {
    lmf_set_threads(1);
    test_fixture();
    test_round_trips();
    test_control_bytes();
    test_token_rules();
    test_state_dicts();
    test_export_line_breaks();
    test_alloc_failures();
    TEST_MAIN_END();
}
