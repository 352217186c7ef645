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

/* ---- static interpolation (src/ngram/mix.c) ----
 * One back-off model from K members, as SRILM's `ngram -mix-lm -write-lm`
 * does: it lists the union of the members' n-grams and gives each the
 * dynamic mixture's probability, p(w|h) = sum_k lambda_k p_k(w|h), each p_k
 * by member k's own back-off from the full context h.  Back-off weights are
 * then computed so that every distribution sums to 1:
 *   bow(h) = (1 - sum_{w listed after h} p(w|h)) / (1 - sum_{same w} p(w|h')),
 * h' = h without its oldest word.  Scores agree with the dynamic mixture
 * (lmf/fuse.h, combiner linear) wherever the full context's n-gram is listed;
 * elsewhere the merged model backs off where some member would not.
 *
 * Vocabulary: the union U (member 1's words in order, then each further
 * member's new ones).  A word of U that member k lacks, and U's own <unk>,
 * get a share of member k's p(<unk>|h), exactly as lmf_fuse_unify
 * (src/fuse/vmap.c) does it (re-implemented here: the n-gram module does not
 * depend on the fusion module):
 *   unk_dub == 0: p(<unk>|h) / (number of U words it lacks + 1);
 *   unk_dub  > 0: p(<unk>|h) / (unk_dub - |V_k| - 1) (IRSTLM), divisor >= 1;
 *   unk_dub  < 0: p(<unk>|h) as is.
 * In a member's history a word it lacks reads as its <unk>; a member's own
 * <unk> n-grams become U's <unk> n-grams. */
#define LMF_NGRAM_MIX_MAX_MEMBERS 64
typedef struct lmf_ngram_mix_opts {
    int order;                /* order of the merged model, 1..6; 0 = the members' highest (default) */
    double unk_dub;           /* see above (default 0) */
    const char *const *names; /* K names for messages (file paths), or NULL ("member k") */
} lmf_ngram_mix_opts;
void lmf_ngram_mix_opts_init(lmf_ngram_mix_opts *o);

/* What mixing did, for reports. */
typedef struct lmf_ngram_mix_info {
    int order;
    int32_t vocab;                          /* |U| (predictable words: <unk> and </s> included, <s> not) */
    double lambda[LMF_NGRAM_MIX_MAX_MEMBERS]; /* the weights as used (normalised) */
    uint64_t ngrams[LMF_NGRAM_MAX_ORDER];   /* n-grams per order (index n-1), <s> among the unigrams */
    uint64_t added[LMF_NGRAM_MAX_ORDER];    /* of those, contexts/suffixes no member lists (added so that
                                               every listed n-gram's prefix and suffix are listed) */
    uint64_t contexts;                      /* back-off weights computed */
    uint64_t bow_zero;                      /* numerator 0 (no mass left): log10 bow -99 */
    uint64_t bow_over;                      /* numerator or denominator < 0 (listed mass above 1: members that
                                               sum above 1, as with unk_dub < 0): bow 1 */
    uint64_t bow_improper;                  /* denominator <= 0 with mass left: log10 bow -99 (mass lost) */
    uint64_t bow_tiny_den;                  /* 0 < denominator < 3e-6: computed, but rounding may show */
} lmf_ngram_mix_info;

/* Mixes members[0..K) (1 <= K <= LMF_NGRAM_MIX_MAX_MEMBERS; borrowed, not
 * changed) with weights lambda[0..K) (>= 0, finite, not all 0; renormalised
 * to sum 1; NULL = equal weights) into a new model *out (caller frees with
 * lmf_ngram_free; save it with lmf_ngram_save).  Members need their n-gram
 * lists (any ARPA file, binary files with lists).  opts and info may be NULL.
 * Probabilities are computed in double and stored as log10 floats; the
 * back-off weights come from the stored floats, so the model written sums to
 * 1 as closely as float allows.  Numerical guards (after SRILM's): numerator
 * or denominator in (-3e-6, 0) count as 0; a numerator of 0 gives log10 bow
 * -99 (info->bow_zero); a numerator or denominator below 0, which only
 * members that sum above 1 produce (unk_dub < 0), gives bow 1 (SRILM: -99),
 * so unlisted words keep their lower-order probability as in the members
 * (info->bow_over); a denominator of 0 gives bow 1 if nothing is left to
 * give, else -99 (info->bow_improper); a warning is logged for each kind with an example
 * context.
 * Where a context holds a word that member k lacks, member k reads it as its
 * <unk>; the merged model lists only the n-grams some member lists, so it
 * cannot repeat that for the n-grams listed after member k's <unk> (that
 * would take one copy per missing word): there it backs off.  LMF_ERR_ARG for bad weights or order,
 * LMF_ERR_UNSUPPORTED for a member without n-gram lists, LMF_ERR_DATA for
 * members over different token modes, LMF_ERR_NOMEM; *out is NULL on error. */
lmf_status lmf_ngram_mix(const lmf_ngram *const *members, int K, const double *lambda, const lmf_ngram_mix_opts *opts,
                         lmf_ngram **out, lmf_ngram_mix_info *info);

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
