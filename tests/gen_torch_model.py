#!/usr/bin/python3
"""Train small models in PyTorch and convert them with tools/nn_torch.py for the C tests.

Run from the repository root with Debian's python3 (python3-torch 1.13):

    /usr/bin/python3 tests/gen_torch_model.py

Writes
    tests/fixtures/torch_model.nnw          a trained 21-module MLP nn.Sequential, via
                                            `nn_torch.py to-nn`
    tests/fixtures/torch_model_logits.txt   fixture format (tests/fixture.h): inputs `x`
                                            (32, 20) and the EVAL-mode `logits` (32, 4)
    tests/fixtures/torch_cnn.nnw            a trained 18-module CNN nn.Sequential (input
                                            (3, 12, 12); Conv2d plain, grouped and dilated,
                                            strided with a 3x2 kernel, 1x1; BatchNorm2d,
                                            MaxPool2d, AvgPool2d, Dropout2d, global average
                                            pooling, Linear), via `nn_torch.py to-nn
                                            --input-shape 3,12,12`: format 1.5 with GEOM
    tests/fixtures/torch_cnn_logits.txt     inputs `x` (16, 432): each row an image (C, H, W)
                                            flattened as nn.h reads it, and the EVAL-mode
                                            `logits` (16, 4)
tests/test_serialize.c (test_torch_model) builds each model from its .nnw alone and compares
its EVAL forward with the logits (PARITY.md: rtol = atol = 1e-5).

Checks here, all exact, for both models: `nn_torch.py to-torch` gives back the same module
types and arguments and the same state_dict (keys, dtypes, shapes, values,
num_batches_tracked); the round-tripped model computes bit-identical logits; it goes back
through `to-nn` (no options: the Sequential remembers its file's max_batch, seed and input
shape) to the very same bytes; the state_dict plus --arch input writes the same file as
the whole-module input; the enum values and format version the tool uses are nn.h's and
docs/FORMAT.md's. Files as nn.h writes them (no xTOR section, a model RNG state other than
the seed's, global average pooling straight into a dense layer) also go to PyTorch and back
to the same bytes. Output is deterministic: the same files on every run.
"""

import contextlib
import io
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import nn_torch  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(20240601)

IN, CLASSES, N_TRAIN, N_TEST, BATCH, STEPS = 20, 4, 512, 32, 64, 300
# the CNN: input (C, H, W), test rows, max_batch of its file
CNN_SHAPE, CNN_TEST, CNN_STEPS, CNN_MAX_BATCH = (3, 12, 12), 16, 150, 16


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


def make_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),                                     # 0  (8, 12, 12)
        nn.BatchNorm2d(8, momentum=0.2),                                   # 1
        nn.ReLU(),                                                         # 2
        nn.MaxPool2d(2),                                                   # 3  (8, 6, 6)
        nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4, bias=False),  # 4  (8, 6, 6) grouped, dilated
        nn.BatchNorm2d(8),                                                 # 5
        nn.LeakyReLU(0.1),                                                 # 6
        nn.Dropout2d(0.25),                                                # 7
        nn.Conv2d(8, 12, (3, 2), stride=(2, 1), padding=(1, 0)),          # 8  (12, 3, 5) strided
        nn.Tanh(),                                                         # 9
        nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),    # 10 (12, 3, 5)
        nn.Conv2d(12, 16, 1),                                              # 11 (16, 3, 5)
        nn.GELU(),                                                         # 12
        nn.MaxPool2d((2, 3), stride=1, padding=1, dilation=(1, 2)),       # 13 (16, 4, 3)
        nn.AvgPool2d((2, 2), stride=1, padding=1),                         # 14 (16, 5, 4) padding counted
        nn.AdaptiveAvgPool2d(1),                                           # 15 (16, 1, 1)
        nn.Flatten(),                                                      # 16 (16)
        nn.Linear(16, CLASSES),                                            # 17
    )


