#!/usr/bin/env bash
# Runs units of Redis' own tcl test suite against a fresh `mmtree serve` and against redis-server,
# and prints the pass counts per unit side by side. Not part of CI: it needs the Redis source
# (the tests of tag 7.0.15, matching Debian's redis-server 7.0.15), tclsh and redis-server.
#
#   scripts/redis-suite.sh [unit ...]        (default: the 27 units below; slow: ~30 min)
#
# REDIS_SRC: a Redis source tree or git repository (default: a git clone of redis at
#   /work/.mirror/redis+redis/repo); its tag REDIS_TAG (default 7.0.15) is extracted to a
#   temporary directory.
# MMTREE: the mmtree binary (default: target/release/mmtree, built if missing).
# BASEPORT: the harness' --baseport (its own listening port is 32 below), when another run on
#   the machine holds the default 21111.
# REDIS_SERVER: the redis-server binary (default: redis-server on PATH; "none" skips it).
# SKIP_TAGS: tests with these tags are skipped on both servers (default: the ones needing
#   replication, DEBUG, CONFIG SET of memory limits, SAVE, RESET, ... which
#   mmtree does not have: a test that hits one aborts the rest of its unit). SKIP_TAGS= runs all.
# SKIP_TESTS: test names to skip on both servers, one per line (a line starting with / is a
#   regular expression, as in the harness' skip file); e.g. the blocking-command tests (as the
#   runs before the blocking pops existed skipped them):
#   SKIP_TESTS="$(printf '%s\n' '/BLPOP|BRPOP|BLMOVE|BRPOPLPUSH|BLMPOP|BZPOP|BZMPOP|LMOVEs|unblock|blocked')"
# Both servers run with --ignore-encoding (mmtree has no OBJECT ENCODING: it stores bytes) and
# --ignore-digest (no DEBUG DIGEST-VALUE).
set -euo pipefail
cd "$(dirname "$0")/.."
REDIS_SRC=${REDIS_SRC:-/work/.mirror/redis+redis/repo}
REDIS_TAG=${REDIS_TAG:-7.0.15}
MMTREE=${MMTREE:-target/release/mmtree}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
SKIP_TAGS=${SKIP_TAGS-needs:repl needs:debug needs:config-maxmemory needs:save needs:pfdebug needs:latency needs:local-process needs:reset}
tags=""
for t in $SKIP_TAGS; do tags="$tags -$t"; done
UNITS=("$@")
if [ ${#UNITS[@]} -eq 0 ]; then
    # The 27 units of tests/unit an external server can be run against (docs/REDIS-SUITE.md).
    UNITS=(type/string type/incr keyspace expire protocol scan multi auth info-command pubsub
        type/hash type/set type/list type/zset info introspection introspection-2 pubsubshard
        bitops bitfield hyperloglog dump type/list-2 type/list-3 type/stream type/stream-cgroups geo)
fi
[ -x "$MMTREE" ] || cargo build --release -p mmtree-cli
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
if [ -d "$REDIS_SRC/tests" ]; then
    cp -r "$REDIS_SRC/tests" "$REDIS_SRC/runtest" "$work/"
else
    git --git-dir="$REDIS_SRC" archive "$REDIS_TAG" tests runtest | tar -x -C "$work"
    [ -d "$work/tests" ] || git -C "$REDIS_SRC" archive "$REDIS_TAG" tests runtest | tar -x -C "$work"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One unit against host:port: prints "ok err" counts. A command error outside an assertion (a
# data type or command the server lacks) aborts the rest of a unit in Redis' harness: such a test
# is counted as failed, added to a skip list, and the unit run again, until it ends normally.
run_unit() {
    local port=$1 unit=$2 log=$3
    local skip="$work/skip-$port" aborted=0
    printf '%s\n' "${SKIP_TESTS:-}" | sed '/^$/d' >"$skip"
    for _ in $(seq 1 60); do
        (cd "$work" && timeout 600 tclsh tests/test_helper.tcl --host 127.0.0.1 --port "$port" \
            --singledb --ignore-encoding --ignore-digest --clients 1 --timeout 60 ${tags:+--tags "$tags"} \
            ${BASEPORT:+--baseport "$BASEPORT"} \
            --skipfile "$skip" \
            --single "unit/$unit" >"$log" 2>&1) || true
        sed -i 's/\x1b\[[0-9;]*m//g' "$log"
        grep -q '^\[exception\]' "$log" || break
        local name
        name=$(sed -n '/^\[exception\]/,$p' "$log" | grep -m1 -oP '^"test (\{\K.*(?=\} \{$)|"\K.*(?=" \{$))' || true)
        [ -n "$name" ] || break
        # A name made in a loop ("ZSCAN with encoding $enc"): a skip entry starting with / is
        # a regular expression to the harness, so each $variable becomes .*
        case $name in
        *'$'*) name=$(python3 -c 'import re,sys; print("/^" + re.sub(r"\\\$[A-Za-z_]\w*", ".*", re.escape(sys.argv[1])) + "$")' "$name") ;;
        esac
        grep -qxF "$name" "$skip" && break
        echo "$name" >>"$skip"
        echo "[aborted]: $name" >>"$log.aborted"
        aborted=$((aborted + 1))
    done
    [ -f "$log.aborted" ] && cat "$log.aborted" >>"$log"
    local ok err
    ok=$(grep -c '^\[ok\]' "$log" || true)
    err=$(grep -cE '^\[(err|exception)\]' "$log" || true)
    echo "$ok $((err + aborted))"
}

printf '%-14s %14s %14s\n' unit "mmtree ok/err" "redis ok/err"
for unit in "${UNITS[@]}"; do
    mport=$(free_port)
    "$MMTREE" serve "$work/m-${unit//\//-}.mmt" --port "$mport" --durability eventual \
        >"$work/mmtree.log" 2>&1 &
    mpid=$!
    pids+=("$mpid")
    rres="-"
    if [ "$REDIS_SERVER" != none ]; then
        rport=$(free_port)
        "$REDIS_SERVER" --port "$rport" --save '' --appendonly no --daemonize no \
            --dir "$work" >"$work/redis.log" 2>&1 &
        rpid=$!
        pids+=("$rpid")
    fi
    sleep 0.5
    mres=$(run_unit "$mport" "$unit" "$work/m-${unit//\//-}.log")
    if [ "$REDIS_SERVER" != none ]; then
        rres=$(run_unit "$rport" "$unit" "$work/r-${unit//\//-}.log")
        kill "$rpid" 2>/dev/null || true
    fi
    kill "$mpid" 2>/dev/null || true
    printf '%-14s %14s %14s\n' "$unit" "${mres/ //}" "${rres/ //}"
    if [ -n "${KEEP_LOGS:-}" ]; then
        mkdir -p "$KEEP_LOGS" && cp "$work"/[mr]-"${unit//\//-}".log "$KEEP_LOGS/"
    fi
done
