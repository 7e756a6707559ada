/* bench.c - nn.h against OpenBLAS (GEMM) and the machine's FMA peak; nn.h
   training and inference timings for the comparison with PyTorch.

   gcc -O2 -fopenmp -o bench bench/bench.c -lopenblas -lm              (all modes)
   gcc -O2 -fopenmp -DBENCH_NO_BLAS -o bench_nn bench/bench.c -lm      (train, infer)

   `make bench` (bench/run.sh) builds both, runs every mode, and writes
   bench/RESULTS.md. The training and inference processes use the build without
   OpenBLAS so that their resident memory is nn.h's alone. Add -DBENCH_ADAM to
   train with NN_OPTIM_ADAM (lr 1e-3) instead of SGD with momentum.

   Modes (every result is one line "RESULT <name> <value>" on stdout):
     bench info                         CPU, SIMD level, OpenBLAS configuration
     bench peak                         single-core AVX2 (and AVX-512) FMA peak
     bench gemm [reps] [min_ms] [nn|openblas|both] [max_threads]
                                        nn_gemm vs cblas_sgemm at 1 (and 2) threads
     bench train <batch> <threads> <epochs> [data-dir]
     bench infer <threads> <n_single> <reps> [data-dir]
   Timings are medians over repetitions. The nn.h build is a plain -O2: nn.h
   picks its AVX2/FMA kernels at run time. Only the peak loops below are
   compiled for a fixed instruction set (target attributes).                */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG /* only its zlib decoder is used */
#include <stb/stb_image.h>

#define NN_IMPLEMENTATION
#include "../nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include <unistd.h>
#include <sys/resource.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifndef BENCH_NO_BLAS
#include <cblas.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define BENCH_X86 1
#else
#define BENCH_X86 0
#endif

#define DATA_DIR "/usr/share/datasets/fashion-mnist"
#define IN 784

/* ---- helpers ----------------------------------------------------------- */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void set_threads(int t) {
#ifdef _OPENMP
    omp_set_num_threads(t);
#else
    (void)t;
#endif
}

static long max_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* kilobytes on Linux */
}

/* Resident memory now (VmRSS), from /proc/self/statm; -1 if unavailable. */
static long cur_rss_kb(void) {
    long pages_total = 0, pages_resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = -1;
        fclose(f);
    }
    return pages_resident < 0 ? -1 : pages_resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void *xalloc(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "error: out of memory\n");
        exit(1);
    }
    return p;
}

/* nn.h brings no decompressor; plug in stb's. */
static nn_result stb_inflate(void *dst, size_t dst_len, const void *src, size_t src_len) {
    int n;
    if (dst_len > INT_MAX || src_len > INT_MAX) return NN_ERR_TOO_LARGE;
    n = stbi_zlib_decode_noheader_buffer((char *)dst, (int)dst_len, (const char *)src, (int)src_len);
    return n == (int)dst_len ? NN_OK : NN_ERR_CORRUPT;
}

static void load(nn_idx *out, const char *dir, const char *name) {
    char path[1024];
    nn_result r;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    r = nn_idx_load(out, path, stb_inflate);
    if (r != NN_OK) {
        fprintf(stderr, "error: %s: %s (apt-get install dataset-fashion-mnist)\n", path, nn_result_string(r));
        exit(1);
    }
}

/* The same normalization as examples/fashion_mnist.c and bench_torch.py. */
static void to_float(float *x, const unsigned char *src, int n) {
    int j;
    for (j = 0; j < n; j++) x[j] = ((float)src[j] * (1.0f / 255.0f) - 0.2860f) * (1.0f / 0.3530f);
}

