/* Private: matrix products, float (gemm_f32.c: lmfuse's AVX-512 kernel or
 * OpenBLAS) and bfloat16 (gemm_bf16.c), row-major as cblas_sgemm. */
#ifndef LMF_NN_GEMM_H
#define LMF_NN_GEMM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* C[M,N] = A' B' + beta C, A' [M,K] = A or A^T (ta), B' [K,N] likewise, all
 * row-major as for cblas_sgemm, in float (gemm_f32.c): lmfuse's own kernel
 * where lmf_f32_kernel_available() (AVX-512F, and the environment does not
 * set LMFUSE_NO_AVX512 to anything but "" or "0"), else OpenBLAS.  The own
 * kernel's sums do not depend on the shape of the call, the threads, or
 * packing (gemm_f32.c).  Runs in lmf_gemm_threads() threads; buffers are
 * kept per calling thread until lmf_sgemm_release(). */
int lmf_f32_kernel_available(void);
void lmf_sgemm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
               float *C, int ldc);
void lmf_sgemm_release(void);
/* Arranges for the calling thread's product buffers (float and bfloat16)
 * to be freed when it exits; the kernels call it when they allocate. */
void lmf_gemm_thread_buffers(void);
/* Runs fn on each of nt <= 8 jobs (jobs + t * size), job 0 on the calling
 * thread and the others on threads of their own (on the caller when a
 * thread cannot be made); returns when all are done. */
void lmf_gemm_run_bands(void *(*fn)(void *), void *jobs, size_t size, int nt);
/* B (K x N; tb: B[j][k], else B[k][j]) packed once into
 * lmf_sgemm_pack_floats(N, K) floats at dst, for many products with it (an
 * output layer's weights over every block of positions): lmf_sgemm_p is
 * lmf_sgemm with that B, bit for bit. */
size_t lmf_sgemm_pack_floats(int N, int K);
void lmf_sgemm_pack(int tb, int N, int K, const float *B, int ldb, float *dst);
void lmf_sgemm_p(int ta, int M, int N, int K, const float *A, int lda, const float *Bp, float beta, float *C,
                 int ldc);
/* Columns [j0, j1) of lmf_sgemm_p's product into C (column j at C's
 * column j - j0), the same bits as those columns of the whole product (a
 * class of an output layer from the whole layer's packed weights). */
void lmf_sgemm_p_cols(int ta, int M, int N, int K, const float *A, int lda, const float *Bp, int j0, int j1,
                      float beta, float *C, int ldc);

/* C[M,N] = A' B' + beta C, as lmf_sgemm: with the inputs rounded to bfloat16 (to
 * nearest even) and the sums in float (gemm_bf16.c).  Runs in lmf_gemm_threads()
 * threads.  Without AVX512_BF16 (lmf_bf16_available() is 0; also when the
 * environment sets LMFUSE_NO_BF16 to anything but "" or "0"), or without
 * memory for the packed copies, it is the same sums in plain float.
 * Buffers are kept per calling thread until lmf_gemm_bf16_release(). */
int lmf_bf16_available(void);
void lmf_gemm_bf16(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
                   float *C, int ldc);
/* The same with A already in bfloat16 (lda in bfloat16 values; with ta = 0,
 * lda and the start of A even). */
void lmf_gemm_bf16a(int ta, int tb, int M, int N, int K, const uint16_t *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc);
void lmf_gemm_bf16_release(void);
/* B (K x N; tb: B[j][k], else B[k][j]) rounded to bfloat16 and packed once
 * into lmf_bf16_pack_words(N, K) 32-bit words at dst, for many products
 * with it (a recurrent weight over the steps of a window):
 * lmf_gemm_bf16p is lmf_gemm_bf16 with that B, bit for bit. */
size_t lmf_bf16_pack_words(int N, int K);
void lmf_bf16_pack(int tb, int N, int K, const float *B, int ldb, uint32_t *dst);
void lmf_gemm_bf16p(int ta, int M, int N, int K, const float *A, int lda, const uint32_t *Bp, float beta, float *C,
                    int ldc);
/* float to bfloat16, to nearest even; NaN stays NaN. */
static inline uint16_t lmf_bf16_rne(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#endif
