/* Whole recurrent networks with --bf16 against the same networks in float:
 * two windows forward and backward from the same weights (the second from
 * the carried state), each gradient tensor within bfloat16 rounding of the
 * float one.  Catches a bfloat16 path that drops or garbles one of the
 * products, which the ten-step loss comparisons of test_train.sh are too
 * coarse to see for the recurrent steps. */
#include "test.h"

#include "../src/nn/net.h"

/* ||a - b|| / ||b|| */
static double rel_l2(const float *a, const float *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return sqrt(d / (s + 1e-300));
}

typedef struct tensor {
    const char *name;
    int layer; /* -1: not a layer's */
    const float *a, *b; /* --bf16, float */
    size_t n;
} tensor;

static void check_arch(int arch) {
    enum { L = 2, E = 32, HID = 32, V = 60, NB = 4, NT = 8 };
    const char *an = lmf_arch_names[arch];
    lmf_net *net[2] = {NULL, NULL};
    for (int bf = 0; bf < 2; bf++) {
        lmf_net_cfg c = {arch, L, E, HID, V, 1, 0, 0, 0, 0.0f, NB, NT, 0, NULL, NULL, bf};
        CHECK_MSG(lmf_rnn_net_new(&c, 7, &net[bf]) == LMF_OK, "%s: %s", an, lmf_last_error());
    }
    if (!net[0] || !net[1]) return;
    int32_t x[NT * NB], y[NT * NB];
    double nll[2] = {0, 0};
    for (int w = 0; w < 2; w++) {
        for (int i = 0; i < NT * NB; i++) x[i] = (i * 17 + w * 5 + 3) % V, y[i] = (i * 29 + w * 11 + 1) % V;
        for (int bf = 0; bf < 2; bf++) {
            double l;
            CHECK(net[bf]->ops->window(net[bf], x, y, NT, 1.0f / (NT * NB), 0, &l) == LMF_OK);
            nll[bf] += l;
        }
    }
    CHECK_MSG(fabs(nll[1] - nll[0]) < 1e-3 * nll[0], "%s --bf16: loss %.9g, float %.9g", an, nll[1], nll[0]);
    lmf_rnn_cfg rc = {arch, L, E, HID, V, 1, 0, NULL, NULL};
    lmf_rnn_params g32, g16;
    lmf_rnn_layout(&rc, net[0]->grad, &g32);
    lmf_rnn_layout(&rc, net[1]->grad, &g16);
    const size_t GH = (size_t)(arch == LMF_ARCH_LSTM ? 4 : arch == LMF_ARCH_GRU ? 3 : 1) * HID;
    tensor t[2 + 4 * L];
    int nt = 0;
    t[nt++] = (tensor){"embedding", -1, g16.emb, g32.emb, (size_t)V * E};
    t[nt++] = (tensor){"output bias", -1, g16.dec_b, g32.dec_b, (size_t)V};
    for (int l = 0; l < L; l++) {
        t[nt++] = (tensor){"W_ih", l, g16.wih[l], g32.wih[l], GH * (l ? HID : E)};
        t[nt++] = (tensor){"W_hh", l, g16.whh[l], g32.whh[l], GH * HID};
        t[nt++] = (tensor){"b_ih", l, g16.bih[l], g32.bih[l], GH};
        t[nt++] = (tensor){"b_hh", l, g16.bhh[l], g32.bhh[l], GH};
    }
    for (int i = 0; i < nt; i++) {
        double e = rel_l2(t[i].a, t[i].b, t[i].n);
        CHECK_MSG(e < 2e-2, "%s --bf16: gradient of %s (layer %d) is %.3g away from the float one (relative)", an,
                  t[i].name, t[i].layer, e);
    }
    net[0]->ops->free(net[0]);
    net[1]->ops->free(net[1]);
}

int main(void) {
    check_arch(LMF_ARCH_RNN);
    check_arch(LMF_ARCH_LSTM);
    check_arch(LMF_ARCH_GRU);
    lmf_gemm_bf16_release();
    TEST_MAIN_END();
}
