"""Round trips, ranges, transactions and their ends, the database calls."""

import os
import random
import time

import pytest

import mmtree


def test_binary_round_trip(db):
    rng = random.Random(7)
    entries = {bytes([b]): bytes([255 - b]) * b for b in range(256)}
    entries.update({rng.randbytes(rng.randint(1, 64)): rng.randbytes(rng.randint(0, 3000)) for _ in range(500)})
    entries[b"\x00\x00"] = b""  # empty value
    entries[b"big"] = rng.randbytes(1 << 20)  # overflow pages
    with db.begin_write() as w:
        t = w.table("bin")
        for k, v in entries.items():
            t.put(k, v)
        assert len(t) == len(entries)
    with db.begin_read() as r:
        t = r.table("bin")
        assert len(t) == len(entries)
        for k, v in entries.items():
            got = t.get(k)
            assert type(got) is bytes and got == v
        assert list(t.keys()) == sorted(entries)
        assert dict(t.items()) == entries


def test_bytes_like_keys_and_values(db):
    with db.begin_write() as w:
        t = w.table("t")
        t.put(bytearray(b"ba"), memoryview(b"mv-value"))
        t[memoryview(b"mv")] = bytearray(b"ba-value")
    with db.begin_read() as r:
        t = r.table("t")
        assert t[b"ba"] == b"mv-value"
        assert t[bytearray(b"mv")] == b"ba-value"
        assert memoryview(b"mv") in t


def test_mapping_protocol(db):
    with db.begin_write() as w:
        t = w.table("users")
        t[b"alice"] = b'{"age": 31}'
        t[b"bob"] = b"1"
        assert t.remove(b"bob") is True
        assert t.remove(b"bob") is False
        with pytest.raises(KeyError):
            del t[b"bob"]
        t[b"carol"] = b"2"
        del t[b"carol"]
        assert b"carol" not in t
        assert t.get(b"nobody") is None
        assert t.get(b"nobody", b"dflt") == b"dflt"
        with pytest.raises(KeyError):
            t[b"nobody"]
        assert t[b"alice"] == b'{"age": 31}'  # the transaction sees its own writes
    with db.begin_read() as r:
        users = r.table("users")
        assert users.get(b"alice") == b'{"age": 31}'
        assert b"alice" in users and b"bob" not in users
        assert len(users) == 1
        with pytest.raises(KeyError):
            users[b"x"]
        assert users.get(b"x", 5) == 5
        assert list(users) == [b"alice"]


@pytest.fixture
def numbers(db):
    """Table "n": keys b"k0000".."k4999" (more than a few scan batches), value = the number."""
    with db.begin_write() as w:
        t = w.table("n")
        for i in range(5000):
            t[b"k%04d" % i] = str(i).encode()
    return db


def keys(lo, hi):
    return [b"k%04d" % i for i in range(lo, hi)]


def test_ranges_both_directions_and_open_ends(numbers):
    for buffers in (False, True):
        with numbers.begin_read(buffers=buffers) as r:
            t = r.table("n")
            b = bytes
            assert [b(k) for k in t.keys()] == keys(0, 5000)
            assert [b(k) for k in t.keys(reverse=True)] == keys(0, 5000)[::-1]
            assert [(b(k), b(v)) for k, v in t.range(b"k0100", b"k0105")] == [
                (b"k%04d" % i, str(i).encode()) for i in range(100, 105)
            ]
            assert [b(k) for k, _ in t.range(b"k0100", b"k0105", reverse=True)] == keys(100, 105)[::-1]
            assert [b(k) for k, _ in t.range(start=b"k4990")] == keys(4990, 5000)
            assert [b(k) for k, _ in t.range(end=b"k0003")] == keys(0, 3)
            assert [b(k) for k, _ in t.range(None, b"k0003", reverse=True)] == keys(0, 3)[::-1]
            assert [b(k) for k, _ in t.range(b"k4997", None, reverse=True)] == keys(4997, 5000)[::-1]
            # start inclusive, end exclusive, between keys, empty and inverted ranges
            assert [b(k) for k in t.keys(b"k0010", b"k0012")] == keys(10, 12)
            assert [b(k) for k in t.keys(b"k0010x", b"k0012x")] == keys(11, 13)
            assert list(t.keys(b"k0010", b"k0010")) == []
            assert list(t.keys(b"k0020", b"k0010")) == []
            assert list(t.keys(b"z")) == []
            assert [b(v) for v in t.values(b"k1000", b"k3000")] == [str(i).encode() for i in range(1000, 3000)]
            assert [b(v) for v in t.values(b"k1000", b"k3000", reverse=True)] == [
                str(i).encode() for i in range(2999, 999, -1)
            ]
            first, last = t.first(), t.last()
            assert (b(first[0]), b(first[1])) == (b"k0000", b"0")
            assert (b(last[0]), b(last[1])) == (b"k4999", b"4999")


