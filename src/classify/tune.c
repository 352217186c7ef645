/* Fitting fusions of classifiers (lmf/classify.h): linear weights by EM,
 * log-linear weights by projected gradient, stacking meta-models by
 * L-BFGS, out-of-fold member outputs, and diversity measures. */
#include "classify_impl.h"
#include "../core/optim_impl.h"
#include "../core/util_impl.h"
#include "lmf/fuse.h" /* lmf_tune_linear_em */

#include <math.h>
#include <string.h>

void lmf_cfuse_folds(const int32_t *y, size_t n, int C, int k, int *fold) {
    size_t nc[LMF_MAX_CLASSES] = {0}, seen[LMF_MAX_CLASSES] = {0};
    for (size_t i = 0; i < n; i++)
        if (y[i] >= 0 && y[i] < C) nc[y[i]]++;
    for (size_t i = 0; i < n; i++) {
        const int c = y[i] >= 0 && y[i] < C ? y[i] : 0;
        const size_t b = (nc[c] + (size_t)k - 1) / (size_t)k; /* >= 1: class c has document i */
        fold[i] = (int)((seen[c]++ / b + (size_t)c) % (size_t)k);
    }
}

static lmf_status check(int K, size_t n, int C) {
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS || n == 0 || C < 2)
        return lmf_error(LMF_ERR_ARG, "fitting a fusion needs 1..%d members, documents and 2+ classes",
                         LMF_FUSE_MAX_MEMBERS);
    return LMF_OK;
}

lmf_status lmf_cfuse_em_weights(const float *const *lp, int K, size_t n, int C, const int32_t *y, double *w) {
    lmf_status s = check(K, n, C);
    if (s) return s;
    float *g[LMF_FUSE_MAX_MEMBERS] = {0};
    for (int k = 0; k < K && !s; k++) {
        if (!(g[k] = (float *)lmf_malloc(n * sizeof *g[k]))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !s && i < n; i++) g[k][i] = lp[k][i * (size_t)C + (size_t)y[i]];
    }
    for (int k = 0; k < K; k++) w[k] = 1.0 / K;
    int it;
    if (!s) s = lmf_tune_linear_em((const float *const *)g, K, n, 1e-9, 1000, w, NULL, &it);
    for (int k = 0; k < K; k++) lmf_free(g[k]);
    return s;
}

/* ---- log-linear weights ---- */
typedef struct gdata {
    const float *const *lp;
    int K, C;
    size_t n;
    const int32_t *y;
} gdata;

/* Mean NLL of softmax_c(sum_k w_k lp_k(c)) at w (w = x^2 keeps it >= 0). */
static double geo_nll(void *user, const double *x, double *g) {
    const gdata *d = (const gdata *)user;
    const int K = d->K, C = d->C;
    double nll = 0, gw[LMF_FUSE_MAX_MEMBERS] = {0}, q[LMF_MAX_CLASSES];
    for (size_t i = 0; i < d->n; i++) {
        double mx = -INFINITY, sum = 0;
        for (int c = 0; c < C; c++) {
            double z = 0;
            for (int k = 0; k < K; k++) z += x[k] * x[k] * (double)d->lp[k][i * (size_t)C + (size_t)c];
            q[c] = z;
            mx = z > mx ? z : mx;
        }
        for (int c = 0; c < C; c++) sum += exp(q[c] - mx);
        double lz = mx + log(sum);
        nll += lz - q[d->y[i]];
        for (int c = 0; c < C; c++) {
            double p = exp(q[c] - lz) - (c == d->y[i]);
            for (int k = 0; k < K; k++) gw[k] += p * (double)d->lp[k][i * (size_t)C + (size_t)c];
        }
    }
    for (int k = 0; k < K; k++) g[k] = 2 * x[k] * gw[k] / (double)d->n;
    return nll / (double)d->n;
}

