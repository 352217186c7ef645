/* The combiner layer (lmf/comb.h) over small outcome sets, as classifiers
 * and taggers use it: every combiner against a direct evaluation of its
 * formula written here in double precision, and the invariants (a
 * normalised result, weight 1 on one member reproduces it). */
#include "test.h"

#include "lmf/comb.h"

enum { K = 3, N = 5 };

/* Random normalised ln distributions d[k*N + i]. */
static void random_dists(unsigned *seed, float *d, int sharp) {
    for (int k = 0; k < K; k++) {
        double z[N], sum = 0;
        for (int i = 0; i < N; i++) {
            *seed = *seed * 1103515245u + 12345u;
            z[i] = exp((sharp ? 6.0 : 2.0) * ((*seed >> 8) & 0xffff) / 65536.0);
            sum += z[i];
        }
        for (int i = 0; i < N; i++) d[k * N + i] = (float)log(z[i] / sum);
    }
}

static lmf_comb *make(lmf_comb_opts *o) {
    lmf_comb *c = NULL;
    CHECK_MSG(lmf_comb_new(o, K, N, &c) == LMF_OK, "%s: %s", lmf_combiner_name(o->comb), lmf_last_error());
    return c;
}

static double sum_exp(const float *x) {
    double s = 0;
    for (int i = 0; i < N; i++) s += exp((double)x[i]);
    return s;
}

/* The fused distribution of one item under combiner c. */
static void fuse1(lmf_comb *c, const float *d, float *out) {
    lmf_comb_state *s = lmf_comb_state_new(c);
    CHECK(s != NULL);
    lmf_comb_combine(c, s, d, N, NULL, out);
    lmf_comb_state_free(s);
}

static void test_formulas(void) {
    unsigned seed = 7;
    const double w[K] = {0.2, 0.5, 0.3};
    for (int rep = 0; rep < 20; rep++) {
        float d[K * N], out[N];
        random_dists(&seed, d, rep & 1);
        double p[K][N];
        for (int k = 0; k < K; k++)
            for (int i = 0; i < N; i++) p[k][i] = exp((double)d[k * N + i]);
        lmf_comb_opts o;
        /* linear */
        lmf_comb_opts_init(&o);
        o.weights = w;
        lmf_comb *c = make(&o);
        fuse1(c, d, out);
        for (int i = 0; i < N; i++)
            CHECK_CLOSE(exp(out[i]), w[0] * p[0][i] + w[1] * p[1][i] + w[2] * p[2][i], 1e-7, 1e-6);
        lmf_comb_free(c);
        /* loglinear (weights not normalised) */
        const double lw[K] = {0.7, 1.3, 0.4};
        o.comb = LMF_COMB_LOGLINEAR;
        o.weights = lw;
        c = make(&o);
        fuse1(c, d, out);
        double q[N], z = 0;
        for (int i = 0; i < N; i++) z += q[i] = pow(p[0][i], lw[0]) * pow(p[1][i], lw[1]) * pow(p[2][i], lw[2]);
        for (int i = 0; i < N; i++) CHECK_CLOSE(exp(out[i]), q[i] / z, 1e-7, 1e-5);
        lmf_comb_free(c);
        /* max */
        o.comb = LMF_COMB_MAX;
        o.weights = NULL;
        c = make(&o);
        fuse1(c, d, out);
        z = 0;
        for (int i = 0; i < N; i++) z += q[i] = fmax(p[0][i], fmax(p[1][i], p[2][i]));
        for (int i = 0; i < N; i++) CHECK_CLOSE(exp(out[i]), q[i] / z, 1e-7, 1e-5);
        lmf_comb_free(c);
        /* majority vote: the share of members whose best outcome is i */
        o.comb = LMF_COMB_VOTE;
        o.top_k = 1;
        o.vote_mass = 1;
        c = make(&o);
        fuse1(c, d, out);
        double votes[N] = {0};
        for (int k = 0; k < K; k++) {
            int a = 0;
            for (int i = 1; i < N; i++) a = p[k][i] > p[k][a] ? i : a;
            votes[a] += 1.0 / K;
        }
        for (int i = 0; i < N; i++) CHECK_CLOSE(exp(out[i]), votes[i], 1e-7, 1e-6);
        lmf_comb_free(c);
        /* weighted threshold vote smoothed by the linear mixture (m = 0.6) */
        o.weights = w;
        o.threshold = 0.25;
        o.vote_mass = 0.6;
        c = make(&o);
        fuse1(c, d, out);
        double v[N] = {0}, tot = 0;
        for (int k = 0; k < K; k++) {
            int any = 0, a = 0;
            for (int i = 0; i < N; i++) {
                a = p[k][i] > p[k][a] ? i : a;
                if (p[k][i] >= 0.25) v[i] += w[k], tot += w[k], any = 1;
            }
            if (!any) v[a] += w[k], tot += w[k];
        }
        for (int i = 0; i < N; i++)
            CHECK_CLOSE(exp(out[i]), 0.6 * v[i] / tot + 0.4 * (w[0] * p[0][i] + w[1] * p[1][i] + w[2] * p[2][i]), 1e-6,
                        1e-5);
        lmf_comb_free(c);
        /* stack: softmax(b + W p) over the members' probabilities */
        double W[N * K * N], b[N];
        for (int j = 0; j < N * K * N; j++) W[j] = sin(0.7 * j + rep);
        for (int j = 0; j < N; j++) b[j] = 0.1 * j - 0.2;
        for (int logp = 0; logp < 2; logp++) { /* and softmax(b + W max(ln p, -20)) */
            lmf_stack_params sp = {N, W, b, logp};
            lmf_comb_opts_init(&o);
            o.comb = LMF_COMB_STACK;
            o.stack = &sp;
            c = make(&o);
            fuse1(c, d, out);
            z = 0;
            for (int y = 0; y < N; y++) {
                double s = b[y];
                for (int k = 0; k < K; k++)
                    for (int i = 0; i < N; i++)
                        s += W[y * K * N + k * N + i] * (logp ? fmax(log(p[k][i]), -20.0) : p[k][i]);
                z += q[y] = exp(s);
            }
            for (int y = 0; y < N; y++) CHECK_CLOSE(exp(out[y]), q[y] / z, 1e-7, 1e-5);
            lmf_comb_free(c);
        }
    }
}

