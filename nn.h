/* nn.h - v0.3.0 - neural networks in one C header - MIT licence (see end of file)

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
         nn_layer_desc layers[2] = {nn_dense(8, NN_ACT_TANH), nn_dense(1, NN_ACT_SIGMOID)};
         nn_model_desc md; memset(&md, 0, sizeof md);
         md.inputs = 2; md.max_batch = 4; md.layers = layers; md.n_layers = 2; md.seed = 1;
         nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_SGD);
         od.lr = 0.5f; od.momentum = 0.9f;
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

   THE TRAINING TOOLKIT (sections 14 and 15)
     The per-step functions above are the core; around them: nn_csv_load,
     nn_idx_load and, with stb_image included first, nn_image_folder_load read
     data; nn_data describes a data set (floats, or bytes through a 256-entry
     table, with labels or targets, optionally a view of some rows); nn_split,
     nn_kfold and nn_batcher cut it; nn_prep standardizes, scales or projects
     (PCA) with statistics fitted on training rows; nn_fit runs the loop
     (validation, early stopping, checkpoints, schedules, callbacks) with the
     same bits as writing it by hand; metrics (nn_accuracy, nn_class_report, ...)
     score it; nn_model_save with st.prep and st.meta ships the model with its
     preprocessing and provenance. examples/fashion_mnist.c shows all of it.
     More than one process (nn.h has no MPI in it): nn_fit_desc.world/.rank
     give each worker its slice of every global batch and .reduce its
     gradient block before the step; nn_grad_mean_ordered makes the result
     bit-identical to one process with .accum micro-batches; nn_rng_jump gives
     each worker a dropout stream. examples/mpi_train.c does it over MPI.

   IMAGES (sections 6 and 8)
     A model whose nn_model_desc.input_shape is (C, H, W) takes rows of C*H*W
     floats, i.e. (B, C, H, W) tensors, and reads like a PyTorch module list:
         nn_conv2d(32, 3, 1, 1, NN_ACT_RELU), nn_maxpool2d(2, 2, 0),
         nn_conv2d(64, 3, 1, 1, NN_ACT_RELU), nn_maxpool2d(2, 2, 0),
         nn_dense(128, NN_ACT_RELU), nn_dense(10, NN_ACT_IDENTITY)
     (dense layers read the flattened image). Also nn_avgpool2d,
     nn_global_avgpool, nn_batchnorm2d, nn_dropout2d; the per-layer kernels
     (nn_conv2d_forward/backward, ...) are public like the dense ones, and
     nn_augment_images (or nn_fit_desc.augment) flips, crops and shifts
     training batches. examples/fashion_cnn.c trains one on Fashion-MNIST.

   LOOKING INSIDE (section 17)
     nn_gradcheck_model / nn_gradcheck_fn check a backward pass against centred
     differences; nn_hessian_vector, _full, _top_eigen and _trace measure
     curvature; nn_model_layer_stats reports dead ReLUs, saturation, norms and
     update ratios; nn_lr_find runs a learning-rate range test; nn_hp_search
     searches hyperparameters (grid, random, coarse-to-fine, successive
     halving, TPE). examples/course_lab.c and examples/hparam_search.c use them.

   CONFIGURATION (define before including the implementation)
     NN_ASSERT(c)       programmer-error check            default: assert(c) from <assert.h>
     NN_MALLOC(sz)      allocator, all three or none       default: malloc / realloc / free
     NN_REALLOC(p,sz)
     NN_FREE(p)
     NN_STATIC          every public function static       default: off (extern)
     NNDEF              decoration of public functions     default: extern (static with NN_STATIC)
     NN_NO_AVX512       leave out the AVX-512 kernels      default: off (used when the CPU has
                                                           AVX-512F; same bits as AVX2, see gemm)
     NN_NO_SIMD         force the plain reference kernels  default: off (AVX2/FMA picked at run
                                                           time on x86-64; NEON on aarch64)
     NN_NO_STDIO        drop FILE and path I/O, keep memory I/O   default: off
     NN_NO_TRAINING     inference only: no gradients in the model's arena,
                        no backward passes (see INFERENCE ONLY)   default: off
     NN_POLY_ACT        the plain-C activations through nn.h's own default: off (libm's expf,
                        polynomials, the AVX2 kernels' twins:     tanhf, erff, expm1f: the
                        their bits, no libm call                  reference forms)
     NN_NO_THREADS      leave out the thread pool (nn_threads_create   default: off (POSIX threads
                        returns NULL)                              on unix-likes, Windows threads
                                                                   on Windows; gcc/clang)
     NN_THREADS_SPIN_US how long idle pool workers spin before      default: 200
                        sleeping, in microseconds
     The library never prints and never calls exit(); failures that a correct
     program can meet come back as an nn_result (see nn_result_string).

   INFERENCE ONLY (a game, a device with no file system and no heap)
     Export the trained model as C (nn_model_export_c): its weights, its
     description, an init function and its arena size, NAME_ARENA_BYTES
     (smaller under NN_NO_TRAINING). In the program that runs it:
         #define NN_STATIC        (what the file does not call is not emitted)
         #define NN_NO_STDIO
         #define NN_NO_TRAINING
         #define NN_NO_THREADS
         #define NN_IMPLEMENTATION
         #include "nn.h"
         #include "mlp_model.h"
         static unsigned char mem[NN_ARENA_BUFFER_BYTES(MLP_ARENA_BYTES)];
         nn_arena_init(&arena, mem, sizeof mem);  mlp_init(&net, &arena);
         y = nn_model_forward(&net, x);           (EVAL mode, set by mlp_init)
     Nothing on that path allocates: tests/embedded_check.sh links it with
     NN_MALLOC, NN_REALLOC and NN_FREE naming functions that do not exist,
     and checks that no optimizer or backward code is left in the object.
     nn_model_backward returns NN_ERR_UNSUPPORTED. The code it takes, .text
     for an MLP, a CNN (dense, batch norm, conv, pool, activations) and
     both in int8: about 36 KB on x86-64 and 33 KB on aarch64 at -Os (15 KB
     more without NN_NO_TRAINING). An int8 model (section 18) exports as C too
     (nn_qmodel_export_c): its weights a byte each, a static scratch arena.
     The reference (non-SIMD) activations call libm (expf, tanhf, erff...)
     unless NN_POLY_ACT, which gives them the AVX2 kernels' polynomials (and
     bits); left then: sqrt for batch norm, log1pf for softplus, and log and
     cos in the weight initialisation the init function runs before it
     copies the weights in.

   WINDOWS
     mingw-w64 (gcc): every test suite passes, cross-compiled and run under
     wine (make test-windows): AVX2/AVX-512 kernels, the pool on Windows'
     own threads and locks (no winpthreads DLL), atomic saves (the new file
     is flushed with _commit, then MoveFileEx replaces the old one in one
     step; paths in the ANSI code page, as fopen takes them).
     The implementation includes a lean <windows.h> (WIN32_LEAN_AND_MEAN,
     NOMINMAX), which defines IN, OUT, near, far, ERROR...: give the
     implementation a file of its own, or include the full windows.h first.
     Streams passed to the FILE functions must be opened in binary mode.
     MSVC (cl.exe), UNTESTED (no MSVC here; reviewed line by line): every
     GCC-only construct is behind a guard; the AVX2/AVX-512 kernels compile
     without target attributes and are picked with __cpuid/_xgetbv; the pool
     runs on Windows threads with Interlocked atomics (the same functions a
     mingw-w64 build with -DNN__WIN_ATOMICS uses, which make test-windows
     runs the thread suite on). Do not build with /fp:fast
     (it removes the NaN checks). clang-cl takes the same CPU check.
     Bits: each Windows build is deterministic, but its libm (expf, tanhf,
     log...) is not glibc's, so results differ from Linux in the last bits.
     long is 32 bits there: step counters stop at 2^30 (nn_optim_step
     reports it).

   DESCRIPTIONS (one rule for every _desc)
     Every field of every description is taken literally: 0 means zero
     (dropout p = 0, weight_decay = 0, momentum = 0 are all expressible).
     Defaults are one call away: start from the kind's constructor, which
     fills PyTorch's defaults, and override what you need:
         nn_layer_desc l = nn_batchnorm();      l.momentum = 0.0f;
         nn_optim_desc o = nn_optim_desc_default(NN_OPTIM_ADAMW);  o.weight_decay = 0.0f;
         nn_sched_desc s = nn_sched_desc_default(NN_SCHED_COSINE, 0.1);  s.t_max = 100;
         nn_lbfgs_desc b = nn_lbfgs_desc_default();
     Layer constructors: nn_dense, nn_maxout, nn_activation, nn_dropout,
     nn_batchnorm, nn_layernorm, nn_flatten, nn_conv2d, nn_maxpool2d,
     nn_avgpool2d, nn_global_avgpool, nn_batchnorm2d, nn_dropout2d (or
     nn_layer_desc_default(kind)).
     Each constructor stamps .tag = NN_DESC_TAG; init refuses a description
     without it, so a zeroed struct is an error, never silently "all zeros".
     nn_model_desc has no defaults (every field is required or literal).
     Files follow the same rule (format 1.1); a 1.0 file is read as it was
     written, zeros meaning defaults.

   ERRORS
     Whatever depends on data the caller passes at run time (batch size,
     feature counts, tensor sizes, labels, NULL buffers) is checked in every
     build, -DNDEBUG included: functions that return nn_result return an
     error; model forward returns a tensor with .data NULL; losses return NaN
     and write nothing; the void per-layer kernels check sizes always and,
     on a mismatch, trip NN_ASSERT (debug) and return without writing
     (release). Objects carry a message buffer (.error, NN_ERROR_MAX bytes)
     saying what was wrong: which layer or run, expected vs got.

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
     - Threads: distinct objects may be used from distinct threads. A model
       runs its GEMMs on a pool when given one:
           nn_threads *th = nn_threads_create(2);   (NULL: runs alone)
           net.threads = th;  ...train...  nn_threads_destroy(th);
       The pool measures whether its workers pay and runs alone when they do
       not (a busy or distant core), see "threads" below. With -fopenmp and no
       pool, OpenMP splits the GEMMs instead. Either way work is split over
       output tiles only, never over a reduction, so results are
       bit-identical for every thread count. nn_gemm packs panels on the
       stack: about 330 KB per calling thread.
     - Activations on the AVX2 path use polynomial approximations whose
       measured errors are listed at "elementwise kernels" below.
     - Determinism: same seed and same data give bit-identical weights, at
       any thread count, and with the AVX-512 or the AVX2 GEMM (same FMAs in
       the same order, other tiles). The AVX2/FMA and reference paths may
       differ in the last bits (FMA rounds once), and so may batches of fewer than 6 rows
       and larger ones in a dense layer (a row kernel replaces the packed GEMM
       there); each path on its own is reproducible, and within it a row's
       result never depends on the other rows of the batch.

   TABLE OF CONTENTS (implementation sections, in order; search for "== n.")
     == 1. config, result codes, version
     == 2. arena
     == 3. tensor
     == 4. rng
     == 5. kernels: gemm (reference, then AVX2/FMA, AVX-512 and NEON), threads, elementwise
     == 6. layers: dense, weight std, maxout, dropout, norms, conv and pooling,
            activations, init
     == 7. losses
     == 8. model (sequential): one block per layer kind (dense ... dropout2d),
            the table of kinds, then the model
     == 9. optimizers: SGD, momentum, Adagrad, RMSprop, Adam(W), Lookahead, L-BFGS
     == 10. schedules
     == 11. training utilities: clipping, finiteness
     == 12. serializer: weights, checkpoints, C export, ONNX export and import (format: docs/FORMAT.md)
     == 13. io helpers: crc32, gzip container, IDX
     == 14. data: CSV, splits, batches, metrics, preprocessing, provenance
     == 15. fit: the training loop, progress, history
     == 16. images (with stb_image): decode, resize, image folders
     == 17. diagnostics: gradient check, curvature, layer statistics, LR range
            test, hyperparameter search
     == 18. int8 quantized inference: calibration, int8 dense kernels (AVX-512
            VNNI, AVX2, NEON, plain)
*/
#ifndef NN_H
#define NN_H

#define NN_VERSION_MAJOR 0
#define NN_VERSION_MINOR 3
#define NN_VERSION_PATCH 0
#define NN_VERSION_STRING "0.3.0"

#include <stddef.h>
#include <stdint.h>
#ifndef NN_NO_STDIO
#include <stdio.h>
#endif

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
    NN_ERR_VERSION = -5,          /* a format version this reader does not read */
    NN_ERR_TRUNCATED = -6,        /* fewer bytes than the header promises */
    NN_ERR_CORRUPT = -7,          /* inconsistent header or data */
    NN_ERR_CHECKSUM = -8,         /* checksum mismatch */
    NN_ERR_TOO_LARGE = -9,        /* a size beyond the loader's limits */
    NN_ERR_SHAPE_MISMATCH = -10,  /* file does not match the caller's model */
    NN_ERR_NONFINITE = -11,       /* NaN or Inf met */
    NN_ERR_UNSUPPORTED = -12,     /* feature compiled out or not available */
    NN_ERR_CHECK_FAILED = -13     /* a check ran and found a mismatch (gradient check) */
} nn_result;

/* A short, static, human-readable description of r. */
NNDEF const char *nn_result_string(nn_result r);

/* Objects that can fail (model, optimizer, schedule, L-BFGS, IDX) carry an
   error buffer of this size: on failure it says what is wrong and where
   (which layer or run, expected vs got, which section or byte offset). It is
   the one field a failed call changes; "" after success. */
#define NN_ERROR_MAX 192

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

/* Use a caller buffer (any alignment; up to 63 bytes go to alignment). A
   static buffer for a queried size: unsigned char mem[NN_ARENA_BUFFER_BYTES(n)]
   holds n arena bytes whatever its alignment. */
#define NN_ARENA_BUFFER_BYTES(n) ((n) + NN_ARENA_ALIGN - 1)
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
#define NN_MAX_THREADS 64 /* nn_threads_create's limit */
typedef struct nn_tensor {
    float *data;
    int rank;
    int shape[NN_MAX_RANK];
} nn_tensor;

NNDEF nn_tensor nn_tensor_view(float *data, int rank, const int *shape);
/* The empty tensor (.data NULL): "no dx", "no bias". Same in C and C++. */
NNDEF nn_tensor nn_tensor_none(void);
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
/* Advances r by 2^128 draws (xoshiro256**'s jump): r jumped k times starts
   the k-th of 2^128 streams that never overlap, e.g. one per worker of a
   data-parallel run. Jumping and drawing commute: jump(draw^n(r)) =
   draw^n(jump(r)), so a saved state jumped again gives the stream back. */
NNDEF void nn_rng_jump(nn_rng *r);

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
/* 0 = reference, 1 = AVX2+FMA, 2 = NEON, 3 = AVX-512F (GEMM; the other
   kernels AVX2): what nn_gemm uses on this CPU and build. */
NNDEF int nn_simd_level(void);
NNDEF const char *nn_simd_name(void);  /* "reference", "AVX2+FMA", "NEON", "AVX-512F" */
/* nn_gemm with the kernels of one level (0, 1, 3 as above), for tests and
   benchmarks; a level this CPU or build lacks runs the best one below it. */
NNDEF void nn_gemm_at(int level, int trans_a, int trans_b, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* ---- threads ----------------------------------------------------------- */
/* A small pool of worker threads for the GEMMs of a model (set
   nn_model.threads) or of nn_gemm_mt. Threads are a means, not a promise:
     - Each GEMM is cut into chunks of whole output tiles handed out from a
       shared counter: a slower core takes fewer, and the caller works too.
       The caller waits only for chunks a worker has already taken, never for
       a worker that has not woken up.
     - When a worker loses its core in the middle of a chunk (another process
       runs there), the caller runs the next GEMMs alone, for a doubling
       number of calls (back-off).
     - Adaptive (the default): the pool times the caller's loop in windows of
       GEMM calls, alone and on the workers, and keeps what gives more flops
       per wall second, trying the other again now and then. On machines
       where data moves slowly between cores, or with small layers, two
       threads can lose to one; this is how they never lose by much.
   Chunks split tiles of the output, never a sum: bit-identical results for
   any thread count and any choice the pool makes. Idle workers spin at most
   NN_THREADS_SPIN_US microseconds (default 200), then sleep.
   POSIX threads (with glibc older than 2.34 link with -pthread); on other
   systems, or with NN_NO_THREADS, nn_threads_create returns NULL and all
   work runs on the calling thread. One nn_threads serves one calling thread
   at a time: a second caller meanwhile runs its work alone, never blocks.
   -fopenmp is the other way to threads (nn_model.threads NULL): static
   slabs, no back-off; give it cores of its own. A GEMM packs about 330 KB
   on the calling thread's stack: threads of your own that call nn.h need
   that much (musl starts threads with 128 KB; OpenMP's: OMP_STACKSIZE). */
typedef struct nn_threads nn_threads;
/* n threads in all, the caller included (1..NN_MAX_THREADS); NULL if none
   could be made. Workers start here; the struct comes from NN_MALLOC. */
NNDEF nn_threads *nn_threads_create(int n);
NNDEF void nn_threads_destroy(nn_threads *t);     /* joins the workers; NULL is fine */
NNDEF int nn_threads_count(const nn_threads *t);  /* n, or 1 for NULL */
/* 1 (default): adaptive, as above. 0: every GEMM large enough goes to the
   workers, no timing, no back-off (benchmarks, tests). Call it while no
   GEMM runs on the pool. */
NNDEF void nn_threads_set_adaptive(nn_threads *t, int on);
/* Counters since creation, read while no GEMM runs on the pool: GEMM calls
   handed to it, how many ran on the workers too, how many of those stalled
   on a descheduled worker, and chunks the workers ran. NULLs are fine. */
NNDEF void nn_threads_stats(const nn_threads *t, long *calls, long *parallel, long *stalls, long *worker_chunks);
/* nn_gemm_at on the pool's threads (t NULL: as nn_gemm_at). */
NNDEF void nn_gemm_mt(nn_threads *t, int level, int trans_a, int trans_b, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* ---- layers ------------------------------------------------------------ */
/* Dense (fully connected).
   forward:  x (B,IN) w (OUT,IN) b (OUT) -> y (B,OUT);  y = x w^T + b
   backward: dy (B,OUT) -> dx (B,IN) written, dw (OUT,IN) and db (OUT)
             accumulated. b/db/dx with NULL data are skipped. */
NNDEF void nn_dense_forward(nn_tensor y, nn_tensor x, nn_tensor w, nn_tensor b);
NNDEF void nn_dense_backward(nn_tensor dx, nn_tensor dw, nn_tensor db,
                             nn_tensor dy, nn_tensor x, nn_tensor w);

/* Weight standardization of a dense weight, row by row:
   w_hat[o,:] = (w[o,:] - mean(w[o,:])) / sqrt(var(w[o,:]) + eps), var biased.
   forward:  w (OUT,IN) -> w_hat (OUT,IN), rstd (OUT) = 1/sqrt(var + eps)
   backward: dw_hat (OUT,IN) -> dw (OUT,IN) accumulated. Use it around
   nn_dense_forward/backward with w_hat in place of w. */
NNDEF void nn_weight_std_forward(nn_tensor w_hat, float *rstd, nn_tensor w, float eps);
NNDEF void nn_weight_std_backward(nn_tensor dw, nn_tensor dw_hat, nn_tensor w_hat, const float *rstd);

/* Maxout with k pieces: z = x w^T + b with w (OUT*k, IN), b (OUT*k);
   y[:,o] = max_j z[:, o*k + j] (first maximum wins a tie).
   forward:  x (B,IN) -> z (B,OUT*k) scratch, argmax (B*OUT) ints, y (B,OUT)
   backward: dy (B,OUT) -> dz (B,OUT*k) scratch, then as dense. */
NNDEF void nn_maxout_forward(nn_tensor y, nn_tensor z, int *argmax, nn_tensor x,
                             nn_tensor w, nn_tensor b, int k);
NNDEF void nn_maxout_backward(nn_tensor dx, nn_tensor dw, nn_tensor db, nn_tensor dz,
                              nn_tensor dy, nn_tensor x, nn_tensor w, const int *argmax, int k);

/* Inverted dropout: in training each element is kept with probability 1-p and
   scaled by 1/(1-p), so evaluation is the identity. The mask (same size as x,
   entries 0 or 1/(1-p)) is drawn from rng: same seed, same mask.
   train=0 copies x to y. backward: dx = dy * mask (train) or dy (eval). */
NNDEF void nn_dropout_forward(nn_tensor y, float *mask, nn_tensor x, float p, int train, nn_rng *rng);
NNDEF void nn_dropout_backward(nn_tensor dx, nn_tensor dy, const float *mask, int train);
/* Vanilla (non-inverted) dropout, the original form: train keeps or zeroes
   (same draws as above), eval multiplies by (1 - p). mask holds the factor
   applied (0 or 1 in train, 1 - p in eval), which backward multiplies in. */
NNDEF void nn_dropout_vanilla_forward(nn_tensor y, float *mask, nn_tensor x, float p, int train, nn_rng *rng);
NNDEF void nn_dropout_vanilla_backward(nn_tensor dx, nn_tensor dy, const float *mask);

/* BatchNorm1d over the batch for each of F features, as PyTorch:
   train: mean, var (biased) of the batch normalize x; then
          running_mean = (1-momentum) running_mean + momentum mean
          running_var  = (1-momentum) running_var  + momentum var * B/(B-1)
          (the running variance is the unbiased one). Needs B > 1.
   eval:  running statistics normalize x; nothing is updated.
   y = (x - mean) * rstd * gamma + beta,  rstd = 1/sqrt(var + eps).
   x, y (B,F); gamma, beta, running_* (F); save_mean, save_rstd (F) hold what
   backward needs. backward: dx written, dgamma, dbeta accumulated. */
NNDEF void nn_batchnorm_forward(nn_tensor y, float *save_mean, float *save_rstd, nn_tensor x,
                                nn_tensor gamma, nn_tensor beta, float *running_mean,
                                float *running_var, float eps, float momentum, int train);
NNDEF void nn_batchnorm_backward(nn_tensor dx, nn_tensor dgamma, nn_tensor dbeta, nn_tensor dy,
                                 nn_tensor x, nn_tensor gamma, const float *save_mean,
                                 const float *save_rstd, int train);

/* LayerNorm over the last dim F of each row (same in train and eval):
   y = (x - mean_row) * rstd_row * gamma + beta.
   x, y (B,F); gamma, beta (F); save_mean, save_rstd (B). */
NNDEF void nn_layernorm_forward(nn_tensor y, float *save_mean, float *save_rstd, nn_tensor x,
                                nn_tensor gamma, nn_tensor beta, float eps);
NNDEF void nn_layernorm_backward(nn_tensor dx, nn_tensor dgamma, nn_tensor dbeta, nn_tensor dy,
                                 nn_tensor x, nn_tensor gamma, const float *save_mean,
                                 const float *save_rstd);

/* ---- convolution and pooling (images, NCHW) --------------------------- */
/* A batch of images is (N, C, H, W), row-major. The window of a convolution
   or a pooling layer, as torch.nn.Conv2d / MaxPool2d / AvgPool2d:
     OH = floor((H + 2 ph - dil_h (kh - 1) - 1) / sh) + 1, likewise OW.
   Convolution: zero padding, groups split C and OC into equal slices (groups
   = C = OC is depthwise). Pooling: dilation 1 except max pooling, groups 1;
   padding at most half the kernel (PyTorch's rule). */
typedef struct nn_conv2d_geom {
    int kh, kw;          /* kernel >= 1 */
    int sh, sw;          /* stride >= 1 */
    int ph, pw;          /* padding >= 0 */
    int dil_h, dil_w;    /* dilation >= 1 */
    int groups;          /* >= 1, divides C and OC */
} nn_conv2d_geom;
/* kernel k x k, stride, padding, dilation 1, groups 1 */
NNDEF nn_conv2d_geom nn_conv2d_geom_make(int kernel, int stride, int padding);
/* The output size above; 0 when no window fits (or an argument is out of range). */
NNDEF int nn_conv2d_out_size(int in, int kernel, int stride, int padding, int dilation);

/* Conv2d on the packed GEMM's micro-kernels. With stride 1 and at least a
   tile's rows of output channels per group (8 with AVX-512, 6 with AVX2), an
   implicit GEMM: each tile of the input patches is packed straight from x
   and the products land in y, the bias riding as one more column of the
   weights; dx is then the same kind of convolution of dy with the flipped
   kernel. Otherwise (strides, depthwise, no SIMD) im2col: a chunk of samples'
   patches copied side by side into work and multiplied by the weights. dW
   always goes through im2col. x (N,C,H,W) w (OC,C/groups,KH,KW) b (OC) or
   .data NULL -> y (N,OC,OH,OW). work: nn_conv2d_work_floats(N, C, H, W, OC,
   g) floats (for any batch up to N; backward uses the same). backward: dx
   written (skipped when .data is NULL), dw and db accumulated.
   Deterministic: the path and the chunks depend on the shapes and the
   instruction set only; threads split output tiles, never a sum. */
NNDEF size_t nn_conv2d_work_floats(int N, int C, int H, int W, int OC, const nn_conv2d_geom *g);
NNDEF void nn_conv2d_forward(nn_tensor y, nn_tensor x, nn_tensor w, nn_tensor b, const nn_conv2d_geom *g,
                             float *work);
NNDEF void nn_conv2d_backward(nn_tensor dx, nn_tensor dw, nn_tensor db, nn_tensor dy, nn_tensor x, nn_tensor w,
                              const nn_conv2d_geom *g, float *work);
/* MaxPool2d: padding never wins (it acts as -inf); among equal values the
   first in the window (row by row) wins, a NaN always does, as PyTorch.
   argmax (N*C*OH*OW) gets the index h*W + w inside the input plane.
   backward: dx written, each dy added at its argmax. */
NNDEF void nn_maxpool2d_forward(nn_tensor y, int *argmax, nn_tensor x, const nn_conv2d_geom *g);
NNDEF void nn_maxpool2d_backward(nn_tensor dx, nn_tensor dy, const int *argmax);
/* AvgPool2d: count_include_pad 1 (PyTorch's default) divides by kh*kw
   (padding counts as zeros), 0 by the real elements under the window. */
NNDEF void nn_avgpool2d_forward(nn_tensor y, nn_tensor x, const nn_conv2d_geom *g, int count_include_pad);
NNDEF void nn_avgpool2d_backward(nn_tensor dx, nn_tensor dy, const nn_conv2d_geom *g, int count_include_pad);
/* Global average pooling: x (N,C,H,W) -> y (N,C), the mean of each plane
   (AdaptiveAvgPool2d(1) then flatten). */
NNDEF void nn_global_avgpool_forward(nn_tensor y, nn_tensor x);
NNDEF void nn_global_avgpool_backward(nn_tensor dx, nn_tensor dy);
/* BatchNorm2d: nn_batchnorm_forward per channel over N*H*W values (training
   needs more than one); x, y (N,C,H,W); gamma, beta, running_*, save_* (C).
   Sums (mean, variance, dgamma, dbeta, and conv's db) go plane by plane: 8
   float lanes, ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)) plus the tail, each
   plane's total added in double. Every SIMD level gives these bits. */
NNDEF void nn_batchnorm2d_forward(nn_tensor y, float *save_mean, float *save_rstd, nn_tensor x,
                                  nn_tensor gamma, nn_tensor beta, float *running_mean,
                                  float *running_var, float eps, float momentum, int train);
NNDEF void nn_batchnorm2d_backward(nn_tensor dx, nn_tensor dgamma, nn_tensor dbeta, nn_tensor dy,
                                   nn_tensor x, nn_tensor gamma, const float *save_mean,
                                   const float *save_rstd, int train);
/* Dropout2d: whole channels kept with probability 1-p (scaled by 1/(1-p)) or
   zeroed; mask (N*C) holds the factor per channel. Eval copies. */
NNDEF void nn_dropout2d_forward(nn_tensor y, float *mask, nn_tensor x, float p, int train, nn_rng *rng);
NNDEF void nn_dropout2d_backward(nn_tensor dx, nn_tensor dy, const float *mask, int train);

/* Activations, elementwise on any shape (softmax: over the last dim).
   alpha is the LeakyReLU slope or the ELU alpha and is ignored otherwise.
   Backward needs the forward input x and output y (pass both, any may be
   unused); dx may alias dy. Formulas and kinks follow PyTorch:
     relu      max(x,0)                      d/dx at 0: 0
     sigmoid   1/(1+e^-x), never overflows
     tanh      tanh(x)
     leaky     x>0 ? x : alpha x             d/dx at 0: alpha
     elu       x>0 ? x : alpha (e^x - 1)     d/dx at 0: alpha
     gelu      x Phi(x) with erf (exact)
     gelu_tanh 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
     silu      x sigmoid(x)
     softplus  log(1+e^x), x when x > 20 (PyTorch's beta=1, threshold=20)
     softmax   e^x / sum e^x over the last dim, max-subtracted
   Fusions: prefer nn_loss_cross_entropy on raw logits over softmax + log, and
   nn_loss_bce_logits on raw logits over sigmoid + nn_loss_bce. */
typedef enum nn_act {
    NN_ACT_IDENTITY = 0,
    NN_ACT_RELU,
    NN_ACT_SIGMOID,
    NN_ACT_TANH,
    NN_ACT_LEAKY_RELU,
    NN_ACT_ELU,
    NN_ACT_GELU,
    NN_ACT_GELU_TANH,
    NN_ACT_SILU,
    NN_ACT_SOFTPLUS,
    NN_ACT_SOFTMAX,
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
NNDEF void nn_softmax_forward(nn_tensor y, nn_tensor x);  /* over the last dim */
NNDEF void nn_softmax_backward(nn_tensor dx, nn_tensor dy, nn_tensor y);

/* ---- initializers ------------------------------------------------------ */
/* Fill a weight of fan_out x fan_in values. Biases are zero unless the
   scheme is NN_INIT_DEFAULT. Why not all zeros: every unit of a layer would
   compute the same output and get the same gradient forever (no symmetry
   breaking), so NN_INIT_ZEROS/CONSTANT are for biases and experiments only.
     DEFAULT          PyTorch nn.Linear: w, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
     ZEROS, CONSTANT  value
     SMALL_RANDOM     0.01 N(0,1)
     CALIBRATED       N(0,1) / sqrt(fan_in)  (variance 1/n)
     XAVIER_UNIFORM   U(-a,a), a = gain sqrt(6/(fan_in+fan_out))
     XAVIER_NORMAL    N(0, gain^2 2/(fan_in+fan_out))
     KAIMING_UNIFORM  U(-a,a), a = gain sqrt(3/fan)   fan = fan_in (or fan_out)
     KAIMING_NORMAL   N(0, gain^2/fan)
     LECUN_UNIFORM    U(-a,a), a = sqrt(3/fan_in)
     LECUN_NORMAL     N(0, 1/fan_in)
   gain is taken literally, as torch.nn.init's gain argument (0 gives zeros);
   nn_init_gain(act, alpha) is torch.nn.init.calculate_gain, and the layer
   constructors (nn_dense, nn_maxout) set .init_gain from it. */
typedef enum nn_init {
    NN_INIT_DEFAULT = 0,
    NN_INIT_ZEROS,
    NN_INIT_CONSTANT,
    NN_INIT_SMALL_RANDOM,
    NN_INIT_CALIBRATED,
    NN_INIT_XAVIER_UNIFORM,
    NN_INIT_XAVIER_NORMAL,
    NN_INIT_KAIMING_UNIFORM,
    NN_INIT_KAIMING_NORMAL,
    NN_INIT_LECUN_UNIFORM,
    NN_INIT_LECUN_NORMAL,
    NN_INIT_COUNT_
} nn_init;
/* torch.nn.init.calculate_gain: 1 (identity, sigmoid), 5/3 (tanh), sqrt(2)
   (relu), sqrt(2/(1+slope^2)) (leaky relu), 1 otherwise. */
NNDEF float nn_init_gain(nn_act act, float alpha);
NNDEF void nn_init_fill(float *w, int fan_out, int fan_in, nn_init scheme, float gain,
                        float value, int use_fan_out, nn_rng *rng);

/* ---- losses ------------------------------------------------------------ */
/* Each returns the mean loss (PyTorch's reduction='mean') and, when
   dpred.data is not NULL, writes the gradient of that mean w.r.t. its input.
   Invalid input (sizes that differ, an empty or NULL tensor, a label outside
   [0, C), Huber delta <= 0) returns NaN and writes nothing, in every build.
   NaN and Inf in the data propagate as in PyTorch.
   Which output pairs with which loss (the course's rule):
     binary       sigmoid + BCE      -> use nn_loss_bce_logits on raw logits
     multi-class  softmax + CE       -> use nn_loss_cross_entropy on raw logits
     regression   linear + MSE/L1/Huber                                        */
NNDEF float nn_loss_mse(nn_tensor dpred, nn_tensor pred, nn_tensor target);
NNDEF float nn_loss_l1(nn_tensor dpred, nn_tensor pred, nn_tensor target);   /* grad 0 at pred == target */
/* 0.5 d^2 for |d| < delta, else delta (|d| - 0.5 delta); d = pred - target */
NNDEF float nn_loss_huber(nn_tensor dpred, nn_tensor pred, nn_tensor target, float delta);
/* Binary cross-entropy on probabilities; log clamped at -100 like PyTorch. */
NNDEF float nn_loss_bce(nn_tensor dprob, nn_tensor prob, nn_tensor target);
/* Sigmoid + BCE fused on logits: stable for any logit. */
NNDEF float nn_loss_bce_logits(nn_tensor dlogits, nn_tensor logits, nn_tensor target);
/* Softmax cross-entropy on logits (B,C) with labels in [0,C). */
NNDEF float nn_loss_cross_entropy(nn_tensor dlogits, nn_tensor logits, const int *labels);
/* ... with class weights (C): sum_i w[y_i] nll_i / sum_i w[y_i] (PyTorch). */
NNDEF float nn_loss_cross_entropy_weighted(nn_tensor dlogits, nn_tensor logits, const int *labels,
                                           const float *class_weights);
/* ... with probability targets (B,C) (one-hot or soft); class_weights may be
   NULL. Loss = -(1/B) sum_i sum_c w_c p_ic log softmax(z_i)_c (PyTorch). */
NNDEF float nn_loss_cross_entropy_probs(nn_tensor dlogits, nn_tensor logits, nn_tensor probs,
                                        const float *class_weights);

/* ---- model ------------------------------------------------------------- */
/* A sequential stack of layers with its own buffers for a batch of up to
   max_batch rows. Each layer has its own width and activation. The per-layer
   functions above stay public: the model only chains them. */
typedef enum nn_layer_kind {
    NN_LAYER_NONE = 0,
    NN_LAYER_DENSE,       /* .units outputs; .act applied after (a layer of its own) */
    NN_LAYER_ACT,         /* .act on every element */
    NN_LAYER_DROPOUT,     /* .p drop probability */
    NN_LAYER_BATCHNORM,   /* BatchNorm1d: .eps (1e-5), .momentum (0.1) */
    NN_LAYER_LAYERNORM,   /* .eps (1e-5) */
    NN_LAYER_MAXOUT,      /* .units outputs, .k pieces (2) */
    NN_LAYER_FLATTEN,     /* (B, d1, d2, ...) -> (B, d1*d2*...): a view, no copy */
    NN_LAYER_CONV2D,      /* .units output channels, .kernel, .stride, .padding, .dilation,
                             .groups; .act applied after (a layer of its own) */
    NN_LAYER_MAXPOOL2D,   /* .kernel, .stride, .padding, .dilation */
    NN_LAYER_AVGPOOL2D,   /* .kernel, .stride, .padding, .count_include_pad (1) */
    NN_LAYER_GLOBAL_AVGPOOL, /* (C, H, W) -> (C): the mean of each channel */
    NN_LAYER_BATCHNORM2D, /* per channel over (B, H, W): .eps (1e-5), .momentum (0.1) */
    NN_LAYER_DROPOUT2D,   /* whole channels, .p (0.5) */
    NN_LAYER_KIND_COUNT_
} nn_layer_kind;

typedef enum nn_mode { NN_MODE_TRAIN = 0, NN_MODE_EVAL = 1 } nn_mode;

/* Every field is taken literally (see DESCRIPTIONS at the top): start from
   a constructor below, which fills PyTorch's defaults, then override fields. */
typedef struct nn_layer_desc {
    nn_layer_kind kind;
    int units;           /* DENSE, MAXOUT: outputs (required) */
    nn_act act;          /* DENSE, MAXOUT: activation after it; ACT: which */
    float alpha;         /* LeakyReLU slope (0.01) / ELU alpha (1.0); any finite value */
    int no_bias;         /* DENSE: 1 = no bias */
    int weight_std;      /* DENSE: 1 = weight standardization (eps from .eps) */
    nn_init init;        /* DENSE, MAXOUT: weight initialization (NN_INIT_DEFAULT) */
    float init_gain;     /* nn_init_gain(act, alpha), set by the constructor: set it
                            again (or call nn_init_gain) if you change .act */
    float init_value;    /* NN_INIT_CONSTANT value (0) */
    int init_fan_out;    /* KAIMING: 1 = use fan_out */
    float p;             /* DROPOUT: drop probability in [0, 1) (0.5) */
    float eps;           /* BATCHNORM, LAYERNORM, DENSE weight_std: in [0, 1] (1e-5) */
    float momentum;      /* BATCHNORM: running-statistics momentum in [0, 1] (0.1) */
    int k;               /* MAXOUT: pieces >= 1 (2) */
    int vanilla;         /* DROPOUT: 1 = the course's original form: kept values are
                            not scaled in training, outputs are scaled by (1 - p) in
                            eval (torch scales by 1/(1-p) in training instead: 0) */
    uint32_t tag;        /* NN_DESC_TAG, set by the constructors: a desc without it
                            (a zeroed struct) is refused, never read as defaults */
    /* images (1.4; after tag, so positional initializers of older fields stay
       valid): (height, width) pairs, as torch.nn.Conv2d / MaxPool2d / AvgPool2d */
    int kernel[2];       /* CONV2D, MAXPOOL2D, AVGPOOL2D: window (required) */
    int stride[2];       /* CONV2D: (1, 1); pools: the constructor's (torch: the kernel) */
    int padding[2];      /* zeros (conv) or ignored cells (pools): (0, 0) */
    int dilation[2];     /* CONV2D, MAXPOOL2D: (1, 1) */
    int groups;          /* CONV2D: channel groups (1); = input channels: depthwise */
    int count_include_pad; /* AVGPOOL2D: 1 = padding counts in the divisor (1) */
} nn_layer_desc;

/* Marks a description that started from nn.h's defaults. */
#define NN_DESC_TAG 0x314e4e64u

/* Constructors: a layer of each kind with PyTorch's defaults. They compose
   into arrays: nn_layer_desc ls[] = {nn_dense(256, NN_ACT_RELU), nn_dropout(0.2f),
   nn_dense(10, NN_ACT_IDENTITY)}; then override any field (ls[1].p = 0.0f). */
NNDEF nn_layer_desc nn_layer_desc_default(nn_layer_kind kind);
NNDEF nn_layer_desc nn_dense(int units, nn_act act);          /* nn.Linear (+ activation) */
NNDEF nn_layer_desc nn_maxout(int units, int k, nn_act act);  /* k pieces per output */
NNDEF nn_layer_desc nn_activation(nn_act act);                /* alpha 0.01 (leaky), 1 (ELU) */
NNDEF nn_layer_desc nn_dropout(float p);                      /* p in [0, 1) */
NNDEF nn_layer_desc nn_batchnorm(void);                       /* eps 1e-5, momentum 0.1 */
NNDEF nn_layer_desc nn_layernorm(void);                       /* eps 1e-5 */
NNDEF nn_layer_desc nn_flatten(void);
/* Images: the model's input_shape is (C, H, W); the layers below see images
   of the previous layer's output shape, dense layers the flattened size. */
NNDEF nn_layer_desc nn_conv2d(int out_channels, int kernel, int stride, int padding, nn_act act);
NNDEF nn_layer_desc nn_maxpool2d(int kernel, int stride, int padding);
NNDEF nn_layer_desc nn_avgpool2d(int kernel, int stride, int padding);  /* count_include_pad 1 */
NNDEF nn_layer_desc nn_global_avgpool(void);
NNDEF nn_layer_desc nn_batchnorm2d(void);                     /* eps 1e-5, momentum 0.1 */
NNDEF nn_layer_desc nn_dropout2d(float p);

typedef struct nn_model_desc {
    int inputs;                   /* features per input row (required) */
    int max_batch;                /* largest batch forward will see (required) */
    const nn_layer_desc *layers;
    int n_layers;
    uint64_t seed;                /* initialization and dropout seed */
    int input_shape[3];           /* (C, H, W) of one input, C*H*W = inputs, for images
                                     (rows of a (B, C, H, W) tensor); all 0: (inputs, 1, 1) */
} nn_model_desc;

/* A run of parameters with its gradient, for optimizers and serializers. */
typedef struct nn_param {
    const char *name;    /* e.g. "0.weight" (storage inside the model) */
    float *data;
    float *grad;         /* NULL for buffers (running statistics) */
    size_t size;
    int no_decay;        /* 1 for biases and normalization parameters */
    int rows;            /* rows of a 2-D weight (for max_norm), else 0 */
} nn_param;

typedef struct nn_layer {
    nn_layer_kind kind;
    nn_act act;
    float alpha, p, eps, momentum;
    int k, weight_std, vanilla;
    int in, out;           /* features per row in and out */
    int in_shape[3], out_shape[3]; /* the same as (C, H, W) */
    nn_conv2d_geom geom;   /* CONV2D and pools */
    int count_include_pad; /* AVGPOOL2D */
    nn_tensor w, b;        /* parameters (views into model->params); norm: gamma, beta */
    nn_tensor dw, db;      /* gradients (views into model->grads) */
    nn_tensor y;           /* output buffer (max_batch, out) */
    float *running_mean, *running_var;  /* BATCHNORM buffers (model->buffers) */
    float *save_a, *save_b;  /* what backward needs: norm mean/rstd, dropout mask, ws rstd */
    float *z, *dz;         /* MAXOUT pre-max values; WS w_hat and dw_hat */
    int *argmax;           /* MAXOUT */
    char param_names[4][32]; /* "<index>.weight", ".bias", ".running_mean", ".running_var" */
} nn_layer;

typedef struct nn_model {
    nn_layer *layers;
    int n_layers;
    int inputs, outputs, max_batch;
    int input_shape[3];    /* (C, H, W) of an input row; (inputs, 1, 1) when flat */
    int desc_input_shape[3]; /* the description's, as given (the serializer stores it) */
    int batch;             /* rows in the last forward */
    int row0;              /* first row of the block an EVAL forward is running (see nn_model_forward) */
    nn_mode mode;          /* TRAIN after init: dropout and batch statistics on */
    float *params;         /* every parameter, one 64-byte aligned block */
    float *grads;          /* gradients, same layout */
    size_t n_params;
    nn_param *param_list;  /* named runs of params/grads, in layer order */
    int n_param_list;
    float *buffers;        /* running statistics, one block */
    size_t n_buffers;
    nn_param *buffer_list; /* named runs of buffers (grad NULL) */
    int n_buffer_list;
    nn_tensor x;           /* input of the last forward (a view, not a copy) */
    float *gbuf[2];        /* ping-pong gradient buffers (max_batch * widest) */
    float *work;           /* convolution scratch (packed weights, im2col), shared by the layers */
    float *dout;           /* output gradient buffer (max_batch, outputs) */
    nn_rng rng;            /* dropout masks */
    size_t arena_bytes;    /* what nn_model_init took from the arena */
    nn_layer_desc *descs;  /* copy of the description (the serializer stores it) */
    int n_descs;
    uint64_t seed;
    nn_threads *threads;   /* NULL after init; set it to run the GEMMs on a pool (nn_threads_create) */
    float *input_grad;     /* NULL after init; set it to (max_batch, inputs) floats and backward
                              writes d loss / d x there (saliency, gradient checks) */
    char error[NN_ERROR_MAX]; /* what the last failed call found wrong */
} nn_model;

/* Exact arena bytes nn_model_init takes for this description (0 if invalid). */
NNDEF size_t nn_model_arena_bytes(const nn_model_desc *desc);
/* Parameter count of the model this description builds (0 if invalid): size
   the optimizer state with it before building anything. */
NNDEF size_t nn_model_param_count(const nn_model_desc *desc);
/* Where nn_model_arena_bytes goes, in arena bytes (each part rounded as the
   arena rounds it): parameters, their gradients, running statistics, the
   per-batch scratch for max_batch rows (activations, gradient buffers, masks,
   saved statistics) and the layer tables. total == nn_model_arena_bytes. */
typedef struct nn_model_sizes {
    size_t params, grads, buffers, scratch, tables, total;
} nn_model_sizes;
NNDEF nn_result nn_model_sizes_query(const nn_model_desc *desc, nn_model_sizes *out);
/* Build and initialize (see nn_init for the schemes). */
NNDEF nn_result nn_model_init(nn_model *m, nn_arena *arena, const nn_model_desc *desc);
/* TRAIN: dropout active, batch norm uses and updates batch statistics.
   EVAL: dropout is the identity (vanilla dropout scales by 1 - p), batch norm
   uses its running statistics.
   Forgetting to switch is the classic bug: the mode shows in nn_model_summary. */
NNDEF void nn_model_set_mode(nn_model *m, nn_mode mode);
/* x (B, inputs), B <= max_batch. Returns a view of the output (B, outputs),
   valid until the next forward. x must stay alive until backward. A batch
   outside 1..max_batch, a row size other than inputs or NULL data is refused
   in every build (-DNDEBUG too): the result has .data NULL, m->error says why.
   In EVAL a model with image layers runs them about 1 MB of activations'
   worth of rows at a time, so a big batch stays in cache; backward works
   after it as after any forward. */
NNDEF nn_tensor nn_model_forward(nn_model *m, nn_tensor x);
/* A (B, outputs) buffer owned by the model for the loss gradient. */
NNDEF nn_tensor nn_model_output_grad(nn_model *m);
/* dy (B, outputs): gradient of the loss w.r.t. the last forward's output.
   Accumulates into m->grads. NN_ERR_SHAPE_MISMATCH (nothing written) when dy
   is not (B, outputs) of the last successful forward, or no forward ran. */
NNDEF nn_result nn_model_backward(nn_model *m, nn_tensor dy);
NNDEF void nn_model_zero_grad(nn_model *m);
/* Writes a table of layers, output shapes, parameter counts and the mode
   into buf (always NUL-terminated). Returns the length it needed. */
NNDEF size_t nn_model_summary(const nn_model *m, char *buf, size_t size);

/* ---- optimizers -------------------------------------------------------- */
/* Optimizers see only (parameter, gradient) runs: they never care which layer
   a value came from. State (moments) lives in one arena block. Update rules,
   as torch.optim (t = step count from 1, g = gradient):
     regularizers first: g += weight_decay w (coupled L2; not AdamW)
                         g += l1 sign(w)     (L1 subgradient, 0 at w = 0)
     SGD       w -= lr g
     momentum  v = mu v + (1 - dampening) g (v = g at t = 1); w -= lr v
               nesterov: w -= lr (g + mu v)
               classic (desc.classic_momentum): v = mu v - lr g; w += v
     Adagrad   s += g^2; w -= lr / (1 + (t-1) lr_decay) * g / (sqrt(s) + eps)
               s starts at initial_accumulator_value
     RMSprop   a = alpha a + (1-alpha) g^2; d = sqrt(a) + eps
               centered: m = alpha m + (1-alpha) g; d = sqrt(a - m^2) + eps
               momentum: b = mu b + g / d; w -= lr b, else w -= lr g / d
     Adam      m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2
               w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
               amsgrad: v_max = max(v_max, v) in place of v
               no_bias_correction: w -= lr m / (sqrt(v) + eps)
     AdamW     w *= 1 - lr weight_decay, then Adam without the coupled term
     Lookahead (lookahead_k > 0, any of the above as the inner optimizer):
               every k steps: slow += lookahead_alpha (w - slow); w = slow
     max_norm  after the step, each row of a 2-D weight is scaled down to
               L2 norm <= max_norm.
   Parameters flagged no_decay (biases, normalization) skip weight_decay, l1
   and max_norm: that is how groups are expressed. */
typedef enum nn_optim_kind {
    NN_OPTIM_SGD = 0,
    NN_OPTIM_ADAGRAD,
    NN_OPTIM_RMSPROP,
    NN_OPTIM_ADAM,
    NN_OPTIM_ADAMW,
    NN_OPTIM_KIND_COUNT_
} nn_optim_kind;

/* Every field is taken literally: start from nn_optim_desc_default(kind),
   which fills torch.optim's defaults (in brackets), then override. */
typedef struct nn_optim_desc {
    nn_optim_kind kind;
    float lr;            /* 0.01 (SGD, Adagrad, RMSprop), 0.001 (Adam, AdamW) */
    float momentum;      /* SGD, RMSprop: 0 */
    float dampening;     /* SGD: 0 */
    int nesterov;        /* SGD */
    int classic_momentum;/* SGD: v = mu v - lr g; w += v */
    float beta1, beta2;  /* Adam(W): 0.9, 0.999 */
    float eps;           /* 1e-8 (Adam, RMSprop), 1e-10 (Adagrad) */
    float alpha;         /* RMSprop smoothing: 0.99 */
    int centered;        /* RMSprop */
    int amsgrad;         /* Adam(W) */
    int no_bias_correction; /* Adam(W): as some course notes write it */
    float lr_decay;      /* Adagrad: 0 */
    float initial_accumulator_value; /* Adagrad: 0 */
    float weight_decay;  /* coupled L2, decoupled for AdamW (AdamW: 0.01) */
    float l1;            /* L1 coefficient: 0 */
    float max_norm;      /* row max-norm constraint: 0 = off */
    int lookahead_k;     /* 0 = no Lookahead; 5 is usual */
    float lookahead_alpha; /* 0.5 */
    /* The course's forms, where they differ from torch.optim (all 0 by default):
       momentum_ema     SGD: v = mu v + (1 - mu) g from v = 0 (an exponential
                        moving average of the gradients); w -= lr v. Needs
                        momentum > 0, dampening 0, no classic_momentum
       eps_inside_sqrt  RMSprop: w -= lr g / sqrt(v + eps) (centered: sqrt(v -
                        gavg^2 + eps)) instead of g / (sqrt(v) + eps)
       l1_proximal      L1 as a proximal step: after the update, w = sign(w)
                        max(|w| - lr l1, 0) (soft-thresholding: weights reach
                        exactly 0) instead of adding l1 sign(w) to g; exact
                        ISTA for plain SGD, the same threshold for the others */
    int momentum_ema, eps_inside_sqrt, l1_proximal;
    uint32_t tag;        /* NN_DESC_TAG (set by nn_optim_desc_default) */
} nn_optim_desc;

struct nn_sched;
typedef struct nn_optim {
    nn_optim_desc d;     /* the description in force (lr changes with a schedule) */
    float *s0, *s1, *s2; /* state vectors (kind-specific), n floats each or NULL */
    float *slow;         /* Lookahead slow weights */
    size_t n;
    long step;           /* steps taken */
    const struct nn_sched *sched; /* attached schedule or NULL (nn_optim_attach_sched) */
    char error[NN_ERROR_MAX];
} nn_optim;

/* torch.optim's defaults for kind: lr 0.01 (SGD, Adagrad, RMSprop) or 0.001
   (Adam, AdamW), betas (0.9, 0.999), eps 1e-8 (1e-10 Adagrad), RMSprop alpha
   0.99, AdamW weight_decay 0.01, everything else 0 / off; lookahead_alpha 0.5
   (used once lookahead_k > 0). */
NNDEF nn_optim_desc nn_optim_desc_default(nn_optim_kind kind);
/* ElasticNet with strength lambda and mixing mix in [0,1]: penalty
   lambda (mix |w|_1 + (1-mix)/2 |w|^2), i.e. l1 = lambda mix and
   weight_decay = lambda (1-mix). */
NNDEF void nn_optim_elastic_net(nn_optim_desc *desc, float lambda, float mix);
NNDEF size_t nn_optim_arena_bytes(const nn_optim_desc *desc, size_t n_params);
NNDEF nn_result nn_optim_init(nn_optim *o, nn_arena *arena, const nn_optim_desc *desc, size_t n_params);
/* Let a schedule drive the optimizer: before every step the optimizer takes
   its lr from s (and, for ONE_CYCLE, its momentum: SGD momentum or Adam's
   beta1, as torch's cycle_momentum; SGD and RMSprop only when built with
   momentum > 0, since they keep no momentum buffer otherwise). You still
   advance s yourself with nn_sched_step, per step or per epoch, as with
   torch.optim.lr_scheduler. NULL detaches. */
NNDEF void nn_optim_attach_sched(nn_optim *o, const struct nn_sched *s);
/* One update of named runs (e.g. m->param_list): runs flagged no_decay
   (biases, norms) skip weight_decay, l1 and max_norm, the two-group recipe;
   not torch.optim's default, which decays every parameter. Sizes are checked
   before anything is written: NN_ERR_SHAPE_MISMATCH when the runs hold more
   than the optimizer was built for, NN_ERR_TOO_LARGE at the step limit. */
NNDEF nn_result nn_optim_step_params(nn_optim *o, const nn_param *params, int n);
/* One update of n parameters as one run, every one decayed (e.g. m->params):
   what torch.optim.Adam(model.parameters(), weight_decay=...) does. */
NNDEF nn_result nn_optim_step(nn_optim *o, float *params, const float *grads, size_t n);
/* The same updates, bit for bit, leaving every gradient they read at 0: a
   step then needs no nn_model_zero_grad before its backward. The kernels
   write the zeros as they read (SGD momentum, Adam, AdamW), saving the
   separate pass over the gradients; runs without .grad are not touched. */
NNDEF nn_result nn_optim_step_and_zero_grad(nn_optim *o, float *params, float *grads, size_t n);
NNDEF nn_result nn_optim_step_params_and_zero_grad(nn_optim *o, const nn_param *params, int n);
/* The penalty the regularizers add to the loss (report loss + this):
   weight_decay/2 |w|^2 + l1 |w|_1 over runs without no_decay. */
NNDEF float nn_optim_penalty(const nn_optim *o, const nn_param *params, int n);

/* L-BFGS for full-batch problems, as torch.optim.LBFGS (two-loop recursion,
   history_size pairs, optional strong-Wolfe line search). f returns the loss
   at x and writes its gradient. One nn_lbfgs_step is one torch .step(closure):
   up to max_iter iterations. */
typedef float (*nn_lbfgs_fn)(const float *x, float *grad, size_t n, void *user);
/* Every field literal: start from nn_lbfgs_desc_default() (torch's defaults). */
typedef struct nn_lbfgs_desc {
    float lr;               /* 1 */
    int max_iter;           /* 20 */
    int max_eval;           /* -1: max_iter * 5 / 4 (torch's None) */
    float tolerance_grad;   /* 1e-7 */
    float tolerance_change; /* 1e-9 */
    int history_size;       /* 100 */
    int strong_wolfe;       /* 0: fixed step lr; 1: strong-Wolfe line search */
    uint32_t tag;           /* NN_DESC_TAG */
} nn_lbfgs_desc;
NNDEF nn_lbfgs_desc nn_lbfgs_desc_default(void);
typedef struct nn_lbfgs {
    nn_lbfgs_desc d;
    size_t n;
    float *old_dirs, *old_stps, *ro, *al; /* history (history_size x n), (history_size) */
    float *d_, *prev_grad, *g, *x0, *g_new, *bg[2], *g_prev; /* work vectors (n) */
    int n_hist, hist_start;
    float t, h_diag, prev_loss;
    long n_iter, func_evals;
    int have_state;
    char error[NN_ERROR_MAX];
} nn_lbfgs;
NNDEF size_t nn_lbfgs_arena_bytes(const nn_lbfgs_desc *desc, size_t n);
NNDEF nn_result nn_lbfgs_init(nn_lbfgs *lb, nn_arena *arena, const nn_lbfgs_desc *desc, size_t n);
/* Returns the loss at x on entry (as torch's step). */
NNDEF float nn_lbfgs_step(nn_lbfgs *lb, float *x, nn_lbfgs_fn f, void *user);

/* ---- schedules --------------------------------------------------------- */
/* Learning rate as a function of the step t (scheduler steps taken so far),
   as torch.optim.lr_scheduler; call nn_sched_step once per optimizer step
   (or per epoch) and read nn_sched_lr:
     CONSTANT          base_lr
     STEP              base_lr gamma^floor(t / step_size)
     MULTISTEP         base_lr gamma^(milestones <= t)
     EXPONENTIAL       base_lr gamma^t
     INVERSE_TIME      base_lr / (1 + decay t)                       (1/t decay)
     COSINE            eta_min + (base_lr - eta_min)(1 + cos(pi t / t_max)) / 2
     COSINE_RESTARTS   the same within each period; t_0, then x t_mult
     CYCLIC            between base_lr (the LOWER bound, as torch's CyclicLR) and
                       max_lr, step_size_up/down; triangular, triangular2
                       (halves each cycle), exp_range (gamma^t)
     ONE_CYCLE         warm up from max_lr/div_factor to max_lr over pct_start of
                       total_steps, anneal (cosine, or linear with anneal_linear)
                       to max_lr/div_factor/final_div_factor; momentum cycles
                       base_momentum..max_momentum the other way. base_lr unused.
     PLATEAU           ReduceLROnPlateau: lr *= factor when the metric has not
                       improved (threshold rel/abs, mode min/max) for more than
                       patience steps; then cooldown steps; never below min_lr
   Any kind may be preceded by a linear warmup: warmup_steps steps from
   warmup_start_factor base_lr to base_lr, after which the schedule starts at
   its own t = 0 (torch's SequentialLR of LinearLR and the schedule). */
typedef enum nn_sched_kind {
    NN_SCHED_CONSTANT = 0,
    NN_SCHED_STEP,
    NN_SCHED_MULTISTEP,
    NN_SCHED_EXPONENTIAL,
    NN_SCHED_INVERSE_TIME,
    NN_SCHED_COSINE,
    NN_SCHED_COSINE_RESTARTS,
    NN_SCHED_CYCLIC,
    NN_SCHED_ONE_CYCLE,
    NN_SCHED_PLATEAU,
    NN_SCHED_KIND_COUNT_
} nn_sched_kind;
typedef enum nn_cyclic_mode { NN_CYCLIC_TRIANGULAR = 0, NN_CYCLIC_TRIANGULAR2, NN_CYCLIC_EXP_RANGE } nn_cyclic_mode;
#define NN_SCHED_MAX_MILESTONES 16

/* Every field is taken literally: start from nn_sched_desc_default(kind,
   base_lr), which fills torch.optim.lr_scheduler's defaults (in brackets),
   then set what the kind needs ("required" fields are 0 until you do).
   Real-valued fields are double: PyTorch computes schedules in Python
   floats, and gamma^t in float32 drifts by t * 2^-24. */
typedef struct nn_sched_desc {
    nn_sched_kind kind;
    double base_lr;            /* required, > 0 (not read by ONE_CYCLE) */
    int step_size;            /* STEP (required) */
    double gamma;              /* STEP, MULTISTEP: 0.1; EXPONENTIAL (required); EXP_RANGE: 1 */
    int milestones[NN_SCHED_MAX_MILESTONES]; /* MULTISTEP, increasing */
    int n_milestones;
    double decay;              /* INVERSE_TIME */
    int t_max;                /* COSINE (required) */
    double eta_min;            /* COSINE, COSINE_RESTARTS: 0 */
    int t_0, t_mult;          /* COSINE_RESTARTS: t_0 required, t_mult 1 */
    double max_lr;             /* CYCLIC, ONE_CYCLE (required) */
    int step_size_up;         /* CYCLIC: 2000 */
    int step_size_down;       /* CYCLIC: -1 = step_size_up (torch's None) */
    nn_cyclic_mode cyclic_mode;
    int total_steps;          /* ONE_CYCLE (required) */
    double pct_start;          /* ONE_CYCLE: 0.3 */
    double div_factor;         /* ONE_CYCLE: 25 */
    double final_div_factor;   /* ONE_CYCLE: 1e4 */
    double base_momentum, max_momentum; /* ONE_CYCLE: 0.85, 0.95 */
    int anneal_linear;        /* ONE_CYCLE: 1 = anneal_strategy='linear' (0: 'cos') */
    int three_phase;          /* ONE_CYCLE: 1 = torch's three_phase (back down to the
                                 initial lr by 2 pct_start, then annealed) */
    int mode_max;             /* PLATEAU: 1 = higher metric is better */
    int threshold_abs;        /* PLATEAU: 1 = absolute threshold */
    double factor;             /* PLATEAU: 0.1 */
    int patience;             /* PLATEAU: 10 */
    double threshold;          /* PLATEAU: 1e-4 */
    int cooldown;             /* PLATEAU: 0 */
    double min_lr;             /* PLATEAU: 0 */
    int warmup_steps;         /* linear warmup before the schedule: 0 */
    double warmup_start_factor;/* 1/3 */
    uint32_t tag;             /* NN_DESC_TAG (set by nn_sched_desc_default) */
} nn_sched_desc;

typedef struct nn_sched {
    nn_sched_desc d;
    long t;                   /* steps taken */
    double lr;                /* current learning rate */
    double momentum;          /* ONE_CYCLE momentum, else 0 */
    long t_cur, t_i;          /* COSINE_RESTARTS position */
    double best;              /* PLATEAU */
    int num_bad, cooldown_left;
    char error[NN_ERROR_MAX];
} nn_sched;

NNDEF nn_sched_desc nn_sched_desc_default(nn_sched_kind kind, double base_lr);
NNDEF nn_result nn_sched_init(nn_sched *s, const nn_sched_desc *desc);
/* Advance one step; metric is read by PLATEAU only. Returns the new lr.
   Counters saturate: a schedule never overflows, however long it runs. */
NNDEF float nn_sched_step(nn_sched *s, float metric);
NNDEF float nn_sched_lr(const nn_sched *s);
NNDEF float nn_sched_momentum(const nn_sched *s);
/* Linear momentum annealing, e.g. 0.5 -> 0.99 over the first steps (the
   course's advice for classic momentum): start + (end-start) min(t/steps, 1). */
NNDEF float nn_momentum_anneal(float start, float end, long t, long steps);

/* ---- training utilities ------------------------------------------------ */
/* Global-norm clipping as torch's clip_grad_norm_: scales every gradient by
   max_norm / (norm + 1e-6) when that is below 1; returns the norm before. */
NNDEF float nn_clip_grad_norm(float *grads, size_t n, float max_norm);
NNDEF void nn_clip_grad_value(float *grads, size_t n, float clip);
/* NN_ERR_NONFINITE if any value or gradient of the runs is NaN or Inf;
   *bad (may be NULL) gets the index of the first bad run, else -1. */
NNDEF nn_result nn_check_finite(const nn_param *params, int n, int *bad);
/* Minibatch gather from a data set kept as bytes (images stay uint8; floats
   exist only per batch): row i of dst (B, F) = table[src row rows[i]], value
   by value, for F = nn_tensor_row_size(dst). table maps each byte to its
   float, so any per-value normalization costs one load. Every rows[i] is
   checked against n_src_rows first; on an error nothing is written. */
NNDEF nn_result nn_gather_u8(nn_tensor dst, const unsigned char *src, size_t n_src_rows, const int *rows,
                             const float table[256]);
/* table[v] = ((float)v / divisor - mean) / std: torchvision's ToTensor
   (divisor 255) followed by Normalize(mean, std), bit for bit. */
NNDEF void nn_u8_table_normalize(float table[256], float divisor, float mean, float std);

/* ---- serializer -------------------------------------------------------- */
/* A versioned, little-endian binary file holding the model's description
   (so a file alone rebuilds it), every parameter, the batch-norm running
   statistics and, optionally, what an exact resume needs: optimizer state,
   schedule state and RNG states. Every section carries a CRC-32C. The format
   is specified in docs/FORMAT.md. Loaders validate everything (magic,
   version, every count against limits and the bytes present, checksums,
   names and shapes against the caller's model) before they write anything:
   on any error the caller's model, optimizer, schedule and RNG are unchanged.
   File saves are atomic: a temporary file in the same directory is written,
   flushed, synced and renamed over the target. */
#define NN_FORMAT_VERSION_MAJOR 1
#define NN_FORMAT_VERSION_MINOR 5

/* What to save or restore besides the model; any pointer may be NULL. */
typedef struct nn_train_state {
    nn_optim *optim;
    nn_sched *sched;
    nn_rng *rng;          /* e.g. the data-shuffling RNG */
    struct nn_prep *prep; /* fitted input preprocessing (PREP section), saved when fitted;
                             loading restores it into arrays of the same sizes */
    struct nn_meta *meta; /* provenance (META section), saved and restored */
} nn_train_state;

/* CRC-32C (Castagnoli). Pass crc = 0 to start. */
NNDEF uint32_t nn_crc32c(uint32_t crc, const void *data, size_t len);

/* Exact size of the file nn_model_save_to_memory writes. */
NNDEF size_t nn_model_save_size(const nn_model *m, const nn_train_state *st);
/* Write into buf (cap bytes); *written gets the size. NN_ERR_OUT_OF_MEMORY
   when cap is too small (nothing useful written). */
NNDEF nn_result nn_model_save_to_memory(const nn_model *m, const nn_train_state *st, void *buf,
                                        size_t cap, size_t *written);
/* Load into a model built from the same description (names and shapes must
   match: NN_ERR_SHAPE_MISMATCH otherwise). st restores what it points to
   and what the file has (an optimizer or schedule saved with the file must
   match kind and size). */
NNDEF nn_result nn_model_load_from_memory(nn_model *m, nn_train_state *st, const void *buf, size_t len);
/* Read only the description: layers gets up to max_layers entries; with
   layers NULL only desc->n_layers is filled in (to size the array). */
NNDEF nn_result nn_model_desc_from_memory(nn_model_desc *desc, nn_layer_desc *layers, int max_layers,
                                          const void *buf, size_t len);
/* The model as an ONNX file (IR version 8, opset 17) for inference, written
   by nn.h's own protobuf writer: Gemm, Conv, MaxPool, AveragePool,
   GlobalAveragePool, BatchNormalization (running statistics), LayerNormalization,
   the activations (GELU spelled with Erf, SiLU with Sigmoid), Flatten where
   an image is read flat, maxout as Gemm, Reshape, ReduceMax; dropout is the
   identity. Input "input" (N, inputs) or (N, C, H, W), output "output"
   (N, outputs), N free. buf NULL: only *len (the exact size). */
NNDEF nn_result nn_model_export_onnx_to_memory(const nn_model *m, void *buf, size_t cap, size_t *len);
/* A model from an ONNX file in memory, as torch.onnx.export writes it (and
   nn_model_export_onnx): a chain of Gemm (y = x W^T + b), Conv, MaxPool,
   AveragePool, GlobalAveragePool, BatchNormalization, LayerNormalization,
   Flatten, Relu, Sigmoid, Tanh, Softplus, LeakyRelu, Elu, Softmax, Dropout
   and Identity, and the forms torch (opset 14) and nn.h spell in several
   nodes: GELU (Erf or tanh), SiLU, LayerNorm, maxout (constants checked);
   parameters matched by their place in the graph (torch renames them and
   folds batch norm into the convolution before it). Input (N, features) or
   (N, C, H, W). The model comes in EVAL mode with buffers for max_batch
   rows; anything else is refused naming the node (NN_ERR_UNSUPPORTED), a
   damaged file with NN_ERR_CORRUPT; on failure the arena is rewound and *m
   is untouched but its .error. Reading allocates about 350 KB of scratch
   (NN_MALLOC), whatever the file. */
NNDEF nn_result nn_model_init_from_onnx(nn_model *m, nn_arena *arena, const void *buf, size_t len, int max_batch);
NNDEF nn_result nn_model_arena_bytes_from_onnx(size_t *bytes, const void *buf, size_t len, int max_batch);
/* Arena bytes nn_model_init_from_memory needs for this file, with the
   model's buffers sized for max_batch rows (0: the max_batch stored in the
   file; e.g. larger for inference than for training). The file's framing,
   checksums and description are checked; nothing is allocated. */
NNDEF nn_result nn_model_arena_bytes_from_memory(size_t *bytes, const void *buf, size_t len, int max_batch);
/* Build a new model in the arena from the file alone, then load it. On
   failure the arena is rewound. */
NNDEF nn_result nn_model_init_from_memory(nn_model *m, nn_arena *arena, const void *buf, size_t len);
/* As init_from_memory (and init_from_file), with buffers for max_batch rows (0: the file's). */
NNDEF nn_result nn_model_init_from_memory_batch(nn_model *m, nn_arena *arena, const void *buf, size_t len,
                                                int max_batch);
#ifndef NN_NO_STDIO
NNDEF nn_result nn_model_save_to_file(const nn_model *m, const nn_train_state *st, FILE *f);
NNDEF nn_result nn_model_save(const nn_model *m, const nn_train_state *st, const char *path);
NNDEF nn_result nn_model_load(nn_model *m, nn_train_state *st, const char *path);
NNDEF nn_result nn_model_init_from_file(nn_model *m, nn_arena *arena, const char *path);
NNDEF nn_result nn_model_arena_bytes_from_file(size_t *bytes, const char *path, int max_batch);
/* The model as C source: const arrays and a <name>_init(nn_model*, nn_arena*)
   that builds it with no file I/O (for firmware and games). */
NNDEF nn_result nn_model_export_c(const nn_model *m, const char *name, FILE *f);
/* The model as an ONNX file for inference (see nn_model_export_onnx_to_memory). */
NNDEF nn_result nn_model_export_onnx(const nn_model *m, const char *path);
NNDEF nn_result nn_model_init_from_onnx_file(nn_model *m, nn_arena *arena, const char *path, int max_batch);

/* Checkpoints for a training loop: call once per epoch with the validation
   metric. Saves path_last every call (if set) and path_best when the metric
   improves (lower is better unless mode_max). *improved (may be NULL) tells. */
typedef struct nn_checkpoint {
    const char *path_best;
    const char *path_last;
    int mode_max;
    int has_best;
    float best;
} nn_checkpoint;
NNDEF nn_result nn_checkpoint_update(nn_checkpoint *c, const nn_model *m, const nn_train_state *st,
                                     float metric, int *improved);
#endif

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

/* ---- data: CSV, splits, batches, metrics ------------------------------- */
/* Numeric CSV. Every field literal: start from nn_csv_desc_default(). */
typedef struct nn_csv_desc {
    char delimiter;         /* 0: detect (the most frequent of , ; TAB on the first line) */
    int header;             /* 1 the first line names the columns, 0 it does not, -1 detect
                               (a header when a field of the first line is not a number) */
    int label_col;          /* the label's column index, -1: no label column */
    const char *label_name; /* when not NULL: the label column is the header field so named */
    int max_cols;           /* refuse wider files (default 65536) */
    int max_rows;           /* refuse longer files (default 1 << 24) */
    size_t max_bytes;       /* nn_csv_load: refuse bigger files (default 1 GiB) */
    uint32_t tag;           /* NN_DESC_TAG */
} nn_csv_desc;
NNDEF nn_csv_desc nn_csv_desc_default(void);
/* A parsed table: features as float, the label column apart. */
typedef struct nn_csv {
    int rows, cols;      /* cols counts the feature columns (the label is not one) */
    float *x;            /* rows x cols, row-major */
    float *y;            /* rows label values, NULL without a label column */
    int *labels;         /* y as class indices when every label is an integer in 0..65535,
                            else NULL */
    int n_classes;       /* 1 + the largest label (0 without labels) */
    char **names;        /* cols feature names from the header, NULL without one */
    char *label;         /* the label column's name, NULL without a header or label */
    void *owned;         /* the one NN_MALLOC block holding all of the above */
    char error[NN_ERROR_MAX]; /* what was wrong: "line 7, column 3: ..." */
} nn_csv;
/* Parse len bytes of text (need not end in NUL). Fields may be quoted ("a ""b"""),
   lines end in LF or CRLF, blank lines are skipped, a UTF-8 byte-order mark is
   skipped. Numbers are read as C's strtod reads them in the "C" locale and must be
   finite in float. Every row must have the first row's field count. Errors name the
   line and column (1-based); out keeps its old contents except .error. The memory
   taken is bounded by a small multiple of len. */
NNDEF nn_result nn_csv_parse(nn_csv *out, const nn_csv_desc *desc, const void *text, size_t len);
#ifndef NN_NO_STDIO
NNDEF nn_result nn_csv_load(nn_csv *out, const nn_csv_desc *desc, const char *path);
#endif
NNDEF void nn_csv_free(nn_csv *csv);

/* Splits. idx gets a permutation of 0..n-1 laid out [train | validation | test],
   the last two holding round(frac * count) rows each. With labels (classes
   0..n_classes-1) the split is stratified: each class is shuffled and split on its
   own, so every part keeps the class proportions. Same seed, same split. */
NNDEF nn_result nn_split(int *idx, int n, const int *labels, int n_classes, float val_frac, float test_frac,
                         uint64_t seed, int *n_train, int *n_val, int *n_test);
/* k-fold: fold_of[i] in 0..k-1 for each of the n rows, each fold within one row of
   n/k (stratified with labels: each class dealt round-robin after a shuffle). */
NNDEF nn_result nn_kfold(int *fold_of, int n, int k, const int *labels, int n_classes, uint64_t seed);
/* The rows of fold `fold` go to val, the others to train, in index order. */
NNDEF void nn_kfold_indices(const int *fold_of, int n, int fold, int *train, int *n_train, int *val, int *n_val);

/* Minibatches over n rows: an epoch is a pass over a permutation (reshuffled at
   every epoch from the seed, or 0..n-1 in order without shuffle); the last partial
   batch is kept or dropped. The index array (n ints) is the caller's. */
typedef struct nn_batcher {
    int *idx;
    int n, batch, pos, shuffle, drop_last;
    long epoch;  /* epochs started */
    nn_rng rng;
} nn_batcher;
NNDEF nn_result nn_batcher_init(nn_batcher *b, int *idx, int n, int batch, int shuffle, int drop_last, uint64_t seed);
/* The next batch's rows: returns their count (*rows points into the index array),
   0 at the end of an epoch; the call after that starts the next epoch. */
NNDEF int nn_batcher_next(nn_batcher *b, const int **rows);
/* Batches per epoch. */
NNDEF int nn_batcher_count(const nn_batcher *b);
/* Float rows: row i of dst (B, F) = src row rows[i]; rows checked first. */
NNDEF nn_result nn_gather_f32(nn_tensor dst, const float *src, size_t n_src_rows, const int *rows);

/* Metrics (sklearn's definitions; scores are logits or probabilities, n x k). */
/* argmax of each row, the first maximum on ties (NaN rows give 0) */
NNDEF void nn_argmax_rows(int *pred, const float *scores, int n, int k);
NNDEF float nn_accuracy(const int *pred, const int *labels, int n);
/* true label among the top_k scores; ties at the k-th score count against it */
NNDEF float nn_top_k_accuracy(const float *scores, const int *labels, int n, int k, int top_k);
/* counts[t * k + p] += 1 for true t and predicted p (counts: k x k, zeroed by the
   caller); rows with a label or prediction outside 0..k-1 are skipped; returns how many */
NNDEF int nn_confusion_add(int *counts, const int *pred, const int *labels, int n, int k);
/* Per-class precision, recall, F1 and support from a confusion matrix (any may be
   NULL), 0 where undefined (sklearn's zero_division=0); returns the macro averages
   in macro[3] and the support-weighted ones in weighted[3] (either may be NULL). */
NNDEF void nn_class_report(const int *counts, int k, float *precision, float *recall, float *f1, int *support,
                           float macro[3], float weighted[3]);
/* mean -log softmax(scores)[label] from logits, computed stably (no clipping) */
NNDEF float nn_log_loss_logits(const float *scores, const int *labels, int n, int k);
NNDEF float nn_mse(const float *pred, const float *target, size_t n);
NNDEF float nn_mae(const float *pred, const float *target, size_t n);
/* 1 - SS_res / SS_tot; with a constant target 1 if the fit is perfect, else 0;
   NaN below 2 rows (sklearn's r2_score) */
NNDEF float nn_r2(const float *pred, const float *target, size_t n);

/* ---- augmentation of image batches ------------------------------------ */
/* Random transforms for training images, in place, one draw per image (all
   its channels alike), in this order, each only when on:
     flip_p         horizontal flip with this probability (RandomHorizontalFlip)
     crop_padding   RandomCrop(H, W, padding=p): fill around, a random H x W
                    window: a shift by (dy, dx), each uniform in -p..p
     translate      RandomAffine(translate=(t, t)): a shift by (dy, dx), each
                    round(uniform(-t H, t H)) resp. (-t W, t W), fill shifted in
   Seeded by rng: same seed, same images. No allocation (rows move in place).
   x (N, C, H, W). In nn_fit (nn_fit_desc.augment) it runs on every training
   batch after the gather and before prep. fill is the value of a black
   pixel as the data holds it: 0 for raw data, table[0] for bytes read
   through a normalizing table (nn_u8_table_normalize). */
typedef struct nn_augment_desc {
    float flip_p;        /* [0, 1] (0) */
    int crop_padding;    /* >= 0 (0) */
    float translate;     /* fraction of the size, [0, 1) (0) */
    float fill;          /* what is shifted in (0) */
    uint32_t tag;        /* NN_DESC_TAG, set by nn_augment_desc_default */
} nn_augment_desc;
NNDEF nn_augment_desc nn_augment_desc_default(void); /* everything off */
NNDEF nn_result nn_augment_images(nn_tensor x, const nn_augment_desc *d, nn_rng *rng);
/* ---- images (with stb_image) ------------------------------------------- */
#if defined(STBI_INCLUDE_STB_IMAGE_H) && defined(STBIR_INCLUDE_STB_IMAGE_RESIZE_H)
/* Present only when <stb/stb_image.h> and <stb/stb_image_resize.h> (Debian's
   libstb-dev; upstream stb_image.h and stb_image_resize.h, v1) were included
   BEFORE nn.h, in every file that calls these functions and in the file that
   holds the implementation; their own implementations (STB_IMAGE_IMPLEMENTATION,
   STB_IMAGE_RESIZE_IMPLEMENTATION) must be compiled once somewhere:
       #define STB_IMAGE_IMPLEMENTATION
       #include <stb/stb_image.h>
       #define STB_IMAGE_RESIZE_IMPLEMENTATION
       #include <stb/stb_image_resize.h>
       #define NN_IMPLEMENTATION
       #include "nn.h"
   Without them nn.h compiles as before and has no image functions. PNGs go
   through stb_image's zlib functions too: where stb_image is built without
   PNG (STBI_NO_PNG, STBI_ONLY_*), define the same before nn.h's implementation
   and PNGs are refused instead.

   Decoding: PNG (every bit depth, palette, interlaced), JPEG (baseline and
   progressive), BMP and TGA, through stb_image; GIF, PSD, HDR, PIC and PNM
   are refused (NN_ERR_UNSUPPORTED). The format is found from the first bytes,
   never from a file name. Sources are converted by stb_image to the channels
   asked for: alpha is dropped (not composited), gray is stb_image's luma
   (77 R + 150 G + 29 B) >> 8 (JPEG: its Y plane), 16-bit samples keep their
   high byte. Then, if the size differs, stb_image_resize's stbir_resize_uint8
   resizes to width x height (aspect not kept; Catmull-Rom when enlarging,
   Mitchell when shrinking, edges clamped, no sRGB conversion): not PIL's
   filters, so pixels differ from torchvision's Resize by a few levels.
   Hostile input: checked before stb_image decodes, because stb_image alone
   does not: the size in the header against max_source_pixels (a PNG's IHDR,
   else stbi_info_from_memory); a PNG's image data is inflated once into a
   buffer of the size its header implies (plus an eighth), so a small file
   cannot make stb_image allocate gigabytes; a PNG, BMP or TGA cut short, or
   a JPEG with less scan data than its blocks take, is refused (stb_image
   fills the rest with zeros); a JPEG is refused when a Huffman table has
   more than 256 codes or a scan uses a Huffman or quantization table never
   defined (stb_image 2.27, Debian 12's, then writes past its tables or
   decodes from uninitialized memory). So the work a file makes is bounded by
   its size as well as by max_source_pixels. tests/fuzz_image.c runs all of
   it under AddressSanitizer and UBSan.
   stb_image's process-wide settings (stbi_set_flip_vertically_on_load,
   stbi_convert_iphone_png_to_rgb, ...) apply: leave them at their defaults.
   Each call allocates its scratch with NN_MALLOC (stb's own with STBI_MALLOC
   and STBIR_MALLOC); distinct calls may run on distinct threads where
   stb_image keeps its failure reason per thread (C11, C++11, gcc, clang). */
typedef struct nn_image_desc {
    int width, height;      /* output size; sources are resized to it (aspect not kept) */
    int channels;           /* 1 grayscale or 3 RGB: what every source is converted to */
    int max_source_pixels;  /* refuse sources whose header gives more pixels (default 1 << 24);
                               checked before decoding */
    size_t max_file_bytes;  /* refuse larger inputs (default 64 MiB; over INT_MAX always refused) */
    int max_images;         /* nn_image_folder_load: refuse a folder with more entries in its
                               class folders than this (default 1 << 20) */
    uint32_t tag;           /* NN_DESC_TAG */
} nn_image_desc;
/* Defaults for the fields not given; the caller overrides any of them. */
NNDEF nn_image_desc nn_image_desc_default(int width, int height, int channels);
/* Decode one PNG, JPEG, BMP or TGA file held in memory (len bytes, need not end
   in NUL) into dst: channels x height x width bytes, planar (CHW: all of the
   first channel, then the next; PyTorch's ToTensor order), after resizing.
   err (NN_ERROR_MAX bytes, may be NULL) gets the reason, stb_image's included.
   dst is untouched on any error. Errors: NN_ERR_INVALID_ARGUMENT (a bad
   description or NULL), NN_ERR_TRUNCATED (empty input, a file cut short),
   NN_ERR_TOO_LARGE (max_file_bytes, max_source_pixels), NN_ERR_UNSUPPORTED
   (GIF, PSD, HDR, PIC, PNM), NN_ERR_BAD_MAGIC (no known image signature),
   NN_ERR_CORRUPT (refused by the checks above or by stb_image),
   NN_ERR_OUT_OF_MEMORY. */
NNDEF nn_result nn_image_decode(unsigned char *dst, const nn_image_desc *d, const void *buf, size_t len,
                                char *err);
#ifndef NN_NO_STDIO
/* nn_image_decode on the bytes of a file (at most max_file_bytes); err names the file. */
NNDEF nn_result nn_image_load(unsigned char *dst, const nn_image_desc *d, const char *path, char *err);

/* An image-folder data set (torchvision's ImageFolder layout): root/<class>/<file>,
   one folder per class. Classes are the folders of root in strcmp order (label =
   index in that order); each class's files are read in strcmp order, so the
   order is the same on every machine. Entries whose name starts with '.' are
   ignored, and so are plain files in root itself. Every other entry of a class
   folder counts against max_images (read or not); sub-folders are not searched
   (each is listed as skipped).
   A file that cannot be used (not an image, corrupt, over a limit, unreadable)
   is skipped, counted in n_skipped and listed in `skipped` as a line
   "class/file: reason"; a class folder without a usable image keeps its label
   and gets a line "class/: no usable image (label k kept)" (not counted). The
   text keeps its first 64 KiB, then "...". Memory: one block, sized from the
   listing before anything is decoded (a slot per regular file, so at most
   max_images images, never what a file claims), shrunk to n images at the end.
   Errors (out unchanged but for .error): NN_ERR_INVALID_ARGUMENT, NN_ERR_IO (root
   cannot be listed), NN_ERR_TOO_LARGE (max_images, more than 65536 classes, a
   path over 4096 bytes), NN_ERR_CORRUPT (no class folder, or no usable image at
   all), NN_ERR_OUT_OF_MEMORY, NN_ERR_UNSUPPORTED (no POSIX directory listing on
   this platform). Feed batches through nn_gather_u8 (pixels stay uint8). */
typedef struct nn_image_folder {
    int n, n_classes, width, height, channels;
    unsigned char *pixels;  /* n x (channels * height * width) bytes, CHW per image */
    int *labels;            /* n class indices, 0..n_classes-1 */
    char **class_names;     /* n_classes folder names, sorted */
    int n_skipped;          /* files skipped */
    char *skipped;          /* NUL-terminated lines (see above); "" when none */
    void *owned;            /* the one NN_MALLOC block holding all of the above */
    char error[NN_ERROR_MAX]; /* what was wrong, "" after success */
} nn_image_folder;
NNDEF nn_result nn_image_folder_load(nn_image_folder *out, const nn_image_desc *d, const char *root);
/* Release what a load gave; accepts NULL and a freed or zeroed folder. */
NNDEF void nn_image_folder_free(nn_image_folder *f);
#endif /* NN_NO_STDIO */
#endif /* stb_image and stb_image_resize included */

/* Input preprocessing, fitted on training data only and saved with the model
   (the PREP section) so that a reloaded model sees its inputs as in training.
   Two stages, each optional, applied in order:
     1. per feature   x1 = (x - shift) * scale + offset        standardize, min-max
     2. projection    x2 = (x1 - mean) components^T [/ sqrt(variance) when whiten]   PCA
   in features go in, out come out (out = k components after PCA, else in). */
typedef struct nn_prep {
    int in, out;
    int affine;            /* stage 1 fitted */
    int k, k_max;          /* stage 2: components fitted (0: none), room for */
    int whiten;
    float *shift, *scale, *offset;   /* in each */
    float *mean;                      /* in */
    float *components;                /* k_max x in, rows by decreasing variance */
    float *variance, *variance_ratio; /* k_max: explained variance (ddof 1) and its share */
    char error[NN_ERROR_MAX];
} nn_prep;
NNDEF size_t nn_prep_arena_bytes(int in, int k_max);
/* Identity until fitted; k_max 0 when no PCA will be fitted. */
NNDEF nn_result nn_prep_init(nn_prep *p, nn_arena *arena, int in, int k_max);
/* x: n rows of p->in floats, the training data only. sklearn's StandardScaler:
   mean and population std (a feature with std 0 keeps scale 1). */
NNDEF nn_result nn_prep_fit_standardize(nn_prep *p, const float *x, int n);
/* sklearn's MinMaxScaler: [min, max] of the data to [lo, hi] (a constant
   feature maps to lo). */
NNDEF nn_result nn_prep_fit_minmax(nn_prep *p, const float *x, int n, float lo, float hi);
/* PCA of x after stage 1 (fit that first to standardize before PCA): the top k
   eigenvectors of the covariance (Jacobi, in double; O(in^3) time and two
   in x in double matrices of scratch from NN_MALLOC, freed before returning).
   Each component's largest entry is made positive. n >= 2, 1 <= k <= k_max. */
NNDEF nn_result nn_prep_fit_pca(nn_prep *p, const float *x, int n, int k, int whiten);
/* dst (B, out) from src (B, in); dst may be src when out == in. */
NNDEF nn_result nn_prep_apply(const nn_prep *p, nn_tensor dst, nn_tensor src);
/* One-hot rows: dst (n, k) = 1 at labels[i], else 0; labels outside 0..k-1 are
   an error, nothing written. */
NNDEF nn_result nn_one_hot(float *dst, const int *labels, int n, int k);

/* Where a model came from (the META section): "which data and settings made
   this model?". Strings are NUL-terminated; the library field is filled on save. */
typedef struct nn_meta {
    char label[64];        /* the user's version label, e.g. "fmnist-mlp 3" */
    char library[16];      /* nn.h version that wrote the file */
    int optim_kind;        /* nn_optim_kind, -1 unknown */
    float lr, weight_decay;
    int sched_kind;        /* nn_sched_kind, -1 none */
    int epochs, batch;
    uint64_t seed;
    uint32_t data_crc;     /* nn_crc32 of the training data's bytes, 0 unknown */
    uint64_t data_rows;
} nn_meta;
/* label copied (truncated to 63 bytes), this library's version, -1 kinds, the rest 0. */
NNDEF nn_meta nn_meta_make(const char *label);
/* Fills the optimizer and schedule fields from live objects (either may be NULL). */
NNDEF void nn_meta_set_training(nn_meta *meta, const nn_optim *o, const nn_sched *s, int epochs, int batch,
                                uint64_t seed);
/* Text, one "key: value" line per field; returns the length it needed. */
NNDEF size_t nn_meta_describe(const nn_meta *meta, char *buf, size_t size);
/* Read the PREP or META section of a model file held in memory. A file without
   the section gives NN_OK with p->in == 0 (no preprocessing) or a meta whose
   library field is empty. nn_prep_from_memory takes its arrays from arena. */
NNDEF nn_result nn_prep_from_memory(nn_prep *p, nn_arena *arena, const void *buf, size_t len);
NNDEF nn_result nn_meta_from_memory(nn_meta *meta, const void *buf, size_t len);
#ifndef NN_NO_STDIO
NNDEF nn_result nn_prep_load(nn_prep *p, nn_arena *arena, const char *path);
NNDEF nn_result nn_meta_load(nn_meta *meta, const char *path);
#endif

/* ---- fit: a training loop built from the public per-step functions ---- */
/* A data set as nn_fit reads it: features as floats or as bytes through a
   table (nn_u8_table_normalize), and class labels or regression targets. */
typedef struct nn_data {
    int n, features;
    const float *x;            /* n x features, or NULL when x_u8 */
    const unsigned char *x_u8; /* n x features bytes, each through table */
    const float *table;        /* 256 floats for x_u8 */
    const int *labels;         /* classification (cross-entropy): n classes, or NULL */
    const float *targets;      /* regression (MSE): n x target_dim, or NULL */
    int target_dim;
    const int *rows;           /* a view: only these n_rows rows of the n (e.g. one part
                                  of nn_split), or NULL for all n */
    int n_rows;
} nn_data;
/* Standardization fitted on a data set's rows (its view, if it has one),
   streamed in chunks: the uint8 form never needs a float copy of the data. */
NNDEF nn_result nn_prep_fit_standardize_data(nn_prep *p, const nn_data *d);
/* Batch rows gathered into x (B x features), labels or targets beside; rows
   index the whole storage (0..n-1), not the view. */
NNDEF nn_result nn_data_gather(const nn_data *d, const int *rows, int b, float *x, int *labels, float *targets);

typedef enum nn_monitor {
    NN_MONITOR_VAL_LOSS = 0,  /* lower is better */
    NN_MONITOR_VAL_ACCURACY,  /* higher is better (classification) */
    NN_MONITOR_TRAIN_LOSS     /* when there is no validation data */
} nn_monitor;
/* One epoch of history (NaN where not measured, e.g. accuracy of a regression). */
typedef struct nn_fit_epoch {
    float train_loss, train_acc, val_loss, val_acc, lr;
    double seconds;
} nn_fit_epoch;
typedef enum nn_fit_event { NN_FIT_BATCH = 0, NN_FIT_EPOCH } nn_fit_event;
/* What a callback sees. */
typedef struct nn_fit_state {
    nn_fit_event event;
    int epoch, epochs;         /* 1-based */
    int step, steps;           /* batches done in this epoch, per epoch */
    long global_step;
    float loss;                /* this batch's */
    float epoch_loss;          /* mean so far in this epoch */
    double elapsed, samples_per_s, eta; /* seconds since the epoch began; its ETA */
    const nn_fit_epoch *last;  /* NN_FIT_EPOCH: the epoch just measured */
    int improved;              /* NN_FIT_EPOCH: the monitored value improved */
    nn_model *model;
    nn_optim *optim;
} nn_fit_state;
/* Return nonzero to stop training (after this batch or epoch). */
typedef int (*nn_fit_callback)(const nn_fit_state *s, void *user);

/* Every field literal: start from nn_fit_desc_default(epochs, batch). */
typedef struct nn_fit_desc {
    int epochs, batch;         /* required */
    int shuffle;               /* 1: reshuffle every epoch (seeded) */
    int drop_last;             /* 0: keep the last partial batch */
    uint64_t seed;             /* shuffles and the validation split */
    float val_split;           /* 0: none; else held out of train (stratified by label) */
    const nn_data *val;        /* a validation set (then val_split must be 0) */
    const nn_prep *prep;       /* applied to every gathered batch, or NULL */
    nn_monitor monitor;        /* VAL_LOSS (TRAIN_LOSS without validation data) */
    int patience;              /* early stopping after this many epochs without
                                  improvement; -1: never stop early */
    float min_delta;           /* an improvement must beat the best by more */
    int restore_best;          /* 1: end with the weights of the best epoch */
    nn_sched *sched;           /* attached for the run; PLATEAU is stepped per epoch
                                  with the monitored value, others per batch or epoch */
    int sched_per_epoch;       /* 0: step sched after every batch */
    int decay_all;             /* 0: nn_optim_step_params (biases and norms not decayed);
                                  1: nn_optim_step over every parameter */
    const char *checkpoint;    /* save the best model here (atomic), or NULL */
    nn_train_state *checkpoint_state; /* what goes into it besides the model */
    nn_meta *meta;             /* filled: training settings, data rows and CRC */
    nn_fit_callback on_batch, on_epoch;
    void *user;
    nn_fit_epoch *history;     /* caller memory, history_cap epochs, or NULL */
    int history_cap;
    const nn_augment_desc *augment; /* random transforms of each training batch (the
                                  model's input_shape; before prep; its own stream
                                  seeded from seed), or NULL */
    /* Data-parallel training, one process per worker (e.g. over MPI; nn.h
       itself knows nothing of it). world > 1: batch is the global batch,
       shuffled the same on every worker (the same seed); worker rank trains
       on slice rank of world equal slices of it; after backward, reduce
       (when set) gets the worker's gradient block and must leave there the
       mean over workers, before the optimizer step. The mean by
       nn_grad_mean_ordered (each value summed in rank order) makes the run
       bit-identical to one process with accum = world (below) and the same
       batch, and to itself at any thread or process count. In a loop by
       hand the same call goes between nn_model_backward and the optimizer
       step. Needs batch %
       world == 0 and drop_last. Dropout and batch norm per worker, as
       PyTorch's DistributedDataParallel: give each worker its own dropout
       stream (nn_rng_jump the model's rng rank times) and keep one set of
       running statistics (broadcast rank 0's after each step); augment
       draws from a stream per worker (the rank's jump of its seed's). With
       any of them the run matches accum only in distribution. */
    int world, rank;
    nn_result (*reduce)(float *grads, size_t n, void *ctx);
    void *reduce_ctx;
    /* Gradient accumulation: accum > 1 takes each batch in accum equal
       micro-batches (batch / accum rows at a time: max_batch can be that
       small), their gradients summed in order (g_0 + g_1 + ..., each from
       zero) and scaled by 1 / accum, then one optimizer step. Needs batch %
       accum == 0 and drop_last; not with world > 1. */
    int accum;
    uint32_t tag;
} nn_fit_desc;
NNDEF nn_fit_desc nn_fit_desc_default(int epochs, int batch);
/* dst[i] = ((p_0[i] + p_1[i]) + ... + p_{k-1}[i]) * (1 / k), p_j = parts +
   j * stride: the mean in a fixed order, the same float operations as
   nn_fit's accum (what a deterministic data-parallel reduction calls on the
   gradients it gathered; dst may be parts). */
NNDEF void nn_grad_mean_ordered(float *dst, const float *parts, int k, size_t n, size_t stride);

typedef enum nn_fit_stop {
    NN_FIT_COMPLETED = 0, NN_FIT_EARLY_STOP, NN_FIT_CALLBACK_STOP, NN_FIT_NONFINITE
} nn_fit_stop;
typedef struct nn_fit_result {
    int epochs_run;
    int best_epoch;            /* 1-based, 0 if none */
    float best;                /* the monitored value there */
    nn_fit_stop stop;
    char error[NN_ERROR_MAX];  /* why it failed or stopped (e.g. the non-finite layer) */
} nn_fit_result;

/* Scratch nn_fit takes from its arena (returned when it ends). */
NNDEF size_t nn_fit_arena_bytes(const nn_model *m, const nn_data *train, const nn_fit_desc *d);
/* Trains m with o on train. Each step is: gather (and prep) a batch, forward,
   loss (cross-entropy with labels, MSE with targets), backward, the optimizer
   step (the _and_zero_grad form, so no separate zeroing pass; the gradients
   are zeroed once before the first step and are 0 when nn_fit returns), the
   batch schedule step: the hand-written loop with zero_grad, backward, step
   gets the same bits. After each epoch: validation in
   EVAL mode, history, schedule (PLATEAU gets the monitored value), early
   stopping, checkpoint, on_epoch. A non-finite loss stops training with
   NN_ERR_NONFINITE and the first layer whose output or parameters went bad
   named in res->error. No allocation after the arena scratch is taken. */
NNDEF nn_result nn_fit(nn_model *m, nn_optim *o, nn_arena *arena, const nn_data *train, const nn_fit_desc *d,
                       nn_fit_result *res);
#ifndef NN_NO_STDIO
/* A ready-made callback for on_batch and on_epoch: user is a FILE*. On a
   terminal one line rewritten in place (epoch, step, loss, samples/s, ETA);
   otherwise one plain line per epoch. Prints only when you pass it. */
NNDEF int nn_fit_progress(const nn_fit_state *s, void *file);
/* The history as CSV (epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds). */
NNDEF nn_result nn_fit_history_csv(const nn_fit_epoch *h, int n, FILE *f);
#endif

/* ---- diagnostics: gradient check, curvature (section 17) --------------- */
/* One batch and its loss, by nn_fit's rule: cross-entropy on the logits when
   labels is set (B class indices), else MSE against targets (B, outputs). */
typedef struct nn_batch {
    nn_tensor x;               /* (B, inputs), B <= max_batch */
    const int *labels;
    const float *targets;
} nn_batch;
/* Forward and the batch loss; with backward 1 also zero_grad and backward,
   so m->grads hold d loss / d params (and m->input_grad, when set, d loss /
   d x). NaN (m->error says why) on a bad batch. The model's mode applies:
   in TRAIN mode dropout draws masks and batch norm updates its running
   statistics, as in a training step. */
NNDEF float nn_model_loss(nn_model *m, nn_batch b, int backward);

/* A scalar function of n floats for the generic checks: returns f(x) and,
   when grad is not NULL, writes df/dx there. */
typedef double (*nn_objective)(void *user, const float *x, float *grad);

/* Gradient check: centred differences, the difference and the step taken
   in double: numeric_i = (f(x + h e_i) - f(x - h e_i)) / (2 h_i), where h_i
   is the step as it lands on the float32 coordinate ((float)(x+h) -
   (float)(x-h)) / 2; a model's loss is summed in double from its float
   outputs. Element i of a run (a parameter tensor, or the input) passes when
       |analytic_i - numeric_i| <= rtol |numeric_i| + atol S
   with S the largest |numeric| of the run's checked coordinates, but at least
   1e-2 of the largest analytic gradient of the whole check: float32 forward
   passes leave noise of about 1e-7 |output| / h in every numeric derivative,
   so a run whose true gradient is 0 (a bias just before batch norm) is
   judged against the model's scale, not its own noise.
   Defaults (nn_gradcheck_desc_default): h 1e-2, rtol 1e-2, atol 1e-3. On
   smooth models a correct backward shows worst relative errors of 1e-4 to
   5e-2 (the latter on elements near atol S), a wrong one fails outright
   (a 2% error in one element of a weight is caught and named). Kinks (ReLU
   at 0, max, L1) within h of a coordinate make its numeric derivative
   wrong: such an element can fail a correct backward; check with smooth
   activations (tanh, GELU), or a smaller h. max_per_run > 0 checks that many
   coordinates of each run (evenly strided from a seeded offset). */
typedef struct nn_gradcheck_desc {
    double step, rtol, atol;
    int max_per_run;           /* 0: every coordinate */
    int check_input;           /* nn_gradcheck_model: also d loss / d x */
    uint64_t seed;
    uint32_t tag;
} nn_gradcheck_desc;
NNDEF nn_gradcheck_desc nn_gradcheck_desc_default(void);
#define NN_GRADCHECK_WORST 8
#define NN_GRADCHECK_RUNS 64
typedef struct nn_gradcheck_elem {
    char run[32];              /* e.g. "0.weight", "input", "x" */
    long index;                /* within the run */
    double analytic, numeric;
    double excess;             /* |a - n| / (rtol |n| + atol scale): above 1 fails */
} nn_gradcheck_elem;
typedef struct nn_gradcheck_run {
    char name[32];
    long size, checked, failed;
    double scale;              /* max |numeric| over the checked coordinates */
    double max_rel;            /* max |a - n| / max(|a|, |n|) where that is >= atol scale */
} nn_gradcheck_run;
typedef struct nn_gradcheck_result {
    long checked, failed;
    double max_rel;            /* over every run */
    int n_runs;                /* runs[] filled (at most NN_GRADCHECK_RUNS; more are
                                  checked and counted, not listed) */
    nn_gradcheck_run runs[NN_GRADCHECK_RUNS];
    int n_worst;
    nn_gradcheck_elem worst[NN_GRADCHECK_WORST]; /* largest excess first */
    char error[NN_ERROR_MAX];
} nn_gradcheck_result;
/* The model's backward against centred differences of its loss on one batch
   (every parameter run, and the input with check_input). The model is left
   as it was (parameters bit for bit, running statistics, dropout stream)
   except m->grads, which hold the analytic gradient. Dropout masks are the
   same in every evaluation. Scratch comes from the arena and is given back.
   NN_OK when every checked element passes, NN_ERR_CHECK_FAILED when one fails
   (r->worst names it), another error for bad arguments. One layer in
   isolation is a model of that one layer. */
NNDEF nn_result nn_gradcheck_model(nn_model *m, nn_batch b, const nn_gradcheck_desc *d, nn_arena *scratch,
                                   nn_gradcheck_result *r);
/* The same check for any function, e.g. a layer of your own with a loss of
   sum(y * r) for a fixed random r: x (n floats) is perturbed and restored;
   grad (n floats) receives the analytic gradient. One run, named "x". */
NNDEF nn_result nn_gradcheck_fn(nn_objective f, void *user, float *x, float *grad, size_t n,
                                const nn_gradcheck_desc *d, nn_gradcheck_result *r);
#ifndef NN_NO_STDIO
/* The result as text: a line per run, then the worst elements. */
NNDEF void nn_gradcheck_print(const nn_gradcheck_result *r, FILE *f);
#endif

/* Curvature of the batch loss in the parameters. Products with the Hessian
   come from centred differences of gradients,
       H v ~ (g(w + r v) - g(w - r v)) / (2 r),  r = step / |v|,
   exact for a quadratic loss up to float32 rounding of the two gradients
   (relative error about 1e-7 |g| / (step |Hv|)); otherwise the truncation
   error is O(step^2) times the third derivative. step 0 means 1e-2. Each
   product is two forward and backward passes; the model is left as it was
   (parameters bit for bit, running statistics, dropout stream; m->grads
   hold the gradient at w). Every function takes its scratch (4 n_params
   floats and a copy of the running statistics) from the arena and gives it
   back. Use EVAL mode, or a model without dropout, for a function of the
   parameters alone. */
NNDEF nn_result nn_hessian_vector(nn_model *m, nn_batch b, const float *v, float *hv, float step,
                                  nn_arena *scratch);
/* The full Hessian, n_params x n_params row-major into H, one product per
   column, then symmetrized ((H + H^T) / 2); *asymmetry (may be NULL) gets
   max |H - H^T| / max |H| before that, a check of the differencing. For
   small models: n_params products. */
NNDEF nn_result nn_hessian_full(nn_model *m, nn_batch b, float *H, float step, nn_arena *scratch, double *asymmetry);
/* The eigenvalue of largest magnitude (sharpness, when the loss is near a
   minimum and it is positive) by power iteration from a seeded random
   vector: stops when the estimate changes by less than tol relatively, or
   after iters products. vec (n_params, may be NULL) gets the unit
   eigenvector; *done_iters (may be NULL) the products used. */
NNDEF nn_result nn_hessian_top_eigen(nn_model *m, nn_batch b, int iters, double tol, uint64_t seed, float step,
                                     nn_arena *scratch, double *lambda, float *vec, int *done_iters);
/* Hutchinson's estimate of the trace: the mean of v^T H v over samples
   seeded Rademacher vectors (entries +-1); *std_err (may be NULL) is the
   standard error of that mean. */
NNDEF nn_result nn_hessian_trace(nn_model *m, nn_batch b, int samples, uint64_t seed, float step, nn_arena *scratch,
                                 double *trace, double *std_err);

/* ---- diagnostics: training statistics, learning-rate range test -------- */
/* Per internal layer, from the last forward and backward (and, for the
   update ratio, a copy of the parameters from before the optimizer step).
   No allocation; O(batch x width) per layer: cheap enough every N steps.
   The "activation" of a layer is its own output for activation layers;
   dead and saturated fractions are -1 where they do not apply. */
typedef struct nn_layer_stats {
    int layer;                 /* index into m->layers */
    nn_layer_kind kind;
    nn_act act;                /* ACT layers: the function; others NN_ACT_IDENTITY */
    int units;                 /* outputs per row */
    float out_mean, out_std;   /* of the layer's output over the batch */
    float dead_fraction;       /* ReLU, LeakyReLU: units whose input was <= 0 on every row */
    float saturated_fraction;  /* sigmoid: outputs < 0.01 or > 0.99 (slope < 0.0099);
                                  tanh: |output| > 0.99 (slope < 0.0199); of all outputs */
    float weight_norm, grad_norm; /* L2 of the weight (dense, maxout, norms' gamma); 0 if none */
    float update_ratio;        /* |w - w_before| / |w_before|, -1 without params_before */
} nn_layer_stats;
/* Fills out[0..min(cap, n_layers)) and returns m->n_layers (0 before any
   forward). params_before: n_params floats copied before the step, or NULL. */
NNDEF int nn_model_layer_stats(const nn_model *m, const float *params_before, nn_layer_stats *out, int cap);

/* Learning-rate range test (Smith 2015; the "LR finder" of fastai): steps
   minibatches of train with the lr growing exponentially from lr_min to
   lr_max, recording the loss smoothed as an exponential moving average
   (factor smooth, bias-corrected); stops early once the smoothed loss exceeds
   diverge x its minimum. Suggests the lr where the smoothed loss falls
   fastest against log(lr) (the first tenth of the points left out: the
   average has not settled there), and reports the lr of the minimum (a
   tenth of it is the other common rule). The model and the optimizer are
   left as they were (parameters, moments, step count, lr, schedule, running
   statistics, dropout stream, mode), except that m->grads end at 0 and
   m->batch is the sweep's; scratch from the arena, given back. Refused data
   (a label out of range, a prep of another width) is an error, not a
   divergence. */
#define NN_LR_FIND_MAX 1000
typedef struct nn_lr_find_desc {
    double lr_min, lr_max;     /* default 1e-7, 10 */
    int steps;                 /* default 100, at most NN_LR_FIND_MAX */
    int batch;                 /* default 64 */
    double smooth;             /* default 0.98 */
    double diverge;            /* default 4 */
    uint64_t seed;             /* the batches' order */
    const nn_prep *prep;       /* applied to each gathered batch, or NULL */
    int decay_all;             /* as nn_fit: 0 leaves biases and norms undecayed */
    uint32_t tag;
} nn_lr_find_desc;
NNDEF nn_lr_find_desc nn_lr_find_desc_default(void);
typedef struct nn_lr_find_result {
    int n;                     /* points recorded */
    float lr[NN_LR_FIND_MAX], loss[NN_LR_FIND_MAX], smoothed[NN_LR_FIND_MAX];
    double suggested;          /* steepest descent */
    double min_lr;             /* lr at the smallest smoothed loss */
    int diverged;              /* stopped before steps */
    char error[NN_ERROR_MAX];
} nn_lr_find_result;
NNDEF nn_result nn_lr_find(nn_model *m, nn_optim *o, nn_arena *scratch, const nn_data *train,
                           const nn_lr_find_desc *d, nn_lr_find_result *r);

/* ---- hyperparameter search --------------------------------------------- */
/* A search space is an array of dimensions; a trial is one point of it (and a
   budget), scored by your function: lower is better (return 1 - accuracy,
   or a validation loss). The search never trains anything itself, so every
   value you can set can be searched: lr, width, depth, dropout, weight
   decay, batch size, optimizer kind, epochs, ... Methods:
     GRID            every combination: dims' grid points (uniform: evenly
                     spaced ends included; log-uniform: geometric; int: evenly
                     spaced distinct; choice: all), odometer order, last fastest
     RANDOM          trials independent draws (log-uniform uniform in log)
     COARSE_TO_FINE  rounds of trials draws; each round's box is the range of
                     the best keep fraction of all trials so far (in the
                     dim's own scale, widened by a tenth and half a trial's
                     share; choices: those among the best)
     HALVING         successive halving: trials random configurations at
                     budget, the best 1/eta of them again at eta x budget, ...
                     until one is left (Jamieson & Talwalkar 2016)
     TPE             Tree-structured Parzen Estimator, Optuna's default
                     (univariate): startup random trials, then per dimension
                     a Parzen density of the best gamma fraction (l) and of
                     the rest (g); of candidates draws from l the one with the
                     largest l / g is tried (Bergstra et al. 2011)
   zero_p > 0 on a log-uniform dimension adds the value 0 (no decay, no
   dropout): drawn with that probability, and a grid point of its own.
   Seeded: the same seed and the same scores give the same trials. */
typedef enum nn_hp_kind { NN_HP_UNIFORM = 1, NN_HP_LOG_UNIFORM, NN_HP_INT, NN_HP_CHOICE } nn_hp_kind;
#define NN_HP_MAX_DIMS 16
#define NN_HP_MAX_CHOICES 16
typedef struct nn_hp_dim {
    const char *name;
    nn_hp_kind kind;
    double lo, hi;             /* UNIFORM; LOG_UNIFORM (0 < lo); INT (both included) */
    double zero_p;             /* LOG_UNIFORM: chance of exactly 0 */
    int n_choices;             /* CHOICE */
    double choices[NN_HP_MAX_CHOICES];       /* the values a trial gets */
    const char *labels[NN_HP_MAX_CHOICES];   /* their names (CSV, printing), or NULL */
    int grid;                  /* GRID points (CHOICE: all; INT: at most hi - lo + 1) */
} nn_hp_dim;
NNDEF nn_hp_dim nn_hp_uniform(const char *name, double lo, double hi);
NNDEF nn_hp_dim nn_hp_log_uniform(const char *name, double lo, double hi, double zero_p);
NNDEF nn_hp_dim nn_hp_int(const char *name, int lo, int hi);
/* values[n] (labels may be NULL): e.g. {NN_OPTIM_SGD, NN_OPTIM_ADAM} with {"sgd", "adam"} */
NNDEF nn_hp_dim nn_hp_choice(const char *name, int n, const double *values, const char *const *labels);

typedef struct nn_hp_trial {
    int id;                    /* 0, 1, ... in the order run */
    int config;                /* HALVING: the configuration (several trials, one per rung); else id */
    int rung;                  /* HALVING: 0, 1, ...; else COARSE_TO_FINE's round, or 0 */
    double budget;
    double x[NN_HP_MAX_DIMS];  /* the values, in the dims' order (INT: whole numbers) */
    int choice[NN_HP_MAX_DIMS];/* CHOICE: the index of x in choices; else -1 */
    double score;              /* what the objective returned (NaN: failed, never best) */
} nn_hp_trial;
/* Score one trial: t->x (and t->budget, e.g. epochs); lower is better. */
typedef double (*nn_hp_objective)(void *user, const nn_hp_trial *t);
typedef enum nn_hp_method {
    NN_HP_GRID = 1, NN_HP_RANDOM, NN_HP_COARSE_TO_FINE, NN_HP_HALVING, NN_HP_TPE
} nn_hp_method;
typedef struct nn_hp_search_desc {
    nn_hp_method method;
    int trials;                /* RANDOM, TPE: in all; COARSE_TO_FINE: per round;
                                  HALVING: configurations at the first rung */
    int rounds;                /* COARSE_TO_FINE: 3 */
    double keep;               /* COARSE_TO_FINE: 0.25 */
    double budget;             /* every trial's (HALVING: the first rung's): 1 */
    double eta;                /* HALVING: 3 */
    int startup;               /* TPE: 10 */
    double gamma;              /* TPE: 0.25 */
    int candidates;            /* TPE: 24 */
    uint64_t seed;
    uint32_t tag;
} nn_hp_search_desc;
/* Defaults for the method: trials 20 (HALVING 27), others as above. */
NNDEF nn_hp_search_desc nn_hp_search_desc_default(nn_hp_method method);
/* Trial records the search will write (size trials[] with it); 0 if invalid. */
NNDEF int nn_hp_search_count(const nn_hp_dim *dims, int n_dims, const nn_hp_search_desc *d);
typedef struct nn_hp_result {
    int n_trials;              /* records written */
    int best;                  /* index into trials of the best (HALVING: the best of
                                  the last rung), -1 if every score was NaN */
    char error[NN_ERROR_MAX];
} nn_hp_result;
/* Runs the search: f is called once per trial, in order. cap must hold
   nn_hp_search_count records. */
NNDEF nn_result nn_hp_search(const nn_hp_dim *dims, int n_dims, const nn_hp_search_desc *d, nn_hp_objective f,
                             void *user, nn_hp_trial *trials, int cap, nn_hp_result *res);
#ifndef NN_NO_STDIO
/* Every trial as CSV: id,config,rung,budget,<dim names...>,score (choices by label). */
NNDEF nn_result nn_hp_trials_csv(const nn_hp_dim *dims, int n_dims, const nn_hp_trial *t, int n, FILE *f);
#endif

/* == 18. int8 quantized inference ===========================================
   Post-training quantization of a trained model's dense and conv layers,
   for inference only: weights int8, symmetric, one scale per output channel
   (s_w[o] = max |w[o,:]| / 127); each such layer's input int8, symmetric,
   one scale per layer calibrated on samples the caller gives (s_x =
   max |x| / 127 over them); products summed in int32 (exact), then
   y = acc * (s_x s_w[o]) + b[o] in float and the activation in float.
   A batch norm right after a dense (batchnorm2d after a conv) layer with no
   activation is folded into its weights (EVAL statistics) before they are
   quantized; activation layers join the layer before them; dropout,
   dropout2d and flatten are the identity. Max, average and global average
   pooling run in float between the int8 layers (their input is exact
   there; no scale to calibrate). A conv quantizes its input image once,
   gathers each output pixel's patch into a row and goes through the same
   kernels as a dense layer (padding is 0 in int8 as in float). Not
   supported: grouped convs, layer norm, maxout, and a layer that sums more
   than 65,536 products per output (the int32 sums stay exact up to there):
   init returns NN_ERR_UNSUPPORTED naming the layer.
   Kernels: AVX-512 VNNI (vpdpbusd), AVX2 (vpmaddubsw on |x| and sign-moved
   w: no saturation, as |x|, |w| <= 127), NEON (vmull_s8), and a plain twin;
   integer sums are exact, so every kernel gives the same bits.
   Quantizing a value: round half away from zero of x / s, clamped to
   [-127, 127]; NaN becomes 0.
   Shipping: nn_qmodel_save writes the int8 model as a weight file (format
   1.5, one QNT8 section: a quarter of the float file) that
   nn_qmodel_init_from_file reads back with the hostile-input rules of every
   loader; nn_qmodel_export_c writes it as C source (static const arrays and
   an init function): with NN_NO_TRAINING and a static arena it runs with no
   heap and no float weights at all. Measured on Fashion-MNIST
   (tests/test_quant.c, 784-256-128-10, 2 epochs): test accuracy 85.55%
   float, 85.52% int8; weights 3.95x smaller; batch 1 2.2x faster than float
   with the VNNI kernel (bench: 2.6x on the flagship 784-512-256-10). At
   batch 256 the VNNI kernel takes rows four at a time and is still slower
   than float (100k against 125k samples/s here). */
typedef enum nn_qkernel {
    NN_QKERNEL_PLAIN = 0, NN_QKERNEL_AVX2, NN_QKERNEL_VNNI, NN_QKERNEL_NEON
} nn_qkernel;
#define NN_QMAX_LAYERS 64
/* DENSE and CONV2D run in int8; the pools run in float between them */
typedef enum nn_qlayer_kind {
    NN_QLAYER_DENSE = 0, NN_QLAYER_CONV2D, NN_QLAYER_MAXPOOL2D, NN_QLAYER_AVGPOOL2D, NN_QLAYER_GLOBAL_AVGPOOL
} nn_qlayer_kind;
/* R below: the rows of wq, one per output channel (DENSE out, CONV2D
   channels); K: a row's length (DENSE in, CONV2D C kh kw, the order of the
   float weights (OC, C, KH, KW)). */
typedef struct nn_qlayer {
    int in, out, kpad;         /* floats per sample in and out; kpad: K rounded up to 64, wq's row stride */
    nn_act act;                /* applied in float after the int32 sum is scaled (or the pool) */
    float alpha;
    float in_scale;            /* s_x: calibrated (int8 kinds) */
    const int8_t *wq;          /* (R, kpad), zero padded; NULL for the pools */
    const float *wscale;       /* (R) s_w */
    const float *scale;        /* (R) s_x s_w: one multiply per output */
    const float *bias;         /* (R), batch norm folded in */
    const int32_t *wsum;       /* (R) 128 sum_k wq[o,k]: the VNNI kernel's offset */
    /* images (0.3): a dense layer leaves these 0 */
    nn_qlayer_kind kind;
    int shape[3];              /* (C, H, W) of a sample's input: CONV2D and the pools */
    int channels;              /* CONV2D: output channels (R) */
    nn_conv2d_geom geom;       /* CONV2D and the 2-d pools: groups 1 */
    int count_include_pad;     /* AVGPOOL2D */
} nn_qlayer;
typedef struct nn_qmodel {
    int n_layers, inputs, outputs, max_batch;
    nn_qlayer layers[NN_QMAX_LAYERS];
    nn_qkernel kernel;         /* the best the CPU has; a caller may pick a lower one */
    size_t weight_bytes;       /* int8 weights (unpadded), their scales and the biases in float */
    size_t float_weight_bytes; /* the same weights as the float model holds them */
    int8_t *xq;                /* (max_batch, widest kpad) a layer's quantized input */
    int32_t *acc;              /* (max_batch, widest out) */
    float *buf[2];             /* (max_batch, widest out) float activations */
    char error[NN_ERROR_MAX];
    int8_t *ximg;              /* (max_batch, widest conv in) a conv's input in int8; NULL without conv */
    int *argmax;               /* (max_batch, widest max pool out); NULL without one */
} nn_qmodel;
/* Bytes nn_qmodel_init takes from its arena for model m at batches up to
   max_batch; 0 if m has a layer that cannot be quantized. */
NNDEF size_t nn_qmodel_arena_bytes(const nn_model *m, int max_batch);
/* Quantize m (left unchanged; its mode is restored): calib (N, inputs) are
   the calibration samples (a few hundred training rows), run through m in
   EVAL mode in batches of m->max_batch. */
NNDEF nn_result nn_qmodel_init(nn_qmodel *q, nn_arena *arena, nn_model *m, nn_tensor calib, int max_batch);
/* x (B, inputs) -> (B, outputs) in float; .data NULL on a bad batch (q->error) */
NNDEF nn_tensor nn_qmodel_forward(nn_qmodel *q, nn_tensor x);
/* A quantized model from layers already made (what nn_qmodel_export_c's
   code passes: its arrays, compiled in): checks that they chain, takes only
   the scratch from the arena (nn_qmodel_scratch_bytes), no copy of them. */
NNDEF size_t nn_qmodel_scratch_bytes(const nn_qlayer *layers, int n_layers, int max_batch);
NNDEF nn_result nn_qmodel_init_layers(nn_qmodel *q, nn_arena *arena, const nn_qlayer *layers, int n_layers,
                                      int max_batch);
#ifndef NN_NO_STDIO
/* The quantized model as C source: int8 weights, scales and biases as
   static const arrays, and name_qinit(q, arena) for batches up to q's
   max_batch (NAME_QMAX_BATCH); NAME_QARENA_BYTES sizes its arena (scratch). */
NNDEF nn_result nn_qmodel_export_c(const nn_qmodel *q, const char *name, FILE *f);
#endif
/* The int8 model as a weight file (format 1.5: the header and one required
   QNT8 section, docs/FORMAT.md; a float reader says NN_ERR_UNSUPPORTED, an
   older one NN_ERR_VERSION). Saving to a path is atomic, as nn_model_save.
   Reading checks every count against the bytes present before using it,
   every weight in [-127, 127], every scale finite and > 0, and that the
   layers chain; on any failure q and the arena are left as they were.
   max_batch 0 takes the batch the model was made for. */
NNDEF size_t nn_qmodel_save_size(const nn_qmodel *q);
NNDEF nn_result nn_qmodel_save_to_memory(const nn_qmodel *q, void *buf, size_t cap, size_t *written);
NNDEF nn_result nn_qmodel_arena_bytes_from_memory(size_t *bytes, const void *buf, size_t len, int max_batch);
NNDEF nn_result nn_qmodel_init_from_memory(nn_qmodel *q, nn_arena *arena, const void *buf, size_t len, int max_batch);
#ifndef NN_NO_STDIO
NNDEF nn_result nn_qmodel_save(const nn_qmodel *q, const char *path);
NNDEF nn_result nn_qmodel_arena_bytes_from_file(size_t *bytes, const char *path, int max_batch);
NNDEF nn_result nn_qmodel_init_from_file(nn_qmodel *q, nn_arena *arena, const char *path, int max_batch);
#endif
/* "dense", "conv2d", "maxpool2d", "avgpool2d", "global_avgpool" */
NNDEF const char *nn_qlayer_kind_name(nn_qlayer_kind k);
/* The kernel's name: "plain", "AVX2", "AVX-512 VNNI", "NEON". */
NNDEF const char *nn_qkernel_name(nn_qkernel k);

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
#ifdef _MSC_VER
/* C4996: MSVC deprecates fopen and sprintf (an error under /sdl); the
   buffers here are sized for what they hold */
#pragma warning(push)
#pragma warning(disable : 4996)
#endif

/* == 1. config, result codes, version ==================================== */
#include <string.h>
#include <math.h>
#include <limits.h>
#include <stdio.h> /* snprintf; NN_NO_STDIO removes only the FILE and path functions */
#include <stdarg.h>
#include <stdlib.h> /* strtod */
/* Windows: its locks, condition variables and threads for the pool, and
   MoveFileEx and _commit for atomic saves. Lean and without the min/max
   macros; a program that wants all of windows.h includes it before nn.h.
   It defines IN, OUT, near, far, ERROR...: keep such names out of the file
   that holds the implementation (or give the implementation a file alone). */
#if defined(_WIN32) && (!defined(NN_NO_STDIO) || !defined(NN_NO_THREADS))
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#include <io.h>      /* _commit, _fileno */
#include <process.h> /* _beginthreadex */
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
   run time, so a plain `cc -O2` build still gets them on a CPU that has them.
   MSVC compiles intrinsics without target attributes; there (cl.exe and
   clang-cl) the CPU is read with __cpuid and _xgetbv rather than GCC's
   __builtin_cpu_supports. The MSVC path is written to the vendors' rules
   but has not run: no MSVC here (see "Windows" in the manual above). */
#if !defined(NN_NO_SIMD) && (defined(__x86_64__) || (defined(_M_X64) && !defined(_M_ARM64EC))) && \
    (defined(__GNUC__) || defined(__clang__) || defined(_MSC_VER))
#define NN__AVX2 1
#include <immintrin.h>
#ifdef _MSC_VER
#include <intrin.h> /* __cpuid, __cpuidex */
#define NN__CPUID 1
#endif
#if defined(__GNUC__) || defined(__clang__)
#if defined(_MSC_VER) /* clang-cl: <immintrin.h> leaves out what /arch did not enable */
#include <smmintrin.h>
#include <avxintrin.h>
#include <avx2intrin.h>
#include <fmaintrin.h>
#include <avx512fintrin.h>
#include <avx512vnniintrin.h>
#endif
#define NN__TARGET_AVX2 __attribute__((target("avx2,fma")))
#define NN__TARGET_AVX2_ONLY __attribute__((target("avx2")))
#define NN__TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define NN__TARGET_XSAVE __attribute__((target("xsave")))
/* an empty asm that makes the compiler treat x as changed: keeps a product
   rounded on its own where the compiler could contract it into an FMA */
#define NN__OPAQUE(x) __asm__("" : "+v"(x))
#else /* cl.exe: no target attributes, and it does not contract intrinsics */
#define NN__TARGET_AVX2
#define NN__TARGET_AVX2_ONLY
#define NN__TARGET_AVX512
#define NN__TARGET_XSAVE
#define NN__OPAQUE(x) ((void)0)
#endif
#else
#define NN__AVX2 0
#endif
#ifndef NN__CPUID
#define NN__CPUID 0
#endif
/* AVX-512F GEMM kernels beside the AVX2 ones, picked at run time too. */
#if NN__AVX2 && !defined(NN_NO_AVX512)
#define NN__AVX512 1
#else
#define NN__AVX512 0
#endif

/* NEON is part of every aarch64 CPU: no run-time check needed. */
#if !defined(NN_NO_SIMD) && defined(__aarch64__)
#define NN__NEON 1
#include <arm_neon.h>
#else
#define NN__NEON 0
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

/* NN_NO_TRAINING: the model keeps no gradients and its layers no backward
   pass (see INFERENCE ONLY in the manual) */
#ifdef NN_NO_TRAINING
#define NN__TRAINING 0
#define NN__BWD(f) NULL
#else
#define NN__TRAINING 1
#define NN__BWD(f) f
#endif
/* a static function that a configuration may leave unreferenced */
#if defined(__GNUC__) || defined(__clang__)
#define NN__MAYBE_UNUSED __attribute__((unused))
#else
#define NN__MAYBE_UNUSED
#endif

/* Range checks written so that NaN fails them: !(lo <= x && x <= hi). */
#define NN__IN(x, lo, hi) ((x) >= (lo) && (x) <= (hi))
#define NN__MIN(a, b) ((a) < (b) ? (a) : (b))
#define NN__MAX(a, b) ((a) > (b) ? (a) : (b))
/* A hint only: where the compiler has no prefetch it does nothing. */
#if defined(__GNUC__) || defined(__clang__)
#define NN__PREFETCH(p) __builtin_prefetch(p)
#else
#define NN__PREFETCH(p) ((void)(p))
#endif
/* C and C++ both accept this for "the zero value of a struct". */
#define NN__ZERO(x) memset(&(x), 0, sizeof(x))

/* Writes the detail of a failure into err (NN_ERROR_MAX bytes; may be NULL)
   and returns r, so a check reads: return nn__fail(err, NN_ERR_..., "...", ...). */
#if defined(__GNUC__) || defined(__clang__)
static nn_result nn__fail(char *err, nn_result r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
static nn_result nn__fail(char *err, nn_result r, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, NN_ERROR_MAX, fmt, ap);
        va_end(ap);
    }
    return r;
}

NNDEF const char *nn_result_string(nn_result r) {
    switch (r) {
    case NN_OK: return "ok";
    case NN_ERR_OUT_OF_MEMORY: return "out of memory (arena or allocator exhausted)";
    case NN_ERR_INVALID_ARGUMENT: return "invalid argument";
    case NN_ERR_IO: return "I/O error (cannot open, read, write or rename)";
    case NN_ERR_BAD_MAGIC: return "not a file of the expected type (bad magic)";
    case NN_ERR_VERSION: return "unsupported format version (or a section this reader must know)";
    case NN_ERR_TRUNCATED: return "file is truncated";
    case NN_ERR_CORRUPT: return "file is corrupt (inconsistent header or data)";
    case NN_ERR_CHECKSUM: return "checksum mismatch";
    case NN_ERR_TOO_LARGE: return "size exceeds the loader's limits";
    case NN_ERR_SHAPE_MISMATCH: return "shapes do not match the model";
    case NN_ERR_NONFINITE: return "NaN or Inf encountered";
    case NN_ERR_UNSUPPORTED: return "unsupported feature";
    case NN_ERR_CHECK_FAILED: return "check failed";
    }
    return "unknown error";
}

/* Byte order of files is fixed; these read it on any host. */
static uint32_t nn__le32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint32_t nn__be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
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
    if (!a) return NN_ERR_INVALID_ARGUMENT;
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
    if (!a) return NN_ERR_INVALID_ARGUMENT;
    NN__ZERO(*a);
    if (bytes > SIZE_MAX - 2 * NN_ARENA_ALIGN) return NN_ERR_OUT_OF_MEMORY; /* before rounding wraps */
    bytes = nn_arena_bytes_for(bytes);
    mem = NN_MALLOC(bytes + NN_ARENA_ALIGN);
    if (!mem) return NN_ERR_OUT_OF_MEMORY;
    r = nn_arena_init(a, mem, bytes + NN_ARENA_ALIGN);
    a->cap = bytes; /* exactly what was asked, whatever the alignment left over */
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
    if (!a || !a->base) return NULL;
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
NNDEF nn_tensor nn_tensor_none(void) {
    nn_tensor t;
    NN__ZERO(t);
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
    for (i = 0; i < t.rank && i < NN_MAX_RANK; i++) n *= (size_t)t.shape[i];
    return n;
}
NNDEF int nn_tensor_row_size(nn_tensor t) {
    int n = 1, i;
    for (i = 1; i < t.rank && i < NN_MAX_RANK; i++) n *= t.shape[i];
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
NNDEF void nn_rng_jump(nn_rng *r) {
    static const uint64_t jump[4] = {0x180ec6d33cfd0abaull, 0xd5a61266f0c9392cull, 0xa9582618e03fc9aaull,
                                     0x39abdc4529b1661cull};
    uint64_t t[4] = {0, 0, 0, 0};
    int i, b, k;
    for (i = 0; i < 4; i++)
        for (b = 0; b < 64; b++) {
            if (jump[i] & (1ull << b))
                for (k = 0; k < 4; k++) t[k] ^= r->s[k];
            (void)nn_rng_u64(r);
        }
    for (k = 0; k < 4; k++) r->s[k] = t[k];
}
NNDEF void nn_rng_shuffle(nn_rng *r, int *idx, int n) {
    int i, j, t;
    for (i = n - 1; i > 0; i--) {
        j = (int)nn_rng_below(r, (uint32_t)i + 1);
        t = idx[i]; idx[i] = idx[j]; idx[j] = t;
    }
}

/* == 5. kernels: gemm (reference, AVX2/FMA, AVX-512, NEON), threads, elementwise */
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
#define NN__NC 256  /* multiple of NR; B panel 256 KB of stack (192: 5-7% slower
                       on 256-1024 squares and 256x256x784, Zen 5) */

#if defined(__GNUC__) || defined(__clang__)
#define NN__ALIGNED64 __attribute__((aligned(64)))
#define NN__INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define NN__ALIGNED64
#define NN__INLINE __forceinline
#else
#define NN__ALIGNED64
#define NN__INLINE inline
#endif

typedef void (*nn__micro_fn)(int kc, const float *Ap, const float *Bp, float *C, int ldc,
                             int mr, int nr, float alpha, float beta);

#if NN__AVX2
/* 8x8 transpose: row j of dst (stride ds) gets element k + j of the 8 source
   rows. Packing is pure data movement: any path gives the same bits. */
NN__TARGET_AVX2_ONLY static NN__INLINE void nn__transpose8_avx2(float *dst, int ds, const float *const *row, int k) {
    __m256 r0 = _mm256_loadu_ps(row[0] + k), r1 = _mm256_loadu_ps(row[1] + k), r2 = _mm256_loadu_ps(row[2] + k);
    __m256 r3 = _mm256_loadu_ps(row[3] + k), r4 = _mm256_loadu_ps(row[4] + k), r5 = _mm256_loadu_ps(row[5] + k);
    __m256 r6 = _mm256_loadu_ps(row[6] + k), r7 = _mm256_loadu_ps(row[7] + k);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ds, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ds, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ds, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ds, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ds, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ds, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ds, _mm256_permute2f128_ps(u3, u7, 0x31));
}
/* The transposes of 8 rows along k = 0, 8, ... < kc, each 8x8 block step
   floats after the last in dst: one call per sliver, the blocks inlined.
   Returns the first k not done. */
NN__TARGET_AVX2_ONLY static int nn__transpose8_run_avx2(float *dst, int ds, size_t step, const float *const *row,
                                                        int kc) {
    int k;
    for (k = 0; k + 8 <= kc; k += 8, dst += step) nn__transpose8_avx2(dst, ds, row, k);
    return k;
}
#endif

/* op(A)[i0:i0+mc, p0:p0+kc] -> slivers of MR rows, each (kc, MR), zero-padded. */
static void nn__pack_a(float *Ap, int trans_a, const float *A, int lda, int i0, int mc,
                       int p0, int kc, int simd, int MR) {
    int s, r, k;
    for (s = 0; s < mc; s += MR) {
        int mr = NN__MIN(MR, mc - s);
        float *dst = Ap + (size_t)s * kc;
        if (!trans_a) {
            k = 0;
#if NN__AVX2
            /* rows in groups of 8 through an 8x8 transpose (rows past the tile
               repeat its last row, so nothing past the matrix is read); of each
               group the lanes that belong to the tile are kept */
            if (simd && mr == MR) {
                int g;
                for (g = 0; g < MR; g += 8) {
                    const float *row[8];
                    int lanes = NN__MIN(8, MR - g), kk;
                    for (r = 0; r < 8; r++)
                        row[r] = A + (size_t)(i0 + s + g + (r < lanes ? r : lanes - 1)) * lda + p0;
                    if (lanes == 8) { /* whole group: straight into the panel */
                        k = nn__transpose8_run_avx2(dst + g, MR, (size_t)8 * MR, row, kc);
                        continue;
                    }
                    for (kk = 0; kk + 8 <= kc; kk += 8) { /* a part group: through 64 floats */
                        float tmp[64];
                        int q;
                        nn__transpose8_run_avx2(tmp, 8, 0, row, 8);
                        for (q = 0; q < 8; q++) memcpy(dst + (kk + q) * MR + g, tmp + q * 8, (size_t)lanes * sizeof(float));
                        for (q = 0; q < 8; q++) row[q] += 8;
                    }
                    k = kk;
                }
            }
#else
            (void)simd;
#endif
            for (r = 0; r < MR; r++) {
                if (r < mr) {
                    const float *src = A + (size_t)(i0 + s + r) * lda + p0;
                    int kk;
                    for (kk = k; kk < kc; kk++) dst[kk * MR + r] = src[kk];
                } else {
                    int kk;
                    for (kk = k; kk < kc; kk++) dst[kk * MR + r] = 0.0f;
                }
            }
        } else if (mr == MR) { /* A^T: each k's MR values are contiguous */
            for (k = 0; k < kc; k++) memcpy(dst + k * MR, A + (size_t)(p0 + k) * lda + i0 + s, (size_t)MR * sizeof(float));
        } else {
            for (k = 0; k < kc; k++) {
                const float *src = A + (size_t)(p0 + k) * lda + i0 + s;
                for (r = 0; r < MR; r++) dst[k * MR + r] = r < mr ? src[r] : 0.0f;
            }
        }
    }
}

/* op(B)[p0:p0+kc, j0:j0+nc] -> slivers of NR columns, each (kc, NR), zero-padded. */
static void nn__pack_b(float *Bp, int trans_b, const float *B, int ldb, int j0, int nc,
                       int p0, int kc, int simd, int NR) {
    int s, c, k;
    for (s = 0; s < nc; s += NR) {
        int nr = NN__MIN(NR, nc - s);
        float *dst = Bp + (size_t)s * kc;
        if (!trans_b) {
            for (k = 0; k < kc; k++) {
                const float *src = B + (size_t)(p0 + k) * ldb + j0 + s;
                if (nr == NR) memcpy(dst + k * NR, src, (size_t)NR * sizeof(float));
                else
                    for (c = 0; c < NR; c++) dst[k * NR + c] = c < nr ? src[c] : 0.0f;
            }
        } else {
            k = 0;
#if NN__AVX2
            if (simd) { /* a partial sliver repeats its last row (no kernel stores those lanes) */
                const float *row[32];
                int g;
                for (c = 0; c < NR; c++) row[c] = B + (size_t)(j0 + s + (c < nr ? c : nr - 1)) * ldb + p0;
                for (g = 0; g < NR; g += 8) k = nn__transpose8_run_avx2(dst + g, NR, (size_t)8 * NR, row + g, kc);
            }
#else
            (void)simd;
#endif
            for (c = 0; c < NR; c++) {
                int kk;
                if (c < nr) {
                    const float *src = B + (size_t)(j0 + s + c) * ldb + p0;
                    for (kk = k; kk < kc; kk++) dst[kk * NR + c] = src[kk];
                } else {
                    for (kk = k; kk < kc; kk++) dst[kk * NR + c] = 0.0f;
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
/* C = alpha acc + beta C, one element, with the FMA written out: compilers
   differ in which multiply-adds they would fuse on their own, and the same
   bits from every compiler need the same fusing everywhere. */
NN__TARGET_AVX2 static float nn__fma1_avx2(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}
NN__TARGET_AVX2 static float nn__axpby1_avx2(float acc, float alpha, float beta, float c) {
    if (beta == 0.0f) return alpha * acc;
    if (beta == 1.0f) return nn__fma1_avx2(alpha, acc, c);
    return nn__fma1_avx2(beta, c, alpha * acc);
}

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
#define NN__MK_STEP(o)                                                                              \
    do {                                                                                            \
        __m256 b0 = _mm256_loadu_ps(Bp + (o) * NN__NR), b1 = _mm256_loadu_ps(Bp + (o) * NN__NR + 8), a; \
        a = _mm256_broadcast_ss(Ap + (o) * NN__MR + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01); \
        a = _mm256_broadcast_ss(Ap + (o) * NN__MR + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11); \
        a = _mm256_broadcast_ss(Ap + (o) * NN__MR + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21); \
        a = _mm256_broadcast_ss(Ap + (o) * NN__MR + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31); \
        a = _mm256_broadcast_ss(Ap + (o) * NN__MR + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41); \
        a = _mm256_broadcast_ss(Ap + (o) * NN__MR + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51); \
    } while (0)
    /* unrolled by 4, with the C tile and B a few steps ahead prefetched; the
       order of the FMAs on each accumulator is unchanged */
    /* (no C prefetch: it cost more than it saved) */
    for (k = 0; k + 4 <= kc; k += 4) {
        _mm_prefetch((const char *)(Bp + 8 * NN__NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(Bp + 10 * NN__NR), _MM_HINT_T0);
        NN__MK_STEP(0);
        NN__MK_STEP(1);
        NN__MK_STEP(2);
        NN__MK_STEP(3);
        Ap += 4 * NN__MR;
        Bp += 4 * NN__NR;
    }
    for (; k < kc; k++) {
        NN__MK_STEP(0);
        Ap += NN__MR;
        Bp += NN__NR;
    }
#undef NN__MK_STEP
    acc[0] = c00; acc[1] = c01; acc[2] = c10; acc[3] = c11; acc[4] = c20; acc[5] = c21;
    acc[6] = c30; acc[7] = c31; acc[8] = c40; acc[9] = c41; acc[10] = c50; acc[11] = c51;
    if (mr == NN__MR && nr == NN__NR) {
        __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
        for (i = 0; i < NN__MR; i++) {
            float *c = C + (size_t)i * ldc;
            __m256 v0, v1;
            if (beta == 1.0f) {
                v0 = _mm256_fmadd_ps(va, acc[2 * i], _mm256_loadu_ps(c));
                v1 = _mm256_fmadd_ps(va, acc[2 * i + 1], _mm256_loadu_ps(c + 8));
            } else if (beta != 0.0f) {
                v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), _mm256_mul_ps(va, acc[2 * i]));
                v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), _mm256_mul_ps(va, acc[2 * i + 1]));
            } else {
                v0 = _mm256_mul_ps(va, acc[2 * i]);
                v1 = _mm256_mul_ps(va, acc[2 * i + 1]);
            }
            _mm256_storeu_ps(c, v0);
            _mm256_storeu_ps(c + 8, v1);
        }
    } else {
        float tmp[NN__MR * NN__NR];
        for (i = 0; i < 12; i++) _mm256_storeu_ps(tmp + 8 * i, acc[i]);
        for (i = 0; i < mr; i++) {
            float *c = C + (size_t)i * ldc;
            for (j = 0; j < nr; j++) c[j] = nn__axpby1_avx2(tmp[i * NN__NR + j], alpha, beta, c[j]);
        }
    }
}

/* The AVX2 twin of the 12x16 narrow kernel below: 6 rows of A read in
   place, the same FMAs in the same order per element. */
NN__TARGET_AVX2 static void nn__micro_avx2_n16(int kc, const float *A, int ars, int aks, const float *Bp, float *C,
                                               int ldc, int row0, int mr, int nr, float alpha, float beta) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const float *a3 = A + 3 * ars;
    float t[NN__MR * NN__NR];
    int k, i, j;
    for (k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(Bp), b1 = _mm256_loadu_ps(Bp + 8), a;
        a = _mm256_broadcast_ss(A); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(A + ars); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(A + 2 * ars); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(a3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(a3 + ars); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(a3 + 2 * ars); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
        A += aks;
        a3 += aks;
        Bp += 16;
    }
    _mm256_storeu_ps(t, c00); _mm256_storeu_ps(t + 8, c01); _mm256_storeu_ps(t + 16, c10);
    _mm256_storeu_ps(t + 24, c11); _mm256_storeu_ps(t + 32, c20); _mm256_storeu_ps(t + 40, c21);
    _mm256_storeu_ps(t + 48, c30); _mm256_storeu_ps(t + 56, c31); _mm256_storeu_ps(t + 64, c40);
    _mm256_storeu_ps(t + 72, c41); _mm256_storeu_ps(t + 80, c50); _mm256_storeu_ps(t + 88, c51);
    {
        /* nn__axpby1_avx2's formula in 8-wide steps, masked to nr columns */
        __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        __m256i k0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane);
        __m256i k1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), lane);
        __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
        for (i = row0; i < mr; i++) {
            float *c = C + (size_t)i * ldc;
            for (j = 0; j < 2; j++) {
                __m256i m = j ? k1 : k0;
                __m256 a = _mm256_loadu_ps(t + i * NN__NR + 8 * j), o;
                if (beta == 0.0f) {
                    o = _mm256_mul_ps(va, a);
                } else {
                    __m256 old = _mm256_maskload_ps(c + 8 * j, m);
                    o = beta == 1.0f ? _mm256_fmadd_ps(va, a, old) : _mm256_fmadd_ps(vb, old, _mm256_mul_ps(va, a));
                }
                _mm256_maskstore_ps(c + 8 * j, m, o);
            }
        }
    }
}

#if NN__CPUID
/* 1: AVX2 and FMA with the OS saving YMM state; 2: AVX-512F and ZMM state
   too; 3: and AVX512_VNNI (Intel SDM vol. 1, 14.3 and 15.2: CPUID.1:ECX FMA 12, OSXSAVE 27,
   AVX 28; XCR0 bits 1-2, and 5-7 for AVX-512; CPUID.7.0:EBX AVX2 5,
   AVX512F 16) */
NN__TARGET_XSAVE static int nn__cpu_level_read(void) {
    int r[4];
    unsigned long long x;
    const int need = (1 << 12) | (1 << 27) | (1 << 28);
    __cpuid(r, 0);
    if (r[0] < 7) return 0;
    __cpuid(r, 1);
    if ((r[2] & need) != need) return 0;
    x = _xgetbv(0);
    if ((x & 6) != 6) return 0;
    __cpuidex(r, 7, 0);
    if (!(r[1] & (1 << 5))) return 0;
    if (!(r[1] & (1 << 16)) || (x & 0xE6) != 0xE6) return 1;
    return (r[2] & (1 << 11)) ? 3 : 2; /* ECX 11: AVX512_VNNI */
}
/* read once (CPUID traps to the hypervisor in a VM): threads that race here
   store the same value */
static int nn__cpu_level(void) {
    static int level = -1;
    if (level < 0) level = nn__cpu_level_read();
    return level;
}
#endif
static int nn__cpu_has_avx2(void) {
#if NN__CPUID
    return nn__cpu_level() >= 1;
#else
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
}
#endif

#if NN__AVX512
#define NN__MR512 8
#define NN__NR512 32
#define NN__MR16 12 /* rows of the 16-wide kernel for N <= 16 */
/* C = alpha acc + beta C for one 16-wide vector of a tile: the formula of
   nn__axpby1_avx2 on every element (1 * acc is acc), a mask on a partial
   tile, plain stores on whole ones (masked ones cost more on some cores).
   Called with each accumulator by name, so the tile stays in registers. */
NN__TARGET_AVX512 static NN__INLINE void nn__out512(float *c, __m512 a, __mmask16 m, int whole, float alpha,
                                                    float beta) {
    __m512 o;
    if (beta == 0.0f) {
        o = alpha == 1.0f ? a : _mm512_mul_ps(_mm512_set1_ps(alpha), a);
    } else {
        __m512 old = _mm512_maskz_loadu_ps(m, c);
        o = beta == 1.0f ? _mm512_fmadd_ps(_mm512_set1_ps(alpha), a, old)
                         : _mm512_fmadd_ps(_mm512_set1_ps(beta), old, _mm512_mul_ps(_mm512_set1_ps(alpha), a));
    }
    if (whole) _mm512_storeu_ps(c, o);
    else _mm512_mask_storeu_ps(c, m, o);
}

/* The 8x32 AVX-512 tile: 16 accumulators of the 32 registers, 2 loads of B
   and 8 broadcasts of A per k (a tile of at most 4 rows: 8 accumulators).
   Every element of C gets the same FMAs in the same order as in the 6x16
   AVX2 kernel, and the same alpha/beta formula, so the two paths give the
   same bits: only the tiling differs. B's rows are bs floats apart: the
   packed panel (bs 32), or B read in place (masked loads keep a partial
   tile inside the matrix). */
NN__TARGET_AVX512 static NN__INLINE void nn__k512(int kc, const float *Ap, const float *Bp, int bs, int masked, float *C,
                                                  int ldc, int mr, int nr, float alpha, float beta) {
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFFu : (1u << nr) - 1u);
    __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFFu : nr <= 16 ? 0u : (1u << (nr - 16)) - 1u);
    int k;
#define NN__MK512_B(o)                                                                                      \
    __m512 b0 = masked ? _mm512_maskz_loadu_ps(m0, Bp + (o) * bs) : _mm512_loadu_ps(Bp + (o) * bs),           \
           b1 = masked ? _mm512_maskz_loadu_ps(m1, Bp + (o) * bs + 16) : _mm512_loadu_ps(Bp + (o) * bs + 16), a
#define NN__MK512_R(o, r, x0, x1)                                                                           \
    a = _mm512_set1_ps(Ap[(o) * NN__MR512 + (r)]); x0 = _mm512_fmadd_ps(a, b0, x0); x1 = _mm512_fmadd_ps(a, b1, x1)
#define NN__MK512_4(o)                                                                                      \
    NN__MK512_R(o, 0, c00, c01); NN__MK512_R(o, 1, c10, c11); NN__MK512_R(o, 2, c20, c21);                  \
    NN__MK512_R(o, 3, c30, c31)
#define NN__MK512(o)                                                                                        \
    do {                                                                                                    \
        NN__MK512_B(o);                                                                                     \
        NN__MK512_4(o);                                                                                     \
        NN__MK512_R(o, 4, c40, c41); NN__MK512_R(o, 5, c50, c51); NN__MK512_R(o, 6, c60, c61);              \
        NN__MK512_R(o, 7, c70, c71);                                                                        \
    } while (0)
#define NN__MK512H(o)                                                                                       \
    do {                                                                                                    \
        NN__MK512_B(o);                                                                                     \
        NN__MK512_4(o);                                                                                     \
    } while (0)
    if (mr <= 4) {
        for (k = 0; k + 4 <= kc; k += 4) {
            NN__MK512H(0);
            NN__MK512H(1);
            NN__MK512H(2);
            NN__MK512H(3);
            Ap += 4 * NN__MR512;
            Bp += 4 * bs;
        }
        for (; k < kc; k++) {
            NN__MK512H(0);
            Ap += NN__MR512;
            Bp += bs;
        }
    } else {
        for (k = 0; k + 4 <= kc; k += 4) {
            _mm_prefetch((const char *)(Bp + 8 * bs), _MM_HINT_T0);
            _mm_prefetch((const char *)(Bp + 8 * bs + 16), _MM_HINT_T0);
            NN__MK512(0);
            NN__MK512(1);
            NN__MK512(2);
            NN__MK512(3);
            Ap += 4 * NN__MR512;
            Bp += 4 * bs;
        }
        for (; k < kc; k++) {
            NN__MK512(0);
            Ap += NN__MR512;
            Bp += bs;
        }
    }
#undef NN__MK512
#undef NN__MK512H
#undef NN__MK512_4
#undef NN__MK512_R
#undef NN__MK512_B
#define NN__OUT512(r, x0, x1)                                                                               \
    if (mr > (r)) {                                                                                         \
        nn__out512(C + (size_t)(r) * ldc, x0, m0, nr == 32, alpha, beta);                                  \
        nn__out512(C + (size_t)(r) * ldc + 16, x1, m1, nr == 32, alpha, beta);                             \
    }
    NN__OUT512(0, c00, c01)
    NN__OUT512(1, c10, c11)
    NN__OUT512(2, c20, c21)
    NN__OUT512(3, c30, c31)
    NN__OUT512(4, c40, c41)
    NN__OUT512(5, c50, c51)
    NN__OUT512(6, c60, c61)
    NN__OUT512(7, c70, c71)
#undef NN__OUT512
}
NN__TARGET_AVX512 static void nn__micro_avx512(int kc, const float *Ap, const float *Bp, float *C, int ldc, int mr,
                                               int nr, float alpha, float beta) {
    nn__k512(kc, Ap, Bp, NN__NR512, 0, C, ldc, mr, nr, alpha, beta);
}
NN__TARGET_AVX512 static void nn__micro_avx512_b(int kc, const float *Ap, const float *B, int bs, float *C, int ldc,
                                                 int mr, int nr, float alpha, float beta) {
    nn__k512(kc, Ap, B, bs, 1, C, ldc, mr, nr, alpha, beta);
}

/* 12x16 for N <= 16 (a 10-class layer): one 16-wide vector of packed B per
   k and 12 broadcasts of A read in place, A(r, k) = A[r * ars + k * aks],
   where the 8x32 tile would leave 22 of 32 columns idle and packing A would
   cost as much as the product. Same FMAs in the same order per element as
   the kernels above. All 12 rows of A are read; rows row0 to mr - 1 are stored (a
   last tile is shifted up over rows already done, which it leaves alone). */
NN__TARGET_AVX512 static void nn__micro_avx512_n16(int kc, const float *A, int ars, int aks, const float *Bp, float *C,
                                                   int ldc, int row0, int mr, int nr, float alpha, float beta) {
    __m512 z = _mm512_setzero_ps();
    __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFFu : (1u << nr) - 1u);
    __m512 r0 = z, r1 = z, r2 = z, r3 = z, r4 = z, r5 = z, r6 = z, r7 = z, r8 = z, r9 = z, r10 = z, r11 = z;
    const float *a3 = A + 3 * ars, *a6 = A + 6 * ars, *a9 = A + 9 * ars;
    int k;
    for (k = 0; k < kc; k++) {
        __m512 b = _mm512_loadu_ps(Bp);
        r0 = _mm512_fmadd_ps(_mm512_set1_ps(A[0]), b, r0);
        r1 = _mm512_fmadd_ps(_mm512_set1_ps(A[ars]), b, r1);
        r2 = _mm512_fmadd_ps(_mm512_set1_ps(A[2 * ars]), b, r2);
        r3 = _mm512_fmadd_ps(_mm512_set1_ps(a3[0]), b, r3);
        r4 = _mm512_fmadd_ps(_mm512_set1_ps(a3[ars]), b, r4);
        r5 = _mm512_fmadd_ps(_mm512_set1_ps(a3[2 * ars]), b, r5);
        r6 = _mm512_fmadd_ps(_mm512_set1_ps(a6[0]), b, r6);
        r7 = _mm512_fmadd_ps(_mm512_set1_ps(a6[ars]), b, r7);
        r8 = _mm512_fmadd_ps(_mm512_set1_ps(a6[2 * ars]), b, r8);
        r9 = _mm512_fmadd_ps(_mm512_set1_ps(a9[0]), b, r9);
        r10 = _mm512_fmadd_ps(_mm512_set1_ps(a9[ars]), b, r10);
        r11 = _mm512_fmadd_ps(_mm512_set1_ps(a9[2 * ars]), b, r11);
        A += aks; a3 += aks; a6 += aks; a9 += aks;
        Bp += 16;
    }
#define NN__OUT16(n)                                                                                        \
    if ((n) >= row0 && (n) < mr) nn__out512(C + (size_t)(n) * ldc, r##n, m0, nr == 16, alpha, beta)
    NN__OUT16(0); NN__OUT16(1); NN__OUT16(2); NN__OUT16(3); NN__OUT16(4); NN__OUT16(5);
    NN__OUT16(6); NN__OUT16(7); NN__OUT16(8); NN__OUT16(9); NN__OUT16(10); NN__OUT16(11);
#undef NN__OUT16
}
static int nn__cpu_has_avx512(void) {
#if NN__CPUID
    return nn__cpu_level() >= 2;
#else
    __builtin_cpu_init();
    return nn__cpu_has_avx2() && __builtin_cpu_supports("avx512f");
#endif
}
#endif

#if NN__NEON
/* 6x16 NEON micro-kernel: 24 accumulators, 4 loads of B and one 4+2 load of A
   per k, each A value used through a lane. */
static void nn__micro_neon(int kc, const float *Ap, const float *Bp, float *C, int ldc, int mr, int nr,
                           float alpha, float beta) {
    float32x4_t c00 = vdupq_n_f32(0), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    float32x4_t c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    float32x4_t c40 = c00, c41 = c00, c42 = c00, c43 = c00, c50 = c00, c51 = c00, c52 = c00, c53 = c00;
    float tmp[NN__MR * NN__NR];
    int k, i, j;
    for (k = 0; k < kc; k++) {
        float32x4_t b0 = vld1q_f32(Bp), b1 = vld1q_f32(Bp + 4), b2 = vld1q_f32(Bp + 8), b3 = vld1q_f32(Bp + 12);
        float32x4_t a = vld1q_f32(Ap);
        float32x2_t a45 = vld1_f32(Ap + 4);
        c00 = vfmaq_laneq_f32(c00, b0, a, 0); c01 = vfmaq_laneq_f32(c01, b1, a, 0);
        c02 = vfmaq_laneq_f32(c02, b2, a, 0); c03 = vfmaq_laneq_f32(c03, b3, a, 0);
        c10 = vfmaq_laneq_f32(c10, b0, a, 1); c11 = vfmaq_laneq_f32(c11, b1, a, 1);
        c12 = vfmaq_laneq_f32(c12, b2, a, 1); c13 = vfmaq_laneq_f32(c13, b3, a, 1);
        c20 = vfmaq_laneq_f32(c20, b0, a, 2); c21 = vfmaq_laneq_f32(c21, b1, a, 2);
        c22 = vfmaq_laneq_f32(c22, b2, a, 2); c23 = vfmaq_laneq_f32(c23, b3, a, 2);
        c30 = vfmaq_laneq_f32(c30, b0, a, 3); c31 = vfmaq_laneq_f32(c31, b1, a, 3);
        c32 = vfmaq_laneq_f32(c32, b2, a, 3); c33 = vfmaq_laneq_f32(c33, b3, a, 3);
        c40 = vfmaq_lane_f32(c40, b0, a45, 0); c41 = vfmaq_lane_f32(c41, b1, a45, 0);
        c42 = vfmaq_lane_f32(c42, b2, a45, 0); c43 = vfmaq_lane_f32(c43, b3, a45, 0);
        c50 = vfmaq_lane_f32(c50, b0, a45, 1); c51 = vfmaq_lane_f32(c51, b1, a45, 1);
        c52 = vfmaq_lane_f32(c52, b2, a45, 1); c53 = vfmaq_lane_f32(c53, b3, a45, 1);
        Ap += NN__MR;
        Bp += NN__NR;
    }
    vst1q_f32(tmp + 0, c00); vst1q_f32(tmp + 4, c01); vst1q_f32(tmp + 8, c02); vst1q_f32(tmp + 12, c03);
    vst1q_f32(tmp + 16, c10); vst1q_f32(tmp + 20, c11); vst1q_f32(tmp + 24, c12); vst1q_f32(tmp + 28, c13);
    vst1q_f32(tmp + 32, c20); vst1q_f32(tmp + 36, c21); vst1q_f32(tmp + 40, c22); vst1q_f32(tmp + 44, c23);
    vst1q_f32(tmp + 48, c30); vst1q_f32(tmp + 52, c31); vst1q_f32(tmp + 56, c32); vst1q_f32(tmp + 60, c33);
    vst1q_f32(tmp + 64, c40); vst1q_f32(tmp + 68, c41); vst1q_f32(tmp + 72, c42); vst1q_f32(tmp + 76, c43);
    vst1q_f32(tmp + 80, c50); vst1q_f32(tmp + 84, c51); vst1q_f32(tmp + 88, c52); vst1q_f32(tmp + 92, c53);
    for (i = 0; i < mr; i++) {
        float *c = C + (size_t)i * ldc;
        for (j = 0; j < nr; j++) {
            float v = alpha * tmp[i * NN__NR + j];
            if (beta != 0.0f) v += beta * c[j];
            c[j] = v;
        }
    }
}
#endif

NNDEF int nn_simd_level(void) {
#if NN__AVX512
    if (nn__cpu_has_avx512()) return 3;
#endif
#if NN__AVX2
    return nn__cpu_has_avx2() ? 1 : 0;
#elif NN__NEON
    return 2;
#else
    return 0;
#endif
}

/* A micro-kernel and the tile it computes: MR rows x NR columns of C. */
/* micro with B read in place, its rows bs floats apart */
typedef void (*nn__micro_b_fn)(int kc, const float *Ap, const float *B, int bs, float *C, int ldc, int mr, int nr,
                               float alpha, float beta);
/* a narrow (N <= 16) kernel reading A in place: A(r, k) = A[r * ars + k * aks] */
typedef void (*nn__micro_n_fn)(int kc, const float *A, int ars, int aks, const float *Bp, float *C, int ldc,
                               int row0, int mr, int nr, float alpha, float beta);
typedef struct nn__kern {
    nn__micro_fn micro;
    nn__micro_b_fn micro_b; /* or NULL */
    nn__micro_n_fn micro_n; /* or NULL */
    int mr, nr, nmr, nnr;   /* tiles of micro and micro_n */
    int simd; /* the AVX2 packing helpers may be used */
} nn__kern;

/* B read in place instead of packed where the panel would serve at most 4
   row tiles (M <= 32: a dW of a 10-class layer, a small batch), so packing
   costs more than it saves (1.1-1.7x faster measured on 10 to 32 rows; no
   gain from 48 rows up). The bits are the same either way. */
static int nn__gemm_direct_b(int M) { return M <= 32; }

/* One thread's GEMM, in the GotoBLAS loop order: a KC x NC panel of B is
   packed once and reused across every MC block of A. Narrow K (a batch of 64
   in dW) widens the B panel so that A is packed fewer times. */
static void nn__gemm_serial(const nn__kern *kn, int trans_a, int trans_b, int M, int N, int K,
                            float alpha, const float *A, int lda, const float *B, int ldb,
                            float beta, float *C, int ldc) {
    float Ap[NN__MC * NN__KC] NN__ALIGNED64;
    float Bp[NN__KC * NN__NC] NN__ALIGNED64;
    int kc_max = NN__MIN(NN__KC, K), nc_blk, jc, pc, ic, ir, jr, MR = kn->mr, NR = kn->nr;
    int direct_b = kn->micro_b && !trans_b && nn__gemm_direct_b(M);
    if (kn->micro_n && N <= kn->nnr) {
        /* narrow C: B packed as one kc x 16 panel, A read in place (a last
           short tile shifted up over rows done, or packed when M is short) */
        int nmr = kn->nmr, ars = trans_a ? 1 : lda, aks = trans_a ? lda : 1;
        for (pc = 0; pc < K; pc += NN__KC) {
            int kc = NN__MIN(NN__KC, K - pc);
            float b = pc == 0 ? beta : 1.0f;
            nn__pack_b(Bp, trans_b, B, ldb, 0, N, pc, kc, kn->simd, kn->nnr);
            for (ic = 0; ic < M; ic += nmr) {
                int mr = NN__MIN(nmr, M - ic), i0 = ic;
                if (mr < nmr && M >= nmr) i0 = M - nmr; /* shifted up: rows ic.. stored */
                if (mr == nmr || M >= nmr)
                    kn->micro_n(kc, trans_a ? A + (size_t)pc * lda + i0 : A + (size_t)i0 * lda + pc, ars, aks, Bp,
                                C + (size_t)i0 * ldc, ldc, ic - i0, nmr, N, alpha, b);
                else { /* fewer rows than a tile: packed, zero rows past M */
                    nn__pack_a(Ap, trans_a, A, lda, ic, mr, pc, kc, kn->simd, nmr);
                    kn->micro_n(kc, Ap, 1, nmr, Bp, C + (size_t)ic * ldc, ldc, 0, mr, N, alpha, b);
                }
            }
        }
        return;
    }
    nc_blk = (NN__KC * NN__NC / kc_max) / NR * NR;
    for (jc = 0; jc < N; jc += nc_blk) {
        int nc = NN__MIN(nc_blk, N - jc);
        for (pc = 0; pc < K; pc += NN__KC) {
            int kc = NN__MIN(NN__KC, K - pc);
            float b = pc == 0 ? beta : 1.0f;
            if (!direct_b) nn__pack_b(Bp, trans_b, B, ldb, jc, nc, pc, kc, kn->simd, NR);
            for (ic = 0; ic < M; ic += NN__MC) {
                int mc = NN__MIN(NN__MC, M - ic);
                nn__pack_a(Ap, trans_a, A, lda, ic, mc, pc, kc, kn->simd, MR);
                for (jr = 0; jr < nc; jr += NR)
                    for (ir = 0; ir < mc; ir += MR) {
                        float *c = C + (size_t)(ic + ir) * ldc + jc + jr;
                        int mr = NN__MIN(MR, mc - ir), nr = NN__MIN(NR, nc - jr);
                        if (direct_b)
                            kn->micro_b(kc, Ap + (size_t)ir * kc, B + (size_t)pc * ldb + jc + jr, ldb, c, ldc, mr, nr,
                                        alpha, b);
                        else
                            kn->micro(kc, Ap + (size_t)ir * kc, Bp + (size_t)jr * kc, c, ldc, mr, nr, alpha, b);
                    }
            }
        }
    }
}

#if NN__AVX2
/* Few rows of C (batch-1 inference): packing a whole weight matrix for one
   row costs more than the product, so rows are computed straight from A and
   B. trans_b: dot products along the contiguous rows of B, 4 at a time;
   otherwise 32-wide AXPYs along B's rows. Results can differ in the last
   bits from the packed path (another summation order); each path is
   reproducible, and the choice never depends on the threads or the level,
   only on the shape (M < 6 with A not transposed). Narrow C (N <= 16, a
   10-class layer) takes the n16 kernels above, which give the packed bits. */
NN__TARGET_AVX2 static float nn__hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
#if NN__AVX512
/* The 4-row groups of the AVX2 row kernel below with 16-wide registers: lanes
   0-7 of each accumulator are the AVX2 kernel's s, lanes 8-15 its t, so every
   row sees the same FMAs in the same order and the results are the same
   bits, with half the instructions and 64-byte loads.
   Returns the first row of B left (N - N % 4), as the AVX2 groups would. */
NN__TARGET_AVX512 static int nn__rows4_avx512(const float *a, const float *B, int ldb, int N, int K, float alpha,
                                              float beta, float *c) {
    int j, k, r;
    for (j = 0; j + 4 <= N; j += 4) {
        const float *b0 = B + (size_t)j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
        __m512 u0 = _mm512_setzero_ps(), u1 = _mm512_setzero_ps(), u2 = _mm512_setzero_ps(), u3 = _mm512_setzero_ps();
        __m256 s0, s1, s2, s3;
        float dot[4], h[4][16]; /* the halves through memory: GCC's 512-to-256 casts warn in C++ */
        for (k = 0; k + 16 <= K; k += 16) {
            __m512 av = _mm512_loadu_ps(a + k);
            u0 = _mm512_fmadd_ps(_mm512_loadu_ps(b0 + k), av, u0);
            u1 = _mm512_fmadd_ps(_mm512_loadu_ps(b1 + k), av, u1);
            u2 = _mm512_fmadd_ps(_mm512_loadu_ps(b2 + k), av, u2);
            u3 = _mm512_fmadd_ps(_mm512_loadu_ps(b3 + k), av, u3);
        }
        _mm512_storeu_ps(h[0], u0); _mm512_storeu_ps(h[1], u1);
        _mm512_storeu_ps(h[2], u2); _mm512_storeu_ps(h[3], u3);
        s0 = _mm256_loadu_ps(h[0]); s1 = _mm256_loadu_ps(h[1]);
        s2 = _mm256_loadu_ps(h[2]); s3 = _mm256_loadu_ps(h[3]);
        for (; k + 8 <= K; k += 8) {
            __m256 a0 = _mm256_loadu_ps(a + k);
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(b0 + k), a0, s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(b1 + k), a0, s1);
            s2 = _mm256_fmadd_ps(_mm256_loadu_ps(b2 + k), a0, s2);
            s3 = _mm256_fmadd_ps(_mm256_loadu_ps(b3 + k), a0, s3);
        }
        dot[0] = nn__hsum_avx2(_mm256_add_ps(s0, _mm256_loadu_ps(h[0] + 8)));
        dot[1] = nn__hsum_avx2(_mm256_add_ps(s1, _mm256_loadu_ps(h[1] + 8)));
        dot[2] = nn__hsum_avx2(_mm256_add_ps(s2, _mm256_loadu_ps(h[2] + 8)));
        dot[3] = nn__hsum_avx2(_mm256_add_ps(s3, _mm256_loadu_ps(h[3] + 8)));
        for (r = 0; r < 4; r++) {
            const float *br = B + (size_t)(j + r) * ldb;
            float t = dot[r];
            int kk;
            for (kk = k; kk < K; kk++) t = nn__fma1_avx2(a[kk], br[kk], t);
            c[j + r] = nn__axpby1_avx2(t, alpha, beta, c[j + r]);
        }
    }
    return j;
}
#endif

NN__TARGET_AVX2 static void nn__gemm_rows_avx2(int trans_b, int M, int N, int K, float alpha, const float *A,
                                               int lda, const float *B, int ldb, float beta, float *C, int ldc,
                                               int wide) {
    int i, j, k, r;
    (void)wide; /* read only with the AVX-512 kernels compiled in */
    for (i = 0; i < M; i++) {
        const float *a = A + (size_t)i * lda;
        float *c = C + (size_t)i * ldc;
        if (trans_b) {
            j = 0;
#if NN__AVX512
            if (wide) j = nn__rows4_avx512(a, B, ldb, N, K, alpha, beta, c);
#endif
            /* 4 rows of B at a time, two accumulators each: 8 independent FMA
               chains, every load of A shared by 4 rows */
            for (; j + 4 <= N; j += 4) {
                const float *b0 = B + (size_t)j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
                __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(),
                       s3 = _mm256_setzero_ps(), t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps(),
                       t2 = _mm256_setzero_ps(), t3 = _mm256_setzero_ps();
                float dot[4];
                for (k = 0; k + 16 <= K; k += 16) {
                    __m256 a0 = _mm256_loadu_ps(a + k), a1 = _mm256_loadu_ps(a + k + 8);
                    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(b0 + k), a0, s0);
                    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(b1 + k), a0, s1);
                    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(b2 + k), a0, s2);
                    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(b3 + k), a0, s3);
                    t0 = _mm256_fmadd_ps(_mm256_loadu_ps(b0 + k + 8), a1, t0);
                    t1 = _mm256_fmadd_ps(_mm256_loadu_ps(b1 + k + 8), a1, t1);
                    t2 = _mm256_fmadd_ps(_mm256_loadu_ps(b2 + k + 8), a1, t2);
                    t3 = _mm256_fmadd_ps(_mm256_loadu_ps(b3 + k + 8), a1, t3);
                }
                for (; k + 8 <= K; k += 8) {
                    __m256 a0 = _mm256_loadu_ps(a + k);
                    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(b0 + k), a0, s0);
                    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(b1 + k), a0, s1);
                    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(b2 + k), a0, s2);
                    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(b3 + k), a0, s3);
                }
                dot[0] = nn__hsum_avx2(_mm256_add_ps(s0, t0));
                dot[1] = nn__hsum_avx2(_mm256_add_ps(s1, t1));
                dot[2] = nn__hsum_avx2(_mm256_add_ps(s2, t2));
                dot[3] = nn__hsum_avx2(_mm256_add_ps(s3, t3));
                for (r = 0; r < 4; r++) {
                    const float *br = B + (size_t)(j + r) * ldb;
                    float t = dot[r];
                    int kk;
                    for (kk = k; kk < K; kk++) t = nn__fma1_avx2(a[kk], br[kk], t);
                    c[j + r] = nn__axpby1_avx2(t, alpha, beta, c[j + r]);
                }
            }
            for (; j < N; j++) { /* the last rows of B, one at a time */
                const float *br = B + (size_t)j * ldb;
                __m256 s0 = _mm256_setzero_ps();
                float t;
                for (k = 0; k + 8 <= K; k += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(br + k), _mm256_loadu_ps(a + k), s0);
                t = nn__hsum_avx2(s0);
                for (; k < K; k++) t = nn__fma1_avx2(a[k], br[k], t);
                c[j] = nn__axpby1_avx2(t, alpha, beta, c[j]);
            }
        } else {
            for (j = 0; j < N; j += 32) {
                int nc = NN__MIN(32, N - j);
                if (nc == 32) {
                    __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps(),
                           c3 = _mm256_setzero_ps();
                    for (k = 0; k < K; k++) {
                        const float *b = B + (size_t)k * ldb + j;
                        __m256 av = _mm256_broadcast_ss(a + k);
                        c0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b), c0);
                        c1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 8), c1);
                        c2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 16), c2);
                        c3 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + 24), c3);
                    }
                    {
                        float t[32];
                        int q;
                        _mm256_storeu_ps(t, c0); _mm256_storeu_ps(t + 8, c1);
                        _mm256_storeu_ps(t + 16, c2); _mm256_storeu_ps(t + 24, c3);
                        for (q = 0; q < 32; q++) c[j + q] = nn__axpby1_avx2(t[q], alpha, beta, c[j + q]);
                    }
                } else {
                    int q;
                    for (q = 0; q < nc; q++) {
                        float t = 0.0f;
                        for (k = 0; k < K; k++) t = nn__fma1_avx2(a[k], B[(size_t)k * ldb + j + q], t);
                        c[j + q] = nn__axpby1_avx2(t, alpha, beta, c[j + q]);
                    }
                }
            }
        }
    }
}
#endif

NNDEF const char *nn_simd_name(void) {
    switch (nn_simd_level()) {
    case 1: return "AVX2+FMA";
    case 2: return "NEON";
    case 3: return "AVX-512F";
    default: return "reference";
    }
}

#ifndef NN__GEMM_CHUNKS
#define NN__GEMM_CHUNKS 2 /* per thread: balance against packing A again per chunk */
#endif

/* ---- threads ---- */
/* The pool: a job is (fn, arg, n chunks); the caller publishes it under the
   mutex, then everyone claims chunks from `ticket` (generation << 32 | next
   chunk) by compare-and-swap, so a worker that wakes late can never claim a
   chunk of a newer job with an older job's arguments. `done` counts finished
   chunks of the current job; the caller returns once done == n, so it waits
   only for chunks already taken. */
#if !defined(NN_NO_THREADS) && (defined(__unix__) || defined(__APPLE__) || defined(_WIN32)) && \
    (defined(__GNUC__) || defined(__clang__) || defined(_MSC_VER))
#define NN__THREADS 1
#else
#define NN__THREADS 0
#endif

/* The few primitives the pool uses: POSIX threads, or Windows' own (no
   winpthreads DLL to ship). Init functions return 0 on success. */
#if NN__THREADS && defined(_WIN32)
typedef SRWLOCK nn__mutex;
typedef CONDITION_VARIABLE nn__cond;
typedef HANDLE nn__thread;
typedef unsigned nn__thread_ret;
#define NN__THREAD_CALL __stdcall
#define NN__THREAD_EXIT 0u
#define nn__mutex_init(m) (InitializeSRWLock(m), 0)
#define nn__mutex_destroy(m) ((void)(m))
#define nn__mutex_lock(m) AcquireSRWLockExclusive(m)
#define nn__mutex_unlock(m) ReleaseSRWLockExclusive(m)
#define nn__cond_init(c) (InitializeConditionVariable(c), 0)
#define nn__cond_destroy(c) ((void)(c))
#define nn__cond_wait(c, m) ((void)SleepConditionVariableSRW(c, m, INFINITE, 0))
#define nn__cond_signal(c) WakeConditionVariable(c)
#define nn__cond_broadcast(c) WakeAllConditionVariable(c)
/* stack: a 2 MB reservation (a GEMM packs about 330 KB on it) */
static int nn__thread_start(nn__thread *t, nn__thread_ret(NN__THREAD_CALL *fn)(void *), void *arg) {
    uintptr_t h = _beginthreadex(NULL, (unsigned)2 << 20, fn, arg, STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
    *t = (HANDLE)h;
    return h ? 0 : -1;
}
static void nn__thread_join(nn__thread t) {
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}
/* microseconds of a monotonic clock */
static double nn__us(void) {
    LARGE_INTEGER c, f;
    QueryPerformanceCounter(&c);
    QueryPerformanceFrequency(&f);
    return 1e6 * (double)c.QuadPart / (double)f.QuadPart;
}
#elif NN__THREADS
#include <pthread.h>
#include <sys/time.h>
typedef pthread_mutex_t nn__mutex;
typedef pthread_cond_t nn__cond;
typedef pthread_t nn__thread;
typedef void *nn__thread_ret;
#define NN__THREAD_CALL
#define NN__THREAD_EXIT NULL
#define nn__mutex_init(m) pthread_mutex_init(m, NULL)
#define nn__mutex_destroy(m) pthread_mutex_destroy(m)
#define nn__mutex_lock(m) pthread_mutex_lock(m)
#define nn__mutex_unlock(m) pthread_mutex_unlock(m)
#define nn__cond_init(c) pthread_cond_init(c, NULL)
#define nn__cond_destroy(c) pthread_cond_destroy(c)
#define nn__cond_wait(c, m) pthread_cond_wait(c, m)
#define nn__cond_signal(c) pthread_cond_signal(c)
#define nn__cond_broadcast(c) pthread_cond_broadcast(c)
/* stack: 2 MB (a GEMM packs about 330 KB on it; some libcs give 128 KB) */
static int nn__thread_start(nn__thread *t, nn__thread_ret(NN__THREAD_CALL *fn)(void *), void *arg) {
    pthread_attr_t attr;
    int r;
    if (pthread_attr_init(&attr)) return -1;
    pthread_attr_setstacksize(&attr, (size_t)2 << 20);
    r = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return r;
}
static void nn__thread_join(nn__thread t) { pthread_join(t, NULL); }
static double nn__us(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return 1e6 * (double)tv.tv_sec + (double)tv.tv_usec;
}
#endif

#ifndef NN_THREADS_SPIN_US
#define NN_THREADS_SPIN_US 200
#endif

/* fn(arg, c) runs chunk c; fn(arg, -1) runs them all at once (alone, no
   chunk needs to repeat work another would share, e.g. packing) */
typedef void (*nn__chunk_fn)(void *arg, int chunk);

#if NN__THREADS
struct nn_threads {
    int n;                        /* threads in all, the caller included */
    int workers;                  /* started */
    nn__thread th[NN_MAX_THREADS];
    nn__mutex mu;
    nn__cond wake;                /* workers sleep here */
    nn__cond finished;            /* the caller sleeps here */
    nn__chunk_fn fn;              /* the job: written under mu */
    void *arg;
    int n_chunks;
    uint32_t gen;                 /* under mu; the high half of ticket */
    int sleeping;                 /* workers waiting on wake, under mu */
    int caller_waiting;           /* under mu */
    int stop;                     /* under mu */
    uint64_t ticket;              /* atomic */
    long done;                    /* atomic */
    long busy;                    /* atomic: a caller is inside */
    int serial_left, backoff, clean; /* the caller's back-off state */
    long calls, parallel, stalls;
    /* Whether the pool pays, measured on the caller's whole loop: windows of
       NN__WINDOW calls alternate between running alone and on the pool, and
       their GEMM flops per wall second (the time between calls included:
       data a worker wrote is slow to reach the caller's core on some
       machines, which only the whole loop shows) decide. */
    int mode, win_calls, windows, probe_every, probing, fixed;
    double win_t0, win_last, win_flops, rate[2];
    long worker_chunks;           /* atomic */
};

#if defined(_WIN32)
#define NN__PAUSE() YieldProcessor()
#elif defined(__x86_64__) || defined(__i386__)
#define NN__PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define NN__PAUSE() __asm__ __volatile__("yield")
#else
#define NN__PAUSE() ((void)0)
#endif

/* The pool's atomics: GCC's builtins, or Windows' Interlocked functions
   where the compiler is MSVC (full barriers: at least the order asked for).
   NN__WIN_ATOMICS picks the latter under mingw-w64 too, which is how the
   tests run that path. Counters are long: LONG on Windows. */
#if defined(_WIN32) && (defined(_MSC_VER) || defined(NN__WIN_ATOMICS))
static uint64_t nn__aload64(uint64_t *p) {
    return (uint64_t)InterlockedCompareExchange64((volatile LONG64 *)(void *)p, 0, 0);
}
static void nn__astore64(uint64_t *p, uint64_t v) { (void)InterlockedExchange64((volatile LONG64 *)(void *)p, (LONG64)v); }
static int nn__acas64(uint64_t *p, uint64_t *expect, uint64_t want) {
    uint64_t was = (uint64_t)InterlockedCompareExchange64((volatile LONG64 *)(void *)p, (LONG64)want, (LONG64)*expect);
    if (was == *expect) return 1;
    *expect = was;
    return 0;
}
static long nn__aload(long *p) { return InterlockedCompareExchange((volatile LONG *)p, 0, 0); }
static void nn__astore(long *p, long v) { (void)InterlockedExchange((volatile LONG *)p, v); }
static long nn__aadd(long *p, long v) { return InterlockedExchangeAdd((volatile LONG *)p, v) + v; }
static long nn__axchg(long *p, long v) { return InterlockedExchange((volatile LONG *)p, v); }
#else
static uint64_t nn__aload64(uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void nn__astore64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static int nn__acas64(uint64_t *p, uint64_t *expect, uint64_t want) {
    return __atomic_compare_exchange_n(p, expect, want, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
static long nn__aload(long *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void nn__astore(long *p, long v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static long nn__aadd(long *p, long v) { return __atomic_add_fetch(p, v, __ATOMIC_ACQ_REL); }
static long nn__axchg(long *p, long v) { return __atomic_exchange_n(p, v, __ATOMIC_ACQUIRE); }
#endif

/* Claim and run chunks of job `gen` until none is left; returns how many. */
static int nn__threads_work(nn_threads *p, uint32_t gen, nn__chunk_fn fn, void *arg, int n) {
    int ran = 0;
    for (;;) {
        uint64_t t = nn__aload64(&p->ticket);
        int c = (int)(uint32_t)t;
        if ((uint32_t)(t >> 32) != gen || c >= n) return ran;
        if (!nn__acas64(&p->ticket, &t, t + 1)) continue;
        fn(arg, c);
        ran++;
        if (nn__aadd(&p->done, 1) == n) {
            nn__mutex_lock(&p->mu);
            if (p->caller_waiting) nn__cond_signal(&p->finished);
            nn__mutex_unlock(&p->mu);
        }
    }
}

static nn__thread_ret NN__THREAD_CALL nn__threads_main(void *vp) {
    nn_threads *p = (nn_threads *)vp;
    uint32_t seen = 0;
    for (;;) {
        nn__chunk_fn fn;
        void *arg;
        int n;
        /* bounded spin: a GEMM usually follows within microseconds */
        double t0 = nn__us();
        int s = 0;
        while ((uint32_t)(nn__aload64(&p->ticket) >> 32) == seen) {
            double d;
            NN__PAUSE();
            /* d < 0: the wall clock was set back; stop spinning rather than wait for it */
            if ((++s & 63) == 0 && ((d = nn__us() - t0) > NN_THREADS_SPIN_US || d < 0.0)) break;
        }
        nn__mutex_lock(&p->mu);
        while (p->gen == seen && !p->stop) {
            p->sleeping++;
            nn__cond_wait(&p->wake, &p->mu);
            p->sleeping--;
        }
        if (p->stop) {
            nn__mutex_unlock(&p->mu);
            return NN__THREAD_EXIT;
        }
        seen = p->gen;
        fn = p->fn;
        arg = p->arg;
        n = p->n_chunks;
        nn__mutex_unlock(&p->mu);
        n = nn__threads_work(p, seen, fn, arg, n);
        if (n) nn__aadd(&p->worker_chunks, (long)n);
    }
}

NNDEF nn_threads *nn_threads_create(int n) {
    nn_threads *p;
    int i;
    if (n < 1 || n > NN_MAX_THREADS) return NULL;
    p = (nn_threads *)NN_MALLOC(sizeof *p);
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->n = n;
    if (nn__mutex_init(&p->mu)) goto fail_mu;
    if (nn__cond_init(&p->wake)) goto fail_wake;
    if (nn__cond_init(&p->finished)) goto fail_fin;
    for (i = 0; i < n - 1; i++) {
        if (nn__thread_start(&p->th[i], nn__threads_main, p)) break;
        p->workers++;
    }
    if (p->workers == n - 1) return p;
    nn_threads_destroy(p);
    return NULL;
fail_fin:
    nn__cond_destroy(&p->wake);
fail_wake:
    nn__mutex_destroy(&p->mu);
fail_mu:
    NN_FREE(p);
    return NULL;
}

NNDEF void nn_threads_destroy(nn_threads *p) {
    int i;
    if (!p) return;
    nn__mutex_lock(&p->mu);
    p->stop = 1;
    nn__cond_broadcast(&p->wake);
    nn__mutex_unlock(&p->mu);
    for (i = 0; i < p->workers; i++) nn__thread_join(p->th[i]);
    nn__cond_destroy(&p->finished);
    nn__cond_destroy(&p->wake);
    nn__mutex_destroy(&p->mu);
    NN_FREE(p);
}

NNDEF int nn_threads_count(const nn_threads *p) { return p ? p->n : 1; }

NNDEF void nn_threads_set_adaptive(nn_threads *p, int on) {
    if (p) p->fixed = !on;
}

NNDEF void nn_threads_stats(const nn_threads *p, long *calls, long *parallel, long *stalls, long *worker_chunks) {
    if (calls) *calls = p ? p->calls : 0;
    if (parallel) *parallel = p ? p->parallel : 0;
    if (stalls) *stalls = p ? p->stalls : 0;
    if (worker_chunks) *worker_chunks = p ? nn__aload((long *)&p->worker_chunks) : 0; /* a statistic: the pool is not changed */
}

#ifndef NN__WINDOW
#define NN__WINDOW 128
#endif
/* Account one call to the current window (flops, ending at `now`); at the
   window's end pick the next window's mode: each is measured once, then the
   faster runs and now and then a window measures the other again: every 8th
   window, twice as far apart (up to every 256th) each time the other loses
   again. A gap of more than 20 ms between calls (the caller doing something
   else: validation, saving) is left out of the window's time; a window in
   which the wall clock went backwards is dropped. */
static void nn__threads_account(nn_threads *p, double flops, double start, double now) {
    if (p->win_calls == 0 || start < p->win_last || now < start) {
        p->win_calls = 0;
        p->win_flops = 0.0;
        p->win_t0 = start;
    } else if (start - p->win_last > 2e4) {
        p->win_t0 += start - p->win_last;
    }
    p->win_calls++;
    p->win_flops += flops;
    p->win_last = now;
    if (p->win_calls < NN__WINDOW) return;
    {
        double r = p->win_flops / (now - p->win_t0 > 1.0 ? now - p->win_t0 : 1.0);
        p->rate[p->mode] = p->rate[p->mode] > 0.0 ? 0.5 * p->rate[p->mode] + 0.5 * r : r;
    }
    p->win_calls = 0;
    p->windows++;
    if (p->rate[0] <= 0.0 || p->rate[1] <= 0.0) {
        p->mode = p->rate[1] <= 0.0;
        p->probe_every = 8;
        return;
    }
    {
        int best = p->rate[1] > 1.02 * p->rate[0];
        if (p->probing) /* the probe decides how soon to look again */
            p->probe_every = best == p->mode ? 8 : NN__MIN(2 * p->probe_every, 256);
        p->probing = p->windows % p->probe_every == 0;
        p->mode = p->probing ? !best : best;
    }
}

/* Run fn(arg, c) for c in 0..n-1, on the pool when it is free, not backing
   off and faster for this key, else here. Which thread runs a chunk never
   changes a result. */
static void nn__threads_run(nn_threads *p, double flops, nn__chunk_fn fn, void *arg, int n) {
    int mine;
    uint32_t gen;
    double t0, t1, waited;
    if (!p || p->n < 2 || n < 2 || nn__axchg(&p->busy, 1)) {
        fn(arg, -1);
        return;
    }
    p->calls++;
    t0 = nn__us();
    if (!p->fixed && (p->serial_left > 0 || !p->mode)) {
        if (p->serial_left > 0) p->serial_left--;
        fn(arg, -1);
        nn__threads_account(p, flops, t0, nn__us());
        nn__astore(&p->busy, 0);
        return;
    }
    p->parallel++;
    nn__mutex_lock(&p->mu);
    gen = ++p->gen;
    p->fn = fn;
    p->arg = arg;
    p->n_chunks = n;
    nn__astore(&p->done, 0);
    nn__astore64(&p->ticket, (uint64_t)gen << 32);
    if (p->sleeping) nn__cond_broadcast(&p->wake);
    nn__mutex_unlock(&p->mu);
    mine = nn__threads_work(p, gen, fn, arg, n);
    t1 = nn__us();
    /* wait for the chunks the workers took: spin briefly, then sleep */
    if (nn__aload(&p->done) != n) {
        int s = 0;
        while (nn__aload(&p->done) != n) {
            double d;
            NN__PAUSE();
            if ((++s & 63) == 0 && ((d = nn__us() - t1) > NN_THREADS_SPIN_US || d < 0.0)) break;
        }
        nn__mutex_lock(&p->mu);
        p->caller_waiting = 1;
        while (nn__aload(&p->done) != n) nn__cond_wait(&p->finished, &p->mu);
        p->caller_waiting = 0;
        nn__mutex_unlock(&p->mu);
    }
    /* A wait much longer than a chunk takes here means a worker lost its
       core mid-chunk: run alone for a while, twice as long each time. */
    waited = nn__us() - t1;
    if (p->fixed) {
        nn__astore(&p->busy, 0);
        return;
    }
    nn__threads_account(p, flops, t0, t1 + waited);
    if (mine > 0 && waited > 50.0 + 4.0 * (t1 - t0) / mine) {
        p->stalls++;
        p->backoff = p->backoff ? NN__MIN(2 * p->backoff, 4096) : 8;
        p->serial_left = p->backoff;
        p->clean = 0;
    } else if (p->backoff && ++p->clean >= 32) {
        p->backoff /= 2;
        p->clean = 0;
    }
    nn__astore(&p->busy, 0);
}
#else
struct nn_threads { int n; };
NNDEF nn_threads *nn_threads_create(int n) { (void)n; return NULL; }
NNDEF void nn_threads_destroy(nn_threads *p) { (void)p; }
NNDEF int nn_threads_count(const nn_threads *p) { return p ? p->n : 1; }
NNDEF void nn_threads_set_adaptive(nn_threads *p, int on) { (void)p; (void)on; }
NNDEF void nn_threads_stats(const nn_threads *p, long *calls, long *parallel, long *stalls, long *worker_chunks) {
    (void)p;
    if (calls) *calls = 0;
    if (parallel) *parallel = 0;
    if (stalls) *stalls = 0;
    if (worker_chunks) *worker_chunks = 0;
}
static void nn__threads_run(nn_threads *p, double flops, nn__chunk_fn fn, void *arg, int n) {
    (void)p;
    (void)flops;
    (void)n;
    fn(arg, -1);
}
#endif

/* Chunks 0..n-1 of fn on the pool; without one, on OpenMP's threads when
   the build has them and the work (flops) is worth it; else fn(arg, -1), all
   in one call. What a chunk computes never depends on who runs it. */
static void nn__run_chunks(nn_threads *pool, double flops, nn__chunk_fn fn, void *arg, int n) {
    if (pool && n > 1) {
        nn__threads_run(pool, flops, fn, arg, n);
        return;
    }
#ifdef _OPENMP
    if (!pool && n > 1 && flops >= 4e6) {
        int t;
#pragma omp parallel for schedule(static) num_threads(NN__MIN(n, omp_get_max_threads()))
        for (t = 0; t < n; t++) fn(arg, t);
        return;
    }
#else
    (void)flops;
#endif
    fn(arg, -1);
}

/* One GEMM cut into chunks of whole tiles along N (or M): chunk c is the
   serial GEMM of its slab, K never split. */
typedef struct nn__gemm_job {
    const nn__kern *kn;
    int trans_a, trans_b, M, N, K, split_n, unit, tiles, chunks;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int lda, ldb, ldc;
} nn__gemm_job;

static void nn__gemm_chunk(void *vp, int c) {
    const nn__gemm_job *j = (const nn__gemm_job *)vp;
    int t0 = c < 0 ? 0 : (int)((long long)j->tiles * c / j->chunks) * j->unit;
    int t1 = c < 0 ? j->tiles * j->unit : (int)((long long)j->tiles * (c + 1) / j->chunks) * j->unit;
    if (j->split_n) {
        int n = NN__MIN(t1, j->N) - t0;
        if (n > 0)
            nn__gemm_serial(j->kn, j->trans_a, j->trans_b, j->M, n, j->K, j->alpha, j->A, j->lda,
                            j->trans_b ? j->B + (size_t)t0 * j->ldb : j->B + t0, j->ldb, j->beta, j->C + t0, j->ldc);
    } else {
        int m = NN__MIN(t1, j->M) - t0;
        if (m > 0)
            nn__gemm_serial(j->kn, j->trans_a, j->trans_b, m, j->N, j->K, j->alpha,
                            j->trans_a ? j->A + t0 : j->A + (size_t)t0 * j->lda, j->lda, j->B, j->ldb, j->beta,
                            j->C + (size_t)t0 * j->ldc, j->ldc);
    }
}

static void nn__gemm(nn_threads *pool, int level, int trans_a, int trans_b, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

NNDEF void nn_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
                   const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc) {
    nn__gemm(NULL, 99, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

NNDEF void nn_gemm_at(int level, int trans_a, int trans_b, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    nn__gemm(NULL, level, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

NNDEF void nn_gemm_mt(nn_threads *t, int level, int trans_a, int trans_b, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    nn__gemm(t, level, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void nn__gemm(nn_threads *pool, int level, int trans_a, int trans_b, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    nn__kern kn;
    int threads = 1;
    kn.micro_b = NULL;
    kn.micro_n = NULL;
    kn.micro = nn__micro_ref;
    kn.mr = NN__MR;
    kn.nr = NN__NR;
    kn.simd = 0;
    (void)level; /* read only where a SIMD path is compiled in */
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
    if (level >= 1 && nn__cpu_has_avx2()) {
        kn.micro = nn__micro_avx2;
        kn.micro_n = nn__micro_avx2_n16;
        kn.nmr = NN__MR;
        kn.nnr = NN__NR;
        kn.simd = 1;
        /* the row kernel's choice depends on the shape only, never on the level */
        if (!trans_a && M < NN__MR) {
            int wide = 0;
#if NN__AVX512
            wide = level >= 3 && nn__cpu_has_avx512();
#endif
            nn__gemm_rows_avx2(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, wide);
            return;
        }
    }
#endif
#if NN__AVX512
    if (level >= 3 && nn__cpu_has_avx512()) {
        kn.micro = nn__micro_avx512;
        kn.micro_b = nn__micro_avx512_b;
        kn.micro_n = nn__micro_avx512_n16;
        kn.mr = NN__MR512;
        kn.nr = NN__NR512;
        kn.nmr = NN__MR16;
        kn.nnr = 16;
    }
#endif
#if NN__NEON
    if (level >= 1) kn.micro = nn__micro_neon;
#endif
#ifdef _OPENMP
    if (!pool && 2.0 * M * N * K >= 4e6) threads = omp_get_max_threads();
#endif
    if (pool && pool->n > 1 && 2.0 * M * N * K >= 1e6) threads = pool->n;
    if (threads <= 1) {
        nn__gemm_serial(&kn, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    {
        /* Slabs of C's columns (or rows) in whole tiles, each the serial GEMM:
           K is never split, so every element sees the same sums for any
           thread count. The pool takes several chunks per thread (a slower
           core takes fewer), OpenMP one each. */
        nn__gemm_job j;
        j.kn = &kn; j.trans_a = trans_a; j.trans_b = trans_b; j.M = M; j.N = N; j.K = K;
        j.alpha = alpha; j.beta = beta; j.A = A; j.B = B; j.C = C; j.lda = lda; j.ldb = ldb; j.ldc = ldc;
        j.split_n = N / kn.nr >= M / kn.mr;
        j.unit = j.split_n ? kn.nr : kn.mr;
        j.tiles = ((j.split_n ? N : M) + j.unit - 1) / j.unit;
        j.chunks = NN__MIN(j.tiles, pool ? NN__GEMM_CHUNKS * threads : threads);
        nn__run_chunks(pool, 2.0 * M * N * K, nn__gemm_chunk, &j, j.chunks);
    }
}

/* ---- elementwise kernels ---- */
#define NN__SQRT1_2 0.70710678118654752440f
/* PyTorch's relu: 0 where x < 0, x elsewhere (NaN and -0 pass through) */
static float nn__relu1(float x) { return x < 0.0f ? 0.0f : x; }
#define NN__GELU_TANH_BETA 0.79788456080286535588f /* sqrt(2/pi) */
#define NN__GELU_TANH_KAPPA 0.044715f
/* NN_POLY_ACT: the scalar activations through plain-C twins of the AVX2
   polynomials below (the same operations in the same order, so on a host
   whose compiler does not fuse a*b+c they give the AVX2 kernels' bits),
   instead of libm's expf, tanhf, expm1f and erff: for targets with no libm
   or a slow one. Softplus keeps log1pf (its e^x is the polynomial); the
   backward passes keep libm. */
#ifdef NN_POLY_ACT
static float nn__f32_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t nn__u32_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
/* Cephes' expf, as nn__exp_avx2: clamped, reduced by ln 2 in two parts, a
   degree-5 polynomial, scaled by 2^n in two halves */
static float nn__exp_poly(float x) {
    float x_in = x, t, fx, z, y;
    int n, n1, i;
    x = x < 88.3762626647949f ? x : 88.3762626647949f;
    x = x > -103.972084f ? x : -103.972084f;
    t = x * 1.44269504088896341f + 0.5f;
    i = (int)t;
    fx = (float)(i - ((float)i > t ? 1 : 0)); /* floor, t in [-150, 128] */
    x = x - fx * 0.693359375f;
    x = x - fx * -2.12194440e-4f;
    z = x * x;
    y = 1.9875691500e-4f;
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = (y * z + x) + 1.0f;
    n = (int)fx;
    n1 = (n - (n < 0)) / 2; /* floor(n / 2), as an arithmetic shift */
    y = (y * nn__f32_of((uint32_t)(n1 + 127) << 23)) * nn__f32_of((uint32_t)(n - n1 + 127) << 23);
    return x_in == x_in ? y : x_in;
}
static float nn__sigmoid_poly(float v) {
    float e = nn__exp_poly(nn__f32_of(nn__u32_of(v) | 0x80000000u)), r = 1.0f / (1.0f + e);
    return v >= 0.0f ? r : e * r;
}
static float nn__tanh_poly(float x) {
    uint32_t sgn = nn__u32_of(x) & 0x80000000u;
    float ax = nn__f32_of(nn__u32_of(x) & 0x7FFFFFFFu), z = x * x, p, e, big;
    p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z + -5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z + -3.33332819422e-1f;
    p = (p * z) * x + x;
    e = nn__exp_poly(ax + ax);
    big = 1.0f - 2.0f / (e + 1.0f);
    big = nn__f32_of(nn__u32_of(big) | sgn);
    p = ax < 0.625f ? p : big;
    return nn__f32_of((nn__u32_of(p) & 0x7FFFFFFFu) | sgn);
}
static float nn__elu_poly(float v, float alpha) {
    float e = nn__exp_poly(v < 0.0f ? v : 0.0f), t, em1;
    t = 1.0f / 24.0f + v * (1.0f / 120.0f);
    t = 1.0f / 6.0f + v * t;
    t = 0.5f + v * t;
    t = v * (1.0f + v * t);
    em1 = nn__f32_of(nn__u32_of(v) & 0x7FFFFFFFu) < 0.0625f ? t : e - 1.0f;
    if (!(v == v)) return v;
    return v > 0.0f ? v : alpha * em1;
}
static float nn__gelu_tanh_poly(float v) {
    float v3 = (v * v) * v, t = v + NN__GELU_TANH_KAPPA * v3;
    t = nn__tanh_poly(NN__GELU_TANH_BETA * t);
    return (0.5f * v) * (1.0f + t);
}
static float nn__gelu_poly(float v) {
    float z = nn__f32_of(nn__u32_of(v) & 0x7FFFFFFFu) * NN__SQRT1_2, t = 1.0f / (1.0f + 0.3275911f * z), q, eh;
    q = 1.061405429f;
    q = q * t + -1.453152027f;
    q = q * t + 1.421413741f;
    q = q * t + -0.284496736f;
    q = q * t + 0.254829592f;
    q = q * t;
    eh = 0.5f * (q * nn__exp_poly(0.0f - z * z));
    return v >= 0.0f ? v * (1.0f - eh) : v * eh;
}
/* rows of n: e^(x - max) summed in 8 lanes and the same tree as the AVX2 kernel */
static void nn__softmax_rows_poly(float *y, const float *x, size_t rows, int n) {
    size_t r;
    for (r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)n;
        float *yr = y + r * (size_t)n, mx = xr[0], lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0}, sum, inv;
        int i;
        for (i = 1; i < n; i++) mx = xr[i] > mx ? xr[i] : mx;
        for (i = 0; i < n; i++) {
            yr[i] = nn__exp_poly(xr[i] - mx);
            lanes[i % 8] += yr[i];
        }
        sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        inv = 1.0f / sum;
        for (i = 0; i < n; i++) yr[i] *= inv;
    }
}
#define NN__SIGMOID1(x) nn__sigmoid_poly(x)
#define NN__TANH1(x) nn__tanh_poly(x)
#define NN__ELU1(x, a) nn__elu_poly(x, a)
#define NN__GELU1(x) nn__gelu_poly(x)
#define NN__GELU_TANH1(x) nn__gelu_tanh_poly(x)
#define NN__SOFTMAX_ROWS nn__softmax_rows_poly
#define NN__EXPF(x) nn__exp_poly(x)
#endif
/* AVX2 twins of the hot elementwise loops. They are compiled for "avx2" only
   (no FMA contraction), so ReLU and the optimizer updates give the same bits
   as the plain loops; exp-based ones (sigmoid, SiLU) use a polynomial exp
   (Cephes' expf, scaled in two steps so denormal results stay right).
   Measured maximum relative error against the exact value over [-110, 110]
   (normal results): sigmoid 1.8e-7 (libm's path: 1.75e-7), SiLU 2.2e-7;
   tanh (Cephes' tanhf) 1.4e-7 over [-20, 20] (libm's tanhf: 1.5e-7);
   softmax rows 5.9e-7; GELU (tanh form) through that tanh: absolute error
   4.3e-7 over [-20, 20] (like 1 + tanhf, it rounds the far negative tail to
   0); ELU as alpha (e^x - 1): absolute error 4.7e-8 alpha, relative 1.2e-4
   next to 0 where expm1 would do better. LeakyReLU is exact. GELU with erf
   (Abramowitz & Stegun's erfc): absolute error 4.2e-7 over [-20, 20],
   relative 5.2e-5 above -3 (libm's 1 + erf: 1.1e-5 there, but it rounds the
   far tail to 0). The backward passes other than ReLU stay on libm. */
#if NN__AVX2
/* ReLU keeps x where !(x < 0): NaN and -0 pass through, as in PyTorch */
NN__TARGET_AVX2_ONLY static void nn__relu_avx2(float *y, const float *x, size_t n) {
    size_t i = 0;
    __m256 z = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(y + i, _mm256_and_ps(v, _mm256_cmp_ps(v, z, _CMP_NLT_UQ)));
    }
    for (; i < n; i++) y[i] = nn__relu1(x[i]);
}
/* dx = dy where !(x <= 0), as torch's threshold_backward (NaN x passes dy) */
NN__TARGET_AVX2_ONLY static void nn__relu_backward_avx2(float *dx, const float *dy, const float *x, size_t n) {
    size_t i = 0;
    __m256 z = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 m = _mm256_cmp_ps(_mm256_loadu_ps(x + i), z, _CMP_NLE_UQ);
        _mm256_storeu_ps(dx + i, _mm256_and_ps(_mm256_loadu_ps(dy + i), m));
    }
    for (; i < n; i++) dx[i] = x[i] <= 0.0f ? 0.0f : dy[i];
}
/* Where v is NaN, r takes it: min/max and the polynomial clamps would hide it. */
NN__TARGET_AVX2_ONLY static __m256 nn__keep_nan_avx2(__m256 r, __m256 v) {
    return _mm256_blendv_ps(r, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}
NN__TARGET_AVX2_ONLY static __m256 nn__exp_avx2(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 fx, z, y, x_in = x;
    __m256i e;
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-103.972084f)); /* below, e^x rounds to 0 */
    fx = _mm256_floor_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _mm256_set1_ps(0.5f)));
    x = _mm256_sub_ps(x, _mm256_mul_ps(fx, _mm256_set1_ps(0.693359375f)));
    x = _mm256_sub_ps(x, _mm256_mul_ps(fx, _mm256_set1_ps(-2.12194440e-4f)));
    z = _mm256_mul_ps(x, x);
    y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_add_ps(_mm256_mul_ps(y, x), _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_add_ps(_mm256_mul_ps(y, x), _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_add_ps(_mm256_mul_ps(y, x), _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_add_ps(_mm256_mul_ps(y, x), _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_add_ps(_mm256_mul_ps(y, x), _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(y, z), x), one);
    /* y * 2^n in two halves, so results down to the denormals come out right */
    {
        __m256i n = _mm256_cvttps_epi32(fx), n1 = _mm256_srai_epi32(n, 1), n2 = _mm256_sub_epi32(n, n1);
        __m256i e1 = _mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23);
        e = _mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23);
        return nn__keep_nan_avx2(_mm256_mul_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(e1)), _mm256_castsi256_ps(e)), x_in);
    }
}
/* e = e^-|x|; x >= 0: 1/(1+e), else e/(1+e): no overflow, denormals kept */
NN__TARGET_AVX2_ONLY static __m256 nn__sigmoid8_avx2(__m256 v) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 neg_abs = _mm256_or_ps(v, _mm256_set1_ps(-0.0f));
    __m256 e = nn__exp_avx2(neg_abs), r = _mm256_div_ps(one, _mm256_add_ps(one, e));
    /* a NaN v comes through e = exp(NaN) = NaN */
    return _mm256_blendv_ps(_mm256_mul_ps(e, r), r, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ));
}
/* sigmoid (silu = 0) or x * sigmoid(x) (silu = 1) */
NN__TARGET_AVX2_ONLY static void nn__sigmoid_avx2(float *y, const float *x, size_t n, int silu) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i), s = nn__sigmoid8_avx2(v);
        _mm256_storeu_ps(y + i, silu ? _mm256_mul_ps(v, s) : s);
    }
    if (i < n) {
        /* the tail through the same polynomial: an element's value never
           depends on its position or on the batch size */
        float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t k;
        for (k = 0; i + k < n; k++) buf[k] = x[i + k];
        {
            __m256 v = _mm256_loadu_ps(buf), sg = nn__sigmoid8_avx2(v);
            _mm256_storeu_ps(buf, silu ? _mm256_mul_ps(v, sg) : sg);
        }
        for (k = 0; i + k < n; k++) y[i + k] = buf[k];
    }
}
/* tanh as Cephes' tanhf: an odd polynomial below |x| = 0.625, 1 - 2/(e^2|x| + 1) above */
NN__TARGET_AVX2_ONLY static __m256 nn__tanh8_avx2(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f), sgn = _mm256_set1_ps(-0.0f);
    __m256 ax = _mm256_andnot_ps(sgn, x), z = _mm256_mul_ps(x, x), p, e, big;
    p = _mm256_set1_ps(-5.70498872745e-3f);
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(2.06390887954e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(-5.37397155531e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(1.33314422036e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, z), _mm256_set1_ps(-3.33332819422e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, z), x), x);
    e = nn__exp_avx2(_mm256_add_ps(ax, ax));
    big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
    big = _mm256_or_ps(big, _mm256_and_ps(x, sgn));
    p = _mm256_blendv_ps(big, p, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
    /* odd function: the sign is x's (keeps tanh(-0) = -0); a NaN x stays NaN
       through the polynomial and exp */
    return _mm256_or_ps(_mm256_andnot_ps(sgn, p), _mm256_and_ps(x, sgn));
}
NN__TARGET_AVX2_ONLY static void nn__tanh_avx2(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, nn__tanh8_avx2(_mm256_loadu_ps(x + i)));
    if (i < n) { /* the tail through the same polynomial */
        float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t k;
        for (k = 0; i + k < n; k++) buf[k] = x[i + k];
        _mm256_storeu_ps(buf, nn__tanh8_avx2(_mm256_loadu_ps(buf)));
        for (k = 0; i + k < n; k++) y[i + k] = buf[k];
    }
}
NN__TARGET_AVX2_ONLY static void nn__leaky_avx2(float *y, const float *x, size_t n, float alpha) {
    size_t i = 0;
    __m256 va = _mm256_set1_ps(alpha), z = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(_mm256_mul_ps(va, v), v, _mm256_cmp_ps(v, z, _CMP_GT_OQ)));
    }
    for (; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : alpha * x[i];
}
/* Softmax of each row of n: max, e^(x - max) through the polynomial (the tail
   of a row too), one sum in a fixed lane order, then a scale. */
NN__TARGET_AVX2_ONLY static void nn__softmax_rows_avx2(float *y, const float *x, size_t rows, int n) {
    size_t r;
    for (r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)n;
        float *yr = y + r * (size_t)n, mx = xr[0], lanes[8], sum, inv;
        __m256 vs = _mm256_setzero_ps(), vm;
        int i, k;
        for (i = 1; i < n; i++) mx = xr[i] > mx ? xr[i] : mx;
        vm = _mm256_set1_ps(mx);
        for (i = 0; i + 8 <= n; i += 8) {
            __m256 e = nn__exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vm));
            _mm256_storeu_ps(yr + i, e);
            vs = _mm256_add_ps(vs, e);
        }
        if (i < n) {
            float buf[8];
            __m256 e;
            for (k = 0; k < 8; k++) buf[k] = i + k < n ? xr[i + k] - mx : -1e30f; /* e^-1e30 = 0 */
            e = nn__exp_avx2(_mm256_loadu_ps(buf));
            _mm256_storeu_ps(buf, e);
            for (k = 0; i + k < n; k++) yr[i + k] = buf[k];
            vs = _mm256_add_ps(vs, e);
        }
        _mm256_storeu_ps(lanes, vs);
        sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        inv = 1.0f / sum;
        for (i = 0; i < n; i++) yr[i] *= inv;
    }
}
/* ELU and GELU (tanh form) 8 at a time; nn__map8_avx2 runs one over n values,
   the tail through the same code via a padded buffer. */
NN__TARGET_AVX2_ONLY static void nn__elu8_avx2(float *y, const float *x, float alpha) {
    /* e^x - 1 cancels for small |x|: a Taylor series there (|x| < 1/16, error
       below x^6/720), so tiny and denormal inputs keep their value (expm1) */
    __m256 v = _mm256_loadu_ps(x), e = nn__exp_avx2(_mm256_min_ps(v, _mm256_setzero_ps())), em1, t;
    __m256 tiny = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), v), _mm256_set1_ps(0.0625f), _CMP_LT_OQ);
    t = _mm256_add_ps(_mm256_set1_ps(1.0f / 24.0f), _mm256_mul_ps(v, _mm256_set1_ps(1.0f / 120.0f)));
    t = _mm256_add_ps(_mm256_set1_ps(1.0f / 6.0f), _mm256_mul_ps(v, t));
    t = _mm256_add_ps(_mm256_set1_ps(0.5f), _mm256_mul_ps(v, t));
    t = _mm256_mul_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(v, t))); /* -0 stays -0 */
    em1 = _mm256_blendv_ps(_mm256_sub_ps(e, _mm256_set1_ps(1.0f)), t, tiny);
    {
        __m256 neg = _mm256_mul_ps(_mm256_set1_ps(alpha), em1);
        _mm256_storeu_ps(y, nn__keep_nan_avx2(_mm256_blendv_ps(neg, v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ)), v));
    }
}
NN__TARGET_AVX2_ONLY static void nn__gelu_tanh8_avx2(float *y, const float *x, float alpha) {
    __m256 v = _mm256_loadu_ps(x), v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v), t;
    (void)alpha;
    t = _mm256_add_ps(v, _mm256_mul_ps(_mm256_set1_ps(NN__GELU_TANH_KAPPA), v3));
    t = nn__tanh8_avx2(_mm256_mul_ps(_mm256_set1_ps(NN__GELU_TANH_BETA), t));
    _mm256_storeu_ps(y, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(_mm256_set1_ps(1.0f), t)));
}
/* GELU with erf: erfc(z) ~ t (a1 + t (a2 + ... + t a5)) e^(-z^2), t = 1/(1 + p z)
   (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7), z = |x|/sqrt 2; then
   x (1 - erfc/2) for x >= 0 and x erfc/2 below, so no 1 + erf cancels. */
NN__TARGET_AVX2_ONLY static void nn__gelu8_avx2(float *y, const float *x, float alpha) {
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    __m256 v = _mm256_loadu_ps(x), z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), v), _mm256_set1_ps(NN__SQRT1_2));
    __m256 t = _mm256_div_ps(one, _mm256_add_ps(one, _mm256_mul_ps(_mm256_set1_ps(0.3275911f), z))), q, erfc_h;
    (void)alpha;
    q = _mm256_set1_ps(1.061405429f);
    q = _mm256_add_ps(_mm256_mul_ps(q, t), _mm256_set1_ps(-1.453152027f));
    q = _mm256_add_ps(_mm256_mul_ps(q, t), _mm256_set1_ps(1.421413741f));
    q = _mm256_add_ps(_mm256_mul_ps(q, t), _mm256_set1_ps(-0.284496736f));
    q = _mm256_add_ps(_mm256_mul_ps(q, t), _mm256_set1_ps(0.254829592f));
    q = _mm256_mul_ps(q, t);
    erfc_h = _mm256_mul_ps(half, _mm256_mul_ps(q, nn__exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(z, z)))));
    /* a NaN v makes t, and so erfc_h, NaN */
    _mm256_storeu_ps(y, _mm256_blendv_ps(_mm256_mul_ps(v, erfc_h), _mm256_mul_ps(v, _mm256_sub_ps(one, erfc_h)),
                                         _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ)));
}
typedef void (*nn__map8_fn)(float *y, const float *x, float alpha);
NN__TARGET_AVX2_ONLY static void nn__map8_avx2(float *y, const float *x, size_t n, nn__map8_fn f, float alpha) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) f(y + i, x + i, alpha);
    if (i < n) {
        float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        size_t k;
        for (k = 0; i + k < n; k++) buf[k] = x[i + k];
        f(buf, buf, alpha);
        for (k = 0; i + k < n; k++) y[i + k] = buf[k];
    }
}
/* SGD with momentum, PyTorch form, after the first step: v = mu v + damp g; w -= lr v */
/* gz, when not NULL, is g's writable twin: zeroed once read (nn_optim_step_and_zero_grad). */
NN__TARGET_AVX2_ONLY static void nn__sgd_momentum_avx2(float *w, float *v, const float *g, float *gz, size_t n,
                                                       float lr, float mu, float damp) {
    size_t i = 0;
    __m256 vlr = _mm256_set1_ps(lr), vmu = _mm256_set1_ps(mu), vd = _mm256_set1_ps(damp);
    for (; i + 8 <= n; i += 8) {
        __m256 m = _mm256_add_ps(_mm256_mul_ps(vmu, _mm256_loadu_ps(v + i)), _mm256_mul_ps(vd, _mm256_loadu_ps(g + i)));
        if (gz) _mm256_storeu_ps(gz + i, _mm256_setzero_ps());
        _mm256_storeu_ps(v + i, m);
        _mm256_storeu_ps(w + i, _mm256_sub_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(vlr, m)));
    }
    for (; i < n; i++) {
        v[i] = mu * v[i] + damp * g[i];
        w[i] -= lr * v[i];
        if (gz) gz[i] = 0.0f;
    }
}
/* Adam without AMSGrad: m, v moments; w -= step * m / (sqrt(v) / bc2s + eps) */
#if NN__AVX512
/* The same update 16 at a time (same operations, same order: same bits). */
NN__TARGET_AVX512 static size_t nn__adam_avx512(float *w, float *m, float *v, const float *g, float *gz, size_t n,
                                                float b1, float b2, float step, float bc2s, float eps) {
    size_t i = 0;
    __m512 vb1 = _mm512_set1_ps(b1), vb2 = _mm512_set1_ps(b2), c1 = _mm512_set1_ps(1.0f - b1);
    __m512 c2 = _mm512_set1_ps(1.0f - b2), vs = _mm512_set1_ps(step), vbc = _mm512_set1_ps(bc2s);
    __m512 ve = _mm512_set1_ps(eps);
    for (; i + 16 <= n; i += 16) {
        /* AVX-512F has FMA: the empty asm keeps each product rounded on its
           own, as in the AVX2 loop (compiled without FMA), whatever the
           compiler's contraction rules */
        __m512 gg = _mm512_loadu_ps(g + i), p1, p2, p3, p4, mm, vv, den, step_q;
        p1 = _mm512_mul_ps(vb1, _mm512_loadu_ps(m + i));
        p2 = _mm512_mul_ps(c1, gg);
        p3 = _mm512_mul_ps(vb2, _mm512_loadu_ps(v + i));
        p4 = _mm512_mul_ps(_mm512_mul_ps(c2, gg), gg);
        NN__OPAQUE(p1);
        NN__OPAQUE(p2);
        NN__OPAQUE(p3);
        NN__OPAQUE(p4);
        if (gz) _mm512_storeu_ps(gz + i, _mm512_setzero_ps());
        mm = _mm512_add_ps(p1, p2);
        vv = _mm512_add_ps(p3, p4);
        /* the masked form: g++ 12 warns on the plain one's undefined source */
        den = _mm512_add_ps(_mm512_div_ps(_mm512_mask_sqrt_ps(vv, (__mmask16)0xFFFF, vv), vbc), ve);
        step_q = _mm512_mul_ps(vs, _mm512_div_ps(mm, den));
        NN__OPAQUE(step_q);
        _mm512_storeu_ps(m + i, mm);
        _mm512_storeu_ps(v + i, vv);
        _mm512_storeu_ps(w + i, _mm512_sub_ps(_mm512_loadu_ps(w + i), step_q));
    }
    return i;
}
#endif
NN__TARGET_AVX2_ONLY static void nn__adam_avx2(float *w, float *m, float *v, const float *g, float *gz, size_t n,
                                               float b1, float b2, float step, float bc2s, float eps) {
    size_t i = 0;
    __m256 vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2), c1 = _mm256_set1_ps(1.0f - b1);
    __m256 c2 = _mm256_set1_ps(1.0f - b2), vs = _mm256_set1_ps(step), vbc = _mm256_set1_ps(bc2s);
    __m256 ve = _mm256_set1_ps(eps);
    for (; i + 8 <= n; i += 8) {
        __m256 gg = _mm256_loadu_ps(g + i);
        __m256 mm;
        if (gz) _mm256_storeu_ps(gz + i, _mm256_setzero_ps());
        mm = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(c1, gg));
        __m256 vv = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(c2, gg), gg));
        __m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vv), vbc), ve);
        _mm256_storeu_ps(m + i, mm);
        _mm256_storeu_ps(v + i, vv);
        _mm256_storeu_ps(w + i, _mm256_sub_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(vs, _mm256_div_ps(mm, den))));
    }
    for (; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        w[i] -= step * (m[i] / (sqrtf(v[i]) / bc2s + eps));
        if (gz) gz[i] = 0.0f;
    }
}
#endif

/* == 6. layers: dense, weight std, maxout, dropout, norms, conv and pooling, activations */
/* ---- dense ---- */
/* The per-layer kernels check the caller's shapes in every build before they
   write anything: a mismatch trips NN_ASSERT (debug builds) and returns with
   the outputs untouched (release builds). */
#define NN__REQUIRE(c)                                 \
    do {                                               \
        if (!(c)) {                                    \
            NN_ASSERT(!"nn.h: caller data: " #c);      \
            return;                                    \
        }                                              \
    } while (0)
/* a tensor with data and a usable rank */
#define NN__T(t) ((t).data && (t).rank >= 1 && (t).rank <= NN_MAX_RANK)

static void nn__dense_forward(nn_threads *th, nn_tensor y, nn_tensor x, nn_tensor w, nn_tensor b);
static void nn__dense_backward(nn_threads *th, nn_tensor dx, nn_tensor dw, nn_tensor db, nn_tensor dy, nn_tensor x,
                               nn_tensor w);

NNDEF void nn_dense_forward(nn_tensor y, nn_tensor x, nn_tensor w, nn_tensor b) {
    nn__dense_forward(NULL, y, x, w, b);
}

NNDEF void nn_dense_backward(nn_tensor dx, nn_tensor dw, nn_tensor db, nn_tensor dy, nn_tensor x, nn_tensor w) {
    nn__dense_backward(NULL, dx, dw, db, dy, x, w);
}

/* the model's forms: the GEMMs on its threads */
static void nn__dense_forward(nn_threads *th, nn_tensor y, nn_tensor x, nn_tensor w, nn_tensor b) {
    /* x (B,IN) w (OUT,IN) b (OUT) -> y (B,OUT) */
    int B, n_in, n_out, i, o;
    NN__REQUIRE(NN__T(x) && NN__T(y) && NN__T(w) && w.rank == 2);
    B = x.shape[0]; n_in = nn_tensor_row_size(x); n_out = w.shape[0];
    NN__REQUIRE(w.shape[1] == n_in && y.shape[0] == B && nn_tensor_row_size(y) == n_out);
    NN__REQUIRE(!b.data || (int)nn_tensor_size(b) == n_out);
    if (b.data) {
        /* Start from the bias and accumulate x w^T onto it, as BLAS addmm does. */
        for (i = 0; i < B; i++)
            for (o = 0; o < n_out; o++) y.data[(size_t)i * n_out + o] = b.data[o];
    }
    nn__gemm(th, 99, 0, 1, B, n_out, n_in, 1.0f, x.data, n_in, w.data, n_in, b.data ? 1.0f : 0.0f, y.data, n_out);
}

static void nn__dense_backward(nn_threads *th, nn_tensor dx, nn_tensor dw, nn_tensor db, nn_tensor dy, nn_tensor x,
                               nn_tensor w) {
    /* dy (B,OUT) x (B,IN) w (OUT,IN) -> dx (B,IN) =, dw (OUT,IN) +=, db (OUT) += */
    int B, n_out, n_in, i, o;
    NN__REQUIRE(NN__T(dy) && NN__T(x) && NN__T(w) && w.rank == 2);
    B = dy.shape[0]; n_out = nn_tensor_row_size(dy); n_in = w.shape[1];
    NN__REQUIRE(w.shape[0] == n_out && x.shape[0] == B && nn_tensor_row_size(x) == n_in);
    NN__REQUIRE(!dx.data || (dx.rank >= 1 && dx.shape[0] == B && nn_tensor_row_size(dx) == n_in));
    NN__REQUIRE(!dw.data || nn_tensor_same_shape(dw, w));
    NN__REQUIRE(!db.data || (int)nn_tensor_size(db) == n_out);
    if (dx.data) {
        nn__gemm(th, 99, 0, 0, B, n_in, n_out, 1.0f, dy.data, n_out, w.data, n_in, 0.0f, dx.data, n_in);
    }
    if (dw.data) {
        nn__gemm(th, 99, 1, 0, n_out, n_in, B, 1.0f, dy.data, n_out, x.data, n_in, 1.0f, dw.data, n_in);
    }
    if (db.data) {
        for (i = 0; i < B; i++) {
            const float *g = dy.data + (size_t)i * n_out;
            for (o = 0; o < n_out; o++) db.data[o] += g[o];
        }
    }
}

/* ---- weight standardization ---- */
NNDEF void nn_weight_std_forward(nn_tensor w_hat, float *rstd, nn_tensor w, float eps) {
    /* w (OUT,IN) -> w_hat (OUT,IN), rstd (OUT) */
    int n_out, n_in, o, i;
    NN__REQUIRE(NN__T(w) && w.rank == 2 && w_hat.data && nn_tensor_same_shape(w_hat, w) && rstd);
    n_out = w.shape[0]; n_in = w.shape[1];
    for (o = 0; o < n_out; o++) {
        const float *src = w.data + (size_t)o * n_in;
        float *dst = w_hat.data + (size_t)o * n_in, mean, r;
        double s = 0.0, v = 0.0;
        for (i = 0; i < n_in; i++) s += src[i];
        mean = (float)(s / n_in);
        for (i = 0; i < n_in; i++) v += (double)(src[i] - mean) * (src[i] - mean);
        r = (float)(1.0 / sqrt(v / n_in + eps));
        for (i = 0; i < n_in; i++) dst[i] = (src[i] - mean) * r;
        rstd[o] = r;
    }
}

/* The normalization backward shared by weight std and layer norm: for one row
   with x_hat = (x - mean) * rstd and upstream g = dL/dx_hat,
   dL/dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat)). */
static void nn__norm_row_backward(float *dx, const float *g, const float *x_hat_or_null,
                                  const float *x, float mean, float rstd, int n, int accumulate) {
    double sg = 0.0, sgx = 0.0;
    float mg, mgx;
    int i;
    for (i = 0; i < n; i++) {
        float xh = x_hat_or_null ? x_hat_or_null[i] : (x[i] - mean) * rstd;
        sg += g[i];
        sgx += (double)g[i] * xh;
    }
    mg = (float)(sg / n);
    mgx = (float)(sgx / n);
    for (i = 0; i < n; i++) {
        float xh = x_hat_or_null ? x_hat_or_null[i] : (x[i] - mean) * rstd;
        float d = rstd * (g[i] - mg - xh * mgx);
        dx[i] = accumulate ? dx[i] + d : d;
    }
}

NNDEF void nn_weight_std_backward(nn_tensor dw, nn_tensor dw_hat, nn_tensor w_hat, const float *rstd) {
    /* dw_hat, w_hat (OUT,IN) rstd (OUT) -> dw (OUT,IN) += */
    int n_out, n_in, o;
    NN__REQUIRE(NN__T(w_hat) && w_hat.rank == 2 && dw.data && dw_hat.data && rstd);
    NN__REQUIRE(nn_tensor_same_shape(dw, w_hat) && nn_tensor_same_shape(dw_hat, w_hat));
    n_out = w_hat.shape[0]; n_in = w_hat.shape[1];
    for (o = 0; o < n_out; o++)
        nn__norm_row_backward(dw.data + (size_t)o * n_in, dw_hat.data + (size_t)o * n_in,
                              w_hat.data + (size_t)o * n_in, NULL, 0.0f, rstd[o], n_in, 1);
}

/* ---- maxout ---- */
static void nn__maxout_forward(nn_threads *th, nn_tensor y, nn_tensor z, int *argmax, nn_tensor x, nn_tensor w,
                               nn_tensor b, int k);
static void nn__maxout_backward(nn_threads *th, nn_tensor dx, nn_tensor dw, nn_tensor db, nn_tensor dz, nn_tensor dy,
                                nn_tensor x, nn_tensor w, const int *argmax, int k);

NNDEF void nn_maxout_forward(nn_tensor y, nn_tensor z, int *argmax, nn_tensor x,
                             nn_tensor w, nn_tensor b, int k) {
    nn__maxout_forward(NULL, y, z, argmax, x, w, b, k);
}

NNDEF void nn_maxout_backward(nn_tensor dx, nn_tensor dw, nn_tensor db, nn_tensor dz,
                              nn_tensor dy, nn_tensor x, nn_tensor w, const int *argmax, int k) {
    nn__maxout_backward(NULL, dx, dw, db, dz, dy, x, w, argmax, k);
}

static void nn__maxout_forward(nn_threads *th, nn_tensor y, nn_tensor z, int *argmax, nn_tensor x, nn_tensor w,
                               nn_tensor b, int k) {
    /* x (B,IN) w (OUT*k,IN) b (OUT*k) -> z (B,OUT*k), argmax (B,OUT), y (B,OUT) */
    int B, n_out, i, o, j;
    NN__REQUIRE(NN__T(x) && NN__T(y) && NN__T(z) && NN__T(w) && w.rank == 2 && argmax && k >= 1);
    B = x.shape[0]; n_out = nn_tensor_row_size(y);
    NN__REQUIRE(y.shape[0] == B && (long long)w.shape[0] == (long long)n_out * k &&
                w.shape[1] == nn_tensor_row_size(x));
    NN__REQUIRE(z.shape[0] == B && (long long)nn_tensor_row_size(z) == (long long)n_out * k);
    NN__REQUIRE(!b.data || (long long)nn_tensor_size(b) == (long long)n_out * k);
    nn__dense_forward(th, z, x, w, b);
    for (i = 0; i < B; i++) {
        const float *zr = z.data + (size_t)i * n_out * k;
        for (o = 0; o < n_out; o++) {
            int best = 0;
            for (j = 1; j < k; j++)
                if (zr[o * k + j] > zr[o * k + best]) best = j;
            argmax[(size_t)i * n_out + o] = best;
            y.data[(size_t)i * n_out + o] = zr[o * k + best];
        }
    }
}

static void nn__maxout_backward(nn_threads *th, nn_tensor dx, nn_tensor dw, nn_tensor db, nn_tensor dz, nn_tensor dy,
                                nn_tensor x, nn_tensor w, const int *argmax, int k) {
    /* dy (B,OUT) -> dz (B,OUT*k) scratch -> dx (B,IN) =, dw +=, db += */
    int B, n_out, i, o;
    size_t q;
    NN__REQUIRE(NN__T(dy) && NN__T(dz) && NN__T(x) && NN__T(w) && w.rank == 2 && argmax && k >= 1);
    B = dy.shape[0]; n_out = nn_tensor_row_size(dy);
    NN__REQUIRE(dz.shape[0] == B && (long long)nn_tensor_row_size(dz) == (long long)n_out * k &&
                (long long)w.shape[0] == (long long)n_out * k);
    NN__REQUIRE(x.shape[0] == B && nn_tensor_row_size(x) == w.shape[1]);
    NN__REQUIRE(!dx.data || (dx.rank >= 1 && dx.shape[0] == B && nn_tensor_row_size(dx) == w.shape[1]));
    NN__REQUIRE(!dw.data || nn_tensor_same_shape(dw, w));
    NN__REQUIRE(!db.data || (long long)nn_tensor_size(db) == (long long)n_out * k);
    for (q = 0; q < (size_t)B * n_out; q++) NN__REQUIRE(argmax[q] >= 0 && argmax[q] < k);
    memset(dz.data, 0, sizeof(float) * (size_t)B * n_out * k);
    for (i = 0; i < B; i++)
        for (o = 0; o < n_out; o++)
            dz.data[(size_t)i * n_out * k + (size_t)o * k + argmax[(size_t)i * n_out + o]] =
                dy.data[(size_t)i * n_out + o];
    nn__dense_backward(th, dx, dw, db, dz, x, w);
}

/* ---- dropout ---- */
NNDEF void nn_dropout_forward(nn_tensor y, float *mask, nn_tensor x, float p, int train, nn_rng *rng) {
    /* x (any) -> y, mask (same size) */
    size_t n, i;
    NN__REQUIRE(NN__T(x) && NN__T(y) && nn_tensor_size(y) == nn_tensor_size(x) && p >= 0.0f && p < 1.0f);
    NN__REQUIRE(!train || p == 0.0f || (mask && rng));
    n = nn_tensor_size(x);
    if (!train || p == 0.0f) {
        if (y.data != x.data) memmove(y.data, x.data, n * sizeof(float));
        if (mask)
            for (i = 0; i < n; i++) mask[i] = 1.0f;
        return;
    }
    {
        float scale = 1.0f / (1.0f - p);
        for (i = 0; i < n; i++) {
            float m = nn_rng_uniform(rng) < p ? 0.0f : scale;
            mask[i] = m;
            y.data[i] = x.data[i] * m;
        }
    }
}

NNDEF void nn_dropout_vanilla_forward(nn_tensor y, float *mask, nn_tensor x, float p, int train, nn_rng *rng) {
    size_t n, i;
    NN__REQUIRE(NN__T(x) && NN__T(y) && nn_tensor_size(y) == nn_tensor_size(x) && p >= 0.0f && p < 1.0f && mask);
    NN__REQUIRE(!train || p == 0.0f || rng);
    n = nn_tensor_size(x);
    if (!train || p == 0.0f) {
        float keep = train ? 1.0f : 1.0f - p;
        for (i = 0; i < n; i++) {
            mask[i] = keep;
            y.data[i] = x.data[i] * keep;
        }
        return;
    }
    for (i = 0; i < n; i++) {
        float m = nn_rng_uniform(rng) < p ? 0.0f : 1.0f;
        mask[i] = m;
        y.data[i] = x.data[i] * m;
    }
}

NNDEF void nn_dropout_vanilla_backward(nn_tensor dx, nn_tensor dy, const float *mask) {
    size_t n, i;
    if (!dx.data) return;
    NN__REQUIRE(NN__T(dy) && nn_tensor_size(dx) == nn_tensor_size(dy) && mask);
    n = nn_tensor_size(dy);
    for (i = 0; i < n; i++) dx.data[i] = dy.data[i] * mask[i];
}

NNDEF void nn_dropout_backward(nn_tensor dx, nn_tensor dy, const float *mask, int train) {
    size_t n, i;
    if (!dx.data) return;
    NN__REQUIRE(NN__T(dy) && nn_tensor_size(dx) == nn_tensor_size(dy) && (!train || mask));
    n = nn_tensor_size(dy);
    if (!train) {
        if (dx.data != dy.data) memmove(dx.data, dy.data, n * sizeof(float));
        return;
    }
    for (i = 0; i < n; i++) dx.data[i] = dy.data[i] * mask[i];
}

/* ---- batch norm ---- */
#define NN__BN_BLOCK 128 /* features per block: 2 KB of double sums on the stack */
NNDEF void nn_batchnorm_forward(nn_tensor y, float *save_mean, float *save_rstd, nn_tensor x,
                                nn_tensor gamma, nn_tensor beta, float *running_mean,
                                float *running_var, float eps, float momentum, int train) {
    /* x (B,F) gamma beta running_* save_* (F) -> y (B,F) */
    int B, F, i, f, f0;
    NN__REQUIRE(NN__T(x) && NN__T(y) && NN__T(gamma) && NN__T(beta) && save_mean && save_rstd);
    B = x.shape[0]; F = nn_tensor_row_size(x);
    NN__REQUIRE(nn_tensor_size(y) == nn_tensor_size(x) && (int)nn_tensor_size(gamma) == F &&
                (int)nn_tensor_size(beta) == F && running_mean && running_var);
    NN__REQUIRE(!train || B > 1); /* PyTorch refuses too: one value gives no variance */
    /* Features in blocks, rows in order inside each: every sum runs over the
       batch in the same order as one feature at a time would, but the loads
       are contiguous rows and the compiler vectorizes across features. */
    for (f0 = 0; f0 < F; f0 += NN__BN_BLOCK) {
        double s[NN__BN_BLOCK], v[NN__BN_BLOCK];
        int nf = NN__MIN(NN__BN_BLOCK, F - f0);
        float *mean = save_mean + f0, *rstd = save_rstd + f0;
        const float *g = gamma.data + f0, *b = beta.data + f0;
        if (train) {
            for (f = 0; f < nf; f++) s[f] = v[f] = 0.0;
            for (i = 0; i < B; i++) {
                const float *xr = x.data + (size_t)i * F + f0;
                for (f = 0; f < nf; f++) s[f] += xr[f];
            }
            for (f = 0; f < nf; f++) mean[f] = (float)(s[f] / B);
            for (i = 0; i < B; i++) {
                const float *xr = x.data + (size_t)i * F + f0;
                for (f = 0; f < nf; f++) {
                    double d = (double)xr[f] - mean[f];
                    v[f] += d * d;
                }
            }
            for (f = 0; f < nf; f++) {
                rstd[f] = (float)(1.0 / sqrt(v[f] / B + eps));
                running_mean[f0 + f] = (1.0f - momentum) * running_mean[f0 + f] + momentum * mean[f];
                running_var[f0 + f] = (1.0f - momentum) * running_var[f0 + f] + momentum * (float)(v[f] / (B - 1));
            }
        } else {
            for (f = 0; f < nf; f++) {
                mean[f] = running_mean[f0 + f];
                rstd[f] = (float)(1.0 / sqrt((double)running_var[f0 + f] + eps));
            }
        }
        for (i = 0; i < B; i++) {
            const float *xr = x.data + (size_t)i * F + f0;
            float *yr = y.data + (size_t)i * F + f0;
            for (f = 0; f < nf; f++) yr[f] = (xr[f] - mean[f]) * rstd[f] * g[f] + b[f];
        }
    }
}

NNDEF void nn_batchnorm_backward(nn_tensor dx, nn_tensor dgamma, nn_tensor dbeta, nn_tensor dy,
                                 nn_tensor x, nn_tensor gamma, const float *save_mean,
                                 const float *save_rstd, int train) {
    /* dy x (B,F) -> dx (B,F) =, dgamma dbeta (F) += */
    int B, F, i, f, f0;
    NN__REQUIRE(NN__T(dy) && NN__T(x) && NN__T(gamma) && save_mean && save_rstd);
    B = dy.shape[0]; F = nn_tensor_row_size(dy);
    NN__REQUIRE(nn_tensor_same_shape(x, dy) && (int)nn_tensor_size(gamma) == F);
    NN__REQUIRE(!dx.data || nn_tensor_size(dx) == nn_tensor_size(dy));
    NN__REQUIRE(!dgamma.data || (int)nn_tensor_size(dgamma) == F);
    NN__REQUIRE(!dbeta.data || (int)nn_tensor_size(dbeta) == F);
    for (f0 = 0; f0 < F; f0 += NN__BN_BLOCK) { /* blocks of features, as forward */
        double sg[NN__BN_BLOCK], sgx[NN__BN_BLOCK];
        float mg[NN__BN_BLOCK], mgx[NN__BN_BLOCK];
        int nf = NN__MIN(NN__BN_BLOCK, F - f0);
        const float *mean = save_mean + f0, *rstd = save_rstd + f0, *g = gamma.data + f0;
        for (f = 0; f < nf; f++) sg[f] = sgx[f] = 0.0;
        for (i = 0; i < B; i++) {
            const float *xr = x.data + (size_t)i * F + f0, *gr = dy.data + (size_t)i * F + f0;
            for (f = 0; f < nf; f++) {
                sg[f] += gr[f];
                sgx[f] += (double)gr[f] * ((xr[f] - mean[f]) * rstd[f]);
            }
        }
        for (f = 0; f < nf; f++) {
            if (dgamma.data) dgamma.data[f0 + f] += (float)sgx[f];
            if (dbeta.data) dbeta.data[f0 + f] += (float)sg[f];
            mg[f] = (float)(sg[f] / B);
            mgx[f] = (float)(sgx[f] / B);
        }
        if (!dx.data) continue;
        for (i = 0; i < B; i++) {
            const float *xr = x.data + (size_t)i * F + f0, *gr = dy.data + (size_t)i * F + f0;
            float *dr = dx.data + (size_t)i * F + f0;
            if (train) {
                /* batch statistics depend on x: dx = g rstd (dy - mean(dy) - x_hat mean(dy x_hat)) */
                for (f = 0; f < nf; f++) {
                    float xh = (xr[f] - mean[f]) * rstd[f];
                    dr[f] = g[f] * rstd[f] * (gr[f] - mg[f] - xh * mgx[f]);
                }
            } else {
                for (f = 0; f < nf; f++) dr[f] = gr[f] * g[f] * rstd[f];
            }
        }
    }
}

/* ---- layer norm ---- */
NNDEF void nn_layernorm_forward(nn_tensor y, float *save_mean, float *save_rstd, nn_tensor x,
                                nn_tensor gamma, nn_tensor beta, float eps) {
    /* x (B,F) gamma beta (F) -> y (B,F), save_mean save_rstd (B) */
    int B, F, i, f;
    NN__REQUIRE(NN__T(x) && NN__T(y) && NN__T(gamma) && NN__T(beta) && save_mean && save_rstd);
    B = x.shape[0]; F = nn_tensor_row_size(x);
    NN__REQUIRE(nn_tensor_size(y) == nn_tensor_size(x) && (int)nn_tensor_size(gamma) == F &&
                (int)nn_tensor_size(beta) == F);
    for (i = 0; i < B; i++) {
        const float *xr = x.data + (size_t)i * F;
        float *yr = y.data + (size_t)i * F, mean, rstd;
        double s = 0.0, v = 0.0;
        for (f = 0; f < F; f++) s += xr[f];
        mean = (float)(s / F);
        for (f = 0; f < F; f++) v += (double)(xr[f] - mean) * (xr[f] - mean);
        rstd = (float)(1.0 / sqrt(v / F + eps));
        for (f = 0; f < F; f++) yr[f] = (xr[f] - mean) * rstd * gamma.data[f] + beta.data[f];
        save_mean[i] = mean;
        save_rstd[i] = rstd;
    }
}

NNDEF void nn_layernorm_backward(nn_tensor dx, nn_tensor dgamma, nn_tensor dbeta, nn_tensor dy,
                                 nn_tensor x, nn_tensor gamma, const float *save_mean,
                                 const float *save_rstd) {
    /* dy x (B,F) -> dx (B,F) =, dgamma dbeta (F) += */
    int B, F, i, f;
    NN__REQUIRE(NN__T(dy) && NN__T(x) && NN__T(gamma) && save_mean && save_rstd);
    B = dy.shape[0]; F = nn_tensor_row_size(dy);
    NN__REQUIRE(nn_tensor_same_shape(x, dy) && (int)nn_tensor_size(gamma) == F);
    NN__REQUIRE(!dx.data || nn_tensor_size(dx) == nn_tensor_size(dy));
    NN__REQUIRE(!dgamma.data || (int)nn_tensor_size(dgamma) == F);
    NN__REQUIRE(!dbeta.data || (int)nn_tensor_size(dbeta) == F);
    for (i = 0; i < B; i++) {
        const float *xr = x.data + (size_t)i * F, *gr = dy.data + (size_t)i * F;
        float mean = save_mean[i], rstd = save_rstd[i];
        for (f = 0; f < F; f++) {
            float xh = (xr[f] - mean) * rstd;
            if (dgamma.data) dgamma.data[f] += gr[f] * xh;
            if (dbeta.data) dbeta.data[f] += gr[f];
        }
        if (dx.data) {
            /* upstream of x_hat is dy * gamma; dx rows are independent */
            float *dr = dx.data + (size_t)i * F;
            double sg = 0.0, sgx = 0.0;
            float mg, mgx;
            for (f = 0; f < F; f++) {
                float g = gr[f] * gamma.data[f], xh = (xr[f] - mean) * rstd;
                sg += g;
                sgx += (double)g * xh;
            }
            mg = (float)(sg / F);
            mgx = (float)(sgx / F);
            for (f = 0; f < F; f++) {
                float g = gr[f] * gamma.data[f], xh = (xr[f] - mean) * rstd;
                dr[f] = rstd * (g - mg - xh * mgx);
            }
        }
    }
}

/* ---- convolution and pooling (NCHW) ---------------------------------- */
NNDEF nn_conv2d_geom nn_conv2d_geom_make(int kernel, int stride, int padding) {
    nn_conv2d_geom g;
    g.kh = g.kw = kernel;
    g.sh = g.sw = stride;
    g.ph = g.pw = padding;
    g.dil_h = g.dil_w = 1;
    g.groups = 1;
    return g;
}

NNDEF int nn_conv2d_out_size(int in, int kernel, int stride, int padding, int dilation) {
    long long span, out;
    if (in < 1 || kernel < 1 || stride < 1 || padding < 0 || dilation < 1) return 0;
    span = (long long)dilation * (kernel - 1) + 1;
    if ((long long)in + 2LL * padding < span) return 0;
    out = ((long long)in + 2LL * padding - span) / stride + 1;
    return out > INT_MAX ? 0 : (int)out; /* a size no int holds is no size */
}

static int nn__geom_ok(const nn_conv2d_geom *g) {
    return g && g->kh >= 1 && g->kw >= 1 && g->sh >= 1 && g->sw >= 1 && g->ph >= 0 && g->pw >= 0 && g->dil_h >= 1 &&
           g->dil_w >= 1 && g->groups >= 1;
}

/* Per-channel sums over a batch of planes. Each plane is summed in 8 float
   lanes (the AVX2 twins keep the lanes and their final tree, so every path
   gives the same bits), the planes' totals in double. */
static double nn__lanes8_total(const float *s, float t) {
    return (double)(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) + (double)t;
}
#if NN__AVX2
NN__TARGET_AVX2_ONLY static double nn__lanes8_sum_avx2(const float *p, size_t HW, float mean, int sq) {
    __m256 s = _mm256_setzero_ps(), vm = _mm256_set1_ps(mean);
    float l8[8], t = 0.0f;
    size_t i = 0;
    if (sq) {
        for (; i + 8 <= HW; i += 8) {
            __m256 d = _mm256_sub_ps(_mm256_loadu_ps(p + i), vm);
            s = _mm256_add_ps(s, _mm256_mul_ps(d, d));
        }
        for (; i < HW; i++) t += (p[i] - mean) * (p[i] - mean);
    } else {
        for (; i + 8 <= HW; i += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(p + i));
        for (; i < HW; i++) t += p[i];
    }
    _mm256_storeu_ps(l8, s);
    return nn__lanes8_total(l8, t);
}
/* sum dy and sum dy x_hat of one plane, x_hat = (x - mean) rstd */
NN__TARGET_AVX2_ONLY static void nn__bn_plane_grad_avx2(const float *xp, const float *gp, size_t HW, float mean,
                                                        float rstd, double *sa, double *sb) {
    __m256 a = _mm256_setzero_ps(), b = a, vm = _mm256_set1_ps(mean), vr = _mm256_set1_ps(rstd);
    float a8[8], b8[8], ta = 0.0f, tb = 0.0f;
    size_t i = 0;
    for (; i + 8 <= HW; i += 8) {
        __m256 g = _mm256_loadu_ps(gp + i);
        a = _mm256_add_ps(a, g);
        b = _mm256_add_ps(b, _mm256_mul_ps(g, _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xp + i), vm), vr)));
    }
    for (; i < HW; i++) {
        ta += gp[i];
        tb += gp[i] * ((xp[i] - mean) * rstd);
    }
    _mm256_storeu_ps(a8, a);
    _mm256_storeu_ps(b8, b);
    *sa = nn__lanes8_total(a8, ta);
    *sb = nn__lanes8_total(b8, tb);
}
/* y = x a + sh */
NN__TARGET_AVX2_ONLY static void nn__scale_shift_avx2(float *y, const float *x, size_t n, float a, float sh) {
    __m256 va = _mm256_set1_ps(a), vs = _mm256_set1_ps(sh);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), va), vs));
    for (; i < n; i++) y[i] = x[i] * a + sh;
}
/* dx = k (dy - mg - x_hat mgx), the training-mode input gradient */
NN__TARGET_AVX2_ONLY static void nn__bn_dx_avx2(float *dp, const float *gp, const float *xp, size_t n, float k,
                                                float mg, float mean, float rstd, float mgx) {
    __m256 vk = _mm256_set1_ps(k), vg = _mm256_set1_ps(mg), vm = _mm256_set1_ps(mean), vr = _mm256_set1_ps(rstd);
    __m256 vx = _mm256_set1_ps(mgx);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xh = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xp + i), vm), vr), vx);
        _mm256_storeu_ps(dp + i, _mm256_mul_ps(vk, _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(gp + i), vg), xh)));
    }
    for (; i < n; i++) dp[i] = k * (gp[i] - mg - (xp[i] - mean) * rstd * mgx);
}
#endif
static double nn__lanes8_sum(const float *p, size_t HW, float mean, int sq) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0}, t = 0.0f;
    size_t i;
    int l;
#if NN__AVX2
    if (nn__cpu_has_avx2()) return nn__lanes8_sum_avx2(p, HW, mean, sq);
#endif
    if (sq) {
        for (i = 0; i + 8 <= HW; i += 8)
            for (l = 0; l < 8; l++) s[l] += (p[i + l] - mean) * (p[i + l] - mean);
        for (; i < HW; i++) t += (p[i] - mean) * (p[i] - mean);
    } else {
        for (i = 0; i + 8 <= HW; i += 8)
            for (l = 0; l < 8; l++) s[l] += p[i + l];
        for (; i < HW; i++) t += p[i];
    }
    return nn__lanes8_total(s, t);
}
static double nn__plane_sum(const float *x, int N, size_t stride, size_t HW, float mean, int sq) {
    double total = 0.0;
    int n;
    for (n = 0; n < N; n++) total += nn__lanes8_sum(x + (size_t)n * stride, HW, mean, sq);
    return total;
}
static void nn__bn_plane_grad(const float *xp, const float *gp, size_t HW, float mean, float rstd, double *sa,
                              double *sb) {
    float a8[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b8[8] = {0, 0, 0, 0, 0, 0, 0, 0}, ta = 0.0f, tb = 0.0f;
    size_t i;
    int l;
#if NN__AVX2
    if (nn__cpu_has_avx2()) {
        nn__bn_plane_grad_avx2(xp, gp, HW, mean, rstd, sa, sb);
        return;
    }
#endif
    for (i = 0; i + 8 <= HW; i += 8)
        for (l = 0; l < 8; l++) {
            a8[l] += gp[i + l];
            b8[l] += gp[i + l] * ((xp[i + l] - mean) * rstd);
        }
    for (; i < HW; i++) {
        ta += gp[i];
        tb += gp[i] * ((xp[i] - mean) * rstd);
    }
    *sa = nn__lanes8_total(a8, ta);
    *sb = nn__lanes8_total(b8, tb);
}

/* The valid output columns [lo, hi) for kernel column offset off = kj dil - pad:
   those whose input column ow * s + off lies in [0, W). */
static void nn__conv_span(int OW, int W, int s, int off, int *lo, int *hi) {
    int a = off >= 0 ? 0 : (-off + s - 1) / s;
    int b = W - 1 - off < 0 ? 0 : (W - 1 - off) / s + 1;
    *lo = NN__MIN(a, OW);
    *hi = NN__MAX(*lo, NN__MIN(b, OW));
}

/* x (C,H,W) of one sample's group -> col (C*KH*KW, OH*OW), rows ld floats
   apart; zeros where the window covers padding. */
static void nn__im2col(float *col, size_t ld, const float *x, int C, int H, int W, int OH, int OW,
                       const nn_conv2d_geom *g) {
    int c, ki, kj, oh, ow;
    for (c = 0; c < C; c++)
        for (ki = 0; ki < g->kh; ki++)
            for (kj = 0; kj < g->kw; kj++) {
                float *row = col + ((size_t)(c * g->kh + ki) * g->kw + kj) * ld;
                int off = kj * g->dil_w - g->pw, lo, hi;
                nn__conv_span(OW, W, g->sw, off, &lo, &hi);
                for (oh = 0; oh < OH; oh++) {
                    int ih = oh * g->sh - g->ph + ki * g->dil_h;
                    float *r = row + (size_t)oh * OW;
                    const float *xr; /* the input row; column off + ow * sw, >= 0 on [lo, hi) */
                    if (ih < 0 || ih >= H) {
                        memset(r, 0, sizeof(float) * (size_t)OW);
                        continue;
                    }
                    xr = x + ((size_t)c * H + (size_t)ih) * W;
                    for (ow = 0; ow < lo; ow++) r[ow] = 0.0f;
                    if (g->sw == 1 && hi > lo) memcpy(r + lo, xr + (off + lo), sizeof(float) * (size_t)(hi - lo));
                    else
                        for (ow = lo; ow < hi; ow++) r[ow] = xr[off + ow * g->sw];
                    for (ow = hi; ow < OW; ow++) r[ow] = 0.0f;
                }
            }
}

/* The transpose: dx (C,H,W) += col (C*KH*KW, OH*OW, rows ld apart), in a
   fixed order. */
static void nn__col2im(float *dx, const float *col, size_t ld, int C, int H, int W, int OH, int OW,
                       const nn_conv2d_geom *g) {
    int c, ki, kj, oh, ow;
    for (c = 0; c < C; c++)
        for (ki = 0; ki < g->kh; ki++)
            for (kj = 0; kj < g->kw; kj++) {
                const float *row = col + ((size_t)(c * g->kh + ki) * g->kw + kj) * ld;
                int off = kj * g->dil_w - g->pw, lo, hi;
                nn__conv_span(OW, W, g->sw, off, &lo, &hi);
                for (oh = 0; oh < OH; oh++) {
                    int ih = oh * g->sh - g->ph + ki * g->dil_h;
                    const float *r = row + (size_t)oh * OW;
                    float *xr;
                    if (ih < 0 || ih >= H) continue;
                    xr = dx + ((size_t)c * H + (size_t)ih) * W;
                    for (ow = lo; ow < hi; ow++) xr[off + ow * g->sw] += r[ow];
                }
            }
}

/* ---- implicit GEMM: the column matrix packed straight from the image ----
   The micro-kernel's B sliver (kc rows of NR columns) is packed from x as
   nn__im2col would lay the rows out, so the column matrix is never written,
   and each tile of y goes straight to its place in (N, OC, OH, OW): no
   scatter after the GEMM. Tiles never straddle two samples (a sample's last
   tile is partial). Measured on the CNN of examples/fashion_cnn.c against
   im2col + the packed GEMM: see the note at nn__conv_use_implicit. */
#define NN__NR_MAX 32 /* the widest tile of any micro-kernel: a tile has at most that many runs */
typedef struct nn__conv_segs {
    int n, j[NN__NR_MAX], len[NN__NR_MAX], ih[NN__NR_MAX], iw[NN__NR_MAX]; /* runs: first column, length, input origin */
} nn__conv_segs;

/* The columns [p0, p0 + nr) of one sample, cut at output row ends. */
static void nn__conv_segments(nn__conv_segs *s, int OW, const nn_conv2d_geom *g, int p0, int nr) {
    int j = 0;
    s->n = 0;
    while (j < nr) {
        int p = p0 + j, oh = p / OW, ow = p % OW, len = NN__MIN(nr - j, OW - ow);
        s->j[s->n] = j;
        s->len[s->n] = len;
        s->ih[s->n] = oh * g->sh - g->ph;
        s->iw[s->n] = ow * g->sw - g->pw;
        s->n++;
        j += len;
    }
}

/* Rows [k0, k0 + kc) of the sliver: dst[k * NR + j], zero past nr and where
   the window covers padding; a row past kreal is all ones (the bias rides
   on the GEMM as one more k). Pure copies, so every path packs the same
   values. x is the sample's first channel of the group. */
static void nn__conv_pack_b(float *dst, int NR, const float *x, int H, int W, const nn_conv2d_geom *g,
                            const nn__conv_segs *sg, int k0, int kc, int kreal) {
    int khw = g->kh * g->kw, c = k0 / khw, ki = (k0 % khw) / g->kw, kj = k0 % g->kw, kk, s, t;
    for (kk = 0; kk < kc; kk++) {
        float *d = dst + (size_t)kk * NR;
        const float *xc = x + (size_t)c * H * W;
        for (t = 0; t < NR; t++) d[t] = k0 + kk < kreal ? 0.0f : 1.0f; /* past kreal: the bias row */
        for (s = 0; s < sg->n && k0 + kk < kreal; s++) {
            int ih = sg->ih[s] + ki * g->dil_h, iw = sg->iw[s] + kj * g->dil_w, lo, hi;
            const float *row;
            if (ih < 0 || ih >= H) continue;
            row = xc + (size_t)ih * W;
            nn__conv_span(sg->len[s], W, g->sw, iw, &lo, &hi);
            for (t = lo; t < hi; t++) d[sg->j[s] + t] = row[iw + t * g->sw];
        }
        if (++kj == g->kw) {
            kj = 0;
            if (++ki == g->kh) {
                ki = 0;
                c++;
            }
        }
    }
}
/* The same sliver for the AVX2 (16-wide) and AVX-512 (32-wide) tiles at
   stride 1, from a table built once per tile: for each kernel offset
   (ki, kj) and run, the run's lanes as a mask and the byte offset in the
   channel's plane that lane 0 would read (lane l of a run reads
   row[iw + l - j]; masked-off lanes touch no memory, so their addresses are
   never used). Each row is gathered in two registers by zero-masked loads
   ORed together and stored whole: masked stores, merging loads and a
   per-row computation of the masks were each slower (the last one doubled
   the packing time). */
#define NN__CONV_TAB 2048
typedef struct nn__conv_tab {
    int n;                     /* entries per kernel offset: the runs */
    unsigned mask[NN__CONV_TAB];
    long long off[NN__CONV_TAB];
} nn__conv_tab;

static int nn__conv_tab_build(nn__conv_tab *tb, const nn__conv_segs *sg, int H, int W, const nn_conv2d_geom *g) {
    int r, s, khw = g->kh * g->kw;
    if (g->sw != 1 || sg->n * khw > NN__CONV_TAB) return 0;
    tb->n = sg->n;
    for (r = 0; r < khw; r++)
        for (s = 0; s < sg->n; s++) {
            int ih = sg->ih[s] + (r / g->kw) * g->dil_h, iw = sg->iw[s] + (r % g->kw) * g->dil_w, len = sg->len[s];
            int lo = NN__MIN(NN__MAX(-iw, 0), len), hi = NN__MAX(NN__MIN(len, W - iw), lo);
            unsigned long long m = ((1ull << (sg->j[s] + hi)) - 1u) & ~((1ull << (sg->j[s] + lo)) - 1u);
            tb->mask[r * sg->n + s] = ih >= 0 && ih < H ? (unsigned)m : 0u;
            tb->off[r * sg->n + s] = ((long long)ih * W + iw - sg->j[s]) * (long long)sizeof(float);
        }
    return 1;
}

#if NN__AVX2
/* The AVX2 twin: a run's 16 mask bits become two 8-lane masks (maskload
   touches no masked-off lane either). */
NN__TARGET_AVX2 static void nn__conv_pack_b_avx2(float *dst, const float *x, size_t HW, const nn__conv_tab *tb,
                                                 int khw, int k0, int kc, int kreal) {
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    int r = k0 % khw, kk, s;
    const float *xc = x + (size_t)(k0 / khw) * HW;
    for (kk = 0; kk < kc; kk++) {
        __m256 r0 = _mm256_setzero_ps(), r1 = r0;
        if (k0 + kk >= kreal) { /* the bias row */
            r0 = _mm256_set1_ps(1.0f);
            r1 = r0;
        } else {
            const unsigned *m = tb->mask + r * tb->n;
            const long long *off = tb->off + r * tb->n;
            for (s = 0; s < tb->n; s++) {
                const float *base = (const float *)((uintptr_t)xc + (uintptr_t)off[s]);
                __m256i m0 = _mm256_set1_epi32((int)(m[s] & 0xFFu)), m1 = _mm256_set1_epi32((int)((m[s] >> 8) & 0xFFu));
                m0 = _mm256_cmpeq_epi32(_mm256_and_si256(m0, sel), sel);
                m1 = _mm256_cmpeq_epi32(_mm256_and_si256(m1, sel), sel);
                r0 = _mm256_or_ps(r0, _mm256_maskload_ps(base, m0));
                r1 = _mm256_or_ps(r1, _mm256_maskload_ps(base + 8, m1));
            }
        }
        _mm256_storeu_ps(dst + (size_t)kk * 16, r0);
        _mm256_storeu_ps(dst + (size_t)kk * 16 + 8, r1);
        if (++r == khw) {
            r = 0;
            xc += HW;
        }
    }
}
#endif
#if NN__AVX512
NN__TARGET_AVX512 static void nn__conv_pack_b_avx512(float *dst, const float *x, size_t HW, const nn__conv_tab *tb,
                                                     int khw, int k0, int kc, int kreal) {
    int r = k0 % khw, kk, s;
    const float *xc = x + (size_t)(k0 / khw) * HW;
    for (kk = 0; kk < kc; kk++) {
        __m512i r0 = _mm512_setzero_si512(), r1 = r0;
        if (k0 + kk >= kreal) { /* the bias row */
            r0 = _mm512_castps_si512(_mm512_set1_ps(1.0f));
            r1 = r0;
        } else {
            const unsigned *m = tb->mask + r * tb->n;
            const long long *off = tb->off + r * tb->n;
            for (s = 0; s < tb->n; s++) {
                uintptr_t base = (uintptr_t)xc + (uintptr_t)off[s];
                r0 = _mm512_or_si512(r0, _mm512_maskz_loadu_epi32((__mmask16)(m[s] & 0xFFFFu), (const void *)base));
                r1 = _mm512_or_si512(r1, _mm512_maskz_loadu_epi32((__mmask16)(m[s] >> 16),
                                                                  (const void *)(base + 16 * sizeof(float))));
            }
        }
        _mm512_storeu_si512((void *)(dst + (size_t)kk * 32), r0);
        _mm512_storeu_si512((void *)(dst + (size_t)kk * 32 + 16), r1);
        if (++r == khw) {
            r = 0;
            xc += HW;
        }
    }
}
#endif

/* The micro-kernel of the best level, as nn__gemm picks it for its packed path. */
static void nn__kern_best(nn__kern *kn) {
    kn->micro_b = NULL;
    kn->micro_n = NULL;
    kn->micro = nn__micro_ref;
    kn->mr = NN__MR;
    kn->nr = NN__NR;
    kn->simd = 0;
#if NN__AVX2
    if (nn__cpu_has_avx2()) {
        kn->micro = nn__micro_avx2;
        kn->simd = 1;
    }
#endif
#if NN__AVX512
    if (nn__cpu_has_avx512()) {
        kn->micro = nn__micro_avx512;
        kn->mr = NN__MR512;
        kn->nr = NN__NR512;
    }
#endif
#if NN__NEON
    kn->micro = nn__micro_neon;
#endif
}

/* K in blocks of at most NN__KC, as even as they go (288 = 2 x 144, not 256 + 32). */
static int nn__kblock(int K) {
    int nb = (K + NN__KC - 1) / NN__KC;
    return (K + nb - 1) / nb;
}

/* One group of a convolution as an implicit GEMM: y_g (OCg, P) = W_g x_cols
   for every sample, tiles of NR pixels cut into chunks for the threads. With
   a bias, W_g gets it as one more column and the columns a row of ones, so
   the bias is the last term of the sum (with one K block, y = round(sum +
   b), as a GEMM followed by the bias gives) and costs no pass over y. */
typedef struct nn__iconv {
    nn__kern kn;
    const float *x, *ap; /* x (N, C, H, W); ap: [W_g | b_g] packed per K block */
    float *y;            /* (N, OC, OH, OW) */
    const nn_conv2d_geom *g;
    int C, H, W, OC, OH, OW, Cg, OCg, K, kreal, gi, kb, mpad, per, tiles, chunks;
} nn__iconv;

static void nn__iconv_chunk(void *vp, int c) {
    const nn__iconv *j = (const nn__iconv *)vp;
    float bp[NN__KC * NN__NR_MAX] NN__ALIGNED64;
    nn__conv_segs sg;
    nn__conv_tab tb;
    int P = j->OH * j->OW, NR = j->kn.nr, MR = j->kn.mr, t;
    int t0 = c < 0 ? 0 : (int)((long long)j->tiles * c / j->chunks);
    int t1 = c < 0 ? j->tiles : (int)((long long)j->tiles * (c + 1) / j->chunks);
    for (t = t0; t < t1; t++) {
        int n = t / j->per, p0 = (t % j->per) * NR, nr = NN__MIN(NR, P - p0), k0, ir;
        const float *xn = j->x + ((size_t)n * j->C + (size_t)j->gi * j->Cg) * j->H * j->W;
        float *yn = j->y + ((size_t)n * j->OC + (size_t)j->gi * j->OCg) * P + p0;
        int tab;
        nn__conv_segments(&sg, j->OW, j->g, p0, nr);
        tab = j->kn.simd && nn__conv_tab_build(&tb, &sg, j->H, j->W, j->g);
        (void)tab; /* read only where a SIMD packing is compiled in */
        for (k0 = 0; k0 < j->K; k0 += j->kb) {
            int kc = NN__MIN(j->kb, j->K - k0);
#if NN__AVX512
            if (tab && NR == 32)
                nn__conv_pack_b_avx512(bp, xn, (size_t)j->H * j->W, &tb, j->g->kh * j->g->kw, k0, kc, j->kreal);
            else
#endif
#if NN__AVX2
            if (tab && NR == 16)
                nn__conv_pack_b_avx2(bp, xn, (size_t)j->H * j->W, &tb, j->g->kh * j->g->kw, k0, kc, j->kreal);
            else
#endif
                nn__conv_pack_b(bp, NR, xn, j->H, j->W, j->g, &sg, k0, kc, j->kreal);
            for (ir = 0; ir < j->OCg; ir += MR)
                j->kn.micro(kc, j->ap + (size_t)k0 * j->mpad + (size_t)ir * kc, bp, yn + (size_t)ir * P, P,
                            NN__MIN(MR, j->OCg - ir), nr, 1.0f, k0 ? 1.0f : 0.0f);
        }
    }
}

/* y = conv(x, w) + b through the implicit GEMM, group by group. scratch:
   (2 OCg + 7) (K + 1) floats, for [W_g | b_g] and its packing (rows padded
   to a tile of at most 8). */
static void nn__iconv_run(nn_threads *th, float *y, const float *x, const float *w, const float *b, int N, int C,
                          int H, int W, int OC, int OH, int OW, const nn_conv2d_geom *g, float *scratch) {
    nn__iconv j;
    int gi, k0, o, P = OH * OW;
    float *ap = scratch, *wb;
    nn__kern_best(&j.kn);
    j.x = x; j.y = y; j.g = g; j.ap = ap;
    j.C = C; j.H = H; j.W = W; j.OC = OC; j.OH = OH; j.OW = OW;
    j.Cg = C / g->groups; j.OCg = OC / g->groups; j.kreal = j.Cg * g->kh * g->kw;
    j.K = j.kreal + (b ? 1 : 0);
    j.kb = nn__kblock(j.K);
    j.mpad = (j.OCg + j.kn.mr - 1) / j.kn.mr * j.kn.mr;
    j.per = (P + j.kn.nr - 1) / j.kn.nr;
    j.tiles = N * j.per;
    wb = scratch + (size_t)j.mpad * j.K;
    for (gi = 0; gi < g->groups; gi++) {
        const float *wg = w + (size_t)gi * j.OCg * j.kreal;
        double flops = 2.0 * N * P * (double)j.OCg * j.K;
        int threads = th ? nn_threads_count(th) : 1;
        if (b) { /* [W_g | b_g] */
            for (o = 0; o < j.OCg; o++) {
                memcpy(wb + (size_t)o * j.K, wg + (size_t)o * j.kreal, sizeof(float) * (size_t)j.kreal);
                wb[(size_t)o * j.K + j.kreal] = b[gi * j.OCg + o];
            }
            wg = wb;
        }
        for (k0 = 0; k0 < j.K; k0 += j.kb)
            nn__pack_a(ap + (size_t)k0 * j.mpad, 0, wg, j.K, 0, j.OCg, k0, NN__MIN(j.kb, j.K - k0), j.kn.simd, j.kn.mr);
        j.gi = gi;
#ifdef _OPENMP
        if (!th && flops >= 4e6) threads = omp_get_max_threads();
#endif
        j.chunks = NN__MIN(j.tiles, threads > 1 ? NN__GEMM_CHUNKS * threads : 1);
        nn__run_chunks(th, flops, nn__iconv_chunk, &j, j.chunks);
    }
}

/* The im2col forward takes samples in chunks: nb images side by side in one
   column matrix (K, nb*P), so the weights are packed once per chunk and the
   GEMMs are wide. nb depends on the shapes only (about 2 MB of scratch). */
#define NN__CONV_CHUNK_FLOATS ((size_t)1 << 19)
#define NN__DW_PARTS 4 /* conv dW's fixed split of the samples (nn__conv_dw) */
static int nn__conv_chunk(int N, size_t K, size_t P, size_t OCg) {
    size_t per = P * (K + OCg), nb = per ? NN__CONV_CHUNK_FLOATS / per : 1; /* callers checked the product */
    if (nb < 1) nb = 1;
    return (int)(nb < (size_t)N ? nb : (size_t)N);
}

/* a * b and a + b, or 0 when size_t cannot hold them (0 in, 0 out) */
static size_t nn__mul_or0(size_t a, size_t b) { return b && a > SIZE_MAX / b ? 0 : a * b; }
static size_t nn__add_or0(size_t a, size_t b) { return !a || !b || a > SIZE_MAX - b ? 0 : a + b; }

/* The flipped kernel that turns a stride-1 convolution's input gradient into
   a convolution of dy (padding dil (k - 1) - pad >= 0 on both axes). */
static int nn__conv_dx_as_conv(const nn_conv2d_geom *g, nn_conv2d_geom *t) {
    if (g->sh != 1 || g->sw != 1 || g->ph > g->dil_h * (g->kh - 1) || g->pw > g->dil_w * (g->kw - 1)) return 0;
    *t = *g;
    t->ph = g->dil_h * (g->kh - 1) - g->ph;
    t->pw = g->dil_w * (g->kw - 1) - g->pw;
    return 1;
}

NNDEF size_t nn_conv2d_work_floats(int N, int C, int H, int W, int OC, const nn_conv2d_geom *g) {
    int OH, OW, nb;
    size_t K, P, OCg, Cg, KT, chunk, fwd, bwd, wsz;
    if (!nn__geom_ok(g) || N < 1 || C < 1 || OC < 1 || C % g->groups || OC % g->groups) return 0;
    OH = nn_conv2d_out_size(H, g->kh, g->sh, g->ph, g->dil_h);
    OW = nn_conv2d_out_size(W, g->kw, g->sw, g->pw, g->dil_w);
    if (OH < 1 || OW < 1) return 0;
    /* every product checked before it is formed: 0 for a size no size_t holds */
    Cg = (size_t)(C / g->groups);
    OCg = (size_t)(OC / g->groups);
    K = nn__mul_or0(nn__mul_or0(Cg, (size_t)g->kh), (size_t)g->kw);
    KT = nn__mul_or0(nn__mul_or0(OCg, (size_t)g->kh), (size_t)g->kw);
    P = nn__mul_or0((size_t)OH, (size_t)OW);
    if (!K || !KT || !P || K > SIZE_MAX - OCg || K + OCg > SIZE_MAX / P) return 0;
    nb = nn__conv_chunk(N, K, P, OCg);
    /* forward: the implicit GEMM's scratch ((2 OCg + 7) (K + 1) floats) or
       im2col's chunk; backward: dW's parts (a sample's columns and a partial
       dW each), then dx's: the flipped kernel and the implicit GEMM's
       scratch, or one sample's columns */
    chunk = (size_t)nb * P * (K + OCg);
    fwd = nn__mul_or0(nn__add_or0(nn__mul_or0(OCg, 2), 7), nn__add_or0(K, 1));
    wsz = nn__mul_or0((size_t)OC, K);
    KT = nn__mul_or0(nn__add_or0(nn__mul_or0(Cg, 2), 7), nn__add_or0(KT, 1));
    if (!fwd || !wsz || !KT || wsz > SIZE_MAX - KT || K * P > SIZE_MAX - wsz) return 0;
    bwd = nn__mul_or0(K * P + wsz, (size_t)NN__MIN(NN__DW_PARTS, N));
    bwd = NN__MAX(bwd, NN__MAX(wsz + KT, K * P));
    if (!bwd) return 0;
    return NN__MAX(NN__MAX(fwd, chunk), bwd);
}

/* The caller's tensors against the geometry: x (N,C,H,W) w (OC,C/G,KH,KW) y (N,OC,OH,OW). */
static int nn__conv_shapes_ok(nn_tensor y, nn_tensor x, nn_tensor w, const nn_conv2d_geom *g) {
    int C, OC;
    if (!nn__geom_ok(g) || !NN__T(x) || !NN__T(y) || !NN__T(w) || x.rank != 4 || y.rank != 4 || w.rank != 4) return 0;
    C = x.shape[1]; OC = w.shape[0];
    return C % g->groups == 0 && OC % g->groups == 0 && w.shape[1] == C / g->groups && w.shape[2] == g->kh &&
           w.shape[3] == g->kw && y.shape[0] == x.shape[0] && y.shape[1] == OC &&
           y.shape[2] == nn_conv2d_out_size(x.shape[2], g->kh, g->sh, g->ph, g->dil_h) &&
           y.shape[3] == nn_conv2d_out_size(x.shape[3], g->kw, g->sw, g->pw, g->dil_w) && y.shape[2] > 0 &&
           y.shape[3] > 0;
}

/* Implicit GEMM or im2col + the GEMM, by shape and instruction set only
   (never by thread count). The implicit GEMM needs stride 1 and the SIMD
   table packing; groups with fewer output rows than a tile's (depthwise)
   keep im2col, whose GEMM has a row kernel for them. Measured on the CNN of
   examples/fashion_cnn.c, batch 64, 1 thread, AMD Zen 5 (GFLOP/s, im2col ->
   implicit, best of 12): AVX-512 conv1 forward 33.5 -> 69.4, conv2 forward
   103.6 -> 143.6, conv2 backward (dx as a convolution of dy, dW on im2col)
   102.9 -> 116.9; AVX2 (NN_NO_AVX512) 24.5 -> 34.5, 61.6 -> 75.5 and
   65.1 -> 65.7. A scalar packing loses to im2col, hence the SIMD condition. */
static int nn__conv_use_implicit(int rows, const nn_conv2d_geom *g) {
    nn__kern kn;
    nn__kern_best(&kn);
    return rows >= kn.mr && g->sw == 1 && kn.simd;
}

static void nn__conv2d_forward(nn_threads *th, nn_tensor y, nn_tensor x, nn_tensor w, nn_tensor b,
                               const nn_conv2d_geom *g, float *work) {
    /* x (N,C,H,W) w (OC,C/G,KH,KW) b (OC) -> y (N,OC,OH,OW) */
    int N, C, H, W, OC, OH, OW, G, Cg, OCg, K, P, nb, n0, gi, o, j, p;
    NN__REQUIRE(nn__conv_shapes_ok(y, x, w, g) && work);
    N = x.shape[0]; C = x.shape[1]; H = x.shape[2]; W = x.shape[3];
    OC = y.shape[1]; OH = y.shape[2]; OW = y.shape[3];
    G = g->groups; Cg = C / G; OCg = OC / G; K = Cg * g->kh * g->kw; P = OH * OW;
    NN__REQUIRE(!b.data || (int)nn_tensor_size(b) == OC);
    if (nn__conv_use_implicit(OCg, g)) {
        nn__iconv_run(th, y.data, x.data, w.data, b.data, N, C, H, W, OC, OH, OW, g, work);
        return;
    }
    nb = nn__conv_chunk(N, (size_t)K, (size_t)P, (size_t)OCg);
    for (n0 = 0; n0 < N; n0 += nb) {
        int m = NN__MIN(nb, N - n0);
        size_t ld = (size_t)m * P;
        float *col = work, *acc = work + (size_t)K * ld;
        for (gi = 0; gi < G; gi++) {
            for (j = 0; j < m; j++)
                nn__im2col(col + (size_t)j * P, ld, x.data + ((size_t)(n0 + j) * C + (size_t)gi * Cg) * H * W, Cg, H,
                           W, OH, OW, g);
            /* acc (OCg, m*P) = W_g (OCg, K) col (K, m*P), then out to (m, OC, P) with the bias */
            nn__gemm(th, 99, 0, 0, OCg, (int)ld, K, 1.0f, w.data + (size_t)gi * OCg * K, K, col, (int)ld, 0.0f, acc,
                     (int)ld);
            for (o = 0; o < OCg; o++) {
                float bias = b.data ? b.data[gi * OCg + o] : 0.0f;
                for (j = 0; j < m; j++) {
                    const float *src = acc + (size_t)o * ld + (size_t)j * P;
                    float *dst = y.data + ((size_t)(n0 + j) * OC + (size_t)gi * OCg + o) * P;
                    for (p = 0; p < P; p++) dst[p] = src[p] + bias;
                }
            }
        }
    }
}

/* dW over a fixed split of the samples (NN__DW_PARTS parts, whatever the
   threads): each part sums its samples in order into its own buffer, then
   dW += ((p0 + p1) + p2) + p3, so the bits never depend on the thread
   count, and the parts (im2col included) run side by side. */
typedef struct nn__dw_job {
    const float *x, *dy;
    float *work; /* per part: the sample's columns (K, P), then the partial dW (OC, K) */
    const nn_conv2d_geom *g;
    int N, C, H, W, OC, OH, OW, parts;
} nn__dw_job;

static void nn__dw_part(void *vp, int c) {
    const nn__dw_job *j = (const nn__dw_job *)vp;
    int G = j->g->groups, Cg = j->C / G, OCg = j->OC / G, K = Cg * j->g->kh * j->g->kw, P = j->OH * j->OW;
    int p0 = c < 0 ? 0 : c, p1 = c < 0 ? j->parts : c + 1, p, n, gi;
    for (p = p0; p < p1; p++) {
        float *col = j->work + (size_t)p * ((size_t)K * P + (size_t)j->OC * K), *acc = col + (size_t)K * P;
        memset(acc, 0, sizeof(float) * (size_t)j->OC * K);
        for (n = (int)((long long)j->N * p / j->parts); n < (int)((long long)j->N * (p + 1) / j->parts); n++)
            for (gi = 0; gi < G; gi++) {
                nn__im2col(col, (size_t)P, j->x + ((size_t)n * j->C + (size_t)gi * Cg) * j->H * j->W, Cg, j->H, j->W,
                           j->OH, j->OW, j->g);
                /* acc_g (OCg, K) += dy_g (OCg, P) col^T */
                nn__gemm(NULL, 99, 0, 1, OCg, K, P, 1.0f, j->dy + ((size_t)n * j->OC + (size_t)gi * OCg) * P, P, col, P,
                         1.0f, acc + (size_t)gi * OCg * K, K);
            }
    }
}

static void nn__conv_dw(nn_threads *th, float *dw, const float *dy, const float *x, int N, int C, int H, int W, int OC,
                        int OH, int OW, const nn_conv2d_geom *g, float *work) {
    nn__dw_job j;
    size_t i, nw = (size_t)OC * (size_t)(C / g->groups) * g->kh * g->kw, stride;
    int p;
    j.x = x; j.dy = dy; j.work = work; j.g = g;
    j.N = N; j.C = C; j.H = H; j.W = W; j.OC = OC; j.OH = OH; j.OW = OW;
    j.parts = NN__MIN(NN__DW_PARTS, N);
    stride = (size_t)(C / g->groups) * g->kh * g->kw * (size_t)OH * OW + nw;
    nn__run_chunks(th, 2.0 * (double)nw * OH * OW * N, nn__dw_part, &j, j.parts);
    for (i = 0; i < nw; i++) { /* dw += ((p0 + p1) + p2) + p3, the parts' fixed order */
        const float *acc = work + stride - nw + i;
        float t = acc[0];
        for (p = 1; p < j.parts; p++) t += acc[(size_t)p * stride];
        dw[i] += t;
    }
}

static void nn__conv2d_backward(nn_threads *th, nn_tensor dx, nn_tensor dw, nn_tensor db, nn_tensor dy, nn_tensor x,
                                nn_tensor w, const nn_conv2d_geom *g, float *work) {
    /* dy (N,OC,OH,OW) x (N,C,H,W) w (OC,C/G,KH,KW) -> dx =, dw +=, db += */
    int N, C, H, W, OC, OH, OW, G, Cg, OCg, K, P, n, gi, o;
    nn_conv2d_geom gt;
    NN__REQUIRE(nn__conv_shapes_ok(dy, x, w, g) && work);
    N = x.shape[0]; C = x.shape[1]; H = x.shape[2]; W = x.shape[3];
    OC = dy.shape[1]; OH = dy.shape[2]; OW = dy.shape[3];
    G = g->groups; Cg = C / G; OCg = OC / G; K = Cg * g->kh * g->kw; P = OH * OW;
    NN__REQUIRE(!dx.data || nn_tensor_size(dx) == nn_tensor_size(x));
    NN__REQUIRE(!dw.data || nn_tensor_size(dw) == nn_tensor_size(w));
    NN__REQUIRE(!db.data || (int)nn_tensor_size(db) == OC);
    if (db.data) /* per channel, as batch norm's sums */
        for (o = 0; o < OC; o++) db.data[o] += (float)nn__plane_sum(dy.data + (size_t)o * P, N, (size_t)OC * P, P, 0.0f, 0);
    if (dw.data) nn__conv_dw(th, dw.data, dy.data, x.data, N, C, H, W, OC, OH, OW, g, work);
    if (dx.data && nn__conv_dx_as_conv(g, &gt) && nn__conv_use_implicit(Cg, &gt)) {
        /* dx = dy convolved with the flipped, transposed kernel wt (C, OCg, KH, KW) */
        float *wt = work;
        int khw = g->kh * g->kw, c, q;
        for (gi = 0; gi < G; gi++)
            for (o = 0; o < OCg; o++)
                for (c = 0; c < Cg; c++) {
                    const float *src = w.data + ((size_t)(gi * OCg + o) * Cg + c) * khw;
                    float *dst = wt + ((size_t)(gi * Cg + c) * OCg + o) * khw;
                    for (q = 0; q < khw; q++) dst[q] = src[khw - 1 - q];
                }
        nn__iconv_run(th, dx.data, dy.data, wt, NULL, N, OC, OH, OW, C, H, W, &gt, wt + (size_t)OC * K);
        return;
    }
    if (!dx.data) return;
    /* dx on im2col's transpose, one sample at a time: its dy is already the
       (OCg, P) matrix of each group */
    for (n = 0; n < N; n++)
        for (gi = 0; gi < G; gi++) {
            const float *dyg = dy.data + ((size_t)n * OC + (size_t)gi * OCg) * P;
            float *dxg = dx.data + ((size_t)n * C + (size_t)gi * Cg) * H * W;
            /* dcol (K, P) = W_g^T dy_g, then back onto the image */
            nn__gemm(th, 99, 1, 0, K, P, OCg, 1.0f, w.data + (size_t)gi * OCg * K, K, dyg, P, 0.0f, work, P);
            memset(dxg, 0, sizeof(float) * (size_t)Cg * H * W);
            nn__col2im(dxg, work, (size_t)P, Cg, H, W, OH, OW, g);
        }
}

NNDEF void nn_conv2d_forward(nn_tensor y, nn_tensor x, nn_tensor w, nn_tensor b, const nn_conv2d_geom *g,
                             float *work) {
    nn__conv2d_forward(NULL, y, x, w, b, g, work);
}
NNDEF void nn_conv2d_backward(nn_tensor dx, nn_tensor dw, nn_tensor db, nn_tensor dy, nn_tensor x, nn_tensor w,
                              const nn_conv2d_geom *g, float *work) {
    nn__conv2d_backward(NULL, dx, dw, db, dy, x, w, g, work);
}

/* pooling windows: y (N,C,OH,OW) from x (N,C,H,W) under g (groups 1) */
static int nn__pool_shapes_ok(nn_tensor y, nn_tensor x, const nn_conv2d_geom *g) {
    return nn__geom_ok(g) && g->groups == 1 && NN__T(x) && NN__T(y) && x.rank == 4 && y.rank == 4 &&
           g->ph <= g->kh / 2 && g->pw <= g->kw / 2 && y.shape[0] == x.shape[0] && y.shape[1] == x.shape[1] &&
           y.shape[2] == nn_conv2d_out_size(x.shape[2], g->kh, g->sh, g->ph, g->dil_h) &&
           y.shape[3] == nn_conv2d_out_size(x.shape[3], g->kw, g->sw, g->pw, g->dil_w) && y.shape[2] > 0 &&
           y.shape[3] > 0;
}

#if NN__AVX2
/* The common pool (2x2, stride 2, no padding) 8 outputs at a time: one output
   row from input rows r0 and r1 (index base of r0[0] in the plane). The
   window is visited in the same order with the same rule as the scalar loop:
   same results. Returns how many outputs it wrote (all of them). */
NN__TARGET_AVX2_ONLY static void nn__max22_step(__m256 *best, __m256i *bi, __m256 v, __m256i vi) {
    __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, *best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    *best = _mm256_blendv_ps(*best, v, take);
    *bi = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(*bi), _mm256_castsi256_ps(vi), take));
}
NN__TARGET_AVX2_ONLY static int nn__maxpool22_row_avx2(float *y, int *am, const float *r0, const float *r1, int OW,
                                                       int base, int W) {
    const __m256i perm = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7), step = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    int ow;
    for (ow = 0; ow < OW; ow += 8) {
        /* the last block loads and stores only its lanes: no read past the rows */
        int rem = OW - ow, in = 2 * rem;
        __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(in), lane);
        __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(in - 8), lane);
        __m256i mo = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), lane);
        __m256 a0 = _mm256_maskload_ps(r0 + 2 * ow, m0), a1 = _mm256_maskload_ps(r0 + 2 * ow + 8, m1);
        __m256 b0 = _mm256_maskload_ps(r1 + 2 * ow, m0), b1 = _mm256_maskload_ps(r1 + 2 * ow + 8, m1);
        __m256 best = _mm256_permutevar8x32_ps(_mm256_shuffle_ps(a0, a1, 0x88), perm); /* even columns */
        __m256i col = _mm256_add_epi32(_mm256_set1_epi32(base + 2 * ow), step), bi = col;
        nn__max22_step(&best, &bi, _mm256_permutevar8x32_ps(_mm256_shuffle_ps(a0, a1, 0xDD), perm),
                       _mm256_add_epi32(col, _mm256_set1_epi32(1)));
        nn__max22_step(&best, &bi, _mm256_permutevar8x32_ps(_mm256_shuffle_ps(b0, b1, 0x88), perm),
                       _mm256_add_epi32(col, _mm256_set1_epi32(W)));
        nn__max22_step(&best, &bi, _mm256_permutevar8x32_ps(_mm256_shuffle_ps(b0, b1, 0xDD), perm),
                       _mm256_add_epi32(col, _mm256_set1_epi32(W + 1)));
        if (rem >= 8) {
            _mm256_storeu_ps(y + ow, best);
            _mm256_storeu_si256((__m256i *)(void *)(am + ow), bi);
        } else {
            _mm256_maskstore_ps(y + ow, mo, best);
            _mm256_maskstore_epi32(am + ow, mo, bi);
        }
    }
    return OW;
}
#endif

NNDEF void nn_maxpool2d_forward(nn_tensor y, int *argmax, nn_tensor x, const nn_conv2d_geom *g) {
    /* x (N,C,H,W) -> y (N,C,OH,OW), argmax (N*C*OH*OW) */
    int H, W, OH, OW, oh, ow, ki, kj, fast22;
    size_t planes, pl;
    NN__REQUIRE(nn__pool_shapes_ok(y, x, g) && argmax);
    fast22 = g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 && g->dil_h == 1 &&
             g->dil_w == 1;
#if NN__AVX2
    fast22 = fast22 && nn__cpu_has_avx2();
#else
    (void)fast22;
#endif
    H = x.shape[2]; W = x.shape[3]; OH = y.shape[2]; OW = y.shape[3];
    planes = (size_t)x.shape[0] * (size_t)x.shape[1];
    for (pl = 0; pl < planes; pl++) {
        const float *xp = x.data + pl * H * W;
        float *yp = y.data + pl * OH * OW;
        int *ap = argmax + pl * OH * OW;
        for (oh = 0; oh < OH; oh++) {
            ow = 0;
#if NN__AVX2
            if (fast22)
                ow = nn__maxpool22_row_avx2(yp + oh * OW, ap + oh * OW, xp + (size_t)2 * oh * W,
                                            xp + (size_t)(2 * oh + 1) * W, OW, 2 * oh * W, W);
#endif
            for (; ow < OW; ow++) {
                int h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw, best_i = -1;
                float best = -INFINITY;
                if (h0 >= 0 && w0 >= 0 && h0 + (g->kh - 1) * g->dil_h < H && w0 + (g->kw - 1) * g->dil_w < W) {
                    /* the whole window inside: no bounds, no branches; the same rule */
                    best_i = h0 * W + w0;
                    best = xp[best_i];
                    for (ki = 0; ki < g->kh; ki++)
                        for (kj = ki ? 0 : 1; kj < g->kw; kj++) {
                            int i = (h0 + ki * g->dil_h) * W + w0 + kj * g->dil_w, take;
                            float v = xp[i];
                            take = (v > best) | (v != v);
                            best = take ? v : best;
                            best_i = take ? i : best_i;
                        }
                    yp[oh * OW + ow] = best;
                    ap[oh * OW + ow] = best_i;
                    continue;
                }
                for (ki = 0; ki < g->kh; ki++) {
                    int ih = h0 + ki * g->dil_h;
                    if (ih < 0 || ih >= H) continue;
                    for (kj = 0; kj < g->kw; kj++) {
                        int iw = w0 + kj * g->dil_w, i;
                        float v;
                        if (iw < 0 || iw >= W) continue;
                        i = ih * W + iw;
                        v = xp[i];
                        if (best_i < 0) best_i = i; /* PyTorch starts at the first real element */
                        if (v > best || v != v) {
                            best = v;
                            best_i = i;
                        }
                    }
                }
                yp[oh * OW + ow] = best;
                ap[oh * OW + ow] = best_i;
            }
        }
    }
}

NNDEF void nn_maxpool2d_backward(nn_tensor dx, nn_tensor dy, const int *argmax) {
    /* dy (N,C,OH,OW) -> dx (N,C,H,W) = the sum of dy over the outputs each input won */
    int HW, P, i;
    size_t planes, pl;
    NN__REQUIRE(NN__T(dx) && NN__T(dy) && dx.rank == 4 && dy.rank == 4 && argmax && dx.shape[0] == dy.shape[0] &&
                dx.shape[1] == dy.shape[1]);
    HW = dx.shape[2] * dx.shape[3]; P = dy.shape[2] * dy.shape[3];
    planes = (size_t)dx.shape[0] * (size_t)dx.shape[1];
    memset(dx.data, 0, sizeof(float) * planes * (size_t)HW);
    for (pl = 0; pl < planes; pl++) {
        float *dp = dx.data + pl * HW;
        const float *gp = dy.data + pl * P;
        const int *ap = argmax + pl * P;
        for (i = 0; i < P; i++)
            if (ap[i] >= 0 && ap[i] < HW) dp[ap[i]] += gp[i];
    }
}

/* The divisor of one average-pooling window, as PyTorch: with padding counted,
   the window clipped to the padded input; without, the real elements. */
static void nn__avg_window(const nn_conv2d_geom *g, int H, int W, int oh, int ow, int include, int *h0, int *h1,
                           int *w0, int *w1, float *div) {
    int hs = oh * g->sh - g->ph, ws = ow * g->sw - g->pw;
    int he = NN__MIN(hs + g->kh, H + g->ph), we = NN__MIN(ws + g->kw, W + g->pw);
    int pool = (he - hs) * (we - ws);
    hs = NN__MAX(hs, 0); ws = NN__MAX(ws, 0);
    he = NN__MIN(he, H); we = NN__MIN(we, W);
    *h0 = hs; *h1 = he; *w0 = ws; *w1 = we;
    *div = (float)(include ? pool : (he - hs) * (we - ws));
}

NNDEF void nn_avgpool2d_forward(nn_tensor y, nn_tensor x, const nn_conv2d_geom *g, int count_include_pad) {
    /* x (N,C,H,W) -> y (N,C,OH,OW) */
    int H, W, OH, OW, oh, ow, i, j, h0, h1, w0, w1;
    size_t planes, pl;
    float div;
    NN__REQUIRE(nn__pool_shapes_ok(y, x, g) && g->dil_h == 1 && g->dil_w == 1);
    H = x.shape[2]; W = x.shape[3]; OH = y.shape[2]; OW = y.shape[3];
    planes = (size_t)x.shape[0] * (size_t)x.shape[1];
    for (pl = 0; pl < planes; pl++) {
        const float *xp = x.data + pl * H * W;
        float *yp = y.data + pl * OH * OW;
        for (oh = 0; oh < OH; oh++)
            for (ow = 0; ow < OW; ow++) {
                float s = 0.0f;
                nn__avg_window(g, H, W, oh, ow, count_include_pad, &h0, &h1, &w0, &w1, &div);
                for (i = h0; i < h1; i++)
                    for (j = w0; j < w1; j++) s += xp[i * W + j];
                yp[oh * OW + ow] = div > 0.0f ? s / div : 0.0f;
            }
    }
}

NNDEF void nn_avgpool2d_backward(nn_tensor dx, nn_tensor dy, const nn_conv2d_geom *g, int count_include_pad) {
    /* dy (N,C,OH,OW) -> dx (N,C,H,W) = */
    int H, W, OH, OW, oh, ow, i, j, h0, h1, w0, w1;
    size_t planes, pl;
    float div;
    NN__REQUIRE(nn__pool_shapes_ok(dy, dx, g) && g->dil_h == 1 && g->dil_w == 1);
    H = dx.shape[2]; W = dx.shape[3]; OH = dy.shape[2]; OW = dy.shape[3];
    planes = (size_t)dx.shape[0] * (size_t)dx.shape[1];
    memset(dx.data, 0, sizeof(float) * planes * (size_t)H * W);
    for (pl = 0; pl < planes; pl++) {
        float *dp = dx.data + pl * H * W;
        const float *gp = dy.data + pl * OH * OW;
        for (oh = 0; oh < OH; oh++)
            for (ow = 0; ow < OW; ow++) {
                float v;
                nn__avg_window(g, H, W, oh, ow, count_include_pad, &h0, &h1, &w0, &w1, &div);
                if (!(div > 0.0f)) continue;
                v = gp[oh * OW + ow] / div;
                for (i = h0; i < h1; i++)
                    for (j = w0; j < w1; j++) dp[i * W + j] += v;
            }
    }
}

NNDEF void nn_global_avgpool_forward(nn_tensor y, nn_tensor x) {
    /* x (N,C,H,W) -> y (N,C) */
    size_t planes, pl, HW, i;
    NN__REQUIRE(NN__T(x) && NN__T(y) && x.rank == 4 && nn_tensor_size(y) == (size_t)x.shape[0] * x.shape[1]);
    HW = (size_t)x.shape[2] * x.shape[3];
    planes = (size_t)x.shape[0] * x.shape[1];
    for (pl = 0; pl < planes; pl++) {
        const float *xp = x.data + pl * HW;
        double s = 0.0;
        for (i = 0; i < HW; i++) s += xp[i];
        y.data[pl] = (float)(s / (double)HW);
    }
}

NNDEF void nn_global_avgpool_backward(nn_tensor dx, nn_tensor dy) {
    /* dy (N,C) -> dx (N,C,H,W) = dy / (H W) */
    size_t planes, pl, HW, i;
    NN__REQUIRE(NN__T(dx) && NN__T(dy) && dx.rank == 4 && nn_tensor_size(dy) == (size_t)dx.shape[0] * dx.shape[1]);
    HW = (size_t)dx.shape[2] * dx.shape[3];
    planes = (size_t)dx.shape[0] * dx.shape[1];
    for (pl = 0; pl < planes; pl++) {
        float v = dy.data[pl] / (float)HW, *dp = dx.data + pl * HW;
        for (i = 0; i < HW; i++) dp[i] = v;
    }
}

/* Channels [c0, c1) of BatchNorm2d: each channel is one job (the model
   splits them over its threads; a channel's bits never depend on that). */
static void nn__bn2d_forward_range(nn_tensor y, float *save_mean, float *save_rstd, nn_tensor x, nn_tensor gamma,
                                   nn_tensor beta, float *running_mean, float *running_var, float eps,
                                   float momentum, int train, int c0, int c1) {
    int N = x.shape[0], C = x.shape[1], n, c;
    size_t HW = (size_t)x.shape[2] * x.shape[3], M = (size_t)N * HW, i;
    for (c = c0; c < c1; c++) {
        const float *xc = x.data + (size_t)c * HW;
        float mean, rstd, a, sh;
        if (train) {
            double v;
            mean = (float)(nn__plane_sum(xc, N, (size_t)C * HW, HW, 0.0f, 0) / (double)M);
            v = nn__plane_sum(xc, N, (size_t)C * HW, HW, mean, 1);
            rstd = (float)(1.0 / sqrt(v / (double)M + eps));
            running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
            running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (float)(v / (double)(M - 1));
        } else {
            mean = running_mean[c];
            rstd = (float)(1.0 / sqrt((double)running_var[c] + eps));
        }
        save_mean[c] = mean;
        save_rstd[c] = rstd;
        /* y = x a + sh, as PyTorch's CPU kernel folds it */
        a = rstd * gamma.data[c];
        sh = beta.data[c] - mean * a;
        for (n = 0; n < N; n++) {
            const float *xp = x.data + ((size_t)n * C + c) * HW;
            float *yp = y.data + ((size_t)n * C + c) * HW;
#if NN__AVX2
            if (nn__cpu_has_avx2()) {
                nn__scale_shift_avx2(yp, xp, HW, a, sh);
                continue;
            }
#endif
            for (i = 0; i < HW; i++) yp[i] = xp[i] * a + sh;
        }
    }
}

NNDEF void nn_batchnorm2d_forward(nn_tensor y, float *save_mean, float *save_rstd, nn_tensor x,
                                  nn_tensor gamma, nn_tensor beta, float *running_mean,
                                  float *running_var, float eps, float momentum, int train) {
    /* x (N,C,H,W) gamma beta running_* save_* (C) -> y (N,C,H,W) */
    NN__REQUIRE(NN__T(x) && NN__T(y) && x.rank == 4 && nn_tensor_size(y) == nn_tensor_size(x) && NN__T(gamma) &&
                NN__T(beta) && save_mean && save_rstd && running_mean && running_var);
    NN__REQUIRE((int)nn_tensor_size(gamma) == x.shape[1] && (int)nn_tensor_size(beta) == x.shape[1]);
    /* PyTorch refuses too: one value per channel gives no variance */
    NN__REQUIRE(!train || (size_t)x.shape[0] * x.shape[2] * x.shape[3] > 1);
    nn__bn2d_forward_range(y, save_mean, save_rstd, x, gamma, beta, running_mean, running_var, eps, momentum, train, 0,
                           x.shape[1]);
}

static void nn__bn2d_backward_range(nn_tensor dx, nn_tensor dgamma, nn_tensor dbeta, nn_tensor dy, nn_tensor x,
                                    nn_tensor gamma, const float *save_mean, const float *save_rstd, int train,
                                    int c0, int c1) {
    int N = x.shape[0], C = x.shape[1], n, c;
    size_t HW = (size_t)x.shape[2] * x.shape[3], M = (size_t)N * HW, i;
    for (c = c0; c < c1; c++) {
        double sg = 0.0, sgx = 0.0;
        float mean = save_mean[c], rstd = save_rstd[c], gm = gamma.data[c], mg, mgx, k;
        for (n = 0; n < N; n++) { /* sum dy and sum dy x_hat: lanes per plane as the forward sums */
            double sa, sb;
            nn__bn_plane_grad(x.data + ((size_t)n * C + c) * HW, dy.data + ((size_t)n * C + c) * HW, HW, mean, rstd,
                              &sa, &sb);
            sg += sa;
            sgx += sb;
        }
        if (dgamma.data) dgamma.data[c] += (float)sgx;
        if (dbeta.data) dbeta.data[c] += (float)sg;
        if (!dx.data) continue;
        mg = (float)(sg / (double)M);
        mgx = (float)(sgx / (double)M);
        k = gm * rstd;
        for (n = 0; n < N; n++) {
            const float *xp = x.data + ((size_t)n * C + c) * HW, *gp = dy.data + ((size_t)n * C + c) * HW;
            float *dp = dx.data + ((size_t)n * C + c) * HW;
            if (train) {
#if NN__AVX2
                if (nn__cpu_has_avx2()) {
                    nn__bn_dx_avx2(dp, gp, xp, HW, k, mg, mean, rstd, mgx);
                    continue;
                }
#endif
                for (i = 0; i < HW; i++) dp[i] = k * (gp[i] - mg - (xp[i] - mean) * rstd * mgx);
            } else
                for (i = 0; i < HW; i++) dp[i] = gp[i] * k;
        }
    }
}

NNDEF void nn_batchnorm2d_backward(nn_tensor dx, nn_tensor dgamma, nn_tensor dbeta, nn_tensor dy,
                                   nn_tensor x, nn_tensor gamma, const float *save_mean,
                                   const float *save_rstd, int train) {
    /* dy x (N,C,H,W) -> dx =, dgamma dbeta (C) += */
    int C;
    NN__REQUIRE(NN__T(dy) && NN__T(x) && x.rank == 4 && nn_tensor_same_shape(x, dy) && NN__T(gamma) && save_mean &&
                save_rstd);
    C = x.shape[1];
    NN__REQUIRE((int)nn_tensor_size(gamma) == C && (!dx.data || nn_tensor_size(dx) == nn_tensor_size(x)));
    NN__REQUIRE((!dgamma.data || (int)nn_tensor_size(dgamma) == C) && (!dbeta.data || (int)nn_tensor_size(dbeta) == C));
    nn__bn2d_backward_range(dx, dgamma, dbeta, dy, x, gamma, save_mean, save_rstd, train, 0, C);
}

NNDEF void nn_dropout2d_forward(nn_tensor y, float *mask, nn_tensor x, float p, int train, nn_rng *rng) {
    /* x (N,C,H,W) -> y, mask (N*C) */
    size_t planes, pl, HW, i;
    NN__REQUIRE(NN__T(x) && NN__T(y) && x.rank == 4 && nn_tensor_size(y) == nn_tensor_size(x) && p >= 0.0f &&
                p < 1.0f && mask);
    NN__REQUIRE(!train || p == 0.0f || rng);
    HW = (size_t)x.shape[2] * x.shape[3];
    planes = (size_t)x.shape[0] * x.shape[1];
    for (pl = 0; pl < planes; pl++) {
        float m = 1.0f;
        if (train && p > 0.0f) m = nn_rng_uniform(rng) < p ? 0.0f : 1.0f / (1.0f - p);
        mask[pl] = m;
        for (i = 0; i < HW; i++) y.data[pl * HW + i] = x.data[pl * HW + i] * m;
    }
}

NNDEF void nn_dropout2d_backward(nn_tensor dx, nn_tensor dy, const float *mask, int train) {
    size_t planes, pl, HW, i;
    NN__REQUIRE(NN__T(dx) && NN__T(dy) && dy.rank == 4 && nn_tensor_size(dx) == nn_tensor_size(dy) && mask);
    HW = (size_t)dy.shape[2] * dy.shape[3];
    planes = (size_t)dy.shape[0] * dy.shape[1];
    for (pl = 0; pl < planes; pl++) {
        float m = train ? mask[pl] : 1.0f;
        for (i = 0; i < HW; i++) dx.data[pl * HW + i] = dy.data[pl * HW + i] * m;
    }
}

/* ---- activations ---- */
NNDEF const char *nn_act_name(nn_act a) {
    switch (a) {
    case NN_ACT_IDENTITY: return "identity";
    case NN_ACT_RELU: return "relu";
    case NN_ACT_SIGMOID: return "sigmoid";
    case NN_ACT_TANH: return "tanh";
    case NN_ACT_LEAKY_RELU: return "leaky_relu";
    case NN_ACT_ELU: return "elu";
    case NN_ACT_GELU: return "gelu";
    case NN_ACT_GELU_TANH: return "gelu_tanh";
    case NN_ACT_SILU: return "silu";
    case NN_ACT_SOFTPLUS: return "softplus";
    case NN_ACT_SOFTMAX: return "softmax";
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

#define NN__GELU_PDF 0.39894228040143267794f      /* 1/sqrt(2 pi) */

NN__MAYBE_UNUSED static void nn__softmax_rows(float *y, const float *x, size_t rows, int n) {
    size_t r;
    int i;
    for (r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)n;
        float *yr = y + r * (size_t)n, mx = xr[0], sum = 0.0f, inv;
        for (i = 1; i < n; i++) mx = xr[i] > mx ? xr[i] : mx;
        for (i = 0; i < n; i++) {
            yr[i] = expf(xr[i] - mx);
            sum += yr[i];
        }
        inv = 1.0f / sum;
        for (i = 0; i < n; i++) yr[i] *= inv;
    }
}

#ifndef NN_POLY_ACT /* the reference forms, libm's */
static float nn__gelu_libm(float v) { return 0.5f * v * (1.0f + erff(v * NN__SQRT1_2)); }
static float nn__gelu_tanh_libm(float v) {
    float inner = NN__GELU_TANH_BETA * (v + NN__GELU_TANH_KAPPA * v * v * v);
    return 0.5f * v * (1.0f + tanhf(inner));
}
#define NN__SIGMOID1(x) nn__sigmoid(x)
#define NN__TANH1(x) tanhf(x)
#define NN__ELU1(x, a) ((x) > 0.0f ? (x) : (a) * expm1f(x))
#define NN__GELU1(x) nn__gelu_libm(x)
#define NN__GELU_TANH1(x) nn__gelu_tanh_libm(x)
#define NN__SOFTMAX_ROWS nn__softmax_rows
#define NN__EXPF(x) expf(x)
#endif
NNDEF void nn_act_forward(nn_act a, float alpha, nn_tensor y, nn_tensor x) {
    /* x (any) -> y (same shape) */
    size_t n, i;
    const float *in = x.data;
    float *out = y.data;
    NN__REQUIRE(NN__T(x) && NN__T(y) && nn_tensor_size(y) == nn_tensor_size(x) && (int)a >= 0 && a < NN_ACT_COUNT_);
    NN__REQUIRE(a != NN_ACT_SOFTMAX || nn_tensor_same_shape(x, y));
    n = nn_tensor_size(x);
    switch (a) {
    case NN_ACT_IDENTITY:
        if (out != in) memmove(out, in, n * sizeof(float));
        break;
    case NN_ACT_RELU:
#if NN__AVX2
        if (nn__cpu_has_avx2()) {
            nn__relu_avx2(out, in, n);
            break;
        }
#endif
        for (i = 0; i < n; i++) out[i] = nn__relu1(in[i]);
        break;
    case NN_ACT_SIGMOID:
#if NN__AVX2
        if (nn__cpu_has_avx2()) {
            nn__sigmoid_avx2(out, in, n, 0);
            break;
        }
#endif
        for (i = 0; i < n; i++) out[i] = NN__SIGMOID1(in[i]);
        break;
    case NN_ACT_TANH:
#if NN__AVX2
        if (nn__cpu_has_avx2()) {
            nn__tanh_avx2(out, in, n);
            break;
        }
#endif
        for (i = 0; i < n; i++) out[i] = NN__TANH1(in[i]);
        break;
    case NN_ACT_LEAKY_RELU:
#if NN__AVX2
        if (nn__cpu_has_avx2()) {
            nn__leaky_avx2(out, in, n, alpha);
            break;
        }
#endif
        for (i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : alpha * in[i];
        break;
    case NN_ACT_ELU:
#if NN__AVX2
        if (nn__cpu_has_avx2()) {
            nn__map8_avx2(out, in, n, nn__elu8_avx2, alpha);
            break;
        }
#endif
        for (i = 0; i < n; i++) out[i] = NN__ELU1(in[i], alpha);
        break;
    case NN_ACT_GELU:
#if NN__AVX2
        if (nn__cpu_has_avx2()) {
            nn__map8_avx2(out, in, n, nn__gelu8_avx2, 0.0f);
            break;
        }
#endif
        for (i = 0; i < n; i++) out[i] = NN__GELU1(in[i]);
        break;
    case NN_ACT_GELU_TANH:
#if NN__AVX2
        if (nn__cpu_has_avx2()) {
            nn__map8_avx2(out, in, n, nn__gelu_tanh8_avx2, 0.0f);
            break;
        }
#endif
        for (i = 0; i < n; i++) {
            out[i] = NN__GELU_TANH1(in[i]);
        }
        break;
    case NN_ACT_SILU:
#if NN__AVX2
        if (nn__cpu_has_avx2()) {
            nn__sigmoid_avx2(out, in, n, 1);
            break;
        }
#endif
        for (i = 0; i < n; i++) out[i] = in[i] * NN__SIGMOID1(in[i]);
        break;
    case NN_ACT_SOFTPLUS:
        for (i = 0; i < n; i++) out[i] = in[i] > 20.0f ? in[i] : log1pf(NN__EXPF(in[i]));
        break;
    case NN_ACT_SOFTMAX: {
        int last = x.shape[x.rank - 1];
        if (!n) break;
#if NN__AVX2
        if (nn__cpu_has_avx2()) {
            nn__softmax_rows_avx2(out, in, n / (size_t)last, last);
            break;
        }
#endif
        NN__SOFTMAX_ROWS(out, in, n / (size_t)last, last);
        break;
    }
    case NN_ACT_COUNT_: NN_ASSERT(0); break;
    }
}

NNDEF void nn_act_backward(nn_act a, float alpha, nn_tensor dx, nn_tensor dy,
                           nn_tensor x, nn_tensor y) {
    /* dy, x, y (same shape) -> dx (same shape); dx may alias dy */
    size_t n, i;
    const float *g = dy.data, *xv = x.data, *yv = y.data;
    float *d = dx.data;
    int uses_y = a == NN_ACT_SIGMOID || a == NN_ACT_TANH || a == NN_ACT_SOFTMAX;
    if (!d) return;
    NN__REQUIRE(NN__T(dy) && nn_tensor_size(dx) == nn_tensor_size(dy) && (int)a >= 0 && a < NN_ACT_COUNT_);
    /* the input it reads must be as large as dy: x, or y for sigmoid, tanh, softmax */
    NN__REQUIRE(a == NN_ACT_IDENTITY || (uses_y ? NN__T(y) && nn_tensor_size(y) == nn_tensor_size(dy)
                                                : NN__T(x) && nn_tensor_size(x) == nn_tensor_size(dy)));
    NN__REQUIRE(a != NN_ACT_SOFTMAX || nn_tensor_same_shape(y, dy));
    n = nn_tensor_size(dy);
    switch (a) {
    case NN_ACT_IDENTITY:
        if (d != g) memmove(d, g, n * sizeof(float));
        break;
    case NN_ACT_RELU:
#if NN__AVX2
        if (nn__cpu_has_avx2()) {
            nn__relu_backward_avx2(d, g, xv, n);
            break;
        }
#endif
        for (i = 0; i < n; i++) d[i] = xv[i] <= 0.0f ? 0.0f : g[i];
        break;
    case NN_ACT_SIGMOID:
        for (i = 0; i < n; i++) d[i] = g[i] * (1.0f - yv[i]) * yv[i];
        break;
    case NN_ACT_TANH:
        for (i = 0; i < n; i++) d[i] = g[i] * (1.0f - yv[i] * yv[i]);
        break;
    case NN_ACT_LEAKY_RELU:
        for (i = 0; i < n; i++) d[i] = xv[i] > 0.0f ? g[i] : g[i] * alpha;
        break;
    case NN_ACT_ELU:
        /* PyTorch selects on x > 0: a NaN x takes the exp branch, so dx is NaN */
        for (i = 0; i < n; i++) d[i] = xv[i] > 0.0f ? g[i] : g[i] * alpha * expf(xv[i]);
        break;
    case NN_ACT_GELU:
        for (i = 0; i < n; i++) {
            float v = xv[i], cdf = 0.5f * (1.0f + erff(v * NN__SQRT1_2));
            float pdf = expf(-0.5f * v * v) * NN__GELU_PDF;
            d[i] = g[i] * (cdf + v * pdf);
        }
        break;
    case NN_ACT_GELU_TANH:
        for (i = 0; i < n; i++) {
            float v = xv[i], v2 = v * v;
            float inner = NN__GELU_TANH_BETA * (v + NN__GELU_TANH_KAPPA * v2 * v);
            float t = tanhf(inner);
            float left = 0.5f * v, right = 1.0f + t;
            float dleft = 0.5f * right;
            float dright = left * (1.0f - t * t) * NN__GELU_TANH_BETA * (1.0f + 3.0f * NN__GELU_TANH_KAPPA * v2);
            d[i] = g[i] * (dleft + dright);
        }
        break;
    case NN_ACT_SILU:
        for (i = 0; i < n; i++) {
            float s = nn__sigmoid(xv[i]);
            d[i] = g[i] * s * (1.0f + xv[i] * (1.0f - s));
        }
        break;
    case NN_ACT_SOFTPLUS:
        for (i = 0; i < n; i++) {
            float z = expf(xv[i]);
            d[i] = xv[i] > 20.0f ? g[i] : g[i] * z / (z + 1.0f);
        }
        break;
    case NN_ACT_SOFTMAX: {
        int last = dy.shape[dy.rank - 1], j;
        size_t r, rows = n ? n / (size_t)last : 0;
        for (r = 0; r < rows; r++) {
            const float *gr = g + r * (size_t)last, *yr = yv + r * (size_t)last;
            float *dr = d + r * (size_t)last, dot = 0.0f;
            for (j = 0; j < last; j++) dot += gr[j] * yr[j];
            for (j = 0; j < last; j++) dr[j] = yr[j] * (gr[j] - dot);
        }
        break;
    }
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
NNDEF void nn_softmax_forward(nn_tensor y, nn_tensor x) { nn_act_forward(NN_ACT_SOFTMAX, 0.0f, y, x); }
NNDEF void nn_softmax_backward(nn_tensor dx, nn_tensor dy, nn_tensor y) {
    nn_act_backward(NN_ACT_SOFTMAX, 0.0f, dx, dy, y, y);
}

/* ---- initializers ---- */
NNDEF float nn_init_gain(nn_act act, float alpha) {
    switch (act) {
    case NN_ACT_TANH: return 5.0f / 3.0f;
    case NN_ACT_RELU: return sqrtf(2.0f);
    case NN_ACT_LEAKY_RELU: return sqrtf(2.0f / (1.0f + alpha * alpha));
    default: return 1.0f;
    }
}

/* n values with the given fans (a conv weight: fan_in = C/groups*KH*KW,
   fan_out = OC*KH*KW, as torch.nn.init computes them) */
static void nn__init_fill_fans(float *w, size_t n, int fan_out, int fan_in, nn_init scheme, float gain, float value,
                               int use_fan_out, nn_rng *rng) {
    size_t i;
    float fan = (float)(use_fan_out ? fan_out : fan_in), a = 0.0f, sd = 0.0f;
    int uniform = 1;
    switch (scheme) {
    case NN_INIT_DEFAULT: a = 1.0f / sqrtf((float)fan_in); break;
    case NN_INIT_ZEROS: for (i = 0; i < n; i++) w[i] = 0.0f; return;
    case NN_INIT_CONSTANT: for (i = 0; i < n; i++) w[i] = value; return;
    case NN_INIT_SMALL_RANDOM: uniform = 0; sd = 0.01f; break;
    case NN_INIT_CALIBRATED: uniform = 0; sd = 1.0f / sqrtf((float)fan_in); break;
    case NN_INIT_XAVIER_UNIFORM: a = gain * sqrtf(6.0f / (float)(fan_in + fan_out)); break;
    case NN_INIT_XAVIER_NORMAL: uniform = 0; sd = gain * sqrtf(2.0f / (float)(fan_in + fan_out)); break;
    case NN_INIT_KAIMING_UNIFORM: a = gain * sqrtf(3.0f / fan); break;
    case NN_INIT_KAIMING_NORMAL: uniform = 0; sd = gain / sqrtf(fan); break;
    case NN_INIT_LECUN_UNIFORM: a = sqrtf(3.0f / (float)fan_in); break;
    case NN_INIT_LECUN_NORMAL: uniform = 0; sd = 1.0f / sqrtf((float)fan_in); break;
    case NN_INIT_COUNT_: NN_ASSERT(0); return;
    }
    if (uniform)
        for (i = 0; i < n; i++) w[i] = (2.0f * nn_rng_uniform(rng) - 1.0f) * a;
    else
        for (i = 0; i < n; i++) w[i] = nn_rng_normal(rng) * sd;
}
NNDEF void nn_init_fill(float *w, int fan_out, int fan_in, nn_init scheme, float gain,
                        float value, int use_fan_out, nn_rng *rng) {
    nn__init_fill_fans(w, (size_t)fan_out * (size_t)fan_in, fan_out, fan_in, scheme, gain, value, use_fan_out, rng);
}

/* == 7. losses =========================================================== */
/* Caller data is checked in every build before anything is written; a
   mismatch returns NaN (a loss that cannot be mistaken for a real one). */
static int nn__same_size_ok(nn_tensor grad, nn_tensor pred, nn_tensor target) {
    size_t n = nn_tensor_size(pred);
    return pred.data && target.data && n > 0 && nn_tensor_size(target) == n && (!grad.data || nn_tensor_size(grad) == n);
}
NNDEF float nn_loss_mse(nn_tensor dpred, nn_tensor pred, nn_tensor target) {
    /* pred, target (any, same size) -> mean (pred - target)^2; dpred = 2 (pred - target) / n */
    size_t n = nn_tensor_size(pred), i;
    double total = 0.0;
    float scale = 2.0f / (float)n;
    if (!nn__same_size_ok(dpred, pred, target)) return NAN;
    for (i = 0; i < n; i++) {
        float d = pred.data[i] - target.data[i];
        total += (double)d * d;
        if (dpred.data) dpred.data[i] = scale * d;
    }
    return (float)(total / (double)n);
}

NNDEF float nn_loss_l1(nn_tensor dpred, nn_tensor pred, nn_tensor target) {
    size_t n = nn_tensor_size(pred), i;
    double total = 0.0;
    float inv = 1.0f / (float)n;
    if (!nn__same_size_ok(dpred, pred, target)) return NAN;
    for (i = 0; i < n; i++) {
        float d = pred.data[i] - target.data[i];
        total += fabs((double)d);
        if (dpred.data) dpred.data[i] = d > 0.0f ? inv : (d < 0.0f ? -inv : 0.0f);
    }
    return (float)(total / (double)n);
}

NNDEF float nn_loss_huber(nn_tensor dpred, nn_tensor pred, nn_tensor target, float delta) {
    size_t n = nn_tensor_size(pred), i;
    double total = 0.0;
    float inv = 1.0f / (float)n;
    if (!nn__same_size_ok(dpred, pred, target) || !(delta > 0.0f)) return NAN;
    for (i = 0; i < n; i++) {
        float d = pred.data[i] - target.data[i], z = fabsf(d);
        total += z < delta ? 0.5 * (double)z * z : (double)delta * (z - 0.5 * delta);
        if (dpred.data) dpred.data[i] = d < -delta ? -delta * inv : (d > delta ? delta * inv : d * inv);
    }
    return (float)(total / (double)n);
}

NNDEF float nn_loss_bce(nn_tensor dprob, nn_tensor prob, nn_tensor target) {
    size_t n = nn_tensor_size(prob), i;
    double total = 0.0;
    float inv = 1.0f / (float)n;
    if (!nn__same_size_ok(dprob, prob, target)) return NAN;
    for (i = 0; i < n; i++) {
        float p = prob.data[i], t = target.data[i];
        float lp = logf(p), lq = log1pf(-p);
        lp = lp < -100.0f ? -100.0f : lp; /* PyTorch's clamp keeps p = 0 or 1 finite */
        lq = lq < -100.0f ? -100.0f : lq;
        total -= (double)(t * lp + (1.0f - t) * lq);
        if (dprob.data) {
            float den = (1.0f - p) * p;
            dprob.data[i] = (p - t) / (den > 1e-12f ? den : 1e-12f) * inv;
        }
    }
    return (float)(total / (double)n);
}

NNDEF float nn_loss_bce_logits(nn_tensor dlogits, nn_tensor logits, nn_tensor target) {
    size_t n = nn_tensor_size(logits), i;
    double total = 0.0;
    float inv = 1.0f / (float)n;
    if (!nn__same_size_ok(dlogits, logits, target)) return NAN;
    for (i = 0; i < n; i++) {
        float z = logits.data[i], t = target.data[i];
        /* max(z,0) - z t + log(1 + e^-|z|): no overflow for any z */
        total += (double)((z > 0.0f ? z : 0.0f) - z * t + log1pf(expf(-fabsf(z))));
        if (dlogits.data) dlogits.data[i] = (nn__sigmoid(z) - t) * inv;
    }
    return (float)(total / (double)n);
}

/* One row: log-sum-exp with the max subtracted. */
static float nn__row_lse(const float *z, int C, float *mx_out) {
    float mx = z[0], sum = 0.0f;
    int j;
    for (j = 1; j < C; j++) mx = z[j] > mx ? z[j] : mx;
    for (j = 0; j < C; j++) sum += expf(z[j] - mx);
    *mx_out = mx;
    return logf(sum);
}

NNDEF float nn_loss_cross_entropy_weighted(nn_tensor dlogits, nn_tensor logits, const int *labels,
                                           const float *class_weights) {
    /* logits (B,C) labels (B) weights (C) or NULL -> mean NLL of softmax;
       dlogits (B,C) = w_y (p - onehot) / sum w_y */
    int B = logits.rank >= 1 ? logits.shape[0] : 0, C = nn_tensor_row_size(logits), i, j;
    double total = 0.0, wsum = 0.0;
    float inv;
    if (!logits.data || !labels || B <= 0 || C <= 0 ||
        (dlogits.data && nn_tensor_size(dlogits) != nn_tensor_size(logits)))
        return NAN;
    for (i = 0; i < B; i++) {
        if (labels[i] < 0 || labels[i] >= C) return NAN; /* a label outside [0, C): nothing written */
        wsum += class_weights ? class_weights[labels[i]] : 1.0f;
    }
    inv = (float)(1.0 / wsum);
    for (i = 0; i < B; i++) {
        const float *z = logits.data + (size_t)i * C;
        int y = labels[i];
        float mx, lse = nn__row_lse(z, C, &mx), wy = class_weights ? class_weights[y] : 1.0f;
        total += (double)wy * (double)(lse - (z[y] - mx));
        if (dlogits.data) {
            float *d = dlogits.data + (size_t)i * C, s = wy * inv;
            for (j = 0; j < C; j++) d[j] = expf(z[j] - mx - lse) * s;
            d[y] -= s;
        }
    }
    return (float)(total / wsum);
}

NNDEF float nn_loss_cross_entropy(nn_tensor dlogits, nn_tensor logits, const int *labels) {
    return nn_loss_cross_entropy_weighted(dlogits, logits, labels, NULL);
}

NNDEF float nn_loss_cross_entropy_probs(nn_tensor dlogits, nn_tensor logits, nn_tensor probs,
                                        const float *class_weights) {
    /* logits probs (B,C) -> -(1/B) sum w_c p_c log softmax_c;
       dlogits = (softmax sum_c w_c p_c - w p) / B */
    int B = logits.rank >= 1 ? logits.shape[0] : 0, C = nn_tensor_row_size(logits), i, j;
    double total = 0.0;
    float inv = 1.0f / (float)B;
    if (B <= 0 || C <= 0 || !nn__same_size_ok(dlogits, logits, probs)) return NAN;
    for (i = 0; i < B; i++) {
        const float *z = logits.data + (size_t)i * C, *p = probs.data + (size_t)i * C;
        float mx, lse = nn__row_lse(z, C, &mx), wp = 0.0f;
        double row = 0.0;
        for (j = 0; j < C; j++) {
            float w = class_weights ? class_weights[j] : 1.0f;
            row += (double)(w * p[j]) * (double)(z[j] - mx - lse);
            wp += w * p[j];
        }
        total -= row;
        if (dlogits.data) {
            float *d = dlogits.data + (size_t)i * C;
            for (j = 0; j < C; j++) {
                float w = class_weights ? class_weights[j] : 1.0f;
                d[j] = (expf(z[j] - mx - lse) * wp - w * p[j]) * inv;
            }
        }
    }
    return (float)(total / B);
}

/* == 8. model (sequential) =============================================== */
/* A model is a list of layers. What a layer of each kind does lives in one
   block per kind below ("layer kinds"): its constructor and defaults, the
   shape rule that checks its fields, its parameter and scratch sizes, its
   initialization, forward, backward and summary line, collected in the table
   nn__kinds. The model code after the table only walks the list and calls
   through the table: a new kind is a new block and a new row.
   A description expands to internal layers: a DENSE or MAXOUT desc with an
   activation becomes two layers (so the summary and backward stay simple).
   One walk over the expanded list serves both the size query and the build,
   so nn_model_arena_bytes is exact by construction. */

/* What one sample looks like between layers: (C, H, W); a feature vector of
   n values is (n, 1, 1). Dense layers see the flattened size. */
typedef struct nn__shape {
    int c, h, w;
} nn__shape;

typedef struct nn__lplan {
    nn_layer_kind kind;
    const nn_layer_desc *d;
    nn_act act;
    nn__shape is, os;     /* per-sample shape in and out */
    int in, out;          /* the same, flattened */
} nn__lplan;

/* Parameter and buffer counts of one internal layer. w_rows > 0: the weight
   is a (w_rows, in) matrix (max_norm works on its rows), else a vector. */
typedef struct nn__counts {
    size_t w, b, buf;
    int w_rows;
} nn__counts;

/* Arena taker for the build: with a NULL arena it only counts. */
typedef struct nn__taker {
    nn_arena *a;
    size_t total;
    int fail;
    size_t work;          /* floats of shared scratch the layers need (convolutions) */
} nn__taker;

#define NN__MAX_LAYERS 1024 /* internal layers; descriptions may hold half as many */

static void *nn__take(nn_arena *a, size_t bytes, size_t *total, int *fail) {
    void *p = NULL;
    *total += nn_arena_bytes_for(bytes);
    if (a) {
        p = nn_arena_alloc(a, bytes);
        if (!p) *fail = 1;
    }
    return p;
}
static float *nn__takef(nn__taker *t, size_t n) {
    return (float *)nn__take(t->a, sizeof(float) * n, &t->total, &t->fail);
}

static size_t nn__shape_size(nn__shape s) { return (size_t)s.c * (size_t)s.h * (size_t)s.w; }
static nn__shape nn__flat(int n) {
    nn__shape s;
    s.c = n; s.h = 1; s.w = 1;
    return s;
}

static float nn__act_default_alpha(nn_act act) {
    return act == NN_ACT_LEAKY_RELU ? 0.01f : act == NN_ACT_ELU ? 1.0f : 0.0f;
}

/* ---- layer kinds: one block each -------------------------------------- */
#define NN__DESCRIBE_MAX 160 /* the longest summary text (a conv with every field at its limit) is 83 */
/* Each block may define (all take the layer and its plan entry):
     _defaults(desc)                 PyTorch's defaults for the kind's fields
     _shape(desc, i, in, &out, err)  check the kind's fields against the input
                                     shape; give the output shape
     _counts(plan, &counts)          parameters, gradients and buffers
     _setup(layer, plan, B, taker)   kind fields from the desc, per-batch scratch
     _init(layer, desc, rng)         initial parameters (in layer order, one rng)
     _forward(m, layer, y, x, train) / _backward(m, layer, dx, dy, x, train)
                                     x (B, in) y (B, out); backward accumulates
                                     parameter gradients and writes dx
     _describe(layer, mode, what)    the summary's text (at most NN__DESCRIBE_MAX
                                     bytes with the NUL, for any int in the fields)
   and is listed in nn__kinds with its name and flags. */

/* Shared by dense and maxout: .units outputs, .k pieces each. */
static nn_result nn__units_shape(const nn_layer_desc *l, int i, int max_batch, nn__shape in, nn__shape *out,
                                 char *err) {
    int k = l->kind == NN_LAYER_MAXOUT ? l->k : 1;
    size_t width = nn__shape_size(in);
    if (l->units <= 0 || k <= 0)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d (%s): units = %d%s%d, must be >= 1", i,
                        l->kind == NN_LAYER_MAXOUT ? "maxout" : "dense", l->units,
                        l->kind == NN_LAYER_MAXOUT ? ", k = " : "", l->kind == NN_LAYER_MAXOUT ? l->k : l->units);
    if ((size_t)l->units * (size_t)k * width > (size_t)INT_MAX ||
        (size_t)max_batch * (size_t)l->units * (size_t)k > (size_t)INT_MAX)
        /* units * k is the product just found too large: print it as size_t */
        return nn__fail(err, NN_ERR_TOO_LARGE, "layer %d (%s): %lu x %lu weights or %d x %lu outputs over INT_MAX", i,
                        l->kind == NN_LAYER_MAXOUT ? "maxout" : "dense", (unsigned long)((size_t)l->units * (size_t)k),
                        (unsigned long)width, max_batch, (unsigned long)((size_t)l->units * (size_t)k));
    *out = nn__flat(l->units);
    return NN_OK;
}

/* Shared by dense, maxout and conv: the weights by the desc's scheme with the
   given fans, and nn.Linear's / nn.Conv2d's default bias
   U(-1/sqrt(fan_in), 1/sqrt(fan_in)); other schemes keep 0. */
static void nn__weights_init(nn_layer *ly, const nn_layer_desc *ld, nn_rng *rng, int fan_out, int fan_in) {
    nn__init_fill_fans(ly->w.data, nn_tensor_size(ly->w), fan_out, fan_in, ld->init, ld->init_gain, ld->init_value,
                       ld->init_fan_out, rng);
    if (ly->b.data && ld->init == NN_INIT_DEFAULT) {
        float bound = 1.0f / sqrtf((float)fan_in);
        size_t i;
        for (i = 0; i < nn_tensor_size(ly->b); i++) ly->b.data[i] = (2.0f * nn_rng_uniform(rng) - 1.0f) * bound;
    }
}
static void nn__units_init(nn_layer *ly, const nn_layer_desc *ld, nn_rng *rng) {
    nn__weights_init(ly, ld, rng, ly->w.shape[0], ly->in);
}

/* -- dense (nn.Linear), optionally weight-standardized -- */
static void nn__dense_defaults(nn_layer_desc *l) {
    l->eps = 1e-5f; /* read only with weight_std */
    l->init_gain = nn_init_gain(NN_ACT_IDENTITY, 0.0f);
}
NNDEF nn_layer_desc nn_dense(int units, nn_act act) {
    nn_layer_desc l = nn_layer_desc_default(NN_LAYER_DENSE);
    l.units = units;
    l.act = act;
    l.alpha = nn__act_default_alpha(act);
    l.init_gain = nn_init_gain(act, l.alpha);
    return l;
}
static void nn__dense_counts(const nn__lplan *p, nn__counts *c) {
    c->w = (size_t)p->out * (size_t)p->in;
    c->b = p->d->no_bias ? 0 : (size_t)p->out;
    c->w_rows = p->out;
}
static void nn__dense_setup(nn_layer *ly, const nn__lplan *p, size_t MB, nn__taker *t) {
    size_t out = (size_t)p->out, in = (size_t)p->in;
    (void)MB;
    ly->weight_std = p->d->weight_std;
    if (ly->weight_std) { /* w_hat, dw_hat, and the rstd of each row */
        ly->z = nn__takef(t, out * in);
        ly->dz = nn__takef(t, out * in);
        ly->save_a = nn__takef(t, out);
    }
}
static void nn__dense_fwd(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train) {
    (void)train;
    if (ly->weight_std) {
        nn_tensor w_hat = nn_tensor_2d(ly->z, ly->out, ly->in);
        nn_weight_std_forward(w_hat, ly->save_a, ly->w, ly->eps);
        nn__dense_forward(m->threads, y, x, w_hat, ly->b);
    } else {
        nn__dense_forward(m->threads, y, x, ly->w, ly->b);
    }
}
NN__MAYBE_UNUSED static void nn__dense_bwd(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train) {
    (void)train;
    if (ly->weight_std) {
        nn_tensor w_hat = nn_tensor_2d(ly->z, ly->out, ly->in);
        nn_tensor dw_hat = nn_tensor_2d(ly->dz, ly->out, ly->in);
        memset(ly->dz, 0, sizeof(float) * (size_t)ly->out * (size_t)ly->in);
        nn__dense_backward(m->threads, dx, dw_hat, ly->db, dy, x, w_hat);
        nn_weight_std_backward(ly->dw, dw_hat, w_hat, ly->save_a);
    } else {
        nn__dense_backward(m->threads, dx, ly->dw, ly->db, dy, x, ly->w);
    }
}
static void nn__dense_describe(const nn_layer *ly, nn_mode mode, char *what) {
    (void)mode;
    sprintf(what, "dense %d->%d%s%s", ly->in, ly->out, ly->b.data ? "" : " nobias", ly->weight_std ? " ws" : "");
}

/* -- maxout: .units outputs, each the max of .k affine pieces -- */
static void nn__maxout_defaults(nn_layer_desc *l) {
    l->k = 2;
    l->init_gain = nn_init_gain(NN_ACT_IDENTITY, 0.0f);
}
NNDEF nn_layer_desc nn_maxout(int units, int k, nn_act act) {
    nn_layer_desc l = nn_layer_desc_default(NN_LAYER_MAXOUT);
    l.units = units;
    l.k = k;
    l.act = act;
    l.alpha = nn__act_default_alpha(act);
    l.init_gain = nn_init_gain(act, l.alpha);
    return l;
}
static void nn__maxout_counts(const nn__lplan *p, nn__counts *c) {
    size_t k = (size_t)p->d->k;
    c->w = (size_t)p->out * k * (size_t)p->in;
    c->b = (size_t)p->out * k;
    c->w_rows = p->out * p->d->k;
}
static void nn__maxout_setup(nn_layer *ly, const nn__lplan *p, size_t MB, nn__taker *t) {
    size_t out = (size_t)p->out;
    ly->k = p->d->k;
    ly->z = nn__takef(t, MB * out * (size_t)ly->k);  /* the pieces */
    ly->dz = nn__takef(t, MB * out * (size_t)ly->k);
    ly->argmax = (int *)nn__take(t->a, sizeof(int) * MB * out, &t->total, &t->fail);
}
static void nn__maxout_fwd(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train) {
    size_t r0 = (size_t)m->row0 * (size_t)ly->out; /* per-row state of a block starts at its first row */
    (void)train;
    nn__maxout_forward(m->threads, y, nn_tensor_2d(ly->z + r0 * (size_t)ly->k, x.shape[0], ly->out * ly->k),
                       ly->argmax + r0, x, ly->w, ly->b, ly->k);
}
NN__MAYBE_UNUSED static void nn__maxout_bwd(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train) {
    (void)train;
    nn__maxout_backward(m->threads, dx, ly->dw, ly->db, nn_tensor_2d(ly->dz, x.shape[0], ly->out * ly->k), dy, x,
                        ly->w, ly->argmax, ly->k);
}
static void nn__maxout_describe(const nn_layer *ly, nn_mode mode, char *what) {
    (void)mode;
    sprintf(what, "maxout %d->%d k=%d", ly->in, ly->out, ly->k);
}

/* -- activation: .act on every element -- */
NNDEF nn_layer_desc nn_activation(nn_act act) {
    nn_layer_desc l = nn_layer_desc_default(NN_LAYER_ACT);
    l.act = act;
    l.alpha = nn__act_default_alpha(act);
    return l;
}
/* A layer's work cut into independent parts for the model's threads: rows
   of samples, or channels of a batch norm. Every element is computed by one
   part, the same way whatever the cut, so the bits never depend on the
   thread count. flops: a rough cost, for the pool's judgement of whether
   splitting pays. */
typedef struct nn__split {
    void (*fn)(const struct nn__split *sp, int lo, int hi);
    nn_layer *ly;
    nn_tensor a, b, c;
    int train, total, parts, row0; /* row0: the model's, for per-row state */
} nn__split;

static void nn__split_part(void *vp, int c) {
    const nn__split *sp = (const nn__split *)vp;
    if (c < 0) sp->fn(sp, 0, sp->total);
    else sp->fn(sp, (int)((long long)sp->total * c / sp->parts), (int)((long long)sp->total * (c + 1) / sp->parts));
}

static void nn__split_run(nn_model *m, double flops, nn__split *sp) {
    sp->row0 = m->row0;
    sp->parts = m->threads ? NN__MIN(sp->total, nn_threads_count(m->threads)) : 1;
    if (sp->parts > 1) nn__threads_run(m->threads, flops, nn__split_part, sp, sp->parts);
    else sp->fn(sp, 0, sp->total);
}

/* rows [lo, hi) of the batch */
static void nn__act_fwd_part(const nn__split *sp, int lo, int hi) {
    nn_act_forward(sp->ly->act, sp->ly->alpha, nn_tensor_rows(sp->a, lo, hi - lo), nn_tensor_rows(sp->b, lo, hi - lo));
}
static void nn__act_fwd(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train) {
    nn__split sp;
    (void)train;
    sp.fn = nn__act_fwd_part; sp.ly = ly; sp.a = y; sp.b = x; sp.total = x.shape[0];
    nn__split_run(m, 4.0 * (double)nn_tensor_size(x), &sp);
}
static void nn__act_bwd_part(const nn__split *sp, int lo, int hi) {
    nn_act_backward(sp->ly->act, sp->ly->alpha, nn_tensor_rows(sp->a, lo, hi - lo), nn_tensor_rows(sp->b, lo, hi - lo),
                    nn_tensor_rows(sp->c, lo, hi - lo), nn_tensor_rows(sp->ly->y, lo, hi - lo));
}
NN__MAYBE_UNUSED static void nn__act_bwd(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train) {
    nn__split sp;
    (void)train;
    sp.fn = nn__act_bwd_part; sp.ly = ly; sp.a = dx; sp.b = dy; sp.c = x; sp.total = x.shape[0];
    nn__split_run(m, 4.0 * (double)nn_tensor_size(x), &sp);
}
static void nn__act_describe(const nn_layer *ly, nn_mode mode, char *what) {
    (void)mode;
    if (ly->act == NN_ACT_LEAKY_RELU || ly->act == NN_ACT_ELU) sprintf(what, "%s(%g)", nn_act_name(ly->act), ly->alpha);
    else sprintf(what, "%s", nn_act_name(ly->act));
}

/* -- dropout: inverted (torch) or vanilla (scaled in eval) -- */
static void nn__dropout_defaults(nn_layer_desc *l) { l->p = 0.5f; }
NNDEF nn_layer_desc nn_dropout(float p) {
    nn_layer_desc l = nn_layer_desc_default(NN_LAYER_DROPOUT);
    l.p = p;
    return l;
}
static void nn__dropout_setup(nn_layer *ly, const nn__lplan *p, size_t MB, nn__taker *t) {
    ly->vanilla = p->d->vanilla;
    ly->save_a = nn__takef(t, MB * (size_t)p->out); /* the mask */
}
static void nn__dropout_fwd(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train) {
    float *mask = ly->save_a + (size_t)m->row0 * (size_t)ly->out;
    if (ly->vanilla) nn_dropout_vanilla_forward(y, mask, x, ly->p, train, &m->rng);
    else nn_dropout_forward(y, mask, x, ly->p, train, &m->rng);
}
NN__MAYBE_UNUSED static void nn__dropout_bwd(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train) {
    (void)m; (void)x;
    if (ly->vanilla) nn_dropout_vanilla_backward(dx, dy, ly->save_a);
    else nn_dropout_backward(dx, dy, ly->save_a, train);
}
static void nn__dropout_describe(const nn_layer *ly, nn_mode mode, char *what) {
    sprintf(what, "dropout p=%g%s", ly->p,
            mode != NN_MODE_EVAL ? (ly->vanilla ? " (vanilla)" : "") : ly->vanilla ? " (x (1-p))" : " (off)");
}

/* Shared by the norms: gamma 1, beta 0, running variance 1. */
static void nn__norm_init(nn_layer *ly, const nn_layer_desc *ld, nn_rng *rng) {
    size_t i;
    (void)ld; (void)rng;
    for (i = 0; i < nn_tensor_size(ly->w); i++) ly->w.data[i] = 1.0f;
    if (ly->running_var) /* one per feature or channel, like gamma */
        for (i = 0; i < nn_tensor_size(ly->w); i++) ly->running_var[i] = 1.0f;
}

/* -- batch norm (BatchNorm1d): per feature over the batch -- */
static void nn__batchnorm_defaults(nn_layer_desc *l) { l->eps = 1e-5f; l->momentum = 0.1f; }
NNDEF nn_layer_desc nn_batchnorm(void) { return nn_layer_desc_default(NN_LAYER_BATCHNORM); }
static void nn__batchnorm_counts(const nn__lplan *p, nn__counts *c) {
    c->w = c->b = (size_t)p->out;
    c->buf = 2 * (size_t)p->out;
}
static void nn__batchnorm_setup(nn_layer *ly, const nn__lplan *p, size_t MB, nn__taker *t) {
    (void)MB;
    ly->save_a = nn__takef(t, (size_t)p->out); /* batch mean and rstd per feature */
    ly->save_b = nn__takef(t, (size_t)p->out);
}
static void nn__batchnorm_fwd(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train) {
    (void)m;
    nn_batchnorm_forward(y, ly->save_a, ly->save_b, x, ly->w, ly->b, ly->running_mean, ly->running_var, ly->eps,
                         ly->momentum, train);
}
NN__MAYBE_UNUSED static void nn__batchnorm_bwd(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train) {
    (void)m;
    nn_batchnorm_backward(dx, ly->dw, ly->db, dy, x, ly->w, ly->save_a, ly->save_b, train);
}
static void nn__batchnorm_describe(const nn_layer *ly, nn_mode mode, char *what) {
    (void)mode;
    sprintf(what, "batchnorm eps=%g m=%g", ly->eps, ly->momentum);
}

/* -- layer norm: per row over its features -- */
static void nn__layernorm_defaults(nn_layer_desc *l) { l->eps = 1e-5f; }
NNDEF nn_layer_desc nn_layernorm(void) { return nn_layer_desc_default(NN_LAYER_LAYERNORM); }
static void nn__layernorm_counts(const nn__lplan *p, nn__counts *c) { c->w = c->b = (size_t)p->out; }
static void nn__layernorm_setup(nn_layer *ly, const nn__lplan *p, size_t MB, nn__taker *t) {
    (void)p;
    ly->save_a = nn__takef(t, MB); /* mean and rstd per row */
    ly->save_b = nn__takef(t, MB);
}
static void nn__layernorm_fwd(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train) {
    (void)train;
    nn_layernorm_forward(y, ly->save_a + m->row0, ly->save_b + m->row0, x, ly->w, ly->b, ly->eps);
}
NN__MAYBE_UNUSED static void nn__layernorm_bwd(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train) {
    (void)m; (void)train;
    nn_layernorm_backward(dx, ly->dw, ly->db, dy, x, ly->w, ly->save_a, ly->save_b);
}
static void nn__layernorm_describe(const nn_layer *ly, nn_mode mode, char *what) {
    (void)mode;
    sprintf(what, "layernorm eps=%g", ly->eps);
}

/* -- flatten: (C, H, W) -> (C*H*W): a view of its input, no copy -- */
NNDEF nn_layer_desc nn_flatten(void) { return nn_layer_desc_default(NN_LAYER_FLATTEN); }
static nn_result nn__flatten_shape(const nn_layer_desc *l, int i, int max_batch, nn__shape in, nn__shape *out,
                                   char *err) {
    (void)l; (void)i; (void)max_batch; (void)err;
    *out = nn__flat((int)nn__shape_size(in));
    return NN_OK;
}
static void nn__flatten_describe(const nn_layer *ly, nn_mode mode, char *what) {
    (void)ly; (void)mode;
    sprintf(what, "flatten");
}

/* Shared by the image kinds: the window of the desc as a geometry. */
static nn_conv2d_geom nn__desc_geom(const nn_layer_desc *l) {
    nn_conv2d_geom g;
    g.kh = l->kernel[0]; g.kw = l->kernel[1];
    g.sh = l->stride[0]; g.sw = l->stride[1];
    g.ph = l->padding[0]; g.pw = l->padding[1];
    g.dil_h = l->dilation[0]; g.dil_w = l->dilation[1];
    g.groups = l->kind == NN_LAYER_CONV2D ? l->groups : 1;
    return g;
}
/* Checks a window against an input shape; out gets (C, OH, OW). */
static nn_result nn__window_shape(const nn_layer_desc *l, int i, nn__shape in, nn__shape *out, char *err) {
    nn_conv2d_geom g = nn__desc_geom(l);
    const char *name = l->kind == NN_LAYER_CONV2D ? "conv2d" : l->kind == NN_LAYER_MAXPOOL2D ? "maxpool2d" : "avgpool2d";
    int oh, ow;
    if (g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1 || g.ph < 0 || g.pw < 0 || g.dil_h < 1 || g.dil_w < 1)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT,
                        "layer %d (%s): kernel %dx%d, stride %dx%d, padding %dx%d, dilation %dx%d: kernel, stride "
                        "and dilation must be >= 1, padding >= 0", i, name, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw,
                        g.dil_h, g.dil_w);
    if (l->kind != NN_LAYER_CONV2D && (g.ph > g.kh / 2 || g.pw > g.kw / 2)) /* (no 2 * ph: it may overflow) */
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d (%s): padding %dx%d over half the kernel %dx%d", i,
                        name, g.ph, g.pw, g.kh, g.kw);
    if (g.kh > 65536 || g.kw > 65536 || g.sh > 65536 || g.sw > 65536 || g.ph > 65536 || g.pw > 65536 ||
        g.dil_h > 65536 || g.dil_w > 65536)
        return nn__fail(err, NN_ERR_TOO_LARGE, "layer %d (%s): a window size over 65536", i, name);
    oh = nn_conv2d_out_size(in.h, g.kh, g.sh, g.ph, g.dil_h);
    ow = nn_conv2d_out_size(in.w, g.kw, g.sw, g.pw, g.dil_w);
    if (oh < 1 || ow < 1)
        return nn__fail(err, NN_ERR_SHAPE_MISMATCH, "layer %d (%s): a %dx%d window (dilation %dx%d, padding %dx%d) "
                        "does not fit the %dx%d input", i, name, g.kh, g.kw, g.dil_h, g.dil_w, g.ph, g.pw, in.h, in.w);
    out->c = in.c;
    out->h = oh;
    out->w = ow;
    return NN_OK;
}
/* 4-D views of a model's (B, C*H*W) rows */
static nn_tensor nn__img(nn_tensor t, const int *chw) {
    return nn_tensor_4d(t.data, t.shape[0], chw[0], chw[1], chw[2]);
}

/* -- conv2d (nn.Conv2d): weight (OC, C/groups, KH, KW) -- */
static void nn__conv2d_defaults(nn_layer_desc *l) {
    l->stride[0] = l->stride[1] = 1;
    l->dilation[0] = l->dilation[1] = 1;
    l->groups = 1;
    l->init_gain = nn_init_gain(NN_ACT_IDENTITY, 0.0f);
}
NNDEF nn_layer_desc nn_conv2d(int out_channels, int kernel, int stride, int padding, nn_act act) {
    nn_layer_desc l = nn_layer_desc_default(NN_LAYER_CONV2D);
    l.units = out_channels;
    l.kernel[0] = l.kernel[1] = kernel;
    l.stride[0] = l.stride[1] = stride;
    l.padding[0] = l.padding[1] = padding;
    l.act = act;
    l.alpha = nn__act_default_alpha(act);
    l.init_gain = nn_init_gain(act, l.alpha);
    return l;
}
static nn_result nn__conv2d_shape(const nn_layer_desc *l, int i, int max_batch, nn__shape in, nn__shape *out,
                                  char *err) {
    nn_result r;
    size_t K;
    if (l->units < 1 || l->groups < 1 || in.c % l->groups || l->units % l->groups)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d (conv2d): %d output channels, groups %d: both >= 1, "
                        "and groups must divide the %d input and the output channels", i, l->units, l->groups, in.c);
    if ((r = nn__window_shape(l, i, in, out, err)) != NN_OK) return r;
    K = (size_t)(in.c / l->groups) * (size_t)l->kernel[0] * (size_t)l->kernel[1];
    if ((size_t)l->units * K > (size_t)INT_MAX || K * (size_t)out->h * (size_t)out->w > (size_t)INT_MAX ||
        (size_t)max_batch * (size_t)l->units * (size_t)out->h * (size_t)out->w > (size_t)INT_MAX)
        return nn__fail(err, NN_ERR_TOO_LARGE, "layer %d (conv2d): weights, patches or outputs over INT_MAX", i);
    out->c = l->units;
    return NN_OK;
}
static void nn__conv2d_counts(const nn__lplan *p, nn__counts *c) {
    const nn_layer_desc *l = p->d;
    c->w = (size_t)l->units * (size_t)(p->is.c / l->groups) * (size_t)l->kernel[0] * (size_t)l->kernel[1];
    c->b = l->no_bias ? 0 : (size_t)l->units;
    c->w_rows = l->units; /* (OC, C/groups*KH*KW): max_norm per output channel */
}
static void nn__conv2d_setup(nn_layer *ly, const nn__lplan *p, size_t MB, nn__taker *t) {
    size_t work;
    ly->geom = nn__desc_geom(p->d);
    work = nn_conv2d_work_floats((int)MB, p->is.c, p->is.h, p->is.w, p->os.c, &ly->geom);
    t->work = NN__MAX(t->work, work);
}
/* PyTorch's fans of a conv weight: in = C/groups*KH*KW, out = OC*KH*KW */
static void nn__conv2d_init(nn_layer *ly, const nn_layer_desc *ld, nn_rng *rng) {
    nn__weights_init(ly, ld, rng, ly->out_shape[0] * ly->geom.kh * ly->geom.kw, ly->w.shape[1]);
}
static nn_tensor nn__conv_w(const nn_layer *ly, float *data) {
    return nn_tensor_4d(data, ly->out_shape[0], ly->in_shape[0] / ly->geom.groups, ly->geom.kh, ly->geom.kw);
}
static void nn__conv2d_fwd(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train) {
    (void)train;
    nn__conv2d_forward(m->threads, nn__img(y, ly->out_shape), nn__img(x, ly->in_shape), nn__conv_w(ly, ly->w.data),
                       ly->b, &ly->geom, m->work);
}
NN__MAYBE_UNUSED static void nn__conv2d_bwd(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train) {
    nn_tensor dxi = dx.data ? nn__img(dx, ly->in_shape) : dx;
    (void)train;
    nn__conv2d_backward(m->threads, dxi, nn__conv_w(ly, ly->dw.data), ly->db, nn__img(dy, ly->out_shape),
                        nn__img(x, ly->in_shape), nn__conv_w(ly, ly->w.data), &ly->geom, m->work);
}
static void nn__conv2d_describe(const nn_layer *ly, nn_mode mode, char *what) {
    const nn_conv2d_geom *g = &ly->geom;
    int n;
    (void)mode;
    n = sprintf(what, "conv2d %d->%d k%dx%d", ly->in_shape[0], ly->out_shape[0], g->kh, g->kw);
    if (g->sh != 1 || g->sw != 1) n += sprintf(what + n, " s%d", g->sh);
    if (g->ph || g->pw) n += sprintf(what + n, " p%d", g->ph);
    if (g->dil_h != 1 || g->dil_w != 1) n += sprintf(what + n, " d%d", g->dil_h);
    if (g->groups != 1) n += sprintf(what + n, " g%d", g->groups);
    if (!ly->b.data) sprintf(what + n, " nobias");
}

/* Shared by the pools: the desc's window for an image */
static void nn__pool_defaults(nn_layer_desc *l) { l->dilation[0] = l->dilation[1] = 1; }
static nn_layer_desc nn__pool(nn_layer_kind kind, int kernel, int stride, int padding) {
    nn_layer_desc l = nn_layer_desc_default(kind);
    l.kernel[0] = l.kernel[1] = kernel;
    l.stride[0] = l.stride[1] = stride;
    l.padding[0] = l.padding[1] = padding;
    return l;
}
static nn_result nn__pool_shape(const nn_layer_desc *l, int i, int max_batch, nn__shape in, nn__shape *out,
                                char *err) {
    (void)max_batch;
    if (l->kind == NN_LAYER_AVGPOOL2D && (l->dilation[0] != 1 || l->dilation[1] != 1))
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d (avgpool2d): dilation %dx%d, must be 1x1", i,
                        l->dilation[0], l->dilation[1]);
    return nn__window_shape(l, i, in, out, err);
}
static void nn__pool_setup(nn_layer *ly, const nn__lplan *p, size_t MB, nn__taker *t) {
    ly->geom = nn__desc_geom(p->d);
    ly->count_include_pad = p->d->count_include_pad;
    if (p->kind == NN_LAYER_MAXPOOL2D) /* the winner of each output */
        ly->argmax = (int *)nn__take(t->a, sizeof(int) * MB * (size_t)p->out, &t->total, &t->fail);
}
static void nn__pool_describe(const nn_layer *ly, nn_mode mode, char *what) {
    const nn_conv2d_geom *g = &ly->geom;
    int n;
    (void)mode;
    n = sprintf(what, "%s k%dx%d s%d", ly->kind == NN_LAYER_MAXPOOL2D ? "maxpool2d" : "avgpool2d", g->kh, g->kw, g->sh);
    if (g->ph || g->pw) n += sprintf(what + n, " p%d", g->ph);
    if (g->dil_h != 1 || g->dil_w != 1) n += sprintf(what + n, " d%d", g->dil_h);
    if (ly->kind == NN_LAYER_AVGPOOL2D && !ly->count_include_pad) sprintf(what + n, " exclude pad");
}

/* -- maxpool2d (nn.MaxPool2d) -- */
NNDEF nn_layer_desc nn_maxpool2d(int kernel, int stride, int padding) {
    return nn__pool(NN_LAYER_MAXPOOL2D, kernel, stride, padding);
}
/* samples [lo, hi); argmax holds one index per output */
static void nn__maxpool2d_fwd_part(const nn__split *sp, int lo, int hi) {
    const nn_layer *ly = sp->ly;
    nn_maxpool2d_forward(nn__img(nn_tensor_rows(sp->a, lo, hi - lo), ly->out_shape),
                         ly->argmax + (size_t)(sp->row0 + lo) * (size_t)ly->out,
                         nn__img(nn_tensor_rows(sp->b, lo, hi - lo), ly->in_shape), &ly->geom);
}
static void nn__maxpool2d_fwd(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train) {
    nn__split sp;
    (void)train;
    sp.fn = nn__maxpool2d_fwd_part; sp.ly = ly; sp.a = y; sp.b = x; sp.total = x.shape[0];
    nn__split_run(m, 2.0 * (double)nn_tensor_size(x), &sp);
}
static void nn__maxpool2d_bwd_part(const nn__split *sp, int lo, int hi) {
    const nn_layer *ly = sp->ly;
    nn_maxpool2d_backward(nn__img(nn_tensor_rows(sp->a, lo, hi - lo), ly->in_shape),
                          nn__img(nn_tensor_rows(sp->b, lo, hi - lo), ly->out_shape), ly->argmax + (size_t)lo * ly->out);
}
NN__MAYBE_UNUSED static void nn__maxpool2d_bwd(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train) {
    nn__split sp;
    (void)x; (void)train;
    if (!dx.data) return;
    sp.fn = nn__maxpool2d_bwd_part; sp.ly = ly; sp.a = dx; sp.b = dy; sp.total = dx.shape[0];
    nn__split_run(m, 2.0 * (double)nn_tensor_size(dx), &sp);
}

/* -- avgpool2d (nn.AvgPool2d) -- */
static void nn__avgpool2d_defaults(nn_layer_desc *l) {
    nn__pool_defaults(l);
    l->count_include_pad = 1;
}
NNDEF nn_layer_desc nn_avgpool2d(int kernel, int stride, int padding) {
    return nn__pool(NN_LAYER_AVGPOOL2D, kernel, stride, padding);
}
static void nn__avgpool2d_fwd(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train) {
    (void)m; (void)train;
    nn_avgpool2d_forward(nn__img(y, ly->out_shape), nn__img(x, ly->in_shape), &ly->geom, ly->count_include_pad);
}
NN__MAYBE_UNUSED static void nn__avgpool2d_bwd(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train) {
    (void)m; (void)x; (void)train;
    if (dx.data)
        nn_avgpool2d_backward(nn__img(dx, ly->in_shape), nn__img(dy, ly->out_shape), &ly->geom,
                              ly->count_include_pad);
}

/* -- global average pooling: (C, H, W) -> (C) -- */
NNDEF nn_layer_desc nn_global_avgpool(void) { return nn_layer_desc_default(NN_LAYER_GLOBAL_AVGPOOL); }
static nn_result nn__gap_shape(const nn_layer_desc *l, int i, int max_batch, nn__shape in, nn__shape *out,
                               char *err) {
    (void)l; (void)i; (void)max_batch; (void)err;
    *out = nn__flat(in.c);
    return NN_OK;
}
static void nn__gap_fwd(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train) {
    (void)m; (void)train;
    nn_global_avgpool_forward(y, nn__img(x, ly->in_shape));
}
NN__MAYBE_UNUSED static void nn__gap_bwd(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train) {
    (void)m; (void)x; (void)train;
    if (dx.data) nn_global_avgpool_backward(nn__img(dx, ly->in_shape), dy);
}
static void nn__gap_describe(const nn_layer *ly, nn_mode mode, char *what) {
    (void)mode;
    sprintf(what, "global avgpool %dx%d", ly->in_shape[1], ly->in_shape[2]);
}

/* -- batch norm per channel (BatchNorm2d) -- */
NNDEF nn_layer_desc nn_batchnorm2d(void) { return nn_layer_desc_default(NN_LAYER_BATCHNORM2D); }
static void nn__batchnorm2d_counts(const nn__lplan *p, nn__counts *c) {
    c->w = c->b = (size_t)p->is.c;
    c->buf = 2 * (size_t)p->is.c;
}
static void nn__batchnorm2d_setup(nn_layer *ly, const nn__lplan *p, size_t MB, nn__taker *t) {
    (void)MB;
    ly->save_a = nn__takef(t, (size_t)p->is.c); /* batch mean and rstd per channel */
    ly->save_b = nn__takef(t, (size_t)p->is.c);
}
/* channels [lo, hi); the model checked the shapes and the batch once */
static void nn__batchnorm2d_fwd_part(const nn__split *sp, int lo, int hi) {
    nn_layer *ly = sp->ly;
    nn__bn2d_forward_range(nn__img(sp->a, ly->out_shape), ly->save_a, ly->save_b, nn__img(sp->b, ly->in_shape), ly->w,
                           ly->b, ly->running_mean, ly->running_var, ly->eps, ly->momentum, sp->train, lo, hi);
}
static void nn__batchnorm2d_fwd(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train) {
    nn__split sp;
    sp.fn = nn__batchnorm2d_fwd_part; sp.ly = ly; sp.a = y; sp.b = x; sp.train = train; sp.total = ly->in_shape[0];
    nn__split_run(m, 6.0 * (double)nn_tensor_size(x), &sp);
}
static void nn__batchnorm2d_bwd_part(const nn__split *sp, int lo, int hi) {
    nn_layer *ly = sp->ly;
    nn__bn2d_backward_range(sp->a.data ? nn__img(sp->a, ly->in_shape) : sp->a, ly->dw, ly->db,
                            nn__img(sp->b, ly->out_shape), nn__img(sp->c, ly->in_shape), ly->w, ly->save_a, ly->save_b,
                            sp->train, lo, hi);
}
NN__MAYBE_UNUSED static void nn__batchnorm2d_bwd(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train) {
    nn__split sp;
    sp.fn = nn__batchnorm2d_bwd_part; sp.ly = ly; sp.a = dx; sp.b = dy; sp.c = x; sp.train = train;
    sp.total = ly->in_shape[0];
    nn__split_run(m, 8.0 * (double)nn_tensor_size(x), &sp);
}
static void nn__batchnorm2d_describe(const nn_layer *ly, nn_mode mode, char *what) {
    (void)mode;
    sprintf(what, "batchnorm2d eps=%g m=%g", ly->eps, ly->momentum);
}

/* -- dropout of whole channels (Dropout2d) -- */
NNDEF nn_layer_desc nn_dropout2d(float p) {
    nn_layer_desc l = nn_layer_desc_default(NN_LAYER_DROPOUT2D);
    l.p = p;
    return l;
}
static void nn__dropout2d_setup(nn_layer *ly, const nn__lplan *p, size_t MB, nn__taker *t) {
    ly->save_a = nn__takef(t, MB * (size_t)p->is.c); /* the factor of each channel */
}
static void nn__dropout2d_fwd(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train) {
    nn_dropout2d_forward(nn__img(y, ly->out_shape), ly->save_a + (size_t)m->row0 * (size_t)ly->in_shape[0],
                         nn__img(x, ly->in_shape), ly->p, train, &m->rng);
}
NN__MAYBE_UNUSED static void nn__dropout2d_bwd(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train) {
    (void)m; (void)x;
    if (dx.data) nn_dropout2d_backward(nn__img(dx, ly->in_shape), nn__img(dy, ly->out_shape), ly->save_a, train);
}
static void nn__dropout2d_describe(const nn_layer *ly, nn_mode mode, char *what) {
    sprintf(what, "dropout2d p=%g%s", ly->p, mode == NN_MODE_EVAL ? " (off)" : "");
}

/* ---- the table of kinds ---------------------------------------------- */
#define NN__K_UNITS 1u    /* .units outputs; .act becomes an activation layer after it; init_gain */
#define NN__K_ACT 2u      /* reads .act and .alpha itself */
#define NN__K_VIEW 4u     /* output is its input, reshaped: no buffer, gradient passes through */
#define NN__K_NORM 8u     /* weight and bias are normalization parameters (no weight decay) */
#define NN__K_BATCH 16u   /* statistics over the batch in training: needs two values or more */
#define NN__K_IMAGE 32u   /* works on (C, H, W) images */
#define NN__K_WINDOW 64u  /* reads .kernel, .stride, .padding, .dilation (conv, pools) */

typedef struct nn__kind {
    const char *name;       /* in summaries and messages */
    const char *enum_name;  /* in C export */
    unsigned flags;
    void (*defaults)(nn_layer_desc *l);
    /* NULL: the output has the input's shape */
    nn_result (*shape)(const nn_layer_desc *l, int i, int max_batch, nn__shape in, nn__shape *out, char *err);
    void (*counts)(const nn__lplan *p, nn__counts *c);
    void (*setup)(nn_layer *ly, const nn__lplan *p, size_t max_batch, nn__taker *t);
    void (*init)(nn_layer *ly, const nn_layer_desc *d, nn_rng *rng);
    void (*forward)(nn_model *m, nn_layer *ly, nn_tensor y, nn_tensor x, int train);
    void (*backward)(nn_model *m, nn_layer *ly, nn_tensor dx, nn_tensor dy, nn_tensor x, int train);
    void (*describe)(const nn_layer *ly, nn_mode mode, char *what);
} nn__kind;

/* indexed by nn_layer_kind */
static const nn__kind nn__kinds[NN_LAYER_KIND_COUNT_] = {
    {"none", "NN_LAYER_NONE", 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    {"dense", "NN_LAYER_DENSE", NN__K_UNITS, nn__dense_defaults, nn__units_shape, nn__dense_counts, nn__dense_setup,
     nn__units_init, nn__dense_fwd, NN__BWD(nn__dense_bwd), nn__dense_describe},
    {"activation", "NN_LAYER_ACT", NN__K_ACT, NULL, NULL, NULL, NULL, NULL, nn__act_fwd, NN__BWD(nn__act_bwd),
     nn__act_describe},
    {"dropout", "NN_LAYER_DROPOUT", 0, nn__dropout_defaults, NULL, NULL, nn__dropout_setup, NULL, nn__dropout_fwd,
     NN__BWD(nn__dropout_bwd), nn__dropout_describe},
    {"batchnorm", "NN_LAYER_BATCHNORM", NN__K_NORM | NN__K_BATCH, nn__batchnorm_defaults, NULL, nn__batchnorm_counts,
     nn__batchnorm_setup, nn__norm_init, nn__batchnorm_fwd, NN__BWD(nn__batchnorm_bwd), nn__batchnorm_describe},
    {"layernorm", "NN_LAYER_LAYERNORM", NN__K_NORM, nn__layernorm_defaults, NULL, nn__layernorm_counts,
     nn__layernorm_setup, nn__norm_init, nn__layernorm_fwd, NN__BWD(nn__layernorm_bwd), nn__layernorm_describe},
    {"maxout", "NN_LAYER_MAXOUT", NN__K_UNITS, nn__maxout_defaults, nn__units_shape, nn__maxout_counts,
     nn__maxout_setup, nn__units_init, nn__maxout_fwd, NN__BWD(nn__maxout_bwd), nn__maxout_describe},
    {"flatten", "NN_LAYER_FLATTEN", NN__K_VIEW, NULL, nn__flatten_shape, NULL, NULL, NULL, NULL, NULL,
     nn__flatten_describe},
    {"conv2d", "NN_LAYER_CONV2D", NN__K_UNITS | NN__K_IMAGE | NN__K_WINDOW, nn__conv2d_defaults, nn__conv2d_shape,
     nn__conv2d_counts, nn__conv2d_setup, nn__conv2d_init, nn__conv2d_fwd, NN__BWD(nn__conv2d_bwd), nn__conv2d_describe},
    {"maxpool2d", "NN_LAYER_MAXPOOL2D", NN__K_IMAGE | NN__K_WINDOW, nn__pool_defaults, nn__pool_shape, NULL,
     nn__pool_setup, NULL, nn__maxpool2d_fwd, NN__BWD(nn__maxpool2d_bwd), nn__pool_describe},
    {"avgpool2d", "NN_LAYER_AVGPOOL2D", NN__K_IMAGE | NN__K_WINDOW, nn__avgpool2d_defaults, nn__pool_shape, NULL,
     nn__pool_setup, NULL, nn__avgpool2d_fwd, NN__BWD(nn__avgpool2d_bwd), nn__pool_describe},
    {"global_avgpool", "NN_LAYER_GLOBAL_AVGPOOL", NN__K_IMAGE, NULL, nn__gap_shape, NULL, NULL, NULL, nn__gap_fwd,
     NN__BWD(nn__gap_bwd), nn__gap_describe},
    {"batchnorm2d", "NN_LAYER_BATCHNORM2D", NN__K_NORM | NN__K_BATCH | NN__K_IMAGE, nn__batchnorm_defaults, NULL,
     nn__batchnorm2d_counts, nn__batchnorm2d_setup, nn__norm_init, nn__batchnorm2d_fwd, NN__BWD(nn__batchnorm2d_bwd),
     nn__batchnorm2d_describe},
    {"dropout2d", "NN_LAYER_DROPOUT2D", NN__K_IMAGE, nn__dropout_defaults, NULL, NULL, nn__dropout2d_setup, NULL,
     nn__dropout2d_fwd, NN__BWD(nn__dropout2d_bwd), nn__dropout2d_describe},
};

static int nn__kind_ok(nn_layer_kind k) { return (int)k > (int)NN_LAYER_NONE && k < NN_LAYER_KIND_COUNT_; }
static unsigned nn__kind_flags(nn_layer_kind k) { return nn__kind_ok(k) ? nn__kinds[k].flags : 0u; }
static const char *nn__layer_kind_name(nn_layer_kind k) {
    return (int)k >= 0 && k < NN_LAYER_KIND_COUNT_ ? nn__kinds[k].name : "unknown";
}

/* ---- layer descriptions: PyTorch's defaults, then taken literally ---- */
NNDEF nn_layer_desc nn_layer_desc_default(nn_layer_kind kind) {
    /* only the fields a kind reads are set: two descriptions of the same
       layer compare equal field by field (the loader relies on it) */
    nn_layer_desc l;
    NN__ZERO(l);
    l.kind = kind;
    l.tag = NN_DESC_TAG;
    if (nn__kind_ok(kind) && nn__kinds[kind].defaults) nn__kinds[kind].defaults(&l);
    return l;
}

/* Format 1.0 files were written when zero meant "default": give each zero
   field the value its kind's constructor would set. */
static void nn__layer_from_v10(nn_layer_desc *l) {
    nn_layer_desc d = nn_layer_desc_default(l->kind);
    unsigned f = nn__kind_flags(l->kind);
    nn_act act = (f & (NN__K_UNITS | NN__K_ACT)) ? l->act : NN_ACT_IDENTITY;
    if (l->alpha == 0.0f) l->alpha = nn__act_default_alpha(act);
    if (f & NN__K_UNITS) {
        if (l->init_gain == 0.0f) l->init_gain = nn_init_gain(act, l->alpha);
    }
    if (l->p == 0.0f) l->p = d.p;
    if (l->eps == 0.0f) l->eps = d.eps;
    if (l->momentum == 0.0f) l->momentum = d.momentum;
    if (l->k == 0) l->k = d.k;
    l->tag = NN_DESC_TAG;
}

/* The per-sample shape of the model's input. */
static nn__shape nn__input_shape(const nn_model_desc *d) {
    nn__shape s = nn__flat(d->inputs);
    if (d->input_shape[0] || d->input_shape[1] || d->input_shape[2]) {
        s.c = d->input_shape[0];
        s.h = d->input_shape[1];
        s.w = d->input_shape[2];
    }
    return s;
}

/* Expands d into plan (may be NULL to count). Returns the internal layer
   count. d must have passed nn__model_validate (the shapes are its). */
static int nn__model_expand(const nn_model_desc *d, nn__lplan *plan) {
    int i, n = 0;
    nn__shape s = nn__input_shape(d);
    for (i = 0; i < d->n_layers; i++) {
        const nn_layer_desc *ld = &d->layers[i];
        const nn__kind *K = &nn__kinds[ld->kind];
        nn__shape o = s;
        if (K->shape) K->shape(ld, i, d->max_batch, s, &o, NULL);
        if (plan) {
            plan[n].kind = ld->kind;
            plan[n].d = ld;
            plan[n].act = (K->flags & NN__K_ACT) ? ld->act : NN_ACT_IDENTITY;
            plan[n].is = s;
            plan[n].os = o;
            plan[n].in = (int)nn__shape_size(s);
            plan[n].out = (int)nn__shape_size(o);
        }
        n++;
        if ((K->flags & NN__K_UNITS) && ld->act != NN_ACT_IDENTITY) {
            if (plan) {
                plan[n].kind = NN_LAYER_ACT;
                plan[n].d = ld;
                plan[n].act = ld->act;
                plan[n].is = plan[n].os = o;
                plan[n].in = plan[n].out = (int)nn__shape_size(o);
            }
            n++;
        }
        s = o;
    }
    return n;
}

/* err (NN_ERROR_MAX bytes, may be NULL) gets what is wrong and where. */
static nn_result nn__model_validate(const nn_model_desc *d, char *err) {
    int i;
    nn__shape s;
    if (!d) return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "model description is NULL");
    if (d->inputs <= 0 || d->max_batch <= 0)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "inputs = %d and max_batch = %d must both be >= 1",
                        d->inputs, d->max_batch);
    if (d->n_layers <= 0 || !d->layers)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "no layers (n_layers = %d, layers %s)", d->n_layers,
                        d->layers ? "set" : "NULL");
    if (d->n_layers > NN__MAX_LAYERS / 2)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "n_layers = %d, at most %d", d->n_layers, NN__MAX_LAYERS / 2);
    s = nn__input_shape(d);
    /* each product checked against INT_MAX as it grows: no size_t wraps to inputs */
    if (s.c < 1 || s.h < 1 || s.w < 1 || (size_t)s.h > (size_t)INT_MAX / (size_t)s.c ||
        (size_t)s.w > (size_t)INT_MAX / ((size_t)s.c * (size_t)s.h) ||
        (size_t)s.c * (size_t)s.h * (size_t)s.w != (size_t)d->inputs)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "input_shape (%d, %d, %d) must be all 0 or hold the %d inputs "
                        "as (C, H, W)", d->input_shape[0], d->input_shape[1], d->input_shape[2], d->inputs);
    if ((size_t)d->max_batch * (size_t)d->inputs > (size_t)INT_MAX)
        return nn__fail(err, NN_ERR_TOO_LARGE, "max_batch x inputs = %d x %d is over INT_MAX", d->max_batch, d->inputs);
    for (i = 0; i < d->n_layers; i++) {
        const nn_layer_desc *l = &d->layers[i];
        nn__shape o;
        nn_result r;
        if (l->tag != NN_DESC_TAG)
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT,
                            "layer %d: description not made by nn_dense(), nn_dropout(), ... or "
                            "nn_layer_desc_default() (fields are literal; a zeroed struct is not a default)", i);
        if (!nn__kind_ok(l->kind))
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d: unknown kind %d", i, (int)l->kind);
        if ((int)l->act < 0 || l->act >= NN_ACT_COUNT_)
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d: unknown activation %d", i, (int)l->act);
        if ((int)l->init < 0 || l->init >= NN_INIT_COUNT_)
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d: unknown init scheme %d", i, (int)l->init);
        /* every real field finite and in range (a file may carry anything) */
        if (!NN__IN(l->alpha, -1e30f, 1e30f) || !NN__IN(l->init_gain, -1e30f, 1e30f) ||
            !NN__IN(l->init_value, -1e30f, 1e30f))
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d: alpha %g, init_gain %g, init_value %g: "
                            "each must be finite", i, (double)l->alpha, (double)l->init_gain, (double)l->init_value);
        if (!NN__IN(l->eps, 0.0f, 1.0f) || !NN__IN(l->momentum, 0.0f, 1.0f))
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d (%s): eps %g and momentum %g must be in [0, 1]", i,
                            nn__layer_kind_name(l->kind), (double)l->eps, (double)l->momentum);
        if (!(l->p >= 0.0f && l->p < 1.0f))
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d (%s): p = %g, must be in [0, 1)", i,
                            nn__layer_kind_name(l->kind), (double)l->p);
        if ((unsigned)l->vanilla > 1u || (l->vanilla && l->kind != NN_LAYER_DROPOUT))
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d (%s): vanilla = %d (0, or 1 on dropout)", i,
                            nn__layer_kind_name(l->kind), l->vanilla);
        if (!(nn__kinds[l->kind].flags & NN__K_WINDOW) &&
            (l->kernel[0] || l->kernel[1] || l->stride[0] || l->stride[1] || l->padding[0] || l->padding[1] ||
             l->dilation[0] || l->dilation[1]))
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d (%s): kernel, stride, padding and dilation are "
                            "for conv and pooling layers, and must be 0 here", i, nn__layer_kind_name(l->kind));
        if ((l->kind != NN_LAYER_CONV2D && l->groups) || (unsigned)l->count_include_pad > 1u ||
            (l->count_include_pad && l->kind != NN_LAYER_AVGPOOL2D))
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "layer %d (%s): groups = %d (conv2d only), "
                            "count_include_pad = %d (0 or 1, avgpool2d only)", i, nn__layer_kind_name(l->kind),
                            l->groups, l->count_include_pad);
        o = s;
        if (nn__kinds[l->kind].shape && (r = nn__kinds[l->kind].shape(l, i, d->max_batch, s, &o, err)) != NN_OK)
            return r;
        if ((size_t)d->max_batch * nn__shape_size(o) > (size_t)INT_MAX)
            return nn__fail(err, NN_ERR_TOO_LARGE, "layer %d: max_batch x width over INT_MAX", i);
        s = o;
    }
    return NN_OK;
}

static void nn__lplan_counts(const nn__lplan *p, nn__counts *c) {
    NN__ZERO(*c);
    if (nn__kinds[p->kind].counts) nn__kinds[p->kind].counts(p, c);
}

static void nn__add_param(nn_param *list, int *n, const char *name, float *data, float *grad,
                          size_t size, int no_decay, int rows) {
    list[*n].rows = rows;
    list[*n].name = name;
    list[*n].data = data;
    list[*n].grad = grad;
    list[*n].size = size;
    list[*n].no_decay = no_decay;
    (*n)++;
}

/* Builds into m and a, or (both NULL) only measures; z (may be NULL) gets the
   bytes of each kind of allocation, in the order they are taken. */
static nn_result nn__model_build(nn_model *m, nn_arena *a, const nn_model_desc *d, nn_model_sizes *z, int train) {
    nn__lplan plan[NN__MAX_LAYERS];
    int L = nn__model_expand(d, plan), l, max_width = d->inputs;
    size_t n_params = 0, n_buffers = 0, poff = 0, boff = 0, MB = (size_t)d->max_batch;
    nn__taker t;
    nn_layer *layers;
    nn_param *plist, *blist;
    float *params, *grads, *buffers;
    nn_model_sizes parts;
    t.a = a;
    t.total = 0;
    t.fail = 0;
    t.work = 0;
    for (l = 0; l < L; l++) {
        nn__counts c;
        nn__lplan_counts(&plan[l], &c);
        n_params += c.w + c.b;
        n_buffers += c.buf;
        max_width = NN__MAX(max_width, plan[l].out);
    }
    NN__ZERO(parts);
    layers = (nn_layer *)nn__take(a, sizeof(nn_layer) * (size_t)L, &t.total, &t.fail);
    plist = (nn_param *)nn__take(a, sizeof(nn_param) * 2 * (size_t)L, &t.total, &t.fail);
    blist = (nn_param *)nn__take(a, sizeof(nn_param) * 2 * (size_t)L, &t.total, &t.fail);
    parts.tables = t.total;
    params = nn__takef(&t, n_params);
    parts.params = t.total - parts.tables;
    grads = train ? nn__takef(&t, n_params) : NULL; /* inference only: no gradients */
    parts.grads = t.total - parts.tables - parts.params;
    buffers = nn__takef(&t, n_buffers);
    parts.buffers = t.total - parts.tables - parts.params - parts.grads;
    {
        size_t before = t.total;
        nn_layer_desc *descs = (nn_layer_desc *)nn__take(a, sizeof(nn_layer_desc) * (size_t)d->n_layers, &t.total,
                                                         &t.fail);
        parts.tables += t.total - before;
        if (m && !t.fail) {
            NN__ZERO(*m);
            memcpy(descs, d->layers, sizeof(nn_layer_desc) * (size_t)d->n_layers);
            m->descs = descs;
            m->n_descs = d->n_layers;
            m->seed = d->seed;
        }
    }
    if (m && !t.fail) {
        m->layers = layers;
        m->n_layers = L;
        m->inputs = d->inputs;
        m->max_batch = d->max_batch;
        m->params = params;
        m->grads = grads;
        m->n_params = n_params;
        m->param_list = plist;
        m->buffers = buffers;
        m->n_buffers = n_buffers;
        m->buffer_list = blist;
        m->mode = NN_MODE_TRAIN;
        {
            nn__shape s = nn__input_shape(d);
            m->input_shape[0] = s.c;
            m->input_shape[1] = s.h;
            m->input_shape[2] = s.w;
            memcpy(m->desc_input_shape, d->input_shape, sizeof m->desc_input_shape);
        }
        nn_rng_seed(&m->rng, d->seed);
    }
    for (l = 0; l < L; l++) {
        const nn__lplan *p = &plan[l];
        const nn__kind *K = &nn__kinds[p->kind];
        const nn_layer_desc *ld = p->d;
        nn_layer ly;
        nn__counts c;
        size_t out = (size_t)p->out;
        float *y = NULL;
        nn__lplan_counts(p, &c);
        NN__ZERO(ly);
        if (!(K->flags & NN__K_VIEW)) y = nn__takef(&t, MB * out);
        ly.k = 1;
        if (K->setup) K->setup(&ly, p, MB, &t);
        if (!m || t.fail) continue;
        ly.kind = p->kind;
        ly.act = p->act;
        ly.in = p->in;
        ly.out = p->out;
        ly.in_shape[0] = p->is.c; ly.in_shape[1] = p->is.h; ly.in_shape[2] = p->is.w;
        ly.out_shape[0] = p->os.c; ly.out_shape[1] = p->os.h; ly.out_shape[2] = p->os.w;
        ly.alpha = ld->alpha;
        ly.p = ld->p;
        ly.eps = ld->eps;
        ly.momentum = ld->momentum;
        ly.y = nn_tensor_2d(y, d->max_batch, p->out);
        if (c.w) {
            if (c.w_rows) {
                ly.w = nn_tensor_2d(params + poff, c.w_rows, (int)(c.w / (size_t)c.w_rows));
                ly.dw = nn_tensor_2d(grads ? grads + poff : NULL, c.w_rows, (int)(c.w / (size_t)c.w_rows));
            } else {
                ly.w = nn_tensor_1d(params + poff, (int)c.w);
                ly.dw = nn_tensor_1d(grads ? grads + poff : NULL, (int)c.w);
            }
            poff += c.w;
        }
        if (c.b) {
            ly.b = nn_tensor_1d(params + poff, (int)c.b);
            ly.db = nn_tensor_1d(grads ? grads + poff : NULL, (int)c.b);
            poff += c.b;
        }
        if (c.buf) {
            ly.running_mean = buffers + boff;
            ly.running_var = buffers + boff + c.buf / 2;
            boff += c.buf;
        }
        layers[l] = ly;
        /* the names live in the layer: point at its final place */
        if (c.w) {
            nn_layer *fl = &layers[l];
            sprintf(fl->param_names[0], "%d.weight", l);
            nn__add_param(plist, &m->n_param_list, fl->param_names[0], fl->w.data, fl->dw.data, c.w,
                          (K->flags & NN__K_NORM) != 0, c.w_rows);
        }
        if (c.b) {
            nn_layer *fl = &layers[l];
            sprintf(fl->param_names[1], "%d.bias", l);
            nn__add_param(plist, &m->n_param_list, fl->param_names[1], fl->b.data, fl->db.data, c.b, 1, 0);
        }
        if (c.buf) {
            nn_layer *fl = &layers[l];
            sprintf(fl->param_names[2], "%d.running_mean", l);
            sprintf(fl->param_names[3], "%d.running_var", l);
            nn__add_param(blist, &m->n_buffer_list, fl->param_names[2], fl->running_mean, NULL, c.buf / 2, 1, 0);
            nn__add_param(blist, &m->n_buffer_list, fl->param_names[3], fl->running_var, NULL, c.buf / 2, 1, 0);
        }
    }
    {
        size_t width = (size_t)(L ? plan[L - 1].out : d->inputs);
        /* the backward pass's ping-pong gradients and the output gradient */
        float *g0 = train ? nn__takef(&t, MB * (size_t)max_width) : NULL;
        float *g1 = train ? nn__takef(&t, MB * (size_t)max_width) : NULL;
        float *dout = train ? nn__takef(&t, MB * width) : NULL;
        float *work = t.work ? nn__takef(&t, t.work) : NULL;
        if (m && !t.fail) {
            m->work = work;
            m->gbuf[0] = g0;
            m->gbuf[1] = g1;
            m->dout = dout;
            m->outputs = (int)width;
        }
    }
    if (z) {
        /* everything not named above is per-batch scratch */
        parts.total = t.total;
        parts.scratch = t.total - parts.tables - parts.params - parts.grads - parts.buffers;
        *z = parts;
    }
    return t.fail ? NN_ERR_OUT_OF_MEMORY : NN_OK;
}

NNDEF size_t nn_model_param_count(const nn_model_desc *desc) {
    nn__lplan plan[NN__MAX_LAYERS];
    size_t n = 0;
    nn__counts c;
    int L, l;
    if (nn__model_validate(desc, NULL) != NN_OK) return 0;
    L = nn__model_expand(desc, plan);
    for (l = 0; l < L; l++) {
        nn__lplan_counts(&plan[l], &c);
        n += c.w + c.b;
    }
    return n;
}

NNDEF nn_result nn_model_sizes_query(const nn_model_desc *desc, nn_model_sizes *out) {
    nn_result r = nn__model_validate(desc, NULL);
    if (!out) return NN_ERR_INVALID_ARGUMENT;
    if (r != NN_OK) return r;
    nn__model_build(NULL, NULL, desc, out, NN__TRAINING);
    return NN_OK;
}

NNDEF size_t nn_model_arena_bytes(const nn_model_desc *desc) {
    nn_model_sizes z;
    if (nn__model_validate(desc, NULL) != NN_OK) return 0;
    nn__model_build(NULL, NULL, desc, &z, NN__TRAINING);
    return z.total;
}

NNDEF nn_result nn_model_init(nn_model *m, nn_arena *arena, const nn_model_desc *desc) {
    /* built into a copy: a failed init leaves a live model as it was (all but m->error) */
    size_t mark;
    nn_model_sizes z;
    nn_model t;
    nn_result r;
    int l;
    if (!m) return NN_ERR_INVALID_ARGUMENT;
    if (!arena) return nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "nn_model_init: arena is NULL");
    r = nn__model_validate(desc, m->error);
    if (r != NN_OK) return r;
    mark = nn_arena_mark(arena);
    r = nn__model_build(&t, arena, desc, &z, NN__TRAINING);
    if (r != NN_OK) {
        nn_arena_rewind(arena, mark);
        return nn__fail(m->error, r, "arena full: the model needs %lu bytes, %lu are free",
                        (unsigned long)z.total, (unsigned long)(arena->cap - mark));
    }
    t.arena_bytes = z.total;
    /* Initialize in layer order from the model's seed: reproducible. */
    {
        nn__lplan plan[NN__MAX_LAYERS];
        nn__model_expand(desc, plan);
        for (l = 0; l < t.n_layers; l++)
            if (nn__kinds[t.layers[l].kind].init) nn__kinds[t.layers[l].kind].init(&t.layers[l], plan[l].d, &t.rng);
    }
    *m = t;
    return NN_OK;
}

NNDEF void nn_model_set_mode(nn_model *m, nn_mode mode) { m->mode = mode; }

/* Batch statistics (batch norm in training) need two values per feature
   (BatchNorm1d: two rows) or per channel (BatchNorm2d: rows x H x W). */
static int nn__batch_stats_ok(const nn_model *m, int B) {
    int l;
    for (l = 0; l < m->n_layers; l++) {
        const nn_layer *ly = &m->layers[l];
        unsigned f = nn__kinds[ly->kind].flags;
        if ((f & NN__K_BATCH) &&
            (long long)B * ((f & NN__K_IMAGE) ? (long long)ly->in_shape[1] * ly->in_shape[2] : 1LL) < 2)
            return 0;
    }
    return 1;
}

/* Rows per block of an EVAL forward: as many as keep the widest image
   layer's output of a block within NN__EVAL_BLOCK_BYTES; *last: the last
   image layer (the blocks run layers 0..*last). The whole batch when the
   model has no image layer. */
#define NN__EVAL_BLOCK_BYTES ((size_t)1 << 20)
static int nn__eval_block(const nn_model *m, int *last) {
    size_t widest = 1;
    int l;
    *last = -1;
    for (l = 0; l < m->n_layers; l++)
        if (nn__kinds[m->layers[l].kind].flags & NN__K_IMAGE) *last = l;
    if (*last < 0) return m->max_batch;
    for (l = 0; l <= *last; l++) widest = NN__MAX(widest, sizeof(float) * (size_t)m->layers[l].out);
    return (int)NN__MAX((size_t)1, NN__MIN(NN__EVAL_BLOCK_BYTES / widest, (size_t)m->max_batch));
}

NNDEF nn_tensor nn_model_forward(nn_model *m, nn_tensor x) {
    /* x (B, inputs) -> (B, outputs) */
    int B = x.shape[0], l, train = m->mode == NN_MODE_TRAIN, blk, last = -1, r0;
    nn_tensor in, none;
    NN__ZERO(none);
    /* run-time data: checked in every build; a bad batch never reaches the buffers */
    if (!x.data || x.rank < 1 || x.rank > NN_MAX_RANK) {
        nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "forward: input %s", x.data ? "rank outside 1..4" : "data is NULL");
        return none;
    }
    if (B < 1 || B > m->max_batch) {
        nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "forward: batch of %d rows, the model holds 1..%d (max_batch)", B,
                 m->max_batch);
        return none;
    }
    if (nn_tensor_row_size(x) != m->inputs) {
        nn__fail(m->error, NN_ERR_SHAPE_MISMATCH, "forward: %d features per row, the model takes %d",
                 nn_tensor_row_size(x), m->inputs);
        return none;
    }
    if (train && !nn__batch_stats_ok(m, B)) {
        nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "forward: batch norm in training needs two values or more per "
                 "feature or channel, and a batch of %d row%s gives one", B, B == 1 ? "" : "s");
        return none;
    }
    m->error[0] = '\0';
    m->batch = B;
    m->x = nn_tensor_2d(x.data, B, m->inputs);
    in = m->x;
    /* EVAL: the image layers run a block of rows at a time through all of
       them, so a block's activations stay in cache (every layer is per row
       in EVAL); the dense layers after them take the whole batch. */
    blk = train ? B : nn__eval_block(m, &last);
    for (r0 = 0; blk < B && r0 < B; r0 += blk) {
        int b = NN__MIN(blk, B - r0);
        nn_tensor cin = nn_tensor_rows(m->x, r0, b);
        m->row0 = r0;
        for (l = 0; l <= last; l++) {
            nn_layer *ly = &m->layers[l];
            const nn__kind *K = &nn__kinds[ly->kind];
            nn_tensor out;
            if (K->flags & NN__K_VIEW) ly->y = nn_tensor_2d(l ? m->layers[l - 1].y.data : m->x.data, B, ly->out);
            out = nn_tensor_rows(ly->y, r0, b);
            if (K->forward) K->forward(m, ly, out, cin, train);
            cin = out;
        }
        m->row0 = 0;
        in = nn_tensor_rows(m->layers[last].y, 0, B);
    }
    for (l = blk < B ? last + 1 : 0; l < m->n_layers; l++) {
        nn_layer *ly = &m->layers[l];
        const nn__kind *K = &nn__kinds[ly->kind];
        nn_tensor out;
        if (K->flags & NN__K_VIEW) ly->y = nn_tensor_2d(in.data, B, ly->out);
        out = nn_tensor_rows(ly->y, 0, B);
        if (K->forward) K->forward(m, ly, out, in, train);
        in = out;
    }
    return in;
}

NNDEF nn_tensor nn_model_output_grad(nn_model *m) {
    return nn_tensor_2d(m->dout, m->batch > 0 ? m->batch : m->max_batch, m->outputs);
}

NNDEF nn_result nn_model_backward(nn_model *m, nn_tensor dy) {
    int B = m->batch, l, t = 0, train = m->mode == NN_MODE_TRAIN;
    nn_tensor g;
    if (!NN__TRAINING)
        return nn__fail(m->error, NN_ERR_UNSUPPORTED, "backward: this nn.h was built with NN_NO_TRAINING");
    if (B < 1) return nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "backward: no forward pass to go back through");
    if (!dy.data || dy.rank < 1 || dy.rank > NN_MAX_RANK || dy.shape[0] != B || nn_tensor_row_size(dy) != m->outputs)
        return nn__fail(m->error, NN_ERR_SHAPE_MISMATCH, "backward: dy is (%d, %d)%s, the last forward gave (%d, %d)",
                        dy.rank >= 1 ? dy.shape[0] : 0, dy.rank >= 1 ? nn_tensor_row_size(dy) : 0,
                        dy.data ? "" : " with NULL data", B, m->outputs);
    m->error[0] = '\0';
    g = nn_tensor_2d(dy.data, B, m->outputs);
    for (l = m->n_layers - 1; l >= 0; l--) {
        nn_layer *ly = &m->layers[l];
        nn_tensor in = l ? nn_tensor_rows(m->layers[l - 1].y, 0, B) : m->x;
        nn_tensor dx = nn_tensor_2d(l ? m->gbuf[t] : m->input_grad, B, ly->in);
        const nn__kind *K = &nn__kinds[ly->kind];
        if (K->flags & NN__K_VIEW) continue; /* the gradient passes through unchanged; keep g and t */
        K->backward(m, ly, dx, g, in, train);
        g = dx;
        t ^= 1;
    }
    /* a model that starts with flatten passes its gradient through unchanged */
    if (m->input_grad && g.data != m->input_grad)
        memcpy(m->input_grad, g.data, sizeof(float) * (size_t)B * (size_t)m->inputs);
    return NN_OK;
}

NNDEF void nn_model_zero_grad(nn_model *m) {
    if (m->n_params && m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

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
    nn__append(buf, size, &len, "%-4s %-26s %-14s %10s\n", "#", "layer", "output", "params");
    if (m->input_shape[1] * m->input_shape[2] > 1) {
        char shape[48];
        sprintf(shape, "(B, %d, %d, %d)", m->input_shape[0], m->input_shape[1], m->input_shape[2]);
        nn__append(buf, size, &len, "%-4s %-26s %-14s %10s\n", "-", "input", shape, "");
    } else {
        nn__append(buf, size, &len, "%-4s %-26s (B, %-9d) %10s\n", "-", "input", m->inputs, "");
    }
    for (l = 0; l < m->n_layers; l++) {
        const nn_layer *ly = &m->layers[l];
        char what[NN__DESCRIBE_MAX];
        size_t np = (ly->w.data ? nn_tensor_size(ly->w) : 0) + (ly->b.data ? nn_tensor_size(ly->b) : 0);
        nn__kinds[ly->kind].describe(ly, m->mode, what);
        if (ly->out_shape[1] * ly->out_shape[2] > 1) {
            char shape[48];
            sprintf(shape, "(B, %d, %d, %d)", ly->out_shape[0], ly->out_shape[1], ly->out_shape[2]);
            nn__append(buf, size, &len, "%-4d %-26s %-14s %10lu\n", l, what, shape, (unsigned long)np);
        } else {
            nn__append(buf, size, &len, "%-4d %-26s (B, %-9d) %10lu\n", l, what, ly->out, (unsigned long)np);
        }
    }
    nn__append(buf, size, &len, "parameters: %lu   arena: %lu bytes   max batch: %d   mode: %s\n",
               (unsigned long)m->n_params, (unsigned long)m->arena_bytes, m->max_batch,
               m->mode == NN_MODE_TRAIN ? "TRAIN" : "EVAL");
    return len;
}

/* == 9. optimizers ======================================================= */
NNDEF nn_optim_desc nn_optim_desc_default(nn_optim_kind kind) {
    nn_optim_desc d;
    int adam = kind == NN_OPTIM_ADAM || kind == NN_OPTIM_ADAMW;
    NN__ZERO(d);
    d.kind = kind;
    d.lr = adam ? 0.001f : 0.01f;
    d.beta1 = 0.9f;
    d.beta2 = 0.999f;
    d.eps = kind == NN_OPTIM_ADAGRAD ? 1e-10f : 1e-8f;
    d.alpha = 0.99f;
    d.weight_decay = kind == NN_OPTIM_ADAMW ? 0.01f : 0.0f;
    d.lookahead_alpha = 0.5f;
    d.tag = NN_DESC_TAG;
    return d;
}

NNDEF void nn_optim_elastic_net(nn_optim_desc *desc, float lambda, float mix) {
    desc->l1 = lambda * mix;
    desc->weight_decay = lambda * (1.0f - mix);
}

/* The ranges torch.optim accepts (every check fails on NaN); err (may be NULL)
   names the field. A file's description goes through the same checks. */
static nn_result nn__optim_desc_check(const nn_optim_desc *d, char *err) {
#define NN__OPT_RANGE(f, lo, hi)                                                                           \
    if (!NN__IN(d->f, lo, hi))                                                                             \
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "optimizer: " #f " = %g, must be in [%g, %g]", (double)d->f, \
                        (double)(lo), (double)(hi));
    if ((int)d->kind < 0 || d->kind >= NN_OPTIM_KIND_COUNT_)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "optimizer: unknown kind %d", (int)d->kind);
    NN__OPT_RANGE(lr, 0.0f, 1e30f)
    NN__OPT_RANGE(momentum, 0.0f, 1e30f)
    NN__OPT_RANGE(dampening, 0.0f, 1.0f)
    NN__OPT_RANGE(beta1, 0.0f, 0.99999994f)
    NN__OPT_RANGE(beta2, 0.0f, 0.99999994f)
    NN__OPT_RANGE(eps, 0.0f, 1e30f)
    NN__OPT_RANGE(alpha, 0.0f, 1e30f)
    NN__OPT_RANGE(weight_decay, 0.0f, 1e30f)
    NN__OPT_RANGE(l1, 0.0f, 1e30f)
    NN__OPT_RANGE(max_norm, 0.0f, 1e30f)
    NN__OPT_RANGE(lr_decay, 0.0f, 1e30f)
    NN__OPT_RANGE(initial_accumulator_value, 0.0f, 1e30f)
    NN__OPT_RANGE(lookahead_alpha, 0.0f, 1.0f)
#undef NN__OPT_RANGE
    if (d->lookahead_k < 0)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "optimizer: lookahead_k = %d, must be >= 0", d->lookahead_k);
    if (d->nesterov && (d->momentum == 0.0f || d->dampening != 0.0f))
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "optimizer: nesterov needs momentum > 0 and dampening 0 (torch)");
    if ((unsigned)d->momentum_ema > 1u || (unsigned)d->eps_inside_sqrt > 1u || (unsigned)d->l1_proximal > 1u)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "optimizer: momentum_ema, eps_inside_sqrt, l1_proximal are 0 or 1");
    if (d->momentum_ema && (d->kind != NN_OPTIM_SGD || d->momentum == 0.0f || d->dampening != 0.0f ||
                            d->classic_momentum || d->momentum > 1.0f))
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT,
                        "optimizer: momentum_ema is SGD's, with 0 < momentum <= 1, dampening 0, no classic_momentum");
    if (d->eps_inside_sqrt && d->kind != NN_OPTIM_RMSPROP)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "optimizer: eps_inside_sqrt is RMSprop's");
    return NN_OK;
}

/* How many state vectors of n floats each kind keeps. */
static int nn__optim_states(const nn_optim_desc *d) {
    switch (d->kind) {
    case NN_OPTIM_SGD: return d->momentum != 0.0f || d->classic_momentum ? 1 : 0;
    case NN_OPTIM_ADAGRAD: return 1;
    case NN_OPTIM_RMSPROP: return 1 + (d->centered != 0) + (d->momentum != 0.0f);
    case NN_OPTIM_ADAM:
    case NN_OPTIM_ADAMW: return 2 + (d->amsgrad != 0);
    default: return 0;
    }
}

NNDEF size_t nn_optim_arena_bytes(const nn_optim_desc *desc, size_t n_params) {
    size_t k;
    if (!desc || desc->tag != NN_DESC_TAG || nn__optim_desc_check(desc, NULL) != NN_OK) return 0;
    k = (size_t)nn__optim_states(desc) + (desc->lookahead_k > 0);
    if (n_params > SIZE_MAX / sizeof(float) / 4) return 0;
    return k * nn_arena_bytes_for(n_params * sizeof(float));
}

NNDEF nn_result nn_optim_init(nn_optim *o, nn_arena *arena, const nn_optim_desc *desc,
                              size_t n_params) {
    nn_optim_desc d;
    float **slots[3];
    int k, i;
    size_t mark, j;
    nn_result r;
    if (!o) return NN_ERR_INVALID_ARGUMENT;
    if (!arena || !desc)
        return nn__fail(o->error, NN_ERR_INVALID_ARGUMENT, "nn_optim_init: %s is NULL", arena ? "desc" : "arena");
    if (desc->tag != NN_DESC_TAG)
        return nn__fail(o->error, NN_ERR_INVALID_ARGUMENT,
                        "optimizer: description not made by nn_optim_desc_default() (fields are literal)");
    r = nn__optim_desc_check(desc, o->error);
    if (r != NN_OK) return r;
    if (n_params > SIZE_MAX / sizeof(float) / 4)
        return nn__fail(o->error, NN_ERR_TOO_LARGE, "optimizer: %lu parameters", (unsigned long)n_params);
    d = *desc;
    NN__ZERO(*o);
    o->d = d;
    o->n = n_params;
    k = nn__optim_states(&d);
    slots[0] = &o->s0; slots[1] = &o->s1; slots[2] = &o->s2;
    mark = nn_arena_mark(arena);
    for (i = 0; i < k; i++) {
        *slots[i] = (float *)nn_arena_alloc(arena, n_params * sizeof(float));
        if (!*slots[i]) goto oom;
    }
    if (d.lookahead_k > 0) {
        o->slow = (float *)nn_arena_alloc(arena, n_params * sizeof(float));
        if (!o->slow) goto oom;
    }
    if (d.kind == NN_OPTIM_ADAGRAD && d.initial_accumulator_value != 0.0f)
        for (j = 0; j < n_params; j++) o->s0[j] = d.initial_accumulator_value;
    return NN_OK;
oom:
    nn_arena_rewind(arena, mark);
    NN__ZERO(*o);
    return nn__fail(o->error, NN_ERR_OUT_OF_MEMORY, "optimizer: arena full (%d state vectors of %lu floats)",
                    k + (d.lookahead_k > 0), (unsigned long)n_params);
}

/* The update of n values whose effective gradient is g (regularizers already
   in). Every loop is branch-free inside so compilers vectorize it. */
static void nn__optim_update(nn_optim *o, float *w, const float *g, float *gz, size_t n, size_t off, long t) {
    const nn_optim_desc *d = &o->d;
    float lr = d->lr, *s0 = o->s0 ? o->s0 + off : NULL, *s1 = o->s1 ? o->s1 + off : NULL;
    float *s2 = o->s2 ? o->s2 + off : NULL;
    size_t i;
    switch (d->kind) {
    case NN_OPTIM_SGD: {
        float mu = d->momentum, damp = 1.0f - d->dampening;
        if (d->classic_momentum) {
            for (i = 0; i < n; i++) {
                s0[i] = mu * s0[i] - lr * g[i];
                w[i] += s0[i];
            }
        } else if (!s0) {
            for (i = 0; i < n; i++) w[i] -= lr * g[i];
        } else if (d->momentum_ema) { /* v starts at 0 (nn_optim_init zeroes it) */
            float keep = 1.0f - mu;
            for (i = 0; i < n; i++) s0[i] = mu * s0[i] + keep * g[i];
            if (d->nesterov)
                for (i = 0; i < n; i++) w[i] -= lr * (g[i] + mu * s0[i]);
            else
                for (i = 0; i < n; i++) w[i] -= lr * s0[i];
        } else {
            if (t == 1)
                for (i = 0; i < n; i++) s0[i] = g[i];
#if NN__AVX2
            else if (!d->nesterov && nn__cpu_has_avx2()) {
                nn__sgd_momentum_avx2(w, s0, g, gz, n, lr, mu, damp);
                return;
            }
#endif
            else
                for (i = 0; i < n; i++) s0[i] = mu * s0[i] + damp * g[i];
            if (d->nesterov)
                for (i = 0; i < n; i++) w[i] -= lr * (g[i] + mu * s0[i]);
            else
                for (i = 0; i < n; i++) w[i] -= lr * s0[i];
        }
        break;
    }
    case NN_OPTIM_ADAGRAD: {
        float clr = lr / (1.0f + (float)(t - 1) * d->lr_decay);
        for (i = 0; i < n; i++) {
            s0[i] += g[i] * g[i];
            w[i] -= clr * (g[i] / (sqrtf(s0[i]) + d->eps));
        }
        break;
    }
    case NN_OPTIM_RMSPROP: {
        float a = d->alpha, mu = d->momentum;
        float *gavg = d->centered ? s1 : NULL, *buf = mu != 0.0f ? (d->centered ? s2 : s1) : NULL;
        for (i = 0; i < n; i++) {
            float den;
            s0[i] = a * s0[i] + (1.0f - a) * g[i] * g[i];
            if (gavg) {
                gavg[i] = a * gavg[i] + (1.0f - a) * g[i];
                den = d->eps_inside_sqrt ? sqrtf(s0[i] - gavg[i] * gavg[i] + d->eps)
                                         : sqrtf(s0[i] - gavg[i] * gavg[i]) + d->eps;
            } else {
                den = d->eps_inside_sqrt ? sqrtf(s0[i] + d->eps) : sqrtf(s0[i]) + d->eps;
            }
            if (buf) {
                buf[i] = mu * buf[i] + g[i] / den;
                w[i] -= lr * buf[i];
            } else {
                w[i] -= lr * (g[i] / den);
            }
        }
        break;
    }
    case NN_OPTIM_ADAM:
    case NN_OPTIM_ADAMW: {
        float b1 = d->beta1, b2 = d->beta2, eps = d->eps;
        /* bias corrections in double, as PyTorch computes them in Python */
        double bc1 = d->no_bias_correction ? 1.0 : 1.0 - pow((double)b1, (double)t);
        double bc2 = d->no_bias_correction ? 1.0 : 1.0 - pow((double)b2, (double)t);
        float step = (float)(lr / bc1), bc2s = (float)sqrt(bc2);
#if NN__AVX2
        if (!s2 && nn__cpu_has_avx2()) {
            size_t done = 0;
#if NN__AVX512
            if (nn__cpu_has_avx512()) done = nn__adam_avx512(w, s0, s1, g, gz, n, b1, b2, step, bc2s, eps);
#endif
            nn__adam_avx2(w + done, s0 + done, s1 + done, g + done, gz ? gz + done : NULL, n - done, b1, b2, step,
                          bc2s, eps);
            return;
        }
#endif
        for (i = 0; i < n; i++) {
            s0[i] = b1 * s0[i] + (1.0f - b1) * g[i];
            s1[i] = b2 * s1[i] + (1.0f - b2) * g[i] * g[i];
        }
        if (s2) {
            for (i = 0; i < n; i++) {
                s2[i] = s2[i] > s1[i] ? s2[i] : s1[i];
                w[i] -= step * (s0[i] / (sqrtf(s2[i]) / bc2s + eps));
            }
        } else {
            for (i = 0; i < n; i++) w[i] -= step * (s0[i] / (sqrtf(s1[i]) / bc2s + eps));
        }
        break;
    }
    default: NN_ASSERT(0); break;
    }
    if (gz) memset(gz, 0, n * sizeof(float)); /* the loops above read g for the last time */
}

/* One run of n values at state offset off. t is the step number (from 1).
   zero: leave grad at 0 afterwards (fused where the kernel allows). */
static void nn__optim_run(nn_optim *o, float *w, const float *grad, size_t n, size_t off,
                          int decay, long t, int zero) {
    const nn_optim_desc *d = &o->d;
    float wd = decay ? d->weight_decay : 0.0f, l1 = decay ? d->l1 : 0.0f;
    size_t i, c;
    if (l1 != 0.0f && d->l1_proximal) {
        /* the smooth part first, then soft-thresholding by lr l1 */
        float th = d->lr * l1;
        o->d.l1 = 0.0f;
        nn__optim_run(o, w, grad, n, off, decay, t, zero);
        o->d.l1 = l1;
        for (i = 0; i < n; i++) {
            float a = fabsf(w[i]) - th;
            w[i] = a > 0.0f ? (w[i] > 0.0f ? a : -a) : 0.0f * w[i];
        }
        return;
    }
    if (d->kind == NN_OPTIM_ADAMW) {
        /* decoupled decay: shrink the weight, keep it out of the moments */
        float shrink = 1.0f - d->lr * wd;
        if (wd != 0.0f)
            for (i = 0; i < n; i++) w[i] *= shrink;
        wd = 0.0f;
    }
    if (wd == 0.0f && l1 == 0.0f) {
        nn__optim_update(o, w, grad, zero ? (float *)grad : NULL, n, off, t);
        return;
    }
    /* coupled regularizers: the effective gradient, a stack chunk at a time */
    for (c = 0; c < n; c += 256) {
        float g[256];
        size_t len = NN__MIN((size_t)256, n - c);
        for (i = 0; i < len; i++) {
            float v = w[c + i];
            g[i] = grad[c + i] + wd * v + l1 * (float)((v > 0.0f) - (v < 0.0f));
        }
        if (zero) memset((float *)grad + c, 0, len * sizeof(float));
        nn__optim_update(o, w + c, g, NULL, len, off + c, t);
    }
}

static void nn__max_norm_rows(float *w, size_t n, int rows, float max_norm) {
    size_t cols = rows > 0 ? n / (size_t)rows : n, r, c;
    if (rows <= 0) rows = 1;
    for (r = 0; r < (size_t)rows; r++) {
        float *row = w + r * cols;
        double s = 0.0;
        for (c = 0; c < cols; c++) s += (double)row[c] * row[c];
        if (s > (double)max_norm * max_norm) {
            float k = (float)(max_norm / sqrt(s));
            for (c = 0; c < cols; c++) row[c] *= k;
        }
    }
}

NNDEF void nn_optim_attach_sched(nn_optim *o, const struct nn_sched *s) { o->sched = s; }

/* Loaded files accept step counts up to this; a step never goes past it. */
#define NN__STEP_MAX ((long)(LONG_MAX / 2))

static nn_result nn__optim_step(nn_optim *o, const nn_param *params, int n, int zero) {
    size_t off = 0, i, total = 0;
    long t;
    int p;
    /* caller data: sizes checked before anything is written */
    if (n < 0 || (n > 0 && !params)) return nn__fail(o->error, NN_ERR_INVALID_ARGUMENT, "step: %d runs, params NULL", n);
    for (p = 0; p < n; p++) {
        if (!params[p].grad) continue;
        if (!params[p].data || params[p].size > o->n - total)
            return nn__fail(o->error, NN_ERR_SHAPE_MISMATCH, "step: run %d (%s) of %lu values %s; the optimizer holds %lu",
                            p, params[p].name ? params[p].name : "unnamed", (unsigned long)params[p].size,
                            params[p].data ? "goes past the state" : "has NULL data", (unsigned long)o->n);
        total += params[p].size;
    }
    if (o->step >= NN__STEP_MAX) return nn__fail(o->error, NN_ERR_TOO_LARGE, "step: step count at its limit");
    if (o->sched) {
        o->d.lr = nn_sched_lr(o->sched);
        if (o->sched->d.kind == NN_SCHED_ONE_CYCLE) {
            /* Adam's beta1, or SGD/RMSprop momentum where the optimizer keeps a
               momentum buffer (built with momentum > 0): one without never
               starts using momentum halfway */
            if (o->d.kind == NN_OPTIM_ADAM || o->d.kind == NN_OPTIM_ADAMW) o->d.beta1 = nn_sched_momentum(o->sched);
            else if ((o->d.kind == NN_OPTIM_SGD || o->d.kind == NN_OPTIM_RMSPROP) && o->d.momentum != 0.0f)
                o->d.momentum = nn_sched_momentum(o->sched);
        }
    }
    t = ++o->step;
    for (p = 0; p < n; p++) {
        const nn_param *pr = &params[p];
        if (!pr->grad) continue;
        if (o->slow && t == 1) memcpy(o->slow + off, pr->data, pr->size * sizeof(float));
        nn__optim_run(o, pr->data, pr->grad, pr->size, off, !pr->no_decay, t, zero);
        if (o->d.max_norm > 0.0f && !pr->no_decay) nn__max_norm_rows(pr->data, pr->size, pr->rows, o->d.max_norm);
        if (o->slow && t % o->d.lookahead_k == 0) {
            float *slow = o->slow + off, a = o->d.lookahead_alpha;
            for (i = 0; i < pr->size; i++) {
                slow[i] += a * (pr->data[i] - slow[i]);
                pr->data[i] = slow[i];
            }
        }
        off += pr->size;
    }
    return NN_OK;
}

NNDEF nn_result nn_optim_step_params(nn_optim *o, const nn_param *params, int n) {
    return nn__optim_step(o, params, n, 0);
}

NNDEF nn_result nn_optim_step_params_and_zero_grad(nn_optim *o, const nn_param *params, int n) {
    return nn__optim_step(o, params, n, 1);
}

NNDEF nn_result nn_optim_step(nn_optim *o, float *params, const float *grads, size_t n) {
    nn_param p;
    NN__ZERO(p);
    p.data = params;
    p.grad = (float *)grads; /* read only */
    p.size = n;
    if (!grads) return nn__fail(o->error, NN_ERR_INVALID_ARGUMENT, "step: grads is NULL");
    return nn__optim_step(o, &p, 1, 0);
}

NNDEF nn_result nn_optim_step_and_zero_grad(nn_optim *o, float *params, float *grads, size_t n) {
    nn_param p;
    NN__ZERO(p);
    p.data = params;
    p.grad = grads;
    p.size = n;
    if (!grads) return nn__fail(o->error, NN_ERR_INVALID_ARGUMENT, "step: grads is NULL");
    return nn__optim_step(o, &p, 1, 1);
}

NNDEF float nn_optim_penalty(const nn_optim *o, const nn_param *params, int n) {
    double l2 = 0.0, l1 = 0.0;
    int p;
    size_t i;
    float wd = o->d.weight_decay;
    for (p = 0; p < n; p++) {
        if (params[p].no_decay || !params[p].grad) continue;
        for (i = 0; i < params[p].size; i++) {
            double w = params[p].data[i];
            l2 += w * w;
            l1 += fabs(w);
        }
    }
    return (float)(0.5 * wd * l2 + o->d.l1 * l1);
}

/* ---- L-BFGS ---- */
NNDEF nn_lbfgs_desc nn_lbfgs_desc_default(void) {
    nn_lbfgs_desc d;
    NN__ZERO(d);
    d.lr = 1.0f;
    d.max_iter = 20;
    d.max_eval = -1;
    d.tolerance_grad = 1e-7f;
    d.tolerance_change = 1e-9f;
    d.history_size = 100;
    d.tag = NN_DESC_TAG;
    return d;
}

NNDEF size_t nn_lbfgs_arena_bytes(const nn_lbfgs_desc *desc, size_t n) {
    size_t m;
    if (!desc || desc->tag != NN_DESC_TAG || desc->history_size < 1 || desc->history_size > (1 << 20)) return 0;
    m = (size_t)desc->history_size;
    return 2 * nn_arena_bytes_for(m * n * sizeof(float)) + 2 * nn_arena_bytes_for(m * sizeof(float)) +
           8 * nn_arena_bytes_for(n * sizeof(float));
}

NNDEF nn_result nn_lbfgs_init(nn_lbfgs *lb, nn_arena *arena, const nn_lbfgs_desc *desc, size_t n) {
    size_t m, mark;
    float **vecs[8];
    int i;
    nn_lbfgs_desc d;
    if (!lb) return NN_ERR_INVALID_ARGUMENT;
    if (!arena || !desc)
        return nn__fail(lb->error, NN_ERR_INVALID_ARGUMENT, "nn_lbfgs_init: %s is NULL", arena ? "desc" : "arena");
    if (desc->tag != NN_DESC_TAG)
        return nn__fail(lb->error, NN_ERR_INVALID_ARGUMENT,
                        "L-BFGS: description not made by nn_lbfgs_desc_default() (fields are literal)");
    d = *desc;
    if (d.max_eval == -1 && d.max_iter >= 0) d.max_eval = d.max_iter / 4 * 5 + d.max_iter % 4 * 5 / 4;
    if (!NN__IN(d.lr, 0.0f, 1e30f) || d.max_iter < 0 || d.max_eval < 0 || !NN__IN(d.tolerance_grad, 0.0f, 1e30f) ||
        !NN__IN(d.tolerance_change, 0.0f, 1e30f) || d.history_size < 1 || d.history_size > (1 << 20) || n == 0)
        return nn__fail(lb->error, NN_ERR_INVALID_ARGUMENT,
                        "L-BFGS: lr %g, max_iter %d, max_eval %d, tolerances %g %g, history_size %d (1..2^20), "
                        "n %lu (>= 1)", (double)d.lr, d.max_iter, d.max_eval, (double)d.tolerance_grad,
                        (double)d.tolerance_change, d.history_size, (unsigned long)n);
    m = (size_t)d.history_size;
    if (n > SIZE_MAX / sizeof(float) / m / 2)
        return nn__fail(lb->error, NN_ERR_TOO_LARGE, "L-BFGS: %lu x %lu history", (unsigned long)m, (unsigned long)n);
    mark = nn_arena_mark(arena);
    NN__ZERO(*lb);
    lb->d = d;
    lb->n = n;
    lb->old_dirs = (float *)nn_arena_alloc(arena, m * n * sizeof(float));
    lb->old_stps = (float *)nn_arena_alloc(arena, m * n * sizeof(float));
    lb->ro = (float *)nn_arena_alloc(arena, m * sizeof(float));
    lb->al = (float *)nn_arena_alloc(arena, m * sizeof(float));
    vecs[0] = &lb->d_; vecs[1] = &lb->prev_grad; vecs[2] = &lb->g; vecs[3] = &lb->x0;
    vecs[4] = &lb->g_new; vecs[5] = &lb->bg[0]; vecs[6] = &lb->bg[1]; vecs[7] = &lb->g_prev;
    for (i = 0; i < 8; i++) *vecs[i] = (float *)nn_arena_alloc(arena, n * sizeof(float));
    if (!lb->old_dirs || !lb->old_stps || !lb->ro || !lb->al || !lb->g_prev || !lb->bg[1] || !lb->bg[0] ||
        !lb->g_new || !lb->x0 || !lb->g || !lb->prev_grad || !lb->d_) {
        nn_arena_rewind(arena, mark);
        NN__ZERO(*lb);
        return nn__fail(lb->error, NN_ERR_OUT_OF_MEMORY, "L-BFGS: arena full");
    }
    return NN_OK;
}

static float nn__dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    size_t i;
    for (i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}
static float nn__absmax(const float *a, size_t n) {
    float m = 0.0f;
    size_t i;
    for (i = 0; i < n; i++) m = fabsf(a[i]) > m ? fabsf(a[i]) : m;
    return m;
}

/* Minimizer of the cubic through (x1,f1,g1), (x2,f2,g2), clamped to bounds. */
static double nn__cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                                    double lo, double hi, int have_bounds) {
    double d1, d2sq, d2, min_pos;
    if (!have_bounds) {
        lo = x1 <= x2 ? x1 : x2;
        hi = x1 <= x2 ? x2 : x1;
    }
    d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    d2sq = d1 * d1 - g1 * g2;
    if (d2sq >= 0.0) {
        d2 = sqrt(d2sq);
        if (x1 <= x2) min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2));
        else min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2));
        return NN__MIN(NN__MAX(min_pos, lo), hi);
    }
    return (lo + hi) / 2.0;
}

/* f at x0 + t d into x, gradient into g. */
static float nn__lbfgs_eval(nn_lbfgs *lb, float *x, double t, nn_lbfgs_fn f, void *user, float *g) {
    size_t i;
    float tf = (float)t;
    for (i = 0; i < lb->n; i++) x[i] = lb->x0[i] + tf * lb->d_[i];
    return f(x, g, lb->n, user);
}

/* Strong-Wolfe line search (bracketing, then zoom with cubic interpolation),
   following torch.optim.lbfgs. On return lb->g holds the gradient at the step. */
static void nn__strong_wolfe(nn_lbfgs *lb, float *x, nn_lbfgs_fn f, void *user, double *t_io, float *loss_io,
                             double gtd, int *evals) {
    const double c1 = 1e-4, c2 = 0.9, tol = lb->d.tolerance_change;
    const int max_ls = 25;
    size_t n = lb->n, bytes = n * sizeof(float);
    double t = *t_io, f0 = *loss_io, d_norm = nn__absmax(lb->d_, n);
    double t_prev = 0.0, f_prev = f0, gtd_prev = gtd, f_new, gtd_new;
    double br[2], bf[2], bgtd[2];
    int ls_iter = 0, done = 0, nb = 0, low = 0, high = 1, insuf = 0;
    memcpy(lb->g_prev, lb->g, bytes); /* g at t = 0 */
    f_new = nn__lbfgs_eval(lb, x, t, f, user, lb->g_new);
    *evals = 1;
    gtd_new = nn__dot(lb->g_new, lb->d_, n);
    while (ls_iter < max_ls) {
        /* torch's order: Armijo (or no decrease), then the curvature test, and
           only then a positive slope; a step meeting both Wolfe conditions is
           taken even where the slope has turned */
        int curvature_ok = fabs(gtd_new) <= -c2 * gtd;
        if (f_new > f0 + c1 * t * gtd || (ls_iter > 1 && f_new >= f_prev) || (!curvature_ok && gtd_new >= 0.0)) {
            br[0] = t_prev; bf[0] = f_prev; bgtd[0] = gtd_prev; memcpy(lb->bg[0], lb->g_prev, bytes);
            br[1] = t; bf[1] = f_new; bgtd[1] = gtd_new; memcpy(lb->bg[1], lb->g_new, bytes);
            nb = 2;
            break;
        }
        if (curvature_ok) {
            br[0] = t; bf[0] = f_new; bgtd[0] = gtd_new; memcpy(lb->bg[0], lb->g_new, bytes);
            nb = 1;
            done = 1;
            break;
        }
        {
            double min_step = t + 0.01 * (t - t_prev), max_step = t * 10.0, tmp = t;
            t = nn__cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, min_step, max_step, 1);
            t_prev = tmp;
            f_prev = f_new;
            memcpy(lb->g_prev, lb->g_new, bytes);
            gtd_prev = gtd_new;
        }
        f_new = nn__lbfgs_eval(lb, x, t, f, user, lb->g_new);
        (*evals)++;
        gtd_new = nn__dot(lb->g_new, lb->d_, n);
        ls_iter++;
    }
    if (ls_iter == max_ls) {
        br[0] = 0.0; bf[0] = f0; bgtd[0] = gtd; memcpy(lb->bg[0], lb->g, bytes);
        br[1] = t; bf[1] = f_new; bgtd[1] = gtd_new; memcpy(lb->bg[1], lb->g_new, bytes);
        nb = 2;
    }
    if (nb == 2) {
        low = bf[0] <= bf[1] ? 0 : 1;
        high = 1 - low;
    }
    while (!done && ls_iter < max_ls) {
        double bmax, bmin, eps;
        if (fabs(br[1] - br[0]) * d_norm < tol) break;
        t = nn__cubic_interpolate(br[0], bf[0], bgtd[0], br[1], bf[1], bgtd[1], 0.0, 0.0, 0);
        bmax = NN__MAX(br[0], br[1]);
        bmin = NN__MIN(br[0], br[1]);
        eps = 0.1 * (bmax - bmin);
        if (NN__MIN(bmax - t, t - bmin) < eps) {
            if (insuf || t >= bmax || t <= bmin) {
                t = fabs(t - bmax) < fabs(t - bmin) ? bmax - eps : bmin + eps;
                insuf = 0;
            } else {
                insuf = 1;
            }
        } else {
            insuf = 0;
        }
        f_new = nn__lbfgs_eval(lb, x, t, f, user, lb->g_new);
        (*evals)++;
        gtd_new = nn__dot(lb->g_new, lb->d_, n);
        ls_iter++;
        if (f_new > f0 + c1 * t * gtd || f_new >= bf[low]) {
            br[high] = t; bf[high] = f_new; bgtd[high] = gtd_new; memcpy(lb->bg[high], lb->g_new, bytes);
            low = bf[0] <= bf[1] ? 0 : 1;
            high = 1 - low;
        } else {
            if (fabs(gtd_new) <= -c2 * gtd) done = 1;
            else if (gtd_new * (br[high] - br[low]) >= 0.0) {
                br[high] = br[low]; bf[high] = bf[low]; bgtd[high] = bgtd[low];
                memcpy(lb->bg[high], lb->bg[low], bytes);
            }
            br[low] = t; bf[low] = f_new; bgtd[low] = gtd_new; memcpy(lb->bg[low], lb->g_new, bytes);
        }
    }
    *t_io = br[low];
    *loss_io = (float)bf[low];
    memcpy(lb->g, lb->bg[low], bytes);
}

NNDEF float nn_lbfgs_step(nn_lbfgs *lb, float *x, nn_lbfgs_fn f, void *user) {
    const nn_lbfgs_desc *D = &lb->d;
    size_t n = lb->n, i, m = (size_t)D->history_size;
    float orig_loss, loss;
    int n_iter = 0, current_evals = 1;
    orig_loss = loss = f(x, lb->g, n, user);
    lb->func_evals++;
    if (nn__absmax(lb->g, n) <= D->tolerance_grad) return orig_loss;
    while (n_iter < D->max_iter) {
        float gtd, prev_loss;
        double t;
        int ls_evals = 0, opt_cond = 0;
        n_iter++;
        lb->n_iter++;
        if (lb->n_iter == 1) {
            for (i = 0; i < n; i++) lb->d_[i] = -lb->g[i];
            lb->n_hist = 0;
            lb->hist_start = 0;
            lb->h_diag = 1.0f;
        } else {
            /* y = g - g_prev, s = d t: keep the pair when curvature is positive */
            float *y = lb->old_dirs + ((size_t)(lb->hist_start + lb->n_hist) % m) * n;
            float *s = lb->old_stps + ((size_t)(lb->hist_start + lb->n_hist) % m) * n;
            float ys, *q = lb->d_;
            int k, num;
            if ((size_t)lb->n_hist == m) { /* full: the slot after the newest is the oldest */
                y = lb->old_dirs + (size_t)lb->hist_start * n;
                s = lb->old_stps + (size_t)lb->hist_start * n;
            }
            /* compute into the candidate slot; committed only if ys > 1e-10 */
            {
                float *ty = lb->g_new, *ts = lb->g_prev; /* scratch */
                for (i = 0; i < n; i++) {
                    ty[i] = lb->g[i] - lb->prev_grad[i];
                    ts[i] = lb->d_[i] * lb->t;
                }
                ys = nn__dot(ty, ts, n);
                if (ys > 1e-10f) {
                    memcpy(y, ty, n * sizeof(float));
                    memcpy(s, ts, n * sizeof(float));
                    if ((size_t)lb->n_hist == m) {
                        lb->ro[lb->hist_start] = 1.0f / ys;
                        lb->hist_start = (int)(((size_t)lb->hist_start + 1) % m);
                    } else {
                        lb->ro[((size_t)lb->hist_start + lb->n_hist) % m] = 1.0f / ys;
                        lb->n_hist++;
                    }
                    lb->h_diag = ys / nn__dot(ty, ty, n);
                }
            }
            /* two-loop recursion: d = -H g */
            num = lb->n_hist;
            for (i = 0; i < n; i++) q[i] = -lb->g[i];
            for (k = num - 1; k >= 0; k--) {
                size_t slot = ((size_t)lb->hist_start + (size_t)k) % m;
                const float *sk = lb->old_stps + slot * n, *yk = lb->old_dirs + slot * n;
                float a = nn__dot(sk, q, n) * lb->ro[slot];
                lb->al[slot] = a;
                for (i = 0; i < n; i++) q[i] += -a * yk[i];
            }
            for (i = 0; i < n; i++) q[i] *= lb->h_diag;
            for (k = 0; k < num; k++) {
                size_t slot = ((size_t)lb->hist_start + (size_t)k) % m;
                const float *sk = lb->old_stps + slot * n, *yk = lb->old_dirs + slot * n;
                float be = nn__dot(yk, q, n) * lb->ro[slot], c = lb->al[slot] - be;
                for (i = 0; i < n; i++) q[i] += c * sk[i];
            }
        }
        memcpy(lb->prev_grad, lb->g, n * sizeof(float));
        prev_loss = loss;
        if (lb->n_iter == 1) {
            double s1 = 0.0;
            for (i = 0; i < n; i++) s1 += fabs((double)lb->g[i]);
            t = NN__MIN(1.0, 1.0 / s1) * D->lr;
        } else {
            t = D->lr;
        }
        gtd = nn__dot(lb->g, lb->d_, n);
        if (gtd > -D->tolerance_change) break;
        memcpy(lb->x0, x, n * sizeof(float));
        if (D->strong_wolfe) {
            nn__strong_wolfe(lb, x, f, user, &t, &loss, gtd, &ls_evals);
            for (i = 0; i < n; i++) x[i] = lb->x0[i] + (float)t * lb->d_[i];
            opt_cond = nn__absmax(lb->g, n) <= D->tolerance_grad;
        } else {
            for (i = 0; i < n; i++) x[i] = lb->x0[i] + (float)t * lb->d_[i];
            if (n_iter != D->max_iter) {
                loss = f(x, lb->g, n, user);
                opt_cond = nn__absmax(lb->g, n) <= D->tolerance_grad;
                ls_evals = 1;
            }
        }
        lb->t = (float)t;
        current_evals += ls_evals;
        lb->func_evals += ls_evals;
        if (n_iter == D->max_iter) break;
        if (current_evals >= D->max_eval) break;
        if (opt_cond) break;
        if (nn__absmax(lb->d_, n) * fabs(t) <= D->tolerance_change) break;
        if (fabsf(loss - prev_loss) < D->tolerance_change) break;
    }
    lb->prev_loss = loss;
    return orig_loss;
}

/* == 10. schedules ======================================================= */
static double nn__sched_closed(nn_sched *s, long t);
NNDEF nn_sched_desc nn_sched_desc_default(nn_sched_kind kind, double base_lr) {
    nn_sched_desc d;
    NN__ZERO(d);
    d.kind = kind;
    d.base_lr = base_lr;
    d.gamma = (kind == NN_SCHED_STEP || kind == NN_SCHED_MULTISTEP) ? 0.1 : kind == NN_SCHED_CYCLIC ? 1.0 : 0.0;
    d.t_mult = 1;
    d.step_size_up = 2000;
    d.step_size_down = -1;
    d.pct_start = 0.3;
    d.div_factor = 25.0;
    d.final_div_factor = 1e4;
    d.base_momentum = 0.85;
    d.max_momentum = 0.95;
    d.factor = 0.1;
    d.patience = 10;
    d.threshold = 1e-4;
    d.warmup_start_factor = 1.0 / 3.0;
    d.tag = NN_DESC_TAG;
    return d;
}

/* Checks a literal description (every check fails on NaN); err may be NULL.
   A file's description goes through the same checks. */
static nn_result nn__sched_check(const nn_sched_desc *d, char *err) {
    int i;
#define NN__SCHED_BAD(...) return nn__fail(err, NN_ERR_INVALID_ARGUMENT, __VA_ARGS__)
    if ((int)d->kind < 0 || d->kind >= NN_SCHED_KIND_COUNT_) NN__SCHED_BAD("schedule: unknown kind %d", (int)d->kind);
    if (d->kind != NN_SCHED_ONE_CYCLE && !NN__IN(d->base_lr, 1e-30, 1e30))
        NN__SCHED_BAD("schedule: base_lr = %g, must be > 0", d->base_lr);
    /* every field is checked for every kind, so whatever init accepts, a saved file reloads */
    if (d->step_size_down < -1 || d->t_0 < 0 || d->t_max < 0 || d->step_size < 0 || d->step_size_up < 0 ||
        d->total_steps < 0 || (unsigned)d->anneal_linear > 1u || (unsigned)d->three_phase > 1u ||
        (unsigned)d->mode_max > 1u || (unsigned)d->threshold_abs > 1u)
        NN__SCHED_BAD("schedule: step_size_down %d (-1 or >= 0), t_0 %d, t_max %d, step_size %d, step_size_up %d, "
                      "total_steps %d must be >= 0; anneal_linear, three_phase, mode_max, threshold_abs 0 or 1",
                      d->step_size_down, d->t_0, d->t_max, d->step_size, d->step_size_up, d->total_steps);
    if (d->warmup_steps < 0 || d->cooldown < 0 || d->patience < 0 || d->t_mult < 1 || d->n_milestones < 0 ||
        d->n_milestones > NN_SCHED_MAX_MILESTONES)
        NN__SCHED_BAD("schedule: warmup_steps %d, cooldown %d, patience %d must be >= 0, t_mult %d >= 1, "
                      "n_milestones %d in 0..%d", d->warmup_steps, d->cooldown, d->patience, d->t_mult,
                      d->n_milestones, NN_SCHED_MAX_MILESTONES);
    if (!NN__IN(d->gamma, 0.0, 1e30) || !NN__IN(d->decay, 0.0, 1e30) || !NN__IN(d->eta_min, 0.0, 1e30) ||
        !NN__IN(d->max_lr, 0.0, 1e30) || !NN__IN(d->pct_start, 0.0, 1.0) || !NN__IN(d->div_factor, 1e-30, 1e30) ||
        !NN__IN(d->final_div_factor, 1e-30, 1e30) || !NN__IN(d->base_momentum, 0.0, 1.0) ||
        !NN__IN(d->max_momentum, 0.0, 1.0) || !NN__IN(d->threshold, 0.0, 1e30) || !NN__IN(d->min_lr, 0.0, 1e30) ||
        !NN__IN(d->warmup_start_factor, 0.0, 1e30) || (int)d->cyclic_mode < 0 || d->cyclic_mode > NN_CYCLIC_EXP_RANGE)
        NN__SCHED_BAD("schedule: a real-valued field is out of range or not finite (gamma %g, max_lr %g, pct_start %g, "
                      "div_factor %g, final_div_factor %g, threshold %g, min_lr %g)", d->gamma, d->max_lr,
                      d->pct_start, d->div_factor, d->final_div_factor, d->threshold, d->min_lr);
    switch (d->kind) {
    case NN_SCHED_STEP:
        if (d->step_size <= 0) NN__SCHED_BAD("schedule STEP: step_size = %d, must be >= 1", d->step_size);
        break;
    case NN_SCHED_MULTISTEP:
        for (i = 1; i < d->n_milestones; i++)
            if (d->milestones[i] < d->milestones[i - 1]) NN__SCHED_BAD("schedule MULTISTEP: milestones not increasing");
        break;
    case NN_SCHED_COSINE:
        if (d->t_max <= 0) NN__SCHED_BAD("schedule COSINE: t_max = %d, must be >= 1", d->t_max);
        break;
    case NN_SCHED_COSINE_RESTARTS:
        if (d->t_0 <= 0) NN__SCHED_BAD("schedule COSINE_RESTARTS: t_0 = %d, must be >= 1", d->t_0);
        break;
    case NN_SCHED_CYCLIC: {
        int down = d->step_size_down == -1 ? d->step_size_up : d->step_size_down;
        if (!(d->max_lr > 0.0) || d->step_size_up < 0 || down < 0 || (long long)d->step_size_up + down <= 0)
            NN__SCHED_BAD("schedule CYCLIC: max_lr %g > 0 and step sizes %d, %d (>= 0, not both 0) needed", d->max_lr,
                          d->step_size_up, d->step_size_down);
        break;
    }
    case NN_SCHED_ONE_CYCLE:
        if (!(d->max_lr > 0.0) || d->total_steps <= 1 || !(d->pct_start > 0.0 && d->pct_start < 1.0) ||
            !(d->pct_start * d->total_steps - 1.0 > 0.0) || !(d->pct_start * d->total_steps < d->total_steps - 1.0) ||
            (d->three_phase && !(2.0 * d->pct_start * d->total_steps - 2.0 < d->total_steps - 1.0)) ||
            (unsigned)d->anneal_linear > 1u || (unsigned)d->three_phase > 1u)
            NN__SCHED_BAD("schedule ONE_CYCLE: max_lr %g > 0, total_steps %d >= 2 and pct_start %g leaving both "
                          "phases at least one step", d->max_lr, d->total_steps, d->pct_start);
        break;
    case NN_SCHED_PLATEAU:
        if (!(d->factor >= 0.0 && d->factor < 1.0)) NN__SCHED_BAD("schedule PLATEAU: factor = %g, must be in [0, 1)", d->factor);
        break;
    default: break;
    }
#undef NN__SCHED_BAD
    return NN_OK;
}

NNDEF nn_result nn_sched_init(nn_sched *s, const nn_sched_desc *desc) {
    nn_sched_desc d;
    nn_result r;
    if (!s) return NN_ERR_INVALID_ARGUMENT;
    if (!desc) return nn__fail(s->error, NN_ERR_INVALID_ARGUMENT, "nn_sched_init: desc is NULL");
    if (desc->tag != NN_DESC_TAG)
        return nn__fail(s->error, NN_ERR_INVALID_ARGUMENT,
                        "schedule: description not made by nn_sched_desc_default() (fields are literal)");
    r = nn__sched_check(desc, s->error);
    if (r != NN_OK) return r;
    d = *desc;
    if (d.step_size_down == -1) d.step_size_down = d.step_size_up;
    NN__ZERO(*s);
    s->d = d;
    s->t_i = d.t_0;
    s->best = d.mode_max ? -HUGE_VAL : HUGE_VAL;
    s->lr = d.base_lr;
    if (d.warmup_steps > 0) s->lr = (double)d.base_lr * d.warmup_start_factor;
    else if (d.kind != NN_SCHED_PLATEAU) s->lr = nn__sched_closed(s, 0);
    return NN_OK;
}

/* The closed-form kinds at schedule time t (after any warmup). */
static double nn__sched_closed(nn_sched *s, long t) {
    const nn_sched_desc *d = &s->d;
    double base = d->base_lr;
    int i, k;
    switch (d->kind) {
    case NN_SCHED_CONSTANT: return base;
    case NN_SCHED_STEP: return base * pow((double)d->gamma, (double)(t / d->step_size));
    case NN_SCHED_MULTISTEP:
        for (i = 0, k = 0; i < d->n_milestones; i++) k += d->milestones[i] <= t;
        return base * pow((double)d->gamma, (double)k);
    case NN_SCHED_EXPONENTIAL: return base * pow((double)d->gamma, (double)t);
    case NN_SCHED_INVERSE_TIME: return base / (1.0 + (double)d->decay * (double)t);
    case NN_SCHED_COSINE:
        return d->eta_min + (base - d->eta_min) * (1.0 + cos(3.14159265358979323846 * (double)t / d->t_max)) / 2.0;
    case NN_SCHED_COSINE_RESTARTS:
        return d->eta_min +
               (base - d->eta_min) * (1.0 + cos(3.14159265358979323846 * (double)s->t_cur / (double)s->t_i)) / 2.0;
    case NN_SCHED_CYCLIC: {
        double total = (double)d->step_size_up + d->step_size_down, ratio = d->step_size_up / total;
        double cycle = floor(1.0 + t / total), x = 1.0 + t / total - cycle, scale, height;
        scale = x <= ratio ? x / ratio : (x - 1.0) / (ratio - 1.0);
        height = ((double)d->max_lr - base) * scale;
        if (d->cyclic_mode == NN_CYCLIC_TRIANGULAR2) return base + height / pow(2.0, cycle - 1.0);
        if (d->cyclic_mode == NN_CYCLIC_EXP_RANGE) return base + height * pow((double)d->gamma, (double)t);
        return base + height;
    }
    case NN_SCHED_ONE_CYCLE: {
        double init = (double)d->max_lr / d->div_factor, min_lr = init / d->final_div_factor;
        /* past its last step the cycle holds its final lr (torch raises there) */
        if (t > (long)d->total_steps - 1) t = (long)d->total_steps - 1;
        double end1 = (double)d->pct_start * d->total_steps - 1.0, end2 = (double)d->total_steps - 1.0, pct, c;
        double lr_a, lr_b, m_a, m_b, start;
        if (d->three_phase) { /* torch: up to pct T - 1, down to 2 pct T - 2, then the tail */
            double mid = 2.0 * d->pct_start * d->total_steps - 2.0;
            if ((double)t <= end1) {
                start = 0.0; pct = (double)t / end1;
                lr_a = init; lr_b = d->max_lr; m_a = d->max_momentum; m_b = d->base_momentum;
            } else if ((double)t <= mid) {
                start = end1; pct = ((double)t - start) / (mid - start);
                lr_a = d->max_lr; lr_b = init; m_a = d->base_momentum; m_b = d->max_momentum;
            } else {
                start = mid; pct = ((double)t - start) / (end2 - start);
                lr_a = init; lr_b = min_lr; m_a = d->max_momentum; m_b = d->max_momentum;
            }
        } else if ((double)t <= end1) {
            start = 0.0; pct = ((double)t - start) / (end1 - start);
            lr_a = init; lr_b = d->max_lr; m_a = d->max_momentum; m_b = d->base_momentum;
        } else {
            start = end1; pct = ((double)t - start) / (end2 - start);
            lr_a = d->max_lr; lr_b = min_lr; m_a = d->base_momentum; m_b = d->max_momentum;
        }
        if (d->anneal_linear) { /* torch's _annealing_linear: (end - start) * pct + start */
            s->momentum = (m_b - m_a) * pct + m_a;
            return (lr_b - lr_a) * pct + lr_a;
        }
        c = cos(3.14159265358979323846 * pct) + 1.0;
        s->momentum = m_b + (m_a - m_b) / 2.0 * c;
        return lr_b + (lr_a - lr_b) / 2.0 * c;
    }
    default: return s->lr;
    }
}

NNDEF float nn_sched_step(nn_sched *s, float metric) {
    const nn_sched_desc *d = &s->d;
    long t;
    if (s->t >= NN__STEP_MAX) return (float)s->lr; /* saturated: the lr stays */
    t = ++s->t;
    if (t < d->warmup_steps) {
        /* LinearLR: start_factor -> 1 over warmup_steps */
        double f = d->warmup_start_factor + (1.0 - d->warmup_start_factor) * (double)t / d->warmup_steps;
        s->lr = d->base_lr * f;
        return (float)s->lr;
    }
    t -= d->warmup_steps;
    if (d->kind == NN_SCHED_COSINE_RESTARTS && t > 0) {
        s->t_cur++;
        if (s->t_cur >= s->t_i) {
            s->t_cur -= s->t_i;
            s->t_i = s->t_i > NN__STEP_MAX / d->t_mult ? NN__STEP_MAX : s->t_i * d->t_mult;
        }
    }
    if (d->kind == NN_SCHED_PLATEAU) {
        double cur = metric, best = s->best, th = d->threshold;
        int better;
        if (t == 0) return (float)(s->lr = d->base_lr); /* warmup just ended */
        if (d->mode_max) better = d->threshold_abs ? cur > best + th : cur > best * (1.0 + th);
        else better = d->threshold_abs ? cur < best - th : cur < best * (1.0 - th);
        if (better) {
            s->best = cur;
            s->num_bad = 0;
        } else if (s->num_bad < INT_MAX) {
            s->num_bad++;
        }
        if (s->cooldown_left > 0) {
            s->cooldown_left--;
            s->num_bad = 0;
        }
        if (s->num_bad > d->patience) {
            double nl = s->lr * d->factor;
            if (nl < d->min_lr) nl = d->min_lr;
            if (s->lr - nl > 1e-8) s->lr = nl;
            s->cooldown_left = d->cooldown;
            s->num_bad = 0;
        }
        return (float)s->lr;
    }
    s->lr = nn__sched_closed(s, t);
    return (float)s->lr;
}

NNDEF float nn_sched_lr(const nn_sched *s) { return (float)s->lr; }
NNDEF float nn_sched_momentum(const nn_sched *s) { return (float)s->momentum; }

NNDEF float nn_momentum_anneal(float start, float end, long t, long steps) {
    double f = steps > 0 ? (double)t / (double)steps : 1.0;
    if (f > 1.0) f = 1.0;
    if (f < 0.0) f = 0.0;
    return (float)(start + (end - start) * f);
}

/* == 11. training utilities ============================================== */
NNDEF float nn_clip_grad_norm(float *grads, size_t n, float max_norm) {
    double s = 0.0;
    float norm, coef;
    size_t i;
    for (i = 0; i < n; i++) s += (double)grads[i] * grads[i];
    norm = (float)sqrt(s);
    coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f)
        for (i = 0; i < n; i++) grads[i] *= coef;
    return norm;
}

NNDEF void nn_clip_grad_value(float *grads, size_t n, float clip) {
    size_t i;
    for (i = 0; i < n; i++) grads[i] = grads[i] > clip ? clip : (grads[i] < -clip ? -clip : grads[i]);
}

NNDEF nn_result nn_check_finite(const nn_param *params, int n, int *bad) {
    int p;
    size_t i;
    if (bad) *bad = -1;
    for (p = 0; p < n; p++) {
        const float *a = params[p].data, *g = params[p].grad;
        for (i = 0; i < params[p].size; i++) {
            /* x - x is 0 for finite x and NaN for NaN or Inf */
            if (a[i] - a[i] != 0.0f || (g && g[i] - g[i] != 0.0f)) {
                if (bad) *bad = p;
                return NN_ERR_NONFINITE;
            }
        }
    }
    return NN_OK;
}

NNDEF nn_result nn_gather_u8(nn_tensor dst, const unsigned char *src, size_t n_src_rows, const int *rows,
                             const float table[256]) {
    int B, i;
    size_t F, j;
    if (!NN__T(dst) || !src || !rows || !table) return NN_ERR_INVALID_ARGUMENT;
    B = dst.shape[0];
    F = (size_t)nn_tensor_row_size(dst);
    for (i = 0; i < B; i++)
        if (rows[i] < 0 || (size_t)rows[i] >= n_src_rows) return NN_ERR_INVALID_ARGUMENT;
    for (i = 0; i < B; i++) {
        const unsigned char *s = src + (size_t)rows[i] * F;
        float *d = dst.data + (size_t)i * F;
        /* Rows are scattered through a data set larger than the caches: ask
           for the row after next now, so its misses overlap this row's work. */
        if (i + 2 < B) {
            const unsigned char *n = src + (size_t)rows[i + 2] * F;
            for (j = 0; j < F; j += 64) NN__PREFETCH(n + j);
        }
        for (j = 0; j + 4 <= F; j += 4) {
            float a = table[s[j]], b = table[s[j + 1]], c = table[s[j + 2]], e = table[s[j + 3]];
            d[j] = a; d[j + 1] = b; d[j + 2] = c; d[j + 3] = e;
        }
        for (; j < F; j++) d[j] = table[s[j]];
    }
    return NN_OK;
}

NNDEF void nn_u8_table_normalize(float table[256], float divisor, float mean, float std) {
    int v;
    for (v = 0; v < 256; v++) table[v] = ((float)v / divisor - mean) / std;
}

/* == 12. serializer ====================================================== */
/* Reflected CRC-32 with polynomial poly; tab16 is its nibble table. Long inputs
   build a byte table on the stack first (no global tables, no races). */
static uint32_t nn__crc(uint32_t crc, const void *data, size_t len, uint32_t poly, const uint32_t *tab16) {
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    crc = ~crc;
    if (len >= 4096) {
        uint32_t tab[256];
        int b, k;
        for (b = 0; b < 256; b++) {
            uint32_t c = (uint32_t)b;
            for (k = 0; k < 8; k++) c = (c & 1u) ? (c >> 1) ^ poly : c >> 1;
            tab[b] = c;
        }
        for (i = 0; i < len; i++) crc = (crc >> 8) ^ tab[(crc ^ p[i]) & 255u];
    } else {
        for (i = 0; i < len; i++) {
            crc ^= p[i];
            crc = (crc >> 4) ^ tab16[crc & 15];
            crc = (crc >> 4) ^ tab16[crc & 15];
        }
    }
    return ~crc;
}

#if !defined(NN_NO_STDIO) && (defined(__unix__) || defined(__APPLE__))
#define NN__POSIX 1
#include <fcntl.h>
#include <unistd.h>
#else
#define NN__POSIX 0
#endif

NNDEF uint32_t nn_crc32c(uint32_t crc, const void *data, size_t len) {
    static const uint32_t tab[16] = {
        0x00000000u, 0x105EC76Fu, 0x20BD8EDEu, 0x30E349B1u, 0x417B1DBCu, 0x5125DAD3u,
        0x61C69362u, 0x7198540Du, 0x82F63B78u, 0x92A8FC17u, 0xA24BB5A6u, 0xB21572C9u,
        0xC38D26C4u, 0xD3D3E1ABu, 0xE330A81Au, 0xF36E6F75u};
    return nn__crc(crc, data, len, 0x82F63B78u, tab);
}

#define NN__TAG(a, b, c, d) ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define NN__TAG_ARCH NN__TAG('A', 'R', 'C', 'H')
#define NN__TAG_PARM NN__TAG('P', 'A', 'R', 'M')
#define NN__TAG_BUFS NN__TAG('B', 'U', 'F', 'S')
#define NN__TAG_OPTM NN__TAG('O', 'P', 'T', 'M')
#define NN__TAG_SCHD NN__TAG('S', 'C', 'H', 'D')
#define NN__TAG_RNGS NN__TAG('R', 'N', 'G', 'S')
#define NN__TAG_ZLIT NN__TAG('Z', 'L', 'I', 'T') /* 1.1: ARCH holds zeros a 1.0 reader would replace */
#define NN__TAG_SCHX NN__TAG('S', 'C', 'H', 'X') /* 1.1: schedule fields SCHD lacks (u32 anneal_linear, three_phase) */
#define NN__TAG_PREP NN__TAG('P', 'R', 'E', 'P') /* 1.2: fitted input preprocessing (optional) */
#define NN__TAG_META NN__TAG('M', 'E', 'T', 'A') /* 1.2: provenance (optional) */
#define NN__TAG_LAYX NN__TAG('L', 'A', 'Y', 'X') /* 1.3: per-layer flags ARCH lacks (required) */
#define NN__TAG_OPTX NN__TAG('O', 'P', 'T', 'X') /* 1.3: optimizer flags OPTM lacks (required) */
#define NN__TAG_GEOM NN__TAG('G', 'E', 'O', 'M') /* 1.4: image shapes and windows (required) */
#define NN__TAG_QNT8 NN__TAG('Q', 'N', 'T', '8') /* 1.5: an int8 model (required; a file of its own) */
#define NN__GEOM_FIELDS 10 /* per layer: kernel, stride, padding, dilation (h, w), groups, count_include_pad */
#define NN__SEC_REQUIRED 1u
#define NN__MAX_SECTIONS 64
#define NN__MAX_NAME 31
static const unsigned char nn__magic[8] = {0x89, 'N', 'N', 'H', 0x0D, 0x0A, 0x1A, 0x0A};

/* Little-endian on every host. Float arrays are copied whole on little-endian
   hosts; NN_PORTABLE_ENDIAN forces the byte-by-byte path that big-endian hosts
   take, so that path is tested here too. */
static int nn__host_le(void) {
#ifdef NN_PORTABLE_ENDIAN
    return 0;
#else
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
#endif
}

/* ---- writer: to memory, a FILE, a POSIX fd, or nowhere (measuring) ---- */
typedef struct nn__wr {
    unsigned char *buf;
    size_t cap, pos;
#ifndef NN_NO_STDIO
    FILE *f;
#endif
    int fd;
    int err;
    uint32_t crc;
} nn__wr;

static void nn__wr_bytes(nn__wr *w, const void *p, size_t n) {
    if (w->err || !n) return;
    w->crc = nn_crc32c(w->crc, p, n);
    if (w->buf) {
        if (n > w->cap - w->pos) {
            w->err = NN_ERR_OUT_OF_MEMORY;
            return;
        }
        memcpy(w->buf + w->pos, p, n);
    }
#ifndef NN_NO_STDIO
    else if (w->f) {
        if (fwrite(p, 1, n, w->f) != n) w->err = NN_ERR_IO;
    }
#endif
#if NN__POSIX
    else if (w->fd >= 0) {
        const unsigned char *q = (const unsigned char *)p;
        size_t left = n;
        while (left) {
            ssize_t k = write(w->fd, q, left);
            if (k <= 0) {
                w->err = NN_ERR_IO;
                return;
            }
            q += k;
            left -= (size_t)k;
        }
    }
#endif
    w->pos += n;
}
static void nn__wr_u32(nn__wr *w, uint32_t v) {
    unsigned char b[4];
    b[0] = (unsigned char)v; b[1] = (unsigned char)(v >> 8); b[2] = (unsigned char)(v >> 16); b[3] = (unsigned char)(v >> 24);
    nn__wr_bytes(w, b, 4);
}
static void nn__wr_u64(nn__wr *w, uint64_t v) {
    nn__wr_u32(w, (uint32_t)v);
    nn__wr_u32(w, (uint32_t)(v >> 32));
}
static void nn__wr_f32(nn__wr *w, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    nn__wr_u32(w, u);
}
static void nn__wr_f64(nn__wr *w, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    nn__wr_u64(w, u);
}
static void nn__wr_floats(nn__wr *w, const float *p, size_t n) {
    size_t i;
    if (nn__host_le()) nn__wr_bytes(w, p, n * sizeof(float));
    else
        for (i = 0; i < n; i++) nn__wr_f32(w, p[i]);
}

/* ---- reader over memory: every read is bounds-checked ---- */
typedef struct nn__rd {
    const unsigned char *p;
    size_t len, pos;
    int err;
} nn__rd;
static int nn__rd_need(nn__rd *r, size_t n) {
    if (r->err) return 0;
    if (n > r->len - r->pos) {
        r->err = 1;
        return 0;
    }
    return 1;
}
static uint32_t nn__rd_u32(nn__rd *r) {
    uint32_t v;
    if (!nn__rd_need(r, 4)) return 0;
    v = nn__le32(r->p + r->pos);
    r->pos += 4;
    return v;
}
static uint64_t nn__rd_u64(nn__rd *r) {
    uint64_t lo = nn__rd_u32(r);
    return lo | ((uint64_t)nn__rd_u32(r) << 32);
}
static float nn__rd_f32(nn__rd *r) {
    uint32_t u = nn__rd_u32(r);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static double nn__rd_f64(nn__rd *r) {
    uint64_t u = nn__rd_u64(r);
    double d;
    memcpy(&d, &u, 8);
    return d;
}
static void nn__floats_from_le(float *dst, const unsigned char *src, size_t n) {
    size_t i;
    if (nn__host_le()) memcpy(dst, src, n * sizeof(float));
    else
        for (i = 0; i < n; i++) {
            uint32_t u = nn__le32(src + 4 * i);
            memcpy(dst + i, &u, 4);
        }
}

/* ---- the fields of each section, in file order ---- */
#define NN__LAYER_FIELDS 14
static void nn__wr_layer(nn__wr *w, const nn_layer_desc *l) {
    nn__wr_u32(w, (uint32_t)l->kind); nn__wr_u32(w, (uint32_t)l->units); nn__wr_u32(w, (uint32_t)l->act);
    nn__wr_f32(w, l->alpha); nn__wr_u32(w, (uint32_t)l->no_bias); nn__wr_u32(w, (uint32_t)l->weight_std);
    nn__wr_u32(w, (uint32_t)l->init); nn__wr_f32(w, l->init_gain); nn__wr_f32(w, l->init_value);
    nn__wr_u32(w, (uint32_t)l->init_fan_out); nn__wr_f32(w, l->p); nn__wr_f32(w, l->eps);
    nn__wr_f32(w, l->momentum); nn__wr_u32(w, (uint32_t)l->k);
}
static void nn__rd_layer(nn__rd *r, nn_layer_desc *l) {
    NN__ZERO(*l);
    l->kind = (nn_layer_kind)nn__rd_u32(r); l->units = (int)nn__rd_u32(r); l->act = (nn_act)nn__rd_u32(r);
    l->alpha = nn__rd_f32(r); l->no_bias = (int)nn__rd_u32(r); l->weight_std = (int)nn__rd_u32(r);
    l->init = (nn_init)nn__rd_u32(r); l->init_gain = nn__rd_f32(r); l->init_value = nn__rd_f32(r);
    l->init_fan_out = (int)nn__rd_u32(r); l->p = nn__rd_f32(r); l->eps = nn__rd_f32(r);
    l->momentum = nn__rd_f32(r); l->k = (int)nn__rd_u32(r);
}

/* GEOM's fields of a layer, in file order */
static void nn__layer_geom(const nn_layer_desc *l, uint32_t *g) {
    g[0] = (uint32_t)l->kernel[0]; g[1] = (uint32_t)l->kernel[1];
    g[2] = (uint32_t)l->stride[0]; g[3] = (uint32_t)l->stride[1];
    g[4] = (uint32_t)l->padding[0]; g[5] = (uint32_t)l->padding[1];
    g[6] = (uint32_t)l->dilation[0]; g[7] = (uint32_t)l->dilation[1];
    g[8] = (uint32_t)l->groups; g[9] = (uint32_t)l->count_include_pad;
}
static int nn__same_geom(const nn_layer_desc *a, const nn_layer_desc *b) {
    uint32_t ga[NN__GEOM_FIELDS], gb[NN__GEOM_FIELDS];
    nn__layer_geom(a, ga);
    nn__layer_geom(b, gb);
    return memcmp(ga, gb, sizeof ga) == 0;
}

static int nn__same_layer(const nn_layer_desc *a, const nn_layer_desc *b) {
    /* compare through the file encoding so padding never matters */
    unsigned char ba[NN__LAYER_FIELDS * 4], bb[NN__LAYER_FIELDS * 4];
    nn__wr w;
    NN__ZERO(w); w.fd = -1; w.buf = ba; w.cap = sizeof ba; nn__wr_layer(&w, a);
    NN__ZERO(w); w.fd = -1; w.buf = bb; w.cap = sizeof bb; nn__wr_layer(&w, b);
    return memcmp(ba, bb, sizeof ba) == 0 && a->vanilla == b->vanilla /* LAYX */ && nn__same_geom(a, b);
}

static void nn__wr_optim_desc(nn__wr *w, const nn_optim_desc *d) {
    nn__wr_u32(w, (uint32_t)d->kind); nn__wr_f32(w, d->lr); nn__wr_f32(w, d->momentum);
    nn__wr_f32(w, d->dampening); nn__wr_u32(w, (uint32_t)d->nesterov); nn__wr_u32(w, (uint32_t)d->classic_momentum);
    nn__wr_f32(w, d->beta1); nn__wr_f32(w, d->beta2); nn__wr_f32(w, d->eps); nn__wr_f32(w, d->alpha);
    nn__wr_u32(w, (uint32_t)d->centered); nn__wr_u32(w, (uint32_t)d->amsgrad);
    nn__wr_u32(w, (uint32_t)d->no_bias_correction); nn__wr_f32(w, d->lr_decay);
    nn__wr_f32(w, d->initial_accumulator_value); nn__wr_f32(w, d->weight_decay); nn__wr_f32(w, d->l1);
    nn__wr_f32(w, d->max_norm); nn__wr_u32(w, (uint32_t)d->lookahead_k); nn__wr_f32(w, d->lookahead_alpha);
}
static void nn__rd_optim_desc(nn__rd *r, nn_optim_desc *d) {
    NN__ZERO(*d);
    d->kind = (nn_optim_kind)nn__rd_u32(r); d->lr = nn__rd_f32(r); d->momentum = nn__rd_f32(r);
    d->dampening = nn__rd_f32(r); d->nesterov = (int)nn__rd_u32(r); d->classic_momentum = (int)nn__rd_u32(r);
    d->beta1 = nn__rd_f32(r); d->beta2 = nn__rd_f32(r); d->eps = nn__rd_f32(r); d->alpha = nn__rd_f32(r);
    d->centered = (int)nn__rd_u32(r); d->amsgrad = (int)nn__rd_u32(r);
    d->no_bias_correction = (int)nn__rd_u32(r); d->lr_decay = nn__rd_f32(r);
    d->initial_accumulator_value = nn__rd_f32(r); d->weight_decay = nn__rd_f32(r); d->l1 = nn__rd_f32(r);
    d->max_norm = nn__rd_f32(r); d->lookahead_k = (int)nn__rd_u32(r); d->lookahead_alpha = nn__rd_f32(r);
}

static void nn__wr_sched(nn__wr *w, const nn_sched *s) {
    const nn_sched_desc *d = &s->d;
    int i;
    nn__wr_u32(w, (uint32_t)d->kind); nn__wr_f64(w, d->base_lr); nn__wr_u32(w, (uint32_t)d->step_size);
    nn__wr_f64(w, d->gamma);
    for (i = 0; i < NN_SCHED_MAX_MILESTONES; i++) nn__wr_u32(w, (uint32_t)d->milestones[i]);
    nn__wr_u32(w, (uint32_t)d->n_milestones); nn__wr_f64(w, d->decay); nn__wr_u32(w, (uint32_t)d->t_max);
    nn__wr_f64(w, d->eta_min); nn__wr_u32(w, (uint32_t)d->t_0); nn__wr_u32(w, (uint32_t)d->t_mult);
    nn__wr_f64(w, d->max_lr); nn__wr_u32(w, (uint32_t)d->step_size_up); nn__wr_u32(w, (uint32_t)d->step_size_down);
    nn__wr_u32(w, (uint32_t)d->cyclic_mode); nn__wr_u32(w, (uint32_t)d->total_steps); nn__wr_f64(w, d->pct_start);
    nn__wr_f64(w, d->div_factor); nn__wr_f64(w, d->final_div_factor); nn__wr_f64(w, d->base_momentum);
    nn__wr_f64(w, d->max_momentum); nn__wr_u32(w, (uint32_t)d->mode_max); nn__wr_u32(w, (uint32_t)d->threshold_abs);
    nn__wr_f64(w, d->factor); nn__wr_u32(w, (uint32_t)d->patience); nn__wr_f64(w, d->threshold);
    nn__wr_u32(w, (uint32_t)d->cooldown); nn__wr_f64(w, d->min_lr); nn__wr_u32(w, (uint32_t)d->warmup_steps);
    nn__wr_f64(w, d->warmup_start_factor);
    nn__wr_u64(w, (uint64_t)s->t); nn__wr_f64(w, s->lr); nn__wr_f64(w, s->momentum);
    nn__wr_u64(w, (uint64_t)s->t_cur); nn__wr_u64(w, (uint64_t)s->t_i); nn__wr_f64(w, s->best);
    nn__wr_u32(w, (uint32_t)s->num_bad); nn__wr_u32(w, (uint32_t)s->cooldown_left);
}
/* A stored counter as a long; past NN__STEP_MAX (where a 32-bit long would wrap)
   it reads as -1, which every range check refuses. */
static long nn__rd_count(nn__rd *r) {
    uint64_t v = nn__rd_u64(r);
    return v > (uint64_t)NN__STEP_MAX ? -1L : (long)v;
}
static void nn__rd_sched(nn__rd *r, nn_sched *s) {
    nn_sched_desc *d = &s->d;
    int i;
    NN__ZERO(*s);
    d->kind = (nn_sched_kind)nn__rd_u32(r); d->base_lr = nn__rd_f64(r); d->step_size = (int)nn__rd_u32(r);
    d->gamma = nn__rd_f64(r);
    for (i = 0; i < NN_SCHED_MAX_MILESTONES; i++) d->milestones[i] = (int)nn__rd_u32(r);
    d->n_milestones = (int)nn__rd_u32(r); d->decay = nn__rd_f64(r); d->t_max = (int)nn__rd_u32(r);
    d->eta_min = nn__rd_f64(r); d->t_0 = (int)nn__rd_u32(r); d->t_mult = (int)nn__rd_u32(r);
    d->max_lr = nn__rd_f64(r); d->step_size_up = (int)nn__rd_u32(r); d->step_size_down = (int)nn__rd_u32(r);
    d->cyclic_mode = (nn_cyclic_mode)nn__rd_u32(r); d->total_steps = (int)nn__rd_u32(r); d->pct_start = nn__rd_f64(r);
    d->div_factor = nn__rd_f64(r); d->final_div_factor = nn__rd_f64(r); d->base_momentum = nn__rd_f64(r);
    d->max_momentum = nn__rd_f64(r); d->mode_max = (int)nn__rd_u32(r); d->threshold_abs = (int)nn__rd_u32(r);
    d->factor = nn__rd_f64(r); d->patience = (int)nn__rd_u32(r); d->threshold = nn__rd_f64(r);
    d->cooldown = (int)nn__rd_u32(r); d->min_lr = nn__rd_f64(r); d->warmup_steps = (int)nn__rd_u32(r);
    d->warmup_start_factor = nn__rd_f64(r);
    s->t = nn__rd_count(r); s->lr = nn__rd_f64(r); s->momentum = nn__rd_f64(r);
    s->t_cur = nn__rd_count(r); s->t_i = nn__rd_count(r); s->best = nn__rd_f64(r);
    s->num_bad = (int)nn__rd_u32(r); s->cooldown_left = (int)nn__rd_u32(r);
}

/* ---- section payloads ---- */
static void nn__sec_arch(nn__wr *w, const nn_model *m) {
    int i;
    nn__wr_u32(w, (uint32_t)m->inputs);
    nn__wr_u32(w, (uint32_t)m->max_batch);
    nn__wr_u64(w, m->seed);
    nn__wr_u32(w, (uint32_t)m->n_descs);
    for (i = 0; i < m->n_descs; i++) nn__wr_layer(w, &m->descs[i]);
}
static void nn__sec_runs(nn__wr *w, const nn_param *list, int n) {
    int i;
    nn__wr_u32(w, (uint32_t)n);
    for (i = 0; i < n; i++) {
        uint32_t len = (uint32_t)strlen(list[i].name);
        nn__wr_u32(w, len);
        nn__wr_bytes(w, list[i].name, len);
        nn__wr_u64(w, (uint64_t)list[i].size);
        nn__wr_floats(w, list[i].data, list[i].size);
    }
}
static int nn__optim_nvec(const nn_optim *o) {
    return (o->s0 != NULL) + (o->s1 != NULL) + (o->s2 != NULL) + (o->slow != NULL);
}
static void nn__sec_optim(nn__wr *w, const nn_optim *o) {
    nn__wr_optim_desc(w, &o->d);
    nn__wr_u64(w, (uint64_t)o->step);
    nn__wr_u64(w, (uint64_t)o->n);
    nn__wr_u32(w, (uint32_t)nn__optim_nvec(o));
    if (o->s0) nn__wr_floats(w, o->s0, o->n);
    if (o->s1) nn__wr_floats(w, o->s1, o->n);
    if (o->s2) nn__wr_floats(w, o->s2, o->n);
    if (o->slow) nn__wr_floats(w, o->slow, o->n);
}
static void nn__sec_rngs(nn__wr *w, const nn_model *m, const nn_rng *user) {
    int i;
    nn__wr_u32(w, user ? 2u : 1u);
    for (i = 0; i < 4; i++) nn__wr_u64(w, m->rng.s[i]);
    if (user)
        for (i = 0; i < 4; i++) nn__wr_u64(w, user->s[i]);
}

typedef void (*nn__sec_fn)(nn__wr *w, const nn_model *m, const nn_train_state *st);
static void nn__secw_arch(nn__wr *w, const nn_model *m, const nn_train_state *st) { (void)st; nn__sec_arch(w, m); }
static void nn__secw_parm(nn__wr *w, const nn_model *m, const nn_train_state *st) {
    (void)st;
    nn__sec_runs(w, m->param_list, m->n_param_list);
}
static void nn__secw_bufs(nn__wr *w, const nn_model *m, const nn_train_state *st) {
    (void)st;
    nn__sec_runs(w, m->buffer_list, m->n_buffer_list);
}
static void nn__secw_optm(nn__wr *w, const nn_model *m, const nn_train_state *st) { (void)m; nn__sec_optim(w, st->optim); }
static void nn__secw_schd(nn__wr *w, const nn_model *m, const nn_train_state *st) { (void)m; nn__wr_sched(w, st->sched); }
static void nn__secw_rngs(nn__wr *w, const nn_model *m, const nn_train_state *st) {
    nn__sec_rngs(w, m, st ? st->rng : NULL);
}
static void nn__secw_zlit(nn__wr *w, const nn_model *m, const nn_train_state *st) { (void)w; (void)m; (void)st; }
static void nn__secw_layx(nn__wr *w, const nn_model *m, const nn_train_state *st) {
    int i;
    (void)st;
    nn__wr_u32(w, (uint32_t)m->n_descs);
    for (i = 0; i < m->n_descs; i++) nn__wr_u32(w, (uint32_t)(m->descs[i].vanilla != 0));
}
/* GEOM: u32 n (ARCH's layer count), u32 C, H, W (the description's
   input_shape), then per layer NN__GEOM_FIELDS u32 (nn__layer_geom). */
static void nn__secw_geom(nn__wr *w, const nn_model *m, const nn_train_state *st) {
    int i, j;
    uint32_t g[NN__GEOM_FIELDS];
    (void)st;
    nn__wr_u32(w, (uint32_t)m->n_descs);
    for (j = 0; j < 3; j++) nn__wr_u32(w, (uint32_t)m->desc_input_shape[j]);
    for (i = 0; i < m->n_descs; i++) {
        nn__layer_geom(&m->descs[i], g);
        for (j = 0; j < NN__GEOM_FIELDS; j++) nn__wr_u32(w, g[j]);
    }
}
static void nn__secw_optx(nn__wr *w, const nn_model *m, const nn_train_state *st) {
    (void)m;
    nn__wr_u32(w, (uint32_t)st->optim->d.momentum_ema);
    nn__wr_u32(w, (uint32_t)st->optim->d.eps_inside_sqrt);
    nn__wr_u32(w, (uint32_t)st->optim->d.l1_proximal);
}
static void nn__secw_schx(nn__wr *w, const nn_model *m, const nn_train_state *st) {
    (void)m;
    nn__wr_u32(w, (uint32_t)st->sched->d.anneal_linear);
    nn__wr_u32(w, (uint32_t)st->sched->d.three_phase);
}

/* PREP: u32 in, u32 k, u32 flags (1 stage 1, 2 whiten), then stage 1's shift,
   scale, offset (in floats each) and PCA's mean (in), components (k x in),
   variance and ratio (k each). */
static void nn__secw_prep(nn__wr *w, const nn_model *m, const nn_train_state *st) {
    const nn_prep *p = st->prep;
    size_t in = (size_t)p->in, k = (size_t)p->k;
    (void)m;
    nn__wr_u32(w, (uint32_t)p->in);
    nn__wr_u32(w, (uint32_t)p->k);
    nn__wr_u32(w, (p->affine ? 1u : 0u) | (p->whiten ? 2u : 0u));
    if (p->affine) {
        nn__wr_floats(w, p->shift, in);
        nn__wr_floats(w, p->scale, in);
        nn__wr_floats(w, p->offset, in);
    }
    if (k) {
        nn__wr_floats(w, p->mean, in);
        nn__wr_floats(w, p->components, k * in);
        nn__wr_floats(w, p->variance, k);
        nn__wr_floats(w, p->variance_ratio, k);
    }
}
/* META: u32 layout (1), label and library as u32 length + bytes, then the
   numbers. */
static void nn__wr_str(nn__wr *w, const char *s, size_t cap) {
    size_t n = strlen(s);
    if (n >= cap) n = cap - 1;
    nn__wr_u32(w, (uint32_t)n);
    nn__wr_bytes(w, s, n);
}
static void nn__secw_meta(nn__wr *w, const nn_model *m, const nn_train_state *st) {
    const nn_meta *t = st->meta;
    (void)m;
    nn__wr_u32(w, 1u);
    nn__wr_str(w, t->label, sizeof t->label);
    nn__wr_str(w, NN_VERSION_STRING, sizeof t->library);
    nn__wr_u32(w, (uint32_t)t->optim_kind);
    nn__wr_f32(w, t->lr);
    nn__wr_f32(w, t->weight_decay);
    nn__wr_u32(w, (uint32_t)t->sched_kind);
    nn__wr_u32(w, (uint32_t)t->epochs);
    nn__wr_u32(w, (uint32_t)t->batch);
    nn__wr_u64(w, t->seed);
    nn__wr_u32(w, t->data_crc);
    nn__wr_u64(w, t->data_rows);
}

/* Would a 1.0 reader (zero meant "default") read this layer differently? */
static int nn__layer_needs_zlit(const nn_layer_desc *l) {
    nn_layer_desc c = *l;
    nn__layer_from_v10(&c);
    return !nn__same_layer(&c, l);
}

/* Writes the whole file: sections are measured with a counting writer first,
   so every length is known before its payload. */
/* The 24-byte header for n sections; then each section: its 16-byte head
   (the CRC restarts there: it covers the head too), payload, CRC. */
static void nn__wr_head(nn__wr *w, uint32_t n) {
    unsigned char head[20];
    nn__wr hw;
    memcpy(head, nn__magic, 8);
    NN__ZERO(hw);
    hw.buf = head + 8; hw.cap = 12; hw.fd = -1;
    nn__wr_u32(&hw, NN_FORMAT_VERSION_MAJOR);
    nn__wr_u32(&hw, NN_FORMAT_VERSION_MINOR);
    nn__wr_u32(&hw, n);
    nn__wr_bytes(w, head, 20);
    nn__wr_u32(w, nn_crc32c(0, head, 20));
}
static void nn__wr_sec_head(nn__wr *w, uint32_t tag, uint32_t flags, uint64_t len) {
    w->crc = 0;
    nn__wr_u32(w, tag);
    nn__wr_u32(w, flags);
    nn__wr_u64(w, len);
}

static void nn__write_model(nn__wr *w, const nn_model *m, const nn_train_state *st) {
    nn__sec_fn fns[12];
    uint32_t tags[12], flags[12];
    int n = 0, i, zlit = 0, layx = 0, optx, geom;
    for (i = 0; i < m->n_descs; i++) zlit |= nn__layer_needs_zlit(&m->descs[i]);
    for (i = 0; i < m->n_descs; i++) layx |= m->descs[i].vanilla != 0;
    /* image layers and shapes (any kind a 1.3 reader lacks) */
    geom = m->desc_input_shape[0] || m->desc_input_shape[1] || m->desc_input_shape[2];
    for (i = 0; i < m->n_descs; i++) geom |= m->descs[i].kind >= NN_LAYER_CONV2D;
    optx = st && st->optim && (st->optim->d.momentum_ema || st->optim->d.eps_inside_sqrt || st->optim->d.l1_proximal);
    /* required: a 1.0 reader must refuse (NN_ERR_VERSION), not misread */
    if (zlit) { fns[n] = nn__secw_zlit; tags[n] = NN__TAG_ZLIT; flags[n++] = NN__SEC_REQUIRED; }
    fns[n] = nn__secw_arch; tags[n] = NN__TAG_ARCH; flags[n++] = NN__SEC_REQUIRED;
    fns[n] = nn__secw_parm; tags[n] = NN__TAG_PARM; flags[n++] = NN__SEC_REQUIRED;
    fns[n] = nn__secw_bufs; tags[n] = NN__TAG_BUFS; flags[n++] = NN__SEC_REQUIRED;
    fns[n] = nn__secw_rngs; tags[n] = NN__TAG_RNGS; flags[n++] = 0;
    if (layx) { fns[n] = nn__secw_layx; tags[n] = NN__TAG_LAYX; flags[n++] = NN__SEC_REQUIRED; }
    if (geom) { fns[n] = nn__secw_geom; tags[n] = NN__TAG_GEOM; flags[n++] = NN__SEC_REQUIRED; }
    if (st && st->optim) { fns[n] = nn__secw_optm; tags[n] = NN__TAG_OPTM; flags[n++] = 0; }
    /* required: a reader that would train or predict otherwise must refuse */
    if (optx) { fns[n] = nn__secw_optx; tags[n] = NN__TAG_OPTX; flags[n++] = NN__SEC_REQUIRED; }
    if (st && st->sched) { fns[n] = nn__secw_schd; tags[n] = NN__TAG_SCHD; flags[n++] = 0; }
    if (st && st->sched && (st->sched->d.anneal_linear || st->sched->d.three_phase)) {
        fns[n] = nn__secw_schx; tags[n] = NN__TAG_SCHX; flags[n++] = NN__SEC_REQUIRED;
    }
    if (st && st->prep && (st->prep->affine || st->prep->k)) {
        fns[n] = nn__secw_prep; tags[n] = NN__TAG_PREP; flags[n++] = 0;
    }
    if (st && st->meta) { fns[n] = nn__secw_meta; tags[n] = NN__TAG_META; flags[n++] = 0; }
    nn__wr_head(w, (uint32_t)n);
    for (i = 0; i < n; i++) {
        nn__wr count;
        NN__ZERO(count);
        count.fd = -1;
        fns[i](&count, m, st);
        nn__wr_sec_head(w, tags[i], flags[i], (uint64_t)count.pos);
        fns[i](w, m, st);
        nn__wr_u32(w, w->crc);
    }
}

NNDEF size_t nn_model_save_size(const nn_model *m, const nn_train_state *st) {
    nn__wr w;
    NN__ZERO(w);
    w.fd = -1;
    nn__write_model(&w, m, st);
    return w.pos;
}

NNDEF nn_result nn_model_save_to_memory(const nn_model *m, const nn_train_state *st, void *buf,
                                        size_t cap, size_t *written) {
    nn__wr w;
    NN__ZERO(w);
    w.fd = -1;
    if (written) *written = 0;
    if (!buf) return NN_ERR_INVALID_ARGUMENT;
    w.buf = (unsigned char *)buf;
    w.cap = cap;
    nn__write_model(&w, m, st);
    if (w.err) return (nn_result)w.err;
    if (written) *written = w.pos;
    return NN_OK;
}

/* ---- parsing: the whole file is checked before anything is written ---- */
typedef struct nn__sec {
    uint32_t tag;
    const unsigned char *p;
    size_t len;
} nn__sec;
typedef struct nn__file {
    nn__sec arch, parm, bufs, optm, schd, rngs, zlit, schx, prep, meta, layx, optx, geom, qnt8;
    uint32_t minor;
} nn__file;

/* err (may be NULL) gets where the file went wrong: the byte offset and section.
   nn__parse_any frames and checksums; nn__parse_file wants a float model. */
static nn_result nn__parse_any(nn__file *out, const void *buf, size_t len, char *err) {
    const unsigned char *p = (const unsigned char *)buf;
    uint32_t major, n, i;
    size_t pos;
    NN__ZERO(*out);
    if (!buf) return nn__fail(err, len ? NN_ERR_INVALID_ARGUMENT : NN_ERR_TRUNCATED, "file buffer is NULL");
    if (len < 8)
        return memcmp(p, nn__magic, len) != 0 ? nn__fail(err, NN_ERR_BAD_MAGIC, "not an nn.h weight file (magic)")
                                              : nn__fail(err, NN_ERR_TRUNCATED, "%lu bytes: shorter than the header",
                                                         (unsigned long)len);
    if (memcmp(p, nn__magic, 8) != 0) return nn__fail(err, NN_ERR_BAD_MAGIC, "not an nn.h weight file (magic)");
    if (len < 24)
        return nn__fail(err, NN_ERR_TRUNCATED, "%lu bytes: shorter than the 24-byte header", (unsigned long)len);
    if (nn_crc32c(0, p, 20) != nn__le32(p + 20)) return nn__fail(err, NN_ERR_CHECKSUM, "header (bytes 0..19): CRC mismatch");
    major = nn__le32(p + 8);
    if (major != NN_FORMAT_VERSION_MAJOR)
        return nn__fail(err, NN_ERR_VERSION, "format %u.%u; this reader reads %d.x", major, nn__le32(p + 12),
                        NN_FORMAT_VERSION_MAJOR);
    out->minor = nn__le32(p + 12);
    n = nn__le32(p + 16);
    if (n > NN__MAX_SECTIONS) return NN_ERR_CORRUPT;
    pos = 24;
    for (i = 0; i < n; i++) {
        uint32_t tag, flags;
        uint64_t slen;
        char name[5];
        nn__sec *slot = NULL;
        if (len - pos < 16)
            return nn__fail(err, NN_ERR_TRUNCATED, "section %u of %u: header at byte %lu is cut short", i, n,
                            (unsigned long)pos);
        tag = nn__le32(p + pos);
        {   /* the tag as text for messages; anything unprintable as '?' */
            int c;
            for (c = 0; c < 4; c++) name[c] = p[pos + c] >= 32 && p[pos + c] < 127 ? (char)p[pos + c] : '?';
            name[4] = '\0';
        }
        flags = nn__le32(p + pos + 4);
        slen = (uint64_t)nn__le32(p + pos + 8) | ((uint64_t)nn__le32(p + pos + 12) << 32);
        pos += 16;
        if (slen > (uint64_t)(len - pos) || (size_t)slen > len - pos || len - pos - (size_t)slen < 4)
            return nn__fail(err, NN_ERR_TRUNCATED, "section '%s' at byte %lu: %llu bytes promised, %lu left", name,
                            (unsigned long)(pos - 16), (unsigned long long)slen, (unsigned long)(len - pos));
        /* the CRC covers the section header too: no bit goes unchecked */
        if (nn_crc32c(nn_crc32c(0, p + pos - 16, 16), p + pos, (size_t)slen) != nn__le32(p + pos + (size_t)slen))
            return nn__fail(err, NN_ERR_CHECKSUM, "section '%s' at byte %lu: CRC mismatch", name,
                            (unsigned long)(pos - 16));
        switch (tag) {
        case NN__TAG_ARCH: slot = &out->arch; break;
        case NN__TAG_PARM: slot = &out->parm; break;
        case NN__TAG_BUFS: slot = &out->bufs; break;
        case NN__TAG_OPTM: slot = &out->optm; break;
        case NN__TAG_SCHD: slot = &out->schd; break;
        case NN__TAG_RNGS: slot = &out->rngs; break;
        case NN__TAG_ZLIT: slot = &out->zlit; break;
        case NN__TAG_SCHX: slot = &out->schx; break;
        case NN__TAG_PREP: slot = &out->prep; break;
        case NN__TAG_META: slot = &out->meta; break;
        case NN__TAG_LAYX: slot = &out->layx; break;
        case NN__TAG_OPTX: slot = &out->optx; break;
        case NN__TAG_GEOM: slot = &out->geom; break;
        case NN__TAG_QNT8: slot = &out->qnt8; break;
        default:
            /* a newer writer's section: skip it unless it says readers must know it */
            if (flags & NN__SEC_REQUIRED) return NN_ERR_VERSION;
            break;
        }
        if (slot) {
            if (slot->p) return NN_ERR_CORRUPT; /* duplicate */
            slot->tag = tag;
            slot->p = p + pos;
            slot->len = (size_t)slen;
        }
        pos += (size_t)slen + 4;
    }
    if (pos != len) return NN_ERR_CORRUPT;
    if (out->qnt8.p && out->minor < 5) return nn__fail(err, NN_ERR_CORRUPT, "QNT8 section in a file before 1.5");
    /* 1.1's sections, in a 1.1 file and well formed */
    if ((out->zlit.p && (out->zlit.len != 0 || out->minor < 1)) ||
        (out->schx.p && (out->schx.len != 8 || !out->schd.p || out->minor < 1)))
        return nn__fail(err, NN_ERR_CORRUPT, "ZLIT or SCHX section malformed, or in a 1.0 file");
    /* 1.3's: LAYX a count and a word per layer, OPTX three words beside OPTM */
    if ((out->layx.p && (out->layx.len < 4 || out->minor < 3)) ||
        (out->optx.p && (out->optx.len != 12 || !out->optm.p || out->minor < 3)))
        return nn__fail(err, NN_ERR_CORRUPT, "LAYX or OPTX section malformed, or in a file before 1.3");
    if (out->geom.p && (out->geom.len < 16 || out->minor < 4))
        return nn__fail(err, NN_ERR_CORRUPT, "GEOM section malformed, or in a file before 1.4");
    return NN_OK;
}
static nn_result nn__parse_file(nn__file *out, const void *buf, size_t len, char *err) {
    nn_result r = nn__parse_any(out, buf, len, err);
    if (r != NN_OK) return r;
    if (out->qnt8.p && !out->arch.p)
        return nn__fail(err, NN_ERR_UNSUPPORTED, "an int8 model file (QNT8): nn_qmodel_init_from_memory reads it");
    if (!out->arch.p || !out->parm.p || !out->bufs.p)
        return nn__fail(err, NN_ERR_CORRUPT, "a required section (ARCH, PARM or BUFS) is missing");
    return NN_OK;
}

/* LAYX: u32 n (ARCH's layer count), then n u32 flags, bit 0 vanilla dropout. */
static nn_result nn__apply_layx(const nn__sec *s, nn_layer_desc *l, uint32_t i, uint32_t n) {
    uint32_t fl;
    if (!s->p) return NN_OK;
    if (nn__le32(s->p) != n || s->len != 4 + 4 * (size_t)n) return NN_ERR_CORRUPT;
    fl = nn__le32(s->p + 4 + 4 * (size_t)i);
    if (fl > 1u) return NN_ERR_CORRUPT;
    l->vanilla = (int)(fl & 1u);
    return NN_OK;
}

/* One ARCH layer record as this version reads it: literal from 1.1 on. */
static void nn__rd_layer_v(nn__rd *r, nn_layer_desc *l, uint32_t minor) {
    nn__rd_layer(r, l);
    if (minor == 0) nn__layer_from_v10(l);
    l->tag = NN_DESC_TAG;
}

/* GEOM's fields of layer i of n; 0 fields when the file has none. */
static nn_result nn__apply_geom(const nn__sec *s, nn_layer_desc *l, uint32_t i, uint32_t n) {
    const unsigned char *q;
    if (!s->p) return NN_OK;
    if (nn__le32(s->p) != n || s->len != 16 + 4 * NN__GEOM_FIELDS * (size_t)n) return NN_ERR_CORRUPT;
    q = s->p + 16 + 4 * NN__GEOM_FIELDS * (size_t)i;
    {
        uint32_t g[NN__GEOM_FIELDS];
        int j;
        for (j = 0; j < NN__GEOM_FIELDS; j++) {
            g[j] = nn__le32(q + 4 * j);
            if (g[j] > (uint32_t)INT_MAX) return NN_ERR_CORRUPT;
        }
        l->kernel[0] = (int)g[0]; l->kernel[1] = (int)g[1];
        l->stride[0] = (int)g[2]; l->stride[1] = (int)g[3];
        l->padding[0] = (int)g[4]; l->padding[1] = (int)g[5];
        l->dilation[0] = (int)g[6]; l->dilation[1] = (int)g[7];
        l->groups = (int)g[8]; l->count_include_pad = (int)g[9];
    }
    return NN_OK;
}

/* Layer i of n as the file describes it: ARCH's record (r at it) with what
   LAYX and GEOM add. A kind this reader does not know is NN_ERR_VERSION when
   the file is newer, else NN_ERR_CORRUPT. */
static nn_result nn__rd_layer_full(nn__rd *r, const nn__file *f, nn_layer_desc *l, uint32_t i, uint32_t n) {
    nn__rd_layer_v(r, l, f->minor);
    if (nn__apply_layx(&f->layx, l, i, n) != NN_OK || nn__apply_geom(&f->geom, l, i, n) != NN_OK)
        return NN_ERR_CORRUPT;
    if (!r->err && !nn__kind_ok(l->kind))
        return f->minor > NN_FORMAT_VERSION_MINOR ? NN_ERR_VERSION : NN_ERR_CORRUPT;
    return NN_OK;
}

static nn_result nn__parse_arch(const nn__file *f, nn_model_desc *desc, nn_layer_desc *layers, int max_layers) {
    nn__rd r;
    uint32_t n, i;
    nn_layer_desc tmp;
    nn_result res;
    r.p = f->arch.p; r.len = f->arch.len; r.pos = 0; r.err = 0;
    NN__ZERO(*desc);
    desc->inputs = (int)nn__rd_u32(&r);
    desc->max_batch = (int)nn__rd_u32(&r);
    desc->seed = nn__rd_u64(&r);
    n = nn__rd_u32(&r);
    if (r.err) return NN_ERR_TRUNCATED;
    if (n == 0) return NN_ERR_CORRUPT;
    if (n > NN__MAX_LAYERS / 2) return NN_ERR_TOO_LARGE;
    if ((size_t)n * NN__LAYER_FIELDS * 4 != r.len - r.pos) return NN_ERR_CORRUPT;
    if (layers && (int)n > max_layers) return NN_ERR_TOO_LARGE;
    if (f->geom.p) {
        int j;
        for (j = 0; j < 3; j++) {
            uint32_t v = nn__le32(f->geom.p + 4 + 4 * j);
            if (v > (uint32_t)INT_MAX) return NN_ERR_CORRUPT;
            desc->input_shape[j] = (int)v;
        }
    }
    for (i = 0; i < n; i++)
        if ((res = nn__rd_layer_full(&r, f, layers ? &layers[i] : &tmp, i, n)) != NN_OK) return res;
    desc->layers = layers;
    desc->n_layers = (int)n;
    if (r.err) return NN_ERR_TRUNCATED;
    return NN_OK;
}

/* Checks a PARM/BUFS section against the runs of a model; fills data[i]. */
static nn_result nn__check_runs(const nn__sec *s, const nn_param *list, int n, const unsigned char **data) {
    nn__rd r;
    uint32_t count;
    int i;
    r.p = s->p; r.len = s->len; r.pos = 0; r.err = 0;
    count = nn__rd_u32(&r);
    if (r.err) return NN_ERR_TRUNCATED;
    if (count > (uint32_t)NN__MAX_LAYERS * 2) return NN_ERR_TOO_LARGE;
    if ((int)count != n) return NN_ERR_SHAPE_MISMATCH;
    for (i = 0; i < n; i++) {
        uint32_t len = nn__rd_u32(&r);
        uint64_t size;
        if (r.err) return NN_ERR_TRUNCATED;
        if (len > NN__MAX_NAME) return NN_ERR_CORRUPT;
        if (!nn__rd_need(&r, len)) return NN_ERR_TRUNCATED;
        if (len != strlen(list[i].name) || memcmp(r.p + r.pos, list[i].name, len) != 0) return NN_ERR_SHAPE_MISMATCH;
        r.pos += len;
        size = nn__rd_u64(&r);
        if (r.err) return NN_ERR_TRUNCATED;
        if (size > (uint64_t)(r.len - r.pos) / 4) return NN_ERR_TRUNCATED;
        if (size != (uint64_t)list[i].size) return NN_ERR_SHAPE_MISMATCH;
        data[i] = r.p + r.pos;
        r.pos += (size_t)size * 4;
    }
    if (r.pos != r.len) return NN_ERR_CORRUPT;
    return NN_OK;
}

static nn_result nn__load(nn_model *m, nn_train_state *st, const void *buf, size_t len);
/* Checks a PREP payload; the sizes it holds come back in *in, *k, *flags and its
   float data starts at the payload's byte 12. */
static nn_result nn__check_prep(const nn__sec *s, int *in, int *k, uint32_t *flags, char *err) {
    uint32_t i32, k32, fl;
    uint64_t want, i;
    const unsigned char *q;
    if (s->len < 12) return nn__fail(err, NN_ERR_TRUNCATED, "PREP: %lu bytes, a 12-byte header needed", (unsigned long)s->len);
    i32 = nn__le32(s->p);
    k32 = nn__le32(s->p + 4);
    fl = nn__le32(s->p + 8);
    if (i32 < 1 || i32 > (1u << 24) || k32 > i32 || fl > 3 || ((fl & 2) && !k32) || (!(fl & 1) && !k32))
        return nn__fail(err, NN_ERR_CORRUPT, "PREP: %u inputs, %u components, flags %u: no fit makes that", i32, k32, fl);
    want = 12 + 4 * ((fl & 1 ? 3 * (uint64_t)i32 : 0) + (k32 ? (uint64_t)i32 + (uint64_t)k32 * i32 + 2 * (uint64_t)k32 : 0));
    if ((uint64_t)s->len != want)
        return nn__fail(err, NN_ERR_CORRUPT, "PREP: %lu bytes, its sizes need %llu", (unsigned long)s->len,
                        (unsigned long long)want);
    for (i = 0, q = s->p + 12; i < (want - 12) / 4; i++, q += 4) {
        uint32_t u = nn__le32(q);
        if ((u & 0x7F800000u) == 0x7F800000u) return nn__fail(err, NN_ERR_CORRUPT, "PREP: value %llu is NaN or Inf",
                                                                 (unsigned long long)i);
    }
    *in = (int)i32;
    *k = (int)k32;
    *flags = fl;
    return NN_OK;
}
/* Writes a checked PREP payload into p (whose arrays hold in and >= k). */
static void nn__read_prep(nn_prep *p, const nn__sec *s, int in, int k, uint32_t flags) {
    const unsigned char *q = s->p + 12;
    int j;
    p->in = in;
    p->affine = (flags & 1) != 0;
    p->whiten = (flags & 2) != 0;
    p->k = k;
    p->out = k ? k : in;
    if (p->affine) {
        nn__floats_from_le(p->shift, q, (size_t)in); q += 4 * (size_t)in;
        nn__floats_from_le(p->scale, q, (size_t)in); q += 4 * (size_t)in;
        nn__floats_from_le(p->offset, q, (size_t)in); q += 4 * (size_t)in;
    } else {
        for (j = 0; j < in; j++) {
            p->shift[j] = 0.0f;
            p->scale[j] = 1.0f;
            p->offset[j] = 0.0f;
        }
    }
    if (k) {
        nn__floats_from_le(p->mean, q, (size_t)in); q += 4 * (size_t)in;
        nn__floats_from_le(p->components, q, (size_t)k * in); q += 4 * (size_t)k * in;
        nn__floats_from_le(p->variance, q, (size_t)k); q += 4 * (size_t)k;
        nn__floats_from_le(p->variance_ratio, q, (size_t)k);
    }
}
static nn_result nn__rd_str(nn__rd *r, char *dst, size_t cap) {
    uint32_t n = nn__rd_u32(r);
    size_t i;
    if (r->err) return NN_ERR_TRUNCATED;
    if (n >= cap || !nn__rd_need(r, n)) return NN_ERR_CORRUPT;
    for (i = 0; i < n; i++)
        if (!r->p[r->pos + i]) return NN_ERR_CORRUPT;
    memcpy(dst, r->p + r->pos, n);
    dst[n] = 0;
    r->pos += n;
    return NN_OK;
}
static nn_result nn__read_meta(nn_meta *out, const nn__sec *s, char *err) {
    nn__rd r;
    nn_meta t;
    NN__ZERO(t);
    r.p = s->p; r.len = s->len; r.pos = 0; r.err = 0;
    if (nn__rd_u32(&r) != 1u) return nn__fail(err, NN_ERR_CORRUPT, "META: unknown layout");
    if (nn__rd_str(&r, t.label, sizeof t.label) != NN_OK || nn__rd_str(&r, t.library, sizeof t.library) != NN_OK)
        return nn__fail(err, NN_ERR_CORRUPT, "META: a text field too long, cut short or holding NUL");
    t.optim_kind = (int)nn__rd_u32(&r);
    t.lr = nn__rd_f32(&r);
    t.weight_decay = nn__rd_f32(&r);
    t.sched_kind = (int)nn__rd_u32(&r);
    t.epochs = (int)nn__rd_u32(&r);
    t.batch = (int)nn__rd_u32(&r);
    t.seed = nn__rd_u64(&r);
    t.data_crc = nn__rd_u32(&r);
    t.data_rows = nn__rd_u64(&r);
    if (r.err) return nn__fail(err, NN_ERR_TRUNCATED, "META: cut short");
    if (r.pos != r.len) return nn__fail(err, NN_ERR_CORRUPT, "META: %lu bytes past its fields", (unsigned long)(r.len - r.pos));
    *out = t;
    return NN_OK;
}

NNDEF nn_result nn_prep_from_memory(nn_prep *p, nn_arena *arena, const void *buf, size_t len) {
    nn__file f;
    nn_result r;
    nn_prep t;
    uint32_t flags;
    int in, k;
    if (!p) return NN_ERR_INVALID_ARGUMENT;
    if (!arena) return nn__fail(p->error, NN_ERR_INVALID_ARGUMENT, "prep: arena is NULL");
    r = nn__parse_file(&f, buf, len, p->error);
    if (r != NN_OK) return r;
    if (!f.prep.p) {
        NN__ZERO(t);
        *p = t; /* no preprocessing: in == 0 */
        return NN_OK;
    }
    r = nn__check_prep(&f.prep, &in, &k, &flags, p->error);
    if (r != NN_OK) return r;
    NN__ZERO(t);
    r = nn_prep_init(&t, arena, in, k);
    if (r != NN_OK) return nn__fail(p->error, r, "%s", t.error);
    nn__read_prep(&t, &f.prep, in, k, flags);
    *p = t;
    return NN_OK;
}

NNDEF nn_result nn_meta_from_memory(nn_meta *meta, const void *buf, size_t len) {
    nn__file f;
    nn_result r;
    if (!meta) return NN_ERR_INVALID_ARGUMENT;
    r = nn__parse_file(&f, buf, len, NULL);
    if (r != NN_OK) return r;
    if (!f.meta.p) {
        *meta = nn_meta_make(NULL);
        meta->library[0] = 0; /* no provenance recorded */
        return NN_OK;
    }
    return nn__read_meta(meta, &f.meta, NULL);
}

NNDEF nn_result nn_model_load_from_memory(nn_model *m, nn_train_state *st, const void *buf, size_t len) {
    nn_result r;
    if (!m) return NN_ERR_INVALID_ARGUMENT;
    m->error[0] = '\0';
    r = nn__load(m, st, buf, len);
    if (r != NN_OK && !m->error[0]) nn__fail(m->error, r, "loading a model file: %s", nn_result_string(r));
    return r;
}

static nn_result nn__load(nn_model *m, nn_train_state *st, const void *buf, size_t len) {
    nn__file f;
    nn_model_desc fd;
    nn_layer_desc one;
    const unsigned char *pdata[NN__MAX_LAYERS * 2], *bdata[NN__MAX_LAYERS * 2];
    nn_optim_desc od;
    nn_sched sd;
    uint64_t ostep = 0;
    const unsigned char *ostate = NULL;
    int nvec = 0, i, p_in = 0, p_k = 0;
    uint32_t p_flags = 0;
    nn_meta meta;
    nn__rd r;
    nn_result res;
    res = nn__parse_file(&f, buf, len, m->error);
    if (res != NN_OK) return res;
    res = nn__parse_arch(&f, &fd, NULL, 0);
    if (res != NN_OK) return res;
    if (fd.inputs != m->inputs || fd.n_layers != m->n_descs)
        return nn__fail(m->error, NN_ERR_SHAPE_MISMATCH, "ARCH: the file's model takes %d inputs in %d layers, "
                        "this one %d in %d", fd.inputs, fd.n_layers, m->inputs, m->n_descs);
    if (memcmp(fd.input_shape, m->desc_input_shape, sizeof fd.input_shape) != 0)
        return nn__fail(m->error, NN_ERR_SHAPE_MISMATCH, "GEOM: the file's input shape is (%d, %d, %d), this "
                        "model's (%d, %d, %d)", fd.input_shape[0], fd.input_shape[1], fd.input_shape[2],
                        m->desc_input_shape[0], m->desc_input_shape[1], m->desc_input_shape[2]);
    r.p = f.arch.p; r.len = f.arch.len; r.pos = 20; r.err = 0;
    for (i = 0; i < fd.n_layers; i++) {
        nn__rd_layer_full(&r, &f, &one, (uint32_t)i, (uint32_t)fd.n_layers); /* checked by parse_arch */
        if (!nn__same_layer(&one, &m->descs[i]))
            return nn__fail(m->error, NN_ERR_SHAPE_MISMATCH, "ARCH: layer %d of the file (%s, %d units) differs from "
                            "the model's (%s, %d units) or in another field", i, nn__layer_kind_name(one.kind),
                            one.units, nn__layer_kind_name(m->descs[i].kind), m->descs[i].units);
    }
    res = nn__check_runs(&f.parm, m->param_list, m->n_param_list, pdata);
    if (res != NN_OK) return res;
    res = nn__check_runs(&f.bufs, m->buffer_list, m->n_buffer_list, bdata);
    if (res != NN_OK) return res;
    if (f.rngs.p) {
        uint32_t cnt;
        if (f.rngs.len < 4) return NN_ERR_TRUNCATED;
        cnt = nn__le32(f.rngs.p);
        if (cnt < 1 || cnt > 2 || f.rngs.len != 4 + 32 * (size_t)cnt) return NN_ERR_CORRUPT;
        for (i = 0; i < (int)cnt; i++) { /* xoshiro's all-zero state is a fixed point: never seeded */
            static const unsigned char zero[32] = {0};
            if (memcmp(f.rngs.p + 4 + 32 * (size_t)i, zero, 32) == 0)
                return nn__fail(m->error, NN_ERR_CORRUPT, "RNGS: generator %d has the all-zero state", i);
        }
    }
    if (st && st->optim && f.optm.p) {
        uint64_t n;
        r.p = f.optm.p; r.len = f.optm.len; r.pos = 0; r.err = 0;
        nn__rd_optim_desc(&r, &od);
        ostep = nn__rd_u64(&r);
        n = nn__rd_u64(&r);
        nvec = (int)nn__rd_u32(&r);
        if (r.err) return NN_ERR_TRUNCATED;
        if (f.optx.p) {
            od.momentum_ema = (int)nn__le32(f.optx.p);
            od.eps_inside_sqrt = (int)nn__le32(f.optx.p + 4);
            od.l1_proximal = (int)nn__le32(f.optx.p + 8);
        }
        if (nn__optim_desc_check(&od, NULL) != NN_OK) return NN_ERR_CORRUPT;
        od.tag = NN_DESC_TAG;
        /* the same state vectors, not merely as many */
        if (od.kind != st->optim->d.kind || n != (uint64_t)st->optim->n || nvec != nn__optim_nvec(st->optim) ||
            nn__optim_states(&od) != (st->optim->s0 != NULL) + (st->optim->s1 != NULL) + (st->optim->s2 != NULL) ||
            (od.lookahead_k > 0) != (st->optim->slow != NULL) || (od.kind == NN_OPTIM_RMSPROP &&
            (od.centered != st->optim->d.centered || (od.momentum != 0.0f) != (st->optim->d.momentum != 0.0f))) ||
            ((od.kind == NN_OPTIM_ADAM || od.kind == NN_OPTIM_ADAMW) && od.amsgrad != st->optim->d.amsgrad))
            return nn__fail(m->error, NN_ERR_SHAPE_MISMATCH, "OPTM: the file's optimizer (kind %d, %llu values, %d state "
                            "vectors) is not the caller's (kind %d, %lu values)", (int)od.kind, (unsigned long long)n,
                            nvec, (int)st->optim->d.kind, (unsigned long)st->optim->n);
        if (ostep > (uint64_t)NN__STEP_MAX) return NN_ERR_CORRUPT;
        if ((uint64_t)(r.len - r.pos) != n * 4u * (uint64_t)nvec) return NN_ERR_CORRUPT;
        ostate = r.p + r.pos;
    }
    if (st && st->sched && f.schd.p) {
        r.p = f.schd.p; r.len = f.schd.len; r.pos = 0; r.err = 0;
        nn__rd_sched(&r, &sd);
        if (r.err) return NN_ERR_TRUNCATED;
        if (r.pos != r.len) return NN_ERR_CORRUPT;
        if (f.schx.p) {
            uint32_t al = nn__le32(f.schx.p), tp = nn__le32(f.schx.p + 4);
            if (al > 1 || tp > 1) return NN_ERR_CORRUPT;
            sd.d.anneal_linear = (int)al;
            sd.d.three_phase = (int)tp;
        }
        /* what init accepts, and only a state a run can reach (counters
           within their limits, so the next step cannot overflow) */
        if (nn__sched_check(&sd.d, NULL) != NN_OK || sd.d.step_size_down < 0 || sd.t < 0 || sd.t > NN__STEP_MAX ||
            sd.t_cur < 0 || sd.t_i < 0 || sd.t_i > NN__STEP_MAX ||
            (sd.d.kind == NN_SCHED_COSINE_RESTARTS ? (sd.t_i < 1 || sd.t_cur >= sd.t_i)
                                                   : (sd.t_cur != 0 || sd.t_i != sd.d.t_0)) ||
            sd.num_bad < 0 || sd.num_bad > sd.d.patience || sd.cooldown_left < 0 || sd.cooldown_left > sd.d.cooldown ||
            !NN__IN(sd.lr, 0.0, 1.7e308) || !NN__IN(sd.momentum, 0.0, 1.0))
            return nn__fail(m->error, NN_ERR_CORRUPT, "SCHD: description or state no run can produce");
        sd.d.tag = NN_DESC_TAG;
        if (sd.d.kind != st->sched->d.kind)
            return nn__fail(m->error, NN_ERR_SHAPE_MISMATCH, "SCHD: the file's schedule kind %d is not the caller's %d",
                            (int)sd.d.kind, (int)st->sched->d.kind);
    }
    if (st && st->prep && f.prep.p) {
        res = nn__check_prep(&f.prep, &p_in, &p_k, &p_flags, m->error);
        if (res != NN_OK) return res;
        if (!st->prep->shift || p_in != st->prep->in || p_k > st->prep->k_max)
            return nn__fail(m->error, NN_ERR_SHAPE_MISMATCH, "PREP: the file's preprocessing maps %d features to %d "
                            "components; the caller's takes %d features, room for %d", p_in, p_k, st->prep->in,
                            st->prep->k_max);
    }
    if (st && st->meta && f.meta.p) {
        res = nn__read_meta(&meta, &f.meta, m->error);
        if (res != NN_OK) return res;
    }
    /* everything checked: now write */
    for (i = 0; i < m->n_param_list; i++) nn__floats_from_le(m->param_list[i].data, pdata[i], m->param_list[i].size);
    for (i = 0; i < m->n_buffer_list; i++) nn__floats_from_le(m->buffer_list[i].data, bdata[i], m->buffer_list[i].size);
    if (f.rngs.p) {
        r.p = f.rngs.p; r.len = f.rngs.len; r.pos = 4; r.err = 0;
        for (i = 0; i < 4; i++) m->rng.s[i] = nn__rd_u64(&r);
        if (st && st->rng && nn__le32(f.rngs.p) == 2)
            for (i = 0; i < 4; i++) st->rng->s[i] = nn__rd_u64(&r);
    }
    if (ostate) {
        nn_optim *o = st->optim;
        float *vecs[4];
        int k = 0;
        if (o->s0) vecs[k++] = o->s0;
        if (o->s1) vecs[k++] = o->s1;
        if (o->s2) vecs[k++] = o->s2;
        if (o->slow) vecs[k++] = o->slow;
        for (i = 0; i < k; i++) nn__floats_from_le(vecs[i], ostate + (size_t)i * o->n * 4, o->n);
        o->d = od;
        o->step = (long)ostep;
    }
    if (st && st->sched && f.schd.p) *st->sched = sd;
    if (st && st->prep && f.prep.p) nn__read_prep(st->prep, &f.prep, p_in, p_k, p_flags);
    if (st && st->meta && f.meta.p) *st->meta = meta;
    return NN_OK;
}

NNDEF nn_result nn_model_desc_from_memory(nn_model_desc *desc, nn_layer_desc *layers, int max_layers,
                                          const void *buf, size_t len) {
    nn__file f;
    nn_model_desc d;
    nn_result r;
    if (!desc) return NN_ERR_INVALID_ARGUMENT;
    r = nn__parse_file(&f, buf, len, NULL);
    if (r != NN_OK) return r;
    if (!layers) { /* the count only: desc->n_layers */
        r = nn__parse_arch(&f, &d, NULL, 0);
        if (r == NN_OK) *desc = d;
        return r;
    }
    r = nn__parse_arch(&f, &d, layers, max_layers);
    if (r != NN_OK) return r;
    if (nn__model_validate(&d, NULL) != NN_OK) return NN_ERR_CORRUPT;
    *desc = d; /* only on success */
    return NN_OK;
}

NNDEF nn_result nn_model_arena_bytes_from_memory(size_t *bytes, const void *buf, size_t len, int max_batch) {
    nn_layer_desc layers[NN__MAX_LAYERS / 2];
    nn_model_desc desc;
    nn_result r;
    if (!bytes || max_batch < 0) return NN_ERR_INVALID_ARGUMENT;
    r = nn_model_desc_from_memory(&desc, layers, NN__MAX_LAYERS / 2, buf, len);
    if (r != NN_OK) return r;
    if (max_batch) desc.max_batch = max_batch;
    if (nn__model_validate(&desc, NULL) != NN_OK) return NN_ERR_TOO_LARGE;
    *bytes = nn_model_arena_bytes(&desc);
    return NN_OK;
}

NNDEF nn_result nn_model_init_from_memory(nn_model *m, nn_arena *arena, const void *buf, size_t len) {
    return nn_model_init_from_memory_batch(m, arena, buf, len, 0);
}

NNDEF nn_result nn_model_init_from_memory_batch(nn_model *m, nn_arena *arena, const void *buf, size_t len,
                                                int max_batch) {
    nn_layer_desc layers[NN__MAX_LAYERS / 2];
    nn_model_desc desc;
    nn_model tmp;
    size_t mark;
    nn_result r;
    if (!m || !arena || max_batch < 0) return NN_ERR_INVALID_ARGUMENT;
    mark = nn_arena_mark(arena);
    r = nn_model_desc_from_memory(&desc, layers, NN__MAX_LAYERS / 2, buf, len);
    if (r != NN_OK) return nn__fail(m->error, r, "model file: %s (framing or description)", nn_result_string(r));
    if (max_batch) desc.max_batch = max_batch;
    if (nn__model_validate(&desc, m->error) != NN_OK) return NN_ERR_TOO_LARGE;
    /* The arena must hold it; never allocate what the file merely claims. */
    if (nn_model_arena_bytes(&desc) > arena->cap - arena->used)
        return nn__fail(m->error, NN_ERR_OUT_OF_MEMORY, "the model in the file needs %lu arena bytes, %lu are free",
                        (unsigned long)nn_model_arena_bytes(&desc), (unsigned long)(arena->cap - arena->used));
    tmp.error[0] = '\0';
    r = nn_model_init(&tmp, arena, &desc);
    if (r == NN_OK) r = nn_model_load_from_memory(&tmp, NULL, buf, len);
    if (r != NN_OK) {
        nn_arena_rewind(arena, mark);
        memcpy(m->error, tmp.error, NN_ERROR_MAX);
        return r;
    }
    *m = tmp;
    return NN_OK;
}

#ifndef NN_NO_STDIO
static void nn__write_model_v(nn__wr *w, const void *m, const void *st) {
    nn__write_model(w, (const nn_model *)m, (const nn_train_state *)st);
}
/* path gets what fn(w, a, b) writes, atomically (the same steps for the
   float and the int8 models) */
typedef void (*nn__write_fn)(nn__wr *w, const void *a, const void *b);
static nn_result nn__wr_stream(FILE *f, nn__write_fn fn, const void *a, const void *b) {
    nn__wr w;
    NN__ZERO(w);
    w.fd = -1;
    w.f = f;
    fn(&w, a, b);
    if (!w.err && fflush(f) != 0) w.err = NN_ERR_IO;
    return (nn_result)w.err;
}
NNDEF nn_result nn_model_save_to_file(const nn_model *m, const nn_train_state *st, FILE *f) {
    if (!m || !f) return NN_ERR_INVALID_ARGUMENT;
    return nn__wr_stream(f, nn__write_model_v, m, st);
}

static nn_result nn__save_path(const char *path, nn__write_fn fn, const void *a, const void *b) {
    char tmp[4096];
    nn_result r;
    size_t n;
    if (!path) return NN_ERR_INVALID_ARGUMENT;
    n = strlen(path);
    if (n == 0 || n + 8 > sizeof tmp) return NN_ERR_INVALID_ARGUMENT;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
#if NN__POSIX
    {
        /* write, fsync, rename, then fsync the directory so the rename sticks */
        nn__wr w;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return NN_ERR_IO;
        NN__ZERO(w);
        w.fd = fd;
        fn(&w, a, b);
        r = (nn_result)w.err;
        if (r == NN_OK && fsync(fd) != 0) r = NN_ERR_IO;
        if (close(fd) != 0 && r == NN_OK) r = NN_ERR_IO;
        if (r == NN_OK && rename(tmp, path) != 0) r = NN_ERR_IO;
        if (r != NN_OK) {
            remove(tmp);
            return r;
        }
        {
            char dir[4096];
            const char *slash = strrchr(path, '/');
            int dfd;
            if (slash) {
                size_t dl = (size_t)(slash - path);
                memcpy(dir, path, dl ? dl : 1);
                dir[dl ? dl : 1] = 0;
            } else {
                dir[0] = '.'; dir[1] = 0;
            }
            dfd = open(dir, O_RDONLY);
            if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
            }
        }
        return NN_OK;
    }
#elif defined(_WIN32)
    {
        /* write, flush to the disk (_commit: FlushFileBuffers), then one
           MoveFileEx replaces the old file: a reader sees the old model or
           the new one, never a part. The A form takes the path in the same
           code page as fopen. */
        FILE *f = fopen(tmp, "wb");
        if (!f) return NN_ERR_IO;
        r = nn__wr_stream(f, fn, a, b);
        if (r == NN_OK && _commit(_fileno(f)) != 0) r = NN_ERR_IO;
        if (fclose(f) != 0 && r == NN_OK) r = NN_ERR_IO;
        if (r == NN_OK && !MoveFileExA(tmp, path, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) r = NN_ERR_IO;
        if (r != NN_OK) remove(tmp);
        return r;
    }
#else
    {
        FILE *f = fopen(tmp, "wb");
        if (!f) return NN_ERR_IO;
        r = nn__wr_stream(f, fn, a, b);
        if (fclose(f) != 0 && r == NN_OK) r = NN_ERR_IO;
        if (r == NN_OK && rename(tmp, path) != 0) {
            /* where rename does not replace, in two steps (not atomic) */
            remove(path);
            if (rename(tmp, path) != 0) r = NN_ERR_IO;
        }
        if (r != NN_OK) remove(tmp);
        return r;
    }
#endif
}

NNDEF nn_result nn_model_save(const nn_model *m, const nn_train_state *st, const char *path) {
    if (!m) return NN_ERR_INVALID_ARGUMENT;
    return nn__save_path(path, nn__write_model_v, m, st);
}

/* Model files are bounded by what a model can hold; refuse absurd sizes early. */
#define NN__MODEL_FILE_MAX (SIZE_MAX > 0xFFFFFFFFu ? (size_t)0x400000000ull : (size_t)0x7FFFFFFFu)

NNDEF nn_result nn_model_load(nn_model *m, nn_train_state *st, const char *path) {
    void *buf;
    size_t len;
    nn_result r = nn_read_file(&buf, &len, path, NN__MODEL_FILE_MAX);
    if (r != NN_OK) return r;
    r = nn_model_load_from_memory(m, st, buf, len);
    NN_FREE(buf);
    return r;
}

NNDEF nn_result nn_model_arena_bytes_from_file(size_t *bytes, const char *path, int max_batch) {
    void *buf;
    size_t len;
    nn_result r = nn_read_file(&buf, &len, path, NN__MODEL_FILE_MAX);
    if (r != NN_OK) return r;
    r = nn_model_arena_bytes_from_memory(bytes, buf, len, max_batch);
    NN_FREE(buf);
    return r;
}

NNDEF nn_result nn_model_init_from_file(nn_model *m, nn_arena *arena, const char *path) {
    void *buf;
    size_t len;
    nn_result r = nn_read_file(&buf, &len, path, NN__MODEL_FILE_MAX);
    if (r != NN_OK) return r;
    r = nn_model_init_from_memory(m, arena, buf, len);
    NN_FREE(buf);
    return r;
}

/* A float literal that reads back as the same float ("1.0f", "1e-05f"); s
   holds 40 bytes. */
static const char *nn__flit(char *s, float v) {
    size_t n;
    if (!s) return "0.0f"; /* never: callers pass their buffer (g++ -O1 with UBSan asks) */
    sprintf(s, "%.9g", (double)v);
    n = strlen(s);
    if (!strpbrk(s, ".en")) memcpy(s + n, ".0", 3), n += 2;
    memcpy(s + n, "f", 2);
    return s;
}
static void nn__export_float(FILE *f, float v) {
    char s[40];
    fprintf(f, "%s;", nn__flit(s, v));
}
static const char *nn__act_enum_name(nn_act a) {
    static const char *n[] = {"NN_ACT_IDENTITY", "NN_ACT_RELU", "NN_ACT_SIGMOID", "NN_ACT_TANH", "NN_ACT_LEAKY_RELU",
                              "NN_ACT_ELU", "NN_ACT_GELU", "NN_ACT_GELU_TANH", "NN_ACT_SILU", "NN_ACT_SOFTPLUS",
                              "NN_ACT_SOFTMAX"};
    return (int)a >= 0 && (int)a < (int)(sizeof n / sizeof n[0]) ? n[a] : "NN_ACT_IDENTITY";
}
static const char *nn__init_enum_name(nn_init i) {
    static const char *n[] = {"NN_INIT_DEFAULT", "NN_INIT_ZEROS", "NN_INIT_CONSTANT", "NN_INIT_SMALL_RANDOM",
                              "NN_INIT_CALIBRATED", "NN_INIT_XAVIER_UNIFORM", "NN_INIT_XAVIER_NORMAL",
                              "NN_INIT_KAIMING_UNIFORM", "NN_INIT_KAIMING_NORMAL", "NN_INIT_LECUN_UNIFORM",
                              "NN_INIT_LECUN_NORMAL"};
    return (int)i >= 0 && (int)i < (int)(sizeof n / sizeof n[0]) ? n[i] : "NN_INIT_DEFAULT";
}
static void nn__export_floats(FILE *f, const float *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) fprintf(f, "%.9g%s", (double)p[i], (i + 1) % 8 == 0 ? ",\n    " : ", ");
}

NNDEF nn_result nn_model_export_c(const nn_model *m, const char *name, FILE *f) {
    int i;
    fprintf(f, "/* %s: a trained nn.h model as C source (nn.h %s, format %d.%d).\n"
               "   #include \"nn.h\" first; then call %s_init(&model, &arena). */\n",
            name, NN_VERSION_STRING, NN_FORMAT_VERSION_MAJOR, NN_FORMAT_VERSION_MINOR, name);
    /* a static arena can be declared from this: static unsigned char
       mem[NN_ARENA_BUFFER_BYTES(<NAME>_ARENA_BYTES)] */
    {
        char up[64];
        size_t k;
        for (k = 0; name[k] && k < sizeof up - 1; k++) up[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 32 : name[k]);
        up[k] = 0;
        nn_model_desc d;
        nn_model_sizes z;
        NN__ZERO(d);
        d.inputs = m->inputs;
        d.max_batch = m->max_batch;
        d.layers = m->descs;
        d.n_layers = m->n_descs;
        d.seed = m->seed;
        memcpy(d.input_shape, m->desc_input_shape, sizeof d.input_shape);
        nn__model_build(NULL, NULL, &d, &z, 0); /* the layout without gradients */
        fprintf(f, "/* nn_model_arena_bytes of this model; with NN_NO_TRAINING it keeps no gradients */\n"
                   "#ifdef NN_NO_TRAINING\n#define %s_ARENA_BYTES %lluu\n#else\n#define %s_ARENA_BYTES %lluu\n#endif\n",
                up, (unsigned long long)z.total, up, (unsigned long long)m->arena_bytes);
    }
    fprintf(f, "#if NN_FORMAT_VERSION_MAJOR != %d || NN_FORMAT_VERSION_MINOR < %d\n"
               "#error \"%s was exported for nn.h format %d.%d: this nn.h reads another format\"\n#endif\n",
            NN_FORMAT_VERSION_MAJOR, NN_FORMAT_VERSION_MINOR, name, NN_FORMAT_VERSION_MAJOR, NN_FORMAT_VERSION_MINOR);
    fprintf(f, "static const float %s_params[%llu] = {\n    ", name, (unsigned long long)(m->n_params ? m->n_params : 1));
    if (m->n_params) nn__export_floats(f, m->params, m->n_params);
    else fprintf(f, "0");
    fprintf(f, "\n};\nstatic const float %s_buffers[%llu] = {\n    ", name,
            (unsigned long long)(m->n_buffers ? m->n_buffers : 1));
    if (m->n_buffers) nn__export_floats(f, m->buffers, m->n_buffers);
    else fprintf(f, "0");
    fprintf(f, "\n};\n");
    /* the description field by field, by name: only what differs from the
       kind's defaults, so the file reads like the code that built the model */
    fprintf(f, "static nn_result %s_init(nn_model *m, nn_arena *arena) {\n"
               "    nn_layer_desc l[%d];\n    nn_model_desc d;\n    nn_result r;\n", name, m->n_descs);
    for (i = 0; i < m->n_descs; i++) {
        const nn_layer_desc *l = &m->descs[i];
        nn_layer_desc d0 = nn_layer_desc_default(l->kind);
        /* a comment a reader can check the layer by */
        fprintf(f, "    /* %d: %s", i, nn__kinds[l->kind].name);
        if (nn__kinds[l->kind].flags & NN__K_UNITS) fprintf(f, " %d", l->units);
        if (nn__kinds[l->kind].flags & NN__K_WINDOW)
            fprintf(f, " %dx%d stride %dx%d padding %dx%d", l->kernel[0], l->kernel[1], l->stride[0], l->stride[1],
                    l->padding[0], l->padding[1]);
        if ((nn__kinds[l->kind].flags & (NN__K_UNITS | NN__K_ACT)) && l->act != NN_ACT_IDENTITY)
            fprintf(f, ", %s", nn_act_name(l->act));
        fprintf(f, " */\n");
        fprintf(f, "    l[%d] = nn_layer_desc_default(%s);", i, nn__kinds[l->kind].enum_name);
#define NN__EXPORT_INT(fld) \
    if (l->fld != d0.fld) fprintf(f, " l[%d]." #fld " = %d;", i, (int)l->fld)
#define NN__EXPORT_FLOAT(fld) \
    if (memcmp(&l->fld, &d0.fld, sizeof(float)) != 0) { fprintf(f, " l[%d]." #fld " = ", i); nn__export_float(f, l->fld); }
        NN__EXPORT_INT(units);
        if (l->act != d0.act) fprintf(f, " l[%d].act = %s;", i, nn__act_enum_name(l->act));
        NN__EXPORT_FLOAT(alpha);
        NN__EXPORT_INT(no_bias);
        NN__EXPORT_INT(weight_std);
        if (l->init != d0.init) fprintf(f, " l[%d].init = %s;", i, nn__init_enum_name(l->init));
        NN__EXPORT_FLOAT(init_gain);
        NN__EXPORT_FLOAT(init_value);
        NN__EXPORT_INT(init_fan_out);
        NN__EXPORT_FLOAT(p);
        NN__EXPORT_FLOAT(eps);
        NN__EXPORT_FLOAT(momentum);
        NN__EXPORT_INT(k);
        NN__EXPORT_INT(vanilla);
        NN__EXPORT_INT(kernel[0]);
        NN__EXPORT_INT(kernel[1]);
        NN__EXPORT_INT(stride[0]);
        NN__EXPORT_INT(stride[1]);
        NN__EXPORT_INT(padding[0]);
        NN__EXPORT_INT(padding[1]);
        NN__EXPORT_INT(dilation[0]);
        NN__EXPORT_INT(dilation[1]);
        NN__EXPORT_INT(groups);
        NN__EXPORT_INT(count_include_pad);
#undef NN__EXPORT_INT
#undef NN__EXPORT_FLOAT
        fprintf(f, "\n");
    }
    fprintf(f, "    memset(&d, 0, sizeof d);\n"
               "    d.inputs = %d; d.max_batch = %d; d.layers = l; d.n_layers = %d; d.seed = %lluull;\n",
            m->inputs, m->max_batch, m->n_descs, (unsigned long long)m->seed);
    if (m->desc_input_shape[0] || m->desc_input_shape[1] || m->desc_input_shape[2])
        fprintf(f, "    d.input_shape[0] = %d; d.input_shape[1] = %d; d.input_shape[2] = %d;\n",
                m->desc_input_shape[0], m->desc_input_shape[1], m->desc_input_shape[2]);
    fprintf(f, "    r = nn_model_init(m, arena, &d);\n    if (r != NN_OK) return r;\n"
               "    memcpy(m->params, %s_params, sizeof(float) * %lluu);\n"
               "    memcpy(m->buffers, %s_buffers, sizeof(float) * %lluu);\n"
               "    nn_model_set_mode(m, NN_MODE_EVAL);\n    return NN_OK;\n}\n",
            name, (unsigned long long)m->n_params, name, (unsigned long long)m->n_buffers);
    return ferror(f) ? NN_ERR_IO : NN_OK;
}

#endif /* NN_NO_STDIO: the ONNX writer to memory stands alone */

/* ---- ONNX export ----------------------------------------------------------
   A protobuf writer of its own (varints, fixed32, length-delimited fields):
   every message is written by a function that can also only count, so a
   nested message is counted, its length written, then written. Field
   numbers are onnx.proto's (IR version 8, opset 17). */
typedef struct nn__pb {
    unsigned char *buf; /* NULL: count only */
    size_t cap, len;
} nn__pb;
static void nn__pb_raw(nn__pb *w, const void *p, size_t n) {
    if (w->buf && n && w->len <= w->cap && n <= w->cap - w->len) memcpy(w->buf + w->len, p, n);
    w->len += n;
}
static void nn__pb_varint(nn__pb *w, uint64_t v) {
    unsigned char b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (unsigned char)v;
    nn__pb_raw(w, b, n);
}
static void nn__pb_key(nn__pb *w, int field, int wire) { nn__pb_varint(w, (uint64_t)field << 3 | (uint64_t)wire); }
static void nn__pb_int(nn__pb *w, int field, long long v) {
    nn__pb_key(w, field, 0);
    nn__pb_varint(w, (uint64_t)v); /* negatives: ten bytes, two's complement */
}
static void nn__pb_f32(nn__pb *w, float v) {
    uint32_t u;
    unsigned char b[4];
    memcpy(&u, &v, 4);
    b[0] = (unsigned char)u; b[1] = (unsigned char)(u >> 8); b[2] = (unsigned char)(u >> 16); b[3] = (unsigned char)(u >> 24);
    nn__pb_raw(w, b, 4);
}
static void nn__pb_str(nn__pb *w, int field, const char *s) {
    size_t n = strlen(s);
    nn__pb_key(w, field, 2);
    nn__pb_varint(w, n);
    nn__pb_raw(w, s, n);
}
typedef void (*nn__pb_fn)(nn__pb *w, const void *ctx, int i);
static void nn__pb_msg(nn__pb *w, int field, nn__pb_fn fn, const void *ctx, int i) {
    nn__pb m;
    m.buf = NULL; m.cap = 0; m.len = 0;
    fn(&m, ctx, i);
    nn__pb_key(w, field, 2);
    nn__pb_varint(w, m.len);
    fn(w, ctx, i);
}

/* One graph node: op, up to 5 inputs, one output, up to 6 attributes. */
#define NN__ONAME 48
typedef struct nn__oattr {
    const char *name;
    int type;          /* AttributeProto: 1 FLOAT, 2 INT, 7 INTS */
    float f;
    long long i;
    int n, ints[4];
} nn__oattr;
typedef struct nn__onode {
    const char *op;
    char in[5][NN__ONAME], out[NN__ONAME];
    int n_in, n_attr;
    nn__oattr attr[6];
} nn__onode;
/* A constant or a parameter: name, dims, floats (or int64s) */
typedef struct nn__oinit {
    char name[NN__ONAME];
    int rank, dims[4], is_i64;
    const float *f;
    const long long *i64;
    size_t n;
} nn__oinit;

typedef struct nn__onnx {
    const nn_model *m;
    int src[NN__MAX_LAYERS];   /* the layer whose output a layer reads (-1: the input) */
    int flat_in[NN__MAX_LAYERS]; /* 1: the layer's input is an image the layer takes flat */
    int last;                  /* the last layer that writes a node (-1: none) */
    int image_in;              /* the graph's input is (N, C, H, W) */
} nn__onnx;

static const float nn__onnx_consts[4] = {0.70710678f, 1.0f, 0.5f, 0.7978845608f};
static const float nn__onnx_c044 = 0.044715f;

static int nn__onnx_image(const nn_layer *ly) { return (nn__kind_flags(ly->kind) & NN__K_IMAGE) && ly->kind != NN_LAYER_DROPOUT2D; }

/* the name of layer l's output, of node j inside it, or of a parameter */
static void nn__onnx_name(char *s, const nn__onnx *x, int l, int j) {
    if (l < 0) sprintf(s, "input");
    else if (l == x->last && j < 0) sprintf(s, "output");
    else if (j < 0) sprintf(s, "y%d", l);
    else sprintf(s, "y%d_%d", l, j);
}

/* Nodes of layer l: how many (node NULL), or node j. Skipped layers (dropout,
   identity, flatten views where nothing needs flattening) have none. */
static int nn__onnx_nodes(const nn__onnx *x, int l, int j, nn__onode *nd) {
    const nn_layer *ly = &x->m->layers[l];
    char in[NN__ONAME];
    int flat = x->flat_in[l], n = 0, k = 0;
    nn__onode tmp;
    if (!nd) nd = &tmp;
    memset(nd, 0, sizeof *nd);
    nn__onnx_name(in, x, x->src[l], -1);
#define NN__ON_BEGIN(op_) if (n++ == j) { nd->op = op_;
#define NN__ON_END }
#define NN__ON_IN(s) strcpy(nd->in[nd->n_in++], s)
#define NN__ON_INP(fmt) sprintf(nd->in[nd->n_in++], fmt, l)
#define NN__ON_OUT(jj) nn__onnx_name(nd->out, x, l, jj)
#define NN__ON_INT(nm, v) (nd->attr[nd->n_attr].name = nm, nd->attr[nd->n_attr].type = 2, nd->attr[nd->n_attr++].i = (v))
#define NN__ON_FLT(nm, v) (nd->attr[nd->n_attr].name = nm, nd->attr[nd->n_attr].type = 1, nd->attr[nd->n_attr++].f = (v))
#define NN__ON_INTS2(nm, a, b) (nd->attr[nd->n_attr].name = nm, nd->attr[nd->n_attr].type = 7, \
    nd->attr[nd->n_attr].n = 2, nd->attr[nd->n_attr].ints[0] = (a), nd->attr[nd->n_attr++].ints[1] = (b))
#define NN__ON_INTS4(nm, a, b) (nd->attr[nd->n_attr].name = nm, nd->attr[nd->n_attr].type = 7, \
    nd->attr[nd->n_attr].n = 4, nd->attr[nd->n_attr].ints[0] = (a), nd->attr[nd->n_attr].ints[1] = (b), \
    nd->attr[nd->n_attr].ints[2] = (a), nd->attr[nd->n_attr++].ints[3] = (b))
    if (flat) { /* an image read flat: Flatten first */
        NN__ON_BEGIN("Flatten") NN__ON_IN(in); NN__ON_INT("axis", 1); NN__ON_OUT(k); NN__ON_END
        nn__onnx_name(in, x, l, k);
        k++;
    }
    switch (ly->kind) {
    case NN_LAYER_DENSE:
        NN__ON_BEGIN("Gemm") NN__ON_IN(in); NN__ON_INP("l%d.weight"); if (ly->b.data) NN__ON_INP("l%d.bias");
            NN__ON_INT("transB", 1); NN__ON_OUT(-1); NN__ON_END
        break;
    case NN_LAYER_MAXOUT: /* z = x w^T + b, (N, out k) -> (N, out, k) -> max over k */
        NN__ON_BEGIN("Gemm") NN__ON_IN(in); NN__ON_INP("l%d.weight"); if (ly->b.data) NN__ON_INP("l%d.bias");
            NN__ON_INT("transB", 1); NN__ON_OUT(k); NN__ON_END
        NN__ON_BEGIN("Reshape") nn__onnx_name(nd->in[nd->n_in++], x, l, k); NN__ON_INP("l%d.shape"); NN__ON_OUT(k + 1);
            NN__ON_END
        NN__ON_BEGIN("ReduceMax") nn__onnx_name(nd->in[nd->n_in++], x, l, k + 1); nd->attr[0].name = "axes";
            nd->attr[0].type = 7; nd->attr[0].n = 1; nd->attr[0].ints[0] = 2; nd->n_attr = 1; NN__ON_INT("keepdims", 0);
            NN__ON_OUT(-1); NN__ON_END
        break;
    case NN_LAYER_BATCHNORM:
    case NN_LAYER_BATCHNORM2D:
        NN__ON_BEGIN("BatchNormalization") NN__ON_IN(in); NN__ON_INP("l%d.weight"); NN__ON_INP("l%d.bias");
            NN__ON_INP("l%d.running_mean"); NN__ON_INP("l%d.running_var"); NN__ON_FLT("epsilon", ly->eps);
            NN__ON_OUT(-1); NN__ON_END
        break;
    case NN_LAYER_LAYERNORM:
        NN__ON_BEGIN("LayerNormalization") NN__ON_IN(in); NN__ON_INP("l%d.weight"); NN__ON_INP("l%d.bias");
            NN__ON_INT("axis", -1); NN__ON_FLT("epsilon", ly->eps); NN__ON_OUT(-1); NN__ON_END
        break;
    case NN_LAYER_CONV2D:
        NN__ON_BEGIN("Conv") NN__ON_IN(in); NN__ON_INP("l%d.weight"); if (ly->b.data) NN__ON_INP("l%d.bias");
            NN__ON_INTS2("kernel_shape", ly->geom.kh, ly->geom.kw); NN__ON_INTS2("strides", ly->geom.sh, ly->geom.sw);
            NN__ON_INTS4("pads", ly->geom.ph, ly->geom.pw); NN__ON_INTS2("dilations", ly->geom.dil_h, ly->geom.dil_w);
            NN__ON_INT("group", ly->geom.groups); NN__ON_OUT(-1); NN__ON_END
        break;
    case NN_LAYER_MAXPOOL2D:
        NN__ON_BEGIN("MaxPool") NN__ON_IN(in); NN__ON_INTS2("kernel_shape", ly->geom.kh, ly->geom.kw);
            NN__ON_INTS2("strides", ly->geom.sh, ly->geom.sw); NN__ON_INTS4("pads", ly->geom.ph, ly->geom.pw);
            NN__ON_INTS2("dilations", ly->geom.dil_h, ly->geom.dil_w); NN__ON_OUT(-1); NN__ON_END
        break;
    case NN_LAYER_AVGPOOL2D:
        NN__ON_BEGIN("AveragePool") NN__ON_IN(in); NN__ON_INTS2("kernel_shape", ly->geom.kh, ly->geom.kw);
            NN__ON_INTS2("strides", ly->geom.sh, ly->geom.sw); NN__ON_INTS4("pads", ly->geom.ph, ly->geom.pw);
            NN__ON_INT("count_include_pad", ly->count_include_pad); NN__ON_OUT(-1); NN__ON_END
        break;
    case NN_LAYER_GLOBAL_AVGPOOL: /* (N, C, 1, 1), then flat as nn.h has it */
        NN__ON_BEGIN("GlobalAveragePool") NN__ON_IN(in); NN__ON_OUT(k); NN__ON_END
        NN__ON_BEGIN("Flatten") nn__onnx_name(nd->in[nd->n_in++], x, l, k); NN__ON_INT("axis", 1); NN__ON_OUT(-1);
            NN__ON_END
        break;
    case NN_LAYER_FLATTEN: /* a view: a node only where the input is an image */
        break;
    case NN_LAYER_ACT:
        switch (ly->act) {
        case NN_ACT_IDENTITY: break;
        case NN_ACT_RELU: NN__ON_BEGIN("Relu") NN__ON_IN(in); NN__ON_OUT(-1); NN__ON_END break;
        case NN_ACT_SIGMOID: NN__ON_BEGIN("Sigmoid") NN__ON_IN(in); NN__ON_OUT(-1); NN__ON_END break;
        case NN_ACT_TANH: NN__ON_BEGIN("Tanh") NN__ON_IN(in); NN__ON_OUT(-1); NN__ON_END break;
        case NN_ACT_SOFTPLUS: NN__ON_BEGIN("Softplus") NN__ON_IN(in); NN__ON_OUT(-1); NN__ON_END break;
        case NN_ACT_SOFTMAX: NN__ON_BEGIN("Softmax") NN__ON_IN(in); NN__ON_INT("axis", 1); NN__ON_OUT(-1); NN__ON_END
            break;
        case NN_ACT_LEAKY_RELU:
            NN__ON_BEGIN("LeakyRelu") NN__ON_IN(in); NN__ON_FLT("alpha", ly->alpha); NN__ON_OUT(-1); NN__ON_END break;
        case NN_ACT_ELU: NN__ON_BEGIN("Elu") NN__ON_IN(in); NN__ON_FLT("alpha", ly->alpha); NN__ON_OUT(-1); NN__ON_END
            break;
        case NN_ACT_SILU: /* x sigmoid(x) */
            NN__ON_BEGIN("Sigmoid") NN__ON_IN(in); NN__ON_OUT(k); NN__ON_END
            NN__ON_BEGIN("Mul") NN__ON_IN(in); nn__onnx_name(nd->in[nd->n_in++], x, l, k); NN__ON_OUT(-1); NN__ON_END
            break;
        case NN_ACT_GELU: /* x 0.5 (1 + erf(x / sqrt 2)): opset 17 has no Gelu */
            NN__ON_BEGIN("Mul") NN__ON_IN(in); NN__ON_IN("c.rsqrt2"); NN__ON_OUT(k); NN__ON_END
            NN__ON_BEGIN("Erf") nn__onnx_name(nd->in[nd->n_in++], x, l, k); NN__ON_OUT(k + 1); NN__ON_END
            NN__ON_BEGIN("Add") nn__onnx_name(nd->in[nd->n_in++], x, l, k + 1); NN__ON_IN("c.one"); NN__ON_OUT(k + 2);
                NN__ON_END
            NN__ON_BEGIN("Mul") NN__ON_IN(in); NN__ON_IN("c.half"); NN__ON_OUT(k + 3); NN__ON_END
            NN__ON_BEGIN("Mul") nn__onnx_name(nd->in[nd->n_in++], x, l, k + 3);
                nn__onnx_name(nd->in[nd->n_in++], x, l, k + 2); NN__ON_OUT(-1); NN__ON_END
            break;
        case NN_ACT_GELU_TANH: /* x 0.5 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
            NN__ON_BEGIN("Mul") NN__ON_IN(in); NN__ON_IN(in); NN__ON_OUT(k); NN__ON_END
            NN__ON_BEGIN("Mul") nn__onnx_name(nd->in[nd->n_in++], x, l, k); NN__ON_IN("c.gelu_c"); NN__ON_OUT(k + 1);
                NN__ON_END
            NN__ON_BEGIN("Add") nn__onnx_name(nd->in[nd->n_in++], x, l, k + 1); NN__ON_IN("c.one"); NN__ON_OUT(k + 2);
                NN__ON_END
            NN__ON_BEGIN("Mul") NN__ON_IN(in); nn__onnx_name(nd->in[nd->n_in++], x, l, k + 2); NN__ON_OUT(k + 3);
                NN__ON_END
            NN__ON_BEGIN("Mul") nn__onnx_name(nd->in[nd->n_in++], x, l, k + 3); NN__ON_IN("c.sqrt2pi"); NN__ON_OUT(k + 4);
                NN__ON_END
            NN__ON_BEGIN("Tanh") nn__onnx_name(nd->in[nd->n_in++], x, l, k + 4); NN__ON_OUT(k + 5); NN__ON_END
            NN__ON_BEGIN("Add") nn__onnx_name(nd->in[nd->n_in++], x, l, k + 5); NN__ON_IN("c.one"); NN__ON_OUT(k + 6);
                NN__ON_END
            NN__ON_BEGIN("Mul") NN__ON_IN(in); NN__ON_IN("c.half"); NN__ON_OUT(k + 7); NN__ON_END
            NN__ON_BEGIN("Mul") nn__onnx_name(nd->in[nd->n_in++], x, l, k + 7);
                nn__onnx_name(nd->in[nd->n_in++], x, l, k + 6); NN__ON_OUT(-1); NN__ON_END
            break;
        default: break;
        }
        break;
    default: break; /* dropout: the identity in inference */
    }
#undef NN__ON_BEGIN
#undef NN__ON_END
#undef NN__ON_IN
#undef NN__ON_INP
#undef NN__ON_OUT
#undef NN__ON_INT
#undef NN__ON_FLT
#undef NN__ON_INTS2
#undef NN__ON_INTS4
    /* a flatten that is all a layer does: its Flatten writes the layer's output */
    if (n == 1 && flat && j == 0) nn__onnx_name(nd->out, x, l, -1);
    return n;
}

/* Parameters of layer l (i: which), or how many (init NULL). */
static int nn__onnx_inits(const nn__onnx *x, int l, int i, nn__oinit *t) {
    const nn_layer *ly = &x->m->layers[l];
    static const long long shape_dummy[3] = {-1, 0, 0};
    int n = 0;
    nn__oinit tmp;
    if (!t) t = &tmp;
    memset(t, 0, sizeof *t);
    (void)shape_dummy;
#define NN__OI(nm, p, cnt, r, d0, d1, d2, d3) \
    if (n++ == i) { sprintf(t->name, "l%d." nm, l); t->f = (p); t->n = (cnt); t->rank = (r); \
        t->dims[0] = (d0); t->dims[1] = (d1); t->dims[2] = (d2); t->dims[3] = (d3); }
    switch (ly->kind) {
    case NN_LAYER_DENSE:
    case NN_LAYER_MAXOUT: {
        int rows = ly->w.shape[0], cols = ly->w.shape[1];
        /* weight standardization: the standardized weights the forward uses */
        const float *w = ly->weight_std ? ly->z : ly->w.data;
        NN__OI("weight", w, (size_t)rows * cols, 2, rows, cols, 0, 0)
        if (ly->b.data) { NN__OI("bias", ly->b.data, (size_t)rows, 1, rows, 0, 0, 0) }
        if (ly->kind == NN_LAYER_MAXOUT && n++ == i) {
            sprintf(t->name, "l%d.shape", l);
            t->is_i64 = 1; t->n = 3; t->rank = 1; t->dims[0] = 3;
        }
        break;
    }
    case NN_LAYER_CONV2D: {
        int oc = ly->w.shape[0], cg = ly->w.shape[1] / (ly->geom.kh * ly->geom.kw);
        NN__OI("weight", ly->w.data, (size_t)ly->w.shape[0] * ly->w.shape[1], 4, oc, cg, ly->geom.kh, ly->geom.kw)
        if (ly->b.data) { NN__OI("bias", ly->b.data, (size_t)oc, 1, oc, 0, 0, 0) }
        break;
    }
    case NN_LAYER_BATCHNORM:
    case NN_LAYER_BATCHNORM2D:
    case NN_LAYER_LAYERNORM: {
        int c = (int)nn_tensor_size(ly->w);
        NN__OI("weight", ly->w.data, (size_t)c, 1, c, 0, 0, 0)
        NN__OI("bias", ly->b.data, (size_t)c, 1, c, 0, 0, 0)
        if (ly->kind != NN_LAYER_LAYERNORM) {
            NN__OI("running_mean", ly->running_mean, (size_t)c, 1, c, 0, 0, 0)
            NN__OI("running_var", ly->running_var, (size_t)c, 1, c, 0, 0, 0)
        }
        break;
    }
    default: break;
    }
#undef NN__OI
    return n;
}

static void nn__onnx_w_tensor(nn__pb *w, const void *ctx, int i) {
    const nn__oinit *t = (const nn__oinit *)ctx;
    size_t k;
    int d;
    (void)i;
    for (d = 0; d < t->rank; d++) nn__pb_int(w, 1, t->dims[d]);      /* dims */
    nn__pb_int(w, 2, t->is_i64 ? 7 : 1);                             /* data_type INT64 / FLOAT */
    nn__pb_str(w, 8, t->name);                                        /* name */
    nn__pb_key(w, 9, 2);                                              /* raw_data, little-endian */
    nn__pb_varint(w, t->n * (t->is_i64 ? 8 : 4));
    for (k = 0; k < t->n; k++) {
        if (t->is_i64) {
            uint64_t u = (uint64_t)t->i64[k];
            unsigned char b[8];
            int j;
            for (j = 0; j < 8; j++) b[j] = (unsigned char)(u >> (8 * j));
            nn__pb_raw(w, b, 8);
        } else {
            nn__pb_f32(w, t->f[k]);
        }
    }
}
static void nn__onnx_w_attr(nn__pb *w, const void *ctx, int i) {
    const nn__oattr *a = (const nn__oattr *)ctx;
    int k;
    (void)i;
    nn__pb_str(w, 1, a->name);
    if (a->type == 1) {
        nn__pb_key(w, 2, 5);
        nn__pb_f32(w, a->f);
    } else if (a->type == 2) {
        nn__pb_int(w, 3, a->i);
    } else {
        for (k = 0; k < a->n; k++) nn__pb_int(w, 8, a->ints[k]);
    }
    nn__pb_int(w, 20, a->type);
}
static void nn__onnx_w_node(nn__pb *w, const void *ctx, int i) {
    const nn__onode *nd = (const nn__onode *)ctx;
    int k;
    char name[NN__ONAME + 8];
    for (k = 0; k < nd->n_in; k++) nn__pb_str(w, 1, nd->in[k]);
    nn__pb_str(w, 2, nd->out);
    sprintf(name, "n%d", i);
    nn__pb_str(w, 3, name);
    nn__pb_str(w, 4, nd->op);
    for (k = 0; k < nd->n_attr; k++) nn__pb_msg(w, 5, nn__onnx_w_attr, &nd->attr[k], 0);
}
/* ValueInfoProto of the graph's input (i 0) or output (i 1): float, batch "N" */
static void nn__onnx_w_dim(nn__pb *w, const void *ctx, int v) {
    (void)ctx;
    if (v < 0) nn__pb_str(w, 2, "N");
    else nn__pb_int(w, 1, v);
}
static void nn__onnx_w_shape(nn__pb *w, const void *ctx, int i) {
    const nn__onnx *x = (const nn__onnx *)ctx;
    nn__pb_msg(w, 1, nn__onnx_w_dim, NULL, -1);
    if (i == 0 && x->image_in) {
        nn__pb_msg(w, 1, nn__onnx_w_dim, NULL, x->m->input_shape[0]);
        nn__pb_msg(w, 1, nn__onnx_w_dim, NULL, x->m->input_shape[1]);
        nn__pb_msg(w, 1, nn__onnx_w_dim, NULL, x->m->input_shape[2]);
    } else {
        nn__pb_msg(w, 1, nn__onnx_w_dim, NULL, i == 0 ? x->m->inputs : x->m->outputs);
    }
}
static void nn__onnx_w_ttype(nn__pb *w, const void *ctx, int i) {
    nn__pb_int(w, 1, 1); /* elem_type FLOAT */
    nn__pb_msg(w, 2, nn__onnx_w_shape, ctx, i);
}
static void nn__onnx_w_type(nn__pb *w, const void *ctx, int i) { nn__pb_msg(w, 1, nn__onnx_w_ttype, ctx, i); }
static void nn__onnx_w_vinfo(nn__pb *w, const void *ctx, int i) {
    nn__pb_str(w, 1, i == 0 ? "input" : "output");
    nn__pb_msg(w, 2, nn__onnx_w_type, ctx, i);
}
static void nn__onnx_w_graph(nn__pb *w, const void *ctx, int unused) {
    const nn__onnx *x = (const nn__onnx *)ctx;
    int l, j, n, id = 0, need_c = 0;
    nn__onode nd;
    nn__oinit t;
    (void)unused;
    for (l = 0; l < x->m->n_layers; l++) {
        n = nn__onnx_nodes(x, l, -1, NULL);
        for (j = 0; j < n; j++) {
            nn__onnx_nodes(x, l, j, &nd);
            nn__pb_msg(w, 1, nn__onnx_w_node, &nd, id++);
        }
        if (x->m->layers[l].kind == NN_LAYER_ACT &&
            (x->m->layers[l].act == NN_ACT_GELU || x->m->layers[l].act == NN_ACT_GELU_TANH))
            need_c = 1;
    }
    if (x->last < 0) { /* nothing to compute: the output is the input */
        memset(&nd, 0, sizeof nd);
        nd.op = x->image_in ? "Flatten" : "Identity";
        strcpy(nd.in[0], "input");
        nd.n_in = 1;
        strcpy(nd.out, "output");
        if (x->image_in) {
            nd.attr[0].name = "axis"; nd.attr[0].type = 2; nd.attr[0].i = 1; nd.n_attr = 1;
        }
        nn__pb_msg(w, 1, nn__onnx_w_node, &nd, id++);
    }
    nn__pb_str(w, 2, "nn.h");
    for (l = 0; l < x->m->n_layers; l++) {
        long long shape[3];
        n = nn__onnx_inits(x, l, -1, NULL);
        for (j = 0; j < n; j++) {
            nn__onnx_inits(x, l, j, &t);
            if (t.is_i64) { /* maxout's reshape: (-1, out, k) */
                shape[0] = -1;
                shape[1] = x->m->layers[l].out;
                shape[2] = x->m->layers[l].k;
                t.i64 = shape;
            }
            nn__pb_msg(w, 5, nn__onnx_w_tensor, &t, 0);
        }
    }
    if (need_c) {
        static const char *names[5] = {"c.rsqrt2", "c.one", "c.half", "c.sqrt2pi", "c.gelu_c"};
        for (j = 0; j < 5; j++) {
            memset(&t, 0, sizeof t);
            strcpy(t.name, names[j]);
            t.f = j < 4 ? &nn__onnx_consts[j] : &nn__onnx_c044;
            t.n = 1;
            t.rank = 0; /* a scalar */
            nn__pb_msg(w, 5, nn__onnx_w_tensor, &t, 0);
        }
    }
    nn__pb_msg(w, 11, nn__onnx_w_vinfo, x, 0);
    nn__pb_msg(w, 12, nn__onnx_w_vinfo, x, 1);
}
static void nn__onnx_w_opset(nn__pb *w, const void *ctx, int i) {
    (void)ctx; (void)i;
    nn__pb_str(w, 1, "");
    nn__pb_int(w, 2, 17);
}
static void nn__onnx_w_model(nn__pb *w, const void *ctx, int i) {
    (void)i;
    nn__pb_int(w, 1, 8); /* ir_version */
    nn__pb_str(w, 2, "nn.h");
    nn__pb_str(w, 3, NN_VERSION_STRING);
    nn__pb_msg(w, 7, nn__onnx_w_graph, ctx, 0);
    nn__pb_msg(w, 8, nn__onnx_w_opset, NULL, 0);
}

static nn_result nn__onnx_plan(nn__onnx *x, const nn_model *m, char *err) {
    int l, prev = -1, img;
    /* weight standardization: the weights the forward uses, made now (into
       the layer's own scratch, as a forward would) */
    for (l = 0; l < m->n_layers; l++)
        if (m->layers[l].kind == NN_LAYER_DENSE && m->layers[l].weight_std && m->layers[l].z)
            nn_weight_std_forward(nn_tensor_2d(m->layers[l].z, m->layers[l].w.shape[0], m->layers[l].w.shape[1]),
                                  m->layers[l].save_a, m->layers[l].w, m->layers[l].eps);
    x->m = m;
    x->last = -1;
    x->image_in = m->input_shape[1] * m->input_shape[2] > 1;
    img = x->image_in;
    for (l = 0; l < m->n_layers; l++) {
        const nn_layer *ly = &m->layers[l];
        int takes_image = nn__onnx_image(ly) ||
                          ((ly->kind == NN_LAYER_ACT && ly->act != NN_ACT_SOFTMAX) || ly->kind == NN_LAYER_DROPOUT ||
                           ly->kind == NN_LAYER_DROPOUT2D);
        if (ly->kind == NN_LAYER_AVGPOOL2D && (ly->geom.dil_h != 1 || ly->geom.dil_w != 1))
            return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: layer %d: average pooling with dilation (no opset 17 form)", l);
        x->src[l] = prev;
        x->flat_in[l] = img && !takes_image;
        if (x->flat_in[l]) img = 0;
        if (ly->kind == NN_LAYER_GLOBAL_AVGPOOL) img = 0;
        else if (nn__onnx_image(ly)) img = 1;
        if (nn__onnx_nodes(x, l, -1, NULL) > 0) prev = l;
    }
    /* the graph's output is flat, as nn.h's: a last image gets flattened */
    if (img) return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: the model ends on an image; end it with flatten");
    x->last = prev;
    return NN_OK;
}

NNDEF nn_result nn_model_export_onnx_to_memory(const nn_model *m, void *buf, size_t cap, size_t *len) {
    nn__onnx x; /* 8 KB */
    nn__pb w;
    nn_result r;
    if (!m || !len) return NN_ERR_INVALID_ARGUMENT;
    r = nn__onnx_plan(&x, m, NULL);
    if (r != NN_OK) return r;
    w.buf = NULL; w.cap = 0; w.len = 0;
    nn__onnx_w_model(&w, &x, 0);
    *len = w.len;
    if (!buf) return NN_OK;
    if (cap < w.len) return NN_ERR_TOO_LARGE;
    w.buf = (unsigned char *)buf; w.cap = cap; w.len = 0;
    nn__onnx_w_model(&w, &x, 0);
    return NN_OK;
}

/* ---- ONNX import ----------------------------------------------------------
   A chain of the operators nn.h has layers for, as torch.onnx.export writes
   them (batch norm folded into the convolution before it, initializers
   renamed: matched by position in the graph, never by name). The reader
   treats the file as hostile: every length and count is checked against
   the bytes there and against fixed limits before use; the scratch it
   allocates (NN_MALLOC) is bounded by those limits. */
#define NN__OX_NODES 256
#define NN__OX_INITS 256
#define NN__OX_INS 5
#define NN__OX_ATTRS 8

typedef struct nn__pr {
    const unsigned char *p;
    size_t n, i;
    int bad;
} nn__pr;
typedef struct nn__ostr {
    const unsigned char *p;
    size_t n;
} nn__ostr;

static uint64_t nn__pr_varint(nn__pr *r) {
    uint64_t v = 0;
    int s;
    for (s = 0; s < 64; s += 7) {
        unsigned char b;
        if (r->i >= r->n) break;
        b = r->p[r->i++];
        v |= (uint64_t)(b & 0x7F) << s;
        if (!(b & 0x80)) return v;
    }
    r->bad = 1;
    return 0;
}
/* One field: its number and wire type; a length-delimited field's bytes in
   *sub, a varint's or fixed value in *v. 0 at the end or on bad bytes. */
static int nn__pr_next(nn__pr *r, int *field, int *wire, nn__pr *sub, uint64_t *v) {
    uint64_t key;
    if (r->bad || r->i >= r->n) return 0;
    key = nn__pr_varint(r);
    if (r->bad || key >> 3 == 0 || key >> 3 > 536870911u) return r->bad = 1, 0;
    *field = (int)(key >> 3);
    *wire = (int)(key & 7);
    *v = 0;
    switch (*wire) {
    case 0: *v = nn__pr_varint(r); break;
    case 1: if (r->n - r->i < 8) return r->bad = 1, 0; r->i += 8; break;
    case 2: {
        uint64_t len = nn__pr_varint(r);
        if (r->bad || len > r->n - r->i) return r->bad = 1, 0;
        sub->p = r->p + r->i; sub->n = (size_t)len; sub->i = 0; sub->bad = 0;
        r->i += (size_t)len;
        break;
    }
    case 5: {
        if (r->n - r->i < 4) return r->bad = 1, 0;
        *v = nn__le32(r->p + r->i);
        r->i += 4;
        break;
    }
    default: return r->bad = 1, 0; /* groups (3, 4) and the rest: not in ONNX files */
    }
    return !r->bad;
}
static nn__ostr nn__pr_str(const nn__pr *s) {
    nn__ostr o;
    o.p = s->p; o.n = s->n;
    return o;
}
static int nn__ostr_is(nn__ostr s, const char *z) { return s.n == strlen(z) && !memcmp(s.p, z, s.n); }
static int nn__ostr_eq(nn__ostr a, nn__ostr b) { return a.n == b.n && (!a.n || !memcmp(a.p, b.p, a.n)); }

typedef struct nn__oxattr {
    nn__ostr name;
    int has_f, has_i, n_ints;
    float f;
    long long i, ints[8];
    nn__ostr s; /* a string (auto_pad) */
    int has_s;
    nn__pr t;   /* a tensor (Constant's value) */
    int has_t;
} nn__oxattr;
typedef struct nn__oxnode {
    nn__ostr op, in[NN__OX_INS], out;
    int n_in, n_out, n_attr;
    nn__oxattr attr[NN__OX_ATTRS];
} nn__oxnode;
typedef struct nn__oxinit {
    nn__ostr name;
    int rank, type;
    long long dims[4];
    nn__ostr raw;     /* raw_data, or packed float_data / int64_data */
    int packed;       /* 1: float_data, 2: int64_data (varints) */
} nn__oxinit;
typedef struct nn__oxgraph {
    nn__oxnode node[NN__OX_NODES];
    nn__oxinit init[NN__OX_INITS];
    int n_node, n_init;
    nn__ostr in_name;
    int in_rank;
    long long in_dims[4];
} nn__oxgraph;

static int nn__ox_tensor(nn__oxinit *t, nn__pr r) {
    nn__pr s;
    int f, w;
    uint64_t v;
    NN__ZERO(s);
    memset(t, 0, sizeof *t);
    while (nn__pr_next(&r, &f, &w, &s, &v)) {
        if (f == 1 && w == 0) { /* dims */
            if (t->rank >= 4 || v > 0x7FFFFFFFu) return 0;
            t->dims[t->rank++] = (long long)v;
        } else if (f == 1 && w == 2) { /* packed dims */
            while (s.i < s.n) {
                uint64_t d = nn__pr_varint(&s);
                if (s.bad || t->rank >= 4 || d > 0x7FFFFFFFu) return 0;
                t->dims[t->rank++] = (long long)d;
            }
        } else if (f == 2 && w == 0) t->type = (int)(v & 0xFF) == (int)v ? (int)v : -1;
        else if (f == 8 && w == 2) t->name = nn__pr_str(&s);
        else if (f == 9 && w == 2) t->raw = nn__pr_str(&s), t->packed = 0;
        else if (f == 4 && w == 2) t->raw = nn__pr_str(&s), t->packed = 1;
        else if (f == 7 && w == 2) t->raw = nn__pr_str(&s), t->packed = 2;
        else if (f == 14 && w == 0 && v != 0) return 0; /* external data: not in this file */
    }
    return !r.bad;
}

static int nn__ox_node(nn__oxgraph *g, nn__pr r) {
    nn__oxnode *nd;
    nn__pr s, a;
    int f, w, fa, wa;
    uint64_t v, va;
    NN__ZERO(s);
    NN__ZERO(a);
    if (g->n_node >= NN__OX_NODES) return 0;
    nd = &g->node[g->n_node++];
    memset(nd, 0, sizeof *nd);
    while (nn__pr_next(&r, &f, &w, &s, &v)) {
        if (f == 1 && w == 2) {
            if (nd->n_in >= NN__OX_INS) return 0;
            nd->in[nd->n_in++] = nn__pr_str(&s);
        } else if (f == 2 && w == 2) {
            if (nd->n_out++ == 0) nd->out = nn__pr_str(&s);
        } else if (f == 4 && w == 2) {
            nd->op = nn__pr_str(&s);
        } else if (f == 7 && w == 2) {
            if (s.n && !(s.n == 7 && !memcmp(s.p, "ai.onnx", 7))) return 0; /* only the default domain */
        } else if (f == 5 && w == 2) {
            nn__oxattr *at;
            if (nd->n_attr >= NN__OX_ATTRS) return 0;
            at = &nd->attr[nd->n_attr++];
            memset(at, 0, sizeof *at);
            while (nn__pr_next(&s, &fa, &wa, &a, &va)) {
                if (fa == 1 && wa == 2) at->name = nn__pr_str(&a);
                else if (fa == 2 && wa == 5) {
                    uint32_t u = (uint32_t)va;
                    memcpy(&at->f, &u, 4);
                    at->has_f = 1;
                } else if (fa == 3 && wa == 0) at->i = (long long)va, at->has_i = 1;
                else if (fa == 8 && wa == 0) {
                    if (at->n_ints >= 8) return 0;
                    at->ints[at->n_ints++] = (long long)va;
                } else if (fa == 8 && wa == 2) {
                    while (a.i < a.n) {
                        uint64_t d = nn__pr_varint(&a);
                        if (a.bad || at->n_ints >= 8) return 0;
                        at->ints[at->n_ints++] = (long long)d;
                    }
                } else if (fa == 4 && wa == 2) at->s = nn__pr_str(&a), at->has_s = 1;
                else if (fa == 5 && wa == 2) at->t = a, at->has_t = 1;
            }
            if (s.bad) return 0;
        }
    }
    return !r.bad && nd->op.n && nd->n_out >= 1;
}

static int nn__ox_parse(nn__oxgraph *g, const void *buf, size_t len) {
    nn__pr r, s, gr, t, u;
    int f, w, f2, w2, f3, w3, f4, w4, have_graph = 0, opset = 0, outputs = 0;
    uint64_t v, v2, v3, v4;
    NN__ZERO(s);
    NN__ZERO(gr);
    NN__ZERO(t);
    NN__ZERO(u);
    g->n_node = g->n_init = 0;
    g->in_name.p = NULL; g->in_name.n = 0; g->in_rank = 0;
    r.p = (const unsigned char *)buf; r.n = len; r.i = 0; r.bad = 0;
    while (nn__pr_next(&r, &f, &w, &s, &v)) {
        if (f == 8 && w == 2) { /* opset_import: the default domain's version, 7 and up */
            nn__pr d;
            nn__ostr dom;
            NN__ZERO(d);
            long long ver = 0;
            dom.p = NULL; dom.n = 0;
            while (nn__pr_next(&s, &f2, &w2, &d, &v2)) {
                if (f2 == 1 && w2 == 2) dom = nn__pr_str(&d);
                else if (f2 == 2 && w2 == 0) ver = (long long)v2;
            }
            if (s.bad) return 0;
            if ((dom.n == 0 || nn__ostr_is(dom, "ai.onnx")) && ver >= 7 && ver <= 64) opset = 1;
            continue;
        }
        if (f != 7 || w != 2) continue; /* ir_version, producer...: read by nobody here */
        if (have_graph++) return 0;
        gr = s;
        while (nn__pr_next(&gr, &f2, &w2, &t, &v2)) {
            if (w2 != 2) continue;
            if (f2 == 1) {
                if (!nn__ox_node(g, t)) return 0;
            } else if (f2 == 5) {
                if (g->n_init >= NN__OX_INITS || !nn__ox_tensor(&g->init[g->n_init++], t)) return 0;
            } else if (f2 == 12) {
                outputs++;
            } else if (f2 == 11 && !g->in_name.p) { /* the first input that is not an initializer */
                nn__ostr name;
                long long dims[4];
                int rank = 0, i, is_init = 0;
                name.p = NULL; name.n = 0;
                while (nn__pr_next(&t, &f3, &w3, &u, &v3)) {
                    if (f3 == 1 && w3 == 2) name = nn__pr_str(&u);
                    else if (f3 == 2 && w3 == 2) { /* TypeProto -> tensor_type -> shape -> dim */
                        nn__pr tt, sh, dim, x;
                        int f5, w5;
                        uint64_t v5;
                        NN__ZERO(tt);
                        NN__ZERO(sh);
                        NN__ZERO(dim);
                        NN__ZERO(x);
                        while (nn__pr_next(&u, &f4, &w4, &tt, &v4))
                            if (f4 == 1 && w4 == 2)
                                while (nn__pr_next(&tt, &f5, &w5, &sh, &v5))
                                    if (f5 == 2 && w5 == 2)
                                        while (nn__pr_next(&sh, &f4, &w4, &dim, &v4))
                                            if (f4 == 1 && w4 == 2) {
                                                long long dv = -1;
                                                while (nn__pr_next(&dim, &f5, &w5, &x, &v5))
                                                    if (f5 == 1 && w5 == 0) dv = v5 > 0x7FFFFFFFu ? -2 : (long long)v5;
                                                if (rank >= 4 || dv == -2) return 0;
                                                dims[rank++] = dv;
                                            }
                    }
                }
                for (i = 0; i < g->n_init; i++) is_init |= nn__ostr_eq(g->init[i].name, name);
                if (!is_init && name.p) {
                    g->in_name = name;
                    g->in_rank = rank;
                    memcpy(g->in_dims, dims, sizeof(long long) * (size_t)rank);
                }
            }
        }
        if (gr.bad) return 0;
    }
    /* Constant nodes' values: initializers named by the node's output */
    {
        int i, k;
        for (i = 0; i < g->n_node; i++) {
            const nn__oxnode *nd = &g->node[i];
            if (!nn__ostr_is(nd->op, "Constant")) continue;
            for (k = 0; k < nd->n_attr; k++)
                if (nn__ostr_is(nd->attr[k].name, "value") && nd->attr[k].has_t) {
                    if (g->n_init >= NN__OX_INITS || !nn__ox_tensor(&g->init[g->n_init], nd->attr[k].t)) return 0;
                    g->init[g->n_init++].name = nd->out;
                }
        }
    }
    /* no opset or no output: a file cut short at a field's end (protobuf
       has no length of its own; both writers put them last) */
    return !r.bad && have_graph == 1 && opset && outputs >= 1 && g->in_name.p != NULL;
}

static const nn__oxinit *nn__ox_find(const nn__oxgraph *g, nn__ostr name) {
    int i;
    for (i = 0; i < g->n_init; i++)
        if (nn__ostr_eq(g->init[i].name, name)) return &g->init[i];
    return NULL;
}
static const nn__oxattr *nn__ox_attr(const nn__oxnode *nd, const char *name) {
    int i;
    for (i = 0; i < nd->n_attr; i++)
        if (nn__ostr_is(nd->attr[i].name, name)) return &nd->attr[i];
    return NULL;
}
static long long nn__ox_int(const nn__oxnode *nd, const char *name, long long dflt) {
    const nn__oxattr *a = nn__ox_attr(nd, name);
    return a && a->has_i ? a->i : dflt;
}
static float nn__ox_float(const nn__oxnode *nd, const char *name, float dflt) {
    const nn__oxattr *a = nn__ox_attr(nd, name);
    return a && a->has_f ? a->f : dflt;
}
/* 2 ints of an attribute (kernel_shape, strides, dilations), or the default */
static int nn__ox_pair(const nn__oxnode *nd, const char *name, int dflt, int *out) {
    const nn__oxattr *a = nn__ox_attr(nd, name);
    if (!a) {
        out[0] = out[1] = dflt;
        return 1;
    }
    if (a->n_ints != 2 || a->ints[0] < 1 || a->ints[1] < 1 || a->ints[0] > 4096 || a->ints[1] > 4096) return 0;
    out[0] = (int)a->ints[0];
    out[1] = (int)a->ints[1];
    return 1;
}
/* pads (top, left, bottom, right): nn.h pads both sides alike; auto_pad
   other than NOTSET is refused */
static int nn__ox_pads(const nn__oxnode *nd, int *out) {
    const nn__oxattr *a = nn__ox_attr(nd, "pads");
    const nn__oxattr *ap = nn__ox_attr(nd, "auto_pad");
    out[0] = out[1] = 0;
    if (ap && !(ap->has_s && nn__ostr_is(ap->s, "NOTSET"))) return 0;
    if (!a) return 1;
    if (a->n_ints != 4 || a->ints[0] != a->ints[2] || a->ints[1] != a->ints[3] || a->ints[0] < 0 || a->ints[1] < 0 ||
        a->ints[0] > 4096 || a->ints[1] > 4096)
        return 0;
    out[0] = (int)a->ints[0];
    out[1] = (int)a->ints[1];
    return 1;
}
/* an initializer of float32 with these dims (rank r; d0..d3), its data checked */
static int nn__ox_fdata(const nn__oxinit *t, int r, const long long *dims) {
    long long n = 1;
    int i;
    if (!t || t->type != 1 || t->rank != r) return 0;
    for (i = 0; i < r; i++) {
        if (t->dims[i] != dims[i]) return 0;
        n *= dims[i];
    }
    if (t->packed == 0) return (unsigned long long)t->raw.n == (unsigned long long)n * 4u;
    if (t->packed == 1) return (unsigned long long)t->raw.n == (unsigned long long)n * 4u; /* packed fixed32 */
    return 0;
}
static void nn__ox_floats(float *dst, const nn__oxinit *t, size_t n) {
    size_t k;
    for (k = 0; k < n; k++) {
        uint32_t u = nn__le32(t->raw.p + 4 * k);
        memcpy(dst + k, &u, 4);
    }
}

/* The value of a one-float constant or initializer, or NaN */
static float nn__ox_scalar(const nn__oxgraph *g, nn__ostr name) {
    const nn__oxinit *t = nn__ox_find(g, name);
    float f;
    uint32_t u;
    if (!t || t->type != 1 || t->raw.n != 4 || t->packed == 2 || (t->rank && !(t->rank == 1 && t->dims[0] == 1)))
        return NAN;
    u = nn__le32(t->raw.p);
    memcpy(&f, &u, 4);
    return f;
}
static int nn__ox_near(float a, double b) { return fabs((double)a - b) <= 1e-6 * fabs(b); }

/* Multi-node forms of one nn.h layer, as torch.onnx.export (opset 14) and
   nn_model_export_onnx write them; ops in order, Constant nodes left out.
   Every value a node reads is x (the layer's input), an earlier node of the
   form, or a constant of the right value (checked in nn__ox_form). */
typedef struct nn__oxform {
    const char *ops[10];
    int n;
    nn_layer_kind kind;
    nn_act act;
} nn__oxform;
static const nn__oxform nn__ox_forms[] = {
    {{"Div", "Erf", "Add", "Mul", "Mul"}, 5, NN_LAYER_ACT, NN_ACT_GELU},            /* torch GELU */
    {{"Mul", "Erf", "Add", "Mul", "Mul"}, 5, NN_LAYER_ACT, NN_ACT_GELU},            /* nn.h's */
    {{"Mul", "Mul", "Mul", "Add", "Mul", "Tanh", "Add", "Mul", "Mul"}, 9, NN_LAYER_ACT, NN_ACT_GELU_TANH}, /* torch */
    {{"Mul", "Mul", "Add", "Mul", "Mul", "Tanh", "Add", "Mul", "Mul"}, 9, NN_LAYER_ACT, NN_ACT_GELU_TANH}, /* nn.h */
    {{"Sigmoid", "Mul"}, 2, NN_LAYER_ACT, NN_ACT_SILU},
    {{"ReduceMean", "Sub", "Pow", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "Add"}, 9, NN_LAYER_LAYERNORM, NN_ACT_IDENTITY},
    {{"Gemm", "Reshape", "ReduceMax"}, 3, NN_LAYER_MAXOUT, NN_ACT_IDENTITY},
};

/* Does form f start at node i (x: its input)? idx gets its nodes, consts
   its constant inputs in order (up to 8), inits its initializer inputs. */
static int nn__ox_form_at(const nn__oxgraph *g, int i, nn__ostr x, const nn__oxform *f, int *idx, float *consts,
                          int *n_const, const nn__oxinit **inits, int *n_init) {
    int k = 0, j, a;
    *n_const = *n_init = 0;
    for (j = i; j < g->n_node && k < f->n; j++) {
        if (nn__ostr_is(g->node[j].op, "Constant")) continue;
        if (!nn__ostr_is(g->node[j].op, f->ops[k])) return 0;
        idx[k++] = j;
    }
    if (k < f->n) return 0;
    for (k = 0; k < f->n; k++) {
        const nn__oxnode *nd = &g->node[idx[k]];
        for (a = 0; a < nd->n_in; a++) {
            int ok = nn__ostr_eq(nd->in[a], x), m;
            for (m = 0; m < k && !ok; m++) ok = nn__ostr_eq(nd->in[a], g->node[idx[m]].out);
            if (!ok) {
                const nn__oxinit *t = nn__ox_find(g, nd->in[a]);
                float v = nn__ox_scalar(g, nd->in[a]);
                if (!t) return 0;
                if (v == v) {
                    if (*n_const >= 8) return 0;
                    consts[(*n_const)++] = v;
                } else {
                    if (*n_init >= 4) return 0;
                    inits[(*n_init)++] = t;
                }
            }
        }
    }
    return 1;
}

/* The plan: the layers and, per layer, where its parameters come from. */
typedef struct nn__oxplan {
    nn_model_desc md;
    nn_layer_desc layer[NN__OX_NODES];
    const nn__oxinit *src[NN__OX_NODES][4]; /* w, b, mean, var */
    int n;
} nn__oxplan;

static nn_result nn__ox_plan(nn__oxplan *pl, const nn__oxgraph *g, int max_batch, char *err) {
    nn__ostr cur = g->in_name;
    int rank = g->in_rank, c = 0, h = 0, wd = 0, feat = 0, i;
    memset(pl, 0, sizeof *pl);
    if (rank == 2 && g->in_dims[1] > 0) feat = (int)g->in_dims[1];
    else if (rank == 4 && g->in_dims[1] > 0 && g->in_dims[2] > 0 && g->in_dims[3] > 0) {
        c = (int)g->in_dims[1]; h = (int)g->in_dims[2]; wd = (int)g->in_dims[3];
        if ((long long)c * h * wd > 0x7FFFFFF) return nn__fail(err, NN_ERR_TOO_LARGE, "ONNX: input too large");
        feat = c * h * wd;
    } else {
        return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: the input must be (N, features) or (N, C, H, W) with known sizes");
    }
    for (i = 0; i < g->n_node; i++) {
        const nn__oxnode *nd = &g->node[i];
        nn_layer_desc *l = &pl->layer[pl->n];
        const nn__oxinit **src = pl->src[pl->n];
        int add = 1;
        if (nn__ostr_is(nd->op, "Constant")) continue; /* only their values are read, as initializers */
        { /* a form of several nodes */
            int f, idx[10], nc, ni, matched = 0;
            float cs[8];
            const nn__oxinit *ins[4];
            for (f = 0; f < (int)(sizeof nn__ox_forms / sizeof nn__ox_forms[0]) && !matched; f++) {
                const nn__oxform *F = &nn__ox_forms[f];
                if (!nn__ox_form_at(g, i, cur, F, idx, cs, &nc, ins, &ni)) continue;
                if (F->kind == NN_LAYER_ACT) {
                    /* the constants: GELU 1/sqrt2 or sqrt2, 1, 0.5; tanh form 0.044715, sqrt(2/pi), 1, 0.5 */
                    int ok = ni == 0;
                    if (F->act == NN_ACT_GELU) /* x / sqrt 2 (torch) or x * (1 / sqrt 2) (nn.h) */
                        ok = ok && nc == 3 && nn__ox_near(cs[0], f == 0 ? 1.41421356237 : 0.70710678118) &&
                             nn__ox_near(cs[1], 1.0) && nn__ox_near(cs[2], 0.5);
                    if (F->act == NN_ACT_GELU_TANH) {
                        int c, k1 = 0, kb = 0, kh = 0, k05 = 0;
                        for (c = 0; c < nc; c++) {
                            k1 += nn__ox_near(cs[c], 1.0);
                            kb += nn__ox_near(cs[c], 0.7978845608);
                            kh += nn__ox_near(cs[c], 0.044715);
                            k05 += nn__ox_near(cs[c], 0.5);
                        }
                        /* nn.h's form reads 1 twice: x (1 + 0.044715 x^2), then 1 + tanh */
                        ok = ok && nc == (f == 2 ? 4 : 5) && k1 == (f == 2 ? 1 : 2) && kb == 1 && kh == 1 && k05 == 1;
                    }
                    if (F->act == NN_ACT_SILU) ok = ok && nc == 0 && g->node[idx[1]].n_in == 2;
                    if (!ok) continue;
                    *l = nn_activation(F->act);
                } else if (F->kind == NN_LAYER_LAYERNORM) {
                    long long d[1];
                    d[0] = feat;
                    const nn__oxattr *a0 = nn__ox_attr(&g->node[idx[0]], "axes"), *a3 = nn__ox_attr(&g->node[idx[3]], "axes");
                    if (rank != 2 || nc != 2 || !nn__ox_near(cs[0], 2.0) || !NN__IN(cs[1], 0.0f, 1.0f) || ni != 2 ||
                        !nn__ox_fdata(ins[0], 1, d) || !nn__ox_fdata(ins[1], 1, d) || !a0 || !a3 || a0->n_ints != 1 ||
                        a3->n_ints != 1 || (a0->ints[0] != -1 && a0->ints[0] != 1) || a3->ints[0] != a0->ints[0])
                        continue;
                    *l = nn_layernorm();
                    l->eps = cs[1];
                    src[0] = ins[0];
                    src[1] = ins[1];
                } else { /* maxout: Gemm (out k, in), Reshape to (-1, out, k), max over axis 2 */
                    const nn__oxnode *gm = &g->node[idx[0]], *rm = &g->node[idx[2]];
                    const nn__oxattr *ax = nn__ox_attr(rm, "axes");
                    const nn__oxinit *W = gm->n_in > 1 ? nn__ox_find(g, gm->in[1]) : NULL, *sh;
                    long long d[2], out, k;
                    sh = g->node[idx[1]].n_in > 1 ? nn__ox_find(g, g->node[idx[1]].in[1]) : NULL;
                    if (rank != 2 || !W || W->rank != 2 || !sh || sh->type != 7 || sh->rank != 1 || sh->dims[0] != 3 ||
                        sh->raw.n != 24 || sh->packed != 0 || !ax || ax->n_ints != 1 || ax->ints[0] != 2 ||
                        nn__ox_int(rm, "keepdims", 1) != 0 || nn__ox_int(gm, "transB", 0) != 1)
                        continue;
                    {
                        uint64_t v8[3];
                        int e;
                        for (e = 0; e < 3; e++)
                            v8[e] = (uint64_t)nn__le32(sh->raw.p + 8 * e) | (uint64_t)nn__le32(sh->raw.p + 8 * e + 4) << 32;
                        if (v8[0] != UINT64_MAX || v8[1] < 1 || v8[1] > 65536 || v8[2] < 1 || v8[2] > 64) continue;
                        out = (long long)v8[1];
                        k = (long long)v8[2];
                    }
                    d[0] = out * k; d[1] = feat;
                    if (!nn__ox_fdata(W, 2, d)) continue;
                    *l = nn_maxout((int)out, (int)k, NN_ACT_IDENTITY);
                    src[0] = W;
                    if (gm->n_in > 2) {
                        src[1] = nn__ox_find(g, gm->in[2]);
                        if (!nn__ox_fdata(src[1], 1, d)) continue;
                    } else {
                        l->no_bias = 1;
                    }
                    feat = (int)out;
                }
                matched = 1;
                if (pl->n >= NN__OX_NODES - 1 || pl->n >= NN__MAX_LAYERS / 2)
                    return nn__fail(err, NN_ERR_TOO_LARGE, "ONNX: too many layers");
                pl->n++;
                cur = g->node[idx[F->n - 1]].out;
                i = idx[F->n - 1];
            }
            if (matched) continue;
        }
        if (!nd->n_in || !nn__ostr_eq(nd->in[0], cur))
            return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: node %d (%.*s) does not take the previous node's output: "
                            "only chains of layers are read", i, (int)NN__MIN(nd->op.n, 32), (const char *)nd->op.p);
        if (nn__ostr_is(nd->op, "Gemm")) {
            long long d[2];
            const nn__oxinit *W = nd->n_in > 1 ? nn__ox_find(g, nd->in[1]) : NULL;
            if (rank != 2 || nn__ox_int(nd, "transA", 0) != 0 || nn__ox_int(nd, "transB", 0) != 1 ||
                nn__ox_float(nd, "alpha", 1.0f) != 1.0f || nn__ox_float(nd, "beta", 1.0f) != 1.0f || !W || W->rank != 2)
                return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: node %d (Gemm): only y = x W^T + b on flat input", i);
            d[0] = W->dims[0]; d[1] = feat;
            if (!nn__ox_fdata(W, 2, d) || d[0] < 1 || d[0] > 0x1000000)
                return nn__fail(err, NN_ERR_CORRUPT, "ONNX: node %d (Gemm): weights are not float (out, %d)", i, feat);
            *l = nn_dense((int)d[0], NN_ACT_IDENTITY);
            src[0] = W;
            if (nd->n_in > 2) {
                src[1] = nn__ox_find(g, nd->in[2]);
                if (!nn__ox_fdata(src[1], 1, d)) return nn__fail(err, NN_ERR_CORRUPT, "ONNX: node %d (Gemm): bias", i);
            } else {
                l->no_bias = 1;
            }
            feat = (int)d[0];
        } else if (nn__ostr_is(nd->op, "Conv")) {
            const nn__oxinit *W = nd->n_in > 1 ? nn__ox_find(g, nd->in[1]) : NULL;
            int ks[2], st[2], dl[2], pd[2], grp = (int)nn__ox_int(nd, "group", 1), oh, ow;
            long long d[4];
            if (rank != 4 || !W || W->rank != 4 || !nn__ox_pair(nd, "strides", 1, st) || !nn__ox_pair(nd, "dilations", 1, dl) ||
                !nn__ox_pads(nd, pd) || grp < 1 || grp > c || c % grp)
                return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: node %d (Conv): options nn.h has no form for", i);
            d[0] = W->dims[0]; d[1] = c / grp; d[2] = W->dims[2]; d[3] = W->dims[3];
            if (!nn__ox_pair(nd, "kernel_shape", (int)d[2], ks) || ks[0] != d[2] || ks[1] != d[3] || d[0] < 1 ||
                d[0] > 65536 || d[0] % grp || !nn__ox_fdata(W, 4, d))
                return nn__fail(err, NN_ERR_CORRUPT, "ONNX: node %d (Conv): weights are not float (OC, %d, kh, kw)", i,
                                c / grp);
            *l = nn_conv2d((int)d[0], ks[0], st[0], pd[0], NN_ACT_IDENTITY);
            l->kernel[1] = ks[1]; l->stride[1] = st[1]; l->padding[1] = pd[1];
            l->dilation[0] = dl[0]; l->dilation[1] = dl[1]; l->groups = grp;
            src[0] = W;
            if (nd->n_in > 2) {
                src[1] = nn__ox_find(g, nd->in[2]);
                if (!nn__ox_fdata(src[1], 1, d)) return nn__fail(err, NN_ERR_CORRUPT, "ONNX: node %d (Conv): bias", i);
            } else {
                l->no_bias = 1;
            }
            oh = nn_conv2d_out_size(h, ks[0], st[0], pd[0], dl[0]);
            ow = nn_conv2d_out_size(wd, ks[1], st[1], pd[1], dl[1]);
            if (oh < 1 || ow < 1) return nn__fail(err, NN_ERR_SHAPE_MISMATCH, "ONNX: node %d (Conv): no output", i);
            c = (int)d[0]; h = oh; wd = ow;
            if ((long long)c * h * wd > 0x7FFFFFF) return nn__fail(err, NN_ERR_TOO_LARGE, "ONNX: node %d: too large", i);
            feat = c * h * wd;
        } else if (nn__ostr_is(nd->op, "BatchNormalization")) {
            long long d[1];
            int k;
            d[0] = rank == 4 ? c : feat;
            if (nd->n_in != 5 || nn__ox_int(nd, "training_mode", 0) != 0)
                return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: node %d (BatchNormalization): inference form only", i);
            for (k = 0; k < 4; k++) {
                src[k] = nn__ox_find(g, nd->in[k + 1]);
                if (!nn__ox_fdata(src[k], 1, d))
                    return nn__fail(err, NN_ERR_CORRUPT, "ONNX: node %d (BatchNormalization): parameter %d", i, k);
            }
            *l = rank == 4 ? nn_batchnorm2d() : nn_batchnorm();
            l->eps = nn__ox_float(nd, "epsilon", 1e-5f);
            if (!NN__IN(l->eps, 0.0f, 1.0f)) return nn__fail(err, NN_ERR_CORRUPT, "ONNX: node %d: epsilon", i);
        } else if (nn__ostr_is(nd->op, "MaxPool") || nn__ostr_is(nd->op, "AveragePool")) {
            int ks[2], st[2], dl[2], pd[2], mx = nn__ostr_is(nd->op, "MaxPool"), oh, ow;
            if (rank != 4 || !nn__ox_pair(nd, "kernel_shape", 0, ks) || ks[0] < 1 || !nn__ox_pair(nd, "strides", 1, st) ||
                !nn__ox_pair(nd, "dilations", 1, dl) || !nn__ox_pads(nd, pd) || nn__ox_int(nd, "ceil_mode", 0) != 0 ||
                (!mx && (dl[0] != 1 || dl[1] != 1)) || pd[0] > ks[0] / 2 || pd[1] > ks[1] / 2)
                return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: node %d (%s): options nn.h has no form for", i,
                                mx ? "MaxPool" : "AveragePool");
            *l = mx ? nn_maxpool2d(ks[0], st[0], pd[0]) : nn_avgpool2d(ks[0], st[0], pd[0]);
            l->kernel[1] = ks[1]; l->stride[1] = st[1]; l->padding[1] = pd[1];
            if (mx) { l->dilation[0] = dl[0]; l->dilation[1] = dl[1]; }
            else l->count_include_pad = nn__ox_int(nd, "count_include_pad", 0) != 0;
            oh = nn_conv2d_out_size(h, ks[0], st[0], pd[0], dl[0]);
            ow = nn_conv2d_out_size(wd, ks[1], st[1], pd[1], dl[1]);
            if (oh < 1 || ow < 1) return nn__fail(err, NN_ERR_SHAPE_MISMATCH, "ONNX: node %d: no output", i);
            h = oh; wd = ow; feat = c * h * wd;
        } else if (nn__ostr_is(nd->op, "LayerNormalization")) {
            long long d[1];
            long long ax = nn__ox_int(nd, "axis", -1);
            d[0] = feat;
            if (rank != 2 || (ax != -1 && ax != 1) || nd->n_in != 3)
                return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: node %d (LayerNormalization): over flat rows only", i);
            src[0] = nn__ox_find(g, nd->in[1]);
            src[1] = nn__ox_find(g, nd->in[2]);
            if (!nn__ox_fdata(src[0], 1, d) || !nn__ox_fdata(src[1], 1, d))
                return nn__fail(err, NN_ERR_CORRUPT, "ONNX: node %d (LayerNormalization): parameters", i);
            *l = nn_layernorm();
            l->eps = nn__ox_float(nd, "epsilon", 1e-5f);
            if (!NN__IN(l->eps, 0.0f, 1.0f)) return nn__fail(err, NN_ERR_CORRUPT, "ONNX: node %d: epsilon", i);
        } else if (nn__ostr_is(nd->op, "GlobalAveragePool")) {
            if (rank != 4) return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: node %d (GlobalAveragePool) on flat input", i);
            *l = nn_global_avgpool();
            rank = 2; feat = c; /* (N, C, 1, 1): nn.h has it flat; a Flatten after it is nothing more */
        } else if (nn__ostr_is(nd->op, "Flatten")) {
            if (nn__ox_int(nd, "axis", 1) != 1) return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: node %d (Flatten): axis", i);
            if (rank == 4) *l = nn_flatten();
            else add = 0;
            rank = 2;
        } else if (nn__ostr_is(nd->op, "Dropout") || nn__ostr_is(nd->op, "Identity")) {
            add = 0;
        } else {
            static const char *const names[] = {"Relu", "Sigmoid", "Tanh", "Softplus", "LeakyRelu", "Elu", "Softmax"};
            static const nn_act acts[] = {NN_ACT_RELU, NN_ACT_SIGMOID, NN_ACT_TANH, NN_ACT_SOFTPLUS, NN_ACT_LEAKY_RELU,
                                          NN_ACT_ELU, NN_ACT_SOFTMAX};
            int k, found = -1;
            for (k = 0; k < 7; k++)
                if (nn__ostr_is(nd->op, names[k])) found = k;
            if (found < 0)
                return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: node %d: operator %.*s has no nn.h layer", i,
                                (int)NN__MIN(nd->op.n, 32), (const char *)nd->op.p);
            if (acts[found] == NN_ACT_SOFTMAX && (rank != 2 || (nn__ox_int(nd, "axis", -1) != 1 && nn__ox_int(nd, "axis", -1) != -1)))
                return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: node %d (Softmax): over the features of flat rows only", i);
            *l = nn_activation(acts[found]);
            if (acts[found] == NN_ACT_LEAKY_RELU) l->alpha = nn__ox_float(nd, "alpha", 0.01f);
            if (acts[found] == NN_ACT_ELU) l->alpha = nn__ox_float(nd, "alpha", 1.0f);
            if (!(l->alpha - l->alpha == 0.0f)) return nn__fail(err, NN_ERR_CORRUPT, "ONNX: node %d: alpha", i);
        }
        if (add) {
            if (pl->n >= NN__OX_NODES - 1 || pl->n >= NN__MAX_LAYERS / 2)
                return nn__fail(err, NN_ERR_TOO_LARGE, "ONNX: too many layers");
            pl->n++;
        }
        cur = nd->out;
    }
    if (pl->n == 0) return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: no layer");
    if (rank != 2) return nn__fail(err, NN_ERR_UNSUPPORTED, "ONNX: the graph ends on an image");
    pl->md.inputs = g->in_rank == 4 ? (int)(g->in_dims[1] * g->in_dims[2] * g->in_dims[3]) : (int)g->in_dims[1];
    if (g->in_rank == 4) {
        pl->md.input_shape[0] = (int)g->in_dims[1];
        pl->md.input_shape[1] = (int)g->in_dims[2];
        pl->md.input_shape[2] = (int)g->in_dims[3];
    }
    pl->md.max_batch = max_batch;
    pl->md.layers = pl->layer;
    pl->md.n_layers = pl->n;
    pl->md.seed = 0;
    return NN_OK;
}

/* Parse and plan: scratch from NN_MALLOC (bounded), freed by the caller. */
static nn_result nn__ox_read(nn__oxgraph **gp, nn__oxplan **pp, const void *buf, size_t len, int max_batch, char *err) {
    nn_result r;
    *gp = NULL;
    *pp = NULL;
    if (!buf || len < 2) return nn__fail(err, NN_ERR_CORRUPT, "ONNX: empty input");
    if (max_batch < 1 || max_batch > (1 << 20)) return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "ONNX: max_batch %d", max_batch);
    *gp = (nn__oxgraph *)NN_MALLOC(sizeof(nn__oxgraph));
    *pp = (nn__oxplan *)NN_MALLOC(sizeof(nn__oxplan));
    if (!*gp || !*pp) return nn__fail(err, NN_ERR_OUT_OF_MEMORY, "ONNX: no memory for the reader");
    if (!nn__ox_parse(*gp, buf, len))
        return nn__fail(err, NN_ERR_CORRUPT, "ONNX: not a well-formed ONNX model (or beyond %d nodes, %d initializers)",
                        NN__OX_NODES, NN__OX_INITS);
    r = nn__ox_plan(*pp, *gp, max_batch, err);
    if (r == NN_OK) r = nn__model_validate(&(*pp)->md, err);
    return r;
}

NNDEF nn_result nn_model_arena_bytes_from_onnx(size_t *bytes, const void *buf, size_t len, int max_batch) {
    nn__oxgraph *g;
    nn__oxplan *p;
    nn_result r;
    if (!bytes) return NN_ERR_INVALID_ARGUMENT;
    *bytes = 0;
    r = nn__ox_read(&g, &p, buf, len, max_batch, NULL);
    if (r == NN_OK) *bytes = nn_model_arena_bytes(&p->md);
    NN_FREE(g);
    NN_FREE(p);
    return r;
}

NNDEF nn_result nn_model_init_from_onnx(nn_model *m, nn_arena *arena, const void *buf, size_t len, int max_batch) {
    nn__oxgraph *g;
    nn__oxplan *p;
    nn_model t;
    size_t mark;
    nn_result r;
    int l, i = 0;
    if (!m) return NN_ERR_INVALID_ARGUMENT;
    if (!arena) return nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "ONNX: arena is NULL");
    r = nn__ox_read(&g, &p, buf, len, max_batch, m->error);
    if (r != NN_OK) {
        NN_FREE(g);
        NN_FREE(p);
        return r;
    }
    mark = nn_arena_mark(arena);
    memset(&t, 0, sizeof t);
    r = nn_model_init(&t, arena, &p->md);
    if (r != NN_OK) memcpy(m->error, t.error, NN_ERROR_MAX);
    /* the parameters, description layer by description layer: a layer of
       the description is the first model layer of its expansion */
    for (l = 0; r == NN_OK && l < p->n; l++) {
        const nn__oxinit *const *src = p->src[l];
        nn_layer *ly;
        while (i < t.n_layers && t.layers[i].kind != p->layer[l].kind) i++;
        if (i >= t.n_layers) {
            r = nn__fail(m->error, NN_ERR_CORRUPT, "ONNX: layer %d not found in the model built", l);
            break;
        }
        ly = &t.layers[i++];
        if (src[0]) nn__ox_floats(ly->w.data, src[0], nn_tensor_size(ly->w));
        if (src[1] && ly->b.data) nn__ox_floats(ly->b.data, src[1], nn_tensor_size(ly->b));
        if (src[2]) nn__ox_floats(ly->running_mean, src[2], nn_tensor_size(ly->w));
        if (src[3]) nn__ox_floats(ly->running_var, src[3], nn_tensor_size(ly->w));
    }
    NN_FREE(g);
    NN_FREE(p);
    if (r != NN_OK) {
        nn_arena_rewind(arena, mark);
        return r;
    }
    nn_model_set_mode(&t, NN_MODE_EVAL);
    *m = t;
    return NN_OK;
}

#ifndef NN_NO_STDIO
NNDEF nn_result nn_model_init_from_onnx_file(nn_model *m, nn_arena *arena, const char *path, int max_batch) {
    void *buf;
    size_t len;
    nn_result r;
    if (!m) return NN_ERR_INVALID_ARGUMENT;
    r = nn_read_file(&buf, &len, path, NN__MODEL_FILE_MAX);
    if (r != NN_OK) return nn__fail(m->error, r, "ONNX: cannot read %s", path ? path : "(NULL)");
    r = nn_model_init_from_onnx(m, arena, buf, len, max_batch);
    NN_FREE(buf);
    return r;
}
#endif

#ifndef NN_NO_STDIO
NNDEF nn_result nn_model_export_onnx(const nn_model *m, const char *path) {
    size_t len = 0;
    void *buf;
    FILE *f;
    nn_result r = nn_model_export_onnx_to_memory(m, NULL, 0, &len);
    if (r != NN_OK) return r;
    if (!path) return NN_ERR_INVALID_ARGUMENT;
    buf = NN_MALLOC(len ? len : 1);
    if (!buf) return NN_ERR_OUT_OF_MEMORY;
    r = nn_model_export_onnx_to_memory(m, buf, len, &len);
    if (r == NN_OK) {
        f = fopen(path, "wb");
        if (!f) r = NN_ERR_IO;
        else {
            if (fwrite(buf, 1, len, f) != len) r = NN_ERR_IO;
            if (fclose(f) != 0) r = NN_ERR_IO;
        }
    }
    NN_FREE(buf);
    return r;
}
#endif

#ifndef NN_NO_STDIO
NNDEF nn_result nn_checkpoint_update(nn_checkpoint *c, const nn_model *m, const nn_train_state *st,
                                     float metric, int *improved) {
    /* NaN never improves (and never becomes the best) */
    int better = metric == metric && (!c->has_best || (c->mode_max ? metric > c->best : metric < c->best));
    nn_result r = NN_OK;
    if (improved) *improved = better;
    if (c->path_last) r = nn_model_save(m, st, c->path_last);
    if (r == NN_OK && better && c->path_best) r = nn_model_save(m, st, c->path_best);
    if (r == NN_OK && better) {
        c->best = metric;
        c->has_best = 1;
    }
    return r;
}
#endif /* NN_NO_STDIO */

/* == 13. io helpers: crc32, gzip container, IDX ========================== */
NNDEF uint32_t nn_crc32(uint32_t crc, const void *data, size_t len) {
    static const uint32_t tab[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    return nn__crc(crc, data, len, 0xEDB88320u, tab);
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
    if (!gz && len) return NN_ERR_INVALID_ARGUMENT;
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
    /* DEFLATE expands at most 1032:1, so a trailer promising more than that
       was not written for these bytes: the file is cut short (or corrupt) */
    if ((uint64_t)isize > (uint64_t)(len - pos - 8) * 1032u + 1032u) return NN_ERR_TRUNCATED;
    if (isize > max_out) return NN_ERR_TOO_LARGE;
    buf = NN_MALLOC(isize ? isize : 1);
    if (!buf) return NN_ERR_OUT_OF_MEMORY;
    /* (set so that no compiler thinks an inflater that writes nothing leaves
       the checksum reading garbage: it is only read after a success) */
    ((unsigned char *)buf)[0] = 0;
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
    if (!out || (!buf && len)) return NN_ERR_INVALID_ARGUMENT;
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
    long size = -1;
    unsigned char *buf = NULL;
    size_t cap, len = 0;
    int c;
    if (!out || !out_len) return NN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    *out_len = 0;
    if (!path) return NN_ERR_INVALID_ARGUMENT;
    f = fopen(path, "rb");
    if (!f) return NN_ERR_IO;
    /* A directory opens but cannot be read: find out before trusting any size. */
    c = fgetc(f);
    if (c == EOF && ferror(f)) {
        fclose(f);
        return NN_ERR_IO;
    }
    if (c != EOF) ungetc(c, f);
    /* The size is only a hint (procfs reports 0); the read below decides. */
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NN_ERR_IO;
    }
    if (size > 0 && (unsigned long)size > max_bytes) {
        fclose(f);
        return NN_ERR_TOO_LARGE;
    }
    cap = size > 0 ? (size_t)size + 1 : 65536;
    if (cap > max_bytes && max_bytes < SIZE_MAX) cap = max_bytes + 1;
    for (;;) {
        size_t got;
        if (!buf || len == cap) {
            unsigned char *nb;
            if (buf) {
                if (cap > max_bytes) { /* read max_bytes + 1: too large */
                    NN_FREE(buf);
                    fclose(f);
                    return NN_ERR_TOO_LARGE;
                }
                cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
                if (cap > max_bytes && max_bytes < SIZE_MAX) cap = max_bytes + 1;
            }
            nb = (unsigned char *)NN_REALLOC(buf, cap ? cap : 1);
            if (!nb) {
                NN_FREE(buf);
                fclose(f);
                return NN_ERR_OUT_OF_MEMORY;
            }
            buf = nb;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0 || len < cap) {
            if (ferror(f)) {
                NN_FREE(buf);
                fclose(f);
                return NN_ERR_IO;
            }
            if (feof(f)) break;
        }
    }
    fclose(f);
    if (len > max_bytes) {
        NN_FREE(buf);
        return NN_ERR_TOO_LARGE;
    }
    *out = buf;
    *out_len = len;
    return NN_OK;
}

/* IDX files are at most a few hundred MB in practice; refuse anything past 1 GiB. */
#define NN__IDX_MAX_BYTES ((size_t)1 << 30)

NNDEF nn_result nn_idx_load(nn_idx *out, const char *path, nn_inflate_fn inflate) {
    void *raw = NULL, *data;
    size_t raw_len = 0, data_len;
    nn_idx idx;
    nn_result r;
    NN_ASSERT(out);
    r = nn_read_file(&raw, &raw_len, path, NN__IDX_MAX_BYTES);
    if (r != NN_OK) return r;
    data = raw;
    data_len = raw_len;
    if (raw_len >= 2 && ((unsigned char *)raw)[0] == 0x1f && ((unsigned char *)raw)[1] == 0x8b) {
        r = nn_gzip_decode(&data, &data_len, raw, raw_len, NN__IDX_MAX_BYTES, inflate);
        NN_FREE(raw);
        if (r != NN_OK) return r;
    }
    r = nn_idx_parse(&idx, data, data_len);
    if (r != NN_OK) {
        NN_FREE(data);
        return r; /* *out untouched */
    }
    idx.owned = data;
    *out = idx;
    return NN_OK;
}
#endif /* NN_NO_STDIO */

/* == 14. data: CSV, splits, batches, metrics ============================== */
/* ---- CSV ---- */
NNDEF nn_csv_desc nn_csv_desc_default(void) {
    nn_csv_desc d;
    NN__ZERO(d);
    d.delimiter = 0;
    d.header = -1;
    d.label_col = -1;
    d.max_cols = 65536;
    d.max_rows = 1 << 24;
    d.max_bytes = (size_t)1 << 30;
    d.tag = NN_DESC_TAG;
    return d;
}

/* One field of a line: [*b, *e) after unquoting (quoted fields keep their
   doubled quotes; nn__csv_copy undoes them). */
typedef struct nn__csv_cur {
    const char *p, *end;
    long line;   /* 1-based line of p */
    char delim;
} nn__csv_cur;

/* Reads one field; returns 1 when it ended its line (or the text), 0 when a
   delimiter follows, -1 on a quoting error (err filled). */
static int nn__csv_field(nn__csv_cur *c, const char **b, const char **e, int *quoted, char *err, int col) {
    const char *p = c->p;
    *quoted = 0;
    while (p < c->end && (*p == ' ' || (*p == '\t' && c->delim != '\t'))) p++;
    if (p < c->end && *p == '"') {
        long line0 = c->line;
        *quoted = 1;
        *b = ++p;
        for (;;) {
            if (p >= c->end) {
                nn__fail(err, NN_ERR_CORRUPT, "line %ld, column %d: quoted field never closed", line0, col);
                return -1;
            }
            if (*p == '"') {
                if (p + 1 < c->end && p[1] == '"') { p += 2; continue; }
                break;
            }
            if (*p == '\n') c->line++;
            p++;
        }
        *e = p++;
        while (p < c->end && (*p == ' ' || (*p == '\t' && c->delim != '\t'))) p++;
        if (p < c->end && *p != c->delim && *p != '\n' && *p != '\r') {
            nn__fail(err, NN_ERR_CORRUPT, "line %ld, column %d: text after a closing quote", c->line, col);
            return -1;
        }
    } else {
        *b = p;
        while (p < c->end && *p != c->delim && *p != '\n' && *p != '\r') {
            if (*p == '"') {
                nn__fail(err, NN_ERR_CORRUPT, "line %ld, column %d: a quote inside an unquoted field", c->line, col);
                return -1;
            }
            p++;
        }
        *e = p;
        while (*e > *b && ((*e)[-1] == ' ' || ((*e)[-1] == '\t' && c->delim != '\t'))) (*e)--;
    }
    if (p < c->end && *p == c->delim) {
        c->p = p + 1;
        return 0;
    }
    if (p < c->end && *p == '\r') p++;
    if (p < c->end && *p == '\n') p++;
    c->p = p;
    c->line++;
    return 1;
}

/* Skips blank lines (only spaces, tabs, CR). */
static void nn__csv_skip_blank(nn__csv_cur *c) {
    for (;;) {
        const char *q = c->p;
        while (q < c->end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q < c->end && *q == '\n') {
            c->p = q + 1;
            c->line++;
        } else {
            if (q >= c->end) c->p = q;
            return;
        }
    }
}

/* Parses [b, e) as a finite float: 1 if it is one. */
static int nn__csv_number(const char *b, const char *e, float *v) {
    char buf[72], *stop;
    double d;
    size_t n = (size_t)(e - b);
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, b, n);
    buf[n] = 0;
    if (buf[0] == ' ' || buf[0] == '\t') return 0;
    d = strtod(buf, &stop);
    if (stop != buf + n || !(d == d) || d > 3.4028234663852886e38 || d < -3.4028234663852886e38) return 0;
    *v = (float)d;
    return 1;
}

/* Printable excerpt of a field for messages: at most 24 bytes, others as '?'. */
static void nn__csv_excerpt(char *dst, const char *b, const char *e) {
    size_t n = (size_t)(e - b), i;
    if (n > 24) n = 24;
    for (i = 0; i < n; i++) dst[i] = (b[i] >= 32 && b[i] < 127) ? b[i] : '?';
    dst[n] = 0;
}

/* Copies an unquoted field into dst (doubled quotes made single); returns the end. */
static char *nn__csv_copy(char *dst, const char *b, const char *e, int quoted) {
    while (b < e) {
        *dst++ = *b;
        b += (quoted && *b == '"') ? 2 : 1;
    }
    *dst++ = 0;
    return dst;
}

NNDEF nn_result nn_csv_parse(nn_csv *out, const nn_csv_desc *desc, const void *text, size_t len) {
    const char *start = (const char *)text, *b, *e;
    char *err = out ? out->error : NULL, delim, what[32];
    nn__csv_cur c;
    int cols_in = 0, header, label_col, rows = 0, end, col, quoted, q, i;
    size_t cells, off_x, off_y, off_l, off_n, off_s, total, name_bytes = 0, k;
    unsigned char *blk;
    nn_csv t;
    if (!out) return NN_ERR_INVALID_ARGUMENT;
    if (!desc || (!text && len)) return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "csv: %s is NULL", desc ? "text" : "desc");
    if (desc->tag != NN_DESC_TAG)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "csv: description not made by nn_csv_desc_default()");
    if (desc->max_cols < 1 || desc->max_rows < 1 || desc->header < -1 || desc->header > 1 || desc->label_col < -1)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "csv: max_cols, max_rows >= 1; header -1, 0 or 1; label_col >= -1");
    if (len >= 3 && (unsigned char)start[0] == 0xEF && (unsigned char)start[1] == 0xBB && (unsigned char)start[2] == 0xBF) {
        start += 3;
        len -= 3;
    }
    c.p = start;
    c.end = start + len;
    c.line = 1;
    nn__csv_skip_blank(&c);
    if (c.p >= c.end) return nn__fail(err, NN_ERR_CORRUPT, "csv: no data (empty or blank text)");
    /* delimiter: the most frequent candidate outside quotes on the first line */
    delim = desc->delimiter;
    if (!delim) {
        int n_comma = 0, n_semi = 0, n_tab = 0, inq = 0;
        const char *p;
        for (p = c.p; p < c.end && (inq || *p != '\n'); p++) {
            if (*p == '"') inq = !inq;
            else if (!inq) {
                n_comma += *p == ',';
                n_semi += *p == ';';
                n_tab += *p == '\t';
            }
        }
        delim = n_semi > n_comma && n_semi >= n_tab ? ';' : n_tab > n_comma && n_tab > n_semi ? '\t' : ',';
    }
    if (delim == '"' || delim == '\n' || delim == '\r')
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "csv: the delimiter cannot be a quote or a line end");
    c.delim = delim;
    /* first line: count its fields, decide whether it is a header */
    {
        nn__csv_cur c0 = c;
        int all_numbers = 1;
        float v;
        do {
            q = nn__csv_field(&c0, &b, &e, &quoted, err, cols_in + 1);
            if (q < 0) return NN_ERR_CORRUPT;
            if (++cols_in > desc->max_cols)
                return nn__fail(err, NN_ERR_TOO_LARGE, "line %ld: more than %d columns (max_cols)", c.line, desc->max_cols);
            if (!nn__csv_number(b, e, &v)) all_numbers = 0;
            name_bytes += (size_t)(e - b) + 1;
        } while (q == 0);
        header = desc->header == -1 ? !all_numbers : desc->header;
    }
    /* the label column */
    label_col = desc->label_col;
    if (desc->label_name) {
        nn__csv_cur c0 = c;
        size_t nl = strlen(desc->label_name);
        if (!header) return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "csv: label_name \"%.40s\" needs a header line",
                                     desc->label_name);
        label_col = -1;
        for (col = 0; col < cols_in; col++) {
            char name[256];
            q = nn__csv_field(&c0, &b, &e, &quoted, err, col + 1);
            if ((size_t)(e - b) < sizeof name) {
                nn__csv_copy(name, b, e, quoted);
                if (strlen(name) == nl && !memcmp(name, desc->label_name, nl)) {
                    label_col = col;
                    break;
                }
            }
        }
        if (label_col < 0)
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "csv: no column named \"%.40s\" in the header",
                            desc->label_name);
    }
    if (label_col >= cols_in)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "csv: label_col %d, but the first line has %d columns", label_col,
                        cols_in);
    /* pass 1: structure and row count */
    {
        nn__csv_cur c1 = c;
        if (header) {
            do q = nn__csv_field(&c1, &b, &e, &quoted, err, 1); while (q == 0);
        }
        for (;;) {
            long line0;
            nn__csv_skip_blank(&c1);
            if (c1.p >= c1.end) break;
            line0 = c1.line;
            col = 0;
            do {
                q = nn__csv_field(&c1, &b, &e, &quoted, err, col + 1);
                if (q < 0) return NN_ERR_CORRUPT;
                if (++col > cols_in)
                    return nn__fail(err, NN_ERR_CORRUPT, "line %ld: more than the %d fields of the first line", line0,
                                    cols_in);
            } while (q == 0);
            if (col < cols_in)
                return nn__fail(err, NN_ERR_CORRUPT, "line %ld: %d fields, the first line has %d", line0, col, cols_in);
            if (++rows > desc->max_rows)
                return nn__fail(err, NN_ERR_TOO_LARGE, "line %ld: more than %d rows (max_rows)", line0, desc->max_rows);
        }
    }
    if (rows == 0) return nn__fail(err, NN_ERR_CORRUPT, "csv: a header and no rows");
    /* one block: x, y, labels, name pointers, name bytes. Every cell took at
       least one byte of text, so the sizes are bounded by len. */
    {
        size_t fc = (size_t)(cols_in - (label_col >= 0));
        cells = (size_t)rows * fc;
        off_x = 0;
        off_y = off_x + sizeof(float) * cells;
        off_l = off_y + (label_col >= 0 ? sizeof(float) * (size_t)rows : 0);
        off_n = off_l + (label_col >= 0 ? sizeof(int) * (size_t)rows : 0);
        off_n = (off_n + sizeof(char *) - 1) / sizeof(char *) * sizeof(char *);
        off_s = off_n + (header ? sizeof(char *) * (size_t)cols_in : 0);
        total = off_s + (header ? name_bytes : 0);
        blk = (unsigned char *)NN_MALLOC(total ? total : 1);
        if (!blk) return nn__fail(err, NN_ERR_OUT_OF_MEMORY, "csv: %lu bytes for %d rows", (unsigned long)total, rows);
        NN__ZERO(t);
        t.rows = rows;
        t.cols = (int)fc;
        t.x = (float *)(blk + off_x);
        t.y = label_col >= 0 ? (float *)(blk + off_y) : NULL;
        t.labels = label_col >= 0 ? (int *)(blk + off_l) : NULL;
        t.owned = blk;
    }
    /* pass 2: names and numbers */
    if (header) {
        char **names = (char **)(blk + off_n), *s = (char *)(blk + off_s);
        int f = 0;
        col = 0;
        do {
            q = nn__csv_field(&c, &b, &e, &quoted, err, col + 1);
            names[col] = s;
            s = nn__csv_copy(s, b, e, quoted);
            if (col == label_col) t.label = names[col];
            col++;
        } while (q == 0);
        /* features' names first, in order; the label's pointer kept apart */
        for (col = 0; col < cols_in; col++)
            if (col != label_col) names[f++] = names[col];
        t.names = names;
    }
    for (i = 0; i < rows; i++) {
        float *xr = t.x + (size_t)i * (size_t)t.cols;
        long line0;
        int f = 0;
        nn__csv_skip_blank(&c);
        line0 = c.line;
        for (col = 0; col < cols_in; col++) {
            float v;
            end = nn__csv_field(&c, &b, &e, &quoted, err, col + 1);
            (void)end;
            if (!nn__csv_number(b, e, &v)) {
                nn__csv_excerpt(what, b, e);
                NN_FREE(blk);
                return nn__fail(err, NN_ERR_CORRUPT, "line %ld, column %d: \"%s\" is %s", line0, col + 1, what,
                                b == e ? "empty" : "not a finite number");
            }
            if (col == label_col) t.y[i] = v;
            else xr[f++] = v;
        }
    }
    if (t.y) {
        int ok = 1, mx = -1;
        for (i = 0; i < rows && ok; i++) {
            float v = t.y[i];
            ok = v >= 0.0f && v <= 65535.0f && v == (float)(int)v;
            if (ok) {
                t.labels[i] = (int)v;
                mx = t.labels[i] > mx ? t.labels[i] : mx;
            }
        }
        if (!ok) t.labels = NULL;
        else t.n_classes = mx + 1;
    }
    for (k = 0; k < sizeof t.error; k++) t.error[k] = 0;
    *out = t;
    return NN_OK;
}

#ifndef NN_NO_STDIO
NNDEF nn_result nn_csv_load(nn_csv *out, const nn_csv_desc *desc, const char *path) {
    void *raw = NULL;
    size_t len = 0;
    nn_result r;
    if (!out) return NN_ERR_INVALID_ARGUMENT;
    if (!desc || !path) return nn__fail(out->error, NN_ERR_INVALID_ARGUMENT, "csv: %s is NULL", desc ? "path" : "desc");
    if (desc->tag != NN_DESC_TAG)
        return nn__fail(out->error, NN_ERR_INVALID_ARGUMENT, "csv: description not made by nn_csv_desc_default()");
    r = nn_read_file(&raw, &len, path, desc->max_bytes);
    if (r != NN_OK)
        return nn__fail(out->error, r, "csv: %.200s: %s", path,
                        r == NN_ERR_TOO_LARGE ? "larger than max_bytes" : nn_result_string(r));
    r = nn_csv_parse(out, desc, raw, len);
    NN_FREE(raw);
    return r;
}
#endif

NNDEF void nn_csv_free(nn_csv *csv) {
    if (!csv) return;
    NN_FREE(csv->owned);
    csv->owned = NULL;
    csv->x = csv->y = NULL;
    csv->labels = NULL;
    csv->names = NULL;
    csv->label = NULL;
    csv->rows = csv->cols = csv->n_classes = 0;
}

/* ---- splits and batches ---- */
static nn_result nn__check_labels(const int *labels, int n, int n_classes) {
    int i;
    if (!labels) return NN_OK;
    if (n_classes < 1) return NN_ERR_INVALID_ARGUMENT;
    for (i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_classes) return NN_ERR_INVALID_ARGUMENT;
    return NN_OK;
}

/* Rows of a class: every row without labels. */
#define NN__IN_CLASS(labels, i, c) (!(labels) || (labels)[i] == (c))

NNDEF nn_result nn_split(int *idx, int n, const int *labels, int n_classes, float val_frac, float test_frac,
                         uint64_t seed, int *n_train, int *n_val, int *n_test) {
    nn_rng rng;
    int c, i, classes = labels ? n_classes : 1, nv = 0, nt = 0, ntr, pt, pv, ps;
    if (!idx || n < 1 || !NN__IN(val_frac, 0.0f, 1.0f) || !NN__IN(test_frac, 0.0f, 1.0f) ||
        !((double)val_frac + test_frac <= 1.0) || nn__check_labels(labels, n, n_classes) != NN_OK)
        return NN_ERR_INVALID_ARGUMENT;
    nn_rng_seed(&rng, seed);
    for (c = 0; c < classes; c++) {
        int cnt = 0, cv, ct;
        for (i = 0; i < n; i++) cnt += NN__IN_CLASS(labels, i, c);
        ct = (int)floor((double)cnt * test_frac + 0.5);
        cv = (int)floor((double)cnt * val_frac + 0.5);
        if (ct + cv > cnt) cv = cnt - ct;
        nt += ct;
        nv += cv;
    }
    ntr = n - nv - nt;
    pt = 0; pv = ntr; ps = ntr + nv;
    /* each class: its rows in index order, each sent to a part drawn with
       probability (places left in that part) / (rows left): a uniformly random
       assignment with exact counts, and no scratch memory */
    for (c = 0; c < classes; c++) {
        int cnt = 0, cv, ct, left;
        for (i = 0; i < n; i++) cnt += NN__IN_CLASS(labels, i, c);
        ct = (int)floor((double)cnt * test_frac + 0.5);
        cv = (int)floor((double)cnt * val_frac + 0.5);
        if (ct + cv > cnt) cv = cnt - ct;
        left = cnt;
        for (i = 0; i < n && left; i++) {
            uint32_t r;
            if (!NN__IN_CLASS(labels, i, c)) continue;
            r = nn_rng_below(&rng, (uint32_t)left--);
            if (r < (uint32_t)ct) { idx[ps++] = i; ct--; }
            else if (r < (uint32_t)(ct + cv)) { idx[pv++] = i; cv--; }
            else idx[pt++] = i;
        }
    }
    /* mix the classes inside each part */
    nn_rng_shuffle(&rng, idx, ntr);
    nn_rng_shuffle(&rng, idx + ntr, nv);
    nn_rng_shuffle(&rng, idx + ntr + nv, nt);
    if (n_train) *n_train = ntr;
    if (n_val) *n_val = nv;
    if (n_test) *n_test = nt;
    return NN_OK;
}

#define NN__KFOLD_MAX 256
NNDEF nn_result nn_kfold(int *fold_of, int n, int k, const int *labels, int n_classes, uint64_t seed) {
    nn_rng rng;
    int rem[NN__KFOLD_MAX], c, i, f, classes = labels ? n_classes : 1;
    long off = 0;
    if (!fold_of || n < 1 || k < 2 || k > NN__KFOLD_MAX || k > n || nn__check_labels(labels, n, n_classes) != NN_OK)
        return NN_ERR_INVALID_ARGUMENT;
    nn_rng_seed(&rng, seed);
    for (c = 0; c < classes; c++) {
        int cnt = 0, left;
        for (i = 0; i < n; i++) cnt += NN__IN_CLASS(labels, i, c);
        /* deal the class round-robin, continuing where the last class stopped, so
           that fold sizes stay within one row; then draw who gets which card */
        for (f = 0; f < k; f++) rem[f] = cnt / k;
        for (f = 0; f < cnt % k; f++) rem[(off + f) % k]++;
        off += cnt;
        left = cnt;
        for (i = 0; i < n && left; i++) {
            uint32_t r;
            if (!NN__IN_CLASS(labels, i, c)) continue;
            r = nn_rng_below(&rng, (uint32_t)left--);
            for (f = 0; r >= (uint32_t)rem[f]; f++) r -= (uint32_t)rem[f];
            rem[f]--;
            fold_of[i] = f;
        }
    }
    return NN_OK;
}

NNDEF void nn_kfold_indices(const int *fold_of, int n, int fold, int *train, int *n_train, int *val, int *n_val) {
    int i, a = 0, b = 0;
    if (!fold_of) n = 0; /* caller data: nothing listed */
    for (i = 0; i < n; i++) {
        if (fold_of[i] == fold) {
            if (val) val[b] = i;
            b++;
        } else {
            if (train) train[a] = i;
            a++;
        }
    }
    if (n_train) *n_train = a;
    if (n_val) *n_val = b;
}

NNDEF nn_result nn_batcher_init(nn_batcher *b, int *idx, int n, int batch, int shuffle, int drop_last, uint64_t seed) {
    int i;
    if (!b || !idx || n < 1 || batch < 1 || (drop_last && batch > n)) return NN_ERR_INVALID_ARGUMENT;
    NN__ZERO(*b);
    b->idx = idx;
    b->n = n;
    b->batch = batch;
    b->shuffle = shuffle != 0;
    b->drop_last = drop_last != 0;
    b->pos = -1; /* no epoch started */
    nn_rng_seed(&b->rng, seed);
    for (i = 0; i < n; i++) idx[i] = i;
    return NN_OK;
}

NNDEF int nn_batcher_next(nn_batcher *b, const int **rows) {
    int take;
    if (!b || !b->idx) return 0;
    if (b->pos < 0) {
        /* a new epoch: same seed, same sequence of permutations */
        if (b->shuffle) nn_rng_shuffle(&b->rng, b->idx, b->n);
        b->pos = 0;
        if (b->epoch < LONG_MAX) b->epoch++;
    }
    take = NN__MIN(b->batch, b->n - b->pos);
    if (take <= 0 || (b->drop_last && take < b->batch)) {
        b->pos = -1;
        if (rows) *rows = NULL;
        return 0;
    }
    if (rows) *rows = b->idx + b->pos;
    b->pos += take;
    return take;
}

NNDEF int nn_batcher_count(const nn_batcher *b) {
    if (!b || b->batch < 1) return 0;
    return b->drop_last ? b->n / b->batch : (b->n + b->batch - 1) / b->batch;
}

NNDEF nn_result nn_gather_f32(nn_tensor dst, const float *src, size_t n_src_rows, const int *rows) {
    int B, i;
    size_t F;
    if (!NN__T(dst) || !src || !rows) return NN_ERR_INVALID_ARGUMENT;
    B = dst.shape[0];
    F = (size_t)nn_tensor_row_size(dst);
    for (i = 0; i < B; i++)
        if (rows[i] < 0 || (size_t)rows[i] >= n_src_rows) return NN_ERR_INVALID_ARGUMENT;
    for (i = 0; i < B; i++) memcpy(dst.data + (size_t)i * F, src + (size_t)rows[i] * F, F * sizeof(float));
    return NN_OK;
}

/* ---- metrics ---- */
NNDEF void nn_argmax_rows(int *pred, const float *scores, int n, int k) {
    int i, j;
    if (!pred || !scores || k < 1) return; /* caller data: nothing written */
    for (i = 0; i < n; i++) {
        const float *s = scores + (size_t)i * (size_t)k;
        int best = 0;
        for (j = 1; j < k; j++)
            if (s[j] > s[best]) best = j;
        pred[i] = best;
    }
}

NNDEF float nn_accuracy(const int *pred, const int *labels, int n) {
    long hit = 0;
    int i;
    if (n < 1 || !pred || !labels) return NAN;
    for (i = 0; i < n; i++) hit += pred[i] == labels[i];
    return (float)((double)hit / n);
}

NNDEF float nn_top_k_accuracy(const float *scores, const int *labels, int n, int k, int top_k) {
    long hit = 0;
    int i, j;
    if (n < 1 || k < 1 || top_k < 1 || !scores || !labels) return NAN;
    for (i = 0; i < n; i++) {
        const float *s = scores + (size_t)i * (size_t)k;
        int t = labels[i], rank = 0;
        if (t < 0 || t >= k) continue;
        /* sklearn's order: descending score, ties to the higher class index */
        for (j = 0; j < k; j++) rank += s[j] > s[t] || (s[j] == s[t] && j > t);
        hit += rank < top_k;
    }
    return (float)((double)hit / n);
}

NNDEF int nn_confusion_add(int *counts, const int *pred, const int *labels, int n, int k) {
    int i, added = 0;
    if (!counts || !pred || !labels || k < 1) return 0;
    for (i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k || pred[i] < 0 || pred[i] >= k) continue;
        counts[(size_t)labels[i] * (size_t)k + (size_t)pred[i]]++;
        added++;
    }
    return added;
}

NNDEF void nn_class_report(const int *counts, int k, float *precision, float *recall, float *f1, int *support,
                           float macro[3], float weighted[3]) {
    double mp = 0, mr = 0, mf = 0, wp = 0, wr = 0, wf = 0, total = 0;
    int c, j;
    if (!counts || k < 1) return; /* caller data: nothing written */
    for (c = 0; c < k; c++) {
        double tp = counts[(size_t)c * k + c], col = 0, row = 0, p, r, f;
        for (j = 0; j < k; j++) {
            col += counts[(size_t)j * k + c]; /* predicted c */
            row += counts[(size_t)c * k + j]; /* truly c */
        }
        p = col > 0 ? tp / col : 0.0;
        r = row > 0 ? tp / row : 0.0;
        f = p + r > 0 ? 2.0 * p * r / (p + r) : 0.0;
        if (precision) precision[c] = (float)p;
        if (recall) recall[c] = (float)r;
        if (f1) f1[c] = (float)f;
        if (support) support[c] = (int)row;
        mp += p; mr += r; mf += f;
        wp += p * row; wr += r * row; wf += f * row;
        total += row;
    }
    if (macro) {
        macro[0] = (float)(mp / k);
        macro[1] = (float)(mr / k);
        macro[2] = (float)(mf / k);
    }
    if (weighted) {
        weighted[0] = total > 0 ? (float)(wp / total) : 0.0f;
        weighted[1] = total > 0 ? (float)(wr / total) : 0.0f;
        weighted[2] = total > 0 ? (float)(wf / total) : 0.0f;
    }
}

NNDEF float nn_log_loss_logits(const float *scores, const int *labels, int n, int k) {
    double s = 0.0;
    int i, j;
    if (n < 1 || k < 1 || !scores || !labels) return NAN;
    for (i = 0; i < n; i++) {
        const float *z = scores + (size_t)i * (size_t)k;
        double m = z[0], e = 0.0;
        if (labels[i] < 0 || labels[i] >= k) return NAN;
        for (j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
        for (j = 0; j < k; j++) e += exp((double)z[j] - m);
        s += log(e) + m - z[labels[i]];
    }
    return (float)(s / n);
}

NNDEF float nn_mse(const float *pred, const float *target, size_t n) {
    double s = 0.0;
    size_t i;
    if (!n || !pred || !target) return NAN;
    for (i = 0; i < n; i++) s += ((double)pred[i] - target[i]) * ((double)pred[i] - target[i]);
    return (float)(s / (double)n);
}

NNDEF float nn_mae(const float *pred, const float *target, size_t n) {
    double s = 0.0;
    size_t i;
    if (!n || !pred || !target) return NAN;
    for (i = 0; i < n; i++) s += fabs((double)pred[i] - target[i]);
    return (float)(s / (double)n);
}

NNDEF float nn_r2(const float *pred, const float *target, size_t n) {
    double mean = 0.0, res = 0.0, tot = 0.0;
    size_t i;
    if (n < 2 || !pred || !target) return NAN;
    for (i = 0; i < n; i++) mean += target[i];
    mean /= (double)n;
    for (i = 0; i < n; i++) {
        res += ((double)target[i] - pred[i]) * ((double)target[i] - pred[i]);
        tot += ((double)target[i] - mean) * ((double)target[i] - mean);
    }
    if (tot == 0.0) return res == 0.0 ? 1.0f : 0.0f;
    return (float)(1.0 - res / tot);
}

/* ---- preprocessing ---- */
NNDEF size_t nn_prep_arena_bytes(int in, int k_max) {
    if (in < 1 || k_max < 0 || k_max > in) return 0;
    return 4 * nn_arena_bytes_for(sizeof(float) * (size_t)in) +
           (k_max ? nn_arena_bytes_for(sizeof(float) * (size_t)k_max * (size_t)in) +
                    2 * nn_arena_bytes_for(sizeof(float) * (size_t)k_max)
                  : 0);
}

NNDEF nn_result nn_prep_init(nn_prep *p, nn_arena *arena, int in, int k_max) {
    nn_prep t;
    size_t mark;
    int i;
    if (!p) return NN_ERR_INVALID_ARGUMENT;
    if (!arena || in < 1 || in > (1 << 24) || k_max < 0 || k_max > in)
        return nn__fail(p->error, NN_ERR_INVALID_ARGUMENT, "prep: in %d (1..2^24), k_max %d (0..in)", in, k_max);
    NN__ZERO(t);
    t.in = t.out = in;
    t.k_max = k_max;
    mark = nn_arena_mark(arena);
    t.shift = (float *)nn_arena_alloc(arena, sizeof(float) * (size_t)in);
    t.scale = (float *)nn_arena_alloc(arena, sizeof(float) * (size_t)in);
    t.offset = (float *)nn_arena_alloc(arena, sizeof(float) * (size_t)in);
    t.mean = (float *)nn_arena_alloc(arena, sizeof(float) * (size_t)in);
    if (k_max) {
        t.components = (float *)nn_arena_alloc(arena, sizeof(float) * (size_t)k_max * (size_t)in);
        t.variance = (float *)nn_arena_alloc(arena, sizeof(float) * (size_t)k_max);
        t.variance_ratio = (float *)nn_arena_alloc(arena, sizeof(float) * (size_t)k_max);
    }
    if (!t.shift || !t.scale || !t.offset || !t.mean || (k_max && (!t.components || !t.variance || !t.variance_ratio))) {
        nn_arena_rewind(arena, mark);
        return nn__fail(p->error, NN_ERR_OUT_OF_MEMORY, "prep: arena full (%lu bytes needed)",
                        (unsigned long)nn_prep_arena_bytes(in, k_max));
    }
    for (i = 0; i < in; i++) {
        t.shift[i] = 0.0f;
        t.scale[i] = 1.0f;
        t.offset[i] = 0.0f;
        t.mean[i] = 0.0f;
    }
    *p = t;
    return NN_OK;
}

static nn_result nn__prep_check_fit(nn_prep *p, const float *x, int n, int min_n) {
    if (!p->shift) return nn__fail(p->error, NN_ERR_INVALID_ARGUMENT, "prep: not initialized (nn_prep_init)");
    if (!x || n < min_n) return nn__fail(p->error, NN_ERR_INVALID_ARGUMENT, "prep: %d rows, at least %d needed", n, min_n);
    if (p->k) return nn__fail(p->error, NN_ERR_INVALID_ARGUMENT, "prep: fit stage 1 before PCA, not after");
    return NN_OK;
}

NNDEF nn_result nn_prep_fit_standardize(nn_prep *p, const float *x, int n) {
    /* the streamed fit over a float view of x: one implementation, the same sums */
    nn_data d;
    nn_result r;
    if (!p) return NN_ERR_INVALID_ARGUMENT;
    r = nn__prep_check_fit(p, x, n, 1);
    if (r != NN_OK) return r;
    NN__ZERO(d);
    d.n = n;
    d.features = p->in;
    d.x = x;
    return nn_prep_fit_standardize_data(p, &d);
}

NNDEF nn_result nn_prep_fit_standardize_data(nn_prep *p, const nn_data *d) {
    enum { CH = 256 };
    double *sum;
    float *buf;
    int rows[CH], n, F, i, j, start;
    nn_result r;
    if (!p) return NN_ERR_INVALID_ARGUMENT;
    if (!d || (!d->x && !d->x_u8) || (d->x_u8 && !d->table) || d->features != p->in || d->n < 1 ||
        (d->rows && d->n_rows < 1))
        return nn__fail(p->error, NN_ERR_INVALID_ARGUMENT, "prep: the data: %d features (the prep takes %d), x or x_u8 "
                        "with its table, rows", d ? d->features : 0, p->in);
    r = nn__prep_check_fit(p, d->x ? d->x : (const float *)(const void *)d->x_u8, 1, 1);
    if (r != NN_OK) return r;
    n = d->rows ? d->n_rows : d->n;
    F = p->in;
    sum = (double *)NN_MALLOC(sizeof(double) * 2 * (size_t)F + sizeof(float) * CH * (size_t)F);
    if (!sum) return nn__fail(p->error, NN_ERR_OUT_OF_MEMORY, "prep: scratch for %d features", F);
    buf = (float *)(sum + 2 * (size_t)F);
    memset(sum, 0, sizeof(double) * 2 * (size_t)F);
    /* two passes, as the in-memory fit: the mean, then squares about it */
    for (j = 0; j < 2; j++) {
        for (start = 0; start < n; start += CH) {
            int b = NN__MIN(CH, n - start), c;
            for (i = 0; i < b; i++) rows[i] = d->rows ? d->rows[start + i] : start + i;
            r = nn_data_gather(d, rows, b, buf, NULL, NULL);
            if (r != NN_OK) {
                NN_FREE(sum);
                return nn__fail(p->error, r, "prep: a row outside the data");
            }
            for (i = 0; i < b; i++)
                for (c = 0; c < F; c++) {
                    double v = buf[(size_t)i * F + c];
                    if (j == 0) sum[c] += v;
                    else sum[F + c] += (v - sum[c]) * (v - sum[c]);
                }
        }
        if (j == 0)
            for (i = 0; i < F; i++) sum[i] /= n;
    }
    for (i = 0; i < F; i++) {
        double sd = sqrt(sum[F + i] / n);
        if (!(sd == sd) || !(sum[i] - sum[i] == 0.0)) {
            NN_FREE(sum);
            return nn__fail(p->error, NN_ERR_NONFINITE, "prep: feature %d holds NaN or Inf", i);
        }
        p->shift[i] = (float)sum[i];
        p->scale[i] = sd > 0.0 ? (float)(1.0 / sd) : 1.0f;
        p->offset[i] = 0.0f;
    }
    NN_FREE(sum);
    p->affine = 1;
    return NN_OK;
}

NNDEF nn_result nn_prep_fit_minmax(nn_prep *p, const float *x, int n, float lo, float hi) {
    int F, i, j;
    nn_result r;
    if (!p) return NN_ERR_INVALID_ARGUMENT;
    r = nn__prep_check_fit(p, x, n, 1);
    if (r != NN_OK) return r;
    if (!(lo < hi) || !(hi - lo < 3.0e38f)) return nn__fail(p->error, NN_ERR_INVALID_ARGUMENT, "prep: range lo < hi");
    F = p->in;
    for (j = 0; j < F; j++) {
        float mn = x[j], mx = x[j];
        for (i = 1; i < n; i++) {
            float v = x[(size_t)i * F + j];
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
        if (!(mn - mn == 0.0f) || !(mx - mx == 0.0f))
            return nn__fail(p->error, NN_ERR_NONFINITE, "prep: feature %d holds NaN or Inf", j);
        p->shift[j] = mn;
        p->scale[j] = mx > mn ? (float)(((double)hi - lo) / ((double)mx - mn)) : 1.0f;
        p->offset[j] = lo;
    }
    p->affine = 1;
    return NN_OK;
}

/* Stage 1 of features [j0, j1) of one row into out. */
static void nn__prep_stage1(const nn_prep *p, float *out, const float *x, int j0, int j1) {
    int j;
    if (!p->affine) {
        memcpy(out, x + j0, sizeof(float) * (size_t)(j1 - j0));
        return;
    }
    for (j = j0; j < j1; j++) out[j - j0] = (x[j] - p->shift[j]) * p->scale[j] + p->offset[j];
}

/* Cyclic Jacobi: a (F x F, symmetric) is diagonalized in place, v gets the
   eigenvectors as columns. */
static void nn__jacobi(double *a, double *v, int F) {
    int sweep, i, j, k;
    for (i = 0; i < F; i++)
        for (j = 0; j < F; j++) v[(size_t)i * F + j] = i == j;
    for (sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, diag = 0.0;
        for (i = 0; i < F; i++) {
            diag += a[(size_t)i * F + i] * a[(size_t)i * F + i];
            for (j = i + 1; j < F; j++) off += a[(size_t)i * F + j] * a[(size_t)i * F + j];
        }
        if (off <= 1e-30 * diag || off == 0.0) break;
        for (i = 0; i < F - 1; i++)
            for (j = i + 1; j < F; j++) {
                double aij = a[(size_t)i * F + j], theta, t, c, s;
                if (fabs(aij) < 1e-300) continue;
                theta = (a[(size_t)j * F + j] - a[(size_t)i * F + i]) / (2.0 * aij);
                t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                c = 1.0 / sqrt(t * t + 1.0);
                s = t * c;
                for (k = 0; k < F; k++) { /* columns i, j */
                    double aki = a[(size_t)k * F + i], akj = a[(size_t)k * F + j];
                    a[(size_t)k * F + i] = c * aki - s * akj;
                    a[(size_t)k * F + j] = s * aki + c * akj;
                }
                for (k = 0; k < F; k++) { /* rows i, j */
                    double aik = a[(size_t)i * F + k], ajk = a[(size_t)j * F + k];
                    a[(size_t)i * F + k] = c * aik - s * ajk;
                    a[(size_t)j * F + k] = s * aik + c * ajk;
                }
                for (k = 0; k < F; k++) {
                    double vki = v[(size_t)k * F + i], vkj = v[(size_t)k * F + j];
                    v[(size_t)k * F + i] = c * vki - s * vkj;
                    v[(size_t)k * F + j] = s * vki + c * vkj;
                }
            }
    }
}

NNDEF nn_result nn_prep_fit_pca(nn_prep *p, const float *x, int n, int k, int whiten) {
    int F, i, j, c;
    double *cov, *vec, *mean, total = 0.0;
    float *row;
    nn_result r;
    if (!p) return NN_ERR_INVALID_ARGUMENT;
    r = nn__prep_check_fit(p, x, n, 2);
    if (r != NN_OK) return r;
    F = p->in;
    if (k < 1 || k > p->k_max)
        return nn__fail(p->error, NN_ERR_INVALID_ARGUMENT, "prep: %d components, room for 1..%d (k_max)", k, p->k_max);
    if ((size_t)F > ((size_t)-1) / sizeof(double) / (size_t)F / 2)
        return nn__fail(p->error, NN_ERR_TOO_LARGE, "prep: %d features", F);
    cov = (double *)NN_MALLOC(sizeof(double) * ((size_t)F * F * 2 + F) + sizeof(float) * (size_t)F);
    if (!cov) return nn__fail(p->error, NN_ERR_OUT_OF_MEMORY, "prep: PCA scratch for %d features", F);
    vec = cov + (size_t)F * F;
    mean = vec + (size_t)F * F;
    row = (float *)(mean + F);
    memset(cov, 0, sizeof(double) * (size_t)F * F);
    memset(mean, 0, sizeof(double) * (size_t)F);
    for (i = 0; i < n; i++) {
        nn__prep_stage1(p, row, x + (size_t)i * F, 0, F);
        for (j = 0; j < F; j++) mean[j] += row[j];
    }
    for (j = 0; j < F; j++) mean[j] /= n;
    for (i = 0; i < n; i++) {
        nn__prep_stage1(p, row, x + (size_t)i * F, 0, F);
        for (j = 0; j < F; j++) {
            double dj = row[j] - mean[j];
            double *cr = cov + (size_t)j * F;
            if (dj == 0.0) continue;
            for (c = j; c < F; c++) cr[c] += dj * (row[c] - mean[c]);
        }
    }
    for (j = 0; j < F; j++)
        for (c = j; c < F; c++) {
            cov[(size_t)j * F + c] /= (n - 1);
            cov[(size_t)c * F + j] = cov[(size_t)j * F + c];
        }
    for (j = 0; j < F; j++) total += cov[(size_t)j * F + j];
    if (!(total - total == 0.0)) {
        NN_FREE(cov);
        return nn__fail(p->error, NN_ERR_NONFINITE, "prep: the data hold NaN or Inf");
    }
    nn__jacobi(cov, vec, F);
    for (c = 0; c < k; c++) {
        /* the largest remaining eigenvalue (selection: k is small) */
        int best = -1, big = 0;
        double ev;
        for (j = 0; j < F; j++)
            if (cov[(size_t)j * F + j] > -1e300 && (best < 0 || cov[(size_t)j * F + j] > cov[(size_t)best * F + best]))
                best = j;
        ev = cov[(size_t)best * F + best];
        cov[(size_t)best * F + best] = -1e301; /* taken */
        for (j = 1; j < F; j++)
            if (fabs(vec[(size_t)j * F + best]) > fabs(vec[(size_t)big * F + best])) big = j;
        for (j = 0; j < F; j++) {
            double e = vec[(size_t)j * F + best];
            p->components[(size_t)c * F + j] = (float)(vec[(size_t)big * F + best] < 0 ? -e : e);
        }
        p->variance[c] = (float)(ev > 0.0 ? ev : 0.0);
        p->variance_ratio[c] = total > 0.0 ? (float)((ev > 0.0 ? ev : 0.0) / total) : 0.0f;
    }
    for (j = 0; j < F; j++) p->mean[j] = (float)mean[j];
    NN_FREE(cov);
    if (whiten)
        for (c = 0; c < k; c++)
            if (!(p->variance[c] > 0.0f)) {
                return nn__fail(p->error, NN_ERR_INVALID_ARGUMENT,
                                "prep: component %d has no variance; whitening would divide by 0", c);
            }
    p->k = k;
    p->out = k;
    p->whiten = whiten != 0;
    return NN_OK;
}

NNDEF nn_result nn_prep_apply(const nn_prep *p, nn_tensor dst, nn_tensor src) {
    int B, F, i, j0, c;
    float buf[256];
    if (!p || !p->shift || !NN__T(dst) || !NN__T(src)) return NN_ERR_INVALID_ARGUMENT;
    B = src.shape[0];
    F = p->in;
    if (nn_tensor_row_size(src) != F || dst.shape[0] != B || nn_tensor_row_size(dst) != p->out)
        return NN_ERR_SHAPE_MISMATCH;
    if (p->k && dst.data == src.data) return NN_ERR_INVALID_ARGUMENT;
    for (i = 0; i < B; i++) {
        const float *x = src.data + (size_t)i * F;
        float *y = dst.data + (size_t)i * p->out;
        if (!p->k) {
            if (p->affine || y != x) nn__prep_stage1(p, y, x, 0, F); /* elementwise: in place is fine */
            continue;
        }
        for (c = 0; c < p->k; c++) y[c] = 0.0f;
        for (j0 = 0; j0 < F; j0 += 256) {
            int j1 = NN__MIN(F, j0 + 256), j;
            nn__prep_stage1(p, buf, x, j0, j1);
            for (j = j0; j < j1; j++) buf[j - j0] -= p->mean[j];
            for (c = 0; c < p->k; c++) {
                const float *comp = p->components + (size_t)c * F;
                float s = 0.0f;
                for (j = j0; j < j1; j++) s += buf[j - j0] * comp[j];
                y[c] += s;
            }
        }
        if (p->whiten)
            for (c = 0; c < p->k; c++) y[c] /= sqrtf(p->variance[c]);
    }
    return NN_OK;
}

NNDEF nn_result nn_one_hot(float *dst, const int *labels, int n, int k) {
    int i;
    if (!dst || !labels || n < 0 || k < 1) return NN_ERR_INVALID_ARGUMENT;
    for (i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k) return NN_ERR_INVALID_ARGUMENT;
    memset(dst, 0, sizeof(float) * (size_t)n * (size_t)k);
    for (i = 0; i < n; i++) dst[(size_t)i * k + labels[i]] = 1.0f;
    return NN_OK;
}

/* ---- model provenance ---- */
static void nn__strlcpy(char *dst, const char *src, size_t size) {
    size_t n = src ? strlen(src) : 0;
    if (n >= size) n = size - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = 0;
}

NNDEF nn_meta nn_meta_make(const char *label) {
    nn_meta m;
    NN__ZERO(m);
    nn__strlcpy(m.label, label, sizeof m.label);
    nn__strlcpy(m.library, NN_VERSION_STRING, sizeof m.library); /* a save rewrites it */
    m.optim_kind = -1;
    m.sched_kind = -1;
    return m;
}

NNDEF void nn_meta_set_training(nn_meta *meta, const nn_optim *o, const nn_sched *s, int epochs, int batch,
                                uint64_t seed) {
    if (!meta) return;
    if (o) {
        meta->optim_kind = (int)o->d.kind;
        meta->lr = o->d.lr;
        meta->weight_decay = o->d.weight_decay;
    }
    if (s) {
        meta->sched_kind = (int)s->d.kind;
        if (!o) meta->lr = (float)s->d.base_lr;
    }
    meta->epochs = epochs;
    meta->batch = batch;
    meta->seed = seed;
}

NNDEF size_t nn_meta_describe(const nn_meta *m, char *buf, size_t size) {
    static const char *optims[] = {"sgd", "adagrad", "rmsprop", "adam", "adamw"};
    static const char *scheds[] = {"constant", "step", "multistep", "exponential", "inverse time", "cosine",
                                   "cosine with restarts", "cyclic", "one-cycle", "reduce on plateau"};
    size_t len = 0;
    if (!buf) size = 0;
    if (size) buf[0] = 0;
    if (!m) return 0;
    nn__append(buf, size, &len, "label: %s\n", m->label[0] ? m->label : "(none)");
    nn__append(buf, size, &len, "written by: nn.h %s\n", m->library[0] ? m->library : "(unknown)");
    if (m->optim_kind >= 0 && m->optim_kind < 5)
        nn__append(buf, size, &len, "optimizer: %s, lr %g, weight decay %g\n", optims[m->optim_kind], (double)m->lr,
                   (double)m->weight_decay);
    else
        nn__append(buf, size, &len, "optimizer: (unknown)\n");
    if (m->sched_kind >= 0 && m->sched_kind < (int)(sizeof scheds / sizeof scheds[0]))
        nn__append(buf, size, &len, "schedule: %s\n", scheds[m->sched_kind]);
    else if (m->sched_kind >= 0)
        nn__append(buf, size, &len, "schedule: kind %d\n", m->sched_kind);
    else nn__append(buf, size, &len, "schedule: none\n");
    nn__append(buf, size, &len, "epochs: %d, batch: %d, seed: %llu\n", m->epochs, m->batch, (unsigned long long)m->seed);
    if (m->data_rows || m->data_crc)
        nn__append(buf, size, &len, "training data: %llu rows, crc32 %08x\n", (unsigned long long)m->data_rows,
                   (unsigned)m->data_crc);
    else
        nn__append(buf, size, &len, "training data: (unknown)\n");
    return len;
}

#ifndef NN_NO_STDIO
NNDEF nn_result nn_prep_load(nn_prep *p, nn_arena *arena, const char *path) {
    void *raw = NULL;
    size_t len = 0;
    nn_result r;
    if (!p) return NN_ERR_INVALID_ARGUMENT;
    r = nn_read_file(&raw, &len, path, (size_t)1 << 31);
    if (r != NN_OK) return nn__fail(p->error, r, "prep: %.200s: %s", path ? path : "(null)", nn_result_string(r));
    r = nn_prep_from_memory(p, arena, raw, len);
    NN_FREE(raw);
    return r;
}

NNDEF nn_result nn_meta_load(nn_meta *meta, const char *path) {
    void *raw = NULL;
    size_t len = 0;
    nn_result r;
    if (!meta) return NN_ERR_INVALID_ARGUMENT;
    r = nn_read_file(&raw, &len, path, (size_t)1 << 31);
    if (r != NN_OK) return r;
    r = nn_meta_from_memory(meta, raw, len);
    NN_FREE(raw);
    return r;
}
#endif

/* ---- augmentation ---- */
NNDEF nn_augment_desc nn_augment_desc_default(void) {
    nn_augment_desc d;
    NN__ZERO(d);
    d.tag = NN_DESC_TAG;
    return d;
}

/* A plane moved by (dy, dx) in place, zeros shifted in: rows are visited in
   the order that reads each source row before it is overwritten. */
static void nn__fill_floats(float *p, int n, float v) {
    int i;
    for (i = 0; i < n; i++) p[i] = v;
}
static void nn__shift_plane(float *p, int H, int W, int dy, int dx, float fill) {
    int i, n = W - (dx < 0 ? -dx : dx);
    for (i = 0; i < H; i++) {
        int r = dy > 0 ? H - 1 - i : i, src = r - dy;
        float *out = p + (size_t)r * W;
        if (src < 0 || src >= H || n <= 0) {
            nn__fill_floats(out, W, fill);
            continue;
        }
        memmove(out + (dx > 0 ? dx : 0), p + (size_t)src * W + (dx < 0 ? -dx : 0), sizeof(float) * (size_t)n);
        if (dx > 0) nn__fill_floats(out, dx, fill);
        else if (dx < 0) nn__fill_floats(out + n, -dx, fill);
    }
}

static int nn__uniform_int(nn_rng *rng, int lo, int hi) { /* lo..hi inclusive */
    return lo + (int)nn_rng_below(rng, (uint32_t)(hi - lo + 1));
}

NNDEF nn_result nn_augment_images(nn_tensor x, const nn_augment_desc *d, nn_rng *rng) {
    int N, C, H, W, n, c, i, j;
    if (!d || !rng || !x.data || x.rank != 4) return NN_ERR_INVALID_ARGUMENT;
    if (d->tag != NN_DESC_TAG || !NN__IN(d->flip_p, 0.0f, 1.0f) || d->crop_padding < 0 ||
        !(d->translate >= 0.0f && d->translate < 1.0f) || !NN__IN(d->fill, -1e30f, 1e30f))
        return NN_ERR_INVALID_ARGUMENT;
    N = x.shape[0]; C = x.shape[1]; H = x.shape[2]; W = x.shape[3];
    if (d->crop_padding > 65536) return NN_ERR_INVALID_ARGUMENT;
    for (n = 0; n < N; n++) {
        int flip = 0, dy = 0, dx = 0;
        if (d->flip_p > 0.0f) flip = nn_rng_uniform(rng) < d->flip_p;
        if (d->crop_padding) {
            dy += nn__uniform_int(rng, -d->crop_padding, d->crop_padding);
            dx += nn__uniform_int(rng, -d->crop_padding, d->crop_padding);
        }
        if (d->translate > 0.0f) {
            float my = d->translate * (float)H, mx = d->translate * (float)W;
            dy += (int)floorf((2.0f * nn_rng_uniform(rng) - 1.0f) * my + 0.5f);
            dx += (int)floorf((2.0f * nn_rng_uniform(rng) - 1.0f) * mx + 0.5f);
        }
        for (c = 0; c < C; c++) {
            float *p = x.data + ((size_t)n * C + c) * (size_t)H * W;
            if (flip)
                for (i = 0; i < H; i++) {
                    float *r = p + (size_t)i * W;
                    for (j = 0; j < W / 2; j++) {
                        float t = r[j];
                        r[j] = r[W - 1 - j];
                        r[W - 1 - j] = t;
                    }
                }
            if (dy || dx) nn__shift_plane(p, H, W, dy, dx, d->fill);
        }
    }
    return NN_OK;
}

/* == 15. fit: the training loop, progress, history ===================== */
/* ---- fit ---- */
NNDEF nn_result nn_data_gather(const nn_data *d, const int *rows, int b, float *x, int *labels, float *targets) {
    int i;
    nn_result r;
    if (!d || !rows || b < 1 || !x) return NN_ERR_INVALID_ARGUMENT;
    r = d->x_u8 ? nn_gather_u8(nn_tensor_2d(x, b, d->features), d->x_u8, (size_t)d->n, rows, d->table)
                : nn_gather_f32(nn_tensor_2d(x, b, d->features), d->x, (size_t)d->n, rows);
    if (r != NN_OK) return r;
    if (labels && d->labels)
        for (i = 0; i < b; i++) labels[i] = d->labels[rows[i]];
    if (targets && d->targets)
        for (i = 0; i < b; i++)
            memcpy(targets + (size_t)i * d->target_dim, d->targets + (size_t)rows[i] * d->target_dim,
                   sizeof(float) * (size_t)d->target_dim);
    return NN_OK;
}

NNDEF nn_fit_desc nn_fit_desc_default(int epochs, int batch) {
    nn_fit_desc d;
    NN__ZERO(d);
    d.epochs = epochs;
    d.batch = batch;
    d.shuffle = 1;
    d.monitor = NN_MONITOR_VAL_LOSS;
    d.patience = -1;
    d.tag = NN_DESC_TAG;
    return d;
}

#if NN__POSIX
#include <sys/time.h>
#endif
#include <time.h>
static double nn__now(void) {
#if defined(_WIN32) && !defined(NN_NO_STDIO)
    LARGE_INTEGER c, f; /* clock() is a 32-bit count of ms there: it wraps */
    QueryPerformanceCounter(&c);
    QueryPerformanceFrequency(&f);
    return (double)c.QuadPart / (double)f.QuadPart;
#elif NN__POSIX
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

static nn_result nn__data_check(const nn_data *d, const char *what, int features, int outputs, char *err) {
    int i;
    if (d->rows) {
        if (d->n_rows < 1)
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "fit: %s data: a view of %d rows", what, d->n_rows);
        for (i = 0; i < d->n_rows; i++)
            if (d->rows[i] < 0 || d->rows[i] >= d->n)
                return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "fit: %s data: view row %d is %d, outside 0..%d", what, i,
                                d->rows[i], d->n - 1);
    }
    if (d->n < 1 || d->features != features || (!d->x && !d->x_u8) || (d->x_u8 && !d->table))
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "fit: %s data: %d rows of %d features (the model reads %d), "
                        "x or x_u8 with its table", what, d->n, d->features, features);
    if (!d->labels == !d->targets)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "fit: %s data needs labels or targets, one of them", what);
    if (d->targets && d->target_dim != outputs)
        return nn__fail(err, NN_ERR_SHAPE_MISMATCH, "fit: %s targets have %d values a row, the model outputs %d", what,
                        d->target_dim, outputs);
    if (d->labels)
        for (i = 0; i < d->n; i++)
            if (d->labels[i] < 0 || d->labels[i] >= outputs)
                return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "fit: %s label %d of row %d is outside 0..%d", what,
                                d->labels[i], i, outputs - 1);
    return NN_OK;
}

/* Sizes of the scratch: idx (n), batcher (n), batch rows, raw and prepared x,
   labels, targets (max_batch rows each), best weights. */
typedef struct nn__fit_plan {
    size_t idx, bidx, rows, xraw, xin, lab, tgt, best, acc;
} nn__fit_plan;
static void nn__fit_sizes(const nn_model *m, const nn_data *t, const nn_fit_desc *d, nn__fit_plan *p) {
    size_t B = (size_t)m->max_batch, n = (size_t)t->n;
    p->idx = nn_arena_bytes_for(sizeof(int) * n);
    p->bidx = nn_arena_bytes_for(sizeof(int) * n);
    p->rows = nn_arena_bytes_for(sizeof(int) * B);
    p->xraw = nn_arena_bytes_for(sizeof(float) * B * (size_t)t->features);
    p->xin = d->prep ? nn_arena_bytes_for(sizeof(float) * B * (size_t)m->inputs) : 0;
    p->lab = nn_arena_bytes_for(sizeof(int) * B);
    p->tgt = nn_arena_bytes_for(sizeof(float) * B * (size_t)(m->outputs > 0 ? m->outputs : 1));
    p->best = d->restore_best ? nn_arena_bytes_for(sizeof(float) * (m->n_params + m->n_buffers + 1)) : 0;
    p->acc = d->accum > 1 ? nn_arena_bytes_for(sizeof(float) * (m->n_params ? m->n_params : 1)) : 0;
}

NNDEF size_t nn_fit_arena_bytes(const nn_model *m, const nn_data *train, const nn_fit_desc *d) {
    nn__fit_plan p;
    if (!m || !train || !d || train->n < 1) return 0;
    nn__fit_sizes(m, train, d, &p);
    return p.idx + p.bidx + p.rows + p.xraw + p.xin + p.lab + p.tgt + p.best + p.acc;
}

NNDEF void nn_grad_mean_ordered(float *dst, const float *parts, int k, size_t n, size_t stride) {
    float inv = 1.0f / (float)k;
    size_t i;
    int j;
    NN__REQUIRE(dst && parts && k >= 1);
    for (i = 0; i < n; i++) {
        float s = parts[i];
        for (j = 1; j < k; j++) s += parts[(size_t)j * stride + i];
        dst[i] = s * inv;
    }
}

/* The first layer whose output (last forward, b rows) or parameters hold NaN/Inf. */
static void nn__fit_culprit(const nn_model *m, int b, char *err, int epoch, int step, float loss) {
    int l, bad = -1;
    size_t i;
    for (l = 0; l < m->n_layers; l++) {
        const nn_layer *ly = &m->layers[l];
        size_t cnt = (size_t)b * (size_t)ly->out;
        if (!ly->y.data) continue;
        for (i = 0; i < cnt; i++)
            if (!(ly->y.data[i] - ly->y.data[i] == 0.0f)) break;
        if (i < cnt) {
            nn__fail(err, NN_ERR_NONFINITE, "epoch %d, step %d: loss %g; first non-finite output: layer %d (%s)",
                     epoch, step, (double)loss, l, nn__layer_kind_name(ly->kind));
            return;
        }
    }
    if (nn_check_finite(m->param_list, m->n_param_list, &bad) != NN_OK && bad >= 0) {
        nn__fail(err, NN_ERR_NONFINITE, "epoch %d, step %d: loss %g; non-finite parameters: %s", epoch, step,
                 (double)loss, m->param_list[bad].name);
        return;
    }
    nn__fail(err, NN_ERR_NONFINITE, "epoch %d, step %d: loss %g; outputs and parameters finite (the targets?)", epoch,
             step, (double)loss);
}

/* Loss and correct predictions of one batch whose forward gave out. */
static float nn__fit_loss(nn_model *m, nn_tensor out, const int *labels, float *targets, int b, long *correct) {
    nn_tensor dout = nn_tensor_2d(m->dout, b, m->outputs);
    if (labels) {
        int i;
        for (i = 0; i < b; i++) {
            int best = 0;
            nn_argmax_rows(&best, out.data + (size_t)i * m->outputs, 1, m->outputs);
            *correct += best == labels[i];
        }
        return nn_loss_cross_entropy(dout, out, labels);
    }
    return nn_loss_mse(dout, out, nn_tensor_2d(targets, b, m->outputs));
}

/* Mean loss and accuracy over a data set's rows (rows NULL: all), EVAL mode. */
static nn_result nn__fit_eval(nn_model *m, const nn_data *d, const int *rows, int n, const nn_prep *prep, int *rbuf,
                              float *xraw, float *xin, int *lab, float *tgt, double *loss, double *acc) {
    double s = 0.0;
    long correct = 0;
    int start, i;
    nn_mode mode = m->mode;
    nn_model_set_mode(m, NN_MODE_EVAL);
    for (start = 0; start < n; start += m->max_batch) {
        int b = NN__MIN(m->max_batch, n - start);
        nn_tensor out;
        float l;
        for (i = 0; i < b; i++) rbuf[i] = rows ? rows[start + i] : start + i;
        nn_data_gather(d, rbuf, b, xraw, lab, tgt);
        if (prep) nn_prep_apply(prep, nn_tensor_2d(xin, b, m->inputs), nn_tensor_2d(xraw, b, d->features));
        out = nn_model_forward(m, nn_tensor_2d(prep ? xin : xraw, b, m->inputs));
        if (!out.data) {
            nn_model_set_mode(m, mode);
            return NN_ERR_INVALID_ARGUMENT;
        }
        l = nn__fit_loss(m, out, d->labels ? lab : NULL, tgt, b, &correct);
        s += (double)l * b;
    }
    nn_model_set_mode(m, mode);
    *loss = s / n;
    *acc = d->labels ? (double)correct / n : NAN;
    return NN_OK;
}

NNDEF nn_result nn_fit(nn_model *m, nn_optim *o, nn_arena *arena, const nn_data *train, const nn_fit_desc *d,
                       nn_fit_result *res) {
    nn_fit_result rr;
    nn__fit_plan pl;
    size_t mark;
    int *idx, *bidx, *rows, *lab, n_train, n_val = 0, epoch, steps, ep_done = 0, bad_epochs = 0, features, stop = 0, i;
    float *xraw, *xin, *tgt, *best = NULL;
    const int *train_rows = NULL, *val_rows = NULL;
    const nn_data *vd = NULL;
    const nn_sched *old_sched;
    nn_batcher bt;
    nn_result r = NN_OK;
    long global_step = 0;
    int has_val, monitor, mode_max, parts;
    nn_rng aug_rng;
    float *acc = NULL;
    char *err;
    if (!res) res = &rr;
    NN__ZERO(*res);
    err = res->error;
    if (!m || !o || !arena || !train || !d)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "fit: model, optimizer, arena, data or desc is NULL");
    /* ---- checks, before anything changes ---- */
#define NN__FIT_FAIL(code, ...) do { r = nn__fail(err, code, __VA_ARGS__); goto done_unchanged; } while (0)
    if (d->tag != NN_DESC_TAG) NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: description not made by nn_fit_desc_default()");
    if (d->world < 0 || (d->world > 1 && (d->rank < 0 || d->rank >= d->world)) || d->accum < 0 ||
        (d->world > 1 && d->accum > 1))
        NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: world %d, rank %d, accum %d (world >= 0, 0 <= rank < world, not "
                     "world and accum both over 1)", d->world, d->rank, d->accum);
    parts = d->world > 1 ? d->world : d->accum > 1 ? d->accum : 1;
    if (parts > 1 && (d->batch % parts != 0 || !d->drop_last))
        NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: batch %d in %d equal slices: needs batch %% %d == 0 and drop_last",
                     d->batch, parts, parts);
    if (d->epochs < 1 || d->batch < 1 || d->batch / parts > m->max_batch)
        NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: %d epochs (>= 1), batch %d (1..max_batch %d%s)", d->epochs, d->batch,
                     m->max_batch, parts > 1 ? " per slice" : "");
    if (!NN__IN(d->val_split, 0.0f, 0.99f) || (d->val && d->val_split != 0.0f))
        NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: val_split %g (0..0.99), and not with a val set", (double)d->val_split);
    if (d->patience < -1 || !(d->min_delta >= 0.0f) || d->history_cap < 0 || (d->history_cap && !d->history) ||
        (int)d->monitor < 0 || d->monitor > NN_MONITOR_TRAIN_LOSS)
        NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: patience >= -1, min_delta >= 0, history and its cap, monitor");
    features = d->prep ? d->prep->in : m->inputs;
    if (d->prep && (!d->prep->shift || d->prep->out != m->inputs))
        NN__FIT_FAIL(NN_ERR_SHAPE_MISMATCH, "fit: the preprocessing gives %d features, the model reads %d",
                     d->prep->out, m->inputs);
    r = nn__data_check(train, "training", features, m->outputs, err);
    if (r != NN_OK) goto done_unchanged;
    if (d->val) {
        r = nn__data_check(d->val, "validation", features, m->outputs, err);
        if (r != NN_OK) goto done_unchanged;
        if (!d->val->labels != !train->labels)
            NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: training and validation data: labels in one, targets in the other");
    }
    has_val = d->val || d->val_split > 0.0f;
    monitor = d->monitor;
    if (!has_val && monitor == NN_MONITOR_VAL_LOSS) monitor = NN_MONITOR_TRAIN_LOSS; /* as documented */
    if (!has_val && monitor != NN_MONITOR_TRAIN_LOSS)
        NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: the monitor needs validation data (val or val_split)");
    if (monitor == NN_MONITOR_VAL_ACCURACY && !train->labels)
        NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: accuracy needs labels");
    mode_max = monitor == NN_MONITOR_VAL_ACCURACY;
    if (d->sched && d->sched->d.kind == NN_SCHED_PLATEAU && d->sched->d.mode_max != mode_max)
        NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: the PLATEAU schedule's mode_max %d disagrees with the monitor",
                     d->sched->d.mode_max);
    if (d->augment && (d->augment->tag != NN_DESC_TAG || !NN__IN(d->augment->flip_p, 0.0f, 1.0f) ||
                       d->augment->crop_padding < 0 || d->augment->crop_padding > 65536 ||
                       !(d->augment->translate >= 0.0f && d->augment->translate < 1.0f) ||
                       !NN__IN(d->augment->fill, -1e30f, 1e30f)))
        NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: augment: not made by nn_augment_desc_default(), or flip_p "
                     "outside [0, 1], crop_padding outside 0..65536, translate outside [0, 1)");
    if (d->augment && features != m->inputs)
        NN__FIT_FAIL(NN_ERR_SHAPE_MISMATCH, "fit: augment transforms images of the model's input shape; the data has "
                     "%d features, the model %d inputs", features, m->inputs);
    nn_rng_seed(&aug_rng, d->seed ^ 0x6175676d656e7431ull); /* a stream of its own: shuffles stay as without */
    for (i = 0; d->world > 1 && i < d->rank; i++) nn_rng_jump(&aug_rng); /* and one per worker */
    nn__fit_sizes(m, train, d, &pl);
    mark = nn_arena_mark(arena);
    idx = (int *)nn_arena_alloc(arena, pl.idx);
    bidx = (int *)nn_arena_alloc(arena, pl.bidx);
    rows = (int *)nn_arena_alloc(arena, pl.rows);
    xraw = (float *)nn_arena_alloc(arena, pl.xraw);
    xin = pl.xin ? (float *)nn_arena_alloc(arena, pl.xin) : NULL;
    lab = (int *)nn_arena_alloc(arena, pl.lab);
    tgt = (float *)nn_arena_alloc(arena, pl.tgt);
    if (pl.best) best = (float *)nn_arena_alloc(arena, pl.best);
    if (pl.acc) acc = (float *)nn_arena_alloc(arena, pl.acc);
    if (!idx || !bidx || !rows || !xraw || (pl.xin && !xin) || !lab || !tgt || (pl.best && !best) || (pl.acc && !acc)) {
        nn_arena_rewind(arena, mark);
        NN__FIT_FAIL(NN_ERR_OUT_OF_MEMORY, "fit: arena full (%lu bytes of scratch, nn_fit_arena_bytes)",
                     (unsigned long)nn_fit_arena_bytes(m, train, d));
    }
    /* ---- the split and the batcher ---- */
    if (d->val_split > 0.0f) {
        int nt = 0, nv = 0;
        if (train->rows) {
            nn_arena_rewind(arena, mark);
            NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: val_split over a view: split it yourself (nn_split), pass val");
        }
        r = nn_split(idx, train->n, train->labels, train->labels ? m->outputs : 0, d->val_split, 0.0f, d->seed, &nt, &nv,
                     NULL);
        if (r != NN_OK || nt < 1 || nv < 1) {
            nn_arena_rewind(arena, mark);
            NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: val_split %g of %d rows leaves %d to train, %d to validate",
                         (double)d->val_split, train->n, nt, nv);
        }
        n_train = nt;
        n_val = nv;
        train_rows = idx;
        val_rows = idx + nt;
        vd = train;
    } else {
        n_train = train->rows ? train->n_rows : train->n;
        train_rows = train->rows;
        if (d->val) {
            vd = d->val;
            n_val = d->val->rows ? d->val->n_rows : d->val->n;
            val_rows = d->val->rows;
        }
    }
    if (d->drop_last && d->batch > n_train) {
        nn_arena_rewind(arena, mark);
        NN__FIT_FAIL(NN_ERR_INVALID_ARGUMENT, "fit: drop_last with batch %d over %d training rows", d->batch, n_train);
    }
    nn_batcher_init(&bt, bidx, n_train, d->batch, d->shuffle, d->drop_last, d->seed);
    steps = nn_batcher_count(&bt);
    if (d->meta) {
        uint32_t crc = train->x_u8 ? nn_crc32(0, train->x_u8, (size_t)train->n * train->features)
                                   : nn_crc32(0, train->x, sizeof(float) * (size_t)train->n * train->features);
        crc = train->labels ? nn_crc32(crc, train->labels, sizeof(int) * (size_t)train->n)
                            : nn_crc32(crc, train->targets, sizeof(float) * (size_t)train->n * train->target_dim);
        nn_meta_set_training(d->meta, o, d->sched, d->epochs, d->batch, d->seed);
        d->meta->data_crc = crc;
        d->meta->data_rows = (uint64_t)n_train;
    }
    old_sched = o->sched;
    if (d->sched) nn_optim_attach_sched(o, d->sched);
    nn_model_zero_grad(m); /* once: every step below leaves them at 0 again */
    res->best = mode_max ? -INFINITY : INFINITY;
    /* ---- epochs ---- */
    for (epoch = 1; epoch <= d->epochs && !stop; epoch++) {
        double t0 = nn__now(), loss_sum = 0.0, vloss = NAN, vacc = NAN, mon;
        long correct = 0, seen = 0;
        const int *br;
        int b, step = 0, improved = 0;
        nn_fit_epoch he;
        nn_fit_state fs;
        NN__ZERO(fs);
        fs.epochs = d->epochs;
        fs.steps = steps;
        fs.model = m;
        fs.optim = o;
        fs.epoch = epoch;
        nn_model_set_mode(m, NN_MODE_TRAIN);
        while ((b = nn_batcher_next(&bt, &br)) > 0) {
            float loss = 0.0f;
            int part, nparts = d->accum > 1 ? d->accum : 1, mb;
            if (d->world > 1) { /* this worker's slice of the global batch */
                b /= d->world;
                br += (size_t)d->rank * (size_t)b;
            }
            mb = b / nparts;
            step++;
            global_step++;
            for (part = 0; part < nparts; part++) {
                const int *rr_rows = br + (size_t)part * (size_t)mb;
                nn_tensor out;
                float l;
                if (train_rows) {
                    for (i = 0; i < mb; i++) rows[i] = train_rows[rr_rows[i]];
                    rr_rows = rows;
                }
                nn_data_gather(train, rr_rows, mb, xraw, lab, tgt);
                if (d->augment)
                    nn_augment_images(nn_tensor_4d(xraw, mb, m->input_shape[0], m->input_shape[1], m->input_shape[2]),
                                      d->augment, &aug_rng);
                if (d->prep) nn_prep_apply(d->prep, nn_tensor_2d(xin, mb, m->inputs), nn_tensor_2d(xraw, mb, features));
                out = nn_model_forward(m, nn_tensor_2d(d->prep ? xin : xraw, mb, m->inputs));
                if (!out.data) {
                    r = nn__fail(err, NN_ERR_INVALID_ARGUMENT, "fit: forward refused the batch: %s", m->error);
                    stop = 1;
                    break;
                }
                l = nn__fit_loss(m, out, train->labels ? lab : NULL, tgt, mb, &correct);
                if (!(l - l == 0.0f)) {
                    nn__fit_culprit(m, mb, err, epoch, step, l);
                    r = NN_ERR_NONFINITE;
                    res->stop = NN_FIT_NONFINITE;
                    stop = 1;
                    break;
                }
                loss += l;
                /* the gradients are 0 here: zeroed before the first step, then by each step */
                nn_model_backward(m, nn_tensor_2d(m->dout, mb, m->outputs));
                if (nparts > 1) { /* acc = g_0, then acc += g_part: nn_grad_mean_ordered's order */
                    size_t k;
                    if (part == 0) memcpy(acc, m->grads, sizeof(float) * m->n_params);
                    else
                        for (k = 0; k < m->n_params; k++) acc[k] += m->grads[k];
                    memset(m->grads, 0, sizeof(float) * m->n_params);
                }
            }
            if (stop) break;
            if (nparts > 1) {
                float inv = 1.0f / (float)nparts;
                size_t k;
                for (k = 0; k < m->n_params; k++) m->grads[k] = acc[k] * inv;
                loss /= (float)nparts;
            }
            if (d->reduce) {
                nn_result rr2 = d->reduce(m->grads, m->n_params, d->reduce_ctx);
                if (rr2 != NN_OK) {
                    nn_model_zero_grad(m); /* as every return leaves them */
                    r = nn__fail(err, rr2, "fit: the gradient reduction failed (%s) at epoch %d, step %d",
                                 nn_result_string(rr2), epoch, step);
                    stop = 1;
                    break;
                }
            }
            if (d->decay_all) nn_optim_step_and_zero_grad(o, m->params, m->grads, m->n_params);
            else nn_optim_step_params_and_zero_grad(o, m->param_list, m->n_param_list);
            if (d->sched && !d->sched_per_epoch && d->sched->d.kind != NN_SCHED_PLATEAU) nn_sched_step(d->sched, 0.0f);
            loss_sum += (double)loss * b;
            seen += b;
            if (d->on_batch) {
                fs.event = NN_FIT_BATCH;
                fs.step = step;
                fs.global_step = global_step;
                fs.loss = loss;
                fs.epoch_loss = (float)(loss_sum / seen);
                fs.elapsed = nn__now() - t0;
                fs.samples_per_s = fs.elapsed > 0 ? seen / fs.elapsed : 0.0;
                fs.eta = step ? fs.elapsed * (steps - step) / step : 0.0;
                if (d->on_batch(&fs, d->user)) {
                    res->stop = NN_FIT_CALLBACK_STOP;
                    stop = 1;
                    break;
                }
            }
        }
        if (r != NN_OK) break;
        if (!seen) break; /* a callback stopped before the first batch ended */
        ep_done = epoch;
        if (n_val) {
            double l, a;
            r = nn__fit_eval(m, vd, val_rows, n_val, d->prep, rows, xraw, xin, lab, tgt, &l, &a);
            if (r != NN_OK) {
                nn__fail(err, r, "fit: validation forward refused: %s", m->error);
                break;
            }
            vloss = l;
            vacc = a;
        }
        he.train_loss = (float)(loss_sum / seen);
        he.train_acc = train->labels ? (float)((double)correct / seen) : NAN;
        he.val_loss = (float)vloss;
        he.val_acc = (float)vacc;
        he.lr = o->d.lr;
        mon = monitor == NN_MONITOR_VAL_LOSS ? vloss : monitor == NN_MONITOR_VAL_ACCURACY ? vacc : he.train_loss;
        improved = mode_max ? mon > (double)res->best + d->min_delta : mon < (double)res->best - d->min_delta;
        if (improved) {
            res->best = (float)mon;
            res->best_epoch = epoch;
            bad_epochs = 0;
            if (best) {
                memcpy(best, m->params, sizeof(float) * m->n_params);
                if (m->n_buffers) memcpy(best + m->n_params, m->buffers, sizeof(float) * m->n_buffers);
            }
#ifndef NN_NO_STDIO
            if (d->checkpoint) {
                r = nn_model_save(m, d->checkpoint_state, d->checkpoint);
                if (r != NN_OK) {
                    nn__fail(err, r, "fit: saving the checkpoint %.200s failed", d->checkpoint);
                    break;
                }
            }
#endif
        } else {
            bad_epochs++;
        }
        if (d->sched) {
            if (d->sched->d.kind == NN_SCHED_PLATEAU) nn_sched_step(d->sched, (float)mon);
            else if (d->sched_per_epoch) nn_sched_step(d->sched, 0.0f);
        }
        he.seconds = nn__now() - t0;
        if (epoch <= d->history_cap) d->history[epoch - 1] = he;
        res->epochs_run = epoch;
        if (d->on_epoch) {
            fs.event = NN_FIT_EPOCH;
            fs.step = steps;
            fs.global_step = global_step;
            fs.epoch_loss = he.train_loss;
            fs.elapsed = he.seconds;
            fs.samples_per_s = he.seconds > 0 ? seen / he.seconds : 0.0;
            fs.last = &he;
            fs.improved = improved;
            if (d->on_epoch(&fs, d->user)) {
                res->stop = NN_FIT_CALLBACK_STOP;
                stop = 1;
            }
        }
        if (!stop && d->patience >= 0 && bad_epochs > 0 && bad_epochs >= d->patience) {
            res->stop = NN_FIT_EARLY_STOP;
            stop = 1;
        }
    }
    res->epochs_run = ep_done;
    if (best && res->best_epoch > 0 && r != NN_ERR_NONFINITE) {
        memcpy(m->params, best, sizeof(float) * m->n_params);
        if (m->n_buffers) memcpy(m->buffers, best + m->n_params, sizeof(float) * m->n_buffers);
    }
    nn_optim_attach_sched(o, old_sched);
    nn_arena_rewind(arena, mark);
    return r;
done_unchanged:
#undef NN__FIT_FAIL
    return r;
}

#ifndef NN_NO_STDIO
NNDEF int nn_fit_progress(const nn_fit_state *s, void *file) {
    FILE *f = file ? (FILE *)file : stderr;
#if NN__POSIX
    /* fileno is outside strict C99: the two standard streams are what a terminal shows */
    int tty = (f == stdout && isatty(1)) || (f == stderr && isatty(2));
#else
    int tty = 0;
#endif
    if (!s || (s->event != NN_FIT_BATCH && !s->last)) return 0;
    if (s->event == NN_FIT_BATCH) {
        char bar[26];
        int w = 24, fill, i, every = s->steps / 50 > 1 ? s->steps / 50 : 1;
        if (!tty || (s->step % every && s->step != s->steps)) return 0;
        fill = s->steps ? (int)((double)w * s->step / s->steps) : w;
        for (i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
        bar[w] = 0;
        fprintf(f, "\repoch %d/%d [%s] %d/%d  loss %.4f  %.0f samples/s  ETA %.0f s  ", s->epoch, s->epochs, bar, s->step,
                s->steps, (double)s->epoch_loss, s->samples_per_s, s->eta);
        fflush(f);
        return 0;
    }
    if (tty) fprintf(f, "\r%100s\r", "");
    fprintf(f, "epoch %d/%d  loss %.4f", s->epoch, s->epochs, (double)s->last->train_loss);
    if (s->last->train_acc == s->last->train_acc) fprintf(f, "  acc %.2f%%", 100.0 * s->last->train_acc);
    if (s->last->val_loss == s->last->val_loss) fprintf(f, "  val_loss %.4f", (double)s->last->val_loss);
    if (s->last->val_acc == s->last->val_acc) fprintf(f, "  val_acc %.2f%%", 100.0 * s->last->val_acc);
    fprintf(f, "  lr %.3g  %.1f s%s\n", (double)s->last->lr, s->last->seconds, s->improved ? "  *" : "");
    fflush(f);
    return 0;
}

NNDEF nn_result nn_fit_history_csv(const nn_fit_epoch *h, int n, FILE *f) {
    int i;
    if (!f || (n && !h)) return NN_ERR_INVALID_ARGUMENT;
    if (fprintf(f, "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n") < 0) return NN_ERR_IO;
    for (i = 0; i < n; i++)
        if (fprintf(f, "%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.6f\n", i + 1, (double)h[i].train_loss, (double)h[i].train_acc,
                    (double)h[i].val_loss, (double)h[i].val_acc, (double)h[i].lr, h[i].seconds) < 0)
            return NN_ERR_IO;
    return NN_OK;
}
#endif

/* == 16. images: decode (stb_image), resize (stb_image_resize), folders ==== */
#if defined(STBI_INCLUDE_STB_IMAGE_H) && defined(STBIR_INCLUDE_STB_IMAGE_RESIZE_H)
#include <errno.h>
#if NN__POSIX
#include <dirent.h>
#include <sys/stat.h>
#endif

#define NN__IMAGE_PATH_MAX 4096      /* longest path a folder load builds or takes */
#define NN__IMAGE_MAX_CLASSES 65536  /* class folders under one root */
#define NN__IMAGE_SKIPPED_MAX 65536  /* bytes of a folder's `skipped` text, NUL included */

/* PNG needs stb_image's zlib decoder (also for the bound below): where this
   file sees stb_image configured without PNG, PNGs are refused instead. */
#if defined(STBI_NO_PNG) || defined(STBI_NO_ZLIB) ||                                                     \
    ((defined(STBI_ONLY_JPEG) || defined(STBI_ONLY_BMP) || defined(STBI_ONLY_TGA) ||                     \
      defined(STBI_ONLY_GIF) || defined(STBI_ONLY_PSD) || defined(STBI_ONLY_HDR) ||                      \
      defined(STBI_ONLY_PIC) || defined(STBI_ONLY_PNM)) && !defined(STBI_ONLY_PNG))
#define NN__IMAGE_PNG 0
#else
#define NN__IMAGE_PNG 1
#endif

NNDEF nn_image_desc nn_image_desc_default(int width, int height, int channels) {
    nn_image_desc d;
    NN__ZERO(d);
    d.width = width;
    d.height = height;
    d.channels = channels;
    d.max_source_pixels = 1 << 24;
    d.max_file_bytes = (size_t)64 << 20;
    d.max_images = 1 << 20;
    d.tag = NN_DESC_TAG;
    return d;
}

/* Checks a description; *bytes gets channels * height * width. */
static nn_result nn__image_check_desc(const nn_image_desc *d, size_t *bytes, char *err) {
    if (!d) return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "image: description is NULL");
    if (d->tag != NN_DESC_TAG)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "image: description not made by nn_image_desc_default()");
    if (d->channels != 1 && d->channels != 3)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "image: channels = %d, must be 1 (gray) or 3 (RGB)", d->channels);
    if (d->width < 1 || d->height < 1)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "image: width x height = %d x %d, both must be >= 1", d->width,
                        d->height);
    if ((uint64_t)d->width * (uint64_t)d->height * (uint64_t)d->channels > (uint64_t)INT_MAX)
        return nn__fail(err, NN_ERR_TOO_LARGE, "image: %d x %d x %d output bytes, over INT_MAX", d->channels,
                        d->height, d->width);
    if (d->max_source_pixels < 1 || d->max_file_bytes < 1 || d->max_images < 1)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "image: max_source_pixels, max_file_bytes and max_images must be >= 1");
    *bytes = (size_t)d->width * (size_t)d->height * (size_t)d->channels;
    return NN_OK;
}

/* stb_image's reason for its last failure on this thread. */
static const char *nn__stbi_reason(void) {
    const char *s = stbi_failure_reason();
    return s && *s ? s : "no reason given";
}

/* Byte i of a buffer, 0 past its end (as stb_image reads memory). */
#define NN__IMAGE_BYTE(p, len, i) ((size_t)(i) < (len) ? (unsigned)(p)[i] : 0u)

/* stb_image's TGA header test (stbi__tga_test), byte for byte: TGA has no
   signature, so this is what stb_image calls a TGA. */
static int nn__image_is_tga(const unsigned char *p, size_t len) {
    unsigned cmap = NN__IMAGE_BYTE(p, len, 1), type = NN__IMAGE_BYTE(p, len, 2), bpp;
    if (cmap > 1) return 0;
    if (cmap == 1) {
        unsigned e = NN__IMAGE_BYTE(p, len, 7); /* bits per palette entry */
        if (type != 1 && type != 9) return 0;
        if (e != 8 && e != 15 && e != 16 && e != 24 && e != 32) return 0;
    } else if (type != 2 && type != 3 && type != 10 && type != 11) {
        return 0;
    }
    if ((NN__IMAGE_BYTE(p, len, 12) | NN__IMAGE_BYTE(p, len, 13)) == 0) return 0; /* width */
    if ((NN__IMAGE_BYTE(p, len, 14) | NN__IMAGE_BYTE(p, len, 15)) == 0) return 0; /* height */
    bpp = NN__IMAGE_BYTE(p, len, 16);
    if (cmap == 1 && bpp != 8 && bpp != 16) return 0;
    return bpp == 8 || bpp == 15 || bpp == 16 || bpp == 24 || bpp == 32;
}

/* The format from the first bytes. Each of stb_image's formats but TGA has a
   signature; the tests below take in at least every file stb_image's own test
   of that format takes, and they exclude one another, so stb_image (which tries
   them in its own order, TGA last) decodes an accepted file as the format
   named here. Returns the format's name, *accepted 1 for PNG, JPEG, BMP and
   TGA; NULL when nothing matched. */
static const char *nn__image_format(const unsigned char *p, size_t len, int *accepted) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    unsigned b0 = NN__IMAGE_BYTE(p, len, 0), b1 = NN__IMAGE_BYTE(p, len, 1);
    size_t i;
    *accepted = 1;
    if (len >= 8 && !memcmp(p, png, 8)) {
        *accepted = NN__IMAGE_PNG;
        return "PNG";
    }
    if (b0 == 'B' && b1 == 'M') return "BMP";
    if (b0 == 0xFF) { /* stb_image: 0xFF, any 0xFF fill bytes, then SOI 0xD8 */
        for (i = 1; NN__IMAGE_BYTE(p, len, i) == 0xFF; i++) {}
        if (NN__IMAGE_BYTE(p, len, i) == 0xD8) return "JPEG";
    }
    *accepted = 0;
    if (len >= 4 && !memcmp(p, "GIF8", 4)) return "GIF";
    if (len >= 4 && !memcmp(p, "8BPS", 4)) return "PSD";
    if (len >= 4 && !memcmp(p, "\x53\x80\xF6\x34", 4)) return "PIC (Softimage)";
    if (b0 == 'P' && b1 >= '1' && b1 <= '7') return "PNM";
    if (b0 == '#' && b1 == '?') return "HDR (Radiance)";
    *accepted = 1;
    if (nn__image_is_tga(p, len)) return "TGA";
    *accepted = 0;
    return NULL;
}

#if NN__IMAGE_PNG
/* stb_image inflates a PNG's image data into a buffer that it doubles as
   needed, so a file of a few MB that claims 1 x 1 pixels makes it allocate
   and fill gigabytes. So the data is first inflated, with stb_image's
   fixed-size inflater, into a buffer of the bytes its header implies plus an
   eighth and 1 KiB (stb_image and libpng accept a little surplus data): a
   stream that wants more is refused before the real decode. The chunks must run
   complete up to IEND (stb_image would decode a file missing its last bytes);
   other malformations are left for stb_image to report. */
static nn_result nn__image_png_bound(const unsigned char *p, size_t len, char *err) {
    static const unsigned char ax[7] = {0, 4, 0, 2, 0, 1, 0}, ay[7] = {0, 0, 4, 0, 2, 0, 1};
    static const unsigned char sx[7] = {8, 8, 4, 4, 2, 2, 1}, sy[7] = {8, 8, 8, 4, 4, 2, 2};
    static const unsigned char samples[7] = {1, 0, 3, 1, 2, 0, 4}; /* by colour type */
    size_t pos = 8, idat = 0, n_idat = 0;
    uint64_t w = 0, h = 0, bits = 0, need = 0, cap;
    int interlace = 0, cgbi = 0, have = 0, k, got;
    const unsigned char *src = NULL;
    unsigned char *cat = NULL, *out;
    for (;;) {
        uint32_t n;
        const unsigned char *t = p + pos + 4;
        if (len - pos < 12)
            return nn__fail(err, NN_ERR_TRUNCATED, "PNG: cut short: %lu bytes, no IEND chunk", (unsigned long)len);
        n = nn__be32(p + pos);
        if (n > 0x7FFFFFFFu) return nn__fail(err, NN_ERR_CORRUPT, "PNG: chunk length %lu at byte %lu", (unsigned long)n,
                                             (unsigned long)pos);
        if (n > len - pos - 12)
            return nn__fail(err, NN_ERR_TRUNCATED, "PNG: cut short: %lu bytes, a chunk at byte %lu needs %lu",
                            (unsigned long)len, (unsigned long)pos, (unsigned long)n + 12);
        if (!memcmp(t, "IHDR", 4) && n >= 13 && !have) {
            unsigned depth = t[12], color = t[13];
            w = nn__be32(t + 4);
            h = nn__be32(t + 8);
            bits = color <= 6 ? (uint64_t)depth * samples[color] : 0;
            interlace = t[16];
            have = 1;
        } else if (!memcmp(t, "CgBI", 4)) {
            cgbi = 1; /* Apple's variant: raw DEFLATE, no zlib header */
        } else if (!memcmp(t, "IDAT", 4)) {
            if (!n_idat++) src = t + 4;
            idat += n;
        } else if (!memcmp(t, "IEND", 4)) {
            break;
        }
        pos += 12 + (size_t)n;
    }
    /* stb_image checked w x h against max_source_pixels already (w, h < 2^31) */
    if (!have || !n_idat || !w || !h || !bits || bits > 64) return NN_OK;
    if (interlace == 1) {
        for (k = 0; k < 7; k++) {
            uint64_t pw = w > ax[k] ? (w - ax[k] + sx[k] - 1) / sx[k] : 0;
            uint64_t ph = h > ay[k] ? (h - ay[k] + sy[k] - 1) / sy[k] : 0;
            if (pw && ph) need += ph * (1 + (pw * bits + 7) / 8);
        }
    } else {
        need = h * (1 + (w * bits + 7) / 8);
    }
    cap = need + need / 8 + 1024;
    if (cap >= (uint64_t)INT_MAX)
        return nn__fail(err, NN_ERR_TOO_LARGE, "PNG: %.0f bytes of image data, more than can be inflated (INT_MAX)",
                        (double)need);
    if (n_idat > 1) { /* gather the IDAT chunks, as stb_image does */
        size_t at = 0;
        cat = (unsigned char *)NN_MALLOC(idat);
        if (!cat) return nn__fail(err, NN_ERR_OUT_OF_MEMORY, "PNG: %lu bytes to gather its data", (unsigned long)idat);
        for (pos = 8; len - pos >= 12;) {
            uint32_t n = nn__be32(p + pos);
            if (n > len - pos - 12 || !memcmp(p + pos + 4, "IEND", 4)) break;
            if (!memcmp(p + pos + 4, "IDAT", 4)) {
                memcpy(cat + at, p + pos + 8, n);
                at += n;
            }
            pos += 12 + (size_t)n;
        }
        src = cat;
    }
    out = (unsigned char *)NN_MALLOC((size_t)cap + 1);
    if (!out) {
        NN_FREE(cat);
        return nn__fail(err, NN_ERR_OUT_OF_MEMORY, "PNG: %.0f bytes to check its data", (double)cap + 1);
    }
    got = cgbi ? stbi_zlib_decode_noheader_buffer((char *)out, (int)cap + 1, (const char *)src, (int)idat)
               : stbi_zlib_decode_buffer((char *)out, (int)cap + 1, (const char *)src, (int)idat);
    NN_FREE(out);
    NN_FREE(cat);
    if (got < 0 || (uint64_t)got > cap)
        return nn__fail(err, NN_ERR_CORRUPT, "PNG: image data corrupt or inflating past the %.0f bytes of a %u x %u image "
                        "(stb_image: %s)", (double)need, (unsigned)w, (unsigned)h,
                        got < 0 ? nn__stbi_reason() : "longer than its header says");
    return NN_OK;
}
#endif

/* Two holes of stb_image 2.27's JPEG decoder (Debian's; found again by
   tests/fuzz_image.c, fixed upstream after it): a Huffman table whose 16 code
   counts add up to more than 256 is built past its arrays; and a scan may use
   a Huffman or quantization table that no DHT or DQT defined, so the decoder
   runs on uninitialized memory (reads out of bounds, or pixels that change
   from run to run). So the marker segments are walked first, as stb_image
   reads them (DHT and DQT tables on while their segment has bytes left, even
   past its end; entropy-coded data skipped up to a 0xFF that is neither a
   stuffed 0x00 nor a restart), and such files are refused. The walk also
   counts the entropy-coded bytes: stb_image decodes missing data as zeros, so
   a few hundred bytes ending in EOI would pass for a 4096 x 4096 image. The
   most sampled component has ceil(w/8) x ceil(h/8) blocks, each taking at
   least 2 bits (a DC and an EOB code; progressive: 1, its DC code in its first
   DC scan), so fewer bytes than that is a file cut short. */
static nn_result nn__image_jpeg_check(const unsigned char *p, size_t len, char *err) {
    size_t pos = 1;
    unsigned dc = 0, ac = 0, dq = 0, n_comp = 0, i; /* bit t: table t defined */
    unsigned char comp_id[4] = {0}, comp_tq[4] = {0};
    int progressive = 0, in_scan = 0;
    uint64_t sof_w = 0, sof_h = 0, scan_bytes = 0, blocks, need;
    while (pos < len && p[pos] == 0xFF) pos++;
    pos++; /* SOI */
    while (pos + 1 < len) {
        unsigned m;
        size_t seg, at;
        long left;
        if (p[pos] != 0xFF) { /* entropy-coded data or junk */
            scan_bytes += (uint64_t)in_scan;
            pos++;
            continue;
        }
        while (pos < len && p[pos] == 0xFF) pos++; /* fill bytes */
        if (pos >= len) break;
        m = p[pos++];
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* no length */
            scan_bytes += 2u * (uint64_t)in_scan;
            continue;
        }
        if (m == 0xD9) { /* EOI: enough data for the blocks? */
            blocks = ((sof_w + 7) / 8) * ((sof_h + 7) / 8);
            need = progressive ? (blocks + 7) / 8 : (blocks + 3) / 4;
            if (scan_bytes < need)
                return nn__fail(err, NN_ERR_TRUNCATED,
                                "JPEG: %.0f bytes of scan data for %.0f x %.0f pixels, which take at least %.0f",
                                (double)scan_bytes, (double)sof_w, (double)sof_h, (double)need);
            break;
        }
        in_scan = 0;
        if (len - pos < 2) break;
        seg = (size_t)p[pos] << 8 | p[pos + 1];
        if (seg < 2) break; /* stb_image reports it */
        at = pos + 2;
        left = (long)seg - 2;
        if (m == 0xC4) { /* DHT: (class << 4 | id, 16 counts, the symbols) */
            while (left > 0) {
                unsigned q = NN__IMAGE_BYTE(p, len, at), n = 0;
                for (i = 1; i <= 16; i++) n += NN__IMAGE_BYTE(p, len, at + i);
                if (n > 256)
                    return nn__fail(err, NN_ERR_CORRUPT, "JPEG: a Huffman table of %u codes at byte %lu (at most 256)", n,
                                    (unsigned long)at);
                if ((q >> 4) > 1 || (q & 15) > 3) break; /* stb_image refuses it */
                if (q >> 4) ac |= 1u << (q & 15);
                else dc |= 1u << (q & 15);
                at += 17 + n;
                left -= 17 + (long)n;
            }
        } else if (m == 0xDB) { /* DQT: (precision << 4 | id, 64 values of 8 or 16 bits) */
            while (left > 0) {
                unsigned q = NN__IMAGE_BYTE(p, len, at);
                if ((q >> 4) > 1 || (q & 15) > 3) break;
                dq |= 1u << (q & 15);
                at += q >> 4 ? 129 : 65;
                left -= q >> 4 ? 129 : 65;
            }
        } else if (m >= 0xC0 && m <= 0xC2) { /* SOF: the components' ids and quantization tables */
            progressive = m == 0xC2;
            sof_h = NN__IMAGE_BYTE(p, len, pos + 3) << 8 | NN__IMAGE_BYTE(p, len, pos + 4);
            sof_w = NN__IMAGE_BYTE(p, len, pos + 5) << 8 | NN__IMAGE_BYTE(p, len, pos + 6);
            n_comp = NN__MIN(NN__IMAGE_BYTE(p, len, pos + 7), 4u);
            for (i = 0; i < n_comp; i++) {
                comp_id[i] = (unsigned char)NN__IMAGE_BYTE(p, len, pos + 8 + 3 * i);
                comp_tq[i] = (unsigned char)NN__IMAGE_BYTE(p, len, pos + 10 + 3 * i);
            }
        } else if (m == 0xDA) { /* SOS: the tables this scan decodes with must exist */
            unsigned ns = NN__IMAGE_BYTE(p, len, pos + 2), ss = NN__IMAGE_BYTE(p, len, pos + 3 + 2 * ns);
            unsigned ah = NN__IMAGE_BYTE(p, len, pos + 5 + 2 * ns) >> 4;
            int need_dc = !progressive || (ss == 0 && ah == 0), need_ac = !progressive || ss > 0;
            for (i = 0; i < ns && i < 4; i++) {
                unsigned id = NN__IMAGE_BYTE(p, len, pos + 3 + 2 * i), t = NN__IMAGE_BYTE(p, len, pos + 4 + 2 * i), c;
                for (c = 0; c < n_comp && comp_id[c] != id; c++) {}
                if (c == n_comp || (t >> 4) > 3 || (t & 15) > 3) continue; /* stb_image refuses it */
                if ((need_dc && !(dc >> (t >> 4) & 1)) || (need_ac && !(ac >> (t & 15) & 1)))
                    return nn__fail(err, NN_ERR_CORRUPT, "JPEG: the scan at byte %lu uses a Huffman table no DHT defined",
                                    (unsigned long)pos);
                if (comp_tq[c] > 3 || !(dq >> comp_tq[c] & 1))
                    return nn__fail(err, NN_ERR_CORRUPT,
                                    "JPEG: the scan at byte %lu uses quantization table %u, which no DQT defined",
                                    (unsigned long)pos, (unsigned)comp_tq[c]);
            }
            in_scan = 1;
        }
        pos += seg; /* may be past len: stb_image reads zeros there */
    }
    return NN_OK;
}

/* stb_image reads zeros past the end of a BMP or TGA and decodes a file cut
   short without a word. The bytes its pixels need are counted here the way
   stb_image reads them (w, h from stbi_info); layouts this does not know are
   left for stb_image to refuse or read. */
static nn_result nn__image_bmp_tga_size(const unsigned char *p, size_t len, int is_bmp, uint64_t w, uint64_t h,
                                        char *err) {
    uint64_t need, total = w * h;
    int runs_short = 0;
    if (is_bmp) {
        uint64_t off = 0, hsz = 0, comp = 0;
        unsigned at, bpp, k;
        for (k = 4; k-- > 0;) {
            off = off << 8 | NN__IMAGE_BYTE(p, len, 10 + k);
            hsz = hsz << 8 | NN__IMAGE_BYTE(p, len, 14 + k);
            comp = comp << 8 | NN__IMAGE_BYTE(p, len, 30 + k);
        }
        at = hsz == 12 ? 24 : 28;
        bpp = NN__IMAGE_BYTE(p, len, at) | NN__IMAGE_BYTE(p, len, at + 1) << 8;
        /* stb_image refuses compression 1, 2 (RLE) and 4 up to 2^31 - 1, and
           reads every other value (a negative int to it) as uncompressed */
        if (hsz == 12) comp = 0;
        if ((comp >= 1 && comp <= 2) || (comp >= 4 && comp < 0x80000000u) ||
            (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32))
            return NN_OK;
        /* with a palette, stb_image then skips to the end and reads zeros */
        if (off < 14 + hsz)
            return nn__fail(err, NN_ERR_CORRUPT, "BMP: pixel data at byte %lu, inside its %lu-byte header",
                            (unsigned long)off, (unsigned long)(14 + hsz));
        need = off + (w * bpp + 31) / 32 * 4 * h; /* rows padded to 4 bytes */
    } else {
        unsigned idlen = p[0], indexed = NN__IMAGE_BYTE(p, len, 1), type = NN__IMAGE_BYTE(p, len, 2);
        unsigned pstart = NN__IMAGE_BYTE(p, len, 3) | NN__IMAGE_BYTE(p, len, 4) << 8;
        unsigned plen = NN__IMAGE_BYTE(p, len, 5) | NN__IMAGE_BYTE(p, len, 6) << 8;
        unsigned pbits = NN__IMAGE_BYTE(p, len, 7), bits = NN__IMAGE_BYTE(p, len, 16);
        uint64_t px = (bits + 7) / 8, done = 0;
        need = 18 + (uint64_t)idlen;
        if (indexed) need += pstart + (uint64_t)plen * ((pbits + 7) / 8);
        if (type < 8) {
            need += total * px;
        } else { /* run-length packets: a header byte, then one pixel (a run) or n */
            while (done < total) {
                uint64_t n;
                unsigned cmd;
                if (need >= len) break;
                cmd = p[need++];
                n = NN__MIN((uint64_t)(cmd & 127u) + 1, total - done);
                need += cmd & 128u ? px : n * px;
                done += n;
            }
            runs_short = done < total;
        }
    }
    if (runs_short || need > (uint64_t)len)
        return nn__fail(err, NN_ERR_TRUNCATED, "%s: cut short: %lu bytes, its %.0f x %.0f pixels need %s%.0f",
                        is_bmp ? "BMP" : "TGA", (unsigned long)len, (double)w, (double)h, runs_short ? "more than " : "",
                        runs_short ? (double)len : (double)need);
    return NN_OK;
}

NNDEF nn_result nn_image_decode(unsigned char *dst, const nn_image_desc *d, const void *buf, size_t len, char *err) {
    const unsigned char *p = (const unsigned char *)buf, *hwc;
    const char *fmt, *why;
    unsigned char *px, *rs = NULL;
    int accepted, sw, sh, sc, x, y, c, C, W, H;
    size_t bytes = 0, plane, i;
    nn_result r = nn__image_check_desc(d, &bytes, err);
    if (r != NN_OK) return r;
    if (!dst || (!buf && len)) return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "image: %s is NULL", dst ? "buf" : "dst");
    if (len == 0) return nn__fail(err, NN_ERR_TRUNCATED, "image: empty input (0 bytes)");
    if (len > d->max_file_bytes || len > (size_t)INT_MAX)
        return nn__fail(err, NN_ERR_TOO_LARGE, "image: %lu bytes, more than max_file_bytes (%lu)", (unsigned long)len,
                        (unsigned long)(d->max_file_bytes < (size_t)INT_MAX ? d->max_file_bytes : (size_t)INT_MAX));
    fmt = nn__image_format(p, len, &accepted);
    if (!fmt) {
        static const unsigned char png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
        if (len < 8 && !memcmp(p, png, len))
            return nn__fail(err, NN_ERR_TRUNCATED, "PNG: cut short in its signature (%lu bytes)", (unsigned long)len);
        return nn__fail(err, NN_ERR_BAD_MAGIC, "image: not a PNG, JPEG, BMP or TGA file (starts %02x %02x %02x %02x)",
                        NN__IMAGE_BYTE(p, len, 0), NN__IMAGE_BYTE(p, len, 1), NN__IMAGE_BYTE(p, len, 2),
                        NN__IMAGE_BYTE(p, len, 3));
    }
    if (!accepted)
        return nn__fail(err, NN_ERR_UNSUPPORTED, "%s image: not supported (PNG, JPEG, BMP and TGA are%s)", fmt,
                        NN__IMAGE_PNG ? "" : "; PNG only with stb_image's PNG decoder");
    /* the size, before anything is decoded. A PNG's is read here first: past
       2^30 bytes stb_image refuses it without saying the size */
    if (!strcmp(fmt, "PNG") && len >= 24 && !memcmp(p + 12, "IHDR", 4) &&
        (uint64_t)nn__be32(p + 16) * nn__be32(p + 20) > (uint64_t)d->max_source_pixels)
        return nn__fail(err, NN_ERR_TOO_LARGE, "PNG: header gives %lu x %lu = %.0f pixels, more than max_source_pixels (%d)",
                        (unsigned long)nn__be32(p + 16), (unsigned long)nn__be32(p + 20),
                        (double)nn__be32(p + 16) * (double)nn__be32(p + 20), d->max_source_pixels);
    if (!strcmp(fmt, "JPEG")) {
        r = nn__image_jpeg_check(p, len, err);
        if (r != NN_OK) return r;
    }
    if (!stbi_info_from_memory(p, (int)len, &sw, &sh, &sc)) {
        why = nn__stbi_reason();
        return nn__fail(err, strcmp(why, "too large") ? NN_ERR_CORRUPT : NN_ERR_TOO_LARGE,
                        "%s: cannot read its header, cut short or corrupt (stb_image: %s)", fmt, why);
    }
    if ((uint64_t)sw * (uint64_t)sh > (uint64_t)d->max_source_pixels)
        return nn__fail(err, NN_ERR_TOO_LARGE, "%s: header gives %d x %d = %.0f pixels, more than max_source_pixels (%d)",
                        fmt, sw, sh, (double)sw * (double)sh, d->max_source_pixels);
    if (sw < 1 || sh < 1) return nn__fail(err, NN_ERR_CORRUPT, "%s: header gives %d x %d pixels", fmt, sw, sh);
#if NN__IMAGE_PNG
    if (!strcmp(fmt, "PNG")) r = nn__image_png_bound(p, len, err);
#endif
    if (!strcmp(fmt, "BMP") || !strcmp(fmt, "TGA"))
        r = nn__image_bmp_tga_size(p, len, fmt[0] == 'B', (uint64_t)sw, (uint64_t)sh, err);
    if (r != NN_OK) return r;
    C = d->channels;
    W = d->width;
    H = d->height;
    px = stbi_load_from_memory(p, (int)len, &x, &y, &c, C);
    if (!px) {
        why = nn__stbi_reason();
        r = !strcmp(why, "outofmem") || !strcmp(why, "Out of memory") ? NN_ERR_OUT_OF_MEMORY : NN_ERR_CORRUPT;
        return nn__fail(err, r, "%s: cannot decode it (stb_image: %s)", fmt, why);
    }
    if (x != sw || y != sh) {
        stbi_image_free(px);
        return nn__fail(err, NN_ERR_CORRUPT, "%s: decoded %d x %d pixels, its header said %d x %d", fmt, x, y, sw, sh);
    }
    hwc = px;
    if (x != W || y != H) {
        rs = (unsigned char *)NN_MALLOC(bytes);
        if (!rs || !stbir_resize_uint8(px, x, y, 0, rs, W, H, 0, C)) {
            NN_FREE(rs);
            stbi_image_free(px);
            return nn__fail(err, NN_ERR_OUT_OF_MEMORY, "%s: no memory to resize %d x %d to %d x %d", fmt, x, y, W, H);
        }
        hwc = rs;
    }
    /* interleaved (H, W, C) to planar (C, H, W) */
    plane = (size_t)W * (size_t)H;
    if (C == 1) {
        memcpy(dst, hwc, plane);
    } else {
        for (c = 0; c < C; c++) {
            unsigned char *o = dst + (size_t)c * plane;
            const unsigned char *s = hwc + c;
            for (i = 0; i < plane; i++) o[i] = s[i * (size_t)C];
        }
    }
    NN_FREE(rs);
    stbi_image_free(px);
    return NN_OK;
}

#ifndef NN_NO_STDIO
/* A short text for errno after a failed open or listing (strerror may not be
   thread-safe). */
static const char *nn__image_errno_text(int e) {
    switch (e) {
#ifdef ENOENT
    case ENOENT: return "no such file or directory";
#endif
#ifdef EACCES
    case EACCES: return "permission denied";
#endif
#ifdef ENOTDIR
    case ENOTDIR: return "not a directory";
#endif
#ifdef EISDIR
    case EISDIR: return "is a directory";
#endif
#ifdef ELOOP
    case ELOOP: return "too many symbolic links";
#endif
#ifdef EMFILE
    case EMFILE: return "too many open files";
#endif
    default: return "I/O error";
    }
}

/* The last `keep` bytes of a path for a message, "..." in front if cut. */
static const char *nn__image_tail(const char *path, size_t keep, const char **dots) {
    size_t n = strlen(path);
    *dots = n > keep ? "..." : "";
    return n > keep ? path + n - keep : path;
}

NNDEF nn_result nn_image_load(unsigned char *dst, const nn_image_desc *d, const char *path, char *err) {
    void *raw = NULL;
    size_t len = 0, bytes = 0;
    const char *dots, *tail;
    char why[NN_ERROR_MAX];
    nn_result r = nn__image_check_desc(d, &bytes, err);
    if (r != NN_OK) return r;
    if (!dst || !path) return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "image: %s is NULL", dst ? "path" : "dst");
    tail = nn__image_tail(path, 60, &dots);
    errno = 0;
    r = nn_read_file(&raw, &len, path, d->max_file_bytes);
    if (r != NN_OK)
        return nn__fail(err, r, "image: %s%s: %s", dots, tail,
                        r == NN_ERR_TOO_LARGE ? "larger than max_file_bytes"
                        : r == NN_ERR_IO      ? nn__image_errno_text(errno)
                                              : nn_result_string(r));
    why[0] = 0;
    r = nn_image_decode(dst, d, raw, len, why);
    NN_FREE(raw);
    if (r != NN_OK) return nn__fail(err, r, "%s%s: %s", dots, tail, why);
    return NN_OK;
}

#if NN__POSIX
/* Names listed from directories: NUL-terminated, back to back in one pool,
   each after a byte giving its kind: 'd' folder, 'f' regular file, 'o' other
   (device, pipe, socket), 'u' cannot be examined, 'l' path too long. */
typedef struct nn__image_names {
    char *pool;
    size_t len, cap;
    size_t *off; /* where each name starts in pool */
    size_t n, cap_n;
} nn__image_names;

static int nn__image_names_add(nn__image_names *s, char kind, const char *name) {
    size_t k = strlen(name);
    if (s->n == s->cap_n) {
        size_t nc = s->cap_n ? 2 * s->cap_n : 64;
        size_t *no = (size_t *)NN_REALLOC(s->off, nc * sizeof *no);
        if (!no) return 0;
        s->off = no;
        s->cap_n = nc;
    }
    if (s->cap - s->len < k + 2) {
        size_t nc = NN__MAX(2 * s->cap, s->len + k + 2);
        char *np = (char *)NN_REALLOC(s->pool, nc < 4096 ? 4096 : nc);
        if (!np) return 0;
        s->pool = np;
        s->cap = nc < 4096 ? 4096 : nc;
    }
    s->pool[s->len] = kind;
    memcpy(s->pool + s->len + 1, name, k + 1);
    s->off[s->n++] = s->len + 1;
    s->len += k + 2;
    return 1;
}

/* Pointers to the names, in listing order (NULL when out of memory). */
static char **nn__image_names_ptrs(const nn__image_names *s) {
    char **v = (char **)NN_MALLOC((s->n ? s->n : 1) * sizeof *v);
    size_t i;
    if (v)
        for (i = 0; i < s->n; i++) v[i] = s->pool + s->off[i];
    return v;
}

static int nn__image_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the folder path[0..plen) into s, skipping names that start with '.';
   folders_only keeps only sub-folders. Refuses to hold more than `limit`
   names (NN_ERR_TOO_LARGE, err not written: the caller says which limit). */
static nn_result nn__image_list(nn__image_names *s, char *path, size_t plen, size_t limit, int folders_only,
                                char *err) {
    DIR *dir;
    struct dirent *e;
    struct stat st;
    const char *dots, *tail;
    nn_result r = NN_OK;
    path[plen] = 0;
    dir = opendir(path);
    if (!dir) {
        int en = errno;
        tail = nn__image_tail(path, 100, &dots);
        return nn__fail(err, NN_ERR_IO, "image folder: cannot list \"%s%s\": %s", dots, tail, nn__image_errno_text(en));
    }
    for (;;) {
        size_t k;
        char kind;
        errno = 0;
        e = readdir(dir);
        if (!e) {
            if (errno) {
                int en = errno;
                path[plen] = 0;
                tail = nn__image_tail(path, 100, &dots);
                r = nn__fail(err, NN_ERR_IO, "image folder: error listing \"%s%s\": %s", dots, tail,
                             nn__image_errno_text(en));
            }
            break;
        }
        if (e->d_name[0] == '.') continue; /* hidden, "." and ".." */
        k = strlen(e->d_name);
        if (plen + 1 + k > NN__IMAGE_PATH_MAX) {
            kind = 'l';
        } else {
            path[plen] = '/';
            memcpy(path + plen + 1, e->d_name, k + 1);
            kind = stat(path, &st) != 0 ? 'u' : S_ISDIR(st.st_mode) ? 'd' : S_ISREG(st.st_mode) ? 'f' : 'o';
        }
        if (folders_only && kind != 'd') {
            if (kind != 'l') continue;
            path[plen] = 0;
            tail = nn__image_tail(path, 60, &dots);
            r = nn__fail(err, NN_ERR_TOO_LARGE, "image folder: \"%s%s/%.40s...\" is a path over %d bytes", dots, tail,
                         e->d_name, NN__IMAGE_PATH_MAX);
            break;
        }
        if (s->n >= limit) {
            r = NN_ERR_TOO_LARGE;
            break;
        }
        if (!nn__image_names_add(s, kind, e->d_name)) {
            r = nn__fail(err, NN_ERR_OUT_OF_MEMORY, "image folder: out of memory listing %lu names", (unsigned long)s->n);
            break;
        }
    }
    closedir(dir);
    path[plen] = 0;
    return r;
}

/* Appends "cls/file: why" as a line to the skipped text txt (*tlen bytes so
   far, at most NN__IMAGE_SKIPPED_MAX with the NUL; then one line "..." and
   *full set), control bytes shown as '?'. */
static void nn__image_note(char *txt, size_t *tlen, int *full, const char *cls, const char *file, const char *why) {
    char line[2 * 256 + NN_ERROR_MAX + 8];
    int k;
    size_t n, i;
    if (*full) return;
    k = snprintf(line, sizeof line, "%.256s/%.256s: %s\n", cls, file, why);
    if (k <= 0) return;
    n = (size_t)k < sizeof line ? (size_t)k : sizeof line - 1;
    line[n - 1] = '\n';
    for (i = 0; i + 1 < n; i++)
        if ((unsigned char)line[i] < 32 || line[i] == 127) line[i] = '?';
    if (*tlen + n + 5 > NN__IMAGE_SKIPPED_MAX) {
        memcpy(txt + *tlen, "...\n", 5);
        *tlen += 4;
        *full = 1;
        return;
    }
    memcpy(txt + *tlen, line, n);
    *tlen += n;
    txt[*tlen] = 0;
}

#define NN__ALIGN16(x) (((x) + 15) & ~(size_t)15)

NNDEF nn_result nn_image_folder_load(nn_image_folder *out, const nn_image_desc *d, const char *root) {
    char path[NN__IMAGE_PATH_MAX + 2], why[NN_ERROR_MAX], *err, **cptr = NULL, **fptr = NULL, *txt;
    const char *dots, *tail;
    nn__image_names cls, files;
    size_t *first = NULL, img = 0, rlen, n_reg = 0, nam_bytes = 0, o_lab, o_ptr, o_nam, o_txt, tlen = 0, i, j;
    size_t f_lab, f_ptr, f_nam, f_txt, total;
    unsigned char *blk = NULL, *nb;
    int n = 0, n_skipped = 0, full = 0;
    nn_image_folder t;
    nn_result r;
    if (!out) return NN_ERR_INVALID_ARGUMENT;
    err = out->error;
    memset(&cls, 0, sizeof cls);
    memset(&files, 0, sizeof files);
    r = nn__image_check_desc(d, &img, err);
    if (r != NN_OK) return r;
    if (!root || !root[0]) return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "image folder: root is %s", root ? "\"\"" : "NULL");
    rlen = strlen(root);
    if (rlen > NN__IMAGE_PATH_MAX)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "image folder: root is %lu bytes long, at most %d", (unsigned long)rlen,
                        NN__IMAGE_PATH_MAX);
    memcpy(path, root, rlen + 1);
    while (rlen > 1 && path[rlen - 1] == '/') rlen--;
    tail = nn__image_tail(root, 100, &dots);

    /* pass 1: the class folders, then every class folder's entries */
    r = nn__image_list(&cls, path, rlen, NN__IMAGE_MAX_CLASSES, 1, err);
    if (r == NN_ERR_TOO_LARGE && cls.n >= NN__IMAGE_MAX_CLASSES)
        nn__fail(err, r, "image folder: more than %d class folders in \"%s%s\"", NN__IMAGE_MAX_CLASSES, dots, tail);
    if (r != NN_OK) goto done;
    if (cls.n == 0) {
        r = nn__fail(err, NN_ERR_CORRUPT, "image folder: no class folder in \"%s%s\" (expected root/<class>/<image>)", dots,
                     tail);
        goto done;
    }
    cptr = nn__image_names_ptrs(&cls);
    first = (size_t *)NN_MALLOC((cls.n + 1) * sizeof *first);
    if (!cptr || !first) goto oom;
    qsort(cptr, cls.n, sizeof *cptr, nn__image_cmp);
    for (i = 0; i < cls.n; i++) {
        size_t k = strlen(cptr[i]);
        first[i] = files.n;
        path[rlen] = '/';
        memcpy(path + rlen + 1, cptr[i], k + 1); /* fits: nn__image_list checked */
        r = nn__image_list(&files, path, rlen + 1 + k, (size_t)d->max_images, 0, err);
        path[rlen] = 0;
        if (r == NN_ERR_TOO_LARGE && files.n >= (size_t)d->max_images)
            nn__fail(err, r, "image folder: more than max_images (%d) entries in the class folders (at \"%.60s\")",
                     d->max_images, cptr[i]);
        if (r != NN_OK) goto done;
        nam_bytes += k + 1;
    }
    first[cls.n] = files.n;
    fptr = nn__image_names_ptrs(&files);
    if (!fptr) goto oom;
    for (i = 0; i < cls.n; i++) qsort(fptr + first[i], first[i + 1] - first[i], sizeof *fptr, nn__image_cmp);
    for (i = 0; i < files.n; i++) n_reg += fptr[i][-1] == 'f';

    /* pass 2: one block sized from the listing: pixels, labels, class name
       pointers, class names, skipped text; then the images, in order */
    if (n_reg > (SIZE_MAX / 2 - NN__IMAGE_SKIPPED_MAX - nam_bytes) / (img + 2 * sizeof(int) + 16)) goto oom;
    o_lab = NN__ALIGN16(n_reg * img);
    o_ptr = NN__ALIGN16(o_lab + n_reg * sizeof(int));
    o_nam = o_ptr + cls.n * sizeof(char *);
    o_txt = o_nam + nam_bytes;
    blk = (unsigned char *)NN_MALLOC(o_txt + NN__IMAGE_SKIPPED_MAX);
    if (!blk) goto oom;
    txt = (char *)blk + o_txt;
    txt[0] = 0;
    for (i = 0; i < cls.n; i++) {
        int got = 0;
        size_t k = strlen(cptr[i]);
        for (j = first[i]; j < first[i + 1]; j++) {
            const char *name = fptr[j];
            void *raw = NULL;
            size_t len = 0, m = strlen(name);
            char kind = name[-1];
            if (kind != 'f') {
                nn__image_note(txt, &tlen, &full, cptr[i], name,
                               kind == 'd'   ? "a folder (class folders are not searched further)"
                               : kind == 'o' ? "not a regular file"
                               : kind == 'u' ? "cannot be examined (stat failed; a broken link?)"
                                             : "path over 4096 bytes");
                n_skipped++;
                continue;
            }
            path[rlen] = '/';
            memcpy(path + rlen + 1, cptr[i], k);
            path[rlen + 1 + k] = '/';
            memcpy(path + rlen + 2 + k, name, m + 1);
            errno = 0;
            r = nn_read_file(&raw, &len, path, d->max_file_bytes);
            path[rlen] = 0;
            if (r == NN_OK) {
                why[0] = 0;
                r = nn_image_decode(blk + (size_t)n * img, d, raw, len, why);
                NN_FREE(raw);
            } else if (r == NN_ERR_TOO_LARGE) {
                snprintf(why, sizeof why, "larger than max_file_bytes (%lu)", (unsigned long)d->max_file_bytes);
            } else if (r == NN_ERR_IO) {
                snprintf(why, sizeof why, "cannot read it (%s)", nn__image_errno_text(errno));
            }
            if (r == NN_ERR_OUT_OF_MEMORY) {
                nn__fail(err, r, "image folder: out of memory at \"%.60s/%.60s\"", cptr[i], name);
                goto done;
            }
            if (r != NN_OK) {
                nn__image_note(txt, &tlen, &full, cptr[i], name, why);
                n_skipped++;
                continue;
            }
            ((int *)(blk + o_lab))[n++] = (int)i;
            got++;
        }
        if (!got) {
            snprintf(why, sizeof why, "no usable image (label %d kept)", (int)i);
            nn__image_note(txt, &tlen, &full, cptr[i], "", why);
        }
    }
    if (n == 0) {
        char *nl = strchr(txt, '\n');
        if (nl) *nl = 0;
        r = nn__fail(err, NN_ERR_CORRUPT, "image folder: no usable image in \"%s%s\" (%d skipped; %s)", dots, tail,
                     n_skipped, txt[0] ? txt : "no files");
        goto done;
    }

    /* move everything down over the room of skipped files, shrink the block */
    f_lab = NN__ALIGN16((size_t)n * img);
    f_ptr = NN__ALIGN16(f_lab + (size_t)n * sizeof(int));
    f_nam = f_ptr + cls.n * sizeof(char *);
    f_txt = f_nam + nam_bytes;
    total = f_txt + tlen + 1;
    memmove(blk + f_lab, blk + o_lab, (size_t)n * sizeof(int));
    for (i = 0, j = f_nam; i < cls.n; i++) { /* below o_txt: the text is intact */
        size_t k = strlen(cptr[i]) + 1;
        memcpy(blk + j, cptr[i], k);
        j += k;
    }
    memmove(blk + f_txt, blk + o_txt, tlen + 1);
    nb = (unsigned char *)NN_REALLOC(blk, total);
    if (nb) blk = nb; /* if shrinking fails, the larger block serves */
    NN__ZERO(t);
    t.n = n;
    t.n_classes = (int)cls.n;
    t.width = d->width;
    t.height = d->height;
    t.channels = d->channels;
    t.pixels = blk;
    t.labels = (int *)(blk + f_lab);
    t.class_names = (char **)(blk + f_ptr);
    for (i = 0, j = f_nam; i < cls.n; i++) {
        t.class_names[i] = (char *)blk + j;
        j += strlen(t.class_names[i]) + 1;
    }
    t.n_skipped = n_skipped;
    t.skipped = (char *)blk + f_txt;
    t.owned = blk;
    blk = NULL;
    *out = t;
    r = NN_OK;
    goto done;
oom:
    r = nn__fail(err, NN_ERR_OUT_OF_MEMORY, "image folder: out of memory (%lu entries, %lu bytes per image)",
                 (unsigned long)files.n, (unsigned long)img);
done:
    NN_FREE(blk);
    NN_FREE(cptr);
    NN_FREE(fptr);
    NN_FREE(first);
    NN_FREE(cls.pool);
    NN_FREE(cls.off);
    NN_FREE(files.pool);
    NN_FREE(files.off);
    return r;
}
#undef NN__ALIGN16
#else
NNDEF nn_result nn_image_folder_load(nn_image_folder *out, const nn_image_desc *d, const char *root) {
    (void)d;
    (void)root;
    if (!out) return NN_ERR_INVALID_ARGUMENT;
    return nn__fail(out->error, NN_ERR_UNSUPPORTED, "image folder: needs a POSIX directory listing (opendir)");
}
#endif /* NN__POSIX */

NNDEF void nn_image_folder_free(nn_image_folder *f) {
    if (!f) return;
    if (f->owned) NN_FREE(f->owned);
    f->owned = NULL;
    f->pixels = NULL;
    f->labels = NULL;
    f->class_names = NULL;
    f->skipped = NULL;
    f->n = f->n_classes = f->n_skipped = 0;
}
#endif /* NN_NO_STDIO */
#endif /* stb_image and stb_image_resize included */

/* == 17. diagnostics: gradient check, curvature ========================== */
NNDEF float nn_model_loss(nn_model *m, nn_batch b, int backward) {
    nn_tensor y, dy;
    float loss;
    if (!m) return NAN;
    if (!b.labels && !b.targets) {
        nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "loss: the batch has neither labels nor targets");
        return NAN;
    }
    y = nn_model_forward(m, b.x);
    if (!y.data) return NAN;
    dy = nn_model_output_grad(m);
    if (b.labels) {
        int i;
        for (i = 0; i < m->batch; i++)
            if (b.labels[i] < 0 || b.labels[i] >= m->outputs) {
                nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "loss: label %d of row %d is outside 0..%d", b.labels[i],
                         i, m->outputs - 1);
                return NAN;
            }
        loss = nn_loss_cross_entropy(dy, y, b.labels);
    } else {
        loss = nn_loss_mse(dy, y, nn_tensor_2d((float *)(uintptr_t)b.targets, m->batch, m->outputs));
    }
    if (backward) {
        nn_model_zero_grad(m);
        if (nn_model_backward(m, dy) != NN_OK) return NAN;
    }
    return loss;
}

NNDEF nn_gradcheck_desc nn_gradcheck_desc_default(void) {
    nn_gradcheck_desc d;
    NN__ZERO(d);
    d.step = 1e-2;
    d.rtol = 1e-2;
    d.atol = 1e-3;
    d.check_input = 1;
    d.seed = 1;
    d.tag = NN_DESC_TAG;
    return d;
}

/* What a gradient check evaluates: the loss at the current float values. */
typedef double (*nn__eval_fn)(void *ctx);

/* Check coordinates of one run (p[0..n), analytic gradient a): numeric
   derivatives first, then the run's scale, then each element's verdict. */
static double nn__max_abs(const float *a, size_t n) {
    double m = 0.0;
    size_t i;
    for (i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

static void nn__gradcheck_run(nn__eval_fn eval, void *ctx, float *p, const float *a, long n, const char *name,
                              const nn_gradcheck_desc *d, double floor, nn_rng *rng, double *num,
                              nn_gradcheck_result *r) {
    long k = d->max_per_run > 0 && d->max_per_run < n ? d->max_per_run : n, j;
    long off = k < n ? (long)(nn_rng_u64(rng) % (uint64_t)n) : 0;
    double scale = 0.0, max_rel = 0.0;
    long failed = 0;
    for (j = 0; j < k; j++) {
        long i = (off + (long)((double)j * (double)n / (double)k)) % n;
        double h = d->step;
        float saved = p[i], hi, lo;
        double fp, fm;
        /* where the step is below a float step of the coordinate, widen it */
        while ((hi = (float)((double)saved + h)) == (lo = (float)((double)saved - h)) && h < 1e30) h *= 2.0;
        p[i] = hi;
        fp = eval(ctx);
        p[i] = lo;
        fm = eval(ctx);
        p[i] = saved;
        num[j] = (fp - fm) / ((double)hi - (double)lo);
        if (fabs(num[j]) > scale) scale = fabs(num[j]);
    }
    if (scale < floor) scale = floor;
    for (j = 0; j < k; j++) {
        long i = (off + (long)((double)j * (double)n / (double)k)) % n;
        double an = a[i], nu = num[j], diff = fabs(an - nu), big = NN__MAX(fabs(an), fabs(nu));
        double bound = d->rtol * fabs(nu) + d->atol * scale, excess;
        if (big >= d->atol * scale && big > 0.0 && diff / big > max_rel) max_rel = diff / big;
        /* NaN in either fails (the comparison is false) */
        excess = diff <= bound ? (bound > 0.0 ? diff / bound : 0.0) : (bound > 0.0 ? diff / bound : HUGE_VAL);
        if (!(diff <= bound)) {
            failed++;
            if (excess != excess) excess = HUGE_VAL;
        }
        /* keep the worst few, largest excess first */
        if (r->n_worst < NN_GRADCHECK_WORST || excess > r->worst[r->n_worst - 1].excess) {
            int at = r->n_worst < NN_GRADCHECK_WORST ? r->n_worst++ : NN_GRADCHECK_WORST - 1;
            while (at > 0 && r->worst[at - 1].excess < excess) {
                r->worst[at] = r->worst[at - 1];
                at--;
            }
            snprintf(r->worst[at].run, sizeof r->worst[at].run, "%s", name);
            r->worst[at].index = i;
            r->worst[at].analytic = an;
            r->worst[at].numeric = nu;
            r->worst[at].excess = excess;
        }
    }
    if (r->n_runs < NN_GRADCHECK_RUNS) {
        nn_gradcheck_run *u = &r->runs[r->n_runs++];
        snprintf(u->name, sizeof u->name, "%s", name);
        u->size = n;
        u->checked = k;
        u->failed = failed;
        u->scale = scale;
        u->max_rel = max_rel;
    }
    r->checked += k;
    r->failed += failed;
    if (max_rel > r->max_rel) r->max_rel = max_rel;
}

static nn_result nn__gradcheck_args(const nn_gradcheck_desc *d, nn_gradcheck_result *r) {
    if (!r) return NN_ERR_INVALID_ARGUMENT;
    NN__ZERO(*r);
    if (!d) return nn__fail(r->error, NN_ERR_INVALID_ARGUMENT, "gradcheck: the description is NULL");
    if (d->tag != NN_DESC_TAG)
        return nn__fail(r->error, NN_ERR_INVALID_ARGUMENT,
                        "gradcheck: description not from nn_gradcheck_desc_default (zeroed struct?)");
    if (!(d->step > 0.0 && d->step < 1.0) || !(d->rtol >= 0.0) || !(d->atol >= 0.0) || d->max_per_run < 0)
        return nn__fail(r->error, NN_ERR_INVALID_ARGUMENT,
                        "gradcheck: step %g (in (0, 1)), rtol %g, atol %g (>= 0), max_per_run %d (>= 0)", d->step,
                        d->rtol, d->atol, d->max_per_run);
    return NN_OK;
}

/* The model's loss with everything that a forward changes put back first. */
typedef struct nn__model_eval {
    nn_model *m;
    nn_batch b;
    nn_rng rng;
    const float *buffers; /* running statistics as they were, or NULL */
} nn__model_eval;

/* The batch loss from the model's float outputs, summed in double: the
   float loss functions would add their own rounding (about 1e-7 |loss|) to
   every numeric derivative. */
static double nn__loss_double(const nn_model *m, nn_tensor y, nn_batch b) {
    int B = y.shape[0], C = m->outputs, i, j;
    double s = 0.0;
    for (i = 0; i < B; i++) {
        const float *z = y.data + (size_t)i * C;
        if (b.labels) {
            double mx = z[0], se = 0.0;
            for (j = 1; j < C; j++) mx = z[j] > mx ? z[j] : mx;
            for (j = 0; j < C; j++) se += exp((double)z[j] - mx);
            s += mx + log(se) - (double)z[b.labels[i]];
        } else {
            const float *t = b.targets + (size_t)i * C;
            for (j = 0; j < C; j++) s += ((double)z[j] - t[j]) * ((double)z[j] - t[j]);
        }
    }
    return b.labels ? s / B : s / ((double)B * C);
}

static double nn__model_eval_loss(void *vp) {
    nn__model_eval *e = (nn__model_eval *)vp;
    double loss;
    nn_tensor y;
    e->m->rng = e->rng;
    y = nn_model_forward(e->m, e->b.x);
    loss = y.data ? nn__loss_double(e->m, y, e->b) : NAN;
    if (e->buffers) memcpy(e->m->buffers, e->buffers, sizeof(float) * e->m->n_buffers);
    e->m->rng = e->rng;
    return loss;
}

static nn_result nn__model_batch_check(nn_model *m, nn_batch b, nn_arena *scratch, char *err) {
    if (!m || !scratch) return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "model and scratch arena are required");
    if (!b.x.data || b.x.rank < 1 || b.x.shape[0] < 1 || b.x.shape[0] > m->max_batch ||
        nn_tensor_row_size(b.x) != m->inputs)
        return nn__fail(err, NN_ERR_SHAPE_MISMATCH, "the batch's x is not (1..%d, %d)", m->max_batch, m->inputs);
    if (!b.labels && !b.targets) return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "the batch has neither labels nor targets");
    return NN_OK;
}

NNDEF nn_result nn_gradcheck_model(nn_model *m, nn_batch b, const nn_gradcheck_desc *d, nn_arena *scratch,
                                   nn_gradcheck_result *r) {
    nn__model_eval e;
    nn_result res = nn__gradcheck_args(d, r);
    size_t mark, nx, most = 0;
    float *buffers = NULL, *x = NULL, *gx = NULL, *saved_input_grad;
    double *num;
    nn_rng pick;
    int i;
    float loss;
    double floor;
    if (res != NN_OK) return res;
    res = nn__model_batch_check(m, b, scratch, r->error);
    if (res != NN_OK) return res;
    nx = (size_t)b.x.shape[0] * (size_t)m->inputs;
    for (i = 0; i < m->n_param_list; i++) most = NN__MAX(most, m->param_list[i].size);
    most = NN__MAX(most, nx);
    if (d->max_per_run > 0) most = NN__MIN(most, (size_t)d->max_per_run);
    mark = nn_arena_mark(scratch);
    num = (double *)nn_arena_alloc(scratch, sizeof(double) * (most ? most : 1));
    if (m->n_buffers) buffers = (float *)nn_arena_alloc(scratch, sizeof(float) * m->n_buffers);
    if (d->check_input) {
        x = (float *)nn_arena_alloc(scratch, sizeof(float) * nx);
        gx = (float *)nn_arena_alloc(scratch, sizeof(float) * nx);
    }
    if (!num || (m->n_buffers && !buffers) || (d->check_input && (!x || !gx))) {
        nn_arena_rewind(scratch, mark);
        return nn__fail(r->error, NN_ERR_OUT_OF_MEMORY, "gradcheck: the scratch arena is too small");
    }
    if (buffers) memcpy(buffers, m->buffers, sizeof(float) * m->n_buffers);
    if (x) memcpy(x, b.x.data, sizeof(float) * nx);
    e.m = m;
    e.b = b;
    if (x) e.b.x = nn_tensor_2d(x, b.x.shape[0], m->inputs); /* perturbed here, never the caller's */
    e.rng = m->rng;
    e.buffers = buffers;
    /* the analytic gradient, once */
    saved_input_grad = m->input_grad;
    m->input_grad = gx;
    loss = nn_model_loss(m, e.b, 1);
    m->input_grad = saved_input_grad;
    if (buffers) memcpy(m->buffers, buffers, sizeof(float) * m->n_buffers);
    m->rng = e.rng;
    if (!(loss > -HUGE_VAL && loss < HUGE_VAL)) {
        nn_arena_rewind(scratch, mark);
        if (m->error[0]) /* refused data (a label out of range), not a numeric problem */
            return nn__fail(r->error, NN_ERR_INVALID_ARGUMENT, "gradcheck: %s", m->error);
        return nn__fail(r->error, NN_ERR_NONFINITE, "gradcheck: the loss at the start is not finite");
    }
    nn_rng_seed(&pick, d->seed);
    floor = nn__max_abs(m->grads, m->n_params);
    if (gx) floor = NN__MAX(floor, nn__max_abs(gx, nx));
    floor *= 1e-2;
    for (i = 0; i < m->n_param_list; i++) {
        nn_param *p = &m->param_list[i];
        nn__gradcheck_run(nn__model_eval_loss, &e, p->data, p->grad, (long)p->size, p->name, d, floor, &pick, num,
                          r);
    }
    if (x) nn__gradcheck_run(nn__model_eval_loss, &e, x, gx, (long)nx, "input", d, floor, &pick, num, r);
    nn_arena_rewind(scratch, mark);
    if (r->failed)
        return nn__fail(r->error, NN_ERR_CHECK_FAILED, "gradcheck: %ld of %ld elements fail; worst %s[%ld]: "
                        "analytic %.6g, numeric %.6g", r->failed, r->checked, r->worst[0].run, r->worst[0].index,
                        r->worst[0].analytic, r->worst[0].numeric);
    return NN_OK;
}

typedef struct nn__fn_eval {
    nn_objective f;
    void *user;
    const float *x;
} nn__fn_eval;

static double nn__fn_eval_value(void *vp) {
    nn__fn_eval *e = (nn__fn_eval *)vp;
    return e->f(e->user, e->x, NULL);
}

NNDEF nn_result nn_gradcheck_fn(nn_objective f, void *user, float *x, float *grad, size_t n,
                                const nn_gradcheck_desc *d, nn_gradcheck_result *r) {
    nn__fn_eval e;
    nn_rng pick;
    double *num;
    size_t k;
    nn_result res = nn__gradcheck_args(d, r);
    if (res != NN_OK) return res;
    if (!f || !x || !grad || n < 1 || n > (size_t)LONG_MAX / 2)
        return nn__fail(r->error, NN_ERR_INVALID_ARGUMENT, "gradcheck: f, x, grad and n >= 1 are required");
    k = d->max_per_run > 0 && (size_t)d->max_per_run < n ? (size_t)d->max_per_run : n;
    if (k > ((size_t)-1) / sizeof(double)) return NN_ERR_TOO_LARGE;
    num = (double *)NN_MALLOC(sizeof(double) * k);
    if (!num) return nn__fail(r->error, NN_ERR_OUT_OF_MEMORY, "gradcheck: %lu doubles of scratch", (unsigned long)k);
    if (f(user, x, grad) != f(user, x, grad)) {
        NN_FREE(num);
        return nn__fail(r->error, NN_ERR_NONFINITE, "gradcheck: f(x) is not a number");
    }
    e.f = f;
    e.user = user;
    e.x = x;
    nn_rng_seed(&pick, d->seed);
    nn__gradcheck_run(nn__fn_eval_value, &e, x, grad, (long)n, "x", d, 1e-2 * nn__max_abs(grad, n), &pick, num, r);
    NN_FREE(num);
    if (r->failed)
        return nn__fail(r->error, NN_ERR_CHECK_FAILED, "gradcheck: %ld of %ld elements fail; worst x[%ld]: "
                        "analytic %.6g, numeric %.6g", r->failed, r->checked, r->worst[0].index,
                        r->worst[0].analytic, r->worst[0].numeric);
    return NN_OK;
}

#ifndef NN_NO_STDIO
NNDEF void nn_gradcheck_print(const nn_gradcheck_result *r, FILE *f) {
    int i;
    if (!r || !f) return;
    fprintf(f, "%-24s %10s %8s %7s %12s %12s\n", "run", "size", "checked", "failed", "max |num|", "max rel err");
    for (i = 0; i < r->n_runs; i++) {
        const nn_gradcheck_run *u = &r->runs[i];
        fprintf(f, "%-24s %10ld %8ld %7ld %12.4g %12.3g\n", u->name, u->size, u->checked, u->failed, u->scale,
                u->max_rel);
    }
    fprintf(f, "%ld checked, %ld failed, worst relative error %.3g\n", r->checked, r->failed, r->max_rel);
    for (i = 0; i < r->n_worst; i++)
        fprintf(f, "  %s[%ld]: analytic %.7g numeric %.7g (%.3g of the tolerance)\n", r->worst[i].run,
                r->worst[i].index, r->worst[i].analytic, r->worst[i].numeric, r->worst[i].excess);
}
#endif

/* ---- curvature ---- */
typedef struct nn__hess {
    nn_model *m;
    nn_batch b;
    nn_rng rng;
    float *w, *gp, *tmp, *buffers; /* parameters, gradient at w + r v, a vector, running statistics */
    float step;
    size_t mark;
} nn__hess;

static nn_result nn__hess_begin(nn__hess *h, nn_model *m, nn_batch b, float step, nn_arena *scratch) {
    nn_result r = nn__model_batch_check(m, b, scratch, m ? m->error : NULL);
    size_t n;
    if (r != NN_OK) return r;
    if (!(step >= 0.0f && step < 1.0f)) return nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "hessian: step %g", (double)step);
    n = m->n_params;
    h->m = m;
    h->b = b;
    h->rng = m->rng;
    h->step = step > 0.0f ? step : 1e-2f;
    h->mark = nn_arena_mark(scratch);
    h->w = (float *)nn_arena_alloc(scratch, sizeof(float) * n);
    h->gp = (float *)nn_arena_alloc(scratch, sizeof(float) * n);
    h->tmp = (float *)nn_arena_alloc(scratch, sizeof(float) * n);
    h->buffers = m->n_buffers ? (float *)nn_arena_alloc(scratch, sizeof(float) * m->n_buffers) : NULL;
    if (!h->w || !h->gp || !h->tmp || (m->n_buffers && !h->buffers)) {
        nn_arena_rewind(scratch, h->mark);
        return nn__fail(m->error, NN_ERR_OUT_OF_MEMORY, "hessian: the scratch arena needs 3 x %lu floats and more",
                        (unsigned long)n);
    }
    memcpy(h->w, m->params, sizeof(float) * n);
    if (h->buffers) memcpy(h->buffers, m->buffers, sizeof(float) * m->n_buffers);
    return NN_OK;
}

/* The gradient at the current parameters into m->grads, the state restored. */
static nn_result nn__hess_grad(nn__hess *h) {
    nn_model *m = h->m;
    float loss;
    m->rng = h->rng;
    loss = nn_model_loss(m, h->b, 1);
    if (h->buffers) memcpy(m->buffers, h->buffers, sizeof(float) * m->n_buffers);
    m->rng = h->rng;
    return loss == loss ? NN_OK : nn__fail(m->error, NN_ERR_NONFINITE, "hessian: the loss is not finite");
}

/* hv = H v by centred differences; leaves the parameters at w. */
static nn_result nn__hess_apply(nn__hess *h, const float *v, float *hv) {
    nn_model *m = h->m;
    size_t n = m->n_params, i;
    double norm = 0.0, r;
    nn_result res;
    for (i = 0; i < n; i++) norm += (double)v[i] * v[i];
    norm = sqrt(norm);
    if (!(norm > 0.0)) {
        for (i = 0; i < n; i++) hv[i] = 0.0f;
        return norm == 0.0 ? NN_OK : NN_ERR_NONFINITE;
    }
    r = h->step / norm;
    for (i = 0; i < n; i++) m->params[i] = (float)(h->w[i] + r * v[i]);
    res = nn__hess_grad(h);
    if (res == NN_OK) {
        memcpy(h->gp, m->grads, sizeof(float) * n);
        for (i = 0; i < n; i++) m->params[i] = (float)(h->w[i] - r * v[i]);
        res = nn__hess_grad(h);
    }
    memcpy(m->params, h->w, sizeof(float) * n);
    if (res != NN_OK) return res;
    for (i = 0; i < n; i++) hv[i] = (float)(((double)h->gp[i] - (double)m->grads[i]) / (2.0 * r));
    return NN_OK;
}

/* Back to the state at the start, with the gradient at w in m->grads. */
static nn_result nn__hess_end(nn__hess *h, nn_arena *scratch, nn_result r) {
    nn_result g = nn__hess_grad(h);
    nn_arena_rewind(scratch, h->mark);
    return r != NN_OK ? r : g;
}

NNDEF nn_result nn_hessian_vector(nn_model *m, nn_batch b, const float *v, float *hv, float step,
                                  nn_arena *scratch) {
    nn__hess h;
    nn_result r;
    if (!v || !hv) return m ? nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "hessian: v and hv are required")
                            : NN_ERR_INVALID_ARGUMENT;
    r = nn__hess_begin(&h, m, b, step, scratch);
    if (r != NN_OK) return r;
    return nn__hess_end(&h, scratch, nn__hess_apply(&h, v, hv));
}

NNDEF nn_result nn_hessian_full(nn_model *m, nn_batch b, float *H, float step, nn_arena *scratch, double *asymmetry) {
    nn__hess h;
    nn_result r;
    size_t n, i, j;
    double big = 0.0, asym = 0.0;
    if (!H) return m ? nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "hessian: H is required") : NN_ERR_INVALID_ARGUMENT;
    r = nn__hess_begin(&h, m, b, step, scratch);
    if (r != NN_OK) return r;
    n = m->n_params;
    for (j = 0; j < n && r == NN_OK; j++) {
        for (i = 0; i < n; i++) h.tmp[i] = i == j ? 1.0f : 0.0f;
        r = nn__hess_apply(&h, h.tmp, h.tmp); /* v and hv may be one array */
        /* h.tmp now holds column j: store it as row j (transposed below) */
        if (r == NN_OK) memcpy(H + j * n, h.tmp, sizeof(float) * n);
    }
    if (r == NN_OK) {
        for (i = 0; i < n; i++)
            for (j = 0; j < n; j++) {
                double a = H[i * n + j];
                if (fabs(a) > big) big = fabs(a);
                if (j > i && fabs(a - H[j * n + i]) > asym) asym = fabs(a - H[j * n + i]);
            }
        for (i = 0; i < n; i++)
            for (j = i + 1; j < n; j++) {
                float s = (float)(0.5 * ((double)H[i * n + j] + (double)H[j * n + i]));
                H[i * n + j] = H[j * n + i] = s;
            }
        if (asymmetry) *asymmetry = big > 0.0 ? asym / big : 0.0;
    }
    return nn__hess_end(&h, scratch, r);
}

/* a seeded unit vector (normal entries) */
static void nn__random_unit(float *v, size_t n, nn_rng *rng) {
    size_t i;
    double s = 0.0;
    for (i = 0; i < n; i++) {
        v[i] = nn_rng_normal(rng);
        s += (double)v[i] * v[i];
    }
    s = s > 0.0 ? 1.0 / sqrt(s) : 0.0;
    for (i = 0; i < n; i++) v[i] = (float)(v[i] * s);
}

NNDEF nn_result nn_hessian_top_eigen(nn_model *m, nn_batch b, int iters, double tol, uint64_t seed, float step,
                                     nn_arena *scratch, double *lambda, float *vec, int *done_iters) {
    nn__hess h;
    nn_result r;
    nn_rng rng;
    float *v, *hv;
    size_t n, i, mark2;
    double est = 0.0, prev = 0.0;
    int it = 0;
    if (!lambda || iters < 1 || !(tol >= 0.0))
        return m ? nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "hessian: lambda, iters >= 1 and tol >= 0 required")
                 : NN_ERR_INVALID_ARGUMENT;
    r = nn__hess_begin(&h, m, b, step, scratch);
    if (r != NN_OK) return r;
    n = m->n_params;
    mark2 = nn_arena_mark(scratch);
    v = h.tmp;
    hv = (float *)nn_arena_alloc(scratch, sizeof(float) * n);
    if (!hv) {
        nn_arena_rewind(scratch, mark2);
        return nn__hess_end(&h, scratch, nn__fail(m->error, NN_ERR_OUT_OF_MEMORY, "hessian: scratch for 4 x %lu floats",
                                                  (unsigned long)n));
    }
    nn_rng_seed(&rng, seed);
    nn__random_unit(v, n, &rng);
    for (it = 1; it <= iters; it++) {
        double dot = 0.0, norm = 0.0;
        r = nn__hess_apply(&h, v, hv);
        if (r != NN_OK) break;
        for (i = 0; i < n; i++) {
            dot += (double)v[i] * hv[i];
            norm += (double)hv[i] * hv[i];
        }
        est = dot; /* Rayleigh quotient: v is a unit vector */
        norm = sqrt(norm);
        if (!(norm > 0.0)) break;
        for (i = 0; i < n; i++) v[i] = (float)(hv[i] / norm);
        if (it > 1 && fabs(est - prev) <= tol * fabs(est)) break;
        prev = est;
    }
    if (it > iters) it = iters;
    if (r == NN_OK) {
        *lambda = est;
        if (vec) memcpy(vec, v, sizeof(float) * n);
        if (done_iters) *done_iters = it;
    }
    return nn__hess_end(&h, scratch, r);
}

NNDEF nn_result nn_hessian_trace(nn_model *m, nn_batch b, int samples, uint64_t seed, float step, nn_arena *scratch,
                                 double *trace, double *std_err) {
    nn__hess h;
    nn_result r;
    nn_rng rng;
    float *hv;
    size_t n, i;
    double sum = 0.0, sum2 = 0.0;
    int s;
    if (!trace || samples < 1)
        return m ? nn__fail(m->error, NN_ERR_INVALID_ARGUMENT, "hessian: trace and samples >= 1 required")
                 : NN_ERR_INVALID_ARGUMENT;
    r = nn__hess_begin(&h, m, b, step, scratch);
    if (r != NN_OK) return r;
    n = m->n_params;
    hv = (float *)nn_arena_alloc(scratch, sizeof(float) * n);
    if (!hv) return nn__hess_end(&h, scratch, nn__fail(m->error, NN_ERR_OUT_OF_MEMORY, "hessian: scratch"));
    nn_rng_seed(&rng, seed);
    for (s = 0; s < samples && r == NN_OK; s++) {
        double q = 0.0;
        for (i = 0; i < n; i++) h.tmp[i] = (nn_rng_u64(&rng) >> 63) ? 1.0f : -1.0f;
        r = nn__hess_apply(&h, h.tmp, hv);
        for (i = 0; i < n && r == NN_OK; i++) q += (double)h.tmp[i] * hv[i];
        sum += q;
        sum2 += q * q;
    }
    if (r == NN_OK) {
        double mean = sum / samples;
        *trace = mean;
        if (std_err)
            *std_err = samples > 1 ? sqrt(NN__MAX(0.0, (sum2 - samples * mean * mean) / (samples - 1)) / samples) : 0.0;
    }
    return nn__hess_end(&h, scratch, r);
}

/* ---- training statistics ---- */
static double nn__norm2(const float *a, size_t n) {
    double s = 0.0;
    size_t i;
    for (i = 0; i < n; i++) s += (double)a[i] * a[i];
    return sqrt(s);
}

NNDEF int nn_model_layer_stats(const nn_model *m, const float *params_before, nn_layer_stats *out, int cap) {
    int l, B;
    if (!m || m->batch < 1) return 0;
    B = m->batch;
    for (l = 0; l < m->n_layers && l < cap && out; l++) {
        const nn_layer *ly = &m->layers[l];
        nn_layer_stats *s = &out[l];
        const float *y = ly->y.data, *in = l ? m->layers[l - 1].y.data : m->x.data;
        size_t n = (size_t)B * ly->out, i;
        double sum = 0.0, sq = 0.0, mean;
        int u, r;
        memset(s, 0, sizeof *s);
        s->layer = l;
        s->kind = ly->kind;
        s->act = ly->kind == NN_LAYER_ACT ? ly->act : NN_ACT_IDENTITY;
        s->units = ly->out;
        for (i = 0; i < n; i++) sum += y[i];
        mean = sum / (double)n;
        for (i = 0; i < n; i++) sq += ((double)y[i] - mean) * ((double)y[i] - mean);
        s->out_mean = (float)mean;
        s->out_std = (float)sqrt(sq / (double)n);
        s->dead_fraction = s->saturated_fraction = -1.0f;
        if (ly->kind == NN_LAYER_ACT && (ly->act == NN_ACT_RELU || ly->act == NN_ACT_LEAKY_RELU)) {
            int dead = 0;
            for (u = 0; u < ly->out; u++) {
                for (r = 0; r < B && !(in[(size_t)r * ly->in + u] > 0.0f); r++) {}
                dead += r == B;
            }
            s->dead_fraction = (float)dead / (float)ly->out;
        } else if (ly->kind == NN_LAYER_ACT && (ly->act == NN_ACT_SIGMOID || ly->act == NN_ACT_TANH)) {
            size_t sat = 0;
            for (i = 0; i < n; i++)
                sat += ly->act == NN_ACT_SIGMOID ? (y[i] < 0.01f || y[i] > 0.99f) : (fabsf(y[i]) > 0.99f);
            s->saturated_fraction = (float)((double)sat / (double)n);
        }
        s->update_ratio = -1.0f;
        if (ly->w.data && ly->dw.data) {
            size_t nw = nn_tensor_size(ly->w);
            s->weight_norm = (float)nn__norm2(ly->w.data, nw);
            s->grad_norm = (float)nn__norm2(ly->dw.data, nw);
            if (params_before) {
                const float *w0 = params_before + (ly->w.data - m->params);
                double d2 = 0.0, n0 = 0.0;
                for (i = 0; i < nw; i++) {
                    d2 += ((double)ly->w.data[i] - w0[i]) * ((double)ly->w.data[i] - w0[i]);
                    n0 += (double)w0[i] * w0[i];
                }
                s->update_ratio = n0 > 0.0 ? (float)sqrt(d2 / n0) : 0.0f;
            }
        }
    }
    return m->n_layers;
}

/* ---- learning-rate range test ---- */
NNDEF nn_lr_find_desc nn_lr_find_desc_default(void) {
    nn_lr_find_desc d;
    NN__ZERO(d);
    d.lr_min = 1e-7;
    d.lr_max = 10.0;
    d.steps = 100;
    d.batch = 64;
    d.smooth = 0.98;
    d.diverge = 4.0;
    d.seed = 1;
    d.tag = NN_DESC_TAG;
    return d;
}

NNDEF nn_result nn_lr_find(nn_model *m, nn_optim *o, nn_arena *scratch, const nn_data *train,
                           const nn_lr_find_desc *d, nn_lr_find_result *r) {
    size_t mark, n = m ? m->n_params : 0;
    float *save[4], *params, *buffers, *x, *xin, *tgt;
    float *slots[4];
    int *lab, *idx, *rows, k, i, b, n_rows, B;
    nn_optim_desc od;
    long ostep;
    const struct nn_sched *osched;
    nn_rng orng;
    nn_mode omode;
    nn_batcher bt;
    nn_result res = NN_OK;
    double avg = 0.0, best = HUGE_VAL, slope_best = 0.0;
    int best_i = -1, features;
    if (!r) return NN_ERR_INVALID_ARGUMENT;
    memset(r->error, 0, sizeof r->error);
    r->n = 0;
    r->suggested = r->min_lr = NAN;
    r->diverged = 0;
    if (!m || !o || !scratch || !train || !d)
        return nn__fail(r->error, NN_ERR_INVALID_ARGUMENT, "lr_find: model, optimizer, arena, data and desc required");
    if (d->tag != NN_DESC_TAG)
        return nn__fail(r->error, NN_ERR_INVALID_ARGUMENT, "lr_find: description not from nn_lr_find_desc_default");
    if (!(d->lr_min > 0.0 && d->lr_max > d->lr_min) || d->steps < 2 || d->steps > NN_LR_FIND_MAX || d->batch < 1 ||
        d->batch > m->max_batch || !(d->smooth >= 0.0 && d->smooth < 1.0) || !(d->diverge > 1.0))
        return nn__fail(r->error, NN_ERR_INVALID_ARGUMENT,
                        "lr_find: need 0 < lr_min < lr_max, 2 <= steps <= %d, 1 <= batch <= %d (max_batch), "
                        "0 <= smooth < 1, diverge > 1", NN_LR_FIND_MAX, m->max_batch);
    if (o->n != n) return nn__fail(r->error, NN_ERR_SHAPE_MISMATCH, "lr_find: optimizer for %lu parameters, model has %lu",
                                   (unsigned long)o->n, (unsigned long)n);
    if (d->prep && (!d->prep->shift || d->prep->out != m->inputs))
        return nn__fail(r->error, NN_ERR_SHAPE_MISMATCH, "lr_find: prep gives %d features (%s), the model takes %d",
                        d->prep->out, d->prep->shift ? "initialised" : "not initialised", m->inputs);
    features = d->prep ? d->prep->in : m->inputs;
    if (train->features != features || (!train->labels && !train->targets) ||
        (train->targets && train->target_dim != m->outputs))
        return nn__fail(r->error, NN_ERR_SHAPE_MISMATCH, "lr_find: the data's shape does not fit the model");
    n_rows = train->rows ? train->n_rows : train->n;
    if (n_rows < 1) return nn__fail(r->error, NN_ERR_INVALID_ARGUMENT, "lr_find: no rows");
    B = NN__MIN(d->batch, n_rows);
    if (!nn__batch_stats_ok(m, B)) /* the sweep trains: batch statistics need two values */
            return nn__fail(r->error, NN_ERR_INVALID_ARGUMENT, "lr_find: batch norm needs batches of 2 rows or more");
    mark = nn_arena_mark(scratch);
    slots[0] = o->s0; slots[1] = o->s1; slots[2] = o->s2; slots[3] = o->slow;
    for (i = 0; i < 4; i++) save[i] = slots[i] ? (float *)nn_arena_alloc(scratch, sizeof(float) * n) : NULL;
    params = (float *)nn_arena_alloc(scratch, sizeof(float) * (n ? n : 1));
    buffers = m->n_buffers ? (float *)nn_arena_alloc(scratch, sizeof(float) * m->n_buffers) : NULL;
    x = (float *)nn_arena_alloc(scratch, sizeof(float) * (size_t)B * features);
    xin = d->prep ? (float *)nn_arena_alloc(scratch, sizeof(float) * (size_t)B * m->inputs) : x;
    lab = (int *)nn_arena_alloc(scratch, sizeof(int) * (size_t)B);
    tgt = train->targets ? (float *)nn_arena_alloc(scratch, sizeof(float) * (size_t)B * m->outputs) : NULL;
    idx = (int *)nn_arena_alloc(scratch, sizeof(int) * (size_t)n_rows);
    rows = (int *)nn_arena_alloc(scratch, sizeof(int) * (size_t)B);
    if (!params || (m->n_buffers && !buffers) || !x || !xin || !lab || (train->targets && !tgt) || !idx || !rows ||
        (o->s0 && !save[0]) || (o->s1 && !save[1]) || (o->s2 && !save[2]) || (o->slow && !save[3])) {
        nn_arena_rewind(scratch, mark);
        return nn__fail(r->error, NN_ERR_OUT_OF_MEMORY, "lr_find: the scratch arena is too small");
    }
    /* everything the sweep changes, kept to be put back */
    for (i = 0; i < 4; i++)
        if (slots[i]) memcpy(save[i], slots[i], sizeof(float) * n);
    memcpy(params, m->params, sizeof(float) * n);
    if (buffers) memcpy(buffers, m->buffers, sizeof(float) * m->n_buffers);
    od = o->d;
    ostep = o->step;
    osched = o->sched;
    orng = m->rng;
    omode = m->mode;
    o->sched = NULL;
    nn_model_set_mode(m, NN_MODE_TRAIN);
    for (i = 0; i < n_rows; i++) idx[i] = i;
    nn_batcher_init(&bt, idx, n_rows, B, 1, 1, d->seed);
    for (k = 0; k < d->steps; k++) {
        const int *br;
        nn_batch batch;
        double lr = d->lr_min * pow(d->lr_max / d->lr_min, (double)k / (d->steps - 1)), sm;
        float loss;
        if ((b = nn_batcher_next(&bt, &br)) == 0) b = nn_batcher_next(&bt, &br);
        for (i = 0; i < b; i++) rows[i] = train->rows ? train->rows[br[i]] : br[i];
        res = nn_data_gather(train, rows, b, x, lab, tgt);
        if (res == NN_OK && d->prep)
            res = nn_prep_apply(d->prep, nn_tensor_2d(xin, b, m->inputs), nn_tensor_2d(x, b, features));
        if (res != NN_OK) {
            nn__fail(r->error, res, "lr_find: batch %d could not be gathered: %s", k, nn_result_string(res));
            break;
        }
        batch.x = nn_tensor_2d(xin, b, m->inputs);
        batch.labels = train->labels ? lab : NULL;
        batch.targets = train->labels ? NULL : tgt;
        loss = nn_model_loss(m, batch, 1);
        if (loss != loss && m->error[0]) { /* refused data, not divergence */
            res = nn__fail(r->error, NN_ERR_INVALID_ARGUMENT, "lr_find: batch %d: %s", k, m->error);
            break;
        }
        if (loss != loss && k == 0) {
            res = nn__fail(r->error, NN_ERR_NONFINITE, "lr_find: the loss is not finite at the first step");
            break;
        }
        avg = d->smooth * avg + (1.0 - d->smooth) * (loss == loss ? (double)loss : HUGE_VAL);
        sm = avg / (1.0 - pow(d->smooth, k + 1));
        r->lr[k] = (float)lr;
        r->loss[k] = loss;
        r->smoothed[k] = (float)sm;
        r->n = k + 1;
        if (sm < best) {
            best = sm;
            best_i = k;
        }
        if (!(sm <= d->diverge * best)) {
            r->diverged = k + 1 < d->steps;
            break;
        }
        o->d.lr = (float)lr;
        if (d->decay_all) nn_optim_step(o, m->params, m->grads, n);
        else nn_optim_step_params(o, m->param_list, m->n_param_list);
    }
    /* put everything back */
    for (i = 0; i < 4; i++)
        if (slots[i]) memcpy(slots[i], save[i], sizeof(float) * n);
    memcpy(m->params, params, sizeof(float) * n);
    if (buffers) memcpy(m->buffers, buffers, sizeof(float) * m->n_buffers);
    nn_model_zero_grad(m);
    o->d = od;
    o->step = ostep;
    o->sched = osched;
    m->rng = orng;
    nn_model_set_mode(m, omode);
    nn_arena_rewind(scratch, mark);
    if (res != NN_OK) return res;
    if (best_i >= 0) r->min_lr = r->lr[best_i];
    /* steepest fall of the smoothed loss against log(lr), up to the minimum
       plus what follows it before divergence; central differences */
    {
        int last = r->diverged ? r->n - 1 : r->n, first = r->n / 10;
        if (first < 1) first = 1;
        for (k = first; k + 1 < last; k++) {
            double s = ((double)r->smoothed[k + 1] - r->smoothed[k - 1]) / (log(r->lr[k + 1]) - log(r->lr[k - 1]));
            if (s < slope_best) {
                slope_best = s;
                r->suggested = r->lr[k];
            }
        }
    }
    if (r->suggested != r->suggested)
        return nn__fail(r->error, NN_ERR_CHECK_FAILED, "lr_find: the loss never fell over %d steps; widen the range", r->n);
    return NN_OK;
}

/* ---- hyperparameter search ---- */
static nn_hp_dim nn__hp_dim(const char *name, nn_hp_kind kind, double lo, double hi) {
    nn_hp_dim d;
    NN__ZERO(d);
    d.name = name;
    d.kind = kind;
    d.lo = lo;
    d.hi = hi;
    d.grid = 3;
    return d;
}
NNDEF nn_hp_dim nn_hp_uniform(const char *name, double lo, double hi) { return nn__hp_dim(name, NN_HP_UNIFORM, lo, hi); }
NNDEF nn_hp_dim nn_hp_log_uniform(const char *name, double lo, double hi, double zero_p) {
    nn_hp_dim d = nn__hp_dim(name, NN_HP_LOG_UNIFORM, lo, hi);
    d.zero_p = zero_p;
    return d;
}
NNDEF nn_hp_dim nn_hp_int(const char *name, int lo, int hi) { return nn__hp_dim(name, NN_HP_INT, lo, hi); }
NNDEF nn_hp_dim nn_hp_choice(const char *name, int n, const double *values, const char *const *labels) {
    nn_hp_dim d = nn__hp_dim(name, NN_HP_CHOICE, 0.0, 0.0);
    int i;
    d.n_choices = values && n >= 0 ? n : 0; /* more than NN_HP_MAX_CHOICES: refused by the search */
    for (i = 0; i < NN__MIN(d.n_choices, NN_HP_MAX_CHOICES); i++) {
        d.choices[i] = values[i];
        d.labels[i] = labels ? labels[i] : NULL;
    }
    d.grid = NN__MIN(d.n_choices, NN_HP_MAX_CHOICES);
    return d;
}

NNDEF nn_hp_search_desc nn_hp_search_desc_default(nn_hp_method method) {
    nn_hp_search_desc d;
    NN__ZERO(d);
    d.method = method;
    d.trials = method == NN_HP_HALVING ? 27 : 20;
    d.rounds = 3;
    d.keep = 0.25;
    d.budget = 1.0;
    d.eta = 3.0;
    d.startup = 10;
    d.gamma = 0.25;
    d.candidates = 24;
    d.seed = 1;
    d.tag = NN_DESC_TAG;
    return d;
}

static nn_result nn__hp_check(const nn_hp_dim *dims, int n, const nn_hp_search_desc *d, char *err) {
    int k;
    if (!dims || n < 1 || n > NN_HP_MAX_DIMS)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "hp: 1..%d dimensions", NN_HP_MAX_DIMS);
    if (!d || d->tag != NN_DESC_TAG)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "hp: description not from nn_hp_search_desc_default");
    for (k = 0; k < n; k++) {
        const nn_hp_dim *h = &dims[k];
        int ok;
        switch (h->kind) {
        case NN_HP_UNIFORM: ok = NN__IN(h->lo, -1e300, 1e300) && NN__IN(h->hi, h->lo, 1e300); break;
        case NN_HP_LOG_UNIFORM: ok = h->lo > 0.0 && NN__IN(h->hi, h->lo, 1e300) && NN__IN(h->zero_p, 0.0, 1.0); break;
        case NN_HP_INT: ok = NN__IN(h->lo, -1e9, 1e9) && NN__IN(h->hi, h->lo, 1e9) && h->lo == floor(h->lo) &&
                             h->hi == floor(h->hi); break;
        case NN_HP_CHOICE: ok = h->n_choices >= 1 && h->n_choices <= NN_HP_MAX_CHOICES; break;
        default: ok = 0; break;
        }
        if (!ok || (d->method == NN_HP_GRID && h->kind != NN_HP_CHOICE && !NN__IN(h->grid, 1, 1000000)))
            return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "hp: dimension %d (%s) has an invalid kind or range", k,
                            h->name ? h->name : "?");
    }
    switch (d->method) {
    case NN_HP_GRID: break;
    case NN_HP_RANDOM: if (d->trials < 1) goto bad; break;
    case NN_HP_COARSE_TO_FINE: if (d->trials < 1 || d->rounds < 1 || !(d->keep > 0.0 && d->keep <= 1.0)) goto bad; break;
    case NN_HP_HALVING: if (d->trials < 1 || !(d->eta >= 2.0 && d->eta <= 1e3)) goto bad; break;
    case NN_HP_TPE:
        if (d->trials < 1 || d->startup < 1 || !(d->gamma > 0.0 && d->gamma < 1.0) || d->candidates < 1) goto bad;
        break;
    default: goto bad;
    }
    if (!(d->budget > 0.0 && d->budget < 1e300)) goto bad;
    return NN_OK;
bad:
    return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "hp: method %d with trials %d, rounds %d, keep %g, budget %g, eta %g, "
                    "startup %d, gamma %g, candidates %d is not a valid search", (int)d->method, d->trials, d->rounds,
                    d->keep, d->budget, d->eta, d->startup, d->gamma, d->candidates);
}

/* the grid points of one dimension */
static int nn__hp_grid_n(const nn_hp_dim *h) {
    int g = h->grid;
    if (h->kind == NN_HP_CHOICE) return h->n_choices;
    if (h->kind == NN_HP_INT) g = (int)NN__MIN((double)g, h->hi - h->lo + 1.0);
    return g + (h->kind == NN_HP_LOG_UNIFORM && h->zero_p > 0.0);
}

NNDEF int nn_hp_search_count(const nn_hp_dim *dims, int n_dims, const nn_hp_search_desc *d) {
    int64_t total = 0;
    int k;
    if (nn__hp_check(dims, n_dims, d, NULL) != NN_OK) return 0;
    switch (d->method) {
    case NN_HP_GRID:
        total = 1;
        for (k = 0; k < n_dims; k++) {
            total *= nn__hp_grid_n(&dims[k]);
            if (total > INT_MAX / 2) return 0;
        }
        break;
    case NN_HP_COARSE_TO_FINE: total = (int64_t)d->trials * d->rounds; break;
    case NN_HP_HALVING: {
        int64_t c = d->trials;
        for (;;) {
            total += c;
            if (c <= 1 || total > INT_MAX / 2) break;
            c = NN__MAX(1, (int64_t)floor((double)c / d->eta));
        }
        break;
    }
    default: total = d->trials; break;
    }
    return total > INT_MAX / 2 ? 0 : (int)total;
}

/* dimension k of t from a unit coordinate u (and the zero flag) */
static void nn__hp_set(const nn_hp_dim *h, nn_hp_trial *t, int k, double u, int zero) {
    double v;
    int i;
    u = NN__MIN(NN__MAX(u, 0.0), 1.0);
    t->choice[k] = -1;
    switch (h->kind) {
    case NN_HP_UNIFORM: t->x[k] = h->lo + u * (h->hi - h->lo); break;
    case NN_HP_LOG_UNIFORM: t->x[k] = zero ? 0.0 : exp(log(h->lo) + u * (log(h->hi) - log(h->lo))); break;
    case NN_HP_INT:
        v = floor(h->lo + u * (h->hi - h->lo + 1.0));
        t->x[k] = NN__MIN(NN__MAX(v, h->lo), h->hi);
        break;
    default:
        i = (int)(u * h->n_choices);
        i = NN__MIN(NN__MAX(i, 0), h->n_choices - 1);
        t->choice[k] = i;
        t->x[k] = h->choices[i];
        break;
    }
}

/* the unit coordinate of dimension k's value (choices: the index's centre) */
static double nn__hp_unit(const nn_hp_dim *h, const nn_hp_trial *t, int k) {
    switch (h->kind) {
    case NN_HP_UNIFORM: return h->hi > h->lo ? (t->x[k] - h->lo) / (h->hi - h->lo) : 0.5;
    case NN_HP_LOG_UNIFORM: return h->hi > h->lo ? (log(t->x[k]) - log(h->lo)) / (log(h->hi) - log(h->lo)) : 0.5;
    case NN_HP_INT: return (t->x[k] - h->lo + 0.5) / (h->hi - h->lo + 1.0);
    default: return (t->choice[k] + 0.5) / h->n_choices;
    }
}

/* A random point of the box: unit ranges [a, b] per dimension, allowed
   choices (bit mask), zero allowed / forced per log dimension. */
typedef struct nn__hp_box {
    double a[NN_HP_MAX_DIMS], b[NN_HP_MAX_DIMS], zero_p[NN_HP_MAX_DIMS];
    unsigned allowed[NN_HP_MAX_DIMS];
} nn__hp_box;

static void nn__hp_box_full(const nn_hp_dim *dims, int n, nn__hp_box *bx) {
    int k;
    for (k = 0; k < n; k++) {
        bx->a[k] = 0.0;
        bx->b[k] = 1.0;
        bx->zero_p[k] = dims[k].kind == NN_HP_LOG_UNIFORM ? dims[k].zero_p : 0.0;
        bx->allowed[k] = dims[k].kind == NN_HP_CHOICE ? (1u << dims[k].n_choices) - 1u : 0u;
    }
}

static double nn__hp_u01(nn_rng *r) { return (double)(nn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

static void nn__hp_draw(const nn_hp_dim *dims, int n, const nn__hp_box *bx, nn_rng *r, nn_hp_trial *t) {
    int k;
    for (k = 0; k < n; k++) {
        const nn_hp_dim *h = &dims[k];
        if (h->kind == NN_HP_CHOICE) {
            int cnt = 0, i, pick;
            for (i = 0; i < h->n_choices; i++) cnt += (int)(bx->allowed[k] >> i & 1u);
            pick = (int)nn_rng_below(r, (uint32_t)(cnt ? cnt : 1));
            for (i = 0; i < h->n_choices; i++)
                if ((bx->allowed[k] >> i & 1u) && pick-- == 0) break;
            nn__hp_set(h, t, k, (NN__MIN(i, h->n_choices - 1) + 0.5) / h->n_choices, 0);
        } else {
            int zero = h->kind == NN_HP_LOG_UNIFORM && bx->zero_p[k] > 0.0 && nn__hp_u01(r) < bx->zero_p[k];
            nn__hp_set(h, t, k, bx->a[k] + nn__hp_u01(r) * (bx->b[k] - bx->a[k]), zero);
        }
    }
}

/* indices of the finite-scored trials among t[0..n), best first */
static int nn__hp_rank(const nn_hp_trial *t, int n, int *order) {
    int m = 0, i, j;
    for (i = 0; i < n; i++) {
        if (t[i].score != t[i].score) continue;
        for (j = m; j > 0 && t[order[j - 1]].score > t[i].score; j--) order[j] = order[j - 1];
        order[j] = i;
        m++;
    }
    return m;
}

/* a Gaussian mixture's log density at v: centres mu[0..n) with widths s,
   plus a prior component (centre pm, width ps), equal weights */
static double nn__hp_logpdf(double v, const double *mu, const double *s, int n, double pm, double ps) {
    double sum = exp(-0.5 * ((v - pm) / ps) * ((v - pm) / ps)) / ps;
    int i;
    for (i = 0; i < n; i++) sum += exp(-0.5 * ((v - mu[i]) / s[i]) * ((v - mu[i]) / s[i])) / s[i];
    return log(sum / (n + 1) + 1e-300);
}

/* Parzen widths: each point's larger gap to its sorted neighbours, clipped
   to [range / min(100, n + 1), range] (as hyperopt). mu is sorted here. */
static void nn__hp_widths(double *mu, double *s, int n, double lo, double hi) {
    int i, j;
    double range = hi - lo, smin = range / NN__MIN(100.0, n + 1.0);
    for (i = 1; i < n; i++) {
        double v = mu[i];
        for (j = i; j > 0 && mu[j - 1] > v; j--) mu[j] = mu[j - 1];
        mu[j] = v;
    }
    for (i = 0; i < n; i++) {
        double l = i ? mu[i] - mu[i - 1] : mu[i] - lo, r = i + 1 < n ? mu[i + 1] - mu[i] : hi - mu[i];
        s[i] = NN__MIN(NN__MAX(NN__MAX(l, r), smin), range);
    }
}

#define NN__HP_OBS 1000 /* TPE models the best this many trials */
/* TPE's proposal for dimension k from the trials so far (order: ranked) */
static void nn__hp_tpe_dim(const nn_hp_dim *h, int k, const nn_hp_trial *t, const int *order, int m, int n_good,
                           const nn_hp_search_desc *d, nn_rng *r, nn_hp_trial *out) {
    double mu[2][NN__HP_OBS], s[2][NN__HP_OBS], lo, hi, best = -HUGE_VAL, best_u = 0.5;
    int cnt[2] = {0, 0}, zeros[2] = {0, 0}, part, i, c, best_zero = 0;
    if (h->kind == NN_HP_CHOICE) {
        double pl[NN_HP_MAX_CHOICES], pg[NN_HP_MAX_CHOICES];
        int best_i = 0;
        for (c = 0; c < h->n_choices; c++) pl[c] = pg[c] = 1.0; /* prior: one count each */
        for (i = 0; i < m; i++) (i < n_good ? pl : pg)[t[order[i]].choice[k]] += 1.0;
        for (i = 0; i < d->candidates; i++) {
            double tot = 0.0, u = 0.0, ratio;
            for (c = 0; c < h->n_choices; c++) tot += pl[c];
            u = nn__hp_u01(r) * tot;
            for (c = 0; c < h->n_choices - 1 && u >= pl[c]; c++) u -= pl[c];
            ratio = log(pl[c] / (n_good + h->n_choices)) - log(pg[c] / (m - n_good + h->n_choices));
            if (ratio > best) { best = ratio; best_i = c; }
        }
        nn__hp_set(h, out, k, (best_i + 0.5) / h->n_choices, 0);
        return;
    }
    /* continuous in the dimension's own scale: log for log-uniform, ints widened by half a step */
    lo = h->kind == NN_HP_LOG_UNIFORM ? log(h->lo) : h->kind == NN_HP_INT ? h->lo - 0.5 : h->lo;
    hi = h->kind == NN_HP_LOG_UNIFORM ? log(h->hi) : h->kind == NN_HP_INT ? h->hi + 0.5 : h->hi;
    if (!(hi > lo)) hi = lo + 1.0;
    for (i = 0; i < m && i < NN__HP_OBS; i++) {
        const nn_hp_trial *q = &t[order[i]];
        part = i < n_good ? 0 : 1;
        if (h->kind == NN_HP_LOG_UNIFORM && q->x[k] == 0.0) { zeros[part]++; continue; }
        mu[part][cnt[part]++] = h->kind == NN_HP_LOG_UNIFORM ? log(q->x[k]) : q->x[k];
    }
    nn__hp_widths(mu[0], s[0], cnt[0], lo, hi);
    nn__hp_widths(mu[1], s[1], cnt[1], lo, hi);
    for (i = 0; i < d->candidates; i++) {
        /* P(zero) under each part, with a prior of zero_p */
        double pz_l = h->zero_p > 0.0 ? (zeros[0] + h->zero_p) / (zeros[0] + cnt[0] + 1.0) : 0.0;
        double pz_g = h->zero_p > 0.0 ? (zeros[1] + h->zero_p) / (zeros[1] + cnt[1] + 1.0) : 0.0;
        double v, score;
        int zero = pz_l > 0.0 && nn__hp_u01(r) < pz_l, comp, tries;
        if (zero) {
            score = log(pz_l) - log(pz_g);
            v = lo;
        } else {
            comp = (int)nn_rng_below(r, (uint32_t)(cnt[0] + 1)); /* cnt[0]: the prior */
            for (tries = 0;; tries++) {
                double cen = comp < cnt[0] ? mu[0][comp] : 0.5 * (lo + hi), w = comp < cnt[0] ? s[0][comp] : hi - lo;
                v = cen + w * (double)nn_rng_normal(r);
                if ((v >= lo && v <= hi) || tries == 8) break;
            }
            v = NN__MIN(NN__MAX(v, lo), hi);
            score = log(1.0 - pz_l) + nn__hp_logpdf(v, mu[0], s[0], cnt[0], 0.5 * (lo + hi), hi - lo) -
                    log(1.0 - pz_g + 1e-300) - nn__hp_logpdf(v, mu[1], s[1], cnt[1], 0.5 * (lo + hi), hi - lo);
        }
        if (score > best) {
            best = score;
            best_zero = zero;
            best_u = (v - lo) / (hi - lo);
        }
    }
    nn__hp_set(h, out, k, best_u, best_zero);
}

NNDEF nn_result nn_hp_search(const nn_hp_dim *dims, int n_dims, const nn_hp_search_desc *d, nn_hp_objective f,
                             void *user, nn_hp_trial *trials, int cap, nn_hp_result *res) {
    nn_rng rng;
    nn_result rc;
    int need, n = 0, k, i, *order = NULL;
    char err[NN_ERROR_MAX];
    err[0] = '\0';
    if (!res) return NN_ERR_INVALID_ARGUMENT;
    res->n_trials = 0;
    res->best = -1;
    res->error[0] = '\0';
    rc = nn__hp_check(dims, n_dims, d, res->error);
    if (rc != NN_OK) return rc;
    need = nn_hp_search_count(dims, n_dims, d);
    if (!f || !trials || need < 1 || cap < need)
        return nn__fail(res->error, NN_ERR_INVALID_ARGUMENT, "hp: an objective and room for %d trials are needed (cap %d)",
                        need, cap);
    order = (int *)NN_MALLOC(sizeof(int) * (size_t)need);
    if (!order) return nn__fail(res->error, NN_ERR_OUT_OF_MEMORY, "hp: %d ints of scratch", need);
    nn_rng_seed(&rng, d->seed);
    memset(trials, 0, sizeof(nn_hp_trial) * (size_t)need);
#define NN__HP_RUN(t)                          \
    do {                                       \
        (t)->id = n;                           \
        (t)->score = f(user, (t));             \
        n++;                                   \
    } while (0)
    switch (d->method) {
    case NN_HP_GRID: {
        int idx[NN_HP_MAX_DIMS];
        memset(idx, 0, sizeof idx);
        for (i = 0; i < need; i++) {
            nn_hp_trial *t = &trials[i];
            t->config = i;
            t->budget = d->budget;
            for (k = 0; k < n_dims; k++) {
                const nn_hp_dim *h = &dims[k];
                int g = nn__hp_grid_n(h), zero = h->kind == NN_HP_LOG_UNIFORM && h->zero_p > 0.0;
                int j = idx[k] - zero, pts = g - zero;
                if (h->kind == NN_HP_CHOICE) nn__hp_set(h, t, k, (idx[k] + 0.5) / h->n_choices, 0);
                else if (j < 0) nn__hp_set(h, t, k, 0.0, 1);
                else if (h->kind == NN_HP_INT) {
                    t->choice[k] = -1;
                    t->x[k] = pts > 1 ? floor(h->lo + (h->hi - h->lo) * j / (pts - 1) + 0.5) : floor(0.5 * (h->lo + h->hi));
                } else nn__hp_set(h, t, k, pts > 1 ? (double)j / (pts - 1) : 0.5, 0);
            }
            NN__HP_RUN(t);
            for (k = n_dims - 1; k >= 0; k--) { /* odometer: the last dimension fastest */
                if (++idx[k] < nn__hp_grid_n(&dims[k])) break;
                idx[k] = 0;
            }
        }
        break;
    }
    case NN_HP_RANDOM:
    case NN_HP_COARSE_TO_FINE: {
        nn__hp_box bx;
        int rounds = d->method == NN_HP_RANDOM ? 1 : d->rounds, rd;
        nn__hp_box_full(dims, n_dims, &bx);
        for (rd = 0; rd < rounds; rd++) {
            if (rd > 0) { /* the box of the best keep fraction so far, widened by a tenth */
                int m = nn__hp_rank(trials, n, order), top = (int)ceil(d->keep * m);
                if (top < 1) top = NN__MIN(1, m);
                for (k = 0; k < n_dims && top > 0; k++) {
                    const nn_hp_dim *h = &dims[k];
                    double a = 1.0, b = 0.0, w;
                    int zeros = 0, nonzero = 0;
                    bx.allowed[k] = 0u;
                    for (i = 0; i < top; i++) {
                        const nn_hp_trial *q = &trials[order[i]];
                        double u;
                        if (h->kind == NN_HP_CHOICE) { bx.allowed[k] |= 1u << q->choice[k]; continue; }
                        if (h->kind == NN_HP_LOG_UNIFORM && q->x[k] == 0.0) { zeros++; continue; }
                        u = nn__hp_unit(h, q, k);
                        a = NN__MIN(a, u);
                        b = NN__MAX(b, u);
                        nonzero++;
                    }
                    if (h->kind == NN_HP_CHOICE) continue;
                    if (h->kind == NN_HP_LOG_UNIFORM && h->zero_p > 0.0)
                        bx.zero_p[k] = nonzero ? (zeros ? h->zero_p : 0.0) : 1.0;
                    if (nonzero) {
                        w = 0.1 * (b - a) + 0.5 / (double)d->trials;
                        bx.a[k] = NN__MAX(0.0, a - w);
                        bx.b[k] = NN__MIN(1.0, b + w);
                    }
                }
            }
            for (i = 0; i < d->trials; i++) {
                nn_hp_trial *t = &trials[n];
                t->config = n;
                t->rung = rd;
                t->budget = d->budget;
                nn__hp_draw(dims, n_dims, &bx, &rng, t);
                NN__HP_RUN(t);
            }
        }
        break;
    }
    case NN_HP_HALVING: {
        nn__hp_box bx;
        int c = d->trials, first = 0, rung = 0, j;
        double budget = d->budget;
        nn__hp_box_full(dims, n_dims, &bx);
        for (i = 0; i < c; i++) {
            nn_hp_trial *t = &trials[i];
            t->config = i;
            t->budget = budget;
            nn__hp_draw(dims, n_dims, &bx, &rng, t);
            NN__HP_RUN(t);
        }
        while (c > 1) {
            int next = NN__MAX(1, (int)floor((double)c / d->eta)), m;
            m = nn__hp_rank(trials + first, c, order);
            /* failed (NaN) configurations rank last, each once */
            for (j = 0; j < c && m < c; j++)
                if (trials[first + j].score != trials[first + j].score) order[m++] = j;
            budget *= d->eta;
            rung++;
            for (j = 0; j < next; j++) {
                nn_hp_trial *t = &trials[n];
                *t = trials[first + order[j]];
                t->rung = rung;
                t->budget = budget;
                NN__HP_RUN(t);
            }
            first += c;
            c = next;
        }
        break;
    }
    default: { /* TPE */
        nn__hp_box bx;
        nn__hp_box_full(dims, n_dims, &bx);
        for (i = 0; i < d->trials; i++) {
            nn_hp_trial *t = &trials[n];
            int m = nn__hp_rank(trials, n, order);
            t->config = n;
            t->budget = d->budget;
            if (n < d->startup || m < 2) nn__hp_draw(dims, n_dims, &bx, &rng, t);
            else {
                int n_good = NN__MAX(1, (int)ceil(d->gamma * m));
                for (k = 0; k < n_dims; k++) nn__hp_tpe_dim(&dims[k], k, trials, order, m, n_good, d, &rng, t);
            }
            NN__HP_RUN(t);
        }
        break;
    }
    }
#undef NN__HP_RUN
    res->n_trials = n;
    if (d->method == NN_HP_HALVING) {
        /* the best of the highest rung that has a score */
        int rung;
        for (rung = trials[n - 1].rung; rung >= 0 && res->best < 0; rung--)
            for (i = 0; i < n; i++)
                if (trials[i].rung == rung && trials[i].score == trials[i].score &&
                    (res->best < 0 || trials[i].score < trials[res->best].score))
                    res->best = i;
    } else {
        for (i = 0; i < n; i++)
            if (trials[i].score == trials[i].score && (res->best < 0 || trials[i].score < trials[res->best].score))
                res->best = i;
    }
    NN_FREE(order);
    (void)err;
    if (res->best < 0) return nn__fail(res->error, NN_ERR_NONFINITE, "hp: every trial's score was NaN");
    return NN_OK;
}

#ifndef NN_NO_STDIO
NNDEF nn_result nn_hp_trials_csv(const nn_hp_dim *dims, int n_dims, const nn_hp_trial *t, int n, FILE *f) {
    int i, k;
    if (!dims || n_dims < 1 || n_dims > NN_HP_MAX_DIMS || (!t && n) || n < 0 || !f) return NN_ERR_INVALID_ARGUMENT;
    fprintf(f, "id,config,rung,budget");
    for (k = 0; k < n_dims; k++) fprintf(f, ",%s", dims[k].name ? dims[k].name : "?");
    fprintf(f, ",score\n");
    for (i = 0; i < n; i++) {
        fprintf(f, "%d,%d,%d,%.17g", t[i].id, t[i].config, t[i].rung, t[i].budget);
        for (k = 0; k < n_dims; k++) {
            int c = t[i].choice[k];
            if (dims[k].kind == NN_HP_CHOICE && c >= 0 && c < dims[k].n_choices && dims[k].labels[c])
                fprintf(f, ",%s", dims[k].labels[c]);
            else
                fprintf(f, ",%.9g", t[i].x[k]);
        }
        fprintf(f, ",%.9g\n", t[i].score);
    }
    return ferror(f) ? NN_ERR_IO : NN_OK;
}
#endif


/* == 18. int8 quantized inference ======================================== */
/* Quantized with round half away from zero, clamped: the one rule every
   kernel's input goes through. */
static int8_t nn__q8(float x, float inv) {
    float t = x * inv;
    if (t >= 127.0f) return 127;
    if (t <= -127.0f) return -127;
    if (!(t == t)) return 0;
    /* in double: t + 0.5f would round 0.49999997f up to 1 */
    return (int8_t)(int)(t < 0.0f ? (double)t - 0.5 : (double)t + 0.5);
}

/* acc (B, out) = xq (B, kpad) wq^T, in int32: the plain twin */
static void nn__qgemm_plain(int32_t *acc, const int8_t *xq, const nn_qlayer *L, int B) {
    int b, o, k;
    for (b = 0; b < B; b++)
        for (o = 0; o < L->out; o++) {
            const int8_t *x = xq + (size_t)b * L->kpad, *w = L->wq + (size_t)o * L->kpad;
            int32_t s = 0;
            for (k = 0; k < L->in; k++) s += (int32_t)x[k] * (int32_t)w[k];
            acc[(size_t)b * L->out + o] = s;
        }
}

#if NN__AVX2
/* |x| as unsigned times w with x's sign moved onto it: pairs summed in int16
   (at most 2 * 127 * 127, no saturation), then in int32 */
NN__TARGET_AVX2_ONLY static void nn__qgemm_avx2(int32_t *acc, const int8_t *xq, const nn_qlayer *L, int B) {
    const __m256i ones = _mm256_set1_epi16(1);
    int b, o, k, j;
    for (b = 0; b < B; b++) {
        const int8_t *x = xq + (size_t)b * L->kpad;
        for (o = 0; o < L->out; o += 4) {
            int n = NN__MIN(4, L->out - o);
            __m256i s[4];
            for (j = 0; j < 4; j++) s[j] = _mm256_setzero_si256();
            for (k = 0; k < L->kpad; k += 32) {
                __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(x + k));
                __m256i ax = _mm256_sign_epi8(xv, xv);
                for (j = 0; j < n; j++) {
                    __m256i wv = _mm256_loadu_si256((const __m256i *)(const void *)(L->wq + (size_t)(o + j) * L->kpad + k));
                    __m256i p = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(wv, xv));
                    s[j] = _mm256_add_epi32(s[j], _mm256_madd_epi16(p, ones));
                }
            }
            for (j = 0; j < n; j++) {
                int32_t t[8];
                _mm256_storeu_si256((__m256i *)(void *)t, s[j]);
                acc[(size_t)b * L->out + o + j] = t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
            }
        }
    }
}
#endif

#if NN__AVX512 && (defined(__GNUC__) || defined(__clang__))
#define NN__VNNI 1
#define NN__TARGET_VNNI __attribute__((target("avx512f,avx512vnni")))
#elif NN__AVX512
#define NN__VNNI 1 /* MSVC: intrinsics need no target */
#define NN__TARGET_VNNI
#else
#define NN__VNNI 0
#endif
#if NN__VNNI
/* vpdpbusd multiplies unsigned by signed bytes: x + 128 (x ^ 0x80) times w,
   then 128 sum(w) off each sum */
/* one row, 4 outputs at a time (batch 1, and the rows a block of 4 leaves) */
NN__TARGET_VNNI static void nn__qgemm_vnni_row(int32_t *acc, const int8_t *x, const nn_qlayer *L) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    int o, k, j;
    for (o = 0; o < L->out; o += 4) {
        int n = NN__MIN(4, L->out - o);
        __m512i s[4];
        for (j = 0; j < 4; j++) s[j] = _mm512_setzero_si512();
        for (k = 0; k < L->kpad; k += 64) {
            __m512i xu = _mm512_xor_si512(_mm512_loadu_si512((const void *)(x + k)), flip);
            for (j = 0; j < n; j++)
                s[j] = _mm512_dpbusd_epi32(s[j], xu, _mm512_loadu_si512((const void *)(L->wq + (size_t)(o + j) * L->kpad + k)));
        }
        for (j = 0; j < n; j++) { /* (not _mm512_reduce_add_epi32: g++ 12 warns inside it) */
            int32_t t[16], sum = 0, i;
            _mm512_storeu_si512((void *)t, s[j]);
            for (i = 0; i < 16; i++) sum += t[i];
            acc[o + j] = sum - L->wsum[o + j];
        }
    }
}
NN__TARGET_VNNI static void nn__qgemm_vnni(int32_t *acc, const int8_t *xq, const nn_qlayer *L, int B) {
    /* 4 rows by 4 outputs at a time: each weight load serves 4 rows */
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    int b, o, k, j, r;
    for (b = 0; b + 4 <= B; b += 4) {
        const int rb = 4;
        for (o = 0; o < L->out; o += 4) {
            int n = NN__MIN(4, L->out - o);
            __m512i s[4][4], xu[4];
            for (r = 0; r < 4; r++)
                for (j = 0; j < 4; j++) s[r][j] = _mm512_setzero_si512();
            for (k = 0; k < L->kpad; k += 64) {
                for (r = 0; r < rb; r++)
                    xu[r] = _mm512_xor_si512(_mm512_loadu_si512((const void *)(xq + (size_t)(b + r) * L->kpad + k)), flip);
                for (j = 0; j < n; j++) {
                    __m512i w = _mm512_loadu_si512((const void *)(L->wq + (size_t)(o + j) * L->kpad + k));
                    for (r = 0; r < rb; r++) s[r][j] = _mm512_dpbusd_epi32(s[r][j], xu[r], w);
                }
            }
            for (r = 0; r < rb; r++) {
                /* the 4 sums at once: interleave and add pairs, then the four 128-bit lanes
                   (the zero-masked forms: g++ 12 warns inside the plain ones) */
                const __mmask16 all = 0xFFFF;
                __m512i t01 = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(all, s[r][0], s[r][1]),
                                               _mm512_maskz_unpackhi_epi32(all, s[r][0], s[r][1]));
                __m512i t23 = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(all, s[r][2], s[r][3]),
                                               _mm512_maskz_unpackhi_epi32(all, s[r][2], s[r][3]));
                __m512i t = _mm512_add_epi32(_mm512_maskz_unpacklo_epi64((__mmask8)0xFF, t01, t23),
                                             _mm512_maskz_unpackhi_epi64((__mmask8)0xFF, t01, t23));
                __m128i q = _mm_add_epi32(
                    _mm_add_epi32(_mm512_maskz_extracti32x4_epi32((__mmask8)0xF, t, 0),
                                  _mm512_maskz_extracti32x4_epi32((__mmask8)0xF, t, 1)),
                    _mm_add_epi32(_mm512_maskz_extracti32x4_epi32((__mmask8)0xF, t, 2),
                                  _mm512_maskz_extracti32x4_epi32((__mmask8)0xF, t, 3)));
                int32_t sums[4];
                _mm_storeu_si128((__m128i *)(void *)sums, q);
                for (j = 0; j < n; j++) acc[(size_t)(b + r) * L->out + o + j] = sums[j] - L->wsum[o + j];
            }
        }
    }
    for (; b < B; b++) nn__qgemm_vnni_row(acc + (size_t)b * L->out, xq + (size_t)b * L->kpad, L);
}
static int nn__cpu_has_vnni(void) {
#if NN__CPUID
    return nn__cpu_level() >= 3;
#else
    __builtin_cpu_init();
    return nn__cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
#endif
}
#endif

#if NN__NEON
/* products in int16 (at most 127 * 127), pairs added into int32 */
static void nn__qgemm_neon(int32_t *acc, const int8_t *xq, const nn_qlayer *L, int B) {
    int b, o, k;
    for (b = 0; b < B; b++) {
        const int8_t *x = xq + (size_t)b * L->kpad;
        for (o = 0; o < L->out; o++) {
            const int8_t *w = L->wq + (size_t)o * L->kpad;
            int32x4_t s = vdupq_n_s32(0);
            for (k = 0; k < L->kpad; k += 16) {
                int8x16_t xv = vld1q_s8(x + k), wv = vld1q_s8(w + k);
                s = vpadalq_s16(s, vmull_s8(vget_low_s8(xv), vget_low_s8(wv)));
                s = vpadalq_s16(s, vmull_s8(vget_high_s8(xv), vget_high_s8(wv)));
            }
            acc[(size_t)b * L->out + o] = vgetq_lane_s32(s, 0) + vgetq_lane_s32(s, 1) + vgetq_lane_s32(s, 2) +
                                          vgetq_lane_s32(s, 3);
        }
    }
}
#endif

NNDEF const char *nn_qlayer_kind_name(nn_qlayer_kind k) {
    switch (k) {
    case NN_QLAYER_DENSE: return "dense";
    case NN_QLAYER_CONV2D: return "conv2d";
    case NN_QLAYER_MAXPOOL2D: return "maxpool2d";
    case NN_QLAYER_AVGPOOL2D: return "avgpool2d";
    case NN_QLAYER_GLOBAL_AVGPOOL: return "global_avgpool";
    default: return "unknown";
    }
}
#ifndef NN_NO_STDIO
static const char *nn__qkind_enum_name(nn_qlayer_kind k) {
    static const char *n[] = {"NN_QLAYER_DENSE", "NN_QLAYER_CONV2D", "NN_QLAYER_MAXPOOL2D", "NN_QLAYER_AVGPOOL2D",
                              "NN_QLAYER_GLOBAL_AVGPOOL"};
    return (int)k >= 0 && (int)k <= NN_QLAYER_GLOBAL_AVGPOOL ? n[k] : "NN_QLAYER_DENSE";
}
#endif

NNDEF const char *nn_qkernel_name(nn_qkernel k) {
    switch (k) {
    case NN_QKERNEL_AVX2: return "AVX2";
    case NN_QKERNEL_VNNI: return "AVX-512 VNNI";
    case NN_QKERNEL_NEON: return "NEON";
    default: return "plain";
    }
}

static nn_qkernel nn__qkernel_best(void) {
#if NN__NEON
    return NN_QKERNEL_NEON;
#else
#if NN__VNNI
    if (nn__cpu_has_vnni()) return NN_QKERNEL_VNNI;
#endif
#if NN__AVX2
    if (nn__cpu_has_avx2()) return NN_QKERNEL_AVX2;
#endif
    return NN_QKERNEL_PLAIN;
#endif
}

/* The plan: which model layers make each int8 layer. first[i]: its own
   layer (dense, conv or a pool); last[i]: the last model layer it takes in
   (its output is the next one's input); bn[i]: the batch norm folded in, or
   -1. */
typedef struct nn__qplan {
    int n, first[NN_QMAX_LAYERS], last[NN_QMAX_LAYERS], bn[NN_QMAX_LAYERS];
    nn_act act[NN_QMAX_LAYERS];
    float alpha[NN_QMAX_LAYERS];
} nn__qplan;

static int nn__qkind_of(nn_layer_kind k) {
    switch (k) {
    case NN_LAYER_DENSE: return NN_QLAYER_DENSE;
    case NN_LAYER_CONV2D: return NN_QLAYER_CONV2D;
    case NN_LAYER_MAXPOOL2D: return NN_QLAYER_MAXPOOL2D;
    case NN_LAYER_AVGPOOL2D: return NN_QLAYER_AVGPOOL2D;
    case NN_LAYER_GLOBAL_AVGPOOL: return NN_QLAYER_GLOBAL_AVGPOOL;
    default: return -1;
    }
}
/* The int32 sums stay exact up to K = 2^16 products per output: the VNNI
   kernel's biased sum is at most K 255 127 < 2^31 there. */
#define NN__QK_MAX 65536
/* int8 kinds: a weight row per output channel */
static int nn__qint8(const nn_qlayer *L) { return L->kind == NN_QLAYER_DENSE || L->kind == NN_QLAYER_CONV2D; }
/* rows of wq, their length, and output positions per sample */
static int nn__qrows(const nn_qlayer *L) { return L->kind == NN_QLAYER_CONV2D ? L->channels : L->out; }
static int nn__qk(const nn_qlayer *L) {
    return L->kind == NN_QLAYER_CONV2D ? L->shape[0] * L->geom.kh * L->geom.kw : L->in;
}
static int nn__qpix(const nn_qlayer *L) { return L->kind == NN_QLAYER_CONV2D ? L->out / L->channels : 1; }

static nn_result nn__qplan_make(const nn_model *m, nn__qplan *p, char *err) {
    int l;
    p->n = 0;
    for (l = 0; l < m->n_layers; l++) {
        const nn_layer *ly = &m->layers[l];
        int i = p->n - 1;
        switch (ly->kind) {
        case NN_LAYER_CONV2D:
            if (ly->geom.groups != 1)
                return nn__fail(err, NN_ERR_UNSUPPORTED, "quantize: layer %d (conv2d) has groups %d; int8 takes 1", l,
                                ly->geom.groups);
            /* fall through */
        case NN_LAYER_DENSE:
        case NN_LAYER_MAXPOOL2D:
        case NN_LAYER_AVGPOOL2D:
        case NN_LAYER_GLOBAL_AVGPOOL:
            if ((ly->kind == NN_LAYER_DENSE && ly->in > NN__QK_MAX) ||
                (ly->kind == NN_LAYER_CONV2D && (double)ly->in_shape[0] * ly->geom.kh * ly->geom.kw > NN__QK_MAX))
                return nn__fail(err, NN_ERR_UNSUPPORTED, "quantize: layer %d (%s) sums more than %d products per "
                                "output; int8 keeps its sums exact up to there", l, nn__layer_kind_name(ly->kind),
                                NN__QK_MAX);
            if (p->n == NN_QMAX_LAYERS)
                return nn__fail(err, NN_ERR_UNSUPPORTED, "quantize: more than %d layers", NN_QMAX_LAYERS);
            i = p->n++;
            p->first[i] = p->last[i] = l;
            p->bn[i] = -1;
            p->act[i] = NN_ACT_IDENTITY;
            p->alpha[i] = 0.0f;
            break;
        case NN_LAYER_BATCHNORM:
        case NN_LAYER_BATCHNORM2D:
            /* folded only straight after the dense (conv) layer, before any activation */
            if (i < 0 || p->last[i] != l - 1 || p->bn[i] >= 0 || p->act[i] != NN_ACT_IDENTITY ||
                m->layers[l - 1].kind != (ly->kind == NN_LAYER_BATCHNORM ? NN_LAYER_DENSE : NN_LAYER_CONV2D))
                return nn__fail(err, NN_ERR_UNSUPPORTED, "quantize: layer %d (%s) does not follow a %s layer directly",
                                l, nn__layer_kind_name(ly->kind), ly->kind == NN_LAYER_BATCHNORM ? "dense" : "conv2d");
            p->bn[i] = l;
            p->last[i] = l;
            break;
        case NN_LAYER_ACT:
            if (i < 0 || p->act[i] != NN_ACT_IDENTITY || ly->act == NN_ACT_SOFTMAX)
                return nn__fail(err, NN_ERR_UNSUPPORTED, "quantize: layer %d (activation %s) has no layer to join", l,
                                nn_act_name(ly->act));
            p->act[i] = ly->act;
            p->alpha[i] = ly->alpha;
            p->last[i] = l;
            break;
        case NN_LAYER_DROPOUT:
        case NN_LAYER_DROPOUT2D:
        case NN_LAYER_FLATTEN:
            if (i >= 0) p->last[i] = l; /* the identity in EVAL */
            break;
        default:
            return nn__fail(err, NN_ERR_UNSUPPORTED, "quantize: layer %d (%s) has no int8 form yet", l,
                            nn__layer_kind_name(ly->kind));
        }
    }
    for (l = 0; l < p->n; l++)
        if (nn__qkind_of(m->layers[p->first[l]].kind) <= NN_QLAYER_CONV2D) return NN_OK;
    return nn__fail(err, NN_ERR_UNSUPPORTED, "quantize: the model has no dense or conv2d layer");
}

/* Layer i's shapes and kind from the model (no weights yet). */
static void nn__qplan_layer(const nn_model *m, const nn__qplan *p, int i, nn_qlayer *L) {
    const nn_layer *ly = &m->layers[p->first[i]];
    NN__ZERO(*L);
    L->kind = (nn_qlayer_kind)nn__qkind_of(ly->kind);
    L->in = ly->in;
    L->out = ly->out;
    L->act = p->act[i];
    L->alpha = p->alpha[i];
    if (L->kind != NN_QLAYER_DENSE) {
        memcpy(L->shape, ly->in_shape, sizeof L->shape);
        if (L->kind != NN_QLAYER_GLOBAL_AVGPOOL) L->geom = ly->geom;
        if (L->kind == NN_QLAYER_CONV2D) L->channels = ly->out_shape[0];
        if (L->kind == NN_QLAYER_AVGPOOL2D) L->count_include_pad = ly->count_include_pad;
    }
    if (nn__qint8(L)) L->kpad = (nn__qk(L) + 63) / 64 * 64;
}

/* Whether layer L holds together (and follows prev): sizes in range, the
   window's output the declared one, the int8 arrays present. */
static nn_result nn__qlayer_check(const nn_qlayer *L, const nn_qlayer *prev, int i, char *err) {
    const int big = 1 << 24;
    const nn_conv2d_geom *g = &L->geom;
    int oh = 0, ow = 0, c = L->shape[0], h = L->shape[1], w = L->shape[2], ok;
    if ((int)L->kind < 0 || (int)L->kind > NN_QLAYER_GLOBAL_AVGPOOL || L->in < 1 || L->out < 1 || L->in > big ||
        L->out > big || (prev && L->in != prev->out) || (int)L->act < 0 || (int)L->act >= NN_ACT_COUNT_ ||
        L->act == NN_ACT_SOFTMAX || !(L->alpha - L->alpha == 0.0f))
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "int8 layer %d: kind %d, %d -> %d, activation %d: inconsistent%s",
                        i, (int)L->kind, L->in, L->out, (int)L->act, prev && L->in != prev->out ? " (does not chain)" : "");
    if (L->kind == NN_QLAYER_DENSE) {
        ok = !c && !h && !w && !L->channels && !g->kh && !g->kw && !g->sh && !g->sw && !g->ph && !g->pw && !g->dil_h &&
             !g->dil_w && !g->groups && !L->count_include_pad;
    } else {
        /* products in double: exact up to 2^53, and past it never equal to a size <= 2^24 */
        ok = c >= 1 && h >= 1 && w >= 1 && c <= big && h <= big && w <= big && (double)c * h * w == (double)L->in;
        if (ok && L->kind == NN_QLAYER_GLOBAL_AVGPOOL)
            ok = L->out == c && !L->channels && !g->kh && !g->kw && !g->sh && !g->sw && !g->ph && !g->pw &&
                 !g->dil_h && !g->dil_w && !g->groups && !L->count_include_pad;
        else if (ok) {
            ok = nn__geom_ok(g) && g->groups == 1 && g->kh <= big && g->kw <= big && g->sh <= big && g->sw <= big &&
                 g->ph <= big && g->pw <= big && g->dil_h <= big && g->dil_w <= big;
            if (ok) {
                oh = nn_conv2d_out_size(h, g->kh, g->sh, g->ph, g->dil_h);
                ow = nn_conv2d_out_size(w, g->kw, g->sw, g->pw, g->dil_w);
                ok = oh >= 1 && ow >= 1;
            }
            if (ok && L->kind == NN_QLAYER_CONV2D)
                ok = L->channels >= 1 && (double)L->channels * oh * ow == (double)L->out && !L->count_include_pad &&
                     (double)c * g->kh * g->kw <= big;
            else if (ok)
                ok = !L->channels && (double)c * oh * ow == (double)L->out && g->ph <= g->kh / 2 && g->pw <= g->kw / 2 &&
                     (L->kind == NN_QLAYER_AVGPOOL2D ? g->dil_h == 1 && g->dil_w == 1 &&
                                                           (L->count_include_pad == 0 || L->count_include_pad == 1)
                                                     : !L->count_include_pad);
        }
    }
    if (!ok)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "int8 layer %d (%s): shape (%d, %d, %d) and window do not give "
                        "%d outputs", i, nn_qlayer_kind_name(L->kind), c, h, w, L->out);
    if (nn__qint8(L) && nn__qk(L) > NN__QK_MAX)
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "int8 layer %d: %d inputs per output (at most %d: the int32 sums "
                        "must stay exact)", i, nn__qk(L), NN__QK_MAX);
    if (nn__qint8(L) && (L->kpad != (nn__qk(L) + 63) / 64 * 64 || !L->wq || !L->wscale || !L->scale || !L->bias ||
                         !L->wsum || !(L->in_scale > 0.0f) || !(L->in_scale - L->in_scale == 0.0f)))
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "int8 layer %d: kpad %d (want %d), arrays or input scale %g "
                        "missing", i, L->kpad, (nn__qk(L) + 63) / 64 * 64, (double)L->in_scale);
    return NN_OK;
}

/* The scratch a forward needs for batches up to max_batch, in arena bytes
   (0: out of range): xq, the image in int8, acc, the two float buffers, the
   max pools' argmax. n[k] gets each one's element count. */
static size_t nn__qscratch(const nn_qlayer *layers, int n_layers, int max_batch, size_t n[5]) {
    size_t rows_k = 0, img = 0, acc = 0, widest = 0, am = 0, total = 0;
    int i, k;
    if (max_batch < 1 || max_batch > (1 << 20)) return 0;
    for (i = 0; i < n_layers; i++) {
        const nn_qlayer *L = &layers[i];
        size_t pix = (size_t)nn__qpix(L);
        if (nn__qint8(L)) {
            /* every row of a batch goes through the int kernels' int count */
            if ((double)max_batch * (double)pix > (double)INT_MAX) return 0;
            rows_k = NN__MAX(rows_k, pix * (size_t)L->kpad);
            acc = NN__MAX(acc, (size_t)L->out);
            if (L->kind == NN_QLAYER_CONV2D) img = NN__MAX(img, (size_t)L->in);
        }
        if (L->kind == NN_QLAYER_MAXPOOL2D) am = NN__MAX(am, (size_t)L->out);
        widest = NN__MAX(widest, (size_t)L->out);
    }
    n[0] = rows_k; n[1] = img; n[2] = acc; n[3] = widest; n[4] = am;
    for (k = 0; k < 5; k++) {
        if ((double)n[k] * (double)max_batch * 4.0 > (double)(SIZE_MAX / 4)) return 0;
        n[k] *= (size_t)max_batch;
    }
    total = nn_arena_bytes_for(n[0]) + (n[1] ? nn_arena_bytes_for(n[1]) : 0) + nn_arena_bytes_for(n[2] * 4) +
            2 * nn_arena_bytes_for(n[3] * 4) + (n[4] ? nn_arena_bytes_for(n[4] * sizeof(int)) : 0);
    return total;
}
static nn_result nn__qscratch_alloc(nn_qmodel *t, nn_arena *arena, const size_t n[5]) {
    t->xq = (int8_t *)nn_arena_alloc(arena, n[0]);
    t->ximg = n[1] ? (int8_t *)nn_arena_alloc(arena, n[1]) : NULL;
    t->acc = (int32_t *)nn_arena_alloc(arena, n[2] * 4);
    t->buf[0] = (float *)nn_arena_alloc(arena, n[3] * 4);
    t->buf[1] = (float *)nn_arena_alloc(arena, n[3] * 4);
    t->argmax = n[4] ? (int *)nn_arena_alloc(arena, n[4] * sizeof(int)) : NULL;
    return t->xq && (t->ximg || !n[1]) && t->acc && t->buf[0] && t->buf[1] && (t->argmax || !n[4])
               ? NN_OK
               : NN_ERR_OUT_OF_MEMORY;
}
/* What the int8 weights weigh (unpadded), and the float ones they replace */
static void nn__qweigh(nn_qmodel *t) {
    int i;
    t->weight_bytes = t->float_weight_bytes = 0;
    for (i = 0; i < t->n_layers; i++) {
        const nn_qlayer *L = &t->layers[i];
        size_t r = (size_t)nn__qrows(L), k = (size_t)nn__qk(L);
        if (!nn__qint8(L)) continue;
        t->weight_bytes += r * k + 2 * sizeof(float) * r + sizeof(float);
        t->float_weight_bytes += sizeof(float) * (r * k + r);
    }
}

static size_t nn__qbytes(const nn_model *m, const nn__qplan *p, int max_batch) {
    nn_qlayer hdr[NN_QMAX_LAYERS];
    size_t total = 0, n[5], s;
    int i;
    for (i = 0; i < p->n; i++) {
        nn__qplan_layer(m, p, i, &hdr[i]);
        if (nn__qint8(&hdr[i]))
            total += nn_arena_bytes_for((size_t)nn__qrows(&hdr[i]) * (size_t)hdr[i].kpad) +
                     4 * nn_arena_bytes_for((size_t)nn__qrows(&hdr[i]) * 4);
    }
    s = nn__qscratch(hdr, p->n, max_batch, n);
    return s ? total + s : 0;
}

NNDEF size_t nn_qmodel_arena_bytes(const nn_model *m, int max_batch) {
    nn__qplan p;
    if (!m || max_batch < 1 || max_batch > (1 << 20) || nn__qplan_make(m, &p, NULL) != NN_OK) return 0;
    return nn__qbytes(m, &p, max_batch);
}

NNDEF nn_result nn_qmodel_init(nn_qmodel *q, nn_arena *arena, nn_model *m, nn_tensor calib, int max_batch) {
    nn__qplan p;
    nn_qmodel t;
    nn_mode mode;
    float amax[NN_QMAX_LAYERS];
    size_t mark, need, n[5];
    int i, r0, N;
    nn_result r;
    if (!q) return NN_ERR_INVALID_ARGUMENT;
    if (!arena || !m) return nn__fail(q->error, NN_ERR_INVALID_ARGUMENT, "quantize: arena or model is NULL");
    r = nn__qplan_make(m, &p, q->error);
    if (r != NN_OK) return r;
    if (max_batch < 1 || max_batch > (1 << 20))
        return nn__fail(q->error, NN_ERR_INVALID_ARGUMENT, "quantize: max_batch %d (1..%d)", max_batch, 1 << 20);
    if (!calib.data || calib.rank < 1 || calib.shape[0] < 1 || nn_tensor_row_size(calib) != m->inputs)
        return nn__fail(q->error, NN_ERR_SHAPE_MISMATCH, "quantize: calibration data must be (N >= 1, %d)", m->inputs);
    need = nn__qbytes(m, &p, max_batch);
    if (!need) return nn__fail(q->error, NN_ERR_TOO_LARGE, "quantize: the scratch for max_batch %d is too large", max_batch);
    if (arena->cap - arena->used < need)
        return nn__fail(q->error, NN_ERR_OUT_OF_MEMORY, "quantize: the arena has %lu bytes free, %lu needed",
                        (unsigned long)(arena->cap - arena->used), (unsigned long)need);
    /* calibration: the largest |input| of every int8 layer, in EVAL */
    for (i = 0; i < p.n; i++) amax[i] = 0.0f;
    mode = m->mode;
    nn_model_set_mode(m, NN_MODE_EVAL);
    N = calib.shape[0];
    for (r0 = 0; r0 < N; r0 += m->max_batch) {
        int b = NN__MIN(m->max_batch, N - r0), j;
        nn_tensor in = nn_tensor_rows(nn_tensor_2d(calib.data, N, m->inputs), r0, b);
        if (!nn_model_forward(m, in).data) {
            nn_model_set_mode(m, mode);
            memcpy(q->error, m->error, NN_ERROR_MAX);
            return NN_ERR_INVALID_ARGUMENT;
        }
        for (i = 0; i < p.n; i++) {
            int f = p.first[i];
            const float *v = f ? m->layers[f - 1].y.data : in.data;
            size_t cnt = (size_t)b * (size_t)m->layers[f].in;
            for (j = 0; (size_t)j < cnt; j++) {
                float a = v[j] < 0.0f ? -v[j] : v[j];
                if (a > amax[i]) amax[i] = a; /* NaN never wins */
            }
        }
    }
    nn_model_set_mode(m, mode);
    /* the weights, batch norm folded in, one scale per output channel */
    NN__ZERO(t);
    mark = nn_arena_mark(arena);
    t.n_layers = p.n;
    t.inputs = m->inputs;
    t.max_batch = max_batch;
    t.kernel = nn__qkernel_best();
    for (i = 0; i < p.n; i++) {
        const nn_layer *ly = &m->layers[p.first[i]], *bn = p.bn[i] >= 0 ? &m->layers[p.bn[i]] : NULL;
        nn_qlayer *L = &t.layers[i];
        int8_t *wq;
        float *wscale, *scale, *bias;
        int32_t *wsum;
        int o, k, R, K;
        nn__qplan_layer(m, &p, i, L);
        if (!nn__qint8(L)) continue;
        R = nn__qrows(L);
        K = nn__qk(L);
        L->in_scale = amax[i] > 0.0f ? amax[i] / 127.0f : 1.0f;
        L->wq = wq = (int8_t *)nn_arena_alloc(arena, (size_t)R * (size_t)L->kpad);
        L->wscale = wscale = (float *)nn_arena_alloc(arena, sizeof(float) * (size_t)R);
        L->scale = scale = (float *)nn_arena_alloc(arena, sizeof(float) * (size_t)R);
        L->bias = bias = (float *)nn_arena_alloc(arena, sizeof(float) * (size_t)R);
        L->wsum = wsum = (int32_t *)nn_arena_alloc(arena, sizeof(int32_t) * (size_t)R);
        if (!wq || !wscale || !scale || !bias || !wsum) {
            nn_arena_rewind(arena, mark);
            return nn__fail(q->error, NN_ERR_OUT_OF_MEMORY, "quantize: arena full");
        }
        memset(wq, 0, (size_t)R * (size_t)L->kpad);
        for (o = 0; o < R; o++) {
            /* y = x w^T + b, then (EVAL) y a + sh with a = gamma rstd, sh = beta - mean a */
            float a = 1.0f, sh = 0.0f, wmax = 0.0f, inv, b = ly->b.data ? ly->b.data[o] : 0.0f;
            const float *w = ly->w.data + (size_t)o * K;
            int32_t sum = 0;
            if (bn) {
                a = (float)(1.0 / sqrt((double)bn->running_var[o] + bn->eps)) * bn->w.data[o];
                sh = bn->b.data[o] - bn->running_mean[o] * a;
            }
            for (k = 0; k < K; k++) {
                float v = w[k] * a;
                v = v < 0.0f ? -v : v;
                if (v > wmax) wmax = v;
            }
            wscale[o] = wmax > 0.0f ? wmax / 127.0f : 1.0f;
            inv = 1.0f / wscale[o];
            for (k = 0; k < K; k++) {
                int8_t v = nn__q8(w[k] * a, inv);
                wq[(size_t)o * L->kpad + k] = v;
                sum += v;
            }
            wsum[o] = 128 * sum;
            scale[o] = L->in_scale * wscale[o];
            bias[o] = b * a + sh;
        }
    }
    t.outputs = t.layers[p.n - 1].out;
    nn__qweigh(&t);
    nn__qscratch(t.layers, t.n_layers, max_batch, n);
    if (nn__qscratch_alloc(&t, arena, n) != NN_OK) {
        nn_arena_rewind(arena, mark);
        return nn__fail(q->error, NN_ERR_OUT_OF_MEMORY, "quantize: arena full");
    }
    *q = t;
    return NN_OK;
}

NNDEF size_t nn_qmodel_scratch_bytes(const nn_qlayer *layers, int n_layers, int max_batch) {
    size_t n[5];
    int i;
    if (!layers || n_layers < 1 || n_layers > NN_QMAX_LAYERS) return 0;
    for (i = 0; i < n_layers; i++)
        if (nn__qlayer_check(&layers[i], i ? &layers[i - 1] : NULL, i, NULL) != NN_OK) return 0;
    return nn__qscratch(layers, n_layers, max_batch, n);
}

NNDEF nn_result nn_qmodel_init_layers(nn_qmodel *q, nn_arena *arena, const nn_qlayer *layers, int n_layers,
                                      int max_batch) {
    nn_qmodel t;
    size_t mark, n[5];
    int i;
    nn_result r;
    if (!q) return NN_ERR_INVALID_ARGUMENT;
    if (!arena || !layers || n_layers < 1 || n_layers > NN_QMAX_LAYERS || max_batch < 1 || max_batch > (1 << 20))
        return nn__fail(q->error, NN_ERR_INVALID_ARGUMENT, "int8 layers: %d layers (1..%d), max_batch %d (1..%d)",
                        n_layers, NN_QMAX_LAYERS, max_batch, 1 << 20);
    for (i = 0; i < n_layers; i++) {
        r = nn__qlayer_check(&layers[i], i ? &layers[i - 1] : NULL, i, q->error);
        if (r != NN_OK) return r;
    }
    if (!nn__qscratch(layers, n_layers, max_batch, n))
        return nn__fail(q->error, NN_ERR_TOO_LARGE, "int8 layers: the scratch for max_batch %d is too large", max_batch);
    NN__ZERO(t);
    memcpy(t.layers, layers, sizeof(nn_qlayer) * (size_t)n_layers);
    t.n_layers = n_layers;
    t.inputs = layers[0].in;
    t.outputs = layers[n_layers - 1].out;
    t.max_batch = max_batch;
    t.kernel = nn__qkernel_best();
    nn__qweigh(&t);
    mark = nn_arena_mark(arena);
    if (nn__qscratch_alloc(&t, arena, n) != NN_OK) {
        nn_arena_rewind(arena, mark);
        return nn__fail(q->error, NN_ERR_OUT_OF_MEMORY, "int8 layers: arena full (%lu bytes needed)",
                        (unsigned long)nn__qscratch(layers, n_layers, max_batch, n));
    }
    *q = t;
    return NN_OK;
}

/* ---- the int8 model in the weight format (1.5): one QNT8 section ----
   u32 n_layers, i32 max_batch, then per layer 20 words: i32 kind, in, out,
   act; f32 alpha, in_scale; i32 C, H, W, channels, kh, kw, sh, sw, ph, pw,
   dil_h, dil_w, groups, count_include_pad; then, for DENSE and CONV2D, R*K
   int8 weights (rows unpadded), R f32 s_w, R f32 biases. kpad, s_x s_w and
   the VNNI offsets are derived on reading. */
#define NN__QREC 80
static void nn__write_qsec(nn__wr *w, const nn_qmodel *q) {
    int i, o;
    nn__wr_u32(w, (uint32_t)q->n_layers);
    nn__wr_u32(w, (uint32_t)q->max_batch);
    for (i = 0; i < q->n_layers; i++) {
        const nn_qlayer *L = &q->layers[i];
        const nn_conv2d_geom *g = &L->geom;
        int32_t v[14];
        int j;
        nn__wr_u32(w, (uint32_t)L->kind);
        nn__wr_u32(w, (uint32_t)L->in);
        nn__wr_u32(w, (uint32_t)L->out);
        nn__wr_u32(w, (uint32_t)L->act);
        nn__wr_f32(w, L->alpha);
        nn__wr_f32(w, nn__qint8(L) ? L->in_scale : 0.0f);
        v[0] = L->shape[0]; v[1] = L->shape[1]; v[2] = L->shape[2]; v[3] = L->channels;
        v[4] = g->kh; v[5] = g->kw; v[6] = g->sh; v[7] = g->sw; v[8] = g->ph; v[9] = g->pw;
        v[10] = g->dil_h; v[11] = g->dil_w; v[12] = g->groups; v[13] = L->count_include_pad;
        for (j = 0; j < 14; j++) nn__wr_u32(w, (uint32_t)v[j]);
        if (!nn__qint8(L)) continue;
        for (o = 0; o < nn__qrows(L); o++) nn__wr_bytes(w, L->wq + (size_t)o * L->kpad, (size_t)nn__qk(L));
        nn__wr_floats(w, L->wscale, (size_t)nn__qrows(L));
        nn__wr_floats(w, L->bias, (size_t)nn__qrows(L));
    }
}
static void nn__write_qmodel(nn__wr *w, const void *qv, const void *unused) {
    const nn_qmodel *q = (const nn_qmodel *)qv;
    nn__wr count;
    (void)unused;
    NN__ZERO(count);
    count.fd = -1;
    nn__write_qsec(&count, q);
    nn__wr_head(w, 1);
    nn__wr_sec_head(w, NN__TAG_QNT8, NN__SEC_REQUIRED, (uint64_t)count.pos);
    nn__write_qsec(w, q);
    nn__wr_u32(w, w->crc);
}
NNDEF size_t nn_qmodel_save_size(const nn_qmodel *q) {
    nn__wr w;
    if (!q || q->n_layers < 1 || q->n_layers > NN_QMAX_LAYERS) return 0;
    NN__ZERO(w);
    w.fd = -1;
    nn__write_qmodel(&w, q, NULL);
    return w.pos;
}
NNDEF nn_result nn_qmodel_save_to_memory(const nn_qmodel *q, void *buf, size_t cap, size_t *written) {
    nn__wr w;
    if (written) *written = 0;
    if (!q || !buf || q->n_layers < 1 || q->n_layers > NN_QMAX_LAYERS) return NN_ERR_INVALID_ARGUMENT;
    NN__ZERO(w);
    w.fd = -1;
    w.buf = (unsigned char *)buf;
    w.cap = cap;
    nn__write_qmodel(&w, q, NULL);
    if (w.err) return (nn_result)w.err;
    if (written) *written = w.pos;
    return NN_OK;
}

/* Reads QNT8's layer records into L (arrays pointing into the file, wq
   unpadded) and checks everything but the arrays' values; *arena_bytes
   gets what the loader will take for max_batch (0: the file's). */
static nn_result nn__qsec_parse(const void *buf, size_t len, int max_batch, nn_qlayer *L, const unsigned char **data,
                                int *n_layers, int *batch, size_t *arena_bytes, char *err) {
    nn__file f;
    nn__rd r;
    nn_result res;
    uint32_t n, i, scale_bits;
    int mb;
    size_t total = 0, sizes[5], s;
    if (max_batch < 0 || max_batch > (1 << 20))
        return nn__fail(err, NN_ERR_INVALID_ARGUMENT, "int8 model: max_batch %d (0: the file's, or 1..%d)", max_batch,
                        1 << 20);
    res = nn__parse_any(&f, buf, len, err);
    if (res != NN_OK) return res;
    if (!f.qnt8.p)
        return nn__fail(err, f.arch.p ? NN_ERR_UNSUPPORTED : NN_ERR_CORRUPT, "%s",
                        f.arch.p ? "a float model file: quantize the model it holds with nn_qmodel_init"
                                 : "no QNT8 section: not an int8 model file");
    NN__ZERO(r);
    r.p = f.qnt8.p;
    r.len = f.qnt8.len;
    n = nn__rd_u32(&r);
    mb = (int)nn__rd_u32(&r);
    if (r.err || n < 1 || n > NN_QMAX_LAYERS || mb < 1 || mb > (1 << 20))
        return nn__fail(err, NN_ERR_CORRUPT, "QNT8: %u layers (1..%d), max_batch %d (1..%d)", n, NN_QMAX_LAYERS, mb,
                        1 << 20);
    for (i = 0; i < n; i++) {
        nn_qlayer *q = &L[i];
        int32_t v[14];
        int j;
        size_t R, K;
        if (!nn__rd_need(&r, NN__QREC))
            return nn__fail(err, NN_ERR_CORRUPT, "QNT8: layer %u's record is cut short", i);
        NN__ZERO(*q);
        q->kind = (nn_qlayer_kind)(int32_t)nn__rd_u32(&r);
        q->in = (int32_t)nn__rd_u32(&r);
        q->out = (int32_t)nn__rd_u32(&r);
        q->act = (nn_act)(int32_t)nn__rd_u32(&r);
        q->alpha = nn__rd_f32(&r);
        q->in_scale = nn__rd_f32(&r);
        memcpy(&scale_bits, &q->in_scale, 4);
        for (j = 0; j < 14; j++) v[j] = (int32_t)nn__rd_u32(&r);
        q->shape[0] = v[0]; q->shape[1] = v[1]; q->shape[2] = v[2]; q->channels = v[3];
        q->geom.kh = v[4]; q->geom.kw = v[5]; q->geom.sh = v[6]; q->geom.sw = v[7]; q->geom.ph = v[8];
        q->geom.pw = v[9]; q->geom.dil_h = v[10]; q->geom.dil_w = v[11]; q->geom.groups = v[12];
        q->count_include_pad = v[13];
        if (nn__qint8(q)) {
            /* stand-ins so that the check looks at shapes only; kpad as it will be */
            q->wq = (const int8_t *)(const void *)r.p;
            q->wscale = q->scale = q->bias = (const float *)(const void *)r.p;
            q->wsum = (const int32_t *)(const void *)r.p;
            if (q->kind == NN_QLAYER_CONV2D && q->geom.kh > 0 && q->geom.kw > 0 && q->shape[0] > 0 &&
                (double)q->shape[0] * q->geom.kh * q->geom.kw <= (1 << 24))
                q->kpad = (q->shape[0] * q->geom.kh * q->geom.kw + 63) / 64 * 64;
            else if (q->kind == NN_QLAYER_DENSE && q->in > 0 && q->in <= (1 << 24))
                q->kpad = (q->in + 63) / 64 * 64;
        } else if (scale_bits != 0) /* +0 exactly: what the writer writes */
            return nn__fail(err, NN_ERR_CORRUPT, "QNT8: layer %u (%s) has an input scale", i,
                            nn_qlayer_kind_name(q->kind));
        if (nn__qlayer_check(q, i ? &L[i - 1] : NULL, (int)i, err) != NN_OK) return NN_ERR_CORRUPT;
        if (!nn__qint8(q)) continue;
        R = (size_t)nn__qrows(q);
        K = (size_t)nn__qk(q);
        /* R, K <= 2^24 (checked): R K + 8 R fits in 64 bits */
        if ((uint64_t)R * K + 8 * (uint64_t)R > (uint64_t)(r.len - r.pos))
            return nn__fail(err, NN_ERR_CORRUPT, "QNT8: layer %u promises %llu weight bytes, %lu left", i,
                            (unsigned long long)((uint64_t)R * K + 8 * (uint64_t)R), (unsigned long)(r.len - r.pos));
        data[i] = r.p + r.pos;
        r.pos += R * K + 8 * R;
        total += nn_arena_bytes_for(R * (size_t)q->kpad) + 4 * nn_arena_bytes_for(R * 4);
    }
    if (r.pos != r.len)
        return nn__fail(err, NN_ERR_CORRUPT, "QNT8: %lu bytes after the last layer", (unsigned long)(r.len - r.pos));
    if (!max_batch) max_batch = mb;
    s = nn__qscratch(L, (int)n, max_batch, sizes);
    if (!s) return nn__fail(err, NN_ERR_TOO_LARGE, "int8 model: the scratch for max_batch %d is too large", max_batch);
    *n_layers = (int)n;
    *batch = max_batch;
    *arena_bytes = total + s;
    return NN_OK;
}

NNDEF nn_result nn_qmodel_arena_bytes_from_memory(size_t *bytes, const void *buf, size_t len, int max_batch) {
    nn_qlayer L[NN_QMAX_LAYERS];
    const unsigned char *data[NN_QMAX_LAYERS];
    int n, b;
    size_t need;
    nn_result r;
    if (!bytes) return NN_ERR_INVALID_ARGUMENT;
    r = nn__qsec_parse(buf, len, max_batch, L, data, &n, &b, &need, NULL);
    if (r == NN_OK) *bytes = need;
    return r;
}

NNDEF nn_result nn_qmodel_init_from_memory(nn_qmodel *q, nn_arena *arena, const void *buf, size_t len, int max_batch) {
    nn_qmodel t;
    const unsigned char *data[NN_QMAX_LAYERS];
    size_t need, mark, sizes[5];
    int n, b, i;
    nn_result r;
    if (!q) return NN_ERR_INVALID_ARGUMENT;
    if (!arena) return nn__fail(q->error, NN_ERR_INVALID_ARGUMENT, "int8 model: arena is NULL");
    NN__ZERO(t);
    r = nn__qsec_parse(buf, len, max_batch, t.layers, data, &n, &b, &need, q->error);
    if (r != NN_OK) return r;
    /* the values: weights in [-127, 127] (the AVX2 kernel's sign trick needs
       it), scales finite and positive, biases finite */
    for (i = 0; i < n; i++) {
        const nn_qlayer *L = &t.layers[i];
        size_t R, K, k;
        const unsigned char *p = data[i];
        if (!nn__qint8(L)) continue;
        R = (size_t)nn__qrows(L);
        K = (size_t)nn__qk(L);
        for (k = 0; k < R * K; k++)
            if (p[k] == 0x80) return nn__fail(q->error, NN_ERR_CORRUPT, "QNT8: layer %d holds a weight of -128", i);
        for (k = 0; k < 2 * R; k++) {
            float v;
            uint32_t u = nn__le32(p + R * K + 4 * k);
            memcpy(&v, &u, 4);
            /* and s_x s_w, the multiply every output takes, finite and > 0 */
            if (!(v - v == 0.0f) || (k < R && !(v > 0.0f && L->in_scale * v > 0.0f && L->in_scale * v - L->in_scale * v == 0.0f)))
                return nn__fail(q->error, NN_ERR_CORRUPT, "QNT8: layer %d: %s %lu is %g", i, k < R ? "weight scale" : "bias",
                                (unsigned long)(k < R ? k : k - R), (double)v);
        }
    }
    if (arena->cap - arena->used < need)
        return nn__fail(q->error, NN_ERR_OUT_OF_MEMORY, "int8 model: the arena has %lu bytes free, %lu needed",
                        (unsigned long)(arena->cap - arena->used), (unsigned long)need);
    mark = nn_arena_mark(arena);
    for (i = 0; i < n; i++) {
        nn_qlayer *L = &t.layers[i];
        size_t R, K, o, k;
        const unsigned char *p = data[i];
        int8_t *wq;
        float *wscale, *scale, *bias;
        int32_t *wsum;
        if (!nn__qint8(L)) {
            L->wq = NULL; L->wscale = L->scale = L->bias = NULL; L->wsum = NULL;
            continue;
        }
        R = (size_t)nn__qrows(L);
        K = (size_t)nn__qk(L);
        L->wq = wq = (int8_t *)nn_arena_alloc(arena, R * (size_t)L->kpad);
        L->wscale = wscale = (float *)nn_arena_alloc(arena, R * 4);
        L->scale = scale = (float *)nn_arena_alloc(arena, R * 4);
        L->bias = bias = (float *)nn_arena_alloc(arena, R * 4);
        L->wsum = wsum = (int32_t *)nn_arena_alloc(arena, R * 4);
        if (!wq || !wscale || !scale || !bias || !wsum) {
            nn_arena_rewind(arena, mark);
            return nn__fail(q->error, NN_ERR_OUT_OF_MEMORY, "int8 model: arena full");
        }
        memset(wq, 0, R * (size_t)L->kpad);
        for (o = 0; o < R; o++) {
            int32_t sum = 0;
            memcpy(wq + o * (size_t)L->kpad, p + o * K, K);
            for (k = 0; k < K; k++) sum += wq[o * (size_t)L->kpad + k];
            wsum[o] = 128 * sum;
        }
        nn__floats_from_le(wscale, p + R * K, R);
        nn__floats_from_le(bias, p + R * K + 4 * R, R);
        for (o = 0; o < R; o++) scale[o] = L->in_scale * wscale[o];
    }
    t.n_layers = n;
    t.inputs = t.layers[0].in;
    t.outputs = t.layers[n - 1].out;
    t.max_batch = b;
    t.kernel = nn__qkernel_best();
    nn__qweigh(&t);
    nn__qscratch(t.layers, n, b, sizes);
    if (nn__qscratch_alloc(&t, arena, sizes) != NN_OK) {
        nn_arena_rewind(arena, mark);
        return nn__fail(q->error, NN_ERR_OUT_OF_MEMORY, "int8 model: arena full");
    }
    *q = t;
    return NN_OK;
}

#ifndef NN_NO_STDIO
NNDEF nn_result nn_qmodel_save(const nn_qmodel *q, const char *path) {
    if (!q || q->n_layers < 1 || q->n_layers > NN_QMAX_LAYERS) return NN_ERR_INVALID_ARGUMENT;
    return nn__save_path(path, nn__write_qmodel, q, NULL);
}
NNDEF nn_result nn_qmodel_arena_bytes_from_file(size_t *bytes, const char *path, int max_batch) {
    void *buf;
    size_t len;
    nn_result r = nn_read_file(&buf, &len, path, NN__MODEL_FILE_MAX);
    if (r != NN_OK) return r;
    r = nn_qmodel_arena_bytes_from_memory(bytes, buf, len, max_batch);
    NN_FREE(buf);
    return r;
}
NNDEF nn_result nn_qmodel_init_from_file(nn_qmodel *q, nn_arena *arena, const char *path, int max_batch) {
    void *buf;
    size_t len;
    nn_result r;
    if (!q) return NN_ERR_INVALID_ARGUMENT;
    r = nn_read_file(&buf, &len, path, NN__MODEL_FILE_MAX);
    if (r != NN_OK) return nn__fail(q->error, r, "int8 model: cannot read '%s'", path ? path : "(null)");
    r = nn_qmodel_init_from_memory(q, arena, buf, len, max_batch);
    NN_FREE(buf);
    return r;
}
#endif

#ifndef NN_NO_STDIO
static void nn__export_list(FILE *f, const char *type, const char *name, int i, const char *what, size_t n,
                            const void *p, int kind) {
    size_t k;
    fprintf(f, "static const %s %s_%s%d[%llu] = {", type, name, what, i, (unsigned long long)n);
    for (k = 0; k < n; k++) {
        if (k % 16 == 0) fprintf(f, "\n   ");
        if (kind == 0) fprintf(f, " %d,", (int)((const int8_t *)p)[k]);
        else if (kind == 1) fprintf(f, " %ld,", (long)((const int32_t *)p)[k]);
        else {
            char s[40];
            fprintf(f, " %s,", nn__flit(s, ((const float *)p)[k]));
        }
    }
    fprintf(f, "\n};\n");
}
NNDEF nn_result nn_qmodel_export_c(const nn_qmodel *q, const char *name, FILE *f) {
    int i;
    char up[64];
    size_t k;
    if (!q || !name || !f || q->n_layers < 1) return NN_ERR_INVALID_ARGUMENT;
    for (k = 0; name[k] && k < sizeof up - 1; k++) up[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 32 : name[k]);
    up[k] = 0;
    fprintf(f, "/* %s: an int8 nn.h model as C source (nn.h %s): %d layers, %d -> %d.\n"
               "   #include \"nn.h\" first; then %s_qinit(&q, &arena) for batches up to %s_QMAX_BATCH, with\n"
               "   an arena of %s_QARENA_BYTES (scratch only: the weights stay in these arrays). */\n",
            name, NN_VERSION_STRING, q->n_layers, q->inputs, q->outputs, name, up, up);
    fprintf(f, "#if NN_VERSION_MAJOR != %d || NN_VERSION_MINOR < %d\n"
               "#error \"%s was exported for nn.h %d.%d's int8 layers: this nn.h is another\"\n#endif\n",
            NN_VERSION_MAJOR, NN_VERSION_MINOR, name, NN_VERSION_MAJOR, NN_VERSION_MINOR);
    fprintf(f, "#define %s_QMAX_BATCH %d\n#define %s_QARENA_BYTES %lluu\n", up, q->max_batch, up,
            (unsigned long long)nn_qmodel_scratch_bytes(q->layers, q->n_layers, q->max_batch));
    for (i = 0; i < q->n_layers; i++) {
        const nn_qlayer *L = &q->layers[i];
        const nn_conv2d_geom *g = &L->geom;
        size_t R = (size_t)nn__qrows(L);
        if (L->kind == NN_QLAYER_DENSE)
            fprintf(f, "/* layer %d: dense %d -> %d, %s; input scale %.9g */\n", i, L->in, L->out, nn_act_name(L->act),
                    (double)L->in_scale);
        else
            fprintf(f, "/* layer %d: %s (%d, %d, %d) -> %d, window %dx%d stride %dx%d padding %dx%d dilation %dx%d, %s;"
                       " input scale %.9g */\n", i, nn_qlayer_kind_name(L->kind), L->shape[0], L->shape[1], L->shape[2],
                    L->out, g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, g->dil_h, g->dil_w, nn_act_name(L->act),
                    (double)L->in_scale);
        if (!nn__qint8(L)) continue;
        nn__export_list(f, "int8_t", name, i, "w", R * (size_t)L->kpad, L->wq, 0);
        nn__export_list(f, "float", name, i, "ws", R, L->wscale, 2);
        nn__export_list(f, "float", name, i, "s", R, L->scale, 2);
        nn__export_list(f, "float", name, i, "b", R, L->bias, 2);
        nn__export_list(f, "int32_t", name, i, "sum", R, L->wsum, 1);
    }
    fprintf(f, "static const nn_qlayer %s_layers[%d] = {\n", name, q->n_layers);
    for (i = 0; i < q->n_layers; i++) {
        const nn_qlayer *L = &q->layers[i];
        const nn_conv2d_geom *g = &L->geom;
        char a[40], b[40];
        fprintf(f, "    {%d, %d, %d, %s, %s, %s, ", L->in, L->out, L->kpad, nn__act_enum_name(L->act),
                nn__flit(a, L->alpha), nn__flit(b, L->in_scale));
        if (nn__qint8(L))
            fprintf(f, "%s_w%d, %s_ws%d, %s_s%d, %s_b%d, %s_sum%d", name, i, name, i, name, i, name, i, name, i);
        else
            fprintf(f, "NULL, NULL, NULL, NULL, NULL");
        fprintf(f, ",\n     %s, {%d, %d, %d}, %d, {%d, %d, %d, %d, %d, %d, %d, %d, %d}, %d},\n",
                    nn__qkind_enum_name(L->kind), L->shape[0], L->shape[1], L->shape[2], L->channels, g->kh, g->kw,
                    g->sh, g->sw, g->ph, g->pw, g->dil_h, g->dil_w, g->groups, L->count_include_pad);
    }
    fprintf(f, "};\nstatic nn_result %s_qinit(nn_qmodel *q, nn_arena *arena) {\n"
               "    return nn_qmodel_init_layers(q, arena, %s_layers, %d, %s_QMAX_BATCH);\n}\n",
            name, name, q->n_layers, up);
    return ferror(f) ? NN_ERR_IO : NN_OK;
}
#endif

/* acc (rows, R) = xq (rows, kpad) wq^T with the CPU's kernel; L's K and R
   as the kernels read them (a conv's rows are its output pixels) */
static void nn__qgemm(const nn_qmodel *q, const nn_qlayer *L, int rows) {
    nn_qlayer g = *L;
    g.in = nn__qk(L);
    g.out = nn__qrows(L);
    switch (q->kernel) {
#if NN__VNNI
    case NN_QKERNEL_VNNI: nn__qgemm_vnni(q->acc, q->xq, &g, rows); break;
#endif
#if NN__AVX2
    case NN_QKERNEL_AVX2: nn__qgemm_avx2(q->acc, q->xq, &g, rows); break;
#endif
#if NN__NEON
    case NN_QKERNEL_NEON: nn__qgemm_neon(q->acc, q->xq, &g, rows); break;
#endif
    default: nn__qgemm_plain(q->acc, q->xq, &g, rows); break;
    }
}

/* A conv's patches: the image quantized once (q->ximg), then row
   (b, oh, ow) of xq gets x[b, c, ih, iw] at column (c kh + ki) kw + kj, the
   weights' (OC, C, KH, KW) order; 0 where the window covers padding (0 in
   float is 0 in int8: the quantization is symmetric). */
static void nn__qpatches(const nn_qmodel *q, const nn_qlayer *L, const float *x, int B) {
    const nn_conv2d_geom *g = &L->geom;
    int C = L->shape[0], H = L->shape[1], W = L->shape[2], b, c, ki, kj, oh, ow;
    int OH = nn_conv2d_out_size(H, g->kh, g->sh, g->ph, g->dil_h), OW = nn_conv2d_out_size(W, g->kw, g->sw, g->pw, g->dil_w);
    int K = nn__qk(L);
    float inv = 1.0f / L->in_scale;
    size_t i, n = (size_t)B * (size_t)L->in;
    for (i = 0; i < n; i++) q->ximg[i] = nn__q8(x[i], inv);
    for (b = 0; b < B; b++)
        for (oh = 0; oh < OH; oh++)
            for (ow = 0; ow < OW; ow++) {
                int8_t *row = q->xq + (((size_t)b * OH + (size_t)oh) * OW + (size_t)ow) * L->kpad, *d = row;
                for (c = 0; c < C; c++) {
                    const int8_t *plane = q->ximg + ((size_t)b * C + (size_t)c) * H * W;
                    for (ki = 0; ki < g->kh; ki++) {
                        int ih = oh * g->sh - g->ph + ki * g->dil_h;
                        for (kj = 0; kj < g->kw; kj++) {
                            int iw = ow * g->sw - g->pw + kj * g->dil_w;
                            *d++ = ih >= 0 && ih < H && iw >= 0 && iw < W ? plane[(size_t)ih * W + iw] : 0;
                        }
                    }
                }
                memset(row + K, 0, (size_t)(L->kpad - K));
            }
}

NNDEF nn_tensor nn_qmodel_forward(nn_qmodel *q, nn_tensor x) {
    nn_tensor none, cur;
    int B, i, b, k, o;
    NN__ZERO(none);
    if (!q || !x.data || x.rank < 1 || x.rank > NN_MAX_RANK) {
        if (q) nn__fail(q->error, NN_ERR_INVALID_ARGUMENT, "int8 forward: input %s", x.data ? "rank" : "data is NULL");
        return none;
    }
    B = x.shape[0];
    if (B < 1 || B > q->max_batch || nn_tensor_row_size(x) != q->inputs) {
        nn__fail(q->error, NN_ERR_SHAPE_MISMATCH, "int8 forward: (%d, %d), the model takes (1..%d, %d)", B,
                 nn_tensor_row_size(x), q->max_batch, q->inputs);
        return none;
    }
    cur = nn_tensor_2d(x.data, B, q->inputs);
    for (i = 0; i < q->n_layers; i++) {
        const nn_qlayer *L = &q->layers[i];
        const nn_conv2d_geom *g = &L->geom;
        float *y = q->buf[i & 1];
        nn_tensor out = nn_tensor_2d(y, B, L->out), img;
        int C = L->shape[0], OH = 1, OW = 1;
        if (L->kind != NN_QLAYER_DENSE && L->kind != NN_QLAYER_GLOBAL_AVGPOOL) {
            OH = nn_conv2d_out_size(L->shape[1], g->kh, g->sh, g->ph, g->dil_h);
            OW = nn_conv2d_out_size(L->shape[2], g->kw, g->sw, g->pw, g->dil_w);
        }
        if (L->kind != NN_QLAYER_DENSE) img = nn_tensor_4d(cur.data, B, C, L->shape[1], L->shape[2]);
        else img = cur;
        switch (L->kind) {
        case NN_QLAYER_DENSE: {
            float inv = 1.0f / L->in_scale;
            for (b = 0; b < B; b++) {
                const float *xr = cur.data + (size_t)b * L->in;
                int8_t *xq = q->xq + (size_t)b * L->kpad;
                for (k = 0; k < L->in; k++) xq[k] = nn__q8(xr[k], inv);
                for (; k < L->kpad; k++) xq[k] = 0;
            }
            nn__qgemm(q, L, B);
            for (b = 0; b < B; b++)
                for (o = 0; o < L->out; o++)
                    y[(size_t)b * L->out + o] = (float)q->acc[(size_t)b * L->out + o] * L->scale[o] + L->bias[o];
            break;
        }
        case NN_QLAYER_CONV2D: {
            /* acc is (B, OH OW, OC); y is (B, OC, OH OW) */
            size_t P = (size_t)OH * (size_t)OW, p, OC = (size_t)L->channels;
            nn__qpatches(q, L, cur.data, B);
            nn__qgemm(q, L, B * (int)P);
            for (b = 0; b < B; b++)
                for (o = 0; o < (int)OC; o++) {
                    const int32_t *a = q->acc + (size_t)b * P * OC + (size_t)o;
                    float *yo = y + ((size_t)b * OC + (size_t)o) * P, s = L->scale[o], bo = L->bias[o];
                    for (p = 0; p < P; p++) yo[p] = (float)a[p * OC] * s + bo;
                }
            break;
        }
        case NN_QLAYER_MAXPOOL2D: nn_maxpool2d_forward(nn_tensor_4d(y, B, C, OH, OW), q->argmax, img, g); break;
        case NN_QLAYER_AVGPOOL2D:
            nn_avgpool2d_forward(nn_tensor_4d(y, B, C, OH, OW), img, g, L->count_include_pad);
            break;
        default: nn_global_avgpool_forward(nn_tensor_2d(y, B, C), img); break;
        }
        if (L->act != NN_ACT_IDENTITY) nn_act_forward(L->act, L->alpha, out, out);
        cur = out;
    }
    q->error[0] = '\0';
    return cur;
}

#ifdef _MSC_VER
#pragma warning(pop)
#endif
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
