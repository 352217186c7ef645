/* Text module tests: vocabulary building/saving/loading, token modes,
 * reading with OOVs, bad input (invalid UTF-8, long lines, reserved
 * tokens), float formatting round trip, allocation failures. */
#include "test.h"

#include "lmf/text.h"
#include "../src/core/util_impl.h"

static void test_vocab_build(void) {
    const char *text = "b a c a\nc a d\n\n<unk> b\n";
    write_file(tmp_path("v.txt"), text, strlen(text));
    lmf_vocab *v;
    CHECK(lmf_vocab_build_file(tmp_path("v.txt"), NULL, &v) == LMF_OK);
    /* counts: a 3, b 2, c 2, d 1; ties by first appearance: b before c */
    CHECK(lmf_vocab_size(v) == 6);
    size_t l;
    CHECK(!strcmp(lmf_vocab_word(v, 0, &l), "<unk>") && !strcmp(lmf_vocab_word(v, 1, &l), "</s>"));
    CHECK(!strcmp(lmf_vocab_word(v, 2, &l), "a") && !strcmp(lmf_vocab_word(v, 3, &l), "b"));
    CHECK(!strcmp(lmf_vocab_word(v, 4, &l), "c") && !strcmp(lmf_vocab_word(v, 5, &l), "d"));
    CHECK(!strcmp(lmf_vocab_word(v, 6, &l), "<s>") && lmf_vocab_bos(v) == 6);
    CHECK(lmf_vocab_word(v, 7, &l) == NULL && lmf_vocab_word(v, -1, &l) == NULL);
    CHECK(lmf_vocab_find(v, "c", 1) == 4 && lmf_vocab_find(v, "zz", 2) == -1);
    CHECK(lmf_vocab_find(v, "<s>", 3) == 6 && lmf_vocab_find(v, "<unk>", 5) == LMF_UNK);
    /* save / load round trip */
    CHECK(lmf_vocab_save(v, tmp_path("v.vocab")) == LMF_OK);
    lmf_vocab *w;
    CHECK(lmf_vocab_load(tmp_path("v.vocab"), &w) == LMF_OK);
    CHECK(w && lmf_vocab_equal(v, w));
    lmf_vocab_free(w);
    lmf_vocab_free(v);

    lmf_vocab_opts o;
    lmf_vocab_opts_init(&o);
    o.min_count = 2;
    CHECK(lmf_vocab_build_file(tmp_path("v.txt"), &o, &v) == LMF_OK);
    CHECK(lmf_vocab_size(v) == 5 && lmf_vocab_find(v, "d", 1) == -1);
    lmf_vocab_free(v);
    o.min_count = 1;
    o.max_size = 1;
    CHECK(lmf_vocab_build_file(tmp_path("v.txt"), &o, &v) == LMF_OK);
    CHECK(lmf_vocab_size(v) == 3 && lmf_vocab_find(v, "a", 1) == 2);
    lmf_vocab_free(v);

    /* reserved tokens in text */
    write_file(tmp_path("r.txt"), "a b\nc <s> d\n", 12);
    CHECK(lmf_vocab_build_file(tmp_path("r.txt"), NULL, &v) == LMF_ERR_FORMAT && v == NULL);
    CHECK(strstr(lmf_last_error(), "r.txt:2:") && strstr(lmf_last_error(), "<s>"));

    /* malformed vocabulary files */
    write_file(tmp_path("bad.vocab"), "hello\n", 6);
    CHECK(lmf_vocab_load(tmp_path("bad.vocab"), &v) == LMF_ERR_FORMAT && v == NULL);
    write_file(tmp_path("bad.vocab"), "#lmfuse-vocab 1 word 5\n<unk>\n</s>\na\n", 35);
    CHECK(lmf_vocab_load(tmp_path("bad.vocab"), &v) == LMF_ERR_FORMAT && strstr(lmf_last_error(), "truncated"));
    write_file(tmp_path("bad.vocab"), "#lmfuse-vocab 1 word 4\n<unk>\n</s>\na\na\n", 37);
    CHECK(lmf_vocab_load(tmp_path("bad.vocab"), &v) == LMF_ERR_FORMAT && strstr(lmf_last_error(), ":5:"));
}

