# Issue 26's data-type workloads against a Redis-protocol server (`mmtree serve` or
# redis-server) on 127.0.0.1:PORT, sourced by scripts/bench-redis-types.sh and
# scripts/bench-serve-ab.sh, which set `n` (requests) and `c` (clients). Each prints ops/s.
#
#   ZADD            ZADD of random members (fills the set ZRANGE-BYSCORE reads)
#   ZRANGE-BYSCORE  ZRANGE … BYSCORE LIMIT 0 10 from a random score
#   LPUSH+LTRIM     the capped list, a pair counted as one operation (redis_patterns)
#   BLPOP-PINGPONG  one push waking one blocked client; "pipeline 16" = 16 pairs at once, as a
#                   blocked pop cannot be pipelined (redis_patterns)
#   EVALSHA         a small script: INCR of a key, returned
REDIS_PATTERNS=${REDIS_PATTERNS:-target/release/redis_patterns}
REDIS_WORKLOADS=(ZADD ZRANGE-BYSCORE LPUSH+LTRIM BLPOP-PINGPONG EVALSHA)

redis_bench() { # port pipeline command... -> ops/s (redis-benchmark)
    local port=$1 p=$2
    shift 2
    redis-benchmark -p "$port" -n "$n" -c "$c" -P "$p" -r 100000 --csv "$@" 2>/dev/null |
        awk -F',' 'NR > 1 { gsub(/"/, ""); printf "%.0f\n", $2 }'
}

workload() { # name port pipeline -> ops/s
    local pairs
    case $1 in
    ZADD) redis_bench "$2" "$3" ZADD bench:z __rand_int__ m:__rand_int__ ;;
    ZRANGE-BYSCORE) redis_bench "$2" "$3" ZRANGE bench:z __rand_int__ +inf BYSCORE LIMIT 0 10 ;;
    LPUSH+LTRIM)
        "$REDIS_PATTERNS" --port "$2" --mode capped --pairs "$c" --pipeline "$3" --seconds 3 ;;
    BLPOP-PINGPONG)
        pairs=16
        [ "$3" = 1 ] && pairs=1
        "$REDIS_PATTERNS" --port "$2" --mode pingpong --pairs "$pairs" --seconds 3 ;;
    EVALSHA)
        redis_bench "$2" "$3" EVALSHA "$(redis-cli -p "$2" SCRIPT LOAD "return redis.call('INCR', KEYS[1])")" 1 bench:counter ;;
    *)
        echo "unknown workload: $1" >&2
        return 1 ;;
    esac
}
