/* Neural-network kernels, written once for a scalar type T and included by
 * ops.c for float (suffix _f32, the training and inference type) and double
 * (suffix _f64, used by the tests for central finite differences).
 *
 * Conventions (llm.c style): outputs first, inputs const, shapes in the
 * comments, row-major; backward kernels ACCUMULATE into their gradient
 * outputs (the caller zeroes them).  Gate layouts and equations are those of
 * PyTorch's nn.RNN / nn.LSTM / nn.GRU, both bias vectors included: the
 * caller computes gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh with the
 * matmul kernel, these kernels do the element-wise part.
 *
 * Expects: T, SFX(name) (appends the suffix), EXP, TANH, LOG, SQRT
 * (libm), CELL_EXP, CELL_TANH and PHI (e^x and tanh for the recurrent
 * cells and GELU, the normal distribution function for GELU: libm for
 * double, branch-free vectorisable versions for float) and KERNEL
 * (attributes for the hot element-wise kernels). */

/* out[B,O] = in[B,I] W[O,I]^T + bias[O] (bias may be NULL); naive reference. */
void SFX(lmf_matmul_forward_naive)(T *out, const T *in, const T *w, const T *bias, int B, int Ni, int O) {
    for (int b = 0; b < B; b++)
        for (int o = 0; o < O; o++) {
            T acc = bias ? bias[o] : 0;
            for (int i = 0; i < Ni; i++) acc += in[(size_t)b * Ni + i] * w[(size_t)o * Ni + i];
            out[(size_t)b * O + o] = acc;
        }
}

/* din[B,I] += dout W; dw[O,I] += dout^T in; dbias[O] += sum_b dout (any
 * gradient pointer may be NULL); naive reference. */
void SFX(lmf_matmul_backward_naive)(T *din, T *dw, T *dbias, const T *dout, const T *in, const T *w, int B,
                                            int Ni, int O) {
    for (int b = 0; b < B; b++)
        for (int o = 0; o < O; o++) {
            T g = dout[(size_t)b * O + o];
            if (dbias) dbias[o] += g;
            for (int i = 0; i < Ni; i++) {
                if (din) din[(size_t)b * Ni + i] += g * w[(size_t)o * Ni + i];
                if (dw) dw[(size_t)o * Ni + i] += g * in[(size_t)b * Ni + i];
            }
        }
}

static inline T SFX(sigm)(T x) { return (T)1 / ((T)1 + CELL_EXP(-x)); }

/* Elman RNN (tanh): h[B,H] = tanh(gi + gh). */
KERNEL
void SFX(lmf_rnn_forward)(T *h, const T *gi, const T *gh, int B, int H) {
    for (size_t k = 0; k < (size_t)B * H; k++) h[k] = CELL_TANH(gi[k] + gh[k]);
}
/* dpre[B,H] += dh * (1 - h^2): the gradient of both gi and gh. */
KERNEL
void SFX(lmf_rnn_backward)(T *dpre, const T *dh, const T *h, int B, int H) {
    for (size_t k = 0; k < (size_t)B * H; k++) dpre[k] += dh[k] * ((T)1 - h[k] * h[k]);
}

/* LSTM, gates i, f, g, o (PyTorch order): pre = gi + gh [B,4H];
 * i = s(pre_i), f = s(pre_f), g = tanh(pre_g), o = s(pre_o);
 * c = f c_prev + i g, h = o tanh(c).  act[B,4H] keeps i, f, g, o and
 * tc[B,H] keeps tanh(c) for the backward pass. */
KERNEL
void SFX(lmf_lstm_forward)(T *h, T *c, T *act, T *tc, const T *gi, const T *gh, const T *c_prev, int B,
                                   int H) {
    /* pass by pass over contiguous rows, so that each loop vectorises */
    for (int b = 0; b < B; b++) {
        const T *pi = gi + (size_t)b * 4 * H, *ph = gh + (size_t)b * 4 * H;
        T *a = act + (size_t)b * 4 * H;
        for (int k = 0; k < 4 * H; k++) a[k] = pi[k] + ph[k];
        for (int k = 0; k < 2 * H; k++) a[k] = SFX(sigm)(a[k]);
        for (int k = 2 * H; k < 3 * H; k++) a[k] = CELL_TANH(a[k]);
        for (int k = 3 * H; k < 4 * H; k++) a[k] = SFX(sigm)(a[k]);
        const T *ii = a, *ff = a + H, *gg = a + 2 * H;
        const size_t o = (size_t)b * H;
        for (int j = 0; j < H; j++) c[o + j] = ff[j] * c_prev[o + j] + ii[j] * gg[j];
        for (int j = 0; j < H; j++) tc[o + j] = CELL_TANH(c[o + j]);
        for (int j = 0; j < H; j++) h[o + j] = a[3 * H + j] * tc[o + j];
    }
}

