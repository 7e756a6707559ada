"""PyTorch side of `make bench`: the same 784-256-128-10 ReLU MLP as bench/bench.c.

Run it with Debian's interpreter and torch (python3-torch):
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/bench_torch.py train --batch 64 --threads 1 --epochs 3
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/bench_torch.py infer --threads 1

Every result is one line "RESULT <name> <value>" on stdout, as bench.c prints.
Debian's torch runs its matmuls in OpenBLAS, whose thread count comes from
OPENBLAS_NUM_THREADS (read when the library loads), not from torch.set_num_threads;
bench/run.sh sets both.

Data: the uint8 images stay uint8 in memory (one tensor, 47 MB) and each batch is
gathered and converted to float with the same normalization as nn.h's side.
Training: SGD (lr 0.05, momentum 0.9) or Adam (lr 1e-3), both with foreach=True
(the faster implementation on this CPU too), F.cross_entropy,
zero_grad(set_to_none=True) / backward / step; the last partial batch is dropped.
loss.item() is read every step, as nn.h's loss comes back as a float.
Inference: model.eval() under torch.inference_mode(), inputs converted to float
once outside the timings.
"""
import argparse
import gzip
import os
import resource
import statistics
import struct
import time

import torch
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530
PHASES = ["gather", "forward", "loss", "zero_grad", "backward", "optim"]


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


def make_model():
    torch.manual_seed(42)
    return torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10))


def max_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux


def rss_now_kb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def train(args):
    images = load_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"))
    labels = load_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz")).long()
    n = images.shape[0]
    images = images.reshape(n, 784)
    print(f"RESULT max_rss_after_load_kb {max_rss_kb()}")
    model = make_model()
    if args.optim == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
        print("RESULT optimizer adam lr=0.001")
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, foreach=True)
        print("RESULT optimizer sgd lr=0.05 momentum=0.9")
    gen = torch.Generator().manual_seed(7)
    B = args.batch
    steps = n // B
    times = []
    phase = [0.0] * 6  # where a step's time goes, as bench.c splits it
    clock = time.perf_counter
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for s in range(steps):
            t_0 = clock()
            rows = perm[s * B:(s + 1) * B]
            x = to_float(images.index_select(0, rows))
            y = labels.index_select(0, rows)
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
        times.append(time.perf_counter() - t0)
        print(f"RESULT epoch{epoch + 1}_seconds {times[-1]:.4f}")
        print(f"RESULT epoch{epoch + 1}_loss {loss_sum / steps:.4f}")
        if epoch == 0:  # peak resident memory of a process that has trained one epoch
            print(f"RESULT max_rss_kb {max_rss_kb()}")
            print(f"RESULT rss_now_kb {rss_now_kb()}")
        print(flush=True, end="")
    for name, t in zip(PHASES, phase):
        print(f"RESULT phase_us.{name} {1e6 * t / (steps * args.epochs):.1f}")
    print(f"RESULT samples_per_s {steps * B / statistics.median(times):.1f}")


def infer(args):
    images = load_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))
    n = images.shape[0]
    x = to_float(images.reshape(n, 784))
    model = make_model().eval()
    singles = [x[i % n:i % n + 1] for i in range(max(args.n_single, 200))]
    lat = []
    with torch.inference_mode():
        for i in range(200):
            model(singles[i])
        for i in range(args.n_single):
            xi = singles[i]
            t0 = time.perf_counter_ns()
            model(xi)
            lat.append(time.perf_counter_ns() - t0)
        print(f"RESULT infer_b1_us {statistics.median(lat) / 1e3:.3f}")

        batches = [x[s:s + 256] for s in range(0, n - 255, 256)]
        t0, count = time.perf_counter(), 0
        while time.perf_counter() - t0 < 0.1:
            model(batches[count % len(batches)])
            count += 1
        count *= 2
        rates, k = [], 0
        for _ in range(args.reps):
            t0 = time.perf_counter()
            for _ in range(count):
                model(batches[k % len(batches)])
                k += 1
            rates.append(256 * count / (time.perf_counter() - t0))
        print(f"RESULT infer_b256_samples_per_s {statistics.median(rates):.1f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["train", "infer", "info"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--optim", choices=["sgd", "adam"], default="sgd")
    p.add_argument("--n-single", type=int, default=5000)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--data", default=DATA_DIR)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.mode == "info":
        print(f"RESULT torch_version {torch.__version__}")
        return
    print(f"RESULT torch_threads {torch.get_num_threads()}")
    print(f"RESULT openblas_threads {os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    if args.mode == "train":
        train(args)
    else:
        infer(args)


if __name__ == "__main__":
    main()
