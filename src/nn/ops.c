/* Neural-network kernels: the element-wise ones instantiated from
 * ops_t.h for float and double, and the BLAS-backed matmul. */
#include "nn_impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define T float
#define SFX(name) name##_f32
#define EXP expf
#define TANH tanhf
#define LOG logf
#define SQRT sqrtf
#define ERF erff
#include "ops_t.h"
#undef T
#undef SFX
#undef EXP
#undef TANH
#undef LOG
#undef SQRT
#undef ERF

#define T double
#define SFX(name) name##_f64
#define EXP exp
#define TANH tanh
#define LOG log
#define SQRT sqrt
#define ERF erf
#include "ops_t.h"
#undef T
#undef SFX
#undef EXP
#undef TANH
#undef LOG
#undef SQRT
#undef ERF

void lmf_matmul_forward_f32(float *out, const float *in, const float *w, const float *bias, int B, int Ni, int O) {
    if (bias) {
        for (int b = 0; b < B; b++) memcpy(out + (size_t)b * O, bias, (size_t)O * sizeof *out);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, O, Ni, 1.0f, in, Ni, w, Ni, bias ? 1.0f : 0.0f, out, O);
}

void lmf_matmul_backward_f32(float *din, float *dw, float *dbias, const float *dout, const float *in,
                             const float *w, int B, int Ni, int O) {
    if (din) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, Ni, O, 1.0f, dout, O, w, Ni, 1.0f, din, Ni);
    if (dw) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, Ni, B, 1.0f, dout, O, in, Ni, 1.0f, dw, Ni);
    if (dbias)
        for (int b = 0; b < B; b++)
            for (int o = 0; o < O; o++) dbias[o] += dout[(size_t)b * O + o];
}

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

float lmf_clip_grad_norm(float *const *g, const size_t *n, int count, float max_norm) {
    double ss = 0;
    for (int k = 0; k < count; k++)
        for (size_t i = 0; i < n[k]; i++) ss += (double)g[k][i] * g[k][i];
    float norm = (float)sqrt(ss);
    float coef = max_norm / (norm + 1e-6f); /* as torch.nn.utils.clip_grad_norm_ */
    if (coef < 1.0f)
        for (int k = 0; k < count; k++)
            for (size_t i = 0; i < n[k]; i++) g[k][i] *= coef;
    return norm;
}
