# checks.sh - sourced by the shell checks (examples_check.sh, install_check.sh,
# embedded_check.sh): a scratch directory $out removed on exit, and
#   check NAME COMMAND...   run it, print "ok   NAME" or "FAIL NAME" and the end of
#                           its output, count it
#   checks_end              print "N passed, N failed" and exit 0 only if none failed
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT INT TERM
pass=0
fail=0
check() {
    name=$1; shift
    if "$@" >"$out/log" 2>&1; then
        pass=$((pass + 1)); echo "ok   $name"
    else
        fail=$((fail + 1)); echo "FAIL $name"; sed 's/^/  /' "$out/log" | tail -30
    fi
}
checks_end() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
