/* The embedded side of tests/embedded_check.sh: nn.h configured for
   inference only, as on a device with no file system and no heap:
     NN_STATIC       nothing exported; what this file does not call is not emitted
     NN_NO_STDIO     no FILE or path functions
     NN_NO_TRAINING  no gradients, no backward passes
     NN_NO_THREADS   no pool
   and an allocator that does not exist: NN_MALLOC, NN_REALLOC and NN_FREE
   name functions that are declared and never defined, so this file links
   only if nothing it keeps can allocate. The models' weights are compiled
   in (nn_model_export_c's output) and their arenas are static, sized by
   the exported *_ARENA_BYTES. This file uses no stdio: main.c reports. */
#include <stddef.h>
void *embedded_no_malloc(size_t bytes);
void *embedded_no_realloc(void *p, size_t bytes);
void embedded_no_free(void *p);
#define NN_STATIC
#define NN_NO_STDIO
#define NN_NO_TRAINING
#define NN_NO_THREADS
#define NN_MALLOC(sz) embedded_no_malloc(sz)
#define NN_REALLOC(p, sz) embedded_no_realloc(p, sz)
#define NN_FREE(p) embedded_no_free(p)
#define NN_IMPLEMENTATION
#include "nn.h"
#include "mlp_model.h"
#include "cnn_model.h"
#include "qmlp_model.h" /* the MLP quantized to int8 */
#include "qcnn_model.h" /* the CNN quantized to int8 */
#include "model.h"

static unsigned char mlp_mem[NN_ARENA_BUFFER_BYTES(MLP_ARENA_BYTES)];
static unsigned char cnn_mem[NN_ARENA_BUFFER_BYTES(CNN_ARENA_BYTES)];
static unsigned char q_mem[NN_ARENA_BUFFER_BYTES(MLP_QARENA_BYTES)];
static unsigned char qc_mem[NN_ARENA_BUFFER_BYTES(CNN_QARENA_BYTES)];
static nn_arena arenas[4];
static nn_model models[2];
static nn_qmodel qmodels[2];

int embedded_init(void) {
    if (nn_arena_init(&arenas[0], mlp_mem, sizeof mlp_mem) != NN_OK || mlp_init(&models[0], &arenas[0]) != NN_OK)
        return 1;
    if (nn_arena_init(&arenas[1], cnn_mem, sizeof cnn_mem) != NN_OK || cnn_init(&models[1], &arenas[1]) != NN_OK)
        return 2;
    if (nn_arena_init(&arenas[2], q_mem, sizeof q_mem) != NN_OK || mlp_qinit(&qmodels[0], &arenas[2]) != NN_OK)
        return 3;
    if (nn_arena_init(&arenas[3], qc_mem, sizeof qc_mem) != NN_OK || cnn_qinit(&qmodels[1], &arenas[3]) != NN_OK)
        return 4;
    return 0;
}

/* which: 0 MLP, 1 CNN, 2 the int8 MLP, 3 the int8 CNN; x (rows, inputs) -> y (rows, outputs); 0 on success */
int embedded_run(int which, const float *x, int rows, float *y) {
    nn_qmodel *q = which >= 2 ? &qmodels[which - 2] : NULL;
    int i, n = q ? q->outputs : models[which].outputs;
    nn_tensor in = nn_tensor_2d((float *)(size_t)x, rows, q ? q->inputs : models[which].inputs);
    nn_tensor z = q ? nn_qmodel_forward(q, in) : nn_model_forward(&models[which], in);
    if (!z.data) return 1;
    for (i = 0; i < rows * n; i++) y[i] = z.data[i];
    return 0;
}

/* what a training call does here: an error, not a crash */
int embedded_backward_refused(void) {
    nn_tensor dy = nn_tensor_2d(models[0].x.data, models[0].batch, models[0].outputs);
    return nn_model_backward(&models[0], dy) == NN_ERR_UNSUPPORTED;
}

size_t embedded_arena_used(int which) { return arenas[which].used; }

#ifdef EMBEDDED_NEGATIVE_CONTROL
/* tests/embedded_check.sh builds this once on purpose: a heap arena must
   make the link fail, or the link check proves nothing */
int embedded_heap(void) {
    nn_arena a;
    return nn_arena_init_heap(&a, 64) == NN_OK;
}
#endif
