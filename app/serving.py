"""gunicorn's settings for Mutualis (README, "Deploying"): `gunicorn -c python:app.serving -w 4 -b ADDRESS
'app:create_app()'`; the worker count and the address stay on the command line.

Garbage collection in each worker: a page builds thousands of short-lived objects (ORM rows, template values), and
with Python's default thresholds the collector runs every 700 net allocations and, now and then, walks every object
the worker holds: the app, its modules, its reference data and the answers it remembers. Under concurrent clients
those pauses land on whichever request is running and make the slowest percentiles. `create_app` already freezes what
building the app made (`gc.freeze`: it lives as long as the worker anyway); once the worker has loaded the app, what it
made since is collected and frozen too, and the youngest generation is collected less often. Memory is still freed
by reference counting as before; only reference cycles wait a little longer to be collected.
"""

from __future__ import annotations

import gc

# The youngest generation collected every 50,000 net allocations (Python's default: 700); each older one after 20 and
# 10 collections of the one below (default 10 and 10). Python also walks the oldest one only when the long-lived
# objects grew by a quarter since it last did.
GC_THRESHOLDS = (50_000, 20, 10)


def post_worker_init(worker) -> None:
    """gunicorn's hook, once the worker has loaded the app: freeze what exists and space the collections out."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    worker.log.info("Garbage collection tuned: %d objects frozen, thresholds %s", gc.get_freeze_count(), GC_THRESHOLDS)
