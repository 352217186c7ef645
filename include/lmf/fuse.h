/* lmfuse fusion: models that combine the next-token distributions of member
 * models (any lmf_model, fused ones included, so fusions nest), the cache
 * model, recipes (JSON files describing a fusion) and weight tuning.
 *
 * The combiners (linear, loglinear, max, bayes, vote, cascade, gate, stack)
 * are those of lmf/comb.h over N = V outcomes, the next token; a fused
 * model feeds them its members' distributions position by position, and
 * for a gate the n-gram members' match orders (their context length - 1)
 * as the per-member aux feature (0 for other members).
 * Every fused distribution is normalised over the vocabulary (Z computed
 * exactly over all V words). */
#ifndef LMF_FUSE_H
#define LMF_FUSE_H

#include "lmf/model.h"
#include "lmf/comb.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The combiner's settings (lmf/comb.h). */
typedef lmf_comb_opts lmf_fuse_opts;
void lmf_fuse_opts_init(lmf_fuse_opts *o);

/* A fused model over K members.  It takes ownership of the members (also
 * when it fails: they are freed then).  Members must predict over equal
 * vocabularies; otherwise LMF_ERR_DATA names the first difference. */
lmf_status lmf_fuse_new(lmf_model **members, int K, const lmf_fuse_opts *o, lmf_model **out);

/* Scores the text t under F fusions of the same K members in one pass: each
 * member's distributions are made once per position and every fusion
 * combines them, so F fusions cost about what one does.  opts[i] describes
 * fusion i; fused_lp[i] (NULL entries skipped) receives its t->n natural-log
 * probabilities, member_lp[k] (the array or an entry may be NULL) member k's.
 * Each fusion's numbers are those of lmf_fuse_new(members, opts[i]) scoring
 * t from a fresh state.  The members stay the caller's; progress (may be
 * NULL) counts positions. */
lmf_status lmf_fuse_eval_shared(lmf_model **members, int K, const lmf_fuse_opts *opts, int F, const lmf_tokens *t,
                                float *const *fused_lp, float *const *member_lp, lmf_progress_fn progress,
                                void *user);

/* Explaining a fusion over text t (from a fresh state), member by member.
 * Per token (arrays may be NULL): fused_lp[t]; member_lp[k*n + t] = ln p_k(y_t);
 * resp[k*n + t] = member k's posterior responsibility for the observed token,
 * w_k(t) p_k(y_t) / sum_j w_j(t) p_j(y_t), with the weights the position is
 * mixed with (linear: the recipe's; bayes: the online ones; gate: the gate's
 * at t; other combiners, which are not mixtures: the recipe's weights).
 * Diversity between members, K x K, over all positions: Pearson correlation
 * of the per-token losses -ln p_k(y_t); the rate at which their most probable
 * words differ; the mean Jensen-Shannon divergence of their distributions
 * (nats, in [0, ln 2]). */
typedef struct lmf_explain {
    int K;
    size_t n;
    double ppl, member_ppl[LMF_FUSE_MAX_MEMBERS], mean_resp[LMF_FUSE_MAX_MEMBERS];
    double *loss_corr, *top1_disagree, *js; /* K x K each, one allocation */
} lmf_explain;
lmf_status lmf_fuse_explain(lmf_model *fused, const lmf_tokens *t, float *fused_lp, float *member_lp, float *resp,
                            lmf_explain *out, lmf_progress_fn progress, void *user);
void lmf_explain_free(lmf_explain *e);

/* The members of a fused model (NULL/0 for other models). */
int lmf_fuse_members(const lmf_model *m, lmf_model *const **members);

/* The cache model: p(w) = (c(w) + beta / V) / (n + beta), c(w) the count of w
 * among the last n <= window tokens fed (carried across lines; a reset
 * empties it).  The vocabulary is borrowed and must outlive the model.
 * window: 1..LMF_CACHE_MAX_WINDOW tokens. */
