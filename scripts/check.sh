#!/bin/sh
# Runs every test suite and ends with one line: "check: N passed, N failed"
# (and ", N not run" when a suite could not run here).
# Usage: scripts/check.sh UNIT_BINARY... [-- SPEC_FILE...]
#   unit binaries (cmocka) run under valgrind's memcheck; then the Mustache
#   spec runner on the spec files, or without them on the official spec's
#   required modules in $MUSTACHE_SPEC_DIR (default ../shared/mustache-spec);
#   then the pytest integration suite, which runs build/reportd against real
#   SMTP servers on loopback.
#   A missing official spec is "not run", never passed; under CI=true it fails.
# From the environment (make check sets them):
#   SAN_UNITS    the unit binaries built with ASan+UBSan, run as they are
#   SAN_REPORTD  the ASan+UBSan reportd: the integration suite runs again with it,
#                alongside the first run
#   FUZZ_BINS    libFuzzer targets: each replays its corpus and fuzzes FUZZ_CHECK_TIME s
#   CHECK_SUITES the suites to run (unit spec fuzz integration), all by default
#   CHECK_LOG_DIR where the logs go (default build/test-logs)
set -u
passed=0
failed=0
not_run=0
log_dir=${CHECK_LOG_DIR:-build/test-logs}
mkdir -p "$log_dir"

add() { passed=$((passed + $1)); failed=$((failed + $2)); }
# CHECK_SUITES="unit spec fuzz integration" (any of them) runs only those; all by default.
suite() { case " ${CHECK_SUITES:-unit spec fuzz integration} " in *" $1 "*) true ;; *) false ;; esac; }

