/* ARPA back-off files: reading (KenLM, SRILM, IRSTLM dialects) and writing. */
#include "ngram_impl.h"
#include "../text/text_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- writing ---------------- */

/* Appends one ARPA line; b must have room (see line_room). */
static char *put_line(char *p, const lmf_ngram *m, float prob, const uint32_t *g, int n, int with_bo, float bo) {
    p += lmf_fmt_float(p, prob);
    for (int j = 0; j < n; j++) {
        size_t wl;
        const char *w = lmf_vocab_word(m->vocab, (int32_t)g[j], &wl);
        *p++ = j ? ' ' : '\t';
        memcpy(p, w, wl);
        p += wl;
    }
    if (with_bo && bo != 0.0f) {
        *p++ = '\t';
        p += lmf_fmt_float(p, bo);
    }
    *p++ = '\n';
    return p;
}

static size_t line_room(const lmf_ngram *m, const uint32_t *g, int n) {
    size_t r = 2 * 32 + 4 + (size_t)n;
    for (int j = 0; j < n; j++) {
        size_t wl;
        lmf_vocab_word(m->vocab, (int32_t)g[j], &wl);
        r += wl;
    }
    return r;
}

/* Values from the model's hash tables (prefetching a few entries ahead,
 * since the lookups are independent). */
static int values_from_tables(const lmf_ngram *m, int n, uint64_t e, float *prob, float *bo) {
    const lmf_ngram_table *t = &m->tab[n];
    if (e + 16 < t->count) {
        uint64_t k2 = lmf_ngram_key(m->seed, t->ids + (e + 16) * (uint64_t)n, n);
        __builtin_prefetch(&t->slots[lmf_slot_home(k2, t->nslots)]);
    }
    const lmf_ngram_slot *sl = lmf_ngram_find(t, lmf_ngram_key(m->seed, t->ids + e * (uint64_t)n, n));
    if (!sl) return 0;
    *prob = sl->prob;
    *bo = sl->backoff;
    return 1;
}

lmf_status lmf_ngram_write_arpa_lists(const lmf_ngram *m, const lmf_ngram_lists *L, const char *path) {
    lmf_outfile of;
    lmf_status s = lmf_outfile_open(&of, path);
    if (s) return s;
    lmf_buf b = {0};
    int32_t V = lmf_vocab_size(m->vocab);
    fprintf(of.fp, "\\data\\\n");
    fprintf(of.fp, "ngram 1=%llu\n", (unsigned long long)V + 1);
    for (int n = 2; n <= m->order; n++) fprintf(of.fp, "ngram %d=%llu\n", n, (unsigned long long)L->count[n]);
    for (int n = 1; n <= m->order && !s; n++) {
        fprintf(of.fp, "\n\\%d-grams:\n", n);
        uint64_t total = n == 1 ? (uint64_t)V + 1 : L->count[n];
        for (uint64_t e = 0; e < total && !s; e++) {
            uint32_t w1 = (uint32_t)e;
            const uint32_t *g = n == 1 ? &w1 : L->ids[n] + e * (uint64_t)n;
            float prob, bo = 0.0f;
            if (n == 1) {
                prob = m->uni_prob[e];
                bo = m->uni_backoff[e];
            } else if (L->prob[n]) {
                uint32_t k = L->perm[n] ? L->perm[n][e] : (uint32_t)e;
                prob = L->prob[n][k];
                if (L->backoff[n]) bo = L->backoff[n][k];
            } else if (!values_from_tables(m, n, e, &prob, &bo)) {
                s = lmf_error(LMF_ERR_DATA, "%s: n-gram list and table disagree (damaged model)", path);
                break;
            }
            if ((s = lmf_buf_reserve(&b, line_room(m, g, n)))) break;
            b.len = (size_t)(put_line(b.p + b.len, m, prob, g, n, n < m->order, bo) - b.p);
            if (b.len > (1 << 20)) {
                fwrite(b.p, 1, b.len, of.fp);
                b.len = 0;
            }
        }
        if (b.len) fwrite(b.p, 1, b.len, of.fp);
        b.len = 0;
    }
    lmf_buf_free(&b);
    if (s) {
        lmf_outfile_abort(&of);
        return s;
    }
    fprintf(of.fp, "\n\\end\\\n");
    return lmf_outfile_commit(&of);
}

