#!/usr/bin/env python3
"""Opens N keep-alive connections to 127.0.0.1:PORT, sends one request on each and reads its
answer, then (all of them open and idle) prints the VmRSS in KiB of process PID, and closes
them. Usage: hold_idle.py PORT N PID"""
import socket
import sys
import time

port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    got = b""
    while b"Hello, World!" not in got:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit(f"connection {i} closed by the server")
        got += chunk
    socks.append(s)
time.sleep(1)
with open(f"/proc/{pid}/status") as f:
    rss = next(line.split()[1] for line in f if line.startswith("VmRSS"))
print(rss)
for s in socks:
    s.close()
time.sleep(1)