/* 784-256-128-10, ReLU between the dense layers. */
static void build_mlp(nn_model *net, nn_arena *arena, int max_batch, size_t extra_bytes,
                      const nn_optim_desc *od, nn_optim *opt) {
    static nn_layer_desc layers[3];
    nn_model_desc md;
    size_t bytes;
    layers[0] = nn_dense(256, NN_ACT_RELU);
    layers[1] = nn_dense(128, NN_ACT_RELU);
    layers[2] = nn_dense(10, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = IN; md.max_batch = max_batch; md.layers = layers; md.n_layers = 3; md.seed = 42;
    bytes = nn_model_arena_bytes(&md) + extra_bytes;
    if (od) bytes += nn_optim_arena_bytes(od, nn_model_param_count(&md));
    if (nn_arena_init_heap(arena, bytes) != NN_OK || nn_model_init(net, arena, &md) != NN_OK ||
        (od && nn_optim_init(opt, arena, od, net->n_params) != NN_OK)) {
        fprintf(stderr, "error: cannot build the model\n");
        exit(1);
    }
}

/* ---- info -------------------------------------------------------------- */
static int mode_info(void) {
    char line[4096], model[256] = "unknown";
    int family = -1, number = -1;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (!colon) continue;
            if (!strncmp(line, "model name", 10)) {
                snprintf(model, sizeof model, "%s", colon + 2);
                model[strcspn(model, "\n")] = 0;
            } else if (!strncmp(line, "cpu family", 10) && family < 0) {
                family = atoi(colon + 1);
            } else if (!strncmp(line, "model\t", 6) && number < 0) {
                number = atoi(colon + 1);
            } else if (!strncmp(line, "processor", 9) && strtol(colon + 1, NULL, 10) > 0) {
                break; /* the first CPU is enough */
            }
        }
        fclose(f);
    }
    printf("RESULT cpu_model %s\n", model);
    printf("RESULT cpu_family_model %d %d\n", family, number);
    printf("RESULT cpus_online %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
#if BENCH_X86
    __builtin_cpu_init();
    printf("RESULT cpu_simd%s%s%s\n", __builtin_cpu_supports("avx2") ? " avx2" : "",
           __builtin_cpu_supports("fma") ? " fma" : "", __builtin_cpu_supports("avx512f") ? " avx512f" : "");
#endif
    printf("RESULT nn_version %s\n", NN_VERSION_STRING);
    printf("RESULT nn_simd %s\n", nn_simd_level() ? "AVX2+FMA" : "reference");
#ifdef _OPENMP
    printf("RESULT omp_max_threads %d\n", omp_get_max_threads());
#endif
#ifndef BENCH_NO_BLAS
    printf("RESULT openblas_config %s\n", openblas_get_config());
    printf("RESULT openblas_core %s\n", openblas_get_corename());
#endif
    return 0;
}

/* ---- FMA peak ---------------------------------------------------------- */
/* Independent accumulator chains hide the FMA latency (4 cycles, 2 ports:
   8 chains needed, 12 used). Each iteration does 12 FMAs of 8 floats. */
#if BENCH_X86
__attribute__((target("avx2,fma"))) static float peak_avx2(long iters) {
    __m256 a0 = _mm256_set1_ps(0.10f), a1 = _mm256_set1_ps(0.11f), a2 = _mm256_set1_ps(0.12f);
    __m256 a3 = _mm256_set1_ps(0.13f), a4 = _mm256_set1_ps(0.14f), a5 = _mm256_set1_ps(0.15f);
    __m256 a6 = _mm256_set1_ps(0.16f), a7 = _mm256_set1_ps(0.17f), a8 = _mm256_set1_ps(0.18f);
    __m256 a9 = _mm256_set1_ps(0.19f), a10 = _mm256_set1_ps(0.20f), a11 = _mm256_set1_ps(0.21f);
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f), s;
    float out[8];
    long i;
    for (i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(a0, m, c); a1 = _mm256_fmadd_ps(a1, m, c); a2 = _mm256_fmadd_ps(a2, m, c);
        a3 = _mm256_fmadd_ps(a3, m, c); a4 = _mm256_fmadd_ps(a4, m, c); a5 = _mm256_fmadd_ps(a5, m, c);
        a6 = _mm256_fmadd_ps(a6, m, c); a7 = _mm256_fmadd_ps(a7, m, c); a8 = _mm256_fmadd_ps(a8, m, c);
        a9 = _mm256_fmadd_ps(a9, m, c); a10 = _mm256_fmadd_ps(a10, m, c); a11 = _mm256_fmadd_ps(a11, m, c);
    }
    s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                      _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    _mm256_storeu_ps(out, s);
    return out[0];
}

