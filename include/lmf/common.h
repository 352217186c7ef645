/* lmfuse: status codes, error messages, logging and the allocation seam.
 *
 * Every library function that can fail returns an lmf_status (LMF_OK == 0)
 * and leaves a human-readable message, retrievable with lmf_last_error(),
 * that names the file, line and what to do.  The library never prints to
 * stdout and never exits; warnings go to the log callback (stderr by
 * default, see lmf_set_log). */
#ifndef LMF_COMMON_H
#define LMF_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LMF_VERSION_STRING "0.1.0"

typedef enum lmf_status {
    LMF_OK = 0,
    LMF_ERR_NOMEM,    /* an allocation failed */
    LMF_ERR_IO,       /* open/read/write/rename failed (errno text in message) */
    LMF_ERR_FORMAT,   /* malformed input file (message names file and line) */
    LMF_ERR_ARG,      /* invalid argument or option value */
    LMF_ERR_DATA,     /* data unusable for the requested operation */
    LMF_ERR_UNSUPPORTED, /* the model/option combination is not supported */
    LMF_ERR_MISSING   /* a required external tool or file is missing */
} lmf_status;

/* The message of the last error on this thread ("" if none). Never NULL. */
const char *lmf_last_error(void);

/* Short name of a status code ("io", "format", ...). */
const char *lmf_status_name(lmf_status s);

/* Sets the thread's error message (printf-style) and returns `s`.  Used by
 * the library; exposed so that tools can report their own errors alike. */
lmf_status lmf_error(lmf_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Log levels for messages that are not errors. */
typedef enum lmf_log_level { LMF_LOG_DEBUG = 0, LMF_LOG_INFO, LMF_LOG_WARN } lmf_log_level;
typedef void (*lmf_log_fn)(lmf_log_level level, const char *msg, void *ctx);

/* Installs a log callback (NULL restores the default, which prints warnings
 * to stderr) and the minimum level passed to it.  Not thread-safe: call at
 * start-up. */
void lmf_set_log(lmf_log_fn fn, void *ctx, lmf_log_level min_level);

/* Progress of a long operation (training, tuning, scoring passes): `done`
 * of `total` units so far.  Called from the caller's thread, often (keep it
 * cheap); `user` is the caller's pointer. */
typedef void (*lmf_progress_fn)(void *user, double done, double total);

/* Threads for the matrix products of neural models (OpenBLAS); the
 * library's default is OpenBLAS's own (all cores, or OPENBLAS_NUM_THREADS).
 * With n > 1, fusions also compute up to n members' distributions at once
 * (each with one BLAS thread), so the results of a fusion of two or more
 * members are the same, bit for bit, for every n >= 1.  Other BLAS thread counts
 * (OpenBLAS's default, a single model's products on n threads) and other
 * BLAS kernels (OPENBLAS_CORETYPE) split and block the products
 * differently: their results agree to float rounding, not to the bit. */
void lmf_set_threads(int n);
void lmf_log(lmf_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The allocation seam: every allocation of the library goes through these.
 * lmf_alloc_fail_after(n) makes the n-th following allocation (n >= 1) fail
 * (0 disables), so tests can check that every constructor cleans up. */
void *lmf_malloc(size_t n);
void *lmf_calloc(size_t count, size_t size);
void *lmf_realloc(void *p, size_t n);
void lmf_free(void *p);
void lmf_alloc_fail_after(uint64_t n);

#ifdef __cplusplus
}
#endif
#endif
