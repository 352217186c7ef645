/* Gate training (lmf/fuse.h): a softmax meta-model from per-position
 * features to mixture weights, fitted by L-BFGS on held-out text.
 *
 * The features come from the gate model itself (lmf_gate_trace), so the
 * trainer sees exactly what the recipe computes at run time.  The recent-loss
 * feature starts at ln V (a uniform model's loss) in both.  Parameters:
 * theta = (A [K x F], b [K]); objective the mean negative log-likelihood of
 * the mixture plus l2/2 |A|^2; its gradient with respect to the logits at a
 * position is g - r (mixture weights minus posterior responsibilities). */
#include "lmf/fuse.h"
#include "../core/util_impl.h"
#include "../core/optim_impl.h"
#include "fuse_impl.h"

#include <math.h>
#include <string.h>

typedef struct gdata {
    int K, F;
    size_t n;        /* positions in this problem */
    const float *z;  /* n x F standardised features */
    const float *lp; /* K rows of stride `stride` */
    size_t stride;
    double l2;
} gdata;

/* Mean NLL and gradient at theta. */
static double g_eval(const gdata *d, const double *th, double *grad) {
    const int K = d->K, F = d->F;
    const double *A = th, *b = th + (size_t)K * F;
    double *gA = grad, *gb = grad + (size_t)K * F;
    memset(grad, 0, ((size_t)K * F + K) * sizeof *grad);
    double nll = 0;
    for (size_t t = 0; t < d->n; t++) {
        const float *z = d->z + t * (size_t)F;
        double a[LMF_FUSE_MAX_MEMBERS], q[LMF_FUSE_MAX_MEMBERS], mx = -INFINITY, sum = 0;
        for (int k = 0; k < K; k++) {
            double v = b[k];
            const double *Ak = A + (size_t)k * F;
            for (int j = 0; j < F; j++) v += Ak[j] * (double)z[j];
            a[k] = v;
            mx = v > mx ? v : mx;
        }
        for (int k = 0; k < K; k++) sum += exp(a[k] - mx);
        double la = mx + log(sum), qm = -INFINITY, qs = 0;
        for (int k = 0; k < K; k++) {
            a[k] -= la; /* ln g_k */
            q[k] = a[k] + (double)d->lp[(size_t)k * d->stride + t];
            qm = q[k] > qm ? q[k] : qm;
        }
        for (int k = 0; k < K; k++) qs += exp(q[k] - qm);
        double m = qm + log(qs);
        nll -= m;
        for (int k = 0; k < K; k++) {
            double dl = exp(a[k]) - exp(q[k] - m); /* g_k - r_k */
            gb[k] += dl;
            double *gAk = gA + (size_t)k * F;
            for (int j = 0; j < F; j++) gAk[j] += dl * (double)z[j];
        }
    }
    const size_t P = (size_t)K * F + K;
    for (size_t i = 0; i < P; i++) grad[i] /= (double)d->n;
    nll /= (double)d->n;
    for (size_t i = 0; i < (size_t)K * F; i++) {
        nll += 0.5 * d->l2 * A[i] * A[i];
        gA[i] += d->l2 * A[i];
    }
    return nll;
}

/* The gate's objective in the optimiser's shape. */
static double g_objective(void *user, const double *th, double *grad) { return g_eval((const gdata *)user, th, grad); }

static int lbfgs(const gdata *d, double *th, int max_iter) {
    return lmf_lbfgs(g_objective, (void *)d, (size_t)d->K * d->F + d->K, th, max_iter, 1e-10);
}

/* Mean NLL of the gate theta on positions [a, b), or of the linear mixture
 * with ln weights lw when theta is NULL. */
static double heldout_nll(const gdata *all, const double *th, const double *lw, size_t a, size_t b) {
    const int K = all->K, F = all->F;
    double nll = 0;
    for (size_t t = a; t < b; t++) {
        double q[LMF_FUSE_MAX_MEMBERS], mx = -INFINITY, sum = 0;
        if (th) {
            const float *z = all->z + t * (size_t)F;
            for (int k = 0; k < K; k++) {
                double v = th[(size_t)K * F + k];
                for (int j = 0; j < F; j++) v += th[(size_t)k * F + j] * (double)z[j];
                q[k] = v;
                mx = v > mx ? v : mx;
            }
            for (int k = 0; k < K; k++) sum += exp(q[k] - mx);
            double la = mx + log(sum);
            for (int k = 0; k < K; k++) q[k] -= la;
        } else {
            for (int k = 0; k < K; k++) q[k] = lw[k];
        }
        mx = -INFINITY, sum = 0;
        for (int k = 0; k < K; k++) {
            q[k] += (double)all->lp[(size_t)k * all->stride + t];
            mx = q[k] > mx ? q[k] : mx;
        }
        for (int k = 0; k < K; k++) sum += exp(q[k] - mx);
        nll -= mx + log(sum);
    }
    return nll;
}

