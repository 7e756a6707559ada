/* test_optim.c - tests for nn.h's optimizers, L-BFGS, learning-rate schedules and
   training utilities: PyTorch trajectories (tests/fixtures/opt_*.txt, sched_*.txt,
   written by tests/gen_fixtures.py), regularizers, clipping, finiteness, size queries
   and error paths.

   Build and run from the repository root (fixture paths are relative to it):
       gcc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror tests/test_optim.c -o /tmp/to -lm && /tmp/to
   `/tmp/to sched` runs only the tests whose name contains "sched".

   Tolerances:
     optimizers  PARITY.md: |got-want| <= 1e-5 |want| + 1e-5 max|want| over each whole
                 trajectory (30 steps x 17 or 3 values).
     schedules   |got-want| <= 1e-6 |want| + 1e-9 per step (the issue asks 1e-6).
     L-BFGS      max_iter 2: 1e-4 (PARITY rule with rtol = atol = 1e-4). L-BFGS divides by
                 curvature pairs s.y whose float32 rounding depends on summation order
                 (nn.h sums dot products in double, torch in float32) and the line search
                 compares losses, so 1e-5 is not guaranteed; 1e-4 still catches any wrong
                 formula (a wrong direction or step changes the point at the 1e-1 level).
                 max_iter 20: float32 chaotic (see the fixtures); first point within 1e-3
                 and the final point within 1e-3 of the minimum (1,1), as PyTorch's. */
#ifndef NN_TEST_LINKED /* built against a separately compiled implementation */
#define NN_IMPLEMENTATION
#endif
#include "../nn.h"
#include "fixture.h"
#include "test.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifndef FIXTURE_DIR
#define FIXTURE_DIR "tests/fixtures/"
#endif

/* ------------------------------------------------------------------ helpers */

static float *falloc(size_t n) {
    float *p = (float *)calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "test: out of memory\n");
        exit(2);
    }
    return p;
}

/* A desc with everything else at its default (torch.optim's). */
static nn_optim_desc optim_desc(nn_optim_kind kind, float lr) {
    nn_optim_desc d = nn_optim_desc_default(kind);
    d.lr = lr;
    return d;
}

/* Load tests/fixtures/<name>.txt; a missing file is a failed check. */
static int load_case(fx_file *f, const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s%s.txt", FIXTURE_DIR, name);
    return CHECKF(fx_load(f, path) == 0, "cannot load fixture %s", path);
}

