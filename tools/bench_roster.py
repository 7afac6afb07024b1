#!/usr/bin/env python3
"""Roster import at scale (`make bench-roster`): time and peak memory of the real CLI.

It drops and recreates the schema of the benchmark database (its name must contain
"bench"; created if missing), makes one school, writes a roster of `--rows` pupils (50,000
by default) and runs `flask --app attendance roster import` on it in a child process:

1. the first import (every row created);
2. the same file again (every row unchanged: nothing written);
3. a file twice as long into a second school, to show memory stays flat (the file is
   streamed, the report's rows are written to a temporary file; what grows is what
   duplicate detection keeps, a short record per pupil number);
4. `flask roster export` of the first school.

Each line gives the wall time and the child's peak resident memory (VmHWM); a last
line compares the peaks of the two first imports.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package, whatever else is installed

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from attendance import create_app  # noqa: E402
from attendance.config import _database_url  # noqa: E402
from attendance.extensions import db  # noqa: E402
from attendance.models import School  # noqa: E402

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/attendance_bench_roster"
GROUPS = [f"{year}{letter}" for year in range(1, 7) for letter in "ABCD"]


def reset(database: str) -> tuple[int, int]:
    """A fresh schema with two schools; their ids."""
    if "bench" not in (make_url(database).database or ""):
        raise SystemExit(f"refusing to wipe {database}: its name must contain 'bench'")
    from flask_migrate import upgrade

    sys.path.insert(0, str(ROOT / "tools"))
    from bench_ingest import create_database

    create_database(database)
    app = create_app({"SQLALCHEMY_DATABASE_URI": _database_url(database)})
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        schools = [School(name="Bench Primary"), School(name="Bench Secondary")]
        db.session.add_all(schools)
        db.session.commit()
        ids = (schools[0].id, schools[1].id)
        db.engine.dispose()
    return ids


def write_roster(path: Path, rows: int) -> int:
    """A `;`-separated roster with a BOM, quoted names and some empty cells; its size."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeff")
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["external_id", "name", "group", "enrolled_from", "enrolled_until"])
        for n in range(rows):
            writer.writerow(
                [
                    f"S{n:07d}",
                    f'Pupil "{n}"; Family-{n % 977}',
                    GROUPS[n % len(GROUPS)],
                    "2026-09-01" if n % 3 else "",
                    "2027-07-04" if n % 5 == 0 else "",
                ]
            )
    return path.stat().st_size


def timed(args: list[str], env: dict[str, str], log: Path) -> tuple[float, float, str]:
    """Run a command; wall seconds, its peak RSS in MiB, and its last line of output.

    The peak is the child's VmHWM, sampled every 20 ms: its ru_maxrss would also count
    this process's memory (Linux carries the forking process's high-water mark over the
    exec), about 120 MiB here, which would floor every figure. ru_maxrss is the fallback
    where there is no /proc.
    """
    start = time.perf_counter()
    with log.open("wb") as sink:
        child = subprocess.Popen(args, env=env, stdout=sink, stderr=subprocess.STDOUT)  # noqa: S603
        status_file, peak_kib = Path(f"/proc/{child.pid}/status"), 0
        while True:
            # wait4, not wait(): it gives this child's own resource usage.
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak_kib = max(peak_kib, _high_water_kib(status_file))
            time.sleep(0.02)
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    output = log.read_text(errors="replace").strip()
    if child.returncode not in (0, 1):
        raise SystemExit(f"{args} failed:\n{output}")
    rss = (peak_kib or usage.ru_maxrss) / 1024
    return seconds, rss, output.splitlines()[-1] if output else ""


def _high_water_kib(status_file: Path) -> int:
    """A running process's peak resident memory (VmHWM), in KiB; 0 if unknown."""
    try:
        for line in status_file.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--rows", type=int, default=50_000)
    options = parser.parse_args()
    first, second = reset(options.database)
    env = {**os.environ, "DATABASE_URL": options.database, "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    flask = [sys.executable, "-m", "flask", "--app", "attendance", "roster"]
    with tempfile.TemporaryDirectory() as folder:
        small, large = Path(folder, "roster.csv"), Path(folder, "roster-2x.csv")
        size = write_roster(small, options.rows)
        size2 = write_roster(large, options.rows * 2)
        runs = [
            (
                f"first import, {options.rows:,} rows ({size / 2**20:.1f} MiB)",
                [*flask, "import", str(small), "--school", str(first)],
            ),
            (
                f"the same file again, {options.rows:,} rows",
                [*flask, "import", str(small), "--school", str(first)],
            ),
            (
                f"first import, {2 * options.rows:,} rows ({size2 / 2**20:.1f} MiB)",
                [*flask, "import", str(large), "--school", str(second)],
            ),
            (
                f"export, {options.rows:,} rows",
                [*flask, "export", str(Path(folder, "out.csv")), "--school", str(first)],
            ),
            (
                "baseline: python -c 'import attendance'",
                [
                    sys.executable,
                    "-c",
                    "import attendance; from attendance import create_app; create_app()",
                ],
            ),
        ]
        print("| run | seconds | peak RSS (MiB) | last line |")
        print("|---|---|---|---|")
        peaks = []
        for label, args in runs:
            seconds, rss, last = timed(args, env, Path(folder, "run.log"))
            peaks.append(rss)
            print(f"| {label} | {seconds:.2f} | {rss:.0f} | {last} |", flush=True)
    grown = peaks[2] - peaks[0]
    print(
        f"\nmemory: {2 * options.rows:,} rows peaked at {peaks[2]:.0f} MiB, {options.rows:,} at "
        f"{peaks[0]:.0f} MiB: {grown:+.1f} MiB for {options.rows:,} more rows "
        f"({grown * 2**20 / options.rows:.0f} bytes a row); the bare app {peaks[4]:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
