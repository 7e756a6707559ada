"""PyTorch side of `make bench`: the same models as bench/bench.c (the 784-256-128-10
ReLU MLP, and with --model cnn the CNN of examples/fashion_cnn.c), in PyTorch's
fastest form found on the machine, interleaved rep by rep with nn.h.

Run it with Debian's interpreter and torch (python3-torch); bench/run.sh sets
OPENBLAS_CORETYPE (which OpenBLAS kernels torch's matmuls run: Debian's torch calls
libblas.so.3, i.e. OpenBLAS) and OPENBLAS_NUM_THREADS for every process:
    bench_torch.py info
    bench_torch.py screen --epochs-frac 0.1
    bench_torch.py duel-train --nn BIN --batch 64 --threads 1 --torch-threads 1 --ob-threads 1
    bench_torch.py duel-infer --nn BIN --batch 1 --form frozen.inference_mode
    bench_torch.py screen --model cnn --steps 8
    bench_torch.py duel-train --model cnn --nn BIN --batch 64 --threads 1 --steps 20 --channels-last 1
    bench_torch.py duel-infer --model cnn --nn BIN --batch 256 --form ofi.inference_mode.cl
    bench_torch.py duel-conv --nn BIN

Every result is one line "RESULT <name> <value>" on stdout, as bench.c prints.

screen: in one process (one OpenBLAS core type), every configuration briefly:
  training at batch 64 and 256 with (torch threads, OpenBLAS threads) = (1,1), and
  for 2 threads (1,2), (2,1), (2,2), optimizer with foreach=True and False;
  inference at batch 1 and 256, 1 thread, in every form: eager, torch.jit.trace,
  + torch.jit.freeze, + torch.jit.optimize_for_inference, each under torch.no_grad
  and torch.inference_mode. bench/report.py keeps the fastest per job.
screen --model cnn: the same for the CNN, training at batch 64 only; each
  configuration and inference form also in the channels_last memory format (model
  and input converted; ".cl" ends the form's name, ".cl1" the training key).
duel-*: PyTorch in the configuration given, against `bench serve` (nn.h) in a child
  process; the two sides take turns rep by rep (order alternating), and neither
  starts before the other's idle threads have stopped spinning. 1-thread figures
  are timed in thread CPU time (time.thread_time; process CPU time when work ran on
  other threads), 2-thread ones in wall time.
duel-conv: the CNN's two convolutions at batch 64 alone, 1 thread, forward and
  backward as training runs them (layer 1: dW and db only, its input needing no
  gradient; layer 2: dx, dW and db): F.conv2d under torch.no_grad against
  nn_conv2d_forward, torch.autograd.grad of a retained graph against
  nn_conv2d_backward; the fastest of PyTorch's memory formats. GFLOP/s.

Data: the uint8 images stay uint8 in memory (one tensor, 47 MB) and each batch is
gathered and converted to float with the same normalization as nn.h's side.
Training: Adam (lr 1e-3) or SGD (lr 0.05, momentum 0.9) for the MLP, AdamW (lr 1e-3,
weight decay 0.01, torch's defaults, as nn.h's) for the CNN, F.cross_entropy,
zero_grad(set_to_none=True) / backward / step; loss.item() is read every step, as
nn.h's loss comes back as a float. Inference: model.eval(), inputs converted to
float once outside the timings.
"""
import argparse
import ctypes
import gzip
import os
import resource
import statistics
import struct
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530
PHASES = ["gather", "forward", "loss", "zero_grad", "backward", "optim"]
FORMS = [f"{m}.{c}" for m in ("eager", "traced", "frozen", "ofi") for c in ("no_grad", "inference_mode")]
FORMS_CNN = FORMS + [f + ".cl" for f in FORMS]  # .cl: channels_last model and input
TRAIN_CONFIGS = {1: [(1, 1)], 2: [(1, 2), (2, 1), (2, 2)]}  # threads -> (torch, OpenBLAS)


