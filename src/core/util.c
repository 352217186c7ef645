#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock */
#include "util_impl.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
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

char *lmf_path_dir(const char *path) {
    const char *sl = strrchr(path, '/');
    if (!sl) return lmf_strdup(".");
    size_t n = (size_t)(sl - path);
    char *d = (char *)lmf_malloc(n + 2);
    if (!d) return NULL;
    memcpy(d, path, n ? n : 1);
    d[n ? n : 1] = 0;
    return d;
}

char *lmf_path_rel(const char *target, const char *base) {
    size_t i = 0, cut = 0;
    while (target[i] && target[i] == base[i]) {
        if (target[i] == '/') cut = i + 1;
        i++;
    }
    const char *p = base + cut;
    if (!base[i] && target[i] == '/') cut = i + 1, p = base + i; /* target is inside base */
    size_t ups = 0;
    if (*p) {
        ups = 1;
        for (; *p; p++) ups += *p == '/' && p[1];
    }
    const char *rest = target + cut;
    char *out = (char *)lmf_malloc(ups * 3 + strlen(rest) + 1);
    if (!out) return NULL;
    size_t n = 0;
    for (size_t u = 0; u < ups; u++) memcpy(out + n, "../", 3), n += 3;
    strcpy(out + n, rest);
    return out;
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

/* The file a write to `path` lands in: symbolic links followed to their
 * target (which need not exist yet), so that the rename replaces the target
 * and not the link.  Malloc'd into *out. */
static lmf_status resolve_links(const char *path, char **out) {
    char *cur = lmf_strdup(path);
    if (!cur) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) {
            *out = cur;
            return LMF_OK;
        }
        if (hops == 40) {
            lmf_free(cur);
            return lmf_error(LMF_ERR_IO, "%s: too many levels of symbolic links; point it at a file", path);
        }
        size_t cap = (st.st_size > 0 ? (size_t)st.st_size : 255) + 1;
        char *target = NULL;
        ssize_t got;
        for (;;) {
            char *t = (char *)lmf_realloc(target, cap);
            if (!t) {
                lmf_free(target);
                lmf_free(cur);
                return lmf_error(LMF_ERR_NOMEM, "out of memory");
            }
            target = t;
            got = readlink(cur, target, cap);
            if (got < 0 || (size_t)got < cap) break;
            cap *= 2; /* the link changed since lstat: read it again */
        }
        if (got <= 0) {
            lmf_status s = lmf_error(LMF_ERR_IO, "%s: cannot read the symbolic link %s: %s", path, cur,
                                     got < 0 ? strerror(errno) : "empty target");
            lmf_free(target);
            lmf_free(cur);
            return s;
        }
        target[got] = 0;
        char *next;
        const char *slash = strrchr(cur, '/');
        if (target[0] == '/' || !slash) { /* absolute, or relative to the current folder like the link */
            next = target;
            target = NULL;
        } else { /* relative to the link's folder */
            size_t dl = (size_t)(slash - cur) + 1;
            next = (char *)lmf_malloc(dl + (size_t)got + 1);
            if (next) {
                memcpy(next, cur, dl);
                memcpy(next + dl, target, (size_t)got + 1);
            }
        }
        lmf_free(target);
        lmf_free(cur);
        if (!next) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        cur = next;
    }
}

/* Removes "<target>.tmp.<pid>" files of processes that no longer run (a
 * writer killed before its rename).  A file is removed only when its name
 * has exactly that form, it is a regular file, no process <pid> exists and no
 * one holds its lock (every writer holds one while it writes, which also
 * covers writers in another PID namespace). */
