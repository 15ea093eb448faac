#!/usr/bin/env bash
# Benchmarks of the reading commands (issue 4), each figure against a floor
# measured in the same run. See benches/README.md.
#
#   bash benches/read.sh                       # full: 100,000 records, 1 GB of transcripts
#   BENCH_RECORDS=20000 BENCH_REPLAY_MB=64 bash benches/read.sh   # quick
#
# Needs hyperfine and GNU time (/usr/bin/time); `apt-get install -y hyperfine time`.
set -euo pipefail

RECORDS=${BENCH_RECORDS:-100000}
DAYS=${BENCH_DAYS:-100}
REPLAY_MB=${BENCH_REPLAY_MB:-1024}
RUNS=${BENCH_RUNS:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-$(mktemp -d /tmp/event-publisher-bench.XXXXXX)}
# .cargo/config.toml names the target, so builds are under its name.
RELEASE=$ROOT/target/$(rustc --print host-tuple)/release
BIN=$RELEASE/event-publisher
TOOL=$RELEASE/examples/bench_tool

for tool in hyperfine /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y hyperfine time)" >&2; exit 1; }
done

echo "building (release)..." >&2
(cd "$ROOT" && cargo build --release --quiet --bin event-publisher --example bench_tool)

mkdir -p "$WORK"
cd "$WORK"
echo "work dir: $WORK" >&2

# --- a generated .events/ ---------------------------------------------------
rm -rf events && mkdir -p events
echo "generating $RECORDS records over $DAYS days..." >&2
INFO=$("$TOOL" events events/.events "$RECORDS" "$DAYS")
echo "generated: $INFO"
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$INFO" "$1"; }
RARE=$(field rare_name)
SINCE=$(field probe_since)
UNTIL=$(field probe_until)
WHERE=$(field where)
export CLAUDE_PROJECT_DIR=$WORK/events
cd events

# Every command must agree with what the generator says it selects.
n=$("$BIN" ls --name "$RARE" --jsonl | wc -l); [ "$n" = "$(field rare_valid)" ] || { echo "ls --name found $n" >&2; exit 1; }
n=$("$BIN" ls --since "$SINCE" --until "$UNTIL" --jsonl | wc -l); [ "$n" = "$(field probe_day_valid)" ] || { echo "ls --since found $n" >&2; exit 1; }

hyperfine -N --warmup 1 --runs "$RUNS" --export-csv "$WORK/scan.csv" \
  -n floor "sh -c 'find .events -name \"*.json\" | xargs cat > /dev/null'" \
  -n floor-once "sh -c 'find .events -path .events/.ids -prune -o -name \"*.json\" -print | xargs cat > /dev/null'" \
  -n ls-name-1pct "$BIN ls --name $RARE" \
  -n ls-time-1pct "$BIN ls --since $SINCE --until $UNTIL" \
  -n stats-name-1pct "$BIN stats --name $RARE" \
  -n stats-time-1pct "$BIN stats --since $SINCE --until $UNTIL" \
  -n ls-where-full "$BIN ls --where $WHERE" \
  -n stats-where-full "$BIN stats --where $WHERE" \
  -n stats-full "$BIN stats" >&2

echo
echo "== scans of $RECORDS records (mean seconds; ratio = command / floor; floor-once skips the .ids/ links)"
awk -F, 'NR==1{next} {name[NR]=$1; mean[NR]=$2; if($1=="floor")f=$2; if($1=="floor-once")g=$2}
  END{for(i=2;i<=NR;i++) printf "%-18s %8.3f s  %7.3fx floor  %7.3fx floor-once  (floor/command %.1f)\n", name[i], mean[i], mean[i]/f, mean[i]/g, f/mean[i]}' "$WORK/scan.csv"
cd "$WORK"

# --- replay --------------------------------------------------------------------
rm -rf projects small replay && mkdir -p replay
echo "generating ${REPLAY_MB} MB of transcripts..." >&2
"$TOOL" transcripts projects "$REPLAY_MB" >/dev/null
SMALL_MB=$(( REPLAY_MB / 16 > 8 ? REPLAY_MB / 16 : 8 ))
"$TOOL" transcripts small "$SMALL_MB" >/dev/null
cp -r "$ROOT/schemas" replay/
BYTES=$(find projects -name '*.jsonl' -printf '%s\n' | awk '{s+=$1} END{print s}')
SMALL_BYTES=$(find small -name '*.jsonl' -printf '%s\n' | awk '{s+=$1} END{print s}')

measure() { # label command... → "label seconds maxrss_kb"
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$@" >/dev/null
  echo "$label $(cat "$WORK/time.txt")"
}
{
  find projects -name '*.jsonl' | xargs cat >/dev/null   # warm the page cache
  measure floor sh -c "find projects -name '*.jsonl' | xargs cat > /dev/null"
  measure replay-store "$BIN" --project-dir replay replay -q projects
  measure replay-present "$BIN" --project-dir replay replay -q projects
  measure floor "sh" -c "find projects -name '*.jsonl' | xargs cat > /dev/null"
  rm -rf replay/.events
  measure replay-small "$BIN" --project-dir replay replay -q small
} > "$WORK/replay.txt"
echo
echo "== replay of $(( BYTES / 1000000 )) MB in $(find projects -name '*.jsonl' | wc -l) transcripts"
awk -v bytes="$BYTES" -v small="$SMALL_BYTES" '
  $1=="floor"{f=$2} {t[$1]=$2; m[$1]=$3}
  END{
    for (k in t) if (k!="floor" && k!="replay-small")
      printf "%-15s %6.2f s  %6.0f MB/s  peak RSS %6.1f MB  %5.2fx floor (cat %.2f s)\n", k, t[k], bytes/1e6/t[k], m[k]/1024, t[k]/f, f
    printf "%-15s %6.2f s  %6.0f MB/s  peak RSS %6.1f MB  (a tree of %d MB: memory is flat if RSS matches)\n", "replay-small", t["replay-small"], small/1e6/t["replay-small"], m["replay-small"]/1024, small/1e6
  }' "$WORK/replay.txt"

# --- tail -f ----------------------------------------------------------------------
rm -rf tail && mkdir tail
echo
echo "== tail -f: delay from writing a record to tail printing it (50 records, every 5th in a new day folder)"
"$TOOL" tail-latency tail/.events "$BIN" 50

if [ -z "${BENCH_DIR:-}" ] && [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$WORK"; fi
