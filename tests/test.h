/* Minimal test harness: CHECK records a failure and goes on; main returns
 * the failure count (so ctest sees non-zero on any failure). */
#ifndef LMF_TEST_H
#define LMF_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        test_checks++;                                                               \
        if (!(cond)) {                                                               \
            test_failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_MSG(cond, ...)                                                         \
    do {                                                                             \
        test_checks++;                                                               \
        if (!(cond)) {                                                               \
            test_failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
        }                                                                            \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                                               \
    do {                                                                                            \
        double a_ = (a), b_ = (b);                                                                  \
        CHECK_MSG(fabs(a_ - b_) <= (atol) + (rtol) * fabs(b_), "%s = %.9g, expected %.9g", #a, a_, b_); \
    } while (0)

/* Floats computed through different call shapes, block sizes, thread counts
 * or BLAS kernels agree only to rounding, never bit for bit (a product's
 * last bits depend on the kernel the BLAS picks and on how the rows are
 * blocked).  close_ratio() gives max_i |a_i - ref_i| / (atol + rtol*|ref_i|):
 * <= 1 means every element is within the stated tolerance.  *nmse (if not
 * NULL) gets sum (a - ref)^2 / sum ref^2, the normalised mean squared error
 * ggml's test-backend-ops reports; *worst the index of the worst element.
 * A NaN anywhere gives +inf. */
static inline double close_ratio(const float *a, const float *ref, size_t n, double atol, double rtol, double *nmse,
                                 size_t *worst) {
    double r = 0, d2 = 0, s2 = 0;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - ref[i]), q = d / (atol + rtol * fabs((double)ref[i]));
        if (!(q <= r)) { /* also true for NaN */
            r = q == q ? q : INFINITY;
            w = i;
        }
        d2 += d * d;
        s2 += (double)ref[i] * ref[i];
    }
    if (nmse) *nmse = d2 / (s2 > 0 ? s2 : 1e-300);
    if (worst) *worst = w;
    return r;
}

/* Every a[i] within atol + rtol*|ref[i]| (see close_ratio); on failure the
 * message names the worst element and the NMSE. */
#define CHECK_ALLCLOSE(what, a, ref, n, atol, rtol)                                                             \
    do {                                                                                                         \
        double nmse_;                                                                                            \
        size_t w_;                                                                                               \
        const float *a_ = (a), *r_ = (ref);                                                                      \
        double q_ = close_ratio(a_, r_, (n), (atol), (rtol), &nmse_, &w_);                                       \
        CHECK_MSG(q_ <= 1, "%s: element %zu is %.9g, expected %.9g (%.3g times the tolerance atol %g + rtol %g; " \
                  "NMSE %.3g)", (what), w_, (double)a_[w_], (double)r_[w_], q_, (double)(atol), (double)(rtol),  \
                  nmse_);                                                                                        \
    } while (0)

#define TEST_MAIN_END()                                                                    \
    do {                                                                                   \
        fprintf(stderr, "%d checks, %d failures\n", test_checks, test_failures);           \
        return test_failures ? 1 : 0;                                                      \
    } while (0)

/* For a test whose real check cannot run here (the CPU lacks what it
 * tests): failures still fail; otherwise it ends as skipped (CTest's
 * SKIP_RETURN_CODE 77), saying why. */
#define TEST_SKIP_RC 77
#define TEST_MAIN_END_SKIP(why)                                                             \
    do {                                                                                    \
        fprintf(stderr, "%d checks, %d failures; SKIPPED: %s\n", test_checks, test_failures, (why)); \
        return test_failures ? 1 : TEST_SKIP_RC;                                            \
    } while (0)

/* x rounded to bfloat16 (to nearest even, NaN kept), with integer
 * arithmetic: the reference for the library's bfloat16 paths. */
static inline float test_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

/* Path of a fixture under tests/data (TEST_DATA_DIR is set by CMake). */
static inline const char *tdata(const char *name) {
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", TEST_DATA_DIR, name);
    return buf[k];
}

/* A scratch path under the build tree. */
static inline const char *tmp_path(const char *name) {
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", TEST_TMP_DIR, name);
    return buf[k];
}

static inline void write_file(const char *path, const char *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        perror(path);
        exit(2);
    }
    fwrite(data, 1, n, fp);
    fclose(fp);
}

static inline int file_exists(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (fp) fclose(fp);
    return fp != NULL;
}

#endif
