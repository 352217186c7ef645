/* Tagged text in CoNLL columns (lmf/tag.h, "tagged text"): one copy of the
 * file with the word and tag of each token cut out as NUL-terminated
 * strings in place. */
#define _POSIX_C_SOURCE 200809L
#include "lmf/tag.h"
#include "lmf/text.h"

#include "tag_impl.h"
#include "../core/util_impl.h"

#include <string.h>

struct lmf_tagged {
    char *path;
    char *text;   /* the file, cut into strings (NULL in a view of another corpus) */
    size_t ntok, nsent;
    const char **word;
    const char **tag; /* NULL when read without tags */
    size_t *line;
    size_t *send; /* send[i]: one past the last token of sentence i */
};

void lmf_tagged_free(lmf_tagged *c) {
    if (!c) return;
    lmf_free(c->path);
    lmf_free(c->text);
    lmf_free(c->word);
    lmf_free(c->tag);
    lmf_free(c->line);
    lmf_free(c->send);
    lmf_free(c);
}

size_t lmf_tagged_nsent(const lmf_tagged *c) { return c->nsent; }
size_t lmf_tagged_ntok(const lmf_tagged *c) { return c->ntok; }
const char *lmf_tagged_path(const lmf_tagged *c) { return c->path; }
const char *const *lmf_tagged_words(const lmf_tagged *c) { return c->word; }
const char *lmf_tagged_word(const lmf_tagged *c, size_t t) { return c->word[t]; }
const char *lmf_tagged_tag(const lmf_tagged *c, size_t t) { return c->tag ? c->tag[t] : NULL; }
size_t lmf_tagged_line(const lmf_tagged *c, size_t t) { return c->line[t]; }
void lmf_tagged_sentence(const lmf_tagged *c, size_t i, size_t *start, size_t *end) {
    *start = i ? c->send[i - 1] : 0;
    *end = c->send[i];
}

static lmf_status bad(const char *name, size_t line, const char *what) {
    return lmf_error(LMF_ERR_FORMAT, "%s line %zu: %s (CoNLL columns: WORD<TAB>TAG per token, an empty line after each "
                                     "sentence)", name, line, what);
}

lmf_status lmf_tagged_read_mem(const char *data, size_t n, const char *name, int need_tags, lmf_tagged **out) {
    *out = NULL;
    size_t bl = 0, bc = 0;
    if (memchr(data, 0, n)) {
        const char *z = (const char *)memchr(data, 0, n);
        size_t line = 1;
        for (const char *p = data; p < z; p++) line += *p == '\n';
        return bad(name, line, "a NUL byte");
    }
    if (!lmf_utf8_valid(data, n, &bl, &bc))
        return lmf_error(LMF_ERR_FORMAT, "%s line %zu, byte %zu: invalid UTF-8 (convert the file, e.g. iconv -f "
                                         "latin1 -t utf-8)", name, bl, bc);
    size_t lines = 0;
    for (size_t i = 0; i < n; i++) lines += data[i] == '\n';
    lines++;
    lmf_tagged *c = (lmf_tagged *)lmf_calloc(1, sizeof *c);
    if (!c) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    c->path = lmf_strdup(name);
    c->text = (char *)lmf_malloc(n + 1);
    c->word = (const char **)lmf_malloc(lines * sizeof *c->word);
    c->line = (size_t *)lmf_malloc(lines * sizeof *c->line);
    c->send = (size_t *)lmf_malloc(lines * sizeof *c->send);
    if (need_tags) c->tag = (const char **)lmf_malloc(lines * sizeof *c->tag);
    if (!c->path || !c->text || !c->word || !c->line || !c->send || (need_tags && !c->tag)) {
        lmf_tagged_free(c);
        return lmf_error(LMF_ERR_NOMEM, "out of memory (%s: %zu lines)", name, lines);
    }
    memcpy(c->text, data, n);
    c->text[n] = 0;
    char *p = c->text, *end = c->text + n;
    size_t line = 0, s0 = 0;
    lmf_status s = LMF_OK;
    while (p < end && !s) {
        char *eol = (char *)memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        char *e = eol;
        if (e > p && e[-1] == '\r') e--;
        *e = 0;
        if (e == p) { /* empty line: the sentence ends */
            if (c->ntok > s0) c->send[c->nsent++] = c->ntok, s0 = c->ntok;
        } else {
            char *tab = (char *)memchr(p, '\t', (size_t)(e - p));
            const char *w = p, *tg = NULL;
            if (tab) {
                *tab = 0;
                char *last = NULL;
                for (char *q = e; q > tab + 1; q--)
                    if (q[-1] == '\t') {
                        last = q - 1;
                        break;
                    }
                if (last) *last = 0;
                tg = last ? last + 1 : tab + 1;
            }
            if (need_tags && !tab) s = bad(name, line, "no tab between word and tag");
            else if (!*w) s = bad(name, line, "an empty word");
            else if (need_tags && !*tg) s = bad(name, line, "an empty tag");
            else if (strlen(w) > LMF_TAG_MAX_LEN || (need_tags && strlen(tg) > LMF_TAG_MAX_LEN))
                s = bad(name, line, "a word or tag longer than 4096 bytes");
            if (!s) {
                c->word[c->ntok] = w;
                if (need_tags) c->tag[c->ntok] = tg;
                c->line[c->ntok] = line;
                c->ntok++;
            }
        }
        p = eol + 1;
    }
    if (!s && c->ntok > s0) c->send[c->nsent++] = c->ntok;
    if (!s && c->ntok == 0)
        s = lmf_error(LMF_ERR_FORMAT, "%s: no tokens (an empty file? CoNLL columns: WORD<TAB>TAG per line)", name);
    if (s) {
        lmf_tagged_free(c);
        return s;
    }
    *out = c;
    return LMF_OK;
}

