#!/usr/bin/env bash
# Rows API under load: Gongshu's `/api/v1/resources/{id}/rows` against Datasette's table
# JSON, both serving the same generated table, measured with wrk on the same machine.
#
#   bench/rows_api.sh [ROWS]      ROWS defaults to 2000000
#
# Query shapes, 100 rows each: the first page; a deep page (rows 1,000,001-1,000,100, or
# the middle of a smaller table) reached through each server's own keyset token; an
# equality filter on a county code (1 % of rows); a range filter on 注册资本; a substring
# filter on 企业名称. Every URL is checked once with curl first: HTTP 200, the same number
# of rows from both servers and the same first row, so that no error page is measured.
#
# Datasette runs as it is deployed for publishing (`datasette publish`): immutable
# database (-i) with a precomputed row count (--inspect-file), default_page_size 100,
# sql_time_limit_ms 5000. Two Datasette variants per shape:
#   - "lean": _shape=objects&_nocount=1&_nofacet=1, only the page query, like Gongshu;
#     the ratio column compares against this one;
#   - "default": _shape=objects as a client gets it without those flags: a count(*) of the
#     filtered rows and facet suggestions on every request (DS_DEFAULT=0 skips it).
# Both servers keep their default request logging, sent to a file.
#
# Environment: DURATION (wrk -d, default 20s), CONNECTIONS (default 32), THREADS (2),
# TIMEOUT (wrk --timeout, default 30s, so that slow answers count instead of vanishing),
# plus those of bench/lib.sh. wrk shares the machine's cores with the server under test.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROWS="${1:-${ROWS:-2000000}}"
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
TIMEOUT="${TIMEOUT:-30s}"
DS_DEFAULT="${DS_DEFAULT:-1}"

need curl; need jq; need wrk; need /usr/bin/time time
need_venv datasette
need_gongshu

csv=$(table_csv "$ROWS" utf8)
db=$(sqlite_db "$csv")
dsname=$(basename "$db" .sqlite)
work="$BENCH_DIR/rows-$ROWS"
rm -rf "$work"; mkdir -p "$work"

# Deep page: rows DEEP+1 .. DEEP+100.
DEEP=1000000
[ "$ROWS" -ge $((DEEP + 100)) ] || DEEP=$((ROWS / 2 / 100 * 100))

# --- servers ------------------------------------------------------------------------
dir="$work/gongshu"
dataset_code "$dir"
warm "$csv"
gongshu_import "$dir" "$CODE" "$csv" "$work/import.json" "$work/import.time"
RID=$(jq -r '.resource_id' "$work/import.json")
gport=$(free_port)
start_gongshu "$dir" "$gport"
G="http://127.0.0.1:$gport/api/v1/resources/$RID/rows"

dport=$(free_port)
DS_LOG="$work/datasette.log" start_datasette "$db" "$dport" --setting default_page_size 100 --setting sql_time_limit_ms 5000
D="http://127.0.0.1:$dport/$dsname/t.json"
LEAN="_shape=objects&_nocount=1&_nofacet=1"

# Gongshu's keyset tokens are opaque: take the one that follows row DEEP.
token=$(curl -fsS "$G?_size=100&_row__gt=$((DEEP - 100))" | jq -r '.next // empty') ||
  die "Gongshu rows API: $G?_size=100&_row__gt=$((DEEP - 100)) failed"
[ -n "$token" ] || die "Gongshu returned no .next token for _row__gt=$((DEEP - 100))"

county=$(urlenc 所属区县代码); capital=$(urlenc 注册资本); name=$(urlenc 企业名称); tech=$(urlenc 科技)
SHAPES=(
  "first page|$G?_size=100|$D?_size=100"
  "deep page (rows $((DEEP + 1))–$((DEEP + 100)))|$G?_size=100&_next=$(urlenc "$token")|$D?_size=100&_next=$DEEP"
  "所属区县代码 = 370102|$G?$county=370102&_size=100|$D?${county}__exact=370102&_size=100"
  "注册资本 > 5000|$G?${capital}__gt=5000&_size=100|$D?${capital}__gt=5000&_size=100"
  "企业名称 contains 科技|$G?${name}__contains=$tech&_size=100|$D?${name}__contains=$tech&_size=100"
)

