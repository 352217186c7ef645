/* lmfuse rescore: n-best lists and lattices scored again with lmfuse models,
 * weights tuned on dev by MERT (lmf/rescore.h). */
#include "cli.h"
#include "lmf/rescore.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage_rescore(FILE *fp) {
    fputs("usage:\n"
          "  lmfuse rescore tune DEV-LISTS DEV.ref -m NAME=MODEL [-m NAME=MODEL ...] -o RESCORER.json\n"
          "        [--lattice-lm MODEL] [--lm-scale X] [--wip X] [--beam N] [--nbest N]\n"
          "        [--context WORDS] [--mbr] [--metric wer|bleu] [--restarts N] [--seed N] [--json]\n"
          "  lmfuse rescore apply RESCORER.json LISTS [--ref REF] [-o OUT.trn] [--json]\n"
          "  lmfuse rescore eval LISTS REF [--lattice-lm MODEL] [--lm-scale X] [--nbest N] [--json]\n"
          "  lmfuse rescore wer HYP.trn REF [--json]\n"
          "\n"
          "LISTS: a folder with one file per sentence, read in name order, the id being the\n"
          "file name without its extension: HTK SLF lattices (acoustic scores a= on the links,\n"
          "as pocketsphinx writes them), SRILM n-best lists (\"ascore lmscore nwords words\",\n"
          "NBestList1.0/2.0) or plain \"words score\" lines; or one Moses n-best file\n"
          "(\"id ||| words ||| name= values ||| total\").  Lattices become n-best lists by a\n"
          "beam search under acoustic + lm-scale * ln P(--lattice-lm) + wip * words\n"
          "(the --lattice-lm MODEL file only extracts lists; give it with -m too to use its\n"
          "scores as features)\n"
          "(defaults 10, 0; beam and nbest 100).\n"
          "REF: \"id words...\" per line, in the lists' order.  HYP.trn: \"words (id)\" per line.\n"
          "\n"
          "tune adds, for each model, ln P(words </s>) and its count of out-of-vocabulary words\n"
          "as features, and finds the weights (acoustic, or the lists' total, fixed at 1) that\n"
          "minimise WER (or maximise BLEU) on dev by MERT; apply writes the new 1-best as trn.\n"
          "--context W: each model first reads the last W words the recogniser put out before\n"
          "the sentence (the lists' first hypotheses of the earlier sentences, in order), so\n"
          "neural models and caches see the document so far (default 0: each sentence alone).\n"
          "--mbr: after MERT, try minimum Bayes risk (the hypothesis with the fewest expected\n"
          "errors against the list, weighted by posteriors) at a few posterior scales on dev;\n"
          "kept if it lowers the dev WER.\n"
          "--json prints WER with substitutions, deletions and insertions, the oracle WER and the\n"
          "share of sentences fully right.\n",
          fp);
}

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

static void print_stats(FILE *fp, const char *what, const lmf_errstats *s, const lmf_errstats *o, int json, int bleu, int last) {
    if (json) {
        fprintf(fp, "  \"%s\": {\"wer\": %.6f, \"sub\": %.0f, \"del\": %.0f, \"ins\": %.0f, \"ref_words\": %.0f, "
                    "\"sentences\": %.0f, \"sentences_right\": %.0f",
                what, lmf_errstats_wer(s), s->sub, s->del, s->ins, s->ref_words, s->sents, s->sents_right);
        if (bleu) fprintf(fp, ", \"bleu\": %.6f", lmf_errstats_bleu(s));
        if (o) fprintf(fp, ", \"oracle_wer\": %.6f", lmf_errstats_wer(o));
        fprintf(fp, "}%s\n", last ? "" : ",");
    } else {
        fprintf(fp, "%-10s WER %6.2f%%  (S %.0f, D %.0f, I %.0f of %.0f words)  sentences right %5.1f%%", what,
                100 * lmf_errstats_wer(s), s->sub, s->del, s->ins, s->ref_words,
                s->sents > 0 ? 100 * s->sents_right / s->sents : 0);
        if (bleu) fprintf(fp, "  BLEU %.2f", 100 * lmf_errstats_bleu(s));
        if (o) fprintf(fp, "  oracle WER %.2f%%", 100 * lmf_errstats_wer(o));
        fputc('\n', fp);
    }
}

