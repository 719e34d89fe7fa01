#!/usr/bin/env bash
# Catalog search: relevance on judged Chinese queries, and latency under load with a
# province-sized catalog, against Datasette's full-text search over the same entries.
#
#   bench/search.sh [ENTRIES]     ENTRIES defaults to 100000
#
# 1. Relevance (bench/search/relevance.py): the demo catalog with the hand-judged queries
#    of bench/search/queries-demo.json, and the generated catalog (`serve --demo
#    --demo-scale ENTRIES`) with the queries gen_queries.py derives from it. Gongshu's
#    index against a plain substring search (LIKE) and SQLite FTS5 on the same entries.
# 2. Latency: wrk with 32 connections cycling through every judged query as
#    `/api/v1/datasets?q=…&per_page=20` (Gongshu) and `/fts/entries.json?_search=…`
#    (Datasette, lean: no count, no facets), then the portal's search page `/datasets?q=…`
#    alone with one connection, which is its server-side render time.
#
# The generated catalog is made once and kept in $BENCH_DIR/search-ENTRIES.
# Environment: DURATION (default 20s), CONNECTIONS (32), THREADS (2), plus bench/lib.sh's.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ENTRIES="${1:-${ENTRIES:-100000}}"
DURATION="${DURATION:-20s}"
COLD_DURATION="${COLD_DURATION:-5s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
HERE="$BENCH_ROOT/bench/search"

need curl; need jq; need wrk
need_venv datasette sqlite-utils
need_gongshu
work="$BENCH_DIR/search-work"
rm -rf "$work"; mkdir -p "$work"

# serve_on DIR PORT [ARGS...]: start Gongshu, waiting as long as a first load needs.
serve_on() {
  local dir=$1 port=$2; shift 2
  "$BIN" serve --demo --rate-limit 0 "$@" --data-dir "$dir" --addr "127.0.0.1:$port" >>"$dir.log" 2>&1 &
  GS_PID=$!
  PIDS+=("$GS_PID")
  local i=0
  until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do
    kill -0 "$GS_PID" 2>/dev/null || die "gongshu died; see $dir.log"
    i=$((i + 1)); [ $i -lt 36000 ] || die "gongshu did not answer within an hour"
    sleep 0.1
  done
}

# --- relevance on the demo catalog --------------------------------------------------
demo="$work/demo"
port=$(free_port)
serve_on "$demo" "$port"
"$PY" "$HERE/fts_db.py" "$demo/gongshu.db" "$work/demo-fts.sqlite"
echo "Search relevance and latency: $(machine)."
echo "Gongshu $("$BIN" --version | awk '{print $2}'); Datasette $(pkg_version datasette), SQLite $("$PY" -c 'import sqlite3; print(sqlite3.sqlite_version)')."
echo
"$PY" "$HERE/relevance.py" --api "http://127.0.0.1:$port" --db "$demo/gongshu.db" \
  --fts "$work/demo-fts.sqlite" "$HERE/queries-demo.json" 2>"$work/demo-misses.txt"
stop_pid "$GS_PID"

# --- the generated catalog -----------------------------------------------------------
big="$BENCH_DIR/search-$ENTRIES"
if [ ! -s "$big/gongshu.db" ]; then
  note "generating a catalog of $ENTRIES entries in $big (once)"
  rm -rf "$big" "$big.log"
  t0=$(date +%s.%N)
  port=$(free_port)
  serve_on "$big" "$port" --demo-scale "$ENTRIES"
  t1=$(date +%s.%N)
  note "generated and indexed in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", b - a}') s"
  stop_pid "$GS_PID"
fi
# A fresh index each run, so the rebuild time is measured too.
rm -rf "$big/search"
port=$(free_port)
t0=$(date +%s.%N)
serve_on "$big" "$port"
t1=$(date +%s.%N)
G="http://127.0.0.1:$port"
total=$(curl -fsS "$G/api/v1/datasets?per_page=1" | jq '.total')
"$PY" "$HERE/gen_queries.py" "$big/gongshu.db" "$work/queries-generated.json"
[ -s "$work/big-fts.sqlite" ] || "$PY" "$HERE/fts_db.py" "$big/gongshu.db" "$work/big-fts.sqlite"
echo
"$PY" "$HERE/relevance.py" --api "$G" --db "$big/gongshu.db" --fts "$work/big-fts.sqlite" \
  "$work/queries-generated.json" 2>"$work/big-misses.txt"
echo
echo "Index rebuilt from the store at start: $total published entries in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s; index size $(du -sm "$big/search" | cut -f1) MiB."

# --- latency --------------------------------------------------------------------------
dport=$(free_port)
cp "$work/big-fts.sqlite" "$work/fts.sqlite"
DS_LOG="$work/datasette.log" start_datasette "$work/fts.sqlite" "$dport" --setting default_page_size 20
D="http://127.0.0.1:$dport"
: >"$work/g.paths"; : >"$work/d.paths"; : >"$work/page.paths"
for f in "$HERE/queries-demo.json" "$work/queries-generated.json"; do
  jq -r '.queries[].q' "$f"