/* Lookup without the "no tensor" message: for optional hyperparameters. */
static const fx_tensor *fx_find(const fx_file *f, const char *name) {
    int i;
    for (i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

static const fx_tensor *fx_need(const fx_file *f, const char *name, int size) {
    const fx_tensor *t = fx_find(f, name);
    CHECKF(t != NULL, "%s: no tensor '%s'", f->path, name);
    if (t && size >= 0 && !CHECKF(t->size == size, "%s: '%s' has %d values, expected %d", f->path, name, t->size, size))
        return NULL;
    return t;
}

static float hp_need(const fx_file *f, const char *name) {
    const fx_tensor *t = fx_need(f, name, 1);
    return t ? t->data[0] : (float)NAN;
}

/* The decimal PyTorch was given: fixtures store hyperparameters as float32
   (0.98 -> 0.980000019), and schedules take doubles because gamma^t in float
   drifts by t * 2^-24. The shortest decimal that rounds to the same float is
   the value the fixture script wrote (hyperparameters are short decimals). */
static double hp_decimal(const fx_file *f, const char *name) {
    float v = hp_need(f, name);
    char buf[64];
    int digits;
    for (digits = 1; digits <= 9; digits++) {
        double d;
        snprintf(buf, sizeof buf, "%.*g", digits, (double)v);
        d = strtod(buf, NULL);
        if ((float)d == v) return d;
    }
    return v;
}

/* Every rank-0 entry of a fixture is a hyperparameter; each must be one the test maps
   (so a new fixture field cannot be silently ignored). known is NULL-terminated. */
static void hp_all_known(const fx_file *f, const char *const *known) {
    int i, k;
    for (i = 0; i < f->n; i++) {
        int found = 0;
        if (f->t[i].rank != 0) continue;
        for (k = 0; known[k]; k++)
            if (strcmp(known[k], f->t[i].name) == 0) found = 1;
        CHECKF(found, "%s: hyperparameter '%s' (= %g) is not mapped to nn.h", f->path, f->t[i].name,
               (double)f->t[i].data[0]);
    }
}

/* Worst-error bookkeeping, reported per case. Relative error is taken where it means
   something (as test_core.c): elements of at least 1e-3 of their array's scale. */
typedef struct err_stats {
    double worst_rel;    /* worst |got-want| / |want| */
    double worst_scaled; /* worst |got-want| / max|want| of the array */
} err_stats;

/* |got-want| <= rtol |want| + atol max|want| + aabs over a whole array of `rows` rows of
   `cols` values (trajectory rows are steps); aabs = 0 is PARITY.md's rule. Reports the
   first failing (row, col). Returns 1 when all pass. */
static int cmp_tol(err_stats *st, const char *file, const char *what, const float *got, const float *want, int rows,
                   int cols, double rtol, double atol, double aabs) {
    double scale = 0.0, worst = 0.0, dmax = 0.0;
    int i, n = rows * cols, bad = -1;
    for (i = 0; i < n; i++)
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    for (i = 0; i < n; i++) {
        double g = got[i], e = want[i], d = fabs(g - e);
        if (g == e) continue;
        if (!(d <= rtol * fabs(e) + atol * scale + aabs) && bad < 0) bad = i;
        if (!(d <= dmax)) dmax = d;
        if (fabs(e) >= 1e-3 * scale && !(d / fabs(e) <= worst)) worst = d / fabs(e);
    }
    if (!(worst <= st->worst_rel)) st->worst_rel = worst;
    if (scale > 0 && !(dmax / scale <= st->worst_scaled)) st->worst_scaled = dmax / scale;
    if (bad >= 0)
        return CHECKF(0, "%s: '%s' step %d [%d]: got %.9g, want %.9g (rtol %g, atol %g x max %.3g, + %g)", file,
                      what, bad / cols, bad % cols, (double)got[bad], (double)want[bad], rtol, atol, scale, aabs);
    return CHECK(bad < 0);
}

static int cmp_parity(err_stats *st, const char *file, const char *what, const float *got, const float *want,
                      int rows, int cols, double rtol, double atol) {
    return cmp_tol(st, file, what, got, want, rows, cols, rtol, atol, 0.0);
}

/* ------------------------------------------------------------------ optimizer trajectories */

/* A fixture hyperparameter and the nn_optim_desc field it sets. */
typedef struct hp_map {
    const char *name;
    size_t offset;
    int is_int;
} hp_map;

#define HP_F(name, field) { name, offsetof(nn_optim_desc, field), 0 }
#define HP_I(name, field) { name, offsetof(nn_optim_desc, field), 1 }

static const hp_map opt_hp[] = {
    HP_F("lr", lr),
    HP_F("weight_decay", weight_decay),
    HP_F("weight_decay0", weight_decay), /* groups: p0's weight decay; p1 is no_decay */
    HP_F("momentum", momentum),
    HP_F("dampening", dampening),
    HP_I("nesterov", nesterov),
    HP_F("beta1", beta1),
    HP_F("beta2", beta2),
    HP_F("eps", eps),
    HP_I("amsgrad", amsgrad),
    HP_F("alpha", alpha),
    HP_I("centered", centered),
    HP_F("lr_decay", lr_decay),
    HP_F("initial_accumulator_value", initial_accumulator_value),
    HP_I("k", lookahead_k),
    HP_F("la_alpha", lookahead_alpha),
};
#define N_OPT_HP ((int)(sizeof opt_hp / sizeof opt_hp[0]))

static void run_opt_fixture(const char *name, nn_optim_kind kind) {
    static const char *const known[] = {"steps", "lr", "weight_decay", "weight_decay0", "weight_decay1", "momentum",
                                        "dampening", "nesterov", "beta1", "beta2", "eps", "amsgrad", "alpha",
                                        "centered", "lr_decay", "initial_accumulator_value", "k", "la_alpha",
                                        "maximize", NULL};
    static unsigned char mem[1 << 14];
    fx_file f;
    nn_optim_desc d;
    nn_optim o;
    nn_arena arena;
    nn_param params[2];
    const fx_tensor *p0, *p1, *a0, *c0, *a1, *c1, *n0, *n1, *tr0, *tr1;
    float w0[17], w1[3], g0[17], g1[3], *got0, *got1;
    int steps, t, i, k, groups;
    err_stats st = {0.0, 0.0};

    if (!load_case(&f, name)) return;
    steps = (int)hp_need(&f, "steps");
    p0 = fx_need(&f, "p0", 17); p1 = fx_need(&f, "p1", 3);
    a0 = fx_need(&f, "a0", 17); c0 = fx_need(&f, "c0", 17);
    a1 = fx_need(&f, "a1", 3); c1 = fx_need(&f, "c1", 3);
    n0 = fx_need(&f, "noise0", steps * 17); n1 = fx_need(&f, "noise1", steps * 3);
    tr0 = fx_need(&f, "traj0", steps * 17); tr1 = fx_need(&f, "traj1", steps * 3);
    hp_all_known(&f, known);
    CHECKF(steps == 30, "%s: %d steps, expected 30", name, steps);
    if (!p0 || !p1 || !a0 || !c0 || !a1 || !c1 || !n0 || !n1 || !tr0 || !tr1 || steps <= 0) {
        fx_free(&f);
        return;
    }
    CHECKF(hp_need(&f, "maximize") == 0.0f, "%s: maximize is not expressible in nn_optim_desc", name);

    /* torch.optim's defaults, then the fixture's hyperparameters, taken literally */
    d = nn_optim_desc_default(kind);
    for (k = 0; k < N_OPT_HP; k++) {
        const fx_tensor *h = fx_find(&f, opt_hp[k].name);
        if (!h) continue;
        if (opt_hp[k].is_int) *(int *)(void *)((char *)&d + opt_hp[k].offset) = (int)h->data[0];
        else *(float *)(void *)((char *)&d + opt_hp[k].offset) = h->data[0];
    }
    groups = fx_find(&f, "weight_decay0") != NULL;
    if (groups)
        CHECKF(hp_need(&f, "weight_decay1") == 0.0f,
               "%s: weight_decay1 = %g is not expressible (a no_decay run gets 0)", name,
               (double)hp_need(&f, "weight_decay1"));

    nn_arena_init(&arena, mem, sizeof mem);
    if (!CHECKF(nn_optim_init(&o, &arena, &d, 20) == NN_OK, "%s: nn_optim_init: %s", name, o.error)) {
        fx_free(&f);
        return;
    }
    /* the description in force holds every fixture value as given (nothing replaced) */
    for (k = 0; k < N_OPT_HP; k++) {
        const fx_tensor *h = fx_find(&f, opt_hp[k].name);
        double in_force;
        if (!h) continue;
        if (opt_hp[k].is_int) in_force = *(int *)(void *)((char *)&o.d + opt_hp[k].offset);
        else in_force = *(float *)(void *)((char *)&o.d + opt_hp[k].offset);
        CHECKF(in_force == (opt_hp[k].is_int ? (double)(int)h->data[0] : (double)h->data[0]),
               "%s: %s = %g is %g in the optimizer: not taken literally", name, opt_hp[k].name, (double)h->data[0],
               in_force);
    }
    memcpy(w0, p0->data, sizeof w0);
    memcpy(w1, p1->data, sizeof w1);
    memset(params, 0, sizeof params);
    params[0].name = "p0"; params[0].data = w0; params[0].grad = g0; params[0].size = 17;
    params[1].name = "p1"; params[1].data = w1; params[1].grad = g1; params[1].size = 3;
    params[1].no_decay = groups;
    got0 = falloc((size_t)steps * 17);
    got1 = falloc((size_t)steps * 3);
    for (t = 0; t < steps; t++) {
        for (i = 0; i < 17; i++) {
            float g = a0->data[i] * (w0[i] - c0->data[i]);
            g0[i] = g + n0->data[t * 17 + i];
        }
        for (i = 0; i < 3; i++) {
            float g = a1->data[i] * (w1[i] - c1->data[i]);
            g1[i] = g + n1->data[t * 3 + i];
        }
        if (!CHECK_EQ_INT(nn_optim_step_params(&o, params, 2), NN_OK)) break;
        memcpy(got0 + t * 17, w0, sizeof w0);
        memcpy(got1 + t * 3, w1, sizeof w1);
    }
    CHECK_EQ_INT(o.step, steps);
    cmp_parity(&st, f.path, "traj0", got0, tr0->data, steps, 17, 1e-5, 1e-5);
    cmp_parity(&st, f.path, "traj1", got1, tr1->data, steps, 3, 1e-5, 1e-5);
    TEST_NOTE("parity %s worst_rel %.2e (worst |diff|/max|want| %.2e)", name, st.worst_rel, st.worst_scaled);
    free(got0);
    free(got1);
    fx_free(&f);
}

#define OPT_TEST(name, kind) \
    static void test_##name(void) { run_opt_fixture(#name, kind); }
OPT_TEST(opt_sgd_plain, NN_OPTIM_SGD)
OPT_TEST(opt_sgd_momentum, NN_OPTIM_SGD)
OPT_TEST(opt_sgd_dampening, NN_OPTIM_SGD)
OPT_TEST(opt_sgd_nesterov, NN_OPTIM_SGD)
OPT_TEST(opt_sgd_wd, NN_OPTIM_SGD)
OPT_TEST(opt_sgd_groups, NN_OPTIM_SGD)
OPT_TEST(opt_adagrad_default, NN_OPTIM_ADAGRAD)
OPT_TEST(opt_adagrad_decay, NN_OPTIM_ADAGRAD)
OPT_TEST(opt_adagrad_wd, NN_OPTIM_ADAGRAD)
OPT_TEST(opt_rmsprop_default, NN_OPTIM_RMSPROP)
OPT_TEST(opt_rmsprop_momentum, NN_OPTIM_RMSPROP)
OPT_TEST(opt_rmsprop_centered, NN_OPTIM_RMSPROP)
OPT_TEST(opt_rmsprop_centered_momentum_wd, NN_OPTIM_RMSPROP)
OPT_TEST(opt_adam_default, NN_OPTIM_ADAM)
OPT_TEST(opt_adam_amsgrad, NN_OPTIM_ADAM)
OPT_TEST(opt_adam_wd, NN_OPTIM_ADAM)
OPT_TEST(opt_adam_betas, NN_OPTIM_ADAM)
OPT_TEST(opt_adamw_default, NN_OPTIM_ADAMW)
OPT_TEST(opt_adamw_wd_amsgrad, NN_OPTIM_ADAMW)
OPT_TEST(opt_adamw_groups, NN_OPTIM_ADAMW)
OPT_TEST(opt_lookahead_sgd, NN_OPTIM_SGD)
OPT_TEST(opt_lookahead_adam, NN_OPTIM_ADAM)

/* ------------------------------------------------------------------ L-BFGS */

/* Rosenbrock in float32, with the gradient autograd computes for
   (1 - x)**2 + 100 * (y - x**2)**2. */
static float rosen(const float *p, float *grad, size_t n, void *user) {
    float x = p[0], y = p[1], a = 1.0f - x, x2 = x * x, b = y - x2;
    float db = 100.0f * (2.0f * b);
    (void)user;
    (void)n; /* always 2 */
    if (grad) {
        grad[0] = -(2.0f * a) + (-db) * (2.0f * x);
        grad[1] = db;
    }
    return a * a + 100.0f * (b * b);
}

typedef struct lbfgs_run {
    float traj[10], loss[5], step_loss[5];
    long func_evals[5], n_iter[5];
    int nsteps;
} lbfgs_run;

/* Runs the fixture's set-up through nn_lbfgs_step; 0 when the fixture is unusable. */
static int run_lbfgs(const fx_file *f, lbfgs_run *out) {
    static const char *const known[] = {"nsteps", "lr", "max_iter", "max_eval", "tolerance_grad",
                                        "tolerance_change", "history_size", "strong_wolfe", NULL};
    static unsigned char mem[1 << 14];
    nn_lbfgs_desc d;
    nn_lbfgs lb;
    nn_arena arena;
    const fx_tensor *x0 = fx_need(f, "x0", 2);
    float x[2];
    int i;
    hp_all_known(f, known);
    out->nsteps = (int)hp_need(f, "nsteps");
    if (!x0 || !CHECKF(out->nsteps == 5, "%s: nsteps %d, expected 5", f->path, out->nsteps)) return 0;
    d = nn_lbfgs_desc_default();
    d.lr = hp_need(f, "lr");
    d.max_iter = (int)hp_need(f, "max_iter");
    d.max_eval = (int)hp_need(f, "max_eval");
    d.tolerance_grad = hp_need(f, "tolerance_grad");
    d.tolerance_change = hp_need(f, "tolerance_change");
    d.history_size = (int)hp_need(f, "history_size");
    d.strong_wolfe = (int)hp_need(f, "strong_wolfe");
    nn_arena_init(&arena, mem, sizeof mem);
    if (!CHECK(nn_lbfgs_arena_bytes(&d, 2) <= arena.cap)) return 0;
    if (!CHECK_EQ_INT(nn_lbfgs_init(&lb, &arena, &d, 2), NN_OK)) return 0;
    CHECK_EQ_INT(arena.used, nn_lbfgs_arena_bytes(&d, 2));
    x[0] = x0->data[0];
    x[1] = x0->data[1];
    for (i = 0; i < out->nsteps; i++) {
        out->step_loss[i] = nn_lbfgs_step(&lb, x, rosen, NULL);
        out->traj[2 * i] = x[0];
        out->traj[2 * i + 1] = x[1];
        out->loss[i] = rosen(x, NULL, 2, NULL);
        out->func_evals[i] = lb.func_evals;
        out->n_iter[i] = lb.n_iter;
    }
    return 1;
}

/* max_iter = 2: the float32 path is stable, the whole run is compared. */
static void run_lbfgs_short(const char *name) {
    fx_file f;
    lbfgs_run run;
    err_stats st = {0.0, 0.0};
    const fx_tensor *traj, *loss, *step_loss, *fe, *ni;
    int i;
    if (!load_case(&f, name)) return;
    traj = fx_need(&f, "traj", 10);
    loss = fx_need(&f, "loss", 5);
    step_loss = fx_need(&f, "step_loss", 5);
    fe = fx_need(&f, "func_evals", 5);
    ni = fx_need(&f, "n_iter", 5);
    if (traj && loss && step_loss && fe && ni && run_lbfgs(&f, &run)) {
        cmp_parity(&st, f.path, "traj", run.traj, traj->data, 5, 2, 1e-4, 1e-4);
        cmp_parity(&st, f.path, "loss", run.loss, loss->data, 5, 1, 1e-4, 1e-4);
        cmp_parity(&st, f.path, "step_loss", run.step_loss, step_loss->data, 5, 1, 1e-4, 1e-4);
        for (i = 0; i < 5; i++) {
            CHECKF(run.func_evals[i] == (long)fe->data[i], "%s: step %d func_evals %ld, torch %g", name, i,
                   run.func_evals[i], (double)fe->data[i]);
            CHECKF(run.n_iter[i] == (long)ni->data[i], "%s: step %d n_iter %ld, torch %g", name, i, run.n_iter[i],
                   (double)ni->data[i]);
        }
        TEST_NOTE("parity %s worst_rel %.2e (worst |diff|/max|want| %.2e; tolerance 1e-4)", name, st.worst_rel,
                  st.worst_scaled);
    }
    fx_free(&f);
}

/* max_iter = 20: chaotic in float32 after the first step; check the first point and
   that nn.h, like PyTorch, ends at the minimum (1,1). */
static void run_lbfgs_long(const char *name) {
    fx_file f;
    lbfgs_run run;
    const fx_tensor *traj, *fe, *ni;
    if (!load_case(&f, name)) return;
    traj = fx_need(&f, "traj", 10);
    fe = fx_need(&f, "func_evals", 5);
    ni = fx_need(&f, "n_iter", 5);
    if (traj && fe && ni && run_lbfgs(&f, &run)) {
        double e0 = fmax(fabs(run.traj[0] - traj->data[0]), fabs(run.traj[1] - traj->data[1]));
        double en = fmax(fabs(run.traj[8] - 1.0), fabs(run.traj[9] - 1.0));
        double et = fmax(fabs(traj->data[8] - 1.0), fabs(traj->data[9] - 1.0));
        CHECKF(e0 <= 1e-3, "%s: first step at (%.9g, %.9g), torch (%.9g, %.9g)", name, (double)run.traj[0],
               (double)run.traj[1], (double)traj->data[0], (double)traj->data[1]);
        CHECKF(et <= 1e-3, "%s: fixture's final point (%.9g, %.9g) is not at (1,1)", name, (double)traj->data[8],
               (double)traj->data[9]);
        CHECKF(en <= 1e-3, "%s: final point (%.9g, %.9g) is not within 1e-3 of (1,1)", name, (double)run.traj[8],
               (double)run.traj[9]);
        CHECK_CLOSE(run.step_loss[0], 12.5, 1e-6, 0.0);
        TEST_NOTE("parity %s first step |diff| %.2e; final (%.7f, %.7f) |x-1| %.2e (torch %.2e); "
                  "evals/iters nn %ld/%ld, torch %g/%g",
                  name, e0, (double)run.traj[8], (double)run.traj[9], en, et, run.func_evals[4], run.n_iter[4],
                  (double)fe->data[4], (double)ni->data[4]);
    }
    fx_free(&f);
}

static void test_opt_lbfgs_short_none(void) { run_lbfgs_short("opt_lbfgs_short_none"); }
static void test_opt_lbfgs_short_strong_wolfe(void) { run_lbfgs_short("opt_lbfgs_short_strong_wolfe"); }
/* A first line-search point that meets Armijo and the strong curvature condition while
   the slope has turned positive: torch takes it (curvature is tested before the sign),
   an implementation testing gtd_new >= 0 first brackets and zooms instead. */
static void test_lbfgs_wolfe_order(void) { run_lbfgs_short("lbfgs_wolfe_order"); }
static void test_opt_lbfgs_none(void) { run_lbfgs_long("opt_lbfgs_none"); }
static void test_opt_lbfgs_strong_wolfe(void) { run_lbfgs_long("opt_lbfgs_strong_wolfe"); }

/* ------------------------------------------------------------------ schedules */

typedef enum sched_case_kind {
    SC_STEP, SC_MULTISTEP, SC_EXPONENTIAL, SC_LAMBDA, SC_COSINE, SC_RESTARTS, SC_WARMUP_COSINE,
    SC_CYCLIC, SC_ONE_CYCLE, SC_PLATEAU
} sched_case_kind;

/* Fixture -> nn_sched_desc. Returns 0 when something is not expressible. */
static int sched_desc_from(const fx_file *f, sched_case_kind kind, nn_sched_desc *d) {
    static const char *const known[][12] = {
        {"steps", "lr0", "step_size", "gamma", NULL},
        {"steps", "lr0", "gamma", NULL},
        {"steps", "lr0", "gamma", NULL},
        {"steps", "lr0", "lambda_k", NULL},
        {"steps", "lr0", "t_max", "eta_min", NULL},
        {"steps", "lr0", "t_0", "t_mult", "eta_min", NULL},
        {"steps", "lr0", "start_factor", "end_factor", "total_iters", "t_max", "eta_min", "milestone", NULL},
        {"steps", "lr0", "base_lr", "max_lr", "step_size_up", "step_size_down", "mode", "gamma", NULL},
        {"steps", "lr0", "max_lr", "total_steps", "pct_start", "div_factor", "final_div_factor", "base_momentum",
         "max_momentum", "three_phase", "anneal_cos", NULL},
        {"steps", "lr0", "mode_max", "threshold_abs", "factor", "patience", "threshold", "cooldown", "min_lr", "eps",
         NULL},
    };
    static const nn_sched_kind kinds[] = {
        NN_SCHED_STEP, NN_SCHED_MULTISTEP, NN_SCHED_EXPONENTIAL, NN_SCHED_INVERSE_TIME, NN_SCHED_COSINE,
        NN_SCHED_COSINE_RESTARTS, NN_SCHED_COSINE, NN_SCHED_CYCLIC, NN_SCHED_ONE_CYCLE, NN_SCHED_PLATEAU,
    };
    int i, ok = 1;
    hp_all_known(f, known[kind]);
    /* torch's defaults, then the fixture's values (taken literally) */
    *d = nn_sched_desc_default(kinds[kind], hp_decimal(f, "lr0"));
    switch (kind) {
    case SC_STEP:
        d->step_size = (int)hp_need(f, "step_size");
        d->gamma = hp_decimal(f, "gamma");
        break;
    case SC_MULTISTEP: {
        const fx_tensor *m = fx_need(f, "milestones", -1);
        d->gamma = hp_decimal(f, "gamma");
        if (!m || !CHECK(m->size <= NN_SCHED_MAX_MILESTONES)) return 0;
        d->n_milestones = m->size;
        for (i = 0; i < m->size; i++) d->milestones[i] = (int)m->data[i];
        break;
    }
    case SC_EXPONENTIAL:
        d->gamma = hp_decimal(f, "gamma");
        break;
    case SC_LAMBDA: /* LambdaLR with lambda t: 1 / (1 + lambda_k t) */
        d->decay = hp_decimal(f, "lambda_k");
        break;
    case SC_COSINE:
        d->t_max = (int)hp_need(f, "t_max");
        d->eta_min = hp_decimal(f, "eta_min");
        break;
    case SC_RESTARTS:
        d->t_0 = (int)hp_need(f, "t_0");
        d->t_mult = (int)hp_need(f, "t_mult");
        d->eta_min = hp_decimal(f, "eta_min");
        break;
    case SC_WARMUP_COSINE:
        /* SequentialLR(LinearLR(start_factor, 1, total_iters), Cosine) with milestone =
           total_iters is warmup_steps = milestone, then the cosine from its own t = 0 */
        d->warmup_steps = (int)hp_need(f, "milestone");
        d->warmup_start_factor = hp_decimal(f, "start_factor");
        d->t_max = (int)hp_need(f, "t_max");
        d->eta_min = hp_decimal(f, "eta_min");
        ok &= CHECKF(hp_need(f, "end_factor") == 1.0f, "%s: end_factor %g is not expressible (warmup ends at 1)",
                     f->path, (double)hp_need(f, "end_factor"));
        ok &= CHECKF(hp_need(f, "total_iters") == hp_need(f, "milestone"),
                     "%s: total_iters != milestone is not expressible", f->path);
        break;
    case SC_CYCLIC: {
        int mode = (int)hp_need(f, "mode");
        d->base_lr = hp_decimal(f, "base_lr"); /* CyclicLR overrides the optimizer's lr0 */
        d->max_lr = hp_decimal(f, "max_lr");
        d->step_size_up = (int)hp_need(f, "step_size_up");
        d->step_size_down = (int)hp_need(f, "step_size_down");
        d->gamma = hp_decimal(f, "gamma");
        ok &= CHECKF(mode >= 0 && mode <= 2, "%s: cyclic mode %d", f->path, mode);
        d->cyclic_mode = mode == 1 ? NN_CYCLIC_TRIANGULAR2 : mode == 2 ? NN_CYCLIC_EXP_RANGE : NN_CYCLIC_TRIANGULAR;
        break;
    }
    case SC_ONE_CYCLE:
        d->max_lr = hp_decimal(f, "max_lr");
        d->total_steps = (int)hp_need(f, "total_steps");
        d->pct_start = hp_decimal(f, "pct_start");
        d->div_factor = hp_decimal(f, "div_factor");
        d->final_div_factor = hp_decimal(f, "final_div_factor");
        d->base_momentum = hp_decimal(f, "base_momentum");
        d->max_momentum = hp_decimal(f, "max_momentum");
        d->anneal_linear = hp_need(f, "anneal_cos") == 0.0f; /* anneal_strategy 'linear' */
        d->three_phase = hp_need(f, "three_phase") != 0.0f;
        break;
    case SC_PLATEAU: {
        int patience = (int)hp_need(f, "patience");
        d->mode_max = (int)hp_need(f, "mode_max");
        d->threshold_abs = (int)hp_need(f, "threshold_abs");
        d->factor = hp_decimal(f, "factor");
        d->patience = patience; /* literal: 0 means 0 */
        d->threshold = hp_decimal(f, "threshold");
        d->cooldown = (int)hp_need(f, "cooldown");
        d->min_lr = hp_decimal(f, "min_lr");
        /* nn.h applies a reduction only when it changes lr by more than 1e-8, torch's default eps */
        ok &= CHECKF(hp_need(f, "eps") == 1e-8f, "%s: eps %g is not expressible (fixed at 1e-8)", f->path,
                     (double)hp_need(f, "eps"));
        break;
    }
    }
    return ok;
}

/* lr[0] after init, lr[i] after i calls of nn_sched_step (PLATEAU: the i-th call gets
   metric[i-1]), as the fixture records the lr before optimizer step i and PyTorch calls
   scheduler.step() after it. */
static void run_sched_fixture(const char *name, sched_case_kind kind) {
    fx_file f;
    nn_sched_desc d;
    nn_sched s;
    const fx_tensor *lr, *mom = NULL, *metric = NULL;
    float *got, *got_m = NULL;
    int steps, i;
    err_stats st = {0.0, 0.0}, sm = {0.0, 0.0};
    if (!load_case(&f, name)) return;
    steps = (int)hp_need(&f, "steps");
    lr = fx_need(&f, "lr", steps);
    if (kind == SC_ONE_CYCLE) mom = fx_need(&f, "momentum", steps);
    if (kind == SC_PLATEAU) metric = fx_need(&f, "metric", steps);
    if (!lr || steps <= 0 || (kind == SC_ONE_CYCLE && !mom) || (kind == SC_PLATEAU && !metric) ||
        !sched_desc_from(&f, kind, &d) ||
        !CHECKF(nn_sched_init(&s, &d) == NN_OK, "%s: nn_sched_init: %s", name, s.error)) {
        fx_free(&f);
        return;
    }
    got = falloc((size_t)steps);
    if (mom) got_m = falloc((size_t)steps);
    for (i = 0; i < steps; i++) {
        if (i > 0) {
            float ret = nn_sched_step(&s, metric ? metric->data[i - 1] : 0.0f);
            CHECKF(ret == nn_sched_lr(&s), "%s: nn_sched_step returned %.9g, nn_sched_lr %.9g", name, (double)ret,
                   (double)nn_sched_lr(&s));
        }
        got[i] = nn_sched_lr(&s);
        if (got_m) got_m[i] = nn_sched_momentum(&s);
    }
    cmp_tol(&st, f.path, "lr", got, lr->data, steps, 1, 1e-6, 0.0, 1e-9);
    if (got_m) cmp_tol(&sm, f.path, "momentum", got_m, mom->data, steps, 1, 1e-6, 0.0, 1e-9);
    if (got_m)
        TEST_NOTE("parity %s worst_rel %.2e (momentum %.2e)", name, st.worst_rel, sm.worst_rel);
    else
        TEST_NOTE("parity %s worst_rel %.2e", name, st.worst_rel);
    free(got);
    free(got_m);
    fx_free(&f);
}

#define SCHED_TEST(name, kind) \
    static void test_##name(void) { run_sched_fixture(#name, kind); }
/* Schedules are compared at 1e-6 relative. Their hyperparameters are doubles (see
   hp_decimal): with float gamma, gamma^t would drift 3.9e-6 from PyTorch by t = 199. */
SCHED_TEST(sched_step, SC_STEP)
SCHED_TEST(sched_multistep, SC_MULTISTEP)
SCHED_TEST(sched_exponential, SC_EXPONENTIAL)
SCHED_TEST(sched_lambda, SC_LAMBDA)
SCHED_TEST(sched_cosine, SC_COSINE)
SCHED_TEST(sched_cosine_warm_restarts, SC_RESTARTS)
SCHED_TEST(sched_warmup_cosine, SC_WARMUP_COSINE)
SCHED_TEST(sched_cyclic_triangular, SC_CYCLIC)
SCHED_TEST(sched_cyclic_triangular2, SC_CYCLIC)
SCHED_TEST(sched_cyclic_exp_range, SC_CYCLIC)
SCHED_TEST(sched_onecycle, SC_ONE_CYCLE)
SCHED_TEST(sched_onecycle_linear, SC_ONE_CYCLE) /* anneal_strategy='linear' (anneal_linear) */
SCHED_TEST(sched_onecycle_three_phase, SC_ONE_CYCLE)
SCHED_TEST(sched_onecycle_three_phase_linear, SC_ONE_CYCLE)
SCHED_TEST(sched_plateau_min, SC_PLATEAU)
SCHED_TEST(sched_plateau_max_abs, SC_PLATEAU)

/* ------------------------------------------------------------------ regularizers */

static void test_momentum_anneal(void) {
    CHECK(nn_momentum_anneal(0.5f, 0.99f, 0, 100) == 0.5f);
    CHECK(nn_momentum_anneal(0.5f, 0.99f, 100, 100) == 0.99f);
    CHECK_CLOSE(nn_momentum_anneal(0.5f, 0.99f, 50, 100), 0.745, 1e-7, 0.0);
    CHECK_CLOSE(nn_momentum_anneal(0.5f, 0.99f, 25, 100), 0.6225, 1e-7, 0.0);
    CHECK(nn_momentum_anneal(0.5f, 0.99f, 1000, 100) == 0.99f); /* held at end */
    CHECK(nn_momentum_anneal(0.5f, 0.99f, -5, 100) == 0.5f);
    CHECK(nn_momentum_anneal(0.5f, 0.99f, 3, 0) == 0.99f);     /* no annealing period */
}

static void test_elastic_net(void) {
    nn_optim_desc d;
    float lambda = 0.1f, mix = 0.3f;
    d = nn_optim_desc_default(NN_OPTIM_SGD);
    nn_optim_elastic_net(&d, lambda, mix);
    CHECK(d.l1 == lambda * mix);
    CHECK(d.weight_decay == lambda * (1.0f - mix));
    CHECK_CLOSE(d.l1, 0.03, 1e-6, 0.0);
    CHECK_CLOSE(d.weight_decay, 0.07, 1e-6, 0.0);
    nn_optim_elastic_net(&d, 0.2f, 1.0f); /* pure L1 */
    CHECK(d.l1 == 0.2f && d.weight_decay == 0.0f);
    nn_optim_elastic_net(&d, 0.2f, 0.0f); /* pure L2 */
    CHECK(d.l1 == 0.0f && d.weight_decay == 0.2f);
}

/* SGD with L1: w -= lr (g + l1 sign(w)), sign(0) = 0, so a zero weight with a zero
   gradient stays exactly 0 (no oscillation around 0). */
static void test_l1_sign(void) {
    static unsigned char mem[4096];
    nn_arena a;
    nn_optim_desc d;
    nn_optim o;
    float w[6] = {1.0f, -1.0f, 0.0f, 0.0f, 0.02f, -0.0f};
    float g[6] = {0.0f, 0.0f, 0.0f, 0.2f, 0.0f, 0.0f};
    float w_before[6];
    int i, t;
    d = nn_optim_desc_default(NN_OPTIM_SGD);
    d.lr = 0.1f;
    d.l1 = 0.5f;
    nn_arena_init(&a, mem, sizeof mem);
    if (!CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 6), NN_OK)) return;
    memcpy(w_before, w, sizeof w);
    nn_optim_step(&o, w, g, 6);
    for (i = 0; i < 6; i++) {
        float s = (float)((w_before[i] > 0.0f) - (w_before[i] < 0.0f));
        float want = w_before[i] - d.lr * (g[i] + d.l1 * s);
        CHECK_CLOSE(w[i], want, 1e-6, 0.0);
    }
    CHECK(w[0] < 1.0f && w[1] > -1.0f);       /* pulled towards 0 from both sides */
    CHECK(w[2] == 0.0f && w[5] == 0.0f);      /* zero weight, zero gradient: stays 0 */
    CHECK_CLOSE(w[3], -0.02, 1e-6, 0.0);      /* zero weight moves by its gradient only */
    CHECK(w[4] < 0.0f);                       /* 0.02 - 0.05: L1 overshoots past 0 (subgradient) */
    /* many steps with zero gradient: the zero weights never leave 0 */
    for (t = 0; t < 50; t++) {
        float gz[6] = {0, 0, 0, 0, 0, 0};
        nn_optim_step(&o, w, gz, 6);
    }
    CHECK(w[2] == 0.0f && w[5] == 0.0f);
    /* a no_decay run gets no L1 */
    {
        nn_param p;
        float wb[2] = {1.0f, -1.0f}, gb[2] = {0.0f, 0.0f};
        memset(&p, 0, sizeof p);
        p.data = wb; p.grad = gb; p.size = 2; p.no_decay = 1;
        nn_optim_step_params(&o, &p, 1);
        CHECK(wb[0] == 1.0f && wb[1] == -1.0f);
    }
}

