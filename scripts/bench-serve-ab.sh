#!/usr/bin/env bash
# Two `mmtree serve` binaries (before and after a change) and redis-server on issue 26's write
# workloads, taking turns, for several rounds: each round starts every server on a fresh
# database, runs each workload against each of them one after the other, and stops them. Made
# for a shared, noisy machine: the binaries alternate within a round, so a burst of load hits
# both alike, and the medians over the rounds are compared. Prints one line a measurement
# (round, server, durability, workload, pipeline, ops/s), then the medians and min–max.
#
#   bash scripts/bench-serve-ab.sh BEFORE_BINARY AFTER_BINARY [rounds] [requests]
#
# Durability pairs as scripts/bench-redis-types.sh: mmtree Immediate vs redis `appendfsync
# always`, mmtree `--durability eventual` vs `everysec`. Needs redis-server, redis-benchmark and
# target/release/redis_patterns (`cargo build --release -p mmtree-bench --bin redis_patterns`).
set -euo pipefail
cd "$(dirname "$0")/.."
before=$1
after=$2
rounds=${3:-3}
n=${4:-100000}
c=50
dir=$(mktemp -d)
out=$dir/results
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
. scripts/redis-workloads.sh

start() { # name durability port
    local name=$1 dur=$2 port=$3
    case $name in
    redis)
        local fsync=always
        [ "$dur" = eventual ] && fsync=everysec
        redis-server --port "$port" --dir "$dir" --appendonly yes --appendfsync $fsync \
            --appendfilename "$port.aof" --save "" --daemonize no >/dev/null 2>&1 &
        ;;
    before | after)
        local bin=$before
        [ "$name" = after ] && bin=$after
        local flags=()
        [ "$dur" = eventual ] && flags=(--durability eventual)
        "$bin" serve "$dir/$port.mmt" --bind 127.0.0.1:"$port" "${flags[@]}" >/dev/null 2>&1 &
        ;;
    esac
    echo $! >"$dir/$port.pid"
    for _ in $(seq 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
}

stop() { # port
    kill "$(cat "$dir/$1.pid")" 2>/dev/null || true
    wait "$(cat "$dir/$1.pid")" 2>/dev/null || true
    rm -rf "$dir/$1".* "$dir/$1"-* "$dir"/appendonlydir
}

port=6700
for round in $(seq "$rounds"); do
    for dur in immediate eventual; do
        servers=(before after redis)
        # Alternate which mmtree binary goes first.
        [ $((round % 2)) = 0 ] && servers=(after before redis)
        for s in "${servers[@]}"; do
            port=$((port + 1))
            start "$s" "$dur" $port
            for p in 1 16; do
                for w in ZADD LPUSH+LTRIM BLPOP-PINGPONG EVALSHA; do
                    echo "$round $s $dur $w $p $(workload $w $port $p)" | tee -a "$out"
                done
            done
            stop $port
        done
    done
done
echo
echo "medians over $rounds rounds (min-max), ops/s:"
echo "| durability | workload | pipeline | before | after | after/before | redis | after/redis |"
echo "|---|---|---|---|---|---|---|---|"
python3 - "$out" <<'EOF'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 6]
by = {}
for r, s, d, w, p, v in rows:
    by.setdefault((d, w, p, s), []).append(float(v))
def cell(k):
    v = by.get(k, [])
    return (statistics.median(v), min(v), max(v)) if v else (0, 0, 0)
for d in ("immediate", "eventual"):
    for w in ("ZADD", "LPUSH+LTRIM", "BLPOP-PINGPONG", "EVALSHA"):
        for p in ("1", "16"):
            b, a, r = cell((d, w, p, "before")), cell((d, w, p, "after")), cell((d, w, p, "redis"))
            f = lambda c: f"{c[0]:,.0f} ({c[1]:,.0f}-{c[2]:,.0f})"
            print(f"| {d} | {w} | {p} | {f(b)} | {f(a)} | {a[0]/b[0] if b[0] else 0:.2f}x | {f(r)} | {a[0]/r[0] if r[0] else 0:.2f}x |")
EOF
