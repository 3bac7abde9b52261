#!/usr/bin/env bash
# The proxy's cost: redis-benchmark SET/GET against one `mmtree serve` directly, through nutcracker
# to that one instance, and through nutcracker to 3 shards (same run, same settings, loopback).
# Prints a Markdown table (docs/SCALE-OUT.md).
#
#   bash scripts/bench-scale-out.sh [requests] [clients]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
c=${2:-20}
if [ -z "${MMTREE_BIN:-}" ]; then
    cargo build -q --release -p mmtree-cli
    MMTREE_BIN="${CARGO_TARGET_DIR:-target}/release/mmtree"
fi
. scripts/cluster.sh
CLUSTER_BASE_PORT=${CLUSTER_BASE_PORT:-7401} CLUSTER_PROXY_PORT=${CLUSTER_PROXY_PORT:-7491} CLUSTER_STATS_PORT=${CLUSTER_STATS_PORT:-7492}
cluster_init 3
one_pid=""
stop_one() {
    [ -z "$one_pid" ] || kill "$one_pid" 2>/dev/null || true
    [ -z "$one_pid" ] || wait "$one_pid" 2>/dev/null || true
}
trap 'stop_one; cluster_stop' EXIT
cluster_start
# A second proxy with shard s1 alone.
one=$((CLUSTER_PROXY_PORT + 2))
sed -e "s/127.0.0.1:$CLUSTER_PROXY_PORT/127.0.0.1:$one/" -e '/ s[23]$/d' "$CLUSTER_DIR/nutcracker.yml" >"$CLUSTER_DIR/one.yml"
nutcracker -c "$CLUSTER_DIR/one.yml" -s $((one + 1)) -a 127.0.0.1 -o "$CLUSTER_DIR/one.log" &
one_pid=$!
wait_ready "$one"
run() { # port pipeline -> "test rps p50 p99" lines
    timeout 120 redis-benchmark -p "$1" -n "$n" -c "$c" -P "$2" -r 100000 -t set,get --csv 2>/dev/null |
        awk -F',' 'NR > 1 { gsub(/"/, ""); print $1, $2, $5, $7 }'
}
echo "redis-benchmark -n $n -c $c -r 100000 -t set,get, $(date -u +%F), $(uname -r), $(nproc) cores, $(nutcracker --version 2>&1 | head -1)"
echo
echo "| test | pipeline | direct rps | p50 / p99 ms | proxy → 1 shard rps | p50 / p99 ms | proxy → 3 shards rps | p50 / p99 ms |"
echo "|---|---|---|---|---|---|---|---|"
for p in 1 16; do
    # One after the other (not in parallel: 2 cores).
    run "$CLUSTER_BASE_PORT" "$p" >"$CLUSTER_DIR/direct"
    run "$one" "$p" >"$CLUSTER_DIR/one"
    run "$CLUSTER_PROXY_PORT" "$p" >"$CLUSTER_DIR/three"
    paste -d' ' "$CLUSTER_DIR/direct" "$CLUSTER_DIR/one" "$CLUSTER_DIR/three" |
        while read -r t d d50 d99 _ o o50 o99 _ s s50 s99; do
            printf '| %s | %s | %.0f | %s / %s | %.0f | %s / %s | %.0f | %s / %s |\n' \
                "$t" "$p" "$d" "$d50" "$d99" "$o" "$o50" "$o99" "$s" "$s50" "$s99"
        done
done
