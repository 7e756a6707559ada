/* bench.c - nn.h against OpenBLAS (GEMM) and the machine's FMA peak; the nn.h
   side of the training and inference comparisons with PyTorch (the MLP, and
   the CNN of examples/fashion_cnn.c with its two convolutions timed alone);
   nn.h's own thread scaling, free and contended.

   gcc -O2 -o bench bench/bench.c -lopenblas -lm              (all modes)
   gcc -O2 -DBENCH_NO_BLAS -o bench_nn bench/bench.c -lm      (no gemm mode)
   (nn.h's threads are its own pool, nn_threads: adaptive, as a user gets it)

   `make bench` (bench/run.sh) builds both, runs every mode, and writes
   bench/RESULTS.md. The processes that train and infer use the build without
   OpenBLAS so that their resident memory is nn.h's alone. Add -DBENCH_ADAM to
   train with NN_OPTIM_ADAM (lr 1e-3) instead of SGD with momentum.

   Modes (every result is one line "RESULT <name> <value>" on stdout):
     bench info            CPU, nn.h's SIMD level, OpenBLAS's core type (the one
                           that actually runs: openblas_get_corename)
     bench peak            single-core AVX2 and AVX-512 FMA peak (thread CPU time)
     bench gemm <reps> <min_ms> <nn|openblas|both> <threads>
                           nn_gemm vs cblas_sgemm at 1 or 2 threads, interleaved
                           rep by rep
     bench serve [data-dir]
                           a stdin-driven nn.h side for bench_torch.py, which
                           alternates it with PyTorch rep by rep (commands below)
     bench threads <batch> <reps> <steps> [data-dir]
                           nn.h training at 1 and 2 threads, interleaved rep by
                           rep: first on free cores, then with a busy-loop
                           process of the bench's own holding the last core
     bench spin <seconds>  a busy loop, bounded in time

   Clocks: every 1-thread figure is timed in thread CPU time
   (CLOCK_THREAD_CPUTIME_ID: time the machine lent to other processes is not
   counted); 2-thread figures in wall time (CLOCK_MONOTONIC). The nn.h build is
   a plain -O2: nn.h picks its SIMD kernels at run time. Only the peak loops
   below are compiled for a fixed instruction set (target attributes).      */
#define _GNU_SOURCE /* clock_gettime, nanosleep, kill, sched_setaffinity */
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
#include <signal.h>
#include <sched.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <pthread.h>
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
#define MAX_REPS 64

/* ---- helpers ----------------------------------------------------------- */
static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double wall(void) { return clock_s(CLOCK_MONOTONIC); }
static double tcpu(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }
static double pcpu(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static void sleep_s(double s) {
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
    double s[MAX_REPS * 16];
    if (n <= 0) return NAN;
    if (n > MAX_REPS * 16) n = MAX_REPS * 16;
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static void print_list(const char *name, const double *v, int n) {
    int i;
    printf("RESULT %s", name);
    for (i = 0; i < n; i++) printf(" %.1f", v[i]);
    printf("\n");
}

/* nn.h's thread pool for the current thread count: NULL at 1 thread. One
   pool per count, made on first use and kept (workers sleep when idle). */
static nn_threads *bench_pool;
static void set_threads(int t) {
    static nn_threads *pools[NN_MAX_THREADS + 1];
    if (t < 1) t = 1;
    if (t > NN_MAX_THREADS) t = NN_MAX_THREADS;
    if (t > 1 && !pools[t]) pools[t] = nn_threads_create(t);
    bench_pool = t > 1 ? pools[t] : NULL;
}

/* Peak resident memory of this process image (VmHWM). Not ru_maxrss: Linux
   carries that across execve, so a child started by a large process (the
   PyTorch side starts `bench serve`) would report its parent's peak. */
static long max_rss_kb(void) {
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "VmHWM:", 6)) kb = strtol(line + 6, NULL, 10);
        fclose(f);
    }
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss; /* kilobytes on Linux */
    }
    return kb;
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

static void fill_random(float *x, size_t n, nn_rng *r) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = 2.0f * nn_rng_uniform(r) - 1.0f;
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

/* The two models of the comparisons: the MLP 784-256-128-10 (ReLU between
   the dense layers) and the CNN of examples/fashion_cnn.c on (1, 28, 28):
   conv(32, 3x3, pad 1) - BatchNorm2d - ReLU - maxpool 2 - conv(64, 3x3, pad 1) -
   BatchNorm2d - ReLU - maxpool 2 - flatten - dense(128, ReLU) - dropout 0.3 -
   dense(10), PyTorch's nn.Sequential of bench_torch.py layer for layer. */
enum { MODEL_MLP, MODEL_CNN };
static const char *model_names[2] = {"mlp", "cnn"};

/* "mlp" or "cnn" (the word after a serve command's numbers); MLP by default. */
static int model_of(const char *word) { return word && !strcmp(word, "cnn") ? MODEL_CNN : MODEL_MLP; }

