/* game.c - a creature that steers toward food and around hazards, its brain a
   network trained inside this program and then compiled into it.

   cc -O2 -o game examples/game.c -lm
   ./game                   play 600 frames with the compiled-in policy (game_policy.h),
                            print the cost of a frame's decision, write build/game_*.png
   ./game play N DIR        N frames, pictures into the directory DIR
   ./game train [FILE]      train a new policy and export it as C (default build/game_policy.h;
                            examples/game_policy.h is the one compiled in: copy it there and
                            rebuild to play with it)

   What it teaches: the whole path from training to shipping a network in a game.
   - The world is a square that wraps around: pellets of food, round hazards, and a
     creature that moves at a constant speed and each frame turns left, goes
     straight or turns right.
   - Its senses are eight numbers: where the nearest food and the two nearest
     hazards are, seen from its own heading (sine and cosine of the bearing, and
     how near), and its last turn.
   - A hand-written expert knows what to do: turn toward the food unless a hazard
     is close ahead, then turn away from it.
   - The network learns the expert's choices by imitation with DAgger (Ross et al.
     2011): the first data comes from the expert driving; in each later round the
     network drives, and the expert labels the states the network itself reaches,
     so that it learns to recover from its own mistakes.
   - Training ends with nn_model_export_c: the weights become C source that the
     game compiles in (game_policy.h), and playing needs no file at all: a
     static arena, one nn_model_forward per frame, no allocation.
   - Playing writes pictures: frames every 10 steps of the first 200 and the
     whole trail, so a reader can see what it does.
   Every run with the same seed gives the same weights and the same game.
   The PNG writer is stb_image_write.h, the digits stb_easy_font.h
   (Debian/Ubuntu: apt-get install libstb-dev). */
#define NN_IMPLEMENTATION
#include "../nn.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef GAME_NO_POLICY   /* (defined only to build the very first policy) */
#include "game_policy.h" /* the compiled-in policy: policy_init, POLICY_ARENA_BYTES */
#endif

#define N_FOOD 10
#define N_HAZARD 6
#define N_SENSE 8
#define N_ACTION 3         /* 0 left, 1 straight, 2 right */
#define SPEED 0.008f       /* per frame, the world being 1 x 1 */
#define TURN 0.20f         /* radians per frame */
#define EAT_R 0.025f
#define HAZARD_R 0.06f
#define SEE_R 0.25f        /* the nearness sense fades to 0 at this distance */
#define PI_F 3.14159265f

typedef struct { float x, y; } vec2;
typedef struct {
    vec2 food[N_FOOD], hazard[N_HAZARD], pos;
    float heading;
    int last_turn, eaten, hits, inside; /* inside: in a hazard now (a hit counts once) */
    nn_rng rng;
} world;

/* ---- the world ---------------------------------------------------------- */
static float wrap(float v) { return v - floorf(v); }
/* the shortest offset from a to b on the torus */
static vec2 offset(vec2 a, vec2 b) {
    vec2 d;
    d.x = b.x - a.x; d.y = b.y - a.y;
    d.x -= floorf(d.x + 0.5f);
    d.y -= floorf(d.y + 0.5f);
    return d;
}
static float len2(vec2 d) { return sqrtf(d.x * d.x + d.y * d.y); }
static vec2 random_point(nn_rng *r) {
    vec2 p;
    p.x = nn_rng_uniform(r); p.y = nn_rng_uniform(r);
    return p;
}
/* food never appears inside a hazard */
static vec2 new_food(world *w) {
    for (;;) {
        vec2 p = random_point(&w->rng);
        int i, ok = 1;
        for (i = 0; i < N_HAZARD; i++)
            if (len2(offset(p, w->hazard[i])) < HAZARD_R + EAT_R) ok = 0;
        if (ok) return p;
    }
}
static void world_init(world *w, uint64_t seed) {
    int i;
    memset(w, 0, sizeof *w);
    nn_rng_seed(&w->rng, seed);
    for (i = 0; i < N_HAZARD; i++) w->hazard[i] = random_point(&w->rng);
    for (i = 0; i < N_FOOD; i++) w->food[i] = new_food(w);
    w->pos = new_food(w); /* a start outside every hazard */
    w->heading = 2.0f * PI_F * nn_rng_uniform(&w->rng);
    w->last_turn = 1;
}

