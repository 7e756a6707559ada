#!/usr/bin/env bash
# run.sh - the whole `make bench`: install what nn.h is compared against, build,
# find each peer's best form on this machine, measure nn.h against it (GEMM,
# training, inference, memory, thread scaling, compile time; the MLP and the
# CNN of examples/fashion_cnn.c), print the ratios and write bench/RESULTS.md.
# Run from the repository root (or anywhere: it finds it).
#
# Peers at their best: OpenBLAS runs once per core type the CPU can execute
# (OPENBLAS_CORETYPE, checked against openblas_get_corename()); a short screen
# keeps the competitive ones, which are then measured in full, and each shape
# is compared with the fastest. PyTorch (whose matmuls run in the same
# OpenBLAS) is screened over those core types, its thread settings, optimizer
# implementations and inference forms; the fastest per job is then measured
# against nn.h. The library's own choice ("as installed") is kept as context.
# For the CNN, PyTorch's screen adds the channels_last memory format and runs,
# per job, on the core type its MLP screen picked for the nearest MLP job
# (training at batch 64 at the same thread count, inference at the same batch):
# the core type only moves its Linear layers, its convolutions run in oneDNN.
#
# Environment (all optional):
#   BENCH_QUICK=1         smoke run: fewer and shorter repetitions
#   BENCH_GEMM_REPS       GEMM repetitions per shape             (full 9, quick 3)
#   BENCH_GEMM_MIN_MS     minimum length of one GEMM repetition  (full 50, quick 15)
#   BENCH_TRAIN_REPS      training repetitions per side          (full 15, quick 3)
#   BENCH_TRAIN_EPOCHS    length of one training repetition, epochs (full 0.2, quick 0.1)
#   BENCH_INFER_REPS      inference repetitions per side         (full 15, quick 3)
#   BENCH_CNN=0           leave out the CNN comparisons
#   BENCH_CNN_TRAIN_REPS  CNN training repetitions per side      (full 9, quick 3)
#   BENCH_CNN_STEPS       length of one CNN training repetition, steps (full 20, quick 6)
#   BENCH_CNN_INFER_REPS  CNN inference and conv-layer repetitions per side (full 9, quick 3)
#   BENCH_CORETYPES       OpenBLAS core types to try (default: from the CPU's flags)
#   BENCH_OPENBLAS_L2_SIZE  OPENBLAS_L2_SIZE for every peer run (default: the
#                         machine's OPENBLAS_L2_SIZE if set, else unset)
#   BENCH_DATA            data directory        (/usr/share/datasets/fashion-mnist)
#   BENCH_OUT             build and raw-results directory        (bench/build)
#   BENCH_RESULTS         report file                            (bench/RESULTS.md)
#   BENCH_README=1        also rewrite README.md's "Speed" section from this run
#   BENCH_COMPILE_BASE    a git revision whose nn.h is also compile-timed, for context
#   CC                    C compiler                             (gcc)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY=/usr/bin/python3 # Debian's interpreter: the one python3-torch installs into

QUICK="${BENCH_QUICK:-0}"
if [ "$QUICK" = 1 ]; then
    D_REPS=3 D_MIN_MS=15 D_TREPS=3 D_TEPOCHS=0.1 D_IREPS=3 D_IREP_S=0.1 KIND=quick
    SCREEN_MS=4 SCREEN_EPOCHS=0.02 SCREEN_INFER_S=0.03 THREADS_REPS=3 THREADS_STEPS_EPOCHS=0.05
    D_CNN_TREPS=3 D_CNN_STEPS=6 D_CNN_IREPS=3 CNN_SCREEN_STEPS=4 CNN_CONV_REP_S=0.05
else
    D_REPS=9 D_MIN_MS=50 D_TREPS=15 D_TEPOCHS=0.2 D_IREPS=15 D_IREP_S=0.15 KIND=full
    SCREEN_MS=10 SCREEN_EPOCHS=0.08 SCREEN_INFER_S=0.08 THREADS_REPS=7 THREADS_STEPS_EPOCHS=0.2
    D_CNN_TREPS=9 D_CNN_STEPS=20 D_CNN_IREPS=9 CNN_SCREEN_STEPS=8 CNN_CONV_REP_S=0.1
