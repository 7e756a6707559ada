/* nn.h - v0.1.0 - neural networks in one C header - MIT licence (see end of file)

   Build, train and ship small and medium neural networks from C or C++ with
   one file, libc and libm. Explicit forward/backward functions per layer (no
   autograd, no graph), arena-allocated tensors, SIMD kernels with plain
   reference twins, deterministic results.

   HOW TO USE
     In exactly one C or C++ file of your project:
         #define NN_IMPLEMENTATION
         #include "nn.h"
     Everywhere else just #include "nn.h". Define NN_STATIC before the
     implementation to make every function static to that file.

   A COMPLETE EXAMPLE (XOR, see examples/xor.c for the full program)
         static unsigned char mem[1 << 20];
         nn_arena arena; nn_model net; nn_optim opt;
         nn_layer_desc layers[2];
         memset(layers, 0, sizeof layers);
         layers[0].kind = NN_LAYER_DENSE; layers[0].units = 8; layers[0].act = NN_ACT_TANH;
         layers[1].kind = NN_LAYER_DENSE; layers[1].units = 1; layers[1].act = NN_ACT_SIGMOID;
         nn_model_desc md; memset(&md, 0, sizeof md);
         md.inputs = 2; md.max_batch = 4; md.layers = layers; md.n_layers = 2; md.seed = 1;
         nn_optim_desc od; memset(&od, 0, sizeof od);
         od.kind = NN_OPTIM_SGD; od.lr = 0.5f; od.momentum = 0.9f;
         nn_arena_init(&arena, mem, sizeof mem);
         if (nn_model_init(&net, &arena, &md) != NN_OK) return 1;
         if (nn_optim_init(&opt, &arena, &od, net.n_params) != NN_OK) return 1;
         float xs[8] = {0,0, 0,1, 1,0, 1,1}, ts[4] = {0,1,1,0};
         nn_tensor x = nn_tensor_2d(xs, 4, 2), t = nn_tensor_2d(ts, 4, 1);
         for (int step = 0; step < 2000; step++) {
             nn_tensor y = nn_model_forward(&net, x);
             nn_tensor dy = nn_model_output_grad(&net);
             float loss = nn_loss_mse(dy, y, t);
             nn_model_zero_grad(&net);
             nn_model_backward(&net, dy);
             nn_optim_step(&opt, net.params, net.grads, net.n_params);
             (void)loss;
         }

   CONFIGURATION (define before including the implementation)
     NN_ASSERT(c)       programmer-error check            default: assert(c) from <assert.h>
     NN_MALLOC(sz)      allocator, all three or none       default: malloc / realloc / free
     NN_REALLOC(p,sz)
     NN_FREE(p)
     NN_STATIC          every public function static       default: off (extern)
     NNDEF              decoration of public functions     default: extern (static with NN_STATIC)
     NN_NO_SIMD         force the plain reference kernels  default: off (AVX2/FMA picked at run time)
     NN_NO_STDIO        drop FILE and path I/O, keep memory I/O   default: off
     The library never prints and never calls exit(); failures that a correct
     program can meet come back as an nn_result (see nn_result_string).

   CONVENTIONS
     - float32 everywhere. Tensors are row-major (C order); shapes are written
       outermost first: (B, F) for a batch of feature vectors, (N, C, H, W)
       for images. Dense weights are (OUT, IN) like PyTorch: y = x W^T + b.
     - Kernel arguments: outputs first, then inputs and parameters, then sizes.
       Gradients carry a d prefix (dx, dw). Every layer's forward and backward
       sit side by side in the implementation.
     - Backward ACCUMULATES parameter gradients (dw += ...), so call
       nn_model_zero_grad before each step; it WRITES the input gradient dx
       (dx = ...). dx may alias dy for elementwise layers. A tensor whose
       .data is NULL is skipped (e.g. no dx for the first layer).
     - Memory: the caller owns it. Everything the library keeps lives in an
       nn_arena the caller sets up over its own buffer or over NN_MALLOC; size
       queries (nn_model_arena_bytes, nn_optim_arena_bytes) tell how much is
       needed first. After set-up a training step allocates nothing.
     - Threads: distinct objects may be used from distinct threads. With
       -fopenmp the GEMM splits work over output tiles only, never over a
       reduction, so results are bit-identical for every thread count.
     - Determinism: same seed and same data give bit-identical weights. The
       AVX2/FMA and reference paths may differ in the last bits (FMA rounds
       once); each path on its own is reproducible.

   TABLE OF CONTENTS (implementation sections, in order; search for "== n.")
     == 1. config, result codes, version
     == 2. arena
     == 3. tensor
     == 4. rng
     == 5. kernels: gemm (reference, then AVX2/FMA), elementwise
     == 6. layers: dense, activations
     == 7. losses
     == 8. model (sequential)
     == 9. optimizers
     == 10. io helpers: crc32, gzip container, IDX
*/
#ifndef NN_H
#define NN_H

#define NN_VERSION_MAJOR 0
#define NN_VERSION_MINOR 1
#define NN_VERSION_PATCH 0
#define NN_VERSION_STRING "0.1.0"

#include <stddef.h>
#include <stdint.h>

#ifndef NNDEF
#ifdef NN_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define NNDEF static __attribute__((unused)) /* no warning for what a file does not call */
#else
#define NNDEF static
#endif
#else
#define NNDEF extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- result codes ------------------------------------------------------ */
typedef enum nn_result {
    NN_OK = 0,
    NN_ERR_OUT_OF_MEMORY = -1,    /* arena or allocator exhausted */
    NN_ERR_INVALID_ARGUMENT = -2, /* a value the user chose is out of range */
    NN_ERR_IO = -3,               /* open/read/write/rename failed */
    NN_ERR_BAD_MAGIC = -4,        /* not the file type expected */
    NN_ERR_VERSION = -5,          /* a newer format than this reader knows */
    NN_ERR_TRUNCATED = -6,        /* fewer bytes than the header promises */
    NN_ERR_CORRUPT = -7,          /* inconsistent header or data */
    NN_ERR_CHECKSUM = -8,         /* checksum mismatch */
    NN_ERR_TOO_LARGE = -9,        /* a size beyond the loader's limits */
    NN_ERR_SHAPE_MISMATCH = -10,  /* file does not match the caller's model */
    NN_ERR_NONFINITE = -11,       /* NaN or Inf met */
    NN_ERR_UNSUPPORTED = -12      /* feature compiled out or not available */
} nn_result;

/* A short, static, human-readable description of r. */
NNDEF const char *nn_result_string(nn_result r);

/* ---- arena ------------------------------------------------------------- */
/* A bump allocator over one block. Every allocation is 64-byte aligned.
   Mark/rewind frees everything allocated after the mark (per-batch scratch). */
#define NN_ARENA_ALIGN 64
typedef struct nn_arena {
    unsigned char *base;  /* 64-byte aligned start of the usable block */
    size_t cap;           /* usable bytes from base */
    size_t used;          /* bytes handed out, including alignment padding */
    size_t peak;          /* high-water mark of used */
    void *owned;          /* block to NN_FREE at deinit, or NULL */
} nn_arena;

/* Use a caller buffer (any alignment; up to 63 bytes go to alignment). */
NNDEF nn_result nn_arena_init(nn_arena *a, void *buf, size_t bytes);
/* Allocate `bytes` usable bytes with one NN_MALLOC call. */
NNDEF nn_result nn_arena_init_heap(nn_arena *a, size_t bytes);
/* Release a heap arena; a caller buffer is left alone. Accepts NULL. */
NNDEF void nn_arena_deinit(nn_arena *a);
/* 64-byte aligned, zero-filled block, or NULL when the arena is full. */
NNDEF void *nn_arena_alloc(nn_arena *a, size_t bytes);
NNDEF size_t nn_arena_mark(const nn_arena *a);
NNDEF void nn_arena_rewind(nn_arena *a, size_t mark);
NNDEF void nn_arena_reset(nn_arena *a);
/* Bytes an allocation of `bytes` consumes (rounded up to NN_ARENA_ALIGN);
   sum these to size an arena exactly. */
NNDEF size_t nn_arena_bytes_for(size_t bytes);

/* ---- tensor ------------------------------------------------------------ */
/* A float32 view: data pointer plus shape. Copying the struct copies the
   view, never the data. Rank 1..4; unused shape entries are 1. */
#define NN_MAX_RANK 4
typedef struct nn_tensor {
    float *data;
    int rank;
    int shape[NN_MAX_RANK];
} nn_tensor;