CNN_ARCH = ("conv2d:1:1,batchnorm2d:1e-5:0.2,relu,maxpool2d:2,conv2d:1:2:2:4,batchnorm2d,leakyrelu:0.1,"
            "dropout2d:0.25,conv2d:2x1:1x0,tanh,avgpool2d:3:1:1:0,conv2d,gelu,maxpool2d:2x3:1:1:1x2,"
            "avgpool2d:2x2:1:1,adaptiveavgpool2d,flatten,linear")


def fmt(t):
    return " ".join("{:.9g}".format(v) for v in t.reshape(-1).tolist())


def run(*args):
    """The tool's command line, in this interpreter (torch is imported once)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = nn_torch.main(list(args))
    if rc != 0:
        sys.exit("nn_torch.py %s failed:\n%s%s" % (" ".join(args), out.getvalue(), err.getvalue()))
    return out.getvalue()


def read(path):
    with open(path, "rb") as f:
        return f.read()


MODULE_KEYS = ("in_features", "out_features", "eps", "momentum", "normalized_shape", "p", "negative_slope", "alpha",
               "approximate", "beta", "threshold", "start_dim", "end_dim", "dim", "affine", "elementwise_affine",
               "track_running_stats", "num_features", "in_channels", "out_channels", "kernel_size", "stride",
               "padding", "dilation", "groups", "padding_mode", "ceil_mode", "count_include_pad",
               "divisor_override", "return_indices", "output_size", "inplace")


def same_module(a, b):
    """Same type and arguments (and, for a Sequential, the same children)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, nn.Sequential):
        return len(a) == len(b) and all(same_module(x, y) for x, y in zip(a, b))
    for k in MODULE_KEYS:
        if hasattr(a, k) and getattr(a, k) != getattr(b, k):
            return False
    return (getattr(a, "bias", None) is None) == (getattr(b, "bias", None) is None)


