/* safetensors tests: a file written by an independent writer
 * (dev/make_safetensors.py), write/read round trip, malformed files,
 * allocation failures. */
#include "test.h"

#include "lmf/io.h"

#include <stdint.h>

static void test_reference_file(void) {
    lmf_safetensors *st;
    lmf_status s = lmf_st_open(tdata("tiny.safetensors"), &st);
    CHECK_MSG(s == LMF_OK, "%s", lmf_last_error());
    if (s) return;
    CHECK(lmf_st_count(st) == 5);
    CHECK(lmf_st_meta(st, "format") && !strcmp(lmf_st_meta(st, "format"), "pt"));
    CHECK(lmf_st_meta(st, "lmfuse.arch") && !strcmp(lmf_st_meta(st, "lmfuse.arch"), "lstm"));
    CHECK(lmf_st_meta(st, "nope") == NULL);
    CHECK(!strcmp(lmf_st_at(st, 0)->name, "b.half")); /* data order */
    const lmf_st_tensor *a = lmf_st_find(st, "a.weight");
    CHECK(a && a->dtype == LMF_DT_F32 && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3 && a->numel == 6);
    float f[6];
    if (a) {
        CHECK(lmf_st_to_f32(a, f) == LMF_OK);
        for (int i = 0; i < 6; i++) CHECK(f[i] == 0.5f * i - 1);
    }
    const lmf_st_tensor *b = lmf_st_find(st, "b.half");
    if (b) {
        CHECK(lmf_st_to_f32(b, f) == LMF_OK);
        CHECK(f[0] == 1.0f && f[1] == -2.5f && f[2] == 65504.0f && f[3] == ldexpf(1.0f, -24));
    }
    const lmf_st_tensor *c = lmf_st_find(st, "c.bf16");
    if (c) {
        CHECK(lmf_st_to_f32(c, f) == LMF_OK);
        CHECK(f[0] == 1.0f && f[1] == -3.0f);
    }
    const lmf_st_tensor *d = lmf_st_find(st, "d.ids");
    CHECK(d && d->dtype == LMF_DT_I64 && d->numel == 3);
    if (d) {
        int64_t v[3];
        memcpy(v, d->data, sizeof v);
        CHECK(v[0] == 7 && v[1] == -1 && v[2] == (int64_t)1 << 40);
        CHECK(lmf_st_to_f32(d, f) == LMF_ERR_UNSUPPORTED);
    }
    const lmf_st_tensor *e = lmf_st_find(st, "e.empty");
    CHECK(e && e->numel == 0 && e->ndim == 2 && e->shape[1] == 5);
    lmf_st_close(st);
}

static void test_round_trip(void) {
    float w[12];
    for (int i = 0; i < 12; i++) w[i] = (float)i / 7.0f - 0.3f;
    int64_t ids[2] = {3, -9};
    int64_t s1[2] = {3, 4}, s2[1] = {2};
    lmf_st_writer *wr = lmf_st_writer_new();
    CHECK(lmf_st_add(wr, "layer.0.weight_ih_l0", LMF_DT_F32, 2, s1, w) == LMF_OK);
    CHECK(lmf_st_add(wr, "ids", LMF_DT_I64, 1, s2, ids) == LMF_OK);
    CHECK(lmf_st_add(wr, "ids", LMF_DT_I64, 1, s2, ids) == LMF_ERR_ARG);
    CHECK(lmf_st_add(wr, "__metadata__", LMF_DT_I64, 1, s2, ids) == LMF_ERR_ARG);
    CHECK(lmf_st_set_meta(wr, "vocab", "a\nb \"quoted\" \\ \xc3\xa9") == LMF_OK);
    CHECK(lmf_st_set_meta(wr, "k", "v1") == LMF_OK && lmf_st_set_meta(wr, "k", "v2") == LMF_OK);
    CHECK(lmf_st_write(wr, tmp_path("rt.safetensors")) == LMF_OK);
    lmf_st_writer_free(wr);
    lmf_safetensors *st;
    CHECK(lmf_st_open(tmp_path("rt.safetensors"), &st) == LMF_OK);
    if (!st) return;
    const lmf_st_tensor *t = lmf_st_find(st, "layer.0.weight_ih_l0");
    CHECK(t && t->nbytes == sizeof w && !memcmp(t->data, w, sizeof w));
    CHECK(((uintptr_t)t->data % 8) == 0); /* header padded so data is aligned */
    CHECK(!strcmp(lmf_st_meta(st, "vocab"), "a\nb \"quoted\" \\ \xc3\xa9"));
    CHECK(!strcmp(lmf_st_meta(st, "k"), "v2"));
    lmf_st_close(st);
}

