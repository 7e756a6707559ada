#!/usr/bin/python3
"""get_csv_data.py - copy three small real tables from Debian's python3-sklearn into examples/data/.

Usage (Debian 12 with python3-sklearn installed; run from anywhere):

    /usr/bin/python3 tools/get_csv_data.py [--src DIR] [--out DIR]

Writes, under --out (default examples/data/ of this repository):

    iris.csv           150 rows,  4 features + label (3 classes)
    wine.csv           178 rows, 13 features + label (3 classes)
    breast_cancer.csv  569 rows, 30 features + label (2 classes)
    README.md          where each file comes from: package, version, origin, licences

The source files (--src, default /usr/lib/python3/dist-packages/sklearn/datasets/data/)
start with a line `n_samples,n_features,class names...` instead of a header. The copies
get a real header line instead: the feature names of sklearn.datasets.load_iris,
load_wine and load_breast_cancer (made CSV-safe: commas, quotes and line breaks replaced,
so no name needs quoting; csv quoting rules are still applied should one ever need it),
then `label`, the integer class index, as the last column.

Every numeric field is copied as the text found in the source file (no float
reformatting), so the values are exactly those shipped by the package. The rows are
checked against what the sklearn loaders return. Output files end lines with '\\n' and
depend only on the installed package: running the tool again gives identical files.
"""

import argparse
import csv
import hashlib
import io
import os
import subprocess
import sys

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_iris, load_wine

PKG = "python3-sklearn"
DEFAULT_SRC = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "examples", "data")

# (output name, source file, loader, descr file, title, origin lines)
TABLES = [
    ("iris.csv", "iris.csv", load_iris, "iris.rst", "Iris", [
        "UCI Machine Learning Repository: Iris (R. A. Fisher, 1936; donor Michael Marshall, July 1988),",
        "https://archive.ics.uci.edu/dataset/53/iris. Reference: R. A. Fisher, \"The use of multiple",
        "measurements in taxonomic problems\", Annals of Eugenics 7, Part II, 179-188 (1936).",
        "scikit-learn's description (`iris.rst`) notes that this copy is taken from Fisher's paper and",
        "is \"the same as in R, but not as in the UCI Machine Learning Repository, which has two wrong",
        "data points\".",
    ]),
    ("wine.csv", "wine_data.csv", load_wine, "wine_data.rst", "Wine", [
        "UCI Machine Learning Repository: Wine (original owners M. Forina et al., PARVUS - An",
        "Extendible Package for Data Exploration, Classification and Correlation, Institute of",
        "Pharmaceutical and Food Analysis and Technologies, Genoa, Italy),",
        "https://archive.ics.uci.edu/dataset/109/wine. scikit-learn's description (`wine_data.rst`)",
        "calls it \"a copy of UCI ML Wine recognition datasets\" (chemical analysis of wines from three",
        "cultivators in one region of Italy) and cites Lichman, M. (2013), UCI Machine Learning",
        "Repository. (Its `:Creator:`, `:Donor:` and `:Date:` lines repeat those of the Iris entry;",
        "the original owners are the Forina et al. named above.)",
    ]),
    ("breast_cancer.csv", "breast_cancer.csv", load_breast_cancer, "breast_cancer.rst",
     "Breast Cancer Wisconsin (Diagnostic)", [
        "UCI Machine Learning Repository: Breast Cancer Wisconsin (Diagnostic) (creators William H.",
        "Wolberg, W. Nick Street, Olvi L. Mangasarian; donor Nick Street, November 1995),",
        "https://archive.ics.uci.edu/dataset/17/breast+cancer+wisconsin+diagnostic. Features are",
        "computed from digitized images of fine needle aspirates of breast masses: mean, standard",
        "error and \"worst\" of ten cell-nucleus measurements. Note the class coding of the",
        "scikit-learn copy: 0 = malignant, 1 = benign.",
    ]),
]


def csv_safe(name):
    """A column name that never needs quoting: no commas, quotes or line breaks."""
    s = str(name).replace(",", ";").replace('"', "'").replace("\r", " ").replace("\n", " ")
    return s.strip()


def header_line(names):
    buf = io.StringIO()
    csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\n").writerow(names)
    return buf.getvalue()


def package_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", PKG], check=True,
                             capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit("get_csv_data: cannot query the version of %s with dpkg-query (%s); "
                 "install it with apt-get install %s" % (PKG, e, PKG))
    if not out:
        sys.exit("get_csv_data: %s is not installed (apt-get install %s)" % (PKG, PKG))
    return out