def test_empty_table_ranges(db):
    with db.begin_write() as w:
        w.table("empty")
    with db.begin_read() as r:
        t = r.table("empty")
        assert list(t.range()) == [] and list(t.range(reverse=True)) == []
        assert t.first() is None and t.last() is None and len(t) == 0


def test_write_table_ranges_see_own_writes(numbers):
    with numbers.begin_write() as w:
        t = w.table("n")
        t[b"k0100a"] = b"new"
        del t[b"k0101"]
        assert list(t.keys(b"k0100", b"k0103")) == [b"k0100", b"k0100a", b"k0102"]
        assert list(t.keys(b"k0100", b"k0103", reverse=True)) == [b"k0102", b"k0100a", b"k0100"]
        assert len(list(t.items())) == 5000
        assert t.first() == (b"k0000", b"0") and t.last() == (b"k4999", b"4999")
        # Changing the table while iterating: the scan goes on after the last key it returned.
        seen = []
        for k in t.keys(b"k0200", b"k0300"):
            seen.append(k)
            t.remove(k)
        assert seen == keys(200, 300)
        assert list(t.keys(b"k0200", b"k0300")) == []
        w.abort()


def test_abort_on_exception(db):
    with db.begin_write() as w:
        w.table("t")[b"kept"] = b"1"
    with pytest.raises(ZeroDivisionError):
        with db.begin_write() as w:
            w.table("t")[b"lost"] = b"2"
            w.table("t2")
            1 / 0
    with db.begin_read() as r:
        assert r.table("t").get(b"lost") is None
        assert r.table("t")[b"kept"] == b"1"
        assert r.list_tables() == ["t"]
    # explicit abort and commit inside the block
    with db.begin_write() as w:
        w.table("t")[b"x"] = b"x"
        w.abort()
        assert not w.active
    with db.begin_write() as w:
        w.table("t")[b"y"] = b"y"
        w.commit()
    with db.begin_read() as r:
        assert b"x" not in r.table("t") and b"y" in r.table("t")


def test_snapshot_isolation(db):
    with db.begin_write() as w:
        w.table("t")[b"k"] = b"old"
    r = db.begin_read()
    with db.begin_write() as w:
        w.table("t")[b"k"] = b"new"
    assert r.table("t")[b"k"] == b"old"
    with db.begin_read() as r2:
        assert r2.table("t")[b"k"] == b"new"
        assert r2.txn_id == r.txn_id + 1
    r.close()


def test_tables(db):
    with db.begin_write() as w:
        w.table("a")[b"1"] = b"1"
        w.table("b")
        w.table("old")[b"x"] = b"y"
        assert w.list_tables() == ["a", "b", "old"]
    assert db.list_tables() == ["a", "b", "old"]
    with db.begin_write() as w:
        old = w.table("old")
        assert w.delete_table("old") is True
        assert w.delete_table("old") is False
        with pytest.raises(mmtree.NoSuchTable):
            old.put(b"k", b"v")  # a stale handle does not recreate the table
        w.table("old")  # ... but table() does
        old.put(b"k", b"v")
        assert list(old.items()) == [(b"k", b"v")]
        w.delete_table("old")
    assert db.list_tables() == ["a", "b"]
    with db.begin_read() as r:
        assert r.list_tables() == ["a", "b"]
        with pytest.raises(mmtree.NoSuchTable):
            r.table("old")


def test_transaction_used_after_its_block(db):
    with db.begin_write() as w:
        t = w.table("t")
        t[b"k"] = b"v"
    with pytest.raises(mmtree.TransactionClosed):
        t[b"k2"] = b"v"
    with pytest.raises(mmtree.TransactionClosed):
        w.table("t")
    with pytest.raises(mmtree.TransactionClosed):
        w.commit()
    with db.begin_read() as r:
        rt = r.table("t")
        it = rt.range()
        assert next(it) == (b"k", b"v")
    for call in (lambda: rt.get(b"k"), lambda: len(rt), lambda: next(it), lambda: r.table("t"),
                 lambda: rt.first(), lambda: list(rt.keys())):
        with pytest.raises(mmtree.TransactionClosed):
            call()
    assert not r.active


