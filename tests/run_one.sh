#!/bin/sh
# run_one.sh BUILD NAME COMMAND...: run one test binary, show its output, append its
# "N passed, N failed" line to BUILD/results.txt. A run with no summary line (a crash)
# or a non-zero exit with "0 failed" (e.g. the leak checker at exit) counts as one
# more failure.
build=$1; name=$2; shift 2
echo "== $name"
"$@" > "$build/$name.log" 2>&1; rc=$?
cat "$build/$name.log"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$build/$name.log" | tail -n 1)
if [ -z "$line" ]; then
    echo "$name: no summary line (exit status $rc)"; line="0 passed, 1 failed"
elif [ $rc -ne 0 ] && [ "${line##* passed, }" = "0 failed" ]; then
    echo "$name: exit status $rc"; line="${line%% *} passed, 1 failed"
fi
echo "$line" >> "$build/results.txt"
