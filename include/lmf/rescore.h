/* lmfuse rescoring: what speech recognisers and translators hand over
 * (HTK SLF word lattices, n-best lists in SRILM's, Moses' and plain formats),
 * scored again with lmfuse models, the features combined with weights tuned
 * on dev to minimise word error rate or maximise BLEU (MERT's exact line
 * search), and judged against references.
 *
 * Words are interned in one table per list set (lmf_nbest.words); each model
 * maps them to its own vocabulary, so members over different vocabularies
 * score the same hypotheses (a word a model lacks is its <unk>, and a count of
 * such words per model is a feature of its own).
 */
#ifndef LMF_RESCORE_H
#define LMF_RESCORE_H

#include "lmf/common.h"
#include "lmf/model.h"
#include "lmf/text.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- n-best lists ---- */
typedef struct lmf_nbest_utt {
    char *id;       /* utterance id (file name without extension, or Moses' id) */
    size_t h0, nh;  /* its hypotheses: hyp[h0 .. h0+nh) */
} lmf_nbest_utt;

typedef struct lmf_nbest_hyp {
    size_t w0;  /* its words: tok[w0 .. w0+n) (ids of lmf_nbest.words) */
    int32_t n;
} lmf_nbest_hyp;

#define LMF_NBEST_MAX_FEATS 64
typedef struct lmf_nbest {
    lmf_vocab *words;                  /* interned words (ids >= 2) */
    int nfeat;                         /* features per hypothesis */
    char *feat[LMF_NBEST_MAX_FEATS];   /* their names: "acoustic", "lm", "words", "lm:FILE", "oov:FILE", Moses' names */
    lmf_nbest_utt *utt;
    size_t nutt, cap_utt;
    lmf_nbest_hyp *hyp;
    size_t nhyp, cap_hyp;
    double *fv;                        /* fv[h * LMF_NBEST_MAX_FEATS + f] */
    int32_t *tok;
    size_t ntok, cap_tok;
    char format[16];                   /* "slf", "srilm", "decipher1", "decipher2", "moses", "plain" */
} lmf_nbest;

void lmf_nbest_free(lmf_nbest *nb);

/* Building lists (readers use these; so may callers with lists of their
 * own).  Begins a new utterance (its id copied); appends a hypothesis to the
 * last one: n words (ids of nb->words), feature values f (nb->nfeat of them,
 * the rest zero; f may be NULL).  lmf_nbest_feature gives a feature's index,
 * adding it if new (-1 and an error when the table is full);
 * lmf_nbest_word interns a word (-1 on out of memory). */
lmf_status lmf_nbest_begin(lmf_nbest *nb, const char *id, size_t idlen);
lmf_status lmf_nbest_push(lmf_nbest *nb, const int32_t *w, int32_t n, const double *f);
int lmf_nbest_feature(lmf_nbest *nb, const char *name);
int32_t lmf_nbest_word(lmf_nbest *nb, const char *w, size_t n);
static inline double lmf_nbest_f(const lmf_nbest *nb, size_t h, int f) { return nb->fv[h * LMF_NBEST_MAX_FEATS + f]; }

/* Lattice to n-best: a beam search through the lattice in topological order,
 * each partial path scored by acoustic + lm_scale * ln P_lm + wip * words
 * with `lm` (NULL: acoustic and word penalty only), at most `beam` distinct
 * word strings kept per node; the `nbest` best complete ones are the list. */
typedef struct lmf_lattice_opts {
    int beam;          /* default 100 */
    int nbest;         /* default 100 */
    double lm_scale;   /* default 10 (natural-log units, as the acoustic scores) */
    double wip;        /* word insertion penalty per word, added (default 0) */
    lmf_model *lm;     /* extraction model; not owned */
} lmf_lattice_opts;
void lmf_lattice_opts_init(lmf_lattice_opts *o);

/* Reads a list set: `path` is a folder of per-utterance files (SLF lattices
 * *.lat / *.slf, n-best files in SRILM's NBestList formats or plain "words
 * score" lines), read in file-name order, the id being the name without its
 * extension; or one Moses n-best file ("id ||| words ||| name= v ... |||
 * total").  The format of each file is told by its content.  Lattices become
 * n-best lists through `lo` (NULL: defaults, no LM).  Features:
 *   slf:   acoustic (sum of the links' a=), words
 *   srilm: acoustic, lm (natural logs; SRILM's log10 converted), words
 *   moses: each named score (name, name_2, ... for several values), total
 *   plain: score, words
 * Every error names the file and line. */
