/* The lmfuse binary n-gram format ("LMFNGRAM", version 1).
 *
 *   header   512 bytes, fixed (struct bin_header, little-endian)
 *   vocab    V records: u32 length + bytes, padded to 8
 *   unigrams (V+1) log10 probs, then (V+1) log10 backoffs (floats), padded
 *   per order n = 2..N: nslots slots of {u64 key, f32 prob, f32 backoff}
 *   per order n = 2..N: count * n u32 word ids (for ARPA export), padded
 *
 * Every section starts on an 8-byte boundary and the payload (everything
 * after the header) and the header itself (with its checksum field zero) are
 * covered by a 64-bit checksum.  The loader maps the
 * file read-only and checks every offset and length against the file size
 * before use, so a truncated or corrupted file is refused, not trusted. */
#define _DEFAULT_SOURCE
#include "ngram_impl.h"
#include "../text/text_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct bin_header {
    char magic[8];
    uint32_t version;
    uint32_t header_size;
    uint32_t order;
    int32_t vocab_size;
    uint32_t mode;
    uint32_t flags;
    uint64_t seed;
    uint64_t file_size;
    uint64_t checksum;
    uint64_t vocab_off, vocab_len;
    uint64_t uni_off;
    uint64_t count[LMF_NGRAM_MAX_ORDER + 1];
    uint64_t nslots[LMF_NGRAM_MAX_ORDER + 1];
    uint64_t slots_off[LMF_NGRAM_MAX_ORDER + 1];
    uint64_t ids_off[LMF_NGRAM_MAX_ORDER + 1];
    char pad[512 - 8 - 4 * 6 - 8 * 6 - 8 * 4 * (LMF_NGRAM_MAX_ORDER + 1)];
} bin_header;

_Static_assert(sizeof(bin_header) == 512, "binary header must be 512 bytes");

#define FLAG_HAS_IDS 1u

/* streaming checksum over 8-byte words */
static inline uint64_t ck_step(uint64_t h, uint64_t w) { return (h ^ lmf_mix64(w)) * 0x9fb21c651e98df25ULL; }

typedef struct binw {
    FILE *fp;
    uint64_t pos;
    uint64_t ck;
    unsigned char pend[8];
    int npend;
} binw;

static void bw_write(binw *w, const void *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    fwrite(s, 1, n, w->fp);
    w->pos += n;
    while (n && w->npend) {
        w->pend[w->npend++] = *s++;
        n--;
        if (w->npend == 8) {
            uint64_t x;
            memcpy(&x, w->pend, 8);
            w->ck = ck_step(w->ck, x);
            w->npend = 0;
        }
    }
    while (n >= 8) {
        uint64_t x;
        memcpy(&x, s, 8);
        w->ck = ck_step(w->ck, x);
        s += 8;
        n -= 8;
    }
    while (n--) w->pend[w->npend++] = *s++;
}

static void bw_align(binw *w) {
    static const char zero[8] = {0};
    if (w->pos % 8) bw_write(w, zero, 8 - w->pos % 8);
}

static uint64_t align8(uint64_t x) { return (x + 7) & ~(uint64_t)7; }

