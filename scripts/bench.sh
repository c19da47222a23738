#!/bin/sh
# `make bench`: reportd's delivery engine measured in one run, printed as one
# markdown table for README's Performance section (also left in
# build/bench.md). The work is tests/bench/bench.py; see its header for the
# knobs. BENCH_QUICK=1 is a smoke run of about a minute; the default
# run takes about ten minutes. Progress goes to stderr.
set -eu
cd "$(dirname "$0")/.."
for f in build/reportd /usr/sbin/smtp-sink /usr/sbin/smtp-source /usr/bin/python3 /usr/bin/time; do
    if [ ! -x "$f" ]; then
        echo "bench: $f is missing (make bench builds and installs what it needs)" >&2
        exit 1
    fi
done
exec /usr/bin/python3 tests/bench/bench.py
