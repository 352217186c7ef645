/* Labelled tasks for classification (lmf/data.h, "labelled tasks"):
 * spam-full and spam-body from the SpamAssassin package, brown-genre from
 * the Brown corpus, as ../shared/data/classification-splits.md specifies.
 * Output: fastText lines ("__label__NAME document"), one document per line,
 * with line breaks and control bytes inside a document escaped (see
 * lmf_labelled_escape in data.h). */
#define _POSIX_C_SOURCE 200809L
#include "lmf/data.h"
#include "data_impl.h"
#include "../core/util_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *lmf_labelled_split_name(int i) {
    static const char *const names[3] = {"train", "valid", "test"};
    return i >= 0 && i < 3 ? names[i] : NULL;
}

/* Sorted listings of a directory's matching entries. */
typedef struct names {
    char **v;
    size_t n;
} names;

static lmf_status list_dir(const char *dir, int (*keep)(const char *), const char *hint, names *out) {
    return lmf_data_list_dir(dir, keep, hint, &out->v, &out->n);
}

static void names_free(names *l) {
    lmf_data_names_free(l->v, l->n);
    l->v = NULL, l->n = 0;
}

/* ---- writing documents ---- */

size_t lmf_labelled_escape(char *out, const unsigned char *doc, size_t n, int latin1) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char b = doc[i];
        char e = 0;
        if (b == '\n') e = 'n';
        else if (b == '\r') e = 'r';
        else if (b == '\\') e = '\\';
        if (e) {
            out[k++] = '\\';
            out[k++] = e;
        } else if ((b < 0x20 && b != '\t') || b == 0x7f) {
            k += (size_t)sprintf(out + k, "\\x%02x", b);
        } else if (latin1 && b >= 0x80) { /* U+0080..U+00FF in UTF-8 */
            out[k++] = (char)(0xc0 | (b >> 6));
            out[k++] = (char)(0x80 | (b & 0x3f));
        } else {
            out[k++] = (char)b;
        }
    }
    return k;
}

/* The three outputs of one task, written atomically. */
typedef struct task_out {
    lmf_outfile f[3];
    int open;
} task_out;

static lmf_status task_open(task_out *t, const char *out_dir, const char *task) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%s.txt", task, lmf_labelled_split_name(i));
        char *p = lmf_path_join(out_dir, name);
        lmf_status s = p ? lmf_outfile_open(&t->f[i], p) : lmf_error(LMF_ERR_NOMEM, "out of memory");
        lmf_free(p);
        if (s) {
            for (int j = 0; j < i; j++) lmf_outfile_abort(&t->f[j]);
            return s;
        }
    }
    t->open = 1;
    return LMF_OK;
}

static void task_abort(task_out *t) {
    if (!t->open) return;
    for (int i = 0; i < 3; i++) lmf_outfile_abort(&t->f[i]);
    t->open = 0;
}

/* Commits the three files and records their md5 in st. */
static lmf_status task_commit(task_out *t, const char *out_dir, const char *task, lmf_labelled_stats *st) {
    lmf_status s = LMF_OK;
    for (int i = 0; i < 3; i++) {
        lmf_status si = lmf_outfile_commit(&t->f[i]);
        if (!s) s = si;
    }
    t->open = 0;
    for (int i = 0; i < 3 && !s; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s.%s.txt", task, lmf_labelled_split_name(i));
        char *p = lmf_path_join(out_dir, name);
        s = p ? lmf_file_md5_hex(p, st->md5[i]) : lmf_error(LMF_ERR_NOMEM, "out of memory");
        lmf_free(p);
    }
    return s;
}

/* One line: __label__LABEL, then " " and the escaped document unless it is
 * empty.  esc has room for 4 * n bytes. */
