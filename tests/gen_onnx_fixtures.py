#!/usr/bin/env python3
"""Fixtures of nn.h's ONNX export (tests/fixtures/onnx/), checked here, once:

  1. builds tests/onnx_dump.c with cc and runs it: every case of tests/onnx_cases.h
     exported by nn_model_export_onnx, with inputs and nn.h's EVAL outputs;
  2. checks each file with Debian's python3-onnx: onnx.checker.check_model
     (full_check, which runs shape inference too) and strict shape inference;
  3. evaluates each graph independently, in float64 numpy over its
     initializers (an interpreter of the operators the exporter writes, written
     from the ONNX operator specification), and compares with nn.h's outputs;
  4. writes the checked .onnx files and MANIFEST (sizes, sha256, measured error);
  5. exports models from PyTorch 1.13 (python3-torch) with torch.onnx.export in EVAL
     mode, as users would (batch norm folded into convolutions, initializers renamed),
     with their inputs and PyTorch's outputs: torch_<name>.onnx, .in, .out, for
     tests/test_onnx.c's import tests.

tests/test_onnx.c then holds the export to these files byte for byte, so the tests
need no Python. Run from the repository root:  python3 tests/gen_onnx_fixtures.py
(apt-get install python3-onnx python3-numpy). Tolerance: relative 1e-4 of the
largest |output| (float32 against float64)."""
import hashlib
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

OUT = os.path.join("tests", "fixtures", "onnx")
TOL = 1e-4


def attrs(node):
    return {a.name: (a.t if a.type == onnx.AttributeProto.TENSOR else onnx.helper.get_attribute_value(a))
            for a in node.attribute}


def pad4(x, pads, value):
    ph0, pw0, ph1, pw1 = pads
    return np.pad(x, ((0, 0), (0, 0), (ph0, ph1), (pw0, pw1)), constant_values=value)


