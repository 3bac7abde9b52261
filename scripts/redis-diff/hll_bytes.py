#!/usr/bin/env python3
"""PFADDs the same random elements, in random batch sizes, to redis-server and `mmtree serve`
and compares the HyperLogLog strings GET returns (byte for byte) and PFCOUNT's estimates.

    scripts/redis-diff/hll_bytes.py REDIS_PORT MMTREE_PORT [TRIALS]

Key `hll_bytes` is overwritten on both: point it at throwaway servers on loopback only.
"""
import random
import socket
import sys


def enc(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read(f):
    line = f.readline()
    if line[:1] == b"$":
        n = int(line[1:-2])
        return None if n < 0 else f.read(n + 2)[:-2]
    return line


def main():
    ports = (int(sys.argv[1]), int(sys.argv[2]))
    trials = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    conns = {}
    for p in ports:
        s = socket.create_connection(("127.0.0.1", p))
        conns[p] = (s, s.makefile("rb"))

    def call(args):
        out = []
        for s, f in conns.values():
            s.sendall(enc(args))
            out.append(read(f))
        return out

    rng = random.Random(7)
    diffs = 0
    for _ in range(trials):
        call(["DEL", "hll_bytes"])
        n = rng.choice([1, 5, 50, 200, 600, 1500])
        elements = [str(rng.randrange(10**9)) for _ in range(n)]
        i = 0
        while i < n:
            k = rng.randint(1, 20)
            call(["PFADD", "hll_bytes"] + elements[i : i + k])
            i += k
        values, counts = call(["GET", "hll_bytes"]), call(["PFCOUNT", "hll_bytes"])
        if values[0] != values[1] or counts[0] != counts[1]:
            diffs += 1
            print(f"{n} elements: {len(values[0])} vs {len(values[1])} bytes, counts {counts}")
    print("diffs", diffs, "of", trials)


if __name__ == "__main__":
    main()
