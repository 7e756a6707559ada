"""Collect the RESULT lines of one `make bench` run into tables, the ratio lines
and bench/RESULTS.md.

    /usr/bin/python3 bench/report.py <results-dir> <RESULTS.md>

<results-dir> holds one file per process, written by bench/run.sh (meta.txt,
info.txt, peak.txt, gemm.txt, gemm_ctx.txt, train_*.txt, infer_*.txt). A ratio
above 1 means nn.h is better: time_peer/time_nn, gflops_nn/gflops_peer,
rss_peer/rss_nn.
"""
import math
import os
import sys

TARGETS = [  # (ratio name, minimum, what the project asks for)
    ("gemm_squares_ge256_min_t1", 0.9, "GEMM >= 0.9x OpenBLAS on every square >= 256, 1 thread"),
    ("gemm_mlp_geomean_t1", 1.0, "GEMM >= 1.0x OpenBLAS, geomean of the MLP shapes, 1 thread"),
    ("train_b64_t1", 2.0, "training, batch 64, >= 2x PyTorch, 1 thread"),
    ("train_b64_t2", 2.0, "training, batch 64, >= 2x PyTorch, 2 threads"),
    ("infer_b1", 10.0, "batch-1 latency >= 10x lower than PyTorch"),
    ("infer_b256", 1.1, "batch-256 throughput >= 1.1x PyTorch"),
    ("rss_train", 1.0 / 0.15, "training peak RSS <= 0.15x PyTorch's (ratio >= 6.67)"),
]


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
        return float(d[key])
    except (KeyError, ValueError):
        return float("nan")


