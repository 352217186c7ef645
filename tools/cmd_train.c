/* lmfuse train: neural language models (lmf/train.h). */
#define _POSIX_C_SOURCE 200809L /* SIGKILL */
#include "cli.h"
#include "lmf/train.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *fp) {
    lmf_train_opts d;
    lmf_train_opts_init(&d);
    fprintf(fp,
            "usage: lmfuse train --arch A --train TEXT [--valid TEXT] -o MODEL.safetensors [options]\n"
            "       lmfuse train --resume CHECKPOINT [--threads N]\n"
            "\n"
            "Trains a neural word language model.  The vocabulary is every token of the\n"
            "training text (or --vocab FILE).  The best model by validation perplexity is\n"
            "written to MODEL; a checkpoint (MODEL.ckpt) is written every --checkpoint-every\n"
            "steps and after each epoch, and --resume continues it exactly.\n"
            "\n"
            "model:\n"
            "  --arch A            rnn | lstm | gru | transformer (default %s)\n"
            "  --layers N          (default %d)\n"
            "  --hidden N          hidden size (default %d)\n"
            "  --emb N             embedding size (default %d)\n"
            "  --tied              tie input and output embeddings (needs --emb = --hidden)\n"
            "  --dropout P         on embeddings, between layers and on the output (default %g)\n"
            "  --classes C         class-factored output layer over C frequency classes: exact\n"
            "                      probabilities, training several times faster; about sqrt(V)\n"
            "                      is fastest (default 0: full softmax)\n"
            "  --bf16              full softmax: training's matrix products in bfloat16 with\n"
            "                      float sums, ~1.6-1.8x faster (CPUs with AVX512_BF16; weights,\n"
            "                      optimizer, cell arithmetic and evaluation stay float32)\n"
            "  --heads N           transformer: attention heads (default %d)\n"
            "  --ff N              transformer: MLP width (default 4 x hidden)\n"
            "  --ctx N             transformer: context, also the training window (default %d)\n"
            "training:\n"
            "  --batch N           parallel streams (default %d)\n"
            "  --bptt N            steps per window, recurrent models (default %d)\n"
            "  --epochs N          (default %d)\n"
            "  --lr X              peak learning rate (default %g)\n"
            "  --lr-min X          cosine floor (default %g)\n"
            "  --schedule S        cosine | plateau | constant (default %s)\n"
            "  --warmup N          linear warm-up steps (default %d)\n"
            "  --plateau-factor X  lr multiplier after an epoch without improvement (default %g)\n"
            "  --patience N        stop after N epochs without improvement (default %d = never)\n"
            "  --clip X            gradient-norm clipping, 0 = off (default %g)\n"
            "  --weight-decay X    AdamW decoupled weight decay (default %g)\n"
            "  --beta1 X, --beta2 X, --adam-eps X  (defaults %g, %g, %g)\n"
            "  --threads N         BLAS threads; the same seed and thread count give the\n"
            "                      same weights (default %d)\n"
            "  --seed N            (default %llu)\n"
            "files:\n"
            "  --train FILE, --valid FILE, --vocab FILE\n"
            "  -o, --output FILE   best model (safetensors)\n"
            "  --checkpoint FILE   (default MODEL.ckpt)\n"
            "  --checkpoint-every N  steps (default %d; 0 = after epochs only)\n"
            "  --resume FILE       continue a checkpoint with its own settings (only --threads,\n"
            "                      --checkpoint, --log-every and -q may be given with it)\n"
            "  --init FILE         start from a model's weights (same architecture and sizes); over\n"
            "                      another vocabulary (domain adaptation) the words both know keep\n"
            "                      its embedding and output rows, new words start fresh\n"
            "  --max-steps N       stop after N steps in all (default: no limit)\n"
            "  --loss-log FILE     per step: step, loss, gradient norm, learning rate (TSV)\n"
            "  --log-every SECONDS progress line interval (default %g)\n"
            "  -q, --quiet         no progress\n",
            d.arch, d.layers, d.hidden, d.emb, d.dropout, d.heads, d.ctx, d.batch, d.bptt, d.epochs, d.lr, d.lr_min, d.schedule,
            d.warmup, d.plateau_factor, d.patience, d.clip, d.weight_decay, d.beta1, d.beta2, d.eps, d.threads,
            (unsigned long long)d.seed, d.checkpoint_every, d.log_seconds);
}

/* The library's progress lines (LMF_LOG_INFO) go to stderr as they are;
 * warnings keep the default "lmfuse: warning: " prefix. */
static void log_line(lmf_log_level level, const char *msg, void *ctx) {
    (void)ctx;
    fprintf(stderr, "%s%s\n", level == LMF_LOG_WARN ? "lmfuse: warning: " : "", msg);
}

/* For the kill-and-resume test: with LMFUSE_TEST_KILL_AT_STEP=N in the
 * environment, the process kills itself with SIGKILL once step N is done
 * (a deterministic point instead of a race against a timer). */
static void kill_at_step(void *user, const lmf_train_progress *p) {
    if (!p->validating && p->step >= *(const int64_t *)user) raise(SIGKILL);
}

typedef struct {
    const char *name;
    char kind; /* i int, d double, f float, s string, u u64, I int64 */
    void *dst;
} opt;

