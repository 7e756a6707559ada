#!/usr/bin/python3
"""nn_torch.py - convert between PyTorch nn.Sequential models and nn.h weight files.

Usage (Debian's python3 with python3-torch; run from anywhere):

    nn_torch.py to-nn model.pt out.nnw [--inputs N] [--max-batch B] [--seed S] [--arch SPEC]
    nn_torch.py to-torch in.nnw out.pt [--state-dict]
    nn_torch.py info file.nnw
    nn_torch.py check-header nn.h

to-nn     model.pt holds a whole nn.Sequential (torch.save(model)) or, with --arch, a
          state_dict of one. --arch lists the Sequential's modules in order, comma
          separated: linear, relu, sigmoid, tanh, leakyrelu[:slope], elu[:alpha], gelu,
          gelu_tanh, silu, softplus, softmax, identity, batchnorm1d[:eps[:momentum]],
          layernorm[:eps], dropout[:p], flatten (widths come from the weights).
          --inputs defaults to the first Linear's in_features, --max-batch to 64 (the
          largest batch nn.h's model will take), --seed to 0.
to-torch  writes the whole nn.Sequential (load with torch.load), or only its state_dict
          with --state-dict. A file written by to-nn comes back exactly: same module
          types and arguments, same state_dict keys, dtypes and values (num_batches_tracked
          included).

The format is docs/FORMAT.md; this tool writes version 1.1 and reads 1.0 and 1.1. What
each PyTorch module becomes:

    Linear(in, out, bias)   DENSE, units = out, no_bias = (bias is None), act IDENTITY
    ReLU, Sigmoid, Tanh, GELU, GELU(approximate='tanh'), SiLU, Softplus(), Softmax(dim=-1),
    Identity                ACT with that activation
    LeakyReLU(s), ELU(a)    ACT, alpha = s or a (0 included)
    BatchNorm1d(F, eps, m)  BATCHNORM, eps, momentum (affine, tracking running stats)
    LayerNorm(F, eps)       LAYERNORM, eps (elementwise affine)
    Dropout(p)              DROPOUT, p (0 included)
    Flatten()               FLATTEN

Each module is written as one layer description, so nn.h's internal layer index (the
"<index>" of its parameter names "<index>.weight", "<index>.bias", "<index>.running_mean",
"<index>.running_var") is the module's index in the Sequential and the names are
PyTorch's state_dict keys. (nn.h expands a DENSE or MAXOUT description that carries an
activation into two internal layers; to-torch reads such files too and gives each
internal layer its own module, so indices still coincide.)

Layer records are literal (format 1.1, nn.h's rule for descriptions): every field holds
the value in force, and the fields a module does not set hold what nn.h's constructors
(nn_dense, nn_activation, nn_dropout, nn_batchnorm, nn_layernorm, nn_flatten) put there,
so a C program that builds the same Sequential from those constructors loads the file
with nn_model_load. A file where a record holds a zero that format 1.0 read as "the
default" (LeakyReLU(0), ELU(0), Dropout(0), BatchNorm1d(momentum=0), eps=0) also gets an
empty required section ZLIT, so that a 1.0 reader refuses it instead of misreading it.
BatchNorm1d(momentum=None) (a cumulative average) has no nn.h equivalent and is refused,
as are eps and momentum above 1.

Reading, a 1.0 file's zeros are given the defaults 1.0 meant (alpha 0: LeakyReLU 0.01 /
ELU 1.0, init_gain 0: nn_init_gain of the activation, p 0: 0.5, eps 0: 1e-5, momentum 0:
0.1, k 0: 2), as nn.h's reader does; 1.1 records are taken as they are. The sections
nn.h writes besides the model (OPTM, SCHD, SCHX: an optimizer's and a schedule's state)
are checked and skipped: PyTorch's optimizers are not converted.

What nn.h cannot hold but PyTorch needs back (the Sequential's child names,
num_batches_tracked, Softmax's dim) goes into an optional section "xTOR" (JSON), which nn.h
skips (docs/FORMAT.md: unknown optional sections are skipped; tags starting with a
lower-case letter are for tools). Files of the 1.0 tool also carry there the modules it
wrote as something equivalent (LeakyReLU(0) as ReLU, Dropout(0) as an identity); they are
read back as they were. The file also holds a model RNG state (RNGS) seeded as
nn_rng_seed(seed) does; PyTorch's RNG state is not carried over.
"""

import argparse
import collections
import json
import re
import struct
import sys

import numpy as np

MAGIC = b"\x89NNH\r\n\x1a\n"
VERSION_MAJOR = 1
VERSION_MINOR = 1  # written; every 1.x is read (a minor version only adds sections)
SEC_REQUIRED = 1
MAX_SECTIONS = 64
MAX_NAME = 31

