/* Vocabulary: token strings <-> ids, building, saving and loading. */
#include "text_impl.h"

#include <string.h>

#define HASH_SEED 0x6c6d667573650001ULL

static const char *special_str[3] = {"<unk>", "</s>", "<s>"};

int lmf_token_mode_parse(const char *s) {
    if (!strcmp(s, "word")) return LMF_TOK_WORD;
    if (!strcmp(s, "char")) return LMF_TOK_CHAR;
    if (!strcmp(s, "byte")) return LMF_TOK_BYTE;
    return -1;
}

const char *lmf_token_mode_name(lmf_token_mode m) {
    return m == LMF_TOK_CHAR ? "char" : m == LMF_TOK_BYTE ? "byte" : "word";
}

void lmf_vocab_opts_init(lmf_vocab_opts *o) {
    memset(o, 0, sizeof *o);
    o->mode = LMF_TOK_WORD;
    o->min_count = 1;
    o->utf8_check = 1;
    o->max_line = (size_t)1 << 24;
}

static int special_id(const char *tok, size_t len) {
    if (len == 5 && !memcmp(tok, "<unk>", 5)) return 0;
    if (len == 4 && !memcmp(tok, "</s>", 4)) return 1;
    if (len == 3 && !memcmp(tok, "<s>", 3)) return 2;
    return -1;
}

lmf_status lmf_vocab_grow(lmf_vocab *v, int32_t need) {
    if (need <= v->cap) return LMF_OK;
    int32_t ncap = v->cap ? v->cap : 64;
    while (ncap < need) ncap *= 2;
    uint64_t *off = (uint64_t *)lmf_realloc(v->off, (size_t)ncap * sizeof *off);
    if (!off) return lmf_error(LMF_ERR_NOMEM, "out of memory growing vocabulary");
    v->off = off;
    uint32_t *len = (uint32_t *)lmf_realloc(v->len, (size_t)ncap * sizeof *len);
    if (!len) return lmf_error(LMF_ERR_NOMEM, "out of memory growing vocabulary");
    v->len = len;
    uint64_t *cnt = (uint64_t *)lmf_realloc(v->count, (size_t)ncap * sizeof *cnt);
    if (!cnt) return lmf_error(LMF_ERR_NOMEM, "out of memory growing vocabulary");
    memset(cnt + v->cap, 0, (size_t)(ncap - v->cap) * sizeof *cnt);
    v->count = cnt;
    v->cap = ncap;
    return LMF_OK;
}

/* Token hash; words are short, so up to 16 bytes are gathered without
 * library calls (the hot path of text reading). */
static inline uint64_t tok_hash(const char *tok, size_t len) {
    if (len > 16) return lmf_hash_bytes(tok, len, HASH_SEED);
    const unsigned char *p = (const unsigned char *)tok;
    uint64_t a = 0, b = 0;
    size_t i = 0;
    for (; i < len && i < 8; i++) a |= (uint64_t)p[i] << (8 * i);
    for (; i < len; i++) b |= (uint64_t)p[i] << (8 * (i - 8));
    return lmf_mix64(a ^ lmf_mix64(b ^ HASH_SEED ^ ((uint64_t)len << 56)));
}

