/* test_onnx.c - nn_model_export_onnx: each model of onnx_cases.h exports to the
   very bytes of tests/fixtures/onnx/<case>.onnx, the files that
   tests/gen_onnx_fixtures.py checked with python3-onnx's checker and strict
   shape inference and evaluated independently (numpy) against nn.h's outputs;
   the size query is exact; a buffer too small, NULL arguments, a path that
   cannot be written and a model ending on an image are refused cleanly.

   Built by `make test` in every configuration of the matrix. */
#ifndef NN_TEST_LINKED
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "test.h"
#include "onnx_cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a whole file (nn.h's reader), or NULL */
static unsigned char *read_all(const char *path, size_t *len) {
    void *buf = NULL;
    *len = 0;
    return nn_read_file(&buf, len, path, (size_t)1 << 24) == NN_OK ? (unsigned char *)buf : NULL;
}

static void test_onnx_fixtures_byte_for_byte(void) {
    int w;
    for (w = 0; w < ONNX_CASES; w++) {
        onnx_case c;
        nn_model m;
        nn_arena a;
        char path[256];
        size_t len = 0, flen = 0, len2 = 0;
        unsigned char *buf, *want;
        if (!CHECK(onnx_case_build(w, &c, &m, &a))) return;
        CHECK_EQ_INT(nn_model_export_onnx_to_memory(&m, NULL, 0, &len), NN_OK);
        buf = (unsigned char *)malloc(len + 16);
        if (!CHECK(buf != NULL)) return;
        memset(buf, 0xAB, len + 16);
        CHECK_EQ_INT(nn_model_export_onnx_to_memory(&m, buf, len + 16, &len2), NN_OK);
        CHECKF(len2 == len && buf[len] == 0xAB, "%s: the size query said %lu, the export wrote %lu",
               onnx_case_names[w], (unsigned long)len, (unsigned long)len2);
        snprintf(path, sizeof path, "tests/fixtures/onnx/%s.onnx", onnx_case_names[w]);
        want = read_all(path, &flen);
        CHECKF(want != NULL, "%s missing (python3 tests/gen_onnx_fixtures.py)", path);
        if (want)
            CHECKF(flen == len && memcmp(want, buf, len) == 0,
                   "%s: the export (%lu bytes) differs from the checked fixture (%lu bytes): if the change is meant, "
                   "regenerate and check it with python3 tests/gen_onnx_fixtures.py",
                   onnx_case_names[w], (unsigned long)len, (unsigned long)flen);
        { /* the exported model also runs (as the generator ran it) */
            float x[3 * 512];
            onnx_case_input(w, x, (size_t)3 * m.inputs);
            CHECK(nn_model_forward(&m, nn_tensor_2d(x, 3, m.inputs)).data != NULL);
        }
        /* one byte short: refused */
        CHECK_EQ_INT(nn_model_export_onnx_to_memory(&m, buf, len - 1, &len2), NN_ERR_TOO_LARGE);
        TEST_NOTE("%s: %lu bytes, the checked fixture's", onnx_case_names[w], (unsigned long)len);
        free(buf);
        nn_free(want);
        nn_arena_deinit(&a);
    }
}

/* The writer's protobuf framing, read back: the top level is ir_version (8),
   producer "nn.h", its version, the graph, opset_import (17). */
static size_t varint(const unsigned char *p, size_t n, size_t *i) {
    size_t v = 0;
    int s = 0;
    while (*i < n) {
        unsigned char b = p[(*i)++];
        v |= (size_t)(b & 0x7F) << s;
        if (!(b & 0x80)) return v;
        s += 7;
    }
    return (size_t)-1;
}
static void test_onnx_top_level_fields(void) {
    onnx_case c;
    nn_model m;
    nn_arena a;
    unsigned char buf[8192];
    size_t len = 0, i = 0;
    int seen = 0;
    if (!CHECK(onnx_case_build(0, &c, &m, &a))) return;
    if (!CHECK(nn_model_export_onnx_to_memory(&m, buf, sizeof buf, &len) == NN_OK)) return;
    while (i < len) {
        size_t key = varint(buf, len, &i), field = key >> 3, wire = key & 7, v;
        if (!CHECK(key != (size_t)-1)) break;
        if (wire == 0) {
            v = varint(buf, len, &i);
            if (field == 1) CHECK_EQ_INT(v, 8);
            seen |= field == 1;
        } else if (CHECK(wire == 2)) {
            v = varint(buf, len, &i);
            if (!CHECK(v <= len - i)) break;
            if (field == 2) CHECK(v == 4 && !memcmp(buf + i, "nn.h", 4));
            if (field == 3) CHECK(v == strlen(NN_VERSION_STRING) && !memcmp(buf + i, NN_VERSION_STRING, v));
            if (field == 8) CHECK(v == 4 && buf[i] == 0x0A && buf[i + 1] == 0 && buf[i + 2] == 0x10 && buf[i + 3] == 17);
            seen |= field == 7 ? 2 : field == 8 ? 4 : 0;
            i += v;
        } else {
            break;
        }
    }
    CHECK_EQ_INT(seen, 7);
    CHECK_EQ_INT(i, len);
    nn_arena_deinit(&a);
}

