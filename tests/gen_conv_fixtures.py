#!/usr/bin/python3
"""Generate the PyTorch golden fixtures for the convolution-network layers of nn.h.

Run from the repository root:

    /usr/bin/python3 tests/gen_conv_fixtures.py

It needs Debian's PyTorch (apt install python3-torch; written against torch 1.13 CPU)
and numpy, and imports tests/gen_fixtures.py for its fixture writer (Case), so the files
have exactly the same format. It writes tests/fixtures/<case>.txt for the families
conv2d_*, maxpool2d_*, avgpool2d_*, gap_*, bn2d_* and cnn_*, plus
tests/fixtures/meta_conv.txt with the versions used and the number of cases (meta.txt
belongs to gen_fixtures.py and is not touched). Output is deterministic: every case seeds
torch from its own name (torch.set_num_threads(1)), and running the script twice gives
identical files. The C tests only read the committed files (tests/fixture.h).

File format (as in gen_fixtures.py). Lines starting with '#' are comments. Each record is
a header line `name rank d0 ... d(rank-1)` followed by one line holding all values in
row-major order, each printed with '%.9g' (exact float32 round trip). Scalars have rank
0. Integer data (geometry, indices, labels, flags, counts) is stored as floats; booleans
are 0/1.

Layouts follow PyTorch: x is (N, C, H, W); a conv weight is (OC, C/groups, KH, KW); a
conv bias is (OC); a dense weight is (OUT, IN). Gradients (dx, dw, db, ...) come from
autograd with a random upstream gradient dy, i.e. they are vector-Jacobian products of dy.
Output sizes: OH = floor((H + 2*ph - dil_h*(kh-1) - 1) / sh) + 1 (pooling: dil = 1), and
likewise OW.

Records per family:

  conv2d_*    torch.nn.Conv2d (default init, seeded), x ~ randn.
              x (N,C,H,W), w (OC,C/groups,KH,KW), b (OC) only when has_bias = 1,
              y (N,OC,OH,OW), dy (N,OC,OH,OW), dx, dw, db (only when has_bias = 1).
              Scalars: kh kw sh sw ph pw dil_h dil_w groups has_bias.
              (Dilation is dil_h/dil_w so that dw stays the weight gradient.)
  maxpool2d_* F.max_pool2d(return_indices=True), padding acts as -inf, floor mode.
              x (N,C,H,W), y (N,C,OH,OW), dy, dx, idx (N,C,OH,OW): the flat index
              h*W + w of the chosen input element inside its (n, c) plane.
              Scalars: kh kw sh sw ph pw.
  avgpool2d_* F.avg_pool2d, floor mode, no divisor override.
              x, y, dy, dx. Scalars: kh kw sh sw ph pw count_include_pad.
  gap_*       global average pooling: F.adaptive_avg_pool2d(x, 1) flattened to (N, C).
              x (N,C,H,W), y (N,C), dy (N,C), dx (N,C,H,W).
  bn2d_*      torch.nn.BatchNorm2d(C, eps, momentum), statistics per channel over
              N*H*W elements. Scalars eps, momentum; gamma, beta (C) fixed at random
              values; running_mean0/running_var0 initial (0 and 1). Train steps i = 1..3:
              x{i} dy{i} y{i} dx{i} dgamma{i} dbeta{i} running_mean{i} running_var{i}
              (running stats after step i). Then eval mode (running stats): xe dye ye dxe
              dgammae dbetae.
  cnn_*       a small CNN end to end (layers listed in its header notes): every
              parameter, x, labels, logits y, the mean cross-entropy loss, every
              parameter gradient d_<param>, dx, the intermediate activations and n_params.
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_fixtures  # noqa: E402  (fixture writer shared with tests/gen_fixtures.py)

GENERATOR = "tests/gen_conv_fixtures.py"
OUT_DIR = gen_fixtures.OUT_DIR
fmt = gen_fixtures.fmt
leaf = gen_fixtures.leaf

torch.set_num_threads(1)
torch.set_default_dtype(torch.float32)

written = []


class Case(gen_fixtures.Case):
    """gen_fixtures.Case (same seeding and format) naming this script in the file header."""

    generator = GENERATOR
    log = written

    def write(self):
        assert all("\n" not in n for n in self.notes), self.name
        super().write()


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def geom_tag(prefix, v, default):
    """'_k3' for (3, 3), '_k3x5' for (3, 5), '' when equal to the default."""
    a, b = pair(v)
    if (a, b) == pair(default):
        return ""
    return "_%s%d" % (prefix, a) if a == b else "_%s%dx%d" % (prefix, a, b)


def shape_tag(shape):
    return "x".join(str(d) for d in shape)


# --------------------------------------------------------------------------- conv2d

# (N, C, H, W, OC, kernel, stride, padding, dilation, groups, bias, note)
CONV_CASES = [
    (3, 5, 7, 9, 4, 3, 1, 1, 1, 1, True, "'same' convolution (k 3, pad 1)"),
    (3, 5, 7, 9, 6, 1, 1, 0, 1, 1, True, "pointwise (1x1) convolution"),
    (3, 5, 7, 9, 4, 5, 2, 2, 1, 1, True, "k 5, stride 2, pad 2"),
    (3, 5, 7, 9, 4, 3, 2, 1, 2, 1, True, "k 3, stride 2, pad 1, dilation 2 (effective extent 5)"),
    (3, 5, 7, 9, 10, 3, 1, 1, 1, 5, True, "grouped: groups 5, 1 input and 2 output channels per group"),
    (3, 5, 7, 9, 5, 3, 1, 1, 1, 5, True, "depthwise: groups = C = OC"),
    (1, 1, 7, 9, 1, 3, 1, 0, 1, 1, True, "batch 1, one channel, 'valid' (pad 0)"),
    (2, 3, 17, 17, 8, 3, 1, 1, 1, 1, False, "no bias (has_bias 0: no b and no db records)"),
    (2, 3, 9, 7, 4, (3, 5), (2, 1), (1, 2), (1, 2), 1, True,
     "rectangular: kernel (3,5), stride (2,1), padding (1,2), dilation (1,2)"),
    # flagship-like layer shapes, batch 1 to keep the files small (batch sums are covered above)
    (1, 1, 28, 28, 32, 3, 1, 1, 1, 1, True, "flagship-like first layer: 1x28x28 -> 32 channels, k 3, pad 1 (batch 1)"),
    (1, 32, 14, 14, 64, 3, 1, 1, 1, 1, True,
     "flagship-like second layer: 32x14x14 -> 64 channels, k 3, pad 1 (batch 1)"),
    (1, 3, 1, 1, 4, 1, 1, 0, 1, 1, True, "1x1 input, k 1"),
    (3, 17, 5, 5, 33, 3, 1, 0, 1, 1, True, "odd channel counts, 'valid' (pad 0): 5x5 -> 3x3"),
]

CONV_NOTES = [
    "conv2d (torch.nn.Conv2d, cross-correlation): y[n,o,i,j] = b[o] + sum over c in o's group, p, q of",
    "w[o,c',p,q] * x[n,c,i*sh - ph + p*dil_h, j*sw - pw + q*dil_w] (zero outside the input),",
    "c = g*C/groups + c', g = o / (OC/groups). x (N,C,H,W), w (OC,C/groups,KH,KW), b (OC), y (N,OC,OH,OW);",
    "OH = floor((H + 2 ph - dil_h (kh-1) - 1)/sh) + 1; dx, dw, db = autograd VJPs of dy.",
    "scalars: kh kw sh sw ph pw dil_h dil_w groups has_bias",
]


def conv_cases():
    for N, C, H, W, OC, k, s, p, d, g, bias, note in CONV_CASES:
        name = "conv2d_%s_oc%d%s%s%s%s%s%s" % (
            shape_tag((N, C, H, W)), OC, geom_tag("k", k, 0), geom_tag("s", s, 0), geom_tag("p", p, -1),
            geom_tag("d", d, 1), "_g%d" % g if g != 1 else "", "" if bias else "_nobias")
        c = Case(name, *CONV_NOTES)
        c.notes.append(note)
        conv = torch.nn.Conv2d(C, OC, k, stride=s, padding=p, dilation=d, groups=g, bias=bias)
        x = leaf(torch.randn(N, C, H, W))
        y = conv(x)
        dy = torch.randn_like(y)
        y.backward(dy)
        # cross-check against a float64 evaluation
        y64 = F.conv2d(x.detach().double(), conv.weight.detach().double(),
                       conv.bias.detach().double() if bias else None, s, p, d, g)
        assert torch.allclose(y.double(), y64, rtol=1e-4, atol=1e-5), name
        (kh, kw), (sh, sw), (ph, pw), (dh, dw_) = pair(k), pair(s), pair(p), pair(d)
        c.add_all(kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw, dil_h=dh, dil_w=dw_, groups=g,
                  has_bias=1 if bias else 0)
        c.add_all(x=x, w=conv.weight)
        if bias:
            c.add("b", conv.bias)
        c.add_all(y=y, dy=dy, dx=x.grad, dw=conv.weight.grad)
        if bias:
            c.add("db", conv.bias.grad)
        c.write()


# --------------------------------------------------------------------------- pooling

def ref_maxpool(x, k, s, p):
    """First-maximum-wins reference (window scanned row-major), float64 numpy."""
    (kh, kw), (sh, sw), (ph, pw) = pair(k), pair(s), pair(p)
    N, C, H, W = x.shape
    OH = (H + 2 * ph - kh) // sh + 1
    OW = (W + 2 * pw - kw) // sw + 1
    idx = np.zeros((N, C, OH, OW), dtype=np.int64)
    for n in range(N):
        for ch in range(C):
            for i in range(OH):
                for j in range(OW):
                    best, bi = -np.inf, -1
                    for a in range(kh):
                        for b in range(kw):
                            r, q = i * sh - ph + a, j * sw - pw + b
                            if 0 <= r < H and 0 <= q < W and (bi < 0 or x[n, ch, r, q] > best):
                                best, bi = x[n, ch, r, q], r * W + q
                    idx[n, ch, i, j] = bi
    return idx


def check_maxpool(x, dy, idx, dx, k, s, p, name):
    xr = x.detach().double().numpy()
    ref = ref_maxpool(xr, k, s, p)
    assert np.array_equal(ref, idx.numpy()), name + ": torch does not pick the first maximum"
    N, C, H, W = xr.shape
    rdx = np.zeros((N, C, H * W))
    dyr = dy.double().numpy().reshape(N, C, -1)
    for n in range(N):
        for ch in range(C):
            np.add.at(rdx[n, ch], ref[n, ch].ravel(), dyr[n, ch])
    assert np.allclose(rdx.reshape(N, C, H, W), dx.double().numpy(), rtol=1e-6, atol=1e-6), name


MAXPOOL_NOTES = [
    "maxpool2d: F.max_pool2d(x, (kh,kw), (sh,sw), (ph,pw), return_indices=True), floor mode; padding",
    "is never selected (-inf). idx = flat index h*W + w in the (n,c) plane of the chosen element. Ties:",
    "the first maximum in the window scanned row-major wins (strict '>' update), in idx and in dx.",
    "dx = VJP of dy: each dy[n,c,i,j] is added to dx at idx[n,c,i,j] (overlapping windows accumulate).",
    "scalars: kh kw sh sw ph pw",
]


def tied_windows(x, k, s, p):
    """Number of windows whose maximum occurs more than once."""
    cols = F.unfold(x.detach(), k, 1, p, s)  # padded positions read 0 here,
    cols_pad = F.unfold(torch.ones_like(x), k, 1, p, s) > 0  # so mask them to -inf
    cols = torch.where(cols_pad, cols, torch.tensor(float("-inf")))
    m = cols.max(dim=1, keepdim=True).values
    return int(((cols == m).sum(dim=1) > 1).sum())


def maxpool_case(shape, k, s, p, note, make_x=None, min_tied=0):
    name = "maxpool2d_%s_k%d_s%d%s" % (shape_tag(shape), k, s, "_p%d" % p if p else "")
    if make_x is not None:
        name += "_" + make_x[0]
    c = Case(name, *MAXPOOL_NOTES)
    c.notes.append(note)
    x = make_x[1](shape) if make_x is not None else torch.randn(*shape)
    x = leaf(x)
    y, idx = F.max_pool2d(x, k, s, p, return_indices=True)
    dy = torch.randn_like(y)
    y.backward(dy)
    check_maxpool(x, dy, idx, x.grad, k, s, p, name)
    assert tied_windows(x, k, s, p) >= min_tied, name
    c.add_all(kh=k, kw=k, sh=s, sw=s, ph=p, pw=p, x=x, y=y, dy=dy, dx=x.grad, idx=idx.float())
    c.write()
    return idx


def ties_x(shape):
    return torch.randint(-2, 3, shape).float()


def peaks_x(shape):
    x = torch.randn(*shape)
    flat = x.view(shape[0] * shape[1], -1)
    # a few clear peaks per plane, each the maximum of up to 9 overlapping 3x3 windows
    pos = torch.randint(0, flat.shape[1], (flat.shape[0], 3))
    flat.scatter_(1, pos, 4.0 + torch.rand(flat.shape[0], 3))
    return x


def maxpool_cases():
    maxpool_case((3, 5, 7, 9), 2, 2, 0, "k 2 stride 2 on 7x9: floor mode gives 3x4, the last row and column unused")
    maxpool_case((3, 5, 7, 9), 3, 2, 1, "k 3 stride 2 pad 1: 7x9 -> 4x5")
    maxpool_case((3, 5, 7, 9), 3, 1, 1,
                 "many ties: x = randint(-2, 3) as floats; pins first-maximum-wins (row-major scan)",
                 make_x=("ties", ties_x), min_tied=100)
    maxpool_case((1, 1, 28, 28), 2, 2, 0, "k 2 stride 2 on 28x28 -> 14x14")
    idx = maxpool_case((3, 5, 7, 9), 3, 1, 0,
                       "overlapping windows k 3 s 1 p 0, 3 peaks (4..5) planted per plane: dx accumulates several dy",
                       make_x=("overlap", peaks_x))
    counts = [np.bincount(r.ravel()).max() for r in idx.view(15, -1).numpy()]
    assert max(counts) >= 4, counts


AVGPOOL_NOTES = [
    "avgpool2d: F.avg_pool2d(x, (kh,kw), (sh,sw), (ph,pw), ceil_mode=False, count_include_pad), no",
    "divisor_override. Window sum over real input elements (padding adds 0) divided by: kh*kw when",
    "count_include_pad = 1 (padded positions counted; in floor mode every window lies inside the padded",
    "input), else by the number of real input elements in the window. dx = VJP of dy (dy/divisor",
    "spread over the window's real elements). scalars: kh kw sh sw ph pw count_include_pad",
]


def ref_avgpool(x, k, s, p, include):
    (kh, kw), (sh, sw), (ph, pw) = pair(k), pair(s), pair(p)
    N, C, H, W = x.shape
    OH = (H + 2 * ph - kh) // sh + 1
    OW = (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, C, OH, OW))
    for i in range(OH):
        for j in range(OW):
            r0, q0 = i * sh - ph, j * sw - pw
            r1, q1 = min(r0 + kh, H + ph), min(q0 + kw, W + pw)
            div = (r1 - r0) * (q1 - q0)
            r0c, q0c, r1c, q1c = max(r0, 0), max(q0, 0), min(r1, H), min(q1, W)
            if not include:
                div = (r1c - r0c) * (q1c - q0c)
            y[:, :, i, j] = x[:, :, r0c:r1c, q0c:q1c].sum(axis=(2, 3)) / div
    return y


def avgpool_case(shape, k, s, p, include, note):
    name = "avgpool2d_%s_k%d_s%d%s%s" % (shape_tag(shape), k, s, "_p%d" % p if p else "",
                                        "" if include or not p else "_excl_pad")
    c = Case(name, *AVGPOOL_NOTES)
    c.notes.append(note)
    x = leaf(torch.randn(*shape))
    y = F.avg_pool2d(x, k, s, p, ceil_mode=False, count_include_pad=include)
    dy = torch.randn_like(y)
    y.backward(dy)
    ref = ref_avgpool(x.detach().double().numpy(), k, s, p, include)
    assert np.allclose(ref, y.detach().double().numpy(), rtol=1e-5, atol=1e-6), name
    c.add_all(kh=k, kw=k, sh=s, sw=s, ph=p, pw=p, count_include_pad=1 if include else 0,
              x=x, y=y, dy=dy, dx=x.grad)
    c.write()


def avgpool_cases():
    avgpool_case((3, 5, 7, 9), 2, 2, 0, True, "k 2 stride 2 on 7x9 -> 3x4 (floor mode)")
    avgpool_case((3, 5, 7, 9), 3, 2, 1, True,
                 "k 3 stride 2 pad 1, count_include_pad = 1 (torch default): border windows divide by 9")
    avgpool_case((3, 5, 7, 9), 3, 2, 1, False,
                 "k 3 stride 2 pad 1, count_include_pad = 0: border windows divide by the real count (4 or 6)")
    avgpool_case((3, 5, 7, 9), 3, 1, 1, True, "k 3 stride 1 pad 1 ('same' size), count_include_pad = 1")


def gap_cases():
    for shape in [(3, 5, 7, 9), (1, 1, 1, 1)]:
        c = Case("gap_" + shape_tag(shape),
                 "global average pooling: y = F.adaptive_avg_pool2d(x, 1).flatten(1), y[n,c] = mean over H*W",
                 "x (N,C,H,W), y (N,C), dy (N,C), dx (N,C,H,W) = dy[n,c]/(H*W) everywhere in the plane")
        x = leaf(torch.randn(*shape))
        y = F.adaptive_avg_pool2d(x, 1).flatten(1)
        dy = torch.randn_like(y)
        y.backward(dy)
        c.add_all(x=x, y=y, dy=dy, dx=x.grad)
        c.write()


# --------------------------------------------------------------------------- batchnorm2d

def bn2d_cases():
    cfgs = [((3, 5, 7, 9), 1e-5, 0.1, ""), ((1, 5, 3, 3), 1e-5, 0.1, ""), ((2, 3, 1, 1), 1e-5, 0.1, ""),
            ((2, 5, 4, 4), 1e-3, 0.3, "_eps_mom")]
    for shape, eps, mom, tag in cfgs:
        N, C, H, W = shape
        c = Case("bn2d_%s%s" % (shape_tag(shape), tag),
                 "BatchNorm2d(C, eps, momentum), per-channel statistics over the N*H*W elements of the channel.",
                 "Steps i=1..3 in train mode: normalise with the batch mean and the biased variance;",
                 "running_mean = (1-momentum)*running_mean + momentum*mean,",
                 "running_var = (1-momentum)*running_var + momentum*var_biased*M/(M-1), M = N*H*W (unbiased);",
                 "running_*{i} after step i, running_*0 initial (0, 1). Then eval mode on xe (running stats).",
                 "gamma/beta (C) fixed; dgamma/dbeta/dx = autograd VJPs of dy (fresh gradients each step).",
                 "x (N,C,H,W) = randn * scale[c] + shift[c]")
        bn = torch.nn.BatchNorm2d(C, eps=eps, momentum=mom)
        with torch.no_grad():
            bn.weight.copy_(torch.randn(C) * 0.5 + 1.0)
            bn.bias.copy_(torch.randn(C) * 0.5)
        c.add_all(eps=eps, momentum=mom, gamma=bn.weight, beta=bn.bias,
                  running_mean0=bn.running_mean, running_var0=bn.running_var)
        scale = (torch.rand(C) * 1.5 + 0.5).view(1, C, 1, 1)
        shift = torch.randn(C).view(1, C, 1, 1)
        bn.train()
        for i in (1, 2, 3):
            x = leaf(torch.randn(N, C, H, W) * scale + shift)
            bn.zero_grad()
            rm, rv = bn.running_mean.clone(), bn.running_var.clone()
            y = bn(x)
            dy = torch.randn_like(y)
            y.backward(dy)
            # the unbiased count is N*H*W
            xd = x.detach().double()
            M = N * H * W
            var_u = xd.var(dim=(0, 2, 3), unbiased=False) * M / (M - 1)
            assert torch.allclose(bn.running_var.double(), (1 - mom) * rv.double() + mom * var_u, rtol=1e-5), c.name
            assert torch.allclose(bn.running_mean.double(), (1 - mom) * rm.double() + mom * xd.mean(dim=(0, 2, 3)),
                                  rtol=1e-5, atol=1e-6), c.name
            c.add("x%d" % i, x)
            c.add("dy%d" % i, dy)
            c.add("y%d" % i, y)
            c.add("dx%d" % i, x.grad)
            c.add("dgamma%d" % i, bn.weight.grad)
            c.add("dbeta%d" % i, bn.bias.grad)
            c.add("running_mean%d" % i, bn.running_mean)
            c.add("running_var%d" % i, bn.running_var)
        bn.eval()
        bn.zero_grad()
        x = leaf(torch.randn(N, C, H, W) * scale + shift)
        y = bn(x)
        dy = torch.randn_like(y)
        y.backward(dy)
        c.add_all(xe=x, dye=dy, ye=y, dxe=x.grad, dgammae=bn.weight.grad, dbetae=bn.bias.grad)
        c.write()


# --------------------------------------------------------------------------- small CNN

def cnn_cases():
    N = 3
    c = Case("cnn_small",
             "small CNN, PyTorch modules in this order on x (N,1,12,12):",
             "Conv2d(1,4,3,padding=1) [c1] -> ReLU -> MaxPool2d(2) -> Conv2d(4,8,3,padding=1) [c2] -> ReLU ->",
             "MaxPool2d(2) -> Flatten -> Linear(8*3*3, 10) [fc]; loss = CrossEntropyLoss mean over N of",
             "the logits y (N,10) against labels (N, class indices stored as floats).",
             "Flatten is PyTorch's: feature index = c*9 + h*3 + w over (C,H,W) = (8,3,3), so fc_w is (10, 72)",
             "with columns in that order. Default (seeded) init for all parameters.",
             "Intermediates: z1 = conv1 output (N,4,12,12), p1 = after ReLU and pool (N,4,6,6),",
             "z2 = conv2 output (N,8,6,6), p2 = after ReLU and pool (N,8,3,3).",
             "Gradients d_<param> and dx = d loss / d (...) by autograd (no upstream dy; loss is the root).",
             "n_params = 4*1*9+4 + 8*4*9+8 + 10*72+10 = 1066")
    c1 = torch.nn.Conv2d(1, 4, 3, padding=1)
    c2 = torch.nn.Conv2d(4, 8, 3, padding=1)
    fc = torch.nn.Linear(8 * 3 * 3, 10)
    net = torch.nn.Sequential(c1, torch.nn.ReLU(), torch.nn.MaxPool2d(2), c2, torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Flatten(), fc)
    x = leaf(torch.randn(N, 1, 12, 12))
    labels = torch.randint(0, 10, (N,))
    z1 = c1(x)
    p1 = F.max_pool2d(F.relu(z1), 2)
    z2 = c2(p1)
    p2 = F.max_pool2d(F.relu(z2), 2)
    y = fc(p2.flatten(1))
    assert torch.equal(y, net(x))
    loss = F.cross_entropy(y, labels)
    loss.backward()
    n_params = sum(t.numel() for t in net.parameters())
    assert n_params == 1066, n_params
    c.add_all(n_params=n_params, c1_w=c1.weight, c1_b=c1.bias, c2_w=c2.weight, c2_b=c2.bias,
              fc_w=fc.weight, fc_b=fc.bias, x=x, labels=labels.float(), y=y, loss=loss,
              z1=z1, p1=p1, z2=z2, p2=p2,
              d_c1_w=c1.weight.grad, d_c1_b=c1.bias.grad, d_c2_w=c2.weight.grad, d_c2_b=c2.bias.grad,
              d_fc_w=fc.weight.grad, d_fc_b=fc.bias.grad, dx=x.grad)
    c.write()


# --------------------------------------------------------------------------- main

def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    conv_cases()
    maxpool_cases()
    avgpool_cases()
    gap_cases()
    bn2d_cases()
    cnn_cases()
    with open(os.path.join(OUT_DIR, "meta_conv.txt"), "w", newline="\n") as f:
        f.write("# fixtures generated by %s\n" % GENERATOR)
        f.write("# torch %s\n# numpy %s\n# python %s\n" % (torch.__version__, np.__version__,
                                                            sys.version.split()[0]))
        f.write("# cases: %d\n" % len(written))
    print("wrote %d cases to %s" % (len(written), OUT_DIR))


if __name__ == "__main__":
    main()