/* bearing of d seen from the heading: s = sin, c = cos of the angle to turn */
static void bearing(const world *w, vec2 d, float *s, float *c) {
    float n = len2(d) + 1e-9f, hx = cosf(w->heading), hy = sinf(w->heading);
    *c = (d.x * hx + d.y * hy) / n;
    *s = (hx * d.y - hy * d.x) / n; /* > 0: to the left */
}
static int nearest(const world *w, const vec2 *p, int n, int skip) {
    int i, best = -1;
    float bd = 1e9f;
    for (i = 0; i < n; i++) {
        float d = len2(offset(w->pos, p[i]));
        if (i != skip && d < bd) { bd = d; best = i; }
    }
    return best;
}
static float nearness(vec2 d) {
    float v = 1.0f - len2(d) / SEE_R;
    return v > 0.0f ? v : 0.0f;
}
/* the eight senses: food (sin, cos, nearness), two hazards (sin, cos,
   nearness folded into sin and cos), last turn */
static void sense(const world *w, float *o) {
    int f = nearest(w, w->food, N_FOOD, -1), h1 = nearest(w, w->hazard, N_HAZARD, -1);
    int h2 = nearest(w, w->hazard, N_HAZARD, h1);
    vec2 d = offset(w->pos, w->food[f]), e1 = offset(w->pos, w->hazard[h1]), e2 = offset(w->pos, w->hazard[h2]);
    float s, c, n1 = nearness(e1), n2 = nearness(e2);
    bearing(w, d, &o[0], &o[1]);
    o[2] = 1.0f - len2(d) / 0.75f;
    bearing(w, e1, &s, &c);
    o[3] = s * n1; o[4] = c * n1; o[5] = n1;
    bearing(w, e2, &s, &c);
    o[6] = s * n2; o[7] = (float)(w->last_turn - 1);
}

/* The expert, from the same senses: a hazard near and ahead wins, and is
   dodged to the side it is not on, unless the food is nearer than the
   hazard's edge (else it would circle a hazard with food beside it
   forever); otherwise turn toward the food unless it is nearly straight
   ahead. */
static int expert(const float *o) {
    float food_d = (1.0f - o[2]) * 0.75f, hazard_edge = (1.0f - o[5]) * SEE_R - HAZARD_R;
    if (o[5] > 0.25f && o[4] > -0.2f * o[5] && food_d > hazard_edge) return o[3] > 0.0f ? 2 : 0;
    if (o[1] > 0.985f) return 1;
    return o[0] > 0.0f ? 0 : 2;
}

/* one frame: turn, move, eat, count a hit on entering a hazard */
static void step(world *w, int action) {
    int i, in = 0;
    w->heading += (float)(1 - action) * TURN;
    w->last_turn = action;
    w->pos.x = wrap(w->pos.x + SPEED * cosf(w->heading));
    w->pos.y = wrap(w->pos.y + SPEED * sinf(w->heading));
    for (i = 0; i < N_FOOD; i++)
        if (len2(offset(w->pos, w->food[i])) < EAT_R) {
            w->eaten++;
            w->food[i] = new_food(w);
        }
    for (i = 0; i < N_HAZARD; i++)
        if (len2(offset(w->pos, w->hazard[i])) < HAZARD_R) in = 1;
    if (in && !w->inside) w->hits++;
    w->inside = in;
}

/* ---- the policy: argmax of the network's three logits --------------------- */
static int policy(nn_model *net, const float *o) {
    nn_tensor z = nn_model_forward(net, nn_tensor_2d((float *)(size_t)o, 1, N_SENSE));
    int a = 0, i;
    for (i = 1; i < N_ACTION; i++)
        if (z.data[i] > z.data[a]) a = i;
    return a;
}

