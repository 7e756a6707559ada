/* nn_info.c - what a model file holds: its layers, its preprocessing and where it
   came from ("which data and settings made this model?").

   cc -O2 tools/nn_info.c -o nn_info -lm && ./nn_info build/fashion_mnist.nnw

   Exit status 0 when every file was read, 1 when one was refused (the reason is
   printed), 2 on a usage error. */
#define NN_IMPLEMENTATION
#include "../nn.h"

#include <stdio.h>
#include <stdlib.h>

static int info(const char *path) {
    nn_arena arena;
    nn_model m;
    nn_prep prep;
    nn_meta meta;
    size_t bytes = 0;
    nn_result r;
    char text[8192];
    r = nn_model_arena_bytes_from_file(&bytes, path, 1);
    if (r != NN_OK) {
        fprintf(stderr, "%s: %s\n", path, nn_result_string(r));
        return 1;
    }
    if (nn_arena_init_heap(&arena, bytes + (size_t)(1 << 20) + 16 * (size_t)bytes) != NN_OK) return 1;
    memset(&m, 0, sizeof m);
    memset(&prep, 0, sizeof prep);
    r = nn_model_init_from_file(&m, &arena, path);
    if (r == NN_OK) r = nn_prep_load(&prep, &arena, path);
    if (r == NN_OK) r = nn_meta_load(&meta, path);
    if (r != NN_OK) {
        fprintf(stderr, "%s: %s %s%s\n", path, nn_result_string(r), m.error, prep.error);
        nn_arena_deinit(&arena);
        return 1;
    }
    printf("== %s\n", path);
    nn_model_summary(&m, text, sizeof text);
    printf("%s", text);
    if (prep.in == 0) {
        printf("preprocessing: none\n");
    } else {
        printf("preprocessing: %d features in, %d out;%s", prep.in, prep.out,
               prep.affine ? " per-feature (x - shift) * scale + offset" : "");
        if (prep.k) {
            float share = 0.0f;
            int c;
            for (c = 0; c < prep.k; c++) share += prep.variance_ratio[c];
            printf("%s PCA to %d components (%.1f%% of the variance)%s", prep.affine ? ", then" : "", prep.k,
                   100.0 * share, prep.whiten ? ", whitened" : "");
        }
        printf("\n");
    }
    if (!meta.library[0]) {
        printf("provenance: none recorded\n");
    } else {
        nn_meta_describe(&meta, text, sizeof text);
        printf("provenance:\n%s", text);
    }
    nn_arena_deinit(&arena);
    return 0;
}

int main(int argc, char **argv) {
    int i, bad = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: nn_info model.nnw [more.nnw ...]\n");
        return 2;
    }
    for (i = 1; i < argc; i++) bad |= info(argv[i]);
    return bad;
}
