"""For a web server: import the app's code before the workers fork, and keep the garbage
collector off the objects that live as long as the process.

gunicorn does not preload the app (gunicorn.conf.py): each worker makes its own after the
fork, so no connection is ever shared between processes. Making it imports most of the
code a worker runs, which took a worker 0.8 s of CPU at every start, and a worker starts
again every 5,000 requests (`max_requests`). Imported in the master instead, the modules
are there in every worker from the fork on, and a worker makes its app in a few tens of
milliseconds. Importing does no I/O (a house rule), so nothing is connected in the master.
"""

from __future__ import annotations

import gc
import importlib
import pkgutil

# Imported where they are used rather than at the top of a module of ours.
LAZY = ("rq_dashboard", "rq_dashboard.web", "alembic.config", "alembic.script", "tqdm")


def import_modules() -> list[str]:
    """Import every module of the package and the libraries it imports lazily; their names."""
    import attendance

    names = [info.name for info in pkgutil.walk_packages(attendance.__path__, "attendance.")]
    for name in [*names, *LAZY]:
        importlib.import_module(name)
    return names


def freeze() -> None:
    """Leave what exists now (modules, the app) out of every later garbage collection.

    Python's collector scans all tracked objects when it collects the oldest generation,
    which a bulk batch of 5,000 events sets off several times: with the app's 150,000
    long-lived objects, that was a third of the batch's CPU. `gc.freeze` (for forking
    servers, in Python's docs) moves them out of its way; what is garbage is collected
    first, so nothing that could be freed is kept.
    """
    gc.collect()
    gc.freeze()