/* Given dh[B,H] (into h) and dc[B,H] (into c from later steps), accumulates
 * dpre[B,4H] (the gradient of gi and of gh) and dc_prev[B,H]. */
KERNEL
void SFX(lmf_lstm_backward)(T *dpre, T *dc_prev, const T *dh, const T *dc, const T *act, const T *tc,
                                    const T *c_prev, int B, int H) {
    for (int b = 0; b < B; b++) {
        const T *a = act + (size_t)b * 4 * H;
        T *d = dpre + (size_t)b * 4 * H;
        for (int j = 0; j < H; j++) {
            size_t k = (size_t)b * H + j;
            T ii = a[j], ff = a[H + j], gg = a[2 * H + j], oo = a[3 * H + j], t = tc[k];
            T dct = dc[k] + dh[k] * oo * ((T)1 - t * t);
            d[j] += dct * gg * ii * ((T)1 - ii);
            d[H + j] += dct * c_prev[k] * ff * ((T)1 - ff);
            d[2 * H + j] += dct * ii * ((T)1 - gg * gg);
            d[3 * H + j] += dh[k] * t * oo * ((T)1 - oo);
            dc_prev[k] += dct * ff;
        }
    }
}

/* GRU, gates r, z, n (PyTorch order), gi = x W_ih^T + b_ih and
 * gh = h_prev W_hh^T + b_hh [B,3H]:
 * r = s(gi_r + gh_r), z = s(gi_z + gh_z), n = tanh(gi_n + r gh_n),
 * h = (1 - z) n + z h_prev.  act[B,3H] keeps r, z, n. */
KERNEL
void SFX(lmf_gru_forward)(T *h, T *act, const T *gi, const T *gh, const T *h_prev, int B, int H) {
    for (int b = 0; b < B; b++) {
        const T *pi = gi + (size_t)b * 3 * H, *ph = gh + (size_t)b * 3 * H;
        T *a = act + (size_t)b * 3 * H;
        for (int k = 0; k < 2 * H; k++) a[k] = SFX(sigm)(pi[k] + ph[k]);
        for (int j = 0; j < H; j++) a[2 * H + j] = CELL_TANH(pi[2 * H + j] + a[j] * ph[2 * H + j]);
        const size_t o = (size_t)b * H;
        for (int j = 0; j < H; j++) h[o + j] = ((T)1 - a[H + j]) * a[2 * H + j] + a[H + j] * h_prev[o + j];
    }
}

/* Accumulates dgi[B,3H], dgh[B,3H] and dh_prev[B,H] (the direct path
 * through z h_prev; the path through gh is the caller's matmul backward). */
KERNEL
void SFX(lmf_gru_backward)(T *dgi, T *dgh, T *dh_prev, const T *dh, const T *act, const T *gh,
                                   const T *h_prev, int B, int H) {
    for (int b = 0; b < B; b++) {
        const T *a = act + (size_t)b * 3 * H, *ph = gh + (size_t)b * 3 * H;
        T *di = dgi + (size_t)b * 3 * H, *dg = dgh + (size_t)b * 3 * H;
        for (int j = 0; j < H; j++) {
            size_t k = (size_t)b * H + j;
            T r = a[j], z = a[H + j], n = a[2 * H + j], g = dh[k];
            T dn = g * ((T)1 - z) * ((T)1 - n * n); /* into the tanh's argument */
            T dz = g * (h_prev[k] - n) * z * ((T)1 - z);
            T dr = dn * ph[2 * H + j] * r * ((T)1 - r);
            di[j] += dr;
            dg[j] += dr;
            di[H + j] += dz;
            dg[H + j] += dz;
            di[2 * H + j] += dn;
            dg[2 * H + j] += dn * r;
            dh_prev[k] += g * z;
        }
    }
}

