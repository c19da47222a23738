#!/bin/sh
# Runs every test suite and ends with one line: "check: N passed, N failed".
# Usage: scripts/check.sh UNIT_BINARY... -- SPEC_FILE...
#   unit binaries (cmocka) run under valgrind's memcheck; then the Mustache
#   spec runner on the spec files; then the pytest integration suite, which
#   runs build/reportd against real SMTP servers on loopback.
set -u
passed=0
failed=0
log_dir=build/test-logs
mkdir -p "$log_dir"

add() { passed=$((passed + $1)); failed=$((failed + $2)); }

units=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do units="$units $1"; shift; done
[ $# -gt 0 ] && shift
specs="$*"

# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)".
for t in $units; do
    name=$(basename "$t")
    log="$log_dir/$name.log"
    if command -v valgrind >/dev/null 2>&1 && [ "${VALGRIND:-1}" = 1 ]; then
        valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=99 "$t" >"$log" 2>&1
    else
        "$t" >"$log" 2>&1
    fi
    rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        # A crash, a valgrind error or a leak: the suite as a whole failed.
        f=1
    fi
    echo "unit $name: $p passed, $f failed"
    [ "$f" -ne 0 ] && sed 's/^/    /' "$log" | tail -n 40
    add "$p" "$f"
done

if [ -n "$specs" ]; then
    log="$log_dir/mustache-spec.log"
    build/mustache-spec $specs >"$log" 2>&1
    rc=$?
    line=$(tail -n 1 "$log")
    p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then p=0; f=1; fi
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    echo "mustache spec: $p passed, $f failed"
    [ "$f" -ne 0 ] && sed 's/^/    /' "$log" | tail -n 40
    add "$p" "$f"
fi

# Debian's python3, where python3-pytest and python3-aiosmtpd live.
py=/usr/bin/python3
log="$log_dir/pytest.log"
$py -m pytest -q -p no:cacheprovider -rfEs tests/integration >"$log" 2>&1
rc=$?
summary=$(grep -E '(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$log" | tail -n 1)
num() { echo "$summary" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }
p=$(num passed)
f=$(( $(num failed) + $(num error) + $(num errors) + $(num skipped) ))
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
# An integration suite that ran nothing has not passed.
[ "$p" -eq 0 ] && [ "$f" -eq 0 ] && f=1
echo "integration (pytest): $p passed, $f failed${summary:+ [$summary]}"
[ "$f" -ne 0 ] && sed 's/^/    /' "$log" | tail -n 80
add "$p" "$f"

echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