lmf_status lmf_ngram_write_arpa(const lmf_ngram *m, const char *path) {
    lmf_ngram_lists L;
    memset(&L, 0, sizeof L);
    for (int n = 2; n <= m->order; n++) {
        if (m->tab[n].count && !m->tab[n].ids)
            return lmf_error(LMF_ERR_UNSUPPORTED, "%s: this model was loaded without n-gram lists; cannot write ARPA",
                             path);
        L.ids[n] = m->tab[n].ids;
        L.count[n] = m->tab[n].count;
    }
    return lmf_ngram_write_arpa_lists(m, &L, path);
}

/* ---------------- reading ---------------- */

typedef struct reader {
    const char *path;
    const char *p, *end;
    size_t line; /* number of the line last returned */
} reader;

/* Next line without its terminator (and without a trailing '\r'). */
static int next_line(reader *r, const char **ls, size_t *ll) {
    if (r->p >= r->end) return 0;
    const char *s = r->p;
    const char *nl = memchr(s, '\n', (size_t)(r->end - s));
    const char *e = nl ? nl : r->end;
    r->p = nl ? nl + 1 : r->end;
    if (e > s && e[-1] == '\r') e--;
    *ls = s;
    *ll = (size_t)(e - s);
    r->line++;
    return 1;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!lmf_is_space((unsigned char)s[i])) return 0;
    return 1;
}

/* Splits into whitespace-separated fields; returns the count (max maxf+1
 * meaning "too many"). */
static int split_fields(const char *s, size_t n, const char **f, size_t *fl, int maxf) {
    int k = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && lmf_is_space((unsigned char)s[i])) i++;
        if (i >= n) break;
        size_t st = i;
        while (i < n && !lmf_is_space((unsigned char)s[i])) i++;
        if (k == maxf) return maxf + 1;
        f[k] = s + st;
        fl[k] = i - st;
        k++;
    }
    return k;
}

/* Fast path for plain decimals ("-1.2345678"): at most 15 significant
 * digits and 22 after the point, so the integer and the power of ten are
 * exact doubles and their quotient is correctly rounded; rounding that to
 * float is then correct too unless the double falls exactly on a midpoint
 * between two floats (double rounding), which is left to strtof.  Returns 0
 * when the text is not such a number. */
static int fast_float(const char *s, size_t n, float *out) {
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    uint64_t mant = 0;
    int digits = 0, frac = -1, any = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            any = 1;
            if (mant == 0 && c == '0') { /* leading zeros do not count */
                if (frac >= 0) frac++;
                continue;
            }
            if (++digits > 15) return 0;
            mant = mant * 10 + (uint64_t)(c - '0');
            if (frac >= 0) frac++;
        } else if (c == '.' && frac < 0) {
            frac = 0;
        } else {
            return 0;
        }
    }
    if (!any || frac > 22) return 0;
    double d = (double)mant / p10[frac > 0 ? frac : 0];
    if (neg) d = -d;
    float f = (float)d;
    if ((double)f != d) {
        float g = nextafterf(f, d > (double)f ? INFINITY : -INFINITY);
        if (d == ((double)f + (double)g) * 0.5) return 0;
    }
    *out = f;
    return 1;
}

static int parse_float(const char *s, size_t n, float *out) {
    if (fast_float(s, n, out)) return 1;
    char buf[64];
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *e;
    errno = 0;
    float v = strtof(buf, &e);
    if (*e || e == buf || isnan(v)) return 0;
    if (errno == ERANGE && isinf(v) == 0 && v != 0) return 0;
    *out = v;
    return 1;
}

