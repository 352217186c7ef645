/* lmfuse demo: the main job.  On the Brown split (or, with --quick, the
 * sample shipped in sample/brown), trains a Kneser-Ney 5-gram and the four
 * neural architectures (two or more at a time, one process each), tunes
 * linear, log-linear and gated fusion of the five on valid, scores test with
 * every member and fusion in one pass, and prints one table.  Everything it
 * makes (models, recipes, results.json) stays in --dir, so each number can be
 * reproduced with `lmfuse ppl`. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, open_memstream */
#include "cli.h"
#include "lmf/eval.h"
#include "lmf/fuse.h"
#include "lmf/model.h"
#include "lmf/ngram.h"
#include "lmf/train.h"

#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NJOB 5   /* the 5-gram and four neural models */
#define NNEUR 4  /* jobs 0..3 are neural */
#define NCACHE 2 /* continuous caches, over the two best neural models on valid */
#define NMEM (NJOB + NCACHE) /* the fused members: the five models and two caches */
#define NFUSE 4  /* linear, log-linear, gate; the best neural model with its cache */

static void help(FILE *fp) {
    fprintf(fp,
            "usage: lmfuse demo [--quick] [--dir DIR] [--data DIR] [--jobs N]\n"
            "       lmfuse demo classify [--quick] ...   (document classification: see its --help)\n"
            "       lmfuse demo tag [--quick] ...        (part-of-speech tagging: see its --help)\n"
            "\n"
            "The main job.  Trains a Kneser-Ney 5-gram and an RNN, LSTM, GRU and Transformer\n"
            "on the Brown split, tunes a continuous cache over the two best neural models\n"
            "(window and theta by grid search), then linear (EM), log-linear (Newton) and\n"
            "gated (L-BFGS) fusion of the five models and two caches on valid, scores test with\n"
            "every member and fusion, and prints one table of valid/test perplexity with\n"
            "timings.  About 15 minutes on 2 cores; the Brown corpus is fetched first if\n"
            "data/brown holds no split.\n"
            "\n"
            "options:\n"
            "  --quick       small models on the Brown sample shipped in sample/brown\n"
            "                (about 2 minutes, offline)\n"
            "  --dir DIR     where models, recipes and results.json go\n"
            "                (default lmfuse-demo, or lmfuse-demo-quick)\n"
            "  --data DIR    a folder with brown.train.txt, brown.valid.txt, brown.test.txt\n"
            "                (default data/brown, or sample/brown)\n"
            "  --jobs N      models trained at once, and threads of the scoring passes\n"
            "                (default: the number of cores, at most 4)\n"
            "  --epochs N    epochs of every neural model (default: sized per model,\n"
            "                full 1-3, quick 6)\n"
            "\n"
            "Every number in the table can be reproduced from DIR, e.g.\n"
            "  lmfuse ppl DIR/gate.json DATA/brown.test.txt\n");
}

