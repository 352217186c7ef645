/* Labelled documents in fastText's format (lmf/classify.h). */
#include "classify_impl.h"
#include "../core/util_impl.h"
#include "lmf/text.h"

#include <stdlib.h>
#include <string.h>

#define PREFIX "__label__"
#define PREFIX_LEN 9

void lmf_docs_free(lmf_docs *d) {
    for (size_t i = 0; d->text && i < d->n; i++) lmf_free(d->text[i]);
    lmf_free(d->text);
    lmf_free(d->len);
    lmf_free(d->label);
    lmf_free(d->line);
    for (int c = 0; d->names && c < d->C; c++) lmf_free(d->names[c]);
    lmf_free(d->names);
    lmf_free(d->path);
    memset(d, 0, sizeof *d);
}

void lmf_docs_counts(const lmf_docs *d, size_t *counts) {
    memset(counts, 0, (size_t)d->C * sizeof *counts);
    for (size_t i = 0; i < d->n; i++)
        if (d->label[i] >= 0) counts[d->label[i]]++;
}

static int hexval(int ch) {
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* Unescapes s[0..n) into out (n + 1 bytes); returns the length.  \n \r \\
 * \xHH are lmfuse's escapes; any other backslash is kept as written (files
 * from other tools use backslashes freely). */
static size_t unescape(const char *s, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '\\' && i + 1 < n) {
            char e = s[i + 1];
            if (e == 'n' || e == 'r' || e == '\\') {
                out[k++] = e == 'n' ? '\n' : e == 'r' ? '\r' : '\\';
                i++;
                continue;
            }
            if (e == 'x' && i + 3 < n && hexval((unsigned char)s[i + 2]) >= 0 && hexval((unsigned char)s[i + 3]) >= 0) {
                out[k++] = (char)(hexval((unsigned char)s[i + 2]) * 16 + hexval((unsigned char)s[i + 3]));
                i += 3;
                continue;
            }
        }
        out[k++] = ch;
    }
    out[k] = 0;
    return k;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Index of name among sorted names, or -1. */
