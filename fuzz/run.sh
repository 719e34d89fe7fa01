#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers the public reaches, for a bounded time per target:
#   fuzz/run.sh [SECONDS] [TARGET ...]      (default: 60 s each, every target)
# Needs a nightly toolchain (libFuzzer's instrumentation) and cargo-fuzz, which it
# installs from crates.io when missing. Each target starts from the committed seeds and
# regressions; a crash lands in fuzz/artifacts/TARGET/. Fix it, then copy the input to
# fuzz/regressions/TARGET/, where `cargo test` replays it on stable
# (crates/gongshu-data/tests/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(csv_table json_table xlsx_table row_filters sql_guard)
fi
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzzing needs a nightly toolchain: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
export CARGO_TARGET_DIR="${GONGSHU_FUZZ_TARGET_DIR:-$HOME/.cache/gongshu-fuzz-target}"
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "regressions/$t"
  echo "== $t: ${secs}s"
  cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" "regressions/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=262144
done
