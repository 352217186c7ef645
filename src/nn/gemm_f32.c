/* Float matrix products (nn_impl.h, lmf_sgemm): lmfuse's own AVX-512
 * kernel where the CPU has AVX-512F, OpenBLAS elsewhere.
 *
 * Why a kernel of our own: OpenBLAS picks its kernel from the CPU it
 * detects, or from OPENBLAS_CORETYPE when a host sets it (older OpenBLAS
 * builds misdetect new CPUs, so some hosts force Haswell).  With Haswell's
 * 256-bit kernel a core that executes 512-bit multiply-adds at full width
 * reaches half its float peak (docs/benchmarks.md).  This kernel is chosen
 * by CPUID alone, at run time; LMFUSE_NO_AVX512=1 forces OpenBLAS.
 *
 * Layout (the blocking of gemm_bf16.c, with single floats instead of
 * bfloat16 pairs):
 *
 *   A block, panels of MR rows:     ap[p * MR + i] = A'[i][k0 + p]
 *   B, panels of NR columns:        bp[p * NR + j] = B'[k0 + p][j]
 *
 * k in blocks of KC; each NR-wide panel of B (KC x NR floats) sits in L1
 * while the MR-row panels of an A block (MC x KC, in L2) stream past.  The
 * micro-kernel keeps an MR x NR tile of C in 24 registers and broadcasts
 * one element of A against two vectors of B per step.  Padding is zero, so
 * edges need no special kernel.
 *
 * Every element of C is summed the same way wherever it lies: for each k
 * block in order, the block's products are added one k at a time into a
 * float lane starting at 0 (fused multiply-add, fmaf(a, b, acc)), and then
 * C = fmaf(beta, C, acc) with beta 1 after the first block (beta 0: C = acc,
 * C not read).  tests/test_gemm.c checks this order bit for bit.  So
 * results do not depend on M, N, the tile an element falls in, the number
 * of threads, or whether B was packed beforehand (lmf_sgemm_pack): a row
 * scored alone equals the same row scored in a batch, bit for bit.  The
 * OpenBLAS path promises none of this (its sums differ by rounding). */
#define _POSIX_C_SOURCE 200809L
#include "gemm.h"
#include "../core/util_impl.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 10))
#define LMF_F32_BUILD 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#define MR 12
#define NR 32
#define MC 240 /* rows per A block (a multiple of MR) */
#define PFA 16   /* the A panel is fetched this many steps of k ahead */

/* k per block: 256 (a B panel of 32 KB), or all of K up to 320, so that an
 * output layer of width 256 or 320 updates C once. */
static int kc_of(int K) { return K <= 320 ? K : 256; }
#define KC kc_of(K)

static void blas(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda,
                B, ldb, beta, C, ldc);
}

static size_t a_floats(int K) { return (size_t)MC * KC; }
/* All of B for a band of n columns: every k block, NR-wide panels. */
static size_t b_floats(int n, int K) { return (size_t)((n + NR - 1) / NR) * NR * (size_t)K; }

void lmf_gemm_run_bands(void *(*fn)(void *), void *jobs, size_t size, int nt) {
    pthread_t th[8];
    int started[8] = {0};
    char *j = (char *)jobs;
    if (nt > 8) nt = 8;
    for (int t = 1; t < nt; t++) started[t] = !pthread_create(&th[t], NULL, fn, j + (size_t)t * size);
    fn(j);
    for (int t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(th[t], NULL);
        else
            fn(j + (size_t)t * size); /* no thread: its band here */
    }
}

#ifdef LMF_F32_BUILD

