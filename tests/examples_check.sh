#!/bin/sh
# examples_check.sh CC: every example compiles warning-free as C99 (-Wall -Wextra -Wpedantic
# -Werror), and the ones that need no download run and exit 0. Prints one line per check,
# then "N passed, N failed". Run from the repository root (make test runs it in a directory
# that looks like the root).
cc=${1:-gcc}
. tests/checks.sh
for f in examples/*.c; do
    b=$(basename "$f" .c)
    [ "$b" = mpi_train ] && continue # needs mpicc: tests/mpi_check.sh builds and runs it
    check "compile $b" $cc -std=c99 -O1 -Wall -Wextra -Wpedantic -Werror "$f" -o "$out/$b" -lm
done
mkdir -p build
# the ones that need neither Fashion-MNIST nor a trained model
[ -x "$out/xor" ] && check "run xor" "$out/xor"
[ -x "$out/optimizers" ] && check "run optimizers" "$out/optimizers"
[ -x "$out/csv_classify" ] && check "run csv_classify (iris)" "$out/csv_classify" examples/data/iris.csv label "$out/iris.nnw"
[ -x "$out/kfold" ] && check "run kfold" "$out/kfold"
[ -x "$out/hparam_search" ] && check "run hparam_search (halving)" "$out/hparam_search" halving 9 examples/data/wine.csv "$out/trials.csv"
[ -x "$out/hparam_search" ] && check "run hparam_search (tpe)" "$out/hparam_search" tpe 12 examples/data/wine.csv "$out/trials.csv"
# the game: trains a policy by imitation (asserts it nears the expert), and
# plays headless from the compiled-in examples/game_policy.h (asserts the same)
[ -x "$out/game" ] && check "run game train" "$out/game" train "$out/game_policy.h"
[ -x "$out/game" ] && check "run game play (compiled-in policy, 2000 frames, PNGs)" "$out/game" play 2000 "$out"
[ -x "$out/game" ] && check "game wrote its pictures" test -s "$out/game_trail.png" -a -s "$out/game_frame_190.png"
checks_end
