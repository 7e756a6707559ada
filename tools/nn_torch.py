#!/usr/bin/python3
"""nn_torch.py - convert between PyTorch nn.Sequential models and nn.h weight files.

Usage (Debian's python3 with python3-torch; run from anywhere):

    nn_torch.py to-nn model.pt out.nnw [--inputs N] [--input-shape C,H,W] [--max-batch B] [--seed S]
                                       [--arch SPEC]
    nn_torch.py to-torch in.nnw out.pt [--state-dict]
    nn_torch.py info file.nnw
    nn_torch.py check-header nn.h [--format-doc docs/FORMAT.md]

to-nn     model.pt holds a whole nn.Sequential (torch.save(model)) or, with --arch, a
          state_dict of one. --arch lists the Sequential's modules in order, comma
          separated: linear, relu, sigmoid, tanh, leakyrelu[:slope], elu[:alpha], gelu,
          gelu_tanh, silu, softplus, softmax, identity, batchnorm1d[:eps[:momentum]],
          layernorm[:eps], dropout[:p], flatten, and for images
          conv2d[:stride[:padding[:dilation[:groups]]]] (channels and kernel come from the
          weight), maxpool2d:kernel[:stride[:padding[:dilation]]],
          avgpool2d:kernel[:stride[:padding[:count_include_pad]]], adaptiveavgpool2d,
          batchnorm2d[:eps[:momentum]], dropout2d[:p]; a window value is N or HxW (the
          pools' stride defaults to the kernel, as in PyTorch).
          --input-shape C,H,W is the shape of one input image; it is required when the
          first layer that cares is an image layer (Conv2d, a pool, BatchNorm2d,
          Dropout2d), and may be given for a model that starts with Flatten.
          --inputs defaults to C*H*W, else to the first Linear's in_features; --max-batch
          to 64 (the largest batch nn.h's model will take), --seed to 0. A Sequential
          made by to-torch remembers its file's max_batch, seed, input shape and model
          RNG state (the attribute `nn_h`), and to-nn takes them from there unless told
          otherwise.
to-torch  writes the whole nn.Sequential (load with torch.load), or only its state_dict
          with --state-dict. A file written by to-nn comes back exactly: same module
          types and arguments, same state_dict keys, dtypes and values (num_batches_tracked
          included), and to-nn writes the same bytes again.

The format is docs/FORMAT.md; this tool writes version 1.5 and reads 1.0 to 1.5 (a later
1.x as far as it is 1.5: its unknown required sections are refused). A float model file
of 1.5 is one of 1.4 with another minor number; what 1.5 added, the int8 model file (one
QNT8 section, written by nn_qmodel_save), has no PyTorch form and is refused by name.
What each PyTorch module becomes:

    Linear(in, out, bias)   DENSE, units = out, no_bias = (bias is None), act IDENTITY
    ReLU, Sigmoid, Tanh, GELU, GELU(approximate='tanh'), SiLU, Softplus(), Softmax(dim=-1),
    Identity                ACT with that activation
    LeakyReLU(s), ELU(a)    ACT, alpha = s or a (0 included)
    BatchNorm1d(F, eps, m)  BATCHNORM, eps, momentum (affine, tracking running stats)
    LayerNorm(F, eps)       LAYERNORM, eps (elementwise affine)
    Dropout(p)              DROPOUT, p (0 included)
    Flatten()               FLATTEN
    Conv2d(C, OC, k, s, p, d, g, bias)
                            CONV2D, units = OC, kernel, stride, padding (ints or pairs),
                            dilation, groups, no_bias, act IDENTITY; padding_mode 'zeros'
                            only, padding given as numbers (not 'same' or 'valid')
    MaxPool2d(k, s, p, d)   MAXPOOL2D (ceil_mode and return_indices refused)
    AvgPool2d(k, s, p, count_include_pad)
                            AVGPOOL2D (ceil_mode and divisor_override refused)
    AdaptiveAvgPool2d(1), AdaptiveAvgPool2d((1, 1))
                            GLOBAL_AVGPOOL; so is nn.Sequential(AdaptiveAvgPool2d(1),
                            Flatten()) as one module
    BatchNorm2d(C, eps, m)  BATCHNORM2D, eps, momentum (affine, tracking running stats)
    Dropout2d(p)            DROPOUT2D, p

Each module is written as one layer description, so nn.h's internal layer index (the
"<index>" of its parameter names "<index>.weight", "<index>.bias", "<index>.running_mean",
"<index>.running_var") is the module's index in the Sequential and the names are
PyTorch's state_dict keys. (nn.h expands a DENSE, MAXOUT or CONV2D description that
carries an activation into two internal layers; to-torch reads such files too and gives
each internal layer its own module, so indices still coincide.)

Images. nn.h keeps each sample as a flat row and gives every layer a per-sample shape
(C, H, W): the input's is the model's input_shape (format 1.4, section GEOM), or
(inputs, 1, 1) without one. A PyTorch tensor is either (N, C, H, W) or (N, F); the tool
follows which one each module sees. Linear, BatchNorm1d, LayerNorm and Softmax need
(N, F) (an image goes through Flatten or global average pooling first), the image
modules need (N, C, H, W); the other activations and Dropout take either. nn.h's
GLOBAL_AVGPOOL gives (C) (the same floats as (C, 1, 1)): to-torch writes it as
AdaptiveAvgPool2d(1) when a Flatten or an image layer follows (a Flatten of (C, 1, 1) is
nothing to nn.h), else as nn.Sequential(AdaptiveAvgPool2d(1), Flatten()), which has no
parameters and so leaves the state_dict keys alone. A file whose DENSE (or norm, or
softmax) reads an image larger than 1x1 directly, without a FLATTEN, has no PyTorch
equivalent without one and is refused; so is an image layer on flat rows.

Layer records are literal (format 1.1 on, nn.h's rule for descriptions): every field
holds the value in force, and the fields a module does not set hold what nn.h's
constructors (nn_dense, nn_activation, nn_dropout, nn_batchnorm, nn_layernorm,
nn_flatten, nn_conv2d, nn_maxpool2d, nn_avgpool2d, nn_global_avgpool, nn_batchnorm2d,
nn_dropout2d) put there, so a C program that builds the same Sequential from those
constructors (and the same input_shape) loads the file with nn_model_load. A file where a
record holds a zero that format 1.0 read as "the default" (LeakyReLU(0), ELU(0),
Dropout(0), Dropout2d(0), BatchNorm(momentum=0), eps=0) also gets an empty required
section ZLIT, so that a 1.0 reader refuses it instead of misreading it. The image fields
(input shape, kernel, stride, padding, dilation, groups, count_include_pad) go to the
required section GEOM, written exactly when nn.h writes it: when the input shape is given
or a layer is of a kind 1.4 added. BatchNorm(momentum=None) (a cumulative average) has no
nn.h equivalent and is refused, as are eps and momentum above 1.

Reading, a 1.0 file's zeros are given the defaults 1.0 meant (alpha 0: LeakyReLU 0.01 /
ELU 1.0, init_gain 0: nn_init_gain of the activation, p 0: 0.5, eps 0: 1e-5, momentum 0:
0.1, k 0: 2), as nn.h's reader does; later records are taken as they are. The sections
nn.h writes besides the model (OPTM, OPTX, SCHD, SCHX, PREP, META: an optimizer's and a
schedule's state, input preprocessing, provenance; the caller's RNG in RNGS) are checked
and skipped: PyTorch's optimizers are not converted. LAYX's vanilla dropout has no
PyTorch module and is refused by to-torch.

What nn.h cannot hold but PyTorch needs back (the Sequential's child names,
num_batches_tracked, Softmax's dim, a pool's window written as a pair of equal numbers,
the form of a global average pooling) goes into an optional section "xTOR" (JSON), which
nn.h skips (docs/FORMAT.md: unknown optional sections are skipped; tags starting with a
lower-case letter are for tools). It is written only when it holds something, so a file
written by nn.h (which has none) that goes to PyTorch and back comes back byte for byte
when its descriptions are in the form to-nn writes (one module each, activations as
layers of their own, default init). Files of the 1.0 tool also carry there the modules it
wrote as something equivalent (LeakyReLU(0) as ReLU, Dropout(0) as an identity); they are
read back as they were. The file also holds the model's RNG state (RNGS): the one the
Sequential remembers from its file, else seeded as nn_rng_seed(seed) does; PyTorch's RNG
state is not carried over.
"""

import argparse
import collections
import json
import os
import re
import struct
import sys

import numpy as np

MAGIC = b"\x89NNH\r\n\x1a\n"
VERSION_MAJOR = 1
VERSION_MINOR = 5  # written; every 1.x is read (a minor version only adds sections)
SEC_REQUIRED = 1
MAX_SECTIONS = 64
MAX_NAME = 31
MAX_LAYERS = 512  # layer descriptions in a file (NN__MAX_LAYERS / 2)
INT_MAX = 2 ** 31 - 1