fi
GEMM_REPS="${BENCH_GEMM_REPS:-$D_REPS}"
GEMM_MIN_MS="${BENCH_GEMM_MIN_MS:-$D_MIN_MS}"
TRAIN_REPS="${BENCH_TRAIN_REPS:-$D_TREPS}"
TRAIN_EPOCHS="${BENCH_TRAIN_EPOCHS:-$D_TEPOCHS}"
INFER_REPS="${BENCH_INFER_REPS:-$D_IREPS}"
CNN="${BENCH_CNN:-1}"
CNN_TRAIN_REPS="${BENCH_CNN_TRAIN_REPS:-$D_CNN_TREPS}"
CNN_STEPS="${BENCH_CNN_STEPS:-$D_CNN_STEPS}"
CNN_INFER_REPS="${BENCH_CNN_INFER_REPS:-$D_CNN_IREPS}"
DATA="${BENCH_DATA:-/usr/share/datasets/fashion-mnist}"
OUT="${BENCH_OUT:-$ROOT/bench/build}"
RESULTS_MD="${BENCH_RESULTS:-$ROOT/bench/RESULTS.md}"
CC="${CC:-gcc}"

# The machine's own settings, recorded before anything else runs.
ENV_DESC=""
for v in OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS OMP_NUM_THREADS GOMP_SPINCOUNT OMP_WAIT_POLICY; do
    ENV_DESC="$ENV_DESC $v=${!v-(unset)}"
done
OB_L2="${BENCH_OPENBLAS_L2_SIZE-${OPENBLAS_L2_SIZE-}}"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
T_START=$(date +%s)

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
CFLAGS_NN="-O2"
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

# ---- stage accounting: how much CPU other processes took meanwhile ----------
# /proc/stat's busy time minus this script's and its waited-for children's
# (fields utime, stime, cutime, cstime of /proc/$$/stat), per stage.
HZ=$(getconf CLK_TCK)
cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $9; exit}' /proc/stat; }
own_ticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{print $12+$13+$14+$15}'; }
stage_begin() {
    ST_NAME=$1
    ST_T0=$(date +%s.%N)
    read -r ST_B0 ST_S0 <<<"$(cpu_busy)"
    ST_O0=$(own_ticks)
    ST_L0=$(cut -d' ' -f1 /proc/loadavg)
}
stage_end() {
    local t1 b1 s1 o1 line
    t1=$(date +%s.%N)
    read -r b1 s1 <<<"$(cpu_busy)"
    o1=$(own_ticks)
    line=$(awk -v t0="$ST_T0" -v t1="$t1" -v b0="$ST_B0" -v b1="$b1" -v s0="$ST_S0" -v s1="$s1" \
        -v o0="$ST_O0" -v o1="$o1" -v hz="$HZ" -v l0="$ST_L0" -v l1="$(cut -d' ' -f1 /proc/loadavg)" \
        'BEGIN { w = t1 - t0; if (w <= 0) w = 1e-9; o = ((b1 - b0) - (o1 - o0)) / hz / w; if (o < 0) o = 0;
                 printf "%.1f %.3f %.3f %s %s", w, o, (s1 - s0) / hz / w, l0, l1 }')
    echo "RESULT stage.$ST_NAME $line" >>"$R/stages.txt"
    set -- $line
    if awk -v o="$2" 'BEGIN { exit !(o > 0.1) }'; then
        say "warning: other processes used $2 of a core during '$ST_NAME'; figures may be noisy"
    fi
}

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
    echo "RESULT peer_l2 ${OB_L2:-(unset)}"
    echo "RESULT optimizer $OPTIM_DESC"
    echo "RESULT reps GEMM $GEMM_REPS x >= $GEMM_MIN_MS ms per shape and side; training $TRAIN_REPS x $TRAIN_EPOCHS epoch per side; inference $INFER_REPS x ${D_IREP_S} s per side$(
        [ "$CNN" = 1 ] && echo "; CNN training $CNN_TRAIN_REPS x $CNN_STEPS steps, inference $CNN_INFER_REPS x ${D_IREP_S} s, conv layers $CNN_INFER_REPS x $CNN_CONV_REP_S s per side")"
} >"$R/meta.txt"
LC_ALL=C lscpu >"$R/lscpu.txt" 2>/dev/null || true