/* For context only: OpenBLAS may run AVX-512 kernels on this CPU. */
__attribute__((target("avx512f"))) static float peak_avx512(long iters) {
    __m512 a[12], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f), s;
    long i;
    int j;
    for (j = 0; j < 12; j++) a[j] = _mm512_set1_ps(0.1f + 0.01f * (float)j);
    for (i = 0; i < iters; i++) {
        a[0] = _mm512_fmadd_ps(a[0], m, c); a[1] = _mm512_fmadd_ps(a[1], m, c);
        a[2] = _mm512_fmadd_ps(a[2], m, c); a[3] = _mm512_fmadd_ps(a[3], m, c);
        a[4] = _mm512_fmadd_ps(a[4], m, c); a[5] = _mm512_fmadd_ps(a[5], m, c);
        a[6] = _mm512_fmadd_ps(a[6], m, c); a[7] = _mm512_fmadd_ps(a[7], m, c);
        a[8] = _mm512_fmadd_ps(a[8], m, c); a[9] = _mm512_fmadd_ps(a[9], m, c);
        a[10] = _mm512_fmadd_ps(a[10], m, c); a[11] = _mm512_fmadd_ps(a[11], m, c);
    }
    s = a[0];
    for (j = 1; j < 12; j++) s = _mm512_add_ps(s, a[j]);
    return _mm512_reduce_add_ps(s);
}
#endif

static double run_peak(float (*fn)(long), double flops_per_iter, int reps) {
    double g[16], t;
    long iters = 1000000;
    volatile float sink = 0.0f;
    int r;
    /* Grow the loop until one run lasts about 0.1 s. */
    for (;;) {
        t = now();
        sink += fn(iters);
        t = now() - t;
        if (t > 0.05) break;
        iters *= 2;
    }
    iters = (long)(iters * 0.1 / t) + 1;
    for (r = 0; r < reps; r++) {
        t = now();
        sink += fn(iters);
        g[r] = flops_per_iter * (double)iters / (now() - t) * 1e-9;
    }
    (void)sink;
    return median(g, reps);
}

static int mode_peak(void) {
#if BENCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        printf("RESULT peak_avx2_fma %.2f\n", run_peak(peak_avx2, 12.0 * 8 * 2, 5));
    if (__builtin_cpu_supports("avx512f"))
        printf("RESULT peak_avx512_fma %.2f\n", run_peak(peak_avx512, 12.0 * 16 * 2, 5));
#endif
    return 0;
}

/* ---- GEMM -------------------------------------------------------------- */
#ifndef BENCH_NO_BLAS
static void fill_random(float *x, size_t n, nn_rng *r) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = 2.0f * nn_rng_uniform(r) - 1.0f;
}

typedef struct shape {
    char name[32];
    int M, N, K, ta, tb;
    float beta;
    int in_training; /* 0: a shape the MLP's training step never runs */
} shape;

static int make_shapes(shape *s) {
    static const int sq[] = {64, 128, 256, 512, 1024}, batches[] = {64, 256};
    static const int lin[3][2] = {{784, 256}, {256, 128}, {128, 10}}; /* (in, out) */
    int n = 0, i, b, l;
    for (i = 0; i < 5; i++, n++) {
        snprintf(s[n].name, sizeof s[n].name, "square%d", sq[i]);
        s[n].M = s[n].N = s[n].K = sq[i];
        s[n].ta = s[n].tb = 0; s[n].beta = 0.0f; s[n].in_training = 1;
    }
    for (b = 0; b < 2; b++) {
        int B = batches[b];
        for (l = 0; l < 3; l++) {
            int in = lin[l][0], out = lin[l][1];
            /* forward y = x w^T: (B,in) (out,in)^T */
            snprintf(s[n].name, sizeof s[n].name, "b%d_fc%d_fwd", B, l + 1);
            s[n].M = B; s[n].N = out; s[n].K = in; s[n].ta = 0; s[n].tb = 1; s[n].beta = 0.0f;
            s[n++].in_training = 1;
            /* dx = dy w: (B,out) (out,in); the first layer has no dx in training */
            snprintf(s[n].name, sizeof s[n].name, "b%d_fc%d_dx", B, l + 1);
            s[n].M = B; s[n].N = in; s[n].K = out; s[n].ta = 0; s[n].tb = 0; s[n].beta = 0.0f;
            s[n++].in_training = l > 0;
            /* dw += dy^T x: (B,out)^T (B,in) */
            snprintf(s[n].name, sizeof s[n].name, "b%d_fc%d_dw", B, l + 1);
            s[n].M = out; s[n].N = in; s[n].K = B; s[n].ta = 1; s[n].tb = 0; s[n].beta = 1.0f;
            s[n++].in_training = 1;
        }
    }
    return n;
}

typedef struct operands {
    const float *A, *B;
    float *C;
    int lda, ldb, ldc;
} operands;

static void call_gemm(int lib, const shape *s, const operands *o) {
    if (lib == 0) {
        nn_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, o->A, o->lda, o->B, o->ldb, s->beta, o->C, o->ldc);
    } else {
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                    s->M, s->N, s->K, 1.0f, o->A, o->lda, o->B, o->ldb, s->beta, o->C, o->ldc);
    }
}

