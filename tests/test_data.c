/* test_data.c - tests for nn.h's data section: the CSV reader (well-formed, malformed,
   truncated and hostile input), splits, k-fold, minibatch batcher, gathers, and the
   metrics (against tests/fixtures/metrics_*.txt from sklearn, written by
   tests/gen_metrics_fixtures.py, and against hand-computed values).

   Build and run from the repository root (fixture and data paths are relative to it):
       gcc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror tests/test_data.c -o /tmp/td -lm && /tmp/td
   `/tmp/td csv` runs only the tests whose name contains "csv".

   Tolerances: metrics are computed in double and returned as float; fixtures hold
   sklearn's float64 results, so each is compared at 1e-6 relative + 1e-7 absolute
   (float rounding of the result), counts and indices exactly. */
#ifndef NN_TEST_LINKED /* built against a separately compiled implementation */
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "fixture.h"
#include "test.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures/"
#endif

/* ------------------------------------------------------------------ CSV */

static nn_result csv_str(nn_csv *c, const nn_csv_desc *d, const char *s) {
    /* a copy exactly len bytes long, no NUL after it: the parser must not need one */
    size_t n = strlen(s);
    char *p = (char *)malloc(n ? n : 1);
    nn_result r;
    if (!p) return NN_ERR_OUT_OF_MEMORY;
    memcpy(p, s, n);
    r = nn_csv_parse(c, d, p, n);
    free(p);
    return r;
}

static void test_csv_basic(void) {
    nn_csv_desc d = nn_csv_desc_default();
    nn_csv c;
    memset(&c, 0, sizeof c);
    d.label_name = "label";
    if (!CHECK_EQ_INT(csv_str(&c, &d, "a,b,label\n1,2.5,0\n-3,4e2,2\n5, 6 ,1\n"), NN_OK)) return;
    CHECK_EQ_INT(c.rows, 3);
    CHECK_EQ_INT(c.cols, 2);
    CHECK(c.x[0] == 1.0f && c.x[1] == 2.5f && c.x[2] == -3.0f && c.x[3] == 400.0f && c.x[4] == 5.0f && c.x[5] == 6.0f);
    CHECK(c.y && c.y[0] == 0.0f && c.y[1] == 2.0f && c.y[2] == 1.0f);
    CHECK(c.labels && c.labels[0] == 0 && c.labels[1] == 2 && c.labels[2] == 1);
    CHECK_EQ_INT(c.n_classes, 3);
    CHECK(c.names && !strcmp(c.names[0], "a") && !strcmp(c.names[1], "b"));
    CHECK(c.label && !strcmp(c.label, "label"));
    nn_csv_free(&c);
    CHECK(c.x == NULL && c.owned == NULL && c.rows == 0);
    nn_csv_free(&c); /* twice is harmless */
}

/* Delimiters detected, quoting, CRLF, BOM, blank lines, no final newline, the
   label in the middle, header detected or not. */
static void test_csv_forms(void) {
    nn_csv_desc d = nn_csv_desc_default();
    nn_csv c;
    memset(&c, 0, sizeof c);
    d.label_col = 1;
    if (CHECK_EQ_INT(csv_str(&c, &d, "\xEF\xBB\xBFx;y;z\r\n\r\n1,5;1;2\r\n  \r\n3;0;4"), NN_ERR_CORRUPT)) {
        /* "1,5" is no number with ';' as the delimiter: the error names line and column */
        CHECKF(strstr(c.error, "line 3, column 1") != NULL, "message: %s", c.error);
    }
    if (CHECK_EQ_INT(csv_str(&c, &d, "\xEF\xBB\xBFx;y;z\r\n\r\n1.5;1;2\r\n  \r\n3;0;4"), NN_OK)) {
        CHECK_EQ_INT(c.rows, 2);
        CHECK_EQ_INT(c.cols, 2);
        CHECK(c.x[0] == 1.5f && c.x[1] == 2.0f && c.x[2] == 3.0f && c.x[3] == 4.0f);
        CHECK(c.labels && c.labels[0] == 1 && c.labels[1] == 0);
        CHECK(c.names && !strcmp(c.names[0], "x") && !strcmp(c.names[1], "z") && !strcmp(c.label, "y"));
        nn_csv_free(&c);
    }
    d = nn_csv_desc_default(); /* tabs, no header, no label */
    if (CHECK_EQ_INT(csv_str(&c, &d, "1\t2\t3\n4\t5\t6\n"), NN_OK)) {
        CHECK(c.rows == 2 && c.cols == 3 && c.names == NULL && c.y == NULL && c.labels == NULL && c.label == NULL);
        CHECK(c.x[5] == 6.0f);
        nn_csv_free(&c);
    }
    /* quoted names with the delimiter and doubled quotes inside; quoted numbers */
    d.label_name = "the \"class\"";
    if (CHECK_EQ_INT(csv_str(&c, &d, "\"len, cm\",\"the \"\"class\"\"\"\n\"2.5\" , 1\n3,\"0\"\n"), NN_OK)) {
        CHECK(c.rows == 2 && c.cols == 1 && c.x[0] == 2.5f && c.x[1] == 3.0f);
        CHECK(!strcmp(c.names[0], "len, cm") && !strcmp(c.label, "the \"class\""));
        nn_csv_free(&c);
    }
    /* non-integer labels: y kept, labels NULL */
    d = nn_csv_desc_default();
    d.label_col = 0;
    if (CHECK_EQ_INT(csv_str(&c, &d, "0.5,1\n2,3\n"), NN_OK)) {
        CHECK(c.y && c.y[0] == 0.5f && c.labels == NULL && c.n_classes == 0 && c.cols == 1);
        nn_csv_free(&c);
    }
    /* header forced off: a first line of numbers is data; forced on: it is names */
    d = nn_csv_desc_default();
    d.header = 1;
    if (CHECK_EQ_INT(csv_str(&c, &d, "1,2\n3,4\n"), NN_OK)) {
        CHECK(c.rows == 1 && !strcmp(c.names[0], "1"));
        nn_csv_free(&c);
    }
}

