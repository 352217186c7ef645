/* lmfuse demo tag: the main job for part-of-speech tagging.  On the tagged
 * Brown split (--quick: the sample shipped in sample/brown-tag) it trains
 * the member taggers (second- and first-order HMMs, left-to-right and
 * right-to-left averaged perceptrons, a BiLSTM with character features),
 * fuses them every way lmfuse tag
 * fuse knows, stacks them (on valid; out of fold on train too, unless
 * --quick), and prints one table on test with each fusion's error
 * reduction against the best member, and NLTK's figures beside them when
 * bench/tag_nltk.sh has measured them.  Every tagger and fusion is written
 * to DIR, so `lmfuse tag eval` reproduces each row; DIR/results.json holds
 * the numbers. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "lmf/tag.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse demo tag [--quick] [--dir DIR] [--data DIR] [--nltk DIR]\n"
            "\n"
            "Part-of-speech tagging, fused: trains HMM taggers (TnT-style, orders 2 and 1),\n"
            "averaged perceptrons (left to right, right to left) and a BiLSTM with character\n"
            "features on the tagged Brown\n"
            "split, fuses them (averages, votes, Viterbi over the fused distributions) and\n"
            "stacks them, and prints test accuracy (all, known and unknown words,\n"
            "sentences), speed and each fusion's error reduction against the best member.\n"
            "\n"
            "options:\n"
            "  --quick     the sample in sample/brown-tag (1,200/300/300 sentences), seconds\n"
            "  --dir DIR   where the taggers, fusions and results.json go\n"
            "              (default lmfuse-demo-tag, or lmfuse-demo-tag-quick)\n"
            "  --data DIR  a folder with brown-tag.{train,valid,test}.conll (default data/brown,\n"
            "              fetched if missing; with --quick, sample/brown-tag)\n"
            "  --nltk DIR  NLTK's figures from bench/tag_nltk.sh (default bench/out/tag-nltk)\n"
            "  --neural-epochs N  epochs of the BiLSTM member (default 2; --quick 3, 32 units)\n");
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = (char *)malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

typedef struct row {
    char name[64], file[64];
    int member;
    double acc, known, unknown, sent, tps, secs;
} row;

static int eval_row(const char *path, const lmf_tagged *test, row *r) {
    lmf_tagger *t;
    if (lmf_tagger_load(path, &t)) return 1;
    lmf_tag_eval ev;
    lmf_status s = lmf_tag_evaluate(t, test, NULL, NULL, &ev);
    if (!s) {
        r->acc = (double)ev.correct / (double)ev.tokens;
        r->known = ev.known ? (double)ev.known_correct / (double)ev.known : 0;
        r->unknown = ev.unknown ? (double)ev.unknown_correct / (double)ev.unknown : 0;
        r->sent = (double)ev.sentences_correct / (double)ev.sentences;
        r->tps = ev.seconds > 0 ? (double)ev.tokens / ev.seconds : 0;
    }
    lmf_tag_eval_free(&ev);
    lmf_tagger_free(t);
    return s ? 1 : 0;
}

/* NLTK's rows from bench/tag_nltk.sh's JSON files (any *.json there with
 * "taggers" over the full test set); returns how many were printed. */