/* ---------------- missing contexts and suffixes ----------------
 * Queries walk from the word leftwards through ever longer n-grams and keep
 * the matched n-gram's words as the next context, so every n-gram's suffix
 * and prefix must be present.  Pruned models (SRILM's -prune, for one) can
 * lack some.  Each missing one is inserted with backoff 0 and the
 * probability the back-off rule gives it, which changes no score. */
typedef struct idset {
    uint32_t *slot; /* entry + 1, 0 = empty */
    uint64_t n;     /* power of two */
} idset;

static uint64_t set_hash(const uint32_t *g, int k) { return lmf_ngram_key(0x1dULL, g, k); }

static lmf_status set_build(idset *st, const uint32_t *ids, uint64_t count, int k) {
    lmf_free(st->slot);
    st->n = lmf_pow2_ceil(2 * count + 16);
    st->slot = (uint32_t *)lmf_calloc(st->n, sizeof *st->slot);
    if (!st->slot) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (uint64_t e = 0; e < count; e++) {
        uint64_t i = set_hash(ids + e * k, k) & (st->n - 1);
        while (st->slot[i]) i = (i + 1) & (st->n - 1);
        st->slot[i] = (uint32_t)e + 1;
    }
    return LMF_OK;
}

static int set_has(const idset *st, const uint32_t *ids, const uint32_t *g, int k) {
    uint64_t i = set_hash(g, k) & (st->n - 1);
    for (; st->slot[i]; i = (i + 1) & (st->n - 1))
        if (!memcmp(ids + (uint64_t)(st->slot[i] - 1) * k, g, (size_t)k * sizeof *g)) return 1;
    return 0;
}

static lmf_status add_missing(uint32_t *ids[], float *probs[], float *bos[], uint64_t counts[], uint64_t caps[],
                              idset *st, int k, const uint32_t *g) {
    if (set_has(st, ids[k], g, k)) return LMF_OK;
    if (counts[k] == caps[k]) {
        uint64_t nc = caps[k] * 2 + 16;
        uint32_t *ni = (uint32_t *)lmf_realloc(ids[k], nc * k * sizeof *ni);
        if (ni) ids[k] = ni;
        float *np = ni ? (float *)lmf_realloc(probs[k], nc * sizeof *np) : NULL;
        if (np) probs[k] = np;
        float *nb = np ? (float *)lmf_realloc(bos[k], nc * sizeof *nb) : NULL;
        if (!nb) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        bos[k] = nb;
        caps[k] = nc;
    }
    memcpy(ids[k] + counts[k] * k, g, (size_t)k * sizeof *g);
    probs[k][counts[k]] = 0;
    bos[k][counts[k]] = 0;
    counts[k]++;
    if (2 * counts[k] > st->n) return set_build(st, ids[k], counts[k], k);
    uint64_t i = set_hash(g, k) & (st->n - 1);
    while (st->slot[i]) i = (i + 1) & (st->n - 1);
    st->slot[i] = (uint32_t)counts[k];
    return LMF_OK;
}

/* Adds missing prefixes/suffixes to the id lists (orders order-1 .. 2). */
static lmf_status insert_missing(int order, uint32_t *ids[], float *probs[], float *bos[], uint64_t counts[]) {
    uint64_t caps[LMF_NGRAM_MAX_ORDER + 1];
    for (int k = 0; k <= order; k++) caps[k] = counts[k];
    idset st = {0};
    lmf_status s = LMF_OK;
    for (int k = order - 1; k >= 2 && !s; k--) {
        if ((s = set_build(&st, ids[k], counts[k], k))) break;
        for (uint64_t e = 0; e < counts[k + 1] && !s; e++) {
            const uint32_t *g = ids[k + 1] + e * (k + 1);
            s = add_missing(ids, probs, bos, counts, caps, &st, k, g);
            if (!s) s = add_missing(ids, probs, bos, counts, caps, &st, k, g + 1);
        }
    }
    lmf_free(st.slot);
    return s;
}

