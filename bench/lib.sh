# Shared helpers of the bench/*.sh scripts; sourced, not run.
#
# Environment (all optional):
#   BENCH_DIR         work directory for generated tables and data   [$HOME/.cache/gongshu-bench]
#   BENCH_VENV        Python virtualenv for the peers                 [$HOME/.cache/gongshu-bench-venv]
#   CARGO_TARGET_DIR  where cargo builds Gongshu                      [$HOME/.cache/gongshu-target]
#   GONGSHU_BIN       use this binary instead of building one
#   SKIP_BUILD=1      use $CARGO_TARGET_DIR/release/gongshu as it is
#   DATASET           catalog code to import into (default: found through the API)
# shellcheck shell=bash

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$HOME/.cache/gongshu-bench}"
BENCH_VENV="${BENCH_VENV:-$HOME/.cache/gongshu-bench-venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gongshu-target}"
mkdir -p "$BENCH_DIR"

die() { echo "error: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# apt_install PKG...: as root, or through passwordless sudo; otherwise print the command.
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo"; else
      die "missing packages; run: sudo apt-get install -y $*"
    fi
  fi
  note "installing $* with apt-get"
  $sudo apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null ||
    die "apt-get install -y $* failed"
}

# need CMD [PKG]: make sure CMD exists, installing the Debian package PKG if not.
need() {
  local cmd=$1 pkg=${2:-$1}
  [ -x "$cmd" ] || command -v "$cmd" >/dev/null || apt_install "$pkg"
  [ -x "$cmd" ] || command -v "$cmd" >/dev/null || die "$cmd still missing after installing $pkg"
}

# The peers live in their own virtualenv so that neither Debian's externally managed
# Python nor a user's packages get in the way. PY and the tools come from there.
need_venv() {
  local pkgs=("$@") missing=()
  need python3
  if [ ! -x "$BENCH_VENV/bin/python" ]; then
    python3 -m venv "$BENCH_VENV" 2>/dev/null || {
      rm -rf "$BENCH_VENV"
      apt_install python3-venv
      python3 -m venv "$BENCH_VENV" || die "python3 -m venv $BENCH_VENV failed"
    }
  fi
  for p in "${pkgs[@]}"; do
    "$BENCH_VENV/bin/python" -m pip show -q "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    note "installing ${missing[*]} into $BENCH_VENV"
    "$BENCH_VENV/bin/python" -m pip install -q "${missing[@]}" ||
      die "pip install failed; run: $BENCH_VENV/bin/python -m pip install ${missing[*]}"
  fi
  PY="$BENCH_VENV/bin/python"
}
pkg_version() { "$BENCH_VENV/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))"; }

# Sets BIN to a release build of Gongshu.
need_gongshu() {
  if [ -n "${GONGSHU_BIN:-}" ]; then
    BIN=$GONGSHU_BIN
  else
    BIN="$CARGO_TARGET_DIR/release/gongshu"
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
      command -v cargo >/dev/null || die "cargo not found: install Rust from https://rustup.rs"
      note "building: cargo build --release -p gongshu (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
      (cd "$BENCH_ROOT" && cargo build --release -q -p gongshu) || die "cargo build failed"
    fi
  fi
  [ -x "$BIN" ] || die "no Gongshu binary at $BIN"
}

# The generated table of ROWS rows (utf8 or gbk), made once and reused.
table_csv() {
  local rows=$1 enc=$2 f flags=()
  f="$BENCH_DIR/table-$rows-$enc-scope${GEN_SCOPE:-40-80}.csv"
  [ "$enc" = gbk ] && flags=(--gbk)
  if [ ! -s "$f" ]; then
    note "generating $f"
    python3 "$BENCH_ROOT/bench/gen_table.py" "$rows" "$f" "${flags[@]}" >&2 ||
      die "gen_table.py failed"
  fi
  echo "$f"
}

# Warm the page cache so that no tool pays for reading the file from disk.
warm() { cat "$@" >/dev/null; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL PID: poll until URL answers 200, failing if the process dies.
wait_http() {
  local url=$1 pid=$2 i=0
  until curl -fs -o /dev/null "$url"; do
    kill -0 "$pid" 2>/dev/null || die "server (pid $pid) died before answering $url"
    i=$((i + 1)); [ $i -lt 6000 ] || die "no answer from $url after 60 s"
    sleep 0.01
  done
}

# Servers started here are stopped on exit.
PIDS=()
stop_servers() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
}
trap stop_servers EXIT