lmf_status lmf_nbest_read(const char *path, const lmf_lattice_opts *lo, lmf_nbest *out);

/* The same for one SLF lattice held in memory (fuzzing, tests): `name` is
 * used in messages, `id` as the utterance id. */
lmf_status lmf_nbest_add_slf(lmf_nbest *nb, const char *data, size_t size, const char *name, const char *id,
                             const lmf_lattice_opts *lo);
/* One n-best file in memory (SRILM, plain or Moses, by content). */
lmf_status lmf_nbest_add_list(lmf_nbest *nb, const char *data, size_t size, const char *name);

/* ---- references ---- */
/* "id words..." per line; the order must be the lists' (each list id must be
 * there, in the same order; an error names the first mismatch).  ref[u] is
 * the words of utterance u as ids of nb->words (added if new). */
typedef struct lmf_refs {
    size_t n;
    size_t *w0;
    int32_t *len;
    int32_t *tok;
} lmf_refs;
lmf_status lmf_refs_read(const char *path, lmf_nbest *nb, lmf_refs *out);
void lmf_refs_free(lmf_refs *r);

/* ---- model features ---- */
/* Appends two features per model: "lm:NAME" = ln P(words </s>) (natural
 * log, starting after <s>) and "oov:NAME" = words missing from the model's
 * vocabulary.  Word-level models only. */
lmf_status lmf_nbest_add_model(lmf_nbest *nb, lmf_model *m, const char *name);
/* The same, each hypothesis scored after a context: the last ctx_words
 * tokens of the first hypotheses of the utterances before it in the set
 * (each followed by </s>), what the recogniser put out before, so that
 * models that carry state across sentences (neural ones, caches) read the
 * document so far.  ctx_words 0: a fresh state (lmf_nbest_add_model). */
lmf_status lmf_nbest_add_model_ctx(lmf_nbest *nb, lmf_model *m, const char *name, int ctx_words);

/* ---- metrics ---- */
typedef enum lmf_metric { LMF_METRIC_WER = 0, LMF_METRIC_BLEU } lmf_metric;
typedef struct lmf_errstats {
    double sub, del, ins, ref_words;     /* WER */
    double match[4], total[4], hyp_len;  /* BLEU-4: clipped matches and totals, hypothesis length (ref_words: reference length) */
    double sents, sents_right;
} lmf_errstats;
/* Stats of hypothesis h of utterance u against its reference. */
void lmf_hyp_stats(const lmf_nbest *nb, const lmf_refs *r, size_t u, size_t h, lmf_errstats *st);
void lmf_errstats_add(lmf_errstats *a, const lmf_errstats *b);
double lmf_errstats_wer(const lmf_errstats *s);   /* (S+D+I)/N */
double lmf_errstats_bleu(const lmf_errstats *s);  /* corpus BLEU-4 with brevity penalty */

/* Sums the stats of hypotheses best[u] (NULL: each list's first) into
 * *chosen and, when oracle is not NULL, those of each list's hypothesis with
 * the fewest word errors (BLEU stats: the same choice) into *oracle. */
void lmf_rescore_stats(const lmf_nbest *nb, const lmf_refs *r, const size_t *best, lmf_errstats *chosen,
                       lmf_errstats *oracle);

/* A transcript in NIST trn form, "words (id)" per line (pocketsphinx's
 * "words (id score)" too), as a list set of one hypothesis per sentence
 * (format "trn", no features). */
lmf_status lmf_nbest_read_trn(const char *path, lmf_nbest *out);

/* ---- weights and decisions ---- */
/* The index of each utterance's best hypothesis under weights w[nfeat]. */
void lmf_rescore_best(const lmf_nbest *nb, const double *w, size_t *best);

/* Minimum Bayes risk: each utterance's hypothesis, among its `top` best
 * under w, with the fewest expected word errors against those `top`, each
 * weighted by its posterior exp(scale * score) / Z (Stolcke et al. 1997).
 * Ties go to the better score; scale -> infinity is lmf_rescore_best. */
lmf_status lmf_rescore_mbr(const lmf_nbest *nb, const double *w, double scale, int top, size_t *best);

