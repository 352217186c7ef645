/* Classification metrics (lmf/classify.h), as scikit-learn defines them:
 * precision_score / recall_score / f1_score with zero_division=0, their
 * macro average over the labels present in the gold labels or the
 * predictions (scikit-learn's default label set), weighted by support for
 * weighted F1; roc_auc_score from the rank statistic with tied scores
 * averaged; log_loss with probabilities clipped to [1e-15, 1]. */
#include "classify_impl.h"
#include "../core/util_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lmf_cmetrics_free(lmf_cmetrics *m) {
    lmf_free(m->precision);
    lmf_free(m->support);
    lmf_free(m->confusion);
    memset(m, 0, sizeof *m);
}

typedef struct scored {
    double p;
    int pos;
} scored;

static int cmp_scored(const void *a, const void *b) {
    double x = ((const scored *)a)->p, y = ((const scored *)b)->p;
    return x < y ? -1 : x > y;
}

/* Area under the ROC curve of scores for the positives: the probability
 * that a random positive outranks a random negative, ties counting half
 * (average ranks). */
static double roc_auc(scored *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_scored);
    double rank_sum = 0;
    size_t npos = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].p == v[i].p) j++;
        double avg = 0.5 * (double)(i + 1 + j); /* ranks i+1..j */
        for (size_t k = i; k < j; k++)
            if (v[k].pos) rank_sum += avg, npos++;
        i = j;
    }
    size_t nneg = n - npos;
    if (!npos || !nneg) return NAN; /* undefined with one class only */
    return (rank_sum - 0.5 * (double)npos * (double)(npos + 1)) / ((double)npos * (double)nneg);
}

lmf_status lmf_cmetrics_compute(const int32_t *gold, const float *logp, size_t n, int C, lmf_cmetrics *m) {
    memset(m, 0, sizeof *m);
    if (C < 1 || n == 0) return lmf_error(LMF_ERR_ARG, "metrics need documents and classes (n = %zu, C = %d)", n, C);
    const size_t Cs = (size_t)C;
    m->precision = (double *)lmf_calloc(3 * Cs, sizeof *m->precision);
    m->support = (size_t *)lmf_calloc(2 * Cs, sizeof *m->support);
    m->confusion = (size_t *)lmf_calloc(Cs * Cs, sizeof *m->confusion);
    if (!m->precision || !m->support || !m->confusion) {
        lmf_cmetrics_free(m);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    m->recall = m->precision + Cs;
    m->f1 = m->recall + Cs;
    m->predicted = m->support + Cs;
    m->C = C;
    m->n = n;
    size_t right = 0;
    double ll = 0;
    for (size_t i = 0; i < n; i++) {
        const float *row = logp + i * Cs;
        int arg = 0;
        for (int c = 1; c < C; c++)
            if (row[c] > row[arg]) arg = c; /* ties: the lowest index */
        int y = gold[i];
        if (y < 0 || y >= C) {
            lmf_cmetrics_free(m);
            return lmf_error(LMF_ERR_ARG, "gold label %d of document %zu is not a class 0..%d", y, i + 1, C - 1);
        }
        m->confusion[(size_t)y * Cs + (size_t)arg]++;
        m->support[y]++;
        m->predicted[arg]++;
        right += arg == y;
        double p = exp((double)row[y]);
        ll -= log(p < 1e-15 ? 1e-15 : p > 1 ? 1 : p);
    }
    m->accuracy = m->micro_f1 = (double)right / (double)n;
    m->log_loss = ll / (double)n;
    int labels = 0;
    for (int c = 0; c < C; c++) {
        size_t tp = m->confusion[(size_t)c * Cs + (size_t)c];
        m->precision[c] = m->predicted[c] ? (double)tp / (double)m->predicted[c] : 0;
        m->recall[c] = m->support[c] ? (double)tp / (double)m->support[c] : 0;
        double den = (double)(m->predicted[c] + m->support[c]);
        m->f1[c] = den > 0 ? 2.0 * (double)tp / den : 0;
        if (!m->support[c] && !m->predicted[c]) continue; /* not among scikit-learn's labels */
        labels++;
        m->macro_precision += m->precision[c];
        m->macro_recall += m->recall[c];
        m->macro_f1 += m->f1[c];
        m->weighted_f1 += m->f1[c] * (double)m->support[c];
    }
    m->macro_precision /= labels;
    m->macro_recall /= labels;
    m->macro_f1 /= labels;
    m->weighted_f1 /= (double)n;
    m->roc_auc = NAN;
    if (C == 2) {
        m->fp = m->confusion[0 * Cs + 1];
        m->fn = m->confusion[1 * Cs + 0];
        scored *v = (scored *)lmf_malloc(n * sizeof *v);
        if (!v) {
            lmf_cmetrics_free(m);
            return lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) v[i].p = (double)logp[i * 2 + 1], v[i].pos = gold[i] == 1;
        m->roc_auc = roc_auc(v, n);
        lmf_free(v);
    }
    return LMF_OK;
}