lmf_status lmf_cfuse_geo_weights(const float *const *lp, int K, size_t n, int C, const int32_t *y, double *w) {
    lmf_status s = check(K, n, C);
    if (s) return s;
    gdata d = {lp, K, C, n, y};
    double x[LMF_FUSE_MAX_MEMBERS];
    for (int k = 0; k < K; k++) x[k] = sqrt(1.0 / K);
    if (lmf_lbfgs(geo_nll, &d, (size_t)K, x, 300, 1e-12) < 0) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int k = 0; k < K; k++) w[k] = x[k] * x[k];
    return LMF_OK;
}

/* ---- stacking ---- */
typedef struct sdata {
    const float *x; /* n x F features (members' probabilities) */
    size_t n, F;
    int C;
    const int32_t *y;
    double l2;
    int K;         /* members: features k*C + c */
    int classwise; /* class c sees only features k*C + c */
    const double *cw; /* C class weights of the rows (NULL: 1) */
} sdata;

static double stack_nll(void *user, const double *th, double *g) {
    const sdata *d = (const sdata *)user;
    const int C = d->C;
    const size_t F = d->F, P = (size_t)C * F + (size_t)C;
    const double *W = th, *b = th + (size_t)C * F;
    memset(g, 0, P * sizeof *g);
    double *gW = g, *gb = g + (size_t)C * F, nll = 0, q[LMF_MAX_CLASSES], wsum = 0;
    for (size_t i = 0; i < d->n; i++) {
        const float *x = d->x + i * F;
        const double wi = d->cw ? d->cw[d->y[i]] : 1;
        wsum += wi;
        double mx = -INFINITY, sum = 0;
        for (int c = 0; c < C; c++) {
            double z = b[c];
            const double *w = W + (size_t)c * F;
            for (size_t f = 0; f < F; f++) z += w[f] * (double)x[f];
            q[c] = z;
            mx = z > mx ? z : mx;
        }
        for (int c = 0; c < C; c++) sum += exp(q[c] - mx);
        double lz = mx + log(sum);
        nll += wi * (lz - q[d->y[i]]);
        for (int c = 0; c < C; c++) {
            double p = wi * (exp(q[c] - lz) - (c == d->y[i]));
            gb[c] += p;
            double *gw = gW + (size_t)c * F;
            for (size_t f = 0; f < F; f++) gw[f] += p * (double)x[f];
        }
    }
    for (size_t j = 0; j < P; j++) g[j] /= wsum;
    nll /= wsum;
    for (size_t j = 0; j < (size_t)C * F; j++) {
        nll += 0.5 * d->l2 * W[j] * W[j];
        gW[j] += d->l2 * W[j];
    }
    /* class-wise meta-model: class c's score sees only the members'
     * probabilities of c (W starts at 0 and these entries never move) */
    for (int c = 0; c < C && d->classwise; c++)
        for (size_t f = 0; f < F; f++)
            if ((int)(f % (size_t)C) != c) gW[(size_t)c * F + f] = 0;
    return nll;
}

lmf_status lmf_cfuse_fit_stack(const float *const *lp, int K, size_t n, int C, const int32_t *y, double l2,
                               int classwise, int logp, int balanced, double *W, double *b) {
    lmf_status s = check(K, n, C);
    if (s) return s;
    const size_t F = (size_t)K * (size_t)C, P = (size_t)C * F + (size_t)C;
    float *x = (float *)lmf_malloc(n * F * sizeof *x);
    double *th = (double *)lmf_calloc(P, sizeof *th);
    if (!x || !th) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < n; i++)
        for (int k = 0; k < K; k++)
            for (int c = 0; c < C; c++)
                x[i * F + (size_t)k * C + (size_t)c] = (float)lmf_stack_feature(lp[k][i * (size_t)C + (size_t)c], logp);
    double cw[LMF_MAX_CLASSES];
    if (balanced) lmf_balanced_class_weights(y, n, C, cw);
    if (!s) {
        sdata d = {x, n, F, C, y, l2 > 0 ? l2 : 1e-3, K, classwise, balanced ? cw : NULL};
        if (lmf_lbfgs(stack_nll, &d, P, th, 500, 1e-10) < 0) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    if (!s) {
        memcpy(W, th, (size_t)C * F * sizeof *W);
        memcpy(b, th + (size_t)C * F, (size_t)C * sizeof *b);
    }
    lmf_free(x);
    lmf_free(th);
    return s;
}

