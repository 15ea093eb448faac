"""Writes a synthetic store for `serve`'s benchmarks and screenshots,
laid out as the fs sink lays it out (day folders, invalid/, the .ids/
index as hard links): SESSIONS sessions, each a main agent and subagent
runs (lifecycle records, start/finish pairs, a dead letter now and then).

Usage: python3 benches/serve_store.py EVENTS_DIR RECORDS [--end ISO] [--seed N]
The last event is at --end (default: now), the sessions spread over the
hours before it."""

import argparse
import datetime as dt
import json
import os
import random
import uuid

NAMES = ["urlCacher.cacheRequested", "urlCacher.urlValidated", "urlCacher.contentFetched",
         "urlCacher.cacheStored"]
AGENTS = ["general-purpose", "Explore", "code-reviewer", "test-runner"]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def compact(ts):
    return ts.replace("-", "").replace(":", "")


class Store:
    def __init__(self, root):
        self.root = root
        self.count = 0

    def put(self, record):
        valid = not record.get("errors")
        day = record["timestamp"][:10]
        day_dir = os.path.join(self.root, day) if valid else os.path.join(self.root, "invalid", day)
        ids = os.path.join(self.root, ".ids", record["id"][:2])
        os.makedirs(day_dir, exist_ok=True)
        os.makedirs(ids, exist_ok=True)
        name = record["name"] or "invalid"
        path = os.path.join(ids, record["id"] + ".json")
        with open(path, "w") as f:
            json.dump(record, f, indent=2)
        os.link(path, os.path.join(day_dir, "%s-%s-%s.json" % (compact(record["timestamp"]), name, record["id"])))
        self.count += 1


def hexid(rng, n):
    return "%0*x" % (n, rng.getrandbits(4 * n))


def session(store, rng, start, budget):
    sid = str(uuid.UUID(int=rng.getrandbits(128)))
    trace = hexid(rng, 32)
    main_span = hexid(rng, 16)
    t = start

    def record(name, at, span, parent, agent, attrs, errors=None, tool="Bash"):
        r = {"id": str(uuid.UUID(int=rng.getrandbits(128))), "name": name, "timestamp": iso(at),
             "observed_timestamp": iso(at), "attributes": attrs, "trace_id": trace, "span_id": span,
             "parent_span_id": parent,
             "source": {"hook_event_name": "PostToolUse", "session_id": sid, "prompt_id": None,
                        "agent_id": agent[0] if agent else None, "agent_type": agent[1] if agent else None,
                        "tool_name": tool, "tool_use_id": "toolu_" + hexid(rng, 8), "cwd": "/home/dev/project",
                        "transcript_path": None}}
        if errors:
            r["errors"] = errors
            r["raw"] = "<EVENT>" + json.dumps({"name": name, "attributes": attrs}) + "</EVENT>"
        store.put(r)
        return r

    written = 0
    url = "https://example.org/docs/%d" % rng.randrange(1000)
    record("urlCacher.cacheRequested", t, main_span, None, None, {"url": url, "cache_path": ".cache/x"})
    written += 1
    runs = rng.randint(1, 3)
    per_run = max(4, (budget - 1) // runs)
    for _ in range(runs):
        if written >= budget:
            break
        agent = (hexid(rng, 17), rng.choice(AGENTS))
        span = hexid(rng, 16)
        t += dt.timedelta(milliseconds=rng.randint(200, 3000))
        record("claudeCode.subagentStarted", t, span, main_span, agent, {"agent_type": agent[1]}, tool=None)
        written += 1
        n = 0
        while n < per_run - 2 and written < budget:
            t += dt.timedelta(milliseconds=rng.randint(50, 1500))
            u = "https://example.org/page/%d" % rng.randrange(100000)
            if rng.random() < 0.3 and written + 2 <= budget:
                record("urlCacher.cacheCheckStarted", t, span, main_span, agent, {"url": u, "cache_path": ".c"})
                t += dt.timedelta(milliseconds=rng.randint(20, 4000))
                fail = rng.random() < 0.15
                if fail:
                    record("urlCacher.cacheCheckFailed", t, span, main_span, agent, {"url": u, "error": "timeout"})
                else:
                    record("urlCacher.cacheCheckCompleted", t, span, main_span, agent, {"url": u, "hit": rng.random() < 0.5})
                n += 2
                written += 2
            elif rng.random() < 0.03:
                record("urlCacher.cacheStored", t, span, main_span, agent, {"url": u, "bytes": "many"},
                       errors=[{"kind": "schema", "instance_path": "/attributes/bytes", "message": "\"many\" is not of type \"integer\""}])
                n += 1
                written += 1
            else:
                record(rng.choice(NAMES[1:3]), t, span, main_span, agent, {"url": u})
                n += 1
                written += 1
        t += dt.timedelta(milliseconds=rng.randint(100, 2000))
        if written < budget:
            record("claudeCode.subagentStopped", t, span, main_span, agent, {"agent_type": agent[1]}, tool=None)
            written += 1
    return written, t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("events_dir")
    p.add_argument("records", type=int)
    p.add_argument("--end", default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--per-session", type=int, default=500)
    a = p.parse_args()
    rng = random.Random(a.seed)
    end = dt.datetime.fromisoformat(a.end.replace("Z", "+00:00")) if a.end else dt.datetime.now(dt.timezone.utc)
    store = Store(a.events_dir)
    sessions = max(1, a.records // a.per_session)
    # Sessions one after another, ending near `end`.
    span = dt.timedelta(minutes=20) * sessions
    start = end - span
    left = a.records
    for i in range(sessions):
        budget = left if i == sessions - 1 else min(left, a.per_session)
        at = start + dt.timedelta(minutes=20) * i
        written, _ = session(store, rng, at, budget)
        left -= written
        if left <= 0:
            break
    print(store.count)


if __name__ == "__main__":
    main()
