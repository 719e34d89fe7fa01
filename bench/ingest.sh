#!/usr/bin/env bash
# Ingest: a large government CSV (UTF-8, and the same rows in GBK) into columnar storage.
#
#   bench/ingest.sh [ROWS]        ROWS defaults to 10000000 (UTF-8 ≈ 2.8 GB, GBK ≈ 2.1 GB)
#
# Peer: DuckDB (Python package), `COPY (SELECT * FROM read_csv(f)) TO 'out.parquet'`,
# types auto-detected. Gongshu: `gongshu import --data-dir D --dataset CODE FILE --json`
# into a fresh data directory whose demo catalog holds CODE; the server is not running.
# Each command runs under `/usr/bin/time -v` (wall time, peak RSS) with the CSV already in
# the page cache. Prints a Markdown table.
#
# Needs: python3, curl, jq, GNU time, Rust (builds Gongshu); installs what is missing
# (apt-get as root or with passwordless sudo, pip into $BENCH_VENV). See bench/lib.sh for
# the environment variables (BENCH_DIR, GONGSHU_BIN, SKIP_BUILD, DATASET, ...).
# RUNS=n repeats each measurement and reports medians (default 1).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROWS="${1:-${ROWS:-10000000}}"
RUNS="${RUNS:-1}"

need curl; need jq; need /usr/bin/time time; need iconv libc-bin
need_venv duckdb
need_gongshu

utf8=$(table_csv "$ROWS" utf8)
gbk=$(table_csv "$ROWS" gbk)
work="$BENCH_DIR/ingest-$ROWS"
rm -rf "$work"; mkdir -p "$work"

# Runs one DuckDB conversion; prints the row count DuckDB reports.
# shellcheck disable=SC2016
DUCK_PY='
import sys, duckdb
src, out, enc, ext = sys.argv[1:5]
con = duckdb.connect()
# Its progress bar goes to stdout, where the row count is read.
con.execute("SET enable_progress_bar = false")
if ext == "load":
    con.execute("LOAD encodings")
opt = f", encoding = {enc!r}" if enc else ""
con.execute(f"COPY (SELECT * FROM read_csv({src!r}{opt})) TO {out!r} (FORMAT parquet)")
# What COPY returns changed across DuckDB versions; the Parquet footer has the count.
print(con.execute(f"SELECT count(*) FROM read_parquet({out!r})").fetchone()[0])
'

# How DuckDB can read GBK, found on a small sample: "native", "load" (the encodings
# extension, installed now or before: INSTALL downloads it from extensions.duckdb.org),
# or "no: reason".
# shellcheck disable=SC2016
DUCK_GBK_PY='
import sys, duckdb
sample = sys.argv[1]
con = duckdb.connect()
q = "SELECT count(*) FROM read_csv(%r, encoding = %r)" % (sample, "gb18030")
try:
    con.execute(q); print("native"); sys.exit()
except Exception:
    pass
for setup in ("LOAD encodings", "INSTALL encodings"):
    try:
        con.execute(setup)
        if setup.startswith("INSTALL"):
            con.execute("LOAD encodings")
        con.execute(q); print("load"); sys.exit()
    except Exception as e:
        err = str(e).splitlines()[0]
print("no: " + err[:160])
'