lmf_status lmf_cfuse_oof(const lmf_classifier *member, const lmf_docs *train, const lmf_docs *valid, int folds,
                         float *oof, lmf_progress_fn progress, void *user) {
    if (folds < 2 || (size_t)folds > train->n)
        return lmf_error(LMF_ERR_ARG, "out-of-fold outputs need 2..%zu folds (got %d)", train->n, folds);
    const size_t n = train->n, C = (size_t)train->C;
    size_t *in = (size_t *)lmf_malloc(n * sizeof *in), *out = (size_t *)lmf_malloc(n * sizeof *out);
    float *lp = (float *)lmf_malloc(n * C * sizeof *lp);
    int *fold = (int *)lmf_malloc(n * sizeof *fold);
    lmf_status s = in && out && lp && fold ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) lmf_cfuse_folds(train->label, n, train->C, folds, fold);
    for (int f = 0; f < folds && !s; f++) {
        size_t ni = 0, no = 0;
        for (size_t i = 0; i < n; i++) {
            if (fold[i] == f) out[no++] = i;
            else in[ni++] = i;
        }
        lmf_docs tr, te;
        lmf_classifier *m = NULL;
        s = lmf_docs_subset(train, in, ni, &tr);
        if (!s && (s = lmf_docs_subset(train, out, no, &te))) lmf_docs_free(&tr);
        if (s) break;
        /* a fold may lack a class that is rare: its model cannot be trained on it */
        size_t cnt[LMF_MAX_CLASSES];
        lmf_docs_counts(&tr, cnt);
        for (size_t c = 0; c < C && !s; c++)
            if (!cnt[c])
                s = lmf_error(LMF_ERR_DATA, "%s: class %s has too few documents for %d folds", train->path,
                              train->names[c], folds);
        if (!s) s = lmf_classifier_refit(member, &tr, valid, &m);
        if (!s) s = lmf_classifier_predict(m, &te, lp, NULL, NULL);
        for (size_t j = 0; !s && j < no; j++) memcpy(oof + out[j] * C, lp + j * C, C * sizeof *lp);
        lmf_classifier_free(m);
        lmf_docs_free(&tr);
        lmf_docs_free(&te);
        if (progress) progress(user, (double)(f + 1), (double)folds);
    }
    lmf_free(in);
    lmf_free(out);
    lmf_free(lp);
    lmf_free(fold);
    return s;
}

void lmf_cfuse_diversity(const float *a, const float *b, size_t n, int C, const int32_t *y, lmf_diversity *out) {
    /* n11: both right, n00: both wrong, n10 / n01: one of them right */
    double n11 = 0, n00 = 0, n10 = 0, n01 = 0, dis = 0;
    for (size_t i = 0; i < n; i++) {
        int pa = lmf_argmax_f(a + i * (size_t)C, C), pb = lmf_argmax_f(b + i * (size_t)C, C);
        int ra = pa == y[i], rb = pb == y[i];
        dis += pa != pb;
        n11 += ra && rb, n00 += !ra && !rb, n10 += ra && !rb, n01 += !ra && rb;
    }
    out->disagreement = dis / (double)n;
    double qd = n11 * n00 + n01 * n10;
    out->q = qd > 0 ? (n11 * n00 - n01 * n10) / qd : NAN;
    /* errors e = 1 - right: Pearson correlation of two 0/1 variables (phi) */
    double ea = n00 + n01, eb = n00 + n10, N = (double)n;
    double va = ea * (N - ea), vb = eb * (N - eb);
    out->error_corr = va > 0 && vb > 0 ? (N * n00 - ea * eb) / sqrt(va * vb) : NAN;
}

