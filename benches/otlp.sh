#!/usr/bin/env bash
# Benchmarks of the OTLP sink, whole-process, with hyperfine and a real
# collector (rotel-agent, see .ci/install-collector). Prints hyperfine's
# tables and a summary of ratios against the file-sink-only hook measured in
# the same run.
#
#   bash benches/otlp.sh            # release build of this checkout
#   RUNS=100 EVENTS=100000 bash benches/otlp.sh
#   BASELINE_BIN=/path/to/older/event-publisher bash benches/otlp.sh
#
# Scenarios (each hook run stores one new event and, with OTLP on, exports
# it: --prepare empties .events/ between runs, spool and breaker included,
# unless said otherwise):
#   fs-only                   the baseline: no OTLP endpoint
#   http up / grpc up         collector up
#   http down (first)         connection refused, breaker closed (each run
#                             pays the refused connect and the fsync)
#   http down (breaker open)  refused, breaker open (state kept): spool only
#   hang (breaker open)       collector accepts and never answers, breaker open
#   hang (first)              the one hook per breaker period that waits out
#                             the deadline (300 ms)
# and `flush` of a spool of $EVENTS events (5 per request, as hooks write
# them) to the collector.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${RUNS:-200}"
EVENTS="${EVENTS:-100000}"
PER_REQUEST=5
# .cargo/config.toml names the target, so builds are under its name.
BIN="${BIN:-$ROOT/target/$(rustc --print host-tuple)/release/event-publisher}"
if [[ -z "${NO_BUILD:-}" ]]; then
    cargo build --release --manifest-path "$ROOT/Cargo.toml" >&2
fi
ROTEL="${ROTEL_AGENT:-$(bash "$ROOT/.ci/install-collector" 2>/dev/null)}"
command -v hyperfine >/dev/null || { echo "hyperfine is needed (apt-get install -y hyperfine)" >&2; exit 1; }

W="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }

GRPC=$(port); HTTP=$(port); DOWN=$(port); HANG=$(port)
"$ROTEL" start --exporter blackhole --otlp-grpc-endpoint "127.0.0.1:$GRPC" --otlp-http-endpoint "127.0.0.1:$HTTP" \
    --pid-file "$W/rotel.pid" --log-file "$W/rotel.log" >"$W/rotel.out" 2>&1 &
PIDS+=($!)
python3 - "$HANG" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024); s.settimeout(1)
held, end = [], time.time() + 3600
while time.time() < end:
    try: held.append(s.accept()[0])
    except OSError: pass
PY
PIDS+=($!)
wait_port "$GRPC"; wait_port "$HTTP"; wait_port "$HANG"

# A sandbox project and the fixture payload of a Bash call in a subagent.
P="$W/project"; mkdir -p "$P" "$W/home/.claude/projects"
cp -r "$ROOT/schemas" "$P/schemas"
sed -e "s#/home/dev/.claude#$W/home/.claude#g; s#/home/dev/project#$P#g" \
    "$ROOT/fixtures/claude-code-2.1.328/foreground-post-tool-use-bash-in-subagent.json" >"$W/payload.json"

hook() { echo "env HOME=$W/home CLAUDE_PROJECT_DIR=$P $* $BIN publish < $W/payload.json"; }
# Optionally the binary of an earlier commit, to see what the sink costs a
# hook that has it off.
BASELINE=()
if [[ -n "${BASELINE_BIN:-}" ]]; then
    BASELINE=(--prepare "rm -rf $P/.events" -n "fs-only (BASELINE_BIN)"
        "env HOME=$W/home CLAUDE_PROJECT_DIR=$P $BASELINE_BIN publish < $W/payload.json")
fi
FRESH="rm -rf $P/.events"
KEEP_BREAKER="rm -rf $P/.events/20* $P/.events/.ids $P/.events/.spool/spans $P/.events/.spool/*.pb"

hyperfine --warmup 10 --runs "$RUNS" --export-json "$W/hooks.json" \
    --prepare "$FRESH" -n "fs-only" "$(hook)" \
    "${BASELINE[@]}" \
    --prepare "$FRESH" -n "http up" "$(hook EVENT_PUBLISHER_OTLP_ENDPOINT=http://127.0.0.1:$HTTP)" \
    --prepare "$FRESH" -n "grpc up" "$(hook EVENT_PUBLISHER_OTLP_ENDPOINT=http://127.0.0.1:$GRPC EVENT_PUBLISHER_OTLP_PROTOCOL=grpc)" \
    --prepare "$FRESH" -n "http down (first)" "$(hook EVENT_PUBLISHER_OTLP_ENDPOINT=http://127.0.0.1:$DOWN)" \
    --prepare "$KEEP_BREAKER" -n "http down (breaker open)" "$(hook EVENT_PUBLISHER_OTLP_ENDPOINT=http://127.0.0.1:$DOWN)" \
    --prepare "$KEEP_BREAKER" -n "hang (breaker open)" "$(hook EVENT_PUBLISHER_OTLP_ENDPOINT=http://127.0.0.1:$HANG)" \
    2>&1 | sed 's/^/  /' || true

