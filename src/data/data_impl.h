/* Private helpers shared by the data module's corpus readers (brown.c,
 * labelled.c). */
#ifndef LMF_DATA_IMPL_H
#define LMF_DATA_IMPL_H

#include "lmf/common.h"

#include <stddef.h>

/* The entries of dir for which keep(name) holds, in byte order of their
 * names: *names (lmf_malloc'd strings; free with lmf_data_names_free) and *n.
 * hint completes the message when dir cannot be opened (what to run). */
lmf_status lmf_data_list_dir(const char *dir, int (*keep)(const char *), const char *hint, char ***names, size_t *n);
void lmf_data_names_free(char **names, size_t n);

/* Writes data[0..n) to dir/name atomically and its md5 (hex) to md5[33]. */
lmf_status lmf_data_write_md5(const char *dir, const char *name, const char *data, size_t n, char md5[33]);

/* A Brown corpus file name: c[a-r][0-9][0-9]. */
static inline int lmf_brown_file_name(const char *s) {
    return s[0] == 'c' && s[1] >= 'a' && s[1] <= 'r' && s[2] >= '0' && s[2] <= '9' && s[3] >= '0' && s[3] <= '9' &&
           s[4] == 0;
}

/* Token separators of the corpora: space, tab, LF, CR, VT, FF. */
static inline int lmf_data_is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The length of a Brown word/TAG token's word: what precedes the last '/'
 * (the whole token if it has none). */
static inline size_t lmf_brown_word_len(const char *t, size_t len) {
    for (size_t k = len; k > 0; k--)
        if (t[k - 1] == '/') return k - 1;
    return len;
}

#endif
