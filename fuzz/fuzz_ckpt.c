/* libFuzzer target: training checkpoints given to the resume path
 * (lmf_train with resume): the checkpoint's settings and progress JSON,
 * its vocabulary, weights and optimizer moments, then the resumed training
 * itself (a few steps on a tiny text, validation, checkpoint and model
 * written).
 *
 * A checkpoint names its files (train, valid, out, loss_log).  So that a
 * mutated one cannot make the target read or write anywhere else, the bytes
 * "@D" in the safetensors header stand for this process's folder
 * /tmp/fuzz_ckpt_<pid> (the header length is adjusted), and a checkpoint is
 * resumed only when its files are that folder's train.txt, valid.txt,
 * out.safetensors and loss.tsv, and its sizes keep a run short (epochs <= 2,
 * batch <= 8, bptt and ctx <= 16).  The seeds (fuzz/corpus/ckpt, made by
 * dev/gen_fuzz_seeds.py) are checkpoints of tiny models trained on TEXT
 * below, each architecture. */
#include "lmf/train.h"
#include "lmf/io.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The training and validation text (dev/gen_fuzz_seeds.py has the same). */
static const char TEXT[] = "a b c a\nb a c\nc c a b a\na b\nb c b a c\n";

static void quiet(lmf_log_level l, const char *m, void *c) { (void)l; (void)m; (void)c; }

static char dir[64];

static int put(const char *name, const void *p, size_t n) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    fwrite(p, 1, n, fp);
    return fclose(fp) == 0;
}

/* a string setting is absent (when allowed) or exactly dir/name */
static int path_ok(const cJSON *j, const char *key, const char *name, int optional) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!e) return optional;
    char want[128];
    snprintf(want, sizeof want, "%s/%s", dir, name);
    return cJSON_IsString(e) && !strcmp(e->valuestring, want);
}

/* a number setting is absent, not a number (refused by the trainer) or <= max */
static int small(const cJSON *j, const char *key, double max) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, key);
    return !cJSON_IsNumber(e) || e->valuedouble <= max;
}

/* Only checkpoints whose files are ours and whose runs are short. */
static int safe(const char *path) {
    lmf_safetensors *st = NULL;
    if (lmf_st_open(path, &st) != LMF_OK) return 1; /* the trainer refuses it too */
    const char *tj = lmf_st_meta(st, "lmfuse.train");
    cJSON *j = tj ? cJSON_Parse(tj) : NULL;
    int ok = !tj || !cJSON_IsObject(j) ||
             (path_ok(j, "train", "train.txt", 0) && path_ok(j, "valid", "valid.txt", 1) &&
              path_ok(j, "out", "out.safetensors", 0) && path_ok(j, "loss_log", "loss.tsv", 1) && small(j, "epochs", 2) &&
              small(j, "batch", 8) && small(j, "bptt", 16) && small(j, "ctx", 16));
    cJSON_Delete(j);
    lmf_st_close(st);
    return ok;
}

/* At exit: the folder and what the runs left in it. */
static void clean(void) {
    static const char *const names[] = {"train.txt", "valid.txt", "ck.safetensors", "next.ckpt", "out.safetensors",
                                        "loss.tsv"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_ckpt_%ld", (long)getpid());
        mkdir(dir, 0700);
        atexit(clean);
        if (!put("train.txt", TEXT, sizeof TEXT - 1) || !put("valid.txt", TEXT, sizeof TEXT - 1)) abort();
        lmf_set_log(quiet, NULL, LMF_LOG_WARN);
        lmf_set_threads(1);
    }
    /* "@D" in the header -> dir */
    uint64_t hlen = 0;
    if (size >= 8)
        for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    size_t dl = strlen(dir);
    uint8_t *buf = (uint8_t *)malloc(size * (dl > 2 ? dl - 1 : 1) + 16), *w = buf;
    if (!buf) return 0;
    if (size >= 8 && hlen <= size - 8) {
        w += 8;
        for (size_t i = 8; i < 8 + hlen; i++) {
            if (i + 1 < 8 + hlen && data[i] == '@' && data[i + 1] == 'D') {
                memcpy(w, dir, dl), w += dl, i++;
            } else {
                *w++ = data[i];
            }
        }
        uint64_t nh = (uint64_t)(w - buf - 8);
        for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(nh >> (8 * i));
        memcpy(w, data + 8 + hlen, size - 8 - hlen), w += size - 8 - hlen;
    } else {
        memcpy(w, data, size), w += size;
    }
    int ok = put("ck.safetensors", buf, (size_t)(w - buf));
    free(buf);
    char path[128], next[128];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    snprintf(next, sizeof next, "%s/next.ckpt", dir);
    if (!ok || !safe(path)) return 0;
    lmf_train_opts o;
    lmf_train_opts_init(&o);
    o.resume = path;
    o.checkpoint = next;
    o.log_seconds = -1;
    lmf_train_result r;
    (void)lmf_train(&o, &r);
    return 0;
}