# enum values: nn.h's nn_layer_kind and nn_act (check with `nn_torch.py check-header nn.h`)
LAYER_KINDS = ["NONE", "DENSE", "ACT", "DROPOUT", "BATCHNORM", "LAYERNORM", "MAXOUT", "FLATTEN"]
ACTS = ["IDENTITY", "RELU", "SIGMOID", "TANH", "LEAKY_RELU", "ELU", "GELU", "GELU_TANH", "SILU", "SOFTPLUS",
        "SOFTMAX"]
K = {name: i for i, name in enumerate(LAYER_KINDS)}
A = {name: i for i, name in enumerate(ACTS)}

# the 14 fields of a layer description, in file order: (name, struct code)
LAYER_FIELDS = [("kind", "I"), ("units", "i"), ("act", "I"), ("alpha", "f"), ("no_bias", "i"),
                ("weight_std", "i"), ("init", "I"), ("init_gain", "f"), ("init_value", "f"),
                ("init_fan_out", "i"), ("p", "f"), ("eps", "f"), ("momentum", "f"), ("k", "i")]
LAYER_STRUCT = struct.Struct("<" + "".join(c for _, c in LAYER_FIELDS))
assert LAYER_STRUCT.size == 56

PRIVATE_TAG = b"xTOR"
# sections this tool knows: the model's, the train state's (checked, skipped), 1.1's
KNOWN_TAGS = (b"ARCH", b"PARM", b"BUFS", b"OPTM", b"SCHD", b"RNGS", b"ZLIT", b"SCHX", PRIVATE_TAG)
FLOAT_FIELDS = [name for name, code in LAYER_FIELDS if code == "f"]


class FormatError(Exception):
    pass


# ---------------------------------------------------------------------------- CRC-32C
def _crc_table(poly):
    tab = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        tab.append(c)
    return tab


_CRC32C = _crc_table(0x82F63B78)


