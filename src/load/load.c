/* The loader registry: lmf_model_load and lmf_recipe_load.  This module sits
 * above every model family (src/ngram, src/nn, src/fuse) and is the only one
 * that knows them all; none of them calls up into it.  A file's format is
 * told from its first bytes by the table `loaders` (first match wins); JSON
 * files are then told apart by their "lmfuse" field in the table
 * `json_kinds`.  Loaders of composite models (recipes, caches) load their
 * members through the load context's callback (src/model/load_ctx.h), which
 * is registry_load below.
 *
 * Adding a format: one line in a table plus its open function, e.g. a
 * document classifier stored as {"lmfuse": "classifier", ...} is
 *     {"classifier", lmf_classifier_from_json},
 * in json_kinds. */
#define _POSIX_C_SOURCE 200809L /* stat */
#include "lmf/fuse.h"
#include "lmf/model.h"
#include "lmf/ngram.h"
#include "lmf/nn.h"
#include "../core/json_impl.h"
#include "../core/util_impl.h"
#include "../fuse/fuse_impl.h"
#include "../model/load_ctx.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* What the sniffers see: the file's first bytes and its size. */
typedef struct probe {
    unsigned char head[16];
    size_t got;    /* bytes in head (1..16: an empty file never reaches a sniffer) */
    uint64_t size; /* the file's size in bytes */
} probe;

/* One format: sniff says whether the file is one (1) or not (0); open loads
 * it (ctx: the context of the file that names it, see load_ctx.h). */
typedef struct loader {
    const char *name;
    int (*sniff)(const probe *p);
    lmf_status (*open)(const lmf_load_ctx *ctx, const char *path, const probe *p, lmf_model **out);
} loader;

/* One kind of JSON model file, by the value of its "lmfuse" field. */
typedef struct json_loader {
    const char *kind;
    lmf_status (*open)(const lmf_load_ctx *ctx, const char *path, const cJSON *root, lmf_model **out);
} json_loader;

/* ---- what the first bytes say ---- */

static int is_text(const probe *p) { return !memchr(p->head, 0, p->got); } /* JSON and ARPA have no NUL bytes */

static size_t first_nonblank(const probe *p) {
    size_t sp = 0;
    while (sp < p->got && (p->head[sp] == ' ' || p->head[sp] == '\n' || p->head[sp] == '\t' || p->head[sp] == '\r'))
        sp++;
    return sp;
}

static int is_gzip(const probe *p) { return p->got >= 2 && p->head[0] == 0x1f && p->head[1] == 0x8b; }

static int sniff_lmfb(const probe *p) { return p->got >= 8 && !memcmp(p->head, LMF_NGRAM_MAGIC, 8); }

/* safetensors: an 8-byte little-endian header length, then the JSON header.
 * A control byte among the first 8 tells the length from text that has '{'
 * at byte 8. */
static int sniff_safetensors(const probe *p) {
    int ctl = 0;
    for (size_t i = 0; i < 8 && i < p->got; i++)
        ctl |= p->head[i] < 0x20 && p->head[i] != '\t' && p->head[i] != '\n' && p->head[i] != '\r';
    return !is_gzip(p) && !sniff_lmfb(p) && ctl && p->got >= 9 && p->head[8] == '{';
}

/* A JSON object or array (an array is refused when opened, with its own message). */
static int sniff_json(const probe *p) {
    size_t sp = first_nonblank(p);
    return is_text(p) && sp < p->got && (p->head[sp] == '{' || p->head[sp] == '[');
}

static int sniff_arpa(const probe *p) { return is_gzip(p) || is_text(p); } /* plain or gzip-compressed */

/* ---- open functions ---- */

static lmf_status open_safetensors(const lmf_load_ctx *ctx, const char *path, const probe *p, lmf_model **out) {
    uint64_t hl = 0, room = p->size - 8;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | p->head[i];
    if (hl < 2 || hl > room)
        return lmf_error(LMF_ERR_FORMAT,
                         "%s: looks like a safetensors file (a JSON header at byte 8), but its header length "
                         "field says %llu bytes where the file has %llu after it; the file is truncated or "
                         "damaged: write it again",
                         path, (unsigned long long)hl, (unsigned long long)room);
    return lmf_nn_load(path, out);
}

/* The n-gram file formats; the model takes the n-gram. */
static lmf_status open_lmfb(const lmf_load_ctx *ctx, const char *path, const probe *p, lmf_model **out) {
    lmf_ngram *ng = NULL;
    lmf_status s = lmf_ngram_load_binary(path, NULL, &ng);
    if (!s) *out = lmf_ngram_model(ng);
    return s;
}

static lmf_status open_arpa(const lmf_load_ctx *ctx, const char *path, const probe *p, lmf_model **out) {
    lmf_ngram *ng = NULL;
    lmf_status s = lmf_ngram_read_arpa(path, NULL, &ng);
    if (!s) *out = lmf_ngram_model(ng);
    return s;
}

/* JSON model files by their "lmfuse" field.  A file without it, or with a
 * value not listed here, is read as a recipe, as recipes written by hand
 * often omit it (and an older lmfuse did so for every value). */
/* A document classifier (lmf/classify.h) is no language model: say where it goes. */
static lmf_status classifier_here(const lmf_load_ctx *ctx, const char *path, const cJSON *j, lmf_model **out) {
    (void)ctx, (void)j;
    *out = NULL;
    return lmf_error(LMF_ERR_FORMAT,
                     "%s: is a document classifier, not a language model; use it with lmfuse classify eval|predict, "
                     "or as a member of lmfuse classify fuse",
                     path);
}

