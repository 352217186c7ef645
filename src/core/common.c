/* Errors, logging and the allocation seam (see include/lmf/common.h). */
#include "lmf/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char err_buf[2048];

const char *lmf_last_error(void) { return err_buf; }

const char *lmf_status_name(lmf_status s) {
    switch (s) {
    case LMF_OK: return "ok";
    case LMF_ERR_NOMEM: return "out of memory";
    case LMF_ERR_IO: return "i/o error";
    case LMF_ERR_FORMAT: return "format error";
    case LMF_ERR_ARG: return "invalid argument";
    case LMF_ERR_DATA: return "data error";
    case LMF_ERR_UNSUPPORTED: return "unsupported";
    case LMF_ERR_MISSING: return "missing";
    }
    return "unknown error";
}

lmf_status lmf_error(lmf_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return s;
}

static void default_log(lmf_log_level level, const char *msg, void *ctx) {
    (void)ctx;
    fprintf(stderr, "lmfuse: %s%s\n", level == LMF_LOG_WARN ? "warning: " : "", msg);
}

static lmf_log_fn log_fn = default_log;
static void *log_ctx;
static lmf_log_level log_min = LMF_LOG_WARN;

void lmf_set_log(lmf_log_fn fn, void *ctx, lmf_log_level min_level) {
    log_fn = fn ? fn : default_log;
    log_ctx = ctx;
    log_min = min_level;
}

void lmf_log(lmf_log_level level, const char *fmt, ...) {
    if (level < log_min) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(level, buf, log_ctx);
}

/* ---- allocation seam ---- */
static uint64_t fail_countdown; /* 0 = never fail */

void lmf_alloc_fail_after(uint64_t n) { fail_countdown = n; }

static int should_fail(void) {
    if (fail_countdown == 0) return 0;
    if (--fail_countdown == 0) return 1;
    return 0;
}

void *lmf_malloc(size_t n) {
    if (should_fail()) return NULL;
    return malloc(n ? n : 1);
}

void *lmf_calloc(size_t count, size_t size) {
    if (should_fail()) return NULL;
    if (count == 0 || size == 0) return calloc(1, 1);
    return calloc(count, size);
}

void *lmf_realloc(void *p, size_t n) {
    if (should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void lmf_free(void *p) { free(p); }