# ---- OpenBLAS inside this process --------------------------------------------
def openblas():
    """The OpenBLAS that torch's matmuls run in (libblas.so.3 is Debian's thin
    wrapper around libopenblas.so.0); None if it is not loaded."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0", mode=os.RTLD_NOLOAD | os.RTLD_GLOBAL)
    except OSError:
        return None
    lib.openblas_get_corename.restype = ctypes.c_char_p
    lib.openblas_get_config.restype = ctypes.c_char_p
    return lib


def set_threads(torch_threads, ob_threads):
    torch.set_num_threads(torch_threads)
    lib = openblas()
    if lib is not None:
        lib.openblas_set_num_threads(ob_threads)


def print_blas_info():
    lib = openblas()
    if lib is None:
        print("RESULT torch_openblas_core none (libopenblas.so.0 not loaded)")
        return
    print(f"RESULT torch_openblas_core {lib.openblas_get_corename().decode()}")
    print(f"RESULT torch_openblas_config {lib.openblas_get_config().decode()}")


# ---- clocks ---------------------------------------------------------------------
class Clock:
    """Wall, this thread's CPU and the process's CPU time, read together."""

    def __init__(self):
        self.w, self.t, self.p = time.perf_counter(), time.thread_time(), time.process_time()

    def lap(self):
        return (time.perf_counter() - self.w, time.thread_time() - self.t, time.process_time() - self.p)


def one_thread_seconds(wall, thread, process):
    """The 1-thread figure: thread CPU time, unless work ran on other threads of
    the process (then the process CPU time, so none of it is left out)."""
    return (process, "process-cpu") if process > 1.05 * thread + 1e-4 else (thread, "thread-cpu")


def own_cpu():
    return time.process_time()


def pid_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def wait_quiet(pid=None, limit=0.6):
    """Sleep until a process uses no CPU while it should be idle: idle OpenBLAS
    workers spin about 0.1 s after a call, libgomp's a few ms. pid None: this
    process (its main thread sleeps here, so whatever it uses is the workers')."""
    end = time.perf_counter() + limit
    step = 0.005 if pid is None else 0.03  # /proc counts in 10 ms ticks
    while time.perf_counter() < end:
        c0 = own_cpu() if pid is None else pid_cpu(pid)
        time.sleep(step)
        c1 = own_cpu() if pid is None else pid_cpu(pid)
        if c0 is None or c1 is None or c1 - c0 < step * 0.1:
            return


# ---- data and model --------------------------------------------------------------
def load_idx(path):
    """An IDX file (gzip-compressed) as a uint8 tensor of its dims, decompressed
    straight into one buffer."""
    with gzip.open(path, "rb") as f:
        magic = f.read(4)
        if len(magic) != 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != 8:
            raise SystemExit(f"error: {path}: not an unsigned-byte IDX file")
        rank = magic[3]
        dims = struct.unpack(">" + "I" * rank, f.read(4 * rank))
        count = 1
        for d in dims:
            count *= d
        buf = bytearray(count)
        view, pos = memoryview(buf), 0
        while pos < count:  # in 1 MiB pieces: no second whole copy in memory
            got = f.readinto(view[pos:pos + (1 << 20)])
            if not got:
                raise SystemExit(f"error: {path}: truncated")
            pos += got
    return torch.frombuffer(buf, dtype=torch.uint8).reshape(dims)


def to_float(x_u8):
    return x_u8.float().mul_(1.0 / 255.0).sub_(MEAN).div_(STD)


def make_model(kind="mlp", channels_last=False):
    torch.manual_seed(42)
    nn = torch.nn
    if kind == "cnn":  # examples/fashion_cnn.c, layer for layer
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
        return model.to(memory_format=torch.channels_last) if channels_last else model
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))


