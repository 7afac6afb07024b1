"""Every module of the package imports on its own, in a fresh interpreter: no import cycle."""

from __future__ import annotations

import json
import subprocess
import sys

# One interpreter, forked once per module. A probe child imports the whole package and
# reports what else that loaded; the parent loads only those (third-party) modules, so each
# forked child starts with none of the package imported, as a fresh interpreter would, yet
# pays only for the package itself. (Re-importing the package in one process after clearing
# sys.modules is not enough: metrics register themselves with prometheus at import.)
SCRIPT = r"""
import importlib, json, os, pkgutil, sys, traceback

def ours(name):
    return name == "attendance" or name.startswith("attendance.")

read_end, write_end = os.pipe()
if os.fork() == 0:
    os.close(read_end)
    import attendance
    modules = ["attendance"] + [
        m.name for m in pkgutil.walk_packages(attendance.__path__, "attendance.")
    ]
    loaded = [n for n in sys.modules if not ours(n) and n != "__main__"]
    with os.fdopen(write_end, "w") as out:
        json.dump({"modules": modules, "loaded": loaded}, out)
    os._exit(0)
os.close(write_end)
with os.fdopen(read_end) as source:
    probe = json.load(source)
os.wait()

for name in probe["loaded"]:
    try:
        importlib.import_module(name)
    except Exception:  # a module that only imports as a side effect of another: the child will
        pass

failed = []
for name in probe["modules"]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        failed.append(name)
print(json.dumps({"modules": probe["modules"], "failed": failed}))
"""


def test_every_module_imports_on_its_own():
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=240, check=False
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.splitlines()[-1])
    assert "attendance.security.models" in result["modules"]
    assert len(result["modules"]) > 50
    assert result["failed"] == [], run.stderr
