/* Strings to dense ids: an arena of NUL-terminated strings and an open
 * addressing index over it (the tag module's tag sets, lexicons, features). */
#include "tag_impl.h"
#include "../core/util_impl.h"

#include <string.h>

#define STRTAB_SEED 0x7461677374726162ULL

void lmf_strtab_free(lmf_strtab *t) {
    if (!t) return;
    lmf_free(t->arena);
    lmf_free(t->off);
    lmf_free(t->slot);
    memset(t, 0, sizeof *t);
}

static int32_t probe(const lmf_strtab *t, const char *s, size_t len, uint64_t h, size_t *at) {
    size_t k = (size_t)h & (t->nslot - 1);
    for (;;) {
        int32_t v = t->slot[k];
        if (!v) break;
        const char *x = t->arena + t->off[v - 1];
        if (!memcmp(x, s, len) && x[len] == 0) {
            *at = k;
            return v - 1;
        }
        k = (k + 1) & (t->nslot - 1);
    }
    *at = k;
    return -1;
}

int32_t lmf_strtab_find(const lmf_strtab *t, const char *s, size_t len) {
    if (!t->nslot) return -1;
    size_t at;
    return probe(t, s, len, lmf_hash_bytes(s, len, STRTAB_SEED), &at);
}

static int rehash(lmf_strtab *t, size_t nslot) {
    int32_t *ns = (int32_t *)lmf_calloc(nslot, sizeof *ns);
    if (!ns) return 0;
    for (int32_t id = 0; id < t->n; id++) {
        const char *x = t->arena + t->off[id];
        size_t k = (size_t)lmf_hash_bytes(x, strlen(x), STRTAB_SEED) & (nslot - 1);
        while (ns[k]) k = (k + 1) & (nslot - 1);
        ns[k] = id + 1;
    }
    lmf_free(t->slot);
    t->slot = ns;
    t->nslot = nslot;
    return 1;
}

int32_t lmf_strtab_add(lmf_strtab *t, const char *s, size_t len) {
    if (2 * ((size_t)t->n + 1) > t->nslot && !rehash(t, t->nslot ? 2 * t->nslot : 64)) return -1;
    const uint64_t h = lmf_hash_bytes(s, len, STRTAB_SEED);
    size_t at;
    int32_t id = probe(t, s, len, h, &at);
    if (id >= 0) return id;
    if (t->n == INT32_MAX - 1) return -1;
    if (t->n == t->cap) {
        int32_t ncap = t->cap ? (t->cap > INT32_MAX / 4 ? INT32_MAX - 1 : 2 * t->cap) : 64;
        size_t *no = (size_t *)lmf_realloc(t->off, (size_t)ncap * sizeof *no);
        if (!no) return -1;
        t->off = no;
        t->cap = ncap;
    }
    if (t->alen + len + 1 > t->acap) {
        size_t ncap = t->acap ? 2 * t->acap : 1024;
        while (ncap < t->alen + len + 1) ncap *= 2;
        char *na = (char *)lmf_realloc(t->arena, ncap);
        if (!na) return -1;
        t->arena = na;
        t->acap = ncap;
    }
    memcpy(t->arena + t->alen, s, len);
    t->arena[t->alen + len] = 0;
    t->off[t->n] = t->alen;
    t->alen += len + 1;
    t->slot[at] = t->n + 1;
    return t->n++;
}

char *lmf_strtab_blob(const lmf_strtab *t, size_t *len) {
    size_t n = 0;
    for (int32_t i = 0; i < t->n; i++) n += strlen(lmf_strtab_str(t, i)) + 1;
    char *b = (char *)lmf_malloc(n ? n : 1);
    if (!b) return NULL;
    size_t k = 0;
    for (int32_t i = 0; i < t->n; i++) {
        const char *s = lmf_strtab_str(t, i);
        size_t l = strlen(s) + 1;
        memcpy(b + k, s, l);
        k += l;
    }
    *len = n;
    return b;
}

lmf_status lmf_strtab_from_blob(lmf_strtab *t, const void *blob, size_t len, int sorted, const char *path,
                                const char *what) {
    const char *p = (const char *)blob, *end = p + len, *prev = NULL;
    if (len && end[-1] != 0) return lmf_error(LMF_ERR_FORMAT, "%s: the %s do not end with a NUL byte (a damaged file)", path, what);
    while (p < end) {
        size_t l = strlen(p);
        if (!l) return lmf_error(LMF_ERR_FORMAT, "%s: an empty string among the %s (a damaged file)", path, what);
        if (sorted && prev && strcmp(prev, p) >= 0)
            return lmf_error(LMF_ERR_FORMAT, "%s: the %s are not in byte order (\"%s\" after \"%s\"; a damaged file)", path,
                             what, p, prev);
        int32_t before = t->n, id = lmf_strtab_add(t, p, l);
        if (id < 0) return lmf_error(LMF_ERR_NOMEM, "out of memory (%s of %s)", what, path);
        if (id != before) return lmf_error(LMF_ERR_FORMAT, "%s: \"%s\" twice among the %s (a damaged file)", path, p, what);
        prev = p;
        p += l + 1;
    }
    return LMF_OK;
}