static int print_nltk(const char *dir) {
    static const char *const names[] = {"perceptron-alone.json", "perceptron.json", "tnt-full.json", "hmm-full.json",
                                        "nltk.json"};
    int shown = 0;
    char seen[4][16] = {{0}};
    for (size_t f = 0; f < sizeof names / sizeof *names; f++) {
        char *p = join(dir, names[f]);
        FILE *fp = p ? fopen(p, "rb") : NULL;
        free(p);
        if (!fp) continue;
        char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        buf[n] = 0;
        cJSON *j = cJSON_Parse(buf);
        const cJSON *tg = cJSON_GetObjectItemCaseSensitive(j, "taggers"), *lim = cJSON_GetObjectItemCaseSensitive(j, "limit_test");
        if (cJSON_IsObject(tg) && (!cJSON_IsNumber(lim) || lim->valuedouble == 0))
            for (const cJSON *e = tg->child; e; e = e->next) {
                int dup = 0;
                for (int k = 0; k < 4; k++) dup |= !strcmp(seen[k], e->string);
                const cJSON *acc = cJSON_GetObjectItemCaseSensitive(e, "accuracy");
                if (dup || !cJSON_IsNumber(acc) || shown == 4) continue;
                snprintf(seen[shown], sizeof seen[shown], "%s", e->string);
                const char *keys[] = {"known_accuracy", "unknown_accuracy", "sentence_accuracy", "tokens_per_s", "train_s"};
                double v[5];
                for (int k = 0; k < 5; k++) {
                    const cJSON *x = cJSON_GetObjectItemCaseSensitive(e, keys[k]);
                    v[k] = cJSON_IsNumber(x) ? x->valuedouble : 0;
                }
                char nm[64];
                snprintf(nm, sizeof nm, "NLTK %s", e->string);
                printf("| %-30s | %.4f | %.4f | %.4f | %.4f | %10.0f | %7.1f | |\n", nm, acc->valuedouble, v[0], v[1], v[2], v[3], v[4]);
                shown++;
            }
        cJSON_Delete(j);
    }
    return shown;
}

