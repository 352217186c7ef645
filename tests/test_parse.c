/* Number parsing (lmf/parse.h), the command line's option values: whole
 * strings only, no wrap-around of negative unsigned values, finite doubles,
 * lists without empty items. */
#include "test.h"

#include "lmf/parse.h"

static void test_ints(void) {
    static const struct {
        const char *s;
        int ok;
        long long v;
    } ic[] = {{"0", 1, 0},         {"42", 1, 42},  {"+7", 1, 7},  {"-2147483647", 1, -2147483647LL},
              {"2147483647", 1, 2147483647LL}, {"2147483648", 0, 0}, {"-2147483648", 0, 0}, {"", 0, 0},
              {" 5", 0, 0},        {"5 ", 0, 0},   {"\t5", 0, 0}, {"0x10", 0, 0}, {"1e3", 0, 0}, {"+-5", 0, 0},
              {"-", 0, 0},         {"99999999999999999999", 0, 0}};
    for (size_t i = 0; i < sizeof ic / sizeof *ic; i++) {
        int v = -99;
        int ok = lmf_parse_int(ic[i].s, &v);
        CHECK_MSG(ok == ic[i].ok && (ok ? v == ic[i].v : v == -99), "int \"%s\": ok %d, %d", ic[i].s, ok, v);
    }
    static const struct {
        const char *s;
        int ok;
        uint64_t v;
    } uc[] = {{"0", 1, 0}, {"+3", 1, 3}, {"18446744073709551615", 1, UINT64_MAX}, {"18446744073709551616", 0, 0},
              /* strtoull reads " -1" as 2^64 - 1; the old parser only refused a '-' in front */
              {" -1", 0, 0}, {"-1", 0, 0}, {"\n-5", 0, 0}, {"", 0, 0}, {"1 ", 0, 0}};
    for (size_t i = 0; i < sizeof uc / sizeof *uc; i++) {
        uint64_t v = 99;
        int ok = lmf_parse_u64(uc[i].s, &v);
        CHECK_MSG(ok == uc[i].ok && (ok ? v == uc[i].v : v == 99), "u64 \"%s\": ok %d, %llu", uc[i].s, ok,
                  (unsigned long long)v);
    }
    CHECK(!lmf_parse_int(NULL, NULL) && !lmf_parse_u64(NULL, NULL) && !lmf_parse_double(NULL, NULL));
}

static void test_doubles(void) {
    static const struct {
        const char *s;
        int ok;
        double v;
    } dc[] = {{"1.5", 1, 1.5}, {"-2e-3", 1, -2e-3}, {"+.5", 1, 0.5}, {"0x1p4", 1, 16}, {"7", 1, 7},
              {"nan", 0, 0},   {"inf", 0, 0},     {"-Infinity", 0, 0}, {"1e999", 0, 0}, {"", 0, 0},
              {" 1", 0, 0},    {"1 ", 0, 0},      {"1,2", 0, 0},       {"e5", 0, 0},    {".", 0, 0}};
    for (size_t i = 0; i < sizeof dc / sizeof *dc; i++) {
        double v = -99;
        int ok = lmf_parse_double(dc[i].s, &v);
        CHECK_MSG(ok == dc[i].ok && (ok ? v == dc[i].v : v == -99), "double \"%s\": ok %d, %g", dc[i].s, ok, v);
    }
    double l[4];
    CHECK(lmf_parse_double_list("0.5,1,1.5", l, 4) == 3 && l[0] == 0.5 && l[1] == 1 && l[2] == 1.5);
    CHECK(lmf_parse_double_list("2", l, 1) == 1 && l[0] == 2);
    CHECK(lmf_parse_double_list("1,2", l, 1) == -1);       /* longer than max */
    CHECK(lmf_parse_double_list("1,", l, 4) == -1);        /* an empty item: the old ngram parser took "1," */
    CHECK(lmf_parse_double_list(",1", l, 4) == -1);
    CHECK(lmf_parse_double_list("1,,2", l, 4) == -1);
    CHECK(lmf_parse_double_list("", l, 4) == -1);
    CHECK(lmf_parse_double_list("1, 2", l, 4) == -1);
    CHECK(lmf_parse_double_list("1,inf", l, 4) == -1);     /* the old ngram parser took inf and nan */
    CHECK(lmf_parse_double_list("1e400", l, 4) == -1);
}

int main(void) {
    test_ints();
    test_doubles();
    TEST_MAIN_END();
}
