#!/usr/bin/env python3
"""Pinned HTTP runs, interleaved, with paired ratios: each repetition runs every server once per
case through `corio-bench --one CASE IMPL` (server on core 1 with one thread, `wrk -t1` on core
0; the figure is the server's CPU time per request), then prints medians and the median of the
per-repetition ratios of the first server to each other one.

usage: bench/http_pinned.py IMPL,IMPL,... CASE,CASE,... REPETITIONS [--quick]
e.g.   bench/http_pinned.py corio-coro,tokio,monoio http/pin-c100,http/pin-c1000 5 --quick

Build first: `cargo build --release --example http_server` (root) and `cargo build --release`
(bench/). Implementations ending in `-posix` run with CORIO_BACKEND=posix. Raw results are
written to target/bench-report/http_pinned.json.
"""
import json, os, statistics, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bench = os.path.join(root, "bench", "target", "release")
example = os.path.join(root, "target", "release", "examples", "http_server")
servers = {
    "corio-coro": example, "corio-coro-byhand": example, "corio-coro-posix": example,
    "io-uring": "uring_http", "io-uring-multishot": "uring_ms_http", "tokio": "tokio_http",
    "monoio": "monoio_http", "may": "may_http", "hyper-corio": "hyper_corio_http",
    "hyper-tokio": "hyper_tokio_http",
}
env = dict(os.environ)
env["CORIO_BENCH_HTTP_SERVERS"] = json.dumps({k: {"Ok": os.path.join(bench, v)} for k, v in servers.items()})

impls, cases, reps = sys.argv[1].split(","), sys.argv[2].split(","), int(sys.argv[3])
quick = ["--quick"] if "--quick" in sys.argv else []
results = {}
for rep in range(reps):
    for case in cases:
        for imp in impls:
            e = dict(env)
            if imp.endswith("-posix"):
                e["CORIO_BACKEND"] = "posix"
            out = subprocess.run([os.path.join(bench, "corio-bench"), "--one", case, imp] + quick,
                                 env=e, capture_output=True, text=True)
            line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
            if not line:
                print("FAILED", case, imp, out.stderr[-300:], flush=True)
                continue
            r = json.loads(line[0][len("RESULT "):])
            results.setdefault(case, {}).setdefault(imp, []).append(r)
            print(rep, case, imp, round(r["value"], 3), {k: round(v, 2) for k, v in r["extra"].items()}, flush=True)
os.makedirs(os.path.join(root, "target", "bench-report"), exist_ok=True)
json.dump(results, open(os.path.join(root, "target", "bench-report", "http_pinned.json"), "w"))
for case, by_impl in results.items():
    print("\n##", case)
    base = by_impl.get(impls[0])
    for imp, rs in by_impl.items():
        line = f"{imp:20s} {statistics.median(r['value'] for r in rs):8.3f} us/req"
        for k in ["k_req_s", "p99_us"]:
            line += f"  {k} {statistics.median(r['extra'].get(k, float('nan')) for r in rs):9.2f}"
        if base and imp != impls[0]:
            pairs = [a["value"] / b["value"] for a, b in zip(base, rs)]
            line += f"  paired {impls[0]}/{imp} {statistics.median(pairs):.3f}"
        print(line)
