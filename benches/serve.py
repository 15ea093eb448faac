"""Benchmarks of `event-publisher serve`, in a real browser (chromium over
WebDriver, as the page tests drive it), and the README's screenshots.

  python3 benches/serve.py screenshots   # docs/serve-timeline.png, docs/serve-waterfall.png
  python3 benches/serve.py bench [RECORDS]  # default 100000

bench prints: serve's start-up over the store; time to first paint and to
a usable timeline and session view; store-to-browser latency p50/p99 (hook
exit to the row in the page); 50 SSE clients at once and serve's memory.
Uses the debug build (target/<host>/debug/event-publisher) unless EVENT_PUBLISHER is set."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "browser"))
from webdriver import REPO, Browser, Sandbox, Serve, wait_for  # noqa: E402


def generate(sandbox, records, per_session=500):
    out = subprocess.run([sys.executable, os.path.join(REPO, "benches", "serve_store.py"),
                          os.path.join(sandbox.project, ".events"), str(records),
                          "--per-session", str(per_session)], check=True, capture_output=True, text=True)
    return int(out.stdout)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_view(browser, url, ready):
    browser.go(url)
    browser.wait_js(ready, "return document.body.dataset.ready === arguments[0]", ready, timeout=120)
    # Navigation start to first contentful paint, and to the view ready
    # (its data fetched and drawn): the page's own clock.
    return browser.js("""
        const paint = performance.getEntriesByName('first-contentful-paint')[0];
        return [paint ? paint.startTime : null, performance.now()];""")


def screenshots():
    sandbox = Sandbox()
    generate(sandbox, 900, per_session=150)
    serve = Serve(sandbox)
    browser = Browser(1280, 820)
    try:
        open_view(browser, serve.url + "?view=timeline", "timeline")
        browser.screenshot(os.path.join(REPO, "docs", "serve-timeline.png"))
        sessions = serve.get("/api/sessions?limit=1")["sessions"]
        open_view(browser, serve.url + "?view=session&id=" + sessions[0]["id"], "session")
        browser.screenshot(os.path.join(REPO, "docs", "serve-waterfall.png"))
    finally:
        browser.close()
        serve.close()
        sandbox.close()


def percentile(values, p):
    s = sorted(values)
    return s[max(0, -(-p * len(s) // 100) - 1)]


def sse_client(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /api/stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
    s.settimeout(60)
    return s


def read_until(s, needle, buf=b""):
    while needle not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("stream ended")
        buf += chunk
    return buf


def bench(records):
    sandbox = Sandbox()
    t = time.monotonic()
    n = generate(sandbox, records)
    print("store: %d records written in %.1f s" % (n, time.monotonic() - t))
    t = time.monotonic()
    serve = Serve(sandbox)
    listening = time.monotonic() - t
    # /metrics answers once every stored record has been summarised.
    urllib.request.urlopen(serve.url + "metrics", timeout=600).read()
    print("serve: listening after %.0f ms; every record summarised (sessions, /metrics) after %.1f s; RSS %d MiB"
          % (listening * 1000, time.monotonic() - t, rss_kib(serve.proc.pid) // 1024))
    browser = Browser()
    try:
        paints, readies = [], []
        for _ in range(3):
            fcp, ready = open_view(browser, serve.url + "?view=timeline", "timeline")
            paints.append(fcp)
            readies.append(ready)
        print("timeline over %d records: first contentful paint %.0f ms, usable (first 100 rows, live) %.0f ms (median of 3)"
              % (n, sorted(paints)[1], sorted(readies)[1]))
        session = serve.get("/api/sessions?limit=1")["sessions"][0]
        readies = []
        for _ in range(3):
            _, ready = open_view(browser, serve.url + "?view=session&id=" + session["id"], "session")
            readies.append(ready)
        print("session view (%d events, %d runs): usable %.0f ms (median of 3)"
              % (session["events"], session["runs"], sorted(readies)[1]))
        open_view(browser, serve.url + "?view=timeline", "timeline")
        browser.wait_js("the stream", "return document.getElementById('live').textContent === 'live'")
        browser.js("""window.__arrived = {};
            new MutationObserver(() => {
              const r = document.querySelector('#rows tr');
              const m = r && r.textContent.match(/latency\\/(\\d+)/);
              if (m && !(m[1] in window.__arrived)) window.__arrived[m[1]] = Date.now();
            }).observe(document.getElementById('rows'), {childList: true});""")
        latencies = []
        for i in range(40):
            sandbox.emit("bench-session", [{"name": "urlCacher.urlValidated",
                                            "attributes": {"url": "https://latency/%d" % i}}],
                         tool_use_id="toolu_lat%d" % i)
            stored = time.time() * 1000
            arrived = wait_for("event %d" % i, lambda: browser.js("return window.__arrived[arguments[0]]", str(i)))
            latencies.append(arrived - stored)
        print("store to browser (hook exit to row in the page), 40 events: p50 %.0f ms, p99 %.0f ms, max %.0f ms"
              % (percentile(latencies, 50), percentile(latencies, 99), max(latencies)))
    finally:
        browser.close()
    before = rss_kib(serve.proc.pid)
    clients = [sse_client(serve.port) for _ in range(50)]
    bufs = [read_until(c, b"retry: 1000\n\n") for c in clients]
    during = rss_kib(serve.proc.pid)
    t = time.monotonic()
    sandbox.emit("bench-session", [{"name": "urlCacher.urlValidated", "attributes": {"url": "https://fanout/%d" % i}}
                                   for i in range(20)], tool_use_id="toolu_fanout")
    for c, b in zip(clients, bufs):
        read_until(c, b"https://fanout/19", b)
    took = time.monotonic() - t
    print("50 SSE clients: serve RSS %d MiB before, %d MiB with them (%.0f KiB per client);"
          " a hook call of 20 events reached all 50 in %.0f ms"
          % (before // 1024, during // 1024, (during - before) / 50, took * 1000))
    for c in clients:
        c.close()
    serve.close()
    sandbox.close()


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "bench"
    if what == "screenshots":
        screenshots()
    else:
        bench(int(sys.argv[2]) if len(sys.argv) > 2 else 100000)
