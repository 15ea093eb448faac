#!/usr/bin/env bash
# Writes hook.order: the functions a `publish` hook call runs, which build.rs
# hands to the linker (lld's --symbol-ordering-file) so that they sit next
# to each other in the binary. A hook process touches its code once, page by
# page; with that code scattered over 7 MB of text, each page fault maps a
# 64 KB window of mostly cold code (see the README, "Where the hook's time
# goes").
#
# Usage: benches/hook-order.sh               regenerate hook.order
#        benches/hook-order.sh --check [MIN]  say how much of hook.order the
#                                            current build still has; fail
#                                            below MIN percent (default 90)
#
# Regenerate it after a toolchain or dependency update: symbol names carry
# hashes that change then, and the linker skips names it does not know
# (nothing breaks, start-up is only slower). Needs valgrind and python3;
# --check needs only nm (binutils, there wherever Rust links), which is
# what CI runs (.ci/test).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nm > /dev/null || { echo "hook-order.sh: nm not found (apt-get install binutils)" >&2; exit 1; }
target=target/hook-order
mkdir -p "$target"
# The release build itself, its binary linked unstripped (`-C strip=none`
# for the binary crate only), so that callgrind and nm see the names the
# linker sees. Symbol names carry a hash of cargo's metadata for each
# crate, which covers the profile (`strip` included) and whether the
# target is named: a build with other settings names every function
# differently.
cargo rustc --release --quiet --bin event-publisher -- -C strip=none
# .cargo/config.toml names the target, so the build is under its name.
cp "target/$(rustc --print host-tuple)/release/event-publisher" "$target/event-publisher"
bin=$target/event-publisher
nm --defined-only "$bin" | awk '$2 ~ /^[tTwW]$/ {print $3}' | sort -u > "$target/symbols"

if [ "${1:-}" = --check ]; then
  min=${2:-90}
  total=$(grep -c . hook.order)
  known=$(grep -cxFf "$target/symbols" hook.order || true)
  percent=$((known * 100 / (total > 0 ? total : 1)))
  echo "hook.order: $known of $total functions ($percent%) are in the current build; at least $min% wanted"
  # The stripped release binary again, as users get it.
  cargo build --release --quiet --bin event-publisher
  if [ "$percent" -lt "$min" ]; then
    echo "hook.order is stale: run benches/hook-order.sh (needs valgrind) and commit it" >&2
    exit 1
  fi
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/project"
cp -r schemas "$work/project/schemas"
fixtures=fixtures/claude-code-2.1.328
# The paths a hook call takes: markers stored, the same markers seen again,
# a rejected marker with feedback, a payload without markers.
python3 - "$work" "$fixtures" <<'PY'
import json, sys
work, fixtures = sys.argv[1], sys.argv[2]
agent = json.load(open(f"{fixtures}/foreground-post-tool-use-agent.json"))
agent["cwd"] = f"{work}/project"
json.dump(agent, open(f"{work}/1-agent.json", "w"))
json.dump(agent, open(f"{work}/2-agent-again.json", "w"))
bash = {
    "session_id": "order", "hook_event_name": "PostToolUse", "tool_name": "Bash",
    "tool_use_id": "toolu_order", "cwd": f"{work}/project", "tool_input": {"command": "echo"},
    "tool_response": {"stdout": '<EVENT>{"name": "urlCacher.cacheRequested", "attributes": {"url": 1}}</EVENT>', "stderr": ""},
}
json.dump(bash, open(f"{work}/3-rejected.json", "w"))
json.dump(json.load(open(f"{fixtures}/background-stop.json")), open(f"{work}/4-no-marker.json", "w"))
PY
for payload in "$work"/*.json; do
  env -u LD_LIBRARY_PATH CLAUDE_PROJECT_DIR="$work/project" HOME="$work" XDG_CONFIG_HOME="$work/config" \
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$payload.cg" "$bin" publish \
    < "$payload" > /dev/null 2>&1
done
# The binary's functions that ran, sorted so that a regenerated file differs
# only where the code did (callgrind's own order varies from run to run).
python3 - "$target/symbols" "$work" > hook.order <<'PY'
import glob, re, sys
symbols = set(open(sys.argv[1]).read().split())
seen, order = set(), []
for path in sorted(glob.glob(f"{sys.argv[2]}/*.cg")):
    for line in open(path):
        m = re.match(r"^c?fn=\(\d+\) (.+)$", line.rstrip("\n"))
        if m and m.group(1) in symbols and m.group(1) not in seen:
            seen.add(m.group(1))
            order.append(m.group(1))
print("\n".join(sorted(order)))
PY
echo "hook.order: $(grep -c . hook.order) functions"
# The stripped release binary again, linked with the new order.
cargo build --release --quiet --bin event-publisher