/* ---- methods by name ---- */
static const struct {
    const char *name;
    int needs; /* LMF_CFUSE_NEEDS_* */
} method_table[] = {
    {"average", 0},
    {"weighted", LMF_CFUSE_NEEDS_VALID},
    {"acc-weighted", LMF_CFUSE_NEEDS_VALID},
    {"geometric", 0},
    {"geo-weighted", LMF_CFUSE_NEEDS_VALID},
    {"max", 0},
    {"vote", 0},
    {"weighted-vote", LMF_CFUSE_NEEDS_VALID},
    {"threshold-vote", 0},
    {"select", LMF_CFUSE_NEEDS_VALID},
    {"bo-weighted", LMF_CFUSE_NEEDS_VALID},
    {"stack", LMF_CFUSE_NEEDS_OOF},
    {"blend", LMF_CFUSE_NEEDS_VALID},
    {"stack-full", LMF_CFUSE_NEEDS_OOF},
    {"blend-full", LMF_CFUSE_NEEDS_VALID},
};

int lmf_cfuse_method_needs(const char *method) {
    for (size_t i = 0; i < sizeof method_table / sizeof *method_table; i++)
        if (!strcmp(method, method_table[i].name)) return method_table[i].needs;
    return -1;
}

const char *lmf_cfuse_method_name(int i) {
    return i >= 0 && (size_t)i < sizeof method_table / sizeof *method_table ? method_table[i].name : NULL;
}

void lmf_cfuse_fit_free(lmf_cfuse_fit *f) {
    lmf_free(f->W);
    memset(f, 0, sizeof *f);
}

static size_t right_count(const float *lp, size_t n, int C, const int32_t *y) {
    size_t r = 0;
    for (size_t i = 0; i < n; i++) r += lmf_argmax_f(lp + i * (size_t)C, C) == y[i];
    return r;
}

/* Caruana et al. (2004): greedy forward selection with replacement of
 * members into an average, by accuracy on y (ties: likelihood); w gets
 * each member's share of the picks. */
static lmf_status select_forward(const float *const *lp, int K, size_t n, int C, const int32_t *y, double *w) {
    double *sum = (double *)lmf_calloc(n * (size_t)C, sizeof *sum);
    float *avg = (float *)lmf_malloc(n * (size_t)C * sizeof *avg);
    if (!sum || !avg) {
        lmf_free(sum);
        lmf_free(avg);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    int picks[LMF_FUSE_MAX_MEMBERS] = {0}, total = 0, since_best = 0;
    double best_acc = -1, best_ll = -INFINITY;
    int best_picks[LMF_FUSE_MAX_MEMBERS] = {0};
    for (int step = 0; step < 4 * K && since_best < K; step++) {
        int arg = -1;
        double acc_arg = -1, ll_arg = -INFINITY;
        for (int k = 0; k < K; k++) {
            double ll = 0;
            for (size_t i = 0; i < n; i++)
                for (int c = 0; c < C; c++) {
                    double p = (sum[i * C + c] + exp((double)lp[k][i * (size_t)C + (size_t)c])) / (total + 1);
                    avg[i * (size_t)C + (size_t)c] = (float)p;
                    if (c == y[i]) ll += log(p > 1e-300 ? p : 1e-300);
                }
            double acc = (double)right_count(avg, n, C, y) / (double)n;
            if (acc > acc_arg || (acc == acc_arg && ll > ll_arg)) arg = k, acc_arg = acc, ll_arg = ll;
        }
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < C; c++) sum[i * C + c] += exp((double)lp[arg][i * (size_t)C + (size_t)c]);
        picks[arg]++;
        total++;
        if (acc_arg > best_acc || (acc_arg == best_acc && ll_arg > best_ll)) {
            best_acc = acc_arg, best_ll = ll_arg, since_best = 0;
            memcpy(best_picks, picks, sizeof picks);
        } else {
            since_best++;
        }
    }
    int bt = 0;
    for (int k = 0; k < K; k++) bt += best_picks[k];
    for (int k = 0; k < K; k++) w[k] = (double)best_picks[k] / bt;
    lmf_free(sum);
    lmf_free(avg);
    return LMF_OK;
}

