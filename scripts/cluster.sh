#!/usr/bin/env bash
# N `mmtree serve` shards behind twemproxy (Debian's `nutcracker` 0.5) on 127.0.0.1, for trying
# out and testing the deployment in docs/SCALE-OUT.md.
#
#   bash scripts/cluster.sh [N]                 # start, print how to connect, wait for Ctrl-C
#   bash scripts/cluster.sh [N] -- COMMAND ...  # start, run COMMAND (env below is set), stop
#
# Everything it started is stopped when it exits (Ctrl-C, SIGTERM, COMMAND finished, error).
# Settings (environment):
#   MMTREE_BIN          mmtree binary (default: builds and uses target/release/mmtree)
#   CLUSTER_DIR         data files, logs, nutcracker.yml (default: a new temporary directory,
#                       removed on exit; a directory you name is kept, so a restart reuses data)
#   CLUSTER_BASE_PORT   first shard's port (default 7001; shard i listens on BASE+i-1)
#   CLUSTER_PROXY_PORT  nutcracker's port (default 22121); CLUSTER_STATS_PORT (default 22222)
#   CLUSTER_PASS        if set: every shard runs with --requirepass and nutcracker with redis_auth
#   CLUSTER_EJECT       auto_eject_hosts (default false: a dead shard's keys fail, never move)
#   CLUSTER_DURABILITY  immediate (default) or eventual, passed to `mmtree serve --durability`
#   CLUSTER_SERVE_ARGS  more `mmtree serve` options (default `--timeout 0`: the proxy's pooled
#                       connections sit idle between bursts; see docs/SCALE-OUT.md)
# COMMAND sees CLUSTER_DIR, CLUSTER_PROXY_PORT, CLUSTER_SERVERS (NAME=HOST:PORT,... for
# scripts/ketama.py) and CLUSTER_SHARD_PORTS (space separated).
#
# Sourcing this file (`. scripts/cluster.sh`) only defines the functions: cluster_init N,
# cluster_conf, shard_start I, shard_kill I, proxy_start, proxy_stop, wait_ready PORT,
# cluster_start, cluster_stop. .ci/scale-out uses them to kill and restart single shards.

cluster_init() { # N
    CLUSTER_N=${1:-3}
    CLUSTER_BASE_PORT=${CLUSTER_BASE_PORT:-7001}
    CLUSTER_PROXY_PORT=${CLUSTER_PROXY_PORT:-22121}
    CLUSTER_STATS_PORT=${CLUSTER_STATS_PORT:-22222}
    CLUSTER_EJECT=${CLUSTER_EJECT:-false}
    CLUSTER_DURABILITY=${CLUSTER_DURABILITY:-immediate}
    CLUSTER_PASS=${CLUSTER_PASS:-}
    CLUSTER_SERVE_ARGS=${CLUSTER_SERVE_ARGS---timeout 0}
    if [ -z "${CLUSTER_DIR:-}" ]; then
        CLUSTER_DIR=$(mktemp -d)
        CLUSTER_OWN_DIR=1
    else
        mkdir -p "$CLUSTER_DIR"
        CLUSTER_OWN_DIR=0
    fi
    CLUSTER_SERVERS=""
    CLUSTER_SHARD_PORTS=""
    local i
    for i in $(seq "$CLUSTER_N"); do
        CLUSTER_SERVERS+="${CLUSTER_SERVERS:+,}s$i=127.0.0.1:$((CLUSTER_BASE_PORT + i - 1))"
        CLUSTER_SHARD_PORTS+="${CLUSTER_SHARD_PORTS:+ }$((CLUSTER_BASE_PORT + i - 1))"
    done
    declare -gA CLUSTER_PIDS=()
    CLUSTER_PROXY_PID=""
    export CLUSTER_DIR CLUSTER_PROXY_PORT CLUSTER_SERVERS CLUSTER_SHARD_PORTS
}

# The nutcracker configuration (docs/SCALE-OUT.md explains each line).
cluster_conf() {
    local i
    {
        echo "mmtree:"
        echo "  listen: 127.0.0.1:$CLUSTER_PROXY_PORT"
        echo "  redis: true"
        echo "  hash: fnv1a_64"
        echo "  hash_tag: \"{}\""
        echo "  distribution: ketama"
        echo "  timeout: 2000"
        echo "  preconnect: true"
        echo "  server_connections: 1"
        echo "  auto_eject_hosts: $CLUSTER_EJECT"
        echo "  server_retry_timeout: 2000"
        echo "  server_failure_limit: 2"
        [ -n "$CLUSTER_PASS" ] && echo "  redis_auth: $CLUSTER_PASS"
        echo "  servers:"
        for i in $(seq "$CLUSTER_N"); do
            echo "    - 127.0.0.1:$((CLUSTER_BASE_PORT + i - 1)):1 s$i"
        done
    } >"$CLUSTER_DIR/nutcracker.yml"
}

