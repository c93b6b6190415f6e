#!/usr/bin/env bash
# HTTP/1.1 keep-alive throughput of corio's examples/http_server.rs against the same minimal
# server on tokio and on may (bench-http/), measured with wrk; then the RSS of each server
# holding 10,000 idle keep-alive connections.
#
#   scripts/http_bench.sh            # 10 s runs, 3 repetitions, 100 and 1000 connections
#   DURATION=3 REPS=1 scripts/http_bench.sh   # quick variant
#   CONNS=1000 REPS=5 IDLE=0 scripts/http_bench.sh   # one connection count, no RSS part
#
# Runs interleave the servers (corio, tokio, may, corio, ...) so drift hits all alike. Every
# server gets THREADS scheduler/worker threads (default 2) and wrk 2 threads, on this machine.
set -euo pipefail

DURATION=${DURATION:-10}
REPS=${REPS:-3}
CONNS=${CONNS:-"100 1000"}
THREADS=${THREADS:-2}
IDLE=${IDLE:-10000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

if ! command -v wrk >/dev/null; then
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release --example http_server --manifest-path "$ROOT/Cargo.toml" >&2
CARGO_TARGET_DIR="$TARGET/bench-http" cargo build --release --manifest-path "$ROOT/bench-http/Cargo.toml" >&2

declare -A CMD PORT
CMD[corio]="$TARGET/release/examples/http_server --serve 127.0.0.1:18080 --threads $THREADS"
CMD[tokio]="$TARGET/bench-http/release/tokio_http 127.0.0.1:18081 $THREADS"
CMD[may]="$TARGET/bench-http/release/may_http 127.0.0.1:18082 $THREADS"
PORT[corio]=18080
PORT[tokio]=18081
PORT[may]=18082
SERVERS="corio tokio may"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

declare -A PID
for s in $SERVERS; do
    ${CMD[$s]} >/dev/null &
    PID[$s]=$!
    PIDS+=("$!")
done
for s in $SERVERS; do
    for _ in $(seq 50); do
        curl -fs "http://127.0.0.1:${PORT[$s]}/" >/dev/null 2>&1 && break
        # No curl: fall back to bash's /dev/tcp.
        (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$s]}") 2>/dev/null && break
        sleep 0.1
    done
done

RESULTS=$(mktemp)
echo "# wrk -t2 -d${DURATION}s, $REPS repetitions, servers on $THREADS threads, $(nproc) cores, kernel $(uname -r)"
for rep in $(seq "$REPS"); do
    for c in $CONNS; do
        for s in $SERVERS; do
            out=$(wrk -t2 -c"$c" -d"${DURATION}s" --latency "http://127.0.0.1:${PORT[$s]}/" 2>&1)
            rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
            p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
            errs=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")
            echo "$s $c $rps $p99" >>"$RESULTS"
            echo "rep $rep  c=$c  $s: $rps req/s, p99 $p99 ${errs}"
        done
    done
done

echo
# "vs tokio": the median over repetitions of the ratio within one repetition (the runs of one
# repetition are adjacent in time, so machine noise hits them alike).
echo "| server | connections | req/s (median of $REPS) | p99 (median) | vs tokio (median of per-rep ratios) |"
echo "|---|---|---|---|---|"
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s/,"",v); print v*1000000} else print v}'; }
for c in $CONNS; do
    for s in $SERVERS; do
        rps=$(awk -v s="$s" -v c="$c" '$1==s && $2==c {print $3}' "$RESULTS" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        p99=$(awk -v s="$s" -v c="$c" '$1==s && $2==c {print $4}' "$RESULTS" | while read -r v; do echo "$v" | to_us; done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        ratio=$(paste <(awk -v s="$s" -v c="$c" '$1==s && $2==c {print $3}' "$RESULTS") \
                      <(awk -v c="$c" '$1=="tokio" && $2==c {print $3}' "$RESULTS") |
            awk '$2 > 0 {print $1/$2}' | sort -n | awk '{a[NR]=$1} END {if (NR) printf "%.2fx", a[int((NR+1)/2)]; else print "-"}')
        echo "| $s | $c | $rps | ${p99} us | $ratio |"
    done
done

[ "$IDLE" -gt 0 ] || exit 0
echo
echo "| server | RSS idle (KiB) | RSS with $IDLE idle keep-alive connections (KiB) | per connection (bytes) |"
echo "|---|---|---|---|"
for s in $SERVERS; do
    before=$(awk '/^VmRSS/ {print $2}' "/proc/${PID[$s]}/status")
    after=$(python3 "$ROOT/scripts/hold_idle.py" "${PORT[$s]}" "$IDLE" "${PID[$s]}")
    per=$(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN {printf "%d", (a-b)*1024/n}')
    echo "| $s | $before | $after | $per |"
done
