"""Child processes for `flask serve` (web plus workers) and `flask worker --count N`.

Each child is `flask --app attendance worker` in its own session, so a Ctrl+C at the
terminal reaches only the parent, which then sends each child one SIGTERM: RQ's warm
shutdown, where the running job finishes first. A second signal would be a cold one.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)


def worker_argv(extra: Sequence[str] = ()) -> list[str]:
    """The command line of one worker process."""
    return [sys.executable, "-m", "flask", "--app", "attendance", "worker", *extra]


class Children:
    """A set of worker processes: started together, restarted when one dies, stopped together."""

    def __init__(
        self,
        count: int,
        extra: Sequence[str] = (),
        grace: float = 90.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.count = count
        self.extra = list(extra)
        self.grace = grace  # seconds a worker may take to finish its job after SIGTERM
        self.env = dict(env or {})  # added to this process's environment
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stopping = False

    def _spawn(self) -> subprocess.Popen[bytes]:
        # Our own interpreter and arguments, no shell.
        env = {**os.environ, **self.env}
        proc = subprocess.Popen(worker_argv(self.extra), start_new_session=True, env=env)  # noqa: S603
        log.info("started worker process %d", proc.pid)
        return proc

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]

    def restart_dead(self) -> None:
        """Replace children that exited (a crash, an OOM kill), unless we are stopping."""
        for i, proc in enumerate(self.procs):
            code = proc.poll()
            if code is not None and not self.stopping:
                log.warning("worker process %d exited with %s; starting another", proc.pid, code)
                time.sleep(1)  # a worker that cannot start must not spin
                self.procs[i] = self._spawn()

    def stop(self) -> None:
        """SIGTERM to each child, wait up to `grace`, then SIGKILL what is left."""
        self.stopping = True
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker process %d did not stop in time; killing it", proc.pid)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def supervise(children: Children, poll: float = 1.0) -> None:
    """Run the children until SIGTERM or SIGINT, then stop them gracefully."""
    stop = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        children.start()
        while not stop:
            time.sleep(poll)
            children.restart_dead()
    finally:
        children.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