lmf_status lmf_ngram_write_binary(const lmf_ngram *m, const char *path) {
    bin_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, LMF_NGRAM_MAGIC, 8);
    h.version = LMF_NGRAM_BINARY_VERSION;
    h.header_size = sizeof h;
    h.order = (uint32_t)m->order;
    int32_t V = lmf_vocab_size(m->vocab);
    h.vocab_size = V;
    h.mode = (uint32_t)lmf_vocab_mode(m->vocab);
    h.seed = m->seed;
    int has_ids = 1;
    for (int n = 2; n <= m->order; n++)
        if (m->tab[n].count && !m->tab[n].ids) has_ids = 0;
    h.flags = has_ids ? FLAG_HAS_IDS : 0;
    uint64_t off = sizeof h;
    h.vocab_off = off;
    uint64_t vl = 0;
    for (int32_t i = 0; i < V; i++) {
        size_t l;
        lmf_vocab_word(m->vocab, i, &l);
        vl += 4 + l;
    }
    h.vocab_len = vl;
    off = align8(off + vl);
    h.uni_off = off;
    off = align8(off + 2 * ((uint64_t)V + 1) * sizeof(float));
    for (int n = 2; n <= m->order; n++) {
        h.count[n] = m->tab[n].count;
        h.nslots[n] = m->tab[n].nslots;
        h.slots_off[n] = off;
        off += m->tab[n].nslots * sizeof(lmf_ngram_slot);
    }
    for (int n = 2; n <= m->order && has_ids; n++) {
        h.ids_off[n] = off;
        off = align8(off + m->tab[n].count * (uint64_t)n * sizeof(uint32_t));
    }
    h.file_size = off;

    lmf_outfile of;
    lmf_status s = lmf_outfile_open(&of, path);
    if (s) return s;
    binw w = {of.fp, 0, 0x6c6d666e6772616dULL, {0}, 0};
    bw_write(&w, &h, sizeof h); /* checksum field 0 while summing; patched below */
    for (int32_t i = 0; i < V; i++) {
        size_t l;
        const char *s2 = lmf_vocab_word(m->vocab, i, &l);
        uint32_t l32 = (uint32_t)l;
        bw_write(&w, &l32, 4);
        bw_write(&w, s2, l);
    }
    bw_align(&w);
    bw_write(&w, m->uni_prob, ((size_t)V + 1) * sizeof(float));
    bw_write(&w, m->uni_backoff, ((size_t)V + 1) * sizeof(float));
    bw_align(&w);
    for (int n = 2; n <= m->order; n++) bw_write(&w, m->tab[n].slots, m->tab[n].nslots * sizeof(lmf_ngram_slot));
    for (int n = 2; n <= m->order && has_ids; n++) {
        bw_write(&w, m->tab[n].ids, m->tab[n].count * (uint64_t)n * sizeof(uint32_t));
        bw_align(&w);
    }
    LMF_ASSERT(w.pos == h.file_size && w.npend == 0);
    h.checksum = w.ck;
    if (fseek(of.fp, 0, SEEK_SET) != 0 || fwrite(&h, 1, sizeof h, of.fp) != sizeof h) {
        lmf_outfile_abort(&of);
        return lmf_error(LMF_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    return lmf_outfile_commit(&of);
}

#define BAD(...) lmf_error(LMF_ERR_FORMAT, __VA_ARGS__)

static int range_ok(uint64_t off, uint64_t len, uint64_t size) {
    return off <= size && len <= size - off;
}

/* Nonzero if a slot's log10 probability p is NaN or +inf or its backoff b
 * is not finite (from their bits; -inf is probability 0, as in ARPA). */
static inline uint32_t bad_bits(uint32_t p, uint32_t b) {
    return ((p & 0x7fffffffu) > 0x7f800000u) | (p == 0x7f800000u) | ((b & 0x7fffffffu) >= 0x7f800000u);
}

/* Whether any of the n slots (empty ones too) has a bad value: one
 * branch-free pass over their bits, which vectorises; the caller then
 * looks at the slots that hold n-grams. */
static int any_bad_value(const lmf_ngram_slot *sl, uint64_t n) {
    uint32_t seen = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t p, b;
        memcpy(&p, &sl[i].prob, 4);
        memcpy(&b, &sl[i].backoff, 4);
        seen |= bad_bits(p, b);
    }
    return seen != 0;
}