typedef struct {
    const char *names[LMF_RESCORE_MAX_MODELS], *paths[LMF_RESCORE_MAX_MODELS];
    int K;
    const char *lattice_lm;
    lmf_lattice_opts lo;
    lmf_mert_opts mo;
    const char *out, *ref;
    int json, context, mbr;
    const char *pos[3];
    int np;
} args;

static int parse_args(const char *cmd, int argc, char **argv, args *a, int maxpos) {
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (is_help(argv[i])) {
            usage_rescore(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--json")) {
            a->json = 1;
        } else if (!strcmp(argv[i], "--mbr")) {
            a->mbr = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "-m", &missing))) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1]) return cli_usage_error(cmd, "-m wants NAME=MODEL, not \"%s\"", v);
            if (a->K == LMF_RESCORE_MAX_MODELS) return cli_usage_error(cmd, "at most %d models", LMF_RESCORE_MAX_MODELS);
            char *name = (char *)malloc((size_t)(eq - v) + 1);
            if (!name) return cli_usage_error(cmd, "out of memory");
            memcpy(name, v, (size_t)(eq - v));
            name[eq - v] = 0;
            a->names[a->K] = name;
            a->paths[a->K++] = eq + 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--context", &missing))) {
            if (!lmf_parse_int(v, &a->context) || a->context < 0 || a->context > 100000)
                return cli_usage_error(cmd, "--context wants 0..100000 words, not \"%s\"", v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--lattice-lm", &missing))) {
            a->lattice_lm = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--lm-scale", &missing))) {
            if (!lmf_parse_double(v, &a->lo.lm_scale)) return cli_usage_error(cmd, "--lm-scale wants a number, not \"%s\"", v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--wip", &missing))) {
            if (!lmf_parse_double(v, &a->lo.wip)) return cli_usage_error(cmd, "--wip wants a number, not \"%s\"", v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--beam", &missing))) {
            if (!lmf_parse_int(v, &a->lo.beam) || a->lo.beam < 1 || a->lo.beam > 1000000)
                return cli_usage_error(cmd, "--beam wants 1..1000000, not \"%s\"", v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--nbest", &missing))) {
            if (!lmf_parse_int(v, &a->lo.nbest) || a->lo.nbest < 1 || a->lo.nbest > 1000000)
                return cli_usage_error(cmd, "--nbest wants 1..1000000, not \"%s\"", v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--metric", &missing))) {
            if (!strcmp(v, "wer")) a->mo.metric = LMF_METRIC_WER;
            else if (!strcmp(v, "bleu")) a->mo.metric = LMF_METRIC_BLEU;
            else return cli_usage_error(cmd, "--metric wants wer or bleu, not \"%s\"", v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--restarts", &missing))) {
            if (!lmf_parse_int(v, &a->mo.restarts) || a->mo.restarts < 0 || a->mo.restarts > 100000)
                return cli_usage_error(cmd, "--restarts wants 0..100000, not \"%s\"", v);
        } else if ((v = cli_opt_value(argc, argv, &i, "--seed", &missing))) {
            if (!lmf_parse_u64(v, &a->mo.seed)) return cli_usage_error(cmd, "--seed wants a whole number, not \"%s\"", v);
        } else if ((v = cli_opt_value(argc, argv, &i, "-o", &missing))) {
            a->out = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--ref", &missing))) {
            a->ref = v;
        } else if (missing) {
            return cli_usage_error(cmd, "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error(cmd, "unknown option \"%s\"", argv[i]);
        } else {
            if (a->np == maxpos) return cli_usage_error(cmd, "too many arguments (\"%s\")", argv[i]);
            a->pos[a->np++] = argv[i];
        }
    }
    return -1;
}

static void free_args(args *a) {
    for (int k = 0; k < a->K; k++) free((char *)a->names[k]);
}

/* Defaults, options, and the positional count (npos); -m only where
 * models_ok.  Returns -1 to go on, else the exit status (a freed). */
static int start(const char *cmd, int argc, char **argv, args *a, int npos, int models_ok, const char *want) {
    memset(a, 0, sizeof *a);
    lmf_lattice_opts_init(&a->lo);
    lmf_mert_opts_init(&a->mo);
    int rc = parse_args(cmd, argc, argv, a, npos);
    if (rc < 0 && (a->np != npos || (!models_ok && a->K))) rc = cli_usage_error(cmd, "%s", want);
    if (rc >= 0) free_args(a);
    return rc;
}

static int cmd_tune(int argc, char **argv) {
    args a;
    int rc = start("rescore tune", argc, argv, &a, 2, 1, "wants DEV-LISTS, DEV.ref and -o RESCORER.json");
    if (rc >= 0) return rc;
    if (!a.out) {
        free_args(&a);
        return cli_usage_error("rescore tune", "wants DEV-LISTS, DEV.ref and -o RESCORER.json");
    }
    double t0 = cli_now_s();
    lmf_rescorer *r = NULL;
    lmf_nbest nb;
    lmf_refs refs;
    memset(&nb, 0, sizeof nb);
    memset(&refs, 0, sizeof refs);
    lmf_status s = lmf_rescorer_new(a.names, a.paths, a.K, a.lattice_lm, &a.lo, &r);
    if (!s) s = lmf_rescorer_set_context(r, a.context);
    if (!s) s = lmf_rescorer_read(r, a.pos[0], &nb);
    if (!s) s = lmf_refs_read(a.pos[1], &nb, &refs);
    double t1 = cli_now_s(), score = 0;
    if (!s) s = lmf_rescorer_tune(r, &nb, &refs, &a.mo, &score);
    double mbr_wer = 0;
    if (!s && a.mbr) s = lmf_rescorer_tune_mbr(r, &nb, &refs, a.lo.nbest, &mbr_wer);
    if (!s && a.mbr && !a.json) {
        double sc = lmf_rescorer_mbr_scale(r);
        if (sc > 0) fprintf(stderr, "lmfuse rescore: minimum Bayes risk at posterior scale %g: dev WER %.2f%%\n", sc, 100 * mbr_wer);
        else fprintf(stderr, "lmfuse rescore: minimum Bayes risk did not lower the dev WER; off\n");
    }
    double t2 = cli_now_s();
    size_t *best = s ? NULL : (size_t *)malloc(nb.nutt * sizeof *best);
    double w[LMF_NBEST_MAX_FEATS];
    if (!s && !best) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) s = lmf_rescorer_weights(r, &nb, w);
    if (!s) {
        lmf_errstats first, tuned, oracle;
        lmf_rescore_stats(&nb, &refs, NULL, &first, &oracle);
        if ((s = lmf_rescorer_decide(r, &nb, best))) goto out;
        lmf_rescore_stats(&nb, &refs, best, &tuned, NULL);
        char tuning[1024];
        snprintf(tuning, sizeof tuning,
                 "{\"dev\": \"%s\", \"refs\": \"%s\", \"sentences\": %zu, \"hypotheses\": %zu, \"metric\": \"%s\", "
                 "\"dev_wer\": %.6f, \"dev_bleu\": %.6f, \"top_of_list_wer\": %.6f, \"oracle_wer\": %.6f, "
                 "\"restarts\": %d, \"seed\": %llu, \"seconds_reading\": %.2f, \"seconds_tuning\": %.2f}",
                 a.pos[0], a.pos[1], nb.nutt, nb.nhyp, a.mo.metric == LMF_METRIC_BLEU ? "bleu" : "wer",
                 lmf_errstats_wer(&tuned), lmf_errstats_bleu(&tuned), lmf_errstats_wer(&first), lmf_errstats_wer(&oracle),
                 a.mo.restarts, (unsigned long long)a.mo.seed, t1 - t0, t2 - t1);
        int plain = !strchr(a.pos[0], '"') && !strchr(a.pos[0], '\\') && !strchr(a.pos[1], '"') && !strchr(a.pos[1], '\\');
        s = lmf_rescorer_save(r, a.out, plain ? tuning : NULL);
        if (!s) {
            FILE *fp = stdout;
            int bleu = a.mo.metric == LMF_METRIC_BLEU;
            if (a.json) fprintf(fp, "{\n  \"rescorer\": \"%s\", \"sentences\": %zu, \"hypotheses\": %zu,\n", a.out, nb.nutt, nb.nhyp);
            else fprintf(fp, "dev: %zu sentences, %zu hypotheses, %d features\n", nb.nutt, nb.nhyp, nb.nfeat);
            print_stats(fp, "top", &first, &oracle, a.json, bleu, 0);
            print_stats(fp, "tuned", &tuned, NULL, a.json, bleu, 0);
            if (a.json) fprintf(fp, "  \"weights\": {");
            for (int f = 0; f < nb.nfeat; f++) {
                if (a.json) {
                    fprintf(fp, "%s", f ? ", " : "");
                    cli_json_str(fp, nb.feat[f], strlen(nb.feat[f]));
                    fprintf(fp, ": %.9g", w[f]);
                } else {
                    fprintf(fp, "  weight %-24s %12.6g\n", nb.feat[f], w[f]);
                }
            }
            if (a.json) fprintf(fp, "}\n}\n");
            else fprintf(fp, "wrote %s (%.1f s reading and scoring, %.1f s tuning)\n", a.out, t1 - t0, t2 - t1);
        }
    }
out:
    free(best);
    lmf_refs_free(&refs);
    lmf_nbest_free(&nb);
    lmf_rescorer_free(r);
    free_args(&a);
    return s ? cli_fail() : 0;
}

static lmf_status write_trn(const char *path, const lmf_nbest *nb, const size_t *best) {
    FILE *fp = strcmp(path, "-") ? fopen(path, "w") : stdout;
    if (!fp) return lmf_error(LMF_ERR_IO, "%s: cannot write", path);
    for (size_t u = 0; u < nb->nutt; u++) {
        const lmf_nbest_hyp *h = &nb->hyp[best[u]];
        for (int32_t i = 0; i < h->n; i++) {
            size_t len;
            const char *w = lmf_vocab_word(nb->words, nb->tok[h->w0 + (size_t)i], &len);
            fwrite(w, 1, len, fp);
            fputc(' ', fp);
        }
        fprintf(fp, "(%s)\n", nb->utt[u].id);
    }
    int bad = ferror(fp);
    if (fp != stdout) bad |= fclose(fp) != 0;
    return bad ? lmf_error(LMF_ERR_IO, "%s: write failed", path) : LMF_OK;
}

static int cmd_apply(int argc, char **argv) {
    args a;
    int rc = start("rescore apply", argc, argv, &a, 2, 0, "wants RESCORER.json and LISTS (the models are in the rescorer)");
    if (rc >= 0) return rc;
    lmf_rescorer *r = NULL;
    lmf_nbest nb;
    lmf_refs refs;
    memset(&nb, 0, sizeof nb);
    memset(&refs, 0, sizeof refs);
    double w[LMF_NBEST_MAX_FEATS];
    lmf_status s = lmf_rescorer_load(a.pos[0], &r);
    if (!s) s = lmf_rescorer_read(r, a.pos[1], &nb);
    if (!s && a.ref) s = lmf_refs_read(a.ref, &nb, &refs);
    if (!s) s = lmf_rescorer_weights(r, &nb, w);
    size_t *best = s ? NULL : (size_t *)malloc(nb.nutt * sizeof *best);
    if (!s && !best) s = lmf_error(LMF_ERR_NOMEM, "out of memory");
    if (!s) s = lmf_rescorer_decide(r, &nb, best);
    if (!s) {
        if (a.out) s = write_trn(a.out, &nb, best);
        else if (!a.ref) s = write_trn("-", &nb, best);
    }
    if (!s && a.ref) {
        lmf_errstats first, tuned, oracle;
        lmf_rescore_stats(&nb, &refs, NULL, &first, &oracle);
        lmf_rescore_stats(&nb, &refs, best, &tuned, NULL);
        if (a.json) printf("{\n  \"sentences\": %zu, \"hypotheses\": %zu,\n", nb.nutt, nb.nhyp);
        print_stats(stdout, "top", &first, &oracle, a.json, 0, 0);
        print_stats(stdout, "rescored", &tuned, NULL, a.json, 0, 1);
        if (a.json) printf("}\n");
    }
    free(best);
    lmf_refs_free(&refs);
    lmf_nbest_free(&nb);
    lmf_rescorer_free(r);
    free_args(&a);
    return s ? cli_fail() : 0;
}

static int cmd_eval(int argc, char **argv) {
    args a;
    int rc = start("rescore eval", argc, argv, &a, 2, 0, "wants LISTS and REF");
    if (rc >= 0) return rc;
    lmf_model *m = NULL;
    lmf_nbest nb;
    lmf_refs refs;
    memset(&nb, 0, sizeof nb);
    memset(&refs, 0, sizeof refs);
    lmf_status s = a.lattice_lm ? lmf_model_load(a.lattice_lm, &m) : LMF_OK;
    a.lo.lm = m;
    if (!s) s = lmf_nbest_read(a.pos[0], &a.lo, &nb);
    if (!s) s = lmf_refs_read(a.pos[1], &nb, &refs);
    if (!s) {
        lmf_errstats first, oracle;
        lmf_rescore_stats(&nb, &refs, NULL, &first, &oracle);
        if (a.json) printf("{\n  \"format\": \"%s\", \"sentences\": %zu, \"hypotheses\": %zu,\n", nb.format, nb.nutt, nb.nhyp);
        else printf("%s lists: %zu sentences, %zu hypotheses\n", nb.format, nb.nutt, nb.nhyp);
        print_stats(stdout, "top", &first, &oracle, a.json, 0, 1);
        if (a.json) printf("}\n");
    }
    lmf_refs_free(&refs);
    lmf_nbest_free(&nb);
    lmf_model_free(m);
    free_args(&a);
    return s ? cli_fail() : 0;
}

static int cmd_wer(int argc, char **argv) {
    args a;
    int rc = start("rescore wer", argc, argv, &a, 2, 0, "wants HYP.trn and REF");
    if (rc >= 0) return rc;
    lmf_nbest nb;
    lmf_refs refs;
    memset(&refs, 0, sizeof refs);
    lmf_status s = lmf_nbest_read_trn(a.pos[0], &nb);
    if (!s) s = lmf_refs_read(a.pos[1], &nb, &refs);
    if (!s) {
        lmf_errstats st;
        lmf_rescore_stats(&nb, &refs, NULL, &st, NULL);
        if (a.json) printf("{\n  \"sentences\": %zu,\n", nb.nutt);
        print_stats(stdout, "hyp", &st, NULL, a.json, 1, 1);
        if (a.json) printf("}\n");
    }
    lmf_refs_free(&refs);
    if (!s) lmf_nbest_free(&nb);
    free_args(&a);
    return s ? cli_fail() : 0;
}

int lmf_cmd_rescore(int argc, char **argv) {
    if (argc < 2) {
        usage_rescore(stderr);
        return 2;
    }
    if (is_help(argv[1]) || !strcmp(argv[1], "help")) {
        usage_rescore(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "tune")) return cmd_tune(argc - 1, argv + 1);
    if (!strcmp(argv[1], "apply")) return cmd_apply(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(argv[1], "wer")) return cmd_wer(argc - 1, argv + 1);
    return cli_usage_error("rescore", "unknown subcommand \"%s\" (tune, apply, eval, wer)", argv[1]);
}