/* Held-out mean log-likelihood of a stacking meta-model with penalty l2,
 * by k-fold cross-validation over the n rows (folds: lmf_cfuse_folds). */
static lmf_status stack_cv(const float *const *lp, int K, size_t n, int C, const int32_t *y, double l2, int cw,
                           int logp, int balanced, int k, double *ll) {
    const size_t F = (size_t)K * (size_t)C, nw = (size_t)C * F;
    double *W = (double *)lmf_malloc((nw + (size_t)C) * sizeof *W), *row = (double *)lmf_malloc(F * sizeof *row);
    float *sub[LMF_FUSE_MAX_MEMBERS] = {0};
    int32_t *ys = (int32_t *)lmf_malloc(n * sizeof *ys);
    int *fold = (int *)lmf_malloc(n * sizeof *fold);
    lmf_status s = W && row && ys && fold ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) lmf_cfuse_folds(y, n, C, k, fold);
    for (int j = 0; j < K && !s; j++)
        if (!(sub[j] = (float *)lmf_malloc(n * (size_t)C * sizeof *sub[j]))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    double sum = 0, wsum = 0, cwt[LMF_MAX_CLASSES];
    if (balanced) lmf_balanced_class_weights(y, n, C, cwt);
    for (int f = 0; f < k && !s; f++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (fold[i] == f) continue;
            for (int j = 0; j < K; j++) memcpy(sub[j] + m * C, lp[j] + i * (size_t)C, (size_t)C * sizeof(float));
            ys[m++] = y[i];
        }
        s = lmf_cfuse_fit_stack((const float *const *)sub, K, m, C, ys, l2, cw, logp, balanced, W, W + nw);
        for (size_t i = 0; i < n && !s; i++) {
            if (fold[i] != f) continue;
            double q[LMF_MAX_CLASSES], mx = -INFINITY, z = 0;
            for (int j = 0; j < K; j++) /* the row's features once, for every class's score */
                for (int d = 0; d < C; d++)
                    row[(size_t)j * C + (size_t)d] = lmf_stack_feature(lp[j][i * (size_t)C + (size_t)d], logp);
            for (int c = 0; c < C; c++) {
                double v = W[nw + (size_t)c];
                for (size_t j = 0; j < F; j++) v += W[(size_t)c * F + j] * row[j];
                q[c] = v;
                mx = v > mx ? v : mx;
            }
            for (int c = 0; c < C; c++) z += exp(q[c] - mx);
            const double wi = balanced ? cwt[y[i]] : 1;
            sum += wi * (q[y[i]] - mx - log(z));
            wsum += wi;
        }
    }
    *ll = sum / wsum;
    for (int j = 0; j < K; j++) lmf_free(sub[j]);
    lmf_free(W);
    lmf_free(row);
    lmf_free(ys);
    lmf_free(fold);
    return s;
}

/* Bayesian optimisation of an average's weights for valid macro-F1. */
typedef struct bodata {
    const float *const *lp;
    int K, C;
    size_t n;
    const int32_t *y;
    float *mix;
} bodata;

/* w = softmax(theta) */
static void bo_weights(const double *th, int K, double *w) {
    double mx = th[0], z = 0;
    for (int k = 1; k < K; k++) mx = th[k] > mx ? th[k] : mx;
    for (int k = 0; k < K; k++) z += w[k] = exp(th[k] - mx);
    for (int k = 0; k < K; k++) w[k] /= z;
}

