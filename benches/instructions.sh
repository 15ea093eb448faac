#!/usr/bin/env bash
# Instructions executed by one `publish` hook call (all threads), counted by
# callgrind: steadier than wall time on a shared machine.
# Usage: benches/instructions.sh [binary] [fixture]   (defaults: the release
# build, the captured foreground Agent payload). Each run gets a fresh
# project, so the records are written, not found present.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/$(rustc --print host-tuple)/release/event-publisher}  # .cargo/config.toml names the target
fixture=${2:-fixtures/claude-code-2.1.328/foreground-post-tool-use-agent.json}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/project"
cp -r schemas "$work/project/schemas"
env ${EXTRA_ENV:-} CLAUDE_PROJECT_DIR="$work/project" HOME="$work" XDG_CONFIG_HOME="$work/config" \
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" publish \
  < "$fixture" > /dev/null 2> "$work/log"
ir=$(grep -E '^summary:|^totals:' "$work/cg.out" | head -1 | awk '{print $2}')
records=$(find "$work/project/.events" -name '*.json' -not -path '*/.ids/*' | wc -l)
echo "instructions=$ir records=$records"