stop_pid() {
  local p keep=()
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# start_gongshu DATA_DIR PORT: serve in the background; sets GS_PID. Log in DATA_DIR.log.
start_gongshu() {
  local dir=$1 port=$2
  "$BIN" serve --demo --rate-limit 0 --data-dir "$dir" --addr "127.0.0.1:$port" >"$dir.log" 2>&1 &
  GS_PID=$!
  PIDS+=("$GS_PID")
  wait_http "http://127.0.0.1:$port/healthz" "$GS_PID"
}

# dataset_code DATA_DIR: sets CODE to a published, unconditionally open catalog entry
# to import into, starting the server once on DATA_DIR (which loads the demo) to ask.
# Prefers the demo's enterprise registration entry (its columns are this table's).
dataset_code() {
  local dir=$1 port base
  port=$(free_port)
  start_gongshu "$dir" "$port"
  if [ -n "${DATASET:-}" ]; then
    CODE=$DATASET
  else
    base="http://127.0.0.1:$port/api/v1/datasets?open_type=unconditional&per_page=1"
    CODE=$(curl -fsS "$base&q=$(urlenc 企业登记注册信息)" | jq -r '.items[0].code // empty')
    [ -n "$CODE" ] || CODE=$(curl -fsS "$base" | jq -r '.items[0].code // empty')
  fi
  stop_pid "$GS_PID"
  [ -n "$CODE" ] || die "no published unconditionally open dataset in $dir"
}

# gongshu_import DATA_DIR CODE FILE OUT_JSON TIME_FILE: the timed import.
gongshu_import() {
  local dir=$1 code=$2 file=$3 out=$4 tf=$5
  if ! "$BIN" import --help >/dev/null 2>&1; then
    die "this Gongshu build has no \`gongshu import\` subcommand ($BIN).
       Expected: gongshu import --data-dir DIR --dataset CODE FILE --json
       printing {\"resource_id\": ..., \"version\": ..., \"rows\": N, \"rejected\": K} on stdout."
  fi
  /usr/bin/time -v -o "$tf" "$BIN" import --data-dir "$dir" --dataset "$code" "$file" --json \
    >"$out" 2>"$out.stderr" || {
    local rc=$?
    tail -5 "$out.stderr" >&2
    die "gongshu import failed (exit $rc); stderr in $out.stderr"
  }
  jq -e '.resource_id' "$out" >/dev/null 2>&1 ||
    die "gongshu import printed no JSON summary with resource_id: $(head -c 500 "$out")"
}

# Values from a `/usr/bin/time -v` report.
wall_s() {
  awk -F': ' '/Elapsed \(wall clock\)/ {
    n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$1"
}
rss_mib_of() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"; }

urlenc() { jq -rn --arg s "$1" '$s|@uri'; }

machine() {
  local cpu mem
  cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
  mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
  echo "$(date -u +%F), $(nproc)-core ${cpu:-unknown CPU}, $mem RAM, $(. /etc/os-release && echo "$PRETTY_NAME")"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# sqlite_db CSV: the table in SQLite for Datasette, made once and reused. One table `t`,
# rowid order = file order, no index. 注册资本 REAL and 从业人数 INTEGER so that range
# filters compare numbers; codes stay TEXT; empty cells are NULL.
sqlite_db() {
  local csv=$1 db
  db="${csv%.csv}.sqlite"
  if [ ! -s "$db" ]; then
    note "loading $csv into $db"
    "$PY" - "$csv" "$db" <<'PYEOF' || die "loading SQLite failed"
import csv, os, sqlite3, sys
src, db = sys.argv[1:3]
types = {"注册资本": "REAL", "从业人数": "INTEGER"}
tmp = db + ".part"
if os.path.exists(tmp):
    os.remove(tmp)
con = sqlite3.connect(tmp)
con.execute("PRAGMA journal_mode = OFF")
con.execute("PRAGMA synchronous = OFF")
with open(src, encoding="utf-8", newline="") as f:
    rows = csv.reader(f)
    header = next(rows)
    con.execute("CREATE TABLE t (%s)" % ", ".join('"%s" %s' % (h, types.get(h, "TEXT")) for h in header))
    ins = "INSERT INTO t VALUES (%s)" % ", ".join("?" * len(header))
    con.executemany(ins, ([v if v != "" else None for v in r] for r in rows))
con.commit()
con.close()
os.replace(tmp, db)
PYEOF
  fi
  echo "$db"
}

# start_datasette DB PORT EXTRA_ARGS...: immutable mode with a precomputed row count, as
# `datasette publish` deploys; sets DS_PID. Log in $DS_LOG (default: next to DB).
start_datasette() {
  local db=$1 port=$2; shift 2
  [ -s "$db.inspect.json" ] || "$BENCH_VENV/bin/datasette" inspect "$db" --inspect-file "$db.inspect.json" >/dev/null
  "$BENCH_VENV/bin/datasette" serve -i "$db" --inspect-file "$db.inspect.json" \
    --host 127.0.0.1 --port "$port" "$@" >"${DS_LOG:-$db.log}" 2>&1 &
  DS_PID=$!
  PIDS+=("$DS_PID")
  wait_http "http://127.0.0.1:$port/-/versions.json" "$DS_PID"
}

# Peak resident memory of a running process so far (VmHWM), MiB.
hwm_mib() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