/* Median GFLOP/s over reps runs, each of enough calls to last min_s. */
static double time_gemm(int lib, const shape *s, const operands *o, int reps, double min_s) {
    double flops = 2.0 * s->M * s->N * s->K, g[64], t;
    long iters = 1, i;
    int r;
    call_gemm(lib, s, o); /* warm-up: caches, thread pools, packing buffers */
    for (;;) {
        t = now();
        for (i = 0; i < iters; i++) call_gemm(lib, s, o);
        t = now() - t;
        if (t >= 0.2 * min_s) break;
        iters *= 4;
    }
    iters = (long)((double)iters * min_s / t) + 1;
    for (r = 0; r < reps; r++) {
        t = now();
        for (i = 0; i < iters; i++) call_gemm(lib, s, o);
        g[r] = flops * (double)iters / (now() - t) * 1e-9;
    }
    return median(g, reps);
}

/* Largest relative difference between nn_gemm and cblas_sgemm on one call. */
static double check_gemm(const shape *s, const operands *o, float *C2) {
    size_t n = (size_t)s->M * s->N, i;
    double worst = 0.0, scale = 0.0;
    operands o2 = *o;
    for (i = 0; i < n; i++) o->C[i] = C2[i] = 0.5f;
    o2.C = C2;
    call_gemm(0, s, o);
    call_gemm(1, s, &o2);
    for (i = 0; i < n; i++) {
        double d = fabs((double)o->C[i] - (double)C2[i]);
        if (fabs((double)C2[i]) > scale) scale = fabs((double)C2[i]);
        if (d > worst) worst = d;
    }
    return scale > 0.0 ? worst / scale : worst;
}

/* libs: bit 0 nn.h, bit 1 OpenBLAS; max_threads: 1 or 2. */
static int mode_gemm(int reps, double min_s, int libs_mask, int max_threads) {
    shape s[32];
    int n = make_shapes(s), i, t, lib;
    size_t maxA = 0, maxB = 0, maxC = 0;
    float *A, *B, *C, *C2;
    nn_rng rng;
    static const char *libs[2] = {"nn", "openblas"};
    struct timespec pause = {0, 200000000};
    if (reps > 64) reps = 64;
    for (i = 0; i < n; i++) {
        size_t a = (size_t)s[i].M * s[i].K, b = (size_t)s[i].K * s[i].N, c = (size_t)s[i].M * s[i].N;
        maxA = a > maxA ? a : maxA; maxB = b > maxB ? b : maxB; maxC = c > maxC ? c : maxC;
    }
    A = (float *)xalloc(maxA * sizeof(float));
    B = (float *)xalloc(maxB * sizeof(float));
    C = (float *)xalloc(maxC * sizeof(float));
    C2 = (float *)xalloc(maxC * sizeof(float));
    nn_rng_seed(&rng, 1);
    fill_random(A, maxA, &rng);
    fill_random(B, maxB, &rng);
    for (i = 0; i < n; i++) {
        operands o;
        o.A = A; o.B = B; o.C = C;
        o.lda = s[i].ta ? s[i].M : s[i].K;
        o.ldb = s[i].tb ? s[i].K : s[i].N;
        o.ldc = s[i].N;
        printf("RESULT shape.%s %d %d %d %d %d %g %d\n", s[i].name, s[i].M, s[i].N, s[i].K, s[i].ta,
               s[i].tb, (double)s[i].beta, s[i].in_training);
        openblas_set_num_threads(1);
        set_threads(1);
        printf("RESULT gemm_maxreldiff.%s %.3g\n", s[i].name, check_gemm(&s[i], &o, C2));
    }
    /* All 1-thread runs first, then all 2-thread runs. Within a thread count
       the libraries alternate shape by shape, with a pause between them so an
       idle pool of the other library has stopped spinning. */
    for (t = 1; t <= max_threads; t++) {
        openblas_set_num_threads(t);
        set_threads(t);
        for (i = 0; i < n; i++) {
            operands o;
            o.A = A; o.B = B; o.C = C;
            o.lda = s[i].ta ? s[i].M : s[i].K;
            o.ldb = s[i].tb ? s[i].K : s[i].N;
            o.ldc = s[i].N;
            for (lib = 0; lib < 2; lib++) {
                double g;
                if (!(libs_mask & (1 << lib))) continue;
                if (t > 1) nanosleep(&pause, NULL);
                g = time_gemm(lib, &s[i], &o, reps, min_s);
                printf("RESULT gemm.%s.t%d.%s %.3f\n", libs[lib], t, s[i].name, g);
                fflush(stdout);
                fprintf(stderr, "  gemm %-14s %-8s t%d %8.2f GFLOP/s\n", s[i].name, libs[lib], t, g);
            }
        }
    }
    free(A); free(B); free(C); free(C2);
    return 0;
}
#else
static int mode_gemm(int reps, double min_s, int libs_mask, int max_threads) {
    (void)reps; (void)min_s; (void)libs_mask; (void)max_threads;
    fprintf(stderr, "error: built without OpenBLAS\n");
    return 1;
}
#endif