static inline int same_bytes(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static lmf_status rehash(lmf_vocab *v, uint64_t nslots) {
    int32_t *slots = (int32_t *)lmf_malloc(nslots * sizeof *slots);
    if (!slots) return lmf_error(LMF_ERR_NOMEM, "out of memory (vocabulary hash)");
    memset(slots, 0xff, nslots * sizeof *slots);
    for (int32_t i = 2; i < v->n; i++) {
        uint64_t h = tok_hash(v->strs.p + v->off[i], v->len[i]) & (nslots - 1);
        while (slots[h] >= 0) h = (h + 1) & (nslots - 1);
        slots[h] = i;
    }
    lmf_free(v->slots);
    v->slots = slots;
    v->nslots = nslots;
    return LMF_OK;
}

static lmf_status push_string(lmf_vocab *v, const char *tok, size_t len) {
    lmf_status s = lmf_vocab_grow(v, v->n + 1);
    if (s) return s;
    v->off[v->n] = v->strs.len;
    v->len[v->n] = (uint32_t)len;
    v->count[v->n] = 0;
    if ((s = lmf_buf_append(&v->strs, tok, len))) return s;
    if ((s = lmf_buf_append(&v->strs, "", 1))) return s;
    v->n++;
    return LMF_OK;
}

lmf_vocab *lmf_vocab_new(lmf_token_mode mode) {
    lmf_vocab *v = (lmf_vocab *)lmf_calloc(1, sizeof *v);
    if (!v) return NULL;
    v->mode = mode;
    if (push_string(v, "<unk>", 5) || push_string(v, "</s>", 4) || rehash(v, 64)) {
        lmf_vocab_free(v);
        return NULL;
    }
    return v;
}

void lmf_vocab_free(lmf_vocab *v) {
    if (!v) return;
    lmf_free(v->off);
    lmf_free(v->len);
    lmf_free(v->count);
    lmf_buf_free(&v->strs);
    lmf_free(v->slots);
    lmf_free(v);
}

int32_t lmf_vocab_size(const lmf_vocab *v) { return v->n; }
lmf_token_mode lmf_vocab_mode(const lmf_vocab *v) { return v->mode; }

static inline int32_t find_hashed(const lmf_vocab *v, const char *tok, size_t len, uint64_t h) {
    uint64_t mask = v->nslots - 1;
    h &= mask;
    for (;;) {
        int32_t id = v->slots[h];
        if (id < 0) return -1;
        if (v->len[id] == len && same_bytes(v->strs.p + v->off[id], tok, len)) return id;
        h = (h + 1) & mask;
    }
}

int32_t lmf_vocab_find(const lmf_vocab *v, const char *tok, size_t len) {
    if (len >= 3 && len <= 5 && tok[0] == '<') {
        int sp = special_id(tok, len);
        if (sp == 0) return LMF_UNK;
        if (sp == 1) return LMF_EOS;
        if (sp == 2) return v->n;
    }
    return find_hashed(v, tok, len, tok_hash(tok, len));
}

int32_t lmf_vocab_add(lmf_vocab *v, const char *tok, size_t len) {
    int32_t id = lmf_vocab_find(v, tok, len);
    if (id >= 0) return id;
    if (len > UINT32_MAX) return -1;
    if ((uint64_t)(v->n + 1) * 2 > v->nslots && rehash(v, v->nslots * 2)) return -1;
    if (push_string(v, tok, len)) return -1;
    id = v->n - 1;
    uint64_t h = tok_hash(tok, len) & (v->nslots - 1);
    while (v->slots[h] >= 0) h = (h + 1) & (v->nslots - 1);
    v->slots[h] = id;
    return id;
}

const char *lmf_vocab_word(const lmf_vocab *v, int32_t id, size_t *len) {
    if (id == v->n) {
        if (len) *len = 3;
        return special_str[2];
    }
    if (id < 0 || id > v->n) return NULL;
    if (len) *len = v->len[id];
    return v->strs.p + v->off[id];
}

int lmf_vocab_equal(const lmf_vocab *a, const lmf_vocab *b) {
    if (a->n != b->n || a->mode != b->mode) return 0;
    for (int32_t i = 0; i < a->n; i++)
        if (a->len[i] != b->len[i] || memcmp(a->strs.p + a->off[i], b->strs.p + b->off[i], a->len[i]))
            return 0;
    return 1;
}

/* ---- finalize: sort by count ---- */
static const uint64_t *sort_counts;
static int cmp_by_count(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    if (sort_counts[a] != sort_counts[b]) return sort_counts[a] > sort_counts[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

lmf_status lmf_vocab_finalize(lmf_vocab *v, uint64_t min_count, uint64_t max_size, int32_t *remap) {
    int32_t n_old = v->n;
    int32_t *order = (int32_t *)lmf_malloc((size_t)(n_old > 2 ? n_old - 2 : 1) * sizeof *order);
    if (!order) return lmf_error(LMF_ERR_NOMEM, "out of memory sorting vocabulary");
    int32_t k = 0;
    for (int32_t i = 2; i < n_old; i++)
        if (v->count[i] >= min_count) order[k++] = i;
    sort_counts = v->count;
    qsort(order, (size_t)k, sizeof *order, cmp_by_count);
    if (max_size && (uint64_t)k > max_size) k = (int32_t)max_size;
    lmf_vocab *nv = lmf_vocab_new(v->mode);
    if (!nv) {
        lmf_free(order);
        return lmf_error(LMF_ERR_NOMEM, "out of memory building vocabulary");
    }
    nv->count[0] = v->count[0];
    nv->count[1] = v->count[1];
    for (int32_t i = 0; i < k; i++) {
        if (lmf_vocab_add(nv, v->strs.p + v->off[order[i]], v->len[order[i]]) < 0) {
            lmf_free(order);
            lmf_vocab_free(nv);
            return lmf_error(LMF_ERR_NOMEM, "out of memory building vocabulary");
        }
        nv->count[i + 2] = v->count[order[i]];
    }
    if (remap) {
        for (int32_t i = 0; i <= n_old; i++) remap[i] = LMF_UNK;
        remap[LMF_EOS] = LMF_EOS;
        for (int32_t i = 0; i < k; i++) remap[order[i]] = i + 2;
        remap[n_old] = nv->n;
    }
    /* dropped tokens' counts go to <unk> */
    uint64_t dropped = 0;
    for (int32_t i = 2; i < n_old; i++) dropped += v->count[i];
    for (int32_t i = 2; i < nv->n; i++) dropped -= nv->count[i];
    nv->count[0] += dropped;
    lmf_free(order);
    /* swap contents */
    lmf_vocab tmp = *v;
    *v = *nv;
    *nv = tmp;
    lmf_vocab_free(nv);
    return LMF_OK;
}

lmf_status lmf_text_reserved_error(const char *name, size_t line, const char *tok, size_t len) {
    return lmf_error(LMF_ERR_FORMAT,
                     "%s:%zu: the token \"%.*s\" is reserved (lines are sentences: <s> and </s> are "
                     "added by lmfuse); remove it from the text",
                     name, line, (int)len, tok);
}

lmf_status lmf_vocab_build_file(const char *path, const lmf_vocab_opts *opts, lmf_vocab **out) {
    lmf_vocab_opts def;
    if (!opts) {
        lmf_vocab_opts_init(&def);
        opts = &def;
    }
    *out = NULL;
    lmf_filebuf fb;
    lmf_status s = lmf_file_read(path, &fb);
    if (s) return s;
    if ((s = lmf_text_check(fb.data, fb.size, path, opts->mode, opts->utf8_check))) {
        lmf_filebuf_free(&fb);
        return s;
    }
    lmf_vocab *v = lmf_vocab_new(opts->mode);
    if (!v) {
        lmf_filebuf_free(&fb);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    lmf_tokenizer tz;
    lmf_tokenizer_init(&tz, fb.data, fb.size, path, opts->mode, opts->max_line);
    const char *tok;
    size_t len;
    int r;
    while ((r = lmf_tokenizer_next(&tz, &tok, &len)) > 0) {
        int32_t id;
        if (r == 2) {
            id = LMF_EOS;
        } else {
            id = lmf_vocab_add(v, tok, len);
            if (id < 0) {
                s = lmf_error(LMF_ERR_NOMEM, "out of memory building vocabulary");
                break;
            }
            if (id == v->n || id == LMF_EOS) {
                s = lmf_text_reserved_error(path, tz.line, tok, len);
                break;
            }
        }
        v->count[id]++;
    }
    if (r < 0) s = LMF_ERR_FORMAT;
    lmf_filebuf_free(&fb);
    if (!s) s = lmf_vocab_finalize(v, opts->min_count ? opts->min_count : 1, opts->max_size, NULL);
    if (s) {
        lmf_vocab_free(v);
        return s;
    }
    *out = v;
    return LMF_OK;
}

/* ---- save / load ---- */
lmf_status lmf_vocab_save(const lmf_vocab *v, const char *path) {
    lmf_outfile of;
    lmf_status s = lmf_outfile_open(&of, path);
    if (s) return s;
    fprintf(of.fp, "#lmfuse-vocab 1 %s %d\n", lmf_token_mode_name(v->mode), (int)v->n);
    for (int32_t i = 0; i < v->n; i++) {
        const char *w = v->strs.p + v->off[i];
        for (uint32_t j = 0; j < v->len[i]; j++) {
            unsigned char c = (unsigned char)w[j];
            switch (c) {
            case '\\': fputs("\\\\", of.fp); break;
            case '\n': fputs("\\n", of.fp); break;
            case '\t': fputs("\\t", of.fp); break;
            case '\r': fputs("\\r", of.fp); break;
            case ' ': fputs("\\s", of.fp); break;
            case 0: fputs("\\0", of.fp); break;
            default: fputc(c, of.fp);
            }
        }
        fputc('\n', of.fp);
    }
    return lmf_outfile_commit(&of);
}

lmf_status lmf_vocab_load(const char *path, lmf_vocab **out) {
    *out = NULL;
    lmf_filebuf fb;
    lmf_status s = lmf_file_read(path, &fb);
    if (s) return s;
    char mode[16];
    int n = 0, used = 0;
    if (sscanf(fb.data, "#lmfuse-vocab 1 %15s %d%n", mode, &n, &used) != 2 || lmf_token_mode_parse(mode) < 0 ||
        n < 2) {
        lmf_filebuf_free(&fb);
        return lmf_error(LMF_ERR_FORMAT,
                         "%s:1: not an lmfuse vocabulary (expected header \"#lmfuse-vocab 1 word|char|byte V\"); "
                         "build one with `lmfuse vocab build`",
                         path);
    }
    lmf_vocab *v = lmf_vocab_new((lmf_token_mode)lmf_token_mode_parse(mode));
    if (!v) {
        lmf_filebuf_free(&fb);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    const char *p = fb.data + used, *end = fb.data + fb.size;
    if (p < end && *p == '\n') p++;
    lmf_buf tok = {0};
    size_t line = 2;
    int32_t id = 0;
    while (p < end && !s) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        tok.len = 0;
        for (const char *q = p; q < nl && !s; q++) {
            char c = *q;
            if (c == '\\') {
                if (++q >= nl) {
                    s = lmf_error(LMF_ERR_FORMAT, "%s:%zu: dangling backslash", path, line);
                    break;
                }
                switch (*q) {
                case '\\': c = '\\'; break;
                case 'n': c = '\n'; break;
                case 't': c = '\t'; break;
                case 'r': c = '\r'; break;
                case 's': c = ' '; break;
                case '0': c = 0; break;
                default: s = lmf_error(LMF_ERR_FORMAT, "%s:%zu: unknown escape \\%c", path, line, *q); continue;
                }
            }
            if (!s) s = lmf_buf_append(&tok, &c, 1);
        }
        if (s) break;
        if (id == 0 || id == 1) {
            if (tok.len != strlen(special_str[id]) || memcmp(tok.p, special_str[id], tok.len)) {
                s = lmf_error(LMF_ERR_FORMAT, "%s:%zu: id %d must be %s", path, line, (int)id, special_str[id]);
                break;
            }
        } else {
            int32_t before = v->n;
            int32_t got = lmf_vocab_add(v, tok.p ? tok.p : "", tok.len);
            if (got < 0) {
                s = lmf_error(LMF_ERR_NOMEM, "out of memory");
                break;
            }
            if (got != before) {
                s = lmf_error(LMF_ERR_FORMAT, "%s:%zu: duplicate or reserved token \"%.*s\"", path, line,
                              (int)tok.len, tok.p ? tok.p : "");
                break;
            }
        }
        id++;
        line++;
        p = nl + 1;
    }
    lmf_buf_free(&tok);
    lmf_filebuf_free(&fb);
    if (!s && id != n)
        s = lmf_error(LMF_ERR_FORMAT, "%s: header says %d tokens but the file has %d (truncated?)", path, n,
                      (int)id);
    if (s) {
        lmf_vocab_free(v);
        return s;
    }
    *out = v;
    return LMF_OK;
}