NNDEF nn_tensor nn_tensor_view(float *data, int rank, const int *shape);
NNDEF nn_tensor nn_tensor_1d(float *data, int n);
NNDEF nn_tensor nn_tensor_2d(float *data, int rows, int cols);
NNDEF nn_tensor nn_tensor_3d(float *data, int d0, int d1, int d2);
NNDEF nn_tensor nn_tensor_4d(float *data, int n, int c, int h, int w);
/* Zero-filled tensor in the arena; .data is NULL when the arena is full. */
NNDEF nn_tensor nn_tensor_alloc(nn_arena *a, int rank, const int *shape);
NNDEF size_t nn_tensor_size(nn_tensor t);                 /* element count */
NNDEF nn_tensor nn_tensor_rows(nn_tensor t, int start, int count); /* slice of dim 0 */
NNDEF nn_tensor nn_tensor_reshape(nn_tensor t, int rank, const int *shape);
NNDEF int nn_tensor_same_shape(nn_tensor a, nn_tensor b);
/* Product of every dim but the first: features per row. */
NNDEF int nn_tensor_row_size(nn_tensor t);

/* ---- rng --------------------------------------------------------------- */
/* xoshiro256** seeded through splitmix64: small, fast, and the same stream on
   every platform. Each object owns its state; there is no global RNG. */
typedef struct nn_rng { uint64_t s[4]; } nn_rng;
NNDEF void nn_rng_seed(nn_rng *r, uint64_t seed);
NNDEF uint64_t nn_rng_u64(nn_rng *r);
NNDEF uint32_t nn_rng_below(nn_rng *r, uint32_t n);      /* uniform in [0, n) */
NNDEF float nn_rng_uniform(nn_rng *r);                   /* uniform in [0, 1) */
NNDEF float nn_rng_normal(nn_rng *r);                    /* N(0, 1) */
NNDEF void nn_rng_shuffle(nn_rng *r, int *idx, int n);   /* Fisher-Yates */

/* ---- kernels ----------------------------------------------------------- */
/* C = alpha * op(A) op(B) + beta * C, row-major, op(X) = X or X^T.
   op(A) is (M,K), op(B) is (K,N), C is (M,N); lda/ldb/ldc are row strides of
   the matrices as stored. beta == 0 never reads C (NaN in C is fine).
   Work is split over tiles of C only: bit-identical for any thread count. */
NNDEF void nn_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
                   const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc);
/* The plain reference twin (also the NN_NO_SIMD path). */
NNDEF void nn_gemm_ref(int trans_a, int trans_b, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb,
                       float beta, float *C, int ldc);
/* 0 = reference, 1 = AVX2+FMA: what nn_gemm uses on this CPU and build. */
NNDEF int nn_simd_level(void);

/* ---- layers ------------------------------------------------------------ */
/* Dense (fully connected).
   forward:  x (B,IN) w (OUT,IN) b (OUT) -> y (B,OUT);  y = x w^T + b
   backward: dy (B,OUT) -> dx (B,IN) written, dw (OUT,IN) and db (OUT)
             accumulated. b/db/dx with NULL data are skipped. */
NNDEF void nn_dense_forward(nn_tensor y, nn_tensor x, nn_tensor w, nn_tensor b);
NNDEF void nn_dense_backward(nn_tensor dx, nn_tensor dw, nn_tensor db,
                             nn_tensor dy, nn_tensor x, nn_tensor w);

/* Activations, elementwise on any shape (softmax: over the last dim).
   alpha is the LeakyReLU slope or the ELU alpha and is ignored otherwise.
   Backward needs the forward input x and output y (either may be unused,
   but pass both); dx may alias dy. */
typedef enum nn_act {
    NN_ACT_IDENTITY = 0,
    NN_ACT_RELU,
    NN_ACT_SIGMOID,
    NN_ACT_TANH,
    NN_ACT_COUNT_
} nn_act;
NNDEF const char *nn_act_name(nn_act a);
NNDEF void nn_act_forward(nn_act a, float alpha, nn_tensor y, nn_tensor x);
NNDEF void nn_act_backward(nn_act a, float alpha, nn_tensor dx, nn_tensor dy,
                           nn_tensor x, nn_tensor y);
NNDEF void nn_relu_forward(nn_tensor y, nn_tensor x);
NNDEF void nn_relu_backward(nn_tensor dx, nn_tensor dy, nn_tensor x);
NNDEF void nn_sigmoid_forward(nn_tensor y, nn_tensor x);  /* no overflow for any |x| */
NNDEF void nn_sigmoid_backward(nn_tensor dx, nn_tensor dy, nn_tensor y);
NNDEF void nn_tanh_forward(nn_tensor y, nn_tensor x);
NNDEF void nn_tanh_backward(nn_tensor dx, nn_tensor dy, nn_tensor y);

/* ---- losses ------------------------------------------------------------ */
/* Each returns the mean loss and, when dpred.data is not NULL, writes the
   gradient of that mean with respect to its input.
   Softmax cross-entropy fuses the softmax: pass raw logits (B,C) and labels in
   [0,C); stable for any logit range. MSE: mean over all elements. */
NNDEF float nn_loss_cross_entropy(nn_tensor dlogits, nn_tensor logits, const int *labels);
NNDEF float nn_loss_mse(nn_tensor dpred, nn_tensor pred, nn_tensor target);

/* ---- model ------------------------------------------------------------- */
/* A sequential stack of layers with its own buffers for a batch of up to
   max_batch rows. Each layer has its own width and activation. The per-layer
   functions above stay public: the model only chains them. */
typedef enum nn_layer_kind {
    NN_LAYER_NONE = 0,
    NN_LAYER_DENSE,       /* units outputs; .act applied after (a layer of its own) */
    NN_LAYER_ACT          /* .act on every element */
} nn_layer_kind;

typedef enum nn_mode { NN_MODE_TRAIN = 0, NN_MODE_EVAL = 1 } nn_mode;

/* Zero means default for every field. */
typedef struct nn_layer_desc {
    nn_layer_kind kind;
    int units;           /* DENSE: outputs (required) */
    nn_act act;          /* DENSE: activation after it (default identity); ACT: which */
    float alpha;         /* LeakyReLU slope / ELU alpha */
    int no_bias;         /* DENSE: 1 = no bias */
} nn_layer_desc;

typedef struct nn_model_desc {
    int inputs;                   /* features per input row (required) */
    int max_batch;                /* largest batch forward will see (required) */
    const nn_layer_desc *layers;
    int n_layers;
    uint64_t seed;                /* initialization seed */
} nn_model_desc;

/* A run of parameters with its gradient, for optimizers and serializers. */
typedef struct nn_param {
    const char *name;    /* e.g. "dense1.weight" (static storage in the model) */
    float *data;
    float *grad;
    size_t size;
    int no_decay;        /* 1 for biases: excluded from weight decay */
} nn_param;

typedef struct nn_layer {
    nn_layer_kind kind;
    nn_act act;
    float alpha;
    int in, out;           /* features per row in and out */
    nn_tensor w, b;        /* parameters (views into model->params) */
    nn_tensor dw, db;      /* gradients (views into model->grads) */
    nn_tensor y;           /* output buffer (max_batch, out) */
    char param_names[2][32]; /* "<index>.weight", "<index>.bias" as in PyTorch */
} nn_layer;

typedef struct nn_model {
    nn_layer *layers;
    int n_layers;
    int inputs, outputs, max_batch;
    int batch;             /* rows in the last forward */
    nn_mode mode;
    float *params;         /* every parameter, one 64-byte aligned block */
    float *grads;          /* gradients, same layout */
    size_t n_params;
    nn_param *param_list;  /* named runs of params/grads */
    int n_param_list;
    nn_tensor x;           /* input of the last forward (a view, not a copy) */
    float *gbuf[2];        /* ping-pong gradient buffers (max_batch * widest) */
    float *dout;           /* output gradient buffer (max_batch, outputs) */
    nn_rng rng;
    size_t arena_bytes;    /* what nn_model_init took from the arena */
} nn_model;

/* Exact arena bytes nn_model_init takes for this description (0 if invalid). */
NNDEF size_t nn_model_arena_bytes(const nn_model_desc *desc);
/* Parameter count of the model this description builds (0 if invalid): size
   the optimizer state with it before building anything. */
NNDEF size_t nn_model_param_count(const nn_model_desc *desc);
/* Build and initialize (dense: PyTorch nn.Linear's uniform +-1/sqrt(IN)). */
NNDEF nn_result nn_model_init(nn_model *m, nn_arena *arena, const nn_model_desc *desc);
NNDEF void nn_model_set_mode(nn_model *m, nn_mode mode);
/* x (B, inputs), B <= max_batch. Returns a view of the output (B, outputs),
   valid until the next forward. x must stay alive until backward. */
NNDEF nn_tensor nn_model_forward(nn_model *m, nn_tensor x);
/* A (B, outputs) buffer owned by the model for the loss gradient. */
NNDEF nn_tensor nn_model_output_grad(nn_model *m);
/* dy (B, outputs): gradient of the loss w.r.t. the last forward's output.
   Accumulates into m->grads. */
NNDEF void nn_model_backward(nn_model *m, nn_tensor dy);
NNDEF void nn_model_zero_grad(nn_model *m);
/* Writes a table of layers, output shapes, parameter counts and the mode
   into buf (always NUL-terminated). Returns the length it needed. */
NNDEF size_t nn_model_summary(const nn_model *m, char *buf, size_t size);

