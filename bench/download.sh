#!/usr/bin/env bash
# Full download: a whole stored table as CSV over HTTP, with the server's memory watched.
#
#   bench/download.sh [ROWS]      ROWS defaults to 10000000 (the UTF-8 CSV is ≈ 2.8 GB)
#
# Gongshu: import the generated CSV, serve, then `curl` /api/v1/resources/{id}/download
# ?format=csv to /dev/null. Peer (DS_PEER=0 skips it): Datasette's streamed CSV export of
# the same table, /db/t.csv?_stream=on, from an immutable database with
# `--setting max_csv_mb 0` (its default cuts a CSV at 100 MB). While curl runs, the
# server's RSS is sampled every 100 ms (`ps -o rss=`); the table gives the peak and the
# RSS just before. VERIFY=1 (the default up to 2 M rows) downloads once more and counts
# the lines. RUNS=n repeats each download (one table row each).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROWS="${1:-${ROWS:-10000000}}"
RUNS="${RUNS:-1}"
DS_PEER="${DS_PEER:-1}"
VERIFY="${VERIFY:-$([ "$ROWS" -le 2000000 ] && echo 1 || echo 0)}"

need curl; need jq; need ps procps; need /usr/bin/time time
[ "$DS_PEER" = 1 ] && need_venv datasette || PY=python3
need_gongshu

csv=$(table_csv "$ROWS" utf8)
work="$BENCH_DIR/download-$ROWS"
rm -rf "$work"; mkdir -p "$work"

# measure LABEL PID URL: one download while sampling PID's RSS; prints a table row.
measure() {
  local label=$1 pid=$2 url=$3 before out code bytes total ttfb peak lines="–"
  before=$(ps -o rss= -p "$pid" | awk '{printf "%.0f", $1/1024}')
  (
    while kill -0 "$pid" 2>/dev/null; do ps -o rss= -p "$pid"; sleep 0.1; done
  ) >"$work/rss.samples" &
  local sampler=$!
  out=$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total} %{time_starttransfer}' "$url") ||
    out="${out:-000 0 0 0}"
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  read -r code bytes total ttfb <<<"$out"
  peak=$(awk 'BEGIN {m = 0} $1 > m {m = $1} END {printf "%.0f", m/1024}' "$work/rss.samples")
  if [ "$VERIFY" = 1 ]; then lines=$(curl -s "$url" | wc -l); lines=$((lines - 1)); fi
  awk -v l="$label" -v c="$code" -v b="$bytes" -v t="$total" -v f="$ttfb" -v r="$ROWS" \
    -v p="$peak" -v s="$before" -v n="$lines" 'BEGIN {
      printf "| %s | %s | %.1f | %.2f | %.1f | %.0f | %.3f | %s | %s | %s |\n",
        l, c, b / 1e6, t, (t > 0 ? b / 1e6 / t : 0), (t > 0 && c == 200 ? r / t : 0), f, s, p, n }'
  [ "$code" = 200 ] || note "$label: HTTP $code from $url"
}

# --- Gongshu ------------------------------------------------------------------------
dir="$work/gongshu"
dataset_code "$dir"
warm "$csv"
gongshu_import "$dir" "$CODE" "$csv" "$work/import.json" "$work/import.time"
RID=$(jq -r '.resource_id' "$work/import.json")
gport=$(free_port)
start_gongshu "$dir" "$gport"

echo "Download of $ROWS rows as CSV: $(machine)."
echo -n "Gongshu $("$BIN" --version | awk '{print $2}')"
[ "$DS_PEER" = 1 ] && echo -n "; Datasette $(pkg_version datasette), SQLite $("$PY" -c 'import sqlite3; print(sqlite3.sqlite_version)')"
echo "."
echo
echo "| server | HTTP | MB | s | MB/s | rows/s | first byte s | RSS before MiB | peak RSS MiB | data rows counted |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for _ in $(seq "$RUNS"); do
  measure "Gongshu /download?format=csv" "$GS_PID" "http://127.0.0.1:$gport/api/v1/resources/$RID/download?format=csv"
done
stop_pid "$GS_PID"

# --- Datasette ----------------------------------------------------------------------
if [ "$DS_PEER" = 1 ]; then
  db=$(sqlite_db "$csv")
  dport=$(free_port)
  DS_LOG="$work/datasette.log" start_datasette "$db" "$dport" --setting max_csv_mb 0 --setting allow_csv_stream on
  for _ in $(seq "$RUNS"); do
    measure "Datasette t.csv?_stream=on" "$DS_PID" "http://127.0.0.1:$dport/$(basename "$db" .sqlite)/t.csv?_stream=on"
  done
  echo
  echo "Datasette's CSV starts with a rowid column."
fi
