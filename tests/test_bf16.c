/* bfloat16 (train --bf16): the products (lmf_gemm_bf16 and its variants)
 * against a double reference over inputs rounded to bfloat16, and whole
 * recurrent networks with --bf16 against the same networks in float: two
 * windows forward and backward from the same weights (the second from the
 * carried state), each gradient tensor within bfloat16 rounding of the
 * float one.  Catches a bfloat16 path that drops or garbles one of the
 * products, which the ten-step loss comparisons of test_train.sh are too
 * coarse to see for the recurrent steps.  Without AVX512_BF16 the library
 * falls back to float products; those are checked, and the test then ends
 * as skipped (exit 77), since its real check could not run. */
#include "test.h"

#include "../src/nn/net.h"

static uint64_t rng = 12345;
static double urand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng >> 11) / 4503599627370496.0 - 1.0;
}

/* ---- bfloat16 products: against a double reference over the same inputs
 * rounded to bfloat16 (to nearest even, done here with integer arithmetic),
 * every transpose case, edges of every block size, 1 and 2 threads ---- */
static void gemm_bf16_case(int ta, int tb, int M, int N, int K, float beta) {
    const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
    const size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc(na * sizeof *A), *Bm = malloc(nb * sizeof *Bm), *C = malloc(nc * sizeof *C),
          *C0 = malloc(nc * sizeof *C0);
    for (size_t i = 0; i < na; i++) A[i] = (float)urand();
    for (size_t i = 0; i < nb; i++) Bm[i] = (float)urand();
    for (size_t i = 0; i < nc; i++) C0[i] = C[i] = (float)urand();
    lmf_gemm_bf16(ta, tb, M, N, K, A, lda, Bm, ldb, beta, C, ldc);
    const int exact = lmf_bf16_available(); /* else it is the float product */
    double worst = 0;
    int pad_ok = 1;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double s = beta * (double)C0[(size_t)i * ldc + j], mag = fabs(s);
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k],
                      b = tb ? Bm[(size_t)j * ldb + k] : Bm[(size_t)k * ldb + j];
                double p = exact ? (double)test_to_bf16(a) * test_to_bf16(b) : (double)a * b;
                s += p;
                mag += fabs(p);
            }
            worst = fmax(worst, fabs(C[(size_t)i * ldc + j] - s) / (mag + 1e-30));
        }
        for (int j = N; j < ldc; j++) pad_ok &= C[(size_t)i * ldc + j] == C0[(size_t)i * ldc + j];
    }
    CHECK_MSG(worst < 1e-6 && pad_ok, "gemm_bf16 ta %d tb %d %dx%dx%d beta %g: error %.3g of the magnitude%s", ta, tb,
              M, N, K, beta, worst, pad_ok ? "" : ", and it wrote past N");
    /* A given in bfloat16 (even lda): the same sums as from the floats */
    if (exact) {
        const int l16 = lda + lda % 2;
        uint16_t *A16 = malloc((size_t)(ta ? K : M) * l16 * sizeof *A16);
        for (int r = 0; r < (ta ? K : M); r++)
            for (int q = 0; q < lda; q++) {
                float f = test_to_bf16(A[(size_t)r * lda + q]);
                uint32_t u;
                memcpy(&u, &f, 4);
                A16[(size_t)r * l16 + q] = (uint16_t)(u >> 16);
            }
        float *C2 = malloc(nc * sizeof *C2);
        memcpy(C2, C0, nc * sizeof *C2);
        lmf_gemm_bf16a(ta, tb, M, N, K, A16, l16, Bm, ldb, beta, C2, ldc);
        double d = 0;
        for (size_t i = 0; i < nc; i++) d = fmax(d, fabs(C2[i] - C[i]));
        CHECK_MSG(d == 0, "gemm_bf16a ta %d tb %d %dx%dx%d: differs from gemm_bf16 by %.3g", ta, tb, M, N, K, d);
        free(A16), free(C2);
    }
    /* B packed once (lmf_bf16_pack): the same sums, bit for bit; without
     * AVX512_BF16, the float sums over B rounded to bfloat16 */
    uint32_t *bp = malloc(lmf_bf16_pack_words(N, K) * sizeof *bp + 1);
    float *C3 = malloc(nc * sizeof *C3);
    memcpy(C3, C0, nc * sizeof *C3);
    lmf_bf16_pack(tb, N, K, Bm, ldb, bp);
    lmf_gemm_bf16p(ta, M, N, K, A, lda, bp, beta, C3, ldc);
    double d = 0, worst3 = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            const size_t o = (size_t)i * ldc + j;
            if (exact || j >= N) {
                d = fmax(d, fabs(C3[o] - (exact ? C[o] : C0[o])));
                continue;
            }
            double s = beta * (double)C0[o], mag = fabs(s);
            for (int k = 0; k < K; k++) {
                double p = (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                           test_to_bf16(tb ? Bm[(size_t)j * ldb + k] : Bm[(size_t)k * ldb + j]);
                s += p;
                mag += fabs(p);
            }
            worst3 = fmax(worst3, fabs(C3[o] - s) / (mag + 1e-30));
        }
    CHECK_MSG(d == 0 && worst3 < 1e-6, "gemm_bf16p ta %d tb %d %dx%dx%d: differs from gemm_bf16 by %.3g (%.3g)", ta,
              tb, M, N, K, d, worst3);
    free(bp), free(C3);
    free(A), free(Bm), free(C), free(C0);
}
static void test_gemm_bf16(void) {
    for (int th = 1; th <= 2; th++) {
        lmf_set_threads(th);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                gemm_bf16_case(ta, tb, 37, 45, 301, 0.0f);  /* odd k, edges of MR and NR */
                gemm_bf16_case(ta, tb, 200, 70, 777, 1.0f); /* several k blocks and row blocks */
                gemm_bf16_case(ta, tb, 13, 500, 9, 0.5f);   /* wide, bands of columns */
                gemm_bf16_case(ta, tb, 1, 1, 1, 0.0f);
            }
    }
    lmf_set_threads(1);
    lmf_gemm_bf16_release();
    /* bfloat16 rounding: halves go to even, NaN stays NaN */
    CHECK(test_to_bf16(1.0f + 0x1p-8f) == 1.0f && test_to_bf16(1.0f + 0x3p-8f) == 1.0f + 0x1p-6f);
    if (lmf_bf16_available()) {
        float a[2] = {NAN, 1.0f}, b[2] = {1.0f, 1.0f}, c = 0;
        lmf_gemm_bf16(0, 0, 1, 1, 2, a, 2, b, 1, 0.0f, &c, 1);
        CHECK(isnan(c));
        lmf_gemm_bf16_release();
    }
}


