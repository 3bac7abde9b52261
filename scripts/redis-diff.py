#!/usr/bin/env python3
"""Runs the same commands against redis-server and `mmtree serve` and prints every reply that
differs, in RESP2 and after HELLO 3 (raw replies: types, nesting and doubles show).

    scripts/redis-diff.py REDIS_PORT MMTREE_PORT FILE [--events]

FILE holds one command a line (split on spaces; # starts a comment). Both servers are FLUSHALLed
first: point it at throwaway servers on loopback only. With --events, the keyspace events
(CONFIG SET notify-keyspace-events KEA, PSUBSCRIBE __keyevent@0__:*) are compared instead.
"""
import difflib
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
    kind, body = line[:1], line[1:-2]
    if kind in b"+-:,#(_":
        return line[:-2].decode(errors="replace")
    if kind in b"$=!":
        n = int(body)
        return "NIL" if n < 0 else f.read(n + 2)[:-2].decode(errors="replace")
    if kind in b"*~>%":
        n = int(body)
        if n < 0:
            return "NILARR"
        items = [str(read(f)) for _ in range(n * (2 if kind == b"%" else 1))]
        return kind.decode() + "[" + ", ".join(items) + "]"
    return "RAW " + line.decode(errors="replace")


def conn(port, resp3=False):
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    if resp3:
        call(s, f, ["HELLO", "3"])
    return s, f


def call(s, f, args):
    s.sendall(enc(args))
    return read(f)


def main():
    rport, mport, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    cmds = [l.split() for l in open(path) if l.strip() and not l.startswith("#")]
    ports = (rport, mport)
    if "--events" in sys.argv:
        out = {}
        for port in ports:
            s, f = conn(port)
            call(s, f, ["FLUSHALL"])
            call(s, f, ["CONFIG", "SET", "notify-keyspace-events", "KEA"])
            p, pf = conn(port)
            p.sendall(enc(["PSUBSCRIBE", "__keyevent@0__:*"]))
            read(pf)
            for c in cmds:
                call(s, f, c)
            call(s, f, ["SET", "__end", "x"])
            events = []
            while "__end" not in (m := read(pf)):
                events.append(m)
            out[port] = events
            call(s, f, ["CONFIG", "SET", "notify-keyspace-events", ""])
        for l in difflib.unified_diff(out[rport], out[mport], "redis", "mmtree", lineterm=""):
            print(l)
        print(len(out[rport]), "events from redis-server")
        return
    res = {}
    for resp3 in (False, True):
        for port in ports:
            s, f = conn(port, resp3)
            call(s, f, ["FLUSHALL"])
            res[(resp3, port)] = [call(s, f, c) for c in cmds]
    bad = 0
    for resp3 in (False, True):
        for c, a, b in zip(cmds, res[(resp3, rport)], res[(resp3, mport)]):
            if a != b:
                bad += 1
                print("RESP3" if resp3 else "RESP2", " ".join(c), "\n  redis: ", a, "\n  mmtree:", b)
    print("diffs", bad, "of", 2 * len(cmds))


if __name__ == "__main__":
    main()