def windows(x, kh, kw, sh, sw, dh, dw):
    """(N, C, OH, OW, kh, kw) views of x (N, C, H, W), no padding."""
    n, c, h, w = x.shape
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((n, c, oh, ow, kh, kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, :, :, :, i, j] = x[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
    return out


def run(model, x):
    env = {i.name: numpy_helper.to_array(i).astype(np.float64) if i.data_type == 1 else numpy_helper.to_array(i)
           for i in model.graph.initializer}
    env[model.graph.input[0].name] = x.astype(np.float64)
    for nd in model.graph.node:
        a = attrs(nd)
        ins = [env[i] for i in nd.input]
        op = nd.op_type
        if op == "Gemm":
            y = ins[0] @ (ins[1].T if a.get("transB", 0) else ins[1])
            if len(ins) > 2:
                y = y + ins[2]
        elif op == "Conv":
            xx, w = ins[0], ins[1]
            kh, kw = a["kernel_shape"]
            sh, sw = a.get("strides", [1, 1])
            dh, dw = a.get("dilations", [1, 1])
            g = a.get("group", 1)
            xp = pad4(xx, a.get("pads", [0, 0, 0, 0]), 0.0)
            win = windows(xp, kh, kw, sh, sw, dh, dw)  # N C OH OW kh kw
            oc, cg = w.shape[0], w.shape[1]
            ocg = oc // g
            parts = []
            for gi in range(g):
                wg = w[gi * ocg:(gi + 1) * ocg]  # ocg cg kh kw
                xg = win[:, gi * cg:(gi + 1) * cg]  # N cg OH OW kh kw
                parts.append(np.einsum("nchwij,ocij->nohw", xg, wg))
            y = np.concatenate(parts, axis=1)
            if len(ins) > 2:
                y = y + ins[2][None, :, None, None]
        elif op == "MaxPool":
            kh, kw = a["kernel_shape"]
            sh, sw = a.get("strides", [1, 1])
            dh, dw = a.get("dilations", [1, 1])
            xp = pad4(ins[0], a.get("pads", [0, 0, 0, 0]), -np.inf)
            y = windows(xp, kh, kw, sh, sw, dh, dw).max(axis=(4, 5))
        elif op == "AveragePool":
            kh, kw = a["kernel_shape"]
            sh, sw = a.get("strides", [1, 1])
            pads = a.get("pads", [0, 0, 0, 0])
            s = windows(pad4(ins[0], pads, 0.0), kh, kw, sh, sw, 1, 1).sum(axis=(4, 5))
            if a.get("count_include_pad", 0):
                y = s / (kh * kw)
            else:
                ones = np.ones((1, 1) + ins[0].shape[2:])
                cnt = windows(pad4(ones, pads, 0.0), kh, kw, sh, sw, 1, 1).sum(axis=(4, 5))
                y = s / cnt
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=(2, 3), keepdims=True)
        elif op == "BatchNormalization":
            xx, sc, b, mu, var = ins
            shp = (1, -1) + (1,) * (xx.ndim - 2)
            y = (xx - mu.reshape(shp)) / np.sqrt(var.reshape(shp) + a.get("epsilon", 1e-5)) * sc.reshape(shp) + b.reshape(shp)
        elif op == "LayerNormalization":
            xx = ins[0]
            mu = xx.mean(axis=-1, keepdims=True)
            var = ((xx - mu) ** 2).mean(axis=-1, keepdims=True)
            y = (xx - mu) / np.sqrt(var + a.get("epsilon", 1e-5)) * ins[1] + ins[2]
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
        elif op == "Reshape":
            y = ins[0].reshape([int(v) for v in ins[1]])
        elif op == "ReduceMax":
            y = ins[0].max(axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1)))
        elif op == "Relu":
            y = np.maximum(ins[0], 0.0)
        elif op == "Sigmoid":
            y = 1.0 / (1.0 + np.exp(-ins[0]))
        elif op == "Tanh":
            y = np.tanh(ins[0])
        elif op == "Softplus":
            y = np.log1p(np.exp(ins[0]))
        elif op == "LeakyRelu":
            y = np.where(ins[0] >= 0, ins[0], a.get("alpha", 0.01) * ins[0])
        elif op == "Elu":
            y = np.where(ins[0] > 0, ins[0], a.get("alpha", 1.0) * np.expm1(ins[0]))
        elif op == "Softmax":
            e = np.exp(ins[0] - ins[0].max(axis=a.get("axis", -1), keepdims=True))
            y = e / e.sum(axis=a.get("axis", -1), keepdims=True)
        elif op == "Erf":
            y = np.vectorize(math.erf)(ins[0])
        elif op == "Mul":
            y = ins[0] * ins[1]
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "Identity":
            y = ins[0]
        elif op == "Constant":
            y = numpy_helper.to_array(a["value"]).astype(np.float64)
        elif op == "ReduceMean":
            y = ins[0].mean(axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1)))
        elif op == "Sub":
            y = ins[0] - ins[1]
        elif op == "Div":
            y = ins[0] / ins[1]
        elif op == "Pow":
            y = ins[0] ** ins[1]
        elif op == "Sqrt":
            y = np.sqrt(ins[0])
        else:
            raise SystemExit(f"the evaluator has no {op}")
        env[nd.output[0]] = y
    return env[model.graph.output[0].name]