done | while IFS= read -r q; do
  e=$(urlenc "$q")
  echo "/api/v1/datasets?q=$e&per_page=20" >>"$work/g.paths"
  echo "/datasets?q=$e" >>"$work/page.paths"
  echo "/fts/entries.json?_search=$e&_size=20&_shape=objects&_nocount=1&_nofacet=1" >>"$work/d.paths"
done
# A cold mix: 20000 distinct queries (a place, a year and a topic cut from random titles),
# measured for COLD_DURATION (5 s) so that no query comes twice and no answer comes from
# the query cache.
"$PY" - "$big/gongshu.db" "$work" <<'PYEOF'
import random, sqlite3, sys, urllib.parse
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
titles = [t for (t,) in db.execute("SELECT title FROM published_datasets")]
rng, seen = random.Random(7), []
known = set()
for _ in range(1000000):
    if len(seen) == 20000:
        break
    t = rng.choice(titles).rstrip("）").replace("（", "")
    q = f"{t[:3]} {t[3:7]} {t[-6:-2]}"
    if q not in known:
        known.add(q)
        seen.append(q)
with open(f"{sys.argv[2]}/cold.paths", "w") as g, open(f"{sys.argv[2]}/dcold.paths", "w") as d:
    for q in seen:
        e = urllib.parse.quote(q)
        g.write(f"/api/v1/datasets?q={e}&per_page=20\n")
        d.write(f"/fts/entries.json?_search={e}&_size=20&_shape=objects&_nocount=1&_nofacet=1\n")
PYEOF
# The single-connection cold run takes queries the 32-connection one never asked.
tail -n 5000 "$work/cold.paths" >"$work/cold2.paths"
head -n 15000 "$work/cold.paths" >"$work/cold1.paths" && mv "$work/cold1.paths" "$work/cold.paths"
# Every path answers 200 before it is measured.
for p in $(head -3 "$work/g.paths"); do curl -fsS -o /dev/null "$G$p" || die "Gongshu: $p"; done
for p in $(head -3 "$work/d.paths"); do curl -fsS -o /dev/null "$D$p" || die "Datasette: $p"; done

# load BASE PATHS CONNECTIONS: "req/s p50 p99 problems" from one wrk run after a warm-up.
load() {
  local threads=$THREADS
  [ "$3" -ge "$threads" ] || threads=$3
  [ -n "${4:-}" ] || wrk -t"$threads" -c"$3" -d2s -s "$HERE/paths.lua" "$1" -- "$2" "$threads" >/dev/null 2>&1 || true
  wrk -t"$threads" -c"$3" -d"${4:-$DURATION}" --timeout 30s --latency -s "$HERE/paths.lua" "$1" -- "$2" "$threads" 2>&1 | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                     if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 } /Non-2xx or 3xx responses:/ { bad = $NF " non-2xx" }
    /Socket errors:/ { sub(/^ *Socket errors: */, ""); sock = "socket errors: " $0 }
    END { p = bad (bad && sock ? "; " : "") sock; printf "%.0f %.2f %.2f %s\n", rps, p50, p99, (p ? p : "none") }'
}
n=$(wc -l <"$work/g.paths")
echo
echo "Latency over $total entries, wrk -t$THREADS -d$DURATION (wrk shares the 2 cores). Warm: the $n judged queries in rotation, answered from the query cache after their first time, as a portal's popular queries are. Cold: distinct queries, none asked twice, for $COLD_DURATION."
echo
echo "| what | server | connections | req/s | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|---|"
read -r rps p50 p99 bad < <(load "$G" "$work/g.paths" "$CONNECTIONS")
echo "| search API, 20 results + facets, warm | Gongshu | $CONNECTIONS | $rps | $p50 | $p99 | $bad |"
read -r rps p50 p99 bad < <(load "$G" "$work/cold.paths" "$CONNECTIONS" "$COLD_DURATION")
echo "| search API, 20 results + facets, cold | Gongshu | $CONNECTIONS | $rps | $p50 | $p99 | $bad |"
read -r rps p50 p99 bad < <(load "$G" "$work/cold2.paths" 1 "$COLD_DURATION")
echo "| search API, 20 results + facets, cold | Gongshu | 1 | $rps | $p50 | $p99 | $bad |"
read -r rps p50 p99 bad < <(load "$D" "$work/d.paths" "$CONNECTIONS")
echo "| full-text search JSON, 20 results, judged queries | Datasette | $CONNECTIONS | $rps | $p50 | $p99 | $bad |"
read -r rps p50 p99 bad < <(load "$D" "$work/dcold.paths" "$CONNECTIONS" "$COLD_DURATION")
echo "| full-text search JSON, 20 results, cold | Datasette | $CONNECTIONS | $rps | $p50 | $p99 | $bad |"
read -r rps p50 p99 bad < <(load "$G" "$work/page.paths" 1)
echo "| search page HTML with facets | Gongshu | 1 | $rps | $p50 | $p99 | $bad |"
read -r rps p50 p99 bad < <(load "$G" "$work/page.paths" "$CONNECTIONS")
echo "| search page HTML with facets | Gongshu | $CONNECTIONS | $rps | $p50 | $p99 | $bad |"
echo
echo "Peak RSS: Gongshu $(hwm_mib "$GS_PID") MiB, Datasette $(hwm_mib "$DS_PID") MiB. Misses listed in $work/*-misses.txt."
