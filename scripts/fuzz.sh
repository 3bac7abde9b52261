#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one after another, at low priority.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (default: 600 seconds, all targets)
# Needs nightly and cargo-fuzz (cargo install cargo-fuzz). Corpora live in fuzz/corpus/TARGET
# (the open_file seeds are real database files written by fuzz/src/make_seeds.rs); crashes go
# to fuzz/artifacts/TARGET. Each run's last lines (the executions count: "#N DONE") are printed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(open_file tree_page meta_page log_record resp load_parsers server_payloads)
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo +nightly fuzz build
if [ ! -e corpus/open_file/empty ]; then
    "$CARGO_TARGET_DIR"/x86_64-unknown-linux-gnu/release/make_seeds corpus
fi
mkdir -p logs
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "== $target: ${seconds}s"
    nice -n 19 cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"logs/$target.log" 2>&1 || { echo "$target FAILED: see fuzz/logs/$target.log"; tail -40 "logs/$target.log"; }
    grep -E "^Done [0-9]+ runs|^#[0-9]+ +DONE|stat::number_of_executed_units" "logs/$target.log" || tail -3 "logs/$target.log"
done
