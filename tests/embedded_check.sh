#!/bin/sh
# embedded_check.sh [CC]: the inference-only build (NN_STATIC, NN_NO_STDIO,
# NN_NO_TRAINING, NN_NO_THREADS, an allocator that does not exist) of two
# models and their int8 forms exported as C (tests/embedded). Checks that it compiles warning-free,
# links with no allocator (and that a heap call makes the link fail), keeps no
# stdio, allocation or training symbols, and reproduces the full library's
# outputs bit for bit; reports the bytes of .text it takes. Prints one line
# per check, then "N passed, N failed". Run from the repository root.
cc=${1:-gcc}
. tests/checks.sh
W="-std=c99 -Wall -Wextra -Wpedantic -Werror"
EMB="-I. -Itests/embedded -I$out"
textof() { size -A "$1" | awk '$1 == ".text" { t += $2 } END { print t + 0 }'; }

check "export the trained models as C (host build)" sh -c "$cc $W -O1 tests/embedded/export_models.c \
    -o '$out/export' -lm && '$out/export' '$out'"
check "exported C keeps both arena sizes" sh -c "grep -q '#ifdef NN_NO_TRAINING' '$out/mlp_model.h'"
check "embedded model.c compiles warning-free (gcc, C99)" $cc $W -O2 $EMB -c tests/embedded/model.c -o "$out/model.o"
check "embedded model.c compiles warning-free (clang, C11)" clang -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 \
    $EMB -c tests/embedded/model.c -o "$out/model_clang.o"
check "embedded model.c compiles warning-free (g++, C++11)" g++ -std=c++11 -x c++ -Wall -Wextra -Wpedantic -Werror \
    -O2 $EMB -c tests/embedded/model.c -o "$out/model_cxx.o"
# the allocator macros name functions nobody defines: the link is the proof
check "links with no allocator" $cc -O2 $EMB tests/embedded/main.c "$out/model.o" -o "$out/embedded" -lm
check "a heap arena makes that link fail (the check can fail)" sh -c "$cc $W -O2 $EMB -DEMBEDDED_NEGATIVE_CONTROL \
    -c tests/embedded/model.c -o '$out/neg.o' && ! $cc -O2 $EMB tests/embedded/main.c '$out/neg.o' -o '$out/neg' -lm"
check "no stdio, heap or exit in the object" sh -c "! nm -u '$out/model.o' | \
    grep -Ew '(malloc|calloc|realloc|free|fopen|fclose|fread|fwrite|fprintf|printf|puts|exit|abort)'"
check "no optimizer or backward code in the object" sh -c "! nm '$out/model.o' | grep -v embedded_ | \
    grep -Ei 'optim|adam|sgd|rmsprop|lbfgs|_bwd|backward|sched|clip_grad|fit_'"
sed 's/^#define NN_NO_TRAINING$//' tests/embedded/model.c > "$out/model_train.c"
check "...which it finds in the same object without NN_NO_TRAINING (the check can fail)" sh -c "$cc $W -O2 $EMB \
    -c '$out/model_train.c' -o '$out/train_o2.o' && nm '$out/train_o2.o' | grep -v embedded_ | grep -Eqi '_bwd|backward'"
if [ -x "$out/embedded" ]; then
    "$out/embedded" > "$out/run.log" 2>&1
    sed -n 's/^ok   /ok   run: /p; s/^FAIL /FAIL run: /p; s/^  note/  note/p' "$out/run.log"
    p=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$out/run.log")
    f=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$out/run.log")
    [ -n "$p" ] || { p=0; f=1; echo "FAIL run: no summary"; cat "$out/run.log"; }
    pass=$((pass + p)); fail=$((fail + f))
fi

# NN_POLY_ACT: the activations' plain-C polynomial twins give the AVX2 kernels'
# bits (on a CPU with AVX2, where the host build runs those kernels) and leave
# their libm calls out
check "NN_POLY_ACT builds (no SIMD) and runs" sh -c "$cc $W -O2 -I. -DNN_NO_SIMD -DNN_POLY_ACT tests/embedded/poly.c \
    -o '$out/poly_c' -lm && '$out/poly_c' > '$out/poly_c.txt'"
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    check "...and gives the AVX2 kernels' bits for every activation (28,721 values)" sh -c "$cc $W -O2 -I. \
        tests/embedded/poly.c -o '$out/poly_simd' -lm && '$out/poly_simd' > '$out/poly_simd.txt' && \
        cmp '$out/poly_c.txt' '$out/poly_simd.txt' && [ \$(wc -l < '$out/poly_c.txt') -eq 28721 ]"
    check "...which libm's forms do not (the check can fail)" sh -c "$cc -O2 -I. -DNN_NO_SIMD tests/embedded/poly.c \
        -o '$out/poly_ref' -lm && '$out/poly_ref' > '$out/poly_ref.txt' && ! cmp -s '$out/poly_ref.txt' '$out/poly_simd.txt'"
else
    echo "  note: no AVX2 here: the polynomial twins were not compared with the AVX2 kernels"
fi
check "the embedded object with NN_POLY_ACT calls no expf, tanhf, expm1f or erff" sh -c "$cc $W -O2 -DNN_NO_SIMD \
    -DNN_POLY_ACT $EMB -c tests/embedded/model.c -o '$out/model_poly.o' && \
    ! nm -u '$out/model_poly.o' | grep -Ew '(expf|tanhf|expm1f|erff)'"
echo "  note: libm functions left with NN_POLY_ACT: $(nm -u "$out/model_poly.o" 2>/dev/null | awk '{print $2}' | \
    grep -Ex '(exp|log|cos|sin|sqrt|tanh|erf|expm1|log1p|pow)f?' | tr '\n' ' ')(weight initialisation, batch norm)"

# the code it takes: .text of model.o (both models' forward, init, the
# kernels it reaches), the weights apart (.rodata); and what training adds
sz() { # name, compiler, flags...
    n=$1; c=$2; shift 2
    if $c -std=c99 "$@" $EMB -c tests/embedded/model.c -o "$out/sz.o" 2>/dev/null; then
        echo "  note: .text $(textof "$out/sz.o") bytes: $n"
    fi
}
sz "x86-64, -O2, AVX2 and AVX-512 kernels (dispatch)" $cc -O2 -DNDEBUG
sz "x86-64, -Os, NN_NO_SIMD" $cc -Os -DNN_NO_SIMD -DNDEBUG
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 && sz "aarch64, -Os, NEON" aarch64-linux-gnu-gcc -Os -DNDEBUG
if $cc -std=c99 -Os -DNN_NO_SIMD -DNDEBUG $EMB -c "$out/model_train.c" -o "$out/train.o" 2>/dev/null; then
    echo "  note: .text $(textof "$out/train.o") bytes: the same without NN_NO_TRAINING (x86-64, -Os, NN_NO_SIMD)"
fi
echo "  note: libm functions the object calls: $(nm -u "$out/model.o" | awk '{print $2}' | \
    grep -Ex '(exp|log|cos|sin|sqrt|tanh|erf|expm1|log1p|pow)f?' | tr '\n' ' ')"

checks_end
