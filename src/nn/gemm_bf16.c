/* Matrix products with bfloat16 inputs and float sums (nn_impl.h,
 * lmf_gemm_bf16), for CPUs with AVX512_BF16.
 *
 * VDPBF16PS multiplies pairs of bfloat16 values and adds both products to
 * a float lane, so the inner dimension k is consumed two at a time.  Both
 * operands are packed as 32-bit pairs (even k in the low half):
 *
 *   A block, panels of MR rows:     ap[p * MR + i] = (A[i][2p], A[i][2p+1])
 *   B block, panels of NR columns:  bp[p * NR + j] = (B[2p][j], B[2p+1][j])
 *
 * and the micro-kernel keeps an MR x NR tile of C in 24 registers,
 * broadcasting one A pair against two vectors of B pairs per step.  The
 * blocking is the usual one (Goto; BLIS): k in blocks of KC, the packed B
 * block in L2/L3 and each NR-wide panel of it in L1 while the rows of the A
 * block stream past.  Rounding to bfloat16 is to nearest even
 * (VCVTNE2PS2BF16); padding is zero, so edges need no special kernel.
 *
 * With lmf_gemm_threads() > 1 the output is split in column or row bands, one
 * per thread (each packs what its band needs). */
#define _POSIX_C_SOURCE 200809L
#include "gemm.h"
#include "../core/util_impl.h"

#include <cblas.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 10))
#define LMF_BF16_BUILD 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#define MR 12
#define NR 32
#define KC 384 /* k per block, even */
#define MC 192 /* rows per A block, a multiple of MR */
#define PF_ROWS 12 /* rows ahead to fetch when packing rows far apart in memory */

static void sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                  float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda,
                B, ldb, beta, C, ldc);
}

static float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static size_t a_words(void) { return (size_t)MC * (KC / 2); }
/* All of B for a band of n columns: every k block, NR-wide panels. */
static size_t b_words(int n, int K) { return (size_t)((n + NR - 1) / NR) * NR * (size_t)((K + 1) / 2); }

/* The packed layout of B (lmf_bf16_pack): k in blocks of KC; block k0
 * holds the NR-column panels one after another, each kp pairs of NR
 * 32-bit words; pair p of column j packs k = k0 + 2p (low half) and
 * k0 + 2p + 1 (high half), zero past K or N. */
static size_t b_index(int N, int K, int k, int j, int *high) {
    const int k0 = k / KC * KC, kc = K - k0 < KC ? K - k0 : KC, kp = (kc + 1) / 2, npan = (N + NR - 1) / NR;
    *high = (k - k0) & 1;
    return (size_t)npan * NR * (k0 / 2) + (size_t)(j / NR) * kp * NR + (size_t)((k - k0) / 2) * NR + (size_t)(j % NR);
}

/* The same layout without AVX512_BF16 (rounding as lmf_bf16_rne). */
static void pack_b_plain(uint32_t *dst, int tb, int N, int K, const float *B, int ldb) {
    memset(dst, 0, b_words(N, K) * sizeof *dst);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) {
            int high;
            size_t w = b_index(N, K, k, j, &high);
            uint32_t h = lmf_bf16_rne(tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
            dst[w] |= high ? h << 16 : h;
        }
}

static float b_value(const uint32_t *bp, int N, int K, int k, int j) {
    int high;
    uint32_t w = bp[b_index(N, K, k, j, &high)];
    return bf16_to_f32((uint16_t)(high ? w >> 16 : w & 0xffffu));
}

/* Without room for the packed copies: the same sums, plainly (slow, but
 * only when memory has run out). */
static void plain(int ta, int tb, int M, int N, int K, const float *A, const uint16_t *A16, int lda, const float *B,
                  int ldb, const uint32_t *bp, float beta, float *C, int ldc) {
    if (!A16 && !bp) {
        sgemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = 0;
            for (int k = 0; k < K; k++) {
                float a = A16 ? bf16_to_f32(ta ? A16[(size_t)k * lda + i] : A16[(size_t)i * lda + k])
                              : (ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]);
                acc += a * (bp ? b_value(bp, N, K, k, j) : (tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]));
            }
            float *c = C + (size_t)i * ldc + j;
            *c = beta != 0.0f ? beta * *c + acc : acc;
        }
}

