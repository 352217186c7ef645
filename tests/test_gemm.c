/* Float matrix products (lmf_sgemm, lmf_sgemm_pack, lmf_sgemm_p;
 * src/nn/gemm_f32.c).
 *
 * With lmfuse's own kernel (AVX-512F): every element bit for bit equal to
 * the order of sums the kernel promises, computed here one element at a
 * time with fmaf (k blocks of 256, or all of K up to 320); hence equal
 * across call shapes (a row alone or in a batch), threads, and B packed
 * beforehand or not.  On either path (own kernel or OpenBLAS, which
 * LMFUSE_NO_AVX512=1 forces: ctest runs this file both ways), every element
 * within 1e-6 of the magnitude of its terms of a double reference, every
 * transpose case, edges of every block, 1 and 2 threads, and nothing
 * written past N. */
#include "test.h"

#include "../src/nn/nn_impl.h"
#include "../src/core/util_impl.h"

static uint64_t rng = 2024;
static double urand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng >> 11) / 4503599627370496.0 - 1.0;
}

/* The promised order (gemm_f32.c): per k block, acc from 0 by fmaf in k
 * order, then C = fmaf(beta, C, acc), beta 1 after the first block. */
static float promised(int ta, int tb, int i, int j, int K, const float *A, int lda, const float *B, int ldb,
                      float beta, float c) {
    const int kcb = K <= 320 ? K : 256;
    for (int k0 = 0; k0 < K; k0 += kcb) {
        float acc = 0;
        for (int k = k0; k < K && k < k0 + kcb; k++)
            acc = fmaf(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k],
                       tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j], acc);
        c = k0 || beta != 0.0f ? fmaf(k0 ? 1.0f : beta, c, acc) : acc;
    }
    return c;
}

static void gemm_case(int ta, int tb, int M, int N, int K, float beta) {
    const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
    const size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc(na * sizeof *A), *Bm = malloc(nb * sizeof *Bm), *C = malloc(nc * sizeof *C),
          *C0 = malloc(nc * sizeof *C0), *C2 = malloc(nc * sizeof *C2);
    float *bp = malloc((lmf_sgemm_pack_floats(N, K) + 1) * sizeof *bp);
    if (!A || !Bm || !C || !C0 || !C2 || !bp) {
        CHECK_MSG(0, "out of memory");
        return;
    }
    for (size_t i = 0; i < na; i++) A[i] = (float)urand();
    for (size_t i = 0; i < nb; i++) Bm[i] = (float)urand();
    for (size_t i = 0; i < nc; i++) C0[i] = C[i] = (float)urand();
    lmf_sgemm(ta, tb, M, N, K, A, lda, Bm, ldb, beta, C, ldc);
    const int own = lmf_f32_kernel_available();
    double worst = 0;
    int pad_ok = 1, order_bad = 0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            const size_t o = (size_t)i * ldc + j;
            double s = beta * (double)C0[o], mag = fabs(s);
            for (int k = 0; k < K; k++) {
                double p = (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                           (tb ? Bm[(size_t)j * ldb + k] : Bm[(size_t)k * ldb + j]);
                s += p;
                mag += fabs(p);
            }
            worst = fmax(worst, fabs(C[o] - s) / (mag + 1e-30));
            if (own) {
                float e = promised(ta, tb, i, j, K, A, lda, Bm, ldb, beta, C0[o]);
                order_bad += memcmp(&e, &C[o], sizeof e) != 0;
            }
        }
        for (int j = N; j < ldc; j++) pad_ok &= C[(size_t)i * ldc + j] == C0[(size_t)i * ldc + j];
    }
    CHECK_MSG(worst < 1e-6 && pad_ok, "sgemm ta %d tb %d %dx%dx%d beta %g: error %.3g of the magnitude%s", ta, tb, M,
              N, K, beta, worst, pad_ok ? "" : ", and it wrote past N");
    CHECK_MSG(order_bad == 0, "sgemm ta %d tb %d %dx%dx%d beta %g: %d elements not summed in the promised order", ta,
              tb, M, N, K, beta, order_bad);

    /* B packed once: the same as lmf_sgemm, bit for bit on the own kernel,
     * within rounding on OpenBLAS (its NT and NN cases may differ) */
    memcpy(C2, C0, nc * sizeof *C2);
    bp[lmf_sgemm_pack_floats(N, K)] = 12345.0f;
    lmf_sgemm_pack(tb, N, K, Bm, ldb, bp);
    lmf_sgemm_p(ta, M, N, K, A, lda, bp, beta, C2, ldc);
    double d = 0;
    for (size_t i = 0; i < nc; i++) d = fmax(d, fabs((double)C2[i] - C[i]));
    CHECK_MSG((own ? d == 0 : d <= 1e-6 * (K + 1)) && bp[lmf_sgemm_pack_floats(N, K)] == 12345.0f,
              "sgemm_p ta %d tb %d %dx%dx%d: differs from sgemm by %.3g, or packing overran", ta, tb, M, N, K, d);

    /* column ranges of the packed product (a class of an output layer):
     * those columns of C2, bit for bit on the own kernel */
    const int ranges[4][2] = {{0, N}, {N / 3, N / 2 + 1}, {N > 33 ? 32 : 0, N > 33 ? 33 : 1}, {N - 1, N}};
    for (int r = 0; r < 4; r++) {
        const int j0 = ranges[r][0], j1 = ranges[r][1], w = j1 - j0;
        if (w <= 0) continue;
        float *R = malloc((size_t)M * w * sizeof *R);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < w; j++) R[(size_t)i * w + j] = C0[(size_t)i * ldc + j0 + j];
        lmf_sgemm_p_cols(ta, M, N, K, A, lda, bp, j0, j1, beta, R, w);
        double dr = 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < w; j++)
                dr = fmax(dr, fabs((double)R[(size_t)i * w + j] - C2[(size_t)i * ldc + j0 + j]));
        CHECK_MSG(own ? dr == 0 : dr <= 1e-6 * (K + 1), "sgemm_p_cols ta %d %dx%dx%d columns %d..%d: differ by %.3g", ta,
                  M, N, K, j0, j1, dr);
        free(R);
    }

    /* each row alone (M = 1): the batch's row, bit for bit on the own kernel */
    if (own) {
        memcpy(C2, C0, nc * sizeof *C2);
        for (int i = 0; i < M; i++)
            lmf_sgemm(ta, tb, 1, N, K, ta ? A + i : A + (size_t)i * lda, lda, Bm, ldb, beta, C2 + (size_t)i * ldc,
                      ldc);
        CHECK_MSG(memcmp(C2, C, nc * sizeof *C) == 0, "sgemm ta %d tb %d %dx%dx%d: a row alone differs from the batch",
                  ta, tb, M, N, K);
    }
    free(A), free(Bm), free(C), free(C0), free(C2), free(bp);
}