static void fmt_dur(char *b, size_t n, double s) {
    if (!(s >= 0) || s > 359999) snprintf(b, n, "--");
    else if (s < 60) snprintf(b, n, "%.0fs", s);
    else if (s < 3600) snprintf(b, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(b, n, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
}

static void fmt_bar(char *b, int width, double frac) {
    int k = (int)(frac * width + 0.5);
    k = k < 0 ? 0 : k > width ? width : k;
    b[0] = '[';
    for (int i = 0; i < width; i++) b[1 + i] = i < k ? '#' : '.';
    b[width + 1] = ']';
    b[width + 2] = 0;
}

/* ---- jobs: one model each, trained in a child process ---- */
typedef struct slot { /* shared with the child (MAP_SHARED) */
    volatile int state; /* 0 waiting, 1 running, 2 done, 3 failed */
    volatile int epoch, epochs, validating;
    volatile double frac, train_ppl, valid_ppl, tps, seconds;
    char err[1024];
} slot;

typedef struct job {
    const char *name, *file, *desc;
    int ngram;
    lmf_train_opts o;
    pid_t pid;
    double t0, secs; /* start; training time */
    double valid_ppl;  /* at the end of training (neural) */
} job;

static void on_train(void *user, const lmf_train_progress *p) {
    slot *s = (slot *)user;
    s->epoch = p->epoch;
    s->epochs = p->epochs;
    s->validating = p->validating;
    s->frac = p->total_steps ? (double)p->step / (double)p->total_steps : 0;
    s->train_ppl = p->train_ppl;
    s->valid_ppl = p->valid_ppl;
    s->tps = p->tokens_per_s;
}

/* In the child: trains job j, reports through s, never returns. */
static void run_job(job *j, slot *s, const char *train) {
    double t0 = cli_now_s();
    lmf_status st;
    lmf_set_threads(1);
    if (j->ngram) {
        lmf_ngram_train_opts no;
        lmf_ngram_train_opts_init(&no);
        no.order = 5;
        st = lmf_ngram_train_save(train, &no, j->file, NULL, NULL);
        s->frac = 1;
    } else {
        j->o.on_progress = on_train;
        j->o.progress_user = s;
        lmf_train_result r;
        st = lmf_train(&j->o, &r);
    }
    s->seconds = cli_now_s() - t0;
    if (st) snprintf(s->err, sizeof s->err, "%s", lmf_last_error());
    s->state = st ? 3 : 2;
    _exit(st ? 1 : 0);
}

typedef struct view {
    int tty, lines;   /* lines drawn last time (tty) */
    double last_note; /* non-tty: when the last status lines were printed */
} view;

static void draw_jobs(view *v, job *jobs, slot *sl, int n, int final) {
    double t = cli_now_s();
    if (!v->tty && !final && t - v->last_note < 30) return;
    v->last_note = t;
    if (v->tty && v->lines) fprintf(stderr, "\033[%dF", v->lines);
    for (int i = 0; i < n; i++) {
        const slot *s = &sl[i];
        char bar[40], eta[16], el[16];
        fmt_bar(bar, 24, s->state == 2 ? 1 : s->frac);
        double el_s = s->state >= 2 ? s->seconds : s->state == 1 ? t - jobs[i].t0 : 0;
        fmt_dur(el, sizeof el, el_s);
        fprintf(stderr, "  %-12s %s %3.0f%% ", jobs[i].name, bar, 100 * (s->state == 2 ? 1 : s->frac));
        if (s->state == 0) {
            fprintf(stderr, "waiting");
        } else if (s->state == 3) {
            fprintf(stderr, "FAILED");
        } else if (s->state == 1 && !jobs[i].ngram && s->epochs == 0) {
            fprintf(stderr, "reading the data");
        } else if (jobs[i].ngram) {
            fprintf(stderr, "%s %s", s->state == 2 ? "done in" : "estimating", el);
        } else {
            fmt_dur(eta, sizeof eta, s->frac > 0.01 ? el_s * (1 - s->frac) / s->frac : -1);
            fprintf(stderr, "epoch %d/%d  train ppl %7.2f", s->epoch, s->epochs, s->train_ppl);
            if (s->valid_ppl > 0) fprintf(stderr, "  valid %7.2f", s->valid_ppl);
            if (s->state == 2)
                fprintf(stderr, "  done in %s", el);
            else
                fprintf(stderr, "  %6.0f tok/s  %s%s", s->tps, s->validating ? "validating " : "ETA ",
                        s->validating ? "" : eta);
        }
        fprintf(stderr, v->tty ? "\033[K\n" : "\n");
    }
    v->lines = n;
    fflush(stderr);
}

/* Runs the jobs, `par` at a time; 0 when all succeeded. */
static int run_jobs(job *jobs, int n, int par, const char *train) {
    slot *sl = (slot *)mmap(NULL, (size_t)n * sizeof *sl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sl == MAP_FAILED) {
        fprintf(stderr, "lmfuse demo: cannot map shared memory: %s\n", strerror(errno));
        return 1;
    }
    memset(sl, 0, (size_t)n * sizeof *sl);
    view v = {isatty(2), 0, 0};
    int next = 0, running = 0, failed = 0;
    fflush(NULL);
    while (next < n || running) {
        while (running < par && next < n && !failed) {
            job *j = &jobs[next];
            sl[next].state = 1;
            j->t0 = cli_now_s();
            pid_t p = fork();
            if (p == 0) run_job(j, &sl[next], train);
            if (p < 0) {
                snprintf(sl[next].err, sizeof sl[next].err, "fork: %s", strerror(errno));
                sl[next].state = 3;
                failed = 1;
            } else {
                j->pid = p;
                running++;
            }
            next++;
        }
        if (failed && next < n) next = n; /* start nothing more */
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p > 0) {
            for (int i = 0; i < n; i++)
                if (jobs[i].pid == p) {
                    jobs[i].pid = 0;
                    if (sl[i].state == 1) { /* died without reporting */
                        snprintf(sl[i].err, sizeof sl[i].err, "the training process ended abnormally (%s %d)",
                                 WIFSIGNALED(status) ? "signal" : "status",
                                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
                        sl[i].state = 3;
                    }
                    if (sl[i].state == 3) failed = 1;
                }
            running--;
            continue;
        }
        if (p < 0 && running) { /* no children left: should not happen */
            running = 0;
            failed = 1;
        }
        draw_jobs(&v, jobs, sl, n, 0);
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
    }
    draw_jobs(&v, jobs, sl, n, 1);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (sl[i].state == 3) {
            fprintf(stderr, "lmfuse demo: %s: %s\n", jobs[i].name, sl[i].err);
            bad = 1;
        } else if (sl[i].state != 2) {
            bad = 1;
        }
        jobs[i].secs = sl[i].seconds;
        jobs[i].valid_ppl = sl[i].valid_ppl;
    }
    munmap(sl, (size_t)n * sizeof *sl);
    return bad;
}

/* ---- a progress bar for one long pass ---- */
typedef struct pass {
    const char *what;
    double t0, last;
    int tty, quarter;
} pass;

static void on_pass(void *user, double done, double total) {
    pass *p = (pass *)user;
    double t = cli_now_s(), f = total > 0 ? done / total : 1;
    if (p->tty) {
        if (t - p->last < 0.2 && done < total) return;
        p->last = t;
        char bar[40], eta[16];
        fmt_bar(bar, 30, f);
        fmt_dur(eta, sizeof eta, f > 0.01 ? (t - p->t0) * (1 - f) / f : -1);
        fprintf(stderr, "\r  %-28s %s %3.0f%%  ETA %s\033[K", p->what, bar, 100 * f, eta);
    } else if ((int)(f * 4) > p->quarter) {
        p->quarter = (int)(f * 4);
        fprintf(stderr, "  %s: %3.0f%% (%.0fs)\n", p->what, 100 * f, t - p->t0);
    }
}

static void pass_start(pass *p, const char *what) {
    p->what = what;
    p->t0 = p->last = cli_now_s();
    p->tty = isatty(2);
    p->quarter = 0;
}

static double pass_end(pass *p) {
    double s = cli_now_s() - p->t0;
    if (p->tty) fprintf(stderr, "\r\033[K");
    return s;
}

/* ---- continuous caches: one grid search per neural model, in threads ---- */
typedef struct ctune {
    lmf_model *model;
    const lmf_tokens *dev;
    lmf_ncache_tune_opts o;
    lmf_ncache_fit fit;
    double secs;
    int failed;
    char err[1024];
    struct cshared *sh;
    int idx;
} ctune;

typedef struct cshared {
    pthread_mutex_t mu;
    ctune *jobs;
    int n, next;
    double done[NCACHE], total;
    pass *ps;
} cshared;

static void on_ctune(void *user, double done, double total) {
    ctune *c = (ctune *)user;
    cshared *sh = c->sh;
    pthread_mutex_lock(&sh->mu);
    sh->done[c->idx] = done / total;
    double sum = 0;
    for (int i = 0; i < sh->n; i++) sum += sh->done[i];
    on_pass(sh->ps, sum, sh->n);
    pthread_mutex_unlock(&sh->mu);
}

static void *ctune_worker(void *arg) {
    cshared *sh = (cshared *)arg;
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        int i = sh->next < sh->n ? sh->next++ : -1;
        pthread_mutex_unlock(&sh->mu);
        if (i < 0) return NULL;
        ctune *c = &sh->jobs[i];
        double t0 = cli_now_s();
        c->o.progress = on_ctune;
        c->o.progress_user = c;
        if (lmf_tune_ncache(c->model, c->dev, &c->o, &c->fit)) {
            c->failed = 1;
            snprintf(c->err, sizeof c->err, "%s", lmf_last_error());
        }
        c->secs = cli_now_s() - t0;
    }
}