/* macro-F1 of the weighted average, plus a thousandth of its mean
 * log-likelihood to order settings of equal F1 */
static double bo_objective(void *user, const double *th) {
    const bodata *d = (const bodata *)user;
    double w[LMF_FUSE_MAX_MEMBERS], ll = 0;
    bo_weights(th, d->K, w);
    for (size_t i = 0; i < d->n; i++)
        for (int c = 0; c < d->C; c++) {
            double p = 0;
            for (int k = 0; k < d->K; k++) p += w[k] * exp((double)d->lp[k][i * (size_t)d->C + (size_t)c]);
            d->mix[i * (size_t)d->C + (size_t)c] = (float)log(p > 1e-300 ? p : 1e-300);
            if (c == d->y[i]) ll += log(p > 1e-300 ? p : 1e-300);
        }
    lmf_cmetrics m;
    if (lmf_cmetrics_compute(d->y, d->mix, d->n, d->C, &m)) return NAN;
    double f1 = m.macro_f1;
    lmf_cmetrics_free(&m);
    return f1 + 1e-3 * ll / (double)d->n;
}

static lmf_status bo_fit(const float *const *lp, int K, size_t n, int C, const int32_t *y, double *w) {
    bodata d = {lp, K, C, n, y, (float *)lmf_malloc(n * (size_t)C * sizeof(float))};
    if (!d.mix) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    double th[LMF_FUSE_MAX_MEMBERS] = {0}; /* from equal weights */
    double v = lmf_bayesopt(bo_objective, &d, K, -3, 3, 40, 1, th);
    lmf_free(d.mix);
    if (isnan(v)) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    bo_weights(th, K, w);
    return LMF_OK;
}