static void build_net(int kind, nn_model *net, nn_arena *arena, int max_batch, size_t extra_bytes,
                      const nn_optim_desc *od, nn_optim *opt) {
    static nn_layer_desc layers[12];
    nn_model_desc md;
    size_t bytes;
    int n = 0;
    memset(&md, 0, sizeof md);
    if (kind == MODEL_CNN) {
        layers[n++] = nn_conv2d(32, 3, 1, 1, NN_ACT_IDENTITY);
        layers[n++] = nn_batchnorm2d();
        layers[n++] = nn_activation(NN_ACT_RELU);
        layers[n++] = nn_maxpool2d(2, 2, 0);
        layers[n++] = nn_conv2d(64, 3, 1, 1, NN_ACT_IDENTITY);
        layers[n++] = nn_batchnorm2d();
        layers[n++] = nn_activation(NN_ACT_RELU);
        layers[n++] = nn_maxpool2d(2, 2, 0);
        layers[n++] = nn_flatten();
        layers[n++] = nn_dense(128, NN_ACT_RELU);
        layers[n++] = nn_dropout(0.3f);
        layers[n++] = nn_dense(10, NN_ACT_IDENTITY);
        md.input_shape[0] = 1; md.input_shape[1] = 28; md.input_shape[2] = 28;
    } else {
        layers[n++] = nn_dense(256, NN_ACT_RELU);
        layers[n++] = nn_dense(128, NN_ACT_RELU);
        layers[n++] = nn_dense(10, NN_ACT_IDENTITY);
    }
    md.inputs = IN; md.max_batch = max_batch; md.layers = layers; md.n_layers = n; md.seed = 42;
    bytes = nn_model_arena_bytes(&md) + extra_bytes;
    if (od) bytes += nn_optim_arena_bytes(od, nn_model_param_count(&md));
    if (nn_arena_init_heap(arena, bytes) != NN_OK || nn_model_init(net, arena, &md) != NN_OK ||
        (od && nn_optim_init(opt, arena, od, net->n_params) != NN_OK)) {
        fprintf(stderr, "error: cannot build the %s model\n", model_names[kind]);
        exit(1);
    }
}

/* What nn_simd_level() means (nn.h: 0 reference, 1 AVX2+FMA, 2 NEON,
   3 AVX-512F), and which FMA peak loop measures the instruction set it uses. */
static const char *simd_name(int level) {
    switch (level) {
    case 0: return "reference";
    case 1: return "AVX2+FMA";
    case 2: return "NEON";
    case 3: return "AVX-512F";
    default: return "unknown";
    }
}
static const char *simd_peak_loop(int level) {
    return level == 1 ? "avx2" : level == 3 ? "avx512" : "none";
}