/* Tunes the n caches, par at a time; 0 on success. */
static int run_ctunes(ctune *cj, int n, int par, pass *ps) {
    cshared sh;
    memset(&sh, 0, sizeof sh);
    pthread_mutex_init(&sh.mu, NULL);
    sh.jobs = cj;
    sh.n = n;
    sh.ps = ps;
    for (int i = 0; i < n; i++) cj[i].sh = &sh, cj[i].idx = i;
    pthread_t th[NCACHE];
    int nt = par < n ? par : n, started = 0;
    for (int t = 0; t < nt; t++)
        if (!pthread_create(&th[t], NULL, ctune_worker, &sh)) started++;
    if (!started) ctune_worker(&sh);
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    pthread_mutex_destroy(&sh.mu);
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (cj[i].failed) fprintf(stderr, "lmfuse demo: continuous cache %d: %s\n", i + 1, cj[i].err), bad = 1;
    return bad;
}

/* ---- helpers ---- */
static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = (char *)malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Loads the first n of the members' files. */
static int load_all(char *const *files, int n, lmf_model **m) {
    for (int k = 0; k < n; k++) {
        if (lmf_model_load(files[k], &m[k])) {
            for (int i = 0; i < k; i++) lmf_model_free(m[i]);
            return 1;
        }
    }
    return 0;
}