# enum values: nn.h's nn_layer_kind, nn_act and nn_init (check with `nn_torch.py check-header nn.h`)
LAYER_KINDS = ["NONE", "DENSE", "ACT", "DROPOUT", "BATCHNORM", "LAYERNORM", "MAXOUT", "FLATTEN",
               "CONV2D", "MAXPOOL2D", "AVGPOOL2D", "GLOBAL_AVGPOOL", "BATCHNORM2D", "DROPOUT2D"]
ACTS = ["IDENTITY", "RELU", "SIGMOID", "TANH", "LEAKY_RELU", "ELU", "GELU", "GELU_TANH", "SILU", "SOFTPLUS",
        "SOFTMAX"]
INITS = ["DEFAULT", "ZEROS", "CONSTANT", "SMALL_RANDOM", "CALIBRATED", "XAVIER_UNIFORM", "XAVIER_NORMAL",
         "KAIMING_UNIFORM", "KAIMING_NORMAL", "LECUN_UNIFORM", "LECUN_NORMAL"]
K = {name: i for i, name in enumerate(LAYER_KINDS)}
A = {name: i for i, name in enumerate(ACTS)}
FIRST_IMAGE_KIND = K["CONV2D"]  # kinds from here on came with 1.4 (GEOM)

# what each kind reads, as nn.h's table nn__kinds says (NN__K_UNITS, NN__K_ACT, NN__K_WINDOW, NN__K_IMAGE)
UNITS_KINDS = ("DENSE", "MAXOUT", "CONV2D")  # .units, .act as a layer after it, init_gain
WINDOW_KINDS = ("CONV2D", "MAXPOOL2D", "AVGPOOL2D")  # kernel, stride, padding, dilation
IMAGE_KINDS = ("CONV2D", "MAXPOOL2D", "AVGPOOL2D", "GLOBAL_AVGPOOL", "BATCHNORM2D", "DROPOUT2D")

# the 14 fields of a layer description in ARCH, in file order: (name, struct code)
LAYER_FIELDS = [("kind", "I"), ("units", "i"), ("act", "I"), ("alpha", "f"), ("no_bias", "i"),
                ("weight_std", "i"), ("init", "I"), ("init_gain", "f"), ("init_value", "f"),
                ("init_fan_out", "i"), ("p", "f"), ("eps", "f"), ("momentum", "f"), ("k", "i")]
LAYER_STRUCT = struct.Struct("<" + "".join(c for _, c in LAYER_FIELDS))
assert LAYER_STRUCT.size == 56
# the 10 fields of a layer in GEOM (1.4), in file order: nn_layer_desc's kernel[2], stride[2],
# padding[2], dilation[2] (height, width), groups, count_include_pad
GEOM_FIELDS = ["kernel_h", "kernel_w", "stride_h", "stride_w", "padding_h", "padding_w", "dilation_h", "dilation_w",
               "groups", "count_include_pad"]
GEOM_STRUCT = struct.Struct("<10I")
# LAYX (1.3): bit 0 of a layer's word
EXTRA_FIELDS = ["vanilla"]
ALL_FIELDS = [name for name, _ in LAYER_FIELDS] + GEOM_FIELDS + EXTRA_FIELDS

PRIVATE_TAG = b"xTOR"
# sections this tool knows: the model's, the train state's (checked, skipped), those of 1.1 to 1.5
# (QNT8, 1.5: an int8 model, a file of its own that this tool only recognizes)
KNOWN_TAGS = (b"ARCH", b"PARM", b"BUFS", b"OPTM", b"SCHD", b"RNGS", b"ZLIT", b"SCHX", b"PREP", b"META", b"LAYX",
              b"OPTX", b"GEOM", b"QNT8", PRIVATE_TAG)
# QNT8's 80-byte layer record (nn.h's nn__write_qsec, NN__QREC), in file order: kind, in, out, act (i32), alpha,
# in_scale (f32), then 14 i32: the input shape (C, H, W), channels and nn_conv2d_geom's window
QNT8_FIELDS = ["kind", "in", "out", "act", "alpha", "in_scale", "C", "H", "W", "channels", "kh", "kw", "sh", "sw", "ph",
               "pw", "dil_h", "dil_w", "groups", "count_include_pad"]
QNT8_MSG = "an int8 model file (QNT8): nn.h reads it with nn_qmodel_init_from_file; it has no PyTorch form"
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


def kind_name(kind):
    return LAYER_KINDS[kind] if 0 <= kind < len(LAYER_KINDS) else "?"


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
    others 0 (int kind or name); nn.h's _defaults functions of nn__kinds."""
    kind = K[kind] if isinstance(kind, str) else kind
    d = {name: 0 for name in ALL_FIELDS}
    d["kind"] = kind
    name = kind_name(kind)
    if name == "DENSE":
        d["eps"] = f32(1e-5)  # read only with weight_std
        d["init_gain"] = init_gain(A["IDENTITY"], 0.0)
    elif name == "MAXOUT":
        d["k"] = 2
        d["init_gain"] = init_gain(A["IDENTITY"], 0.0)
    elif name in ("DROPOUT", "DROPOUT2D"):
        d["p"] = 0.5
    elif name in ("BATCHNORM", "BATCHNORM2D"):
        d["eps"], d["momentum"] = f32(1e-5), f32(0.1)
    elif name == "LAYERNORM":
        d["eps"] = f32(1e-5)
    elif name == "CONV2D":
        d["stride_h"] = d["stride_w"] = 1
        d["dilation_h"] = d["dilation_w"] = 1
        d["groups"] = 1
        d["init_gain"] = init_gain(A["IDENTITY"], 0.0)
    elif name in ("MAXPOOL2D", "AVGPOOL2D"):
        d["dilation_h"] = d["dilation_w"] = 1
        if name == "AVGPOOL2D":
            d["count_include_pad"] = 1
    return d


def desc(kind, **kw):
    """A layer description as nn.h's constructors make it (nn_dense(units, act),
    nn_activation(act), nn_dropout(p), nn_batchnorm(), nn_conv2d(...), ...), then the
    fields in kw."""
    d = layer_default(kind)
    act = kw.get("act", 0)
    if kind in UNITS_KINDS or kind == "ACT":
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
    kind = kind_name(d["kind"])
    act = d["act"] if kind in UNITS_KINDS or kind == "ACT" else A["IDENTITY"]
    if d["alpha"] == 0.0:
        d["alpha"] = act_default_alpha(act)
    if kind in UNITS_KINDS and d["init_gain"] == 0.0:
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


def needs_geom(descs, input_shape):
    """nn.h writes GEOM when the description has an input shape or a layer of a 1.4 kind."""
    return any(input_shape) or any(d["kind"] >= FIRST_IMAGE_KIND for d in descs)


# ---------------------------------------------------------------------------- shapes
def conv_out_size(n, kernel, stride, padding, dilation):
    """nn_conv2d_out_size: floor((n + 2 padding - dilation (kernel - 1) - 1) / stride) + 1, 0 if
    the window does not fit."""
    span = dilation * (kernel - 1) + 1
    if n + 2 * padding < span:
        return 0
    return (n + 2 * padding - span) // stride + 1


Layer = collections.namedtuple("Layer", "kind act fin fout di ins outs")
Layer.__doc__ = """An internal layer of nn.h's model: kind name, activation (ACT), input and output
widths, the index of its description, input and output shapes (C, H, W)."""


def _check_desc(i, d):
    """The checks of nn__model_validate on one description that do not need shapes."""
    if kind_name(d["kind"]) in ("?", "NONE"):
        raise FormatError("layer %d: unknown kind %d" % (i, d["kind"]))
    kind = kind_name(d["kind"]).lower()
    if not 0 <= d["act"] < len(ACTS):
        raise FormatError("layer %d: unknown activation %d" % (i, d["act"]))
    if not 0 <= d["init"] < len(INITS):
        raise FormatError("layer %d: unknown init scheme %d" % (i, d["init"]))
    for k in ("alpha", "init_gain", "init_value"):
        if not -1e30 <= d[k] <= 1e30:
            raise FormatError("layer %d: %s %r must be finite" % (i, k, d[k]))
    if not (0.0 <= d["eps"] <= 1.0 and 0.0 <= d["momentum"] <= 1.0):
        raise FormatError("layer %d (%s): eps %r and momentum %r must be in [0, 1]" % (i, kind, d["eps"], d["momentum"]))
    if not 0.0 <= d["p"] < 1.0:
        raise FormatError("layer %d (%s): p = %r, must be in [0, 1)" % (i, kind, d["p"]))
    if d["vanilla"] not in (0, 1) or (d["vanilla"] and kind != "dropout"):
        raise FormatError("layer %d (%s): vanilla = %d (0, or 1 on dropout)" % (i, kind, d["vanilla"]))
    if kind.upper() not in WINDOW_KINDS and any(d[k] for k in GEOM_FIELDS[:8]):
        raise FormatError("layer %d (%s): kernel, stride, padding and dilation are for conv and pooling layers, "
                          "and must be 0 here" % (i, kind))
    if (kind != "conv2d" and d["groups"]) or d["count_include_pad"] not in (0, 1) or \
            (d["count_include_pad"] and kind != "avgpool2d"):
        raise FormatError("layer %d (%s): groups = %d (conv2d only), count_include_pad = %d (0 or 1, avgpool2d only)"
                          % (i, kind, d["groups"], d["count_include_pad"]))