/* max_norm: after the step every row of a decayed 2-D run has L2 norm <= max_norm;
   rows under the bound and no_decay runs are exactly the plain SGD update. */
static void test_max_norm(void) {
    static unsigned char mem[4096];
    enum { R = 4, C = 5 };
    nn_arena a;
    nn_optim_desc d;
    nn_optim o;
    nn_param p[2];
    float w[R * C], g[R * C], b[3] = {10.0f, -20.0f, 30.0f}, gb[3] = {1.0f, 1.0f, 1.0f};
    float plain[R * C], plain_b[3];
    int r, c, i;
    d = nn_optim_desc_default(NN_OPTIM_SGD);
    d.lr = 0.1f;
    d.max_norm = 2.0f;
    for (r = 0; r < R; r++)
        for (c = 0; c < C; c++) {
            /* rows 0 and 2 far above the bound, 1 and 3 below */
            w[r * C + c] = (r % 2 == 0 ? 3.0f : 0.1f) * (float)(c + 1) * (c % 2 ? -1.0f : 1.0f);
            g[r * C + c] = 0.05f * (float)(r - c);
        }
    for (i = 0; i < R * C; i++) plain[i] = w[i] - d.lr * g[i];
    for (i = 0; i < 3; i++) plain_b[i] = b[i] - d.lr * gb[i];
    memset(p, 0, sizeof p);
    p[0].data = w; p[0].grad = g; p[0].size = R * C; p[0].rows = R;
    p[1].data = b; p[1].grad = gb; p[1].size = 3; p[1].no_decay = 1;
    nn_arena_init(&a, mem, sizeof mem);
    if (!CHECK_EQ_INT(nn_optim_init(&o, &a, &d, R * C + 3), NN_OK)) return;
    nn_optim_step_params(&o, p, 2);
    for (r = 0; r < R; r++) {
        double s = 0.0, sp = 0.0;
        for (c = 0; c < C; c++) {
            s += (double)w[r * C + c] * w[r * C + c];
            sp += (double)plain[r * C + c] * plain[r * C + c];
        }
        CHECKF(sqrt(s) <= d.max_norm + 1e-6, "row %d norm %.9g > max_norm %g", r, sqrt(s), (double)d.max_norm);
        if (sqrt(sp) > d.max_norm) {
            CHECK_CLOSE(sqrt(s), d.max_norm, 1e-6, 0.0); /* scaled onto the bound ... */
            for (c = 0; c < C; c++)                      /* ... along the same direction */
                CHECK_CLOSE(w[r * C + c], plain[r * C + c] * d.max_norm / sqrt(sp), 1e-6, 1e-7);
        } else {
            for (c = 0; c < C; c++) CHECK(w[r * C + c] == plain[r * C + c]);
        }
    }
    for (i = 0; i < 3; i++) CHECK(b[i] == plain_b[i]); /* no_decay: untouched by max_norm */
}