/* Cross-entropy: loss[b] = -log softmax(logits[b])[target[b]] (natural
 * log; log-sum-exp subtracts the true max); prob[B,V] keeps the softmax. */
void SFX(lmf_xent_forward)(T *loss, T *prob, const T *logits, const int32_t *target, int B, int V) {
    for (int b = 0; b < B; b++) {
        const T *z = logits + (size_t)b * V;
        T *p = prob + (size_t)b * V;
        T mx = z[0];
        for (int v = 1; v < V; v++)
            if (z[v] > mx) mx = z[v];
        T sum = 0;
        for (int v = 0; v < V; v++) {
            p[v] = EXP(z[v] - mx);
            sum += p[v];
        }
        for (int v = 0; v < V; v++) p[v] /= sum;
        loss[b] = -(z[target[b]] - mx - LOG(sum));
    }
}

/* dlogits[B,V] += dloss[b] * (prob - onehot(target)). */
void SFX(lmf_xent_backward)(T *dlogits, const T *dloss, const T *prob, const int32_t *target, int B, int V) {
    for (int b = 0; b < B; b++) {
        T *d = dlogits + (size_t)b * V;
        const T *p = prob + (size_t)b * V;
        for (int v = 0; v < V; v++) d[v] += dloss[b] * (p[v] - (v == target[b]));
    }
}

/* LayerNorm over the last dimension: y[B,C] = (x - mean) * rstd * w + b,
 * rstd = 1/sqrt(var + eps) (biased variance, as PyTorch); mean[B] and
 * rstd[B] are kept for the backward pass. */
void SFX(lmf_layernorm_forward)(T *y, T *mean, T *rstd, const T *x, const T *w, const T *b, int B, int C, T eps) {
    for (int r = 0; r < B; r++) {
        const T *xr = x + (size_t)r * C;
        T m = 0, v = 0;
        for (int i = 0; i < C; i++) m += xr[i];
        m /= C;
        for (int i = 0; i < C; i++) v += (xr[i] - m) * (xr[i] - m);
        v /= C;
        T s = (T)1 / SQRT(v + eps);
        for (int i = 0; i < C; i++) y[(size_t)r * C + i] = (xr[i] - m) * s * w[i] + b[i];
        mean[r] = m;
        rstd[r] = s;
    }
}

/* dx[B,C] += ..., dw[C] += dy * xhat, db[C] += dy. */
void SFX(lmf_layernorm_backward)(T *dx, T *dw, T *db, const T *dy, const T *x, const T *w, const T *mean,
                                  const T *rstd, int B, int C) {
    for (int r = 0; r < B; r++) {
        const T *xr = x + (size_t)r * C, *g = dy + (size_t)r * C;
        T m1 = 0, m2 = 0; /* means of dxhat and dxhat * xhat */
        for (int i = 0; i < C; i++) {
            T xh = (xr[i] - mean[r]) * rstd[r], dxh = g[i] * w[i];
            m1 += dxh;
            m2 += dxh * xh;
            dw[i] += g[i] * xh;
            db[i] += g[i];
        }
        m1 /= C;
        m2 /= C;
        for (int i = 0; i < C; i++) {
            T xh = (xr[i] - mean[r]) * rstd[r], dxh = g[i] * w[i];
            dx[(size_t)r * C + i] += rstd[r] * (dxh - m1 - xh * m2);
        }
    }
}

/* GELU, exact (erf) form as PyTorch's nn.GELU(): y = x Phi(x), Phi the
 * normal distribution function x/2 (1 + erf(x/sqrt 2)) (PHI). */
KERNEL
void SFX(lmf_gelu_forward)(T *y, const T *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] * PHI(x[i]);
}
KERNEL
void SFX(lmf_gelu_backward)(T *dx, const T *dy, const T *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        T pdf = CELL_EXP((T)-0.5 * x[i] * x[i]) * (T)0.39894228040143267794;
        dx[i] += dy[i] * (PHI(x[i]) + x[i] * pdf);
    }
}