/* 1 and 2 threads give the same bits on the own kernel. */
static void threads_case(int M, int N, int K) {
    float *A = malloc((size_t)M * K * sizeof *A), *Bm = malloc((size_t)K * N * sizeof *Bm),
          *C1 = malloc((size_t)M * N * sizeof *C1), *C2 = malloc((size_t)M * N * sizeof *C2);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)urand();
    for (size_t i = 0; i < (size_t)K * N; i++) Bm[i] = (float)urand();
    lmf_set_threads(1);
    lmf_sgemm(0, 1, M, N, K, A, K, Bm, K, 0.0f, C1, N);
    lmf_set_threads(2);
    lmf_sgemm(0, 1, M, N, K, A, K, Bm, K, 0.0f, C2, N);
    lmf_set_threads(1);
    if (lmf_f32_kernel_available())
        CHECK_MSG(memcmp(C1, C2, (size_t)M * N * sizeof *C1) == 0, "sgemm %dx%dx%d: 2 threads differ from 1", M, N, K);
    else
        /* OpenBLAS's sums differ by rounding with the thread count; the
         * terms are products of values in [-1, 1), so K bounds the sum of
         * their magnitudes */
        CHECK_ALLCLOSE("sgemm, 2 threads against 1", C2, C1, (size_t)M * N, 1e-6 * K, 0);
    free(A), free(Bm), free(C1), free(C2);
}

int main(void) {
    for (int th = 1; th <= 2; th++) {
        lmf_set_threads(th);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                gemm_case(ta, tb, 37, 45, 301, 0.0f);  /* one k block (K <= 320), edges of MR and NR */
                gemm_case(ta, tb, 250, 70, 777, 1.0f); /* several k blocks (and a short last one), row blocks */
                gemm_case(ta, tb, 13, 500, 9, 0.5f);   /* wide: bands of columns */
                gemm_case(ta, tb, 500, 20, 40, 0.0f);  /* tall: bands of rows */
                gemm_case(ta, tb, 1, 1, 1, 0.0f);
                gemm_case(ta, tb, 3, 17, 321, -2.0f); /* K just past one block */
            }
    }
    lmf_set_threads(1);
    threads_case(96, 1000, 256);
    threads_case(1000, 64, 600);
    /* NaN and infinities propagate as in any product */
    float a[2] = {NAN, 1.0f}, b[2] = {1.0f, 1.0f}, c = 0;
    lmf_sgemm(0, 0, 1, 1, 2, a, 2, b, 1, 0.0f, &c, 1);
    CHECK(isnan(c));
    lmf_sgemm_release();
    printf("float kernel: %s\n", lmf_f32_kernel_available() ? "lmfuse AVX-512" : "OpenBLAS");
    TEST_MAIN_END();
}