def torch_models():
    """ONNX files as torch.onnx.export writes them, with inputs and PyTorch's outputs."""
    import torch
    torch.manual_seed(1)
    nn = torch.nn
    cases = {
        "torch_mlp": (nn.Sequential(nn.Linear(6, 7), nn.BatchNorm1d(7), nn.ReLU(), nn.Dropout(0.2), nn.Linear(7, 5),
                                    nn.LeakyReLU(0.1), nn.Linear(5, 5), nn.Tanh(), nn.Linear(5, 4), nn.Softmax(dim=1)),
                      (3, 6)),
        "torch_cnn": (nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.MaxPool2d(2),
                                    nn.Conv2d(5, 4, 3, stride=2, padding=2), nn.ELU(0.5),
                                    nn.AvgPool2d(3, 1, 1, count_include_pad=False), nn.Flatten(), nn.Linear(36, 3)),
                      (3, 3, 7, 9)),
        "torch_cnn_groups": (nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2), nn.BatchNorm2d(6), nn.Sigmoid(),
                                           nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=6, bias=False),
                                           nn.MaxPool2d(3, 2, 1), nn.Softplus(), nn.Conv2d(6, 2, 5, padding=2),
                                           nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 4)),
                             (3, 4, 9, 8)),
        "torch_acts": (nn.Sequential(nn.Linear(6, 7), nn.GELU(), nn.Linear(7, 5), nn.LayerNorm(5), nn.SiLU(),
                                     nn.Linear(5, 6), nn.GELU(approximate="tanh"), nn.Linear(6, 3)),
                       (3, 6)),
    }
    lines = []
    for name, (model, shape) in cases.items():
        model.train()
        with torch.no_grad():
            model(torch.randn(8, *shape[1:]))  # running statistics move
        model.eval()
        x = torch.randn(*shape)
        with torch.no_grad():
            y = model(x)
        path = os.path.join(OUT, name + ".onnx")
        torch.onnx.export(model, x, path, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
        m = onnx.load(path)
        onnx.checker.check_model(m, full_check=True)
        got = run(m, x.numpy())
        err = float(np.max(np.abs(got - y.numpy())) / max(1e-30, float(np.max(np.abs(got)))))
        if not err <= TOL:
            raise SystemExit(f"{name}: the numpy evaluator and PyTorch differ by {err}")
        x.numpy().astype("<f4").tofile(os.path.join(OUT, name + ".in"))
        y.numpy().astype("<f4").tofile(os.path.join(OUT, name + ".out"))
        data = open(path, "rb").read()
        ops = " ".join(nd.op_type for nd in m.graph.node)
        print(f"{name}: torch.onnx.export, opset {m.opset_import[0].version}; nodes {ops}; numpy vs PyTorch {err:.2e}")
        lines.append(f"{name}.onnx {len(data)} {hashlib.sha256(data).hexdigest()} torch {torch.__version__} "
                     f"input {'x'.join(map(str, shape))}")
    return lines


def main():
    if not os.path.exists("nn.h"):
        raise SystemExit("run from the repository root")
    tmp = tempfile.mkdtemp()
    try:
        exe = os.path.join(tmp, "onnx_dump")
        subprocess.run(["cc", "-std=c99", "-O1", "tests/onnx_dump.c", "-o", exe, "-lm"], check=True)
        lines = subprocess.run([exe, tmp], check=True, capture_output=True, text=True).stdout.split("\n")
        os.makedirs(OUT, exist_ok=True)
        manifest = []
        for line in filter(None, lines):
            name, b, n_in, n_out = line.split()
            b, n_in, n_out = int(b), int(n_in), int(n_out)
            path = os.path.join(tmp, name + ".onnx")
            model = onnx.load(path)
            onnx.checker.check_model(model, full_check=True)
            onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
            x = np.fromfile(os.path.join(tmp, name + ".in"), dtype="<f4")
            want = np.fromfile(os.path.join(tmp, name + ".out"), dtype="<f4").reshape(b, n_out)
            shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
            got = run(model, x.reshape([b] + shape))
            if got.shape != want.shape:
                raise SystemExit(f"{name}: the graph gives {got.shape}, nn.h {want.shape}")
            err = float(np.max(np.abs(got - want)) / max(1e-30, float(np.max(np.abs(got)))))
            ops = sorted({nd.op_type for nd in model.graph.node})
            print(f"{name}: checker and strict shape inference passed; numpy vs nn.h max rel error {err:.2e}; "
                  f"ops {' '.join(ops)}")
            if not err <= TOL:
                raise SystemExit(f"{name}: error {err} over {TOL}")
            data = open(path, "rb").read()
            shutil.copy(path, os.path.join(OUT, name + ".onnx"))
            manifest.append(f"{name}.onnx {len(data)} {hashlib.sha256(data).hexdigest()} max_rel_err {err:.2e}")
        manifest += torch_models()
        with open(os.path.join(OUT, "MANIFEST"), "w") as f:
            f.write(f"# written by tests/gen_onnx_fixtures.py (onnx {onnx.__version__}, numpy {np.__version__})\n")
            f.write("\n".join(manifest) + "\n")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
