/* lmfuse n-gram module: interpolated modified Kneser-Ney estimation, ARPA
 * read/write, and a hashed, mmap-able binary format for fast querying.
 *
 * Probabilities inside an lmf_ngram are kept as log10 floats, exactly as in
 * ARPA files, so that ARPA -> model -> ARPA round-trips bit-exactly; every
 * function that hands a probability out through the model interface
 * converts it to a natural log.
 */
#ifndef LMF_NGRAM_H
#define LMF_NGRAM_H

#include "lmf/common.h"
#include "lmf/model.h"
#include "lmf/text.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LMF_NGRAM_MAX_ORDER 6
#define LMF_NGRAM_MAGIC "LMFNGRAM"
#define LMF_NGRAM_BINARY_VERSION 1

typedef struct lmf_ngram lmf_ngram;

/* ---- estimation ---- */
typedef struct lmf_ngram_train_opts {
    int order;                               /* 1..6 (default 5) */
    uint64_t prune[LMF_NGRAM_MAX_ORDER];     /* prune[n-1]: drop n-grams (n >= 2) whose (adjusted) count is
                                                <= this, unless a kept longer n-gram needs them (default 0) */
    double fallback[3];                      /* discounts D1, D2, D3+ used for an order whose counts-of-counts
                                                make the formula fail (default 0.5 1.0 1.5) */
    int utf8_check;                          /* default 1 */
    size_t max_line;                         /* default 1<<24 bytes */
} lmf_ngram_train_opts;
void lmf_ngram_train_opts_init(lmf_ngram_train_opts *o);

/* What estimation did, for reports. */
typedef struct lmf_ngram_train_info {
    uint64_t tokens;                         /* words + </s> in the training text */
    uint64_t lines;
    double discount[LMF_NGRAM_MAX_ORDER][3]; /* D1, D2, D3+ per order */
    int used_fallback[LMF_NGRAM_MAX_ORDER];  /* 1 where the fallback discounts were used */
    uint64_t ngrams[LMF_NGRAM_MAX_ORDER];    /* n-grams in the model per order (after pruning) */
} lmf_ngram_train_info;

/* Estimates an interpolated modified Kneser-Ney model from a text file (one
 * sentence per line, whitespace-separated words).  The vocabulary is every
 * word of the text plus <unk> and </s>; a literal <unk> is an ordinary word.
 * info may be NULL.  *out is NULL on error. */
lmf_status lmf_ngram_train(const char *path, const lmf_ngram_train_opts *opts, lmf_ngram **out,
                           lmf_ngram_train_info *info);

/* The same from text in memory (data[0..size), the same format); name is
 * used in messages. */
lmf_status lmf_ngram_train_mem(const char *data, size_t size, const char *name, const lmf_ngram_train_opts *opts,
                               lmf_ngram **out, lmf_ngram_train_info *info);

/* Estimates and writes in one go (format as in lmf_ngram_save).  For ARPA
 * output no hash tables are built, which saves time and memory. */
lmf_status lmf_ngram_train_save(const char *path, const lmf_ngram_train_opts *opts, const char *out_path,
                                const char *format, lmf_ngram_train_info *info);

/* ---- files ---- */
typedef struct lmf_ngram_load_opts {
    int verify_checksum; /* binary: verify the payload checksum (default 1) */
} lmf_ngram_load_opts;
void lmf_ngram_load_opts_init(lmf_ngram_load_opts *o);

/* Reads an ARPA file (KenLM, SRILM, IRSTLM dialects: comments before \data\,
 * missing backoff fields, <unk> present or not, any section order of
 * n-grams, CRLF line ends).  Without <unk>, one is added with log10 prob
 * -100, as KenLM does, and a warning is logged.  opts may be NULL. */
lmf_status lmf_ngram_read_arpa(const char *path, const lmf_ngram_load_opts *opts, lmf_ngram **out);
/* Writes ARPA (log10, 9 significant digits, so values round-trip exactly).
 * Written to a temporary file and renamed. */
lmf_status lmf_ngram_write_arpa(const lmf_ngram *m, const char *path);
/* Binary format: magic "LMFNGRAM", version, fixed header, 8-byte-aligned
 * sections; loaded with mmap and validated against the file size. */
lmf_status lmf_ngram_write_binary(const lmf_ngram *m, const char *path);
lmf_status lmf_ngram_load_binary(const char *path, const lmf_ngram_load_opts *opts, lmf_ngram **out);
/* Writes by extension: ".arpa" -> ARPA, ".lmfb" -> binary; format overrides
 * ("arpa", "binary") when non-NULL. */
lmf_status lmf_ngram_save(const lmf_ngram *m, const char *path, const char *format);
/* The format lmf_ngram_save would use: *binary = 1 for binary, 0 for ARPA.
 * LMF_ERR_ARG (with a hint) if it cannot tell.  Lets callers check before
 * spending time on estimation. */
lmf_status lmf_ngram_output_format(const char *path, const char *format, int *binary);
/* Converts a sphinxbase/pocketsphinx binary trie LM (the file starts with
 * "Trie Language Model"; e.g. en-us.lm.bin; gzip-compressed too) to an ARPA
 * file at out_arpa_path, written to a temporary file and renamed.  Scores,
 * stored as logs in base 1.0001 (pocketsphinx's default logbase), become
 * log10.  The ARPA holds the n-grams sphinxbase's own lookup finds, so its
 * counts can be below the file's header counts (see src/ngram/sphinx.c).
 * LMF_ERR_FORMAT for a truncated or damaged file, LMF_ERR_IO when a file
 * cannot be read or written; on error no output file is left. */
lmf_status lmf_sphinx_lm_to_arpa(const char *in_path, const char *out_arpa_path);

void lmf_ngram_free(lmf_ngram *m);
/* The model-interface view of the same object (lmf_model_free frees it). */
lmf_model *lmf_ngram_model(lmf_ngram *m);
/* The n-gram behind a model, or NULL if it is not an n-gram model. */
lmf_ngram *lmf_ngram_from_model(lmf_model *m);

int lmf_ngram_order(const lmf_ngram *m);
/* Number of n-grams of order n (1..order). */
uint64_t lmf_ngram_count(const lmf_ngram *m, int n);
const lmf_vocab *lmf_ngram_vocab(const lmf_ngram *m);

/* ---- raw queries (ARPA semantics, log10) ----
 * A context holds up to order-1 words, most recent first, and the log10
 * backoffs of its suffixes.  lmf_ngram_ctx_begin sets the line start (<s>). */
typedef struct lmf_ngram_ctx {
    int32_t len;
    int32_t words[LMF_NGRAM_MAX_ORDER - 1];
    float backoff[LMF_NGRAM_MAX_ORDER - 1];
} lmf_ngram_ctx;
void lmf_ngram_ctx_begin(const lmf_ngram *m, lmf_ngram_ctx *ctx);
/* log10 p(w | in); writes the context after w to out (may alias in).
 * *matched receives the length of the longest n-gram found (may be NULL). */
float lmf_ngram_score_word(const lmf_ngram *m, const lmf_ngram_ctx *in, int32_t w, lmf_ngram_ctx *out,
                           int *matched);

#ifdef __cplusplus
}
#endif
#endif