wait_ready() { # PORT: until it answers PING (10 s at most)
    local port=$1 _
    for _ in $(seq 100); do
        redis-cli -p "$port" ${CLUSTER_PASS:+--no-auth-warning -a "$CLUSTER_PASS"} ping 2>/dev/null |
            grep -q PONG && return 0
        sleep 0.1
    done
    echo "cluster.sh: nothing answers PING on 127.0.0.1:$port (logs in $CLUSTER_DIR)" >&2
    return 1
}

shard_start() { # I (1-based)
    local i=$1 port=$((CLUSTER_BASE_PORT + $1 - 1))
    "$MMTREE_BIN" serve "$CLUSTER_DIR/shard$i.mmt" --bind "127.0.0.1:$port" \
        --durability "$CLUSTER_DURABILITY" ${CLUSTER_PASS:+--requirepass "$CLUSTER_PASS"} $CLUSTER_SERVE_ARGS \
        >>"$CLUSTER_DIR/shard$i.log" 2>&1 &
    CLUSTER_PIDS[$i]=$!
    wait_ready "$port"
}

shard_kill() { # I [SIGNAL]: default SIGKILL, as a crash
    local i=$1 sig=${2:-KILL}
    [ -n "${CLUSTER_PIDS[$i]:-}" ] || return 0
    kill -"$sig" "${CLUSTER_PIDS[$i]}" 2>/dev/null || true
    wait "${CLUSTER_PIDS[$i]}" 2>/dev/null || true
    unset "CLUSTER_PIDS[$i]"
}

proxy_start() {
    cluster_conf
    nutcracker -t -c "$CLUSTER_DIR/nutcracker.yml" >/dev/null 2>&1 || {
        nutcracker -t -c "$CLUSTER_DIR/nutcracker.yml"
        return 1
    }
    # Not daemonized (-d): as our child its pid is known exactly and it cannot outlive us unseen.
    nutcracker -c "$CLUSTER_DIR/nutcracker.yml" -s "$CLUSTER_STATS_PORT" -a 127.0.0.1 \
        -o "$CLUSTER_DIR/nutcracker.log" &
    CLUSTER_PROXY_PID=$!
    wait_ready "$CLUSTER_PROXY_PORT"
}

proxy_stop() {
    [ -n "$CLUSTER_PROXY_PID" ] || return 0
    kill -TERM "$CLUSTER_PROXY_PID" 2>/dev/null || true
    wait "$CLUSTER_PROXY_PID" 2>/dev/null || true
    CLUSTER_PROXY_PID=""
}

cluster_start() {
    command -v nutcracker >/dev/null || {
        echo "cluster.sh: needs nutcracker (apt-get install nutcracker)" >&2
        return 1
    }
    command -v redis-cli >/dev/null || {
        echo "cluster.sh: needs redis-cli (apt-get install redis-tools)" >&2
        return 1
    }
    local i
    for i in $(seq "$CLUSTER_N"); do
        shard_start "$i" || return 1
    done
    proxy_start
}

cluster_stop() {
    proxy_stop
    local i
    for i in "${!CLUSTER_PIDS[@]}"; do
        # SIGTERM: a shard finishes in-flight requests, commits and exits 0.
        shard_kill "$i" TERM
    done
    if [ "${CLUSTER_OWN_DIR:-0}" = 1 ]; then
        rm -rf "$CLUSTER_DIR"
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    cd "$(dirname "$0")/.."
    n=3
    if [ $# -gt 0 ] && [ "$1" != "--" ]; then
        n=$1
        shift
    fi
    [ $# -gt 0 ] && [ "$1" = "--" ] && shift
    if [ -z "${MMTREE_BIN:-}" ]; then
        cargo build -q --release -p mmtree-cli
        MMTREE_BIN="${CARGO_TARGET_DIR:-target}/release/mmtree"
    fi
    cluster_init "$n"
    trap cluster_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    cluster_start
    if [ $# -gt 0 ]; then
        "$@"
        exit $?
    fi
    echo "$n mmtree shards on 127.0.0.1 ports $CLUSTER_SHARD_PORTS, nutcracker on 127.0.0.1:$CLUSTER_PROXY_PORT"
    echo "  redis-cli -p $CLUSTER_PROXY_PORT${CLUSTER_PASS:+ -a PASSWORD}          # through the proxy"
    echo "  redis-cli -p $CLUSTER_BASE_PORT                 # one shard directly (SCAN, KEYS, MMTREE.RANGE)"
    echo "  curl -s --http0.9 127.0.0.1:$CLUSTER_STATS_PORT   # nutcracker's stats (JSON)"
    echo "  python3 scripts/ketama.py where --servers $CLUSTER_SERVERS --hash-tag '{}' KEY"
    echo "data and logs: $CLUSTER_DIR; Ctrl-C stops everything"
    while :; do
        sleep 1 &
        wait $! || true
    done
fi
