#!/usr/bin/env bash
# Soak test of the example HTTP server: serves wrk's load on 127.0.0.1 for a while on each
# backend and fails if its memory (VmRSS) or its descriptor count grows after warm-up.
#
#   bench/soak.sh [DURATION]     DURATION per backend: minutes (default 2), or seconds as `20s`
#
# Per backend (CORIO_BACKEND=io_uring, then posix) it starts
# `target/release/examples/http_server --serve 127.0.0.1:0`, drives it with two wrk runs at
# once (64 keep-alive connections, and 8 connections that send `Connection: close`, so
# descriptors are opened and closed all the time), samples /proc/PID/status VmRSS and
# /proc/PID/fd every SOAK_INTERVAL seconds (default 10; 4 for runs under a minute), and after
# the load, idle, once more. The first sample after the warm-up (a quarter of the run) is the
# baseline. It fails if
#   * a later sample's RSS exceeds the baseline by more than SOAK_RSS_TOLERANCE_KB (default
#     16384) plus 10 %,
#   * a later sample has more than SOAK_FD_TOLERANCE (default 48) descriptors above the
#     baseline (connections come and go, so the count moves),
#   * idle after the load, the server holds more than 4 descriptors more than it did idle
#     before it (a connection never closed),
#   * wrk completed no request, or the server exited.
# The server is always stopped (also on failure or Ctrl-C). Only loopback traffic.
set -euo pipefail
cd "$(dirname "$0")/.."

duration_arg=${1:-2}
case "$duration_arg" in
  *s) seconds=${duration_arg%s} ;;
  *) seconds=$((duration_arg * 60)) ;;
esac
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 8 ]] || { echo "soak: duration must be at least 8s" >&2; exit 2; }
if [[ -n "${SOAK_INTERVAL:-}" ]]; then
  interval=$SOAK_INTERVAL
elif ((seconds < 60)); then
  interval=4
else
  interval=10
fi
warmup=$((seconds / 4))
rss_tolerance_kb=${SOAK_RSS_TOLERANCE_KB:-16384}
fd_tolerance=${SOAK_FD_TOLERANCE:-48}
backends=${SOAK_BACKENDS:-io_uring posix}

command -v wrk >/dev/null || { echo "soak: wrk is not installed" >&2; exit 2; }
cargo build --quiet --release --example http_server
server_bin=target/release/examples/http_server

workdir=$(mktemp -d)
server_pid=
wrk_pids=()
cleanup() {
  for pid in "${wrk_pids[@]}" $server_pid; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${wrk_pids[@]}" $server_pid; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
alive() { kill -0 "$1" 2>/dev/null; }

failures=0
for backend in $backends; do
  echo "=== soak: $backend, ${seconds}s (warm-up ${warmup}s, a sample every ${interval}s)"
  log=$workdir/server-$backend.log
  CORIO_BACKEND=$backend "$server_bin" --serve 127.0.0.1:0 --threads 2 >"$log" 2>&1 &
  server_pid=$!
  addr=
  for _ in $(seq 100); do
    addr=$(sed -n 's|.*serving on http://\([0-9.:]*\).*|\1|p' "$log" | head -n1)
    [[ -n "$addr" ]] && break
    alive "$server_pid" || break
    sleep 0.2
  done
  if [[ -z "$addr" ]]; then
    echo "soak: $backend: the server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  case "$addr" in 127.0.0.1:*) ;; *) echo "soak: not a loopback address: $addr" >&2; exit 1 ;; esac
  idle_fds_before=$(fds "$server_pid")
  echo "server $server_pid on $addr; idle: $(rss_kb "$server_pid") kB, $idle_fds_before fds"

  wrk -t1 -c64 -d"${seconds}s" --latency "http://$addr/" >"$workdir/wrk-keepalive-$backend.txt" 2>&1 &
  wrk_pids=($!)
  wrk -t1 -c8 -d"${seconds}s" -H "Connection: close" "http://$addr/" >"$workdir/wrk-close-$backend.txt" 2>&1 &
  wrk_pids+=($!)

  start=$SECONDS
  base_rss=
  base_fds=
  max_rss=0
  max_fds=0
  while true; do
    sleep "$interval"
    elapsed=$((SECONDS - start))
    alive "$server_pid" || { echo "soak: $backend: the server exited" >&2; cat "$log" >&2; exit 1; }
    rss=$(rss_kb "$server_pid")
    n=$(fds "$server_pid")
    printf '  t=%3ds  rss %7d kB  fds %5d\n' "$elapsed" "$rss" "$n"
    if ((elapsed >= seconds)); then
      break
    elif ((elapsed >= warmup)); then
      if [[ -z "$base_rss" ]]; then
        base_rss=$rss
        base_fds=$n
      fi
      ((rss > max_rss)) && max_rss=$rss
      ((n > max_fds)) && max_fds=$n
    fi
  done
  for pid in "${wrk_pids[@]}"; do
    wait "$pid" || { echo "soak: $backend: wrk failed" >&2; failures=$((failures + 1)); }
  done
  wrk_pids=()
  sleep 2
  idle_rss=$(rss_kb "$server_pid")
  idle_fds_after=$(fds "$server_pid")
  echo "  after the load, idle: rss $idle_rss kB, fds $idle_fds_after"
  ((idle_rss > max_rss)) && max_rss=$idle_rss

  for kind in keepalive close; do
    summary=$(grep -E "requests in|Socket errors|Non-2xx" "$workdir/wrk-$kind-$backend.txt" | tr -s ' ' | paste -sd ';' -)
    echo "  wrk ($kind): $summary"
    requests=$(awk '/requests in/ { print $1 }' "$workdir/wrk-$kind-$backend.txt")
    if [[ -z "$requests" || "$requests" -eq 0 ]]; then
      echo "soak: $backend: wrk ($kind) completed no request" >&2
      cat "$workdir/wrk-$kind-$backend.txt" >&2
      failures=$((failures + 1))
    fi
  done

  if [[ -z "$base_rss" ]]; then
    echo "soak: $backend: no sample after the warm-up (run longer)" >&2
    failures=$((failures + 1))
  else
    rss_limit=$((base_rss + base_rss / 10 + rss_tolerance_kb))
    fd_limit=$((base_fds + fd_tolerance))
    echo "  baseline after warm-up: rss $base_rss kB, fds $base_fds; largest since: rss $max_rss kB (limit $rss_limit), fds $max_fds (limit $fd_limit)"
    if ((max_rss > rss_limit)); then
      echo "soak: $backend: RSS grew from $base_rss kB to $max_rss kB after warm-up" >&2
      failures=$((failures + 1))
    fi
    if ((max_fds > fd_limit)); then
      echo "soak: $backend: descriptors grew from $base_fds to $max_fds after warm-up" >&2
      failures=$((failures + 1))
    fi
  fi
  if ((idle_fds_after > idle_fds_before + 4)); then
    echo "soak: $backend: idle, the server holds $idle_fds_after descriptors (before the load: $idle_fds_before)" >&2
    failures=$((failures + 1))
  fi

  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
done

if ((failures > 0)); then
  echo "soak: $failures check(s) failed" >&2
  exit 1
fi
echo "soak: passed"
