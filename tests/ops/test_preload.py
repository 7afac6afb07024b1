"""gunicorn's master imports the app's code (attendance/ops/preload.py), and connects nowhere."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import socket, sys

def refuse(*args, **kwargs):
    raise AssertionError("the master connected somewhere")

socket.socket.connect = refuse
socket.create_connection = refuse
from attendance.ops.preload import import_modules
names = import_modules()
assert "attendance.api.attendances" in names and "attendance.jobs.worker" in names
assert "rq_dashboard" in sys.modules and "flask_smorest" in sys.modules
print(len(names))
"""


def test_the_master_imports_everything_without_connecting():
    out = subprocess.run(
        [sys.executable, "-c", CODE], check=True, capture_output=True, text=True, timeout=120
    )
    assert int(out.stdout.strip()) > 100
