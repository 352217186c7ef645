/* lmfuse text module: vocabularies and token streams.
 *
 * Token ids.  A vocabulary of size V predicts ids 0..V-1:
 *     0       <unk>
 *     1       </s>   (end of line / sentence)
 *     2..V-1  ordinary tokens
 * and reserves id V for <s>, which is context only and never predicted.  So
 * every next-token distribution has exactly V entries.  A literal "<unk>" in
 * text is the <unk> token (an ordinary, predicted word); "<s>" and "</s>" in
 * text are refused by the readers, since they would corrupt the line
 * structure.
 *
 * Token modes: word (whitespace-separated), char (one UTF-8 code point per
 * token, spaces included) and byte (one byte per token).  In every mode each
 * input line ends with </s>.
 */
#ifndef LMF_TEXT_H
#define LMF_TEXT_H

#include "lmf/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LMF_UNK 0
#define LMF_EOS 1

typedef enum lmf_token_mode { LMF_TOK_WORD = 0, LMF_TOK_CHAR, LMF_TOK_BYTE } lmf_token_mode;

/* Parses "word", "char", "byte"; returns -1 if unknown. */
int lmf_token_mode_parse(const char *s);
const char *lmf_token_mode_name(lmf_token_mode m);

typedef struct lmf_vocab lmf_vocab;

/* ---- building ---- */
typedef struct lmf_vocab_opts {
    lmf_token_mode mode;  /* default LMF_TOK_WORD */
    uint64_t min_count;   /* keep tokens seen >= min_count times (default 1) */
    uint64_t max_size;    /* keep at most this many ordinary tokens, most frequent first; 0 = no limit */
    int utf8_check;       /* refuse invalid UTF-8 (default 1; byte mode ignores it) */
    size_t max_line;      /* refuse lines longer than this many bytes (default 1<<24) */
} lmf_vocab_opts;
void lmf_vocab_opts_init(lmf_vocab_opts *o);

/* Builds a vocabulary from a text file.  Ordinary tokens get ids 2.. in
 * decreasing count, ties broken by first appearance.  *out is NULL on error. */
lmf_status lmf_vocab_build_file(const char *path, const lmf_vocab_opts *opts, lmf_vocab **out);

/* An empty vocabulary (only <unk>, </s>, <s>) to add tokens to with
 * lmf_vocab_add. */
lmf_vocab *lmf_vocab_new(lmf_token_mode mode);
/* Adds a token (no-op if present) and returns its id, or -1 on out of memory.
 * "<unk>", "</s>", "<s>" return their fixed ids. */
int32_t lmf_vocab_add(lmf_vocab *v, const char *tok, size_t len);
void lmf_vocab_free(lmf_vocab *v);

/* ---- queries ---- */
/* Number of predictable tokens V (<unk>, </s> and the ordinary ones). */
int32_t lmf_vocab_size(const lmf_vocab *v);
/* The <s> id (== V). */
static inline int32_t lmf_vocab_bos(const lmf_vocab *v) { return lmf_vocab_size(v); }
lmf_token_mode lmf_vocab_mode(const lmf_vocab *v);
/* Id of a token, or -1 if absent. */
int32_t lmf_vocab_find(const lmf_vocab *v, const char *tok, size_t len);
/* The string of id 0..V; NULL if out of range.  *len receives its length. */
const char *lmf_vocab_word(const lmf_vocab *v, int32_t id, size_t *len);
/* Whether two vocabularies have the same words with the same ids. */
int lmf_vocab_equal(const lmf_vocab *a, const lmf_vocab *b);

/* ---- files ----
 * Text format: a header line "#lmfuse-vocab 1 <mode> <V>", then one token
 * per line in id order (ids 0..V-1) with "\\", "\n", "\t", "\r" and " "
 * escaped as \\ \n \t \r \s.  Written atomically. */
lmf_status lmf_vocab_save(const lmf_vocab *v, const char *path);
lmf_status lmf_vocab_load(const char *path, lmf_vocab **out);

/* ---- token streams ---- */
typedef struct lmf_tokens {
    int32_t *ids;      /* n ids; each line is its tokens followed by LMF_EOS */
    uint8_t *oov;      /* n flags: 1 where the text token was not in the vocabulary (id = LMF_UNK) */
    size_t n;
    size_t lines;      /* number of lines (== number of LMF_EOS) */
    size_t n_oov;      /* tokens not in the vocabulary */
    size_t n_unk;      /* literal <unk> tokens in the text */
    char *oov_text;    /* with lmf_read_opts.keep_oov_text: the n_oov OOV strings as written,
                          each NUL-terminated, in text order (else NULL) */
} lmf_tokens;

typedef struct lmf_read_opts {
    int utf8_check;     /* default 1 */
    size_t max_line;    /* default 1<<24 bytes */
    int skip_empty;     /* skip lines with no tokens (default 0: they give a lone </s>) */
    int keep_oov_text;  /* keep the OOV strings in lmf_tokens.oov_text (default 0) */
} lmf_read_opts;
void lmf_read_opts_init(lmf_read_opts *o);

/* Maps a text file to ids with vocabulary v (its token mode).  Unknown
 * tokens become LMF_UNK and are flagged in oov.  Errors name the file and
 * line (invalid UTF-8, over-long line, "<s>"/"</s>" in text). */
lmf_status lmf_tokens_read_file(const char *path, const lmf_vocab *v, const lmf_read_opts *opts,
                                lmf_tokens *out);
/* Same for text already in memory; `name` is used in messages. */
lmf_status lmf_tokens_read_mem(const char *data, size_t size, const char *name, const lmf_vocab *v,
                               const lmf_read_opts *opts, lmf_tokens *out);
void lmf_tokens_free(lmf_tokens *t);

/* Checks that data[0..size) is valid UTF-8.  Returns 1 if so; otherwise 0
 * and the 1-based line and byte column of the first bad byte. */
int lmf_utf8_valid(const char *data, size_t size, size_t *bad_line, size_t *bad_col);

#ifdef __cplusplus
}
#endif
#endif
