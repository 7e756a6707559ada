#!/bin/sh
# run_one.sh BUILD NAME COMMAND...: run one test binary with its output in BUILD/NAME.log,
# write its "N passed, N failed" line to BUILD/NAME.result and print one line:
#     NAME   N passed, N failed   T s
# The log is printed above that line when the run failed, and always when VERBOSE=1.
# A run with no summary line (a crash) or a non-zero exit with "0 failed" (e.g. the leak
# checker at exit) counts as one more failure. The exit status is 0 either way: the
# caller adds up the .result files.
build=$1; name=$2; shift 2
log="$build/$name.log"
rm -f "$build/$name.result"
t0=$(date +%s%N 2>/dev/null)
"$@" > "$log" 2>&1; rc=$?
t1=$(date +%s%N 2>/dev/null)
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
why=""
if [ -z "$line" ]; then
    why="no summary line (exit status $rc)"; line="0 passed, 1 failed"
elif [ $rc -ne 0 ] && [ "${line##* passed, }" = "0 failed" ]; then
    why="exit status $rc"; line="${line%% *} passed, 1 failed"
fi
case "$t0$t1" in
*[!0-9]*|'') secs="" ;; # no nanoseconds from this date(1)
*) ms=$(( (t1 - t0) / 1000000 )); secs=$(printf '%d.%02d s' $((ms / 1000)) $((ms % 1000 / 10))) ;;
esac
if [ "${line##* passed, }" != "0 failed" ]; then
    echo "== $name: log $log"
    cat "$log"
    [ -n "$why" ] && echo "$name: $why"
    printf '%-30s %-22s %8s   FAILED\n' "$name" "$line" "$secs"
else
    if [ "$VERBOSE" = 1 ]; then echo "== $name"; cat "$log"; fi
    printf '%-30s %-22s %8s\n' "$name" "$line" "$secs"
fi
echo "$line" > "$build/$name.result"