#define LMF_CACHE_MAX_WINDOW (1 << 24)
lmf_status lmf_cache_new(const lmf_vocab *v, int window, double beta, lmf_model **out);

/* The continuous cache (Grave et al., 2017) over a neural model: the last
 * n <= window positions of the stream are kept as pairs (h_i, x_i), the
 * model's hidden vector that predicted token x_i and the token; then
 *   p(w) = (1 - floor) sum_{i: x_i = w} softmax_i(theta h . h_i) + floor / V
 * with h the vector predicting the next token (1/V while the cache is
 * empty).  It predicts words seen recently in similar contexts; mixed with
 * its model (or an ensemble) it adapts to the document.  Takes ownership of
 * `model` (freed on error too); fails for models without hidden states. */
#define LMF_NCACHE_MAX_WINDOW 100000
lmf_status lmf_ncache_new(lmf_model *model, int window, double theta, double floor, lmf_model **out);

/* Grid search for a continuous cache over `model` on dev: for each window
 * and theta, the dev perplexity of the two-member linear mixture of the
 * model and the cache (weight by EM).  One pass of the model over dev gives
 * its log-probs, a second its hidden vectors; every grid point is then
 * scored from the same dot products.  With every > 1 only every every-th
 * chunk of 256 positions is scored (the cache still sees all of them). */
#define LMF_NCACHE_GRID_MAX 64
typedef struct lmf_ncache_tune_opts {
    const double *theta; /* n_theta values; NULL: c / E|h|^2 for c = 2^(i/2), i = 0..12 (1 to 64) */
    int n_theta;
    const int *window; /* n_window sizes; NULL: 500, 1000, 2000 */
    int n_window;
    double floor;      /* default 0.01 */
    int every;         /* default 1 */
    lmf_progress_fn progress; /* optional: positions of the two passes (2 * dev tokens in all) */
    void *progress_user;
} lmf_ncache_tune_opts;
void lmf_ncache_tune_opts_init(lmf_ncache_tune_opts *o);

typedef struct lmf_ncache_fit {
    int window, n;               /* the best window; grid points tried */
    double theta, lambda, floor; /* the best theta; the cache's EM weight with it */
    double ppl_model, ppl;       /* dev perplexity of the model alone and of the best mixture */
    size_t positions;            /* dev positions scored */
    double mean_sq_norm;         /* E|h|^2 over the scored positions */
    double grid_theta[LMF_NCACHE_GRID_MAX], grid_ppl[LMF_NCACHE_GRID_MAX], grid_lambda[LMF_NCACHE_GRID_MAX];
    int grid_window[LMF_NCACHE_GRID_MAX];
} lmf_ncache_fit;
lmf_status lmf_tune_ncache(lmf_model *model, const lmf_tokens *dev, const lmf_ncache_tune_opts *o,
                           lmf_ncache_fit *out);

/* Writes a continuous-cache file (atomically): {"lmfuse": "cache", "model":
 * P, "window": N, "theta": t, "floor": f, "tuning": {...}}, the model path
 * stored relative to the file's folder.  lmf_model_load opens it. */
lmf_status lmf_ncache_write(const char *path, const char *model_path, int window, double theta, double floor,
                            const char *tuning_json);

/* ---- recipes ----
 * A recipe is a JSON object:
 *   {"lmfuse": "recipe", "combiner": "linear", "members": [M, ...],
 *    "weights": [w, ...], "share": a, "top_k": n, "threshold": t,
 *    "vote_mass": m, "tuning": {...}}
 * where each member M is a model path (relative to the recipe's folder), or
 * {"path": P}, {"recipe": {...}} (inline), {"cache": {"window": N, "beta": b}} (a
 * unigram cache) or {"cache": {"model": P, "window": N, "theta": t, "floor":
 * f}} (a continuous cache over the neural model P).
 * "tuning" records how the weights were found (method, dev file, its
 * perplexity); it is kept, not interpreted.  lmf_model_load opens recipes.
 * lmf_recipe_load reads path as JSON whatever its first bytes (a
 * continuous-cache file too) and refuses anything else ("not valid JSON");
 * like lmf_model_load it lives in the loader registry (src/load), since a
 * recipe's members may be of any format.  *out is NULL on error. */
