#!/bin/sh
# mpi_check.sh: data-parallel training over MPI (examples/mpi_train.c, Open MPI).
# Checks that P processes give the weights of one process taking each batch in P
# micro-batches (nn_fit's accum), bit for bit, at P = 2, 3, 4; that a repeated run
# gives the same bits; that they stay close to one process with whole batches; that
# a checkpoint resumes exactly (dropout and batch norm in); that only rank 0 prints;
# and that a mismatched model or a rank that dies stops the run with an error. Needs
# mpicc and mpirun (libopenmpi-dev, openmpi-bin) and Fashion-MNIST. Prints one line
# per check, then "N passed, N failed". Run from the repository root.
. tests/checks.sh
# mpirun refuses root unless told; these two say it for root and are ignored otherwise
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# no network interface probing beyond the loopback: one machine
export OMPI_MCA_btl=self,vader OMPI_MCA_plm_rsh_agent=false
mpi="mpirun --oversubscribe"
bin="$out/mpi_train"
# 8,192 rows, global batch 504 (2, 3 and 4 divide it): 16 steps an epoch
run() { # np out-name args... (its own variable names: check's are global)
    run_np=$1; run_out=$2; shift 2
    timeout 300 $mpi -np "$run_np" "$bin" --rows 8192 --batch 504 --quiet --out "$out/$run_out.nnw" "$@"
}
check "mpi_train compiles warning-free (mpicc, C99)" mpicc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror \
    examples/mpi_train.c -o "$bin" -lm
check "weights_diff compiles" cc -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror tests/weights_diff.c \
    -o "$out/weights_diff" -lm
for p in 2 3 4; do
    check "P = $p runs (2 epochs, ordered reduction)" run $p p$p --epochs 2
    check "P = 1 with accum $p runs" run 1 a$p --epochs 2 --accum $p
    check "P = $p gives the weights of one process with accum $p, bit for bit" cmp "$out/p$p.nnw" "$out/a$p.nnw"
done
check "P = 1 alone (whole batches of 504) runs" run 1 whole --epochs 2
check "...which is not bit-identical to P = 2 (the check can fail)" sh -c "! cmp -s '$out/whole.nnw' '$out/p2.nnw'"
check "...but within 1e-4 of its largest weight" sh -c "'$out/weights_diff' '$out/whole.nnw' '$out/p2.nnw' 1e-4 \
    > '$out/diff.txt' && cat '$out/diff.txt'"
echo "  note: P = 2 against whole batches: $(cat "$out/diff.txt" 2>/dev/null)"
check "P = 2 again: the same bits" sh -c "timeout 300 $mpi -np 2 '$bin' --rows 8192 --batch 504 --epochs 2 \
    --out '$out/p2b.nnw' > '$out/loud.txt' && cmp '$out/p2.nnw' '$out/p2b.nnw'"
check "...and only rank 0 printed: 2 epoch lines from 2 ranks" sh -c "[ \$(grep -c '^epoch' '$out/loud.txt') -eq 2 ] && \
    grep -q 'the same on all 2 ranks' '$out/loud.txt'"
# resume: 3 epochs straight against 1, a checkpoint, then 2 more (dropout and batch norm in)
check "3 epochs with dropout and batch norm, P = 2" run 2 full --epochs 3 --dropout 0.2 --batchnorm \
    --checkpoint "$out/ck_full.nnw"
check "1 epoch, checkpoint" run 2 part --epochs 1 --dropout 0.2 --batchnorm --checkpoint "$out/ck.nnw"
check "...resumed for epochs 2 and 3" run 2 resumed --epochs 3 --dropout 0.2 --batchnorm --checkpoint "$out/ck.nnw" \
    --resume
check "...gives the uninterrupted run's weights, bit for bit" cmp "$out/full.nnw" "$out/resumed.nnw"
check "...which a resume with another seed does not give (the check can fail)" sh -c "timeout 300 $mpi -np 2 \
    '$bin' --rows 8192 --batch 504 --quiet --epochs 3 --dropout 0.2 --batchnorm --checkpoint '$out/ck.nnw' --resume \
    --seed 8 --out '$out/wrong.nnw' && ! cmp -s '$out/full.nnw' '$out/wrong.nnw'"
# (timeout's 124 is a hang, not a refusal)
check "a rank with another model: refused at start-up, exit code != 0, says which rank" sh -c "timeout 120 $mpi \
    -np 2 '$bin' --rows 8192 --batch 504 --quiet --test-mismatch > '$out/mm.txt' 2>&1; rc=\$?; \
    [ \$rc -ne 0 ] && [ \$rc -ne 124 ] && grep -q \"rank 1's model differs\" '$out/mm.txt'"
check "a rank that dies at start-up: the run stops with an error (no hang)" sh -c "timeout 120 $mpi -np 2 '$bin' \
    --rows 8192 --batch 504 --quiet --test-die > '$out/die.txt' 2>&1; rc=\$?; \
    [ \$rc -ne 0 ] && [ \$rc -ne 124 ] && grep -qi 'exit' '$out/die.txt'"
checks_end
