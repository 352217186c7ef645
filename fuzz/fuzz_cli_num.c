/* libFuzzer target: the number parsers every command-line option goes
 * through (lmf/parse.h), each checked against a property it promises:
 * integers against a digit-by-digit reference parser (sign, digits, range),
 * doubles are finite and survive a print/parse round trip, lists agree
 * with parsing their items one by one.  Input: byte 0 picks the list's
 * maximum length, the rest is the option value. */
#include "lmf/parse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* [sign]digits with |v| <= lim (neg: a '-' is allowed); 0 if not. */
static int ref_int(const char *s, int neg_ok, uint64_t lim, int *neg, uint64_t *v) {
    *neg = 0;
    if (*s == '+' || (neg_ok && *s == '-')) *neg = *s++ == '-';
    if (!*s) return 0;
    uint64_t x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        unsigned d = (unsigned)(*s - '0');
        if (x > (lim - d) / 10) return 0;
        x = x * 10 + d;
    }
    *v = x;
    return 1;
}

static void check_double(const char *s) {
    double v = 12345.0;
    if (!lmf_parse_double(s, &v)) {
        if (v != 12345.0) abort(); /* a refusal leaves *out alone */
        return;
    }
    if (!isfinite(v) || s[0] == ' ' || s[0] == '\t' || s[0] == '\n') abort();
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    double w;
    if (!lmf_parse_double(buf, &w) || memcmp(&v, &w, sizeof v) != 0) abort();
    int neg;
    uint64_t iv;
    if (ref_int(s, 1, (uint64_t)1 << 53, &neg, &iv) && v != (neg ? -(double)iv : (double)iv)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    int max = data[0] % 70;
    char *s = (char *)malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;

    int neg, iv = -7;
    uint64_t ref;
    int ok = lmf_parse_int(s, &iv);
    int rok = ref_int(s, 1, 2147483647u, &neg, &ref);
    if (ok != rok || (ok && iv != (neg ? -(int)ref : (int)ref)) || (!ok && iv != -7)) abort();

    uint64_t uv = 7;
    ok = lmf_parse_u64(s, &uv);
    rok = ref_int(s, 0, UINT64_MAX, &neg, &ref);
    if (ok != rok || (ok && uv != ref) || (!ok && uv != 7)) abort();

    check_double(s);

    double vals[70];
    int n = lmf_parse_double_list(s, vals, max);
    /* the items one by one */
    int items = 0, all = 1;
    double one[70];
    for (char *p = s;; items++) {
        char *comma = strchr(p, ',');
        if (comma) *comma = 0;
        double v;
        if (!lmf_parse_double(p, &v)) all = 0;
        else if (items < 70) one[items] = v;
        if (comma) *comma = ',';
        if (!comma) {
            items++;
            break;
        }
        p = comma + 1;
    }
    if (n >= 0) {
        if (!all || n != items || n > max) abort();
        for (int i = 0; i < n; i++)
            if (memcmp(&vals[i], &one[i], sizeof one[i]) != 0) abort();
    } else if (all && items <= max) {
        abort();
    }
    free(s);
    return 0;
}
