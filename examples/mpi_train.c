/* mpi_train.c - data-parallel training over MPI: the Fashion-MNIST MLP on P
   processes, the same weights as one process.

   mpicc -O2 examples/mpi_train.c -o mpi_train -lm
   mpirun --oversubscribe -np 2 ./mpi_train        (as root: mpirun --allow-run-as-root ...;
                                                    no ssh on the machine: OMPI_MCA_plm_rsh_agent=false)
   (Debian: apt-get install libopenmpi-dev openmpi-bin dataset-fashion-mnist libstb-dev)

   What it teaches, in order:
     1. nn.h knows nothing of MPI. nn_fit takes the global batch, every rank
        shuffles it the same way (the same seed) and trains on its slice
        (nn_fit_desc.world, .rank); after backward, nn_fit hands the rank's
        gradient block to reduce(), which leaves the mean over ranks there.
     2. A deterministic reduction: a reduce-scatter by MPI_Alltoall (rank r
        gets slice r of every rank's block) summed in rank order by
        nn_grad_mean_ordered, then MPI_Allgather. Its traffic is a ring
        allreduce's, 2 (P-1)/P of the block per rank, and its sums do not
        depend on how MPI schedules messages: the weights are bit-identical
        run after run, and to one process training with --accum P (each batch
        in P micro-batches). --reduce allreduce uses MPI_Allreduce(MPI_SUM)
        instead, whose order Open MPI picks (it changes with P).
     3. Start-up checks: the ranks compare their parameter counts and a
        CRC-32C of their initial model (description and weights); a rank that
        differs stops every rank with a message. Then rank 0's weights are
        broadcast (so the ranks agree even with other seeds).
     4. Dropout on per-rank streams (nn_rng_jump); batch norm per rank, as
        PyTorch's DistributedDataParallel: batch statistics of the rank's
        slice, rank 0's running statistics broadcast after every step.
     5. Only rank 0 prints and saves. A checkpoint (model, optimizer) after
        every epoch; --resume continues from it exactly: each epoch's shuffle
        is a function of the seed and the epoch alone.
   Options (defaults): --epochs 5 --batch 512 (global) --rows 60000 --hidden 256
     --reduce ordered|allreduce --accum K (one process: K micro-batches)
     --dropout P (0) --batchnorm --seed S (7) --out build/mpi_model.nnw
     --checkpoint FILE (none) --resume --quiet
     --test-mismatch (rank 1 builds a wider model: the start-up check must stop the run)
     --test-die (rank 1 exits at start-up: mpirun must stop the others, not hang)
   Prints, per epoch: loss, test accuracy, samples/s, and the time in reduce(). */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG /* its zlib inflate is what is used */
#include <stb/stb_image.h>

#define NN_IMPLEMENTATION
#include "../nn.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DATA_DIR "/usr/share/datasets/fashion-mnist"

typedef struct opts {
    int epochs, batch, rows, hidden, accum, batchnorm, resume, quiet, mismatch, die, allreduce;
    float dropout;
    uint64_t seed;
    const char *out, *checkpoint;
} opts;

/* what reduce() needs: the block's slices, buffers, and the time it took */
typedef struct comm {
    int rank, world, allreduce;
    size_t n, chunk;           /* the gradient floats; a rank's slice (n / world rounded up) */
    float *send, *recv, *mine; /* world * chunk, world * chunk, chunk */
    nn_model *m;
    double seconds;
    long calls;
} comm;

static nn_result stb_inflate(void *dst, size_t dst_len, const void *src, size_t src_len) {
    int n;
    if (dst_len > INT_MAX || src_len > INT_MAX) return NN_ERR_TOO_LARGE;
    n = stbi_zlib_decode_noheader_buffer((char *)dst, (int)dst_len, (const char *)src, (int)src_len);
    return n == (int)dst_len ? NN_OK : NN_ERR_CORRUPT;
}