static const json_loader json_kinds[] = {
    {"recipe", lmf_recipe_from_json},
    {"cache", lmf_ncache_from_json},
    {"classifier", classifier_here},
};

/* Reads and parses the JSON file path, then opens it by its "lmfuse" field. */
static lmf_status open_json_file(const lmf_load_ctx *ctx, const char *path, lmf_model **out) {
    lmf_filebuf fb;
    lmf_status s = lmf_file_read(path, &fb);
    if (s) return s;
    const char *end = NULL;
    cJSON *j = NULL;
    if (lmf_json_parse(fb.data, fb.size, &end, &j) == LMF_ERR_NOMEM) {
        lmf_filebuf_free(&fb);
        return LMF_ERR_NOMEM;
    }
    if (!j) {
        int line = 1;
        for (const char *c = fb.data; end && c < end && c < fb.data + fb.size; c++) line += *c == '\n';
        lmf_filebuf_free(&fb);
        return lmf_error(LMF_ERR_FORMAT, "%s:%d: not valid JSON (a recipe is a JSON object, see `lmfuse help recipe`)",
                         path, line);
    }
    lmf_filebuf_free(&fb);
    const json_loader *jl = &json_kinds[0]; /* the recipe: the default */
    const cJSON *kind = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "lmfuse") : NULL;
    for (size_t i = 0; cJSON_IsString(kind) && i < sizeof json_kinds / sizeof *json_kinds; i++)
        if (!strcmp(kind->valuestring, json_kinds[i].kind)) jl = &json_kinds[i];
    s = jl->open(ctx, path, j, out);
    cJSON_Delete(j);
    return s;
}

static lmf_status open_json(const lmf_load_ctx *ctx, const char *path, const probe *p, lmf_model **out) {
    if (p->head[first_nonblank(p)] == '[')
        return lmf_error(LMF_ERR_FORMAT,
                         "%s: is a JSON array, but a recipe is a JSON object: {\"lmfuse\": \"recipe\", \"combiner\": "
                         "\"linear\", \"members\": [\"a.arpa\", ...]} (see `lmfuse help recipe`)",
                         path);
    return open_json_file(ctx, path, out);
}

/* Formats by their first bytes, in order: the first whose sniffer says yes
 * opens the file.  safetensors goes before JSON (its header is JSON, behind
 * 8 binary bytes) and ARPA last (any text). */
static const loader loaders[] = {
    {"safetensors", sniff_safetensors, open_safetensors},
    {"json", sniff_json, open_json},
    {"lmfb", sniff_lmfb, open_lmfb},
    {"arpa", sniff_arpa, open_arpa},
};

/* ---- the registry ---- */

static const char *file_kind(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a FIFO (pipe)";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

/* Opens path (as given) by its first bytes; ctx: the context of the file
 * that names it. */
static lmf_status open_file(const lmf_load_ctx *ctx, const char *path, lmf_model **out) {
    /* Only regular files: a device like /dev/zero never ends, and the bytes
     * sniffed from a pipe would be gone when the reader opens it again. */
    struct stat st;
    if (stat(path, &st) != 0) return lmf_error(LMF_ERR_IO, "%s: cannot open model file: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return lmf_error(LMF_ERR_IO,
                         "%s: is %s, not a model file; models are read from regular files (save it to one first)", path,
                         file_kind(st.st_mode));
    FILE *fp = fopen(path, "rb");
    if (!fp) return lmf_error(LMF_ERR_IO, "%s: cannot open model file: %s", path, strerror(errno));
    probe p = {.size = (uint64_t)st.st_size};
    p.got = fread(p.head, 1, sizeof p.head, fp);
    fclose(fp);
    if (p.got == 0)
        return lmf_error(LMF_ERR_FORMAT,
                         "%s: the file is empty; expected a model (ARPA, .lmfb, .safetensors or a recipe)", path);
    for (size_t i = 0; i < sizeof loaders / sizeof *loaders; i++)
        if (loaders[i].sniff(&p)) return loaders[i].open(ctx, path, &p, out);
    char hex[3 * 8 + 1];
    for (size_t i = 0; i < 8 && i < p.got; i++) snprintf(hex + 3 * i, 4, " %02x", p.head[i]);
    return lmf_error(LMF_ERR_FORMAT,
                     "%s: binary data that is no model lmfuse reads (it starts with bytes%s); expected ARPA text "
                     "(\\data\\ ...), an lmfuse n-gram binary (magic %s), a safetensors file or a JSON recipe",
                     path, hex, LMF_NGRAM_MAGIC);
}

/* The load context's callback: path relative to ctx->dir unless absolute. */
static lmf_status registry_load(const lmf_load_ctx *ctx, const char *path, lmf_model **out) {
    *out = NULL;
    if (!ctx->dir || path[0] == '/') return open_file(ctx, path, out);
    char *full = lmf_path_join(ctx->dir, path);
    if (!full) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = open_file(ctx, full, out);
    lmf_free(full);
    return s;
}

/* A file loaded on its own: no folder (paths as given), no files on the chain. */
static const lmf_load_ctx top = {.load = registry_load};

lmf_status lmf_model_load(const char *path, lmf_model **out) { return registry_load(&top, path, out); }

/* A recipe or cache file whatever its first bytes (lmf/fuse.h). */
lmf_status lmf_recipe_load(const char *path, lmf_model **out) {
    *out = NULL;
    return open_json_file(&top, path, out);
}