static void put_line(FILE *fp, const char *label, const unsigned char *doc, size_t n, int latin1, char *esc) {
    fprintf(fp, "__label__%s", label);
    if (n) {
        fputc(' ', fp);
        fwrite(esc, 1, lmf_labelled_escape(esc, doc, n, latin1), fp);
    }
    fputc('\n', fp);
}

static int label_index(lmf_labelled_stats *st, const char *label) {
    for (int i = 0; i < st->nlabels; i++)
        if (!strcmp(st->labels[i], label)) return i;
    if (st->nlabels == LMF_LABELLED_MAX_LABELS) return -1;
    snprintf(st->labels[st->nlabels], sizeof st->labels[0], "%s", label);
    return st->nlabels++;
}

static void count(lmf_labelled_stats *st, int split, const char *label) {
    int li = label_index(st, label);
    st->docs[split]++;
    if (li >= 0) st->per_label[split][li]++;
}

/* ---- spam-full and spam-body ---- */

static int is_dir_entry(const char *n) { return n[0] != '.' && strcmp(n, "file_list.json") && !strstr(n, "."); }

static int is_txt(const char *n) {
    size_t l = strlen(n);
    return l > 4 && !strcmp(n + l - 4, ".txt");
}

/* The split of a message file "NNNNN.<md5>.txt": the md5's last hex digit;
 * -1 if the name has no such digit. */
static int spam_split(const char *name) {
    const char *a = strchr(name, '.'), *b = a ? strchr(a + 1, '.') : NULL;
    if (!a || !b || b == a + 1) return -1;
    const char c = b[-1];
    if (c >= '0' && c <= '9') return 0;
    if (c == 'a' || c == 'b' || c == 'A' || c == 'B') return 1;
    if ((c >= 'c' && c <= 'f') || (c >= 'C' && c <= 'F')) return 2;
    return -1;
}

lmf_status lmf_data_spam_labelled(const char *package_dir, const char *out_dir, lmf_labelled_stats stats[2]) {
    memset(stats, 0, 2 * sizeof *stats);
    char *data = lmf_path_join(package_dir, "data");
    if (!data) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    names dirs;
    lmf_status s = list_dir(data, is_dir_entry, "run `lmfuse data fetch spam` first, or pass the unpacked package/ "
                                                "directory",
                            &dirs);
    if (s) {
        lmf_free(data);
        return s;
    }
    task_out full, body;
    memset(&full, 0, sizeof full);
    memset(&body, 0, sizeof body);
    s = lmf_data_mkdirs(out_dir);
    if (!s) s = task_open(&full, out_dir, "spam-full");
    if (!s && (s = task_open(&body, out_dir, "spam-body"))) task_abort(&full);
    for (size_t d = 0; d < dirs.n && !s; d++) {
        const char *label = strstr(dirs.v[d], "ham") ? "ham" : "spam";
        char *sub = lmf_path_join(data, dirs.v[d]);
        names files;
        s = sub ? list_dir(sub, is_txt, "the package is damaged; fetch it again", &files)
                : lmf_error(LMF_ERR_NOMEM, "out of memory");
        for (size_t f = 0; f < files.n && !s; f++) {
            const int split = spam_split(files.v[f]);
            if (split < 0) {
                s = lmf_error(LMF_ERR_DATA,
                              "%s/%s: the file name has no md5 before .txt to split by; the package is damaged or not "
                              "the pinned version",
                              sub, files.v[f]);
                break;
            }
            char *path = lmf_path_join(sub, files.v[f]);
            lmf_filebuf fb;
            s = path ? lmf_file_read(path, &fb) : lmf_error(LMF_ERR_NOMEM, "out of memory");
            lmf_free(path);
            if (s) break;
            /* CRLF -> LF in place, then the body after the first blank line */
            unsigned char *t = (unsigned char *)fb.data;
            size_t n = 0;
            for (size_t i = 0; i < fb.size; i++)
                if (!(t[i] == '\r' && i + 1 < fb.size && t[i + 1] == '\n')) t[n++] = t[i];
            size_t bo = n;
            for (size_t i = 0; i + 1 < n; i++)
                if (t[i] == '\n' && t[i + 1] == '\n') {
                    bo = i + 2;
                    break;
                }
            char *esc = (char *)lmf_malloc(4 * n + 1);
            if (!esc) {
                s = lmf_error(LMF_ERR_NOMEM, "out of memory");
            } else {
                put_line(full.f[split].fp, label, t, n, 1, esc);
                put_line(body.f[split].fp, label, t + bo, n - bo, 1, esc);
                count(&stats[0], split, label);
                count(&stats[1], split, label);
            }
            lmf_free(esc);
            lmf_filebuf_free(&fb);
        }
        names_free(&files);
        lmf_free(sub);
    }
    names_free(&dirs);
    lmf_free(data);
    if (s) {
        task_abort(&full);
        task_abort(&body);
        return s;
    }
    s = task_commit(&full, out_dir, "spam-full", &stats[0]);
    lmf_status s2 = task_commit(&body, out_dir, "spam-body", &stats[1]);
    return s ? s : s2;
}