/* who drives: 0 expert, 1 network, 2 random */
static void play_episode(world *w, nn_model *net, int driver, int frames) {
    float o[N_SENSE];
    int t;
    for (t = 0; t < frames; t++) {
        sense(w, o);
        step(w, driver == 0 ? expert(o) : driver == 1 ? policy(net, o) : (int)(nn_rng_u64(&w->rng) % 3));
    }
}
/* food and hits summed over the same 8 worlds, each 1000 frames */
static void evaluate(nn_model *net, int driver, int *eaten, int *hits) {
    int e;
    *eaten = *hits = 0;
    for (e = 0; e < 8; e++) {
        world w;
        world_init(&w, 1000 + (uint64_t)e);
        play_episode(&w, net, driver, 1000);
        *eaten += w.eaten;
        *hits += w.hits;
    }
}

/* ---- training: DAgger ------------------------------------------------------ */
#define ROUNDS 5
#define PER_ROUND 6000 /* labelled states gathered per round */
#define MAX_DATA (ROUNDS * PER_ROUND)
#define BATCH 64

static nn_layer_desc policy_layers[3];
static void policy_desc(nn_model_desc *md) {
    policy_layers[0] = nn_dense(32, NN_ACT_TANH);
    policy_layers[1] = nn_dense(32, NN_ACT_TANH);
    policy_layers[2] = nn_dense(N_ACTION, NN_ACT_IDENTITY); /* logits */
    memset(md, 0, sizeof *md);
    md->inputs = N_SENSE; md->max_batch = BATCH; md->layers = policy_layers; md->n_layers = 3; md->seed = 7;
}

static int train(const char *path) {
    static float xs[MAX_DATA * N_SENSE];
    static int ys[MAX_DATA];
    float bx[BATCH * N_SENSE];
    int by[BATCH], n = 0, round, e_eat, e_hit, n_eat, n_hit, r_eat, r_hit;
    nn_model_desc md;
    nn_optim_desc od;
    nn_arena arena;
    nn_model net;
    nn_optim opt;
    nn_rng rng;
    FILE *f;
    policy_desc(&md);
    od = nn_optim_desc_default(NN_OPTIM_ADAM);
    od.lr = 3e-3f;
    if (nn_arena_init_heap(&arena, nn_model_arena_bytes(&md) + nn_optim_arena_bytes(&od, nn_model_param_count(&md))) ||
        nn_model_init(&net, &arena, &md) || nn_optim_init(&opt, &arena, &od, net.n_params)) {
        fprintf(stderr, "game: %s\n", net.error);
        return 1;
    }
    nn_rng_seed(&rng, 42);
    for (round = 0; round < ROUNDS; round++) {
        int got = 0, epoch, i;
        float loss = 0.0f;
        /* gather: the expert drives in round 0, the network after; the
           expert labels every state either way */
        while (got < PER_ROUND) {
            world w;
            int t;
            world_init(&w, nn_rng_u64(&rng));
            nn_model_set_mode(&net, NN_MODE_EVAL);
            for (t = 0; t < 500 && got < PER_ROUND; t++, got++, n++) {
                float *o = xs + (size_t)n * N_SENSE;
                sense(&w, o);
                ys[n] = expert(o);
                step(&w, round == 0 ? ys[n] : policy(&net, o));
            }
        }
        /* fit on everything gathered so far */
        nn_model_set_mode(&net, NN_MODE_TRAIN);
        for (epoch = 0; epoch < 10; epoch++) {
            int s, steps = n / BATCH;
            loss = 0.0f;
            for (s = 0; s < steps; s++) {
                nn_tensor z;
                for (i = 0; i < BATCH; i++) {
                    int k = (int)(nn_rng_u64(&rng) % (uint64_t)n);
                    memcpy(bx + i * N_SENSE, xs + (size_t)k * N_SENSE, sizeof(float) * N_SENSE);
                    by[i] = ys[k];
                }
                z = nn_model_forward(&net, nn_tensor_2d(bx, BATCH, N_SENSE));
                loss += nn_loss_cross_entropy(nn_model_output_grad(&net), z, by);
                nn_model_zero_grad(&net);
                if (nn_model_backward(&net, nn_model_output_grad(&net)) != NN_OK ||
                    nn_optim_step(&opt, net.params, net.grads, net.n_params) != NN_OK) {
                    fprintf(stderr, "game: %s %s\n", net.error, opt.error);
                    return 1;
                }
            }
            loss /= (float)steps;
        }
        nn_model_set_mode(&net, NN_MODE_EVAL);
        evaluate(&net, 1, &n_eat, &n_hit);
        printf("round %d: %5d states, loss %.4f; the network eats %d, hits %d hazards (8 worlds x 1000 frames)\n",
               round + 1, n, (double)loss, n_eat, n_hit);
    }
    evaluate(&net, 0, &e_eat, &e_hit);
    evaluate(&net, 2, &r_eat, &r_hit);
    printf("expert eats %d, hits %d; random eats %d, hits %d\n", e_eat, e_hit, r_eat, r_hit);
    f = fopen(path, "wb");
    if (!f || nn_model_export_c(&net, "policy", f) != NN_OK || fclose(f) != 0) {
        fprintf(stderr, "game: cannot write %s\n", path);
        return 1;
    }
    printf("policy exported to %s (%lu parameters)\n", path, (unsigned long)net.n_params);
    nn_arena_deinit(&arena);
    /* what this example promises: the imitation is close to the expert */
    if (n_eat < e_eat * 8 / 10 || n_hit > e_hit + 8 || n_eat < 4 * r_eat) {
        fprintf(stderr, "game: the trained policy falls short of the expert\n");
        return 1;
    }
    return 0;
}