def as_input(x, kind, channels_last=False):
    """Rows of 784 floats as the model's input: (B, 1, 28, 28) images for the CNN."""
    if kind != "cnn":
        return x
    x = x.view(x.shape[0], 1, 28, 28)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def max_rss_kb():
    """Peak resident memory of this process (VmHWM, as bench.c reads it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux


def rss_now_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


class Trainer:
    """PyTorch's training step, as bench.c's trainer: batches in shuffled order
    (a new shuffle when no whole batch is left), gathered and converted inside
    the step."""

    def __init__(self, images, labels, batch, optim, foreach, kind="mlp", channels_last=False):
        self.images, self.labels, self.B = images, labels, batch
        self.kind, self.cl = kind, channels_last
        self.n = images.shape[0]
        self.model = make_model(kind, channels_last)
        params = self.model.parameters()
        if kind == "cnn":  # AdamW at torch's defaults (lr 1e-3, weight decay 0.01), as nn.h's
            self.opt = torch.optim.AdamW(params, lr=1e-3, foreach=foreach)
        elif optim == "adam":
            self.opt = torch.optim.Adam(params, lr=1e-3, foreach=foreach)
        else:
            self.opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, foreach=foreach)
        self.gen = torch.Generator().manual_seed(7)
        self.perm = torch.randperm(self.n, generator=self.gen)
        self.pos = 0
        self.phase = [0.0] * 6
        self.steps_done = 0

    def steps(self, count):
        clock = time.perf_counter
        model, opt, B, phase = self.model, self.opt, self.B, self.phase
        kind, cl = self.kind, self.cl
        loss_sum = 0.0
        for _ in range(count):
            if self.pos + B > self.n:
                self.perm = torch.randperm(self.n, generator=self.gen)
                self.pos = 0
            t_0 = clock()
            rows = self.perm[self.pos:self.pos + B]
            self.pos += B
            x = as_input(to_float(self.images.index_select(0, rows)), kind, cl)
            y = self.labels.index_select(0, rows)
            t_1 = clock()
            out = model(x)
            t_2 = clock()
            loss = F.cross_entropy(out, y)
            loss_sum += loss.item()
            t_3 = clock()
            opt.zero_grad(set_to_none=True)
            t_4 = clock()
            loss.backward()
            t_5 = clock()
            opt.step()
            t_6 = clock()
            phase[0] += t_1 - t_0
            phase[1] += t_2 - t_1
            phase[2] += t_3 - t_2
            phase[3] += t_4 - t_3
            phase[4] += t_5 - t_4
            phase[5] += t_6 - t_5
        self.steps_done += count
        return loss_sum / max(count, 1)


def load_train(data):
    images = load_idx(os.path.join(data, "train-images-idx3-ubyte.gz"))
    labels = load_idx(os.path.join(data, "train-labels-idx1-ubyte.gz")).long()
    return images.reshape(images.shape[0], 784), labels


def load_test(data):
    images = load_idx(os.path.join(data, "t10k-images-idx3-ubyte.gz"))
    return to_float(images.reshape(images.shape[0], 784))


def make_form(form, batch, x, model_kind="mlp"):
    """(callable, context factory, input) for one inference form: eager, traced
    (torch.jit.trace), frozen (+ torch.jit.freeze), ofi (+ optimize_for_inference),
    under torch.no_grad or torch.inference_mode; a trailing ".cl" (CNN): model and
    input in the channels_last memory format. x: the test rows (N, 784); the input
    returned is x as that model takes it."""
    parts = form.split(".")
    kind, ctx, cl = parts[0], parts[1], len(parts) > 2 and parts[2] == "cl"
    context = torch.no_grad if ctx == "no_grad" else torch.inference_mode
    model = make_model(model_kind, cl).eval()
    x = as_input(x, model_kind, cl)
    if kind == "eager":
        return model, context, x
    with torch.no_grad():
        # the CNN is traced on a few images (its graph holds no batch size; tracing at
        # batch 256 costs a second of CPU per form), the MLP on a batch
        fn = torch.jit.trace(model, x[:min(batch, 8)] if model_kind == "cnn" else x[:batch])
        if kind in ("frozen", "ofi"):
            fn = torch.jit.freeze(fn.eval())
        if kind == "ofi":
            fn = torch.jit.optimize_for_inference(fn)
    return fn, context, x


class Batches:
    """Consecutive test rows, cycling, as bench.c's inferer."""

    def __init__(self, x, batch):
        self.views = [x[s:s + batch] for s in range(0, x.shape[0] - batch + 1, batch)]
        self.k = 0

    def run(self, fn, calls):
        views, k = self.views, self.k
        for _ in range(calls):
            fn(views[k])
            k = k + 1 if k + 1 < len(views) else 0
        self.k = k


def calibrate(run, target_s, seconds_of):
    """Calls per rep so that one rep lasts about target_s on its clock."""
    calls = 1
    while True:
        s = seconds_of(run(calls))
        if s >= 0.05 * target_s or calls > 1 << 24:
            return max(1, int(calls * target_s / max(s, 1e-9)))
        calls *= 4


