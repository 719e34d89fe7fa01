#!/usr/bin/env bash
# Sandbox aggregates (issue 9): `POST /api/v1/sandbox/queries` against DuckDB running the
# same SQL over the same Parquet file, on the same machine.
#
#   bench/sandbox.sh [ROWS]       ROWS defaults to 10000000
#
# The generated table is imported with `gongshu import` into an unconditionally open
# catalog entry, which any signed-in user may use in the sandbox. The script adds a user
# (`gongshu user add`, password from GONGSHU_USER_PASSWORD), takes an API token from
# `POST /api/v1/auth/token` and times three GROUP BY shapes, each RUNS times (default 7)
# after one warm-up run, median reported:
#   - Gongshu sandbox: the HTTP POST end to end (curl's time_total): gate, guard and
#     rewrite, the engine with the hidden columns the disclosure control needs (COUNT(*),
#     COUNT(arg) per aggregate, gs_top2 and SUM(abs(x)) per SUM/AVG, the keys as text),
#     disclosure control, the stored record and its audit entries. Every answer must be
#     HTTP 201; its `state` is shown.
#   - Gongshu `/api/v1/sql` with the same SQL (HTTP 200): the engine alone, no rewrite
#     and no disclosure control. It reads the open version of the table (法定代表人
#     masked; the other columns are the raw file's chunks copied byte for byte).
#   - Gongshu `/api/v1/sql` with the sandbox's rewritten SQL written out by hand: the
#     engine's cost of the hidden columns, without the sandbox's bookkeeping.
#   - DuckDB (Python package, in-process): the same SQL over a view on read_parquet of
#     the raw Parquet file the sandbox reads. Only `execute(...).fetchall()` is timed; no
#     HTTP, no JSON. DuckDB's default threads (the machine's cores), as Gongshu's SQL
#     threads default to the cores: neither side is restricted.
# The answers are compared: the same groups, the same sums and means (relative 1e-9),
# and the same counts once DuckDB's are rounded as the sandbox releases them (to 5).
#
# Before each shape the script waits, up to QUIET_WAIT seconds (default 1200), for any
# compilation on the machine (rustc, cargo build/test/clippy) to end. When one ran
# during the shape's runs anyway, the shape is measured again, up to ATTEMPTS times
# (default 3), and the table says so.
#
# Environment: RUNS (default 7), QUIET_WAIT, ATTEMPTS, KEEP=1 to keep Gongshu's data
# directory (2.8 GB at 10 M rows: the original, the table, the open version; deleted by
# default, the JSON answers and timings stay), plus those of bench/lib.sh (BENCH_DIR,
# GONGSHU_BIN, SKIP_BUILD, DATASET, ...).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROWS="${1:-${ROWS:-10000000}}"
RUNS="${RUNS:-7}"
QUIET_WAIT="${QUIET_WAIT:-1200}"
ATTEMPTS="${ATTEMPTS:-3}"
KEEP="${KEEP:-0}"
# The disclosure profiles release counts rounded to this base (gongshu_core::disclosure).
ROUND_TO=5

need curl; need jq; need /usr/bin/time time
need_venv duckdb
need_gongshu

csv=$(table_csv "$ROWS" utf8)
work="$BENCH_DIR/sandbox-$ROWS"
rm -rf "$work"; mkdir -p "$work"
dir="$work/gongshu"

# --- data, user, server -------------------------------------------------------------
dataset_code "$dir"
warm "$csv"
gongshu_import "$dir" "$CODE" "$csv" "$work/import.json" "$work/import.time"
RID=$(jq -r '.resource_id' "$work/import.json")
T=$(jq -r '.table_name' "$work/import.json")
version_dir="$dir/objects/resources/$RID/versions/$(printf '%010d' "$(jq -r '.version' "$work/import.json")")"
parquet="$version_dir/$(jq -r '.parquet.name' "$version_dir/manifest.json")"
[ -s "$parquet" ] || die "no Parquet file of resource $RID at $parquet"

USER_NAME=bench-sandbox
USER_PASSWORD="Bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
GONGSHU_USER_PASSWORD="$USER_PASSWORD" "$BIN" user add "$USER_NAME" --data-dir "$dir" >"$work/user.log" 2>&1 ||
  die "gongshu user add $USER_NAME failed: $(tail -3 "$work/user.log")"