# glibc malloc for every measured process: keep freed memory instead of handing
# it back to the kernel. With the defaults PyTorch's training step maps and
# unmaps its larger tensors, and on this kind of virtual machine the page
# faults that follow made it up to 4x slower from one process to the next
# (nn.h allocates nothing in a step, so this only helps the peer).
MALLOC_ENV=(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967295)
echo "RESULT malloc_env ${MALLOC_ENV[*]}" >>"$R/meta.txt"

# A peer's OpenBLAS environment, set explicitly for every peer process:
# ob_run <coretype|auto> <openblas threads> command...
ob_run() {
    local core=$1 obt=$2
    shift 2
    local -a e=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u OPENBLAS_NUM_THREADS OPENBLAS_NUM_THREADS="$obt"
        "${MALLOC_ENV[@]}")
    [ "$core" != auto ] && e+=(OPENBLAS_CORETYPE="$core")
    [ -n "$OB_L2" ] && e+=(OPENBLAS_L2_SIZE="$OB_L2")
    echo "RESULT peer_env OPENBLAS_CORETYPE=$([ "$core" != auto ] && echo "$core" || echo '(unset)')" \
        "OPENBLAS_L2_SIZE=${OB_L2:-(unset)} OPENBLAS_NUM_THREADS=$obt ${MALLOC_ENV[*]}"
    "${e[@]}" "$@"
}

# ---- 3. machine, compile time, peak -------------------------------------------
ob_run auto 1 "$OUT/bench" info >"$R/info.txt"
ob_run auto 1 $PY bench/bench_torch.py info >"$R/torch_info.txt"
CPU_NAME="$(sed -n 's/^Model name: *//p' "$R/lscpu.txt" | head -n1)"
[ -n "$CPU_NAME" ] || CPU_NAME="$(sed -n 's/^RESULT cpu_model //p' "$R/info.txt")"
AUTO_CORE="$(sed -n 's/^RESULT openblas_core //p' "$R/info.txt")"
PEAK_LOOP="$(sed -n 's/^RESULT nn_peak_loop //p' "$R/info.txt")"
say "CPU: $CPU_NAME ($(sed -n 's/^RESULT cpus_online //p' "$R/info.txt") online);" \
    "nn.h kernels: $(sed -n 's/^RESULT nn_simd //p' "$R/info.txt"); OpenBLAS as installed: $AUTO_CORE"
say "machine: load $LOAD_BEFORE; env$ENV_DESC"
if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    say "warning: the machine is busy (load ${LOAD_BEFORE%% *} before the run); timings will be noisy"
fi

say "compile time of the implementation: $CC -O2 -c, best of 3 (CPU time)"
stage_begin compile
printf '#define NN_IMPLEMENTATION\n#include "nn.h"\n' >"$OUT/nn_impl.c"
compile_once() { # <name> <include dir>: one timed compile, "RESULT <name> <cpu s> <wall s>"
    TIMEFORMAT='%3U %3S %3R'
    { time "$CC" -O2 -I"$2" -c -o "$OUT/nn_impl.o" "$OUT/nn_impl.c" 2>"$OUT/nn_impl.log"; } 2>&1 |
        awk -v n="$1" '{ printf "RESULT %s %.3f %.3f\n", n, $1 + $2, $3 }'
}
# context: another revision's nn.h, timed in turn with this one (BENCH_COMPILE_BASE,
# or the committed one when the working tree differs from it)
base="${BENCH_COMPILE_BASE:-}"
if [ -z "$base" ] && ! git diff --quiet HEAD -- nn.h 2>/dev/null; then base=HEAD; fi
mkdir -p "$OUT/committed"
if [ -z "$base" ] || ! git show "$base:nn.h" >"$OUT/committed/nn.h" 2>/dev/null; then base=""; fi
{
    echo "RESULT compile_cmd $CC -O2 -c nn_impl.c (#define NN_IMPLEMENTATION, #include \"nn.h\")"
    [ -n "$base" ] && echo "RESULT compile_committed_rev $(git rev-parse --short "$base")"
    for _ in 1 2 3; do
        compile_once compile_run "$ROOT"
        if [ -n "$base" ]; then compile_once compile_committed_run "$OUT/committed"; fi
    done
} >"$R/compile.txt"
stage_end