# ---- screen --------------------------------------------------------------------
def screen(args):
    print_blas_info()
    cnn = args.model == "cnn"
    batches_train = (64,) if cnn else (64, 256)
    warm = 3 if cnn else 10
    layouts = (False, True) if cnn else (False,)
    jobs = set(args.jobs.split(","))
    configs = [(B, threads, tt, ob, foreach, cl) for B in batches_train for threads, cfgs in TRAIN_CONFIGS.items()
               if f"train{threads}" in jobs for tt, ob in cfgs for foreach in (True, False) for cl in layouts]
    if configs:
        images, labels = load_train(args.data)
        steps_of = {B: args.steps if args.steps > 0 else max(20, int(images.shape[0] // B * args.epochs_frac))
                    for B in batches_train}
    best = {}
    for order in (configs, configs[::-1]):  # two passes, the second in reverse; the faster counts
        for key in order:
            B, threads, tt, ob, foreach, cl = key
            set_threads(tt, ob)
            tr = Trainer(images, labels, B, args.optim, foreach, args.model, cl)
            tr.steps(warm)  # warm-up
            wait_quiet()
            c = Clock()
            tr.steps(steps_of[B])
            w, t, p = c.lap()
            s, clk = one_thread_seconds(w, t, p) if threads == 1 else (w, "wall")
            if key not in best or steps_of[B] * B / s > best[key][0]:
                best[key] = (steps_of[B] * B / s, clk)
    for key in configs:
        B, threads, tt, ob, foreach, cl = key
        name = f"train.b{B}.t{threads}.tt{tt}.ob{ob}.foreach{int(foreach)}" + (f".cl{int(cl)}" if cnn else "")
        print(f"RESULT {name} {best[key][0]:.1f} {best[key][1]}", flush=True)
        print(f"  screen {args.model} {name:44s} {best[key][0]:9.0f} samples/s ({best[key][1]})", file=sys.stderr)
    x = load_test(args.data)
    set_threads(1, 1)
    for B in (1, 256):
        if f"infer{B}" not in jobs:
            continue
        for form in (FORMS_CNN if cnn else FORMS):
            fn, context, xf = make_form(form, B, x, args.model)
            batches = Batches(xf, B)
            wait_quiet()
            with context():
                batches.run(fn, 3 if cnn and B > 1 else 20)  # warm-up

                def rep(calls):
                    c = Clock()
                    batches.run(fn, calls)
                    return c.lap()

                calls = calibrate(rep, args.infer_s, lambda r: one_thread_seconds(*r)[0])
                vals = []
                for _ in range(3):
                    s, clk = one_thread_seconds(*rep(calls))
                    vals.append(s / calls)
                per_call = statistics.median(vals)
            value = 1e6 * per_call if B == 1 else B / per_call
            print(f"RESULT infer.b{B}.{form} {value:.3f} {clk}", flush=True)
            unit = "us" if B == 1 else "samples/s"
            print(f"  screen {args.model} infer b{B} {form:29s} {value:10.1f} {unit} ({clk})", file=sys.stderr)


# ---- duels ---------------------------------------------------------------------
class NnSide:
    """bench.c's `serve` mode in a child process."""

    def __init__(self, binary, data):
        self.proc = subprocess.Popen([binary, "serve", data], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = {}
        for reply in self.proc.stdout:
            reply = reply.rstrip("\n")
            if reply == "END":
                if "error" in out:
                    raise SystemExit(f"error: nn.h side: {out['error']}")
                return out
            if reply.startswith("RESULT "):
                parts = reply.split(" ", 2)
                out[parts[1]] = parts[2] if len(parts) > 2 else ""
        raise SystemExit(f"error: nn.h side ended during {line!r}")

    def close(self):
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=30)


def rep_seconds(threads, wall, thread, process):
    return one_thread_seconds(wall, thread, process) if threads == 1 else (wall, "wall")


def duel_train(args):
    print_blas_info()
    B, T = args.batch, args.threads
    set_threads(args.torch_threads, args.ob_threads)
    print(f"RESULT torch_threads {torch.get_num_threads()}")
    print(f"RESULT openblas_threads {args.ob_threads}")
    print(f"RESULT foreach {int(args.foreach)}")
    cnn = args.model == "cnn"
    if cnn:
        print("RESULT model cnn")
        print(f"RESULT channels_last {int(args.channels_last)}")
    images, labels = load_train(args.data)
    steps = args.steps if args.steps > 0 else max(20, int(images.shape[0] // B * args.epochs_frac))
    print(f"RESULT steps_per_rep {steps}")
    nn = NnSide(args.nn, args.data)
    nn.ask(f"train_init {B} {args.model}")
    tr = Trainer(images, labels, B, args.optim, args.foreach, args.model, bool(args.channels_last))
    # warm-up, both sides
    warm = 10 if cnn else 30
    nn.ask(f"train {T} {warm}")
    tr.steps(warm)
    res, walls, peaks = {"nn": [], "torch": []}, {"nn": [], "torch": []}, []
    clocks, losses, rss = {"nn": set(), "torch": set()}, {}, {}
    for r in range(args.reps):
        for side in (("nn", "torch") if r % 2 == 0 else ("torch", "nn")):
            wait_quiet()
            wait_quiet(nn.proc.pid)
            if side == "nn":
                o = nn.ask(f"train {T} {steps}")
                s, clk = rep_seconds(T, float(o["wall_s"]), float(o["thread_cpu_s"]), float(o["process_cpu_s"]))
                walls["nn"].append(float(o["wall_s"]) / s)
                if args.peak_loop:  # the FMA peak right beside the repetition, same process and core
                    peaks.append(float(nn.ask(f"peak {args.peak_loop}")["peak_gflops"]))
                losses["nn"] = float(o["loss"])
            else:
                c = Clock()
                losses["torch"] = tr.steps(steps)
                lap = c.lap()
                s, clk = rep_seconds(T, *lap)
                walls["torch"].append(lap[0] / s)
            res[side].append(steps * B / s)
            clocks[side].add(clk)
        if r == 0:
            o = nn.ask("rss")
            rss["nn"] = (o["max_rss_kb"], o["rss_now_kb"])
            rss["torch"] = (max_rss_kb(), rss_now_kb())
    ph = nn.ask("phases")
    nn.close()
    if peaks:
        print(f"RESULT nn.peak_loop {args.peak_loop}")
        print("RESULT nn.peak_gflops_reps " + " ".join(f"{v:.1f}" for v in peaks))
        print(f"RESULT nn.peak_gflops {statistics.median(peaks):.2f}")
    for side in ("nn", "torch"):
        print(f"RESULT {side}.sps_reps " + " ".join(f"{v:.1f}" for v in res[side]))
        print(f"RESULT {side}.samples_per_s {statistics.median(res[side]):.1f}")
        print(f"RESULT {side}.clock {'+'.join(sorted(clocks[side]))}")
        print(f"RESULT {side}.wall_over_clock {statistics.median(walls[side]):.3f}")
        print(f"RESULT {side}.last_rep_loss {losses[side]:.4f}")
        print(f"RESULT {side}.max_rss_kb {rss[side][0]}")
        print(f"RESULT {side}.rss_now_kb {rss[side][1]}")
    for k, v in ph.items():
        print(f"RESULT nn.{k} {v}")
    for name, t in zip(PHASES, tr.phase):
        print(f"RESULT torch.phase_us.{name} {1e6 * t / tr.steps_done:.1f}")
    print(f"RESULT ratio {statistics.median(res['nn']) / statistics.median(res['torch']):.4f}")
    paired = [a / b for a, b in zip(res["nn"], res["torch"])]
    print(f"RESULT ratio_paired_median {statistics.median(paired):.4f}")


def duel_infer(args):
    print_blas_info()
    B = args.batch
    set_threads(1, 1)
    x = load_test(args.data)
    nn = NnSide(args.nn, args.data)
    nn.ask(f"infer_init {args.model}")
    fn, context, x = make_form(args.form, B, x, args.model)
    batches = Batches(x, B)
    warm = 5 if args.model == "cnn" and B > 1 else 50
    with context():
        batches.run(fn, warm)
        nn.ask(f"infer {B} 1 {warm}")

        def torch_rep(calls):
            c = Clock()
            batches.run(fn, calls)
            return c.lap()

        def nn_rep(calls):
            o = nn.ask(f"infer {B} 1 {calls}")
            return float(o["wall_s"]), float(o["thread_cpu_s"]), float(o["process_cpu_s"])

        reps_fn = {"nn": nn_rep, "torch": torch_rep}
        calls = {side: calibrate(reps_fn[side], args.rep_s, lambda r: one_thread_seconds(*r)[0])
                 for side in ("nn", "torch")}
        per_call, clocks = {"nn": [], "torch": []}, {"nn": set(), "torch": set()}
        walls = {"nn": [], "torch": []}
        for r in range(args.reps):
            for side in (("nn", "torch") if r % 2 == 0 else ("torch", "nn")):
                lap = reps_fn[side](calls[side])
                s, clk = one_thread_seconds(*lap)
                per_call[side].append(s / calls[side])
                clocks[side].add(clk)
                walls[side].append(lap[0] / s)
    nn.close()
    for side in ("nn", "torch"):
        m = statistics.median(per_call[side])
        print(f"RESULT {side}.calls_per_rep {calls[side]}")
        print(f"RESULT {side}.clock {'+'.join(sorted(clocks[side]))}")
        print(f"RESULT {side}.wall_over_clock {statistics.median(walls[side]):.3f}")
        if B == 1:
            print(f"RESULT {side}.us_reps " + " ".join(f"{1e6 * v:.3f}" for v in per_call[side]))
            print(f"RESULT {side}.latency_us {1e6 * m:.3f}")
        else:
            print(f"RESULT {side}.sps_reps " + " ".join(f"{B / v:.1f}" for v in per_call[side]))
            print(f"RESULT {side}.samples_per_s {B / m:.1f}")
    print(f"RESULT ratio {statistics.median(per_call['torch']) / statistics.median(per_call['nn']):.4f}")
    paired = [b / a for a, b in zip(per_call["nn"], per_call["torch"])]
    print(f"RESULT ratio_paired_median {statistics.median(paired):.4f}")


CONV_LAYERS = [(1, 28, 28, 32), (32, 14, 14, 64)]  # C, H, W, OC of the CNN's convolutions
CONV_BATCH = 64


def conv_flops(layer, backward):
    """FLOPs of one call, as bench.c counts them: forward 2*N*OC*OH*OW*C*KH*KW (3x3,
    padding 1: OH = H); backward that once for dW, once more for dx (layer 2 only)."""
    C, H, W, OC = CONV_LAYERS[layer]
    fwd = 2 * CONV_BATCH * OC * H * W * C * 9
    return fwd * (1 + layer) if backward else fwd


def torch_conv_call(layer, backward, channels_last):
    """A callable running `calls` forwards (under torch.no_grad) or backwards
    (torch.autograd.grad of one retained graph: dW, db, and dx for layer 2) of one
    of the CNN's convolutions on random data in [-1, 1)."""
    C, H, W, OC = CONV_LAYERS[layer]
    g = torch.Generator().manual_seed(3)
    rnd = lambda *shape: torch.rand(*shape, generator=g).mul_(2).sub_(1)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = rnd(CONV_BATCH, C, H, W).contiguous(memory_format=fmt)
    w = rnd(OC, C, 3, 3).contiguous(memory_format=fmt)
    b = rnd(OC)
    if not backward:
        def run(calls):
            with torch.no_grad():
                for _ in range(calls):
                    F.conv2d(x, w, b, padding=1)
        return run
    x.requires_grad_(layer > 0)
    w.requires_grad_(True)
    b.requires_grad_(True)
    y = F.conv2d(x, w, b, padding=1)
    dy = rnd(*y.shape).contiguous(memory_format=fmt)
    inputs = [x, w, b] if layer > 0 else [w, b]

    def run(calls):
        for _ in range(calls):
            torch.autograd.grad(y, inputs, dy, retain_graph=True)
    return run


def duel_conv(args):
    """The CNN's convolutions alone, batch 64, 1 thread, interleaved rep by rep;
    PyTorch in the faster of its two memory formats (a short screen first)."""
    print_blas_info()
    set_threads(1, 1)
    nn = NnSide(args.nn, args.data)
    nn.ask("conv_init")
    print(f"RESULT conv_batch {CONV_BATCH}")
    for layer in (0, 1):
        for backward in (0, 1):
            name = f"conv.l{layer + 1}.{'bwd' if backward else 'fwd'}"
            flops = conv_flops(layer, backward)

            def nn_rep(calls):
                o = nn.ask(f"conv {layer + 1} {backward} {calls}")
                if float(o["flops"]) != flops:
                    raise SystemExit(f"error: {name}: nn.h counts {o['flops']} FLOPs, this side {flops}")
                return float(o["wall_s"]), float(o["thread_cpu_s"]), float(o["process_cpu_s"])

            per_call, layout_runs = {}, {}
            for cl in (False, True):  # PyTorch's memory formats: one short screen each, the faster duels
                run = torch_conv_call(layer, backward, cl)
                run(3)

                def torch_rep(calls, run=run):
                    c = Clock()
                    run(calls)
                    return c.lap()

                calls = calibrate(torch_rep, args.rep_s / 2, lambda r: one_thread_seconds(*r)[0])
                per_call[cl] = min(one_thread_seconds(*torch_rep(calls))[0] / calls for _ in range(2))
                layout_runs[cl] = torch_rep
            cl = per_call[True] < per_call[False]
            reps_fn = {"nn": nn_rep, "torch": layout_runs[cl]}
            nn_rep(3)
            calls = {side: calibrate(reps_fn[side], args.rep_s, lambda r: one_thread_seconds(*r)[0])
                     for side in ("nn", "torch")}
            times, clocks = {"nn": [], "torch": []}, {"nn": set(), "torch": set()}
            for r in range(args.reps):
                for side in (("nn", "torch") if r % 2 == 0 else ("torch", "nn")):
                    wait_quiet()
                    s, clk = one_thread_seconds(*reps_fn[side](calls[side]))
                    times[side].append(s / calls[side])
                    clocks[side].add(clk)
            print(f"RESULT {name}.flops {flops}")
            print(f"RESULT {name}.torch.layout {'channels_last' if cl else 'contiguous'}")
            print(f"RESULT {name}.torch.screen_gflops " + " ".join(
                f"{'channels_last' if k else 'contiguous'}={flops / v * 1e-9:.2f}" for k, v in per_call.items()))
            for side in ("nn", "torch"):
                print(f"RESULT {name}.{side}.gflops_reps " + " ".join(f"{flops / v * 1e-9:.2f}" for v in times[side]))
                print(f"RESULT {name}.{side}.gflops {flops / statistics.median(times[side]) * 1e-9:.2f}")
                print(f"RESULT {name}.{side}.clock {'+'.join(sorted(clocks[side]))}")
            print(f"RESULT {name}.ratio {statistics.median(times['torch']) / statistics.median(times['nn']):.4f}",
                  flush=True)
    nn.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["info", "screen", "duel-train", "duel-infer", "duel-conv"])
    p.add_argument("--model", choices=["mlp", "cnn"], default="mlp",
                   help="the MLP (784-256-128-10) or the CNN of examples/fashion_cnn.c")
    p.add_argument("--nn", help="bench binary built without OpenBLAS (bench_nn)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="threads of both sides (nn.h: OpenMP)")
    p.add_argument("--torch-threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--ob-threads", type=int, default=1, help="OpenBLAS threads inside torch")
    p.add_argument("--foreach", type=int, default=1, help="optimizer foreach= (1/0)")
    p.add_argument("--form", default="eager.inference_mode", choices=FORMS_CNN,
                   help="inference form; the .cl ones (channels_last) for the CNN only")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--epochs-frac", type=float, default=1.0, help="training rep length in epochs")
    p.add_argument("--steps", type=int, default=0, help="training rep length in steps (overrides --epochs-frac)")
    p.add_argument("--channels-last", type=int, default=0, help="duel-train, CNN: channels_last model and input (1/0)")
    p.add_argument("--rep-s", type=float, default=0.3, help="inference (and duel-conv) rep length, seconds")
    p.add_argument("--infer-s", type=float, default=0.1, help="screen: inference rep length, seconds")
    p.add_argument("--jobs", default="train1,train2,infer1,infer256",
                   help="screen: the jobs to screen (training at 1 or 2 threads, inference at batch 1 or 256)")
    p.add_argument("--optim", choices=["sgd", "adam"], default="adam")
    p.add_argument("--peak-loop", default="", help="duel-train: also measure this FMA peak loop "
                   "(avx2, avx512) in the nn.h process after each of its repetitions")
    p.add_argument("--data", default=DATA_DIR)
    args = p.parse_args()
    if args.mode == "info":
        print(f"RESULT torch_version {torch.__version__}")
        print(f"RESULT torch_parallel {torch.__config__.parallel_info().splitlines()[0]}")
        print_blas_info()
        return
    if args.model == "mlp" and (args.channels_last or args.form.endswith(".cl")):
        p.error("channels_last is for --model cnn only")
    if args.mode == "screen":
        screen(args)
    elif args.mode == "duel-conv":
        duel_conv(args)
    elif args.mode == "duel-train":
        args.foreach = bool(args.foreach)
        duel_train(args)
    else:
        duel_infer(args)


if __name__ == "__main__":
    main()