/* Normalised results; weight 1 on one member gives that member. */
static void test_invariants(void) {
    unsigned seed = 11;
    float d[K * N], out[N];
    random_dists(&seed, d, 1);
    for (int cb = 0; cb < LMF_COMB_COUNT; cb++) {
        if (cb == LMF_COMB_CASCADE) continue; /* two members: below */
        double A[K * 5 * K] = {0}, b[K], mean[5 * K] = {0}, sd[5 * K], loss0[K] = {1, 1, 1};
        for (int j = 0; j < 5 * K; j++) sd[j] = 1;
        double W[N * K * N] = {0}, sb[N] = {0};
        lmf_gate_params gp = {0.9, mean, sd, loss0, A, b};
        lmf_stack_params sp = {N, W, sb, 0};
        const lmf_pairvote_params pv = {0, NULL, NULL, NULL, NULL}; /* no pair seen: half votes for both */
        const double w1[K] = {0, 1, 0};
        lmf_comb_opts o;
        lmf_comb_opts_init(&o);
        o.comb = (lmf_combiner)cb;
        o.weights = w1;
        o.top_k = 2;
        o.gate = &gp;
        o.stack = &sp;
        o.pairs = &pv;
        /* gate with A = 0, b = ln w: the linear mixture; ln 0 -> a very negative bias */
        for (int k = 0; k < K; k++) b[k] = w1[k] > 0 ? 0 : -200;
        lmf_comb *c = make(&o);
        if (!c) continue;
        fuse1(c, d, out);
        CHECK_MSG(fabs(sum_exp(out) - 1) < 1e-5, "%s: sums to %.9g", lmf_combiner_name(o.comb), sum_exp(out));
        if (cb == LMF_COMB_LINEAR || cb == LMF_COMB_LOGLINEAR || cb == LMF_COMB_BAYES || cb == LMF_COMB_GATE) {
            double r = 0;
            for (int i = 0; i < N; i++) r = fmax(r, fabs((double)out[i] - d[N + i]));
            CHECK_MSG(r < 1e-5, "%s: weight 1 on member 2 is off by %g", lmf_combiner_name(o.comb), r);
        }
        lmf_comb_free(c);
    }
    /* a negative control: weight 1 on member 1 does not give member 2 */
    const double w0[K] = {1, 0, 0};
    lmf_comb_opts o;
    lmf_comb_opts_init(&o);
    o.weights = w0;
    lmf_comb *c = make(&o);
    fuse1(c, d, out);
    double r = 0;
    for (int i = 0; i < N; i++) r = fmax(r, fabs((double)out[i] - d[N + i]));
    CHECK(r > 1e-3);
    lmf_comb_free(c);
}