lmf_status lmf_cfuse_fit_method(const char *method, int K, int C, const float *const *valid_lp, const int32_t *valid_y,
                                size_t nv, const float *const *oof_lp, const int32_t *train_y, size_t nt,
                                const lmf_cfuse_fit_opts *fo, lmf_cfuse_fit *out) {
    memset(out, 0, sizeof *out);
    int needs = lmf_cfuse_method_needs(method);
    if (needs < 0) return lmf_error(LMF_ERR_ARG, "unknown fusion method \"%s\"", method);
    if ((needs & LMF_CFUSE_NEEDS_VALID) && (!valid_lp || !nv))
        return lmf_error(LMF_ERR_ARG, "fusion method %s is fitted on validation documents: give them", method);
    if ((needs & LMF_CFUSE_NEEDS_OOF) && (!oof_lp || !nt))
        return lmf_error(LMF_ERR_ARG, "fusion method %s needs the members' out-of-fold outputs on train", method);
    if (K < 1 || K > LMF_FUSE_MAX_MEMBERS || C < 2)
        return lmf_error(LMF_ERR_ARG, "a fusion needs 1..%d members and 2+ classes", LMF_FUSE_MAX_MEMBERS);
    lmf_comb_opts_init(&out->o);
    snprintf(out->method, sizeof out->method, "%s", method);
    for (int k = 0; k < K; k++) out->w[k] = 1.0 / K;
    out->o.weights = out->w;
    lmf_status s = LMF_OK;
    const char *m = method;
    if (!strcmp(m, "average") || !strcmp(m, "weighted") || !strcmp(m, "acc-weighted") || !strcmp(m, "select") ||
        !strcmp(m, "bo-weighted"))
        out->o.comb = LMF_COMB_LINEAR;
    else if (!strcmp(m, "geometric") || !strcmp(m, "geo-weighted"))
        out->o.comb = LMF_COMB_LOGLINEAR;
    else if (!strcmp(m, "max"))
        out->o.comb = LMF_COMB_MAX;
    else if (!strncmp(m, "stack", 5) || !strncmp(m, "blend", 5))
        out->o.comb = LMF_COMB_STACK;
    else { /* votes, counted as votes only (vote_mass 1) */
        out->o.comb = LMF_COMB_VOTE;
        out->o.vote_mass = 1;
        out->o.top_k = 1;
        if (!strcmp(m, "threshold-vote")) out->o.threshold = fo && fo->threshold > 0 ? fo->threshold : 0.5;
    }
    if (!strcmp(m, "weighted"))
        s = lmf_cfuse_em_weights(valid_lp, K, nv, C, valid_y, out->w);
    else if (!strcmp(m, "geo-weighted"))
        s = lmf_cfuse_geo_weights(valid_lp, K, nv, C, valid_y, out->w);
    else if (!strcmp(m, "select"))
        s = select_forward(valid_lp, K, nv, C, valid_y, out->w);
    else if (!strcmp(m, "bo-weighted"))
        s = bo_fit(valid_lp, K, nv, C, valid_y, out->w);
    else if (!strcmp(m, "acc-weighted") || !strcmp(m, "weighted-vote"))
        for (int k = 0; k < K; k++) out->w[k] = (double)right_count(valid_lp[k], nv, C, valid_y) / (double)nv + 1e-9;
    if (!s && out->o.comb == LMF_COMB_STACK) {
        const size_t nw = (size_t)C * (size_t)K * (size_t)C;
        out->W = (double *)lmf_malloc((nw + (size_t)C) * sizeof *out->W);
        if (!out->W) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        out->b = out->W + nw;
        const int st = !strncmp(m, "stack", 5), cw = !strstr(m, "-full");
        const int logp = fo ? fo->meta_logp : 0, bal = fo ? fo->balanced : 0;
        const float *const *flp = st ? oof_lp : valid_lp;
        const int32_t *fy = st ? train_y : valid_y;
        const size_t fn = st ? nt : nv;
        double l2 = fo && fo->l2 > 0 ? fo->l2 : 0;
        if (!(l2 > 0)) { /* the penalty with the best held-out likelihood, 5-fold over the fitting rows */
            static const double grid[] = {1e-5, 1e-4, 1e-3, 1e-2, 1e-1};
            double best = -INFINITY;
            for (size_t g = 0; g < sizeof grid / sizeof *grid && !s; g++) {
                double ll;
                s = stack_cv(flp, K, fn, C, fy, grid[g], cw, logp, bal, fn >= 10 ? 5 : 2, &ll);
                if (!s && ll > best) best = ll, l2 = grid[g];
            }
        }
        out->l2 = l2;
        if (!s) s = lmf_cfuse_fit_stack(flp, K, fn, C, fy, l2, cw, logp, bal, out->W, out->b);
        out->sp.N = C;
        out->sp.logp = logp;
        out->sp.W = out->W;
        out->sp.b = out->b;
        out->o.stack = &out->sp;
    }
    if (s) lmf_cfuse_fit_free(out);
    return s;
}

lmf_status lmf_cfuse_apply(const lmf_comb_opts *o, int K, int C, const float *const *lp, size_t n, float *out) {
    lmf_comb *c = NULL;
    lmf_status s = lmf_comb_new(o, K, C, &c);
    if (s) return s;
    lmf_comb_state *cs = lmf_comb_state_new(c);
    float *d = (float *)lmf_malloc((size_t)K * (size_t)C * sizeof *d);
    if (!cs || !d) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n && !s; i++) {
        for (int k = 0; k < K; k++) memcpy(d + (size_t)k * C, lp[k] + i * (size_t)C, (size_t)C * sizeof *d);
        lmf_comb_state_reset(c, cs);
        lmf_comb_combine(c, cs, d, (size_t)C, NULL, out + i * (size_t)C);
    }
    lmf_free(d);
    lmf_comb_state_free(cs);
    lmf_comb_free(c);
    return s;
}
