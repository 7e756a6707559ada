"""Collect the RESULT lines of one `make bench` run into tables, the ratio lines and
bench/RESULTS.md; pick each peer's best configuration from the screens.

    /usr/bin/python3 bench/report.py pick-gemm  <results-dir>
    /usr/bin/python3 bench/report.py pick-torch <results-dir>
    /usr/bin/python3 bench/report.py report     <results-dir> <RESULTS.md> [--readme README.md]

<results-dir> holds one file per process, written by bench/run.sh. A ratio above 1
means nn.h is better: time_peer/time_nn, gflops_nn/gflops_peer, rss_peer/rss_nn.
"""
import math
import os
import re
import sys
import textwrap

# (ratio name, minimum, what the project asks for); "max" targets are upper bounds
TARGETS = [
    ("gemm_squares_ge256_min_t1", 1.0, "GEMM >= 1.0x OpenBLAS at its best on every square >= 256, 1 thread"),
    ("gemm_mlp_geomean_t1", 1.0, "GEMM >= 1.0x OpenBLAS at its best, geomean of the MLP shapes, 1 thread"),
    ("train_b64_t1", 2.0, "training, batch 64, >= 2.0x PyTorch at its best, 1 thread"),
    ("train_b256_t1", 1.5, "training, batch 256, >= 1.5x PyTorch at its best, 1 thread"),
    ("peak_fraction_train_b64", 0.75, "whole training step, batch 64, >= 75% of the FMA peak of nn.h's ISA"),
    ("infer_b1", 3.0, "batch-1 latency >= 3x lower than PyTorch's best form"),
    ("infer_b256", 1.2, "batch-256 inference >= 1.2x PyTorch's best form"),
    ("threads_b256_t2_over_t1", 1.8, "nn.h 2 threads on free cores >= 1.8x 1 thread, batch 256"),
    ("threads_b64_t2_over_t1", 1.6, "nn.h 2 threads on free cores >= 1.6x 1 thread, batch 64"),
    ("train_b256_t2_contended", 0.9, "nn.h 2 threads >= 0.9x 1 thread with a core held by another process, b256"),
    ("rss_train", 1.0 / 0.15, "training peak RSS <= 0.15x PyTorch's (ratio >= 6.67)"),
    ("int8_infer_b1", 2.0, "int8 batch-1 latency >= 2x lower than float nn.h, flagship MLP"),
]
COMPILE_MAX_S = 2.5
REQUIRED = ["gemm_squares_ge256_min_t1", "gemm_mlp_geomean_t1", "train_b64_t1", "train_b256_t1",
            "train_b64_t2", "train_b256_t2", "train_b256_t2_contended", "infer_b1", "infer_b256",
            "peak_fraction_train_b64"]
# FLOPs of one training sample of 784-256-128-10: forward x·Wᵀ per layer, backward
# dW per layer and dx for layers 2 and 3 (the first layer has no dx); 2 per multiply-add.
LAYERS = [(784, 256), (256, 128), (128, 10)]
FLOPS_PER_SAMPLE = 2 * (2 * sum(i * o for i, o in LAYERS) + sum(i * o for i, o in LAYERS[1:]))
BUSY_CORES = 0.1  # other processes' CPU use above which a stage counts as disturbed
# The CNN (examples/fashion_cnn.c): (C, H, W, OC) of its 3x3, padding-1 convolutions and
# (in, out) of its dense layers. FLOPs per sample, 2 per multiply-add, convolutions and
# dense layers only (BatchNorm, ReLU, pooling, dropout and the optimizer left out):
# inference = the forwards; training = forward + dW of every layer + dx of every layer
# but the first convolution (its input needs no gradient).
CNN_CONVS = [(1, 28, 28, 32), (32, 14, 14, 64)]
CNN_DENSE = [(3136, 128), (128, 10)]
_cnn_fwd = [2 * oc * h * w * c * 9 for c, h, w, oc in CNN_CONVS] + [2 * i * o for i, o in CNN_DENSE]
CNN_FLOPS_INFER = sum(_cnn_fwd)
CNN_FLOPS_TRAIN = 2 * sum(_cnn_fwd) + sum(_cnn_fwd[1:])