/* ---- info -------------------------------------------------------------- */
static int mode_info(void) {
    char line[4096], model[256] = "unknown", vendor[64] = "unknown";
    int family = -1, number = -1, level = nn_simd_level();
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (!colon) continue;
            if (!strncmp(line, "model name", 10)) {
                snprintf(model, sizeof model, "%s", colon + 2);
                model[strcspn(model, "\n")] = 0;
            } else if (!strncmp(line, "vendor_id", 9)) {
                snprintf(vendor, sizeof vendor, "%s", colon + 2);
                vendor[strcspn(vendor, "\n")] = 0;
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
    printf("RESULT cpu_vendor %s\n", vendor);
    printf("RESULT cpu_family_model %d %d\n", family, number);
    printf("RESULT cpus_online %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
#if BENCH_X86
    __builtin_cpu_init();
    printf("RESULT cpu_simd%s%s%s\n", __builtin_cpu_supports("avx2") ? " avx2" : "",
           __builtin_cpu_supports("fma") ? " fma" : "", __builtin_cpu_supports("avx512f") ? " avx512f" : "");
#endif
    printf("RESULT nn_version %s\n", NN_VERSION_STRING);
    printf("RESULT nn_simd_level %d\n", level);
    printf("RESULT nn_threads pool (nn_threads, adaptive)\n");
    printf("RESULT nn_simd %s\n", simd_name(level));
    printf("RESULT nn_peak_loop %s\n", simd_peak_loop(level));
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
   8 chains needed, 12 used). Each iteration does 12 FMAs of 8 (16) floats. */
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

/* Median GFLOP/s of reps runs of about 0.1 s each, in thread CPU time. */
static double run_peak(float (*fn)(long), double flops_per_iter, int reps) {
    double g[16], t;
    long iters = 1000000;
    volatile float sink = 0.0f;
    int r;
    if (reps > 16) reps = 16;
    for (;;) { /* grow the loop until one run lasts 0.05 s, then aim at 0.1 s */
        t = tcpu();
        sink += fn(iters);
        t = tcpu() - t;
        if (t > 0.05) break;
        iters *= 2;
    }
    iters = (long)((double)iters * 0.1 / t) + 1;
    for (r = 0; r < reps; r++) {
        t = tcpu();
        sink += fn(iters);
        g[r] = flops_per_iter * (double)iters / (tcpu() - t) * 1e-9;
    }
    (void)sink;
    return median(g, reps);
}

/* GFLOP/s of one peak loop by name ("avx2", "avx512"); NaN if this CPU or
   build cannot run it. */
static double peak_of(const char *loop, int reps) {
#if BENCH_X86
    __builtin_cpu_init();
    if (!strcmp(loop, "avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return run_peak(peak_avx2, 12.0 * 8 * 2, reps);
    if (!strcmp(loop, "avx512") && __builtin_cpu_supports("avx512f"))
        return run_peak(peak_avx512, 12.0 * 16 * 2, reps);
#else
    (void)loop; (void)reps;
#endif
    return NAN;
}

static int mode_peak(void) {
#if BENCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        printf("RESULT peak_avx2_fma %.2f\n", run_peak(peak_avx2, 12.0 * 8 * 2, 7));
    if (__builtin_cpu_supports("avx512f"))
        printf("RESULT peak_avx512_fma %.2f\n", run_peak(peak_avx512, 12.0 * 16 * 2, 7));
#endif
    return 0;
}

/* ---- GEMM -------------------------------------------------------------- */
#ifndef BENCH_NO_BLAS
/* Wait until this process's other threads have stopped spinning: idle
   OpenBLAS workers spin about 0.1 s after a call, libgomp's a few ms. The
   caller sleeps, so any CPU time the process uses is theirs. */
static void wait_quiet(void) {
    int i;
    for (i = 0; i < 100; i++) { /* at most 0.5 s */
        double c = pcpu();
        sleep_s(0.005);
        if (pcpu() - c < 0.0005) return;
    }
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
        nn_gemm_mt(bench_pool, 99, s->ta, s->tb, s->M, s->N, s->K, 1.0f, o->A, o->lda, o->B, o->ldb, s->beta, o->C,
                   o->ldc);
    } else {
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                    s->M, s->N, s->K, 1.0f, o->A, o->lda, o->B, o->ldb, s->beta, o->C, o->ldc);
    }
}

/* One repetition: iters back-to-back calls; seconds on the clock of the
   thread count (thread CPU time at 1 thread, wall time above). */
static double gemm_rep(int lib, const shape *s, const operands *o, long iters, int threads) {
    double (*clk)(void) = threads == 1 ? tcpu : wall;
    double t = clk();
    long i;
    for (i = 0; i < iters; i++) call_gemm(lib, s, o);
    return clk() - t;
}

/* Calls per repetition so that one lasts at least min_s. */
static long gemm_calibrate(int lib, const shape *s, const operands *o, double min_s, int threads) {
    long iters = 1;
    double t;
    call_gemm(lib, s, o); /* warm-up: caches, thread pools, packing buffers */
    for (;;) {
        t = gemm_rep(lib, s, o, iters, threads);
        if (t >= 0.2 * min_s || iters > (1L << 40)) break;
        iters *= 4;
    }
    return (long)((double)iters * min_s / (t > 0 ? t : 1e-9)) + 1;
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

/* libs_mask: bit 0 nn.h, bit 1 OpenBLAS; t: threads, 1 or 2. For each shape both
   libraries are calibrated, then their repetitions alternate (nn.h first on
   even repetitions, OpenBLAS first on odd ones). At 2 threads each repetition
   starts once the other library's idle threads have stopped spinning
   (wait_quiet). */
static int mode_gemm(int reps, double min_s, int libs_mask, int t) {
    shape s[32];
    int n = make_shapes(s), i, lib, r, k;
    size_t maxA = 0, maxB = 0, maxC = 0;
    float *A, *B, *C, *C2;
    nn_rng rng;
    static const char *libs[2] = {"nn", "openblas"};
    if (reps > MAX_REPS) reps = MAX_REPS;
    if (reps < 1) reps = 1;
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
    printf("RESULT openblas_core %s\n", openblas_get_corename());
    printf("RESULT gemm_clock t1 thread-cpu, t2 wall\n");
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
    openblas_set_num_threads(t);
    set_threads(t);
    for (i = 0; i < n; i++) {
        operands o;
        long iters[2] = {0, 0};
        double g[2][MAX_REPS], flops = 2.0 * s[i].M * s[i].N * s[i].K;
        o.A = A; o.B = B; o.C = C;
        o.lda = s[i].ta ? s[i].M : s[i].K;
        o.ldb = s[i].tb ? s[i].K : s[i].N;
        o.ldc = s[i].N;
        for (lib = 0; lib < 2; lib++) {
            if (!(libs_mask & (1 << lib))) continue;
            if (t > 1) wait_quiet();
            iters[lib] = gemm_calibrate(lib, &s[i], &o, min_s, t);
        }
        for (r = 0; r < reps; r++) {
            for (k = 0; k < 2; k++) {
                lib = r % 2 ? 1 - k : k;
                if (!(libs_mask & (1 << lib))) continue;
                if (t > 1) wait_quiet();
                g[lib][r] = flops * (double)iters[lib] / gemm_rep(lib, &s[i], &o, iters[lib], t) * 1e-9;
            }
        }
        for (lib = 0; lib < 2; lib++) {
            double m;
            if (!(libs_mask & (1 << lib))) continue;
            m = median(g[lib], reps);
            printf("RESULT gemm.%s.t%d.%s %.3f\n", libs[lib], t, s[i].name, m);
            fprintf(stderr, "  gemm %-14s %-8s t%d %8.2f GFLOP/s\n", s[i].name, libs[lib], t, m);
        }
        fflush(stdout);
    }
    free(A); free(B); free(C); free(C2);
    return 0;
}
#else
static int mode_gemm(int reps, double min_s, int libs_mask, int threads) {
    (void)reps; (void)min_s; (void)libs_mask; (void)threads;
    fprintf(stderr, "error: built without OpenBLAS\n");
    return 1;
}
#endif

/* ---- training ---------------------------------------------------------- */
/* The training state of one process: the uint8 images, the model and its
   optimizer, the shuffled order. Each step gathers a batch in shuffled order,
   converts it to normalized float, and runs forward, loss, zero_grad, backward
   and the optimizer step (the same work as bench_torch.py's step). */
typedef struct trainer {
    nn_idx images, labels;
    int loaded, built, n, batch, pos, model; /* model: MODEL_MLP or MODEL_CNN */
    nn_model net;
    nn_optim opt;
    nn_arena arena;
    nn_rng rng;
    float *x;
    int *y, *idx;
    float table[256]; /* byte -> normalized float */
    double phase[6]; /* seconds per phase, summed over every step */
    long steps_done;
} trainer;

static const char *phase_names[6] = {"gather", "forward", "loss", "zero_grad", "backward", "optim"};

static void trainer_load(trainer *tr, const char *dir) {
    int v;
    if (tr->loaded) return;
    load(&tr->images, dir, "train-images-idx3-ubyte.gz");
    load(&tr->labels, dir, "train-labels-idx1-ubyte.gz");
    tr->n = tr->images.dims[0];
    if (tr->images.rank != 3 || tr->images.dims[1] * tr->images.dims[2] != IN || tr->labels.dims[0] != tr->n) {
        fprintf(stderr, "error: unexpected data shapes\n");
        exit(1);
    }
    for (v = 0; v < 256; v++) {
        unsigned char b = (unsigned char)v;
        to_float(&tr->table[v], &b, 1); /* the same values as converting pixel by pixel */
    }
    tr->loaded = 1;
}

/* (Re)build the model and optimizer for one batch size; same seeds each time.
   The MLP trains with Adam (-DBENCH_ADAM) or SGD with momentum, the CNN with
   AdamW at nn.h's defaults (lr 1e-3, weight decay 0.01: torch.optim.AdamW's). */
static void trainer_build(trainer *tr, int batch, int model) {
    nn_optim_desc od;
    int i, n = tr->n;
    if (tr->built) nn_arena_deinit(&tr->arena);
    if (model == MODEL_CNN) {
        od = nn_optim_desc_default(NN_OPTIM_ADAMW);
    } else {
#ifdef BENCH_ADAM
        od = nn_optim_desc_default(NN_OPTIM_ADAM); od.lr = 1e-3f; /* other fields: nn.h's defaults */
#else
        od = nn_optim_desc_default(NN_OPTIM_SGD); od.lr = 0.05f; od.momentum = 0.9f;
#endif
    }
    build_net(model, &tr->net, &tr->arena, batch, nn_arena_bytes_for(sizeof(float) * (size_t)batch * IN) +
              nn_arena_bytes_for(sizeof(int) * (size_t)batch) + nn_arena_bytes_for(sizeof(int) * (size_t)n),
              &od, &tr->opt);
    tr->x = (float *)nn_arena_alloc(&tr->arena, sizeof(float) * (size_t)batch * IN);
    tr->y = (int *)nn_arena_alloc(&tr->arena, sizeof(int) * (size_t)batch);
    tr->idx = (int *)nn_arena_alloc(&tr->arena, sizeof(int) * (size_t)n);
    if (!tr->x || !tr->y || !tr->idx) {
        fprintf(stderr, "error: arena too small\n");
        exit(1);
    }
    nn_model_zero_grad(&tr->net);
    for (i = 0; i < n; i++) tr->idx[i] = i;
    nn_rng_seed(&tr->rng, 7);
    nn_rng_shuffle(&tr->rng, tr->idx, n);
    tr->batch = batch;
    tr->model = model;
    tr->pos = 0;
    tr->built = 1;
    memset(tr->phase, 0, sizeof tr->phase);
    tr->steps_done = 0;
}

/* One training step; returns the batch's loss. A new shuffle starts when the
   epoch has no whole batch left (the last partial batch is dropped, as in
   bench_torch.py). */
static float trainer_step(trainer *tr) {
    nn_tensor out, dout;
    const int *rows;
    int i, B = tr->batch;
    double tp[7];
    float loss;
    if (tr->pos + B > tr->n) {
        nn_rng_shuffle(&tr->rng, tr->idx, tr->n);
        tr->pos = 0;
    }
    rows = tr->idx + tr->pos;
    tr->pos += B;
    tp[0] = wall();
    nn_gather_u8(nn_tensor_2d(tr->x, B, IN), tr->images.data, (size_t)tr->n, rows, tr->table);
    for (i = 0; i < B; i++) tr->y[i] = tr->labels.data[rows[i]];
    tp[1] = wall();
    tr->net.threads = bench_pool;
    out = nn_model_forward(&tr->net, nn_tensor_2d(tr->x, B, IN));
    tp[2] = wall();
    dout = nn_model_output_grad(&tr->net);
    loss = nn_loss_cross_entropy(dout, out, tr->y);
    tp[3] = wall();
    /* nothing to zero: the previous step's update left the gradients at 0
       (trainer_build zeroes them once) */
    tp[4] = wall();
    nn_model_backward(&tr->net, dout);
    tp[5] = wall();
    nn_optim_step_and_zero_grad(&tr->opt, tr->net.params, tr->net.grads, tr->net.n_params);
    tp[6] = wall();
    for (i = 0; i < 6; i++) tr->phase[i] += tp[i + 1] - tp[i];
    tr->steps_done++;
    return loss;
}

/* ---- inference state ----------------------------------------------------- */
typedef struct inferer {
    int ready, n, start, model; /* model: MODEL_MLP or MODEL_CNN */
    int loaded;
    float *x; /* the test images, converted to float once */
    nn_model net;
    nn_arena arena;
} inferer;

/* The test images (once) and the model (rebuilt when another is asked for). */
static void inferer_init(inferer *in, const char *dir, int model) {
    nn_idx images;
    int i;
    if (in->ready && in->model == model) return;
    if (!in->loaded) {
        load(&images, dir, "t10k-images-idx3-ubyte.gz");
        in->n = images.dims[0];
        if (in->n < 512) exit(1);
        in->x = (float *)xalloc(sizeof(float) * (size_t)in->n * IN);
        for (i = 0; i < in->n; i++) to_float(in->x + (size_t)i * IN, images.data + (size_t)i * IN, IN);
        nn_idx_free(&images);
        in->loaded = 1;
    }
    if (in->ready) nn_arena_deinit(&in->arena);
    build_net(model, &in->net, &in->arena, 256, 0, NULL, NULL);
    nn_model_set_mode(&in->net, NN_MODE_EVAL);
    in->model = model;
    in->start = 0;
    in->ready = 1;
}

/* calls forwards of `batch` consecutive test rows, cycling through the set. */
static float inferer_run(inferer *in, int batch, long calls) {
    float sink = 0.0f;
    long i;
    in->net.threads = bench_pool;
    for (i = 0; i < calls; i++) {
        if (in->start + batch > in->n) in->start = 0;
        sink += nn_model_forward(&in->net, nn_tensor_2d(in->x + (size_t)in->start * IN, batch, IN)).data[0];
        in->start += batch;
    }
    return sink;
}

/* ---- the CNN's convolutions alone ---------------------------------------- */
/* The two convolutions of the CNN on a batch of 64, as training runs them:
   layer 1 (64,1,28,28) -> 32 channels, layer 2 (64,32,14,14) -> 64 channels,
   3x3, stride 1, padding 1, with bias; nn_conv2d_forward / nn_conv2d_backward
   on one thread, scratch from nn_conv2d_work_floats. Backward is what a
   training step asks of each layer: dW and db for both, dx for layer 2 only
   (the input image needs no gradient). Random data in [-1, 1). */
#define CONV_BATCH 64
typedef struct conv_case {
    int C, H, W, OC, OH, OW;
    nn_conv2d_geom g;
    nn_tensor x, w, b, y, dy, dx, dw, db;
    float *work;
} conv_case;

static conv_case conv_cases[2];
static int conv_ready;

static nn_tensor conv_tensor(int n, int c, int h, int w, nn_rng *rng) {
    size_t size = (size_t)n * c * h * w;
    float *data = (float *)xalloc(sizeof(float) * size);
    fill_random(data, size, rng);
    return nn_tensor_4d(data, n, c, h, w);
}

static void conv_init(void) {
    static const int dims[2][4] = {{1, 28, 28, 32}, {32, 14, 14, 64}}; /* C, H, W, OC */
    nn_rng rng;
    int l;
    if (conv_ready) return;
    nn_rng_seed(&rng, 3);
    for (l = 0; l < 2; l++) {
        conv_case *c = &conv_cases[l];
        size_t work;
        c->C = dims[l][0]; c->H = dims[l][1]; c->W = dims[l][2]; c->OC = dims[l][3];
        c->g = nn_conv2d_geom_make(3, 1, 1);
        c->OH = nn_conv2d_out_size(c->H, 3, 1, 1, 1);
        c->OW = nn_conv2d_out_size(c->W, 3, 1, 1, 1);
        c->x = conv_tensor(CONV_BATCH, c->C, c->H, c->W, &rng);
        c->dx = conv_tensor(CONV_BATCH, c->C, c->H, c->W, &rng);
        c->w = conv_tensor(c->OC, c->C, 3, 3, &rng);
        c->dw = conv_tensor(c->OC, c->C, 3, 3, &rng);
        c->b = conv_tensor(1, 1, 1, c->OC, &rng);
        c->db = conv_tensor(1, 1, 1, c->OC, &rng);
        c->y = conv_tensor(CONV_BATCH, c->OC, c->OH, c->OW, &rng);
        c->dy = conv_tensor(CONV_BATCH, c->OC, c->OH, c->OW, &rng);
        c->b = nn_tensor_1d(c->b.data, c->OC);
        c->db = nn_tensor_1d(c->db.data, c->OC);
        work = nn_conv2d_work_floats(CONV_BATCH, c->C, c->H, c->W, c->OC, &c->g);
        if (!work) {
            fprintf(stderr, "error: nn_conv2d_work_floats refused layer %d\n", l + 1);
            exit(1);
        }
        c->work = (float *)xalloc(sizeof(float) * work);
    }
    conv_ready = 1;
}

/* FLOPs of one call: forward 2*N*OC*OH*OW*C*KH*KW; backward that once for dW,
   once more for dx (layer 2 only). */
static double conv_flops(int l, int backward) {
    const conv_case *c = &conv_cases[l];
    double fwd = 2.0 * CONV_BATCH * c->OC * c->OH * c->OW * c->C * 9;
    return backward ? fwd * (l ? 2.0 : 1.0) : fwd;
}

/* calls forwards or backwards of layer l (0, 1) back to back */
static float conv_run(int l, int backward, long calls) {
    conv_case *c = &conv_cases[l];
    nn_tensor none;
    long i;
    memset(&none, 0, sizeof none);
    if (backward) { /* dW and db accumulate: start each run from zero */
        memset(c->dw.data, 0, sizeof(float) * nn_tensor_size(c->dw));
        memset(c->db.data, 0, sizeof(float) * nn_tensor_size(c->db));
    }
    for (i = 0; i < calls; i++) {
        if (backward)
            nn_conv2d_backward(l ? c->dx : none, c->dw, c->db, c->dy, c->x, c->w, &c->g, c->work);
        else
            nn_conv2d_forward(c->y, c->x, c->w, c->b, &c->g, c->work);
    }
    return backward ? c->dw.data[0] : c->y.data[0];
}

/* ---- serve: the nn.h side of bench_torch.py's interleaved runs ----------- */
/* One command a line on stdin; each answer is RESULT lines, then "END".
     train_init <batch> [mlp|cnn] build the model (seed 42) and optimizer, shuffle (seed 7)
     train <threads> <steps>      that many steps; wall, thread and process CPU seconds, mean loss
     infer_init [mlp|cnn]         test images to float, model in EVAL mode
     infer <batch> <threads> <calls>
                                  calls forwards back to back; the same three clocks
     peak <avx2|avx512>           the single-core FMA peak loop, GFLOP/s (thread CPU time),
                                  to set beside the training repetitions it interleaves with
     conv_init                    the CNN's two convolutions at batch 64 (see conv_case)
     conv <layer 1|2> <0 forward|1 backward> <calls>
                                  calls passes back to back, 1 thread; the same three clocks
                                  and the FLOPs of one call
     phases                       mean seconds per phase per training step since train_init
     rss                          peak and current resident memory
     quit                                                                       */
static int mode_serve(const char *dir) {
    static trainer tr;
    static inferer inf;
    char line[256];
    volatile float sink = 0.0f;
    while (fgets(line, sizeof line, stdin)) {
        char cmd[32];
        int a = 0, b = 0;
        long c = 0;
        if (sscanf(line, "%31s %d %d %ld", cmd, &a, &b, &c) < 1) continue;
        if (!strcmp(cmd, "quit")) break;
        if (!strcmp(cmd, "train_init") && a > 0) {
            char word[16] = "";
            sscanf(line, "%*s %*d %15s", word);
            trainer_load(&tr, dir);
            printf("RESULT max_rss_after_load_kb %ld\n", max_rss_kb());
            trainer_build(&tr, a, model_of(word));
            printf("RESULT model %s\nRESULT n_params %lu\n", model_names[tr.model], (unsigned long)tr.net.n_params);
        } else if (!strcmp(cmd, "train") && tr.built && a > 0 && b > 0) {
            double w, t, p, loss = 0.0;
            int s;
            set_threads(a);
            w = wall(); t = tcpu(); p = pcpu();
            for (s = 0; s < b; s++) loss += trainer_step(&tr);
            w = wall() - w; t = tcpu() - t; p = pcpu() - p;
            printf("RESULT wall_s %.6f\nRESULT thread_cpu_s %.6f\nRESULT process_cpu_s %.6f\n", w, t, p);
            printf("RESULT loss %.5f\n", loss / b);
        } else if (!strcmp(cmd, "infer_init")) {
            char word[16] = "";
            sscanf(line, "%*s %15s", word);
            inferer_init(&inf, dir, model_of(word));
            printf("RESULT model %s\n", model_names[inf.model]);
        } else if (!strcmp(cmd, "conv_init")) {
            conv_init();
        } else if (!strcmp(cmd, "conv") && conv_ready && (a == 1 || a == 2) && (b == 0 || b == 1) && c > 0) {
            double w, t, p;
            set_threads(1);
            w = wall(); t = tcpu(); p = pcpu();
            sink += conv_run(a - 1, b, c);
            w = wall() - w; t = tcpu() - t; p = pcpu() - p;
            printf("RESULT wall_s %.6f\nRESULT thread_cpu_s %.6f\nRESULT process_cpu_s %.6f\n", w, t, p);
            printf("RESULT flops %.0f\n", conv_flops(a - 1, b));
        } else if (!strcmp(cmd, "infer") && inf.ready && a > 0 && a <= 256 && b > 0 && c > 0) {
            double w, t, p;
            set_threads(b);
            w = wall(); t = tcpu(); p = pcpu();
            sink += inferer_run(&inf, a, c);
            w = wall() - w; t = tcpu() - t; p = pcpu() - p;
            printf("RESULT wall_s %.6f\nRESULT thread_cpu_s %.6f\nRESULT process_cpu_s %.6f\n", w, t, p);
        } else if (!strcmp(cmd, "peak")) {
            char loop[32] = "";
            sscanf(line, "%*s %31s", loop);
            printf("RESULT peak_gflops %.2f\n", peak_of(loop, 3));
        } else if (!strcmp(cmd, "phases") && tr.built && tr.steps_done > 0) {
            int i;
            for (i = 0; i < 6; i++) printf("RESULT phase_us.%s %.1f\n", phase_names[i], 1e6 * tr.phase[i] / (double)tr.steps_done);
        } else if (!strcmp(cmd, "rss")) {
            printf("RESULT max_rss_kb %ld\nRESULT rss_now_kb %ld\n", max_rss_kb(), cur_rss_kb());
        } else {
            printf("RESULT error bad command: %s", line);
        }
        printf("END\n");
        fflush(stdout);
    }
    (void)sink;
    return 0;
}

/* ---- threads: nn.h at 2 threads against itself at 1 ---------------------- */
static int spin_loop(double seconds) {
    double end = wall() + seconds;
    volatile unsigned long x = 0;
    while (wall() < end) {
        int i;
        for (i = 0; i < 100000; i++) x += (unsigned long)i;
    }
    (void)x;
    return 0;
}

/* CPU seconds a process has used, from /proc/<pid>/stat; -1 if unreadable. */
static double proc_cpu_s(pid_t pid) {
    char path[64], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f) return -1.0;
    if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
    fclose(f);
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1.0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* What the thread figures stand on: each core's FMA peak alone (a core that
   shares its physical core with another guest or process shows lower), and
   the round trip of one cache line between the first two cores (cores on
   different chiplets or sockets pay more for every byte one writes and the
   other reads). */
#define PP_TRIPS 100000
static int pp_flag;
static void pin_self(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set); /* 0: the calling thread */
}
static void *pp_worker(void *arg) {
    int i;
    pin_self(1);
    for (i = 0; i < PP_TRIPS; i++) {
        while (__atomic_load_n(&pp_flag, __ATOMIC_ACQUIRE) != 2 * i + 1) {}
        __atomic_store_n(&pp_flag, 2 * i + 2, __ATOMIC_RELEASE);
    }
    return arg;
}
static void probe_cores(int level) {
    int n = (int)sysconf(_SC_NPROCESSORS_ONLN), c, i;
    cpu_set_t saved;
    sched_getaffinity(0, sizeof saved, &saved);
    for (c = 0; c < n && c < 8; c++) {
        pin_self(c);
        printf("RESULT core_peak_gflops.%d %.1f\n", c, peak_of(simd_peak_loop(level), 3));
    }
    if (n >= 2) {
        pthread_t t;
        double t0;
        pin_self(0);
        __atomic_store_n(&pp_flag, 0, __ATOMIC_RELEASE);
        if (pthread_create(&t, NULL, pp_worker, NULL) == 0) {
            t0 = wall();
            for (i = 0; i < PP_TRIPS; i++) {
                __atomic_store_n(&pp_flag, 2 * i + 1, __ATOMIC_RELEASE);
                while (__atomic_load_n(&pp_flag, __ATOMIC_ACQUIRE) != 2 * i + 2) {}
            }
            printf("RESULT core_roundtrip_ns.0.1 %.0f\n", (wall() - t0) / PP_TRIPS * 1e9);
            pthread_join(t, NULL);
        }
    }
    sched_setaffinity(0, sizeof saved, &saved);
    fflush(stdout);
}

/* reps pairs of `steps` training steps at 1 and at 2 threads (order
   alternating), wall time, samples/s. Phase "free": nothing else of the bench
   runs. Phase "busy": a child process pinned to the last core spins the whole
   time (bounded: it ends by itself after a deadline, and is killed at the
   end); its share of a core over the phase is reported. */
static int mode_threads(int batch, int reps, int steps, const char *dir) {
    static trainer tr;
    double sps[2][2][MAX_REPS], t, c, cpu[2][2] = {{0, 0}, {0, 0}}, busy_wall[2][2] = {{0, 0}, {0, 0}};
    int phase, r, k, th, s;
    pid_t spinner = -1;
    if (reps > MAX_REPS) reps = MAX_REPS;
    trainer_load(&tr, dir);
    trainer_build(&tr, batch, MODEL_MLP);
    printf("RESULT batch %d\nRESULT steps_per_rep %d\nRESULT clock wall\n", batch, steps);
    probe_cores(nn_simd_level());
    for (phase = 0; phase < 2; phase++) {
        double spin_cpu0 = 0.0, spin_wall0 = 0.0;
        long calls0 = 0, par0 = 0, calls1 = 0, par1 = 0;
        if (phase == 1) {
            double bound = 4.0 * reps * steps * batch / 5000.0 + 30.0; /* > the phase at 5000 samples/s */
            fflush(stdout);
            spinner = fork();
            if (spinner == 0) { /* pinned to the last core, so that it holds one core */
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET((int)sysconf(_SC_NPROCESSORS_ONLN) - 1, &set);
                sched_setaffinity(0, sizeof set, &set);
                _exit(spin_loop(bound));
            }
            if (spinner < 0) {
                fprintf(stderr, "error: fork\n");
                return 1;
            }
            sleep_s(0.3); /* let the scheduler settle the spinner on a core */
            spin_cpu0 = proc_cpu_s(spinner);
            spin_wall0 = wall();
        }
        for (th = 1; th <= 2; th++) { /* warm-up at each thread count */
            set_threads(th);
            for (s = 0; s < 20; s++) trainer_step(&tr);
        }
        nn_threads_stats(bench_pool, &calls0, &par0, NULL, NULL); /* the 2-thread pool */
        for (r = 0; r < reps; r++) {
            for (k = 0; k < 2; k++) {
                th = r % 2 ? 2 - k : 1 + k;
                set_threads(th);
                sleep_s(0.02);
                c = pcpu();
                t = wall();
                for (s = 0; s < steps; s++) trainer_step(&tr);
                t = wall() - t;
                sps[phase][th - 1][r] = (double)steps * batch / t;
                cpu[phase][th - 1] += pcpu() - c;
                busy_wall[phase][th - 1] += t;
            }
        }
        set_threads(2);
        nn_threads_stats(bench_pool, &calls1, &par1, NULL, NULL);
        /* what the adaptive pool chose over the phase's 2-thread repetitions */
        printf("RESULT pool_parallel_fraction.%s %.3f\n", phase ? "busy" : "free",
               calls1 > calls0 ? (double)(par1 - par0) / (double)(calls1 - calls0) : 0.0);
        if (phase == 1) {
            double share = (proc_cpu_s(spinner) - spin_cpu0) / (wall() - spin_wall0);
            kill(spinner, SIGKILL);
            waitpid(spinner, NULL, 0);
            printf("RESULT busy_spinner_core_share %.3f\n", share);
        }
        for (th = 1; th <= 2; th++) {
            char name[64];
            const char *ph = phase ? "busy" : "free";
            snprintf(name, sizeof name, "sps_reps.%s.t%d", ph, th);
            print_list(name, sps[phase][th - 1], reps);
            printf("RESULT sps.%s.t%d %.1f\n", ph, th, median(sps[phase][th - 1], reps));
            /* CPU seconds per wall second of the process (both threads; spinning counts) */
            printf("RESULT cores_used.%s.t%d %.2f\n", ph, th, cpu[phase][th - 1] / busy_wall[phase][th - 1]);
        }
        fflush(stdout);
    }
    return 0;
}

/* ---- int8: the quantized flagship MLP against its float self ------------- */
/* examples/fashion_mnist.c's MLP, 784-512-BN-ReLU-dropout-256-BN-ReLU-dropout-10
   (random weights: the time does not depend on them), quantized with 500
   training images; batch-1 latency of nn_model_forward (float) and
   nn_qmodel_forward (int8), 1 thread, thread CPU time, alternating rep by rep;
   batch 256 samples/s for context. */
static double int8_rep(nn_model *m, nn_qmodel *q, const float *x, int n, int batch, double min_s) {
    double t0 = tcpu(), t;
    long calls = 0;
    int start = 0;
    volatile float sink = 0.0f;
    do {
        int k;
        for (k = 0; k < 64; k++, calls++) {
            nn_tensor in;
            if (start + batch > n) start = 0;
            in = nn_tensor_2d((float *)(size_t)(x + (size_t)start * IN), batch, IN);
            sink += m ? nn_model_forward(m, in).data[0] : nn_qmodel_forward(q, in).data[0];
            start += batch;
        }
        t = tcpu() - t0;
    } while (t < min_s);
    (void)sink;
    return t / (double)calls;
}
static int mode_int8(int reps, double min_s, const char *dir) {
    nn_layer_desc l[9];
    nn_model_desc md;
    nn_arena arena, qa;
    nn_model m;
    nn_qmodel q;
    nn_idx tr, te;
    float *cal, *x;
    double *f1 = (double *)xalloc(sizeof(double) * (size_t)reps), *q1 = (double *)xalloc(sizeof(double) * (size_t)reps);
    double *f256 = (double *)xalloc(sizeof(double) * (size_t)reps), *q256 = (double *)xalloc(sizeof(double) * (size_t)reps);
    double *pr = (double *)xalloc(sizeof(double) * (size_t)reps);
    int i, n;
    load(&tr, dir, "train-images-idx3-ubyte.gz");
    load(&te, dir, "t10k-images-idx3-ubyte.gz");
    n = te.dims[0];
    cal = (float *)xalloc(sizeof(float) * 500 * IN);
    x = (float *)xalloc(sizeof(float) * (size_t)n * IN);
    for (i = 0; i < 500; i++) to_float(cal + (size_t)i * IN, tr.data + (size_t)i * IN, IN);
    for (i = 0; i < n; i++) to_float(x + (size_t)i * IN, te.data + (size_t)i * IN, IN);
    l[0] = nn_dense(512, NN_ACT_IDENTITY); l[1] = nn_batchnorm(); l[2] = nn_activation(NN_ACT_RELU);
    l[3] = nn_dropout(0.3f);
    l[4] = nn_dense(256, NN_ACT_IDENTITY); l[5] = nn_batchnorm(); l[6] = nn_activation(NN_ACT_RELU);
    l[7] = nn_dropout(0.3f);
    l[8] = nn_dense(10, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = IN; md.max_batch = 256; md.layers = l; md.n_layers = 9; md.seed = 42;
    if (nn_arena_init_heap(&arena, nn_model_arena_bytes(&md)) != NN_OK || nn_model_init(&m, &arena, &md) != NN_OK) exit(1);
    nn_model_set_mode(&m, NN_MODE_EVAL);
    if (nn_arena_init_heap(&qa, nn_qmodel_arena_bytes(&m, 256)) != NN_OK ||
        nn_qmodel_init(&q, &qa, &m, nn_tensor_2d(cal, 500, IN), 256) != NN_OK) {
        fprintf(stderr, "error: quantize: %s\n", q.error);
        exit(1);
    }
    set_threads(1);
    m.threads = NULL;
    int8_rep(&m, NULL, x, n, 1, min_s / 4); /* warm */
    int8_rep(NULL, &q, x, n, 1, min_s / 4);
    for (i = 0; i < reps; i++) {
        f1[i] = int8_rep(&m, NULL, x, n, 1, min_s);
        q1[i] = int8_rep(NULL, &q, x, n, 1, min_s);
        f256[i] = 256.0 / int8_rep(&m, NULL, x, n, 256, min_s);
        q256[i] = 256.0 / int8_rep(NULL, &q, x, n, 256, min_s);
        pr[i] = f1[i] / q1[i];
        fprintf(stderr, "    rep %d: batch 1 float %.2f us, int8 %.2f us\n", i + 1, 1e6 * f1[i], 1e6 * q1[i]);
    }
    printf("RESULT int8.kernel %s\nRESULT int8.float_simd %s\n", nn_qkernel_name(q.kernel), nn_simd_name());
    printf("RESULT int8.weight_bytes %lu\nRESULT int8.float_weight_bytes %lu\n", (unsigned long)q.weight_bytes,
           (unsigned long)q.float_weight_bytes);
    for (i = 0; i < reps; i++) {
        f1[i] *= 1e6;
        q1[i] *= 1e6;
    }
    printf("RESULT float.latency_us %.3f\nRESULT int8.latency_us %.3f\n", median(f1, reps), median(q1, reps));
    printf("RESULT float.samples_per_s_b256 %.1f\nRESULT int8.samples_per_s_b256 %.1f\n", median(f256, reps),
           median(q256, reps));
    printf("RESULT ratio_paired_median %.4f\n", median(pr, reps));
    print_list("float.latency_us.reps", f1, reps);
    print_list("int8.latency_us.reps", q1, reps);
    nn_arena_deinit(&qa);
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
                         argc > 5 && atoi(argv[5]) == 2 ? 2 : 1);
    }
    if (!strcmp(mode, "serve")) return mode_serve(argc > 2 ? argv[2] : DATA_DIR);
    if (!strcmp(mode, "threads") && argc >= 5)
        return mode_threads(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), argc > 5 ? argv[5] : DATA_DIR);
    if (!strcmp(mode, "spin") && argc >= 3) return spin_loop(atof(argv[2]));
    if (!strcmp(mode, "int8") && argc >= 4)
        return mode_int8(atoi(argv[2]), atof(argv[3]), argc > 4 ? argv[4] : DATA_DIR);
    fprintf(stderr,
            "usage: bench info | peak | gemm [reps] [min_ms] [nn|openblas|both] [threads]\n"
            "             | serve [data-dir] | threads <batch> <reps> <steps> [data-dir]\n"
            "             | spin <seconds> | int8 <reps> <seconds per rep> [data-dir]\n");
    return 2;
}
