/* sphinxbase's binary trie language models ("Trie Language Model", the
 * format of pocketsphinx's en-us.lm.bin) converted to ARPA.
 *
 * Layout (little-endian; c[n] = the header's count of n-grams, V = c[1]):
 *   "Trie Language Model" (19 bytes, no NUL), u8 order N (1..5), u32 c[1..N]
 *   if N > 1: i32 quantisation (1; some sphinxbase versions write 0 there,
 *     the data are quantised all the same), then tables of 65536 f32 bin
 *     values: for n = 2..N-1 a probability table and a backoff table, then
 *     the N-gram probability table
 *   V+1 unigrams {f32 prob, f32 backoff, u32 first child}; the last is a
 *     sentinel whose "first child" ends the last word's children
 *   if N > 1: for n = 2..N-1 a block of c[n]+1 bit-packed records
 *     {word: B bits, backoff bin: 16, prob bin: 16, first child: bits(c[n+1])},
 *     then one of c[N]+1 records {word: B bits, prob bin: 16}; B = bits(V),
 *     bits(x) = bits needed to write x; record i starts at bit i * width, bit
 *     j of a block is bit j%8 of its byte j/8; a block is
 *     ceil(records * width / 8) + 8 bytes
 *   i32 k, then k bytes: the V words, each NUL-terminated
 *
 * The trie is keyed from the predicted word leftwards: the children of
 * unigram w are the bigrams "x w" (sorted by x's id), the children of bigram
 * "x w" the trigrams "y x w", and so on.  A record's children run from its
 * "first child" to the next record's; the record after the last one used
 * (the sentinel) ends the last range.  Probabilities and backoffs are
 * logarithms in the base of the logmath object the model was built with,
 * 1.0001 for pocketsphinx and sphinx_lm_convert (the file does not say so);
 * the ARPA gets x * log10(1.0001), as sphinxbase's own ARPA writer
 * (logmath_log_float_to_log10) computes it.
 *
 * Counts.  The header's counts are what sphinxbase's builder predicted
 * before building (lm_trie_fix_counts: the ARPA's n-grams plus the blank
 * (n-1)-grams it must add so that every n-gram's path exists); they size the
 * blocks.  The builder itself (recursive_insert) decides whether a blank is
 * needed by comparing each n-gram with the path of the one inserted before
 * it, and when it moves on to the next unigram it keeps the previous word's
 * history words.  So if the first entry of word w is a trigram "y x w" with
 * no bigram "x w", and the last bigram of the word before w was "x v", no
 * blank is inserted: the trigram is filed among the children of "x v", where
 * a lookup finds it as "y x v".  The prediction counted a blank bigram for it
 * that was never made.  en-us.lm.bin's header says 2051547 bigrams, its
 * trie holds 2051541 (the trigram count, 1669625, is right); two of its
 * misfiled trigrams show because they break their siblings' order: going by
 * the words that follow in id order, "teased and bullied" sits among the
 * children of "and bullhorns" and "<s> and jerrold" among those of "and
 * jerri" (the bigrams "and bullied" and "and jerrold" are absent).  Debian's
 * sphinx_lm_convert walks the trie, finds 2051541 bigrams and asserts that it
 * found the header's number.  Here the counts are those of the records the
 * trie holds, known from the sentinels, and the ARPA's counts are those of
 * the lines written.
 *
 * Lookup.  A misfiled trigram can break the sort order of its new siblings
 * (two do in en-us.lm.bin), and sphinxbase finds a record among its siblings
 * by interpolation search, which then misses some of them.  The ARPA keeps
 * exactly the n-grams sphinxbase's lookup finds, so that every sentence
 * scores as in pocketsphinx: all records of a sorted sibling range, and in an
 * unsorted range those that the same search (emulated here with its 32-bit
 * arithmetic) lands on.  The others are left out with a warning.  In
 * en-us.lm.bin, "teased and bullhorns" and "coach and jerri" are found,
 * "whips and bullhorns" and "<s> and jerri" are not. */
#include "lmf/ngram.h"
#include "../core/util_impl.h"

#include <math.h>
#include <string.h>

#define SPH_MAGIC "Trie Language Model"
#define SPH_MAGIC_LEN 19
#define SPH_MAX_ORDER 5            /* sphinxbase's NGRAM_MAX_ORDER */
#define SPH_BINS 65536u            /* 16-bit quantisation */
#define SPH_MAX_COUNT (1u << 25)   /* word ids and child pointers take at most 25 bits */
#define SPH_UNI_BYTES 12u