static void test_modes(void) {
    const char *text = "h\xc3\xa9 a\n\xe2\x82\xac\r\n";
    write_file(tmp_path("c.txt"), text, strlen(text));
    lmf_vocab_opts o;
    lmf_vocab_opts_init(&o);
    o.mode = LMF_TOK_CHAR;
    lmf_vocab *v;
    CHECK(lmf_vocab_build_file(tmp_path("c.txt"), &o, &v) == LMF_OK);
    /* h, é, space, a, € (CR before LF dropped) */
    CHECK(v && lmf_vocab_size(v) == 7);
    CHECK(lmf_vocab_find(v, "\xc3\xa9", 2) >= 2 && lmf_vocab_find(v, " ", 1) >= 2);
    lmf_tokens t;
    CHECK(lmf_tokens_read_file(tmp_path("c.txt"), v, NULL, &t) == LMF_OK);
    CHECK(t.n == 7 && t.lines == 2 && t.ids[4] == LMF_EOS && t.ids[6] == LMF_EOS);
    lmf_tokens_free(&t);
    /* save/load keeps the space token */
    CHECK(lmf_vocab_save(v, tmp_path("c.vocab")) == LMF_OK);
    lmf_vocab *w;
    CHECK(lmf_vocab_load(tmp_path("c.vocab"), &w) == LMF_OK && lmf_vocab_equal(v, w));
    lmf_vocab_free(w);
    lmf_vocab_free(v);
    o.mode = LMF_TOK_BYTE;
    CHECK(lmf_vocab_build_file(tmp_path("c.txt"), &o, &v) == LMF_OK);
    /* bytes: h c3 a9 ' ' a e2 82 ac */
    CHECK(v && lmf_vocab_size(v) == 10);
    lmf_vocab_free(v);
}

static void test_read(void) {
    write_file(tmp_path("train.txt"), "the cat\nthe dog\n", 16);
    lmf_vocab *v;
    CHECK(lmf_vocab_build_file(tmp_path("train.txt"), NULL, &v) == LMF_OK);
    const char *text = "the  bird\t<unk> cat\r\n\nthe";
    lmf_tokens t;
    CHECK(lmf_tokens_read_mem(text, strlen(text), "mem", v, NULL, &t) == LMF_OK);
    /* the bird <unk> cat </s> </s> the </s> */
    CHECK(t.n == 8 && t.lines == 3 && t.n_oov == 1 && t.n_unk == 1);
    CHECK(t.ids[1] == LMF_UNK && t.oov[1] == 1 && t.ids[2] == LMF_UNK && t.oov[2] == 0);
    CHECK(t.ids[4] == LMF_EOS && t.ids[5] == LMF_EOS && t.ids[7] == LMF_EOS);
    lmf_tokens_free(&t);
    lmf_read_opts ro;
    lmf_read_opts_init(&ro);
    ro.keep_oov_text = 1;
    CHECK(lmf_tokens_read_mem(text, strlen(text), "mem", v, &ro, &t) == LMF_OK);
    CHECK(t.oov_text && !strcmp(t.oov_text, "bird"));
    lmf_tokens_free(&t);
    ro.keep_oov_text = 0;
    ro.skip_empty = 1;
    CHECK(lmf_tokens_read_mem(text, strlen(text), "mem", v, &ro, &t) == LMF_OK && t.n == 7);
    lmf_tokens_free(&t);

    /* invalid UTF-8: error names file, line and column */
    const char *bad = "ok line\nthe \xff cat\n";
    CHECK(lmf_tokens_read_mem(bad, strlen(bad), "bad.txt", v, NULL, &t) == LMF_ERR_FORMAT);
    CHECK(strstr(lmf_last_error(), "bad.txt:2:5") != NULL);
    const char *overlong = "\xc0\xaf\n", *surrogate = "\xed\xa0\x80\n", *cut = "a \xe2\x82";
    CHECK(lmf_tokens_read_mem(overlong, strlen(overlong), "x", v, NULL, &t) == LMF_ERR_FORMAT);
    CHECK(lmf_tokens_read_mem(surrogate, strlen(surrogate), "x", v, NULL, &t) == LMF_ERR_FORMAT);
    CHECK(lmf_tokens_read_mem(cut, strlen(cut), "x", v, NULL, &t) == LMF_ERR_FORMAT);
    ro.skip_empty = 0;
    ro.utf8_check = 0;
    CHECK(lmf_tokens_read_mem(bad, strlen(bad), "bad.txt", v, &ro, &t) == LMF_OK && t.n_oov == 3);
    lmf_tokens_free(&t);

    /* a line over the limit */
    ro.utf8_check = 1;
    ro.max_line = 100;
    char *longl = malloc(1000);
    memset(longl, 'a', 999);
    longl[999] = 0;
    memcpy(longl, "x\ny\n", 4);
    CHECK(lmf_tokens_read_mem(longl, 999, "long.txt", v, &ro, &t) == LMF_ERR_FORMAT);
    CHECK(strstr(lmf_last_error(), "long.txt:3") != NULL);
    for (int i = 4; i < 999; i += 2) longl[i] = ' ';
    CHECK(lmf_tokens_read_mem(longl, 999, "long.txt", v, &ro, &t) == LMF_ERR_FORMAT);
    free(longl);

    /* reserved tokens, empty input */
    CHECK(lmf_tokens_read_mem("a </s> b\n", 9, "r.txt", v, NULL, &t) == LMF_ERR_FORMAT);
    CHECK(strstr(lmf_last_error(), "r.txt:1:") != NULL);
    CHECK(lmf_tokens_read_mem("", 0, "e.txt", v, NULL, &t) == LMF_OK && t.n == 0);
    lmf_tokens_free(&t);
    CHECK(lmf_tokens_read_file(tmp_path("does-not-exist.txt"), v, NULL, &t) == LMF_ERR_IO);
    CHECK(strstr(lmf_last_error(), "does-not-exist.txt") != NULL);
    lmf_vocab_free(v);
}

