/* onnx_dump.c DIR: what tests/gen_onnx_fixtures.py checks: each case of
   onnx_cases.h exported as DIR/<case>.onnx, with its inputs (DIR/<case>.in,
   float32, B rows) and nn.h's EVAL outputs for them (DIR/<case>.out). */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include "onnx_cases.h"
#include <stdio.h>

int main(int argc, char **argv) {
    int w, B = 3;
    if (argc < 2) return 2;
    for (w = 0; w < ONNX_CASES; w++) {
        onnx_case c;
        nn_model m;
        nn_arena a;
        nn_tensor y;
        float x[3 * 512];
        char path[512];
        FILE *f;
        nn_result r;
        if (!onnx_case_build(w, &c, &m, &a)) return 1;
        onnx_case_input(w, x, (size_t)B * m.inputs);
        y = nn_model_forward(&m, nn_tensor_2d(x, B, m.inputs));
        snprintf(path, sizeof path, "%s/%s.onnx", argv[1], onnx_case_names[w]);
        r = nn_model_export_onnx(&m, path);
        if (r != NN_OK || !y.data) {
            fprintf(stderr, "%s: %s\n", onnx_case_names[w], nn_result_string(r));
            return 1;
        }
        snprintf(path, sizeof path, "%s/%s.in", argv[1], onnx_case_names[w]);
        f = fopen(path, "wb");
        if (!f || fwrite(x, sizeof(float), (size_t)B * m.inputs, f) != (size_t)B * m.inputs || fclose(f)) return 1;
        snprintf(path, sizeof path, "%s/%s.out", argv[1], onnx_case_names[w]);
        f = fopen(path, "wb");
        if (!f || fwrite(y.data, sizeof(float), (size_t)B * m.outputs, f) != (size_t)B * m.outputs || fclose(f)) return 1;
        printf("%s %d %d %d\n", onnx_case_names[w], B, m.inputs, m.outputs);
        nn_arena_deinit(&a);
    }
    return 0;
}