def read(path):
    """RESULT lines of one file as {name: value string}; {} if the file is missing."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            if line.startswith("RESULT "):
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) == 3:
                    out[parts[1]] = parts[2]
    return out


def num(d, key):
    try:
        return float(str(d[key]).split()[0])
    except (KeyError, ValueError, IndexError):
        return float("nan")


def geomean(xs):
    xs = [x for x in xs if x > 0 and math.isfinite(x)]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def fmt(x, digits=2):
    return "n/a" if not math.isfinite(x) else f"{x:.{digits}f}"


def fint(x):
    return "n/a" if not math.isfinite(x) else f"{x:,.0f}"


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def files(rdir, prefix):
    """{suffix: parsed file} for every <prefix><suffix>.txt in the results."""
    out = {}
    for name in sorted(os.listdir(rdir)):
        if name.startswith(prefix) and name.endswith(".txt"):
            out[name[len(prefix):-4]] = read(os.path.join(rdir, name))
    return out


def honoured(asked, d, key="openblas_core"):
    return d.get(key, "").strip().lower() == asked.lower()


def shapes_of(d):
    out = []
    for key, val in d.items():
        if key.startswith("shape."):
            f = val.split()
            out.append((key[6:], [int(v) for v in f[:5]], f[5], f[6] == "1"))
    return out


def counted(name, in_train):
    """Shapes behind the GEMM ratios: squares and the MLP shapes training runs."""
    return name.startswith("square") or in_train


# ---- picks -----------------------------------------------------------------------
def pick_gemm(rdir):
    """Line 1: core types kept for the full GEMM run (within 15% of the best
    screened core on at least one shape), best geomean first. Line 2: the core
    with the best screened geomean, for the 2-thread run."""
    screens = {c: d for c, d in files(rdir, "gemm_screen_").items() if honoured(c, d)}
    if not screens:
        print("Haswell\nHaswell")
        return
    shapes = [s for s in shapes_of(next(iter(screens.values()))) if counted(s[0], s[3])]
    g = {c: {s[0]: num(d, f"gemm.openblas.t1.{s[0]}") for s in shapes} for c, d in screens.items()}
    best = {s[0]: max((g[c][s[0]] for c in g if math.isfinite(g[c][s[0]])), default=float("nan")) for s in shapes}
    gm = {c: geomean(list(g[c].values())) for c in g}
    keep = [c for c in g if any(g[c][s] >= 0.85 * best[s] for s in best)]
    keep.sort(key=lambda c: -gm[c])
    print(" ".join(keep))
    print(max(gm, key=lambda c: gm[c] if math.isfinite(gm[c]) else -1))


def torch_screens(rdir, prefix="torch_screen_"):
    return {c: d for c, d in files(rdir, prefix).items() if honoured(c, d, "torch_openblas_core")}


def pick_best_train(screens, B, T, extra=""):
    """(samples/s, core, groups...) of the fastest screened training configuration."""
    best = None
    for c, d in screens.items():
        for key in d:
            m = re.fullmatch(rf"train\.b{B}\.t{T}\.tt(\d+)\.ob(\d+)\.foreach(\d){extra}", key)
            if m and (best is None or num(d, key) > best[0]):
                best = (num(d, key), c) + m.groups()
    return best


def pick_best_infer(screens, B):
    """(score, core, form) of the fastest screened inference form (latency at batch 1)."""
    best = None
    for c, d in screens.items():
        for key in d:
            if key.startswith(f"infer.b{B}."):
                v = num(d, key)
                score = -v if B == 1 else v
                if math.isfinite(v) and (best is None or score > best[0]):
                    best = (score, c, key[len(f"infer.b{B}."):])
    return best


def pick_torch(rdir):
    """The fastest PyTorch configuration per job, one line each:
    train <batch> <threads> <core> <torch threads> <OpenBLAS threads> <foreach>
    infer <batch> <form> <core>
    and, once the CNN screens exist (torch_cnn_screen_<core>.txt):
    cnn_train <batch> <threads> <core> <torch threads> <OpenBLAS threads> <foreach> <channels_last>
    cnn_infer <batch> <form> <core>"""
    screens = torch_screens(rdir)
    for B in (64, 256):
        for T in (1, 2):
            best = pick_best_train(screens, B, T)
            if best:
                print(f"train {B} {T} {best[1]} {best[2]} {best[3]} {best[4]}")
    for B in (1, 256):
        best = pick_best_infer(screens, B)
        if best:
            print(f"infer {B} {best[2]} {best[1]}")
    cnn = torch_screens(rdir, "torch_cnn_screen_")
    for T in (1, 2):
        best = pick_best_train(cnn, 64, T, r"\.cl(\d)")
        if best:
            print(f"cnn_train 64 {T} {best[1]} {best[2]} {best[3]} {best[4]} {best[5]}")
    for B in (1, 256):
        best = pick_best_infer(cnn, B)
        if best:
            print(f"cnn_infer {B} {best[2]} {best[1]}")


# ---- report ------------------------------------------------------------------------
def report(rdir, out_md, readme):
    R = lambda name: read(os.path.join(rdir, name))
    meta, info, peak, tinfo = R("meta.txt"), R("info.txt"), R("peak.txt"), R("torch_info.txt")
    stages, compile_ = R("stages.txt"), R("compile.txt")
    ratios, context, md = {}, {}, []
    picks = []
    if os.path.exists(os.path.join(rdir, "picks.txt")):
        with open(os.path.join(rdir, "picks.txt")) as f:
            picks = [line.split() for line in f if line.strip()]

    # ---- machine ----
    lscpu = {}
    if os.path.exists(os.path.join(rdir, "lscpu.txt")):
        with open(os.path.join(rdir, "lscpu.txt")) as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    lscpu[k.strip()] = v.strip()
    cpu_name = lscpu.get("Model name", info.get("cpu_model", "?"))
    fam = info.get("cpu_family_model", "? ?").split()
    ncpu = info.get("cpus_online", "?")
    cpu_line = (f"{cpu_name} ({lscpu.get('Vendor ID', info.get('cpu_vendor', '?'))}, family {fam[0]} model "
                f"{fam[1] if len(fam) > 1 else '?'}, {ncpu} cores online)")
    nn_isa = info.get("nn_simd", "?")
    peak_loop = info.get("nn_peak_loop", "avx2")
    p2, p5 = num(peak, "peak_avx2_fma"), num(peak, "peak_avx512_fma")
    p_nn = p5 if peak_loop == "avx512" else p2
    p_nn_name = "AVX-512" if peak_loop == "avx512" else "AVX2"
    auto_core = info.get("openblas_core", "?")
    kind = meta.get("run_kind", "?")

    md.append("# nn.h benchmark results\n")
    md.append(f"Run: `make bench` ({kind}), {meta.get('date', '?')}, on **{cpu_line}**; nn.h runs its "
              f"**{nn_isa}** kernels. Every figure below is from this one run on this CPU.\n")
    if kind != "full":
        md.append("**This is a quick smoke run (BENCH_QUICK=1): few and short repetitions, numbers are rough.**\n")

    # busy machine
    srows, busy = [], []
    for key, val in stages.items():
        f = val.split()
        if len(f) < 5:
            continue
        name, o = key[len("stage."):], float(f[1])
        srows.append([name, f[0], f[1], f[2], f[3], f[4]])
        if o > BUSY_CORES:
            busy.append(f"{name} ({f[1]} of a core)")
    load_before = meta.get("load_before", "?")
    warn = []
    try:
        if float(load_before.split()[0]) > 0.5:
            warn.append(f"the 1-minute load average was {load_before.split()[0]} before the run started")
    except (ValueError, IndexError):
        pass
    if busy:
        warn.append("other processes took CPU time during: " + ", ".join(busy))
    if warn:
        md.append("**Warning: the machine was busy** — " + "; ".join(warn) + ". 1-thread figures are in thread "
                  "CPU time, which leaves out time lent to other processes but not their effect on caches "
                  "and memory bandwidth; 2-thread figures are wall time and suffer most.\n")

    mach = [
        ("CPU (lscpu)", cpu_line),
        ("CPU flags (SIMD)", info.get("cpu_simd", "?").strip()),
        ("kernel", meta.get("kernel", "?")),
        ("load average (1, 5, 15 min) before / after", f"{load_before} / {meta.get('load_after', '?')}"),
        ("compiler", meta.get("compiler", "?")),
        ("nn.h build flags", f"`{meta.get('cflags_nn', '?')}`"),
        ("bench (with OpenBLAS) build flags", f"`{meta.get('cflags_blas', '?')}`"),
        ("nn.h version / commit / kernels", f"{info.get('nn_version', '?')} / {meta.get('nn_rev', '?')} / "
                                            f"{nn_isa} (nn_simd_level {info.get('nn_simd_level', '?')})"),
        ("OpenBLAS", f"{info.get('openblas_config', '?')}; picks **{auto_core}** by itself (as installed)"),
        ("OpenBLAS core types tried", meta.get("candidates", "?")),
        ("PyTorch", f"{tinfo.get('torch_version', '?')} (Debian python3-torch, {meta.get('python', '?')}); "
                    f"BLAS: {meta.get('torch_blas', '?')}"),
        ("machine environment", meta.get("env", "?")),
        ("OPENBLAS_L2_SIZE for every peer run", meta.get("peer_l2", "?")),
        ("glibc malloc for every measured process", f"`{meta.get('malloc_env', '(defaults)')}`"),
        ("optimizer (both sides)", meta.get("optimizer", "?")),
        ("repetitions", meta.get("reps", "?")),
        ("duration", f"{meta.get('duration_s', '?')} s"),
    ]
    md.append("## Machine\n")
    md.append(table(["", ""], mach) + "\n")
    md.append("### Load during the run\n")
    md.append("CPU time other processes used per stage, from `/proc/stat` minus the bench's own processes "
              f"(a stage with more than {BUSY_CORES} of a core is flagged above); steal is time the hypervisor "
              "gave to other guests.\n")
    md.append(table(["stage", "wall s", "others, cores", "steal, cores", "load before", "load after"], srows) + "\n")

    # ---- compile time ----
    def compile_best(key):
        vals = []
        if os.path.exists(os.path.join(rdir, "compile.txt")):
            with open(os.path.join(rdir, "compile.txt")) as f:
                vals = [float(l.split()[2]) for l in f if l.startswith(f"RESULT {key} ")]
        return (min(vals) if vals else float("nan")), vals

    compile_s, cpu_runs = compile_best("compile_run")
    compile_head, head_runs = compile_best("compile_committed_run")
    md.append("## Compile time\n")
    text = (f"`{compile_.get('compile_cmd', '?')}`: CPU time (user + system, compiler and assembler), "
            f"best of {len(cpu_runs)}: **{fmt(compile_s)} s** (runs: "
            f"{', '.join(fmt(v) for v in cpu_runs)}; target <= {COMPILE_MAX_S} s).")
    if head_runs:
        context["compile_s_committed_nn_h"] = compile_head
        text += (f" For comparison, nn.h as of {compile_.get('compile_committed_rev', '?')} on this machine, "
                 f"timed in turn with it: {fmt(compile_head)} s (runs: {', '.join(fmt(v) for v in head_runs)}).")
    md.append(text + "\n")

    # ---- peak ----
    md.append("## Single-core FMA peak (measured, thread CPU time)\n")
    md.append(table(["loop", "GFLOP/s"], [
        ("AVX2 FMA, 12 independent accumulators, 1 core" + (" (nn.h's ISA)" if peak_loop == "avx2" else ""),
         fmt(p2, 1)),
        ("AVX-512 FMA, 12 independent accumulators, 1 core" + (" (nn.h's ISA)" if peak_loop == "avx512" else ""),
         fmt(p5, 1)),
    ]) + "\n")

    # ---- GEMM ----
    screens = files(rdir, "gemm_screen_")
    t1 = {c: d for c, d in files(rdir, "gemm_t1_").items()}
    t2 = files(rdir, "gemm_t2_")
    t2_core, t2d = (next(iter(t2.items())) if t2 else ("?", {}))
    asinst = t1.pop("asinstalled", None)
    bad = [c for c, d in t1.items() if not honoured(c, d)]
    for c in bad:
        t1.pop(c)
    if asinst is None:
        asinst = next((d for c, d in t1.items() if c.lower() == auto_core.lower()), {})
    shapes = shapes_of(next(iter(t1.values()))) if t1 else []

    srows = []
    for c, d in screens.items():
        ran = d.get("openblas_core", "?")
        ok = honoured(c, d)
        vals = [num(d, f"gemm.openblas.t1.{s[0]}") for s in shapes if counted(s[0], s[3])]
        srows.append([c, ran, "yes" if ok else "**no**", fmt(geomean(vals), 1),
                      "full run" if c in t1 else "screened out"])
    md.append("## OpenBLAS at its best\n")
    md.append("Each core type runs in its own process with `OPENBLAS_CORETYPE` set (and checked: "
              "`openblas_get_corename()` must name it). A screen (1 repetition per shape) keeps every core "
              "type within 15% of the best on some shape; those are measured in full, interleaved with "
              "nn.h, and each shape is compared with the fastest of them. The 2-thread run uses the core "
              "type with the best screened geomean.\n")
    md.append(table(["core type asked", "ran", "honoured", "screen geomean GFLOP/s (squares + MLP)", ""],
                    srows) + "\n")

    head = ["shape", "M", "N", "K", "op", "beta", "nn.h t1", "OpenBLAS best t1", "core", "ratio t1",
            f"nn.h % {p_nn_name} peak", "nn.h t2", f"OpenBLAS {t2_core} t2", "ratio t2",
            f"as installed ({auto_core}) t1", "ratio vs as installed", "max rel diff"]
    rows, mlp, mlp2, mlp_ai, wins = [], [], [], [], {"squares_ge256": {}, "mlp": {}, "all": {}}
    sq_ai = {}
    for name, (M, N, K, ta, tb), beta, in_train in shapes:
        cand = {c: (num(d, f"gemm.nn.t1.{name}"), num(d, f"gemm.openblas.t1.{name}")) for c, d in t1.items()}
        win = max(cand, key=lambda c: cand[c][1] if math.isfinite(cand[c][1]) else -1)
        nn1, ob1 = cand[win]
        r1 = nn1 / ob1
        nn2, ob2 = num(t2d, f"gemm.nn.t2.{name}"), num(t2d, f"gemm.openblas.t2.{name}")
        r2 = nn2 / ob2
        ai_nn, ai_ob = num(asinst, f"gemm.nn.t1.{name}"), num(asinst, f"gemm.openblas.t1.{name}")
        rai = ai_nn / ai_ob
        op = ("A^T" if ta else "A") + "·" + ("B^T" if tb else "B")
        rows.append([name if counted(name, in_train) else name + " *", M, N, K, op, beta, fmt(nn1, 1),
                     fmt(ob1, 1), win, fmt(r1), fmt(100 * nn1 / p_nn, 0), fmt(nn2, 1), fmt(ob2, 1), fmt(r2),
                     fmt(ai_ob, 1), fmt(rai), next(iter(t1.values())).get(f"gemm_maxreldiff.{name}", "?")])
        if name.startswith("square"):
            ratios[f"gemm_{name}_t1"] = r1
            ratios[f"gemm_{name}_t2"] = r2
            sq_ai[name] = rai
            if int(name[6:]) >= 256:
                wins["squares_ge256"][win] = wins["squares_ge256"].get(win, 0) + 1
        elif in_train:
            mlp.append(r1)
            mlp2.append(r2)
            mlp_ai.append(rai)
            wins["mlp"][win] = wins["mlp"].get(win, 0) + 1
        wins["all"][win] = wins["all"].get(win, 0) + 1
    big = [n for n, *_ in shapes if n.startswith("square") and int(n[6:]) >= 256]
    ratios["gemm_squares_ge256_min_t1"] = min((ratios[f"gemm_{n}_t1"] for n in big), default=float("nan"))
    ratios["gemm_squares_ge256_min_t2"] = min((ratios[f"gemm_{n}_t2"] for n in big), default=float("nan"))
    ratios["gemm_mlp_geomean_t1"] = geomean(mlp)
    ratios["gemm_mlp_geomean_t2"] = geomean(mlp2)
    ai = auto_core.lower()
    context[f"gemm_squares_ge256_min_t1_vs_openblas_as_installed_{ai}"] = min(
        (sq_ai[n] for n in big), default=float("nan"))
    context[f"gemm_mlp_geomean_t1_vs_openblas_as_installed_{ai}"] = geomean(mlp_ai)
    md.append("## GEMM, GFLOP/s (C = op(A)·op(B) + beta·C, row-major, float32)\n")
    md.append("`nn_gemm` against `cblas_sgemm` with the same transposes, interleaved repetition by "
              "repetition in one process per core type; t1 in thread CPU time, t2 (2 threads: "
              "`omp_set_num_threads` for nn.h, `openblas_set_num_threads` for OpenBLAS) in wall time, each "
              "repetition starting once the other library's idle threads stopped spinning. The nn.h t1 "
              "figure is the one measured beside the winning core type. MLP shapes of 784-256-128-10 at "
              "batch 64 and 256: `fwd` y = x·Wᵀ (M=batch, N=out, K=in), `dx` = dy·W (M=batch, N=in, K=out), "
              "`dw` += dyᵀ·x (M=out, N=in, K=batch, beta=1). Rows marked * are not run by training (the "
              "first layer has no dx) and are left out of the geomean. The as-installed columns are "
              "context only. \"max rel diff\": largest |nn - OpenBLAS| / max|OpenBLAS| on one call.\n")
    md.append(table(head, rows) + "\n")
    win_txt = {g: ", ".join(f"{c} ({n})" for c, n in sorted(w.items(), key=lambda x: -x[1])) for g, w in wins.items()}
    md.append(f"Winning OpenBLAS core type (shapes won): squares >= 256: {win_txt['squares_ge256']}; MLP "
              f"shapes: {win_txt['mlp']}.\n")

    # ---- training ----
    tscreens = torch_screens(rdir)
    pick_train = {(int(p[1]), int(p[2])): p[3:] for p in picks if p[0] == "train"}
    pick_infer = {int(p[1]): (p[2], p[3]) for p in picks if p[0] == "infer"}
    train_rows, duel = [], {}
    for B in (64, 256):
        for T in (1, 2):
            d = R(f"duel_train_b{B}_t{T}.txt")
            duel[(B, T)] = d
            nn_sps, pt_sps = num(d, "nn.samples_per_s"), num(d, "torch.samples_per_s")
            ratios[f"train_b{B}_t{T}"] = nn_sps / pt_sps
            pk = pick_train.get((B, T), ["?", "?", "?", "?"])
            cfg = f"{pk[0]}, torch {pk[1]} thr, OpenBLAS {pk[2]} thr, foreach={'True' if pk[3] == '1' else 'False'}"
            train_rows.append([B, T, fint(nn_sps), fint(pt_sps), fmt(nn_sps / pt_sps),
                               fmt(num(d, "ratio_paired_median")), cfg,
                               f"{d.get('nn.clock', '?')} / {d.get('torch.clock', '?')}",
                               f"{d.get('nn.wall_over_clock', '?')} / {d.get('torch.wall_over_clock', '?')}",
                               f"{d.get('nn.last_rep_loss', '?')} / {d.get('torch.last_rep_loss', '?')}"])
    md.append("## Training: Fashion-MNIST, samples/s (median over repetitions)\n")
    md.append("784-256-128-10 ReLU MLP, 60000 images shuffled, cross-entropy, "
              f"{meta.get('optimizer', '?')}. Both sides keep the images as uint8 and convert each batch "
              "to normalized float inside the timed step. PyTorch: `nn.Sequential(Linear, ReLU, Linear, ReLU, "
              "Linear)`, `F.cross_entropy`, `zero_grad(set_to_none=True)`, `backward`, `step`, `loss.item()` "
              "every step, in the configuration its screen found fastest for the job (OpenBLAS core type, "
              "torch and OpenBLAS thread counts, optimizer `foreach`). nn.h runs as a child process of the "
              "PyTorch one (`bench serve`); the sides take turns repetition by repetition, order "
              "alternating, after a warm-up of 30 steps each. Clock: 1 thread in thread CPU time "
              "(process CPU time if work ran on other threads), 2 threads in wall time.\n")
    md.append(table(["batch", "threads", "nn.h", "PyTorch (best)", "ratio", "median of paired ratios",
                     "PyTorch configuration", "clock nn.h / PyTorch", "wall / clock nn.h / PyTorch",
                     "mean loss, last rep nn.h / PyTorch"], train_rows) + "\n")
    md.append("\"ratio\" is median over nn.h's repetitions / median over PyTorch's; \"median of paired "
              "ratios\" pairs each nn.h repetition with the PyTorch one next to it (a check on drift). "
              "\"wall / clock\" near 1 at 1 thread means the side had its core to itself.\n")
    sps_nn_b64 = num(duel[(64, 1)], "nn.samples_per_s")
    p_beside = num(duel[(64, 1)], "nn.peak_gflops")  # measured between the training repetitions
    p_train = p_beside if math.isfinite(p_beside) else p_nn
    ratios["peak_fraction_train_b64"] = FLOPS_PER_SAMPLE * sps_nn_b64 / (p_train * 1e9)
    md.append(f"Whole training step against the FMA peak: {FLOPS_PER_SAMPLE:,} GEMM FLOPs per sample "
              "(forward, dW of every layer, dx of layers 2 and 3) x "
              f"{fint(sps_nn_b64)} samples/s (batch 64, 1 thread) = "
              f"{fmt(FLOPS_PER_SAMPLE * sps_nn_b64 * 1e-9, 1)} GFLOP/s, "
              f"**{fmt(100 * ratios['peak_fraction_train_b64'], 1)}%** of the {p_nn_name} FMA peak "
              f"({fmt(p_train, 1)} GFLOP/s, " + ("the median of the peak loop run in the nn.h process after each "
              "of its training repetitions, in thread CPU time" if math.isfinite(p_beside) else
              "the peak table above") + f"; nn.h runs {nn_isa}).\n")

    # screen table for training
    trows = []
    for c, d in tscreens.items():
        for B in (64, 256):
            for T in (1, 2):
                vals = {k: num(d, k) for k in d if k.startswith(f"train.b{B}.t{T}.")}
                if vals:
                    k = max(vals, key=lambda k: vals[k])
                    trows.append([c, B, T, fint(vals[k]), k.split(".", 3)[3],
                                  ", ".join(f"{kk.split('.', 3)[3]} {fint(v)}" for kk, v in vals.items() if kk != k)])
    md.append("### PyTorch screen (short runs, samples/s; tt = torch threads, ob = OpenBLAS threads)\n")
    md.append(table(["core type", "batch", "threads", "best", "configuration", "others"], trows) + "\n")

    phases = ["gather", "forward", "loss", "zero_grad", "backward", "optim"]
    prows = []
    for B in (64, 256):
        d = duel[(B, 1)]
        for ph in phases:
            a, b = num(d, f"nn.phase_us.{ph}"), num(d, f"torch.phase_us.{ph}")
            prows.append([B, ph, fmt(a, 1), fmt(b, 1), fmt(b / a) if a > 0 else "n/a"])
    md.append("### Where a training step's time goes, 1 thread (µs per step, wall, mean over all steps)\n")
    md.append("gather: shuffle-order rows to normalized float; loss: nn.h also writes the logits' "
              "gradient here, PyTorch in backward; optim: the optimizer update.\n")
    md.append(table(["batch", "phase", "nn.h", "PyTorch", "PyTorch / nn.h"], prows) + "\n")

    # ---- threads ----
    th_rows = []
    for B in (64, 256):
        d = R(f"threads_b{B}.txt")
        f1, f2, b1, b2 = (num(d, f"sps.{p}.t{t}") for p in ("free", "busy") for t in (1, 2))
        ratios[f"threads_b{B}_t2_over_t1"] = f2 / f1
        ratios[f"train_b{B}_t2_contended"] = b2 / b1
        context[f"train_b{B}_t2_contended_vs_free_t1"] = b2 / f1
        th_rows.append([B, fint(f1), fint(f2), fmt(f2 / f1), fint(b1), fint(b2), fmt(b2 / b1),
                        d.get("busy_spinner_core_share", "?"),
                        f"{d.get('pool_parallel_fraction.free', '?')} / {d.get('pool_parallel_fraction.busy', '?')}"])
    md.append("## nn.h's threads: 2 threads against 1, free cores and a contended core\n")
    md.append("nn.h training (same step as above), samples/s in wall time, the 1- and 2-thread runs "
              "alternating repetition by repetition in one process. \"busy\": the bench forks a busy-loop "
              "process of its own, pinned to the last core (bounded in time, killed at the end); its "
              "measured share of that core over the phase is in the last column. `train_b<B>_t2_contended` = 2 threads / "
              "1 thread, both with the busy loop running: whether a user who asks for 2 threads on a busy "
              "machine loses against asking for 1 (target: never below 0.9).\n")
    md.append(table(["batch", "free t1", "free t2", "t2 / t1", "busy t1", "busy t2", "busy t2 / t1",
                     "busy loop's core share", "pool's GEMMs on 2 threads, free / busy"], th_rows) + "\n")
    probe = R("threads_b64.txt")
    peaks = [probe[k] for k in sorted(probe) if k.startswith("core_peak_gflops.")]
    if peaks:
        md.append("What these stand on, measured at the start of the batch-64 phase: each core's FMA peak "
                  "alone, " + " and ".join(f"{v} GFLOP/s" for v in peaks) + " (a core whose physical core "
                  "another guest or process shares shows lower), and a cache line's round trip between cores "
                  "0 and 1, " + probe.get("core_roundtrip_ns.0.1", "?") + " ns (under about 150 ns on one "
                  "chiplet; more means every value one thread writes and the other reads crosses a slow "
                  "link). nn.h's pool is adaptive: it times the loop alone and on its workers and keeps the "
                  "faster, so the last column is the share of GEMM calls it ran on 2 threads.\n")

    # ---- inference ----
    i1, i256 = R("duel_infer_b1.txt"), R("duel_infer_b256.txt")
    b1n, b1p = num(i1, "nn.latency_us"), num(i1, "torch.latency_us")
    b256n, b256p = num(i256, "nn.samples_per_s"), num(i256, "torch.samples_per_s")
    ratios["infer_b1"] = b1p / b1n
    ratios["infer_b256"] = b256n / b256p
    f1_, c1_ = pick_infer.get(1, ("?", "?"))
    f256, c256 = pick_infer.get(256, ("?", "?"))
    md.append("## Inference, 1 thread\n")
    md.append("Same model in EVAL mode; inputs are test images converted to float beforehand, consecutive "
              "rows cycling. PyTorch runs the form and core type its screen found fastest for the job "
              "(eager, `torch.jit.trace`, + `torch.jit.freeze`, + `torch.jit.optimize_for_inference`, under "
              "`torch.no_grad` or `torch.inference_mode`), 1 torch thread, 1 OpenBLAS thread. Each "
              "repetition is a run of back-to-back calls, in thread CPU time, the sides alternating; "
              "median per call.\n")
    md.append(table(["measure", "nn.h", "PyTorch", "PyTorch form (core type)", "ratio", "median of paired ratios",
                     "wall / clock nn.h / PyTorch"], [
        ("batch-1 latency, µs (lower is better)", fmt(b1n, 2), fmt(b1p, 2), f"{f1_} ({c1_})", fmt(b1p / b1n),
         fmt(num(i1, "ratio_paired_median")), f"{i1.get('nn.wall_over_clock', '?')} / {i1.get('torch.wall_over_clock', '?')}"),
        ("batch-256 throughput, samples/s", fint(b256n), fint(b256p), f"{f256} ({c256})", fmt(b256n / b256p),
         fmt(num(i256, "ratio_paired_median")),
         f"{i256.get('nn.wall_over_clock', '?')} / {i256.get('torch.wall_over_clock', '?')}"),
    ]) + "\n")
    # ---- int8 ----
    q8 = R("int8.txt")
    if q8:
        f_us, q_us = num(q8, "float.latency_us"), num(q8, "int8.latency_us")
        ratios["int8_infer_b1"] = f_us / q_us
        wq, wf = num(q8, "int8.weight_bytes"), num(q8, "int8.float_weight_bytes")
        md.append("## int8 inference, 1 thread\n")
        md.append("The flagship MLP of examples/fashion_mnist.c (784-512-BN-ReLU-dropout-256-BN-ReLU-dropout-10) "
                  "in float (`nn_model_forward`, EVAL) and quantized (`nn_qmodel_forward`: int8 weights per output "
                  "channel with the batch norms folded in, inputs calibrated on 500 training images); test images "
                  "as float inputs, consecutive rows cycling; thread CPU time, the two alternating rep by rep, "
                  "median per call. Accuracy is measured by tests/test_quant.c on Fashion-MNIST.\n")
        md.append(table(["measure", "float nn.h", "int8 nn.h", "ratio", "median of paired ratios"], [
            (f"batch-1 latency, µs ({q8.get('int8.float_simd', '?')} / {q8.get('int8.kernel', '?')})",
             fmt(f_us, 2), fmt(q_us, 2), fmt(f_us / q_us), fmt(num(q8, "ratio_paired_median"))),
            ("batch-256 throughput, samples/s (context)", fint(num(q8, "float.samples_per_s_b256")),
             fint(num(q8, "int8.samples_per_s_b256")),
             fmt(num(q8, "int8.samples_per_s_b256") / num(q8, "float.samples_per_s_b256")), ""),
            ("weights, bytes", fint(wf), fint(wq), fmt(wf / wq), ""),
        ]) + "\n")

    irows = []
    forms = sorted({k.split(".", 2)[2] for d in tscreens.values() for k in d if k.startswith("infer.b1.")})
    for form in forms:
        row = [form]
        for B in (1, 256):
            for c, d in tscreens.items():
                v = num(d, f"infer.b{B}.{form}")
                row.append(fmt(v, 1) if B == 1 else fint(v))
        irows.append(row)
    cores_s = list(tscreens)
    md.append("### PyTorch inference forms (screen: µs per batch-1 call, samples/s at batch 256)\n")
    md.append(table(["form"] + [f"b1 {c}" for c in cores_s] + [f"b256 {c}" for c in cores_s], irows) + "\n")

    # ---- CNN ----
    cnn = cnn_section(R, picks, cpu_name, nn_isa, p_nn, p_nn_name, torch_screens(rdir, "torch_cnn_screen_"))
    if cnn:
        md.extend(cnn["md"])
        ratios.update(cnn["ratios"])

    # ---- memory ----
    d = duel[(64, 1)]
    rn, rp = num(d, "nn.max_rss_kb"), num(d, "torch.max_rss_kb")
    ratios["rss_train"] = rp / rn
    data_kb = 60000 * 784 / 1024.0  # the uint8 training images both processes hold
    context["rss_train_excluding_images"] = (rp - data_kb) / (rn - data_kb)
    md.append("## Peak resident memory of training (batch 64, 1 thread)\n")
    md.append("Peak resident memory (`VmHWM` of `/proc/self/status`) of each side's process after its first "
              "repetition (not `ru_maxrss`, which Linux carries across `execve` from the PyTorch parent into "
              "the nn.h child). Both hold the 60000 training images as uint8 (44.9 MiB). The nn.h process is "
              "built without OpenBLAS.\n")
    md.append(table(["", "nn.h", "PyTorch", "ratio (PyTorch / nn.h)"], [
        ("max RSS, MiB", fmt(rn / 1024, 1), fmt(rp / 1024, 1), fmt(rp / rn)),
        ("RSS after the first repetition, MiB", fmt(num(d, "nn.rss_now_kb") / 1024, 1),
         fmt(num(d, "torch.rss_now_kb") / 1024, 1), ""),
        ("max RSS minus the images (context)", fmt((rn - data_kb) / 1024, 1), fmt((rp - data_kb) / 1024, 1),
         fmt((rp - data_kb) / (rn - data_kb))),
    ]) + "\n")

    # ---- ratios, targets ----
    order = REQUIRED + ["threads_b64_t2_over_t1", "threads_b256_t2_over_t1", "train_b64_t2_contended",
                        "gemm_square64_t1", "gemm_square128_t1", "gemm_square256_t1", "gemm_square512_t1",
                        "gemm_square1024_t1", "gemm_squares_ge256_min_t2", "gemm_mlp_geomean_t2", "rss_train"]
    order += ["cnn_train_b64_t1", "cnn_train_b64_t2", "cnn_infer_b1", "cnn_infer_b256", "int8_infer_b1"]
    order += [k for k in ratios if k not in order]
    lines = [f"ratio {k} {ratios[k]:.3f}" for k in order if k in ratios]
    ctx_lines = [f"context {k} {v:.3f}" for k, v in context.items()]
    core_lines = [f"openblas_core as_installed {auto_core}",
                  f"openblas_core gemm_squares_ge256_t1 {win_txt['squares_ge256']}",
                  f"openblas_core gemm_mlp_t1 {win_txt['mlp']}",
                  f"openblas_core gemm_t2 {t2_core}"]
    core_lines += [f"torch_best train_b{B}_t{T} " + (" ".join(pick_train[(B, T)]) if (B, T) in pick_train else "?")
                   + "  (core torch_threads openblas_threads foreach)" for B in (64, 256) for T in (1, 2)]
    core_lines += [f"torch_best infer_b{B} {pick_infer[B][0]} {pick_infer[B][1]}" for B in (1, 256)
                   if B in pick_infer]
    if cnn:
        core_lines += cnn["core_lines"]
    head_lines = [f"cpu {cpu_line}; nn.h kernels {nn_isa}", f"compile_s {fmt(compile_s)}"]
    md.append("## Ratios (> 1: nn.h better)\n")
    conv_lines = cnn["conv_lines"] if cnn else []
    md.append("```\n" + "\n".join(head_lines + core_lines + lines + conv_lines + ctx_lines) + "\n```\n")
    if cnn:
        md.append("`conv_gflops` lines: GFLOP/s of the CNN's convolutions alone, batch 64, 1 thread (see CNN).\n")
    md.append("`context` lines are not targets: `..._vs_openblas_as_installed_<core>` compare with the core "
              "type OpenBLAS picks by itself; `compile_s_committed_nn_h` is the compile time of "
              "another revision's header (see Compile time); `train_b<B>_t2_contended_vs_free_t1` is 2 threads under the busy "
              "loop against 1 thread on free cores; `rss_train_excluding_images` leaves out the images "
              "both processes hold.\n")
    trows = []
    for key, lo, what in TARGETS:
        v = ratios.get(key, float("nan"))
        trows.append([what, f"`{key}`", fmt(v), fmt(lo), "met" if v >= lo else "**not met**"])
    trows.append([f"compile time of the implementation, gcc -O2, <= {COMPILE_MAX_S} s CPU", "`compile_s`",
                  fmt(compile_s), f"<= {COMPILE_MAX_S}", "met" if compile_s <= COMPILE_MAX_S else "**not met**"])
    md.append("## Targets\n")
    md.append(table(["target", "figure", "value", "needed", "status"], trows) + "\n")
    md.append("## Method\n")
    md.append("- Peers at their best on the machine at hand: OpenBLAS per shape with the fastest of its core "
              "types (see above); PyTorch per job with the fastest core type, thread setting, optimizer "
              "implementation and inference form of its screen. What the libraries pick by themselves (\"as "
              "installed\") is context only.\n"
              "- Every peer process gets `OPENBLAS_CORETYPE`, `OPENBLAS_NUM_THREADS` and `OPENBLAS_L2_SIZE` set "
              "explicitly (recorded in each raw file as `peer_env`); the machine's own values are in the "
              "Machine table.\n"
              "- glibc malloc keeps freed memory in every measured process (`MALLOC_MMAP_THRESHOLD_`, "
              "`MALLOC_TRIM_THRESHOLD_`, see Machine). With the defaults, PyTorch's training step maps and "
              "unmaps its larger tensors and pays a page fault per 4 KiB touched again; on this virtual "
              "machine that made it up to 4x slower, varying from one process to the next. nn.h allocates "
              "nothing in a step, so the setting only helps the peer.\n"
              "- Interleaving: GEMM repetitions alternate between the libraries shape by shape; training and "
              "inference repetitions alternate between the PyTorch process and its nn.h child; nn.h's 1- and "
              "2-thread runs alternate. Every figure is a median over repetitions.\n"
              "- Clocks: 1-thread figures in thread CPU time (`CLOCK_THREAD_CPUTIME_ID`, `time.thread_time()`), "
              "2-thread figures in wall time; the load average before and after and other processes' CPU "
              "time per stage are recorded, with a warning when the machine was busy. On a virtual machine "
              "whose kernel reports no steal time, time the host takes from the vCPU still counts as thread "
              "CPU time: only the interleaving keeps such slow spells from landing on one side alone.\n"
              "- Reproduce with `make bench` (`bash bench/run.sh`); `BENCH_QUICK=1` for a smoke run; "
              "`BENCH_README=1` also rewrites README.md's Speed section.\n")

    with open(out_md, "w") as f:
        f.write("\n".join(md))

    if readme:
        update_readme(readme, ratios, cpu_name, fam, ncpu, nn_isa, meta, info, tinfo, t1, shapes, p_nn_name,
                      duel, pick_train, pick_infer, i1, i256, win_txt, auto_core, context, compile_s, warn,
                      rn, rp, R, compile_.get("compile_committed_rev", "?"), cnn)

    # terminal: the warning, then the lines, last
    if warn:
        print("warning: the machine was busy: " + "; ".join(warn))
    for line in head_lines + core_lines + lines + conv_lines + ctx_lines:
        print(line)
    for key, lo, what in TARGETS:
        v = ratios.get(key, float("nan"))
        if not v >= lo:
            print(f"target not met: {key} {fmt(v)} (needed {fmt(lo)})")
    if not compile_s <= COMPILE_MAX_S:
        print(f"target not met: compile_s {fmt(compile_s)} (needed <= {COMPILE_MAX_S})")


def cnn_section(R, picks, cpu_name, nn_isa, p_nn, p_nn_name, screens):
    """The CNN's tables, ratios and lines; None when the run has no CNN results."""
    tr = {T: R(f"cnn_duel_train_b64_t{T}.txt") for T in (1, 2)}
    inf = {B: R(f"cnn_duel_infer_b{B}.txt") for B in (1, 256)}
    conv = R("cnn_conv.txt")
    if not any(tr.values()) and not any(inf.values()) and not conv:
        return None
    pk_train = {int(p[2]): p[3:] for p in picks if p[0] == "cnn_train" and len(p) >= 8}
    pk_infer = {int(p[1]): (p[2], p[3]) for p in picks if p[0] == "cnn_infer" and len(p) >= 4}
    ratios, md, rows = {}, [], []
    gf = lambda sps, flops: sps * flops * 1e-9
    for T in (1, 2):
        d = tr[T]
        a, b = num(d, "nn.samples_per_s"), num(d, "torch.samples_per_s")
        ratios[f"cnn_train_b64_t{T}"] = a / b
        pk = pk_train.get(T, ["?"] * 5)
        cfg = (f"{pk[0]}, torch {pk[1]} thr, OpenBLAS {pk[2]} thr, foreach={'True' if pk[3] == '1' else 'False'}, "
               f"{'channels_last' if pk[4] == '1' else 'contiguous'}")
        peak = fmt(100 * gf(a, CNN_FLOPS_TRAIN) / p_nn, 0) + "%" if T == 1 else ""
        rows.append([f"training, batch 64, {T} thread{'s' if T > 1 else ''}", fint(a), fint(b),
                     fmt(gf(a, CNN_FLOPS_TRAIN), 1), fmt(gf(b, CNN_FLOPS_TRAIN), 1), peak, fmt(a / b),
                     fmt(num(d, "ratio_paired_median")), cfg,
                     f"{d.get('nn.clock', '?')} / {d.get('torch.clock', '?')}",
                     f"{d.get('nn.wall_over_clock', '?')} / {d.get('torch.wall_over_clock', '?')}"])
    for B in (1, 256):
        d = inf[B]
        if B == 1:
            ln, lp = num(d, "nn.latency_us"), num(d, "torch.latency_us")
            a, b = 1e6 / ln, 1e6 / lp
            label = f"inference, batch 1 (latency nn.h {fmt(ln, 1)} µs, PyTorch {fmt(lp, 1)} µs)"
        else:
            a, b = num(d, "nn.samples_per_s"), num(d, "torch.samples_per_s")
            label = "inference, batch 256"
        ratios[f"cnn_infer_b{B}"] = a / b
        form, core = pk_infer.get(B, ("?", "?"))
        rows.append([label + ", 1 thread", fint(a), fint(b), fmt(gf(a, CNN_FLOPS_INFER), 1),
                     fmt(gf(b, CNN_FLOPS_INFER), 1), fmt(100 * gf(a, CNN_FLOPS_INFER) / p_nn, 0) + "%", fmt(a / b),
                     fmt(num(d, "ratio_paired_median")), f"{form} ({core})",
                     f"{d.get('nn.clock', '?')} / {d.get('torch.clock', '?')}",
                     f"{d.get('nn.wall_over_clock', '?')} / {d.get('torch.wall_over_clock', '?')}"])
    steps = tr[1].get("steps_per_rep", "?")
    md.append("## CNN: Fashion-MNIST images, samples/s (median over repetitions)\n")
    md.append(f"On **{cpu_name}**, nn.h running its {nn_isa} kernels. The model of examples/fashion_cnn.c, "
              "identical on both sides: input (1, 28, 28); `Conv2d(1, 32, 3, padding=1)`, `BatchNorm2d(32)`, "
              "ReLU, `MaxPool2d(2)`, `Conv2d(32, 64, 3, padding=1)`, `BatchNorm2d(64)`, ReLU, `MaxPool2d(2)`, "
              "flatten, `Linear(3136, 128)`, ReLU, `Dropout(0.3)`, `Linear(128, 10)`; cross-entropy, AdamW "
              "(lr 1e-3, weight decay 0.01 on every parameter, the defaults of both). Training as for the MLP "
              "(uint8 images gathered in shuffled order and converted inside the step, `loss.item()` every "
              f"step), {steps} steps per repetition after 10 warm-up steps; 2 threads: nn.h's thread pool, "
              "PyTorch in the best of the thread settings the MLP screen tries. PyTorch's screen also tries "
              "the channels_last memory format (model and input converted) for every training configuration "
              "and inference form (eager, traced, frozen, optimize_for_inference, each under no_grad and "
              "inference_mode), on the OpenBLAS core type its MLP screen picked for the nearest job (its "
              "convolutions run in oneDNN, its Linear layers in OpenBLAS). GFLOP/s count the "
              f"convolutions and dense layers only: {CNN_FLOPS_TRAIN:,} FLOPs per training sample (forward, dW "
              f"of every layer, dx of every layer but the first convolution), {CNN_FLOPS_INFER:,} per inference "
              f"sample; \"% peak\" is nn.h's share of the 1-core {p_nn_name} FMA peak ({fmt(p_nn, 1)} GFLOP/s). "
              "Clocks and interleaving as for the MLP.\n")
    md.append(table(["measure", "nn.h samples/s", "PyTorch samples/s", "nn.h GFLOP/s", "PyTorch GFLOP/s",
                     "nn.h % peak", "ratio", "median of paired ratios", "PyTorch configuration (core type)",
                     "clock nn.h / PyTorch", "wall / clock nn.h / PyTorch"], rows) + "\n")

    # the convolutions alone
    crows, conv_lines = [], []
    for l, (c, h, w, oc) in enumerate(CNN_CONVS, 1):
        for ps in ("fwd", "bwd"):
            k = f"conv.l{l}.{ps}"
            if not conv:
                continue
            a, b = num(conv, f"{k}.nn.gflops"), num(conv, f"{k}.torch.gflops")
            what = "forward" if ps == "fwd" else "backward: dW, db" + (", dx" if l > 1 else " (no dx)")
            crows.append([f"conv{l} {what}", f"(64, {c}, {h}, {w}) -> {oc}, 3x3, pad 1",
                          fmt(num(conv, f"{k}.flops") * 1e-6, 1), fmt(a, 1), fmt(b, 1),
                          conv.get(f"{k}.torch.layout", "?"), fmt(a / b), fmt(100 * a / p_nn, 0) + "%"])
            conv_lines.append(f"conv_gflops conv{l}_{ps} nn {fmt(a, 1)} torch {fmt(b, 1)} "
                              f"({conv.get(f'{k}.torch.layout', '?')})")
    if crows:
        md.append("### conv layer GFLOP/s, forward and backward (batch 64, 1 thread)\n")
        md.append("The CNN's two convolutions alone, with bias, on random data: nn.h's `nn_conv2d_forward` / "
                  "`nn_conv2d_backward` (implicit GEMM; dW on im2col; scratch from `nn_conv2d_work_floats`) against "
                  "`torch.nn.functional.conv2d` under `torch.no_grad` and `torch.autograd.grad` of a retained "
                  "graph, PyTorch in the faster of its two memory formats (a short screen first); repetitions "
                  "alternate, thread CPU time, median. FLOPs counted: forward 2·N·OC·OH·OW·C·KH·KW; backward "
                  "what a training step asks: dW (the same count) for both layers and dx (the same again) for "
                  "conv2 only, since conv1's input is the image (db's few additions are not counted).\n")
        md.append(table(["pass", "shape", "MFLOP per call", "nn.h GFLOP/s", "PyTorch GFLOP/s",
                         "PyTorch layout", "ratio", f"nn.h % {p_nn_name} peak"], crows) + "\n")

    # screen
    srows = []
    for c, d in screens.items():
        for T in (1, 2):
            vals = {k: num(d, k) for k in d if k.startswith(f"train.b64.t{T}.")}
            if vals:
                k = max(vals, key=lambda k: vals[k])
                srows.append([c, f"train b64 t{T}", fint(vals[k]), k.split(".", 3)[3],
                              ", ".join(f"{kk.split('.', 3)[3]} {fint(v)}" for kk, v in vals.items() if kk != k)])
        for B in (1, 256):
            vals = {k: num(d, k) for k in d if k.startswith(f"infer.b{B}.")}
            if vals:
                k = (min if B == 1 else max)(vals, key=lambda k: vals[k])
                fv = (lambda v: fmt(v, 1)) if B == 1 else fint
                srows.append([c, f"infer b{B}" + (" (µs)" if B == 1 else ""), fv(vals[k]), k.split(".", 2)[2],
                              ", ".join(f"{kk.split('.', 2)[2]} {fv(v)}" for kk, v in vals.items() if kk != k)])
    if srows:
        md.append("### PyTorch CNN screen (short runs; samples/s, µs per call at inference batch 1)\n")
        md.append(table(["core type", "job", "best", "configuration", "others"], srows) + "\n")
    core_lines = [f"torch_best cnn_train_b64_t{T} " + (" ".join(pk_train[T]) if T in pk_train else "?")
                  + "  (core torch_threads openblas_threads foreach channels_last)" for T in (1, 2)]
    core_lines += [f"torch_best cnn_infer_b{B} {pk_infer[B][0]} {pk_infer[B][1]}" for B in (1, 256) if B in pk_infer]
    return {"md": md, "ratios": ratios, "core_lines": core_lines, "conv_lines": conv_lines}


