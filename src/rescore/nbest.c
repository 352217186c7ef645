/* N-best list sets (lmf/rescore.h): storage, the list formats (SRILM's
 * three, Moses', plain "words score"), folders of per-utterance files, and
 * references. */
#define _POSIX_C_SOURCE 200809L
#include "lmf/rescore.h"
#include "lmf/parse.h"

#include "rescore_impl.h"
#include "../core/util_impl.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void lmf_nbest_free(lmf_nbest *nb) {
    if (!nb) return;
    lmf_vocab_free(nb->words);
    for (int f = 0; f < nb->nfeat; f++) lmf_free(nb->feat[f]);
    for (size_t u = 0; u < nb->nutt; u++) lmf_free(nb->utt[u].id);
    lmf_free(nb->utt);
    lmf_free(nb->hyp);
    lmf_free(nb->fv);
    lmf_free(nb->tok);
    memset(nb, 0, sizeof *nb);
}

static lmf_status ensure_words(lmf_nbest *nb) {
    if (!nb->words && !(nb->words = lmf_vocab_new(LMF_TOK_WORD))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    return LMF_OK;
}

int32_t lmf_nbest_word(lmf_nbest *nb, const char *w, size_t n) {
    if (ensure_words(nb)) return -1;
    int32_t id = lmf_vocab_add(nb->words, w, n);
    if (id < 0) lmf_error(LMF_ERR_NOMEM, "out of memory");
    return id;
}

int lmf_nbest_is_filler(const char *w, size_t n) {
    if (!n) return 1;
    if (w[0] == '!' || w[0] == '<' || w[0] == '[') return 1; /* !NULL !SENT_END <s> </s> <sil> [NOISE] */
    if (n >= 4 && w[0] == '+' && w[1] == '+') return 1;      /* ++BREATH++ */
    if (n >= 3 && w[0] == '-' && w[n - 1] == '-') return 1;  /* -pau- */
    return 0;
}

int lmf_nbest_feature(lmf_nbest *nb, const char *name) {
    for (int f = 0; f < nb->nfeat; f++)
        if (!strcmp(nb->feat[f], name)) return f;
    if (nb->nfeat == LMF_NBEST_MAX_FEATS) {
        lmf_error(LMF_ERR_DATA, "more than %d features (at \"%s\")", LMF_NBEST_MAX_FEATS, name);
        return -1;
    }
    if (!(nb->feat[nb->nfeat] = lmf_strdup(name))) {
        lmf_error(LMF_ERR_NOMEM, "out of memory");
        return -1;
    }
    return nb->nfeat++;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = lmf_realloc(*p, c * elem);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

lmf_status lmf_nbest_begin(lmf_nbest *nb, const char *id, size_t idlen) {
    if (ensure_words(nb)) return LMF_ERR_NOMEM;
    if (!grow((void **)&nb->utt, &nb->cap_utt, nb->nutt + 1, sizeof *nb->utt))
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_nbest_utt *u = &nb->utt[nb->nutt];
    if (!(u->id = (char *)lmf_malloc(idlen + 1))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    memcpy(u->id, id, idlen);
    u->id[idlen] = 0;
    u->h0 = nb->nhyp;
    u->nh = 0;
    nb->nutt++;
    return LMF_OK;
}

lmf_status lmf_nbest_push(lmf_nbest *nb, const int32_t *w, int32_t n, const double *f) {
    size_t cap = nb->cap_hyp;
    if (!grow((void **)&nb->hyp, &nb->cap_hyp, nb->nhyp + 1, sizeof *nb->hyp))
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (nb->cap_hyp != cap) {
        size_t c2 = cap;
        if (!grow((void **)&nb->fv, &c2, nb->cap_hyp, LMF_NBEST_MAX_FEATS * sizeof *nb->fv))
            return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    if (!grow((void **)&nb->tok, &nb->cap_tok, nb->ntok + (size_t)n, sizeof *nb->tok))
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_nbest_hyp *h = &nb->hyp[nb->nhyp];
    h->w0 = nb->ntok;
    h->n = n;
    if (n) memcpy(nb->tok + nb->ntok, w, (size_t)n * sizeof *w);
    nb->ntok += (size_t)n;
    double *fv = nb->fv + nb->nhyp * LMF_NBEST_MAX_FEATS;
    for (int k = 0; k < LMF_NBEST_MAX_FEATS; k++) fv[k] = k < nb->nfeat && f ? f[k] : 0;
    nb->nhyp++;
    nb->utt[nb->nutt - 1].nh++;
    return LMF_OK;
}

/* ---- line and field scanning ---- */
typedef struct {
    const char *name;
    const char *p, *end;
    size_t line;
    const char *ls, *le; /* the current line */
} scan;

static int next_line(scan *s) {
    while (s->p < s->end) {
        s->ls = s->p;
        const char *nl = (const char *)memchr(s->p, '\n', (size_t)(s->end - s->p));
        s->le = nl ? nl : s->end;
        s->p = nl ? nl + 1 : s->end;
        s->line++;
        const char *e = s->le;
        if (e > s->ls && e[-1] == '\r') e--;
        s->le = e;
        const char *q = s->ls;
        while (q < e && (*q == ' ' || *q == '\t')) q++;
        if (q < e) return 1;
    }
    return 0;
}

/* The next field of [*p, e) (spaces and tabs separate); 0 at the end. */
static int field(const char **p, const char *e, const char **fs, size_t *fn) {
    const char *q = *p;
    while (q < e && (*q == ' ' || *q == '\t')) q++;
    if (q >= e) return 0;
    const char *r = q;
    while (r < e && *r != ' ' && *r != '\t') r++;
    *fs = q;
    *fn = (size_t)(r - q);
    *p = r;
    return 1;
}

static int num(const char *s, size_t n, double *out) {
    char buf[64];
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    return lmf_parse_double(buf, out);
}

static lmf_status bad(const scan *s, const char *what, const char *fix) {
    return lmf_error(LMF_ERR_FORMAT, "%s line %zu: %s%s%s", s->name, s->line, what, fix ? "; " : "", fix ? fix : "");
}

#define BYTELOG_TO_LN (1024.0 / 10000.5) /* SRILM (Decipher) bytelog units to natural log */
#define LN10 2.302585092994045684

typedef struct {
    int32_t *w;
    size_t n, cap;
} wordbuf;

static lmf_status add_word(lmf_nbest *nb, wordbuf *b, const char *w, size_t n) {
    if (lmf_nbest_is_filler(w, n)) return LMF_OK;
    int32_t id = lmf_nbest_word(nb, w, n);
    if (id < 0) return LMF_ERR_NOMEM;
    if (!grow((void **)&b->w, &b->cap, b->n + 1, sizeof *b->w)) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    b->w[b->n++] = id;
    return LMF_OK;
}

static lmf_status no_nul(const char *data, size_t size, const char *name) {
    const char *z = (const char *)memchr(data, 0, size);
    if (!z) return LMF_OK;
    size_t line = 1;
    for (const char *p = data; p < z; p++) line += *p == '\n';
    return lmf_error(LMF_ERR_FORMAT, "%s line %zu: a NUL byte (not a text n-best list)", name, line);
}

/* SRILM NBestList1.0 ("(bytelog) words") and 2.0 ("(bytelog) w ( st: s et: e g: lm a: ac ) ..."). */
static lmf_status read_decipher(lmf_nbest *nb, scan *s, int v2, wordbuf *wb) {
    int fs = lmf_nbest_feature(nb, "score"), fa = v2 ? lmf_nbest_feature(nb, "acoustic") : 0,
        fl = v2 ? lmf_nbest_feature(nb, "lm") : 0, fw = lmf_nbest_feature(nb, "words");
    if (fs < 0 || fa < 0 || fl < 0 || fw < 0) return lmf_error(LMF_ERR_DATA, "%s: %s", s->name, lmf_last_error());
    while (next_line(s)) {
        const char *p = s->ls, *f;
        size_t n;
        double v, f_[LMF_NBEST_MAX_FEATS] = {0};
        field(&p, s->le, &f, &n);
        if (n < 3 || f[0] != '(' || f[n - 1] != ')' || !num(f + 1, n - 2, &v))
            return bad(s, "a hypothesis must start with its total score in parentheses, e.g. (-12345)", NULL);
        f_[fs] = v * BYTELOG_TO_LN;
        wb->n = 0;
        while (field(&p, s->le, &f, &n)) {
            if (v2 && n == 1 && f[0] == '(') {
                /* ( st: t et: t g: lm a: ac ) */
                int closed = 0;
                while (field(&p, s->le, &f, &n)) {
                    if (n == 1 && f[0] == ')') {
                        closed = 1;
                        break;
                    }
                    int key = n == 2 && f[1] == ':' ? f[0] : 0;
                    if (!field(&p, s->le, &f, &n) || !num(f, n, &v))
                        return bad(s, "a word's details must be \"key: number\" pairs", "( st: 0.10 et: 0.42 g: -120 a: -3400 )");
                    if (key == 'g') f_[fl] += v * BYTELOG_TO_LN;
                    else if (key == 'a') f_[fa] += v * BYTELOG_TO_LN;
                }
                if (!closed) return bad(s, "a word's details are not closed by \")\"", NULL);
                continue;
            }
            lmf_status st = add_word(nb, wb, f, n);
            if (st) return st;
        }
        f_[fw] = (double)wb->n;
        lmf_status st = lmf_nbest_push(nb, wb->w, (int32_t)wb->n, f_);
        if (st) return st;
    }
    return LMF_OK;
}

/* SRILM's own format: "ascore lscore nwords words" (log10 scores). */
static lmf_status read_srilm(lmf_nbest *nb, scan *s, wordbuf *wb) {
    int fa = lmf_nbest_feature(nb, "acoustic"), fl = lmf_nbest_feature(nb, "lm"), fw = lmf_nbest_feature(nb, "words");
    if (fa < 0 || fl < 0 || fw < 0) return lmf_error(LMF_ERR_DATA, "%s: %s", s->name, lmf_last_error());
    while (next_line(s)) {
        const char *p = s->ls, *f;
        size_t n;
        double a, l, w, f_[LMF_NBEST_MAX_FEATS] = {0};
        if (!field(&p, s->le, &f, &n) || !num(f, n, &a) || !field(&p, s->le, &f, &n) || !num(f, n, &l) ||
            !field(&p, s->le, &f, &n) || !num(f, n, &w) || w < 0 || w != floor(w))
            return bad(s, "an SRILM n-best line is \"acoustic-score lm-score number-of-words words...\" (finite log10 scores)", NULL);
        wb->n = 0;
        while (field(&p, s->le, &f, &n)) {
            lmf_status st = add_word(nb, wb, f, n);
            if (st) return st;
        }
        f_[fa] = a * LN10;
        f_[fl] = l * LN10;
        f_[fw] = w;
        lmf_status st = lmf_nbest_push(nb, wb->w, (int32_t)wb->n, f_);
        if (st) return st;
    }
    return LMF_OK;
}

/* Plain "words score": the last field is the hypothesis' score (pocketsphinx's -nbestdir lists). */
static lmf_status read_plain(lmf_nbest *nb, scan *s, wordbuf *wb) {
    int fs = lmf_nbest_feature(nb, "score"), fw = lmf_nbest_feature(nb, "words");
    if (fs < 0 || fw < 0) return lmf_error(LMF_ERR_DATA, "%s: %s", s->name, lmf_last_error());
    while (next_line(s)) {
        const char *p = s->ls, *f, *lf = NULL;
        size_t n, ln = 0;
        double v, f_[LMF_NBEST_MAX_FEATS] = {0};
        while (field(&p, s->le, &f, &n)) {
            lf = f;
            ln = n;
        }
        if (!num(lf, ln, &v))
            return bad(s, "a plain n-best line is \"words... score\" and this one does not end with a finite score", NULL);
        wb->n = 0;
        p = s->ls;
        while (field(&p, s->le, &f, &n) && f != lf) {
            lmf_status st = add_word(nb, wb, f, n);
            if (st) return st;
        }
        f_[fs] = v;
        f_[fw] = (double)wb->n;
        lmf_status st = lmf_nbest_push(nb, wb->w, (int32_t)wb->n, f_);
        if (st) return st;
    }
    return LMF_OK;
}

/* Moses: "id ||| words ||| name= v v name2= v ||| total [||| more]". */
static lmf_status read_moses(lmf_nbest *nb, scan *s, wordbuf *wb) {
    int ft = lmf_nbest_feature(nb, "total");
    if (ft < 0) return lmf_error(LMF_ERR_DATA, "%s: %s", s->name, lmf_last_error());
    size_t first_utt = nb->nutt;
    while (next_line(s)) {
        const char *sep[3], *p = s->ls;
        int k = 0;
        for (const char *q = s->ls; k < 3 && q + 3 <= s->le; q++)
            if (q[0] == '|' && q[1] == '|' && q[2] == '|') {
                sep[k++] = q;
                q += 2;
            }
        if (k < 3) return bad(s, "a Moses n-best line has four fields: \"id ||| words ||| name= scores ||| total\"", NULL);
        const char *f;
        size_t n;
        const char *f2;
        size_t n2;
        if (!field(&p, sep[0], &f, &n) || field(&p, sep[0], &f2, &n2))
            return bad(s, "the sentence id (the first field) must be one word", NULL);
        if (nb->nutt == first_utt || strlen(nb->utt[nb->nutt - 1].id) != n || memcmp(nb->utt[nb->nutt - 1].id, f, n)) {
            for (size_t u = first_utt; u < nb->nutt; u++)
                if (strlen(nb->utt[u].id) == n && !memcmp(nb->utt[u].id, f, n))
                    return bad(s, "this sentence id appeared before, with other sentences between", "keep each sentence's hypotheses together");
            lmf_status st = lmf_nbest_begin(nb, f, n);
            if (st) return st;
        }
        wb->n = 0;
        p = sep[0] + 3;
        while (field(&p, sep[1], &f, &n)) {
            lmf_status st = add_word(nb, wb, f, n);
            if (st) return st;
        }
        double f_[LMF_NBEST_MAX_FEATS] = {0}, v;
        p = sep[1] + 3;
        char name[80];
        int idx = 0, have = 0;
        while (field(&p, sep[2], &f, &n)) {
            if (n > 1 && f[n - 1] == '=') {
                if (n - 1 >= sizeof name - 8) return bad(s, "a feature name longer than 70 bytes", NULL);
                memcpy(name, f, n - 1);
                name[n - 1] = 0;
                idx = 0;
                have = 1;
                continue;
            }
            if (!have) return bad(s, "scores must follow a feature name (\"LM0= -12.5 TM0= -3 -4\")", NULL);
            if (!num(f, n, &v)) return bad(s, "a feature value is not a finite number", NULL);
            char full[96];
            if (idx == 0) snprintf(full, sizeof full, "%s", name);
            else snprintf(full, sizeof full, "%s_%d", name, idx + 1);
            idx++;
            int fi = lmf_nbest_feature(nb, full);
            if (fi < 0) return bad(s, lmf_last_error(), NULL);
            f_[fi] = v;
        }
        p = sep[2] + 3;
        const char *e = s->le;
        for (const char *q = p; q + 3 <= s->le; q++)
            if (q[0] == '|' && q[1] == '|' && q[2] == '|') {
                e = q;
                break;
            }
        if (!field(&p, e, &f, &n) || !num(f, n, &v)) return bad(s, "the total score (fourth field) is not a finite number", NULL);
        f_[ft] = v;
        lmf_status st = lmf_nbest_push(nb, wb->w, (int32_t)wb->n, f_);
        if (st) return st;
    }
    return LMF_OK;
}

static int looks_moses(const char *data, size_t size) {
    const char *nl = (const char *)memchr(data, '\n', size);
    size_t n = nl ? (size_t)(nl - data) : size;
    for (size_t i = 0; i + 3 <= n; i++)
        if (data[i] == '|' && data[i + 1] == '|' && data[i + 2] == '|') return 1;
    return 0;
}

static lmf_status set_format(lmf_nbest *nb, const char *fmt, const char *name) {
    if (!nb->format[0]) snprintf(nb->format, sizeof nb->format, "%s", fmt);
    else if (strcmp(nb->format, fmt))
        return lmf_error(LMF_ERR_FORMAT, "%s: a %s list among %s ones (give one format per set)", name,
                         fmt, nb->format);
    return LMF_OK;
}

static lmf_status add_list(lmf_nbest *nb, const char *data, size_t size, const char *name, const char *id, size_t idlen) {
    lmf_status st = no_nul(data, size, name);
    if (st) return st;
    scan s = {name, data, data + size, 0, data, data};
    wordbuf wb = {0};
    size_t utt0 = nb->nutt, hyp0 = nb->nhyp;
    if (looks_moses(data, size)) {
        if (!(st = set_format(nb, "moses", name))) st = read_moses(nb, &s, &wb);
    } else {
        if ((st = lmf_nbest_begin(nb, id, idlen))) return st;
        scan peek = s;
        if (!next_line(&peek)) {
            st = lmf_error(LMF_ERR_FORMAT, "%s: an empty n-best list (no hypotheses)", name);
        } else if ((size_t)(peek.le - peek.ls) >= 12 && (!memcmp(peek.ls, "NBestList1.0", 12) || !memcmp(peek.ls, "NBestList2.0", 12))) {
            if (!(st = set_format(nb, peek.ls[9] == '2' ? "decipher2" : "decipher1", name)))
                st = read_decipher(nb, &peek, peek.ls[9] == '2', &wb);
        } else {
            const char *p = peek.ls, *f;
            size_t n;
            double a, l, w;
            int srilm = field(&p, peek.le, &f, &n) && num(f, n, &a) && field(&p, peek.le, &f, &n) && num(f, n, &l) &&
                        field(&p, peek.le, &f, &n) && num(f, n, &w) && w >= 0 && w == floor(w);
            if (!(st = set_format(nb, srilm ? "srilm" : "plain", name)))
                st = srilm ? read_srilm(nb, &s, &wb) : read_plain(nb, &s, &wb);
        }
    }
    lmf_free(wb.w);
    if (!st && nb->nhyp == hyp0) st = lmf_error(LMF_ERR_FORMAT, "%s: an empty n-best list (no hypotheses)", name);
    for (size_t u = utt0; !st && u < nb->nutt; u++)
        if (!nb->utt[u].nh) st = lmf_error(LMF_ERR_FORMAT, "%s: sentence %s has no hypotheses", name, nb->utt[u].id);
    return st;
}

lmf_status lmf_nbest_add_list(lmf_nbest *nb, const char *data, size_t size, const char *name) {
    return add_list(nb, data, size, name, name, strlen(name));
}

static int is_slf(const char *data, size_t size) {
    /* SLF: "VERSION=", "UTTERANCE=", "N=", "I=" or "J=" fields before anything else that is not a comment */
    scan s = {"", data, data + size, 0, data, data};
    while (next_line(&s)) {
        const char *q = s.ls;
        while (q < s.le && (*q == ' ' || *q == '\t')) q++;
        if (*q == '#') continue;
        size_t n = (size_t)(s.le - q);
        static const char *const keys[] = {"VERSION=", "UTTERANCE=", "N=", "I=", "J=", "lmscale=", "base=", "start=", "end=", "wdpenalty=", "acscale=", "lmname=", "vocab=", "hmms=", "ngram="};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            if (n >= strlen(keys[k]) && !memcmp(q, keys[k], strlen(keys[k]))) return 1;
        return 0;
    }
    return 0;
}

/* A file name's length without its extension (and without ".gz" before that). */
static size_t id_length(const char *name) {
    size_t n = strlen(name);
    if (n > 3 && !strcmp(name + n - 3, ".gz")) n -= 3;
    for (size_t i = n; i > 1; i--)
        if (name[i - 1] == '.') return i - 1;
    return n;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

lmf_status lmf_nbest_read(const char *path, const lmf_lattice_opts *lo, lmf_nbest *out) {
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (stat(path, &sb)) return lmf_error(LMF_ERR_IO, "%s: %s", path, strerror(errno));
    lmf_status st = LMF_OK;
    if (!S_ISDIR(sb.st_mode)) {
        lmf_filebuf fb;
        if ((st = lmf_file_map(path, &fb))) return st;
        if (is_slf(fb.data, fb.size)) {
            const char *base = strrchr(path, '/');
            base = base ? base + 1 : path;
            char id[256];
            snprintf(id, sizeof id, "%.*s", (int)(id_length(base) < 255 ? id_length(base) : 255), base);
            strcpy(out->format, "slf");
            st = lmf_nbest_add_slf(out, fb.data, fb.size, path, id, lo);
        } else if (!looks_moses(fb.data, fb.size)) {
            st = lmf_error(LMF_ERR_FORMAT, "%s: a single file must be a Moses n-best list (\"id ||| words ||| scores ||| "
                                           "total\") or a lattice; give other lists as a folder with one file per sentence",
                           path);
        } else {
            st = lmf_nbest_add_list(out, fb.data, fb.size, path);
        }
        lmf_filebuf_free(&fb);
        if (st) lmf_nbest_free(out);
        return st;
    }
    DIR *d = opendir(path);
    if (!d) return lmf_error(LMF_ERR_IO, "%s: %s", path, strerror(errno));
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (!grow((void **)&names, &cap, nn + 1, sizeof *names) || !(names[nn] = lmf_strdup(e->d_name)))
            st = lmf_error(LMF_ERR_NOMEM, "out of memory");
        else nn++;
    }
    closedir(d);
    if (!st && !nn) st = lmf_error(LMF_ERR_DATA, "%s: an empty folder (expected one lattice or n-best file per sentence)", path);
    if (!st) qsort(names, nn, sizeof *names, cmp_str);
    for (size_t i = 0; !st && i < nn; i++) {
        char *full = lmf_path_join(path, names[i]);
        if (!full) {
            st = lmf_error(LMF_ERR_NOMEM, "out of memory");
            break;
        }
        lmf_filebuf fb;
        if (!(st = lmf_file_map(full, &fb))) {
            size_t idlen = id_length(names[i]);
            char id[256];
            snprintf(id, sizeof id, "%.*s", (int)(idlen < 255 ? idlen : 255), names[i]);
            if (is_slf(fb.data, fb.size)) {
                if (!(st = set_format(out, "slf", full))) st = lmf_nbest_add_slf(out, fb.data, fb.size, full, id, lo);
            } else {
                st = add_list(out, fb.data, fb.size, full, id, strlen(id));
            }
            lmf_filebuf_free(&fb);
        }
        lmf_free(full);
    }
    for (size_t i = 0; i < nn; i++) lmf_free(names[i]);
    lmf_free(names);
    if (st) lmf_nbest_free(out);
    return st;
}

/* ---- references ---- */
void lmf_refs_free(lmf_refs *r) {
    if (!r) return;
    lmf_free(r->w0);
    lmf_free(r->len);
    lmf_free(r->tok);
    memset(r, 0, sizeof *r);
}

lmf_status lmf_refs_read(const char *path, lmf_nbest *nb, lmf_refs *out) {
    memset(out, 0, sizeof *out);
    lmf_filebuf fb;
    lmf_status st = lmf_file_read(path, &fb);
    if (st) return st;
    if ((st = no_nul(fb.data, fb.size, path))) {
        lmf_filebuf_free(&fb);
        return st;
    }
    out->n = nb->nutt;
    out->w0 = (size_t *)lmf_calloc(nb->nutt + 1, sizeof *out->w0);
    out->len = (int32_t *)lmf_calloc(nb->nutt + 1, sizeof *out->len);
    size_t cap = 0, ntok = 0;
    if (!out->w0 || !out->len) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
    scan s = {path, fb.data, fb.data + fb.size, 0, fb.data, fb.data};
    size_t u = 0;
    while (!st && next_line(&s)) {
        const char *p = s.ls, *f;
        size_t n;
        field(&p, s.le, &f, &n);
        if (u >= nb->nutt) {
            st = lmf_error(LMF_ERR_DATA, "%s line %zu: reference \"%.*s\" has no n-best list (the lists end at %zu sentences)",
                           path, s.line, (int)(n < 80 ? n : 80), f, nb->nutt);
            break;
        }
        if (strlen(nb->utt[u].id) != n || memcmp(nb->utt[u].id, f, n)) {
            st = lmf_error(LMF_ERR_DATA, "%s line %zu: reference \"%.*s\" where the lists' sentence %zu is \"%s\" (references "
                           "are \"id words...\" lines in the lists' order)", path, s.line, (int)(n < 80 ? n : 80), f, u + 1,
                           nb->utt[u].id);
            break;
        }
        out->w0[u] = ntok;
        while (!st && field(&p, s.le, &f, &n)) {
            int32_t id = lmf_nbest_word(nb, f, n);
            if (id < 0 || !grow((void **)&out->tok, &cap, ntok + 1, sizeof *out->tok)) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
            else out->tok[ntok++] = id;
        }
        out->len[u] = (int32_t)(ntok - out->w0[u]);
        u++;
    }
    if (!st && u < nb->nutt)
        st = lmf_error(LMF_ERR_DATA, "%s: %zu references for %zu n-best lists (the first without one: \"%s\")", path, u,
                       nb->nutt, nb->utt[u].id);
    lmf_filebuf_free(&fb);
    if (st) lmf_refs_free(out);
    return st;
}

lmf_status lmf_nbest_read_trn(const char *path, lmf_nbest *out) {
    memset(out, 0, sizeof *out);
    lmf_filebuf fb;
    lmf_status st = lmf_file_read(path, &fb);
    if (st) return st;
    st = no_nul(fb.data, fb.size, path);
    strcpy(out->format, "trn");
    scan s = {path, fb.data, fb.data + fb.size, 0, fb.data, fb.data};
    wordbuf wb = {0};
    while (!st && next_line(&s)) {
        const char *op = NULL, *cp = NULL;
        for (const char *q = s.le; q > s.ls; q--)
            if (q[-1] == ')' && !cp) cp = q - 1;
            else if (q[-1] == '(' && cp) {
                op = q - 1;
                break;
            }
        const char *p = op ? op + 1 : NULL, *f;
        size_t n;
        if (!op || !field(&p, cp, &f, &n)) {
            st = bad(&s, "a transcript line is \"words (id)\"", NULL);
            break;
        }
        for (size_t u = 0; u < out->nutt && !st; u++)
            if (strlen(out->utt[u].id) == n && !memcmp(out->utt[u].id, f, n)) st = bad(&s, "this id appeared before", NULL);
        if (st || (st = lmf_nbest_begin(out, f, n))) break;
        wb.n = 0;
        p = s.ls;
        while (!st && field(&p, op, &f, &n)) st = add_word(out, &wb, f, n);
        if (!st) st = lmf_nbest_push(out, wb.w, (int32_t)wb.n, NULL);
    }
    if (!st && !out->nutt) st = lmf_error(LMF_ERR_FORMAT, "%s: no transcripts", path);
    lmf_free(wb.w);
    lmf_filebuf_free(&fb);
    if (st) lmf_nbest_free(out);
    return st;
}