/* ---- training ---------------------------------------------------------- */
static int mode_train(int batch, int threads, int epochs, const char *dir) {
    nn_idx images, labels;
    nn_model net;
    nn_optim opt;
    nn_optim_desc od;
    nn_arena arena;
    nn_rng rng;
    float *x;
    int *y, *idx, n, steps, e, s, i;
    double times[64], phase[6] = {0, 0, 0, 0, 0, 0};
    static const char *phase_names[6] = {"gather", "forward", "loss", "zero_grad", "backward", "optim"};
    if (epochs > 64) epochs = 64;
    set_threads(threads);
    load(&images, dir, "train-images-idx3-ubyte.gz");
    load(&labels, dir, "train-labels-idx1-ubyte.gz");
    n = images.dims[0];
    if (images.rank != 3 || images.dims[1] * images.dims[2] != IN || labels.dims[0] != n) {
        fprintf(stderr, "error: unexpected data shapes\n");
        return 1;
    }
    printf("RESULT max_rss_after_load_kb %ld\n", max_rss_kb());
#ifdef BENCH_ADAM
    od = nn_optim_desc_default(NN_OPTIM_ADAM); od.lr = 1e-3f; /* other fields: nn.h's defaults */
    printf("RESULT optimizer adam lr=0.001\n");
#else
    od = nn_optim_desc_default(NN_OPTIM_SGD); od.lr = 0.05f; od.momentum = 0.9f;
    printf("RESULT optimizer sgd lr=0.05 momentum=0.9\n");
#endif
    build_mlp(&net, &arena, batch, nn_arena_bytes_for(sizeof(float) * (size_t)batch * IN) +
              nn_arena_bytes_for(sizeof(int) * (size_t)batch) + nn_arena_bytes_for(sizeof(int) * (size_t)n),
              &od, &opt);
    x = (float *)nn_arena_alloc(&arena, sizeof(float) * (size_t)batch * IN);
    y = (int *)nn_arena_alloc(&arena, sizeof(int) * (size_t)batch);
    idx = (int *)nn_arena_alloc(&arena, sizeof(int) * (size_t)n);
    if (!x || !y || !idx) {
        fprintf(stderr, "error: arena too small\n");
        return 1;
    }
    for (i = 0; i < n; i++) idx[i] = i;
    nn_rng_seed(&rng, 7);
    steps = n / batch; /* the last partial batch is dropped, as in bench_torch.py */
    for (e = 0; e < epochs; e++) {
        double t0 = now(), loss = 0.0;
        nn_rng_shuffle(&rng, idx, n);
        for (s = 0; s < steps; s++) {
            nn_tensor out, dout;
            const int *rows = idx + (size_t)s * batch;
            double tp[7];
            tp[0] = now();
            for (i = 0; i < batch; i++) {
                to_float(x + (size_t)i * IN, images.data + (size_t)rows[i] * IN, IN);
                y[i] = labels.data[rows[i]];
            }
            tp[1] = now();
            out = nn_model_forward(&net, nn_tensor_2d(x, batch, IN));
            tp[2] = now();
            dout = nn_model_output_grad(&net);
            loss += nn_loss_cross_entropy(dout, out, y);
            tp[3] = now();
            nn_model_zero_grad(&net);
            tp[4] = now();
            nn_model_backward(&net, dout);
            tp[5] = now();
            nn_optim_step(&opt, net.params, net.grads, net.n_params);
            tp[6] = now();
            for (i = 0; i < 6; i++) phase[i] += tp[i + 1] - tp[i];
        }
        times[e] = now() - t0;
        printf("RESULT epoch%d_seconds %.4f\n", e + 1, times[e]);
        printf("RESULT epoch%d_loss %.4f\n", e + 1, loss / steps);
        /* Peak resident memory of a process that has trained one epoch. */
        if (e == 0) printf("RESULT max_rss_kb %ld\nRESULT rss_now_kb %ld\n", max_rss_kb(), cur_rss_kb());
        fflush(stdout);
    }
    /* Where a step's time goes, averaged over every step (the timers cost
       well under 1 us a step). */
    for (i = 0; i < 6; i++) printf("RESULT phase_us.%s %.1f\n", phase_names[i], 1e6 * phase[i] / ((double)steps * epochs));
    printf("RESULT samples_per_s %.1f\n", (double)steps * batch / median(times, epochs));
    nn_idx_free(&images);
    nn_idx_free(&labels);
    nn_arena_deinit(&arena);
    return 0;
}

