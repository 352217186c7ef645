/* The linear baseline classifier (lmf/classify.h): multinomial logistic
 * regression on hashed tf-idf features.
 *
 * Features, per document:
 *   - the text lower-cased (ASCII letters only; other bytes, UTF-8 included,
 *     are kept as they are) and split into words, the maximal runs of bytes
 *     other than blank, tab, line feed, carriage return, vertical tab and
 *     form feed;
 *   - word n-grams, n = 1..word_max: the words joined by one blank;
 *   - character n-grams, n = char_min..char_max, of each word padded with a
 *     blank on both sides, as scikit-learn's char_wb analyser takes them (a
 *     padded word no longer than n gives itself once, and no longer grams),
 *     over bytes rather than Unicode characters;
 *   - each n-gram hashed (lmf_hash_bytes, one seed for words, another for
 *     characters) into 2^hash_bits buckets, unsigned (colliding n-grams add
 *     their counts), tf = 1 + ln count, times idf = ln((1 + n) / (1 + df)) + 1
 *     with df the training documents holding the bucket (stored as float:
 *     training and scoring use the same rounded values), the vector then
 *     L2-normalised.
 * Model: logp = log_softmax(W x + b), W [C x 2^hash_bits], b [C], fitted by
 * L-BFGS from zero on the mean cross-entropy + l2/2 |W|^2 (b not
 * penalised).  Only the buckets some training document holds can move
 * from zero (the others' gradient is l2 W = 0 all along), so training runs
 * over those F columns alone, W stored feature-major [F x C] there for
 * contiguous access, and scatters the result into W afterwards.
 * Parameters are kept in float after training, so scoring is the same
 * before and after saving, bit for bit. */
#include "classify_impl.h"
#include "../core/json_impl.h"
#include "../core/optim_impl.h"
#include "../core/util_impl.h"
#include "lmf/io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NGRID 7 /* files written before 2026-12-07 hold the first 5 */
static const double grid_l2[NGRID] = {1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1};
#define DEFAULT_L2 1e-5
/* L-BFGS stops when an iteration gains less than this (mean cross-entropy, nats):
 * brown-genre trained in 168 s to test accuracy 0.4083 with it, in 357 s to
 * 0.4093 with 1e-10 */
#define MIN_GAIN 1e-7
#define MAX_HASH_BITS 28
#define MAX_WORD_N 8
#define MAX_CHAR_N 32

typedef struct lin {
    lmf_classifier base;
    lmf_linear_opts o; /* as given (o.l2 == 0: chosen on valid) */
    double l2;         /* the value trained with */
    int ngrid;         /* NGRID when l2 was chosen on valid, else 0 */
    double grid_acc[NGRID], grid_loss[NGRID]; /* valid accuracy and log-loss per grid_l2 value */
    int iters;         /* L-BFGS iterations of the final fit (0 when loaded) */
    size_t ntrain;     /* training documents (0 when loaded) */
    size_t D;          /* 2^hash_bits */
    float *W;          /* [C x D] */
    float *bias;       /* [C] */
    float *idf;        /* [D] */
} lin;

static const lmf_classifier_ops linear_ops;

void lmf_linear_opts_init(lmf_linear_opts *o) {
    o->hash_bits = 20;
    o->word_max = 2;
    o->char_min = 3;
    o->char_max = 5;
    o->l2 = 0;
    o->max_iter = 200;
}

static lmf_status check_opts(const lmf_linear_opts *o) {
    if (o->hash_bits < 1 || o->hash_bits > MAX_HASH_BITS)
        return lmf_error(LMF_ERR_ARG, "linear classifier: hash_bits must be 1..%d (got %d; 20 is the default)",
                         MAX_HASH_BITS, o->hash_bits);
    if (o->word_max < 0 || o->word_max > MAX_WORD_N)
        return lmf_error(LMF_ERR_ARG, "linear classifier: word n-grams up to 0..%d (got %d; 0: no word features)",
                         MAX_WORD_N, o->word_max);
    if (!((o->char_min == 0 && o->char_max == 0) ||
          (o->char_min >= 1 && o->char_min <= o->char_max && o->char_max <= MAX_CHAR_N)))
        return lmf_error(LMF_ERR_ARG,
                         "linear classifier: character n-grams %d..%d; give 1 <= min <= max <= %d, or 0..0 for none",
                         o->char_min, o->char_max, MAX_CHAR_N);
    if (o->word_max == 0 && o->char_max == 0)
        return lmf_error(LMF_ERR_ARG, "linear classifier: no features (word_max 0 and no character n-grams)");
    if (!(o->l2 >= 0) || !isfinite(o->l2))
        return lmf_error(LMF_ERR_ARG, "linear classifier: l2 must be >= 0 and finite (got %g; 0: chosen on valid)",
                         o->l2);
    if (o->max_iter < 1)
        return lmf_error(LMF_ERR_ARG, "linear classifier: max_iter must be >= 1 (got %d)", o->max_iter);
    return LMF_OK;
}

/* ---- features ---- */

/* Scratch of the feature extractor, reused from document to document. */
typedef struct fx {
    const lmf_linear_opts *o;
    size_t D;
    uint32_t *cnt;     /* [D] counts of the current document, all zero between documents */
    uint32_t *touched; /* buckets with a count, in first-seen order */
    uint32_t *tmp;     /* [cap_t] for sorting them */
    size_t nt, cap_t;
    char *nb;          /* the document normalised: " w1 w2 ... wk " lower-cased */
    size_t cap_nb;
    size_t *ws, *we;   /* word k is nb[ws[k]..we[k]) */
    size_t cap_w;
} fx;