# DuckDB's detected types for the code, number and date columns, for the notes.
# shellcheck disable=SC2016
DUCK_TYPES_PY='
import sys, duckdb
con = duckdb.connect()
t = dict((r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM read_csv({sys.argv[1]!r})").fetchall())
print(", ".join(f"{c} {t.get(c)}" for c in ("所属区县代码", "邮政编码", "注册资本", "成立日期", "是否高新技术企业")))
'

mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN {printf "%.0f", b / 1e6}'; }

# row TOOL FILE ROWS NOTES TIMEFILE...: one table row, medians over the time files.
row() {
  local tool=$1 file=$2 rows=$3 notes=$4; shift 4
  local w r
  w=$(for t in "$@"; do wall_s "$t"; echo; done | median)
  r=$(for t in "$@"; do rss_mib_of "$t"; echo; done | median)
  awk -v tool="$tool" -v file="$(basename "$file") ($(mb "$file") MB)" -v rows="$rows" -v w="$w" \
    -v r="$r" -v b="$(stat -c %s "$file")" -v notes="$notes" 'BEGIN {
      printf "| %s | %s | %d | %.2f | %.0f | %.1f | %s | %s |\n",
        tool, file, rows, w, (w > 0 ? rows / w : 0), (w > 0 ? b / 1e6 / w : 0), r, notes }'
}

echo "Ingest of $ROWS rows: $(machine)."
echo "Gongshu $("$BIN" --version | awk '{print $2}'), DuckDB $(pkg_version duckdb) (Python $("$PY" -c 'import platform; print(platform.python_version())')); runs per figure: $RUNS."
echo
echo "| tool | file | rows | wall s | rows/s | MB/s | peak RSS MiB | notes |"
echo "|---|---|---|---|---|---|---|---|"

# --- DuckDB -------------------------------------------------------------------------
types=$("$PY" -c "$DUCK_TYPES_PY" "$utf8")
times=()
for i in $(seq "$RUNS"); do
  warm "$utf8"; rm -f "$work/duck.parquet"
  /usr/bin/time -v -o "$work/duck-utf8-$i.time" "$PY" -c "$DUCK_PY" "$utf8" "$work/duck.parquet" "" "" >"$work/duck.out"
  times+=("$work/duck-utf8-$i.time")
done
row "DuckDB read_csv → Parquet" "$utf8" "$(cat "$work/duck.out")" "detected: $types" "${times[@]}"

head -c 200000 "$gbk" | head -n -1 >"$work/gbk-sample.csv"
gbk_mode=$("$PY" -c "$DUCK_GBK_PY" "$work/gbk-sample.csv")
if [ "$gbk_mode" = native ] || [ "$gbk_mode" = load ]; then
  times=()
  for i in $(seq "$RUNS"); do
    warm "$gbk"; rm -f "$work/duck.parquet"
    /usr/bin/time -v -o "$work/duck-gbk-$i.time" "$PY" -c "$DUCK_PY" "$gbk" "$work/duck.parquet" gb18030 \
      "$([ "$gbk_mode" = load ] && echo load)" >"$work/duck.out"
    times+=("$work/duck-gbk-$i.time")
  done
  row "DuckDB read_csv(encoding='gb18030') → Parquet" "$gbk" "$(cat "$work/duck.out")" \
    "$([ "$gbk_mode" = load ] && echo "needs the encodings extension" || echo "built in")" "${times[@]}"
else
  echo "| DuckDB read_csv → Parquet | $(basename "$gbk") ($(mb "$gbk") MB) | – | – | – | – | – | GBK not supported: built-in encodings are utf-8, utf-16, latin-1; encodings extension unavailable (${gbk_mode#no: }) |"
fi
# What a DuckDB user does without the extension: convert to UTF-8 first.
times=()
for i in $(seq "$RUNS"); do
  warm "$gbk"; rm -f "$work/duck.parquet" "$work/gbk-as-utf8.csv"
  # shellcheck disable=SC2016
  /usr/bin/time -v -o "$work/duck-iconv-$i.time" bash -c \
    'iconv -f GB18030 -t UTF-8 "$1" >"$2" && "$3" -c "$4" "$2" "$5" "" ""' _ \
    "$gbk" "$work/gbk-as-utf8.csv" "$PY" "$DUCK_PY" "$work/duck.parquet" >"$work/duck.out"
  times+=("$work/duck-iconv-$i.time")
done
rm -f "$work/gbk-as-utf8.csv"
row "iconv GB18030→UTF-8, then DuckDB → Parquet" "$gbk" "$(cat "$work/duck.out")" \
  "peak RSS is the larger of the two processes" "${times[@]}"

# --- Gongshu ------------------------------------------------------------------------
for enc in utf8 gbk; do
  file=$([ "$enc" = utf8 ] && echo "$utf8" || echo "$gbk")
  times=()
  for i in $(seq "$RUNS"); do
    dir="$work/gongshu-$enc-$i"
    dataset_code "$dir"   # fresh data dir: loads the demo, finds CODE; not timed
    warm "$file"
    gongshu_import "$dir" "$CODE" "$file" "$work/gongshu-$enc-$i.json" "$work/gongshu-$enc-$i.time"
    times+=("$work/gongshu-$enc-$i.time")
  done
  j="$work/gongshu-$enc-$RUNS.json"
  rows=$(jq -r '.rows' "$j"); rejected=$(jq -r '.rejected // 0' "$j")
  [ "$rows" = "$ROWS" ] || note "gongshu import reported $rows rows for $ROWS in the file"
  # Protection's share (issue 5: at most 30 % added): detection and the open version
  # against reading, checking, encoding and staging, from the job's own stage timings.
  prot=$(jq -r '.timings | if . == null then "no timings" else
      "read \(.read_ms) ms, detect \(.detect_ms) ms, publish with open version \(.publish_ms) ms: protection adds \(((.detect_ms + .publish_ms) * 1000 / .read_ms | floor) / 10) %" end' "$j")
  personal=$(jq -r '[.personal_columns[]? | "\(.column)=\(.kind)"] | join(" ")' "$j")
  row "gongshu import ($enc)" "$file" "$rows" "dataset $CODE, rejected $rejected; $prot; personal: $personal" "${times[@]}"
  rm -rf "$work/gongshu-$enc-"*/   # the stored copies are large; keep the JSON and timings
done

# --- Gongshu, important data: the same UTF-8 table sealed at rest ----------------------
# Into the demo's important entry (电子健康档案), with a key file outside the data dir;
# once with SM4-GCM (国密, in software) and once with AES-256-GCM (AES-NI where present).
for alg in sm4-gcm aes-256-gcm; do
  key="$work/at-rest-keys-$alg.toml"
  bytes=$([ "$alg" = sm4-gcm ] && echo 16 || echo 32)
  printf 'active = "bench"\n[[keys]]\nid = "bench"\nalgorithm = "%s"\nkey = "%s"\n' \
    "$alg" "$(head -c "$bytes" /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$key"
  times=()
  for i in $(seq "$RUNS"); do
    dir="$work/gongshu-sealed-$alg-$i"
    mkdir -p "$dir"; port=$(free_port); start_gongshu "$dir" "$port"   # loads the demo; not timed
    code=$(curl -fsS "http://127.0.0.1:$port/api/v1/datasets?q=$(urlenc 电子健康档案)&per_page=1" | jq -r '.items[0].code // empty')
    stop_pid "$GS_PID"
    [ -n "$code" ] || die "no important demo entry (电子健康档案) in $dir"
    warm "$utf8"
    GONGSHU_AT_REST_KEYS="$key" gongshu_import "$dir" "$code" "$utf8" "$work/gongshu-sealed-$alg-$i.json" "$work/gongshu-sealed-$alg-$i.time"
    times+=("$work/gongshu-sealed-$alg-$i.time")
    sealed_bytes=$(du -sb "$dir/objects" | cut -f1)
    rm -rf "$dir"
  done
  j="$work/gongshu-sealed-$alg-$RUNS.json"
  prot=$(jq -r '.timings | "read \(.read_ms) ms, detect \(.detect_ms) ms, publish with open version \(.publish_ms) ms"' "$j")
  row "gongshu import (utf8), important: sealed with $alg" "$utf8" "$(jq -r '.rows' "$j")" \
    "entry $code; $prot; stored $(awk -v b="$sealed_bytes" 'BEGIN {printf "%.0f", b / 1e6}') MB sealed (original, table, open version)" "${times[@]}"
done