say "FMA peak, 1 core"
stage_begin peak
ob_run auto 1 "$OUT/bench" peak >"$R/peak.txt"
stage_end

# ---- 4. GEMM: OpenBLAS at its best ----------------------------------------------
FLAGS=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { [[ "$FLAGS" == *" $1 "* ]]; }
if [ -n "${BENCH_CORETYPES:-}" ]; then
    CANDS="$BENCH_CORETYPES"
else
    CANDS=""
    if has avx512f && has avx512bw && has avx512vl && has avx512dq && has avx512cd; then
        CANDS="SkylakeX"
        has avx512_bf16 && CANDS="$CANDS Cooperlake"
    fi
    has avx2 && has fma && CANDS="$CANDS Haswell Zen"
    has avx && CANDS="$CANDS Sandybridge"
    CANDS="$CANDS Prescott"
fi
case " ${CANDS,,} " in *" ${AUTO_CORE,,} "*) ;; *) CANDS="$CANDS $AUTO_CORE" ;; esac
# shellcheck disable=SC2086
CANDS="$(echo $CANDS)" # one space between names
echo "RESULT candidates $CANDS" >>"$R/meta.txt"

say "GEMM screen: OpenBLAS core types $CANDS (1 thread, 1 short repetition per shape)"
stage_begin gemm_screen
for c in $CANDS; do
    ob_run "$c" 1 "$OUT/bench" gemm 1 "$SCREEN_MS" openblas 1 >"$R/gemm_screen_$c.txt" 2>/dev/null
    say "  asked $c, ran $(sed -n 's/^RESULT openblas_core //p' "$R/gemm_screen_$c.txt")"
done
stage_end
read -r -a KEEP <<<"$($PY bench/report.py pick-gemm "$R" | sed -n 1p)"
T2_CORE="$($PY bench/report.py pick-gemm "$R" | sed -n 2p)"
say "kept for the full GEMM run: ${KEEP[*]} (2 threads: $T2_CORE)"

stage_begin gemm
for c in "${KEEP[@]}"; do
    say "GEMM, 1 thread: nn_gemm vs OpenBLAS $c, interleaved"
    ob_run "$c" 1 "$OUT/bench" gemm "$GEMM_REPS" "$GEMM_MIN_MS" both 1 >"$R/gemm_t1_$c.txt"
done
case " ${KEEP[*],,} " in
*" ${AUTO_CORE,,} "*) ;;
*)
    say "GEMM, 1 thread: nn_gemm vs OpenBLAS as installed ($AUTO_CORE), context"
    ob_run auto 1 "$OUT/bench" gemm "$GEMM_REPS" "$GEMM_MIN_MS" both 1 >"$R/gemm_t1_asinstalled.txt"
    ;;
esac
say "GEMM, 2 threads: nn_gemm vs OpenBLAS $T2_CORE, interleaved"
ob_run "$T2_CORE" 2 "$OUT/bench" gemm "$GEMM_REPS" "$GEMM_MIN_MS" both 2 >"$R/gemm_t2_$T2_CORE.txt"
stage_end

# ---- 5. PyTorch at its best -----------------------------------------------------
say "PyTorch screen: core types ${KEEP[*]} x thread settings x optimizer forms x inference forms"
stage_begin torch_screen
for c in "${KEEP[@]}"; do
    ob_run "$c" 2 $PY bench/bench_torch.py screen --optim "$OPTIM_PY" --epochs-frac "$SCREEN_EPOCHS" \
        --infer-s "$SCREEN_INFER_S" --data "$DATA" >"$R/torch_screen_$c.txt"
