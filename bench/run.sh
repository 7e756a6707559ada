#!/usr/bin/env bash
# run.sh - the whole `make bench`: install what nn.h is compared against, build,
# measure (GEMM, training, inference, memory), print the ratios and write
# bench/RESULTS.md. Run from the repository root (or anywhere: it finds it).
#
# Environment (all optional):
#   BENCH_QUICK=1         smoke run: fewer repetitions, 1 epoch per configuration
#   BENCH_GEMM_REPS       GEMM repetitions per shape             (full 7, quick 3)
#   BENCH_GEMM_MIN_MS     minimum length of one GEMM repetition  (full 100, quick 20)
#   BENCH_EPOCHS          epochs per training configuration      (full 3, quick 1)
#   BENCH_N_SINGLE        batch-1 forwards timed                 (full 5000, quick 500)
#   BENCH_INFER_REPS      batch-256 repetitions                  (full 7, quick 3)
#   BENCH_CONTEXT=0       skip the context GEMM run of OpenBLAS forced to Haswell kernels
#   BENCH_DATA            data directory        (/usr/share/datasets/fashion-mnist)
#   BENCH_OUT             build and raw-results directory        (bench/build)
#   BENCH_RESULTS         report file                            (bench/RESULTS.md)
#   CC                    C compiler                             (gcc)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY=/usr/bin/python3 # Debian's interpreter: the one python3-torch installs into

QUICK="${BENCH_QUICK:-0}"
if [ "$QUICK" = 1 ]; then
    D_REPS=3 D_MIN_MS=20 D_EPOCHS=1 D_N_SINGLE=500 D_INFER_REPS=3 KIND=quick
else
    D_REPS=7 D_MIN_MS=100 D_EPOCHS=3 D_N_SINGLE=5000 D_INFER_REPS=7 KIND=full
fi
GEMM_REPS="${BENCH_GEMM_REPS:-$D_REPS}"
GEMM_MIN_MS="${BENCH_GEMM_MIN_MS:-$D_MIN_MS}"
EPOCHS="${BENCH_EPOCHS:-$D_EPOCHS}"
N_SINGLE="${BENCH_N_SINGLE:-$D_N_SINGLE}"
INFER_REPS="${BENCH_INFER_REPS:-$D_INFER_REPS}"
DATA="${BENCH_DATA:-/usr/share/datasets/fashion-mnist}"
OUT="${BENCH_OUT:-$ROOT/bench/build}"
RESULTS_MD="${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}"
CC="${CC:-gcc}"

# The machine's own OpenBLAS settings, recorded before anything else runs.
ENV_DESC=""
for v in OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS OMP_NUM_THREADS GOMP_SPINCOUNT OMP_WAIT_POLICY; do
    ENV_DESC="$ENV_DESC $v=${!v-(unset)}"
done
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

say() { printf '== %s\n' "$*" >&2; }

# ---- 1. install -----------------------------------------------------------
PKGS="gcc libc6-dev libopenblas-dev python3-torch dataset-fashion-mnist libstb-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing:$missing"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "error: missing packages:$missing (run as root)" >&2; exit 1; }
        SUDO=sudo
    fi
    $SUDO apt-get update
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
fi

# ---- 2. build ---------------------------------------------------------------
mkdir -p "$OUT"
R="$OUT/results"
rm -rf "$R"
mkdir -p "$R"
CFLAGS_NN="-O2 -fopenmp"
OPTIM_DEF=""
OPTIM_PY=sgd
OPTIM_DESC="SGD with momentum 0.9, lr 0.05 (nn.h declares no NN_OPTIM_ADAM)"
if grep -q NN_OPTIM_ADAM nn.h; then
    OPTIM_DEF="-DBENCH_ADAM"
    OPTIM_PY=adam
    OPTIM_DESC="Adam, lr 1e-3, other settings at their defaults"
fi
say "building with $CC $CFLAGS_NN"
# shellcheck disable=SC2086
"$CC" $CFLAGS_NN $OPTIM_DEF -o "$OUT/bench" bench/bench.c -lopenblas -lm
# shellcheck disable=SC2086
"$CC" $CFLAGS_NN $OPTIM_DEF -DBENCH_NO_BLAS -o "$OUT/bench_nn" bench/bench.c -lm

