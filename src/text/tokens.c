/* Tokenizer, UTF-8 validation and text -> id streams. */
#include "text_impl.h"

#include <string.h>

void lmf_read_opts_init(lmf_read_opts *o) {
    memset(o, 0, sizeof *o);
    o->utf8_check = 1;
    o->max_line = (size_t)1 << 24;
}

/* Length of the UTF-8 sequence starting at p (1..4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
    unsigned char c = p[0];
    if (c < 0x80) return 1;
    size_t n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;
    return n;
}

int lmf_utf8_valid(const char *data, size_t size, size_t *bad_line, size_t *bad_col) {
    const unsigned char *p = (const unsigned char *)data, *end = p + size, *ls = p;
    size_t line = 1;
    while (p < end) {
        /* ASCII fast path, 8 bytes at a time */
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (w & 0x8080808080808080ULL) break;
            for (int i = 0; i < 8; i++)
                if (p[i] == '\n') {
                    line++;
                    ls = p + i + 1;
                }
            p += 8;
        }
        if (p >= end) break;
        if (*p < 0x80) {
            if (*p == '\n') {
                line++;
                ls = p + 1;
            }
            p++;
            continue;
        }
        size_t n = utf8_seq(p, end);
        if (!n) {
            if (bad_line) *bad_line = line;
            if (bad_col) *bad_col = (size_t)(p - ls) + 1;
            return 0;
        }
        p += n;
    }
    return 1;
}

lmf_status lmf_text_check(const char *data, size_t size, const char *name, lmf_token_mode mode,
                          int utf8_check) {
    if (mode == LMF_TOK_BYTE || !utf8_check) return LMF_OK;
    size_t bl, bc;
    if (!lmf_utf8_valid(data, size, &bl, &bc))
        return lmf_error(LMF_ERR_FORMAT,
                         "%s:%zu:%zu: invalid UTF-8; convert the file to UTF-8 (e.g. iconv -f "
                         "latin1 -t utf-8) or use byte mode / --no-utf8-check",
                         name, bl, bc);
    return LMF_OK;
}

void lmf_tokenizer_init(lmf_tokenizer *tz, const char *data, size_t size, const char *name,
                        lmf_token_mode mode, size_t max_line) {
    tz->p = data;
    tz->end = data + size;
    tz->line_start = data;
    tz->name = name;
    tz->mode = mode;
    tz->line = 1;
    tz->max_line = max_line ? max_line : (size_t)1 << 24;
    tz->in_line = 0;
}

static int line_too_long(lmf_tokenizer *tz) {
    lmf_error(LMF_ERR_FORMAT,
              "%s:%zu: line longer than %zu bytes; split the text into shorter lines (one sentence or "
              "paragraph per line) or raise --max-line",
              tz->name, tz->line, tz->max_line);
    return -1;
}

int lmf_tokenizer_next(lmf_tokenizer *tz, const char **tok, size_t *len) {
    const char *p = tz->p, *end = tz->end;
    if (tz->mode == LMF_TOK_WORD) {
        while (p < end && lmf_is_space((unsigned char)*p)) p++;
        if (p >= end) {
            tz->p = p;
            if (tz->in_line) { /* last line without '\n' */
                tz->in_line = 0;
                return 2;
            }
            return 0;
        }
        if (*p == '\n') {
            if ((size_t)(p - tz->line_start) > tz->max_line) return line_too_long(tz);
            tz->p = p + 1;
            tz->line_start = p + 1;
            tz->line++;
            tz->in_line = 0;
            return 2;
        }
        const char *s = p;
        while (p < end && *p != '\n' && !lmf_is_space((unsigned char)*p)) p++;
        if ((size_t)(p - tz->line_start) > tz->max_line) return line_too_long(tz);
        *tok = s;
        *len = (size_t)(p - s);
        tz->p = p;
        tz->in_line = 1;
        return 1;
    }
    /* char and byte modes: '\n' ends the line, '\r' before '\n' is dropped */
    if (p >= end) {
        if (tz->in_line) {
            tz->in_line = 0;
            return 2;
        }
        return 0;
    }
    if (*p == '\r' && p + 1 < end && p[1] == '\n') p++;
    if (*p == '\n') {
        if ((size_t)(p - tz->line_start) > tz->max_line) return line_too_long(tz);
        tz->p = p + 1;
        tz->line_start = p + 1;
        tz->line++;
        tz->in_line = 0;
        return 2;
    }
    size_t n = 1;
    if (tz->mode == LMF_TOK_CHAR) {
        n = utf8_seq((const unsigned char *)p, (const unsigned char *)end);
        if (!n) n = 1; /* unchecked input: a stray byte is its own token */
    }
    if ((size_t)(p + n - tz->line_start) > tz->max_line) return line_too_long(tz);
    *tok = p;
    *len = n;
    tz->p = p + n;
    tz->in_line = 1;
    return 1;
}

