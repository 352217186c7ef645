/* Private: vocabulary internals and the tokenizer shared by the readers and
 * the n-gram trainer. */
#ifndef LMF_TEXT_IMPL_H
#define LMF_TEXT_IMPL_H

#include "lmf/text.h"
#include "../core/util_impl.h"

struct lmf_vocab {
    lmf_token_mode mode;
    int32_t n;          /* predictable tokens V */
    int32_t cap;        /* capacity of off/len/count */
    uint64_t *off;      /* byte offset of token i in strs */
    uint32_t *len;
    uint64_t *count;    /* occurrence counts while building (may be NULL) */
    lmf_buf strs;
    int32_t *slots;     /* open addressing, -1 = empty; holds ids */
    uint64_t nslots;    /* power of two */
};

/* Iterates over the tokens of a text buffer, one line at a time.  Reports
 * errors with the name and line.  Usage:
 *     lmf_tokenizer tz; lmf_tokenizer_init(&tz, data, size, name, mode, max_line);
 *     while ((r = lmf_tokenizer_next(&tz, &tok, &len)) > 0) { r==1 token, r==2 end of line }
 *     r < 0: error (message set). */
typedef struct lmf_tokenizer {
    const char *p, *end, *line_start;
    const char *name;
    lmf_token_mode mode;
    size_t line;       /* 1-based current line */
    size_t max_line;
    int in_line;       /* inside a line that has not been ended yet */
} lmf_tokenizer;

void lmf_tokenizer_init(lmf_tokenizer *tz, const char *data, size_t size, const char *name,
                        lmf_token_mode mode, size_t max_line);
int lmf_tokenizer_next(lmf_tokenizer *tz, const char **tok, size_t *len);

/* Validates the whole buffer as UTF-8 (when asked) and reports the error
 * with file and line. */
lmf_status lmf_text_check(const char *data, size_t size, const char *name, lmf_token_mode mode,
                          int utf8_check);

/* Word-mode whitespace: space, tab, CR, VT, FF ('\n' ends a line). */
static inline int lmf_is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Grows capacity for at least `need` tokens. */
lmf_status lmf_vocab_grow(lmf_vocab *v, int32_t need);
/* Reorders ordinary ids by decreasing count (stable) keeping those with
 * count >= min_count, at most max_size of them.  If remap is non-NULL it
 * receives old id -> new id (LMF_UNK for dropped tokens, V_new for <s>) for
 * old ids 0..V_old. */
lmf_status lmf_vocab_finalize(lmf_vocab *v, uint64_t min_count, uint64_t max_size, int32_t *remap);
/* Reports "<s>"/"</s>" in text as an error naming file and line. */
lmf_status lmf_text_reserved_error(const char *name, size_t line, const char *tok, size_t len);

#endif
