/* Hostile inputs to the library (issue 15, items 7 and 8): the library
 * reports progress through the log callback, never on stderr; JSON numbers
 * become integers only after a range check; tuners refuse members over
 * different vocabularies; models holding NaN or infinite parameters are
 * refused at load time; ARPA's -inf (probability 0) is accepted, NaN is not. */
#include "test.h"

#include "lmf/fuse.h"
#include "lmf/io.h"
#include "lmf/model.h"
#include "lmf/ngram.h"
#include "lmf/text.h"
#include "lmf/train.h"
#include "../src/core/json_impl.h"
#include "../src/core/util_impl.h"

#include <fcntl.h>
#include <unistd.h>

static int contains(const char *s, const char *sub) { return s && strstr(s, sub) != NULL; }

/* ---------------- the log callback (item 7) ---------------- */

typedef struct logged {
    int info, warn, epoch_lines;
    char last[1024];
} logged;

static void capture(lmf_log_level level, const char *msg, void *ctx) {
    logged *l = (logged *)ctx;
    if (level == LMF_LOG_INFO) l->info++;
    if (level == LMF_LOG_WARN) l->warn++;
    if (contains(msg, "[rnn] epoch 1/1 step")) l->epoch_lines++;
    snprintf(l->last, sizeof l->last, "%s", msg);
}

/* Trains a few steps with stderr sent to a file; returns the bytes written there. */
static long train_quietly(lmf_train_opts *o, lmf_status *st) {
    const char *errf = tmp_path("hostile_stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (saved < 0 || fd < 0) {
        perror(errf);
        exit(2);
    }
    dup2(fd, 2);
    close(fd);
    lmf_train_result r;
    *st = lmf_train(o, &r);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *fp = fopen(errf, "rb");
    long n = -1;
    if (fp) {
        fseek(fp, 0, SEEK_END);
        n = ftell(fp);
        fclose(fp);
    }
    return n;
}

static void tiny_opts(lmf_train_opts *o, const char *out) {
    lmf_train_opts_init(o);
    o->arch = "rnn";
    o->layers = 1;
    o->hidden = 8;
    o->emb = 8;
    o->batch = 2;
    o->bptt = 4;
    o->epochs = 1;
    o->classes = 3;
    o->max_steps = 6;
    o->checkpoint_every = 0;
    o->log_seconds = 0; /* a line after every step */
    o->train = tdata("train-tiny.txt");
    o->out = out;
}

static void test_train_logs(void) {
    lmf_train_opts o;
    tiny_opts(&o, tmp_path("hostile_log.safetensors"));
    logged l = {0};
    lmf_set_log(capture, &l, LMF_LOG_INFO);
    lmf_status s;
    long err_bytes = train_quietly(&o, &s);
    lmf_set_log(NULL, NULL, LMF_LOG_WARN);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    CHECK_MSG(err_bytes == 0, "training wrote %ld bytes to stderr; the library must log through the callback",
              err_bytes);
    CHECK_MSG(l.epoch_lines == 6, "%d progress lines through the log callback, expected 6 (one per step)",
              l.epoch_lines);
    CHECK(l.warn == 0);

    /* log_seconds < 0: no progress lines at all */
    memset(&l, 0, sizeof l);
    o.log_seconds = -1;
    lmf_set_log(capture, &l, LMF_LOG_DEBUG);
    err_bytes = train_quietly(&o, &s);
    lmf_set_log(NULL, NULL, LMF_LOG_WARN);
    CHECK(s == LMF_OK);
    CHECK(err_bytes == 0);
    CHECK_MSG(l.info == 0, "%d lines logged with log_seconds < 0 (last: %s)", l.info, l.last);

    /* the default callback shows warnings only: progress stays off stderr */
    o.log_seconds = 0;
    err_bytes = train_quietly(&o, &s);
    CHECK(s == LMF_OK);
    CHECK_MSG(err_bytes == 0, "the default log level printed %ld bytes of progress", err_bytes);
}

/* ---------------- JSON numbers to integers (item 8) ---------------- */