#ifdef LMF_BF16_BUILD

int lmf_bf16_available(void) {
    static int known = -1;
    if (known >= 0) return known;
    unsigned a, b, c, d;
    int ok = 0;
    const char *off = getenv("LMFUSE_NO_BF16"); /* the portable path on any CPU (tests, comparisons) */
    if (off && *off && strcmp(off, "0") != 0) {
        known = 0;
        return 0;
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 16)) && (b & (1u << 30)) && (b & (1u << 31))) {
        unsigned a1, b1, c1, d1;
        /* AVX512_BF16: leaf 7, sub-leaf 1, EAX bit 5; and the OS saves the
         * ZMM registers (XCR0 bits 1, 2, 5, 6, 7) */
        if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) && (a1 & (1u << 5)) && __get_cpuid(1, &a, &b, &c, &d) &&
            (c & (1u << 27))) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            ok = (lo & 0xe6u) == 0xe6u;
        }
    }
    known = ok;
    return ok;
}

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* 16 pairs (lo[j], hi[j]) of bfloat16, lo in the low half. */
TGT static inline __m512i pair16(__m512 lo, __m512 hi) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

static inline __mmask16 mask16(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n > 0 ? n : 0)) - 1); }

/* Panels of width W from a source whose element (k, c) is s[k * ld + c]:
 * rows k0+2p and k0+2p+1 make pair p; columns 0 .. w (the last panel
 * padded with zeros), kc values of k.  Panel q starts at dst + q * kp * W.
 * Each pair of source rows is read once, left to right. */
TGT static void pack_rows(uint32_t *dst, int W, const float *s, size_t ld, int kc, int w) {
    const int kp = (kc + 1) / 2, npan = (w + W - 1) / W;
    for (int p = 0; p < kp; p++) {
        const float *r0 = s + (size_t)(2 * p) * ld, *r1 = 2 * p + 1 < kc ? r0 + ld : NULL;
        for (int q = 0; q < npan; q++) {
            uint32_t *o = dst + ((size_t)q * kp + p) * W;
            const int c0 = q * W;
            for (int c = 0; c < W; c += 16) {
                __mmask16 m = mask16(w - c0 - c);
                __m512 lo = _mm512_maskz_loadu_ps(m, r0 + c0 + c),
                       hi = r1 ? _mm512_maskz_loadu_ps(m, r1 + c0 + c) : _mm512_setzero_ps();
                _mm512_mask_storeu_epi32(o + c, mask16(W - c), pair16(lo, hi));
            }
        }
    }
}

/* A panel of width W from a source whose element (k, c) is s[c * ld + k]
 * (pairs adjacent in memory): columns c < w, kc values of k. */
TGT static void pack_cols(uint32_t *dst, int W, const float *s, size_t ld, int kc, int w) {
    const int kp = (kc + 1) / 2;
    uint32_t t[16];
    for (int c = 0; c < W; c++) {
        if (c >= w) {
            for (int p = 0; p < kp; p++) dst[(size_t)p * W + c] = 0;
            continue;
        }
        const float *r = s + (size_t)c * ld;
        for (int k = 0; k < kc; k += 32) {
            __m512 lo = _mm512_maskz_loadu_ps(mask16(kc - k), r + k),
                   hi = _mm512_maskz_loadu_ps(mask16(kc - k - 16), r + k + 16);
            _mm512_storeu_si512(t, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
            int q1 = kp - k / 2 < 16 ? kp - k / 2 : 16;
            uint32_t *o = dst + (size_t)(k / 2) * W + c;
            for (int q = 0; q < q1; q++) o[(size_t)q * W] = t[q];
        }
    }
}

/* pack_rows over a bfloat16 source (element (k, c) at s[k * ld + c]). */
TGT static void pack_rows16(uint32_t *dst, int W, const uint16_t *s, size_t ld, int kc, int w) {
    const int kp = (kc + 1) / 2, npan = (w + W - 1) / W;
    for (int p = 0; p < kp; p++) {
        const uint16_t *r0 = s + (size_t)(2 * p) * ld, *r1 = 2 * p + 1 < kc ? r0 + ld : NULL;
        if (2 * p + PF_ROWS + 1 < kc)
            for (int c = 0; c < w; c += 32) {
                _mm_prefetch((const char *)(r0 + PF_ROWS * ld + c), _MM_HINT_T0);
                _mm_prefetch((const char *)(r0 + (PF_ROWS + 1) * ld + c), _MM_HINT_T0);
            }
        for (int q = 0; q < npan; q++) {
            uint32_t *o = dst + ((size_t)q * kp + p) * W;
            const int c0 = q * W;
            for (int c = 0; c < W; c += 16) {
                __mmask16 m = mask16(w - c0 - c);
                __m512i lo = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, r0 + c0 + c)),
                        hi = r1 ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, r1 + c0 + c)) : _mm512_setzero_si512();
                _mm512_mask_storeu_epi32(o + c, mask16(W - c), _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
            }
        }
    }
}

