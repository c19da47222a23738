#!/bin/sh
# `make bench`: reportd's speed and memory, measured on this machine in one
# run and reported as medians (the machine is shared and noisy, so these are
# not pass/fail tests).
#   1. render: bench-render, in-process, median of rounds
#   2. delivery: `reportd run --drain` of N signups to postfix's smtp-sink on
#      loopback, with 1 and 4 SMTP connections; median wall time of 3 runs,
#      messages/s, and peak RSS from /usr/bin/time.
set -eu
cd "$(dirname "$0")/.."
N=${BENCH_SIGNUPS:-2000}
RUNS=${BENCH_RUNS:-3}
work=$(mktemp -d /tmp/reportd-bench.XXXXXX)
sink_pid=""
trap '[ -n "$sink_pid" ] && kill $sink_pid 2>/dev/null; rm -rf "$work"' EXIT INT TERM

echo "== render"
build/bench-render config/reportd.dev.yaml 2000 7

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
user_flag=""
[ "$(id -u)" -eq 0 ] && user_flag="-u nobody"
# shellcheck disable=SC2086
/usr/sbin/smtp-sink $user_flag 127.0.0.1:"$port" 256 >/dev/null &
sink_pid=$!
sleep 0.5

/usr/bin/python3 - "$N" >"$work/signups.json" <<'PY'
import json, sys
n = int(sys.argv[1])
tasks = ["write-production-code", "develop-apis", "design-systems", "review-code", "write-tests"]
print(json.dumps([{"email": f"bench{i}@example.com", "name": f"Person {i}",
                   "role": "backend-developer", "level": ["junior", "mid", "senior", "lead"][i % 4],
                   "tasks": [{"id": tasks[(i + k) % 5], "share": 25} for k in range(3)],
                   "skills": ["python", "sql", "system-design"]} for i in range(n)]))
PY

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

for conns in 1 4; do
    : >"$work/times"
    : >"$work/rss"
    i=0
    while [ $i -lt "$RUNS" ]; do
        i=$((i + 1))
        rm -f "$work"/queue.db*
        sed -e "s|./var/queue.db|$work/queue.db|" -e "s|127.0.0.1:2525|127.0.0.1:$port|" \
            -e "s|timeout: 10s|timeout: 10s\n  connections: $conns|" \
            config/reportd.dev.yaml >"$work/reportd.yaml"
        build/reportd -c "$work/reportd.yaml" enqueue --file "$work/signups.json" >/dev/null
        /usr/bin/time -f "%e %M" -o "$work/time" \
            build/reportd -c "$work/reportd.yaml" run --drain 2>"$work/log"
        sent=$(build/reportd -c "$work/reportd.yaml" status --json |
            /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["sent"])')
        if [ "$sent" -ne "$N" ]; then
            echo "bench: only $sent of $N sent" >&2
            tail -n 5 "$work/log" >&2
            exit 1
        fi
        cut -d' ' -f1 "$work/time" >>"$work/times"
        cut -d' ' -f2 "$work/time" >>"$work/rss"
    done
    t=$(median <"$work/times")
    rss=$(median <"$work/rss")
    rate=$(awk -v n="$N" -v t="$t" 'BEGIN { printf "%.0f", n / t }')
    echo "== delivery, $conns connection(s): $N messages in median ${t}s = $rate msg/s, peak RSS median $((rss / 1024)) MiB ($RUNS runs)"
done
