/* HTK SLF word lattices (lmf/rescore.h): parsed, checked (links to missing
 * nodes, cycles, unreachable ends), and turned into n-best lists by a beam
 * search in topological order under acoustic + lm_scale * LM + wip * words,
 * one hypothesis per distinct word string. */
#define _POSIX_C_SOURCE 200809L
#include "lmf/rescore.h"
#include "lmf/parse.h"

#include "rescore_impl.h"
#include "../core/util_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lmf_lattice_opts_init(lmf_lattice_opts *o) {
    memset(o, 0, sizeof *o);
    o->beam = 100;
    o->nbest = 100;
    o->lm_scale = 10;
}

#define MAX_NODES 1000000
#define MAX_LINKS 10000000

typedef struct {
    int32_t word; /* nb word id, or -1: no word (a filler or !NULL) */
    int defined;
} lnode;
typedef struct {
    int32_t s, e, word; /* word: -2 = the end node's */
    double a, l, post;  /* post: ln of the link's posterior (p=), 0 when not given */
} llink;

typedef struct {
    double score, ac, lm, lat_lm, post;
    int32_t nw, hist;
    lmf_state *st;
} part;

typedef struct {
    part *p;
    int32_t n, cap;
} partlist;

/* Open-addressing map from 64-bit keys to int32 values. */
typedef struct {
    uint64_t *key;
    int32_t *val;
    size_t cap, n;
} map64;

static void map_free(map64 *m) {
    lmf_free(m->key);
    lmf_free(m->val);
}

/* The value slot of `key`, inserted with value -1 if new; NULL on out of memory. */
static int32_t *map_slot(map64 *m, uint64_t key) {
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        uint64_t *k = (uint64_t *)lmf_malloc(nc * sizeof *k);
        int32_t *v = (int32_t *)lmf_malloc(nc * sizeof *v);
        if (!k || !v) {
            lmf_free(k);
            lmf_free(v);
            return NULL;
        }
        for (size_t i = 0; i < nc; i++) k[i] = UINT64_MAX;
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i] != UINT64_MAX) {
                size_t j = lmf_mix64(m->key[i]) & (nc - 1);
                while (k[j] != UINT64_MAX) j = (j + 1) & (nc - 1);
                k[j] = m->key[i];
                v[j] = m->val[i];
            }
        map_free(m);
        m->key = k;
        m->val = v;
        m->cap = nc;
    }
    size_t j = lmf_mix64(key) & (m->cap - 1);
    while (m->key[j] != UINT64_MAX) {
        if (m->key[j] == key) return &m->val[j];
        j = (j + 1) & (m->cap - 1);
    }
    m->key[j] = key;
    m->val[j] = -1;
    m->n++;
    return &m->val[j];
}

/* Word-history trie: child (parent, word) -> id, so equal word strings get equal ids. */
typedef struct {
    map64 child;
    int32_t *parent, *word;
    int32_t nid, capid;
} trie;

static void trie_free(trie *t) {
    map_free(&t->child);
    lmf_free(t->parent);
    lmf_free(t->word);
}

static int32_t trie_child(trie *t, int32_t parent, int32_t word) {
    int32_t *v = map_slot(&t->child, (uint64_t)(uint32_t)parent << 32 | (uint32_t)word);
    if (!v) return -1;
    if (*v >= 0) return *v;
    if (t->nid == t->capid) {
        int32_t nc = t->capid ? t->capid * 2 : 1024;
        int32_t *p = (int32_t *)lmf_realloc(t->parent, (size_t)nc * sizeof *p);
        if (!p) return -1;
        t->parent = p;
        int32_t *w = (int32_t *)lmf_realloc(t->word, (size_t)nc * sizeof *w);
        if (!w) return -1;
        t->word = w;
        t->capid = nc;
    }
    t->parent[t->nid] = parent;
    t->word[t->nid] = word;
    return *v = t->nid++;
}

/* ---- parsing ---- */
static lmf_status bad(const char *name, size_t line, const char *what) {
    return lmf_error(LMF_ERR_FORMAT, "%s line %zu: %s (HTK SLF lattice: N= L= in the header, then I= nodes and J= "
                                     "S= E= links)", name, line, what);
}