static void write_st(const char *path, const char *json, const void *data, size_t dlen) {
    FILE *fp = fopen(path, "wb");
    uint64_t n = strlen(json);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(n >> (8 * i));
    fwrite(len8, 1, 8, fp);
    fwrite(json, 1, n, fp);
    fwrite(data, 1, dlen, fp);
    fclose(fp);
}

static void test_malformed(void) {
    static const struct {
        const char *json;
        size_t dlen;
        const char *want;
    } cases[] = {
        {"[1,2]", 0, "not a JSON object"},
        {"{\"a\":", 0, "not a JSON object"},
        {"{\"a\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "known \"dtype\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "4 bytes for a F32 tensor of 2"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 4, "outside the 4-byte data buffer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "trailing garbage"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap or overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],"
         "\"data_offsets\":[0,4]}}",
         4, "gap or overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
         "\"data_offsets\":[4,8]}}",
         8, "appears twice"},
        {"{\"__metadata__\":{\"x\":1}}", 0, "not a string"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "dimensions"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "overflows"},
        {"{\"a\":7}", 0, "needs a known"},
    };
    unsigned char zeros[16] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_st(tmp_path("bad.safetensors"), cases[i].json, zeros, cases[i].dlen);
        lmf_safetensors *st = (lmf_safetensors *)1;
        lmf_status s = lmf_st_open(tmp_path("bad.safetensors"), &st);
        CHECK_MSG(s == LMF_ERR_FORMAT && st == NULL, "case %zu accepted", i);
        CHECK_MSG(strstr(lmf_last_error(), cases[i].want) && strstr(lmf_last_error(), "bad.safetensors"),
                  "case %zu: \"%s\" lacks \"%s\"", i, lmf_last_error(), cases[i].want);
    }
    /* truncations of a good file */
    FILE *fp = fopen(tdata("tiny.safetensors"), "rb");
    unsigned char buf[1024];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    for (size_t cut = 0; cut < n; cut += 7) {
        write_file(tmp_path("cut.safetensors"), (const char *)buf, cut);
        lmf_safetensors *st = NULL;
        CHECK_MSG(lmf_st_open(tmp_path("cut.safetensors"), &st) == LMF_ERR_FORMAT && !st, "cut at %zu accepted",
                  cut);
    }
    write_file(tmp_path("huge.safetensors"), "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10);
    lmf_safetensors *st = NULL;
    CHECK(lmf_st_open(tmp_path("huge.safetensors"), &st) == LMF_ERR_FORMAT);
    CHECK(lmf_st_open(tmp_path("missing.safetensors"), &st) == LMF_ERR_IO);
}

static void test_alloc_failures(void) {
    int ok = 0;
    for (uint64_t k = 1; k < 500 && !ok; k++) {
        lmf_safetensors *st = NULL;
        lmf_alloc_fail_after(k);
        lmf_status s = lmf_st_open(tdata("tiny.safetensors"), &st);
        lmf_alloc_fail_after(0);
        if (s == LMF_OK) ok = 1;
        else CHECK_MSG(st == NULL && s == LMF_ERR_NOMEM, "k=%llu: %s", (unsigned long long)k, lmf_last_error());
        lmf_st_close(st);
    }
    CHECK(ok);
}

int main(void) {
    test_reference_file();
    test_round_trip();
    test_malformed();
    test_alloc_failures();
    TEST_MAIN_END();
}
