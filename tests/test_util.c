/* Core helper tests: output files (temp-and-rename, symbolic links followed,
 * devices and FIFOs written in place, stale temp files of dead writers
 * removed and live ones kept) and the model loader's refusals and messages
 * for files that are not models. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock */
#include "test.h"

#include "lmf/model.h"
#include "../src/core/util_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h> /* makedev */
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Scratch paths of this test: TEST_TMP_DIR/util/NAME. */
static const char *upath(const char *name) {
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/util/%s", TEST_TMP_DIR, name);
    return buf[k];
}

static void put(const char *path, const char *s) {
    FILE *fp = fopen(path, "wb");
    CHECK_MSG(fp != NULL, "%s: %s", path, strerror(errno));
    if (!fp) return;
    fputs(s, fp);
    fclose(fp);
}

/* The file's contents (up to 255 bytes); "" if it cannot be read. */
static const char *slurp(const char *path) {
    static char buf[256];
    buf[0] = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = 0;
    fclose(fp);
    return buf;
}

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Writes s to path through lmf_outfile. */
static lmf_status write_out(const char *path, const char *s) {
    lmf_outfile of;
    lmf_status st = lmf_outfile_open(&of, path);
    if (st) return st;
    fputs(s, of.fp);
    return lmf_outfile_commit(&of);
}

/* A process id that no longer runs (a child that has exited and been reaped). */
static pid_t dead_pid(void) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    CHECK(p > 0);
    waitpid(p, NULL, 0);
    return p;
}

static void test_outfile_regular(void) {
    const char *p = upath("plain.txt");
    put(p, "old");
    CHECK(write_out(p, "new") == LMF_OK);
    CHECK(!strcmp(slurp(p), "new"));
    /* abort keeps the old file and leaves no temp file */
    lmf_outfile of;
    CHECK(lmf_outfile_open(&of, p) == LMF_OK);
    fputs("half", of.fp);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    CHECK(exists(tmp));
    lmf_outfile_abort(&of);
    CHECK(!exists(tmp) && !strcmp(slurp(p), "new"));
    /* a folder is no output file */
    CHECK(write_out(upath(""), "x") == LMF_ERR_IO);
    CHECK_MSG(strstr(lmf_last_error(), "is a directory") != NULL, "%s", lmf_last_error());
}

