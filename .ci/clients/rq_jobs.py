"""Job functions for rq-check.py: rq's worker imports them by their dotted name."""


def square_plus(n):
    """A result derived from the argument, so a job answered with another's result is caught."""
    return {"n": n, "value": n * n + 7, "text": f"job-{n}"}


def fail(n):
    raise ValueError(f"deliberate failure {n}")


def flaky(key, fails, port):
    """Fails the first `fails` times (counted in Redis under `key`), then returns the count."""
    import redis

    count = redis.Redis(port=port).incr(key)
    if count <= fails:
        raise RuntimeError(f"attempt {count} fails")
    return count


def add(a, b):
    return a + b


def on_success(job, connection, result, *args, **kwargs):
    connection.rpush("callbacks", f"success:{job.id}:{result}")


def on_failure(job, connection, type, value, traceback):
    connection.rpush("callbacks", f"failure:{job.id}:{type.__name__}")