/* ---- optimizers -------------------------------------------------------- */
typedef enum nn_optim_kind {
    NN_OPTIM_SGD = 0
} nn_optim_kind;

/* Zero means default. */
typedef struct nn_optim_desc {
    nn_optim_kind kind;
    float lr;            /* learning rate (default 0.01) */
    float momentum;      /* SGD: v = mu v + g; w -= lr v (PyTorch form); default 0 */
} nn_optim_desc;

typedef struct nn_optim {
    nn_optim_desc d;
    float *m;            /* first state buffer (momentum), n floats or NULL */
    size_t n;
    long step;
} nn_optim;

NNDEF size_t nn_optim_arena_bytes(const nn_optim_desc *desc, size_t n_params);
NNDEF nn_result nn_optim_init(nn_optim *o, nn_arena *arena, const nn_optim_desc *desc, size_t n_params);
/* One update of n parameters from their gradients (flat arrays). */
NNDEF void nn_optim_step(nn_optim *o, float *params, const float *grads, size_t n);

/* ---- io helpers -------------------------------------------------------- */
/* CRC-32 (IEEE, as gzip and PNG use). Pass crc = 0 to start. */
NNDEF uint32_t nn_crc32(uint32_t crc, const void *data, size_t len);

/* Inflate raw DEFLATE data (no zlib/gzip header) into exactly dst_len bytes.
   src_len may run past the end of the DEFLATE stream (a gzip member passes its
   8-byte trailer too): the stream ends itself, and some decoders read ahead.
   nn.h ships no decompressor: plug one in (examples/ use stb_image's). */
typedef nn_result (*nn_inflate_fn)(void *dst, size_t dst_len, const void *src, size_t src_len);

/* Decode a one-member gzip file held in memory: validates header, flags,
   trailer CRC-32 and size; refuses outputs over max_out bytes. On success
   *out is an NN_MALLOC block the caller releases with nn_free. */
NNDEF nn_result nn_gzip_decode(void **out, size_t *out_len, const void *gz, size_t len,
                               size_t max_out, nn_inflate_fn inflate);
NNDEF void nn_free(void *p);

/* IDX files (MNIST family): unsigned-byte data, rank 1..4. */
typedef struct nn_idx {
    int rank;
    int dims[4];
    size_t count;                 /* product of dims */
    const unsigned char *data;    /* count bytes */
    void *owned;                  /* block to release with nn_idx_free, or NULL */
} nn_idx;
/* Zero-copy parse of IDX bytes in memory; out->data points into buf. */
NNDEF nn_result nn_idx_parse(nn_idx *out, const void *buf, size_t len);
#ifndef NN_NO_STDIO
/* Read a whole file into an NN_MALLOC block (at most max_bytes). */
NNDEF nn_result nn_read_file(void **out, size_t *out_len, const char *path, size_t max_bytes);
/* Load an IDX file, gzip-compressed (needs inflate) or plain. */
NNDEF nn_result nn_idx_load(nn_idx *out, const char *path, nn_inflate_fn inflate);
#endif
NNDEF void nn_idx_free(nn_idx *idx);

#ifdef __cplusplus
}
#endif
#endif /* NN_H */

/* ======================================================================== */
/*                              IMPLEMENTATION                              */
/* ======================================================================== */
#ifdef NN_IMPLEMENTATION
#ifndef NN__IMPLEMENTATION_DONE
#define NN__IMPLEMENTATION_DONE

/* == 1. config, result codes, version ==================================== */
#include <string.h>
#include <math.h>
#include <limits.h>
#ifndef NN_NO_STDIO
#include <stdio.h>
#endif

#ifndef NN_ASSERT
#include <assert.h>
#define NN_ASSERT(c) assert(c)
#endif

#if defined(NN_MALLOC) && defined(NN_REALLOC) && defined(NN_FREE)
/* user allocator */
#elif !defined(NN_MALLOC) && !defined(NN_REALLOC) && !defined(NN_FREE)
#include <stdlib.h>
#define NN_MALLOC(sz) malloc(sz)
#define NN_REALLOC(p, sz) realloc(p, sz)
#define NN_FREE(p) free(p)
#else
#error "nn.h: define all of NN_MALLOC, NN_REALLOC and NN_FREE, or none"
#endif

/* AVX2/FMA kernels are compiled per function (target attribute) and picked at
   run time, so a plain `cc -O2` build still gets them on a CPU that has them. */
#if !defined(NN_NO_SIMD) && (defined(__x86_64__) || defined(_M_X64)) && \
    (defined(__GNUC__) || defined(__clang__))
#define NN__AVX2 1
#include <immintrin.h>
#define NN__TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define NN__AVX2 0
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#define NN__MIN(a, b) ((a) < (b) ? (a) : (b))
#define NN__MAX(a, b) ((a) > (b) ? (a) : (b))
/* C and C++ both accept this for "the zero value of a struct". */
#define NN__ZERO(x) memset(&(x), 0, sizeof(x))

NNDEF const char *nn_result_string(nn_result r) {
    switch (r) {
    case NN_OK: return "ok";
    case NN_ERR_OUT_OF_MEMORY: return "out of memory (arena or allocator exhausted)";
    case NN_ERR_INVALID_ARGUMENT: return "invalid argument";
    case NN_ERR_IO: return "I/O error (cannot open, read, write or rename)";
    case NN_ERR_BAD_MAGIC: return "not a file of the expected type (bad magic)";
    case NN_ERR_VERSION: return "format version newer than this reader";
    case NN_ERR_TRUNCATED: return "file is truncated";
    case NN_ERR_CORRUPT: return "file is corrupt (inconsistent header or data)";
    case NN_ERR_CHECKSUM: return "checksum mismatch";
    case NN_ERR_TOO_LARGE: return "size exceeds the loader's limits";
    case NN_ERR_SHAPE_MISMATCH: return "shapes do not match the model";
    case NN_ERR_NONFINITE: return "NaN or Inf encountered";
    case NN_ERR_UNSUPPORTED: return "unsupported feature";
    }
    return "unknown error";
}

NNDEF void nn_free(void *p) {
    if (p) NN_FREE(p);
}

/* == 2. arena ============================================================ */
NNDEF size_t nn_arena_bytes_for(size_t bytes) {
    return (bytes + (NN_ARENA_ALIGN - 1)) & ~(size_t)(NN_ARENA_ALIGN - 1);
}

NNDEF nn_result nn_arena_init(nn_arena *a, void *buf, size_t bytes) {
    uintptr_t p, q;
    NN_ASSERT(a);
    NN__ZERO(*a);
    if (!buf) return NN_ERR_INVALID_ARGUMENT;
    p = (uintptr_t)buf;
    q = (p + (NN_ARENA_ALIGN - 1)) & ~(uintptr_t)(NN_ARENA_ALIGN - 1);
    if (bytes < (size_t)(q - p)) return NN_ERR_OUT_OF_MEMORY;
    a->base = (unsigned char *)buf + (q - p);
    a->cap = (bytes - (size_t)(q - p)) & ~(size_t)(NN_ARENA_ALIGN - 1);
    return NN_OK;
}

NNDEF nn_result nn_arena_init_heap(nn_arena *a, size_t bytes) {
    void *mem;
    nn_result r;
    NN_ASSERT(a);
    NN__ZERO(*a);
    bytes = nn_arena_bytes_for(bytes);
    if (bytes > SIZE_MAX - NN_ARENA_ALIGN) return NN_ERR_OUT_OF_MEMORY;
    mem = NN_MALLOC(bytes + NN_ARENA_ALIGN);
    if (!mem) return NN_ERR_OUT_OF_MEMORY;
    r = nn_arena_init(a, mem, bytes + NN_ARENA_ALIGN);
    a->owned = mem;
    return r;
}

NNDEF void nn_arena_deinit(nn_arena *a) {
    if (!a) return;
    if (a->owned) NN_FREE(a->owned);
    NN__ZERO(*a);
}

NNDEF void *nn_arena_alloc(nn_arena *a, size_t bytes) {
    size_t need;
    void *p;
    NN_ASSERT(a);
    if (bytes > SIZE_MAX - NN_ARENA_ALIGN) return NULL;
    need = nn_arena_bytes_for(bytes);
    if (need > a->cap - a->used) return NULL;
    p = a->base + a->used;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    if (bytes) memset(p, 0, bytes);
    return p;
}

NNDEF size_t nn_arena_mark(const nn_arena *a) { return a->used; }
NNDEF void nn_arena_rewind(nn_arena *a, size_t mark) {
    NN_ASSERT(mark <= a->used);
    a->used = mark;
}
NNDEF void nn_arena_reset(nn_arena *a) { a->used = 0; }

