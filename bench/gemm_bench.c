/* Float matrix products at lmfuse's shapes, side by side in one process:
 * OpenBLAS (cblas_sgemm, with the kernel it picks; OPENBLAS_CORETYPE
 * decides where set), lmfuse's own kernel (lmf_sgemm, and lmf_sgemm_p with
 * B packed beforehand, as loaded models do), and where given, BLIS
 * (bli_sgemm) and oneDNN (dnnl_sgemm) loaded with dlopen from the paths in
 * LMF_BENCH_BLIS and LMF_BENCH_DNNL (bench/gemm_peers.sh fetches Debian's
 * packages and sets them), plus lmfuse's bfloat16 products.
 *
 * Shapes: the output layer at the Brown configuration (1,120 rows x 256 x
 * 14,039: logits, and the two gradient products, the logits' gradient
 * already in bfloat16 for the bfloat16 column, laid out as training leaves
 * it), and the recurrent step of an LSTM of 256 (a batch of 32 rows, and
 * one stream: 1 row, h W_hh^T, 1,024 x 256).  Milliseconds per product
 * (best of 5; the one-stream row: per 1,000 products) and GFLOP/s.
 *
 *   cmake --build build --target bench_gemm bench_peak
 *   taskset -c 0 build/bench_gemm [threads]      # or bench/gemm_peers.sh
 *   taskset -c 0 build/bench_peak                # the peak to read them against
 */
#define _POSIX_C_SOURCE 200809L
#include "../src/nn/gemm.h"
#include "../src/nn/nn_impl.h"
#include "../src/core/util_impl.h"

#include <cblas.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef void (*bli_sgemm_fn)(int, int, int64_t, int64_t, int64_t, const float *, const float *, int64_t, int64_t,
                             const float *, int64_t, int64_t, const float *, float *, int64_t, int64_t);
typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,
                             int64_t, float, float *, int64_t);
static bli_sgemm_fn blis;
static dnnl_sgemm_fn dnnl;
static const char *blis_arch = "";

static void *peer(const char *env, const char *sym) {
    const char *p = getenv(env);
    if (!p || !*p) return NULL;
    void *h = dlopen(p, RTLD_NOW | RTLD_LOCAL);
    void *f = h ? dlsym(h, sym) : NULL;
    if (!f) fprintf(stderr, "bench_gemm: %s=%s: %s not loaded (%s)\n", env, p, sym, dlerror());
    if (f && !strcmp(sym, "bli_sgemm")) {
        int (*qid)(void) = (int (*)(void))dlsym(h, "bli_arch_query_id");
        const char *(*str)(int) = (const char *(*)(int))dlsym(h, "bli_arch_string");
        if (qid && str) blis_arch = str(qid());
    }
    return f;
}

typedef struct prod {
    const char *name;
    int ta, tb, M, N, K, lda, ldb, ldc, reps; /* reps: products per timing */
    const float *A, *B;
    const uint16_t *A16; /* the bfloat16 column's A, or NULL: from A */
    float beta, *C;
} prod;

enum { OPENBLAS, OWN, PACKED, BLIS, DNNL, BF16, COLS };
static const char *col_name[COLS] = {"OpenBLAS", "lmfuse", "lmfuse, B packed", "BLIS", "oneDNN", "lmfuse bf16"};

/* One product by candidate c; 0 if c does not apply. */
static int run(const prod *p, int c, const float *bp) {
    const float one = 1.0f;
    for (int r = 0; r < p->reps; r++) switch (c) {
        case OPENBLAS:
            cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans, p->M,
                        p->N, p->K, 1.0f, p->A, p->lda, p->B, p->ldb, p->beta, p->C, p->ldc);
            break;
        case OWN: lmf_sgemm(p->ta, p->tb, p->M, p->N, p->K, p->A, p->lda, p->B, p->ldb, p->beta, p->C, p->ldc); break;
        case PACKED:
            if (!bp) return 0;
            lmf_sgemm_p(p->ta, p->M, p->N, p->K, p->A, p->lda, bp, p->beta, p->C, p->ldc);
            break;
        case BLIS: /* row-major through strides: element (i, k) of A' at rs * i + cs * k */
            if (!blis) return 0;
            blis(0, 0, p->M, p->N, p->K, &one, p->A, p->ta ? 1 : p->lda, p->ta ? p->lda : 1, p->B, p->tb ? 1 : p->ldb,
                 p->tb ? p->ldb : 1, &p->beta, p->C, p->ldc, 1);
            break;
        case DNNL:
            if (!dnnl) return 0;
            dnnl(p->ta ? 'T' : 'N', p->tb ? 'T' : 'N', p->M, p->N, p->K, 1.0f, p->A, p->lda, p->B, p->ldb, p->beta,
                 p->C, p->ldc);
            break;
        case BF16:
            if (p->A16)
                lmf_gemm_bf16a(p->ta, p->tb, p->M, p->N, p->K, p->A16, 2 * p->lda, p->B, p->ldb, p->beta, p->C,
                               p->ldc);
            else
                lmf_gemm_bf16(p->ta, p->tb, p->M, p->N, p->K, p->A, p->lda, p->B, p->ldb, p->beta, p->C, p->ldc);
            break;
        }
    return 1;
}