/* The mean of every rank's gradient block, the same bits on every rank. */
static nn_result reduce(float *g, size_t n, void *ctx) {
    comm *c = (comm *)ctx;
    double t0 = MPI_Wtime();
    int ok;
    if (n != c->n) return NN_ERR_SHAPE_MISMATCH;
    if (c->allreduce) {
        ok = MPI_Allreduce(MPI_IN_PLACE, g, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS;
        if (ok) {
            float inv = 1.0f / (float)c->world;
            size_t i;
            for (i = 0; i < n; i++) g[i] *= inv;
        }
    } else {
        /* slice r of the block goes to rank r; each rank sums its slice in rank order */
        memcpy(c->send, g, sizeof(float) * n);
        ok = MPI_Alltoall(c->send, (int)c->chunk, MPI_FLOAT, c->recv, (int)c->chunk, MPI_FLOAT, MPI_COMM_WORLD) ==
             MPI_SUCCESS;
        if (ok) {
            nn_grad_mean_ordered(c->mine, c->recv, c->world, c->chunk, c->chunk);
            ok = MPI_Allgather(c->mine, (int)c->chunk, MPI_FLOAT, c->send, (int)c->chunk, MPI_FLOAT, MPI_COMM_WORLD) ==
                 MPI_SUCCESS;
        }
        if (ok) memcpy(g, c->send, sizeof(float) * n);
    }
    /* one set of batch-norm running statistics: rank 0's (DDP's broadcast_buffers) */
    if (ok && c->m->n_buffers)
        ok = MPI_Bcast(c->m->buffers, (int)c->m->n_buffers, MPI_FLOAT, 0, MPI_COMM_WORLD) == MPI_SUCCESS;
    c->seconds += MPI_Wtime() - t0;
    c->calls++;
    return ok ? NN_OK : NN_ERR_IO;
}

static int parse(int argc, char **argv, opts *o) {
    int i;
    memset(o, 0, sizeof *o);
    o->epochs = 5; o->batch = 512; o->rows = 60000; o->hidden = 256; o->accum = 1; o->seed = 7;
    o->out = "build/mpi_model.nnw";
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--batchnorm")) o->batchnorm = 1;
        else if (!strcmp(a, "--resume")) o->resume = 1;
        else if (!strcmp(a, "--quiet")) o->quiet = 1;
        else if (!strcmp(a, "--test-mismatch")) o->mismatch = 1;
        else if (!strcmp(a, "--test-die")) o->die = 1;
        else if (!v) return 0;
        else if (!strcmp(a, "--epochs")) o->epochs = atoi(v), i++;
        else if (!strcmp(a, "--batch")) o->batch = atoi(v), i++;
        else if (!strcmp(a, "--rows")) o->rows = atoi(v), i++;
        else if (!strcmp(a, "--hidden")) o->hidden = atoi(v), i++;
        else if (!strcmp(a, "--accum")) o->accum = atoi(v), i++;
        else if (!strcmp(a, "--dropout")) o->dropout = (float)atof(v), i++;
        else if (!strcmp(a, "--seed")) o->seed = (uint64_t)strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--out")) o->out = v, i++;
        else if (!strcmp(a, "--checkpoint")) o->checkpoint = v, i++;
        else if (!strcmp(a, "--reduce")) {
            if (strcmp(v, "ordered") && strcmp(v, "allreduce")) return 0;
            o->allreduce = !strcmp(v, "allreduce");
            i++;
        } else return 0;
    }
    return o->epochs >= 1 && o->batch >= 1 && o->rows >= 1 && o->hidden >= 1 && o->accum >= 1 &&
           o->dropout >= 0.0f && o->dropout < 1.0f;
}