static void test_outfile_symlink(void) {
    /* the link stays a link; its target gets the data */
    const char *t = upath("target.txt"), *l = upath("link.txt");
    put(t, "old");
    unlink(l);
    CHECK(symlink("target.txt", l) == 0);
    CHECK(write_out(l, "through") == LMF_OK);
    struct stat st;
    CHECK(lstat(l, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(!strcmp(slurp(t), "through"));
    /* a chain of links, and a dangling one: its target is created */
    const char *l2 = upath("link2.txt"), *d = upath("dangling.txt"), *dt = upath("made.txt");
    unlink(l2), unlink(d), unlink(dt);
    CHECK(symlink(l, l2) == 0); /* absolute -> relative -> file */
    CHECK(write_out(l2, "chain") == LMF_OK);
    CHECK(lstat(l2, &st) == 0 && S_ISLNK(st.st_mode) && lstat(l, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(!strcmp(slurp(t), "chain"));
    CHECK(symlink("made.txt", d) == 0);
    CHECK(write_out(d, "fresh") == LMF_OK);
    CHECK(lstat(d, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(!strcmp(slurp(dt), "fresh"));
    /* a loop is an error, not a hang */
    const char *a = upath("loop_a"), *b = upath("loop_b");
    unlink(a), unlink(b);
    CHECK(symlink("loop_b", a) == 0 && symlink("loop_a", b) == 0);
    CHECK(write_out(a, "x") == LMF_ERR_IO);
    CHECK_MSG(strstr(lmf_last_error(), "symbolic links") != NULL, "%s", lmf_last_error());
}

static void test_outfile_fifo(void) {
    /* a FIFO is written into, not replaced by a regular file */
    const char *f = upath("fifo");
    unlink(f);
    CHECK(mkfifo(f, 0600) == 0);
    int rd = open(f, O_RDONLY | O_NONBLOCK); /* a reader, so opening for writing does not block */
    CHECK(rd >= 0);
    CHECK(write_out(f, "piped") == LMF_OK);
    char buf[16] = {0};
    CHECK(rd >= 0 && read(rd, buf, sizeof buf - 1) == 5 && !strcmp(buf, "piped"));
    if (rd >= 0) close(rd);
    struct stat st;
    CHECK(lstat(f, &st) == 0 && S_ISFIFO(st.st_mode));
    /* a character device is written in place too.  As root, a twin of
     * /dev/null made here (a regression must not replace the real one); as
     * another user /dev/null itself, which only root could replace. */
    const char *dev = "/dev/null";
    if (geteuid() == 0) {
        dev = upath("null");
        unlink(dev);
        if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) != 0) {
            fprintf(stderr, "note: mknod %s: %s; the device case is not checked\n", dev, strerror(errno));
            return;
        }
    }
    CHECK_MSG(write_out(dev, "gone") == LMF_OK, "%s", lmf_last_error());
    CHECK_MSG(stat(dev, &st) == 0 && S_ISCHR(st.st_mode), "%s was replaced", dev);
    if (geteuid() == 0) unlink(dev);
}

static void test_stale_temps(void) {
    const char *t = upath("model.arpa");
    char dead[1100], live[1100], locked[1100], zero[1100], suffix[1100], other[1100];
    pid_t d1 = dead_pid(), d2 = dead_pid();
    snprintf(dead, sizeof dead, "%s.tmp.%ld", t, (long)d1);
    snprintf(locked, sizeof locked, "%s.tmp.%ld", t, (long)d2);
    snprintf(live, sizeof live, "%s.tmp.%ld", t, (long)getppid()); /* the process that started us runs */
    snprintf(zero, sizeof zero, "%s.tmp.0%ld", t, (long)d1);
    snprintf(suffix, sizeof suffix, "%s.tmp.%ldx", t, (long)d1);
    snprintf(other, sizeof other, "%s.tmp.%ld", upath("other.arpa"), (long)d1);
    const char *keep[] = {live, locked, zero, suffix, other};
    put(dead, "stale");
    for (int i = 0; i < 5; i++) put(keep[i], "keep");
    /* a writer that still holds its lock is never removed, even when its PID
     * is unknown here (another PID namespace) */
    int lk = open(locked, O_RDONLY);
    CHECK(lk >= 0 && flock(lk, LOCK_EX) == 0);
    CHECK(write_out(t, "model") == LMF_OK);
    CHECK(!strcmp(slurp(t), "model"));
    CHECK_MSG(!exists(dead), "%s: the temp file of a dead writer was left behind", dead);
    for (int i = 0; i < 5; i++) CHECK_MSG(exists(keep[i]), "%s was removed", keep[i]);
    if (lk >= 0) close(lk);
    /* the lock released: now it goes too */
    CHECK(write_out(t, "again") == LMF_OK);
    CHECK_MSG(!exists(locked), "%s: left behind once its lock was free", locked);
    for (int i = 0; i < 5; i++)
        if (keep[i] != locked) CHECK_MSG(exists(keep[i]), "%s was removed", keep[i]);
    for (int i = 0; i < 5; i++) unlink(keep[i]);
}

/* lmf_model_load on a file that is no model: error, message containing want. */
static void expect_load_error(const char *path, const char *want) {
    lmf_model *m = (lmf_model *)1;
    lmf_status s = lmf_model_load(path, &m);
    CHECK_MSG(s != LMF_OK && m == NULL, "%s: loaded", path);
    CHECK_MSG(strstr(lmf_last_error(), want) != NULL, "%s: message \"%s\" lacks \"%s\"", path, lmf_last_error(), want);
    if (s == LMF_OK) lmf_model_free(m);
}

/* lmf_model_load(path) in a child process, which must refuse it with a
 * message containing want.  Files that are read without end (/dev/zero) or
 * block (a FIFO without writer) would hang the test, so the child gets an
 * alarm (a guard against a hang, far above the microseconds a refusal
 * takes) and, with limit_memory, 1 GiB of address space (not under ASan,
 * whose shadow memory needs far more: that case is then skipped). */
static void expect_refused_in_child(const char *path, const char *want, int limit_memory) {
#if defined(__SANITIZE_ADDRESS__)
    if (limit_memory) {
        fprintf(stderr, "note: %s as a model not checked under ASan (needs an address-space limit)\n", path);
        return;
    }
#endif
    pid_t p = fork();
    if (p == 0) {
        alarm(120);
        if (limit_memory) {
            struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
            setrlimit(RLIMIT_AS, &rl);
        }
        lmf_model *m;
        lmf_status s = lmf_model_load(path, &m);
        if (s == LMF_OK || !strstr(lmf_last_error(), want)) {
            fprintf(stderr, "%s: %s\n", path, s ? lmf_last_error() : "loaded");
            _exit(1);
        }
        _exit(0);
    }
    int st = -1;
    CHECK(p > 0 && waitpid(p, &st, 0) == p);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s as a model was not refused with \"%s\"%s", path, want,
              WIFSIGNALED(st) ? " (the child was killed: it hung or ran out of memory)" : "");
}

static void test_model_sniffing(void) {
    expect_load_error("/dev/null", "is a character device");
    expect_refused_in_child("/dev/zero", "is a character device", 1); /* would read until memory runs out */
    expect_load_error(upath(""), "is a directory");
    const char *f = upath("fifo");
    unlink(f);
    CHECK(mkfifo(f, 0600) == 0);
    expect_refused_in_child(f, "is a FIFO", 0);
    put(upath("array.json"), "  [\"a.arpa\", \"b.arpa\"]\n");
    expect_load_error(upath("array.json"), "is a JSON array, but a recipe is a JSON object");
    put(upath("empty.arpa"), "");
    expect_load_error(upath("empty.arpa"), "is empty");
    /* safetensors with a header length past the end of the file */
    FILE *in = fopen(tdata("tiny.safetensors"), "rb");
    CHECK(in != NULL);
    if (in) {
        unsigned char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, in);
        fclose(in);
        CHECK(n > 16 && buf[8] == '{');
        FILE *out = fopen(upath("badlen.safetensors"), "wb");
        unsigned char big[8] = {0, 0, 0, 0, 0, 1, 0, 0}; /* 2^40 */
        fwrite(big, 1, 8, out);
        fwrite(buf + 8, 1, n - 8, out);
        fclose(out);
        expect_load_error(upath("badlen.safetensors"), "looks like a safetensors file");
        CHECK(strstr(lmf_last_error(), "1099511627776") != NULL);
        big[5] = 0; /* 0: too short for a header */
        out = fopen(upath("zerolen.safetensors"), "wb");
        fwrite(big, 1, 8, out);
        fwrite(buf + 8, 1, n - 8, out);
        fclose(out);
        expect_load_error(upath("zerolen.safetensors"), "looks like a safetensors file");
        /* an intact model still loads */
        lmf_model *m;
        CHECK_MSG(lmf_model_load(tdata("rnnlm_rnn.safetensors"), &m) == LMF_OK, "%s", lmf_last_error());
        lmf_model_free(m);
    }
    /* text with '{' at byte 8 is still ARPA, not a damaged safetensors file */
    put(upath("brace.arpa"), "# made {by hand}\n\\data\\\nngram 1=2\n\n\\1-grams:\n-1 </s>\n-1 <unk>\n\n\\end\\\n");
    lmf_model *am = NULL;
    CHECK_MSG(lmf_model_load(upath("brace.arpa"), &am) == LMF_OK, "%s", lmf_last_error());
    lmf_model_free(am);
    const unsigned char elf[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0};
    FILE *out = fopen(upath("binary.bin"), "wb");
    fwrite(elf, 1, sizeof elf, out);
    fclose(out);
    expect_load_error(upath("binary.bin"), "binary data that is no model lmfuse reads");
}

int main(void) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/util", TEST_TMP_DIR);
    mkdir(dir, 0777);
    test_outfile_regular();
    test_outfile_symlink();
    test_outfile_fifo();
    test_stale_temps();
    test_model_sniffing();
    TEST_MAIN_END();
}
