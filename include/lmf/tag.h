/* lmfuse taggers: sequence labelling (part-of-speech, named entities) by
 * hidden Markov models, discriminative linear taggers and fusions of them.
 *
 * Tagged text is CoNLL style: one token per line, the word in the first
 * tab-separated column and its tag in the last, an empty line after each
 * sentence (a last sentence without one is accepted).  A trailing CR is
 * dropped (CRLF files).  Untagged text for `lmf_tagger_run` callers is the
 * same with one column.
 *
 * Every tagger gives, per token, a distribution over its tags (natural-log
 * probabilities; marginal posteriors for the HMM) as well as a best
 * sequence, so taggers can be fused by votes (their best tags) or softly
 * (their distributions) through the combiner layer (lmf/comb.h).  The tag
 * set is kept in byte order of the tag names, so two taggers trained on the
 * same file share tag ids. */
#ifndef LMF_TAG_H
#define LMF_TAG_H

#include "lmf/comb.h"
#include "lmf/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tagged text (src/tag/corpus.c) ---- */

#define LMF_TAG_MAX_LEN 4096 /* bytes of one word or tag */

typedef struct lmf_tagged lmf_tagged;

/* Reads a CoNLL file.  With need_tags, every token line must have a tab
 * (word<TAB>...<TAB>tag); without, a line's first column is the word and
 * the rest is ignored.  Errors (LMF_ERR_FORMAT) name the file and line: a
 * tagged line without a tab, an empty word or tag, a word or tag longer
 * than LMF_TAG_MAX_LEN, invalid UTF-8, a NUL byte, a file without tokens.
 * *out is NULL on error. */
lmf_status lmf_tagged_read(const char *path, int need_tags, lmf_tagged **out);
/* The same from memory; `name` stands for the file in messages. */
lmf_status lmf_tagged_read_mem(const char *data, size_t n, const char *name, int need_tags, lmf_tagged **out);
void lmf_tagged_free(lmf_tagged *c);

size_t lmf_tagged_nsent(const lmf_tagged *c);
size_t lmf_tagged_ntok(const lmf_tagged *c);
const char *lmf_tagged_path(const lmf_tagged *c);
/* Sentence i holds tokens [*start, *end). */
void lmf_tagged_sentence(const lmf_tagged *c, size_t i, size_t *start, size_t *end);
/* The words of tokens [start, end) as an array of strings (valid while c is). */
const char *const *lmf_tagged_words(const lmf_tagged *c);
const char *lmf_tagged_word(const lmf_tagged *c, size_t tok);
const char *lmf_tagged_tag(const lmf_tagged *c, size_t tok); /* NULL when read without tags */
size_t lmf_tagged_line(const lmf_tagged *c, size_t tok);     /* 1-based line of the token in its file */

/* ---- taggers (src/tag/tagger.c, hmm.c, perceptron.c, fusion.c) ---- */

typedef enum lmf_tagger_kind {
    LMF_TAGGER_HMM = 0,    /* TnT-style hidden Markov model, first or second order */
    LMF_TAGGER_PERCEPTRON, /* averaged perceptron, greedy left to right */
    LMF_TAGGER_FUSION,     /* a fusion of taggers (lmf_tagger_fusion_*) */
    LMF_TAGGER_STACK,      /* a meta-tagger over taggers' outputs in context (lmf_tagger_stack_fit) */
    LMF_TAGGER_NEURAL,     /* two networks (left to right, right to left) + character features */
    LMF_TAGGER_KIND_COUNT
} lmf_tagger_kind;
const char *lmf_tagger_kind_name(lmf_tagger_kind k);
int lmf_tagger_kind_parse(const char *s); /* -1 if unknown */