static void test_penalty(void) {
    static unsigned char mem[4096];
    nn_arena a;
    nn_optim_desc d;
    nn_optim o;
    nn_param p[3];
    float w[5] = {0.5f, -1.5f, 2.0f, 0.0f, -0.25f}, b[2] = {7.0f, -8.0f}, buf[2] = {100.0f, 100.0f};
    float gw[5] = {0}, gb[2] = {0};
    double l2 = 0.0, l1 = 0.0, want;
    int i;
    d = nn_optim_desc_default(NN_OPTIM_SGD);
    d.weight_decay = 0.03f;
    d.l1 = 0.002f;
    nn_arena_init(&a, mem, sizeof mem);
    if (!CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 9), NN_OK)) return;
    memset(p, 0, sizeof p);
    p[0].data = w; p[0].grad = gw; p[0].size = 5;
    p[1].data = b; p[1].grad = gb; p[1].size = 2; p[1].no_decay = 1; /* skipped */
    p[2].data = buf; p[2].grad = NULL; p[2].size = 2;                 /* buffer: skipped */
    for (i = 0; i < 5; i++) {
        l2 += (double)w[i] * w[i];
        l1 += fabs((double)w[i]);
    }
    want = 0.5 * (double)d.weight_decay * l2 + (double)d.l1 * l1;
    CHECK_CLOSE(nn_optim_penalty(&o, p, 3), want, 1e-6, 0.0);
    CHECK_CLOSE(nn_optim_penalty(&o, p, 1), want, 1e-6, 0.0);
    CHECK(nn_optim_penalty(&o, p + 1, 2) == 0.0f);
}

/* Two hand-computed steps of the variants no fixture covers. */
static void test_optim_hand_rules(void) {
    static unsigned char mem[4096];
    nn_arena a;
    nn_optim_desc d;
    nn_optim o;
    float w[2] = {1.0f, -2.0f}, g1[2] = {0.5f, -0.25f}, g2[2] = {-0.1f, 0.3f};
    float v[2], m[2], s[2], want[2];
    int i;
    /* classic momentum: v = mu v - lr g; w += v */
    d = nn_optim_desc_default(NN_OPTIM_SGD);
    d.lr = 0.1f; d.momentum = 0.9f; d.classic_momentum = 1;
    nn_arena_init(&a, mem, sizeof mem);
    if (!CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 2), NN_OK)) return;
    for (i = 0; i < 2; i++) {
        v[i] = -0.1f * g1[i];
        want[i] = w[i] + v[i];
        v[i] = 0.9f * v[i] - 0.1f * g2[i];
        want[i] = want[i] + v[i];
    }
    nn_optim_step(&o, w, g1, 2);
    nn_optim_step(&o, w, g2, 2);
    for (i = 0; i < 2; i++) CHECK_CLOSE(w[i], want[i], 1e-6, 0.0);
    /* Adam without bias correction: w -= lr m / (sqrt(v) + eps) */
    w[0] = 1.0f; w[1] = -2.0f;
    d = nn_optim_desc_default(NN_OPTIM_ADAM);
    d.lr = 0.01f; d.no_bias_correction = 1;
    nn_arena_init(&a, mem, sizeof mem);
    if (!CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 2), NN_OK)) return;
    for (i = 0; i < 2; i++) {
        double wi = w[i];
        m[i] = 0.1f * g1[i];
        s[i] = 0.001f * g1[i] * g1[i];
        wi -= 0.01 * m[i] / (sqrt((double)s[i]) + 1e-8);
        m[i] = 0.9f * m[i] + 0.1f * g2[i];
        s[i] = 0.999f * s[i] + 0.001f * g2[i] * g2[i];
        wi -= 0.01 * m[i] / (sqrt((double)s[i]) + 1e-8);
        want[i] = (float)wi;
    }
    nn_optim_step(&o, w, g1, 2);
    nn_optim_step(&o, w, g2, 2);
    for (i = 0; i < 2; i++) CHECK_CLOSE(w[i], want[i], 1e-5, 0.0);
}

/* Coupled weight decay and L1 are folded into the gradient: a run with weight_decay/l1
   must move exactly like the same run without them given g + wd w + l1 sign(w). Runs
   longer than any internal chunk, several runs (state offsets), a no_decay run between. */
