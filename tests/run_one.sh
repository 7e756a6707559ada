#!/bin/sh
# run_one.sh BUILD NAME COMMAND...: run one test binary, print one line
#     NAME   N passed, N failed   T s
# and write its "N passed, N failed" to BUILD/NAME.result, its output to BUILD/NAME.log.
# The log is printed above the line when the run failed, and always when VERBOSE=1.
# A run with no summary line (a crash) or a non-zero exit with "0 failed" (e.g. the leak
# checker at exit) counts as one more failure. The exit status is 0 either way: the
# caller adds up the .result files.
#
# The command runs in BUILD/run/NAME, a directory that looks like the repository root
# (a symbolic link to each of its entries) with an empty build/ of its own, so that runs
# can go side by side although a suite writes fixed paths under build/ (test_serialize's
# C export). COMMAND must name the binary by an absolute path.
root=$(pwd)
build=$(cd "$1" && pwd) || exit 1
name=$2; shift 2
log="$build/$name.log"
dir="$build/run/$name"
rm -f "$build/$name.result"
rm -rf "$dir" && mkdir -p "$dir/build" || exit 1
for f in "$root"/*; do
    case "$f" in "$build"|"$root/build") continue ;; esac
    ln -s "$f" "$dir/" || exit 1
done
t0=$(date +%s%N 2>/dev/null)
# not the last command of the subshell, so that the subshell waits for it and its
# "Segmentation fault" goes to the log too
(cd "$dir" && "$@"; exit $?) > "$log" 2>&1; rc=$?
t1=$(date +%s%N 2>/dev/null)
# (a Windows program's text-mode stdout ends its lines with CR LF)
line=$(tr -d '\r' < "$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
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
    echo "== $name (log $log, run in $dir)"
    cat "$log"
    [ -n "$why" ] && echo "$name: $why"
    printf '%-30s %-22s %8s   FAILED\n' "$name" "$line" "$secs"
else
    if [ "$VERBOSE" = 1 ]; then echo "== $name"; cat "$log"; fi
    printf '%-30s %-22s %8s\n' "$name" "$line" "$secs"
    rm -rf "$dir"
fi
echo "$line" > "$build/$name.result"