cleanup() {
  stop_servers
  if [ "$KEEP" != 1 ]; then rm -rf "$dir"; fi
}
trap cleanup EXIT

port=$(free_port)
start_gongshu "$dir" "$port"
API="http://127.0.0.1:$port/api/v1"
TOKEN=$(jq -n --arg u "$USER_NAME" --arg p "$USER_PASSWORD" '{username: $u, password: $p}' |
  curl -fsS -H 'Content-Type: application/json' --data-binary @- "$API/auth/token" | jq -r '.token // empty') ||
  die "POST $API/auth/token failed"
[ -n "$TOKEN" ] || die "no token from $API/auth/token"

# --- query shapes -------------------------------------------------------------------
# label | grouping columns | SQL | the sandbox's rewrite of it, as prepare() in
# gongshu-data/src/sandbox.rs writes it (for the /api/v1/sql row only).
S1="SELECT 所属区县代码, COUNT(*) AS n, SUM(注册资本) AS s, AVG(注册资本) AS a FROM $T GROUP BY 所属区县代码"
R1="SELECT 所属区县代码, COUNT(*) AS n, SUM(注册资本) AS s, AVG(注册资本) AS a, COUNT(*) AS \"__gs_0\", COUNT(注册资本) AS \"__gs_1\", COUNT(注册资本) AS \"__gs_2\", gs_top2(CAST(abs(注册资本) AS DOUBLE)) AS \"__gs_3\", SUM(CAST(abs(注册资本) AS DOUBLE)) AS \"__gs_4\", gs_top2(CAST(abs(注册资本) AS DOUBLE)) AS \"__gs_5\", SUM(CAST(abs(注册资本) AS DOUBLE)) AS \"__gs_6\", CAST(所属区县代码 AS VARCHAR) AS \"__gs_7\" FROM $T GROUP BY 所属区县代码"
S2="SELECT 所属区县代码, 登记状态, COUNT(*) AS n, SUM(注册资本) AS s, AVG(从业人数) AS staff FROM $T WHERE 成立日期 >= DATE '2015-01-01' AND 注册资本 >= 100 GROUP BY 所属区县代码, 登记状态"
R2="SELECT 所属区县代码, 登记状态, COUNT(*) AS n, SUM(注册资本) AS s, AVG(从业人数) AS staff, COUNT(*) AS \"__gs_0\", COUNT(注册资本) AS \"__gs_1\", COUNT(从业人数) AS \"__gs_2\", gs_top2(CAST(abs(注册资本) AS DOUBLE)) AS \"__gs_3\", SUM(CAST(abs(注册资本) AS DOUBLE)) AS \"__gs_4\", gs_top2(CAST(abs(从业人数) AS DOUBLE)) AS \"__gs_5\", SUM(CAST(abs(从业人数) AS DOUBLE)) AS \"__gs_6\", CAST(所属区县代码 AS VARCHAR) AS \"__gs_7\", CAST(登记状态 AS VARCHAR) AS \"__gs_8\" FROM $T WHERE 成立日期 >= DATE '2015-01-01' AND 注册资本 >= 100 GROUP BY 所属区县代码, 登记状态"
S3="SELECT 所属区县代码, COUNT(*) AS n FROM $T GROUP BY 所属区县代码"
R3="SELECT 所属区县代码, COUNT(*) AS n, COUNT(*) AS \"__gs_0\", CAST(所属区县代码 AS VARCHAR) AS \"__gs_1\" FROM $T GROUP BY 所属区县代码"
SHAPES=(
  "COUNT, SUM, AVG by county (100 groups)|1|$S1|$R1"
  "two keys, WHERE on date and capital (400 groups)|2|$S2|$R2"
  "COUNT by county (100 groups)|1|$S3|$R3"
)

# --- helpers ------------------------------------------------------------------------
busy() { pgrep -x rustc >/dev/null || pgrep -f 'cargo (test|build|clippy)' >/dev/null; }
# Waits for compilation elsewhere on the machine to end; sets BUSY when it did not.
wait_quiet() {
  local waited=0
  BUSY=""
  while busy; do
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
      note "compilation still running after ${QUIET_WAIT} s; measuring anyway"
      BUSY=1; return
    fi
    [ "$waited" -gt 0 ] || note "waiting for compilation (rustc, cargo) elsewhere to end"
    sleep 30; waited=$((waited + 30))
  done
}