/* == 3. tensor =========================================================== */
NNDEF nn_tensor nn_tensor_view(float *data, int rank, const int *shape) {
    nn_tensor t;
    int i;
    NN_ASSERT(rank >= 1 && rank <= NN_MAX_RANK);
    t.data = data;
    t.rank = rank;
    for (i = 0; i < NN_MAX_RANK; i++) t.shape[i] = i < rank ? shape[i] : 1;
    for (i = 0; i < rank; i++) NN_ASSERT(shape[i] >= 0);
    return t;
}
NNDEF nn_tensor nn_tensor_1d(float *data, int n) { return nn_tensor_view(data, 1, &n); }
NNDEF nn_tensor nn_tensor_2d(float *data, int rows, int cols) {
    int s[2];
    s[0] = rows; s[1] = cols;
    return nn_tensor_view(data, 2, s);
}
NNDEF nn_tensor nn_tensor_3d(float *data, int d0, int d1, int d2) {
    int s[3];
    s[0] = d0; s[1] = d1; s[2] = d2;
    return nn_tensor_view(data, 3, s);
}
NNDEF nn_tensor nn_tensor_4d(float *data, int n, int c, int h, int w) {
    int s[4];
    s[0] = n; s[1] = c; s[2] = h; s[3] = w;
    return nn_tensor_view(data, 4, s);
}
NNDEF size_t nn_tensor_size(nn_tensor t) {
    size_t n = 1;
    int i;
    for (i = 0; i < t.rank; i++) n *= (size_t)t.shape[i];
    return n;
}
NNDEF int nn_tensor_row_size(nn_tensor t) {
    int n = 1, i;
    for (i = 1; i < t.rank; i++) n *= t.shape[i];
    return n;
}
NNDEF nn_tensor nn_tensor_alloc(nn_arena *a, int rank, const int *shape) {
    nn_tensor t = nn_tensor_view(NULL, rank, shape);
    size_t n = 1;
    int i;
    for (i = 0; i < rank; i++) {
        if (shape[i] && n > SIZE_MAX / sizeof(float) / (size_t)shape[i]) return t;
        n *= (size_t)shape[i];
    }
    t.data = (float *)nn_arena_alloc(a, n * sizeof(float));
    return t;
}
NNDEF nn_tensor nn_tensor_rows(nn_tensor t, int start, int count) {
    NN_ASSERT(start >= 0 && count >= 0 && start + count <= t.shape[0]);
    if (t.data) t.data += (size_t)start * (size_t)nn_tensor_row_size(t);
    t.shape[0] = count;
    return t;
}
NNDEF nn_tensor nn_tensor_reshape(nn_tensor t, int rank, const int *shape) {
    nn_tensor r = nn_tensor_view(t.data, rank, shape);
    NN_ASSERT(nn_tensor_size(r) == nn_tensor_size(t));
    return r;
}
NNDEF int nn_tensor_same_shape(nn_tensor a, nn_tensor b) {
    int i;
    if (a.rank != b.rank) return 0;
    for (i = 0; i < a.rank; i++)
        if (a.shape[i] != b.shape[i]) return 0;
    return 1;
}