/* The recipe's "tuning" record. */
static char *tuning_json(const char *method, const char *dev, size_t n, double ppl, double secs, const char *extra) {
    char *js = NULL;
    size_t jl = 0;
    FILE *f = open_memstream(&js, &jl);
    if (!f) return NULL;
    fprintf(f, "{\"method\":\"%s\",\"by\":\"lmfuse demo\",\"dev\":", method);
    cli_json_str(f, dev, strlen(dev));
    fprintf(f, ",\"dev_tokens\":%zu,\"dev_ppl\":%.6f,\"cpu_seconds\":%.3f%s}", n, ppl, secs, extra ? extra : "");
    if (fclose(f)) {
        free(js);
        return NULL;
    }
    return js;
}

static double ppl_of(const lmf_tokens *t, const float *lp) {
    lmf_ppl r;
    lmf_eval_ppl_from(t, lp, &r);
    return r.ppl;
}

int lmf_cmd_demo(int argc, char **argv) {
    int quick = 0, par = 0, epochs = 0;
    const char *dir = NULL, *data = NULL;
    if (argc > 1 && !strcmp(argv[1], "classify")) return lmf_cmd_demo_classify(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "tag")) return lmf_cmd_demo_tag(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if ((v = cli_opt_value(argc, argv, &i, "--dir", &missing)) || missing) {
            if (!v) return cli_usage_error("demo", "--dir needs a folder");
            dir = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--data", &missing)) || missing) {
            if (!v) return cli_usage_error("demo", "--data needs a folder");
            data = v;
        } else if ((v = cli_opt_value(argc, argv, &i, "--jobs", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &par) || par < 1 || par > 64)
                return cli_usage_error("demo", "--jobs takes a number 1..64");
        } else if ((v = cli_opt_value(argc, argv, &i, "--epochs", &missing)) || missing) {
            if (!v || !lmf_parse_int(v, &epochs) || epochs < 1 || epochs > 1000)
                return cli_usage_error("demo", "--epochs takes a number 1..1000");
        } else {
            return cli_usage_error("demo", "unknown argument \"%s\"", argv[i]);
        }
    }
    if (!par) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        par = nc < 1 ? 1 : nc > 4 ? 4 : (int)nc;
    }
    if (!dir) dir = quick ? "lmfuse-demo-quick" : "lmfuse-demo";
    if (!data) {
        data = quick ? "sample/brown" : "data/brown";
#ifdef LMF_SOURCE_DIR
        char *probe = join(data, "brown.train.txt");
        if (quick && probe && !file_exists(probe)) data = LMF_SOURCE_DIR "/sample/brown";
        free(probe);
#endif
        char *tr = join(data, "brown.test.txt");
        if (!quick && tr && !file_exists(tr)) { /* fetch the corpus, as `lmfuse data fetch brown` */
            fprintf(stderr, "[demo] %s has no Brown split: fetching it (lmfuse data fetch brown)\n", data);
            char a0[] = "data", a1[] = "fetch", a2[] = "brown", *fa[] = {a0, a1, a2, NULL};
            if (lmf_cmd_data(3, fa)) {
                free(tr);
                return 1;
            }
        }
        free(tr);
    }
    char *train = join(data, "brown.train.txt"), *valid = join(data, "brown.valid.txt"),
         *test = join(data, "brown.test.txt");
    if (!train || !valid || !test) return cli_fail();
    const char *need[3] = {train, valid, test};
    for (int i = 0; i < 3; i++)
        if (!file_exists(need[i])) {
            fprintf(stderr, "lmfuse demo: %s is missing; %s\n", need[i],
                    quick ? "give --data DIR with brown.{train,valid,test}.txt (the repository ships sample/brown)"
                          : "run `lmfuse data fetch brown` (or give --data DIR)");
            free(train), free(valid), free(test);
            return 1;
        }
    if (mkdir(dir, 0777) && errno != EEXIST) {
        fprintf(stderr, "lmfuse demo: cannot create %s: %s\n", dir, strerror(errno));
        free(train), free(valid), free(test);
        return 1;
    }
    double T0 = cli_now_s();
    int rc = 1;

    /* The vocabulary size sets the class count of the neural output layers
     * (about sqrt(V) is fastest); read it from the training text. */
    lmf_vocab *voc = NULL;
    lmf_model *m[NMEM] = {0};
    lmf_tokens dev = {0}, tst = {0};
    float *lp[NMEM + NFUSE] = {0};
    lmf_gate_fit fit = {0};
    char *files[NMEM] = {0}, *recipes[NFUSE] = {0};
    ctune cj[NCACHE];
    int cof[NCACHE]; /* the job each cache is over */
    memset(cj, 0, sizeof cj);
    if (lmf_vocab_build_file(train, NULL, &voc)) {
        cli_fail();
        goto done;
    }
    int V = lmf_vocab_size(voc), classes = (int)(sqrt((double)V) + 0.5);
    lmf_vocab_free(voc);
    voc = NULL;

    /* ---- the members ---- */
    static const char *const names[NJOB] = {"transformer", "lstm", "gru", "rnn", "KN 5-gram"};
    static const char *const fnames[NJOB] = {"transformer.safetensors", "lstm.safetensors", "gru.safetensors",
                                             "rnn.safetensors", "kn5.lmfb"};
    job jobs[NJOB];
    memset(jobs, 0, sizeof jobs);
    char descs[NJOB][96];
    for (int k = 0; k < NJOB; k++) {
        job *j = &jobs[k];
        j->name = names[k];
        if (!(files[k] = join(dir, fnames[k]))) goto done;
        j->file = files[k];
        if (k == NJOB - 1) {
            j->ngram = 1;
            snprintf(descs[k], sizeof descs[k], "order 5, interpolated modified Kneser-Ney");
            j->desc = descs[k];
            continue;
        }
        lmf_train_opts *o = &j->o;
        lmf_train_opts_init(o);
        o->arch = k == 0 ? "transformer" : k == 1 ? "lstm" : k == 2 ? "gru" : "rnn";
        o->layers = 2;
        o->hidden = o->emb = quick ? 128 : 256;
        o->tied = 1;
        o->dropout = quick ? 0.3f : 0.2f;
        o->classes = classes;
        o->batch = quick ? 16 : 32;
        o->bptt = 35;
        o->threads = 1;
        o->seed = 1;
        o->train = train;
        o->valid = valid;
        o->out = j->file;
        o->checkpoint_every = 0;
        o->log_seconds = -1;
        if (k == 0) {
            o->heads = 4;
            o->ff = 4 * o->hidden;
            o->ctx = quick ? 32 : 64;
        }
        /* epochs sized for ~15 minutes on 2 cores (full) / ~2 minutes (quick) */
        static const int ep_full[4] = {1, 2, 2, 3}, ep_quick[4] = {6, 6, 6, 6};
        o->epochs = epochs ? epochs : quick ? ep_quick[k] : ep_full[k];
        snprintf(descs[k], sizeof descs[k], "2 x %d, %d classes, %d epoch%s", o->hidden, classes, o->epochs,
                 o->epochs == 1 ? "" : "s");
        j->desc = descs[k];
    }
    fprintf(stderr, "[demo] %s: train %s, valid %s, test %s; models in %s/\n",
            quick ? "quick run on the Brown sample" : "Brown corpus", train, valid, test, dir);
    fprintf(stderr, "[demo] 1/5 training 5 models, %d at a time (vocabulary %d words, %d output classes)\n", par, V,
            classes);
    double t_train = cli_now_s();
    if (run_jobs(jobs, NJOB, par, train)) goto done;
    t_train = cli_now_s() - t_train;

    /* ---- continuous caches over the neural models ---- */
    char cdisp[NCACHE][48];
    for (int i = 0, used = 0; i < NCACHE; i++) { /* the best neural models by their final valid ppl */
        int b = -1;
        for (int k = 0; k < NNEUR; k++)
            if (!(used >> k & 1) && (b < 0 || jobs[k].valid_ppl < jobs[b].valid_ppl)) b = k;
        used |= 1 << b;
        cof[i] = b;
        char cn[64];
        snprintf(cn, sizeof cn, "%s.cache.json", jobs[b].o.arch);
        snprintf(cdisp[i], sizeof cdisp[i], "cache: %s", jobs[b].name);
        if (!(files[NJOB + i] = join(dir, cn))) goto done;
    }
    if (load_all(files, NJOB, m)) {
        cli_fail();
        goto done;
    }
    if (lmf_tokens_read_file(valid, lmf_model_vocab(m[0]), NULL, &dev) ||
        lmf_tokens_read_file(test, lmf_model_vocab(m[0]), NULL, &tst)) {
        cli_fail();
        goto done;
    }
    fprintf(stderr, "[demo] 2/5 continuous caches (Grave et al. 2017) over the two best neural models on valid, %s and "
                    "%s: window and theta by grid search on valid\n", jobs[cof[0]].name, jobs[cof[1]].name);
    lmf_set_threads(1);
    pass ps;
    pass_start(&ps, "valid: caches' grid search");
    for (int i = 0; i < NCACHE; i++) {
        cj[i].model = m[cof[i]];
        cj[i].dev = &dev;
        lmf_ncache_tune_opts_init(&cj[i].o);
    }
    int cfail = run_ctunes(cj, NCACHE, par, &ps);
    double t_cache = pass_end(&ps);
    if (cfail) goto done;
    for (int k = 0; k < NCACHE; k++) {
        char *js = cli_ncache_tuning_json(valid, dev.n, &cj[k].fit, cj[k].secs, "lmfuse demo");
        lmf_status cs = js ? lmf_ncache_write(files[NJOB + k], jobs[cof[k]].file, cj[k].fit.window, cj[k].fit.theta,
                                              cj[k].fit.floor, js)
                           : lmf_error(LMF_ERR_NOMEM, "out of memory");
        free(js);
        if (cs) {
            cli_fail();
            goto done;
        }
        fprintf(stderr, "[demo]   %-12s window %5d, theta %.4g: valid ppl %.2f alone, %.2f with its cache (weight %.3f)\n",
                jobs[cof[k]].name, cj[k].fit.window, cj[k].fit.theta, cj[k].fit.ppl_model, cj[k].fit.ppl,
                cj[k].fit.lambda);
    }
    for (int k = 0; k < NJOB; k++) {
        lmf_model_free(m[k]);
        m[k] = NULL;
    }

    lmf_set_threads(par);
    /* ---- tuning on valid ---- */
    if (load_all(files, NMEM, m)) {
        cli_fail();
        goto done;
    }
    fprintf(stderr, "[demo] 3/5 gate and linear fusion of the 5 models and 2 caches: every member's distributions over "
                    "valid (%zu tokens), then EM and L-BFGS\n", dev.n);
    pass_start(&ps, "valid: features");
    lmf_gate_tune_opts go = {0};
    go.folds = 3;
    go.progress = on_pass;
    go.progress_user = &ps;
    lmf_status s = lmf_tune_gate(m, NMEM, &dev, &go, &fit); /* takes the members */
    for (int k = 0; k < NMEM; k++) m[k] = NULL;
    double t_gate = pass_end(&ps);
    if (s) {
        cli_fail();
        goto done;
    }
    fprintf(stderr, "[demo]   linear (EM): valid ppl %.2f; gate: %.2f (%d L-BFGS iterations); 3-fold held-out "
                    "estimate: linear %.2f, gate %.2f (%.0fs)\n",
            fit.ppl_linear, fit.ppl, fit.iterations, fit.cv_ppl_linear, fit.cv_ppl, t_gate);

    fprintf(stderr, "[demo] 4/5 log-linear fusion: projected Newton on stored distributions of valid\n");
    if (load_all(files, NMEM, m)) {
        cli_fail();
        goto done;
    }
    double wll[NMEM];
    for (int k = 0; k < NMEM; k++) wll[k] = 1.0 / NMEM;
    lmf_tune_ll_opts lo = {0};
    lo.max_bytes = (size_t)256 << 20;
    lo.progress = on_pass;
    lo.progress_user = &ps;
    lmf_tune_info li;
    pass_start(&ps, "valid: sampled distributions");
    s = lmf_tune_loglinear(m, NMEM, &dev, &lo, wll, &li);
    double t_ll = pass_end(&ps);
    if (s) {
        cli_fail();
        goto done;
    }
    fprintf(stderr, "[demo]   log-linear: valid ppl %.2f over %zu of %zu positions, %d Newton iterations (%.0fs)\n",
            li.ppl, li.positions, li.dev_tokens, li.iterations, t_ll);

    /* ---- recipes ---- */
    int bn = 0; /* the cache whose model is best on valid, for "model + its cache" */
    for (int i = 1; i < NCACHE; i++)
        if (fit.ppl_member[cof[i]] < fit.ppl_member[cof[bn]]) bn = i;
    double wmc[NMEM] = {0}, wmc2[2] = {1 - cj[bn].fit.lambda, cj[bn].fit.lambda};
    wmc[cof[bn]] = wmc2[0];
    wmc[NJOB + bn] = wmc2[1];
    lmf_fuse_opts fo[NFUSE];
    lmf_gate_params gp;
    lmf_gate_fit_params(&fit, &gp);
    for (int i = 0; i < NFUSE; i++) lmf_fuse_opts_init(&fo[i]);
    fo[0].comb = LMF_COMB_LINEAR;
    fo[0].weights = fit.w_linear;
    fo[1].comb = LMF_COMB_LOGLINEAR;
    fo[1].weights = wll;
    fo[2].comb = LMF_COMB_GATE;
    fo[2].weights = fit.w_linear;
    fo[2].gate = &gp;
    fo[3].comb = LMF_COMB_LINEAR;
    fo[3].weights = wmc;
    char mcname[64];
    snprintf(mcname, sizeof mcname, "%s+cache.json", jobs[cof[bn]].o.arch);
    const char *rnames[NFUSE] = {"linear.json", "loglinear.json", "gate.json", mcname};
    const char *mpaths[NMEM];
    for (int k = 0; k < NMEM; k++) mpaths[k] = files[k];
    for (int i = 0; i < NFUSE; i++) {
        char extra[160];
        if (i == 1)
            snprintf(extra, sizeof extra, ",\"exact\":%s,\"positions\":%zu", li.exact ? "true" : "false", li.positions);
        else if (i == 2)
            snprintf(extra, sizeof extra, ",\"folds\":%d,\"cv_ppl_linear\":%.6f,\"cv_ppl\":%.6f", fit.folds,
                     fit.cv_ppl_linear, fit.cv_ppl);
        else
            extra[0] = 0;
        static const char *const meth[NFUSE] = {"em", "projected-newton", "lbfgs-blending", "em+grid"};
        const double vppl[NFUSE] = {fit.ppl_linear, li.ppl, fit.ppl, cj[bn].fit.ppl};
        const double vsec[NFUSE] = {t_gate, t_ll, t_gate, cj[bn].secs};
        char *js = tuning_json(meth[i], valid, dev.n, vppl[i], vsec[i], extra);
        if (!(recipes[i] = join(dir, rnames[i])) || !js) {
            free(js);
            fprintf(stderr, "lmfuse demo: out of memory\n");
            goto done;
        }
        if (i == 3) { /* just the two members */
            const char *two[2] = {files[cof[bn]], files[NJOB + bn]};
            lmf_fuse_opts f2 = fo[3];
            f2.weights = wmc2;
            s = lmf_recipe_write(recipes[i], &f2, two, 2, js);
        } else {
            s = lmf_recipe_write(recipes[i], &fo[i], mpaths, NMEM, js);
        }
        free(js);
        if (s) {
            cli_fail();
            goto done;
        }
    }

    /* ---- test: every member and fusion in one pass ---- */
    fprintf(stderr, "[demo] 5/5 test (%zu tokens): %d members and %d fusions in one pass\n", tst.n, NMEM, NFUSE);
    for (int i = 0; i < NMEM + NFUSE; i++)
        if (!(lp[i] = (float *)malloc((tst.n ? tst.n : 1) * sizeof(float)))) {
            fprintf(stderr, "lmfuse demo: out of memory\n");
            goto done;
        }
    pass_start(&ps, "test: members and fusions");
    s = lmf_fuse_eval_shared(m, NMEM, fo, NFUSE, &tst, lp + NMEM, lp, on_pass, &ps);
    double t_test = pass_end(&ps);
    if (s) {
        cli_fail();
        goto done;
    }

    /* ---- the table ---- */
    double tp[NMEM + NFUSE], vp[NMEM + NFUSE], secs[NMEM + NFUSE];
    int best = 0;
    for (int i = 0; i < NMEM + NFUSE; i++) tp[i] = ppl_of(&tst, lp[i]);
    for (int k = 0; k < NMEM; k++) {
        vp[k] = fit.ppl_member[k];
        secs[k] = k < NJOB ? jobs[k].secs : cj[k - NJOB].secs;
        if (k < NJOB && tp[k] < tp[best]) best = k;
    }
    vp[NMEM] = fit.ppl_linear;
    vp[NMEM + 1] = li.ppl;
    vp[NMEM + 2] = fit.ppl;
    vp[NMEM + 3] = cj[bn].fit.ppl;
    secs[NMEM] = secs[NMEM + 2] = t_gate;
    secs[NMEM + 1] = t_ll;
    secs[NMEM + 3] = cj[bn].secs;
    double total = cli_now_s() - T0;
    printf("\nlmfuse demo (%s): %zu valid tokens, %zu test tokens\n\n", quick ? "quick, Brown sample" : "Brown",
           dev.n, tst.n);
    printf("%-22s %-46s %10s %10s %10s %9s\n", "model", "configuration", "valid ppl", "test ppl", "vs best",
           "time");
    for (int k = 0; k < NMEM; k++) {
        char el[16], cdesc[96];
        fmt_dur(el, sizeof el, secs[k]);
        if (k >= NJOB)
            snprintf(cdesc, sizeof cdesc, "continuous, window %d, theta %.3g", cj[k - NJOB].fit.window,
                     cj[k - NJOB].fit.theta);
        const char *name = k < NJOB ? jobs[k].name : cdisp[k - NJOB], *desc = k < NJOB ? jobs[k].desc : cdesc;
        if (k == NJOB) printf("\n");
        printf("%-22s %-46s %10.2f %10.2f %9.3fx %9s\n", name, desc, vp[k], tp[k], tp[k] / tp[best], el);
    }
    char mcdesc[96], mcrow[40];
    snprintf(mcdesc, sizeof mcdesc, "cache weight %.3f (EM), grid on valid", cj[bn].fit.lambda);
    snprintf(mcrow, sizeof mcrow, "%s + its cache", jobs[cof[bn]].name);
    const char *fdesc[NFUSE] = {"EM on valid", "projected Newton on valid", "L-BFGS on valid, 3 folds", mcdesc};
    const char *fname[NFUSE] = {"fusion: linear", "fusion: log-linear", "fusion: gate", mcrow};
    static const int order[NFUSE] = {3, 0, 1, 2};
    printf("\n");
    for (int o = 0; o < NFUSE; o++) {
        int i = order[o];
        char el[16];
        fmt_dur(el, sizeof el, secs[NMEM + i]);
        printf("%-22s %-46s %9.2f%s %10.2f %9.3fx %9s\n", fname[i], fdesc[i], vp[NMEM + i], i == 1 ? "*" : " ",
               tp[NMEM + i], tp[NMEM + i] / tp[best], el);
    }
    char el[16];
    fmt_dur(el, sizeof el, total);
    printf("\nvs best: test ppl / that of the best trained model (%s).  A cache alone is not a language model\n"
           "(it only predicts words of the recent text); fusions use the 5 models and the 2 caches.\n",
           jobs[best].name);
    printf("* log-linear valid ppl: the tuning objective over %zu evenly spaced valid positions.\n", li.positions);
    printf("gate, 3-fold held-out estimate on valid: %.2f (linear: %.2f).\n", fit.cv_ppl, fit.cv_ppl_linear);
    char e1[16], e2[16], e3[16];
    fmt_dur(e1, sizeof e1, t_train);
    fmt_dur(e2, sizeof e2, t_test);
    fmt_dur(e3, sizeof e3, t_cache);
    printf("time: training %s (%d at a time), caches %s, test pass %s, total %s.  Fusion time = tuning on valid.\n",
           e1, par, e3, e2, el);
    printf("reproduce: lmfuse ppl %s %s   (models and recipes in %s/)\n", recipes[2], test, dir);

    /* results.json */
    char *rj = join(dir, "results.json");
    FILE *f = rj ? fopen(rj, "w") : NULL;
    if (!f) {
        fprintf(stderr, "lmfuse demo: cannot write %s: %s\n", rj ? rj : "results.json", strerror(errno));
        free(rj);
        goto done;
    }
    fprintf(f, "{\"mode\":\"%s\",\"valid\":", quick ? "quick" : "full");
    cli_json_str(f, valid, strlen(valid));
    fprintf(f, ",\"test\":");
    cli_json_str(f, test, strlen(test));
    fprintf(f, ",\"valid_tokens\":%zu,\"test_tokens\":%zu,\"seconds\":%.1f,\"train_seconds\":%.1f,"
               "\"cache_seconds\":%.1f,\"test_pass_seconds\":%.1f,\"jobs\":%d,\"best_member\":\"%s\",\n\"members\":[",
            dev.n, tst.n, total, t_train, t_cache, t_test, par, jobs[best].name);
    for (int k = 0; k < NMEM; k++) {
        fprintf(f, "%s\n {\"name\":\"%s\",\"kind\":\"%s\",\"file\":", k ? "," : "",
                k < NJOB ? jobs[k].name : cdisp[k - NJOB], k < NJOB ? "model" : "cache");
        cli_json_str(f, files[k], strlen(files[k]));
        fprintf(f, ",\"%s_seconds\":%.1f,\"valid_ppl\":%.6f,\"test_ppl\":%.6f}", k < NJOB ? "train" : "tune", secs[k],
                vp[k], tp[k]);
    }
    fprintf(f, "],\n\"fusions\":[");
    static const char *const fkey[NFUSE] = {"linear", "loglinear", "gate", "model+cache"};
    for (int i = 0; i < NFUSE; i++) {
        fprintf(f, "%s\n {\"name\":\"%s\",\"recipe\":", i ? "," : "", fkey[i]);
        cli_json_str(f, recipes[i], strlen(recipes[i]));
        fprintf(f, ",\"tune_seconds\":%.1f,\"valid_ppl\":%.6f,\"valid_exact\":%s,\"test_ppl\":%.6f,\"vs_best\":%.6f}",
                secs[NMEM + i], vp[NMEM + i], i == 1 ? "false" : "true", tp[NMEM + i], tp[NMEM + i] / tp[best]);
    }
    fprintf(f, "],\n\"gate_cv_ppl\":%.6f,\"linear_cv_ppl\":%.6f}\n", fit.cv_ppl, fit.cv_ppl_linear);
    if (fclose(f)) {
        fprintf(stderr, "lmfuse demo: cannot write %s\n", rj);
        free(rj);
        goto done;
    }
    free(rj);
    rc = 0;
done:
    lmf_gate_fit_free(&fit);
    lmf_tokens_free(&dev);
    lmf_tokens_free(&tst);
    for (int k = 0; k < NMEM; k++) {
        if (m[k]) lmf_model_free(m[k]);
        free(files[k]);
    }
    for (int i = 0; i < NMEM + NFUSE; i++) free(lp[i]);
    for (int i = 0; i < NFUSE; i++) free(recipes[i]);
    free(train), free(valid), free(test);
    return rc;
}