# post PATH SQL EXPECT OUT: one POST; prints the seconds it took, or fails on another status.
post() {
  local path=$1 sql=$2 expect=$3 out=$4 code t
  read -r code t < <(jq -n --arg s "$sql" '{sql: $s}' |
    curl -s -o "$out" -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $TOKEN" \
      -H 'Content-Type: application/json' --data-binary @- "$API$path")
  if [ "$code" != "$expect" ]; then
    note "POST $path: HTTP $code (expected $expect): $(head -c 300 "$out")"
    return 1
  fi
  echo "$t"
}

# time_gongshu PATH SQL EXPECT OUT: a warm-up and RUNS timed POSTs; prints "median min max",
# or "fail". Sets RAN_BUSY when compilation ran during the runs.
time_gongshu() {
  local path=$1 sql=$2 expect=$3 out=$4 t times=()
  post "$path" "$sql" "$expect" "$out" >/dev/null || { echo fail; return; }
  for _ in $(seq "$RUNS"); do
    busy && RAN_BUSY=1
    t=$(post "$path" "$sql" "$expect" "$out") || { echo fail; return; }
    times+=("$t")
  done
  printf '%s\n' "${times[@]}" | sort -g |
    awk '{a[NR]=$1} END {printf "%.3f %.3f %.3f\n", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2), a[1], a[NR]}'
}

# DuckDB: a view named as the Gongshu table over the same Parquet file; a warm-up, then
# RUNS timed executions of the query (execute + fetchall only). Writes the last answer.
# shellcheck disable=SC2016
DUCK_PY='
import json, statistics, sys, time, duckdb
parquet, table, runs, sql, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({parquet!r})")
con.execute(sql).fetchall()
times = []
for _ in range(runs):
    t0 = time.perf_counter()
    rows = con.execute(sql).fetchall()
    times.append(time.perf_counter() - t0)
cols = [d[0] for d in con.description]
with open(out, "w") as f:
    json.dump({"columns": cols, "rows": [dict(zip(cols, r)) for r in rows]}, f, default=str, ensure_ascii=False)
threads = con.execute("SELECT current_setting(\x27threads\x27)").fetchone()[0]
print("%.3f %.3f %.3f %s" % (statistics.median(times), min(times), max(times), threads))
'

# Compares a Gongshu answer (sandbox or /api/v1/sql JSON) with DuckDB's: prints
# "N groups, Σn …, Σs …; same answers" or what differs.
# shellcheck disable=SC2016
CHECK_PY='
import json, sys
g_file, d_file, keys, rounded, base = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5])
g = json.load(open(g_file)); d = json.load(open(d_file))
if "result" in g:
    if g["result"] is None:
        print("no result shown (state %s)" % g.get("state")); sys.exit()
    g = g["result"]
gcols = [c["name"] if isinstance(c, dict) else c for c in g["columns"]]
def rows(ans, cols):
    out = {}
    for r in ans["rows"]:
        v = [r[c] for c in cols] if isinstance(r, dict) else list(r)
        out[tuple(str(x) for x in v[:keys])] = v
    return out
vis = d["columns"]
gr, dr = rows(g, gcols), rows(d, vis)
def rnd(n):
    r = n % base
    return n - r + base if 2 * r >= base else n - r
bad = []
if set(gr) != set(dr):
    bad.append("groups differ: %d Gongshu, %d DuckDB, %d in common" % (len(gr), len(dr), len(set(gr) & set(dr))))
for k in set(gr) & set(dr):
    for i, c in enumerate(vis[keys:], keys):
        a, b = gr[k][i], dr[k][i]
        if a is None or b is None:
            ok = a is None and b is None
        elif c == "n":
            ok = int(a) == (rnd(int(b)) if rounded else int(b))
        else:
            a, b = float(a), float(b)
            ok = abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)
        if not ok:
            bad.append("%s %s: %s against %s" % ("/".join(k), c, a, b)); break
    if len(bad) > 3:
        break