static int find_class(char *const *names, int C, const char *name) {
    int lo = 0, hi = C - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, r = strcmp(names[mid], name);
        if (!r) return mid;
        if (r < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static lmf_status grow(lmf_docs *d, size_t *cap) {
    size_t nc = *cap ? *cap * 2 : 1024;
    char **t = (char **)lmf_realloc(d->text, nc * sizeof *t);
    if (t) d->text = t;
    size_t *l = (size_t *)lmf_realloc(d->len, nc * sizeof *l);
    if (l) d->len = l;
    int32_t *lb = (int32_t *)lmf_realloc(d->label, nc * sizeof *lb);
    if (lb) d->label = lb;
    size_t *ln = (size_t *)lmf_realloc(d->line, nc * sizeof *ln);
    if (ln) d->line = ln;
    if (!t || !l || !lb || !ln) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    *cap = nc;
    return LMF_OK;
}

static lmf_status read_docs(const char *path, const char *const *classes, int C, int unlabelled, lmf_docs *out) {
    memset(out, 0, sizeof *out);
    lmf_filebuf fb;
    lmf_status s = lmf_file_read(path, &fb);
    if (s) return s;
    size_t bad_line, bad_col;
    if (!lmf_utf8_valid(fb.data, fb.size, &bad_line, &bad_col)) {
        lmf_filebuf_free(&fb);
        return lmf_error(LMF_ERR_FORMAT, "%s:%zu: invalid UTF-8 at byte %zu; labelled files are UTF-8 text", path,
                         bad_line, bad_col);
    }
    out->path = lmf_strdup(path);
    if (!out->path) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    /* labels as written: kept per document until the class set is known */
    char **lab = NULL;
    size_t cap = 0, line = 0;
    const char *p = fb.data, *end = fb.data + fb.size;
    while (!s && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        line++;
        const char *q = p;
        p = nl ? nl + 1 : end;
        if (e > q && e[-1] == '\r') e--; /* CRLF files */
        if (e == q) continue;            /* blank lines are skipped, as fastText does */
        int has = (size_t)(e - q) >= PREFIX_LEN && !memcmp(q, PREFIX, PREFIX_LEN);
        if (!has && !unlabelled) {
            s = lmf_error(LMF_ERR_FORMAT,
                          "%s:%zu: the line has no label; each line is `__label__NAME document text` (fastText "
                          "format), one document per line",
                          path, line);
            break;
        }
        const char *ls = has ? q + PREFIX_LEN : q, *le = ls;
        while (has && le < e && *le != ' ' && *le != '\t') le++;
        if (has && le == ls) {
            s = lmf_error(LMF_ERR_FORMAT, "%s:%zu: empty label name after __label__", path, line);
            break;
        }
        const char *ds = le;
        while (ds < e && (*ds == ' ' || *ds == '\t')) ds++;
        if ((size_t)(e - ds) >= PREFIX_LEN && !memcmp(ds, PREFIX, PREFIX_LEN)) {
            s = lmf_error(LMF_ERR_FORMAT,
                          "%s:%zu: a second __label__ on the line; lmfuse classifies single-label documents: keep "
                          "one label per line",
                          path, line);
            break;
        }
        const char *de = e;
        while (de > ds && (de[-1] == ' ' || de[-1] == '\t')) de--;
        if (de == ds) {
            s = lmf_error(LMF_ERR_FORMAT, "%s:%zu: the document%s%.*s is empty", path, line,
                          has ? " after __label__" : "", (int)(le - ls > 100 ? 100 : le - ls), ls);
            break;
        }
        if (out->n == cap && (s = grow(out, &cap))) break;
        char **nl2 = (char **)lmf_realloc(lab, cap * sizeof *lab);
        if (!nl2) {
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            break;
        }
        lab = nl2;
        size_t n = out->n;
        out->text[n] = (char *)lmf_malloc((size_t)(de - ds) + 1);
        lab[n] = has ? (char *)lmf_malloc((size_t)(le - ls) + 1) : NULL;
        if (!out->text[n] || (has && !lab[n])) {
            lmf_free(out->text[n]);
            lmf_free(lab[n]);
            s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            break;
        }
        out->len[n] = unescape(ds, (size_t)(de - ds), out->text[n]);
        if (has) {
            memcpy(lab[n], ls, (size_t)(le - ls));
            lab[n][le - ls] = 0;
        }
        out->line[n] = line;
        out->n++;
    }
    lmf_filebuf_free(&fb);
    if (!s && out->n == 0) s = lmf_error(LMF_ERR_DATA, "%s: no documents (an empty file?)", path);
    /* the class set: given, or the file's labels */
    if (!s && classes) {
        if (C < 1 || C > LMF_MAX_CLASSES) s = lmf_error(LMF_ERR_ARG, "1..%d classes (got %d)", LMF_MAX_CLASSES, C);
        out->names = s ? NULL : (char **)lmf_calloc((size_t)C, sizeof *out->names);
        if (!s && !out->names) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        for (int c = 0; !s && c < C; c++) {
            if (c && strcmp(classes[c - 1], classes[c]) >= 0)
                s = lmf_error(LMF_ERR_ARG, "class names must be sorted and distinct (\"%s\", \"%s\")", classes[c - 1],
                              classes[c]);
            else if (!(out->names[c] = lmf_strdup(classes[c])))
                s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        }
        if (!s) out->C = C;
    } else if (!s) {
        char **sorted = (char **)lmf_malloc(out->n * sizeof *sorted);
        if (!sorted) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        if (!s) {
            memcpy(sorted, lab, out->n * sizeof *sorted);
            qsort(sorted, out->n, sizeof *sorted, cmp_str);
            int u = 0;
            for (size_t i = 0; i < out->n; i++)
                if (!i || strcmp(sorted[i], sorted[i - 1])) u++;
            if (u > LMF_MAX_CLASSES)
                s = lmf_error(LMF_ERR_DATA, "%s: %d classes; lmfuse handles at most %d", path, u, LMF_MAX_CLASSES);
            out->names = s ? NULL : (char **)lmf_calloc((size_t)u, sizeof *out->names);
            if (!s && !out->names) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            for (size_t i = 0; !s && i < out->n; i++)
                if (!i || strcmp(sorted[i], sorted[i - 1])) {
                    if (!(out->names[out->C] = lmf_strdup(sorted[i]))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
                    else out->C++;
                }
        }
        lmf_free(sorted);
    }
    for (size_t i = 0; !s && i < out->n; i++) {
        if (!lab[i]) { /* an unlabelled document (prediction input) */
            out->label[i] = -1;
            continue;
        }
        int c = find_class(out->names, out->C, lab[i]);
        if (c < 0) {
            char known[400];
            size_t k = 0;
            for (int j = 0; j < out->C && k + 40 < sizeof known; j++)
                k += (size_t)snprintf(known + k, sizeof known - k, "%s%s", j ? ", " : "", out->names[j]);
            if (out->C && k + 40 >= sizeof known) snprintf(known + k, sizeof known - k, ", ...");
            s = lmf_error(LMF_ERR_DATA,
                          "%s:%zu: label \"%s\" is not one the model was trained on (its %d classes: %s); the "
                          "files must share one label set",
                          path, out->line[i], lab[i], out->C, known);
        }
        out->label[i] = c;
    }
    for (size_t i = 0; i < out->n; i++) lmf_free(lab[i]);
    lmf_free(lab);
    if (s) lmf_docs_free(out);
    return s;
}

/* An empty set over d's classes, with path p. */
static lmf_status empty_like(const lmf_docs *d, const char *p, lmf_docs *out) {
    memset(out, 0, sizeof *out);
    out->path = lmf_strdup(p);
    out->names = (char **)lmf_calloc((size_t)d->C, sizeof *out->names);
    lmf_status s = out->path && out->names ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int c = 0; !s && c < d->C; c++) {
        if (!(out->names[c] = lmf_strdup(d->names[c]))) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else out->C++;
    }
    return s;
}

/* Appends a copy of document j of d to out (capacity *cap). */
static lmf_status append_copy(lmf_docs *out, size_t *cap, const lmf_docs *d, size_t j) {
    lmf_status s = out->n < *cap ? LMF_OK : grow(out, cap);
    if (s) return s;
    if (!(out->text[out->n] = (char *)lmf_malloc(d->len[j] + 1))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    memcpy(out->text[out->n], d->text[j], d->len[j] + 1);
    out->len[out->n] = d->len[j];
    out->label[out->n] = d->label[j];
    out->line[out->n] = d->line[j];
    out->n++;
    return LMF_OK;
}

lmf_status lmf_docs_subset(const lmf_docs *d, const size_t *idx, size_t m, lmf_docs *out) {
    size_t cap = 0;
    lmf_status s = empty_like(d, d->path ? d->path : "", out);
    for (size_t i = 0; !s && i < m; i++) s = append_copy(out, &cap, d, idx[i]);
    if (s) lmf_docs_free(out);
    return s;
}

lmf_status lmf_docs_concat(const lmf_docs *a, const lmf_docs *b, lmf_docs *out) {
    memset(out, 0, sizeof *out);
    int same = a->C == b->C;
    for (int c = 0; same && c < a->C; c++) same = !strcmp(a->names[c], b->names[c]);
    const char *pa = a->path ? a->path : "documents", *pb = b->path ? b->path : "documents";
    if (!same)
        return lmf_error(LMF_ERR_DATA, "%s and %s have different classes (read the second over the first's labels)", pa,
                         pb);
    const size_t la = strlen(pa), lb = strlen(pb);
    char *p = (char *)lmf_malloc(la + lb + 2);
    if (!p) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    memcpy(p, pa, la);
    p[la] = '+';
    memcpy(p + la + 1, pb, lb + 1);
    size_t cap = 0;
    lmf_status s = empty_like(a, p, out);
    lmf_free(p);
    for (size_t i = 0; !s && i < a->n; i++) s = append_copy(out, &cap, a, i);
    for (size_t i = 0; !s && i < b->n; i++) s = append_copy(out, &cap, b, i);
    if (s) lmf_docs_free(out);
    return s;
}

lmf_status lmf_docs_read(const char *path, const char *const *classes, int C, lmf_docs *out) {
    return read_docs(path, classes, C, 0, out);
}

lmf_status lmf_docs_read_any(const char *path, const char *const *classes, int C, lmf_docs *out) {
    if (!classes) return lmf_error(LMF_ERR_ARG, "unlabelled documents are read over a classifier's classes");
    return read_docs(path, classes, C, 1, out);
}