int lmf_f32_kernel_available(void) {
    static int known = -1;
    if (known >= 0) return known;
    unsigned a, b, c, d;
    int ok = 0;
    const char *off = getenv("LMFUSE_NO_AVX512"); /* OpenBLAS on any CPU (tests, comparisons) */
    if (off && *off && strcmp(off, "0") != 0) {
        known = 0;
        return 0;
    }
    /* AVX-512F: leaf 7, EBX bit 16; OSXSAVE (leaf 1, ECX bit 27) and the OS
     * saving the ZMM registers (XCR0 bits 1, 2, 5, 6, 7) */
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 16)) && __get_cpuid(1, &a, &b, &c, &d) &&
        (c & (1u << 27))) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        ok = (lo & 0xe6u) == 0xe6u;
    }
    known = ok;
    return ok;
}

#define TGT __attribute__((target("avx512f")))

static inline __mmask16 mask16(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n > 0 ? n : 0)) - 1); }

/* Panels of width W from a source whose element (k, c) is s[k * ld + c]:
 * columns 0 .. w (the last panel padded with zeros), kc values of k.
 * Panel q starts at dst + q * kc * W. */
TGT static void pack_rows(float *dst, int W, const float *s, size_t ld, int kc, int w) {
    const int npan = (w + W - 1) / W;
    for (int p = 0; p < kc; p++) {
        const float *r = s + (size_t)p * ld;
        for (int q = 0; q < npan; q++) {
            float *o = dst + ((size_t)q * kc + p) * W;
            const int c0 = q * W;
            for (int c = 0; c < W; c += 16)
                _mm512_mask_storeu_ps(o + c, mask16(W - c), _mm512_maskz_loadu_ps(mask16(w - c0 - c), r + c0 + c));
        }
    }
}

/* r[i] = column i of the 16 x 16 matrix whose rows are r[0..15]. */
TGT static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]); /* a0 b0 a1 b1 | a4 b4 a5 b5 | ... */
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44); /* a0 b0 c0 d0 | a4 b4 c4 d4 | ... */
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    /* u[4g + j] holds column j + 4l of rows 4g..4g+3 in its 128-bit lane l */
    for (int j = 0; j < 4; j++) {
        t[j] = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);      /* lanes 0, 2 of rows 0-3, then 0, 2 of rows 4-7 */
        t[4 + j] = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);  /* lanes 1, 3 */
        t[8 + j] = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
    }
    for (int j = 0; j < 4; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);       /* column j */
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);   /* column j + 8 */
        r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xdd);
    }
}

/* A panel of width W from a source whose element (k, c) is s[c * ld + k]:
 * columns c < w (zeros after), kc values of k.  Blocks of 16 columns by 16
 * values of k are transposed in registers. */
TGT static void pack_cols(float *dst, int W, const float *s, size_t ld, int kc, int w) {
    __m512 r[16];
    for (int c0 = 0; c0 < W; c0 += 16) {
        const __mmask16 out = mask16(W - c0);
        for (int k = 0; k < kc; k += 16) {
            const __mmask16 m = mask16(kc - k);
            for (int i = 0; i < 16; i++)
                r[i] = c0 + i < w ? _mm512_maskz_loadu_ps(m, s + (size_t)(c0 + i) * ld + k) : _mm512_setzero_ps();
            transpose16(r);
            float *o = dst + (size_t)k * W + c0;
            const int n = kc - k < 16 ? kc - k : 16;
            for (int p = 0; p < n; p++) _mm512_mask_storeu_ps(o + (size_t)p * W, out, r[p]);
        }
    }
}

/* C tile (mm x nn of MR x NR) = fma(beta, C, acc) (beta 0: C not read). */
TGT static void kernel(int kc, const float *a, const float *b, float *C, int ldc, int mm, int nn, float beta) {
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int i = 0; i < mm; i++) { /* C's tile, wanted at the end */
            _mm_prefetch((const char *)(C + (size_t)i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(C + (size_t)i * ldc + 31), _MM_HINT_T0);
    }
    for (int p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        _mm_prefetch((const char *)(a + PFA * MR), _MM_HINT_T0);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
        a += MR;
        b += NR;
    }
    const __mmask16 m0 = mask16(nn), m1 = mask16(nn - 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        if (i >= mm) break;
        float *r = C + (size_t)i * ldc;
        if (beta != 0.0f) {
            const __m512 bv = _mm512_set1_ps(beta);
            c0[i] = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m0, r), c0[i]);
            c1[i] = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m1, r + 16), c1[i]);
        }
        _mm512_mask_storeu_ps(r, m0, c0[i]);
        _mm512_mask_storeu_ps(r + 16, m1, c1[i]);
    }
}

