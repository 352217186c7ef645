/* Neural-network kernels: the element-wise ones instantiated from
 * ops_t.h for float and double, and the BLAS-backed matmul. */
#include "nn_impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define LMF_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
/* with AVX-512 BW (16-bit lanes) for the kernels that write bfloat16 */
#define LMF_CLONES_BW __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define LMF_CLONES
#define LMF_CLONES_BW
#endif

/* e^x for float, branch-free so that loops over it vectorise: x = k ln2 + r
 * with |r| <= ln2/2 and a degree-7 Taylor polynomial for e^r; relative
 * error below 2e-7 on [-87, 88] (arguments outside are clamped; NaN gives
 * NaN).  k is read from the bits of 1.5*2^23 + k, not converted from a
 * float, which would be undefined for NaN. */
static inline float exp_fast(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    const float kb = x * 1.44269504088896341f + 12582912.0f; /* round to nearest: k in the low mantissa bits */
    const float k = kb - 12582912.0f;
    float r = x - k * 0.693145751953125f;
    r = r - k * 1.428606765330187045e-06f;
    float q = 1.0f / 5040;
    q = q * r + 1.0f / 720;
    q = q * r + 1.0f / 120;
    q = q * r + 1.0f / 24;
    q = q * r + 1.0f / 6;
    q = q * r + 0.5f;
    q = q * r + 1.0f;
    q = q * r + 1.0f;
    uint32_t kbits;
    memcpy(&kbits, &kb, sizeof kbits);
    const uint32_t bits = (kbits - 0x4B400000u + 127u) << 23; /* 2^k */
    float sc;
    memcpy(&sc, &bits, sizeof sc);
    return q * sc;
}
/* tanh through e^{-2|x|}: absolute error below 2e-7. */
static inline float tanh_fast(float x) {
    float e = exp_fast(-2.0f * fabsf(x)), t = (1.0f - e) / (1.0f + e);
    return x < 0 ? -t : t;
}
/* The normal distribution function Phi(x) = erfc(-x/sqrt 2) / 2, with
 * erfc(z) = t e^{-z^2 + P(t)}, t = 1/(1 + z/2), for z = |x|/sqrt 2 >= 0:
 * the Chebyshev fit of Press et al. (Numerical Recipes, "erfcc"; fractional
 * error below 1.2e-7), so that both tails keep their relative accuracy. */
static inline float phi_fast(float x) {
    const float z = fabsf(x) * 0.70710678118654752f, t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    const float h = 0.5f * t * exp_fast(p - z * z); /* Phi(-|x|) */
    return x < 0 ? h : 1.0f - h;
}

#define T float
#define SFX(name) name##_f32
#define CELL_EXP exp_fast
#define CELL_TANH tanh_fast
#define PHI phi_fast
#define KERNEL LMF_CLONES
#define EXP expf
#define TANH tanhf
#define LOG logf
#define SQRT sqrtf
#include "ops_t.h"
#undef T
#undef SFX
#undef EXP
#undef TANH
#undef LOG
#undef SQRT
#undef PHI
#undef CELL_EXP
#undef CELL_TANH
#undef KERNEL

#define T double
#define SFX(name) name##_f64
#define CELL_EXP exp
#define CELL_TANH tanh
#define PHI(x) (0.5 * erfc(-(x) * 0.70710678118654752440))
#define KERNEL
#define EXP exp
#define TANH tanh
#define LOG log
#define SQRT sqrt
#include "ops_t.h"
#undef T
#undef SFX
#undef EXP
#undef TANH
#undef LOG
#undef SQRT
#undef PHI

static int lmf_threads_set = 1; /* what lmf_set_threads was last given (1 before) */
static int gemm_threads_set = 1; /* the same, or lmf_blas_threads' temporary change */

void lmf_set_threads(int n) {
    lmf_threads_set = gemm_threads_set = n < 1 ? 1 : n;
    openblas_set_num_threads(lmf_threads_set);
}

int lmf_threads(void) { return lmf_threads_set; }

void lmf_blas_threads(int n) {
    gemm_threads_set = n < 1 ? 1 : n;
    openblas_set_num_threads(gemm_threads_set);
}

int lmf_gemm_threads(void) { return gemm_threads_set; }

void lmf_matmul_forward_f32(float *out, const float *in, const float *w, const float *bias, int B, int Ni, int O) {
    if (bias) {
        for (int b = 0; b < B; b++) memcpy(out + (size_t)b * O, bias, (size_t)O * sizeof *out);
    }
    lmf_sgemm(0, 1, B, O, Ni, in, Ni, w, Ni, bias ? 1.0f : 0.0f, out, O);
}

