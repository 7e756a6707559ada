/* test_threads.c - nn.h's thread pool (nn_threads): life cycle, GEMMs and
   training on the workers bit-identical to one thread, the workers really
   running chunks, two callers sharing one pool, many small jobs in a row.

   Built by `make test` in every configuration of the matrix, plus one under
   ThreadSanitizer (the pool's hand-off is lock-free). Timing (the adaptive
   choice, the back-off) is measured in bench/, never asserted here. */
#ifndef NN_TEST_LINKED
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <sched.h>
#define HAVE_PTHREADS 1
#else
#define HAVE_PTHREADS 0
#endif

static float *falloc(size_t n) {
    float *p = (float *)calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "test: out of memory\n");
        exit(2);
    }
    return p;
}

static void fill_uniform(nn_rng *r, float *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = 2.0f * nn_rng_uniform(r) - 1.0f;
}

/* A pool whose every large-enough GEMM goes to the workers. */
static nn_threads *pool_fixed(int n) {
    nn_threads *t = nn_threads_create(n);
    if (t) nn_threads_set_adaptive(t, 0);
    return t;
}

static void test_threads_life_cycle(void) {
    nn_threads *t;
    long calls = -1, par = -1, stalls = -1, wc = -1;
    CHECK(nn_threads_create(0) == NULL);
    CHECK(nn_threads_create(-3) == NULL);
    CHECK(nn_threads_create(NN_MAX_THREADS + 1) == NULL);
    CHECK_EQ_INT(nn_threads_count(NULL), 1);
    nn_threads_destroy(NULL);
    nn_threads_stats(NULL, &calls, &par, &stalls, &wc);
    CHECK(calls == 0 && par == 0 && stalls == 0 && wc == 0);
    t = nn_threads_create(1); /* the caller alone: valid, no workers */
    CHECK(t != NULL);
    CHECK_EQ_INT(nn_threads_count(t), 1);
    nn_threads_destroy(t);
    t = nn_threads_create(4);
    CHECK(t != NULL);
    CHECK_EQ_INT(nn_threads_count(t), 4);
    nn_threads_stats(t, &calls, &par, &stalls, &wc);
    CHECK(calls == 0 && par == 0 && stalls == 0 && wc == 0);
    nn_threads_stats(t, NULL, NULL, NULL, NULL);
    nn_threads_destroy(t); /* joins workers that never got a job */
}

/* Every GEMM form and odd sizes on 2, 3 and 4 threads: the same bits as the
   same level alone, for beta 0 and 1, at each kernel level. */
static void test_threads_gemm_bit_identical(void) {
    static const int shapes[][3] = {{1, 1, 1},    {3, 17, 33},   {17, 33, 3},   {33, 257, 17}, {64, 300, 256},
                                    {257, 300, 300}, {300, 10, 257}, {6, 512, 784}, {512, 784, 64}, {100, 97, 1}};
    static const int levels[3] = {0, 1, 3};
    nn_threads *pools[3];
    int s, t, p, l, checked = 0;
    nn_rng r;
    nn_rng_seed(&r, 3);
    for (p = 0; p < 3; p++) {
        pools[p] = pool_fixed(p + 2);
        CHECK(pools[p] != NULL);
        if (!pools[p]) return;
    }
    for (s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = falloc((size_t)M * K), *B = falloc((size_t)K * N), *C0 = falloc((size_t)M * N),
              *C1 = falloc((size_t)M * N), *C2 = falloc((size_t)M * N);
        fill_uniform(&r, A, (size_t)M * K);
        fill_uniform(&r, B, (size_t)K * N);
        fill_uniform(&r, C0, (size_t)M * N);
        for (l = 0; l < 3; l++)
            for (t = 0; t < 4; t++) {
                int ta = t & 1, tb = t >> 1, lda = ta ? M : K, ldb = tb ? K : N;
                float beta = (float)(t & 1);
                memcpy(C1, C0, sizeof(float) * (size_t)M * N);
                nn_gemm_at(levels[l], ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C1, N);
                for (p = 0; p < 3; p++) {
                    memcpy(C2, C0, sizeof(float) * (size_t)M * N);
                    nn_gemm_mt(pools[p], levels[l], ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C2, N);
                    CHECKF(memcmp(C1, C2, sizeof(float) * (size_t)M * N) == 0,
                           "%dx%dx%d trans %d%d level %d: %d threads differ from one", M, N, K, ta, tb, levels[l],
                           p + 2);
                    checked++;
                }
            }
        free(A); free(B); free(C0); free(C1); free(C2);
    }
    for (p = 0; p < 3; p++) {
        long par = 0, wc = 0;
        nn_threads_stats(pools[p], NULL, &par, NULL, &wc);
        CHECKF(par > 0, "%d threads: no GEMM ran on the workers", p + 2);
        TEST_NOTE("%d threads: %ld GEMMs on the workers, %ld chunks run by workers", p + 2, par, wc);
        nn_threads_destroy(pools[p]);
    }
    TEST_NOTE("%d GEMMs compared bit for bit", checked);
}

