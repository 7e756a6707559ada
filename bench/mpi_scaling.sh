#!/bin/sh
# mpi_scaling.sh [reps]: data-parallel training over MPI on this machine
# (examples/mpi_train.c, the Fashion-MNIST MLP 784-256-128-10, AdamW, 2 epochs of
# 60,000 rows; the second epoch is timed): samples/s with 1 and 2 processes at global
# batches of 512, 2048 and 8192, and the time per step spent in the gradient
# reduction, for the ordered reduction (deterministic) and MPI_Allreduce. Runs are
# interleaved rep by rep; each figure is the median of reps (default 3). Needs
# mpicc, mpirun and Fashion-MNIST (make deps-test installs them).
reps=${1:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
# one machine: no ssh needed (a fresh machine may have none)
export OMPI_MCA_plm_rsh_agent=false
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT INT TERM
mpicc -std=c99 -O2 examples/mpi_train.c -o "$out/mpi_train" -lm || exit 1
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Open MPI $(mpirun --version 2>/dev/null | head -1 | awk '{print $NF}'), shared memory (vader) between the ranks"
med() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
for B in 512 2048 8192; do
    for r in $(seq "$reps"); do
        for cfg in "1 ordered" "2 ordered" "2 allreduce"; do
            set -- $cfg
            line=$(mpirun --oversubscribe -np "$1" "$out/mpi_train" --epochs 2 --batch "$B" --reduce "$2" \
                --out "$out/m.nnw" | grep '^epoch 2')
            sps=$(echo "$line" | sed -n 's/.*, \([0-9]*\) samples\/s.*/\1/p')
            ms=$(echo "$line" | sed -n 's/.*(\([0-9.]*\) ms a step).*/\1/p')
            echo "$sps" >> "$out/sps_${B}_$1_$2"
            echo "$ms" >> "$out/ms_${B}_$1_$2"
        done
    done
    one=$(med < "$out/sps_${B}_1_ordered")
    for cfg in "1 ordered" "2 ordered" "2 allreduce"; do
        set -- $cfg
        s=$(med < "$out/sps_${B}_$1_$2")
        m=$(med < "$out/ms_${B}_$1_$2")
        printf "batch %5d  P = %d  %-9s  %7d samples/s  %5.2fx  reduce %5.2f ms a step\n" "$B" "$1" "$2" "$s" \
            "$(echo "$s $one" | awk '{print $1 / $2}')" "$m"
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
