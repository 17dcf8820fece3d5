"""Latency of well-formed token requests while hostile local clients hold connections open.

Usage: serve_hostile.py NAME PORT HOST [IDLE] [SLOW] [REQUESTS]
Opens IDLE idle connections and SLOW slowloris connections (one byte of an endless head every
50 ms each), then times REQUESTS token requests, each on a new connection, and prints
"NAME p50_ms p99_ms max_ms failures". Bounded: every socket has a 5 s timeout (a failed
request counts as 5 s), and no request starts after 40 s (the rest count as not sent).
"""
import socket
import statistics
import sys
import threading
import time

name, port, host = sys.argv[1], int(sys.argv[2]), sys.argv[3]
idle_n = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
slow_n = int(sys.argv[5]) if len(sys.argv) > 5 else 100
requests = int(sys.argv[6]) if len(sys.argv) > 6 else 200


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(5)
    return s


idle = []
connect_end = time.monotonic() + 20
for _ in range(idle_n):
    if time.monotonic() > connect_end:
        break
    try:
        idle.append(connect())
    except OSError:
        break
slow = []
for _ in range(slow_n):
    if time.monotonic() > connect_end:
        break
    try:
        slow.append(connect())
    except OSError:
        break
stop = threading.Event()


def loris():
    head = b"GET /token HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 100000
    i = 0
    while not stop.is_set() and i < len(head):
        for s in slow:
            try:
                s.send(head[i : i + 1])
            except OSError:
                pass
        i += 1
        time.sleep(0.05)


t = threading.Thread(target=loris, daemon=True)
t.start()
time.sleep(0.5)
req = (
    f"GET /token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Databricks-Metadata-Version: 1\r\n"
    f"X-Databricks-Host: {host}\r\nConnection: close\r\n\r\n"
).encode()
samples, failures, sent = [], 0, 0
budget_end = time.monotonic() + 40
for _ in range(requests):
    if time.monotonic() > budget_end:
        break
    sent += 1
    start = time.perf_counter()
    try:
        s = connect()
        s.sendall(req)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        if not data.startswith(b"HTTP/1.") or b" 200 " not in data.split(b"\r\n", 1)[0]:
            failures += 1
            continue
    except OSError:
        failures += 1
        samples.append(5.0)
        continue
    samples.append(time.perf_counter() - start)
    time.sleep(0.01)
stop.set()
samples.sort()
ms = lambda x: f"{x * 1000:.2f}"
p50 = statistics.median(samples) if samples else float("nan")
p99 = samples[int((len(samples) - 1) * 0.99)] if samples else float("nan")
mx = samples[-1] if samples else float("nan")
print(f"{name} idle={len(idle)} slowloris={len(slow)} p50_ms={ms(p50)} p99_ms={ms(p99)} max_ms={ms(mx)} failures={failures}/{sent} not_sent={requests - sent}")
