"""Several processes, threads with the GIL released, a writer killed with SIGKILL."""

import gc
import multiprocessing
import os
import signal
import sys
import threading
import time

import pytest

import mmtree

# 'spawn': a child starts a fresh interpreter (see mmtree.open's note on fork).
spawn = multiprocessing.get_context("spawn")


def child_put(path, key, value):
    with mmtree.open(path) as db, db.begin_write() as w:
        w.table("t")[key] = value


def child_read(path, key, queue):
    with mmtree.open(path, read_only=True) as db, db.begin_read() as r:
        queue.put(r.table("t").get(key))


def child_hold_writer(path, holding, release):
    with mmtree.open(path) as db:
        with db.begin_write() as w:
            w.table("t")[b"from-child"] = b"1"
            holding.set()
            release.wait(60)


def child_commit_forever(path, conn):
    """Durable single-put commits; each acknowledged (sent) only after commit returned."""
    db = mmtree.open(path)
    i = 0
    while True:
        with db.begin_write() as w:
            w.table("t")[b"%08d" % i] = b"value-%d" % i
        conn.send(i)
        i += 1


def test_reader_in_another_process_sees_a_commit(db_path):
    with mmtree.open(db_path) as db:
        with db.begin_write() as w:
            w.table("t")[b"k"] = b"parent"
        before = db.begin_read()
        p = spawn.Process(target=child_put, args=(db_path, b"k", b"child"))
        p.start()
        p.join(60)
        assert p.exitcode == 0
        assert before.table("t")[b"k"] == b"parent"  # a snapshot does not move
        before.close()
        with db.begin_read() as r:
            assert r.table("t")[b"k"] == b"child"


def test_multiprocessing_reader_sees_this_process_commit(db_path):
    with mmtree.open(db_path) as db:
        queue = spawn.Queue()
        for value in (b"first", b"second"):
            with db.begin_write() as w:
                w.table("t")[b"k"] = value
            p = spawn.Process(target=child_read, args=(db_path, b"k", queue))
            p.start()
            assert queue.get(timeout=60) == value
            p.join(60)
            assert p.exitcode == 0


def test_writer_in_another_process_excludes(db_path):
    with mmtree.open(db_path) as db:
        holding, release = spawn.Event(), spawn.Event()
        p = spawn.Process(target=child_hold_writer, args=(db_path, holding, release))
        p.start()
        try:
            assert holding.wait(60)
            with pytest.raises(mmtree.WriteInProgress):
                db.try_begin_write()
            release.set()
            with db.begin_write() as w:  # waits (without the GIL) for the child's commit
                assert w.table("t")[b"from-child"] == b"1"
        finally:
            release.set()
            p.join(60)
        assert p.exitcode == 0


def test_killed_writer_loses_nothing_acknowledged(db_path):
    with mmtree.open(db_path) as db, db.begin_write() as w:
        w.table("t")
    receive, send = spawn.Pipe(duplex=False)
    p = spawn.Process(target=child_commit_forever, args=(db_path, send))
    p.start()
    send.close()
    acked = -1
    while acked < 300:
        acked = receive.recv()
    os.kill(p.pid, signal.SIGKILL)
    p.join(60)
    assert p.exitcode == -signal.SIGKILL
    try:  # acknowledgements already in the pipe
        while True:
            acked = receive.recv()
    except EOFError:
        pass
    with mmtree.open(db_path) as db:
        with db.begin_read() as r:
            t = r.table("t")
            assert len(t) >= acked + 1
            for i in range(acked + 1):
                assert t[b"%08d" % i] == b"value-%d" % i
        with db.begin_write() as w:  # and it can be written again
            w.table("t")[b"after"] = b"1"
        assert db.check()["ok"]


def test_reader_thread_runs_while_writer_commits(db):
    """The commit's fsync runs without the GIL. With a switch interval far longer than the
    test, the only way the reader thread can run between `in_commit = True` and `False` is that
    `commit()` lets go of the GIL."""
    with db.begin_write() as w:
        w.table("t")[b"k"] = b"0"
    state = {"in_commit": False, "stop": False, "seen": []}
    started = threading.Event()

    def reader():
        started.set()
        while not state["stop"]:
            with db.begin_read() as r:
                value = r.table("t")[b"k"]
            if state["in_commit"]:
                state["seen"].append(value)
            time.sleep(0)  # lets the writer thread have the GIL back

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        t = threading.Thread(target=reader)
        t.start()
        started.wait()
        for i in range(1, 51):
            w = db.begin_write()
            w.table("t")[b"k"] = str(i).encode()
            state["in_commit"] = True
            w.commit()
            state["in_commit"] = False
            if state["seen"]:
                break
        state["stop"] = True
        t.join()
    finally:
        sys.setswitchinterval(old)
    assert state["seen"], "the reader thread never ran during a commit"
    # What it read during commit i was commit i-1's value (a snapshot, never half a commit).
    assert all(v == str(i - 1).encode() or v == str(i).encode() for v in state["seen"])