#ifdef GAME_NO_POLICY
static int play(int frames, const char *dir) {
    (void)frames; (void)dir;
    fprintf(stderr, "game: built without a policy: run ./game train examples/game_policy.h and rebuild\n");
    return 1;
}
#else
/* ---- pictures ------------------------------------------------------------- */
#define PX 320
typedef struct { unsigned char rgb[PX * PX * 3]; } canvas;
static void put(canvas *c, int x, int y, int r, int g, int b) {
    unsigned char *p;
    x = ((x % PX) + PX) % PX; /* the world wraps, and so does the picture */
    y = ((y % PX) + PX) % PX;
    p = c->rgb + ((size_t)y * PX + (size_t)x) * 3;
    p[0] = (unsigned char)r; p[1] = (unsigned char)g; p[2] = (unsigned char)b;
}
static void disc(canvas *c, vec2 at, float rad, int r, int g, int b) {
    int cx = (int)(at.x * PX), cy = (int)((1.0f - at.y) * PX), R = (int)(rad * PX + 0.5f), x, y;
    for (y = -R; y <= R; y++)
        for (x = -R; x <= R; x++)
            if (x * x + y * y <= R * R) put(c, cx + x, cy + y, r, g, b);
}
static void text(canvas *c, int x0, int y0, const char *s) {
    static char buf[20000];
    int quads = stb_easy_font_print(0.0f, 0.0f, (char *)(size_t)s, NULL, buf, sizeof buf), q, x, y;
    for (q = 0; q < quads; q++) {
        const float *v = (const float *)(void *)(buf + q * 64); /* 4 vertices of 16 bytes */
        int xa = (int)v[0], ya = (int)v[1], xb = (int)v[8], yb = (int)v[9];
        for (y = y0 + ya * 2; y < y0 + yb * 2 && y < PX; y++) /* clipped, not wrapped */
            for (x = x0 + xa * 2; x < x0 + xb * 2 && x < PX; x++) put(c, x, y, 255, 255, 255);
    }
}
static void draw(canvas *c, const world *w, const vec2 *trail, int n_trail, const char *caption) {
    int i;
    memset(c->rgb, 24, sizeof c->rgb);
    for (i = 0; i < n_trail; i++) disc(c, trail[i], 0.002f, 90, 110, 160);
    for (i = 0; i < N_HAZARD; i++) disc(c, w->hazard[i], HAZARD_R, 190, 50, 40);
    for (i = 0; i < N_FOOD; i++) disc(c, w->food[i], 0.008f, 90, 210, 90);
    disc(c, w->pos, 0.014f, 250, 220, 80);
    {   /* the heading: a short line of dots ahead */
        vec2 p = w->pos;
        for (i = 0; i < 6; i++) {
            p.x = wrap(p.x + 0.006f * cosf(w->heading));
            p.y = wrap(p.y + 0.006f * sinf(w->heading));
            disc(c, p, 0.003f, 250, 220, 80);
        }
    }
    text(c, 6, 6, caption);
}
static int save(const canvas *c, const char *dir, const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stbi_write_png(path, PX, PX, 3, c->rgb, PX * 3) ? 0 : 1;
}