static void test_onnx_refusals(void) {
    onnx_case c;
    nn_model m, img;
    nn_arena a, ia;
    nn_layer_desc l[1];
    nn_model_desc md;
    size_t len = 0;
    if (!CHECK(onnx_case_build(1, &c, &m, &a))) return;
    CHECK_EQ_INT(nn_model_export_onnx_to_memory(NULL, NULL, 0, &len), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(nn_model_export_onnx_to_memory(&m, NULL, 0, NULL), NN_ERR_INVALID_ARGUMENT);
#ifndef NN_NO_STDIO
    CHECK_EQ_INT(nn_model_export_onnx(&m, "build/no/such/dir/x.onnx"), NN_ERR_IO);
    CHECK_EQ_INT(nn_model_export_onnx(&m, NULL), NN_ERR_INVALID_ARGUMENT);
#endif
    /* a model whose output is an image: nn.h reads it flat, ONNX would not */
    l[0] = nn_conv2d(2, 3, 1, 1, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = 2 * 4 * 4; md.max_batch = 1; md.layers = l; md.n_layers = 1; md.seed = 1;
    md.input_shape[0] = 2; md.input_shape[1] = 4; md.input_shape[2] = 4;
    if (CHECK(nn_arena_init_heap(&ia, nn_model_arena_bytes(&md)) == NN_OK) && CHECK(nn_model_init(&img, &ia, &md) == NN_OK)) {
        CHECK_EQ_INT(nn_model_export_onnx_to_memory(&img, NULL, 0, &len), NN_ERR_UNSUPPORTED);
        nn_arena_deinit(&ia);
    }
    nn_arena_deinit(&a);
}

/* ---- import -------------------------------------------------------------- */

static int import(nn_model *m, nn_arena *a, const unsigned char *buf, size_t len, int max_batch) {
    size_t bytes = 0;
    nn_result r = nn_model_arena_bytes_from_onnx(&bytes, buf, len, max_batch);
    if (r != NN_OK) { /* the same refusal, with its message */
        unsigned char mem[64];
        nn_arena small;
        nn_arena_init(&small, mem, sizeof mem);
        CHECK_EQ_INT(nn_model_init_from_onnx(m, &small, buf, len, max_batch), r);
        return (int)r;
    }
    if (nn_arena_init_heap(a, bytes) != NN_OK) return (int)NN_ERR_OUT_OF_MEMORY;
    r = nn_model_init_from_onnx(m, a, buf, len, max_batch);
    if (r == NN_OK) CHECKF(a->used == bytes, "arena_bytes_from_onnx %lu, init took %lu", (unsigned long)bytes,
                           (unsigned long)a->used);
    else nn_arena_deinit(a);
    return (int)r;
}

/* Files torch.onnx.export wrote (tests/gen_onnx_fixtures.py): PyTorch's
   outputs within PARITY.md's tolerance (rtol = atol = 1e-5). */
static void test_onnx_import_torch(void) {
    static const char *const names[4] = {"torch_mlp", "torch_cnn", "torch_cnn_groups", "torch_acts"};
    int k;
    for (k = 0; k < 4; k++) {
        char path[256];
        unsigned char *buf;
        float *x, *want;
        size_t len, xl, yl, i;
        nn_model m;
        nn_arena a;
        nn_tensor y;
        double worst = 0.0, big = 0.0;
        int B = 3;
        snprintf(path, sizeof path, "tests/fixtures/onnx/%s.onnx", names[k]);
        buf = read_all(path, &len);
        snprintf(path, sizeof path, "tests/fixtures/onnx/%s.in", names[k]);
        x = (float *)(void *)read_all(path, &xl);
        snprintf(path, sizeof path, "tests/fixtures/onnx/%s.out", names[k]);
        want = (float *)(void *)read_all(path, &yl);
        if (!CHECK(buf && x && want)) return;
        memset(&m, 0, sizeof m);
        if (!CHECKF(import(&m, &a, buf, len, B) == NN_OK, "%s: %s", names[k], m.error)) return;
        CHECK(m.mode == NN_MODE_EVAL);
        CHECK_EQ_INT((size_t)B * m.inputs * 4, xl);
        CHECK_EQ_INT((size_t)B * m.outputs * 4, yl);
        y = nn_model_forward(&m, nn_tensor_2d(x, B, m.inputs));
        if (!CHECK(y.data != NULL)) return;
        for (i = 0; i < yl / 4; i++) big = big > fabs((double)want[i]) ? big : fabs((double)want[i]);
        for (i = 0; i < yl / 4; i++) {
            double d = fabs((double)y.data[i] - (double)want[i]);
            CHECKF(d <= 1e-5 * fabs((double)want[i]) + 1e-5 * big, "%s[%lu]: %.8g, PyTorch %.8g", names[k],
                   (unsigned long)i, (double)y.data[i], (double)want[i]);
            if (d / (fabs((double)want[i]) + 1e-30) > worst) worst = d / (fabs((double)want[i]) + 1e-30);
        }
        TEST_NOTE("%s: %d layers imported; worst relative error against PyTorch %.2e", names[k], m.n_layers, worst);
        nn_arena_deinit(&a);
        nn_free(buf);
        nn_free(x);
        nn_free(want);
    }
}

/* nn.h's own export read back (GELU, SiLU and maxout from several nodes
   each): the same outputs, bit for bit. */
static void test_onnx_import_roundtrip(void) {
    int w;
    for (w = 0; w < ONNX_CASES; w++) {
        onnx_case c;
        nn_model m, back;
        nn_arena a, b;
        size_t len = 0;
        unsigned char *buf;
        float x[3 * 512], y0[3 * 16];
        nn_tensor y;
        int r;
        if (!CHECK(onnx_case_build(w, &c, &m, &a))) return;
        nn_model_export_onnx_to_memory(&m, NULL, 0, &len);
        buf = (unsigned char *)malloc(len);
        if (!CHECK(buf && nn_model_export_onnx_to_memory(&m, buf, len, &len) == NN_OK)) return;
        onnx_case_input(w, x, (size_t)3 * m.inputs);
        y = nn_model_forward(&m, nn_tensor_2d(x, 3, m.inputs));
        memcpy(y0, y.data, sizeof(float) * 3 * (size_t)m.outputs);
        memset(&back, 0, sizeof back);
        r = import(&back, &b, buf, len, 3);
        if (CHECKF(r == NN_OK, "%s: %s", onnx_case_names[w], back.error)) {
            y = nn_model_forward(&back, nn_tensor_2d(x, 3, back.inputs));
            CHECKF(y.data && back.outputs == m.outputs &&
                   memcmp(y.data, y0, sizeof(float) * 3 * (size_t)m.outputs) == 0,
                   "%s: exported and read back, the outputs differ", onnx_case_names[w]);
            nn_arena_deinit(&b);
        }
        free(buf);
        nn_arena_deinit(&a);
    }
}

/* Damaged files: every truncation and a flipped bit in each byte either
   load or are refused, never crash or read out of bounds (the sanitizer
   builds watch), the arena as it was and the model untouched on refusal. */
static void test_onnx_import_hostile(void) {
    static const char *const names[3] = {"tests/fixtures/onnx/torch_cnn.onnx", "tests/fixtures/onnx/cnn.onnx",
                                         "tests/fixtures/onnx/torch_acts.onnx"};
    int k, refused = 0, loaded = 0;
    for (k = 0; k < 3; k++) {
        size_t len, i;
        unsigned char *buf = read_all(names[k], &len), *bad;
        nn_arena a;
        if (!CHECK(buf != NULL)) return;
        bad = (unsigned char *)malloc(len);
        CHECK(nn_arena_init_heap(&a, 1 << 20) == NN_OK);
        for (i = 0; i < 2 * len; i++) { /* then a bit of every byte, the next bit each time */
            nn_model m, before;
            size_t n = i < len ? i : len, used;
            nn_result r;
            memcpy(bad, buf, len);
            if (i >= len) bad[i - len] ^= (unsigned char)(1u << ((i - len) % 8));
            memset(&m, 0x5A, sizeof m);
            m.error[0] = 0;
            before = m;
            used = a.used;
            r = nn_model_init_from_onnx(&m, &a, bad, n, 2);
            if (r == NN_OK) {
                loaded++;
                nn_arena_reset(&a);
            } else {
                refused++;
                if (!CHECKF(a.used == used, "%s: a refused file (%lu) left %lu bytes taken", names[k], (unsigned long)i,
                            (unsigned long)(a.used - used)))
                    break;
                if (!CHECKF(m.error[0] != 0, "%s (%lu): refused with no message", names[k], (unsigned long)i)) break;
                memset(m.error, 0, NN_ERROR_MAX);
                memset(before.error, 0, NN_ERROR_MAX);
                if (!CHECKF(memcmp(&m, &before, sizeof m) == 0, "%s (%lu): a refused file changed the model",
                            names[k], (unsigned long)i))
                    break;
            }
            if (i < len) CHECKF(r != NN_OK || i == len, "%s: %lu of %lu bytes loaded", names[k], (unsigned long)i,
                                (unsigned long)len);
        }
        nn_arena_deinit(&a);
        free(bad);
        nn_free(buf);
    }
    TEST_NOTE("damaged ONNX files: %d refused, %d loaded (a flipped bit in a weight is still a model)", refused,
              loaded);
}

static const test_case tests[] = {
    TEST(test_onnx_fixtures_byte_for_byte),
    TEST(test_onnx_top_level_fields),
    TEST(test_onnx_refusals),
    TEST(test_onnx_import_torch),
    TEST(test_onnx_import_roundtrip),
    TEST(test_onnx_import_hostile),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
