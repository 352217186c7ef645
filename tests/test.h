/* Minimal test harness: CHECK records a failure and goes on; main returns
 * the failure count (so ctest sees non-zero on any failure). */
#ifndef LMF_TEST_H
#define LMF_TEST_H

#include <math.h>
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

#define TEST_MAIN_END()                                                                    \
    do {                                                                                   \
        fprintf(stderr, "%d checks, %d failures\n", test_checks, test_failures);           \
        return test_failures ? 1 : 0;                                                      \
    } while (0)

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