static void test_coupled_regularizers_long_runs(void) {
    enum { NA = 700, NB = 5, NC = 300, N = NA + NB + NC, STEPS = 6 };
    static const nn_optim_kind kinds[4] = {NN_OPTIM_SGD, NN_OPTIM_ADAGRAD, NN_OPTIM_RMSPROP, NN_OPTIM_ADAM};
    static float w[N], wr[N], g[N], gr[N];
    static unsigned char mem[2][1 << 16];
    int k, t, i, bad = 0;
    double worst = 0.0;
    for (k = 0; k < 4; k++) {
        nn_optim_desc d = optim_desc(kinds[k], 0.01f), dr;
        nn_optim o, orf;
        nn_arena a, ar;
        nn_param p[3], pr[3];
        nn_rng rng;
        d.momentum = kinds[k] == NN_OPTIM_SGD || kinds[k] == NN_OPTIM_RMSPROP ? 0.9f : 0.0f;
        d.centered = kinds[k] == NN_OPTIM_RMSPROP;
        d.amsgrad = kinds[k] == NN_OPTIM_ADAM;
        dr = d;
        d.weight_decay = 0.05f;
        d.l1 = 0.01f;
        nn_arena_init(&a, mem[0], sizeof mem[0]);
        nn_arena_init(&ar, mem[1], sizeof mem[1]);
        if (!CHECK_EQ_INT(nn_optim_init(&o, &a, &d, N), NN_OK) || !CHECK_EQ_INT(nn_optim_init(&orf, &ar, &dr, N), NN_OK))
            return;
        nn_rng_seed(&rng, 7 + (uint64_t)k);
        for (i = 0; i < N; i++) w[i] = wr[i] = (i % 97 == 0) ? 0.0f : 2.0f * nn_rng_uniform(&rng) - 1.0f;
        memset(p, 0, sizeof p);
        p[0].data = w; p[0].grad = g; p[0].size = NA;
        p[1].data = w + NA; p[1].grad = g + NA; p[1].size = NB; p[1].no_decay = 1;
        p[2].data = w + NA + NB; p[2].grad = g + NA + NB; p[2].size = NC;
        memcpy(pr, p, sizeof p);
        pr[0].data = wr; pr[0].grad = gr;
        pr[1].data = wr + NA; pr[1].grad = gr + NA;
        pr[2].data = wr + NA + NB; pr[2].grad = gr + NA + NB;
        for (t = 0; t < STEPS; t++) {
            for (i = 0; i < N; i++) {
                float v = wr[i];
                g[i] = (i % 97 == 0) ? 0.0f : 0.5f * nn_rng_normal(&rng);
                gr[i] = g[i];
                if (i < NA || i >= NA + NB) /* decayed runs */
                    gr[i] = g[i] + d.weight_decay * v + d.l1 * (float)((v > 0.0f) - (v < 0.0f));
            }
            nn_optim_step_params(&o, p, 3);
            nn_optim_step_params(&orf, pr, 3);
        }
        for (i = 0; i < N; i++) {
            double e = fabs((double)w[i] - wr[i]) / (fabs((double)wr[i]) > 1e-30 ? fabs((double)wr[i]) : 1e-30);
            if (w[i] != wr[i] && !(e <= worst)) worst = e;
            if (!(fabs((double)w[i] - wr[i]) <= 1e-6 * fabs((double)wr[i]) + 1e-9) && bad++ < 4)
                CHECKF(0, "kind %d [%d]: %.9g with regularizers, %.9g with them folded into g", (int)kinds[k], i,
                       (double)w[i], (double)wr[i]);
        }
        CHECKF(w[0] == 0.0f && wr[0] == 0.0f, "kind %d: w[0] %g (zero weight, zero gradient)", (int)kinds[k],
               (double)w[0]);
    }
    CHECK(bad == 0);
    TEST_NOTE("coupled regularizers over runs of %d/%d/%d: worst rel difference %.2e", NA, NB, NC, worst);
}

/* ------------------------------------------------------------------ training utilities */

static void test_clip_grad_norm(void) {
    float g[4] = {3.0f, -4.0f, 0.0f, 12.0f}; /* norm 13 */
    float h[4], norm;
    double coef;
    int i;
    memcpy(h, g, sizeof g);
    norm = nn_clip_grad_norm(h, 4, 6.5f);
    CHECK_CLOSE(norm, 13.0, 1e-7, 0.0); /* the norm before clipping */
    coef = 6.5 / (13.0 + 1e-6);
    for (i = 0; i < 4; i++) CHECK_CLOSE(h[i], g[i] * coef, 1e-6, 0.0);
    {
        double s = 0.0;
        for (i = 0; i < 4; i++) s += (double)h[i] * h[i];
        CHECK(sqrt(s) <= 6.5);
    }
    /* below the bound: untouched, bit for bit */
    memcpy(h, g, sizeof g);
    norm = nn_clip_grad_norm(h, 4, 20.0f);
    CHECK_CLOSE(norm, 13.0, 1e-7, 0.0);
    CHECK(memcmp(h, g, sizeof g) == 0);
    /* at the bound: torch still multiplies by max_norm / (norm + 1e-6) < 1 */
    memcpy(h, g, sizeof g);
    nn_clip_grad_norm(h, 4, 13.0f);
    for (i = 0; i < 4; i++) CHECK_CLOSE(h[i], g[i] * (13.0 / (13.0 + 1e-6)), 1e-7, 0.0);
    /* a small norm shows the + 1e-6: norm 1e-4, max 5e-5 scales by 0.495, not 0.5 */
    {
        float sm[2] = {6e-5f, -8e-5f}, sm0[2];
        memcpy(sm0, sm, sizeof sm);
        norm = nn_clip_grad_norm(sm, 2, 5e-5f);
        CHECK_CLOSE(norm, 1e-4, 1e-6, 0.0);
        coef = 5e-5 / (1e-4 + 1e-6);
        for (i = 0; i < 2; i++) CHECK_CLOSE(sm[i], sm0[i] * coef, 1e-5, 0.0);
    }
    /* all-zero gradient: norm 0, nothing changes, no NaN */
    {
        float z[3] = {0.0f, 0.0f, 0.0f};
        CHECK(nn_clip_grad_norm(z, 3, 1.0f) == 0.0f);
        CHECK(z[0] == 0.0f && z[1] == 0.0f && z[2] == 0.0f);
    }
}

static void test_clip_grad_value(void) {
    float g[6] = {-3.0f, -1.0f, -0.5f, 0.0f, 0.75f, 2.5f};
    const float want[6] = {-1.0f, -1.0f, -0.5f, 0.0f, 0.75f, 1.0f};
    int i;
    nn_clip_grad_value(g, 6, 1.0f);
    for (i = 0; i < 6; i++) CHECKF(g[i] == want[i], "[%d] %g, want %g", i, (double)g[i], (double)want[i]);
}

static void test_check_finite(void) {
    float w0[3] = {1, 2, 3}, g0[3] = {0, 0, 0}, w1[2] = {4, 5}, g1[2] = {0, 0}, w2[4] = {1, 1, 1, 1}, g2[4] = {0};
    nn_param p[3];
    int bad = 99;
    memset(p, 0, sizeof p);
    p[0].data = w0; p[0].grad = g0; p[0].size = 3;
    p[1].data = w1; p[1].grad = g1; p[1].size = 2;
    p[2].data = w2; p[2].grad = g2; p[2].size = 4;
    CHECK_EQ_INT(nn_check_finite(p, 3, &bad), NN_OK);
    CHECK_EQ_INT(bad, -1);
    CHECK_EQ_INT(nn_check_finite(p, 3, NULL), NN_OK);
    w1[1] = (float)NAN; /* NaN in a value of run 1 */
    CHECK_EQ_INT(nn_check_finite(p, 3, &bad), NN_ERR_NONFINITE);
    CHECK_EQ_INT(bad, 1);
    CHECK_EQ_INT(nn_check_finite(p, 3, NULL), NN_ERR_NONFINITE);
    w1[1] = 5.0f;
    g2[3] = (float)INFINITY; /* Inf in a gradient of run 2 */
    CHECK_EQ_INT(nn_check_finite(p, 3, &bad), NN_ERR_NONFINITE);
    CHECK_EQ_INT(bad, 2);
    g2[3] = 0.0f;
    w0[0] = -(float)INFINITY; /* -Inf in a value of run 0 */
    CHECK_EQ_INT(nn_check_finite(p, 3, &bad), NN_ERR_NONFINITE);
    CHECK_EQ_INT(bad, 0);
    w0[0] = 1.0f;
    g0[2] = (float)NAN; /* NaN in a gradient of run 0, and Inf later: first bad run wins */
    w2[0] = (float)INFINITY;
    CHECK_EQ_INT(nn_check_finite(p, 3, &bad), NN_ERR_NONFINITE);
    CHECK_EQ_INT(bad, 0);
    g0[2] = 0.0f;
    w2[0] = 1.0f;
    /* a buffer run (grad NULL) with finite values is fine; its values are checked */
    p[1].grad = NULL;
    CHECK_EQ_INT(nn_check_finite(p, 3, &bad), NN_OK);
    CHECK_EQ_INT(bad, -1);
    w1[0] = (float)NAN;
    CHECK_EQ_INT(nn_check_finite(p, 3, &bad), NN_ERR_NONFINITE);
    CHECK_EQ_INT(bad, 1);
    /* huge but finite values are not flagged */
    w1[0] = 3.0e38f;
    g0[0] = -3.0e38f;
    CHECK_EQ_INT(nn_check_finite(p, 3, &bad), NN_OK);
}

/* ------------------------------------------------------------------ init, sizes, errors */