int lmf_cmd_demo_tag(int argc, char **argv) {
    int quick = 0, nn_epochs = 0;
    const char *dir = NULL, *data = NULL, *nltk = "bench/out/tag-nltk";
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--dir", &missing)) || missing) {
            if (!v) return cli_usage_error("demo tag", "--dir needs a folder");
            dir = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--data", &missing)) || missing) {
            if (!v) return cli_usage_error("demo tag", "--data needs a folder");
            data = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--neural-epochs", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &nn_epochs) || nn_epochs < 1 || nn_epochs > 100)
                return cli_usage_error("demo tag", "--neural-epochs takes 1..100");
        } else if ((v = cli_opt_value(argc, argv, &i, "--nltk", &missing)) || missing) {
            if (!v) return cli_usage_error("demo tag", "--nltk needs a folder");
            nltk = v;
        } else {
            return cli_usage_error("demo tag", "unknown argument \"%s\"", argv[i]);
        }
    }
    if (!dir) dir = quick ? "lmfuse-demo-tag-quick" : "lmfuse-demo-tag";
    if (!nn_epochs) nn_epochs = quick ? 3 : 2;
    if (!data) {
        data = quick ? "sample/brown-tag" : "data/brown";
        char *probe = join(data, "brown-tag.test.conll");
#ifdef LMF_SOURCE_DIR
        if (quick && probe && !exists(probe)) data = LMF_SOURCE_DIR "/sample/brown-tag";
#endif
        if (!quick && probe && !exists(probe)) { /* as `lmfuse data fetch brown` */
            fprintf(stderr, "[demo tag] %s has no tagged Brown split: fetching it (lmfuse data fetch brown)\n", data);
            char a0[] = "data", a1[] = "fetch", a2[] = "brown", *fa[] = {a0, a1, a2, NULL};
            if (lmf_cmd_data(3, fa)) {
                free(probe);
                return 1;
            }
        }
        free(probe);
    }
    if (mkdir(dir, 0777) && errno != EEXIST) {
        lmf_error(LMF_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
        return cli_fail();
    }
    char *ftr = join(data, "brown-tag.train.conll"), *fva = join(data, "brown-tag.valid.conll"),
         *fte = join(data, "brown-tag.test.conll");
    lmf_tagged *tr = NULL, *va = NULL, *te = NULL;
    int rc = 1;
    row rows[32];
    int nrows = 0;
    char *paths[5] = {0};
    const double t0 = cli_now_s();
    if (!ftr || !fva || !fte || lmf_tagged_read(ftr, 1, &tr) || lmf_tagged_read(fva, 1, &va) || lmf_tagged_read(fte, 1, &te))
        goto done;
    fprintf(stderr, "[demo tag] %s: %zu / %zu / %zu train / valid / test tokens; output in %s\n",
            quick ? "the tagged Brown sample" : "tagged Brown", lmf_tagged_ntok(tr), lmf_tagged_ntok(va), lmf_tagged_ntok(te), dir);

    /* members */
    struct {
        const char *name, *file;
        lmf_tagger_kind kind;
        int order, reverse;
    } mem[] = {
        {"HMM, 2nd order (TnT-style)", "hmm2.lmft", LMF_TAGGER_HMM, 2, 0},
        {"perceptron, left to right", "perc.lmft", LMF_TAGGER_PERCEPTRON, 2, 0},
        {"perceptron, right to left", "perc-r2l.lmft", LMF_TAGGER_PERCEPTRON, 2, 1},
        {"BiLSTM + character features", "bilstm.lmft", LMF_TAGGER_NEURAL, 0, 0},
        {"HMM, 1st order", "hmm1.lmft", LMF_TAGGER_HMM, 1, 0},
    };
    enum { K = sizeof mem / sizeof *mem };
    for (int k = 0; k < K; k++) {
        lmf_tagger_opts o;
        lmf_tagger_opts_init(&o);
        o.kind = mem[k].kind;
        o.order = mem[k].order ? mem[k].order : 2;
        o.reverse = mem[k].reverse;
        o.nn_epochs = nn_epochs;
        if (quick) o.nn_hidden = o.nn_emb = 32;
        o.progress = 1;
        lmf_tagger *t;
        const double ts = cli_now_s();
        if (!(paths[k] = join(dir, mem[k].file)) || lmf_tagger_train(&o, tr, &t)) goto done;
        lmf_status s = lmf_tagger_save(t, paths[k]);
        lmf_tagger_free(t);
        if (s) goto done;
        row *r = &rows[nrows++];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", mem[k].name);
        snprintf(r->file, sizeof r->file, "%s", mem[k].file);
        r->member = 1;
        r->secs = cli_now_s() - ts;
        if (eval_row(paths[k], te, r)) goto done;
        fprintf(stderr, "[demo tag] %-28s test %.4f (trained in %.1f s)\n", r->name, r->acc, r->secs);
    }
    /* fusions: of the three strong members (the first-order HMM only in the stack of four) */
    struct {
        const char *name, *file, *method;
        int viterbi, stack, folds, nmem;
    } fus[] = {
        {"average", "f-average.json", "average", 0, 0, 0, 3},
        {"weighted average (EM)", "f-weighted.json", "weighted", 0, 0, 0, 3},
        {"geometric, weighted", "f-geo.json", "geo-weighted", 0, 0, 0, 3},
        {"majority vote", "f-vote.json", "vote", 0, 0, 0, 3},
        {"vote weighted by accuracy", "f-wvote.json", "weighted-vote", 0, 0, 0, 3},
        {"TagPrecision vote", "f-precision-vote.json", "precision-vote", 0, 0, 0, 3},
        {"Precision-Recall vote", "f-pr-vote.json", "precision-recall-vote", 0, 0, 0, 3},
        {"TagPair vote", "f-pair-vote.json", "pair-vote", 0, 0, 0, 3},
        {"weighted + HMM Viterbi", "f-weighted-viterbi.json", "weighted", 1, 0, 0, 3},
        {"stack, blended on valid", "stack-valid.lmft", NULL, 0, 1, 0, 3},
        {"average of 4 (+ BiLSTM)", "f4-average.json", "average", 0, 0, 0, 4},
        {"weighted average of 4 (EM)", "f4-weighted.json", "weighted", 0, 0, 0, 4},
        {"stack of 4 (+ BiLSTM), blended", "stack4-valid.lmft", NULL, 0, 1, 0, 4},
        {"stack, out of fold on train", "stack-oof.lmft", NULL, 0, 1, 5, 3},
    };
    const int member_of[5] = {0, 1, 2, 3, 4}; /* fusions of n take the first n members */
    for (size_t fi = 0; fi < sizeof fus / sizeof *fus; fi++) {
        if (quick && fus[fi].folds) continue;
        lmf_tagger *m[K];
        const char *mp[K];
        const int n = fus[fi].nmem;
        for (int k = 0; k < n; k++) {
            mp[k] = paths[member_of[k]];
            if (lmf_tagger_load(mp[k], &m[k])) {
                for (int j = 0; j < k; j++) lmf_tagger_free(m[j]);
                goto done;
            }
        }
        char *fp = join(dir, fus[fi].file);
        const double ts = cli_now_s();
        lmf_tagger *f = NULL;
        lmf_status s;
        if (fus[fi].stack) {
            lmf_tagstack_opts so;
            lmf_tagstack_opts_init(&so);
            so.folds = fus[fi].folds;
            s = lmf_tagger_stack_fit(m, mp, n, so.folds ? tr : NULL, so.folds ? NULL : va, &so, &f);
        } else {
            s = lmf_tagger_fusion_fit(fus[fi].method, m, mp, n, va, fus[fi].viterbi, &f);
        }
        if (!s) s = lmf_tagger_save(f, fp);
        lmf_tagger_free(f);
        row *r = &rows[nrows++];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", fus[fi].name);
        snprintf(r->file, sizeof r->file, "%s", fus[fi].file);
        r->secs = cli_now_s() - ts;
        if (s || eval_row(fp, te, r)) {
            free(fp);
            goto done;
        }
        free(fp);
        fprintf(stderr, "[demo tag] %-28s test %.4f (fitted in %.1f s)\n", r->name, r->acc, r->secs);
    }
    /* the table */
    double best_member = 0;
    for (int i = 0; i < nrows; i++)
        if (rows[i].member && rows[i].acc > best_member) best_member = rows[i].acc;
    printf("\nlmfuse demo tag (%s): test %zu tokens (%zu sentences); fusions of the 2nd-order HMM and both perceptrons,\n"
           "fitted on valid (%zu tokens); error reduction against the best member on test\n\n",
           quick ? "quick, tagged Brown sample" : "tagged Brown", lmf_tagged_ntok(te), lmf_tagged_nsent(te), lmf_tagged_ntok(va));
    printf("| tagger | accuracy | known | unknown | sentences | tokens/s | train/fit s | error reduction |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nrows; i++) {
        const double red = 1 - (1 - rows[i].acc) / (1 - best_member);
        printf("| %-30s | %.4f | %.4f | %.4f | %.4f | %10.0f | %7.1f | ", rows[i].name, rows[i].acc, rows[i].known,
               rows[i].unknown, rows[i].sent, rows[i].tps, rows[i].secs);
        if (rows[i].member) printf("(member) |\n");
        else printf("%+.1f%% |\n", 100 * red);
    }
    if (!quick && !print_nltk(nltk)) printf("(NLTK's taggers: run bench/tag_nltk.sh to measure them on this machine)\n");
    printf("\ntotal %.1f s; every row: lmfuse tag eval %s/FILE %s\n", cli_now_s() - t0, dir, fte);
    /* results.json */
    char *rj = join(dir, "results.json");
    FILE *jf = rj ? fopen(rj, "w") : NULL;
    if (jf) {
        fprintf(jf, "{\"mode\": \"%s\", \"test\": ", quick ? "quick" : "full");
        cli_json_str(jf, fte, strlen(fte));
        fprintf(jf, ", \"rows\": [");
        for (int i = 0; i < nrows; i++)
            fprintf(jf, "%s{\"name\": \"%s\", \"file\": \"%s\", \"member\": %d, \"accuracy\": %.6f, \"known\": %.6f, "
                        "\"unknown\": %.6f, \"sentences\": %.6f, \"tokens_per_s\": %.1f, \"seconds\": %.2f}",
                    i ? ", " : "", rows[i].name, rows[i].file, rows[i].member, rows[i].acc, rows[i].known, rows[i].unknown,
                    rows[i].sent, rows[i].tps, rows[i].secs);
        fprintf(jf, "]}\n");
        if (fclose(jf) != 0) fprintf(stderr, "[demo tag] cannot write %s\n", rj);
    }
    free(rj);
    rc = 0;
done:
    for (int k = 0; k < 5; k++) free(paths[k]);
    if (rc) cli_fail();
    lmf_tagged_free(tr);
    lmf_tagged_free(va);
    lmf_tagged_free(te);
    free(ftr), free(fva), free(fte);
    return rc;
}