void lmf_matmul_forward_wp(float *out, const float *in, const float *w, const float *wp, const float *bias, int B,
                           int Ni, int O) {
    if (!wp) {
        lmf_matmul_forward_f32(out, in, w, bias, B, Ni, O);
        return;
    }
    if (bias) {
        for (int b = 0; b < B; b++) memcpy(out + (size_t)b * O, bias, (size_t)O * sizeof *out);
    }
    lmf_sgemm_p(0, B, O, Ni, in, Ni, wp, bias ? 1.0f : 0.0f, out, O);
}

void lmf_matmul_forward_wp_cols(float *out, const float *in, const float *w, const float *wp, const float *bias,
                                int B, int Ni, int O, int o0, int o1) {
    if (!wp) {
        lmf_matmul_forward_f32(out, in, w + (size_t)o0 * Ni, bias ? bias + o0 : NULL, B, Ni, o1 - o0);
        return;
    }
    if (bias) {
        for (int b = 0; b < B; b++) memcpy(out + (size_t)b * (o1 - o0), bias + o0, (size_t)(o1 - o0) * sizeof *out);
    }
    lmf_sgemm_p_cols(0, B, O, Ni, in, Ni, wp, o0, o1, bias ? 1.0f : 0.0f, out, o1 - o0);
}

void lmf_matmul_backward_f32(float *din, float *dw, float *dbias, const float *dout, const float *in,
                             const float *w, int B, int Ni, int O) {
    if (din) lmf_sgemm(0, 0, B, Ni, O, dout, O, w, Ni, 1.0f, din, Ni);
    if (dw) lmf_sgemm(1, 0, O, Ni, B, dout, O, in, Ni, 1.0f, dw, Ni);
    if (dbias)
        for (int b = 0; b < B; b++)
            for (int o = 0; o < O; o++) dbias[o] += dout[(size_t)b * O + o];
}

LMF_CLONES
void lmf_adamw_step(float *p, float *m, float *v, const float *g, size_t n, float lr, float beta1, float beta2,
                    float eps, float weight_decay, int64_t t) {
    float bc1 = 1.0f - powf(beta1, (float)t), bc2 = 1.0f - powf(beta2, (float)t);
    for (size_t i = 0; i < n; i++) {
        p[i] -= lr * weight_decay * p[i];
        m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        float mh = m[i] / bc1, vh = v[i] / bc2;
        p[i] -= lr * mh / (sqrtf(vh) + eps);
    }
}

LMF_CLONES
static double sum_squares(const float *g, size_t n) {
    double acc[8] = {0};
    size_t n8 = n - n % 8;
    for (size_t i = 0; i < n8; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)g[i + j] * g[i + j];
    double ss = 0;
    for (size_t i = n8; i < n; i++) ss += (double)g[i] * g[i];
    for (int j = 0; j < 8; j++) ss += acc[j];
    return ss;
}

float lmf_clip_grad_norm(float *const *g, const size_t *n, int count, float max_norm) {
    double ss = 0;
    for (int k = 0; k < count; k++) ss += sum_squares(g[k], n[k]);
    float norm = (float)sqrt(ss);
    float coef = max_norm / (norm + 1e-6f); /* as torch.nn.utils.clip_grad_norm_ */
    if (coef < 1.0f)
        for (int k = 0; k < count; k++)
            for (size_t i = 0; i < n[k]; i++) g[k][i] *= coef;
    return norm;
}

/* ---------------- training helpers (net.h) ---------------- */
#include "net.h"

void lmf_dropout_mask(float *mask, size_t n, float p, uint64_t key) {
    uint32_t thresh = (uint32_t)((double)p * 4294967296.0 > 4294967295.0 ? 4294967295.0 : (double)p * 4294967296.0);
    float keep = 1.0f / (1.0f - p);
    uint64_t k = lmf_mix64(key);
    for (size_t i = 0; i < n; i += 2) { /* one 64-bit hash gives two draws */
        uint64_t r = lmf_mix64(k ^ (uint64_t)i);
        mask[i] = (uint32_t)r < thresh ? 0.0f : keep;
        if (i + 1 < n) mask[i + 1] = (uint32_t)(r >> 32) < thresh ? 0.0f : keep;
    }
}

#define LANES 16

#if defined(__GNUC__)
#define LMF_INLINE inline __attribute__((always_inline))
#else
#define LMF_INLINE inline
#endif

/* max_v z[v], in lanes (vectorises without reassociating). */
static LMF_INLINE float max_of(const float *z, int V) {
    float mx[LANES];
    for (int j = 0; j < LANES; j++) mx[j] = -INFINITY;
    int V16 = V - V % LANES;
    for (int v = 0; v < V16; v += LANES)
        for (int j = 0; j < LANES; j++) mx[j] = z[v + j] > mx[j] ? z[v + j] : mx[j];
    float m = -INFINITY;
    for (int j = 0; j < LANES; j++) m = mx[j] > m ? mx[j] : m;
    for (int v = V16; v < V; v++) m = z[v] > m ? z[v] : m;
    return m;
}