int lmf_cmd_train(int argc, char **argv) {
    lmf_train_opts o;
    lmf_train_opts_init(&o);
    int64_t max_steps = 0;
    const opt table[] = {
        {"--arch", 's', &o.arch},           {"--layers", 'i', &o.layers},
        {"--hidden", 'i', &o.hidden},       {"--emb", 'i', &o.emb},
        {"--dropout", 'f', &o.dropout},     {"--heads", 'i', &o.heads},
        {"--classes", 'i', &o.classes},
        {"--ff", 'i', &o.ff},               {"--ctx", 'i', &o.ctx},     {"--batch", 'i', &o.batch},
        {"--bptt", 'i', &o.bptt},           {"--epochs", 'i', &o.epochs},
        {"--lr", 'd', &o.lr},               {"--lr-min", 'd', &o.lr_min},
        {"--schedule", 's', &o.schedule},   {"--warmup", 'i', &o.warmup},
        {"--plateau-factor", 'd', &o.plateau_factor}, {"--patience", 'i', &o.patience},
        {"--clip", 'd', &o.clip},           {"--weight-decay", 'd', &o.weight_decay},
        {"--beta1", 'd', &o.beta1},         {"--beta2", 'd', &o.beta2},
        {"--adam-eps", 'd', &o.eps},        {"--threads", 'i', &o.threads},
        {"--seed", 'u', &o.seed},           {"--train", 's', &o.train},
        {"--valid", 's', &o.valid},         {"--vocab", 's', &o.vocab},
        {"--output", 's', &o.out},          {"-o", 's', &o.out},
        {"--checkpoint", 's', &o.checkpoint}, {"--checkpoint-every", 'i', &o.checkpoint_every},
        {"--resume", 's', &o.resume},       {"--init", 's', &o.init},
        {"--max-steps", 'I', &max_steps},   {"--loss-log", 's', &o.loss_log},
        {"--log-every", 'd', &o.log_seconds},
    };
    /* with --resume, the checkpoint's settings win: an option that would
     * change the run is refused rather than silently ignored */
    const char *run_opt = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--tied")) {
            o.tied = 1;
            run_opt = argv[i];
            continue;
        }
        if (!strcmp(argv[i], "--bf16")) {
            o.bf16 = 1;
            run_opt = argv[i];
            continue;
        }
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            o.log_seconds = -1;
            continue;
        }
        int found = 0;
        for (size_t k = 0; k < sizeof table / sizeof *table && !found; k++) {
            int missing = 0;
            const char *v = cli_opt_value(argc, argv, &i, table[k].name, &missing);
            if (missing) return cli_usage_error("train", "%s needs a value", table[k].name);
            if (!v) continue;
            found = 1;
            if (strcmp(table[k].name, "--threads") && strcmp(table[k].name, "--log-every") &&
                strcmp(table[k].name, "--resume") && strcmp(table[k].name, "--checkpoint"))
                run_opt = table[k].name;
            int ok = 1;
            double dv;
            uint64_t uv;
            switch (table[k].kind) {
            case 's': *(const char **)table[k].dst = v; break;
            case 'i': ok = lmf_parse_int(v, (int *)table[k].dst); break;
            case 'd': ok = lmf_parse_double(v, (double *)table[k].dst); break;
            case 'f':
                ok = lmf_parse_double(v, &dv);
                *(float *)table[k].dst = (float)dv;
                break;
            case 'u': ok = lmf_parse_u64(v, (uint64_t *)table[k].dst); break;
            case 'I':
                ok = lmf_parse_u64(v, &uv) && uv < ((uint64_t)1 << 62);
                *(int64_t *)table[k].dst = (int64_t)uv;
                break;
            }
            if (!ok) return cli_usage_error("train", "bad value \"%s\" for %s", v, table[k].name);
        }
        if (!found) return cli_usage_error("train", "unknown option \"%s\"", argv[i]);
    }
    o.max_steps = max_steps;
    if (!o.resume && (!o.train || !o.out)) return cli_usage_error("train", "--train and -o are required");
    if (o.resume && run_opt)
        return cli_usage_error("train",
                               "%s cannot change a resumed run: --resume continues the checkpoint's run with its own "
                               "settings (with it: --threads, --checkpoint, --log-every, -q); to train on, start a "
                               "new run with --init %s",
                               run_opt, o.resume);
    /* progress comes through the log callback: shown unless -q */
    lmf_set_log(log_line, NULL, o.log_seconds >= 0 ? LMF_LOG_INFO : LMF_LOG_WARN);
    int64_t kill_step = 0;
    const char *ks = getenv("LMFUSE_TEST_KILL_AT_STEP");
    if (ks && *ks) {
        char *end;
        kill_step = strtoll(ks, &end, 10);
        if (*end || kill_step < 1) return cli_usage_error("train", "LMFUSE_TEST_KILL_AT_STEP=\"%s\" is not a step >= 1", ks);
        o.on_progress = kill_at_step;
        o.progress_user = &kill_step;
    }
    lmf_train_result r;
    lmf_status s = lmf_train(&o, &r);
    lmf_set_log(NULL, NULL, LMF_LOG_WARN);
    if (s) return cli_fail();
    if (o.log_seconds >= 0)
        fprintf(stderr, "trained %d epoch%s, %lld steps, %.0f tokens/s; best valid ppl %.2f (epoch %d)\n",
                r.epochs_done, r.epochs_done == 1 ? "" : "s", (long long)r.steps, r.tokens_per_s, r.best_valid_ppl,
                r.best_epoch);
    return 0;
}
