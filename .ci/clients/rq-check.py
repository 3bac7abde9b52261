"""rq (a Redis job queue, PyPI `rq`) against `mmtree serve` (run by .ci/redis-clients).

- 1,000 jobs enqueued, drained by a burst SimpleWorker: the queue empties, every job is finished
  and its `return_value()` (read back from the server: rq keeps results in a stream, XADD and
  XREVRANGE) is the one for its argument; a failing job ends in the failed registry with its
  exception's traceback.
- What applications use next: a job depending on another, a job retried until it succeeds, a
  scheduled job moved to the queue by the worker's scheduler, success and failure callbacks,
  `Queue.empty()` (a Lua script), a job's position in its queue (LPOS), and a worker that is not in
  burst mode blocking (BLMOVE) until jobs arrive.

    python rq-check.py PORT
"""

import datetime
import os
import sys
import threading
import time

import redis
from rq import Callback, Queue, Retry, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rq_jobs  # noqa: E402 - the worker imports it by name, so it must be importable

PORT = int(sys.argv[1])
JOBS = 1000


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def fetch(conn, job):
    """The job as the server has it, not the local copy."""
    return Job.fetch(job.id, connection=conn)


def drain(conn):
    queue = Queue("ci", connection=conn)
    start = time.monotonic()
    jobs = [queue.enqueue(rq_jobs.square_plus, n) for n in range(JOBS)]
    failing = queue.enqueue(rq_jobs.fail, 42)
    enqueued = time.monotonic()
    check(queue.count == JOBS + 1, f"queue holds {queue.count} jobs, not {JOBS + 1}")
    check(all(j.get_status() == JobStatus.QUEUED for j in jobs[:10]), "jobs not queued")

    print("rq: a job failing on purpose logs its traceback below", flush=True)
    worker = SimpleWorker([queue], connection=conn)
    check(worker.work(burst=True, logging_level="WARNING"), "the burst worker did no work")
    drained = time.monotonic()

    check(queue.count == 0 and queue.is_empty(), f"queue not drained: {queue.count} left")
    finished = queue.finished_job_registry
    check(finished.count == JOBS, f"{finished.count} jobs in the finished registry, not {JOBS}")
    check(queue.started_job_registry.count == 0, "jobs left in the started registry")

    wrong = []
    for n, job in enumerate(jobs):
        job = fetch(conn, job)
        if job.get_status() != JobStatus.FINISHED:
            wrong.append(f"job {n}: status {job.get_status()}")
            continue
        want = rq_jobs.square_plus(n)
        got = job.return_value()
        if got != want:
            wrong.append(f"job {n}: return_value {got!r}, expected {want!r}")
    check(not wrong, f"{len(wrong)} wrong jobs, first: {wrong[:3]}")

    failed = queue.failed_job_registry
    check(failed.count == 1, f"{failed.count} jobs in the failed registry, not 1")
    check(failing.id in failed.get_job_ids(), "the failing job is not in the failed registry")
    failing = fetch(conn, failing)
    check(failing.get_status() == JobStatus.FAILED, f"failing job status {failing.get_status()}")
    check(failing.return_value() is None, "a failed job has a return value")
    exc = failing.latest_result().exc_string or ""
    check(
        "Traceback" in exc and "ValueError: deliberate failure 42" in exc,
        f"the failed job's exception info: {exc!r}",
    )
    print(
        f"rq: {JOBS} jobs enqueued in {enqueued - start:.1f} s, drained by a burst SimpleWorker in "
        f"{drained - enqueued:.1f} s; every return value right; the failing job in the failed "
        "registry with its traceback"
    )


def features(conn):
    queue = Queue("features", connection=conn)
    first = queue.enqueue(rq_jobs.add, 1, 2)
    second = queue.enqueue(rq_jobs.add, 10, 20, depends_on=first)
    check(second.get_status() == JobStatus.DEFERRED, f"dependent job {second.get_status()}")
    check(DeferredJobRegistry(queue=queue).get_job_ids() == [second.id], "deferred registry")
    flaky = queue.enqueue(rq_jobs.flaky, "flaky-count", 2, PORT, retry=Retry(max=3))
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
    scheduled = queue.enqueue_at(when, rq_jobs.add, 5, 5)
    check(ScheduledJobRegistry(queue=queue).get_job_ids() == [scheduled.id], "scheduled registry")
    called_back = queue.enqueue(rq_jobs.add, 2, 3, on_success=Callback(rq_jobs.on_success))
    failing = queue.enqueue(rq_jobs.fail, 7, on_failure=Callback(rq_jobs.on_failure))
    check(first.get_position() == 0 and called_back.get_position() == 2, "positions (LPOS)")

    doomed = Queue("doomed", connection=conn)
    doomed_jobs = [doomed.enqueue(rq_jobs.add, n, n) for n in range(5)]
    check(doomed.count == 5, "doomed queue")
    doomed.empty()  # a Lua script: removes the queue and its jobs
    check(doomed.count == 0, "Queue.empty() left jobs queued")
    check(conn.exists(*(j.key for j in doomed_jobs)) == 0, "Queue.empty() left job hashes")

    time.sleep(1.1)  # the scheduled job is due
    worker = SimpleWorker([queue], connection=conn)
    worker.work(burst=True, with_scheduler=True, logging_level="CRITICAL")
    results = {
        "dependency": (fetch(conn, first).return_value(), fetch(conn, second).return_value()),
        "retry": (fetch(conn, flaky).get_status(), fetch(conn, flaky).return_value()),
        "scheduled": fetch(conn, scheduled).return_value(),
        "failing": fetch(conn, failing).get_status(),
    }
    want = {
        "dependency": (3, 30),
        "retry": (JobStatus.FINISHED, 3),
        "scheduled": 10,
        "failing": JobStatus.FAILED,
    }
    check(results == want, f"features: {results}, expected {want}")
    callbacks = sorted(x.decode() for x in conn.lrange("callbacks", 0, -1))
    want_callbacks = sorted([f"success:{called_back.id}:5", f"failure:{failing.id}:ValueError"])
    check(callbacks == want_callbacks, f"callbacks {callbacks}, expected {want_callbacks}")

    # Not in burst mode: the worker blocks on the empty queue until jobs come.
    fed = []

    def feeder():
        time.sleep(0.5)
        for n in range(3):
            fed.append(queue.enqueue(rq_jobs.add, n, 100))

    thread = threading.Thread(target=feeder)
    thread.start()
    worker = SimpleWorker([queue], connection=conn)
    worker.work(burst=False, max_jobs=3, logging_level="CRITICAL")
    thread.join()
    got = [fetch(conn, j).return_value() for j in fed]
    check(got == [100, 101, 102], f"jobs fed to the waiting worker: {got}")
    print("rq: dependencies, retries, scheduling, callbacks, Queue.empty, positions, a blocking worker: ok")


def main():
    conn = redis.Redis(port=PORT)
    conn.flushdb()
    drain(conn)
    features(conn)


if __name__ == "__main__":
    main()