typedef struct lmf_mert_opts {
    lmf_metric metric;    /* default WER */
    int restarts;         /* random starting points besides the given one (default 20) */
    int max_iter;         /* rounds of line searches per start (default 30) */
    uint64_t seed;        /* default 1 */
    const int *fixed;     /* fixed[f] = 1: feature f keeps its weight (NULL: none) */
} lmf_mert_opts;
void lmf_mert_opts_init(lmf_mert_opts *o);

/* Tunes w[nfeat] (in: the start, out: the best found) by MERT: exact line
 * searches along each free feature's axis and as many random directions,
 * round after round until none improves, from w and from `restarts` random
 * points.  Fixed weights keep their value (fix one, e.g. the acoustic score
 * at 1, to pin the scale: the decision is scale-invariant).  *score
 * receives the metric at the result (WER, or BLEU). */
lmf_status lmf_mert(const lmf_nbest *nb, const lmf_refs *r, const lmf_mert_opts *o, double *w, double *score);

/* ---- rescorers: models, weights, and the file that keeps them ----
 * File (JSON): {"lmfuse": "rescore", "format": the lists' format,
 *   "metric": "wer"|"bleu", "context": words, "mbr": {"scale", "top"} (optional), "models": [{"name": N, "path": P}...] (paths
 *   relative to the file), "lattice": {"model": P|null, "lm_scale",
 *   "wip", "beam", "nbest"}, "weights": {feature: weight, ...}, "tuning": {...}}. */
typedef struct lmf_rescorer lmf_rescorer;

#define LMF_RESCORE_MAX_MODELS 16
/* K models (names are feature suffixes: letters, digits, "._-"), and the
 * model file that extracts n-best lists from lattices (NULL: acoustic
 * scores alone; it adds no features of its own: give it with -m as well). */
lmf_status lmf_rescorer_new(const char *const *names, const char *const *paths, int K, const char *lattice_lm,
                            const lmf_lattice_opts *lo, lmf_rescorer **out);
lmf_status lmf_rescorer_load(const char *path, lmf_rescorer **out);
void lmf_rescorer_free(lmf_rescorer *r);
/* How many words of earlier output (the lists' first hypotheses of the
 * utterances before, in order) each model reads before a hypothesis
 * (lmf_nbest_add_model_ctx; default 0). */
lmf_status lmf_rescorer_set_context(lmf_rescorer *r, int words);
/* Reads a list set (lmf_nbest_read) and adds each model's features. */
lmf_status lmf_rescorer_read(lmf_rescorer *r, const char *lists, lmf_nbest *out);
/* Tunes the weights on dev: from acoustic (or the lists' own total) 1
 * (fixed), each model's LM lm_scale / K, the rest 0; *dev_score receives
 * the metric tuned to. */
lmf_status lmf_rescorer_tune(lmf_rescorer *r, const lmf_nbest *dev, const lmf_refs *refs, const lmf_mert_opts *o,
                             double *dev_score);
/* The weights as a vector over nb's features; an error when the lists are
 * of another format than those tuned on, or lack a weighted feature. */
lmf_status lmf_rescorer_weights(const lmf_rescorer *r, const lmf_nbest *nb, double *w);
/* Sets the weights from a vector over nb's features (what tuning found). */
lmf_status lmf_rescorer_set_weights(lmf_rescorer *r, const lmf_nbest *nb, const double *w, lmf_metric metric);
/* Each utterance's chosen hypothesis: the best under the weights, or by
 * minimum Bayes risk when the rescorer has it ("mbr"). */
lmf_status lmf_rescorer_decide(const lmf_rescorer *r, const lmf_nbest *nb, size_t *best);
/* Tries minimum Bayes risk over the `top` best at posterior scales 0.01..2
 * on dev with the tuned weights, and keeps the scale with the lowest dev
 * WER if it beats the plain best score (else turns it off); *dev_wer
 * receives the WER kept. */
lmf_status lmf_rescorer_tune_mbr(lmf_rescorer *r, const lmf_nbest *dev, const lmf_refs *refs, int top, double *dev_wer);
/* The posterior scale of minimum Bayes risk decisions (0: off). */
double lmf_rescorer_mbr_scale(const lmf_rescorer *r);
/* tuning_json: a JSON object kept under "tuning" (NULL: none). */
lmf_status lmf_rescorer_save(const lmf_rescorer *r, const char *path, const char *tuning_json);

#ifdef __cplusplus
}
#endif
#endif