/* The workers do run chunks (not the caller alone): over calls of a GEMM big
   enough to split, some chunk must be taken by a worker. The caller yields
   between calls and keeps calling for up to 20 s, so a worker on a busy or
   single core (or under valgrind, which runs one thread at a time) still
   gets its turn; a pool whose workers never run fails. */
static void test_threads_workers_take_chunks(void) {
    enum { M = 256, N = 512, K = 256 };
    nn_threads *t = pool_fixed(2);
    float *A = falloc((size_t)M * K), *B = falloc((size_t)K * N), *C = falloc((size_t)M * N);
    long calls = 0, par = 0, wc = 0;
    time_t t0 = time(NULL);
    CHECK(t != NULL);
    if (!t) return;
    while (wc == 0 && time(NULL) - t0 < 20) {
        nn_gemm_mt(t, 99, 0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
        nn_threads_stats(t, &calls, &par, NULL, &wc);
#if HAVE_PTHREADS
        sched_yield();
#endif
    }
    CHECKF(wc > 0, "after %ld calls the workers had run no chunk", calls);
    CHECK(calls == par);
    nn_threads_destroy(t);
    free(A); free(B); free(C);
}

/* Adam on a 256-300-200-10 MLP with batch norm and dropout for a few steps;
   returns the weights. threads: NULL, or a pool (fixed or adaptive). */
static float *train(nn_threads *th, size_t *n_out) {
    enum { IN = 256, B = 64, STEPS = 8 };
    nn_layer_desc ls[5];
    nn_model_desc d;
    nn_model m;
    nn_arena a;
    nn_optim o;
    nn_optim_desc od;
    float *x = falloc((size_t)B * IN), *out;
    int y[B], step, i;
    nn_rng r;
    ls[0] = nn_dense(300, NN_ACT_RELU);
    ls[1] = nn_batchnorm();
    ls[2] = nn_dropout(0.25f);
    ls[3] = nn_dense(200, NN_ACT_TANH);
    ls[4] = nn_dense(10, NN_ACT_IDENTITY);
    memset(&d, 0, sizeof d);
    d.inputs = IN; d.max_batch = B; d.layers = ls; d.n_layers = 5; d.seed = 77;
    od = nn_optim_desc_default(NN_OPTIM_ADAMW);
    memset(&a, 0, sizeof a);
    if (nn_arena_init_heap(&a, nn_model_arena_bytes(&d) + nn_optim_arena_bytes(&od, nn_model_param_count(&d))) !=
            NN_OK ||
        nn_model_init(&m, &a, &d) != NN_OK || nn_optim_init(&o, &a, &od, m.n_params) != NN_OK) {
        nn_arena_deinit(&a);
        free(x);
        return NULL;
    }
    m.threads = th;
    nn_rng_seed(&r, 5);
    for (step = 0; step < STEPS; step++) {
        nn_tensor z, dz;
        fill_uniform(&r, x, (size_t)B * IN);
        for (i = 0; i < B; i++) y[i] = (int)nn_rng_below(&r, 10);
        z = nn_model_forward(&m, nn_tensor_2d(x, B, IN));
        dz = nn_model_output_grad(&m);
        nn_loss_cross_entropy(dz, z, y);
        nn_model_zero_grad(&m);
        nn_model_backward(&m, dz);
        nn_optim_step(&o, m.params, m.grads, m.n_params);
    }
    out = falloc(m.n_params);
    memcpy(out, m.params, sizeof(float) * m.n_params);
    *n_out = m.n_params;
    nn_arena_deinit(&a);
    free(x);
    return out;
}

/* Same seed, same data: the same weights with no pool, and on pools of 2, 3
   and 4 threads, fixed or adaptive. */
static void test_threads_training_bit_identical(void) {
    size_t n = 0, n2 = 0;
    float *ref = train(NULL, &n);
    int k;
    CHECK(ref != NULL);
    if (!ref) return;
    for (k = 0; k < 6; k++) {
        nn_threads *t = nn_threads_create(2 + k / 2);
        float *w;
        long par = 0;
        CHECK(t != NULL);
        if (!t) continue;
        nn_threads_set_adaptive(t, k & 1);
        w = train(t, &n2);
        CHECK(w != NULL && n2 == n);
        if (w && n2 == n)
            CHECKF(memcmp(ref, w, sizeof(float) * n) == 0, "%d threads (%s) differ from none", 2 + k / 2,
                   k & 1 ? "adaptive" : "fixed");
        nn_threads_stats(t, NULL, &par, NULL, NULL);
        if (!(k & 1)) CHECKF(par > 0, "%d threads fixed: no GEMM ran on the workers", 2 + k / 2);
        free(w);
        nn_threads_destroy(t);
    }
    free(ref);
}

/* Thousands of jobs back to back, the GEMM just above the size the pool
   splits, checked each time: a late worker must never run a chunk of a newer
   job with an older job's arguments. */
static void test_threads_many_small_jobs(void) {
    enum { M = 24, N = 96, K = 256, CALLS = 3000 };
    nn_threads *t = pool_fixed(3);
    float *A = falloc((size_t)M * K), *B = falloc((size_t)K * N), *C = falloc((size_t)M * N),
          *R = falloc((size_t)M * N);
    nn_rng r;
    int i, bad = 0;
    CHECK(t != NULL);
    if (!t) return;
    nn_rng_seed(&r, 9);
    fill_uniform(&r, A, (size_t)M * K);
    fill_uniform(&r, B, (size_t)K * N);
    for (i = 0; i < CALLS; i++) {
        /* alternate the operands' scale so that a chunk done with stale
           arguments would show */
        float alpha = (float)(1 + (i % 3));
        nn_gemm_at(99, 0, 0, M, N, K, alpha, A, K, B, N, 0.0f, R, N);
        nn_gemm_mt(t, 99, 0, 0, M, N, K, alpha, A, K, B, N, 0.0f, C, N);
        if (memcmp(R, C, sizeof(float) * (size_t)M * N) != 0) bad++;
    }
    CHECKF(bad == 0, "%d of %d calls differ", bad, (int)CALLS);
    nn_threads_destroy(t);
    free(A); free(B); free(C); free(R);
}

#if HAVE_PTHREADS
typedef struct caller_arg {
    nn_threads *pool;
    const float *A, *B, *R;
    float *C;
    int M, N, K, calls, bad;
} caller_arg;

static void *caller_main(void *vp) {
    caller_arg *c = (caller_arg *)vp;
    int i;
    for (i = 0; i < c->calls; i++) {
        nn_gemm_mt(c->pool, 99, 0, 1, c->M, c->N, c->K, 1.0f, c->A, c->K, c->B, c->K, 0.0f, c->C, c->N);
        if (memcmp(c->R, c->C, sizeof(float) * (size_t)c->M * c->N) != 0) c->bad++;
    }
    return NULL;
}

/* Two threads of the program call into one pool at once: each gets right
   answers (one of them runs alone while the other holds the pool), and
   neither blocks. */
static void test_threads_two_callers_share_a_pool(void) {
    enum { M = 64, N = 200, K = 150 };
    nn_threads *t = pool_fixed(2);
    float *A = falloc((size_t)M * K), *B = falloc((size_t)N * K), *R = falloc((size_t)M * N);
    caller_arg c[2];
    pthread_t th[2];
    nn_rng r;
    int i, started = 0;
    CHECK(t != NULL);
    if (!t) return;
    nn_rng_seed(&r, 11);
    fill_uniform(&r, A, (size_t)M * K);
    fill_uniform(&r, B, (size_t)N * K);
    nn_gemm_at(99, 0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, R, N);
    for (i = 0; i < 2; i++) {
        c[i].pool = t; c[i].A = A; c[i].B = B; c[i].R = R; c[i].C = falloc((size_t)M * N);
        c[i].M = M; c[i].N = N; c[i].K = K; c[i].calls = 300; c[i].bad = 0;
    }
    {
        /* a GEMM packs about 330 KB on its caller's stack: more than musl's default */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, (size_t)2 << 20);
        for (i = 0; i < 2; i++)
            if (pthread_create(&th[i], &attr, caller_main, &c[i]) == 0) started++;
        pthread_attr_destroy(&attr);
    }
    CHECK_EQ_INT(started, 2);
    for (i = 0; i < started; i++) pthread_join(th[i], NULL);
    for (i = 0; i < 2; i++) {
        CHECKF(c[i].bad == 0, "caller %d: %d of %d calls wrong", i, c[i].bad, c[i].calls);
        free(c[i].C);
    }
    nn_threads_destroy(t);
    free(A); free(B); free(R);
}
#endif

static const test_case tests[] = {
    TEST(test_threads_life_cycle),
    TEST(test_threads_gemm_bit_identical),
    TEST(test_threads_workers_take_chunks),
    TEST(test_threads_training_bit_identical),
    TEST(test_threads_many_small_jobs),
#if HAVE_PTHREADS
    TEST(test_threads_two_callers_share_a_pool),
#endif
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