lmf_status lmf_tagged_read(const char *path, int need_tags, lmf_tagged **out) {
    *out = NULL;
    lmf_filebuf fb;
    lmf_status s = lmf_file_read(path, &fb);
    if (s) return s;
    s = lmf_tagged_read_mem(fb.data, fb.size, path, need_tags, out);
    lmf_filebuf_free(&fb);
    return s;
}

lmf_status lmf_tagged_without(const lmf_tagged *c, size_t s0, size_t s1, lmf_tagged **out) {
    *out = NULL;
    size_t a0 = s0 ? c->send[s0 - 1] : 0, a1 = s1 ? c->send[s1 - 1] : 0;
    const size_t ntok = c->ntok - (a1 - a0), nsent = c->nsent - (s1 - s0);
    if (!nsent) return lmf_error(LMF_ERR_ARG, "%s: nothing left without sentences %zu..%zu", c->path, s0 + 1, s1);
    lmf_tagged *v = (lmf_tagged *)lmf_calloc(1, sizeof *v);
    if (!v) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    v->path = lmf_strdup(c->path);
    v->word = (const char **)lmf_malloc(ntok * sizeof *v->word);
    v->line = (size_t *)lmf_malloc(ntok * sizeof *v->line);
    v->send = (size_t *)lmf_malloc(nsent * sizeof *v->send);
    if (c->tag) v->tag = (const char **)lmf_malloc(ntok * sizeof *v->tag);
    if (!v->path || !v->word || !v->line || !v->send || (c->tag && !v->tag)) {
        lmf_tagged_free(v);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < c->nsent; i++) {
        if (i >= s0 && i < s1) continue;
        size_t a, b;
        lmf_tagged_sentence(c, i, &a, &b);
        memcpy(v->word + v->ntok, c->word + a, (b - a) * sizeof *v->word);
        memcpy(v->line + v->ntok, c->line + a, (b - a) * sizeof *v->line);
        if (c->tag) memcpy(v->tag + v->ntok, c->tag + a, (b - a) * sizeof *v->tag);
        v->ntok += b - a;
        v->send[v->nsent++] = v->ntok;
    }
    *out = v;
    return LMF_OK;
}