static void remove_stale_temps(const char *target) {
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    size_t dl = slash ? (size_t)(slash - target) + 1 : 0, bl = strlen(base);
    char *dir = (char *)lmf_malloc(dl + 2);
    if (!dir) return;
    if (dl)
        memcpy(dir, target, dl), dir[dl] = 0;
    else
        strcpy(dir, ".");
    DIR *d = opendir(dir);
    if (!d) {
        lmf_free(dir);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) != 0 || strncmp(n + bl, ".tmp.", 5) != 0) continue;
        const char *p = n + bl + 5;
        size_t nd = strspn(p, "0123456789");
        if (nd == 0 || nd > 9 || p[nd] != 0 || p[0] == '0') continue;
        long pid = strtol(p, NULL, 10);
        /* alive, or not ours to judge (EPERM: another user's live process) */
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *full = lmf_path_join(dl ? dir : "", n);
        if (!full) break;
        int fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
            unlink(full) == 0)
            lmf_log(LMF_LOG_WARN, "removed %s (%lld bytes), a temporary file left by process %ld, which no longer runs",
                    full, (long long)st.st_size, pid);
        if (fd >= 0) close(fd);
        lmf_free(full);
    }
    closedir(d);
    lmf_free(dir);
}

/* Creates `tmp` and takes its lock (see remove_stale_temps); NULL with errno
 * set on failure. */
static FILE *create_locked(const char *tmp) {
    for (int tries = 0; tries < 16; tries++) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0) return NULL;
        if (flock(fd, LOCK_EX) == 0) {
            struct stat a, b; /* a cleaner may have removed the name before we locked it */
            if (fstat(fd, &a) != 0 || stat(tmp, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
                close(fd);
                continue;
            }
        } /* else a file system without locks: the PID check alone protects the file */
        FILE *fp = fdopen(fd, "wb");
        if (!fp) {
            int err = errno;
            close(fd);
            unlink(tmp);
            errno = err;
        }
        return fp;
    }
    errno = EAGAIN;
    return NULL;
}

lmf_status lmf_outfile_open(lmf_outfile *of, const char *path) {
    memset(of, 0, sizeof *of);
    if (!strcmp(path, "-")) { /* standard output, written as it comes */
        of->path = lmf_strdup("(standard output)");
        if (!of->path) return lmf_error(LMF_ERR_NOMEM, "out of memory");
        of->fp = stdout;
        of->direct = 2;
        return LMF_OK;
    }
    lmf_status s = resolve_links(path, &of->path);
    if (s) return s;
    struct stat st;
    if (stat(of->path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            s = lmf_error(LMF_ERR_IO, "%s: is a directory; give the name of a file to write", path);
        } else { /* a device, FIFO or socket: write into it, never replace it */
            int fd = open(of->path, O_WRONLY | O_CLOEXEC);
            of->fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
            if (!of->fp) {
                s = lmf_error(LMF_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
                if (fd >= 0) close(fd);
            }
        }
        if (s) {
            lmf_free(of->path);
            memset(of, 0, sizeof *of);
            return s;
        }
        of->direct = 1;
        return LMF_OK;
    }
    remove_stale_temps(of->path);
    size_t n = strlen(of->path);
    of->tmp = (char *)lmf_malloc(n + 32);
    if (!of->tmp) {
        lmf_free(of->path);
        memset(of, 0, sizeof *of);
        return lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    snprintf(of->tmp, n + 32, "%s.tmp.%ld", of->path, (long)getpid());
    of->fp = create_locked(of->tmp);
    if (!of->fp) {
        s = lmf_error(LMF_ERR_IO, "%s: cannot create %s: %s", path, of->tmp, strerror(errno));
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
    if (of->direct == 2) {
        if (fflush(of->fp) != 0 && !bad) bad = 1, e = errno;
        bad = bad || ferror(of->fp);
    } else if (fclose(of->fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    of->fp = NULL;
    if (bad) {
        if (of->direct)
            s = lmf_error(LMF_ERR_IO, "%s: write failed: %s (the output is incomplete)", of->path, strerror(e));
        else
            s = lmf_error(LMF_ERR_IO, "%s: write failed: %s (nothing written)", of->path, strerror(e));
        if (of->tmp) remove(of->tmp);
    } else if (of->tmp && rename(of->tmp, of->path) != 0) {
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
    if (of->fp && of->direct == 2)
        fflush(of->fp);
    else if (of->fp)
        fclose(of->fp);
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
