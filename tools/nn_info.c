/* nn_info.c - what a model file holds: its layers, its preprocessing and where it
   came from ("which data and settings made this model?"); for an int8 model file
   (nn_qmodel_save) its layers and scales.

   cc -O2 tools/nn_info.c -o nn_info -lm && ./nn_info build/fashion_mnist.nnw

   Exit status 0 when every file was read, 1 when one was refused (the reason is
   printed), 2 on a usage error. */
#define NN_IMPLEMENTATION
#include "../nn.h"

#include <stdio.h>
#include <stdlib.h>

/* an int8 model file (QNT8): its layers and what its weights weigh */
static int qinfo(const char *path) {
    nn_arena arena;
    nn_qmodel q;
    size_t bytes = 0;
    int i;
    nn_result r = nn_qmodel_arena_bytes_from_file(&bytes, path, 0);
    if (r != NN_OK || nn_arena_init_heap(&arena, bytes) != NN_OK) {
        fprintf(stderr, "%s: %s\n", path, nn_result_string(r));
        return 1;
    }
    r = nn_qmodel_init_from_file(&q, &arena, path, 0);
    if (r != NN_OK) {
        fprintf(stderr, "%s: %s %s\n", path, nn_result_string(r), q.error);
        nn_arena_deinit(&arena);
        return 1;
    }
    printf("== %s\nint8 model: %d layers, %d -> %d; weights %lu bytes (%lu in float), made for batches up to %d\n",
           path, q.n_layers, q.inputs, q.outputs, (unsigned long)q.weight_bytes, (unsigned long)q.float_weight_bytes,
           q.max_batch);
    for (i = 0; i < q.n_layers; i++) {
        const nn_qlayer *L = &q.layers[i];
        printf("  %2d %-15s %7d -> %-7d %-10s", i, nn_qlayer_kind_name(L->kind), L->in, L->out, nn_act_name(L->act));
        if (L->kind == NN_QLAYER_DENSE || L->kind == NN_QLAYER_CONV2D) printf(" input scale %.6g", (double)L->in_scale);
        printf("\n");
    }
    nn_arena_deinit(&arena);
    return 0;
}

static int info(const char *path) {
    nn_arena arena;
    nn_model m;
    nn_prep prep;
    nn_meta meta;
    size_t bytes = 0;
    nn_result r;
    char text[8192];
    r = nn_model_arena_bytes_from_file(&bytes, path, 1);
    if (r == NN_ERR_UNSUPPORTED) return qinfo(path); /* not a float model: perhaps an int8 one */
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