units=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do units="$units $1"; shift; done
[ $# -gt 0 ] && shift
specs="$*"

# Sanitizer reports go to files here as well as failing the process, so that
# one is seen even where a test does not look at the exit status.
san_dir=$log_dir/sanitizers
rm -rf "$san_dir" "$san_dir.seen"
mkdir -p "$san_dir"
# Absolute: the sanitizers write there from whatever directory a test runs in.
san_abs=$(cd "$san_dir" && pwd)
san_env() {
    env ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$san_abs/asan" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$san_abs/ubsan" "$@"
}
san_count() { find "$san_dir" -type f | wc -l; }
# Appends the reports written so far to the log $1 and sets them aside.
san_collect() {
    mkdir -p "$san_dir.seen"
    for r in "$san_dir"/*; do cat "$r" >>"$1" && mv "$r" "$san_dir.seen"/; done
}

# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)".
# run_unit LABEL BINARY MODE: MODE valgrind, asan or plain.
run_unit() {
    label=$1
    t=$2
    name=$(basename "$t")
    log="$log_dir/$name.$3.log"
    case $3 in
    valgrind)
        valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=99 "$t" >"$log" 2>&1 ;;
    asan) san_env "$t" >"$log" 2>&1 ;;
    *) "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        # A crash, a valgrind error or a leak: the suite as a whole failed.
        f=1
    fi
    if [ "$3" = asan ] && [ "$(san_count)" -ne 0 ]; then
        san_collect "$log"
        [ "$f" -eq 0 ] && f=1
    fi
    echo "$label $name: $p passed, $f failed"
    [ "$f" -ne 0 ] && sed 's/^/    /' "$log" | tail -n 40
    add "$p" "$f"
}

if command -v valgrind >/dev/null 2>&1 && [ "${VALGRIND:-1}" = 1 ]; then
    mode=valgrind
else
    mode=plain
fi
if suite unit; then
    for t in $units; do run_unit unit "$t" $mode; done
    for t in ${SAN_UNITS:-}; do run_unit "unit (asan+ubsan)" "$t" asan; done
fi

if suite spec; then
    log="$log_dir/mustache-spec.log"
    # shellcheck disable=SC2086
    build/mustache-spec $specs >"$log" 2>&1
    rc=$?
    if [ "$rc" -eq 66 ] && [ -z "$specs" ]; then
        # The official spec is not beside this checkout: say so, never count it as passed.
        if [ "${CI:-}" = true ]; then
            echo "mustache spec: FAILED: the official spec is missing, and CI=true requires it"
            add 0 1
        else
            echo "mustache spec: NOT RUN: the official spec is missing (set MUSTACHE_SPEC_DIR)"
            not_run=$((not_run + 1))
        fi
        sed 's/^/    /' "$log"
    else
        line=$(tail -n 1 "$log")
        p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
        f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
        if [ -z "$p" ]; then p=0; f=1; fi
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
        echo "mustache spec: $p passed, $f failed"
        [ "$f" -ne 0 ] && sed 's/^/    /' "$log" | tail -n 40
        add "$p" "$f"
    fi
fi

# Each fuzz target is one test: its corpus (seeds and kept crash inputs)
# replayed, then FUZZ_CHECK_TIME seconds of fuzzing, with no report.
if suite fuzz && [ -n "${FUZZ_BINS:-}" ]; then
    fuzz_work=$log_dir/fuzz
    rm -rf "$fuzz_work"
    # shellcheck disable=SC2086
    sh tests/fuzz/run.sh "${FUZZ_CHECK_TIME:-3}" "$fuzz_work" $FUZZ_BINS >"$log_dir/fuzz.log" 2>&1
    cat "$log_dir/fuzz.log"
    add "$(grep -c '^fuzz .*: passed' "$log_dir/fuzz.log")" \
        "$(grep -c '^fuzz .*: failed' "$log_dir/fuzz.log")"
    if ! grep -q '^fuzz ' "$log_dir/fuzz.log"; then
        echo "fuzz: no target ran"
        add 0 1
    fi
fi

# Debian's python3, where python3-pytest and python3-aiosmtpd live.
py=/usr/bin/python3
pytest() { $py -m pytest -q -p no:cacheprovider -rfEs "$@"; }
# pytest_result LABEL LOG RC: counts one pytest run from its log and exit status.
pytest_result() {
    label=$1
    log=$2
    rc=$3
    summary=$(grep -E '(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$log" | tail -n 1)
    p=$(num passed)
    f=$(( $(num failed) + $(num error) + $(num errors) + $(num skipped) ))
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    # An integration suite that ran nothing has not passed.
    [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && f=1
    echo "$label: $p passed, $f failed${summary:+ [$summary]}"
    [ "$f" -ne 0 ] && sed 's/^/    /' "$log" | tail -n 80
    add "$p" "$f"
}
num() { echo "$summary" | grep -oE "[0-9]+ $1" | grep -oE '^[0-9]+' || echo 0; }

# The same suite against the sanitizer build, at the same time: both spend
# most of their time waiting on servers and timers.  Installing, packaging,
# check.sh itself and valgrind are about the build, not the binary (and
# valgrind cannot run an ASan binary).
# The clock tests preload libfaketime, whose interposed clock and thread calls
# ASan's own interceptors do not survive; they run against the plain build.
if suite integration; then
    if [ -n "${SAN_REPORTD:-}" ]; then
        rm -f "$log_dir/pytest-asan.rc"
        (
            export REPORTD_BIN="$SAN_REPORTD"
            # The PostgreSQL backend runs in the plain run only: the sanitizers are about
            # reportd's C, which is the same whichever database answers.
            export REPORTD_TEST_BACKENDS=sqlite
            export ASAN_OPTIONS="detect_leaks=1:log_path=$san_abs/asan"
            export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$san_abs/ubsan"
            pytest tests/integration --ignore=tests/integration/test_install.py \
                --ignore=tests/integration/test_valgrind.py --ignore=tests/integration/test_deb.py \
                --ignore=tests/integration/test_check_script.py \
                --deselect tests/integration/test_faults.py::test_clock_jump_forward_takes_over_no_live_claim \
                --deselect tests/integration/test_faults.py::test_daemon_whose_clock_runs_ahead_takes_over_no_live_claim \
                >"$log_dir/pytest-asan.log" 2>&1
            echo $? >"$log_dir/pytest-asan.rc"
        ) &
        san_pid=$!
    fi

    pytest tests/integration >"$log_dir/pytest.log" 2>&1
    pytest_result "integration (pytest)" "$log_dir/pytest.log" $?

    if [ -n "${SAN_REPORTD:-}" ]; then
        wait "$san_pid"
        pytest_result "integration (pytest, asan+ubsan)" "$log_dir/pytest-asan.log" \
            "$(cat "$log_dir/pytest-asan.rc" 2>/dev/null || echo 1)"
        # A report from a process whose exit status no test looked at.
        n=$(san_count)
        if [ "$n" -ne 0 ]; then
            log=$log_dir/pytest-asan-reports.log
            : >"$log"
            san_collect "$log"
            echo "integration (asan+ubsan): $n sanitizer report(s)"
            sed 's/^/    /' "$log" | head -n 80
            add 0 1
        fi
    fi

    # The delivery, engine, fault and crash tests again with 4 and 16 SMTP
    # connections per daemon: every guarantee must hold whatever the number.
    for n in 4 16; do
        log=$log_dir/pytest-conn$n.log
        REPORTD_TEST_CONNECTIONS=$n REPORTD_TEST_BACKENDS=sqlite $py -m pytest -q -p no:cacheprovider -rfEs \
            tests/integration/test_delivery.py tests/integration/test_engine.py \
            tests/integration/test_faults.py tests/integration/test_crash.py >"$log" 2>&1
        pytest_result "integration ($n connections)" "$log" $?
    done
fi

if [ "$not_run" -ne 0 ]; then
    echo "check: $passed passed, $failed failed, $not_run not run"
else
    echo "check: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