/* lmf_comb_combine_at gives out[y] of lmf_comb_combine bit for bit, for
 * every combiner and outcome (a gate with features that matter). */
static void test_combine_at(void) {
    unsigned seed = 5;
    float d[K * N], out[N];
    random_dists(&seed, d, 1);
    double A[K * 5 * K], b[K] = {0.3, -0.2, 0.1}, mean[5 * K], sd[5 * K], loss0[K] = {1, 2, 3};
    for (int j = 0; j < K * 5 * K; j++) A[j] = 0.1 * ((j * 7) % 11 - 5);
    for (int j = 0; j < 5 * K; j++) mean[j] = 0.5, sd[j] = 1.5;
    double W[N * K * N], sb[N] = {0.1, 0, -0.1, 0.2, 0};
    for (int j = 0; j < N * K * N; j++) W[j] = 0.05 * ((j * 5) % 9 - 4);
    lmf_gate_params gp = {0.9, mean, sd, loss0, A, b};
    lmf_stack_params sp = {N, W, sb, 0};
    const double w[K] = {0.2, 0.5, 0.3};
    const int64_t pk[1] = {((0 * K + 1) * N + 0) * N + 0}, pptr[2] = {0, 2};
    const int32_t py[2] = {0, 3};
    const double pp[2] = {0.25, 0.75};
    const lmf_pairvote_params pv = {1, pk, pptr, py, pp};
    for (int cb = 0; cb < LMF_COMB_COUNT; cb++) {
        if (cb == LMF_COMB_CASCADE) continue; /* two members */
        lmf_comb_opts o;
        lmf_comb_opts_init(&o);
        o.comb = (lmf_combiner)cb;
        o.weights = w;
        o.top_k = 2;
        o.gate = &gp;
        o.stack = &sp;
        o.pairs = &pv;
        lmf_comb *c = make(&o);
        if (!c) continue;
        lmf_comb_state *st = lmf_comb_state_new(c);
        CHECK(st != NULL);
        lmf_comb_combine(c, st, d, N, NULL, out);
        int bad = 0;
        for (int y = 0; y < N; y++) {
            float a = lmf_comb_combine_at(c, st, d, N, NULL, y);
            bad += memcmp(&a, &out[y], sizeof a) != 0;
        }
        CHECK_MSG(bad == 0, "%s: combine_at differs from combine at %d outcomes", lmf_combiner_name(o.comb), bad);
        lmf_comb_state_free(st);
        lmf_comb_free(c);
    }
}

/* bayes moves its weights towards the member that predicted the observed
 * outcomes; a reset brings back the prior. */
static void test_history(void) {
    lmf_comb_opts o;
    lmf_comb_opts_init(&o);
    o.comb = LMF_COMB_BAYES;
    o.share = 0;
    lmf_comb *c = make(&o);
    lmf_comb_state *s = lmf_comb_state_new(c);
    const float lp[K] = {logf(0.9f), logf(0.1f), logf(0.1f)};
    for (int t = 0; t < 5; t++) lmf_comb_observe(c, s, lp);
    double lw[K];
    lmf_comb_item_weights(c, s, NULL, 0, NULL, lw);
    /* posterior after 5 outcomes: 0.9^5 / (0.9^5 + 2 * 0.1^5) */
    CHECK_CLOSE(exp(lw[0]), pow(0.9, 5) / (pow(0.9, 5) + 2 * pow(0.1, 5)), 1e-9, 1e-6);
    lmf_comb_state_reset(c, s);
    lmf_comb_item_weights(c, s, NULL, 0, NULL, lw);
    CHECK_CLOSE(exp(lw[0]), 1.0 / 3, 1e-12, 1e-9);
    lmf_comb_state_free(s);
    lmf_comb_free(c);
}

