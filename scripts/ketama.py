#!/usr/bin/env python3
"""Where twemproxy (nutcracker 0.5, `distribution: ketama`, `hash: fnv1a_64`) puts a key, and a
small rebalance tool for `mmtree serve` shards. Python standard library only.

  ketama.py where  --servers s1=127.0.0.1:7001,s2=127.0.0.1:7002 [--hash-tag '{}'] KEY...
  (every subcommand takes --hash-tag: default '{}' as in docs/SCALE-OUT.md, '' for none)
  ketama.py count  --servers ... [--auth PASS]            # keys per shard, asked of each shard
  ketama.py check  --servers ... [--auth PASS]            # every key on the shard the ring names
  ketama.py rebalance --from s1=...,s2=... --to s1=...,s2=...,s3=... [--drop] [--auth PASS]
  ketama.py pipe   --server 127.0.0.1:22121 [--auth PASS] < commands   # one command a line

`pipe` is `redis-cli --pipe` for twemproxy (which refuses the ECHO that redis-cli --pipe sends
last, and inline commands): it sends the lines (arguments split on spaces) pipelined in batches
of 1000 and prints one reply a line (`OK`, `ERR ...`, an integer, a value), in order.

A server is `NAME=HOST:PORT` when nutcracker's config names it (`- HOST:PORT:1 NAME`: the ring
hashes the name, so an address can change without moving keys) or plain `HOST:PORT` (the ring
hashes "HOST:PORT"). List them in the config's order, all with weight 1.

`rebalance` scans every shard of --from directly (SCAN, in key order) and copies each key whose
owner in the --to ring is another server (value and remaining TTL); then it deletes from the new
owners the copies of keys that have since vanished from their old shard. With --drop it copies
nothing and only deletes the moved keys from their old shard. Procedure (docs/SCALE-OUT.md): start
the new shard; rebalance while the proxy serves the old ring (bulk copy, no downtime); stop the
proxy; rebalance again (keys written meanwhile; the write pause is this pass); start the proxy on
the new configuration; rebalance --drop.
"""

import argparse
import hashlib
import socket
import sys


def fnv1a_64(key: bytes) -> int:
    # twemproxy's hash_fnv1a_64 keeps only the low 32 bits of FNV-1a 64 (a uint32_t
    # accumulator), and reads bytes as (signed) char on x86: bytes >= 0x80 sign-extend.
    h = 0xCBF29CE484222325 & 0xFFFFFFFF
    for b in key:
        v = b if b < 0x80 else (b | 0xFFFFFF00)
        h ^= v
        h = (h * (0x100000001B3 & 0xFFFFFFFF)) & 0xFFFFFFFF
    return h


def hashed_part(key: bytes, tag: bytes) -> bytes:
    if len(tag) == 2:
        start = key.find(tag[0:1])
        if start >= 0:
            end = key.find(tag[1:2], start + 1)
            if end >= 0 and end - start > 1:
                return key[start + 1 : end]
    return key