/* == 4. rng ============================================================== */
static uint64_t nn__splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
NNDEF void nn_rng_seed(nn_rng *r, uint64_t seed) {
    int i;
    for (i = 0; i < 4; i++) r->s[i] = nn__splitmix64(&seed);
}
static uint64_t nn__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
NNDEF uint64_t nn_rng_u64(nn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = nn__rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = nn__rotl(s[3], 45);
    return result;
}
NNDEF uint32_t nn_rng_below(nn_rng *r, uint32_t n) {
    /* Lemire's multiply-shift with rejection: unbiased, one multiply. */
    uint64_t m;
    uint32_t lo, t;
    NN_ASSERT(n > 0);
    m = (uint64_t)(uint32_t)(nn_rng_u64(r) >> 32) * n;
    lo = (uint32_t)m;
    if (lo < n) {
        t = (uint32_t)(0u - n) % n;
        while (lo < t) {
            m = (uint64_t)(uint32_t)(nn_rng_u64(r) >> 32) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}
NNDEF float nn_rng_uniform(nn_rng *r) {
    return (float)(nn_rng_u64(r) >> 40) * (1.0f / 16777216.0f); /* 24 bits: exact floats */
}
NNDEF float nn_rng_normal(nn_rng *r) {
    /* Box-Muller on doubles; u1 in (0,1] so log never sees 0. */
    double u1 = ((double)(nn_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(nn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
NNDEF void nn_rng_shuffle(nn_rng *r, int *idx, int n) {
    int i, j, t;
    for (i = n - 1; i > 0; i--) {
        j = (int)nn_rng_below(r, (uint32_t)i + 1);
        t = idx[i]; idx[i] = idx[j]; idx[j] = t;
    }
}

/* == 5. kernels: gemm (reference, then AVX2/FMA), elementwise ============ */
/* Reference GEMM: the oracle. One dot product per element, k ascending. */
NNDEF void nn_gemm_ref(int trans_a, int trans_b, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb,
                       float beta, float *C, int ldc) {
    /* op(A) (M,K) op(B) (K,N) C (M,N) */
    int i, j, k;
    for (i = 0; i < M; i++) {
        for (j = 0; j < N; j++) {
            float acc = 0.0f, c;
            for (k = 0; k < K; k++) {
                float a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += a * b;
            }
            c = alpha * acc;
            if (beta != 0.0f) c += beta * C[(size_t)i * ldc + j];
            C[(size_t)i * ldc + j] = c;
        }
    }
}

/* Packed GEMM after the GotoBLAS/BLIS scheme: op(A) and op(B) are copied into
   contiguous panels (transposes are absorbed there), and a micro-kernel keeps
   an MR x NR tile of C in registers across a KC-deep slice of K. K is always
   cut at the same KC boundaries, so every element of C sees the same sum
   order whichever thread computes it and however M and N are tiled. */
#define NN__MR 6
#define NN__NR 16
#define NN__KC 256
#define NN__MC 72   /* multiple of MR; A panel 72 KB of stack */
#define NN__NC 128  /* multiple of NR; B panel 128 KB of stack */

#if defined(__GNUC__) || defined(__clang__)
#define NN__ALIGNED64 __attribute__((aligned(64)))
#else
#define NN__ALIGNED64
#endif

typedef void (*nn__micro_fn)(int kc, const float *Ap, const float *Bp, float *C, int ldc,
                             int mr, int nr, float alpha, float beta);

/* op(A)[i0:i0+mc, p0:p0+kc] -> slivers of MR rows, each (kc, MR), zero-padded. */
static void nn__pack_a(float *Ap, int trans_a, const float *A, int lda, int i0, int mc,
                       int p0, int kc) {
    int s, r, k;
    for (s = 0; s < mc; s += NN__MR) {
        int mr = NN__MIN(NN__MR, mc - s);
        float *dst = Ap + (size_t)s * kc;
        if (!trans_a) {
            for (r = 0; r < NN__MR; r++) {
                if (r < mr) {
                    const float *src = A + (size_t)(i0 + s + r) * lda + p0;
                    for (k = 0; k < kc; k++) dst[k * NN__MR + r] = src[k];
                } else {
                    for (k = 0; k < kc; k++) dst[k * NN__MR + r] = 0.0f;
                }
            }
        } else {
            for (k = 0; k < kc; k++) {
                const float *src = A + (size_t)(p0 + k) * lda + i0 + s;
                for (r = 0; r < NN__MR; r++) dst[k * NN__MR + r] = r < mr ? src[r] : 0.0f;
            }
        }
    }
}

/* op(B)[p0:p0+kc, j0:j0+nc] -> slivers of NR columns, each (kc, NR), zero-padded. */
static void nn__pack_b(float *Bp, int trans_b, const float *B, int ldb, int j0, int nc,
                       int p0, int kc) {
    int s, c, k;
    for (s = 0; s < nc; s += NN__NR) {
        int nr = NN__MIN(NN__NR, nc - s);
        float *dst = Bp + (size_t)s * kc;
        if (!trans_b) {
            for (k = 0; k < kc; k++) {
                const float *src = B + (size_t)(p0 + k) * ldb + j0 + s;
                for (c = 0; c < NN__NR; c++) dst[k * NN__NR + c] = c < nr ? src[c] : 0.0f;
            }
        } else {
            for (c = 0; c < NN__NR; c++) {
                if (c < nr) {
                    const float *src = B + (size_t)(j0 + s + c) * ldb + p0;
                    for (k = 0; k < kc; k++) dst[k * NN__NR + c] = src[k];
                } else {
                    for (k = 0; k < kc; k++) dst[k * NN__NR + c] = 0.0f;
                }
            }
        }
    }
}

/* Portable micro-kernel (the NN_NO_SIMD path); compilers vectorize the j loop. */
static void nn__micro_ref(int kc, const float *Ap, const float *Bp, float *C, int ldc,
                          int mr, int nr, float alpha, float beta) {
    float acc[NN__MR * NN__NR];
    int i, j, k;
    for (i = 0; i < NN__MR * NN__NR; i++) acc[i] = 0.0f;
    for (k = 0; k < kc; k++) {
        const float *a = Ap + k * NN__MR, *b = Bp + k * NN__NR;
        for (i = 0; i < NN__MR; i++)
            for (j = 0; j < NN__NR; j++) acc[i * NN__NR + j] += a[i] * b[j];
    }
    for (i = 0; i < mr; i++) {
        float *c = C + (size_t)i * ldc;
        for (j = 0; j < nr; j++) {
            float v = alpha * acc[i * NN__NR + j];
            if (beta != 0.0f) v += beta * c[j];
            c[j] = v;
        }
    }
}

#if NN__AVX2
/* 6x16 AVX2/FMA micro-kernel: 12 accumulators, 2 loads of B and 6 broadcasts
   of A per k. */
NN__TARGET_AVX2 static void nn__micro_avx2(int kc, const float *Ap, const float *Bp, float *C,
                                           int ldc, int mr, int nr, float alpha, float beta) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    __m256 acc[12];
    int k, i, j;
    for (k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(Bp), b1 = _mm256_loadu_ps(Bp + 8), a;
        a = _mm256_broadcast_ss(Ap + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(Ap + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(Ap + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(Ap + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(Ap + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(Ap + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
        Ap += NN__MR;
        Bp += NN__NR;
    }
    acc[0] = c00; acc[1] = c01; acc[2] = c10; acc[3] = c11; acc[4] = c20; acc[5] = c21;
    acc[6] = c30; acc[7] = c31; acc[8] = c40; acc[9] = c41; acc[10] = c50; acc[11] = c51;
    if (mr == NN__MR && nr == NN__NR) {
        __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
        for (i = 0; i < NN__MR; i++) {
            float *c = C + (size_t)i * ldc;
            __m256 v0 = _mm256_mul_ps(va, acc[2 * i]), v1 = _mm256_mul_ps(va, acc[2 * i + 1]);
            if (beta == 1.0f) {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(c));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(c + 8));
            } else if (beta != 0.0f) {
                v0 = _mm256_add_ps(v0, _mm256_mul_ps(vb, _mm256_loadu_ps(c)));
                v1 = _mm256_add_ps(v1, _mm256_mul_ps(vb, _mm256_loadu_ps(c + 8)));
            }
            _mm256_storeu_ps(c, v0);
            _mm256_storeu_ps(c + 8, v1);
        }
    } else {
        float tmp[NN__MR * NN__NR];
        for (i = 0; i < 12; i++) _mm256_storeu_ps(tmp + 8 * i, acc[i]);
        for (i = 0; i < mr; i++) {
            float *c = C + (size_t)i * ldc;
            for (j = 0; j < nr; j++) {
                float v = alpha * tmp[i * NN__NR + j];
                if (beta != 0.0f) v += beta * c[j];
                c[j] = v;
            }
        }
    }
}

static int nn__cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

NNDEF int nn_simd_level(void) {
#if NN__AVX2
    return nn__cpu_has_avx2() ? 1 : 0;
#else
    return 0;
#endif
}

static void nn__gemm_block(nn__micro_fn micro, int trans_a, int trans_b, int i0, int mc,
                           int j0, int nc, int K, float alpha, const float *A, int lda,
                           const float *B, int ldb, float beta, float *C, int ldc) {
    float Ap[NN__MC * NN__KC] NN__ALIGNED64;
    float Bp[NN__KC * NN__NC] NN__ALIGNED64;
    int p0, ir, jr;
    for (p0 = 0; p0 < K; p0 += NN__KC) {
        int kc = NN__MIN(NN__KC, K - p0);
        float b = p0 == 0 ? beta : 1.0f;
        nn__pack_a(Ap, trans_a, A, lda, i0, mc, p0, kc);
        nn__pack_b(Bp, trans_b, B, ldb, j0, nc, p0, kc);
        for (jr = 0; jr < nc; jr += NN__NR)
            for (ir = 0; ir < mc; ir += NN__MR)
                micro(kc, Ap + (size_t)ir * kc, Bp + (size_t)jr * kc,
                      C + (size_t)(i0 + ir) * ldc + j0 + jr, ldc, NN__MIN(NN__MR, mc - ir),
                      NN__MIN(NN__NR, nc - jr), alpha, b);
    }
}

NNDEF void nn_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
                   const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc) {
    nn__micro_fn micro = nn__micro_ref;
    int mc = NN__MC, nc = NN__NC, nbi, nbj, tasks, t, threads = 1;
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        int i, j;
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j++) {
                float *c = C + (size_t)i * ldc + j;
                *c = beta == 0.0f ? 0.0f : beta * *c;
            }
        return;
    }
#if NN__AVX2
    if (nn__cpu_has_avx2()) micro = nn__micro_avx2;
#endif
#ifdef _OPENMP
    if (2.0 * M * N * K >= 4e6) threads = omp_get_max_threads();
#endif
    /* Smaller tiles when there are fewer tiles than threads. Tiling M and N
       never changes a result (see above). */
    while (threads > 1 && ((M + mc - 1) / mc) * ((N + nc - 1) / nc) < threads) {
        if (nc > NN__NR && N > M) nc = ((nc / 2 + NN__NR - 1) / NN__NR) * NN__NR;
        else if (mc > NN__MR) mc = ((mc / 2 + NN__MR - 1) / NN__MR) * NN__MR;
        else if (nc > NN__NR) nc = ((nc / 2 + NN__NR - 1) / NN__NR) * NN__NR;
        else break;
    }
    nbi = (M + mc - 1) / mc;
    nbj = (N + nc - 1) / nc;
    tasks = nbi * nbj;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && tasks > 1)
#endif
    for (t = 0; t < tasks; t++) {
        int bi = t % nbi, bj = t / nbi;
        int i0 = bi * mc, j0 = bj * nc;
        nn__gemm_block(micro, trans_a, trans_b, i0, NN__MIN(mc, M - i0), j0,
                       NN__MIN(nc, N - j0), K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
    (void)threads;
}

/* == 6. layers: dense, activations ======================================= */
/* ---- dense ---- */
NNDEF void nn_dense_forward(nn_tensor y, nn_tensor x, nn_tensor w, nn_tensor b) {
    /* x (B,IN) w (OUT,IN) b (OUT) -> y (B,OUT) */
    int B = x.shape[0], IN = nn_tensor_row_size(x), OUT = w.shape[0], i, o;
    NN_ASSERT(w.rank == 2 && w.shape[1] == IN);
    NN_ASSERT(y.shape[0] == B && nn_tensor_row_size(y) == OUT);
    NN_ASSERT(!b.data || (int)nn_tensor_size(b) == OUT);
    if (b.data) {
        /* Start from the bias and accumulate x w^T onto it, as BLAS addmm does. */
        for (i = 0; i < B; i++)
            for (o = 0; o < OUT; o++) y.data[(size_t)i * OUT + o] = b.data[o];
    }
    nn_gemm(0, 1, B, OUT, IN, 1.0f, x.data, IN, w.data, IN, b.data ? 1.0f : 0.0f, y.data, OUT);
}

NNDEF void nn_dense_backward(nn_tensor dx, nn_tensor dw, nn_tensor db,
                             nn_tensor dy, nn_tensor x, nn_tensor w) {
    /* dy (B,OUT) x (B,IN) w (OUT,IN) -> dx (B,IN) =, dw (OUT,IN) +=, db (OUT) += */
    int B = dy.shape[0], OUT = nn_tensor_row_size(dy), IN = w.shape[1], i, o;
    NN_ASSERT(w.rank == 2 && w.shape[0] == OUT);
    NN_ASSERT(x.shape[0] == B && nn_tensor_row_size(x) == IN);
    if (dx.data) {
        NN_ASSERT(dx.shape[0] == B && nn_tensor_row_size(dx) == IN);
        nn_gemm(0, 0, B, IN, OUT, 1.0f, dy.data, OUT, w.data, IN, 0.0f, dx.data, IN);
    }
    if (dw.data) {
        NN_ASSERT(nn_tensor_same_shape(dw, w));
        nn_gemm(1, 0, OUT, IN, B, 1.0f, dy.data, OUT, x.data, IN, 1.0f, dw.data, IN);
    }
    if (db.data) {
        NN_ASSERT((int)nn_tensor_size(db) == OUT);
        for (i = 0; i < B; i++) {
            const float *g = dy.data + (size_t)i * OUT;
            for (o = 0; o < OUT; o++) db.data[o] += g[o];
        }
    }
}

/* ---- activations ---- */
NNDEF const char *nn_act_name(nn_act a) {
    switch (a) {
    case NN_ACT_IDENTITY: return "identity";
    case NN_ACT_RELU: return "relu";
    case NN_ACT_SIGMOID: return "sigmoid";
    case NN_ACT_TANH: return "tanh";
    case NN_ACT_COUNT_: break;
    }
    return "?";
}

static float nn__sigmoid(float x) {
    /* Never exponentiate a positive number: no overflow for any x. */
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    else {
        float e = expf(x);
        return e / (1.0f + e);
    }
}

NNDEF void nn_act_forward(nn_act a, float alpha, nn_tensor y, nn_tensor x) {
    /* x (any) -> y (same shape) */
    size_t n = nn_tensor_size(x), i;
    const float *in = x.data;
    float *out = y.data;
    NN_ASSERT(nn_tensor_size(y) == n);
    (void)alpha;
    switch (a) {
    case NN_ACT_IDENTITY:
        if (out != in) memmove(out, in, n * sizeof(float));
        break;
    case NN_ACT_RELU:
        for (i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
        break;
    case NN_ACT_SIGMOID:
        for (i = 0; i < n; i++) out[i] = nn__sigmoid(in[i]);
        break;
    case NN_ACT_TANH:
        for (i = 0; i < n; i++) out[i] = tanhf(in[i]);
        break;
    case NN_ACT_COUNT_: NN_ASSERT(0); break;
    }
}

NNDEF void nn_act_backward(nn_act a, float alpha, nn_tensor dx, nn_tensor dy,
                           nn_tensor x, nn_tensor y) {
    /* dy, x, y (same shape) -> dx (same shape); dx may alias dy */
    size_t n = nn_tensor_size(dy), i;
    const float *g = dy.data;
    float *d = dx.data;
    (void)alpha;
    if (!d) return;
    NN_ASSERT(nn_tensor_size(dx) == n);
    switch (a) {
    case NN_ACT_IDENTITY:
        if (d != g) memmove(d, g, n * sizeof(float));
        break;
    case NN_ACT_RELU:
        NN_ASSERT(nn_tensor_size(x) == n);
        for (i = 0; i < n; i++) d[i] = x.data[i] > 0.0f ? g[i] : 0.0f;
        break;
    case NN_ACT_SIGMOID:
        NN_ASSERT(nn_tensor_size(y) == n);
        for (i = 0; i < n; i++) d[i] = g[i] * (1.0f - y.data[i]) * y.data[i];
        break;
    case NN_ACT_TANH:
        NN_ASSERT(nn_tensor_size(y) == n);
        for (i = 0; i < n; i++) d[i] = g[i] * (1.0f - y.data[i] * y.data[i]);
        break;
    case NN_ACT_COUNT_: NN_ASSERT(0); break;
    }
}

NNDEF void nn_relu_forward(nn_tensor y, nn_tensor x) { nn_act_forward(NN_ACT_RELU, 0.0f, y, x); }
NNDEF void nn_relu_backward(nn_tensor dx, nn_tensor dy, nn_tensor x) {
    nn_act_backward(NN_ACT_RELU, 0.0f, dx, dy, x, x);
}
NNDEF void nn_sigmoid_forward(nn_tensor y, nn_tensor x) { nn_act_forward(NN_ACT_SIGMOID, 0.0f, y, x); }
NNDEF void nn_sigmoid_backward(nn_tensor dx, nn_tensor dy, nn_tensor y) {
    nn_act_backward(NN_ACT_SIGMOID, 0.0f, dx, dy, y, y);
}
NNDEF void nn_tanh_forward(nn_tensor y, nn_tensor x) { nn_act_forward(NN_ACT_TANH, 0.0f, y, x); }
NNDEF void nn_tanh_backward(nn_tensor dx, nn_tensor dy, nn_tensor y) {
    nn_act_backward(NN_ACT_TANH, 0.0f, dx, dy, y, y);
}

/* == 7. losses =========================================================== */
NNDEF float nn_loss_cross_entropy(nn_tensor dlogits, nn_tensor logits, const int *labels) {
    /* logits (B,C) labels (B) -> mean NLL of softmax; dlogits (B,C) = (p - onehot)/B */
    int B = logits.shape[0], C = nn_tensor_row_size(logits), i, j;
    double total = 0.0;
    NN_ASSERT(B > 0 && C > 0);
    NN_ASSERT(!dlogits.data || nn_tensor_size(dlogits) == nn_tensor_size(logits));
    for (i = 0; i < B; i++) {
        const float *z = logits.data + (size_t)i * C;
        float mx = z[0], sum = 0.0f, lse;
        int y = labels[i];
        NN_ASSERT(y >= 0 && y < C);
        for (j = 1; j < C; j++) mx = z[j] > mx ? z[j] : mx;
        for (j = 0; j < C; j++) sum += expf(z[j] - mx);
        lse = logf(sum);
        total += (double)(lse - (z[y] - mx));
        if (dlogits.data) {
            float *d = dlogits.data + (size_t)i * C, inv = 1.0f / (float)B;
            for (j = 0; j < C; j++) d[j] = expf(z[j] - mx - lse) * inv;
            d[y] -= inv;
        }
    }
    return (float)(total / B);
}

NNDEF float nn_loss_mse(nn_tensor dpred, nn_tensor pred, nn_tensor target) {
    /* pred, target (any, same size) -> mean (pred - target)^2; dpred = 2 (pred - target) / n */
    size_t n = nn_tensor_size(pred), i;
    double total = 0.0;
    float scale = 2.0f / (float)n;
    NN_ASSERT(nn_tensor_size(target) == n && n > 0);
    for (i = 0; i < n; i++) {
        float d = pred.data[i] - target.data[i];
        total += (double)d * d;
        if (dpred.data) dpred.data[i] = scale * d;
    }
    return (float)(total / (double)n);
}

/* == 8. model (sequential) =============================================== */
/* One walk over the description serves both the size query and the build, so
   nn_model_arena_bytes is exact by construction. */
static void *nn__take(nn_arena *a, size_t bytes, size_t *total, int *fail) {
    void *p = NULL;
    *total += nn_arena_bytes_for(bytes);
    if (a) {
        p = nn_arena_alloc(a, bytes);
        if (!p) *fail = 1;
    }
    return p;
}

static int nn__desc_layer_count(const nn_model_desc *d) {
    int i, n = 0;
    for (i = 0; i < d->n_layers; i++) {
        const nn_layer_desc *l = &d->layers[i];
        if (l->kind == NN_LAYER_DENSE) n += 1 + (l->act != NN_ACT_IDENTITY);
        else n += 1;
    }
    return n;
}

static nn_result nn__model_validate(const nn_model_desc *d) {
    int i, width;
    if (!d || d->inputs <= 0 || d->max_batch <= 0 || d->n_layers <= 0 || !d->layers)
        return NN_ERR_INVALID_ARGUMENT;
    width = d->inputs;
    if ((size_t)d->max_batch * (size_t)width > (size_t)INT_MAX) return NN_ERR_TOO_LARGE;
    for (i = 0; i < d->n_layers; i++) {
        const nn_layer_desc *l = &d->layers[i];
        if ((int)l->act < 0 || l->act >= NN_ACT_COUNT_) return NN_ERR_INVALID_ARGUMENT;
        switch (l->kind) {
        case NN_LAYER_DENSE:
            if (l->units <= 0) return NN_ERR_INVALID_ARGUMENT;
            if ((size_t)l->units * (size_t)width > (size_t)INT_MAX) return NN_ERR_TOO_LARGE;
            width = l->units;
            break;
        case NN_LAYER_ACT: break;
        default: return NN_ERR_INVALID_ARGUMENT;
        }
        if ((size_t)d->max_batch * (size_t)width > (size_t)INT_MAX) return NN_ERR_TOO_LARGE;
    }
    return NN_OK;
}

static size_t nn__desc_param_count(const nn_model_desc *d);
static nn_result nn__model_build(nn_model *m, nn_arena *a, const nn_model_desc *d, size_t *bytes) {
    int L = nn__desc_layer_count(d), i, l, width = d->inputs, max_width = d->inputs, fail = 0;
    size_t n_params = 0, off, total = 0;
    nn_layer *layers;
    nn_param *plist;
    float *params, *grads;
    /* pass 1: count parameters and the widest row */
    n_params = nn__desc_param_count(d);
    for (i = 0; i < d->n_layers; i++) {
        if (d->layers[i].kind == NN_LAYER_DENSE) width = d->layers[i].units;
        max_width = NN__MAX(max_width, width);
    }
    layers = (nn_layer *)nn__take(a, sizeof(nn_layer) * (size_t)L, &total, &fail);
    plist = (nn_param *)nn__take(a, sizeof(nn_param) * 2 * (size_t)L, &total, &fail);
    params = (float *)nn__take(a, sizeof(float) * n_params, &total, &fail);
    grads = (float *)nn__take(a, sizeof(float) * n_params, &total, &fail);
    if (m && !fail) {
        NN__ZERO(*m);
        m->layers = layers;
        m->n_layers = L;
        m->inputs = d->inputs;
        m->max_batch = d->max_batch;
        m->params = params;
        m->grads = grads;
        m->n_params = n_params;
        m->param_list = plist;
        m->mode = NN_MODE_TRAIN;
        nn_rng_seed(&m->rng, d->seed);
    }
    /* pass 2: lay out the layers */
    width = d->inputs;
    off = 0;
    l = 0;
    for (i = 0; i < d->n_layers; i++) {
        const nn_layer_desc *ld = &d->layers[i];
        int parts = (ld->kind == NN_LAYER_DENSE && ld->act != NN_ACT_IDENTITY) ? 2 : 1, p;
        for (p = 0; p < parts; p++, l++) {
            int out = (ld->kind == NN_LAYER_DENSE && p == 0) ? ld->units : width;
            float *y = (float *)nn__take(a, sizeof(float) * (size_t)d->max_batch * (size_t)out,
                                         &total, &fail);
            nn_layer *ly;
            if (!m || fail) {
                width = out;
                continue;
            }
            ly = &layers[l];
            NN__ZERO(*ly);
            ly->in = width;
            ly->out = out;
            ly->alpha = ld->alpha;
            ly->y = nn_tensor_2d(y, d->max_batch, out);
            if (ld->kind == NN_LAYER_DENSE && p == 0) {
                ly->kind = NN_LAYER_DENSE;
                ly->act = NN_ACT_IDENTITY;
                ly->w = nn_tensor_2d(params + off, out, width);
                ly->dw = nn_tensor_2d(grads + off, out, width);
                off += (size_t)out * (size_t)width;
                sprintf(ly->param_names[0], "%d.weight", l);
                plist[m->n_param_list].name = ly->param_names[0];
                plist[m->n_param_list].data = ly->w.data;
                plist[m->n_param_list].grad = ly->dw.data;
                plist[m->n_param_list].size = (size_t)out * (size_t)width;
                plist[m->n_param_list].no_decay = 0;
                m->n_param_list++;
                if (!ld->no_bias) {
                    ly->b = nn_tensor_1d(params + off, out);
                    ly->db = nn_tensor_1d(grads + off, out);
                    off += (size_t)out;
                    sprintf(ly->param_names[1], "%d.bias", l);
                    plist[m->n_param_list].name = ly->param_names[1];
                    plist[m->n_param_list].data = ly->b.data;
                    plist[m->n_param_list].grad = ly->db.data;
                    plist[m->n_param_list].size = (size_t)out;
                    plist[m->n_param_list].no_decay = 1;
                    m->n_param_list++;
                }
            } else {
                ly->kind = NN_LAYER_ACT;
                ly->act = ld->act;
            }
            width = out;
        }
    }
    {
        float *g0 = (float *)nn__take(a, sizeof(float) * (size_t)d->max_batch * (size_t)max_width, &total, &fail);
        float *g1 = (float *)nn__take(a, sizeof(float) * (size_t)d->max_batch * (size_t)max_width, &total, &fail);
        float *dout = (float *)nn__take(a, sizeof(float) * (size_t)d->max_batch * (size_t)width, &total, &fail);
        if (m && !fail) {
            m->gbuf[0] = g0;
            m->gbuf[1] = g1;
            m->dout = dout;
            m->outputs = width;
        }
    }
    if (bytes) *bytes = total;
    return fail ? NN_ERR_OUT_OF_MEMORY : NN_OK;
}

static size_t nn__desc_param_count(const nn_model_desc *d) {
    size_t n = 0;
    int i, width = d->inputs;
    for (i = 0; i < d->n_layers; i++) {
        const nn_layer_desc *ld = &d->layers[i];
        if (ld->kind == NN_LAYER_DENSE) {
            n += (size_t)ld->units * (size_t)width + (ld->no_bias ? 0 : (size_t)ld->units);
            width = ld->units;
        }
    }
    return n;
}

NNDEF size_t nn_model_param_count(const nn_model_desc *desc) {
    return nn__model_validate(desc) == NN_OK ? nn__desc_param_count(desc) : 0;
}

NNDEF size_t nn_model_arena_bytes(const nn_model_desc *desc) {
    size_t bytes = 0;
    if (nn__model_validate(desc) != NN_OK) return 0;
    nn__model_build(NULL, NULL, desc, &bytes);
    return bytes;
}

/* PyTorch nn.Linear's default: weight and bias ~ U(-1/sqrt(IN), 1/sqrt(IN)). */
static void nn__init_uniform(nn_rng *r, float *w, size_t n, float bound) {
    size_t i;
    for (i = 0; i < n; i++) w[i] = (2.0f * nn_rng_uniform(r) - 1.0f) * bound;
}

NNDEF nn_result nn_model_init(nn_model *m, nn_arena *arena, const nn_model_desc *desc) {
    size_t mark, bytes = 0;
    nn_result r;
    int l;
    NN_ASSERT(m && arena);
    r = nn__model_validate(desc);
    if (r != NN_OK) return r;
    mark = nn_arena_mark(arena);
    r = nn__model_build(m, arena, desc, &bytes);
    if (r != NN_OK) {
        nn_arena_rewind(arena, mark);
        return r;
    }
    m->arena_bytes = bytes;
    for (l = 0; l < m->n_layers; l++) {
        nn_layer *ly = &m->layers[l];
        if (ly->kind == NN_LAYER_DENSE) {
            float bound = 1.0f / sqrtf((float)ly->in);
            nn__init_uniform(&m->rng, ly->w.data, nn_tensor_size(ly->w), bound);
            if (ly->b.data) nn__init_uniform(&m->rng, ly->b.data, nn_tensor_size(ly->b), bound);
        }
    }
    return NN_OK;
}

NNDEF void nn_model_set_mode(nn_model *m, nn_mode mode) { m->mode = mode; }

NNDEF nn_tensor nn_model_forward(nn_model *m, nn_tensor x) {
    /* x (B, inputs) -> (B, outputs) */
    int B = x.shape[0], l;
    nn_tensor in;
    NN_ASSERT(B >= 1 && B <= m->max_batch && nn_tensor_row_size(x) == m->inputs);
    m->batch = B;
    m->x = nn_tensor_2d(x.data, B, m->inputs);
    in = m->x;
    for (l = 0; l < m->n_layers; l++) {
        nn_layer *ly = &m->layers[l];
        nn_tensor out = nn_tensor_rows(ly->y, 0, B);
        switch (ly->kind) {
        case NN_LAYER_DENSE: nn_dense_forward(out, in, ly->w, ly->b); break;
        case NN_LAYER_ACT: nn_act_forward(ly->act, ly->alpha, out, in); break;
        default: NN_ASSERT(0); break;
        }
        in = out;
    }
    return in;
}

NNDEF nn_tensor nn_model_output_grad(nn_model *m) {
    return nn_tensor_2d(m->dout, m->batch > 0 ? m->batch : m->max_batch, m->outputs);
}

NNDEF void nn_model_backward(nn_model *m, nn_tensor dy) {
    int B = m->batch, l, t = 0;
    nn_tensor g;
    NN_ASSERT(B >= 1 && dy.shape[0] == B && nn_tensor_row_size(dy) == m->outputs);
    g = nn_tensor_2d(dy.data, B, m->outputs);
    for (l = m->n_layers - 1; l >= 0; l--) {
        nn_layer *ly = &m->layers[l];
        nn_tensor in = l ? nn_tensor_rows(m->layers[l - 1].y, 0, B) : m->x;
        nn_tensor dx = nn_tensor_2d(l ? m->gbuf[t] : NULL, B, ly->in);
        switch (ly->kind) {
        case NN_LAYER_DENSE: nn_dense_backward(dx, ly->dw, ly->db, g, in, ly->w); break;
        case NN_LAYER_ACT:
            nn_act_backward(ly->act, ly->alpha, dx, g, in, nn_tensor_rows(ly->y, 0, B));
            break;
        default: NN_ASSERT(0); break;
        }
        g = dx;
        t ^= 1;
    }
}

NNDEF void nn_model_zero_grad(nn_model *m) {
    if (m->n_params) memset(m->grads, 0, m->n_params * sizeof(float));
}

static void nn__append(char *buf, size_t size, size_t *len, const char *fmt, ...);
#include <stdarg.h>
static void nn__append(char *buf, size_t size, size_t *len, const char *fmt, ...) {
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(*len < size ? buf + *len : NULL, *len < size ? size - *len : 0, fmt, ap);
    va_end(ap);
    if (n > 0) *len += (size_t)n;
}

NNDEF size_t nn_model_summary(const nn_model *m, char *buf, size_t size) {
    size_t len = 0;
    int l;
    if (size) buf[0] = 0;
    nn__append(buf, size, &len, "%-4s %-18s %-14s %10s\n", "#", "layer", "output", "params");
    nn__append(buf, size, &len, "%-4s %-18s (B, %-9d) %10s\n", "-", "input", m->inputs, "");
    for (l = 0; l < m->n_layers; l++) {
        const nn_layer *ly = &m->layers[l];
        char what[32];
        size_t np = 0;
        if (ly->kind == NN_LAYER_DENSE) {
            sprintf(what, "dense %d->%d", ly->in, ly->out);
            np = nn_tensor_size(ly->w) + (ly->b.data ? nn_tensor_size(ly->b) : 0);
        } else {
            sprintf(what, "%s", nn_act_name(ly->act));
        }
        nn__append(buf, size, &len, "%-4d %-18s (B, %-9d) %10lu\n", l, what, ly->out,
                   (unsigned long)np);
    }
    nn__append(buf, size, &len, "parameters: %lu   arena: %lu bytes   max batch: %d   mode: %s\n",
               (unsigned long)m->n_params, (unsigned long)m->arena_bytes, m->max_batch,
               m->mode == NN_MODE_TRAIN ? "TRAIN" : "EVAL");
    return len;
}

/* == 9. optimizers ======================================================= */
NNDEF size_t nn_optim_arena_bytes(const nn_optim_desc *desc, size_t n_params) {
    return desc->momentum != 0.0f ? nn_arena_bytes_for(n_params * sizeof(float)) : 0;
}

NNDEF nn_result nn_optim_init(nn_optim *o, nn_arena *arena, const nn_optim_desc *desc,
                              size_t n_params) {
    NN_ASSERT(o && arena && desc);
    NN__ZERO(*o);
    if (desc->kind != NN_OPTIM_SGD || desc->lr < 0.0f || desc->momentum < 0.0f ||
        desc->momentum >= 1.0f)
        return NN_ERR_INVALID_ARGUMENT;
    o->d = *desc;
    if (o->d.lr == 0.0f) o->d.lr = 0.01f;
    o->n = n_params;
    if (desc->momentum != 0.0f) {
        if (n_params > SIZE_MAX / sizeof(float)) return NN_ERR_OUT_OF_MEMORY;
        o->m = (float *)nn_arena_alloc(arena, n_params * sizeof(float));
        if (!o->m) return NN_ERR_OUT_OF_MEMORY;
    }
    return NN_OK;
}

NNDEF void nn_optim_step(nn_optim *o, float *params, const float *grads, size_t n) {
    /* SGD:          w -= lr * g
       SGD+momentum: v = mu v + g (v = g on the first step); w -= lr * v */
    float lr = o->d.lr, mu = o->d.momentum;
    size_t i;
    NN_ASSERT(n <= o->n);
    if (o->m) {
        if (o->step == 0) {
            for (i = 0; i < n; i++) o->m[i] = grads[i];
        } else {
            for (i = 0; i < n; i++) o->m[i] = mu * o->m[i] + grads[i];
        }
        for (i = 0; i < n; i++) params[i] -= lr * o->m[i];
    } else {
        for (i = 0; i < n; i++) params[i] -= lr * grads[i];
    }
    o->step++;
}

/* == 10. io helpers: crc32, gzip container, IDX ========================== */
NNDEF uint32_t nn_crc32(uint32_t crc, const void *data, size_t len) {
    /* Nibble table: 64 bytes of constants, no table to build at run time. */
    static const uint32_t tab[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    crc = ~crc;
    for (i = 0; i < len; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ tab[crc & 15];
        crc = (crc >> 4) ^ tab[crc & 15];
    }
    return ~crc;
}

static uint32_t nn__le32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint32_t nn__be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

NNDEF nn_result nn_gzip_decode(void **out, size_t *out_len, const void *gz, size_t len,
                               size_t max_out, nn_inflate_fn inflate) {
    const unsigned char *p = (const unsigned char *)gz;
    size_t pos = 10, isize;
    unsigned flags;
    void *buf;
    nn_result r;
    NN_ASSERT(out && out_len);
    *out = NULL;
    *out_len = 0;
    if (!inflate) return NN_ERR_UNSUPPORTED;
    if (len < 2 || p[0] != 0x1f || p[1] != 0x8b) return NN_ERR_BAD_MAGIC;
    if (len < 18) return NN_ERR_TRUNCATED;
    if (p[2] != 8) return NN_ERR_UNSUPPORTED; /* only DEFLATE exists */
    flags = p[3];
    if (flags & 0xE0u) return NN_ERR_CORRUPT;   /* reserved bits */
    if (flags & 4u) {                           /* FEXTRA */
        size_t xlen;
        if (len - pos < 2) return NN_ERR_TRUNCATED;
        xlen = (size_t)p[pos] | ((size_t)p[pos + 1] << 8);
        pos += 2;
        if (len - pos < xlen) return NN_ERR_TRUNCATED;
        pos += xlen;
    }
    if (flags & 8u) {                           /* FNAME */
        while (pos < len && p[pos]) pos++;
        if (pos >= len) return NN_ERR_TRUNCATED;
        pos++;
    }
    if (flags & 16u) {                          /* FCOMMENT */
        while (pos < len && p[pos]) pos++;
        if (pos >= len) return NN_ERR_TRUNCATED;
        pos++;
    }
    if (flags & 2u) pos += 2;                   /* FHCRC */
    if (pos > len || len - pos < 8) return NN_ERR_TRUNCATED;
    isize = nn__le32(p + len - 4);
    if (isize > max_out) return NN_ERR_TOO_LARGE;
    buf = NN_MALLOC(isize ? isize : 1);
    if (!buf) return NN_ERR_OUT_OF_MEMORY;
    r = inflate(buf, isize, p + pos, len - pos);
    if (r == NN_OK && nn_crc32(0, buf, isize) != nn__le32(p + len - 8)) r = NN_ERR_CHECKSUM;
    if (r != NN_OK) {
        NN_FREE(buf);
        return r;
    }
    *out = buf;
    *out_len = isize;
    return NN_OK;
}

NNDEF nn_result nn_idx_parse(nn_idx *out, const void *buf, size_t len) {
    const unsigned char *p = (const unsigned char *)buf;
    nn_idx idx;
    size_t count = 1;
    int i;
    NN_ASSERT(out);
    NN__ZERO(idx);
    if (len < 4) return NN_ERR_TRUNCATED;
    if (p[0] != 0 || p[1] != 0) return NN_ERR_BAD_MAGIC;
    if (p[2] != 0x08) return NN_ERR_UNSUPPORTED; /* only unsigned bytes */
    if (p[3] < 1 || p[3] > 4) return NN_ERR_CORRUPT;
    idx.rank = p[3];
    if (len < 4 + 4 * (size_t)idx.rank) return NN_ERR_TRUNCATED;
    for (i = 0; i < idx.rank; i++) {
        uint32_t d = nn__be32(p + 4 + 4 * i);
        if (d == 0 || d > (uint32_t)INT_MAX) return NN_ERR_CORRUPT;
        if (count > SIZE_MAX / d) return NN_ERR_TOO_LARGE;
        count *= d;
        idx.dims[i] = (int)d;
    }
    for (; i < 4; i++) idx.dims[i] = 1;
    len -= 4 + 4 * (size_t)idx.rank;
    if (len < count) return NN_ERR_TRUNCATED;
    if (len > count) return NN_ERR_CORRUPT; /* trailing bytes: not what the header says */
    idx.count = count;
    idx.data = p + 4 + 4 * idx.rank;
    *out = idx;
    return NN_OK;
}

NNDEF void nn_idx_free(nn_idx *idx) {
    if (!idx) return;
    if (idx->owned) NN_FREE(idx->owned);
    NN__ZERO(*idx);
}

#ifndef NN_NO_STDIO
NNDEF nn_result nn_read_file(void **out, size_t *out_len, const char *path, size_t max_bytes) {
    FILE *f;
    long size;
    void *buf;
    size_t got;
    NN_ASSERT(out && out_len && path);
    *out = NULL;
    *out_len = 0;
    f = fopen(path, "rb");
    if (!f) return NN_ERR_IO;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NN_ERR_IO; /* directories and pipes end here */
    }
    if ((unsigned long)size > max_bytes) {
        fclose(f);
        return NN_ERR_TOO_LARGE;
    }
    buf = NN_MALLOC(size ? (size_t)size : 1);
    if (!buf) {
        fclose(f);
        return NN_ERR_OUT_OF_MEMORY;
    }
    got = fread(buf, 1, (size_t)size, f);
    if (got != (size_t)size || ferror(f)) {
        fclose(f);
        NN_FREE(buf);
        return NN_ERR_IO;
    }
    fclose(f);
    *out = buf;
    *out_len = (size_t)size;
    return NN_OK;
}

/* IDX files are at most a few hundred MB in practice; refuse anything past 1 GiB. */
#define NN__IDX_MAX_BYTES ((size_t)1 << 30)

NNDEF nn_result nn_idx_load(nn_idx *out, const char *path, nn_inflate_fn inflate) {
    void *raw = NULL, *data;
    size_t raw_len = 0, data_len;
    nn_result r;
    NN_ASSERT(out);
    NN__ZERO(*out);
    r = nn_read_file(&raw, &raw_len, path, NN__IDX_MAX_BYTES);
    if (r != NN_OK) return r;
    data = raw;
    data_len = raw_len;
    if (raw_len >= 2 && ((unsigned char *)raw)[0] == 0x1f && ((unsigned char *)raw)[1] == 0x8b) {
        r = nn_gzip_decode(&data, &data_len, raw, raw_len, NN__IDX_MAX_BYTES, inflate);
        NN_FREE(raw);
        if (r != NN_OK) return r;
    }
    r = nn_idx_parse(out, data, data_len);
    if (r != NN_OK) {
        NN_FREE(data);
        return r;
    }
    out->owned = data;
    return NN_OK;
}
#endif /* NN_NO_STDIO */

#endif /* NN__IMPLEMENTATION_DONE */
#endif /* NN_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the nn.h authors

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
*/
