#!/usr/bin/env python3
"""The event bus's figures: delivery throughput to an exec subscriber and to
a webhook on loopback (events/s, `dispatch --once` over a backlog), and
store-to-delivery latency under a steady stream (p50/p99, a following
`dispatch` and a webhook receiver in this process).

Usage: benches/bus.py [-n EVENTS] [--rate PER_SECOND] BINARY
  e.g. benches/bus.py target/release/event-publisher

Each part runs in a fresh temporary project (schemas not needed: the
project accepts unknown events). The figures depend on the machine and
its load; compare runs made on the same machine at the same time.
"""
import argparse
import http.server
import json
import os
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import datetime


def project(subscribers):
    d = tempfile.mkdtemp(prefix="ep-bus-")
    os.makedirs(os.path.join(d, ".claude"))
    with open(os.path.join(d, ".claude/event-publisher.json"), "w") as f:
        json.dump({"unknown_events": "accept", "subscribers": subscribers}, f)
    return d


def env(d):
    e = dict(os.environ)
    e.update(CLAUDE_PROJECT_DIR=d, EVENT_PUBLISHER_AUTO_DISPATCH="0")
    for k in ("CLAUDECODE", "CLAUDE_CODE_SESSION_ID", "TRACEPARENT"):
        e.pop(k, None)
    return e


def emit_many(binary, d, n):
    """Stores n events (one `emit` each, in one shell)."""
    script = "".join(f"{binary} emit bench.e{i} --attr i={i}\n" for i in range(n))
    subprocess.run(["/bin/sh", "-c", script], env=env(d), cwd=d, check=True)


class Receiver:
    """A webhook receiver on loopback: 204 to everything, arrival times kept."""

    def __init__(self):
        self.arrivals = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.arrivals.append((time.time(), json.loads(body)))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def throughput(binary, n, subscriber, label):
    d = project([subscriber])
    emit_many(binary, d, n)
    start = time.perf_counter()
    subprocess.run([binary, "dispatch", "--once", "--timeout", "600s"], env=env(d), cwd=d, check=True,
                   stderr=subprocess.DEVNULL)
    took = time.perf_counter() - start
    print(f"  {label:<28} {n} events in {took:6.2f} s: {n / took:8.0f} events/s")


def latency(binary, n, rate):
    rx = Receiver()
    d = project([{"name": "hook", "on": "*", "webhook": {"url": rx.url}}])
    emit_many(binary, d, 1)  # names the subscriber: its cursor starts here
    dispatcher = subprocess.Popen([binary, "dispatch"], env=env(d), cwd=d,
                                  stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        for i in range(n):
            subprocess.run([binary, "emit", "bench.tick", "--attr", f"i={i}"], env=env(d), cwd=d,
                           check=True)
            time.sleep(1 / rate)
        deadline = time.time() + 30
        while len(rx.arrivals) < n + 1 and time.time() < deadline:
            time.sleep(0.05)
    finally:
        dispatcher.terminate()
        dispatcher.wait()
    lat = []
    for at, body in rx.arrivals:
        if body["type"] != "bench.tick":
            continue
        stored = datetime.fromisoformat(body["data"]["observed_timestamp"].replace("Z", "+00:00"))
        lat.append((at - stored.timestamp()) * 1e3)
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print(f"  store-to-delivery, webhook   {len(lat)} of {n} events at {rate}/s: "
          f"p50 {p(0.5):6.1f} ms  p99 {p(0.99):6.1f} ms  max {lat[-1]:6.1f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("binary")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    print("delivery throughput (dispatch --once over a backlog):")
    throughput(binary, a.n, {"name": "x", "on": "*", "exec": ["true"]}, "exec (true)")
    rx = Receiver()
    throughput(binary, a.n, {"name": "w", "on": "*", "webhook": {"url": rx.url}}, "webhook (loopback)")
    assert len(rx.arrivals) == a.n, len(rx.arrivals)
    latency(binary, a.n // 2, a.rate)


if __name__ == "__main__":
    main()