typedef struct sph_level {
    const unsigned char *p;    /* the block */
    uint64_t len;              /* its bytes */
    uint64_t used;             /* records the trie holds (the sentinel's index) */
    unsigned wbits, nbits;     /* word and child-pointer bits (nbits 0 at the top order) */
    unsigned width;            /* bits per record */
    const unsigned char *prob_bins, *bo_bins; /* SPH_BINS f32 each; bo_bins NULL at the top order */
} sph_level;

typedef struct sph_trie {
    const char *path;
    int order;
    uint32_t V;
    uint32_t count[SPH_MAX_ORDER + 1]; /* count[n]: the header's n-gram count */
    const unsigned char *uni;          /* V+1 unigram records */
    sph_level lv[SPH_MAX_ORDER + 1];   /* lv[n], n = 2..order */
    const char **word;                 /* the V words, in the file */
    uint32_t *wlen;
    double to_log10;                   /* log10 of the logmath base */
    uint64_t budget;                   /* steps left for emulated lookups */
    uint64_t found[SPH_MAX_ORDER + 1]; /* n-grams sphinxbase's lookup finds, per order */
    uint64_t dropped[SPH_MAX_ORDER + 1];
    uint32_t drop_ids[SPH_MAX_ORDER];  /* the first left-out n-gram (ids[0] = predicted word) */
    int drop_n;
} sph_trie;

