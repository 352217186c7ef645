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
#include "ops_t.h"
#undef T
#undef SFX
#undef EXP
#undef TANH
#undef LOG

#define T double
#define SFX(name) name##_f64
#define EXP exp
#define TANH tanh
#define LOG log
#include "ops_t.h"
#undef T
#undef SFX
#undef EXP
#undef TANH
#undef LOG

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
