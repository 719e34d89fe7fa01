#!/usr/bin/env bash
# Two Gongshu nodes on one PostgreSQL and one object store, under a scripted mixed
# workload, against one node on the same database; optionally through nginx, and with
# Datasette as the peer for the row API's shape.
#
#   bench/nodes.sh
#
# What it does, all on this machine, and undone on exit:
#   1. starts a throwaway PostgreSQL cluster (Debian's /usr/lib/postgresql/*/bin; as the
#      postgres user when run as root) and creates the database with the C collation;
#   2. starts node A with --demo --demo-scale SCALE (the demo province plus SCALE
#      synthetic published entries), imports two generated enterprise tables with
#      `gongshu import` (ROWS_BIG rows into 山东省企业登记注册信息 for the row API,
#      ROWS_SMALL rows into 济南市企业登记注册信息 for downloads and the row API), then
#      starts node B without --demo on the same database, object store and key file,
#      with its own data directory (its own search index, rebuilt at start);
#   3. builds the request plan from what the nodes answer: search words, every published
#      entry's page, the rows of the resources that answer 200 anonymously, the CSV
#      download of the small table; every URL but the entry pages (a sample of those) is
#      checked on both nodes first;
#   4. for each CONCURRENCY: the mix against node A alone ("1 node"; node B idles), then
#      round-robin over A and B ("2 nodes"; the load generator stands for the load
#      balancer), and with WITH_NGINX=1 through nginx in front of both; WARMUP s then
#      DURATION s each, ROUNDS times, with the CPU seconds each process used;
#   5. with PEER=1, the row API alone on the big table, one node, against Datasette
#      serving a SQLite copy of the same generated table.
#
# The mix (weights): search 40 (`/api/v1/datasets?q=WORD`), dataset pages 30
# (`/datasets/{id}` HTML), row API 20 (`/api/v1/resources/{id}/rows?_size=50`, first pages
# and filters), downloads 10 (`/api/v1/resources/{id}/download?format=csv`). Any answer
# outside 2xx, connection error or timeout (30 s) is an error. Rate limits are off on both
# nodes (--rate-limit 0): every request comes from 127.0.0.1.
#
# Environment: SCALE (2000), ROWS_BIG (1000000), ROWS_SMALL (10000), CONCURRENCY ("16 64"),
# DURATION (30), WARMUP (5), ROUNDS (1), WITH_NGINX (0; 1 installs Debian's nginx if missing),
# PEER (1), STATEMENTS (1: after the measured runs, one more 2-node run at the highest
# concurrency with pg_stat_statements tracking, to show which SQL the load costs; the
# module is loaded from the start with tracking off, so the measured runs do not pay for
# it), PG_BIN (newest /usr/lib/postgresql/*/bin), plus those of bench/lib.sh.
# GEN_SCOPE defaults to 8-14 here, as in docs/benchmarks.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SCALE="${SCALE:-2000}"
ROWS_BIG="${ROWS_BIG:-1000000}"
ROWS_SMALL="${ROWS_SMALL:-10000}"
CONCURRENCY="${CONCURRENCY:-16 64}"
DURATION="${DURATION:-30}"
WARMUP="${WARMUP:-5}"
ROUNDS="${ROUNDS:-1}"
WITH_NGINX="${WITH_NGINX:-0}"
PEER="${PEER:-1}"
STATEMENTS="${STATEMENTS:-1}"
export GEN_SCOPE="${GEN_SCOPE:-8-14}"
PASSWORD=demo-password-1

need curl; need jq
venv_pkgs=(aiohttp uvloop)
[ "$PEER" = 1 ] && venv_pkgs+=(datasette)
need_venv "${venv_pkgs[@]}"
need_gongshu
if [ "$WITH_NGINX" = 1 ]; then need nginx; fi
if [ -z "${PG_BIN:-}" ]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
fi
[ -x "${PG_BIN:-}/pg_ctl" ] || die "no PostgreSQL server binaries (set PG_BIN, or: apt-get install -y postgresql)"
LOAD="$BENCH_ROOT/bench/nodes_load.py"

work="$BENCH_DIR/nodes"
rm -rf "$work"; mkdir -p "$work/results"

