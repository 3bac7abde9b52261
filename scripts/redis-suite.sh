#!/usr/bin/env bash
# Redis's own test suite as the judge of `mmtree serve`: runs units of Redis 7.0.15's tcl test
# suite against a fresh `mmtree serve` and against a fresh redis-server, and prints the pass
# counts per unit side by side (then the failing tests of mmtree, per unit, in the logs).
#
#   scripts/redis-suite.sh REDIS_SRC [UNIT...]
#
# REDIS_SRC: a git checkout of github.com/redis/redis (the tag 7.0.15 is exported from it) or an
# unpacked 7.0.15 source tree. UNITs are paths under tests/ without .tcl (default: the units the
# server is judged on, below). Needs tclsh 8.5+ (Debian: tcl) and redis-server (Debian:
# redis-server) for the second column. Not part of CI: it needs the Redis source. Each unit runs
# against its own fresh server, in external-server mode (`--host --port --singledb`), so tests
# tagged external:skip are skipped for both servers alike.
set -euo pipefail
src=${1:?usage: scripts/redis-suite.sh REDIS_SRC [UNIT...]}
shift
units=("$@")
if [ ${#units[@]} -eq 0 ]; then
    units=(unit/type/string unit/type/incr unit/keyspace unit/expire unit/protocol unit/scan
        unit/multi unit/auth unit/info-command unit/pubsub unit/type/hash)
fi
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$src" archive 7.0.15 runtest tests | tar -x -C "$work"
else
    cp -r "$src/runtest" "$src/tests" "$work/"
fi
(cd "$root" && cargo build --release -q -p mmtree-cli)
mmtree="$root/target/release/mmtree"
logs="$root/target/redis-suite"
mkdir -p "$logs"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() { # port
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "no server on port $1" >&2
    return 1
}

# One unit against one server; prints "passed failed".
run_unit() { # unit port log
    (cd "$work" && timeout 900 ./runtest --host 127.0.0.1 --port "$2" --singledb --single "$1" \
        --clients 1 --durable --ignore-encoding --ignore-digest --timeout 60) >"$3" 2>&1 || true
    local ok err
    sed -i 's/\x1b\[[0-9;]*m//g' "$3" # colours off
    ok=$(grep -c '^\[ok\]' "$3" || true)
    err=$(grep -cE '^\[err\]|^\[exception\]' "$3" || true)
    echo "$ok $err"
}

printf '| unit | mmtree serve: passed | failed | redis-server 7.0.15: passed | failed |\n'
printf '|---|---|---|---|---|\n'
total_m=0
total_r=0
for unit in "${units[@]}"; do
    name=${unit//\//-}
    port=$(free_port)
    rm -f "$work/suite.mmt"*
    "$mmtree" serve "$work/suite.mmt" --port "$port" >"$logs/$name.mmtree-server.log" 2>&1 &
    server=$!
    wait_for "$port"
    read -r m_ok m_err < <(run_unit "$unit" "$port" "$logs/$name.mmtree.log")
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    r_ok=-
    r_err=-
    if command -v redis-server >/dev/null; then
        port=$(free_port)
        redis-server --port "$port" --save '' --appendonly no --dir "$work" \
            --enable-debug-command yes \
            >"$logs/$name.redis-server.log" 2>&1 &
        server=$!
        wait_for "$port"
        read -r r_ok r_err < <(run_unit "$unit" "$port" "$logs/$name.redis.log")
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        total_r=$((total_r + r_ok))
    fi
    total_m=$((total_m + m_ok))
    printf '| %s | %s | %s | %s | %s |\n' "$unit" "$m_ok" "$m_err" "$r_ok" "$r_err"
done
printf '| **all** | **%s** | | **%s** | |\n' "$total_m" "$total_r"
echo
echo "logs: $logs (mmtree's failures: grep -E '\\[err\\]|\\[exception\\]' $logs/*.mmtree.log)"
