#!/usr/bin/env bash
# The data-type workloads of issue 26 against `mmtree serve` and a real redis-server, one
# benchmark at a time (the servers take turns), same durability pairs as scripts/bench-redis.sh:
# redis `appendfsync always` vs mmtree's default Immediate, `everysec` vs `--durability
# eventual`. Prints a Markdown table (ratios mmtree ÷ redis) at pipelines 1 and 16.
#
#   bash scripts/bench-redis-types.sh [requests] [clients]
#
# The workloads are scripts/redis-workloads.sh's (shared with scripts/bench-serve-ab.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
c=${2:-50}
cargo build -q --release -p mmtree-cli
cargo build -q --release -p mmtree-bench --bin redis_patterns
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
redis-server --port 6511 --dir "$dir" --appendonly yes --appendfsync always --appendfilename always.aof --save "" --daemonize no >"$dir/redis.log" 2>&1 &
target/release/mmtree serve "$dir/bench.mmt" --bind 127.0.0.1:6512 >"$dir/mmtree.log" 2>&1 &
redis-server --port 6514 --dir "$dir" --appendonly yes --appendfsync everysec --appendfilename everysec.aof --save "" --daemonize no >"$dir/redis2.log" 2>&1 &
target/release/mmtree serve "$dir/bench-eventual.mmt" --bind 127.0.0.1:6513 --durability eventual >"$dir/mmtree2.log" 2>&1 &
for port in 6511 6512 6513 6514; do
    for _ in $(seq 100); do redis-cli -p $port ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
done
. scripts/redis-workloads.sh
echo "scripts/bench-redis-types.sh: -n $n -c $c, $(date -u +%F), $(uname -r), $(nproc) cores"
echo
echo "| workload | pipeline | redis (AOF always) ops/s | mmtree Immediate ops/s | ratio | redis (AOF everysec) ops/s | mmtree Eventual ops/s | ratio |"
echo "|---|---|---|---|---|---|---|---|"
for p in 1 16; do
    for w in "${REDIS_WORKLOADS[@]}"; do
        # One client program at a time: the four servers take turns.
        r=$(workload "$w" 6511 $p)
        m=$(workload "$w" 6512 $p)
        r2=$(workload "$w" 6514 $p)
        e=$(workload "$w" 6513 $p)
        printf '| %s | %s | %s | %s | %.2fx | %s | %s | %.2fx |\n' "$w" "$p" "$r" "$m" \
            "$(echo "$m / $r" | bc -l)" "$r2" "$e" "$(echo "$e / $r2" | bc -l)"
    done
done