done
stage_end
$PY bench/report.py pick-torch "$R" >"$R/picks.txt"
sed 's/^/  PyTorch best: /' "$R/picks.txt" >&2

# ---- 6. nn.h against PyTorch, interleaved rep by rep ----------------------------
stage_begin train
while read -r job B T core tt ob fe; do
    [ "$job" = train ] || continue
    say "training b$B, $T thread(s): nn.h vs PyTorch ($core, torch $tt, OpenBLAS $ob, foreach $fe)"
    PEAK_ARG=()
    [ "$T" = 1 ] && [ "$B" = 64 ] && [ "$PEAK_LOOP" != none ] && PEAK_ARG=(--peak-loop "$PEAK_LOOP")
    ob_run "$core" "$ob" $PY bench/bench_torch.py duel-train --nn "$OUT/bench_nn" --batch "$B" --threads "$T" \
        --torch-threads "$tt" --ob-threads "$ob" --foreach "$fe" --optim "$OPTIM_PY" --reps "$TRAIN_REPS" \
        --epochs-frac "$TRAIN_EPOCHS" --data "$DATA" "${PEAK_ARG[@]}" >"$R/duel_train_b${B}_t$T.txt"
    sed -n 's/^RESULT \(nn\|torch\)\.samples_per_s /    \1 /p' "$R/duel_train_b${B}_t$T.txt" >&2
done <"$R/picks.txt"
stage_end

stage_begin infer
while read -r job B form core; do
    [ "$job" = infer ] || continue
    say "inference b$B, 1 thread: nn.h vs PyTorch ($core, $form)"
    ob_run "$core" 1 $PY bench/bench_torch.py duel-infer --nn "$OUT/bench_nn" --batch "$B" --form "$form" \
        --reps "$INFER_REPS" --rep-s "$D_IREP_S" --data "$DATA" >"$R/duel_infer_b$B.txt"
    sed -n 's/^RESULT \(nn\|torch\)\.\(latency_us\|samples_per_s\) /    \1 \2 /p' "$R/duel_infer_b$B.txt" >&2
done <"$R/picks.txt"
stage_end

stage_begin int8
say "int8: the flagship MLP quantized against its float self, batch 1, 1 thread"
env "${MALLOC_ENV[@]}" "$OUT/bench_nn" int8 "$INFER_REPS" "$D_IREP_S" "$DATA" >"$R/int8.txt"
sed -n 's/^RESULT \(float\|int8\)\.latency_us /    \1 us /p' "$R/int8.txt" >&2
stage_end