lmf_status lmf_ngram_load_binary(const char *path, const lmf_ngram_load_opts *opts, lmf_ngram **out) {
    lmf_ngram_load_opts def;
    if (!opts) {
        lmf_ngram_load_opts_init(&def);
        opts = &def;
    }
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return lmf_error(LMF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return lmf_error(LMF_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < sizeof(bin_header)) {
        close(fd);
        return BAD("%s: %llu bytes is too short for an lmfuse binary model (truncated?)", path,
                   (unsigned long long)size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return lmf_error(LMF_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
    const unsigned char *base = (const unsigned char *)map;
    bin_header h;
    memcpy(&h, base, sizeof h);
    lmf_status s = LMF_OK;
    lmf_vocab *vocab = NULL;
    lmf_ngram *m = NULL;
    if (memcmp(h.magic, LMF_NGRAM_MAGIC, 8)) {
        s = BAD("%s: not an lmfuse binary n-gram model (bad magic)", path);
        goto fail;
    }
    if (h.version != LMF_NGRAM_BINARY_VERSION || h.header_size != sizeof h) {
        s = BAD("%s: binary format version %u (header %u bytes); this lmfuse reads version %d; rebuild the binary "
                "from the ARPA file with `lmfuse ngram convert`",
                path, h.version, h.header_size, LMF_NGRAM_BINARY_VERSION);
        goto fail;
    }
    if (h.file_size != size) {
        s = BAD("%s: the header says %llu bytes but the file has %llu (truncated or damaged copy)", path,
                (unsigned long long)h.file_size, (unsigned long long)size);
        goto fail;
    }
    if (h.order < 1 || h.order > LMF_NGRAM_MAX_ORDER || h.vocab_size < 2 || h.vocab_size > (1 << 30) ||
        h.mode > LMF_TOK_BYTE) {
        s = BAD("%s: corrupt header (order %u, vocabulary %d)", path, h.order, (int)h.vocab_size);
        goto fail;
    }
    uint64_t V = (uint64_t)h.vocab_size;
    if (!range_ok(h.vocab_off, h.vocab_len, size) || !range_ok(h.uni_off, 2 * (V + 1) * sizeof(float), size) ||
        h.uni_off % 8) {
        s = BAD("%s: corrupt header (sections outside the file)", path);
        goto fail;
    }
    for (uint32_t n = 2; n <= h.order; n++) {
        if (h.nslots[n] == 0 || h.count[n] >= h.nslots[n] ||
            h.slots_off[n] % 8 || h.nslots[n] > size / sizeof(lmf_ngram_slot) ||
            !range_ok(h.slots_off[n], h.nslots[n] * sizeof(lmf_ngram_slot), size)) {
            s = BAD("%s: corrupt header (%u-gram table)", path, n);
            goto fail;
        }
        if ((h.flags & FLAG_HAS_IDS) &&
            (h.count[n] > size / 4 / n || !range_ok(h.ids_off[n], h.count[n] * n * 4, size) || h.ids_off[n] % 4)) {
            s = BAD("%s: corrupt header (%u-gram list)", path, n);
            goto fail;
        }
    }
    /* the value check of the n-gram tables rides on the checksum's pass
     * where it can (tables in file order, not overlapping): a pass of its
     * own over the Brown 5-gram's 80 MB of slots added a third to the time
     * of a small query */
    uint32_t vchecked = 0, vsuspect = 0; /* bit n: table n checked / with a bad-looking value */
    if (opts->verify_checksum) {
        uint64_t ck = 0x6c6d666e6772616dULL;
        bin_header hz = h;
        hz.checksum = 0;
        for (size_t o = 0; o < sizeof hz; o += 8) {
            uint64_t x;
            memcpy(&x, (const unsigned char *)&hz + o, 8);
            ck = ck_step(ck, x);
        }
        for (uint64_t o = sizeof h;;) {
            uint32_t nt = 0; /* the next table at or after o */
            uint64_t at = size;
            for (uint32_t n = 2; n <= h.order; n++)
                if (h.nslots[n] && h.slots_off[n] >= o && h.slots_off[n] < at) at = h.slots_off[n], nt = n;
            for (; o + 8 <= at; o += 8) {
                uint64_t x;
                memcpy(&x, base + o, 8);
                ck = ck_step(ck, x);
            }
            if (!nt) break;
            const unsigned char *q = base + o;
            uint32_t seen = 0;
            for (uint64_t i = 0; i < h.nslots[nt]; i++, q += sizeof(lmf_ngram_slot)) {
                uint64_t key, val;
                uint32_t p, b;
                memcpy(&key, q, 8);
                memcpy(&val, q + 8, 8);
                memcpy(&p, q + offsetof(lmf_ngram_slot, prob), 4);
                memcpy(&b, q + offsetof(lmf_ngram_slot, backoff), 4);
                ck = ck_step(ck_step(ck, key), val);
                seen |= bad_bits(p, b);
            }
            o += h.nslots[nt] * sizeof(lmf_ngram_slot);
            vchecked |= 1u << nt;
            vsuspect |= (uint32_t)(seen != 0) << nt;
        }
        if (ck != h.checksum || size % 8) {
            s = BAD("%s: checksum mismatch: the file is damaged; rebuild or copy it again", path);
            goto fail;
        }
    }
    /* vocabulary */
    vocab = lmf_vocab_new((lmf_token_mode)h.mode);
    if (!vocab) {
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto fail;
    }
    {
        uint64_t p = h.vocab_off, e = h.vocab_off + h.vocab_len;
        for (uint64_t i = 0; i < V; i++) {
            uint32_t l;
            if (e - p < 4) {
                s = BAD("%s: vocabulary section is truncated (word %llu)", path, (unsigned long long)i);
                goto fail;
            }
            memcpy(&l, base + p, 4);
            p += 4;
            if (l > e - p) {
                s = BAD("%s: vocabulary section is truncated (word %llu)", path, (unsigned long long)i);
                goto fail;
            }
            const char *w = (const char *)base + p;
            p += l;
            int32_t before = lmf_vocab_size(vocab);
            int32_t id = lmf_vocab_add(vocab, w, l);
            if (id < 0) {
                s = lmf_error(LMF_ERR_NOMEM, "out of memory");
                goto fail;
            }
            if ((i < 2 && id != (int32_t)i) || (i >= 2 && id != before)) {
                s = BAD("%s: vocabulary entry %llu is duplicated or misplaced", path, (unsigned long long)i);
                goto fail;
            }
        }
    }
    m = lmf_ngram_alloc(vocab, (int)h.order);
    if (!m) {
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto fail;
    }
    vocab = NULL;
    m->seed = h.seed;
    m->map = map;
    m->map_len = size;
    m->uni_prob = (float *)(base + h.uni_off);
    m->uni_backoff = m->uni_prob + V + 1;
    for (uint32_t n = 2; n <= h.order; n++) {
        m->tab[n].slots = (lmf_ngram_slot *)(base + h.slots_off[n]);
        m->tab[n].nslots = h.nslots[n];
        m->tab[n].count = h.count[n];
        m->tab[n].ids = (h.flags & FLAG_HAS_IDS) ? (uint32_t *)(base + h.ids_off[n]) : NULL;
    }
    /* values: a NaN (or a log10 probability of +inf) would make every score
     * NaN; -inf is probability 0, as ARPA files may say */
    for (uint64_t i = 0; i <= V; i++)
        if (isnan(m->uni_prob[i]) || m->uni_prob[i] == INFINITY || !isfinite(m->uni_backoff[i])) {
            s = BAD("%s: unigram %llu has log10 probability %g and backoff %g (probabilities must not be NaN or +inf, "
                    "backoffs must be finite): the file is damaged; rebuild it",
                    path, (unsigned long long)i, (double)m->uni_prob[i], (double)m->uni_backoff[i]);
            goto fail;
        }
    for (uint32_t n = 2; n <= h.order; n++)
        for (uint64_t i = 0, look = (vchecked >> n & 1) ? (uint64_t)(vsuspect >> n & 1)
                                                              : (uint64_t)any_bad_value(m->tab[n].slots, h.nslots[n]);
             look && i < h.nslots[n]; i++) {
            const lmf_ngram_slot *sl = &m->tab[n].slots[i];
            if (sl->key && (isnan(sl->prob) || sl->prob == INFINITY || !isfinite(sl->backoff))) {
                s = BAD("%s: a %u-gram has log10 probability %g and backoff %g (probabilities must not be NaN or +inf, "
                        "backoffs must be finite): the file is damaged; rebuild it",
                        path, n, (double)sl->prob, (double)sl->backoff);
                goto fail;
            }
        }
    if (h.flags & FLAG_HAS_IDS) {
        /* ids must be valid words: ARPA export indexes the vocabulary with them */
        for (uint32_t n = 2; n <= h.order; n++)
            for (uint64_t i = 0; i < h.count[n] * n; i++)
                if (m->tab[n].ids[i] > V) {
                    s = BAD("%s: %u-gram list holds an invalid word id", path, n);
                    goto fail;
                }
        /* sorted, strictly? next-word distributions search them */
        for (uint32_t n = 2; n <= h.order; n++)
            for (uint64_t i = 1; i < h.count[n]; i++) {
                const uint32_t *a = m->tab[n].ids + (i - 1) * n, *b = a + n;
                uint32_t j = 0;
                while (j < n && a[j] == b[j]) j++;
                if (j == n || a[j] > b[j]) { /* files of early versions: the slow path */
                    m->tab[n].unsorted = 1;
                    break;
                }
            }
    }
    *out = m;
    return LMF_OK;
fail:
    lmf_vocab_free(vocab);
    if (m) {
        lmf_ngram_free(m); /* unmaps */
    } else {
        munmap(map, size);
    }
    return s;
}
