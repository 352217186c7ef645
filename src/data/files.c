/* Sorted directory listings for the corpus readers (data_impl.h). */
#define _POSIX_C_SOURCE 200809L
#include "lmf/data.h"
#include "data_impl.h"
#include "../core/util_impl.h"

#include <dirent.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void lmf_data_names_free(char **names, size_t n) {
    for (size_t i = 0; i < n; i++) lmf_free(names[i]);
    lmf_free(names);
}

lmf_status lmf_data_list_dir(const char *dir, int (*keep)(const char *), const char *hint, char ***names, size_t *n) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return lmf_error(errno == ENOENT ? LMF_ERR_MISSING : LMF_ERR_IO, "%s: cannot open the directory: %s (%s)", dir,
                         strerror(errno), hint);
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    lmf_status s = LMF_OK;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) s = lmf_error(LMF_ERR_IO, "%s: cannot read the directory: %s", dir, strerror(errno));
            break;
        }
        if (!keep(e->d_name)) continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nv = (char **)lmf_realloc(v, nc * sizeof *nv);
            if (!nv) {
                s = lmf_error(LMF_ERR_NOMEM, "out of memory listing %s", dir);
                break;
            }
            v = nv;
            cap = nc;
        }
        if (!(v[cnt] = lmf_strdup(e->d_name))) {
            s = lmf_error(LMF_ERR_NOMEM, "out of memory listing %s", dir);
            break;
        }
        cnt++;
    }
    closedir(d);
    if (s) {
        lmf_data_names_free(v, cnt);
        return s;
    }
    if (cnt > 1) qsort(v, cnt, sizeof *v, cmp_str);
    *names = v;
    *n = cnt;
    return LMF_OK;
}

lmf_status lmf_data_write_md5(const char *dir, const char *name, const char *data, size_t n, char md5[33]) {
    char *path = lmf_path_join(dir, name);
    if (!path) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_md5_ctx m;
    unsigned char d[16];
    lmf_md5_init(&m);
    lmf_md5_update(&m, data ? data : "", n);
    lmf_md5_final(&m, d);
    lmf_hex(d, 16, md5);
    lmf_outfile of;
    lmf_status s = lmf_outfile_open(&of, path);
    if (!s) {
        if (n) fwrite(data, 1, n, of.fp);
        s = lmf_outfile_commit(&of);
    }
    lmf_free(path);
    return s;
}