#define BAD(...) lmf_error(LMF_ERR_FORMAT, __VA_ARGS__)

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static float lef32(const unsigned char *p) {
    uint32_t u = le32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Bits needed to write x (0 for 0), as sphinxbase's bitarr_required_bits. */
static unsigned bits_for(uint64_t x) {
    unsigned b = 0;
    while (x) {
        b++;
        x >>= 1;
    }
    return b;
}

/* n <= 32 bits of a block from bit `bit`; bytes past the block read as 0. */
static uint32_t get_bits(const sph_level *L, uint64_t bit, unsigned n) {
    uint64_t at = bit >> 3, x = 0;
    for (unsigned i = 0; i < 8 && at + i < L->len; i++) x |= (uint64_t)L->p[at + i] << (8 * i);
    return n ? (uint32_t)((x >> (bit & 7)) & (~0ULL >> (64 - n))) : 0;
}

static uint32_t rec_word(const sph_level *L, uint64_t i) { return get_bits(L, i * L->width, L->wbits); }
static uint32_t rec_next(const sph_level *L, uint64_t i) {
    return get_bits(L, i * L->width + L->wbits + 32, L->nbits);
}
static float rec_prob(const sph_level *L, uint64_t i) {
    unsigned at = L->bo_bins ? 16 : 0; /* middle orders: backoff bin first */
    return lef32(L->prob_bins + 4 * (uint64_t)get_bits(L, i * L->width + L->wbits + at, 16));
}
static float rec_backoff(const sph_level *L, uint64_t i) {
    return lef32(L->bo_bins + 4 * (uint64_t)get_bits(L, i * L->width + L->wbits, 16));
}

static uint32_t uni_next(const sph_trie *t, uint32_t w) { return le32(t->uni + (uint64_t)w * SPH_UNI_BYTES + 8); }

/* sphinxbase's lookup of word `key` among the records [b, e) of a level
 * (lm_trie.c's uniform_find), in its uint32 arithmetic: the record index it
 * returns, or -1 when it finds none.  Where that code would divide by zero
 * or read outside the block, this says "none".  -2: the step budget ran out. */
static int64_t sph_find(sph_trie *t, const sph_level *L, uint64_t records, uint32_t b, uint32_t e, uint32_t key) {
    uint32_t lo_it = b - 1, lo_v = 0, hi_it = e, hi_v = t->V;
    while ((uint32_t)(hi_it - lo_it) > 1) {
        if (!t->budget) return -2;
        t->budget--;
        uint32_t off = key - lo_v, range = hi_v - lo_v, width = hi_it - lo_it - 1;
        if ((uint32_t)(range + 1) == 0) return -1;
        uint32_t pivot = lo_it + 1 + (uint32_t)(off * width) / (uint32_t)(range + 1);
        if (pivot >= records) return -1;
        uint32_t mid = rec_word(L, pivot);
        if (mid < key) {
            lo_it = pivot;
            lo_v = mid;
        } else if (mid > key) {
            hi_it = pivot;
            hi_v = mid;
        } else {
            return pivot;
        }
    }
    return -1;
}

/* One walk over the trie.  target 0: count the n-grams of every order that
 * the lookup finds and check their values; target n: write the n-grams of
 * order n to out. */
typedef struct sph_walk {
    sph_trie *t;
    int target;
    uint32_t ids[SPH_MAX_ORDER]; /* ids[d-1]: the word at depth d (ids[0] = predicted word) */
    lmf_buf *out;
    FILE *fp;
} sph_walk;

static lmf_status put_ngram(sph_walk *w, int n, float prob, int with_bo, float bo) {
    const sph_trie *t = w->t;
    size_t room = 3 * 32 + (size_t)n;
    for (int j = 0; j < n; j++) room += t->wlen[w->ids[j]];
    lmf_status s = lmf_buf_reserve(w->out, room);
    if (s) return s;
    char *p = w->out->p + w->out->len;
    p += lmf_fmt_float(p, prob);
    for (int j = n - 1; j >= 0; j--) { /* text order: leftmost word first */
        *p++ = j == n - 1 ? '\t' : ' ';
        memcpy(p, t->word[w->ids[j]], t->wlen[w->ids[j]]);
        p += t->wlen[w->ids[j]];
    }
    if (with_bo) {
        *p++ = '\t';
        p += lmf_fmt_float(p, bo);
    }
    *p++ = '\n';
    w->out->len = (size_t)(p - w->out->p);
    if (w->out->len > (1u << 20)) {
        fwrite(w->out->p, 1, w->out->len, w->fp);
        w->out->len = 0;
    }
    return LMF_OK;
}

static void ngram_text(const sph_trie *t, const uint32_t *ids, int n, char *buf, size_t cap) {
    size_t k = 0;
    buf[0] = 0;
    for (int j = n - 1; j >= 0 && k + 1 < cap; j--) {
        int r = snprintf(buf + k, cap - k, "%s%.*s", j == n - 1 ? "" : " ", (int)t->wlen[ids[j]], t->word[ids[j]]);
        if (r < 0) break;
        k += (size_t)r;
    }
}

/* Visits the records [b, e) of level d (the children of a node at depth d-1). */
static lmf_status walk(sph_walk *w, int d, uint32_t b, uint32_t e) {
    sph_trie *t = w->t;
    const sph_level *L = &t->lv[d];
    uint64_t records = (uint64_t)t->count[d] + 1;
    /* sorted, and no product in the search wraps: the lookup finds every record */
    int all_found = (uint64_t)(e - b) * t->V < (1ULL << 32);
    for (uint32_t i = b + 1; i < e && all_found; i++)
        if (rec_word(L, i) <= rec_word(L, i - 1)) all_found = 0;
    for (uint32_t i = b; i < e; i++) {
        uint32_t x = rec_word(L, i);
        w->ids[d - 1] = x;
        if (!all_found) {
            int64_t at = sph_find(t, L, records, b, e, x);
            if (at == -2)
                return BAD("%s: the %d-gram records are out of order beyond what sphinxbase could search; "
                           "the file is damaged",
                           t->path, d);
            if (at != (int64_t)i) {
                if (!w->target) {
                    if (!t->drop_n) {
                        memcpy(t->drop_ids, w->ids, sizeof t->drop_ids);
                        t->drop_n = d;
                    }
                    t->dropped[d]++;
                }
                continue;
            }
        }
        float prob = rec_prob(L, i), bo = d < t->order ? rec_backoff(L, i) : 0.0f;
        if (!w->target) {
            if (!isfinite(prob) || !isfinite(bo)) {
                char g[256];
                ngram_text(t, w->ids, d, g, sizeof g);
                return BAD("%s: the %d-gram \"%s\" has log probability %g and backoff %g (must be finite); "
                           "the file is damaged",
                           t->path, d, g, (double)prob, (double)bo);
            }
            t->found[d]++;
        } else if (d == w->target) {
            lmf_status s = put_ngram(w, d, (float)(prob * t->to_log10), d < t->order, (float)(bo * t->to_log10));
            if (s) return s;
        }
        if (d < t->order && (!w->target || d < w->target)) {
            lmf_status s = walk(w, d + 1, rec_next(L, i), rec_next(L, (uint64_t)i + 1));
            if (s) return s;
        }
    }
    return LMF_OK;
}

static lmf_status walk_all(sph_walk *w) {
    for (uint32_t x = 0; x < w->t->V; x++) {
        w->ids[0] = x;
        lmf_status s = walk(w, 2, uni_next(w->t, x), uni_next(w->t, x + 1));
        if (s) return s;
    }
    return LMF_OK;
}

/* The word list: k bytes holding V NUL-terminated words, none empty, none
 * with white space (ARPA separates fields with it), no duplicates. */
static lmf_status read_words(sph_trie *t, const unsigned char *p, uint64_t k) {
    uint64_t at = 0;
    for (uint32_t i = 0; i < t->V; i++) {
        const unsigned char *z = at < k ? (const unsigned char *)memchr(p + at, 0, k - at) : NULL;
        if (!z) return BAD("%s: the word list holds fewer than the %u words the header announces", t->path, t->V);
        uint64_t l = (uint64_t)(z - (p + at));
        if (!l) return BAD("%s: word %u of the word list is empty", t->path, i);
        for (uint64_t j = 0; j < l; j++)
            if (strchr(" \t\n\r\f\v", p[at + j]))
                return BAD("%s: word %u of the word list contains white space, which ARPA cannot hold", t->path, i);
        t->word[i] = (const char *)p + at;
        t->wlen[i] = (uint32_t)l;
        at += l + 1;
    }
    if (at != k)
        return BAD("%s: the word list has %llu bytes after its %u words; the file is damaged", t->path,
                   (unsigned long long)(k - at), t->V);
    uint64_t nslot = lmf_pow2_ceil(2 * (uint64_t)t->V + 2);
    uint32_t *slot = (uint32_t *)lmf_calloc(nslot, sizeof *slot); /* word + 1, 0 = empty */
    if (!slot) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = LMF_OK;
    for (uint32_t i = 0; i < t->V && !s; i++) {
        uint64_t h = lmf_hash_bytes(t->word[i], t->wlen[i], 0x5bd1e995) & (nslot - 1);
        for (; slot[h]; h = (h + 1) & (nslot - 1)) {
            uint32_t o = slot[h] - 1;
            if (t->wlen[o] == t->wlen[i] && !memcmp(t->word[o], t->word[i], t->wlen[i])) {
                s = BAD("%s: the word \"%.*s\" appears twice in the word list (%u and %u)", t->path,
                        (int)t->wlen[i], t->word[i], o, i);
                break;
            }
        }
        slot[h] = i + 1;
    }
    lmf_free(slot);
    return s;
}

/* Parses the header and lays out the sections; checks every size, pointer
 * and word id against the file. */
static lmf_status layout(sph_trie *t, const unsigned char *d, uint64_t size) {
    const char *path = t->path;
    if (size < SPH_MAGIC_LEN + 1 && !memcmp(d, SPH_MAGIC, size < SPH_MAGIC_LEN ? size : SPH_MAGIC_LEN))
        return BAD("%s: truncated: %llu bytes, shorter than a sphinxbase trie header", path, (unsigned long long)size);
    if (size < SPH_MAGIC_LEN + 1 || memcmp(d, SPH_MAGIC, SPH_MAGIC_LEN))
        return BAD("%s: not a sphinxbase trie language model (it does not start with \"" SPH_MAGIC "\")", path);
    int N = d[SPH_MAGIC_LEN];
    if (N < 1 || N > SPH_MAX_ORDER)
        return BAD("%s: order %d in the header; sphinxbase writes orders 1 to %d (damaged file?)", path, N,
                   SPH_MAX_ORDER);
    t->order = N;
    uint64_t off = SPH_MAGIC_LEN + 1;
    if (size - off < 4 * (uint64_t)N)
        return BAD("%s: truncated: %llu bytes end inside the header's n-gram counts", path, (unsigned long long)size);
    for (int n = 1; n <= N; n++, off += 4) t->count[n] = le32(d + off);
    t->V = t->count[1];
    if (t->V < 1 || t->V >= SPH_MAX_COUNT)
        return BAD("%s: %u words in the header; sphinxbase handles 1 to %u (damaged file?)", path, t->V,
                   SPH_MAX_COUNT - 1);
    for (int n = 2; n <= N; n++)
        if (t->count[n] >= SPH_MAX_COUNT)
            return BAD("%s: %u %d-grams in the header; sphinxbase handles fewer than %u (damaged file?)", path,
                       t->count[n], n, SPH_MAX_COUNT);
    if (N > 1) {
        if (size - off < 4) return BAD("%s: truncated: the file ends before the quantisation tables", path);
        uint32_t q = le32(d + off);
        off += 4;
        if (q > 1)
            return BAD("%s: quantisation type %u; sphinxbase writes 0 or 1 (16-bit bins); damaged file?", path, q);
        uint64_t tables = 2 * ((uint64_t)N - 2) + 1, bytes = tables * SPH_BINS * 4;
        if (size - off < bytes)
            return BAD("%s: truncated: the file ends inside the quantisation tables (%llu bytes needed from offset "
                       "%llu, %llu there)",
                       path, (unsigned long long)bytes, (unsigned long long)off, (unsigned long long)(size - off));
        const unsigned char *tab = d + off;
        for (int n = 2; n < N; n++) {
            t->lv[n].prob_bins = tab + (uint64_t)(2 * (n - 2)) * SPH_BINS * 4;
            t->lv[n].bo_bins = t->lv[n].prob_bins + SPH_BINS * 4;
        }
        t->lv[N].prob_bins = tab + (tables - 1) * SPH_BINS * 4;
        off += bytes;
    }
    uint64_t ubytes = ((uint64_t)t->V + 1) * SPH_UNI_BYTES;
    if (size - off < ubytes)
        return BAD("%s: truncated: the file ends inside the unigrams (%llu bytes needed from offset %llu, %llu there)",
                   path, (unsigned long long)ubytes, (unsigned long long)off, (unsigned long long)(size - off));
    t->uni = d + off;
    off += ubytes;
    unsigned wbits = bits_for(t->V);
    for (int n = 2; n <= N; n++) {
        sph_level *L = &t->lv[n];
        L->wbits = wbits;
        L->nbits = n < N ? bits_for(t->count[n + 1]) : 0;
        L->width = wbits + (n < N ? 32 + L->nbits : 16);
        L->len = (((uint64_t)t->count[n] + 1) * L->width + 7) / 8 + 8;
        if (size - off < L->len)
            return BAD("%s: truncated: the file ends inside the %d-gram records (%llu bytes needed from offset %llu, "
                       "%llu there)",
                       path, n, (unsigned long long)L->len, (unsigned long long)off, (unsigned long long)(size - off));
        L->p = d + off;
        off += L->len;
    }
    if (size - off < 4) return BAD("%s: truncated: the file ends before the word list", path);
    uint32_t k = le32(d + off);
    off += 4;
    if (k > size - off)
        return BAD("%s: truncated: the word list needs %u bytes, %llu are left", path, k,
                   (unsigned long long)(size - off));
    if (k < size - off)
        return BAD("%s: %llu bytes after the word list; not a file sphinxbase wrote (or damaged)", path,
                   (unsigned long long)(size - off - k));
    t->word = (const char **)lmf_malloc((size_t)t->V * sizeof *t->word);
    t->wlen = (uint32_t *)lmf_malloc((size_t)t->V * sizeof *t->wlen);
    if (!t->word || !t->wlen) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = read_words(t, d + off, k);
    if (s) return s;

    /* unigram values, then the child pointers level by level: non-decreasing
     * and inside the level below; the sentinel's pointer is that level's size */
    for (uint32_t w = 0; w < t->V; w++) {
        float p = lef32(t->uni + (uint64_t)w * SPH_UNI_BYTES), b = lef32(t->uni + (uint64_t)w * SPH_UNI_BYTES + 4);
        if (!isfinite(p) || !isfinite(b))
            return BAD("%s: the unigram \"%.*s\" has log probability %g and backoff %g (must be finite); the file "
                       "is damaged",
                       path, (int)t->wlen[w], t->word[w], (double)p, (double)b);
    }
    if (N == 1) return LMF_OK;
    for (uint32_t w = 0; w < t->V; w++)
        if (uni_next(t, w) > uni_next(t, w + 1))
            return BAD("%s: the bigram ranges of unigrams %u and %u overlap; the file is damaged", path, w, w + 1);
    t->lv[2].used = uni_next(t, t->V);
    for (int n = 2; n <= N; n++) {
        sph_level *L = &t->lv[n];
        if (L->used > t->count[n])
            return BAD("%s: the trie holds %llu %d-grams, more than the %u of the header; the file is damaged", path,
                       (unsigned long long)L->used, n, t->count[n]);
        for (uint64_t i = 0; i < L->used; i++)
            if (rec_word(L, i) >= t->V)
                return BAD("%s: %d-gram record %llu names word %u of %u; the file is damaged", path, n,
                           (unsigned long long)i, rec_word(L, i), t->V);
        if (n == N) break;
        for (uint64_t i = 0; i < L->used; i++)
            if (rec_next(L, i) > rec_next(L, i + 1))
                return BAD("%s: the child ranges of %d-gram records %llu and %llu overlap; the file is damaged", path,
                           n, (unsigned long long)i, (unsigned long long)i + 1);
        t->lv[n + 1].used = rec_next(L, L->used);
    }
    return LMF_OK;
}

/* Writes the ARPA file (after the counting walk succeeded, so only I/O can fail). */
static lmf_status write_arpa(sph_trie *t, uint64_t budget, const char *out_path) {
    lmf_outfile of;
    lmf_status s = lmf_outfile_open(&of, out_path);
    if (s) return s;
    lmf_buf b = {0};
    sph_walk w;
    memset(&w, 0, sizeof w);
    w.t = t;
    w.out = &b;
    w.fp = of.fp;
    fprintf(of.fp, "\\data\\\n");
    for (int n = 1; n <= t->order; n++) fprintf(of.fp, "ngram %d=%llu\n", n, (unsigned long long)t->found[n]);
    fprintf(of.fp, "\n\\1-grams:\n");
    for (uint32_t x = 0; x < t->V && !s; x++) {
        const unsigned char *u = t->uni + (uint64_t)x * SPH_UNI_BYTES;
        w.ids[0] = x;
        s = put_ngram(&w, 1, (float)(lef32(u) * t->to_log10), t->order > 1, (float)(lef32(u + 4) * t->to_log10));
    }
    for (int n = 2; n <= t->order && !s; n++) {
        if (b.len) fwrite(b.p, 1, b.len, of.fp);
        b.len = 0;
        fprintf(of.fp, "\n\\%d-grams:\n", n);
        w.target = n;
        t->budget = budget; /* the same lookups as in the counting walk */
        s = walk_all(&w);
    }
    if (!s && b.len) fwrite(b.p, 1, b.len, of.fp);
    lmf_buf_free(&b);
    if (s) {
        lmf_outfile_abort(&of);
        return s;
    }
    fprintf(of.fp, "\n\\end\\\n");
    return lmf_outfile_commit(&of);
}

lmf_status lmf_sphinx_lm_to_arpa(const char *in_path, const char *out_arpa_path) {
    lmf_filebuf fb;
    lmf_status s = lmf_file_map(in_path, &fb);
    if (s) return s;
    sph_trie t;
    memset(&t, 0, sizeof t);
    t.path = in_path;
    t.to_log10 = log10(1.0001);
    s = layout(&t, (const unsigned char *)fb.data, fb.size);
    uint64_t records = 0;
    for (int n = 2; n <= t.order; n++) records += t.lv[n].used;
    uint64_t budget = 64 * records + (1u << 20);
    t.budget = budget;
    sph_walk w;
    memset(&w, 0, sizeof w);
    w.t = &t;
    if (!s && t.order > 1) s = walk_all(&w); /* count and check; nothing written yet */
    if (!s) {
        t.found[1] = t.V;
        for (int n = 2; n <= t.order; n++)
            if (t.lv[n].used != t.count[n])
                lmf_log(LMF_LOG_WARN,
                        "%s: the header announces %u %d-grams, the trie holds %llu (sphinxbase's builder overcounts "
                        "when it misfiles an n-gram; see src/ngram/sphinx.c); the ARPA counts what the trie holds",
                        in_path, t.count[n], n, (unsigned long long)t.lv[n].used);
        if (t.drop_n) {
            char g[256];
            ngram_text(&t, t.drop_ids, t.drop_n, g, sizeof g);
            uint64_t total = 0;
            for (int n = 2; n <= t.order; n++) total += t.dropped[n];
            lmf_log(LMF_LOG_WARN,
                    "%s: left out %llu n-gram(s) that sphinxbase's own lookup cannot find (out of order among their "
                    "siblings, misfiled by its trie builder), so that the ARPA scores as pocketsphinx does; the "
                    "first: \"%s\"",
                    in_path, (unsigned long long)total, g);
        }
        s = write_arpa(&t, budget, out_arpa_path);
    }
    lmf_free(t.word);
    lmf_free(t.wlen);
    lmf_filebuf_free(&fb);
    return s;
}
