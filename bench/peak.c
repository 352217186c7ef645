/* This core's peak multiply-add rate, against which the GEMM and training
 * GFLOP/s of docs/benchmarks.md are read: 12 independent chains of
 * VFMADD231PS on zmm registers (float) and of VDPBF16PS (bfloat16 pairs,
 * float sums), 2e8 rounds each, on one thread.
 *
 *   cmake --build build --target bench_peak && taskset -c 0 build/bench_peak
 */
#define _POSIX_C_SOURCE 200809L
#include "../src/nn/nn_impl.h"

#include <stdio.h>
#include <time.h>

#if defined(__x86_64__) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 10))
#include <immintrin.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

enum { ROUNDS = 200000000, CHAINS = 12 };

__attribute__((target("avx512f"))) static double fma_rate(float *sink) {
    __m512 acc[CHAINS], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    double t = now();
    for (long r = 0; r < ROUNDS; r++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    t = now() - t;
    float s = 0;
    for (int i = 0; i < CHAINS; i++) s += _mm512_reduce_add_ps(acc[i]);
    *sink = s;
    return (double)ROUNDS * CHAINS * 16 * 2 / t * 1e-9;
}

__attribute__((target("avx512f,avx512bf16"))) static double dpbf16_rate(float *sink) {
    __m512 acc[CHAINS];
    const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = a; /* pairs of 1.0 */
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_setzero_ps();
    double t = now();
    for (long r = 0; r < ROUNDS; r++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    t = now() - t;
    float s = 0;
    for (int i = 0; i < CHAINS; i++) s += _mm512_reduce_add_ps(acc[i]);
    *sink = s;
    return (double)ROUNDS * CHAINS * 32 * 2 / t * 1e-9;
}

int main(void) {
    float sink;
    if (!__builtin_cpu_supports("avx512f")) {
        printf("no AVX-512 on this CPU\n");
        return 0;
    }
    printf("float  (VFMADD231PS zmm): %.1f GFLOP/s\n", fma_rate(&sink));
    if (lmf_bf16_available())
        printf("bfloat16 (VDPBF16PS zmm): %.1f GFLOP/s\n", dpbf16_rate(&sink));
    else
        printf("bfloat16: no AVX512_BF16 on this CPU\n");
    return sink == 12345.0f; /* keeps the sums alive */
}
#else
int main(void) {
    printf("bench_peak measures x86-64 AVX-512 only\n");
    return 0;
}
#endif