static void fx_free(fx *f) {
    lmf_free(f->cnt);
    lmf_free(f->touched);
    lmf_free(f->tmp);
    lmf_free(f->nb);
    lmf_free(f->ws);
    lmf_free(f->we);
    memset(f, 0, sizeof *f);
}

static lmf_status fx_init(fx *f, const lmf_linear_opts *o) {
    memset(f, 0, sizeof *f);
    f->o = o;
    f->D = (size_t)1 << o->hash_bits;
    f->cnt = (uint32_t *)lmf_calloc(f->D, sizeof *f->cnt);
    if (!f->cnt) return lmf_error(LMF_ERR_NOMEM, "out of memory (a linear classifier's 2^%d buckets)", o->hash_bits);
    return LMF_OK;
}

static int is_blank(unsigned char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static inline lmf_status count(fx *f, const char *p, size_t n, uint64_t seed) {
    uint32_t b = (uint32_t)(lmf_hash_bytes(p, n, seed) & (f->D - 1));
    if (f->cnt[b]++) return LMF_OK;
    if (f->nt == f->cap_t) {
        size_t nc = f->cap_t ? 2 * f->cap_t : 4096;
        uint32_t *t = (uint32_t *)lmf_realloc(f->touched, nc * sizeof *t);
        if (t) f->touched = t;
        uint32_t *t2 = t ? (uint32_t *)lmf_realloc(f->tmp, nc * sizeof *t2) : NULL;
        if (t2) f->tmp = t2;
        if (!t || !t2) {
            f->cnt[b] = 0;
            return lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
        f->cap_t = nc;
    }
    f->touched[f->nt++] = b;
    return LMF_OK;
}

/* Sorts a[0..n) (values below 2^bits) by least-significant-digit radix
 * sort, 11 bits a pass, through tmp[n]; insertion sort when short. */
static void sort_u32(uint32_t *a, uint32_t *tmp, size_t n, int bits) {
    if (n < 64) {
        for (size_t i = 1; i < n; i++) {
            uint32_t v = a[i];
            size_t j = i;
            for (; j > 0 && a[j - 1] > v; j--) a[j] = a[j - 1];
            a[j] = v;
        }
        return;
    }
    uint32_t *src = a, *dst = tmp;
    for (int sh = 0; sh < bits; sh += 11) {
        size_t cnt[2048] = {0};
        for (size_t i = 0; i < n; i++) cnt[(src[i] >> sh) & 2047]++;
        size_t sum = 0;
        for (int d = 0; d < 2048; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) dst[cnt[(src[i] >> sh) & 2047]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Counts the n-grams of text[0..len) into f->cnt (buckets in f->touched,
 * sorted on return).  The caller reads the counts and calls fx_clear. */
static lmf_status fx_count(fx *f, const char *text, size_t len) {
    const lmf_linear_opts *o = f->o;
    f->nt = 0;
    if (len + 2 > f->cap_nb) {
        char *nb = (char *)lmf_realloc(f->nb, len + 2);
        if (!nb) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        f->nb = nb;
        f->cap_nb = len + 2;
    }
    /* " w1 w2 ... wk ": words at most (len + 1) / 2 */
    size_t maxw = len / 2 + 1;
    if (maxw > f->cap_w) {
        size_t *ws = (size_t *)lmf_realloc(f->ws, maxw * sizeof *ws);
        if (ws) f->ws = ws;
        size_t *we = (size_t *)lmf_realloc(f->we, maxw * sizeof *we);
        if (we) f->we = we;
        if (!ws || !we) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        f->cap_w = maxw;
    }
    size_t k = 0, nw = 0;
    char *nb = f->nb;
    nb[k++] = ' ';
    for (size_t i = 0; i < len;) {
        while (i < len && is_blank((unsigned char)text[i])) i++;
        if (i == len) break;
        f->ws[nw] = k;
        for (; i < len && !is_blank((unsigned char)text[i]); i++) {
            char ch = text[i];
            nb[k++] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
        }
        f->we[nw++] = k;
        nb[k++] = ' ';
    }
    lmf_status s = LMF_OK;
    /* word n-grams: words i..i+n-1 are nb[ws[i]..we[i+n-1]) */
    for (int n = 1; !s && n <= o->word_max; n++)
        for (size_t i = 0; !s && i + (size_t)n <= nw; i++)
            s = count(f, nb + f->ws[i], f->we[i + (size_t)n - 1] - f->ws[i], LMF_LINEAR_WORD_SEED);
    /* character n-grams of each padded word nb[ws - 1 .. we + 1) */
    for (size_t w = 0; !s && o->char_max > 0 && w < nw; w++) {
        const char *pw = nb + f->ws[w] - 1;
        size_t L = f->we[w] - f->ws[w] + 2;
        for (int n = o->char_min; !s && n <= o->char_max; n++) {
            if ((size_t)n >= L) { /* the whole padded word, once, as char_wb does */
                s = count(f, pw, L, LMF_LINEAR_CHAR_SEED);
                break;
            }
            for (size_t i = 0; !s && i + (size_t)n <= L; i++) s = count(f, pw + i, (size_t)n, LMF_LINEAR_CHAR_SEED);
        }
    }
    sort_u32(f->touched, f->tmp, f->nt, o->hash_bits);
    return s;
}

static void fx_clear(fx *f) {
    for (size_t i = 0; i < f->nt; i++) f->cnt[f->touched[i]] = 0;
    f->nt = 0;
}

/* The current document's tf-idf vector into vals[0..nt) (ids: f->touched). */
static void fx_tfidf(const fx *f, const float *idf, float *vals) {
    double ss = 0;
    for (size_t i = 0; i < f->nt; i++) {
        uint32_t b = f->touched[i];
        double v = (1 + log((double)f->cnt[b])) * (double)idf[b];
        vals[i] = (float)v;
        ss += v * v;
    }
    double inv = ss > 0 ? 1 / sqrt(ss) : 0;
    for (size_t i = 0; i < f->nt; i++) vals[i] = (float)((double)vals[i] * inv);
}

/* Sparse rows: row i is id/val[ptr[i]..ptr[i+1]), ids ascending. */
typedef struct spm {
    size_t n, nnz, cap;
    size_t *ptr;
    uint32_t *id;
    float *val;
} spm;

static void spm_free(spm *m) {
    lmf_free(m->ptr);
    lmf_free(m->id);
    lmf_free(m->val);
    memset(m, 0, sizeof *m);
}

static lmf_status spm_reserve(spm *m, size_t extra) {
    if (m->nnz + extra <= m->cap) return LMF_OK;
    size_t nc = m->cap ? m->cap : 1 << 16;
    while (nc < m->nnz + extra) nc *= 2;
    uint32_t *id = (uint32_t *)lmf_realloc(m->id, nc * sizeof *id);
    if (id) m->id = id;
    float *val = (float *)lmf_realloc(m->val, nc * sizeof *val);
    if (val) m->val = val;
    if (!id || !val) return lmf_error(LMF_ERR_NOMEM, "out of memory (document features: %zu values)", nc);
    m->cap = nc;
    return LMF_OK;
}

/* Rows of documents d: tf-idf vectors under idf, or with idf NULL the raw
 * counts (training: idf is not known yet). */
static lmf_status featurize(const lmf_docs *d, const lmf_linear_opts *o, const float *idf, spm *out) {
    memset(out, 0, sizeof *out);
    fx f;
    lmf_status s = fx_init(&f, o);
    if (!s && !(out->ptr = (size_t *)lmf_malloc((d->n + 1) * sizeof *out->ptr)))
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) out->ptr[0] = 0;
    for (size_t i = 0; !s && i < d->n; i++) {
        s = fx_count(&f, d->text[i], d->len[i]);
        if (!s) s = spm_reserve(out, f.nt);
        if (!s) {
            if (f.nt) memcpy(out->id + out->nnz, f.touched, f.nt * sizeof *out->id);
            if (idf)
                fx_tfidf(&f, idf, out->val + out->nnz);
            else
                for (size_t k = 0; k < f.nt; k++) out->val[out->nnz + k] = (float)f.cnt[f.touched[k]];
            out->nnz += f.nt;
            out->ptr[i + 1] = out->nnz;
            out->n = i + 1;
        }
        fx_clear(&f);
    }
    fx_free(&f);
    if (s) spm_free(out);
    return s;
}

/* idf[D] of raw-count rows m (n documents), then m's values made tf-idf
 * and normalised in place, as fx_tfidf does. */
static lmf_status make_idf(spm *m, size_t D, float **idf_out) {
    uint32_t *df = (uint32_t *)lmf_calloc(D, sizeof *df);
    float *idf = (float *)lmf_malloc(D * sizeof *idf);
    if (!df || !idf) {
        lmf_free(df);
        lmf_free(idf);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    for (size_t k = 0; k < m->nnz; k++) df[m->id[k]]++;
    for (size_t b = 0; b < D; b++) idf[b] = (float)(log((1.0 + (double)m->n) / (1.0 + (double)df[b])) + 1);
    lmf_free(df);
    for (size_t i = 0; i < m->n; i++) {
        double ss = 0;
        for (size_t k = m->ptr[i]; k < m->ptr[i + 1]; k++) {
            double v = (1 + log((double)m->val[k])) * (double)idf[m->id[k]];
            m->val[k] = (float)v;
            ss += v * v;
        }
        double inv = ss > 0 ? 1 / sqrt(ss) : 0;
        for (size_t k = m->ptr[i]; k < m->ptr[i + 1]; k++) m->val[k] = (float)((double)m->val[k] * inv);
    }
    *idf_out = idf;
    return LMF_OK;
}

/* ---- the objective over the active columns ----
 * x = (W' [F x C] feature-major, then b [C]).  The training rows are held
 * by column (XT: row t lists the documents holding column t), so both
 * passes read W and write the gradient in order, once, and the scattered
 * accesses go to the n x C scores, which stay in cache; row by row, every
 * entry would fetch its weights from a random place in W. */
typedef struct fit {
    const spm *XT; /* F rows: column t's documents (ids) and values */
    const int32_t *y;
    size_t n;      /* documents */
    int C;
    size_t F;
    double l2;
    double *Z;     /* [n x C] scratch: scores, then residuals */
    const double *cw; /* C class weights (NULL: 1), normalised to mean 1 over the documents */
} fit;

static double objective(void *user, const double *x, double *g) {
    const fit *p = (const fit *)user;
    const spm *XT = p->XT;
    const int C = p->C;
    const size_t FC = p->F * (size_t)C, n = p->n;
    const double *b = x + FC, inv_n = 1.0 / (double)n;
    double *Z = p->Z, *gb = g + FC, reg = 0;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < C; c++) Z[i * C + c] = b[c];
    for (size_t t = 0; t < p->F; t++) {
        const double *w = x + t * C;
        for (size_t k = XT->ptr[t]; k < XT->ptr[t + 1]; k++) {
            const double v = XT->val[k];
            double *z = Z + (size_t)XT->id[k] * C;
            for (int c = 0; c < C; c++) z[c] += v * w[c];
        }
    }
    double f = 0;
    for (int c = 0; c < C; c++) gb[c] = 0;
    for (size_t i = 0; i < n; i++) {
        double *z = Z + i * C, mx = -INFINITY, sum = 0;
        for (int c = 0; c < C; c++) mx = z[c] > mx ? z[c] : mx;
        for (int c = 0; c < C; c++) sum += (z[c] = exp(z[c] - mx));
        const int y = p->y[i];
        const double wi = p->cw ? p->cw[y] : 1;
        f += wi * (log(sum) - log(z[y]));
        /* z becomes the residual w (p - onehot) / n */
        for (int c = 0; c < C; c++) {
            z[c] = wi * (z[c] / sum - (c == y)) * inv_n;
            gb[c] += z[c];
        }
    }
    for (size_t t = 0; t < p->F; t++) {
        const double *w = x + t * C;
        double *gw = g + t * C;
        for (int c = 0; c < C; c++) {
            reg += w[c] * w[c];
            gw[c] = p->l2 * w[c];
        }
        for (size_t k = XT->ptr[t]; k < XT->ptr[t + 1]; k++) {
            const double v = XT->val[k];
            const double *r = Z + (size_t)XT->id[k] * C;
            for (int c = 0; c < C; c++) gw[c] += v * r[c];
        }
    }
    return f * inv_n + 0.5 * p->l2 * reg;
}

/* The transpose of rows m (columns 0..F-1) into out: F rows of document
 * ids, ascending. */
static lmf_status transpose(const spm *m, size_t F, spm *out) {
    memset(out, 0, sizeof *out);
    out->ptr = (size_t *)lmf_calloc(F + 1, sizeof *out->ptr);
    lmf_status s = out->ptr ? spm_reserve(out, m->nnz ? m->nnz : 1) : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) {
        spm_free(out);
        return s;
    }
    if (m->n > UINT32_MAX) {
        spm_free(out);
        return lmf_error(LMF_ERR_DATA, "more than 2^32 training documents");
    }
    for (size_t k = 0; k < m->nnz; k++) out->ptr[m->id[k] + 1]++;
    for (size_t t = 0; t < F; t++) out->ptr[t + 1] += out->ptr[t];
    for (size_t i = 0; i < m->n; i++)
        for (size_t k = m->ptr[i]; k < m->ptr[i + 1]; k++) {
            size_t at = out->ptr[m->id[k]]++;
            out->id[at] = (uint32_t)i;
            out->val[at] = m->val[k];
        }
    for (size_t t = F; t > 0; t--) out->ptr[t] = out->ptr[t - 1];
    out->ptr[0] = 0;
    out->n = F;
    out->nnz = m->nnz;
    return LMF_OK;
}

/* Accuracy and mean log-loss of x (objective's layout) on rows V; with
 * class weights cw, their weighted means (balanced accuracy). */
static void evaluate(const spm *V, const int32_t *y, int C, size_t F, const double *x, double *z, const double *cw,
                     double *acc, double *loss) {
    const double *b = x + F * (size_t)C;
    double right = 0, wsum = 0;
    double ll = 0;
    for (size_t i = 0; i < V->n; i++) {
        for (int c = 0; c < C; c++) z[c] = b[c];
        for (size_t k = V->ptr[i]; k < V->ptr[i + 1]; k++) {
            const double v = V->val[k], *w = x + (size_t)V->id[k] * C;
            for (int c = 0; c < C; c++) z[c] += v * w[c];
        }
        int best = 0;
        double mx = z[0], sum = 0;
        for (int c = 1; c < C; c++)
            if (z[c] > mx) mx = z[c], best = c;
        for (int c = 0; c < C; c++) sum += exp(z[c] - mx);
        const double wi = cw ? cw[y[i]] : 1;
        right += wi * (best == y[i]);
        ll += wi * (mx + log(sum) - z[y[i]]);
        wsum += wi;
    }
    *acc = wsum > 0 ? right / wsum : 0;
    *loss = wsum > 0 ? ll / wsum : 0;
}

/* Rows m with bucket ids replaced by columns cmap[id] (ids without one,
 * cmap -1, dropped: their weights are zero), into out. */
static lmf_status remap(const spm *m, const int32_t *cmap, spm *out) {
    memset(out, 0, sizeof *out);
    out->ptr = (size_t *)lmf_malloc((m->n + 1) * sizeof *out->ptr);
    lmf_status s = out->ptr ? spm_reserve(out, m->nnz ? m->nnz : 1) : lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (s) {
        spm_free(out);
        return s;
    }
    out->ptr[0] = 0;
    for (size_t i = 0; i < m->n; i++) {
        for (size_t k = m->ptr[i]; k < m->ptr[i + 1]; k++)
            if (cmap[m->id[k]] >= 0) {
                out->id[out->nnz] = (uint32_t)cmap[m->id[k]];
                out->val[out->nnz++] = m->val[k];
            }
        out->ptr[i + 1] = out->nnz;
    }
    out->n = m->n;
    return LMF_OK;
}

/* Columns of the buckets rows m hold: cmap[D] (-1 for none), *F of them,
 * in bucket order (so remapped rows stay sorted). */
static lmf_status active_columns(const spm *m, size_t D, int32_t **cmap_out, size_t *F) {
    int32_t *cmap = (int32_t *)lmf_malloc(D * sizeof *cmap);
    if (!cmap) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t b = 0; b < D; b++) cmap[b] = -1;
    for (size_t k = 0; k < m->nnz; k++) cmap[m->id[k]] = 0;
    size_t f = 0;
    for (size_t b = 0; b < D; b++)
        if (cmap[b] == 0) cmap[b] = (int32_t)f++;
    *cmap_out = cmap;
    *F = f;
    return LMF_OK;
}

static void lin_free(lmf_classifier *c) {
    lin *L = (lin *)c;
    lmf_classifier_base_free(c);
    lmf_free(L->W);
    lmf_free(L->bias);
    lmf_free(L->idf);
    lmf_free(L);
}

static lmf_status lin_new(const char *const *names, int C, const lmf_linear_opts *o, lin **out) {
    *out = NULL;
    lin *L = (lin *)lmf_calloc(1, sizeof *L);
    if (!L) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    L->base.ops = &linear_ops;
    L->o = *o;
    L->D = (size_t)1 << o->hash_bits;
    lmf_status s = lmf_classifier_set_names(&L->base, names, C);
    if (!s) {
        L->W = (float *)lmf_calloc((size_t)C * L->D, sizeof *L->W);
        L->bias = (float *)lmf_calloc((size_t)C, sizeof *L->bias);
        L->idf = (float *)lmf_malloc(L->D * sizeof *L->idf);
        if (!L->W || !L->bias || !L->idf)
            s = lmf_error(LMF_ERR_NOMEM, "out of memory (a linear classifier of %d classes x 2^%d buckets)", C,
                          o->hash_bits);
    }
    if (s) {
        lin_free(&L->base);
        return s;
    }
    *out = L;
    return LMF_OK;
}

static lmf_status same_classes(const lmf_docs *a, const lmf_docs *b) {
    int same = a->C == b->C;
    for (int c = 0; same && c < a->C; c++) same = !strcmp(a->names[c], b->names[c]);
    if (!same)
        return lmf_error(LMF_ERR_DATA,
                         "%s: the validation documents are over %d classes (or other names) than the training "
                         "documents' %d; read them with the training file's classes",
                         b->path ? b->path : "validation documents", b->C, a->C);
    return LMF_OK;
}

/* Trains on train; l2: o->l2 when > 0, else chosen on valid from the grid,
 * else (no valid) keep_l2 when > 0, else DEFAULT_L2. */
static lmf_status train_lin(const lmf_docs *train, const lmf_docs *valid, const lmf_linear_opts *o, double keep_l2,
                            lmf_classifier **out) {
    *out = NULL;
    lmf_status s = check_opts(o);
    if (s) return s;
    if (!train->n || train->C < 1)
        return lmf_error(LMF_ERR_DATA, "%s: no training documents", train->path ? train->path : "training set");
    if (valid && (s = same_classes(train, valid))) return s;
    const int C = train->C;
    lin *L = NULL;
    s = lin_new((const char *const *)train->names, C, o, &L);
    if (s) return s;
    const size_t D = L->D;
    spm raw, X, XT, V, Vraw;
    memset(&X, 0, sizeof X);
    memset(&XT, 0, sizeof XT);
    memset(&V, 0, sizeof V);
    memset(&Vraw, 0, sizeof Vraw);
    int32_t *cmap = NULL;
    size_t F = 0;
    double *x = NULL, *best = NULL, *z = NULL, *Z = NULL;
    float *idf = NULL;
    s = featurize(train, o, NULL, &raw);
    if (!s) s = make_idf(&raw, D, &idf);
    if (!s) {
        memcpy(L->idf, idf, D * sizeof *idf);
        s = active_columns(&raw, D, &cmap, &F);
    }
    if (!s) s = remap(&raw, cmap, &X);
    spm_free(&raw);
    if (!s) s = transpose(&X, F, &XT);
    spm_free(&X);
    const int choose = o->l2 == 0 && valid;
    if (!s && choose) {
        s = featurize(valid, o, L->idf, &Vraw);
        if (!s) s = remap(&Vraw, cmap, &V);
        spm_free(&Vraw);
    }
    const size_t P = F * (size_t)C + (size_t)C;
    if (!s) {
        x = (double *)lmf_calloc(P, sizeof *x);
        best = choose ? (double *)lmf_malloc(P * sizeof *best) : NULL;
        z = (double *)lmf_malloc((size_t)C * sizeof *z);
        Z = (double *)lmf_malloc(train->n * (size_t)C * sizeof *Z);
        if (!x || !z || !Z || (choose && !best))
            s = lmf_error(LMF_ERR_NOMEM, "out of memory (%zu parameters)", P);
    }
    double cw[LMF_MAX_CLASSES], vcw[LMF_MAX_CLASSES];
    if (o->balanced) lmf_balanced_class_weights(train->label, train->n, C, cw);
    if (o->balanced && choose) lmf_balanced_class_weights(valid->label, valid->n, C, vcw);
    fit fd = {&XT, train->label, train->n, C, F, 0, Z, o->balanced ? cw : NULL};
    if (!s && choose) {
        /* the grid from the strongest penalty down, each fit warm-started
         * from the previous solution */
        int bi = -1;
        for (int gi = NGRID - 1; !s && gi >= 0; gi--) {
            fd.l2 = grid_l2[gi];
            int it = lmf_lbfgs(objective, &fd, P, x, o->max_iter, MIN_GAIN);
            if (it < 0) {
                s = lmf_error(LMF_ERR_NOMEM, "out of memory (L-BFGS over %zu parameters)", P);
                break;
            }
            evaluate(&V, valid->label, C, F, x, z, o->balanced ? vcw : NULL, &L->grid_acc[gi], &L->grid_loss[gi]);
            if (bi < 0 || L->grid_acc[gi] > L->grid_acc[bi] ||
                (L->grid_acc[gi] == L->grid_acc[bi] && L->grid_loss[gi] < L->grid_loss[bi])) {
                bi = gi;
                L->iters = it;
                memcpy(best, x, P * sizeof *x);
            }
        }
        if (!s) {
            L->ngrid = NGRID;
            L->l2 = grid_l2[bi];
            memcpy(x, best, P * sizeof *x);
        }
    } else if (!s) {
        fd.l2 = L->l2 = o->l2 > 0 ? o->l2 : keep_l2 > 0 ? keep_l2 : DEFAULT_L2;
        L->iters = lmf_lbfgs(objective, &fd, P, x, o->max_iter, MIN_GAIN);
        if (L->iters < 0) s = lmf_error(LMF_ERR_NOMEM, "out of memory (L-BFGS over %zu parameters)", P);
    }
    if (!s) {
        for (size_t b = 0; b < D; b++)
            if (cmap[b] >= 0)
                for (int c = 0; c < C; c++) L->W[(size_t)c * D + b] = (float)x[(size_t)cmap[b] * C + c];
        for (int c = 0; c < C; c++) L->bias[c] = (float)x[F * (size_t)C + c];
        for (size_t j = 0; j < P && !s; j++)
            if (!isfinite(x[j]))
                s = lmf_error(LMF_ERR_DATA, "linear classifier: training diverged (a non-finite weight); try a "
                                            "larger l2");
        L->ntrain = train->n;
    }
    spm_free(&XT);
    spm_free(&V);
    lmf_free(cmap);
    lmf_free(idf);
    lmf_free(x);
    lmf_free(best);
    lmf_free(z);
    lmf_free(Z);
    if (s) {
        lin_free(&L->base);
        return s;
    }
    *out = &L->base;
    return LMF_OK;
}

lmf_status lmf_linear_train(const lmf_docs *train, const lmf_docs *valid, const lmf_linear_opts *o,
                            lmf_classifier **out) {
    return train_lin(train, valid, o, 0, out);
}

/* ---- the interface ---- */

static lmf_status lin_refit(const lmf_classifier *c, const lmf_docs *train, const lmf_docs *valid,
                            lmf_classifier **out) {
    const lin *L = (const lin *)c;
    return train_lin(train, valid, &L->o, L->l2, out);
}

static lmf_status lin_predict(lmf_classifier *c, const lmf_docs *d, float *logp, lmf_progress_fn progress,
                              void *user) {
    const lin *L = (const lin *)c;
    const int C = c->C;
    const size_t D = L->D;
    fx f;
    lmf_status s = fx_init(&f, &L->o);
    float *vals = NULL;
    size_t cap = 0;
    for (size_t i = 0; !s && i < d->n; i++) {
        s = fx_count(&f, d->text[i], d->len[i]);
        if (!s && f.nt > cap) {
            float *v = (float *)lmf_realloc(vals, f.nt * sizeof *v);
            if (!v) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            else vals = v, cap = f.nt;
        }
        if (!s) {
            fx_tfidf(&f, L->idf, vals);
            float *row = logp + i * (size_t)C;
            for (int k = 0; k < C; k++) {
                const float *w = L->W + (size_t)k * D;
                double zk = L->bias[k];
                for (size_t j = 0; j < f.nt; j++) zk += (double)vals[j] * w[f.touched[j]];
                row[k] = (float)zk;
            }
            lmf_log_softmax(row, C);
            if (progress) progress(user, (double)(i + 1), (double)d->n);
        }
        fx_clear(&f);
    }
    fx_free(&f);
    lmf_free(vals);
    return s;
}

static void lin_describe(const lmf_classifier *c, char *buf, size_t n) {
    const lin *L = (const lin *)c;
    const lmf_linear_opts *o = &L->o;
    int k = snprintf(buf, n, "linear classifier over %d classes: ", c->C);
    if (k >= 0 && (size_t)k < n && o->word_max > 0) k += snprintf(buf + k, n - (size_t)k, "word 1..%d", o->word_max);
    if (k >= 0 && (size_t)k < n && o->char_max > 0)
        k += snprintf(buf + k, n - (size_t)k, "%schar %d..%d", o->word_max > 0 ? " + " : "", o->char_min, o->char_max);
    if (k >= 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, " grams tf-idf in 2^%d buckets, l2 %g", o->hash_bits, L->l2);
    if (k >= 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, "%s",
                      L->ngrid ? (o->balanced ? " (chosen on valid; balanced accuracy" : " (chosen on valid; accuracy")
                      : o->l2 > 0 ? " (given)" : " (default or kept)");
    if (o->balanced && k >= 0 && (size_t)k < n) k += snprintf(buf + k, n - (size_t)k, ", class-balanced loss");
    for (int g = 0; g < L->ngrid && k >= 0 && (size_t)k < n; g++)
        k += snprintf(buf + k, n - (size_t)k, " %g: %.4f", grid_l2[g], L->grid_acc[g]);
    if (L->ngrid && k >= 0 && (size_t)k < n) k += snprintf(buf + k, n - (size_t)k, ")");
    if (L->ntrain && k >= 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, ", %zu training documents, %d L-BFGS iterations", L->ntrain, L->iters);
}

static lmf_status lin_save(const lmf_classifier *c, const char *path, cJSON *j) {
    const lin *L = (const lin *)c;
    const size_t plen = strlen(path);
    char *side = (char *)lmf_malloc(plen + sizeof ".linear.safetensors");
    if (!side) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    memcpy(side, path, plen);
    memcpy(side + plen, ".linear.safetensors", sizeof ".linear.safetensors");
    lmf_st_writer *w = lmf_st_writer_new();
    lmf_status s = w ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    int64_t shW[2] = {c->C, (int64_t)L->D}, shb[1] = {c->C}, shi[1] = {(int64_t)L->D};
    if (!s) s = lmf_st_add(w, "W", LMF_DT_F32, 2, shW, L->W);
    if (!s) s = lmf_st_add(w, "bias", LMF_DT_F32, 1, shb, L->bias);
    if (!s) s = lmf_st_add(w, "idf", LMF_DT_F32, 1, shi, L->idf);
    if (!s) s = lmf_st_set_meta(w, "lmfuse.kind", "linear classifier");
    if (!s) s = lmf_st_write(w, side);
    lmf_st_writer_free(w);
    if (!s) {
        lmf_json_init();
        uint64_t fails = lmf_json_failures();
        cJSON *grid = cJSON_CreateArray();
        for (int g = 0; grid && g < L->ngrid; g++) cJSON_AddItemToArray(grid, cJSON_CreateNumber(L->grid_acc[g]));
        if (grid) cJSON_AddItemToObject(j, "grid", grid);
        cJSON_AddStringToObject(j, "weights", lmf_base_name(side));
        cJSON_AddNumberToObject(j, "hash_bits", L->o.hash_bits);
        cJSON_AddNumberToObject(j, "word_max", L->o.word_max);
        cJSON_AddNumberToObject(j, "char_min", L->o.char_min);
        cJSON_AddNumberToObject(j, "char_max", L->o.char_max);
        cJSON_AddNumberToObject(j, "l2", L->l2);
        cJSON_AddBoolToObject(j, "choose_l2", L->o.l2 == 0);
        cJSON_AddNumberToObject(j, "max_iter", L->o.max_iter);
        cJSON_AddBoolToObject(j, "balanced", L->o.balanced != 0);
        if (!grid || lmf_json_failures() != fails) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    lmf_free(side);
    return s;
}

static const lmf_classifier_ops linear_ops = {
    .kind = "linear",
    .free = lin_free,
    .describe = lin_describe,
    .predict = lin_predict,
    .refit = lin_refit,
    .save = lin_save,
};

/* Tensor `name` of st, shape [d0] or [d0, d1] (d1 < 0: one dimension),
 * finite, into dst. */
static lmf_status load_tensor(const lmf_safetensors *st, const char *side, const char *path, const char *name,
                              int64_t d0, int64_t d1, float *dst) {
    const lmf_st_tensor *t = lmf_st_find(st, name);
    const int nd = d1 < 0 ? 1 : 2;
    if (!t || t->ndim != nd || t->shape[0] != d0 || (nd == 2 && t->shape[1] != d1)) {
        char shape[64];
        if (nd == 2) snprintf(shape, sizeof shape, "[%lld, %lld]", (long long)d0, (long long)d1);
        else snprintf(shape, sizeof shape, "[%lld]", (long long)d0);
        return lmf_error(LMF_ERR_FORMAT,
                         "%s: tensor \"%s\" is %s; the classifier %s needs shape %s (classes x 2^hash_bits); save "
                         "the classifier again",
                         side, name, t ? "mis-shaped" : "missing", path, shape);
    }
    return lmf_st_to_f32_finite(t, dst, side);
}

lmf_status lmf_linear_load(const cJSON *j, const char *path, const char *dir, char **names, int C,
                           lmf_classifier **out) {
    *out = NULL;
    lmf_linear_opts o;
    lmf_linear_opts_init(&o);
#define FIELD(k) cJSON_GetObjectItemCaseSensitive(j, k)
    const char *fix = "write it again with lmfuse classify train";
    lmf_status s = lmf_json_i32(FIELD("hash_bits"), path, "hash_bits", 1, MAX_HASH_BITS, fix, &o.hash_bits);
    if (!s) s = lmf_json_i32(FIELD("word_max"), path, "word_max", 0, MAX_WORD_N, fix, &o.word_max);
    if (!s) s = lmf_json_i32(FIELD("char_min"), path, "char_min", 0, MAX_CHAR_N, fix, &o.char_min);
    if (!s) s = lmf_json_i32(FIELD("char_max"), path, "char_max", 0, MAX_CHAR_N, fix, &o.char_max);
    double l2 = 0;
    if (!s) s = lmf_json_num(FIELD("l2"), path, "l2", 0, INFINITY, fix, &l2);
    if (!s && !(l2 > 0)) s = lmf_error(LMF_ERR_FORMAT, "%s: l2 must be > 0 (got %g); %s", path, l2, fix);
    if (!s && FIELD("max_iter"))
        s = lmf_json_i32(FIELD("max_iter"), path, "max_iter", 1, 1 << 30, fix, &o.max_iter);
    const cJSON *ch = FIELD("choose_l2"), *grid = FIELD("grid"), *wts = FIELD("weights"), *bal = FIELD("balanced");
    if (!s && bal && !cJSON_IsBool(bal))
        s = lmf_error(LMF_ERR_FORMAT, "%s: balanced must be true or false; %s", path, fix);
    o.balanced = bal && cJSON_IsTrue(bal);
    if (!s && ch && !cJSON_IsBool(ch))
        s = lmf_error(LMF_ERR_FORMAT, "%s: choose_l2 must be true or false; %s", path, fix);
    o.l2 = ch && cJSON_IsTrue(ch) ? 0 : l2;
    int ng = grid ? cJSON_GetArraySize(grid) : 0;
    if (!s && grid && (!cJSON_IsArray(grid) || ng > NGRID))
        s = lmf_error(LMF_ERR_FORMAT, "%s: grid must be an array of at most %d valid accuracies; %s", path, NGRID,
                      fix);
    if (!s && (!cJSON_IsString(wts) || !wts->valuestring[0]))
        s = lmf_error(LMF_ERR_FORMAT, "%s: \"weights\" (the file of W, bias and idf) is missing; %s", path, fix);
    if (!s) {
        s = check_opts(&o);
        if (s) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", lmf_last_error());
            s = lmf_error(LMF_ERR_FORMAT, "%s: %s", path, msg);
        }
    }
#undef FIELD
    /* the weights' file first: its W must be [C, 2^hash_bits] before that much memory is taken */
    char *side = s ? NULL : wts->valuestring[0] == '/' ? lmf_strdup(wts->valuestring)
                                                       : lmf_path_join(dir, wts->valuestring);
    if (!s && !side) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_safetensors *st = NULL;
    if (!s) s = lmf_st_open(side, &st);
    if (!s) {
        const lmf_st_tensor *tw = lmf_st_find(st, "W");
        if (!tw || tw->ndim != 2 || tw->shape[0] != C || tw->shape[1] != ((int64_t)1 << o.hash_bits))
            s = lmf_error(LMF_ERR_FORMAT, "%s: tensor \"W\" of %s is missing or not [%d, 2^%d] (classes x 2^hash_bits); %s",
                          path, side, C, o.hash_bits, fix);
    }
    lin *L = NULL;
    if (!s) s = lin_new((const char *const *)names, C, &o, &L);
    if (s) {
        lmf_st_close(st);
        lmf_free(side);
        return s;
    }
    L->l2 = l2;
    L->ngrid = ng;
    int g = 0;
    for (const cJSON *e = grid ? grid->child : NULL; !s && e && g < ng; e = e->next, g++) {
        char key[32];
        snprintf(key, sizeof key, "grid[%d]", g);
        s = lmf_json_num(e, path, key, 0, 1, fix, &L->grid_acc[g]);
    }
    if (!s) s = load_tensor(st, side, path, "W", C, (int64_t)L->D, L->W);
    if (!s) s = load_tensor(st, side, path, "bias", C, -1, L->bias);
    if (!s) s = load_tensor(st, side, path, "idf", (int64_t)L->D, -1, L->idf);
    lmf_st_close(st);
    lmf_free(side);
    if (s) {
        lin_free(&L->base);
        return s;
    }
    *out = &L->base;
    return LMF_OK;
}

/* ---- test hooks (classify_impl.h) ---- */

lmf_status lmf_linear_features(const lmf_classifier *c, const char *text, size_t len, uint32_t **ids, float **vals,
                               size_t *nnz) {
    *ids = NULL;
    *vals = NULL;
    *nnz = 0;
    if (c->ops != &linear_ops) return lmf_error(LMF_ERR_ARG, "not a linear classifier");
    const lin *L = (const lin *)c;
    fx f;
    lmf_status s = fx_init(&f, &L->o);
    if (!s) s = fx_count(&f, text, len);
    if (!s && f.nt) {
        *ids = (uint32_t *)lmf_malloc(f.nt * sizeof **ids);
        *vals = (float *)lmf_malloc(f.nt * sizeof **vals);
        if (!*ids || !*vals) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    if (!s && f.nt) {
        memcpy(*ids, f.touched, f.nt * sizeof **ids);
        fx_tfidf(&f, L->idf, *vals);
        *nnz = f.nt;
    }
    if (s) {
        lmf_free(*ids);
        lmf_free(*vals);
        *ids = NULL;
        *vals = NULL;
    }
    fx_free(&f);
    return s;
}

lmf_status lmf_linear_objective(const lmf_classifier *c, const lmf_docs *d, double l2, const double *x, double *grad,
                                double *f) {
    if (c->ops != &linear_ops) return lmf_error(LMF_ERR_ARG, "not a linear classifier");
    if (d->C != c->C || !d->n) return lmf_error(LMF_ERR_ARG, "documents over other classes, or none");
    const lin *L = (const lin *)c;
    const int C = c->C;
    const size_t D = L->D;
    spm raw, X, XT;
    memset(&X, 0, sizeof X);
    memset(&XT, 0, sizeof XT);
    int32_t *cmap = NULL;
    size_t F = 0;
    double *xc = NULL, *gc = NULL, *z = NULL;
    lmf_status s = featurize(d, &L->o, L->idf, &raw);
    if (!s) s = active_columns(&raw, D, &cmap, &F);
    if (!s) s = remap(&raw, cmap, &X);
    spm_free(&raw);
    if (!s) s = transpose(&X, F, &XT);
    spm_free(&X);
    const size_t P = F * (size_t)C + (size_t)C;
    if (!s) {
        xc = (double *)lmf_malloc(P * sizeof *xc);
        gc = (double *)lmf_malloc(P * sizeof *gc);
        z = (double *)lmf_malloc(d->n * (size_t)C * sizeof *z);
        if (!xc || !gc || !z) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    if (!s) {
        /* the columns no document holds add l2/2 w^2 to f and l2 w to the gradient */
        double rest = 0;
        for (size_t b = 0; b < D; b++)
            for (int k = 0; k < C; k++) {
                const double w = x[(size_t)k * D + b];
                if (cmap[b] >= 0)
                    xc[(size_t)cmap[b] * C + k] = w;
                else {
                    rest += w * w;
                    grad[(size_t)k * D + b] = l2 * w;
                }
            }
        memcpy(xc + F * (size_t)C, x + (size_t)C * D, (size_t)C * sizeof *xc);
        double cw[LMF_MAX_CLASSES];
        if (L->o.balanced) lmf_balanced_class_weights(d->label, d->n, C, cw);
        fit fd = {&XT, d->label, d->n, C, F, l2, z, L->o.balanced ? cw : NULL};
        *f = objective(&fd, xc, gc) + 0.5 * l2 * rest;
        for (size_t b = 0; b < D; b++)
            if (cmap[b] >= 0)
                for (int k = 0; k < C; k++) grad[(size_t)k * D + b] = gc[(size_t)cmap[b] * C + k];
        memcpy(grad + (size_t)C * D, gc + F * (size_t)C, (size_t)C * sizeof *gc);
    }
    spm_free(&XT);
    lmf_free(cmap);
    lmf_free(xc);
    lmf_free(gc);
    lmf_free(z);
    return s;
}