/* log10 backoff of ids g[0..k) (0 if absent). */
static float backoff_of(const lmf_ngram *m, const uint32_t *g, int k) {
    if (k == 1) return m->uni_backoff[g[0]];
    const lmf_ngram_slot *sl = lmf_ngram_find(&m->tab[k], lmf_ngram_key(m->seed, g, k));
    return sl ? sl->backoff : 0.0f;
}

/* Sets the probabilities of the inserted n-grams ins[k] (nins[k] of them),
 * lowest order first so that each can use the ones below it. */
static void fill_inserted(lmf_ngram *m, uint32_t *const ins[], const uint64_t nins[]) {
    for (int k = 2; k < m->order; k++) {
        lmf_ngram_table *t = &m->tab[k];
        for (uint64_t e = 0; e < nins[k]; e++) {
            const uint32_t *g = ins[k] + e * k;
            /* p(g[k-1] | g[0..k-1)) = bo(g[0..k-1)) + p(g[k-1] | g[1..k-1)) */
            lmf_ngram_ctx ctx;
            memset(&ctx, 0, sizeof ctx);
            ctx.len = k - 2;
            for (int j = 0; j < k - 2; j++) {
                ctx.words[j] = (int32_t)g[k - 2 - j];
                ctx.backoff[j] = backoff_of(m, g + k - 2 - j, j + 1);
            }
            float p = backoff_of(m, g, k - 1) + lmf_ngram_score_word(m, &ctx, (int32_t)g[k - 1], NULL, NULL);
            lmf_ngram_slot *sl = (lmf_ngram_slot *)lmf_ngram_find(t, lmf_ngram_key(m->seed, g, k));
            LMF_ASSERT(sl);
            sl->prob = p;
        }
    }
}

/* Whether some n-gram lacks its context or suffix in the tables. */
static int has_missing(const lmf_ngram *m) {
    for (int n = 3; n <= m->order; n++) {
        const lmf_ngram_table *t = &m->tab[n], *lo = &m->tab[n - 1];
        for (uint64_t e = 0; e < t->count; e++) {
            const uint32_t *g = t->ids + e * (uint64_t)n;
            if (e + 16 < t->count) {
                const uint32_t *h = g + 16 * n;
                __builtin_prefetch(&lo->slots[lmf_slot_home(lmf_ngram_key(m->seed, h, n - 1), lo->nslots)]);
                __builtin_prefetch(&lo->slots[lmf_slot_home(lmf_ngram_key(m->seed, h + 1, n - 1), lo->nslots)]);
            }
            if (!lmf_ngram_find(lo, lmf_ngram_key(m->seed, g, n - 1)) ||
                !lmf_ngram_find(lo, lmf_ngram_key(m->seed, g + 1, n - 1)))
                return 1;
        }
    }
    return 0;
}

#define FAIL(...) lmf_error(LMF_ERR_FORMAT, __VA_ARGS__)

