#!/usr/bin/env bash
# The README's hook latency figures in one command: the binary users get
# (static, non-PIE on x86_64 glibc) and the same code linked dynamically,
# each against `cat` of the same payload, interleaved in the same run
# (benches/spawn.py), in three cases:
#   new events    the captured foreground Agent payload (2 markers) under a
#                 new session each run: the hook stores into an existing .events/
#   seen again    the same payload each run: its events already stored
#   no markers    a Stop payload without markers
#
#   bash benches/startup.sh                 # builds both, 300 runs per case
#   RUNS=1000 bash benches/startup.sh
#   NO_BUILD=1 bash benches/startup.sh      # reuse the last builds
#   BASE=/path/to/event-publisher bash benches/startup.sh
#                                           # and an older build in the same run
#
# The dynamic binary is built from the same checkout with the config's
# rustflags replaced (RUSTFLAGS=""), into target/dynamic: dynamic and
# non-PIE (build.rs's -no-pie), with hook.order, as before the static
# binary. Both binaries are timed as copies, as `cargo install` leaves
# them. The project lives on
# tmpfs (/dev/shm when there is one, else BENCH_DIR or a temporary
# directory), so that file system noise stays out of a start-up comparison.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-300}
host=$(rustc --print host-tuple)
static_bin=$ROOT/target/$host/release/event-publisher
dynamic_bin=$ROOT/target/dynamic/$host/release/event-publisher
if [[ -z "${NO_BUILD:-}" ]]; then
  (cd "$ROOT" && cargo build --release --quiet --bin event-publisher)
  (cd "$ROOT" && RUSTFLAGS="" cargo build --release --quiet --bin event-publisher --target-dir target/dynamic)
fi

if [[ -n "${BENCH_DIR:-}" ]]; then
  mkdir -p "$BENCH_DIR"
  work=$(mktemp -d "$BENCH_DIR/startup.XXXXXX")
elif [[ -d /dev/shm && -w /dev/shm ]]; then
  work=$(mktemp -d /dev/shm/event-publisher-startup.XXXXXX)
else
  work=$(mktemp -d)
fi
trap 'rm -rf "$work"' EXIT
cp "$static_bin" "$work/static"
cp "$dynamic_bin" "$work/dynamic"
base=()
if [[ -n "${BASE:-}" ]]; then
  cp "$BASE" "$work/base"
  base=("base=$work/base publish")
fi
mkdir -p "$work/project"
cp -r "$ROOT/schemas" "$work/project/schemas"
fixtures=$ROOT/fixtures/claude-code-2.1.328
for f in foreground-post-tool-use-agent background-stop; do
  sed "s#/home/dev/project#$work/project#g" "$fixtures/$f.json" > "$work/$f.json"
done
echo "static:  $(file -b "$work/static" | cut -d, -f1-2,4)"
echo "dynamic: $(file -b "$work/dynamic" | cut -d, -f1-2,4)"

run() {
  CLAUDE_PROJECT_DIR=$work/project HOME=$work XDG_CONFIG_HOME=$work/config \
    python3 "$ROOT/benches/spawn.py" -n "$RUNS" "$@" \
    cat=cat "static=$work/static publish" "dynamic=$work/dynamic publish" "${base[@]}"
}
echo "== new events (Agent payload, 2 markers, a new session each run)"
run --new-session "$work/foreground-post-tool-use-agent.json"
echo "== seen again (the same Agent payload each run)"
run "$work/foreground-post-tool-use-agent.json"
echo "== no markers (Stop payload)"
run "$work/background-stop.json"
