#!/usr/bin/python3
"""Train a small model in PyTorch and convert it with tools/nn_torch.py for the C tests.

Run from the repository root with Debian's python3 (python3-torch 1.13):

    /usr/bin/python3 tests/gen_torch_model.py

Writes
    tests/fixtures/torch_model.nnw          the trained nn.Sequential, via `nn_torch.py to-nn`
    tests/fixtures/torch_model_logits.txt   fixture format (tests/fixture.h): inputs `x`
                                            (32, 20) and the EVAL-mode `logits` (32, 4)
tests/test_serialize.c (test_torch_model) builds the model from the .nnw alone and compares
its EVAL forward with the logits (PARITY.md: rtol = atol = 1e-5).

Checks here, all exact: `nn_torch.py to-torch` gives back the same module types and
arguments and the same state_dict (keys, dtypes, shapes, values, num_batches_tracked);
the round-tripped model computes bit-identical logits; the state_dict plus --arch input
writes the same file as the whole-module input; the enum values the tool uses are
nn.h's. Output is deterministic: the same files on every run.
"""

import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
TOOL = os.path.join(ROOT, "tools", "nn_torch.py")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import nn_torch  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(20240601)

IN, CLASSES, N_TRAIN, N_TEST, BATCH, STEPS = 20, 4, 512, 32, 64, 300


def make_model():
    return nn.Sequential(
        nn.Linear(20, 32),
        nn.BatchNorm1d(32, momentum=0.2),
        nn.ReLU(),
        nn.Linear(32, 16),
        nn.Tanh(),
        nn.Dropout(0.2),
        nn.Linear(16, 16),
        nn.LayerNorm(16),
        nn.GELU(),
        nn.Linear(16, 12),
        nn.LeakyReLU(0.1),
        nn.Linear(12, 8),
        nn.ELU(0.5),
        nn.Flatten(),
        nn.Linear(8, 8),
        nn.SiLU(),
        nn.Linear(8, 6),
        nn.Softplus(),
        nn.Linear(6, 6),
        nn.Sigmoid(),
        nn.Linear(6, CLASSES, bias=False),
    )


ARCH = ("linear,batchnorm1d:1e-5:0.2,relu,linear,tanh,dropout:0.2,linear,layernorm,gelu,linear,leakyrelu:0.1,"
        "linear,elu:0.5,flatten,linear,silu,linear,softplus,linear,sigmoid,linear")


def fmt(t):
    return " ".join("{:.9g}".format(v) for v in t.reshape(-1).tolist())


def run(*args):
    r = subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("nn_torch.py %s failed:\n%s%s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout


def same_module(a, b):
    keys = ("in_features", "out_features", "eps", "momentum", "normalized_shape", "p", "negative_slope", "alpha",
            "approximate", "beta", "threshold", "start_dim", "end_dim", "dim", "affine", "elementwise_affine")
    if type(a) is not type(b):
        return False
    for k in keys:
        if hasattr(a, k) and getattr(a, k) != getattr(b, k):
            return False
    return (getattr(a, "bias", None) is None) == (getattr(b, "bias", None) is None)


def main():
    diffs = nn_torch.check_header(os.path.join(ROOT, "nn.h"))
    if diffs:
        sys.exit("tools/nn_torch.py disagrees with nn.h: %s" % "; ".join(diffs))

    # synthetic 4-class data from a random teacher network
    teacher = torch.randn(IN, CLASSES)
    x_train = torch.randn(N_TRAIN, IN)
    y_train = (x_train @ teacher + 0.3 * torch.randn(N_TRAIN, CLASSES)).argmax(1)
    x_test = torch.randn(N_TEST, IN)

    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for step in range(STEPS):
        idx = torch.randint(0, N_TRAIN, (BATCH,))
        loss = loss_fn(model(x_train[idx]), y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(x_test)
        acc = (model(x_train).argmax(1) == y_train).float().mean().item()

    nnw = os.path.join(FIX, "torch_model.nnw")
    with tempfile.TemporaryDirectory() as tmp:
        pt = os.path.join(tmp, "model.pt")
        torch.save(model, pt)
        run("to-nn", pt, nnw, "--inputs", str(IN), "--max-batch", "64")

        # a state_dict with --arch writes the same file
        sd_pt, nnw2 = os.path.join(tmp, "sd.pt"), os.path.join(tmp, "sd.nnw")
        torch.save(model.state_dict(), sd_pt)
        run("to-nn", sd_pt, nnw2, "--max-batch", "64", "--arch", ARCH)
        with open(nnw, "rb") as a, open(nnw2, "rb") as b:
            if a.read() != b.read():
                sys.exit("state_dict + --arch wrote another file than the whole module")

        # back to torch: the same modules, the same state_dict, the same logits
        back_pt = os.path.join(tmp, "back.pt")
        run("to-torch", nnw, back_pt)
        back = torch.load(back_pt)
        sd0, sd1 = model.state_dict(), back.state_dict()
        if list(sd0.keys()) != list(sd1.keys()):
            sys.exit("state_dict keys differ: %s vs %s" % (list(sd0.keys()), list(sd1.keys())))
        for k in sd0:
            a, b = sd0[k], sd1[k]
            if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(a, b):
                sys.exit("state_dict entry %s differs after to-nn / to-torch" % k)
        if len(back) != len(model) or not all(same_module(a, b) for a, b in zip(model, back)):
            sys.exit("modules differ after to-nn / to-torch:\n%s\n%s" % (model, back))
        with torch.no_grad():
            if not torch.equal(back(x_test), logits):
                sys.exit("the round-tripped model computes other logits")
        sd_back = os.path.join(tmp, "back_sd.pt")
        run("to-torch", nnw, sd_back, "--state-dict")
        sd2 = torch.load(sd_back)
        if list(sd2.keys()) != list(sd0.keys()) or not all(torch.equal(sd0[k], sd2[k]) for k in sd0):
            sys.exit("--state-dict output differs")

    with open(os.path.join(FIX, "torch_model_logits.txt"), "w") as f:
        f.write("# written by tests/gen_torch_model.py (torch %s): a %d-module nn.Sequential trained %d steps\n"
                % (torch.__version__, len(model), STEPS))
        f.write("# (Adam, cross-entropy, synthetic data, train accuracy %.3f), converted to torch_model.nnw by\n"
                "# tools/nn_torch.py. x: inputs; logits: model(x) in eval mode.\n" % acc)
        f.write("x 2 %d %d\n%s\n" % (N_TEST, IN, fmt(x_test)))
        f.write("logits 2 %d %d\n%s\n" % (N_TEST, CLASSES, fmt(logits)))
    print("wrote %s (%d bytes) and torch_model_logits.txt; round trip exact; train accuracy %.3f"
          % (nnw, os.path.getsize(nnw), acc))


if __name__ == "__main__":
    main()
