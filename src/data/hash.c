/* SHA-256 (FIPS 180-4) and MD5 (RFC 1321), written from the specifications.
 * Used to verify downloaded tarballs and the Brown split outputs; neither is
 * used for security decisions beyond "is this the pinned file". */
#define _POSIX_C_SOURCE 200809L
#include "lmf/data.h"

#include "../core/util_impl.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- SHA-256 */

/* First 32 bits of the fractional parts of the cube roots of the first 64
 * primes (FIPS 180-4, 4.2.2). */
static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr32(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }
static inline uint32_t rotl32(uint32_t x, unsigned n) { return (x << n) | (x >> (32 - n)); }

static void sha256_block(uint32_t h[8], const unsigned char *p) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 |
               (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr32(w[t - 15], 7) ^ rotr32(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr32(w[t - 2], 17) ^ rotr32(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t S1 = rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = k + S1 + ch + sha256_k[t] + w[t];
        uint32_t S0 = rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

/* ------------------------------------- shared Merkle-Damgard plumbing */

typedef void (*block_fn)(uint32_t *h, const unsigned char *p);

/* Feeds n bytes through 64-byte blocks, keeping a partial block in buf. */
static void md_update(uint32_t *h, uint64_t *nbytes, unsigned char *buf, size_t *buflen, const unsigned char *p,
                      size_t n, block_fn block) {
    *nbytes += n;
    if (*buflen) {
        size_t take = 64 - *buflen;
        if (take > n) take = n;
        memcpy(buf + *buflen, p, take);
        *buflen += take;
        p += take;
        n -= take;
        if (*buflen < 64) return;
        block(h, buf);
        *buflen = 0;
    }
    while (n >= 64) {
        block(h, p);
        p += 64;
        n -= 64;
    }
    memcpy(buf, p, n);
    *buflen = n;
}

/* The final padding: 0x80, zeros, and the bit length (big-endian for
 * SHA-256, little-endian for MD5) ending a block. */
static void md_pad(uint32_t *h, uint64_t *nbytes, unsigned char *buf, size_t *buflen, block_fn block, int big_endian) {
    uint64_t bits = *nbytes * 8;
    unsigned char pad[72];
    size_t padlen = (*buflen < 56 ? 56 : 120) - *buflen; /* 1..64 bytes of 0x80 00.. */
    memset(pad, 0, sizeof pad);
    pad[0] = 0x80;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (unsigned char)(bits >> (big_endian ? 56 - 8 * i : 8 * i));
    md_update(h, nbytes, buf, buflen, pad, padlen + 8, block);
    LMF_ASSERT(*buflen == 0);
}

void lmf_sha256_init(lmf_sha256_ctx *c) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->nbytes = 0;
    c->buflen = 0;
}

void lmf_sha256_update(lmf_sha256_ctx *c, const void *data, size_t n) {
    md_update(c->h, &c->nbytes, c->buf, &c->buflen, (const unsigned char *)data, n, sha256_block);
}

void lmf_sha256_final(lmf_sha256_ctx *c, unsigned char out[32]) {
    md_pad(c->h, &c->nbytes, c->buf, &c->buflen, sha256_block, 1);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(c->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)c->h[i];
    }
}

/* -------------------------------------------------------------------- MD5 */

/* floor(2^32 * |sin(i + 1)|), RFC 1321 3.4. */
static const uint32_t md5_t[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

/* Per-round rotation amounts. */
static const unsigned char md5_s[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

static void md5_block(uint32_t h[4], const unsigned char *p) {
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g, round = i >> 4;
        switch (round) {
        case 0:
            f = (b & c) | (~b & d);
            g = i;
            break;
        case 1:
            f = (d & b) | (~d & c);
            g = (5 * i + 1) & 15;
            break;
        case 2:
            f = b ^ c ^ d;
            g = (3 * i + 5) & 15;
            break;
        default:
            f = c ^ (b | ~d);
            g = (7 * i) & 15;
            break;
        }
        uint32_t x = a + f + md5_t[i] + m[g];
        a = d;
        d = c;
        c = b;
        b = b + rotl32(x, md5_s[round][i & 3]);
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

void lmf_md5_init(lmf_md5_ctx *c) {
    c->h[0] = 0x67452301;
    c->h[1] = 0xefcdab89;
    c->h[2] = 0x98badcfe;
    c->h[3] = 0x10325476;
    c->nbytes = 0;
    c->buflen = 0;
}

void lmf_md5_update(lmf_md5_ctx *c, const void *data, size_t n) {
    md_update(c->h, &c->nbytes, c->buf, &c->buflen, (const unsigned char *)data, n, md5_block);
}

void lmf_md5_final(lmf_md5_ctx *c, unsigned char out[16]) {
    md_pad(c->h, &c->nbytes, c->buf, &c->buflen, md5_block, 0);
    for (int i = 0; i < 4; i++) {
        out[4 * i] = (unsigned char)c->h[i];
        out[4 * i + 1] = (unsigned char)(c->h[i] >> 8);
        out[4 * i + 2] = (unsigned char)(c->h[i] >> 16);
        out[4 * i + 3] = (unsigned char)(c->h[i] >> 24);
    }
}

/* ------------------------------------------------------------------ files */

void lmf_hex(const unsigned char *bytes, size_t n, char *hex) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[bytes[i] >> 4];
        hex[2 * i + 1] = digits[bytes[i] & 15];
    }
    hex[2 * n] = 0;
}

/* Streams the file through `update`. */
static lmf_status file_digest(const char *path, void *ctx, void (*update)(void *, const void *, size_t)) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return lmf_error(LMF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        return lmf_error(LMF_ERR_IO, "%s: is a directory, expected a file", path);
    }
    unsigned char *buf = (unsigned char *)lmf_malloc(1 << 16);
    if (!buf) {
        fclose(fp);
        return lmf_error(LMF_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got;
    while ((got = fread(buf, 1, 1 << 16, fp)) > 0) update(ctx, buf, got);
    int bad = ferror(fp);
    int e = errno;
    lmf_free(buf);
    fclose(fp);
    if (bad) return lmf_error(LMF_ERR_IO, "%s: read error: %s", path, strerror(e));
    return LMF_OK;
}

static void sha256_update_v(void *c, const void *p, size_t n) { lmf_sha256_update((lmf_sha256_ctx *)c, p, n); }
static void md5_update_v(void *c, const void *p, size_t n) { lmf_md5_update((lmf_md5_ctx *)c, p, n); }

lmf_status lmf_file_sha256_hex(const char *path, char hex[65]) {
    lmf_sha256_ctx c;
    unsigned char d[32];
    hex[0] = 0;
    lmf_sha256_init(&c);
    lmf_status s = file_digest(path, &c, sha256_update_v);
    if (s) return s;
    lmf_sha256_final(&c, d);
    lmf_hex(d, 32, hex);
    return LMF_OK;
}

lmf_status lmf_file_md5_hex(const char *path, char hex[33]) {
    lmf_md5_ctx c;
    unsigned char d[16];
    hex[0] = 0;
    lmf_md5_init(&c);
    lmf_status s = file_digest(path, &c, md5_update_v);
    if (s) return s;
    lmf_md5_final(&c, d);
    lmf_hex(d, 16, hex);
    return LMF_OK;
}
