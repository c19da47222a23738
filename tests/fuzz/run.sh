#!/bin/sh
# Runs libFuzzer targets: each first replays its seeds (tests/fuzz/corpus/NAME/,
# which also keeps every input that once crashed it), then fuzzes.
# Usage: tests/fuzz/run.sh SECONDS WORK_DIR build/fuzz/fuzz_NAME...
#   SECONDS   how long each target fuzzes after the replay
#   WORK_DIR  where new corpus entries, crash inputs and logs go
#   $FUZZ_ARGS  more libFuzzer flags, e.g. "-max_len=65536 -len_control=0"
# Prints "fuzz NAME: passed|failed (...)" per target; exits 1 if any failed.
set -u
secs=$1
work=$2
shift 2
status=0
for bin in "$@"; do
    name=$(basename "$bin" | sed 's/^fuzz_//')
    seeds=tests/fuzz/corpus/$name
    corpus=$work/corpus/$name
    crashes=$work/crashes
    log=$work/$name.log
    mkdir -p "$corpus" "$crashes"
    [ -d "$seeds" ] || seeds=$corpus
    # -timeout: one input slower than this is a hang; -rss_limit_mb: a leak
    # or a blow-up.  Leaks are reported (and fail) through LeakSanitizer.
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$crashes/$name-" ${FUZZ_ARGS:-} "$corpus" "$seeds" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz $name: passed (${runs:-?} inputs in ${secs}s)"
    else
        status=1
        echo "fuzz $name: failed (exit $rc; log $log, inputs in $crashes/)"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 5 | sed 's/^/    /'
    fi
done
exit $status