def train(model, x_train, y_train, steps, batch, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for step in range(steps):
        idx = torch.randint(0, x_train.shape[0], (batch,))
        loss = loss_fn(model(x_train[idx]), y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return (model(x_train).argmax(1) == y_train).float().mean().item()


def round_trip(model, nnw, tmp, to_nn_args, arch, x_test, logits):
    """Writes model to nnw with the tool's command line and checks every way back."""
    pt = os.path.join(tmp, "model.pt")
    torch.save(model, pt)
    run("to-nn", pt, nnw, *to_nn_args)
    data = read(nnw)

    # a state_dict with --arch writes the same file
    sd_pt, nnw2 = os.path.join(tmp, "sd.pt"), os.path.join(tmp, "sd.nnw")
    torch.save(model.state_dict(), sd_pt)
    run("to-nn", sd_pt, nnw2, "--arch", arch, *to_nn_args)
    if read(nnw2) != data:
        sys.exit("state_dict + --arch wrote another file than the whole module (%s)" % nnw)

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

    # and back to nn.h: the same bytes, with no options (the Sequential remembers them)
    nnw3 = os.path.join(tmp, "again.nnw")
    run("to-nn", back_pt, nnw3)
    if read(nnw3) != data:
        sys.exit("nn.h -> PyTorch -> nn.h changed the bytes of %s" % nnw)
    return data


def nn_h_round_trip(data, what):
    """A file as nn.h writes it goes to PyTorch and back to the same bytes (in memory)."""
    f = nn_torch.parse_nnw(data)
    back = nn_torch.torch_to_nn_bytes(nn_torch.nn_to_torch(f))
    if back != data:
        sys.exit("%s: nn.h -> PyTorch -> nn.h changed the bytes" % what)
    return f


def nn_h_files(cnn_nnw):
    """Files without the tool's xTOR section, with a model RNG state nn_model_init leaves (not
    the seed's), as a C program writes them: the CNN fixture's model, and a CNN described the
    way nn.h's tests describe one (global average pooling straight into a dense layer)."""
    f = nn_torch.parse_nnw(cnn_nnw)
    rng = [0x0123456789ABCDEF, 0xFEDCBA9876543210, 0x0F1E2D3C4B5A6978, 0x8796A5B4C3D2E1F0]
    params = [(k, v) for k, v in f["params"].items()]
    buffers = [(k, v) for k, v in f["buffers"].items()]
    data = nn_torch.nnw_bytes(f["inputs"], 7, 11, f["descs"], params, buffers, None, f["input_shape"], rng)
    g = nn_h_round_trip(data, "the CNN without xTOR")
    if g["rng"] != rng or g["max_batch"] != 7 or g["seed"] != 11:
        sys.exit("the CNN without xTOR lost its RNG state, max_batch or seed")

    d = nn_torch.desc
    A = nn_torch.A
    descs = [d("CONV2D", units=4, act=A["IDENTITY"], kernel_h=3, kernel_w=3, padding_h=1, padding_w=1),
             d("ACT", act=A["RELU"]),
             d("MAXPOOL2D", kernel_h=2, kernel_w=2, stride_h=2, stride_w=2),
             d("BATCHNORM2D"),
             d("GLOBAL_AVGPOOL"),
             d("DENSE", units=3, act=A["IDENTITY"]),
             d("ACT", act=A["SOFTMAX"])]
    gen = np.random.default_rng(5)
    want_p, want_b = nn_torch.runs_of(descs, 2 * 6 * 6, (2, 6, 6))
    params = [(n, gen.standard_normal(size).astype(np.float32)) for n, size in want_p]
    buffers = [(n, gen.uniform(0.5, 1.5, size).astype(np.float32)) for n, size in want_b]
    data = nn_torch.nnw_bytes(2 * 6 * 6, 4, 3, descs, params, buffers, None, (2, 6, 6), rng)
    f = nn_torch.parse_nnw(data)
    model = nn_torch.nn_to_torch(f)
    if not (isinstance(model[4], nn.Sequential) and isinstance(model[4][0], nn.AdaptiveAvgPool2d) and
            isinstance(model[4][1], nn.Flatten) and isinstance(model[5], nn.Linear)):
        sys.exit("global average pooling before a dense layer is not AdaptiveAvgPool2d(1) + Flatten:\n%s" % model)
    x = torch.from_numpy(gen.standard_normal((3, 2, 6, 6)).astype(np.float32))
    with torch.no_grad():
        p = model(x)
    if p.shape != (3, 3) or not torch.allclose(p.sum(1), torch.ones(3)):
        sys.exit("the nn.h-style CNN computes %r in PyTorch" % p)
    nn_h_round_trip(data, "a CNN with global average pooling into a dense layer")


def main():
    diffs = nn_torch.check_header(os.path.join(ROOT, "nn.h"), os.path.join(ROOT, "docs", "FORMAT.md"))
    if diffs:
        sys.exit("tools/nn_torch.py disagrees with nn.h or docs/FORMAT.md: %s" % "; ".join(diffs))

    # the MLP: synthetic 4-class data from a random teacher network
    teacher = torch.randn(IN, CLASSES)
    x_train = torch.randn(N_TRAIN, IN)
    y_train = (x_train @ teacher + 0.3 * torch.randn(N_TRAIN, CLASSES)).argmax(1)
    x_test = torch.randn(N_TEST, IN)
    model = make_model()
    acc = train(model, x_train, y_train, STEPS, BATCH, 1e-2)
    with torch.no_grad():
        logits = model(x_test)

    # the CNN (seeded on its own, so the MLP's files do not depend on it): 4 classes, the
    # quadrant with the largest sum over the channels of a smoothed random image
    torch.manual_seed(20240602)
    C, H, W = CNN_SHAPE
    xc_train = torch.randn(N_TRAIN, C, H, W)
    xc_test = torch.randn(CNN_TEST, C, H, W)

    def quadrant_labels(x):
        s = torch.nn.functional.avg_pool2d(x.sum(1, keepdim=True), 3, 1, 1)
        q = torch.stack([s[:, 0, :H // 2, :W // 2].sum((1, 2)), s[:, 0, :H // 2, W // 2:].sum((1, 2)),
                         s[:, 0, H // 2:, :W // 2].sum((1, 2)), s[:, 0, H // 2:, W // 2:].sum((1, 2))], 1)
        return q.argmax(1)

    yc_train = quadrant_labels(xc_train)
    cnn = make_cnn()
    cnn_acc = train(cnn, xc_train, yc_train, CNN_STEPS, BATCH, 1e-2)
    with torch.no_grad():
        cnn_logits = cnn(xc_test)

    nnw = os.path.join(FIX, "torch_model.nnw")
    cnn_nnw = os.path.join(FIX, "torch_cnn.nnw")
    with tempfile.TemporaryDirectory() as tmp:
        round_trip(model, nnw, tmp, ["--inputs", str(IN), "--max-batch", "64"], ARCH, x_test, logits)
        data = round_trip(cnn, cnn_nnw, tmp, ["--input-shape", "%d,%d,%d" % CNN_SHAPE, "--max-batch",
                                              str(CNN_MAX_BATCH)], CNN_ARCH, xc_test, cnn_logits)
    f = nn_torch.parse_nnw(data)
    tags = [t for t, _, _ in f["sections"]]
    if f["version"] != (1, 5) or "GEOM" not in tags or "ZLIT" in tags or f["input_shape"] != CNN_SHAPE:
        sys.exit("torch_cnn.nnw: format %r, sections %r, input shape %r" % (f["version"], tags, f["input_shape"]))
    nn_h_round_trip(read(nnw), "torch_model.nnw")
    nn_h_files(data)

    with open(os.path.join(FIX, "torch_model_logits.txt"), "w") as f:
        f.write("# written by tests/gen_torch_model.py (torch %s): a %d-module nn.Sequential trained %d steps\n"
                % (torch.__version__, len(model), STEPS))
        f.write("# (Adam, cross-entropy, synthetic data, train accuracy %.3f), converted to torch_model.nnw by\n"
                "# tools/nn_torch.py. x: inputs; logits: model(x) in eval mode.\n" % acc)
        f.write("x 2 %d %d\n%s\n" % (N_TEST, IN, fmt(x_test)))
        f.write("logits 2 %d %d\n%s\n" % (N_TEST, CLASSES, fmt(logits)))
    with open(os.path.join(FIX, "torch_cnn_logits.txt"), "w") as f:
        f.write("# written by tests/gen_torch_model.py (torch %s): an %d-module CNN nn.Sequential on (%d, %d, %d)\n"
                % ((torch.__version__, len(cnn)) + CNN_SHAPE))
        f.write("# images, trained %d steps (Adam, cross-entropy, synthetic data, train accuracy %.3f), converted\n"
                "# to torch_cnn.nnw by tools/nn_torch.py (--input-shape %d,%d,%d --max-batch %d). x: inputs, one\n"
                "# image (C, H, W) flattened per row; logits: model(x) in eval mode.\n"
                % ((CNN_STEPS, cnn_acc) + CNN_SHAPE + (CNN_MAX_BATCH,)))
        f.write("x 2 %d %d\n%s\n" % (CNN_TEST, C * H * W, fmt(xc_test)))
        f.write("logits 2 %d %d\n%s\n" % (CNN_TEST, CLASSES, fmt(cnn_logits)))
    print("wrote %s (%d bytes) and torch_model_logits.txt, train accuracy %.3f;\n"
          "wrote %s (%d bytes) and torch_cnn_logits.txt, train accuracy %.3f;\n"
          "round trips exact (modules, state_dict, logits, nn.h -> PyTorch -> nn.h bytes)"
          % (nnw, os.path.getsize(nnw), acc, cnn_nnw, os.path.getsize(cnn_nnw), cnn_acc))


if __name__ == "__main__":
    main()
