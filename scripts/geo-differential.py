#!/usr/bin/env python3
"""Sends the same random GEO commands to `mmtree serve` and to redis-server and compares the raw
replies byte for byte (RESP2, then RESP3). Not part of CI: it needs redis-server (7.0).

    scripts/geo-differential.py [rounds] [seed]

MMTREE: the mmtree binary (default target/release/mmtree); REDIS_SERVER (default redis-server);
PORT: the first of the two ports used (default 24190). Prints each differing command and its two
replies, then a count; exits 1 if any differed.
"""
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 1
MMTREE = os.environ.get("MMTREE", "target/release/mmtree")
REDIS = os.environ.get("REDIS_SERVER", "redis-server")
PORT = int(os.environ.get("PORT", "24190"))


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        for _ in range(100):
            try:
                self.s = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit(f"nothing listens on {port}")
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise SystemExit("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.s.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        """One reply, as its raw bytes."""
        line = self.line()
        kind, rest = line[:1], line[1:]
        raw = line + b"\r\n"
        if kind in b"$=!" and rest != b"-1":
            raw += self.exact(int(rest)) + b"\r\n"
        elif kind in b"*~>" and rest != b"-1":
            for _ in range(int(rest)):
                raw += self.reply()
        elif kind == b"%":
            for _ in range(2 * int(rest)):
                raw += self.reply()
        return raw

    def call(self, *args):
        self.s.sendall(encode(args))
        return self.reply()


def point(rng):
    kind = rng.random()
    if kind < 0.1:  # near a pole
        lat = rng.choice([-1, 1]) * rng.uniform(80, 85.05112878)
    else:
        lat = rng.uniform(-85.05112878, 85.05112878)
    if kind > 0.9:  # near the antimeridian
        lon = rng.choice([-1, 1]) * rng.uniform(178, 180)
    else:
        lon = rng.uniform(-180, 180)
    return lon, lat


def main():
    rng = random.Random(SEED)
    work = tempfile.mkdtemp()
    procs = [
        subprocess.Popen([REDIS, "--port", str(PORT), "--save", "", "--appendonly", "no",
                          "--dir", work], stdout=subprocess.DEVNULL),
        subprocess.Popen([MMTREE, "serve", os.path.join(work, "geo.mmt"), "--bind",
                          f"127.0.0.1:{PORT + 1}"], stdout=subprocess.DEVNULL),
    ]
    differ = 0
    total = 0
    try:
        conns = [Conn(PORT), Conn(PORT + 1)]
        for proto in (2, 3):
            for c in conns:
                c.call("HELLO", proto)
                c.call("FLUSHALL")
            for r in range(ROUNDS):
                cmds = []
                if r % 20 == 0:
                    cmds.append(["DEL", "g"])
                    args = ["GEOADD", "g"]
                    for j in range(rng.randint(1, 400)):
                        lon, lat = point(rng)
                        args += [repr(lon), repr(lat), f"m{j}"]
                    cmds.append(args)
                    # A cluster around one spot (equal and near-equal distances).
                    lon, lat = point(rng)
                    args = ["GEOADD", "g"]
                    for j in range(12):
                        args += [repr(lon), repr(lat), f"same{j}"]
                    cmds.append(args)
                lon, lat = point(rng)
                unit = rng.choice(["m", "km", "ft", "mi", "KM"])
                size = rng.choice([0, rng.uniform(0, 50), rng.uniform(0, 5000),
                                   rng.uniform(0, 5e6), rng.uniform(0, 3e7)])
                size_s = f"{size:.3f}"
                opts = []
                for o in ("WITHDIST", "WITHHASH", "WITHCOORD"):
                    if rng.random() < 0.5:
                        opts.append(o)
                sort = rng.choice([[], ["ASC"], ["DESC"]])
                count = rng.choice([[], ["COUNT", str(rng.randint(1, 30))],
                                    ["COUNT", str(rng.randint(1, 30)), "ANY"]])
                member = f"m{rng.randint(0, 50)}"
                box = [f"{rng.uniform(0, 3000):.3f}", f"{rng.uniform(0, 3000):.3f}", "km"]
                cmds += [
                    ["GEORADIUS", "g", repr(lon), repr(lat), size_s, unit] + opts + sort + count,
                    ["GEORADIUSBYMEMBER_RO", "g", member, size_s, unit] + opts + sort + count,
                    ["GEOSEARCH", "g", "FROMLONLAT", repr(lon), repr(lat), "BYBOX"] + box + opts + sort + count,
                    ["GEOSEARCH", "g", "FROMMEMBER", member, "BYRADIUS", size_s, unit] + sort + count + opts,
                    ["GEORADIUS", "g", repr(lon), repr(lat), size_s, unit, "STOREDIST", "d"] + sort + count,
                    ["ZRANGE", "d", "0", "-1", "WITHSCORES"],
                    ["GEOSEARCHSTORE", "d", "g", "FROMLONLAT", repr(lon), repr(lat), "BYBOX"] + box + sort + count,
                    ["ZRANGE", "d", "0", "-1", "WITHSCORES"],
                    ["GEOPOS", "g", member, "nope", f"m{rng.randint(0, 50)}"],
                    ["GEOHASH", "g", member, "nope"],
                    ["GEODIST", "g", member, f"m{rng.randint(0, 50)}", unit],
                ]
                for cmd in cmds:
                    total += 1
                    a, b = (c.call(*cmd) for c in conns)
                    if a != b:
                        differ += 1
                        print("RESP%d %s\n  redis:  %r\n  mmtree: %r" % (proto, " ".join(cmd)[:300], a[:400], b[:400]))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{total} commands, {differ} differing replies")
    sys.exit(1 if differ else 0)


main()
