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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long n;
    *len = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (unsigned char *)malloc(n > 0 ? (size_t)n : 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
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
        free(want);
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

static const test_case tests[] = {
    TEST(test_onnx_fixtures_byte_for_byte),
    TEST(test_onnx_top_level_fields),
    TEST(test_onnx_refusals),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