static void test_optim_init_errors(void) {
    static unsigned char mem[1 << 16];
    nn_arena a;
    nn_optim o;
    nn_optim_desc d;
    size_t before;
    nn_arena_init(&a, mem, sizeof mem);
    before = a.used;
    /* a zeroed description is not "the defaults": refused, with a message */
    memset(&d, 0, sizeof d);
    d.kind = NN_OPTIM_SGD;
    d.lr = 0.1f;
    memset(o.error, 0, sizeof o.error);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    CHECKF(o.error[0] != '\0' && strlen(o.error) < sizeof o.error, "error \"%s\"", o.error);
    CHECK_EQ_INT(nn_optim_arena_bytes(&d, 10), 0);
    CHECK_EQ_INT(a.used, before);
    d.tag = NN_DESC_TAG; /* the tag is the only thing missing */
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_OK);
    CHECKF(o.error[0] == '\0', "error after success: \"%s\"", o.error);
    nn_arena_reset(&a);
    before = a.used;
    d = optim_desc(NN_OPTIM_KIND_COUNT_, 0.1f);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    CHECK(o.error[0] != '\0');
    d = optim_desc((nn_optim_kind)7, 0.1f);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    d = optim_desc(NN_OPTIM_SGD, -0.1f);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    d = optim_desc(NN_OPTIM_ADAM, -1e-3f);
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    d = optim_desc(NN_OPTIM_SGD, 0.1f);
    d.momentum = -0.1f;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    CHECKF(strstr(o.error, "momentum") != NULL, "error \"%s\" does not name the field", o.error);
    d.momentum = (float)NAN;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    d = optim_desc(NN_OPTIM_RMSPROP, 0.1f);
    d.momentum = -1.0f;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    d = optim_desc(NN_OPTIM_RMSPROP, 0.1f);
    d.alpha = -0.5f;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    d = optim_desc(NN_OPTIM_ADAM, 0.1f);
    d.beta2 = 1.0f; /* torch: 0 <= beta < 1 */
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    d = optim_desc(NN_OPTIM_SGD, 0.1f);
    d.lookahead_k = -1;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(a.used, before); /* failures take nothing from the arena */
    /* torch.optim checks only momentum >= 0 (SGD, RMSprop): 1 and above are accepted */
    d = optim_desc(NN_OPTIM_SGD, 0.1f);
    d.momentum = 1.0f;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_OK);
    d = optim_desc(NN_OPTIM_RMSPROP, 0.1f);
    d.momentum = 1.5f;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_OK);
    nn_arena_reset(&a);
    before = a.used;
    d = optim_desc(NN_OPTIM_SGD, 0.1f);
    d.nesterov = 1; /* without momentum */
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    d.momentum = 0.9f; /* the same with momentum is fine */
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_OK);
    CHECK_EQ_INT(a.used, before + nn_optim_arena_bytes(&d, 10));
    nn_arena_reset(&a);
    before = a.used;
    d = nn_optim_desc_default(NN_OPTIM_ADAM);
    d.beta1 = 1.0f;
    CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 10), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(a.used, before); /* failures take nothing from the arena */

    /* arena too small: NN_ERR_OUT_OF_MEMORY, nothing taken (also when a first block fit) */
    {
        /* capacity exactly two blocks of 1000 floats whatever the buffer's alignment */
        static unsigned char small[2 * 4032 + NN_ARENA_ALIGN - 1];
        nn_arena s;
        size_t used;
        d = nn_optim_desc_default(NN_OPTIM_ADAM);
        d.amsgrad = 1; /* three blocks of 1000 floats, the arena holds two */
        CHECK_EQ_INT(nn_arena_bytes_for(1000 * sizeof(float)), 4032);
        CHECK_EQ_INT(nn_arena_init(&s, small, sizeof small), NN_OK);
        CHECK_EQ_INT(s.cap, 2 * 4032);
        used = s.used;
        CHECK(nn_optim_arena_bytes(&d, 1000) > s.cap - s.used);
        CHECK_EQ_INT(nn_optim_init(&o, &s, &d, 1000), NN_ERR_OUT_OF_MEMORY);
        CHECK_EQ_INT(s.used, used);
        CHECK(o.s0 == NULL && o.s1 == NULL && o.s2 == NULL && o.slow == NULL);
        d.amsgrad = 0; /* two blocks fit an empty arena, not one that holds 16 bytes */
        CHECK(nn_arena_alloc(&s, 16) != NULL);
        used = s.used;
        CHECK_EQ_INT(nn_optim_init(&o, &s, &d, 1000), NN_ERR_OUT_OF_MEMORY);
        CHECK_EQ_INT(s.used, used);
        d.lookahead_k = 5; /* Lookahead's slow block is the one that does not fit */
        d.kind = NN_OPTIM_SGD;
        d.momentum = 0.9f;
        CHECK_EQ_INT(nn_optim_init(&o, &s, &d, 1000), NN_ERR_OUT_OF_MEMORY);
        CHECK_EQ_INT(s.used, used);
        CHECK(o.s0 == NULL && o.slow == NULL);
        d = nn_optim_desc_default(NN_OPTIM_ADAM);
        nn_arena_reset(&s);
        CHECK_EQ_INT(nn_optim_init(&o, &s, &d, 1000), NN_OK); /* exactly fits when empty */
        CHECK_EQ_INT(s.used, nn_optim_arena_bytes(&d, 1000));
    }
}

/* nn_optim_arena_bytes is exactly what nn_optim_init takes, for every kind and option. */
static void test_optim_arena_bytes(void) {
    static unsigned char mem[1 << 16];
    static const size_t sizes[3] = {1, 37, 1000};
    nn_arena a;
    int kind, ams, cen, mom, la, si, combos = 0;
    for (kind = 0; kind < (int)NN_OPTIM_KIND_COUNT_; kind++)
        for (ams = 0; ams < 2; ams++)
            for (cen = 0; cen < 2; cen++)
                for (mom = 0; mom < 3; mom++)
                    for (la = 0; la < 2; la++)
                        for (si = 0; si < 3; si++) {
                            nn_optim_desc d = nn_optim_desc_default((nn_optim_kind)kind);
                            nn_optim o;
                            size_t n = sizes[si], bytes, states = 0, want;
                            d.amsgrad = ams;
                            d.centered = cen;
                            d.momentum = mom == 1 ? 0.9f : 0.0f;
                            d.classic_momentum = mom == 2;
                            d.lookahead_k = la ? 5 : 0;
                            switch (d.kind) {
                            case NN_OPTIM_SGD: states = mom ? 1 : 0; break;
                            case NN_OPTIM_ADAGRAD: states = 1; break;
                            case NN_OPTIM_RMSPROP: states = 1 + (size_t)cen + (mom == 1); break;
                            default: states = 2 + (size_t)ams; break;
                            }
                            want = (states + (size_t)la) * nn_arena_bytes_for(n * sizeof(float));
                            bytes = nn_optim_arena_bytes(&d, n);
                            nn_arena_init(&a, mem, sizeof mem);
                            CHECKF(nn_optim_init(&o, &a, &d, n) == NN_OK, "kind %d ams %d cen %d mom %d la %d", kind,
                                   ams, cen, mom, la);
                            CHECKF(a.used == bytes, "kind %d ams %d cen %d mom %d la %d n %lu: init took %lu, "
                                   "nn_optim_arena_bytes says %lu", kind, ams, cen, mom, la, (unsigned long)n,
                                   (unsigned long)a.used, (unsigned long)bytes);
                            CHECKF(bytes == want, "kind %d ams %d cen %d mom %d la %d n %lu: %lu bytes, expected %lu "
                                   "(%lu state vectors)", kind, ams, cen, mom, la, (unsigned long)n,
                                   (unsigned long)bytes, (unsigned long)want, (unsigned long)(states + (size_t)la));
                            /* and exactly that much is enough */
                            if (bytes) {
                                nn_arena e;
                                nn_optim o2;
                                CHECK_EQ_INT(nn_arena_init_heap(&e, bytes), NN_OK);
                                CHECK_EQ_INT(nn_optim_init(&o2, &e, &d, n), NN_OK);
                                nn_arena_deinit(&e);
                            }
                            combos++;
                        }
    TEST_NOTE("optim arena bytes: %d combinations of kind, amsgrad, centered, momentum, lookahead, size", combos);
}

static void test_sched_init_errors(void) {
    nn_sched s;
    nn_sched_desc d;
    /* a zeroed description is not "the defaults": refused, with a message */
    memset(&d, 0, sizeof d);
    d.kind = NN_SCHED_CONSTANT;
    d.base_lr = 0.1;
    memset(s.error, 0, sizeof s.error);
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT);
    CHECKF(s.error[0] != '\0' && strlen(s.error) < sizeof s.error, "error \"%s\"", s.error);
    d.tag = NN_DESC_TAG; /* tagged, its zeros are literal: t_mult 0, div_factor 0 are out of range */
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT);

    d = nn_sched_desc_default(NN_SCHED_CONSTANT, 0.0);
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT); /* base_lr 0 */
    CHECKF(strstr(s.error, "base_lr") != NULL, "error \"%s\" does not name base_lr", s.error);
    d.base_lr = -0.1;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT);
    d.base_lr = 0.1;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_OK);
    CHECK(nn_sched_lr(&s) == 0.1f);
    CHECK(s.error[0] == '\0');
    d.kind = NN_SCHED_KIND_COUNT_;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT);

    d = nn_sched_desc_default(NN_SCHED_STEP, 0.1); /* step_size 0 */
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT);
    d.step_size = 10;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_OK);

    d = nn_sched_desc_default(NN_SCHED_COSINE, 0.1); /* t_max 0 */
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT);
    d.t_max = 50;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_OK);

    d = nn_sched_desc_default(NN_SCHED_ONE_CYCLE, 0.0); /* ONE_CYCLE never reads base_lr */
    d.max_lr = 1.0;
    d.total_steps = 1;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT);
    d.total_steps = 0;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT);
    d.total_steps = 100;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_OK);
    d.max_lr = 0.0;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT);

    /* PLATEAU: patience is literal; the old "negative means 0" is now an error */
    d = nn_sched_desc_default(NN_SCHED_PLATEAU, 0.1);
    d.patience = -1;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT);
    d.patience = 0;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_OK);
    CHECK_EQ_INT(s.d.patience, 0);

    /* CYCLIC: step_size_down -1 is torch's None (= step_size_up); other negatives are errors */
    d = nn_sched_desc_default(NN_SCHED_CYCLIC, 0.01);
    d.max_lr = 0.1;
    d.step_size_down = -2;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT);
    d.step_size_up = 0;
    d.step_size_down = 0;
    CHECK_EQ_INT(nn_sched_init(&s, &d), NN_ERR_INVALID_ARGUMENT);
}

/* nn_sched_desc_default: torch.optim.lr_scheduler's defaults, tagged. */
static void test_sched_desc_default(void) {
    int k;
    for (k = 0; k < (int)NN_SCHED_KIND_COUNT_; k++) {
        nn_sched_desc d = nn_sched_desc_default((nn_sched_kind)k, 0.25);
        double gamma = k == NN_SCHED_STEP || k == NN_SCHED_MULTISTEP ? 0.1 : k == NN_SCHED_CYCLIC ? 1.0 : 0.0;
        CHECK(d.tag == NN_DESC_TAG && (int)d.kind == k && d.base_lr == 0.25);
        CHECKF(d.gamma == gamma, "kind %d: gamma %g, want %g", k, d.gamma, gamma);
        CHECK(d.t_mult == 1 && d.step_size_up == 2000 && d.step_size_down == -1);
        CHECK(d.pct_start == 0.3 && d.div_factor == 25.0 && d.final_div_factor == 1e4);
        CHECK(d.base_momentum == 0.85 && d.max_momentum == 0.95 && d.anneal_linear == 0 && d.three_phase == 0);
        CHECK(d.factor == 0.1 && d.patience == 10 && d.threshold == 1e-4 && d.cooldown == 0 && d.min_lr == 0.0);
        CHECK(d.warmup_steps == 0 && d.warmup_start_factor == 1.0 / 3.0);
        CHECK(d.step_size == 0 && d.t_max == 0 && d.t_0 == 0 && d.max_lr == 0.0 && d.total_steps == 0 &&
              d.n_milestones == 0 && d.eta_min == 0.0 && d.decay == 0.0 && d.mode_max == 0 && d.threshold_abs == 0);
    }
    {
        /* step_size_down -1 resolves to step_size_up: up 4, down 4 */
        nn_sched_desc d = nn_sched_desc_default(NN_SCHED_CYCLIC, 0.01);
        nn_sched s;
        int t;
        d.max_lr = 0.05;
        d.step_size_up = 4;
        if (!CHECK_EQ_INT(nn_sched_init(&s, &d), NN_OK)) return;
        CHECK_EQ_INT(s.d.step_size_down, 4);
        for (t = 1; t <= 8; t++) {
            double want = 0.01 + 0.04 * (t <= 4 ? t / 4.0 : (8 - t) / 4.0);
            CHECKF(fabs(nn_sched_step(&s, 0.0f) - want) <= 1e-7, "t %d: lr %.9g, want %.9g", t,
                   (double)nn_sched_lr(&s), want);
        }
    }
}