# --- checks and measurements --------------------------------------------------------
# check URL: prints "HTTP ROWS FIRST_CREDIT_CODE" (rows as a list, or under rows/items/data).
check() {
  local body="$work/check.json" code
  code=$(curl -s -o "$body" -w '%{http_code}' "$1")
  jq -r --arg code "$code" '
    (if type == "array" then . else (.rows // .items // .data // []) end) as $r
    | "\($code) \($r | length) \(($r[0] // "" | tostring | match("9[0-9A-Z]{17}").string) // "-")"' \
    "$body" 2>/dev/null || echo "$code 0 -"
}

# bench URL: "req/s p50_ms p99_ms problems" from one wrk run, after a 1 s warm-up.
# wrk's own 2 s timeout would drop slow answers from the latencies: it is raised to
# TIMEOUT, and timeouts, socket errors and non-2xx answers are reported.
bench() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d1s --timeout "$TIMEOUT" "$1" >/dev/null 2>&1 || true
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout "$TIMEOUT" --latency "$1" 2>&1 | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                     if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
    $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
    / requests in / { if ($1 == 0) bad = "no_answer_within_the_run" }
    /^Requests\/sec:/ { rps = $2 } /Non-2xx or 3xx responses:/ { bad = $NF " non-2xx" }
    /Socket errors:/ { sub(/^ *Socket errors: */, ""); gsub(/ /, "_"); sock = "socket_errors:" $0 }
    END { p = bad (bad && sock ? ";" : "") sock; printf "%.0f %.2f %.2f %s\n", rps, p50, p99, (p ? p : "-") }'
}
problems() { [ "$1" = - ] || echo "; ${1//_/ }"; }

echo "Rows API, $ROWS rows, wrk -t$THREADS -c$CONNECTIONS -d$DURATION: $(machine)."
echo "Gongshu $("$BIN" --version | awk '{print $2}'); Datasette $(pkg_version datasette), SQLite $("$PY" -c 'import sqlite3; print(sqlite3.sqlite_version)'), Python $("$PY" -c 'import platform; print(platform.python_version())')."
echo
echo "| query | server | req/s | p50 ms | p99 ms | Gongshu ÷ Datasette (lean) | notes |"
echo "|---|---|---|---|---|---|---|"

for shape in "${SHAPES[@]}"; do
  IFS='|' read -r label gurl durl <<<"$shape"
  dlean="$durl&$LEAN"; ddef="$durl&_shape=objects"
  read -r gcode grows gfirst < <(check "$gurl")
  read -r dcode drows dfirst < <(check "$dlean")
  same="same rows"
  if [ "$grows" != "$drows" ]; then same="row counts differ: Gongshu $grows, Datasette $drows"
  elif [ "$gfirst" != "$dfirst" ]; then same="first rows differ: $gfirst / $dfirst"; fi
  [ "$same" = "same rows" ] || note "$label: $same"
  gres="" dres=""
  if [ "$gcode" = 200 ]; then read -r grps gp50 gp99 gbad < <(bench "$gurl"); gres=1; fi
  if [ "$dcode" = 200 ]; then read -r drps dp50 dp99 dbad < <(bench "$dlean"); dres=1; fi
  if [ -n "$gres" ]; then
    ratio="–"; [ -n "$dres" ] && [ "$drps" -gt 0 ] && ratio=$(awk -v a="$grps" -v b="$drps" 'BEGIN {printf "%.1f×", a / b}')
    echo "| $label | Gongshu | $grps | $gp50 | $gp99 | $ratio | $grows rows; $same$(problems "$gbad") |"
  else
    echo "| $label | Gongshu | – | – | – | – | HTTP $gcode from ${gurl#http://127.0.0.1:"$gport"} |"
  fi
  if [ -n "$dres" ]; then
    echo "| $label | Datasette (lean) | $drps | $dp50 | $dp99 | | $drows rows$(problems "$dbad") |"
  else
    echo "| $label | Datasette (lean) | – | – | – | | HTTP $dcode |"
  fi
  if [ "$DS_DEFAULT" = 1 ] && [ "$dcode" = 200 ]; then
    read -r xrps xp50 xp99 xbad < <(bench "$ddef")
    echo "| $label | Datasette (default: count + facet suggestions) | $xrps | $xp50 | $xp99 | | $drows rows$(problems "$xbad") |"
  fi
done
echo
echo "Peak RSS after the runs: Gongshu $(hwm_mib "$GS_PID") MiB, Datasette $(hwm_mib "$DS_PID") MiB."