NN_REV="$(git rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout')"
if ! git diff --quiet HEAD -- nn.h 2>/dev/null; then NN_REV="$NN_REV with uncommitted changes to nn.h"; fi
TORCH_BLAS="$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo '?')"
{
    echo "RESULT run_kind $KIND"
    echo "RESULT date $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "RESULT kernel $(uname -srm)"
    echo "RESULT load_before $LOAD_BEFORE"
    echo "RESULT nn_rev $NN_REV"
    echo "RESULT compiler $("$CC" --version | head -n1)"
    echo "RESULT cflags_nn $CC $CFLAGS_NN $OPTIM_DEF -DBENCH_NO_BLAS bench/bench.c -lm"
    echo "RESULT cflags_blas $CC $CFLAGS_NN $OPTIM_DEF bench/bench.c -lopenblas -lm"
    echo "RESULT python $($PY --version 2>&1)"
    echo "RESULT torch_blas libblas.so.3 -> $TORCH_BLAS"
    echo "RESULT env${ENV_DESC}"
    echo "RESULT optimizer $OPTIM_DESC"
    echo "RESULT reps GEMM $GEMM_REPS x >= $GEMM_MIN_MS ms per shape; training $EPOCHS epoch(s) per configuration; batch-1 $N_SINGLE forwards; batch-256 $INFER_REPS repetitions"
} >"$R/meta.txt"

# ---- 3. measure -------------------------------------------------------------
"$OUT/bench" info >"$R/info.txt"
$PY bench/bench_torch.py info >"$R/torch_info.txt"
sed -n 's/^RESULT \(cpu_model\|cpus_online\|openblas_core\) /  \1: /p' "$R/info.txt" >&2
say "machine: load $LOAD_BEFORE; env$ENV_DESC"
if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    say "warning: the machine is busy (load ${LOAD_BEFORE%% *}); timings will be noisy"
fi

say "FMA peak"
"$OUT/bench" peak >"$R/peak.txt"

say "GEMM: nn_gemm vs cblas_sgemm, 1 and 2 threads"
"$OUT/bench" gemm "$GEMM_REPS" "$GEMM_MIN_MS" both 2 >"$R/gemm.txt"

CORE="$(sed -n 's/^RESULT openblas_core //p' "$R/info.txt")"
if [ "${BENCH_CONTEXT:-1}" = 1 ] && [ "$CORE" != Haswell ]; then
    say "GEMM context: OpenBLAS forced to its Haswell (AVX2) kernels, 1 thread"
    {
        OPENBLAS_CORETYPE=Haswell "$OUT/bench" info | grep openblas_core
        OPENBLAS_CORETYPE=Haswell "$OUT/bench" gemm "$GEMM_REPS" "$GEMM_MIN_MS" openblas 1
    } >"$R/gemm_ctx.txt"
fi

# Training: one process per configuration; nn.h and PyTorch alternate.
nn_train() { # batch threads
    say "train nn.h    batch $1, $2 thread(s)"
    OPENBLAS_NUM_THREADS=1 "$OUT/bench_nn" train "$1" "$2" "$EPOCHS" "$DATA" >"$R/train_nn_b$1_t$2.txt"
}
torch_train() { # batch torch-threads openblas-threads
    say "train PyTorch batch $1, torch $2 thread(s), OpenBLAS $3 thread(s)"
    OPENBLAS_NUM_THREADS="$3" $PY bench/bench_torch.py train --batch "$1" --threads "$2" \
        --epochs "$EPOCHS" --optim "$OPTIM_PY" --data "$DATA" >"$R/train_torch_b$1_t$2_ob$3.txt"
}
for B in 64 256; do
    nn_train "$B" 1
    torch_train "$B" 1 1
    nn_train "$B" 2
    torch_train "$B" 1 2
    torch_train "$B" 2 1
done

say "inference, 1 thread"
OPENBLAS_NUM_THREADS=1 "$OUT/bench_nn" infer 1 "$N_SINGLE" "$INFER_REPS" "$DATA" >"$R/infer_nn.txt"
OPENBLAS_NUM_THREADS=1 $PY bench/bench_torch.py infer --threads 1 --n-single "$N_SINGLE" \
    --reps "$INFER_REPS" --data "$DATA" >"$R/infer_torch.txt"

echo "RESULT load_after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$R/meta.txt"

# ---- 4. report --------------------------------------------------------------
$PY bench/report.py "$R" "$RESULTS_MD"
say "wrote $RESULTS_MD (raw results in $R)"