/* the same on every rank: 0 to go on, else the exit code (rank 0 said why) */
static int agree(int bad) {
    int any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

int main(int argc, char **argv) {
    opts o;
    comm c;
    nn_idx tx, ty, sx, sy;
    nn_data train, test;
    nn_layer_desc l[7];
    nn_model_desc md;
    nn_optim_desc od;
    nn_arena arena;
    nn_model m;
    nn_optim opt;
    nn_train_state st;
    float table[256];
    int rank, world, n = 0, e, first_epoch = 1, steps, i, bad = 0, local;
    unsigned long info[2], *all;
    int *labels;
    unsigned char *file;
    size_t len;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (!parse(argc, argv, &o)) {
        if (rank == 0) fprintf(stderr, "usage: see the comment at the top of examples/mpi_train.c\n");
        MPI_Finalize();
        return 2;
    }
    if ((world > 1 && o.accum > 1) || o.batch % (world * o.accum) != 0) {
        if (rank == 0)
            fprintf(stderr, "mpi_train: the batch %d must split into %d equal slices (--accum only alone)\n", o.batch,
                    world * o.accum);
        MPI_Finalize();
        return 2;
    }
    /* the data: every rank reads it all (47 MB of bytes); nn_fit picks the rows */
    {
        char p[4][512];
        const char *names[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                                "t10k-labels-idx1-ubyte.gz"};
        nn_idx *dst[4];
        dst[0] = &tx; dst[1] = &ty; dst[2] = &sx; dst[3] = &sy;
        for (i = 0; i < 4; i++) {
            snprintf(p[i], sizeof p[i], "%s/%s", DATA_DIR, names[i]);
            if (nn_idx_load(dst[i], p[i], stb_inflate) != NN_OK) bad = 1;
        }
        if (bad && rank == 0) fprintf(stderr, "mpi_train: cannot read Fashion-MNIST in %s (apt-get install "
                                              "dataset-fashion-mnist)\n", DATA_DIR);
        if (agree(bad)) {
            MPI_Finalize();
            return 1;
        }
    }
    nn_u8_table_normalize(table, 255.0f, 0.2860f, 0.3530f);
    {
        labels = (int *)malloc(sizeof(int) * 70000);
        if (!labels) MPI_Abort(MPI_COMM_WORLD, 1);
        for (i = 0; i < ty.dims[0]; i++) labels[i] = ty.data[i];
        for (i = 0; i < sy.dims[0]; i++) labels[60000 + i] = sy.data[i];
        memset(&train, 0, sizeof train);
        memset(&test, 0, sizeof test);
        train.n = o.rows < tx.dims[0] ? o.rows : tx.dims[0];
        train.features = test.features = 784;
        train.x_u8 = tx.data;
        test.x_u8 = sx.data;
        train.table = test.table = table;
        train.labels = labels;
        test.labels = labels + 60000;
        test.n = sy.dims[0];
    }
    /* the model: 784-H-128-10, batch norm and dropout on request */
    l[n++] = nn_dense(o.hidden + (o.mismatch && rank == 1), o.batchnorm ? NN_ACT_IDENTITY : NN_ACT_RELU);
    if (o.batchnorm) l[n++] = nn_batchnorm(), l[n++] = nn_activation(NN_ACT_RELU);
    if (o.dropout > 0.0f) l[n++] = nn_dropout(o.dropout);
    l[n++] = nn_dense(128, NN_ACT_RELU);
    l[n++] = nn_dense(10, NN_ACT_IDENTITY);
    memset(&md, 0, sizeof md);
    md.inputs = 784; md.max_batch = o.batch / world / o.accum; md.layers = l; md.n_layers = n; md.seed = o.seed;
    od = nn_optim_desc_default(NN_OPTIM_ADAMW);
    od.lr = 1e-3f;
    if (nn_arena_init_heap(&arena, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md)) +
                                       ((size_t)64 << 20)) != NN_OK || /* + nn_fit's scratch */
        nn_model_init(&m, &arena, &md) != NN_OK || nn_optim_init(&opt, &arena, &od, m.n_params) != NN_OK) {
        fprintf(stderr, "mpi_train: rank %d: model: %s\n", rank, m.error);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (o.die && rank == 1) exit(4); /* a crash before the handshake: mpirun ends the job */
    /* start-up: the same model everywhere, or a message and a stop */
    len = nn_model_save_size(&m, NULL);
    file = (unsigned char *)malloc(len);
    if (!file || nn_model_save_to_memory(&m, NULL, file, len, NULL) != NN_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    info[0] = (unsigned long)m.n_params;
    info[1] = (unsigned long)nn_crc32c(0, file, len);
    free(file);
    all = (unsigned long *)malloc(sizeof info * (size_t)world);
    MPI_Allgather(info, 2, MPI_UNSIGNED_LONG, all, 2, MPI_UNSIGNED_LONG, MPI_COMM_WORLD);
    for (i = 1; i < world; i++)
        if (all[2 * i] != all[0] || all[2 * i + 1] != all[1]) {
            if (rank == 0)
                fprintf(stderr, "mpi_train: rank %d's model differs from rank 0's: %lu parameters (CRC %08lx), rank 0 "
                                "%lu (CRC %08lx); every rank must build the same model\n",
                        i, all[2 * i], all[2 * i + 1], all[0], all[1]);
            bad = 1;
        }
    free(all);
    if (bad) {
        MPI_Finalize();
        return 3;
    }
    MPI_Bcast(m.params, (int)m.n_params, MPI_FLOAT, 0, MPI_COMM_WORLD);
    /* resume: every rank reads rank 0's checkpoint (model, optimizer, the dropout stream) */
    memset(&st, 0, sizeof st);
    st.optim = &opt;
    steps = train.n / o.batch;
    if (o.resume && o.checkpoint) {
        nn_result r = nn_model_load(&m, &st, o.checkpoint);
        if (r != NN_OK && rank == 0) fprintf(stderr, "mpi_train: --resume: %s: %s %s\n", o.checkpoint,
                                             nn_result_string(r), m.error);
        if (agree(r != NN_OK)) {
            MPI_Finalize();
            return 1;
        }
        first_epoch = (int)(opt.step / steps) + 1;
    }
    for (i = 0; i < rank; i++) nn_rng_jump(&m.rng); /* rank i's dropout stream */
    memset(&c, 0, sizeof c);
    c.rank = rank; c.world = world; c.allreduce = o.allreduce; c.m = &m;
    c.n = m.n_params;
    c.chunk = (m.n_params + (size_t)world - 1) / (size_t)world;
    c.send = (float *)calloc(c.chunk * (size_t)world, sizeof(float));
    c.recv = (float *)calloc(c.chunk * (size_t)world, sizeof(float));
    c.mine = (float *)calloc(c.chunk, sizeof(float));
    if (!c.send || !c.recv || !c.mine) MPI_Abort(MPI_COMM_WORLD, 1);
    if (rank == 0 && !o.quiet)
        printf("%d ranks, global batch %d (%d a rank%s), %d training rows, %lu parameters, %s reduction\n", world,
               o.batch, o.batch / world / o.accum, o.accum > 1 ? " in micro-batches" : "", train.n,
               (unsigned long)m.n_params, o.allreduce ? "MPI_Allreduce" : "ordered");
    for (e = first_epoch; e <= o.epochs; e++) {
        nn_fit_desc d = nn_fit_desc_default(1, o.batch);
        nn_fit_result res;
        double t0 = MPI_Wtime(), t;
        d.seed = o.seed * 1000003u + (uint64_t)e; /* this epoch's shuffle, whatever came before */
        d.drop_last = 1;
        d.monitor = NN_MONITOR_TRAIN_LOSS;
        d.decay_all = 1;
        if (world > 1) {
            d.world = world;
            d.rank = rank;
            d.reduce = reduce;
            d.reduce_ctx = &c;
        }
        d.accum = o.accum;
        c.seconds = 0.0;
        local = nn_fit(&m, &opt, &arena, &train, &d, &res) != NN_OK;
        if (local) fprintf(stderr, "mpi_train: rank %d: %s\n", rank, res.error);
        if (agree(local)) MPI_Abort(MPI_COMM_WORLD, 1);
        t = MPI_Wtime() - t0;
        if (rank == 0) {
            if (!o.quiet) {
                nn_model_set_mode(&m, NN_MODE_EVAL);
                {
                    static float xb[256 * 784];
                    static int yb[256], rows[256];
                    int right = 0, r0, k;
                    for (r0 = 0; r0 < test.n; r0 += k) {
                        int b = NN__MIN(NN__MIN(m.max_batch, 256), test.n - r0);
                        nn_tensor z;
                        for (k = 0; k < b; k++) rows[k] = r0 + k;
                        nn_data_gather(&test, rows, b, xb, yb, NULL);
                        z = nn_model_forward(&m, nn_tensor_2d(xb, b, 784));
                        for (k = 0; k < b; k++) {
                            int best = 0;
                            nn_argmax_rows(&best, z.data + (size_t)k * 10, 1, 10);
                            right += best == yb[k];
                        }
                    }
                    printf("epoch %d: loss %.4f, test accuracy %.2f%%, %.0f samples/s, reduce %.1f%% of the time "
                           "(%.2f ms a step)\n", e, (double)res.best, 100.0 * right / test.n,
                           steps * (double)o.batch / t, 100.0 * c.seconds / t, 1e3 * c.seconds / steps);
                }
                nn_model_set_mode(&m, NN_MODE_TRAIN);
            }
            if (o.checkpoint && nn_model_save(&m, &st, o.checkpoint) != NN_OK)
                fprintf(stderr, "mpi_train: cannot write %s\n", o.checkpoint);
        }
    }
    /* the ranks must end with the same weights */
    info[0] = (unsigned long)nn_crc32c(0, m.params, sizeof(float) * m.n_params);
    all = (unsigned long *)malloc(sizeof(unsigned long) * (size_t)world);
    MPI_Gather(info, 1, MPI_UNSIGNED_LONG, all, 1, MPI_UNSIGNED_LONG, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        for (i = 1; i < world; i++)
            if (all[i] != all[0]) {
                fprintf(stderr, "mpi_train: rank %d ended with other weights (CRC %08lx, rank 0 %08lx)\n", i, all[i],
                        all[0]);
                bad = 1;
            }
        if (!bad && nn_model_save(&m, NULL, o.out) != NN_OK) {
            fprintf(stderr, "mpi_train: cannot write %s\n", o.out);
            bad = 1;
        }
        if (!bad && !o.quiet) printf("saved %s (weights CRC %08lx, the same on all %d ranks)\n", o.out, all[0], world);
    }
    free(all);
    free(c.send); free(c.recv); free(c.mine);
    nn_arena_deinit(&arena);
    nn_idx_free(&tx); nn_idx_free(&ty); nn_idx_free(&sx); nn_idx_free(&sy);
    free(labels);
    MPI_Finalize();
    return bad;
}
