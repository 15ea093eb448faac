#!/usr/bin/env bash
# Peak memory of one `publish` on a 50 MB Bash payload (with 1,000 markers
# spread through it), against `cat` of the same payload and the payload's
# size. Needs GNU time (apt-get install time).
# Run: benches/memory.sh [size in MB, default 50]
set -euo pipefail
cd "$(dirname "$0")/.."
mb=${1:-50}
cargo build --release -q
bin=target/$(rustc --print host-tuple)/release/event-publisher  # .cargo/config.toml names the target
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/project"
cp -r schemas "$work/project/"
python3 - "$work/payload.json" "$mb" <<'PY'
import json, sys
path, mb = sys.argv[1], int(sys.argv[2])
line = "drwxr-xr-x  2 user user 4096 Aug 12 16:30 some/path/to/a/file.txt\n"
marker = '<EVENT>{"name": "urlCacher.urlValidated", "attributes": {"url": "https://example.com/%d"}}</EVENT>\n'
chunk = line * 800
parts, size, i = [], 0, 0
while size < mb * 1_000_000:
    parts.append(chunk); parts.append(marker % i); size += len(chunk) + 80; i += 1
json.dump({"session_id": "s", "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": "t",
           "tool_input": {"command": "ls -lR"}, "tool_response": {"stdout": "".join(parts), "stderr": ""}},
          open(path, "w"))
PY
size=$(stat -c %s "$work/payload.json")
peak() { /usr/bin/time -f %M "$@" < "$work/payload.json" 2>&1 >/dev/null | tail -1; }
cat_kb=$(peak cat)
ep_kb=$(CLAUDE_PROJECT_DIR="$work/project" EVENT_PUBLISHER_MAX_MARKERS=100000 peak "$bin" publish)
stored=$(find "$work/project/.events" -name '*.json' -path '*/20*' | wc -l)
echo "payload: $((size / 1000000)) MB, $stored events stored"
echo "peak RSS: cat $((cat_kb / 1024)) MiB; event-publisher $((ep_kb / 1024)) MiB = $(python3 -c "print(f'{$ep_kb*1024/$size:.2f}')")x the payload size"