def test_memoryview_lifetime(db):
    with db.begin_write() as w:
        t = w.table("t")
        t[b"key"] = b"value-1" * 10
        for i in range(2000):
            t[b"fill%05d" % i] = os.urandom(100)
    with db.begin_read(buffers=True) as r:
        t = r.table("t")
        v = t[b"key"]
        assert isinstance(v, memoryview) and v.readonly
        assert bytes(v) == b"value-1" * 10
        k, v2 = t.first()
        assert isinstance(k, memoryview) and bytes(k) == b"fill00000"
        scanned = list(t.range(b"fill", b"fill00010"))
        derived = memoryview(v)[0:7]  # a view of the view: cannot be revoked
        with pytest.raises(TypeError):
            v[0] = 1  # read-only
    # The views handed out are released: using them raises, nothing is read.
    for view in (v, k, v2, scanned[0][0], scanned[-1][1]):
        with pytest.raises(ValueError, match="released"):
            bytes(view)
    # The derived view keeps its snapshot alive: overwriting, deleting and committing many times
    # (pages are reused) does not change what it shows.
    for round in range(5):
        with db.begin_write() as w:
            t = w.table("t")
            t[b"key"] = b"X" * 70
            for i in range(2000):
                t[b"fill%05d" % i] = os.urandom(100)
    assert bytes(derived) == b"value-1"
    del derived
    assert db.stats()["readers"] == 0


def test_memoryviews_many_in_one_scan(db):
    """A long buffers=True scan does not keep every view (they are forgotten once dropped)."""
    with db.begin_write() as w:
        t = w.table("t")
        for i in range(20000):
            t[b"%06d" % i] = b"v%d" % i
    with db.begin_read(buffers=True) as r:
        total = sum(len(v) for v in r.table("t").values())
        assert total == sum(len(b"v%d" % i) for i in range(20000))


def test_type_errors(db):
    with db.begin_write() as w:
        t = w.table("t")
        for bad in ("str", 1, None, 1.5, ["l"]):
            with pytest.raises(TypeError, match="bytes-like"):
                t.put(bad, b"v")
        with pytest.raises(TypeError, match="value must be bytes-like"):
            t.put(b"k", "v")
        with pytest.raises(TypeError, match="not str"):
            t.get("k")
        with pytest.raises(TypeError):
            t.range("a")
        with pytest.raises(TypeError):
            w.table(b"bytes-name")
    with db.begin_read() as r:
        with pytest.raises(TypeError, match="bytes-like"):
            r.table("t").get(3)
        with pytest.raises(TypeError):
            "k" in r.table("t")


def test_engine_errors(db, db_path, tmp_path):
    assert issubclass(mmtree.KeyTooLarge, mmtree.Error) and issubclass(mmtree.Error, Exception)
    with db.begin_write() as w:
        t = w.table("t")
        with pytest.raises(mmtree.KeyTooLarge, match="longer than the maximum of 1024"):
            t.put(b"k" * 5000, b"v")
        t.put(b"k" * db.key_size_max, b"v")  # the limit itself is fine; w still usable
        with pytest.raises(mmtree.InvalidTableName):
            w.table("")
        with pytest.raises(mmtree.WriteInProgress):
            db.try_begin_write()
        with pytest.raises(mmtree.WriteInProgress):
            db.begin_write()  # the same thread: an error, not a deadlock
    with pytest.raises(mmtree.InvalidOption):
        mmtree.open(str(tmp_path / "x.mmt"), durability="sometimes")
    with pytest.raises(mmtree.InvalidOption, match="page size"):
        mmtree.open(str(tmp_path / "y.mmt"), page_size=1000)
    junk = tmp_path / "junk.mmt"
    junk.write_bytes(os.urandom(64 * 1024))
    with pytest.raises(mmtree.NotADatabase):
        mmtree.open(str(junk))
    with pytest.raises(mmtree.Error):
        mmtree.open(str(tmp_path / "missing-dir" / "x.mmt"))