def geomean(xs):
    xs = [x for x in xs if x > 0 and math.isfinite(x)]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def fmt(x, digits=2):
    return "n/a" if not math.isfinite(x) else f"{x:.{digits}f}"


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main():
    rdir, out_md = sys.argv[1], sys.argv[2]
    meta = read(os.path.join(rdir, "meta.txt"))
    info = read(os.path.join(rdir, "info.txt"))
    peak = read(os.path.join(rdir, "peak.txt"))
    gemm = read(os.path.join(rdir, "gemm.txt"))
    ctx = read(os.path.join(rdir, "gemm_ctx.txt"))
    tinfo = read(os.path.join(rdir, "torch_info.txt"))
    ratios, context, md = {}, {}, []

    # ---- machine ----
    md.append("# nn.h benchmark results\n")
    kind = meta.get("run_kind", "?")
    md.append(f"Run: `make bench` ({kind}), {meta.get('date', '?')}.\n")
    if kind != "full":
        md.append("**This is a quick smoke run (BENCH_QUICK=1): few repetitions, numbers are rough.**\n")
    mach = [
        ("CPU", f"{info.get('cpu_model', '?')} (family/model {info.get('cpu_family_model', '?')}; "
                f"{info.get('cpu_simd', '?').strip()})"),
        ("cores online", info.get("cpus_online", "?")),
        ("kernel", meta.get("kernel", "?")),
        ("load average (1, 5, 15 min) before / after", f"{meta.get('load_before', '?')} / {meta.get('load_after', '?')}"),
        ("compiler", meta.get("compiler", "?")),
        ("nn.h build flags", f"`{meta.get('cflags_nn', '?')}`"),
        ("bench (with OpenBLAS) build flags", f"`{meta.get('cflags_blas', '?')}`"),
        ("nn.h version / commit / kernels", f"{info.get('nn_version', '?')} / {meta.get('nn_rev', '?')} / "
                                            f"{info.get('nn_simd', '?')}"),
        ("OpenBLAS", f"{info.get('openblas_config', '?')}; kernels in use: **{info.get('openblas_core', '?')}**"),
        ("PyTorch", f"{tinfo.get('torch_version', '?')} (Debian python3-torch, {meta.get('python', '?')}); "
                    f"BLAS: {meta.get('torch_blas', '?')}"),
        ("environment", meta.get("env", "?")),
        ("optimizer (both sides)", meta.get("optimizer", "?")),
        ("repetitions", meta.get("reps", "?")),
    ]
    md.append("## Machine\n")
    md.append(table(["", ""], mach) + "\n")
    core = info.get("openblas_core", "")
    if core.lower() in ("prescott", "core2", "penryn", "dunnington", "nehalem", "sandybridge", "katmai",
                        "coppermine", "northwood", "banias", "atom"):
        md.append(f"Note: OpenBLAS picked its **{core}** kernels on this CPU (no AVX2/FMA in them). "
                  "OpenBLAS 0.3.21's run-time detection does not know this CPU model and falls back to a "
                  "generic core unless OPENBLAS_CORETYPE says otherwise. The same applies to PyTorch, whose "
                  "matmuls run in this OpenBLAS." + (" The GEMM table adds, for context, OpenBLAS forced to "
                  "its Haswell (AVX2+FMA) kernels." if ctx else "") + "\n")

    # ---- peak ----
    p2 = num(peak, "peak_avx2_fma")
    p5 = num(peak, "peak_avx512_fma")
    md.append("## Single-core FMA peak (measured)\n")
    md.append(table(["loop", "GFLOP/s"], [
        ("AVX2 FMA, 12 independent accumulators, 1 core (nn.h's instruction set)", fmt(p2, 1)),
        ("AVX-512 FMA, 12 independent accumulators, 1 core (context)", fmt(p5, 1)),
    ]) + "\n")

    # ---- GEMM ----
    shapes = []
    for key, val in gemm.items():
        if key.startswith("shape."):
            f = val.split()
            shapes.append((key[6:], [int(f[0]), int(f[1]), int(f[2]), int(f[3]), int(f[4])], f[5], f[6] == "1"))
    have_ctx = any(k.startswith("gemm.openblas.t1.") for k in ctx)
    ctx_core = ctx.get("openblas_core", "Haswell")
    head = ["shape", "M", "N", "K", "op", "beta", "nn.h t1", "OpenBLAS t1", "ratio t1", "nn.h % AVX2 peak",
            "nn.h t2", "OpenBLAS t2", "ratio t2"]
    if have_ctx:
        head += [f"OpenBLAS {ctx_core} t1", f"ratio vs {ctx_core}"]
    head.append("max rel diff")
    rows, mlp = [], {1: [], 2: []}
    mlp_ctx, sq_ctx = [], {}
    for name, (M, N, K, ta, tb), beta, in_train in shapes:
        g = {}
        for t in (1, 2):
            g[t] = (num(gemm, f"gemm.nn.t{t}.{name}"), num(gemm, f"gemm.openblas.t{t}.{name}"))
        r1, r2 = g[1][0] / g[1][1], g[2][0] / g[2][1]
        op = ("A^T" if ta else "A") + "·" + ("B^T" if tb else "B")
        label = name if in_train else name + " *"
        row = [label, M, N, K, op, beta, fmt(g[1][0], 1), fmt(g[1][1], 1), fmt(r1), fmt(100 * g[1][0] / p2, 0),
               fmt(g[2][0], 1), fmt(g[2][1], 1), fmt(r2)]
        if have_ctx:
            c = num(ctx, f"gemm.openblas.t1.{name}")
            row += [fmt(c, 1), fmt(g[1][0] / c)]
        row.append(gemm.get(f"gemm_maxreldiff.{name}", "?"))
        rows.append(row)
        if name.startswith("square"):
            ratios[f"gemm_{name}_t1"] = r1
            ratios[f"gemm_{name}_t2"] = r2
            if have_ctx:
                sq_ctx[name] = g[1][0] / num(ctx, f"gemm.openblas.t1.{name}")
        elif in_train:
            mlp[1].append(r1)
            mlp[2].append(r2)
            if have_ctx:
                mlp_ctx.append(g[1][0] / num(ctx, f"gemm.openblas.t1.{name}"))
    big = [n for n, *_ in shapes if n.startswith("square") and int(n[6:]) >= 256]
    ratios["gemm_squares_ge256_min_t1"] = min((ratios[f"gemm_{n}_t1"] for n in big), default=float("nan"))
    ratios["gemm_squares_ge256_min_t2"] = min((ratios[f"gemm_{n}_t2"] for n in big), default=float("nan"))
    ratios["gemm_mlp_geomean_t1"] = geomean(mlp[1])
    ratios["gemm_mlp_geomean_t2"] = geomean(mlp[2])
    if have_ctx:
        context[f"gemm_squares_ge256_min_t1_vs_openblas_{ctx_core.lower()}"] = min(sq_ctx[n] for n in big)
        context[f"gemm_mlp_geomean_t1_vs_openblas_{ctx_core.lower()}"] = geomean(mlp_ctx)
    md.append("## GEMM, GFLOP/s (C = op(A)·op(B) + beta·C, row-major, float32)\n")
    md.append("`nn_gemm` against `cblas_sgemm` with the same transposes; t1/t2 = 1 or 2 threads "
              "(`omp_set_num_threads` for nn.h, `openblas_set_num_threads` for OpenBLAS). MLP shapes of "
              "784-256-128-10 at batch 64 and 256: `fwd` y = x·Wᵀ (M=batch, N=out, K=in), `dx` = dy·W "
              "(M=batch, N=in, K=out), `dw` += dyᵀ·x (M=out, N=in, K=batch, beta=1). "
              "Rows marked * are not run by training (the first layer has no dx) and are left out of the "
              "geomean. \"max rel diff\": largest |nn - OpenBLAS| / max|OpenBLAS| on one call.")
    if have_ctx:
        md.append(f" The column OpenBLAS {ctx_core} is context only, not a target: the same OpenBLAS "
                  f"forced to its {ctx_core} kernels with OPENBLAS_CORETYPE={ctx_core}.")
    md.append("\n")
    md.append(table(head, rows) + "\n")

    # ---- training ----
    train_rows = []
    for B in (64, 256):
        for t in (1, 2):
            nn = read(os.path.join(rdir, f"train_nn_b{B}_t{t}.txt"))
            if t == 1:
                peers = [("torch 1 thread, OpenBLAS 1", read(os.path.join(rdir, f"train_torch_b{B}_t1_ob1.txt")))]
            else:
                peers = [("torch 1 thread, OpenBLAS 2", read(os.path.join(rdir, f"train_torch_b{B}_t1_ob2.txt"))),
                         ("torch 2 threads, OpenBLAS 1", read(os.path.join(rdir, f"train_torch_b{B}_t2_ob1.txt")))]
            best = max(peers, key=lambda p: num(p[1], "samples_per_s") if math.isfinite(
                num(p[1], "samples_per_s")) else -1)
            nn_sps, pt_sps = num(nn, "samples_per_s"), num(best[1], "samples_per_s")
            ratios[f"train_b{B}_t{t}"] = nn_sps / pt_sps
            others = "; ".join(f"{lbl}: {fmt(num(d, 'samples_per_s'), 0)}" for lbl, d in peers)
            e1 = lambda d: f"{d.get('epoch1_loss', '?')}"
            train_rows.append([B, t, fmt(nn_sps, 0), fmt(pt_sps, 0), fmt(nn_sps / pt_sps), others,
                               f"{e1(nn)} / {e1(best[1])}"])
    md.append("## Training: one epoch of Fashion-MNIST, samples/s (median over epochs)\n")
    md.append("784-256-128-10 ReLU MLP, 60000 images shuffled each epoch, cross-entropy, "
              f"{meta.get('optimizer', '?')}; the last partial batch is dropped on both sides. Each "
              "configuration runs in its own process. Both sides keep the images as uint8 and convert "
              "each batch to normalized float inside the timed loop. PyTorch: `nn.Sequential(Linear, ReLU, "
              "Linear, ReLU, Linear)`, `F.cross_entropy`, `zero_grad(set_to_none=True)`, `backward`, `step`, "
              "optimizer with `foreach=True` (faster than the default here), `loss.item()` every step. "
              "For 2 threads PyTorch gets the faster of its two configurations (Debian's torch runs "
              "matmuls in OpenBLAS, whose pool `torch.set_num_threads` does not control).\n")
    md.append(table(["batch", "threads", "nn.h", "PyTorch (best)", "ratio", "PyTorch configurations",
                     "epoch-1 mean loss nn.h / PyTorch"], train_rows) + "\n")

    phases = ["gather", "forward", "loss", "zero_grad", "backward", "optim"]
    prows = []
    for B in (64, 256):
        nn = read(os.path.join(rdir, f"train_nn_b{B}_t1.txt"))
        pt = read(os.path.join(rdir, f"train_torch_b{B}_t1_ob1.txt"))
        for ph in phases:
            a, b = num(nn, f"phase_us.{ph}"), num(pt, f"phase_us.{ph}")
            prows.append([B, ph, fmt(a, 1), fmt(b, 1), fmt(b / a) if a > 0 else "n/a"])
    md.append("### Where a training step's time goes, 1 thread (µs per step, mean over all steps)\n")
    md.append("gather: shuffle-order rows to normalized float; loss: nn.h also writes the logits' "
              "gradient here, PyTorch in backward; optim: the optimizer update.\n")
    md.append(table(["batch", "phase", "nn.h", "PyTorch", "PyTorch / nn.h"], prows) + "\n")

    # ---- inference ----
    inn = read(os.path.join(rdir, "infer_nn.txt"))
    ipt = read(os.path.join(rdir, "infer_torch.txt"))
    b1n, b1p = num(inn, "infer_b1_us"), num(ipt, "infer_b1_us")
    b256n, b256p = num(inn, "infer_b256_samples_per_s"), num(ipt, "infer_b256_samples_per_s")
    ratios["infer_b1"] = b1p / b1n
    ratios["infer_b256"] = b256n / b256p
    md.append("## Inference, 1 thread (PyTorch: 1 thread, OpenBLAS 1)\n")
    md.append("Same model, EVAL mode / `model.eval()` + `torch.inference_mode()`; inputs are test images "
              "converted to float beforehand. Batch 1: median of single forwards, each timed on its own. "
              "Batch 256: median over repetitions of back-to-back forwards.\n")
    md.append(table(["measure", "nn.h", "PyTorch", "ratio"], [
        ("batch-1 latency, µs (lower is better)", fmt(b1n, 1), fmt(b1p, 1), fmt(b1p / b1n)),
        ("batch-256 throughput, samples/s", fmt(b256n, 0), fmt(b256p, 0), fmt(b256n / b256p)),
    ]) + "\n")

    # ---- memory ----
    mn = read(os.path.join(rdir, "train_nn_b64_t1.txt"))
    mp = read(os.path.join(rdir, "train_torch_b64_t1_ob1.txt"))
    rn, rp = num(mn, "max_rss_kb"), num(mp, "max_rss_kb")
    ratios["rss_train"] = rp / rn
    data_kb = 60000 * 784 / 1024.0  # the uint8 training images both processes hold
    context["rss_train_excluding_images"] = (rp - data_kb) / (rn - data_kb)
    md.append("## Peak resident memory of training (1 epoch, batch 64, 1 thread)\n")
    md.append("`getrusage(RUSAGE_SELF).ru_maxrss` in each training process, read after its first epoch. "
              "Both processes hold the 60000 training images as uint8 (47 MB). The nn.h process is built "
              "without OpenBLAS.\n")
    md.append(table(["", "nn.h", "PyTorch", "ratio (PyTorch / nn.h)"], [
        ("max RSS, MiB", fmt(rn / 1024, 1), fmt(rp / 1024, 1), fmt(rp / rn)),
        ("(max RSS once the data are loaded, before training)", fmt(num(mn, "max_rss_after_load_kb") / 1024, 1),
         fmt(num(mp, "max_rss_after_load_kb") / 1024, 1), ""),
        ("(RSS at the end of the epoch)", fmt(num(mn, "rss_now_kb") / 1024, 1),
         fmt(num(mp, "rss_now_kb") / 1024, 1), ""),
        ("max RSS minus the 44.9 MiB of images (context)", fmt((rn - data_kb) / 1024, 1),
         fmt((rp - data_kb) / 1024, 1), fmt((rp - data_kb) / (rn - data_kb))),
    ]) + "\n")
    md.append(f"The target (nn.h <= 0.15x PyTorch) allows nn.h {fmt(0.15 * rp / 1024, 1)} MiB here, "
              "against 44.9 MiB for the images alone.\n")

    # ---- ratios and targets ----
    order = ["gemm_square64_t1", "gemm_square128_t1", "gemm_square256_t1", "gemm_square512_t1",
             "gemm_square1024_t1", "gemm_square64_t2", "gemm_square128_t2", "gemm_square256_t2",
             "gemm_square512_t2", "gemm_square1024_t2", "gemm_squares_ge256_min_t1",
             "gemm_squares_ge256_min_t2", "gemm_mlp_geomean_t1", "gemm_mlp_geomean_t2",
             "train_b64_t1", "train_b64_t2", "train_b256_t1", "train_b256_t2",
             "infer_b1", "infer_b256", "rss_train"]
    order += [k for k in ratios if k not in order]
    lines = [f"ratio {k} {ratios[k]:.3f}" for k in order if k in ratios]
    ctx_lines = [f"context {k} {v:.3f}" for k, v in context.items()]
    ratio_block = len(md)
    md.append("## Ratios (> 1: nn.h better)\n")
    md.append("```\n" + "\n".join(lines + ctx_lines) + "\n```\n")
    if ctx_lines:
        md.append("`context` lines are not targets: `..._vs_openblas_<core>` compare with OpenBLAS forced to "
                  "those kernels; `rss_train_excluding_images` leaves out the images both processes hold.\n")
    ratio_end = len(md)
    trows = []
    for key, lo, what in TARGETS:
        v = ratios.get(key, float("nan"))
        trows.append([what, f"`{key}`", fmt(v), fmt(lo), "met" if v >= lo else "**not met**"])
    md.append("## Targets\n")
    md.append(table(["target", "ratio", "value", "needed", "status"], trows) + "\n")
    md.append("## Method\n")
    md.append("- Every timing is a median: GEMM over repetitions of back-to-back calls (each repetition "
              "lasts at least the minimum time in the table above), training over epochs (each epoch "
              "timed on its own, data loading excluded), inference as described above.\n"
              "- GEMM: all 1-thread measurements first, then all 2-thread ones; within each, nn.h and "
              "OpenBLAS alternate shape by shape (with a 0.2 s pause at 2 threads so the other "
              "library's idle threads have stopped spinning).\n"
              "- The OpenBLAS environment variables of the machine (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE) "
              "are left as they were (see Machine); they apply to PyTorch's OpenBLAS too.\n"
              "- Reproduce with `make bench` (`bash bench/run.sh`); `BENCH_QUICK=1` for a smoke run.\n")

    with open(out_md, "w") as f:
        f.write("\n".join(md))
    # Terminal: the tables, then each ratio line once, last.
    print("\n".join(md[1:ratio_block] + md[ratio_end:]).replace("**", ""))
    print()
    for line in lines + ctx_lines:
        print(line)


if __name__ == "__main__":
    main()
