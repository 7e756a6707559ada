/* fuzz_csv.c - libFuzzer target for nn.h's CSV reader (nn_csv_parse).

   Each input is parsed under six descriptions (detected or fixed delimiter and header,
   label by index or by name, small max_cols/max_rows). After every call:
     success  rows >= 1, the cells fit in the input's bytes (no allocation beyond a
              small multiple of the input), every value finite, labels consistent with
              y, names present exactly when a header was read;
     failure  an error code and a message, the caller's table byte for byte as before.
   The input is copied into a block of exactly its size, so ASan sees any read past
   its end (the parser never needs a terminating NUL).

   Build and run (Debian's clang needs libclang-rt-14-dev for -fsanitize=fuzzer):
       clang -g -O1 -fsanitize=fuzzer,address,undefined tests/fuzz_csv.c -o build/fuzz_csv -lm
       build/fuzz_csv -max_total_time=60 build/corpus_csv_work tests/corpus_csv
   -DFUZZ_STANDALONE gives a main that replays files through the same checks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NN_TEST_LINKED /* make test links the sanitizer build of the implementation */
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"

#define FZ_CHECK(c)                                                              \
    do {                                                                         \
        if (!(c)) {                                                              \
            fprintf(stderr, "fuzz_csv.c:%d: check failed: %s\n", __LINE__, #c); \
            abort();                                                             \
        }                                                                        \
    } while (0)

static void fz_one(const char *p, size_t n, int variant) {
    nn_csv_desc d = nn_csv_desc_default();
    nn_csv c, before;
    nn_result r;
    memset(&c, 0xA5, sizeof c); /* a caller's "old table": must survive a failure */
    c.error[0] = 0;
    switch (variant) {
    case 1: d.header = 1; d.label_name = "label"; break;
    case 2: d.header = 0; d.label_col = 0; break;
    case 3: d.delimiter = ';'; d.label_col = 2; break;
    case 4: d.delimiter = '\t'; d.header = 1; break;
    case 5: d.max_cols = 3; d.max_rows = 4; d.label_col = 1; break;
    default: break;
    }
    before = c;
    r = nn_csv_parse(&c, &d, p, n);
    if (r == NN_OK) {
        size_t i, cells = (size_t)c.rows * (size_t)c.cols;
        FZ_CHECK(c.rows >= 1 && c.cols >= 0 && c.owned != NULL);
        FZ_CHECK(cells + (size_t)c.rows <= n + 1);
        FZ_CHECK(variant != 5 || (c.rows <= 4 && c.cols <= 3));
        for (i = 0; i < cells; i++) FZ_CHECK(c.x[i] - c.x[i] == 0.0f);
        if (c.y) {
            for (i = 0; i < (size_t)c.rows; i++) FZ_CHECK(c.y[i] - c.y[i] == 0.0f);
            if (c.labels)
                for (i = 0; i < (size_t)c.rows; i++)
                    FZ_CHECK(c.labels[i] >= 0 && c.labels[i] < c.n_classes && (float)c.labels[i] == c.y[i]);
        } else {
            FZ_CHECK(c.labels == NULL && c.n_classes == 0);
        }
        if (c.names)
            for (i = 0; i < (size_t)c.cols; i++) FZ_CHECK(c.names[i] != NULL && strlen(c.names[i]) <= n);
        nn_csv_free(&c);
    } else {
        FZ_CHECK(c.error[0] != 0);
        c.error[0] = 0;
        memset(c.error, 0, sizeof c.error);
        memset(before.error, 0, sizeof before.error);
        FZ_CHECK(memcmp(&c, &before, sizeof c) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *p = (char *)malloc(size ? size : 1);
    int v;
    if (!p) return 0;
    if (size) memcpy(p, data, size);
    for (v = 0; v < 6; v++) fz_one(p, size, v);
    free(p);
    return 0;
}

#ifdef FUZZ_STANDALONE
#include "fuzz_replay.h"
int main(int argc, char **argv) { return fz_replay(argc, argv, NULL, NULL); }
#endif
