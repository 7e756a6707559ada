/* fuzz_onnx.c - libFuzzer target for nn.h's ONNX reader (nn_model_init_from_onnx,
   nn_model_arena_bytes_from_onnx).

   Each input is read twice: the arena size it asks for, then a model built in an
   arena of that size (and once in one too small). After every call:
     success  a model in EVAL mode whose sizes match what arena_bytes said, and a
              forward pass on zeros that returns outputs;
     failure  an error code and a message, the arena as it was, the caller's model
              byte for byte as before.
   The input is copied into a block of exactly its size, so ASan sees any read past
   its end. The corpus (tests/corpus_onnx) holds the ONNX fixtures.

   Build and run (Debian's clang needs libclang-rt-14-dev for -fsanitize=fuzzer):
       clang -g -O1 -fsanitize=fuzzer,address,undefined tests/fuzz_onnx.c -o build/fuzz_onnx -lm
       build/fuzz_onnx -max_total_time=60 build/corpus_onnx_work tests/corpus_onnx
   -DFUZZ_STANDALONE gives a main that replays files through the same checks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NN_TEST_LINKED /* make test links the sanitizer build of the implementation */
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"

#define FZ_CHECK(c)                                                               \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "fuzz_onnx.c:%d: check failed: %s\n", __LINE__, #c); \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* models the fuzzer may ask for stay small: a forward must be cheap */
#define FZ_MAX_ARENA ((size_t)64 << 20)

static void fz_refused(nn_result r, nn_model *m, nn_model *before, nn_arena *a, size_t used) {
    FZ_CHECK(r != NN_OK && m->error[0] != 0 && a->used == used);
    memset(m->error, 0, sizeof m->error);
    memset(before->error, 0, sizeof before->error);
    FZ_CHECK(memcmp(m, before, sizeof *m) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *p = (unsigned char *)malloc(size ? size : 1);
    size_t bytes = 0;
    nn_result r;
    nn_model m, before;
    nn_arena a;
    if (!p) return 0;
    if (size) memcpy(p, data, size);
    r = nn_model_arena_bytes_from_onnx(&bytes, p, size, 2);
    memset(&m, 0xA5, sizeof m);
    m.error[0] = 0;
    before = m;
    if (r != NN_OK || bytes > FZ_MAX_ARENA) {
        unsigned char mem[256];
        FZ_CHECK(r != NN_OK || bytes > 0);
        nn_arena_init(&a, mem, sizeof mem);
        r = nn_model_init_from_onnx(&m, &a, p, size, 2);
        if (r != NN_OK) fz_refused(r, &m, &before, &a, 0);
        free(p);
        return 0;
    }
    /* too small by one alignment step: refused, nothing taken */
    if (bytes > 64 && nn_arena_init_heap(&a, bytes - 64) == NN_OK) {
        r = nn_model_init_from_onnx(&m, &a, p, size, 2);
        fz_refused(r, &m, &before, &a, 0);
        nn_arena_deinit(&a);
    }
    FZ_CHECK(nn_arena_init_heap(&a, bytes) == NN_OK);
    r = nn_model_init_from_onnx(&m, &a, p, size, 2);
    FZ_CHECK(r == NN_OK); /* arena_bytes said it reads */
    {
        float *x = (float *)calloc((size_t)m.inputs * 2, sizeof(float));
        nn_tensor y;
        FZ_CHECK(x && m.mode == NN_MODE_EVAL && a.used == bytes);
        y = nn_model_forward(&m, nn_tensor_2d(x, 2, m.inputs));
        FZ_CHECK(y.data != NULL && y.shape[0] == 2);
        free(x);
    }
    nn_arena_deinit(&a);
    free(p);
    return 0;
}

#ifdef FUZZ_STANDALONE
#include "fuzz_replay.h"
int main(int argc, char **argv) { return fz_replay(argc, argv, NULL, NULL); }
#endif