/* ---- playing from the compiled-in weights --------------------------------- */
static int play(int frames, const char *dir) {
    static unsigned char mem[NN_ARENA_BUFFER_BYTES(POLICY_ARENA_BYTES)]; /* no heap */
    static vec2 trail[100000];
    static canvas c;
    nn_arena arena;
    nn_model net;
    world w, we;
    float o[N_SENSE];
    char cap[96], name[64];
    int t, shots = 0, bad = 0, reps = 20000;
    clock_t t0;
    double us;
    if (nn_arena_init(&arena, mem, sizeof mem) != NN_OK || policy_init(&net, &arena) != NN_OK) {
        fprintf(stderr, "game: the compiled-in policy does not fit this nn.h: %s\n", net.error);
        return 1;
    }
    world_init(&w, 2026);
    for (t = 0; t < frames; t++) {
        sense(&w, o);
        step(&w, policy(&net, o)); /* one forward pass a frame, batch 1 */
        if (t < (int)(sizeof trail / sizeof trail[0])) trail[t] = w.pos;
        if (dir && t < 200 && t % 10 == 0) {
            snprintf(cap, sizeof cap, "T %d  FOOD %d  HITS %d", t, w.eaten, w.hits);
            snprintf(name, sizeof name, "game_frame_%03d.png", t);
            draw(&c, &w, trail, t + 1, cap);
            bad |= save(&c, dir, name);
            shots++;
        }
    }
    /* the cost of a frame's decision, timed over many calls (one call is
       below the clock's resolution) */
    t0 = clock();
    for (t = 0; t < reps; t++) {
        sense(&w, o);
        o[7] = (float)(policy(&net, o) - 1);
    }
    us = 1e6 * (double)(clock() - t0) / CLOCKS_PER_SEC / reps;
    /* the same world and frames driven by the expert, for comparison */
    world_init(&we, 2026);
    play_episode(&we, NULL, 0, frames);
    printf("%d frames: the network ate %d and hit %d hazards (the expert: %d and %d); a frame's decision "
           "(senses and nn_model_forward at batch 1) takes %.2f us\n",
           frames, w.eaten, w.hits, we.eaten, we.hits, us);
    if (dir) {
        snprintf(cap, sizeof cap, "T %d  FOOD %d  HITS %d", frames, w.eaten, w.hits);
        draw(&c, &w, trail, frames < 100000 ? frames : 100000, cap);
        bad |= save(&c, dir, "game_trail.png");
        if (bad) fprintf(stderr, "game: cannot write the pictures into %s (does it exist?)\n", dir);
        else printf("%d frames and the trail written to %s/game_*.png\n", shots, dir);
    }
    /* what this example promises: the compiled-in policy plays about as well as the expert */
    if (w.eaten < we.eaten * 7 / 10 || w.hits > we.hits + 2) {
        fprintf(stderr, "game: the compiled-in policy plays far worse than the expert\n");
        return 1;
    }
    return bad;
}
#endif

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "train")) return train(argc > 2 ? argv[2] : "build/game_policy.h");
    if (argc > 1 && strcmp(argv[1], "play")) {
        fprintf(stderr, "usage: game [play [frames [dir]]] | game train [file]\n");
        return 2;
    }
    {
        int frames = argc > 2 ? atoi(argv[2]) : 600;
        if (frames < 1 || frames > 1000000) {
            fprintf(stderr, "game: frames in 1..1000000\n");
            return 2;
        }
        return play(frames, argc > 3 ? argv[3] : "build");
    }
}