/* EM linear weights on positions [a, b) x [c, d) (the training folds). */
static lmf_status em_on(const gdata *all, size_t a, size_t b, size_t c, size_t e, double *w) {
    const int K = all->K;
    size_t n = (b - a) + (e - c);
    float *lp[LMF_FUSE_MAX_MEMBERS] = {0};
    lmf_status s = LMF_OK;
    for (int k = 0; k < K && !s; k++) {
        lp[k] = (float *)lmf_malloc((n ? n : 1) * sizeof(float));
        if (!lp[k]) {
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(lp[k], all->lp + (size_t)k * all->stride + a, (b - a) * sizeof(float));
        memcpy(lp[k] + (b - a), all->lp + (size_t)k * all->stride + c, (e - c) * sizeof(float));
    }
    for (int k = 0; k < K; k++) w[k] = 1.0 / K;
    int iters;
    if (!s) s = lmf_tune_linear_em((const float *const *)lp, K, n, 1e-7, 1000, w, NULL, &iters);
    for (int k = 0; k < K; k++) lmf_free(lp[k]);
    return s;
}

void lmf_gate_fit_free(lmf_gate_fit *fit) {
    lmf_free(fit->mean);
    memset(fit, 0, sizeof *fit);
}

void lmf_gate_fit_params(const lmf_gate_fit *fit, lmf_gate_params *p) {
    p->decay = fit->decay;
    p->mean = fit->mean;
    p->sd = fit->sd;
    p->loss0 = fit->loss0;
    p->A = fit->A;
    p->b = fit->b;
}

lmf_status lmf_tune_gate(lmf_model **members, int K, const lmf_tokens *dev, const lmf_gate_tune_opts *o,
                         lmf_gate_fit *out) {
    memset(out, 0, sizeof *out);
    const size_t N = dev->n;
    const int F = LMF_GATE_FEATURES * K;
    const size_t P = (size_t)K * F + K;
    double decay = o->decay > 0 ? o->decay : 0.95, l2 = o->l2 > 0 ? o->l2 : 1e-4;
    int folds = o->folds >= 2 ? o->folds : 0, max_iter = o->max_iter > 0 ? o->max_iter : 200;
    if (K < 2 || K > LMF_FUSE_MAX_MEMBERS || N < 2 || (folds && (size_t)folds > N)) {
        for (int k = 0; k < K; k++) lmf_model_free(members[k]);
        return lmf_error(LMF_ERR_ARG, "a gate needs 2..%d members and more dev tokens than folds",
                         LMF_FUSE_MAX_MEMBERS);
    }
    lmf_status vs = lmf_fuse_check_vocab(members, K); /* before any scoring */
    if (vs) {
        for (int k = 0; k < K; k++) lmf_model_free(members[k]);
        return vs;
    }
    /* one allocation for the fit: mean, sd (F), loss0 (K), A (K*F), b (K), w (K) */
    out->mean = (double *)lmf_calloc(2 * (size_t)F + 4 * (size_t)K + (size_t)K * F, sizeof(double));
    double *th = (double *)lmf_malloc(P * sizeof *th);
    float *phi = (float *)lmf_malloc(N * (size_t)F * sizeof *phi), *lp = (float *)lmf_malloc(N * (size_t)K * sizeof *lp);
    lmf_status s = out->mean && th && phi && lp ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) {
        for (int k = 0; k < K; k++) lmf_model_free(members[k]);
    } else {
        out->K = K;
        out->F = F;
        out->decay = decay;
        out->sd = out->mean + F;
        out->loss0 = out->sd + F;
        out->A = out->loss0 + K;
        out->b = out->A + (size_t)K * F;
        out->w_linear = out->b + K;
        out->ppl_member = out->w_linear + K;
        double lv = log((double)lmf_vocab_size(lmf_model_vocab(members[0])));
        for (int k = 0; k < K; k++) out->loss0[k] = lv;
        for (int j = 0; j < F; j++) out->sd[j] = 1;
        /* trace the features with a neutral gate (the members pass to it) */
        lmf_gate_params gp;
        lmf_gate_fit_params(out, &gp);
        lmf_fuse_opts fo;
        lmf_fuse_opts_init(&fo);
        fo.comb = LMF_COMB_GATE;
        fo.gate = &gp;
        lmf_model *g = NULL;
        s = lmf_fuse_new(members, K, &fo, &g);
        if (!s) s = lmf_gate_trace(g, dev, phi, lp, o->progress, o->progress_user);
        lmf_model_free(g);
    }
    for (int k = 0; k < K && !s; k++) {
        double sum = 0;
        for (size_t t = 0; t < N; t++) sum += lp[(size_t)k * N + t];
        out->ppl_member[k] = exp(-sum / (double)N);
    }
    if (!s) { /* standardise */
        for (int j = 0; j < F; j++) {
            double m = 0, v = 0;
            for (size_t t = 0; t < N; t++) m += phi[t * (size_t)F + (size_t)j];
            m /= (double)N;
            for (size_t t = 0; t < N; t++) {
                double x = phi[t * (size_t)F + (size_t)j] - m;
                v += x * x;
            }
            double sd = sqrt(v / (double)N);
            out->mean[j] = m;
            out->sd[j] = sd > 1e-6 ? sd : 1; /* a constant feature stays 0 */
            for (size_t t = 0; t < N; t++)
                phi[t * (size_t)F + (size_t)j] = (float)((phi[t * (size_t)F + (size_t)j] - m) / out->sd[j]);
        }
    }
    gdata all = {K, F, N, phi, lp, N, l2};
    /* cross-validation: fold f holds out [N f / folds, N (f+1) / folds) */
    double cvg = 0, cvl = 0;
    for (int f = 0; f < folds && !s; f++) {
        size_t a = N * (size_t)f / (size_t)folds, b = N * (size_t)(f + 1) / (size_t)folds;
        double w[LMF_FUSE_MAX_MEMBERS], lw[LMF_FUSE_MAX_MEMBERS];
        s = em_on(&all, 0, a, b, N, w);
        if (s) break;
        for (int k = 0; k < K; k++) lw[k] = log(w[k]);
        /* the training folds, contiguous when the held-out block is moved out:
         * train on [0, a) and [b, N) by fitting a problem over a copy */
        size_t n = N - (b - a);
        float *z2 = (float *)lmf_malloc((n ? n : 1) * (size_t)F * sizeof *z2);
        float *lp2 = (float *)lmf_malloc((n ? n : 1) * (size_t)K * sizeof *lp2);
        if (!z2 || !lp2) {
            lmf_free(z2);
            lmf_free(lp2);
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(z2, phi, a * (size_t)F * sizeof *z2);
        memcpy(z2 + a * (size_t)F, phi + b * (size_t)F, (N - b) * (size_t)F * sizeof *z2);
        for (int k = 0; k < K; k++) {
            memcpy(lp2 + (size_t)k * n, lp + (size_t)k * N, a * sizeof *lp2);
            memcpy(lp2 + (size_t)k * n + a, lp + (size_t)k * N + b, (N - b) * sizeof *lp2);
        }
        gdata tr = {K, F, n, z2, lp2, n, l2};
        memset(th, 0, P * sizeof *th);
        for (int k = 0; k < K; k++) th[(size_t)K * F + k] = lw[k];
        if (lbfgs(&tr, th, max_iter) < 0) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        cvg += heldout_nll(&all, th, NULL, a, b);
        cvl += heldout_nll(&all, NULL, lw, a, b);
        lmf_free(z2);
        lmf_free(lp2);
    }
    if (!s && folds) {
        out->folds = folds;
        out->cv_ppl = exp(cvg / (double)N);
        out->cv_ppl_linear = exp(cvl / (double)N);
    }
    if (!s) { /* the final fit on all of it */
        s = em_on(&all, 0, N, N, N, out->w_linear);
    }
    if (!s) {
        double lw[LMF_FUSE_MAX_MEMBERS];
        memset(th, 0, P * sizeof *th);
        for (int k = 0; k < K; k++) th[(size_t)K * F + k] = lw[k] = log(out->w_linear[k]);
        out->ppl_linear = exp(heldout_nll(&all, NULL, lw, 0, N) / (double)N);
        out->iterations = lbfgs(&all, th, max_iter);
        if (out->iterations < 0) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        out->ppl = exp(heldout_nll(&all, th, NULL, 0, N) / (double)N);
        memcpy(out->A, th, P * sizeof *th); /* A then b */
    }
    lmf_free(th);
    lmf_free(phi);
    lmf_free(lp);
    if (s) lmf_gate_fit_free(out);
    return s;
}
