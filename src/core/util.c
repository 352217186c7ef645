#define _POSIX_C_SOURCE 200809L
#include "util_impl.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

uint64_t lmf_hash_bytes(const void *p, size_t n, uint64_t seed) {
    const unsigned char *s = (const unsigned char *)p;
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ lmf_mix64(w)) * 0x9fb21c651e98df25ULL;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h ^= lmf_mix64(w ^ ((uint64_t)n << 56));
    return lmf_mix64(h);
}

char *lmf_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = (char *)lmf_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

char *lmf_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = (char *)lmf_malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

lmf_status lmf_file_read(const char *path, lmf_filebuf *out) {
    out->data = NULL;
    out->size = 0;
    out->mapped = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return lmf_error(LMF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0) {
        fclose(fp);
        return lmf_error(LMF_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(fp);
        return lmf_error(LMF_ERR_IO, "%s: is a directory, expected a file", path);
    }
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 1 << 16;
    char *buf = (char *)lmf_malloc(cap);
    if (!buf) {
        fclose(fp);
        return lmf_error(LMF_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, cap);
    }
    size_t len = 0;
    for (;;) {
        if (len + 1 >= cap) {
            size_t ncap = cap * 2;
            char *nb = (char *)lmf_realloc(buf, ncap);
            if (!nb) {
                lmf_free(buf);
                fclose(fp);
                return lmf_error(LMF_ERR_NOMEM, "%s: out of memory reading", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, fp);
        len += got;
        if (got == 0) break;
    }
    if (ferror(fp)) {
        int e = errno;
        lmf_free(buf);
        fclose(fp);
        return lmf_error(LMF_ERR_IO, "%s: read error: %s", path, strerror(e));
    }
    fclose(fp);
    buf[len] = 0;
    out->data = buf;
    out->size = len;
    return LMF_OK;
}

/* Decompresses a whole gzip file (zlib, also concatenated members). */
static lmf_status gunzip_file(const char *path, lmf_filebuf *out) {
    gzFile gz = gzopen(path, "rb");
    if (!gz) return lmf_error(LMF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    gzbuffer(gz, 1 << 17);
    size_t cap = 1 << 20, len = 0;
    char *buf = (char *)lmf_malloc(cap);
    lmf_status s = buf ? LMF_OK : lmf_error(LMF_ERR_NOMEM, "%s: out of memory decompressing", path);
    while (!s) {
        if (cap - len < (1 << 16)) {
            char *nb = (char *)lmf_realloc(buf, cap * 2);
            if (!nb) {
                s = lmf_error(LMF_ERR_NOMEM, "%s: out of memory decompressing (%zu bytes so far)", path, len);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        int got = gzread(gz, buf + len, (unsigned)(cap - len - 1));
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(gz, &zerr);
            s = lmf_error(LMF_ERR_FORMAT, "%s: corrupt gzip data after %zu bytes (%s); fetch the file again", path,
                          len, msg);
            break;
        }
        if (got == 0) {
            int zerr = Z_OK;
            gzerror(gz, &zerr);
            if (zerr != Z_OK || !gzeof(gz))
                s = lmf_error(LMF_ERR_FORMAT, "%s: the gzip data ends early (truncated file?); fetch it again", path);
            break;
        }
        len += (size_t)got;
    }
    gzclose(gz);
    if (s) {
        lmf_free(buf);
        return s;
    }
    buf[len] = 0;
    out->data = buf;
    out->size = len;
    out->mapped = 0;
    return LMF_OK;
}

lmf_status lmf_file_map(const char *path, lmf_filebuf *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return lmf_error(LMF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char magic[2];
    if (pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        close(fd);
        return gunzip_file(path, out);
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        return lmf_file_read(path, out);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return lmf_file_read(path, out);
    out->data = (char *)p;
    out->size = (size_t)st.st_size;
    out->mapped = 1;
    return LMF_OK;
}

void lmf_filebuf_free(lmf_filebuf *fb) {
    if (!fb) return;
    if (fb->mapped)
        munmap(fb->data, fb->size);
    else
        lmf_free(fb->data);
    fb->mapped = 0;
    fb->data = NULL;
    fb->size = 0;
}

lmf_status lmf_outfile_open(lmf_outfile *of, const char *path) {
    memset(of, 0, sizeof *of);
    size_t n = strlen(path);
    of->path = lmf_strdup(path);
    of->tmp = (char *)lmf_malloc(n + 32);
    if (!of->path || !of->tmp) {
        lmf_free(of->path);
        lmf_free(of->tmp);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    snprintf(of->tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    of->fp = fopen(of->tmp, "wb");
    if (!of->fp) {
        lmf_status s = lmf_error(LMF_ERR_IO, "%s: cannot create %s: %s", path, of->tmp, strerror(errno));
        lmf_free(of->path);
        lmf_free(of->tmp);
        memset(of, 0, sizeof *of);
        return s;
    }
    setvbuf(of->fp, NULL, _IOFBF, 1 << 20);
    return LMF_OK;
}

lmf_status lmf_outfile_commit(lmf_outfile *of) {
    lmf_status s = LMF_OK;
    int bad = ferror(of->fp);
    int e = errno;
    if (fclose(of->fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    of->fp = NULL;
    if (bad) {
        s = lmf_error(LMF_ERR_IO, "%s: write failed: %s (nothing written)", of->path, strerror(e));
        remove(of->tmp);
    } else if (rename(of->tmp, of->path) != 0) {
        s = lmf_error(LMF_ERR_IO, "%s: cannot rename %s into place: %s", of->path, of->tmp, strerror(errno));
        remove(of->tmp);
    }
    lmf_free(of->path);
    lmf_free(of->tmp);
    memset(of, 0, sizeof *of);
    return s;
}

void lmf_outfile_abort(lmf_outfile *of) {
    if (!of) return;
    if (of->fp) fclose(of->fp);
    if (of->tmp) remove(of->tmp);
    lmf_free(of->path);
    lmf_free(of->tmp);
    memset(of, 0, sizeof *of);
}

lmf_status lmf_buf_reserve(lmf_buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return LMF_OK;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra) ncap *= 2;
    char *np = (char *)lmf_realloc(b->p, ncap);
    if (!np) return lmf_error(LMF_ERR_NOMEM, "out of memory (buffer of %zu bytes)", ncap);
    b->p = np;
    b->cap = ncap;
    return LMF_OK;
}

lmf_status lmf_buf_append(lmf_buf *b, const void *s, size_t n) {
    lmf_status st = lmf_buf_reserve(b, n);
    if (st) return st;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return LMF_OK;
}

void lmf_buf_free(lmf_buf *b) {
    lmf_free(b->p);
    memset(b, 0, sizeof *b);
}

int lmf_fmt_float(char *buf, float v) {
    if (isnan(v)) return sprintf(buf, "nan");
    if (isinf(v)) return sprintf(buf, v < 0 ? "-inf" : "inf");
    char *p = buf;
    double x = v;
    if (x < 0) {
        *p++ = '-';
        x = -x;
    }
    if (x == 0) {
        if (p != buf) p--; /* print -0 as 0 */
        *p++ = '0';
        *p = 0;
        return (int)(p - buf);
    }
    if (x >= 1e9 || x < 1e-4) return (int)(p - buf) + sprintf(p, "%.9g", x);
    /* 9 significant digits: find e with 1e8 <= x*10^k < 1e9 */
    static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13};
    int intdigits = 1; /* digits before the decimal point (>=1) */
    while (intdigits < 10 && x >= p10[intdigits]) intdigits++;
    int lead0 = 0; /* zeros right after the point when x < 1 */
    if (x < 1) {
        intdigits = 0;
        while (x * p10[lead0 + 1] < 1) lead0++;
    }
    int frac = 9 - intdigits; /* fraction digits carrying significance */
    if (intdigits == 0) frac = 9 + lead0;
    uint64_t m = (uint64_t)llround(x * p10[frac]);
    if (intdigits > 0 && m >= 1000000000ULL) {
        /* rounding carried into a new digit (e.g. 9.99999999951 -> 10.0000000) */
        return (int)(p - buf) + sprintf(p, "%.9g", x);
    }
    char digs[32];
    int nd = 0;
    uint64_t t = m;
    do {
        digs[nd++] = (char)('0' + t % 10);
        t /= 10;
    } while (t);
    /* total digits should be intdigits+frac (pad with leading zeros) */
    while (nd < intdigits + frac) digs[nd++] = '0';
    int i = nd - 1;
    if (intdigits == 0) {
        *p++ = '0';
    } else {
        for (int k = 0; k < intdigits; k++) *p++ = digs[i--];
    }
    /* fraction: trim trailing zeros */
    int last = 0;
    while (last < frac && digs[last] == '0') last++;
    if (last < frac) {
        *p++ = '.';
        for (int k = i; k >= last; k--) *p++ = digs[k];
    }
    *p = 0;
    return (int)(p - buf);
}