lmf_status lmf_recipe_load(const char *path, lmf_model **out);

/* Writes a recipe (atomically): members are model or recipe paths as the
 * caller can open them (relative to the working folder or absolute); they
 * are stored relative to the recipe's folder.  o gives the combiner, its
 * weights (K, required) and the combiner's own settings.  tuning_json (may
 * be NULL) is a JSON object recorded under "tuning". */
lmf_status lmf_recipe_write(const char *path, const lmf_fuse_opts *o, const char *const *members, int K,
                            const char *tuning_json);

/* 1 if the recipe file records (under "tuning") that it was tuned on the
 * text file text_path (the same file), else 0: scores there are optimistic. */
int lmf_recipe_tuned_on(const char *recipe_path, const char *text_path);

/* ---- tuning ----
 * Whether members can be fused token by token: LMF_OK when every member
 * predicts over the vocabulary of member 1 (the same words, in any order);
 * otherwise LMF_ERR_DATA with lmf_fuse_new's message ("members 1 and k
 * predict over different vocabularies ...").  The tuners below that take
 * models check it first; lmf_tune_linear_em sees only log-probabilities, so
 * its caller checks the members it scored with this.
 */
lmf_status lmf_fuse_check_vocab(lmf_model *const *members, int K);

/* Members over different vocabularies, made one: every member that lacks
 * words of the union vocabulary U (member 1's words in order, then each
 * other member's new words) is replaced by a view of it over U, in which a
 * missing word (and U's <unk>) gets a share of the member's <unk>
 * probability and the member's history reads its <unk> for it.  The share
 * (dub): 0 = p(<unk>) / (missing words + 1), so each member still sums to 1
 * over U (the default); > 0 = p(<unk>) / (dub - |V| - 1), IRSTLM
 * interpolate-lm's dictionary upper bound (|V| + 1 counts <s>, as an ARPA
 * file lists it); < 0 = p(<unk>) unchanged (interpolate-lm --dub=0).  With
 * dub != 0 every member is wrapped.  Members that already share one
 * vocabulary are left alone when dub == 0.  The views own their member
 * unless borrow (then the caller frees the originals after the views).  On
 * failure without borrow, failed members are freed and set NULL.
 * *changed (may be NULL) says whether any member was wrapped.  lmf_fuse_new
 * calls it with o->unk_dub. */
lmf_status lmf_fuse_unify(lmf_model **members, int K, double dub, int borrow, int *changed);

/* EM for linear weights over per-token member log-probs lp[k][0..N): w (K,
 * the starting point, e.g. 1/K each) is replaced by the tuned weights.  It
 * iterates until the mean log-likelihood gains less than tol per iteration
 * (the relative perplexity change), or max_iter.  trace (max_iter+1 or
 * NULL) receives the perplexity before the first and after every
 * iteration; EM never increases it.  *iters = iterations run. */
lmf_status lmf_tune_linear_em(const float *const *lp, int K, size_t N, double tol, int max_iter, double *w,
                              double *trace, int *iters);
/* Perplexity of bayes fusion (prior weights w, fixed share) over per-token
 * member log-probs, as lmfuse ppl would compute it. */
double lmf_bayes_ppl(const float *const *lp, int K, size_t N, const double *w, double share);

/* Greedy forward selection (Caruana et al. 2004, without replacement) of a
 * linear mixture from K candidates' per-token log-probs lp[k][0..N): start
 * with the candidate of lowest perplexity, then repeatedly add the one whose
 * EM-tuned mixture with those chosen has the lowest perplexity, while that
 * improves it by at least min_gain (relative, e.g. 0.001).  Selection and
 * weights are fitted on the same data: the perplexities are optimistic. */