/* Packs columns [j0, j1) of B (K x N: tb ? B[j][k] : B[k][j]) for every k
 * block: block k0 holds npan panels of NR columns, kc floats each. */
TGT static void pack_b(float *bp, int tb, int K, const float *B, int ldb, int j0, int j1) {
    const int n = j1 - j0, npan = (n + NR - 1) / NR;
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC;
        float *bk = bp + (size_t)npan * NR * k0;
        if (tb)
            for (int jp = 0; jp < npan; jp++) {
                int j = j0 + jp * NR, w = j1 - j < NR ? j1 - j : NR;
                pack_cols(bk + (size_t)jp * kc * NR, NR, B + (size_t)j * ldb + k0, (size_t)ldb, kc, w);
            }
        else
            pack_rows(bk, NR, B + (size_t)k0 * ldb + j0, (size_t)ldb, kc, n);
    }
}

typedef struct job {
    int ta, tb, M, N, K;
    const float *A, *B;
    int lda, ldb, ldc;
    float beta;
    float *C;
    int i0, i1, j0, j1; /* this thread's band of C */
    float *ap;          /* A block */
    float *bw;          /* room to pack the band's B; NULL: bp is packed already */
    const float *bp;    /* packed B: k blocks of bpan panels; the band starts at panel pan0 */
    int bpan, pan0;
    int c0; /* column j of the product goes to column j - c0 of C */
} job;

TGT static void run_job(const job *g) {
    const int K = g->K;
    const int n = g->j1 - g->j0, npan = (n + NR - 1) / NR;
    const float *bp = g->bp;
    int bpan = g->bpan, pan0 = g->pan0;
    if (g->bw) {
        pack_b(g->bw, g->tb, g->K, g->B, g->ldb, g->j0, g->j1);
        bp = g->bw, bpan = npan, pan0 = 0;
    }
    for (int m0 = g->i0; m0 < g->i1; m0 += MC) {
        const int mc = g->i1 - m0 < MC ? g->i1 - m0 : MC, mpan = (mc + MR - 1) / MR;
        for (int k0 = 0; k0 < g->K; k0 += KC) {
            const int kc = g->K - k0 < KC ? g->K - k0 : KC;
            const float beta = k0 ? 1.0f : g->beta;
            if (g->ta) /* A (M x K): ta ? A[k][i] : A[i][k] */
                pack_rows(g->ap, MR, g->A + (size_t)k0 * g->lda + m0, (size_t)g->lda, kc, mc);
            else
                for (int ip = 0; ip < mpan; ip++) {
                    int i = m0 + ip * MR, w = mc - ip * MR < MR ? mc - ip * MR : MR;
                    pack_cols(g->ap + (size_t)ip * kc * MR, MR, g->A + (size_t)i * g->lda + k0, (size_t)g->lda, kc, w);
                }
            const float *bk = bp + (size_t)bpan * NR * k0 + (size_t)pan0 * kc * NR;
            for (int jp = 0; jp < npan; jp++) {
                const int nn = n - jp * NR < NR ? n - jp * NR : NR;
                const float *bq = bk + (size_t)jp * kc * NR;
                for (int ip = 0; ip < mpan; ip++) {
                    const int mm = mc - ip * MR < MR ? mc - ip * MR : MR;
                    kernel(kc, g->ap + (size_t)ip * kc * MR, bq,
                           g->C + (size_t)(m0 + ip * MR) * g->ldc + (g->j0 - g->c0) + jp * NR, g->ldc, mm, nn,
                           beta);
                }
            }
        }
    }
}