/* Every error: a code, a message naming the place, the caller's table untouched. */
static void test_csv_errors(void) {
    static const struct {
        const char *text, *msg;
        int label_col;
        nn_result r;
    } cases[] = {
        {"", "no data", -1, NN_ERR_CORRUPT},
        {"\n\r\n  \n", "no data", -1, NN_ERR_CORRUPT},
        {"a,b\n", "no rows", -1, NN_ERR_CORRUPT},
        {"a,b\n1,2\n3\n", "line 3: 1 fields", -1, NN_ERR_CORRUPT},
        {"a,b\n1,2\n3,4,5\n", "line 3: more than", -1, NN_ERR_CORRUPT},
        {"a,b\n1,2\n3,x\n", "line 3, column 2: \"x\" is not a finite number", -1, NN_ERR_CORRUPT},
        {"a,b\n1,\n", "line 2, column 2: \"\" is empty", -1, NN_ERR_CORRUPT},
        {"a,b\n1,nan\n", "column 2: \"nan\" is not", -1, NN_ERR_CORRUPT},
        {"a,b\n1,inf\n", "not a finite", -1, NN_ERR_CORRUPT},
        {"a,b\n1,1e39\n", "not a finite", -1, NN_ERR_CORRUPT},
        {"a,b\n1,\"2\n", "line 2, column 2: quoted field never closed", -1, NN_ERR_CORRUPT},
        {"a,b\n1,\"2\"x\n", "text after a closing quote", -1, NN_ERR_CORRUPT},
        {"a,b\n1,2\"\n", "a quote inside an unquoted field", -1, NN_ERR_CORRUPT},
        {"a,b\n1,\xff\xfe\n", "\"??\" is not", -1, NN_ERR_CORRUPT},
        {"a,b\n1,2\n", "label_col 5", 5, NN_ERR_INVALID_ARGUMENT},
        {"a,b\n1,000000000000000000000000000000000000000000000000000000000000000000000000001\n", "not a finite", -1,
         NN_ERR_CORRUPT},
    };
    int i;
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        nn_csv_desc d = nn_csv_desc_default();
        nn_csv c;
        memset(&c, 0, sizeof c);
        c.rows = 77; /* the caller's old state */
        d.label_col = cases[i].label_col;
        CHECKF(csv_str(&c, &d, cases[i].text) == cases[i].r, "case %d: wrong code", i);
        CHECKF(strstr(c.error, cases[i].msg) != NULL, "case %d: message \"%s\", expected \"%s\"", i, c.error,
               cases[i].msg);
        CHECKF(c.rows == 77 && c.x == NULL && c.owned == NULL, "case %d: the table changed", i);
    }
    {
        nn_csv_desc d = nn_csv_desc_default();
        nn_csv c;
        memset(&c, 0, sizeof c);
        d.max_cols = 2;
        CHECK_EQ_INT(csv_str(&c, &d, "1,2,3\n"), NN_ERR_TOO_LARGE);
        CHECKF(strstr(c.error, "max_cols") != NULL, "%s", c.error);
        d = nn_csv_desc_default();
        d.max_rows = 2;
        CHECK_EQ_INT(csv_str(&c, &d, "1\n2\n3\n"), NN_ERR_TOO_LARGE);
        d = nn_csv_desc_default();
        d.label_name = "zz";
        CHECK_EQ_INT(csv_str(&c, &d, "a,b\n1,2\n"), NN_ERR_INVALID_ARGUMENT);
        CHECKF(strstr(c.error, "no column named \"zz\"") != NULL, "%s", c.error);
        CHECK_EQ_INT(csv_str(&c, &d, "1,2\n1,2\n"), NN_ERR_INVALID_ARGUMENT); /* a name needs a header */
        d = nn_csv_desc_default();
        d.delimiter = '"';
        CHECK_EQ_INT(csv_str(&c, &d, "1,2\n"), NN_ERR_INVALID_ARGUMENT);
        memset(&d, 0, sizeof d); /* a zeroed description is refused */
        CHECK_EQ_INT(csv_str(&c, &d, "1,2\n"), NN_ERR_INVALID_ARGUMENT);
        CHECK(c.owned == NULL);
        CHECK_EQ_INT(nn_csv_parse(NULL, &d, "1", 1), NN_ERR_INVALID_ARGUMENT);
#ifndef NN_NO_STDIO
        d = nn_csv_desc_default();
        CHECK_EQ_INT(nn_csv_load(&c, &d, "tests/no such file.csv"), NN_ERR_IO);
        CHECKF(strstr(c.error, "no such file") != NULL, "%s", c.error);
        d.max_bytes = 10;
        CHECK_EQ_INT(nn_csv_load(&c, &d, "tests/test_data.c"), NN_ERR_TOO_LARGE);
#endif
    }
}

/* Every prefix of a valid table and every single-byte change either parses or is
   refused with a message; a parsed table never has more cells than bytes. (Run under
   ASan in the asan configuration: no read outside the text.) */
static void test_csv_truncated_and_flipped(void) {
    static const char text[] = "f1,\"f 2\",label\n0.5,\"1e-3\",1\n-2,3,0\r\n\n7,8,2\n";
    size_t n = sizeof text - 1, cut, i;
    int ok = 0, refused = 0, bad = 0;
    for (cut = 0; cut <= n; cut++) {
        nn_csv_desc d = nn_csv_desc_default();
        nn_csv c;
        nn_result r;
        char *p = (char *)malloc(cut ? cut : 1);
        memset(&c, 0, sizeof c);
        memcpy(p, text, cut);
        r = nn_csv_parse(&c, &d, p, cut);
        free(p);
        if (r == NN_OK) {
            ok++;
            bad += (size_t)c.rows * (size_t)(c.cols + 1) > cut;
            nn_csv_free(&c);
        } else {
            refused++;
            bad += c.error[0] == 0;
        }
    }
    for (i = 0; i < n; i++) {
        static const char subs[] = {'"', ',', '\n', '\r', 'x', '\0', '\xff', '9'};
        int s;
        for (s = 0; s < (int)sizeof subs; s++) {
            nn_csv_desc d = nn_csv_desc_default();
            nn_csv c;
            char *p = (char *)malloc(n);
            nn_result r;
            memset(&c, 0, sizeof c);
            memcpy(p, text, n);
            p[i] = subs[s];
            d.label_name = "label";
            r = nn_csv_parse(&c, &d, p, n);
            free(p);
            if (r == NN_OK) {
                ok++;
                nn_csv_free(&c);
            } else {
                refused++;
                bad += c.error[0] == 0;
            }
        }
    }
    CHECK(bad == 0);
    CHECK(ok > 0 && refused > 0);
    TEST_NOTE("%d prefixes and byte changes parsed, %d refused with a message", ok, refused);
}

/* Random bytes drawn from CSV's alphabet: never a crash, an error always explained. */
static void test_csv_random(void) {
    static const char alpha[] = "0123456789.,;\t\"\r\n -+eE";
    nn_rng r;
    int it, ok = 0, bad = 0;
    char buf[96];
    nn_rng_seed(&r, 2026);
    for (it = 0; it < 20000; it++) {
        int n = (int)nn_rng_below(&r, sizeof buf), i;
        nn_csv_desc d = nn_csv_desc_default();
        nn_csv c;
        memset(&c, 0, sizeof c);
        for (i = 0; i < n; i++) buf[i] = alpha[nn_rng_below(&r, sizeof alpha - 1)];
        d.header = (int)nn_rng_below(&r, 3) - 1;
        d.label_col = (int)nn_rng_below(&r, 3) - 1;
        if (nn_csv_parse(&c, &d, buf, (size_t)n) == NN_OK) {
            ok++;
            bad += c.rows < 1 || (size_t)c.rows * (size_t)(c.cols + (c.y != NULL)) > (size_t)n;
            nn_csv_free(&c);
        } else {
            bad += c.error[0] == 0;
        }
    }
    CHECK(bad == 0);
    CHECK(ok > 0);
    TEST_NOTE("20000 random texts: %d parsed", ok);
}