typedef struct lmf_selection {
    int n;                              /* candidates chosen */
    int order[LMF_FUSE_MAX_MEMBERS];    /* their indices, in the order added */
    double ppl[LMF_FUSE_MAX_MEMBERS];   /* ppl[i]: the mixture of order[0..i] (EM weights) */
    double w[LMF_FUSE_MAX_MEMBERS];     /* the final weights, for order[0..n) */
    int rejected;                       /* the best candidate not added (-1: all were) */
    double rejected_ppl;                /* the mixture it would have given */
} lmf_selection;
lmf_status lmf_select_forward(const float *const *lp, int K, size_t N, double min_gain, lmf_selection *out);

/* Log-linear weights l >= 0 minimising the dev perplexity of
 * prod_k p_k^l_k / Z by projected Newton (the objective is convex).  For
 * n-gram members over one vocabulary the objective is exact over every dev
 * position (a tree of the dev contexts: cost ~ the models' n-gram counts
 * per iteration); otherwise (or with `sampled`) it uses the full
 * distributions at evenly spaced dev positions, as many as max_bytes holds.
 * w: the starting point in, the weights out. */
typedef struct lmf_tune_ll_opts {
    double tol;       /* stop when the mean log-likelihood gains less (default 1e-9) */
    int max_iter;     /* default 100 */
    size_t max_bytes; /* sampled path: memory for stored distributions (default 512 MiB) */
    int sampled;      /* force the sampled path */
    lmf_progress_fn progress; /* optional: sampled path, positions per member */
    void *progress_user;
} lmf_tune_ll_opts;

typedef struct lmf_tune_info {
    int iterations, exact;
    size_t dev_tokens, positions; /* positions: those the objective used */
    size_t contexts, entries;     /* exact path: tree size */
    double ppl_start, ppl;        /* objective (as perplexity) before and after */
} lmf_tune_info;

lmf_status lmf_tune_loglinear(lmf_model *const *members, int K, const lmf_tokens *dev, const lmf_tune_ll_opts *o,
                              double *w, lmf_tune_info *info);
/* The mean negative log-likelihood the tuner minimises, its gradient (K)
 * and Hessian (K x K) (both may be NULL), at weights w; NAN on error.  For
 * tests. */
double lmf_tune_loglinear_objective(lmf_model *const *members, int K, const lmf_tokens *dev, int sampled,
                                    const double *w, double *grad, double *hess);

/* Gate training (blending): the features and members' log-probs along the
 * dev text, then L-BFGS on the dev log-likelihood (+ l2/2 |A|^2) from the
 * EM-tuned linear mixture (A = 0, b = ln w).  With folds >= 2, contiguous
 * blocks of the dev text are held out in turn (stacking) to estimate the
 * perplexity of both the gate and the linear mixture on unseen text. */
typedef struct lmf_gate_tune_opts {
    double decay;  /* default 0.95 */
    double l2;     /* default 1e-4 */
    int folds;     /* cross-validation folds (0 or 1: none; default 0) */
    int max_iter;  /* L-BFGS iterations (default 200) */
    lmf_progress_fn progress; /* optional: positions of the features' pass */
    void *progress_user;
} lmf_gate_tune_opts;

typedef struct lmf_gate_fit {
    int K, F, iterations, folds;
    double decay;
    double *mean, *sd, *loss0, *A, *b, *w_linear, *ppl_member; /* one allocation; ppl_member: each member's
                                                                  dev perplexity */
    double ppl_linear, ppl;       /* on the dev text (what was fitted) */
    double cv_ppl_linear, cv_ppl; /* held-out estimates (folds >= 2), else 0 */
} lmf_gate_fit;

/* Takes ownership of the members (frees them). */
lmf_status lmf_tune_gate(lmf_model **members, int K, const lmf_tokens *dev, const lmf_gate_tune_opts *o,
                         lmf_gate_fit *out);
void lmf_gate_fit_params(const lmf_gate_fit *fit, lmf_gate_params *p);
void lmf_gate_fit_free(lmf_gate_fit *fit);

#ifdef __cplusplus
}
#endif
#endif