/* pack_cols over a bfloat16 source (element (k, c) at s[c * ld + k]; ld
 * and the start even, so pairs are aligned 32-bit words). */
TGT static void pack_cols16(uint32_t *dst, int W, const uint16_t *s, size_t ld, int kc, int w) {
    const int kp = (kc + 1) / 2;
    for (int c = 0; c < W; c++) {
        if (c >= w) {
            for (int p = 0; p < kp; p++) dst[(size_t)p * W + c] = 0;
            continue;
        }
        const uint32_t *r = (const uint32_t *)(const void *)(s + (size_t)c * ld);
        if (c + 2 < w) /* the source rows are far apart: fetch the one after next */
            for (int k = 0; k < kc; k += 32) _mm_prefetch((const char *)(s + (size_t)(c + 2) * ld + k), _MM_HINT_T0);
        for (int p = 0; p < kc / 2; p++) dst[(size_t)p * W + c] = r[p];
        if (kc % 2) dst[(size_t)(kp - 1) * W + c] = r[kp - 1] & 0xffffu; /* little-endian: k even is low */
    }
}

/* C tile (mm x nn of MR x NR) = acc + beta C (beta 0: C not read). */
TGT static void kernel(int kp, const uint32_t *a, const uint32_t *b, float *C, int ldc, int mm, int nn, float beta) {
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int p = 0; p < kp; p++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i]);
            c0[i] = _mm512_dpbf16_ps(c0[i], ai, b0);
            c1[i] = _mm512_dpbf16_ps(c1[i], ai, b1);
        }
        a += MR;
        b += NR;
    }
    const __mmask16 m0 = mask16(nn), m1 = mask16(nn - 16);
    const __m512 bv = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        if (i >= mm) break;
        float *r = C + (size_t)i * ldc;
        if (beta != 0.0f) {
            c0[i] = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m0, r), c0[i]);
            c1[i] = _mm512_fmadd_ps(bv, _mm512_maskz_loadu_ps(m1, r + 16), c1[i]);
        }
        _mm512_mask_storeu_ps(r, m0, c0[i]);
        _mm512_mask_storeu_ps(r + 16, m1, c1[i]);
    }
}

typedef struct job {
    int ta, tb, M, N, K;
    const float *A, *B;
    const uint16_t *A16; /* A in bfloat16 instead (lmf_gemm_bf16a) */
    int lda, ldb, ldc;
    float beta;
    float *C;
    int i0, i1, j0, j1; /* this thread's band of C */
    uint32_t *ap;       /* A block */
    uint32_t *bw;       /* room to pack the band's B; NULL: bp is packed already */
    const uint32_t *bp; /* packed B: k blocks of bpan panels; the band starts at panel pan0 */
    int bpan, pan0;
} job;

/* Packs columns [j0, j1) of B (K x N: tb ? B[j][k] : B[k][j]) for every k
 * block: block k0 holds npan panels of NR columns, kp pairs each. */