int main(int argc, char **argv) {
    const int N = 1120, H = 256, V = 14039, B = 32, GH = 4 * H, threads = argc > 1 ? atoi(argv[1]) : 1;
    lmf_set_threads(threads);
    blis = (bli_sgemm_fn)peer("LMF_BENCH_BLIS", "bli_sgemm");
    dnnl = (dnnl_sgemm_fn)peer("LMF_BENCH_DNNL", "dnnl_sgemm");
    float *X = malloc((size_t)N * H * sizeof *X), *W = malloc((size_t)V * H * sizeof *W),
          *G = malloc((size_t)N * V * sizeof *G), *dW = calloc((size_t)V * H, sizeof *dW),
          *dX = malloc((size_t)N * H * sizeof *dX), *Whh = malloc((size_t)GH * H * sizeof *Whh),
          *Hs = malloc((size_t)B * H * sizeof *Hs), *Gh = malloc((size_t)B * GH * sizeof *Gh);
    uint16_t *G16 = malloc((size_t)N * V * 2 * sizeof *G16);
    if (!X || !W || !G || !dW || !dX || !G16 || !Whh || !Hs || !Gh) return 1;
    srand(1);
    for (size_t i = 0; i < (size_t)N * H; i++) X[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)V * H; i++) W[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)N * V; i++) G[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)GH * H; i++) Whh[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t)B * H; i++) Hs[i] = (float)rand() / RAND_MAX - 0.5f;
    for (size_t r = 0; r < (size_t)N; r++)
        for (size_t v = 0; v < (size_t)V; v++) G16[r * 2 * V + v] = lmf_bf16_rne(G[r * V + v]);
    prod P[5] = {
        {"logits X W^T (1120 x 14039 x 256)", 0, 1, N, V, H, H, H, V, 1, X, W, NULL, 0.0f, G},
        {"dW G^T X (14039 x 256 x 1120)", 1, 0, V, H, N, V, H, H, 1, G, X, G16, 1.0f, dW},
        {"dX G W (1120 x 256 x 14039)", 0, 0, N, H, V, V, H, H, 1, G, W, G16, 0.0f, dX},
        {"step h W_hh^T (32 x 1024 x 256)", 0, 1, B, GH, H, H, H, GH, 1, Hs, Whh, NULL, 0.0f, Gh},
        {"one stream h W_hh^T (1 x 1024 x 256), x1000", 0, 1, 1, GH, H, H, H, GH, 1000, Hs, Whh, NULL, 0.0f, Gh},
    };
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("threads %d, OPENBLAS_CORETYPE %s, lmfuse float kernel %s, bfloat16 products %s%s%s\n", threads,
           ct && *ct ? ct : "unset", lmf_f32_kernel_available() ? "AVX-512" : "NOT available (OpenBLAS)",
           lmf_bf16_available() ? "available" : "NOT available (float fallback)", *blis_arch ? ", BLIS config " : "",
           blis_arch);
    printf("| product |");
    for (int c = 0; c < COLS; c++) printf(" %s ms | GFLOP/s |", col_name[c]);
    printf("\n|---|");
    for (int c = 0; c < COLS; c++) printf("---|---|");
    printf("\n");
    for (int q = 0; q < 5; q++) {
        const prod *p = &P[q];
        float *bp = malloc(lmf_sgemm_pack_floats(p->N, p->K) * sizeof *bp);
        if (bp) lmf_sgemm_pack(p->tb, p->N, p->K, p->B, p->ldb, bp);
        double best[COLS];
        int ran[COLS] = {0};
        for (int c = 0; c < COLS; c++) best[c] = 1e30;
        for (int rep = 0; rep < 5; rep++)
            for (int c = 0; c < COLS; c++) {
                double t = now();
                ran[c] = run(p, c, bp);
                t = now() - t;
                if (t < best[c]) best[c] = t;
            }
        const double flop = 2.0 * p->M * p->N * p->K * p->reps;
        printf("| %s |", p->name);
        for (int c = 0; c < COLS; c++)
            if (ran[c])
                printf(" %.2f | %.0f |", best[c] * 1e3, flop / best[c] * 1e-9);
            else
                printf(" - | - |");
        printf("\n");
        free(bp);
    }
    lmf_gemm_bf16_release();
    lmf_sgemm_release();
    free(X), free(W), free(G), free(dW), free(dX), free(G16), free(Whh), free(Hs), free(Gh);
    return 0;
}