/* ---- brown-genre ---- */

lmf_status lmf_data_brown_genre(const char *package_dir, const char *out_dir, lmf_labelled_stats *st) {
    memset(st, 0, sizeof *st);
    names files;
    lmf_status s = list_dir(package_dir, lmf_brown_file_name,
                            "run `lmfuse data fetch brown` first, or pass the unpacked package/ directory", &files);
    if (s) return s;
    if (files.n == 0) s = lmf_error(LMF_ERR_DATA, "%s: no Brown corpus files (c[a-r][0-9][0-9]) here", package_dir);
    task_out out;
    memset(&out, 0, sizeof out);
    if (!s) s = lmf_data_mkdirs(out_dir);
    if (!s) s = task_open(&out, out_dir, "brown-genre");
    lmf_buf doc = {0};
    char *esc = NULL;
    for (size_t f = 0; f < files.n && !s; f++) {
        const char *name = files.v[f];
        const int num = (name[2] - '0') * 10 + (name[3] - '0'), split = num % 5 == 0 ? 2 : num % 5 == 1 ? 1 : 0;
        const char label[2] = {name[1], 0};
        char *path = lmf_path_join(package_dir, name);
        lmf_filebuf fb;
        s = path ? lmf_file_read(path, &fb) : lmf_error(LMF_ERR_NOMEM, "out of memory");
        lmf_free(path);
        if (s) break;
        const unsigned char *p = (const unsigned char *)fb.data, *end = p + fb.size;
        int ntok = 0;
        doc.len = 0;
        while (!s) {
            while (p < end && lmf_data_is_space(*p)) p++;
            if (p == end) break;
            const unsigned char *t = p;
            while (p < end && !lmf_data_is_space(*p)) p++;
            const size_t len = lmf_brown_word_len((const char *)t, (size_t)(p - t));
            if (ntok) s = lmf_buf_append(&doc, " ", 1);
            if (!s) s = lmf_buf_append(&doc, t, len);
            if (!s && ++ntok == LMF_BROWN_GENRE_CHUNK) { /* a whole chunk: one document */
                lmf_free(esc);
                esc = (char *)lmf_malloc(4 * doc.len + 1);
                if (!esc) {
                    s = lmf_error(LMF_ERR_NOMEM, "out of memory");
                    break;
                }
                put_line(out.f[split].fp, label, (const unsigned char *)doc.p, doc.len, 0, esc);
                count(st, split, label);
                ntok = 0;
                doc.len = 0;
            }
        } /* a trailing partial chunk is dropped */
        lmf_filebuf_free(&fb);
    }
    lmf_free(esc);
    lmf_buf_free(&doc);
    names_free(&files);
    if (s) {
        task_abort(&out);
        return s;
    }
    return task_commit(&out, out_dir, "brown-genre", st);
}
