/* Runs the embedded build (model.c) on the inputs of ref.h and compares its
   outputs with those the full library computed before export. Prints one
   line per check and "N passed, N failed". */
#include <math.h>
#include <stdio.h>
#include "model.h"
#include "ref.h"

static int pass, fail;
static void check(int ok, const char *what) {
    if (ok) pass++;
    else fail++;
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
}

static void compare(const char *name, int which, const float *x, const float *ref, int outputs) {
    float y[REF_BATCH * 16];
    double worst = 0.0;
    int i, same = 1;
    char line[160];
    int r = embedded_run(which, x, REF_BATCH, y);
    snprintf(line, sizeof line, "%s forward from the compiled-in weights", name);
    check(r == 0, line);
    if (r) return;
    for (i = 0; i < REF_BATCH * outputs; i++) {
        double d = fabs((double)y[i] - (double)ref[i]) / (fabs((double)ref[i]) > 1.0 ? fabs((double)ref[i]) : 1.0);
        if (y[i] != ref[i]) same = 0;
        if (!(d <= worst)) worst = d; /* NaN counts */
    }
    /* the same kernels on the same machine: the same bits */
    snprintf(line, sizeof line, "%s outputs equal the full build's bit for bit (largest difference %.3g)", name,
             worst);
    check(same, line);
}

int main(void) {
    check(embedded_init() == 0, "the four models init into static arenas from the exported C");
    compare("mlp", 0, mlp_x, mlp_y, mlp_OUTPUTS);
    compare("cnn", 1, cnn_x, cnn_y, cnn_OUTPUTS);
    compare("int8 mlp", 2, mlp_x, qmlp_y, mlp_OUTPUTS);
    compare("int8 cnn", 3, cnn_x, qcnn_y, cnn_OUTPUTS);
    check(embedded_backward_refused(), "nn_model_backward returns NN_ERR_UNSUPPORTED");
    printf("  note: arena used: mlp %lu bytes, cnn %lu bytes\n", (unsigned long)embedded_arena_used(0),
           (unsigned long)embedded_arena_used(1));
    printf("%d passed, %d failed\n", pass, fail);
    return fail != 0;
}
