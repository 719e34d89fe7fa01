#!/usr/bin/env bash
# Start-up time and idle memory of `gongshu serve --demo`, against Datasette as the peer.
#
# For each run: a fresh data directory, start the server, poll until the first HTTP 200,
# then read the resident memory of the idle process after 2 s. Prints a Markdown table.
# Needs: a release build (cargo build --release), python3, curl; `pip install datasette`
# for the peer (skipped with a note if absent).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
BIN="${CARGO_TARGET_DIR:-target}/release/gongshu"
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 1; }
PORT=18181

now_ms() { date +%s%3N; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# measure NAME URL CMD...: prints "ms rss" for one start
measure() {
  local url=$1; shift
  local t0 pid t1
  t0=$(now_ms)
  "$@" >/dev/null 2>&1 &
  pid=$!
  until curl -fs -o /dev/null "$url"; do
    sleep 0.005
    kill -0 "$pid" 2>/dev/null || { echo "server died" >&2; return 1; }
  done
  t1=$(now_ms)
  sleep 2
  echo "$((t1 - t0)) $(rss_mib "$pid")"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

run_series() {  # label, then a function that does one start and prints "ms rss"
  local label=$1 fn=$2 ms=() rss=()
  for _ in $(seq "$RUNS"); do
    read -r m r < <($fn)
    ms+=("$m"); rss+=("$r")
  done
  printf '| %s | %s ms | %s MiB |\n' "$label" \
    "$(printf '%s\n' "${ms[@]}" | median)" "$(printf '%s\n' "${rss[@]}" | median)"
}

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

gongshu_fresh() {
  local d; d=$(mktemp -d -p "$tmp")
  GONGSHU_LOG=warn measure "http://127.0.0.1:$PORT/healthz" "$BIN" serve --demo --rate-limit 0 --data-dir "$d" --addr "127.0.0.1:$PORT"
}
persistent="$tmp/persistent"
GONGSHU_LOG=warn "$BIN" serve --demo --rate-limit 0 --data-dir "$persistent" --addr "127.0.0.1:$PORT" >/dev/null 2>&1 &
p=$!; until curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz"; do sleep 0.01; done; kill -TERM $p; wait $p || true
gongshu_again() {
  GONGSHU_LOG=warn measure "http://127.0.0.1:$PORT/healthz" "$BIN" serve --demo --rate-limit 0 --data-dir "$persistent" --addr "127.0.0.1:$PORT"
}
datasette_fresh() {
  local db; db=$(mktemp -p "$tmp" --suffix .db)
  python3 -c "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('create table t(x)')" "$db"
  measure "http://127.0.0.1:$PORT/-/versions.json" datasette serve "$db" --port "$PORT" --host 127.0.0.1
}

echo "| server | start-up to first HTTP 200 (median of $RUNS) | idle RSS (median) |"
echo "|---|---|---|"
run_series "gongshu serve --demo, empty data dir (loads the demo)" gongshu_fresh
run_series "gongshu serve --demo, demo already loaded" gongshu_again
if command -v datasette >/dev/null; then
  run_series "datasette serve (one empty SQLite table), peer" datasette_fresh
else
  echo "| datasette | not installed (pip install datasette) | |"
fi