def test_read_only(db_path):
    with mmtree.open(db_path) as db:
        with db.begin_write() as w:
            w.table("t")[b"k"] = b"v"
    with mmtree.open(db_path, read_only=True) as ro:
        with pytest.raises(mmtree.ReadOnly):
            ro.begin_write()
        with ro.begin_read() as r:
            assert r.table("t")[b"k"] == b"v"


def test_database_calls(db, tmp_path):
    with db.begin_write(durability="eventual") as w:
        t = w.table("t")
        for i in range(3000):
            t[b"%05d" % i] = b"x" * 200
    db.sync()
    db.checkpoint()
    stats = db.stats()
    assert stats["txn_id"] >= 1 and stats["page_size"] == 4096 and stats["file_bytes"] > 0
    report = db.check()
    assert report["ok"] and report["problems"] == []
    assert [t["name"] for t in report["tables"]] == ["t"] and report["tables"][0]["entries"] == 3000
    copy = str(tmp_path / "copy.mmt")
    assert db.backup(copy) > 0
    with pytest.raises(mmtree.IoError):
        db.backup(copy)  # exists
    with mmtree.open(copy) as c, c.begin_read() as r:
        assert len(r.table("t")) == 3000
    with db.begin_write() as w:
        w.delete_table("t")
    assert isinstance(db.compact(), int)
    assert db.check()["ok"]
    assert isinstance(db.readers(), list)


def test_close(db_path):
    db = mmtree.open(db_path)
    with db.begin_write() as w:
        w.table("t")[b"k"] = b"v"
    r = db.begin_read()
    db.close()
    assert db.closed
    db.close()  # twice: nothing
    with pytest.raises(mmtree.Error, match="closed"):
        db.begin_read()
    assert r.table("t")[b"k"] == b"v"  # an open snapshot stays usable until it ends
    r.close()
    with mmtree.open(db_path) as db2:
        assert db2.list_tables() == ["t"]
    assert db2.closed


def test_reopen_keeps_data(db_path):
    with mmtree.open(db_path) as db, db.begin_write() as w:
        w.table("t")[b"k"] = b"v"
    with mmtree.open(db_path) as db, db.begin_read() as r:
        assert r.table("t")[b"k"] == b"v"


def test_corrupted_page_is_an_error_not_wrong_data(db_path):
    with mmtree.open(db_path) as db:
        with db.begin_write() as w:
            t = w.table("t")
            for i in range(5000):
                t[b"%06d" % i] = b"v" * 100
        page_size = db.page_size
    size = os.path.getsize(db_path)
    with open(db_path, "r+b") as f:  # garbage over every tree page's middle (not the meta pages)
        for page in range(2, size // page_size):
            f.seek(page * page_size + page_size // 2)
            f.write(b"\xa5" * 64)
    with mmtree.open(db_path) as db:
        with pytest.raises(mmtree.Corrupted, match="corrupted"):
            with db.begin_read() as r:
                list(r.table("t").items())
        report = db.check()
        assert not report["ok"] and report["problems"]


def test_bounded_snapshot_reads_then_expires(db):
    with db.begin_write() as w:
        t = w.table("t")
        for i in range(3000):
            t[b"k%05d" % i] = b"old"
    with db.begin_read_bounded(60.0) as s:  # a cap far away: an ordinary snapshot
        with db.begin_write() as w:
            w.table("t")[b"k00000"] = b"new"
        assert s.get("t", b"k00000") == b"old" and s.get("t", b"nope") is None
        assert s.get("missing", b"k") is None and s.table_len("missing") is None
        assert s.table_len("t") == 3000 and s.list_tables() == ["t"]
        page = s.range("t", b"k00010", b"k00020", limit=4)
        assert page == [(b"k%05d" % i, b"old") for i in range(10, 14)]
        assert len(s.range("t", limit=100000)) == 3000
        assert not s.expired
    with pytest.raises(mmtree.TransactionClosed):
        s.get("t", b"k00000")
    s = db.begin_read_bounded(0.001)
    time.sleep(0.02)  # past its cap: the next writer may reuse its pages, and expires it
    with db.begin_write() as w:
        t = w.table("t")
        for i in range(3000):
            t[b"k%05d" % i] = b"newer"
    assert s.expired
    with pytest.raises(mmtree.SnapshotExpired, match="expired"):
        s.get("t", b"k00001")
    with pytest.raises(mmtree.SnapshotExpired):
        s.range("t")
    s.close()
    assert db.check()["ok"]