def _window_shape(i, d, s):
    """nn__window_shape: (C, OH, OW) of a conv or pool window on s."""
    kind = kind_name(d["kind"]).lower()
    kh, kw, sh, sw, ph, pw, dh, dw = (d[k] for k in GEOM_FIELDS[:8])
    if min(kh, kw, sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise FormatError("layer %d (%s): kernel %dx%d, stride %dx%d, padding %dx%d, dilation %dx%d: kernel, "
                          "stride and dilation must be >= 1, padding >= 0" % (i, kind, kh, kw, sh, sw, ph, pw, dh, dw))
    if kind != "conv2d" and (2 * ph > kh or 2 * pw > kw):
        raise FormatError("layer %d (%s): padding %dx%d over half the kernel %dx%d" % (i, kind, ph, pw, kh, kw))
    if max(kh, kw, sh, sw, ph, pw, dh, dw) > 65536:
        raise FormatError("layer %d (%s): a window size over 65536" % (i, kind))
    oh, ow = conv_out_size(s[1], kh, sh, ph, dh), conv_out_size(s[2], kw, sw, pw, dw)
    if oh < 1 or ow < 1:
        raise FormatError("layer %d (%s): a %dx%d window (dilation %dx%d, padding %dx%d) does not fit the %dx%d "
                          "input" % (i, kind, kh, kw, dh, dw, ph, pw, s[1], s[2]))
    return (s[0], oh, ow)


def input_shape_of(inputs, input_shape):
    """nn__input_shape: the model's input_shape, or (inputs, 1, 1) when it is all 0."""
    if any(input_shape):
        if min(input_shape) < 1 or input_shape[0] * input_shape[1] * input_shape[2] != inputs:
            raise FormatError("input_shape %r must be all 0 or hold the %d inputs as (C, H, W)"
                              % (tuple(input_shape), inputs))
        return tuple(input_shape)
    return (inputs, 1, 1)


def out_shape(i, d, s):
    """The output shape (C, H, W) of description i on input shape s (nn__kinds' _shape)."""
    kind = kind_name(d["kind"])
    size = s[0] * s[1] * s[2]
    if kind in ("DENSE", "MAXOUT"):
        k = d["k"] if kind == "MAXOUT" else 1
        if d["units"] < 1 or k < 1:
            raise FormatError("layer %d (%s): units = %d, k = %d, must be >= 1" % (i, kind.lower(), d["units"], k))
        return (d["units"], 1, 1)
    if kind == "CONV2D":
        u, g = d["units"], d["groups"]
        if u < 1 or g < 1 or s[0] % g or u % g:
            raise FormatError("layer %d (conv2d): %d output channels, groups %d: both >= 1, and groups must divide "
                              "the %d input and the output channels" % (i, u, g, s[0]))
        c, oh, ow = _window_shape(i, d, s)
        return (u, oh, ow)
    if kind in ("MAXPOOL2D", "AVGPOOL2D"):
        if kind == "AVGPOOL2D" and (d["dilation_h"] != 1 or d["dilation_w"] != 1):
            raise FormatError("layer %d (avgpool2d): dilation %dx%d, must be 1x1" % (i, d["dilation_h"],
                                                                                    d["dilation_w"]))
        return _window_shape(i, d, s)
    if kind == "FLATTEN":
        return (size, 1, 1)
    if kind == "GLOBAL_AVGPOOL":
        return (s[0], 1, 1)
    return s


def expand(descs, inputs, input_shape=(0, 0, 0)):
    """nn.h's internal layers (nn__model_expand), checked as nn__model_validate checks them."""
    if not 1 <= len(descs) <= MAX_LAYERS:
        raise FormatError("%d layer descriptions (1..%d)" % (len(descs), MAX_LAYERS))
    if inputs < 1:
        raise FormatError("inputs = %d, must be >= 1" % inputs)
    out, s = [], input_shape_of(inputs, input_shape)
    for i, d in enumerate(descs):
        _check_desc(i, d)
        kind = kind_name(d["kind"])
        o = out_shape(i, d, s)
        fin, fout = s[0] * s[1] * s[2], o[0] * o[1] * o[2]
        out.append(Layer(kind, d["act"] if kind == "ACT" else 0, fin, fout, i, s, o))
        if kind in UNITS_KINDS and d["act"] != 0:
            out.append(Layer("ACT", d["act"], fout, fout, i, o, o))
        s = o
    return out


def runs_of(descs, inputs, input_shape=(0, 0, 0)):
    """Names and sizes of the PARM and BUFS runs nn.h's model has (the kinds' _counts)."""
    params, bufs = [], []
    for idx, L in enumerate(expand(descs, inputs, input_shape)):
        d = descs[L.di]
        nw = nb = nbuf = 0
        if L.kind == "DENSE":
            nw, nb = L.fout * L.fin, (0 if d["no_bias"] else L.fout)
        elif L.kind == "MAXOUT":
            k = d["k"]  # literal (a 1.0 file's 0 is made 2 by from_v10)
            nw, nb = L.fout * k * L.fin, L.fout * k
        elif L.kind == "CONV2D":
            nw = d["units"] * (L.ins[0] // d["groups"]) * d["kernel_h"] * d["kernel_w"]
            nb = 0 if d["no_bias"] else d["units"]
        elif L.kind in ("BATCHNORM", "LAYERNORM"):
            nw = nb = L.fout
            nbuf = L.fout if L.kind == "BATCHNORM" else 0
        elif L.kind == "BATCHNORM2D":
            nw = nb = nbuf = L.ins[0]
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


def nnw_bytes(inputs, max_batch, seed, descs, params, buffers, private=None, input_shape=(0, 0, 0), rng=None):
    """The bytes of a weight file, sections in nn.h's order (nn__write_model): ZLIT, ARCH,
    PARM, BUFS, RNGS, LAYX, GEOM, then the tool's own xTOR. descs: list of dicts
    (ALL_FIELDS; missing GEOM and LAYX fields are 0); params/buffers: [(name, float array)]
    in nn.h's order; private: JSON-able object for the optional xTOR section, or None;
    input_shape: (C, H, W) or zeros; rng: the model RNG's four words (default
    nn_rng_seed(seed))."""
    descs = [dict({k: 0 for k in ALL_FIELDS}, **d) for d in descs]
    input_shape = tuple(int(v) for v in input_shape)
    want_p, want_b = runs_of(descs, inputs, input_shape)
    got_p = [(n, int(np.asarray(a).size)) for n, a in params]
    got_b = [(n, int(np.asarray(a).size)) for n, a in buffers]
    if got_p != want_p or got_b != want_b:
        raise FormatError("parameter runs %r / %r do not match the description (%r / %r)"
                          % (got_p, got_b, want_p, want_b))
    if not 1 <= max_batch <= INT_MAX or max_batch * max(L.fout for L in expand(descs, inputs, input_shape)) > INT_MAX:
        raise FormatError("max_batch = %d: 1 or more, and max_batch x width at most 2^31 - 1" % max_batch)
    rng = list(splitmix64_seed(seed) if rng is None else rng)
    if len(rng) != 4 or not any(rng):
        raise FormatError("an RNG state is four words, not all 0")
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
             _section(b"RNGS", 0, struct.pack("<I4Q", 1, *rng))]
    if any(d["vanilla"] for d in descs):
        layx = struct.pack("<I", len(descs)) + b"".join(struct.pack("<I", d["vanilla"]) for d in descs)
        secs.append(_section(b"LAYX", SEC_REQUIRED, layx))
    if needs_geom(descs, input_shape):
        geom = struct.pack("<I3I", len(descs), *input_shape)
        geom += b"".join(GEOM_STRUCT.pack(*[d[k] for k in GEOM_FIELDS]) for d in descs)
        secs.append(_section(b"GEOM", SEC_REQUIRED, geom))
    if private is not None:
        secs.append(_section(PRIVATE_TAG, 0, json.dumps(private, sort_keys=True).encode("utf-8")))
    head = MAGIC + struct.pack("<III", VERSION_MAJOR, VERSION_MINOR, len(secs))
    return head + struct.pack("<I", crc32c(head)) + b"".join(secs)


def write_nnw(path, inputs, max_batch, seed, descs, params, buffers, private=None, input_shape=(0, 0, 0), rng=None):
    """Writes nnw_bytes(...) to path; returns its size."""
    data = nnw_bytes(inputs, max_batch, seed, descs, params, buffers, private, input_shape, rng)
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
        if name in runs:
            raise FormatError("run %s twice" % name)
        runs[name] = np.frombuffer(p, dtype="<f4", count=size, offset=pos).astype(np.float32)
        pos += 4 * size
    if pos != len(p):
        raise FormatError("trailing bytes in a run list")
    return runs


def parse_nnw(data):
    """Parses and checks the bytes of a weight file as nn.h does; returns a dict with
    version, inputs, max_batch, seed, input_shape (zeros when the file has none), descs
    (as nn.h reads them: 1.0 zeros given their defaults, LAYX's and GEOM's fields
    included), raw_descs, params, buffers, rng (the model RNG's four words, or None),
    sections [(tag, flags, length)], private (xTOR's JSON or None), zlit, schx."""
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
        known = tag in KNOWN_TAGS
        if not known and flags & SEC_REQUIRED:
            raise FormatError("required section %r of a newer format" % tag)
        if known and tag in secs:
            raise FormatError("section %r twice" % tag)
        if known:
            secs[tag] = payload
        pos += 16 + slen + 4
    if pos != len(data):
        raise FormatError("trailing bytes")
    # 1.5: QNT8, an int8 model; nn.h's float readers refuse a file that has it and no ARCH
    if b"QNT8" in secs and minor < 5:
        raise FormatError("section QNT8 in a file before 1.5")
    if b"QNT8" in secs and b"ARCH" not in secs:
        raise FormatError(QNT8_MSG)
    for t in (b"ARCH", b"PARM", b"BUFS"):
        if t not in secs:
            raise FormatError("section %r missing" % t)
    # 1.1: ZLIT is empty; SCHX is two u32 flags (anneal_linear, three_phase), each 0 or 1, beside SCHD
    if b"ZLIT" in secs and (len(secs[b"ZLIT"]) != 0 or minor < 1):
        raise FormatError("section ZLIT is not empty, or in a 1.0 file")
    schx = None
    if b"SCHX" in secs:
        x = secs[b"SCHX"]
        if b"SCHD" not in secs or len(x) != 8 or minor < 1:
            raise FormatError("section SCHX without SCHD, of %d bytes, or in a 1.0 file" % len(x))
        schx = struct.unpack_from("<2I", x, 0)
        if any(v > 1 for v in schx):
            raise FormatError("section SCHX holds %r (flags are 0 or 1)" % (schx,))
    # 1.3: LAYX a count and a word per layer, OPTX three words beside OPTM
    if b"LAYX" in secs and (len(secs[b"LAYX"]) < 4 or minor < 3):
        raise FormatError("section LAYX malformed, or in a file before 1.3")
    if b"OPTX" in secs and (len(secs[b"OPTX"]) != 12 or b"OPTM" not in secs or minor < 3):
        raise FormatError("section OPTX malformed, without OPTM, or in a file before 1.3")
    # 1.4: GEOM
    if b"GEOM" in secs and (len(secs[b"GEOM"]) < 16 or minor < 4):
        raise FormatError("section GEOM malformed, or in a file before 1.4")
    a = secs[b"ARCH"]
    if len(a) < 20:
        raise FormatError("truncated ARCH")
    inputs, max_batch, seed, nl = struct.unpack_from("<IIQI", a, 0)
    if nl == 0 or nl > MAX_LAYERS:
        raise FormatError("ARCH holds %d layers (1..%d)" % (nl, MAX_LAYERS))
    if len(a) != 20 + 56 * nl:
        raise FormatError("ARCH length does not match its layer count")
    names = [f for f, _ in LAYER_FIELDS]
    raw = [dict(zip(names, LAYER_STRUCT.unpack_from(a, 20 + 56 * i))) for i in range(nl)]
    # 1.0 records meant "zero is the default"; from 1.1 on they are literal
    descs = [from_v10(d) for d in raw] if minor == 0 else [dict(d) for d in raw]
    for d in descs:
        d.update({k: 0 for k in GEOM_FIELDS + EXTRA_FIELDS})
    if b"LAYX" in secs:
        x = secs[b"LAYX"]
        if struct.unpack_from("<I", x, 0)[0] != nl or len(x) != 4 + 4 * nl:
            raise FormatError("section LAYX does not match ARCH's %d layers" % nl)
        for i, d in enumerate(descs):
            (fl,) = struct.unpack_from("<I", x, 4 + 4 * i)
            if fl > 1:
                raise FormatError("section LAYX: layer %d has flags %d" % (i, fl))
            d["vanilla"] = fl
    input_shape = (0, 0, 0)
    if b"GEOM" in secs:
        g = secs[b"GEOM"]
        if struct.unpack_from("<I", g, 0)[0] != nl or len(g) != 16 + 40 * nl:
            raise FormatError("section GEOM does not match ARCH's %d layers" % nl)
        input_shape = struct.unpack_from("<3I", g, 4)
        for i, d in enumerate(descs):
            d.update(zip(GEOM_FIELDS, GEOM_STRUCT.unpack_from(g, 16 + 40 * i)))
        if max(input_shape) > INT_MAX or any(max(d[k] for k in GEOM_FIELDS) > INT_MAX for d in descs):
            raise FormatError("section GEOM holds a value over 2^31 - 1")
    for i, d in enumerate(descs):
        if not 0 < d["kind"] < len(LAYER_KINDS):
            if minor > VERSION_MINOR:
                raise FormatError("layer %d: kind %d, of format 1.%d (this tool reads 1.%d)"
                                  % (i, d["kind"], minor, VERSION_MINOR))
            raise FormatError("layer %d: unknown kind %d" % (i, d["kind"]))
    rng = None
    if b"RNGS" in secs:
        r = secs[b"RNGS"]
        cnt = struct.unpack_from("<I", r, 0)[0] if len(r) >= 4 else 0
        if cnt not in (1, 2) or len(r) != 4 + 32 * cnt:
            raise FormatError("section RNGS malformed")
        words = struct.unpack_from("<%dQ" % (4 * cnt), r, 4)
        if any(not any(words[4 * j:4 * j + 4]) for j in range(cnt)):
            raise FormatError("section RNGS holds an all-zero generator")
        rng = list(words[:4])  # the model's; a second one is the caller's (train state)
    out = dict(version=(major, minor), inputs=inputs, max_batch=max_batch, seed=seed, input_shape=tuple(input_shape),
               descs=descs, raw_descs=raw, zlit=b"ZLIT" in secs, schx=schx, rng=rng,
               params=_read_runs(secs[b"PARM"]), buffers=_read_runs(secs[b"BUFS"]), sections=listing,
               private=json.loads(secs[PRIVATE_TAG].decode("utf-8")) if PRIVATE_TAG in secs else None)
    if max_batch < 1:
        raise FormatError("max_batch = %d, must be >= 1" % max_batch)
    want_p, want_b = runs_of(descs, inputs, input_shape)  # also checks the description as nn.h does
    got_p = [(k, v.size) for k, v in out["params"].items()]
    got_b = [(k, v.size) for k, v in out["buffers"].items()]
    if got_p != want_p or got_b != want_b:
        raise FormatError("parameter runs do not match the description")
    return out


def read_nnw(path):
    """parse_nnw of the file at path."""
    with open(path, "rb") as f:
        return parse_nnw(f.read())


# ---------------------------------------------------------------------------- torch -> nn
def _torch():
    import torch  # imported late: `info` and `check-header` do not need it
    return torch


def _pair(v, what):
    """(h, w) of a PyTorch window argument (int or pair)."""
    if isinstance(v, str):
        raise FormatError("%s=%r: nn.h takes numbers" % (what, v))
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise FormatError("%s=%r: nn.h takes a number or a pair" % (what, v))
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _pair_forms(mod, args):
    """The arguments of a pool module written as a pair of equal numbers (to-torch writes a
    number then): they go to xTOR so that to-torch writes them back as pairs."""
    out = []
    for a in args:
        v = getattr(mod, a)
        if isinstance(v, (tuple, list)) and len(v) == 2 and v[0] == v[1]:
            out.append(a)
    return out


def _is_gap(mod):
    """AdaptiveAvgPool2d(1) or ((1, 1)): (output_size as written) or None."""
    nn = _torch().nn
    if type(mod) is not nn.AdaptiveAvgPool2d:
        return None
    os_ = mod.output_size
    if os_ == 1 or (isinstance(os_, (tuple, list)) and tuple(os_) == (1, 1)):
        return os_
    raise FormatError("AdaptiveAvgPool2d(%r): nn.h has global average pooling, output size 1 only" % (os_,))


def _gap_form(mod):
    """A module nn.h takes as GLOBAL_AVGPOOL: (output_size as written, flattens) or None.
    nn.Sequential(AdaptiveAvgPool2d(1), Flatten()) is one (a flat output, as nn.h's)."""
    nn = _torch().nn
    os_ = _is_gap(mod)
    if os_ is not None:
        return os_, False
    if type(mod) is nn.Sequential and len(mod) == 2:
        os_ = _is_gap(mod[0])
        f = mod[1]
        if os_ is not None and type(f) is nn.Flatten and f.start_dim == 1 and f.end_dim == -1:
            return os_, True
    return None


def _gap_flattens(descs, i):
    """How to-torch writes GLOBAL_AVGPOOL description i: flattened (nn.Sequential(
    AdaptiveAvgPool2d(1), Flatten())) unless, skipping activations other than softmax and
    dropouts, a FLATTEN or an image layer comes next."""
    for d in descs[i + 1:]:
        kind = kind_name(d["kind"])
        if kind == "DROPOUT" or (kind == "ACT" and d["act"] != A["SOFTMAX"]):
            continue
        return not (kind == "FLATTEN" or kind in IMAGE_KINDS)
    return True


def _norm_checks(mod, what, width):
    if not mod.affine or not mod.track_running_stats:
        raise FormatError("%s needs affine=True and track_running_stats=True" % what)
    if mod.num_features != width:
        raise FormatError("%s(%d) on %d features or channels" % (what, mod.num_features, width))
    if mod.momentum is None:
        raise FormatError("%s(momentum=None): nn.h has no cumulative average" % what)
    if not (0.0 <= mod.eps <= 1.0 and 0.0 <= mod.momentum <= 1.0):
        raise FormatError("%s(eps=%r, momentum=%r): nn.h takes both in [0, 1]" % (what, mod.eps, mod.momentum))


def _module_desc(i, mod, shape, image, have_shape):
    """(desc, override or None, image after) for module i, which sees per-sample shape
    `shape` as an (N, C, H, W) tensor when `image`, else as (N, F)."""
    nn = _torch().nn
    name = type(mod).__name__
    size = shape[0] * shape[1] * shape[2]

    def flat_only(what):
        if image:
            raise FormatError("module %d (%s) on an (N, %d, %d, %d) image: nn.h would read it as a flat row of %d, "
                              "PyTorch does not; put an nn.Flatten() before it" % ((i, what) + tuple(shape) + (size,)))

    def image_only(what):
        if not image:
            if have_shape:
                raise FormatError("module %d (%s) after a flat layer: nn.h's image layers read (C, H, W) images"
                                  % (i, what))
            raise FormatError("module %d (%s) needs (N, C, H, W) inputs: give the input shape (--input-shape C,H,W)"
                              % (i, what))

    if isinstance(mod, nn.Linear):
        flat_only(name)
        if mod.in_features != size:
            raise FormatError("Linear(in_features=%d) after width %d" % (mod.in_features, size))
        return desc("DENSE", units=mod.out_features, act=A["IDENTITY"], no_bias=int(mod.bias is None)), None, False
    simple = {nn.ReLU: "RELU", nn.Sigmoid: "SIGMOID", nn.Tanh: "TANH", nn.SiLU: "SILU", nn.Identity: "IDENTITY"}
    for cls, act in simple.items():
        if type(mod) is cls:
            return desc("ACT", act=A[act]), None, image
    if isinstance(mod, nn.GELU):
        approx = getattr(mod, "approximate", "none")
        return desc("ACT", act=A["GELU_TANH" if approx == "tanh" else "GELU"]), None, image
    if isinstance(mod, nn.Softplus):
        if mod.beta != 1 or mod.threshold != 20:
            raise FormatError("Softplus(beta=%g, threshold=%g): nn.h has beta 1, threshold 20" % (mod.beta, mod.threshold))
        return desc("ACT", act=A["SOFTPLUS"]), None, image
    if isinstance(mod, nn.Softmax):
        # nn.h's softmax is over the whole row: PyTorch's dim must be that row
        if image:
            if shape[1] * shape[2] != 1 or mod.dim not in (1, -3):
                raise FormatError("Softmax(dim=%r) on an (N, %d, %d, %d) image: nn.h takes the softmax over the "
                                  "whole row; flatten first" % ((mod.dim,) + tuple(shape)))
            default = 1
        else:
            if mod.dim not in (-1, 1):
                raise FormatError("Softmax(dim=%r): nn.h takes the softmax over the last dim" % mod.dim)
            default = -1
        return desc("ACT", act=A["SOFTMAX"]), ({"type": "Softmax", "dim": mod.dim} if mod.dim != default else None), \
            image
    if isinstance(mod, (nn.LeakyReLU, nn.ELU)):
        leaky = isinstance(mod, nn.LeakyReLU)
        a = float(mod.negative_slope if leaky else mod.alpha)
        if not np.isfinite(np.float32(a)):
            raise FormatError("%s(%r): nn.h needs a finite float32 alpha" % (name, a))
        return desc("ACT", act=A["LEAKY_RELU" if leaky else "ELU"], alpha=a), None, image
    if type(mod) is nn.BatchNorm1d:
        flat_only(name)
        _norm_checks(mod, "BatchNorm1d", size)
        return desc("BATCHNORM", eps=float(mod.eps), momentum=float(mod.momentum)), None, False
    if type(mod) is nn.BatchNorm2d:
        image_only(name)
        _norm_checks(mod, "BatchNorm2d", shape[0])
        return desc("BATCHNORM2D", eps=float(mod.eps), momentum=float(mod.momentum)), None, True
    if isinstance(mod, nn.LayerNorm):
        flat_only(name)
        if tuple(mod.normalized_shape) != (size,) or not mod.elementwise_affine:
            raise FormatError("LayerNorm%r: nn.h normalizes the last dim (%d) with an affine" %
                              (tuple(mod.normalized_shape), size))
        if not 0.0 <= mod.eps <= 1.0:
            raise FormatError("LayerNorm(eps=%r): nn.h takes eps in [0, 1]" % mod.eps)
        return desc("LAYERNORM", eps=float(mod.eps)), None, False
    if type(mod) is nn.Dropout:
        if not 0.0 <= mod.p < 1.0:
            raise FormatError("Dropout(p=%r): nn.h takes p in [0, 1)" % mod.p)
        return desc("DROPOUT", p=float(mod.p)), None, image
    if type(mod) is nn.Dropout2d:
        image_only(name)
        if not 0.0 <= mod.p < 1.0:
            raise FormatError("Dropout2d(p=%r): nn.h takes p in [0, 1)" % mod.p)
        return desc("DROPOUT2D", p=float(mod.p)), None, True
    if type(mod) is nn.Flatten:
        if mod.start_dim != 1 or mod.end_dim != -1:
            raise FormatError("Flatten(%d, %d): nn.h flattens all but the batch dim" % (mod.start_dim, mod.end_dim))
        return desc("FLATTEN"), None, False
    if type(mod) is nn.Conv2d:
        image_only(name)
        if isinstance(mod.padding, str):
            raise FormatError("Conv2d(padding=%r): nn.h takes the padding as numbers (an int or a pair; "
                              "'valid' is 0, 'same' is dilation * (kernel - 1) / 2 for odd kernels)" % mod.padding)
        if mod.padding_mode != "zeros":
            raise FormatError("Conv2d(padding_mode=%r): nn.h pads with zeros only" % mod.padding_mode)
        if mod.in_channels != shape[0]:
            raise FormatError("Conv2d(in_channels=%d) on %d channels" % (mod.in_channels, shape[0]))
        (kh, kw), (sh, sw) = _pair(mod.kernel_size, "kernel_size"), _pair(mod.stride, "stride")
        (ph, pw), (dh, dw) = _pair(mod.padding, "padding"), _pair(mod.dilation, "dilation")
        return desc("CONV2D", units=mod.out_channels, act=A["IDENTITY"], no_bias=int(mod.bias is None),
                    kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, padding_h=ph, padding_w=pw,
                    dilation_h=dh, dilation_w=dw, groups=mod.groups), None, True
    if type(mod) is nn.MaxPool2d:
        image_only(name)
        if mod.ceil_mode or mod.return_indices:
            raise FormatError("MaxPool2d(ceil_mode=%r, return_indices=%r): nn.h pools in floor mode and returns "
                              "the values only" % (mod.ceil_mode, mod.return_indices))
        (kh, kw), (sh, sw) = _pair(mod.kernel_size, "kernel_size"), _pair(mod.stride, "stride")
        (ph, pw), (dh, dw) = _pair(mod.padding, "padding"), _pair(mod.dilation, "dilation")
        pairs = _pair_forms(mod, ("kernel_size", "stride", "padding", "dilation"))
        return desc("MAXPOOL2D", kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, padding_h=ph, padding_w=pw,
                    dilation_h=dh, dilation_w=dw), ({"type": "MaxPool2d", "pairs": pairs} if pairs else None), True
    if type(mod) is nn.AvgPool2d:
        image_only(name)
        if mod.ceil_mode or mod.divisor_override is not None:
            raise FormatError("AvgPool2d(ceil_mode=%r, divisor_override=%r): nn.h pools in floor mode and divides "
                              "by the window" % (mod.ceil_mode, mod.divisor_override))
        (kh, kw), (sh, sw) = _pair(mod.kernel_size, "kernel_size"), _pair(mod.stride, "stride")
        (ph, pw) = _pair(mod.padding, "padding")
        pairs = _pair_forms(mod, ("kernel_size", "stride", "padding"))
        return desc("AVGPOOL2D", kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, padding_h=ph, padding_w=pw,
                    count_include_pad=int(bool(mod.count_include_pad))), \
            ({"type": "AvgPool2d", "pairs": pairs} if pairs else None), True
    gap = _gap_form(mod)
    if gap is not None:
        image_only("AdaptiveAvgPool2d")
        os_, flattens = gap
        # the override is completed (or dropped) by torch_to_nn, which knows what comes next
        return desc("GLOBAL_AVGPOOL"), {"type": "AdaptiveAvgPool2d", "output_size": os_, "flatten": flattens}, \
            not flattens
    raise FormatError("module %d (%s) is not supported" % (i, name))


def _window_arg(s):
    """N or HxW of an --arch window value."""
    if "x" in s:
        h, w = s.split("x")
        return (int(h), int(w))
    return int(s)


def _arch_modules(spec, state_dict):
    """An nn.Sequential built from --arch and the shapes in state_dict."""
    nn = _torch().nn
    mods = []
    for i, tok in enumerate(t.strip() for t in spec.split(",")):
        name, *args = tok.lower().split(":")
        if name in ("conv2d", "maxpool2d", "avgpool2d"):
            f = [_window_arg(a) for a in args]
        else:
            f = [float(a) for a in args]
        if name == "linear":
            w = state_dict["%d.weight" % i]
            mods.append(nn.Linear(w.shape[1], w.shape[0], bias=("%d.bias" % i) in state_dict))
        elif name in ("batchnorm1d", "batchnorm"):
            w = state_dict["%d.weight" % i]
            mods.append(nn.BatchNorm1d(w.shape[0], eps=f[0] if f else 1e-5, momentum=f[1] if len(f) > 1 else 0.1))
        elif name == "batchnorm2d":
            w = state_dict["%d.weight" % i]
            mods.append(nn.BatchNorm2d(w.shape[0], eps=f[0] if f else 1e-5, momentum=f[1] if len(f) > 1 else 0.1))
        elif name == "layernorm":
            w = state_dict["%d.weight" % i]
            mods.append(nn.LayerNorm(w.shape[0], eps=f[0] if f else 1e-5))
        elif name == "conv2d":
            w = state_dict["%d.weight" % i]
            groups = f[3] if len(f) > 3 else 1
            if not isinstance(groups, int):
                raise FormatError("--arch: conv2d groups %r is one number" % (groups,))
            mods.append(nn.Conv2d(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride=f[0] if f else 1,
                                  padding=f[1] if len(f) > 1 else 0, dilation=f[2] if len(f) > 2 else 1,
                                  groups=groups, bias=("%d.bias" % i) in state_dict))
        elif name == "maxpool2d":
            if not f:
                raise FormatError("--arch: maxpool2d needs its kernel (maxpool2d:K)")
            mods.append(nn.MaxPool2d(f[0], stride=f[1] if len(f) > 1 else None, padding=f[2] if len(f) > 2 else 0,
                                     dilation=f[3] if len(f) > 3 else 1))
        elif name == "avgpool2d":
            if not f:
                raise FormatError("--arch: avgpool2d needs its kernel (avgpool2d:K)")
            mods.append(nn.AvgPool2d(f[0], stride=f[1] if len(f) > 1 else None, padding=f[2] if len(f) > 2 else 0,
                                     count_include_pad=bool(f[3]) if len(f) > 3 else True))
        elif name == "adaptiveavgpool2d":
            mods.append(nn.AdaptiveAvgPool2d(1))
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
        elif name == "dropout2d":
            mods.append(nn.Dropout2d(f[0] if f else 0.5))
        elif name == "flatten":
            mods.append(nn.Flatten())
        else:
            raise FormatError("--arch: unknown module %r" % name)
    model = nn.Sequential(*mods)
    model.load_state_dict(state_dict)
    return model


def torch_to_nn_bytes(model, inputs=None, max_batch=None, seed=None, input_shape=None):
    """The weight file of an nn.Sequential, as bytes. Arguments left None come from the
    model's `nn_h` attribute (set by to-torch) when it has one, else inputs from the input
    shape or the first Linear, max_batch 64, seed 0, input_shape none."""
    torch = _torch()
    nn = torch.nn
    if not isinstance(model, nn.Sequential):
        raise FormatError("expected an nn.Sequential, got %s" % type(model).__name__)
    memo = getattr(model, "nn_h", None)
    memo = memo if isinstance(memo, dict) else {}
    children = list(model.named_children())
    if input_shape is None and memo.get("input_shape") and any(memo["input_shape"]) and \
            (inputs is None or inputs == int(np.prod(memo["input_shape"]))):
        input_shape = tuple(memo["input_shape"])
    input_shape = tuple(int(v) for v in input_shape) if input_shape is not None else (0, 0, 0)
    if len(input_shape) != 3 or min(input_shape) < 0 or (any(input_shape) and min(input_shape) < 1):
        raise FormatError("input shape %r: three numbers C, H, W, each >= 1" % (input_shape,))
    if any(input_shape):
        size = input_shape[0] * input_shape[1] * input_shape[2]
        if inputs is not None and inputs != size:
            raise FormatError("--inputs %d is not C*H*W = %d of the input shape %r" % (inputs, size, input_shape))
        inputs = size
    if inputs is None:
        inputs = memo.get("inputs")
    if inputs is None:
        first = [m for _, m in children if isinstance(m, (nn.Linear, nn.Conv2d))]
        if first and isinstance(first[0], nn.Conv2d):
            raise FormatError("the model starts with images: give the input shape (--input-shape C,H,W)")
        if not first:
            raise FormatError("--inputs is needed (no Linear layer)")
        inputs = first[0].in_features
    if max_batch is None:
        max_batch = memo.get("max_batch", 64)
    if seed is None:
        seed = memo.get("seed", 0)
    rng = memo.get("rng") if memo.get("seed") == seed else None
    descs, overrides = [], {}
    shape, image = input_shape_of(inputs, input_shape), any(input_shape)
    for i, (_name, mod) in enumerate(children):
        d, override, image = _module_desc(i, mod, shape, image, any(input_shape))
        shape = out_shape(i, d, shape)  # its messages say "layer i": the module's index
        descs.append(d)
        if override:
            overrides[str(i)] = override
    for key, ov in list(overrides.items()):
        if ov["type"] == "AdaptiveAvgPool2d":  # only what to-torch would not write by itself
            if ov["flatten"] == _gap_flattens(descs, int(key)) and ov["output_size"] == 1:
                del overrides[key]
            elif isinstance(ov["output_size"], (tuple, list)):
                ov["output_size"] = list(ov["output_size"])
    want_p, want_b = runs_of(descs, inputs, input_shape)
    sd = model.state_dict()
    names = [n for n, _ in children]
    params, buffers, nbt = [], [], {}
    for (name, size) in want_p + want_b:
        idx, field = name.split(".", 1)
        t = sd[names[int(idx)] + "." + field].detach().cpu()
        if t.dtype != torch.float32:
            t = t.float()
        if t.numel() != size:
            raise FormatError("%s has %d values, nn.h expects %d" % (name, t.numel(), size))
        (params if (name, size) in want_p else buffers).append((name, t.numpy()))
    for i, (n, mod) in enumerate(children):
        if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.num_batches_tracked is not None:
            if int(mod.num_batches_tracked.item()):
                nbt[str(i)] = int(mod.num_batches_tracked.item())
    private = None
    if names != [str(i) for i in range(len(names))] or nbt or overrides:
        private = {"tool": "nn_torch.py", "names": names, "num_batches_tracked": nbt, "overrides": overrides}
    return nnw_bytes(inputs, max_batch, seed, descs, params, buffers, private, input_shape, rng)


def torch_to_nn(model, path, inputs=None, max_batch=None, seed=None, warn=None, input_shape=None):
    """Writes the weight file of an nn.Sequential to path (torch_to_nn_bytes); returns its size.
    warn is not used (kept for callers of the 1.1 tool)."""
    data = torch_to_nn_bytes(model, inputs, max_batch, seed, input_shape)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


# ---------------------------------------------------------------------------- nn -> torch
def _f32(v):
    """The shortest decimal that reads back as float32 v, as a Python float: the file
    holds hyperparameters as float32, so 0.2 comes back 0.2, not 0.20000000298."""
    return float(np.format_float_scientific(np.float32(v), unique=True))


def nn_to_torch(f):
    """An nn.Sequential (eval mode) from read_nnw's result (descriptions as nn.h reads
    them: 1.0 zeros already given their defaults). The Sequential remembers what the file
    holds besides the modules (max_batch, seed, input shape, the model RNG's state) in its
    attribute `nn_h`, for torch_to_nn."""
    torch = _torch()
    nn = torch.nn
    priv = f["private"] or {}
    overrides = priv.get("overrides", {})
    descs, input_shape = f["descs"], tuple(f.get("input_shape", (0, 0, 0)))
    mods = []
    image = any(input_shape)
    for idx, L in enumerate(expand(descs, f["inputs"], input_shape)):
        kind, act = L.kind, L.act
        d = dict(descs[L.di])
        for k in ("alpha", "p", "eps", "momentum"):
            d[k] = _f32(d[k])
        ov = overrides.get(str(idx)) or {}
        what = "layer %d (%s)" % (idx, kind.lower())
        if kind in ("DENSE", "BATCHNORM", "LAYERNORM", "MAXOUT") or (kind == "ACT" and act == A["SOFTMAX"]):
            if image and (kind != "ACT" or L.ins[1] * L.ins[2] != 1):
                raise FormatError("%s reads an image of shape %r as a flat row: PyTorch needs an nn.Flatten before "
                                  "it (nn_flatten() in the description)" % (what, L.ins))
        if kind in IMAGE_KINDS and not image:
            raise FormatError("%s on flat rows of %d: PyTorch's image modules need (N, C, H, W) (the file %s)"
                              % (what, L.fin, "has no input shape" if not any(input_shape) else
                                 "flattens the image before it"))
        if ov.get("type") in ("LeakyReLU", "ELU", "Dropout"):  # the 1.0 tool's modules
            if ov["type"] == "LeakyReLU":
                mods.append(nn.LeakyReLU(ov["alpha"]))
            elif ov["type"] == "ELU":
                mods.append(nn.ELU(ov["alpha"]))
            else:
                mods.append(nn.Dropout(ov["p"]))
            continue
        if ov and ov.get("type") not in ("Softmax", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"):
            raise FormatError("unknown override %r" % ov)

        def form(arg, h, w):
            return (h, w) if h != w or arg in ov.get("pairs", ()) else h

        if kind == "DENSE":
            if d["weight_std"]:
                raise FormatError("%s: weight standardization has no PyTorch module" % what)
            mods.append(nn.Linear(L.fin, L.fout, bias=not d["no_bias"]))
            image = False
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
                mods.append(nn.Softmax(dim=ov.get("dim", 1 if image else -1)))
            else:
                raise FormatError("%s: unknown activation %d" % (what, act))
        elif kind == "DROPOUT":
            if d["vanilla"]:
                raise FormatError("%s: vanilla dropout (unscaled in training) has no PyTorch module" % what)
            mods.append(nn.Dropout(d["p"]))
        elif kind == "BATCHNORM":
            mods.append(nn.BatchNorm1d(L.fout, eps=d["eps"], momentum=d["momentum"]))
        elif kind == "LAYERNORM":
            mods.append(nn.LayerNorm(L.fout, eps=d["eps"]))
        elif kind == "FLATTEN":
            mods.append(nn.Flatten())
            image = False
        elif kind == "MAXOUT":
            raise FormatError("%s: maxout has no PyTorch module" % what)
        elif kind == "CONV2D":
            mods.append(nn.Conv2d(L.ins[0], d["units"], (d["kernel_h"], d["kernel_w"]),
                                  stride=(d["stride_h"], d["stride_w"]), padding=(d["padding_h"], d["padding_w"]),
                                  dilation=(d["dilation_h"], d["dilation_w"]), groups=d["groups"],
                                  bias=not d["no_bias"]))
        elif kind == "MAXPOOL2D":
            mods.append(nn.MaxPool2d(form("kernel_size", d["kernel_h"], d["kernel_w"]),
                                     stride=form("stride", d["stride_h"], d["stride_w"]),
                                     padding=form("padding", d["padding_h"], d["padding_w"]),
                                     dilation=form("dilation", d["dilation_h"], d["dilation_w"])))
        elif kind == "AVGPOOL2D":
            mods.append(nn.AvgPool2d(form("kernel_size", d["kernel_h"], d["kernel_w"]),
                                     stride=form("stride", d["stride_h"], d["stride_w"]),
                                     padding=form("padding", d["padding_h"], d["padding_w"]),
                                     count_include_pad=bool(d["count_include_pad"])))
        elif kind == "GLOBAL_AVGPOOL":
            os_ = ov.get("output_size", 1)
            pool = nn.AdaptiveAvgPool2d(tuple(os_) if isinstance(os_, list) else os_)
            if ov.get("flatten", _gap_flattens(descs, L.di)):
                mods.append(nn.Sequential(pool, nn.Flatten()))
                image = False
            else:
                mods.append(pool)
        elif kind == "BATCHNORM2D":
            mods.append(nn.BatchNorm2d(L.ins[0], eps=d["eps"], momentum=d["momentum"]))
        elif kind == "DROPOUT2D":
            mods.append(nn.Dropout2d(d["p"]))
        else:
            raise FormatError("%s: unknown kind %d" % (what, d["kind"]))
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
    model.nn_h = {"inputs": f["inputs"], "input_shape": list(input_shape), "max_batch": f["max_batch"],
                  "seed": f["seed"], "rng": f.get("rng")}
    return model


# ---------------------------------------------------------------------------- header check
def _c_enum(text, enum, prefix):
    m = re.search(r"typedef enum %s \{(.*?)\} %s;" % (enum, enum), text, re.S)
    if not m:
        return None
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    got, value = [], -1
    for e in (e.strip() for e in body.split(",")):
        if not e:
            continue
        name, _, v = (s.strip() for s in e.partition("="))
        value = int(v) if v else value + 1
        if not name.endswith("COUNT_"):
            got.append((name[len(prefix):], value))
    return got


def _doc_enum_table(text):
    """The three enum columns of FORMAT.md's table: {column header: [(name, value)]}."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| `nn_layer_kind` | value |"):
            break
    else:
        return None
    heads = [c.strip().strip("`") for c in lines[i].strip().strip("|").split("|")]
    cols = {heads[j]: [] for j in (0, 3, 6)}
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for j in (0, 3, 6):
            if j + 1 < len(cells) and cells[j]:
                name = re.sub(r"\s*\(.*\)$", "", cells[j])
                cols[heads[j]].append((name, int(cells[j + 1])))
    return cols


def check_header(path, doc=None):
    """Compares this tool's enum values, format version and field orders (ARCH's and GEOM's
    layer records, QNT8's) with nn.h's, and the enum values, version and field orders with
    docs/FORMAT.md (doc; by default the one beside nn.h, when there is one); returns a list
    of differences."""
    with open(path) as fh:
        text = fh.read()
    diffs = []
    ours = {"nn_layer_kind": LAYER_KINDS, "nn_act": ACTS, "nn_init": INITS}
    for enum, names, prefix in (("nn_layer_kind", LAYER_KINDS, "NN_LAYER_"), ("nn_act", ACTS, "NN_ACT_"),
                                ("nn_init", INITS, "NN_INIT_")):
        got = _c_enum(text, enum, prefix)
        if got is None:
            diffs.append("enum %s not found in nn.h" % enum)
        elif got != list((n, v) for v, n in enumerate(names)):
            diffs.append("%s: nn.h has %s, the tool %s" % (enum, got, [(n, v) for v, n in enumerate(ours[enum])]))
    m = re.search(r"#define NN_FORMAT_VERSION_MAJOR (\d+)", text)
    if not m or int(m.group(1)) != VERSION_MAJOR:
        diffs.append("NN_FORMAT_VERSION_MAJOR is %s, the tool writes %d" % (m and m.group(1), VERSION_MAJOR))
    m = re.search(r"#define NN_FORMAT_VERSION_MINOR (\d+)", text)
    if not m or int(m.group(1)) != VERSION_MINOR:
        diffs.append("NN_FORMAT_VERSION_MINOR is %s, the tool writes %d.%d" % (m and m.group(1), VERSION_MAJOR,
                                                                            VERSION_MINOR))
    for tag in ("ZLIT", "SCHX", "PREP", "META", "LAYX", "OPTX", "GEOM", "QNT8"):
        if "NN__TAG('%s', '%s', '%s', '%s')" % tuple(tag) not in text:
            diffs.append("nn.h has no section %s" % tag)
    if "#define NN_DESC_TAG" not in text:
        diffs.append("nn.h has no NN_DESC_TAG (literal descriptions)")
    # field orders: ARCH's record (nn__wr_layer) and GEOM's (nn__layer_geom)
    m = re.search(r"static void nn__wr_layer\(nn__wr \*w, const nn_layer_desc \*l\) \{(.*?)\n\}", text, re.S)
    got = re.findall(r"nn__wr_(u32|f32)\(w, (?:\(uint32_t\))?l->(\w+)\)", m.group(1)) if m else []
    want = [("f32" if c == "f" else "u32", n) for n, c in LAYER_FIELDS]
    if got != want:
        diffs.append("ARCH layer record: nn.h writes %s, the tool %s" % (got, want))
    m = re.search(r"static void nn__layer_geom\(const nn_layer_desc \*l, uint32_t \*g\) \{(.*?)\n\}", text, re.S)
    got = re.findall(r"g\[(\d+)\] = \(uint32_t\)l->(\w+)(?:\[(\d)\])?;", m.group(1)) if m else []
    got = [n + (("_h", "_w")[int(j)] if j else "") for _, n, j in sorted(got, key=lambda t: int(t[0]))]
    if got != GEOM_FIELDS:
        diffs.append("GEOM fields: nn.h writes %s, the tool %s" % (got, GEOM_FIELDS))
    m = re.search(r"#define NN__GEOM_FIELDS (\d+)", text)
    if not m or int(m.group(1)) != len(GEOM_FIELDS):
        diffs.append("NN__GEOM_FIELDS is %s, the tool has %d" % (m and m.group(1), len(GEOM_FIELDS)))
    # QNT8's layer record (1.5): the words nn__write_qsec writes, then the 14 it writes from v[]
    got = _qnt8_written(text)
    if got != QNT8_FIELDS:
        diffs.append("QNT8 layer record: nn.h writes %s, the tool %s" % (got, QNT8_FIELDS))
    m = re.search(r"#define NN__QREC (\d+)", text)
    if not m or int(m.group(1)) != 4 * len(QNT8_FIELDS):
        diffs.append("NN__QREC is %s, the tool's record %d bytes" % (m and m.group(1), 4 * len(QNT8_FIELDS)))
    if doc is None:
        doc = os.path.join(os.path.dirname(os.path.abspath(path)), "docs", "FORMAT.md")
        if not os.path.exists(doc):
            return diffs
    with open(doc, encoding="utf-8") as fh:
        md = fh.read()
    cols = _doc_enum_table(md)
    if cols is None:
        diffs.append("%s: no enum table" % doc)
    else:
        for head, names in (("nn_layer_kind", LAYER_KINDS), ("nn_act", ACTS), ("nn_init", INITS)):
            want = list((n, v) for v, n in enumerate(names))
            if cols.get(head) != want:
                diffs.append("%s: the enum table's %s is %s, the tool's %s" % (doc, head, cols.get(head), want))
    want = "minor version = `NN_FORMAT_VERSION_MINOR` = **%d**" % VERSION_MINOR
    if want not in md or not md.startswith("# nn.h weight file format, version %d.%d\n" % (VERSION_MAJOR,
                                                                                          VERSION_MINOR)):
        diffs.append("%s does not describe format %d.%d (title and header table)" % (doc, VERSION_MAJOR,
                                                                                    VERSION_MINOR))
    m = re.search(r"\| 16 \| 40 n \| i32 × 10 each \| per layer: ([^|]*) \|", md)
    got = [s.strip() for s in m.group(1).split(",")] if m else None
    want = [re.sub(r"_(h|w)$", lambda t: "[%d]" % "hw".index(t.group(1)), g) for g in GEOM_FIELDS]
    if got != want:
        diffs.append("%s: GEOM's per-layer fields are %s, the tool's %s" % (doc, got, want))
    got = _doc_qnt8_record(md)
    if got != QNT8_FIELDS:
        diffs.append("%s: QNT8's layer record is %s, the tool's %s" % (doc, got, QNT8_FIELDS))
    return diffs


def _qnt8_written(text):
    """The fields of QNT8's layer record in the order nn.h's nn__write_qsec writes them."""
    m = re.search(r"static void nn__write_qsec\(nn__wr \*w, const nn_qmodel \*q\) \{(.*?)\n\}", text, re.S)
    if not m:
        return None
    body = m.group(1)
    head = re.findall(r"nn__wr_(?:u32|f32)\(w, (?:\(uint32_t\))?(?:nn__qint8\(L\) \? )?L->(\w+)", body)
    v = sorted(re.findall(r"v\[(\d+)\] = (?:L|g)->(\w+)(?:\[(\d)\])?;", body), key=lambda t: int(t[0]))
    if [int(i) for i, _, _ in v] != list(range(len(v))):
        return None
    return head + ["CHW"[int(j)] if n == "shape" else n for _, n, j in v]


def _doc_qnt8_record(md):
    """The fields of QNT8's layer record as FORMAT.md's table gives them: the first word of each
    row's field, the 14-word row split at its commas."""
    m = re.search(r"\n### QNT8[^\n]*\n(.*?)(?=\n### |\n## |\Z)", md, re.S)
    if not m:
        return None
    m = re.search(r"\| offset \| size \| type \| field \|\n\| -+: \| -+: \| -+ \| -+ \|\n\| 0 \| 4 \| i32 \| kind"
                  r".*?(?=\n[^|])", m.group(1), re.S)
    if not m:
        return None
    got = []
    for row in m.group(0).splitlines()[2:]:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) != 4:
            return None
        if cells[2].startswith("i32 × "):
            got += [c.strip() for c in cells[3].split(":")[0].split(",")]
        else:
            w = re.match(r"\w+", cells[3])
            got.append(w and w.group(0))
    return got


# the fields each kind reads (info shows them even at 0: from 1.1 on a 0 is a value)
KIND_READS = {"DENSE": ("units", "act", "alpha", "init_gain", "eps"), "MAXOUT": ("units", "act", "alpha", "k"),
              "ACT": ("act", "alpha"), "DROPOUT": ("p",), "BATCHNORM": ("eps", "momentum"), "LAYERNORM": ("eps",),
              "CONV2D": ("units", "act", "alpha", "init_gain"), "BATCHNORM2D": ("eps", "momentum"),
              "DROPOUT2D": ("p",), "AVGPOOL2D": ("count_include_pad",)}


def _describe(d):
    kind = kind_name(d["kind"])
    reads = KIND_READS.get(kind, ())
    parts = []
    if kind in WINDOW_KINDS:
        parts.append("kernel %dx%d stride %dx%d padding %dx%d dilation %dx%d" % tuple(d[k] for k in GEOM_FIELDS[:8]))
        if kind == "CONV2D":
            parts.append("groups=%d" % d["groups"])
    for k in [n for n, _ in LAYER_FIELDS] + ["count_include_pad", "vanilla"]:
        v = d[k]
        if k == "kind" or not (v or k in reads):
            continue
        if k == "act":
            v = ACTS[v] if 0 <= v < len(ACTS) else v
        elif k == "init":
            v = INITS[v] if 0 <= v < len(INITS) else v
        parts.append("%s=%s" % (k, v if isinstance(v, str) else "%g" % v))
    return ", ".join(parts)


# ---------------------------------------------------------------------------- command line
def _shape_arg(s):
    try:
        v = tuple(int(x) for x in s.replace("x", ",").split(","))
    except ValueError:
        v = ()
    if len(v) != 3 or min(v) < 1:
        raise argparse.ArgumentTypeError("%r: three numbers C,H,W, each >= 1" % s)
    return v


def main(argv=None):
    ap = argparse.ArgumentParser(prog="nn_torch.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("to-nn", help="PyTorch nn.Sequential -> nn.h weight file")
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--inputs", type=int)
    p.add_argument("--input-shape", type=_shape_arg, metavar="C,H,W", help="shape of one input image")
    p.add_argument("--max-batch", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--arch", help="module list for a state_dict input, e.g. linear,relu,linear")
    p = sub.add_parser("to-torch", help="nn.h weight file -> PyTorch nn.Sequential")
    p.add_argument("nnw")
    p.add_argument("out")
    p.add_argument("--state-dict", action="store_true", help="save only the state_dict")
    p = sub.add_parser("info", help="print a weight file's sections and layers")
    p.add_argument("nnw")
    p = sub.add_parser("check-header", help="compare the tool's enum values and format version with nn.h and "
                                            "docs/FORMAT.md")
    p.add_argument("header")
    p.add_argument("--format-doc", help="FORMAT.md to compare too (default: docs/FORMAT.md beside the header)")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "to-nn":
            torch = _torch()
            obj = torch.load(a.model, map_location="cpu")
            if isinstance(obj, dict):
                if not a.arch:
                    raise FormatError("%s holds a state_dict: give --arch" % a.model)
                obj = _arch_modules(a.arch, obj)
            n = torch_to_nn(obj, a.out, a.inputs, a.max_batch, a.seed, input_shape=a.input_shape)
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
            if any(f["input_shape"]):
                print("input shape (C, H, W) = (%d, %d, %d)" % f["input_shape"])
            for tag, flags, n in f["sections"]:
                print("  section %s flags %d: %d bytes" % (tag, flags, n))
            if f["version"][1] == 0:
                print("  (format 1.0: zeros in the records read as the defaults shown)")
            for i, d in enumerate(f["descs"]):
                print("  layer %d: %s %s" % (i, kind_name(d["kind"]), _describe(d)))
            for i, L in enumerate(expand(f["descs"], f["inputs"], f["input_shape"])):
                print("  internal layer %d: %s (%d, %d, %d) -> (%d, %d, %d)" % ((i, L.kind.lower()) + L.ins + L.outs))
            for name, arr in list(f["params"].items()) + list(f["buffers"].items()):
                print("  %s: %d floats" % (name, arr.size))
        else:
            doc = a.format_doc
            if doc is None:
                d = os.path.join(os.path.dirname(os.path.abspath(a.header)), "docs", "FORMAT.md")
                doc_used = d if os.path.exists(d) else None
            else:
                doc_used = doc
            diffs = check_header(a.header, doc)
            for d in diffs:
                print(d)
            what = "nn.h" + (" and %s" % doc_used if doc_used else " (no docs/FORMAT.md beside it)")
            print("%s and the tool agree (format %d.%d)" % (what, VERSION_MAJOR, VERSION_MINOR) if not diffs
                  else "%s and the tool DISAGREE" % what)
            return 1 if diffs else 0
    except (FormatError, OSError) as e:
        print("nn_torch.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