static int parse_i64(const char *s, size_t n, long long lo, long long hi, long long *out) {
    if (!n || n > 20) return 0;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
        if (v > hi) return 0;
    }
    if (v < lo) return 0;
    *out = v;
    return 1;
}

static int parse_num(const char *s, size_t n, double *out) {
    char buf[64];
    if (!n || n >= sizeof buf) return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    return lmf_parse_double(buf, out);
}

typedef struct {
    lnode *node;
    llink *link;
    long long N, L;
    long long start, end;
    double base_ln; /* ln(base): multiply scores by it */
    int has_l, has_p;
} lattice;

static void lattice_free(lattice *g) {
    lmf_free(g->node);
    lmf_free(g->link);
}

static lmf_status parse(lmf_nbest *nb, const char *data, size_t size, const char *name, lattice *g) {
    memset(g, 0, sizeof *g);
    g->N = g->L = -1;
    g->start = g->end = -1;
    g->base_ln = 1;
    if (memchr(data, 0, size)) return lmf_error(LMF_ERR_FORMAT, "%s: a NUL byte (not a text lattice)", name);
    const char *p = data, *end = data + size;
    size_t line = 0;
    long long nlinks = 0, nnodes = 0;
    while (p < end) {
        const char *ls = p, *nl = (const char *)memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        p = nl ? nl + 1 : end;
        line++;
        const char *q = ls;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q == le || *q == '#') continue;
        /* fields KEY=VALUE */
        enum { HDR, NODE, LINK } kind = HDR;
        long long idx = -1, S = -1, E = -1;
        double a = 0, l = 0, post = 0;
        int32_t word = -2;
        int first = 1;
        while (q < le) {
            while (q < le && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
            if (q >= le) break;
            const char *fs = q;
            while (q < le && *q != ' ' && *q != '\t' && *q != '\r') q++;
            const char *eq = (const char *)memchr(fs, '=', (size_t)(q - fs));
            if (!eq) return bad(name, line, "a field without \"=\"");
            size_t kn = (size_t)(eq - fs), vn = (size_t)(q - eq - 1);
            const char *v = eq + 1;
#define KEY(s) (kn == sizeof(s) - 1 && !memcmp(fs, s, kn))
            if (first) {
                kind = KEY("I") ? NODE : KEY("J") ? LINK : HDR;
                first = 0;
                if (kind != HDR && (g->N < 0 || g->L < 0)) return bad(name, line, "a node or link before the header's N= and L=");
                if (kind == NODE && !parse_i64(v, vn, 0, g->N - 1, &idx)) return bad(name, line, "a node number (I=) outside 0..N-1");
                if (kind == LINK && !parse_i64(v, vn, 0, g->L - 1, &idx)) return bad(name, line, "a link number (J=) outside 0..L-1");
                if (kind != HDR) continue;
            }
            if (kind == HDR) {
                long long n;
                double d;
                if (KEY("N") || KEY("NODES")) {
                    if (g->N >= 0 || !parse_i64(v, vn, 1, MAX_NODES, &n)) return bad(name, line, "N= must be given once, 1..1000000 nodes");
                    g->N = n;
                    if (!(g->node = (lnode *)lmf_calloc((size_t)n, sizeof *g->node))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
                } else if (KEY("L") || KEY("LINKS")) {
                    if (g->L >= 0 || !parse_i64(v, vn, 0, MAX_LINKS, &n)) return bad(name, line, "L= must be given once, 0..10000000 links");
                    g->L = n;
                    if (!(g->link = (llink *)lmf_calloc((size_t)(n ? n : 1), sizeof *g->link))) return lmf_error(LMF_ERR_NOMEM, "out of memory");
                    for (long long i = 0; i < n; i++) g->link[i].s = -1;
                } else if (KEY("start")) {
                    if (!parse_i64(v, vn, 0, MAX_NODES, &g->start)) return bad(name, line, "start= must be a node number");
                } else if (KEY("end")) {
                    if (!parse_i64(v, vn, 0, MAX_NODES, &g->end)) return bad(name, line, "end= must be a node number");
                } else if (KEY("base")) {
                    if (!parse_num(v, vn, &d) || !(d > 1)) return bad(name, line, "base= must be a number above 1 (the log base of the scores)");
                    g->base_ln = log(d);
                }
                continue; /* VERSION=, UTTERANCE=, lmscale= ... are not needed */
            }
            if (KEY("W") || KEY("WORD")) {
                if (lmf_nbest_is_filler(v, vn)) word = -1;
                else if ((word = lmf_nbest_word(nb, v, vn)) < 0) return LMF_ERR_NOMEM;
            } else if (kind == LINK && (KEY("S") || KEY("START"))) {
                if (!parse_i64(v, vn, 0, g->N - 1, &S)) return bad(name, line, "a link from a node (S=) outside 0..N-1");
            } else if (kind == LINK && (KEY("E") || KEY("END"))) {
                if (!parse_i64(v, vn, 0, g->N - 1, &E)) return bad(name, line, "a link to a node (E=) outside 0..N-1");
            } else if (kind == LINK && (KEY("a") || KEY("acoustic"))) {
                if (!parse_num(v, vn, &a)) return bad(name, line, "an acoustic score (a=) that is not a finite number");
            } else if (kind == LINK && (KEY("l") || KEY("language"))) {
                if (!parse_num(v, vn, &l)) return bad(name, line, "a language model score (l=) that is not a finite number");
                g->has_l = 1;
            } else if (kind == LINK && KEY("p")) {
                if (!parse_num(v, vn, &post) || post < 0 || post > 1.01) /* pocketsphinx rounds to its log base 1.0001 */
                    return bad(name, line, "a posterior (p=) that is not a probability");
                post = post > 1 ? 0 : log(post > 1e-300 ? post : 1e-300);
                g->has_p = 1;
            } else if (kind == NODE && (KEY("L"))) {
                return bad(name, line, "sub-lattices (L= on a node) are not supported");
            }
#undef KEY
        }
        if (kind == NODE) {
            if (g->node[idx].defined) return bad(name, line, "a node defined twice");
            g->node[idx].defined = 1;
            g->node[idx].word = word == -2 ? -1 : word;
            nnodes++;
        } else if (kind == LINK) {
            if (S < 0 || E < 0) return bad(name, line, "a link without S= or E=");
            if (g->link[idx].s >= 0) return bad(name, line, "a link defined twice");
            g->link[idx] = (llink){(int32_t)S, (int32_t)E, word, a * g->base_ln, l * g->base_ln, post};
            nlinks++;
        }
    }
    if (g->N < 0 || g->L < 0) return lmf_error(LMF_ERR_FORMAT, "%s: no N= and L= header (not an HTK SLF lattice)", name);
    if (nlinks != g->L) return lmf_error(LMF_ERR_FORMAT, "%s: L=%lld links announced, %lld given", name, g->L, nlinks);
    for (long long i = 0; i < g->L; i++) {
        llink *k = &g->link[i];
        if (!g->node[k->s].defined || !g->node[k->e].defined)
            return lmf_error(LMF_ERR_FORMAT, "%s: link J=%lld joins node %d, which is not defined (no I=%d line)", name, i,
                             g->node[k->s].defined ? k->e : k->s, g->node[k->s].defined ? k->e : k->s);
    }
    (void)nnodes;
    if (g->start >= g->N || g->end >= g->N)
        return lmf_error(LMF_ERR_FORMAT, "%s: start= or end= names a node outside 0..%lld", name, g->N - 1);
    return LMF_OK;
}

/* ---- search ---- */
typedef struct {
    lmf_model *m;
    int32_t *map; /* nb word id -> model id (-2: not looked up) */
    int32_t nmap;
    lmf_state **pool;
    int32_t npool, cappool;
} lmctx;

static lmf_state *state_get(lmctx *c) {
    if (c->npool) return c->pool[--c->npool];
    return lmf_state_new(c->m);
}
static void state_put(lmctx *c, lmf_state *s) {
    if (!s) return;
    if (c->npool == c->cappool) {
        int32_t nc = c->cappool ? c->cappool * 2 : 256;
        lmf_state **p = (lmf_state **)lmf_realloc(c->pool, (size_t)nc * sizeof *p);
        if (!p) {
            lmf_state_free(c->m, s);
            return;
        }
        c->pool = p;
        c->cappool = nc;
    }
    c->pool[c->npool++] = s;
}

static int32_t model_id(lmctx *c, const lmf_nbest *nb, int32_t w) {
    if (w >= c->nmap) {
        int32_t n = lmf_vocab_size(nb->words) + 1024;
        int32_t *m = (int32_t *)lmf_realloc(c->map, (size_t)n * sizeof *m);
        if (!m) return -3;
        for (int32_t i = c->nmap; i < n; i++) m[i] = -2;
        c->map = m;
        c->nmap = n;
    }
    if (c->map[w] == -2) {
        size_t len;
        const char *s = lmf_vocab_word(nb->words, w, &len);
        int32_t id = lmf_vocab_find(lmf_model_vocab(c->m), s, len);
        c->map[w] = id < 2 ? LMF_UNK : id;
    }
    return c->map[w];
}

static int cmp_part(const void *a, const void *b) {
    double x = ((const part *)a)->score, y = ((const part *)b)->score;
    return x > y ? -1 : x < y;
}

static int add_part(partlist *L, const part *p) {
    if (L->n == L->cap) {
        int32_t nc = L->cap ? L->cap * 2 : 16;
        part *q = (part *)lmf_realloc(L->p, (size_t)nc * sizeof *q);
        if (!q) return -1;
        L->p = q;
        L->cap = nc;
    }
    L->p[L->n++] = *p;
    return 0;
}

lmf_status lmf_nbest_add_slf(lmf_nbest *nb, const char *data, size_t size, const char *name, const char *id,
                             const lmf_lattice_opts *lo) {
    lmf_lattice_opts dflt;
    if (!lo) {
        lmf_lattice_opts_init(&dflt);
        lo = &dflt;
    }
    if (lo->beam < 1 || lo->nbest < 1 || !isfinite(lo->lm_scale) || !isfinite(lo->wip))
        return lmf_error(LMF_ERR_ARG, "lattice search: beam and nbest must be at least 1, the scales finite");
    if (lo->lm && lmf_vocab_mode(lmf_model_vocab(lo->lm)) != LMF_TOK_WORD)
        return lmf_error(LMF_ERR_UNSUPPORTED, "lattice search: the model predicts characters or bytes; a word model is needed");
    lattice g;
    lmf_status st = parse(nb, data, size, name, &g);
    int fa = -1, fw = -1, fl = -1, fp = -1;
    if (!st) {
        fa = lmf_nbest_feature(nb, "acoustic");
        fw = lmf_nbest_feature(nb, "words");
        if (g.has_l) fl = lmf_nbest_feature(nb, "lattice_lm");
        if (g.has_p) fp = lmf_nbest_feature(nb, "posterior");
        if (fa < 0 || fw < 0 || (g.has_l && fl < 0) || (g.has_p && fp < 0)) st = lmf_error(LMF_ERR_DATA, "%s: %s", name, lmf_last_error());
    }
    const long long N = g.N, L = g.L;
    int32_t *indeg = NULL, *order = NULL, *out0 = NULL, *outl = NULL;
    partlist *H = NULL;
    trie t = {0};
    map64 at = {0}; /* (node, word string) -> index in H[node] */
    lmctx c = {lo->lm, NULL, 0, NULL, 0, 0};
    if (!st) {
        indeg = (int32_t *)lmf_calloc((size_t)N, sizeof *indeg);
        order = (int32_t *)lmf_malloc((size_t)N * sizeof *order);
        out0 = (int32_t *)lmf_calloc((size_t)N + 1, sizeof *out0);
        outl = (int32_t *)lmf_malloc((size_t)(L ? L : 1) * sizeof *outl);
        H = (partlist *)lmf_calloc((size_t)N, sizeof *H);
        if (!indeg || !order || !out0 || !outl || !H) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
    }
    long long start = g.start, endn = g.end, s0 = -1, e0 = -1;
    int ns = 0, ne = 0;
    if (!st) {
        for (long long i = 0; i < L; i++) {
            indeg[g.link[i].e]++;
            out0[g.link[i].s + 1]++;
        }
        for (long long i = 0; i < N; i++) out0[i + 1] += out0[i];
        int32_t *fill = order; /* reuse as a cursor array */
        for (long long i = 0; i < N; i++) fill[i] = out0[i];
        for (long long i = 0; i < L; i++) outl[fill[g.link[i].s]++] = (int32_t)i;
        for (long long i = 0; i < N; i++) { /* the unique node without incoming (outgoing) links */
            if (!g.node[i].defined) continue;
            if (!indeg[i]) s0 = i, ns++;
            if (out0[i + 1] == out0[i]) e0 = i, ne++;
        }
    }
    if (!st) { /* Kahn's topological order; a cycle leaves nodes behind */
        int32_t head = 0, tail = 0;
        for (long long i = 0; i < N; i++)
            if (g.node[i].defined && !indeg[i]) order[tail++] = (int32_t)i;
        while (head < tail) {
            int32_t u = order[head++];
            for (int32_t k = out0[u]; k < out0[u + 1]; k++)
                if (!--indeg[g.link[outl[k]].e]) order[tail++] = g.link[outl[k]].e;
        }
        long long defined = 0;
        for (long long i = 0; i < N; i++) defined += g.node[i].defined;
        if (tail < defined) {
            long long cyc = -1;
            for (long long i = 0; i < N && cyc < 0; i++)
                if (g.node[i].defined && indeg[i]) cyc = i;
            st = lmf_error(LMF_ERR_FORMAT, "%s: the lattice has a cycle (through node %lld); lattices must be acyclic", name, cyc);
        } else if (start < 0 && ns != 1) {
            st = lmf_error(LMF_ERR_FORMAT, "%s: no start= and %d nodes without incoming links (give start=)", name, ns);
        } else if (endn < 0 && ne != 1) {
            st = lmf_error(LMF_ERR_FORMAT, "%s: no end= and %d nodes without outgoing links (give end=)", name, ne);
        } else if (!g.node[start < 0 ? s0 : start].defined || !g.node[endn < 0 ? e0 : endn].defined) {
            st = lmf_error(LMF_ERR_FORMAT, "%s: the start or end node is not defined (no I= line)", name);
        } else {
            if (start < 0) start = s0;
            if (endn < 0) endn = e0;
            /* search */
            part p0 = {0, 0, 0, 0, 0, 0, 0, NULL};
            if (c.m) {
                if (!(p0.st = state_get(&c))) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
                else lmf_state_reset(c.m, p0.st);
            }
            p0.hist = -1;
            if (!st && add_part(&H[start], &p0) < 0) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
            for (int32_t oi = 0; !st && oi < tail; oi++) {
                int32_t u = order[oi];
                partlist *Hu = &H[u];
                if (!Hu->n) continue;
                if (u == endn) break;
                qsort(Hu->p, (size_t)Hu->n, sizeof *Hu->p, cmp_part);
                while (Hu->n > lo->beam) state_put(&c, Hu->p[--Hu->n].st);
                for (int32_t k = out0[u]; !st && k < out0[u + 1]; k++) {
                    const llink *lk = &g.link[outl[k]];
                    int32_t w = lk->word == -2 ? g.node[lk->e].word : lk->word;
                    for (int32_t i = 0; !st && i < Hu->n; i++) {
                        const part *q = &Hu->p[i];
                        part np = *q;
                        np.ac += lk->a;
                        np.lat_lm += lk->l;
                        np.post += lk->post;
                        np.st = NULL;
                        if (w >= 0) {
                            np.nw++;
                            if ((np.hist = trie_child(&t, q->hist, w)) < 0) {
                                st = lmf_error(LMF_ERR_NOMEM, "out of memory");
                                break;
                            }
                        }
                        /* an existing entry with this string makes the LM work unnecessary */
                        partlist *Hv = &H[lk->e];
                        int32_t *slot = map_slot(&at, (uint64_t)(uint32_t)lk->e << 32 | (uint32_t)(np.hist + 1));
                        if (!slot) {
                            st = lmf_error(LMF_ERR_NOMEM, "out of memory");
                            break;
                        }
                        int32_t found = *slot;
                        if (found >= 0) {
                            double lmv = Hv->p[found].lm;
                            double sc = np.ac + lo->lm_scale * lmv + lo->wip * np.nw;
                            if (sc > Hv->p[found].score) {
                                Hv->p[found].score = sc;
                                Hv->p[found].ac = np.ac;
                                Hv->p[found].lat_lm = np.lat_lm;
                                Hv->p[found].post = np.post;
                            }
                            continue;
                        }
                        if (c.m) {
                            if (!(np.st = state_get(&c)) || lmf_state_copy(c.m, np.st, q->st)) {
                                st = lmf_error(LMF_ERR_NOMEM, "out of memory");
                                state_put(&c, np.st);
                                break;
                            }
                            if (w >= 0) {
                                int32_t mid = model_id(&c, nb, w);
                                float lp;
                                if (mid < -2 || (st = lmf_model_score(c.m, np.st, &mid, 1, &lp))) {
                                    if (!st) st = lmf_error(LMF_ERR_NOMEM, "out of memory");
                                    state_put(&c, np.st);
                                    break;
                                }
                                np.lm += lp;
                            }
                        }
                        np.score = np.ac + lo->lm_scale * np.lm + lo->wip * np.nw;
                        *slot = Hv->n;
                        if (add_part(Hv, &np) < 0) {
                            state_put(&c, np.st);
                            st = lmf_error(LMF_ERR_NOMEM, "out of memory");
                        }
                    }
                }
                for (int32_t i = 0; i < Hu->n; i++) state_put(&c, Hu->p[i].st);
                Hu->n = 0;
            }
        }
    }
    if (!st) {
        partlist *He = &H[endn];
        if (!He->n) st = lmf_error(LMF_ERR_FORMAT, "%s: no path from the start node to the end node", name);
        for (int32_t i = 0; !st && i < He->n; i++) {
            part *q = &He->p[i];
            if (c.m) {
                int32_t eos = LMF_EOS;
                float lp;
                if ((st = lmf_model_score(c.m, q->st, &eos, 1, &lp))) break;
                q->lm += lp;
            }
            q->score = q->ac + lo->lm_scale * q->lm + lo->wip * q->nw;
        }
        if (!st) qsort(He->p, (size_t)He->n, sizeof *He->p, cmp_part);
        if (!st) st = lmf_nbest_begin(nb, id, strlen(id));
        int32_t *w = NULL;
        int32_t wcap = 0;
        for (int32_t i = 0; !st && i < He->n && i < lo->nbest; i++) {
            part *q = &He->p[i];
            if (q->nw > wcap) {
                int32_t *nw = (int32_t *)lmf_realloc(w, (size_t)q->nw * sizeof *nw);
                if (!nw) {
                    st = lmf_error(LMF_ERR_NOMEM, "out of memory");
                    break;
                }
                w = nw;
                wcap = q->nw;
            }
            int32_t k = q->nw, h = q->hist;
            while (k > 0 && h >= 0) {
                w[--k] = t.word[h];
                h = t.parent[h];
            }
            double f[LMF_NBEST_MAX_FEATS] = {0};
            f[fa] = q->ac;
            f[fw] = q->nw;
            if (fl >= 0) f[fl] = q->lat_lm;
            if (fp >= 0) f[fp] = q->post;
            st = lmf_nbest_push(nb, w, q->nw, f);
        }
        lmf_free(w);
    }
    for (long long i = 0; H && i < N; i++) {
        for (int32_t j = 0; j < H[i].n; j++) state_put(&c, H[i].p[j].st);
        lmf_free(H[i].p);
    }
    for (int32_t i = 0; i < c.npool; i++) lmf_state_free(c.m, c.pool[i]);
    lmf_free(c.pool);
    lmf_free(c.map);
    trie_free(&t);
    map_free(&at);
    lmf_free(H);
    lmf_free(indeg);
    lmf_free(order);
    lmf_free(out0);
    lmf_free(outl);
    lattice_free(&g);
    return st;
}