void lmf_tokens_free(lmf_tokens *t) {
    if (!t) return;
    lmf_free(t->ids);
    lmf_free(t->oov);
    lmf_free(t->oov_text);
    memset(t, 0, sizeof *t);
}

lmf_status lmf_tokens_read_mem(const char *data, size_t size, const char *name, const lmf_vocab *v,
                               const lmf_read_opts *opts, lmf_tokens *out) {
    lmf_read_opts def;
    if (!opts) {
        lmf_read_opts_init(&def);
        opts = &def;
    }
    memset(out, 0, sizeof *out);
    lmf_status s = lmf_text_check(data, size, name, v->mode, opts->utf8_check);
    if (s) return s;
    size_t cap = 1024;
    if (v->mode == LMF_TOK_WORD)
        cap = size / 2 + 16; /* enough unless most lines are empty; grows otherwise */
    else
        cap = size + 16;
    out->ids = (int32_t *)lmf_malloc(cap * sizeof *out->ids);
    out->oov = (uint8_t *)lmf_malloc(cap);
    if (!out->ids || !out->oov) {
        lmf_tokens_free(out);
        return lmf_error(LMF_ERR_NOMEM, "%s: out of memory for %zu tokens", name, cap);
    }
    lmf_tokenizer tz;
    lmf_tokenizer_init(&tz, data, size, name, v->mode, opts->max_line);
    const char *tok = NULL;
    size_t len = 0, n = 0, line_tokens = 0;
    lmf_buf oovs = {0};
    int r;
    while ((r = lmf_tokenizer_next(&tz, &tok, &len)) > 0) {
        if (n + 1 >= cap) {
            size_t ncap = cap * 2;
            int32_t *ni = (int32_t *)lmf_realloc(out->ids, ncap * sizeof *ni);
            if (ni) out->ids = ni;
            uint8_t *no = ni ? (uint8_t *)lmf_realloc(out->oov, ncap) : NULL;
            if (!no) {
                lmf_buf_free(&oovs);
                lmf_tokens_free(out);
                return lmf_error(LMF_ERR_NOMEM, "%s: out of memory for %zu tokens", name, ncap);
            }
            out->oov = no;
            cap = ncap;
        }
        if (r == 2) {
            if (line_tokens == 0 && opts->skip_empty) continue;
            out->ids[n] = LMF_EOS;
            out->oov[n++] = 0;
            out->lines++;
            line_tokens = 0;
            continue;
        }
        int32_t id = lmf_vocab_find(v, tok, len);
        uint8_t oov = 0;
        if (id < 0) {
            id = LMF_UNK;
            oov = 1;
            out->n_oov++;
            if (opts->keep_oov_text && (lmf_buf_append(&oovs, tok, len) || lmf_buf_append(&oovs, "", 1))) {
                lmf_buf_free(&oovs);
                lmf_tokens_free(out);
                return lmf_error(LMF_ERR_NOMEM, "%s: out of memory", name);
            }
        } else if (id >= LMF_EOS) {
            if (id == v->n || id == LMF_EOS) {
                lmf_buf_free(&oovs);
                lmf_tokens_free(out);
                return lmf_text_reserved_error(name, tz.line, tok, len);
            }
        } else {
            out->n_unk++;
        }
        out->ids[n] = id;
        out->oov[n++] = oov;
        line_tokens++;
    }
    if (r < 0) {
        lmf_buf_free(&oovs);
        lmf_tokens_free(out);
        return LMF_ERR_FORMAT;
    }
    out->n = n;
    out->oov_text = oovs.p; /* NULL when there were none or they were not kept */
    return LMF_OK;
}

lmf_status lmf_tokens_read_file(const char *path, const lmf_vocab *v, const lmf_read_opts *opts,
                                lmf_tokens *out) {
    lmf_filebuf fb;
    lmf_status s = lmf_file_map(path, &fb);
    if (s) {
        memset(out, 0, sizeof *out);
        return s;
    }
    s = lmf_tokens_read_mem(fb.data, fb.size, path, v, opts, out);
    lmf_filebuf_free(&fb);
    return s;
}
