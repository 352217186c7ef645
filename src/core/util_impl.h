/* Private helpers shared by every module: hashing, whole-file reading,
 * atomic output files, a growable byte buffer, fast number formatting. */
#ifndef LMF_UTIL_IMPL_H
#define LMF_UTIL_IMPL_H

#include "lmf/common.h"

#include <stdio.h>
#include <stdlib.h>

#define LMF_ASSERT(c)                                                                 \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "lmfuse: internal error at %s:%d: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* 64-bit finalizer (splitmix64); a bijection, so distinct inputs stay distinct. */
static inline uint64_t lmf_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Hash of a byte string (64-bit, word at a time). */
uint64_t lmf_hash_bytes(const void *p, size_t n, uint64_t seed);

/* Whole file in memory, NUL-terminated (data[size] == 0).  On error returns
 * non-OK with a message naming the path. */
typedef struct lmf_filebuf {
    char *data;
    size_t size;
    int mapped; /* data is a read-only mapping (lmf_file_map) */
} lmf_filebuf;
lmf_status lmf_file_read(const char *path, lmf_filebuf *out);
/* Like lmf_file_read, but maps a regular file read-only instead of copying
 * it (no NUL terminator then: use data[0..size)).  Pipes and other special
 * files are read as with lmf_file_read; gzip files (by their magic bytes)
 * are decompressed into memory. */
lmf_status lmf_file_map(const char *path, lmf_filebuf *out);
void lmf_filebuf_free(lmf_filebuf *fb);

/* Output written to "<path>.tmp.<pid>" and renamed over `path` on commit, so a
 * failure never leaves a half-written file.  Abort removes the temp file.
 * A symbolic link `path` is followed: its target is written (by the same
 * temp-and-rename) and the link stays.  A `path` that is a device, FIFO or
 * socket is written in place (never replaced), and "-" is standard output;
 * those writes cannot be undone.  Opening also removes the "<path>.tmp.<pid>"
 * files that killed writers left behind (only those of processes that no
 * longer run and whose lock is free: a writer holds a flock on its temp file
 * while it writes). */
typedef struct lmf_outfile {
    FILE *fp;
    char *path; /* the file written: symbolic links resolved */
    char *tmp;  /* NULL when written in place */
    int direct; /* 1: device, FIFO or socket written in place; 2: standard output */
} lmf_outfile;
lmf_status lmf_outfile_open(lmf_outfile *of, const char *path);
lmf_status lmf_outfile_commit(lmf_outfile *of); /* closes, checks errors, renames */
void lmf_outfile_abort(lmf_outfile *of);

/* Growable buffer. */
typedef struct lmf_buf {
    char *p;
    size_t len, cap;
} lmf_buf;
lmf_status lmf_buf_reserve(lmf_buf *b, size_t extra);
lmf_status lmf_buf_append(lmf_buf *b, const void *s, size_t n);
void lmf_buf_free(lmf_buf *b);

/* Writes v with 9 significant digits (enough for float to round-trip
 * exactly), shortest trailing zeros trimmed; returns the length.  buf needs
 * 32 bytes.  Handles -inf/inf/nan as "-inf"/"inf"/"nan". */
int lmf_fmt_float(char *buf, float v);

/* Round-up to a power of two (>= 1). */
static inline uint64_t lmf_pow2_ceil(uint64_t x) {
    uint64_t p = 1;
    while (p < x) p <<= 1;
    return p;
}

char *lmf_strdup(const char *s);
/* "dir/name" (one '/' between them), malloc'd; NULL on out of memory. */
char *lmf_path_join(const char *dir, const char *name);
/* The folder of a file path ("." for a bare name, "/" for one at the root);
 * NULL on out of memory. */
char *lmf_path_dir(const char *path);
/* target relative to the folder base (both absolute and canonical), e.g.
 * "../models/a.arpa"; NULL on out of memory. */
char *lmf_path_rel(const char *target, const char *base);

/* The thread count lmf_set_threads was given (1 if never called), and a
 * temporary change of the matrix products' threads only (OpenBLAS's and
 * lmfuse's own kernels; src/nn/ops.c), which lmf_gemm_threads reads. */
int lmf_threads(void);
void lmf_blas_threads(int n);
int lmf_gemm_threads(void);

#endif