TGT static void pack_b(uint32_t *bp, int tb, int K, const float *B, int ldb, int j0, int j1) {
    const int n = j1 - j0, npan = (n + NR - 1) / NR;
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC, kp = (kc + 1) / 2;
        uint32_t *bk = bp + (size_t)npan * NR * (k0 / 2);
        if (tb)
            for (int jp = 0; jp < npan; jp++) {
                int j = j0 + jp * NR, w = j1 - j < NR ? j1 - j : NR;
                pack_cols(bk + (size_t)jp * kp * NR, NR, B + (size_t)j * ldb + k0, (size_t)ldb, kc, w);
            }
        else
            pack_rows(bk, NR, B + (size_t)k0 * ldb + j0, (size_t)ldb, kc, n);
    }
}

/* The whole band of B is packed first (it is at most a few MB here), then
 * each block of MC rows of C is finished over all of k while it sits in
 * L2. */
TGT static void run_job(const job *g) {
    const int n = g->j1 - g->j0, npan = (n + NR - 1) / NR;
    const uint32_t *bp = g->bp;
    int bpan = g->bpan, pan0 = g->pan0;
    if (g->bw) {
        pack_b(g->bw, g->tb, g->K, g->B, g->ldb, g->j0, g->j1);
        bp = g->bw, bpan = npan, pan0 = 0;
    }
    for (int m0 = g->i0; m0 < g->i1; m0 += MC) {
        const int mc = g->i1 - m0 < MC ? g->i1 - m0 : MC, mpan = (mc + MR - 1) / MR;
        for (int k0 = 0; k0 < g->K; k0 += KC) {
            const int kc = g->K - k0 < KC ? g->K - k0 : KC, kp = (kc + 1) / 2;
            const float beta = k0 ? 1.0f : g->beta;
            if (g->A16 && g->ta)
                pack_rows16(g->ap, MR, g->A16 + (size_t)k0 * g->lda + m0, (size_t)g->lda, kc, mc);
            else if (g->A16)
                for (int ip = 0; ip < mpan; ip++) {
                    int i = m0 + ip * MR, w = mc - ip * MR < MR ? mc - ip * MR : MR;
                    pack_cols16(g->ap + (size_t)ip * kp * MR, MR, g->A16 + (size_t)i * g->lda + k0, (size_t)g->lda, kc,
                                w);
                }
            else if (g->ta) /* A (M x K): ta ? A[k][i] : A[i][k] */
                pack_rows(g->ap, MR, g->A + (size_t)k0 * g->lda + m0, (size_t)g->lda, kc, mc);
            else
                for (int ip = 0; ip < mpan; ip++) {
                    int i = m0 + ip * MR, w = mc - ip * MR < MR ? mc - ip * MR : MR;
                    pack_cols(g->ap + (size_t)ip * kp * MR, MR, g->A + (size_t)i * g->lda + k0, (size_t)g->lda, kc, w);
                }
            const uint32_t *bk = bp + (size_t)bpan * NR * (k0 / 2) + (size_t)pan0 * kp * NR;
            for (int jp = 0; jp < npan; jp++) {
                const int nn = n - jp * NR < NR ? n - jp * NR : NR;
                const uint32_t *bpan_p = bk + (size_t)jp * kp * NR;
                for (int ip = 0; ip < mpan; ip++) {
                    const int mm = mc - ip * MR < MR ? mc - ip * MR : MR;
                    kernel(kp, g->ap + (size_t)ip * kp * MR, bpan_p,
                           g->C + (size_t)(m0 + ip * MR) * g->ldc + g->j0 + jp * NR, g->ldc, mm, nn, beta);
                }
            }
        }
    }
}

static void *run_thread(void *p) {
    run_job((const job *)p);
    return NULL;
}

/* Packing buffers, kept between calls (training calls this with the same
 * shapes every step). */
static _Thread_local uint32_t *ws;
static _Thread_local size_t ws_words;

void lmf_gemm_bf16_release(void) {
    free(ws);
    ws = NULL;
    ws_words = 0;
}

