"""mmtree's Python binding against py-lmdb, on the same data, in one run.

    pip install ./bindings/python lmdb
    python bindings/python/bench.py [--records 1000000] [--commits 1000] [--dir DIR] [--rounds N]

Workloads (1M records: 16-byte keys = the id big-endian + 8 random bytes, 100-byte values
derived from the id; inserted in random order):
  put     all records in one write transaction, then its (durable) commit
  get     every key once, in another random order, in one read transaction (each value checked)
  scan    every (key, value) pair in key order, in one read transaction
  commit  durable single-put commits (mmtree durability="immediate"; LMDB sync=True, the default)

Each store runs in a child process of its own (same data, generated from the same seed), on the
same file system; its files are deleted afterwards. Prints ops/s per store and
mmtree ÷ LMDB (above 1: mmtree faster).

With --rounds N (for a shared, noisy machine) the pair runs N times, the first store
alternating (mmtree first in odd rounds, LMDB first in even ones); the table gives the median
ops/s of each store, and beside the ratio of the medians the range of the per-round ratios and
the ratio of the median CPU times, py-lmdb's ÷ mmtree's (time.process_time: the time the
store's process ran, which other processes competing for the cores disturb less than the wall
clock; a durable commit mostly waits for the disk, so its CPU time says little).
"""

import argparse
import json
import statistics
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time


def data(n):
    rng = random.Random(42)
    keys = [i.to_bytes(8, "big") + rng.randbytes(8) for i in range(n)]
    values = [((i * 2654435761) & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big") * 12 + i.to_bytes(4, "big") for i in range(n)]
    insert = list(range(n))
    rng.shuffle(insert)
    lookup = list(range(n))
    rng.shuffle(lookup)
    return keys, values, insert, lookup


CPU = {}


def timed(f):
    """Runs f; returns its wall-clock seconds, and records its CPU seconds in CPU[f.__name__]."""
    c = time.process_time()
    t = time.perf_counter()
    f()
    wall = time.perf_counter() - t
    CPU[f.__name__] = time.process_time() - c
    return wall


def run_mmtree(path, n, commits):
    import mmtree

    keys, values, insert, lookup = data(n)
    res = {}
    db = mmtree.open(os.path.join(path, "data.mmt"))

    def put():
        with db.begin_write() as w:
            p = w.table("bench").put
            for i in insert:
                p(keys[i], values[i])

    res["put"] = n / timed(put)

    def get():
        with db.begin_read() as r:
            g = r.table("bench").get
            for i in lookup:
                v = g(keys[i])
                if v[0] != values[i][0]:
                    raise SystemExit("wrong value")

    res["get"] = n / timed(get)

    def scan():
        with db.begin_read() as r:
            count = 0
            for k, v in r.table("bench").items():
                count += 1
            if count != n:
                raise SystemExit(f"scan saw {count}")

    res["scan"] = n / timed(scan)

    def commit():
        for j in range(commits):
            with db.begin_write() as w:
                w.table("bench").put(keys[lookup[j]], values[j])

    res["commit"] = commits / timed(commit)
    res["cpu"] = dict(CPU)
    db.close()
    res["file_bytes"] = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    return res


def run_lmdb(path, n, commits):
    import lmdb

    keys, values, insert, lookup = data(n)
    res = {}
    env = lmdb.open(path, map_size=8 << 30, max_dbs=2)  # sync=True, metasync=True: durable
    table = env.open_db(b"bench")

    def put():
        with env.begin(write=True, db=table) as txn:
            p = txn.put
            for i in insert:
                p(keys[i], values[i])

    res["put"] = n / timed(put)

    def get():
        with env.begin(db=table) as txn:
            g = txn.get
            for i in lookup:
                v = g(keys[i])
                if v[0] != values[i][0]:
                    raise SystemExit("wrong value")

    res["get"] = n / timed(get)

    def scan():
        with env.begin(db=table) as txn:
            count = 0
            for k, v in txn.cursor():
                count += 1
            if count != n:
                raise SystemExit(f"scan saw {count}")

    res["scan"] = n / timed(scan)

    def commit():
        for j in range(commits):
            with env.begin(write=True, db=table) as txn:
                txn.put(keys[lookup[j]], values[j])

    res["commit"] = commits / timed(commit)
    res["cpu"] = dict(CPU)
    env.close()
    res["file_bytes"] = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--dir", default=None, help="where the files go (default: a temporary directory)")
    ap.add_argument("--rounds", type=int, default=1, help="run the pair this many times (see above)")
    ap.add_argument("--child", choices=["mmtree", "lmdb"], help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        run = run_mmtree if args.child == "mmtree" else run_lmdb
        print(json.dumps(run(args.dir, args.records, args.commits)))
        return

    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    base = tempfile.mkdtemp(prefix="mmtree-pybench-", dir=args.dir)
    rounds = []  # per round: {store: result}
    try:
        for r in range(args.rounds):
            order = ("mmtree", "lmdb") if r % 2 == 0 else ("lmdb", "mmtree")
            results = {}
            for store in order:
                path = os.path.join(base, store)
                os.mkdir(path)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", store, "--dir", path,
                     "--records", str(args.records), "--commits", str(args.commits)],
                    check=True, capture_output=True, text=True,
                ).stdout
                results[store] = json.loads(out.strip().splitlines()[-1])
                shutil.rmtree(path)
            rounds.append(results)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    import lmdb
    import mmtree  # noqa: F401 (versions for the record)

    print(f"{args.records:,} records (16 B keys, 100 B values), {args.commits:,} durable commits; "
          f"Python {sys.version.split()[0]}, py-lmdb {lmdb.__version__} (LMDB {'.'.join(map(str, lmdb.version()))})"
          + (f"; {args.rounds} rounds, medians" if args.rounds > 1 else ""))
    many = args.rounds > 1
    if many:
        print("| workload | mmtree | py-lmdb | mmtree ÷ py-lmdb | per round | CPU time |")
        print("|---|---:|---:|---:|---|---:|")
    else:
        print("| workload | mmtree | py-lmdb | mmtree ÷ py-lmdb |")
        print("|---|---:|---:|---:|")
    names = {
        "put": f"{args.records:,} puts in one transaction (+ commit), ops/s",
        "get": f"{args.records:,} random gets, ops/s",
        "scan": "full scan, entries/s",
        "commit": f"{args.commits:,} durable single-put commits, commits/s",
    }
    def median(store, key):
        return statistics.median(r[store][key] for r in rounds)

    for key, name in names.items():
        m, l = median("mmtree", key), median("lmdb", key)
        if not many:
            print(f"| {name} | {m:,.0f} | {l:,.0f} | {m / l:.2f}× |")
            continue
        ratios = [r["mmtree"][key] / r["lmdb"][key] for r in rounds]
        cpu = (statistics.median(r["lmdb"]["cpu"][key] for r in rounds)
               / statistics.median(r["mmtree"]["cpu"][key] for r in rounds))
        print(f"| {name} | {m:,.0f} | {l:,.0f} | {m / l:.2f}× | "
              f"{min(ratios):.2f}–{max(ratios):.2f}× | {cpu:.2f}× |")
    m, l = median("mmtree", "file_bytes"), median("lmdb", "file_bytes")
    print(f"| files after the run, MiB | {m / 2**20:,.1f} | {l / 2**20:,.1f} | |" + (" | |" if many else ""))


if __name__ == "__main__":
    main()