/* ---- inference ---------------------------------------------------------- */
static int mode_infer(int threads, int n_single, int reps, const char *dir) {
    nn_idx images;
    nn_model net;
    nn_arena arena;
    float *x;
    double *lat, t;
    int n, i, r, start = 0, batches;
    volatile float sink = 0.0f;
    set_threads(threads);
    load(&images, dir, "t10k-images-idx3-ubyte.gz");
    n = images.dims[0];
    if (n < 256) return 1;
    /* The inputs are converted to float once, outside the timings (as for PyTorch). */
    x = (float *)xalloc(sizeof(float) * (size_t)n * IN);
    for (i = 0; i < n; i++) to_float(x + (size_t)i * IN, images.data + (size_t)i * IN, IN);
    build_mlp(&net, &arena, 256, 0, NULL, NULL);
    nn_model_set_mode(&net, NN_MODE_EVAL);

    /* Batch 1: every forward timed on its own. */
    lat = (double *)xalloc(sizeof(double) * (size_t)(n_single > 1000 ? n_single : 1000));
    for (i = 0; i < 200; i++) sink += nn_model_forward(&net, nn_tensor_2d(x + (size_t)(i % n) * IN, 1, IN)).data[0];
    for (i = 0; i < n_single; i++) {
        nn_tensor in = nn_tensor_2d(x + (size_t)(i % n) * IN, 1, IN), out;
        t = now();
        out = nn_model_forward(&net, in);
        lat[i] = now() - t;
        sink += out.data[0];
    }
    printf("RESULT infer_b1_us %.3f\n", 1e6 * median(lat, n_single));

    /* Batch 256: reps runs of enough batches to last about 0.2 s each. */
    t = now();
    for (batches = 0; now() - t < 0.1; batches++) {
        sink += nn_model_forward(&net, nn_tensor_2d(x + (size_t)start * IN, 256, IN)).data[0];
        start = start + 512 > n ? 0 : start + 256;
    }
    batches *= 2;
    for (r = 0; r < reps && r < 1000; r++) {
        t = now();
        for (i = 0; i < batches; i++) {
            sink += nn_model_forward(&net, nn_tensor_2d(x + (size_t)start * IN, 256, IN)).data[0];
            start = start + 512 > n ? 0 : start + 256;
        }
        lat[r] = 256.0 * batches / (now() - t);
    }
    printf("RESULT infer_b256_samples_per_s %.1f\n", median(lat, reps));
    (void)sink;
    free(x);
    free(lat);
    nn_idx_free(&images);
    nn_arena_deinit(&arena);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "info")) return mode_info();
    if (!strcmp(mode, "peak")) return mode_peak();
    if (!strcmp(mode, "gemm")) {
        const char *libs = argc > 4 ? argv[4] : "both";
        return mode_gemm(argc > 2 ? atoi(argv[2]) : 5, argc > 3 ? atof(argv[3]) * 1e-3 : 0.1,
                         !strcmp(libs, "nn") ? 1 : !strcmp(libs, "openblas") ? 2 : 3,
                         argc > 5 ? atoi(argv[5]) : 2);
    }
    if (!strcmp(mode, "train") && argc >= 5)
        return mode_train(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), argc > 5 ? argv[5] : DATA_DIR);
    if (!strcmp(mode, "infer") && argc >= 5)
        return mode_infer(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), argc > 5 ? argv[5] : DATA_DIR);
    fprintf(stderr,
            "usage: bench info | peak | gemm [reps] [min_ms] [nn|openblas|both] [max_threads]\n"
            "             | train <batch> <threads> <epochs> [data-dir]\n"
            "             | infer <threads> <n_single> <reps> [data-dir]\n");
    return 2;
}