/* Embedding: out[B,C] = table[ids[b]]; backward dtable[ids[b]] += dout[b]. */
void SFX(lmf_embed_forward)(T *out, const T *table, const int32_t *ids, int B, int C) {
    for (int b = 0; b < B; b++) memcpy(out + (size_t)b * C, table + (size_t)ids[b] * C, (size_t)C * sizeof(T));
}
void SFX(lmf_embed_backward)(T *dtable, const T *dout, const int32_t *ids, int B, int C) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < C; i++) dtable[(size_t)ids[b] * C + i] += dout[(size_t)b * C + i];
}

/* Causal multi-head self-attention (naive reference).  qkv[B,T,3C] holds
 * q, k, v (each C = NH * hs, head h in columns h*hs ..); position t attends
 * to 0..t.  out[B,T,C]; att[B,NH,T,T] keeps the probabilities (zero above
 * the diagonal) for the backward pass. */
void SFX(lmf_attention_forward)(T *out, T *att, const T *qkv, int B, int Tn, int C, int NH) {
    int hs = C / NH;
    T scale = (T)1 / SQRT((T)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < Tn; t++) {
                const T *q = qkv + ((size_t)b * Tn + t) * 3 * C + h * hs;
                T *a = att + (((size_t)b * NH + h) * Tn + t) * Tn;
                T mx = -INFINITY;
                for (int u = 0; u <= t; u++) {
                    const T *k = qkv + ((size_t)b * Tn + u) * 3 * C + C + h * hs;
                    T s = 0;
                    for (int i = 0; i < hs; i++) s += q[i] * k[i];
                    a[u] = s * scale;
                    if (a[u] > mx) mx = a[u];
                }
                T sum = 0;
                for (int u = 0; u <= t; u++) {
                    a[u] = EXP(a[u] - mx);
                    sum += a[u];
                }
                for (int u = 0; u <= t; u++) a[u] /= sum;
                for (int u = t + 1; u < Tn; u++) a[u] = 0;
                T *o = out + ((size_t)b * Tn + t) * C + h * hs;
                for (int i = 0; i < hs; i++) o[i] = 0;
                for (int u = 0; u <= t; u++) {
                    const T *v = qkv + ((size_t)b * Tn + u) * 3 * C + 2 * C + h * hs;
                    for (int i = 0; i < hs; i++) o[i] += a[u] * v[i];
                }
            }
}

/* dqkv[B,T,3C] += the gradient of qkv given dout[B,T,C]. */
void SFX(lmf_attention_backward)(T *dqkv, const T *dout, const T *qkv, const T *att, int B, int Tn, int C, int NH) {
    int hs = C / NH;
    T scale = (T)1 / SQRT((T)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < Tn; t++) {
                const T *a = att + (((size_t)b * NH + h) * Tn + t) * Tn;
                const T *go = dout + ((size_t)b * Tn + t) * C + h * hs;
                const T *q = qkv + ((size_t)b * Tn + t) * 3 * C + h * hs;
                T *dq = dqkv + ((size_t)b * Tn + t) * 3 * C + h * hs;
                /* datt[u] = dout . v_u, and dv_u += att[u] dout */
                T dsum = 0;
                for (int u = 0; u <= t; u++) {
                    const T *v = qkv + ((size_t)b * Tn + u) * 3 * C + 2 * C + h * hs;
                    T *dv = dqkv + ((size_t)b * Tn + u) * 3 * C + 2 * C + h * hs;
                    T d = 0;
                    for (int i = 0; i < hs; i++) {
                        d += go[i] * v[i];
                        dv[i] += a[u] * go[i];
                    }
                    dsum += a[u] * d;
                }
                for (int u = 0; u <= t; u++) {
                    const T *v = qkv + ((size_t)b * Tn + u) * 3 * C + 2 * C + h * hs;
                    const T *k = qkv + ((size_t)b * Tn + u) * 3 * C + C + h * hs;
                    T *dk = dqkv + ((size_t)b * Tn + u) * 3 * C + C + h * hs;
                    T d = 0;
                    for (int i = 0; i < hs; i++) d += go[i] * v[i];
                    T dpre = a[u] * (d - dsum) * scale; /* through the softmax and the scale */
                    for (int i = 0; i < hs; i++) {
                        dq[i] += dpre * k[i];
                        dk[i] += dpre * q[i];
                    }
                }
            }
}