/* bp: B packed already by lmf_bf16_pack (B and ldb unused). */
static void gemm(int ta, int tb, int M, int N, int K, const float *A, const uint16_t *A16, int lda, const float *B,
                 int ldb, const uint32_t *bp, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || !lmf_bf16_available()) {
        plain(ta, tb, M, N, K, A, A16, lda, B, ldb, bp, beta, C, ldc);
        return;
    }
    int nt = lmf_gemm_threads();
    if (nt > 8) nt = 8;
    /* bands along the longer side, each at least a panel wide */
    const int by_cols = N >= M, len = by_cols ? N : M, unit = by_cols ? NR : MR;
    if (nt > (len + unit - 1) / unit) nt = (len + unit - 1) / unit;
    job g[8];
    size_t need = 0;
    for (int t = 0; t < nt; t++) {
        int lo = (int)((int64_t)len * t / nt / unit * unit),
            hi = t == nt - 1 ? len : (int)((int64_t)len * (t + 1) / nt / unit * unit);
        g[t] = (job){ta, tb, M, N, K, A, B, A16, lda, ldb, ldc, beta, C, 0, M, 0, N, NULL, NULL, bp, 0, 0};
        if (by_cols) {
            g[t].j0 = lo;
            g[t].j1 = hi;
        } else {
            g[t].i0 = lo;
            g[t].i1 = hi;
        }
        g[t].bpan = (N + NR - 1) / NR;
        g[t].pan0 = g[t].j0 / NR;
        need += a_words() + (bp ? 0 : b_words(g[t].j1 - g[t].j0, K)) + 16;
    }
    if (need > ws_words) {
        free(ws);
        lmf_gemm_thread_buffers();
        ws = (uint32_t *)aligned_alloc(64, need * sizeof *ws);
        ws_words = ws ? need : 0;
        if (!ws) {
            plain(ta, tb, M, N, K, A, A16, lda, B, ldb, bp, beta, C, ldc);
            return;
        }
    }
    uint32_t *p = ws;
    for (int t = 0; t < nt; t++) {
        g[t].ap = p;
        p += a_words();
        if (!bp) {
            g[t].bw = p;
            p += b_words(g[t].j1 - g[t].j0, K);
        }
        p = (uint32_t *)(((uintptr_t)p + 16 * sizeof *p + 63) & ~(uintptr_t)63);
    }
    lmf_gemm_run_bands(run_thread, g, sizeof g[0], nt);
}

#else /* no x86-64 AVX-512 build support: the plain sums */

int lmf_bf16_available(void) { return 0; }
void lmf_gemm_bf16_release(void) {}
static void gemm(int ta, int tb, int M, int N, int K, const float *A, const uint16_t *A16, int lda, const float *B,
                 int ldb, const uint32_t *bp, float beta, float *C, int ldc) {
    plain(ta, tb, M, N, K, A, A16, lda, B, ldb, bp, beta, C, ldc);
}

#endif

void lmf_gemm_bf16(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                   float *C, int ldc) {
    gemm(ta, tb, M, N, K, A, NULL, lda, B, ldb, NULL, beta, C, ldc);
}

void lmf_gemm_bf16a(int ta, int tb, int M, int N, int K, const uint16_t *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc) {
    gemm(ta, tb, M, N, K, NULL, A, lda, B, ldb, NULL, beta, C, ldc);
}

size_t lmf_bf16_pack_words(int N, int K) { return N > 0 && K > 0 ? b_words(N, K) : 0; }

void lmf_bf16_pack(int tb, int N, int K, const float *B, int ldb, uint32_t *dst) {
    if (N <= 0 || K <= 0) return;
#ifdef LMF_BF16_BUILD
    if (lmf_bf16_available()) {
        pack_b(dst, tb, K, B, ldb, 0, N);
        return;
    }
#endif
    pack_b_plain(dst, tb, N, K, B, ldb);
}

void lmf_gemm_bf16p(int ta, int M, int N, int K, const float *A, int lda, const uint32_t *Bp, float beta, float *C,
                    int ldc) {
    gemm(ta, 0, M, N, K, A, NULL, lda, NULL, 0, Bp, beta, C, ldc);
}