class Ring:
    """nutcracker's ketama continuum: 160 points per server of weight 1, 4 per MD5 of NAME-i."""

    def __init__(self, servers, hash_tag=b""):
        self.servers = servers
        self.tag = hash_tag
        points = []
        for index, (name, _addr) in enumerate(servers):
            for i in range(160 // 4):
                digest = hashlib.md5(f"{name}-{i}".encode()).digest()
                for x in range(4):
                    points.append((int.from_bytes(digest[4 * x : 4 * x + 4], "little"), index))
        points.sort()
        self.values = [v for v, _ in points]
        self.index = [i for _, i in points]

    def owner(self, key: bytes) -> int:
        import bisect

        h = fnv1a_64(hashed_part(key, self.tag))
        pos = bisect.bisect_left(self.values, h)
        if pos == len(self.values):
            pos = 0
        return self.index[pos]


def parse_servers(spec):
    out = []
    for item in spec.split(","):
        if "=" in item:
            name, addr = item.split("=", 1)
        else:
            name, addr = item, item
        host, port = addr.rsplit(":", 1)
        out.append((name, (host, int(port))))
    return out


class Redis:
    """Just enough RESP2 for SCAN/GET/PTTL/SET/DEL, pipelined."""

    def __init__(self, addr, auth=None):
        self.sock = socket.create_connection(addr, timeout=10)
        self.buf = b""
        if auth:
            self.call(b"AUTH", auth.encode())

    def send(self, *cmds):
        out = bytearray()
        for args in cmds:
            out += b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return [self.reply() for _ in cmds]

    def call(self, *args):
        r = self.send(args)[0]
        if isinstance(r, RuntimeError):
            raise r
        return r

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def reply(self):
        line = self.line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest
        if t == b"-":
            return RuntimeError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError(f"unexpected reply {line!r}")

    def keys(self):
        cursor = b"0"
        while True:
            cursor, batch = self.call(b"SCAN", cursor, b"COUNT", b"1000")
            yield from batch
            if cursor == b"0":
                return


def cmd_where(args):
    servers = parse_servers(args.servers)
    ring = Ring(servers, args.hash_tag.encode())
    for key in args.keys:
        name, (host, port) = servers[ring.owner(key.encode())]
        print(f"{key}\t{name}\t{host}:{port}")


def cmd_count(args):
    servers = parse_servers(args.servers)
    for name, addr in servers:
        print(f"{name}\t{addr[0]}:{addr[1]}\t{Redis(addr, args.auth).call(b'DBSIZE')}")


def cmd_check(args):
    servers = parse_servers(args.servers)
    ring = Ring(servers, args.hash_tag.encode())
    total = wrong = 0
    for index, (name, addr) in enumerate(servers):
        for key in Redis(addr, args.auth).keys():
            total += 1
            if ring.owner(key) != index:
                wrong += 1
                if wrong <= 10:
                    print(f"misplaced: {key!r} on {name}, ring says {servers[ring.owner(key)][0]}")
    print(f"{total} keys, {wrong} not on the shard the ring names")
    return 1 if wrong else 0


def cmd_rebalance(args):
    old = parse_servers(args.old)
    new = parse_servers(args.new)
    old_ring = Ring(old, args.hash_tag.encode())
    new_ring = Ring(new, args.hash_tag.encode())
    conns = {}

    def conn(addr):
        if addr not in conns:
            conns[addr] = Redis(addr, args.auth)
        return conns[addr]

    def checked(replies):
        for r in replies:
            if isinstance(r, RuntimeError):
                raise r
        return replies

    def moved(servers, ring):
        """(addr, keys) batches of keys on each server whose owner in `ring` is not that server."""
        for _name, addr in servers:
            batch = []
            # A connection of its own: the cursor names the last key, so deleting or copying
            # keys between SCAN pages neither skips nor repeats any.
            for key in Redis(addr, args.auth).keys():
                counts["scanned"] += 1
                if ring(key) != addr:
                    batch.append(key)
                    if len(batch) >= 500:
                        yield addr, batch
                        batch = []
            if batch:
                yield addr, batch

    counts = {"scanned": 0, "copied": 0, "deleted": 0}
    new_owner = lambda key: new[new_ring.owner(key)][1]  # noqa: E731
    old_owner = lambda key: old[old_ring.owner(key)][1]  # noqa: E731
    if args.drop:
        # After the proxy serves the new ring: the old copies of moved keys go. Nothing is
        # copied now (the new owner may hold newer writes).
        for addr, keys in moved(old, new_owner):
            checked(conn(addr).send(*[(b"DEL", k) for k in keys]))
            counts["deleted"] += len(keys)
    else:
        # Copy every key whose owner changes (value and remaining TTL), then remove from the new
        # owners any earlier copy whose key no longer exists on its old shard (deleted or
        # expired since an earlier pass), so that a repeated pass leaves an exact copy.
        for addr, keys in moved(old, new_owner):
            replies = conn(addr).send(*[c for k in keys for c in ((b"GET", k), (b"PTTL", k))])
            by_dest = {}
            for i, key in enumerate(keys):
                value, ttl = replies[2 * i], replies[2 * i + 1]
                if value is None or isinstance(value, RuntimeError):
                    continue  # deleted or expired since the scan
                cmd = [b"SET", key, value]
                if isinstance(ttl, int) and ttl > 0:
                    cmd += [b"PX", str(ttl).encode()]
                by_dest.setdefault(new_owner(key), []).append(cmd)
            for dest, cmds in by_dest.items():
                checked(conn(dest).send(*cmds))
                counts["copied"] += len(cmds)
        for addr, keys in moved(new, old_owner):
            keys = [k for k in keys if new_owner(k) == addr]
            by_src = {}
            for k in keys:
                by_src.setdefault(old_owner(k), []).append(k)
            for src, ks in by_src.items():
                gone = [k for k, n in zip(ks, checked(conn(src).send(*[(b"EXISTS", k) for k in ks]))) if n == 0]
                if gone:
                    checked(conn(addr).send(*[(b"DEL", k) for k in gone]))
                    counts["deleted"] += len(gone)
    what = "old shards" if args.drop else "old shards, then new owners"
    print("scanned {scanned} keys ({what}), copied {copied}, deleted {deleted}".format(what=what, **counts))


def cmd_pipe(args):
    (_, addr), = parse_servers(args.server)
    r = Redis(addr, args.auth)
    out = sys.stdout.buffer

    def show(reply):
        if isinstance(reply, RuntimeError):
            return str(reply).encode()
        if isinstance(reply, list):
            return b" ".join(show(x) for x in reply)
        if reply is None:
            return b"(nil)"
        return reply if isinstance(reply, bytes) else str(reply).encode()

    batch = []
    for line in sys.stdin.buffer:
        words = line.split()
        if words:
            batch.append(words)
        if len(batch) >= 1000:
            out.write(b"".join(show(x) + b"\n" for x in r.send(*batch)))
            batch = []
    if batch:
        out.write(b"".join(show(x) + b"\n" for x in r.send(*batch)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("where", "count", "check"):
        s = sub.add_parser(name)
        s.add_argument("--servers", required=True)
        s.add_argument("--hash-tag", default="{}", help="nutcracker hash_tag (default {}; '' if the config has none)")
        s.add_argument("--auth")
        if name == "where":
            s.add_argument("keys", nargs="+")
    s = sub.add_parser("pipe")
    s.add_argument("--server", required=True)
    s.add_argument("--auth")
    s = sub.add_parser("rebalance")
    s.add_argument("--from", dest="old", required=True)
    s.add_argument("--to", dest="new", required=True)
    s.add_argument("--hash-tag", default="{}", help="nutcracker hash_tag (default {}; '' if the config has none)")
    s.add_argument("--auth")
    s.add_argument(
        "--drop",
        action="store_true",
        help="only remove moved keys from their old shard (once the proxy serves the new ring)",
    )
    args = p.parse_args()
    return {"where": cmd_where, "count": cmd_count, "check": cmd_check, "rebalance": cmd_rebalance, "pipe": cmd_pipe}[args.cmd](
        args
    ) or 0


if __name__ == "__main__":
    sys.exit(main())