def convert(src_path, loader):
    """Returns (text of the new CSV, n_samples, n_features, class names, sha256 of source)."""
    with open(src_path, "rb") as f:
        raw = f.read()
    sha = hashlib.sha256(raw).hexdigest()
    lines = raw.decode("ascii").splitlines()
    first = lines[0].split(",")
    n_samples, n_features = int(first[0]), int(first[1])
    class_names = first[2:]
    rows = [ln for ln in lines[1:] if ln.strip()]
    if len(rows) != n_samples:
        sys.exit("get_csv_data: %s: %d data rows, first line says %d" % (src_path, len(rows), n_samples))

    bunch = loader()
    names = [csv_safe(n) for n in bunch.feature_names]
    if len(names) != n_features:
        sys.exit("get_csv_data: %s: %d feature names, file has %d features" % (src_path, len(names), n_features))
    if "label" in names or len(set(names)) != len(names):
        sys.exit("get_csv_data: %s: feature names clash: %r" % (src_path, names))
    if [str(c) for c in bunch.target_names] != class_names:
        sys.exit("get_csv_data: %s: class names %r differ from the loader's %r"
                 % (src_path, class_names, list(bunch.target_names)))

    out = [header_line(names + ["label"])]
    for i, ln in enumerate(rows):
        fields = ln.split(",")
        if len(fields) != n_features + 1:
            sys.exit("get_csv_data: %s: row %d has %d fields, expected %d"
                     % (src_path, i + 1, len(fields), n_features + 1))
        fields = [s.strip() for s in fields]
        vals = [float(s) for s in fields[:-1]]  # raises on anything non-numeric
        lab = int(fields[-1])
        if not 0 <= lab < len(class_names):
            sys.exit("get_csv_data: %s: row %d has label %d" % (src_path, i + 1, lab))
        if not (np.array_equal(np.array(vals), bunch.data[i]) and lab == int(bunch.target[i])):
            sys.exit("get_csv_data: %s: row %d differs from what %s returns" % (src_path, i + 1, loader.__name__))
        out.append(",".join(fields[:-1] + [str(lab)]) + "\n")
    return "".join(out), n_samples, n_features, class_names, sha


def write_text(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="\n", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def readme(src_dir, version, infos):
    L = []
    L += ["# Small real CSV data sets",
          "",
          "Generated by `tools/get_csv_data.py` (rerun it to regenerate; the output depends only on the",
          "installed package). Each file is a copy of a table shipped by the Debian package `%s`" % PKG,
          "version `%s` (Debian source package `scikit-learn`, scikit-learn %s)," % (version, sklearn.__version__),
          "with one change of layout: the package's first line `n_samples,n_features,class names...` is",
          "replaced by a header line of column names (the `feature_names` of scikit-learn's",
          "`load_iris`, `load_wine` and `load_breast_cancer`), and the class index is the last column,",
          "`label`. The numeric fields are the text of the source files, unchanged.",
          "",
          "| file | rows | features | classes (label = index) | source file in `%s` |" % PKG,
          "|---|---|---|---|---|"]
    for out_name, src_name, n, nf, classes, sha, title, origin, descr in infos:
        cls = ", ".join("%d %s" % (i, c) for i, c in enumerate(classes))
        L.append("| `%s` | %d | %d | %s | `%s` |" % (out_name, n, nf, cls, os.path.join(src_dir, src_name)))
    L += [""]
    for out_name, src_name, n, nf, classes, sha, title, origin, descr in infos:
        L += ["## %s: %s" % (out_name, title),
              "",
              "- Source: `%s` from `%s` %s" % (os.path.join(src_dir, src_name), PKG, version),
              "  (sha256 `%s`)." % sha,
              "- Description shipped with it: `%s`." % os.path.join(os.path.dirname(src_dir), "descr", descr),
              "- Origin: " + "\n  ".join(origin),
              ""]
    L += ["## Licences",
          "",
          "- scikit-learn is distributed under the BSD-3-Clause licence. The package's",
          "  `/usr/share/doc/python3-sklearn/copyright` has no separate entry for",
          "  `sklearn/datasets/data/`; these files fall under its catch-all stanza",
          "  `Files: *`, `Copyright: 2007-2019 Scikit-Learn Developers`, `License: BSD-3-Clause`.",
          "- The data set descriptions shipped with the package (`sklearn/datasets/descr/*.rst`) state",
          "  no licence for the data; they name creators, donors and references (quoted above).",
          "- The UCI Machine Learning Repository pages linked above publish the Iris, Wine and Breast",
          "  Cancer Wisconsin (Diagnostic) data sets under the Creative Commons Attribution 4.0",
          "  International licence (CC BY 4.0). This is the UCI repository's statement, not one made",
          "  in the Debian package. Attribution: cite the UCI repository entry and the original",
          "  creators named above.",
          ""]
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default=DEFAULT_SRC, help="sklearn/datasets/data directory (default %(default)s)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default examples/data/)")
    a = ap.parse_args()

    version = package_version()
    os.makedirs(a.out, exist_ok=True)
    infos = []
    for out_name, src_name, loader, descr, title, origin in TABLES:
        src = os.path.join(a.src, src_name)
        if not os.path.isfile(src):
            sys.exit("get_csv_data: %s not found (apt-get install %s)" % (src, PKG))
        text, n, nf, classes, sha = convert(src, loader)
        write_text(os.path.join(a.out, out_name), text)
        infos.append((out_name, src_name, n, nf, classes, sha, title, origin, descr))
        print("%s: %d rows, %d features + label, %d classes" % (os.path.join(a.out, out_name), n, nf, len(classes)))
    write_text(os.path.join(a.out, "README.md"), readme(a.src.rstrip("/"), version, infos))
    print("%s" % os.path.join(a.out, "README.md"))


if __name__ == "__main__":
    main()
