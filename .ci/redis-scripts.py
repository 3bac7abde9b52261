"""redis-py's Lua users against `mmtree serve` (run by .ci/redis-smoke): `register_script`
(EVALSHA, with the SCRIPT LOAD fallback after SCRIPT FLUSH) and `Lock` (acquire, extend,
release; mutual exclusion under contention from several processes).

    python redis-scripts.py PORT
"""

import multiprocessing
import sys
import time

import redis

PORT = int(sys.argv[1])
WORKERS = 8
ROUNDS = 20


def client():
    return redis.Redis(port=PORT, decode_responses=True)


def scripts():
    r = client()
    r.delete("counter", "list")
    incr_by = r.register_script(
        "local v = redis.call('incrby', KEYS[1], ARGV[1]) "
        "redis.call('rpush', KEYS[2], v) return {v, redis.call('llen', KEYS[2])}"
    )
    assert incr_by(keys=["counter", "list"], args=[5]) == [5, 1]
    # After SCRIPT FLUSH the script object loads itself again (NOSCRIPT, then SCRIPT LOAD).
    r.script_flush()
    assert incr_by(keys=["counter", "list"], args=[2]) == [7, 2]
    assert r.script_exists(incr_by.sha) == [True]
    # Errors come back as exceptions; the connection stays usable.
    failing = r.register_script("return redis.call('incr', KEYS[1])")
    r.set("text", "abc")
    try:
        failing(keys=["text"])
        raise AssertionError("INCR of a string succeeded")
    except redis.ResponseError as e:
        assert "not an integer" in str(e), e
    assert r.eval("return {ok='fine'}", 0) == "fine"
    assert r.ping()


def lock_basics():
    r = client()
    lock = r.lock("basic", timeout=10)
    assert lock.acquire(blocking=False)
    assert lock.locked() and lock.owned()
    other = client().lock("basic", timeout=10)
    assert not other.acquire(blocking=False)
    assert lock.extend(20)
    assert 10_000 < r.pttl("basic") <= 30_000
    assert lock.reacquire()
    lock.release()
    assert not lock.locked()
    try:
        lock.release()
        raise AssertionError("released a lock it did not hold")
    except redis.exceptions.LockError:
        pass
    assert other.acquire(blocking=False)
    other.release()


def worker(n, errors):
    r = client()
    try:
        for _ in range(ROUNDS):
            with r.lock("shared", timeout=10, blocking_timeout=30, sleep=0.001):
                # Inside the lock: nobody else is; a read-modify-write nobody can interleave.
                if not r.set("holder", n, nx=True):
                    errors.put(f"worker {n} entered while {r.get('holder')} held the lock")
                value = int(r.get("total") or 0)
                time.sleep(0.001)
                r.set("total", value + 1)
                r.delete("holder")
    except Exception as e:  # noqa: BLE001 - any failure fails the check
        errors.put(f"worker {n}: {e!r}")


def contention():
    r = client()
    r.delete("total", "holder", "shared")
    errors = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(n, errors)) for n in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert not problems, problems
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    total = int(r.get("total"))
    assert total == WORKERS * ROUNDS, f"total {total}, expected {WORKERS * ROUNDS}"


if __name__ == "__main__":
    start = time.time()
    scripts()
    lock_basics()
    contention()
    print(
        f"redis-py scripts and Lock ({WORKERS} processes x {ROUNDS} rounds): ok "
        f"in {time.time() - start:.1f} s"
    )