static void *run_thread(void *p) {
    run_job((const job *)p);
    return NULL;
}

/* Packing buffers, kept per calling thread between calls (training and
 * scoring call this with the same shapes again and again). */
static _Thread_local float *ws;
static _Thread_local size_t ws_floats;
static _Thread_local float *cs; /* lmf_sgemm_p_cols: C's columns over whole panels */
static _Thread_local size_t cs_floats;

/* A thread's buffers (these and gemm_bf16.c's) are freed when it exits:
 * fusion and the demo call products from worker threads. */
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static int exit_key_ok;

static void at_thread_exit(void *p) {
    (void)p;
    lmf_sgemm_release();
    lmf_gemm_bf16_release();
}

static void make_exit_key(void) { exit_key_ok = pthread_key_create(&exit_key, at_thread_exit) == 0; }

void lmf_gemm_thread_buffers(void) {
    static _Thread_local int registered;
    if (registered) return;
    pthread_once(&exit_once, make_exit_key);
    if (exit_key_ok && pthread_setspecific(exit_key, &registered) == 0) registered = 1;
}

void lmf_sgemm_release(void) {
    free(ws);
    free(cs);
    ws = cs = NULL;
    ws_floats = cs_floats = 0;
}

/* A few rows (M < 4, a recurrent step, one position scored): each row of
 * C against B read in place (tb = 0) or from its panels, 128 columns at a
 * time in 8 accumulators, in the same order of sums as the tiles; columns
 * [jlo, jhi) of the product (jlo a panel's first with bp), column j at
 * column j - c0 of C. */
TGT static void few_rows(int ta, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                         const float *bp, float beta, float *C, int ldc, int jlo, int jhi, int c0) {
    const int kcb = KC, npan = (N + NR - 1) / NR;
    float av[320];
    for (int k0 = 0; k0 < K; k0 += kcb) {
        const int kc = K - k0 < kcb ? K - k0 : kcb;
        const float bt = k0 ? 1.0f : beta;
        const float *bk = bp ? bp + (size_t)npan * NR * k0 : NULL;
        for (int i = 0; i < M; i++) {
            for (int p = 0; p < kc; p++) av[p] = ta ? A[(size_t)(k0 + p) * lda + i] : A[(size_t)i * lda + k0 + p];
            float *r = C + (size_t)i * ldc - c0;
            for (int j0 = jlo; j0 < jhi; j0 += 128) {
                __m512 acc[8];
                __mmask16 m[8];
                const float *src[8];
                size_t step = bk ? NR : (size_t)ldb;
                for (int q = 0; q < 8; q++) {
                    const int j = j0 + 16 * q;
                    acc[q] = _mm512_setzero_ps();
                    m[q] = mask16(jhi - j);
                    src[q] = bk ? bk + (size_t)(j / NR) * kc * NR + j % NR : B + (size_t)k0 * ldb + j;
                    if (!m[q]) src[q] = src[0]; /* nothing read through it */
                }
                if (jhi - j0 >= 128) /* whole: no masks */
                    for (int p = 0; p < kc; p++) {
                        const __m512 a = _mm512_set1_ps(av[p]);
#pragma GCC unroll 8
                        for (int q = 0; q < 8; q++)
                            acc[q] = _mm512_fmadd_ps(a, _mm512_loadu_ps(src[q] + (size_t)p * step), acc[q]);
                    }
                else
                    for (int p = 0; p < kc; p++) {
                        const __m512 a = _mm512_set1_ps(av[p]);
#pragma GCC unroll 8
                        for (int q = 0; q < 8; q++)
                            acc[q] = _mm512_fmadd_ps(a, _mm512_maskz_loadu_ps(m[q], src[q] + (size_t)p * step), acc[q]);
                    }
                for (int q = 0; q < 8; q++) {
                    if (!m[q]) break;
                    float *o = r + j0 + 16 * q;
                    if (k0 || beta != 0.0f)
                        acc[q] = _mm512_fmadd_ps(_mm512_set1_ps(bt), _mm512_maskz_loadu_ps(m[q], o), acc[q]);
                    _mm512_mask_storeu_ps(o, m[q], acc[q]);
                }
            }
        }
    }
}

