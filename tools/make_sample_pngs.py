#!/usr/bin/python3
"""make_sample_pngs.py - write one sample PNG per Fashion-MNIST class into examples/images/.

Usage (Debian 12 with dataset-fashion-mnist installed; run from anywhere):

    /usr/bin/python3 tools/make_sample_pngs.py [--src DIR] [--out DIR]

Reads the Fashion-MNIST test set shipped by the Debian package dataset-fashion-mnist
(--src, default /usr/share/datasets/fashion-mnist: t10k-images-idx3-ubyte.gz and
t10k-labels-idx1-ubyte.gz) and writes, under --out (default examples/images/ of this
repository):

    <label>_<class>.png   the first test image of each class (label 0..9), 28 x 28,
                          8-bit grayscale, pixels exactly those of the IDX file
    README.md             the source (package, version, files and their sha256, the
                          test-set index of each image) and the licence

Only the Python 3 standard library is used (gzip, struct, zlib). The PNGs hold IHDR,
IDAT and IEND only (no time stamp), every row with filter 0, compressed at zlib level
9: the output depends only on the installed package, so running the tool again gives
identical files.
"""

import argparse
import gzip
import hashlib
import os
import struct
import subprocess
import sys
import zlib

PKG = "dataset-fashion-mnist"
DEFAULT_SRC = "/usr/share/datasets/fashion-mnist"
IMAGES = "t10k-images-idx3-ubyte.gz"
LABELS = "t10k-labels-idx1-ubyte.gz"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "examples", "images")

# Fashion-MNIST's class names (label order) and the file-name form used here.
CLASSES = [
    ("T-shirt/top", "tshirt"),
    ("Trouser", "trouser"),
    ("Pullover", "pullover"),
    ("Dress", "dress"),
    ("Coat", "coat"),
    ("Sandal", "sandal"),
    ("Shirt", "shirt"),
    ("Sneaker", "sneaker"),
    ("Bag", "bag"),
    ("Ankle boot", "ankle_boot"),
]


def fail(msg):
    sys.exit("make_sample_pngs: " + msg)


def read_idx(path, magic, rank):
    """Returns (dims, data bytes, sha256 of the .gz file) of a gzip-compressed IDX file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        fail("cannot read %s (%s); install it with: apt-get install %s" % (path, e.strerror, PKG))
    body = gzip.decompress(raw)
    if len(body) < 4 + 4 * rank or struct.unpack(">I", body[:4])[0] != magic:
        fail("%s is not an IDX file of rank %d" % (path, rank))
    dims = struct.unpack(">%dI" % rank, body[4:4 + 4 * rank])
    count = 1
    for d in dims:
        count *= d
    data = body[4 + 4 * rank:]
    if len(data) != count:
        fail("%s: %d data bytes, its header says %d" % (path, len(data), count))
    return dims, data, hashlib.sha256(raw).hexdigest()


def png_gray8(width, height, pixels):
    """An 8-bit grayscale PNG of width x height row-major bytes."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows, 9)) +
            chunk(b"IEND", b""))


def package_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", PKG], check=True,
                             capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        fail("cannot query the version of %s with dpkg-query (%s)" % (PKG, e))
    return out.stdout.strip()


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def readme(src, version, sha_images, sha_labels, picked):
    rows = "\n".join("| `%s` | %d | %s | %d |" % (name, label, CLASSES[label][0], index)
                     for name, label, index in picked)
    return """# Sample images: one per Fashion-MNIST class

Written by `tools/make_sample_pngs.py` (rerun it to regenerate; the output depends only on the
installed package). Each file is the first image of its class in the Fashion-MNIST **test** set,
stored as a 28 x 28 8-bit grayscale PNG whose pixels are exactly the bytes of the IDX file (a
light garment on black, as in the data set). The name is `<label>_<class>.png`; the label is
Fashion-MNIST's class index.

- Debian package: `%s`, version `%s`
- Images: `%s/%s`
  (sha256 `%s`)
- Labels: `%s/%s`
  (sha256 `%s`)

| file | label | class | test-set index |
|---|---|---|---|
%s

## Licence

Fashion-MNIST is Copyright (c) 2017 Zalando SE, https://tech.zalando.com (Zalando Research,
https://github.com/zalandoresearch/fashion-mnist), released under the MIT licence (Expat);
see `/usr/share/doc/%s/copyright`. Reference: Han Xiao, Kashif Rasul, Roland Vollgraf,
"Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms",
arXiv:1708.07747 (2017).
""" % (PKG, version, src, IMAGES, sha_images, src, LABELS, sha_labels, rows, PKG)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default=DEFAULT_SRC, help="folder of the IDX files (default %(default)s)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default %(default)s)")
    args = ap.parse_args()
    (n, h, w), images, sha_images = read_idx(os.path.join(args.src, IMAGES), 0x803, 3)
    (n_labels,), labels, sha_labels = read_idx(os.path.join(args.src, LABELS), 0x801, 1)
    if n != n_labels or (h, w) != (28, 28):
        fail("%d images of %d x %d and %d labels: not the Fashion-MNIST test set" % (n, h, w, n_labels))
    first = {}
    for i, label in enumerate(labels):
        if label >= len(CLASSES):
            fail("label %d at index %d, expected 0..9" % (label, i))
        first.setdefault(label, i)
    if len(first) != len(CLASSES):
        fail("only %d classes in the labels" % len(first))
    os.makedirs(args.out, exist_ok=True)
    picked = []
    for label in range(len(CLASSES)):
        index = first[label]
        name = "%d_%s.png" % (label, CLASSES[label][1])
        write_bytes(os.path.join(args.out, name), png_gray8(w, h, images[index * h * w:(index + 1) * h * w]))
        picked.append((name, label, index))
        print("%s: test image %d" % (name, index))
    text = readme(args.src, package_version(), sha_images, sha_labels, picked)
    write_bytes(os.path.join(args.out, "README.md"), text.encode("utf-8"))
    print("README.md")


if __name__ == "__main__":
    main()