# ---- 6b. the CNN: PyTorch's screen, then nn.h against it ------------------------
if [ "$CNN" = 1 ]; then
    # the jobs each core type screens: those whose nearest MLP job it won
    declare -A CNN_JOBS=()
    while read -r job B a core _; do
        case "$job $B" in
        "train 64") CNN_JOBS[$core]="${CNN_JOBS[$core]:+${CNN_JOBS[$core]},}train$a" ;;
        "infer 1" | "infer 256") CNN_JOBS[$core]="${CNN_JOBS[$core]:+${CNN_JOBS[$core]},}infer$B" ;;
        esac
    done <"$R/picks.txt" # train <B> <T> <core> ... / infer <B> <form> <core>
    [ ${#CNN_JOBS[@]} -gt 0 ] || CNN_JOBS[${KEEP[0]}]=train1,train2,infer1,infer256
    say "PyTorch CNN screen: $(for c in "${!CNN_JOBS[@]}"; do printf '%s (%s) ' "$c" "${CNN_JOBS[$c]}"; done)"
    stage_begin cnn_screen
    for c in "${!CNN_JOBS[@]}"; do
        ob_run "$c" 2 $PY bench/bench_torch.py screen --model cnn --jobs "${CNN_JOBS[$c]}" --steps "$CNN_SCREEN_STEPS" \
            --infer-s "$SCREEN_INFER_S" --data "$DATA" >"$R/torch_cnn_screen_$c.txt"
    done
    stage_end
    $PY bench/report.py pick-torch "$R" >"$R/picks.txt"
    sed -n 's/^cnn_/  PyTorch best: cnn_/p' "$R/picks.txt" >&2

    stage_begin cnn
    while read -r job B T core tt ob fe cl; do
        [ "$job" = cnn_train ] || continue
        say "CNN training b$B, $T thread(s): nn.h vs PyTorch ($core, torch $tt, OpenBLAS $ob, foreach $fe, channels_last $cl)"
        ob_run "$core" "$ob" $PY bench/bench_torch.py duel-train --model cnn --nn "$OUT/bench_nn" --batch "$B" \
            --threads "$T" --torch-threads "$tt" --ob-threads "$ob" --foreach "$fe" --channels-last "$cl" \
            --reps "$CNN_TRAIN_REPS" --steps "$CNN_STEPS" --data "$DATA" >"$R/cnn_duel_train_b${B}_t$T.txt"
        sed -n 's/^RESULT \(nn\|torch\)\.samples_per_s /    \1 /p' "$R/cnn_duel_train_b${B}_t$T.txt" >&2
    done <"$R/picks.txt"
    while read -r job B form core; do
        [ "$job" = cnn_infer ] || continue
        say "CNN inference b$B, 1 thread: nn.h vs PyTorch ($core, $form)"
        ob_run "$core" 1 $PY bench/bench_torch.py duel-infer --model cnn --nn "$OUT/bench_nn" --batch "$B" \
            --form "$form" --reps "$CNN_INFER_REPS" --rep-s "$D_IREP_S" --data "$DATA" >"$R/cnn_duel_infer_b$B.txt"
        sed -n 's/^RESULT \(nn\|torch\)\.\(latency_us\|samples_per_s\) /    \1 \2 /p' "$R/cnn_duel_infer_b$B.txt" >&2
    done <"$R/picks.txt"
    say "CNN convolutions alone, batch 64, 1 thread: nn_conv2d_* vs torch.nn.functional.conv2d, GFLOP/s"
    ob_run "${KEEP[0]}" 1 $PY bench/bench_torch.py duel-conv --nn "$OUT/bench_nn" --reps "$CNN_INFER_REPS" \
        --rep-s "$CNN_CONV_REP_S" --data "$DATA" >"$R/cnn_conv.txt"
    sed -n 's/^RESULT conv\.l\([12]\)\.\(fwd\|bwd\)\.\(nn\|torch\)\.gflops /    conv\1 \2 \3 /p' "$R/cnn_conv.txt" >&2
    stage_end
fi

# ---- 7. nn.h's threads: free cores, then a core held by a busy loop --------------
stage_begin threads
for B in 64 256; do
    STEPS=$(awk -v e="$THREADS_STEPS_EPOCHS" -v b="$B" 'BEGIN { s = int(60000 / b * e); print s < 20 ? 20 : s }')
    say "nn.h threads, b$B: 1 vs 2 threads, free and with a busy-loop process on one core"
    env "${MALLOC_ENV[@]}" "$OUT/bench_nn" threads "$B" "$THREADS_REPS" "$STEPS" "$DATA" >"$R/threads_b$B.txt"
    sed -n 's/^RESULT sps\.\([a-z]*\)\.t\([12]\) /    \1 t\2 /p' "$R/threads_b$B.txt" >&2
done
stage_end

echo "RESULT load_after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$R/meta.txt"
echo "RESULT duration_s $(($(date +%s) - T_START))" >>"$R/meta.txt"

# ---- 8. report --------------------------------------------------------------
README_ARG=()
[ "${BENCH_README:-0}" = 1 ] && README_ARG=(--readme "$ROOT/README.md")
$PY bench/report.py report "$R" "$RESULTS_MD" "${README_ARG[@]}"
say "wrote $RESULTS_MD (raw results in $R)"