hyperfine --warmup 1 --runs 10 --export-json "$W/hang.json" \
    --prepare "$FRESH" -n "hang (first)" "$(hook EVENT_PUBLISHER_OTLP_ENDPOINT=http://127.0.0.1:$HANG)" \
    --prepare "$FRESH" -n "grpc hang (first)" "$(hook EVENT_PUBLISHER_OTLP_ENDPOINT=http://127.0.0.1:$HANG EVENT_PUBLISHER_OTLP_PROTOCOL=grpc)" \
    2>&1 | sed 's/^/  /' || true

# A spool of $EVENTS events, $PER_REQUEST per request: one request made by
# the tool with the collector down, copied under fresh names.
rm -rf "$P/.events"
python3 - "$PER_REQUEST" >"$W/many.json" <<'PY'
import json, sys
n = int(sys.argv[1])
out = "".join('<EVENT>%s</EVENT>\n' % json.dumps({"name": "urlCacher.urlValidated", "attributes": {"url": "https://example.com/%d" % i}}) for i in range(n))
print(json.dumps({"session_id": "bench", "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "tu",
                  "tool_input": {"command": "x"}, "tool_response": {"stdout": out, "stderr": ""}}))
PY
env HOME="$W/home" CLAUDE_PROJECT_DIR="$P" EVENT_PUBLISHER_OTLP_ENDPOINT="http://127.0.0.1:$DOWN" "$BIN" publish <"$W/many.json" 2>/dev/null
python3 - "$P/.events/.spool" "$EVENTS" "$PER_REQUEST" <<'PY'
import os, sys
spool, events, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
[one] = [f for f in os.listdir(spool) if f.endswith(".logs.pb")]
data = open(os.path.join(spool, one), "rb").read()
os.remove(os.path.join(spool, one))
for i in range(events // per):
    with open(os.path.join(spool, "%013d-1-%d.%d.logs.pb" % (1700000000000 + i, i, per)), "wb") as f:
        f.write(data)
os.remove(os.path.join(spool, "state.json"))
PY
rm -f "$P"/.events/.spool/*.traces.pb
cp -a "$P/.events/.spool" "$W/spool.pristine"
du -sh "$W/spool.pristine" | sed 's/^/  spool: /'
RESTORE="rm -rf $P/.events/.spool && cp -a $W/spool.pristine $P/.events/.spool"
hyperfine --runs 3 --export-json "$W/flush.json" \
    --prepare "$RESTORE" -n "flush http ($EVENTS events)" "env HOME=$W/home CLAUDE_PROJECT_DIR=$P $BIN flush --otlp-endpoint http://127.0.0.1:$HTTP" \
    --prepare "$RESTORE" -n "flush grpc ($EVENTS events)" "env HOME=$W/home CLAUDE_PROJECT_DIR=$P $BIN flush --otlp-endpoint http://127.0.0.1:$GRPC --otlp-protocol grpc" \
    2>&1 | sed 's/^/  /' || true

python3 - "$W" "$EVENTS" <<'PY'
import json, sys, os
w, events = sys.argv[1], int(sys.argv[2])
res = {}
for f in ("hooks.json", "hang.json", "flush.json"):
    p = os.path.join(w, f)
    if os.path.exists(p):
        for r in json.load(open(p))["results"]:
            res[r["command"]] = r
base = res["fs-only"]
print("\nsummary (median; ratio against fs-only in this run)")
for name, r in res.items():
    if name.startswith("flush"):
        continue
    print("  %-26s %8.2f ms  %6.2fx  (+%.2f ms)" % (name, r["median"] * 1e3, r["median"] / base["median"], (r["median"] - base["median"]) * 1e3))
for name, r in res.items():
    if name.startswith("flush"):
        per_event = r["median"] / events
        print("  %-26s %8.2f s   %8.0f events/s  (%.1f us per event = %.4fx an fs-only hook)" % (
            name, r["median"], events / r["median"], per_event * 1e6, per_event / base["median"]))
PY