typedef struct lmf_tagger_opts {
    lmf_tagger_kind kind;
    /* hmm */
    int order;       /* 1 (bigram tags) or 2 (trigram tags, default) */
    int suffix_len;  /* longest suffix of the unknown-word model (default 10) */
    int rare_max;    /* words seen at most this often train the suffix model (default 10) */
    double beam;     /* candidate tags of an unknown word: P(t|suffix) >= max / beam (default 1000; 0 = all) */
    /* perceptron */
    int iters;       /* passes over the training data (default 5) */
    uint64_t seed;   /* order of sentences in each pass (default 1) */
    int reverse;     /* read sentences right to left (default 0) */
    /* neural: two networks of the LM kinds, one per direction, and a softmax
     * layer over their top states and hashed character features */
    const char *nn_arch; /* rnn, lstm (default: NULL), gru, transformer */
    int nn_layers, nn_hidden, nn_emb; /* default 1, 128, 128 */
    int nn_epochs, nn_batch;          /* default 3, 16 sentences */
    double nn_lr, nn_dropout;         /* AdamW, cosine schedule; default 2e-3, 0.2 */
    const char *nn_init;              /* an lmfuse neural LM to start both networks from (NULL: random) */
    int progress;    /* log a line per pass (INFO) */
} lmf_tagger_opts;
void lmf_tagger_opts_init(lmf_tagger_opts *o);

typedef struct lmf_tagger lmf_tagger;

/* Trains a tagger on a tagged corpus (read with need_tags).  LMF_ERR_DATA
 * when the corpus has more than 32767 tags; options are checked
 * (LMF_ERR_ARG naming the option). */
lmf_status lmf_tagger_train(const lmf_tagger_opts *o, const lmf_tagged *train, lmf_tagger **out);
/* Saves to a safetensors file (metadata "lmfuse.kind" = "tagger <kind>"),
 * atomically; a fusion as its JSON recipe. */
lmf_status lmf_tagger_save(const lmf_tagger *t, const char *path);
/* Loads a tagger file or a fusion recipe (a file that starts with '{');
 * every field is checked, errors name the file. */
lmf_status lmf_tagger_load(const char *path, lmf_tagger **out);
void lmf_tagger_free(lmf_tagger *t);

lmf_tagger_kind lmf_tagger_kind_of(const lmf_tagger *t);
int lmf_tagger_ntags(const lmf_tagger *t);
const char *lmf_tagger_tag_name(const lmf_tagger *t, int id);
int lmf_tagger_tag_id(const lmf_tagger *t, const char *tag); /* -1 if not a tag of t */
/* Whether the word (exactly as written) was seen in training. */
int lmf_tagger_knows(const lmf_tagger *t, const char *word);
/* The longest sentence (tokens) it tags. */
size_t lmf_tagger_max_len(const lmf_tagger *t);

/* Tags one sentence of n >= 1 words: best[i] (may be NULL) the tag ids of
 * the best sequence (Viterbi for the HMM), logp (may be NULL; n x ntags)
 * each token's ln distribution over the tags (posterior marginals for the
 * HMM).  A tagger is not thread-safe (it keeps its work space); use one
 * per thread.  LMF_ERR_ARG if n > lmf_tagger_max_len. */
lmf_status lmf_tagger_run(lmf_tagger *t, const char *const *words, size_t n, int *best, float *logp);

/* Tags every sentence of `in` (read with or without tags) and writes
 * "word<TAB>tag" lines, an empty line after each sentence, to path
 * atomically ("-": standard output); with probs a third column holds the
 * chosen tag's probability (the HMM's posterior marginal, the perceptron's
 * softmax).  A sentence longer than the tagger's limit is LMF_ERR_DATA
 * naming the file and line, and nothing is written.  (src/tag/predict.c) */
lmf_status lmf_tag_predict_file(lmf_tagger *t, const lmf_tagged *in, const char *path, int probs);

/* ---- fusion of taggers (src/tag/fusion.c) ----
 * Per token, the members' tag distributions (or their decisions: the best
 * sequence's tag with probability 1) combined by a combiner of lmf/comb.h;
 * the result is decoded token by token, or by one Viterbi pass with an HMM
 * member's transitions over the fused distributions.  A fusion is a tagger:
 * it runs, evaluates and fuses again like the others, and is saved as a JSON
 * recipe that refers to its members' files. */
typedef struct lmf_tagfuse_opts {
    lmf_comb_opts comb; /* the combiner (not gate: tokens carry no history) */
    int decisions;      /* members' inputs: 0 distributions (smoothed by 1e-6), 1 best tags */
    int viterbi;        /* 0: each token's best fused tag; k: Viterbi with member k's (an HMM) transitions */
} lmf_tagfuse_opts;
void lmf_tagfuse_opts_init(lmf_tagfuse_opts *o);

/* A fusion of K taggers with the same tags; takes ownership of the members
 * (freed on failure too).  paths[k] (may be NULL) are the members' files,
 * which a saved recipe refers to.  tuning_json (may be NULL): a JSON object
 * kept under "tuning" in the recipe. */