#ifndef NN_NO_STDIO
/* The real tables in examples/data (tools/get_csv_data.py). */
static void test_csv_real_files(void) {
    static const struct {
        const char *path;
        int rows, cols, classes;
    } files[] = {
        {"examples/data/iris.csv", 150, 4, 3},
        {"examples/data/wine.csv", 178, 13, 3},
        {"examples/data/breast_cancer.csv", 569, 30, 2},
    };
    int i;
    for (i = 0; i < 3; i++) {
        nn_csv_desc d = nn_csv_desc_default();
        nn_csv c;
        memset(&c, 0, sizeof c);
        d.label_name = "label";
        if (!CHECKF(nn_csv_load(&c, &d, files[i].path) == NN_OK, "%s: %s", files[i].path, c.error)) continue;
        CHECK_EQ_INT(c.rows, files[i].rows);
        CHECK_EQ_INT(c.cols, files[i].cols);
        CHECK_EQ_INT(c.n_classes, files[i].classes);
        CHECK(c.names != NULL && c.labels != NULL);
        nn_csv_free(&c);
    }
}
#endif

/* ------------------------------------------------------------------ splits */

static int is_permutation(const int *idx, int n) {
    int *seen = (int *)calloc((size_t)n, sizeof(int)), i, ok = 1;
    for (i = 0; i < n && ok; i++) {
        ok = idx[i] >= 0 && idx[i] < n && !seen[idx[i]];
        if (ok) seen[idx[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_split(void) {
    enum { N = 1003, K = 3 };
    static int labels[N], idx[N], idx2[N];
    int i, ntr, nv, nt, c, same = 1;
    for (i = 0; i < N; i++) labels[i] = i % 10 < 6 ? 0 : i % 10 < 9 ? 1 : 2; /* 60/30/10 % */
    CHECK_EQ_INT(nn_split(idx, N, labels, K, 0.2f, 0.1f, 5, &ntr, &nv, &nt), NN_OK);
    CHECK(is_permutation(idx, N));
    CHECK_EQ_INT(ntr + nv + nt, N);
    CHECK(nv >= 199 && nv <= 202 && nt >= 99 && nt <= 102);
    for (c = 0; c < K; c++) { /* class shares within one row of the whole's, per part */
        int cnt = 0, cv = 0, ct = 0;
        for (i = 0; i < N; i++) cnt += labels[i] == c;
        for (i = ntr; i < ntr + nv; i++) cv += labels[idx[i]] == c;
        for (i = ntr + nv; i < N; i++) ct += labels[idx[i]] == c;
        CHECKF(abs(cv - (int)floor(cnt * 0.2 + 0.5)) == 0 && abs(ct - (int)floor(cnt * 0.1 + 0.5)) == 0,
               "class %d: %d in val, %d in test of %d", c, cv, ct, cnt);
    }
    CHECK_EQ_INT(nn_split(idx2, N, labels, K, 0.2f, 0.1f, 5, NULL, NULL, NULL), NN_OK);
    for (i = 0; i < N; i++) same &= idx[i] == idx2[i];
    CHECKF(same, "same seed, different split");
    CHECK_EQ_INT(nn_split(idx2, N, labels, K, 0.2f, 0.1f, 6, NULL, NULL, NULL), NN_OK);
    for (i = 0, same = 1; i < N; i++) same &= idx[i] == idx2[i];
    CHECKF(!same, "another seed gave the same split");
    /* plain: no labels */
    CHECK_EQ_INT(nn_split(idx, N, NULL, 0, 0.25f, 0.0f, 1, &ntr, &nv, &nt), NN_OK);
    CHECK(is_permutation(idx, N) && nv == 251 && nt == 0 && ntr == N - 251);
    /* one row, everything to train */
    CHECK_EQ_INT(nn_split(idx, 1, NULL, 0, 0.2f, 0.2f, 1, &ntr, &nv, &nt), NN_OK);
    CHECK(idx[0] == 0 && ntr == 1 && nv == 0 && nt == 0);
    CHECK_EQ_INT(nn_split(idx, N, labels, K, 0.6f, 0.5f, 1, NULL, NULL, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_split(idx, N, labels, K, -0.1f, 0.0f, 1, NULL, NULL, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_split(idx, N, labels, K, NAN, 0.0f, 1, NULL, NULL, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_split(idx, N, labels, 2, 0.1f, 0.1f, 1, NULL, NULL, NULL), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_split(idx, 0, NULL, 0, 0.1f, 0.1f, 1, NULL, NULL, NULL), NN_ERR_INVALID_ARGUMENT);
}

static void test_kfold(void) {
    enum { N = 103, K = 5, C = 3 };
    int labels[N], fold[N], train[N], val[N], i, f, c, ntr, nv, total = 0;
    for (i = 0; i < N; i++) labels[i] = (i * 7) % 10 < 5 ? 0 : (i * 7) % 10 < 8 ? 1 : 2;
    CHECK_EQ_INT(nn_kfold(fold, N, K, labels, C, 9), NN_OK);
    for (f = 0; f < K; f++) {
        int cnt = 0;
        for (i = 0; i < N; i++) cnt += fold[i] == f;
        CHECKF(cnt == N / K || cnt == N / K + 1, "fold %d holds %d rows", f, cnt);
        for (c = 0; c < C; c++) {
            int cc = 0, all = 0;
            for (i = 0; i < N; i++) {
                all += labels[i] == c;
                cc += labels[i] == c && fold[i] == f;
            }
            CHECKF(cc == all / K || cc == all / K + 1, "fold %d class %d: %d of %d", f, c, cc, all);
        }
        nn_kfold_indices(fold, N, f, train, &ntr, val, &nv);
        CHECK_EQ_INT(ntr + nv, N);
        for (i = 0; i < nv; i++) CHECK(fold[val[i]] == f);
        for (i = 0; i < ntr; i++)
            if (fold[train[i]] == f) CHECK(0);
        for (i = 1; i < nv; i++) CHECK(val[i] > val[i - 1]);
        total += nv;
    }
    CHECK_EQ_INT(total, N);
    CHECK_EQ_INT(nn_kfold(fold, N, 1, NULL, 0, 1), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_kfold(fold, 3, 4, NULL, 0, 1), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_kfold(fold, 3, 3, NULL, 0, 1), NN_OK); /* leave-one-out */
    CHECK(fold[0] != fold[1] && fold[1] != fold[2] && fold[0] != fold[2]);
}

static void test_batcher(void) {
    enum { N = 17 };
    int idx[N], seen[N], first[N], e, i, b, n;
    const int *rows;
    nn_batcher bt;
    CHECK_EQ_INT(nn_batcher_init(&bt, idx, N, 5, 1, 0, 3), NN_OK);
    CHECK_EQ_INT(nn_batcher_count(&bt), 4);
    for (e = 0; e < 3; e++) {
        int sizes = 0, diff = 0;
        memset(seen, 0, sizeof seen);
        for (b = 0; (n = nn_batcher_next(&bt, &rows)) > 0; b++) {
            CHECK(n == (b < 3 ? 5 : 2));
            for (i = 0; i < n; i++) seen[rows[i]]++;
            sizes += n;
        }
        CHECK_EQ_INT(b, 4);
        CHECK_EQ_INT(sizes, N);
        for (i = 0; i < N; i++) CHECK(seen[i] == 1);
        if (e == 0) memcpy(first, idx, sizeof idx);
        else {
            for (i = 0; i < N; i++) diff += first[i] != idx[i];
            CHECKF(diff > 0, "epoch %d: the same order as epoch 1", e + 1);
        }
    }
    CHECK_EQ_INT((int)bt.epoch, 3);
    /* drop_last; no shuffle keeps index order */
    CHECK_EQ_INT(nn_batcher_init(&bt, idx, N, 5, 0, 1, 3), NN_OK);
    CHECK_EQ_INT(nn_batcher_count(&bt), 3);
    for (b = 0; (n = nn_batcher_next(&bt, &rows)) > 0; b++) CHECK(n == 5 && rows[0] == 5 * b);
    CHECK_EQ_INT(b, 3);
    /* batch 1, and a batch larger than the data */
    CHECK_EQ_INT(nn_batcher_init(&bt, idx, 1, 1, 1, 0, 1), NN_OK);
    CHECK(nn_batcher_next(&bt, &rows) == 1 && rows[0] == 0 && nn_batcher_next(&bt, &rows) == 0);
    CHECK_EQ_INT(nn_batcher_init(&bt, idx, 3, 8, 1, 0, 1), NN_OK);
    CHECK(nn_batcher_next(&bt, &rows) == 3);
    CHECK_EQ_INT(nn_batcher_init(&bt, idx, 3, 8, 1, 1, 1), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_batcher_init(&bt, idx, 0, 8, 1, 0, 1), NN_ERR_INVALID_ARGUMENT);
}

static void test_gather_f32(void) {
    float src[4 * 3], dst[2 * 3 + 1];
    int rows[2] = {3, 1}, bad[2] = {0, 4}, i;
    for (i = 0; i < 12; i++) src[i] = (float)i;
    dst[6] = -1.0f;
    CHECK_EQ_INT(nn_gather_f32(nn_tensor_2d(dst, 2, 3), src, 4, rows), NN_OK);
    CHECK(dst[0] == 9.0f && dst[2] == 11.0f && dst[3] == 3.0f && dst[5] == 5.0f && dst[6] == -1.0f);
    dst[0] = -1.0f;
    CHECK_EQ_INT(nn_gather_f32(nn_tensor_2d(dst, 2, 3), src, 4, bad), NN_ERR_INVALID_ARGUMENT);
    CHECK(dst[0] == -1.0f);
}

/* ------------------------------------------------------------------ metrics */

/* By hand: 6 rows, 3 classes. */
static void test_metrics_by_hand(void) {
    const int labels[6] = {0, 0, 1, 1, 2, 2}, pred[6] = {0, 1, 1, 1, 0, 2};
    const float scores[6 * 3] = {3, 1, 0, 1, 2, 0, 0, 5, 1, 0, 2, 1, 2, 1, 1.5f, 0, 0, 1};
    int cm[9] = {0}, sup[3] = {0, 0, 0}, p2[6] = {0, 0, 0, 0, 0, 0};
    float pr[3] = {0, 0, 0}, rc[3] = {0, 0, 0}, f1[3] = {0, 0, 0}, macro[3] = {0, 0, 0}, weighted[3] = {0, 0, 0};
    nn_argmax_rows(p2, scores, 6, 3);
    CHECK(!memcmp(p2, pred, sizeof pred));
    CHECK_NEAR(nn_accuracy(pred, labels, 6), 4.0 / 6.0, 1e-7);
    CHECK_EQ_INT(nn_confusion_add(cm, pred, labels, 6, 3), 6);
    CHECK(cm[0] == 1 && cm[1] == 1 && cm[4] == 2 && cm[6] == 1 && cm[8] == 1 && cm[2] == 0);
    nn_class_report(cm, 3, pr, rc, f1, sup, macro, weighted);
    /* class 0: tp 1, predicted 2, true 2; class 1: tp 2, predicted 3; class 2: tp 1, predicted 1 */
    CHECK_NEAR(pr[0], 0.5, 1e-7); CHECK_NEAR(pr[1], 2.0 / 3.0, 1e-7); CHECK_NEAR(pr[2], 1.0, 1e-7);
    CHECK_NEAR(rc[0], 0.5, 1e-7); CHECK_NEAR(rc[1], 1.0, 1e-7); CHECK_NEAR(rc[2], 0.5, 1e-7);
    CHECK_NEAR(f1[1], 0.8, 1e-7);
    CHECK(sup[0] == 2 && sup[1] == 2 && sup[2] == 2);
    CHECK_NEAR(macro[0], (0.5 + 2.0 / 3.0 + 1.0) / 3.0, 1e-7);
    CHECK_NEAR(weighted[1], (0.5 + 1.0 + 0.5) / 3.0, 1e-7);
    /* top-2: row 1 (label 0, scores 1 2 0) yes; row 4 (label 2, 2 1 1.5) yes; row 3 (label 1) yes */
    CHECK_NEAR(nn_top_k_accuracy(scores, labels, 6, 3, 1), 4.0 / 6.0, 1e-7);
    CHECK_NEAR(nn_top_k_accuracy(scores, labels, 6, 3, 2), 1.0, 1e-7);
    CHECK_NEAR(nn_top_k_accuracy(scores, labels, 6, 3, 3), 1.0, 1e-7);
    /* a label or prediction out of range is skipped, not written past the matrix */
    {
        const int l2[2] = {3, 0}, q2[2] = {0, -1};
        CHECK_EQ_INT(nn_confusion_add(cm, q2, l2, 2, 3), 0);
    }
    CHECK_NEAR(nn_log_loss_logits(scores, labels, 1, 3), log(exp(3.0) + exp(1.0) + 1.0) - 3.0, 1e-6);
    CHECK(isnan(nn_log_loss_logits(scores, labels, 0, 3)));
    {
        const float t[4] = {1, 2, 3, 4}, y[4] = {1, 2, 3, 6}, c[3] = {2, 2, 2};
        CHECK_NEAR(nn_mse(y, t, 4), 1.0, 1e-7);
        CHECK_NEAR(nn_mae(y, t, 4), 0.5, 1e-7);
        CHECK_NEAR(nn_r2(y, t, 4), 1.0 - 4.0 / 5.0, 1e-7);
        CHECK(nn_r2(c, c, 3) == 1.0f && nn_r2(y, c, 3) == 0.0f && isnan(nn_r2(y, t, 1)));
    }
}

/* Against sklearn (tests/gen_metrics_fixtures.py). */
static int fx_has(const fx_file *f, const char *name) {
    int i;
    for (i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return 1;
    return 0;
}

static void check_scalar(const fx_file *f, const char *name, double got, const char *file) {
    const fx_tensor *t = fx_get(f, name);
    if (!CHECKF(t != NULL, "%s: no record %s", file, name)) return;
    if (t->data[0] != t->data[0]) { /* sklearn's NaN (r2 of one row) */
        CHECKF(got != got, "%s %s: %.9g, sklearn NaN", file, name, got);
        return;
    }
    CHECKF(fabs(got - t->data[0]) <= 1e-6 * fabs((double)t->data[0]) + 1e-7, "%s %s: %.9g, sklearn %.9g", file, name,
           got, (double)t->data[0]);
}

static void test_metrics_sklearn_classification(void) {
    static const char *cases[] = {"cls_n1_k2", "cls_n7_k3", "cls_n50_k5", "cls_n200_k10", "cls_missing_n30_k4",
                                  "cls_perfect_n20_k3"};
    int ci;
    for (ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
        char path[256];
        fx_file f;
        const fx_tensor *sc, *lb, *pd, *cmx;
        int n, k, i, *labels, *pred, *cm, *sup, same = 1;
        float *pr, *rc, *f1, macro[3] = {0, 0, 0}, weighted[3] = {0, 0, 0};
        sprintf(path, FIXTURE_DIR "metrics_%s.txt", cases[ci]);
        if (!CHECKF(fx_load(&f, path) == 0, "cannot read %s", path)) continue;
        sc = fx_get(&f, "scores"); lb = fx_get(&f, "labels"); pd = fx_get(&f, "pred"); cmx = fx_get(&f, "confusion");
        if (!CHECK(sc && lb && pd && cmx)) { fx_free(&f); continue; }
        n = sc->shape[0]; k = sc->shape[1];
        labels = (int *)calloc((size_t)n, sizeof(int)); pred = (int *)calloc((size_t)n, sizeof(int));
        cm = (int *)calloc((size_t)k * k, sizeof(int)); sup = (int *)calloc((size_t)k, sizeof(int));
        pr = (float *)calloc((size_t)k, sizeof(float)); rc = (float *)calloc((size_t)k, sizeof(float));
        f1 = (float *)calloc((size_t)k, sizeof(float));
        for (i = 0; i < n; i++) labels[i] = (int)lb->data[i];
        nn_argmax_rows(pred, sc->data, n, k);
        for (i = 0; i < n; i++) same &= pred[i] == (int)pd->data[i];
        CHECKF(same, "%s: argmax differs", cases[ci]);
        check_scalar(&f, "accuracy", nn_accuracy(pred, labels, n), cases[ci]);
        if (fx_has(&f, "top2")) check_scalar(&f, "top2", nn_top_k_accuracy(sc->data, labels, n, k, 2), cases[ci]);
        if (fx_has(&f, "top3")) check_scalar(&f, "top3", nn_top_k_accuracy(sc->data, labels, n, k, 3), cases[ci]);
        nn_confusion_add(cm, pred, labels, n, k);
        for (i = 0, same = 1; i < k * k; i++) same &= cm[i] == (int)cmx->data[i];
        CHECKF(same, "%s: confusion matrix differs", cases[ci]);
        nn_class_report(cm, k, pr, rc, f1, sup, macro, weighted);
        {
            const fx_tensor *P = fx_get(&f, "precision"), *R = fx_get(&f, "recall"), *F = fx_get(&f, "f1"),
                            *S = fx_get(&f, "support");
            if (CHECK(P && R && F && S)) {
                double w1, w2, w3;
                CHECKF(fx_close(pr, P->data, k, 1e-6, 1e-7, &w1) && fx_close(rc, R->data, k, 1e-6, 1e-7, &w2) &&
                           fx_close(f1, F->data, k, 1e-6, 1e-7, &w3),
                       "%s: per-class precision/recall/F1 differ", cases[ci]);
                for (i = 0, same = 1; i < k; i++) same &= sup[i] == (int)S->data[i];
                CHECKF(same, "%s: support differs", cases[ci]);
            }
        }
        check_scalar(&f, "macro_precision", macro[0], cases[ci]);
        check_scalar(&f, "macro_recall", macro[1], cases[ci]);
        check_scalar(&f, "macro_f1", macro[2], cases[ci]);
        check_scalar(&f, "weighted_precision", weighted[0], cases[ci]);
        check_scalar(&f, "weighted_recall", weighted[1], cases[ci]);
        check_scalar(&f, "weighted_f1", weighted[2], cases[ci]);
        check_scalar(&f, "log_loss_exact", nn_log_loss_logits(sc->data, labels, n, k), cases[ci]);
        free(labels); free(pred); free(cm); free(sup); free(pr); free(rc); free(f1);
        fx_free(&f);
    }
}

static void test_metrics_sklearn_regression(void) {
    static const char *cases[] = {"reg_n1", "reg_n17", "reg_n100", "reg_const_n5", "reg_perfect_n12"};
    int ci;
    for (ci = 0; ci < (int)(sizeof cases / sizeof cases[0]); ci++) {
        char path[256];
        fx_file f;
        const fx_tensor *yt, *yp;
        sprintf(path, FIXTURE_DIR "metrics_%s.txt", cases[ci]);
        if (!CHECKF(fx_load(&f, path) == 0, "cannot read %s", path)) continue;
        yt = fx_get(&f, "y_true");
        yp = fx_get(&f, "y_pred");
        if (CHECK(yt && yp)) {
            size_t n = (size_t)yt->size;
            check_scalar(&f, "mse", nn_mse(yp->data, yt->data, n), cases[ci]);
            check_scalar(&f, "mae", nn_mae(yp->data, yt->data, n), cases[ci]);
            if (fx_has(&f, "r2")) check_scalar(&f, "r2", nn_r2(yp->data, yt->data, n), cases[ci]);
        }
        fx_free(&f);
    }
}

/* ------------------------------------------------------------------ preprocessing */

static int close_up_to_sign(const float *got, int gstride, const float *want, int wstride, int n, double tol) {
    /* one vector (n values, strided) equal to another or to its negation */
    int i, same = 1, flip = 1;
    for (i = 0; i < n; i++) {
        double g = got[(size_t)i * gstride], w = want[(size_t)i * wstride];
        same &= fabs(g - w) <= tol * (1.0 + fabs(w));
        flip &= fabs(g + w) <= tol * (1.0 + fabs(w));
    }
    return same || flip;
}

/* Against sklearn on the wine table: StandardScaler, MinMaxScaler(-1, 1), PCA(3) of the
   standardized data (components up to sign, explained variance and ratio, transform,
   whitened transform). */
static void test_prep_sklearn(void) {
    fx_file f;
    const fx_tensor *x, *t;
    nn_arena a;
    nn_prep p;
    float *out;
    int n, F, j, c;
    double worst = 0.0;
    if (!CHECK(fx_load(&f, FIXTURE_DIR "metrics_prep_wine.txt") == 0)) return;
    x = fx_get(&f, "x");
    if (!CHECK(x != NULL)) { fx_free(&f); return; }
    n = x->shape[0]; F = x->shape[1];
    out = (float *)calloc((size_t)n * F, sizeof(float));
    memset(&p, 0, sizeof p);
    CHECK_EQ_INT(nn_arena_init_heap(&a, 2 * nn_prep_arena_bytes(F, 3)), NN_OK);
    CHECK_EQ_INT(nn_prep_init(&p, &a, F, 0), NN_OK);
    CHECK_EQ_INT(nn_prep_fit_standardize(&p, x->data, n), NN_OK);
    t = fx_get(&f, "std_mean");
    CHECKF(t && fx_close(p.shift, t->data, F, 1e-6, 1e-6, &worst), "standardize mean (worst %.2e)", worst);
    t = fx_get(&f, "std_scale");
    for (j = 0; t && j < F; j++) CHECKF(fabs(1.0 / p.scale[j] - t->data[j]) <= 1e-5 * t->data[j], "std %d", j);
    CHECK_EQ_INT(nn_prep_apply(&p, nn_tensor_2d(out, n, F), nn_tensor_2d(x->data, n, F)), NN_OK);
    t = fx_get(&f, "std_x");
    CHECKF(t && fx_close(out, t->data, n * F, 1e-5, 1e-5, &worst), "standardized data (worst %.2e)", worst);
    /* the PCA stage on top of the standardization */
    nn_arena_rewind(&a, 0);
    CHECK_EQ_INT(nn_prep_init(&p, &a, F, 3), NN_OK);
    CHECK_EQ_INT(nn_prep_fit_standardize(&p, x->data, n), NN_OK);
    CHECK_EQ_INT(nn_prep_fit_pca(&p, x->data, n, 3, 0), NN_OK);
    CHECK(p.out == 3 && p.k == 3);
    t = fx_get(&f, "pca_components");
    for (c = 0; t && c < 3; c++)
        CHECKF(close_up_to_sign(p.components + (size_t)c * F, 1, t->data + (size_t)c * F, 1, F, 1e-4),
               "component %d differs from sklearn's (up to sign)", c);
    t = fx_get(&f, "pca_variance");
    CHECKF(t && fx_close(p.variance, t->data, 3, 1e-5, 1e-6, &worst), "explained variance (worst %.2e)", worst);
    t = fx_get(&f, "pca_ratio");
    CHECKF(t && fx_close(p.variance_ratio, t->data, 3, 1e-5, 1e-6, &worst), "variance ratio (worst %.2e)", worst);
    CHECK_EQ_INT(nn_prep_apply(&p, nn_tensor_2d(out, n, 3), nn_tensor_2d(x->data, n, F)), NN_OK);
    t = fx_get(&f, "pca_x");
    for (c = 0; t && c < 3; c++)
        CHECKF(close_up_to_sign(out + c, 3, t->data + c, 3, n, 1e-4), "projection %d differs (up to sign)", c);
    /* a projection cannot run in place; shapes must be (B, in) -> (B, out) */
    CHECK_EQ_INT(nn_prep_apply(&p, nn_tensor_2d(x->data, n, 3), nn_tensor_2d(x->data, n, F)), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_prep_apply(&p, nn_tensor_2d(out, n, F), nn_tensor_2d(x->data, n, F)), NN_ERR_SHAPE_MISMATCH);
    nn_arena_rewind(&a, 0);
    CHECK_EQ_INT(nn_prep_init(&p, &a, F, 3), NN_OK);
    CHECK_EQ_INT(nn_prep_fit_standardize(&p, x->data, n), NN_OK);
    CHECK_EQ_INT(nn_prep_fit_pca(&p, x->data, n, 3, 1), NN_OK);
    CHECK_EQ_INT(nn_prep_apply(&p, nn_tensor_2d(out, n, 3), nn_tensor_2d(x->data, n, F)), NN_OK);
    t = fx_get(&f, "pca_white_x");
    for (c = 0; t && c < 3; c++)
        CHECKF(close_up_to_sign(out + c, 3, t->data + c, 3, n, 1e-4), "whitened %d differs (up to sign)", c);
    /* min-max to [-1, 1], in place */
    nn_arena_rewind(&a, 0);
    CHECK_EQ_INT(nn_prep_init(&p, &a, F, 0), NN_OK);
    CHECK_EQ_INT(nn_prep_fit_minmax(&p, x->data, n, -1.0f, 1.0f), NN_OK);
    memcpy(out, x->data, sizeof(float) * (size_t)n * F);
    CHECK_EQ_INT(nn_prep_apply(&p, nn_tensor_2d(out, n, F), nn_tensor_2d(out, n, F)), NN_OK);
    t = fx_get(&f, "mm_x");
    CHECKF(t && fx_close(out, t->data, n * F, 1e-5, 1e-6, &worst), "min-max (worst %.2e)", worst);
    /* errors */
    CHECK_EQ_INT(nn_prep_fit_minmax(&p, x->data, n, 1.0f, 1.0f), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_prep_fit_pca(&p, x->data, n, 1, 0), NN_ERR_INVALID_ARGUMENT); /* k_max 0 */
    CHECK_EQ_INT(nn_prep_fit_standardize(&p, x->data, 0), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_prep_init(&p, &a, F, F + 1), NN_ERR_INVALID_ARGUMENT);
    out[0] = NAN;
    CHECK_EQ_INT(nn_prep_fit_standardize(&p, out, n), NN_ERR_NONFINITE);
    CHECKF(strstr(p.error, "feature 0") != NULL, "%s", p.error);
    free(out);
    nn_arena_deinit(&a);
    fx_free(&f);
}

static void test_one_hot(void) {
    float d[3 * 4];
    int l[3] = {2, 0, 3}, bad[3] = {0, 4, 1}, i;
    CHECK_EQ_INT(nn_one_hot(d, l, 3, 4), NN_OK);
    for (i = 0; i < 12; i++) CHECK(d[i] == ((i == 2 || i == 4 || i == 11) ? 1.0f : 0.0f));
    d[0] = 7.0f;
    CHECK_EQ_INT(nn_one_hot(d, bad, 3, 4), NN_ERR_INVALID_ARGUMENT);
    CHECK(d[0] == 7.0f);
}

/* Rewrites every section CRC and the header CRC of a model file in memory, so a
   crafted change reaches the section checks instead of the checksum test. */
static void fix_crcs(unsigned char *b, size_t len) {
    size_t pos = 24;
    uint32_t n, i, c;
    memcpy(&n, b + 16, 4);
    c = nn_crc32c(0, b, 20);
    memcpy(b + 20, &c, 4);
    for (i = 0; i < n && pos + 16 <= len; i++) {
        uint32_t lo, hi;
        memcpy(&lo, b + pos + 8, 4);
        memcpy(&hi, b + pos + 12, 4);
        (void)hi;
        c = nn_crc32c(nn_crc32c(0, b + pos, 16), b + pos + 16, lo);
        memcpy(b + pos + 16 + lo, &c, 4);
        pos += 16 + (size_t)lo + 4;
    }
}

/* Finds a section's payload; NULL when absent. */
static unsigned char *find_section(unsigned char *b, size_t len, const char *tag, uint32_t *slen) {
    size_t pos = 24;
    uint32_t n, i;
    memcpy(&n, b + 16, 4);
    for (i = 0; i < n && pos + 16 <= len; i++) {
        uint32_t lo;
        memcpy(&lo, b + pos + 8, 4);
        if (!memcmp(b + pos, tag, 4)) {
            *slen = lo;
            return b + pos + 16;
        }
        pos += 16 + (size_t)lo + 4;
    }
    return NULL;
}

/* PREP and META through a save and two kinds of load: bit for bit; a mismatched or
   corrupt section is refused with the caller's state unchanged. */
static void test_prep_meta_file(void) {
    enum { F = 5, N = 40 };
    nn_layer_desc layers[1];
    nn_model_desc md;
    nn_arena a;
    nn_model m;
    nn_prep p, q, r2;
    nn_meta meta, back;
    nn_train_state st, st2;
    nn_optim o;
    nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_ADAMW);
    float x[N * F], y1[N * 2], y2[N * 2];
    unsigned char *buf;
    size_t len, i;
    uint32_t slen;
    char text[512];
    nn_rng rng;
    layers[0] = nn_dense(2, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = 2; md.max_batch = 4; md.layers = layers; md.n_layers = 1; md.seed = 3;
    memset(&p, 0, sizeof p); memset(&q, 0, sizeof q); memset(&r2, 0, sizeof r2);
    CHECK_EQ_INT(nn_arena_init_heap(&a, 12 * nn_prep_arena_bytes(F, 2) + nn_model_arena_bytes(&md) +
                                            nn_optim_arena_bytes(&od, 6)), NN_OK);
    CHECK_EQ_INT(nn_model_init(&m, &a, &md), NN_OK);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &od, m.n_params), NN_OK);
    nn_rng_seed(&rng, 5);
    for (i = 0; i < N * F; i++) x[i] = nn_rng_normal(&rng) * (float)(1 + i % F) + (float)(i % 3);
    CHECK_EQ_INT(nn_prep_init(&p, &a, F, 2), NN_OK);
    CHECK_EQ_INT(nn_prep_fit_standardize(&p, x, N), NN_OK);
    CHECK_EQ_INT(nn_prep_fit_pca(&p, x, N, 2, 1), NN_OK);
    meta = nn_meta_make("test model 7");
    nn_meta_set_training(&meta, &o, NULL, 12, 32, 99);
    meta.data_crc = nn_crc32(0, x, sizeof x);
    meta.data_rows = N;
    memset(&st, 0, sizeof st);
    st.prep = &p;
    st.meta = &meta;
    len = nn_model_save_size(&m, &st);
    buf = (unsigned char *)malloc(len);
    CHECK_EQ_INT(nn_model_save_to_memory(&m, &st, buf, len, &len), NN_OK);
    /* a new prep from the file alone */
    CHECK_EQ_INT(nn_prep_from_memory(&q, &a, buf, len), NN_OK);
    CHECK(q.in == F && q.out == 2 && q.k == 2 && q.whiten && q.affine);
    CHECK(!memcmp(q.components, p.components, sizeof(float) * 2 * F) && !memcmp(q.scale, p.scale, sizeof(float) * F));
    CHECK_EQ_INT(nn_prep_apply(&p, nn_tensor_2d(y1, N, 2), nn_tensor_2d(x, N, F)), NN_OK);
    CHECK_EQ_INT(nn_prep_apply(&q, nn_tensor_2d(y2, N, 2), nn_tensor_2d(x, N, F)), NN_OK);
    CHECK(!memcmp(y1, y2, sizeof y1));
    CHECK_EQ_INT(nn_meta_from_memory(&back, buf, len), NN_OK);
    CHECK(!strcmp(back.label, "test model 7") && !strcmp(back.library, NN_VERSION_STRING));
    CHECK(back.optim_kind == NN_OPTIM_ADAMW && back.lr == od.lr && back.weight_decay == od.weight_decay);
    CHECK(back.epochs == 12 && back.batch == 32 && back.seed == 99 && back.data_rows == N && back.data_crc == meta.data_crc);
    nn_meta_describe(&back, text, sizeof text);
    CHECKF(strstr(text, "test model 7") && strstr(text, "adamw") && strstr(text, "epochs: 12"), "%s", text);
    /* into a caller's prep through nn_model_load_from_memory */
    CHECK_EQ_INT(nn_prep_init(&r2, &a, F, 2), NN_OK);
    memset(&st2, 0, sizeof st2);
    st2.prep = &r2;
    st2.meta = &back;
    CHECK_EQ_INT(nn_model_load_from_memory(&m, &st2, buf, len), NN_OK);
    CHECK(!memcmp(r2.mean, p.mean, sizeof(float) * F) && r2.k == 2 && r2.out == 2);
    /* the wrong size: refused, nothing changed */
    {
        nn_prep small;
        float keep;
        memset(&small, 0, sizeof small);
        CHECK_EQ_INT(nn_prep_init(&small, &a, F, 1), NN_OK);
        keep = small.shift[0];
        st2.prep = &small;
        CHECK_EQ_INT(nn_model_load_from_memory(&m, &st2, buf, len), NN_ERR_SHAPE_MISMATCH);
        CHECKF(strstr(m.error, "PREP") != NULL, "%s", m.error);
        CHECK(small.shift[0] == keep && small.k == 0);
    }
    /* crafted: flags 7, then a NaN value, each with valid checksums */
    {
        unsigned char *pp = find_section(buf, len, "PREP", &slen), *mm;
        unsigned char save[16];
        float nan = NAN;
        if (CHECK(pp != NULL)) {
            memcpy(save, pp + 8, 4);
            pp[8] = 7;
            fix_crcs(buf, len);
            CHECK_EQ_INT(nn_prep_from_memory(&q, &a, buf, len), NN_ERR_CORRUPT);
            memcpy(pp + 8, save, 4);
            memcpy(save, pp + 12, 4);
            memcpy(pp + 12, &nan, 4);
            fix_crcs(buf, len);
            CHECK_EQ_INT(nn_prep_from_memory(&q, &a, buf, len), NN_ERR_CORRUPT);
            CHECKF(strstr(q.error, "NaN") != NULL, "%s", q.error);
            memcpy(pp + 12, save, 4);
            fix_crcs(buf, len);
            CHECK_EQ_INT(nn_prep_from_memory(&q, &a, buf, len), NN_OK);
        }
        mm = find_section(buf, len, "META", &slen);
        if (CHECK(mm != NULL)) {
            mm[4] = 200; /* label length past its room */
            fix_crcs(buf, len);
            CHECK_EQ_INT(nn_meta_from_memory(&back, buf, len), NN_ERR_CORRUPT);
            CHECK(!strcmp(back.label, "test model 7"));
        }
    }
    /* a file without the sections: no preprocessing, an empty provenance */
    free(buf);
    len = nn_model_save_size(&m, NULL);
    buf = (unsigned char *)malloc(len);
    CHECK_EQ_INT(nn_model_save_to_memory(&m, NULL, buf, len, &len), NN_OK);
    CHECK(find_section(buf, len, "PREP", &slen) == NULL);
    CHECK_EQ_INT(nn_prep_from_memory(&q, &a, buf, len), NN_OK);
    CHECK(q.in == 0);
    CHECK_EQ_INT(nn_meta_from_memory(&back, buf, len), NN_OK);
    CHECK(back.library[0] == 0 && back.optim_kind == -1);
    free(buf);
    nn_arena_deinit(&a);
}

/* ------------------------------------------------------------------ augmentation */

/* A reference for one image: out(i, j) = in(i - dy, j - dx) after an optional
   flip, fill outside; the draws are re-made from a copy of the generator in the
   documented order (flip, crop dy dx, translate dy dx). */
static void aug_ref_draws(nn_rng *r, const nn_augment_desc *d, int H, int W, int *flip, int *dy, int *dx) {
    *flip = 0; *dy = 0; *dx = 0;
    if (d->flip_p > 0.0f) *flip = nn_rng_uniform(r) < d->flip_p;
    if (d->crop_padding) {
        *dy += -d->crop_padding + (int)nn_rng_below(r, (uint32_t)(2 * d->crop_padding + 1));
        *dx += -d->crop_padding + (int)nn_rng_below(r, (uint32_t)(2 * d->crop_padding + 1));
    }
    if (d->translate > 0.0f) {
        float my = d->translate * (float)H, mx = d->translate * (float)W;
        *dy += (int)floorf((2.0f * nn_rng_uniform(r) - 1.0f) * my + 0.5f);
        *dx += (int)floorf((2.0f * nn_rng_uniform(r) - 1.0f) * mx + 0.5f);
    }
}

static void test_augment_images(void) {
    enum { N = 40, C = 3, H = 7, W = 9 };
    static float x[N * C * H * W], y[N * C * H * W];
    nn_augment_desc d = nn_augment_desc_default();
    nn_rng r, r2;
    int n, c, i, j, bad = 0, flips = 0, shifted = 0, trial;
    for (i = 0; i < N * C * H * W; i++) x[i] = (float)(i % 997) + 1.0f; /* no value equals the fill */
    /* everything off: the images are untouched */
    memcpy(y, x, sizeof x);
    nn_rng_seed(&r, 1);
    CHECK_EQ_INT(nn_augment_images(nn_tensor_4d(y, N, C, H, W), &d, &r), NN_OK);
    CHECK(memcmp(x, y, sizeof x) == 0);
    for (trial = 0; trial < 3; trial++) {
        d = nn_augment_desc_default();
        d.fill = -5.0f;
        if (trial == 0) { d.flip_p = 0.5f; }
        if (trial == 1) { d.crop_padding = 2; }
        if (trial == 2) { d.flip_p = 0.3f; d.crop_padding = 1; d.translate = 0.2f; }
        memcpy(y, x, sizeof x);
        nn_rng_seed(&r, 7 + (uint64_t)trial);
        r2 = r;
        CHECK_EQ_INT(nn_augment_images(nn_tensor_4d(y, N, C, H, W), &d, &r), NN_OK);
        for (n = 0; n < N; n++) {
            int flip, dy, dx;
            aug_ref_draws(&r2, &d, H, W, &flip, &dy, &dx);
            flips += flip;
            shifted += dy != 0 || dx != 0;
            for (c = 0; c < C; c++)
                for (i = 0; i < H; i++)
                    for (j = 0; j < W; j++) {
                        int si = i - dy, sj = j - dx;
                        float want;
                        if (si < 0 || si >= H || sj < 0 || sj >= W) want = d.fill;
                        else want = x[((n * C + c) * H + si) * W + (flip ? W - 1 - sj : sj)];
                        bad += y[((n * C + c) * H + i) * W + j] != want;
                    }
        }
        /* the generator advanced exactly as the reference did */
        CHECK(nn_rng_u64(&r) == nn_rng_u64(&r2));
    }
    CHECKF(bad == 0, "%d pixels differ from the reference", bad);
    CHECKF(flips > 10 && flips < 60, "%d flips in 120 draws at p 0.5 / 0 / 0.3", flips);
    CHECKF(shifted > 50, "%d of 80 images moved", shifted);
    /* same seed, same images */
    memcpy(y, x, sizeof x);
    nn_rng_seed(&r, 99);
    nn_augment_images(nn_tensor_4d(y, N, C, H, W), &d, &r);
    {
        static float z[N * C * H * W];
        memcpy(z, x, sizeof x);
        nn_rng_seed(&r, 99);
        nn_augment_images(nn_tensor_4d(z, N, C, H, W), &d, &r);
        CHECK(memcmp(y, z, sizeof y) == 0);
    }
    /* refused, nothing written */
    memcpy(y, x, sizeof x);
    d = nn_augment_desc_default();
    d.flip_p = 1.5f;
    CHECK_EQ_INT(nn_augment_images(nn_tensor_4d(y, N, C, H, W), &d, &r), NN_ERR_INVALID_ARGUMENT);
    d = nn_augment_desc_default();
    d.crop_padding = -1;
    CHECK_EQ_INT(nn_augment_images(nn_tensor_4d(y, N, C, H, W), &d, &r), NN_ERR_INVALID_ARGUMENT);
    d = nn_augment_desc_default();
    d.translate = 1.0f;
    CHECK_EQ_INT(nn_augment_images(nn_tensor_4d(y, N, C, H, W), &d, &r), NN_ERR_INVALID_ARGUMENT);
    memset(&d, 0, sizeof d); /* no tag */
    CHECK_EQ_INT(nn_augment_images(nn_tensor_4d(y, N, C, H, W), &d, &r), NN_ERR_INVALID_ARGUMENT);
    d = nn_augment_desc_default();
    CHECK_EQ_INT(nn_augment_images(nn_tensor_2d(y, N, C * H * W), &d, &r), NN_ERR_INVALID_ARGUMENT);
    CHECK(memcmp(x, y, sizeof x) == 0);
    /* a shift larger than the image leaves only fill */
    d = nn_augment_desc_default();
    d.crop_padding = 50;
    d.fill = 3.0f;
    {
        int all_fill = 0;
        nn_rng_seed(&r, 5);
        memcpy(y, x, sizeof x);
        nn_augment_images(nn_tensor_4d(y, N, C, H, W), &d, &r);
        for (n = 0; n < N; n++) {
            int k, f = 1;
            for (k = 0; k < C * H * W; k++) f &= y[n * C * H * W + k] == 3.0f;
            all_fill += f;
        }
        CHECKF(all_fill > N / 2, "%d of %d images shifted out entirely", all_fill, N);
    }
}

static const test_case tests[] = {
    TEST(test_csv_basic),
    TEST(test_csv_forms),
    TEST(test_csv_errors),
    TEST(test_csv_truncated_and_flipped),
    TEST(test_csv_random),
#ifndef NN_NO_STDIO
    TEST(test_csv_real_files),
#endif
    TEST(test_split),
    TEST(test_kfold),
    TEST(test_batcher),
    TEST(test_gather_f32),
    TEST(test_metrics_by_hand),
    TEST(test_metrics_sklearn_classification),
    TEST(test_metrics_sklearn_regression),
    TEST(test_prep_sklearn),
    TEST(test_one_hot),
    TEST(test_prep_meta_file),
    TEST(test_augment_images),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