tot = lambda col: sum(float(v[vis.index(col)] or 0) for v in dr.values())
facts = "%d groups, Σn %d" % (len(dr), tot("n"))
if "s" in vis:
    facts += ", Σs %.2f" % tot("s")
print(facts + ("; same answers" + (" (counts rounded to %d)" % base if rounded else "") if not bad else "; DIFFER: " + "; ".join(bad[:4])))
'

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf (b > 0 ? "%.1f×" : "–"), a / b}'; }

# --- measurements -------------------------------------------------------------------
duck_version=$(pkg_version duckdb)
echo "Sandbox aggregates, $ROWS rows, median of $RUNS runs after one warm-up: $(machine)."
echo "Gongshu $("$BIN" --version | awk '{print $2}') (HTTP, curl time_total); DuckDB $duck_version (Python $("$PY" -c 'import platform; print(platform.python_version())'), in-process, query time only) over the same Parquet file ($(awk -v b="$(stat -c %s "$parquet")" 'BEGIN {printf "%.0f", b / 1e6}') MB)."
echo
echo "| query | engine | median s | min s | max s | ÷ DuckDB | notes |"
echo "|---|---|---|---|---|---|---|"

n=0
for shape in "${SHAPES[@]}"; do
  n=$((n + 1))
  IFS='|' read -r label keys sql rewritten <<<"$shape"
  # A compilation that starts during the runs slows whichever side runs then: the shape
  # is measured again, all four rows, up to ATTEMPTS times.
  for attempt in $(seq "$ATTEMPTS"); do
    wait_quiet
    RAN_BUSY=""
    read -r dmed dmin dmax dthreads < <("$PY" -c "$DUCK_PY" "$parquet" "$T" "$RUNS" "$sql" "$work/q$n-duckdb.json")
    busy && RAN_BUSY=1
    read -r smed smin smax < <(time_gongshu /sandbox/queries "$sql" 201 "$work/q$n-sandbox.json")
    read -r pmed pmin pmax < <(time_gongshu /sql "$sql" 200 "$work/q$n-sql.json")
    read -r rmed rmin rmax < <(time_gongshu /sql "$rewritten" 200 "$work/q$n-sql-rewritten.json")
    busy && RAN_BUSY=1
    [ -n "$RAN_BUSY" ] || break
    note "$label: compilation ran during attempt $attempt of $ATTEMPTS"
  done
  load="${BUSY:+compilation was running; }${RAN_BUSY:+compilation ran during the runs; }"
  [ "$attempt" = 1 ] || load="${load}attempt $attempt (compilation disturbed the earlier ones); "
  if [ "$smed" != fail ]; then
    state=$(jq -r '"state \(.state), \(.withheld_groups) groups withheld"' "$work/q$n-sandbox.json")
    check=$("$PY" -c "$CHECK_PY" "$work/q$n-sandbox.json" "$work/q$n-duckdb.json" "$keys" 1 "$ROUND_TO")
    echo "| $label | Gongshu sandbox POST | $smed | $smin | $smax | $(ratio "$smed" "$dmed") | $load$state; $check |"
  else
    echo "| $label | Gongshu sandbox POST | – | – | – | – | ${load}failed, see stderr |"
  fi
  if [ "$pmed" != fail ]; then
    check=$("$PY" -c "$CHECK_PY" "$work/q$n-sql.json" "$work/q$n-duckdb.json" "$keys" 0 "$ROUND_TO")
    echo "| $label | Gongshu /api/v1/sql, same SQL | $pmed | $pmin | $pmax | $(ratio "$pmed" "$dmed") | $check |"
  else
    echo "| $label | Gongshu /api/v1/sql, same SQL | – | – | – | – | failed, see stderr |"
  fi
  if [ "$rmed" != fail ]; then
    echo "| $label | Gongshu /api/v1/sql, sandbox's rewritten SQL | $rmed | $rmin | $rmax | $(ratio "$rmed" "$dmed") | hidden columns computed, no disclosure control |"
  else
    echo "| $label | Gongshu /api/v1/sql, sandbox's rewritten SQL | – | – | – | – | failed, see stderr |"
  fi
  echo "| $label | DuckDB | $dmed | $dmin | $dmax | 1.0× | threads = $dthreads (default) |"
done
echo
echo "Gongshu server peak RSS after the runs: $(hwm_mib "$GS_PID") MiB."