static void test_json_numbers(void) {
    struct {
        double v;
        int ok;
    } cases[] = {{1e30, 0}, {-1, 0}, {1.5, 0}, {INFINITY, 0}, {-INFINITY, 0}, {0x1p63, 0}, {-0x1p64, 0},
                 {0, 1},    {7, 1},  {100, 1}, {101, 0},      {-0.0, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *j = cJSON_CreateNumber(cases[i].v);
        int v = -99;
        lmf_status s = lmf_json_i32(j, "f.json", "\"k\"", 0, 100, "fix it", &v);
        CHECK_MSG((s == LMF_OK) == cases[i].ok, "%g: status %d (%s)", cases[i].v, (int)s, lmf_last_error());
        if (s == LMF_OK) CHECK(v == (int)cases[i].v);
        else CHECK(v == -99 && contains(lmf_last_error(), "f.json: \"k\" must be 0..100, a whole number") &&
                   contains(lmf_last_error(), "; fix it"));
        cJSON_Delete(j);
    }
    int v;
    cJSON *j = cJSON_CreateNumber(1e30);
    CHECK(lmf_json_i32(j, "f.json", "w", 1, 10, NULL, &v) == LMF_ERR_FORMAT && contains(lmf_last_error(), "(got 1e+30)"));
    int64_t big;
    CHECK(lmf_json_int(j, "f.json", "w", INT64_MIN, INT64_MAX, NULL, &big) == LMF_ERR_FORMAT);
    cJSON_Delete(j);
    j = cJSON_CreateNumber(-0x1p63);
    CHECK(lmf_json_int(j, "f.json", "w", INT64_MIN, INT64_MAX, NULL, &big) == LMF_OK && big == INT64_MIN);
    cJSON_Delete(j);
    j = cJSON_CreateString("12");
    CHECK(lmf_json_i32(j, "f.json", "w", 1, 100, NULL, &v) == LMF_ERR_FORMAT && contains(lmf_last_error(), "the string"));
    cJSON_Delete(j);
    CHECK(lmf_json_i32(NULL, "f.json", "w", 1, 100, NULL, &v) == LMF_ERR_FORMAT && contains(lmf_last_error(), "missing"));
    uint64_t u;
    j = cJSON_CreateNumber(0x1p64);
    CHECK(lmf_json_u64(j, "f.json", "seed", UINT64_MAX, NULL, &u) == LMF_ERR_FORMAT);
    cJSON_Delete(j);
    j = cJSON_CreateNumber(0x1p63);
    CHECK(lmf_json_u64(j, "f.json", "seed", UINT64_MAX, NULL, &u) == LMF_OK && u == (uint64_t)1 << 63);
    cJSON_Delete(j);
    double d;
    j = cJSON_CreateNumber(INFINITY);
    CHECK(lmf_json_num(j, "f.json", "lr", 0, INFINITY, NULL, &d) == LMF_ERR_FORMAT &&
          contains(lmf_last_error(), "a finite number >= 0"));
    cJSON_Delete(j);
}

/* A recipe with one bad number: refused with a message naming the file, the key and the range. */
static void check_recipe(const char *json, const char *want1, const char *want2) {
    const char *path = tmp_path("hostile_recipe.json");
    write_file(path, json, strlen(json));
    lmf_model *m = NULL;
    lmf_status s = lmf_recipe_load(path, &m);
    CHECK_MSG(s == LMF_ERR_FORMAT, "%s: status %d (%s)", json, (int)s, lmf_last_error());
    CHECK_MSG(contains(lmf_last_error(), path) && contains(lmf_last_error(), want1) && contains(lmf_last_error(), want2),
              "%s: message \"%s\" lacks \"%s\" / \"%s\"", json, lmf_last_error(), want1, want2);
    lmf_model_free(m);
}

static void test_recipe_numbers(void) {
    char js[1024];
    const char *lstm = tdata("rnnlm_lstm.safetensors");
    snprintf(js, sizeof js,
             "{\"combiner\": \"linear\", \"members\": [\"%s\", {\"cache\": {\"window\": 1e30}}], \"weights\": [0.5, 0.5]}",
             lstm);
    check_recipe(js, "members[1].cache: window must be 1..16777216, a whole number", "(got 1e+30)");
    snprintf(js, sizeof js,
             "{\"combiner\": \"linear\", \"members\": [\"%s\", {\"cache\": {\"window\": -3e9}}], \"weights\": [0.5, 0.5]}",
             lstm);
    check_recipe(js, "members[1].cache: window must be", "(got -3000000000)");
    snprintf(js, sizeof js,
             "{\"combiner\": \"linear\", \"members\": [\"%s\", {\"cache\": {\"model\": \"%s\", \"window\": 1e300, "
             "\"theta\": 0.5}}], \"weights\": [0.5, 0.5]}",
             lstm, lstm);
    check_recipe(js, "members[1]: window must be 1..100000, a whole number", "(got 1e+300)");
    snprintf(js, sizeof js,
             "{\"combiner\": \"vote\", \"top_k\": 4294967297, \"members\": [\"%s\", \"%s\"], \"weights\": [0.5, 0.5]}",
             lstm, lstm);
    check_recipe(js, "recipe: \"top_k\" must be 1..1000000, a whole number", "(got 4294967297)");
    /* a good cache member still loads */
    snprintf(js, sizeof js,
             "{\"combiner\": \"linear\", \"members\": [\"%s\", {\"cache\": {\"window\": 50}}], \"weights\": [0.5, 0.5]}",
             lstm);
    const char *path = tmp_path("hostile_recipe.json");
    write_file(path, js, strlen(js));
    lmf_model *m = NULL;
    lmf_status s = lmf_recipe_load(path, &m);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    lmf_model_free(m);
}

/* ---------------- tuners and vocabularies (item 8) ---------------- */

static const char *const tiny_arpa =
    "\\data\\\nngram 1=5\n\n\\1-grams:\n-1.0\t<unk>\n-0.5\t</s>\n-99\t<s>\t-0.3\n-0.6\tthe\n-0.9\t%s\n\n\\end\\\n";

static lmf_model *arpa_model(const char *name, const char *word) {
    char txt[512];
    snprintf(txt, sizeof txt, tiny_arpa, word);
    const char *path = tmp_path(name);
    write_file(path, txt, strlen(txt));
    lmf_model *m = NULL;
    lmf_status s = lmf_model_load(path, &m);
    CHECK_MSG(s == LMF_OK, "%s: %s", name, lmf_last_error());
    return m;
}

static void test_tune_vocab(void) {
    lmf_model *a = arpa_model("hostile_a.arpa", "cat"), *b = arpa_model("hostile_b.arpa", "dog"),
              *c = arpa_model("hostile_c.arpa", "cat");
    if (!a || !b || !c) goto done;
    lmf_model *ab[2] = {a, b}, *ac[2] = {a, c};
    CHECK(lmf_fuse_check_vocab(ac, 2) == LMF_OK);
    CHECK(lmf_fuse_check_vocab(ab, 2) == LMF_ERR_DATA && contains(lmf_last_error(), "different vocabularies"));

    lmf_tokens dev = {0};
    const char *devp = tmp_path("hostile_dev.txt");
    write_file(devp, "the cat\nthe the\n", 16);
    lmf_status s = lmf_tokens_read_file(devp, lmf_model_vocab(a), NULL, &dev);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    if (s) goto done;
    lmf_tune_ll_opts lo = {0};
    double w[2] = {0.5, 0.5};
    lmf_tune_info info;
    s = lmf_tune_loglinear(ab, 2, &dev, &lo, w, &info);
    CHECK_MSG(s == LMF_ERR_DATA && contains(lmf_last_error(), "different vocabularies"), "loglinear: %d %s", (int)s,
              lmf_last_error());
    lmf_gate_tune_opts go = {0};
    lmf_gate_fit fit;
    s = lmf_tune_gate(ab, 2, &dev, &go, &fit); /* takes a and b */
    a = b = NULL;
    CHECK_MSG(s == LMF_ERR_DATA && contains(lmf_last_error(), "different vocabularies"), "gate: %d %s", (int)s,
              lmf_last_error());
    lmf_tokens_free(&dev);
done:
    lmf_model_free(a);
    lmf_model_free(b);
    lmf_model_free(c);
}

/* ---------------- non-finite parameters (item 8) ---------------- */

/* Copies a safetensors model with element `at` of tensor `name` set to `val`. */
static void poison_safetensors(const char *src, const char *dst, const char *name, size_t at, float val) {
    static const char *const keys[] = {"lmfuse.arch", "lmfuse.vocab", "lmfuse.token_mode", "lmfuse.heads",
                                       "lmfuse.classes", "lmfuse.train", "lmfuse.progress", NULL};
    lmf_safetensors *st;
    lmf_status s = lmf_st_open(src, &st);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    if (s) return;
    lmf_st_writer *w = lmf_st_writer_new();
    size_t n = lmf_st_count(st);
    float **bufs = (float **)calloc(n, sizeof *bufs);
    for (size_t i = 0; i < n && !s; i++) {
        const lmf_st_tensor *t = lmf_st_at(st, i);
        bufs[i] = (float *)malloc(t->numel * sizeof(float) + 1);
        s = lmf_st_to_f32(t, bufs[i]);
        if (!s && !strcmp(t->name, name)) bufs[i][at] = val;
        if (!s) s = lmf_st_add(w, t->name, LMF_DT_F32, t->ndim, t->shape, bufs[i]);
    }
    for (int k = 0; keys[k] && !s; k++)
        if (lmf_st_meta(st, keys[k])) s = lmf_st_set_meta(w, keys[k], lmf_st_meta(st, keys[k]));
    if (!s) s = lmf_st_write(w, dst);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    lmf_st_writer_free(w);
    for (size_t i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    lmf_st_close(st);
}

static void check_refused(const char *path, const char *want) {
    lmf_model *m = NULL;
    lmf_status s = lmf_model_load(path, &m);
    CHECK_MSG(s == LMF_ERR_FORMAT && contains(lmf_last_error(), want), "%s: status %d, message \"%s\" (want \"%s\")",
              path, (int)s, lmf_last_error(), want);
    lmf_model_free(m);
}

static void test_nonfinite_nn(void) {
    const char *p = tmp_path("hostile_nan_lstm.safetensors");
    poison_safetensors(tdata("rnnlm_lstm.safetensors"), p, "rnn.weight_hh_l0", 3, NAN);
    check_refused(p, "tensor \"rnn.weight_hh_l0\" holds NaN at element 3");
    poison_safetensors(tdata("rnnlm_lstm.safetensors"), p, "decoder.bias", 0, -INFINITY);
    check_refused(p, "tensor \"decoder.bias\" holds -inf at element 0");
    p = tmp_path("hostile_inf_tf.safetensors");
    poison_safetensors(tdata("rnnlm_transformer.safetensors"), p, "tok_emb.weight", 5, INFINITY);
    check_refused(p, "tensor \"tok_emb.weight\" holds +inf at element 5");
    /* the copy itself (no poison) loads: the check refuses only bad values */
    poison_safetensors(tdata("rnnlm_transformer.safetensors"), p, "none", 0, 0);
    lmf_model *m = NULL;
    CHECK_MSG(lmf_model_load(p, &m) == LMF_OK, "%s", lmf_last_error());
    lmf_model_free(m);
}

/* The binary n-gram checksum (src/ngram/binary.c), recomputed after an edit. */
static void rechecksum(unsigned char *b, size_t size) {
    uint64_t ck = 0x6c6d666e6772616dULL, zero = 0;
    memcpy(b + 48, &zero, 8); /* the checksum field */
    for (size_t o = 0; o + 8 <= size; o += 8) {
        uint64_t x;
        memcpy(&x, b + o, 8);
        ck = (ck ^ lmf_mix64(x)) * 0x9fb21c651e98df25ULL;
    }
    memcpy(b + 48, &ck, 8);
}

static void test_nonfinite_binary(void) {
    lmf_ngram_train_opts to;
    lmf_ngram_train_opts_init(&to);
    to.order = 2;
    const char *path = tmp_path("hostile.lmfb"), *bad = tmp_path("hostile_nan.lmfb");
    lmf_status s = lmf_ngram_train_save(tdata("train-tiny.txt"), &to, path, NULL, NULL);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    if (s) return;
    FILE *fp = fopen(path, "rb");
    unsigned char *b = (unsigned char *)malloc(1 << 20);
    size_t n = fp ? fread(b, 1, 1 << 20, fp) : 0;
    if (fp) fclose(fp);
    CHECK(n > 512 && n < (1 << 20));
    uint64_t uni_off, nslots2, slots2;
    /* struct bin_header: uni_off at 72, then count[], nslots[] and slots_off[] (u64 each, LMF_NGRAM_MAX_ORDER + 1) */
    memcpy(&uni_off, b + 72, 8);
    memcpy(&nslots2, b + 80 + 8 * (LMF_NGRAM_MAX_ORDER + 1) + 2 * 8, 8);
    memcpy(&slots2, b + 80 + 16 * (LMF_NGRAM_MAX_ORDER + 1) + 2 * 8, 8);
    /* unchanged but re-summed: still loads (the offsets above are right) */
    rechecksum(b, n);
    write_file(bad, (const char *)b, n);
    lmf_model *m = NULL;
    CHECK_MSG(lmf_model_load(bad, &m) == LMF_OK, "%s", lmf_last_error());
    lmf_model_free(m);
    /* a NaN unigram probability */
    float nan = NAN, inf = INFINITY, f;
    memcpy(&f, b + uni_off + 4 * 5, 4);
    memcpy(b + uni_off + 4 * 5, &nan, 4);
    rechecksum(b, n);
    write_file(bad, (const char *)b, n);
    check_refused(bad, "unigram 5 has log10 probability nan");
    memcpy(b + uni_off + 4 * 5, &f, 4);
    /* an infinite bigram backoff */
    size_t slot = 0;
    for (; slot < nslots2; slot++) {
        uint64_t key;
        memcpy(&key, b + slots2 + 16 * slot, 8);
        if (key) break;
    }
    CHECK(slot < nslots2);
    memcpy(b + slots2 + 16 * slot + 12, &inf, 4);
    rechecksum(b, n);
    write_file(bad, (const char *)b, n);
    check_refused(bad, "2-gram has log10 probability");
    /* the same without verifying the checksum (the check then has a pass of
     * its own instead of riding on the checksum's) */
    lmf_ngram_load_opts lo;
    lmf_ngram_load_opts_init(&lo);
    lo.verify_checksum = 0;
    lmf_ngram *ng = NULL;
    s = lmf_ngram_load_binary(bad, &lo, &ng);
    CHECK_MSG(s == LMF_ERR_FORMAT && contains(lmf_last_error(), "2-gram has log10 probability") && !ng,
              "unverified: status %d, %s", (int)s, lmf_last_error());
    lmf_ngram_free(ng);
    /* NaN in an empty slot holds no n-gram: the model loads, both ways */
    float zero = 0;
    memcpy(b + slots2 + 16 * slot + 12, &zero, 4);
    size_t empty = 0;
    for (; empty < nslots2; empty++) {
        uint64_t key;
        memcpy(&key, b + slots2 + 16 * empty, 8);
        if (!key) break;
    }
    CHECK(empty < nslots2);
    memcpy(b + slots2 + 16 * empty + 8, &nan, 4);
    rechecksum(b, n);
    write_file(bad, (const char *)b, n);
    CHECK_MSG(lmf_model_load(bad, &m) == LMF_OK, "NaN in an empty slot: %s", lmf_last_error());
    lmf_model_free(m);
    ng = NULL;
    CHECK_MSG(lmf_ngram_load_binary(bad, &lo, &ng) == LMF_OK, "NaN in an empty slot, unverified: %s", lmf_last_error());
    lmf_ngram_free(ng);
    free(b);
}

/* ARPA: -inf is probability 0 (some toolkits write it); NaN and +inf are refused. */
static void test_arpa_inf(void) {
    const char *p = tmp_path("hostile_inf.arpa");
    const char *ok = "\\data\\\nngram 1=4\n\n\\1-grams:\n-1.0\t<unk>\n-0.5\t</s>\n-inf\t<s>\t-0.3\n-0.6\tthe\n\n\\end\\\n";
    write_file(p, ok, strlen(ok));
    lmf_model *m = NULL;
    CHECK_MSG(lmf_model_load(p, &m) == LMF_OK, "%s", lmf_last_error());
    lmf_model_free(m);
    const char *bads[] = {
        "\\data\\\nngram 1=4\n\n\\1-grams:\n-1.0\t<unk>\n-0.5\t</s>\n-99\t<s>\t-0.3\nnan\tthe\n\n\\end\\\n",
        "\\data\\\nngram 1=4\n\n\\1-grams:\n-1.0\t<unk>\n-0.5\t</s>\n-99\t<s>\t-0.3\ninf\tthe\n\n\\end\\\n",
        "\\data\\\nngram 1=4\n\n\\1-grams:\n-1.0\t<unk>\n-0.5\t</s>\n-99\t<s>\tnan\n-0.6\tthe\n\n\\end\\\n",
        "\\data\\\nngram 1=4\n\n\\1-grams:\n-1.0\t<unk>\n-0.5\t</s>\n-99\t<s>\t-inf\n-0.6\tthe\n\n\\end\\\n",
    };
    const char *line[] = {":8:", ":8:", ":7:", ":7:"}; /* the file and line of the bad number */
    for (int i = 0; i < 4; i++) {
        write_file(p, bads[i], strlen(bads[i]));
        lmf_status s = lmf_model_load(p, &m);
        CHECK_MSG(s == LMF_ERR_FORMAT && contains(lmf_last_error(), line[i]), "case %d: %d %s", i, (int)s,
                  lmf_last_error());
        if (!s) lmf_model_free(m);
    }
}

int main(void) {
    test_train_logs();
    test_json_numbers();
    test_recipe_numbers();
    test_tune_vocab();
    test_nonfinite_nn();
    test_nonfinite_binary();
    test_arpa_inf();
    printf("test_hostile_lib: %d checks, %d failures\n", test_checks, test_failures);
    return test_failures != 0;
}