lmf_status lmf_ngram_read_arpa(const char *path, const lmf_ngram_load_opts *opts, lmf_ngram **out) {
    (void)opts;
    *out = NULL;
    lmf_filebuf fb;
    lmf_status s = lmf_file_map(path, &fb);
    if (s) return s;
    reader r = {path, fb.data, fb.data + fb.size, 0};
    const char *ls;
    size_t ll;
    uint64_t counts[LMF_NGRAM_MAX_ORDER + 1] = {0};
    int order = 0;
    lmf_vocab *vocab = NULL;
    lmf_ngram *m = NULL;
    uint32_t *ids[LMF_NGRAM_MAX_ORDER + 1] = {0};
    float *probs[LMF_NGRAM_MAX_ORDER + 1] = {0}, *bos[LMF_NGRAM_MAX_ORDER + 1] = {0};
    uint64_t got[LMF_NGRAM_MAX_ORDER + 1] = {0};
    int32_t *uni_id = NULL;
    float *uni_p = NULL, *uni_b = NULL;
    uint64_t orig[LMF_NGRAM_MAX_ORDER + 1];
    uint32_t *ins[LMF_NGRAM_MAX_ORDER + 1] = {0}; /* n-grams inserted by insert_missing */
    uint64_t nins[LMF_NGRAM_MAX_ORDER + 1] = {0};

    /* header: skip anything before \data\ */
    int found = 0;
    while (next_line(&r, &ls, &ll)) {
        if (ll == 6 && !memcmp(ls, "\\data\\", 6)) {
            found = 1;
            break;
        }
    }
    if (!found) {
        s = FAIL("%s: no \\data\\ line; this is not an ARPA language model file", path);
        goto done;
    }
    int maxseen = 0;
    for (;;) {
        if (!next_line(&r, &ls, &ll)) {
            s = FAIL("%s:%zu: file ends inside the \\data\\ header (truncated?)", path, r.line);
            goto done;
        }
        if (is_blank(ls, ll)) {
            if (order) break;
            continue;
        }
        if (ll > 6 && !memcmp(ls, "ngram ", 6)) {
            char buf[64];
            size_t n = ll - 6 < 63 ? ll - 6 : 63;
            memcpy(buf, ls + 6, n);
            buf[n] = 0;
            int o;
            unsigned long long c;
            char tail;
            if (sscanf(buf, " %d = %llu %c", &o, &c, &tail) != 2 || o < 1) {
                s = FAIL("%s:%zu: malformed count line \"%.*s\"; expected \"ngram N=COUNT\"", path, r.line, (int)ll,
                         ls);
                goto done;
            }
            if (o > LMF_NGRAM_MAX_ORDER) {
                s = lmf_error(LMF_ERR_UNSUPPORTED, "%s:%zu: order %d is above the supported maximum %d", path,
                              r.line, o, LMF_NGRAM_MAX_ORDER);
                goto done;
            }
            if (counts[o] || (o == 1 && c == 0) || o != maxseen + 1) {
                s = FAIL("%s:%zu: ngram %d=%llu: counts must be listed once each, for orders 1, 2, ... without gaps "
                         "(and at least one unigram)",
                         path, r.line, o, c);
                goto done;
            }
            if (c > ((uint64_t)1 << 32) - 2 || c > fb.size / 2) {
                s = FAIL("%s:%zu: ngram %d=%llu is more n-grams than the file can hold", path, r.line, o, c);
                goto done;
            }
            counts[o] = c;
            maxseen = order = o;
            continue;
        }
        if (ls[0] == '\\') break;
        s = FAIL("%s:%zu: unexpected line in \\data\\ header: \"%.*s\"", path, r.line, (int)(ll > 60 ? 60 : ll), ls);
        goto done;
    }
    if (!order) {
        s = FAIL("%s:%zu: \\data\\ header lists no \"ngram N=COUNT\" lines", path, r.line);
        goto done;
    }
    for (int n = 2; n <= order; n++) {
        ids[n] = (uint32_t *)lmf_malloc((counts[n] ? counts[n] : 1) * n * sizeof(uint32_t));
        probs[n] = (float *)lmf_malloc((counts[n] ? counts[n] : 1) * sizeof(float));
        bos[n] = (float *)lmf_calloc(counts[n] ? counts[n] : 1, sizeof(float));
        if (!ids[n] || !probs[n] || !bos[n]) {
            s = lmf_error(LMF_ERR_NOMEM, "%s: out of memory for %llu %d-grams", path, (unsigned long long)counts[n], n);
            goto done;
        }
    }
    vocab = lmf_vocab_new(LMF_TOK_WORD);
    uni_id = (int32_t *)lmf_malloc(counts[1] * sizeof *uni_id);
    uni_p = (float *)lmf_malloc(counts[1] * sizeof *uni_p);
    uni_b = (float *)lmf_malloc(counts[1] * sizeof *uni_b);
    if (!vocab || !uni_id || !uni_p || !uni_b) {
        s = lmf_error(LMF_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }

    /* sections */
    int cur = 0, ended = 0, bos_index = -1;
    int seen[LMF_NGRAM_MAX_ORDER + 1] = {0};
    /* the line that ended the header loop may already be a section header */
    int have_line = !is_blank(ls, ll);
    for (;;) {
        if (!have_line && !next_line(&r, &ls, &ll)) break;
        have_line = 0;
        if (is_blank(ls, ll)) continue;
        if (ls[0] == '\\') {
            if (ll == 5 && !memcmp(ls, "\\end\\", 5)) {
                ended = 1;
                break;
            }
            int o;
            char tail[16];
            char buf[64];
            size_t n = ll < 63 ? ll : 63;
            memcpy(buf, ls, n);
            buf[n] = 0;
            if (sscanf(buf, "\\%d-grams:%15s", &o, tail) != 1 || o < 1 || o > order) {
                s = FAIL("%s:%zu: unexpected section header \"%.*s\" (expected \\N-grams: with N in 1..%d, or "
                         "\\end\\)",
                         path, r.line, (int)(ll > 60 ? 60 : ll), ls, order);
                goto done;
            }
            if (cur && got[cur] != counts[cur]) {
                s = FAIL("%s:%zu: the \\%d-grams: section has %llu entries but \\data\\ says %llu", path, r.line,
                         cur, (unsigned long long)got[cur], (unsigned long long)counts[cur]);
                goto done;
            }
            if (seen[o]) {
                s = FAIL("%s:%zu: second \\%d-grams: section", path, r.line, o);
                goto done;
            }
            if (o != 1 && !seen[1]) {
                s = FAIL("%s:%zu: \\%d-grams: before \\1-grams:; the unigram section must come first", path, r.line,
                         o);
                goto done;
            }
            seen[o] = 1;
            cur = o;
            continue;
        }
        if (!cur) {
            s = FAIL("%s:%zu: n-gram line outside any \\N-grams: section", path, r.line);
            goto done;
        }
        if (got[cur] >= counts[cur]) {
            s = FAIL("%s:%zu: more %d-grams than the %llu that \\data\\ announces", path, r.line, cur,
                     (unsigned long long)counts[cur]);
            goto done;
        }
        const char *f[LMF_NGRAM_MAX_ORDER + 3];
        size_t fl[LMF_NGRAM_MAX_ORDER + 3];
        int nf = split_fields(ls, ll, f, fl, cur + 2);
        if (nf < cur + 1 || nf > cur + 2) {
            s = FAIL("%s:%zu: a %d-gram line needs a log10 probability, %d word%s and an optional backoff; got %d "
                     "field%s",
                     path, r.line, cur, cur, cur > 1 ? "s" : "", nf > cur + 2 ? nf - 1 : nf, nf == 1 ? "" : "s");
            goto done;
        }
        float p, b = 0.0f;
        if (!parse_float(f[0], fl[0], &p)) {
            s = FAIL("%s:%zu: \"%.*s\" is not a number (expected a log10 probability)", path, r.line,
                     (int)(fl[0] > 40 ? 40 : fl[0]), f[0]);
            goto done;
        }
        if (p > 0) {
            s = FAIL("%s:%zu: positive log10 probability %g", path, r.line, (double)p);
            goto done;
        }
        if (nf == cur + 2) {
            if (!parse_float(f[cur + 1], fl[cur + 1], &b) || isinf(b)) {
                s = FAIL("%s:%zu: \"%.*s\" is not a finite number (expected a log10 backoff)", path, r.line,
                         (int)(fl[cur + 1] > 40 ? 40 : fl[cur + 1]), f[cur + 1]);
                goto done;
            }
        }
        if (cur == 1) {
            if (fl[1] == 3 && !memcmp(f[1], "<s>", 3)) {
                if (bos_index >= 0) {
                    s = FAIL("%s:%zu: duplicate unigram <s>", path, r.line);
                    goto done;
                }
                bos_index = (int)got[1];
                uni_id[got[1]] = -2;
            } else {
                int32_t before = lmf_vocab_size(vocab);
                int32_t id = lmf_vocab_add(vocab, f[1], fl[1]);
                if (id < 0) {
                    s = lmf_error(LMF_ERR_NOMEM, "%s: out of memory", path);
                    goto done;
                }
                if (id < before && id >= 2) {
                    s = FAIL("%s:%zu: duplicate unigram \"%.*s\"", path, r.line, (int)fl[1], f[1]);
                    goto done;
                }
                uni_id[got[1]] = id;
            }
            uni_p[got[1]] = p;
            uni_b[got[1]] = b;
        } else {
            if (!seen[1] || got[1] != counts[1]) {
                s = FAIL("%s:%zu: incomplete unigram section", path, r.line);
                goto done;
            }
            uint32_t *g = ids[cur] + got[cur] * cur;
            int32_t V = lmf_vocab_size(vocab);
            for (int j = 0; j < cur; j++) {
                int32_t id = lmf_vocab_find(vocab, f[1 + j], fl[1 + j]);
                if (id < 0) {
                    s = FAIL("%s:%zu: word \"%.*s\" is not in the unigram section", path, r.line,
                             (int)(fl[1 + j] > 60 ? 60 : fl[1 + j]), f[1 + j]);
                    goto done;
                }
                /* IRSTLM pads with several <s> ("<s> <s> The"): accept leading runs */
                if ((id == V && j > 0 && g[j - 1] != (uint32_t)V) || (id == LMF_EOS && j < cur - 1)) {
                    s = FAIL("%s:%zu: <s> may only lead and </s> only end an n-gram", path, r.line);
                    goto done;
                }
                g[j] = (uint32_t)id;
            }
            probs[cur][got[cur]] = p;
            bos[cur][got[cur]] = b;
        }
        got[cur]++;
    }
    if (!ended) {
        s = FAIL("%s:%zu: file ends without \\end\\ (truncated?)", path, r.line);
        goto done;
    }
    if (cur && got[cur] != counts[cur]) {
        s = FAIL("%s:%zu: the \\%d-grams: section has %llu entries but \\data\\ says %llu", path, r.line, cur,
                 (unsigned long long)got[cur], (unsigned long long)counts[cur]);
        goto done;
    }
    for (int n = 1; n <= order; n++)
        if (!seen[n]) {
            s = FAIL("%s: the \\%d-grams: section is missing", path, n);
            goto done;
        }

    lmf_filebuf_free(&fb); /* everything needed is copied out: drop the text before building */

    /* unigrams into dense arrays */
    int32_t V = lmf_vocab_size(vocab);
    m = lmf_ngram_alloc(vocab, order);
    if (!m) {
        s = lmf_error(LMF_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    vocab = NULL;
    m->uni_prob = (float *)lmf_malloc(((size_t)V + 1) * sizeof(float));
    m->uni_backoff = (float *)lmf_calloc((size_t)V + 1, sizeof(float));
    if (!m->uni_prob || !m->uni_backoff) {
        s = lmf_error(LMF_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int32_t w = 0; w <= V; w++) m->uni_prob[w] = NAN;
    for (uint64_t i = 0; i < counts[1]; i++) {
        int32_t id = uni_id[i] == -2 ? V : uni_id[i];
        m->uni_prob[id] = uni_p[i];
        m->uni_backoff[id] = uni_b[i];
    }
    if (isnan(m->uni_prob[LMF_UNK])) {
        lmf_log(LMF_LOG_WARN, "%s: no <unk> unigram; unknown words get log10 p = -100 (as KenLM does)", path);
        m->uni_prob[LMF_UNK] = -100.0f;
        m->uni_backoff[LMF_UNK] = 0;
    }
    if (isnan(m->uni_prob[LMF_EOS])) {
        lmf_log(LMF_LOG_WARN, "%s: no </s> unigram; end of sentence gets log10 p = -100", path);
        m->uni_prob[LMF_EOS] = -100.0f;
        m->uni_backoff[LMF_EOS] = 0;
    }
    if (isnan(m->uni_prob[V])) {
        m->uni_prob[V] = -99.0f;
        m->uni_backoff[V] = 0;
    }
    /* Build, then check that every n-gram's context and suffix exist (a
     * lookup each).  Only files that lack some (pruned models) take the
     * slow path: lists and values back out of the tables, insert, rebuild. */
    s = lmf_ngram_build_tables(m, ids, counts, probs, bos);
    if (!s && has_missing(m)) {
        for (int n = 2; n <= order && !s; n++) {
            lmf_ngram_table *t = &m->tab[n];
            ids[n] = t->ids;
            t->ids = NULL;
            probs[n] = (float *)lmf_malloc((counts[n] ? counts[n] : 1) * sizeof(float));
            bos[n] = (float *)lmf_malloc((counts[n] ? counts[n] : 1) * sizeof(float));
            if (!probs[n] || !bos[n]) {
                s = lmf_error(LMF_ERR_NOMEM, "out of memory");
                break;
            }
            for (uint64_t e = 0; e < counts[n]; e++) {
                const lmf_ngram_slot *sl = lmf_ngram_find(t, lmf_ngram_key(m->seed, ids[n] + e * n, n));
                LMF_ASSERT(sl);
                probs[n][e] = sl->prob;
                bos[n][e] = sl->backoff;
            }
            lmf_free(t->slots);
            t->slots = NULL;
            t->nslots = 0;
            t->count = 0;
        }
        memcpy(orig, counts, sizeof orig);
        if (!s) s = insert_missing(order, ids, probs, bos, counts);
        uint64_t added = 0;
        for (int n = 2; n <= order && !s; n++) {
            added += counts[n] - orig[n];
            /* keep the inserted n-grams: the table builder reorders the lists */
            nins[n] = counts[n] - orig[n];
            if (!nins[n]) continue;
            ins[n] = (uint32_t *)lmf_malloc(nins[n] * n * sizeof(uint32_t));
            if (!ins[n]) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            else memcpy(ins[n], ids[n] + orig[n] * n, nins[n] * n * sizeof(uint32_t));
        }
        if (!s)
            lmf_log(LMF_LOG_INFO, "%s: inserted %llu missing context/suffix n-grams (backoff 0; scores unchanged)",
                    path, (unsigned long long)added);
        if (!s) s = lmf_ngram_build_tables(m, ids, counts, probs, bos);
        if (!s) fill_inserted(m, ins, nins);
    }
    if (!s) lmf_ngram_mark_contexts(m);
    if (s) {
        /* name the file (duplicate n-gram messages come from the table builder) */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lmf_last_error());
        s = lmf_error(s, "%s: %s", path, msg);
    }

done:
    for (int n = 0; n <= LMF_NGRAM_MAX_ORDER; n++) {
        lmf_free(ins[n]);
        lmf_free(ids[n]);
        lmf_free(probs[n]);
        lmf_free(bos[n]);
    }
    lmf_free(uni_id);
    lmf_free(uni_p);
    lmf_free(uni_b);
    lmf_vocab_free(vocab);
    lmf_filebuf_free(&fb);
    if (s) {
        lmf_ngram_free(m);
        return s;
    }
    *out = m;
    return LMF_OK;
}