static void test_fmt_float(void) {
    uint64_t rng = 42;
    int bad = 0;
    char buf[32];
    for (int i = 0; i < 1000000; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        float v;
        if (i % 2) {
            uint32_t bits = (uint32_t)(rng >> 32);
            memcpy(&v, &bits, 4);
            if (isnan(v)) continue;
        } else {
            v = -(float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 10.0f; /* ARPA-like values */
        }
        lmf_fmt_float(buf, v);
        float back = strtof(buf, NULL);
        if (memcmp(&back, &v, 4) && !(v == 0 && back == 0)) {
            if (bad++ < 5) fprintf(stderr, "fmt %.9g -> %s -> %.9g\n", (double)v, buf, (double)back);
        }
    }
    CHECK(bad == 0);
    lmf_fmt_float(buf, -1.5f);
    CHECK(!strcmp(buf, "-1.5"));
    lmf_fmt_float(buf, -99.0f);
    CHECK(!strcmp(buf, "-99"));
    lmf_fmt_float(buf, 0.0f);
    CHECK(!strcmp(buf, "0"));
    lmf_fmt_float(buf, -INFINITY);
    CHECK(!strcmp(buf, "-inf"));
}

static void test_alloc_failures(void) {
    write_file(tmp_path("a.txt"), "one two three\ntwo three\nthree\n", 30);
    lmf_vocab *v = NULL;
    int ok = 0;
    for (uint64_t k = 1; k < 500 && !ok; k++) {
        lmf_alloc_fail_after(k);
        lmf_status s = lmf_vocab_build_file(tmp_path("a.txt"), NULL, &v);
        lmf_alloc_fail_after(0);
        if (s == LMF_OK) ok = 1;
        else CHECK(v == NULL && s == LMF_ERR_NOMEM);
    }
    CHECK(ok);
    ok = 0;
    for (uint64_t k = 1; k < 500 && !ok; k++) {
        lmf_tokens t;
        lmf_alloc_fail_after(k);
        lmf_status s = lmf_tokens_read_file(tmp_path("a.txt"), v, NULL, &t);
        lmf_alloc_fail_after(0);
        if (s == LMF_OK) {
            ok = 1;
            lmf_tokens_free(&t);
        } else {
            CHECK(s == LMF_ERR_NOMEM && t.ids == NULL);
        }
    }
    CHECK(ok);
    lmf_vocab_free(v);
}

int main(void) {
    test_vocab_build();
    test_modes();
    test_read();
    test_fmt_float();
    test_alloc_failures();
    TEST_MAIN_END();
}