# --- clean-up -----------------------------------------------------------------------
PG_DIR="" NGINX_PID=""
cleanup() {
  set +e
  [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  stop_servers
  if [ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1
  fi
  [ -n "$PG_DIR" ] && cp "$PG_DIR/postgres.log" "$work/postgres.log" 2>/dev/null
  [ -n "$PG_DIR" ] && rm -rf "$PG_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# PostgreSQL refuses to run as root: as root, run its tools as the postgres user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# --- PostgreSQL ---------------------------------------------------------------------
# In /tmp: the postgres user must be able to reach it (root's home is not open to it).
PG_DIR=$(mktemp -d /tmp/gongshu-nodes-pg.XXXXXX)
[ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
PG_PORT=$(free_port)
note "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $NF}') in $PG_DIR, port $PG_PORT"
as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" --encoding=UTF8 --locale=C -A trust -U postgres >"$work/initdb.log" 2>&1 ||
  die "initdb failed: $(tail -3 "$work/initdb.log")"
pg_opts="-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1"
[ "$STATEMENTS" = 1 ] && pg_opts+=" -c shared_preload_libraries=pg_stat_statements"
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -o "$pg_opts" -w start >/dev/null ||
  die "PostgreSQL did not start: $(tail -5 "$PG_DIR/postgres.log")"
PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qAt -c \
  "CREATE DATABASE gongshu TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" >/dev/null ||
  die "CREATE DATABASE failed"
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/gongshu"
psql_db() { as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d gongshu -X -v ON_ERROR_STOP=1 -qAt "$@"; }
# Tracking off until the statements run (set in postgresql.auto.conf: a -c option on the
# command line would outrank ALTER SYSTEM).
if [ "$STATEMENTS" = 1 ]; then
  psql_db -c "CREATE EXTENSION pg_stat_statements" \
    -c "ALTER SYSTEM SET pg_stat_statements.track = 'none'" -c "SELECT pg_reload_conf()" >/dev/null
fi

# --- the nodes ----------------------------------------------------------------------
od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$work/master.key"
mkdir -p "$work/objects"
SHARED=(--database-url "$DB_URL" --object-store-url "file://$work/objects" --key-file "$work/master.key")

# start_node NAME PORT EXTRA...: serve in the background, wait for /healthz (the demo is
# loaded before the server listens); sets NODE_PID.
start_node() {
  local name=$1 port=$2 i=0; shift 2
  "$BIN" serve --addr "127.0.0.1:$port" "${SHARED[@]}" --data-dir "$work/$name" \
    --rate-limit 0 --admin-password "$PASSWORD" "$@" >"$work/$name.log" 2>&1 &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do
    kill -0 "$NODE_PID" 2>/dev/null || die "node $name died at start: $(tail -5 "$work/$name.log")"
    i=$((i + 1)); [ $i -lt 6000 ] || die "node $name: no answer after 600 s"
    sleep 0.1
  done
}

PORT_A=$(free_port)
t0=$(date +%s.%N)
start_node node-a "$PORT_A" --demo --demo-scale "$SCALE" --demo-password "$PASSWORD"
PID_A=$NODE_PID
A="http://127.0.0.1:$PORT_A"
note "node A up after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s (demo + $SCALE synthetic entries)"

# code_of TITLE: the code of the published, unconditionally open entry of that title.
code_of() {
  curl -fsS "$A/api/v1/datasets?open_type=unconditional&per_page=50&q=$(urlenc "$1")" |
    jq -r --arg t "$1" '[.items[] | select(.title == $t)][0].code // empty'
}
CODE_BIG=$(code_of 山东省企业登记注册信息)
CODE_SMALL=$(code_of 济南市企业登记注册信息)
[ -n "$CODE_BIG" ] && [ -n "$CODE_SMALL" ] || die "the demo's enterprise registration entries were not found"

import_table() { # ROWS CODE NAME
  local csv out="$work/import-$3.json"
  csv=$(table_csv "$1" utf8)
  "$BIN" import --data-dir "$work/import" "${SHARED[@]}" --dataset "$2" "$csv" \
    --name "$3" --json >"$out" 2>"$out.stderr" || die "gongshu import failed: $(tail -3 "$out.stderr")"
  jq -r '.resource_id' "$out"
}
RID_BIG=$(import_table "$ROWS_BIG" "$CODE_BIG" "企业登记注册信息（$ROWS_BIG 行）")
RID_SMALL=$(import_table "$ROWS_SMALL" "$CODE_SMALL" "企业登记注册信息（$ROWS_SMALL 行）")
note "imported: $ROWS_BIG rows into $CODE_BIG ($RID_BIG), $ROWS_SMALL rows into $CODE_SMALL ($RID_SMALL)"

PORT_B=$(free_port)
start_node node-b "$PORT_B"
PID_B=$NODE_PID
B="http://127.0.0.1:$PORT_B"

# --- the plan -----------------------------------------------------------------------
WORDS=(企业 医院 学校 交通 环境 社保 公交 空气质量 招聘 气象 食品 许可 行政处罚 幼儿园
  不动产 排污 信用 济南 青岛 烟台 淄博 2023 医疗机构 道路运输)
search_paths=() page_paths=() rows_paths=() dl_paths=()
for w in "${WORDS[@]}"; do search_paths+=("/api/v1/datasets?q=$(urlenc "$w")"); done

total=$(curl -fsS "$A/api/v1/datasets?per_page=1" | jq -r '.total')
ids=()
for ((p = 1; (p - 1) * 100 < total; p++)); do
  mapfile -t -O "${#ids[@]}" ids < <(curl -fsS "$A/api/v1/datasets?per_page=100&page=$p&sort=code" | jq -r '.items[].id')
done
[ "${#ids[@]}" -gt 0 ] || die "the catalog listing returned no entries"
for id in "${ids[@]}"; do page_paths+=("/datasets/$id"); done

county=$(urlenc 所属区县代码); capital=$(urlenc 注册资本); name=$(urlenc 企业名称)
open_rids=()
for rid in "$RID_BIG" "$RID_SMALL"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$A/api/v1/resources/$rid/rows?_size=50")
  if [ "$code" = 200 ]; then open_rids+=("$rid"); else note "resource $rid: rows answer HTTP $code anonymously; left out"; fi
done
[ "${#open_rids[@]}" -gt 0 ] || die "no resource answers its rows anonymously"
for rid in "${open_rids[@]}"; do
  rows_paths+=("/api/v1/resources/$rid/rows?_size=50")
  for c in 370102 370203 370302 370602 370702 370811; do rows_paths+=("/api/v1/resources/$rid/rows?_size=50&$county=$c"); done
  rows_paths+=("/api/v1/resources/$rid/rows?_size=50&${capital}__gt=5000")
  rows_paths+=("/api/v1/resources/$rid/rows?_size=50&${name}__contains=$(urlenc 科技)")
done
dl_paths+=("/api/v1/resources/$RID_SMALL/download?format=csv")

# Check: every path but the entry pages on both nodes, and a sample of entry pages.
sample=("${page_paths[@]:0:10}" "${page_paths[@]: -10}")
bad=0
for p in "${search_paths[@]}" "${rows_paths[@]}" "${dl_paths[@]}" "${sample[@]}"; do
  for base in "$A" "$B"; do
    code=$(curl -s -o "$work/check.out" -w '%{http_code}' "$base$p")
    if [ "$code" != 200 ]; then bad=$((bad + 1)); note "check: HTTP $code from $base$p: $(head -c 300 "$work/check.out")"; fi
  done
done
[ "$bad" = 0 ] || die "$bad checks failed before the load"
# The two nodes should agree on search (the same catalog through the shared store): the
# first page of every search word, compared entry by entry.
same_order=0 same_set=0 differ=()
for p in "${search_paths[@]}"; do
  ta=$(curl -fsS "$A$p" | jq -c '[.total, [.items[].id]]')
  tb=$(curl -fsS "$B$p" | jq -c '[.total, [.items[].id]]')
  if [ "$ta" = "$tb" ]; then same_order=$((same_order + 1))
  elif [ "$(jq -c '[.[0], (.[1] | sort)]' <<<"$ta")" = "$(jq -c '[.[0], (.[1] | sort)]' <<<"$tb")" ]; then same_set=$((same_set + 1))
  else
    w=$(jq -rn --arg p "${p#*q=}" '$p | @text' | python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.stdin.read().strip()))')
    differ+=("$w (A $(jq -c '[.[0], (.[1] - $o)]' --argjson o "$(jq -c '.[1]' <<<"$tb")" <<<"$ta"), B $(jq -c '[.[0], (.[1] - $o)]' --argjson o "$(jq -c '.[1]' <<<"$ta")" <<<"$tb"))")
  fi
done
SEARCH_CMP="first pages of the ${#search_paths[@]} searches on node A and node B: $same_order identical, $same_set the same entries in another order, ${#differ[@]} with different entries${differ:+ (total and the ids only one node lists: ${differ[*]})}"
note "$SEARCH_CMP"
hits=$(for p in "${search_paths[@]}"; do curl -fsS "$A$p" | jq -r '.total'; done | paste -sd' ')
dl_mb=$(curl -fsS -o /dev/null -w '%{size_download}' "$A${dl_paths[0]}" | awk '{printf "%.2f", $1 / 1e6}')

printf '%s\n' "${search_paths[@]}" | jq -R . | jq -s . >"$work/search.json"
printf '%s\n' "${page_paths[@]}" | jq -R . | jq -s . >"$work/pages.json"
printf '%s\n' "${rows_paths[@]}" | jq -R . | jq -s . >"$work/rows.json"
printf '%s\n' "${dl_paths[@]}" | jq -R . | jq -s . >"$work/downloads.json"
jq -n --slurpfile s "$work/search.json" --slurpfile p "$work/pages.json" \
  --slurpfile r "$work/rows.json" --slurpfile d "$work/downloads.json" '{kinds: [
    {name: "search", weight: 40, paths: $s[0]},
    {name: "dataset page", weight: 30, paths: $p[0]},
    {name: "row API", weight: 20, paths: $r[0]},
    {name: "download CSV", weight: 10, paths: $d[0]}]}' >"$work/plan.json"

# --- CPU accounting -----------------------------------------------------------------
TCK=$(getconf CLK_TCK)
# ticks PID...: utime + stime of those processes so far.
ticks() {
  local p s=0 t
  for p in "$@"; do
    t=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null) || t=0
    s=$((s + ${t:-0}))
  done
  echo "$s"
}
pg_pids() { echo "$PG_PID" $(pgrep -P "$PG_PID" || true); }
# PostgreSQL's backends live as long as the nodes' pooled connections; one that ends
# during a run takes its ticks with it (cutime of the postmaster does not count them).
nginx_pids() { [ -z "$NGINX_PID" ] || echo "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true); }
# The machine's busy ticks (all CPUs: user, nice, system, irq, softirq, steal), so that
# what other processes took during a run shows.
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
cpu_snapshot() { echo "$(ticks "$PID_A") $(ticks "$PID_B") $(ticks $(pg_pids)) $(ticks $(nginx_pids)) $(busy)"; }

# run LABEL TARGET...: one measured run; prints nothing, leaves results/LABEL.json.
run_load() {
  local label=$1 c=$2; shift 2
  local targets=() t before after
  for t in "$@"; do targets+=(--target "$t"); done
  before="$(date +%s.%N) $(cpu_snapshot)"
  "$PY" "$LOAD" "$work/plan.json" "${targets[@]}" -c "$c" -d "$DURATION" -w "$WARMUP" \
    --out "$work/results/$label.json" >/dev/null || die "load generator failed ($label)"
  after="$(date +%s.%N) $(cpu_snapshot)"
  jq --arg b "$before" --arg a "$after" --argjson tck "$TCK" --arg run "$label" '
    ($b | split(" ") | map(tonumber)) as $b | ($a | split(" ") | map(tonumber)) as $a
    | . + {run: $run, wall_s: ($a[0] - $b[0]),
           cpu_s: {node_a: (($a[1] - $b[1]) / $tck), node_b: (($a[2] - $b[2]) / $tck),
                   postgres: (($a[3] - $b[3]) / $tck), nginx: (($a[4] - $b[4]) / $tck),
                   machine: (($a[5] - $b[5]) / $tck)}}' \
    "$work/results/$label.json" >"$work/results/$label.json.tmp"
  mv "$work/results/$label.json.tmp" "$work/results/$label.json"
  local errs
  errs=$(jq -r '.all.errors' "$work/results/$label.json")
  note "$label: $(jq -r '"\(.all.rps) req/s, \(.all.errors) errors, p99 \(.all.p99_ms) ms"' "$work/results/$label.json")"
  [ "$errs" = 0 ] || jq -r '.error_samples[:5][] | "#   \(.kind) \(.url) -> \(.status // .error) \(.body[:200])"' "$work/results/$label.json" >&2
}

# --- nginx (optional) ---------------------------------------------------------------
if [ "$WITH_NGINX" = 1 ]; then
  PORT_N=$(free_port)
  mkdir -p "$work/nginx"
  # The proxy settings of docs/deploy/nginx.conf, without TLS.
  cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log $work/nginx/access.log;
  upstream gongshu { least_conn; server 127.0.0.1:$PORT_A; server 127.0.0.1:$PORT_B; keepalive 64; }
  server {
    listen 127.0.0.1:$PORT_N;
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_read_timeout 300s;
    location / {
      proxy_pass http://gongshu;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
}
EOF
  nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -g 'daemon off;' &
  NGINX_PID=$!
  wait_http "http://127.0.0.1:$PORT_N/healthz" "$NGINX_PID"
  N="http://127.0.0.1:$PORT_N"
fi

# --- the runs -----------------------------------------------------------------------
sleep 5 # let both nodes settle after the checks (node B has just built its index)
RUNS=()
for ((r = 1; r <= ROUNDS; r++)); do
  for c in $CONCURRENCY; do
    run_load "1node-c$c-r$r" "$c" "$A"; RUNS+=("1node-c$c-r$r")
    run_load "2nodes-c$c-r$r" "$c" "$A" "$B"; RUNS+=("2nodes-c$c-r$r")
    if [ "$WITH_NGINX" = 1 ]; then run_load "nginx-c$c-r$r" "$c" "$N"; RUNS+=("nginx-c$c-r$r"); fi
  done
done

# --- which SQL the mix costs (pg_stat_statements, one more run) ---------------------
STMT_TABLE=""
if [ "$STATEMENTS" = 1 ]; then
  cmax=$(tr ' ' '\n' <<<"$CONCURRENCY" | sort -n | tail -1)
  psql_db -c "ALTER SYSTEM SET pg_stat_statements.track = 'top'" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1
  psql_db -c "SELECT pg_stat_statements_reset()" >/dev/null
  run_load "statements-c$cmax" "$cmax" "$A" "$B"
  # Includes the warm-up's statements: per request figures are over warm-up and run.
  nall=$(jq -r '(.all.rps * (.warmup_s + .duration_s)) | floor' "$work/results/statements-c$cmax.json")
  STMT_TABLE=$(psql_db -F $'\t' -c "
    WITH s AS (SELECT calls, total_exec_time, rows, regexp_replace(query, '\s+', ' ', 'g') AS q
               FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'gongshu'))
    SELECT calls, round(total_exec_time::numeric, 1), round((total_exec_time / calls)::numeric, 3),
           round((100 * total_exec_time / sum(total_exec_time) OVER ())::numeric, 1),
           round(calls::numeric / $nall, 2),
           CASE WHEN length(q) > 160 THEN left(q, 75) || ' … ' || right(q, 80) ELSE q END
    FROM s ORDER BY total_exec_time DESC LIMIT 12" |
    awk -F'\t' '{gsub(/\|/, "\\|", $6); printf "| %s | %s | %s | %s %% | %s | `%s` |\n", $1, $2, $3, $4, $5, $6}')
  STMT_SUM=$(psql_db -c "SELECT sum(calls), round(sum(total_exec_time)::numeric / 1000, 1), count(*) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'gongshu')")
  psql_db -c "ALTER SYSTEM SET pg_stat_statements.track = 'none'" -c "SELECT pg_reload_conf()" >/dev/null
fi

# --- the peer: the row API's shape against Datasette --------------------------------
PEER_RUNS=()
if [ "$PEER" = 1 ]; then
  csv=$(table_csv "$ROWS_BIG" utf8)
  db=$(sqlite_db "$csv")
  dsname=$(basename "$db" .sqlite)
  dport=$(free_port)
  DS_LOG="$work/datasette.log" start_datasette "$db" "$dport" --setting default_page_size 50 --setting sql_time_limit_ms 5000
  D="http://127.0.0.1:$dport"
  LEAN="_shape=objects&_nocount=1&_nofacet=1"
  g_paths=("/api/v1/resources/$RID_BIG/rows?_size=50") d_paths=("/$dsname/t.json?_size=50&$LEAN")
  for c in 370102 370203 370302 370602 370702 370811; do
    g_paths+=("/api/v1/resources/$RID_BIG/rows?_size=50&$county=$c")
    d_paths+=("/$dsname/t.json?_size=50&${county}__exact=$c&$LEAN")
  done
  # Same rows: the count and the first credit code of each pair.
  firsts() { curl -fsS "$1" | jq -r '(if type == "array" then . else (.rows // []) end) as $r
    | "\($r | length) \(($r[0] // "" | tostring | match("9[0-9A-Z]{17}").string) // "-")"'; }
  for i in "${!g_paths[@]}"; do
    ga=$(firsts "$A${g_paths[$i]}") || die "check failed: $A${g_paths[$i]}"
    da=$(firsts "$D${d_paths[$i]}") || die "check failed: $D${d_paths[$i]}"
    [ "$ga" = "$da" ] || die "Gongshu and Datasette differ on ${g_paths[$i]}: $ga / $da"
  done
  printf '%s\n' "${g_paths[@]}" | jq -R . | jq -s '{kinds: [{name: "row API", weight: 1, paths: .}]}' >"$work/plan-g.json"
  printf '%s\n' "${d_paths[@]}" | jq -R . | jq -s '{kinds: [{name: "row API", weight: 1, paths: .}]}' >"$work/plan-d.json"
  # peer_run LABEL PLAN TARGET PIDS_FN C: one run against one server, with the CPU seconds
  # of the processes PIDS_FN lists (Gongshu: the node and PostgreSQL).
  gongshu_pids() { echo "$PID_A" $(pg_pids); }
  datasette_pids() { echo "$DS_PID"; }
  peer_run() {
    local t0 before
    t0=$(date +%s.%N); before=$(ticks $($4))
    "$PY" "$LOAD" "$2" --target "$3" -c "$5" -d "$DURATION" -w "$WARMUP" \
      --out "$work/results/$1.json" >/dev/null || die "load generator failed ($1)"
    jq --argjson s "$(($(ticks $($4)) - before))" --argjson tck "$TCK" \
      --argjson w "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')" \
      '. + {wall_s: $w, server_cpu_s: ($s / $tck)}' "$work/results/$1.json" >"$work/tmp.json"
    mv "$work/tmp.json" "$work/results/$1.json"
    note "$1: $(jq -r '"\(.all.rps) req/s, \(.all.errors) errors, p99 \(.all.p99_ms) ms"' "$work/results/$1.json")"
  }
  for c in $CONCURRENCY; do
    peer_run "peer-gongshu-c$c" "$work/plan-g.json" "$A" gongshu_pids "$c"
    peer_run "peer-datasette-c$c" "$work/plan-d.json" "$D" datasette_pids "$c"
    PEER_RUNS+=("peer-gongshu-c$c" "peer-datasette-c$c")
  done
fi

# --- report -------------------------------------------------------------------------
echo "Two nodes: $(machine)."
echo "Gongshu $("$BIN" --version | awk '{print $2}'); PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $NF}') (defaults, one cluster on loopback);" \
  "load generator: Python $("$PY" -c 'import platform; print(platform.python_version())'), aiohttp $(pkg_version aiohttp), uvloop $(pkg_version uvloop)$(
  [ "$WITH_NGINX" = 1 ] && echo ", nginx $(nginx -v 2>&1 | sed 's|.*/||')")$(
  [ "$PEER" = 1 ] && echo "; Datasette $(pkg_version datasette), SQLite $("$PY" -c 'import sqlite3; print(sqlite3.sqlite_version)')")."
echo "Catalog: $total published entries (demo + --demo-scale $SCALE); row API on $ROWS_BIG rows ($CODE_BIG) and $ROWS_SMALL rows ($CODE_SMALL); CSV download $dl_mb MB ($ROWS_SMALL rows)."
echo "Search agreement before the load: $SEARCH_CMP."
echo "Plan: ${#search_paths[@]} search words (hits: $hits), ${#page_paths[@]} entry pages, ${#rows_paths[@]} row queries, ${#dl_paths[@]} download; weights 40/30/20/10; warm-up ${WARMUP} s, measured ${DURATION} s per run."
echo
"$PY" - "$work/results" "${RUNS[@]}" -- "${PEER_RUNS[@]}" <<'PYEOF'
import json, sys
d = sys.argv[1]
args = sys.argv[2:]
sep = args.index("--")
runs, peers = args[:sep], args[sep + 1:]
R = {n: json.load(open(f"{d}/{n}.json")) for n in runs + peers}
def ms(v): return "–" if v is None else f"{v:.1f}"
def err(s): return f"{s['errors']} ({100 * s['error_rate']:.2f} %)"
def who(n):
    return {"1node": "1 node", "2nodes": "2 nodes, round-robin", "nginx": "2 nodes, nginx"}[n.split("-")[0]]
print("| run | concurrency | req/s | errors (rate) | p50 ms | p95 ms | p99 ms | CPU s per s: node A / node B / PostgreSQL / load generator / nginx / other processes | requests A / B |")
print("|---|---|---|---|---|---|---|---|---|")
for n in runs:
    r = R[n]; a = r["all"]; c = r["cpu_s"]; s = r["wall_s"]
    pt = list(r["per_target"].values())
    split = " / ".join(str(p["requests"]) for p in pt) if len(pt) > 1 else str(pt[0]["requests"]) + " / –"
    if n.startswith("nginx"): split = "via nginx"
    print(f"| {who(n)} ({n.split('-')[-1]}) | {r['concurrency']} | {a['rps']:.0f} | {err(a)} | {ms(a['p50_ms'])} | {ms(a['p95_ms'])} | {ms(a['p99_ms'])} | "
          f"{c['node_a'] / s:.2f} / {c['node_b'] / s:.2f} / {c['postgres'] / s:.2f} / {r['loadgen_cpu_s'] / s:.2f} / "
          f"{(str(round(c['nginx'] / s, 2)) if n.startswith('nginx') else '–')} / "
          f"{max(0, c['machine'] - c['node_a'] - c['node_b'] - c['postgres'] - c['nginx'] - r['loadgen_cpu_s']) / s:.2f} | {split} |")
print()
print("| run | concurrency | kind | req/s | errors | p50 ms | p95 ms | p99 ms | MB read |")
print("|---|---|---|---|---|---|---|---|---|")
for n in runs:
    r = R[n]
    for k, v in r["kinds"].items():
        print(f"| {who(n)} ({n.split('-')[-1]}) | {r['concurrency']} | {k} | {v['rps']:.0f} | {v['errors']} | {ms(v['p50_ms'])} | {ms(v['p95_ms'])} | {ms(v['p99_ms'])} | {v['mb']} |")
if peers:
    print()
    print("| row API, one server | concurrency | req/s | errors | p50 ms | p95 ms | p99 ms | server CPU s per s (Gongshu: node + PostgreSQL) | Gongshu ÷ Datasette |")
    print("|---|---|---|---|---|---|---|---|---|")
    for i in range(0, len(peers), 2):
        g, ds = R[peers[i]], R[peers[i + 1]]
        for name, r in (("Gongshu", g), ("Datasette (lean)", ds)):
            a = r["all"]
            ratio = f"{g['all']['rps'] / ds['all']['rps']:.1f}×" if name == "Gongshu" and ds['all']['rps'] else ""
            print(f"| {name} | {r['concurrency']} | {a['rps']:.0f} | {err(a)} | {ms(a['p50_ms'])} | {ms(a['p95_ms'])} | {ms(a['p99_ms'])} | {r['server_cpu_s'] / r['wall_s']:.2f} | {ratio} |")
errs = [(n, s) for n in runs + peers for s in R[n]["error_samples"]]
if errs:
    print()
    print("Errors (first samples):")
    for n, s in errs[:20]:
        print(f"- {n}: {s['kind']} {s['url']} → {s['status'] or s['error']} after {s['ms']} ms at {s['at_s']} s: {s['body'][:200]!r}")
PYEOF
if [ -n "$STMT_TABLE" ]; then
  IFS='|' read -r scalls ssecs sn <<<"$STMT_SUM"
  echo
  echo "SQL in PostgreSQL during one more 2-node run at concurrency $cmax ($(jq -r '"\(.all.rps) req/s, \(.all.errors) errors"' "$work/results/statements-c$cmax.json"); warm-up included, about $nall HTTP requests): $scalls statements ($(awk -v a="$scalls" -v b="$nall" 'BEGIN {printf "%.1f", a / b}') per request) of $sn kinds, $ssecs s of execution in all. The 12 that took longest:"
  echo
  echo "| calls | total ms | mean ms | share | per HTTP request | statement |"
  echo "|---|---|---|---|---|---|"
  echo "$STMT_TABLE"
fi
echo
echo "Peak RSS: node A $(hwm_mib "$PID_A") MiB, node B $(hwm_mib "$PID_B") MiB$([ "$PEER" = 1 ] && echo ", Datasette $(hwm_mib "$DS_PID") MiB")."
echo "Server warnings and errors logged: node A $(grep -cE ' (WARN|ERROR) ' "$work/node-a.log" || true), node B $(grep -cE ' (WARN|ERROR) ' "$work/node-b.log" || true) (logs in $work)."
