#!/usr/bin/env bash
# redis-benchmark against `mmtree serve` and a real redis-server, same run, same client settings,
# one benchmark at a time (the servers take turns). Needs Debian's redis-server and redis-tools.
# Prints Markdown tables (ratios mmtree ÷ redis).
#
#   bash scripts/bench-redis.sh [requests] [clients] [GET rounds]
#
# Then the GET table: after the keys are SET, GET at pipelines 1 and 16 with 50 and 1,000
# clients, redis-server and `mmtree serve` taking turns for [GET rounds] rounds (default 3); the
# median of each side and their ratio (reads do not depend on durability: the `always` servers).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
c=${2:-50}
rounds=${3:-3}
cargo build -q --release -p mmtree-cli
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
# Same durability both ways: `appendfsync always` against mmtree's default (Immediate: every
# commit's log record synced), `appendfsync everysec` against `--durability eventual` (the log
# synced in the background within a second).
redis-server --port 6501 --dir "$dir" --appendonly yes --appendfsync always --appendfilename always.aof --save "" --daemonize no >"$dir/redis.log" 2>&1 &
redis-server --port 6504 --dir "$dir" --appendonly yes --appendfsync everysec --appendfilename everysec.aof --save "" --daemonize no >"$dir/redis2.log" 2>&1 &
target/release/mmtree serve "$dir/bench.mmt" --bind 127.0.0.1:6502 --maxclients 2000 >"$dir/mmtree.log" 2>&1 &
target/release/mmtree serve "$dir/bench-eventual.mmt" --bind 127.0.0.1:6503 --durability eventual >"$dir/mmtree2.log" 2>&1 &
for port in 6501 6502 6503 6504; do
    for _ in $(seq 100); do redis-cli -p $port ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
done
run() { # port pipeline -> "test rps p99" lines
    redis-benchmark -p "$1" -n "$n" -c "$c" -P "$2" -r 100000 -t set,get,incr,lpush,hset,zadd,mset --csv 2>/dev/null |
        awk -F',' 'NR > 1 { gsub(/"/, ""); gsub(/ /, "", $1); print $1, $2, $7 }'
}
echo "redis-benchmark -n $n -c $c -r 100000, $(date -u +%F), $(uname -r), $(nproc) cores"
echo
echo "| test | pipeline | redis (AOF always) rps | p99 ms | mmtree Immediate rps | p99 ms | ratio | redis (AOF everysec) rps | p99 ms | mmtree Eventual rps | p99 ms | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for p in 1 16; do
    # One redis-benchmark at a time: the four servers take turns (running them at once, as
    # `paste <(run …) <(run …)` did, measured four clients and four servers contending for the
    # cores, not the servers).
    for port in 6501 6502 6504 6503; do
        run $port $p >"$dir/run-$port-$p"
    done
    paste -d' ' "$dir/run-6501-$p" "$dir/run-6502-$p" "$dir/run-6504-$p" "$dir/run-6503-$p" |
        while read -r t r rp99 _ m mp99 _ r2 r2p99 _ e ep99; do
            printf '| %s | %s | %.0f | %s | %.0f | %s | %.2fx | %.0f | %s | %.0f | %s | %.2fx |\n' \
                "$t" "$p" "$r" "$rp99" "$m" "$mp99" "$(echo "$m / $r" | bc -l)" \
                "$r2" "$r2p99" "$e" "$ep99" "$(echo "$e / $r2" | bc -l)"
        done
done

# GET: 1,000 clients need that many file descriptors on both sides.
ulimit -n 4096 2>/dev/null || true
get() { # port clients pipeline -> rps
    redis-benchmark -p "$1" -n 200000 -c "$2" -P "$3" -r 100000 -t get --csv 2>/dev/null |
        awk -F',' 'NR > 1 { gsub(/"/, ""); print $2 }'
}
# (printf, not print: awk prints a million as 1.65e+06, which bc cannot read)
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for port in 6501 6502; do
    redis-benchmark -p $port -n 200000 -c 50 -P 16 -r 100000 -t set -q >/dev/null
done
echo
echo "GET after the keys are SET, $rounds rounds taking turns (median; every round's figure in brackets)"
echo
echo "| clients | pipeline | redis-server GET/s | mmtree GET/s | ratio |"
echo "|---|---|---|---|---|"
for clients in 50 1000; do
    for p in 1 16; do
        r=() m=()
        for _ in $(seq "$rounds"); do
            r+=("$(get 6501 "$clients" "$p")")
            m+=("$(get 6502 "$clients" "$p")")
        done
        rm_=$(printf '%s\n' "${r[@]}" | median)
        mm=$(printf '%s\n' "${m[@]}" | median)
        printf '| %s | %s | %.0f (%s) | %.0f (%s) | %.2fx |\n' "$clients" "$p" "$rm_" "${r[*]}" "$mm" "${m[*]}" \
            "$(echo "$mm / $rm_" | bc -l)"
    done
done