def test_scan_releases_the_gil(db):
    """A range scan reads its batches without the GIL: another thread runs during it."""
    with db.begin_write() as w:
        t = w.table("t")
        for i in range(50000):
            t[b"%08d" % i] = b"v" * 50
    ran = []
    scanning = {"on": False}
    started = threading.Event()

    def other():
        started.set()
        while not ran:
            if scanning["on"]:
                ran.append(1)
            time.sleep(0)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        th = threading.Thread(target=other)
        th.start()
        started.wait()
        with db.begin_read() as r:
            for _ in range(20):
                scanning["on"] = True
                n = sum(1 for _ in r.table("t").keys())
                scanning["on"] = False
                assert n == 50000
                if ran:
                    break
        ran.append(0)
        th.join()
    finally:
        sys.setswitchinterval(old)
    assert ran[0] == 1


def child_try_write(path):
    """Exit 0 if another process holds the writer (try_begin_write refused), 1 if it was free."""
    with mmtree.open(path) as db:
        try:
            db.try_begin_write().abort()
        except mmtree.WriteInProgress:
            sys.exit(0)
    sys.exit(1)


def test_fork_with_open_database_is_refused(db_path):
    """A child forked while the parent has a database, a snapshot and the writer role may use
    none of them, and dropping its copies must not act on the parent's (release its writer
    lock or reader slot, checkpoint)."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    db = mmtree.open(db_path)
    with db.begin_write() as w:
        w.table("t")[b"k"] = b"v"
    r = db.begin_read()
    w = db.begin_write()
    w.table("t")[b"k"] = b"parent"
    # Tables and an iterator made before the fork, used in the parent first (so its pid is
    # remembered: the child must not go on with it).
    rt, wt = r.table("t"), w.table("t")
    assert rt[b"k"] == b"v" and wt[b"k"] == b"parent"
    items = rt.items()
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        calls = [lambda: mmtree.open(db_path), lambda: db.begin_read(), lambda: r.table("t"),
                 lambda: w.table("t"), lambda: rt[b"k"], lambda: wt.put(b"k", b"child"),
                 lambda: wt[b"k"], lambda: next(items), lambda: w.commit()]
        for i, call in enumerate(calls):
            try:
                call()
                code = 10 + i
            except mmtree.Error:
                pass
        del calls, r, w, db, rt, wt, items
        gc.collect()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    # This process still holds the writer role and its snapshot.
    p = spawn.Process(target=child_try_write, args=(db_path,))
    p.start()
    p.join(60)
    assert p.exitcode == 0, "the forked child's exit released this process's writer lock"
    assert db.stats()["readers"] == 1
    assert r.table("t")[b"k"] == b"v"
    w.commit()
    r.close()
    with db.begin_read() as r2:
        assert r2.table("t")[b"k"] == b"parent"
    assert db.check()["ok"]
    db.close()


def test_threads_share_a_snapshot_and_a_handle(db):
    with db.begin_write() as w:
        t = w.table("t")
        for i in range(20000):
            t[b"%06d" % i] = b"%d" % i
    errors = []

    def work(r, seed):
        try:
            t = r.table("t")
            for i in range(seed, 20000, 7):
                assert t[b"%06d" % i] == b"%d" % i
            assert sum(1 for _ in t.keys(reverse=seed % 2 == 0)) == 20000
            with db.begin_read() as own:  # and snapshots of their own
                assert len(own.table("t")) == 20000
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    with db.begin_read() as r:
        threads = [threading.Thread(target=work, args=(r, s)) for s in range(4)]
        for th in threads:
            th.start()
        with db.begin_write() as w:  # a writer meanwhile, in this thread
            w.table("t")[b"000000"] = b"changed"
        for th in threads:
            th.join()
    assert errors == []