/* bp: B packed already by lmf_sgemm_pack (B and ldb unused).  Columns
 * [jlo, jhi) of the product (jlo a panel's first column with bp), column j
 * stored at column j - c0 of C.  0 without memory for the buffers. */
static int own(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bp,
               float beta, float *C, int ldc, int jlo, int jhi, int c0) {
    if (M < 4 && (bp || !tb)) {
        few_rows(ta, M, N, K, A, lda, B, ldb, bp, beta, C, ldc, jlo, jhi, c0);
        return 1;
    }
    if (M < 4) { /* B^T: packed first */
        if (b_floats(N, K) > ws_floats) {
            free(ws);
            lmf_gemm_thread_buffers();
            ws = (float *)aligned_alloc(64, b_floats(N, K) * sizeof *ws);
            ws_floats = ws ? b_floats(N, K) : 0;
            if (!ws) return 0;
        }
        pack_b(ws, 1, K, B, ldb, 0, N);
        few_rows(ta, M, N, K, A, lda, NULL, 0, ws, beta, C, ldc, jlo, jhi, c0);
        return 1;
    }
    int nt = lmf_gemm_threads();
    if (nt > 8) nt = 8;
    /* bands along the longer side, each at least a panel wide; no more
     * threads than the work is worth (about 2 MFLOP each) */
    const int by_cols = jhi - jlo >= M, len = by_cols ? jhi - jlo : M, unit = by_cols ? NR : MR;
    if (nt > (len + unit - 1) / unit) nt = (len + unit - 1) / unit;
    const double flop = 2.0 * M * (jhi - jlo) * K;
    if (nt > 1 && flop / nt < 2e6) nt = flop < 4e6 ? 1 : (int)(flop / 2e6);
    job g[8];
    size_t need = 0;
    for (int t = 0; t < nt; t++) {
        int lo = (int)((int64_t)len * t / nt / unit * unit),
            hi = t == nt - 1 ? len : (int)((int64_t)len * (t + 1) / nt / unit * unit);
        g[t] = (job){ta, tb, M, N, K, A, B, lda, ldb, ldc, beta, C, 0, M, jlo, jhi, NULL, NULL, bp, 0, 0, c0};
        if (by_cols) {
            g[t].j0 = jlo + lo;
            g[t].j1 = jlo + hi;
        } else {
            g[t].i0 = lo;
            g[t].i1 = hi;
        }
        g[t].bpan = (N + NR - 1) / NR;
        g[t].pan0 = g[t].j0 / NR;
        need += a_floats(K) + (bp ? 0 : b_floats(g[t].j1 - g[t].j0, K)) + 16;
    }
    if (need > ws_floats) {
        free(ws);
        lmf_gemm_thread_buffers();
        ws = (float *)aligned_alloc(64, need * sizeof *ws);
        ws_floats = ws ? need : 0;
        if (!ws) return 0;
    }
    float *p = ws;
    for (int t = 0; t < nt; t++) {
        g[t].ap = p;
        p += a_floats(K);
        if (!bp) {
            g[t].bw = p;
            p += b_floats(g[t].j1 - g[t].j0, K);
        }
        p = (float *)(((uintptr_t)p + 16 * sizeof *p + 63) & ~(uintptr_t)63);
    }
    lmf_gemm_run_bands(run_thread, g, sizeof g[0], nt);
    return 1;
}

#else /* no x86-64 AVX-512 build support */

int lmf_f32_kernel_available(void) { return 0; }
void lmf_sgemm_release(void) {}
void lmf_gemm_thread_buffers(void) {}

#endif

/* The packed B of the OpenBLAS path: B' (K x N) as N rows of K floats. */
static void pack_plain(int tb, int N, int K, const float *B, int ldb, float *dst) {
    for (int j = 0; j < N; j++)
        for (int k = 0; k < K; k++) dst[(size_t)j * K + k] = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
}