lmf_status lmf_tagger_fusion_new(lmf_tagger **members, const char *const *paths, int K, const lmf_tagfuse_opts *o,
                                 const char *tuning_json, lmf_tagger **out);
/* Fits a fusion method of lmf_cfuse_fit_method (lmf/classify.h: average,
 * weighted, acc-weighted, geometric, geo-weighted, max, vote, weighted-vote,
 * threshold-vote, select, bo-weighted, blend, blend-full) or one of van
 * Halteren et al.'s (2001) votes (precision-vote: TagPrecision,
 * precision-recall-vote: Precision-Recall, pair-vote: TagPair) on the
 * members' outputs over a held-out tagged corpus (tokens with tags the
 * members never saw are left out); the votes take the members' decisions,
 * the others their distributions.  With decode_viterbi, the first HMM
 * member's transitions decode.  Takes ownership of the members. */
lmf_status lmf_tagger_fusion_fit(const char *method, lmf_tagger **members, const char *const *paths, int K,
                                 const lmf_tagged *valid, int decode_viterbi, lmf_tagger **out);
/* The members of a fusion or a stack (0 for other kinds; owned by t). */
int lmf_tagger_fusion_members(const lmf_tagger *t, lmf_tagger *const **members);

/* ---- stacking (src/tag/stack.c) ----
 * A meta-tagger (averaged perceptron) over the members' best tags in a
 * window of one token each side, their confidence, their agreement and the
 * word, trained on member outputs for text the members did not train on:
 * out-of-fold on train (folds >= 2: the sentences cut into runs of
 * consecutive sentences, each run tagged by the members trained again with
 * their own options on the rest; fusions and stacks cannot be trained
 * again), or, with folds 0, a held-out corpus (blending). */
typedef struct lmf_tagstack_opts {
    int folds;     /* out-of-fold on train with this many folds (default 5); 0: blend on valid */
    int iters;     /* passes of the meta-tagger (default 10) */
    uint64_t seed; /* order of its sentences (default 1) */
    int progress;  /* log a line per pass (INFO) */
} lmf_tagstack_opts;
void lmf_tagstack_opts_init(lmf_tagstack_opts *o);
/* Fits a stack of K taggers with the same tags (taken, freed on failure too;
 * they are the ones that tag at test time); train is what they were
 * trained on (folds), valid held-out text (folds 0).  Saved as a tagger
 * file that refers to paths[k]. */
lmf_status lmf_tagger_stack_fit(lmf_tagger **members, const char *const *paths, int K, const lmf_tagged *train,
                                const lmf_tagged *valid, const lmf_tagstack_opts *o, lmf_tagger **out);

/* ---- evaluation (src/tag/metrics.c) ---- */

typedef struct lmf_tag_eval {
    size_t tokens, correct;
    size_t known, known_correct;     /* words the tagger saw in training */
    size_t unknown, unknown_correct;
    size_t sentences, sentences_correct;
    size_t unseen;                   /* gold tags the tagger never saw (counted as errors) */
    size_t unseen_line;              /* the line of the first of them (0: none) */
    const char *unseen_tag;          /* its tag (inside the gold corpus) */
    double seconds;                  /* tagging time (wall) */
    int ntags;
    /* per tag (ntags): */
    size_t *tp, *fp, *fn;
    /* the confusion matrix (ntags x ntags, gold row, predicted column) */
    size_t *confusion;
} lmf_tag_eval;

/* Tags every sentence of `gold` with t and counts.  A gold tag the tagger
 * never saw can never be predicted: it counts as an error (and as a false
 * positive of the predicted tag), in ev->unseen with the first line (the
 * caller decides whether that is an error; lmfuse tag eval --strict).  A
 * sentence longer than the tagger's limit is LMF_ERR_DATA naming the file
 * and line.  pred (may be NULL; gold's token count)
 * receives the predicted tag ids, logp (may be NULL; tokens x ntags) the
 * distributions.  Free with lmf_tag_eval_free. */
lmf_status lmf_tag_evaluate(lmf_tagger *t, const lmf_tagged *gold, int *pred, float *logp, lmf_tag_eval *ev);
void lmf_tag_eval_free(lmf_tag_eval *ev);

#ifdef __cplusplus
}
#endif
#endif