def update_readme(path, ratios, cpu_name, fam, ncpu, nn_isa, meta, info, tinfo, t1, shapes, p_nn_name, duel,
                  pick_train, pick_infer, i1, i256, win_txt, auto_core, context, compile_s, warn, rn, rp, R,
                  compile_rev="?", cnn=None):
    """Rewrite the "## Speed" section of README.md from this run."""
    sq = [n for n, *_ in shapes if n.startswith("square") and int(n[6:]) >= 256]
    compile_base = context.get("compile_s_committed_nn_h", float("nan"))

    def best_ob(name):
        return max((num(d, f"gemm.openblas.t1.{name}"), num(d, f"gemm.nn.t1.{name}")) for d in t1.values())

    sq_nn = [best_ob(n)[1] for n in sq]
    sq_ob = [best_ob(n)[0] for n in sq]
    rng = lambda v: f"{min(v):.0f}-{max(v):.0f}" if v else "n/a"
    tv = ".".join(tinfo.get("torch_version", "?").split(".")[:2])
    wins_short = lambda w: ", ".join(f"{c} on {n}" for c, n in re.findall(r"(\S+) \((\d+)\)", w))
    n_mlp = sum(int(n) for n in re.findall(r"\((\d+)\)", win_txt["mlp"]))

    def trow(B, T, label):
        d = duel[(B, T)]
        pk = pick_train.get((B, T), ["?"] * 4)
        return [label, fint(num(d, "nn.samples_per_s")),
                f"PyTorch {tv} ({pk[0]}; torch {pk[1]}, OpenBLAS {pk[2]} thr): {fint(num(d, 'torch.samples_per_s'))}",
                fmt(ratios.get(f"train_b{B}_t{T}", float("nan")))]

    f1_, c1_ = pick_infer.get(1, ("?", "?"))
    f256, c256 = pick_infer.get(256, ("?", "?"))
    rows = [
        ["GEMM, squares 256-1024, 1 thread, GFLOP/s (worst ratio)", rng(sq_nn),
         f"OpenBLAS 0.3.21 at its best ({wins_short(win_txt['squares_ge256'])} of {len(sq)}): {rng(sq_ob)}",
         fmt(ratios["gemm_squares_ge256_min_t1"])],
        ["GEMM, MLP training shapes, 1 thread (geomean ratio)", "",
         f"OpenBLAS at its best ({wins_short(win_txt['mlp'])} of {n_mlp})",
         fmt(ratios["gemm_mlp_geomean_t1"])],
        trow(64, 1, "training, 784-256-128-10 MLP, Adam, batch 64, 1 thread, samples/s"),
        trow(256, 1, "same, batch 256"),
        trow(64, 2, "batch 64, 2 threads"),
        trow(256, 2, "batch 256, 2 threads"),
        [f"whole training step, batch 64, 1 thread: share of the {p_nn_name} FMA peak",
         f"{100 * ratios['peak_fraction_train_b64']:.0f}%", "", fmt(ratios["peak_fraction_train_b64"])],
        ["nn.h 2 threads / 1 thread, batch 256 (64), free cores", "", "",
         f"{fmt(ratios['threads_b256_t2_over_t1'])} ({fmt(ratios['threads_b64_t2_over_t1'])})"],
        ["same, a core held by a busy-loop process", "", "", fmt(ratios["train_b256_t2_contended"])],
        ["inference latency, batch 1, µs", fmt(num(i1, "nn.latency_us"), 1),
         f"PyTorch {f1_} ({c1_}): {fmt(num(i1, 'torch.latency_us'), 1)}", fmt(ratios["infer_b1"])],
        ["inference, batch 256, samples/s", fint(num(i256, "nn.samples_per_s")),
         f"PyTorch {f256} ({c256}): {fint(num(i256, 'torch.samples_per_s'))}", fmt(ratios["infer_b256"])],
        ["peak RSS of the training run, MiB", fmt(rn / 1024, 1), f"PyTorch: {fmt(rp / 1024, 1)}",
         fmt(ratios["rss_train"])],
    ]
    if cnn:
        ct = {T: R(f"cnn_duel_train_b64_t{T}.txt") for T in (1, 2)}
        ci = {B: R(f"cnn_duel_infer_b{B}.txt") for B in (1, 256)}
        rows += [
            ["CNN (examples/fashion_cnn.c), AdamW, batch 64, 1 thread, samples/s",
             fint(num(ct[1], "nn.samples_per_s")), f"PyTorch {tv}: {fint(num(ct[1], 'torch.samples_per_s'))}",
             fmt(ratios.get("cnn_train_b64_t1", float("nan")))],
            ["same, 2 threads", fint(num(ct[2], "nn.samples_per_s")),
             f"PyTorch {tv}: {fint(num(ct[2], 'torch.samples_per_s'))}",
             fmt(ratios.get("cnn_train_b64_t2", float("nan")))],
            ["CNN inference latency, batch 1, µs", fmt(num(ci[1], "nn.latency_us"), 1),
             f"PyTorch: {fmt(num(ci[1], 'torch.latency_us'), 1)}", fmt(ratios.get("cnn_infer_b1", float("nan")))],
            ["CNN inference, batch 256, samples/s", fint(num(ci[256], "nn.samples_per_s")),
             f"PyTorch: {fint(num(ci[256], 'torch.samples_per_s'))}",
             fmt(ratios.get("cnn_infer_b256", float("nan")))],
        ]
    q8 = R("int8.txt")
    if q8:
        rows += [["int8 inference latency, flagship MLP (784-512-256-10), batch 1, µs",
                  fmt(num(q8, "int8.latency_us"), 1), f"float nn.h: {fmt(num(q8, 'float.latency_us'), 1)}",
                  fmt(ratios.get("int8_infer_b1", float("nan")))]]
    rows += [
        ["compile time of the implementation (`gcc -O2 -c`), CPU s", fmt(compile_s),
         (f"nn.h as of {compile_rev}: {fmt(compile_base)}" if math.isfinite(compile_base) else ""), ""],
    ]
    ai = auto_core.lower()
    text = ["## Speed\n",
            f"`make bench` on an **{cpu_name}** (family {fam[0]} model {fam[1] if len(fam) > 1 else '?'}, "
            f"{ncpu} cores; nn.h runs its {nn_isa} kernels), {meta.get('date', '?')}, one {meta.get('run_kind', '?')} "
            "run. Each peer runs at its best on this machine: OpenBLAS with the fastest of its core types "
            "per shape, PyTorch in the fastest thread setting and form its screen found per job; the sides "
            "alternate repetition by repetition, and 1-thread figures are thread CPU time (full tables, "
            "method and machine in [bench/RESULTS.md](bench/RESULTS.md); > 1 means nn.h is better):\n",
            table(["comparison", "nn.h", "peer", "ratio"], rows) + "\n",
            f"For context only: against OpenBLAS as installed (it picks {auto_core} on this CPU by itself) "
            f"the ratios are {fmt(context.get(f'gemm_squares_ge256_min_t1_vs_openblas_as_installed_{ai}', float('nan')))} "
            f"(squares) and {fmt(context.get(f'gemm_mlp_geomean_t1_vs_openblas_as_installed_{ai}', float('nan')))} "
            "(MLP shapes). Debian's OpenBLAS 0.3.21 falls back to its SSE3 (Prescott) kernels on CPUs it "
            "does not know, and PyTorch with it, since its matmuls run in that library; so the bench tries "
            "every core type the CPU can run and names the one that won. Of the memory, 45 MiB is the uint8 "
            "training set itself.\n"]
    if warn:
        text.append("The machine was not idle during this run (" + "; ".join(warn) + "); see the load table in "
                    "bench/RESULTS.md.\n")
    wrap = lambda t: t if t.startswith("|") or t.startswith("#") else textwrap.fill(
        t.strip("\n"), width=88, break_on_hyphens=False) + "\n"
    text = [wrap(t) for t in text]
    with open(path) as f:
        src = f.read()
    start = src.index("## Speed\n")
    end = src.index("\n## ", start + 1) + 1
    with open(path, "w") as f:
        f.write(src[:start] + "\n".join(text) + "\n" + src[end:])


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "pick-gemm":
        pick_gemm(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "pick-torch":
        pick_torch(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "report":
        readme = sys.argv[sys.argv.index("--readme") + 1] if "--readme" in sys.argv else None
        report(sys.argv[2], sys.argv[3], readme)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