/* Zero is literal in a schedule: PLATEAU patience 0 reduces after the first epoch
   without improvement (torch: num_bad_epochs > patience); the default 10 waits. */
static void test_sched_plateau_patience_zero(void) {
    nn_sched s, s10;
    nn_sched_desc d = nn_sched_desc_default(NN_SCHED_PLATEAU, 0.1);
    nn_sched_desc d10;
    d.factor = 0.5;
    d10 = d;
    d.patience = 0;
    if (!CHECK_EQ_INT(nn_sched_init(&s, &d), NN_OK) || !CHECK_EQ_INT(nn_sched_init(&s10, &d10), NN_OK)) return;
    CHECK(nn_sched_step(&s, 1.0f) == 0.1f);    /* first metric: an improvement on +inf */
    CHECK(nn_sched_step(&s, 0.5f) == 0.1f);    /* better */
    CHECK(nn_sched_step(&s, 0.5f) == 0.05f);   /* the first bad epoch: reduced at once */
    CHECK(nn_sched_step(&s, 0.6f) == 0.025f);  /* and again */
    CHECK(nn_sched_step(&s, 0.1f) == 0.025f);  /* better: kept */
    CHECK(nn_sched_step(&s10, 1.0f) == 0.1f);
    CHECK(nn_sched_step(&s10, 1.0f) == 0.1f);  /* patience 10: one bad epoch changes nothing */
    CHECK_EQ_INT(s10.num_bad, 1);
}

/* ONE_CYCLE anneal_linear: straight lines between the phase ends (torch's
   anneal_strategy='linear'), momentum the other way. */
static void test_sched_onecycle_linear_hand(void) {
    nn_sched s;
    nn_sched_desc d = nn_sched_desc_default(NN_SCHED_ONE_CYCLE, 0.0);
    int t;
    d.max_lr = 1.0;
    d.total_steps = 11;
    d.pct_start = 0.5;   /* phase 1 ends at step 4.5, phase 2 at 10 */
    d.div_factor = 10.0; /* start 0.1 */
    d.final_div_factor = 100.0; /* end 0.001 */
    d.anneal_linear = 1;
    if (!CHECK_EQ_INT(nn_sched_init(&s, &d), NN_OK)) return;
    for (t = 0; t <= 10; t++) {
        double e1 = 4.5, want, wm;
        if (t <= 4) {
            want = 0.1 + (1.0 - 0.1) * t / e1;
            wm = 0.95 + (0.85 - 0.95) * t / e1;
        } else {
            want = 1.0 + (0.001 - 1.0) * (t - e1) / (10.0 - e1);
            wm = 0.85 + (0.95 - 0.85) * (t - e1) / (10.0 - e1);
        }
        CHECKF(fabs(nn_sched_lr(&s) - want) <= 1e-6 * want, "t %d: lr %.9g, want %.9g", t, (double)nn_sched_lr(&s),
               want);
        CHECKF(fabs(nn_sched_momentum(&s) - wm) <= 1e-6, "t %d: momentum %.9g, want %.9g", t,
               (double)nn_sched_momentum(&s), wm);
        nn_sched_step(&s, 0.0f);
    }
}

/* nn_optim_desc_default and nn_lbfgs_desc_default: torch.optim's defaults, tagged. */
static void test_optim_desc_default(void) {
    int k;
    for (k = 0; k < (int)NN_OPTIM_KIND_COUNT_; k++) {
        nn_optim_desc d = nn_optim_desc_default((nn_optim_kind)k);
        int adam = k == NN_OPTIM_ADAM || k == NN_OPTIM_ADAMW;
        CHECK(d.tag == NN_DESC_TAG && (int)d.kind == k);
        CHECKF(d.lr == (adam ? 0.001f : 0.01f), "kind %d: lr %g", k, (double)d.lr);
        CHECK(d.beta1 == 0.9f && d.beta2 == 0.999f && d.alpha == 0.99f && d.lookahead_alpha == 0.5f);
        CHECK(d.eps == (k == NN_OPTIM_ADAGRAD ? 1e-10f : 1e-8f));
        CHECK(d.weight_decay == (k == NN_OPTIM_ADAMW ? 0.01f : 0.0f));
        CHECK(d.momentum == 0.0f && d.dampening == 0.0f && d.nesterov == 0 && d.classic_momentum == 0 &&
              d.centered == 0 && d.amsgrad == 0 && d.no_bias_correction == 0 && d.lr_decay == 0.0f &&
              d.initial_accumulator_value == 0.0f && d.l1 == 0.0f && d.max_norm == 0.0f && d.lookahead_k == 0);
    }
    {
        nn_lbfgs_desc b = nn_lbfgs_desc_default();
        CHECK(b.tag == NN_DESC_TAG && b.lr == 1.0f && b.max_iter == 20 && b.max_eval == -1);
        CHECK(b.tolerance_grad == 1e-7f && b.tolerance_change == 1e-9f && b.history_size == 100 && b.strong_wolfe == 0);
    }
}

/* Zero is literal in an optimizer: AdamW with weight_decay 0 is Adam, bit for bit; Adam
   with beta1 0 keeps no first moment (m = g); SGD with lr 0 leaves the weights alone. */
