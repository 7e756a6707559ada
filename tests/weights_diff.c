/* weights_diff.c A.nnw B.nnw [TOL]: the largest difference between two saved
   models' parameters (the same architecture), absolute and relative to the
   largest |w| of A. Exit 0 when the relative one is at most TOL (default
   1e-3), 1 otherwise, 2 when a file cannot be read or the models differ in
   shape. Prints "max |a - b| X (Y of max |a|), Z of N values differ". */
#define NN_IMPLEMENTATION
#include "../nn.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int load(const char *path, nn_arena *a, nn_model *m) {
    size_t bytes = 0;
    if (nn_model_arena_bytes_from_file(&bytes, path, 0) != NN_OK || nn_arena_init_heap(a, bytes) != NN_OK ||
        nn_model_init_from_file(m, a, path) != NN_OK) {
        fprintf(stderr, "weights_diff: cannot read %s\n", path);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    nn_arena aa, ab;
    nn_model a, b;
    double tol = argc > 3 ? atof(argv[3]) : 1e-3, worst = 0.0, big = 0.0;
    size_t i, differ = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: weights_diff A.nnw B.nnw [TOL]\n");
        return 2;
    }
    if (!load(argv[1], &aa, &a) || !load(argv[2], &ab, &b)) return 2;
    if (a.n_params != b.n_params) {
        fprintf(stderr, "weights_diff: %lu and %lu parameters\n", (unsigned long)a.n_params, (unsigned long)b.n_params);
        return 2;
    }
    for (i = 0; i < a.n_params; i++) {
        double d = fabs((double)a.params[i] - (double)b.params[i]);
        if (!(d <= worst)) worst = d;
        if (fabs((double)a.params[i]) > big) big = fabs((double)a.params[i]);
        differ += a.params[i] != b.params[i];
    }
    printf("max |a - b| %.3g (%.3g of max |a| %.3g), %lu of %lu values differ\n", worst, big > 0 ? worst / big : worst,
           big, (unsigned long)differ, (unsigned long)a.n_params);
    nn_arena_deinit(&aa);
    nn_arena_deinit(&ab);
    return big > 0 && worst / big <= tol ? 0 : 1;
}