void lmf_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
               float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
#ifdef LMF_F32_BUILD
    if (K > 0 && lmf_f32_kernel_available() && own(ta, tb, M, N, K, A, lda, B, ldb, NULL, beta, C, ldc, 0, N, 0))
        return;
#endif
    blas(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

size_t lmf_sgemm_pack_floats(int N, int K) {
    if (N <= 0 || K <= 0) return 0;
    return lmf_f32_kernel_available() ? b_floats(N, K) : (size_t)N * K;
}

void lmf_sgemm_pack(int tb, int N, int K, const float *B, int ldb, float *dst) {
    if (N <= 0 || K <= 0) return;
#ifdef LMF_F32_BUILD
    if (lmf_f32_kernel_available()) {
        pack_b(dst, tb, K, B, ldb, 0, N);
        return;
    }
#endif
    pack_plain(tb, N, K, B, ldb, dst);
}

void lmf_sgemm_p(int ta, int M, int N, int K, const float *A, int lda, const float *Bp, float beta, float *C,
                 int ldc) {
    lmf_sgemm_p_cols(ta, M, N, K, A, lda, Bp, 0, N, beta, C, ldc); /* all columns: no scratch, the same path */
}

void lmf_sgemm_p_cols(int ta, int M, int N, int K, const float *A, int lda, const float *Bp, int j0, int j1,
                      float beta, float *C, int ldc) {
    if (M <= 0 || j1 <= j0) return;
#ifdef LMF_F32_BUILD
    if (K > 0 && lmf_f32_kernel_available()) {
        const int a = j0 / NR * NR, b = (j1 + NR - 1) / NR * NR < N ? (j1 + NR - 1) / NR * NR : N, w = b - a;
        if (a == j0 && b == j1 && own(ta, 0, M, N, K, A, lda, NULL, 0, Bp, beta, C, ldc, a, b, j0)) return;
        /* whole panels into a scratch block, then the wanted columns */
        const size_t need = (size_t)M * w;
        if (need > cs_floats) {
            free(cs);
            lmf_gemm_thread_buffers();
            cs = (float *)malloc(need * sizeof *cs);
            cs_floats = cs ? need : 0;
        }
        if (cs) {
            for (int i = 0; i < M && beta != 0.0f; i++)
                memcpy(cs + (size_t)i * w + (j0 - a), C + (size_t)i * ldc, (size_t)(j1 - j0) * sizeof *cs);
            if (own(ta, 0, M, N, K, A, lda, NULL, 0, Bp, beta, cs, w, a, b, a)) {
                for (int i = 0; i < M; i++)
                    memcpy(C + (size_t)i * ldc, cs + (size_t)i * w + (j0 - a), (size_t)(j1 - j0) * sizeof *cs);
                return;
            }
        }
        /* no memory: the same sums, plainly */
        const int kcb = KC, npan = (N + NR - 1) / NR;
        for (int i = 0; i < M; i++)
            for (int j = j0; j < j1; j++) {
                float *c = C + (size_t)i * ldc + (j - j0);
                for (int k0 = 0; k0 < K; k0 += kcb) {
                    const int kc = K - k0 < kcb ? K - k0 : kcb;
                    const float *bq = Bp + (size_t)npan * NR * k0 + (size_t)(j / NR) * kc * NR + j % NR;
                    float acc = 0;
                    for (int k = k0; k < k0 + kc; k++) {
                        const float x = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                        acc = fmaf(x, bq[(size_t)(k - k0) * NR], acc);
                    }
                    *c = k0 || beta != 0.0f ? fmaf(k0 ? 1.0f : beta, *c, acc) : acc;
                }
            }
        return;
    }
#endif
    blas(ta, 1, M, j1 - j0, K, A, lda, Bp + (size_t)j0 * K, K, beta, C, ldc);
}