/* ||a - b|| / ||b|| */
static double rel_l2(const float *a, const float *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return sqrt(d / (s + 1e-300));
}

typedef struct tensor {
    const char *name;
    int layer; /* -1: not a layer's */
    const float *a, *b; /* --bf16, float */
    size_t n;
} tensor;

static void check_arch(int arch) {
    enum { L = 2, E = 32, HID = 32, V = 60, NB = 4, NT = 8 };
    const char *an = lmf_arch_names[arch];
    lmf_net *net[2] = {NULL, NULL};
    for (int bf = 0; bf < 2; bf++) {
        lmf_net_cfg c = {arch, L, E, HID, V, 1, 0, 0, 0, 0.0f, NB, NT, 0, NULL, NULL, bf};
        CHECK_MSG(lmf_rnn_net_new(&c, 7, &net[bf]) == LMF_OK, "%s: %s", an, lmf_last_error());
    }
    if (!net[0] || !net[1]) return;
    int32_t x[NT * NB], y[NT * NB];
    double nll[2] = {0, 0};
    for (int w = 0; w < 2; w++) {
        for (int i = 0; i < NT * NB; i++) x[i] = (i * 17 + w * 5 + 3) % V, y[i] = (i * 29 + w * 11 + 1) % V;
        for (int bf = 0; bf < 2; bf++) {
            double l;
            CHECK(net[bf]->ops->window(net[bf], x, y, NT, 1.0f / (NT * NB), 0, &l) == LMF_OK);
            nll[bf] += l;
        }
    }
    CHECK_MSG(fabs(nll[1] - nll[0]) < 1e-3 * nll[0], "%s --bf16: loss %.9g, float %.9g", an, nll[1], nll[0]);
    lmf_rnn_cfg rc = {arch, L, E, HID, V, 1, 0, NULL, NULL};
    lmf_rnn_params g32, g16;
    lmf_rnn_layout(&rc, net[0]->grad, &g32);
    lmf_rnn_layout(&rc, net[1]->grad, &g16);
    const size_t GH = (size_t)(arch == LMF_ARCH_LSTM ? 4 : arch == LMF_ARCH_GRU ? 3 : 1) * HID;
    tensor t[2 + 4 * L];
    int nt = 0;
    t[nt++] = (tensor){"embedding", -1, g16.emb, g32.emb, (size_t)V * E};
    t[nt++] = (tensor){"output bias", -1, g16.dec_b, g32.dec_b, (size_t)V};
    for (int l = 0; l < L; l++) {
        t[nt++] = (tensor){"W_ih", l, g16.wih[l], g32.wih[l], GH * (l ? HID : E)};
        t[nt++] = (tensor){"W_hh", l, g16.whh[l], g32.whh[l], GH * HID};
        t[nt++] = (tensor){"b_ih", l, g16.bih[l], g32.bih[l], GH};
        t[nt++] = (tensor){"b_hh", l, g16.bhh[l], g32.bhh[l], GH};
    }
    for (int i = 0; i < nt; i++) {
        double e = rel_l2(t[i].a, t[i].b, t[i].n);
        CHECK_MSG(e < 2e-2, "%s --bf16: gradient of %s (layer %d) is %.3g away from the float one (relative)", an,
                  t[i].name, t[i].layer, e);
    }
    net[0]->ops->free(net[0]);
    net[1]->ops->free(net[1]);
}

int main(void) {
    test_gemm_bf16();
    check_arch(LMF_ARCH_RNN);
    check_arch(LMF_ARCH_LSTM);
    check_arch(LMF_ARCH_GRU);
    lmf_gemm_bf16_release();
    if (!lmf_bf16_available()) TEST_MAIN_END_SKIP("no AVX512_BF16 on this CPU: only the float fallback was checked");
    TEST_MAIN_END();
}