static void test_errors(void) {
    lmf_comb_opts o;
    lmf_comb_opts_init(&o);
    lmf_comb *c = NULL;
    o.comb = LMF_COMB_STACK; /* no parameters */
    CHECK(lmf_comb_new(&o, K, N, &c) == LMF_ERR_ARG && !c && strstr(lmf_last_error(), "meta-model"));
    double W[N * K * N] = {0}, b[N] = {0};
    W[3] = NAN;
    lmf_stack_params sp = {N, W, b, 0};
    o.stack = &sp;
    CHECK(lmf_comb_new(&o, K, N, &c) == LMF_ERR_ARG && strstr(lmf_last_error(), "not finite"));
    sp.N = N + 1;
    CHECK(lmf_comb_new(&o, K, N, &c) == LMF_ERR_ARG && strstr(lmf_last_error(), "classes"));
    lmf_comb_opts_init(&o);
    const double neg[K] = {1, -1, 0};
    o.weights = neg;
    CHECK(lmf_comb_new(&o, K, N, &c) == LMF_ERR_ARG && strstr(lmf_last_error(), "weight 2"));
    CHECK(lmf_comb_new(&o, K, 0, &c) == LMF_ERR_ARG);
    CHECK(lmf_combiner_parse("stack") == LMF_COMB_STACK && lmf_combiner_parse("nope") == -1);
}

/* van Halteren's per-outcome votes (TagPrecision, Precision-Recall) and
 * pair votes (TagPair), counted here by hand for members whose top outcomes
 * are 1, 1 and 3. */
static void test_outcome_votes(void) {
    float d[K * N];
    for (int k = 0; k < K; k++)
        for (int i = 0; i < N; i++) d[k * N + i] = (float)log(i == (k < 2 ? 1 : 3) ? 0.6 : 0.1);
    double vf[K * N], va[K * N];
    for (int j = 0; j < K * N; j++) vf[j] = 0.5 + 0.01 * j, va[j] = 0.02 * (j % 7);
    lmf_comb_opts o;
    lmf_comb_opts_init(&o);
    o.comb = LMF_COMB_VOTE;
    o.top_k = 1;
    o.vote_mass = 1;
    o.vote_for = vf;
    float out[N];
    for (int against = 0; against < 2; against++) {
        o.vote_against = against ? va : NULL;
        lmf_comb *c = make(&o);
        if (!c) continue;
        fuse1(c, d, out);
        double v[N] = {0}, tot = 0;
        const int top[K] = {1, 1, 3};
        for (int k = 0; k < K; k++) v[top[k]] += vf[k * N + top[k]];
        if (against) { /* 1 - recall for the outcomes the others chose: 1 (members 0, 1) and 3 (member 2) */
            v[3] += va[0 * N + 3] + va[1 * N + 3];
            v[1] += va[2 * N + 1];
        }
        for (int y = 0; y < N; y++) tot += v[y];
        for (int y = 0; y < N; y++) CHECK_CLOSE(exp((double)out[y]), v[y] / tot, 1e-7, 1e-6);
        lmf_comb_free(c);
    }
    /* pairs (0,1) saw (1,1): outcome 1 with 0.8, 2 with 0.2; (1,2) saw (1,3): 3; (0,2) unseen */
    const int64_t pk[2] = {((0 * K + 1) * N + 1) * N + 1, ((1 * K + 2) * N + 1) * N + 3}, pptr[3] = {0, 2, 3};
    const int32_t py[3] = {1, 2, 3};
    const double pp[3] = {0.8, 0.2, 1.0};
    const lmf_pairvote_params pv = {2, pk, pptr, py, pp};
    lmf_comb_opts_init(&o);
    o.comb = LMF_COMB_PAIRVOTE;
    o.vote_mass = 1;
    o.pairs = &pv;
    lmf_comb *c = make(&o);
    if (c) {
        fuse1(c, d, out);
        const double want[N] = {0, (0.8 + 0.5) / 3, 0.2 / 3, (1.0 + 0.5) / 3, 0};
        for (int y = 0; y < N; y++) CHECK_CLOSE(exp((double)out[y]), want[y], 1e-7, 1e-6);
        lmf_comb_free(c);
    }
    /* a table out of order is refused */
    const int64_t bad[2] = {pk[1], pk[0]};
    const lmf_pairvote_params pb = {2, bad, pptr, py, pp};
    o.pairs = &pb;
    c = NULL;
    CHECK(lmf_comb_new(&o, K, N, &c) == LMF_ERR_ARG && c == NULL);
}

int main(void) {
    test_outcome_votes();
    test_combine_at();
    test_formulas();
    test_invariants();
    test_history();
    test_errors();
    TEST_MAIN_END();
}
