/* The output layer's three matrix products at the Brown configuration
 * (1,120 rows x 256 x 14,039), in float with OpenBLAS (cblas_sgemm, with
 * whatever kernel it picks: OPENBLAS_CORETYPE decides where set) and with
 * lmfuse's own kernel (lmf_sgemm; for the logits also with the weights
 * packed beforehand, lmf_sgemm_p, as scoring does), and with bfloat16
 * inputs (lmfuse's lmf_gemm_bf16; the backward two read the
 * logits' gradient already in bfloat16, laid out as training leaves it:
 * row r at half the byte offset of its floats): milliseconds and GFLOP/s,
 * best of 5, in one process.  The peak against which training throughput is
 * reported in docs/benchmarks.md.
 *
 *   cmake --build build --target bench_gemm && taskset -c 0 build/bench_gemm [threads]
 */
#define _POSIX_C_SOURCE 200809L
#include "../src/nn/nn_impl.h"
#include "../src/core/util_impl.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    const int N = 1120, H = 256, V = 14039, threads = argc > 1 ? atoi(argv[1]) : 1;
    lmf_set_threads(threads);
    float *X = malloc((size_t)N * H * sizeof *X), *W = malloc((size_t)V * H * sizeof *W),
          *G = malloc((size_t)N * V * sizeof *G), *dW = calloc((size_t)V * H, sizeof *dW),
          *dX = malloc((size_t)N * H * sizeof *dX);
    uint16_t *G16 = malloc((size_t)N * V * 2 * sizeof *G16);
    if (!X || !W || !G || !dW || !dX || !G16) return 1;
    srand(1);
    for (size_t i = 0; i < (size_t)N * H; i++) X[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)V * H; i++) W[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)N * V; i++) G[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t r = 0; r < (size_t)N; r++)
        for (size_t v = 0; v < (size_t)V; v++) G16[r * 2 * V + v] = lmf_bf16_rne(G[r * V + v]);
    const double flop = 2.0 * N * H * V;
    const char *name[3] = {"logits  X W^T ", "dW     G^T X  ", "dX     G W    "};
    float *Wp = malloc(lmf_sgemm_pack_floats(V, H) * sizeof *Wp);
    if (!Wp) return 1;
    lmf_sgemm_pack(1, V, H, W, H, Wp);
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("threads %d, OPENBLAS_CORETYPE %s, lmfuse float kernel %s, bfloat16 products %s\n", threads,
           ct && *ct ? ct : "unset", lmf_f32_kernel_available() ? "AVX-512" : "NOT available (OpenBLAS)",
           lmf_bf16_available() ? "available" : "NOT available (float fallback)");
    printf("| product | OpenBLAS ms | GFLOP/s | lmfuse float ms | GFLOP/s | packed W ms | GFLOP/s | bf16 ms | GFLOP/s |\n"
           "|---|---|---|---|---|---|---|---|---|\n");
    for (int p = 0; p < 3; p++) {
        double best[4] = {1e9, 1e9, 1e9, 1e9};
        for (int rep = 0; rep < 5; rep++)
            for (int v = 0; v < 4; v++) {
                if (v == 2 && p != 0) continue;
                double t = now();
                if (p == 0 && v == 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, V, H, 1, X, H, W, H, 0, G, V);
                if (p == 0 && v == 1) lmf_sgemm(0, 1, N, V, H, X, H, W, H, 0, G, V);
                if (p == 0 && v == 2) lmf_sgemm_p(0, N, V, H, X, H, Wp, 0, G, V);
                if (p == 0 && v == 3) lmf_gemm_bf16(0, 1, N, V, H, X, H, W, H, 0, G, V);
                if (p == 1 && v == 0) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, H, N, 1, G, V, X, H, 1, dW, H);
                if (p == 1 && v == 1) lmf_sgemm(1, 0, V, H, N, G, V, X, H, 1, dW, H);
                if (p == 1 && v == 3) lmf_gemm_bf16a(1, 0, V, H, N, G16, 2 * V, X, H, 1, dW, H);
                if (p == 2 && v == 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, H, V, 1, G, V, W, H, 0, dX, H);
                if (p == 2 && v == 1) lmf_sgemm(0, 0, N, H, V, G, V, W, H, 0, dX, H);
                if (p == 2 && v == 3) lmf_gemm_bf16a(0, 0, N, H, V, G16, 2 * V, W, H, 0, dX, H);
                t = now() - t;
                if (t < best[v]) best[v] = t;
            }
        printf("| %s |", name[p]);
        for (int v = 0; v < 4; v++)
            if (best[v] < 1e9)
                printf(" %.1f | %.0f |", best[v] * 1e3, flop / best[v] * 1e-9);
            else
                printf(" - | - |");
        printf("\n");
    }
    lmf_gemm_bf16_release();
    lmf_sgemm_release();
    free(Wp);
    free(X), free(W), free(G), free(dW), free(dX), free(G16);
    return 0;
}