def crc32c(data, crc=0):
    """CRC-32C (Castagnoli), as nn_crc32c: pass the previous value to continue."""
    tab = _CRC32C
    crc ^= 0xFFFFFFFF
    for b in bytes(data):
        crc = (crc >> 8) ^ tab[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------------------- nn.h's RNG
def splitmix64_seed(seed):
    """The four xoshiro256** words nn_rng_seed(seed) sets."""
    m = (1 << 64) - 1
    x = seed & m
    out = []
    for _ in range(4):
        x = (x + 0x9E3779B97F4A7C15) & m
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
        out.append(z ^ (z >> 31))
    return out


# ---------------------------------------------------------------------------- layer descriptions
def f32(v):
    """v rounded to float32, as a Python float (what the file holds)."""
    return float(np.float32(v))


def act_default_alpha(act):
    """nn.h's nn__act_default_alpha: torch's LeakyReLU slope 0.01, ELU alpha 1.0, else 0."""
    return f32(0.01) if act == A["LEAKY_RELU"] else 1.0 if act == A["ELU"] else 0.0


def init_gain(act, alpha):
    """nn_init_gain (torch.nn.init.calculate_gain), in float32 as nn.h computes it."""
    one, two = np.float32(1.0), np.float32(2.0)
    if act == A["TANH"]:
        return float(np.float32(5.0) / np.float32(3.0))
    if act == A["RELU"]:
        return float(np.sqrt(two))
    if act == A["LEAKY_RELU"]:
        a = np.float32(alpha)
        return float(np.sqrt(two / (one + a * a)))
    return 1.0


def layer_default(kind):
    """nn_layer_desc_default(kind): the fields that kind reads at PyTorch's defaults, the
    others 0 (int kind or name)."""
    kind = K[kind] if isinstance(kind, str) else kind
    d = {name: 0 for name, _ in LAYER_FIELDS}
    d["kind"] = kind
    name = LAYER_KINDS[kind] if 0 <= kind < len(LAYER_KINDS) else "?"
    if name == "DENSE":
        d["eps"] = f32(1e-5)  # read only with weight_std
        d["init_gain"] = init_gain(A["IDENTITY"], 0.0)
    elif name == "MAXOUT":
        d["k"] = 2
        d["init_gain"] = init_gain(A["IDENTITY"], 0.0)
    elif name == "DROPOUT":
        d["p"] = 0.5
    elif name == "BATCHNORM":
        d["eps"], d["momentum"] = f32(1e-5), f32(0.1)
    elif name == "LAYERNORM":
        d["eps"] = f32(1e-5)
    return d


def desc(kind, **kw):
    """A layer record as nn.h's constructors make it (nn_dense(units, act),
    nn_activation(act), nn_dropout(p), nn_batchnorm(), ...), then the fields in kw."""
    d = layer_default(kind)
    act = kw.get("act", 0)
    if kind in ("DENSE", "MAXOUT", "ACT"):
        d["act"] = act
        d["alpha"] = act_default_alpha(act)
        if kind != "ACT":
            d["init_gain"] = init_gain(act, d["alpha"])
    for k, v in kw.items():
        assert k in d, k
        d[k] = v
    for k in FLOAT_FIELDS:
        d[k] = f32(d[k])
    return d


def from_v10(d):
    """A format 1.0 record as nn.h reads it (nn__layer_from_v10): zeros are defaults."""
    d = dict(d)
    dflt = layer_default(d["kind"])
    kind = LAYER_KINDS[d["kind"]] if 0 <= d["kind"] < len(LAYER_KINDS) else "?"
    act = d["act"] if kind in ("DENSE", "MAXOUT", "ACT") else A["IDENTITY"]
    if d["alpha"] == 0.0:
        d["alpha"] = act_default_alpha(act)
    if kind in ("DENSE", "MAXOUT") and d["init_gain"] == 0.0:
        d["init_gain"] = init_gain(act, d["alpha"])
    for k in ("p", "eps", "momentum", "k"):
        if d[k] == 0:
            d[k] = dflt[k]
    return d


def _record(d):
    return LAYER_STRUCT.pack(*[d[name] for name, _ in LAYER_FIELDS])


def needs_zlit(d):
    """Would a 1.0 reader read this record differently (a literal zero it would replace)?
    nn.h's nn__layer_needs_zlit: compared through the file encoding."""
    return _record(from_v10(d)) != _record(d)


def expand(descs, inputs):
    """nn.h's internal layers: (kind, act, in, out, desc index), as nn__model_expand."""
    out, width = [], inputs
    for i, d in enumerate(descs):
        kind = LAYER_KINDS[d["kind"]] if 0 <= d["kind"] < len(LAYER_KINDS) else "?"
        w = d["units"] if kind in ("DENSE", "MAXOUT") else width
        out.append((kind, d["act"] if kind == "ACT" else 0, width, w, i))
        if kind in ("DENSE", "MAXOUT") and d["act"] != 0:
            out.append(("ACT", d["act"], w, w, i))
        width = w
    return out


def runs_of(descs, inputs):
    """Names and sizes of the PARM and BUFS runs nn.h's model has (nn__model_build)."""
    params, bufs = [], []
    for idx, (kind, _act, fin, fout, di) in enumerate(expand(descs, inputs)):
        d = descs[di]
        nw = nb = nbuf = 0
        if kind == "DENSE":
            nw, nb = fout * fin, (0 if d["no_bias"] else fout)
        elif kind == "MAXOUT":
            k = d["k"]  # literal (a 1.0 file's 0 is made 2 by from_v10)
            if k < 1:
                raise FormatError("layer %d: maxout with k = %d" % (di, k))
            nw, nb = fout * k * fin, fout * k
        elif kind == "BATCHNORM":
            nw = nb = fout
            nbuf = fout
        elif kind == "LAYERNORM":
            nw = nb = fout
        if nw:
            params.append(("%d.weight" % idx, nw))
        if nb:
            params.append(("%d.bias" % idx, nb))
        if nbuf:
            bufs.append(("%d.running_mean" % idx, nbuf))
            bufs.append(("%d.running_var" % idx, nbuf))
    return params, bufs


# ---------------------------------------------------------------------------- writer
def _section(tag, flags, payload):
    head = tag + struct.pack("<IQ", flags, len(payload))
    return head + payload + struct.pack("<I", crc32c(payload, crc32c(head)))


def _runs_payload(runs):
    out = [struct.pack("<I", len(runs))]
    for name, arr in runs:
        nb = name.encode("ascii")
        if len(nb) > MAX_NAME:
            raise FormatError("parameter name %r is longer than %d bytes" % (name, MAX_NAME))
        a = np.ascontiguousarray(arr, dtype="<f4").reshape(-1)
        out.append(struct.pack("<I", len(nb)) + nb + struct.pack("<Q", a.size) + a.tobytes())
    return b"".join(out)


def write_nnw(path, inputs, max_batch, seed, descs, params, buffers, private=None):
    """descs: list of dicts (LAYER_FIELDS); params/buffers: [(name, float array)] in
    nn.h's order; private: JSON-able object for the optional xTOR section."""
    arch = struct.pack("<IIQI", inputs, max_batch, seed, len(descs))
    for d in descs:
        arch += _record(d)
    secs = []
    if any(needs_zlit(d) for d in descs):
        # required and empty, first as nn.h writes it: a 1.0 reader must refuse the file
        secs.append(_section(b"ZLIT", SEC_REQUIRED, b""))
    secs += [_section(b"ARCH", SEC_REQUIRED, arch),
            _section(b"PARM", SEC_REQUIRED, _runs_payload(params)),
            _section(b"BUFS", SEC_REQUIRED, _runs_payload(buffers)),
            _section(b"RNGS", 0, struct.pack("<I4Q", 1, *splitmix64_seed(seed)))]
    if private is not None:
        secs.append(_section(PRIVATE_TAG, 0, json.dumps(private, sort_keys=True).encode("utf-8")))
    head = MAGIC + struct.pack("<III", VERSION_MAJOR, VERSION_MINOR, len(secs))
    data = head + struct.pack("<I", crc32c(head)) + b"".join(secs)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


# ---------------------------------------------------------------------------- reader
def _read_runs(p):
    if len(p) < 4:
        raise FormatError("truncated run list")
    (n,), pos, runs = struct.unpack_from("<I", p, 0), 4, collections.OrderedDict()
    for _ in range(n):
        if len(p) - pos < 4:
            raise FormatError("truncated run")
        (nl,) = struct.unpack_from("<I", p, pos)
        if nl > MAX_NAME or len(p) - pos - 4 < nl + 8:
            raise FormatError("bad run name")
        name = p[pos + 4:pos + 4 + nl].decode("ascii")
        (size,) = struct.unpack_from("<Q", p, pos + 4 + nl)
        pos += 12 + nl
        if size > (len(p) - pos) // 4:
            raise FormatError("run %s is truncated" % name)
        runs[name] = np.frombuffer(p, dtype="<f4", count=size, offset=pos).astype(np.float32)
        pos += 4 * size
    if pos != len(p):
        raise FormatError("trailing bytes in a run list")
    return runs


def read_nnw(path):
    """Parses and checks a file as nn.h does; returns a dict with inputs, max_batch,
    seed, descs, params, buffers, version, sections, private."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC[:len(data[:8])]:
        raise FormatError("not an nn.h weight file (bad magic)")
    if len(data) < 24:
        raise FormatError("truncated header")
    if crc32c(data[:20]) != struct.unpack_from("<I", data, 20)[0]:
        raise FormatError("header checksum mismatch")
    major, minor, n = struct.unpack_from("<III", data, 8)
    if major != VERSION_MAJOR:
        raise FormatError("format version %d.%d: this tool reads %d.x" % (major, minor, VERSION_MAJOR))
    # a newer minor version only adds sections: its required ones are refused below
    if n > MAX_SECTIONS:
        raise FormatError("too many sections")
    pos, secs, listing = 24, {}, []
    for _ in range(n):
        if len(data) - pos < 16:
            raise FormatError("truncated section header")
        tag, flags, slen = data[pos:pos + 4], *struct.unpack_from("<IQ", data, pos + 4)
        if slen > len(data) - pos - 16 - 4:
            raise FormatError("section %r is truncated" % tag)
        payload = data[pos + 16:pos + 16 + slen]
        (crc,) = struct.unpack_from("<I", data, pos + 16 + slen)
        if crc32c(payload, crc32c(data[pos:pos + 16])) != crc:
            raise FormatError("section %r checksum mismatch" % tag)
        listing.append((tag.decode("latin-1"), flags, slen))
        if tag in secs:
            raise FormatError("section %r twice" % tag)
        known = tag in KNOWN_TAGS
        if not known and flags & SEC_REQUIRED:
            raise FormatError("required section %r of a newer format" % tag)
        secs[tag] = payload
        pos += 16 + slen + 4
    if pos != len(data):
        raise FormatError("trailing bytes")
    for t in (b"ARCH", b"PARM", b"BUFS"):
        if t not in secs:
            raise FormatError("section %r missing" % t)
    # 1.1: ZLIT is empty; SCHX extends SCHD with u32 flags (anneal_linear, three_phase), each 0 or 1
    if b"ZLIT" in secs and len(secs[b"ZLIT"]) != 0:
        raise FormatError("section ZLIT is not empty")
    schx = None
    if b"SCHX" in secs:
        x = secs[b"SCHX"]
        if b"SCHD" not in secs or len(x) < 4 or len(x) % 4:
            raise FormatError("section SCHX without SCHD or of %d bytes" % len(x))
        schx = struct.unpack_from("<%dI" % (len(x) // 4), x, 0)
        if any(v > 1 for v in schx):
            raise FormatError("section SCHX holds %r (flags are 0 or 1)" % (schx,))
    a = secs[b"ARCH"]
    if len(a) < 20:
        raise FormatError("truncated ARCH")
    inputs, max_batch, seed, nl = struct.unpack_from("<IIQI", a, 0)
    if len(a) != 20 + 56 * nl:
        raise FormatError("ARCH length does not match its layer count")
    raw = [dict(zip([f for f, _ in LAYER_FIELDS], LAYER_STRUCT.unpack_from(a, 20 + 56 * i))) for i in range(nl)]
    # 1.0 records meant "zero is the default"; from 1.1 on they are literal
    descs = [from_v10(d) for d in raw] if minor == 0 else raw
    out = dict(version=(major, minor), inputs=inputs, max_batch=max_batch, seed=seed, descs=descs, raw_descs=raw,
               zlit=b"ZLIT" in secs, schx=schx,
               params=_read_runs(secs[b"PARM"]), buffers=_read_runs(secs[b"BUFS"]), sections=listing,
               private=json.loads(secs[PRIVATE_TAG].decode("utf-8")) if PRIVATE_TAG in secs else None)
    want_p, want_b = runs_of(descs, inputs)
    got_p = [(k, v.size) for k, v in out["params"].items()]
    got_b = [(k, v.size) for k, v in out["buffers"].items()]
    if got_p != want_p or got_b != want_b:
        raise FormatError("parameter runs do not match the description")
    return out


# ---------------------------------------------------------------------------- torch -> nn
def _torch():
    import torch  # imported late: `info` and `check-header` do not need it
    return torch


def _module_desc(mod, width, warn):
    """(desc, new width, override or None) for one module."""
    nn = _torch().nn
    name = type(mod).__name__
    if isinstance(mod, nn.Linear):
        if mod.in_features != width:
            raise FormatError("Linear(in_features=%d) after width %d" % (mod.in_features, width))
        return desc("DENSE", units=mod.out_features, act=A["IDENTITY"], no_bias=int(mod.bias is None)), \
            mod.out_features, None
    simple = {nn.ReLU: "RELU", nn.Sigmoid: "SIGMOID", nn.Tanh: "TANH", nn.SiLU: "SILU", nn.Identity: "IDENTITY"}
    for cls, act in simple.items():
        if type(mod) is cls:
            return desc("ACT", act=A[act]), width, None
    if isinstance(mod, nn.GELU):
        approx = getattr(mod, "approximate", "none")
        return desc("ACT", act=A["GELU_TANH" if approx == "tanh" else "GELU"]), width, None
    if isinstance(mod, nn.Softplus):
        if mod.beta != 1 or mod.threshold != 20:
            raise FormatError("Softplus(beta=%g, threshold=%g): nn.h has beta 1, threshold 20" % (mod.beta, mod.threshold))
        return desc("ACT", act=A["SOFTPLUS"]), width, None
    if isinstance(mod, nn.Softmax):
        if mod.dim not in (-1, 1):
            raise FormatError("Softmax(dim=%r): nn.h takes the softmax over the last dim" % mod.dim)
        return desc("ACT", act=A["SOFTMAX"]), width, {"type": "Softmax", "dim": mod.dim}
    if isinstance(mod, (nn.LeakyReLU, nn.ELU)):
        leaky = isinstance(mod, nn.LeakyReLU)
        a = float(mod.negative_slope if leaky else mod.alpha)
        if not np.isfinite(np.float32(a)):
            raise FormatError("%s(%r): nn.h needs a finite float32 alpha" % (name, a))
        return desc("ACT", act=A["LEAKY_RELU" if leaky else "ELU"], alpha=a), width, None
    if isinstance(mod, nn.BatchNorm1d):
        if not mod.affine or not mod.track_running_stats:
            raise FormatError("BatchNorm1d needs affine=True and track_running_stats=True")
        if mod.num_features != width:
            raise FormatError("BatchNorm1d(%d) after width %d" % (mod.num_features, width))
        if mod.momentum is None:
            raise FormatError("BatchNorm1d(momentum=None): nn.h has no cumulative average")
        if not (0.0 <= mod.eps <= 1.0 and 0.0 <= mod.momentum <= 1.0):
            raise FormatError("BatchNorm1d(eps=%r, momentum=%r): nn.h takes both in [0, 1]" % (mod.eps, mod.momentum))
        return desc("BATCHNORM", eps=float(mod.eps), momentum=float(mod.momentum)), width, None
    if isinstance(mod, nn.LayerNorm):
        if tuple(mod.normalized_shape) != (width,) or not mod.elementwise_affine:
            raise FormatError("LayerNorm%r: nn.h normalizes the last dim (%d) with an affine" %
                              (tuple(mod.normalized_shape), width))
        if not 0.0 <= mod.eps <= 1.0:
            raise FormatError("LayerNorm(eps=%r): nn.h takes eps in [0, 1]" % mod.eps)
        return desc("LAYERNORM", eps=float(mod.eps)), width, None
    if isinstance(mod, nn.Dropout):
        if not 0.0 <= mod.p < 1.0:
            raise FormatError("Dropout(p=%r): nn.h takes p in [0, 1)" % mod.p)
        return desc("DROPOUT", p=float(mod.p)), width, None
    if isinstance(mod, nn.Flatten):
        if mod.start_dim != 1 or mod.end_dim != -1:
            raise FormatError("Flatten(%d, %d): nn.h flattens all but the batch dim" % (mod.start_dim, mod.end_dim))
        return desc("FLATTEN"), width, None
    raise FormatError("module %s is not supported" % name)


def _arch_modules(spec, state_dict):
    """An nn.Sequential built from --arch and the shapes in state_dict."""
    nn = _torch().nn
    mods = []
    for i, tok in enumerate(t.strip() for t in spec.split(",")):
        name, *args = tok.lower().split(":")
        f = [float(a) for a in args]
        if name == "linear":
            w = state_dict["%d.weight" % i]
            mods.append(nn.Linear(w.shape[1], w.shape[0], bias=("%d.bias" % i) in state_dict))
        elif name in ("batchnorm1d", "batchnorm"):
            w = state_dict["%d.weight" % i]
            mods.append(nn.BatchNorm1d(w.shape[0], eps=f[0] if f else 1e-5, momentum=f[1] if len(f) > 1 else 0.1))
        elif name == "layernorm":
            w = state_dict["%d.weight" % i]
            mods.append(nn.LayerNorm(w.shape[0], eps=f[0] if f else 1e-5))
        elif name == "relu":
            mods.append(nn.ReLU())
        elif name == "sigmoid":
            mods.append(nn.Sigmoid())
        elif name == "tanh":
            mods.append(nn.Tanh())
        elif name == "leakyrelu":
            mods.append(nn.LeakyReLU(f[0] if f else 0.01))
        elif name == "elu":
            mods.append(nn.ELU(f[0] if f else 1.0))
        elif name == "gelu":
            mods.append(nn.GELU())
        elif name == "gelu_tanh":
            mods.append(nn.GELU(approximate="tanh"))
        elif name == "silu":
            mods.append(nn.SiLU())
        elif name == "softplus":
            mods.append(nn.Softplus())
        elif name == "softmax":
            mods.append(nn.Softmax(dim=-1))
        elif name == "identity":
            mods.append(nn.Identity())
        elif name == "dropout":
            mods.append(nn.Dropout(f[0] if f else 0.5))
        elif name == "flatten":
            mods.append(nn.Flatten())
        else:
            raise FormatError("--arch: unknown module %r" % name)
    model = nn.Sequential(*mods)
    model.load_state_dict(state_dict)
    return model


def torch_to_nn(model, path, inputs=None, max_batch=64, seed=0, warn=None):
    nn = _torch().nn
    warn = warn or (lambda msg: print("nn_torch.py: warning: " + msg, file=sys.stderr))
    if not isinstance(model, nn.Sequential):
        raise FormatError("expected an nn.Sequential, got %s" % type(model).__name__)
    children = list(model.named_children())
    if inputs is None:
        first = [m for _, m in children if isinstance(m, nn.Linear)]
        if not first:
            raise FormatError("--inputs is needed (no Linear layer)")
        inputs = first[0].in_features
    descs, overrides, width = [], {}, inputs
    for i, (_name, mod) in enumerate(children):
        d, width, override = _module_desc(mod, width, warn)
        descs.append(d)
        if override:
            overrides[str(i)] = override
    want_p, want_b = runs_of(descs, inputs)
    sd = model.state_dict()
    names = [n for n, _ in children]
    params, buffers, nbt = [], [], {}
    for (name, size) in want_p + want_b:
        idx, field = name.split(".", 1)
        t = sd[names[int(idx)] + "." + field].detach().cpu()
        if t.numel() != size:
            raise FormatError("%s has %d values, nn.h expects %d" % (name, t.numel(), size))
        (params if (name, size) in want_p else buffers).append((name, t.numpy()))
    for i, (n, mod) in enumerate(children):
        if isinstance(mod, nn.BatchNorm1d) and mod.num_batches_tracked is not None:
            nbt[str(i)] = int(mod.num_batches_tracked.item())
    private = {"tool": "nn_torch.py", "names": names, "num_batches_tracked": nbt, "overrides": overrides}
    return write_nnw(path, inputs, max_batch, seed, descs, params, buffers, private)


# ---------------------------------------------------------------------------- nn -> torch
def _f32(v):
    """The shortest decimal that reads back as float32 v, as a Python float: the file
    holds hyperparameters as float32, so 0.2 comes back 0.2, not 0.20000000298."""
    return float(np.format_float_scientific(np.float32(v), unique=True))


def nn_to_torch(f):
    """An nn.Sequential (eval mode) from read_nnw's result (descriptions as nn.h reads
    them: 1.0 zeros already given their defaults)."""
    torch = _torch()
    nn = torch.nn
    priv = f["private"] or {}
    overrides = priv.get("overrides", {})
    mods = []
    for idx, (kind, act, fin, fout, di) in enumerate(expand(f["descs"], f["inputs"])):
        d = dict(f["descs"][di])
        for k in ("alpha", "p", "eps", "momentum"):
            d[k] = _f32(d[k])
        ov = overrides.get(str(idx))
        if ov:
            if ov["type"] == "LeakyReLU":
                mods.append(nn.LeakyReLU(ov["alpha"]))
            elif ov["type"] == "ELU":
                mods.append(nn.ELU(ov["alpha"]))
            elif ov["type"] == "Dropout":
                mods.append(nn.Dropout(ov["p"]))
            elif ov["type"] == "Softmax":
                mods.append(nn.Softmax(dim=ov["dim"]))
            else:
                raise FormatError("unknown override %r" % ov)
            continue
        if kind == "DENSE":
            if d["weight_std"]:
                raise FormatError("layer %d: weight standardization has no PyTorch module" % idx)
            mods.append(nn.Linear(fin, fout, bias=not d["no_bias"]))
        elif kind == "ACT":
            name = ACTS[act] if 0 <= act < len(ACTS) else "?"
            alpha = d["alpha"]
            if name == "IDENTITY":
                mods.append(nn.Identity())
            elif name == "RELU":
                mods.append(nn.ReLU())
            elif name == "SIGMOID":
                mods.append(nn.Sigmoid())
            elif name == "TANH":
                mods.append(nn.Tanh())
            elif name == "LEAKY_RELU":
                mods.append(nn.LeakyReLU(alpha))
            elif name == "ELU":
                mods.append(nn.ELU(alpha))
            elif name == "GELU":
                mods.append(nn.GELU())
            elif name == "GELU_TANH":
                mods.append(nn.GELU(approximate="tanh"))
            elif name == "SILU":
                mods.append(nn.SiLU())
            elif name == "SOFTPLUS":
                mods.append(nn.Softplus())
            elif name == "SOFTMAX":
                mods.append(nn.Softmax(dim=-1))
            else:
                raise FormatError("layer %d: unknown activation %d" % (idx, act))
        elif kind == "DROPOUT":
            mods.append(nn.Dropout(d["p"]))
        elif kind == "BATCHNORM":
            mods.append(nn.BatchNorm1d(fout, eps=d["eps"], momentum=d["momentum"]))
        elif kind == "LAYERNORM":
            mods.append(nn.LayerNorm(fout, eps=d["eps"]))
        elif kind == "FLATTEN":
            mods.append(nn.Flatten())
        elif kind == "MAXOUT":
            raise FormatError("layer %d: maxout has no PyTorch module" % idx)
        else:
            raise FormatError("layer %d: unknown kind %d" % (idx, d["kind"]))
    names = priv.get("names")
    if names and len(names) == len(mods):
        model = nn.Sequential(collections.OrderedDict(zip(names, mods)))
    else:
        names = [str(i) for i in range(len(mods))]
        model = nn.Sequential(*mods)
    sd = model.state_dict()
    for runs in (f["params"], f["buffers"]):
        for name, arr in runs.items():
            idx, field = name.split(".", 1)
            key = names[int(idx)] + "." + field
            if key not in sd or sd[key].numel() != arr.size:
                raise FormatError("run %s does not fit module %s" % (name, key))
            sd[key] = torch.from_numpy(arr.copy()).reshape(sd[key].shape)
    for i, n in priv.get("num_batches_tracked", {}).items():
        sd[names[int(i)] + ".num_batches_tracked"] = torch.tensor(n, dtype=torch.long)
    model.load_state_dict(sd)
    model.eval()
    return model


# ---------------------------------------------------------------------------- header check
def check_header(path):
    """Compares this tool's enum values with nn.h's; returns a list of differences."""
    with open(path) as fh:
        text = fh.read()
    diffs = []
    for enum, names, prefix in (("nn_layer_kind", LAYER_KINDS, "NN_LAYER_"), ("nn_act", ACTS, "NN_ACT_")):
        m = re.search(r"typedef enum %s \{(.*?)\} %s;" % (enum, enum), text, re.S)
        if not m:
            diffs.append("enum %s not found" % enum)
            continue
        body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
        got = [e.split("=")[0].strip()[len(prefix):] for e in body.split(",") if e.strip()]
        got = [g for g in got if not g.endswith("COUNT_")]
        if got != names:
            diffs.append("%s: nn.h has %s, the tool %s" % (enum, got, names))
    m = re.search(r"#define NN_FORMAT_VERSION_MAJOR (\d+)", text)
    if not m or int(m.group(1)) != VERSION_MAJOR:
        diffs.append("NN_FORMAT_VERSION_MAJOR is %s, the tool writes %d" % (m and m.group(1), VERSION_MAJOR))
    m = re.search(r"#define NN_FORMAT_VERSION_MINOR (\d+)", text)
    if not m or int(m.group(1)) != VERSION_MINOR:
        diffs.append("NN_FORMAT_VERSION_MINOR is %s, the tool writes %d.%d" % (m and m.group(1), VERSION_MAJOR,
                                                                            VERSION_MINOR))
    for tag in ("ZLIT", "SCHX"):
        if "NN__TAG('%s', '%s', '%s', '%s')" % tuple(tag) not in text:
            diffs.append("nn.h has no section %s" % tag)
    if "#define NN_DESC_TAG" not in text:
        diffs.append("nn.h has no NN_DESC_TAG (literal descriptions)")
    return diffs


# the fields each kind reads (info shows them even at 0: in 1.1 a 0 is a value)
KIND_READS = {"DENSE": ("units", "act", "alpha", "init_gain", "eps"), "MAXOUT": ("units", "act", "alpha", "k"),
              "ACT": ("act", "alpha"), "DROPOUT": ("p",), "BATCHNORM": ("eps", "momentum"), "LAYERNORM": ("eps",)}


# ---------------------------------------------------------------------------- command line
def main(argv=None):
    ap = argparse.ArgumentParser(prog="nn_torch.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("to-nn", help="PyTorch nn.Sequential -> nn.h weight file")
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--inputs", type=int)
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--arch", help="module list for a state_dict input, e.g. linear,relu,linear")
    p = sub.add_parser("to-torch", help="nn.h weight file -> PyTorch nn.Sequential")
    p.add_argument("nnw")
    p.add_argument("out")
    p.add_argument("--state-dict", action="store_true", help="save only the state_dict")
    p = sub.add_parser("info", help="print a weight file's sections and layers")
    p.add_argument("nnw")
    p = sub.add_parser("check-header", help="compare the tool's enum values with nn.h")
    p.add_argument("header")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "to-nn":
            torch = _torch()
            obj = torch.load(a.model, map_location="cpu")
            if isinstance(obj, dict):
                if not a.arch:
                    raise FormatError("%s holds a state_dict: give --arch" % a.model)
                obj = _arch_modules(a.arch, obj)
            n = torch_to_nn(obj, a.out, a.inputs, a.max_batch, a.seed)
            print("wrote %s (%d bytes)" % (a.out, n))
        elif a.cmd == "to-torch":
            torch = _torch()
            model = nn_to_torch(read_nnw(a.nnw))
            torch.save(model.state_dict() if a.state_dict else model, a.out)
            print("wrote %s" % a.out)
        elif a.cmd == "info":
            f = read_nnw(a.nnw)
            print("format %d.%d, inputs %d, max_batch %d, seed %d" % (f["version"] + (f["inputs"], f["max_batch"],
                                                                                     f["seed"])))
            for tag, flags, n in f["sections"]:
                print("  section %s flags %d: %d bytes" % (tag, flags, n))
            if f["version"][1] == 0:
                print("  (format 1.0: zeros in the records read as the defaults shown)")
            for i, d in enumerate(f["descs"]):
                kind = LAYER_KINDS[d["kind"]] if d["kind"] < len(LAYER_KINDS) else d["kind"]
                reads = KIND_READS.get(kind, ())
                extra = ", ".join("%s=%g" % (k, v) for k, v in d.items() if k != "kind" and (v or k in reads))
                print("  layer %d: %s %s" % (i, kind, extra))
            for name, arr in list(f["params"].items()) + list(f["buffers"].items()):
                print("  %s: %d floats" % (name, arr.size))
        else:
            diffs = check_header(a.header)
            for d in diffs:
                print(d)
            print("nn.h and the tool agree" if not diffs else "nn.h and the tool DISAGREE")
            return 1 if diffs else 0
    except FormatError as e:
        print("nn_torch.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