static void test_optim_literal_zeros(void) {
    static unsigned char mem[1 << 14];
    nn_arena a;
    nn_optim o1, o2;
    nn_optim_desc d1 = nn_optim_desc_default(NN_OPTIM_ADAMW), d2 = nn_optim_desc_default(NN_OPTIM_ADAM);
    float w1[3] = {1.0f, -2.0f, 0.5f}, w2[3] = {1.0f, -2.0f, 0.5f}, g[3], v[3];
    int t, i;
    d1.weight_decay = 0.0f;
    d1.lr = d2.lr = 0.01f;
    nn_arena_init(&a, mem, sizeof mem);
    if (!CHECK_EQ_INT(nn_optim_init(&o1, &a, &d1, 3), NN_OK) || !CHECK_EQ_INT(nn_optim_init(&o2, &a, &d2, 3), NN_OK))
        return;
    CHECK(o1.d.weight_decay == 0.0f);
    for (t = 0; t < 5; t++) {
        for (i = 0; i < 3; i++) g[i] = 0.3f * w1[i] + 0.1f * (float)(i - t);
        CHECK_EQ_INT(nn_optim_step(&o1, w1, g, 3), NN_OK);
        CHECK_EQ_INT(nn_optim_step(&o2, w2, g, 3), NN_OK);
    }
    CHECK(memcmp(w1, w2, sizeof w1) == 0);
    CHECK(w1[0] != 1.0f);

    /* Adam beta1 = 0: w -= lr g / (sqrt(v / (1 - b2^t)) + eps), v = b2 v + (1 - b2) g^2 */
    d2 = nn_optim_desc_default(NN_OPTIM_ADAM);
    d2.beta1 = 0.0f;
    d2.lr = 0.1f;
    nn_arena_reset(&a);
    if (!CHECK_EQ_INT(nn_optim_init(&o2, &a, &d2, 3), NN_OK)) return;
    w2[0] = 1.0f; w2[1] = -2.0f; w2[2] = 0.5f;
    memcpy(w1, w2, sizeof w1);
    memset(v, 0, sizeof v);
    for (t = 1; t <= 3; t++) {
        for (i = 0; i < 3; i++) g[i] = 0.5f * w2[i] + 0.25f * (float)t;
        for (i = 0; i < 3; i++) {
            double vh;
            v[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
            vh = (double)v[i] / (1.0 - pow(0.999, t));
            w1[i] = (float)((double)w1[i] - 0.1 * g[i] / (sqrt(vh) + 1e-8));
        }
        CHECK_EQ_INT(nn_optim_step(&o2, w2, g, 3), NN_OK);
        for (i = 0; i < 3; i++)
            CHECKF(fabs((double)w2[i] - w1[i]) <= 1e-5 * fabs((double)w1[i]) + 1e-7, "t %d [%d]: %.9g, want %.9g",
                   t, i, (double)w2[i], (double)w1[i]);
    }

    /* SGD lr = 0 (torch accepts it): nothing moves, momentum or not */
    d1 = nn_optim_desc_default(NN_OPTIM_SGD);
    d1.lr = 0.0f;
    d1.momentum = 0.9f;
    nn_arena_reset(&a);
    if (!CHECK_EQ_INT(nn_optim_init(&o1, &a, &d1, 3), NN_OK)) return;
    memcpy(w1, w2, sizeof w1);
    for (i = 0; i < 3; i++) g[i] = 1.0f;
    CHECK_EQ_INT(nn_optim_step(&o1, w1, g, 3), NN_OK);
    CHECK_EQ_INT(nn_optim_step(&o1, w1, g, 3), NN_OK);
    CHECK(memcmp(w1, w2, sizeof w1) == 0);
}

/* L-BFGS: a zeroed description is refused; max_eval -1 is torch's None (max_iter * 5 / 4). */
static void test_lbfgs_desc(void) {
    static unsigned char mem[1 << 14];
    nn_arena a;
    nn_lbfgs lb;
    nn_lbfgs_desc d;
    nn_arena_init(&a, mem, sizeof mem);
    memset(&d, 0, sizeof d);
    d.lr = 1.0f; d.max_iter = 20; d.max_eval = 25; d.history_size = 10;
    memset(lb.error, 0, sizeof lb.error);
    CHECK_EQ_INT(nn_lbfgs_init(&lb, &a, &d, 2), NN_ERR_INVALID_ARGUMENT);
    CHECKF(lb.error[0] != '\0', "error \"%s\"", lb.error);
    CHECK_EQ_INT(nn_lbfgs_arena_bytes(&d, 2), 0);
    CHECK_EQ_INT(a.used, 0);
    d = nn_lbfgs_desc_default();
    d.max_iter = 20;
    if (!CHECK_EQ_INT(nn_lbfgs_init(&lb, &a, &d, 2), NN_OK)) return;
    CHECK_EQ_INT(lb.d.max_eval, 25);
    CHECK_EQ_INT(a.used, nn_lbfgs_arena_bytes(&d, 2));
    nn_arena_reset(&a);
    d.max_iter = 7;
    if (!CHECK_EQ_INT(nn_lbfgs_init(&lb, &a, &d, 2), NN_OK)) return;
    CHECK_EQ_INT(lb.d.max_eval, 8); /* int(7 * 1.25) */
    nn_arena_reset(&a);
    d.history_size = 0; /* literal: no history is not a default */
    CHECK_EQ_INT(nn_lbfgs_init(&lb, &a, &d, 2), NN_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(a.used, 0);
}

/* ------------------------------------------------------------------ main */

/* The vector Adam loops (AVX-512 16 wide, AVX2 8 wide, scalar tail) against a scalar
   replica with the same operations in the same order, each product rounded on its own
   (separate statements: no compiler contracts them into an FMA): bit for bit, on a run
   whose length covers every loop (1000 = 62 x 16 + 8 + 0, then 1003 for a tail). */
static void test_adam_vector_matches_scalar(void) {
    static const size_t ns[2] = {1000, 1003};
    int c;
    for (c = 0; c < 2; c++) {
        size_t n = ns[c], i;
        nn_arena a;
        nn_optim o;
        nn_optim_desc od = nn_optim_desc_default(NN_OPTIM_ADAM);
        float *w = falloc(n), *g = falloc(n), *rw = falloc(n), *rm = falloc(n), *rv = falloc(n);
        nn_rng r;
        int t, same = 1;
        od.lr = 0.01f;
        nn_rng_seed(&r, 77);
        for (i = 0; i < n; i++) rw[i] = w[i] = nn_rng_uniform(&r) - 0.5f;
        CHECK_EQ_INT(nn_arena_init_heap(&a, nn_optim_arena_bytes(&od, n)), NN_OK);
        CHECK_EQ_INT(nn_optim_init(&o, &a, &od, n), NN_OK);
        for (t = 1; t <= 3; t++) {
            double bc1 = 1.0 - pow((double)od.beta1, (double)t), bc2 = 1.0 - pow((double)od.beta2, (double)t);
            float step = (float)(od.lr / bc1), bc2s = (float)sqrt(bc2);
            for (i = 0; i < n; i++) g[i] = (nn_rng_uniform(&r) - 0.5f) * (i % 7 == 0 ? 1e-3f : 1.0f);
            CHECK_EQ_INT(nn_optim_step(&o, w, g, n), NN_OK);
            for (i = 0; i < n; i++) {
                float p1 = od.beta1 * rm[i], p2 = (1.0f - od.beta1) * g[i];
                float p3 = od.beta2 * rv[i], c2g = (1.0f - od.beta2) * g[i], p4 = c2g * g[i];
                float den, q;
                rm[i] = p1 + p2;
                rv[i] = p3 + p4;
                den = sqrtf(rv[i]) / bc2s;
                den = den + od.eps;
                q = rm[i] / den;
                q = step * q;
                rw[i] = rw[i] - q;
            }
        }
        for (i = 0; i < n; i++) same &= memcmp(&w[i], &rw[i], sizeof(float)) == 0;
        CHECKF(same, "n=%lu: the vector Adam differs from the scalar replica (%s)", (unsigned long)n, nn_simd_name());
        free(w);
        free(g);
        free(rw);
        free(rm);
        free(rv);
        nn_arena_deinit(&a);
    }
}

/* nn_optim_step_and_zero_grad against nn_optim_step followed by zeroing: the same
   weights bit for bit and every gradient left at 0, for each optimizer and the
   paths inside it (first step, momentum kernels, coupled regularizers, AMSGrad,
   Lookahead, no_decay runs, a run without .grad), on runs of 1, 17 and 1003 values. */
static void test_step_and_zero_grad(void) {
    enum { NA = 1003, NB = 17, NC = 1, N = NA + NB + NC, STEPS = 4, CASES = 11 };
    static float w[N], wr[N], g[N], gr[N];
    static unsigned char mem[2][1 << 16];
    int c, t, i;
    for (c = 0; c < CASES; c++) {
        static const nn_optim_kind kinds[CASES] = {NN_OPTIM_SGD,     NN_OPTIM_SGD,     NN_OPTIM_SGD,   NN_OPTIM_SGD,
                                                   NN_OPTIM_ADAGRAD, NN_OPTIM_RMSPROP, NN_OPTIM_ADAM,  NN_OPTIM_ADAM,
                                                   NN_OPTIM_ADAMW,   NN_OPTIM_ADAMW,   NN_OPTIM_RMSPROP};
        nn_optim_desc d = optim_desc(kinds[c], 0.01f);
        nn_optim o, orf;
        nn_arena a, ar;
        nn_param p[4], pr[4];
        nn_rng rng;
        int same = 1, zero = 1;
        float keep = 0.25f;
        if (c == 1 || c == 2) d.momentum = 0.9f;
        if (c == 2) d.nesterov = 1;
        if (c == 3) { d.momentum = 0.9f; d.weight_decay = 0.05f; d.l1 = 0.01f; }
        if (c == 5) { d.momentum = 0.9f; d.centered = 1; }
        if (c == 7) d.amsgrad = 1;
        if (c == 8) d.weight_decay = 0.1f;
        if (c == 9) d.lookahead_k = 2;
        if (c == 10) d.weight_decay = 0.05f;
        nn_arena_init(&a, mem[0], sizeof mem[0]);
        nn_arena_init(&ar, mem[1], sizeof mem[1]);
        if (!CHECK_EQ_INT(nn_optim_init(&o, &a, &d, N), NN_OK) || !CHECK_EQ_INT(nn_optim_init(&orf, &ar, &d, N), NN_OK))
            return;
        nn_rng_seed(&rng, 11 + (uint64_t)c);
        for (i = 0; i < N; i++) w[i] = wr[i] = 2.0f * nn_rng_uniform(&rng) - 1.0f;
        memset(p, 0, sizeof p);
        p[0].data = w; p[0].grad = g; p[0].size = NA;
        p[1].data = w + NA; p[1].grad = g + NA; p[1].size = NB; p[1].no_decay = 1;
        p[2].data = w + NA + NB; p[2].grad = g + NA + NB; p[2].size = NC;
        p[3].data = &keep; p[3].size = 1; /* no .grad: neither updated nor written */
        memcpy(pr, p, sizeof p);
        pr[0].data = wr; pr[0].grad = gr;
        pr[1].data = wr + NA; pr[1].grad = gr + NA;
        pr[2].data = wr + NA + NB; pr[2].grad = gr + NA + NB;
        for (t = 0; t < STEPS; t++) {
            for (i = 0; i < N; i++) g[i] = gr[i] = 0.5f * nn_rng_normal(&rng);
            if (c == 0 && t == 0) {
                CHECK_EQ_INT(nn_optim_step_and_zero_grad(&o, w, g, N), NN_OK);
                CHECK_EQ_INT(nn_optim_step(&orf, wr, gr, N), NN_OK);
            } else {
                CHECK_EQ_INT(nn_optim_step_params_and_zero_grad(&o, p, 4), NN_OK);
                CHECK_EQ_INT(nn_optim_step_params(&orf, pr, 4), NN_OK);
            }
            for (i = 0; i < N; i++) zero &= g[i] == 0.0f && !signbit(g[i]);
        }
        for (i = 0; i < N; i++) same &= memcmp(&w[i], &wr[i], sizeof(float)) == 0;
        CHECKF(same, "case %d (kind %d): weights differ from step + zero_grad", c, (int)kinds[c]);
        CHECKF(zero, "case %d (kind %d): a gradient was left nonzero", c, (int)kinds[c]);
        CHECKF(keep == 0.25f, "case %d: a run without .grad changed", c);
    }
    /* a rejected step writes nothing, gradients included */
    {
        nn_optim_desc d = optim_desc(NN_OPTIM_ADAM, 0.01f);
        nn_optim o;
        nn_arena a;
        nn_arena_init(&a, mem[0], sizeof mem[0]);
        CHECK_EQ_INT(nn_optim_init(&o, &a, &d, 8), NN_OK);
        g[0] = 1.0f;
        CHECK_EQ_INT(nn_optim_step_and_zero_grad(&o, w, g, 9), NN_ERR_SHAPE_MISMATCH);
        CHECK(g[0] == 1.0f);
        CHECK_EQ_INT(nn_optim_step_and_zero_grad(&o, w, NULL, 8), NN_ERR_INVALID_ARGUMENT);
    }
}

static const test_case tests[] = {
    TEST(test_adam_vector_matches_scalar),
    TEST(test_step_and_zero_grad),
    TEST(test_opt_sgd_plain),
    TEST(test_opt_sgd_momentum),
    TEST(test_opt_sgd_dampening),
    TEST(test_opt_sgd_nesterov),
    TEST(test_opt_sgd_wd),
    TEST(test_opt_sgd_groups),
    TEST(test_opt_adagrad_default),
    TEST(test_opt_adagrad_decay),
    TEST(test_opt_adagrad_wd),
    TEST(test_opt_rmsprop_default),
    TEST(test_opt_rmsprop_momentum),
    TEST(test_opt_rmsprop_centered),
    TEST(test_opt_rmsprop_centered_momentum_wd),
    TEST(test_opt_adam_default),
    TEST(test_opt_adam_amsgrad),
    TEST(test_opt_adam_wd),
    TEST(test_opt_adam_betas),
    TEST(test_opt_adamw_default),
    TEST(test_opt_adamw_wd_amsgrad),
    TEST(test_opt_adamw_groups),
    TEST(test_opt_lookahead_sgd),
    TEST(test_opt_lookahead_adam),
    TEST(test_opt_lbfgs_short_none),
    TEST(test_opt_lbfgs_short_strong_wolfe),
    TEST(test_lbfgs_wolfe_order),
    TEST(test_opt_lbfgs_none),
    TEST(test_opt_lbfgs_strong_wolfe),
    TEST(test_sched_step),
    TEST(test_sched_multistep),
    TEST(test_sched_exponential),
    TEST(test_sched_lambda),
    TEST(test_sched_cosine),
    TEST(test_sched_cosine_warm_restarts),
    TEST(test_sched_warmup_cosine),
    TEST(test_sched_cyclic_triangular),
    TEST(test_sched_cyclic_triangular2),
    TEST(test_sched_cyclic_exp_range),
    TEST(test_sched_onecycle),
    TEST(test_sched_onecycle_linear),
    TEST(test_sched_onecycle_three_phase),
    TEST(test_sched_onecycle_three_phase_linear),
    TEST(test_sched_plateau_min),
    TEST(test_sched_plateau_max_abs),
    TEST(test_momentum_anneal),
    TEST(test_elastic_net),
    TEST(test_l1_sign),
    TEST(test_max_norm),
    TEST(test_penalty),
    TEST(test_optim_hand_rules),
    TEST(test_coupled_regularizers_long_runs),
    TEST(test_clip_grad_norm),
    TEST(test_clip_grad_value),
    TEST(test_check_finite),
    TEST(test_optim_init_errors),
    TEST(test_optim_arena_bytes),
    TEST(test_sched_init_errors),
    TEST(test_sched_desc_default),
    TEST(test_sched_plateau_patience_zero),
    TEST(test_sched_onecycle_linear_hand),
    TEST(test_optim_desc_default),
    TEST(test_optim_literal_zeros),
    TEST(test_lbfgs_desc),
};

int main(int argc, char **argv) { return TEST_MAIN(argc, argv, tests); }