/* Returns sum_v e^{z[v] - m}; with out, also writes each e^{z[v] - m}
 * there (out may be z).  Lanes of independent partial sums let GCC
 * vectorise without reassociating; always inlined, so it is compiled for
 * the target of each caller's clone. */
static LMF_INLINE double exp_sum_from(float *out, const float *z, int V, float m) {
    float sm[LANES];
    for (int j = 0; j < LANES; j++) sm[j] = 0.0f;
    int V16 = V - V % LANES;
    if (out)
        for (int v = 0; v < V16; v += LANES)
            for (int j = 0; j < LANES; j++) {
                float e = exp_fast(z[v + j] - m);
                out[v + j] = e;
                sm[j] += e;
            }
    else
        for (int v = 0; v < V16; v += LANES)
            for (int j = 0; j < LANES; j++) sm[j] += exp_fast(z[v + j] - m);
    double sum = 0;
    for (int v = V16; v < V; v++) {
        float e = exp_fast(z[v] - m);
        if (out) out[v] = e;
        sum += e;
    }
    for (int j = 0; j < LANES; j++) sum += sm[j];
    return sum;
}

/* exp_sum_from with m = max_v z[v], which goes to *max. */
static LMF_INLINE double exp_sum(float *out, const float *z, int V, float *max) {
    *max = max_of(z, V);
    return exp_sum_from(out, z, V, *max);
}

LMF_CLONES
static double softmax_row(float *z, int32_t y, int V, float scale) {
    float zy = z[y], m;
    double sum = exp_sum(z, z, V, &m);
    float f = (float)(scale / sum);
    for (int v = 0; v < V; v++) z[v] *= f;
    z[y] -= scale;
    return log(sum) + (double)m - (double)zy;
}

double lmf_softmax_xent_f32(float *z, const int32_t *y, int N, int V, float scale) {
    double nll = 0;
    for (int r = 0; r < N; r++) nll += softmax_row(z + (size_t)r * V, y[r], V, scale);
    return nll;
}

LMF_CLONES_BW
double lmf_softmax_xent_bf16(float *z, const float *bias, const int32_t *y, int N, int V, float scale, float *dbias) {
    double nll = 0;
    uint16_t buf[1024];
    for (int r = 0; r < N; r++) {
        float *row = z + (size_t)r * V;
        for (int v = 0; v < V; v++) row[v] += bias[v];
        const int32_t yr = y[r];
        const float zy = row[yr], m = max_of(row, V);
        double sum = exp_sum_from(row, row, V, m);
        nll += log(sum) + (double)m - (double)zy;
        const float f = (float)(scale / sum);
        /* gradient, converted a block at a time; block b's bfloat16 values
         * land on floats [b/2, b/2 + 512), all read already.  The target's
         * entry is redone after its block's loop (which then has no
         * branch). */
        for (int v0 = 0; v0 < V; v0 += 1024) {
            const int n = V - v0 < 1024 ? V - v0 : 1024, here = yr >= v0 && yr < v0 + n;
            const float keep = here ? dbias[yr] : 0.0f;
            for (int k = 0; k < n; k++) {
                float g = row[v0 + k] * f;
                dbias[v0 + k] += g;
                buf[k] = lmf_bf16_rne(g);
            }
            if (here) {
                float g = row[yr] * f - scale;
                dbias[yr] = keep + g;
                buf[yr - v0] = lmf_bf16_rne(g);
            }
            memcpy((uint16_t *)(void *)row + v0, buf, (size_t)n * sizeof *buf);
        }
    }
    return nll;
}

LMF_CLONES
void lmf_colsum_add(float *out, const float *d, int N, int V) {
    for (int r = 0; r < N; r++) {
        const float *row = d + (size_t)r * V;
        for (int v = 0; v < V; v++) out[v] += row[v];
    }
}

LMF_CLONES
double lmf_exp_entropy_f32(const float *d, int V, float *p, float *mx, int32_t *arg) {
    float m = d[0];
    for (int v = 1; v < V; v++) m = d[v] > m ? d[v] : m;
    int a = 0;
    while (a < V - 1 && !(d[a] == m)) a++;
    *mx = m;
    *arg = a;
    double h = 0;
    for (int v0 = 0; v0 < V; v0 += 1024) { /* float sums over blocks, double across them */
        const int v1 = V - v0 < 1024 ? V : v0 + 1024;
        float hb = 0;
        for (int v = v0; v < v1; v++) {
            const float x = d[v] > -87.0f ? d[v] : -87.0f; /* ln 0 counts as e^-87: no 0 x inf */
            const float e = exp_fast(x);
            p[v] = e;
            hb -= e * x;
        }
        h += hb;
    }
    return h;
}

LMF_CLONES
double lmf_logsumexp_f32(const float *z, int V) {
    float m;
    double sum = exp_sum(NULL, z, V, &m);
    return (double)m + log(sum);
}
