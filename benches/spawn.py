#!/usr/bin/env python3
"""Hook latency as Claude Code sees it: each command spawned with
posix_spawn, the payload file on stdin, stdout and stderr on /dev/null,
runs interleaved so that machine noise hits every command alike.

Prints the median wall time and minor page faults of each command and its
ratio to the first (the baseline, `cat`).

Usage: benches/spawn.py [-n RUNS] PAYLOAD LABEL=COMMAND [LABEL=COMMAND ...]
  e.g. benches/spawn.py payload.json cat=/bin/cat \
         "event-publisher=target/x86_64-unknown-linux-gnu/release/event-publisher publish"

Commands run in this process's environment (set CLAUDE_PROJECT_DIR first).
By default each run gets the payload as it is, so from the second run on
the hook finds its events already stored (a payload seen twice). With
--new-session each run gets the payload under a new session_id, so the hook
stores new events into an existing .events/ (the common case). Payloads are
rewritten outside the timed part.

Run it on a file system that has not just deleted many files: ext4 skips
inodes freed in the last half minute when it allocates new ones, and a
hook creating files after a mass deletion pays for that scan.
"""
import argparse
import json
import os
import shlex
import shutil
import statistics
import tempfile
import time
import uuid


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300, help="runs of each command")
    ap.add_argument("--new-session", action="store_true", help="a new session_id for every run")
    ap.add_argument("payload")
    ap.add_argument("commands", nargs="+", metavar="LABEL=COMMAND")
    a = ap.parse_args()
    commands = []
    for spec in a.commands:
        label, _, command = spec.partition("=")
        argv = shlex.split(command)
        argv[0] = shutil.which(argv[0]) or argv[0]
        commands.append((label, argv))
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    devnull = os.open(os.devnull, os.O_WRONLY)
    with open(a.payload, "rb") as f:
        payload = json.load(f)
    scratch = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
    scratch.close()
    runs = {label: [] for label, _ in commands}
    for _ in range(a.n):
        for label, argv in commands:
            path = a.payload
            if a.new_session:
                payload["session_id"] = str(uuid.uuid4())
                with open(scratch.name, "w") as f:
                    json.dump(payload, f)
                path = scratch.name
            fd = os.open(path, os.O_RDONLY)
            actions = [
                (os.POSIX_SPAWN_DUP2, fd, 0),
                (os.POSIX_SPAWN_DUP2, devnull, 1),
                (os.POSIX_SPAWN_DUP2, devnull, 2),
            ]
            start = time.perf_counter()
            pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
            _, status, usage = os.wait4(pid, 0)
            took = time.perf_counter() - start
            os.close(fd)
            if status != 0:
                raise SystemExit(f"{label} failed: wait status {status}")
            runs[label].append((took, usage.ru_minflt))
    os.unlink(scratch.name)
    base = statistics.median(t for t, _ in runs[commands[0][0]])
    print(f"medians of {a.n} interleaved runs:")
    for label, _ in commands:
        took = statistics.median(t for t, _ in runs[label])
        faults = statistics.median(f for _, f in runs[label])
        print(f"  {label:<18} {took * 1e3:7.3f} ms  {took / base:5.2f}x  {faults:5.0f} page faults")


if __name__ == "__main__":
    main()
